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
