//! `/healthz` (the process is up) and `/readyz` (the database answers, its schema is current and
//! the access view is not stale — `--view-max-staleness`).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let database = state.store().backend().name();
    match state.store().ready().await {
        Ok(true) => match state.ensure_view_fresh().await {
            Ok(()) => Ok(Json(json!({"status": "ready", "database": database}))),
            Err(stale) => Err(ApiError::stale_view(&stale)),
        },
        Ok(false) => Err(ApiError::unavailable(format!(
            "the {database} schema is behind this build: run `accord migrate`"
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::unavailable(format!(
                "the {database} database is not reachable"
            )))
        }
    }
}
