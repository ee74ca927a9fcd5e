//! The sign-in page: a magic-link form beside a password form.

use maud::{Markup, html};

use super::layout::auth_page;

/// `next` is a validated local path to return to after signing in.
pub fn login_page(next: Option<&str>) -> Markup {
    auth_page(
        "Sign in",
        html! {
            div.auth-card {
                div.auth-split {
                    section id="magic-link-panel" aria-labelledby="magic-title" {
                        h2 id="magic-title" { "Sign in with a magic link" }
                        p.muted.small { "We'll email you a one-time sign-in link. No password needed." }
                        form.form method="post" action="/client/login/magic-link"
                            hx-post="/client/login/magic-link" hx-target="#magic-link-panel" hx-swap="innerHTML" {
                            @if let Some(next) = next {
                                input type="hidden" name="next" value=(next);
                            }
                            div.field {
                                label for="magic-email" { "Work email" }
                                input id="magic-email" type="email" name="email" required
                                    autocomplete="email" placeholder="you@practice.com";
                            }
                            button.btn.btn-primary.btn-block type="submit" {
                                "Email me a link"
                                span.htmx-indicator { " " span.spinner {} }
                            }
                        }
                    }
                    div.auth-divider aria-hidden="true" { "or" }
                    section aria-labelledby="password-title" {
                        h2 id="password-title" { "Sign in with password" }
                        p.muted.small { "For accounts that have set a password in Settings." }
                        form.form method="post" action="/client/login/password" {
                            @if let Some(next) = next {
                                input type="hidden" name="next" value=(next);
                            }
                            div.field {
                                label for="password-email" { "Email" }
                                input id="password-email" type="email" name="email" required autocomplete="username";
                            }
                            div.field {
                                label for="password" { "Password" }
                                input id="password" type="password" name="password" required
                                    autocomplete="current-password" minlength="12";
                            }
                            button.btn.btn-secondary.btn-block type="submit" { "Sign in" }
                        }
                    }
                }
            }
        },
    )
}
