//! What names every request in the logs: a request id (`x-zm-trackingid`, Zoom's header), a span
//! with that id, method and route, and one log line per request with its status and latency (never
//! the query string or headers, which may carry codes and tokens); and panics turned into JSON
//! 500s. [`crate::edge::frame`] applies them.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Response};
use axum::response::IntoResponse;
use tracing::Span;

use crate::errors::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-zm-trackingid";

/// A new request id. Request ids name a request in a log or a support ticket: unique and not
/// guessable, but no secret. So rather than ask the kernel for randomness on every request, a key
/// drawn once per process keys std's SipHash over a counter: 128 bits, 32 hex digits.
pub fn new_request_id() -> HeaderValue {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = KEY.get_or_init(std::collections::hash_map::RandomState::new);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&key.hash_one((n, 0u8)).to_be_bytes());
    bytes[8..].copy_from_slice(&key.hash_one((n, 1u8)).to_be_bytes());
    HeaderValue::try_from(accord_core::ids::hex(&bytes))
        .expect("hex digits are a valid header value")
}

/// The span a request's log lines are written in: its id, method and route template (never the
/// path itself, which holds ids). At `ACCORD_LOG=warn` (or quieter) there is no span to name, and
/// its fields are not built.
pub fn request_span(id: &HeaderValue, method: &Method, route: &str) -> Span {
    if !tracing::enabled!(tracing::Level::INFO) {
        return Span::none();
    }
    let id = id.to_str().unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %method, route = %route)
}

/// A handler's panic, answered as a JSON 500 (installed with `CatchPanicLayer` in the router).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a handler panicked; answered 500");
    ApiError::internal().into_response()
}
