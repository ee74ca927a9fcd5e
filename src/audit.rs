//! The audit area: who did what in a practice. Owns the audit entry of a
//! user's action ([`user_entry`]), the filters' parsing and wording, the
//! keyset pages and the CSV export (itself audited), for the API
//! (`routes/api/audit.rs`) and the page (`routes/pages/audit.rs`) alike. SQL
//! lives in `db::audit`; the table is append-only.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde_json::Value;
use tokio::sync::{SemaphorePermit, mpsc, oneshot};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::Role;
use crate::auth::current::{ClientInfo, CurrentUser};
use crate::db::audit::{self, ActionFilter, ActorFilter, Cursor, Extent, Filter, Page};
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

/// Entries read and sent per chunk of a CSV export, so memory stays flat
/// whatever its size.
const EXPORT_PAGE: u32 = 1_000;

/// CSV exports streaming at once, each reading on a database connection of
/// its own (in one snapshot); another waits up to [`EXPORT_WAIT`] for one
/// to finish.
static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
const EXPORT_WAIT: Duration = Duration::from_secs(30);

/// How long a download that stopped reading may hold its connection
/// before the export gives up (the client sees a cut response).
const EXPORT_STALL: Duration = Duration::from_secs(60);

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

/// The chunks of a CSV export's body as they are read; an error ends the
/// body early (the download is cut, never silently short).
pub type CsvChunks = mpsc::Receiver<std::io::Result<bytes::Bytes>>;

/// A CSV export, ready to send: its facts are known before its body is
/// read, from the same snapshot.
#[derive(Debug)]
pub struct CsvExport {
    pub file_name: String,
    pub body: CsvChunks,
    pub rows: i64,
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

/// The last line of an export cut at [`EXPORT_CAP`].
fn cut_note(next: &str) -> String {
    format!(
        "# Export cut at {EXPORT_CAP} entries: more match these filters. Export again with \
         cursor={next} (or a narrower date range) for the rest."
    )
}

/// Every entry of `org_id` matching `filter` (after `after`), up to
/// [`EXPORT_CAP`], as CSV streamed a page at a time from one REPEATABLE
/// READ snapshot on a connection of its own: its extent goes to `head`
/// first, then the chunks to `chunks`. It stops when the download goes
/// away, or gives up when it stops reading for [`EXPORT_STALL`].
async fn stream_csv(
    mut conn: deadpool_postgres::Object,
    _permit: SemaphorePermit<'static>,
    org_id: Uuid,
    filter: Filter,
    after: Option<Cursor>,
    head: oneshot::Sender<AppResult<Extent>>,
    chunks: mpsc::Sender<std::io::Result<bytes::Bytes>>,
) {
    let snapshot = conn
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await;
    let t = match snapshot {
        Ok(t) => t,
        Err(e) => {
            let _ = head.send(Err(e.into()));
            return;
        }
    };
    let extent = match audit::extent(&*t, org_id, &filter, after.as_ref(), EXPORT_CAP).await {
        Ok(extent) => extent,
        Err(e) => {
            let _ = head.send(Err(e));
            return;
        }
    };
    if head.send(Ok(extent.clone())).is_err() {
        return;
    }
    let send = |chunk: std::io::Result<String>| {
        let chunks = chunks.clone();
        async move {
            let sent = tokio::time::timeout(EXPORT_STALL, chunks.send(chunk.map(Into::into)));
            matches!(sent.await, Ok(Ok(())))
        }
    };
    if !send(Ok(views::csv_header())).await {
        return;
    }
    let Some(last) = extent.last else { return };
    let mut cursor = after;
    loop {
        let page =
            audit::list_down_to(&*t, org_id, &filter, cursor.as_ref(), Some(&last), EXPORT_PAGE)
                .await;
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e.detail(), "an audit export stopped: the download is cut");
                send(Err(std::io::Error::other("the export stopped"))).await;
                return;
            }
        };
        if !send(Ok(views::csv_rows(&page.entries))).await {
            return;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if extent.more {
        send(Ok(views::csv_note(&cut_note(&last.encode())))).await;
    }
}

/// The practice's whole audit log as CSV, newest first, written to `out` a
/// page at a time (a full export, not capped; for packs). Returns the
/// entries written.
pub async fn write_full_csv(
    db: &impl GenericClient,
    org_id: Uuid,
    out: &mut impl std::io::Write,
) -> AppResult<u64> {
    out.write_all(views::csv_header().as_bytes()).map_err(AppError::internal)?;
    let mut after = None;
    let mut rows = 0u64;
    loop {
        let page = audit::list(db, org_id, &Filter::default(), after.as_ref(), EXPORT_PAGE).await?;
        out.write_all(views::csv_rows(&page.entries).as_bytes()).map_err(AppError::internal)?;
        rows += page.entries.len() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(rows),
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
/// as `audit.exported` with its filters; its body streams from `pool`.
pub async fn export_csv(
    pool: &deadpool_postgres::Pool,
    db: &impl GenericClient,
    user: &CurrentUser,
    filter: &Filter,
    after: Option<&Cursor>,
    client: &ClientInfo,
) -> AppResult<CsvExport> {
    let filter = readable(db, user, &Reach::of(db, user).await?, filter).await?;
    let busy = || {
        AppError::Unavailable(anyhow::anyhow!(
            "other audit exports are being downloaded; try again in a minute"
        ))
    };
    let permit = tokio::time::timeout(EXPORT_WAIT, EXPORTS.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let conn = pool.get().await?;
    let (head, extent) = oneshot::channel();
    let (chunks, body) = mpsc::channel(2);
    tokio::spawn(stream_csv(
        conn,
        permit,
        user.org_id,
        filter.clone(),
        after.cloned(),
        head,
        chunks,
    ));
    let extent = extent.await.map_err(|_| {
        AppError::internal(anyhow::anyhow!("the audit export stopped before it began"))
    })??;
    audit::record(
        db,
        &audit::Entry {
            target_type: Some("audit_log"),
            details: serde_json::json!({
                "format": "csv",
                "rows": extent.rows,
                "truncated": extent.more,
                "filters": describe(&filter),
            }),
            ..user_entry(user, client, "audit.exported")
        },
    )
    .await?;
    Ok(CsvExport {
        file_name: export_file_name(&user.org_name, Utc::now().date_naive()),
        body,
        rows: extent.rows,
        truncated: extent.more,
        next_cursor: extent.last.filter(|_| extent.more).map(|c| c.encode()),
    })
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
