//! Practice users as the sign-in code sees them.

use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::auth::Role;
use crate::error::{AppError, AppResult};

/// A user with their practice, for sign-in decisions.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub org_active: bool,
}

impl UserRecord {
    /// Whether this user may sign in at all.
    pub fn can_sign_in(&self) -> bool {
        self.is_active && self.org_active
    }
}

const SELECT_USER: &str =
    "SELECT u.id, u.client_org_id, o.name, u.email, u.name, u.role, u.password_hash,
        u.is_active, o.status = 'active'
   FROM client_users u JOIN client_orgs o ON o.id = u.client_org_id";

pub(crate) fn parse_role(raw: &str) -> AppResult<Role> {
    raw.parse().map_err(|e: crate::auth::UnknownRole| {
        AppError::internal(anyhow::anyhow!("stored role: {e}"))
    })
}

fn user_from_row(row: &Row) -> AppResult<UserRecord> {
    Ok(UserRecord {
        id: row.get(0),
        org_id: row.get(1),
        org_name: row.get(2),
        email: row.get(3),
        name: row.get(4),
        role: parse_role(row.get(5))?,
        password_hash: row.get(6),
        is_active: row.get(7),
        org_active: row.get(8),
    })
}

pub async fn find_by_email(db: &impl GenericClient, email: &str) -> AppResult<Option<UserRecord>> {
    let row = db.query_opt(&format!("{SELECT_USER} WHERE u.email = $1"), &[&email]).await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn find_by_id(db: &impl GenericClient, id: Uuid) -> AppResult<Option<UserRecord>> {
    let row = db.query_opt(&format!("{SELECT_USER} WHERE u.id = $1"), &[&id]).await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn set_password_hash(
    db: &impl GenericClient,
    user_id: Uuid,
    hash: &str,
) -> AppResult<()> {
    db.execute("UPDATE client_users SET password_hash = $2 WHERE id = $1", &[&user_id, &hash])
        .await?;
    Ok(())
}

/// Records a successful sign-in; reaching the inbox proves the address.
pub async fn record_sign_in(
    db: &impl GenericClient,
    user_id: Uuid,
    via_email: bool,
) -> AppResult<()> {
    db.execute(
        "UPDATE client_users SET last_login_at = now(), email_verified = email_verified OR $2 WHERE id = $1",
        &[&user_id, &via_email],
    )
    .await?;
    Ok(())
}

/// A user as the practice's user list shows them.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl UserSummary {
    /// The name to show (their email when no name is set).
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.email)
    }
}

const SELECT_SUMMARY: &str = "SELECT id, email, name, role, is_active, email_verified, last_login_at, created_at FROM client_users";

fn summary_from_row(r: &Row) -> AppResult<UserSummary> {
    Ok(UserSummary {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        role: parse_role(r.get(3))?,
        is_active: r.get(4),
        email_verified: r.get(5),
        last_login_at: r.get(6),
        created_at: r.get(7),
    })
}

/// The practice's users: active ones first, then by role (owner, admin,
/// viewer) and name.
pub async fn list_in_org(db: &impl GenericClient, org_id: Uuid) -> AppResult<Vec<UserSummary>> {
    let rows = db
        .query(
            &format!(
                "{SELECT_SUMMARY} WHERE client_org_id = $1
                 ORDER BY is_active DESC,
                          CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END,
                          lower(coalesce(name, email)), id"
            ),
            &[&org_id],
        )
        .await?;
    rows.iter().map(summary_from_row).collect()
}

/// One user of the practice; None for another practice's user.
pub async fn find_in_org(
    db: &impl GenericClient,
    org_id: Uuid,
    id: Uuid,
) -> AppResult<Option<UserSummary>> {
    let row = db
        .query_opt(
            &format!("{SELECT_SUMMARY} WHERE id = $1 AND client_org_id = $2"),
            &[&id, &org_id],
        )
        .await?;
    row.as_ref().map(summary_from_row).transpose()
}

/// Like [`find_in_org`], locking the row for the rest of the transaction
/// (so two admins acting on one user are serialised).
pub async fn lock_in_org(
    db: &impl GenericClient,
    org_id: Uuid,
    id: Uuid,
) -> AppResult<Option<UserSummary>> {
    let row = db
        .query_opt(
            &format!("{SELECT_SUMMARY} WHERE id = $1 AND client_org_id = $2 FOR UPDATE"),
            &[&id, &org_id],
        )
        .await?;
    row.as_ref().map(summary_from_row).transpose()
}

/// Whether any user (of any practice, active or not) has this address.
/// The practice of the account with this email, if there is one.
pub async fn email_org(db: &impl GenericClient, email: &str) -> AppResult<Option<Uuid>> {
    Ok(db
        .query_opt("SELECT client_org_id FROM client_users WHERE email = $1", &[&email])
        .await?
        .map(|r| r.get(0)))
}

pub async fn email_taken(db: &impl GenericClient, email: &str) -> AppResult<bool> {
    Ok(db.query_opt("SELECT 1 FROM client_users WHERE email = $1", &[&email]).await?.is_some())
}

/// Deactivates a user (they can no longer sign in; their rows stay for the
/// audit trail).
pub async fn deactivate(db: &impl GenericClient, id: Uuid) -> AppResult<()> {
    db.execute("UPDATE client_users SET is_active = false WHERE id = $1", &[&id]).await?;
    Ok(())
}

pub async fn set_role(db: &impl GenericClient, id: Uuid, role: Role) -> AppResult<()> {
    db.execute("UPDATE client_users SET role = $2 WHERE id = $1", &[&id, &role.as_str()]).await?;
    Ok(())
}

/// Creates the user an accepted invitation brings in: the address is
/// verified (the link reached its inbox), and notifications from before
/// they joined count as read.
pub async fn insert_invited(
    db: &impl GenericClient,
    org_id: Uuid,
    email: &str,
    name: &str,
    role: Role,
) -> AppResult<Uuid> {
    let row = db
        .query_one(
            "INSERT INTO client_users (client_org_id, email, name, role, email_verified, notifications_read_through)
             VALUES ($1, $2, $3, $4, true, now()) RETURNING id",
            &[&org_id, &email, &name, &role.as_str()],
        )
        .await?;
    Ok(row.get(0))
}

/// Which of a practice's active owners to mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// Every one (transfer updates).
    All,
    /// Those who want the monthly report by email.
    WantingMonthlyReport,
}

/// The practice's active owners, `which` of them: (email, name), by email.
pub async fn active_owners(
    db: &impl GenericClient,
    org_id: Uuid,
    which: Owners,
) -> AppResult<Vec<(String, Option<String>)>> {
    let monthly_only = which == Owners::WantingMonthlyReport;
    let rows = db
        .query(
            "SELECT email, name FROM client_users
              WHERE client_org_id = $1 AND is_active AND role = 'owner'
                AND (NOT $2 OR notify_monthly_report_email)
              ORDER BY email",
            &[&org_id, &monthly_only],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
