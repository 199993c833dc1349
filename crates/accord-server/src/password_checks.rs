//! The password-check workers. Argon2id is slow and memory-hungry on purpose (19 MiB and tens of
//! milliseconds per check at the default cost), so a flood of sign-ins must not start one check
//! per request: at most `workers` checks run at once, each on a dedicated thread that holds no
//! database connection; up to `queue` more wait their turn; beyond that a sign-in is answered at
//! once with 503 ("too busy, try again in a few seconds") instead of piling up memory and threads.
//! A request therefore waits for at most `queue / workers + 1` checks, and what a flood costs is
//! bounded: `workers` Argon2id blocks of memory and `workers` cores.
//!
//! Dedicated threads rather than tokio's blocking pool: the blocking pool grows to hundreds of
//! threads, and the allocator keeps each freed Argon2id block in the arena of the thread that ran
//! it, so memory grew with every thread that ever hashed and was never given back. A few
//! long-lived threads bound both. A check whose request went away while it waited is skipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

/// How long a sign-in told "too busy" should wait, in seconds (`Retry-After`).
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 2;

type Job = Box<dyn FnOnce() + Send>;

/// Every worker is busy and the queue is full (or the workers are gone): the check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// The workers of one server; they stop when this is dropped.
pub struct PasswordChecks {
    jobs: SyncSender<Job>,
}

impl PasswordChecks {
    /// Starts `workers` threads (at least one) sharing a queue of `queue` waiting checks.
    pub fn start(workers: usize, queue: usize) -> std::io::Result<PasswordChecks> {
        let (jobs, waiting) = sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for number in 0..workers.max(1) {
            let waiting = Arc::clone(&waiting);
            std::thread::Builder::new()
                .name(format!("accord-password-{number}"))
                .spawn(move || work(&waiting))?;
        }
        Ok(PasswordChecks { jobs })
    }

    /// Runs `check` on a worker and returns its result, or [`Busy`] at once when the queue is
    /// full. The caller's task only waits; it never blocks a runtime thread.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return; // The request went away while the check waited.
            }
            // A panicking check drops `done`, which answers Busy instead of killing the worker.
            if let Ok(value) = catch_unwind(AssertUnwindSafe(check)) {
                let _ = done.send(value);
            }
        });
        self.jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => Busy,
        })?;
        result.await.map_err(|_| Busy)
    }
}

/// One worker: takes the next check and runs it, until the server drops its sender.
fn work(waiting: &Mutex<Receiver<Job>>) {
    loop {
        let next = waiting.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    /// A check that counts itself as running and holds its worker until released.
    fn held_check(
        checks: &Arc<PasswordChecks>,
        released: &Arc<Mutex<mpsc::Receiver<()>>>,
        running: &Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<Result<(), Busy>> {
        let (checks, released, running) = (checks.clone(), released.clone(), running.clone());
        tokio::spawn(async move {
            checks
                .run(move || {
                    running.fetch_add(1, Ordering::SeqCst);
                    let _ = released.lock().unwrap().recv();
                })
                .await
        })
    }

    // A current-thread runtime: a spawned task runs up to its first await as soon as the test
    // yields, so which checks are queued is known without timing.
    #[tokio::test(flavor = "current_thread")]
    async fn checks_beyond_the_workers_and_the_queue_are_refused_at_once() {
        let checks = Arc::new(PasswordChecks::start(1, 2).unwrap());
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let running = Arc::new(AtomicUsize::new(0));
        let mut held = vec![held_check(&checks, &released, &running)];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while running.load(Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "the worker never ran");
            tokio::task::yield_now().await;
        }
        held.push(held_check(&checks, &released, &running));
        held.push(held_check(&checks, &released, &running));
        tokio::task::yield_now().await;
        // One check running, two queued: the next is refused without waiting.
        assert_eq!(checks.run(|| ()).await, Err(Busy));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for task in held {
            assert_eq!(task.await.unwrap(), Ok(()));
        }
        assert_eq!(running.load(Ordering::SeqCst), 3);
        assert_eq!(checks.run(|| 7).await, Ok(7), "free again");
    }

    #[tokio::test]
    async fn a_panicking_check_answers_busy_and_the_worker_survives() {
        let checks = PasswordChecks::start(1, 1).unwrap();
        let panicked = checks.run(|| -> u8 { panic!("a bug in a check") }).await;
        assert_eq!(panicked, Err(Busy));
        // A deadline only so that a dead worker fails the test instead of hanging it.
        let after =
            tokio::time::timeout(std::time::Duration::from_secs(30), checks.run(|| 1)).await;
        assert_eq!(after.expect("the worker survived"), Ok(1));
    }
}
