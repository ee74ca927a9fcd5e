//! Settings: password, active sessions, and (owner, admin) API tokens.
//! Each section is a fragment named after the element it replaces.

use maud::{Markup, html};

use super::format::when;
use super::layout::{NavUser, Section, page};
use crate::auth::{Role, Scope};
use crate::db::api_tokens::TokenSummary;
use crate::db::notifications::Preferences;
use crate::db::sessions::SessionSummary;
use crate::paths;

/// `#password-section`: `message` is (is_error, text) after a submission.
pub fn password_section(has_password: bool, message: Option<(bool, &str)>) -> Markup {
    html! {
        section.card id="password-section" {
            div.card-header { h2.card-title { "Password" } }
            div.card-body {
                p.muted.small {
                    @if has_password { "Change the password you sign in with. Other sessions are signed out." }
                    @else { "You sign in with email links. Set a password to sign in without opening your email." }
                }
                @if let Some((is_error, text)) = message {
                    div.alert.alert-error[is_error].alert-success[!is_error] role="status" { (text) }
                }
                form.form hx-post=(paths::SETTINGS_PASSWORD) hx-target="#password-section" hx-swap="outerHTML" {
                    @if has_password {
                        div.field {
                            label for="current_password" { "Current password" }
                            input id="current_password" type="password" name="current_password" required autocomplete="current-password";
                        }
                    }
                    div.field {
                        label for="new_password" { "New password" }
                        input id="new_password" type="password" name="password" required minlength="12" autocomplete="new-password";
                        span.hint { "At least 12 characters. A phrase of several words works well." }
                    }
                    button.btn.btn-primary type="submit" { @if has_password { "Change password" } @else { "Set password" } }
                }
            }
        }
    }
}

/// `#sessions-section`.
pub fn sessions_section(
    sessions: &[SessionSummary],
    current: Option<uuid::Uuid>,
    message: Option<&str>,
) -> Markup {
    html! {
        section.card id="sessions-section" {
            div.card-header.row {
                h2.card-title { "Active sessions" }
                div.spacer {}
                @if sessions.len() > 1 {
                    button.btn.btn-secondary.btn-sm hx-post=(paths::SETTINGS_REVOKE_OTHER_SESSIONS)
                        hx-target="#sessions-section" hx-swap="outerHTML"
                        hx-confirm="Sign out all your other sessions?" { "Sign out other sessions" }
                }
            }
            div.card-body {
                @if let Some(message) = message { div.alert.alert-success role="status" { (message) } }
                div.table-wrap tabindex="0" role="region" aria-label="Active sessions" {
                    table.table {
                        thead { tr { th { "Device" } th { "Address" } th { "Signed in" } th { "Last active" } th {} } }
                        tbody {
                            @for s in sessions {
                                tr {
                                    td { (s.user_agent.as_deref().map(short_agent).unwrap_or("Unknown")) }
                                    td.mono { (s.ip.map(|ip| ip.to_string()).unwrap_or_default()) }
                                    td { (when(s.created_at)) }
                                    td { (when(s.last_seen_at)) }
                                    td {
                                        @if Some(s.id) == current {
                                            span.badge.badge-green { "This session" }
                                        } @else {
                                            button.btn.btn-link hx-post=(paths::session_revoke(s.id))
                                                hx-target="#sessions-section" hx-swap="outerHTML"
                                                hx-confirm="Sign out this session?" { "Sign out" }
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

/// A readable browser name from a user-agent string.
fn short_agent(ua: &str) -> &str {
    for (needle, name) in [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python", "Python client"),
    ] {
        if ua.contains(needle) {
            return name;
        }
    }
    "Other client"
}

/// `#tokens-section`; `created` shows a new token once.
pub fn tokens_section(
    tokens: &[TokenSummary],
    viewer: Role,
    created: Option<(&str, &str)>,
    error: Option<&str>,
) -> Markup {
    html! {
        section.card id="tokens-section" {
            div.card-header { h2.card-title { "API tokens" } }
            div.card-body.stack {
                p.muted.small { "Tokens let scripts use the portal's API as you: send " code { "Authorization: Bearer <token>" } ". See the " a href=(paths::API_DOCS) { "API documentation" } "." }
                p.muted.small { "A read token can read and check evidence; a write token can also mark notifications read, change email preferences and request audit packs. No token can manage users, roles, tokens, sessions, passwords, auditor access or transfers: that needs you, signed in here." }
                @if let Some((name, token)) = created {
                    div.alert.alert-success role="status" {
                        "Token " strong { (name) } " created. Copy it now; it is not shown again:"
                        pre.mono id="new-token" { (token) }
                    }
                }
                @if let Some(error) = error { div.alert.alert-error role="alert" { (error) } }
                form.form-row hx-post=(paths::SETTINGS_API_TOKENS) hx-target="#tokens-section" hx-swap="outerHTML" {
                    div.field {
                        label for="token-name" { "Name" }
                        input id="token-name" type="text" name="name" required maxlength="100" placeholder="e.g. Compliance export script";
                    }
                    div.field {
                        label for="token-scope" { "Access" }
                        select id="token-scope" name="scope" {
                            option value="read" selected { "Read only" }
                            option value="write" { "Read and write" }
                        }
                    }
                    button.btn.btn-primary type="submit" { "Create token" }
                }
                @if tokens.is_empty() {
                    div.empty { "No API tokens yet." }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="API tokens" {
                        table.table {
                            thead { tr { th { "Name" } th { "Token" } th { "Access" } th { "Created by" } th { "Created" } th { "Last used" } th {} } }
                            tbody {
                                @for t in tokens {
                                    tr {
                                        td { (t.name) }
                                        td.mono { (t.prefix) "…" }
                                        td { @match t.scope { Scope::Read => "Read only", Scope::Write => "Read and write" } }
                                        td { (t.created_by_email) }
                                        td { (when(t.created_at)) }
                                        td { (t.last_used_at.map(when).unwrap_or_else(|| "never".into())) }
                                        td {
                                            @if t.created_by_role <= viewer {
                                                button.btn.btn-link hx-post=(paths::token_revoke(t.id))
                                                    hx-target="#tokens-section" hx-swap="outerHTML"
                                                    hx-confirm={ "Revoke the token \"" (t.name) "\"? Scripts using it stop working." } { "Revoke" }
                                            } @else {
                                                span.muted.small { "The " (t.created_by_role) " can revoke it" }
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

/// `#email-notifications-section`: which notifications are also emailed
/// to the user. `role` is theirs: critical alerts go to owners and admins,
/// monthly reports to owners.
pub fn email_notifications_section(
    prefs: Preferences,
    role: Role,
    csrf_token: &str,
    message: Option<&str>,
) -> Markup {
    let gets_alerts = role >= Role::Admin;
    let gets_reports = role == Role::Owner;
    html! {
        section.card id="email-notifications-section" {
            div.card-header { h2.card-title { "Email notifications" } }
            div.card-body {
                p.muted.small { "Every notification appears in " a href=(paths::NOTIFICATIONS) { "Notifications" } ". Choose which are also emailed to you." }
                @if let Some(message) = message { div.alert.alert-success role="status" { (message) } }
                form.form method="post" action=(paths::SETTINGS_NOTIFICATIONS)
                    hx-post=(paths::SETTINGS_NOTIFICATIONS) hx-target="#email-notifications-section" hx-swap="outerHTML" {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    div.field {
                        label.checkbox {
                            input id="pref-critical" type="checkbox" name="critical_alerts" value="on" checked[prefs.critical_alerts];
                            "Critical alerts"
                        }
                        span.hint {
                            "When a check starts failing or a site stops reporting."
                            @if !gets_alerts { " Sent to owners and admins; your role does not receive them." }
                        }
                    }
                    div.field {
                        label.checkbox {
                            input id="pref-monthly" type="checkbox" name="monthly_report" value="on" checked[prefs.monthly_report];
                            "Monthly compliance report"
                        }
                        span.hint {
                            "Early on the 1st, with last month's PDF report."
                            @if !gets_reports { " Sent to the practice owner; your role does not receive it." }
                        }
                    }
                    div { button.btn.btn-primary type="submit" { "Save email preferences" } }
                }
            }
        }
    }
}

/// `#time-zone-section`: the zone times are shown in, and (for the owner)
/// the form that changes it; `error` is a refused name, by its field.
pub fn time_zone_section(
    setting: &crate::practice::ZoneSetting,
    role: Role,
    csrf_token: &str,
    typed: Option<&str>,
    message: Option<&str>,
    error: Option<&str>,
) -> Markup {
    use crate::zone::Source;
    let why = match (setting.source, setting.state.as_deref()) {
        (Source::Set, _) => "chosen by the practice owner".to_owned(),
        (Source::State, Some(st)) => format!("the zone of the practice's state, {st}"),
        _ => "no zone chosen yet".to_owned(),
    };
    html! {
        section.card id="time-zone-section" {
            div.card-header { h2.card-title { "Time zone" } }
            div.card-body {
                p {
                    "Pages, the monthly PDF report and emails show times in "
                    strong id="time-zone-current" { (setting.zone.name()) }
                    " (" (why) "), with the zone named after each time. Stored times and the API stay in UTC."
                }
                @if let Some(message) = message { div.alert.alert-success role="status" { (message) } }
                @if role == Role::Owner {
                    form.form method="post" action=(paths::SETTINGS_TIME_ZONE)
                        hx-post=(paths::SETTINGS_TIME_ZONE) hx-target="#time-zone-section" hx-swap="outerHTML" {
                        input type="hidden" name="csrf_token" value=(csrf_token);
                        div.field {
                            label for="time-zone" { "Practice time zone" }
                            input id="time-zone" type="text" name="time_zone" list="time-zones" required maxlength="64"
                                autocomplete="off" spellcheck="false" value=(typed.unwrap_or(setting.zone.name()))
                                aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "time-zone-error")];
                            datalist id="time-zones" {
                                @for tz in chrono_tz::TZ_VARIANTS.iter() { option value=(tz.name()) {} }
                            }
                            span.hint { "An IANA name, e.g. America/New_York, America/Chicago, America/Denver, America/Los_Angeles." }
                            @if let Some(e) = error { p.field-error id="time-zone-error" role="alert" { (e) } }
                        }
                        div { button.btn.btn-primary type="submit" { "Save time zone" } }
                    }
                } @else {
                    p.muted.small { "The practice owner can change it." }
                }
            }
        }
    }
}

pub struct SettingsData<'a> {
    pub has_password: bool,
    /// The practice's time zone.
    pub zone: crate::practice::ZoneSetting,
    /// The user's email preferences and role (for who receives what).
    pub email_prefs: Preferences,
    pub role: Role,
    pub csrf_token: &'a str,
    pub sessions: &'a [SessionSummary],
    pub current_session: Option<uuid::Uuid>,
    /// None for viewers, who cannot manage tokens.
    pub tokens: Option<&'a [TokenSummary]>,
}

pub fn settings_page(user: &NavUser, data: &SettingsData) -> Markup {
    page(
        "Settings",
        Some(user),
        Section::Settings,
        html! {
            div.page-header {
                div {
                    h1 { "Settings" }
                    p.muted { "Your sign-in methods, sessions, email notifications and the practice's time zone." }
                }
            }
            div.stack {
                section.card id="security-link" {
                    div.card-header { h2.card-title { "Multi-factor sign-in" } }
                    div.card-body.row {
                        p.muted.small { "Authenticator app, passkeys and recovery codes" @if data.role == Role::Owner { ", and whether your practice requires them" } "." }
                        div.spacer {}
                        a.btn.btn-secondary.btn-sm href=(paths::SECURITY) id="security-open" { "Open Security" }
                    }
                }
                (password_section(data.has_password, None))
                (sessions_section(data.sessions, data.current_session, None))
                (email_notifications_section(data.email_prefs, data.role, data.csrf_token, None))
                (time_zone_section(&data.zone, data.role, data.csrf_token, None, None, None))
                @if let Some(tokens) = data.tokens {
                    (tokens_section(tokens, data.role, None, None))
                }
            }
        },
    )
}
