//! RFC 8414 authorization-server metadata — truthful about every endpoint, grant and method this
//! server supports — and the JWKS (RFC 7517) of every published signing key.

use accord_core::scopes::Scope;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

#[utoipa::path(
    get, path = "/oauth/jwks", tag = "OAuth",
    responses((status = 200, description = "RFC 7517 key set: every published Ed25519 signing key", body = Object)),
)]
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.keys().jwks(state.store().now()))
}

#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "OAuth",
    responses((status = 200, description = "RFC 8414 authorization-server metadata", body = Object)),
)]
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let config = state.config();
    let base = &config.public_url;
    let scopes: Vec<&str> = Scope::all().map(Scope::as_str).collect();
    Json(json!({
        "issuer": config.issuer,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "jwks_uri": format!("{base}/oauth/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "account_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "scopes_supported": scopes,
        "authorization_response_iss_parameter_supported": true,
        "api_url": config.api_url,
    }))
}
