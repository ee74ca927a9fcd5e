use poem::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{repo_path, spawn_app};

#[tokio::test]
async fn the_served_htmx_is_the_vendored_pinned_file() {
    let app = spawn_app().await;
    let resp = app.client.get("/assets/htmx.min.js").send().await;
    resp.assert_status_is_ok();
    resp.assert_content_type("text/javascript; charset=utf-8");
    let bytes = resp.0.into_body().into_vec().await.unwrap();
    let recorded = std::fs::read_to_string(repo_path("assets/htmx.min.js.sha256")).unwrap();
    let recorded_hash = recorded.split_whitespace().next().unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), recorded_hash);
    let vendor = std::fs::read_to_string(repo_path("assets/VENDOR.md")).unwrap();
    assert!(vendor.contains(recorded_hash), "VENDOR.md records the hash");
    assert!(String::from_utf8_lossy(&bytes).contains("version:\"2.0.11\""));
}

#[tokio::test]
async fn versioned_asset_urls_are_cached_for_a_year_and_revalidate_with_etag() {
    let app = spawn_app().await;
    let url = portal::assets::url("app.css");
    assert!(url.starts_with("/assets/app.css?v="), "{url}");

    let resp = app.client.get(&url).send().await;
    resp.assert_status_is_ok();
    resp.assert_header("cache-control", "public, max-age=31536000, immutable");
    let etag = resp.0.headers().get("etag").unwrap().to_str().unwrap().to_owned();

    let plain = app.client.get("/assets/app.css").send().await;
    plain.assert_header("cache-control", "public, max-age=300");

    let again = app.client.get("/assets/app.css").header("If-None-Match", &etag).send().await;
    again.assert_status(StatusCode::NOT_MODIFIED);
    assert!(again.0.into_body().into_vec().await.unwrap().is_empty());
}

#[tokio::test]
async fn pages_link_the_versioned_assets() {
    let app = spawn_app().await;
    let html = app
        .client
        .get(portal::paths::LOGIN)
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    for name in ["app.css", "htmx.min.js", "portal.js"] {
        let url = portal::assets::url(name).replace('&', "&amp;");
        assert!(html.contains(&url), "{name} linked as {url}");
    }
}

#[tokio::test]
async fn an_unknown_asset_is_404() {
    let app = spawn_app().await;
    app.client.get("/assets/nope.js").send().await.assert_status(StatusCode::NOT_FOUND);
    app.client.get("/assets/..%2fCargo.toml").send().await.assert_status(StatusCode::NOT_FOUND);
}

/// The axe-core the browser tests inject is the pinned npm file.
#[test]
fn the_vendored_axe_core_is_the_pinned_file() {
    let bytes = std::fs::read(repo_path("tests/vendor/axe.min.js")).unwrap();
    let recorded = std::fs::read_to_string(repo_path("tests/vendor/axe.min.js.sha256")).unwrap();
    let recorded_hash = recorded.split_whitespace().next().unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), recorded_hash);
    let vendor = std::fs::read_to_string(repo_path("tests/vendor/README.md")).unwrap();
    assert!(vendor.contains(recorded_hash), "README.md records the hash");
    assert!(String::from_utf8_lossy(&bytes[..40]).contains("axe v4.10.3"));
}
