//! Moving a practice to another MSP partner: the owner asks, OsirisCare
//! staff review (`portal admin transfer ...`), completion moves the practice.
//!
//! Life of a request: `pending` → `approved` or `rejected` (staff), or
//! `cancelled` (the owner, only while pending); `approved` → `completed`
//! (staff), which moves the practice and its sites. A practice has at most
//! one open (pending or approved) request. Every step is one transaction
//! with its audit entry, notification and mail (through the outbox).

pub mod cli;

use deadpool_postgres::Pool;
use uuid::Uuid;

use crate::audit::user_entry;
use crate::auth::current::{ClientInfo, CurrentUser};
use crate::auth::flows::require_browser_session;
use crate::db::audit;
use crate::db::notifications::{self, NewNotification, Severity};
use crate::db::outbox::{self, NewMail};
use crate::db::transfers::{self, OrgPartner, PartnerRef, TransferRequest, TransferStatus};
use crate::db::users::{self, Owners};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;
use crate::views::emails as mails;
use crate::views::format::partner_label;

/// Longest reason an owner may give, and longest staff notes.
pub const MAX_REASON_CHARS: usize = 2000;

/// Why an approved request cannot be cancelled by the owner (a 404: there is
/// no pending request to cancel) and what to do instead.
pub const APPROVED_NOT_CANCELLABLE: &str = "there is no pending transfer request to cancel: your \
     request is already approved by OsirisCare staff and can no longer be cancelled here; contact \
     OsirisCare support to stop it";

/// Text a person typed (a reason, review notes): trimmed, empty = none, at
/// most [`MAX_REASON_CHARS`] characters, no control characters other than
/// line breaks and tabs.
pub fn clean_text(what: &str, raw: Option<&str>) -> AppResult<Option<String>> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let chars = text.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(AppError::BadRequest(format!(
            "the {what} is {chars} characters long; keep it to {MAX_REASON_CHARS}"
        )));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(AppError::BadRequest(format!(
            "the {what} contains control characters; use plain text"
        )));
    }
    Ok(Some(text.to_owned()))
}

fn conflict_for(open: &TransferRequest) -> AppError {
    let since = open.created_at.format("%Y-%m-%d");
    match open.status {
        TransferStatus::Approved => AppError::Conflict(format!(
            "your transfer request of {since} to {} is approved and waiting to be completed by \
             OsirisCare staff; a new request is possible once it is completed",
            partner_label(open.to_partner.as_ref())
        )),
        _ => AppError::Conflict(format!(
            "you already have a pending transfer request (sent {since}) to {}; cancel it \
             before sending another",
            partner_label(open.to_partner.as_ref())
        )),
    }
}

/// A new request, as the caller reports it.
#[derive(Debug, Clone)]
pub struct Requested {
    pub id: Uuid,
    pub to_partner: Option<PartnerRef>,
    /// Whether OsirisCare staff were emailed (PORTAL_STAFF_EMAIL is set).
    pub staff_notified: bool,
}

/// The owner asks to move the practice to `to_partner_id` (None = served
/// directly by OsirisCare). 404 for an unknown partner, 400 for a bad
/// reason, 409 while another request is open or when the practice is
/// already where it asks to go.
pub async fn request_transfer(
    state: &AppState,
    user: &CurrentUser,
    to_partner_id: Option<Uuid>,
    reason: Option<&str>,
    client: &ClientInfo,
) -> AppResult<Requested> {
    require_browser_session(user)?;
    let reason = clean_text("reason", reason)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let to_partner = match to_partner_id {
        None => None,
        Some(id) => Some(transfers::find_partner(&*tx, id).await?.ok_or_else(|| {
            AppError::NotFound(format!(
                "there is no partner with id {id}; pick one from GET /api/client/transfer/partners"
            ))
        })?),
    };
    let org = transfers::lock_org_partner(&*tx, user.org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the caller's practice is missing")))?;
    if let Some(open) = transfers::open_request(&*tx, user.org_id).await? {
        return Err(conflict_for(&open));
    }
    let from_id = org.partner.as_ref().map(|p| p.id);
    if from_id == to_partner_id {
        return Err(AppError::Conflict(match &org.partner {
            Some(p) => format!("your practice is already served by {}; choose another partner", p.name),
            None => "your practice is already served directly by OsirisCare; choose a partner to move to"
                .to_owned(),
        }));
    }
    let Some(id) = transfers::insert_request(
        &*tx,
        user.org_id,
        from_id,
        to_partner_id,
        user.id,
        reason.as_deref(),
    )
    .await?
    else {
        // Another request won a race the row lock did not cover (it cannot
        // today, but the index is the rule).
        drop(tx);
        let db = state.pool().get().await?;
        return Err(match transfers::open_request(&**db, user.org_id).await? {
            Some(open) => conflict_for(&open),
            None => AppError::Conflict("another transfer request was just sent; reload".into()),
        });
    };
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("transfer_request"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "from_partner_id": from_id,
                "from_partner": org.partner.as_ref().map(|p| &p.name),
                "to_partner_id": to_partner_id,
                "to_partner": to_partner.as_ref().map(|p| &p.name),
                "reason": reason,
            }),
            ..user_entry(user, client, "transfer.requested")
        },
    )
    .await?;
    let staff = state.config().staff_email.clone();
    if let Some(staff) = &staff {
        let mail = mails::staff_request_email(&mails::StaffRequest {
            request_id: id,
            org_name: &org.org_name,
            org_id: org.org_id,
            requested_by: &user.email,
            from: org.partner.as_ref(),
            to: to_partner.as_ref(),
            reason: reason.as_deref(),
        });
        outbox::enqueue(
            &*tx,
            &NewMail {
                to: staff.clone(),
                subject: mail.subject,
                text: mail.text,
                html: Some(mail.html),
                kind: "transfer_request",
                contains_secret: false,
            },
        )
        .await?;
    } else {
        tracing::warn!(
            request = %id,
            practice = %org.org_name,
            "PORTAL_STAFF_EMAIL is not set: nobody was emailed about this transfer request; \
             see `portal admin transfer list`"
        );
    }
    tx.commit().await?;
    if staff.is_some() {
        state.wake_mailer();
    }
    Ok(Requested { id, to_partner, staff_notified: staff.is_some() })
}

/// The practice's partner and its newest request.
pub async fn status(
    state: &AppState,
    org_id: Uuid,
) -> AppResult<(OrgPartner, Option<TransferRequest>)> {
    let db = state.pool().get().await?;
    let org = transfers::org_partner(&**db, org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the caller's practice is missing")))?;
    let latest = transfers::latest_request(&**db, org_id).await?;
    Ok((org, latest))
}

/// The owner withdraws the pending request. 404 when nothing is pending,
/// including when the request is already approved (staff are about to move
/// the practice; only OsirisCare support can stop it now, and the message
/// says so).
pub async fn cancel_transfer(
    state: &AppState,
    user: &CurrentUser,
    client: &ClientInfo,
) -> AppResult<Uuid> {
    require_browser_session(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some(id) = transfers::cancel_pending(&*tx, user.org_id).await? else {
        return Err(match transfers::open_request(&*tx, user.org_id).await? {
            Some(open) if open.status == TransferStatus::Approved => {
                AppError::NotFound(APPROVED_NOT_CANCELLABLE.into())
            }
            _ => AppError::NotFound("you have no pending transfer request to cancel".into()),
        });
    };
    let request = transfers::get_request(&*tx, id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("cancelled request {id} vanished")))?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("transfer_request"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "to_partner_id": request.to_partner.as_ref().map(|p| p.id),
                "to_partner": request.to_partner.as_ref().map(|p| &p.name),
            }),
            ..user_entry(user, client, "transfer.cancelled")
        },
    )
    .await?;
    let staff = state.config().staff_email.clone();
    if let Some(staff) = &staff {
        let mail = mails::staff_cancelled_email(&request, &user.email);
        outbox::enqueue(
            &*tx,
            &NewMail {
                to: staff.clone(),
                subject: mail.subject,
                text: mail.text,
                html: Some(mail.html),
                kind: "transfer_cancelled",
                contains_secret: false,
            },
        )
        .await?;
    }
    tx.commit().await?;
    if staff.is_some() {
        state.wake_mailer();
    }
    Ok(id)
}

// ---------------------------------------------------------------------------
// Staff side (the CLI)
// ---------------------------------------------------------------------------

/// What staff can do to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

fn no_request(id: Uuid) -> AppError {
    AppError::NotFound(format!(
        "no transfer request with id {id}; `portal admin transfer list --all` shows them"
    ))
}

/// Tells the practice (a `transfer_update` notification) and mails its
/// owners, inside the caller's transaction.
async fn tell_practice(
    db: &impl tokio_postgres::GenericClient,
    base_url: &str,
    request: &TransferRequest,
) -> AppResult<usize> {
    let update = mails::practice_update(request);
    notifications::insert(
        db,
        &NewNotification {
            org_id: request.org_id,
            site_id: None,
            kind: "transfer_update",
            severity: if request.status == TransferStatus::Rejected {
                Severity::Warning
            } else {
                Severity::Info
            },
            title: update.title.clone(),
            message: update.message.clone(),
            action_url: Some(paths::TRANSFER.to_owned()),
            action_label: Some("View request".to_owned()),
            dedupe_key: format!("transfer:{}:{}", request.id, request.status),
            check: None,
            repeats: false,
        },
    )
    .await?;
    let owners = users::active_owners(db, request.org_id, Owners::All).await?;
    for (email, name) in &owners {
        let mail = mails::owner_update_email(name.as_deref(), request, &update, base_url);
        outbox::enqueue(
            db,
            &NewMail {
                to: email.clone(),
                subject: mail.subject,
                text: mail.text,
                html: Some(mail.html),
                kind: "transfer_update",
                contains_secret: false,
            },
        )
        .await?;
    }
    Ok(owners.len())
}

fn staff_actor(reviewer: &str) -> String {
    format!("{reviewer} (OsirisCare staff)")
}

/// Approves or rejects a pending request (staff). Other states are refused
/// with a message that says what state the request is in.
pub async fn decide(
    pool: &Pool,
    base_url: &str,
    id: Uuid,
    decision: Decision,
    reviewer: &str,
    notes: Option<&str>,
) -> AppResult<(TransferRequest, usize)> {
    let notes = clean_text("notes", notes)?;
    let mut db = pool.get().await?;
    let tx = db.transaction().await?;
    let to = match decision {
        Decision::Approve => TransferStatus::Approved,
        Decision::Reject => TransferStatus::Rejected,
    };
    if !transfers::decide(&*tx, id, to, reviewer, notes.as_deref()).await? {
        let current = transfers::get_request(&*tx, id).await?.ok_or_else(|| no_request(id))?;
        let verb = if decision == Decision::Approve { "approved" } else { "rejected" };
        return Err(AppError::Conflict(format!(
            "transfer request {id} is {}; only pending requests can be {verb}",
            current.status
        )));
    }
    let request = transfers::get_request(&*tx, id).await?.ok_or_else(|| no_request(id))?;
    let actor = staff_actor(reviewer);
    audit::record(
        &*tx,
        &audit::Entry {
            org_id: Some(request.org_id),
            actor_email: Some(&actor),
            action: "transfer.decided",
            target_type: Some("transfer_request"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "decision": to.as_str(),
                "reviewed_by": reviewer,
                "notes": notes,
                "to_partner_id": request.to_partner.as_ref().map(|p| p.id),
                "to_partner": request.to_partner.as_ref().map(|p| &p.name),
            }),
            ..Default::default()
        },
    )
    .await?;
    let mailed = tell_practice(&*tx, base_url, &request).await?;
    tx.commit().await?;
    Ok((request, mailed))
}

/// Completes an approved request (staff): the practice, and with it its
/// sites, moves to the requested partner (or to OsirisCare directly).
pub async fn complete(
    pool: &Pool,
    base_url: &str,
    id: Uuid,
    reviewer: &str,
) -> AppResult<(TransferRequest, usize)> {
    let mut db = pool.get().await?;
    let tx = db.transaction().await?;
    let request = transfers::get_request(&*tx, id).await?.ok_or_else(|| no_request(id))?;
    let before = transfers::lock_org_partner(&*tx, request.org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the request's practice is missing")))?;
    if !transfers::mark_completed(&*tx, id).await? {
        let current = transfers::get_request(&*tx, id).await?.ok_or_else(|| no_request(id))?;
        let hint =
            if current.status == TransferStatus::Pending { " (approve it first)" } else { "" };
        return Err(AppError::Conflict(format!(
            "transfer request {id} is {}; only approved requests can be completed{hint}",
            current.status
        )));
    }
    let to_id = request.to_partner.as_ref().map(|p| p.id);
    transfers::move_org(&*tx, request.org_id, to_id).await?;
    let request = transfers::get_request(&*tx, id).await?.ok_or_else(|| no_request(id))?;
    let actor = staff_actor(reviewer);
    audit::record(
        &*tx,
        &audit::Entry {
            org_id: Some(request.org_id),
            actor_email: Some(&actor),
            action: "transfer.completed",
            target_type: Some("transfer_request"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "completed_by": reviewer,
                "from_partner_id": before.partner.as_ref().map(|p| p.id),
                "from_partner": before.partner.as_ref().map(|p| &p.name),
                "to_partner_id": to_id,
                "to_partner": request.to_partner.as_ref().map(|p| &p.name),
            }),
            ..Default::default()
        },
    )
    .await?;
    let mailed = tell_practice(&*tx, base_url, &request).await?;
    tx.commit().await?;
    Ok((request, mailed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_plain() {
        assert_eq!(clean_text("reason", None).unwrap(), None);
        assert_eq!(clean_text("reason", Some("  \n ")).unwrap(), None);
        assert_eq!(clean_text("reason", Some(" a\nb ")).unwrap().as_deref(), Some("a\nb"));
        let long = "é".repeat(MAX_REASON_CHARS);
        assert!(clean_text("reason", Some(&long)).is_ok(), "the limit counts characters");
        let err = clean_text("reason", Some(&format!("{long}x"))).unwrap_err();
        assert!(err.to_string().contains("2001 characters"), "{err}");
        assert!(clean_text("notes", Some("a\u{0}b")).is_err());
        assert!(clean_text("notes", Some("a\u{1b}[31m")).is_err());
    }
}
