//! Auditor access: owners and admins grant an outside auditor time-limited
//! access (an invitation that carries the grant), extend or narrow it, and
//! revoke it; expiry and revocation end the auditor's sessions and tokens
//! at once; auditors change nothing.

use poem::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::appliances::create_site;
use crate::helpers::{Expect, TestApp, TestUser, expect_json, spawn_app};

const AUDITOR: &str = "kim@auditfirm.example";

fn grant_body() -> Value {
    json!({ "email": AUDITOR, "name": "Kim Auditor", "firm": "Audit & Co", "expires_in_days": 14 })
}

async fn grant(app: &TestApp, by: &TestUser, body: &Value) -> poem::test::TestResponse {
    app.post_json_as(by, "/api/client/auditors", body).send().await
}

/// The invitation token mailed to `email`.
pub async fn mailed_token(app: &TestApp, email: &str) -> String {
    let text: String = app
        .db_client()
        .await
        .query_one(
            "SELECT body_text FROM email_outbox WHERE to_address = $1 AND kind = 'invite'
              ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    let link = text.split_whitespace().find(|w| w.contains("/client/invite?token=")).unwrap();
    link.split_once("token=").unwrap().1.to_owned()
}

/// Accepts an invitation token with `name`; the response's status.
async fn accept(app: &TestApp, token: &str, name: &str) -> StatusCode {
    let resp = app
        .client
        .post("/api/client/auth/accept-invite")
        .body_json(&json!({ "token": token, "name": name }))
        .send()
        .await;
    resp.0.status()
}

/// Accepts the invitation mailed to `email` and signs the new auditor in.
async fn accept_and_sign_in(app: &TestApp, email: &str, org: Uuid) -> TestUser {
    let token = mailed_token(app, email).await;
    assert_eq!(accept(app, &token, "Kim Auditor").await, StatusCode::OK);
    let id: Uuid = app
        .db_client()
        .await
        .query_one("SELECT id FROM client_users WHERE email = $1", &[&email])
        .await
        .unwrap()
        .get(0);
    app.sign_in(id, email, org).await
}

/// Grants access, accepts the invitation and signs the auditor in.
pub async fn auditor_of(app: &TestApp, owner: &TestUser, org: Uuid) -> (Uuid, TestUser) {
    auditor_of_scope(app, owner, org, json!({})).await
}

/// [`auditor_of`] with the grant's scope (`site_ids`, `from`, `to`) set.
pub async fn auditor_of_scope(
    app: &TestApp,
    owner: &TestUser,
    org: Uuid,
    scope: Value,
) -> (Uuid, TestUser) {
    let mut body = grant_body();
    for (k, v) in scope.as_object().unwrap() {
        body[k] = v.clone();
    }
    let granted = expect_json(grant(app, owner, &body).await, StatusCode::CREATED).await;
    let grant_id: Uuid = granted["grant_id"].as_str().unwrap().parse().unwrap();
    (grant_id, accept_and_sign_in(app, AUDITOR, org).await)
}

#[tokio::test]
async fn an_owner_grants_access_and_the_auditor_signs_in_as_auditor() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main").await;
    let body = json!({
        "email": AUDITOR, "name": "Kim Auditor", "firm": "Audit & Co",
        "site_ids": [site.id], "from": "2026-01-01", "to": "2026-06-30"
    });
    let granted = expect_json(grant(&app, &p.admin, &body).await, StatusCode::CREATED).await;
    let expires: chrono::DateTime<chrono::Utc> =
        granted["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "30 days by default: {days} h");

    let list = app.get_as(&p.owner, "/api/client/auditors").expect_json(StatusCode::OK).await;
    let g = &list["grants"][0];
    assert_eq!((g["status"].as_str(), g["firm"].as_str()), (Some("invited"), Some("Audit & Co")));
    assert_eq!(g["site_ids"], json!([site.id]));
    assert_eq!((g["from"].as_str(), g["to"].as_str()), (Some("2026-01-01"), Some("2026-06-30")));
    // The auditor's invitation is the grant's, not one of the users page's.
    let invites = app.get_as(&p.owner, "/api/client/invites").expect_json(StatusCode::OK).await;
    assert_eq!(invites["invites"], json!([]));
    let mail: String = app
        .db_client()
        .await
        .query_one("SELECT body_text FROM email_outbox WHERE to_address = $1", &[&AUDITOR])
        .await
        .unwrap()
        .get(0);
    assert!(mail.contains("as an auditor") && mail.contains("change nothing"), "{mail}");

    let auditor = accept_and_sign_in(&app, AUDITOR, p.org_id).await;
    let id = auditor.id;
    let me = app.get_as(&auditor, "/api/client/auth/me").expect_json(StatusCode::OK).await;
    assert_eq!(me["role"], "auditor");
    assert_eq!(me["auditor_grant"]["site_ids"], json!([site.id]));
    assert_eq!(me["auditor_grant"]["to"], "2026-06-30");
    assert_eq!(me["auditor_grant"]["expires_at"], granted["expires_at"]);
    let list = app.get_as(&p.owner, "/api/client/auditors").expect_json(StatusCode::OK).await;
    assert_eq!(list["grants"][0]["status"], "active");
    assert_eq!(list["grants"][0]["user_id"], id.to_string());
    // Others see no grant on /me.
    let me = app.get_as(&p.viewer, "/api/client/auth/me").expect_json(StatusCode::OK).await;
    assert!(me.get("auditor_grant").is_none(), "{me}");
    assert_eq!(
        app.count("SELECT count(*) FROM client_audit_log WHERE action = 'auditor.granted'", &[])
            .await,
        1
    );
}

#[tokio::test]
async fn an_auditor_changes_nothing_and_signs_out() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (_, auditor) = auditor_of(&app, &p.owner, p.org_id).await;
    let invite = json!({ "email": "new@oakclinic.example", "role": "viewer" });
    for (method, path, body) in [
        (Method::POST, "/api/client/users/invite", Some(invite)),
        (Method::POST, "/api/client/auditors", Some(grant_body())),
        (Method::GET, "/api/client/auditors", None),
        (Method::GET, "/api/client/users", None),
        (Method::POST, "/api/client/api-tokens", Some(json!({ "name": "mine" }))),
        (Method::POST, "/api/client/notifications/read-all", None),
    ] {
        let mut req = app.request_as(method.clone(), &auditor, path);
        if let Some(b) = &body {
            req = req.body_json(b);
        }
        let resp = req.send().await;
        assert_eq!(resp.0.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    // Their role cannot be changed into a practice role.
    let resp = app
        .request_as(Method::PUT, &p.owner, &format!("/api/client/users/{}/role", auditor.id))
        .body_json(&json!({ "role": "admin" }))
        .send()
        .await;
    let body = expect_json(resp, StatusCode::FORBIDDEN).await;
    assert!(body["message"].as_str().unwrap().contains("through their grant"), "{body}");
    // The users page offers removing the auditor, not a role for them.
    let page = app.get_as(&p.owner, portal::paths::USERS).expect_text(StatusCode::OK).await;
    assert!(page.contains(&portal::paths::user_remove(auditor.id)), "removable");
    assert!(!page.contains(&portal::paths::user_role(auditor.id)), "no role to change");
    app.post_as(&auditor, "/api/client/auth/logout")
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.get_as(&auditor, "/api/client/auth/me")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revocation_and_expiry_end_the_auditors_sessions_and_tokens_at_once() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (grant_id, auditor) = auditor_of(&app, &p.owner, p.org_id).await;
    let token = app.bearer(&auditor).await;
    let me_by_token =
        || app.client.get("/api/client/auth/me").header("authorization", format!("Bearer {token}"));
    me_by_token().send().await.assert_status(StatusCode::OK);

    // Expiry: the grant's end passes (moved back in SQL).
    app.db_client()
        .await
        .execute(
            "UPDATE auditor_grants SET created_at = now() - interval '2 days',
                    expires_at = now() - interval '1 second' WHERE id = $1",
            &[&grant_id],
        )
        .await
        .unwrap();
    app.get_as(&auditor, "/api/client/auth/me")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    me_by_token().send().await.assert_status(StatusCode::UNAUTHORIZED);
    let path = format!("/api/client/auditors/{grant_id}");
    let resp =
        app.request_as(Method::PATCH, &p.owner, &path).body_json(&json!({ "expires_in_days": 5 }));
    let body = expect_json(resp.send().await, StatusCode::CONFLICT).await;
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");

    // A second grant, revoked: at once, and the second revocation is a no-op.
    let p2 = app.practice("Elm Clinic").await;
    let second = "lee@auditfirm.example";
    let granted = expect_json(
        grant(&app, &p2.owner, &json!({ "email": second, "name": "Lee", "firm": "Audit & Co" }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let lee = accept_and_sign_in(&app, second, p2.org_id).await;
    app.get_as(&lee, "/api/client/auth/me").send().await.assert_status(StatusCode::OK);
    let path = format!("/api/client/auditors/{}", granted["grant_id"].as_str().unwrap());
    // Not another practice's grant.
    app.delete_as(&p.owner, &path).send().await.assert_status(StatusCode::NOT_FOUND);
    app.get_as(&lee, "/api/client/auth/me").send().await.assert_status(StatusCode::OK);
    app.delete_as(&p2.admin, &path).send().await.assert_status(StatusCode::NO_CONTENT);
    app.get_as(&lee, "/api/client/auth/me").send().await.assert_status(StatusCode::UNAUTHORIZED);
    app.delete_as(&p2.admin, &path).send().await.assert_status(StatusCode::NO_CONTENT);
    let details: Value = app
        .db_client()
        .await
        .query_one("SELECT details FROM client_audit_log WHERE action = 'auditor.revoked'", &[])
        .await
        .unwrap()
        .get(0);
    // The invitation's sign-in and the test's own.
    assert_eq!(details["sessions_revoked"], 2, "{details}");
    let list = app.get_as(&p2.owner, "/api/client/auditors").expect_json(StatusCode::OK).await;
    assert_eq!(list["grants"][0]["status"], "revoked");
}

#[tokio::test]
async fn a_grant_is_extended_or_narrowed_and_an_unaccepted_revoked_grant_cannot_be_taken_up() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let a = create_site(&app, p.org_id, "Main").await;
    let granted =
        expect_json(grant(&app, &p.owner, &grant_body()).await, StatusCode::CREATED).await;
    let path = format!("/api/client/auditors/{}", granted["grant_id"].as_str().unwrap());
    let changed = app
        .request_as(Method::PATCH, &p.admin, &path)
        .body_json(&json!({ "expires_in_days": 60, "site_ids": [a.id], "to": "2026-12-31" }))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(changed["site_ids"], json!([a.id]));
    assert_eq!(changed["to"], "2026-12-31");
    assert!(changed["expires_at"].as_str() > granted["expires_at"].as_str(), "extended");
    // null widens back to every site; absent fields keep their value.
    let changed = app
        .request_as(Method::PATCH, &p.admin, &path)
        .body_json(&json!({ "site_ids": null }))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(
        (changed["site_ids"].clone(), changed["to"].as_str()),
        (Value::Null, Some("2026-12-31"))
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM client_audit_log WHERE action = 'auditor.grant_changed'",
            &[]
        )
        .await,
        2
    );
    // Revoked before acceptance: the link no longer works.
    let token = mailed_token(&app, AUDITOR).await;
    app.delete_as(&p.owner, &path).send().await.assert_status(StatusCode::NO_CONTENT);
    assert_eq!(accept(&app, &token, "Kim").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("SELECT count(*) FROM client_users WHERE email = $1", &[&AUDITOR]).await,
        0
    );
}

#[tokio::test]
async fn grants_refuse_wrong_roles_other_practices_and_malformed_input() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let other = app.practice("Elm Clinic").await;
    let theirs = create_site(&app, other.org_id, "Theirs").await;
    // A viewer, an API token, nobody.
    grant(&app, &p.viewer, &grant_body()).await.assert_status(StatusCode::FORBIDDEN);
    app.get_as(&p.viewer, "/api/client/auditors").send().await.assert_status(StatusCode::FORBIDDEN);
    let token = app.bearer(&p.owner).await;
    let resp = app
        .client
        .post("/api/client/auditors")
        .header("authorization", format!("Bearer {token}"))
        .body_json(&grant_body())
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    app.client.get("/api/client/auditors").send().await.assert_status(StatusCode::UNAUTHORIZED);
    // Another practice's site is not found; nothing is written.
    let mut body = grant_body();
    body["site_ids"] = json!([theirs.id]);
    grant(&app, &p.owner, &body).await.assert_status(StatusCode::NOT_FOUND);
    // Malformed input: each a 400 with a message, nothing written.
    for (field, value) in [
        ("expires_in_days", json!(0)),
        ("expires_in_days", json!(366)),
        ("email", json!("not an address")),
        ("name", json!("")),
        ("firm", json!("x".repeat(101))),
        ("site_ids", json!([])),
        ("site_ids", json!(["not-a-uuid"])),
        ("from", json!("2026-13-01")),
    ] {
        let mut body = grant_body();
        body[field] = value.clone();
        let resp = grant(&app, &p.owner, &body).await;
        assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST, "{field} = {value}");
    }
    let mut body = grant_body();
    body["from"] = json!("2026-06-01");
    body["to"] = json!("2026-05-01");
    // Well-formed but impossible: 422, as for evidence packs.
    let err =
        expect_json(grant(&app, &p.owner, &body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(err["message"].as_str().unwrap().contains("starts"), "{err}");
    // A user of the practice is a 409, as for any invitation; an account
    // elsewhere gets the answer of a new address (and a mail saying so).
    let mut body = grant_body();
    body["email"] = json!(p.viewer.email);
    grant(&app, &p.owner, &body).await.assert_status(StatusCode::CONFLICT);
    assert_eq!(app.rows_in("auditor_grants").await, 0, "nothing written");
    body["email"] = json!(other.viewer.email);
    grant(&app, &p.owner, &body).await.assert_status(StatusCode::CREATED);
    assert_eq!(app.rows_in("auditor_grants").await, 1);
    // Ids: another practice's, unknown, malformed.
    let granted =
        expect_json(grant(&app, &p.owner, &grant_body()).await, StatusCode::CREATED).await;
    let path = format!("/api/client/auditors/{}", granted["grant_id"].as_str().unwrap());
    let patch = json!({ "expires_in_days": 2 });
    app.request_as(Method::PATCH, &other.owner, &path)
        .body_json(&patch)
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    app.request_as(Method::PATCH, &p.owner, &format!("/api/client/auditors/{}", Uuid::new_v4()))
        .body_json(&patch)
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    app.delete_as(&p.owner, "/api/client/auditors/nope")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    app.request_as(Method::PATCH, &p.viewer, &path)
        .body_json(&patch)
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
    app.request_as(Method::PATCH, &p.owner, &path)
        .body_json(&json!({ "expires_in_days": 400 }))
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_second_grant_to_the_same_address_replaces_the_first_not_taken_up() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let first = expect_json(grant(&app, &p.owner, &grant_body()).await, StatusCode::CREATED).await;
    let old_token = mailed_token(&app, AUDITOR).await;
    let second = expect_json(grant(&app, &p.admin, &grant_body()).await, StatusCode::CREATED).await;
    let list = app.get_as(&p.owner, "/api/client/auditors").expect_json(StatusCode::OK).await;
    let status = |id: &Value| {
        list["grants"].as_array().unwrap().iter().find(|g| g["id"] == *id).unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&first["grant_id"]), "revoked");
    assert_eq!(status(&second["grant_id"]), "invited");
    assert_eq!(accept(&app, &old_token, "Kim").await, StatusCode::UNAUTHORIZED);
}

/// The users page's auditors section, and what the auditor then sees: the
/// banner, the packs page as their landing page, no users or settings.
#[tokio::test]
async fn the_users_page_grants_extends_and_revokes_and_the_auditor_sees_the_banner() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let form =
        [("email", AUDITOR), ("name", "Kim Auditor"), ("firm", "Audit & Co"), ("days", "14")];
    app.post_form_as(&p.viewer, portal::paths::AUDITORS, &form)
        .expect_status(StatusCode::FORBIDDEN)
        .await;
    let bad = app
        .post_form_as(
            &p.admin,
            portal::paths::AUDITORS,
            &[form[0], form[1], form[2], ("days", "soon")],
        )
        .header("hx-request", "true")
        .send()
        .await;
    let bad = crate::helpers::Reply::read(bad).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("Days must be a whole number"), "{}", bad.text());
    let section = app
        .post_form_as(&p.admin, portal::paths::AUDITORS, &form)
        .header("hx-request", "true")
        .expect_text(StatusCode::OK)
        .await;
    assert!(section.contains("Invitation sent to kim@auditfirm.example"), "{section}");
    assert!(section.contains("invited"), "{section}");
    let page = app.get_as(&p.owner, portal::paths::USERS).expect_text(StatusCode::OK).await;
    assert!(page.contains("id=\"auditors\"") && page.contains("Kim Auditor"), "{page}");

    let auditor = accept_and_sign_in(&app, AUDITOR, p.org_id).await;
    let dashboard =
        app.get_as(&auditor, portal::paths::DASHBOARD).expect_text(StatusCode::OK).await;
    assert!(dashboard.contains("id=\"auditor-banner\""), "{dashboard}");
    assert!(
        dashboard.contains("It covers every site and all of their evidence."),
        "the banner says what the access covers: {dashboard}"
    );
    for link in [
        portal::paths::EVIDENCE,
        portal::paths::REPORTS,
        portal::paths::AUDIT,
        portal::paths::AUDIT_PACKS,
    ] {
        assert!(dashboard.contains(&format!("href=\"{link}\"")), "{link} in the nav: {dashboard}");
    }
    for hidden in [
        portal::paths::USERS,
        portal::paths::SETTINGS,
        portal::paths::NOTIFICATIONS,
        portal::paths::TRANSFER,
    ] {
        assert!(!dashboard.contains(&format!("href=\"{hidden}\"")), "no {hidden} link");
    }
    let packs = app.get_as(&auditor, portal::paths::AUDIT_PACKS).expect_text(StatusCode::OK).await;
    assert!(packs.contains("id=\"auditor-banner\""), "{packs}");
    assert!(packs.contains("Auditor access to Oak Clinic</strong> until"), "{packs}");
    assert!(!packs.contains("href=\"/client/users\""), "no users link for an auditor");
    for page in [portal::paths::USERS, portal::paths::SETTINGS] {
        app.get_as(&auditor, page).expect_status(StatusCode::FORBIDDEN).await;
    }
    let owner_page =
        app.get_as(&p.owner, portal::paths::AUDIT_PACKS).expect_text(StatusCode::OK).await;
    assert!(!owner_page.contains("auditor-banner"), "the banner is the auditor's");

    let id: Uuid = app
        .db_client()
        .await
        .query_one("SELECT id FROM auditor_grants WHERE client_org_id = $1", &[&p.org_id])
        .await
        .unwrap()
        .get(0);
    let other = app.practice("Elm Clinic").await;
    let foreign = app
        .post_form_as(&other.owner, &portal::paths::auditor_revoke(id), &[])
        .header("hx-request", "true")
        .send()
        .await;
    let foreign = crate::helpers::Reply::read(foreign).await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(foreign.text().contains("no such auditor grant"), "{}", foreign.text());
    app.post_form_as(&p.admin, "/client/users/auditors/nope/extend", &[])
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
    let extended = app
        .post_form_as(&p.admin, &portal::paths::auditor_extend(id), &[])
        .header("hx-request", "true")
        .expect_text(StatusCode::OK)
        .await;
    assert!(extended.contains("access now ends"), "{extended}");
    let revoked = app
        .post_form_as(&p.owner, &portal::paths::auditor_revoke(id), &[])
        .header("hx-request", "true")
        .expect_text(StatusCode::OK)
        .await;
    assert!(revoked.contains("Access revoked") && revoked.contains("revoked"), "{revoked}");
    // Revoking ended the auditor's session at once; signing in again says why.
    app.get_as(&auditor, "/api/client/auth/me").expect_status(StatusCode::UNAUTHORIZED).await;
    let token = app.magic_token(auditor.id).await;
    let again = app
        .client
        .post("/api/client/auth/validate-magic-link")
        .body_json(&json!({ "token": token }))
        .send()
        .await;
    let again = crate::helpers::Reply::read(again).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.text());
    assert!(
        again.text().contains("your auditor access to Oak Clinic was revoked"),
        "{}",
        again.text()
    );
}
