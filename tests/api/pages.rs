use poem::http::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_root_sends_people_to_the_dashboard_and_visitors_on_to_sign_in() {
    let app = spawn_app().await;
    let resp = app.client.get("/").send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", "/client/dashboard");
    let resp = app.client.get("/client/dashboard").send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", "/client/login?next=%2Fclient%2Fdashboard");
}

#[tokio::test]
async fn the_login_page_offers_a_magic_link_and_a_password_form() {
    let app = spawn_app().await;
    let resp = app.client.get("/client/login").send().await;
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
        .get("/client/login")
        .query("next", &"/client/evidence")
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
        .get("/client/login")
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
