//! `portal demo`: a practice worth looking at on a fresh database.

use std::path::Path;

use deadpool_postgres::Pool;
use ed25519_dalek::SigningKey;

use crate::admin::write_private_key;
use crate::auth::{Role, tokens};
use crate::db::{demo as queries, orgs};
use crate::error::AppResult;
use crate::evidence::batch::{Item, MAX_BATCH_BUNDLES};

pub const PARTNER: &str = "Summit Health IT Partners";
/// MSPs besides the practice's own, so a transfer has somewhere to go.
pub const OTHER_PARTNERS: [(&str, &str); 2] = [
    ("Cascade Medical IT", "hello@cascademedicalit.example"),
    ("Lakeshore Managed Services", "support@lakeshorems.example"),
];
/// Where the demo sends mail meant for OsirisCare staff (transfer requests).
pub const STAFF_EMAIL: &str = "staff@osiriscare.example";
pub const PRACTICE: &str = "Riverside Family Medicine";
pub const PRACTICE_EMAIL: &str = "office@riversidefamilymed.example";
/// The demo practice's state (its pages show that state's time zone).
pub const PRACTICE_STATE: &str = "WA";

pub const SITES: [&str; 3] = [
    "Riverside Family Medicine - Main Street",
    "Riverside Pediatrics - Oak Hill",
    "Riverside Urgent Care - Westgate",
];
pub const USERS: [(&str, &str, Role); 3] = [
    ("maria.santos@riversidefamilymed.example", "Dr. Maria Santos", Role::Owner),
    ("james.chen@riversidefamilymed.example", "James Chen", Role::Admin),
    ("alex.kim@riversidefamilymed.example", "Alex Kim", Role::Viewer),
];

/// What the demo seeding did.
#[derive(Debug)]
pub struct Seeded {
    /// False when the database already had a practice and was left alone.
    pub created: bool,
}

/// Seeds the demo practice when the database has no practices at all.
/// Site appliance keys go to `<data dir>/demo-keys/<site id>.pem` so the
/// demo's appliances can sign evidence like real ones.
pub async fn seed(pool: &Pool, data_dir: &Path) -> AppResult<Seeded> {
    let mut db = pool.get().await?;
    let tx = db.transaction().await?;
    // Two demos starting at once on one database must not both seed.
    queries::lock_seeding(&*tx).await?;
    if orgs::count_orgs(&*tx).await? > 0 {
        return Ok(Seeded { created: false });
    }
    let partner =
        orgs::insert_partner(&*tx, PARTNER, Some("support@summithealthit.example")).await?;
    // Other MSPs the practice could ask to move to (the Partner page).
    for (name, email) in OTHER_PARTNERS {
        orgs::insert_partner(&*tx, name, Some(email)).await?;
    }
    let org = orgs::insert_org(&*tx, PRACTICE, PRACTICE_EMAIL, Some(partner)).await?;
    // A practice in Washington: its pages show Pacific time.
    orgs::set_state(&*tx, org, Some(PRACTICE_STATE)).await?;
    for (email, name, role) in USERS {
        orgs::insert_user(&*tx, org, email, Some(name), role).await?;
    }
    let key_dir = data_dir.join("demo-keys");
    std::fs::create_dir_all(&key_dir).map_err(anyhow::Error::from)?;
    for name in SITES {
        let key = SigningKey::from_bytes(&tokens::random_bytes());
        let site = orgs::insert_site(&*tx, org, name, key.verifying_key().as_bytes()).await?;
        let path = key_dir.join(format!("{site}.pem"));
        if path.exists() {
            std::fs::remove_file(&path).map_err(anyhow::Error::from)?;
        }
        write_private_key(&key, &path)?;
    }
    tx.commit().await?;
    tracing::info!(practice = PRACTICE, "seeded the demo practice");
    Ok(Seeded { created: true })
}

/// The demo's check catalogue: (check, HIPAA control, runs on servers only).
pub const CATALOGUE: &[(&str, &str, bool)] = &[
    ("bitlocker_status", "164.312(a)(2)(iv)", false),
    ("windows_defender", "164.308(a)(5)(ii)(B)", false),
    ("firewall_status", "164.312(e)(1)", false),
    ("password_policy", "164.308(a)(5)(ii)(D)", false),
    ("audit_policy", "164.312(b)", false),
    ("backup_status", "164.308(a)(7)(ii)(A)", true),
    ("patch_status", "164.308(a)(1)(ii)(B)", false),
    ("ntp_sync", "164.312(b)", false),
    ("screen_lock", "164.312(a)(2)(iii)", false),
    ("usb_storage_blocked", "164.310(d)(1)", false),
    ("mfa_enabled", "164.312(d)", false),
];

/// Machines at each demo site (the last one is the server).
pub const HOSTS: [&[&str]; 3] = [
    &["FRONTDESK-01", "FRONTDESK-02", "EXAM-01", "EXAM-02", "BILLING-01", "MS-SRV-01"],
    &["FRONTDESK-01", "EXAM-01", "NURSE-01", "OH-SRV-01"],
    &["TRIAGE-01", "EXAM-01", "XRAY-01", "WG-SRV-01"],
];

/// Days of evidence the demo seeds, and bundles per day per site.
pub const DAYS: i64 = 90;
pub const BUNDLES_PER_DAY: i64 = 4;

/// The demo's story: mostly compliant, with incidents that come and go,
/// and a few problems that are open right now. `day` counts back from today.
fn demo_status(site: usize, check: &str, host: &str, days_ago: f64, slot: i64) -> &'static str {
    match (site, check, host, days_ago, slot) {
        // Main Street: backups warned for two days a month ago; one screen
        // lock policy drifted last week and is still off.
        (0, "backup_status", _, d, _) if (30.0..32.0).contains(&d) => "warning",
        (0, "screen_lock", "BILLING-01", d, _) if d < 6.0 => "non_compliant",
        // Oak Hill: a patch backlog on an exam room PC, fixed after five days.
        (1, "patch_status", "EXAM-01", d, _) if (25.0..30.0).contains(&d) => "non_compliant",
        (1, "ntp_sync", "NURSE-01", d, _) if (2.0..3.0).contains(&d) => "warning",
        // Westgate: the X-ray workstation lost disk encryption two days ago,
        // the firewall on triage failed for a day last month.
        (2, "bitlocker_status", "XRAY-01", d, _) if d < 2.0 => "non_compliant",
        (2, "firewall_status", "TRIAGE-01", d, _) if (40.0..41.0).contains(&d) => "non_compliant",
        (2, "mfa_enabled", "XRAY-01", _, _) => "non_compliant",
        // Occasional clock drift anywhere: a warning now and then.
        (_, "ntp_sync", _, _, s) if s % 97 == 13 => "warning",
        _ => "compliant",
    }
}

/// What the demo's appliance reports with each result: the facts a real
/// agent sends, so the to-do list can say what the evidence found.
fn demo_details(check: &str, status: &str) -> serde_json::Value {
    use serde_json::json;
    let agent = "osiris-agent 3.4.1";
    match (check, status) {
        (_, "compliant") => json!({ "agent": agent }),
        ("mfa_enabled", _) => json!({
            "agent": agent,
            "finding": "2 of 3 accounts that sign in here use a password only (reception, xray.tech)",
            "accounts_without_mfa": 2,
        }),
        ("bitlocker_status", _) => json!({
            "agent": agent,
            "finding": "Drive C: is not encrypted (BitLocker protection is off)",
            "drive": "C:",
        }),
        ("screen_lock", _) => json!({
            "agent": agent,
            "finding": "The screen lock is off: no inactivity limit is set",
            "inactivity_limit_minutes": null,
        }),
        ("patch_status", _) => json!({
            "agent": agent,
            "finding": "7 security updates are pending, the oldest released 34 days ago",
            "pending_updates": 7,
        }),
        ("firewall_status", _) => json!({
            "agent": agent,
            "finding": "The firewall is off for the private network profile",
        }),
        ("backup_status", _) => json!({
            "agent": agent,
            "finding": "The nightly backup job ended with warnings: 3 files were skipped",
        }),
        ("ntp_sync", _) => json!({
            "agent": agent,
            "finding": "The clock is 4.2 seconds off its time source",
            "offset_seconds": 4.2,
        }),
        _ => json!({ "agent": agent }),
    }
}

/// Seeds 90 days of signed evidence for the demo sites through the real
/// ingestion path, in batches of 500 (format checks, signatures, chains,
/// notifications). Runs
/// only when the demo sites have no evidence yet.
pub async fn seed_evidence(state: &crate::AppState, data_dir: &Path) -> anyhow::Result<usize> {
    let db = state.pool().get().await?;
    let sites = queries::sites_of_practice(&**db, PRACTICE).await?;
    drop(db);
    if sites.is_empty() || sites.iter().any(|s| s.chain_length > 0) {
        return Ok(0);
    }
    let now = chrono::Utc::now();
    let start = now - chrono::TimeDelta::days(DAYS);
    let per_site = (DAYS * BUNDLES_PER_DAY) as u64;
    let bar = crate::appliance::progress(
        per_site * sites.len() as u64,
        "seeding 90 days of demo evidence",
    );
    // Each site is its own chain, so sites are seeded side by side.
    let seeds = sites.iter().map(|site| {
        let bar = bar.clone();
        async move { seed_site(state, data_dir, site.id, &site.name, start, now, &bar).await }
    });
    let mut stored = 0;
    for result in futures_util::future::join_all(seeds).await {
        stored += result?;
    }
    bar.finish_and_clear();
    backdate(state, &sites.iter().map(|s| s.id).collect::<Vec<uuid::Uuid>>()).await?;
    Ok(stored)
}

/// The demo's 90 days are made in the few seconds of seeding; each bundle
/// is stored and logged as received a few minutes after it was checked
/// ([`seed_site`]). Dates the notifications each raised to the same time,
/// so the notification centre and the reports (notifications at each
/// month's end) read like the 90 days they show. The evidence log does not
/// cover notifications.
async fn backdate(state: &crate::AppState, sites: &[uuid::Uuid]) -> anyhow::Result<()> {
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    queries::backdate(&*tx, sites).await?;
    tx.commit().await?;
    Ok(())
}

async fn seed_site(
    state: &crate::AppState,
    data_dir: &Path,
    site_id: uuid::Uuid,
    name: &str,
    start: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<usize> {
    use anyhow::Context;
    let index = SITES.iter().position(|s| *s == name).unwrap_or(0);
    let key_path = data_dir.join("demo-keys").join(format!("{site_id}.pem"));
    let key = crate::appliance::read_key(&key_path).with_context(|| {
        format!("the demo key of {name} is missing; delete the data dir to start over")
    })?;
    let hosts = HOSTS[index];
    let mut stored = 0;
    let mut pending = Vec::with_capacity(MAX_BATCH_BUNDLES);
    for slot in 0..(DAYS * BUNDLES_PER_DAY) {
        let checked_at = start
            + chrono::TimeDelta::hours(24 / BUNDLES_PER_DAY * slot)
            + chrono::TimeDelta::minutes(7);
        let days_ago = (now - checked_at).num_minutes() as f64 / 1440.0;
        let mut checks = Vec::new();
        let (mut pass, mut fail, mut warn) = (0, 0, 0);
        for (h, host) in hosts.iter().enumerate() {
            let server = h == hosts.len() - 1;
            for (check, control, servers_only) in CATALOGUE {
                if *servers_only && !server {
                    continue;
                }
                let status = demo_status(index, check, host, days_ago, slot + h as i64);
                match status {
                    "compliant" => pass += 1,
                    "non_compliant" => fail += 1,
                    _ => warn += 1,
                }
                checks.push(serde_json::json!({
                    "check": check, "status": status, "host": host, "hipaa_control": control,
                    "details": demo_details(check, status),
                }));
            }
        }
        let bundle = serde_json::json!({
            "bundle_id": format!("CB-{}-{}-{slot:04}", checked_at.format("%Y%m%d%H%M"), &site_id.simple().to_string()[..8]),
            "site_id": site_id,
            "checked_at": checked_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "checks": checks,
            "summary": { "total_checks": pass + fail + warn, "compliant": pass, "non_compliant": fail, "errors": warn },
        });
        let bytes = serde_json::to_vec(&bundle)?;
        let signature = crate::appliance::signature_hex(&key, &bytes);
        // Each bundle arrives a few minutes after it was made, as from an
        // appliance online all along (logged so, so the practice verifies).
        let received_at = (checked_at + chrono::TimeDelta::minutes(3)).min(now);
        pending.push(Item { raw: bytes, signature, received_at: Some(received_at) });
        if pending.len() == MAX_BATCH_BUNDLES {
            stored += seed_batch(state, name, std::mem::take(&mut pending), bar).await?;
        }
    }
    stored += seed_batch(state, name, pending, bar).await?;
    Ok(stored)
}

/// Stores one batch of a demo site's bundles through the batch ingest
/// path; every bundle must be accepted.
async fn seed_batch(
    state: &crate::AppState,
    name: &str,
    items: Vec<Item>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<usize> {
    let n = items.len();
    if n == 0 {
        return Ok(0);
    }
    for answer in crate::evidence::batch::ingest_batch(state, items)
        .await
        .map_err(|e| anyhow::anyhow!("seeding {name}: {e}"))?
    {
        answer.map_err(|e| anyhow::anyhow!("seeding {name}: {e}"))?;
    }
    bar.inc(n as u64);
    Ok(n)
}
