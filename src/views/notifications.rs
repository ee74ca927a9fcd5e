//! Markup of the notifications pages: the page, its `#notification-list`
//! fragment (the All / Critical / Unread filter swaps it, with criticals
//! still failing pinned above the list), one row per notification
//! (`#notification-{id}`, swapped when it is marked read) and the
//! "Load more" control (`#notifications-more`).

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::format::{plural, thousands, time_ago, when_exact};
use super::layout::{NavUser, Section, page};
use crate::db::notifications::{Severity, UserNotification};
use crate::paths;

/// Notifications per page.
pub const PAGE_SIZE: usize = 100;

/// Which notifications the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    /// Critical ones only.
    Critical,
    Unread,
}

impl Filter {
    /// The list's address with this filter (and a "Load more" cursor).
    pub fn url(self, after: Option<&str>) -> String {
        let mut url = paths::NOTIFICATIONS.to_owned();
        let mut sep = '?';
        match self {
            Filter::All => {}
            Filter::Critical => {
                url.push_str("?severity=critical");
                sep = '&';
            }
            Filter::Unread => {
                url.push_str("?unread=1");
                sep = '&';
            }
        }
        if let Some(after) = after {
            url.push(sep);
            url.push_str("after=");
            url.push_str(after);
        }
        url
    }
}

/// What the list shows.
pub struct ListData<'a> {
    pub filter: Filter,
    /// Criticals about checks still failing, shown above the list (first
    /// page of All and Critical only).
    pub pinned: &'a [UserNotification],
    pub items: &'a [UserNotification],
    /// The cursor for the next page when there is one.
    pub next: Option<String>,
    /// The user's unread count (up to 1,000).
    pub unread: i64,
    /// Whether this page continues an earlier one ("Load more" without JS).
    pub continued: bool,
    /// A confirmation to show above the list.
    pub message: Option<String>,
    pub csrf_token: &'a str,
    pub now: DateTime<Utc>,
}

fn severity_badge(s: Severity) -> Markup {
    let (class, label) = match s {
        Severity::Critical => ("badge-red", "Critical"),
        Severity::Warning => ("badge-amber", "Warning"),
        Severity::Info => ("badge-gray", "Info"),
    };
    html! { span.badge.(class) { (label) } }
}

/// Only links inside the portal (or to https sites) become links.
fn safe_action(url: &str) -> bool {
    (url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\"))
        || url.starts_with("https://")
}

/// A hidden CSRF field, for forms posted without JavaScript (htmx sends
/// the header instead).
fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

/// The hidden field that brings a form's redirect back to the same filter.
fn filter_field(filter: Filter) -> Markup {
    html! {
        @match filter {
            Filter::All => {}
            Filter::Critical => { input type="hidden" name="severity" value="critical"; }
            Filter::Unread => { input type="hidden" name="unread" value="1"; }
        }
    }
}

/// `#notification-{id}`: one notification as `tr`.
pub fn notification_row(
    n: &UserNotification,
    filter: Filter,
    csrf_token: &str,
    now: DateTime<Utc>,
) -> Markup {
    notification_row_as(n, filter, csrf_token, now, "notification")
}

/// One notification as `tr` with the id `#{prefix}-{id}` (the pinned copy
/// of a row needs an id of its own).
fn notification_row_as(
    n: &UserNotification,
    filter: Filter,
    csrf_token: &str,
    now: DateTime<Utc>,
    prefix: &str,
) -> Markup {
    let unread = !n.is_read();
    let row_id = format!("{prefix}-{}", n.id);
    html! {
        tr.notification-row.notification-unread[unread] id=(row_id)
            data-read=(if unread { "false" } else { "true" }) data-severity=(n.severity.as_str()) {
            td { (severity_badge(n.severity)) }
            td {
                div.notification-title {
                    @if unread {
                        span.badge.badge-blue { "Unread" } " "
                        strong { (n.title) }
                    } @else {
                        span { (n.title) }
                    }
                    @if n.occurrences > 1 {
                        " " span.badge.badge-gray title="The same change of the same check on the same host, that day" {
                            (thousands(i128::from(n.occurrences))) " times that day"
                        }
                    }
                    @if n.still_failing {
                        " " span.badge.badge-red { "Still failing" }
                    }
                }
                @if !n.message.is_empty() {
                    div.muted.small { (n.message) }
                }
                @if let Some(url) = n.action_url.as_deref().filter(|u| safe_action(u)) {
                    div.small {
                        a href=(url) { (n.action_label.as_deref().unwrap_or("View details")) " →" }
                    }
                }
            }
            td.small { (time_ago(n.created_at, now)) }
            td.num {
                @if unread {
                    form method="post" action=(paths::notification_read(n.id))
                        hx-post=(paths::notification_read(n.id))
                        hx-target={ "#" (row_id) } hx-swap="outerHTML" {
                        (csrf_field(csrf_token))
                        (filter_field(filter))
                        button.btn.btn-secondary.btn-sm.mark-read type="submit" {
                            "Mark read" span.sr-only { ": \u{201c}" (n.title) "\u{201d}" }
                        }
                    }
                } @else {
                    span.muted.small title=[n.read_at.map(|t| format!("Read {}", when_exact(t)))] { "Read" }
                }
            }
        }
    }
}

/// The rows of a page.
pub fn notification_rows(
    items: &[UserNotification],
    filter: Filter,
    csrf_token: &str,
    now: DateTime<Utc>,
) -> Markup {
    html! {
        @for n in items { (notification_row(n, filter, csrf_token, now)) }
    }
}

/// `#notifications-more`: the next page's button, or nothing more.
pub fn load_more(filter: Filter, next: Option<&str>, oob: bool) -> Markup {
    html! {
        div.load-more[next.is_some()] id="notifications-more" hx-swap-oob=[oob.then_some("true")] {
            @if let Some(next) = next {
                @let url = filter.url(Some(next));
                a.btn.btn-secondary href=(url) hx-get=(url) hx-target="#notification-rows"
                    hx-swap="beforeend" hx-disabled-elt="this" {
                    "Load older notifications"
                }
            }
        }
    }
}

/// `#notification-list-head`: the All / Unread filter, the unread count
/// and "Mark all read". Sent again out of band when a row is marked read,
/// so the counts stay true.
pub fn list_head(filter: Filter, unread: i64, csrf_token: &str, oob: bool) -> Markup {
    let tab = |f: Filter, label: &str| {
        let active = filter == f;
        let url = f.url(None);
        html! {
            a.btn.btn-sm.btn-primary[active].btn-secondary[!active] href=(url) hx-get=(url)
                hx-target="#notification-list" hx-swap="outerHTML" hx-push-url="true"
                aria-current=[active.then_some("page")] { (label) }
        }
    };
    let unread_label = match unread {
        0 => "Unread".to_owned(),
        n if n > 999 => "Unread (999+)".to_owned(),
        n => format!("Unread ({})", thousands(n)),
    };
    html! {
        div.card-header.row id="notification-list-head" hx-swap-oob=[oob.then_some("true")] {
            nav.row aria-label="Show" {
                (tab(Filter::All, "All"))
                (tab(Filter::Critical, "Critical"))
                (tab(Filter::Unread, &unread_label))
            }
            div.spacer {}
            span.muted.small id="unread-summary" data-announce {
                @match unread {
                    0 => "Nothing unread",
                    n if n > 999 => "More than 999 unread",
                    n => { (plural(n, "unread notification", "unread notifications")) },
                }
            }
            @if unread > 0 {
                form method="post" action=(paths::NOTIFICATIONS_READ_ALL)
                    hx-post=(paths::NOTIFICATIONS_READ_ALL) hx-target="#notification-list"
                    hx-swap="outerHTML" {
                    (csrf_field(csrf_token))
                    (filter_field(filter))
                    button.btn.btn-secondary.btn-sm id="mark-all-read" type="submit" { "Mark all read" }
                }
            }
        }
    }
}

/// A table of notifications, its body `#{body_id}` holding `rows`.
fn notifications_table(label: &str, body_id: &str, rows: Markup) -> Markup {
    html! {
        div.table-wrap tabindex="0" role="region" aria-label=(label) {
            table.table.notifications-table {
                thead {
                    tr {
                        th { "Severity" }
                        th { "Notification" }
                        th { "When" }
                        th { span.sr-only { "Read state" } }
                    }
                }
                tbody id=(body_id) { (rows) }
            }
        }
    }
}

/// `#notification-list`: the filter, "Mark all read" and the list.
pub fn notification_list(d: &ListData) -> Markup {
    html! {
        section.card id="notification-list" {
            (list_head(d.filter, d.unread, d.csrf_token, false))
            @if let Some(message) = &d.message {
                div.card-body { div.alert.alert-success role="status" data-announce { (message) } }
            }
            @if !d.pinned.is_empty() {
                div.pinned id="pinned-criticals" {
                    h2.card-title { "Still failing" }
                    p.muted.small { "Critical alerts whose check has not passed since, newest first. They leave this list when the check passes; the dashboard's to-do list says how to fix each." }
                    (notifications_table("Critical alerts still failing", "pinned-rows", html! {
                        @for n in d.pinned { (notification_row_as(n, d.filter, d.csrf_token, d.now, "pinned")) }
                    }))
                }
            }
            @if d.items.is_empty() {
                div.card-body {
                    div.empty id="notifications-empty" {
                        @if d.continued {
                            p { strong { "No older notifications." } }
                            p.small { a href=(d.filter.url(None)) { "Back to the newest" } }
                        } @else if d.filter == Filter::Unread {
                            p { strong { "You're all caught up." } }
                            p.small { "No unread notifications. " a href=(paths::NOTIFICATIONS) hx-get=(paths::NOTIFICATIONS)
                                hx-target="#notification-list" hx-swap="outerHTML" hx-push-url="true" { "Show all" } }
                        } @else {
                            p { strong { "No notifications yet" } }
                            p.small { "They appear here when a check starts failing or recovers, a site stops reporting, or a monthly report is ready." }
                        }
                    }
                }
            } @else {
                (notifications_table("Notifications", "notification-rows", notification_rows(d.items, d.filter, d.csrf_token, d.now)))
                @if d.next.is_some() || d.continued {
                    div.card-footer.muted.small {
                        @if d.continued {
                            "Showing older notifications. " a href=(d.filter.url(None)) { "Back to the newest" }
                        } @else {
                            "Showing the newest " (PAGE_SIZE) "."
                        }
                    }
                }
                (load_more(d.filter, d.next.as_deref(), false))
            }
        }
    }
}

pub fn notifications_page(user: &NavUser, d: &ListData) -> Markup {
    page(
        "Notifications",
        Some(user),
        Section::Notifications,
        html! {
            div.page-header {
                div {
                    h1 { "Notifications" }
                    p.muted { "Alerts about your sites, checks and reports. What you mark read stays unread for your colleagues." }
                }
                div.page-actions {
                    a.btn.btn-secondary.btn-sm href={ (paths::SETTINGS) "#email-notifications-section" } { "Email preferences" }
                }
            }
            (notification_list(d))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_urls() {
        assert_eq!(Filter::All.url(None), "/client/notifications");
        assert_eq!(Filter::Unread.url(None), "/client/notifications?unread=1");
        assert_eq!(Filter::All.url(Some("abc")), "/client/notifications?after=abc");
        assert_eq!(Filter::Unread.url(Some("abc")), "/client/notifications?unread=1&after=abc");
        assert_eq!(Filter::Critical.url(None), "/client/notifications?severity=critical");
        assert_eq!(
            Filter::Critical.url(Some("abc")),
            "/client/notifications?severity=critical&after=abc"
        );
    }

    #[test]
    fn only_safe_action_urls_become_links() {
        assert!(safe_action("/client/sites/1"));
        assert!(safe_action("https://example.com/x"));
        for bad in ["javascript:alert(1)", "//evil.example", "/\\evil", "http://x", "data:x"] {
            assert!(!safe_action(bad), "{bad}");
        }
    }
}
