//! Notifications for a practice, and who gets them by email.

use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::error::AppResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub org_id: Uuid,
    pub site_id: Option<Uuid>,
    pub kind: &'static str,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
    pub action_label: Option<String>,
    /// The same event raised twice (a retried ingest, two sweepers) lands once.
    pub dedupe_key: String,
    /// The one (check, host) it is about, if any.
    pub check: Option<(String, String)>,
    /// Whether another event with the same key counts as a repeat
    /// (`occurrences` + 1) rather than a duplicate to drop.
    pub repeats: bool,
}

// "Mark all read" and new notifications.
//
// Marking all read moves the user's watermark, and a notification created at
// or before it counts as read. With `created_at DEFAULT now()` (the start of
// the inserting transaction) a notification whose transaction began before
// a "mark all read" and committed after it would land under the watermark:
// read, although the user never saw it and it was not in the count. So:
//
// - every insert first takes the practice's notification lock in SHARED mode
//   (inserts do not wait for each other) and stamps `created_at` with
//   clock_timestamp(), the moment of the insert, while holding it; the lock
//   is held until the inserting transaction ends;
// - "mark all read" takes the same lock EXCLUSIVELY in a transaction of its
//   own, so it waits until every transaction that has inserted for the
//   practice has committed (or rolled back), and only then sets the
//   watermark to clock_timestamp() and counts, in a later statement whose
//   snapshot sees those notifications.
//
// Every notification under a watermark was therefore committed before the
// watermark was set, and counted by that "mark all read"; every insert that
// comes later waits for the exclusive lock to be released and gets a later
// created_at than the watermark, so it arrives unread.

/// The practice's notification lock: `$1` is the practice's id. Shared by
/// inserts, exclusive for "mark all read" (see above).
const ORG_LOCK_KEY: &str = "hashtextextended('notif:' || $1::uuid::text, 0)";

/// Inserts the notification unless one with the same dedupe key exists
/// (then, when `repeats`, counts one more occurrence on it); returns its id
/// when it was new. Holds the practice's notification lock
/// (shared) until the caller's transaction ends, or to the end of this one
/// statement on a connection outside a transaction (see above).
pub async fn insert(db: &impl GenericClient, n: &NewNotification) -> AppResult<Option<Uuid>> {
    // One statement, so the lock is taken even when the caller has no
    // transaction; MATERIALIZED (and the function's volatility) make the
    // lock come first, then clock_timestamp() for the row.
    let row = db
        .query_opt(
            &format!(
                "WITH org_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({ORG_LOCK_KEY}))
                 INSERT INTO client_notifications
                   (client_org_id, site_id, type, severity, title, message, action_url, action_label,
                    dedupe_key, check_type, host, created_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, clock_timestamp() FROM org_lock
                 ON CONFLICT (client_org_id, dedupe_key) DO UPDATE
                    SET occurrences = client_notifications.occurrences + 1
                  WHERE $12::boolean
                 RETURNING id, xmax = 0"
            ),
            &[
                &n.org_id,
                &n.site_id,
                &n.kind,
                &n.severity.as_str(),
                &n.title,
                &n.message,
                &n.action_url,
                &n.action_label,
                &n.dedupe_key,
                &n.check.as_ref().map(|c| c.0.as_str()),
                &n.check.as_ref().map(|c| c.1.as_str()),
                &n.repeats,
            ],
        )
        .await?;
    // A repeat counted on an existing row is not a new notification.
    Ok(row.filter(|r| r.get::<_, bool>(1)).map(|r| r.get(0)))
}

/// Owners and admins of the practice who want critical alerts by email.
pub async fn critical_alert_recipients(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Vec<(String, Option<String>)>> {
    let rows = db
        .query(
            "SELECT email, name FROM client_users
              WHERE client_org_id = $1 AND is_active AND notify_critical_email AND role IN ('owner', 'admin')
              ORDER BY email",
            &[&org_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Sites of active practices whose last evidence is older than `silent_for`
/// (and that ever sent any): (org, site, name, last evidence).
pub async fn silent_sites(
    db: &impl GenericClient,
    silent_for: std::time::Duration,
) -> AppResult<Vec<(Uuid, Uuid, String, chrono::DateTime<chrono::Utc>)>> {
    let secs = silent_for.as_secs_f64();
    let rows = db
        .query(
            "SELECT s.client_org_id, s.id, s.name, s.last_evidence_at
               FROM sites s JOIN client_orgs o ON o.id = s.client_org_id
              WHERE o.status = 'active' AND s.last_evidence_at < now() - make_interval(secs => $1)",
            &[&secs],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}

// ---------------------------------------------------------------------------
// The notification centre: per-user read state.
//
// A notification is read by a user when it has a row in
// client_notification_reads for them, or when it was created at or before
// the user's "read all" watermark (client_users.notifications_read_through).
// Every query names the caller's org, so another practice's ids find nothing.
// ---------------------------------------------------------------------------

/// One notification as one user sees it.
#[derive(Debug, Clone)]
pub struct UserNotification {
    pub id: Uuid,
    pub kind: String,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
    pub action_label: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// How many times it happened (a flapping check's changes that day).
    pub occurrences: i32,
    /// Pinned: a critical about a check that is still failing.
    pub still_failing: bool,
    /// When this user read it (their read row, else their watermark); None
    /// while unread.
    pub read_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl UserNotification {
    pub fn is_read(&self) -> bool {
        self.read_at.is_some()
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(raw: &str) -> Result<Severity, String> {
        match raw {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            other => Err(format!("unknown severity {other:?}")),
        }
    }
}

/// Columns of [`UserNotification`]; `$1` org, `$2` user. `w.wm` is the
/// user's watermark (NULL = never marked all read).
const SELECT_FOR_USER: &str = "
SELECT n.id, n.type, n.severity, n.title, n.message, n.action_url, n.action_label, n.created_at,
       coalesce(r.read_at, CASE WHEN n.created_at <= w.wm THEN w.wm END) AS read_at,
       n.occurrences,
       n.severity = 'critical' AND EXISTS (
           SELECT 1 FROM check_states cs
            WHERE cs.site_id = n.site_id AND cs.check_type = n.check_type AND cs.host = n.host
              AND cs.last_status = 'fail' AND cs.changed_at <= n.created_at) AS still_failing
  FROM client_notifications n
 CROSS JOIN (SELECT (SELECT u.notifications_read_through FROM client_users u
                      WHERE u.id = $2 AND u.client_org_id = $1) AS wm) w
  LEFT JOIN client_notification_reads r ON r.notification_id = n.id AND r.user_id = $2
 WHERE n.client_org_id = $1";

fn from_row(row: &tokio_postgres::Row) -> AppResult<UserNotification> {
    let severity: &str = row.get(2);
    Ok(UserNotification {
        id: row.get(0),
        kind: row.get(1),
        severity: severity
            .parse()
            .map_err(|e: String| crate::error::AppError::internal(anyhow::anyhow!(e)))?,
        title: row.get(3),
        message: row.get(4),
        action_url: row.get(5),
        action_label: row.get(6),
        created_at: row.get(7),
        read_at: row.get(8),
        occurrences: row.get(9),
        still_failing: row.get(10),
    })
}

/// A position in a user's notification list (newest first): the last row
/// a page showed, by created_at and id.
pub type ListCursor = super::cursor::Cursor<Uuid>;

/// The practice's notifications for `user_id`, newest first: at most
/// `limit`, only unread ones when `unread_only`, only of `severity` when
/// given, and only those after `after` (keyset, on
/// client_notifications_org_created_idx).
pub async fn list_for_user(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
    unread_only: bool,
    severity: Option<Severity>,
    after: Option<ListCursor>,
    limit: i64,
) -> AppResult<Vec<UserNotification>> {
    let at = after.map(|c| c.at);
    let id = after.map(|c| c.id);
    let severity = severity.map(Severity::as_str);
    let rows = db
        .query_typed(
            &format!(
                "{SELECT_FOR_USER}
                   AND (NOT $3 OR (n.created_at > coalesce(w.wm, '-infinity') AND r.notification_id IS NULL))
                   AND ($4::timestamptz IS NULL OR (n.created_at, n.id) < ($4, $5::uuid))
                   AND ($7::text IS NULL OR n.severity = $7)
                 ORDER BY n.created_at DESC, n.id DESC
                 LIMIT $6"
            ),
            &[
                (&org_id, Type::UUID),
                (&user_id, Type::UUID),
                (&unread_only, Type::BOOL),
                (&at, Type::TIMESTAMPTZ),
                (&id, Type::UUID),
                (&limit, Type::INT8),
                (&severity, Type::TEXT),
            ],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// The practice's criticals about checks that are still failing, the
/// newest per (site, check, host), newest first: pinned above the list.
pub async fn open_criticals(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
    limit: i64,
) -> AppResult<Vec<UserNotification>> {
    let rows = db
        .query_typed(
            &format!(
                "SELECT q.* FROM (
                     {SELECT_FOR_USER}
                       AND n.id IN (
                           SELECT DISTINCT ON (m.site_id, m.check_type, m.host) m.id
                             FROM client_notifications m
                            WHERE m.client_org_id = $1 AND m.severity = 'critical'
                              AND m.check_type IS NOT NULL
                            ORDER BY m.site_id, m.check_type, m.host, m.created_at DESC, m.id DESC)
                 ) q
                 WHERE q.still_failing
                 ORDER BY q.created_at DESC, q.id DESC
                 LIMIT $3"
            ),
            &[(&org_id, Type::UUID), (&user_id, Type::UUID), (&limit, Type::INT8)],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// One notification of the practice as `user_id` sees it; None when the
/// practice has no such notification.
pub async fn get_for_user(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> AppResult<Option<UserNotification>> {
    let row = db
        .query_opt(&format!("{SELECT_FOR_USER} AND n.id = $3"), &[&org_id, &user_id, &id])
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Marks one notification of the practice read by `user_id` and returns it
/// as they now see it; None when the practice has no such notification.
/// Idempotent: an already read notification keeps its `read_at` (no row
/// is added for one under the user's watermark).
pub async fn mark_read(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> AppResult<Option<UserNotification>> {
    db.execute(
        "INSERT INTO client_notification_reads (notification_id, user_id)
         SELECT n.id, u.id
           FROM client_notifications n
           JOIN client_users u ON u.client_org_id = n.client_org_id
          WHERE n.id = $3 AND n.client_org_id = $1 AND u.id = $2
            AND n.created_at > coalesce(u.notifications_read_through, '-infinity')
         ON CONFLICT (notification_id, user_id) DO NOTHING",
        &[&org_id, &user_id, &id],
    )
    .await?;
    get_for_user(db, org_id, user_id, id).await
}

/// Marks every notification of the practice read by `user_id`, in a
/// transaction of its own: it takes the practice's notification lock
/// exclusively (waiting for inserts in progress to commit, see above), then
/// moves their watermark to clock_timestamp() (never backwards). Read rows
/// under the watermark are kept, so what was read earlier keeps the
/// `read_at` it was first read at. Returns how many were unread before
/// (exact).
pub async fn mark_all_read(
    db: &mut tokio_postgres::Client,
    org_id: Uuid,
    user_id: Uuid,
) -> AppResult<i64> {
    let tx = db.transaction().await?;
    tx.execute(&format!("SELECT pg_advisory_xact_lock({ORG_LOCK_KEY})"), &[&org_id]).await?;
    // A new statement, so a new snapshot: it sees every notification whose
    // insert held the lock before us.
    let row = tx
        .query_one(
            "WITH moved AS (
                 UPDATE client_users u
                    SET notifications_read_through =
                            greatest(u.notifications_read_through, clock_timestamp())
                   FROM (SELECT id, notifications_read_through AS old_wm FROM client_users
                          WHERE id = $2 AND client_org_id = $1 FOR UPDATE) o
                  WHERE u.id = o.id
              RETURNING o.old_wm, u.notifications_read_through AS new_wm)
             SELECT count(*) FROM client_notifications n, moved
              WHERE n.client_org_id = $1
                AND n.created_at > coalesce(moved.old_wm, '-infinity')
                AND n.created_at <= moved.new_wm
                AND NOT EXISTS (SELECT 1 FROM client_notification_reads r
                                 WHERE r.notification_id = n.id AND r.user_id = $2)",
            &[&org_id, &user_id],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// A user's email preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    /// Critical alerts (failing checks, silent sites); sent to owners and admins.
    pub critical_alerts: bool,
    /// The monthly compliance report; sent to owners.
    pub monthly_report: bool,
}

/// The email preferences of a user of the practice; None when there is no
/// such user in it.
pub async fn preferences(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
) -> AppResult<Option<Preferences>> {
    let row = db
        .query_opt(
            "SELECT notify_critical_email, notify_monthly_report_email FROM client_users
              WHERE id = $2 AND client_org_id = $1",
            &[&org_id, &user_id],
        )
        .await?;
    Ok(row.map(|r| Preferences { critical_alerts: r.get(0), monthly_report: r.get(1) }))
}

/// Stores a user's email preferences; returns the ones they replace (None
/// when there is no such user in the practice).
pub async fn set_preferences(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
    new: Preferences,
) -> AppResult<Option<Preferences>> {
    let row = db
        .query_opt(
            "UPDATE client_users u
                SET notify_critical_email = $3, notify_monthly_report_email = $4
               FROM (SELECT id, notify_critical_email, notify_monthly_report_email FROM client_users
                      WHERE id = $2 AND client_org_id = $1 FOR UPDATE) o
              WHERE u.id = o.id
          RETURNING o.notify_critical_email, o.notify_monthly_report_email",
            &[&org_id, &user_id, &new.critical_alerts, &new.monthly_report],
        )
        .await?;
    Ok(row.map(|r| Preferences { critical_alerts: r.get(0), monthly_report: r.get(1) }))
}
