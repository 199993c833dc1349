//! What every request passes through before and after its handler, in one middleware
//! ([`frame`]; a layer of its own per concern cost a boxed future, a service clone and more per
//! request): its request id, its log span and line ([`crate::observability`]), its count and
//! latency in `/metrics`, the body-size limit, the deadline it is answered within, and input
//! refused at the edge — a NUL character (U+0000) anywhere a handler could read it: the path,
//! the query string, a form or JSON body — and a handler's panic, answered 500
//! ([`crate::observability::panic_response`]), counted and logged like any other answer.
//!
//! PostgreSQL refuses NUL in text (SQLite stores it), so such input used to travel all the way to
//! the database and fail there, which the client saw as "cannot reach its database". Refused
//! here, it gets each surface's usual 400 on both databases — `/v2`: Zoom's validation error
//! (code 300) naming where it was; `/oauth/token|revoke|introspect`: `invalid_request`; pages: the
//! error page — and a database error keeps meaning what it says.
//!
//! The body is read once here, within the body limit (a declared or counted length over it gets
//! 413 in the surface's words), and handed on unchanged. A JSON body is recognised by its first
//! character, whatever its content type, since `/v2` handlers read JSON regardless of the header;
//! a body that is not valid JSON is left for the handler to refuse in its own words.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::Instrument;

use crate::errors::ApiError;
use crate::metrics::Metrics;
use crate::oauth::errors::OAuthError;
use crate::observability::{self, REQUEST_ID_HEADER};
use crate::pages::PageError;

/// What [`frame`] needs: where requests are counted, and the deadline (`--request-timeout`).
#[derive(Clone)]
pub struct Edge {
    pub metrics: Metrics,
    pub request_timeout: Duration,
}

/// The middleware around every route (the fallback too). In order: the request id
/// (`x-zm-trackingid`, kept when the request brings one, sent back on the answer), the log span
/// (only when info logging is on), then, within the deadline, the NUL check and the handler; after
/// it, the count and latency by route template and one log line with the status and latency.
pub async fn frame(State(edge): State<Edge>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    let id = match request.headers().get(&header) {
        Some(id) => id.clone(),
        None => {
            let id = observability::new_request_id();
            request.headers_mut().insert(header.clone(), id.clone());
            id
        }
    };
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = crate::metrics::method_label(request.method());
    let span = observability::request_span(&id, request.method(), route);
    // A clone of the URI shares its bytes: no copy of the path for the rare request that runs out
    // of time.
    let uri = request.uri().clone();
    let answered = tokio::time::timeout(edge.request_timeout, unwinding(refuse_nul(request, next)))
        .instrument(span.clone())
        .await;
    let mut response = match answered {
        Ok(response) => response,
        Err(_) => {
            let limit = edge.request_timeout;
            span.in_scope(|| {
                tracing::warn!(
                    path = %uri.path(),
                    seconds = limit.as_secs_f64(),
                    "a request was not answered within the request timeout; answered 503"
                )
            });
            overdue(uri.path(), limit).await
        }
    };
    response.headers_mut().insert(header, id);
    let status = response.status().as_u16();
    let latency = started.elapsed();
    edge.metrics
        .request(route, method, status, latency.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "answered"
        )
    });
    response
}

/// The answer of `answer`, or a 500 ([`observability::panic_response`], logged) when it panics.
/// Caught here rather than by a layer of its own, which would cost every request a boxed service
/// clone and a boxed future.
async fn unwinding(answer: impl Future<Output = Response>) -> Response {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::task::Poll;
    let mut answer = std::pin::pin!(answer);
    // Nothing the panicking handler held is used after the panic: its future is dropped unpolled.
    let caught = std::future::poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| answer.as_mut().poll(cx))) {
            Ok(Poll::Ready(response)) => Poll::Ready(Ok(response)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await;
    caught.unwrap_or_else(observability::panic_response)
}

/// Where a NUL character was found, named for the error message (never the value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NulIn {
    Path,
    Query(String),
    Body(String),
}

impl NulIn {
    fn field(&self) -> String {
        match self {
            NulIn::Path => "path".into(),
            NulIn::Query(name) | NulIn::Body(name) => name.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            NulIn::Path => "The path".into(),
            NulIn::Query(name) => format!("The query parameter {name}"),
            NulIn::Body(name) if name.is_empty() => "The request body".into(),
            NulIn::Body(name) => format!("The body field {name}"),
        }
    }
}

/// Refuses a request carrying a NUL character (or a body over [`crate::MAX_BODY_BYTES`]), passes
/// every other one on.
async fn refuse_nul(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if let Some(found) = nul_in_target(path, request.uri().query()) {
        return refusal(path, &found).await;
    }
    if !may_carry_body(&request) {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > crate::MAX_BODY_BYTES as u64) {
        return too_large(path).await;
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    // Read as the handlers' own `Bytes` extractor reads it, within the limit, so a body over it
    // and one that stalls (the connection's idle timeout) get their own answers.
    let limited = Body::new(http_body_util::Limited::new(body, crate::MAX_BODY_BYTES));
    let bytes = match Bytes::from_request(Request::new(limited), &()).await {
        Ok(bytes) => bytes,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            return too_large(path).await;
        }
        Err(rejection) => return unreadable(path, &rejection.body_text()).await,
    };
    if let Some(found) = nul_in_body(&bytes, &content_type) {
        return refusal(path, &found).await;
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn may_carry_body(request: &Request) -> bool {
    use axum::body::HttpBody;
    !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || request.body().size_hint().upper() != Some(0)
}

/// A NUL in the path (only `%00` can put one there: a raw one is not a valid URI) or in a query
/// parameter's name or value.
pub fn nul_in_target(path: &str, query: Option<&str>) -> Option<NulIn> {
    if contains(path.as_bytes(), b"%00") {
        return Some(NulIn::Path);
    }
    let query = query?;
    // Decoding yields a NUL only from `%00` (a raw one is not a valid URI): look for that first.
    if !contains(query.as_bytes(), b"%00") {
        return None;
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| NulIn::Query(printable(&name)))
}

/// A NUL in a body: a raw NUL byte, one in a form field, or one in a JSON string or key.
pub fn nul_in_body(body: &Bytes, content_type: &str) -> Option<NulIn> {
    if body.contains(&0) {
        return Some(NulIn::Body(String::new()));
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        // Decoding yields a NUL only from `%00` (raw NUL bytes were refused above).
        if !contains(body, b"%00") {
            return None;
        }
        return form_urlencoded::parse(body)
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
            .map(|(name, _)| NulIn::Body(printable(&name)));
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    // A JSON string holds a NUL only as the escape `\u0000`; without that text there is none
    // (with it, it may still be an escaped backslash followed by "u0000": parse to tell).
    if !matches!(first, b'{' | b'[') || !contains(body, b"\\u0000") {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    accord_core::input::nul_in_json(&value).map(NulIn::Body)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A name safe to echo: the NUL itself (and other control characters) shown escaped.
fn printable(name: &str) -> String {
    name.chars()
        .flat_map(char::escape_debug)
        .collect::<String>()
}

/// The OAuth endpoints that answer in RFC 6749's JSON error shape.
fn is_oauth_json(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    matches!(
        path,
        "/oauth/token" | "/oauth/revoke" | "/oauth/introspect" | "/oauth/devicecode"
    )
}

async fn refusal(path: &str, found: &NulIn) -> Response {
    let message = format!(
        "{} must not contain the NUL character (U+0000).",
        found.describe()
    );
    if path == "/v2" || path.starts_with("/v2/") {
        return ApiError::validation(found.field(), message).into_response();
    }
    if is_oauth_json(path) {
        return OAuthError::invalid_request(message).into_response();
    }
    page(PageError::bad_request("Invalid request", message)).await
}

async fn too_large(path: &str) -> Response {
    let message = format!(
        "The request body is larger than {} bytes.",
        crate::MAX_BODY_BYTES
    );
    if path == "/v2" || path.starts_with("/v2/") {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, 413, message).into_response();
    }
    if is_oauth_json(path) {
        let mut error = OAuthError::invalid_request(message);
        error.status = StatusCode::PAYLOAD_TOO_LARGE;
        return error.into_response();
    }
    page(PageError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request too large",
        message,
    ))
    .await
}

/// The body could not be read (the client stopped sending it): 400 in the surface's words.
async fn unreadable(path: &str, why: &str) -> Response {
    let message = format!("cannot read the request body: {why}");
    if path == "/v2" || path.starts_with("/v2/") {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::errors::VALIDATION_CODE,
            message,
        )
        .into_response();
    }
    if is_oauth_json(path) {
        return OAuthError::invalid_request(message).into_response();
    }
    page(PageError::bad_request("Invalid request", message)).await
}

/// An error page with the headers every page carries.
async fn page(error: PageError) -> Response {
    crate::pages::security::security_headers(error.into_response()).await
}

/// The answer to a request not answered within the deadline (`--request-timeout`): a handler
/// still waiting then — on a database connection whose packets are silently dropped, say, which
/// no error ever ends — is dropped by [`frame`] (which gives its database connection back closed)
/// and the client gets 503 in its surface's words. A connection that is refused or reset is
/// answered sooner, through the pool's acquire timeout.
async fn overdue(path: &str, limit: std::time::Duration) -> Response {
    let message = format!(
        "The request was not answered within {} s; try again shortly.",
        limit.as_secs()
    );
    if path == "/v2" || path.starts_with("/v2/") {
        return ApiError::unavailable(message).into_response();
    }
    if is_oauth_json(path) {
        return OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..OAuthError::new("temporarily_unavailable", message)
        }
        .into_response();
    }
    page(PageError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        message,
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_in_zoom_s_words_with_its_request_id() {
        use tower::ServiceExt;
        let edge = Edge {
            metrics: Metrics::new(),
            request_timeout: Duration::from_secs(30),
        };
        let app = axum::Router::new()
            .route(
                "/v2/boom",
                axum::routing::get(|| async {
                    panic!("a handler's bug");
                    #[allow(unreachable_code)]
                    ()
                }),
            )
            .layer(axum::middleware::from_fn_with_state(edge, frame));
        let request = Request::get("/v2/boom").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        let expected: Value = {
            let internal = ApiError::internal().into_response().into_body();
            serde_json::from_slice(&axum::body::to_bytes(internal, 4096).await.unwrap()).unwrap()
        };
        assert_eq!(body, expected);
    }

    #[test]
    fn a_nul_is_found_in_the_path_and_the_query_and_named_without_its_value() {
        assert_eq!(nul_in_target("/v2/users/%00", None), Some(NulIn::Path));
        assert_eq!(
            nul_in_target("/v2/users/me", Some("a=1&b=x%00y")),
            Some(NulIn::Query("b".into()))
        );
        assert_eq!(
            nul_in_target("/oauth/authorize", Some("client%00id=x")),
            Some(NulIn::Query("client\\0id".into()))
        );
        assert_eq!(nul_in_target("/v2/users/100%25", Some("q=%2500")), None);
    }

    #[test]
    fn a_nul_is_found_in_form_and_json_bodies_but_not_in_harmless_text() {
        let form = "application/x-www-form-urlencoded";
        assert_eq!(
            nul_in_body(&Bytes::from("grant_type=x&client_id=a%00"), form),
            Some(NulIn::Body("client_id".into()))
        );
        assert_eq!(nul_in_body(&Bytes::from("grant_type=100%25"), form), None);
        let json = r#"{"user_info": {"email": "a\u0000@x.test"}, "list": ["ok"]}"#;
        assert_eq!(
            nul_in_body(&Bytes::from(json), "application/json"),
            Some(NulIn::Body("user_info.email".into()))
        );
        let array = r#"{"assistants": [{"id": "x"}, {"id": "\u0000"}]}"#;
        assert_eq!(
            nul_in_body(&Bytes::from(array), ""),
            Some(NulIn::Body("assistants[1].id".into()))
        );
        // A backslash followed by "u0000" is text, and "%00" inside JSON is just characters.
        let text = r#"{"agenda": "C:\\u0000 and 100%00"}"#;
        assert_eq!(nul_in_body(&Bytes::from(text), "application/json"), None);
        assert_eq!(
            nul_in_body(&Bytes::from(&b"raw\0byte"[..]), "text/plain"),
            Some(NulIn::Body(String::new()))
        );
    }
}
