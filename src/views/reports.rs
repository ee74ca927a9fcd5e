//! Markup of the reports pages.

use maud::{Markup, html};

use super::format::{plural, score_cell, thousands, when};
use super::layout::{NavUser, Section, page};
use crate::paths;
use crate::reach::Reach;
use crate::reports::{Month, ReportList, ReportSummary};

/// Where a month's PDF is downloaded from the pages.
pub fn pdf_href(month: Month) -> String {
    paths::report_pdf(month)
}

/// `/client/reports`: every month with evidence, newest first.
/// `reach`: an auditor limited to some sites is told why there are none.
pub fn reports_page(user: &NavUser, list: &ReportList, reach: &Reach) -> Markup {
    let reports = &list.reports[..];
    page(
        "Reports",
        Some(user),
        Section::Reports,
        html! {
            div.page-header {
                div {
                    h1 { "Monthly reports" }
                    p.muted {
                        "A PDF per month for your records and auditors: your compliance score, each site, "
                        "HIPAA controls, failing checks, the month's notifications and the evidence-chain "
                        "head of every site, with how to verify it."
                    }
                }
            }
            @if list.not_built > 0 {
                div.alert.alert-info role="status" id="reports-not-built" {
                    "This page was opened from another website, so "
                    (plural(list.not_built, "report was", "reports were"))
                    " not made (making one takes a while). "
                    a href=(paths::REPORTS) { "Show every month" }
                }
            }
            div id="reports-area" {
                @if list.being_made > 0 {
                    // Asks again until every month is made; the region and the
                    // notice are replaced together.
                    div.alert.alert-info role="status" id="reports-being-made"
                        hx-get=(paths::REPORTS) hx-trigger="load delay:2s" hx-select="#reports-area"
                        hx-target="#reports-area" hx-swap="outerHTML" {
                        (plural(list.being_made, "report is", "reports are"))
                        " being made. This list adds them when they are ready; a download of such a month waits for it."
                    }
                }
                section.card id="reports" {
                    @if !reach.all_sites() {
                        div.card-body {
                            div.empty id="reports-empty" {
                                h2 { "Reports cover the whole practice" }
                                p {
                                    "Your auditor access covers some of the practice's sites, and each monthly report "
                                    "covers all of them, so none is shown. An "
                                    a href=(paths::AUDIT_PACKS) { "evidence pack" }
                                    " of your sites holds every bundle, check result and proof instead."
                                }
                            }
                        }
                    } @else if reports.is_empty() && list.not_built == 0 && list.being_made == 0 {
                        div.card-body {
                            div.empty id="reports-empty" {
                                h2 { "No reports yet" }
                                p {
                                    "A report appears here for every month in which your site appliances send evidence. "
                                    "Once the first signed evidence bundles arrive, this month's report is available "
                                    "at once (month to date), and each month's final report is made on the 1st of the next."
                                }
                            }
                        }
                    } @else if reports.is_empty() {
                        // Every month is being made, or was left unmade
                        // (the notice above says which): no empty table.
                        div.card-body {
                            p.muted id="reports-pending" { "The reports appear here as soon as they are made." }
                        }
                    } @else {
                        div.table-wrap tabindex="0" role="region" aria-label="Monthly reports" {
                            table.table.reports-table {
                                thead {
                                    tr {
                                        th { "Month" }
                                        th { "HIPAA safeguards (month end)" }
                                        th { "Checks passing" }
                                        th.num { "Evidence" }
                                        th.num { "Sites" }
                                        th { "SHA-256" }
                                        th { span.sr-only { "Download" } }
                                    }
                                }
                                tbody {
                                    @for r in reports {
                                        (report_row(r))
                                    }
                                }
                            }
                        }
                        div.card-footer.small.muted {
                            "A month's report is made once when the month is over and kept, so the same file (and "
                            "SHA-256) can be downloaded again later; if evidence for that month arrives late, the "
                            "report is made again with it. The current month is a month-to-date report, made fresh "
                            "each time. Downloads are recorded in the audit log. The safeguards are as they stood at "
                            "the month's end: every failure during the month, recovered or not, is listed in its PDF "
                            "under Incidents."
                        }
                    }
                }
            }
        },
    )
}

fn report_row(r: &ReportSummary) -> Markup {
    let sha = hex::encode(r.pdf_sha256);
    let f = &r.figures;
    let at_risk = f.at_risk();
    html! {
        tr.report-row data-month=(r.month) {
            td {
                strong { (r.month.label()) }
                @if r.month_to_date {
                    " " span.badge.badge-blue title="The current month: figures so far" { "Month to date" }
                }
                div.muted.small { "made " (when(r.generated_at)) }
            }
            td {
                @let standing = f.controls().standing();
                span.badge.(super::format::colour_badge_class(standing.colour())) { (standing.label()) }
                @if f.controls_total == 0 {
                    div.muted.small { "none named" }
                } @else {
                    div.small {
                        span { (f.controls_passed) " met" }
                        " · "
                        span.score-red[f.controls_failed > 0] { (f.controls_failed) " failed" }
                        @if at_risk > 0 {
                            " · " span.score-amber { (at_risk) " at risk" }
                        }
                    }
                    div.muted.small { "of " (plural(f.controls_total, "control", "controls")) }
                }
            }
            td { (score_cell(f.overall_score)) }
            td.num { (thousands(f.evidence_count)) }
            td.num { (f.sites_count) }
            td { code.mono title=(sha) { (&sha[..12]) "…" } }
            td.num {
                // The name starts with the words on the button (WCAG 2.5.3).
                a.btn.btn-secondary.btn-sm href=(pdf_href(r.month)) {
                    "Download PDF" span.sr-only { ": the " (r.month.label()) " report" }
                }
            }
        }
    }
}
