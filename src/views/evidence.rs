//! The evidence browser and one bundle's detail.
//!
//! The browser is a filter form over `#evidence-results`: htmx swaps only
//! that fragment when a filter changes, and "Load more" appends rows to
//! `#evidence-rows` while replacing `#load-more` out of band.

use crate::evidence::bundle::CheckStatus;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

pub use super::filters::FieldError;
use super::filters::{self, date_fields, filter_errors, invalid};
use super::format::{control_label, plural, result_badge, thousands, when_exact};
use super::layout::{NavUser, Section, page};
use crate::db::compliance::{
    ChainNeighbour, EvidenceCheck, EvidenceDetail, EvidencePage, EvidenceSummary,
};
use crate::paths;

/// The filters exactly as the form (or a typed URL) sent them, so a value
/// that cannot be used is shown back as typed. Empty means "any".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FilterValues {
    pub site_id: String,
    pub check_type: String,
    pub result: String,
    pub hipaa_control: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    pub from: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    pub to: String,
    /// Rows per page; empty for the default.
    pub limit: String,
}

impl FilterValues {
    /// The non-empty values as `(name, value)` pairs, in form order.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        filters::non_empty([
            ("site_id", self.site_id.as_str()),
            ("check_type", &self.check_type),
            ("result", &self.result),
            ("hipaa_control", &self.hipaa_control),
            ("from", &self.from),
            ("to", &self.to),
            ("limit", &self.limit),
        ])
    }

    /// Whether any filter narrows the list (the page size does not).
    pub fn any(&self) -> bool {
        filters::narrows(&self.pairs())
    }

    /// `/client/evidence?…` with these filters and, for the next page, a cursor.
    pub fn url(&self, cursor: Option<&str>) -> String {
        filters::list_url(paths::EVIDENCE, self.pairs(), cursor)
    }
}

/// What the form's selects and suggestions offer.
#[derive(Debug, Clone, Default)]
pub struct FilterOptions {
    pub sites: Vec<(Uuid, String)>,
    pub check_types: Vec<String>,
    pub controls: Vec<String>,
}

/// What the results area shows.
pub enum Results<'a> {
    /// A page of bundles; `next_url` loads the next one.
    Page { page: &'a EvidencePage, next_url: Option<String> },
    /// The filters could not be used.
    Invalid(&'a [FieldError]),
}

/// The evidence browser page.
pub fn evidence_page(
    user: &NavUser,
    values: &FilterValues,
    options: &FilterOptions,
    results: &Results,
) -> Markup {
    page(
        "Evidence",
        Some(user),
        Section::Evidence,
        html! {
            div.page-header {
                div {
                    h1 { "Evidence" }
                    p.muted { "Signed evidence bundles your site appliances sent, newest first. Each one is kept exactly as received." }
                }
                @if matches!(user.role, "owner" | "admin") {
                    a.btn.btn-secondary href=(paths::AUDIT_PACKS) { "Evidence pack for an auditor" }
                }
            }
            div.stack {
                (filter_form(values, options, results))
                (evidence_results(values, results))
            }
        },
    )
}

fn filter_form(values: &FilterValues, options: &FilterOptions, results: &Results) -> Markup {
    let errors: &[FieldError] = match results {
        Results::Invalid(errors) => errors,
        Results::Page { .. } => &[],
    };
    let known_type = options.check_types.contains(&values.check_type);
    html! {
        section.card.filters-card {
            form.filters id="evidence-filters" method="get" action=(paths::EVIDENCE)
                hx-get=(paths::EVIDENCE) hx-target="#evidence-results" hx-swap="outerHTML"
                hx-trigger=(filters::FORM_TRIGGER) hx-indicator="#evidence-loading"
                data-url-filters {
                @if !values.limit.is_empty() {
                    input type="hidden" name="limit" value=(values.limit);
                }
                div.filter-grid {
                    div.field {
                        label for="f-site" { "Site" }
                        select id="f-site" name="site_id" hx-get=(paths::EVIDENCE) hx-include="closest form" hx-trigger=(filters::SELECT_TRIGGER) aria-invalid=[invalid(errors, "site_id").then_some("true")] {
                            option value="" { "All sites" }
                            @for (id, name) in &options.sites {
                                @let id = id.to_string();
                                option value=(id) selected[id == values.site_id] { (name) }
                            }
                        }
                    }
                    div.field {
                        label for="f-check" { "Check" }
                        select id="f-check" name="check_type" hx-get=(paths::EVIDENCE) hx-include="closest form" hx-trigger=(filters::SELECT_TRIGGER) aria-invalid=[invalid(errors, "check_type").then_some("true")] {
                            option value="" { "All checks" }
                            @if !known_type && !values.check_type.is_empty() {
                                option value=(values.check_type) selected { (values.check_type) }
                            }
                            @for t in &options.check_types {
                                option value=(t) selected[*t == values.check_type] { (t) }
                            }
                        }
                    }
                    div.field {
                        label for="f-result" { "Result" }
                        select id="f-result" name="result" hx-get=(paths::EVIDENCE) hx-include="closest form" hx-trigger=(filters::SELECT_TRIGGER) aria-invalid=[invalid(errors, "result").then_some("true")] {
                            option value="" { "Any result" }
                            @for (value, label) in [("pass", "Pass"), ("warn", "Warning"), ("fail", "Fail")] {
                                option value=(value) selected[values.result == value] { (label) }
                            }
                        }
                    }
                    div.field {
                        label for="f-control" { "HIPAA control" }
                        input id="f-control" type="text" name="hipaa_control"
                            hx-get=(paths::EVIDENCE) hx-include="closest form" hx-trigger=(filters::TYPED_TRIGGER) value=(values.hipaa_control)
                            list="f-control-list" placeholder="e.g. 164.312(b)" maxlength="255" autocomplete="off"
                            aria-invalid=[invalid(errors, "hipaa_control").then_some("true")];
                        datalist id="f-control-list" {
                            @for c in &options.controls { option value=(c) {} }
                        }
                    }
                    (date_fields(paths::EVIDENCE, &values.from, &values.to, errors))
                }
                div.filter-actions {
                    button.btn.btn-primary.btn-sm type="submit" { "Apply filters" }
                    a.btn.btn-secondary.btn-sm href=(paths::EVIDENCE) { "Clear" }
                    span.htmx-indicator.muted.small id="evidence-loading" { span.spinner {} " Updating…" }
                }
            }
        }
    }
}

/// `#evidence-results`: the count, the table and "Load more", or why the
/// filters could not be used.
pub fn evidence_results(values: &FilterValues, results: &Results) -> Markup {
    html! {
        section.card id="evidence-results" {
            @match results {
                Results::Invalid(errors) => {
                    (filter_errors(errors, paths::EVIDENCE))
                }
                Results::Page { page, next_url } => {
                    div.card-header {
                        h2.card-title id="evidence-count" data-announce {
                            @if page.total_exact {
                                (plural(page.total, "bundle", "bundles")) " " (if page.total == 1 { "matches" } else { "match" })
                            } @else {
                                "More than " (thousands(page.total)) " bundles match"
                            }
                        }
                        @if values.any() {
                            span.muted.small { "Filtered" }
                        }
                    }
                    @if page.items.is_empty() {
                        div.card-body {
                            div.empty {
                                @if values.any() {
                                    p { strong { "No evidence matches these filters." } }
                                    p.small { "Try a wider date range or clear a filter." }
                                } @else {
                                    p { strong { "No evidence yet" } }
                                    p.small { "Signed bundles appear here as soon as your site appliances send them." }
                                }
                            }
                        }
                    } @else {
                        div.table-wrap tabindex="0" role="region" aria-label="Evidence bundles" {
                            table.table.evidence-table {
                                thead {
                                    tr {
                                        th { "Checked at" }
                                        th { "Site" }
                                        th { "Result" }
                                        th.num { "Checks" }
                                        th.num { "Failed" }
                                        th { "Bundle hash" }
                                        th { span.sr-only { "Details" } }
                                    }
                                }
                                tbody id="evidence-rows" { (evidence_rows(&page.items)) }
                            }
                        }
                        (load_more(next_url.as_deref(), false))
                    }
                }
            }
        }
    }
}

/// The first and last characters of a hex hash: enough to compare by eye.
fn short_hash(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    if hex.len() <= 20 { hex } else { format!("{}…{}", &hex[..12], &hex[hex.len() - 6..]) }
}

/// `#evidence-rows`' rows.
pub fn evidence_rows(items: &[EvidenceSummary]) -> Markup {
    html! {
        @for e in items {
            tr.evidence-row data-result=(e.result.as_str()) {
                td {
                    a.strong href=(paths::site_bundle(&e.bundle_id, e.site_id)) {
                        time datetime=(e.checked_at.to_rfc3339()) { (super::format::when(e.checked_at)) }
                    }
                    div.muted.small.mono { (e.bundle_id) }
                }
                td { a href=(paths::site(e.site_id)) { (e.clinic_name) } }
                td { (result_badge(e.result)) }
                td.num { (thousands(e.checks_count)) }
                td.num.score-red[e.failed_checks > 0] { (thousands(e.failed_checks)) }
                td.mono title=(hex::encode(&e.bundle_hash)) { (short_hash(&e.bundle_hash)) }
                td.num { a href=(paths::site_bundle(&e.bundle_id, e.site_id)) { "Details →" } }
            }
        }
    }
}

/// `#load-more`: the button for the next page, or the end of the list.
/// `oob` marks it for an out-of-band swap beside appended rows.
pub fn load_more(next_url: Option<&str>, oob: bool) -> Markup {
    html! {
        div.load-more id="load-more" hx-swap-oob=[oob.then_some("true")] {
            @if let Some(url) = next_url {
                button.btn.btn-secondary type="button" hx-get=(url) hx-target="#evidence-rows"
                    hx-swap="beforeend" hx-indicator="#load-more-loading" hx-disabled-elt="this" {
                    "Load more"
                }
                span.htmx-indicator.muted.small id="load-more-loading" { span.spinner {} " Loading…" }
            } @else {
                span.muted.small { "End of the list." }
            }
        }
    }
}

/// What a bundle's detail page shows.
pub struct DetailData<'a> {
    pub detail: &'a EvidenceDetail,
    pub checks: &'a [EvidenceCheck],
    pub neighbours: &'a [ChainNeighbour],
    /// Whether the stored signature is the site key's over the stored bytes.
    pub signature_valid: bool,
    /// Where the summary disagrees with the checks.
    pub format_warnings: &'a [String],
    /// Where the bundle is in the practice's evidence log.
    pub log: Option<LogPlace>,
    /// Whether the checks card shows failing checks only.
    pub only_failures: bool,
}

/// A bundle's leaf in the evidence log.
pub struct LogPlace {
    pub index: i64,
    pub logged_at: chrono::DateTime<chrono::Utc>,
    /// Logged when the log was made, after the bundle was received.
    pub backfilled: bool,
}

/// One bundle: where it came from, its integrity values, its checks and
/// its place in the site's chain.
pub fn evidence_detail_page(user: &NavUser, data: &DetailData) -> Markup {
    let d = data.detail;
    let s = &d.summary;
    page(
        &format!("Evidence {}", s.bundle_id),
        Some(user),
        Section::Evidence,
        html! {
            nav.breadcrumb aria-label="Breadcrumb" {
                a href=(paths::EVIDENCE) { "Evidence" }
                span.sep aria-hidden="true" { "/" }
                span aria-current="page" { (s.bundle_id) }
            }
            div.page-header {
                div {
                    h1.row { span.bundle-title { (s.bundle_id) } (result_badge(s.result)) }
                    p.muted {
                        a href=(paths::site(s.site_id)) { (s.clinic_name) }
                        " · checked " (when_exact(s.checked_at))
                    }
                }
                div.page-actions {
                    a.btn.btn-primary id="download" href=(paths::evidence_download(&s.bundle_id, s.site_id)) download {
                        "Download bundle (JSON)"
                    }
                    @if data.log.is_some() {
                        a.btn.btn-secondary id="download-proof" href=(paths::evidence_proof(&s.bundle_id, s.site_id)) download {
                            "Download proof"
                        }
                    }
                }
            }
            @if !data.format_warnings.is_empty() {
                div.alert.alert-warning role="note" id="format-warnings" {
                    strong { "The appliance's summary disagrees with its checks. " }
                    "The bundle is kept exactly as signed; the portal counts the checks below. Tell your IT partner so they can update the appliance."
                    ul {
                        @for w in data.format_warnings { li.mono.small { (w) } }
                    }
                }
            }
            div.grid-2.section-gap {
                section.card {
                    div.card-header { h2.card-title { "Bundle" } }
                    div.card-body {
                        dl.kv {
                            dt { "Site" }
                            dd { a href=(paths::site(s.site_id)) { (s.clinic_name) } }
                            dt { "Checked at" }
                            dd { (when_exact(s.checked_at)) }
                            dt { "Received at" }
                            dd { (when_exact(d.received_at)) }
                            dt { "Result" }
                            dd {
                                (result_badge(s.result)) " "
                                span.small.muted {
                                    (plural(s.checks_count, "check", "checks")) ", "
                                    (thousands(s.failed_checks)) " failed, "
                                    (plural(s.warn_checks, "warning", "warnings"))
                                }
                            }
                            dt { "Chain position" }
                            dd { (thousands(d.chain_position)) }
                            dt { "Evidence log" }
                            dd id="log-place" {
                                @match &data.log {
                                    Some(l) => {
                                        "Leaf " (thousands(l.index)) ", logged " (when_exact(l.logged_at))
                                        @if l.backfilled {
                                            br;
                                            span.small.muted { "Backfilled: this bundle was received before the log existed, so its logged time is the day the log was made, not the day it arrived." }
                                        }
                                    }
                                    None => span.muted { "Not in the evidence log yet" }
                                }
                            }
                            dt { "Signature" }
                            dd id="signature-status" {
                                @if data.signature_valid {
                                    span.badge.badge-green { "Valid" }
                                    " " span.small.muted { "Ed25519, the site appliance's key, over the stored bytes" }
                                } @else {
                                    span.badge.badge-red { "Invalid" }
                                    " " span.small { "The stored signature does not match the stored bytes and the site's key." }
                                }
                            }
                        }
                    }
                }
                section.card {
                    div.card-header { h2.card-title { "Integrity" } }
                    div.card-body {
                        dl.kv.kv-hashes {
                            dt { "Bundle hash" }
                            dd.mono id="bundle-hash" { (hex::encode(&s.bundle_hash)) }
                            dt { "Chain hash" }
                            dd.mono id="chain-hash" { (hex::encode(&d.chain_hash)) }
                            dt { "Previous hash" }
                            dd.mono id="prev-hash" { (hex::encode(&d.prev_chain_hash)) }
                            dt { "Signature" }
                            dd.mono id="signature" { (hex::encode(&d.signature)) }
                        }
                        p.small.muted.hash-note {
                            "SHA-256 of the downloaded file equals the bundle hash; the chain hash links it to the previous bundle."
                        }
                    }
                }
            }
            div.stack {
                (checks_card(data))
                (chain_card(d, data.neighbours))
            }
        },
    )
}

fn checks_card(data: &DetailData) -> Markup {
    let all = data.checks;
    let mut checks: Vec<&EvidenceCheck> =
        all.iter().filter(|c| !data.only_failures || c.status == CheckStatus::Fail).collect();
    // Worst first: failures, then warnings, then passes.
    checks.sort_by_key(|c| std::cmp::Reverse(c.status));
    let d = data.detail;
    let here = paths::site_bundle(&d.summary.bundle_id, d.summary.site_id);
    html! {
        section.card id="checks" {
            div.card-header {
                h2.card-title { "Checks" }
                span.muted.small { (plural(all.len() as i128, "check", "checks")) "; failures first" }
                nav.check-filter aria-label="Which checks to show" {
                    a href={ (here) "#checks" } aria-current=[(!data.only_failures).then_some("true")] { "All checks" }
                    a href={ (here) "&only=failures#checks" } aria-current=[data.only_failures.then_some("true")] { "Failures only" }
                }
            }
            @if checks.is_empty() {
                div.card-body { div.empty { p { strong { "No check failed in this bundle." } } } }
            } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Checks in this bundle" {
                table.table {
                    thead {
                        tr { th { "Check" } th { "Host" } th { "HIPAA control" } th { "Result" } th { "Details" } }
                    }
                    tbody {
                        @for c in &checks {
                            tr.check-row data-result=(c.status.as_str()) {
                                td {
                                    code { (c.check_type) }
                                    @if c.status != CheckStatus::Pass { (remedy(c)) }
                                }
                                td.mono { (c.host) }
                                td {
                                    @if let Some(control) = &c.hipaa_control { (control_label(control)) }
                                    @else { span.muted { "Unmapped" } }
                                }
                                td {
                                    (result_badge(c.status))
                                    @if !c.raw_status.eq_ignore_ascii_case(c.status.as_str()) {
                                        " " span.muted.small.mono title="The appliance's own word" { (c.raw_status) }
                                    }
                                }
                                td {
                                    @if has_details(&c.details) {
                                        details.check-details {
                                            summary { "Show" }
                                            pre { code { (serde_json::to_string_pretty(&c.details).unwrap_or_default()) } }
                                        }
                                    } @else {
                                        span.muted { "—" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            }
        }
    }
}

/// What to do about a failing or warning check of this bundle.
fn remedy(c: &EvidenceCheck) -> Markup {
    let r = crate::evidence::remediation::remediation(&c.check_type);
    let found = crate::evidence::remediation::found(&c.details);
    html! {
        div.check-remedy {
            @if let Some(found) = found { p { strong { "Found: " } (found) } }
            p { strong { "How to fix: " } (r.fix) }
            p.muted.small { (r.fixed_by.usually(None)) }
        }
    }
}

fn has_details(details: &serde_json::Value) -> bool {
    match details {
        serde_json::Value::Null => false,
        serde_json::Value::Object(map) => !map.is_empty(),
        serde_json::Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

fn chain_card(d: &EvidenceDetail, neighbours: &[ChainNeighbour]) -> Markup {
    let before: Vec<&ChainNeighbour> =
        neighbours.iter().filter(|n| n.chain_position < d.chain_position).collect();
    let after: Vec<&ChainNeighbour> =
        neighbours.iter().filter(|n| n.chain_position > d.chain_position).collect();
    html! {
        section.card id="neighbours" {
            div.card-header {
                h2.card-title { "Place in the chain" }
                span.muted.small { (d.summary.clinic_name) "'s chain" }
            }
            div.card-body {
                ol.chain-list {
                    @if d.chain_position == 0 {
                        li.chain-start { span.muted.small { "Start of the chain" } }
                    }
                    @for n in &before { (neighbour(n, d.summary.site_id)) }
                    li.chain-link.current aria-current="true" {
                        span.chain-pos { "#" (d.chain_position) }
                        span.chain-id.mono { (d.summary.bundle_id) }
                        span.chain-time.small.muted { (when_exact(d.summary.checked_at)) }
                        (result_badge(d.summary.result))
                        span.small.strong { "This bundle" }
                    }
                    @for n in &after { (neighbour(n, d.summary.site_id)) }
                    @if after.is_empty() {
                        li.chain-start { span.muted.small { "Newest bundle of the chain" } }
                    }
                }
            }
        }
    }
}

fn neighbour(n: &ChainNeighbour, site_id: Uuid) -> Markup {
    html! {
        li.chain-link {
            span.chain-pos { "#" (n.chain_position) }
            a.chain-id.mono href=(paths::site_bundle(&n.bundle_id, site_id)) { (n.bundle_id) }
            span.chain-time.small.muted { (when_exact(n.checked_at)) }
            (result_badge(n.result))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_only_the_filters_in_use() {
        let empty = FilterValues::default();
        assert_eq!(empty.url(None), "/client/evidence");
        assert!(!empty.any());
        let v = FilterValues {
            result: "fail".into(),
            hipaa_control: "164.312(b)".into(),
            limit: "5".into(),
            ..FilterValues::default()
        };
        assert!(v.any());
        assert_eq!(
            v.url(Some("abc_-")),
            "/client/evidence?result=fail&hipaa_control=164.312%28b%29&limit=5&cursor=abc_-"
        );
        let only_limit = FilterValues { limit: "5".into(), ..FilterValues::default() };
        assert!(!only_limit.any());
    }

    #[test]
    fn hashes_are_shortened_for_tables() {
        assert_eq!(short_hash(&[0xab; 32]), "abababababab…ababab");
        assert_eq!(short_hash(&[1, 2]), "0102");
    }
}
