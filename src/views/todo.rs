//! The to-do list as the pages show it (dashboard, site page): each item
//! says the problem, how long, what the evidence found, how to fix it and
//! who usually does, with why HIPAA asks for it one click away, and (for
//! owners and admins) a note to acknowledge it.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::format::{plural, thousands, when, when_exact};
use crate::evidence::remediation::Remediation;
use crate::paths;
use crate::todo::{MAX_NOTE_CHARS, TodoItem};

/// What every item on a page shares.
#[derive(Debug, Clone, Copy)]
pub struct TodoContext<'a> {
    pub now: DateTime<Utc>,
    /// The practice's IT partner, named in "who fixes it".
    pub partner: Option<&'a str>,
    /// Owners and admins may acknowledge; None for everyone else.
    pub csrf_token: Option<&'a str>,
}

/// The element id of an item: stable for its site, check and host.
pub fn item_id(site_id: Uuid, check_type: &str, host: &str) -> String {
    let digest = Sha256::digest(format!("{site_id}\n{check_type}\n{host}").as_bytes());
    format!("todo-{}", &hex::encode(digest)[..16])
}

/// One item, `#todo-…`; `error` is a refused note, shown by its field.
pub fn todo_item(item: &TodoItem, ctx: &TodoContext, error: Option<&str>) -> Markup {
    let c = &item.check;
    let r: &Remediation = item.remediation;
    let id = item_id(c.site_id, &c.check_type, &c.host);
    let (badge, label) =
        if item.failing() { ("badge-red", "Failing") } else { ("badge-amber", "Warning") };
    html! {
        li.todo-item.todo-fail[item.failing()].todo-warn[!item.failing()] id=(id)
            data-check=(c.check_type) data-host=(c.host) data-site-id=(c.site_id) {
            div.todo-head {
                span.badge.(badge) { (label) }
                h3.todo-title { (item.title()) }
            }
            p.todo-meta {
                strong { (item.duration(ctx.now)) }
                " (since "
                time datetime=(c.since.to_rfc3339()) title=(when_exact(c.since)) { (when(c.since)) }
                ")"
                @if let Some(control) = item.control() {
                    " · HIPAA " (control)
                }
                " · check " code { (c.check_type) }
            }
            dl.todo-facts {
                div {
                    dt { "Found" }
                    dd { (item.found()) }
                }
                div {
                    dt { "How to fix" }
                    dd { (r.fix) }
                }
                div {
                    dt { "Who fixes it" }
                    dd { (r.fixed_by.usually(ctx.partner)) }
                }
            }
            details.todo-why {
                summary { "Why HIPAA asks for this" }
                p { (r.why) }
            }
            @if let Some(ack) = &c.acknowledgement {
                div.todo-ack {
                    strong { "Acknowledged" }
                    " by " (ack.by.as_deref().unwrap_or("a former user")) " on "
                    time datetime=(ack.at.to_rfc3339()) { (when(ack.at)) }
                    ": " q { (ack.note) }
                    div.muted.small { "An acknowledgement is a note; the check still counts as " (label.to_lowercase()) " until the evidence says otherwise." }
                }
            }
            div.todo-actions {
                a href=(paths::site_bundle(&c.bundle_id, c.site_id)) { "See the evidence" span.sr-only { " for " (item.title()) } " →" }
                @if let Some(token) = ctx.csrf_token {
                    (ack_form(item, &id, token, error))
                }
            }
        }
    }
}

fn ack_form(item: &TodoItem, id: &str, token: &str, error: Option<&str>) -> Markup {
    let c = &item.check;
    let note_id = format!("{id}-note");
    let error_id = format!("{id}-error");
    let verb = if c.acknowledgement.is_some() { "Update the note" } else { "Acknowledge" };
    html! {
        details.todo-ack-form open[error.is_some()] {
            summary { (verb) span.sr-only { ": " (item.title()) } }
            form method="post" action=(paths::TODO_ACKNOWLEDGE)
                hx-post=(paths::TODO_ACKNOWLEDGE) hx-target={ "#" (id) } hx-swap="outerHTML" {
                input type="hidden" name="csrf_token" value=(token);
                input type="hidden" name="site_id" value=(c.site_id);
                input type="hidden" name="check_type" value=(c.check_type);
                input type="hidden" name="host" value=(c.host);
                label for=(note_id) { "Note" }
                p.muted.small { "What is being done about it, or why the practice accepts it. The item stays on the list until the check passes." }
                textarea id=(note_id) name="note" rows="2" maxlength=(MAX_NOTE_CHARS) required
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| error_id.as_str())] {}
                @if let Some(e) = error { p.field-error id=(error_id) role="alert" { (e) } }
                button.btn.btn-secondary.btn-sm type="submit" { "Save note" }
            }
        }
    }
}

/// Most items listed by name under the ones shown in full.
const MAX_MORE: usize = 50;

/// The to-do card: the first `shown` items in full, the rest as a list of
/// their problems. `scope` says whose list it is ("all sites", a clinic).
pub fn todo_card(items: &[TodoItem], shown: usize, ctx: &TodoContext, scope: &str) -> Markup {
    let failing = items.iter().filter(|i| i.failing()).count();
    let warnings = items.len() - failing;
    html! {
        section.card id="todo" aria-labelledby="todo-title" {
            div.card-header {
                h2.card-title id="todo-title" { "To do" }
                span.muted.small {
                    @if items.is_empty() { (scope) }
                    @else {
                        (plural(failing as i128, "failing check", "failing checks"))
                        @if warnings > 0 { ", " (plural(warnings as i128, "warning", "warnings")) }
                        " · " (scope) " · longest-standing first"
                    }
                }
            }
            @if items.is_empty() {
                div.card-body {
                    div.all-clear {
                        span.all-clear-mark aria-hidden="true" { "✓" }
                        div {
                            strong { "Nothing to do right now." }
                            p.muted.small { "Every check's latest result in the last 30 days passed." }
                        }
                    }
                }
            } @else {
                ol.todo-list {
                    @for item in items.iter().take(shown) { (todo_item(item, ctx, None)) }
                }
                @if items.len() > shown {
                    div.card-footer {
                        p.small { strong { (thousands((items.len() - shown) as i128)) " more" } ", each on its site's page:" }
                        ul.todo-more {
                            @for item in items[shown..].iter().take(MAX_MORE) {
                                li {
                                    a href=(paths::site(item.check.site_id)) { (item.title()) }
                                    span.muted.small { " · " (item.duration(ctx.now)) }
                                }
                            }
                        }
                        @if items.len() > shown + MAX_MORE {
                            p.small {
                                "… and " (thousands((items.len() - shown - MAX_MORE) as i128)) " more: "
                                a href={ (paths::EVIDENCE) "?result=fail" } { "browse failing evidence" }
                            }
                        }
                    }
                }
            }
        }
    }
}
