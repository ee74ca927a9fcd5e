//! The practice's audit log (owner, admin): filters, keyset pages and a CSV
//! export.

use chrono::{DateTime, Days, NaiveDate, Utc};
use poem::web::Data;
use poem::{IntoResponse, Request, Response};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use serde_json::Value;
use uuid::Uuid;

use super::error::{AUTHED, ApiError, NOT_FOUND};
use super::types::CursorParam;
use crate::audit::{
    self, CsvExport, DEFAULT_PAGE, MAX_ACTOR_CHARS, MAX_PAGE, parse_action, parse_actor,
};
use crate::auth::current::{ApiReader, ClientInfo};
use crate::db::audit::{ActionFilter, ActorFilter, Filter, Row};
use crate::param_type;
use crate::reach::Reach;
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Who did what in your practice (owner, admin).
    Audit,
}

/// Entries per page: 1 to 500, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLimit(pub u32);

impl Default for AuditLimit {
    fn default() -> Self {
        AuditLimit(DEFAULT_PAGE)
    }
}

impl ToJSON for AuditLimit {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

param_type!(
    AuditLimit,
    "integer(audit_limit)",
    MetaSchema {
        minimum: Some(1.0),
        maximum: Some(f64::from(MAX_PAGE)),
        ..MetaSchema::new_with_format("integer", "int32")
    },
    |raw| {
        raw.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .map(AuditLimit)
            .ok_or_else(|| format!("must be a whole number from 1 to {MAX_PAGE}"))
    }
);

/// A user id or an email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorParam(pub ActorFilter);

param_type!(
    ActorParam,
    "string(actor)",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(MAX_ACTOR_CHARS),
        pattern: Some(r"^[^\x00-\x1f\x7f-\x9f]+$".to_owned()),
        example: Some("owner@practice.example".into()),
        ..MetaSchema::new("string")
    },
    |raw| parse_actor(raw).map(ActorParam)
);

/// An action, or a prefix ending in `.` (or `.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionParam(pub ActionFilter);

param_type!(
    ActionParam,
    "string(action)",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(100),
        pattern: Some(r"^[a-z0-9_.]+\*?$".to_owned()),
        example: Some("auth.".into()),
        ..MetaSchema::new("string")
    },
    |raw| parse_action(raw).map(ActionParam)
);

/// A date (`YYYY-MM-DD`, a whole UTC day) or an RFC 3339 date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MomentParam {
    Day(NaiveDate),
    At(DateTime<Utc>),
}

impl MomentParam {
    /// As a lower bound: the day's start.
    pub fn start(self) -> Option<DateTime<Utc>> {
        match self {
            MomentParam::Day(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
            MomentParam::At(t) => Some(t),
        }
    }

    /// As an (exclusive) upper bound: a day includes itself.
    pub fn end(self) -> Option<DateTime<Utc>> {
        match self {
            MomentParam::Day(d) => d
                .checked_add_days(Days::new(1))
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            MomentParam::At(t) => Some(t),
        }
    }
}

param_type!(
    MomentParam,
    "string(date-or-date-time)",
    MetaSchema {
        any_of: vec![
            MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date"))),
            MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time"))),
        ],
        example: Some("2026-11-24".into()),
        ..MetaSchema::ANY
    },
    |raw| {
        let raw = raw.trim();
        if raw.len() == 10
            && let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        {
            return Ok(MomentParam::Day(d));
        }
        DateTime::parse_from_rfc3339(raw).ok().map(|t| MomentParam::At(t.to_utc())).ok_or_else(
            || {
                "must be a date (YYYY-MM-DD) or an RFC 3339 date-time, e.g. 2026-11-24 or \
                 2026-11-24T10:00:00Z"
                    .to_owned()
            },
        )
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "lowercase")]
pub enum AuditFormat {
    /// A page of entries as JSON.
    #[default]
    Json,
    /// Every matching entry (up to 50,000) as a CSV attachment.
    Csv,
}

#[derive(Debug, Object)]
pub struct AuditEntry {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// The practice user who acted; null for staff, operators and unknown addresses.
    #[oai(nullable)]
    pub actor_user_id: Option<Uuid>,
    /// Who acted, as recorded (kept even for addresses without an account).
    #[oai(nullable)]
    pub actor_email: Option<String>,
    /// What happened, e.g. `auth.signin_succeeded`, `transfer.requested`.
    pub action: String,
    /// What it happened to, e.g. `session`, `api_token`.
    #[oai(nullable)]
    pub target_type: Option<String>,
    #[oai(nullable)]
    pub target_id: Option<String>,
    /// The client's address.
    #[oai(nullable)]
    pub ip: Option<String>,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// Action-specific facts.
    pub details: Value,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> Self {
        AuditEntry {
            id: r.id,
            created_at: r.created_at,
            actor_user_id: r.actor_user_id,
            actor_email: r.actor_email,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            ip: r.ip.map(|ip| ip.to_string()),
            user_agent: r.user_agent,
            details: r.details,
        }
    }
}

#[derive(Debug, Object)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The log as JSON, or as a CSV attachment.
pub enum AuditLogResponse {
    Json(Json<AuditPage>),
    Csv(CsvExport),
}

impl IntoResponse for AuditLogResponse {
    fn into_response(self) -> Response {
        match self {
            AuditLogResponse::Json(j) => j.into_response(),
            AuditLogResponse::Csv(c) => {
                let mut b = Response::builder()
                    .content_type("text/csv; charset=utf-8")
                    .header(
                        "Content-Disposition",
                        format!("attachment; filename=\"{}\"", c.file_name),
                    )
                    .header("Cache-Control", "no-store")
                    .header("X-Audit-Rows", c.rows.to_string())
                    .header("X-Audit-Truncated", c.truncated.to_string());
                if let Some(next) = &c.next_cursor {
                    b = b.header("X-Next-Cursor", next.as_str());
                }
                let chunks = futures_util::stream::unfold(c.body, |mut rx| async move {
                    rx.recv().await.map(|chunk| (chunk, rx))
                });
                b.body(poem::Body::from_bytes_stream(chunks))
            }
        }
    }
}

impl ApiResponse for AuditLogResponse {
    fn meta() -> MetaResponses {
        let header =
            |name: &str, description: &str, schema: MetaSchemaRef, required: bool| MetaHeader {
                name: name.to_owned(),
                description: Some(description.to_owned()),
                required,
                deprecated: false,
                schema,
            };
        MetaResponses {
            responses: vec![MetaResponse {
                description: "A page of entries (JSON), or with `format=csv` every matching entry \
                              up to 50,000 as a CSV attachment: a header row, then one row per \
                              entry newest first; every field quoted; cells that a spreadsheet \
                              would run as a formula (starting with =, +, -, @, tab or CR) \
                              prefixed with a single quote. When the cap cut the export short, \
                              `X-Audit-Truncated` is true, `X-Next-Cursor` continues it, and \
                              the file ends with a line starting with `#` that says so.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: AuditPage::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "text/csv; charset=utf-8",
                        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                    },
                ],
                headers: vec![
                    header(
                        "Content-Disposition",
                        "CSV only: `attachment; filename=\"audit-log-<practice>-<date>.csv\"`.",
                        String::schema_ref(),
                        false,
                    ),
                    header(
                        "X-Audit-Rows",
                        "CSV only: entries in the file.",
                        u64::schema_ref(),
                        false,
                    ),
                    header(
                        "X-Audit-Truncated",
                        "CSV only: true when more entries matched than the 50,000 exported.",
                        bool::schema_ref(),
                        false,
                    ),
                    header(
                        "X-Next-Cursor",
                        "CSV only, when truncated: pass as `cursor` to export the rest.",
                        String::schema_ref(),
                        false,
                    ),
                ],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        AuditPage::register(registry);
    }
}

pub struct AuditApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Your practice's audit log (owner, admin, auditor)
    ///
    /// Every sensitive action (sign-ins and sign-outs, password and token
    /// changes, invites and user changes, transfer requests, downloads), newest
    /// first. Filters combine. Page with `next_cursor`; `format=csv` exports
    /// every matching entry (up to 50,000) as a file, and is itself recorded
    /// as `audit.exported`. An auditor reads the entries from the start of
    /// their grant's period on.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/audit-log", method = "get", operation_id = "list_audit_log")]
    async fn list_audit_log(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiReader,
        /// Only this person's actions: a user id of your practice (another
        /// id is a 404), or else an email address as recorded (any case).
        actor: Query<Option<ActorParam>>,
        /// An exact action (`auth.signout`), or a prefix: ending in `.`
        /// (`auth.`) or in `*` (`auth.*`, `auth.sign*`).
        action: Query<Option<ActionParam>>,
        /// From this moment on (inclusive); a date means the start of that UTC day.
        from: Query<Option<MomentParam>>,
        /// Before this moment; a date includes that whole UTC day. A range
        /// that ends before it starts selects nothing.
        to: Query<Option<MomentParam>>,
        /// Entries per page, 1 to 500 (JSON only).
        #[oai(default)]
        limit: Query<AuditLimit>,
        /// `next_cursor` of the previous page (or `X-Next-Cursor` of a cut export).
        cursor: Query<Option<CursorParam<i64>>>,
        /// `json` (default) or `csv`.
        format: Query<Option<AuditFormat>>,
    ) -> Result<AuditLogResponse, ApiError<{ AUTHED | NOT_FOUND }>> {
        let from = from.0.map(|m| m.start());
        let to = to.0.map(|m| m.end());
        let filter = Filter {
            actor: actor.0.map(|a| a.0),
            action: action.0.map(|a| a.0),
            from: from.flatten(),
            to: to.flatten(),
        };
        let db = state.pool().get().await?;
        let after = cursor.0.map(|c| c.0);
        match format.0.unwrap_or_default() {
            AuditFormat::Json => {
                let reach = Reach::of(&**db, &user).await?;
                let page =
                    audit::list(&**db, &user, &reach, &filter, after.as_ref(), limit.0.0).await?;
                Ok(AuditLogResponse::Json(Json(AuditPage {
                    next_cursor: page.next.map(|c| c.encode()),
                    entries: page.entries.into_iter().map(AuditEntry::from).collect(),
                })))
            }
            AuditFormat::Csv => {
                crate::auth::csrf::refuse_cross_site(req)?;
                let export = audit::export_csv(
                    state.pool(),
                    &**db,
                    &user,
                    &filter,
                    after.as_ref(),
                    &ClientInfo::of(req),
                )
                .await?;
                Ok(AuditLogResponse::Csv(export))
            }
        }
    }
}
