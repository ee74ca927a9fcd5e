//! Email bodies (plain text and HTML). HTML mail gets inline styles only:
//! mail clients ignore stylesheets.

use std::time::Duration;

use maud::html;

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

/// An email to owners and admins when checks start failing at a site.
pub fn critical_alert(name: Option<&str>, site: &str, failing: &[String], link: &str) -> Email {
    let greeting = name.map(|n| format!("Hello {n},")).unwrap_or_else(|| "Hello,".to_owned());
    let list: String = failing.iter().map(|f| format!("  - {f}\n")).collect();
    let text = format!(
        "{greeting}\n\nThe latest evidence from {site} shows checks that started failing:\n\n{list}\n\
         See the evidence: {link}\n\nYou receive these alerts as an owner or admin; turn them off in Settings.\n\n-- OsirisCare\n"
    );
    let html = html! {
        div style="font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2937; max-width: 560px; margin: 0 auto; padding: 24px;" {
            p style="font-size: 16px;" { (greeting) }
            p style="font-size: 16px;" { "The latest evidence from " strong { (site) } " shows checks that started failing:" }
            ul style="font-size: 15px; color: #b91c1c;" { @for f in failing { li { (f) } } }
            p style="margin: 24px 0;" {
                a href=(link) style="background: #0f5e6b; color: #ffffff; padding: 12px 22px; border-radius: 6px; text-decoration: none; font-weight: 600; display: inline-block;" { "See the evidence" }
            }
            p style="font-size: 13px; color: #6b7280;" { "You receive these alerts as an owner or admin; turn them off in Settings." }
        }
    }
    .into_string();
    let subject = match failing.len() {
        1 => format!("Compliance alert at {site}: {}", failing[0]),
        n => format!("Compliance alert at {site}: {n} checks failing"),
    };
    Email { subject, text, html }
}
