//! The read side of compliance data: dashboards, site detail, score history
//! and the evidence browser. Every function takes the caller's org and
//! scopes its query to it, so another practice's ids simply find nothing.
//!
//! Scores follow docs/EVIDENCE.md (the compliance score): the latest status per
//! (site, check, host) inside a window (SCORE_WINDOW_DAYS) ending at some
//! moment. For "now", `check_states` already holds each pair's newest
//! status and when it was checked. For a past moment (history), the pairs
//! come from `check_states` (one row per pair ever seen) and each pair's
//! latest row inside the window is one index probe on
//! `evidence_checks_site_check_host_idx` (`ORDER BY checked_at DESC LIMIT 1`).
//! The arithmetic is [`crate::evidence::score`]'s.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::cursor::cut_page;
use super::sql::Statement;
use crate::db::evidence::{BundleRef, only_bundle};
use crate::error::{AppError, AppResult};
use crate::evidence::bundle::CheckStatus;
use crate::evidence::score::{self, Tally};

/// Days of evidence a score looks back over.
pub const SCORE_WINDOW_DAYS: i32 = 30;

/// A site whose newest evidence is younger than this is online.
pub const ONLINE_WITHIN_HOURS: i32 = 24;

/// Longest score history served: seven years (HIPAA keeps records six).
pub const MAX_HISTORY_DAYS: u32 = 2555;

/// The label for checks that name no HIPAA control.
pub const UNMAPPED_CONTROL: &str = "Unmapped";

/// Whether a site's appliance is reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteStatus {
    /// Evidence checked within the last [`ONLINE_WITHIN_HOURS`].
    Online,
    /// Evidence exists, but none that recent.
    Silent,
    /// The site has never sent evidence.
    NoData,
}

impl SiteStatus {
    /// The word used in the API and on pages: `online`, `silent`, `no_data`.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteStatus::Online => "online",
            SiteStatus::Silent => "silent",
            SiteStatus::NoData => "no_data",
        }
    }

    fn parse(raw: &str) -> AppResult<SiteStatus> {
        match raw {
            "online" => Ok(SiteStatus::Online),
            "silent" => Ok(SiteStatus::Silent),
            "no_data" => Ok(SiteStatus::NoData),
            other => Err(AppError::internal(anyhow::anyhow!("unexpected site status {other:?}"))),
        }
    }
}

/// The practice as its dashboard names it.
#[derive(Debug, Clone)]
pub struct OrgInfo {
    pub id: Uuid,
    pub name: String,
    /// None when OsirisCare serves the practice directly.
    pub partner_name: Option<String>,
}

/// One site with its reporting status and current (30-day) tally.
#[derive(Debug, Clone)]
pub struct SiteSummary {
    pub site_id: Uuid,
    pub clinic_name: String,
    pub status: SiteStatus,
    /// Bundles in the site's chain (its length: positions have no gaps).
    pub evidence_count: i64,
    /// `checked_at` of the site's newest bundle.
    pub last_evidence: Option<DateTime<Utc>>,
    pub tally: Tally,
}

impl SiteSummary {
    /// The site's compliance score; None means no data.
    pub fn score(&self) -> Option<f64> {
        score::score(&self.tally)
    }
}

/// The latest result of one check on one host.
#[derive(Debug, Clone)]
pub struct LatestCheck {
    pub check_type: String,
    pub host: String,
    pub status: CheckStatus,
    pub checked_at: DateTime<Utc>,
    /// The appliance's id of the bundle that carried this result.
    pub bundle_id: String,
}

/// The latest checks of a site that share a HIPAA control.
#[derive(Debug, Clone)]
pub struct ControlGroup {
    /// The control id, or [`UNMAPPED_CONTROL`].
    pub hipaa_control: String,
    pub tally: Tally,
    /// Sorted by check type, then host.
    pub checks: Vec<LatestCheck>,
}

/// One day of score history (UTC days).
#[derive(Debug, Clone)]
pub struct HistoryDay {
    pub date: NaiveDate,
    /// Latest status per (site, check, host) in the window ending at the day's end.
    pub tally: Tally,
}

impl HistoryDay {
    /// The day's score; None means no data.
    pub fn score(&self) -> Option<f64> {
        score::score(&self.tally)
    }
}

/// What the evidence browser selects. Every field narrows; None means any.
#[derive(Debug, Clone, Default)]
pub struct EvidenceFilter {
    pub site_id: Option<Uuid>,
    /// Only these sites (an auditor's grant).
    pub sites: Option<Vec<Uuid>>,
    /// Bundles with at least one check of this type.
    pub check_type: Option<String>,
    /// The bundle's overall (worst) result.
    pub result: Option<CheckStatus>,
    /// Bundles with at least one check mapped to this control.
    pub hipaa_control: Option<String>,
    /// `checked_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `checked_at < to`.
    pub to: Option<DateTime<Utc>>,
}

/// A position in the evidence list (newest first): the last row a page
/// showed, by checked_at and id. Opaque to clients (see [`super::cursor`]).
pub type EvidenceCursor = super::cursor::Cursor<Uuid>;

/// One bundle as the evidence list shows it.
#[derive(Debug, Clone)]
pub struct EvidenceSummary {
    /// The row id (what cursors point at).
    pub id: Uuid,
    /// The appliance's bundle id (what URLs use).
    pub bundle_id: String,
    pub site_id: Uuid,
    pub clinic_name: String,
    pub checked_at: DateTime<Utc>,
    pub result: CheckStatus,
    pub checks_count: i32,
    pub failed_checks: i32,
    pub warn_checks: i32,
    pub bundle_hash: Vec<u8>,
}

/// The evidence list counts matches up to this many: beyond it "10,000+"
/// says as much as an exact figure, and the count stays cheap however much
/// evidence a practice has.
pub const EVIDENCE_COUNT_CAP: i64 = 10_000;

/// One page of the evidence list.
#[derive(Debug, Clone)]
pub struct EvidencePage {
    pub items: Vec<EvidenceSummary>,
    /// Every row the filter selects, on all pages, up to
    /// [`EVIDENCE_COUNT_CAP`].
    pub total: i64,
    /// False when more than [`EVIDENCE_COUNT_CAP`] rows match (`total` is
    /// then the cap).
    pub total_exact: bool,
    /// Where the next page starts; None on the last page.
    pub next: Option<EvidenceCursor>,
}

/// A bundle with everything needed to show and check it.
#[derive(Debug, Clone)]
pub struct EvidenceDetail {
    pub summary: EvidenceSummary,
    pub received_at: DateTime<Utc>,
    pub chain_position: i64,
    pub chain_hash: Vec<u8>,
    pub prev_chain_hash: Vec<u8>,
    pub signature: Vec<u8>,
    /// The exact bytes the appliance sent.
    pub raw: Vec<u8>,
    /// The site's Ed25519 key, to check `signature` against `raw`.
    pub agent_public_key: Vec<u8>,
}

/// One check of a bundle, in the bundle's order.
#[derive(Debug, Clone)]
pub struct EvidenceCheck {
    pub check_type: String,
    pub host: String,
    pub hipaa_control: Option<String>,
    pub status: CheckStatus,
    /// The appliance's own word, e.g. `non_compliant`.
    pub raw_status: String,
    pub details: serde_json::Value,
}

/// A nearby link of the same site's chain.
#[derive(Debug, Clone)]
pub struct ChainNeighbour {
    pub bundle_id: String,
    pub chain_position: i64,
    pub checked_at: DateTime<Utc>,
    pub result: CheckStatus,
}

/// A bundle's stored bytes and the values that let a recipient verify them.
#[derive(Debug, Clone)]
pub struct EvidenceFile {
    pub bundle_id: String,
    pub site_id: Uuid,
    pub raw: Vec<u8>,
    pub bundle_hash: Vec<u8>,
    pub chain_hash: Vec<u8>,
    pub chain_position: i64,
    pub signature: Vec<u8>,
}

fn status_of(raw: &str) -> AppResult<CheckStatus> {
    raw.parse().map_err(|e| AppError::internal(anyhow::anyhow!("stored status: {e}")))
}

fn count(row: &Row, idx: usize) -> AppResult<u64> {
    let n: i64 = row.get(idx);
    u64::try_from(n).map_err(|_| AppError::internal(anyhow::anyhow!("count {n} out of range")))
}

/// A tally from three `bigint` counts at `first`, `first + 1`, `first + 2`
/// (passed, failed, warnings).
fn tally_at(row: &Row, first: usize) -> AppResult<Tally> {
    Ok(Tally {
        passed: count(row, first)?,
        failed: count(row, first + 1)?,
        warnings: count(row, first + 2)?,
    })
}

/// The sum of several tallies (e.g. the practice's sites).
pub fn total_tally<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Tally {
    tallies.into_iter().fold(Tally::default(), |mut acc, t| {
        acc.merge(*t);
        acc
    })
}

/// The practice's name and partner; None if the org does not exist.
pub async fn org_info(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<OrgInfo>> {
    let row = db
        .query_typed_opt(
            "SELECT o.id, o.name, p.name
               FROM client_orgs o LEFT JOIN partners p ON p.id = o.current_partner_id
              WHERE o.id = $1",
            &[(&org_id, Type::UUID)],
        )
        .await?;
    Ok(row.map(|r| OrgInfo { id: r.get(0), name: r.get(1), partner_name: r.get(2) }))
}

/// Unread counts stop here: a badge shows "999+" beyond it, and counting
/// a practice's whole history on every page would cost more than it tells.
pub const UNREAD_COUNT_CAP: i64 = 1000;

/// Notifications of the practice that `user_id` has not read, counted up
/// to [`UNREAD_COUNT_CAP`]. Newest first down to the user's "read all"
/// watermark (client_notifications_org_created_idx), skipping ones read
/// one by one.
pub async fn unread_notifications(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
) -> AppResult<i64> {
    let row = db
        .query_typed_one(
            "SELECT count(*) FROM (
                 SELECT 1 FROM client_notifications n
                  WHERE n.client_org_id = $1
                    AND n.created_at > coalesce(
                            (SELECT u.notifications_read_through FROM client_users u
                              WHERE u.id = $2), '-infinity')
                    AND NOT EXISTS (SELECT 1 FROM client_notification_reads r
                                     WHERE r.notification_id = n.id AND r.user_id = $2)
                  ORDER BY n.created_at DESC
                  LIMIT $3) unread",
            &[(&org_id, Type::UUID), (&user_id, Type::UUID), (&UNREAD_COUNT_CAP, Type::INT8)],
        )
        .await?;
    Ok(row.get(0))
}

/// Sites with status and current tally. `$1` org, `$2` one site or NULL.
/// `check_states` holds each (check, host)'s status at its newest
/// `checked_at` (ingestion keeps it so even for bundles that arrive out of
/// order), so the current tally is a count over it: pairs last seen inside
/// the window. No upper bound: appliance clocks may run a little ahead.
const SITE_SUMMARIES: &str = "
SELECT s.id, s.name, s.chain_length, last.checked_at,
       CASE WHEN last.checked_at IS NULL THEN 'no_data'
            WHEN last.checked_at > now() - make_interval(hours => $3) THEN 'online'
            ELSE 'silent' END,
       coalesce(t.passed, 0), coalesce(t.failed, 0), coalesce(t.warnings, 0)
  FROM sites s
  LEFT JOIN LATERAL (
        SELECT b.checked_at FROM evidence_bundles b
         WHERE b.site_id = s.id
         ORDER BY b.checked_at DESC LIMIT 1) last ON true
  LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE cs.last_status = 'pass') AS passed,
               count(*) FILTER (WHERE cs.last_status = 'fail') AS failed,
               count(*) FILTER (WHERE cs.last_status = 'warn') AS warnings
          FROM check_states cs
         WHERE cs.site_id = s.id
           AND cs.last_seen_at > now() - make_interval(days => $4)) t ON true
 WHERE s.client_org_id = $1 AND ($2::uuid IS NULL OR s.id = $2)
 ORDER BY s.name, s.id";

fn site_summary_from(row: &Row) -> AppResult<SiteSummary> {
    Ok(SiteSummary {
        site_id: row.get(0),
        clinic_name: row.get(1),
        evidence_count: row.get(2),
        last_evidence: row.get(3),
        status: SiteStatus::parse(row.get(4))?,
        tally: tally_at(row, 5)?,
    })
}

async fn query_site_summaries(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Option<Uuid>,
) -> AppResult<Vec<SiteSummary>> {
    let rows = db
        .query_typed(
            SITE_SUMMARIES,
            &[
                (&org_id, Type::UUID),
                (&site_id, Type::UUID),
                (&ONLINE_WITHIN_HOURS, Type::INT4),
                (&SCORE_WINDOW_DAYS, Type::INT4),
            ],
        )
        .await?;
    rows.iter().map(site_summary_from).collect()
}

/// The practice's sites by name, each with status and current tally.
pub async fn site_summaries(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<SiteSummary>> {
    query_site_summaries(db, org_id, None).await
}

/// One site of the practice; None when the practice has no such site.
pub async fn site_summary(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Uuid,
) -> AppResult<Option<SiteSummary>> {
    Ok(query_site_summaries(db, org_id, Some(site_id)).await?.into_iter().next())
}

/// Whether the practice has this site.
pub async fn site_in_org(db: &impl GenericClient, org_id: Uuid, site_id: Uuid) -> AppResult<bool> {
    Ok(db
        .query_typed_opt(
            "SELECT 1 FROM sites WHERE id = $1 AND client_org_id = $2",
            &[(&site_id, Type::UUID), (&org_id, Type::UUID)],
        )
        .await?
        .is_some())
}

/// The site's latest result per (check, host) in the current window,
/// grouped by HIPAA control; controls sorted by id, [`UNMAPPED_CONTROL`]
/// last. Empty for a site without recent evidence (or not in the practice).
pub async fn site_controls(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Uuid,
) -> AppResult<Vec<ControlGroup>> {
    Ok(sites_controls(db, org_id, &[site_id]).await?.pop().unwrap_or_default())
}

/// [`site_controls`] of several sites in one statement, in the order of
/// `site_ids`.
pub async fn sites_controls(
    db: &impl GenericClient,
    org_id: Uuid,
    site_ids: &[Uuid],
) -> AppResult<Vec<Vec<ControlGroup>>> {
    let rows = db
        .query_typed(
            "SELECT ctl.hipaa_control, cs.check_type, cs.host, cs.last_status, cs.last_seen_at,
                    b.bundle_id, cs.site_id
               FROM check_states cs
               JOIN sites s ON s.id = cs.site_id
               JOIN evidence_bundles b ON b.id = cs.last_evidence_id
               LEFT JOIN LATERAL (
                     SELECT ec.hipaa_control FROM evidence_checks ec
                      WHERE ec.evidence_id = cs.last_evidence_id
                        AND ec.check_type = cs.check_type AND ec.host = cs.host
                      ORDER BY ec.id DESC LIMIT 1) ctl ON true
              WHERE cs.site_id = ANY($2) AND s.client_org_id = $1
                AND cs.last_seen_at > now() - make_interval(days => $3)
              ORDER BY cs.check_type, cs.host",
            &[
                (&org_id, Type::UUID),
                (&site_ids, Type::UUID_ARRAY),
                (&SCORE_WINDOW_DAYS, Type::INT4),
            ],
        )
        .await?;
    // None (unmapped) sorts after every control id.
    let mut by_site: HashMap<Uuid, BTreeMap<(bool, String), Vec<LatestCheck>>> = HashMap::new();
    for r in &rows {
        let control: Option<String> = r.get(0);
        let key = match control {
            Some(c) => (false, c),
            None => (true, UNMAPPED_CONTROL.to_owned()),
        };
        by_site.entry(r.get(6)).or_default().entry(key).or_default().push(LatestCheck {
            check_type: r.get(1),
            host: r.get(2),
            status: status_of(r.get(3))?,
            checked_at: r.get(4),
            bundle_id: r.get(5),
        });
    }
    Ok(site_ids
        .iter()
        .map(|site| {
            by_site
                .remove(site)
                .unwrap_or_default()
                .into_iter()
                .map(|((_, hipaa_control), checks)| {
                    let tally = checks.iter().map(|c| c.status).collect();
                    ControlGroup { hipaa_control, tally, checks }
                })
                .collect()
        })
        .collect())
}

/// The HIPAA controls the checks of `site_ids` have ever named (the
/// control of each (check, host)'s latest result, whenever it was): with
/// [`site_controls`], which of them have no result in the window.
pub async fn known_controls(
    db: &impl GenericClient,
    org_id: Uuid,
    site_ids: &[Uuid],
) -> AppResult<Vec<String>> {
    let rows = db
        .query_typed(
            "SELECT DISTINCT ctl.hipaa_control
               FROM check_states cs
               JOIN sites s ON s.id = cs.site_id
               JOIN LATERAL (
                     SELECT ec.hipaa_control FROM evidence_checks ec
                      WHERE ec.evidence_id = cs.last_evidence_id
                        AND ec.check_type = cs.check_type AND ec.host = cs.host
                      ORDER BY ec.id DESC LIMIT 1) ctl ON true
              WHERE cs.site_id = ANY($2) AND s.client_org_id = $1
                AND ctl.hipaa_control IS NOT NULL",
            &[(&org_id, Type::UUID), (&site_ids, Type::UUID_ARRAY)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Daily tallies for the `days` UTC days ending today, oldest first: each
/// day counts the latest status per (site, check, host) checked in the
/// SCORE_WINDOW_DAYS ending at that day's end. `site_id` None covers every
/// site of the practice. At most one index probe per (day, pair), none for
/// days before the site's first bundle or 30 days after the pair's last.
/// `sites` (an auditor's grant) narrows `site_id` None to those sites.
pub async fn score_history(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Option<Uuid>,
    sites: Option<&[Uuid]>,
    days: u32,
) -> AppResult<Vec<HistoryDay>> {
    let days = i32::try_from(days.clamp(1, MAX_HISTORY_DAYS)).unwrap_or(30);
    let rows = db
        .query(
            "WITH pairs AS MATERIALIZED (
                  SELECT cs.site_id, cs.check_type, cs.host, cs.last_seen_at,
                         (SELECT min(b.checked_at) FROM evidence_bundles b
                           WHERE b.site_id = cs.site_id) AS first_at
                    FROM check_states cs JOIN sites s ON s.id = cs.site_id
                   WHERE s.client_org_id = $1 AND ($2::uuid IS NULL OR s.id = $2)
                     AND ($5::uuid[] IS NULL OR s.id = ANY($5))),
                  days AS (
                  SELECT d::date AS day,
                         ((d::date + 1)::timestamp AT TIME ZONE 'UTC') AS day_end
                    FROM generate_series(
                           (now() AT TIME ZONE 'UTC')::date - ($3::int - 1),
                           (now() AT TIME ZONE 'UTC')::date,
                           interval '1 day') d)
             SELECT d.day,
                    count(x.status) FILTER (WHERE x.status = 'pass'),
                    count(x.status) FILTER (WHERE x.status = 'fail'),
                    count(x.status) FILTER (WHERE x.status = 'warn')
               FROM days d
               LEFT JOIN LATERAL (
                     SELECT l.status
                       FROM pairs p
                       CROSS JOIN LATERAL (
                             SELECT ec.status FROM evidence_checks ec
                              WHERE ec.site_id = p.site_id AND ec.check_type = p.check_type
                                AND ec.host = p.host
                                AND ec.checked_at < d.day_end
                                AND ec.checked_at > d.day_end - make_interval(days => $4)
                                -- Outside the pair's lifetime there is nothing to find:
                                -- a one-time filter that skips the index probe.
                                AND p.first_at < d.day_end
                                AND p.last_seen_at > d.day_end - make_interval(days => $4)
                              ORDER BY ec.checked_at DESC LIMIT 1) l) x ON true
              GROUP BY d.day
              ORDER BY d.day",
            &[&org_id, &site_id, &days, &SCORE_WINDOW_DAYS, &sites],
        )
        .await?;
    rows.iter().map(|r| Ok(HistoryDay { date: r.get(0), tally: tally_at(r, 1)? })).collect()
}

/// `WHERE ...` over `evidence_bundles b` for the filter; `$1` is the org.
fn evidence_where<'a>(
    org_id: &'a Uuid,
    filter: &'a EvidenceFilter,
    result: &'a Option<&'static str>,
) -> Statement<'a> {
    let (mut st, org) = Statement::where_eq("b.client_org_id", org_id);
    st.and_if(&filter.site_id, |p| format!("b.site_id = {p}"));
    st.and_if(&filter.sites, |p| format!("b.site_id = ANY({p})"));
    st.and_if(result, |p| format!("b.result = {p}"));
    st.and_if(&filter.from, |p| format!("b.checked_at >= {p}"));
    st.and_if(&filter.to, |p| format!("b.checked_at < {p}"));
    // The org condition lets a rare value be found through the
    // (client_org_id, check_type | hipaa_control) indexes.
    st.and_if(&filter.check_type, |p| {
        format!(
            "EXISTS (SELECT 1 FROM evidence_checks c WHERE c.evidence_id = b.id \
               AND c.client_org_id = {org} AND c.check_type = {p})"
        )
    });
    st.and_if(&filter.hipaa_control, |p| {
        format!(
            "EXISTS (SELECT 1 FROM evidence_checks c WHERE c.evidence_id = b.id \
               AND c.client_org_id = {org} AND c.hipaa_control = {p})"
        )
    });
    st
}

const EVIDENCE_COLUMNS: &str = "b.id, b.bundle_id, b.site_id, s.name, b.checked_at, b.result, \
     b.checks_count, b.failed_checks, b.warn_checks, b.bundle_hash";

fn evidence_summary_from(row: &Row) -> AppResult<EvidenceSummary> {
    Ok(EvidenceSummary {
        id: row.get(0),
        bundle_id: row.get(1),
        site_id: row.get(2),
        clinic_name: row.get(3),
        checked_at: row.get(4),
        result: status_of(row.get(5))?,
        checks_count: row.get(6),
        failed_checks: row.get(7),
        warn_checks: row.get(8),
        bundle_hash: row.get(9),
    })
}

/// One page of the practice's evidence, newest first (checked_at, then id,
/// both descending), starting after `after`. Keyset pagination on
/// `evidence_bundles_org_checked_idx` (or the site index when filtered by
/// site): a page costs the same however deep it is. `limit` is clamped to
/// 1..=1000. A `site_id` filter of another practice finds nothing; callers
/// that must tell "no such site" apart check [`site_in_org`] first.
pub async fn list_evidence(
    db: &impl GenericClient,
    org_id: Uuid,
    filter: &EvidenceFilter,
    after: Option<&EvidenceCursor>,
    limit: u32,
) -> AppResult<EvidencePage> {
    let limit = i64::from(limit.clamp(1, 1000));
    let fetch = limit + 1;
    let result = filter.result.map(CheckStatus::as_str);

    let mut count = evidence_where(&org_id, filter, &result);
    let cap = EVIDENCE_COUNT_CAP + 1;
    let cap_param = count.bind(&cap);
    let counted: i64 = db
        .query_typed_one(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM evidence_bundles b {} LIMIT {cap_param}) x",
                count.text
            ),
            &count.params,
        )
        .await?
        .get(0);
    let total_exact = counted <= EVIDENCE_COUNT_CAP;
    let total = counted.min(EVIDENCE_COUNT_CAP);

    let mut page = evidence_where(&org_id, filter, &result);
    if let Some(after) = after {
        let (at, id) = (page.bind(&after.at), page.bind(&after.id));
        page.text += &format!(" AND (b.checked_at, b.id) < ({at}, {id})");
    }
    let limit_param = page.bind(&fetch);
    let sql = format!(
        "SELECT {EVIDENCE_COLUMNS} FROM evidence_bundles b JOIN sites s ON s.id = b.site_id
         {} ORDER BY b.checked_at DESC, b.id DESC LIMIT {limit_param}",
        page.text
    );
    let rows = db.query_typed(&sql, &page.params).await?;
    let mut items = rows.iter().map(evidence_summary_from).collect::<AppResult<Vec<_>>>()?;
    let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let next =
        cut_page(&mut items, page_len, |last| EvidenceCursor { at: last.checked_at, id: last.id });
    Ok(EvidencePage { items, total, total_exact, next })
}

/// Every site of the practice with a bundle of this id (and the site named,
/// if any), with when that bundle was checked.
pub async fn bundle_places(
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &BundleRef<'_>,
) -> AppResult<Vec<(Uuid, DateTime<Utc>)>> {
    let rows = db
        .query(
            "SELECT b.site_id, b.checked_at FROM evidence_bundles b
              WHERE b.bundle_id = $1 AND b.client_org_id = $2
                AND ($3::uuid IS NULL OR b.site_id = $3)",
            &[&bundle.bundle_id, &org_id, &bundle.site_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A bundle of the practice by its appliance bundle id.
pub async fn get_evidence(
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &BundleRef<'_>,
) -> AppResult<Option<EvidenceDetail>> {
    let rows = db
        .query(
            &format!(
                "SELECT {EVIDENCE_COLUMNS}, b.received_at, b.chain_position, b.chain_hash,
                        b.prev_chain_hash, b.signature, b.raw, s.agent_public_key
                   FROM evidence_bundles b JOIN sites s ON s.id = b.site_id
                  WHERE b.bundle_id = $1 AND b.client_org_id = $2
                    AND ($3::uuid IS NULL OR b.site_id = $3)"
            ),
            &[&bundle.bundle_id, &org_id, &bundle.site_id],
        )
        .await?;
    let row = only_bundle(rows, bundle)?;
    row.map(|r| {
        Ok(EvidenceDetail {
            summary: evidence_summary_from(&r)?,
            received_at: r.get(10),
            chain_position: r.get(11),
            chain_hash: r.get(12),
            prev_chain_hash: r.get(13),
            signature: r.get(14),
            raw: r.get(15),
            agent_public_key: r.get(16),
        })
    })
    .transpose()
}

/// The checks of a bundle (by row id, see [`EvidenceSummary::id`]) in the
/// order the appliance listed them.
pub async fn evidence_checks(
    db: &impl GenericClient,
    org_id: Uuid,
    evidence_id: Uuid,
) -> AppResult<Vec<EvidenceCheck>> {
    let rows = db
        .query(
            "SELECT check_type, host, hipaa_control, status, raw_status, details
               FROM evidence_checks
              WHERE evidence_id = $1 AND client_org_id = $2
              ORDER BY id",
            &[&evidence_id, &org_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(EvidenceCheck {
                check_type: r.get(0),
                host: r.get(1),
                hipaa_control: r.get(2),
                status: status_of(r.get(3))?,
                raw_status: r.get(4),
                details: r.get(5),
            })
        })
        .collect()
}

/// Links of the site's chain within `reach` positions of `position` (not
/// the link itself), in chain order. Fewer at either end of the chain.
pub async fn chain_neighbours(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Uuid,
    position: i64,
    reach: i64,
) -> AppResult<Vec<ChainNeighbour>> {
    let rows = db
        .query(
            "SELECT bundle_id, chain_position, checked_at, result
               FROM evidence_bundles
              WHERE site_id = $1 AND client_org_id = $2
                AND chain_position BETWEEN $3::bigint - $4::bigint AND $3::bigint + $4::bigint
                AND chain_position <> $3::bigint
              ORDER BY chain_position",
            &[&site_id, &org_id, &position, &reach],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ChainNeighbour {
                bundle_id: r.get(0),
                chain_position: r.get(1),
                checked_at: r.get(2),
                result: status_of(r.get(3))?,
            })
        })
        .collect()
}

/// A bundle's stored bytes for download; None when the practice has no such bundle.
pub async fn evidence_file(
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &BundleRef<'_>,
) -> AppResult<Option<EvidenceFile>> {
    let rows = db
        .query(
            "SELECT bundle_id, site_id, raw, bundle_hash, chain_hash, chain_position, signature
               FROM evidence_bundles
              WHERE bundle_id = $1 AND client_org_id = $2 AND ($3::uuid IS NULL OR site_id = $3)",
            &[&bundle.bundle_id, &org_id, &bundle.site_id],
        )
        .await?;
    let row = only_bundle(rows, bundle)?;
    Ok(row.map(|r| EvidenceFile {
        bundle_id: r.get(0),
        site_id: r.get(1),
        raw: r.get(2),
        bundle_hash: r.get(3),
        chain_hash: r.get(4),
        chain_position: r.get(5),
        signature: r.get(6),
    }))
}

/// When each failing (site, check, host) of the practice turned to
/// failing. `check_states.changed_at` is the `checked_at` of the bundle
/// that last changed the pair's status, which [`site_controls`] does not
/// return. `site_id` narrows to one site.
pub async fn failing_since(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Option<Uuid>,
) -> AppResult<std::collections::HashMap<(Uuid, String, String), DateTime<Utc>>> {
    let rows = db
        .query(
            "SELECT cs.site_id, cs.check_type, cs.host, cs.changed_at
               FROM check_states cs JOIN sites s ON s.id = cs.site_id
              WHERE s.client_org_id = $1 AND ($2::uuid IS NULL OR cs.site_id = $2)
                AND cs.last_status = 'fail'",
            &[&org_id, &site_id],
        )
        .await?;
    Ok(rows.iter().map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3))).collect())
}

/// Distinct check types the practice's appliances report (one row per
/// (site, check, host) in `check_states`, so this stays small).
pub async fn check_types(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<String>> {
    let rows = db
        .query(
            "SELECT DISTINCT cs.check_type
               FROM check_states cs JOIN sites s ON s.id = cs.site_id
              WHERE s.client_org_id = $1
              ORDER BY 1",
            &[&org_id],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Distinct HIPAA controls in the practice's evidence, at most `max`, for
/// suggestions (a loose index scan of `evidence_checks_org_hipaa_control_idx`).
pub async fn hipaa_controls(
    db: &impl GenericClient,
    org_id: Uuid,
    max: i32,
) -> AppResult<Vec<String>> {
    super::distinct_in_org(db, "evidence_checks", "hipaa_control", org_id, max).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_add_up() {
        let a = Tally { passed: 1, failed: 2, warnings: 3 };
        let b = Tally { passed: 10, failed: 0, warnings: 1 };
        let t = total_tally([&a, &b]);
        assert_eq!((t.passed, t.failed, t.warnings), (11, 2, 4));
        let empty = total_tally([]);
        assert_eq!((empty.passed, empty.failed, empty.warnings), (0, 0, 0));
    }
}
