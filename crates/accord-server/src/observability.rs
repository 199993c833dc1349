//! What wraps every request: a request id (`x-zm-trackingid`, Zoom's header), one log line per
//! request with that id, method, route, status and latency (never the query string or headers,
//! which may carry codes and tokens), the body-size limit, and panics turned into JSON 500s.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request, Response};
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::errors::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-zm-trackingid";

#[derive(Clone, Copy, Default)]
struct RandomRequestId;

/// Request ids name a request in a log or a support ticket: unique and not guessable, but no
/// secret. So rather than ask the kernel for randomness on every request, a key drawn once per
/// process keys std's SipHash over a counter: 128 bits, 32 hex digits.
impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        use std::hash::BuildHasher;
        use std::sync::atomic::{AtomicU64, Ordering};
        static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let key = KEY.get_or_init(std::collections::hash_map::RandomState::new);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "{:016x}{:016x}",
            key.hash_one((n, 0u8)),
            key.hash_one((n, 1u8))
        );
        id.parse().ok().map(RequestId::new)
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a handler panicked; answered 500");
    ApiError::internal().into_response()
}

pub fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<Body>| {
            // At ACCORD_LOG=warn (or quieter) there is no span to name: skip building its fields.
            if !tracing::enabled!(tracing::Level::INFO) {
                return Span::none();
            }
            let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
            let id = request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
            tracing::info_span!("request", request_id = %id, method = %request.method(), route = %route)
        })
        .on_request(())
        .on_response(|response: &Response<Body>, latency: Duration, _span: &Span| {
            tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "answered");
        })
        .on_failure(());
    router
        .layer(RequestBodyLimitLayer::new(crate::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(SetRequestIdLayer::new(header, RandomRequestId))
}
