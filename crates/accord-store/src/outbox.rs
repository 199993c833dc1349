//! The webhook outbox (webhooks.md, "Delivery guarantees"): an event is a row written in the same
//! transaction as the change that raised it, one row per receiving app, so a crash at any moment
//! loses nothing and a rolled-back change sends nothing. The delivery worker
//! ([`crate::deliveries`]) claims and sends the rows.
//!
//! Only apps whose endpoint subscribes to the event get a row; the body is the final compact
//! envelope, so every attempt sends (and signs) the same bytes. On PostgreSQL the insert also
//! sends `NOTIFY accord_webhooks`, delivered at commit, which wakes every node's worker at once.

use accord_core::clock::Timestamp;
use accord_core::ids::Secret;
use accord_core::webhooks::{self, Event};

use crate::error::{Result, StoreError};
use crate::{Conn, Ctx};

/// The PostgreSQL channel the outbox notifies on when it gains rows.
pub const CHANNEL: &str = "accord_webhooks";

/// An app's endpoint as the outbox needs it.
struct Endpoint {
    url: String,
    sealed_secret: Vec<u8>,
    events: Vec<String>,
}

async fn endpoint(conn: &mut Conn, app_id: &str) -> Result<Option<Endpoint>> {
    let row: Option<(Option<String>, Option<Vec<u8>>, String)> = sqlx::query_as(
        "SELECT webhook_url, webhook_secret, webhook_events FROM apps WHERE id = $1",
    )
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((Some(url), Some(sealed_secret), events)) = row else {
        return Ok(None);
    };
    let events = serde_json::from_str(&events)
        .map_err(|e| StoreError::Corrupt(format!("webhook events of app {app_id}: {e}")))?;
    Ok(Some(Endpoint {
        url,
        sealed_secret,
        events,
    }))
}

/// Queues `event` for one app when its endpoint subscribes to it; `payload` builds the event's
/// payload and is given the app's secret token (`app_deauthorized` signs with it). Returns the
/// event id, or `None` when the app has no endpoint for the event. Call inside the transaction of
/// the change that raised the event.
pub async fn enqueue(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    app_id: &str,
    account_id: &str,
    event: Event,
    payload: impl FnOnce(&Secret) -> serde_json::Value,
) -> Result<Option<String>> {
    let Some(endpoint) = endpoint(conn, app_id).await? else {
        return Ok(None);
    };
    if !endpoint.events.iter().any(|e| e == event.as_str()) {
        return Ok(None);
    }
    let plain = ctx.keys.decrypt(&endpoint.sealed_secret)?;
    let secret = Secret::new(
        String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::Corrupt("a webhook secret token is not text".into()))?,
    );
    let body = webhooks::envelope(event.as_str(), ctx.now, &payload(&secret));
    insert(conn, ctx.now, app_id, account_id, event, &body, &endpoint).await
}

async fn insert(
    conn: &mut Conn,
    now: Timestamp,
    app_id: &str,
    account_id: &str,
    event: Event,
    body: &str,
    endpoint: &Endpoint,
) -> Result<Option<String>> {
    let id = crate::secrets::new_id();
    sqlx::query(
        "INSERT INTO webhook_events (id, app_id, account_id, event, event_ts, body, endpoint_url, endpoint_secret, \
         status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $5, $5)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(account_id)
    .bind(event.as_str())
    .bind(now.millis())
    .bind(body)
    .bind(&endpoint.url)
    .bind(&endpoint.sealed_secret)
    .execute(&mut *conn)
    .await?;
    if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some(id))
}
