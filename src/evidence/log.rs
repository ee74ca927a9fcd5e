//! Sequencing into the practice's evidence log: each accepted bundle, each
//! site's keys and each finished report becomes a leaf (`log::leaf`) at the
//! next index, inside the transaction that stores it (as its last
//! statement, see [`append_to`]). The first leaf of a
//! practice makes its log and first logs what came before it: every site's
//! keys (oldest site first), then every bundle in the order received,
//! marked as backfilled.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::db::evidence_log::{self as store, NewLeaves};
use crate::error::{AppError, AppResult};
use crate::log::leaf::{EvidenceLeaf, Leaf, SiteKeyLeaf};

/// Bundles logged per statement while backfilling.
const BACKFILL_BATCH: i64 = 1000;

/// A leaf's place: its index and the log's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub index: i64,
    pub origin: String,
}

/// `<host>/log/<org uuid>`: the base URL without its scheme and trailing
/// slash, as c2sp.org/tlog-tiles recommends for an origin.
pub fn origin_for(base_url: &str, org_id: Uuid) -> String {
    let host = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    format!("{}/log/{}", host.trim_end_matches('/'), org_id.hyphenated())
}

fn kind(leaf: &Leaf) -> &'static str {
    match leaf {
        Leaf::Evidence(_) => "evidence",
        Leaf::SiteKey(_) => "site_key",
        Leaf::Report(_) => "report",
    }
}

fn unix(t: DateTime<Utc>) -> AppResult<u64> {
    u64::try_from(t.timestamp())
        .map_err(|_| AppError::internal(anyhow::anyhow!("a time before 1970 cannot be logged")))
}

fn bytes<const N: usize>(v: &[u8], what: &str) -> AppResult<[u8; N]> {
    v.try_into()
        .map_err(|_| AppError::internal(anyhow::anyhow!("stored {what} has the wrong length")))
}

/// The site-key leaf of a site as stored.
pub fn site_key_leaf(
    site_id: Uuid,
    key: &[u8],
    witness: Option<&[u8]>,
    registered: DateTime<Utc>,
) -> AppResult<Leaf> {
    Ok(Leaf::SiteKey(SiteKeyLeaf {
        site: site_id,
        key: bytes(key, "site key")?,
        witness: witness.map(|w| bytes(w, "witness key")).transpose()?,
        registered: unix(registered)?,
    }))
}

/// The evidence leaf of an accepted bundle.
pub struct EvidenceFacts<'a> {
    pub site_id: Uuid,
    pub chain_position: i64,
    pub bundle_hash: &'a [u8],
    pub chain_hash: &'a [u8],
    pub key: &'a [u8],
    pub signature: &'a [u8],
    pub received_at: DateTime<Utc>,
}

pub fn evidence_leaf(f: &EvidenceFacts<'_>) -> AppResult<Leaf> {
    Ok(Leaf::Evidence(EvidenceLeaf {
        site: f.site_id,
        position: u64::try_from(f.chain_position).map_err(AppError::internal)?,
        bundle: bytes(f.bundle_hash, "bundle hash")?,
        chain: bytes(f.chain_hash, "chain hash")?,
        key: bytes(f.key, "site key")?,
        signature: bytes(f.signature, "signature")?,
        received: unix(f.received_at)?,
    }))
}

/// Appends `leaf` at the next index of practice `org_id`'s log, in the
/// caller's transaction (an error if the practice has no log); with
/// `bundle_row`, the leaf logs that bundle.
///
/// One statement, which takes the log's row lock until the transaction
/// ends: send it last, with the COMMIT right behind it (see
/// `ingest::ingest`), so the ingests of one practice wait for each other
/// only through this statement and a commit. Indices are then gap-free
/// and in commit order, and a rollback gives the index back.
pub async fn append_to(
    db: &impl GenericClient,
    org_id: Uuid,
    leaf: &Leaf,
    bundle_row: Option<Uuid>,
) -> AppResult<Logged> {
    append_with(db, store::APPEND_LEAVES, org_id, leaf, bundle_row).await
}

/// [`append_to`] with the statement prepared ahead (`store::APPEND_LEAVES`),
/// so that nothing is sent before it executes.
pub async fn append_with(
    db: &impl GenericClient,
    statement: &(impl tokio_postgres::ToStatement + Sync + Send + ?Sized),
    org_id: Uuid,
    leaf: &Leaf,
    bundle_row: Option<Uuid>,
) -> AppResult<Logged> {
    let (index, origin) =
        store::append_leaves(db, statement, org_id, kind(leaf), &[&leaf.encode()], &[bundle_row])
            .await?;
    Ok(Logged { index, origin })
}

/// Appends `leaf` if the practice has a log (a report of a practice
/// without one has no evidence to speak of).
pub async fn append_if_logged(
    db: &impl GenericClient,
    org_id: Uuid,
    leaf: &Leaf,
) -> AppResult<Option<Logged>> {
    if store::origin(db, org_id).await?.is_none() {
        return Ok(None);
    }
    append_to(db, org_id, leaf, None).await.map(Some)
}

/// Logs a new site's keys if its practice has a log (otherwise they are
/// logged when the log is made, with the rest of the practice's past).
pub async fn log_new_site(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Uuid,
) -> AppResult<Option<Logged>> {
    if store::origin(db, org_id).await?.is_none() {
        return Ok(None);
    }
    let site = store::site_keys(db, org_id)
        .await?
        .into_iter()
        .find(|s| s.site_id == site_id)
        .ok_or_else(|| crate::reach::no_site_with_id(site_id))?;
    let leaf = site_key_leaf(site.site_id, &site.key, site.witness.as_deref(), site.registered)?;
    append_to(db, org_id, &leaf, None).await.map(Some)
}

/// The practice's log origin, making the log (and logging what came
/// before it) when it has none. Call it before storing what the next
/// leaf logs, so the backfill does not log it too.
pub async fn ensure_log(
    db: &impl GenericClient,
    base_url: &str,
    org_id: Uuid,
) -> AppResult<String> {
    if let Some(origin) = store::origin(db, org_id).await? {
        return Ok(origin);
    }
    let origin = origin_for(base_url, org_id);
    if store::create_log(db, org_id, &origin).await? {
        backfill(db, org_id).await?;
        return Ok(origin);
    }
    // Another transaction made it meanwhile (and has committed).
    store::origin(db, org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the practice's log vanished")))
}

/// Makes the log of every practice that has sites but no log yet (its
/// evidence predates the log), each logging its past as a log's first
/// leaf does; returns how many. `portal migrate` runs it after the schema
/// migrations (the backfill), and the integrator at start-up. `progress`
/// hears (practices done, practices to do) before each.
pub async fn make_missing_logs(
    pool: &deadpool_postgres::Pool,
    base_url: &str,
    progress: impl Fn(usize, usize),
) -> AppResult<usize> {
    let orgs = {
        let db = pool.get().await?;
        store::orgs_without_log(&**db).await?
    };
    for (done, org_id) in orgs.iter().enumerate() {
        progress(done, orgs.len());
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        ensure_log(&*tx, base_url, *org_id).await?;
        tx.commit().await?;
    }
    Ok(orgs.len())
}

/// Logs every site's keys, then every bundle without a log index in the
/// order received, in batches.
async fn backfill(db: &impl GenericClient, org_id: Uuid) -> AppResult<()> {
    let sites = store::site_keys(db, org_id).await?;
    let leaves = sites
        .iter()
        .map(|s| site_key_leaf(s.site_id, &s.key, s.witness.as_deref(), s.registered))
        .collect::<AppResult<Vec<Leaf>>>()?;
    insert_backfill(db, org_id, &leaves, &vec![None; leaves.len()]).await?;
    let mut after = None;
    loop {
        let batch = store::unlogged_bundles(db, org_id, after, BACKFILL_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = Some((last.received_at, last.row_id));
        let leaves = batch
            .iter()
            .map(|b| {
                evidence_leaf(&EvidenceFacts {
                    site_id: b.site_id,
                    chain_position: b.chain_position,
                    bundle_hash: &b.bundle_hash,
                    chain_hash: &b.chain_hash,
                    key: &b.key,
                    signature: &b.signature,
                    received_at: b.received_at,
                })
            })
            .collect::<AppResult<Vec<Leaf>>>()?;
        let rows: Vec<Option<Uuid>> = batch.iter().map(|b| Some(b.row_id)).collect();
        insert_backfill(db, org_id, &leaves, &rows).await?;
    }
    Ok(())
}

/// Stores backfilled leaves (of `bundle_rows`, one per leaf) at the next
/// indices.
async fn insert_backfill(
    db: &impl GenericClient,
    org_id: Uuid,
    leaves: &[Leaf],
    bundle_rows: &[Option<Uuid>],
) -> AppResult<()> {
    let first = store::take_indices(db, org_id, leaves.len() as i64)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the practice's log vanished")))?;
    if !leaves.is_empty() {
        let kinds: Vec<&str> = leaves.iter().map(kind).collect();
        let data: Vec<Vec<u8>> = leaves.iter().map(Leaf::encode).collect();
        store::insert_leaves(
            db,
            org_id,
            first,
            &NewLeaves { kind: &kinds, data: &data, bundle_rows, backfilled: true },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_the_base_url_without_scheme() {
        let org = Uuid::parse_str("5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f").unwrap();
        assert_eq!(
            origin_for("https://portal.osiriscare.example/", org),
            "portal.osiriscare.example/log/5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f"
        );
        assert_eq!(
            origin_for("http://127.0.0.1:8080", org),
            "127.0.0.1:8080/log/5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f"
        );
    }
}
