//! Evidence written straight into the database, the way ingestion stores
//! it: a signed format-v1 bundle appended to its site's hash chain, its
//! check rows, the site's chain head and the per-check state. Lets the
//! read-side tests build exact scenarios (any `checked_at`, any order)
//! without going through the ingest endpoint.

#![allow(dead_code)] // each test module uses a different subset

use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{Signer, SigningKey};
use portal::db::evidence as store;
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
    let result_status = checks.iter().map(status).max().unwrap_or(CheckStatus::Pass);
    let result = result_status.as_str();
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

    let stored_checks: Vec<portal::evidence::bundle::Check> = checks
        .iter()
        .map(|c| portal::evidence::bundle::Check {
            check: c.check_type.to_owned(),
            status: status(c),
            raw_status: c.word.to_owned(),
            host: c.host.to_owned(),
            hipaa_control: c.control.map(str::to_owned),
            details: json!({ "probe": c.check_type, "host": c.host }),
        })
        .collect();

    // The same writes ingestion makes, in one transaction, minus the
    // signature check, the parse (any `checked_at`) and notifications.
    let mut db = app.db_client().await;
    let tx = db.transaction().await.unwrap();
    let head = store::lock_chain_head(&*tx, site.id).await.unwrap();
    let position = head.length;
    let prev_chain_hash = head.head.unwrap_or(portal::evidence::chain::GENESIS);
    let chain_hash = portal::evidence::chain::chain_hash(
        site.id,
        u64::try_from(position).unwrap(),
        &prev_chain_hash,
        &bundle_hash,
    );
    let (id, _) = store::insert_bundle(
        &*tx,
        &store::NewBundle {
            bundle_id,
            site_id: site.id,
            org_id: site.org_id,
            checked_at: at,
            result: result_status,
            checks_count: checks.len() as i32,
            failed_checks: failed as i32,
            warn_checks: warned as i32,
            raw: &raw,
            bundle_hash,
            signature,
            chain_position: position,
            prev_chain_hash,
            chain_hash,
            received_at: None,
        },
    )
    .await
    .unwrap();
    store::insert_checks(&*tx, id, site.id, site.org_id, at, &stored_checks).await.unwrap();
    store::record_check_states(&*tx, site.id, id, at, &stored_checks).await.unwrap();
    store::advance_chain(&*tx, site.id, position + 1, &chain_hash, at).await.unwrap();
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

/// A warning notification for the practice, through the insert ingestion
/// uses; returns its id.
pub async fn notification(app: &TestApp, org_id: Uuid, title: &str) -> Uuid {
    notification_with(app, org_id, title, portal::db::notifications::Severity::Warning).await
}

/// A notification of `severity` created at `at`; returns its id.
pub async fn notification_at(
    app: &TestApp,
    org_id: Uuid,
    title: &str,
    severity: portal::db::notifications::Severity,
    at: DateTime<Utc>,
) -> Uuid {
    let id = notification_with(app, org_id, title, severity).await;
    // Raw SQL on purpose: a notification from the past; the insert stamps
    // the present.
    let db = app.db_client().await;
    db.execute("UPDATE client_notifications SET created_at = $2 WHERE id = $1", &[&id, &at])
        .await
        .unwrap();
    id
}

async fn notification_with(
    app: &TestApp,
    org_id: Uuid,
    title: &str,
    severity: portal::db::notifications::Severity,
) -> Uuid {
    let db = app.db_client().await;
    portal::db::notifications::insert(
        &**db,
        &portal::db::notifications::NewNotification {
            org_id,
            site_id: None,
            kind: "check_failed",
            severity,
            title: title.to_owned(),
            message: "details".to_owned(),
            action_url: None,
            action_label: None,
            dedupe_key: Uuid::new_v4().to_string(),
            check: None,
            repeats: false,
        },
    )
    .await
    .unwrap()
    .expect("a new notification")
}

/// Marks a notification read by a user (of its practice), as the API does.
pub async fn mark_read(app: &TestApp, notification_id: Uuid, user_id: Uuid) {
    let db = app.db_client().await;
    let user = portal::db::users::find_by_id(&**db, user_id).await.unwrap().expect("the user");
    portal::db::notifications::mark_read(&**db, user.org_id, user_id, notification_id)
        .await
        .unwrap()
        .expect("a notification of the user's practice");
}
