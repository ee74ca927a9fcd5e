//! The queries of `portal demo` (`crate::demo`): the seeding lock, the demo
//! practice's sites, and dating seeded rows back to when they were checked.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::AppResult;

/// Advisory lock key for seeding ("demo" in ASCII).
const SEED_LOCK: i64 = 0x6465_6d6f;

/// Holds the seeding lock until the transaction `tx` ends, so two demos
/// starting at once on one database do not both seed.
pub async fn lock_seeding(tx: &impl GenericClient) -> AppResult<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEED_LOCK]).await?;
    Ok(())
}

/// A site of the demo practice and its chain length.
#[derive(Debug, Clone)]
pub struct DemoSite {
    pub id: Uuid,
    pub name: String,
    pub chain_length: i64,
}

/// The sites of the practice named `practice`, by name.
pub async fn sites_of_practice(
    db: &impl GenericClient,
    practice: &str,
) -> AppResult<Vec<DemoSite>> {
    let rows = db
        .query(
            "SELECT s.id, s.name, s.chain_length FROM sites s JOIN client_orgs o ON o.id = s.client_org_id
              WHERE o.name = $1 ORDER BY s.name",
            &[&practice],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DemoSite { id: r.get(0), name: r.get(1), chain_length: r.get(2) })
        .collect())
}

/// Dates the check notifications each bundle of `sites` raised to when the
/// bundle was checked. (Bundles are not touched: their receive time is in
/// the evidence log, and seeding stores it as it should be.)
pub async fn backdate(db: &impl GenericClient, sites: &[Uuid]) -> AppResult<()> {
    // Notifications raised by evidence link the bundle that raised them
    // (`/client/evidence/{bundle_id}?site_id=…`).
    db.execute(
        "UPDATE client_notifications n SET created_at = b.received_at
           FROM evidence_bundles b
          WHERE n.site_id = ANY($1) AND b.site_id = n.site_id
            AND b.bundle_id = split_part(split_part(n.action_url, '/client/evidence/', 2), '?', 1)
            AND n.type IN ('check_failed', 'check_warning', 'check_resolved')",
        &[&sites],
    )
    .await?;
    Ok(())
}
