//! The dashboard: the practice's compliance score and counts, its sites, a
//! 30-day trend and the checks failing right now.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::chart::{self, Point};
use super::format::{
    ago, control_label, plural, score_cell, status_badge, thousands, time_ago, when, when_exact,
};
use super::layout::{NavUser, Section, page};
use crate::compliance::FailingCheck;
use crate::db::compliance::{HistoryDay, OrgInfo, SiteSummary};
use crate::evidence::score::Tally;
use crate::paths;

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

/// Everything the dashboard shows.
pub struct DashboardData<'a> {
    pub org: &'a OrgInfo,
    pub sites: &'a [SiteSummary],
    /// The practice's current tally over all sites.
    pub total: Tally,
    /// Its HIPAA controls by where they stand (the headline).
    pub controls: crate::evidence::score::Controls,
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
                    a.btn.btn-secondary href=(paths::EVIDENCE) { "Browse evidence" }
                }
            }
            (kpis(data.total, &data.controls))
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

fn kpis(total: Tally, controls: &crate::evidence::score::Controls) -> Markup {
    html! {
        div.kpis.kpis-dashboard {
            (super::format::standing_kpis(controls, &total, "all sites"))
            div.kpi.kpi-pass {
                div.kpi-label { "Passed" }
                div.kpi-value { (thousands(total.passed)) }
                div.kpi-sub { "of " (thousands(total.total())) " checks" }
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
                h2.card-title { "Checks passing" }
                span.muted.small { "Last " (TREND_DAYS) " days · all sites" }
            }
            div.card-body {
                (chart::score_chart("trend-chart", "Share of checks passing, all sites, last 30 days", &points))
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
                                    td { a.strong href=(paths::site(s.site_id)) { (s.clinic_name) } }
                                    td { (status_badge(s.status)) }
                                    td { (score_cell(s.score())) }
                                    td.num { (thousands(s.evidence_count)) }
                                    td {
                                        @if let Some(t) = s.last_evidence { (time_ago(t, data.now)) }
                                        @else { span.muted { "never" } }
                                    }
                                    td.num { a.btn.btn-secondary.btn-sm href=(paths::site(s.site_id)) { "View site" } }
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
                                    td { a href=(paths::site(f.site_id)) { (f.clinic_name) } }
                                    td.mono { (f.host) }
                                    td { code { (f.check_type) } }
                                    td { (control_label(&f.hipaa_control)) }
                                    td {
                                        time datetime=(f.since.to_rfc3339()) title=(when_exact(f.since)) { (when(f.since)) }
                                        div.muted.small { "last checked " (ago(f.last_checked, data.now)) }
                                    }
                                    td.num { a href=(paths::site_bundle(&f.bundle_id, f.site_id)) { "Evidence →" } }
                                }
                            }
                        }
                    }
                }
                @if data.failing_total > data.failing.len() {
                    div.card-footer {
                        "Showing " (data.failing.len()) " of " (thousands(data.failing_total as i128)) ". "
                        a href={ (paths::EVIDENCE) "?result=fail" } { "Browse failing evidence" }
                    }
                }
            }
        }
    }
}
