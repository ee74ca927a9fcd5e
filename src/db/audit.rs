//! The append-only audit log.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::cursor::cut_page;
use super::sql::Statement;
use crate::error::AppResult;

/// One audit entry. `actor_email` is kept even for unknown addresses, so
/// attempts against accounts that do not exist are visible too.
#[derive(Debug, Default, Clone)]
pub struct Entry<'a> {
    pub org_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: Option<&'a str>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub details: serde_json::Value,
}

pub async fn record(db: &impl GenericClient, e: &Entry<'_>) -> AppResult<()> {
    let details = if e.details.is_null() { serde_json::json!({}) } else { e.details.clone() };
    let ua = e.user_agent.map(|ua| ua.chars().take(512).collect::<String>());
    db.execute(
        "INSERT INTO client_audit_log
           (client_org_id, actor_user_id, actor_email, action, target_type, target_id, ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[&e.org_id, &e.actor_user_id, &e.actor_email, &e.action, &e.target_type, &e.target_id, &e.ip, &ua, &details],
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading the log: filters and keyset pages, newest first.
// ---------------------------------------------------------------------------

/// Whose actions to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorFilter {
    /// A user of the practice.
    UserId(Uuid),
    /// An address as recorded (lower-case), e.g. for sign-in attempts with
    /// an address that has no account.
    Email(String),
}

/// Which actions to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    /// Exactly this action, e.g. `auth.signout`.
    Exact(String),
    /// Every action starting with this, e.g. `auth.`.
    Prefix(String),
}

/// What to show; every part optional. `from` is inclusive, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<ActorFilter>,
    pub action: Option<ActionFilter>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Where the next page starts: the last entry of the previous one, by
/// created_at and id. Opaque to clients (see [`super::cursor`]).
pub type Cursor = super::cursor::Cursor<i64>;

/// One entry as the log shows it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
    /// The actor's name today, when they are a user with one (not in the
    /// CSV, which keeps what was recorded).
    pub actor_name: Option<String>,
}

/// One page of entries and where the next one starts (None at the end).
#[derive(Debug, Clone)]
pub struct Page {
    pub entries: Vec<Row>,
    pub next: Option<Cursor>,
}

/// The filter's values in the form the statement binds.
struct Bound {
    user_id: Option<Uuid>,
    email: Option<String>,
    exact: Option<String>,
    prefix: Option<String>,
}

impl Bound {
    fn of(filter: &Filter) -> Bound {
        let (user_id, email) = match &filter.actor {
            Some(ActorFilter::UserId(id)) => (Some(*id), None),
            Some(ActorFilter::Email(e)) => (None, Some(e.to_lowercase())),
            None => (None, None),
        };
        let (exact, prefix) = match &filter.action {
            Some(ActionFilter::Exact(a)) => (Some(a.clone()), None),
            Some(ActionFilter::Prefix(p)) => (None, Some(p.clone())),
            None => (None, None),
        };
        Bound { user_id, email, exact, prefix }
    }
}

const COLUMNS: &str = "id, created_at, actor_user_id, actor_email, action, target_type, \
     target_id, ip, user_agent, details, \
     (SELECT u.name FROM client_users u WHERE u.id = actor_user_id) AS actor_name";

fn row_from(r: &tokio_postgres::Row) -> Row {
    Row {
        id: r.get(0),
        created_at: r.get(1),
        actor_user_id: r.get(2),
        actor_email: r.get(3),
        action: r.get(4),
        target_type: r.get(5),
        target_id: r.get(6),
        ip: r.get(7),
        user_agent: r.get(8),
        details: r.get(9),
        actor_name: r.get(10),
    }
}

/// The practice's entries matching `filter`, newest first (created_at,
/// then id, both descending), after `after`, at most `limit` (clamped to
/// 1..=100,000). Keyset pagination on `client_audit_log_org_created_idx`
/// (or, filtered by actor or action, on `client_audit_log_org_actor_idx`,
/// `client_audit_log_org_actor_email_idx` or `client_audit_log_org_action_idx`,
/// which all end in `created_at DESC, id DESC`): a page costs the same
/// however deep it is.
pub async fn list(
    db: &impl GenericClient,
    org_id: Uuid,
    filter: &Filter,
    after: Option<&Cursor>,
    limit: u32,
) -> AppResult<Page> {
    list_down_to(db, org_id, filter, after, None, limit).await
}

/// The matching entries of `filter` after `after`, newest first: the
/// statement's text and parameters, for [`list_down_to`] and [`extent`].
fn matching<'a>(
    org_id: &'a Uuid,
    bound: &'a Bound,
    filter: &'a Filter,
    after: Option<&'a Cursor>,
) -> Statement<'a> {
    let (mut st, _) = Statement::where_eq("client_org_id", org_id);
    st.and_if(&bound.user_id, |p| format!("actor_user_id = {p}"));
    st.and_if(&bound.email, |p| format!("lower(actor_email) = {p}"));
    st.and_if(&bound.exact, |p| format!("action = {p}"));
    st.and_if(&bound.prefix, |p| format!("starts_with(action, {p})"));
    st.and_if(&filter.from, |p| format!("created_at >= {p}"));
    st.and_if(&filter.to, |p| format!("created_at < {p}"));
    if let Some(after) = after {
        let (at, id) = (st.bind(&after.at), st.bind(&after.id));
        st.text += &format!(" AND (created_at, id) < ({at}, {id})");
    }
    st
}

/// [`list`], stopping at `down_to` (inclusive) when given: the pages of an
/// export whose last entry [`extent`] found.
pub async fn list_down_to(
    db: &impl GenericClient,
    org_id: Uuid,
    filter: &Filter,
    after: Option<&Cursor>,
    down_to: Option<&Cursor>,
    limit: u32,
) -> AppResult<Page> {
    let limit = i64::from(limit.clamp(1, 100_000));
    let fetch = limit + 1;
    let bound = Bound::of(filter);
    let mut st = matching(&org_id, &bound, filter, after);
    if let Some(last) = down_to {
        let (at, id) = (st.bind(&last.at), st.bind(&last.id));
        st.text += &format!(" AND (created_at, id) >= ({at}, {id})");
    }
    let limit_param = st.bind(&fetch);
    let sql = format!(
        "SELECT {COLUMNS} FROM client_audit_log {}
          ORDER BY created_at DESC, id DESC LIMIT {limit_param}",
        st.text
    );
    let rows = db.query_typed(&sql, &st.params).await?;
    let mut entries: Vec<Row> = rows.iter().map(row_from).collect();
    let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let next = cut_page(&mut entries, page_len, |e| Cursor { at: e.created_at, id: e.id });
    Ok(Page { entries, next })
}

/// How much an export of at most `cap` entries takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    /// Entries it holds: all that match, or `cap`.
    pub rows: i64,
    /// Its oldest entry (None: nothing matches).
    pub last: Option<Cursor>,
    /// More entries than `cap` match.
    pub more: bool,
}

/// The extent of the entries of `filter` after `after`, capped at `cap`,
/// without reading them: the oldest two keys of the first `cap + 1`, with
/// their rank, in one statement over the index.
pub async fn extent(
    db: &impl GenericClient,
    org_id: Uuid,
    filter: &Filter,
    after: Option<&Cursor>,
    cap: u32,
) -> AppResult<Extent> {
    let bound = Bound::of(filter);
    let mut st = matching(&org_id, &bound, filter, after);
    let cap = i64::from(cap.max(1));
    let fetch = cap + 1;
    let limit_param = st.bind(&fetch);
    let sql = format!(
        "SELECT created_at, id, n FROM (
             SELECT created_at, id, row_number() OVER (ORDER BY created_at DESC, id DESC) AS n
               FROM (SELECT created_at, id FROM client_audit_log {}
                      ORDER BY created_at DESC, id DESC LIMIT {limit_param}) k) r
          ORDER BY n DESC LIMIT 2",
        st.text
    );
    let rows = db.query_typed(&sql, &st.params).await?;
    let key = |r: &tokio_postgres::Row| Cursor { at: r.get(0), id: r.get(1) };
    let oldest_rank: i64 = rows.first().map_or(0, |r| r.get(2));
    Ok(match oldest_rank > cap {
        // One more than the cap matched: the last one kept is the next oldest.
        true => Extent { rows: cap, last: rows.get(1).map(key), more: true },
        false => Extent { rows: oldest_rank, last: rows.first().map(key), more: false },
    })
}

pub async fn user_in_org(db: &impl GenericClient, org_id: Uuid, user_id: Uuid) -> AppResult<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM client_users WHERE id = $1 AND client_org_id = $2",
            &[&user_id, &org_id],
        )
        .await?
        .is_some())
}

/// A user of the practice, for the actor filter.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub is_active: bool,
}

/// The practice's users, removed ones included (their entries stay), by email.
pub async fn actors(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<Actor>> {
    let rows = db
        .query(
            "SELECT id, email, name, is_active FROM client_users
              WHERE client_org_id = $1 ORDER BY email",
            &[&org_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Actor { id: r.get(0), email: r.get(1), name: r.get(2), is_active: r.get(3) })
        .collect())
}

/// Most distinct actions suggested for a practice.
const MAX_ACTIONS: i32 = 200;

/// The distinct actions in the practice's log, sorted (a loose index scan
/// of `client_audit_log_org_action_idx`).
pub async fn actions(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<String>> {
    super::distinct_in_org(db, "client_audit_log", "action", org_id, MAX_ACTIONS).await
}
