//! The demo's dev mailbox: the newest outgoing messages with their bodies
//! and a button for every link in them, so a newcomer can sign in without a
//! mail server.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::layout::{Section, page};
use crate::db::outbox::{MailStatus, OutboxMail};
use crate::paths;

/// The whole page for `mails`, newest first.
pub fn dev_mailbox_page(mails: &[OutboxMail]) -> Markup {
    page(
        "Dev mailbox",
        None,
        Section::None,
        html! {
            div.page-header {
                div {
                    h1 { "Dev mailbox" }
                    p.muted {
                        "Demo mode only: the newest " (mails.len()) " messages the portal has sent. "
                        "No mail server is needed; sign-in links appear here."
                    }
                }
                div.page-actions {
                    a.btn.btn-secondary.btn-sm href=(paths::DEV_MAILBOX) { "Refresh" }
                }
            }
            @if mails.is_empty() {
                div.empty {
                    p { "No messages yet." }
                    p.small {
                        "Ask for a sign-in link on the "
                        a href=(paths::LOGIN) { "sign-in page" }
                        ", then refresh this page."
                    }
                }
            } @else {
                div.stack {
                    @for mail in mails {
                        (message_card(mail))
                    }
                }
            }
        },
    )
}

fn message_card(mail: &OutboxMail) -> Markup {
    let links = find_links(&mail.text);
    html! {
        article.card.mail-message {
            div.card-header {
                h2.card-title { (mail.subject) }
                (status_badge(mail.status))
            }
            div.card-body {
                dl.kv {
                    dt { "To" }
                    dd.mono { (mail.to) }
                    dt { "Kind" }
                    dd { (mail.kind) }
                    dt { "Queued" }
                    dd { time datetime=(mail.created_at.to_rfc3339()) { (format_time(mail.created_at)) } }
                    @if let Some(sent_at) = mail.sent_at {
                        dt { "Sent" }
                        dd { time datetime=(sent_at.to_rfc3339()) { (format_time(sent_at)) } }
                    }
                    @if let Some(error) = &mail.last_error {
                        dt { "Last error" }
                        dd.small { (error) }
                    }
                }
                @if !links.is_empty() {
                    div.row.mail-links {
                        @for link in &links {
                            // No referrer: the link may carry a sign-in token.
                            a.btn.btn-primary.btn-sm href=(link) rel="noreferrer noopener" title=(link) {
                                "Open link"
                            }
                        }
                    }
                }
                @if mail.text.is_empty() {
                    p.muted.small {
                        "The body was removed after delivery because it contained a sign-in or invitation link."
                    }
                } @else {
                    pre.mail-body { (mail.text) }
                }
            }
        }
    }
}

fn status_badge(status: MailStatus) -> Markup {
    let class = match status {
        MailStatus::Sent => "badge badge-green",
        MailStatus::Pending => "badge badge-amber",
        MailStatus::Sending => "badge badge-blue",
        MailStatus::Failed => "badge badge-red",
    };
    html! { span class=(class) { (status.as_str()) } }
}

fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Every distinct http(s) URL in `text`, in order of appearance. A URL ends
/// at whitespace or a character that cannot be part of one; trailing
/// punctuation of the surrounding sentence is not part of it.
pub fn find_links(text: &str) -> Vec<&str> {
    let mut links: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(start) = next_scheme(rest) {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(candidate.len());
        let url = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        let is_url = url.split_once("://").is_some_and(|(_, host)| !host.is_empty());
        if is_url && !links.contains(&url) {
            links.push(url);
        }
        rest = &candidate[end.max(1)..];
    }
    links
}

fn next_scheme(s: &str) -> Option<usize> {
    match (s.find("https://"), s.find("http://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::find_links;

    #[test]
    fn links_are_found_without_surrounding_punctuation() {
        let text = "Sign in: https://portal.example.com/client/magic?token=abc_DEF-123.\n\
                    Or visit (http://localhost:8080/client/login), or <https://x.example/a>. \
                    Again https://portal.example.com/client/magic?token=abc_DEF-123 \
                    not a link: https:// nor ftp://x.example";
        assert_eq!(
            find_links(text),
            vec![
                "https://portal.example.com/client/magic?token=abc_DEF-123",
                "http://localhost:8080/client/login",
                "https://x.example/a",
            ]
        );
        assert!(find_links("no links here").is_empty());
    }
}
