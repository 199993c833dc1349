//! The delivery worker: claims what the outbox has due ([`accord_store::deliveries`]), sends it
//! through the [`Sender`], records every attempt, and validates endpoints when they are due.
//!
//! - **Wake-ups.** On PostgreSQL `LISTEN accord_webhooks` wakes the worker the moment any node
//!   commits an event; a poll (a cheap read that takes no lock: every 50 ms on SQLite, which has
//!   no notifications, every 250 ms on PostgreSQL) covers SQLite, lost notifications and retries
//!   coming due. Waiting events whose schedule ran out are failed
//!   every few seconds.
//! - **Bounded concurrency.** At most `concurrency` requests are in flight per node; a slot freed
//!   by one request is refilled at once, so a hanging endpoint holds one slot for at most the
//!   timeout, never a batch. With at most one event in flight per app (the store's claim rule),
//!   a dead endpoint never delays another app's deliveries.
//! - **Leases.** A claim holds a row for `lease_seconds` (30 s: ten times the request timeout).
//!   A node killed mid-delivery leaves its rows to another claimer after that; a node stopped
//!   cleanly releases them at once.
//! - **Metrics.** Every attempt counts by outcome; the outbox lag (how long the oldest due event
//!   has waited) is measured at the start of each [`Worker::run_once`] pass and on every expiry
//!   tick of the running worker ([`crate::metrics`]).
//! - **Time** is the store's injected clock: due times, retries, leases and signature timestamps
//!   all come from it, so tests move a `ManualClock` and call [`Worker::run_once`], which sends
//!   everything due *now* and returns when nothing more is — no sleeping.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use accord_core::webhooks::RetrySchedule;
use accord_store::deliveries::{AfterFailure, Delivery, EndpointCheck};
use accord_store::{Store, StoreError};
use tokio::task::{JoinHandle, JoinSet};

use super::sender::{Sender, SenderConfig, SenderError, Signed};
use super::validation;

/// How often an endpoint is validated again after passing: every 72 hours (webhooks.md).
pub const REVALIDATE_SECONDS: i64 = 72 * 3600;

/// The delivery side's settings (`--webhook-allow-private`, `--webhook-retry-delays`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub sender: SenderConfig,
    pub retry: RetrySchedule,
    /// Spreads each retry delay by up to ± this percentage ([`jittered`]); 0 keeps the schedule
    /// exact.
    pub retry_jitter_percent: u8,
    /// Requests in flight at once on this node.
    pub concurrency: usize,
    /// How long a claim holds an event or a validation.
    pub lease_seconds: i64,
    /// How often an idle worker looks for due work (besides PostgreSQL notifications); `None`:
    /// the backend's default ([`default_poll_interval`]).
    pub poll_interval: Option<Duration>,
    /// How often waiting events whose schedule ran out are marked failed.
    pub expire_interval: Duration,
    pub revalidate_seconds: i64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            sender: SenderConfig::default(),
            retry: RetrySchedule::default(),
            retry_jitter_percent: 0,
            concurrency: 16,
            lease_seconds: 30,
            poll_interval: None,
            expire_interval: Duration::from_secs(5),
            revalidate_seconds: REVALIDATE_SECONDS,
        }
    }
}

impl WebhookConfig {
    /// Every retry delay added up: how long after its creation an event's last attempt is due.
    pub fn schedule_seconds(&self) -> i64 {
        self.retry.delays.iter().sum()
    }
}

/// How often an idle worker polls: SQLite has no notifications, so the poll is what a new event
/// waits for (measured: p50 commit-to-delivery ≈ half of it); PostgreSQL's `NOTIFY` wakes the
/// worker at once and the poll only covers lost notifications and retries coming due.
pub fn default_poll_interval(backend: accord_store::Backend) -> Duration {
    match backend {
        accord_store::Backend::Sqlite => Duration::from_millis(50),
        accord_store::Backend::Postgres => Duration::from_millis(250),
    }
}

/// What one pass (or one finished task) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub delivered: usize,
    /// Failed attempts that will be tried again.
    pub retrying: usize,
    /// Events whose last attempt failed, or that waited for a validation past their schedule.
    pub failed: usize,
    pub validated: usize,
    pub invalid: usize,
}

impl PassReport {
    fn add(&mut self, other: PassReport) {
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.validated += other.validated;
        self.invalid += other.invalid;
    }
}

/// One node's delivery worker. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sender: Sender,
    config: WebhookConfig,
    /// This node's name on its claims.
    node: String,
    /// Where attempts and the outbox lag are counted (the server's, so `/metrics` shows them).
    metrics: crate::metrics::Metrics,
}

impl Worker {
    /// A worker counting into a registry of its own, which nothing renders: for tests and tools.
    pub fn new(store: Store, config: WebhookConfig) -> Result<Worker, SenderError> {
        Self::with_metrics(store, config, crate::metrics::Metrics::new())
    }

    /// A worker counting into `metrics` (the server's: [`crate::AppState::metrics`]).
    pub fn with_metrics(
        store: Store,
        config: WebhookConfig,
        metrics: crate::metrics::Metrics,
    ) -> Result<Worker, SenderError> {
        let sender = Sender::new(config.sender.clone())?;
        Ok(Worker {
            inner: Arc::new(Inner {
                store,
                sender,
                config,
                node: format!("node-{}", accord_store::secrets::new_id()),
                metrics,
            }),
        })
    }

    /// The name this node's claims carry.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.inner.config
    }

    /// Makes every never-validated endpoint (seeded ones among them) due for validation now.
    pub async fn validate_unvalidated_now(&self) -> Result<u64, StoreError> {
        self.inner.store.validate_unvalidated_webhooks_now().await
    }

    /// Sends everything due at the store clock's *now* — validations first, then deliveries,
    /// `concurrency` at a time — and returns once nothing more is due and nothing is in flight.
    /// Events that fail are due again later (per the schedule), so a pass always ends.
    pub async fn run_once(&self) -> Result<PassReport, StoreError> {
        self.measure_lag().await?;
        let mut report = PassReport {
            failed: self.expire().await?,
            ..PassReport::default()
        };
        let mut tasks = JoinSet::new();
        loop {
            self.fill(&mut tasks).await?;
            match tasks.join_next().await {
                Some(done) => report.add(done.unwrap_or_default()),
                None => break,
            }
        }
        Ok(report)
    }

    /// Runs the worker until `shutdown` resolves: validates never-validated endpoints first, then
    /// delivers as events arrive. Stops cleanly: waits for requests in flight (each bounded by the
    /// timeout) and releases this node's claims.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(async move { self.run(shutdown).await })
    }

    async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        if let Err(error) = self.validate_unvalidated_now().await {
            tracing::warn!(%error, "cannot mark endpoints for validation at start");
        }
        let mut listener = self.inner.store.listen_for_webhooks().await;
        let every = (self.inner.config.poll_interval)
            .unwrap_or_else(|| default_poll_interval(self.inner.store.backend()));
        let mut poll = tokio::time::interval(every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expire = tokio::time::interval(self.inner.config.expire_interval);
        expire.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            // Whether to claim after this wake-up: always after a notification or a freed slot;
            // after a poll tick only when a cheap read finds due work.
            let claim = tokio::select! {
                () = &mut shutdown => break,
                _ = listener.notified() => true,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    log_task(done);
                    true
                }
                _ = poll.tick() => match self.inner.store.webhook_work_due().await {
                    Ok(due) => due,
                    Err(error) => {
                        tracing::warn!(%error, "webhook worker cannot read the outbox; retrying");
                        false
                    }
                },
                _ = expire.tick() => {
                    if let Err(error) = self.expire().await {
                        tracing::warn!(%error, "webhook worker cannot expire waiting events");
                    }
                    if let Err(error) = self.measure_lag().await {
                        tracing::warn!(%error, "webhook worker cannot measure the outbox lag");
                    }
                    false
                }
            };
            if claim && let Err(error) = self.fill(&mut tasks).await {
                tracing::warn!(%error, "webhook worker cannot claim work; retrying");
            }
        }
        while let Some(done) = tasks.join_next().await {
            log_task(done);
        }
        match self
            .inner
            .store
            .release_webhook_claims(&self.inner.node)
            .await
        {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "webhook claims released at shutdown"),
            Err(error) => tracing::warn!(%error, "cannot release webhook claims at shutdown"),
        }
    }

    /// Sets the outbox-lag gauge: how long the oldest due event has waited.
    async fn measure_lag(&self) -> Result<(), StoreError> {
        let millis = self.inner.store.webhook_outbox_lag_millis().await?;
        self.inner.metrics.outbox_lag(millis as f64 / 1000.0);
        Ok(())
    }

    async fn expire(&self) -> Result<usize, StoreError> {
        let expired = self
            .inner
            .store
            .expire_waiting_webhooks(self.inner.config.schedule_seconds())
            .await?;
        if expired > 0 {
            tracing::info!(
                expired,
                "webhook events failed: their endpoint was never validated in time"
            );
        }
        Ok(usize::try_from(expired).unwrap_or(usize::MAX))
    }

    /// Claims as much as there are free slots for (validations first) and starts each.
    async fn fill(&self, tasks: &mut JoinSet<PassReport>) -> Result<(), StoreError> {
        let config = &self.inner.config;
        let free = |tasks: &JoinSet<PassReport>| {
            i64::try_from(config.concurrency.max(1).saturating_sub(tasks.len())).unwrap_or(0)
        };
        if free(tasks) > 0 {
            let checks = self
                .inner
                .store
                .claim_webhook_validations(config.lease_seconds, free(tasks))
                .await?;
            for check in checks {
                let worker = self.clone();
                tasks.spawn(async move { worker.validate(check).await });
            }
        }
        if free(tasks) > 0 {
            let deliveries = self
                .inner
                .store
                .claim_webhook_deliveries(&self.inner.node, config.lease_seconds, free(tasks))
                .await?;
            for delivery in deliveries {
                let worker = self.clone();
                tasks.spawn(async move { worker.deliver(delivery).await });
            }
        }
        Ok(())
    }

    async fn deliver(&self, delivery: Delivery) -> PassReport {
        let store = &self.inner.store;
        let answer = self
            .inner
            .sender
            .send(&Signed {
                url: &delivery.url,
                message_id: &delivery.id,
                event_id: Some(&delivery.id),
                body: &delivery.body,
                secret_token: &delivery.secret_token,
                timestamp: store.now().seconds(),
            })
            .await;
        let delivered = answer.succeeded();
        let attempts = usize::try_from(delivery.attempts.saturating_add(1)).unwrap_or(usize::MAX);
        let config = &self.inner.config;
        let after_failure = match config.retry.delay_after(attempts) {
            Some(delay) => {
                let delay = jittered(delay, config.retry_jitter_percent, &delivery.id, attempts);
                AfterFailure::RetryAt(store.now().plus_seconds(delay))
            }
            None => AfterFailure::GiveUp,
        };
        let report = answer.report();
        let outcome = if delivered {
            "delivered"
        } else if after_failure == AfterFailure::GiveUp {
            "failed"
        } else {
            "retry"
        };
        tracing::info!(
            event_id = %delivery.id,
            event = %delivery.event,
            app_id = %delivery.app_id,
            attempt = attempts,
            status = report.status_code,
            latency_ms = report.latency_ms,
            error = report.error.as_deref().unwrap_or(""),
            outcome,
            "webhook attempt"
        );
        if let Err(error) = store
            .record_webhook_attempt(&delivery, &report, delivered, after_failure)
            .await
        {
            // The claim runs out and the event is sent again: at least once, never lost.
            tracing::warn!(%error, event_id = %delivery.id, "cannot record a webhook attempt");
            return PassReport::default();
        }
        self.inner.metrics.webhook_delivery(outcome);
        match (delivered, after_failure) {
            (true, _) => PassReport {
                delivered: 1,
                ..PassReport::default()
            },
            (false, AfterFailure::RetryAt(_)) => PassReport {
                retrying: 1,
                ..PassReport::default()
            },
            (false, AfterFailure::GiveUp) => PassReport {
                failed: 1,
                ..PassReport::default()
            },
        }
    }

    async fn validate(&self, check: EndpointCheck) -> PassReport {
        let store = &self.inner.store;
        let config = &self.inner.config;
        let verdict = validation::validate(
            &self.inner.sender,
            &check,
            store.now(),
            &config.retry,
            config.revalidate_seconds,
        )
        .await;
        tracing::info!(
            app_id = %check.app_id,
            passed = verdict.passed,
            status = verdict.report.status_code,
            error = verdict.report.error.as_deref().unwrap_or(""),
            "webhook endpoint validation"
        );
        if let Err(error) = store
            .record_webhook_validation(&check, &verdict.report, verdict.passed, verdict.next_due)
            .await
        {
            tracing::warn!(%error, app_id = %check.app_id, "cannot record a webhook validation");
            return PassReport::default();
        }
        if verdict.passed {
            PassReport {
                validated: 1,
                ..PassReport::default()
            }
        } else {
            PassReport {
                invalid: 1,
                ..PassReport::default()
            }
        }
    }
}

/// A retry delay spread by up to ±`percent` (at most 100), the same for the same event and
/// attempt: events that failed together (an endpoint that was down) do not all come back at the
/// same second, and the spread stays predictable for tests. Never less than one second.
pub fn jittered(delay: i64, percent: u8, event_id: &str, attempt: usize) -> i64 {
    if percent == 0 || delay <= 0 {
        return delay;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(event_id.as_bytes())
        .chain_update(attempt.to_le_bytes())
        .finalize();
    // A point in [-1, 1] from the digest's first two bytes.
    let unit = f64::from(u16::from_le_bytes([digest[0], digest[1]])) / f64::from(u16::MAX);
    let spread = delay as f64 * f64::from(percent.min(100)) / 100.0;
    ((delay as f64) + (unit * 2.0 - 1.0) * spread)
        .round()
        .max(1.0) as i64
}

fn log_task(done: Result<PassReport, tokio::task::JoinError>) {
    if let Err(error) = done {
        tracing::error!(%error, "a webhook task ended abnormally");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads_delays_within_the_percentage_and_repeats_for_the_same_attempt() {
        assert_eq!(
            jittered(300, 0, "evt", 1),
            300,
            "no jitter: the exact schedule"
        );
        let spread: Vec<i64> = (0..200)
            .map(|i| jittered(1000, 20, &format!("evt-{i}"), 1))
            .collect();
        assert!(
            spread.iter().all(|d| (800..=1200).contains(d)),
            "{spread:?}"
        );
        assert!(spread.iter().any(|d| *d < 950) && spread.iter().any(|d| *d > 1050));
        assert_eq!(
            jittered(1000, 20, "evt-1", 2),
            jittered(1000, 20, "evt-1", 2),
            "the same event and attempt, the same delay"
        );
        assert_ne!(
            (1..=8)
                .map(|a| jittered(1000, 20, "evt-1", a))
                .collect::<Vec<_>>(),
            vec![jittered(1000, 20, "evt-1", 1); 8],
            "another attempt, another spread"
        );
        assert!(
            (0..50).all(|i| jittered(1, 100, &format!("evt-{i}"), 1) >= 1),
            "never under a second"
        );
    }
}
