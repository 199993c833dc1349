//! `POST /oauth/introspect`: RFC 7662. A client may introspect only its own tokens; anything else
//! is simply `{"active": false}`. Every answer carries `Cache-Control: no-store` (see the route).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::errors::OAuthError;
use super::params::OAuthParams;
use super::token::authenticate;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/oauth/introspect", tag = "OAuth",
    request_body(content = super::revoke::RevokeRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662: `active`, and for an active token of the client its claims", body = Object),
        crate::openapi::OAuthFailures,
    ),
    security((), ("client_basic" = [])),
)]
pub async fn introspect(
    State(state): State<AppState>,
    params: OAuthParams,
) -> Result<Json<Value>, OAuthError> {
    state
        .ensure_view_fresh()
        .await
        .map_err(|stale| OAuthError::stale_view(&stale))?;
    let (_, credentials) = authenticate(&state, &params).await?;
    let token = params.require("token")?;
    let inactive = Json(json!({"active": false}));
    let config = state.config();
    if let Ok(claims) = super::jwt::verify_learning(
        state.keys(),
        state.store(),
        super::jwt::verify,
        token,
        &config.issuer,
        &config.api_url,
    )
    .await?
    {
        if claims.client_id != credentials.client_id
            || !state
                .store()
                .grant_honours(&claims.gid, claims.r#gen)
                .await?
        {
            return Ok(inactive);
        }
        let mut body = serde_json::to_value(&claims).unwrap_or_else(|_| json!({}));
        if let Some(object) = body.as_object_mut() {
            object.insert("active".into(), json!(true));
            object.insert("token_type".into(), json!("Bearer"));
            if let Some(uid) = &claims.uid {
                object.insert("username".into(), json!(uid));
            }
        }
        return Ok(Json(body));
    }
    // A refresh token is active exactly when the token endpoint would accept it now: both ask the
    // same rule (`accord_core::refresh::decide`).
    let status = state
        .store()
        .refresh_status(
            token,
            &credentials.client_id,
            super::token::rotation(&state),
        )
        .await?;
    match status {
        Some(status) if status.verdict.usable() => Ok(Json(json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": status.client_id,
            "aid": status.account_id,
            "gid": status.grant_id,
        }))),
        _ => Ok(inactive),
    }
}
