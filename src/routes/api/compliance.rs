//! The practice's compliance data, read-only: dashboard, sites, score
//! history and the evidence browser (with the exact bytes for download).
//! Every query is scoped to the caller's practice; another practice's ids
//! answer 404, like ids that do not exist. Auditors read within their grant
//! ([`crate::reach`]): other sites are 404, evidence outside the period 403,
//! and each read is an `auditor.viewed` row in the audit log.

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::Data;
use poem::{IntoResponse, Request, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use serde_json::Value;
use uuid::Uuid;

use super::error::{AUTHED, ApiError, CONFLICT, NOT_FOUND};
use super::types::{CursorParam, PageLimit};
use crate::auth::current::{ApiReader, ClientInfo};
use crate::compliance::{self, MAX_FILTER_CHARS, Reach};
use crate::db::compliance::{self as queries, EvidenceFilter, SiteStatus};
use crate::evidence::bundle::{CheckStatus, MAX_BUNDLE_ID_CHARS, is_bundle_id};
use crate::evidence::score::{self, Tally};
use crate::state::AppState;
use crate::{bounded_param, param_type};

#[derive(Tags)]
enum ApiTags {
    /// Compliance scores, sites and the evidence behind them.
    Compliance,
}

// ---------------------------------------------------------------------------
// Query and path parameters: typed, with the schema saying exactly what is
// accepted and a 400 that says what to send instead.
// ---------------------------------------------------------------------------

bounded_param!(
    /// Days of score history.
    HistoryDays,
    1u32,
    queries::MAX_HISTORY_DAYS,
    30
);

/// A result filter: `pass`, `warn` or `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultParam(pub CheckStatus);

param_type!(
    ResultParam,
    "string(result)",
    MetaSchema {
        enum_items: vec!["pass".into(), "warn".into(), "fail".into()],
        ..MetaSchema::new("string")
    },
    |raw| raw.parse().map(ResultParam).map_err(|_| "must be pass, warn or fail".to_owned())
);

/// An RFC 3339 date-time with an offset, e.g. `2026-11-24T10:00:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParam(pub DateTime<Utc>);

param_type!(
    DateTimeParam,
    "string(date-time)",
    MetaSchema::new_with_format("string", "date-time"),
    |raw| {
        DateTime::parse_from_rfc3339(raw.trim()).map(|t| DateTimeParam(t.to_utc())).map_err(|_| {
            "must be an RFC 3339 date-time with an offset, e.g. 2026-11-24T10:00:00Z".to_owned()
        })
    }
);

/// Free text for an exact-match filter: 1 to 255 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterText(pub String);

param_type!(
    FilterText,
    "string(filter)",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(MAX_FILTER_CHARS),
        pattern: Some(r"^[^\x00-\x1f\x7f]+$".to_owned()),
        ..MetaSchema::new("string")
    },
    |raw| {
        let ok = !raw.is_empty()
            && raw.chars().count() <= MAX_FILTER_CHARS
            && !raw.chars().any(|c| c.is_ascii_control());
        ok.then(|| FilterText(raw.to_owned())).ok_or_else(|| {
            format!("must be 1 to {MAX_FILTER_CHARS} characters without control characters")
        })
    }
);

/// An appliance's bundle id, as the ingest format allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleIdParam(pub String);

param_type!(
    BundleIdParam,
    "string(bundle_id)",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(MAX_BUNDLE_ID_CHARS),
        pattern: Some("^[A-Za-z0-9._:-]+$".to_owned()),
        example: Some("CB-2026-11-24-1a2b3c4d".into()),
        ..MetaSchema::new("string")
    },
    |raw| {
        is_bundle_id(raw).then(|| BundleIdParam(raw.to_owned())).ok_or_else(|| {
            format!(
                "is not a bundle id: 1 to {MAX_BUNDLE_ID_CHARS} characters from A-Z, a-z, 0-9, \
                 '.', '_', ':' and '-'"
            )
        })
    }
);

// ---------------------------------------------------------------------------
// Response bodies
// ---------------------------------------------------------------------------

/// A check's or a bundle's result (a bundle's is its worst check's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum CheckResult {
    Pass,
    Warn,
    Fail,
}

impl From<CheckStatus> for CheckResult {
    fn from(s: CheckStatus) -> Self {
        match s {
            CheckStatus::Pass => CheckResult::Pass,
            CheckStatus::Warn => CheckResult::Warn,
            CheckStatus::Fail => CheckResult::Fail,
        }
    }
}

/// Whether a site's appliance reports: `online` (evidence checked in the
/// last 24 hours), `silent` (only older evidence), `no_data` (none yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SiteState {
    Online,
    Silent,
    NoData,
}

impl From<SiteStatus> for SiteState {
    fn from(s: SiteStatus) -> Self {
        match s {
            SiteStatus::Online => SiteState::Online,
            SiteStatus::Silent => SiteState::Silent,
            SiteStatus::NoData => SiteState::NoData,
        }
    }
}

#[derive(Debug, Object)]
pub struct OrgSummary {
    pub id: Uuid,
    pub name: String,
    /// The MSP partner serving the practice; null when OsirisCare serves it directly.
    #[oai(nullable)]
    pub partner_name: Option<String>,
}

#[derive(Debug, Object)]
pub struct SiteItem {
    pub site_id: Uuid,
    pub clinic_name: String,
    pub status: SiteState,
    /// Bundles the site has sent.
    pub evidence_count: i64,
    /// When the newest bundle was checked; null before the first.
    #[oai(nullable)]
    pub last_evidence: Option<DateTime<Utc>>,
    /// Percent of the latest checks (per check and host, last 30 days) that
    /// passed, one decimal; null when there is no data.
    #[oai(nullable)]
    pub score: Option<f64>,
}

impl From<queries::SiteSummary> for SiteItem {
    fn from(s: queries::SiteSummary) -> Self {
        SiteItem {
            score: s.score(),
            site_id: s.site_id,
            clinic_name: s.clinic_name,
            status: s.status.into(),
            evidence_count: s.evidence_count,
            last_evidence: s.last_evidence,
        }
    }
}

/// Where the HIPAA controls stand, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ControlStanding {
    /// Every control with a recent result passed, and no other check
    /// failed: the only state the portal calls compliant.
    AllControlsMet,
    /// A control failed or could not be confirmed (or a check without a
    /// control did).
    NeedsAction,
    /// Nothing was checked in the last 30 days.
    NoData,
}

impl From<score::Standing> for ControlStanding {
    fn from(s: score::Standing) -> Self {
        match s {
            score::Standing::AllControlsMet => ControlStanding::AllControlsMet,
            score::Standing::NeedsAction => ControlStanding::NeedsAction,
            score::Standing::NoData => ControlStanding::NoData,
        }
    }
}

/// HIPAA controls by where they stand: a control passes when every latest
/// result of its checks (per check and host, last 30 days) passed, fails
/// when one failed, and is at risk when one could not be confirmed.
#[derive(Debug, Object)]
pub struct ControlCounts {
    pub passed: u64,
    pub failed: u64,
    pub at_risk: u64,
    /// Controls the evidence named before, with no result in 30 days.
    pub no_data: u64,
    pub total: u64,
}

#[derive(Debug, Object)]
pub struct Kpis {
    /// The headline: HIPAA controls by where they stand.
    pub controls: ControlCounts,
    /// `all_controls_met`, `needs_action` or `no_data` (see ControlStanding).
    pub status: ControlStanding,
    /// The share of checks that passed (not a verdict on the controls):
    /// percent of the latest results (per site, check and host, last 30
    /// days) that passed, one decimal; null when there is no data.
    #[oai(nullable)]
    pub compliance_score: Option<f64>,
    /// Latest results counted (per site, check and host, last 30 days).
    pub total_checks: u64,
    pub passed: u64,
    pub failed: u64,
    /// Warnings and errors: counted in the total, not as passed.
    pub warnings: u64,
}

impl From<&score::Controls> for ControlCounts {
    fn from(c: &score::Controls) -> Self {
        ControlCounts {
            passed: c.passed,
            failed: c.failed,
            at_risk: c.at_risk,
            no_data: c.no_data,
            total: c.total(),
        }
    }
}

impl Kpis {
    fn new(t: Tally, c: score::Controls) -> Self {
        Kpis {
            controls: (&c).into(),
            status: c.standing().into(),
            compliance_score: score::score(&t),
            total_checks: t.total(),
            passed: t.passed,
            failed: t.failed,
            warnings: t.warnings,
        }
    }
}

#[derive(Debug, Object)]
pub struct Dashboard {
    pub org: OrgSummary,
    pub sites: Vec<SiteItem>,
    pub kpis: Kpis,
    /// Notifications you have not read yet, counted up to 1,000.
    pub unread_notifications: i64,
}

#[derive(Debug, Object)]
pub struct SiteList {
    pub sites: Vec<SiteItem>,
}

#[derive(Debug, Object)]
pub struct ControlCheck {
    pub check_type: String,
    pub host: String,
    pub status: CheckResult,
    pub checked_at: DateTime<Utc>,
    /// The bundle that carried this result.
    pub bundle_id: String,
}

#[derive(Debug, Object)]
pub struct ControlItem {
    /// The HIPAA control, e.g. `164.312(a)(2)(iv)`, or `Unmapped`.
    pub hipaa_control: String,
    pub passed: u64,
    pub failed: u64,
    pub warnings: u64,
    pub checks: Vec<ControlCheck>,
}

#[derive(Debug, Object)]
pub struct SiteDetail {
    #[oai(flatten)]
    pub site: SiteItem,
    /// The site's controls by where they stand, and its check figures.
    pub kpis: Kpis,
    /// The latest result per check and host (last 30 days), grouped by
    /// HIPAA control, sorted by control id (`Unmapped` last).
    pub controls: Vec<ControlItem>,
}

#[derive(Debug, Object)]
pub struct HistoryItem {
    /// A UTC day.
    pub date: NaiveDate,
    /// The score as of the end of that day; null when there was no data.
    #[oai(nullable)]
    pub score: Option<f64>,
    pub passed: u64,
    pub failed: u64,
    pub warnings: u64,
}

#[derive(Debug, Object)]
pub struct SiteHistory {
    pub site_id: Uuid,
    pub days: u32,
    /// One entry per day, oldest first, ending today (UTC).
    pub history: Vec<HistoryItem>,
}

#[derive(Debug, Object)]
pub struct EvidenceItem {
    pub bundle_id: String,
    pub site_id: Uuid,
    pub clinic_name: String,
    pub checked_at: DateTime<Utc>,
    pub result: CheckResult,
    pub checks_count: i32,
    pub failed_checks: i32,
    /// SHA-256 of the bundle's bytes, hex.
    pub bundle_hash: String,
}

impl From<&queries::EvidenceSummary> for EvidenceItem {
    fn from(e: &queries::EvidenceSummary) -> Self {
        EvidenceItem {
            bundle_id: e.bundle_id.clone(),
            site_id: e.site_id,
            clinic_name: e.clinic_name.clone(),
            checked_at: e.checked_at,
            result: e.result.into(),
            checks_count: e.checks_count,
            failed_checks: e.failed_checks,
            bundle_hash: hex::encode(&e.bundle_hash),
        }
    }
}

#[derive(Debug, Object)]
pub struct EvidenceList {
    /// Newest first.
    pub evidence: Vec<EvidenceItem>,
    /// Bundles matching the filters, on all pages, counted up to 10,000.
    pub total: i64,
    /// False when more than 10,000 bundles match: `total` is then 10,000
    /// and means "at least".
    pub total_exact: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct EvidenceCheckItem {
    pub check_type: String,
    pub host: String,
    #[oai(nullable)]
    pub hipaa_control: Option<String>,
    pub status: CheckResult,
    /// The appliance's own word, e.g. `non_compliant`.
    pub raw_status: String,
    /// Whatever the appliance reported about the check.
    pub details: Value,
}

#[derive(Debug, Object)]
pub struct ChainNeighbour {
    pub bundle_id: String,
    pub chain_position: i64,
    pub checked_at: DateTime<Utc>,
    pub result: CheckResult,
}

#[derive(Debug, Object)]
pub struct EvidenceDetail {
    #[oai(flatten)]
    pub bundle: EvidenceItem,
    pub warn_checks: i32,
    pub received_at: DateTime<Utc>,
    /// Position in the site's chain, from 0.
    pub chain_position: i64,
    /// Hex.
    pub chain_hash: String,
    /// The previous link's chain hash (64 zeros at position 0), hex.
    pub prev_chain_hash: String,
    /// The appliance's Ed25519 signature over the bundle's bytes, hex.
    pub signature: String,
    /// Whether `signature` is the site's key signing exactly the stored bytes.
    pub signature_valid: bool,
    /// Where the bundle's `summary` disagrees with its `checks`, in words
    /// (empty when it agrees). Such a bundle is stored as signed; the
    /// portal counts the checks.
    pub format_warnings: Vec<String>,
    /// In the order the appliance listed them.
    pub checks: Vec<EvidenceCheckItem>,
    /// Up to two links before and two after in the site's chain.
    pub neighbours: Vec<ChainNeighbour>,
}

/// A bundle's bytes exactly as stored, served as `application/json`.
pub struct RawJson(pub Vec<u8>);

impl Payload for RawJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("The evidence bundle as the appliance sent it (format v1)."),
            ..MetaSchema::new("object")
        }))
    }
}

impl IntoResponse for RawJson {
    fn into_response(self) -> Response {
        Response::builder().content_type(Self::CONTENT_TYPE).body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum EvidenceDownload {
    /// The bundle's exact bytes: SHA-256 of the body is `X-Bundle-Hash`, and
    /// `X-Agent-Signature` is the appliance's Ed25519 signature over it.
    #[oai(status = 200)]
    Ok(
        RawJson,
        /// `attachment; filename="<bundle_id>.json"`.
        #[oai(header = "Content-Disposition")]
        String,
        /// SHA-256 of the body, hex.
        #[oai(header = "X-Bundle-Hash")]
        String,
        /// The bundle's link in its site's hash chain, hex.
        #[oai(header = "X-Chain-Hash")]
        String,
        /// The bundle's position in its site's chain, from 0.
        #[oai(header = "X-Chain-Position")]
        i64,
        /// The appliance's Ed25519 signature over the body, hex.
        #[oai(header = "X-Agent-Signature")]
        String,
        /// `no-store`: evidence is not kept in shared caches.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

pub struct ComplianceApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Compliance")]
impl ComplianceApi {
    /// Your practice at a glance
    ///
    /// Sites with their status and score, the practice's score and counts,
    /// and your unread notifications. Scores count the latest result per
    /// site, check and host in the last 30 days. An auditor sees the sites
    /// of their grant (and no notifications: 0).
    #[oai(path = "/dashboard", method = "get", operation_id = "get_dashboard")]
    async fn get_dashboard(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
    ) -> Result<Json<Dashboard>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        let org = compliance::org(&**db, user.org_id).await?;
        let sites = compliance::sites(&**db, user.org_id, &reach).await?;
        // Auditors get no notifications of the practice.
        let unread = if reach.auditor {
            0
        } else {
            queries::unread_notifications(&**db, user.org_id, user.id).await?
        };
        compliance::record_view(
            &**db,
            &user,
            &reach,
            &ClientInfo::of(req),
            "dashboard",
            None,
            serde_json::json!({ "via": "api" }),
        )
        .await?;
        let total = queries::total_tally(sites.iter().map(|s| &s.tally));
        let by_site = compliance::controls_by_site(&**db, user.org_id, &sites).await?;
        let controls = compliance::practice_controls(&**db, user.org_id, &sites, &by_site).await?;
        Ok(Json(Dashboard {
            org: OrgSummary { id: org.id, name: org.name, partner_name: org.partner_name },
            sites: sites.into_iter().map(SiteItem::from).collect(),
            kpis: Kpis::new(total, controls),
            unread_notifications: unread,
        }))
    }

    /// Your practice's sites
    #[oai(path = "/sites", method = "get", operation_id = "list_sites")]
    async fn list_sites(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
    ) -> Result<Json<SiteList>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        let sites = compliance::sites(&**db, user.org_id, &reach).await?;
        Ok(Json(SiteList { sites: sites.into_iter().map(SiteItem::from).collect() }))
    }

    /// One site, with its latest results by HIPAA control
    #[oai(path = "/sites/:site_id", method = "get", operation_id = "get_site")]
    async fn get_site(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        site_id: Path<Uuid>,
    ) -> Result<Json<SiteDetail>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        let compliance::SiteDetail { site, controls, standing } =
            compliance::site_detail(&**db, user.org_id, &reach, site_id.0).await?;
        compliance::record_view(
            &**db,
            &user,
            &reach,
            &ClientInfo::of(req),
            "site",
            Some(site_id.0.to_string()),
            serde_json::json!({ "via": "api" }),
        )
        .await?;
        Ok(Json(SiteDetail {
            kpis: Kpis::new(site.tally, standing),
            site: site.into(),
            controls: controls
                .into_iter()
                .map(|g| ControlItem {
                    hipaa_control: g.hipaa_control,
                    passed: g.tally.passed,
                    failed: g.tally.failed,
                    warnings: g.tally.warnings,
                    checks: g
                        .checks
                        .into_iter()
                        .map(|c| ControlCheck {
                            check_type: c.check_type,
                            host: c.host,
                            status: c.status.into(),
                            checked_at: c.checked_at,
                            bundle_id: c.bundle_id,
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    /// A site's daily score history
    ///
    /// One entry per UTC day, oldest first, ending today. Each day's score
    /// counts the latest result per check and host in the 30 days ending at
    /// that day's end.
    #[oai(path = "/sites/:site_id/history", method = "get", operation_id = "get_site_history")]
    async fn get_site_history(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
        site_id: Path<Uuid>,
        /// How many days, 1 to 2555 (seven years).
        #[oai(default)]
        days: Query<HistoryDays>,
    ) -> Result<Json<SiteHistory>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        compliance::require_site(&**db, user.org_id, &reach, site_id.0).await?;
        let history =
            queries::score_history(&**db, user.org_id, Some(site_id.0), None, days.0.0).await?;
        Ok(Json(SiteHistory {
            site_id: site_id.0,
            days: days.0.0,
            history: history
                .into_iter()
                .map(|d| HistoryItem {
                    score: d.score(),
                    date: d.date,
                    passed: d.tally.passed,
                    failed: d.tally.failed,
                    warnings: d.tally.warnings,
                })
                .collect(),
        }))
    }

    /// Browse evidence bundles
    ///
    /// Newest first (by `checked_at`). Filters combine; `check_type` and
    /// `hipaa_control` select bundles with at least one such check. Page
    /// with `next_cursor`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/evidence", method = "get", operation_id = "list_evidence")]
    async fn list_evidence(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        /// Only this site's bundles.
        site_id: Query<Option<Uuid>>,
        /// Only bundles with a check of this type, e.g. `bitlocker_status`.
        check_type: Query<Option<FilterText>>,
        /// Only bundles with this overall (worst) result.
        result: Query<Option<ResultParam>>,
        /// Only bundles with a check mapped to this control, e.g. `164.312(a)(2)(iv)`.
        hipaa_control: Query<Option<FilterText>>,
        /// Checked at or after this moment.
        from: Query<Option<DateTimeParam>>,
        /// Checked before this moment (an empty range selects nothing).
        to: Query<Option<DateTimeParam>>,
        /// Bundles per page, 1 to 200.
        #[oai(default)]
        limit: Query<PageLimit>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<CursorParam<Uuid>>>,
    ) -> Result<Json<EvidenceList>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let filter = EvidenceFilter {
            site_id: site_id.0,
            check_type: check_type.0.map(|t| t.0),
            result: result.0.map(|r| r.0),
            hipaa_control: hipaa_control.0.map(|t| t.0),
            from: from.0.map(|t| t.0),
            to: to.0.map(|t| t.0),
            sites: None,
        };
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        let page = compliance::list_evidence(
            &**db,
            user.org_id,
            &reach,
            &filter,
            cursor.0.map(|c| c.0).as_ref(),
            limit.0.0,
        )
        .await?;
        compliance::record_evidence_page(
            &**db,
            &user,
            &reach,
            &ClientInfo::of(req),
            &filter,
            &page,
            "api",
        )
        .await?;
        Ok(Json(EvidenceList {
            evidence: page.items.iter().map(EvidenceItem::from).collect(),
            total: page.total,
            total_exact: page.total_exact,
            next_cursor: page.next.map(|c| c.encode()),
        }))
    }

    /// One evidence bundle, its checks and its place in the chain
    #[oai(path = "/evidence/:bundle_id", method = "get", operation_id = "get_evidence")]
    async fn get_evidence(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        bundle_id: Path<BundleIdParam>,
        /// The site, when several sites of the practice used this id.
        site_id: Query<Option<Uuid>>,
    ) -> Result<Json<EvidenceDetail>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        let db = state.pool().get().await?;
        let org = user.org_id;
        let bundle = compliance::BundleRef::new(&bundle_id.0.0, site_id.0);
        let reach = Reach::of(&**db, &user).await?;
        let compliance::BundleDetail {
            detail: e,
            checks,
            neighbours,
            signature_valid,
            format_warnings,
        } = compliance::bundle_detail(&**db, org, &reach, &bundle).await?;
        compliance::record_view(
            &**db,
            &user,
            &reach,
            &ClientInfo::of(req),
            "evidence_bundle",
            Some(e.summary.bundle_id.clone()),
            serde_json::json!({ "via": "api", "site_id": e.summary.site_id }),
        )
        .await?;
        Ok(Json(EvidenceDetail {
            bundle: EvidenceItem::from(&e.summary),
            warn_checks: e.summary.warn_checks,
            received_at: e.received_at,
            chain_position: e.chain_position,
            chain_hash: hex::encode(&e.chain_hash),
            prev_chain_hash: hex::encode(&e.prev_chain_hash),
            signature: hex::encode(&e.signature),
            signature_valid,
            format_warnings,
            checks: checks
                .into_iter()
                .map(|c| EvidenceCheckItem {
                    check_type: c.check_type,
                    host: c.host,
                    hipaa_control: c.hipaa_control,
                    status: c.status.into(),
                    raw_status: c.raw_status,
                    details: c.details,
                })
                .collect(),
            neighbours: neighbours
                .into_iter()
                .map(|n| ChainNeighbour {
                    bundle_id: n.bundle_id,
                    chain_position: n.chain_position,
                    checked_at: n.checked_at,
                    result: n.result.into(),
                })
                .collect(),
        }))
    }

    /// Download a bundle's exact bytes
    ///
    /// The JSON exactly as the appliance sent it, never re-serialised, so
    /// its SHA-256 and signature can be checked independently. Downloads
    /// are recorded in the audit log.
    #[oai(
        path = "/evidence/:bundle_id/download",
        method = "get",
        operation_id = "download_evidence"
    )]
    async fn download_evidence(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        bundle_id: Path<BundleIdParam>,
        /// The site, when several sites of the practice used this id.
        site_id: Query<Option<Uuid>>,
    ) -> Result<EvidenceDownload, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        crate::auth::csrf::refuse_cross_site(req)?;
        let db = state.pool().get().await?;
        let bundle = compliance::BundleRef::new(&bundle_id.0.0, site_id.0);
        let reach = Reach::of(&**db, &user).await?;
        let file = compliance::download_bundle(&**db, &user, &reach, &bundle, &ClientInfo::of(req))
            .await?;
        let bundle_hash = hex::encode(&file.bundle_hash);
        // The id's characters (checked at ingest and by the path parameter)
        // need no quoting inside the filename.
        let disposition = format!("attachment; filename=\"{}.json\"", file.bundle_id);
        Ok(EvidenceDownload::Ok(
            RawJson(file.raw),
            disposition,
            bundle_hash,
            hex::encode(&file.chain_hash),
            file.chain_position,
            hex::encode(&file.signature),
            "no-store".to_owned(),
        ))
    }
}
