//! API tokens: named bearer credentials that act as the user who made them.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::{Role, Scope};
use crate::db::users::parse_role;
use crate::error::{AppError, AppResult};

fn parse_scope(raw: &str) -> AppResult<Scope> {
    raw.parse().map_err(|e: crate::auth::UnknownScope| {
        AppError::internal(anyhow::anyhow!("stored scope: {e}"))
    })
}

#[derive(Debug, Clone)]
pub struct TokenSummary {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scope: Scope,
    pub created_by_id: Uuid,
    pub created_by_email: String,
    /// The maker's role now: admins cannot revoke an owner's token.
    pub created_by_role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: &impl GenericClient,
    org_id: Uuid,
    user_id: Uuid,
    name: &str,
    token_hash: &[u8; 32],
    prefix: &str,
    scope: Scope,
) -> AppResult<(Uuid, DateTime<Utc>)> {
    let row = db
        .query_one(
            "INSERT INTO api_tokens (client_org_id, user_id, name, token_hash, prefix, scope)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at",
            &[&org_id, &user_id, &name, &token_hash.as_slice(), &prefix, &scope.as_str()],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// The practice's live tokens, newest first.
pub async fn list(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<TokenSummary>> {
    let rows = db
        .query(
            "SELECT t.id, t.name, t.prefix, t.scope, u.id, u.email, u.role, t.created_at,
                    t.last_used_at
               FROM api_tokens t JOIN client_users u ON u.id = t.user_id
              WHERE t.client_org_id = $1 AND t.revoked_at IS NULL
              ORDER BY t.created_at DESC, t.id",
            &[&org_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenSummary {
                id: r.get(0),
                name: r.get(1),
                prefix: r.get(2),
                scope: parse_scope(r.get(3))?,
                created_by_id: r.get(4),
                created_by_email: r.get(5),
                created_by_role: parse_role(r.get(6))?,
                created_at: r.get(7),
                last_used_at: r.get(8),
            })
        })
        .collect()
}

/// A live token of the practice, locked for revocation: its name and its
/// maker's role. None when there is no such live token in this practice.
pub async fn lock_live(
    db: &impl GenericClient,
    org_id: Uuid,
    token_id: Uuid,
) -> AppResult<Option<(String, Role)>> {
    let row = db
        .query_opt(
            "SELECT t.name, u.role FROM api_tokens t JOIN client_users u ON u.id = t.user_id
              WHERE t.id = $1 AND t.client_org_id = $2 AND t.revoked_at IS NULL
                FOR UPDATE OF t",
            &[&token_id, &org_id],
        )
        .await?;
    row.map(|r| Ok((r.get(0), parse_role(r.get(1))?))).transpose()
}

/// Revokes a token (locked with [`lock_live`]).
pub async fn revoke(db: &impl GenericClient, token_id: Uuid) -> AppResult<()> {
    db.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", &[&token_id]).await?;
    Ok(())
}

/// The user behind a bearer token, if the token is live and the user and
/// practice are active.
#[derive(Debug, Clone)]
pub struct TokenUser {
    pub token_id: Uuid,
    pub scope: Scope,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub org_id: Uuid,
    pub org_name: String,
    /// An auditor's grant's end.
    pub auditor_until: Option<DateTime<Utc>>,
    /// The practice's zone for showing times.
    pub time_zone: crate::zone::Tz,
}

pub async fn find_user(
    db: &impl GenericClient,
    token_hash: &[u8; 32],
) -> AppResult<Option<TokenUser>> {
    let row = db
        .query_typed_opt(
            &format!(
                "SELECT t.id, t.last_used_at, u.id, u.email, u.name, u.role, o.id, o.name, {},
                        t.scope, o.time_zone, o.state
                   FROM api_tokens t
                   JOIN client_users u ON u.id = t.user_id
                   JOIN client_orgs o ON o.id = t.client_org_id
                  WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.is_active
                    AND o.status = 'active' AND {}",
                crate::db::auditors::GRANT_UNTIL,
                crate::db::auditors::GRANT_IS_LIVE
            ),
            &[(&token_hash.as_slice(), tokio_postgres::types::Type::BYTEA)],
        )
        .await?;
    row.map(|r| {
        Ok(TokenUser {
            token_id: r.get(0),
            last_used_at: r.get(1),
            user_id: r.get(2),
            email: r.get(3),
            name: r.get(4),
            role: parse_role(r.get(5))?,
            org_id: r.get(6),
            org_name: r.get(7),
            auditor_until: r.get(8),
            scope: parse_scope(r.get(9))?,
            time_zone: crate::zone::effective(r.get(10), r.get(11)).0,
        })
    })
    .transpose()
}

pub async fn touch(db: &impl GenericClient, token_id: Uuid) -> AppResult<()> {
    db.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", &[&token_id]).await?;
    Ok(())
}

/// Revokes every token a user made (when the user is removed or demoted).
pub async fn revoke_for_user(db: &impl GenericClient, user_id: Uuid) -> AppResult<u64> {
    Ok(db
        .execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            &[&user_id],
        )
        .await?)
}
