//! Delivering the webhook outbox ([`crate::outbox`]): which rows a delivery worker may send now,
//! how a node claims them so that no two nodes send the same event at once, what each attempt
//! leaves behind, and the validation state of each app's endpoint (webhooks.md).
//!
//! Decisions:
//! - **Claiming.** A claim is a lease: `claimed_until`/`claimed_by` on the row, written in a short
//!   transaction. On PostgreSQL the candidate rows are locked `FOR UPDATE SKIP LOCKED`, so nodes
//!   claiming at the same moment skip each other's rows instead of waiting; on SQLite the
//!   transaction holds the database's single write lock, so claims are serial by construction. A
//!   node that dies mid-delivery leaves its rows to the next claimer once the lease runs out
//!   (at-least-once).
//! - **Order and isolation.** Per app, only its *oldest due* pending event may be claimed, and
//!   only while none of that app's events is in flight: a healthy endpoint gets its events in
//!   event order, one at a time, and a slow or dead endpoint holds up nothing but its own queue.
//!   An event waiting for its retry does not hold up newer ones (as at Zoom: receivers order by
//!   `event_ts`), else one dead event would stall an endpoint for the whole schedule.
//! - **Which endpoint.** While the app exists, its *current* endpoint (URL and secret token) is
//!   used, and only once validated; an event of a deleted app goes to the snapshot taken when it
//!   was raised (its own `app_deauthorized` must still be sent).
//! - **Unvalidated endpoints.** Their events wait; once the endpoint has failed a validation, an
//!   event whose own schedule has run out (its creation plus every retry delay) is marked failed,
//!   with a log line saying why.
//! - **Validation state** lives on `apps`: `webhook_validation_due_at` (saving an endpoint sets
//!   it to now, so a worker in another process picks it up), `webhook_validated_at`,
//!   `webhook_validation_error`. A due validation is claimed by pushing its due time one lease
//!   ahead, so two nodes do not validate the same endpoint at once.
//!
//! The retry policy itself (the schedule, jitter) is the caller's: [`record_attempt`] is told
//! when the next attempt is, or that there is none.

use accord_core::clock::Timestamp;
use accord_core::ids::Secret;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::{Backend, Conn, Ctx, Store, rows};

/// One event claimed for delivery, with the endpoint to send it to.
#[derive(Debug)]
pub struct Delivery {
    pub seq: i64,
    /// The event id: `x-accord-event-id` and `webhook-id`, stable across attempts.
    pub id: String,
    pub app_id: String,
    pub event: String,
    /// The compact envelope: exactly the bytes to send and sign.
    pub body: String,
    pub url: String,
    pub secret_token: Secret,
    /// Attempts made before this one.
    pub attempts: i64,
    pub created_at: Timestamp,
}

/// What one attempt to reach an endpoint came to.
#[derive(Debug, Clone, Default)]
pub struct AttemptReport {
    /// The HTTP status, when one came back.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// Why it failed, when it did (refused target, timeout, wrong answer…). Never a secret.
    pub error: Option<String>,
    /// The start of the response body, for the developer's log.
    pub response_excerpt: Option<String>,
}

/// What happens to an event after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(Timestamp),
    /// The schedule is used up: mark the event failed.
    GiveUp,
}

/// An app's endpoint due for a URL validation, claimed by one node.
#[derive(Debug)]
pub struct EndpointCheck {
    pub app_id: String,
    pub url: String,
    pub secret_token: Secret,
    /// Validations that failed in a row for this URL before this one (for the retry schedule).
    pub failures_in_a_row: i64,
}

/// How many outbox rows are in each state (`pending` includes those in flight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// One outbox row as the delivery side sees it (for tests, operators and the crash test).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueuedEvent {
    pub id: String,
    pub app_id: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub claimed_by: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

fn is_postgres(conn: &Conn) -> bool {
    conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME
}

fn open_secret(ctx: &Ctx<'_>, sealed: &[u8]) -> Result<Secret> {
    let plain = ctx.keys.decrypt(sealed)?;
    let text = String::from_utf8(plain.to_vec())
        .map_err(|_| StoreError::Corrupt("a webhook secret token is not text".into()))?;
    Ok(Secret::new(text))
}

/// Claims up to `limit` events that may be sent now, leasing each to `node` for `lease_seconds`.
/// Call inside a transaction ([`Store::begin`]) and commit before sending. See the module doc for
/// which rows qualify.
pub async fn claim_due(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    node: &str,
    lease_seconds: i64,
    limit: i64,
) -> Result<Vec<Delivery>> {
    // Per app, its oldest due pending row; none of an app that has a row in flight; only
    // endpoints that are validated, or whose app is gone (then the row's snapshot is used).
    // The row's own `status` and `next_attempt_at` are tested on `e` too, not only in the
    // subquery: when another node changes a row between this statement's snapshot and its lock,
    // PostgreSQL re-checks only the conditions on the locked row itself (the subqueries keep the
    // old snapshot), so without them an event another node had just claimed, delivered and
    // released would be claimed again and sent twice.
    let mut sql = String::from(
        "SELECT e.seq, e.id, e.app_id, e.event, e.body, e.attempts, e.created_at, \
         e.endpoint_url, e.endpoint_secret, a.id AS present, a.webhook_url, a.webhook_secret \
         FROM webhook_events e LEFT JOIN apps a ON a.id = e.app_id \
         WHERE e.seq IN (SELECT MIN(d.seq) FROM webhook_events d \
                         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 GROUP BY d.app_id) \
         AND e.status = 'pending' AND e.next_attempt_at <= $1 \
         AND (e.claimed_until IS NULL OR e.claimed_until <= $1) \
         AND e.app_id NOT IN (SELECT f.app_id FROM webhook_events f \
                              WHERE f.status = 'pending' AND f.claimed_until > $1) \
         AND (a.id IS NULL OR (a.webhook_url IS NOT NULL AND a.webhook_secret IS NOT NULL \
                               AND a.webhook_validated_at IS NOT NULL)) \
         ORDER BY e.seq LIMIT $2",
    );
    if is_postgres(conn) {
        sql.push_str(" FOR UPDATE OF e SKIP LOCKED");
    }
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ctx.now.millis())
        .bind(limit.max(0))
        .fetch_all(&mut *conn)
        .await?;
    let until = ctx.now.plus_seconds(lease_seconds).millis();
    let mut claimed = Vec::with_capacity(found.len());
    for row in &found {
        let delivery = delivery_from(ctx, row)?;
        sqlx::query("UPDATE webhook_events SET claimed_until = $1, claimed_by = $2 WHERE seq = $3")
            .bind(until)
            .bind(node)
            .bind(delivery.seq)
            .execute(&mut *conn)
            .await?;
        claimed.push(delivery);
    }
    Ok(claimed)
}

fn delivery_from(ctx: &Ctx<'_>, row: &AnyRow) -> Result<Delivery> {
    let present = rows::opt_text(row, "present")?.is_some();
    let (url, sealed) = if present {
        (
            rows::opt_text(row, "webhook_url")?,
            row.try_get::<Option<Vec<u8>>, _>("webhook_secret")?,
        )
    } else {
        (
            Some(rows::text(row, "endpoint_url")?),
            Some(row.try_get::<Vec<u8>, _>("endpoint_secret")?),
        )
    };
    let (Some(url), Some(sealed)) = (url, sealed) else {
        return Err(StoreError::Corrupt(
            "a claimed webhook event has no endpoint".into(),
        ));
    };
    Ok(Delivery {
        seq: rows::int(row, "seq")?,
        id: rows::text(row, "id")?,
        app_id: rows::text(row, "app_id")?,
        event: rows::text(row, "event")?,
        body: rows::text(row, "body")?,
        url,
        secret_token: open_secret(ctx, &sealed)?,
        attempts: rows::int(row, "attempts")?,
        created_at: rows::time(row, "created_at")?,
    })
}

/// Records one delivery attempt in the log and moves the event on: delivered, due again at the
/// given time, or failed. Releases the claim. An event no longer pending (another node finished
/// it after this node's lease ran out) keeps its state; the attempt is logged all the same.
pub async fn record_attempt(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    delivery: &Delivery,
    report: &AttemptReport,
    delivered: bool,
    after_failure: AfterFailure,
) -> Result<()> {
    let outcome = match (delivered, after_failure) {
        (true, _) => "delivered",
        (false, AfterFailure::RetryAt(_)) => "retry",
        (false, AfterFailure::GiveUp) => "failed",
    };
    insert_attempt(
        conn,
        ctx,
        &delivery.app_id,
        Some(&delivery.id),
        &delivery.url,
        report,
        outcome,
    )
    .await?;
    let now = ctx.now.millis();
    let query = match (delivered, after_failure) {
        (true, _) => sqlx::query(
            "UPDATE webhook_events SET status = 'delivered', delivered_at = $1, attempts = attempts + 1, \
             claimed_until = NULL, claimed_by = NULL WHERE seq = $2 AND status = 'pending'",
        )
        .bind(now),
        (false, AfterFailure::RetryAt(at)) => sqlx::query(
            "UPDATE webhook_events SET next_attempt_at = $1, attempts = attempts + 1, \
             claimed_until = NULL, claimed_by = NULL WHERE seq = $2 AND status = 'pending'",
        )
        .bind(at.millis()),
        (false, AfterFailure::GiveUp) => sqlx::query(
            "UPDATE webhook_events SET status = 'failed', attempts = attempts + 1, \
             claimed_until = NULL, claimed_by = NULL WHERE seq = $1 AND status = 'pending'",
        ),
    };
    query.bind(delivery.seq).execute(&mut *conn).await?;
    Ok(())
}

async fn insert_attempt(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    app_id: &str,
    event_id: Option<&str>,
    url: &str,
    report: &AttemptReport,
    outcome: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (app_id, event_id, at, url, status_code, latency_ms, outcome, error, response_excerpt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(app_id)
    .bind(event_id)
    .bind(ctx.now.millis())
    .bind(url)
    .bind(report.status_code.map(i64::from))
    .bind(report.latency_ms.max(0))
    .bind(outcome)
    .bind(report.error.as_deref())
    .bind(report.response_excerpt.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks failed the pending events of endpoints that cannot be sent to (an app whose endpoint
/// failed its last validation, or was removed) once their own schedule has run out: created more
/// than `schedule_seconds` (the sum of every retry delay) ago. An endpoint not tried yet (saved
/// while no worker ran) keeps its events until its first validation says otherwise. Each failed
/// event gets a log line saying why. Returns how many failed.
pub async fn expire_waiting(conn: &mut Conn, ctx: &Ctx<'_>, schedule_seconds: i64) -> Result<u64> {
    let cutoff = ctx.now.plus_seconds(-schedule_seconds.max(0)).millis();
    let mut sql = String::from(
        "SELECT e.seq, e.id, e.app_id, COALESCE(a.webhook_url, e.endpoint_url) AS url, \
         a.webhook_validation_error FROM webhook_events e JOIN apps a ON a.id = e.app_id \
         WHERE e.status = 'pending' AND e.created_at <= $1 \
         AND (e.claimed_until IS NULL OR e.claimed_until <= $2) \
         AND (a.webhook_url IS NULL OR a.webhook_secret IS NULL \
              OR (a.webhook_validated_at IS NULL AND a.webhook_validation_error IS NOT NULL)) \
         ORDER BY e.seq",
    );
    if is_postgres(conn) {
        sql.push_str(" FOR UPDATE OF e SKIP LOCKED");
    }
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(cutoff)
        .bind(ctx.now.millis())
        .fetch_all(&mut *conn)
        .await?;
    for row in &found {
        let why = match rows::opt_text(row, "webhook_validation_error")? {
            Some(error) => format!("the endpoint never passed URL validation ({error})"),
            None => "the app has no validated endpoint".to_owned(),
        };
        let report = AttemptReport {
            error: Some(why),
            ..AttemptReport::default()
        };
        let app_id = rows::text(row, "app_id")?;
        let event_id = rows::text(row, "id")?;
        let url = rows::text(row, "url")?;
        insert_attempt(conn, ctx, &app_id, Some(&event_id), &url, &report, "failed").await?;
        sqlx::query(
            "UPDATE webhook_events SET status = 'failed', claimed_until = NULL, claimed_by = NULL WHERE seq = $1",
        )
        .bind(rows::int(row, "seq")?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(found.len() as u64)
}

/// Makes every endpoint that has never been validated due for validation now (at a worker's
/// start: seeded endpoints, and any saved while no worker ran). Returns how many.
pub async fn validate_unvalidated_now(conn: &mut Conn, ctx: &Ctx<'_>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE apps SET webhook_validation_due_at = $1 WHERE webhook_url IS NOT NULL \
         AND webhook_validated_at IS NULL \
         AND (webhook_validation_due_at IS NULL OR webhook_validation_due_at > $1)",
    )
    .bind(ctx.now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Marks an app's endpoint due for validation now (after its URL or secret changed). Saving an
/// endpoint through [`crate::apps`] does this already.
pub async fn mark_validation_due(conn: &mut Conn, ctx: &Ctx<'_>, app_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE apps SET webhook_validated_at = NULL, webhook_validation_due_at = $1, \
         webhook_validation_error = NULL WHERE id = $2",
    )
    .bind(ctx.now.millis())
    .bind(app_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` endpoints due for a URL validation, pushing their due time
/// `lease_seconds` ahead so no other node validates them meanwhile. An endpoint saved without a
/// due time and never validated counts as due. Call inside a transaction.
pub async fn claim_validations(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    lease_seconds: i64,
    limit: i64,
) -> Result<Vec<EndpointCheck>> {
    let mut sql = String::from(
        "SELECT id, webhook_url, webhook_secret FROM apps \
         WHERE webhook_url IS NOT NULL AND webhook_secret IS NOT NULL \
         AND (webhook_validation_due_at <= $1 \
              OR (webhook_validation_due_at IS NULL AND webhook_validated_at IS NULL)) \
         ORDER BY webhook_validation_due_at, id LIMIT $2",
    );
    if is_postgres(conn) {
        sql.push_str(" FOR UPDATE SKIP LOCKED");
    }
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ctx.now.millis())
        .bind(limit.max(0))
        .fetch_all(&mut *conn)
        .await?;
    let mut checks = Vec::with_capacity(found.len());
    for row in &found {
        let app_id = rows::text(row, "id")?;
        let url = rows::text(row, "webhook_url")?;
        let sealed: Vec<u8> = row.try_get("webhook_secret")?;
        sqlx::query("UPDATE apps SET webhook_validation_due_at = $1 WHERE id = $2")
            .bind(ctx.now.plus_seconds(lease_seconds).millis())
            .bind(&app_id)
            .execute(&mut *conn)
            .await?;
        let failures_in_a_row = validation_failures_in_a_row(conn, &app_id, &url).await?;
        checks.push(EndpointCheck {
            secret_token: open_secret(ctx, &sealed)?,
            app_id,
            url,
            failures_in_a_row,
        });
    }
    Ok(checks)
}

/// Validations of this URL that failed since its last success.
async fn validation_failures_in_a_row(conn: &mut Conn, app_id: &str, url: &str) -> Result<i64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_attempts WHERE app_id = $1 AND url = $2 AND event_id IS NULL \
         AND outcome = 'invalid' AND seq > COALESCE((SELECT MAX(seq) FROM webhook_attempts \
             WHERE app_id = $1 AND url = $2 AND event_id IS NULL AND outcome = 'validated'), 0)",
    )
    .bind(app_id)
    .bind(url)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count)
}

/// Records a URL validation: in the log, and on the endpoint — validated (next due
/// `next_due`, e.g. 72 hours on) or not (with the reason; next try at `next_due`). The endpoint's
/// state changes only if its URL is still the one validated (it may have been changed meanwhile,
/// which made it due again).
pub async fn record_validation(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    check: &EndpointCheck,
    report: &AttemptReport,
    passed: bool,
    next_due: Timestamp,
) -> Result<()> {
    let outcome = if passed { "validated" } else { "invalid" };
    insert_attempt(conn, ctx, &check.app_id, None, &check.url, report, outcome).await?;
    if passed {
        sqlx::query(
            "UPDATE apps SET webhook_validated_at = $1, webhook_validation_due_at = $2, \
             webhook_validation_error = NULL WHERE id = $3 AND webhook_url = $4",
        )
        .bind(ctx.now.millis())
        .bind(next_due.millis())
        .bind(&check.app_id)
        .bind(&check.url)
        .execute(&mut *conn)
        .await?;
    } else {
        let error = report
            .error
            .clone()
            .unwrap_or_else(|| "the endpoint did not answer the validation".into());
        sqlx::query(
            "UPDATE apps SET webhook_validated_at = NULL, webhook_validation_due_at = $1, \
             webhook_validation_error = $2 WHERE id = $3 AND webhook_url = $4",
        )
        .bind(next_due.millis())
        .bind(error)
        .bind(&check.app_id)
        .bind(&check.url)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether anything may be worth a claim now: a due, unclaimed event of an endpoint that may be
/// sent to, or a due validation. A cheap read, so an idle worker (or one whose only waiting
/// events belong to unvalidated endpoints) polls without taking SQLite's write lock.
pub async fn work_due(conn: &mut Conn, now: Timestamp) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM webhook_events e LEFT JOIN apps a ON a.id = e.app_id \
         WHERE e.status = 'pending' AND e.next_attempt_at <= $1 \
         AND (e.claimed_until IS NULL OR e.claimed_until <= $1) \
         AND (a.id IS NULL OR (a.webhook_url IS NOT NULL AND a.webhook_validated_at IS NOT NULL)) \
         UNION ALL SELECT CAST(1 AS BIGINT) FROM apps WHERE webhook_url IS NOT NULL \
         AND (webhook_validation_due_at <= $1 \
              OR (webhook_validation_due_at IS NULL AND webhook_validated_at IS NULL)) \
         LIMIT 1",
    )
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// When the oldest pending event that is due at `now` became due (`None` when none is): the
/// outbox's lag is `now` minus this. Events of endpoints not yet validated count too — they wait.
pub async fn oldest_due(conn: &mut Conn, now: Timestamp) -> Result<Option<Timestamp>> {
    let oldest: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM webhook_events \
         WHERE status = 'pending' AND next_attempt_at <= $1",
    )
    .bind(now.millis())
    .fetch_one(&mut *conn)
    .await?;
    Ok(oldest.map(Timestamp))
}

/// Releases every claim `node` holds (at a clean shutdown), so other nodes need not wait for the
/// leases to run out.
pub async fn release_claims(conn: &mut Conn, node: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE webhook_events SET claimed_until = NULL, claimed_by = NULL \
         WHERE claimed_by = $1 AND status = 'pending'",
    )
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// How many outbox rows are pending (in flight included), delivered and failed.
pub async fn counts(conn: &mut Conn) -> Result<OutboxCounts> {
    let found = sqlx::query("SELECT status, COUNT(*) FROM webhook_events GROUP BY status")
        .fetch_all(&mut *conn)
        .await?;
    let mut counts = OutboxCounts::default();
    for row in &found {
        let status: String = row.try_get(0)?;
        let count: i64 = row.try_get(1)?;
        match status.as_str() {
            "pending" => counts.pending = count,
            "delivered" => counts.delivered = count,
            "failed" => counts.failed = count,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "an outbox row has the status {other:?}"
                )));
            }
        }
    }
    Ok(counts)
}

/// One outbox row by event id.
pub async fn queued_event(conn: &mut Conn, id: &str) -> Result<Option<QueuedEvent>> {
    let found = sqlx::query(
        "SELECT id, app_id, event, status, attempts, next_attempt_at, claimed_by, delivered_at, created_at \
         FROM webhook_events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    found
        .map(|row| {
            Ok(QueuedEvent {
                id: rows::text(&row, "id")?,
                app_id: rows::text(&row, "app_id")?,
                event: rows::text(&row, "event")?,
                status: rows::text(&row, "status")?,
                attempts: rows::int(&row, "attempts")?,
                next_attempt_at: rows::time(&row, "next_attempt_at")?,
                claimed_by: rows::opt_text(&row, "claimed_by")?,
                delivered_at: rows::opt_time(&row, "delivered_at")?,
                created_at: rows::time(&row, "created_at")?,
            })
        })
        .transpose()
}

/// Wakes a delivery worker when the outbox gains rows: PostgreSQL's `NOTIFY accord_webhooks`
/// ([`crate::outbox::CHANNEL`]) from any node. On SQLite (no notifications) it never wakes:
/// the worker polls.
pub struct OutboxListener {
    listener: Option<sqlx::postgres::PgListener>,
}

impl OutboxListener {
    /// Resolves when a notification arrives. Returns `false` when the connection failed: the
    /// caller should fall back to polling alone (a dropped connection reconnects by itself and
    /// loses what was sent meanwhile, which polling covers).
    pub async fn notified(&mut self) -> bool {
        match self.listener.as_mut() {
            Some(listener) => match listener.recv().await {
                Ok(_) => true,
                Err(error) => {
                    tracing::warn!(%error, "webhook notifications lost; polling only");
                    self.listener = None;
                    false
                }
            },
            None => std::future::pending().await,
        }
    }
}

impl Store {
    /// Claims up to `limit` deliverable events for `node` ([`claim_due`]) in its own transaction.
    pub async fn claim_webhook_deliveries(
        &self,
        node: &str,
        lease_seconds: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let mut tx = self.begin().await?;
        let claimed = claim_due(&mut tx, &self.ctx(), node, lease_seconds, limit).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records a delivery attempt ([`record_attempt`]) in its own transaction.
    pub async fn record_webhook_attempt(
        &self,
        delivery: &Delivery,
        report: &AttemptReport,
        delivered: bool,
        after_failure: AfterFailure,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        record_attempt(
            &mut tx,
            &self.ctx(),
            delivery,
            report,
            delivered,
            after_failure,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Fails the waiting events whose schedule has run out ([`expire_waiting`]).
    pub async fn expire_waiting_webhooks(&self, schedule_seconds: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let expired = expire_waiting(&mut tx, &self.ctx(), schedule_seconds).await?;
        tx.commit().await?;
        Ok(expired)
    }

    /// Makes every never-validated endpoint due now ([`validate_unvalidated_now`]).
    pub async fn validate_unvalidated_webhooks_now(&self) -> Result<u64> {
        let mut tx = self.begin().await?;
        let marked = validate_unvalidated_now(&mut tx, &self.ctx()).await?;
        tx.commit().await?;
        Ok(marked)
    }

    /// Claims endpoints due for validation ([`claim_validations`]).
    pub async fn claim_webhook_validations(
        &self,
        lease_seconds: i64,
        limit: i64,
    ) -> Result<Vec<EndpointCheck>> {
        let mut tx = self.begin().await?;
        let checks = claim_validations(&mut tx, &self.ctx(), lease_seconds, limit).await?;
        tx.commit().await?;
        Ok(checks)
    }

    /// Records a URL validation ([`record_validation`]).
    pub async fn record_webhook_validation(
        &self,
        check: &EndpointCheck,
        report: &AttemptReport,
        passed: bool,
        next_due: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        record_validation(&mut tx, &self.ctx(), check, report, passed, next_due).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How long the oldest due, undelivered webhook event has been due, in milliseconds (0 when
    /// none is).
    pub async fn webhook_outbox_lag_millis(&self) -> Result<i64> {
        let now = self.now();
        let mut conn = self.pool().acquire().await?;
        let oldest = oldest_due(&mut conn, now).await?;
        Ok(oldest.map_or(0, |due| now.millis().saturating_sub(due.millis()).max(0)))
    }

    /// Whether a worker has anything to claim now ([`work_due`]); reads only.
    pub async fn webhook_work_due(&self) -> Result<bool> {
        let mut conn = self.pool().acquire().await?;
        work_due(&mut conn, self.now()).await
    }

    /// Releases the claims `node` holds ([`release_claims`]).
    pub async fn release_webhook_claims(&self, node: &str) -> Result<u64> {
        let mut conn = self.pool().acquire().await?;
        release_claims(&mut conn, node).await
    }

    /// How many outbox rows are pending, delivered and failed: `pending == 0` means nothing is
    /// left undelivered.
    pub async fn webhook_outbox_counts(&self) -> Result<OutboxCounts> {
        let mut conn = self.pool().acquire().await?;
        counts(&mut conn).await
    }

    /// One outbox row by event id.
    pub async fn queued_webhook_event(&self, id: &str) -> Result<Option<QueuedEvent>> {
        let mut conn = self.pool().acquire().await?;
        queued_event(&mut conn, id).await
    }

    /// A listener that wakes when any node queues an event (PostgreSQL); one that never wakes on
    /// SQLite. A failure to listen is logged and leaves polling alone.
    pub async fn listen_for_webhooks(&self) -> OutboxListener {
        let listener = match self.backend() {
            Backend::Postgres => {
                match sqlx::postgres::PgListener::connect(&self.inner.database_url).await {
                    Ok(mut listener) => match listener.listen(crate::outbox::CHANNEL).await {
                        Ok(()) => Some(listener),
                        Err(error) => {
                            tracing::warn!(%error, "cannot LISTEN for webhook events; polling only");
                            None
                        }
                    },
                    Err(error) => {
                        tracing::warn!(%error, "cannot open a LISTEN connection for webhooks; polling only");
                        None
                    }
                }
            }
            Backend::Sqlite => None,
        };
        OutboxListener { listener }
    }
}
