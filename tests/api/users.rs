//! The users area: API and pages. Invitations are emailed through the
//! outbox (and a real SMTP server), accepted once, and removed users lose
//! their sessions and API tokens at once.

use std::time::Duration;

use fantoccini::Locator;
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Expect, Practice, TestApp, TestUser, body_json, body_text, cookie_of, expect_error,
    expect_json, expect_text, spawn_app,
};
use crate::matrix::Case;

/// This area's rows of the role x organisation matrix (see matrix.rs).
/// Inviting and listing act on the caller's own practice, so another
/// practice's owner gets 200/201 there; accepting is anonymous and each
/// call gets a fresh invitation, so everyone succeeds.
pub const MATRIX: &[Case] = &[
    Case {
        operation_id: "list_users",
        method: Method::GET,
        expect: [401, 403, 200, 200, 200, 403],
    },
    Case {
        operation_id: "create_invite",
        method: Method::POST,
        expect: [401, 403, 201, 201, 201, 403],
    },
    Case {
        operation_id: "list_invites",
        method: Method::GET,
        expect: [401, 403, 200, 200, 200, 403],
    },
    // An open invitation of practice A.
    Case {
        operation_id: "revoke_invite",
        method: Method::DELETE,
        expect: [401, 403, 204, 204, 404, 403],
    },
    Case {
        operation_id: "resend_invite",
        method: Method::POST,
        expect: [401, 403, 200, 200, 404, 403],
    },
    Case {
        operation_id: "accept_invite",
        method: Method::POST,
        expect: [200, 200, 200, 200, 200, 200],
    },
    // A fresh viewer of practice A.
    Case {
        operation_id: "remove_user",
        method: Method::DELETE,
        expect: [401, 403, 204, 204, 404, 403],
    },
    Case {
        operation_id: "set_user_role",
        method: Method::PUT,
        expect: [401, 403, 403, 200, 404, 403],
    },
];

/// A fresh request for one of this area's operations against practice `a`,
/// or None when the operation is not this area's.
pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    let fresh = || format!("m-{}@newcomers.example", Uuid::new_v4().simple());
    Some(match operation_id {
        "list_users" => ("/api/client/users".into(), None),
        "create_invite" => {
            ("/api/client/users/invite".into(), Some(json!({ "email": fresh(), "role": "viewer" })))
        }
        "list_invites" => ("/api/client/invites".into(), None),
        "revoke_invite" => {
            let (id, _) = seed_invite(app, a, &fresh()).await;
            (format!("/api/client/invites/{id}"), None)
        }
        "resend_invite" => {
            let (id, _) = seed_invite(app, a, &fresh()).await;
            (format!("/api/client/invites/{id}/resend"), None)
        }
        "accept_invite" => {
            let (_, token) = seed_invite(app, a, &fresh()).await;
            (
                "/api/client/auth/accept-invite".into(),
                Some(json!({ "token": token, "name": "Matrix Newcomer" })),
            )
        }
        "remove_user" => {
            let u = app.user(a.org_id, &fresh(), portal::auth::Role::Viewer).await;
            (format!("/api/client/users/{}", u.id), None)
        }
        "set_user_role" => {
            let u = app.user(a.org_id, &fresh(), portal::auth::Role::Viewer).await;
            (format!("/api/client/users/{}/role", u.id), Some(json!({ "role": "admin" })))
        }
        _ => return None,
    })
}

/// An open viewer invitation of practice `a` (from its owner), straight into
/// the database; its id and token.
async fn seed_invite(app: &TestApp, a: &Practice, email: &str) -> (Uuid, String) {
    seed_invite_by(app, &a.owner, email).await
}

/// An open viewer invitation from `inviter` to their practice, straight
/// into the database; its id and token.
async fn seed_invite_by(app: &TestApp, inviter: &TestUser, email: &str) -> (Uuid, String) {
    let token = portal::auth::tokens::generate();
    let db = app.db_client().await;
    let (id, _) = portal::db::invites::insert(
        &**db,
        &portal::db::invites::NewInvite {
            org_id: inviter.org_id,
            email,
            name: None,
            role: portal::auth::Role::Viewer,
            invited_by: inviter.id,
            token_hash: portal::auth::tokens::hash(app.state.secret(), &token),
            lifetime: Duration::from_secs(7 * 24 * 3600),
            grant_id: None,
        },
    )
    .await
    .unwrap();
    (id, token)
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

async fn invite(app: &TestApp, by: &TestUser, body: Value) -> poem::test::TestResponse {
    app.post_json_as(by, "/api/client/users/invite", &body).send().await
}

/// Invites `email` as a viewer; the response body.
async fn invite_ok(app: &TestApp, by: &TestUser, email: &str) -> Value {
    let resp = invite(app, by, json!({ "email": email, "role": "viewer" })).await;
    expect_json(resp, StatusCode::CREATED).await
}

/// The token of the newest invitation mail to `email`, read from the outbox.
async fn mailed_token(app: &TestApp, email: &str) -> String {
    let db = app.db_client().await;
    let text: String = db
        .query_one(
            "SELECT body_text FROM email_outbox WHERE to_address = $1 AND kind = 'invite'
              ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    token_in(&text)
}

/// The token of the first invitation link in a mail body.
fn token_in(text: &str) -> String {
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/client/invite?token="))
        .unwrap_or_else(|| panic!("no invitation link in {text}"));
    link.split_once("token=").unwrap().1.to_owned()
}

async fn accept(app: &TestApp, token: &str, name: &str) -> poem::test::TestResponse {
    app.client
        .post("/api/client/auth/accept-invite")
        .body_json(&json!({ "token": token, "name": name }))
        .send()
        .await
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    app.count("SELECT count(*) FROM client_audit_log WHERE action = $1", &[&action]).await
}

/// The details of the newest audit row with `action`.
async fn last_details(app: &TestApp, action: &str) -> Value {
    app.db_client()
        .await
        .query_one(
            "SELECT details FROM client_audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1",
            &[&action],
        )
        .await
        .unwrap()
        .get(0)
}

async fn users_of(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let list = app.get_as(user, "/api/client/users").expect_json(StatusCode::OK).await;
    list["users"].as_array().unwrap().clone()
}

async fn invites_of(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let list = app.get_as(user, "/api/client/invites").expect_json(StatusCode::OK).await;
    list["invites"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------------------
// API: listing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn admins_list_the_practices_users_with_their_details() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let other = app.practice("Elm Clinic").await;

    let list = users_of(&app, &p.admin).await;
    let emails: Vec<&str> = list.iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(
        emails,
        ["owner@oakclinic.example", "admin@oakclinic.example", "viewer@oakclinic.example"],
        "owner, admin, viewer; never another practice's"
    );
    let owner = &list[0];
    assert_eq!(owner["id"], p.owner.id.to_string());
    assert_eq!(owner["name"], "owner");
    assert_eq!(owner["role"], "owner");
    assert_eq!(owner["is_active"], true);
    assert_eq!(owner["email_verified"], false);
    assert_eq!(owner["last_login_at"], Value::Null);
    assert!(owner["created_at"].is_string());
    assert!(!list.iter().any(|u| u["email"] == other.owner.email.as_str()));

    // A token works too; a viewer may not list.
    let token = app.bearer(&p.owner).await;
    let resp = app
        .client
        .get("/api/client/users")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    resp.assert_status_is_ok();
    let resp = app.get_as(&p.viewer, "/api/client/users").send().await;
    assert!(expect_error(resp, StatusCode::FORBIDDEN, "").await.contains("admin role"));
}

// ---------------------------------------------------------------------------
// API: invitations
// ---------------------------------------------------------------------------

/// The whole path as a newcomer takes it: the invitation goes out over real
/// SMTP, its link opens the page (consuming nothing) and accepting signs
/// them in with the invited role.
#[tokio::test]
async fn an_invitation_goes_out_over_smtp_and_its_link_signs_the_newcomer_in() {
    let smtp = crate::smtp_server::SmtpServer::start(crate::smtp_server::Security::Plain).await;
    let app = crate::helpers::spawn_app_with(|c| c.smtp = Some(smtp.config())).await;
    let p = app.practice("Oak Clinic").await;

    let resp = invite(
        &app,
        &p.admin,
        json!({ "email": "New.Person@Oak.Example", "name": "Dr. New", "role": "viewer" }),
    )
    .await;
    let sent = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(sent["email"], "new.person@oak.example", "normalised");
    assert_eq!(sent["role"], "viewer");
    let invite_id: Uuid = sent["invite_id"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        sent["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_minutes() as f64 / 1440.0;
    assert!((6.99..=7.01).contains(&days), "valid 7 days: {days}");

    // Only the token's HMAC is stored; the mail is queued with its secret flag.
    let db = app.db_client().await;
    let row = db
        .query_one(
            "SELECT octet_length(token_hash), name, role, invited_by FROM client_invites WHERE id = $1",
            &[&invite_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 32);
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("Dr. New"));
    assert_eq!(row.get::<_, String>(2), "viewer");
    assert_eq!(row.get::<_, Uuid>(3), p.admin.id);
    let secret: bool = db
        .query_one(
            "SELECT contains_secret FROM email_outbox WHERE to_address = 'new.person@oak.example' AND kind = 'invite'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(secret);
    drop(db);

    // Delivered over SMTP; read back with a MIME parser.
    assert_eq!(portal::mail::deliver_due(&app.pool, &smtp.transport()).await.unwrap(), 1);
    let message = smtp.next_message().await;
    assert_eq!(message.rcpt_to, vec!["new.person@oak.example".to_owned()]);
    let parsed = message.parsed();
    assert_eq!(parsed.subject(), Some("admin invited you to Oak Clinic on OsirisCare"));
    let text = parsed.body_text(0).expect("a text part").into_owned();
    let html = parsed.body_html(0).expect("an HTML part").into_owned();
    assert!(text.contains("Hello Dr. New,") && text.contains("as a viewer"), "{text}");
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/client/invite?token="))
        .expect("the link")
        .to_owned();
    let base = &app.state.config().base_url;
    assert!(link.starts_with(&format!("{base}/client/invite?token=")), "{link}");
    assert!(html.contains(&link), "the HTML part has the same link");
    let token = token_in(&link);
    assert_eq!(token.len(), 43, "256 bits, base64url");
    let wiped: String = app
        .db_client()
        .await
        .query_one("SELECT body_text FROM email_outbox WHERE kind = 'invite'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(wiped, "", "the link is wiped from the outbox once delivered");

    // The link's page: shows the invitation, twice, and uses nothing.
    let path = &link[base.len()..];
    for _ in 0..2 {
        let resp = app.client.get(path).send().await;
        resp.assert_status_is_ok();
        resp.assert_header("cache-control", "no-store");
        resp.assert_header("referrer-policy", "no-referrer");
        let page = body_text(resp).await;
        assert!(page.contains("Oak Clinic") && page.contains("new.person@oak.example"), "{page}");
        assert!(page.contains(">viewer<") && page.contains(r#"value="Dr. New""#), "{page}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM client_invites WHERE accepted_at IS NULL", &[]).await,
        1
    );

    // Accepting creates the user and signs them in.
    let resp = accept(&app, &token, "  Dr. Nora New  ").await;
    resp.assert_status_is_ok();
    let cookie = cookie_of(&resp);
    let set = resp.0.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    assert_eq!(body_json(resp).await, json!({ "status": "authenticated" }));
    let me = app.client.get("/api/client/auth/me").header("cookie", &cookie).send().await;
    let me = expect_json(me, StatusCode::OK).await;
    assert_eq!(me["email"], "new.person@oak.example");
    assert_eq!(me["name"], "Dr. Nora New");
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["org"]["id"], p.org_id.to_string());

    let db = app.db_client().await;
    let u = db
        .query_one(
            "SELECT id, email_verified, notifications_read_through IS NOT NULL, last_login_at IS NOT NULL,
                    is_active
               FROM client_users WHERE email = 'new.person@oak.example'",
            &[],
        )
        .await
        .unwrap();
    let new_id: Uuid = u.get(0);
    assert!(u.get::<_, bool>(1), "email verified");
    assert!(u.get::<_, bool>(2), "earlier notifications count as read");
    assert!(u.get::<_, bool>(3) && u.get::<_, bool>(4));
    let inv = db
        .query_one(
            "SELECT accepted_at IS NOT NULL, accepted_user_id FROM client_invites WHERE id = $1",
            &[&invite_id],
        )
        .await
        .unwrap();
    assert!(inv.get::<_, bool>(0));
    assert_eq!(inv.get::<_, Option<Uuid>>(1), Some(new_id));
    let entry = db
        .query_one(
            "SELECT client_org_id, actor_user_id, target_id, details FROM client_audit_log
              WHERE action = 'invite.accepted'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(entry.get::<_, Option<Uuid>>(0), Some(p.org_id));
    assert_eq!(entry.get::<_, Option<Uuid>>(1), Some(new_id));
    assert_eq!(entry.get::<_, Option<String>>(2), Some(invite_id.to_string()));
    assert_eq!(entry.get::<_, Value>(3)["invited_by"], p.admin.id.to_string());
    let sent_entry = db
        .query_one(
            "SELECT actor_user_id, details FROM client_audit_log WHERE action = 'invite.sent'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(sent_entry.get::<_, Option<Uuid>>(0), Some(p.admin.id));
    assert_eq!(sent_entry.get::<_, Value>(1)["email"], "new.person@oak.example");
    drop(db);
    assert_eq!(audited(&app, "auth.signin_succeeded").await, 1);

    // Used: the link no longer works, and its page says so.
    accept(&app, &token, "Someone Else").await.assert_status(StatusCode::UNAUTHORIZED);
    let resp = app.client.get(path).send().await;
    assert!(expect_text(resp, StatusCode::GONE).await.contains("already used"));
    assert!(invites_of(&app, &p.admin).await.is_empty(), "no longer pending");
}

#[tokio::test]
async fn an_invitation_is_accepted_once_even_by_ten_at_a_time() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    invite_ok(&app, &p.owner, "race@oak.example").await;
    let token = mailed_token(&app, "race@oak.example").await;

    let names: Vec<String> = (0..10).map(|i| format!("Racer {i}")).collect();
    let attempts = names.iter().map(|name| accept(&app, &token, name));
    let responses = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.0.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 9, "{statuses:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM client_users WHERE email = 'race@oak.example'", &[]).await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM client_sessions s JOIN client_users u ON u.id = s.user_id WHERE u.email = 'race@oak.example'", &[]).await, 1);
    assert_eq!(audited(&app, "invite.accepted").await, 1);
    // The nine refused ones are counted, not audited (a used token names
    // no invitation any more, like any made-up one).
    assert_eq!(audited(&app, "invite.accept_failed").await, 0);
    let counted = app.anonymous_attempts("invite_invalid_token").await;
    assert_eq!(counted, 9);
}

#[tokio::test]
async fn an_invitation_expires_after_seven_days_and_resending_renews_it() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let sent = invite_ok(&app, &p.admin, "late@oak.example").await;
    let id: Uuid = sent["invite_id"].as_str().unwrap().parse().unwrap();
    let token = mailed_token(&app, "late@oak.example").await;
    // Raw SQL on purpose: eight days pass; no portal function moves time.
    let db = app.db_client().await;
    db.execute(
        "UPDATE client_invites SET created_at = now() - interval '8 days',
                expires_at = now() - interval '1 day' WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    drop(db);

    let resp = accept(&app, &token, "Late Comer").await;
    let text = expect_error(resp, StatusCode::UNAUTHORIZED, "").await;
    assert!(text.contains("expired") && text.contains("new invitation"), "{text}");
    let resp = app.client.get(format!("/client/invite?token={token}")).send().await;
    let page = expect_text(resp, StatusCode::GONE).await;
    assert!(page.contains("This invitation has expired") && page.contains("send it again"));

    // Listed as expired, so it can be resent.
    let list = invites_of(&app, &p.admin).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "expired");
    assert_eq!(list[0]["invited_by"]["email"], p.admin.email.as_str());

    let resp = app.post_as(&p.admin, &format!("/api/client/invites/{id}/resend")).send().await;
    let renewed = expect_json(resp, StatusCode::OK).await;
    assert_eq!(renewed["invite_id"], id.to_string());
    let expires: chrono::DateTime<chrono::Utc> =
        renewed["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::days(6));
    assert_eq!(invites_of(&app, &p.admin).await[0]["status"], "pending");
    let fresh = mailed_token(&app, "late@oak.example").await;
    accept(&app, &fresh, "Late Comer").await.assert_status_is_ok();
    let details: Value = app
        .db_client()
        .await
        .query_one("SELECT details FROM client_audit_log WHERE action = 'invite.resent'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(details["was_expired"], true);
}

#[tokio::test]
async fn resending_an_invitation_makes_the_old_link_stop_working() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let sent = invite_ok(&app, &p.owner, "twice@oak.example").await;
    let id = sent["invite_id"].as_str().unwrap().to_owned();
    let old = mailed_token(&app, "twice@oak.example").await;

    let resp = app.post_as(&p.admin, &format!("/api/client/invites/{id}/resend")).send().await;
    resp.assert_status_is_ok();
    let new = mailed_token(&app, "twice@oak.example").await;
    assert_ne!(old, new);
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE to_address = 'twice@oak.example'", &[])
            .await,
        2,
        "a second mail"
    );
    assert_eq!(audited(&app, "invite.resent").await, 1);

    accept(&app, &old, "Old Link").await.assert_status(StatusCode::UNAUTHORIZED);
    accept(&app, &new, "New Link").await.assert_status_is_ok();
    // Accepted: nothing left to resend or revoke.
    let resp = app.post_as(&p.admin, &format!("/api/client/invites/{id}/resend")).send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
    let resp =
        app.request_as(Method::DELETE, &p.admin, &format!("/api/client/invites/{id}")).send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn inviting_an_address_again_replaces_its_open_invitation() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let first = invite_ok(&app, &p.admin, "again@oak.example").await;
    let old = mailed_token(&app, "again@oak.example").await;
    let resp =
        invite(&app, &p.owner, json!({ "email": "AGAIN@oak.example", "role": "admin" })).await;
    let second = expect_json(resp, StatusCode::CREATED).await;
    assert_ne!(first["invite_id"], second["invite_id"]);
    assert_eq!(second["role"], "admin");

    let list = invites_of(&app, &p.admin).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], second["invite_id"]);
    assert_eq!(list[0]["role"], "admin");
    accept(&app, &old, "Old").await.assert_status(StatusCode::UNAUTHORIZED);
    let resp = app.client.get(format!("/client/invite?token={old}")).send().await;
    assert!(expect_text(resp, StatusCode::GONE).await.contains("withdrawn"));
    let details: Value = app
        .db_client()
        .await
        .query_one(
            "SELECT details FROM client_audit_log WHERE action = 'invite.sent' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(details["replaced_invite_id"], first["invite_id"]);

    let new = mailed_token(&app, "again@oak.example").await;
    let resp = accept(&app, &new, "Second Time").await;
    resp.assert_status_is_ok();
    let cookie = cookie_of(&resp);
    let me = body_json(app.client.get("/api/client/auth/me").header("cookie", cookie).send().await)
        .await;
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn an_address_with_an_account_elsewhere_gets_the_answer_of_a_new_one_and_a_mail_instead() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;

    // A user of the practice itself: the admin sees them on the users page
    // anyway, so a 409 says so.
    for email in [a.viewer.email.as_str(), "VIEWER@oakclinic.example"] {
        let resp = invite(&app, &a.admin, json!({ "email": email, "role": "viewer" })).await;
        let text = expect_error(resp, StatusCode::CONFLICT, "conflict").await;
        assert!(text.contains("already a user of your practice"), "{text}");
    }
    assert_eq!(app.count("SELECT count(*) FROM client_invites", &[]).await, 0);

    // An account in another practice: the same 201 as for a new address,
    // the same rows written; the address is mailed that it has an account,
    // with nothing to accept.
    let fresh =
        invite(&app, &a.admin, json!({ "email": "fresh@oak.example", "role": "viewer" })).await;
    let fresh = expect_json(fresh, StatusCode::CREATED).await;
    let taken = invite(&app, &a.admin, json!({ "email": b.owner.email, "role": "viewer" })).await;
    let taken = expect_json(taken, StatusCode::CREATED).await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&fresh), keys(&taken), "the same answer");
    let (subject, text, secret): (String, String, bool) = app
        .db_client()
        .await
        .query_one(
            "SELECT subject, body_text, contains_secret FROM email_outbox WHERE to_address = $1",
            &[&b.owner.email],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert!(subject.contains("tried to invite you to Oak Clinic"), "{subject}");
    assert!(text.contains("already has a portal account") && !text.contains("token="), "{text}");
    assert!(!secret, "no link in it");
    assert_eq!(invites_of(&app, &a.admin).await.len(), 2, "both listed alike");
    // Resending answers alike too.
    let id = taken["invite_id"].as_str().unwrap();
    app.post_as(&a.admin, &format!("/api/client/invites/{id}/resend"))
        .send()
        .await
        .assert_status(StatusCode::OK);
    // A removed user keeps their address: still the practice's.
    app.request_as(Method::DELETE, &a.owner, &format!("/api/client/users/{}", a.viewer.id))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    invite(&app, &a.admin, json!({ "email": a.viewer.email, "role": "viewer" }))
        .await
        .assert_status(StatusCode::CONFLICT);

    // Invited by two practices: the first acceptance wins; the second is a
    // 409 (to the invitee, who holds the link) that leaves its invitation open.
    invite_ok(&app, &a.admin, "wanted@clinics.example").await;
    let from_a = mailed_token(&app, "wanted@clinics.example").await;
    invite_ok(&app, &b.admin, "wanted@clinics.example").await;
    let from_b = mailed_token(&app, "wanted@clinics.example").await;
    accept(&app, &from_b, "Wanted").await.assert_status_is_ok();
    let resp = accept(&app, &from_a, "Wanted").await;
    assert!(expect_error(resp, StatusCode::CONFLICT, "").await.contains("sign in"));
}

/// The practice's invitation limit (100 per 15 minutes) counts every
/// invitation, to addresses with accounts elsewhere too.
#[tokio::test]
async fn refused_invitations_count_towards_the_rate_limit() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    for i in 0..100 {
        let resp =
            invite(&app, &a.admin, json!({ "email": b.viewer.email, "role": "viewer" })).await;
        assert_eq!(resp.0.status(), StatusCode::CREATED, "attempt {i}");
    }
    for body in [
        json!({ "email": b.viewer.email, "role": "viewer" }),
        json!({ "email": "fresh@oak.example", "role": "viewer" }),
    ] {
        let resp = invite(&app, &a.owner, body).await;
        resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 =
            resp.0.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        assert_eq!(body_json(resp).await["error"], "rate_limited");
    }
    // Resending counts against the same limit.
    let (id, _) = seed_invite(&app, &a, "pending@oak.example").await;
    app.post_as(&a.admin, &format!("/api/client/invites/{id}/resend"))
        .send()
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    // The page: 429 with Retry-After, for htmx (the message as a toast) and
    // without it (the page with the form and the message).
    let resp = app
        .post_as(&a.admin, portal::paths::USERS_INVITE)
        .header("hx-request", "true")
        .form(&[("email", "page@oak.example"), ("name", ""), ("role", "viewer")])
        .send()
        .await;
    resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.0.headers().contains_key("retry-after"));
    let toast = resp.0.headers().get("x-portal-message").unwrap().to_str().unwrap().to_owned();
    assert!(toast.contains("try again in"), "{toast}");
    let resp = app
        .post_plain_form_as(
            &a.admin,
            portal::paths::USERS_INVITE,
            &[("email", "nojs@oak.example"), ("name", ""), ("role", "viewer")],
        )
        .send()
        .await;
    resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.0.headers().contains_key("retry-after"));
    let html = body_text(resp).await;
    assert!(html.contains(r#"id="invite-error""#) && html.contains("try again in"), "{html}");
    assert!(html.contains(r#"value="nojs@oak.example""#), "keeps the input");

    // Only the 100 invitations' mails were sent (each to an address with an
    // account elsewhere); another practice has its own limit.
    assert_eq!(app.count("SELECT count(*) FROM email_outbox", &[]).await, 100);
    assert_eq!(
        invites_of(&app, &a.admin).await.len(),
        2,
        "the seeded one and the last to the address with an account elsewhere"
    );
    invite_ok(&app, &b.admin, "someone@elm.example").await;
}

/// Invitations are sent from a browser session only: a leaked API token
/// must not let its holder invite themselves in as an admin.
#[tokio::test]
async fn api_tokens_cannot_send_or_resend_invitations() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (id, _) = seed_invite(&app, &p, "pending@oak.example").await;
    for user in [&p.admin, &p.owner] {
        let token = app.bearer(user).await;
        let resp = app
            .client
            .post("/api/client/users/invite")
            .header("authorization", format!("Bearer {token}"))
            .body_json(&json!({ "email": "scripted@oak.example", "role": "admin" }))
            .send()
            .await;
        let body = expect_json(resp, StatusCode::FORBIDDEN).await;
        assert_eq!(body["error"], "forbidden");
        assert!(body["message"].as_str().unwrap().contains("sign in with a browser"), "{body}");
        app.client
            .post(format!("/api/client/invites/{id}/resend"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .assert_status(StatusCode::FORBIDDEN);
        // Listing and revoking stay open to tokens.
        app.client
            .get("/api/client/invites")
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .assert_status_is_ok();
    }
    let open = invites_of(&app, &p.admin).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["email"], "pending@oak.example");
    assert_eq!(app.count("SELECT count(*) FROM email_outbox", &[]).await, 0);
    assert_eq!(audited(&app, "invite.sent").await + audited(&app, "invite.resent").await, 0);
    // The same admin, signed in with a browser, may.
    invite_ok(&app, &p.admin, "scripted@oak.example").await;
}

/// An admin who is removed or made a viewer loses the invitations they
/// sent: they cannot invite a second address of their own, leave, and
/// come back through it.
#[tokio::test]
async fn removing_or_demoting_the_sender_revokes_their_invitations() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let admin2 = app.user(p.org_id, "admin2@oakclinic.example", portal::auth::Role::Admin).await;
    invite(&app, &p.admin, json!({ "email": "second-me@home.example", "role": "admin" }))
        .await
        .assert_status(StatusCode::CREATED);
    let removed_link = mailed_token(&app, "second-me@home.example").await;
    invite_ok(&app, &admin2, "friend@home.example").await;
    let demoted_link = mailed_token(&app, "friend@home.example").await;
    invite_ok(&app, &p.owner, "owners@home.example").await;
    let owners_link = mailed_token(&app, "owners@home.example").await;
    assert_eq!(invites_of(&app, &p.owner).await.len(), 3);

    app.request_as(Method::DELETE, &p.owner, &format!("/api/client/users/{}", p.admin.id))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let set = |target: Uuid, role: &str| {
        app.request_as(Method::PUT, &p.owner, &format!("/api/client/users/{target}/role"))
            .body_json(&json!({ "role": role }))
            .send()
    };
    set(admin2.id, "viewer").await.assert_status_is_ok();

    let open: Vec<String> = invites_of(&app, &p.owner)
        .await
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(open, ["owners@home.example"], "only the owner's invitation is open");
    for link in [&removed_link, &demoted_link] {
        accept(&app, link, "Back Door").await.assert_status(StatusCode::UNAUTHORIZED);
        let resp = app.client.get(format!("/client/invite?token={link}")).send().await;
        assert!(expect_text(resp, StatusCode::GONE).await.contains("withdrawn"));
    }
    assert_eq!(
        app.count("SELECT count(*) FROM client_users WHERE email LIKE '%@home.example'", &[]).await,
        0
    );
    assert_eq!(last_details(&app, "user.removed").await["invites_revoked"], 1);
    assert_eq!(last_details(&app, "user.role_changed").await["invites_revoked"], 1);

    // Made an admin again, admin2 does not get the old invitation back, and
    // promoting revokes nothing.
    set(admin2.id, "admin").await.assert_status_is_ok();
    assert_eq!(last_details(&app, "user.role_changed").await["invites_revoked"], 0);
    accept(&app, &demoted_link, "Back Door").await.assert_status(StatusCode::UNAUTHORIZED);
    // The owner's invitation still works.
    accept(&app, &owners_link, "Welcome").await.assert_status_is_ok();
}

/// Acceptance itself checks that the sender may still invite (an active
/// owner or admin), whatever way they lost that right.
#[tokio::test]
async fn an_invitation_from_a_sender_who_can_no_longer_invite_is_refused() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (_, token) = seed_invite_by(&app, &p.admin, "late@oak.example").await;
    let refused = async || {
        accept(&app, &token, "Late Comer").await.assert_status(StatusCode::UNAUTHORIZED);
        let resp = app.client.get(format!("/client/invite?token={token}")).send().await;
        assert!(expect_text(resp, StatusCode::GONE).await.contains("withdrawn"));
    };
    // The sender deactivated ...
    app.deactivate(p.admin.id).await;
    refused().await;
    // ... and active again, but a viewer. Raw SQL on purpose: no portal
    // function reactivates a user.
    let db = app.db_client().await;
    db.execute("UPDATE client_users SET is_active = true WHERE id = $1", &[&p.admin.id])
        .await
        .unwrap();
    drop(db);
    app.set_role(p.admin.id, portal::auth::Role::Viewer).await;
    refused().await;
    assert_eq!(audited(&app, "invite.accepted").await, 0);
    // With the sender an admin again, the (never revoked) invitation works.
    app.set_role(p.admin.id, portal::auth::Role::Admin).await;
    accept(&app, &token, "Late Comer").await.assert_status_is_ok();
}

#[tokio::test]
async fn malformed_invitations_and_acceptances_are_refused_without_writes() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let long = "x".repeat(201);
    for body in [
        json!({ "email": "not-an-email", "role": "viewer" }),
        json!({ "email": "a@b", "role": "viewer" }),
        json!({ "email": "", "role": "viewer" }),
        json!({ "email": 42, "role": "viewer" }),
        json!({ "email": "ok@oak.example", "role": "owner" }),
        json!({ "email": "ok@oak.example", "role": "root" }),
        json!({ "email": "ok@oak.example" }),
        json!({ "role": "viewer" }),
        json!({ "email": "ok@oak.example", "role": "viewer", "name": long }),
        json!({ "email": "ok@oak.example", "role": "viewer", "name": "tab\there" }),
        json!({ "email": "ok@oak.example", "role": "viewer", "name": 7 }),
        json!([]),
    ] {
        let resp = invite(&app, &p.admin, body.clone()).await;
        let err = expect_json(resp, StatusCode::BAD_REQUEST).await;
        assert_eq!(err["error"], "bad_request", "{body}: {err}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }
    let resp = app
        .post_as(&p.admin, "/api/client/users/invite")
        .content_type("text/plain")
        .body("email=ok@oak.example")
        .send()
        .await;
    resp.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.count("SELECT count(*) FROM client_invites", &[]).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM email_outbox", &[]).await, 0);

    // A blank name is no name; the mail then just says hello.
    let resp = invite(
        &app,
        &p.admin,
        json!({ "email": "blank@oak.example", "role": "viewer", "name": "  " }),
    )
    .await;
    resp.assert_status(StatusCode::CREATED);
    let token = mailed_token(&app, "blank@oak.example").await;

    for body in [
        json!({ "token": token, "name": "" }),
        json!({ "token": token, "name": "   " }),
        json!({ "token": token, "name": long }),
        json!({ "token": token, "name": "new\nline" }),
        json!({ "token": token }),
        json!({ "name": "No Token" }),
        json!({ "token": 5, "name": "Number" }),
    ] {
        let resp = app.client.post("/api/client/auth/accept-invite").body_json(&body).send().await;
        resp.assert_status(StatusCode::BAD_REQUEST);
    }
    for bad in ["", "short", "not a token at all, with spaces!", &"A".repeat(300)] {
        let resp = accept(&app, bad, "Someone").await;
        assert!(
            expect_error(resp, StatusCode::UNAUTHORIZED, "")
                .await
                .contains("invalid, expired or already used")
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM client_users WHERE email = 'blank@oak.example'", &[]).await,
        0
    );
    // The exact name limit is fine.
    accept(&app, &token, &"n".repeat(200)).await.assert_status_is_ok();

    // Ids that are not UUIDs.
    for (method, path, body) in [
        (Method::DELETE, "/api/client/invites/not-a-uuid", None),
        (Method::POST, "/api/client/invites/not-a-uuid/resend", None),
        (Method::DELETE, "/api/client/users/not-a-uuid", None),
        (Method::PUT, "/api/client/users/not-a-uuid/role", Some(json!({ "role": "admin" }))),
    ] {
        let mut req = app.request_as(method, &p.owner, path);
        if let Some(body) = body {
            req = req.body_json(&body);
        }
        req.send().await.assert_status(StatusCode::BAD_REQUEST);
    }
    for body in
        [json!({ "role": "owner" }), json!({ "role": "boss" }), json!({}), json!({ "role": 1 })]
    {
        app.request_as(Method::PUT, &p.owner, &format!("/api/client/users/{}/role", p.viewer.id))
            .body_json(&body)
            .send()
            .await
            .assert_status(StatusCode::BAD_REQUEST);
    }
    assert_eq!(users_of(&app, &p.owner).await[2]["role"], "viewer", "unchanged");
}

#[tokio::test]
async fn revoking_an_invitation_stops_its_link() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let sent = invite_ok(&app, &p.admin, "gone@oak.example").await;
    let id = sent["invite_id"].as_str().unwrap().to_owned();
    let token = mailed_token(&app, "gone@oak.example").await;

    let path = format!("/api/client/invites/{id}");
    app.request_as(Method::DELETE, &p.admin, &path)
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert!(invites_of(&app, &p.admin).await.is_empty());
    accept(&app, &token, "Too Late").await.assert_status(StatusCode::UNAUTHORIZED);
    let resp = app.request_as(Method::DELETE, &p.admin, &path).send().await;
    assert!(expect_error(resp, StatusCode::NOT_FOUND, "").await.contains("no open invitation"));
    let details: Value = app
        .db_client()
        .await
        .query_one("SELECT details FROM client_audit_log WHERE action = 'invite.revoked'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(details, json!({ "email": "gone@oak.example", "role": "viewer" }));
    assert_eq!(audited(&app, "invite.revoked").await, 1);
}

#[tokio::test]
async fn viewers_and_strangers_cannot_manage_users_or_invitations() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let (invite_id, _) = seed_invite(&app, &a, "pending@oak.example").await;

    let viewer_calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/client/users".into(), None),
        (Method::GET, "/api/client/invites".into(), None),
        (
            Method::POST,
            "/api/client/users/invite".into(),
            Some(json!({ "email": "x@oak.example", "role": "viewer" })),
        ),
        (Method::DELETE, format!("/api/client/invites/{invite_id}"), None),
        (Method::POST, format!("/api/client/invites/{invite_id}/resend"), None),
        (Method::DELETE, format!("/api/client/users/{}", a.admin.id), None),
        (
            Method::PUT,
            format!("/api/client/users/{}/role", a.admin.id),
            Some(json!({ "role": "viewer" })),
        ),
    ];
    for (method, path, body) in &viewer_calls {
        let mut req = app.request_as(method.clone(), &a.viewer, path);
        if let Some(body) = body {
            req = req.body_json(body);
        }
        req.send().await.assert_status(StatusCode::FORBIDDEN);
        // Signed out: 401.
        let mut req = app.client.request(method.clone(), path);
        if let Some(body) = body {
            req = req.body_json(body);
        }
        req.send().await.assert_status(StatusCode::UNAUTHORIZED);
    }

    // Another practice's ids are not found for its owner; no token manages
    // users or invitations (403 whatever the id).
    let token = app.bearer(&b.owner).await;
    for (method, path, body, by_token) in [
        (Method::DELETE, format!("/api/client/invites/{invite_id}"), None, StatusCode::FORBIDDEN),
        (
            Method::POST,
            format!("/api/client/invites/{invite_id}/resend"),
            None,
            StatusCode::FORBIDDEN,
        ),
        (Method::DELETE, format!("/api/client/users/{}", a.viewer.id), None, StatusCode::FORBIDDEN),
        (Method::DELETE, format!("/api/client/users/{}", a.owner.id), None, StatusCode::FORBIDDEN),
        (
            Method::PUT,
            format!("/api/client/users/{}/role", a.viewer.id),
            Some(json!({ "role": "admin" })),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let mut req = app.request_as(method.clone(), &b.owner, &path);
        if let Some(body) = &body {
            req = req.body_json(body);
        }
        let resp = req.send().await;
        assert_eq!(expect_json(resp, StatusCode::NOT_FOUND).await["error"], "not_found");
        let mut req =
            app.client.request(method, &path).header("authorization", format!("Bearer {token}"));
        if let Some(body) = &body {
            req = req.body_json(body);
        }
        req.send().await.assert_status(by_token);
    }
    let unknown = Uuid::new_v4();
    app.request_as(Method::DELETE, &a.owner, &format!("/api/client/users/{unknown}"))
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert!(invites_of(&app, &b.owner).await.is_empty(), "B never sees A's invitations");
    assert_eq!(invites_of(&app, &a.admin).await.len(), 1, "A's invitation untouched");
    assert!(users_of(&app, &a.owner).await.iter().all(|u| u["is_active"] == true));

    // Cookie callers need the CSRF token for changes.
    let resp = app
        .client
        .delete(format!("/api/client/users/{}", a.viewer.id))
        .header("cookie", &a.owner.cookie)
        .send()
        .await;
    assert!(expect_error(resp, StatusCode::FORBIDDEN, "").await.contains("CSRF"));
}

// ---------------------------------------------------------------------------
// API: removing users and changing roles
// ---------------------------------------------------------------------------

#[tokio::test]
async fn removal_follows_the_rules_of_who_may_remove_whom() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let admin2 = app.user(p.org_id, "admin2@oakclinic.example", portal::auth::Role::Admin).await;
    let remove = |by: &TestUser, target: Uuid| {
        app.request_as(Method::DELETE, by, &format!("/api/client/users/{target}")).send()
    };

    let resp = remove(&p.admin, p.admin.id).await;
    assert!(expect_error(resp, StatusCode::FORBIDDEN, "").await.contains("cannot remove yourself"));
    let resp = remove(&p.owner, p.owner.id).await;
    resp.assert_status(StatusCode::FORBIDDEN);
    let resp = remove(&p.admin, p.owner.id).await;
    assert!(
        expect_error(resp, StatusCode::FORBIDDEN, "").await.contains("owner cannot be removed")
    );
    let resp = remove(&p.admin, admin2.id).await;
    assert!(
        expect_error(resp, StatusCode::FORBIDDEN, "")
            .await
            .contains("only the practice owner can remove an admin")
    );
    assert_eq!(audited(&app, "user.removed").await, 0);
    assert!(users_of(&app, &p.owner).await.iter().all(|u| u["is_active"] == true));

    remove(&p.admin, p.viewer.id).await.assert_status(StatusCode::NO_CONTENT);
    remove(&p.owner, admin2.id).await.assert_status(StatusCode::NO_CONTENT);
    // Again: nothing more to do.
    remove(&p.owner, admin2.id).await.assert_status(StatusCode::NO_CONTENT);
    assert_eq!(audited(&app, "user.removed").await, 2);

    let list = users_of(&app, &p.owner).await;
    let active: Vec<(&str, bool)> = list
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["is_active"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        active,
        [
            ("owner@oakclinic.example", true),
            ("admin@oakclinic.example", true),
            ("admin2@oakclinic.example", false),
            ("viewer@oakclinic.example", false),
        ],
        "removed users are listed last, inactive"
    );
    let entry = app
        .db_client()
        .await
        .query_one(
            "SELECT actor_user_id, target_id, details FROM client_audit_log
              WHERE action = 'user.removed' ORDER BY id LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(entry.get::<_, Option<Uuid>>(0), Some(p.admin.id));
    assert_eq!(entry.get::<_, Option<String>>(1), Some(p.viewer.id.to_string()));
    let details: Value = entry.get(2);
    assert_eq!(details["email"], "viewer@oakclinic.example");
    assert_eq!(details["role"], "viewer");
    assert_eq!(details["sessions_revoked"], 1);
}

#[tokio::test]
async fn a_removed_user_loses_their_sessions_and_api_tokens_at_once() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let second = app.sign_in(p.admin.id, &p.admin.email, p.org_id).await;
    let token = app.bearer(&p.admin).await;
    let bearer = |t: &str| {
        app.client.get("/api/client/auth/me").header("authorization", format!("Bearer {t}")).send()
    };
    bearer(&token).await.assert_status_is_ok();

    app.request_as(Method::DELETE, &p.owner, &format!("/api/client/users/{}", p.admin.id))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);

    for session in [&p.admin, &second] {
        app.get_as(session, "/api/client/auth/me")
            .send()
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    bearer(&token).await.assert_status(StatusCode::UNAUTHORIZED);
    let db = app.db_client().await;
    let live: i64 = db
        .query_one(
            "SELECT (SELECT count(*) FROM client_sessions WHERE user_id = $1 AND revoked_at IS NULL)
                  + (SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL)",
            &[&p.admin.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0, "revoked in the database, not only hidden");
    drop(db);
    let details: Value = app
        .db_client()
        .await
        .query_one("SELECT details FROM client_audit_log WHERE action = 'user.removed'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(details["sessions_revoked"], 2);
    assert_eq!(details["api_tokens_revoked"], 1);

    // Nor can they sign in again by email link.
    let link = app.magic_token(p.admin.id).await;
    app.client
        .post("/api/client/auth/validate-magic-link")
        .body_json(&json!({ "token": link }))
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
    // Everyone else is still signed in.
    app.get_as(&p.viewer, "/api/client/auth/me").send().await.assert_status_is_ok();
}

#[tokio::test]
async fn only_the_owner_changes_roles_and_never_their_own_or_the_owners() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let set = |by: &TestUser, target: Uuid, role: &str| {
        app.request_as(Method::PUT, by, &format!("/api/client/users/{target}/role"))
            .body_json(&json!({ "role": role }))
            .send()
    };

    // The viewer's session sees the new role on its next request.
    app.get_as(&p.viewer, "/api/client/users").send().await.assert_status(StatusCode::FORBIDDEN);
    let resp = set(&p.owner, p.viewer.id, "admin").await;
    let user = expect_json(resp, StatusCode::OK).await;
    assert_eq!(user["id"], p.viewer.id.to_string());
    assert_eq!(user["role"], "admin");
    assert_eq!(user["email"], p.viewer.email.as_str());
    assert_eq!(user["is_active"], true);
    app.get_as(&p.viewer, "/api/client/users").send().await.assert_status_is_ok();
    let entry = app
        .db_client()
        .await
        .query_one(
            "SELECT actor_user_id, target_id, details FROM client_audit_log WHERE action = 'user.role_changed'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(entry.get::<_, Option<Uuid>>(0), Some(p.owner.id));
    assert_eq!(entry.get::<_, Option<String>>(1), Some(p.viewer.id.to_string()));
    let details: Value = entry.get(2);
    assert_eq!(details["from"], "viewer");
    assert_eq!(details["to"], "admin");

    // The same role again changes nothing and writes nothing.
    set(&p.owner, p.viewer.id, "admin").await.assert_status_is_ok();
    assert_eq!(audited(&app, "user.role_changed").await, 1);
    // Back to viewer.
    let resp = set(&p.owner, p.viewer.id, "viewer").await;
    assert_eq!(expect_json(resp, StatusCode::OK).await["role"], "viewer");

    let resp = set(&p.admin, p.viewer.id, "admin").await;
    assert!(expect_error(resp, StatusCode::FORBIDDEN, "").await.contains("owner role"));
    let resp = set(&p.owner, p.owner.id, "viewer").await;
    assert!(expect_error(resp, StatusCode::FORBIDDEN, "").await.contains("your own role"));
    // A former owner (deactivated) still cannot be given a role.
    let db = app.db_client().await;
    let former = portal::db::orgs::insert_user(
        &**db,
        p.org_id,
        "former@oakclinic.example",
        None,
        portal::auth::Role::Viewer,
    )
    .await
    .unwrap();
    drop(db);
    // Deactivated first: the practice has one active owner already.
    app.deactivate(former).await;
    app.set_role(former, portal::auth::Role::Owner).await;
    let resp = set(&p.owner, former, "admin").await;
    assert!(expect_error(resp, StatusCode::FORBIDDEN, "").await.contains("owner's role"));

    // A removed user's role stays.
    app.request_as(Method::DELETE, &p.owner, &format!("/api/client/users/{}", p.admin.id))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let resp = set(&p.owner, p.admin.id, "viewer").await;
    assert!(expect_error(resp, StatusCode::CONFLICT, "").await.contains("removed"));
    assert_eq!(audited(&app, "user.role_changed").await, 2);
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_users_page_shows_users_invitations_and_only_the_actions_allowed() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (invite_id, _) = seed_invite(&app, &p, "pending@oak.example").await;

    let resp = app.get_as(&p.viewer, portal::paths::USERS).send().await;
    assert!(expect_text(resp, StatusCode::FORBIDDEN).await.contains("Not allowed"));
    let resp = app.client.get(portal::paths::USERS).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);

    let resp = app.get_as(&p.owner, portal::paths::USERS).send().await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"aria-current="page""#) && html.contains(">Users<"));
    for email in [&p.owner.email, &p.admin.email, &p.viewer.email] {
        assert!(html.contains(email.as_str()), "{email}");
    }
    assert!(
        html.contains(r#"id="invite-section""#)
            && html.contains(r#"hx-post="/client/users/invite""#)
    );
    assert!(html.contains(&format!(r#"data-invite-id="{invite_id}""#)));
    assert!(html.contains(&format!(r#"hx-post="/client/users/invites/{invite_id}/resend""#)));
    assert!(html.contains(&format!(r#"hx-post="/client/users/invites/{invite_id}/revoke""#)));
    // The owner may remove and re-role the admin and the viewer, not themselves.
    for u in [&p.admin, &p.viewer] {
        assert!(html.contains(&format!(r#"hx-post="/client/users/{}/remove""#, u.id)));
        assert!(html.contains(&format!(r#"hx-post="/client/users/{}/role""#, u.id)));
    }
    assert!(!html.contains(&portal::paths::user_remove(p.owner.id)));
    assert!(!html.contains(&portal::paths::user_role(p.owner.id)));
    assert!(html.contains("hx-confirm=\"Remove viewer?"), "{html}");
    assert!(html.contains("Make admin") && html.contains("Make viewer"));

    // An admin removes viewers only, and changes no roles.
    let html = body_text(app.get_as(&p.admin, portal::paths::USERS).send().await).await;
    assert!(html.contains(&format!(r#"hx-post="/client/users/{}/remove""#, p.viewer.id)));
    assert!(!html.contains(&portal::paths::user_remove(p.admin.id)));
    assert!(!html.contains(&portal::paths::user_remove(p.owner.id)));
    assert!(!html.contains("/role\""), "no role buttons for an admin");
}

#[tokio::test]
async fn the_invite_form_adds_the_invitation_in_place_and_shows_errors_with_422() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let post = |form: &[(&str, &str)]| {
        app.post_as(&p.admin, portal::paths::USERS_INVITE)
            .header("hx-request", "true")
            .form(&form)
            .send()
    };

    let resp =
        post(&[("email", "Fresh@Oak.example"), ("name", "Fresh Face"), ("role", "viewer")]).await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.starts_with(r#"<section class="card" id="invite-section">"#), "{html}");
    assert!(html.contains("Invitation sent to fresh@oak.example as viewer"), "{html}");
    assert!(
        html.contains(
            r#"id="invite-email" type="email" name="email" required maxlength="254" value="""#
        ),
        "cleared: {html}"
    );
    let oob =
        html.find(r#"id="invites-section" hx-swap-oob="true""#).expect("the list, out of band");
    assert!(html[oob..].contains(r#"data-email="fresh@oak.example""#));
    assert_eq!(invites_of(&app, &p.admin).await.len(), 1);
    assert_eq!(audited(&app, "invite.sent").await, 1);

    for (form, needle) in [
        (vec![("email", "nope"), ("name", ""), ("role", "viewer")], "valid email"),
        (vec![("email", "x@oak.example"), ("name", ""), ("role", "owner")], "admin or viewer"),
        (
            vec![("email", p.viewer.email.as_str()), ("name", ""), ("role", "admin")],
            "already a user",
        ),
    ] {
        let resp = post(&form).await;
        let html = expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(html.starts_with(r#"<section class="card" id="invite-section">"#), "{html}");
        assert!(html.contains(r#"id="invite-error""#) && html.contains(needle), "{needle}: {html}");
        assert!(html.contains(&format!(r#"value="{}""#, form[0].1)), "keeps the input: {html}");
        assert!(!html.contains("hx-swap-oob"));
    }
    let resp = post(&[("email", "y@oak.example"), ("name", "Y"), ("role", "admin")]).await;
    resp.assert_status_is_ok();
    assert_eq!(invites_of(&app, &p.admin).await.len(), 2);

    // Without JavaScript: the CSRF token travels in the form; success redirects.
    let resp = app
        .post_plain_form_as(
            &p.admin,
            portal::paths::USERS_INVITE,
            &[("email", "nojs@oak.example"), ("name", ""), ("role", "viewer")],
        )
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::USERS);
    let resp = app
        .post_plain_form_as(
            &p.admin,
            portal::paths::USERS_INVITE,
            &[("email", "bad"), ("role", "viewer")],
        )
        .send()
        .await;
    let html = expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("valid email"));
    // ... and without the token it is refused.
    let resp = app
        .client
        .post(portal::paths::USERS_INVITE)
        .header("cookie", &p.admin.cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", "forged@oak.example"), ("role", "admin")])
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(invites_of(&app, &p.admin).await.len(), 3);
    // Viewers cannot.
    app.post_as(&p.viewer, portal::paths::USERS_INVITE)
        .header("hx-request", "true")
        .form(&[("email", "v@oak.example"), ("role", "viewer")])
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn page_actions_remove_rerole_revoke_and_resend_in_place() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let hx = |user: &TestUser, path: String| {
        app.post_as(user, &path).header("hx-request", "true").send()
    };

    // Role change (owner only).
    let resp = app
        .post_as(&a.owner, &portal::paths::user_role(a.viewer.id))
        .header("hx-request", "true")
        .form(&[("role", "admin")])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.starts_with(r#"<section class="card" id="users-section">"#), "{html}");
    assert!(html.contains("viewer is now admin."), "{html}");
    assert_eq!(users_of(&app, &a.owner).await[2]["role"], "admin");
    app.post_as(&a.admin, &portal::paths::user_role(a.viewer.id))
        .header("hx-request", "true")
        .form(&[("role", "viewer")])
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);

    // Removal.
    let resp = hx(&a.owner, portal::paths::user_remove(a.viewer.id)).await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.contains("viewer was removed and signed out everywhere."), "{html}");
    assert!(html.contains(">removed<"));
    let resp = hx(&a.admin, portal::paths::user_remove(a.owner.id)).await;
    resp.assert_status(StatusCode::FORBIDDEN);
    assert!(resp.0.headers().get("x-portal-message").unwrap().to_str().unwrap().contains("owner"));
    hx(&b.owner, portal::paths::user_remove(a.admin.id)).await.assert_status(StatusCode::NOT_FOUND);

    // Invitations: resend, then revoke.
    let (id, old) = seed_invite(&app, &a, "later@oak.example").await;
    hx(&b.owner, portal::paths::invite_resend(id)).await.assert_status(StatusCode::NOT_FOUND);
    let resp = hx(&a.admin, portal::paths::invite_resend(id)).await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.starts_with(r#"<section class="card" id="invites-section">"#), "{html}");
    assert!(html.contains("sent to later@oak.example again"));
    accept(&app, &old, "Old").await.assert_status(StatusCode::UNAUTHORIZED);
    let resp = hx(&a.admin, portal::paths::invite_revoke(id)).await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.contains("Invitation revoked") && html.contains("No pending invitations."));
    hx(&a.admin, portal::paths::invite_revoke(id)).await.assert_status(StatusCode::NOT_FOUND);
    hx(&a.admin, "/client/users/invites/not-a-uuid/revoke".into())
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    // Without JavaScript: back to the page.
    let (id, _) = seed_invite(&app, &a, "nojs@oak.example").await;
    let resp =
        app.post_plain_form_as(&a.admin, &portal::paths::invite_revoke(id), &[]).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::USERS);
    for action in ["user.role_changed", "user.removed", "invite.resent", "invite.revoked"] {
        assert!(audited(&app, action).await >= 1, "{action}");
    }
}

#[tokio::test]
async fn the_invitation_page_accepts_by_post_and_explains_bad_links() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    invite_ok(&app, &p.admin, "page@oak.example").await;
    let token = mailed_token(&app, "page@oak.example").await;

    for (query, status, needle) in [
        ("", StatusCode::NOT_FOUND, "not valid"),
        ("?token=", StatusCode::NOT_FOUND, "not valid"),
        ("?token=abc", StatusCode::NOT_FOUND, "not valid"),
        ("?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", StatusCode::NOT_FOUND, "not valid"),
    ] {
        let resp = app.client.get(format!("/client/invite{query}")).send().await;
        let html = expect_text(resp, status).await;
        assert!(html.contains(needle) && html.contains("ask for a new invitation"), "{html}");
    }

    // A blank name shows the form again with the message.
    let resp = app
        .client
        .post(portal::paths::INVITE)
        .form(&[("token", token.as_str()), ("name", "  ")])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(html.contains("field-error") && html.contains("1 to 200 characters"), "{html}");
    assert!(html.contains(&format!(r#"value="{token}""#)), "the token stays in the form");

    // Another site cannot make the browser accept.
    let resp = app
        .client
        .post(portal::paths::INVITE)
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", token.as_str()), ("name", "Forged")])
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT count(*) FROM client_users WHERE email = 'page@oak.example'", &[]).await,
        0
    );

    let resp = app
        .client
        .post(portal::paths::INVITE)
        .header("sec-fetch-site", "same-origin")
        .form(&[("token", token.as_str()), ("name", "Page Person")])
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::DASHBOARD);
    let cookie = cookie_of(&resp);
    let dash = app.client.get(portal::paths::DASHBOARD).header("cookie", &cookie).send().await;
    let html = expect_text(dash, StatusCode::OK).await;
    assert!(html.contains("Page Person") && html.contains(">viewer<"), "{html}");

    let resp = app
        .client
        .post(portal::paths::INVITE)
        .form(&[("token", token.as_str()), ("name", "Page Person")])
        .send()
        .await;
    assert!(expect_text(resp, StatusCode::UNAUTHORIZED).await.contains("already used"));
}

// ---------------------------------------------------------------------------
// In a real browser
// ---------------------------------------------------------------------------

/// An admin invites a viewer from the users page (the invitation appears
/// without a reload); the newcomer opens the link in another session,
/// gives their name and lands on the dashboard as a viewer.
#[tokio::test]
async fn an_admin_invites_a_viewer_who_accepts_in_another_browser_session() {
    let Some((_driver, client)) = crate::browser::browser().await else { return };
    let app = spawn_app().await;
    let p = app.practice("Riverside Family Medicine").await;
    let server = crate::helpers::spawn_server(&app).await;

    crate::browser::open_as(&client, &server.base_url, &p.admin, portal::paths::USERS).await;
    client.wait().for_element(Locator::Id("invite-email")).await.expect("the invite form");
    client.execute("window.__marker = 'same page';", vec![]).await.unwrap();
    client
        .find(Locator::Id("invite-email"))
        .await
        .unwrap()
        .send_keys("Nina.Newcomer@Riverside.example")
        .await
        .unwrap();
    client.find(Locator::Id("invite-name")).await.unwrap().send_keys("Nina").await.unwrap();
    client.find(Locator::Id("invite-role")).await.unwrap().select_by_value("viewer").await.unwrap();
    client.find(Locator::Id("invite-submit")).await.unwrap().click().await.unwrap();
    let row = client
        .wait()
        .for_element(Locator::Css(
            "#invites-table tr[data-email='nina.newcomer@riverside.example']",
        ))
        .await
        .expect("the pending invitation appeared");
    assert!(row.text().await.unwrap().to_lowercase().contains("pending"));
    let notice = client.find(Locator::Id("invite-sent")).await.unwrap();
    assert!(notice.text().await.unwrap().contains("Invitation sent"));
    let marker = client.execute("return window.__marker || null;", vec![]).await.unwrap();
    assert_eq!(marker, json!("same page"), "no full reload");
    crate::browser::fit_page(&client).await;
    let shot = crate::browser::screenshot(&client, "users").await;
    eprintln!("screenshot: {}", shot.display());
    client.set_window_size(1280, 900).await.unwrap();

    // The link from the queued mail, opened in a fresh session.
    let db = app.db_client().await;
    let text: String = db
        .query_one(
            "SELECT body_text FROM email_outbox WHERE to_address = 'nina.newcomer@riverside.example'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    drop(db);
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/client/invite?token="))
        .expect("the link")
        .to_owned();
    assert!(link.starts_with(&server.base_url), "{link}");
    // Leave the users page before the session goes: its notification badge
    // polls, and a poll answered 401 would send the page to the login
    // screen (HX-Redirect) while the invitation link is loading. Signed
    // out, the login page shows (signed in it would redirect) and does not
    // poll, so once it is shown nothing else navigates.
    client.delete_all_cookies().await.unwrap();
    client.goto(&format!("{}{}", server.base_url, portal::paths::LOGIN)).await.unwrap();
    client.wait().for_element(Locator::Id("magic-email")).await.expect("the login page");
    client.goto(&link).await.unwrap();
    let name = match client.wait().for_element(Locator::Id("invite-name")).await {
        Ok(name) => name,
        Err(e) => {
            // Say which page came instead, so a failure here can be understood.
            let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let body = client.source().await.unwrap_or_default();
            panic!("the name form did not appear ({e}) at {url}:\n{body}");
        }
    };
    let page = client.find(Locator::Css(".auth-card")).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Riverside Family Medicine")
            && page.contains("nina.newcomer@riverside.example"),
        "{page}"
    );
    name.clear().await.unwrap();
    name.send_keys("Nina Newcomer").await.unwrap();
    let shot = crate::browser::screenshot(&client, "invite-accept").await;
    eprintln!("screenshot: {}", shot.display());
    client.find(Locator::Id("accept-invite")).await.unwrap().click().await.unwrap();

    let greeting =
        client.wait().for_element(Locator::Id("user-name")).await.expect("the dashboard");
    assert_eq!(greeting.text().await.unwrap(), "Nina Newcomer");
    assert!(client.current_url().await.unwrap().as_str().ends_with(portal::paths::DASHBOARD));
    let badge = client.find(Locator::Css(".nav-right .badge")).await.unwrap();
    assert_eq!(badge.text().await.unwrap().to_lowercase(), "viewer");
    let nav = client.find(Locator::Css("nav.nav")).await.unwrap().text().await.unwrap();
    assert!(!nav.contains("Users"), "a viewer's navigation has no Users: {nav}");

    assert_eq!(
        app.count("SELECT count(*) FROM client_invites WHERE accepted_at IS NOT NULL", &[]).await,
        1
    );

    client.close().await.unwrap();
    server.stop().await;
}
