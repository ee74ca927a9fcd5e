//! The sign-in page (a magic-link form beside a password form), the "check
//! your email" fragment, and the magic-link landing page.

use crate::paths;
use maud::{Markup, html};

use super::layout::auth_page;

/// The magic-link panel's form; `error` shows under the field.
pub fn magic_link_form(next: Option<&str>, email: &str, error: Option<&str>) -> Markup {
    html! {
        h2 id="magic-title" { "Sign in with a magic link" }
        p.muted.small { "We'll email you a one-time sign-in link. No password needed." }
        form.form method="post" action=(paths::LOGIN_MAGIC_LINK)
            hx-post=(paths::LOGIN_MAGIC_LINK) hx-target="#magic-link-panel" hx-swap="innerHTML" {
            @if let Some(next) = next {
                input type="hidden" name="next" value=(next);
            }
            div.field {
                label for="magic-email" { "Work email" }
                input id="magic-email" type="email" name="email" required value=(email)
                    autocomplete="email" placeholder="you@practice.com" aria-invalid=[error.map(|_| "true")];
                @if let Some(error) = error {
                    span.field-error role="alert" { (error) }
                }
            }
            button.btn.btn-primary.btn-block type="submit" {
                "Email me a link"
                span.htmx-indicator { " " span.spinner {} }
            }
        }
    }
}

/// What replaces the magic-link form once a link has been requested.
pub fn check_email(email: &str) -> Markup {
    html! {
        div.stack id="check-email" {
            h2 { "Check your email" }
            div.alert.alert-success role="status" {
                "If " strong { (email) } " has an account, a sign-in link is on its way. "
                "It works once and expires in 60 minutes."
            }
            p.muted.small { "Nothing arrived? Check your spam folder, or " a href=(paths::LOGIN) { "try again" } "." }
        }
    }
}

/// Why someone is on the sign-in page, when the portal sent them there:
/// the login URL's `reason` (any other value says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// They pressed Sign out.
    SignedOut,
    /// They opened a page with a session that has ended (idle timeout,
    /// revoked or expired).
    Expired,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SignedOut => "signed-out",
            Reason::Expired => "expired",
        }
    }

    pub fn parse(raw: Option<&str>) -> Option<Reason> {
        match raw? {
            "signed-out" => Some(Reason::SignedOut),
            "expired" => Some(Reason::Expired),
            _ => None,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Reason::SignedOut => "You have been signed out.",
            Reason::Expired => {
                "Your session expired (or was ended from another device). Sign in again to continue."
            }
        }
    }
}

/// The sign-in page, told why they are here.
pub fn login_page_because(reason: Reason) -> String {
    format!("{}?reason={}", paths::LOGIN, reason.as_str())
}

/// `next` is a validated local path to return to after signing in.
pub fn login_page(
    next: Option<&str>,
    reason: Option<Reason>,
    password_error: Option<&str>,
    email: &str,
) -> Markup {
    auth_page(
        "Sign in",
        html! {
            @if let Some(reason) = reason {
                div.alert.alert-info role="status" id="login-reason" { (reason.message()) }
            }
            div.auth-card {
                div.auth-split {
                    section id="magic-link-panel" aria-labelledby="magic-title" {
                        (magic_link_form(next, "", None))
                    }
                    div.auth-divider aria-hidden="true" { "or" }
                    section aria-labelledby="password-title" {
                        h2 id="password-title" { "Sign in with password" }
                        p.muted.small { "For accounts that have set a password in Settings." }
                        @if let Some(error) = password_error {
                            div.alert.alert-error role="alert" { (error) }
                        }
                        form.form method="post" action=(paths::LOGIN_PASSWORD) {
                            @if let Some(next) = next {
                                input type="hidden" name="next" value=(next);
                            }
                            div.field {
                                label for="password-email" { "Email" }
                                input id="password-email" type="email" name="email" required autocomplete="username" value=(email);
                            }
                            div.field {
                                label for="password" { "Password" }
                                input id="password" type="password" name="password" required
                                    autocomplete="current-password";
                            }
                            button.btn.btn-secondary.btn-block type="submit" { "Sign in" }
                        }
                    }
                }
            }
        },
    )
}

/// The page a sign-in link opens. Showing it uses nothing; the button's POST
/// redeems the link (mail scanners that follow links cannot burn it).
pub fn verify_page(token: &str, error: Option<&str>) -> Markup {
    auth_page(
        "Continue signing in",
        html! {
            div.auth-card {
                @if let Some(error) = error {
                    h2 { "This link cannot be used" }
                    div.alert.alert-error role="alert" { (error) }
                    a.btn.btn-primary href=(paths::LOGIN) { "Request a new link" }
                } @else {
                    h2 { "Continue to the portal" }
                    p.muted { "Press Continue to finish signing in on this device." }
                    form.form method="post" action=(paths::VERIFY) {
                        input type="hidden" name="token" value=(token);
                        button.btn.btn-primary.btn-block type="submit" id="continue" { "Continue" }
                    }
                }
            }
        },
    )
}

/// The second step of signing in: a code (authenticator app or recovery
/// code) or a passkey, whichever the user has.
pub fn mfa_page(
    methods: &[crate::auth::mfa::Method],
    next: Option<&str>,
    error: Option<&str>,
) -> Markup {
    use crate::auth::mfa::Method;
    let totp = methods.contains(&Method::Totp);
    let passkey = methods.contains(&Method::Passkey);
    let recovery = methods.contains(&Method::RecoveryCode);
    auth_page(
        "Confirm it's you",
        html! {
            div.auth-card.stack {
                h2 { "Confirm it's you" }
                p.muted { "Your account uses multi-factor sign-in. This step lasts 5 minutes." }
                @if let Some(error) = error {
                    div.alert.alert-error role="alert" id="mfa-error" { (error) }
                }
                @if passkey {
                    form.form method="post" action=(paths::LOGIN_MFA_PASSKEY)
                        data-webauthn="authenticate" data-options-url=(paths::LOGIN_MFA_PASSKEY_OPTIONS) {
                        input type="hidden" name="credential" value="";
                        @if let Some(next) = next { input type="hidden" name="next" value=(next); }
                        button.btn.btn-primary.btn-block type="submit" id="use-passkey" { "Use a passkey or security key" }
                        p.field-error data-webauthn-error role="alert" {}
                    }
                }
                @if totp || recovery {
                    form.form method="post" action=(paths::LOGIN_MFA) {
                        @if let Some(next) = next { input type="hidden" name="next" value=(next); }
                        div.field {
                            label for="mfa-code" {
                                @if totp { "Code from your authenticator app" } @else { "Recovery code" }
                            }
                            input id="mfa-code" name="code" type="text" required autofocus[!passkey]
                                autocomplete="one-time-code" spellcheck="false" maxlength="64"
                                aria-describedby="mfa-code-hint" aria-invalid=[error.map(|_| "true")];
                            span.muted.small id="mfa-code-hint" {
                                @if totp && recovery { "6 digits. Lost your phone? Enter one of your recovery codes instead." }
                                @else if totp { "6 digits, as the app shows them now." }
                                @else { "One of the recovery codes you saved, like abcde-fghij. Each works once." }
                            }
                        }
                        button.btn.btn-secondary.btn-block type="submit" id="verify-code" { "Verify" }
                    }
                }
                p.small { a href=(paths::LOGIN) { "Start over" } }
            }
        },
    )
}
