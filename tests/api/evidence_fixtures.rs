//! Evidence written straight into the database, the way ingestion stores
//! it: a signed format-v1 bundle appended to its site's hash chain, its
//! check rows, the site's chain head and the per-check state. Lets the
//! read-side tests build exact scenarios (any `checked_at`, any order)
//! without going through the ingest endpoint.

#![allow(dead_code)] // each test module uses a different subset

use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{Signer, SigningKey};
use portal::evidence::bundle::CheckStatus;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::TestApp;

/// A site whose appliance key the test holds.
pub struct FixtureSite {
    pub id: Uuid,
    pub org_id: Uuid,
    pub key: SigningKey,
}

/// Creates a site of `org_id` with a fresh Ed25519 key.
pub async fn site(app: &TestApp, org_id: Uuid, name: &str) -> FixtureSite {
    let key = SigningKey::from_bytes(&portal::auth::tokens::random_bytes());
    let db = app.db_client().await;
    let id = portal::db::orgs::insert_site(&**db, org_id, name, key.verifying_key().as_bytes())
        .await
        .unwrap();
    FixtureSite { id, org_id, key }
}

/// One check of a bundle.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    pub check_type: &'a str,
    pub host: &'a str,
    /// The appliance's word: pass, compliant, fail, non_compliant, warn, ...
    pub word: &'a str,
    pub control: Option<&'a str>,
}

/// Shorthand for a [`Check`].
pub fn check<'a>(
    check_type: &'a str,
    host: &'a str,
    word: &'a str,
    control: Option<&'a str>,
) -> Check<'a> {
    Check { check_type, host, word, control }
}

/// What was stored for one bundle.
#[derive(Debug, Clone)]
pub struct Stored {
    /// evidence_bundles.id
    pub id: Uuid,
    pub bundle_id: String,
    pub site_id: Uuid,
    pub checked_at: DateTime<Utc>,
    pub position: i64,
    pub raw: Vec<u8>,
    pub bundle_hash: [u8; 32],
    pub prev_chain_hash: [u8; 32],
    pub chain_hash: [u8; 32],
    pub signature: [u8; 64],
    /// pass, warn or fail: the worst check.
    pub result: &'static str,
}

/// `at` truncated to whole seconds, as the bundle's JSON states it.
pub fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap()
}

/// Noon UTC on `date`.
pub fn noon(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(12, 0, 0).unwrap().and_utc()
}

/// Appends a bundle checked at `at` (whole seconds) to the site's chain, with
/// a generated bundle id.
pub async fn insert_bundle(
    app: &TestApp,
    site: &FixtureSite,
    at: DateTime<Utc>,
    checks: &[Check<'_>],
) -> Stored {
    let bundle_id =
        format!("CB-{}-{}", at.format("%Y-%m-%d"), &Uuid::new_v4().simple().to_string()[..8]);
    insert_bundle_as(app, site, &bundle_id, at, checks).await
}

/// Appends a bundle with a given bundle id, exactly as ingestion would store it.
pub async fn insert_bundle_as(
    app: &TestApp,
    site: &FixtureSite,
    bundle_id: &str,
    at: DateTime<Utc>,
    checks: &[Check<'_>],
) -> Stored {
    let at = whole_seconds(at);
    let status = |c: &Check| CheckStatus::from_word(c.word).unwrap();
    let count = |s: CheckStatus| checks.iter().filter(|c| status(c) == s).count();
    let (failed, warned) = (count(CheckStatus::Fail), count(CheckStatus::Warn));
    let result = checks.iter().map(status).max().unwrap_or(CheckStatus::Pass).as_str();
    let check_json: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({
                "check": c.check_type, "status": c.word, "host": c.host,
                "hipaa_control": c.control, "details": { "probe": c.check_type, "host": c.host }
            })
        })
        .collect();
    let raw = serde_json::to_vec(&json!({
        "bundle_id": bundle_id,
        "site_id": site.id,
        "checked_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "checks": check_json,
        "summary": {
            "total_checks": checks.len(),
            "compliant": count(CheckStatus::Pass),
            "non_compliant": failed,
            "errors": warned,
        },
    }))
    .unwrap();
    let signature = site.key.sign(&raw).to_bytes();
    let bundle_hash: [u8; 32] = Sha256::digest(&raw).into();

    let mut db = app.db_client().await;
    let tx = db.transaction().await.unwrap();
    let head = tx
        .query_one(
            "SELECT chain_length, chain_head_hash FROM sites WHERE id = $1 FOR UPDATE",
            &[&site.id],
        )
        .await
        .unwrap();
    let position: i64 = head.get(0);
    let prev_chain_hash: [u8; 32] =
        head.get::<_, Option<Vec<u8>>>(1).map(|h| h.try_into().unwrap()).unwrap_or([0; 32]);
    let chain_hash = portal::evidence::chain::chain_hash(
        site.id,
        u64::try_from(position).unwrap(),
        &prev_chain_hash,
        &bundle_hash,
    );
    let id: Uuid = tx
        .query_one(
            "INSERT INTO evidence_bundles
               (bundle_id, site_id, client_org_id, checked_at, result, checks_count,
                failed_checks, warn_checks, raw, bundle_hash, signature, chain_position,
                prev_chain_hash, chain_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             RETURNING id",
            &[
                &bundle_id,
                &site.id,
                &site.org_id,
                &at,
                &result,
                &(checks.len() as i32),
                &(failed as i32),
                &(warned as i32),
                &raw,
                &bundle_hash.as_slice(),
                &signature.as_slice(),
                &position,
                &prev_chain_hash.as_slice(),
                &chain_hash.as_slice(),
            ],
        )
        .await
        .unwrap()
        .get(0);
    for c in checks {
        let details = json!({ "probe": c.check_type, "host": c.host });
        tx.execute(
            "INSERT INTO evidence_checks
               (evidence_id, site_id, client_org_id, check_type, host, hipaa_control,
                status, raw_status, details, checked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &id,
                &site.id,
                &site.org_id,
                &c.check_type,
                &c.host,
                &c.control,
                &status(c).as_str(),
                &c.word,
                &details,
                &at,
            ],
        )
        .await
        .unwrap();
        tx.execute(
            "INSERT INTO check_states AS cs
               (site_id, check_type, host, last_status, last_evidence_id, changed_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (site_id, check_type, host) DO UPDATE
                SET changed_at = CASE WHEN cs.last_status = EXCLUDED.last_status
                                      THEN cs.changed_at ELSE EXCLUDED.changed_at END,
                    last_status = EXCLUDED.last_status,
                    last_evidence_id = EXCLUDED.last_evidence_id,
                    last_seen_at = EXCLUDED.last_seen_at
              WHERE cs.last_seen_at <= EXCLUDED.last_seen_at",
            &[&site.id, &c.check_type, &c.host, &status(c).as_str(), &id, &at],
        )
        .await
        .unwrap();
    }
    tx.execute(
        "UPDATE sites SET chain_length = $2, chain_head_hash = $3,
                last_evidence_at = GREATEST(last_evidence_at, $4)
          WHERE id = $1",
        &[&site.id, &(position + 1), &chain_hash.as_slice(), &at],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Stored {
        id,
        bundle_id: bundle_id.to_owned(),
        site_id: site.id,
        checked_at: at,
        position,
        raw,
        bundle_hash,
        prev_chain_hash,
        chain_hash,
        signature,
        result,
    }
}

/// A notification for the practice; returns its id.
pub async fn notification(app: &TestApp, org_id: Uuid, title: &str) -> Uuid {
    let db = app.db_client().await;
    db.query_one(
        "INSERT INTO client_notifications (client_org_id, type, severity, title, message)
         VALUES ($1, 'check_failed', 'warning', $2, 'details') RETURNING id",
        &[&org_id, &title],
    )
    .await
    .unwrap()
    .get(0)
}

/// Marks a notification read by a user.
pub async fn mark_read(app: &TestApp, notification_id: Uuid, user_id: Uuid) {
    let db = app.db_client().await;
    db.execute(
        "INSERT INTO client_notification_reads (notification_id, user_id) VALUES ($1, $2)",
        &[&notification_id, &user_id],
    )
    .await
    .unwrap();
}
