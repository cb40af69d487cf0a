//! One owner for every task a node starts besides its fixed workers: catch-up sessions, the
//! config watcher, the gateway's warm-ups, and the pollers to come. Shutdown cancels them and
//! waits until each has returned, so nothing the node started outlives it.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The node's tasks. Clones share them.
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Tasks {
    /// Runs `fut` until it returns or the node shuts down, whichever comes first.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = fut => {}
            }
        });
    }

    /// Runs blocking work on the blocking pool; shutdown waits for it, so `f` should return
    /// soon after [`Tasks::is_cancelled`] turns true.
    pub fn spawn_blocking<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.tracker.spawn_blocking(f);
    }

    /// True once shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// How many tasks are running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// True if none is running.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Cancels every task and waits until all have returned; no new task starts after it.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_cancels_and_awaits_every_task() {
        let tasks = Tasks::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        // A task that never returns by itself.
        let held = tx.clone();
        tasks.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        // Blocking work that returns once cancelled.
        let t = tasks.clone();
        let held = tx;
        tasks.spawn_blocking(move || {
            let _held = held;
            while !t.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        assert_eq!(tasks.len(), 2);
        tasks.shutdown().await;
        assert!(tasks.is_empty());
        // Both dropped their sender: nothing they held is alive.
        assert!(rx.recv().await.is_none());
    }
}
