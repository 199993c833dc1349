//! `/oauth/*`: the authorization server in Zoom's dialect (oauth.md).
//!
//! - [`authorize`]: `GET /oauth/authorize`, sign-in and the install / consent pages.
//! - [`token`]: `POST /oauth/token` and its grants; [`revoke`], [`introspect`]; [`metadata`]:
//!   RFC 8414 metadata and the JWKS.
//! - [`params`] reads requests as real clients send them; [`errors`] answers in both dialects;
//!   [`jwt`] and [`keys`] sign and verify access tokens.

pub mod authorize;
pub mod errors;
pub mod introspect;
pub mod jwt;
pub mod keys;
pub mod metadata;
pub mod params;
pub mod revoke;
pub mod token;

use axum::Router;
use axum::http::{Method, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use crate::state::AppState;

/// Every `/oauth` route (each also with a trailing slash, which real clients send). Browsers may
/// call the token, revocation, introspection, metadata and JWKS endpoints cross-origin (CORS);
/// never `/oauth/authorize`.
pub fn routes() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let mut router = Router::new();
    for (path, route) in [
        ("/oauth/token", post(token::token)),
        ("/oauth/revoke", post(revoke::revoke)),
        (
            "/oauth/introspect",
            // Whatever it says (active, inactive, an error), an answer about a token is never cached.
            post(introspect::introspect).layer(middleware::map_response(
                |mut response: Response| async move {
                    errors::no_store(&mut response);
                    response
                },
            )),
        ),
        ("/oauth/jwks", get(metadata::jwks)),
        (
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        ),
    ] {
        router = router
            .route(path, route.clone())
            .route(&format!("{path}/"), route);
    }
    router.layer(cors).merge(authorize::routes())
}
