//! The append-only audit log.

use std::net::IpAddr;

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::AppResult;

/// One audit entry. `actor_email` is kept even for unknown addresses, so
/// attempts against accounts that do not exist are visible too.
#[derive(Debug, Default, Clone)]
pub struct Entry<'a> {
    pub org_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: Option<&'a str>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub details: serde_json::Value,
}

pub async fn record(db: &impl GenericClient, e: &Entry<'_>) -> AppResult<()> {
    let details = if e.details.is_null() { serde_json::json!({}) } else { e.details.clone() };
    let ua = e.user_agent.map(|ua| ua.chars().take(512).collect::<String>());
    db.execute(
        "INSERT INTO client_audit_log
           (client_org_id, actor_user_id, actor_email, action, target_type, target_id, ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[&e.org_id, &e.actor_user_id, &e.actor_email, &e.action, &e.target_type, &e.target_id, &e.ip, &ua, &details],
    )
    .await?;
    Ok(())
}
