//! `/v2/roles…`: roles, their privileges and members. Every role call is account-wide (admin
//! scopes only); a role of another account, or none, is 400 / 1034 "Role does not exist".
//! Business rules (step 5): the Owner role never changes and its membership moves only by an
//! ownership transfer; Member membership is what a user has when unassigned; only the owner trims
//! the Admin role.

use std::sync::Arc;

use accord_core::privileges::{Privilege, PrivilegeSet};
use accord_core::roles::BuiltinRole;
use accord_core::rules;
use accord_store::roles::{NewRole, Role, RoleChange};
use accord_store::users::{User, UserChange, UserFilter};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{ApiDenial, TokenState, authorize, authorize_with};
use super::handler::{Call, Located, Pages, Writing, actor, json, store_error};
use super::paging::{Binding, KeyPart, PageFields, split_page};
use super::users::account_user;
use crate::errors::ApiError;
use crate::state::AppState;

/// A role in Zoom's shape; `privileges` only when one role is asked for (or was just made).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Role)]
pub struct RoleBody {
    pub id: String,
    pub name: String,
    pub description: String,
    pub total_members: i64,
    /// `builtin` or `custom`.
    #[serde(rename = "type")]
    pub role_type: String,
    /// e.g. `Meeting:Read`, `User:Edit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileges: Option<Vec<String>>,
}

impl RoleBody {
    fn new(role: &Role, with_privileges: bool) -> Self {
        RoleBody {
            id: role.id.as_str().to_owned(),
            name: role.name.to_string(),
            description: role.description.clone(),
            total_members: role.total_members,
            role_type: role.role_type.to_owned(),
            privileges: with_privileges.then(|| {
                role.privileges
                    .names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            }),
        }
    }
}

/// The answer to `GET /roles`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    pub total_records: usize,
    pub roles: Vec<RoleBody>,
}

/// A member as `GET /roles/{roleId}/members` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleMember {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(rename = "type")]
    pub user_type: i64,
}

/// A page of `GET /roles/{roleId}/members`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleMembers {
    #[serde(flatten)]
    pub page: PageFields,
    pub members: Vec<RoleMember>,
}

/// The answer to adding role members or assistants: the ids added and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct Added {
    /// Comma-separated ids.
    pub ids: String,
    pub add_at: String,
}

fn parse_privileges(names: &[String]) -> Result<PrivilegeSet, ApiDenial> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            name.parse::<Privilege>().map_err(|e| {
                ApiDenial::from(ApiError::validation(
                    format!("privileges[{i}]"),
                    e.to_string(),
                ))
            })
        })
        .collect()
}

/// The role in the token's account, if any, and the rule's target for it.
async fn located_role<'a>(
    state: &AppState,
    token: &TokenState,
    role_id: &'a str,
) -> Result<(Option<Role>, Located<'a>), ApiDenial> {
    let role = match &token.account {
        Some(account) => match state.store().role(account.as_str(), role_id).await {
            Ok(role) => Some(role),
            Err(accord_store::StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let account = role.as_ref().and(token.account.clone());
    Ok((
        role,
        Located {
            id: role_id,
            account,
            owner: None,
        },
    ))
}

/// Whether the caller acts as the account owner (server grants do; installations and user grants
/// when their `me` is the owner).
fn acts_as_owner(state: &AppState, caller_me: &str) -> bool {
    state
        .store()
        .view()
        .user(caller_me)
        .is_some_and(|u| BuiltinRole::from_id(&u.role_id) == Some(BuiltinRole::Owner))
}

/// `GET /roles`.
#[utoipa::path(
    get, path = "/v2/roles", tag = "Roles",
    responses((status = 200, description = "OK", body = RoleList), crate::openapi::Failures),
)]
pub async fn list(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
) -> Result<Json<RoleList>, ApiDenial> {
    let caller = authorize(&state, &token, call.endpoint, Located::account_wide(&token)).await?;
    let roles = state.store().roles(&caller.grant.account_id).await?;
    Ok(Json(RoleList {
        total_records: roles.len(),
        roles: roles.iter().map(|r| RoleBody::new(r, false)).collect(),
    }))
}

/// The body of `POST /roles` (`name` required) and `PATCH /roles/{roleId}` (any of these).
#[derive(serde::Deserialize, ToSchema)]
pub struct RoleRequest {
    name: Option<String>,
    description: Option<String>,
    /// Privilege names, e.g. `["Meeting:Read", "User:Read"]`.
    privileges: Option<Vec<String>>,
}

/// `POST /roles` → 201.
#[utoipa::path(
    post, path = "/v2/roles", tag = "Roles",
    request_body = RoleRequest,
    responses(
        (status = 201, description = "Created", body = RoleBody, links(("roles.get" = (operation_id = "roles.get", parameters(("roleId" = "$response.body#/id")))), ("roles.update" = (operation_id = "roles.update", parameters(("roleId" = "$response.body#/id")))), ("roles.delete" = (operation_id = "roles.delete", parameters(("roleId" = "$response.body#/id")))), ("role_members.list" = (operation_id = "role_members.list", parameters(("roleId" = "$response.body#/id")))), ("role_members.add" = (operation_id = "role_members.add", parameters(("roleId" = "$response.body#/id")))))),
        crate::openapi::Failures),
)]
pub async fn create(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RoleBody>), ApiDenial> {
    let caller = authorize(&state, &token, call.endpoint, Located::account_wide(&token)).await?;
    let body: RoleRequest = json(&body)?;
    let name = body
        .name
        .ok_or_else(|| ApiError::validation("name", "A role needs a name."))?;
    let privileges = parse_privileges(&body.privileges.unwrap_or_default())?;
    let new = NewRole {
        id: None,
        name,
        description: body.description.unwrap_or_default(),
        privileges,
    };
    let role = state
        .store()
        .create_role(&actor(&caller), &caller.grant.account_id, new)
        .await
        .map_err(|e| store_error(e, Some(Writing::Role)))?;
    Ok((StatusCode::CREATED, Json(RoleBody::new(&role, true))))
}

/// `GET /roles/{roleId}`.
#[utoipa::path(
    get, path = "/v2/roles/{roleId}", tag = "Roles",
    params(("roleId" = String, Path, description = "0 Owner, 1 Admin, 2 Member, or a custom role's id", example = "1")),
    responses((status = 200, description = "OK", body = RoleBody), crate::openapi::Failures),
)]
pub async fn get(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(role_id): Path<String>,
) -> Result<Json<RoleBody>, ApiDenial> {
    let (role, target) = located_role(&state, &token, &role_id).await?;
    authorize(&state, &token, call.endpoint, target).await?;
    Ok(Json(RoleBody::new(&role.ok_or(ApiDenial::Internal)?, true)))
}

/// `PATCH /roles/{roleId}` → 204. The Owner role is fixed; only the owner changes Admin.
#[utoipa::path(
    patch, path = "/v2/roles/{roleId}", tag = "Roles",
    params(("roleId" = String, Path, description = "0 Owner, 1 Admin, 2 Member, or a custom role's id", example = "1")),
    request_body = RoleRequest,
    responses((status = 204, description = "Updated"), crate::openapi::Failures),
)]
pub async fn update(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(role_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiDenial> {
    let body: RoleRequest = json(&body)?;
    let (role, target) = located_role(&state, &token, &role_id).await?;
    let me = token
        .me
        .as_ref()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let rule = rules::role_change(role.as_ref().map(|r| &r.id), acts_as_owner(&state, &me));
    let caller = authorize_with(&state, &token, call.endpoint, target, rule)?;
    let privileges = body
        .privileges
        .as_deref()
        .map(parse_privileges)
        .transpose()?;
    let change = RoleChange {
        name: body.name,
        description: body.description,
        privileges,
    };
    state
        .store()
        .update_role(&actor(&caller), &caller.grant.account_id, &role_id, change)
        .await
        .map_err(|e| store_error(e, Some(Writing::Role)))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /roles/{roleId}` → 204 (custom roles without members).
#[utoipa::path(
    delete, path = "/v2/roles/{roleId}", tag = "Roles",
    params(("roleId" = String, Path, description = "0 Owner, 1 Admin, 2 Member, or a custom role's id", example = "1")),
    responses((status = 204, description = "Deleted; its members became Members"), crate::openapi::Failures),
)]
pub async fn delete(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(role_id): Path<String>,
) -> Result<StatusCode, ApiDenial> {
    let (_, target) = located_role(&state, &token, &role_id).await?;
    let caller = authorize(&state, &token, call.endpoint, target).await?;
    state
        .store()
        .delete_role(&actor(&caller), &caller.grant.account_id, &role_id)
        .await
        .map_err(|e| store_error(e, Some(Writing::Role)))?;
    Ok(StatusCode::NO_CONTENT)
}

impl RoleMember {
    fn new(user: &User) -> Self {
        RoleMember {
            id: user.id.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            first_name: user.first_name.to_string(),
            last_name: user.last_name.to_string(),
            user_type: i64::from(user.user_type),
        }
    }
}

/// `GET /roles/{roleId}/members` (paged).
#[utoipa::path(
    get, path = "/v2/roles/{roleId}/members", tag = "Roles",
    params(("roleId" = String, Path, description = "0 Owner, 1 Admin, 2 Member, or a custom role's id", example = "1"), crate::openapi::PageParams),
    responses((status = 200, description = "OK", body = RoleMembers), crate::openapi::Failures),
)]
pub async fn members(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(role_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RoleMembers>, ApiDenial> {
    let endpoint = call.endpoint;
    let (_, target) = located_role(&state, &token, &role_id).await?;
    let caller = authorize(&state, &token, endpoint, target).await?;
    let account = caller.grant.account_id.clone();
    let binding = Binding::new(account.clone(), endpoint.name).filter("role_id", role_id.clone());
    let pages = Pages::read(&state, query.as_deref(), binding)?;
    let after = pages.after(|parts| match parts {
        [KeyPart::Int(at), KeyPart::Text(id)] => Some((*at, id.clone())),
        _ => None,
    })?;
    let filter = UserFilter {
        status: None,
        role_id: Some(role_id),
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
    Ok(Json(RoleMembers {
        page: fields,
        members: users.iter().map(RoleMember::new).collect(),
    }))
}

/// The body of `POST /roles/{roleId}/members`.
#[derive(serde::Deserialize, ToSchema)]
pub struct MembersRequest {
    /// 1 to 30 users, each by `id` or `email`.
    members: Vec<UserRef>,
}

/// A user named by id or by email.
#[derive(serde::Deserialize, ToSchema)]
pub struct UserRef {
    pub id: Option<String>,
    pub email: Option<String>,
}

/// `POST /roles/{roleId}/members` (`{"members":[{"id"}|{"email"}]}`, at most 30) → 201.
#[utoipa::path(
    post, path = "/v2/roles/{roleId}/members", tag = "Roles",
    params(("roleId" = String, Path, description = "0 Owner, 1 Admin, 2 Member, or a custom role's id", example = "1")),
    request_body = MembersRequest,
    responses((status = 201, description = "Created", body = Added), crate::openapi::Failures),
)]
pub async fn add_members(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(role_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Added>), ApiDenial> {
    let body: MembersRequest = json(&body)?;
    let (_, target) = located_role(&state, &token, &role_id).await?;
    let caller = authorize_with(
        &state,
        &token,
        call.endpoint,
        target,
        rules::role_membership_change(&role_id),
    )?;
    if body.members.is_empty() || body.members.len() > 30 {
        return Err(ApiError::validation("members", "Give 1 to 30 members.").into());
    }
    let mut users = Vec::with_capacity(body.members.len());
    for (i, member) in body.members.iter().enumerate() {
        let key = member
            .id
            .as_deref()
            .or(member.email.as_deref())
            .ok_or_else(|| {
                ApiError::validation(format!("members[{i}]"), "Give the member's id or email.")
            })?;
        users.push(account_user(&state, &caller.grant.account_id, key).await?);
    }
    let role = accord_core::ids::RoleId::parse(role_id.clone())
        .map_err(|e| ApiError::validation("roleId", e.0))?;
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let change = UserChange {
        role_id: Some(role),
        ..Default::default()
    };
    state
        .store()
        .update_users(&actor(&caller), &ids, &change)
        .await
        .map_err(|e| store_error(e, Some(Writing::Role)))?;
    Ok((
        StatusCode::CREATED,
        Json(Added {
            ids: ids.join(","),
            add_at: state.store().now().rfc3339(),
        }),
    ))
}

/// `DELETE /roles/{roleId}/members/{userId}` → 204: the user goes back to Member.
#[utoipa::path(
    delete, path = "/v2/roles/{roleId}/members/{userId}", tag = "Roles",
    params(("roleId" = String, Path, description = "0 Owner, 1 Admin, 2 Member, or a custom role's id", example = "1"), ("userId" = String, Path, description = "The member's id or email")),
    responses((status = 204, description = "Removed; the user is a Member again"), crate::openapi::Failures),
)]
pub async fn remove_member(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((role_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiDenial> {
    let (_, target) = located_role(&state, &token, &role_id).await?;
    let caller = authorize_with(
        &state,
        &token,
        call.endpoint,
        target,
        rules::role_membership_change(&role_id),
    )?;
    let user = account_user(&state, &caller.grant.account_id, &user_id).await?;
    if user.role_id.as_str() != role_id {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            1001,
            format!("User {user_id} is not a member of role {role_id}."),
        )
        .into());
    }
    let change = UserChange {
        role_id: Some(BuiltinRole::Member.role_id()),
        ..Default::default()
    };
    state
        .store()
        .update_user(&actor(&caller), user.id.as_str(), change)
        .await
        .map_err(|e| store_error(e, Some(Writing::Role)))?;
    Ok(StatusCode::NO_CONTENT)
}
