//! What the portal deletes, and when: short-lived credentials and counters
//! once they can no longer matter, and, only when the operator sets a
//! retention period (`PORTAL_RETENTION_YEARS`, at least 6), audit-log rows
//! older than it. Evidence, the evidence log and reports are never pruned
//! (see the README's "Retention"). Each statement deletes a bounded batch,
//! so one pass never holds long locks; passes from several instances at
//! once delete disjoint rows (`SKIP LOCKED`).

use tokio_postgres::GenericClient;

use crate::error::AppResult;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 5_000;

/// What to delete, oldest kept row age per table.
pub const RULES: &[(&str, &str)] = &[
    // Rate-limit counters: their 15-minute window is long over.
    (
        "rate_limits",
        "DELETE FROM rate_limits WHERE ctid IN (
           SELECT ctid FROM rate_limits WHERE window_start < now() - interval '1 day'
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
    // Sign-in attempts that named no account: counted per hour, kept 90 days.
    (
        "anonymous_sign_in_attempts",
        "DELETE FROM anonymous_sign_in_attempts WHERE ctid IN (
           SELECT ctid FROM anonymous_sign_in_attempts WHERE window_start < now() - interval '90 days'
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
    // Queued link requests no worker answered within a day (the worker
    // drops them after an hour anyway).
    (
        "magic_link_requests",
        "DELETE FROM magic_link_requests WHERE id IN (
           SELECT id FROM magic_link_requests WHERE requested_at < now() - interval '1 day'
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
    // Sign-in links: used or expired a day ago.
    (
        "client_magic_links",
        "DELETE FROM client_magic_links WHERE id IN (
           SELECT id FROM client_magic_links
            WHERE expires_at < now() - interval '1 day'
               OR used_at < now() - interval '1 day'
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
    // Sessions: expired or revoked 30 days ago (the session list shows the
    // recent ones; sign-ins stay in the audit log).
    (
        "client_sessions",
        "DELETE FROM client_sessions WHERE id IN (
           SELECT id FROM client_sessions
            WHERE expires_at < now() - interval '30 days'
               OR revoked_at < now() - interval '30 days'
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
    // Pending second sign-in steps (5 minutes long): expired or used a day ago.
    (
        "mfa_pending",
        "DELETE FROM mfa_pending WHERE id IN (
           SELECT id FROM mfa_pending
            WHERE expires_at < now() - interval '1 day'
               OR used_at < now() - interval '1 day'
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
    // Passkey challenges (registration, confirming it is you): expired a day ago.
    (
        "mfa_challenges",
        "DELETE FROM mfa_challenges WHERE ctid IN (
           SELECT ctid FROM mfa_challenges WHERE expires_at < now() - interval '1 day'
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
    // Mail: delivered 30 days ago, or given up on 90 days ago.
    (
        "email_outbox",
        "DELETE FROM email_outbox WHERE id IN (
           SELECT id FROM email_outbox
            WHERE (status = 'sent' AND sent_at < now() - interval '30 days')
               OR (status = 'failed' AND created_at < now() - interval '90 days')
            LIMIT $1 FOR UPDATE SKIP LOCKED)",
    ),
];

/// One pass: deletes what the rules allow, a batch at a time, until
/// nothing is left, then audit-log rows older than `retention_years` when
/// set (the database refuses fewer than 6); the rows deleted per table.
pub async fn prune(
    db: &impl GenericClient,
    retention_years: Option<u32>,
) -> AppResult<Vec<(&'static str, u64)>> {
    let mut out = Vec::new();
    for (table, sql) in RULES {
        let mut total = 0;
        loop {
            let n = db.execute(*sql, &[&BATCH]).await?;
            total += n;
            if n < BATCH as u64 {
                break;
            }
        }
        out.push((*table, total));
    }
    if let Some(years) = retention_years {
        let years = i32::try_from(years).unwrap_or(i32::MAX);
        let mut total = 0;
        loop {
            let row =
                db.query_one("SELECT prune_audit_log($1, $2)", &[&years, &(BATCH as i32)]).await?;
            let n = row.get::<_, i64>(0) as u64;
            total += n;
            if n < BATCH as u64 {
                break;
            }
        }
        out.push(("client_audit_log", total));
    }
    Ok(out)
}
