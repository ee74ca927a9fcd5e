//! The practice's audit log (owner, admin): filters, keyset pages and a CSV
//! export.

use std::borrow::Cow;

use chrono::{DateTime, Days, NaiveDate, Utc};
use poem::web::Data;
use poem::{IntoResponse, Request, Response};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use serde_json::Value;
use uuid::Uuid;

use super::error::{AUTHED, ApiError, NOT_FOUND};
use crate::auth::current::{ApiAdmin, ClientInfo, CurrentUser};
use crate::auth::flows::user_entry;
use crate::db::audit::{self, ActionFilter, ActorFilter, Cursor, Filter};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::views::audit as render;

#[derive(Tags)]
enum ApiTags {
    /// Who did what in your practice (owner, admin).
    Audit,
}

/// Implements poem-openapi's parameter traits for a newtype parsed by
/// `$parse` (which returns the reason a value is refused).
macro_rules! param_type {
    ($ty:ty, $name:expr, $schema:expr, $parse:expr) => {
        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(value).map_err(ParseError::custom)
            }
        }
    };
}

/// Most entries in one CSV export.
pub const EXPORT_CAP: u32 = 50_000;

/// Longest action (or prefix) accepted in a filter.
const MAX_ACTION_CHARS: usize = 100;

/// Longest `actor` accepted (the longest email address).
const MAX_ACTOR_CHARS: usize = 254;

/// `actor`: a user id, or else the recorded address (compared without
/// regard to case; an address that never acted simply finds nothing).
pub fn parse_actor(raw: &str) -> Result<ActorFilter, String> {
    if let Ok(id) = Uuid::parse_str(raw.trim()) {
        return Ok(ActorFilter::UserId(id));
    }
    if raw.is_empty() || raw.chars().count() > MAX_ACTOR_CHARS || raw.chars().any(char::is_control)
    {
        return Err(format!(
            "must be a user id (UUID) or an email address: 1 to {MAX_ACTOR_CHARS} characters \
             without control characters"
        ));
    }
    Ok(ActorFilter::Email(raw.trim().to_lowercase()))
}

/// `action`: `auth.signout` exactly; `auth.` or `auth.*` for every action
/// under `auth.`; in general a trailing `*` matches any ending.
pub fn parse_action(raw: &str) -> Result<ActionFilter, String> {
    let raw = raw.trim();
    let (body, star) = match raw.strip_suffix('*') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let ok = !body.is_empty()
        && raw.len() <= MAX_ACTION_CHARS
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if !ok {
        return Err(format!(
            "must be an action like auth.signout or a prefix like auth. (or auth.*): up to \
             {MAX_ACTION_CHARS} characters from a-z, 0-9, '_' and '.', optionally ending in '*'"
        ));
    }
    Ok(if star || body.ends_with('.') {
        ActionFilter::Prefix(body.to_owned())
    } else {
        ActionFilter::Exact(body.to_owned())
    })
}

/// The filters in use, for the `audit.exported` entry.
pub fn describe(filter: &Filter) -> Value {
    let mut m = serde_json::Map::new();
    match &filter.actor {
        Some(ActorFilter::UserId(id)) => {
            m.insert("actor".into(), Value::from(id.to_string()));
        }
        Some(ActorFilter::Email(e)) => {
            m.insert("actor".into(), Value::from(e.as_str()));
        }
        None => {}
    }
    match &filter.action {
        Some(ActionFilter::Exact(a)) => {
            m.insert("action".into(), Value::from(a.as_str()));
        }
        Some(ActionFilter::Prefix(p)) => {
            m.insert("action".into(), Value::from(format!("{p}*")));
        }
        None => {}
    }
    if let Some(f) = filter.from {
        m.insert("from".into(), Value::from(f.to_rfc3339()));
    }
    if let Some(t) = filter.to {
        m.insert("to".into(), Value::from(t.to_rfc3339()));
    }
    Value::Object(m)
}

/// A CSV export, ready to send.
#[derive(Debug, Clone)]
pub struct CsvExport {
    pub file_name: String,
    pub body: String,
    pub rows: usize,
    /// More entries matched than [`EXPORT_CAP`].
    pub truncated: bool,
    /// Where the rest starts when truncated.
    pub next_cursor: Option<String>,
}

/// `audit-log-oak-clinic-2026-10-05.csv`: the practice's name as in the
/// monthly report file names ([`crate::reports::slug`]) and the export day.
fn export_file_name(practice: &str, day: NaiveDate) -> String {
    format!("audit-log-{}-{}.csv", crate::reports::slug(practice), day.format("%Y-%m-%d"))
}

/// Every entry of the caller's practice matching `filter` (after `after`),
/// up to [`EXPORT_CAP`], as CSV.
pub async fn export(
    db: &impl tokio_postgres::GenericClient,
    user: &CurrentUser,
    filter: &Filter,
    after: Option<&Cursor>,
) -> AppResult<CsvExport> {
    let page = audit::list(db, user.org_id, filter, after, EXPORT_CAP).await?;
    let truncated = page.next.is_some();
    let next_cursor = page.next.map(|c| c.encode());
    let note = next_cursor.as_ref().map(|c| {
        format!(
            "# Export cut at {EXPORT_CAP} entries: more match these filters. Export again with \
             cursor={c} (or a narrower date range) for the rest."
        )
    });
    let body = render::csv(&page.entries, note.as_deref());
    Ok(CsvExport {
        file_name: export_file_name(&user.org_name, Utc::now().date_naive()),
        body,
        rows: page.entries.len(),
        truncated,
        next_cursor,
    })
}

/// Entries per page: 1 to 500, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLimit(pub u32);

pub const MAX_PAGE: u32 = 500;
pub const DEFAULT_PAGE: u32 = 100;

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

/// `next_cursor` of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursorParam(pub Cursor);

param_type!(
    AuditCursorParam,
    "string(audit_cursor)",
    MetaSchema {
        min_length: Some(Cursor::ENCODED_LEN),
        max_length: Some(Cursor::ENCODED_LEN),
        pattern: Some("^[A-Za-z0-9_-]+$".to_owned()),
        ..MetaSchema::new("string")
    },
    |raw| {
        Cursor::decode(raw).map(AuditCursorParam).ok_or_else(|| {
            "is not a cursor: pass next_cursor from the previous page unchanged".to_owned()
        })
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

impl From<audit::Row> for AuditEntry {
    fn from(r: audit::Row) -> Self {
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
                b.body(c.body)
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
    /// Your practice's audit log (owner, admin)
    ///
    /// Every sensitive action (sign-ins and sign-outs, password and token
    /// changes, invites and user changes, transfer requests, downloads), newest
    /// first. Filters combine. Page with `next_cursor`; `format=csv` exports
    /// every matching entry (up to 50,000) as a file, and is itself recorded
    /// as `audit.exported`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/audit-log", method = "get", operation_id = "list_audit_log")]
    async fn list_audit_log(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
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
        cursor: Query<Option<AuditCursorParam>>,
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
        let db = state.pool().get().await.map_err(AppError::from)?;
        if let Some(ActorFilter::UserId(id)) = filter.actor
            && !audit::user_in_org(&**db, user.0.org_id, id).await?
        {
            return Err(AppError::NotFound("no such user in your practice".into()).into());
        }
        let after = cursor.0.map(|c| c.0);
        match format.0.unwrap_or_default() {
            AuditFormat::Json => {
                let page =
                    audit::list(&**db, user.0.org_id, &filter, after.as_ref(), limit.0.0).await?;
                Ok(AuditLogResponse::Json(Json(AuditPage {
                    next_cursor: page.next.map(|c| c.encode()),
                    entries: page.entries.into_iter().map(AuditEntry::from).collect(),
                })))
            }
            AuditFormat::Csv => {
                let export = export(&**db, &user.0, &filter, after.as_ref()).await?;
                audit::record(
                    &**db,
                    &audit::Entry {
                        target_type: Some("audit_log"),
                        details: serde_json::json!({
                            "format": "csv",
                            "rows": export.rows,
                            "truncated": export.truncated,
                            "filters": describe(&filter),
                        }),
                        ..user_entry(&user.0, &ClientInfo::of(req), "audit.exported")
                    },
                )
                .await?;
                Ok(AuditLogResponse::Csv(export))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_exact_or_prefixes() {
        assert_eq!(parse_action("auth.signout"), Ok(ActionFilter::Exact("auth.signout".into())));
        assert_eq!(parse_action("auth."), Ok(ActionFilter::Prefix("auth.".into())));
        assert_eq!(parse_action("auth.*"), Ok(ActionFilter::Prefix("auth.".into())));
        assert_eq!(parse_action("auth.sign*"), Ok(ActionFilter::Prefix("auth.sign".into())));
        for bad in ["", "*", "AUTH.", "a b", "a;drop", "a**", &"a".repeat(101)] {
            assert!(parse_action(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actors_are_ids_or_emails() {
        let id = Uuid::new_v4();
        assert_eq!(parse_actor(&id.to_string()), Ok(ActorFilter::UserId(id)));
        assert_eq!(parse_actor(" Jo@X.example "), Ok(ActorFilter::Email("jo@x.example".into())));
        assert_eq!(parse_actor("nobody"), Ok(ActorFilter::Email("nobody".into())));
        assert!(parse_actor("").is_err());
        assert!(parse_actor("a\u{0}b").is_err());
        assert!(parse_actor(&"a".repeat(255)).is_err());
    }

    #[test]
    fn file_names_are_slugs() {
        let day = NaiveDate::from_ymd_opt(2026, 10, 5).unwrap();
        assert_eq!(export_file_name("Oak Clinic!", day), "audit-log-oak-clinic-2026-10-05.csv");
        assert_eq!(
            export_file_name("  Dr. Åsa's  Clínica ", day),
            "audit-log-dr-asa-s-clinica-2026-10-05.csv",
            "accented letters are kept as their base letter"
        );
        assert_eq!(export_file_name("***", day), "audit-log-practice-2026-10-05.csv");
        let long = format!("{} Clinic", "a".repeat(59));
        assert_eq!(
            export_file_name(&long, day),
            format!("audit-log-{}-2026-10-05.csv", "a".repeat(59)),
            "a name cut at the length limit does not end in a hyphen"
        );
    }
}
