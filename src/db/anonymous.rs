//! What anonymous callers leave behind, bounded: counted sign-in attempts
//! that name no practice's account, and queued magic-link requests.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::error::AppResult;

/// Counts one attempt of kind `what` from `ip_key` in the current hour.
pub async fn count_attempt(db: &impl GenericClient, what: &str, ip_key: &str) -> AppResult<()> {
    db.execute(
        "INSERT INTO anonymous_sign_in_attempts AS a (window_start, what, ip_key)
         VALUES (date_trunc('hour', now()), $1, $2)
         ON CONFLICT (window_start, what, ip_key)
         DO UPDATE SET attempts = a.attempts + 1, last_at = now()",
        &[&what, &ip_key],
    )
    .await?;
    Ok(())
}

/// A queued magic-link request.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub id: i64,
    pub email: String,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub requested_at: DateTime<Utc>,
}

/// Queues a request for `email` (already normalised).
pub async fn queue_link_request(
    db: &impl GenericClient,
    email: &str,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
) -> AppResult<()> {
    db.execute(
        "INSERT INTO magic_link_requests (email, ip, user_agent) VALUES ($1, $2, $3)",
        &[&email, &ip, &user_agent],
    )
    .await?;
    Ok(())
}

/// Takes up to `limit` queued requests, oldest first, deleting them in the
/// caller's transaction (so a failure hands them back). Requests another
/// transaction holds are skipped.
pub async fn take_link_requests(
    db: &impl GenericClient,
    limit: i64,
) -> AppResult<Vec<LinkRequest>> {
    let rows = db
        .query(
            "DELETE FROM magic_link_requests WHERE id IN (
               SELECT id FROM magic_link_requests ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING id, email, ip, user_agent, requested_at",
            &[&limit],
        )
        .await?;
    let mut out: Vec<LinkRequest> = rows
        .iter()
        .map(|r| LinkRequest {
            id: r.get(0),
            email: r.get(1),
            ip: r.get(2),
            user_agent: r.get(3),
            requested_at: r.get(4),
        })
        .collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}
