//! Requests to move a practice to another MSP partner (partner_transfer_requests).
//!
//! A practice has at most one open request (pending or approved) at a time:
//! the unique partial index `partner_transfer_requests_one_open_per_org`
//! says so, and [`insert_request`] relies on it (`ON CONFLICT DO NOTHING`)
//! rather than on a check that could race.

use std::fmt;

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Where a request is in its life.
///
/// `pending` → `approved` | `rejected` (staff) | `cancelled` (the owner);
/// `approved` → `completed` (staff). Pending and approved are "open".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
    Completed,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Pending => "pending",
            TransferStatus::Approved => "approved",
            TransferStatus::Rejected => "rejected",
            TransferStatus::Cancelled => "cancelled",
            TransferStatus::Completed => "completed",
        }
    }

    /// Pending or approved: the practice cannot ask again until it is settled.
    pub fn is_open(self) -> bool {
        matches!(self, TransferStatus::Pending | TransferStatus::Approved)
    }

    fn from_db(raw: &str) -> AppResult<Self> {
        Ok(match raw {
            "pending" => TransferStatus::Pending,
            "approved" => TransferStatus::Approved,
            "rejected" => TransferStatus::Rejected,
            "cancelled" => TransferStatus::Cancelled,
            "completed" => TransferStatus::Completed,
            other => {
                return Err(AppError::internal(anyhow::anyhow!(
                    "partner_transfer_requests has an unknown status {other:?}"
                )));
            }
        })
    }
}

impl fmt::Display for TransferStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A partner by id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRef {
    pub id: Uuid,
    pub name: String,
}

/// A practice's partner as it stands: None = served directly by OsirisCare.
#[derive(Debug, Clone)]
pub struct OrgPartner {
    pub org_id: Uuid,
    pub org_name: String,
    pub partner: Option<PartnerRef>,
    pub assigned_at: Option<DateTime<Utc>>,
}

/// One request with the names needed to show it.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    /// None = the practice was served directly when it asked.
    pub from_partner: Option<PartnerRef>,
    /// None = to be served directly by OsirisCare.
    pub to_partner: Option<PartnerRef>,
    pub requested_by: Uuid,
    pub requested_by_email: String,
    pub reason: Option<String>,
    pub status: TransferStatus,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The OsirisCare staff member who approved or rejected it.
    pub reviewed_by: Option<String>,
    pub review_notes: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When the status last changed (e.g. when it was cancelled).
    pub updated_at: DateTime<Utc>,
}

const SELECT_REQUEST: &str = "
    SELECT r.id, r.client_org_id, o.name, r.from_partner_id, fp.name, r.to_partner_id, tp.name,
           r.requested_by, u.email, r.reason, r.status, r.reviewed_at, r.reviewed_by,
           r.review_notes, r.completed_at, r.created_at, r.updated_at
      FROM partner_transfer_requests r
      JOIN client_orgs o ON o.id = r.client_org_id
      JOIN client_users u ON u.id = r.requested_by
      LEFT JOIN partners fp ON fp.id = r.from_partner_id
      LEFT JOIN partners tp ON tp.id = r.to_partner_id";

fn partner_at(row: &Row, id: usize, name: usize) -> Option<PartnerRef> {
    let id: Option<Uuid> = row.get(id);
    let name: Option<String> = row.get(name);
    id.map(|id| PartnerRef { id, name: name.unwrap_or_default() })
}

fn request_from(row: &Row) -> AppResult<TransferRequest> {
    Ok(TransferRequest {
        id: row.get(0),
        org_id: row.get(1),
        org_name: row.get(2),
        from_partner: partner_at(row, 3, 4),
        to_partner: partner_at(row, 5, 6),
        requested_by: row.get(7),
        requested_by_email: row.get(8),
        reason: row.get(9),
        status: TransferStatus::from_db(row.get(10))?,
        reviewed_at: row.get(11),
        reviewed_by: row.get(12),
        review_notes: row.get(13),
        completed_at: row.get(14),
        created_at: row.get(15),
        updated_at: row.get(16),
    })
}

/// Every partner, by name.
pub async fn list_partners(db: &impl GenericClient) -> AppResult<Vec<PartnerRef>> {
    let rows = db.query("SELECT id, name FROM partners ORDER BY name, id", &[]).await?;
    Ok(rows.iter().map(|r| PartnerRef { id: r.get(0), name: r.get(1) }).collect())
}

pub async fn find_partner(db: &impl GenericClient, id: Uuid) -> AppResult<Option<PartnerRef>> {
    let row = db.query_opt("SELECT id, name FROM partners WHERE id = $1", &[&id]).await?;
    Ok(row.map(|r| PartnerRef { id: r.get(0), name: r.get(1) }))
}

async fn org_partner_with(
    db: &impl GenericClient,
    org_id: Uuid,
    lock: &str,
) -> AppResult<Option<OrgPartner>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT o.id, o.name, o.current_partner_id, p.name, o.partner_assigned_at
                   FROM client_orgs o LEFT JOIN partners p ON p.id = o.current_partner_id
                  WHERE o.id = $1 {lock}"
            ),
            &[&org_id],
        )
        .await?;
    Ok(row.map(|r| OrgPartner {
        org_id: r.get(0),
        org_name: r.get(1),
        partner: partner_at(&r, 2, 3),
        assigned_at: r.get(4),
    }))
}

/// The practice's current partner.
pub async fn org_partner(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<OrgPartner>> {
    org_partner_with(db, org_id, "").await
}

/// The practice's current partner, locking the practice's row until the
/// transaction ends (requests and completions of one practice queue here).
pub async fn lock_org_partner(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Option<OrgPartner>> {
    org_partner_with(db, org_id, "FOR UPDATE OF o").await
}

/// Inserts a pending request; None when the practice already has an open one.
pub async fn insert_request(
    db: &impl GenericClient,
    org_id: Uuid,
    from_partner_id: Option<Uuid>,
    to_partner_id: Option<Uuid>,
    requested_by: Uuid,
    reason: Option<&str>,
) -> AppResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "INSERT INTO partner_transfer_requests
               (client_org_id, from_partner_id, to_partner_id, requested_by, reason)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (client_org_id) WHERE status IN ('pending', 'approved') DO NOTHING
             RETURNING id",
            &[&org_id, &from_partner_id, &to_partner_id, &requested_by, &reason],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The practice's open (pending or approved) request.
pub async fn open_request(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Option<TransferRequest>> {
    let sql = format!(
        "{SELECT_REQUEST} WHERE r.client_org_id = $1 AND r.status IN ('pending', 'approved')"
    );
    db.query_opt(&sql, &[&org_id]).await?.as_ref().map(request_from).transpose()
}

/// The practice's newest request, whatever its status.
pub async fn latest_request(
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<Option<TransferRequest>> {
    let sql = format!(
        "{SELECT_REQUEST} WHERE r.client_org_id = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT 1"
    );
    db.query_opt(&sql, &[&org_id]).await?.as_ref().map(request_from).transpose()
}

/// Any practice's request by id (staff tools).
pub async fn get_request(db: &impl GenericClient, id: Uuid) -> AppResult<Option<TransferRequest>> {
    let sql = format!("{SELECT_REQUEST} WHERE r.id = $1");
    db.query_opt(&sql, &[&id]).await?.as_ref().map(request_from).transpose()
}

/// Requests for the staff queue, oldest first: open ones only, or all.
pub async fn list_requests(
    db: &impl GenericClient,
    open_only: bool,
) -> AppResult<Vec<TransferRequest>> {
    let sql = format!(
        "{SELECT_REQUEST} WHERE (NOT $1 OR r.status IN ('pending', 'approved'))
         ORDER BY r.created_at, r.id"
    );
    db.query(&sql, &[&open_only]).await?.iter().map(request_from).collect()
}

/// Cancels the practice's pending request; returns its id, or None when
/// nothing is pending.
pub async fn cancel_pending(db: &impl GenericClient, org_id: Uuid) -> AppResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "UPDATE partner_transfer_requests SET status = 'cancelled'
              WHERE client_org_id = $1 AND status = 'pending'
              RETURNING id",
            &[&org_id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Approves or rejects a pending request; false when it is not pending
/// (or does not exist).
pub async fn decide(
    db: &impl GenericClient,
    id: Uuid,
    to: TransferStatus,
    reviewed_by: &str,
    notes: Option<&str>,
) -> AppResult<bool> {
    if !matches!(to, TransferStatus::Approved | TransferStatus::Rejected) {
        return Err(AppError::internal(anyhow::anyhow!("a decision is approved or rejected")));
    }
    let n = db
        .execute(
            "UPDATE partner_transfer_requests
                SET status = $2, reviewed_at = now(), reviewed_by = $3, review_notes = $4
              WHERE id = $1 AND status = 'pending'",
            &[&id, &to.as_str(), &reviewed_by, &notes],
        )
        .await?;
    Ok(n == 1)
}

/// Marks an approved request completed; false when it is not approved.
pub async fn mark_completed(db: &impl GenericClient, id: Uuid) -> AppResult<bool> {
    let n = db
        .execute(
            "UPDATE partner_transfer_requests SET status = 'completed', completed_at = now()
              WHERE id = $1 AND status = 'approved'",
            &[&id],
        )
        .await?;
    Ok(n == 1)
}

/// Moves the practice to `partner_id` (None = served directly). Sites
/// belong to the practice, so they move with it.
pub async fn move_org(
    db: &impl GenericClient,
    org_id: Uuid,
    partner_id: Option<Uuid>,
) -> AppResult<()> {
    db.execute(
        "UPDATE client_orgs SET current_partner_id = $2, partner_assigned_at = now() WHERE id = $1",
        &[&org_id, &partner_id],
    )
    .await?;
    Ok(())
}
