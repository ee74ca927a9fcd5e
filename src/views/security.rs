//! The Security page: the authenticator app (QR code and secret while it
//! waits for its first code), passkeys, recovery codes, confirming it is
//! you before a change, and (owner) the practice's "require MFA" policy.
//! Plain forms: every answer is the whole page again, so it works without
//! JavaScript except for passkeys, which need assets/webauthn.js.

use maud::{Markup, PreEscaped, html};

use super::format::when;
use super::layout::{NavUser, Section, page};
use crate::auth::mfa::{MAX_GRACE_DAYS, NewTotp, Status};
use crate::paths;

/// What one answer shows beyond the state itself.
#[derive(Default)]
pub struct Flash<'a> {
    /// (is_error, text) about the last submission.
    pub message: Option<(bool, &'a str)>,
    /// An authenticator-app enrolment waiting for its first code.
    pub new_totp: Option<&'a NewTotp>,
    /// Recovery codes, shown this once.
    pub recovery_codes: &'a [String],
}

pub struct SecurityData<'a> {
    pub status: &'a Status,
    pub is_owner: bool,
    pub csrf_token: &'a str,
}

fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

/// The otpauth URI as an SVG QR code (no script, no image request).
fn qr_svg(uri: &str) -> Markup {
    match qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build();
            // The SVG is built here from the QR modules; no user text in it.
            let svg = svg.trim_start_matches(|c| c != '<');
            let svg = svg.strip_prefix(r#"<?xml version="1.0" standalone="yes"?>"#).unwrap_or(svg);
            html! {
                div.qr role="img" aria-label="QR code for your authenticator app" { (PreEscaped(svg)) }
            }
        }
        Err(_) => html! { p.muted { "Enter the secret below by hand." } },
    }
}

pub fn security_page(user: &NavUser, d: &SecurityData, flash: &Flash) -> Markup {
    let s = d.status;
    page(
        "Security",
        Some(user),
        Section::Settings,
        html! {
            div.page-header {
                div {
                    h1 { "Security" }
                    p.muted { "How you sign in: a second factor keeps your account safe if a password or an email link is stolen." }
                }
            }
            @if let Some((is_error, text)) = flash.message {
                div.alert.alert-error[is_error].alert-success[!is_error] role=(if is_error { "alert" } else { "status" }) id="security-message" { (text) }
            }
            @if let Some(due) = s.setup_due {
                div.alert.alert-warning role="note" id="mfa-required" {
                    strong { "Your practice requires multi-factor sign-in. " }
                    @if due <= chrono::Utc::now() {
                        "Set up an authenticator app or a passkey now: until you do, this is the only page you can use."
                    } @else {
                        "Set up an authenticator app or a passkey by " (crate::zone::local(due).format("%Y-%m-%d")) "; after that, the portal opens only this page until you do."
                    }
                }
            }
            div.stack {
                @if !flash.recovery_codes.is_empty() {
                    (recovery_codes_shown(flash.recovery_codes))
                }
                @if !s.recent {
                    (confirm_section(d))
                }
                (totp_section(d, flash))
                (passkeys_section(d))
                (recovery_section(d))
                @if d.is_owner {
                    (policy_section(d))
                }
            }
        },
    )
}

fn recovery_codes_shown(codes: &[String]) -> Markup {
    html! {
        section.card id="new-recovery-codes" {
            div.card-header { h2.card-title { "Your recovery codes" } }
            div.card-body.stack {
                div.alert.alert-warning role="alert" {
                    "Save these now: they are shown only this once. Each signs you in once if your phone or passkey is not at hand."
                }
                ol.mono.recovery-codes {
                    @for c in codes { li { (c) } }
                }
                p.muted.small { "Print them or keep them in a password manager, not on the same phone as your authenticator app." }
            }
        }
    }
}

fn confirm_section(d: &SecurityData) -> Markup {
    let s = d.status;
    html! {
        section.card id="confirm-section" {
            div.card-header { h2.card-title { "Confirm it's you" } }
            div.card-body.stack {
                p.muted.small { "Changes on this page need a sign-in within the last 10 minutes. Confirm it's you to make them." }
                @if s.has_factor() {
                    form.form method="post" action=(paths::SECURITY_CONFIRM) {
                        (csrf(d.csrf_token))
                        div.field {
                            label for="confirm-code" { "Code from your authenticator app, or a recovery code" }
                            input id="confirm-code" name="code" type="text" autocomplete="one-time-code" spellcheck="false" maxlength="64" required;
                        }
                        button.btn.btn-primary type="submit" id="confirm-code-submit" { "Confirm" }
                    }
                    @if !s.passkeys.is_empty() {
                        form.form method="post" action=(paths::SECURITY_CONFIRM_PASSKEY)
                            data-webauthn="authenticate" data-options-url=(paths::SECURITY_CONFIRM_PASSKEY_OPTIONS) {
                            (csrf(d.csrf_token))
                            input type="hidden" name="credential" value="";
                            button.btn.btn-secondary type="submit" id="confirm-passkey" { "Confirm with a passkey" }
                            p.field-error data-webauthn-error role="alert" {}
                        }
                    }
                } @else if s.has_password {
                    form.form method="post" action=(paths::SECURITY_CONFIRM) {
                        (csrf(d.csrf_token))
                        div.field {
                            label for="confirm-password" { "Your password" }
                            input id="confirm-password" name="password" type="password" autocomplete="current-password" required;
                        }
                        button.btn.btn-primary type="submit" id="confirm-password-submit" { "Confirm" }
                    }
                } @else {
                    p { "You have no password or second factor to confirm with: sign out and sign in again with a link from your email, then come back within 10 minutes." }
                }
            }
        }
    }
}

fn totp_section(d: &SecurityData, flash: &Flash) -> Markup {
    let s = d.status;
    html! {
        section.card id="totp-section" {
            div.card-header.row {
                h2.card-title { "Authenticator app" }
                div.spacer {}
                @if s.totp_enabled { span.badge.badge-green { "On" } }
                @else if s.totp_pending { span.badge.badge-amber { "Waiting for a code" } }
                @else { span.badge.badge-gray { "Off" } }
            }
            div.card-body.stack {
                @if s.totp_enabled {
                    p.muted.small { "Codes from your app (Google Authenticator, Microsoft Authenticator, 1Password, …) sign you in after your email link or password." }
                    form.inline method="post" action=(paths::SECURITY_TOTP_REMOVE) {
                        (csrf(d.csrf_token))
                        button.btn.btn-danger.btn-sm type="submit" id="totp-remove" disabled[!s.recent] { "Remove authenticator app" }
                    }
                } @else if let Some(new) = flash.new_totp {
                    p { "Open your authenticator app and add an account by scanning this code:" }
                    (qr_svg(&new.otpauth_uri))
                    p.small { "Or enter this secret by hand (time-based, 6 digits): " }
                    p.mono.strong id="totp-secret" { (crate::auth::totp::grouped(&new.secret_base32)) }
                    form.form method="post" action=(paths::SECURITY_TOTP_CONFIRM) {
                        (csrf(d.csrf_token))
                        div.field {
                            label for="totp-code" { "Then enter the 6-digit code the app shows" }
                            input id="totp-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required aria-describedby="totp-code-hint";
                            span.hint id="totp-code-hint" { "This turns the app on. A new code appears every 30 seconds." }
                        }
                        button.btn.btn-primary type="submit" id="totp-confirm" { "Turn on" }
                    }
                } @else {
                    p.muted.small { "Use an app on your phone that shows a new 6-digit code every 30 seconds." }
                    @if s.totp_pending {
                        p.small { "You started setting one up. Start again to see a new QR code." }
                    }
                    form.inline method="post" action=(paths::SECURITY_TOTP) {
                        (csrf(d.csrf_token))
                        button.btn.btn-primary type="submit" id="totp-start" disabled[!s.recent] { "Set up an authenticator app" }
                    }
                }
            }
        }
    }
}

fn passkeys_section(d: &SecurityData) -> Markup {
    let s = d.status;
    html! {
        section.card id="passkeys-section" {
            div.card-header { h2.card-title { "Passkeys and security keys" } }
            div.card-body.stack {
                p.muted.small { "Sign in with your device's fingerprint, face or PIN, or a USB or NFC security key. Add one for each device you use." }
                @if s.passkeys.is_empty() {
                    p.empty { "No passkeys yet." }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Passkeys" {
                        table.table {
                            thead { tr { th { "Name" } th { "Added" } th { "Last used" } th { span.sr-only { "Actions" } } } }
                            tbody {
                                @for p in &s.passkeys {
                                    tr {
                                        td { (p.name) }
                                        td { (when(p.created_at)) }
                                        td { @if let Some(t) = p.last_used_at { (when(t)) } @else { "Never" } }
                                        td {
                                            form.inline method="post" action=(paths::passkey_remove(p.id)) {
                                                (csrf(d.csrf_token))
                                                button.btn.btn-link type="submit" disabled[!s.recent] { "Remove" span.sr-only { " " (p.name) } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.form-row method="post" action=(paths::SECURITY_PASSKEYS)
                    data-webauthn="register" data-options-url=(paths::SECURITY_PASSKEY_OPTIONS) {
                    (csrf(d.csrf_token))
                    input type="hidden" name="credential" value="";
                    div.field {
                        label for="passkey-name" { "Name" }
                        input id="passkey-name" name="name" type="text" maxlength="100" required placeholder="Office laptop";
                    }
                    button.btn.btn-secondary type="submit" id="passkey-add" disabled[!s.recent] { "Add a passkey" }
                    p.field-error data-webauthn-error role="alert" {}
                }
            }
        }
    }
}

fn recovery_section(d: &SecurityData) -> Markup {
    let s = d.status;
    html! {
        section.card id="recovery-section" {
            div.card-header { h2.card-title { "Recovery codes" } }
            div.card-body.stack {
                @if s.has_factor() {
                    p { strong { (s.recovery_codes_left) } " of 10 unused." }
                    @if s.recovery_codes_left <= 3 {
                        p.small { "Running low: make new ones." }
                    }
                    form.inline method="post" action=(paths::SECURITY_RECOVERY_CODES) {
                        (csrf(d.csrf_token))
                        button.btn.btn-secondary.btn-sm type="submit" id="recovery-regenerate" disabled[!s.recent] { "Make new recovery codes" }
                    }
                    p.muted.small { "New codes replace the old ones, which stop working." }
                } @else {
                    p.muted.small { "You get 10 single-use recovery codes when you set up your first authenticator app or passkey." }
                }
            }
        }
    }
}

fn policy_section(d: &SecurityData) -> Markup {
    let p = d.status.policy;
    html! {
        section.card id="policy-section" {
            div.card-header.row {
                h2.card-title { "Practice policy" }
                div.spacer {}
                @if p.required_at.is_some() { span.badge.badge-green { "MFA required" } }
                @else { span.badge.badge-gray { "MFA optional" } }
            }
            div.card-body.stack {
                p.muted.small { "Require a second factor of everyone in the practice. People without one are shown the deadline; after it they can only set one up." }
                @if let Some(since) = p.required_at {
                    p.small { "Required since " (crate::zone::local(since).format("%Y-%m-%d")) "." }
                }
                form.form method="post" action=(paths::SECURITY_POLICY) {
                    (csrf(d.csrf_token))
                    label.checkbox {
                        input type="checkbox" name="required" value="true" checked[p.required_at.is_some()];
                        " Require multi-factor sign-in for everyone"
                    }
                    div.field {
                        label for="grace-days" { "Grace period (days)" }
                        input id="grace-days" name="grace_days" type="number" min="0" max=(MAX_GRACE_DAYS) value=(p.grace_days) required;
                        span.hint { "Days from turning it on during which people without a factor can still use the portal." }
                    }
                    button.btn.btn-primary type="submit" id="policy-save" disabled[!d.status.recent] { "Save policy" }
                }
            }
        }
    }
}
