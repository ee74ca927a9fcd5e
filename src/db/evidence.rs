//! Evidence writes: appending a bundle to its site's chain, its checks, and
//! the per-(site, check, host) state that notifications are derived from.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::evidence::bundle::{Check, CheckStatus};

/// A site's identity for ingestion: its practice and its appliance's key.
#[derive(Debug, Clone)]
pub struct SiteKey {
    pub site_id: Uuid,
    pub org_id: Uuid,
    pub public_key: [u8; 32],
    /// Whether the site's practice is active (a suspended or churned one
    /// sends no evidence).
    pub org_active: bool,
}

fn array32(bytes: &[u8], what: &str) -> AppResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| AppError::internal(anyhow::anyhow!("stored {what} is not 32 bytes")))
}

pub async fn site_key(db: &impl GenericClient, site_id: Uuid) -> AppResult<Option<SiteKey>> {
    let row = db
        .query_opt(
            "SELECT s.client_org_id, s.agent_public_key, o.status = 'active'
               FROM sites s JOIN client_orgs o ON o.id = s.client_org_id WHERE s.id = $1",
            &[&site_id],
        )
        .await?;
    row.map(|r| {
        Ok(SiteKey {
            site_id,
            org_id: r.get(0),
            public_key: array32(r.get::<_, &[u8]>(1), "public key")?,
            org_active: r.get(2),
        })
    })
    .transpose()
}

/// A site's name, for notifications about it.
pub async fn site_name(db: &impl GenericClient, site_id: Uuid) -> AppResult<String> {
    Ok(db.query_one("SELECT name FROM sites WHERE id = $1", &[&site_id]).await?.try_get(0)?)
}

/// The end of a site's chain, locked until the transaction ends: this lock
/// is what serializes concurrent appends to one site.
#[derive(Debug, Clone)]
pub struct ChainHead {
    pub length: i64,
    pub head: Option<[u8; 32]>,
}

pub async fn lock_chain_head(db: &impl GenericClient, site_id: Uuid) -> AppResult<ChainHead> {
    let row = db
        .query_one(
            "SELECT chain_length, chain_head_hash FROM sites WHERE id = $1 FOR UPDATE",
            &[&site_id],
        )
        .await?;
    let head: Option<&[u8]> = row.get(1);
    Ok(ChainHead { length: row.get(0), head: head.map(|h| array32(h, "chain head")).transpose()? })
}

/// What was recorded for a bundle id, to answer a resend.
#[derive(Debug, Clone)]
pub struct StoredReceipt {
    pub row_id: Uuid,
    pub site_id: Uuid,
    pub bundle_hash: [u8; 32],
    pub chain_position: i64,
    pub chain_hash: [u8; 32],
    /// Its place in the practice's log (None only before the log existed).
    pub log_index: Option<i64>,
}

/// A bundle named by its appliance id, within a practice: ids are unique
/// per site, so when two sites of the practice used the same id, the site
/// says which.
#[derive(Debug, Clone, Copy)]
pub struct BundleRef<'a> {
    pub bundle_id: &'a str,
    pub site_id: Option<Uuid>,
}

impl<'a> BundleRef<'a> {
    pub fn new(bundle_id: &'a str, site_id: Option<Uuid>) -> Self {
        BundleRef { bundle_id, site_id }
    }
}

/// The one row a [`BundleRef`] query found, if any; a conflict when the id
/// is used at several sites of the practice and no site was named.
pub fn only_bundle(
    mut rows: Vec<tokio_postgres::Row>,
    b: &BundleRef<'_>,
) -> AppResult<Option<tokio_postgres::Row>> {
    if rows.len() > 1 {
        return Err(AppError::Conflict(format!(
            "{} sites of your practice have a bundle with id {}; say which with ?site_id=<site id>",
            rows.len(),
            b.bundle_id
        )));
    }
    Ok(rows.pop())
}

/// A site's bundle with this id, if it has one (ids are unique per site).
pub async fn find_receipt(
    db: &impl GenericClient,
    site_id: Uuid,
    bundle_id: &str,
) -> AppResult<Option<StoredReceipt>> {
    let row = db
        .query_opt(
            "SELECT b.site_id, b.bundle_hash, b.chain_position, b.chain_hash, l.leaf_index, b.id
               FROM evidence_bundles b LEFT JOIN evidence_log_leaves l ON l.bundle_row = b.id
              WHERE b.site_id = $1 AND b.bundle_id = $2",
            &[&site_id, &bundle_id],
        )
        .await?;
    row.map(|r| {
        Ok(StoredReceipt {
            site_id: r.get(0),
            bundle_hash: array32(r.get::<_, &[u8]>(1), "bundle hash")?,
            chain_position: r.get(2),
            chain_hash: array32(r.get::<_, &[u8]>(3), "chain hash")?,
            log_index: r.get(4),
            row_id: r.get(5),
        })
    })
    .transpose()
}

pub struct NewBundle<'a> {
    pub bundle_id: &'a str,
    pub site_id: Uuid,
    pub org_id: Uuid,
    pub checked_at: DateTime<Utc>,
    pub result: CheckStatus,
    pub checks_count: i32,
    pub failed_checks: i32,
    pub warn_checks: i32,
    pub raw: &'a [u8],
    pub bundle_hash: [u8; 32],
    pub signature: [u8; 64],
    pub chain_position: i64,
    pub prev_chain_hash: [u8; 32],
    pub chain_hash: [u8; 32],
    /// When it arrived: now, unless the demo's seeding says otherwise.
    pub received_at: Option<DateTime<Utc>>,
}

/// Stores a bundle; returns its row id and when it was received.
pub async fn insert_bundle(
    db: &impl GenericClient,
    b: &NewBundle<'_>,
) -> AppResult<(Uuid, DateTime<Utc>)> {
    let row = db
        .query_one(
            "INSERT INTO evidence_bundles
               (bundle_id, site_id, client_org_id, checked_at, result, checks_count, failed_checks, warn_checks,
                raw, bundle_hash, signature, chain_position, prev_chain_hash, chain_hash, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, COALESCE($15, now()))
             RETURNING id, received_at",
            &[
                &b.bundle_id,
                &b.site_id,
                &b.org_id,
                &b.checked_at,
                &b.result.as_str(),
                &b.checks_count,
                &b.failed_checks,
                &b.warn_checks,
                &b.raw,
                &b.bundle_hash.as_slice(),
                &b.signature.as_slice(),
                &b.chain_position,
                &b.prev_chain_hash.as_slice(),
                &b.chain_hash.as_slice(),
                &b.received_at,
            ],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// All checks of a bundle in one statement (arrays unnested server-side).
pub async fn insert_checks(
    db: &impl GenericClient,
    evidence_id: Uuid,
    site_id: Uuid,
    org_id: Uuid,
    checked_at: DateTime<Utc>,
    checks: &[Check],
) -> AppResult<()> {
    let types: Vec<&str> = checks.iter().map(|c| c.check.as_str()).collect();
    let hosts: Vec<&str> = checks.iter().map(|c| c.host.as_str()).collect();
    let controls: Vec<Option<&str>> = checks.iter().map(|c| c.hipaa_control.as_deref()).collect();
    let statuses: Vec<&str> = checks.iter().map(|c| c.status.as_str()).collect();
    let raw_statuses: Vec<&str> = checks.iter().map(|c| c.raw_status.as_str()).collect();
    let details: Vec<&serde_json::Value> = checks.iter().map(|c| &c.details).collect();
    db.execute(
        "INSERT INTO evidence_checks
           (evidence_id, site_id, client_org_id, checked_at, check_type, host, hipaa_control, status, raw_status, details)
         SELECT $1, $2, $3, $4, t, h, c, s, r, d
           FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[]) AS x(t, h, c, s, r, d)",
        &[&evidence_id, &site_id, &org_id, &checked_at, &types, &hosts, &controls, &statuses, &raw_statuses, &details],
    )
    .await?;
    Ok(())
}

/// Moves the site's chain head forward after an append.
pub async fn advance_chain(
    db: &impl GenericClient,
    site_id: Uuid,
    length: i64,
    head: &[u8; 32],
    checked_at: DateTime<Utc>,
) -> AppResult<()> {
    db.execute(
        "UPDATE sites SET chain_length = $2, chain_head_hash = $3,
                last_evidence_at = GREATEST(last_evidence_at, $4)
          WHERE id = $1",
        &[&site_id, &length, &head.as_slice(), &checked_at],
    )
    .await?;
    Ok(())
}

/// The last known state of one (site, check, host).
#[derive(Debug, Clone)]
pub struct PriorState {
    pub check_type: String,
    pub host: String,
    pub status: CheckStatus,
    pub last_seen_at: DateTime<Utc>,
}

/// Records the bundle's results as the latest state of its checks, except
/// where a newer bundle already said more (bundles may arrive out of order),
/// and answers what those (check, host) pairs were before. One statement:
/// the read and the write see the same snapshot whatever else is
/// pipelined on the connection (two statements sent together could run in
/// either order, and a check read after its own update never changes).
/// Two bundles of one site are already serialized by the chain lock.
pub async fn record_check_states(
    db: &impl GenericClient,
    site_id: Uuid,
    evidence_id: Uuid,
    checked_at: DateTime<Utc>,
    checks: &[Check],
) -> AppResult<Vec<PriorState>> {
    let types: Vec<&str> = checks.iter().map(|c| c.check.as_str()).collect();
    let hosts: Vec<&str> = checks.iter().map(|c| c.host.as_str()).collect();
    let statuses: Vec<&str> = checks.iter().map(|c| c.status.as_str()).collect();
    let rows = db
        .query(
            "WITH prior AS (
                 SELECT s.check_type, s.host, s.last_status, s.last_seen_at
                   FROM check_states s
                   JOIN unnest($4::text[], $5::text[]) AS k(t, h) ON s.check_type = k.t AND s.host = k.h
                  WHERE s.site_id = $1),
             recorded AS (
                 INSERT INTO check_states AS cs
                        (site_id, check_type, host, last_status, last_evidence_id, changed_at, last_seen_at)
                 SELECT $1, t, h, s, $2, $3, $3 FROM unnest($4::text[], $5::text[], $6::text[]) AS x(t, h, s)
                 ON CONFLICT (site_id, check_type, host) DO UPDATE
                    SET changed_at = CASE WHEN cs.last_status = EXCLUDED.last_status
                                          THEN cs.changed_at ELSE EXCLUDED.changed_at END,
                        last_status = EXCLUDED.last_status,
                        last_evidence_id = EXCLUDED.last_evidence_id,
                        last_seen_at = EXCLUDED.last_seen_at
                  WHERE cs.last_seen_at <= EXCLUDED.last_seen_at)
             SELECT check_type, host, last_status, last_seen_at FROM prior",
            &[&site_id, &evidence_id, &checked_at, &types, &hosts, &statuses],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PriorState {
                check_type: r.get(0),
                host: r.get(1),
                status: r.get::<_, &str>(2).parse().map_err(|_| {
                    AppError::internal(anyhow::anyhow!("stored check status is not pass/warn/fail"))
                })?,
                last_seen_at: r.get(3),
            })
        })
        .collect()
}

/// One stored link of a site's chain, as verification reads it.
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub position: i64,
    pub bundle_id: String,
    pub raw: Vec<u8>,
    pub bundle_hash: Vec<u8>,
    pub prev_chain_hash: Vec<u8>,
    pub chain_hash: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Drops the cached monthly report of a finished month that a late bundle
/// (checked in that month, arriving after it) belongs to, so the report
/// list and the next download make it again with the bundle in it.
pub async fn forget_cached_report(
    db: &impl GenericClient,
    org_id: Uuid,
    checked_at: DateTime<Utc>,
) -> AppResult<()> {
    db.execute(
        "DELETE FROM client_monthly_reports
          WHERE client_org_id = $1
            AND month = date_trunc('month', $2 AT TIME ZONE 'UTC')::date
            AND month < date_trunc('month', now() AT TIME ZONE 'UTC')::date",
        &[&org_id, &checked_at],
    )
    .await?;
    Ok(())
}

/// A site's chain in position order, `batch` links at a time starting after
/// `after` (keyset over the unique (site_id, chain_position) index).
pub async fn chain_batch(
    db: &impl GenericClient,
    site_id: Uuid,
    after: i64,
    up_to: Option<i64>,
    batch: i64,
) -> AppResult<Vec<LinkRow>> {
    let rows = db
        .query(
            "SELECT chain_position, bundle_id, raw, bundle_hash, prev_chain_hash, chain_hash, signature
               FROM evidence_bundles
              WHERE site_id = $1 AND chain_position > $2 AND ($3::bigint IS NULL OR chain_position <= $3)
              ORDER BY chain_position
              LIMIT $4",
            &[&site_id, &after, &up_to, &batch],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| LinkRow {
            position: r.get(0),
            bundle_id: r.get(1),
            raw: r.get(2),
            bundle_hash: r.get(3),
            prev_chain_hash: r.get(4),
            chain_hash: r.get(5),
            signature: r.get(6),
        })
        .collect())
}

/// The site's recorded chain length and head, for the end of a verification.
pub async fn recorded_head(
    db: &impl GenericClient,
    site_id: Uuid,
) -> AppResult<Option<(i64, Option<Vec<u8>>)>> {
    let row = db
        .query_opt("SELECT chain_length, chain_head_hash FROM sites WHERE id = $1", &[&site_id])
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// What verifying one bundle needs, if the bundle belongs to the practice.
#[derive(Debug, Clone)]
pub struct BundleToVerify {
    pub site_id: Uuid,
    pub chain_position: i64,
    pub raw: Vec<u8>,
    pub signature: Vec<u8>,
    pub site_public_key: Vec<u8>,
}

pub async fn bundle_to_verify(
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &BundleRef<'_>,
) -> AppResult<Option<BundleToVerify>> {
    let rows = db
        .query(
            "SELECT b.site_id, b.chain_position, b.raw, b.signature, s.agent_public_key
               FROM evidence_bundles b JOIN sites s ON s.id = b.site_id
              WHERE b.bundle_id = $1 AND b.client_org_id = $2 AND ($3::uuid IS NULL OR b.site_id = $3)",
            &[&bundle.bundle_id, &org_id, &bundle.site_id],
        )
        .await?;
    let row = only_bundle(rows, bundle)?;
    Ok(row.map(|r| BundleToVerify {
        site_id: r.get(0),
        chain_position: r.get(1),
        raw: r.get(2),
        signature: r.get(3),
        site_public_key: r.get(4),
    }))
}
