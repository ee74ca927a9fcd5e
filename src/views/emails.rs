//! Email bodies (plain text and HTML). HTML mail gets inline styles only:
//! mail clients ignore stylesheets.

use std::time::Duration;

use crate::evidence::remediation::Remediation;
use chrono::{DateTime, Utc};
use maud::html;
use uuid::Uuid;

use super::format::{partner_label, thousands, when};
use super::users::{role_description, with_article};
use crate::auth::Role;
use crate::db::transfers::{PartnerRef, TransferRequest, TransferStatus};
use crate::paths;

pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn magic_link(name: Option<&str>, org_name: &str, link: &str, lifetime: Duration) -> Email {
    let minutes = lifetime.as_secs() / 60;
    let greeting = name.map(|n| format!("Hello {n},")).unwrap_or_else(|| "Hello,".to_owned());
    let text = format!(
        "{greeting}\n\nUse this link to sign in to the OsirisCare client portal for {org_name}:\n\n{link}\n\n\
         The link works once and expires in {minutes} minutes. If you did not ask for it, ignore this \
         email: nobody can sign in without the link.\n\n-- OsirisCare\n"
    );
    let html = html! {
        div style="font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2937; max-width: 520px; margin: 0 auto; padding: 24px;" {
            p style="font-size: 16px;" { (greeting) }
            p style="font-size: 16px;" { "Use this button to sign in to the OsirisCare client portal for " strong { (org_name) } ":" }
            p style="margin: 28px 0;" {
                a href=(link) style="background: #0f5e6b; color: #ffffff; padding: 12px 22px; border-radius: 6px; text-decoration: none; font-weight: 600; display: inline-block;" { "Sign in to OsirisCare" }
            }
            p style="font-size: 14px; color: #4b5563;" { "Or paste this link into your browser:" br; a href=(link) style="color: #0f5e6b; word-break: break-all;" { (link) } }
            p style="font-size: 14px; color: #4b5563;" {
                "The link works once and expires in " (minutes) " minutes. If you did not ask for it, ignore this email: nobody can sign in without the link."
            }
        }
    }
    .into_string();
    Email { subject: "Your OsirisCare sign-in link".to_owned(), text, html }
}

/// An email to owners and admins when checks start failing at a site:
/// `failing` names the first few, `total` counts them all (the rest are on
/// the page `link` opens); `fixes` says once per kind of check how to fix
/// it, as (check name, catalogue entry).
pub fn critical_alert(
    name: Option<&str>,
    site: &str,
    failing: &[String],
    total: usize,
    fixes: &[(String, &Remediation)],
    link: &str,
) -> Email {
    let greeting = name.map(|n| format!("Hello {n},")).unwrap_or_else(|| "Hello,".to_owned());
    let more = total.saturating_sub(failing.len());
    let more_line = (more > 0).then(|| format!("and {} more", thousands(more as u64)));
    let mut list: String = failing.iter().map(|f| format!("  - {f}\n")).collect();
    if let Some(line) = &more_line {
        list.push_str(&format!("  - {line}\n"));
    }
    let what_to_do: String = fixes
        .iter()
        .map(|(check, r)| format!("  {check}: {} {}\n\n", r.fix, r.fixed_by.usually(None)))
        .collect();
    let what_to_do = match what_to_do.is_empty() {
        true => String::new(),
        false => format!("What to do:\n\n{what_to_do}"),
    };
    let text = format!(
        "{greeting}\n\nThe latest evidence from {site} shows checks that started failing:\n\n{list}\n\
         {what_to_do}See the evidence: {link}\n\nYour dashboard's to-do list has every open item.\n\n\
         You receive these alerts as an owner or admin; turn them off in Settings.\n\n-- OsirisCare\n"
    );
    let html = html! {
        div style="font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2937; max-width: 560px; margin: 0 auto; padding: 24px;" {
            p style="font-size: 16px;" { (greeting) }
            p style="font-size: 16px;" { "The latest evidence from " strong { (site) } " shows checks that started failing:" }
            ul style="font-size: 15px; color: #b91c1c;" {
                @for f in failing { li { (f) } }
                @if let Some(line) = &more_line { li style="color: #1f2937;" { (line) } }
            }
            @if !fixes.is_empty() {
                p style="font-size: 16px; font-weight: 600; margin-bottom: 4px;" { "What to do" }
                @for (check, r) in fixes {
                    p style="font-size: 14px; margin: 8px 0;" {
                        strong { (check) ": " } (r.fix)
                        br;
                        span style="color: #4b5563; font-size: 13px;" { (r.fixed_by.usually(None)) }
                    }
                }
            }
            p style="margin: 24px 0;" {
                a href=(link) style="background: #0f5e6b; color: #ffffff; padding: 12px 22px; border-radius: 6px; text-decoration: none; font-weight: 600; display: inline-block;" { "See the evidence" }
            }
            p style="font-size: 13px; color: #6b7280;" { "Your dashboard's to-do list has every open item. You receive these alerts as an owner or admin; turn them off in Settings." }
        }
    }
    .into_string();
    let subject = match (failing, total) {
        ([only], 1) => format!("Compliance alert at {site}: {only}"),
        (_, n) => format!("Compliance alert at {site}: {} checks failing", thousands(n as u64)),
    };
    Email { subject, text, html }
}

// ---------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------

/// The invitation email (text and HTML) for `link`.
pub fn invite_email(
    invitee_name: Option<&str>,
    org_name: &str,
    inviter: &str,
    role: Role,
    link: &str,
    expires_at: DateTime<Utc>,
) -> Email {
    let greeting =
        invitee_name.map(|n| format!("Hello {n},")).unwrap_or_else(|| "Hello,".to_owned());
    let as_role = with_article(role);
    let what = role_description(role);
    let until = when(expires_at);
    let text = format!(
        "{greeting}\n\n{inviter} invited you to join {org_name} on the OsirisCare client portal as {as_role}. \
         {what}\n\nOpen this link to accept and choose the name others will see:\n\n{link}\n\n\
         The invitation works once and expires on {until}. If you were not expecting it, ignore this \
         email: nothing happens unless the link is opened and accepted.\n\n-- OsirisCare\n"
    );
    let html = html! {
        div style="font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2937; max-width: 520px; margin: 0 auto; padding: 24px;" {
            p style="font-size: 16px;" { (greeting) }
            p style="font-size: 16px;" {
                (inviter) " invited you to join " strong { (org_name) } " on the OsirisCare client portal as " (as_role) "."
            }
            p style="font-size: 14px; color: #4b5563;" { (what) }
            p style="margin: 28px 0;" {
                a href=(link) style="background: #0f5e6b; color: #ffffff; padding: 12px 22px; border-radius: 6px; text-decoration: none; font-weight: 600; display: inline-block;" { "Accept the invitation" }
            }
            p style="font-size: 14px; color: #4b5563;" { "Or paste this link into your browser:" br; a href=(link) style="color: #0f5e6b; word-break: break-all;" { (link) } }
            p style="font-size: 14px; color: #4b5563;" {
                "The invitation works once and expires on " (until) ". If you were not expecting it, ignore this email: nothing happens unless the link is opened and accepted."
            }
        }
    }
    .into_string();
    Email { subject: format!("{inviter} invited you to {org_name} on OsirisCare"), text, html }
}

/// What an address that already has an account (in another practice) gets
/// instead of an invitation: the inviter is told nothing different, so
/// invitations cannot probe who is a customer elsewhere.
pub fn invite_has_account_email(org_name: &str, inviter: &str) -> Email {
    let text = format!(
        "Hello,\n\n{inviter} tried to invite this address to {org_name} on the OsirisCare client portal. \
         This address already has a portal account, and an address can belong to one practice only, \
         so the invitation could not be made.\n\nIf you want to join {org_name}, ask {inviter} to invite \
         another address of yours. If you were not expecting this, ignore this email: nothing has \
         changed on your account.\n\n-- OsirisCare\n"
    );
    let html = html! {
        div style=(WRAP) {
            p style="font-size: 16px;" { "Hello," }
            p style="font-size: 16px;" {
                (inviter) " tried to invite this address to " strong { (org_name) } " on the OsirisCare client portal. "
                "This address already has a portal account, and an address can belong to one practice only, so the invitation could not be made."
            }
            p style="font-size: 14px; color: #4b5563;" {
                "If you want to join " (org_name) ", ask " (inviter) " to invite another address of yours. "
                "If you were not expecting this, ignore this email: nothing has changed on your account."
            }
        }
    }
    .into_string();
    Email {
        subject: format!("{inviter} tried to invite you to {org_name} on OsirisCare"),
        text,
        html,
    }
}

// ---------------------------------------------------------------------------
// Transfer requests: staff mail, the practice's notification and mail
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
    let link = format!("{base_url}{}", paths::TRANSFER);
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

/// A change to how someone signs in (a password set, a factor added or
/// removed, a recovery code used): told to the account's own address, so a
/// change they did not make does not go unnoticed.
pub fn security_notice(
    name: Option<&str>,
    org_name: &str,
    what: &str,
    security_url: &str,
) -> Email {
    let greeting = name.map(|n| format!("Hello {n},")).unwrap_or_else(|| "Hello,".to_owned());
    let text = format!(
        "{greeting}\n\n{what}\n\nThis is your OsirisCare client portal account at {org_name}. If this \
         was you, there is nothing to do. If it was not, sign in, review your sign-in methods and \
         sessions at {security_url}, and tell your practice's owner.\n\n-- OsirisCare\n"
    );
    let html = html! {
        div style="font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2937; max-width: 520px; margin: 0 auto; padding: 24px;" {
            p style="font-size: 16px;" { (greeting) }
            p style="font-size: 16px;" { (what) }
            p style="font-size: 14px; color: #4b5563;" {
                "This is your OsirisCare client portal account at " strong { (org_name) } ". If this was you, there is nothing to do. If it was not, sign in, review your sign-in methods and sessions at "
                a href=(security_url) style="color: #0f5e6b;" { (security_url) }
                ", and tell your practice's owner."
            }
        }
    }
    .into_string();
    Email { subject: "A change to how you sign in to OsirisCare".to_owned(), text, html }
}
