//! Multi-factor sign-in in headless Chromium, as the demo tells it: a
//! newcomer turns on an authenticator app and a passkey (WebDriver's
//! virtual authenticator), signs out, and signs in with each; then the
//! owner requires MFA and a viewer without it is sent to set one up.
//! Screenshots (desktop and 390 px) land in target/screenshots/.

use fantoccini::{Client, Locator};

use crate::browser::{
    add_virtual_authenticator, axe_violations, browser, fit_page, fit_page_at, screenshot,
    virtual_credentials,
};
use crate::helpers::{TestApp, TestUser, spawn_app, spawn_server_on_localhost};
use crate::mfa::base32_decode;

/// Signs in through a magic link's page (the link straight from the
/// database: mail has its own browser test).
async fn open_link(client: &Client, app: &TestApp, base: &str, user: &TestUser) {
    let token = app.magic_token(user.id).await;
    client.goto(&format!("{base}/client/verify?token={token}")).await.unwrap();
    click_to_next_page(client, "continue").await;
}

/// Clicks the element with `id` and waits for the page it leads to (a
/// marker set on this page is gone from the next one).
async fn click_to_next_page(client: &Client, id: &str) {
    client.execute("window.__before = true;", vec![]).await.unwrap();
    client.wait().for_element(Locator::Id(id)).await.unwrap().click().await.unwrap();
    crate::helpers::wait_for(
        || async {
            client
                .execute(
                    "return window.__before !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == serde_json::json!(true))
        },
        &format!("the page after pressing #{id}"),
    )
    .await;
}

async fn sign_out(client: &Client) {
    client.execute("window.__before = true;", vec![]).await.unwrap();
    client.find(Locator::Css(".nav-right form button")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("magic-email")).await.expect("back on the sign-in page");
}

async fn text_of(client: &Client, id: &str) -> String {
    let element = client.wait().for_element(Locator::Id(id)).await.unwrap();
    element.text().await.unwrap_or_else(|e| panic!("#{id}: {e}"))
}

async fn path_of(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

/// Both widths of the page now open, after axe-core finds nothing wrong.
async fn shots(client: &Client, name: &str) {
    let violations = axe_violations(client).await;
    assert!(violations.is_empty(), "{name}: axe-core found {violations:#?}");
    fit_page(client).await;
    screenshot(client, name).await;
    fit_page_at(client, 390).await;
    screenshot(client, &format!("{name}-390")).await;
    client.set_window_size(1280, 900).await.unwrap();
}

fn next_code(secret: &[u8]) -> String {
    // The next step's code: within the ±1 window and never the step the
    // enrolment used.
    portal::auth::totp::code_at(secret, chrono::Utc::now().timestamp() + 30)
}

#[tokio::test]
async fn a_newcomer_turns_on_an_app_and_a_passkey_and_signs_in_with_each_in_chromium() {
    let Some((_driver, client)) = browser().await else { return };
    let app = spawn_app().await;
    let p = app.practice_with("Riverside Family Medicine", Some("Dr. Maria Santos")).await;
    let newcomer = app
        .user_named(
            p.org_id,
            "jamie@riverside.example",
            Some("Jamie Chen"),
            portal::auth::Role::Viewer,
        )
        .await;
    let server = spawn_server_on_localhost(&app).await;
    let base = server.base_url.clone();
    assert!(base.starts_with("http://localhost:"), "{base}");

    open_link(&client, &app, &base, &newcomer).await;
    client.wait().for_element(Locator::Id("user-name")).await.expect("the dashboard");
    client.goto(&format!("{base}/client/settings")).await.unwrap();
    click_to_next_page(&client, "security-open").await;
    client.wait().for_element(Locator::Id("totp-start")).await.unwrap();
    assert_eq!(path_of(&client).await, "/client/security");
    shots(&client, "security-1-start").await;

    // The authenticator app: QR code and secret, then its first code.
    click_to_next_page(&client, "totp-start").await;
    let secret = base32_decode(&text_of(&client, "totp-secret").await);
    assert_eq!(secret.len(), 20);
    let qr = client.find(Locator::Css(".qr svg")).await.expect("an inline SVG QR code");
    let size = qr.rectangle().await.unwrap();
    assert!(size.2 >= 150.0, "a QR code big enough to scan: {size:?}");
    shots(&client, "security-2-qr").await;
    let code = portal::auth::totp::code_at(&secret, chrono::Utc::now().timestamp());
    client.find(Locator::Id("totp-code")).await.unwrap().send_keys(&code).await.unwrap();
    click_to_next_page(&client, "totp-confirm").await;
    let codes = text_of(&client, "new-recovery-codes").await;
    assert!(codes.contains("shown only this once"), "{codes}");
    let listed = client.find_all(Locator::Css(".recovery-codes li")).await.unwrap();
    assert_eq!(listed.len(), 10);
    let recovery = listed[0].text().await.unwrap();
    shots(&client, "security-3-recovery-codes").await;

    // A passkey, made by the virtual authenticator through webauthn.js.
    let authenticator = add_virtual_authenticator(&client).await;
    client.find(Locator::Id("passkey-name")).await.unwrap().send_keys("This laptop").await.unwrap();
    click_to_next_page(&client, "passkey-add").await;
    let message = text_of(&client, "security-message").await;
    assert!(message.contains("Passkey \"This laptop\" added"), "{message}");
    let held = virtual_credentials(&client, &authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["rpId"], "localhost");
    let table = text_of(&client, "passkeys-section").await;
    assert!(table.contains("This laptop"), "{table}");
    shots(&client, "security-4-passkey").await;

    // Signed out, the link alone is not enough: the passkey finishes it.
    sign_out(&client).await;
    open_link(&client, &app, &base, &newcomer).await;
    client.wait().for_element(Locator::Id("use-passkey")).await.unwrap();
    assert_eq!(path_of(&client).await, "/client/login/mfa");
    let cookies = client.get_all_cookies().await.unwrap();
    assert!(
        !cookies.iter().any(|c| c.name() == "__Host-osiris_session"),
        "no session before the second factor"
    );
    shots(&client, "login-mfa").await;
    click_to_next_page(&client, "use-passkey").await;
    let name = text_of(&client, "user-name").await;
    assert_eq!(name, "Jamie Chen");
    assert_eq!(path_of(&client).await, "/client/dashboard");
    let used = virtual_credentials(&client, &authenticator).await;
    assert!(used[0]["signCount"].as_u64().unwrap_or(0) >= 1, "the passkey signed: {used:?}");

    // And with a code from the app.
    sign_out(&client).await;
    open_link(&client, &app, &base, &newcomer).await;
    client
        .wait()
        .for_element(Locator::Id("mfa-code"))
        .await
        .unwrap()
        .send_keys("000000")
        .await
        .unwrap();
    click_to_next_page(&client, "verify-code").await;
    let error = text_of(&client, "mfa-error").await;
    assert!(error.contains("not right"), "{error}");
    let field = client.find(Locator::Id("mfa-code")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&next_code(&secret)).await.unwrap();
    click_to_next_page(&client, "verify-code").await;
    assert_eq!(text_of(&client, "user-name").await, "Jamie Chen");

    // And once with a recovery code, which is then used up.
    sign_out(&client).await;
    open_link(&client, &app, &base, &newcomer).await;
    client
        .wait()
        .for_element(Locator::Id("mfa-code"))
        .await
        .unwrap()
        .send_keys(&recovery)
        .await
        .unwrap();
    click_to_next_page(&client, "verify-code").await;
    assert_eq!(text_of(&client, "user-name").await, "Jamie Chen");
    client.goto(&format!("{base}/client/security")).await.unwrap();
    let left = text_of(&client, "recovery-section").await;
    assert!(left.contains("9 of 10 unused"), "{left}");

    // The owner requires MFA (their own app first); the viewer, who has
    // none, is sent to the Security page at their next sign-in.
    sign_out(&client).await;
    open_link(&client, &app, &base, &p.owner).await;
    client.goto(&format!("{base}/client/security")).await.unwrap();
    click_to_next_page(&client, "totp-start").await;
    let owner_secret = base32_decode(&text_of(&client, "totp-secret").await);
    let code = portal::auth::totp::code_at(&owner_secret, chrono::Utc::now().timestamp());
    client.find(Locator::Id("totp-code")).await.unwrap().send_keys(&code).await.unwrap();
    click_to_next_page(&client, "totp-confirm").await;
    client.wait().for_element(Locator::Id("new-recovery-codes")).await.unwrap();
    let checkbox = client.find(Locator::Css("#policy-section input[name=required]")).await.unwrap();
    checkbox.click().await.unwrap();
    let grace = client.find(Locator::Id("grace-days")).await.unwrap();
    grace.clear().await.unwrap();
    grace.send_keys("0").await.unwrap();
    click_to_next_page(&client, "policy-save").await;
    let saved = text_of(&client, "security-message").await;
    assert!(saved.contains("Multi-factor sign-in is required"), "{saved}");
    shots(&client, "security-5-owner-policy").await;

    sign_out(&client).await;
    open_link(&client, &app, &base, &p.viewer).await;
    let warning = text_of(&client, "mfa-required").await;
    assert!(warning.contains("requires multi-factor sign-in"), "{warning}");
    assert_eq!(path_of(&client).await, "/client/security", "sent to set up a factor");
    client.goto(&format!("{base}/client/evidence")).await.unwrap();
    client.wait().for_element(Locator::Id("mfa-required")).await.unwrap();
    assert_eq!(path_of(&client).await, "/client/security");
    shots(&client, "security-6-required").await;

    client.close().await.unwrap();
    server.stop().await;
}
