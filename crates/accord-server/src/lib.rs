//! Accord's HTTP layer: a thin axum router over the store. Handlers parse, call and render; the
//! model and the permission rule live in `accord-core`, storage in `accord-store`.
//!
//! Every route is listed in [`router`]. What every request passes through (request ids, one log
//! line per request, its count in `/metrics`, the body limit, the deadline, input refused at the
//! edge) is one middleware, [`edge::frame`]; the log span and request ids are in [`observability`],
//! the Prometheus series of `GET /metrics` in [`metrics`]; connections —
//! accepting them, their timeouts and caps, draining at shutdown — in [`connections`].

pub mod api;
pub mod connections;
pub mod console;
pub mod edge;
pub mod errors;
pub mod health;
pub mod metrics;
pub mod oauth;
pub mod observability;
pub mod openapi;
pub mod pages;
pub mod password_checks;
pub mod state;
pub mod throttle;
pub mod webhooks;

use axum::Router;
use axum::routing::get;

pub use connections::{ConnectionLimits, serve};
pub use metrics::{Metrics, MetricsAccess, metrics_router};
pub use state::{AppState, ServerConfig};

/// Request bodies above this size get 413 (operations.md, "Limits on input").
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if !state.config().metrics.separate_listener {
        routes = routes.route("/metrics", get(metrics::scrape));
    }
    let routes = routes
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(oauth::routes())
        .merge(api::routes(state.clone()))
        .merge(pages::routes())
        .merge(console::routes())
        .fallback(errors::not_found);
    let edge = edge::Edge {
        metrics: state.metrics().clone(),
        request_timeout: state.config().request_timeout,
    };
    routes
        .layer(axum::middleware::from_fn_with_state(edge, edge::frame))
        .with_state(state)
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT). The handlers are installed when this is called, not
/// when the future is first polled: call it before telling anyone the server is up, so a SIGTERM
/// sent right after the start banner drains the server instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (terminate, interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: draining in-flight requests");
    }
}
