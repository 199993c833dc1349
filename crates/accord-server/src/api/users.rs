//! `/v2/users…`: Zoom's user objects.

use accord_core::endpoints::ObjectKind;
use accord_core::ids::Email;
use accord_store::users::User;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{ApiDenial, TokenState, authorize, authorize_with};
use super::handler::{Call, Located, Pages, Writing, actor, json, store_error};
use super::paging::PageFields;
use crate::state::AppState;

/// A user in Zoom's shape (`GET /users/{userId}`): the one shape the API and webhook events share.
pub use accord_core::users::UserObject as UserBody;

/// The rule's target for a user object: where it lives and who owns it (itself); `None` when no
/// such user exists anywhere (which reads exactly like another account's user).
pub(crate) fn located<'a>(id: &'a str, user: Option<&User>) -> Located<'a> {
    Located {
        id,
        account: user.map(|u| u.account_id.clone()),
        owner: user.map(|u| u.id.clone()),
    }
}

/// Finds `{userId}`: `me`, an id or an email. An email is looked up in the caller's account only:
/// the same address may be a user of other accounts, which a caller must never learn of. An id is
/// looked up anywhere, and the rule refuses another account's user exactly like a missing one.
/// Missing → `None`.
pub async fn find_user(
    state: &AppState,
    token: &TokenState,
    user_id: &str,
) -> Result<Option<User>, ApiDenial> {
    let store = state.store();
    let found = if user_id == "me" {
        match &token.me {
            Some(me) => store.user(me.as_str()).await,
            None => return Ok(None),
        }
    } else if let Ok(email) = Email::parse(user_id) {
        return match &token.account {
            Some(account) => Ok(store.user_by_email(account.as_str(), &email).await?),
            None => Ok(None),
        };
    } else {
        store.user(user_id).await
    };
    match found {
        Ok(user) => Ok(Some(user)),
        Err(accord_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A user of `account` by id or email, for a user named inside a request (an assistant, a role
/// member); another account's user reads as missing (404, code 1001).
pub(crate) async fn account_user(
    state: &AppState,
    account: &str,
    id_or_email: &str,
) -> Result<User, ApiDenial> {
    match state.store().find_user_in(account, id_or_email).await {
        Ok(user) => Ok(user),
        Err(accord_store::StoreError::NotFound { .. }) => {
            Err(crate::errors::ApiError::missing(ObjectKind::User, id_or_email).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The email of every user of `account`, by user id: who an app list names (an installer, an
/// authorizing or requesting user), read once per answer.
pub(crate) async fn emails_in_account(
    state: &AppState,
    account: &str,
) -> Result<std::collections::HashMap<String, String>, ApiDenial> {
    Ok(state
        .store()
        .users(account)
        .await?
        .into_iter()
        .map(|user| (user.id.into_string(), user.email.to_string()))
        .collect())
}

/// `GET /v2/users/{userId}`.
#[utoipa::path(
    get, path = "/v2/users/{userId}", tag = "Users",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    responses((status = 200, description = "OK", body = UserBody), crate::openapi::Failures),
)]
pub async fn get_user(
    State(state): State<AppState>,
    call: Call,
    axum::Extension(token): axum::Extension<std::sync::Arc<TokenState>>,
    Path(user_id): Path<String>,
) -> Result<Json<UserBody>, ApiDenial> {
    let user = find_user(&state, &token, &user_id).await?;
    let target = located(&user_id, user.as_ref());
    authorize(&state, &token, call.endpoint, target).await?;
    let user = user.ok_or(ApiDenial::Internal)?;
    Ok(Json(user.object()))
}

/// A user as `GET /users` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserListItem {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: i64,
    pub pmi: i64,
    pub timezone: String,
    pub status: String,
    pub role_id: String,
    pub created_at: String,
    pub last_login_time: Option<String>,
}

impl UserListItem {
    fn new(user: &User) -> Self {
        UserListItem {
            id: user.id.as_str().to_owned(),
            first_name: user.first_name.to_string(),
            last_name: user.last_name.to_string(),
            display_name: accord_core::users::display_name(&user.first_name, &user.last_name),
            email: user.email.as_str().to_owned(),
            user_type: i64::from(user.user_type),
            pmi: user.pmi,
            timezone: user.timezone.to_string(),
            status: user.status.as_str().to_owned(),
            role_id: user.role_id.as_str().to_owned(),
            created_at: user.created_at.rfc3339(),
            last_login_time: user.last_login_at.map(|t| t.rfc3339()),
        }
    }
}

/// A page of `GET /users`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    #[serde(flatten)]
    pub page: PageFields,
    pub users: Vec<UserListItem>,
}

/// `GET /v2/users` (`status`, `role_id`, `page_size`, `next_page_token`).
#[utoipa::path(
    get, path = "/v2/users", tag = "Users",
    params(
        ("status" = Option<UserStatusFilter>, Query, description = "`active` (default), `inactive` or `pending`"),
        ("role_id" = Option<String>, Query, description = "Only users with this role"),
        crate::openapi::PageParams,
    ),
    responses((status = 200, description = "OK", body = UserList), crate::openapi::Failures),
)]
pub async fn list_users(
    State(state): State<AppState>,
    call: Call,
    axum::Extension(token): axum::Extension<std::sync::Arc<TokenState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Json<UserList>, ApiDenial> {
    use super::paging::{Binding, KeyPart, split_page};
    use accord_core::users::UserStatus;
    let endpoint = call.endpoint;
    let target = Located::account_wide(&token);
    let caller = authorize(&state, &token, endpoint, target).await?;
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let status = match params
        .get("status")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
    {
        None => UserStatus::Active,
        Some(text) => UserStatus::parse(text).ok_or_else(|| {
            crate::errors::ApiError::validation(
                "status",
                "status must be active, inactive or pending.",
            )
        })?,
    };
    let role_id = params.get("role_id").filter(|r| !r.is_empty()).cloned();
    let account = caller.grant.account_id.clone();
    let binding = Binding::new(account.clone(), endpoint.name)
        .filter("status", status.as_str())
        .filter("role_id", role_id.clone().unwrap_or_default());
    let pages = Pages::read(&state, query.as_deref(), binding)?;
    let after = pages.after(|parts| match parts {
        [KeyPart::Int(at), KeyPart::Text(id)] => Some((*at, id.clone())),
        _ => None,
    })?;
    let filter = accord_store::users::UserFilter {
        status: Some(status),
        role_id,
    };
    let (rows, total) = state
        .store()
        .users_page(
            &account,
            &filter,
            after.as_ref().map(|(at, id)| (*at, id.as_str())),
            i64::from(pages.query.fetch_limit()),
        )
        .await?;
    let (users, next) = split_page(rows, pages.query.page_size, |u: &User| {
        vec![
            KeyPart::Int(u.created_at.millis()),
            KeyPart::Text(u.id.as_str().to_owned()),
        ]
    });
    let fields = pages.fields(u64::try_from(total).unwrap_or(0), next.as_deref());
    Ok(Json(UserList {
        page: fields,
        users: users.iter().map(UserListItem::new).collect(),
    }))
}

/// The body of `POST /users`.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// `create` (a pending user) or `autoCreate` (an active one, with a password).
    #[schema(value_type = CreateAction)]
    action: String,
    user_info: CreateUserInfo,
}

#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct CreateUserInfo {
    email: String,
    /// 1 basic (the default), 2 licensed.
    #[serde(rename = "type", default = "basic")]
    user_type: i64,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    /// 8 to 32 characters; required by `autoCreate`.
    password: Option<String>,
}

// The words the API accepts where it takes one of a few, for the OpenAPI document (handlers read
// the text and answer anything else with a validation error naming the field).

/// `POST /users` `action`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub enum CreateAction {
    Create,
    AutoCreate,
}

/// `PUT /users/{userId}/status` `action`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum StatusAction {
    Activate,
    Deactivate,
}

/// `GET /users` `status`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum UserStatusFilter {
    Active,
    Inactive,
    Pending,
}

/// `DELETE /users/{userId}` `action`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum DeleteAction {
    Disassociate,
    Delete,
}

/// The answer to `POST /users`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: i64,
}

fn basic() -> i64 {
    1
}

/// `POST /v2/users`: `create` makes a pending user, `autoCreate` an active one with a password.
#[utoipa::path(
    post, path = "/v2/users", tag = "Users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = CreatedUser, links(("users.get" = (operation_id = "users.get", parameters(("userId" = "$response.body#/id")))), ("users.update" = (operation_id = "users.update", parameters(("userId" = "$response.body#/id")))), ("users.status" = (operation_id = "users.status", parameters(("userId" = "$response.body#/id")))), ("users.delete" = (operation_id = "users.delete", parameters(("userId" = "$response.body#/id")))), ("meetings.create" = (operation_id = "meetings.create", parameters(("userId" = "$response.body#/id")))), ("assistants.list" = (operation_id = "assistants.list", parameters(("userId" = "$response.body#/id")))))),
        crate::openapi::Failures),
)]
pub async fn create_user(
    State(state): State<AppState>,
    call: Call,
    axum::Extension(token): axum::Extension<std::sync::Arc<TokenState>>,
    body: axum::body::Bytes,
) -> Result<(axum::http::StatusCode, Json<CreatedUser>), ApiDenial> {
    use crate::errors::ApiError;
    use accord_core::users::{UserStatus, UserType};
    let endpoint = call.endpoint;
    let target = Located::account_wide(&token);
    let caller = authorize(&state, &token, endpoint, target).await?;
    let body: CreateUserRequest = json(&body)?;
    let status = match body.action.as_str() {
        "create" => UserStatus::Pending,
        "autoCreate" => UserStatus::Active,
        other => {
            return Err(ApiError::validation(
                "action",
                format!("action {other:?} is not supported: use create or autoCreate."),
            )
            .into());
        }
    };
    let email = Email::parse(body.user_info.email)
        .map_err(|e| ApiError::validation("user_info.email", e.0))?;
    let user_type = UserType::try_from(body.user_info.user_type)
        .map_err(|e| ApiError::validation("user_info.type", e))?;
    let password = match (status, body.user_info.password) {
        (UserStatus::Active, Some(p)) if (8..=32).contains(&p.chars().count()) => {
            Some(accord_core::ids::Secret::new(p))
        }
        (UserStatus::Active, _) => {
            return Err(ApiError::validation(
                "user_info.password",
                "autoCreate needs a password of 8 to 32 characters.",
            )
            .into());
        }
        _ => None,
    };
    let mut new = accord_store::users::NewUser::new(email);
    new.status = status;
    new.user_type = user_type;
    new.first_name = body.user_info.first_name;
    new.last_name = body.user_info.last_name;
    new.password = password;
    let (user, _) = state
        .store()
        .create_user(&actor(&caller), &caller.grant.account_id, new)
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    let created = CreatedUser {
        id: user.id.as_str().to_owned(),
        first_name: user.first_name.into_string(),
        last_name: user.last_name.into_string(),
        email: user.email.as_str().to_owned(),
        user_type: i64::from(user.user_type),
    };
    Ok((axum::http::StatusCode::CREATED, Json(created)))
}

/// The body of `PATCH /users/{userId}`: any of these.
#[derive(Debug, Default, serde::Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(rename = "type")]
    user_type: Option<i64>,
    timezone: Option<String>,
    role_id: Option<String>,
}

/// `PATCH /v2/users/{userId}`: the profile; `role_id` also needs `Role:Edit` on a user grant, and
/// a new `type` (license) needs `User:Edit` over the user even when the user is `me`.
#[utoipa::path(
    patch, path = "/v2/users/{userId}", tag = "Users",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    request_body = UpdateUserRequest,
    responses((status = 204, description = "Updated"), crate::openapi::Failures),
)]
pub async fn update_user(
    State(state): State<AppState>,
    call: Call,
    axum::Extension(token): axum::Extension<std::sync::Arc<TokenState>>,
    Path(user_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::http::StatusCode, ApiDenial> {
    use crate::errors::ApiError;
    let endpoint = call.endpoint;
    let user = find_user(&state, &token, &user_id).await?;
    let body: UpdateUserRequest = json(&body)?;
    // Step 5: changing a role through a user grant needs the user's Role:Edit too.
    let acting_user = token
        .grant
        .as_ref()
        .filter(|g| g.kind == accord_core::grants::GrantKind::Authorization)
        .and(token.me.as_ref())
        .map(|me| state.store().view().privileges(me.as_str()));
    let violation = accord_core::rules::user_role_assignment(body.role_id.is_some(), acting_user);
    let user_type = body
        .user_type
        .map(accord_core::users::UserType::try_from)
        .transpose()
        .map_err(|e| ApiError::validation("type", e))?;
    // A new license type needs User:Edit over the user, even over oneself (step 4).
    let guarded = user_type
        .filter(|wanted| user.as_ref().is_some_and(|u| u.user_type != *wanted))
        .map(|_| accord_core::users::GuardedChange::LicenseType);
    let target = located(&user_id, user.as_ref());
    let caller =
        super::access::authorize_change(&state, &token, endpoint, target, violation, guarded)?;
    let user = user.ok_or(ApiDenial::Internal)?;
    let change = accord_store::users::UserChange {
        first_name: body.first_name,
        last_name: body.last_name,
        user_type,
        timezone: body.timezone,
        role_id: body
            .role_id
            .map(accord_core::ids::RoleId::parse)
            .transpose()
            .map_err(|e| ApiError::validation("role_id", e.0))?,
        ..Default::default()
    };
    state
        .store()
        .update_user(&actor(&caller), user.id.as_str(), change)
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The body of `PUT /users/{userId}/status`.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct UserStatusRequest {
    /// `activate` or `deactivate`.
    #[schema(value_type = StatusAction)]
    action: String,
}

/// `PUT /v2/users/{userId}/status` (`activate` | `deactivate`).
#[utoipa::path(
    put, path = "/v2/users/{userId}/status", tag = "Users",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    request_body = UserStatusRequest,
    responses((status = 204, description = "Status changed"), crate::openapi::Failures),
)]
pub async fn update_status(
    State(state): State<AppState>,
    call: Call,
    axum::Extension(token): axum::Extension<std::sync::Arc<TokenState>>,
    Path(user_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::http::StatusCode, ApiDenial> {
    use crate::errors::ApiError;
    use accord_core::users::UserStatus;
    let endpoint = call.endpoint;
    let user = find_user(&state, &token, &user_id).await?;
    let body: UserStatusRequest = json(&body)?;
    let status = match body.action.as_str() {
        "activate" => UserStatus::Active,
        "deactivate" => UserStatus::Inactive,
        other => {
            return Err(ApiError::validation(
                "action",
                format!("action {other:?} must be activate or deactivate."),
            )
            .into());
        }
    };
    let violation =
        accord_core::rules::user_status_change(user.as_ref().is_some_and(User::is_owner), status);
    let target = located(&user_id, user.as_ref());
    let caller = authorize_with(&state, &token, endpoint, target, violation)?;
    let user = user.ok_or(ApiDenial::Internal)?;
    let change = accord_store::users::UserChange {
        status: Some(status),
        ..Default::default()
    };
    state
        .store()
        .update_user(&actor(&caller), user.id.as_str(), change)
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `DELETE /v2/users/{userId}` (`action` `disassociate` | `delete`: both remove the user here,
/// since a user belongs to exactly one account).
#[utoipa::path(
    delete, path = "/v2/users/{userId}", tag = "Users",
    params(
        ("userId" = String, Path, description = "`me`, a user id or an email", example = "me"),
        ("action" = Option<DeleteAction>, Query, description = "`disassociate` (default) or `delete`: both remove the user"),
    ),
    responses((status = 204, description = "Removed"), crate::openapi::Failures),
)]
pub async fn delete_user(
    State(state): State<AppState>,
    call: Call,
    axum::Extension(token): axum::Extension<std::sync::Arc<TokenState>>,
    Path(user_id): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<axum::http::StatusCode, ApiDenial> {
    use crate::errors::ApiError;
    let endpoint = call.endpoint;
    let user = find_user(&state, &token, &user_id).await?;
    let action = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "disassociate".into());
    if action != "disassociate" && action != "delete" {
        return Err(
            ApiError::validation("action", "action must be disassociate or delete.").into(),
        );
    }
    let violation = accord_core::rules::user_deletion(user.as_ref().is_some_and(User::is_owner));
    let target = located(&user_id, user.as_ref());
    let caller = authorize_with(&state, &token, endpoint, target, violation)?;
    let user = user.ok_or(ApiDenial::Internal)?;
    state
        .store()
        .delete_user(&actor(&caller), user.id.as_str())
        .await
        .map_err(|e| store_error(e, Some(Writing::User)))?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
