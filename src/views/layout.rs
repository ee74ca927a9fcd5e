//! The page shell: head, top navigation, footer. Pages pass their title and
//! main content; nothing here runs inline script (the CSP forbids it).

use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::paths;

pub const PRODUCT: &str = "OsirisCare";

/// Who is looking at the page, as the navigation shows them.
pub struct NavUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub org_name: &'a str,
    pub csrf_token: &'a str,
    /// For an auditor: when their access ends (the banner says so).
    pub auditor_until: Option<chrono::DateTime<chrono::Utc>>,
    /// For an auditor, on pages that know it: what their access covers
    /// ([`crate::reach::Reach::describe`]), shown in the banner.
    pub scope: Option<String>,
    /// When the practice requires MFA and the user has none: their deadline.
    pub mfa_setup_due: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> NavUser<'a> {
    pub fn of(user: &'a crate::auth::current::CurrentUser) -> NavUser<'a> {
        NavUser {
            name: user.display_name(),
            email: &user.email,
            role: user.role.as_str(),
            org_name: &user.org_name,
            csrf_token: user.csrf_token().unwrap_or(""),
            auditor_until: user.auditor_until,
            scope: None,
            mfa_setup_due: user.mfa_setup_due,
        }
    }

    /// The same, with what an auditor's access covers for the banner.
    pub fn reaching(
        user: &'a crate::auth::current::CurrentUser,
        reach: &crate::reach::Reach,
    ) -> NavUser<'a> {
        NavUser { scope: reach.describe(), ..NavUser::of(user) }
    }
}

/// Top-level sections, for highlighting the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Dashboard,
    Evidence,
    Reports,
    Notifications,
    Users,
    Audit,
    Packs,
    Transfer,
    Settings,
    None,
}

/// The sections, each with the least role that sees it (roles as
/// `Role::as_str` spells them).
const NAV: &[(Section, &str, &str, &str)] = &[
    (Section::Dashboard, "Dashboard", paths::DASHBOARD, "viewer"),
    (Section::Evidence, "Evidence", paths::EVIDENCE, "viewer"),
    (Section::Reports, "Reports", paths::REPORTS, "viewer"),
    (Section::Notifications, "Notifications", paths::NOTIFICATIONS, "viewer"),
    (Section::Users, "Users", paths::USERS, "admin"),
    (Section::Audit, "Audit log", paths::AUDIT, "admin"),
    (Section::Packs, "Packs", paths::AUDIT_PACKS, "admin"),
    (Section::Transfer, "Partner", paths::TRANSFER, "owner"),
    (Section::Settings, "Settings", paths::SETTINGS, "viewer"),
];

/// Whether `role` sees `section` in the navigation: an auditor sees the
/// sections open to auditors, everyone else those of their role.
fn shows(role: &str, section: Section, least: &str) -> bool {
    match role {
        "auditor" => matches!(
            section,
            Section::Dashboard
                | Section::Evidence
                | Section::Reports
                | Section::Audit
                | Section::Packs
        ),
        // Owners and admins reach packs from the evidence and users pages.
        _ => section != Section::Packs && role_at_least(role, least),
    }
}

/// Whether `role` is at least `least` (owner > admin > viewer).
fn role_at_least(role: &str, least: &str) -> bool {
    let rank = |r: &str| match r {
        "owner" => 3,
        "admin" => 2,
        "viewer" => 1,
        _ => 0,
    };
    rank(role) >= rank(least)
}

/// The unread-notifications badge in the navigation. Pages render it empty
/// (`None`) and htmx fills it from `/client/notifications/badge` once on
/// load; a filled badge (the answer, which replaces the element) asks again
/// a minute later, so each tab sends one request a minute (a filled badge
/// that also fired on load would ask again at once, forever). Marking
/// notifications read sends it back out of band (`oob`) with the new
/// count. Counts stop at 1,000 ("999+"). The polls carry
/// `X-Portal-Background`, so an open tab does not keep its session from
/// timing out when idle.
pub fn unread_badge(count: Option<i64>, oob: bool) -> Markup {
    let label = match count {
        Some(n) if n > 999 => Some("999+".to_owned()),
        Some(n) if n > 0 => Some(n.to_string()),
        _ => None,
    };
    html! {
        span #nav-unread .nav-count[label.is_some()]
            hx-get=(paths::NOTIFICATIONS_BADGE)
            hx-trigger=(if count.is_none() { "load delay:50ms, every 60s" } else { "every 60s" })
            hx-headers=r#"{"X-Portal-Background": "1"}"#
            hx-swap="outerHTML" hx-swap-oob=[oob.then_some("true")]
            aria-label=[label.as_ref().map(|l| format!("{l} unread"))] {
            @if let Some(l) = &label { (l) }
        }
    }
}

fn head(title: &str, csrf_token: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light";
            // htmx must not inject its own <style> (blocked by the CSP; the
            // stylesheet has the indicator rules) nor evaluate strings as code.
            // A 422 carries the form again with its errors: swap it in place
            // (htmx swaps no 4xx by default); other errors raise a toast.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true},{"code":"...","swap":false}]}"#;
            @if let Some(token) = csrf_token {
                meta name="csrf-token" content=(token);
            }
            title { (title) " · " (PRODUCT) }
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("htmx.min.js")) defer {}
            script src=(assets::url("portal.js")) defer {}
            script src=(assets::url("webauthn.js")) defer {}
        }
    }
}

fn brand() -> Markup {
    html! {
        span.brand-mark aria-hidden="true" { "O" }
        span.brand-name { (PRODUCT) span.brand-suffix { " Client Portal" } }
    }
}

/// A full page with the top navigation.
pub fn page(title: &str, user: Option<&NavUser>, active: Section, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, user.map(|u| u.csrf_token)))
            body {
                a.skip-link href="#main" { "Skip to content" }
                @if let Some((u, until)) = user.and_then(|u| u.auditor_until.map(|t| (u, t))) {
                    div.auditor-banner id="auditor-banner" role="note" {
                        strong { "Auditor access to " (u.org_name) }
                        " until " (super::format::when(until)) ". "
                        @if let Some(scope) = &u.scope { (scope) " " }
                        "Read only: every page you open and every download is recorded in the practice's audit log."
                    }
                }
                @if let Some(due) = user.and_then(|u| u.mfa_setup_due) {
                    div.auditor-banner id="mfa-banner" role="note" {
                        strong { "Your practice requires multi-factor sign-in." }
                        @if due > chrono::Utc::now() {
                            " Set up an authenticator app or a passkey by " (super::format::when(due))
                            " on the " a href=(paths::SECURITY) { "Security page" } "; after that you will not be able to use the portal without one."
                        } @else {
                            " Set up an authenticator app or a passkey on the " a href=(paths::SECURITY) { "Security page" } " to continue."
                        }
                    }
                }
                header.topbar {
                    div.topbar-inner {
                        a.brand href=(if user.is_some() { paths::DASHBOARD } else { paths::LOGIN }) { (brand()) }
                        @if let Some(user) = user {
                            // Narrow screens fold the sections and the
                            // account into a menu this button opens
                            // (portal.js); without script it stays open.
                            button.nav-toggle type="button" aria-expanded="false" aria-controls="nav-panel" {
                                span.nav-toggle-bars aria-hidden="true" {}
                                "Menu"
                            }
                            div.nav-panel id="nav-panel" {
                            nav.nav aria-label="Main" {
                                @for (section, label, href, least) in NAV {
                                    @if shows(user.role, *section, least) {
                                        a.active[*section == active] href=(href)
                                            aria-current=[(*section == active).then_some("page")] {
                                            (label)
                                            @if *section == Section::Notifications {
                                                " " (unread_badge(None, false))
                                            }
                                        }
                                    }
                                }
                            }
                            div.nav-right {
                                span.nav-user title=(format!("{} · {}", user.email, user.org_name)) { (user.name) }
                                span.badge.badge-blue { (user.role) }
                                form method="post" action=(paths::LOGOUT) {
                                    input type="hidden" name="csrf_token" value=(user.csrf_token);
                                    button.btn-link type="submit" { "Sign out" }
                                }
                            }
                            }
                        } @else {
                            div.spacer {}
                            div.nav-right {
                                a.btn.btn-secondary.btn-sm href=(paths::LOGIN) { "Sign in" }
                            }
                        }
                    }
                }
                main.container id="main" { (content) }
                // What htmx changed in place is read out from here (portal.js).
                div.sr-only id="live-announcer" role="status" aria-live="polite" {}
                (footer())
            }
        }
    }
}

/// A centred page without navigation: sign-in, invitations, link checks.
pub fn auth_page(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body.auth {
                div.auth-wrap {
                    a.auth-brand href=(paths::LOGIN) { (brand()) }
                    (content)
                    p.auth-footnote {
                        "Protected system. Access is logged for HIPAA compliance."
                    }
                }
            }
        }
    }
}

fn footer() -> Markup {
    html! {
        footer.footer {
            (PRODUCT) " Client Portal · v" (env!("CARGO_PKG_VERSION"))
            " · " a href=(paths::API_DOCS) { "API" }
        }
    }
}
