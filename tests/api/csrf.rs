//! Cross-site request forgery: cookie-authenticated unsafe requests need a
//! same-origin browser context and the session's CSRF token.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{Expect, Request, TestApp, TestUser, spawn_app, spawn_app_with};

/// A cookie-authenticated unsafe request; tests add the CSRF-related headers.
fn revoke_others<'a>(app: &'a TestApp, user: &TestUser) -> Request<'a> {
    app.client.post("/api/client/sessions/revoke-others").header("cookie", &user.cookie)
}

#[tokio::test]
async fn a_cross_site_request_is_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (code, body) = revoke_others(&app, &p.owner)
        .header("x-csrf-token", &p.owner.csrf)
        .header("sec-fetch-site", "cross-site")
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(body.contains("another website"), "{body}");
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (code, body) = revoke_others(&app, &p.owner)
        .header("sec-fetch-site", "same-origin")
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(body.contains("missing CSRF token"), "{body}");
    let (code, _) = revoke_others(&app, &p.owner)
        .header("x-csrf-token", &p.admin.csrf)
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::FORBIDDEN, "another session's token");
}

#[tokio::test]
async fn same_origin_with_the_token_is_accepted() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (code, body) = revoke_others(&app, &p.owner)
        .header("x-csrf-token", &p.owner.csrf)
        .header("sec-fetch-site", "same-origin")
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::OK, "{body}");
    // Without Sec-Fetch-Site, a matching Origin is accepted and another refused.
    let base = app.state.config().base_url.clone();
    let (code, _) = revoke_others(&app, &p.owner)
        .header("x-csrf-token", &p.owner.csrf)
        .header("origin", &base)
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::OK);
    let (code, body) = revoke_others(&app, &p.owner)
        .header("x-csrf-token", &p.owner.csrf)
        .header("origin", "https://evil.example")
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(body.contains("evil.example"), "{body}");
}

#[tokio::test]
async fn same_site_is_refused_unless_configured() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (code, _) = revoke_others(&app, &p.owner)
        .header("x-csrf-token", &p.owner.csrf)
        .header("sec-fetch-site", "same-site")
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::FORBIDDEN);

    let app = spawn_app_with(|c| c.csrf_allow_same_site = true).await;
    let p = app.practice("Oak Clinic").await;
    let (code, _) = revoke_others(&app, &p.owner)
        .header("x-csrf-token", &p.owner.csrf)
        .header("sec-fetch-site", "same-site")
        .reply()
        .await
        .status_and_text();
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn sign_in_endpoints_refuse_cross_site_posts_but_accept_plain_clients() {
    let app = spawn_app().await;
    for path in [
        "/api/client/auth/request-magic-link",
        "/api/client/auth/validate-magic-link",
        "/api/client/auth/login",
    ] {
        let body = json!({ "email": "a@b.example", "password": "whatever password", "token": "x" });
        let resp = app
            .client
            .post(path)
            .header("sec-fetch-site", "cross-site")
            .body_json(&body)
            .send()
            .await;
        resp.assert_status(StatusCode::FORBIDDEN);
        let resp = app
            .client
            .post(path)
            .header("origin", "https://evil.example")
            .body_json(&body)
            .send()
            .await;
        resp.assert_status(StatusCode::FORBIDDEN);
    }
    app.client
        .post("/api/client/auth/request-magic-link")
        .body_json(&json!({ "email": "a@b.example" }))
        .send()
        .await
        .assert_status_is_ok();
}

#[tokio::test]
async fn get_requests_need_no_token_and_change_nothing() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    app.get_as(&p.owner, "/api/client/sessions")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .assert_status_is_ok();
}

/// Downloads and exports write audit rows, so another site must not be
/// able to start them with a link or an image: a browser's cross-site (or
/// same-site) GET is refused and leaves no row; the portal's own link works.
#[tokio::test]
async fn downloads_refuse_requests_another_site_started() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = crate::appliances::create_site(&app, p.org_id, "Main").await;
    crate::appliances::ingest(
        &app,
        &site,
        "CS-1",
        chrono::Utc::now(),
        &[("ntp_sync", "pass", "SRV", None)],
    )
    .await;
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let downloads = [
        "/api/client/evidence/CS-1/download".to_owned(),
        format!("/api/client/reports/monthly/{month}"),
        format!("/client/reports/{month}/pdf"),
        "/api/client/audit-log?format=csv".to_owned(),
    ];
    for path in &downloads {
        let before = app.rows_in("client_audit_log").await;
        for fetch_site in ["cross-site", "same-site"] {
            let (code, body) = app
                .get_as(&p.owner, path)
                .header("sec-fetch-site", fetch_site)
                .reply()
                .await
                .status_and_text();
            assert_eq!(code, StatusCode::FORBIDDEN, "{path} {fetch_site}");
            assert!(body.contains("portal's own pages"), "{path}: {body}");
        }
        assert_eq!(app.rows_in("client_audit_log").await, before, "{path}: nothing recorded");
        app.get_as(&p.owner, path)
            .header("sec-fetch-site", "same-origin")
            .expect_status(StatusCode::OK)
            .await;
    }
}
