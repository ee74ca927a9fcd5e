//! The to-do list's reads and its acknowledgements (`todo_acknowledgements`).

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::compliance::SCORE_WINDOW_DAYS;
use crate::error::{AppError, AppResult};
use crate::evidence::bundle::CheckStatus;

/// A note on a to-do item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub note: String,
    /// The user's name (or email); None once the user is deleted.
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

/// A (site, check, host) whose latest result in the score window failed
/// or warned.
#[derive(Debug, Clone)]
pub struct OpenCheck {
    pub site_id: Uuid,
    pub clinic_name: String,
    pub check_type: String,
    pub host: String,
    pub status: CheckStatus,
    pub hipaa_control: Option<String>,
    /// When the check turned to this status.
    pub since: DateTime<Utc>,
    pub last_checked: DateTime<Utc>,
    /// The appliance's id of the bundle with the latest result.
    pub bundle_id: String,
    /// That result's details, as the appliance sent them.
    pub details: serde_json::Value,
    /// The newest note written since the check turned to this status.
    pub acknowledgement: Option<Acknowledgement>,
}

/// The practice's open checks (failing or warning), or one site's.
pub async fn open_checks(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Option<Uuid>,
) -> AppResult<Vec<OpenCheck>> {
    let rows = db
        .query(
            "SELECT cs.site_id, s.name, cs.check_type, cs.host, cs.last_status,
                    ec.hipaa_control, cs.changed_at, cs.last_seen_at, b.bundle_id,
                    COALESCE(ec.details, '{}'::jsonb),
                    ack.note, ack.by_name, ack.acknowledged_at
               FROM check_states cs
               JOIN sites s ON s.id = cs.site_id
               JOIN evidence_bundles b ON b.id = cs.last_evidence_id
               LEFT JOIN LATERAL (
                     SELECT e.hipaa_control, e.details FROM evidence_checks e
                      WHERE e.evidence_id = cs.last_evidence_id
                        AND e.check_type = cs.check_type AND e.host = cs.host
                      ORDER BY e.id DESC LIMIT 1) ec ON true
               LEFT JOIN LATERAL (
                     SELECT a.note, COALESCE(u.name, u.email) AS by_name, a.acknowledged_at
                       FROM todo_acknowledgements a
                       LEFT JOIN client_users u ON u.id = a.acknowledged_by
                      WHERE a.site_id = cs.site_id AND a.check_type = cs.check_type
                        AND a.host = cs.host AND a.acknowledged_at >= cs.changed_at
                      ORDER BY a.acknowledged_at DESC LIMIT 1) ack ON true
              WHERE s.client_org_id = $1 AND ($2::uuid IS NULL OR cs.site_id = $2)
                AND cs.last_status IN ('fail', 'warn')
                AND cs.last_seen_at > now() - make_interval(days => $3)",
            &[&org_id, &site_id, &SCORE_WINDOW_DAYS],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let raw: String = r.get(4);
            let status = raw
                .parse()
                .map_err(|e| AppError::internal(anyhow::anyhow!("stored status: {e}")))?;
            let acknowledgement = r.get::<_, Option<String>>(10).map(|note| Acknowledgement {
                note,
                by: r.get(11),
                at: r.get(12),
            });
            Ok(OpenCheck {
                site_id: r.get(0),
                clinic_name: r.get(1),
                check_type: r.get(2),
                host: r.get(3),
                status,
                hipaa_control: r.get(5),
                since: r.get(6),
                last_checked: r.get(7),
                bundle_id: r.get(8),
                details: r.get(9),
                acknowledgement,
            })
        })
        .collect()
}

/// Writes a note on an item of `site_id` (of `org_id`).
pub async fn acknowledge(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Uuid,
    check_type: &str,
    host: &str,
    note: &str,
    by: Uuid,
) -> AppResult<DateTime<Utc>> {
    let row = db
        .query_one(
            "INSERT INTO todo_acknowledgements
                    (client_org_id, site_id, check_type, host, note, acknowledged_by)
             VALUES ($1, $2, $3, $4, $5, $6)
          RETURNING acknowledged_at",
            &[&org_id, &site_id, &check_type, &host, &note, &by],
        )
        .await?;
    Ok(row.get(0))
}
