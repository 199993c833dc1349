//! `/v2/*`: the resource API. Every call goes through [`access::authorize`], which gathers the
//! facts and asks the one permission rule (`accord_core::permission::decide`).

pub mod access;
pub mod apps;
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
use axum::routing::{MethodFilter, MethodRouter};

use crate::state::AppState;

/// Every `/v2` request passes the gate first. A node whose access view is older than
/// `--view-max-staleness` (cut off from its database) answers 503 rather than decide on grants
/// that may have been revoked. Then the bearer token is verified once and its grant's
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
    // A view that may miss a revocation decides nothing (503 until it catches up).
    if let Err(stale) = state.ensure_view_fresh().await {
        return crate::errors::ApiError::stale_view(&stale).into_response();
    }
    let token = match access::token_state(&state, request.headers()).await {
        Ok(token) => token,
        Err(denial) => return denial.into_response(),
    };
    if let Err(denial) = accord_core::permission::check_token(&token.facts()) {
        return access::denied(&state, denial).into_response();
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
    if let Some(decision) = &decision
        && let Some(refusal) = decision.refusal()
    {
        state.metrics().rate_limited(decision);
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

/// The handler of each catalog endpoint, by the endpoint's name: its method and path are the
/// catalog's (`accord_core::endpoints`), written nowhere else.
fn at<H, T>(name: &str, handler: H) -> (String, MethodRouter<AppState>)
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let endpoint = accord_core::endpoints::by_name(name)
        .unwrap_or_else(|| panic!("{name} is not an endpoint of the catalog"));
    let method = axum::http::Method::from_bytes(endpoint.method.as_bytes())
        .ok()
        .and_then(|method| MethodFilter::try_from(method).ok())
        .unwrap_or_else(|| panic!("{name}: {} is not a method", endpoint.method));
    (
        format!("/v2{}", endpoint.path),
        axum::routing::on(method, handler),
    )
}

pub fn routes(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for (path, route) in [
        at("users.list", users::list_users),
        at("users.create", users::create_user),
        at("users.get", users::get_user),
        at("users.update", users::update_user),
        at("users.delete", users::delete_user),
        at("users.status", users::update_status),
        at("assistants.list", assistants::list),
        at("assistants.add", assistants::add),
        at("assistants.delete_all", assistants::delete_all),
        at("assistants.delete", assistants::delete_one),
        at("schedulers.list", assistants::schedulers),
        at("schedulers.delete_all", assistants::delete_schedulers),
        at("schedulers.delete", assistants::delete_scheduler),
        at("meetings.list", meetings::list),
        at("meetings.create", meetings::create),
        at("meetings.get", meetings::get),
        at("meetings.update", meetings::update),
        at("meetings.delete", meetings::delete),
        at("roles.list", roles::list),
        at("roles.create", roles::create),
        at("roles.get", roles::get),
        at("roles.update", roles::update),
        at("roles.delete", roles::delete),
        at("role_members.list", roles::members),
        at("role_members.add", roles::add_members),
        at("role_members.delete", roles::remove_member),
        at("report.operationlogs", report::operation_logs),
        at("marketplace.apps.list", report::granted_apps),
        at("marketplace.apps.delete", report::uninstall),
        at(
            "marketplace.authorizations.delete",
            marketplace::remove_authorization,
        ),
        at("marketplace.apps.block", marketplace::block),
        at("marketplace.apps.unblock", marketplace::unblock),
        at("marketplace.app_requests.list", marketplace::list_requests),
        at(
            "marketplace.app_requests.decide",
            marketplace::decide_request,
        ),
        at("marketplace.settings.get", marketplace::settings),
        at("marketplace.settings.update", marketplace::update_settings),
        at("users.apps.delete", marketplace::remove_own_authorization),
        at("apps.webhook_deliveries.list", webhook_deliveries::list),
        at(
            "apps.webhook_deliveries.redeliver",
            webhook_deliveries::redeliver,
        ),
        at(
            "apps.webhook_secret.rotate",
            webhook_deliveries::rotate_secret,
        ),
        at("apps.list", apps::list),
        at("apps.create", apps::create),
        at("apps.get", apps::get),
        at("apps.update", apps::update),
        at("apps.secret.rotate", apps::rotate_secret),
        at("apps.secret.retire", apps::retire_secret),
    ] {
        // Real clients send a trailing slash now and then. (One path's methods merge.)
        router = router
            .route(&path, route.clone())
            .route(&format!("{path}/"), route);
    }
    router.layer(axum::middleware::from_fn_with_state(state, gate))
}
