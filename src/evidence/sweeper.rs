//! The silent-site sweeper: a site that has sent no evidence for 24 hours
//! gets one warning per silence. Several instances may sweep at once; the
//! notification's dedupe key (site + last evidence time) makes it land once.
//! The same loop prunes expired credentials and counters
//! (`db::housekeeping`).

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::notifications::{self, NewNotification, Severity};
use crate::error::AppResult;
use crate::paths;

/// How long a site may stay quiet before its practice is told.
pub const SILENT_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How often the sweeper looks.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);

/// One sweep; returns how many new warnings were raised.
pub async fn sweep(pool: &Pool) -> AppResult<usize> {
    let db = pool.get().await?;
    let mut raised = 0;
    for (org_id, site_id, name, last) in notifications::silent_sites(&**db, SILENT_AFTER).await? {
        let created = notifications::insert(
            &**db,
            &NewNotification {
                org_id,
                site_id: Some(site_id),
                kind: "site_silent",
                severity: Severity::Warning,
                title: format!("{name} has sent no evidence for over 24 hours"),
                message: format!(
                    "The last evidence from {name} arrived {} UTC. Check that the site's appliance is powered on \
                     and online; compliance scores for this site go stale until it reports again.",
                    last.format("%Y-%m-%d %H:%M")
                ),
                action_url: Some(paths::site(site_id)),
                action_label: Some("View site".into()),
                dedupe_key: format!("site_silent:{site_id}:{}", last.timestamp()),
                check: None,
                repeats: false,
            },
        )
        .await?;
        raised += usize::from(created.is_some());
    }
    Ok(raised)
}

/// One pruning pass (`db::housekeeping`): rows deleted per table.
pub async fn housekeeping(
    pool: &Pool,
    retention_years: Option<u32>,
) -> AppResult<Vec<(&'static str, u64)>> {
    let db = pool.get().await?;
    crate::db::housekeeping::prune(&**db, retention_years).await
}

/// The running sweeper; `shutdown` stops it.
pub struct SweeperHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SweeperHandle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Sweeps now and then every [`INTERVAL`] until shut down.
/// `retention_years`: `PORTAL_RETENTION_YEARS` (None keeps the audit log for good).
pub fn spawn(pool: Pool, retention_years: Option<u32>) -> SweeperHandle {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            match sweep(&pool).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(raised = n, "silent-site warnings raised"),
                Err(e) => {
                    tracing::warn!(error = %e, "the silent-site sweep failed; retrying later")
                }
            }
            match housekeeping(&pool, retention_years).await {
                Ok(pruned) if pruned.iter().any(|(_, n)| *n > 0) => {
                    tracing::info!(?pruned, "expired rows pruned")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning expired rows failed; retrying later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    SweeperHandle { stop, task }
}
