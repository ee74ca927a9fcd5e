//! Markup of the audit pages, and the CSV export's rendering.
//!
//! The page is a filter form over `#audit-results`: htmx swaps only that
//! fragment when a filter changes (and pushes the URL), and "Load more"
//! appends rows to `#audit-rows` while replacing `#audit-load-more` out of
//! band. Without JavaScript the form and the links load whole pages.

use maud::{Markup, html};
use serde::Deserialize;

pub use super::filters::FieldError;
use super::filters::{self, date_fields, filter_errors, invalid};
use super::format::when_exact;
use super::layout::{NavUser, Section, page};
use crate::db::audit::{Actor, Row};
use crate::paths;

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// The export's columns, in order.
pub const CSV_COLUMNS: [&str; 10] = [
    "id",
    "created_at",
    "actor_user_id",
    "actor_email",
    "action",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "details",
];

/// One CSV field: always quoted (quotes doubled), and a value a spreadsheet
/// would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR)
/// gets a leading single quote so it stays text.
pub fn csv_cell(value: &str) -> String {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let mut out = String::with_capacity(value.len() + 4);
    out.push('"');
    if risky {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn csv_line(out: &mut String, cells: impl IntoIterator<Item = String>) {
    let mut first = true;
    for cell in cells {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&csv_cell(&cell));
    }
    out.push_str("\r\n");
}

/// RFC 4180 CSV of `rows` with a header row; `note` (a `# ...` line) ends the file.
pub fn csv(rows: &[Row], note: Option<&str>) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 200);
    csv_line(&mut out, CSV_COLUMNS.iter().map(|c| (*c).to_owned()));
    for r in rows {
        csv_line(
            &mut out,
            [
                r.id.to_string(),
                r.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                r.actor_user_id.map(|u| u.to_string()).unwrap_or_default(),
                r.actor_email.clone().unwrap_or_default(),
                r.action.clone(),
                r.target_type.clone().unwrap_or_default(),
                r.target_id.clone().unwrap_or_default(),
                r.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                r.user_agent.clone().unwrap_or_default(),
                r.details.to_string(),
            ],
        );
    }
    if let Some(note) = note {
        // One line, whatever it says.
        out.extend(note.chars().map(|c| if c.is_control() { ' ' } else { c }));
        out.push_str("\r\n");
    }
    out
}

// ---------------------------------------------------------------------------
// Page
// ---------------------------------------------------------------------------

/// Groups of actions offered in the filter (prefixes).
pub const ACTION_GROUPS: &[(&str, &str)] = &[
    ("auth.", "Sign-in and sign-out"),
    ("session.", "Sessions"),
    ("api_token.", "API tokens"),
    ("invite.", "Invitations"),
    ("user.", "Users and roles"),
    ("transfer.", "Partner transfers"),
    ("evidence.", "Evidence"),
    ("report.", "Reports"),
    ("audit.", "Audit log"),
    ("notification_preferences.", "Notification settings"),
];

/// The filters as the form (or a typed URL) sent them; empty = any.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FilterValues {
    pub actor: String,
    pub action: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    pub from: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    pub to: String,
    pub limit: String,
}

impl FilterValues {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        filters::non_empty([
            ("actor", self.actor.as_str()),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
            ("limit", &self.limit),
        ])
    }

    /// Whether any filter narrows the list.
    pub fn any(&self) -> bool {
        filters::narrows(&self.pairs())
    }

    /// `/client/audit?…` with these filters and, for the next page, a cursor.
    pub fn url(&self, cursor: Option<&str>) -> String {
        filters::list_url(paths::AUDIT, self.pairs(), cursor)
    }

    /// The API's CSV export with the same filters.
    pub fn export_url(&self) -> String {
        let mut pairs: Vec<(&str, &str)> =
            self.pairs().into_iter().filter(|(k, _)| *k != "limit").collect();
        pairs.push(("format", "csv"));
        filters::list_url(paths::AUDIT_LOG_API, pairs, None)
    }
}

/// What the results area shows.
pub enum Results<'a> {
    Page { entries: &'a [Row], next_url: Option<String> },
    Invalid(&'a [FieldError]),
}

/// What the form's selects offer.
pub struct FilterOptions<'a> {
    pub actors: &'a [Actor],
    /// Actions found in the practice's log.
    pub actions: &'a [String],
}

pub fn audit_page(
    user: &NavUser,
    values: &FilterValues,
    options: &FilterOptions,
    results: &Results,
) -> Markup {
    page(
        "Audit log",
        Some(user),
        Section::Audit,
        html! {
            div.page-header {
                div {
                    h1 { "Audit log" }
                    p.muted { "Every sensitive action in your practice, newest first. Entries are kept for HIPAA and cannot be changed or deleted." }
                }
            }
            div.stack {
                (filter_form(values, options, results))
                (audit_results(values, results))
            }
        },
    )
}

fn filter_form(values: &FilterValues, options: &FilterOptions, results: &Results) -> Markup {
    let errors: &[FieldError] = match results {
        Results::Invalid(errors) => errors,
        Results::Page { .. } => &[],
    };
    let known_actor = options.actors.iter().any(|a| a.id.to_string() == values.actor);
    let known_action = ACTION_GROUPS.iter().any(|(p, _)| *p == values.action)
        || options.actions.contains(&values.action);
    html! {
        section.card.filters-card {
            form.filters id="audit-filters" method="get" action=(paths::AUDIT)
                hx-get=(paths::AUDIT) hx-target="#audit-results" hx-swap="outerHTML"
                hx-trigger="change, submit" hx-push-url="true" hx-indicator="#audit-loading" {
                @if !values.limit.is_empty() {
                    input type="hidden" name="limit" value=(values.limit);
                }
                div.filter-grid {
                    div.field {
                        label for="f-actor" { "Person" }
                        select id="f-actor" name="actor" aria-invalid=[invalid(errors, "actor").then_some("true")] {
                            option value="" { "Everyone" }
                            @if !known_actor && !values.actor.is_empty() {
                                option value=(values.actor) selected { (values.actor) }
                            }
                            @for a in options.actors {
                                @let id = a.id.to_string();
                                option value=(id) selected[id == values.actor] {
                                    (a.email)
                                    @if let Some(name) = &a.name { " (" (name) ")" }
                                    @if !a.is_active { " – removed" }
                                }
                            }
                        }
                    }
                    div.field {
                        label for="f-action" { "Action" }
                        select id="f-action" name="action" aria-invalid=[invalid(errors, "action").then_some("true")] {
                            option value="" { "All actions" }
                            @if !known_action && !values.action.is_empty() {
                                option value=(values.action) selected { (values.action) }
                            }
                            optgroup label="Groups" {
                                @for (prefix, label) in ACTION_GROUPS {
                                    option value=(prefix) selected[*prefix == values.action] { (label) " (" (prefix) "*)" }
                                }
                            }
                            @if !options.actions.is_empty() {
                                optgroup label="Actions in your log" {
                                    @for a in options.actions {
                                        option value=(a) selected[*a == values.action] { (a) }
                                    }
                                }
                            }
                        }
                    }
                    (date_fields(&values.from, &values.to, errors))
                }
                div.filter-actions {
                    button.btn.btn-primary.btn-sm type="submit" { "Apply filters" }
                    a.btn.btn-secondary.btn-sm href=(paths::AUDIT) { "Clear" }
                    span.htmx-indicator.muted.small id="audit-loading" { span.spinner {} " Updating…" }
                }
            }
        }
    }
}

/// `#audit-results`: the table, "Load more" and the export link, or why
/// the filters cannot be used.
pub fn audit_results(values: &FilterValues, results: &Results) -> Markup {
    html! {
        section.card id="audit-results" aria-live="polite" {
            @match results {
                Results::Invalid(errors) => {
                    (filter_errors(errors, paths::AUDIT))
                }
                Results::Page { entries, next_url } => {
                    div.card-header.row {
                        h2.card-title { @if values.any() { "Matching entries" } @else { "All entries" } }
                        div.spacer {}
                        a.btn.btn-secondary.btn-sm id="audit-export" href=(values.export_url()) download {
                            "Export CSV"
                        }
                    }
                    @if entries.is_empty() {
                        div.card-body {
                            div.empty {
                                @if values.any() {
                                    p { strong { "No entries match these filters." } }
                                    p.small { "Try a wider date range or clear a filter." }
                                } @else {
                                    p { strong { "Nothing recorded yet." } }
                                }
                            }
                        }
                    } @else {
                        div.table-wrap {
                            table.table.audit-table {
                                thead {
                                    tr {
                                        th { "When" }
                                        th { "Who" }
                                        th { "Action" }
                                        th { "Target" }
                                        th { "Address" }
                                        th { "Details" }
                                    }
                                }
                                tbody id="audit-rows" { (audit_rows(entries)) }
                            }
                        }
                        (load_more(next_url.as_deref(), false))
                        p.muted.small.card-footer { "The export includes every matching entry (up to 50,000)." }
                    }
                }
            }
        }
    }
}

/// Details as compact `key: value` text.
fn details_text(details: &serde_json::Value) -> String {
    match details.as_object() {
        Some(map) if map.is_empty() => String::new(),
        Some(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        None => details.to_string(),
    }
}

/// `#audit-rows`' rows.
pub fn audit_rows(entries: &[Row]) -> Markup {
    html! {
        @for e in entries {
            tr.audit-row data-id=(e.id) data-action=(e.action) {
                td { time datetime=(e.created_at.to_rfc3339()) { (when_exact(e.created_at)) } }
                td { (e.actor_email.as_deref().unwrap_or("—")) }
                td.mono { (e.action) }
                td.small {
                    @if let Some(t) = &e.target_type { (t) }
                    @if let Some(id) = &e.target_id { div.muted.mono { (id) } }
                }
                td.mono.small { (e.ip.map(|ip| ip.to_string()).unwrap_or_default()) }
                td.small.muted { (details_text(&e.details)) }
            }
        }
    }
}

/// `#audit-load-more`: the link to the next page, or the end of the log.
pub fn load_more(next_url: Option<&str>, oob: bool) -> Markup {
    html! {
        div.load-more id="audit-load-more" hx-swap-oob=[oob.then_some("true")] {
            @if let Some(url) = next_url {
                a.btn.btn-secondary href=(url) hx-get=(url) hx-target="#audit-rows"
                    hx-swap="beforeend" hx-push-url="false" hx-indicator="#audit-more-loading" hx-disabled-elt="this" {
                    "Load more"
                }
                span.htmx-indicator.muted.small id="audit-more-loading" { span.spinner {} " Loading…" }
            } @else {
                span.muted.small { "End of the log." }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "\"plain\"");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        for risky in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(risky).starts_with("\"'"), "{risky:?}");
        }
        assert_eq!(csv_cell(""), "\"\"");
    }

    #[test]
    fn urls_keep_only_the_filters_in_use() {
        let v = FilterValues {
            action: "auth.".into(),
            from: "2026-11-01".into(),
            ..Default::default()
        };
        assert_eq!(v.url(None), "/client/audit?action=auth.&from=2026-11-01");
        assert_eq!(v.url(Some("abc")), "/client/audit?action=auth.&from=2026-11-01&cursor=abc");
        assert_eq!(v.export_url(), "/api/client/audit-log?action=auth.&from=2026-11-01&format=csv");
        assert_eq!(FilterValues::default().url(None), "/client/audit");
        assert!(!FilterValues { limit: "5".into(), ..Default::default() }.any());
    }
}
