//! `portal demo`: a practice worth looking at on a fresh database.

use std::path::Path;

use deadpool_postgres::Pool;
use ed25519_dalek::SigningKey;

use crate::admin::write_private_key;
use crate::auth::{Role, tokens};
use crate::db::orgs;
use crate::error::AppResult;

pub const PARTNER: &str = "Summit Health IT Partners";
pub const PRACTICE: &str = "Riverside Family Medicine";
pub const PRACTICE_EMAIL: &str = "office@riversidefamilymed.example";
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

/// Advisory lock key for seeding ("demo" in ASCII).
const SEED_LOCK: i64 = 0x6465_6d6f;

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
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEED_LOCK]).await?;
    if orgs::count_orgs(&*tx).await? > 0 {
        return Ok(Seeded { created: false });
    }
    let partner =
        orgs::insert_partner(&*tx, PARTNER, Some("support@summithealthit.example")).await?;
    let org = orgs::insert_org(&*tx, PRACTICE, PRACTICE_EMAIL, Some(partner)).await?;
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
