//! The webhook receiver built into `accord demo`, so webhooks work with nothing else running: the
//! demo apps' endpoints are `POST {public URL}/_demo/webhooks/{appId}`, served by the demo's own
//! process. It answers `endpoint.url_validation` as an integrator's endpoint must, and prints each
//! delivery on the terminal — event, app, and whether both signatures (Zoom's `x-zm-signature`
//! and Standard Webhooks' `webhook-signature`) verified with the app's current secret token.
//!
//! The token is read from the store on each request, so a rotated token is in force at once.
//! A delivery whose signature does not verify is refused with 401, as a real receiver would.

use accord_core::webhooks::{
    URL_VALIDATION, standard_signature, url_validation_answer, zoom_signature,
};
use accord_store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// Where the demo's receiver listens, under the public URL.
pub const PATH: &str = "/_demo/webhooks";

/// The receiver's routes, to merge into the demo's router.
pub fn routes(store: Store) -> Router {
    Router::new()
        .route(&format!("{PATH}/{{app_id}}"), post(receive))
        .with_state(store)
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

async fn receive(
    State(store): State<Store>,
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
}
