//! `/v2/*`: the resource API. Every call goes through [`access::authorize`], which gathers the
//! facts and asks the one permission rule (`accord_core::permission::decide`).

pub mod access;
pub mod explain;
pub mod limits;
pub mod paging;
pub mod users;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/users/{user_id}", get(users::get_user))
        .route("/v2/users/{user_id}/", get(users::get_user))
}
