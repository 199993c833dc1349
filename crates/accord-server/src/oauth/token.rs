//! `POST /oauth/token`.

use axum::response::Response;

use super::errors::OAuthError;

pub async fn token() -> Result<Response, OAuthError> {
    Err(OAuthError::unsupported_grant_type())
}
