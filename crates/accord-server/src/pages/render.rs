//! Rendering: an askama template (HTML-escaped) becomes a [`Page`] with its status and
//! Content-Security-Policy; anything that goes wrong becomes the [`PageError`] page.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::security::Csp;

/// A rendered HTML page.
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    html: String,
    csp: Csp,
}

/// Shown when a template cannot be rendered (a bug, never caused by input).
const RENDER_FAILED: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Error</title>\
    </head><body><main><h1>Something went wrong</h1><p>This page could not be shown.</p></main>\
    </body></html>";

impl Page {
    pub fn new(status: StatusCode, template: &impl Template) -> Page {
        match template.render() {
            Ok(html) => Page {
                status,
                html,
                csp: Csp::default(),
            },
            Err(error) => {
                tracing::error!(%error, "a page template failed to render");
                Page {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    html: RENDER_FAILED.to_owned(),
                    csp: Csp::default(),
                }
            }
        }
    }

    /// Replaces the page's Content-Security-Policy.
    pub fn with_csp(mut self, csp: Csp) -> Page {
        self.csp = csp;
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.header_value());
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    title: &'a str,
    message: &'a str,
}

/// The error page: a status, a short title and a message a person can act on. Never redirects
/// (used where the redirect URI is not trusted) and never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        PageError {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(title: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Request refused", message)
    }

    /// 500: a bug on our side, logged with the request id.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not complete this request. The request id in the x-zm-trackingid \
             header identifies it in the server log.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The server cannot reach its database right now. Try again in a moment.",
        )
    }
}

impl From<accord_store::view::StaleView> for PageError {
    /// This node's access view is too old to decide on: 503, with the API's words.
    fn from(stale: accord_store::view::StaleView) -> Self {
        tracing::warn!(%stale, "refused a page: the access view is stale");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            crate::errors::STALE_VIEW_MESSAGE,
        )
    }
}

impl From<accord_store::StoreError> for PageError {
    fn from(error: accord_store::StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "the database cannot be reached; answered 503");
            PageError::unavailable()
        } else {
            tracing::error!(%error, "storage refused a page request it should have been able to serve; answered 500");
            PageError::internal()
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        Page::new(
            self.status,
            &ErrorTemplate {
                title: self.title,
                message: &self.message,
            },
        )
        .into_response()
    }
}
