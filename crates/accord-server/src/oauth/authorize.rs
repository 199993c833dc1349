//! `GET /oauth/authorize`: sign-in, then the install / consent page (console.md).

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
