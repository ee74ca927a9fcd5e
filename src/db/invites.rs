//! Invitations to join a practice (client_invites). Only the HMAC of an
//! invitation's token is stored. An invitation is *open* while it is neither
//! accepted nor revoked (at most one per address and practice, enforced by
//! `client_invites_one_pending_per_email`); an open one past `expires_at` is
//! *expired* and can be resent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::auth::Role;
use crate::db::users::parse_role;
use crate::error::AppResult;

/// An open invitation as the users page and API list it.
#[derive(Debug, Clone)]
pub struct InviteSummary {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub invited_by_id: Uuid,
    pub invited_by_email: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Past its expiry (by the database's clock).
    pub expired: bool,
}

const SELECT_SUMMARY: &str =
    "SELECT i.id, i.email, i.name, i.role, u.id, u.email, i.expires_at, i.created_at,
        i.expires_at <= now()
   FROM client_invites i JOIN client_users u ON u.id = i.invited_by";

fn summary_from_row(r: &Row) -> AppResult<InviteSummary> {
    Ok(InviteSummary {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        role: parse_role(r.get(3))?,
        invited_by_id: r.get(4),
        invited_by_email: r.get(5),
        expires_at: r.get(6),
        created_at: r.get(7),
        expired: r.get(8),
    })
}

/// A new invitation.
pub struct NewInvite<'a> {
    pub org_id: Uuid,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub role: Role,
    pub invited_by: Uuid,
    pub token_hash: [u8; 32],
    pub lifetime: Duration,
    /// The auditor grant this invitation carries (role auditor only).
    pub grant_id: Option<Uuid>,
}

/// Serializes invitations to one address in one practice until the
/// transaction ends: two admins inviting it at once take turns, so the
/// second replaces the first's invitation instead of hitting the unique
/// index.
pub async fn lock_address(db: &impl GenericClient, org_id: Uuid, email: &str) -> AppResult<()> {
    db.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("invite:{org_id}:{email}")],
    )
    .await?;
    Ok(())
}

/// Inserts an invitation; returns its id and expiry.
pub async fn insert(
    db: &impl GenericClient,
    i: &NewInvite<'_>,
) -> AppResult<(Uuid, DateTime<Utc>)> {
    let secs = i.lifetime.as_secs_f64();
    let row = db
        .query_one(
            "INSERT INTO client_invites (client_org_id, email, name, role, invited_by, token_hash, expires_at, grant_id)
             VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)
             RETURNING id, expires_at",
            &[
                &i.org_id,
                &i.email,
                &i.name,
                &i.role.as_str(),
                &i.invited_by,
                &i.token_hash.as_slice(),
                &secs,
                &i.grant_id,
            ],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Revokes the open invitation for `email` in the practice, if any (before
/// inviting the address again); returns its id.
pub async fn revoke_open_for_email(
    db: &impl GenericClient,
    org_id: Uuid,
    email: &str,
) -> AppResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "UPDATE client_invites SET revoked_at = now()
              WHERE client_org_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL
              RETURNING id",
            &[&org_id, &email],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Revokes every open invitation `inviter` sent in the practice (when they
/// are removed or made a viewer: an invitation must not outlive its
/// sender's right to invite); returns how many.
pub async fn revoke_open_by_inviter(
    db: &impl GenericClient,
    org_id: Uuid,
    inviter: Uuid,
) -> AppResult<u64> {
    Ok(db
        .execute(
            "UPDATE client_invites SET revoked_at = now()
              WHERE client_org_id = $1 AND invited_by = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
            &[&org_id, &inviter],
        )
        .await?)
}

/// The SQL condition (on `u`, the inviter) under which an invitation can
/// still be used: its sender is an active owner or admin of its practice.
const INVITER_MAY_INVITE: &str =
    "u.is_active AND u.role IN ('owner', 'admin') AND u.client_org_id = i.client_org_id";

/// The practice's open invitations (expired ones included, flagged), newest first.
pub async fn list_open(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<InviteSummary>> {
    let rows = db
        .query(
            &format!(
                "{SELECT_SUMMARY}
                  WHERE i.client_org_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                    AND i.grant_id IS NULL
                  ORDER BY i.created_at DESC, i.id"
            ),
            &[&org_id],
        )
        .await?;
    rows.iter().map(summary_from_row).collect()
}

/// One open invitation of the practice.
pub async fn find_open(
    db: &impl GenericClient,
    org_id: Uuid,
    id: Uuid,
) -> AppResult<Option<InviteSummary>> {
    let row = db
        .query_opt(
            &format!(
                "{SELECT_SUMMARY}
                  WHERE i.id = $1 AND i.client_org_id = $2 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                    AND i.grant_id IS NULL"
            ),
            &[&id, &org_id],
        )
        .await?;
    row.as_ref().map(summary_from_row).transpose()
}

/// Revokes an open invitation of the practice; None when there is no such
/// open invitation in this practice, else its email and role.
pub async fn revoke(
    db: &impl GenericClient,
    org_id: Uuid,
    id: Uuid,
) -> AppResult<Option<(String, Role)>> {
    let row = db
        .query_opt(
            "UPDATE client_invites SET revoked_at = now()
              WHERE id = $1 AND client_org_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL
              RETURNING email, role",
            &[&id, &org_id],
        )
        .await?;
    row.map(|r| Ok((r.get(0), parse_role(r.get(1))?))).transpose()
}

/// Gives an open invitation a new token and a new expiry (the old token
/// stops working at once); None when there is no such open invitation.
pub async fn renew(
    db: &impl GenericClient,
    org_id: Uuid,
    id: Uuid,
    token_hash: &[u8; 32],
    lifetime: Duration,
) -> AppResult<Option<DateTime<Utc>>> {
    let secs = lifetime.as_secs_f64();
    let row = db
        .query_opt(
            "UPDATE client_invites SET token_hash = $3, expires_at = now() + make_interval(secs => $4)
              WHERE id = $1 AND client_org_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL
              RETURNING expires_at",
            &[&id, &org_id, &token_hash.as_slice(), &secs],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Where an invitation link stands, for the page that opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Open,
    Expired,
    Accepted,
    Revoked,
}

/// An invitation found by its token, with its practice.
#[derive(Debug, Clone)]
pub struct InviteByToken {
    pub id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub org_active: bool,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub invited_by_name: Option<String>,
    pub invited_by_email: String,
    pub expires_at: DateTime<Utc>,
    pub state: InviteState,
}

/// Looks an invitation up by its token hash without changing anything.
pub async fn find_by_token(
    db: &impl GenericClient,
    token_hash: &[u8; 32],
) -> AppResult<Option<InviteByToken>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT i.id, o.id, o.name, o.status = 'active', i.email, i.name, i.role, u.name, u.email,
                        i.expires_at,
                        CASE WHEN i.accepted_at IS NOT NULL THEN 'accepted'
                             WHEN i.revoked_at IS NOT NULL OR NOT ({INVITER_MAY_INVITE}) THEN 'revoked'
                             WHEN i.expires_at <= now() THEN 'expired'
                             ELSE 'open' END
                   FROM client_invites i
                   JOIN client_orgs o ON o.id = i.client_org_id
                   JOIN client_users u ON u.id = i.invited_by
                  WHERE i.token_hash = $1"
            ),
            &[&token_hash.as_slice()],
        )
        .await?;
    row.map(|r| {
        let state = match r.get::<_, &str>(10) {
            "accepted" => InviteState::Accepted,
            "revoked" => InviteState::Revoked,
            "expired" => InviteState::Expired,
            _ => InviteState::Open,
        };
        Ok(InviteByToken {
            id: r.get(0),
            org_id: r.get(1),
            org_name: r.get(2),
            org_active: r.get(3),
            email: r.get(4),
            name: r.get(5),
            role: parse_role(r.get(6))?,
            invited_by_name: r.get(7),
            invited_by_email: r.get(8),
            expires_at: r.get(9),
            state,
        })
    })
    .transpose()
}

/// An invitation being accepted, locked for the rest of the transaction.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Uuid,
    pub org_active: bool,
    /// The auditor grant it carries, if any.
    pub grant_id: Option<Uuid>,
}

/// Locks the usable (open, unexpired) invitation behind a token, whose
/// sender is still an active owner or admin of the practice. Concurrent
/// callers with the same token queue on the row lock; once the first has
/// accepted it, the others find nothing (the condition is checked again on
/// the row's new version), so an invitation is used at most once. Removing
/// or demoting the sender revokes their invitations (an UPDATE of these
/// rows, so it queues behind an acceptance in progress, or makes it find
/// nothing); the inviter condition here also refuses invitations whose
/// sender lost the right to invite some other way.
pub async fn lock_usable(
    db: &impl GenericClient,
    token_hash: &[u8; 32],
) -> AppResult<Option<Claimed>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT i.id, i.client_org_id, i.email, i.role, i.invited_by, o.status = 'active', i.grant_id
                   FROM client_invites i
                   JOIN client_orgs o ON o.id = i.client_org_id
                   JOIN client_users u ON u.id = i.invited_by
                  WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                    AND i.expires_at > now() AND {INVITER_MAY_INVITE}
                    FOR UPDATE OF i"
            ),
            &[&token_hash.as_slice()],
        )
        .await?;
    row.map(|r| {
        Ok(Claimed {
            id: r.get(0),
            org_id: r.get(1),
            email: r.get(2),
            role: parse_role(r.get(3))?,
            invited_by: r.get(4),
            org_active: r.get(5),
            grant_id: r.get(6),
        })
    })
    .transpose()
}

/// Marks a usable invitation accepted by `user_id`: one guarded UPDATE,
/// false when it was accepted, revoked or expired meanwhile.
pub async fn mark_accepted(db: &impl GenericClient, id: Uuid, user_id: Uuid) -> AppResult<bool> {
    let row = db
        .query_opt(
            "UPDATE client_invites SET accepted_at = now(), accepted_user_id = $2
              WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
              RETURNING id",
            &[&id, &user_id],
        )
        .await?;
    Ok(row.is_some())
}
