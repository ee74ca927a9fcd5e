//! Auditor packs and full exports as jobs (src/packs.rs).

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::AppResult;

/// A pack job as stored.
#[derive(Debug, Clone)]
pub struct Pack {
    pub id: Uuid,
    pub kind: String,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub site_ids: Option<Vec<Uuid>>,
    pub requested_by: Option<Uuid>,
    pub status: String,
    pub done: i64,
    pub total: i64,
    pub bytes: Option<i64>,
    pub sha256: Option<Vec<u8>>,
    pub bundles: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, kind, period_from, period_to, site_ids, requested_by, status, done, total, \
                       bytes, sha256, bundles, error, created_at, heartbeat_at, finished_at, expires_at";

fn pack(r: &Row) -> Pack {
    Pack {
        id: r.get(0),
        kind: r.get(1),
        period_from: r.get(2),
        period_to: r.get(3),
        site_ids: r.get(4),
        requested_by: r.get(5),
        status: r.get(6),
        done: r.get(7),
        total: r.get(8),
        bytes: r.get(9),
        sha256: r.get(10),
        bundles: r.get(11),
        error: r.get(12),
        created_at: r.get(13),
        heartbeat_at: r.get(14),
        finished_at: r.get(15),
        expires_at: r.get(16),
    }
}

/// A pack to build.
pub struct NewPack<'a> {
    pub org_id: Uuid,
    pub kind: &'a str,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub site_ids: Option<&'a [Uuid]>,
    pub requested_by: Uuid,
}

/// Marks the practice's building pack failed when its builder has not been
/// heard from for `stale_secs` (the portal stopped while building).
pub async fn fail_stale(db: &impl GenericClient, org_id: Uuid, stale_secs: i64) -> AppResult<u64> {
    Ok(db
        .execute(
            "UPDATE audit_packs SET status = 'failed', finished_at = now(),
                    error = 'interrupted (the portal stopped while building it); ask for it again'
              WHERE client_org_id = $1 AND status = 'building'
                AND heartbeat_at < now() - make_interval(secs => $2)",
            &[&org_id, &(stale_secs as f64)],
        )
        .await?)
}

/// Inserts a building pack; None while another of the practice builds.
pub async fn insert(db: &impl GenericClient, p: &NewPack<'_>) -> AppResult<Option<Pack>> {
    Ok(db
        .query_opt(
            &format!(
                "INSERT INTO audit_packs (client_org_id, kind, period_from, period_to, site_ids, requested_by)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (client_org_id) WHERE status = 'building' DO NOTHING
                 RETURNING {COLUMNS}"
            ),
            &[&p.org_id, &p.kind, &p.period_from, &p.period_to, &p.site_ids, &p.requested_by],
        )
        .await?
        .as_ref()
        .map(pack))
}

/// The practice's building pack.
pub async fn building(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<Pack>> {
    Ok(db
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM audit_packs WHERE client_org_id = $1 AND status = 'building'"
            ),
            &[&org_id],
        )
        .await?
        .as_ref()
        .map(pack))
}

pub async fn get(db: &impl GenericClient, org_id: Uuid, id: Uuid) -> AppResult<Option<Pack>> {
    Ok(db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM audit_packs WHERE id = $1 AND client_org_id = $2"),
            &[&id, &org_id],
        )
        .await?
        .as_ref()
        .map(pack))
}

/// The practice's packs, newest first (only `requested_by`'s when given).
pub async fn list(
    db: &impl GenericClient,
    org_id: Uuid,
    requested_by: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<Pack>> {
    Ok(db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM audit_packs
                  WHERE client_org_id = $1 AND ($2::uuid IS NULL OR requested_by = $2)
                  ORDER BY created_at DESC LIMIT $3"
            ),
            &[&org_id, &requested_by, &limit],
        )
        .await?
        .iter()
        .map(pack)
        .collect())
}

pub async fn progress(db: &impl GenericClient, id: Uuid, done: i64, total: i64) -> AppResult<()> {
    db.execute(
        "UPDATE audit_packs SET done = $2, total = $3, heartbeat_at = now()
          WHERE id = $1 AND status = 'building'",
        &[&id, &done, &total],
    )
    .await?;
    Ok(())
}

pub async fn finish(
    db: &impl GenericClient,
    id: Uuid,
    bytes: i64,
    sha256: &[u8],
    bundles: i64,
) -> AppResult<bool> {
    Ok(db
        .execute(
            "UPDATE audit_packs SET status = 'ready', bytes = $2, sha256 = $3, bundles = $4,
                    done = total, finished_at = now(), expires_at = now() + interval '7 days'
              WHERE id = $1 AND status = 'building'",
            &[&id, &bytes, &sha256, &bundles],
        )
        .await?
        == 1)
}

pub async fn fail(db: &impl GenericClient, id: Uuid, error: &str) -> AppResult<()> {
    db.execute(
        "UPDATE audit_packs SET status = 'failed', error = $2, finished_at = now()
          WHERE id = $1 AND status = 'building'",
        &[&id, &error],
    )
    .await?;
    Ok(())
}

/// Marks every pack past its expiry expired; returns their ids (whose
/// files are to be removed).
pub async fn expire(db: &impl GenericClient) -> AppResult<Vec<Uuid>> {
    Ok(db
        .query(
            "UPDATE audit_packs SET status = 'expired'
              WHERE status IN ('ready', 'failed') AND expires_at <= now() RETURNING id",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// One bundle as a pack carries it.
#[derive(Debug, Clone)]
pub struct PackBundle {
    pub site_id: Uuid,
    pub position: i64,
    pub bundle_id: String,
    pub raw: Vec<u8>,
    pub leaf_index: i64,
    pub leaf: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// The day the practice's first bundle was checked (in the database's time
/// zone); None without evidence. A pack's reports start from its month.
pub async fn first_evidence_day(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Option<NaiveDate>> {
    Ok(db
        .query_one(
            "SELECT min(checked_at)::date FROM evidence_bundles WHERE client_org_id = $1",
            &[&org_id],
        )
        .await?
        .get(0))
}

/// Per site in scope, the chain positions from the first to the last
/// bundle checked in `[from, to)` (every position when both are None).
pub async fn position_ranges(
    db: &impl GenericClient,
    org_id: Uuid,
    site_ids: Option<&[Uuid]>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> AppResult<Vec<(Uuid, i64, i64)>> {
    Ok(db
        .query(
            "SELECT site_id, min(chain_position), max(chain_position) FROM evidence_bundles
              WHERE client_org_id = $1 AND ($2::uuid[] IS NULL OR site_id = ANY($2))
                AND ($3::timestamptz IS NULL OR checked_at >= $3)
                AND ($4::timestamptz IS NULL OR checked_at < $4)
              GROUP BY site_id ORDER BY site_id",
            &[&org_id, &site_ids, &from, &to],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Up to `limit` logged bundles of `site_id` at positions `after+1..=last`
/// whose leaf is in the first `size` leaves, by position.
pub async fn bundles(
    db: &impl GenericClient,
    site_id: Uuid,
    after: i64,
    last: i64,
    size: i64,
    limit: i64,
) -> AppResult<Vec<PackBundle>> {
    Ok(db
        .query(
            "SELECT b.site_id, b.chain_position, b.bundle_id, b.raw, l.leaf_index, l.data, b.received_at
               FROM evidence_bundles b JOIN evidence_log_leaves l ON l.bundle_row = b.id
              WHERE b.site_id = $1 AND b.chain_position > $2 AND b.chain_position <= $3
                AND l.leaf_index < $4
              ORDER BY b.chain_position LIMIT $5",
            &[&site_id, &after, &last, &size, &limit],
        )
        .await?
        .iter()
        .map(|r| PackBundle {
            site_id: r.get(0),
            position: r.get(1),
            bundle_id: r.get(2),
            raw: r.get(3),
            leaf_index: r.get(4),
            leaf: r.get(5),
            received_at: r.get(6),
        })
        .collect())
}

/// The practice's report leaves in the first `size` leaves: (index, data).
pub async fn report_leaves(
    db: &impl GenericClient,
    org_id: Uuid,
    size: i64,
) -> AppResult<Vec<(i64, Vec<u8>)>> {
    Ok(db
        .query(
            "SELECT leaf_index, data FROM evidence_log_leaves
              WHERE client_org_id = $1 AND kind = 'report' AND leaf_index < $2 ORDER BY leaf_index",
            &[&org_id, &size],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}
