//! Cached monthly reports (client_monthly_reports) and the data they are made from.
//!
//! A report covers one calendar month (UTC) `[start, end)`. Its score is the
//! latest status per (site, check, host) as of the month's end, among the
//! pairs checked during the month; the same arithmetic as every other score
//! ([`crate::evidence::score`]). Every function is scoped to one practice.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::evidence::bundle::CheckStatus;

/// The scheduler's job name in `scheduler_runs`.
pub const MONTHLY_REPORT_JOB: &str = "monthly_report";

/// A report's figures: stored with it, and shown in the list, the PDF,
/// the mails and the API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// None when nothing was checked (no data, never 0 or 100).
    pub overall_score: Option<f64>,
    pub controls_passed: i32,
    pub controls_failed: i32,
    pub controls_total: i32,
    /// Bundles checked in the month (all sites).
    pub evidence_count: i64,
    /// Sites that sent evidence checked in the month.
    pub sites_count: i32,
}

impl Figures {
    /// Controls neither passed nor failed: with warnings only.
    pub fn at_risk(&self) -> i32 {
        self.controls_total - self.controls_passed - self.controls_failed
    }

    /// The controls by where they stand, as every headline leads with them.
    pub fn controls(&self) -> crate::evidence::score::Controls {
        let n = |v: i32| u64::try_from(v).unwrap_or(0);
        crate::evidence::score::Controls {
            passed: n(self.controls_passed),
            failed: n(self.controls_failed),
            at_risk: n(self.at_risk()),
            no_data: 0,
            unmapped_issue: false,
        }
    }
}

/// A cached report without its PDF.
#[derive(Debug, Clone)]
pub struct CachedReport {
    /// First day of the month.
    pub month: NaiveDate,
    pub figures: Figures,
    pub pdf_sha256: [u8; 32],
    pub generated_at: DateTime<Utc>,
}

/// A cached report with its PDF.
#[derive(Debug, Clone)]
pub struct CachedPdf {
    pub report: CachedReport,
    pub pdf: Vec<u8>,
}

/// What to store for a month.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub org_id: Uuid,
    pub month: NaiveDate,
    pub figures: Figures,
    pub pdf: &'a [u8],
    pub pdf_sha256: &'a [u8; 32],
}

const SUMMARY_COLUMNS: &str = "month, overall_score::float8, controls_passed, controls_failed, \
     controls_total, evidence_count, sites_count, pdf_sha256, generated_at";

fn cached_from(row: &Row) -> AppResult<CachedReport> {
    let sha: Vec<u8> = row.get(7);
    Ok(CachedReport {
        month: row.get(0),
        figures: Figures {
            overall_score: row.get(1),
            controls_passed: row.get(2),
            controls_failed: row.get(3),
            controls_total: row.get(4),
            evidence_count: row.get(5),
            sites_count: row.get(6),
        },
        pdf_sha256: sha.try_into().map_err(|_| {
            AppError::internal(anyhow::anyhow!("stored pdf_sha256 is not 32 bytes"))
        })?,
        generated_at: row.get(8),
    })
}

/// Months (first days, UTC) in which the practice has evidence (by
/// `checked_at`), newest first. A skip scan down
/// `evidence_bundles_org_checked_idx`: one index probe per month, so it
/// costs the same for a thousand bundles or a million (counting them would
/// read the practice's whole history on every call).
pub async fn months_with_evidence(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Vec<NaiveDate>> {
    let rows = db
        .query(
            "WITH RECURSIVE m(month) AS (
                 SELECT date_trunc('month', max(checked_at) AT TIME ZONE 'UTC')
                   FROM evidence_bundles WHERE client_org_id = $1
                 UNION ALL
                 SELECT (SELECT date_trunc('month', max(b.checked_at) AT TIME ZONE 'UTC')
                           FROM evidence_bundles b
                          WHERE b.client_org_id = $1
                            AND b.checked_at < (m.month AT TIME ZONE 'UTC'))
                   FROM m WHERE m.month IS NOT NULL)
             SELECT month::date FROM m WHERE month IS NOT NULL ORDER BY month DESC",
            &[&org_id],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The bundles checked in a month: how many, and when the last of them arrived.
#[derive(Debug, Clone, Copy)]
pub struct MonthEvidence {
    pub count: i64,
    pub last_received: Option<DateTime<Utc>>,
}

pub async fn month_evidence(
    db: &impl GenericClient,
    org_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AppResult<MonthEvidence> {
    let row = db
        .query_one(
            "SELECT count(*), max(received_at) FROM evidence_bundles
              WHERE client_org_id = $1 AND checked_at >= $2 AND checked_at < $3",
            &[&org_id, &start, &end],
        )
        .await?;
    Ok(MonthEvidence { count: row.get(0), last_received: row.get(1) })
}

/// The practice's cached reports (without PDFs), newest month first.
pub async fn cached_summaries(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Vec<CachedReport>> {
    let rows = db
        .query(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM client_monthly_reports
                  WHERE client_org_id = $1 ORDER BY month DESC"
            ),
            &[&org_id],
        )
        .await?;
    rows.iter().map(cached_from).collect()
}

/// One cached report with its PDF.
pub async fn cached_with_pdf(
    db: &impl GenericClient,
    org_id: Uuid,
    month: NaiveDate,
) -> AppResult<Option<CachedPdf>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {SUMMARY_COLUMNS}, pdf FROM client_monthly_reports
                  WHERE client_org_id = $1 AND month = $2"
            ),
            &[&org_id, &month],
        )
        .await?;
    row.map(|r| Ok(CachedPdf { report: cached_from(&r)?, pdf: r.get(9) })).transpose()
}

/// Stores a month's report, replacing an earlier one. `generated_at` is the
/// database clock when the row is written, after the data was read, so
/// evidence received later is always `received_at > generated_at`.
pub async fn upsert(db: &impl GenericClient, r: &NewReport<'_>) -> AppResult<CachedReport> {
    let row = db
        .query_one(
            &format!(
                "INSERT INTO client_monthly_reports
                   (client_org_id, month, overall_score, controls_passed, controls_failed,
                    controls_total, evidence_count, sites_count, pdf, pdf_sha256, generated_at)
                 VALUES ($1, $2, $3::float8::numeric(5,1), $4, $5, $6, $7, $8, $9, $10, clock_timestamp())
                 ON CONFLICT (client_org_id, month) DO UPDATE
                    SET overall_score = EXCLUDED.overall_score,
                        controls_passed = EXCLUDED.controls_passed,
                        controls_failed = EXCLUDED.controls_failed,
                        controls_total = EXCLUDED.controls_total,
                        evidence_count = EXCLUDED.evidence_count,
                        sites_count = EXCLUDED.sites_count,
                        pdf = EXCLUDED.pdf,
                        pdf_sha256 = EXCLUDED.pdf_sha256,
                        generated_at = EXCLUDED.generated_at
                 RETURNING {SUMMARY_COLUMNS}"
            ),
            &[
                &r.org_id,
                &r.month,
                &r.figures.overall_score,
                &r.figures.controls_passed,
                &r.figures.controls_failed,
                &r.figures.controls_total,
                &r.figures.evidence_count,
                &r.figures.sites_count,
                &r.pdf,
                &r.pdf_sha256.as_slice(),
            ],
        )
        .await?;
    cached_from(&row)
}

// ---------------------------------------------------------------------------
// The month's data
// ---------------------------------------------------------------------------

/// The latest result of one (site, check, host) in the month.
#[derive(Debug, Clone)]
pub struct MonthCheck {
    pub site_id: Uuid,
    pub check_type: String,
    pub host: String,
    /// The control named by that latest result.
    pub hipaa_control: Option<String>,
    pub status: CheckStatus,
    pub checked_at: DateTime<Utc>,
    /// For a failing result: the `checked_at` of the first failure in the
    /// streak that is still failing at the month's end (may be earlier
    /// than the month).
    pub failing_since: Option<DateTime<Utc>>,
}

/// SQL for when the failure streak of the (site, check, host) of row
/// `pair` that is open just before `before` began: its first failing
/// result after the last one that did not fail (NULL when not failing).
fn streak_start(pair: &str, before: &str) -> String {
    format!(
        "(SELECT min(f0.checked_at) FROM evidence_checks f0
           WHERE f0.site_id = {pair}.site_id AND f0.check_type = {pair}.check_type
             AND f0.host = {pair}.host AND f0.checked_at < {before} AND f0.status = 'fail'
             AND f0.checked_at > coalesce((
                   SELECT max(p0.checked_at) FROM evidence_checks p0
                    WHERE p0.site_id = {pair}.site_id AND p0.check_type = {pair}.check_type
                      AND p0.host = {pair}.host AND p0.checked_at < {before}
                      AND p0.status <> 'fail'), '-infinity'))"
    )
}

/// The latest result per (site, check, host) among the pairs checked in
/// `[start, end)`, with when a failing pair started failing. The pairs come
/// from `check_states` (one row per pair ever seen; pairs last seen before
/// the month are skipped) and each pair's latest row in the month is one
/// probe of `evidence_checks_site_check_host_idx`.
pub async fn month_checks(
    db: &impl GenericClient,
    org_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AppResult<Vec<MonthCheck>> {
    let rows = db
        .query(
            &format!(
                "SELECT cs.site_id, cs.check_type, cs.host, l.hipaa_control, l.status, l.checked_at,
                    CASE WHEN l.status = 'fail' THEN {} END
               FROM check_states cs
               JOIN sites s ON s.id = cs.site_id
              CROSS JOIN LATERAL (
                    SELECT ec.hipaa_control, ec.status, ec.checked_at
                      FROM evidence_checks ec
                     WHERE ec.site_id = cs.site_id AND ec.check_type = cs.check_type
                       AND ec.host = cs.host
                       AND ec.checked_at >= $2 AND ec.checked_at < $3
                     ORDER BY ec.checked_at DESC, ec.id DESC
                     LIMIT 1) l
              WHERE s.client_org_id = $1 AND cs.last_seen_at >= $2
              ORDER BY cs.site_id, cs.check_type, cs.host",
                streak_start("cs", "$3")
            ),
            &[&org_id, &start, &end],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let status: &str = r.get(4);
            Ok(MonthCheck {
                site_id: r.get(0),
                check_type: r.get(1),
                host: r.get(2),
                hipaa_control: r.get(3),
                status: status
                    .parse()
                    .map_err(|e| AppError::internal(anyhow::anyhow!("stored check status: {e}")))?,
                checked_at: r.get(5),
                failing_since: r.get(6),
            })
        })
        .collect()
}

/// A site as a report lists it.
#[derive(Debug, Clone)]
pub struct ReportSite {
    pub site_id: Uuid,
    pub name: String,
    /// Bundles checked in the month.
    pub evidence_count: i64,
    /// The last bundle received by the month's end, in chain order.
    pub chain_head: Option<ChainHead>,
}

/// A link of a site's evidence chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub position: i64,
    pub chain_hash: Vec<u8>,
    pub bundle_id: String,
}

/// The practice's sites that sent evidence checked in `[start, end)` or had
/// received any bundle by `end`, by name. The chain head at the month's end
/// is the highest chain position among bundles with `received_at < end`
/// (found walking the site's chain backwards from its head). A site's
/// bundles all belong to its practice (foreign key), so each count is a
/// range of `evidence_bundles_site_checked_idx`.
pub async fn report_sites(
    db: &impl GenericClient,
    org_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AppResult<Vec<ReportSite>> {
    let rows = db
        .query(
            "SELECT s.id, s.name,
                    (SELECT count(*) FROM evidence_bundles b
                      WHERE b.site_id = s.id
                        AND b.checked_at >= $2 AND b.checked_at < $3),
                    h.chain_position, h.chain_hash, h.bundle_id
               FROM sites s
               LEFT JOIN LATERAL (
                     SELECT b.chain_position, b.chain_hash, b.bundle_id
                       FROM evidence_bundles b
                      WHERE b.site_id = s.id AND b.received_at < $3
                      ORDER BY b.chain_position DESC
                      LIMIT 1) h ON true
              WHERE s.client_org_id = $1
              ORDER BY s.name, s.id",
            &[&org_id, &start, &end],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let position: Option<i64> = r.get(3);
            ReportSite {
                site_id: r.get(0),
                name: r.get(1),
                evidence_count: r.get(2),
                chain_head: position.map(|position| ChainHead {
                    position,
                    chain_hash: r.get(4),
                    bundle_id: r.get(5),
                }),
            }
        })
        .filter(|s| s.evidence_count > 0 || s.chain_head.is_some())
        .collect())
}

/// The partner the practice had at `month_end` (the name; None when
/// OsirisCare served it directly, or the practice does not exist). Read
/// from the completed transfers: the `to_partner_id` of the last one
/// completed before `month_end`; failing that, the `from_partner_id` of the
/// first one completed on or after it; failing that (never moved), the
/// practice's current partner.
pub async fn partner_at(
    db: &impl GenericClient,
    org_id: Uuid,
    month_end: DateTime<Utc>,
) -> AppResult<Option<String>> {
    let row = db
        .query_opt(
            "SELECT p.name
               FROM (SELECT 1 AS rank, b.to_partner_id AS partner_id
                       FROM (SELECT to_partner_id FROM partner_transfer_requests
                              WHERE client_org_id = $1 AND status = 'completed'
                                AND completed_at < $2
                              ORDER BY completed_at DESC, created_at DESC, id DESC
                              LIMIT 1) b
                     UNION ALL
                     SELECT 2, a.from_partner_id
                       FROM (SELECT from_partner_id FROM partner_transfer_requests
                              WHERE client_org_id = $1 AND status = 'completed'
                                AND completed_at >= $2
                              ORDER BY completed_at, created_at, id
                              LIMIT 1) a
                     UNION ALL
                     SELECT 3, o.current_partner_id FROM client_orgs o WHERE o.id = $1) c
               LEFT JOIN partners p ON p.id = c.partner_id
              ORDER BY c.rank
              LIMIT 1",
            &[&org_id, &month_end],
        )
        .await?;
    Ok(row.and_then(|r| r.get(0)))
}

/// The month's notifications of one kind on one subject, collapsed: a
/// flapping check is one line with its count, not a page of them.
#[derive(Debug, Clone)]
pub struct ReportNotification {
    /// The site it was about; None for practice-wide notifications.
    pub site: Option<String>,
    pub severity: String,
    pub title: String,
    /// How many times it was raised in the month.
    pub count: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// The month's notifications created in `[start, end)` collapsed per site,
/// severity and title (a check's change names its check and host), the
/// most severe and most frequent first, at most `limit` of them; with how
/// many groups and how many notifications there were in all.
pub async fn month_notifications(
    db: &impl GenericClient,
    org_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    limit: i64,
) -> AppResult<(Vec<ReportNotification>, i64, i64)> {
    let rows = db
        .query(
            "SELECT s.name, n.severity, n.title, count(*), min(n.created_at), max(n.created_at),
                    count(*) OVER (), (sum(count(*)) OVER ())::bigint
               FROM client_notifications n
               LEFT JOIN sites s ON s.id = n.site_id
              WHERE n.client_org_id = $1 AND n.created_at >= $2 AND n.created_at < $3
              GROUP BY n.site_id, s.name, n.severity, n.title
              ORDER BY CASE n.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                       count(*) DESC, max(n.created_at) DESC, n.title
              LIMIT $4",
            &[&org_id, &start, &end, &limit],
        )
        .await?;
    let groups = rows.first().map_or(0, |r| r.get::<_, i64>(6));
    let total = rows.first().map_or(0, |r| r.get::<_, i64>(7));
    let items = rows
        .iter()
        .map(|r| ReportNotification {
            site: r.get(0),
            severity: r.get(1),
            title: r.get(2),
            count: r.get(3),
            first_at: r.get(4),
            last_at: r.get(5),
        })
        .collect();
    Ok((items, groups, total))
}

/// The failures of one check on one host in the month: its failure
/// streaks open at some time in it, summed up (a check that flaps makes
/// one row however often it fails, so a report's size follows its checks,
/// not their results).
#[derive(Debug, Clone)]
pub struct MonthIncidents {
    pub site_id: Uuid,
    pub check_type: String,
    pub host: String,
    /// The control named by its latest failing result.
    pub hipaa_control: Option<String>,
    /// How many failure streaks were open at some time in the month.
    pub failures: i64,
    /// The first failing result of the first of them (before the month
    /// when it was already failing as the month began).
    pub first_started: DateTime<Utc>,
    /// The first result that did not fail after the last of them; None
    /// when that one was still failing at `until`.
    pub last_ended: Option<DateTime<Utc>>,
    /// The time spent failing, streak by streak, an open one up to `until`
    /// (a streak begun before the month counts from its start).
    pub failing_seconds: i64,
}

/// The month's failure streaks per (site, check, host) checked in
/// `[start, end)`: the month's results of each pair with the latest one
/// before the month, as runs of failing and not-failing results, summed up
/// in SQL so that only one row per failing pair comes back. A streak still
/// failing counts up to `until` (the month's end, or when a month to date
/// was complete).
pub async fn month_incidents(
    db: &impl GenericClient,
    org_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<Vec<MonthIncidents>> {
    let rows = db
        .query(
            &format!(
                "WITH pairs AS (
                 SELECT cs.site_id, cs.check_type, cs.host
                   FROM check_states cs JOIN sites s ON s.id = cs.site_id
                  WHERE s.client_org_id = $1 AND cs.last_seen_at >= $2),
             results AS (
                 SELECT p.site_id, p.check_type, p.host, r.checked_at, r.id, r.status,
                        r.hipaa_control
                   FROM pairs p
                  CROSS JOIN LATERAL (
                        (SELECT ec.checked_at, ec.id, ec.status, ec.hipaa_control
                           FROM evidence_checks ec
                          WHERE ec.site_id = p.site_id AND ec.check_type = p.check_type
                            AND ec.host = p.host AND ec.checked_at < $2
                          ORDER BY ec.checked_at DESC, ec.id DESC LIMIT 1)
                        UNION ALL
                        (SELECT ec.checked_at, ec.id, ec.status, ec.hipaa_control
                           FROM evidence_checks ec
                          WHERE ec.site_id = p.site_id AND ec.check_type = p.check_type
                            AND ec.host = p.host AND ec.checked_at >= $2 AND ec.checked_at < $3)
                  ) r),
             edges AS (
                 SELECT *, CASE WHEN (status = 'fail') IS DISTINCT FROM
                                     lag(status = 'fail') OVER w THEN 1 ELSE 0 END AS edge
                   FROM results
                 WINDOW w AS (PARTITION BY site_id, check_type, host ORDER BY checked_at, id)),
             runs AS (
                 SELECT *, sum(edge) OVER (PARTITION BY site_id, check_type, host
                                           ORDER BY checked_at, id) AS run
                   FROM edges),
             spans AS (
                 SELECT site_id, check_type, host, run, bool_and(status = 'fail') AS failing,
                        min(checked_at) AS first_at,
                        (array_agg(hipaa_control ORDER BY checked_at DESC, id DESC))[1] AS control
                   FROM runs GROUP BY site_id, check_type, host, run),
             streaks AS (
                 SELECT f.site_id, f.check_type, f.host, f.run, f.control,
                        CASE WHEN f.first_at >= $2 THEN f.first_at ELSE {} END AS started,
                        n.first_at AS ended
                   FROM spans f
                   LEFT JOIN spans n ON n.site_id = f.site_id AND n.check_type = f.check_type
                                    AND n.host = f.host AND n.run = f.run + 1
                  WHERE f.failing)
             SELECT site_id, check_type, host,
                    (array_agg(control ORDER BY run DESC))[1],
                    count(*),
                    min(started),
                    (array_agg(ended ORDER BY run DESC))[1],
                    sum(floor(extract(epoch FROM coalesce(ended, $4) - started)))::int8
               FROM streaks
              GROUP BY site_id, check_type, host
              ORDER BY 6, site_id, check_type, host",
                streak_start("f", "$2")
            ),
            &[&org_id, &start, &end, &until],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| MonthIncidents {
            site_id: r.get(0),
            check_type: r.get(1),
            host: r.get(2),
            hipaa_control: r.get(3),
            failures: r.get(4),
            first_started: r.get(5),
            last_ended: r.get(6),
            failing_seconds: r.get::<_, i64>(7).max(0),
        })
        .collect())
}

/// Bundles checked in `[start, end)` that arrived at or after `end`: how
/// many, and when the last of them arrived.
pub async fn late_evidence(
    db: &impl GenericClient,
    org_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AppResult<MonthEvidence> {
    let row = db
        .query_one(
            "SELECT count(*), max(received_at) FROM evidence_bundles
              WHERE client_org_id = $1 AND checked_at >= $2 AND checked_at < $3
                AND received_at >= $3",
            &[&org_id, &start, &end],
        )
        .await?;
    Ok(MonthEvidence { count: row.get(0), last_received: row.get(1) })
}

// ---------------------------------------------------------------------------
// The scheduler
// ---------------------------------------------------------------------------

/// Active practices with evidence checked in `[start, end)` that have no
/// `job` run for `month_key` yet (run keys are `<org id>:<YYYY-MM>`).
/// Practices without evidence that month are not even looked at.
pub async fn orgs_due(
    db: &impl GenericClient,
    job: &str,
    month_key: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> AppResult<Vec<Uuid>> {
    let rows = db
        .query(
            "SELECT o.id FROM client_orgs o
              WHERE o.status = 'active'
                AND NOT EXISTS (SELECT 1 FROM scheduler_runs r
                                 WHERE r.job = $1 AND r.run_key = o.id::text || ':' || $2)
                AND EXISTS (SELECT 1 FROM evidence_bundles b
                             WHERE b.client_org_id = o.id
                               AND b.checked_at >= $3 AND b.checked_at < $4)
              ORDER BY o.id",
            &[&job, &month_key, &start, &end],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Claims a run: true for the one caller whose insert made the row. Inside
/// a transaction, a concurrent claim of the same key waits for it and then
/// loses; a rolled-back claim leaves the run to be claimed again.
pub async fn claim_run(db: &impl GenericClient, job: &str, run_key: &str) -> AppResult<bool> {
    let n = db
        .execute(
            "INSERT INTO scheduler_runs (job, run_key) VALUES ($1, $2)
             ON CONFLICT (job, run_key) DO NOTHING",
            &[&job, &run_key],
        )
        .await?;
    Ok(n == 1)
}

pub async fn finish_run(db: &impl GenericClient, job: &str, run_key: &str) -> AppResult<()> {
    db.execute(
        "UPDATE scheduler_runs SET finished_at = greatest(clock_timestamp(), started_at)
          WHERE job = $1 AND run_key = $2",
        &[&job, &run_key],
    )
    .await?;
    Ok(())
}
