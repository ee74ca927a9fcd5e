//! The dashboard: the practice's HIPAA safeguards and check counts, its
//! to-do list (`views::todo`), a 30-day trend and its sites.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::chart::{self, Point};
use super::format::{plural, score_text, status_badge, thousands, time_ago};
use super::layout::{NavUser, Section, page};
use crate::db::compliance::{HistoryDay, OrgInfo, SiteSummary};
use crate::evidence::score::Tally;
use crate::paths;

/// The points of a score chart from daily history.
pub fn history_points(history: &[HistoryDay]) -> Vec<Point> {
    history
        .iter()
        .map(|d| Point {
            date: d.date,
            score: d.score(),
            checks: d.tally.total(),
            failed: d.tally.failed,
        })
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
    /// Each site's controls by where they stand, in the order of `sites`.
    pub site_standings: &'a [crate::evidence::score::Controls],
    /// The practice's daily tallies, oldest first.
    pub history: &'a [HistoryDay],
    /// The to-do list (failures first, the longest-standing first).
    pub todo: &'a [crate::todo::TodoItem],
    pub todo_context: super::todo::TodoContext<'a>,
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
                div.section-gap {
                    (super::todo::todo_card(data.todo, crate::todo::DASHBOARD_ITEMS, &data.todo_context, "all sites"))
                }
                (trend_card(data))
            } @else {
                (no_evidence_card(data.sites.is_empty()))
            }
            div.stack {
                (sites_card(data))
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
                div.table-wrap tabindex="0" role="region" aria-label="Sites" {
                    table.table.sites-table {
                        thead {
                            tr {
                                th { "Clinic" }
                                th { "Status" }
                                th { "HIPAA safeguards" }
                                th { "Checks passing" }
                                th.num { "Evidence" }
                                th { "Last evidence" }
                                th { span.sr-only { "Open" } }
                            }
                        }
                        tbody {
                            @for (s, standing) in data.sites.iter().zip(data.site_standings) {
                                tr.site-row data-site-id=(s.site_id) {
                                    td { a.strong href=(paths::site(s.site_id)) { (s.clinic_name) } }
                                    td { (status_badge(s.status)) }
                                    td { (super::format::standing_cell(standing)) }
                                    td { (score_text(s.score())) }
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
