//! Requests to move the practice to another MSP partner (owner only).
//! OsirisCare staff review them with `portal admin transfer ...`.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::error::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND};
use super::types::StrictString;
use crate::auth::current::{ApiOwner, ClientInfo};
use crate::db::transfers::{self, PartnerRef, TransferRequest, TransferStatus};
use crate::paths;
use crate::state::AppState;
use crate::transfer;

#[derive(Tags)]
enum ApiTags {
    /// Moving your practice to another MSP partner (owner only).
    Transfer,
}

#[derive(Debug, Object)]
pub struct NewTransferRequest {
    /// Why the practice wants to move, for OsirisCare staff: at most 2,000
    /// characters; line breaks allowed, other control characters not.
    #[oai(
        nullable,
        validator(max_length = 2000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")
    )]
    pub reason: Option<StrictString>,
    /// The partner to move to (an id from `GET /api/client/transfer/partners`).
    /// Absent or null: to be served directly by OsirisCare. It must differ
    /// from the current partner.
    #[oai(nullable)]
    pub to_partner_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for OsirisCare staff; the owner may still cancel it.
    Pending,
    /// Accepted by staff; they complete the move next.
    Approved,
    /// Refused by staff (see `review_notes`).
    Rejected,
    /// Withdrawn by the owner.
    Cancelled,
    /// The practice has moved.
    Completed,
}

impl From<TransferStatus> for RequestStatus {
    fn from(s: TransferStatus) -> Self {
        match s {
            TransferStatus::Pending => RequestStatus::Pending,
            TransferStatus::Approved => RequestStatus::Approved,
            TransferStatus::Rejected => RequestStatus::Rejected,
            TransferStatus::Cancelled => RequestStatus::Cancelled,
            TransferStatus::Completed => RequestStatus::Completed,
        }
    }
}

#[derive(Debug, Object)]
pub struct CreatedTransferRequest {
    pub request_id: Uuid,
    // Always `pending`. (No doc comment: it would wrap the enum's $ref in an
    // allOf that some client generators cannot read.)
    pub status: RequestStatus,
    /// What happens next, for people.
    pub message: String,
}

#[derive(ApiResponse)]
pub enum CreatedTransferResponse {
    /// Sent to OsirisCare staff for review.
    #[oai(status = 201)]
    Created(Json<CreatedTransferRequest>),
}

/// An MSP partner.
#[derive(Debug, Object)]
pub struct Partner {
    pub id: Uuid,
    pub name: String,
}

impl From<&PartnerRef> for Partner {
    fn from(p: &PartnerRef) -> Self {
        Partner { id: p.id, name: p.name.clone() }
    }
}

#[derive(Debug, Object)]
pub struct TransferRequestItem {
    pub id: Uuid,
    /// The partner when the request was made; null = served directly by OsirisCare.
    #[oai(nullable)]
    pub from_partner: Option<Partner>,
    /// The partner asked for; null = to be served directly by OsirisCare.
    #[oai(nullable)]
    pub to_partner: Option<Partner>,
    #[oai(nullable)]
    pub reason: Option<String>,
    pub status: RequestStatus,
    /// When staff approved or rejected it.
    #[oai(nullable)]
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Staff's note on the decision.
    #[oai(nullable)]
    pub review_notes: Option<String>,
    /// When the practice moved.
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&TransferRequest> for TransferRequestItem {
    fn from(r: &TransferRequest) -> Self {
        TransferRequestItem {
            id: r.id,
            from_partner: r.from_partner.as_ref().map(Partner::from),
            to_partner: r.to_partner.as_ref().map(Partner::from),
            reason: r.reason.clone(),
            status: r.status.into(),
            reviewed_at: r.reviewed_at,
            review_notes: r.review_notes.clone(),
            completed_at: r.completed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct TransferStatusBody {
    /// Whether the practice ever asked to move.
    pub has_request: bool,
    /// The newest request, whatever its status; null when there is none.
    #[oai(nullable)]
    pub request: Option<TransferRequestItem>,
    /// Who serves the practice now; null = OsirisCare directly.
    #[oai(nullable)]
    pub current_partner: Option<Partner>,
}

#[derive(Debug, Object)]
pub struct CancelledTransfer {
    /// `cancelled`.
    pub status: String,
    pub request_id: Uuid,
}

#[derive(ApiResponse)]
pub enum CancelResponse {
    /// Cancelled; a new request can be sent.
    #[oai(status = 200)]
    Ok(Json<CancelledTransfer>),
}

#[derive(Debug, Object)]
pub struct PartnerList {
    /// Every partner a practice can move to, by name.
    pub partners: Vec<Partner>,
}

pub struct TransferApi;

#[OpenApi(prefix_path = paths::TRANSFER, tag = "ApiTags::Transfer")]
impl TransferApi {
    /// Ask to move to another partner (owner)
    ///
    /// Sends the request to OsirisCare staff (by email) for review. One
    /// request can be open at a time: while one is pending or approved,
    /// this answers 409, as it does when the practice is already served by
    /// the partner asked for (or, for none, directly). An unknown partner
    /// is a 404; a reason over 2,000 characters a 400.
    #[oai(path = "/request", method = "post", operation_id = "create_transfer_request")]
    async fn create_transfer_request(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiOwner,
        body: Json<NewTransferRequest>,
    ) -> Result<CreatedTransferResponse, ApiError<{ AUTHED | JSON_BODY | NOT_FOUND | CONFLICT }>>
    {
        let r = transfer::request_transfer(
            &state,
            &user,
            body.to_partner_id,
            body.reason.as_deref(),
            &ClientInfo::of(req),
        )
        .await?;
        Ok(CreatedTransferResponse::Created(Json(CreatedTransferRequest {
            request_id: r.id,
            status: RequestStatus::Pending,
            message: format!(
                "Your request to move to {} was sent to OsirisCare staff. You will be notified \
                 when they decide.",
                crate::views::format::partner_label(r.to_partner.as_ref())
            ),
        })))
    }

    /// Your practice's partner and latest transfer request (owner)
    #[oai(path = "/status", method = "get", operation_id = "get_transfer_status")]
    async fn get_transfer_status(
        &self,
        state: Data<&AppState>,
        user: ApiOwner,
    ) -> Result<Json<TransferStatusBody>, ApiError<AUTHED>> {
        let (org, latest) = transfer::status(&state, user.org_id).await?;
        Ok(Json(TransferStatusBody {
            has_request: latest.is_some(),
            request: latest.as_ref().map(TransferRequestItem::from),
            current_partner: org.partner.as_ref().map(Partner::from),
        }))
    }

    /// Cancel your pending transfer request (owner)
    ///
    /// Only a pending request can be cancelled: 404 when there is none. An
    /// approved request is no longer pending, so cancelling it is a 404 too,
    /// whose message says so: only OsirisCare support can stop it now.
    #[oai(path = "/cancel", method = "post", operation_id = "cancel_transfer_request")]
    async fn cancel_transfer_request(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiOwner,
    ) -> Result<CancelResponse, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = transfer::cancel_transfer(&state, &user, &ClientInfo::of(req)).await?;
        Ok(CancelResponse::Ok(Json(CancelledTransfer {
            status: "cancelled".into(),
            request_id: id,
        })))
    }

    /// Partners you can move to (owner)
    #[oai(path = "/partners", method = "get", operation_id = "list_transfer_partners")]
    async fn list_transfer_partners(
        &self,
        state: Data<&AppState>,
        _user: ApiOwner,
    ) -> Result<Json<PartnerList>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        let partners = transfers::list_partners(&**db).await?;
        Ok(Json(PartnerList { partners: partners.iter().map(Partner::from).collect() }))
    }
}
