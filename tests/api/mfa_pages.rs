//! The MFA pages without a browser: the Security page's forms, the second
//! sign-in step at /client/login/mfa, and Reset MFA on the Users page.
//! Chromium runs the same flows with a passkey in browser_mfa.rs.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{Expect, Reply, TestApp, TestUser, spawn_app};

fn code_now(secret: &[u8], offset_steps: i64) -> String {
    portal::auth::totp::code_at(
        secret,
        chrono::Utc::now().timestamp() + offset_steps * portal::auth::totp::STEP,
    )
}

/// The secret the page shows (grouped in fours), as bytes.
fn secret_on(page: &str) -> Vec<u8> {
    let at = page.find("id=\"totp-secret\">").expect("the secret on the page") + 17;
    let grouped = &page[at..at + page[at..].find('<').unwrap()];
    crate::mfa::base32_decode(grouped)
}

async fn form(app: &TestApp, user: &TestUser, path: &str, pairs: &[(&str, &str)]) -> Reply {
    app.post_plain_form_as(user, path, pairs).reply().await
}

/// Sets up the app through the page; its secret and the page after.
async fn enrol_on_page(app: &TestApp, user: &TestUser) -> (Vec<u8>, String) {
    let started = form(app, user, "/client/security/totp", &[]).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text());
    let page = started.text();
    assert!(page.contains("<svg"), "a QR code");
    assert!(page.contains("otpauth") || page.contains("QR code"), "{page}");
    let secret = secret_on(&page);
    assert_eq!(secret.len(), 20);
    let done =
        form(app, user, "/client/security/totp/confirm", &[("code", &code_now(&secret, 0))]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    (secret, done.text())
}

#[tokio::test]
async fn the_security_page_sets_up_an_app_and_shows_the_recovery_codes_once() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let page = app.get_as(&p.viewer, "/client/security").expect_text(StatusCode::OK).await;
    assert!(page.contains("Set up an authenticator app"), "{page}");
    assert!(!page.contains("Practice policy"), "only the owner sees the policy");
    assert!(!page.contains("confirm-section"), "a fresh sign-in needs no confirmation");

    let wrong = form(&app, &p.viewer, "/client/security/totp", &[]).await;
    assert_eq!(wrong.status, StatusCode::OK);
    let wrong = form(&app, &p.viewer, "/client/security/totp/confirm", &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().contains("does not match"), "{}", wrong.text());
    assert!(wrong.text().contains("id=\"totp-secret\""), "the QR code stays for another try");

    let (_, after) = enrol_on_page(&app, &p.viewer).await;
    assert!(after.contains("Your authenticator app is on"), "{after}");
    let list = &after[after.find("recovery-codes\">").expect("the codes")..];
    let list = &list[..list.find("</ol>").unwrap()];
    assert_eq!(list.matches("<li>").count(), 10, "{list}");
    assert!(after.contains("shown only this once"));
    let again = app.get_as(&p.viewer, "/client/security").expect_text(StatusCode::OK).await;
    assert!(!again.contains("new-recovery-codes"), "the codes are not shown again");
    assert!(again.contains("10</strong> of 10 unused"), "{again}");
    assert!(again.contains("Remove authenticator app"));

    // The owner sees the policy, and cannot require MFA without a factor.
    let owner_page = app.get_as(&p.owner, "/client/security").expect_text(StatusCode::OK).await;
    assert!(owner_page.contains("Practice policy"));
    let refused = form(
        &app,
        &p.owner,
        "/client/security/policy",
        &[("required", "true"), ("grace_days", "7")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("for yourself first"), "{}", refused.text());
    let bad = form(&app, &p.owner, "/client/security/policy", &[("grace_days", "soon")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A viewer cannot post the policy at all.
    let viewer = form(&app, &p.viewer, "/client/security/policy", &[("grace_days", "7")]).await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    // The page's posts need the CSRF token.
    let forged = app
        .client
        .post("/client/security/totp")
        .header("cookie", &p.admin.cookie)
        .header("sec-fetch-site", "same-origin")
        .reply()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_old_session_confirms_it_is_its_user_before_changing_a_factor() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (secret, _) = enrol_on_page(&app, &p.viewer).await;
    let db = app.db_client().await;
    db.execute(
        "UPDATE client_sessions SET authenticated_at = now() - interval '20 minutes' WHERE id = $1",
        &[&p.viewer.session_id],
    )
    .await
    .unwrap();
    let page = app.get_as(&p.viewer, "/client/security").expect_text(StatusCode::OK).await;
    assert!(page.contains("id=\"confirm-section\""), "{page}");
    let refused = form(&app, &p.viewer, "/client/security/recovery-codes", &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("within the last 10 minutes"), "{}", refused.text());

    let wrong = form(&app, &p.viewer, "/client/security/confirm", &[("code", "111111")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "a wrong code is a form error");
    assert!(wrong.text().contains("id=\"confirm-section\""));
    let ok =
        form(&app, &p.viewer, "/client/security/confirm", &[("code", &code_now(&secret, 1))]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert!(ok.text().contains("Confirmed"), "{}", ok.text());
    assert!(!ok.text().contains("id=\"confirm-section\""));
    let codes = form(&app, &p.viewer, "/client/security/recovery-codes", &[]).await;
    assert_eq!(codes.status, StatusCode::OK);
    assert!(codes.text().contains("New recovery codes made"));
}

#[tokio::test]
async fn signing_in_on_the_pages_asks_for_the_code_before_any_session() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (secret, _) = enrol_on_page(&app, &p.viewer).await;
    let token = app.magic_token(p.viewer.id).await;
    let first = app
        .client
        .post("/client/verify")
        .header("sec-fetch-site", "same-origin")
        .form(&[("token", token.as_str())])
        .reply()
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text());
    assert_eq!(first.headers["location"], "/client/login/mfa");
    let set: Vec<&str> =
        first.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].starts_with("__Host-osiris_mfa="), "the pending cookie, no session: {set:?}");
    let pending = set[0].split(';').next().unwrap().to_owned();

    let page = app
        .client
        .get("/client/login/mfa")
        .header("cookie", &pending)
        .expect_text(StatusCode::OK)
        .await;
    assert!(page.contains("Code from your authenticator app"), "{page}");
    assert!(!page.contains("Use a passkey"), "no passkey registered");
    let post = |code: String| {
        app.client
            .post("/client/login/mfa")
            .header("cookie", &pending)
            .header("sec-fetch-site", "same-origin")
            .form(&[("code", code)])
    };
    let wrong = post("123 456".into()).reply().await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("id=\"mfa-error\""), "{}", wrong.text());
    let ok = post(code_now(&secret, 1)).reply().await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    assert_eq!(ok.headers["location"], "/client/dashboard");
    let cookies: Vec<&str> =
        ok.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("__Host-osiris_session=")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("__Host-osiris_mfa=;")), "cleared: {cookies:?}");
    // Without a pending step, the page sends you back to sign in.
    let gone = app.client.get("/client/login/mfa").header("cookie", &pending).reply().await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    assert!(gone.text().contains("Sign in again"));
}

#[tokio::test]
async fn an_admin_resets_a_viewers_mfa_from_the_users_page() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    enrol_on_page(&app, &p.viewer).await;
    enrol_on_page(&app, &p.owner).await;
    let page = app.get_as(&p.admin, "/client/users").expect_text(StatusCode::OK).await;
    assert!(page.contains(&format!("/client/users/{}/mfa/reset", p.viewer.id)), "{page}");
    assert!(
        !page.contains(&format!("/client/users/{}/mfa/reset", p.owner.id)),
        "an admin cannot reset the owner"
    );
    let reply =
        app.hx_post_as(&p.admin, &format!("/client/users/{}/mfa/reset", p.viewer.id)).reply().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.text().contains("were removed"), "{}", reply.text());
    let status = app.get_as(&p.viewer, "/api/client/mfa").expect_json(StatusCode::OK).await;
    assert_eq!(status["totp"], json!({ "enabled": false, "pending": false }));
    let refused =
        app.hx_post_as(&p.admin, &format!("/client/users/{}/mfa/reset", p.owner.id)).reply().await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_locked_out_user_lands_on_the_security_page_with_the_reason() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    enrol_on_page(&app, &p.owner).await;
    let on = form(
        &app,
        &p.owner,
        "/client/security/policy",
        &[("required", "true"), ("grace_days", "0")],
    )
    .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text());
    assert!(on.text().contains("Multi-factor sign-in is required"));
    let viewer = app.sign_in(p.viewer.id, &p.viewer.email, p.org_id).await;
    let to = app.get_as(&viewer, "/client/evidence").reply().await;
    assert_eq!(to.status, StatusCode::SEE_OTHER);
    assert_eq!(to.headers["location"], "/client/security");
    let hx = app.hx_get_as(&viewer, "/client/evidence").reply().await;
    assert_eq!(hx.headers["hx-redirect"], "/client/security");
    // The navigation's polling does not pull the user off the page.
    let poll = app
        .hx_get_as(&viewer, "/client/notifications/badge")
        .header("x-portal-background", "1")
        .reply()
        .await;
    assert_eq!(poll.status, StatusCode::NO_CONTENT);
    assert!(poll.headers.get("hx-redirect").is_none());
    let page = app.get_as(&viewer, "/client/security").expect_text(StatusCode::OK).await;
    assert!(page.contains("id=\"mfa-required\""), "{page}");
    assert!(page.contains("this is the only page you can use"), "{page}");
    enrol_on_page(&app, &viewer).await;
    app.get_as(&viewer, "/client/evidence").expect_status(StatusCode::OK).await;
}
