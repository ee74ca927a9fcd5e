//! The compliance score: one definition for the dashboard, site pages,
//! history and monthly reports (docs/EVIDENCE.md, the compliance score).
//!
//! Callers tally the latest status of each (site, check, host) in their
//! window and ask [`score`] for the number; [`colour`] turns it into the
//! traffic light every view shows. Keeping the arithmetic and thresholds here
//! means the dashboard and a PDF report can never disagree.

use super::bundle::CheckStatus;

/// Counts of check results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Checks that passed.
    pub passed: u64,
    /// Checks that failed.
    pub failed: u64,
    /// Checks with a warning or error.
    pub warnings: u64,
}

impl Tally {
    /// All checks counted.
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.warnings
    }

    /// Counts one more result.
    pub fn add(&mut self, status: CheckStatus) {
        match status {
            CheckStatus::Pass => self.passed += 1,
            CheckStatus::Fail => self.failed += 1,
            CheckStatus::Warn => self.warnings += 1,
        }
    }

    /// Adds another tally's counts to this one (e.g. sites into an org).
    pub fn merge(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.warnings += other.warnings;
    }
}

impl Extend<CheckStatus> for Tally {
    fn extend<I: IntoIterator<Item = CheckStatus>>(&mut self, statuses: I) {
        for status in statuses {
            self.add(status);
        }
    }
}

impl FromIterator<CheckStatus> for Tally {
    fn from_iter<I: IntoIterator<Item = CheckStatus>>(statuses: I) -> Self {
        let mut tally = Tally::default();
        tally.extend(statuses);
        tally
    }
}

/// The compliance score in percent, rounded to one decimal (half up), or
/// `None` when nothing was checked: no data is neither 0 nor 100.
///
/// Warnings count towards the total but not as passed, so an unverifiable
/// control lowers the score rather than being ignored.
pub fn score(t: &Tally) -> Option<f64> {
    let total = u128::from(t.total());
    if total == 0 {
        return None;
    }
    // Exact integer rounding to tenths of a percent, so boundaries such as
    // 94.95 → 95.0 do not depend on floating-point representation.
    let tenths = (u128::from(t.passed) * 2000 + total) / (2 * total);
    // tenths ≤ 1000, so the conversion is exact.
    Some(f64::from(u32::try_from(tenths).unwrap_or(1000)) / 10.0)
}

/// A score as people read it: `96.5%`, `100%` (a whole number without
/// its `.0`), or `no_data` when nothing was checked. Every view, PDF and
/// email prints scores with this, each choosing its own no-data words
/// (an em dash in tables, "No data" in the PDF, "no data" in prose).
pub fn text(score: Option<f64>, no_data: &str) -> String {
    match score {
        Some(s) if s.fract() == 0.0 => format!("{s:.0}%"),
        Some(s) => format!("{s:.1}%"),
        None => no_data.to_owned(),
    }
}

/// Traffic-light band of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// 95 or more.
    Green,
    /// 80 up to 95.
    Amber,
    /// Below 80.
    Red,
    /// Nothing was checked.
    NoData,
}

/// The band for a score from [`score`]: ≥95 green, ≥80 amber, else red.
pub fn colour(score: Option<f64>) -> Colour {
    match score {
        Some(s) if s >= 95.0 => Colour::Green,
        Some(s) if s >= 80.0 => Colour::Amber,
        // NaN cannot come from `score`; treat it as no data, not as red.
        Some(s) if s.is_finite() => Colour::Red,
        _ => Colour::NoData,
    }
}

impl Colour {
    /// CSS class the views put on a score badge.
    pub fn css_class(self) -> &'static str {
        match self {
            Colour::Green => "score-green",
            Colour::Amber => "score-amber",
            Colour::Red => "score-red",
            Colour::NoData => "score-none",
        }
    }

    /// Words shown next to the score, so colour is never the only signal.
    pub fn label(self) -> &'static str {
        match self {
            // A share of checks is no verdict on the practice: "compliant"
            // is for the controls' standing alone (`Standing::label`).
            Colour::Green => "Most checks pass",
            Colour::Amber => "At risk",
            Colour::Red => "Non-compliant",
            Colour::NoData => "No data",
        }
    }
}

/// Where one HIPAA control stands, from the latest results of its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlState {
    /// Every check passed.
    Met,
    /// No check failed, but one could not be confirmed (a warning).
    AtRisk,
    /// A check failed.
    Failing,
}

impl ControlState {
    pub fn of(t: &Tally) -> Option<ControlState> {
        if t.failed > 0 {
            Some(ControlState::Failing)
        } else if t.warnings > 0 {
            Some(ControlState::AtRisk)
        } else if t.passed > 0 {
            Some(ControlState::Met)
        } else {
            None
        }
    }
}

/// The practice's (or a site's) HIPAA controls, counted by where they
/// stand: what every headline leads with. Checks with no control
/// (`Unmapped`) are no safeguard, so they are not counted here, but a
/// failing or unconfirmed one still keeps the standing at "needs action".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Controls {
    pub passed: u64,
    pub failed: u64,
    pub at_risk: u64,
    /// Controls the evidence named before but with no result in the
    /// window.
    pub no_data: u64,
    /// A check without a control failed or could not be confirmed.
    pub unmapped_issue: bool,
}

/// Where the whole stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Every control with data passed, and nothing else failed.
    AllControlsMet,
    /// A control failed or is at risk (or an unmapped check did).
    NeedsAction,
    /// Nothing was checked.
    NoData,
}

impl Controls {
    /// Counts `(control, tally)` groups; `control` None is unmapped.
    /// `known` are the controls the evidence has named at all.
    pub fn of<'a>(
        groups: impl IntoIterator<Item = (Option<&'a str>, Tally)>,
        known: impl IntoIterator<Item = &'a str>,
    ) -> Controls {
        let mut c = Controls::default();
        let mut seen = std::collections::BTreeSet::new();
        for (control, tally) in groups {
            let state = ControlState::of(&tally);
            let Some(control) = control else {
                c.unmapped_issue |=
                    matches!(state, Some(ControlState::Failing | ControlState::AtRisk));
                continue;
            };
            seen.insert(control);
            match state {
                Some(ControlState::Met) => c.passed += 1,
                Some(ControlState::AtRisk) => c.at_risk += 1,
                Some(ControlState::Failing) => c.failed += 1,
                None => c.no_data += 1,
            }
        }
        let mut unseen: std::collections::BTreeSet<&str> = known.into_iter().collect();
        unseen.retain(|k| !seen.contains(k));
        c.no_data += u64::try_from(unseen.len()).unwrap_or(u64::MAX);
        c
    }

    /// Controls counted.
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.at_risk + self.no_data
    }

    /// Controls that need something done.
    pub fn need_action(&self) -> u64 {
        self.failed + self.at_risk
    }

    pub fn standing(&self) -> Standing {
        if self.need_action() > 0 || self.unmapped_issue {
            Standing::NeedsAction
        } else if self.passed == 0 {
            Standing::NoData
        } else {
            Standing::AllControlsMet
        }
    }

    /// The headline: "7 of 10 HIPAA safeguards met · 3 need action".
    pub fn headline(&self) -> String {
        let total = self.total();
        if total == 0 {
            return if self.unmapped_issue {
                "No HIPAA safeguard named by the evidence · checks need action".to_owned()
            } else {
                "No HIPAA safeguards checked".to_owned()
            };
        }
        let noun = if total == 1 { "safeguard" } else { "safeguards" };
        let mut out = format!("{} of {total} HIPAA {noun} met", self.passed);
        match self.need_action() {
            0 => {}
            1 => out.push_str(" · 1 needs action"),
            n => out.push_str(&format!(" · {n} need action")),
        }
        if self.no_data > 0 {
            out.push_str(&format!(" · {} without recent data", self.no_data));
        }
        out
    }
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::AllControlsMet => "all_controls_met",
            Standing::NeedsAction => "needs_action",
            Standing::NoData => "no_data",
        }
    }

    /// The only words that say the practice is compliant, and only when it is.
    pub fn label(self) -> &'static str {
        match self {
            Standing::AllControlsMet => "All safeguards met",
            Standing::NeedsAction => "Needs action",
            Standing::NoData => "No data",
        }
    }

    pub fn colour(self) -> Colour {
        match self {
            Standing::AllControlsMet => Colour::Green,
            Standing::NeedsAction => Colour::Red,
            Standing::NoData => Colour::NoData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(passed: u64, failed: u64, warnings: u64) -> Tally {
        Tally { passed, failed, warnings }
    }

    #[test]
    fn no_checks_means_no_data() {
        assert_eq!(score(&Tally::default()), None);
        assert_eq!(colour(None), Colour::NoData);
        assert_eq!(Colour::NoData.css_class(), "score-none");
        assert_eq!(Colour::NoData.label(), "No data");
    }

    #[test]
    fn rounds_to_one_decimal() {
        assert_eq!(score(&tally(2, 1, 0)), Some(66.7));
        assert_eq!(score(&tally(1, 2, 0)), Some(33.3));
        assert_eq!(score(&tally(1, 0, 0)), Some(100.0));
        assert_eq!(score(&tally(0, 3, 0)), Some(0.0));
        assert_eq!(score(&tally(1, 7, 0)), Some(12.5));
        // 1/16 = 6.25 and 1899/2000 = 94.95: halves round up.
        assert_eq!(score(&tally(1, 15, 0)), Some(6.3));
        assert_eq!(score(&tally(1899, 101, 0)), Some(95.0));
        assert_eq!(score(&tally(u64::MAX / 4, u64::MAX / 4, 0)), Some(50.0));
    }

    #[test]
    fn warnings_count_in_total_not_in_passed() {
        assert_eq!(score(&tally(1, 0, 1)), Some(50.0));
        assert_eq!(score(&tally(0, 0, 4)), Some(0.0));
        assert_eq!(colour(score(&tally(0, 0, 4))), Colour::Red);
    }

    #[test]
    fn colour_boundaries() {
        for (s, c) in [
            (100.0, Colour::Green),
            (95.0, Colour::Green),
            (94.9, Colour::Amber),
            (80.0, Colour::Amber),
            (79.9, Colour::Red),
            (0.0, Colour::Red),
        ] {
            assert_eq!(colour(Some(s)), c, "{s}");
        }
        assert_eq!(colour(Some(f64::NAN)), Colour::NoData);
        // Scores from real tallies land in the same bands.
        assert_eq!(colour(score(&tally(19, 1, 0))), Colour::Green); // 95.0
        assert_eq!(colour(score(&tally(949, 51, 0))), Colour::Amber); // 94.9
        assert_eq!(colour(score(&tally(4, 1, 0))), Colour::Amber); // 80.0
        assert_eq!(colour(score(&tally(799, 201, 0))), Colour::Red); // 79.9
    }

    #[test]
    fn scores_read_as_percent_with_one_decimal_at_most() {
        assert_eq!(text(Some(96.5), "-"), "96.5%");
        assert_eq!(text(Some(100.0), "-"), "100%");
        assert_eq!(text(Some(0.0), "-"), "0%");
        assert_eq!(text(score(&tally(2, 1, 0)), "-"), "66.7%");
        assert_eq!(text(None, "No data"), "No data");
        assert_eq!(text(None, "—"), "—");
    }

    #[test]
    fn classes_and_labels() {
        let all = [Colour::Green, Colour::Amber, Colour::Red, Colour::NoData];
        let classes: Vec<_> = all.iter().map(|c| c.css_class()).collect();
        assert_eq!(classes, ["score-green", "score-amber", "score-red", "score-none"]);
        let labels: Vec<_> = all.iter().map(|c| c.label()).collect();
        assert_eq!(labels, ["Most checks pass", "At risk", "Non-compliant", "No data"]);
    }

    #[test]
    fn controls_lead_and_one_failing_control_means_needs_action() {
        let groups = [
            (Some("164.312(a)(2)(iv)"), tally(3, 0, 0)),
            (Some("164.312(d)"), tally(2, 1, 0)),
            (Some("164.308(a)(7)"), tally(1, 0, 1)),
            (None, tally(5, 0, 0)),
        ];
        let known = ["164.312(a)(2)(iv)", "164.312(d)", "164.308(a)(7)", "164.312(e)(1)"];
        let c = Controls::of(groups, known);
        assert_eq!((c.passed, c.failed, c.at_risk, c.no_data, c.total()), (1, 1, 1, 1, 4));
        assert_eq!(c.standing(), Standing::NeedsAction);
        assert_eq!(
            c.headline(),
            "1 of 4 HIPAA safeguards met · 2 need action · 1 without recent data"
        );
        // 97.9% of checks passing is still not "compliant" with a control failing.
        assert_eq!(colour(score(&tally(47, 1, 0))), Colour::Green);
        assert_ne!(Colour::Green.label(), Standing::AllControlsMet.label());

        let all = Controls::of([(Some("a"), tally(2, 0, 0)), (Some("b"), tally(1, 0, 0))], []);
        assert_eq!(all.standing(), Standing::AllControlsMet);
        assert_eq!(all.headline(), "2 of 2 HIPAA safeguards met");
        assert_eq!(Standing::AllControlsMet.as_str(), "all_controls_met");
        let unmapped = Controls::of([(Some("a"), tally(2, 0, 0)), (None, tally(0, 1, 0))], []);
        assert_eq!(unmapped.standing(), Standing::NeedsAction, "a failing unmapped check counts");
        assert_eq!(Controls::of([], []).standing(), Standing::NoData);
        assert_eq!(
            Controls::of([(Some("a"), tally(0, 1, 0))], []).headline(),
            "0 of 1 HIPAA safeguard met · 1 needs action"
        );
    }

    #[test]
    fn tallies_add_and_merge() {
        let mut a: Tally =
            [CheckStatus::Pass, CheckStatus::Fail, CheckStatus::Warn, CheckStatus::Pass]
                .into_iter()
                .collect();
        assert_eq!(a, tally(2, 1, 1));
        assert_eq!(a.total(), 4);
        a.add(CheckStatus::Fail);
        a.merge(tally(10, 0, 2));
        assert_eq!(a, tally(12, 2, 3));
        assert_eq!(a.total(), 17);
    }
}
