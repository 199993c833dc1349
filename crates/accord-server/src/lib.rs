//! Accord's HTTP layer: a thin axum router over the store. Handlers parse, call and render; the
//! model and the permission rule live in `accord-core`, storage in `accord-store`.
//!
//! Every route is listed in [`router`]. Cross-cutting concerns (request ids, one log line per
//! request, body limits, panics turned into JSON 500s) are in [`observability`].

pub mod api;
pub mod errors;
pub mod health;
pub mod oauth;
pub mod observability;
pub mod openapi;
pub mod pages;
pub mod password_checks;
pub mod state;
pub mod throttle;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use state::{AppState, ServerConfig};

/// Request bodies above this size get 413 (operations.md, "Limits on input").
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(oauth::routes())
        .merge(api::routes(state.clone()))
        .merge(pages::routes())
        .fallback(errors::not_found);
    observability::layers(routes).with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
