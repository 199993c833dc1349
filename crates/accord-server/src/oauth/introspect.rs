//! `POST /oauth/introspect`.

use axum::response::Response;

use super::errors::OAuthError;

pub async fn introspect() -> Result<Response, OAuthError> {
    Err(OAuthError::unsupported_grant_type())
}
