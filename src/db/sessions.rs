//! Magic links and browser sessions. Only HMACs of tokens are stored.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::Role;
use crate::db::users::parse_role;
use crate::error::AppResult;

pub async fn insert_magic_link(
    db: &impl GenericClient,
    user_id: Uuid,
    token_hash: &[u8; 32],
    lifetime: Duration,
    ip: Option<IpAddr>,
) -> AppResult<()> {
    let secs = lifetime.as_secs_f64();
    db.execute(
        "INSERT INTO client_magic_links (user_id, token_hash, expires_at, requested_ip)
         VALUES ($1, $2, now() + make_interval(secs => $3), $4)",
        &[&user_id, &token_hash.as_slice(), &secs, &ip],
    )
    .await?;
    Ok(())
}

/// Uses a magic link: one atomic UPDATE, so of any number of concurrent
/// attempts with one token exactly one gets the user id back.
pub async fn consume_magic_link(
    db: &impl GenericClient,
    token_hash: &[u8; 32],
) -> AppResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "UPDATE client_magic_links SET used_at = now()
              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
              RETURNING user_id",
            &[&token_hash.as_slice()],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub struct NewSession<'a> {
    pub user_id: Uuid,
    pub token_hash: [u8; 32],
    pub csrf_token: &'a str,
    pub lifetime: Duration,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// How the first factor was proved (None for sessions made by tools).
    pub auth_method: Option<&'a str>,
    /// The second factor used, if one was.
    pub second_factor: Option<&'a str>,
}

pub async fn insert_session(db: &impl GenericClient, s: &NewSession<'_>) -> AppResult<Uuid> {
    let secs = s.lifetime.as_secs_f64();
    let ua = s.user_agent.map(|ua| ua.chars().take(512).collect::<String>());
    if s.auth_method.is_none() && s.second_factor.is_none() {
        // Sessions made by tools record no proof; this form also works on
        // a schema migrated only part of the way (tests of old migrations).
        let row = db
            .query_one(
                "INSERT INTO client_sessions (user_id, token_hash, csrf_token, expires_at, ip, user_agent)
                 VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6) RETURNING id",
                &[&s.user_id, &s.token_hash.as_slice(), &s.csrf_token, &secs, &s.ip, &ua],
            )
            .await?;
        return Ok(row.get(0));
    }
    let row = db
        .query_one(
            "INSERT INTO client_sessions
                    (user_id, token_hash, csrf_token, expires_at, ip, user_agent, auth_method, second_factor)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6, $7, $8) RETURNING id",
            &[
                &s.user_id,
                &s.token_hash.as_slice(),
                &s.csrf_token,
                &secs,
                &s.ip,
                &ua,
                &s.auth_method,
                &s.second_factor,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// A live session with its user and practice.
#[derive(Clone)]
pub struct SessionRecord {
    pub session_id: Uuid,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub org_id: Uuid,
    pub org_name: String,
    /// An auditor's grant's end.
    pub auditor_until: Option<DateTime<Utc>>,
    pub auth: SessionAuth,
    /// When the practice requires MFA and the user has no factor: the end
    /// of their grace period.
    pub mfa_setup_due: Option<DateTime<Utc>>,
    /// The practice's zone for showing times.
    pub time_zone: crate::zone::Tz,
}

/// When and how a session's user last proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuth {
    pub authenticated_at: DateTime<Utc>,
    pub method: Option<String>,
    pub second_factor: Option<String>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("session_id", &self.session_id)
            .field("csrf_token", &&crate::auth::tokens::REDACTED)
            .field("last_seen_at", &self.last_seen_at)
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("org_id", &self.org_id)
            .field("org_name", &self.org_name)
            .field("auditor_until", &self.auditor_until)
            .field("auth", &self.auth)
            .field("mfa_setup_due", &self.mfa_setup_due)
            .field("time_zone", &self.time_zone)
            .finish()
    }
}

/// The session behind a cookie, if it is live: not revoked, within its
/// absolute lifetime and idle timeout, its user and practice active.
pub async fn find_live_session(
    db: &impl GenericClient,
    token_hash: &[u8; 32],
    idle_timeout: Duration,
) -> AppResult<Option<SessionRecord>> {
    let idle = idle_timeout.as_secs_f64();
    let row = db
        .query_typed_opt(
            &format!(
                "SELECT s.id, s.csrf_token, s.last_seen_at, u.id, u.email, u.name, u.role, o.id, o.name, {},
                        s.authenticated_at, s.auth_method, s.second_factor,
                        CASE WHEN o.mfa_required_at IS NOT NULL AND NOT {}
                             THEN greatest(o.mfa_required_at, u.created_at)
                                  + make_interval(days => o.mfa_grace_days) END,
                        o.time_zone, o.state
                   FROM client_sessions s
                   JOIN client_users u ON u.id = s.user_id
                   JOIN client_orgs o ON o.id = u.client_org_id
                  WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
                    AND s.last_seen_at > now() - make_interval(secs => $2)
                    AND u.is_active AND o.status = 'active' AND {}",
                crate::db::auditors::GRANT_UNTIL,
                crate::db::mfa::has_factor_sql("u.id"),
                crate::db::auditors::GRANT_IS_LIVE
            ),
            &[
                (&token_hash.as_slice(), tokio_postgres::types::Type::BYTEA),
                (&idle, tokio_postgres::types::Type::FLOAT8),
            ],
        )
        .await?;
    row.map(|r| {
        Ok(SessionRecord {
            session_id: r.get(0),
            csrf_token: r.get(1),
            last_seen_at: r.get(2),
            user_id: r.get(3),
            email: r.get(4),
            name: r.get(5),
            role: parse_role(r.get(6))?,
            org_id: r.get(7),
            org_name: r.get(8),
            auditor_until: r.get(9),
            auth: SessionAuth {
                authenticated_at: r.get(10),
                method: r.get(11),
                second_factor: r.get(12),
            },
            mfa_setup_due: r.get(13),
            time_zone: crate::zone::effective(r.get(14), r.get(15)).0,
        })
    })
    .transpose()
}

/// Moves the idle-timeout clock forward.
pub async fn touch_session(db: &impl GenericClient, session_id: Uuid) -> AppResult<()> {
    db.execute("UPDATE client_sessions SET last_seen_at = now() WHERE id = $1", &[&session_id])
        .await?;
    Ok(())
}

/// Revokes one of the user's own sessions; false when it is not theirs or not live.
pub async fn revoke_session(
    db: &impl GenericClient,
    user_id: Uuid,
    session_id: Uuid,
) -> AppResult<bool> {
    let n = db
        .execute(
            "UPDATE client_sessions SET revoked_at = now()
              WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
            &[&session_id, &user_id],
        )
        .await?;
    Ok(n == 1)
}

/// Revokes every live session of the user except `keep`; returns how many.
pub async fn revoke_other_sessions(
    db: &impl GenericClient,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> AppResult<u64> {
    Ok(db
        .execute(
            "UPDATE client_sessions SET revoked_at = now()
              WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
            &[&user_id, &keep],
        )
        .await?)
}

#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// The user's live sessions, most recently used first.
pub async fn list_sessions(
    db: &impl GenericClient,
    user_id: Uuid,
    idle_timeout: Duration,
) -> AppResult<Vec<SessionSummary>> {
    let idle = idle_timeout.as_secs_f64();
    let rows = db
        .query(
            "SELECT id, created_at, last_seen_at, expires_at, ip, user_agent FROM client_sessions
              WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
                AND last_seen_at > now() - make_interval(secs => $2)
              ORDER BY last_seen_at DESC, id",
            &[&user_id, &idle],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SessionSummary {
            id: r.get(0),
            created_at: r.get(1),
            last_seen_at: r.get(2),
            expires_at: r.get(3),
            ip: r.get(4),
            user_agent: r.get(5),
        })
        .collect())
}
