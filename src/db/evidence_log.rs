//! The evidence log's tables: one log row per practice (its origin and
//! size) and its leaves, append-only.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, ToStatement};
use uuid::Uuid;

use crate::db::evidence::{BundleRef, only_bundle};
use crate::error::AppResult;

/// Makes the practice's log if it has none. True when this call made it
/// (and so must log what came before); a concurrent maker waits for the
/// first to commit and gets false.
pub async fn create_log(db: &impl GenericClient, org_id: Uuid, origin: &str) -> AppResult<bool> {
    let n = db
        .execute(
            "INSERT INTO evidence_logs (client_org_id, origin) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&org_id, &origin],
        )
        .await?;
    Ok(n == 1)
}

/// The practice's log origin, if it has a log.
pub async fn origin(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<String>> {
    Ok(db
        .query_opt("SELECT origin FROM evidence_logs WHERE client_org_id = $1", &[&org_id])
        .await?
        .map(|r| r.get(0)))
}

/// Takes the next `count` indices of the practice's log (locking its row
/// until the transaction ends); returns the first. None: no log yet.
pub async fn take_indices(
    db: &impl GenericClient,
    org_id: Uuid,
    count: i64,
) -> AppResult<Option<i64>> {
    Ok(db
        .query_opt(
            "UPDATE evidence_logs SET size = size + $2 WHERE client_org_id = $1 RETURNING size - $2",
            &[&org_id, &count],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Leaves to store from `first` on, in order.
pub struct NewLeaves<'a> {
    pub kind: &'a [&'a str],
    pub data: &'a [Vec<u8>],
    /// The bundle each logs, if any.
    pub bundle_rows: &'a [Option<Uuid>],
    pub backfilled: bool,
}

/// Stores leaves at consecutive indices from `first` (one statement).
pub async fn insert_leaves(
    db: &impl GenericClient,
    org_id: Uuid,
    first: i64,
    leaves: &NewLeaves<'_>,
) -> AppResult<()> {
    let data: Vec<&[u8]> = leaves.data.iter().map(Vec::as_slice).collect();
    db.execute(
        "INSERT INTO evidence_log_leaves (client_org_id, leaf_index, kind, data, bundle_row, backfilled)
         SELECT $1, $2 + ord - 1, kind, data, bundle_row, $6
           FROM unnest($3::text[], $4::bytea[], $5::uuid[]) WITH ORDINALITY AS l(kind, data, bundle_row, ord)",
        &[&org_id, &first, &leaves.kind, &data, &leaves.bundle_rows, &leaves.backfilled],
    )
    .await?;
    Ok(())
}

/// A site's keys as a site-key leaf states them.
pub struct SiteKeys {
    pub site_id: Uuid,
    pub key: Vec<u8>,
    pub witness: Option<Vec<u8>>,
    pub registered: DateTime<Utc>,
}

/// Every site of the practice, oldest first.
pub async fn site_keys(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<SiteKeys>> {
    let rows = db
        .query(
            "SELECT id, agent_public_key, witness_public_key, created_at FROM sites
              WHERE client_org_id = $1 ORDER BY created_at, id",
            &[&org_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SiteKeys {
            site_id: r.get(0),
            key: r.get(1),
            witness: r.get(2),
            registered: r.get(3),
        })
        .collect())
}

/// A bundle received before its practice's log was made.
pub struct UnloggedBundle {
    pub row_id: Uuid,
    pub site_id: Uuid,
    pub chain_position: i64,
    pub bundle_hash: Vec<u8>,
    pub chain_hash: Vec<u8>,
    pub key: Vec<u8>,
    pub signature: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// Up to `limit` of the practice's bundles without a log index, in the
/// order they were received, after (`received_at`, `id`) `after`.
pub async fn unlogged_bundles(
    db: &impl GenericClient,
    org_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> AppResult<Vec<UnloggedBundle>> {
    let (at, id) = (after.map(|a| a.0), after.map(|a| a.1));
    let rows = db
        .query(
            "SELECT b.id, b.site_id, b.chain_position, b.bundle_hash, b.chain_hash,
                    s.agent_public_key, b.signature, b.received_at
               FROM evidence_bundles b JOIN sites s ON s.id = b.site_id
              WHERE b.client_org_id = $1
                AND NOT EXISTS (SELECT 1 FROM evidence_log_leaves l WHERE l.bundle_row = b.id)
                AND ($2::timestamptz IS NULL OR (b.received_at, b.id) > ($2, $3::uuid))
              ORDER BY b.received_at, b.id
              LIMIT $4",
            &[&org_id, &at, &id, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| UnloggedBundle {
            row_id: r.get(0),
            site_id: r.get(1),
            chain_position: r.get(2),
            bundle_hash: r.get(3),
            chain_hash: r.get(4),
            key: r.get(5),
            signature: r.get(6),
            received_at: r.get(7),
        })
        .collect())
}

/// One stored leaf.
#[derive(Debug, Clone)]
pub struct StoredLeaf {
    pub index: i64,
    pub kind: String,
    pub data: Vec<u8>,
    pub backfilled: bool,
}

/// The practice's leaves with index in `from..to`, in order.
pub async fn leaves(
    db: &impl GenericClient,
    org_id: Uuid,
    from: i64,
    to: i64,
) -> AppResult<Vec<StoredLeaf>> {
    let rows = db
        .query(
            "SELECT leaf_index, kind, data, backfilled FROM evidence_log_leaves
              WHERE client_org_id = $1 AND leaf_index >= $2 AND leaf_index < $3
              ORDER BY leaf_index",
            &[&org_id, &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| StoredLeaf {
            index: r.get(0),
            kind: r.get(1),
            data: r.get(2),
            backfilled: r.get(3),
        })
        .collect())
}

/// The practice's log size, if it has a log.
pub async fn size(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<i64>> {
    Ok(db
        .query_opt("SELECT size FROM evidence_logs WHERE client_org_id = $1", &[&org_id])
        .await?
        .map(|r| r.get(0)))
}

// ---------------------------------------------------------------------------
// Integration: tiles and checkpoints (src/evidence/integrator.rs)
// ---------------------------------------------------------------------------

/// Takes the practice log's integrator lock for this transaction; false
/// when another integrator holds it.
pub async fn try_lock_integrator(db: &impl GenericClient, org_id: Uuid) -> AppResult<bool> {
    Ok(db
        .query_one(
            "SELECT pg_try_advisory_xact_lock(hashtext('evidence_log_integrator'), hashtext($1::uuid::text))",
            &[&org_id],
        )
        .await?
        .get(0))
}

/// Every practice log: org, origin and size.
pub async fn logs(db: &impl GenericClient) -> AppResult<Vec<(Uuid, String, i64)>> {
    Ok(db
        .query("SELECT client_org_id, origin, size FROM evidence_logs ORDER BY client_org_id", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The practice's log origin and size, if it has a log.
pub async fn log_row(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<(String, i64)>> {
    Ok(db
        .query_opt("SELECT origin, size FROM evidence_logs WHERE client_org_id = $1", &[&org_id])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// How many full tiles of `level` are written.
pub async fn full_tiles(db: &impl GenericClient, org_id: Uuid, level: i16) -> AppResult<i64> {
    Ok(db
        .query_one(
            "SELECT coalesce(max(tile_index) + 1, 0) FROM evidence_log_tiles
              WHERE client_org_id = $1 AND level = $2",
            &[&org_id, &level],
        )
        .await?
        .get(0))
}

/// Writes a full tile (once: a second write of the same tile is refused by
/// the primary key).
pub async fn insert_tile(
    db: &impl GenericClient,
    org_id: Uuid,
    level: i16,
    index: i64,
    hashes: &[u8],
    root: &[u8],
) -> AppResult<()> {
    db.execute(
        "INSERT INTO evidence_log_tiles (client_org_id, level, tile_index, hashes, root)
         VALUES ($1, $2, $3, $4, $5)",
        &[&org_id, &level, &index, &hashes, &root],
    )
    .await?;
    Ok(())
}

/// The stored full tiles among `wanted` (level, index): their hashes.
pub async fn tiles(
    db: &impl GenericClient,
    org_id: Uuid,
    wanted: &[(i16, i64)],
) -> AppResult<Vec<(i16, i64, Vec<u8>)>> {
    let levels: Vec<i16> = wanted.iter().map(|w| w.0).collect();
    let indices: Vec<i64> = wanted.iter().map(|w| w.1).collect();
    Ok(db
        .query(
            "SELECT t.level, t.tile_index, t.hashes
               FROM unnest($2::smallint[], $3::bigint[]) AS w(level, idx)
               JOIN evidence_log_tiles t
                 ON t.client_org_id = $1 AND t.level = w.level AND t.tile_index = w.idx",
            &[&org_id, &levels, &indices],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The roots of full tiles `level`/`from..to`, in order.
pub async fn tile_roots(
    db: &impl GenericClient,
    org_id: Uuid,
    level: i16,
    from: i64,
    to: i64,
) -> AppResult<Vec<Vec<u8>>> {
    Ok(db
        .query(
            "SELECT root FROM evidence_log_tiles
              WHERE client_org_id = $1 AND level = $2 AND tile_index >= $3 AND tile_index < $4
              ORDER BY tile_index",
            &[&org_id, &level, &from, &to],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The bytes of leaves `from..to`, in order.
pub async fn leaf_data(
    db: &impl GenericClient,
    org_id: Uuid,
    from: i64,
    to: i64,
) -> AppResult<Vec<Vec<u8>>> {
    Ok(db
        .query(
            "SELECT data FROM evidence_log_leaves
              WHERE client_org_id = $1 AND leaf_index >= $2 AND leaf_index < $3
              ORDER BY leaf_index",
            &[&org_id, &from, &to],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub id: i64,
    pub size: i64,
    pub root: Vec<u8>,
    pub note: String,
    pub signed_at: DateTime<Utc>,
    pub month_end: Option<String>,
}

const CHECKPOINT_COLUMNS: &str = "id, size, root, note, signed_at, month_end";

fn checkpoint_row(r: &tokio_postgres::Row) -> StoredCheckpoint {
    StoredCheckpoint {
        id: r.get(0),
        size: r.get(1),
        root: r.get(2),
        note: r.get(3),
        signed_at: r.get(4),
        month_end: r.get(5),
    }
}

/// A checkpoint to store.
pub struct NewCheckpoint<'a> {
    pub size: i64,
    pub root: &'a [u8],
    pub note: &'a str,
    pub signed_at: DateTime<Utc>,
    pub month_end: Option<&'a str>,
}

pub async fn insert_checkpoint(
    db: &impl GenericClient,
    org_id: Uuid,
    c: &NewCheckpoint<'_>,
) -> AppResult<StoredCheckpoint> {
    let row = db
        .query_one(
            &format!(
                "INSERT INTO evidence_log_checkpoints (client_org_id, size, root, note, signed_at, month_end)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CHECKPOINT_COLUMNS}"
            ),
            &[&org_id, &c.size, &c.root, &c.note, &c.signed_at, &c.month_end],
        )
        .await?;
    Ok(checkpoint_row(&row))
}

/// The practice's latest signed checkpoint.
pub async fn latest_checkpoint(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Option<StoredCheckpoint>> {
    Ok(db
        .query_opt(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM evidence_log_checkpoints
                  WHERE client_org_id = $1 ORDER BY id DESC LIMIT 1"
            ),
            &[&org_id],
        )
        .await?
        .as_ref()
        .map(checkpoint_row))
}

/// The latest checkpoint of the practice's log at exactly `size` leaves.
pub async fn checkpoint_of_size(
    db: &impl GenericClient,
    org_id: Uuid,
    size: i64,
) -> AppResult<Option<StoredCheckpoint>> {
    Ok(db
        .query_opt(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM evidence_log_checkpoints
                  WHERE client_org_id = $1 AND size = $2 ORDER BY id DESC LIMIT 1"
            ),
            &[&org_id, &size],
        )
        .await?
        .as_ref()
        .map(checkpoint_row))
}

/// Up to `limit` of the practice's checkpoints, newest first, older than
/// checkpoint `before` when given.
pub async fn checkpoints(
    db: &impl GenericClient,
    org_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<StoredCheckpoint>> {
    Ok(db
        .query(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM evidence_log_checkpoints
                  WHERE client_org_id = $1 AND ($2::bigint IS NULL OR id < $2)
                  ORDER BY id DESC LIMIT $3"
            ),
            &[&org_id, &before, &limit],
        )
        .await?
        .iter()
        .map(checkpoint_row)
        .collect())
}

/// A bundle's place in its practice's log, by the appliance's id.
pub async fn bundle_log_index(
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &BundleRef<'_>,
) -> AppResult<Option<Option<i64>>> {
    let rows = db
        .query(
            "SELECT l.leaf_index FROM evidence_bundles b
               LEFT JOIN evidence_log_leaves l ON l.bundle_row = b.id
              WHERE b.client_org_id = $1 AND b.bundle_id = $2 AND ($3::uuid IS NULL OR b.site_id = $3)",
            &[&org_id, &bundle.bundle_id, &bundle.site_id],
        )
        .await?;
    Ok(only_bundle(rows, bundle)?.map(|r| r.get(0)))
}

/// Practices with evidence but no log yet (evidence from before the log).
pub async fn orgs_without_log(db: &impl GenericClient) -> AppResult<Vec<Uuid>> {
    Ok(db
        .query(
            "SELECT DISTINCT s.client_org_id FROM sites s
              WHERE NOT EXISTS (SELECT 1 FROM evidence_logs l WHERE l.client_org_id = s.client_org_id)",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

// ---------------------------------------------------------------------------
// Verification (src/evidence/integrity.rs)
// ---------------------------------------------------------------------------

/// A stored bundle with everything verification re-derives.
#[derive(Debug, Clone)]
pub struct BundleRecord {
    pub row_id: Uuid,
    pub bundle_id: String,
    pub site_id: Uuid,
    pub log_index: Option<i64>,
    pub raw: Vec<u8>,
    pub signature: Vec<u8>,
    pub chain_position: i64,
    pub prev_chain_hash: Vec<u8>,
    pub chain_hash: Vec<u8>,
    pub bundle_hash: Vec<u8>,
    pub received_at: DateTime<Utc>,
    /// The site's key as the sites table has it now.
    pub site_key: Vec<u8>,
    /// The rows pages and reports read.
    pub rows: crate::evidence::derived::Rows,
}

const RECORD_COLUMNS: &str = "b.id, b.bundle_id, b.site_id, l.leaf_index, b.raw, b.signature, b.chain_position, \
     b.prev_chain_hash, b.chain_hash, b.bundle_hash, b.received_at, s.agent_public_key, \
     b.checked_at, b.result, b.checks_count, b.failed_checks, b.warn_checks";

async fn records(
    db: &impl GenericClient,
    rows: Vec<tokio_postgres::Row>,
) -> AppResult<Vec<BundleRecord>> {
    use crate::evidence::derived::{CheckRow, Rows, sort};
    let ids: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    let checks = db
        .query(
            "SELECT evidence_id, check_type, host, hipaa_control, status, raw_status, details, checked_at
               FROM evidence_checks WHERE evidence_id = ANY($1)",
            &[&ids],
        )
        .await?;
    let mut by_bundle: std::collections::HashMap<Uuid, Vec<CheckRow>> = Default::default();
    for c in &checks {
        by_bundle.entry(c.get(0)).or_default().push(CheckRow {
            check_type: c.get(1),
            host: c.get(2),
            hipaa_control: c.get(3),
            status: c.get(4),
            raw_status: c.get(5),
            details: c.get(6),
            checked_at: c.get(7),
        });
    }
    Ok(rows
        .iter()
        .map(|r| {
            let id: Uuid = r.get(0);
            let mut checks = by_bundle.remove(&id).unwrap_or_default();
            sort(&mut checks);
            BundleRecord {
                row_id: id,
                bundle_id: r.get(1),
                site_id: r.get(2),
                log_index: r.get(3),
                raw: r.get(4),
                signature: r.get(5),
                chain_position: r.get(6),
                prev_chain_hash: r.get(7),
                chain_hash: r.get(8),
                bundle_hash: r.get(9),
                received_at: r.get(10),
                site_key: r.get(11),
                rows: Rows {
                    checked_at: r.get(12),
                    result: r.get(13),
                    checks_count: i64::from(r.get::<_, i32>(14)),
                    failed_checks: i64::from(r.get::<_, i32>(15)),
                    warn_checks: i64::from(r.get::<_, i32>(16)),
                    checks,
                },
            }
        })
        .collect())
}

/// One bundle of the practice, by the appliance's id.
pub async fn bundle_record(
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &BundleRef<'_>,
) -> AppResult<Option<BundleRecord>> {
    let rows = db
        .query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM evidence_bundles b JOIN sites s ON s.id = b.site_id
                   LEFT JOIN evidence_log_leaves l ON l.bundle_row = b.id
                  WHERE b.client_org_id = $1 AND b.bundle_id = $2
                    AND ($3::uuid IS NULL OR b.site_id = $3)"
            ),
            &[&org_id, &bundle.bundle_id, &bundle.site_id],
        )
        .await?;
    let Some(row) = only_bundle(rows, bundle)? else { return Ok(None) };
    Ok(records(db, vec![row]).await?.into_iter().next())
}

/// The practice's bundles logged at indices `from..to`, by index.
pub async fn bundle_records(
    db: &impl GenericClient,
    org_id: Uuid,
    from: i64,
    to: i64,
) -> AppResult<Vec<BundleRecord>> {
    let rows = db
        .query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM evidence_log_leaves l
                   JOIN evidence_bundles b ON b.id = l.bundle_row JOIN sites s ON s.id = b.site_id
                  WHERE l.client_org_id = $1 AND l.leaf_index >= $2 AND l.leaf_index < $3
                  ORDER BY l.leaf_index"
            ),
            &[&org_id, &from, &to],
        )
        .await?;
    records(db, rows).await
}

/// How many of the practice's stored bundles are not in the log.
pub async fn unlogged_count(db: &impl GenericClient, org_id: Uuid) -> AppResult<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM evidence_bundles b
              WHERE b.client_org_id = $1
                AND NOT EXISTS (SELECT 1 FROM evidence_log_leaves l WHERE l.bundle_row = b.id)",
            &[&org_id],
        )
        .await?
        .get(0))
}

/// Every site's current keys (id → signing key, witness key).
pub async fn current_site_keys(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Vec<(Uuid, String, Vec<u8>, Option<Vec<u8>>)>> {
    Ok(db
        .query(
            "SELECT id, name, agent_public_key, witness_public_key FROM sites WHERE client_org_id = $1",
            &[&org_id],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}

/// Every checkpoint of the practice, smallest first.
pub async fn all_checkpoints(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Vec<StoredCheckpoint>> {
    Ok(db
        .query(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM evidence_log_checkpoints
                  WHERE client_org_id = $1 ORDER BY size, id"
            ),
            &[&org_id],
        )
        .await?
        .iter()
        .map(checkpoint_row)
        .collect())
}

// ---------------------------------------------------------------------------
// Cosignatures (src/evidence/witness.rs)
// ---------------------------------------------------------------------------

/// Keeps a site's cosignature of the checkpoint of `size` leaves (a newer
/// one replaces an older one).
pub async fn put_cosignature(
    db: &impl GenericClient,
    org_id: Uuid,
    size: i64,
    site_id: Uuid,
    cosigned_at: i64,
    line: &str,
) -> AppResult<()> {
    db.execute(
        "INSERT INTO evidence_log_cosignatures (client_org_id, size, site_id, cosigned_at, line)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (client_org_id, size, site_id) DO UPDATE
            SET cosigned_at = EXCLUDED.cosigned_at, line = EXCLUDED.line, received_at = now()
          WHERE evidence_log_cosignatures.cosigned_at < EXCLUDED.cosigned_at",
        &[&org_id, &size, &site_id, &cosigned_at, &line],
    )
    .await?;
    Ok(())
}

/// The cosignature lines held for the checkpoint of `size` leaves.
pub async fn cosignatures(
    db: &impl GenericClient,
    org_id: Uuid,
    size: i64,
) -> AppResult<Vec<String>> {
    Ok(db
        .query(
            "SELECT line FROM evidence_log_cosignatures WHERE client_org_id = $1 AND size = $2
              ORDER BY site_id",
            &[&org_id, &size],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A site of the practice's cosigner key, if it has one.
pub async fn witness_key(db: &impl GenericClient, site_id: Uuid) -> AppResult<Option<Vec<u8>>> {
    Ok(db
        .query_opt("SELECT witness_public_key FROM sites WHERE id = $1", &[&site_id])
        .await?
        .and_then(|r| r.get(0)))
}

/// Records the log's verifier key (once; it never changes).
pub async fn set_vkey(db: &impl GenericClient, org_id: Uuid, vkey: &str) -> AppResult<()> {
    db.execute(
        "UPDATE evidence_logs SET vkey = $2 WHERE client_org_id = $1 AND vkey IS DISTINCT FROM $2",
        &[&org_id, &vkey],
    )
    .await?;
    Ok(())
}

/// The log's recorded verifier key.
pub async fn vkey(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<String>> {
    Ok(db
        .query_opt("SELECT vkey FROM evidence_logs WHERE client_org_id = $1", &[&org_id])
        .await?
        .and_then(|r| r.get(0)))
}

/// The checkpoint that closes `month` (YYYY-MM), if signed.
pub async fn month_end_checkpoint(
    db: &impl GenericClient,
    org_id: Uuid,
    month: &str,
) -> AppResult<Option<StoredCheckpoint>> {
    Ok(db
        .query_opt(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM evidence_log_checkpoints
                  WHERE client_org_id = $1 AND month_end = $2"
            ),
            &[&org_id, &month],
        )
        .await?
        .as_ref()
        .map(checkpoint_row))
}

/// A leaf with when it was logged.
pub struct TimedLeaf {
    pub index: i64,
    pub data: Vec<u8>,
    pub logged_at: DateTime<Utc>,
    pub backfilled: bool,
}

/// The practice's site-key leaves, in order.
pub async fn site_key_leaves(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<TimedLeaf>> {
    Ok(db
        .query(
            "SELECT leaf_index, data, logged_at, backfilled FROM evidence_log_leaves
              WHERE client_org_id = $1 AND kind = 'site_key' ORDER BY leaf_index",
            &[&org_id],
        )
        .await?
        .iter()
        .map(|r| TimedLeaf {
            index: r.get(0),
            data: r.get(1),
            logged_at: r.get(2),
            backfilled: r.get(3),
        })
        .collect())
}

/// When leaf `index` was logged, and whether as backfill.
pub async fn leaf_time(
    db: &impl GenericClient,
    org_id: Uuid,
    index: i64,
) -> AppResult<Option<(DateTime<Utc>, bool)>> {
    Ok(db
        .query_opt(
            "SELECT logged_at, backfilled FROM evidence_log_leaves WHERE client_org_id = $1 AND leaf_index = $2",
            &[&org_id, &index],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// A bundle's log index, if it has one yet.
pub async fn bundle_index_by_row(
    db: &impl GenericClient,
    bundle_row: Uuid,
) -> AppResult<Option<i64>> {
    Ok(db
        .query_opt(
            "SELECT leaf_index FROM evidence_log_leaves WHERE bundle_row = $1",
            &[&bundle_row],
        )
        .await?
        .map(|r| r.get(0)))
}

/// The statement of [`append_leaves`], for callers that prepare it ahead.
///
/// A practice without a log makes it fail (a leaf row without an index
/// breaks its NOT NULL), so a COMMIT sent right behind it never commits
/// what it was to log, unlogged.
pub const APPEND_LEAVES: &str = "WITH l AS (
         UPDATE evidence_logs SET size = size + cardinality($3::bytea[]) WHERE client_org_id = $1
         RETURNING size - cardinality($3::bytea[]) AS first, origin
     ), leaf AS (
         INSERT INTO evidence_log_leaves (client_org_id, leaf_index, kind, data, bundle_row)
         SELECT $1, l.first + x.ord - 1, $2, x.data, x.bundle_row
           FROM unnest($3::bytea[], $4::uuid[]) WITH ORDINALITY AS x(data, bundle_row, ord)
           LEFT JOIN l ON true
     )
     SELECT first, origin FROM l";

/// Stores leaves of one kind (each of bundle `bundle_rows[i]`, if any) at
/// the next indices of the practice's log, in one statement; returns the
/// first index and the log's origin. The log's row stays locked until the
/// transaction ends.
pub async fn append_leaves(
    db: &impl GenericClient,
    statement: &(impl ToStatement + Sync + Send + ?Sized),
    org_id: Uuid,
    kind: &str,
    data: &[&[u8]],
    bundle_rows: &[Option<Uuid>],
) -> AppResult<(i64, String)> {
    let row = db.query_one(statement, &[&org_id, &kind, &data, &bundle_rows]).await?;
    Ok((row.get(0), row.get(1)))
}
