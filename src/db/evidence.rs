//! Evidence writes: appending a bundle to its site's chain, its checks, and
//! the per-(site, check, host) state that notifications are derived from.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
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
    Ok(site_keys(db, &[site_id]).await?.remove(&site_id))
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
    lock_chain_heads(db, &[site_id])
        .await?
        .remove(&site_id)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no site {site_id} to append to")))
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
    Ok(find_receipts(db, &[(site_id, bundle_id)]).await?.into_values().next())
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
    insert_bundles(db, std::slice::from_ref(b))
        .await?
        .pop()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("an inserted bundle was not returned")))
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
    insert_checks_of(db, &[ChecksOf { evidence_id, site_id, org_id, checked_at, checks }]).await
}

/// Moves the site's chain head forward after an append.
pub async fn advance_chain(
    db: &impl GenericClient,
    site_id: Uuid,
    length: i64,
    head: &[u8; 32],
    checked_at: DateTime<Utc>,
) -> AppResult<()> {
    advance_chains(db, &[(site_id, length, *head, checked_at)]).await
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
        .query_typed(
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
            &[
                (&site_id, Type::UUID),
                (&evidence_id, Type::UUID),
                (&checked_at, Type::TIMESTAMPTZ),
                (&types, Type::TEXT_ARRAY),
                (&hosts, Type::TEXT_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
            ],
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
    forget_cached_reports(db, &[(org_id, checked_at)]).await
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

/// The identity of every site named, for a batch of bundles (one query);
/// unknown ids are simply absent.
pub async fn site_keys(
    db: &impl GenericClient,
    site_ids: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, SiteKey>> {
    let rows = db
        .query_typed(
            "SELECT s.id, s.client_org_id, s.agent_public_key, o.status = 'active'
               FROM sites s JOIN client_orgs o ON o.id = s.client_org_id WHERE s.id = ANY($1)",
            &[(&site_ids, Type::UUID_ARRAY)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let site_id: Uuid = r.get(0);
            Ok((
                site_id,
                SiteKey {
                    site_id,
                    org_id: r.get(1),
                    public_key: array32(r.get::<_, &[u8]>(2), "public key")?,
                    org_active: r.get(3),
                },
            ))
        })
        .collect()
}

/// The ends of several sites' chains, locked in id order (so two batches
/// naming the same sites never wait for each other in a cycle) until the
/// transaction ends.
pub async fn lock_chain_heads(
    db: &impl GenericClient,
    site_ids: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, ChainHead>> {
    let rows = db
        .query_typed(
            "SELECT id, chain_length, chain_head_hash FROM sites WHERE id = ANY($1)
              ORDER BY id FOR UPDATE",
            &[(&site_ids, Type::UUID_ARRAY)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let head: Option<&[u8]> = r.get(2);
            Ok((
                r.get(0),
                ChainHead {
                    length: r.get(1),
                    head: head.map(|h| array32(h, "chain head")).transpose()?,
                },
            ))
        })
        .collect()
}

/// What was recorded for each (site, bundle id) named, keyed so; one query.
pub async fn find_receipts(
    db: &impl GenericClient,
    keys: &[(Uuid, &str)],
) -> AppResult<std::collections::HashMap<(Uuid, String), StoredReceipt>> {
    let sites: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let rows = db
        .query_typed(
            "SELECT b.site_id, b.bundle_hash, b.chain_position, b.chain_hash, l.leaf_index, b.id,
                    b.bundle_id
               FROM unnest($1::uuid[], $2::text[]) AS k(site_id, bundle_id)
               JOIN evidence_bundles b ON b.site_id = k.site_id AND b.bundle_id = k.bundle_id
               LEFT JOIN evidence_log_leaves l ON l.bundle_row = b.id",
            &[(&sites, Type::UUID_ARRAY), (&ids, Type::TEXT_ARRAY)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let receipt = StoredReceipt {
                site_id: r.get(0),
                bundle_hash: array32(r.get::<_, &[u8]>(1), "bundle hash")?,
                chain_position: r.get(2),
                chain_hash: array32(r.get::<_, &[u8]>(3), "chain hash")?,
                log_index: r.get(4),
                row_id: r.get(5),
            };
            Ok(((receipt.site_id, r.get::<_, String>(6)), receipt))
        })
        .collect()
}

/// Stores bundles in one statement; returns each one's row id and receive
/// time, in the order given.
pub async fn insert_bundles(
    db: &impl GenericClient,
    bundles: &[NewBundle<'_>],
) -> AppResult<Vec<(Uuid, DateTime<Utc>)>> {
    let col = |f: fn(&NewBundle<'_>) -> Vec<u8>| bundles.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<&str> = bundles.iter().map(|b| b.bundle_id).collect();
    let sites: Vec<Uuid> = bundles.iter().map(|b| b.site_id).collect();
    let orgs: Vec<Uuid> = bundles.iter().map(|b| b.org_id).collect();
    let checked: Vec<DateTime<Utc>> = bundles.iter().map(|b| b.checked_at).collect();
    let results: Vec<&str> = bundles.iter().map(|b| b.result.as_str()).collect();
    let counts: Vec<i32> = bundles.iter().map(|b| b.checks_count).collect();
    let failed: Vec<i32> = bundles.iter().map(|b| b.failed_checks).collect();
    let warned: Vec<i32> = bundles.iter().map(|b| b.warn_checks).collect();
    let raws: Vec<&[u8]> = bundles.iter().map(|b| b.raw).collect();
    let hashes = col(|b| b.bundle_hash.to_vec());
    let signatures = col(|b| b.signature.to_vec());
    let positions: Vec<i64> = bundles.iter().map(|b| b.chain_position).collect();
    let prevs = col(|b| b.prev_chain_hash.to_vec());
    let chains = col(|b| b.chain_hash.to_vec());
    let received: Vec<Option<DateTime<Utc>>> = bundles.iter().map(|b| b.received_at).collect();
    let rows = db
        .query_typed(
            "INSERT INTO evidence_bundles
               (bundle_id, site_id, client_org_id, checked_at, result, checks_count, failed_checks,
                warn_checks, raw, bundle_hash, signature, chain_position, prev_chain_hash, chain_hash,
                received_at)
             SELECT i, s, o, c, r, n, f, w, raw, h, sig, p, prev, ch, COALESCE(rec, now())
               FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[],
                           $6::int[], $7::int[], $8::int[], $9::bytea[], $10::bytea[], $11::bytea[],
                           $12::bigint[], $13::bytea[], $14::bytea[], $15::timestamptz[])
                    AS x(i, s, o, c, r, n, f, w, raw, h, sig, p, prev, ch, rec)
             RETURNING id, site_id, chain_position, received_at",
            &[
                (&ids, Type::TEXT_ARRAY),
                (&sites, Type::UUID_ARRAY),
                (&orgs, Type::UUID_ARRAY),
                (&checked, Type::TIMESTAMPTZ_ARRAY),
                (&results, Type::TEXT_ARRAY),
                (&counts, Type::INT4_ARRAY),
                (&failed, Type::INT4_ARRAY),
                (&warned, Type::INT4_ARRAY),
                (&raws, Type::BYTEA_ARRAY),
                (&hashes, Type::BYTEA_ARRAY),
                (&signatures, Type::BYTEA_ARRAY),
                (&positions, Type::INT8_ARRAY),
                (&prevs, Type::BYTEA_ARRAY),
                (&chains, Type::BYTEA_ARRAY),
                (&received, Type::TIMESTAMPTZ_ARRAY),
            ],
        )
        .await?;
    let by_link: std::collections::HashMap<(Uuid, i64), (Uuid, DateTime<Utc>)> =
        rows.iter().map(|r| ((r.get(1), r.get(2)), (r.get(0), r.get(3)))).collect();
    bundles
        .iter()
        .map(|b| {
            by_link.get(&(b.site_id, b.chain_position)).copied().ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("an inserted bundle was not returned"))
            })
        })
        .collect()
}

/// A stored bundle's checks, with what each check row repeats of it.
pub struct ChecksOf<'a> {
    pub evidence_id: Uuid,
    pub site_id: Uuid,
    pub org_id: Uuid,
    pub checked_at: DateTime<Utc>,
    pub checks: &'a [Check],
}

/// The checks of several stored bundles in one statement.
pub async fn insert_checks_of(db: &impl GenericClient, bundles: &[ChecksOf<'_>]) -> AppResult<()> {
    let total: usize = bundles.iter().map(|b| b.checks.len()).sum();
    let mut evidence = Vec::with_capacity(total);
    let mut sites = Vec::with_capacity(total);
    let mut orgs = Vec::with_capacity(total);
    let mut times = Vec::with_capacity(total);
    let mut types: Vec<&str> = Vec::with_capacity(total);
    let mut hosts: Vec<&str> = Vec::with_capacity(total);
    let mut controls: Vec<Option<&str>> = Vec::with_capacity(total);
    let mut statuses: Vec<&str> = Vec::with_capacity(total);
    let mut raw_statuses: Vec<&str> = Vec::with_capacity(total);
    let mut details: Vec<&serde_json::Value> = Vec::with_capacity(total);
    for b in bundles {
        for c in b.checks {
            evidence.push(b.evidence_id);
            sites.push(b.site_id);
            orgs.push(b.org_id);
            times.push(b.checked_at);
            types.push(c.check.as_str());
            hosts.push(c.host.as_str());
            controls.push(c.hipaa_control.as_deref());
            statuses.push(c.status.as_str());
            raw_statuses.push(c.raw_status.as_str());
            details.push(&c.details);
        }
    }
    db.query_typed(
        "INSERT INTO evidence_checks
           (evidence_id, site_id, client_org_id, checked_at, check_type, host, hipaa_control, status,
            raw_status, details)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[])",
        &[
            (&evidence, Type::UUID_ARRAY),
            (&sites, Type::UUID_ARRAY),
            (&orgs, Type::UUID_ARRAY),
            (&times, Type::TIMESTAMPTZ_ARRAY),
            (&types, Type::TEXT_ARRAY),
            (&hosts, Type::TEXT_ARRAY),
            (&controls, Type::TEXT_ARRAY),
            (&statuses, Type::TEXT_ARRAY),
            (&raw_statuses, Type::TEXT_ARRAY),
            (&details, Type::JSONB_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

/// Moves several sites' chain heads forward (one statement): each entry is
/// (site, new length, new head, its latest check time in the batch).
pub async fn advance_chains(
    db: &impl GenericClient,
    heads: &[(Uuid, i64, [u8; 32], DateTime<Utc>)],
) -> AppResult<()> {
    let sites: Vec<Uuid> = heads.iter().map(|h| h.0).collect();
    let lengths: Vec<i64> = heads.iter().map(|h| h.1).collect();
    let hashes: Vec<&[u8]> = heads.iter().map(|h| h.2.as_slice()).collect();
    let times: Vec<DateTime<Utc>> = heads.iter().map(|h| h.3).collect();
    db.query_typed(
        "UPDATE sites SET chain_length = x.n, chain_head_hash = x.h,
                last_evidence_at = GREATEST(last_evidence_at, x.t)
           FROM unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::timestamptz[]) AS x(id, n, h, t)
          WHERE sites.id = x.id",
        &[
            (&sites, Type::UUID_ARRAY),
            (&lengths, Type::INT8_ARRAY),
            (&hashes, Type::BYTEA_ARRAY),
            (&times, Type::TIMESTAMPTZ_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

/// [`forget_cached_report`] for several (practice, check time) pairs.
pub async fn forget_cached_reports(
    db: &impl GenericClient,
    pairs: &[(Uuid, DateTime<Utc>)],
) -> AppResult<()> {
    let orgs: Vec<Uuid> = pairs.iter().map(|p| p.0).collect();
    let times: Vec<DateTime<Utc>> = pairs.iter().map(|p| p.1).collect();
    db.query_typed(
        "DELETE FROM client_monthly_reports r
          USING (SELECT DISTINCT o, date_trunc('month', t AT TIME ZONE 'UTC')::date AS m
                   FROM unnest($1::uuid[], $2::timestamptz[]) AS x(o, t)) AS x
          WHERE r.client_org_id = x.o AND r.month = x.m
            AND r.month < date_trunc('month', now() AT TIME ZONE 'UTC')::date",
        &[(&orgs, Type::UUID_ARRAY), (&times, Type::TIMESTAMPTZ_ARRAY)],
    )
    .await?;
    Ok(())
}

/// A (site, check, host)'s recorded state, as a batch reads and writes it.
#[derive(Debug, Clone)]
pub struct CheckState {
    pub status: CheckStatus,
    pub evidence_id: Uuid,
    pub changed_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// The recorded states of the (site, check, host) keys named (one query).
pub async fn check_states(
    db: &impl GenericClient,
    keys: &[(Uuid, &str, &str)],
) -> AppResult<std::collections::HashMap<(Uuid, String, String), CheckState>> {
    let sites: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let types: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let hosts: Vec<&str> = keys.iter().map(|k| k.2).collect();
    let rows = db
        .query(
            "SELECT s.site_id, s.check_type, s.host, s.last_status, s.last_evidence_id,
                    s.changed_at, s.last_seen_at
               FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k(site_id, t, h)
               JOIN check_states s ON s.site_id = k.site_id AND s.check_type = k.t AND s.host = k.h",
            &[&sites, &types, &hosts],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let status = r.get::<_, &str>(3).parse().map_err(|_| {
                AppError::internal(anyhow::anyhow!("stored check status is not pass/warn/fail"))
            })?;
            Ok((
                (r.get(0), r.get(1), r.get(2)),
                CheckState {
                    status,
                    evidence_id: r.get(4),
                    changed_at: r.get(5),
                    last_seen_at: r.get(6),
                },
            ))
        })
        .collect()
}

/// Writes the states a batch worked out (one statement; each key once).
pub async fn put_check_states(
    db: &impl GenericClient,
    states: &[((Uuid, String, String), CheckState)],
) -> AppResult<()> {
    let sites: Vec<Uuid> = states.iter().map(|s| s.0.0).collect();
    let types: Vec<&str> = states.iter().map(|s| s.0.1.as_str()).collect();
    let hosts: Vec<&str> = states.iter().map(|s| s.0.2.as_str()).collect();
    let statuses: Vec<&str> = states.iter().map(|s| s.1.status.as_str()).collect();
    let evidence: Vec<Uuid> = states.iter().map(|s| s.1.evidence_id).collect();
    let changed: Vec<DateTime<Utc>> = states.iter().map(|s| s.1.changed_at).collect();
    let seen: Vec<DateTime<Utc>> = states.iter().map(|s| s.1.last_seen_at).collect();
    db.execute(
        "INSERT INTO check_states AS cs
                (site_id, check_type, host, last_status, last_evidence_id, changed_at, last_seen_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[],
                              $6::timestamptz[], $7::timestamptz[])
         ON CONFLICT (site_id, check_type, host) DO UPDATE
            SET last_status = EXCLUDED.last_status,
                last_evidence_id = EXCLUDED.last_evidence_id,
                changed_at = EXCLUDED.changed_at,
                last_seen_at = EXCLUDED.last_seen_at",
        &[&sites, &types, &hosts, &statuses, &evidence, &changed, &seen],
    )
    .await?;
    Ok(())
}
