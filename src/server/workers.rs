//! Serving workers: one single-threaded tokio runtime per core, each serving the connections
//! handed to it from accept to close.
//!
//! Why not tokio's multi-threaded scheduler: measured on the proxied path (bench/run.sh), a
//! request there wakes tasks on other threads (the connection, the upstream connection, the
//! timer) and the I/O driver is shared, so most of the time went to cross-thread wake-ups and
//! context switches. On a worker, a connection's task, its upstream connections (the
//! per-worker pool in `upstream`) and its timers all live on one thread and one reactor, as
//! in nginx's worker processes.
//!
//! The listeners still accept on the main runtime: each accepted socket is deregistered there
//! and re-registered on the least-loaded worker (one hand-over per connection, not per
//! request). The listening socket itself is never shared, so binding behaves as before (a
//! taken port is still an error; no `SO_REUSEPORT` group another process could join).

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The serving workers of the process.
#[derive(Debug)]
pub struct Workers {
    workers: Vec<Worker>,
    /// Dropping the senders stops the workers' threads.
    _stop: Vec<oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Worker {
    handle: Handle,
    /// Connections this worker serves now.
    load: Arc<AtomicUsize>,
}

/// How many workers by default: the CPUs this process may run on (its affinity mask and
/// cgroup quota, as `std::thread::available_parallelism` reports them).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Workers {
    /// Start `count` (at least one) worker threads. Each calls `started` first, then
    /// `tick` every `every` (the request log's batches, see `telemetry`).
    pub fn start(
        count: usize,
        started: fn(),
        tick: fn(),
        every: std::time::Duration,
    ) -> io::Result<Arc<Self>> {
        let mut workers = Vec::new();
        let mut stop = Vec::new();
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("authproxy-worker-{i}"))
                .build()?;
            let handle = runtime.handle().clone();
            let (tx, rx) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("authproxy-worker-{i}"))
                .spawn(move || {
                    started();
                    // Drives every task spawned on this worker until the workers are dropped.
                    runtime.block_on(async move {
                        let ticks = async {
                            let mut interval = tokio::time::interval(every);
                            interval
                                .set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                            loop {
                                interval.tick().await;
                                tick();
                            }
                        };
                        tokio::select! {
                            _ = rx => {}
                            () = ticks => {}
                        }
                    });
                    tick();
                })?;
            workers.push(Worker {
                handle,
                load: Arc::new(AtomicUsize::new(0)),
            });
            stop.push(tx);
        }
        Ok(Arc::new(Self {
            workers,
            _stop: stop,
        }))
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are none (never: `start` starts at least one).
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Run the connection task `make()` builds on the least-loaded worker. `make` runs on
    /// that worker, so sockets it registers belong to the worker's reactor.
    pub(super) fn spawn_connection<F, Fut>(&self, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(worker) = self
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
        else {
            return;
        };
        let load = LoadGuard::new(worker.load.clone());
        let fut = async move {
            let _load = load;
            make().await;
        };
        worker.handle.spawn(fut);
    }
}

/// Counts one connection on a worker while it lives.
struct LoadGuard(Arc<AtomicUsize>);

impl LoadGuard {
    fn new(load: Arc<AtomicUsize>) -> Self {
        load.fetch_add(1, Ordering::Relaxed);
        Self(load)
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_go_to_the_least_loaded_worker_and_run_on_its_thread() {
        let workers =
            Workers::start(2, || {}, || {}, std::time::Duration::from_millis(20)).unwrap();
        assert_eq!(workers.len(), 2);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (hold_tx, hold_rx) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let tx = tx.clone();
            let mut hold = hold_rx.clone();
            workers.spawn_connection(move || async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = tx.send(name);
                let _ = hold.wait_for(|v| *v).await;
            });
        }
        let mut names = Vec::new();
        for _ in 0..4 {
            names.push(rx.recv().await.unwrap().unwrap());
        }
        names.sort();
        assert_eq!(
            names,
            [
                "authproxy-worker-0",
                "authproxy-worker-0",
                "authproxy-worker-1",
                "authproxy-worker-1"
            ]
        );
        assert!(workers
            .workers
            .iter()
            .all(|w| w.load.load(Ordering::Relaxed) == 2));
        let _ = hold_tx.send(true);
    }
}
