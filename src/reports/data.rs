//! Everything one monthly report says, read from the database in one go.
//!
//! Definitions (also printed in the PDF):
//! - **Score**: the latest status per (site, check, host) as of the month's
//!   end, among the pairs checked during the month; passed / total × 100 to
//!   one decimal, warnings counted in the total ([`crate::evidence::score`]).
//! - **HIPAA control**: the latest results above grouped by the control
//!   they name. A control *passes* when all of its checks passed, *fails*
//!   when any of them failed, and is *at risk* otherwise (warnings, no
//!   failure): counted in the total but neither passed nor failed. Checks
//!   that name no control count in the score only.
//! - **Failing checks**: pairs whose latest result in the month failed,
//!   with the first failure of the streak that is still failing.
//! - **Chain head**: per site, the last bundle received by the month's end
//!   in chain order (highest position with `received_at` before the end).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::Month;
use crate::db::compliance;
pub use crate::db::reports::Figures;
use crate::db::reports::{self as queries, ChainHead, ReportNotification};
use crate::error::{AppError, AppResult};
use crate::evidence::bundle::CheckStatus;
use crate::evidence::score::{self, Tally};
use crate::views::format::DIRECT;

/// Notifications listed in a report; the rest are counted ("and N more").
pub const MAX_NOTIFICATIONS: i64 = 50;

/// A site's row.
#[derive(Debug, Clone)]
pub struct SiteRow {
    pub site_id: Uuid,
    pub name: String,
    pub tally: Tally,
    /// Bundles checked in the month.
    pub evidence_count: i64,
    pub chain_head: Option<ChainHead>,
}

impl SiteRow {
    pub fn score(&self) -> Option<f64> {
        score::score(&self.tally)
    }
}

/// How a HIPAA control stands at the month's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlStatus {
    Passed,
    /// Warnings and no failure.
    AtRisk,
    Failed,
}

impl ControlStatus {
    pub fn label(self) -> &'static str {
        match self {
            ControlStatus::Passed => "Passed",
            ControlStatus::AtRisk => "At risk",
            ControlStatus::Failed => "Failed",
        }
    }
}

/// A HIPAA control's row.
#[derive(Debug, Clone)]
pub struct ControlRow {
    pub control: String,
    /// The latest results of the checks naming it.
    pub tally: Tally,
}

impl ControlRow {
    pub fn status(&self) -> ControlStatus {
        if self.tally.failed > 0 {
            ControlStatus::Failed
        } else if self.tally.warnings > 0 {
            ControlStatus::AtRisk
        } else {
            ControlStatus::Passed
        }
    }
}

/// A check failing at the month's end.
#[derive(Debug, Clone)]
pub struct FailingRow {
    pub site: String,
    pub host: String,
    pub check_type: String,
    pub control: Option<String>,
    /// First failure of the current streak.
    pub since: DateTime<Utc>,
    /// The latest (failing) result in the month.
    pub last_checked: DateTime<Utc>,
}

/// One check on one host that failed at some time in the month, as the
/// report lists it: its failure streaks summed up.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub site: String,
    pub host: String,
    pub check_type: String,
    pub control: Option<String>,
    /// How many times it failed: failure streaks open at some time in the
    /// month (one begun before the month counts).
    pub failures: i64,
    /// The first failing result of the first streak (maybe before the
    /// month).
    pub started: DateTime<Utc>,
    /// The first result that did not fail after the last streak; None:
    /// still failing at the month's end (or so far).
    pub ended: Option<DateTime<Utc>>,
    /// Time spent failing in all, each streak from its first failing
    /// result to its first result that did not fail (or the month's end).
    pub time_failing: chrono::TimeDelta,
}

impl IncidentRow {
    pub fn still_failing(&self) -> bool {
        self.ended.is_none()
    }
}

/// The month's failures in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentCounts {
    /// Failure streaks open at some time in the month.
    pub failures: i64,
    /// Of them, still failing at the month's end (at most one per row).
    pub open: i64,
}

impl IncidentCounts {
    pub fn recovered(&self) -> i64 {
        self.failures - self.open
    }
}

/// One practice's month.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub practice: String,
    /// The partner's name at the month's end (from the completed
    /// transfers, not today's partner), or [`DIRECT`].
    pub partner: String,
    pub month: Month,
    /// The current month, reported so far.
    pub month_to_date: bool,
    /// All sites' latest results.
    pub total: Tally,
    /// Bundles checked in the month, all sites.
    pub evidence_count: i64,
    /// Sites by name: those with evidence in the month, and those that had
    /// reported before but sent nothing this month (no data).
    pub sites: Vec<SiteRow>,
    /// By control id.
    pub controls: Vec<ControlRow>,
    /// Results naming no control.
    pub unmapped: Tally,
    /// By site, check and host.
    pub failing: Vec<FailingRow>,
    /// Every check on a host that failed at any time in the month, by its
    /// first failure.
    pub incidents: Vec<IncidentRow>,
    /// Bundles checked in the month that arrived after it ended (none for
    /// a month to date).
    pub late: queries::MonthEvidence,
    /// The month's notifications collapsed per site, severity and title,
    /// the most severe and frequent first, at most [`MAX_NOTIFICATIONS`].
    pub notifications: Vec<ReportNotification>,
    /// How many such groups there were.
    pub notification_groups: i64,
    /// All notifications of the month.
    pub notifications_total: i64,
    /// When the report's data was complete: the month's end or the arrival
    /// of its last bundle, whichever is later (the PDF's CreationDate, so
    /// the same data give the same bytes).
    pub as_of: DateTime<Utc>,
    /// The practice's zone, in which the PDF shows times.
    pub zone: crate::zone::Tz,
    /// The evidence log's checkpoint for the month, if signed.
    pub log: Option<super::log_copy::LogCopy>,
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl ReportData {
    /// Reads the month; None when no evidence was checked in it (or the
    /// practice does not exist). The bundle counts (per site; their sum is
    /// the month's) are read first, so evidence arriving while the rest is
    /// read makes the stored count differ from the real one and the report
    /// is made again next time.
    pub async fn load(
        db: &impl GenericClient,
        org_id: Uuid,
        month: Month,
        month_to_date: bool,
    ) -> AppResult<Option<ReportData>> {
        let (start, end) = (month.start(), month.end());
        let sites = queries::report_sites(db, org_id, start, end).await?;
        let evidence_count: i64 = sites.iter().map(|s| s.evidence_count).sum();
        if evidence_count == 0 {
            return Ok(None);
        }
        let Some(org) = compliance::org_info(db, org_id).await? else {
            return Ok(None);
        };
        // The partner of that month, not today's: a practice may have moved since.
        let partner = queries::partner_at(db, org_id, end).await?;
        let checks = queries::month_checks(db, org_id, start, end).await?;
        let (notifications, notification_groups, notifications_total) =
            queries::month_notifications(db, org_id, start, end, MAX_NOTIFICATIONS).await?;
        let evidence = queries::month_evidence(db, org_id, start, end).await?;
        let late = match month_to_date {
            true => queries::MonthEvidence { count: 0, last_received: None },
            false => queries::late_evidence(db, org_id, start, end).await?,
        };
        let as_of = match (month_to_date, evidence.last_received) {
            (true, Some(last)) => last,
            (_, last) => last.map_or(end, |l| l.max(end)),
        };
        // A check still failing failed until the month's end, or so far.
        let until = if month_to_date { as_of } else { end };
        let incidents = queries::month_incidents(db, org_id, start, end, until).await?;

        let mut per_site: BTreeMap<Uuid, Tally> = BTreeMap::new();
        let mut controls: BTreeMap<String, Tally> = BTreeMap::new();
        let mut unmapped = Tally::default();
        let mut total = Tally::default();
        let names: BTreeMap<Uuid, &str> =
            sites.iter().map(|s| (s.site_id, s.name.as_str())).collect();
        let mut failing = Vec::new();
        for c in &checks {
            total.add(c.status);
            per_site.entry(c.site_id).or_default().add(c.status);
            match &c.hipaa_control {
                Some(control) => controls.entry(control.clone()).or_default().add(c.status),
                None => unmapped.add(c.status),
            }
            if c.status == CheckStatus::Fail {
                let site = names.get(&c.site_id).copied().ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("a checked site is missing from the report"))
                })?;
                failing.push(FailingRow {
                    site: site.to_owned(),
                    host: c.host.clone(),
                    check_type: c.check_type.clone(),
                    control: c.hipaa_control.clone(),
                    since: c.failing_since.unwrap_or(c.checked_at),
                    last_checked: c.checked_at,
                });
            }
        }
        failing.sort_by(|a, b| {
            (&a.site, &a.check_type, &a.host).cmp(&(&b.site, &b.check_type, &b.host))
        });
        let incidents = incidents
            .into_iter()
            .map(|i| {
                let site = names.get(&i.site_id).copied().unwrap_or("(a former site)");
                IncidentRow {
                    site: site.to_owned(),
                    host: i.host,
                    check_type: i.check_type,
                    control: i.hipaa_control,
                    failures: i.failures,
                    started: i.first_started,
                    ended: i.last_ended,
                    time_failing: chrono::TimeDelta::seconds(i.failing_seconds),
                }
            })
            .collect();

        Ok(Some(ReportData {
            practice: org.name,
            partner: partner.unwrap_or_else(|| DIRECT.to_owned()),
            month,
            month_to_date,
            total,
            evidence_count,
            sites: sites
                .into_iter()
                .map(|s| SiteRow {
                    tally: per_site.get(&s.site_id).copied().unwrap_or_default(),
                    site_id: s.site_id,
                    name: s.name,
                    evidence_count: s.evidence_count,
                    chain_head: s.chain_head,
                })
                .collect(),
            controls: controls
                .into_iter()
                .map(|(control, tally)| ControlRow { control, tally })
                .collect(),
            unmapped,
            failing,
            incidents,
            late,
            notifications,
            notification_groups,
            notifications_total,
            as_of,
            zone: crate::practice::zone_setting(db, org_id).await?.zone,
            log: super::log_copy::load(db, org_id, month, month_to_date).await?,
        }))
    }

    /// The month's failures in all, over every row of [`Self::incidents`].
    pub fn incident_counts(&self) -> IncidentCounts {
        self.incidents.iter().fold(IncidentCounts::default(), |c, i| IncidentCounts {
            failures: c.failures + i.failures,
            open: c.open + i64::from(i.still_failing()),
        })
    }

    /// The overall score; None when no check was counted.
    pub fn overall_score(&self) -> Option<f64> {
        score::score(&self.total)
    }

    pub fn figures(&self) -> Figures {
        let count = |s: ControlStatus| self.controls.iter().filter(|c| c.status() == s).count();
        Figures {
            overall_score: self.overall_score(),
            controls_passed: to_i32(count(ControlStatus::Passed)),
            controls_failed: to_i32(count(ControlStatus::Failed)),
            controls_total: to_i32(self.controls.len()),
            evidence_count: self.evidence_count,
            sites_count: to_i32(self.sites.iter().filter(|s| s.evidence_count > 0).count()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(passed: u64, failed: u64, warnings: u64) -> ControlRow {
        ControlRow { control: "164.312(b)".into(), tally: Tally { passed, failed, warnings } }
    }

    #[test]
    fn a_control_fails_on_any_failure_and_passes_only_when_all_pass() {
        assert_eq!(control(3, 0, 0).status(), ControlStatus::Passed);
        assert_eq!(control(3, 1, 0).status(), ControlStatus::Failed);
        assert_eq!(control(3, 1, 2).status(), ControlStatus::Failed);
        assert_eq!(control(3, 0, 1).status(), ControlStatus::AtRisk);
    }
}
