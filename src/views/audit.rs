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

/// The header row of the RFC 4180 CSV export.
pub fn csv_header() -> String {
    let mut out = String::new();
    csv_line(&mut out, CSV_COLUMNS.iter().map(|c| (*c).to_owned()));
    out
}

/// `rows` as lines of the CSV export (after [`csv_header`]).
pub fn csv_rows(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 200);
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
    out
}

/// A `# ...` line that ends the CSV export: one line, whatever it says.
pub fn csv_note(note: &str) -> String {
    let mut out: String = note.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    out.push_str("\r\n");
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
                hx-trigger=(filters::FORM_TRIGGER) hx-indicator="#audit-loading"
                data-url-filters {
                @if !values.limit.is_empty() {
                    input type="hidden" name="limit" value=(values.limit);
                }
                div.filter-grid {
                    div.field {
                        label for="f-actor" { "Person" }
                        select id="f-actor" name="actor" hx-get=(paths::AUDIT) hx-include="closest form" hx-trigger=(filters::SELECT_TRIGGER) aria-invalid=[invalid(errors, "actor").then_some("true")] {
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
                        select id="f-action" name="action" hx-get=(paths::AUDIT) hx-include="closest form" hx-trigger=(filters::SELECT_TRIGGER) aria-invalid=[invalid(errors, "action").then_some("true")] {
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
                    (date_fields(paths::AUDIT, &values.from, &values.to, errors))
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
        section.card id="audit-results" {
            @match results {
                Results::Invalid(errors) => {
                    (filter_errors(errors, paths::AUDIT))
                }
                Results::Page { entries, next_url } => {
                    div.card-header.row {
                        h2.card-title data-announce { @if values.any() { "Matching entries" } @else { "All entries" } }
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
                        div.table-wrap tabindex="0" role="region" aria-label="Audit log entries" {
                            table.table.audit-table {
                                thead {
                                    tr {
                                        th { "When" }
                                        th { "What happened" }
                                        th { "Address" }
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

/// A detail's text: strings as they are, anything else as JSON.
fn detail<'a>(e: &'a Row, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    match e.details.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    }
}

/// What happened, as a sentence: "James Chen changed their password".
/// Unknown actions read "… did <action>" so nothing is hidden; the raw
/// entry is one click away and the CSV keeps every field.
pub fn sentence(e: &Row) -> String {
    let who = e
        .actor_name
        .clone()
        .or_else(|| e.actor_email.clone())
        .unwrap_or_else(|| "The portal".to_owned());
    let d = |k: &str| detail(e, k).map(|v| v.into_owned());
    let or = |k: &str, fallback: &str| d(k).unwrap_or_else(|| fallback.to_owned());
    let what = match e.action.as_str() {
        "auth.signin_succeeded" => match d("second_factor") {
            Some(f) => format!("signed in ({}, then {})", or("method", "sign-in"), f),
            None => format!("signed in ({})", or("method", "sign-in")),
        },
        "auth.signin_failed" => "failed to sign in".to_owned(),
        "auth.first_factor_succeeded" => {
            "gave the right first factor and was asked for a second".to_owned()
        }
        "auth.magic_link_requested" => "asked for a sign-in link".to_owned(),
        "auth.signout" => "signed out".to_owned(),
        "auth.password_set" => "changed their password".to_owned(),
        "auth.reauthenticated" => "confirmed it was them".to_owned(),
        "mfa.totp_enabled" => "turned on an authenticator app".to_owned(),
        "mfa.totp_removed" => "removed their authenticator app".to_owned(),
        "mfa.passkey_added" => "added a passkey".to_owned(),
        "mfa.passkey_removed" => "removed a passkey".to_owned(),
        "mfa.recovery_codes_regenerated" => "made new recovery codes".to_owned(),
        "mfa.recovery_code_used" => "signed in with a recovery code".to_owned(),
        "mfa.code_failed" => "entered a wrong sign-in code".to_owned(),
        "mfa.reset" => format!("reset the second factors of {}", or("email", "a user")),
        "mfa.policy_changed" => match d("required").as_deref() {
            Some("true") => match d("grace_days") {
                Some(days) => format!("required MFA for everyone ({days} days to set it up)"),
                None => "required MFA for everyone".to_owned(),
            },
            _ => "stopped requiring MFA".to_owned(),
        },
        "user.role_changed" => match (d("from"), d("to")) {
            (Some(from), Some(to)) => {
                format!("changed {} from {from} to {to}", or("email", "a user"))
            }
            _ => format!("changed the role of {}", or("email", "a user")),
        },
        "user.removed" => format!("removed {} ({})", or("email", "a user"), or("role", "user")),
        "invite.sent" => format!("invited {} as {}", or("email", "someone"), or("role", "a user")),
        "invite.resent" => format!("sent the invitation to {} again", or("email", "someone")),
        "invite.revoked" => format!("cancelled the invitation to {}", or("email", "someone")),
        "invite.accepted" => "accepted their invitation".to_owned(),
        "transfer.requested" => match d("to_partner") {
            Some(to) => format!("asked to move the practice to {to}"),
            None => "asked to leave their partner".to_owned(),
        },
        "transfer.cancelled" => match d("to_partner") {
            Some(to) => format!("cancelled the transfer to {to}"),
            None => "cancelled the transfer".to_owned(),
        },
        "transfer.decided" => format!("{} the transfer request", or("decision", "decided on")),
        "transfer.completed" => "completed the transfer".to_owned(),
        "auditor.granted" => format!(
            "gave {} of {} auditor access",
            or("email", "an auditor"),
            or("firm", "their firm")
        ),
        "auditor.grant_changed" => {
            format!("changed the auditor access of {}", or("email", "an auditor"))
        }
        "auditor.revoked" => format!("ended the auditor access of {}", or("email", "an auditor")),
        "auditor.viewed" => {
            format!("(auditor) viewed {}", or("viewed", "evidence").replace('_', " "))
        }
        "api_token.created" => match (d("name"), d("scope")) {
            (Some(name), Some(scope)) => {
                format!("created the API token \u{201c}{name}\u{201d} ({scope})")
            }
            (Some(name), None) => format!("created the API token \u{201c}{name}\u{201d}"),
            _ => "created an API token".to_owned(),
        },
        "api_token.revoked" => match d("name") {
            Some(name) => format!("revoked the API token \u{201c}{name}\u{201d}"),
            None => "revoked an API token".to_owned(),
        },
        "session.revoked" => "signed out one of their sessions".to_owned(),
        "session.revoked_others" => "signed out their other sessions".to_owned(),
        "notification_preferences.updated" => "changed their email preferences".to_owned(),
        "report.downloaded" => format!(
            "downloaded the report for {}",
            e.target_id.clone().unwrap_or_else(|| "a month".to_owned())
        ),
        "evidence.downloaded" => match &e.target_id {
            Some(id) => format!("downloaded evidence bundle {id}"),
            None => "downloaded an evidence bundle".to_owned(),
        },
        "audit.exported" => match d("rows") {
            Some(rows) => format!("exported the audit log ({rows} rows)"),
            None => "exported the audit log".to_owned(),
        },
        "audit_pack.requested" => "asked for an evidence pack".to_owned(),
        "audit_pack.downloaded" => "downloaded an evidence pack".to_owned(),
        "site.keys_changed" => "changed a site's appliance key".to_owned(),
        "todo.acknowledged" => format!(
            "acknowledged {} on {}: \u{201c}{}\u{201d}",
            or("check_type", "a check"),
            or("host", "a host"),
            or("note", "")
        ),
        other => format!("did {other}"),
    };
    format!("{who} {what}")
}

/// `#audit-rows`' rows: the time, what happened in a sentence (with the
/// raw entry behind an expander) and the address.
pub fn audit_rows(entries: &[Row]) -> Markup {
    html! {
        @for e in entries {
            tr.audit-row data-id=(e.id) data-action=(e.action) {
                td { time datetime=(e.created_at.to_rfc3339()) { (when_exact(e.created_at)) } }
                td {
                    div.audit-sentence { (sentence(e)) }
                    details.audit-raw {
                        summary.small { "Details" span.sr-only { " of entry " (e.id) } }
                        dl.kv.small {
                            dt { "Action" } dd.mono { (e.action) }
                            dt { "By" } dd { (e.actor_email.as_deref().unwrap_or("—")) }
                            @if let Some(t) = &e.target_type {
                                dt { "Target" } dd { (t) @if let Some(id) = &e.target_id { " " span.mono { (id) } } }
                            }
                            @let details = details_text(&e.details);
                            @if !details.is_empty() { dt { "Details" } dd.mono { (details) } }
                            @if let Some(ua) = &e.user_agent { dt { "Browser" } dd { (ua) } }
                        }
                    }
                }
                td.mono.small { (e.ip.map(|ip| ip.to_string()).unwrap_or_default()) }
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

    fn entry(action: &str, name: Option<&str>, details: serde_json::Value) -> Row {
        Row {
            id: 1,
            created_at: chrono::Utc::now(),
            actor_user_id: None,
            actor_email: Some("james@oak.example".into()),
            action: action.into(),
            target_type: None,
            target_id: None,
            ip: None,
            user_agent: None,
            details,
            actor_name: name.map(str::to_owned),
        }
    }

    #[test]
    fn entries_read_as_sentences() {
        use serde_json::json;
        let cases = [
            (
                entry("auth.password_set", Some("James Chen"), json!({})),
                "James Chen changed their password",
            ),
            (
                entry(
                    "transfer.cancelled",
                    Some("Dr. Maria Santos"),
                    json!({"to_partner": "Cascade Medical IT"}),
                ),
                "Dr. Maria Santos cancelled the transfer to Cascade Medical IT",
            ),
            (
                entry(
                    "user.role_changed",
                    None,
                    json!({"email": "v@oak.example", "from": "viewer", "to": "admin"}),
                ),
                "james@oak.example changed v@oak.example from viewer to admin",
            ),
            (
                entry(
                    "auth.signin_succeeded",
                    Some("Ann"),
                    json!({"method": "magic_link", "second_factor": "passkey"}),
                ),
                "Ann signed in (magic_link, then passkey)",
            ),
            (entry("something.new", Some("Ann"), json!({})), "Ann did something.new"),
            (entry("api_token.created", Some("Ann"), json!({})), "Ann created an API token"),
        ];
        for (e, want) in cases {
            assert_eq!(sentence(&e), want);
        }
        let mut system = entry("transfer.completed", None, json!({}));
        system.actor_email = None;
        assert_eq!(sentence(&system), "The portal completed the transfer");
    }

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
