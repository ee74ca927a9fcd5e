//! Chain verification catches tampering done directly in the database.

use chrono::{Duration, Utc};
use poem::http::StatusCode;
use serde_json::Value;

use crate::appliances::{TestSite, create_site, ingest};
use crate::helpers::{Practice, TestApp, body_json, expect_json, spawn_app};

/// A site with `n` bundles, each reporting the same check (so later ones
/// supersede earlier ones in check_states and any middle row can be deleted).
async fn chain_of(app: &TestApp, p: &Practice, n: i64) -> TestSite {
    let site = create_site(app, p.org_id, "Main Street").await;
    let t0 = Utc::now() - Duration::hours(n + 1);
    for i in 0..n {
        ingest(
            app,
            &site,
            &format!("V-{i}"),
            t0 + Duration::hours(i),
            &[("audit_policy", "pass", "SRV-01", Some("164.312(b)"))],
        )
        .await;
    }
    site
}

async fn verify(app: &TestApp, p: &Practice, site: &TestSite) -> Value {
    let resp =
        app.post_as(&p.viewer, &format!("/api/client/sites/{}/verify-chain", site.id)).send().await;
    expect_json(resp, StatusCode::OK).await
}

/// Raw SQL on purpose: tampering done directly in the database, as an
/// attacker with database access would.
async fn sql(app: &TestApp, statement: &str, site: &TestSite) {
    let db = app.db_client().await;
    db.execute(statement, &[&site.id]).await.unwrap();
}

fn assert_broken(verdict: &Value, position: i64, says: &str) {
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(verdict["first_broken_position"], position, "{verdict}");
    let reason = verdict["reason"].as_str().unwrap();
    assert!(reason.contains(says), "expected {says:?} in {reason:?}");
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = chain_of(&app, &p, 6).await;
    let verdict = verify(&app, &p, &site).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["length"], 6);
    assert_eq!(verdict["first_broken_position"], Value::Null);
}

#[tokio::test]
async fn a_changed_byte_is_found_at_its_position() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = chain_of(&app, &p, 6).await;
    sql(&app, "UPDATE evidence_bundles SET raw = overlay(raw placing '7' from 40 for 1) WHERE site_id = $1 AND chain_position = 3", &site).await;
    assert_broken(&verify(&app, &p, &site).await, 3, "altered");
}

#[tokio::test]
async fn a_changed_stored_hash_is_found() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = chain_of(&app, &p, 6).await;
    sql(&app, "UPDATE evidence_bundles SET chain_hash = sha256('forged') WHERE site_id = $1 AND chain_position = 2", &site).await;
    let verdict = verify(&app, &p, &site).await;
    assert_eq!(verdict["first_broken_position"], 2, "{verdict}");
}

#[tokio::test]
async fn a_deleted_row_is_found_as_a_gap() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = chain_of(&app, &p, 6).await;
    sql(&app, "DELETE FROM evidence_bundles WHERE site_id = $1 AND chain_position = 4", &site)
        .await;
    assert_broken(&verify(&app, &p, &site).await, 4, "missing");
}

#[tokio::test]
async fn swapped_positions_are_found() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = chain_of(&app, &p, 6).await;
    // Raw SQL on purpose: swaps two links, as an attacker would.
    let db = app.db_client().await;
    for (from, to) in [(1, 1_000_000), (2, 1), (1_000_000, 2)] {
        db.execute(
            "UPDATE evidence_bundles SET chain_position = $2 WHERE site_id = $1 AND chain_position = $3",
            &[&site.id, &(to as i64), &(from as i64)],
        )
        .await
        .unwrap();
    }
    assert_broken(&verify(&app, &p, &site).await, 1, "does not follow");
}

#[tokio::test]
async fn verifying_one_bundle_checks_the_chain_up_to_it() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = chain_of(&app, &p, 5).await;
    let resp = app.get_as(&p.viewer, "/api/client/evidence/verify/V-3").send().await;
    let v = expect_json(resp, StatusCode::OK).await;
    assert_eq!(
        (v["chain_valid"].clone(), v["signature_valid"].clone(), v["chain_length"].clone()),
        (true.into(), true.into(), 4.into()),
        "{v}"
    );

    sql(&app, "UPDATE evidence_bundles SET raw = overlay(raw placing '7' from 40 for 1) WHERE site_id = $1 AND chain_position = 4", &site).await;
    let v = body_json(app.get_as(&p.viewer, "/api/client/evidence/verify/V-3").send().await).await;
    assert_eq!(v["chain_valid"], true, "a later change does not affect the chain up to V-3: {v}");
    sql(&app, "UPDATE evidence_bundles SET raw = overlay(raw placing '7' from 40 for 1) WHERE site_id = $1 AND chain_position = 1", &site).await;
    let v = body_json(app.get_as(&p.viewer, "/api/client/evidence/verify/V-3").send().await).await;
    assert_eq!(v["chain_valid"], false, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("position 1"), "{v}");
}

#[tokio::test]
async fn verification_is_scoped_to_the_callers_practice() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let site = chain_of(&app, &a, 2).await;
    app.post_as(&b.owner, &format!("/api/client/sites/{}/verify-chain", site.id))
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    app.get_as(&b.owner, "/api/client/evidence/verify/V-1")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    app.client
        .post(format!("/api/client/sites/{}/verify-chain", site.id))
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    app.post_as(&a.viewer, "/api/client/sites/not-a-uuid/verify-chain")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
}
