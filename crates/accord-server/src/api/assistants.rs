//! `/v2/users/{userId}/assistants` and `/schedulers`: Zoom's scheduling privilege. The user in
//! the path owns the pair (an assistant manages *their* meetings), so reach is judged on them.

use std::sync::Arc;

use accord_store::users::User;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{ApiDenial, Caller, TokenState, authorize};
use super::handler::{Call, Writing, actor, json, store_error};
use super::roles::{Added, UserRef};
use super::users::{account_user, find_user, located};
use crate::errors::ApiError;
use crate::state::AppState;

/// Finds `{userId}` and asks the rule about `method path` on them.
async fn authorized_user(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static accord_core::endpoints::Endpoint,
    user_id: &str,
) -> Result<(User, Caller), ApiDenial> {
    let user = find_user(state, token, user_id).await?;
    let caller = authorize(state, token, endpoint, located(user_id, user.as_ref())).await?;
    Ok((user.ok_or(ApiDenial::Internal)?, caller))
}

fn not_found(id: &str) -> ApiDenial {
    ApiError::missing(accord_core::endpoints::ObjectKind::User, id).into()
}

/// Ends one assistant pair; a pair that does not exist reads as a missing user.
async fn remove_pair(
    state: &AppState,
    caller: &Caller,
    principal: &User,
    assistant: &User,
    asked_for: &str,
) -> Result<StatusCode, ApiDenial> {
    let removed = state
        .store()
        .remove_assistant(
            &actor(caller),
            principal.id.as_str(),
            Some(assistant.id.as_str()),
        )
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    if removed == 0 {
        return Err(not_found(asked_for));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One of a user's assistants.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assistant {
    pub id: String,
    pub email: String,
}

/// The answer to `GET /users/{userId}/assistants`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssistantList {
    pub assistants: Vec<Assistant>,
}

/// A user `{userId}` may schedule meetings for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Scheduler {
    pub id: String,
    pub email: String,
    pub pmi: i64,
}

/// The answer to `GET /users/{userId}/schedulers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerList {
    pub total_records: usize,
    pub schedulers: Vec<Scheduler>,
}

/// `GET /users/{userId}/assistants`.
#[utoipa::path(
    get, path = "/v2/users/{userId}/assistants", tag = "Assistants",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    responses((status = 200, description = "OK", body = AssistantList), crate::openapi::Failures),
)]
pub async fn list(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(user_id): Path<String>,
) -> Result<Json<AssistantList>, ApiDenial> {
    let (user, _) = authorized_user(&state, &token, call.endpoint, &user_id).await?;
    let assistants = state.store().assistants(user.id.as_str()).await?;
    Ok(Json(AssistantList {
        assistants: assistants
            .iter()
            .map(|d| Assistant {
                id: d.user.id.as_str().to_owned(),
                email: d.user.email.as_str().to_owned(),
            })
            .collect(),
    }))
}

/// The body of `POST /users/{userId}/assistants`.
#[derive(serde::Deserialize, ToSchema)]
pub struct AssistantsRequest {
    /// 1 to 30 users of the same account, each by `id` or `email`.
    assistants: Vec<UserRef>,
}

/// `POST /users/{userId}/assistants` (`{"assistants":[{"id"}|{"email"}]}`) → 201.
#[utoipa::path(
    post, path = "/v2/users/{userId}/assistants", tag = "Assistants",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    request_body = AssistantsRequest,
    responses((status = 201, description = "Created", body = Added), crate::openapi::Failures),
)]
pub async fn add(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(user_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Added>), ApiDenial> {
    let (user, caller) = authorized_user(&state, &token, call.endpoint, &user_id).await?;
    let body: AssistantsRequest = json(&body)?;
    if body.assistants.is_empty() || body.assistants.len() > 30 {
        return Err(ApiError::validation("assistants", "Give 1 to 30 assistants.").into());
    }
    // Resolve every assistant first, so a bad entry adds nobody.
    let mut found = Vec::with_capacity(body.assistants.len());
    for (i, entry) in body.assistants.iter().enumerate() {
        let Some(key) = entry.id.as_deref().or(entry.email.as_deref()) else {
            return Err(ApiError::validation(
                format!("assistants[{i}]"),
                "Give the assistant's id or email.",
            )
            .into());
        };
        let assistant = account_user(&state, user.account_id.as_str(), key).await?;
        if assistant.id == user.id {
            return Err(ApiError::validation(
                format!("assistants[{i}]"),
                "A user cannot be their own assistant.",
            )
            .into());
        }
        found.push(assistant);
    }
    let ids: Vec<&str> = found.iter().map(|a| a.id.as_str()).collect();
    state
        .store()
        .add_assistants(&actor(&caller), user.id.as_str(), &ids)
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    Ok((
        StatusCode::CREATED,
        Json(Added {
            ids: ids.join(","),
            add_at: state.store().now().rfc3339(),
        }),
    ))
}

/// `DELETE /users/{userId}/assistants` → 204 (all of them).
#[utoipa::path(
    delete, path = "/v2/users/{userId}/assistants", tag = "Assistants",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    responses((status = 204, description = "Every assistant removed"), crate::openapi::Failures),
)]
pub async fn delete_all(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiDenial> {
    let (user, caller) = authorized_user(&state, &token, call.endpoint, &user_id).await?;
    state
        .store()
        .remove_assistant(&actor(&caller), user.id.as_str(), None)
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /users/{userId}/assistants/{assistantId}` → 204.
#[utoipa::path(
    delete, path = "/v2/users/{userId}/assistants/{assistantId}", tag = "Assistants",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me"), ("assistantId" = String, Path, description = "The assistant's id or email")),
    responses((status = 204, description = "Removed"), crate::openapi::Failures),
)]
pub async fn delete_one(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((user_id, assistant_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiDenial> {
    let (user, caller) = authorized_user(&state, &token, call.endpoint, &user_id).await?;
    let assistant = account_user(&state, user.account_id.as_str(), &assistant_id).await?;
    remove_pair(&state, &caller, &user, &assistant, &assistant_id).await
}

/// `GET /users/{userId}/schedulers`: the users `{userId}` may schedule for.
#[utoipa::path(
    get, path = "/v2/users/{userId}/schedulers", tag = "Assistants",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    responses((status = 200, description = "OK", body = SchedulerList), crate::openapi::Failures),
)]
pub async fn schedulers(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(user_id): Path<String>,
) -> Result<Json<SchedulerList>, ApiDenial> {
    let (user, _) = authorized_user(&state, &token, call.endpoint, &user_id).await?;
    let principals = state.store().schedulers(user.id.as_str()).await?;
    let schedulers: Vec<Scheduler> = principals
        .iter()
        .map(|d| Scheduler {
            id: d.user.id.as_str().to_owned(),
            email: d.user.email.as_str().to_owned(),
            pmi: d.user.pmi,
        })
        .collect();
    Ok(Json(SchedulerList {
        total_records: schedulers.len(),
        schedulers,
    }))
}

/// `DELETE /users/{userId}/schedulers` → 204: `{userId}` stops being anybody's assistant.
#[utoipa::path(
    delete, path = "/v2/users/{userId}/schedulers", tag = "Assistants",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    responses((status = 204, description = "No longer anybody's assistant"), crate::openapi::Failures),
)]
pub async fn delete_schedulers(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiDenial> {
    let (user, caller) = authorized_user(&state, &token, call.endpoint, &user_id).await?;
    state
        .store()
        .remove_from_every_principal(&actor(&caller), user.id.as_str())
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /users/{userId}/schedulers/{schedulerId}` → 204.
#[utoipa::path(
    delete, path = "/v2/users/{userId}/schedulers/{schedulerId}", tag = "Assistants",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me"), ("schedulerId" = String, Path, description = "The scheduler's id or email")),
    responses((status = 204, description = "Removed"), crate::openapi::Failures),
)]
pub async fn delete_scheduler(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((user_id, scheduler_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiDenial> {
    let (user, caller) = authorized_user(&state, &token, call.endpoint, &user_id).await?;
    let principal = account_user(&state, user.account_id.as_str(), &scheduler_id).await?;
    remove_pair(&state, &caller, &principal, &user, &scheduler_id).await
}
