//! Token-endpoint errors in both dialects at once: Zoom's `reason` and RFC 6749's `error` and
//! `error_description`, with `Cache-Control: no-store`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    /// RFC 6749 error code: `invalid_request`, `invalid_client`, `invalid_grant`, …
    pub error: &'static str,
    /// Zoom's reason, also sent as `error_description`. Never contains a secret.
    pub reason: String,
    /// Whether to challenge for HTTP Basic (a failed Basic authentication).
    pub challenge: bool,
    /// Seconds to wait before trying again (`Retry-After`), when throttled.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(error: &'static str, reason: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            reason: reason.into(),
            challenge: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(reason: impl Into<String>) -> Self {
        Self::new("invalid_request", reason)
    }

    pub fn invalid_client(basic: bool) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            challenge: basic,
            ..Self::new("invalid_client", "Invalid client_id or client_secret")
        }
    }

    pub fn invalid_grant(reason: impl Into<String>) -> Self {
        Self::new("invalid_grant", reason)
    }

    pub fn unsupported_grant_type() -> Self {
        Self::new("unsupported_grant_type", "Unsupported grant type")
    }

    pub fn unauthorized_client(reason: impl Into<String>) -> Self {
        Self::new("unauthorized_client", reason)
    }

    /// 429: too many failed client authentications for this client id or from this address
    /// (`crate::throttle`); the credentials were not checked. `slow_down` is the registered OAuth
    /// error that means "you are asking too fast" (RFC 8628 §3.5); `temporarily_unavailable` would
    /// blame the server, and `invalid_client` would claim a secret was wrong that nobody looked at.
    pub fn too_many_failures(retry_after_seconds: u64) -> Self {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(retry_after_seconds),
            ..Self::new(
                "slow_down",
                format!(
                    "Too many failed client authentications; try again in {}.",
                    crate::throttle::seconds_text(retry_after_seconds)
                ),
            )
        }
    }

    /// 503: the database cannot be reached right now.
    pub fn unavailable() -> Self {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..Self::new(
                "temporarily_unavailable",
                "The authorization server cannot reach its database; try again shortly.",
            )
        }
    }

    /// 503 `temporarily_unavailable`: this node's access view is stale
    /// ([`crate::errors::STALE_VIEW_MESSAGE`]).
    pub fn stale_view(stale: &accord_store::view::StaleView) -> Self {
        tracing::warn!(%stale, "refused an OAuth request: the access view is stale");
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..Self::new("temporarily_unavailable", crate::errors::STALE_VIEW_MESSAGE)
        }
    }

    /// 500: a bug (a statement the database refused, a missing signing key); it is logged.
    pub fn server_error() -> Self {
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Self::new(
                "server_error",
                "Internal error; the request id in x-zm-trackingid identifies it in the server log.",
            )
        }
    }
}

impl From<accord_store::StoreError> for OAuthError {
    fn from(error: accord_store::StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "the database cannot be reached; answered 503");
            OAuthError::unavailable()
        } else {
            tracing::error!(%error, "storage refused an OAuth request it should have been able to serve; answered 500");
            OAuthError::server_error()
        }
    }
}

/// The headers every token-endpoint answer carries (RFC 6749 §5.1).
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// An OAuth error answer in both dialects: Zoom's `reason`, RFC 6749's `error` and
/// `error_description` (the same text as `reason`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OAuthError)]
pub struct OAuthErrorBody<'a> {
    pub reason: &'a str,
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `slow_down` (429: too many failed client
    /// authentications) or `temporarily_unavailable`.
    pub error: &'a str,
    pub error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = OAuthErrorBody {
            reason: &self.reason,
            error: self.error,
            error_description: &self.reason,
        };
        let mut response = (self.status, Json(body)).into_response();
        no_store(&mut response);
        if self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"accord\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
