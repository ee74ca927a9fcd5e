//! The dashboard. Compliance data arrives with the evidence work; until then
//! it greets the user and says what is coming.

use maud::{Markup, html};

use super::layout::{NavUser, Section, page};

pub fn dashboard_page(user: &NavUser) -> Markup {
    page(
        "Dashboard",
        Some(user),
        Section::Dashboard,
        html! {
            div.page-header {
                div {
                    h1 { "Welcome, " span id="user-name" { (user.name) } }
                    p.muted { (user.org_name) " · signed in as " (user.email) " (" (user.role) ")" }
                }
            }
            div.card {
                div.card-body {
                    div.empty {
                        p { "No compliance evidence has arrived yet." }
                        p.small { "Once your site appliances send their first evidence bundles, scores and trends appear here." }
                    }
                }
            }
        },
    )
}
