//! The developer's webhook tools, an Accord extension under `/v2` (webhooks.md, "Delivery
//! guarantees"): the delivery log of an app (`GET /apps/{appId}/webhook_deliveries`, keyset pages,
//! newest first, each delivery with every attempt), redelivering one, and rotating the webhook
//! secret token (shown once).
//!
//! An app belongs to its developer account: the tenant step of the rule is asked with that
//! account as the object's, so a token of any other account gets exactly the answer a missing app
//! gets (404, "App does not exist"), never a hint that the app exists.

use std::sync::Arc;

use accord_store::StoreError;
use accord_store::webhook_log::{Attempt, Delivery, EndpointState};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{ApiDenial, TokenState};
use super::apps::as_developer;
use super::handler::{Call, Pages, Writing, actor, store_error};
use super::paging::{Binding, KeyPart, PageFields, split_page};
use crate::errors::ApiError;
use crate::state::AppState;

/// One attempt to reach the endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    pub time: String,
    pub url: String,
    /// The HTTP status the endpoint answered, absent when none came back.
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    /// `delivered`, `retry`, `failed` (deliveries); `validated`, `invalid` (URL validations).
    pub outcome: String,
    /// Why no acceptable answer came (refused, timed out, unreachable, …).
    pub error: Option<String>,
    /// The start of the endpoint's answer.
    pub response_excerpt: Option<String>,
}

impl DeliveryAttempt {
    fn new(attempt: &Attempt) -> Self {
        DeliveryAttempt {
            time: attempt.at.rfc3339(),
            url: attempt.url.clone(),
            status_code: attempt.status_code,
            latency_ms: attempt.latency_ms,
            outcome: attempt.outcome.clone(),
            error: attempt.error.clone(),
            response_excerpt: attempt.response_excerpt.clone(),
        }
    }
}

/// One event sent (or to be sent) to the app's endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// The event id (`x-accord-event-id`, `webhook-id`); redelivery keeps it.
    pub id: String,
    pub event: String,
    pub event_ts: i64,
    /// The account the event happened in.
    pub account_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts since the event was queued (or last redelivered).
    pub attempts: i64,
    /// When the next attempt is due, while pending.
    pub next_attempt_time: Option<String>,
    pub delivered_time: Option<String>,
    pub created_time: String,
    /// The envelope sent, exactly as signed.
    pub body: String,
    /// Every attempt at this event, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

impl WebhookDelivery {
    fn new(delivery: &Delivery, attempts: &[Attempt]) -> Self {
        WebhookDelivery {
            id: delivery.id.clone(),
            event: delivery.event.clone(),
            event_ts: delivery.event_ts.millis(),
            account_id: delivery.account_id.clone(),
            status: delivery.status.clone(),
            attempts: delivery.attempts,
            next_attempt_time: (delivery.status == "pending")
                .then(|| delivery.next_attempt_at.rfc3339()),
            delivered_time: delivery.delivered_at.map(|at| at.rfc3339()),
            created_time: delivery.created_at.rfc3339(),
            body: delivery.body.clone(),
            attempt_log: attempts
                .iter()
                .filter(|a| a.event_id.as_deref() == Some(delivery.id.as_str()))
                .map(DeliveryAttempt::new)
                .collect(),
        }
    }
}

/// The app's endpoint and its URL validation.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub url: String,
    pub events: Vec<String>,
    /// When it last passed validation; absent while it receives nothing.
    pub validated_time: Option<String>,
    pub validation_due_time: Option<String>,
    pub validation_error: Option<String>,
    /// The most recent URL validations, newest first.
    pub validations: Vec<DeliveryAttempt>,
}

/// A page of `GET /apps/{appId}/webhook_deliveries`, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveries {
    pub app_id: String,
    /// Absent when the app has no endpoint now.
    pub endpoint: Option<WebhookEndpoint>,
    #[serde(flatten)]
    pub page: PageFields,
    pub webhook_deliveries: Vec<WebhookDelivery>,
}

/// The answer to a redelivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redelivered {
    pub id: String,
    pub event: String,
    /// `pending`: due now.
    pub status: String,
    pub next_attempt_time: String,
}

/// The answer to a rotation: the new secret token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub app_id: String,
    pub secret_token: String,
    /// The endpoint receives nothing until it passes URL validation with the new token.
    pub validation_due_time: String,
}

/// `GET /apps/{appId}/webhook_deliveries`: the app's delivery log, newest first, with its
/// endpoint's validation state. Only tokens of the app's developer account.
#[utoipa::path(
    get, path = "/v2/apps/{appId}/webhook_deliveries", tag = "Webhooks",
    params(("appId" = String, Path, description = "The app's id"), crate::openapi::PageParams),
    responses((status = 200, description = "OK", body = WebhookDeliveries), crate::openapi::Failures),
)]
pub async fn list(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<WebhookDeliveries>, ApiDenial> {
    let (caller, _) = as_developer(&state, &token, call.endpoint, &app_id).await?;
    let binding =
        Binding::new(caller.grant.account_id.clone(), call.endpoint.name).filter("app", &*app_id);
    let pages = Pages::read(&state, query.as_deref(), binding)?;
    let before = pages.after(|parts| match parts {
        [KeyPart::Int(seq)] => Some(*seq),
        _ => None,
    })?;
    let store = state.store();
    let (rows, total) = store
        .webhook_deliveries(&app_id, before, i64::from(pages.query.fetch_limit()))
        .await?;
    let (deliveries, next) = split_page(rows, pages.query.page_size, |d: &Delivery| {
        vec![KeyPart::Int(d.seq)]
    });
    let attempts = store.webhook_attempts(&app_id, &deliveries).await?;
    let endpoint = match store.webhook_endpoint(&app_id).await? {
        Some(state) => Some(endpoint_view(
            state,
            &store.webhook_validations(&app_id).await?,
        )),
        None => None,
    };
    let fields = pages.fields(u64::try_from(total).unwrap_or(0), next.as_deref());
    Ok(Json(WebhookDeliveries {
        app_id,
        endpoint,
        page: fields,
        webhook_deliveries: deliveries
            .iter()
            .map(|d| WebhookDelivery::new(d, &attempts))
            .collect(),
    }))
}

pub(crate) fn endpoint_view(state: EndpointState, validations: &[Attempt]) -> WebhookEndpoint {
    WebhookEndpoint {
        url: state.url,
        events: state.events,
        validated_time: state.validated_at.map(|at| at.rfc3339()),
        validation_due_time: state.validation_due_at.map(|at| at.rfc3339()),
        validation_error: state.validation_error,
        validations: validations.iter().map(DeliveryAttempt::new).collect(),
    }
}

/// `POST /apps/{appId}/webhook_deliveries/{deliveryId}/redeliver` → 202: the delivery goes back
/// to pending, due now, with its id kept (receivers de-duplicate on it) and a fresh schedule.
#[utoipa::path(
    post, path = "/v2/apps/{appId}/webhook_deliveries/{deliveryId}/redeliver", tag = "Webhooks",
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("deliveryId" = String, Path, description = "The delivery's (event's) id"),
    ),
    responses((status = 202, description = "Queued again, due now", body = Redelivered), crate::openapi::Failures),
)]
pub async fn redeliver(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((app_id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Redelivered>), ApiDenial> {
    let (caller, _) = as_developer(&state, &token, call.endpoint, &app_id).await?;
    let redelivered = state
        .store()
        .redeliver_webhook(&actor(&caller), &delivery_id, Some(&app_id))
        .await;
    let delivery = match redelivered {
        Ok(delivery) => delivery,
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!(
                "Webhook delivery does not exist: {delivery_id}."
            ))
            .into());
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(app = %app_id, event_id = %delivery.id, "webhook redelivery queued through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(Redelivered {
            id: delivery.id,
            event: delivery.event,
            status: delivery.status,
            next_attempt_time: delivery.next_attempt_at.rfc3339(),
        }),
    ))
}

/// `POST /apps/{appId}/webhook/secret` → 201: a new webhook secret token, shown this once. The
/// old one stops at once; the endpoint receives nothing until it passes URL validation with the
/// new one.
#[utoipa::path(
    post, path = "/v2/apps/{appId}/webhook/secret", tag = "Webhooks",
    params(("appId" = String, Path, description = "The app's id")),
    responses((status = 201, description = "The new secret token (shown once)", body = RotatedSecret), crate::openapi::Failures),
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
) -> Result<(StatusCode, Json<RotatedSecret>), ApiDenial> {
    let (caller, _) = as_developer(&state, &token, call.endpoint, &app_id).await?;
    let rotated = state
        .store()
        .rotate_webhook_secret(&actor(&caller), &app_id)
        .await;
    let secret = match rotated {
        Ok(secret) => secret,
        Err(StoreError::Invalid(message)) => {
            return Err(ApiError::validation("webhook", message).into());
        }
        Err(error) => return Err(store_error(error, Some(Writing::App(&app_id)))),
    };
    tracing::info!(app = %app_id, "webhook secret token rotated through the API");
    Ok((
        StatusCode::CREATED,
        Json(RotatedSecret {
            app_id,
            secret_token: secret.expose().to_owned(),
            validation_due_time: state.store().now().rfc3339(),
        }),
    ))
}
