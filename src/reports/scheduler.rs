//! Makes last month's report for every practice early on the 1st, once
//! across instances, after a [`GRACE`] period for late bundles.
//!
//! Every [`INTERVAL`] (and once at start) each instance looks for active
//! practices with evidence last month and without a `monthly_report` run
//! for it. For each, one
//! transaction claims the run in `scheduler_runs` (`<org id>:<YYYY-MM>`,
//! `INSERT ... ON CONFLICT DO NOTHING`: a concurrent claim waits for ours
//! and then finds the row), makes the report (or takes the cached one),
//! posts a `monthly_report` notification (deduplicated by
//! `monthly_report:<YYYY-MM>`) and puts one email per owner who opted in
//! into the outbox. A practice without evidence last month is left
//! unclaimed, so evidence that arrives late still gets its report.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{Month, email};
use crate::db::compliance;
use crate::db::notifications::{self, NewNotification, Severity};
use crate::db::outbox::{self, NewMail};
use crate::db::reports::{self as queries, MONTHLY_REPORT_JOB};
use crate::db::users::{self, Owners};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;

/// How often the scheduler looks.
pub const INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How long into the 1st (UTC) last month stays open: appliances send the
/// month's last bundles late (queued uploads, clocks, retries), so its
/// report waits until then.
pub const GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// Where the notification and the email point.
pub const REPORTS_PATH: &str = paths::REPORTS;

/// The month whose reports are due at `now`: last month, once [`GRACE`]
/// has passed since this month began; None before that.
pub fn due_month(now: DateTime<Utc>) -> Option<Month> {
    let this = Month::of(now);
    (now >= this.start() + GRACE).then(|| this.prev())
}

/// One pass at `now`: the due month's report ([`due_month`]; none in the
/// grace period) for every active practice that has evidence in it and no
/// run yet. Returns how many practices got their report (and notification)
/// in this pass. Errors of single practices are logged and the others still
/// run; the first one is returned at the end.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> AppResult<usize> {
    let Some(month) = due_month(now) else {
        return Ok(0);
    };
    let key = month.to_string();
    let orgs = {
        let db = state.pool().get().await?;
        queries::orgs_due(&**db, MONTHLY_REPORT_JOB, &key, month.start(), month.end()).await?
    };
    let mut made = 0;
    let mut first_error = None;
    for org_id in orgs {
        match run_for_org(state, org_id, month, now).await {
            Ok(true) => made += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(org = %org_id, month = %month, error = %e, "monthly report failed; retrying next pass");
                first_error.get_or_insert(e);
            }
        }
    }
    if made > 0 {
        state.wake_mailer();
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(made),
    }
}

/// Claims, makes and announces one practice's report; false when another
/// instance already did, or the month has no evidence.
async fn run_for_org(
    state: &AppState,
    org_id: Uuid,
    month: Month,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    // The checkpoint that closes the month goes into the report: sign it
    // first if the integrator has not yet (it does at 00:00 UTC on the 1st).
    crate::evidence::integrator::catch_up(state, org_id, now).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let run_key = format!("{org_id}:{month}");
    if !queries::claim_run(&*tx, MONTHLY_REPORT_JOB, &run_key).await? {
        return Ok(false);
    }
    let Some((report, _)) = super::ensure_cached(&*tx, org_id, month).await? else {
        // Rolled back: the claim goes too, so late evidence is reported later.
        tx.rollback().await?;
        return Ok(false);
    };
    let org = compliance::org_info(&*tx, org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("practice {org_id} vanished")))?;
    let s = &report.summary;
    let controls = s.figures.controls();
    let score = crate::evidence::score::text(s.figures.overall_score, "no data");
    notifications::insert(
        &*tx,
        &NewNotification {
            org_id,
            site_id: None,
            kind: "monthly_report",
            severity: Severity::Info,
            title: format!("Your {} compliance report is ready", month.label()),
            message: format!(
                "{}: {}; checks passing {score}; {} evidence bundle(s) from {} site(s). Download the PDF \
                 from Reports.",
                controls.standing().label(),
                controls.headline(),
                s.figures.evidence_count,
                s.figures.sites_count
            ),
            action_url: Some(REPORTS_PATH.to_owned()),
            action_label: Some("View reports".to_owned()),
            dedupe_key: format!("monthly_report:{month}"),
                check: None,
                repeats: false,
        },
    )
    .await?;
    let link = format!("{}{REPORTS_PATH}", state.config().base_url.trim_end_matches('/'));
    let log = super::log_copy::load(&*tx, org_id, month, false).await?;
    for (address, name) in users::active_owners(&*tx, org_id, Owners::WantingMonthlyReport).await? {
        let mail = email::report_ready(name.as_deref(), &org.name, s, &link, log.as_ref());
        outbox::enqueue(
            &*tx,
            &NewMail {
                to: address,
                subject: mail.subject,
                text: mail.text,
                html: Some(mail.html),
                kind: "monthly_report",
                contains_secret: false,
            },
        )
        .await?;
    }
    queries::finish_run(&*tx, MONTHLY_REPORT_JOB, &run_key).await?;
    tx.commit().await?;
    tracing::info!(org = %org_id, month = %month, "monthly report made and announced");
    Ok(true)
}

/// The running scheduler; `shutdown` stops it.
pub struct SchedulerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SchedulerHandle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs [`run_once`] now and then every [`INTERVAL`] until shut down.
pub fn spawn(state: AppState) -> SchedulerHandle {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let pass = run_once(&state, Utc::now());
            tokio::select! {
                result = pass => match result {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reports = n, "monthly reports made"),
                    Err(e) => tracing::warn!(error = %e, "the monthly report pass failed; retrying later"),
                },
                _ = stopped.changed() => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    SchedulerHandle { stop, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn last_month_is_due_only_after_the_grace_period() {
        let due = |s: &str| due_month(at(s)).map(|m| m.to_string());
        assert_eq!(due("2026-10-01T00:00:00Z"), None);
        assert_eq!(due("2026-10-01T01:59:59Z"), None);
        assert_eq!(due("2026-10-01T02:00:00Z").as_deref(), Some("2026-09"));
        assert_eq!(due("2026-10-31T23:59:59Z").as_deref(), Some("2026-09"));
        assert_eq!(due("2027-01-01T01:00:00Z"), None);
        assert_eq!(due("2027-01-01T03:00:00Z").as_deref(), Some("2026-12"));
    }
}
