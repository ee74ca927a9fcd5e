//! The small pieces every page shares, so the dashboard, site, evidence,
//! notification and report pages (and the PDF) show scores, badges, times,
//! counts and HIPAA controls the same way.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::db::compliance::SiteStatus;
use crate::db::transfers::PartnerRef;
use crate::evidence::bundle::CheckStatus;
use crate::evidence::controls::control_name;
use crate::evidence::score::{self, Colour};

/// A score as people read it: `96.5%`, `100%`, or an em dash for no data
/// (never 0 or 100, see docs/EVIDENCE.md).
pub fn score_text(score: Option<f64>) -> String {
    score::text(score, "—")
}

/// The headline KPIs of the dashboard and a site page: the HIPAA controls
/// by where they stand first (coloured by that standing), then the share
/// of checks that passed, said for what it is.
pub fn standing_kpis(
    controls: &crate::evidence::score::Controls,
    tally: &crate::evidence::score::Tally,
    scope: &str,
) -> Markup {
    let standing = controls.standing();
    let colour = standing.colour();
    let score = score::score(tally);
    html! {
        div.kpi.kpi-score id="control-standing" {
            div.kpi-label { "HIPAA safeguards" }
            div.score.(colour.css_class()) {
                (controls.passed) span.kpi-of { " of " (controls.total()) }
            }
            div.kpi-sub {
                span.badge.(colour_badge_class(colour)) { (standing.label()) }
                " " (controls.headline())
            }
        }
        div.kpi id="compliance-score" {
            div.kpi-label { "Checks passing" }
            div.kpi-value { (score_text(score)) }
            div.kpi-sub {
                @if score.is_some() {
                    "Latest result of each check on each host (" (scope) ", 30 days). A failing safeguard matters more."
                } @else { "Nothing checked in 30 days." }
            }
        }
    }
}

/// Where a site's HIPAA controls stand, for tables: "5 of 6" and the
/// standing's badge.
pub fn standing_cell(controls: &crate::evidence::score::Controls) -> Markup {
    let standing = controls.standing();
    let colour = standing.colour();
    html! {
        @if controls.total() > 0 {
            span.score-inline.(colour.css_class()) { (controls.passed) " of " (controls.total()) }
            " "
        }
        span.badge.(colour_badge_class(colour)) { (standing.label()) }
    }
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

/// A moment as shown in tables, in the practice's zone and named:
/// `2026-11-24 10:00 UTC`, `2026-11-24 02:00 PST`.
pub fn when(t: DateTime<Utc>) -> String {
    crate::zone::local(t).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// A moment to the second, for evidence records (practice's zone, named).
pub fn when_exact(t: DateTime<Utc>) -> String {
    crate::zone::local(t).format("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// The name of the zone times are shown in, e.g. `America/Los_Angeles`.
pub fn zone_name() -> &'static str {
    crate::zone::current().name()
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
        _ => crate::zone::local(t).format("%Y-%m-%d").to_string(),
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

/// A control id with its name underneath when known.
pub fn control_label(control: &str) -> Markup {
    html! {
        span.control-id { (control) }
        @if let Some(name) = control_name(control) {
            span.control-name { (name) }
        }
    }
}

/// The practice's name as a file-name part: lower-case ASCII letters and
/// digits joined by single hyphens (`Oak Street Clinic` → `oak-street-clinic`).
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = match c {
            'à'..='å' | 'À'..='Å' => 'a',
            'è'..='ë' | 'È'..='Ë' => 'e',
            'ì'..='ï' | 'Ì'..='Ï' => 'i',
            'ò'..='ö' | 'Ò'..='Ö' | 'ø' | 'Ø' => 'o',
            'ù'..='ü' | 'Ù'..='Ü' => 'u',
            'ñ' | 'Ñ' => 'n',
            'ç' | 'Ç' => 'c',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            if out.len() >= 60 {
                break;
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() { "practice".to_owned() } else { trimmed.to_owned() }
}

/// The words for "no partner": the practice is served by OsirisCare itself.
pub const DIRECT: &str = "OsirisCare (direct)";

/// "Acme IT" or "OsirisCare (direct)" ([`DIRECT`]), as the transfer pages,
/// mails and the monthly reports name a partner.
pub fn partner_label(p: Option<&PartnerRef>) -> String {
    p.map(|p| p.name.clone()).unwrap_or_else(|| DIRECT.to_owned())
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
}
