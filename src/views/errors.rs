//! Error pages: what happened and where to go next, never internals.

use crate::paths;
use maud::{Markup, html};
use poem::http::StatusCode;

use super::layout::{NavUser, Section, page};

/// The page for an error status. A signed-in person (`user`) keeps their
/// navigation and is offered their dashboard; a visitor the sign-in page.
pub fn error_page(status: StatusCode, message: &str, user: Option<&NavUser>) -> Markup {
    let (title, explanation) = match status.as_u16() {
        404 => ("Page not found", "The page you asked for does not exist or has moved."),
        403 => ("Not allowed", "Your account does not have access to this."),
        401 => ("Please sign in", "You need to sign in to see this page."),
        405 => ("Not allowed here", "This address does not accept that kind of request."),
        429 => ("Slow down", "Too many requests in a short time. Please wait a moment."),
        503 => (
            "Temporarily unavailable",
            "The portal cannot reach its database right now. Please try again shortly.",
        ),
        s if s >= 500 => (
            "Something went wrong",
            "An unexpected error happened on our side. It has been logged; please try again.",
        ),
        _ => ("That did not work", "The request could not be completed."),
    };
    let detail = (!message.is_empty() && status.is_client_error()).then_some(message);
    let (home, home_label) = match user {
        Some(_) => (paths::DASHBOARD, "Go to your dashboard"),
        None => (paths::LOGIN, "Go to the portal"),
    };
    page(
        title,
        user,
        Section::None,
        html! {
            div.error-page {
                div.error-code { (status.as_u16()) }
                h1 { (title) }
                p.muted { (explanation) }
                @if let Some(detail) = detail {
                    p { (detail) }
                }
                a.btn.btn-primary href=(home) { (home_label) }
            }
        },
    )
}
