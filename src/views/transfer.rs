//! Markup of the transfer pages, and the transfer emails.
//!
//! The page is the practice's current partner plus `#transfer-section`: the
//! latest request with its timeline, and either a cancel button (pending)
//! or the request form (nothing open). htmx replaces `#transfer-section`
//! after a request or a cancellation; without JavaScript the forms post and
//! the page reloads.

use maud::{Markup, html};
use uuid::Uuid;

use super::dashboard::when;
use super::emails::Email;
use super::layout::{NavUser, Section, page};
use crate::db::transfers::{OrgPartner, PartnerRef, TransferRequest, TransferStatus};
use crate::transfer::{MAX_REASON_CHARS, PAGE_PATH, partner_label};

// ---------------------------------------------------------------------------
// Page
// ---------------------------------------------------------------------------

/// The request form as typed, so a refused one is shown back.
#[derive(Debug, Clone, Default)]
pub struct FormValues {
    /// A partner id, `direct`, or empty.
    pub to_partner: String,
    pub reason: String,
}

/// What `#transfer-section` shows.
pub struct SectionData<'a> {
    pub org: &'a OrgPartner,
    pub latest: Option<&'a TransferRequest>,
    pub partners: &'a [PartnerRef],
    pub csrf_token: &'a str,
    pub values: &'a FormValues,
    /// (is_error, text) after a submission.
    pub message: Option<(bool, &'a str)>,
}

pub fn status_badge(status: TransferStatus) -> Markup {
    let class = match status {
        TransferStatus::Pending => "badge-amber",
        TransferStatus::Approved => "badge-blue",
        TransferStatus::Completed => "badge-green",
        TransferStatus::Rejected => "badge-red",
        TransferStatus::Cancelled => "badge-gray",
    };
    html! { span.badge.(class) data-status=(status.as_str()) { (status.as_str()) } }
}

/// The partner page.
pub fn transfer_page(user: &NavUser, data: &SectionData) -> Markup {
    let org = data.org;
    page(
        "Partner",
        Some(user),
        Section::Transfer,
        html! {
            div.page-header {
                div {
                    h1 { "Partner" }
                    p.muted { "The IT partner (MSP) that looks after your practice's compliance, and requests to change it. OsirisCare staff review every request." }
                }
            }
            div.stack {
                section.card id="current-partner" {
                    div.card-header { h2.card-title { "Current partner" } }
                    div.card-body {
                        dl.kv {
                            dt { "Served by" }
                            dd.strong id="current-partner-name" {
                                @match &org.partner {
                                    Some(p) => (p.name),
                                    None => "OsirisCare directly",
                                }
                            }
                            @if let Some(at) = org.assigned_at {
                                dt { "Since" }
                                dd { (when(at)) }
                            }
                        }
                    }
                }
                (transfer_section(data))
            }
        },
    )
}

/// `#transfer-section`.
pub fn transfer_section(data: &SectionData) -> Markup {
    let open = data.latest.filter(|r| r.status.is_open());
    html! {
        div.stack id="transfer-section" aria-live="polite" {
            @if let Some((is_error, text)) = data.message {
                div.alert.alert-error[is_error].alert-success[!is_error]
                    role=(if is_error { "alert" } else { "status" }) id="transfer-message" { (text) }
            }
            @if let Some(r) = data.latest {
                (request_card(r, data.csrf_token))
            }
            @if open.is_none() {
                (request_form(data))
            }
        }
    }
}

fn request_card(r: &TransferRequest, csrf_token: &str) -> Markup {
    html! {
        section.card id="transfer-request" data-request-id=(r.id) {
            div.card-header.row {
                h2.card-title {
                    @if r.status.is_open() { "Your transfer request" } @else { "Your last transfer request" }
                }
                div.spacer {}
                (status_badge(r.status))
            }
            div.card-body.stack {
                dl.kv id="transfer-timeline" {
                    dt { "Requested" }
                    dd {
                        (when(r.created_at)) " by " (r.requested_by_email)
                        div.muted.small {
                            "From " strong { (partner_label(r.from_partner.as_ref())) }
                            " to " strong { (partner_label(r.to_partner.as_ref())) }
                        }
                        @if let Some(reason) = &r.reason {
                            div.small { "Reason: " (reason) }
                        }
                    }
                    @if let (Some(at), true) = (r.reviewed_at, matches!(r.status, TransferStatus::Approved | TransferStatus::Rejected | TransferStatus::Completed)) {
                        dt { @if r.status == TransferStatus::Rejected { "Rejected" } @else { "Approved" } }
                        dd {
                            (when(at)) " by OsirisCare staff"
                            @if let Some(notes) = &r.review_notes {
                                div.small { "Notes: " (notes) }
                            }
                        }
                    }
                    @match r.status {
                        TransferStatus::Pending => {
                            dt { "Next" }
                            dd { "OsirisCare staff review your request. You will get a notification and an email when they decide." }
                        }
                        TransferStatus::Approved => {
                            dt { "Next" }
                            dd {
                                "OsirisCare staff will move your practice to " (partner_label(r.to_partner.as_ref())) " shortly."
                                div.muted.small id="transfer-not-cancellable" {
                                    "An approved request can no longer be cancelled here; to stop it, contact OsirisCare support."
                                }
                            }
                        }
                        TransferStatus::Completed => {
                            dt { "Completed" }
                            dd {
                                @if let Some(at) = r.completed_at { (when(at)) ": " }
                                "your practice and its sites are now served by " (partner_label(r.to_partner.as_ref())) "."
                            }
                        }
                        TransferStatus::Cancelled => {
                            dt { "Cancelled" }
                            dd { (when(r.updated_at)) }
                        }
                        TransferStatus::Rejected => {}
                    }
                }
                @if r.status == TransferStatus::Pending {
                    form method="post" action="/client/transfer/cancel"
                        hx-post="/client/transfer/cancel" hx-target="#transfer-section" hx-swap="outerHTML"
                        hx-confirm="Cancel your request to move to another partner?" {
                        input type="hidden" name="csrf_token" value=(csrf_token);
                        button.btn.btn-danger.btn-sm type="submit" id="cancel-transfer" { "Cancel request" }
                    }
                }
            }
        }
    }
}

fn request_form(data: &SectionData) -> Markup {
    let current = data.org.partner.as_ref().map(|p| p.id);
    let values = data.values;
    let error = data.message.filter(|(is_error, _)| *is_error).map(|(_, t)| t);
    html! {
        section.card id="transfer-form-card" {
            div.card-header { h2.card-title { "Request a transfer" } }
            div.card-body {
                form.form id="transfer-form" method="post" action="/client/transfer/request"
                    hx-post="/client/transfer/request" hx-target="#transfer-section" hx-swap="outerHTML" {
                    input type="hidden" name="csrf_token" value=(data.csrf_token);
                    div.field {
                        label for="to_partner" { "Move to" }
                        select id="to_partner" name="to_partner" required
                            aria-invalid=[error.is_some().then_some("true")] {
                            option value="" disabled selected[values.to_partner.is_empty()] { "Choose a partner…" }
                            @if current.is_some() {
                                option value="direct" selected[values.to_partner == "direct"] { "OsirisCare directly" }
                            }
                            @for p in data.partners.iter().filter(|p| Some(p.id) != current) {
                                @let id = p.id.to_string();
                                option value=(id) selected[values.to_partner == id] { (p.name) }
                            }
                        }
                        span.hint { "Your sites and evidence stay with your practice; only who looks after them changes." }
                    }
                    div.field {
                        label for="reason" { "Reason " span.muted { "(optional)" } }
                        textarea id="reason" name="reason" maxlength=(MAX_REASON_CHARS) rows="4"
                            placeholder="e.g. We are consolidating IT support with one provider." { (values.reason) }
                        span.hint { "Up to " (MAX_REASON_CHARS) " characters. OsirisCare staff read it." }
                    }
                    button.btn.btn-primary type="submit" { "Send request" }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Emails and notifications
// ---------------------------------------------------------------------------

const WRAP: &str = "font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2937; max-width: 560px; margin: 0 auto; padding: 24px;";
const BUTTON: &str = "background: #0f5e6b; color: #ffffff; padding: 12px 22px; border-radius: 6px; text-decoration: none; font-weight: 600; display: inline-block;";

/// What staff are told about a new request.
pub struct StaffRequest<'a> {
    pub request_id: Uuid,
    pub org_name: &'a str,
    pub org_id: Uuid,
    pub requested_by: &'a str,
    pub from: Option<&'a PartnerRef>,
    pub to: Option<&'a PartnerRef>,
    pub reason: Option<&'a str>,
}

pub fn staff_request_email(r: &StaffRequest) -> Email {
    let from = partner_label(r.from);
    let to = partner_label(r.to);
    let id = r.request_id;
    let reason = r.reason.unwrap_or("(none given)");
    let text = format!(
        "{org} asks to move to another partner.\n\n\
         Request:      {id}\n\
         Practice:     {org} ({org_id})\n\
         Requested by: {by}\n\
         From:         {from}\n\
         To:           {to}\n\
         Reason:       {reason}\n\n\
         Review it with the portal's command line:\n\n\
         \x20 portal admin transfer approve {id} --notes \"...\"\n\
         \x20 portal admin transfer reject {id} --notes \"...\"\n\n\
         Once approved, `portal admin transfer complete {id}` moves the practice.\n\n-- OsirisCare portal\n",
        org = r.org_name,
        org_id = r.org_id,
        by = r.requested_by,
    );
    let html = html! {
        div style=(WRAP) {
            p style="font-size: 16px;" { strong { (r.org_name) } " asks to move to another partner." }
            table style="font-size: 14px; border-collapse: collapse;" {
                @for (k, v) in [("Request", id.to_string()), ("Practice", format!("{} ({})", r.org_name, r.org_id)), ("Requested by", r.requested_by.to_owned()), ("From", from.clone()), ("To", to.clone()), ("Reason", reason.to_owned())] {
                    tr { td style="padding: 4px 16px 4px 0; color: #6b7280;" { (k) } td style="padding: 4px 0; white-space: pre-wrap;" { (v) } }
                }
            }
            p style="font-size: 14px;" { "Review it with the portal's command line:" }
            pre style="font-size: 13px; background: #f3f4f6; padding: 12px; border-radius: 6px;" {
                "portal admin transfer approve " (id) " --notes \"...\"\n"
                "portal admin transfer reject " (id) " --notes \"...\""
            }
            p style="font-size: 14px;" { "Once approved, " code { "portal admin transfer complete " (id) } " moves the practice." }
        }
    }
    .into_string();
    Email { subject: format!("Partner transfer request: {} → {to}", r.org_name), text, html }
}

pub fn staff_cancelled_email(r: &TransferRequest, by: &str) -> Email {
    let to = partner_label(r.to_partner.as_ref());
    let text = format!(
        "{org} cancelled its transfer request {id} (to {to}); {by} withdrew it. Nothing to review.\n\n-- OsirisCare portal\n",
        org = r.org_name,
        id = r.id,
    );
    let html = html! {
        div style=(WRAP) {
            p style="font-size: 16px;" { strong { (r.org_name) } " cancelled its transfer request " code { (r.id) } " (to " (to) "); " (by) " withdrew it. Nothing to review." }
        }
    }
    .into_string();
    Email { subject: format!("Partner transfer cancelled: {}", r.org_name), text, html }
}

/// A practice's notification about its request.
pub struct PracticeUpdate {
    pub title: String,
    pub message: String,
}

pub fn practice_update(r: &TransferRequest) -> PracticeUpdate {
    let to = partner_label(r.to_partner.as_ref());
    let notes = r
        .review_notes
        .as_deref()
        .map(|n| format!(" Notes from OsirisCare: {n}"))
        .unwrap_or_default();
    match r.status {
        TransferStatus::Approved => PracticeUpdate {
            title: "Partner transfer approved".into(),
            message: format!(
                "Your request to move to {to} was approved. OsirisCare staff will complete the move shortly.{notes}"
            ),
        },
        TransferStatus::Rejected => PracticeUpdate {
            title: "Partner transfer rejected".into(),
            message: format!(
                "Your request to move to {to} was not approved.{notes} You can send a new request from the Partner page."
            ),
        },
        TransferStatus::Completed => PracticeUpdate {
            title: "Partner transfer completed".into(),
            message: format!("Your practice and its sites are now served by {to}."),
        },
        TransferStatus::Pending | TransferStatus::Cancelled => PracticeUpdate {
            title: "Partner transfer updated".into(),
            message: format!("Your request to move to {to} is {}.", r.status),
        },
    }
}

pub fn owner_update_email(
    name: Option<&str>,
    r: &TransferRequest,
    update: &PracticeUpdate,
    base_url: &str,
) -> Email {
    let greeting = name.map(|n| format!("Hello {n},")).unwrap_or_else(|| "Hello,".to_owned());
    let link = format!("{base_url}{PAGE_PATH}");
    let text = format!(
        "{greeting}\n\n{message}\n\nSee the request: {link}\n\n-- OsirisCare\n",
        message = update.message
    );
    let html = html! {
        div style=(WRAP) {
            p style="font-size: 16px;" { (greeting) }
            p style="font-size: 16px;" { (update.message) }
            p style="margin: 24px 0;" { a href=(link) style=(BUTTON) { "See the request" } }
            p style="font-size: 13px; color: #6b7280;" { "You receive this as the owner of " (r.org_name) "." }
        }
    }
    .into_string();
    Email { subject: format!("{} – {}", update.title, r.org_name), text, html }
}
