use poem::http::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_root_sends_people_to_the_dashboard_and_visitors_on_to_sign_in() {
    let app = spawn_app().await;
    let resp = app.client.get("/").send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::DASHBOARD);
    let resp = app.client.get(portal::paths::DASHBOARD).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", "/client/login?next=%2Fclient%2Fdashboard");
}

#[tokio::test]
async fn the_login_page_offers_a_magic_link_and_a_password_form() {
    let app = spawn_app().await;
    let resp = app.client.get(portal::paths::LOGIN).send().await;
    resp.assert_status_is_ok();
    resp.assert_header("cache-control", "no-store");
    let html = resp.0.into_body().into_string().await.unwrap();
    assert!(html.contains("<title>Sign in · OsirisCare</title>"), "{html}");
    assert!(html.contains("name=\"email\""));
    assert!(html.contains("type=\"password\""));
    assert!(html.contains("hx-post=\"/client/login/magic-link\""));
    // No inline script: every <script> has a src.
    assert_eq!(html.matches("<script").count(), html.matches("<script src=").count(), "{html}");
    assert!(!html.contains(" onclick=") && !html.contains(" style="), "{html}");
}

#[tokio::test]
async fn the_login_page_keeps_only_local_return_paths() {
    let app = spawn_app().await;
    let html = app
        .client
        .get(portal::paths::LOGIN)
        .query("next", &portal::paths::EVIDENCE)
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    assert!(html.contains("name=\"next\" value=\"/client/evidence\""), "{html}");
    let html = app
        .client
        .get(portal::paths::LOGIN)
        .query("next", &"https://evil.example/")
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    assert!(!html.contains("evil.example"), "{html}");
}

/// Every signed-in page, its htmx fragments and its error pages are never
/// stored (Back after sign-out on a shared clinic PC must not show practice
/// data) and vary on `HX-Request`, from the shell for all of them.
#[tokio::test]
async fn every_signed_in_page_is_never_stored_and_varies_on_htmx() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let missing = uuid::Uuid::new_v4();
    let pages = [
        portal::paths::DASHBOARD.to_owned(),
        portal::paths::EVIDENCE.to_owned(),
        portal::paths::NOTIFICATIONS.to_owned(),
        portal::paths::NOTIFICATIONS_BADGE.to_owned(),
        portal::paths::REPORTS.to_owned(),
        portal::paths::USERS.to_owned(),
        portal::paths::TRANSFER.to_owned(),
        portal::paths::AUDIT.to_owned(),
        portal::paths::SETTINGS.to_owned(),
        portal::paths::site(missing),
        portal::paths::evidence_bundle("no-such-bundle"),
        portal::paths::AUDIT_PACKS.to_owned(),
        portal::paths::audit_pack(missing),
        portal::paths::log_verification(missing),
        "/client/no-such-page".to_owned(),
    ];
    for path in &pages {
        for htmx in [false, true] {
            let mut req = app.get_as(&p.owner, path);
            if htmx {
                req = req.header("hx-request", "true");
            }
            let resp = req.send().await;
            let headers = resp.0.headers();
            assert_eq!(
                headers.get("cache-control").map(|v| v.to_str().unwrap()),
                Some("no-store"),
                "{path} (htmx: {htmx}): {:?}",
                resp.0.status()
            );
            let vary: Vec<_> =
                headers.get_all("vary").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
            assert!(vary.iter().any(|v| v.contains("HX-Request")), "{path}: {vary:?}");
        }
    }
    // Assets stay cacheable.
    let css = app.client.get(portal::assets::url("app.css")).send().await;
    assert_ne!(css.0.headers().get("cache-control").unwrap(), "no-store");
}
