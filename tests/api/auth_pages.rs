//! The sign-in pages, settings and sign-out, as a browser without JS and as htmx.

use poem::http::StatusCode;

use crate::helpers::{body_text, expect_text, spawn_app};

#[tokio::test]
async fn the_magic_link_form_swaps_in_check_your_email_for_htmx() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let resp = app
        .client
        .post(portal::paths::LOGIN_MAGIC_LINK)
        .header("hx-request", "true")
        .form(&[("email", p.owner.email.as_str())])
        .send()
        .await;
    resp.assert_status_is_ok();
    resp.assert_header("vary", "HX-Request");
    let html = body_text(resp).await;
    assert!(html.starts_with("<div class=\"stack\" id=\"check-email\">"), "a fragment: {html}");
    assert!(html.contains("Check your email") && html.contains(&p.owner.email));

    let resp = app
        .client
        .post(portal::paths::LOGIN_MAGIC_LINK)
        .form(&[("email", "ghost@nowhere.example")])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("Check your email"),
        "a full page without htmx"
    );
}

#[tokio::test]
async fn a_malformed_address_is_shown_in_the_form_with_422() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(portal::paths::LOGIN_MAGIC_LINK)
        .header("hx-request", "true")
        .form(&[("email", "nope")])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(html.contains("field-error") && html.contains("valid email"), "{html}");
    assert!(html.contains("value=\"nope\""), "keeps what was typed: {html}");
}

#[tokio::test]
async fn opening_a_link_consumes_nothing_and_continue_signs_in() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let token = app.magic_token(p.owner.id).await;

    for _ in 0..2 {
        let resp = app.client.get(portal::paths::VERIFY).query("token", &token).send().await;
        resp.assert_status_is_ok();
        resp.assert_header("referrer-policy", "no-referrer");
        let html = body_text(resp).await;
        assert!(
            html.contains("action=\"/client/verify\"")
                && html.contains(&format!("value=\"{token}\"")),
            "{html}"
        );
    }

    let resp =
        app.client.post(portal::paths::VERIFY).form(&[("token", token.as_str())]).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::DASHBOARD);
    let cookie = resp
        .0
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let dashboard = app.client.get(portal::paths::DASHBOARD).header("cookie", &cookie).send().await;
    let html = expect_text(dashboard, StatusCode::OK).await;
    assert!(html.contains("Welcome, <span id=\"user-name\">owner</span>"), "{html}");
    assert!(html.contains("<meta name=\"csrf-token\""), "htmx gets the CSRF token from the page");

    let again =
        app.client.post(portal::paths::VERIFY).form(&[("token", token.as_str())]).send().await;
    assert!(expect_text(again, StatusCode::UNAUTHORIZED).await.contains("already used"));
}

#[tokio::test]
async fn the_password_form_signs_in_or_says_why_not() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let db = app.db_client().await;
    portal::db::users::set_password_hash(
        &**db,
        p.admin.id,
        &portal::auth::password::hash("a long enough password").unwrap(),
    )
    .await
    .unwrap();

    let resp = app
        .client
        .post(portal::paths::LOGIN_PASSWORD)
        .form(&[
            ("email", p.admin.email.as_str()),
            ("password", "wrong wrong wrong"),
            ("next", portal::paths::SETTINGS),
        ])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::UNAUTHORIZED).await;
    assert!(html.contains("Invalid email or password.") && html.contains(&p.admin.email), "{html}");

    let resp = app
        .client
        .post(portal::paths::LOGIN_PASSWORD)
        .form(&[
            ("email", p.admin.email.as_str()),
            ("password", "a long enough password"),
            ("next", portal::paths::SETTINGS),
        ])
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::SETTINGS);

    let resp = app
        .client
        .post(portal::paths::LOGIN_PASSWORD)
        .form(&[
            ("email", p.admin.email.as_str()),
            ("password", "a long enough password"),
            ("next", "https://evil.example"),
        ])
        .send()
        .await;
    resp.assert_header("location", portal::paths::DASHBOARD);
}

#[tokio::test]
async fn pages_that_need_a_session_send_visitors_to_sign_in() {
    let app = spawn_app().await;
    let resp = app.client.get(portal::paths::SETTINGS).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", "/client/login?next=%2Fclient%2Fsettings");

    let resp = app
        .client
        .post(portal::paths::SETTINGS_PASSWORD)
        .header("hx-request", "true")
        .form(&[("password", "x")])
        .send()
        .await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
    resp.assert_header("hx-redirect", portal::paths::LOGIN);

    let p = app.practice("Oak Clinic").await;
    let resp = app.get_as(&p.viewer, portal::paths::LOGIN).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::DASHBOARD);
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_ends_the_session() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let resp = app
        .client
        .post(portal::paths::LOGOUT)
        .header("cookie", &p.owner.cookie)
        .form(&[("csrf_token", "wrong")])
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    app.get_as(&p.owner, portal::paths::DASHBOARD).send().await.assert_status_is_ok();

    let resp = app
        .client
        .post(portal::paths::LOGOUT)
        .header("cookie", &p.owner.cookie)
        .form(&[("csrf_token", p.owner.csrf.as_str())])
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", "/client/login?reason=signed-out");
    assert!(resp.0.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    app.get_as(&p.owner, portal::paths::DASHBOARD)
        .send()
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn settings_show_sessions_and_tokens_for_admins_only() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let html = body_text(app.get_as(&p.admin, portal::paths::SETTINGS).send().await).await;
    assert!(html.contains("id=\"sessions-section\"") && html.contains("This session"), "{html}");
    assert!(html.contains("id=\"tokens-section\""));
    let html = body_text(app.get_as(&p.viewer, portal::paths::SETTINGS).send().await).await;
    assert!(html.contains("id=\"password-section\"") && !html.contains("id=\"tokens-section\""));

    let resp = app
        .post_as(&p.viewer, portal::paths::SETTINGS_API_TOKENS)
        .header("hx-request", "true")
        .form(&[("name", "x")])
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    assert!(resp.0.headers().contains_key("x-portal-message"), "htmx shows the reason in a toast");
}

#[tokio::test]
async fn settings_fragments_create_a_token_once_and_set_a_password() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let resp = app
        .post_as(&p.admin, portal::paths::SETTINGS_API_TOKENS)
        .header("hx-request", "true")
        .form(&[("name", "Backup export")])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.starts_with("<section class=\"card\" id=\"tokens-section\">"), "{html}");
    assert!(html.contains("id=\"new-token\"") && html.contains("ocp_"), "{html}");
    let html = body_text(app.get_as(&p.admin, portal::paths::SETTINGS).send().await).await;
    assert!(html.contains("Backup export") && !html.contains("id=\"new-token\""), "shown once");

    let resp = app
        .post_as(&p.viewer, portal::paths::SETTINGS_PASSWORD)
        .header("hx-request", "true")
        .form(&[("password", "short")])
        .send()
        .await;
    assert!(expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await.contains("at least 12"));
    let resp = app
        .post_as(&p.viewer, portal::paths::SETTINGS_PASSWORD)
        .header("hx-request", "true")
        .form(&[("password", "twelve chars or more")])
        .send()
        .await;
    assert!(expect_text(resp, StatusCode::OK).await.contains("Password saved."));
}

#[tokio::test]
async fn sessions_can_be_signed_out_from_settings() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let other = app.sign_in(p.owner.id, &p.owner.email, p.org_id).await;
    let resp = app
        .post_as(&p.owner, &portal::paths::session_revoke(other.session_id))
        .header("hx-request", "true")
        .send()
        .await;
    assert!(expect_text(resp, StatusCode::OK).await.contains("Session signed out."));
    app.get_as(&other, portal::paths::DASHBOARD).send().await.assert_status(StatusCode::SEE_OTHER);
    let resp =
        app.post_as(&p.admin, &portal::paths::session_revoke(p.owner.session_id)).send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_htmx_request_without_a_session_returns_to_the_page_it_came_from() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(portal::paths::SETTINGS_PASSWORD)
        .header("hx-request", "true")
        .header("hx-current-url", "http://127.0.0.1:8080/client/settings?tab=1")
        .form(&[("password", "x")])
        .send()
        .await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
    resp.assert_header("hx-redirect", "/client/login?next=%2Fclient%2Fsettings%3Ftab%3D1");
}
