//! `/v2/*`: the resource API. Every call goes through [`access::authorize`], which gathers the
//! facts and asks the one permission rule (`accord_core::permission::decide`).

pub mod access;
pub mod explain;
pub mod limits;
pub mod paging;
pub mod users;

use axum::Router;
use axum::routing::{get, put};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, route) in [
        ("/v2/users", get(users::list_users).post(users::create_user)),
        (
            "/v2/users/{user_id}",
            get(users::get_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        ),
        ("/v2/users/{user_id}/status", put(users::update_status)),
    ] {
        // Real clients send a trailing slash now and then.
        router = router
            .route(path, route.clone())
            .route(&format!("{path}/"), route);
    }
    router
}
