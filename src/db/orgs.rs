//! Partners, practices (client orgs), their users and sites.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::Role;
use crate::error::{AppError, AppResult};

pub async fn partner_exists(db: &impl GenericClient, id: Uuid) -> AppResult<bool> {
    Ok(db.query_opt("SELECT 1 FROM partners WHERE id = $1", &[&id]).await?.is_some())
}

pub async fn org_exists(db: &impl GenericClient, id: Uuid) -> AppResult<bool> {
    Ok(db.query_opt("SELECT 1 FROM client_orgs WHERE id = $1", &[&id]).await?.is_some())
}

/// The practice's name (an error when there is no such practice).
pub async fn org_name(db: &impl GenericClient, id: Uuid) -> AppResult<String> {
    Ok(db.query_one("SELECT name FROM client_orgs WHERE id = $1", &[&id]).await?.get(0))
}

pub async fn count_orgs(db: &impl GenericClient) -> AppResult<i64> {
    Ok(db.query_one("SELECT count(*) FROM client_orgs", &[]).await?.get(0))
}

pub async fn insert_partner(
    db: &impl GenericClient,
    name: &str,
    contact_email: Option<&str>,
) -> AppResult<Uuid> {
    let row = db
        .query_one(
            "INSERT INTO partners (name, contact_email) VALUES ($1, $2) RETURNING id",
            &[&name, &contact_email],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn insert_org(
    db: &impl GenericClient,
    name: &str,
    primary_email: &str,
    partner_id: Option<Uuid>,
) -> AppResult<Uuid> {
    if let Some(partner) = partner_id
        && !partner_exists(db, partner).await?
    {
        return Err(AppError::NotFound(format!("no partner with id {partner}")));
    }
    let row = db
        .query_one(
            "INSERT INTO client_orgs (name, primary_email, current_partner_id, partner_assigned_at)
             VALUES ($1, $2, $3, CASE WHEN $3::uuid IS NULL THEN NULL ELSE now() END)
             RETURNING id",
            &[&name, &primary_email, &partner_id],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn insert_user(
    db: &impl GenericClient,
    org_id: Uuid,
    email: &str,
    name: Option<&str>,
    role: Role,
) -> AppResult<Uuid> {
    if !org_exists(db, org_id).await? {
        return Err(AppError::NotFound(format!("no practice (org) with id {org_id}")));
    }
    let row = db
        .query_one(
            "INSERT INTO client_users (client_org_id, email, name, role) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&org_id, &email, &name, &role.as_str()],
        )
        .await?;
    Ok(row.get(0))
}

/// Sets a site's keys (either may stay as it is); false when the practice
/// has no such site.
pub async fn set_site_keys(
    db: &impl GenericClient,
    site_id: Uuid,
    public_key: Option<&[u8; 32]>,
    witness_key: Option<&[u8; 32]>,
) -> AppResult<Option<Uuid>> {
    Ok(db
        .query_opt(
            "UPDATE sites SET agent_public_key = coalesce($2, agent_public_key),
                              witness_public_key = coalesce($3, witness_public_key)
              WHERE id = $1 RETURNING client_org_id",
            &[&site_id, &public_key.map(|k| k.as_slice()), &witness_key.map(|k| k.as_slice())],
        )
        .await?
        .map(|r| r.get(0)))
}

pub async fn insert_site(
    db: &impl GenericClient,
    org_id: Uuid,
    name: &str,
    public_key: &[u8; 32],
) -> AppResult<Uuid> {
    if !org_exists(db, org_id).await? {
        return Err(AppError::NotFound(format!("no practice (org) with id {org_id}")));
    }
    let row = db
        .query_one(
            "INSERT INTO sites (client_org_id, name, agent_public_key) VALUES ($1, $2, $3) RETURNING id",
            &[&org_id, &name, &public_key.as_slice()],
        )
        .await?;
    Ok(row.get(0))
}

/// The practice's chosen time zone (NULL: not chosen) and its US state.
pub async fn zone_settings(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Option<(Option<String>, Option<String>)>> {
    let row =
        db.query_opt("SELECT time_zone, state FROM client_orgs WHERE id = $1", &[&org_id]).await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Sets the practice's time zone (an IANA name the caller checked).
pub async fn set_time_zone(db: &impl GenericClient, org_id: Uuid, zone: &str) -> AppResult<()> {
    db.execute(
        "UPDATE client_orgs SET time_zone = $2, updated_at = now() WHERE id = $1",
        &[&org_id, &zone],
    )
    .await?;
    Ok(())
}

/// Sets the practice's US state (two capital letters, or None).
pub async fn set_state(
    db: &impl GenericClient,
    org_id: Uuid,
    state: Option<&str>,
) -> AppResult<()> {
    db.execute("UPDATE client_orgs SET state = $2 WHERE id = $1", &[&org_id, &state]).await?;
    Ok(())
}
