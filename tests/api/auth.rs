//! Sign-in and sessions through the JSON API.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{
    TestApp, body_json, body_text, expect_json, expect_text, set_cookie, spawn_app,
};

async fn request_link(app: &TestApp, email: &str) -> poem::test::TestResponse {
    app.client
        .post("/api/client/auth/request-magic-link")
        .body_json(&json!({ "email": email }))
        .send()
        .await
}

async fn validate(app: &TestApp, token: &str) -> poem::test::TestResponse {
    app.client
        .post("/api/client/auth/validate-magic-link")
        .body_json(&json!({ "token": token }))
        .send()
        .await
}

async fn outbox_to(app: &TestApp, email: &str) -> Vec<(String, String)> {
    let db = app.db_client().await;
    db.query("SELECT subject, body_text FROM email_outbox WHERE to_address = $1", &[&email])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn a_magic_link_request_answers_the_same_for_every_address() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    app.deactivate(p.viewer.id).await;

    let mut bodies = Vec::new();
    for email in [p.admin.email.as_str(), "nobody@oakclinic.example", p.viewer.email.as_str()] {
        let resp = request_link(&app, email).await;
        bodies.push(expect_text(resp, StatusCode::OK).await);
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&bodies[0]).unwrap(),
        json!({"status": "sent", "message": "If that email exists, a login link was sent."})
    );
    assert_eq!(app.issue_links().await, 3);

    let mail = outbox_to(&app, &p.admin.email).await;
    assert_eq!(mail.len(), 1, "the active user gets a link");
    assert!(mail[0].1.contains("/client/verify?token="), "{}", mail[0].1);
    assert!(outbox_to(&app, "nobody@oakclinic.example").await.is_empty());
    assert!(outbox_to(&app, &p.viewer.email).await.is_empty(), "inactive users get nothing");

    let db = app.db_client().await;
    let audited: i64 = db
        .query_one(
            "SELECT count(*) FROM client_audit_log WHERE action = 'auth.magic_link_requested'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2, "the practice's two users, not the unknown address");
    let counted = app.anonymous_attempts("magic_link_unknown_address").await;
    assert_eq!(counted, 1, "the unknown address is counted, not audited");
}

/// Every row count in the public schema, by table.
async fn row_counts(app: &TestApp) -> std::collections::BTreeMap<String, i64> {
    let db = app.db_client().await;
    let tables: Vec<String> = db
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for t in tables {
        out.insert(t.clone(), app.rows_in(&t).await);
    }
    out
}

/// What a request changed: the tables whose row count moved, and by how much.
fn changed(
    before: &std::collections::BTreeMap<String, i64>,
    after: &std::collections::BTreeMap<String, i64>,
) -> Vec<(String, i64)> {
    after
        .iter()
        .filter(|&(t, n)| before[t] != *n)
        .map(|(t, n)| (t.clone(), n - before[t]))
        .collect()
}

/// Finding 8: a request for a real account used to make two more rows (the
/// link and its mail) in the request than one for an unknown address. Now
/// both write the same rows; the link and the mail come from the worker.
#[tokio::test]
async fn a_magic_link_request_writes_the_same_rows_for_known_and_unknown_addresses() {
    // Two identical practices, one request each (the same client address
    // would share its rate-limit row between the two requests).
    let mut writes = Vec::new();
    for known in [true, false] {
        let app = spawn_app().await;
        let p = app.practice("Oak Clinic").await;
        let email = if known { p.owner.email.clone() } else { "nobody@oakclinic.example".into() };
        let before = row_counts(&app).await;
        request_link(&app, &email).await.assert_status_is_ok();
        writes.push(changed(&before, &row_counts(&app).await));
        assert!(outbox_to(&app, &email).await.is_empty(), "no mail from the request itself");
        assert_eq!(app.issue_links().await, 1);
        assert_eq!(outbox_to(&app, &email).await.len(), usize::from(known));
        assert_eq!(app.rows_in("magic_link_requests").await, 0);
    }
    assert_eq!(writes[0], writes[1], "known and unknown addresses write alike");
    assert_eq!(
        writes[0],
        vec![("magic_link_requests".to_owned(), 1), ("rate_limits".to_owned(), 2)]
    );
}

#[tokio::test]
async fn the_link_in_the_mail_is_the_base_url_and_a_token_that_is_stored_only_hashed() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    request_link(&app, &p.owner.email).await.assert_status_is_ok();
    app.issue_links().await;
    let (_, text) = outbox_to(&app, &p.owner.email).await.remove(0);
    let link = text.lines().find(|l| l.contains("/client/verify?token=")).unwrap().trim();
    assert!(
        link.starts_with(&format!("{}/client/verify?token=", app.state.config().base_url)),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap();
    let db = app.db_client().await;
    let stored: Vec<u8> =
        db.query_one("SELECT token_hash FROM client_magic_links", &[]).await.unwrap().get(0);
    assert_eq!(stored, portal::auth::tokens::hash(app.state.secret(), token).to_vec());
    assert_ne!(stored, token.as_bytes());
}

#[tokio::test]
async fn magic_link_requests_are_limited_per_address_alike_for_unknown_ones() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    for email in [p.owner.email.as_str(), "ghost@oakclinic.example"] {
        for _ in 0..5 {
            request_link(&app, email).await.assert_status_is_ok();
        }
        let resp = request_link(&app, email).await;
        resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 =
            resp.0.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        let body = body_json(resp).await;
        assert_eq!(body["error"], "rate_limited");
    }
    assert_eq!(app.issue_links().await, 10);
    assert_eq!(outbox_to(&app, &p.owner.email).await.len(), 5);
}

#[tokio::test]
async fn magic_link_requests_are_limited_per_client_address() {
    let app = spawn_app().await;
    for i in 0..30 {
        request_link(&app, &format!("user{i}@x.example")).await.assert_status_is_ok();
    }
    request_link(&app, "one-more@x.example").await.assert_status(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn malformed_sign_in_requests_are_400_with_a_message() {
    let app = spawn_app().await;
    for (path, body) in [
        ("/api/client/auth/request-magic-link", json!({ "email": "not-an-email" })),
        ("/api/client/auth/request-magic-link", json!({ "mail": "a@b.example" })),
        ("/api/client/auth/request-magic-link", json!({ "email": 42 })),
        ("/api/client/auth/validate-magic-link", json!({})),
        ("/api/client/auth/login", json!({ "email": "a@b.example" })),
    ] {
        let resp = app.client.post(path).body_json(&body).send().await;
        let body = expect_json(resp, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"], "bad_request", "{path}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    let resp = app
        .client
        .post("/api/client/auth/request-magic-link")
        .content_type("application/json")
        .body("{not json")
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_magic_link_signs_in_once_with_a_secure_cookie() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let token = app.magic_token(p.admin.id).await;

    let resp = validate(&app, &token).await;
    resp.assert_status_is_ok();
    let cookie = set_cookie(&resp);
    for flag in [
        "__Host-osiris_session=",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Max-Age=2592000",
    ] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    resp.assert_json(json!({ "status": "authenticated" })).await;

    let again = validate(&app, &token).await;
    again.assert_status(StatusCode::UNAUTHORIZED);

    let pair = cookie.split(';').next().unwrap();
    let me = app.client.get("/api/client/auth/me").header("cookie", pair).send().await;
    let me = expect_json(me, StatusCode::OK).await;
    assert_eq!(me["email"], p.admin.email);
    assert_eq!(me["role"], "admin");
    assert_eq!(me["org"]["id"], p.org_id.to_string());
    assert!(me["csrf_token"].as_str().is_some_and(|t| t.len() >= 40));

    let db = app.db_client().await;
    let verified: bool = db
        .query_one("SELECT email_verified FROM client_users WHERE id = $1", &[&p.admin.id])
        .await
        .unwrap()
        .get(0);
    assert!(verified, "reaching the inbox proves the address");
}

#[tokio::test]
async fn every_sign_in_gets_a_new_session_token() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let first = set_cookie(&validate(&app, &app.magic_token(p.owner.id).await).await);
    let second = set_cookie(&validate(&app, &app.magic_token(p.owner.id).await).await);
    assert_ne!(first.split(';').next(), second.split(';').next());
}

#[tokio::test]
async fn expired_garbage_and_inactive_links_are_refused() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let expired = app.magic_token(p.owner.id).await;
    // Raw SQL on purpose (here and for the suspension below): the link
    // expires, and no portal function suspends a practice.
    let db = app.db_client().await;
    db.execute("UPDATE client_magic_links SET expires_at = now() - interval '1 second', created_at = now() - interval '2 hours'", &[])
        .await
        .unwrap();
    validate(&app, &expired).await.assert_status(StatusCode::UNAUTHORIZED);
    validate(&app, "garbage").await.assert_status(StatusCode::UNAUTHORIZED);

    let inactive_user = app.magic_token(p.viewer.id).await;
    app.deactivate(p.viewer.id).await;
    let resp = validate(&app, &inactive_user).await;
    resp.assert_status(StatusCode::FORBIDDEN);
    assert!(resp.0.headers().get("set-cookie").is_none());

    let suspended = app.magic_token(p.admin.id).await;
    db.execute("UPDATE client_orgs SET status = 'suspended' WHERE id = $1", &[&p.org_id])
        .await
        .unwrap();
    validate(&app, &suspended).await.assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_link_used_fifty_times_at_once_signs_in_exactly_once() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let token = app.magic_token(p.owner.id).await;
    let attempts = (0..50).map(|_| validate(&app, &token));
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.0.status()).collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!((ok, refused), (1, 49), "{statuses:?}");
    let db = app.db_client().await;
    let sessions: i64 = db
        .query_one("SELECT count(*) FROM client_sessions WHERE user_id = $1", &[&p.owner.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sessions, 2, "the helper's session plus exactly one from the link");
}

async fn set_password(app: &TestApp, user_id: uuid::Uuid, password: &str) {
    let hash = portal::auth::password::hash(password).unwrap();
    let db = app.db_client().await;
    portal::db::users::set_password_hash(&**db, user_id, &hash).await.unwrap();
}

async fn login(app: &TestApp, email: &str, password: &str) -> poem::test::TestResponse {
    app.client
        .post("/api/client/auth/login")
        .body_json(&json!({ "email": email, "password": password }))
        .send()
        .await
}

#[tokio::test]
async fn password_login_fails_the_same_way_for_every_wrong_input() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    set_password(&app, p.owner.id, "correct horse battery staple").await;

    let ok = login(&app, &p.owner.email, "correct horse battery staple").await;
    ok.assert_status_is_ok();
    assert!(set_cookie(&ok).starts_with("__Host-osiris_session="));

    let mut bodies = Vec::new();
    for (email, password) in [
        (p.owner.email.as_str(), "wrong password entirely"),
        ("nobody@oakclinic.example", "correct horse battery staple"),
        (p.admin.email.as_str(), "correct horse battery staple"),
    ] {
        let resp = login(&app, email, password).await;
        resp.assert_status(StatusCode::UNAUTHORIZED);
        assert!(resp.0.headers().get("set-cookie").is_none());
        bodies.push(body_text(resp).await);
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
    let db = app.db_client().await;
    let failed: i64 = db
        .query_one("SELECT count(*) FROM client_audit_log WHERE action = 'auth.signin_failed'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(failed, 2, "the practice's two accounts are audited");
    let counted = app.anonymous_attempts("password_unknown_address").await;
    assert_eq!(counted, 1, "the unknown address is counted, with no audit row");
    let orphans =
        app.count("SELECT count(*) FROM client_audit_log WHERE client_org_id IS NULL", &[]);
    assert_eq!(orphans.await, 0);
}

#[tokio::test]
async fn password_attempts_are_throttled_per_account() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    set_password(&app, p.owner.id, "correct horse battery staple").await;
    for _ in 0..10 {
        login(&app, &p.owner.email, "wrong password entirely")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    let resp = login(&app, &p.owner.email, "correct horse battery staple").await;
    resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.0.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn logout_revokes_the_session_and_clears_the_cookie() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let resp = app.post_as(&p.admin, "/api/client/auth/logout").send().await;
    resp.assert_status(StatusCode::NO_CONTENT);
    let cleared = set_cookie(&resp);
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    app.get_as(&p.admin, "/api/client/auth/me")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    let db = app.db_client().await;
    let revoked: bool = db
        .query_one(
            "SELECT revoked_at IS NOT NULL FROM client_sessions WHERE id = $1",
            &[&p.admin.session_id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(revoked);
}

#[tokio::test]
async fn me_needs_a_session_or_token() {
    let app = spawn_app().await;
    let resp = app.client.get("/api/client/auth/me").send().await;
    assert_eq!(expect_json(resp, StatusCode::UNAUTHORIZED).await["error"], "unauthorized");
    let resp = app
        .client
        .get("/api/client/auth/me")
        .header("cookie", "__Host-osiris_session=forged")
        .send()
        .await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
    let resp = app
        .client
        .get("/api/client/auth/me")
        .header("authorization", "Bearer ocp_forged")
        .send()
        .await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
    let resp =
        app.client.get("/api/client/auth/me").header("authorization", "Basic abc").send().await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_and_the_absolute_lifetime() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    app.idle_since(p.owner.session_id, "9 hours").await;
    app.get_as(&p.owner, "/api/client/auth/me")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);

    // Raw SQL on purpose: a month passes; no portal function moves time.
    let db = app.db_client().await;
    db.execute(
        "UPDATE client_sessions SET created_at = now() - interval '31 days', expires_at = now() - interval '1 day' WHERE id = $1",
        &[&p.admin.session_id],
    )
    .await
    .unwrap();
    app.get_as(&p.admin, "/api/client/auth/me")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let db = app.db_client().await;
    let last_seen = || async {
        db.query_one(
            "SELECT last_seen_at FROM client_sessions WHERE id = $1",
            &[&p.owner.session_id],
        )
        .await
        .unwrap()
        .get::<_, chrono::DateTime<chrono::Utc>>(0)
    };
    app.idle_since(p.owner.session_id, "30 seconds").await;
    let before = last_seen().await;
    app.get_as(&p.owner, "/api/client/auth/me").send().await.assert_status_is_ok();
    assert_eq!(last_seen().await, before, "no write within the minute");

    app.idle_since(p.owner.session_id, "2 minutes").await;
    let before = last_seen().await;
    // The navigation's badge polls every minute in the background: that is
    // not activity, or an open tab would never time out.
    let resp = app
        .get_as(&p.owner, portal::paths::NOTIFICATIONS_BADGE)
        .header("x-portal-background", "1")
        .header("hx-request", "true")
        .send()
        .await;
    resp.assert_status_is_ok();
    assert_eq!(last_seen().await, before, "a background poll is not activity");
    app.get_as(&p.owner, "/api/client/auth/me").send().await.assert_status_is_ok();
    assert!(last_seen().await > before, "touched after a minute");
}

#[tokio::test]
async fn the_idle_timeout_is_configurable() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.session_idle_timeout = std::time::Duration::from_secs(600)
    })
    .await;
    let p = app.practice("Oak Clinic").await;
    app.idle_since(p.owner.session_id, "11 minutes").await;
    app.get_as(&p.owner, "/api/client/auth/me")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    app.get_as(&p.admin, "/api/client/auth/me").send().await.assert_status_is_ok();
}

#[tokio::test]
async fn impossible_addresses_are_unknown_accounts_not_server_errors() {
    let app = spawn_app().await;
    for email in ["\u{0}", "nul\u{0}@x.example", "", "   "] {
        let resp = login(&app, email, "some password here").await;
        resp.assert_status(StatusCode::UNAUTHORIZED);
        let resp = request_link(&app, email).await;
        resp.assert_status(StatusCode::BAD_REQUEST);
    }
}
