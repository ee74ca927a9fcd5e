//! One site: its score and status, its evidence log card (keys and the
//! practice verification, `views::log`), the latest result of every check
//! grouped by HIPAA control and a 90-day history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::chart;
use super::dashboard::history_points;
use super::format::{control_label, plural, result_badge, status_badge, thousands, time_ago, when};
use super::layout::{NavUser, Section, page};
use crate::db::compliance::{ControlGroup, HistoryDay, SiteSummary};
use crate::evidence::bundle::CheckStatus;
use crate::paths;

/// Days of history the site page charts.
pub const HISTORY_DAYS: u32 = 90;

/// Everything the site page shows.
pub struct SitePageData<'a> {
    pub site: &'a SiteSummary,
    pub controls: &'a [ControlGroup],
    /// The controls by where they stand (the headline).
    pub standing: &'a crate::evidence::score::Controls,
    pub history: &'a [HistoryDay],
    /// When each failing (check, host) turned to failing.
    pub failing_since: &'a HashMap<(String, String), DateTime<Utc>>,
    pub now: DateTime<Utc>,
    /// The "Evidence log" card.
    pub log: Markup,
    /// This site's to-do list.
    pub todo: &'a [crate::todo::TodoItem],
    pub todo_context: super::todo::TodoContext<'a>,
    /// Whether the controls card shows failing checks only.
    pub only_failures: bool,
}

/// The site page.
pub fn site_page(user: &NavUser, data: &SitePageData) -> Markup {
    let site = data.site;
    let title = site.clinic_name.clone();
    page(
        &title,
        Some(user),
        Section::Dashboard,
        html! {
            nav.breadcrumb aria-label="Breadcrumb" {
                a href=(paths::DASHBOARD) { "Dashboard" }
                span.sep aria-hidden="true" { "/" }
                span aria-current="page" { (site.clinic_name) }
            }
            div.page-header {
                div {
                    h1.row { span { (site.clinic_name) } (status_badge(site.status)) }
                    p.muted {
                        (plural(site.evidence_count, "evidence bundle", "evidence bundles"))
                        @if let Some(t) = site.last_evidence {
                            " · last evidence " (time_ago(t, data.now))
                        }
                    }
                }
                div.page-actions {
                    a.btn.btn-secondary href={ (paths::EVIDENCE) "?site_id=" (site.site_id) } { "Browse this site's evidence" }
                }
            }
            div.kpis.kpis-site {
                (super::format::standing_kpis(data.standing, &site.tally, "this site"))
                div.kpi {
                    div.kpi-label { "Passed" }
                    div.kpi-value { (thousands(site.tally.passed)) }
                    div.kpi-sub { "of " (thousands(site.tally.total())) " checks" }
                }
                div.kpi {
                    div.kpi-label { "Failed" }
                    div.kpi-value.score-red[site.tally.failed > 0] { (thousands(site.tally.failed)) }
                    div.kpi-sub { "Need attention" }
                }
                div.kpi {
                    div.kpi-label { "Warnings" }
                    div.kpi-value.score-amber[site.tally.warnings > 0] { (thousands(site.tally.warnings)) }
                    div.kpi-sub { "Could not be confirmed" }
                }
            }
            div.stack {
                (super::todo::todo_card(data.todo, usize::MAX, &data.todo_context, "this site"))
                (data.log)
                section.card id="history" {
                    div.card-header {
                        h2.card-title { "Checks passing, history" }
                        span.muted.small { "Last " (HISTORY_DAYS) " days" }
                    }
                    div.card-body {
                        (chart::score_chart("history-chart", &format!("{}: share of checks passing, last {HISTORY_DAYS} days", site.clinic_name), &history_points(data.history)))
                    }
                }
                (controls_card(data))
            }
        },
    )
}

fn controls_card(data: &SitePageData) -> Markup {
    // Controls with failures first, and failing checks first in each.
    let mut groups: Vec<(&ControlGroup, Vec<&crate::db::compliance::LatestCheck>)> = data
        .controls
        .iter()
        .map(|g| {
            let mut checks: Vec<_> = g
                .checks
                .iter()
                .filter(|c| !data.only_failures || c.status == CheckStatus::Fail)
                .collect();
            // Worst first: failures, then warnings, then passes.
            checks.sort_by_key(|c| std::cmp::Reverse(c.status));
            (g, checks)
        })
        .filter(|(_, checks)| !checks.is_empty())
        .collect();
    groups.sort_by_key(|(g, _)| (g.tally.failed == 0, g.tally.warnings == 0));
    let site_path = paths::site(data.site.site_id);
    html! {
        section.card id="controls" {
            div.card-header {
                h2.card-title { "Controls" }
                span.muted.small { "Latest result per check and host, last 30 days; failures first" }
                nav.check-filter aria-label="Which checks to show" {
                    a href={ (site_path) "#controls" } aria-current=[(!data.only_failures).then_some("true")] { "All checks" }
                    a href={ (site_path) "?only=failures#controls" } aria-current=[data.only_failures.then_some("true")] { "Failures only" }
                }
            }
            @if data.only_failures && groups.is_empty() && !data.controls.is_empty() {
                div.card-body { div.empty { p { strong { "No check is failing at this site." } } } }
            }
            @if data.controls.is_empty() {
                div.card-body {
                    div.empty {
                        p { strong { "No recent evidence from this site." } }
                        p.small { "When the site's appliance sends evidence, each check's latest result appears here, grouped by HIPAA control." }
                    }
                }
            } @else {
                div.table-wrap tabindex="0" role="region" aria-label="Controls" {
                    table.table.controls-table {
                        thead {
                            tr {
                                th { "Check" }
                                th { "Host" }
                                th { "Result" }
                                th { "Checked" }
                                th { span.sr-only { "Evidence" } }
                            }
                        }
                        @for (group, checks) in &groups {
                            tbody.control-group data-control=(group.hipaa_control) {
                                tr.group-row {
                                    th colspan="5" scope="colgroup" {
                                        div.group-head {
                                            div.group-title { (control_label(&group.hipaa_control)) }
                                            div.group-counts {
                                                span.count.count-pass { (group.tally.passed) " passed" }
                                                span.count.count-fail.nonzero[group.tally.failed > 0] { (group.tally.failed) " failed" }
                                                span.count.count-warn.nonzero[group.tally.warnings > 0] { (group.tally.warnings) " warnings" }
                                            }
                                        }
                                    }
                                }
                                @for c in checks {
                                    tr.check-row {
                                        td { code { (c.check_type) } }
                                        td.mono { (c.host) }
                                        td { (result_badge(c.status)) }
                                        td {
                                            (time_ago(c.checked_at, data.now))
                                            @if c.status == CheckStatus::Fail {
                                                @if let Some(since) = data.failing_since.get(&(c.check_type.clone(), c.host.clone())) {
                                                    div.small.score-red { "failing since " (when(*since)) }
                                                }
                                            }
                                        }
                                        td.num { a href=(paths::site_bundle(&c.bundle_id, data.site.site_id)) { "Bundle →" } }
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
