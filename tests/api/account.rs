//! Password, sessions and API tokens through the JSON API.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{body_json, expect_json, spawn_app};

#[tokio::test]
async fn a_password_can_be_set_then_changed_only_with_the_current_one() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let other = app.sign_in(p.owner.id, &p.owner.email, p.org_id).await;

    let put = |body: serde_json::Value| {
        app.client
            .put("/api/client/password")
            .header("cookie", &p.owner.cookie)
            .header("x-csrf-token", &p.owner.csrf)
            .body_json(&body)
    };

    let resp = put(json!({ "password": "too short" })).send().await;
    let message =
        expect_json(resp, StatusCode::BAD_REQUEST).await["message"].as_str().unwrap().to_owned();
    assert!(message.contains("password") && message.contains("minLength(12)"), "{message}");

    let resp = put(json!({ "password": "first long password" })).send().await;
    assert_eq!(expect_json(resp, StatusCode::OK).await["other_sessions_revoked"], 1);
    app.get_as(&other, "/api/client/auth/me").send().await.assert_status(StatusCode::UNAUTHORIZED);
    app.get_as(&p.owner, "/api/client/auth/me").send().await.assert_status_is_ok();

    put(json!({ "password": "second long password" }))
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
    put(json!({ "password": "second long password", "current_password": "wrong one here" }))
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
    put(json!({ "password": "second long password", "current_password": "first long password" }))
        .send()
        .await
        .assert_status_is_ok();

    let login = |pw: &str| {
        app.client
            .post("/api/client/auth/login")
            .body_json(&json!({ "email": p.owner.email, "password": pw }))
    };
    login("first long password").send().await.assert_status(StatusCode::UNAUTHORIZED);
    login("second long password").send().await.assert_status_is_ok();

    let db = app.db_client().await;
    let stored: String = db
        .query_one("SELECT password_hash FROM client_users WHERE id = $1", &[&p.owner.id])
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    let audited: i64 = db
        .query_one("SELECT count(*) FROM client_audit_log WHERE action = 'auth.password_set'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_only_by_their_owner() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let second = app.sign_in(p.owner.id, &p.owner.email, p.org_id).await;
    let third = app.sign_in(p.owner.id, &p.owner.email, p.org_id).await;

    let list = body_json(app.get_as(&p.owner, "/api/client/sessions").send().await).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], p.owner.session_id.to_string());

    // Another user's session id is not found, even in the same practice.
    let resp = app
        .client
        .delete(format!("/api/client/sessions/{}", second.session_id))
        .header("cookie", &p.admin.cookie)
        .header("x-csrf-token", &p.admin.csrf)
        .send()
        .await;
    resp.assert_status(StatusCode::NOT_FOUND);
    app.get_as(&second, "/api/client/auth/me").send().await.assert_status_is_ok();

    let resp = app
        .client
        .delete(format!("/api/client/sessions/{}", second.session_id))
        .header("cookie", &p.owner.cookie)
        .header("x-csrf-token", &p.owner.csrf)
        .send()
        .await;
    resp.assert_status(StatusCode::NO_CONTENT);
    app.get_as(&second, "/api/client/auth/me").send().await.assert_status(StatusCode::UNAUTHORIZED);

    let resp = app.post_as(&p.owner, "/api/client/sessions/revoke-others").send().await;
    assert_eq!(expect_json(resp, StatusCode::OK).await, json!({ "revoked": 1 }));
    app.get_as(&third, "/api/client/auth/me").send().await.assert_status(StatusCode::UNAUTHORIZED);
    app.get_as(&p.owner, "/api/client/auth/me").send().await.assert_status_is_ok();

    let malformed = app
        .client
        .delete("/api/client/sessions/not-a-uuid")
        .header("cookie", &p.owner.cookie)
        .header("x-csrf-token", &p.owner.csrf)
        .send()
        .await;
    malformed.assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_create_api_tokens_that_act_as_them_until_revoked() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;

    let resp = app
        .post_as(&p.viewer, "/api/client/api-tokens")
        .body_json(&json!({ "name": "x" }))
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);

    let resp = app
        .post_as(&p.admin, "/api/client/api-tokens")
        .body_json(&json!({ "name": "Export script", "scope": "write" }))
        .send()
        .await;
    let created = expect_json(resp, StatusCode::CREATED).await;
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ocp_") && token.len() > 40, "{token}");
    assert!(token.starts_with(created["prefix"].as_str().unwrap()));

    let dup = app
        .post_as(&p.admin, "/api/client/api-tokens")
        .body_json(&json!({ "name": "Export script" }))
        .send()
        .await;
    dup.assert_status(StatusCode::CONFLICT);
    let blank = app
        .post_as(&p.admin, "/api/client/api-tokens")
        .body_json(&json!({ "name": "  " }))
        .send()
        .await;
    blank.assert_status(StatusCode::BAD_REQUEST);

    let me = app
        .client
        .get("/api/client/auth/me")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    let me = expect_json(me, StatusCode::OK).await;
    assert_eq!(me["email"], p.admin.email);
    assert_eq!(me["csrf_token"], serde_json::Value::Null);

    // The owner sees the practice's tokens, without the secret.
    let list = app.get_as(&p.owner, "/api/client/api-tokens").send().await;
    let text = crate::helpers::body_text(list).await;
    assert!(text.contains("Export script") && !text.contains(&token), "{text}");

    // Even a write token cannot mint more tokens (or change passwords or
    // sessions): a leaked script token must not become the whole account.
    let resp = app
        .client
        .post("/api/client/api-tokens")
        .header("authorization", format!("Bearer {token}"))
        .body_json(&json!({ "name": "Made by bearer" }))
        .send()
        .await;
    assert!(
        expect_json(resp, StatusCode::FORBIDDEN).await["message"]
            .as_str()
            .unwrap()
            .contains("sign in with a browser")
    );
    for (method, path, body) in [
        (
            poem::http::Method::PUT,
            "/api/client/password",
            json!({ "password": "a token-chosen password" }),
        ),
        (poem::http::Method::POST, "/api/client/sessions/revoke-others", json!({})),
    ] {
        let resp = app
            .client
            .request(method, path)
            .header("authorization", format!("Bearer {token}"))
            .body_json(&body)
            .send()
            .await;
        resp.assert_status(StatusCode::FORBIDDEN);
    }
    let db = app.db_client().await;
    let hash: Option<String> = db
        .query_one("SELECT password_hash FROM client_users WHERE id = $1", &[&p.admin.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(hash, None, "the token set no password");
    drop(db);
    // Reads and revoking a token need no CSRF token with a bearer.
    let list = app
        .client
        .get("/api/client/api-tokens")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    list.assert_status_is_ok();

    let id = created["id"].as_str().unwrap();
    let resp = app
        .client
        .delete(format!("/api/client/api-tokens/{id}"))
        .header("cookie", &p.owner.cookie)
        .header("x-csrf-token", &p.owner.csrf)
        .send()
        .await;
    resp.assert_status(StatusCode::NO_CONTENT);
    app.client
        .get("/api/client/auth/me")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);

    let db = app.db_client().await;
    let actions: Vec<String> = db
        .query(
            "SELECT action FROM client_audit_log WHERE action LIKE 'api_token.%' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actions, ["api_token.created", "api_token.revoked"]);
}

#[tokio::test]
async fn a_removed_users_tokens_stop_working() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let token = app.bearer(&p.admin).await;
    app.client
        .get("/api/client/auth/me")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .assert_status_is_ok();
    app.deactivate(p.admin.id).await;
    app.client
        .get("/api/client/auth/me")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_practices_token_id_is_not_found() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let resp = app
        .post_as(&a.admin, "/api/client/api-tokens")
        .body_json(&json!({ "name": "A's token" }))
        .send()
        .await;
    let id = body_json(resp).await["id"].as_str().unwrap().to_owned();
    let resp = app
        .client
        .delete(format!("/api/client/api-tokens/{id}"))
        .header("cookie", &b.owner.cookie)
        .header("x-csrf-token", &b.owner.csrf)
        .send()
        .await;
    resp.assert_status(StatusCode::NOT_FOUND);
    let list = body_json(app.get_as(&b.owner, "/api/client/api-tokens").send().await).await;
    assert_eq!(list["tokens"], json!([]));
}
