//! The page shell: head, top navigation, footer. Pages pass their title and
//! main content; nothing here runs inline script (the CSP forbids it).

use maud::{DOCTYPE, Markup, html};

use crate::routes::assets;

pub const PRODUCT: &str = "OsirisCare";

/// Who is looking at the page, as the navigation shows them.
pub struct NavUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub org_name: &'a str,
    pub csrf_token: &'a str,
}

impl<'a> NavUser<'a> {
    pub fn of(user: &'a crate::auth::current::CurrentUser) -> NavUser<'a> {
        NavUser {
            name: user.display_name(),
            email: &user.email,
            role: user.role.as_str(),
            org_name: &user.org_name,
            csrf_token: user.csrf_token().unwrap_or(""),
        }
    }
}

/// Top-level sections, for highlighting the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Dashboard,
    Evidence,
    Settings,
    None,
}

/// The sections that exist; each area adds its entry when its pages land.
const NAV: &[(Section, &str, &str)] = &[
    (Section::Dashboard, "Dashboard", "/client/dashboard"),
    (Section::Evidence, "Evidence", "/client/evidence"),
    (Section::Settings, "Settings", "/client/settings"),
];

fn head(title: &str, csrf_token: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light";
            // htmx must not inject its own <style> (blocked by the CSP; the
            // stylesheet has the indicator rules) nor evaluate strings as code.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true}"#;
            @if let Some(token) = csrf_token {
                meta name="csrf-token" content=(token);
            }
            title { (title) " · " (PRODUCT) }
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("htmx.min.js")) defer {}
            script src=(assets::url("portal.js")) defer {}
        }
    }
}

fn brand() -> Markup {
    html! {
        span.brand-mark aria-hidden="true" { "O" }
        span.brand-name { (PRODUCT) " Client Portal" }
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
                header.topbar {
                    div.topbar-inner {
                        a.brand href=(if user.is_some() { "/client/dashboard" } else { "/client/login" }) { (brand()) }
                        @if let Some(user) = user {
                            nav.nav aria-label="Main" {
                                @for (section, label, href) in NAV {
                                    @if *section == active {
                                        a.active href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                            div.nav-right {
                                span.nav-user title=(user.email) { (user.name) " · " (user.org_name) }
                                span.badge.badge-blue { (user.role) }
                                form method="post" action="/client/logout" {
                                    input type="hidden" name="csrf_token" value=(user.csrf_token);
                                    button.btn-link type="submit" { "Sign out" }
                                }
                            }
                        } @else {
                            div.spacer {}
                            div.nav-right {
                                a.btn.btn-secondary.btn-sm href="/client/login" { "Sign in" }
                            }
                        }
                    }
                }
                main.container id="main" { (content) }
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
                    a.auth-brand href="/client/login" { (brand()) }
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
            " · " a href="/api/docs" { "API" }
        }
    }
}
