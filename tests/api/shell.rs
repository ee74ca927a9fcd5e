use poem::http::StatusCode;
use poem::{EndpointExt, Route, get, handler};
use portal::routes::shell::CSP;

use crate::helpers::{Expect, spawn_app};

const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

fn assert_security_headers(resp: &poem::test::TestResponse, what: &str) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            resp.0.headers().get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name} on {what}"
        );
    }
    let csp =
        resp.0.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "CSP on {what}: {csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "CSP on {what}: {csp}");
    assert!(resp.0.headers().contains_key("referrer-policy"), "referrer-policy on {what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        portal::paths::LOGIN,
        "/healthz",
        "/api/status",
        portal::paths::OPENAPI_JSON,
        "/nope",
        "/api/nope",
        "/assets/app.css",
    ] {
        let resp = app.client.get(path).send().await;
        assert_security_headers(&resp, path);
    }
    let resp = app.client.post("/api/status").send().await;
    assert_security_headers(&resp, "405");
}

#[tokio::test]
async fn pages_get_the_strict_policy_without_inline_script() {
    let app = spawn_app().await;
    let resp = app.client.get(portal::paths::LOGIN).send().await;
    resp.assert_header("content-security-policy", CSP);
    assert!(CSP.contains("script-src 'self';"));
}

#[tokio::test]
async fn sign_in_pages_send_no_referrer_and_others_same_origin() {
    let app = spawn_app().await;
    app.client
        .get(portal::paths::LOGIN)
        .send()
        .await
        .assert_header("referrer-policy", "no-referrer");
    app.client.get("/api/status").send().await.assert_header("referrer-policy", "same-origin");
}

#[tokio::test]
async fn an_unknown_page_is_an_html_404_and_an_unknown_api_path_is_json() {
    let app = spawn_app().await;
    let page = app.client.get("/client/no-such-page").send().await;
    page.assert_status(StatusCode::NOT_FOUND);
    page.assert_content_type("text/html; charset=utf-8");
    let html = page.0.into_body().into_string().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains("href=\"/client/login\""), "offers a way back: {html}");

    let api = app.client.get("/api/no-such-thing").send().await;
    api.assert_status(StatusCode::NOT_FOUND);
    api.assert_content_type("application/json; charset=utf-8");
    let body = api.json().await;
    body.value().object().get("error").assert_string("not_found");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_the_allowed_ones() {
    let app = spawn_app().await;
    let resp = app.client.delete("/api/status").send().await;
    resp.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    resp.assert_header("allow", "GET, HEAD");
    let body = resp.json().await;
    body.value().object().get("error").assert_string("method_not_allowed");
}

#[handler]
fn boom() -> &'static str {
    panic!("secret internal detail 1234")
}

/// The real shell around the real routes plus one that panics.
async fn app_with_panicking_route()
-> (poem::test::TestClient<impl poem::Endpoint>, crate::helpers::TestApp) {
    let app = spawn_app().await;
    let routes = Route::new()
        .at("/boom", get(boom))
        .at("/api/boom", get(boom))
        .nest("/", portal::routes::routes());
    let ep = portal::routes::finish(routes, app.state.clone()).map_to_response();
    (poem::test::TestClient::new(ep), app)
}

#[tokio::test]
async fn a_panic_renders_the_500_page_without_internals() {
    let (client, _app) = app_with_panicking_route().await;
    let resp = client.get("/boom").send().await;
    resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    assert_security_headers(&resp, "500 page");
    let html = resp.0.into_body().into_string().await.unwrap();
    assert!(html.contains("Something went wrong"), "{html}");
    assert!(!html.contains("secret internal detail"), "{html}");

    let api = client.get("/api/boom").send().await;
    api.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    let text = api.0.into_body().into_string().await.unwrap();
    assert!(text.contains("\"error\":\"internal\""), "{text}");
    assert!(!text.contains("secret internal detail"), "{text}");
}

#[tokio::test]
async fn htmx_requests_get_an_error_fragment_and_a_message_header() {
    let (client, _app) = app_with_panicking_route().await;
    let resp = client.get("/boom").header("HX-Request", "true").send().await;
    resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.0.headers().contains_key("x-portal-message"));
    let html = resp.0.into_body().into_string().await.unwrap();
    assert!(html.starts_with("<div class=\"alert alert-error\""), "a fragment, not a page: {html}");
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_any_handler_runs() {
    let app = spawn_app().await;
    let big = "x".repeat(portal::routes::shell::MAX_BODY + 1);
    let resp = app
        .client
        .post("/api/client/auth/login")
        .content_type("application/json")
        .body(big.clone())
        .send()
        .await;
    resp.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    let resp = app
        .client
        .post(portal::paths::LOGIN_PASSWORD)
        .content_type("application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await;
    resp.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    // Chunked (no Content-Length) is capped too.
    let stream =
        futures_util::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024])));
    let resp = app
        .client
        .post("/api/client/auth/request-magic-link")
        .content_type("application/json")
        .header("transfer-encoding", "chunked")
        .body(poem::Body::from_bytes_stream(stream))
        .send()
        .await;
    let status = resp.0.status();
    let body = resp.0.into_body().into_string().await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

/// Error pages keep the signed-in person's header: their name, the
/// navigation of their role and Sign out, and a way back to their
/// dashboard; a visitor's say "Sign in".
#[tokio::test]
async fn error_pages_keep_the_signed_in_header() {
    let app = spawn_app().await;
    let p = app.practice("Lakeside Pediatrics").await;
    for (user, path, status) in [
        (&p.owner, "/client/no-such-page", StatusCode::NOT_FOUND),
        (&p.viewer, portal::paths::USERS, StatusCode::FORBIDDEN),
        (&p.admin, portal::paths::TRANSFER, StatusCode::FORBIDDEN),
    ] {
        let page = app.get_as(user, path).expect_text(status).await;
        assert!(page.contains("id=\"main\""), "{path}");
        assert!(page.contains("<nav class=\"nav\" aria-label=\"Main\">"), "{path}: the navigation");
        assert!(page.contains(">Sign out</button>"), "{path}: Sign out");
        assert!(!page.contains(">Sign in</a>"), "{path}: not the visitor's header");
        assert!(page.contains("Go to your dashboard"), "{path}");
        assert!(page.contains("name=\"csrf-token\""), "{path}: htmx can still sign out");
    }
    let visitor = app.client.get("/client/no-such-page").send().await;
    visitor.assert_status(StatusCode::NOT_FOUND);
    let page = visitor.0.into_body().into_string().await.unwrap();
    assert!(page.contains(">Sign in</a>") && !page.contains(">Sign out<"), "{page}");
    assert!(page.contains("Go to the portal"));
}

/// The sign-in page says why someone is there: after Sign out, and when
/// the session they had has ended; a first visit says nothing, and an
/// unknown reason in the address is not echoed.
#[tokio::test]
async fn the_sign_in_page_says_signed_out_or_expired() {
    let app = spawn_app().await;
    let p = app.practice("Lakeside Pediatrics").await;
    let resp = app
        .client
        .post(portal::paths::LOGOUT)
        .header("cookie", &p.owner.cookie)
        .form(&[("csrf_token", p.owner.csrf.as_str())])
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    let to = resp.0.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let page = app.client.get(&to).send().await.0.into_body().into_string().await.unwrap();
    assert!(page.contains("You have been signed out."), "{page}");

    // A session idle past the timeout: the page asked for sends the
    // browser to sign in, saying why, and back after.
    app.idle_since(p.viewer.session_id, "9 hours").await;
    let resp = app.get_as(&p.viewer, portal::paths::EVIDENCE).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    let to = resp.0.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert_eq!(to, "/client/login?next=%2Fclient%2Fevidence&reason=expired");
    let page = app.client.get(&to).send().await.0.into_body().into_string().await.unwrap();
    assert!(page.contains("Your session expired"), "{page}");
    assert!(page.contains("name=\"next\" value=\"/client/evidence\""), "and back after");

    // No session at all: no reason given.
    let resp = app.client.get(portal::paths::EVIDENCE).send().await;
    let to = resp.0.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert_eq!(to, "/client/login?next=%2Fclient%2Fevidence");
    for path in [portal::paths::LOGIN, "/client/login?reason=%3Cb%3Ehello"] {
        let page = app.client.get(path).send().await.0.into_body().into_string().await.unwrap();
        assert!(!page.contains("id=\"login-reason\"") && !page.contains("hello"), "{path}");
    }
}
