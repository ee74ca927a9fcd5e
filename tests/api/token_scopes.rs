//! API token scopes: read tokens only read (and check evidence), write
//! tokens change what the role allows, and no token manages accounts.

use poem::http::{Method, StatusCode};
use portal::auth::Scope;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body_json, body_text, expect_json, spawn_app};

/// The four POST operations a read token may use.
const READ_ONLY_CHECKS: [&str; 4] =
    ["verify_bundle", "verify_chain", "verify_log", "verify_log_checkpoint"];

/// Every operation (method, concrete path, operationId) that takes an API
/// token and is not a GET, with random ids in the path.
fn unsafe_token_operations() -> Vec<(Method, String, String)> {
    let doc: Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let takes_token = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s.get("ApiToken").is_some()));
            if method == "get" || !takes_token {
                continue;
            }
            let concrete: String = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { seg.into() }
                })
                .collect::<Vec<_>>()
                .join("/");
            out.push((
                method.to_uppercase().parse().unwrap(),
                format!("/api{concrete}"),
                op["operationId"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(out.len() >= 25, "the document lists the token operations: {}", out.len());
    out
}

async fn with_token(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> poem::test::TestResponse {
    app.client
        .request(method, path)
        .header("authorization", format!("Bearer {token}"))
        .body_json(&body)
        .send()
        .await
}

#[tokio::test]
async fn a_read_token_reads_and_checks_but_every_other_change_is_refused() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let read = app.bearer_scoped(&p.owner, Scope::Read).await;

    let me = with_token(&app, Method::GET, "/api/client/auth/me", &read, json!(null)).await;
    expect_json(me, StatusCode::OK).await;
    app.client
        .get("/api/client/dashboard")
        .header("authorization", format!("Bearer {read}"))
        .send()
        .await
        .assert_status_is_ok();

    let mut refused = 0;
    for (method, path, op) in unsafe_token_operations() {
        let resp = with_token(&app, method.clone(), &path, &read, json!({})).await;
        let status = resp.0.status();
        let text = body_text(resp).await;
        if READ_ONLY_CHECKS.contains(&op.as_str()) {
            assert!(!text.contains("read-only"), "{op} is a check a read token may run: {text}");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} ({op}): {text}");
            assert!(text.contains("read-only (scope read)"), "{op}: {text}");
            refused += 1;
        }
    }
    assert!(refused >= 21, "{refused}");

    // A check gets past the scope to the log itself with a read token.
    let resp = with_token(&app, Method::POST, "/api/client/log/verify", &read, json!({})).await;
    let status = resp.0.status();
    let text = body_text(resp).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert!(text.contains("no evidence log yet"), "{text}");

    // Nothing was changed by the refused requests.
    let db = app.db_client().await;
    let written: Vec<String> = db
        .query("SELECT action FROM client_audit_log ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(written, ["api_token.created"], "only the fixture's token: nothing refused wrote");
}

#[tokio::test]
async fn a_write_token_changes_what_the_role_allows_but_never_manages_accounts() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let write = app.bearer_scoped(&p.owner, Scope::Write).await;
    let read = app.bearer_scoped(&p.owner, Scope::Read).await;

    let resp =
        with_token(&app, Method::POST, "/api/client/notifications/read-all", &read, json!({}))
            .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    let resp =
        with_token(&app, Method::POST, "/api/client/notifications/read-all", &write, json!({}))
            .await;
    expect_json(resp, StatusCode::OK).await;
    let prefs = json!({ "critical_alerts": false, "monthly_report": true });
    let resp =
        with_token(&app, Method::PUT, "/api/client/notification-preferences", &write, prefs).await;
    resp.assert_status_is_ok();

    // Account management needs a browser session whatever the scope: each
    // request below is well formed and would succeed from the owner's browser.
    let session = app.sign_in(p.owner.id, &p.owner.email, p.org_id).await;
    let token_id = body_json(
        app.post_as(&p.owner, "/api/client/api-tokens")
            .body_json(&json!({ "name": "victim" }))
            .send()
            .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite_id = body_json(
        app.post_as(&p.owner, "/api/client/users/invite")
            .body_json(&json!({ "email": "new.person@example.com", "role": "viewer" }))
            .send()
            .await,
    )
    .await["invite_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases: Vec<(Method, String, Value)> = vec![
        (
            Method::PUT,
            "/api/client/password".into(),
            json!({ "password": "a token-chosen password" }),
        ),
        (Method::DELETE, format!("/api/client/sessions/{}", session.session_id), json!({})),
        (Method::POST, "/api/client/sessions/revoke-others".into(), json!({})),
        (
            Method::POST,
            "/api/client/api-tokens".into(),
            json!({ "name": "more", "scope": "write" }),
        ),
        (Method::DELETE, format!("/api/client/api-tokens/{token_id}"), json!({})),
        (
            Method::POST,
            "/api/client/users/invite".into(),
            json!({ "email": "x@example.com", "role": "admin" }),
        ),
        (Method::DELETE, format!("/api/client/invites/{invite_id}"), json!({})),
        (Method::POST, format!("/api/client/invites/{invite_id}/resend"), json!({})),
        (Method::DELETE, format!("/api/client/users/{}", p.admin.id), json!({})),
        (
            Method::PUT,
            format!("/api/client/users/{}/role", p.admin.id),
            json!({ "role": "viewer" }),
        ),
        (
            Method::POST,
            "/api/client/auditors".into(),
            json!({ "email": "auditor@example.com", "name": "Ann Audit", "firm": "Audit & Co" }),
        ),
        (Method::POST, "/api/client/transfer/request".into(), json!({ "to_partner_id": null })),
        (Method::POST, "/api/client/transfer/cancel".into(), json!({})),
    ];
    for (method, path, body) in cases {
        let resp = with_token(&app, method.clone(), &path, &write, body).await;
        let status = resp.0.status();
        let text = body_text(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {text}");
        assert!(text.contains("sign in with a browser"), "{method} {path}: {text}");
    }
    // The admin is still there with their role, the session and token live.
    let users = body_json(app.get_as(&p.owner, "/api/client/users").send().await).await;
    let admin = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == p.admin.email.as_str())
        .unwrap()
        .clone();
    assert_eq!(admin["role"], "admin");
    app.get_as(&session, "/api/client/auth/me").send().await.assert_status_is_ok();
    let tokens = body_json(app.get_as(&p.owner, "/api/client/api-tokens").send().await).await;
    assert!(tokens["tokens"].as_array().unwrap().iter().any(|t| t["id"] == token_id.as_str()));
}

#[tokio::test]
async fn tokens_are_read_by_default_and_the_list_shows_each_scope() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let created = expect_json(
        app.post_as(&p.admin, "/api/client/api-tokens")
            .body_json(&json!({ "name": "Export script" }))
            .send()
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["scope"], "read");
    let token = created["token"].as_str().unwrap();
    let resp =
        with_token(&app, Method::POST, "/api/client/notifications/read-all", token, json!({}))
            .await;
    resp.assert_status(StatusCode::FORBIDDEN);

    let created = expect_json(
        app.post_as(&p.admin, "/api/client/api-tokens")
            .body_json(&json!({ "name": "Sync", "scope": "write" }))
            .send()
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["scope"], "write");
    let bad = app
        .post_as(&p.admin, "/api/client/api-tokens")
        .body_json(&json!({ "name": "Bad", "scope": "admin" }))
        .send()
        .await;
    bad.assert_status(StatusCode::BAD_REQUEST);

    let list = body_json(app.get_as(&p.owner, "/api/client/api-tokens").send().await).await;
    let scopes: Vec<(&str, &str)> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["scope"].as_str().unwrap()))
        .collect();
    assert_eq!(scopes, [("Sync", "write"), ("Export script", "read")]);
    let db = app.db_client().await;
    let details: Value = db
        .query_one(
            "SELECT details FROM client_audit_log WHERE action = 'api_token.created'
              ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(details["scope"], "write");
}

#[tokio::test]
async fn demoting_an_admin_revokes_their_tokens_and_promotion_does_not() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let token = app.bearer(&p.admin).await;
    let viewer_token = app.bearer(&p.viewer).await;
    let me = |t: String| {
        let app = &app;
        async move {
            app.client
                .get("/api/client/auth/me")
                .header("authorization", format!("Bearer {t}"))
                .send()
                .await
                .0
                .status()
        }
    };
    assert_eq!(me(token.clone()).await, StatusCode::OK);
    let resp = app
        .put_json_as(
            &p.owner,
            &format!("/api/client/users/{}/role", p.viewer.id),
            &json!({ "role": "admin" }),
        )
        .send()
        .await;
    resp.assert_status_is_ok();
    assert_eq!(me(viewer_token).await, StatusCode::OK, "a promotion keeps tokens");

    let resp = app
        .put_json_as(
            &p.owner,
            &format!("/api/client/users/{}/role", p.admin.id),
            &json!({ "role": "viewer" }),
        )
        .send()
        .await;
    resp.assert_status_is_ok();
    assert_eq!(me(token).await, StatusCode::UNAUTHORIZED, "the demoted admin's token ended");
    let db = app.db_client().await;
    let details: Value = db
        .query_one(
            "SELECT details FROM client_audit_log WHERE action = 'user.role_changed'
              ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(details["api_tokens_revoked"], 1);
}

#[tokio::test]
async fn an_admin_cannot_revoke_the_owners_token_but_can_revoke_an_admins() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let make = |user: &crate::helpers::TestUser, name: &str| {
        app.post_as(user, "/api/client/api-tokens").body_json(&json!({ "name": name })).send()
    };
    let owners = body_json(make(&p.owner, "Owner's script").await).await;
    let owners_id = owners["id"].as_str().unwrap().to_owned();
    let second_admin =
        app.user(p.org_id, "second.admin@oak.example", portal::auth::Role::Admin).await;
    let admins = body_json(make(&second_admin, "Admin's script").await).await;
    let admins_id = admins["id"].as_str().unwrap().to_owned();

    let resp = app.delete_as(&p.admin, &format!("/api/client/api-tokens/{owners_id}")).send().await;
    let message =
        expect_json(resp, StatusCode::FORBIDDEN).await["message"].as_str().unwrap().to_owned();
    assert!(message.contains("owner"), "{message}");
    let owners_token = owners["token"].as_str().unwrap();
    with_token(&app, Method::GET, "/api/client/auth/me", owners_token, json!(null))
        .await
        .assert_status_is_ok();

    app.delete_as(&p.admin, &format!("/api/client/api-tokens/{admins_id}"))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.delete_as(&p.owner, &format!("/api/client/api-tokens/{owners_id}"))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);

    // The settings page offers Revoke only where it would work.
    let page = body_text(app.get_as(&p.admin, portal::paths::SETTINGS).send().await).await;
    assert!(page.contains("Read only"), "{page}");
    let owners_again = body_json(make(&p.owner, "Owner's second").await).await;
    let page = body_text(app.get_as(&p.admin, portal::paths::SETTINGS).send().await).await;
    let id = owners_again["id"].as_str().unwrap();
    assert!(!page.contains(&format!("/client/settings/api-tokens/{id}/revoke")), "{page}");
    assert!(page.contains("The owner can revoke it"), "{page}");
    let page = body_text(app.get_as(&p.owner, portal::paths::SETTINGS).send().await).await;
    assert!(page.contains(&format!("/client/settings/api-tokens/{id}/revoke")), "{page}");
}

#[tokio::test]
async fn the_settings_form_makes_read_tokens_unless_write_is_chosen() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    for (form, expected) in [("name=First", "read"), ("name=Second&scope=write", "write")] {
        let resp = app
            .post_as(&p.admin, portal::paths::SETTINGS_API_TOKENS)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("hx-request", "true")
            .body(form.to_owned())
            .send()
            .await;
        resp.assert_status_is_ok();
        let db = app.db_client().await;
        let scope: String = db
            .query_one("SELECT scope FROM api_tokens ORDER BY created_at DESC LIMIT 1", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(scope, expected, "{form}");
    }
    let resp = app
        .post_as(&p.admin, portal::paths::SETTINGS_API_TOKENS)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("hx-request", "true")
        .body("name=Third&scope=everything")
        .send()
        .await;
    let text = body_text(resp).await;
    assert!(text.contains("expected read or write"), "{text}");
}
