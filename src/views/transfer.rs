//! Markup of the transfer pages, and the transfer emails.
//!
//! The page is the practice's current partner plus `#transfer-section`: the
//! latest request with its timeline, and either a cancel button (pending)
//! or the request form (nothing open). htmx replaces `#transfer-section`
//! after a request or a cancellation; without JavaScript the forms post and
//! the page reloads.

use maud::{Markup, html};

use super::format::when;
use super::layout::{NavUser, Section, page};
use crate::db::transfers::{OrgPartner, PartnerRef, TransferRequest, TransferStatus};
use crate::paths;
use crate::transfer::MAX_REASON_CHARS;
use crate::views::format::partner_label;

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
                    form method="post" action=(paths::TRANSFER_CANCEL)
                        hx-post=(paths::TRANSFER_CANCEL) hx-target="#transfer-section" hx-swap="outerHTML"
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
                form.form id="transfer-form" method="post" action=(paths::TRANSFER_REQUEST)
                    hx-post=(paths::TRANSFER_REQUEST) hx-target="#transfer-section" hx-swap="outerHTML" {
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
