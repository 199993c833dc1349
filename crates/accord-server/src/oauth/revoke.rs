//! `POST /oauth/revoke`.

use axum::response::Response;

use super::errors::OAuthError;

pub async fn revoke() -> Result<Response, OAuthError> {
    Err(OAuthError::unsupported_grant_type())
}
