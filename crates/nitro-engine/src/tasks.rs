//! The tasks of one engine: every task it starts belongs to one tracker and
//! one cancellation token, so stopping the engine ends them all and can
//! wait, within a deadline, until none is left running.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A handle on an engine's tasks; clones share them.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` until it ends or the engine stops, whichever is first.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                _ = task => {}
            }
        })
    }

    /// Ends every task and waits until none runs, at most `deadline`.
    /// Returns how many were still running then.
    pub async fn stop(&self, deadline: Duration) -> usize {
        self.stop.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(deadline, self.tracker.wait()).await;
        self.tracker.len()
    }

    /// How many tasks run now.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_ends_tasks_that_would_run_forever() {
        let tasks = Tasks::new();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        tasks.spawn(async move {
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        });
        let done = tasks.spawn(async {});
        started.await.expect("started");
        done.await.expect("ran");
        assert_eq!(tasks.running(), 1, "the task that ended is no longer counted");
        assert_eq!(tasks.stop(Duration::from_secs(5)).await, 0);
    }
}
