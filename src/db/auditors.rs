//! Auditor grants: who may read which sites and period of a practice, and
//! until when (`sql/V12__auditor_grants.sql`).

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::AppResult;

/// SQL condition, on the user `u`, that an auditor's grant is still live:
/// other roles pass, an auditor only while their grant is neither expired
/// nor revoked. Session and token lookups include it, so expiry and
/// revocation end an auditor's access at once.
/// The end of the live grant of user `u` (NULL for other roles), for the
/// banner auditors see on every page.
pub const GRANT_UNTIL: &str = "(SELECT g.expires_at FROM auditor_grants g
    WHERE g.user_id = u.id AND g.revoked_at IS NULL AND g.expires_at > now())";

pub const GRANT_IS_LIVE: &str = "(u.role <> 'auditor' OR EXISTS (
       SELECT 1 FROM auditor_grants g
        WHERE g.user_id = u.id AND g.revoked_at IS NULL AND g.expires_at > now()))";

/// One grant as stored.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub firm: String,
    pub expires_at: DateTime<Utc>,
    pub site_ids: Option<Vec<Uuid>>,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub granted_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_id: Option<Uuid>,
}

const COLUMNS: &str = "id, email, name, firm, expires_at, site_ids, period_from, period_to, \
                       granted_by, created_at, revoked_at, user_id";

fn grant(r: &Row) -> Grant {
    Grant {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        firm: r.get(3),
        expires_at: r.get(4),
        site_ids: r.get(5),
        period_from: r.get(6),
        period_to: r.get(7),
        granted_by: r.get(8),
        created_at: r.get(9),
        revoked_at: r.get(10),
        user_id: r.get(11),
    }
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    /// Sent; the auditor has not accepted the invitation yet.
    Invited,
    /// Accepted and live.
    Active,
    Expired,
    Revoked,
}

impl GrantStatus {
    pub fn of(g: &Grant, now: DateTime<Utc>) -> GrantStatus {
        if g.revoked_at.is_some() {
            GrantStatus::Revoked
        } else if g.expires_at <= now {
            GrantStatus::Expired
        } else if g.user_id.is_none() {
            GrantStatus::Invited
        } else {
            GrantStatus::Active
        }
    }
}

/// A grant to store.
pub struct NewGrant<'a> {
    pub org_id: Uuid,
    pub email: &'a str,
    pub name: &'a str,
    pub firm: &'a str,
    pub days: i32,
    pub site_ids: Option<&'a [Uuid]>,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub granted_by: Uuid,
}

/// Stores a grant that expires `days` days from now.
pub async fn insert(db: &impl GenericClient, g: &NewGrant<'_>) -> AppResult<Grant> {
    let row = db
        .query_one(
            &format!(
                "INSERT INTO auditor_grants
                   (client_org_id, email, name, firm, expires_at, site_ids, period_from, period_to, granted_by)
                 VALUES ($1, $2, $3, $4, now() + make_interval(days => $5), $6, $7, $8, $9)
                 RETURNING {COLUMNS}"
            ),
            &[
                &g.org_id,
                &g.email,
                &g.name,
                &g.firm,
                &g.days,
                &g.site_ids,
                &g.period_from,
                &g.period_to,
                &g.granted_by,
            ],
        )
        .await?;
    Ok(grant(&row))
}

/// The practice's grants, newest first.
pub async fn list(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<Grant>> {
    Ok(db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM auditor_grants WHERE client_org_id = $1
                  ORDER BY created_at DESC, id DESC"
            ),
            &[&org_id],
        )
        .await?
        .iter()
        .map(grant)
        .collect())
}

/// The grant an auditor took up, live or not.
pub async fn of_user(db: &impl GenericClient, user_id: Uuid) -> AppResult<Option<Grant>> {
    Ok(db
        .query_opt(&format!("SELECT {COLUMNS} FROM auditor_grants WHERE user_id = $1"), &[&user_id])
        .await?
        .as_ref()
        .map(grant))
}

/// One grant of the practice, locked for the rest of the transaction.
pub async fn lock(db: &impl GenericClient, org_id: Uuid, id: Uuid) -> AppResult<Option<Grant>> {
    Ok(db
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM auditor_grants WHERE client_org_id = $1 AND id = $2 FOR UPDATE"
            ),
            &[&org_id, &id],
        )
        .await?
        .as_ref()
        .map(grant))
}

/// The live grant of auditor `user_id`, if any.
pub async fn live_for_user(db: &impl GenericClient, user_id: Uuid) -> AppResult<Option<Grant>> {
    Ok(db
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM auditor_grants
                  WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()"
            ),
            &[&user_id],
        )
        .await?
        .as_ref()
        .map(grant))
}

/// A grant's new terms.
pub struct Terms<'a> {
    pub expires_at: DateTime<Utc>,
    pub site_ids: Option<&'a [Uuid]>,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
}

/// Changes a grant's expiry and scope.
pub async fn update(db: &impl GenericClient, id: Uuid, t: &Terms<'_>) -> AppResult<Grant> {
    let row = db
        .query_one(
            &format!(
                "UPDATE auditor_grants SET expires_at = $2, site_ids = $3, period_from = $4, period_to = $5
                  WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &t.expires_at, &t.site_ids, &t.period_from, &t.period_to],
        )
        .await?;
    Ok(grant(&row))
}

/// Revokes a grant; false when it was revoked already.
pub async fn revoke(db: &impl GenericClient, id: Uuid) -> AppResult<bool> {
    Ok(db
        .execute(
            "UPDATE auditor_grants SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            &[&id],
        )
        .await?
        == 1)
}

/// Revokes the practice's grants to `email` not taken up yet (a new grant
/// to the address replaces them, as a new invitation replaces the old).
pub async fn revoke_untaken_for_email(
    db: &impl GenericClient,
    org_id: Uuid,
    email: &str,
) -> AppResult<u64> {
    Ok(db
        .execute(
            "UPDATE auditor_grants SET revoked_at = now()
              WHERE client_org_id = $1 AND email = $2 AND user_id IS NULL AND revoked_at IS NULL",
            &[&org_id, &email],
        )
        .await?)
}

/// Ties a live grant to the auditor's new account (its invitation was
/// accepted); false when the grant was revoked or expired meanwhile.
pub async fn take_up(db: &impl GenericClient, id: Uuid, user_id: Uuid) -> AppResult<bool> {
    Ok(db
        .execute(
            "UPDATE auditor_grants SET user_id = $2
              WHERE id = $1 AND user_id IS NULL AND revoked_at IS NULL AND expires_at > now()",
            &[&id, &user_id],
        )
        .await?
        == 1)
}

/// How many of `site_ids` are sites of the practice.
pub async fn count_sites(
    db: &impl GenericClient,
    org_id: Uuid,
    site_ids: &[Uuid],
) -> AppResult<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM sites WHERE client_org_id = $1 AND id = ANY($2)",
            &[&org_id, &site_ids],
        )
        .await?
        .get(0))
}
