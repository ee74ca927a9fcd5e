//! The audit area: who did what in a practice. Owns the audit entry of a
//! user's action ([`user_entry`]), the filters' parsing and wording, the
//! keyset pages and the CSV export (itself audited), for the API
//! (`routes/api/audit.rs`) and the page (`routes/pages/audit.rs`) alike. SQL
//! lives in `db::audit`; the table is append-only.

use chrono::{NaiveDate, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::Role;
use crate::auth::current::{ClientInfo, CurrentUser};
use crate::db::audit::{self, ActionFilter, ActorFilter, Cursor, Filter, Page};
use crate::error::{AppError, AppResult};
use crate::reach::Reach;
use crate::views::audit as views;
use crate::views::format::slug;

/// Who took an action: the signed-in caller, or an account signing in.
pub trait Actor {
    fn org_id(&self) -> Uuid;
    fn user_id(&self) -> Uuid;
    fn email(&self) -> &str;
}

/// Both kinds of user carry the same three fields.
macro_rules! actor {
    ($($user:ty),+) => {$(
        impl Actor for $user {
            fn org_id(&self) -> Uuid {
                self.org_id
            }
            fn user_id(&self) -> Uuid {
                self.id
            }
            fn email(&self) -> &str {
                &self.email
            }
        }
    )+};
}

actor!(CurrentUser, crate::db::users::UserRecord);

/// An audit entry for an action `user` took from `client`; set the target
/// and details with struct update syntax.
pub fn user_entry<'a>(
    user: &'a impl Actor,
    client: &'a ClientInfo,
    action: &'a str,
) -> audit::Entry<'a> {
    audit::Entry {
        org_id: Some(user.org_id()),
        actor_user_id: Some(user.user_id()),
        actor_email: Some(user.email()),
        action,
        ip: client.ip,
        user_agent: client.user_agent.as_deref(),
        ..Default::default()
    }
}

/// Entries per page: at most this many.
pub const MAX_PAGE: u32 = 500;
/// Entries per page unless asked otherwise.
pub const DEFAULT_PAGE: u32 = 100;

/// Most entries in one CSV export.
pub const EXPORT_CAP: u32 = 50_000;

/// Longest action (or prefix) accepted in a filter.
pub const MAX_ACTION_CHARS: usize = 100;

/// Longest `actor` accepted (the longest email address).
pub const MAX_ACTOR_CHARS: usize = 254;

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
/// monthly report file names ([`slug`]) and the export day.
fn export_file_name(practice: &str, day: NaiveDate) -> String {
    format!("audit-log-{}-{}.csv", slug(practice), day.format("%Y-%m-%d"))
}

/// Every entry of the caller's practice matching `filter` (after `after`),
/// up to [`EXPORT_CAP`], as CSV.
async fn export(
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
    let body = views::csv(&page.entries, note.as_deref());
    Ok(CsvExport {
        file_name: export_file_name(&user.org_name, Utc::now().date_naive()),
        body,
        rows: page.entries.len(),
        truncated,
        next_cursor,
    })
}

/// The practice's whole audit log as one CSV, newest first (a full
/// export; not capped, read a page at a time).
pub async fn full_csv(db: &impl GenericClient, org_id: Uuid) -> AppResult<String> {
    let mut out = String::new();
    let mut after = None;
    loop {
        let page = audit::list(db, org_id, &Filter::default(), after.as_ref(), EXPORT_CAP).await?;
        let csv = views::csv(&page.entries, None);
        match out.is_empty() {
            true => out.push_str(&csv),
            false => out.push_str(csv.split_once('\n').map_or("", |(_, rows)| rows)),
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// A user id in an actor filter must be one of the practice's users.
async fn check_actor(db: &impl GenericClient, org_id: Uuid, filter: &Filter) -> AppResult<()> {
    match filter.actor {
        Some(ActorFilter::UserId(id)) if !audit::user_in_org(db, org_id, id).await? => {
            Err(crate::reach::no_such_user())
        }
        _ => Ok(()),
    }
}

/// The filter as the caller may apply it: owners, admins and auditors read
/// the log (viewers do not); an auditor reads it from the start of their
/// grant's period on (the entries since record access to that evidence,
/// their own included).
async fn readable(
    db: &impl GenericClient,
    user: &CurrentUser,
    reach: &Reach,
    filter: &Filter,
) -> AppResult<Filter> {
    if user.role == Role::Viewer {
        return Err(AppError::Forbidden(
            "the audit log is for owners, admins and auditors; your role is viewer".into(),
        ));
    }
    check_actor(db, user.org_id, filter).await?;
    Ok(Filter { from: reach.audit_from(filter.from), ..filter.clone() })
}

/// A page of the practice's log, newest first, within the caller's
/// `reach` ([`Reach::of`]).
pub async fn list(
    db: &impl GenericClient,
    user: &CurrentUser,
    reach: &Reach,
    filter: &Filter,
    after: Option<&Cursor>,
    limit: u32,
) -> AppResult<Page> {
    let filter = readable(db, user, reach, filter).await?;
    audit::list(db, user.org_id, &filter, after, limit).await
}

/// The CSV export of every matching entry (up to [`EXPORT_CAP`]), recorded
/// as `audit.exported` with its filters.
pub async fn export_csv(
    db: &impl GenericClient,
    user: &CurrentUser,
    filter: &Filter,
    after: Option<&Cursor>,
    client: &ClientInfo,
) -> AppResult<CsvExport> {
    let filter = &readable(db, user, &Reach::of(db, user).await?, filter).await?;
    let export = export(db, user, filter, after).await?;
    audit::record(
        db,
        &audit::Entry {
            target_type: Some("audit_log"),
            details: serde_json::json!({
                "format": "csv",
                "rows": export.rows,
                "truncated": export.truncated,
                "filters": describe(filter),
            }),
            ..user_entry(user, client, "audit.exported")
        },
    )
    .await?;
    Ok(export)
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
