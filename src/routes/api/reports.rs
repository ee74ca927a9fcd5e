//! Monthly compliance reports (PDF).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::{IntoResponse, Request, Response};
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::error::{AUTHED, ApiError, NOT_FOUND};
use crate::auth::current::{ApiReader, ClientInfo};
use crate::reach::Reach;
use crate::reports::{self, MONTH_FORMAT, Month, ReportSummary};
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Monthly HIPAA compliance reports as PDF.
    Reports,
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthParam(pub Month);

impl Type for MonthParam {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(month)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some("^[0-9]{4}-(0[1-9]|1[0-2])$".to_owned()),
            example: Some("2026-10".into()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromParameter for MonthParam {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Month::parse(value)
            .map(MonthParam)
            .map_err(|_| ParseError::custom(format!("is not a month: use {MONTH_FORMAT}")))
    }
}

/// One month's report.
#[derive(Debug, Object)]
pub struct MonthlyReportItem {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// The headline: HIPAA controls by where they stood at the month's end.
    pub kpis: ReportKpis,
    /// The share of checks that passed (secondary to `kpis`): percent of the
    /// latest results (per site, check and host, as of the month's end,
    /// among the checks run during the month) that passed, one decimal;
    /// null when nothing was checked.
    #[oai(nullable)]
    pub overall_score: Option<f64>,
    /// HIPAA controls whose checks all passed at the month's end.
    pub controls_passed: i32,
    /// HIPAA controls with at least one failing check at the month's end.
    pub controls_failed: i32,
    /// HIPAA controls named by the month's checks. Those neither passed nor
    /// failed had warnings only ("at risk").
    pub controls_total: i32,
    /// Evidence bundles checked in the month, all sites.
    pub evidence_count: i64,
    /// Sites that sent evidence checked in the month.
    pub sites_count: i32,
    /// SHA-256 of the PDF that the download returns, hex.
    pub pdf_sha256: String,
    /// When the PDF was made. For the current month: when these figures
    /// were made (at most about 5 minutes before, while the list is used).
    pub generated_at: DateTime<Utc>,
    /// True for the current month: the figures so far, not cached; its
    /// download is made fresh (the PDF changes as evidence arrives).
    pub month_to_date: bool,
}

/// A report's controls and standing (as on the dashboard).
#[derive(Debug, Object)]
pub struct ReportKpis {
    pub controls: super::compliance::ControlCounts,
    /// `all_controls_met`, `needs_action` or `no_data` (see ControlStanding).
    pub status: super::compliance::ControlStanding,
}

impl From<ReportSummary> for MonthlyReportItem {
    fn from(s: ReportSummary) -> Self {
        let c = s.figures.controls();
        MonthlyReportItem {
            month: s.month.to_string(),
            kpis: ReportKpis { controls: (&c).into(), status: c.standing().into() },
            overall_score: s.figures.overall_score,
            controls_passed: s.figures.controls_passed,
            controls_failed: s.figures.controls_failed,
            controls_total: s.figures.controls_total,
            evidence_count: s.figures.evidence_count,
            sites_count: s.figures.sites_count,
            pdf_sha256: hex::encode(s.pdf_sha256),
            generated_at: s.generated_at,
            month_to_date: s.month_to_date,
        }
    }
}

#[derive(Debug, Object)]
pub struct MonthlyReportList {
    /// Every month with evidence, newest first.
    pub reports: Vec<MonthlyReportItem>,
    /// Months left out because they were not made yet and a browser said
    /// another website started the request (`Sec-Fetch-Site: cross-site`
    /// or `same-site`): such a request makes no report. 0 otherwise.
    pub not_built: u64,
    /// Months being made in the background right now, not listed yet: ask
    /// again in a few seconds (a download of such a month waits for it).
    pub being_made: u64,
}

/// A PDF document.
pub struct PdfFile(pub Vec<u8>);

impl Payload for PdfFile {
    const CONTENT_TYPE: &'static str = "application/pdf";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("The report as a PDF document."),
            ..MetaSchema::new_with_format("string", "binary")
        }))
    }
}

impl IntoResponse for PdfFile {
    fn into_response(self) -> Response {
        Response::builder().content_type(Self::CONTENT_TYPE).body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum ReportDownload {
    /// The report. Its SHA-256 is `X-Report-SHA256` and the `pdf_sha256`
    /// of the list.
    #[oai(status = 200)]
    Ok(
        PdfFile,
        /// `attachment; filename="OsirisCare-<practice>-<YYYY-MM>.pdf"`.
        #[oai(header = "Content-Disposition")]
        String,
        /// SHA-256 of the body, hex.
        #[oai(header = "X-Report-SHA256")]
        String,
        /// `no-store`: compliance reports are not kept in shared caches.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

impl From<reports::Download> for ReportDownload {
    /// The download's headers, for the API and the page route alike.
    fn from(d: reports::Download) -> Self {
        let (disposition, sha256) = (d.content_disposition(), d.sha256_hex());
        ReportDownload::Ok(PdfFile(d.report.pdf), disposition, sha256, "no-store".to_owned())
    }
}

pub struct ReportsApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// Your monthly reports
    ///
    /// Every month in which your sites' evidence was checked, newest first,
    /// with its figures and the SHA-256 of its PDF. A completed month's
    /// report is made once and cached; it is made again when evidence for
    /// that month arrives later. The current month is listed as "month to
    /// date" (`month_to_date: true`), made fresh on each request and not
    /// cached. Any role; an auditor sees the months their grant's period
    /// touches, and none when the grant covers only some sites (a report
    /// covers every site: their evidence pack has the rest).
    #[oai(path = "/reports/monthly", method = "get", operation_id = "list_monthly_reports")]
    async fn list_monthly_reports(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
    ) -> Result<Json<MonthlyReportList>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        let build = !crate::auth::csrf::is_cross_site(req);
        let list =
            reports::list_reports(state.pool(), &**db, user.org_id, &reach, Utc::now(), build)
                .await?;
        Ok(Json(MonthlyReportList {
            reports: list.reports.into_iter().map(Into::into).collect(),
            not_built: list.not_built.into(),
            being_made: list.being_made.into(),
        }))
    }

    /// Download a monthly report (PDF)
    ///
    /// The practice, its partner, the month, the overall score in its
    /// colour, each site's score and evidence count, HIPAA controls, checks
    /// failing at the month's end, the month's notifications and each
    /// site's evidence-chain head with how to verify it. Cached for a
    /// completed month (the same bytes until evidence for that month arrives
    /// late, which makes it again); the current month is made on request as
    /// "month to date". 400 for a malformed month, 404 for a month without
    /// evidence. Every download is recorded in the audit log
    /// (`report.downloaded`). Any role; 403 for an auditor outside their
    /// grant's period, or whose grant covers only some sites.
    #[oai(
        path = "/reports/monthly/:month",
        method = "get",
        operation_id = "download_monthly_report"
    )]
    async fn download_monthly_report(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        /// The month, `YYYY-MM`, e.g. `2026-10`.
        month: Path<MonthParam>,
    ) -> Result<ReportDownload, ApiError<{ AUTHED | NOT_FOUND }>> {
        crate::auth::csrf::refuse_cross_site(req)?;
        let d = reports::download(&state, &user, month.0.0, &ClientInfo::of(req), "api").await?;
        Ok(d.into())
    }
}
