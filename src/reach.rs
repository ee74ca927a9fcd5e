//! What a signed-in caller may read of their practice. Owners, admins and
//! viewers reach all of it; an auditor reaches the sites and the period of
//! their grant (`db::auditors`). Every read an auditor may make (dashboard,
//! sites, evidence, proofs, reports, the audit log, packs) goes through one
//! [`Reach`], so the limits are written once:
//!
//! - a site outside the grant is not found (404, as another practice's);
//! - evidence checked outside the period is refused (403, naming the
//!   period), and lists are cut to the period;
//! - the dashboard and a site's page show the current status of the
//!   granted sites (the owner is told so when granting);
//! - monthly reports cover the whole practice, so an auditor limited to
//!   some sites has none, and one with a period has the months it touches;
//! - the audit log shows entries made in the period and since its end up to
//!   today (the auditor's own actions included).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::Role;
use crate::auth::current::CurrentUser;
use crate::db::auditors as grants;
use crate::error::{AppError, AppResult};

/// A site id that is not one of the caller's practice (or, for an auditor,
/// not one of their grant's).
pub fn no_such_site() -> AppError {
    AppError::NotFound("no such site in your practice".into())
}

/// A site id the operator gave (on the command line) that names no site.
pub fn no_site_with_id(site_id: Uuid) -> AppError {
    AppError::NotFound(format!("no site with id {site_id}"))
}

/// A user id that is not one of the caller's practice.
pub fn no_such_user() -> AppError {
    AppError::NotFound("no such user in your practice".into())
}

/// A bundle id that is not one of the caller's practice (or not of a site
/// the caller may read).
pub fn no_such_bundle() -> AppError {
    AppError::NotFound("no such evidence bundle in your practice".into())
}

/// A time range `[from, to)`; None for an open end.
pub type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The sites and period a caller may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// None: every site of the practice.
    pub sites: Option<Vec<Uuid>>,
    /// First day of evidence (inclusive, UTC).
    pub from: Option<NaiveDate>,
    /// Last day of evidence (inclusive, UTC).
    pub to: Option<NaiveDate>,
    /// Whether the caller is an auditor (whose reads are audited).
    pub auditor: bool,
}

impl Reach {
    /// The whole practice.
    pub fn everything() -> Reach {
        Reach::default()
    }

    /// An auditor's reach from their grant.
    pub fn of_grant(g: &grants::Grant) -> Reach {
        Reach { sites: g.site_ids.clone(), from: g.period_from, to: g.period_to, auditor: true }
    }

    /// The caller's reach: everything for practice roles, the live grant
    /// for an auditor (a 403 when it has just ended).
    pub async fn of(db: &impl GenericClient, user: &CurrentUser) -> AppResult<Reach> {
        if user.role != Role::Auditor {
            return Ok(Reach::everything());
        }
        let grant = grants::live_for_user(db, user.id).await?.ok_or_else(|| {
            AppError::Forbidden(
                "your auditor access has ended; ask the practice to extend it".into(),
            )
        })?;
        Ok(Reach::of_grant(&grant))
    }

    /// Whether the caller may read this site.
    pub fn sees_site(&self, site_id: Uuid) -> bool {
        self.sites.as_ref().is_none_or(|s| s.contains(&site_id))
    }

    /// The site's 404 unless the caller may read it.
    pub fn site(&self, site_id: Uuid) -> AppResult<()> {
        if self.sees_site(site_id) { Ok(()) } else { Err(no_such_site()) }
    }

    /// Whether the caller may read every site of the practice.
    pub fn all_sites(&self) -> bool {
        self.sites.is_none()
    }

    /// The first moment of the period (inclusive).
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.from.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
    }

    /// The end of the period: the start of the day after its last
    /// (exclusive).
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.to
            .and_then(|d| d.checked_add_signed(Duration::days(1)))
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
    }

    /// Whether the period is limited at all.
    pub fn has_period(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// The period in words, e.g. "from 2026-01-01 to 2026-06-30".
    pub fn period_text(&self) -> String {
        match (self.from, self.to) {
            (Some(f), Some(t)) => format!("from {f} to {t}"),
            (Some(f), None) => format!("from {f} on"),
            (None, Some(t)) => format!("up to {t}"),
            (None, None) => "of any date".into(),
        }
    }

    /// For an auditor, what their access covers in a sentence; None for
    /// practice roles.
    pub fn describe(&self) -> Option<String> {
        if !self.auditor {
            return None;
        }
        let sites = match &self.sites {
            None => "every site".to_owned(),
            Some(s) if s.len() == 1 => "1 site".to_owned(),
            Some(s) => format!("{} sites", s.len()),
        };
        Some(match self.has_period() {
            false => format!("It covers {sites} and all of their evidence."),
            true => format!(
                "It covers {sites} and evidence checked {}; the dashboard shows their current status.",
                self.period_text()
            ),
        })
    }

    fn outside_period(&self) -> AppError {
        AppError::Forbidden(format!(
            "your auditor access covers evidence checked {}; this is outside it",
            self.period_text()
        ))
    }

    /// Whether evidence checked at `at` is in the period.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.start().is_none_or(|s| at >= s) && self.end().is_none_or(|e| at < e)
    }

    /// 403 unless evidence checked at `at` is in the period.
    pub fn at(&self, at: DateTime<Utc>) -> AppResult<()> {
        if self.covers(at) { Ok(()) } else { Err(self.outside_period()) }
    }

    /// A requested range `[from, to)` cut to the period. Leaving a bound
    /// out means the period's; a range wholly outside the period is a 403
    /// (an empty range stays empty: it selects nothing either way).
    pub fn clamp(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> AppResult<Range> {
        let from = later(from, self.start());
        let to = earlier(to, self.end());
        // A range that starts after the period ends, or ends before it
        // begins, reaches nothing the caller may read.
        let after_end = matches!((from, self.end()), (Some(f), Some(e)) if f >= e);
        let before_start = matches!((to, self.start()), (Some(t), Some(s)) if t <= s);
        if after_end || before_start {
            return Err(self.outside_period());
        }
        Ok((from, to))
    }

    /// Whether the caller may read a monthly report of `[start, end)`: one
    /// covers every site, so only a reach of every site may, and only for a
    /// month that meets the period.
    pub fn sees_report(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.all_sites()
            && self.start().is_none_or(|s| end > s)
            && self.end().is_none_or(|e| start < e)
    }

    /// 403 unless the caller may read the report of `[start, end)`.
    pub fn report(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> AppResult<()> {
        if !self.all_sites() {
            return Err(AppError::Forbidden(
                "monthly reports cover every site of the practice, and your auditor access \
                 covers some of them; an evidence pack of your sites has everything else"
                    .into(),
            ));
        }
        if !self.sees_report(start, end) {
            return Err(self.outside_period());
        }
        Ok(())
    }

    /// The audit log's lower bound for this caller: the period's start.
    /// (Entries after the period's end stay visible: they record access
    /// to the period's evidence, the auditor's own included.)
    pub fn audit_from(&self, from: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        later(from, self.start())
    }
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn h1() -> Reach {
        Reach {
            sites: Some(vec![Uuid::nil()]),
            from: Some(day("2026-01-01")),
            to: Some(day("2026-06-30")),
            auditor: true,
        }
    }

    #[test]
    fn the_banner_says_what_a_grant_covers() {
        assert_eq!(Reach::everything().describe(), None, "practice roles get no banner line");
        let all = Reach { auditor: true, ..Reach::default() };
        assert_eq!(all.describe().unwrap(), "It covers every site and all of their evidence.");
        assert_eq!(
            h1().describe().unwrap(),
            "It covers 1 site and evidence checked from 2026-01-01 to 2026-06-30; the dashboard \
             shows their current status."
        );
    }

    #[test]
    fn everything_reaches_everything() {
        let r = Reach::everything();
        assert!(r.sees_site(Uuid::new_v4()) && r.covers(at("1999-01-01T00:00:00Z")));
        assert_eq!(r.clamp(None, None).unwrap(), (None, None));
        assert!(r.report(at("2020-01-01T00:00:00Z"), at("2020-02-01T00:00:00Z")).is_ok());
    }

    #[test]
    fn the_period_is_whole_utc_days() {
        let r = h1();
        assert!(r.covers(at("2026-01-01T00:00:00Z")));
        assert!(r.covers(at("2026-06-30T23:59:59Z")));
        assert!(!r.covers(at("2026-07-01T00:00:00Z")));
        assert!(!r.covers(at("2025-12-31T23:59:59Z")));
        assert!(r.at(at("2026-07-01T00:00:00Z")).unwrap_err().to_string().contains("2026-06-30"));
        assert!(r.site(Uuid::nil()).is_ok());
        assert!(matches!(r.site(Uuid::new_v4()), Err(AppError::NotFound(_))));
    }

    #[test]
    fn ranges_are_cut_to_the_period() {
        let r = h1();
        assert_eq!(
            r.clamp(None, None).unwrap(),
            (Some(at("2026-01-01T00:00:00Z")), Some(at("2026-07-01T00:00:00Z")))
        );
        assert_eq!(
            r.clamp(Some(at("2026-03-01T00:00:00Z")), Some(at("2027-01-01T00:00:00Z"))).unwrap(),
            (Some(at("2026-03-01T00:00:00Z")), Some(at("2026-07-01T00:00:00Z")))
        );
        assert!(r.clamp(Some(at("2026-07-01T00:00:00Z")), None).is_err());
        assert!(r.clamp(None, Some(at("2026-01-01T00:00:00Z"))).is_err());
    }

    #[test]
    fn reports_need_every_site_and_a_month_in_the_period() {
        let mut r = h1();
        let (june, july) = (at("2026-06-01T00:00:00Z"), at("2026-07-01T00:00:00Z"));
        assert!(matches!(r.report(june, july), Err(AppError::Forbidden(_))), "some sites only");
        r.sites = None;
        assert!(r.report(june, july).is_ok());
        assert!(r.report(july, at("2026-08-01T00:00:00Z")).is_err());
        assert!(r.report(at("2025-12-01T00:00:00Z"), at("2026-01-01T00:00:00Z")).is_err());
    }
}
