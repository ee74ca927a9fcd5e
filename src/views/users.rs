//! Markup of the users pages: the practice's users, the invite form and
//! open invitations (each a fragment named after the element it replaces),
//! the page an invitation link opens, and the invitation email.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use super::format::when;
use super::layout::{NavUser, Section, auth_page, page};
use crate::auth::Role;
use crate::db::invites::{InviteByToken, InviteState, InviteSummary};
use crate::db::users::UserSummary;
use crate::paths;

fn short_day(t: DateTime<Utc>) -> String {
    crate::zone::local(t).format("%b %-d").to_string()
}

fn day(t: DateTime<Utc>) -> String {
    crate::zone::local(t).format("%B %-d, %Y").to_string()
}

/// "a viewer" / "an admin".
pub fn with_article(role: Role) -> &'static str {
    match role {
        Role::Owner => "the owner",
        Role::Admin => "an admin",
        Role::Viewer => "a viewer",
        Role::Auditor => "an auditor",
    }
}

/// What a role may do, in one sentence.
pub fn role_description(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owners manage everything, including roles and the practice's partner.",
        Role::Admin => {
            "Admins see everything and also invite and remove users, manage API tokens and read the audit log."
        }
        Role::Viewer => "Viewers see compliance scores, evidence, reports and notifications.",
        Role::Auditor => {
            "Auditors read the evidence of the sites and period their access names, until it ends, and change nothing."
        }
    }
}

fn role_badge(role: Role) -> Markup {
    let class = match role {
        Role::Owner => "badge badge-blue",
        Role::Admin => "badge badge-green",
        Role::Viewer | Role::Auditor => "badge badge-gray",
    };
    html! { span class=(class) { (role.as_str()) } }
}

/// What the invite form holds (kept after a validation error).
#[derive(Debug, Default, Clone)]
pub struct InviteFormValues {
    pub email: String,
    pub name: String,
    pub role: String,
}

/// `#invite-section`: the invite form; `error` shows under it, `sent` above it.
pub fn invite_section(
    csrf_token: &str,
    values: &InviteFormValues,
    error: Option<&str>,
    sent: Option<&str>,
) -> Markup {
    let role = if values.role == "admin" { "admin" } else { "viewer" };
    html! {
        section.card id="invite-section" {
            div.card-header { h2.card-title { "Invite someone" } }
            div.card-body.stack {
                p.muted.small {
                    "They get an email with a link that works once for 7 days. "
                    (role_description(Role::Viewer)) " " (role_description(Role::Admin))
                }
                @if let Some(sent) = sent {
                    div.alert.alert-success role="status" id="invite-sent" { (sent) }
                }
                @if let Some(error) = error {
                    div.alert.alert-error role="alert" id="invite-error" { (error) }
                }
                form.form-row method="post" action=(paths::USERS_INVITE)
                    hx-post=(paths::USERS_INVITE) hx-target="#invite-section" hx-swap="outerHTML" {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    div.field {
                        label for="invite-email" { "Email" }
                        input id="invite-email" type="email" name="email" required maxlength="254"
                            value=(values.email) placeholder="colleague@practice.com" autocomplete="off"
                            aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "invite-error")];
                    }
                    div.field {
                        label for="invite-name" { "Name " span.muted { "(optional)" } }
                        input id="invite-name" type="text" name="name" maxlength="200" value=(values.name)
                            placeholder="Dr. Jane Doe" autocomplete="off";
                    }
                    div.field {
                        label for="invite-role" { "Role" }
                        select id="invite-role" name="role" {
                            option value="viewer" selected[role == "viewer"] { "Viewer" }
                            option value="admin" selected[role == "admin"] { "Admin" }
                        }
                    }
                    div.field {
                        label aria-hidden="true" { "\u{a0}" }
                        button.btn.btn-primary type="submit" id="invite-submit" {
                            "Send invitation"
                            span.htmx-indicator { " " span.spinner {} }
                        }
                    }
                }
            }
        }
    }
}

/// `#invites-section`: open invitations with resend and revoke. `oob`
/// marks it for an out-of-band swap (after the invite form's answer).
pub fn invites_section(
    csrf_token: &str,
    invites: &[InviteSummary],
    message: Option<&str>,
    oob: bool,
) -> Markup {
    html! {
        section.card id="invites-section" hx-swap-oob=[oob.then_some("true")] {
            div.card-header { h2.card-title { "Pending invitations" } }
            div.card-body {
                @if let Some(message) = message { div.alert.alert-success role="status" { (message) } }
                @if invites.is_empty() {
                    div.empty id="no-invites" { "No pending invitations." }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Pending invitations" {
                        table.table id="invites-table" {
                            thead { tr { th { "Email" } th { "Name" } th { "Role" } th { "Invited by" } th { "Status" } th {} } }
                            tbody {
                                @for i in invites {
                                    tr data-invite-id=(i.id) data-email=(i.email) {
                                        td { (i.email) }
                                        td { (i.name.as_deref().unwrap_or("")) }
                                        td { (role_badge(i.role)) }
                                        td { (i.invited_by_email) }
                                        td {
                                            @if i.expired {
                                                span.badge.badge-red { "expired" } " " span.muted.small title=(when(i.expires_at)) { (short_day(i.expires_at)) }
                                            } @else {
                                                span.badge.badge-amber { "pending" } " " span.muted.small title=(when(i.expires_at)) { "until " (short_day(i.expires_at)) }
                                            }
                                        }
                                        td {
                                            div.row {
                                                form method="post" action=(paths::invite_resend(i.id))
                                                    hx-post=(paths::invite_resend(i.id))
                                                    hx-target="#invites-section" hx-swap="outerHTML"
                                                    hx-confirm={ "Send the invitation to " (i.email) " again? The earlier link stops working." } {
                                                    input type="hidden" name="csrf_token" value=(csrf_token);
                                                    button.btn-link type="submit" { "Resend" }
                                                }
                                                form method="post" action=(paths::invite_revoke(i.id))
                                                    hx-post=(paths::invite_revoke(i.id))
                                                    hx-target="#invites-section" hx-swap="outerHTML"
                                                    hx-confirm={ "Revoke the invitation to " (i.email) "? The link stops working." } {
                                                    input type="hidden" name="csrf_token" value=(csrf_token);
                                                    button.btn-link type="submit" { "Revoke" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Who is looking at the users table.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub id: Uuid,
    pub role: Role,
    pub csrf_token: &'a str,
    /// The practice's users with a second factor.
    pub enrolled: Vec<Uuid>,
}

impl Actor<'_> {
    /// The same rules as `flows::remove_user`, to show only buttons that work.
    fn can_remove(&self, u: &UserSummary) -> bool {
        u.is_active
            && u.id != self.id
            && u.role != Role::Owner
            && (u.role <= Role::Viewer || self.role == Role::Owner)
    }

    /// The same rules as `mfa::reset_user`.
    fn can_reset_mfa(&self, u: &UserSummary) -> bool {
        u.is_active
            && u.id != self.id
            && self.enrolled.contains(&u.id)
            && (self.role == Role::Owner || u.role < self.role)
    }

    fn can_change_role(&self, u: &UserSummary) -> bool {
        // An auditor's access is their grant's, not a role's.
        self.role == Role::Owner
            && u.is_active
            && u.id != self.id
            && u.role != Role::Owner
            && u.role != Role::Auditor
    }
}

/// `#users-section`: the practice's users.
pub fn users_section(actor: &Actor, users: &[UserSummary], message: Option<&str>) -> Markup {
    html! {
        section.card id="users-section" {
            div.card-header { h2.card-title { "Users" } }
            div.card-body {
                @if let Some(message) = message { div.alert.alert-success role="status" { (message) } }
                div.table-wrap tabindex="0" role="region" aria-label="Users" {
                    table.table id="users-table" {
                        thead { tr { th { "Name" } th { "Email" } th { "Role" } th { "Status" } th { "MFA" } th { "Last sign-in" } th { span.sr-only { "Actions" } } } }
                        tbody {
                            @for u in users {
                                tr data-user-id=(u.id) data-email=(u.email) {
                                    td {
                                        (u.display_name())
                                        @if u.id == actor.id { " " span.muted.small { "(you)" } }
                                    }
                                    td { (u.email) }
                                    td { (role_badge(u.role)) }
                                    td {
                                        @if u.is_active { span.badge.badge-green { "active" } }
                                        @else { span.badge.badge-gray { "removed" } }
                                    }
                                    td {
                                        @if actor.enrolled.contains(&u.id) { span.badge.badge-green { "on" } }
                                        @else { span.badge.badge-gray { "off" } }
                                    }
                                    td { (u.last_login_at.map(when).unwrap_or_else(|| "never".into())) }
                                    td {
                                        div.row {
                                            @if actor.can_change_role(u) {
                                                @let (to, label) = if u.role == Role::Admin { ("viewer", "Make viewer") } else { ("admin", "Make admin") };
                                                form method="post" action=(paths::user_role(u.id))
                                                    hx-post=(paths::user_role(u.id))
                                                    hx-target="#users-section" hx-swap="outerHTML"
                                                    hx-confirm={ "Make " (u.display_name()) " " (if to == "admin" { "an admin" } else { "a viewer" }) "? It applies from their next click." } {
                                                    input type="hidden" name="csrf_token" value=(actor.csrf_token);
                                                    input type="hidden" name="role" value=(to);
                                                    button.btn-link type="submit" { (label) }
                                                }
                                            }
                                            @if actor.can_reset_mfa(u) {
                                                form method="post" action=(paths::user_mfa_reset(u.id))
                                                    hx-post=(paths::user_mfa_reset(u.id))
                                                    hx-target="#users-section" hx-swap="outerHTML"
                                                    hx-confirm={ "Remove " (u.display_name()) "'s authenticator app, passkeys and recovery codes? Use this when they lost their phone or key; they are emailed and set up new ones." } {
                                                    input type="hidden" name="csrf_token" value=(actor.csrf_token);
                                                    button.btn-link type="submit" { "Reset MFA" }
                                                }
                                            }
                                            @if actor.can_remove(u) {
                                                form method="post" action=(paths::user_remove(u.id))
                                                    hx-post=(paths::user_remove(u.id))
                                                    hx-target="#users-section" hx-swap="outerHTML"
                                                    hx-confirm={ "Remove " (u.display_name()) "? They are signed out everywhere, their API tokens stop working and they can no longer sign in." } {
                                                    input type="hidden" name="csrf_token" value=(actor.csrf_token);
                                                    button.btn-link type="submit" { "Remove" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub struct UsersData<'a> {
    pub actor: Actor<'a>,
    pub users: &'a [UserSummary],
    pub invites: &'a [InviteSummary],
    /// The invite form as submitted, after a validation error.
    pub invite_values: InviteFormValues,
    pub invite_error: Option<&'a str>,
    pub auditors: super::auditors::AuditorsData<'a>,
}

pub fn users_page(nav: &NavUser, data: &UsersData) -> Markup {
    page(
        "Users",
        Some(nav),
        Section::Users,
        html! {
            div.page-header {
                div {
                    h1 { "Users" }
                    p.muted { "Who can see " (nav.org_name) "'s compliance data, and invitations to join." }
                }
            }
            div.stack {
                (invite_section(data.actor.csrf_token, &data.invite_values, data.invite_error, None))
                (invites_section(data.actor.csrf_token, data.invites, None, false))
                (users_section(&data.actor, data.users, None))
                (super::auditors::auditors_section(&data.auditors))
            }
        },
    )
}

/// The page an invitation link opens: who invited whom, and a name field.
/// Showing it uses nothing; its POST accepts.
pub fn accept_page(invite: &InviteByToken, token: &str, name: &str, error: Option<&str>) -> Markup {
    let inviter = invite.invited_by_name.as_deref().unwrap_or(&invite.invited_by_email);
    auth_page(
        "Accept your invitation",
        html! {
            div.auth-card.stack {
                h2 id="invite-title" { "Join " (invite.org_name) }
                p {
                    (inviter) " invited " strong id="invite-email" { (invite.email) }
                    " to the OsirisCare client portal of " strong id="invite-org" { (invite.org_name) }
                    " as " span id="invite-role" { (role_badge(invite.role)) } "."
                }
                p.muted.small { (role_description(invite.role)) }
                form.form method="post" action=(paths::INVITE) {
                    input type="hidden" name="token" value=(token);
                    div.field {
                        label for="invite-name" { "Your name" }
                        input id="invite-name" type="text" name="name" required maxlength="200" value=(name)
                            autocomplete="name" placeholder="Dr. Jane Doe" aria-invalid=[error.map(|_| "true")];
                        @if let Some(error) = error {
                            span.field-error role="alert" { (error) }
                        }
                        span.hint { "Shown to the others in your practice." }
                    }
                    button.btn.btn-primary.btn-block type="submit" id="accept-invite" { "Accept and sign in" }
                }
                p.muted.small { "The invitation expires on " (day(invite.expires_at)) "." }
            }
        },
    )
}

/// Why an invitation link cannot be used, and what to do instead.
pub fn invite_unusable_page(state: Option<InviteState>) -> Markup {
    let (title, text, sign_in) = match state {
        Some(InviteState::Expired) => (
            "This invitation has expired",
            "Invitations work for 7 days. Ask the person who invited you to send it again from the Users page.",
            false,
        ),
        Some(InviteState::Accepted) => (
            "This invitation was already used",
            "It has been accepted, so the account exists: sign in with the invited email address.",
            true,
        ),
        Some(InviteState::Revoked) => (
            "This invitation was withdrawn",
            "A newer invitation may have replaced it: open the latest invitation email, or ask the person who invited you for a new one.",
            false,
        ),
        Some(InviteState::Open) | None => (
            "This invitation link is not valid",
            "The link may be incomplete or out of date. Open it from the invitation email again, or ask for a new invitation.",
            false,
        ),
    };
    invite_problem_page(title, text, sign_in)
}

/// An invitation that cannot be accepted for another reason (`message`).
pub fn invite_problem_page(title: &str, message: &str, sign_in: bool) -> Markup {
    auth_page(
        title,
        html! {
            div.auth-card.stack id="invite-unusable" {
                h2 { (title) }
                div.alert.alert-error role="alert" { (message) }
                a.btn.btn-primary href=(paths::LOGIN) { @if sign_in { "Sign in" } @else { "Go to the sign-in page" } }
            }
        },
    )
}
