//! Test appliances: sites with real Ed25519 keys, and signed bundles.

#![allow(dead_code)] // each test module uses a different subset

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;

pub struct TestSite {
    pub id: Uuid,
    pub org_id: Uuid,
    pub key: SigningKey,
}

/// A site of `org_id` whose appliance key the test holds.
pub async fn create_site(app: &TestApp, org_id: Uuid, name: &str) -> TestSite {
    let key = SigningKey::from_bytes(&portal::auth::tokens::random_bytes());
    let db = app.db_client().await;
    let id = portal::db::orgs::insert_site(&**db, org_id, name, key.verifying_key().as_bytes())
        .await
        .unwrap();
    TestSite { id, org_id, key }
}

/// One check: (check, status word, host, HIPAA control).
pub type CheckSpec<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

/// Bundle bytes in format v1 with a consistent summary.
pub fn bundle(
    site: Uuid,
    bundle_id: &str,
    checked_at: DateTime<Utc>,
    checks: &[CheckSpec],
) -> Vec<u8> {
    let word = |w: &str| portal::evidence::bundle::CheckStatus::from_word(w).unwrap();
    use portal::evidence::bundle::CheckStatus::*;
    let count = |s| checks.iter().filter(|c| word(c.1) == s).count();
    let checks: Vec<Value> = checks
        .iter()
        .map(|(check, status, host, control)| {
            json!({ "check": check, "status": status, "host": host, "hipaa_control": control, "details": {} })
        })
        .collect();
    let summary = json!({
        "total_checks": checks.len(), "compliant": count(Pass), "non_compliant": count(Fail), "errors": count(Warn)
    });
    serde_json::to_vec(&json!({
        "bundle_id": bundle_id, "site_id": site, "checked_at": checked_at.to_rfc3339(),
        "checks": checks, "summary": summary
    }))
    .unwrap()
}

pub fn sign(key: &SigningKey, bytes: &[u8]) -> String {
    hex::encode(key.sign(bytes).to_bytes())
}

pub async fn post_bundle(app: &TestApp, bytes: &[u8], signature: &str) -> poem::test::TestResponse {
    app.client
        .post("/api/appliance/evidence")
        .content_type("application/json")
        .header("x-agent-signature", signature)
        .body(bytes.to_vec())
        .send()
        .await
}

/// Signs and posts a bundle that must be accepted; returns the receipt.
pub async fn ingest(
    app: &TestApp,
    site: &TestSite,
    bundle_id: &str,
    checked_at: DateTime<Utc>,
    checks: &[CheckSpec<'_>],
) -> Value {
    let bytes = bundle(site.id, bundle_id, checked_at, checks);
    let resp = post_bundle(app, &bytes, &sign(&site.key, &bytes)).await;
    let status = resp.0.status();
    let body = crate::helpers::body_text(resp).await;
    assert_eq!(status, 201, "{body}");
    serde_json::from_str(&body).unwrap()
}
