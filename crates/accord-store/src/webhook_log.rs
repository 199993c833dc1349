//! The developer's delivery log (webhooks.md: "the developer console shows every delivery attempt
//! … and lets the developer redeliver one"): keyset pages over one app's outbox rows, newest
//! first, each with its attempts; the endpoint's recent URL validations; and redelivery.
//!
//! Redelivery puts the very same row back to pending, due now, with a fresh attempt count: the
//! event keeps its id (`x-accord-event-id`, `webhook-id`), so a receiver that already has it can
//! de-duplicate, and the body keeps its bytes, so the signature scheme is unchanged. The
//! developer account's audit log records it.

use accord_core::clock::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::{Conn, Ctx, Store, rows};

/// One outbox row: an event for one app, and where its delivery stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The event id receivers see (`x-accord-event-id`, `webhook-id`).
    pub id: String,
    /// The log's order (the keyset position).
    pub seq: i64,
    pub app_id: String,
    /// The account the event happened in.
    pub account_id: String,
    pub event: String,
    pub event_ts: Timestamp,
    /// The compact JSON envelope, exactly the bytes sent.
    pub body: String,
    /// The endpoint as it was when the event was raised.
    pub endpoint_url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// One attempt to reach an endpoint: a delivery, or a URL validation (`event_id` absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub seq: i64,
    pub event_id: Option<String>,
    pub at: Timestamp,
    pub url: String,
    /// The HTTP status, absent when none came back.
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    /// `delivered`, `retry`, `failed`, `validated` or `invalid`.
    pub outcome: String,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

const DELIVERY_COLUMNS: &str = "seq, id, app_id, account_id, event, event_ts, body, endpoint_url, \
     status, attempts, next_attempt_at, delivered_at, created_at";

const ATTEMPT_COLUMNS: &str =
    "seq, event_id, at, url, status_code, latency_ms, outcome, error, response_excerpt";

/// How many URL validations the log shows (newest first).
pub const VALIDATIONS_SHOWN: i64 = 10;

fn delivery_from(row: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: rows::text(row, "id")?,
        seq: rows::int(row, "seq")?,
        app_id: rows::text(row, "app_id")?,
        account_id: rows::text(row, "account_id")?,
        event: rows::text(row, "event")?,
        event_ts: rows::time(row, "event_ts")?,
        body: rows::text(row, "body")?,
        endpoint_url: rows::text(row, "endpoint_url")?,
        status: rows::text(row, "status")?,
        attempts: rows::int(row, "attempts")?,
        next_attempt_at: rows::time(row, "next_attempt_at")?,
        delivered_at: rows::opt_time(row, "delivered_at")?,
        created_at: rows::time(row, "created_at")?,
    })
}

fn attempt_from(row: &AnyRow) -> Result<Attempt> {
    Ok(Attempt {
        seq: rows::int(row, "seq")?,
        event_id: rows::opt_text(row, "event_id")?,
        at: rows::time(row, "at")?,
        url: rows::text(row, "url")?,
        status_code: sqlx::Row::try_get::<Option<i64>, _>(row, "status_code")?,
        latency_ms: rows::int(row, "latency_ms")?,
        outcome: rows::text(row, "outcome")?,
        error: rows::opt_text(row, "error")?,
        response_excerpt: rows::opt_text(row, "response_excerpt")?,
    })
}

/// A page of an app's deliveries, newest first: at most `limit` rows after the keyset position
/// `before` (the `seq` of the previous page's last row), and the app's total.
pub async fn page(
    conn: &mut Conn,
    app_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<Delivery>, i64)> {
    let found = match before {
        Some(before) => {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_events WHERE app_id = $1 AND seq < $2 \
                 ORDER BY seq DESC LIMIT $3"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(app_id)
                .bind(before)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_events WHERE app_id = $1 \
                 ORDER BY seq DESC LIMIT $2"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(app_id)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE app_id = $1")
        .bind(app_id)
        .fetch_one(&mut *conn)
        .await?;
    let deliveries = found.iter().map(delivery_from).collect::<Result<_>>()?;
    Ok((deliveries, total))
}

/// Every attempt at the given deliveries of one app, oldest first (one query for a whole page:
/// the page's rows lie between its first and last `seq`).
pub async fn attempts_of(
    conn: &mut Conn,
    app_id: &str,
    deliveries: &[Delivery],
) -> Result<Vec<Attempt>> {
    let (Some(low), Some(high)) = (
        deliveries.iter().map(|d| d.seq).min(),
        deliveries.iter().map(|d| d.seq).max(),
    ) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE app_id = $1 AND event_id IN \
         (SELECT id FROM webhook_events WHERE app_id = $1 AND seq >= $2 AND seq <= $3) ORDER BY seq"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(app_id)
        .bind(low)
        .bind(high)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(attempt_from).collect()
}

/// The endpoint's most recent URL validations, newest first.
pub async fn validations(conn: &mut Conn, app_id: &str, limit: i64) -> Result<Vec<Attempt>> {
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE app_id = $1 AND event_id IS NULL \
         ORDER BY seq DESC LIMIT $2"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(app_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(attempt_from).collect()
}

/// An app's endpoint and where its URL validation stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointState {
    pub url: String,
    pub events: Vec<String>,
    pub validated_at: Option<Timestamp>,
    /// When the next validation is due (saved, rotated, or 72 hours after the last).
    pub validation_due_at: Option<Timestamp>,
    /// Why the last validation failed.
    pub validation_error: Option<String>,
}

/// The app's endpoint, `None` when it has none.
pub async fn endpoint_state(conn: &mut Conn, app_id: &str) -> Result<Option<EndpointState>> {
    let found = sqlx::query(
        "SELECT webhook_url, webhook_events, webhook_validated_at, webhook_validation_due_at, \
         webhook_validation_error FROM apps WHERE id = $1 AND webhook_url IS NOT NULL",
    )
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    found
        .map(|row| {
            Ok(EndpointState {
                url: rows::text(&row, "webhook_url")?,
                events: rows::json(&row, "webhook_events")?,
                validated_at: rows::opt_time(&row, "webhook_validated_at")?,
                validation_due_at: rows::opt_time(&row, "webhook_validation_due_at")?,
                validation_error: rows::opt_text(&row, "webhook_validation_error")?,
            })
        })
        .transpose()
}

/// One delivery by its id.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<Delivery>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_events WHERE id = $1");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    found.as_ref().map(delivery_from).transpose()
}

/// Puts a delivery back to pending, due now, with a fresh attempt count and its id kept; audited
/// in the app's developer account. `app_id`, when given, must be the delivery's app (the API
/// addresses a delivery under its app): otherwise the delivery reads as missing.
pub async fn redeliver(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &str,
    app_id: Option<&str>,
) -> Result<Delivery> {
    let found = get(conn, id)
        .await?
        .filter(|d| app_id.is_none_or(|app| d.app_id == app))
        .ok_or_else(|| StoreError::not_found("webhook delivery", id))?;
    sqlx::query(
        "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = $1, \
         claimed_until = NULL, claimed_by = NULL, delivered_at = NULL WHERE id = $2",
    )
    .bind(ctx.now.millis())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    // The app may be gone (its own `app_deauthorized` outlives it): audit in the account the
    // event happened in then.
    let developer: Option<String> =
        sqlx::query_scalar("SELECT developer_account_id FROM apps WHERE id = $1")
            .bind(&found.app_id)
            .fetch_optional(&mut *conn)
            .await?;
    let account = developer.unwrap_or_else(|| found.account_id.clone());
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: &account,
            actor,
            action: "webhook.redelivered",
            target_kind: "app",
            target_id: &found.app_id,
            details: serde_json::json!({
                "event_id": found.id,
                "event": found.event,
                "previous_status": found.status,
                "previous_attempts": found.attempts,
            }),
        },
    )
    .await?;
    if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(crate::outbox::CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    get(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("webhook delivery", id))
}

impl Store {
    /// A page of an app's delivery log (see [`page`]).
    pub async fn webhook_deliveries(
        &self,
        app_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<Delivery>, i64)> {
        let mut conn = self.pool().acquire().await?;
        page(&mut conn, app_id, before, limit).await
    }

    /// The attempts at a page of deliveries (see [`attempts_of`]).
    pub async fn webhook_attempts(
        &self,
        app_id: &str,
        deliveries: &[Delivery],
    ) -> Result<Vec<Attempt>> {
        let mut conn = self.pool().acquire().await?;
        attempts_of(&mut conn, app_id, deliveries).await
    }

    /// The endpoint's most recent URL validations (see [`validations`]).
    pub async fn webhook_validations(&self, app_id: &str) -> Result<Vec<Attempt>> {
        let mut conn = self.pool().acquire().await?;
        validations(&mut conn, app_id, VALIDATIONS_SHOWN).await
    }

    /// The app's endpoint and its validation state (see [`endpoint_state`]).
    pub async fn webhook_endpoint(&self, app_id: &str) -> Result<Option<EndpointState>> {
        let mut conn = self.pool().acquire().await?;
        endpoint_state(&mut conn, app_id).await
    }

    /// One delivery by its id.
    pub async fn webhook_delivery(&self, id: &str) -> Result<Delivery> {
        let mut conn = self.pool().acquire().await?;
        get(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::not_found("webhook delivery", id))
    }

    /// Redelivers one delivery (see [`redeliver`]).
    pub async fn redeliver_webhook(
        &self,
        actor: &Actor,
        id: &str,
        app_id: Option<&str>,
    ) -> Result<Delivery> {
        let mut tx = self.begin().await?;
        let delivery = redeliver(&mut tx, &self.ctx(), actor, id, app_id).await?;
        self.commit(tx).await?;
        Ok(delivery)
    }
}
