//! The "your monthly report is ready" email: a link to the reports page,
//! no attachment (the PDF stays behind the portal's sign-in).

use maud::html;

use super::ReportSummary;
use super::log_copy::LogCopy;
use crate::evidence::score;
use crate::views::emails::Email;

/// The mail for one owner.
pub fn report_ready(
    name: Option<&str>,
    practice: &str,
    report: &ReportSummary,
    link: &str,
    log: Option<&LogCopy>,
) -> Email {
    let greeting = name.map(|n| format!("Hello {n},")).unwrap_or_else(|| "Hello,".to_owned());
    let month = report.month.label();
    let controls = report.figures.controls();
    let standing = controls.standing();
    let band = standing.colour();
    let score = score::text(report.figures.overall_score, "no data");
    let summary = format!(
        "{}: {}. Checks passing: {score} (a secondary figure; one failing safeguard matters more). \
         Evidence bundles: {} from {} site(s).",
        standing.label(),
        controls.headline(),
        report.figures.evidence_count,
        report.figures.sites_count
    );
    let log_text = match log {
        Some(l) => format!(
            "Your evidence log's month-end checkpoint ({} leaves), verbatim. Keep this email: a later \
             checkpoint that is not consistent with it proves the log was rewritten.\n\n{}\n\
             Verifier key:\n{}\n\n{}\n\n",
            l.size,
            l.checkpoint,
            l.vkey,
            l.consistency.sentence()
        ),
        None => "The checkpoint that closes this month is not signed yet; the report in the portal will \
                 carry it.\n\n"
            .to_owned(),
    };
    let text = format!(
        "{greeting}\n\nThe {month} HIPAA compliance report for {practice} is ready.\n\n{summary}\n\n\
         Download the PDF from the portal (sign-in required):\n\n{link}\n\n{log_text}\
         You receive this email as the practice owner; turn it off in Settings.\n\n-- OsirisCare\n"
    );
    let colour = match band {
        score::Colour::Green => "#15803d",
        score::Colour::Amber => "#b45309",
        score::Colour::Red => "#b91c1c",
        score::Colour::NoData => "#5b6673",
    };
    let html = html! {
        div style="font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2937; max-width: 560px; margin: 0 auto; padding: 24px;" {
            p style="font-size: 16px;" { (greeting) }
            p style="font-size: 16px;" { "The " strong { (month) } " HIPAA compliance report for " strong { (practice) } " is ready." }
            p style="font-size: 15px;" {
                strong style={ "color: " (colour) ";" } { (standing.label()) } ": " (controls.headline())
                br;
                "Checks passing: " (score) " (a secondary figure; one failing safeguard matters more)"
                br;
                "Evidence bundles: " (report.figures.evidence_count) " from " (report.figures.sites_count) " site(s)"
            }
            p style="margin: 24px 0;" {
                a href=(link) style="background: #0f5e6b; color: #ffffff; padding: 12px 22px; border-radius: 6px; text-decoration: none; font-weight: 600; display: inline-block;" { "Open your reports" }
            }
            p style="font-size: 14px; color: #4b5563;" { "Or paste this link into your browser:" br; a href=(link) style="color: #0f5e6b; word-break: break-all;" { (link) } }
            @if let Some(l) = log {
                p style="font-size: 14px;" {
                    "Your evidence log's month-end checkpoint (" (l.size) " leaves), verbatim. Keep this email: a later checkpoint that is not consistent with it proves the log was rewritten."
                }
                pre style="font-size: 11px; background: #f4f6f8; padding: 10px; white-space: pre-wrap; word-break: break-all;" { (l.checkpoint) }
                p style="font-size: 13px;" { "Verifier key:" br; code style="word-break: break-all;" { (l.vkey) } }
                p style="font-size: 13px;" { (l.consistency.sentence()) }
            }
            p style="font-size: 13px; color: #6b7280;" { "You receive this email as the practice owner; turn it off in Settings." }
        }
    }
    .into_string();
    Email { subject: format!("{practice}: your {month} compliance report is ready"), text, html }
}
