//! The account's app controls beyond `GET`/`DELETE /marketplace/apps` (Accord extensions, model.md
//! "Installing, authorizing, removing"): an admin removing one user's authorization, a user
//! removing her own, blocking and unblocking an app, and pre-approval (the requests members made on
//! the consent page, answered here; approving ahead of any request is the same call), and the
//! account's app settings (its policy for user apps, the apps it blocked).
//!
//! Every removal ends in the store's `revoke_matching`, so the grant's tokens stop at once,
//! `app_deauthorized` is queued and the audit entry written. An app the account cannot see (a
//! development app of another account, or none) reads as missing, like an app with nothing to
//! remove.

use std::sync::Arc;

use accord_core::apps::{AppApproval, AppKind};
use accord_core::grants::{GrantKind, GrantStatus};
use accord_core::ids::AccountId;
use accord_store::StoreError;
use accord_store::accounts::{AccountChange, Preapproval};
use accord_store::apps::App;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{ApiDenial, Caller, TokenState, authorize};
use super::handler::{Call, Located, Writing, actor, json, store_error};
use super::users::{emails_in_account, find_user, located};
use crate::errors::ApiError;
use crate::state::AppState;

/// A pre-approval of a user app, or a member's request for one.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppRequest {
    pub app_id: String,
    pub app_name: String,
    /// `requested`, `approved` or `declined`.
    pub status: String,
    pub requested_by: Option<String>,
    /// The requesting member's email (absent once that user is gone).
    pub requested_by_email: Option<String>,
    pub requested_time: Option<String>,
    pub decided_by: Option<String>,
    pub decided_time: Option<String>,
}

/// The answer to `GET /marketplace/app_requests`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppRequests {
    pub total_records: usize,
    pub app_requests: Vec<AppRequest>,
}

/// What an admin answers to a pre-approval request.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestAction {
    /// Pre-approve the app (with or without a request): members may then authorize it under the
    /// `preapproval` policy.
    Approve,
    /// Decline the request (or withdraw a pre-approval).
    Decline,
}

/// The body of `PATCH /marketplace/apps/{appId}/requests`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDecision {
    pub action: RequestAction,
}

/// The account of the token, when it sees `app_id`: the target of an account-wide request on an
/// app. `None` (missing) for an app that does not exist or that the account cannot see.
async fn visible_app(
    state: &AppState,
    token: &TokenState,
    app_id: &str,
) -> Result<(Option<AccountId>, Option<App>), ApiDenial> {
    let Some(account) = token.account.clone() else {
        return Ok((None, None));
    };
    match state.store().app(app_id).await {
        Ok(app) if app.visible_in(account.as_str()) => Ok((Some(account), Some(app))),
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok((None, None)),
        Err(error) => Err(error.into()),
    }
}

async fn authorize_on_app(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static accord_core::endpoints::Endpoint,
    app_id: &str,
) -> Result<(Caller, App), ApiDenial> {
    let (account, app) = visible_app(state, token, app_id).await?;
    let target = Located {
        id: app_id,
        account,
        owner: None,
    };
    let caller = authorize(state, token, endpoint, target).await?;
    Ok((caller, app.ok_or(ApiDenial::Internal)?))
}

/// Ends `user_id`'s authorization of the app through the store (which checks the remover again
/// when a user acts). One that has none — or lost it meanwhile to another removal — reads as the
/// app missing.
async fn end_authorization(
    state: &AppState,
    caller: &super::access::Caller,
    app_id: &str,
    user_id: &str,
) -> Result<(), ApiDenial> {
    let account = &caller.grant.account_id;
    state
        .store()
        .remove_authorization(&actor(caller), account, app_id, user_id)
        .await
        .map_err(|e| store_error(e, Some(Writing::App(app_id))))?;
    Ok(())
}

/// `DELETE /marketplace/apps/{appId}/users/{userId}` → 204: an admin removes one user's
/// authorization of a user app (its tokens stop at once). A user without an authorization of the
/// app here reads as the app missing.
#[utoipa::path(
    delete, path = "/v2/marketplace/apps/{appId}/users/{userId}", tag = "Apps",
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("userId" = String, Path, description = "`me`, a user id or an email: whose authorization ends"),
    ),
    responses((status = 204, description = "The user's authorization of the app ended"), crate::openapi::Failures),
)]
pub async fn remove_authorization(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((app_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiDenial> {
    let user = find_user(&state, &token, &user_id).await?;
    let authorized = match (&token.account, &user) {
        (Some(account), Some(user)) if user.account_id == *account => state
            .store()
            .grants_in_account(account.as_str())
            .await?
            .iter()
            .any(|g| {
                g.app_id == app_id
                    && g.status == GrantStatus::Active
                    && g.kind == GrantKind::Authorization
                    && g.user_id.as_deref() == Some(user.id.as_str())
            }),
        _ => false,
    };
    let target = Located {
        id: &app_id,
        account: token.account.clone().filter(|_| authorized),
        owner: None,
    };
    let caller = authorize(&state, &token, call.endpoint, target).await?;
    let user = user.ok_or(ApiDenial::Internal)?;
    end_authorization(&state, &caller, &app_id, user.id.as_str()).await?;
    tracing::info!(app = %app_id, "a user's authorization removed through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /users/{userId}/apps/{appId}` → 204: a user removes her own authorization of a user app
/// (`me`, with a user-form scope); an admin form reaches the account's other users, as for every
/// user endpoint. A user without an authorization of the app reads as the app missing.
#[utoipa::path(
    delete, path = "/v2/users/{userId}/apps/{appId}", tag = "Users",
    params(
        ("userId" = String, Path, description = "`me`, a user id or an email", example = "me"),
        ("appId" = String, Path, description = "The app's id"),
    ),
    responses((status = 204, description = "The authorization ended"), crate::openapi::Failures),
)]
pub async fn remove_own_authorization(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((user_id, app_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiDenial> {
    let user = find_user(&state, &token, &user_id).await?;
    let target = located(&user_id, user.as_ref());
    let endpoint = call.endpoint;
    let caller = authorize(&state, &token, endpoint, target).await?;
    let user = user.ok_or(ApiDenial::Internal)?;
    end_authorization(&state, &caller, &app_id, user.id.as_str()).await?;
    tracing::info!(app = %app_id, "an authorization removed through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /marketplace/apps/{appId}/block` → 204: the app installs nowhere in the account, and every
/// grant of it here ends. Blocking a blocked app changes nothing.
#[utoipa::path(
    put, path = "/v2/marketplace/apps/{appId}/block", tag = "Apps",
    params(("appId" = String, Path, description = "The app's id")),
    responses((status = 204, description = "Blocked; its grants here ended"), crate::openapi::Failures),
)]
pub async fn block(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiDenial> {
    let (caller, _) = authorize_on_app(&state, &token, call.endpoint, &app_id).await?;
    state
        .store()
        .block_app(&actor(&caller), &caller.grant.account_id, &app_id)
        .await?;
    tracing::info!(app = %app_id, "app blocked through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /marketplace/apps/{appId}/block` → 204: the app may be installed or authorized here
/// again (grants the block ended stay ended). Unblocking an app that is not blocked changes
/// nothing.
#[utoipa::path(
    delete, path = "/v2/marketplace/apps/{appId}/block", tag = "Apps",
    params(("appId" = String, Path, description = "The app's id")),
    responses((status = 204, description = "Not blocked (any more)"), crate::openapi::Failures),
)]
pub async fn unblock(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiDenial> {
    let (caller, _) = authorize_on_app(&state, &token, call.endpoint, &app_id).await?;
    state
        .store()
        .unblock_app(&actor(&caller), &caller.grant.account_id, &app_id)
        .await?;
    tracing::info!(app = %app_id, "app unblocked through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /marketplace/app_requests`: the account's pre-approvals and members' requests for them
/// (`status` filters: `requested`, `approved`, `declined`).
#[utoipa::path(
    get, path = "/v2/marketplace/app_requests", tag = "Apps",
    params(("status" = Option<String>, Query, description = "`requested`, `approved` or `declined`; default all")),
    responses((status = 200, description = "OK", body = AppRequests), crate::openapi::Failures),
)]
pub async fn list_requests(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<AppRequests>, ApiDenial> {
    let target = Located::account_wide(&token);
    let endpoint = call.endpoint;
    let caller = authorize(&state, &token, endpoint, target).await?;
    let status = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(name, _)| name == "status")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty());
    if let Some(status) = &status
        && !["requested", "approved", "declined"].contains(&status.as_str())
    {
        return Err(ApiError::validation(
            "status",
            "status must be requested, approved or declined.",
        )
        .into());
    }
    let store = state.store();
    let emails = emails_in_account(&state, &caller.grant.account_id).await?;
    let mut requests = Vec::new();
    for found in store.preapprovals(&caller.grant.account_id).await? {
        if status.as_ref().is_some_and(|s| *s != found.status) {
            continue;
        }
        let name = match store.app(&found.app_id).await {
            Ok(app) => app.name,
            Err(StoreError::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        let email = found
            .requested_by
            .as_ref()
            .and_then(|id| emails.get(id))
            .cloned();
        requests.push(app_request(found, name, email));
    }
    Ok(Json(AppRequests {
        total_records: requests.len(),
        app_requests: requests,
    }))
}

fn app_request(
    found: Preapproval,
    app_name: String,
    requested_by_email: Option<String>,
) -> AppRequest {
    AppRequest {
        app_id: found.app_id,
        app_name,
        status: found.status,
        requested_by: found.requested_by,
        requested_by_email,
        requested_time: found.requested_at.map(|at| at.rfc3339()),
        decided_by: found.decided_by,
        decided_time: found.decided_at.map(|at| at.rfc3339()),
    }
}

/// `PATCH /marketplace/apps/{appId}/requests` → 204: approve (also ahead of any request: a
/// pre-approval) or decline a user app for the account.
#[utoipa::path(
    patch, path = "/v2/marketplace/apps/{appId}/requests", tag = "Apps",
    params(("appId" = String, Path, description = "The app's id")),
    request_body = RequestDecision,
    responses((status = 204, description = "Answered"), crate::openapi::Failures),
)]
pub async fn decide_request(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiDenial> {
    let (caller, app) = authorize_on_app(&state, &token, call.endpoint, &app_id).await?;
    let decision: RequestDecision = json(&body)?;
    if app.kind != AppKind::User {
        return Err(ApiError::validation(
            "appId",
            "Only user-level apps are pre-approved; an admin installs account-level apps.",
        )
        .into());
    }
    let approve = matches!(decision.action, RequestAction::Approve);
    match state
        .store()
        .decide_preapproval(&actor(&caller), &caller.grant.account_id, &app_id, approve)
        .await
    {
        Ok(_) => {}
        // Only a pending request can be declined (approving needs none: it pre-approves ahead).
        Err(accord_store::StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!(
                "There is no pending pre-approval request for app {app_id} to decline."
            ))
            .into());
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(app = %app_id, approve, "pre-approval answered through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// An app the account blocked.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockedApp {
    pub id: String,
    pub name: String,
}

/// The answer to `GET /marketplace/settings`: the account's app settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarketplaceSettings {
    /// The policy for user-level apps: `open` (any user may authorize one) or `preapproval`
    /// (members may authorize only the apps an admin pre-approved).
    pub app_approval: AppApproval,
    /// The apps that install nowhere in the account.
    pub blocked_apps: Vec<BlockedApp>,
}

/// The body of `PATCH /marketplace/settings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceSettingsChange {
    pub app_approval: AppApproval,
}

/// `GET /marketplace/settings`: the account's policy for user-level apps and the apps it blocked.
#[utoipa::path(
    get, path = "/v2/marketplace/settings", tag = "Apps",
    responses((status = 200, description = "OK", body = MarketplaceSettings), crate::openapi::Failures),
)]
pub async fn settings(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
) -> Result<Json<MarketplaceSettings>, ApiDenial> {
    let caller = authorize(&state, &token, call.endpoint, Located::account_wide(&token)).await?;
    let store = state.store();
    let account = store.account(&caller.grant.account_id).await?;
    let mut blocked_apps = Vec::new();
    for app_id in store.blocked_apps(account.id.as_str()).await? {
        match store.app(&app_id).await {
            Ok(app) => blocked_apps.push(BlockedApp {
                id: app_id,
                name: app.name,
            }),
            // Deleted since it was blocked: nothing left to show or unblock.
            Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Json(MarketplaceSettings {
        app_approval: account.app_approval,
        blocked_apps,
    }))
}

/// `PATCH /marketplace/settings` → 204: changes the account's policy for user-level apps
/// (audited as `account.app_policy_changed`; setting the policy it has changes nothing).
#[utoipa::path(
    patch, path = "/v2/marketplace/settings", tag = "Apps",
    request_body = MarketplaceSettingsChange,
    responses((status = 204, description = "Changed"), crate::openapi::Failures),
)]
pub async fn update_settings(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiDenial> {
    let caller = authorize(&state, &token, call.endpoint, Located::account_wide(&token)).await?;
    let change: MarketplaceSettingsChange = json(&body)?;
    let change = AccountChange {
        name: None,
        app_approval: Some(change.app_approval),
        ..AccountChange::default()
    };
    state
        .store()
        .update_account(&actor(&caller), &caller.grant.account_id, change)
        .await?;
    tracing::info!("app policy changed through the API");
    Ok(StatusCode::NO_CONTENT)
}
