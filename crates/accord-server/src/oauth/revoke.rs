//! `POST /oauth/revoke`: RFC 7009, with Zoom's meaning — any token of a grant (access or refresh)
//! ends the whole grant, so every token of it stops working at once. Answers
//! `{"status":"success"}` also for tokens it does not know (RFC 7009 §2.2).

use accord_store::audit::Actor;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::OAuthError;
use super::params::OAuthParams;
use super::token::authenticate;
use crate::state::AppState;

/// The grant a token belongs to, if it is one of `client_id`'s tokens.
pub async fn grant_of_token(
    state: &AppState,
    token: &str,
    client_id: &str,
) -> Result<Option<String>, OAuthError> {
    let config = state.config();
    // An expired access token still names its grant; its signature must verify all the same.
    if let Ok(claims) = super::jwt::verify_learning(
        state.keys(),
        state.store(),
        super::jwt::verify_ignoring_time,
        token,
        &config.issuer,
        &config.api_url,
    )
    .await?
    {
        return Ok((claims.client_id == client_id).then_some(claims.gid));
    }
    Ok(state
        .store()
        .refresh_owner(token)
        .await?
        .filter(|(_, owner)| owner == client_id)
        .map(|(grant, _)| grant))
}

/// The answer to `POST /oauth/revoke`: always `{"status":"success"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub status: &'static str,
}

/// The form `POST /oauth/revoke` takes, with the client authenticated as at the token endpoint.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the form; the handler reads it through `OAuthParams`
pub struct RevokeRequest {
    /// An access or refresh token of the client's.
    token: String,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[utoipa::path(
    post, path = "/oauth/revoke", tag = "OAuth",
    request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "OK", body = Revoked), crate::openapi::OAuthFailures),
    security((), ("client_basic" = [])),
)]
pub async fn revoke(
    State(state): State<AppState>,
    params: OAuthParams,
) -> Result<Json<Revoked>, OAuthError> {
    // The client is authenticated from the access view: a stale view might still know a retired
    // secret, so it answers 503 as the token endpoint does.
    state
        .ensure_view_fresh()
        .await
        .map_err(|stale| OAuthError::stale_view(&stale))?;
    let (_, credentials) = authenticate(&state, &params).await?;
    let token = params.require("token")?;
    if let Some(grant_id) = grant_of_token(&state, token, &credentials.client_id).await? {
        let actor = Actor::App(credentials.client_id.clone());
        state
            .store()
            .revoke_grant(&actor, &grant_id, "revoked by the app at /oauth/revoke")
            .await?;
    }
    Ok(Json(Revoked { status: "success" }))
}
