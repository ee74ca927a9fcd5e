//! Monthly compliance reports: the figures for a month ([`data`]), the PDF
//! made from them ([`pdf`]), the cache in `client_monthly_reports`, and the
//! scheduler that makes last month's report on the 1st ([`scheduler`]).
//!
//! Cache policy:
//! - A completed month's report is generated once and cached with its
//!   SHA-256. Its download makes it again (replacing the cached one) when
//!   evidence checked in that month arrived after it was generated: the
//!   month's bundle count differs from the one the report was made from, or
//!   a bundle of the month was received after `generated_at`. The list shows
//!   the cached figures without that check (see [`list_reports`]).
//! - The current month is a "month to date" report: generated on every
//!   request from the evidence so far, never cached.
//! - A month in the future has no report.
//!
//! The same inputs give the same bytes: nothing in the PDF depends on the
//! wall clock (see [`pdf`]).

pub mod cli;
pub mod data;
pub mod email;
pub mod log_copy;
pub mod maker;
pub mod pdf;
pub mod scheduler;

use std::fmt;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::current::{ClientInfo, CurrentUser};
use crate::db::audit;
use crate::db::reports::{self as queries, CachedReport, Figures};
use crate::error::{AppError, AppResult};
use crate::reach::Reach;
use crate::state::AppState;
use crate::views::format::slug;

/// A calendar month (UTC), written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first: NaiveDate,
}

/// What a month string must look like, for error messages.
pub const MONTH_FORMAT: &str = "YYYY-MM with a two-digit month from 01 to 12, e.g. 2026-10";

impl Month {
    /// Reads `YYYY-MM` exactly (four-digit year, two-digit month 01-12).
    pub fn parse(raw: &str) -> Result<Month, String> {
        let bad = || format!("{raw:?} is not a month: use {MONTH_FORMAT}");
        let b = raw.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return Err(bad());
        }
        let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        if !digits(&b[..4]) || !digits(&b[5..]) {
            return Err(bad());
        }
        let year: i32 = raw[..4].parse().map_err(|_| bad())?;
        let month: u32 = raw[5..].parse().map_err(|_| bad())?;
        Month::new(year, month).ok_or_else(bad)
    }

    /// The month of `year`, `month` (1-12).
    pub fn new(year: i32, month: u32) -> Option<Month> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|first| Month { first })
    }

    /// The month `t` falls in (UTC).
    pub fn of(t: DateTime<Utc>) -> Month {
        let d = t.date_naive();
        Month { first: d.with_day(1).unwrap_or(d) }
    }

    /// The month that starts on `first` (any day of it is accepted).
    pub fn containing(day: NaiveDate) -> Month {
        Month { first: day.with_day(1).unwrap_or(day) }
    }

    /// The first day of the month (what `client_monthly_reports.month` stores).
    pub fn first_day(&self) -> NaiveDate {
        self.first
    }

    /// The last day of the month.
    pub fn last_day(&self) -> NaiveDate {
        self.next().first.pred_opt().unwrap_or(self.first)
    }

    /// Midnight UTC at the month's start (inclusive).
    pub fn start(&self) -> DateTime<Utc> {
        self.first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    }

    /// Midnight UTC at the next month's start (exclusive end of this one).
    pub fn end(&self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn next(&self) -> Month {
        Month { first: self.first.checked_add_months(Months::new(1)).unwrap_or(self.first) }
    }

    pub fn prev(&self) -> Month {
        Month { first: self.first.checked_sub_months(Months::new(1)).unwrap_or(self.first) }
    }

    /// `October 2026`.
    pub fn label(&self) -> String {
        self.first.format("%B %Y").to_string()
    }

    /// Where this month stands at `now`.
    pub fn period(&self, now: DateTime<Utc>) -> Period {
        let current = Month::of(now);
        match self.cmp(&current) {
            std::cmp::Ordering::Less => Period::Completed,
            std::cmp::Ordering::Equal => Period::MonthToDate,
            std::cmp::Ordering::Greater => Period::Future,
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}

/// A month relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Over: its report is cached.
    Completed,
    /// The current month: reported "month to date", never cached.
    MonthToDate,
    /// Not begun: no report.
    Future,
}

/// A report's figures, as the list and the API show them.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    pub month: Month,
    pub figures: Figures,
    pub pdf_sha256: [u8; 32],
    pub generated_at: DateTime<Utc>,
    /// The current month: figures so far, generated on request, not cached.
    pub month_to_date: bool,
}

/// A report with its PDF.
#[derive(Debug, Clone)]
pub struct Report {
    pub summary: ReportSummary,
    pub pdf: Vec<u8>,
}

/// SHA-256 of the PDF bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `OsirisCare-<practice-slug>-2026-10.pdf`.
pub fn file_name(practice: &str, month: Month) -> String {
    format!("OsirisCare-{}-{month}.pdf", slug(practice))
}

fn summary_of(cached: &CachedReport, month_to_date: bool) -> AppResult<ReportSummary> {
    Ok(ReportSummary {
        month: Month::containing(cached.month),
        figures: cached.figures,
        pdf_sha256: cached.pdf_sha256,
        generated_at: cached.generated_at,
        month_to_date,
    })
}

/// Makes the report from the current data; None when the month has no evidence.
async fn generate(
    db: &impl GenericClient,
    org_id: Uuid,
    month: Month,
    generated_at: DateTime<Utc>,
    month_to_date: bool,
) -> AppResult<Option<Report>> {
    let Some(data) = data::ReportData::load(db, org_id, month, month_to_date).await? else {
        return Ok(None);
    };
    let figures = data.figures();
    // Laying out and compressing the PDF is CPU work: keep it off the
    // async workers.
    let pdf = tokio::task::spawn_blocking(move || pdf::render(&data))
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("rendering the PDF failed: {e}")))?;
    Ok(Some(Report {
        summary: ReportSummary {
            month,
            figures,
            pdf_sha256: sha256(&pdf),
            generated_at,
            month_to_date,
        },
        pdf,
    }))
}

/// Generates a completed month's report and stores it in the cache
/// (replacing an older one). None when the month has no evidence.
async fn generate_and_cache(
    db: &impl GenericClient,
    org_id: Uuid,
    month: Month,
) -> AppResult<Option<Report>> {
    let Some(report) = generate(db, org_id, month, Utc::now(), false).await? else {
        return Ok(None);
    };
    let s = &report.summary;
    let stored = queries::upsert(
        db,
        &queries::NewReport {
            org_id,
            month: month.first_day(),
            figures: s.figures,
            pdf: &report.pdf,
            pdf_sha256: &s.pdf_sha256,
        },
    )
    .await?;
    // A finished report is a leaf of the log: its month and the SHA-256 of
    // the PDF handed out, so a PDF can be shown to be the one made then.
    let leaf = crate::log::leaf::Leaf::Report(crate::log::leaf::ReportLeaf {
        month: month.to_string(),
        sha256: s.pdf_sha256,
    });
    crate::evidence::log::append_if_logged(db, org_id, &leaf).await?;
    Ok(Some(Report { summary: summary_of(&stored, false)?, pdf: report.pdf }))
}

/// A completed month's report from the cache, made (again) when it is
/// missing or evidence for the month arrived after it was generated.
/// Returns the report and whether it was (re)generated now; None when the
/// month has no evidence.
pub async fn ensure_cached(
    db: &impl GenericClient,
    org_id: Uuid,
    month: Month,
) -> AppResult<Option<(Report, bool)>> {
    let state = queries::month_evidence(db, org_id, month.start(), month.end()).await?;
    if state.count == 0 {
        return Ok(None);
    }
    if let Some(cached) = queries::cached_with_pdf(db, org_id, month.first_day()).await? {
        // Made before the month-end checkpoint was signed: it lacks it.
        let checkpoint =
            crate::db::evidence_log::month_end_checkpoint(db, org_id, &month.to_string()).await?;
        let fresh = cached.report.figures.evidence_count == state.count
            && state.last_received.is_none_or(|r| r <= cached.report.generated_at)
            && checkpoint.is_none_or(|c| c.signed_at <= cached.report.generated_at);
        if fresh {
            return Ok(Some((
                Report { summary: summary_of(&cached.report, false)?, pdf: cached.pdf },
                false,
            )));
        }
    }
    Ok(generate_and_cache(db, org_id, month).await?.map(|r| (r, true)))
}

/// Reports being made, by (practice, month); for the current month, the
/// latest month-to-date figures too. One PDF is made at a time in the
/// background, beside what downloads make.
static MAKER: std::sync::LazyLock<maker::Maker<(Uuid, Month), ReportSummary>> =
    std::sync::LazyLock::new(|| maker::Maker::new(1));

/// How old the month-to-date figures the list shows may be before it asks
/// for new ones (the list shows the older ones meanwhile).
const MONTH_TO_DATE_FRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// Waits until no report of the practice is being made (tests, benchmarks).
pub async fn settled(org_id: Uuid) {
    MAKER.settled(|(org, _)| *org == org_id).await
}

/// The report for `month` as seen at `now`: cached for a completed month,
/// generated fresh (month to date) for the current one. None when the month
/// has no evidence or has not begun. When the month is being made in the
/// background, this waits for it (and only it).
pub async fn monthly_report(
    db: &impl GenericClient,
    org_id: Uuid,
    month: Month,
    now: DateTime<Utc>,
) -> AppResult<Option<Report>> {
    match month.period(now) {
        Period::Future => Ok(None),
        Period::MonthToDate => {
            MAKER
                .run((org_id, month), async {
                    let report = generate(db, org_id, month, now, true).await;
                    let summary =
                        report.as_ref().ok().and_then(|r| r.as_ref()).map(|r| r.summary.clone());
                    (report, summary)
                })
                .await
        }
        Period::Completed => {
            MAKER
                .run((org_id, month), async {
                    (ensure_cached(db, org_id, month).await.map(|r| r.map(|(r, _)| r)), None)
                })
                .await
        }
    }
}

/// Makes `month`'s report in the background, unless it is being made.
fn make_in_background(
    pool: &deadpool_postgres::Pool,
    org_id: Uuid,
    month: Month,
    now: DateTime<Utc>,
) {
    let pool = pool.clone();
    MAKER.start((org_id, month), async move {
        let made = async {
            let db = pool.get().await?;
            match month.period(now) {
                Period::MonthToDate => {
                    Ok(generate(&**db, org_id, month, Utc::now(), true).await?.map(|r| r.summary))
                }
                _ => Ok(ensure_cached(&**db, org_id, month).await?.map(|(r, _)| r.summary)),
            }
        };
        match made.await {
            Ok(summary) => summary,
            Err(e) => {
                let e: AppError = e;
                tracing::warn!(%org_id, %month, error = %e.detail(), "making a report in the background failed; the next list asks again");
                None
            }
        }
    });
}

/// Every month with evidence up to the current one, newest first, without
/// making any: completed months come from the cache as they are, the
/// current month (marked month to date) from the latest figures made of
/// it. A month missing from the cache, and the current month when its
/// figures are older than [`MONTH_TO_DATE_FRESH`] or there are none, is
/// made in the background; `being_made` counts the months not listed for
/// that reason, so the answer never waits for a PDF.
///
/// The list does not recount a completed month's bundles to spot late
/// evidence: that would read the practice's whole history on every call
/// (about a second at a million bundles). The download checks
/// ([`ensure_cached`]) and makes the report again, after which the list
/// shows the new figures.
///
/// An auditor sees the months their grant reaches ([`Reach::sees_report`]):
/// none when it covers only some sites.
///
/// With `build` false (a request another site started) nothing is made:
/// only cached months are listed, and `not_built` counts the rest, so a
/// link elsewhere cannot make a signed-in browser build PDFs.
pub async fn list_reports(
    pool: &deadpool_postgres::Pool,
    db: &impl GenericClient,
    org_id: Uuid,
    reach: &Reach,
    now: DateTime<Utc>,
    build: bool,
) -> AppResult<ReportList> {
    let mut list = ReportList::default();
    if !reach.all_sites() {
        return Ok(list);
    }
    let months = queries::months_with_evidence(db, org_id).await?;
    let cached = queries::cached_summaries(db, org_id).await?;
    let out = &mut list.reports;
    for first_day in months {
        let month = Month::containing(first_day);
        if !reach.sees_report(month.start(), month.end()) {
            continue;
        }
        let cached = cached.iter().find(|c| c.month == first_day);
        match (month.period(now), cached) {
            (Period::Future, _) => continue,
            (Period::Completed, Some(c)) => out.push(summary_of(c, false)?),
            _ if !build => list.not_built += 1,
            (Period::MonthToDate, _) => match MAKER.latest(&(org_id, month)) {
                Some((summary, age)) => {
                    if age > MONTH_TO_DATE_FRESH {
                        make_in_background(pool, org_id, month, now);
                    }
                    out.push(summary);
                }
                None => {
                    make_in_background(pool, org_id, month, now);
                    list.being_made += 1;
                }
            },
            (Period::Completed, None) => {
                make_in_background(pool, org_id, month, now);
                list.being_made += 1;
            }
        }
    }
    Ok(list)
}

/// The reports a list shows, and how many it did not make (see
/// [`list_reports`]).
#[derive(Debug, Clone, Default)]
pub struct ReportList {
    pub reports: Vec<ReportSummary>,
    pub not_built: u32,
    /// Months being made in the background, not listed yet.
    pub being_made: u32,
}

/// A report ready to send to the browser.
#[derive(Debug, Clone)]
pub struct Download {
    /// `OsirisCare-<practice-slug>-<YYYY-MM>.pdf`.
    pub file_name: String,
    pub report: Report,
}

impl Download {
    /// `attachment; filename="…"`, for the API and the page alike.
    pub fn content_disposition(&self) -> String {
        format!("attachment; filename=\"{}\"", self.file_name)
    }

    /// SHA-256 of the PDF, hex (`X-Report-SHA256`).
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.report.summary.pdf_sha256)
    }
}

/// The report a signed-in user downloads, recorded in the audit log as
/// `report.downloaded` (API and pages alike). An auditor gets the months
/// their grant reaches (a 403 for others). A month without evidence, or
/// not begun, is a 404 (another practice's data is never looked at: every
/// query is scoped to the user's practice).
pub async fn download(
    state: &AppState,
    user: &CurrentUser,
    month: Month,
    client: &ClientInfo,
    via: &str,
) -> AppResult<Download> {
    let db = state.pool().get().await?;
    Reach::of(&**db, user).await?.report(month.start(), month.end())?;
    let now = Utc::now();
    let Some(report) = monthly_report(&**db, user.org_id, month, now).await? else {
        return Err(match month.period(now) {
            Period::Future => AppError::NotFound(format!(
                "{month} has not begun yet, so there is no report for it; pick a month from the reports list"
            )),
            _ => AppError::NotFound(format!(
                "no evidence was checked in {month}, so there is no report for it; the reports list shows \
                 every month with evidence"
            )),
        });
    };
    audit::record(
        &**db,
        &audit::Entry {
            target_type: Some("monthly_report"),
            target_id: Some(month.to_string()),
            details: serde_json::json!({
                "pdf_sha256": hex::encode(report.summary.pdf_sha256),
                "bytes": report.pdf.len(),
                "month_to_date": report.summary.month_to_date,
                "via": via,
            }),
            ..crate::audit::user_entry(user, client, "report.downloaded")
        },
    )
    .await?;
    Ok(Download { file_name: file_name(&user.org_name, month), report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly() {
        let m = Month::parse("2026-10").unwrap();
        assert_eq!(m.to_string(), "2026-10");
        assert_eq!(m.label(), "October 2026");
        assert_eq!(m.start().to_rfc3339(), "2026-10-01T00:00:00+00:00");
        assert_eq!(m.end().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(m.last_day().to_string(), "2026-10-31");
        assert_eq!(Month::parse("2026-12").unwrap().next().to_string(), "2027-01");
        assert_eq!(Month::parse("2026-01").unwrap().prev().to_string(), "2025-12");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-10",
            "abc",
            "",
            "2026-10-01",
            "2026/10",
            "+026-10",
            "2026-1a",
            "２０２６-10",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        assert!(Month::parse("2026-13").unwrap_err().contains("YYYY-MM"));
        // Whatever the path pattern admits is a month (with no data, surely).
        assert_eq!(Month::parse("0000-01").unwrap().prev().next().to_string(), "0000-01");
        assert_eq!(
            Month::parse("9999-12").unwrap().end().to_rfc3339(),
            "+10000-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn periods_follow_the_clock() {
        let now = "2026-11-15T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(Month::parse("2026-10").unwrap().period(now), Period::Completed);
        assert_eq!(Month::parse("2026-11").unwrap().period(now), Period::MonthToDate);
        assert_eq!(Month::parse("2026-12").unwrap().period(now), Period::Future);
        assert_eq!(Month::of(now).to_string(), "2026-11");
    }

    #[test]
    fn slugs_are_plain_ascii() {
        assert_eq!(slug("Oak Street Clinic"), "oak-street-clinic");
        assert_eq!(slug("  Dr. Müller & Søn, P.C. "), "dr-muller-son-p-c");
        assert_eq!(slug("診療所"), "practice");
        assert_eq!(slug(&"a".repeat(200)).len(), 60);
        assert_eq!(
            file_name("Riverside Family Medicine", Month::parse("2026-10").unwrap()),
            "OsirisCare-riverside-family-medicine-2026-10.pdf"
        );
    }
}
