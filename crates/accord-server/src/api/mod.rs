//! `/v2/*`: the resource API. Every call goes through [`access::authorize`], which gathers the
//! facts and asks the one permission rule (`accord_core::permission::decide`).

pub mod access;
pub mod assistants;
pub mod body;
mod dates;
pub mod explain;
pub mod handler;
pub mod limits;
pub mod marketplace;
pub mod meetings;
pub mod paging;
pub mod report;
pub mod roles;
pub mod shared_limits;
pub mod users;
pub mod webhook_deliveries;

use axum::Router;
use axum::routing::{delete, get, patch, post, put};

use crate::state::AppState;

/// Every `/v2` request passes the gate first: the bearer token is verified once and its grant's
/// live state read from the access view ([`access::TokenState`], handed to the handler as an
/// extension). A token the rule's step 1 does not honour is answered here (401, code 124), before
/// any body is read or object looked up. Then the account's rate limit for the endpoint's
/// category is applied — the `X-RateLimit-*` headers go on every answer, a refusal is a 429 with
/// `Retry-After`. The catalog endpoint the request resolves to is handed on as [`handler::Call`].
async fn gate(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let token = match access::token_state(&state, request.headers()).await {
        Ok(token) => token,
        Err(denial) => return denial.into_response(),
    };
    if let Err(denial) = accord_core::permission::check_token(&token.facts()) {
        return access::ApiDenial::Denied(Box::new(denial)).into_response();
    }
    let path = request.uri().path().trim_end_matches('/');
    let call = handler::Call::resolve(
        request.method().as_str(),
        path.strip_prefix("/v2").unwrap_or(path),
    );
    let endpoint = call.as_ref().map(|call| call.endpoint);
    let decision = match (&token.account, endpoint) {
        (Some(account), Some(endpoint)) => Some(
            state
                .limits()
                .admit_endpoint(account.as_str(), endpoint, None, state.store().now())
                .await,
        ),
        _ => None,
    };
    if let Some(refusal) = decision.as_ref().and_then(|d| d.refusal()) {
        return refusal;
    }
    request.extensions_mut().insert(std::sync::Arc::new(token));
    // The handler takes its endpoint from here ([`handler::Call`]) instead of spelling its path.
    if let Some(call) = call {
        request.extensions_mut().insert(call);
    }
    let mut response = next.run(request).await;
    if let Some(decision) = decision {
        decision.apply(&mut response);
    }
    response
}

pub fn routes(state: AppState) -> Router<AppState> {
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
        (
            "/v2/users/{user_id}/assistants",
            get(assistants::list)
                .post(assistants::add)
                .delete(assistants::delete_all),
        ),
        (
            "/v2/users/{user_id}/assistants/{assistant_id}",
            delete(assistants::delete_one),
        ),
        (
            "/v2/users/{user_id}/schedulers",
            get(assistants::schedulers).delete(assistants::delete_schedulers),
        ),
        (
            "/v2/users/{user_id}/schedulers/{scheduler_id}",
            delete(assistants::delete_scheduler),
        ),
        (
            "/v2/users/{user_id}/meetings",
            get(meetings::list).post(meetings::create),
        ),
        (
            "/v2/meetings/{meeting_id}",
            get(meetings::get)
                .patch(meetings::update)
                .delete(meetings::delete),
        ),
        ("/v2/roles", get(roles::list).post(roles::create)),
        (
            "/v2/roles/{role_id}",
            get(roles::get).patch(roles::update).delete(roles::delete),
        ),
        (
            "/v2/roles/{role_id}/members",
            get(roles::members).post(roles::add_members),
        ),
        (
            "/v2/roles/{role_id}/members/{user_id}",
            delete(roles::remove_member),
        ),
        ("/v2/report/operationlogs", get(report::operation_logs)),
        ("/v2/marketplace/apps", get(report::granted_apps)),
        ("/v2/marketplace/apps/{app_id}", delete(report::uninstall)),
        (
            "/v2/marketplace/apps/{app_id}/users/{user_id}",
            delete(marketplace::remove_authorization),
        ),
        (
            "/v2/marketplace/apps/{app_id}/block",
            put(marketplace::block).delete(marketplace::unblock),
        ),
        (
            "/v2/marketplace/apps/{app_id}/requests",
            patch(marketplace::decide_request),
        ),
        (
            "/v2/marketplace/app_requests",
            get(marketplace::list_requests),
        ),
        (
            "/v2/users/{user_id}/apps/{app_id}",
            delete(marketplace::remove_own_authorization),
        ),
        (
            "/v2/apps/{app_id}/webhook_deliveries",
            get(webhook_deliveries::list),
        ),
        (
            "/v2/apps/{app_id}/webhook_deliveries/{delivery_id}/redeliver",
            post(webhook_deliveries::redeliver),
        ),
        (
            "/v2/apps/{app_id}/webhook/secret",
            post(webhook_deliveries::rotate_secret),
        ),
    ] {
        // Real clients send a trailing slash now and then.
        router = router
            .route(path, route.clone())
            .route(&format!("{path}/"), route);
    }
    router.layer(axum::middleware::from_fn_with_state(state, gate))
}
