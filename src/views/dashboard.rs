//! The dashboard: the practice's compliance score and counts, its sites, a
//! 30-day trend and the checks failing right now. Also the small pieces
//! every compliance page shares (score, badges, times, HIPAA control names),
//! so the dashboard, site and evidence pages show them the same way.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use super::chart::{self, Point};
use super::layout::{NavUser, Section, page};
use crate::db::compliance::{HistoryDay, OrgInfo, SiteStatus, SiteSummary};
use crate::evidence::bundle::CheckStatus;
use crate::evidence::score::{self, Colour, Tally};

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

/// A score as people read it: `96.5%`, `100%`, or an em dash for no data
/// (never 0 or 100, see DESIGN.md).
pub fn score_text(score: Option<f64>) -> String {
    score::text(score, "—")
}

/// The badge class matching a score band.
pub fn colour_badge_class(colour: Colour) -> &'static str {
    match colour {
        Colour::Green => "badge-green",
        Colour::Amber => "badge-amber",
        Colour::Red => "badge-red",
        Colour::NoData => "badge-gray",
    }
}

/// A score in its colour followed by the band's words, for tables.
pub fn score_cell(score: Option<f64>) -> Markup {
    let colour = score::colour(score);
    html! {
        span.score-inline.(colour.css_class()) { (score_text(score)) }
        " "
        span.badge.(colour_badge_class(colour)) { (colour.label()) }
    }
}

/// A site's reporting status as a badge.
pub fn status_badge(status: SiteStatus) -> Markup {
    let (class, label, hint) = match status {
        SiteStatus::Online => ("badge-green", "Online", "Evidence arrived in the last 24 hours"),
        SiteStatus::Silent => ("badge-amber", "Silent", "No evidence in the last 24 hours"),
        SiteStatus::NoData => ("badge-gray", "No data", "This site has not sent evidence yet"),
    };
    html! { span.badge.(class) title=(hint) { span.dot aria-hidden="true" {} (label) } }
}

/// A check's or bundle's result as a badge.
pub fn result_badge(status: CheckStatus) -> Markup {
    let (class, label) = match status {
        CheckStatus::Pass => ("badge-green", "pass"),
        CheckStatus::Warn => ("badge-amber", "warn"),
        CheckStatus::Fail => ("badge-red", "fail"),
    };
    html! { span.badge.result-badge.(class) { (label) } }
}

/// A moment as shown in tables: `2026-11-24 10:00 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A moment to the second, for evidence records.
pub fn when_exact(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long ago `t` was, in words ("3 h ago"); the future (appliance
/// clocks run a little ahead) reads as "just now".
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s if s < 2 * 86_400 => "yesterday".to_owned(),
        s if s < 30 * 86_400 => format!("{} days ago", s / 86_400),
        _ => t.format("%Y-%m-%d").to_string(),
    }
}

/// A `<time>` element reading relatively, exact on hover.
pub fn time_ago(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) title=(when_exact(t)) { (ago(t, now)) } }
}

/// A whole number with thousands separators: `1,234`.
pub fn thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 bundle` / `2 bundles`.
pub fn plural(n: impl Into<i128> + Copy, one: &str, many: &str) -> String {
    let count: i128 = n.into();
    format!("{} {}", thousands(count), if count == 1 { one } else { many })
}

/// The HIPAA Security Rule's name for a citation appliances commonly
/// report, so a practice manager need not look it up.
pub fn control_name(control: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("164.308(a)(1)(ii)(A)", "Risk analysis"),
        ("164.308(a)(1)(ii)(B)", "Risk management"),
        ("164.308(a)(1)(ii)(D)", "Information system activity review"),
        ("164.308(a)(3)(ii)(C)", "Termination procedures"),
        ("164.308(a)(4)(ii)(B)", "Access authorization"),
        ("164.308(a)(5)(ii)(A)", "Security reminders"),
        ("164.308(a)(5)(ii)(B)", "Protection from malicious software"),
        ("164.308(a)(5)(ii)(C)", "Log-in monitoring"),
        ("164.308(a)(5)(ii)(D)", "Password management"),
        ("164.308(a)(6)(ii)", "Response and reporting"),
        ("164.308(a)(7)(ii)(A)", "Data backup plan"),
        ("164.308(a)(7)(ii)(B)", "Disaster recovery plan"),
        ("164.310(a)(1)", "Facility access controls"),
        ("164.310(b)", "Workstation use"),
        ("164.310(c)", "Workstation security"),
        ("164.310(d)(1)", "Device and media controls"),
        ("164.310(d)(2)(iv)", "Data backup and storage"),
        ("164.312(a)(1)", "Access control"),
        ("164.312(a)(2)(i)", "Unique user identification"),
        ("164.312(a)(2)(ii)", "Emergency access procedure"),
        ("164.312(a)(2)(iii)", "Automatic logoff"),
        ("164.312(a)(2)(iv)", "Encryption and decryption"),
        ("164.312(b)", "Audit controls"),
        ("164.312(c)(1)", "Integrity"),
        ("164.312(c)(2)", "Mechanism to authenticate ePHI"),
        ("164.312(d)", "Person or entity authentication"),
        ("164.312(e)(1)", "Transmission security"),
        ("164.312(e)(2)(i)", "Integrity controls"),
        ("164.312(e)(2)(ii)", "Encryption"),
    ];
    NAMES.iter().find(|(id, _)| *id == control).map(|(_, name)| *name)
}

/// A control id with its name underneath when known.
pub fn control_label(control: &str) -> Markup {
    html! {
        span.control-id { (control) }
        @if let Some(name) = control_name(control) {
            span.control-name { (name) }
        }
    }
}

/// The points of a score chart from daily history.
pub fn history_points(history: &[HistoryDay]) -> Vec<Point> {
    history
        .iter()
        .map(|d| Point { date: d.date, score: d.score(), checks: d.tally.total() })
        .collect()
}

// ---------------------------------------------------------------------------
// The dashboard
// ---------------------------------------------------------------------------

/// A check failing right now, as the dashboard lists it.
#[derive(Debug, Clone)]
pub struct FailingCheck {
    pub site_id: Uuid,
    pub clinic_name: String,
    pub host: String,
    pub check_type: String,
    /// The control id or `Unmapped`.
    pub hipaa_control: String,
    /// When the check turned to failing (its latest status change).
    pub since: DateTime<Utc>,
    /// When it was last checked (still failing).
    pub last_checked: DateTime<Utc>,
    /// The bundle that carried the latest result.
    pub bundle_id: String,
}

/// Everything the dashboard shows.
pub struct DashboardData<'a> {
    pub org: &'a OrgInfo,
    pub sites: &'a [SiteSummary],
    /// The practice's current tally over all sites.
    pub total: Tally,
    /// The practice's daily tallies, oldest first.
    pub history: &'a [HistoryDay],
    /// The failing checks shown (the oldest failures first).
    pub failing: &'a [FailingCheck],
    /// All failing checks, of which `failing` may be the first few.
    pub failing_total: usize,
    pub now: DateTime<Utc>,
}

impl DashboardData<'_> {
    fn has_evidence(&self) -> bool {
        self.sites.iter().any(|s| s.evidence_count > 0)
    }
}

/// Days the dashboard trend covers.
pub const TREND_DAYS: u32 = 30;

/// The dashboard page.
pub fn dashboard_page(user: &NavUser, data: &DashboardData) -> Markup {
    page(
        "Dashboard",
        Some(user),
        Section::Dashboard,
        html! {
            div.page-header {
                div {
                    h1 { "Welcome, " span id="user-name" { (user.name) } }
                    p.muted {
                        (data.org.name)
                        @if let Some(partner) = &data.org.partner_name {
                            " · managed by " (partner)
                        }
                        " · HIPAA compliance over the last 30 days"
                    }
                }
                div.page-actions {
                    a.btn.btn-secondary href="/client/evidence" { "Browse evidence" }
                }
            }
            (kpis(data.total))
            @if data.has_evidence() {
                (trend_card(data))
            } @else {
                (no_evidence_card(data.sites.is_empty()))
            }
            div.stack {
                (sites_card(data))
                @if data.has_evidence() {
                    (failing_card(data))
                }
            }
        },
    )
}

fn kpis(total: Tally) -> Markup {
    let score = score::score(&total);
    let colour = score::colour(score);
    html! {
        div.kpis.kpis-dashboard {
            div.kpi.kpi-score id="compliance-score" {
                div.kpi-label { "Compliance score" }
                div.score.(colour.css_class()) { (score_text(score)) }
                div.kpi-sub {
                    span.badge.(colour_badge_class(colour)) { (colour.label()) }
                    " "
                    @if score.is_some() { "all sites, last 30 days" } @else { "nothing checked in 30 days" }
                }
            }
            div.kpi {
                div.kpi-label { "Checks" }
                div.kpi-value { (thousands(total.total())) }
                div.kpi-sub { "Checks and hosts reporting" }
            }
            div.kpi.kpi-pass {
                div.kpi-label { "Passed" }
                div.kpi-value { (thousands(total.passed)) }
                div.kpi-sub { "Controls in place" }
            }
            div.kpi.kpi-fail {
                div.kpi-label { "Failed" }
                div.kpi-value.score-red[total.failed > 0] { (thousands(total.failed)) }
                div.kpi-sub { "Need attention" }
            }
            div.kpi.kpi-warn {
                div.kpi-label { "Warnings" }
                div.kpi-value.score-amber[total.warnings > 0] { (thousands(total.warnings)) }
                div.kpi-sub { "Could not be confirmed" }
            }
        }
    }
}

fn no_evidence_card(no_sites: bool) -> Markup {
    html! {
        section.card.section-gap id="no-evidence" {
            div.card-body {
                div.empty {
                    h2 { "No evidence yet" }
                    @if no_sites {
                        p { "Your practice has no sites registered yet. Once your IT partner installs an OsirisCare appliance at a clinic, it appears here." }
                    }
                    p.small {
                        "When your site appliances send their first signed evidence bundles, your compliance score, "
                        "a 30-day trend and any failing checks appear here."
                    }
                }
            }
        }
    }
}

fn trend_card(data: &DashboardData) -> Markup {
    let points = history_points(data.history);
    html! {
        section.card.section-gap id="trend" {
            div.card-header {
                h2.card-title { "Compliance trend" }
                span.muted.small { "Last " (TREND_DAYS) " days · all sites" }
            }
            div.card-body {
                (chart::score_chart("trend-chart", "Practice compliance score, last 30 days", &points))
            }
        }
    }
}

fn sites_card(data: &DashboardData) -> Markup {
    html! {
        section.card id="sites" {
            div.card-header {
                h2.card-title { "Sites" }
                span.muted.small { (plural(data.sites.len() as i128, "site", "sites")) }
            }
            @if data.sites.is_empty() {
                div.card-body { div.empty { "No sites yet." } }
            } @else {
                div.table-wrap {
                    table.table.sites-table {
                        thead {
                            tr {
                                th { "Clinic" }
                                th { "Status" }
                                th { "Score" }
                                th.num { "Evidence" }
                                th { "Last evidence" }
                                th { span.sr-only { "Open" } }
                            }
                        }
                        tbody {
                            @for s in data.sites {
                                tr.site-row data-site-id=(s.site_id) {
                                    td { a.strong href={ "/client/sites/" (s.site_id) } { (s.clinic_name) } }
                                    td { (status_badge(s.status)) }
                                    td { (score_cell(s.score())) }
                                    td.num { (thousands(s.evidence_count)) }
                                    td {
                                        @if let Some(t) = s.last_evidence { (time_ago(t, data.now)) }
                                        @else { span.muted { "never" } }
                                    }
                                    td.num { a.btn.btn-secondary.btn-sm href={ "/client/sites/" (s.site_id) } { "View site" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn failing_card(data: &DashboardData) -> Markup {
    html! {
        section.card id="failing-checks" {
            div.card-header {
                h2.card-title { "Failing checks" }
                @if data.failing_total > 0 {
                    span.badge.badge-red { (thousands(data.failing_total as i128)) " failing" }
                }
            }
            @if data.failing.is_empty() {
                div.card-body {
                    div.all-clear {
                        span.all-clear-mark aria-hidden="true" { "✓" }
                        div {
                            strong { "Nothing is failing right now." }
                            p.muted.small { "Every check's latest result in the last 30 days passed or raised a warning." }
                        }
                    }
                }
            } @else {
                div.table-wrap {
                    table.table {
                        thead {
                            tr {
                                th { "Site" }
                                th { "Host" }
                                th { "Check" }
                                th { "HIPAA control" }
                                th { "Failing since" }
                                th { span.sr-only { "Evidence" } }
                            }
                        }
                        tbody {
                            @for f in data.failing {
                                tr.failing-row {
                                    td { a href={ "/client/sites/" (f.site_id) } { (f.clinic_name) } }
                                    td.mono { (f.host) }
                                    td { code { (f.check_type) } }
                                    td { (control_label(&f.hipaa_control)) }
                                    td {
                                        time datetime=(f.since.to_rfc3339()) title=(when_exact(f.since)) { (when(f.since)) }
                                        div.muted.small { "last checked " (ago(f.last_checked, data.now)) }
                                    }
                                    td.num { a href={ "/client/evidence/" (f.bundle_id) } { "Evidence →" } }
                                }
                            }
                        }
                    }
                }
                @if data.failing_total > data.failing.len() {
                    div.card-footer {
                        "Showing " (data.failing.len()) " of " (thousands(data.failing_total as i128)) ". "
                        a href="/client/evidence?result=fail" { "Browse failing evidence" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_as_percentages_and_no_data_as_a_dash() {
        assert_eq!(score_text(Some(96.5)), "96.5%");
        assert_eq!(score_text(Some(100.0)), "100%");
        assert_eq!(score_text(Some(0.0)), "0%");
        assert_eq!(score_text(None), "—");
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(plural(1, "bundle", "bundles"), "1 bundle");
        assert_eq!(plural(1234, "bundle", "bundles"), "1,234 bundles");
    }

    #[test]
    fn times_read_relatively() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z").unwrap().to_utc();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(ago(at("2026-11-24T12:05:00Z"), now), "just now");
        assert_eq!(ago(at("2026-11-24T11:58:00Z"), now), "2 min ago");
        assert_eq!(ago(at("2026-11-24T09:00:00Z"), now), "3 h ago");
        assert_eq!(ago(at("2026-11-23T09:00:00Z"), now), "yesterday");
        assert_eq!(ago(at("2026-11-20T09:00:00Z"), now), "4 days ago");
        assert_eq!(ago(at("2026-01-02T09:00:00Z"), now), "2026-01-02");
    }

    #[test]
    fn common_controls_have_names() {
        assert_eq!(control_name("164.312(a)(2)(iv)"), Some("Encryption and decryption"));
        assert_eq!(control_name("Unmapped"), None);
    }
}
