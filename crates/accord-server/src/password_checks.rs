//! The password-check workers. Argon2id is slow and memory-hungry on purpose (12 MiB and tens of
//! milliseconds per check at the default cost), so a flood of sign-ins must not start one check
//! per request: at most `workers` checks run at once, each on a dedicated thread that holds no
//! database connection; up to `queue` more wait their turn, each for at most `wait`; a sign-in
//! that finds the queue full, or waits longer, is answered with 503 ("too busy, try again in a few
//! seconds") instead of piling up memory and threads. What a flood costs is bounded: `workers`
//! Argon2id blocks of memory and `workers` cores. The wait is spent parked, which also slows
//! attackers that retry as soon as they are answered: a full queue answers at once, but a queue
//! long enough to hold them all keeps each one waiting for `wait` instead of bouncing it back
//! thousands of times a second.
//!
//! Dedicated threads rather than tokio's blocking pool, each keeping its own Argon2id working
//! memory ([`PasswordMemory`]) from one check to the next: the blocking pool grows to hundreds of
//! threads, and a fresh 19 MiB (the default then) per check left the allocator holding freed
//! blocks in fragmented arenas (a flood grew the server by hundreds of MiB even with two checks at
//! a time, and never gave it back). Now memory is `workers` × the cost, allocated once. A check
//! whose request went away while it waited is skipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_store::secrets::PasswordMemory;
use tokio::sync::oneshot;

/// Checks that may wait per worker (`ServerConfig::password_check_queue` is this × the workers).
pub const QUEUE_PER_WORKER: usize = 256;

/// How long a sign-in told "too busy" should wait, in seconds (`Retry-After`).
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 2;

type Job = Box<dyn FnOnce(&mut PasswordMemory) + Send>;

/// Every worker is busy and the queue is full (or the workers are gone): the check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// The workers of one server; they stop when this is dropped.
pub struct PasswordChecks {
    jobs: SyncSender<Job>,
    wait: Duration,
}

impl PasswordChecks {
    /// Starts `workers` threads (at least one) sharing a queue of `queue` checks, each waiting at
    /// most `wait` for a worker.
    pub fn start(workers: usize, queue: usize, wait: Duration) -> std::io::Result<PasswordChecks> {
        let (jobs, waiting) = sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for number in 0..workers.max(1) {
            let waiting = Arc::clone(&waiting);
            std::thread::Builder::new()
                .name(format!("accord-password-{number}"))
                .spawn(move || work(&waiting))?;
        }
        Ok(PasswordChecks { jobs, wait })
    }

    /// Runs `check` on a worker, in that worker's memory, and returns its result; or [`Busy`] when
    /// the queue is full (at once) or no worker took the check within the wait. The caller's task
    /// only waits; it never blocks a runtime thread.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce(&mut PasswordMemory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (started, has_started) = oneshot::channel();
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if started.send(()).is_err() {
                return; // The request stopped waiting (or went away) before a worker was free.
            }
            // A panicking check drops `done`, which answers Busy instead of killing the worker.
            if let Ok(value) = catch_unwind(AssertUnwindSafe(|| check(memory))) {
                let _ = done.send(value);
            }
        });
        self.jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => Busy,
        })?;
        // Dropping `has_started` on a timeout makes the worker skip the check.
        match tokio::time::timeout(self.wait, has_started).await {
            Ok(Ok(())) => result.await.map_err(|_| Busy),
            Ok(Err(_)) | Err(_) => Err(Busy),
        }
    }
}

/// One worker: takes the next check and runs it in its memory, until the server drops its sender.
fn work(waiting: &Mutex<Receiver<Job>>) {
    let mut memory = PasswordMemory::default();
    loop {
        let next = waiting.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match next {
            Ok(job) => job(&mut memory),
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
                .run(move |_| {
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
        let checks = Arc::new(PasswordChecks::start(1, 2, Duration::from_secs(3600)).unwrap());
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
        assert_eq!(checks.run(|_| ()).await, Err(Busy));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for task in held {
            assert_eq!(task.await.unwrap(), Ok(()));
        }
        assert_eq!(running.load(Ordering::SeqCst), 3);
        assert_eq!(checks.run(|_| 7).await, Ok(7), "free again");
    }

    // The worker is held until the test releases it, so the waiting check cannot start within its
    // wait however fast or slow the machine is: the outcome does not depend on timing.
    #[tokio::test(flavor = "current_thread")]
    async fn a_check_no_worker_takes_within_the_wait_is_refused_and_skipped() {
        let checks = Arc::new(PasswordChecks::start(1, 4, Duration::from_millis(100)).unwrap());
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let running = Arc::new(AtomicUsize::new(0));
        let holder = held_check(&checks, &released, &running);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while running.load(Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "the worker never ran");
            tokio::task::yield_now().await;
        }
        // The worker is held: this check waits its 100 ms in the queue, then gives up.
        let skipped = Arc::new(AtomicUsize::new(0));
        let counted = skipped.clone();
        let refused = checks
            .run(move |_| counted.fetch_add(1, Ordering::SeqCst))
            .await;
        assert_eq!(refused, Err(Busy));
        release.send(()).unwrap();
        assert_eq!(
            holder.await.unwrap(),
            Ok(()),
            "a check that started is waited for"
        );
        // Polling with a deadline for the worker to get past the abandoned check.
        let after = loop {
            match checks.run(|_| 1).await {
                Ok(value) => break value,
                Err(Busy) => assert!(std::time::Instant::now() < deadline, "the worker is stuck"),
            }
        };
        assert_eq!(after, 1);
        assert_eq!(
            skipped.load(Ordering::SeqCst),
            0,
            "the abandoned check never ran"
        );
    }

    #[tokio::test]
    async fn a_panicking_check_answers_busy_and_the_worker_survives() {
        let checks = PasswordChecks::start(1, 1, Duration::from_secs(3600)).unwrap();
        let panicked = checks.run(|_| -> u8 { panic!("a bug in a check") }).await;
        assert_eq!(panicked, Err(Busy));
        // A deadline only so that a dead worker fails the test instead of hanging it.
        let after =
            tokio::time::timeout(std::time::Duration::from_secs(30), checks.run(|_| 1)).await;
        assert_eq!(after.expect("the worker survived"), Ok(1));
    }
}
