//! Notifications for a practice, and who gets them by email.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::error::AppResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub org_id: Uuid,
    pub site_id: Option<Uuid>,
    pub kind: &'static str,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
    pub action_label: Option<String>,
    /// The same event raised twice (a retried ingest, two sweepers) lands once.
    pub dedupe_key: String,
}

/// Inserts the notification unless one with the same dedupe key exists;
/// returns its id when it was new.
pub async fn insert(db: &impl GenericClient, n: &NewNotification) -> AppResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "INSERT INTO client_notifications
               (client_org_id, site_id, type, severity, title, message, action_url, action_label, dedupe_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (client_org_id, dedupe_key) DO NOTHING
             RETURNING id",
            &[
                &n.org_id,
                &n.site_id,
                &n.kind,
                &n.severity.as_str(),
                &n.title,
                &n.message,
                &n.action_url,
                &n.action_label,
                &n.dedupe_key,
            ],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Owners and admins of the practice who want critical alerts by email.
pub async fn critical_alert_recipients(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Vec<(String, Option<String>)>> {
    let rows = db
        .query(
            "SELECT email, name FROM client_users
              WHERE client_org_id = $1 AND is_active AND notify_critical_email AND role IN ('owner', 'admin')
              ORDER BY email",
            &[&org_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Sites of active practices whose last evidence is older than `silent_for`
/// (and that ever sent any): (org, site, name, last evidence).
pub async fn silent_sites(
    db: &impl GenericClient,
    silent_for: std::time::Duration,
) -> AppResult<Vec<(Uuid, Uuid, String, chrono::DateTime<chrono::Utc>)>> {
    let secs = silent_for.as_secs_f64();
    let rows = db
        .query(
            "SELECT s.client_org_id, s.id, s.name, s.last_evidence_at
               FROM sites s JOIN client_orgs o ON o.id = s.client_org_id
              WHERE o.status = 'active' AND s.last_evidence_at < now() - make_interval(secs => $1)",
            &[&secs],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}
