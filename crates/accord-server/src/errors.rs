//! Error responses in Zoom's shape: `{"code": N, "message": "…"}`, plus
//! `"errors": [{"field": "…", "message": "…"}]` on validation errors (api.md, "Errors").

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Zoom's code for a validation error, malformed JSON or a bad id.
pub const VALIDATION_CODE: u32 = 300;

/// One invalid input of a validation error: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An error answer in Zoom's shape: `code` and `message`, `errors` on a validation failure,
/// `explain` when the permission rule refused. (`Error` in the OpenAPI document; small
/// constructors below keep handlers readable.)
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// Zoom's error code: 124 bad token, 4711 no admitting scope, 200 no permission, 300
    /// validation, 1001 no such user, 3001 no such meeting, 429 rate limited, …
    pub code: u32,
    pub message: String,
    /// The fields at fault; serialized only when there are some.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    /// Why the permission rule refused and what would fix it (on refusals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Box<accord_core::permission::Explain>>,
}

/// What a client reads when this node's access view is stale (the same words on every path).
pub const STALE_VIEW_MESSAGE: &str = "This node's view of grants is stale (it has not synced with \
     its database recently), so it cannot tell whether access was revoked; try again shortly.";

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
            explain: None,
        }
    }

    /// The permission rule's refusal: its status, code and message, with `explain`.
    pub fn denied(denial: accord_core::permission::Denial) -> Self {
        ApiError {
            status: StatusCode::from_u16(denial.status).unwrap_or(StatusCode::BAD_REQUEST),
            code: denial.code,
            message: denial.message,
            errors: Vec::new(),
            explain: Some(Box::new(denial.explain)),
        }
    }

    /// 400, code 300, naming the one field at fault: Zoom's `Validation Failed.` answer.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            VALIDATION_CODE,
            "Validation Failed.",
        )
        .with_field_error(field, message)
    }

    /// Adds a field at fault (a validation error may name several).
    pub fn with_field_error(
        mut self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    /// 429, code 429: a rate limit was reached.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, 429, message)
    }

    /// What a missing object gets — and, identically, another account's (api.md): users 404/1001,
    /// meetings 404/3001, roles 400/1034, … as the endpoint catalog's [`ObjectKind`] says.
    ///
    /// [`ObjectKind`]: accord_core::endpoints::ObjectKind
    pub fn missing(kind: accord_core::endpoints::ObjectKind, id: &str) -> Self {
        let answer = kind.not_found(id);
        Self::new(
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::NOT_FOUND),
            answer.code,
            answer.message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, 503, message)
    }

    /// 503: this node's access view is too old to decide on (a grant may have been revoked).
    pub fn stale_view(stale: &accord_store::view::StaleView) -> Self {
        tracing::warn!(%stale, "refused a request: the access view is stale");
        Self::unavailable(STALE_VIEW_MESSAGE)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            "Internal error; the request id in x-zm-trackingid identifies it in the server log.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// The answer for a path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::not_found("The requested resource does not exist.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_serialized_only_when_present() {
        let plain = serde_json::to_value(ApiError::not_found("gone")).unwrap_or_default();
        assert_eq!(plain, serde_json::json!({"code": 404, "message": "gone"}));

        let invalid = ApiError::validation("page_size", "must be at least 1");
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
        let body = serde_json::to_value(&invalid).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "code": 300,
                "message": "Validation Failed.",
                "errors": [{"field": "page_size", "message": "must be at least 1"}],
            })
        );
    }
}
