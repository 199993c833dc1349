//! The webhook receiver built into `accord demo`, so webhooks work with nothing else running: the
//! demo apps' endpoints are `POST {public URL}/_demo/webhooks/{appId}`, served by the demo's own
//! process. It answers `endpoint.url_validation` as an integrator's endpoint must, and prints each
//! delivery on the terminal — event, app, and whether both signatures (Zoom's `x-zm-signature`
//! and Standard Webhooks' `webhook-signature`) verified with the app's current secret token.
//!
//! The token is read from the store on each request, so a rotated token is in force at once.
//! A delivery whose signature does not verify is refused with 401, as a real receiver would.
//!
//! `GET {PATH}/{appId}` lists what the receiver took for that app, one JSON object a line, so the
//! demo's walkthrough can show a delivery with `curl`; `?event=NAME` keeps one event, and
//! `?wait=SECONDS` (at most [`MAX_WAIT_SECONDS`]) holds the answer until one has arrived — the
//! worker delivers moments after the change, and a bounded wait beats a sleep. It answers only
//! clients on the loopback, and keeps only the newest [`KEPT`] deliveries of all apps together
//! (each payload at most [`KEPT_PAYLOAD_BYTES`]), so whatever is sent, memory stays bounded.

use accord_core::webhooks::{
    URL_VALIDATION, standard_signature, url_validation_answer, zoom_signature,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_store::Store;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Where the demo's receiver listens, under the public URL.
pub const PATH: &str = "/_demo/webhooks";
/// How many deliveries the receiver keeps for its listing, of all apps together.
pub const KEPT: usize = 200;
/// A payload larger than this (serialized) is listed without it.
pub const KEPT_PAYLOAD_BYTES: usize = 4096;
/// The longest `?wait=` the listing honours.
pub const MAX_WAIT_SECONDS: u64 = 30;

/// The receiver's routes, to merge into the demo's router.
pub fn routes(store: Store) -> Router {
    Router::new()
        .route(&format!("{PATH}/{{app_id}}"), post(receive).get(list))
        .with_state(Receiver {
            store,
            inbox: Inbox::default(),
        })
}

/// The receiver's state: the store (for the apps' secret tokens) and what it took.
#[derive(Clone)]
struct Receiver {
    store: Store,
    inbox: Inbox,
}

/// One delivery the receiver took, as its listing shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Taken {
    pub app_id: String,
    pub event: String,
    pub event_id: Option<String>,
    /// Both signatures verified with the app's current secret token.
    pub verified: bool,
    pub x_zm_signature: bool,
    pub webhook_signature: bool,
    /// The envelope's `payload`, unless larger than [`KEPT_PAYLOAD_BYTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// The newest [`KEPT`] deliveries taken, and a signal for listings waiting for one.
#[derive(Clone, Default)]
pub struct Inbox {
    inner: Arc<InboxInner>,
}

#[derive(Default)]
struct InboxInner {
    taken: Mutex<VecDeque<Taken>>,
    arrived: Notify,
}

impl Inbox {
    /// Keeps a delivery, dropping the oldest beyond [`KEPT`], and wakes waiting listings.
    pub fn keep(&self, taken: Taken) {
        {
            let mut kept = self.inner.taken.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() == KEPT {
                kept.pop_front();
            }
            kept.push_back(taken);
        }
        self.inner.arrived.notify_waiters();
    }

    /// The app's deliveries, oldest first, only `event` ones if given.
    pub fn of(&self, app_id: &str, event: Option<&str>) -> Vec<Taken> {
        let kept = self.inner.taken.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .filter(|t| t.app_id == app_id && event.is_none_or(|e| t.event == e))
            .cloned()
            .collect()
    }

    /// Like [`Inbox::of`], but waits up to `wait` for at least one to arrive.
    pub async fn wait_for(&self, app_id: &str, event: Option<&str>, wait: Duration) -> Vec<Taken> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a delivery kept in between still wakes it.
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let found = self.of(app_id, event);
            if !found.is_empty() || tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return found;
            }
        }
    }
}

/// What one request to the receiver was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A URL validation, answered with this JSON body.
    Validation { answer: serde_json::Value },
    /// A delivery: its event, and whether each signature verified.
    Delivery {
        event: String,
        event_id: Option<String>,
        zoom_verified: bool,
        standard_verified: bool,
    },
    /// Not a webhook request (no JSON envelope).
    Unreadable,
}

impl Received {
    /// The line the demo prints for it.
    pub fn line(&self, app_id: &str) -> String {
        match self {
            Received::Validation { .. } => {
                format!("webhook  endpoint.url_validation  app {app_id}  answered")
            }
            Received::Delivery {
                event,
                event_id,
                zoom_verified,
                standard_verified,
            } => {
                let mark = |ok: bool| if ok { "verified" } else { "NOT verified" };
                format!(
                    "webhook  {event}  app {app_id}  event {}  signature {} (x-zm-signature {}, webhook-signature {})",
                    event_id.as_deref().unwrap_or("-"),
                    mark(*zoom_verified && *standard_verified),
                    mark(*zoom_verified),
                    mark(*standard_verified),
                )
            }
            Received::Unreadable => format!("webhook  app {app_id}  unreadable request ignored"),
        }
    }
}

impl Received {
    /// What the listing keeps of a delivery (nothing of a validation or an unreadable request).
    pub fn taken(&self, app_id: &str, body: &[u8]) -> Option<Taken> {
        let Received::Delivery {
            event,
            event_id,
            zoom_verified,
            standard_verified,
        } = self
        else {
            return None;
        };
        let payload = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .map(|mut envelope| envelope["payload"].take())
            .filter(|payload| payload.to_string().len() <= KEPT_PAYLOAD_BYTES);
        Some(Taken {
            app_id: app_id.to_owned(),
            event: event.clone(),
            event_id: event_id.clone(),
            verified: *zoom_verified && *standard_verified,
            x_zm_signature: *zoom_verified,
            webhook_signature: *standard_verified,
            payload,
        })
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Compares two strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Judges one request with the app's secret token: pure, so it is tested without a server.
pub fn judge(secret_token: &str, headers: &HeaderMap, body: &[u8]) -> Received {
    let Ok(text) = std::str::from_utf8(body) else {
        return Received::Unreadable;
    };
    let Ok(envelope) = serde_json::from_str::<serde_json::Value>(text) else {
        return Received::Unreadable;
    };
    let Some(event) = envelope["event"].as_str() else {
        return Received::Unreadable;
    };
    if event == URL_VALIDATION {
        let plain = envelope["payload"]["plainToken"].as_str().unwrap_or("");
        return Received::Validation {
            answer: serde_json::json!({
                "plainToken": plain,
                "encryptedToken": url_validation_answer(secret_token, plain),
            }),
        };
    }
    let zoom_verified = match (
        header(headers, "x-zm-request-timestamp").and_then(|t| t.parse::<i64>().ok()),
        header(headers, "x-zm-signature"),
    ) {
        (Some(timestamp), Some(signature)) => {
            same(&zoom_signature(secret_token, timestamp, text), signature)
        }
        _ => false,
    };
    let event_id = header(headers, "webhook-id").map(str::to_owned);
    let standard_verified = match (
        &event_id,
        header(headers, "webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
        header(headers, "webhook-signature"),
    ) {
        (Some(id), Some(timestamp), Some(signatures)) => {
            let expected = standard_signature(secret_token, id, timestamp, text);
            signatures
                .split(' ')
                .any(|candidate| same(&expected, candidate))
        }
        _ => false,
    };
    Received::Delivery {
        event: event.to_owned(),
        event_id: header(headers, "x-accord-event-id")
            .map(str::to_owned)
            .or(event_id),
        zoom_verified,
        standard_verified,
    }
}

/// The listing's query: `event` and `wait` (seconds), both optional.
#[derive(Debug, Deserialize)]
struct ListQuery {
    event: Option<String>,
    wait: Option<u64>,
}

/// Whether a client may see the listing: only one on the loopback (a demo started with
/// `--bind 0.0.0.0` still keeps what apps were sent to itself).
fn may_list(peer: Option<SocketAddr>) -> bool {
    peer.is_some_and(|peer| peer.ip().is_loopback())
}

/// `GET {PATH}/{appId}`: the app's deliveries, one JSON object a line, oldest first.
async fn list(
    State(receiver): State<Receiver>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(app_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    if !may_list(peer.map(|Extension(ConnectInfo(peer))| peer)) {
        return (
            StatusCode::FORBIDDEN,
            "the demo receiver lists deliveries only to clients on the loopback\n",
        )
            .into_response();
    }
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT_SECONDS));
    let taken = receiver
        .inbox
        .wait_for(&app_id, query.event.as_deref(), wait)
        .await;
    let mut lines = String::new();
    for one in &taken {
        lines.push_str(&serde_json::to_string(one).unwrap_or_default());
        lines.push('\n');
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response()
}

async fn receive(
    State(Receiver { store, inbox }): State<Receiver>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let secret = match store.webhook_secret_token(&app_id).await {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            println!("webhook  app {app_id}  has no secret token here: refused");
            return StatusCode::NOT_FOUND.into_response();
        }
        Err(error) => {
            tracing::warn!(%error, "the demo receiver cannot read the app's secret token");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let received = judge(secret.expose(), &headers, &body);
    println!("{}", received.line(&app_id));
    if let Some(taken) = received.taken(&app_id, &body) {
        inbox.keep(taken);
    }
    match received {
        Received::Validation { answer } => axum::Json(answer).into_response(),
        Received::Delivery {
            zoom_verified: true,
            standard_verified: true,
            ..
        } => StatusCode::NO_CONTENT.into_response(),
        Received::Delivery { .. } => StatusCode::UNAUTHORIZED.into_response(),
        Received::Unreadable => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "demo-webhook-token";

    fn signed(body: &str, id: &str, timestamp: i64, token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            headers.insert(name, value.parse().expect("a header value"));
        };
        set("x-zm-request-timestamp", timestamp.to_string());
        set("x-zm-signature", zoom_signature(token, timestamp, body));
        set("webhook-id", id.to_owned());
        set("webhook-timestamp", timestamp.to_string());
        set(
            "webhook-signature",
            format!(
                "v1,bm90LXRoaXMtb25l {}",
                standard_signature(token, id, timestamp, body)
            ),
        );
        set("x-accord-event-id", id.to_owned());
        headers
    }

    #[test]
    fn a_signed_delivery_verifies_and_a_tampered_one_does_not() {
        let body = r#"{"event":"meeting.created","event_ts":1,"payload":{"account_id":"acme"}}"#;
        let headers = signed(body, "evt-1", 1_700_000_000, TOKEN);
        let good = judge(TOKEN, &headers, body.as_bytes());
        assert_eq!(
            good,
            Received::Delivery {
                event: "meeting.created".into(),
                event_id: Some("evt-1".into()),
                zoom_verified: true,
                standard_verified: true,
            }
        );
        assert!(good.line("notes").contains("signature verified"));

        let tampered = body.replace("acme", "evil");
        let bad = judge(TOKEN, &headers, tampered.as_bytes());
        assert!(matches!(
            bad,
            Received::Delivery {
                zoom_verified: false,
                standard_verified: false,
                ..
            }
        ));
        assert!(bad.line("notes").contains("NOT verified"));

        let wrong_key = judge("another-token", &headers, body.as_bytes());
        assert!(matches!(
            wrong_key,
            Received::Delivery {
                zoom_verified: false,
                standard_verified: false,
                ..
            }
        ));
        let unsigned = judge(TOKEN, &HeaderMap::new(), body.as_bytes());
        assert!(matches!(
            unsigned,
            Received::Delivery {
                zoom_verified: false,
                ..
            }
        ));
    }

    #[test]
    fn a_url_validation_is_answered_with_the_tokens_hmac() {
        let body =
            r#"{"event":"endpoint.url_validation","event_ts":1,"payload":{"plainToken":"abc"}}"#;
        let Received::Validation { answer } = judge(TOKEN, &HeaderMap::new(), body.as_bytes())
        else {
            panic!("a validation");
        };
        assert_eq!(answer["plainToken"], "abc");
        assert_eq!(
            answer["encryptedToken"],
            url_validation_answer(TOKEN, "abc")
        );
        assert_eq!(
            judge(TOKEN, &HeaderMap::new(), b"not json"),
            Received::Unreadable
        );
    }

    fn taken(app_id: &str, event: &str) -> Taken {
        Taken {
            app_id: app_id.into(),
            event: event.into(),
            event_id: None,
            verified: true,
            x_zm_signature: true,
            webhook_signature: true,
            payload: None,
        }
    }

    #[test]
    fn the_inbox_keeps_only_the_newest_deliveries_and_lists_them_per_app_and_event() {
        let inbox = Inbox::default();
        for _ in 0..KEPT {
            inbox.keep(taken("notes", "meeting.created"));
        }
        inbox.keep(taken("meeting-sync", "app_deauthorized"));
        assert_eq!(inbox.of("notes", None).len(), KEPT - 1, "the oldest went");
        assert_eq!(inbox.of("meeting-sync", None).len(), 1);
        assert!(inbox.of("meeting-sync", Some("meeting.created")).is_empty());
        assert!(inbox.of("acme-it", None).is_empty());
    }

    #[test]
    fn a_delivery_is_kept_with_its_payload_unless_the_payload_is_large() {
        let body = r#"{"event":"app_deauthorized","event_ts":1,"payload":{"account_id":"acme"}}"#;
        let headers = signed(body, "evt-2", 1_700_000_000, TOKEN);
        let kept = judge(TOKEN, &headers, body.as_bytes())
            .taken("meeting-sync", body.as_bytes())
            .expect("a delivery is kept");
        assert!(kept.verified);
        assert_eq!(
            kept.payload,
            Some(serde_json::json!({"account_id": "acme"}))
        );
        let large = format!(
            r#"{{"event":"x","payload":{{"pad":"{}"}}}}"#,
            "a".repeat(KEPT_PAYLOAD_BYTES)
        );
        let kept = judge(TOKEN, &HeaderMap::new(), large.as_bytes())
            .taken("notes", large.as_bytes())
            .expect("a delivery, though unsigned");
        assert!(!kept.verified && kept.payload.is_none());
        let validation = r#"{"event":"endpoint.url_validation","payload":{"plainToken":"a"}}"#;
        assert!(
            judge(TOKEN, &HeaderMap::new(), validation.as_bytes())
                .taken("notes", validation.as_bytes())
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_waiting_listing_answers_when_a_delivery_arrives_or_empty_at_its_deadline() {
        let inbox = Inbox::default();
        let empty = inbox
            .wait_for("notes", None, Duration::from_millis(10))
            .await;
        assert!(empty.is_empty());
        let waiting = tokio::spawn({
            let inbox = inbox.clone();
            async move {
                inbox
                    .wait_for("notes", Some("app_deauthorized"), Duration::from_secs(3600))
                    .await
            }
        });
        tokio::task::yield_now().await;
        inbox.keep(taken("notes", "meeting.created"));
        inbox.keep(taken("notes", "app_deauthorized"));
        let found = waiting.await.expect("the listing ends");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].event, "app_deauthorized");
    }

    #[test]
    fn only_loopback_clients_see_the_listing() {
        let at = |address: &str| Some(address.parse::<SocketAddr>().expect("an address"));
        assert!(may_list(at("127.0.0.1:5000")));
        assert!(may_list(at("[::1]:5000")));
        assert!(!may_list(at("192.168.1.20:5000")));
        assert!(!may_list(None), "unknown peers are refused");
    }
}
