//! *Users and roles*, the users page (`/console/users`): the account's users with their role and
//! status, and — for a viewer whose role holds `User:Edit` — adding a user, deactivating and
//! activating one, and (with `Role:Edit` too) changing a user's role.
//!
//! Everything goes through the `/v2` handlers: `users.list` (every status, every page),
//! `roles.list` for role names, `users.create` (`autoCreate`: an active user who signs in with
//! the password given), `users.status`, and `users.update` with a `role_id` — which, unlike
//! `role_members.add`, also moves a user back to Member. The owner rules are the API's (step 5).

use accord_core::privileges::Privilege;
use accord_core::roles::BuiltinRole;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::json;

use super::roles::{RoleChoice, role_choices, subnav};
use super::{Failure, Layout, NavLink, Posted, Viewer, call, done, notice, required};
use crate::api::users::{self, UserListItem};
use crate::pages::Page;
use crate::state::AppState;

/// The users page.
pub const PATH: &str = "/console/users";

const NOTICES: &[(&str, &str)] = &[
    (
        "added",
        "The user is added and can sign in with the password you chose.",
    ),
    (
        "deactivated",
        "The user is deactivated: they can no longer sign in, and their apps' tokens stop working.",
    ),
    ("activated", "The user is active again."),
    (
        "role-changed",
        "The user's role is changed; their new privileges apply at once.",
    ),
];

/// The statuses the page lists, each through its own `users.list` calls, in this order.
const STATUSES: [&str; 3] = ["active", "pending", "inactive"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route("/console/users/add", post(add))
        .route("/console/users/status", post(change_status))
        .route("/console/users/role", post(change_role))
}

/// A user as the page shows it.
struct UserRow {
    id: String,
    name: String,
    email: String,
    role_id: String,
    role_name: String,
    status: String,
    /// The action the status form offers (`activate` / `deactivate`), if any.
    status_action: Option<&'static str>,
    /// Whether the row offers changing the role.
    role_change: bool,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersTemplate {
    layout: Layout,
    subnav: Vec<NavLink>,
    users: Vec<UserRow>,
    roles: Vec<RoleChoice>,
    may_edit_users: bool,
    may_edit_roles: bool,
    member_role: &'static str,
}

/// `GET /console/users`.
async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let users = every_user(&state, &viewer).await?;
    let roles = if viewer.may(Privilege::RoleRead) {
        role_choices(&state, &viewer).await?
    } else {
        Vec::new()
    };
    let may_edit_users = viewer.may(Privilege::UserEdit);
    let may_edit_roles = may_edit_users && viewer.may(Privilege::RoleEdit);
    let users = users
        .into_iter()
        .map(|user| row(user, &roles, &viewer, may_edit_users, may_edit_roles))
        .collect();
    let template = UsersTemplate {
        layout: viewer.layout("Users", notice(query.as_deref(), NOTICES)),
        subnav: subnav(&viewer, PATH),
        users,
        roles,
        may_edit_users,
        may_edit_roles,
        member_role: BuiltinRole::Member.id(),
    };
    Ok(Page::new(StatusCode::OK, &template).into_response())
}

/// Every user of the account: each status in turn, following `next_page_token` to the end.
async fn every_user(state: &AppState, viewer: &Viewer) -> Result<Vec<UserListItem>, Failure> {
    let mut found = Vec::new();
    for status in STATUSES {
        let mut token = String::new();
        loop {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("status", status)
                .append_pair("page_size", "300")
                .append_pair("next_page_token", &token)
                .finish();
            let axum::Json(list) = users::list_users(
                State(state.clone()),
                call("users.list"),
                Extension(viewer.token.clone()),
                RawQuery(Some(query)),
            )
            .await?;
            found.extend(list.users);
            if list.page.next_page_token.is_empty() {
                break;
            }
            token = list.page.next_page_token;
        }
    }
    Ok(found)
}

/// A user's row: the role's name when the viewer may read roles (its id otherwise), and the forms
/// the viewer's role can use. The owner's row offers none (the owner keeps the role and stays
/// active until ownership moves), nor does the viewer's own status (never on oneself).
fn row(
    user: UserListItem,
    roles: &[RoleChoice],
    viewer: &Viewer,
    may_edit_users: bool,
    may_edit_roles: bool,
) -> UserRow {
    let is_owner = BuiltinRole::from_id(&user.role_id) == Some(BuiltinRole::Owner);
    let is_viewer = user.id == viewer.user.id.as_str();
    let status_action = match user.status.as_str() {
        _ if !may_edit_users || is_owner || is_viewer => None,
        "active" => Some("deactivate"),
        _ => Some("activate"),
    };
    let role_name = roles
        .iter()
        .find(|r| r.id == user.role_id)
        .map(|r| r.name.clone())
        .or_else(|| BuiltinRole::from_id(&user.role_id).map(|r| r.name().to_owned()))
        .unwrap_or_else(|| user.role_id.clone());
    UserRow {
        name: user.display_name,
        email: user.email,
        role_name,
        status: user.status,
        status_action,
        role_change: may_edit_roles && !is_owner,
        id: user.id,
        role_id: user.role_id,
    }
}

/// `POST /console/users/add`: `email`, `first_name`, `last_name`, `password`, `role_id`
/// (optional; Member when absent). The user is created active (`autoCreate`), then given the
/// role through `users.update` when it is not Member — two API calls, as an API client makes
/// them: if the second is refused (a viewer without `Role:Edit`, the Owner role), the user stays
/// a Member and the failure page says why.
async fn add(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let request = json!({
        "action": "autoCreate",
        "user_info": {
            "email": required(&form, "email", "the new user's email")?,
            "first_name": form.get("first_name").unwrap_or_default(),
            "last_name": form.get("last_name").unwrap_or_default(),
            "password": required(&form, "password", "a password for the new user")?,
        }
    });
    let role_id = form
        .get("role_id")
        .filter(|role| *role != BuiltinRole::Member.id());
    let (_, axum::Json(created)) = users::create_user(
        State(state.clone()),
        call("users.create"),
        Extension(viewer.token.clone()),
        Bytes::from(request.to_string()),
    )
    .await?;
    if let Some(role_id) = role_id {
        assign_role(&state, &viewer, created.id, role_id).await?;
    }
    Ok(done(PATH, "added"))
}

/// `POST /console/users/status`: `user_id`, `action` (`activate` | `deactivate`).
async fn change_status(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let user_id = required(&form, "user_id", "the user")?;
    let (action, notice) = match form.get("action") {
        Some("activate") => ("activate", "activated"),
        Some("deactivate") => ("deactivate", "deactivated"),
        _ => return Err(Failure::bad_form("Say activate or deactivate (action).")),
    };
    users::update_status(
        State(state.clone()),
        call("users.status"),
        Extension(viewer.token.clone()),
        Path(user_id.to_owned()),
        Bytes::from(json!({ "action": action }).to_string()),
    )
    .await?;
    Ok(done(PATH, notice))
}

/// `POST /console/users/role`: `user_id`, `role_id`.
async fn change_role(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let user_id = required(&form, "user_id", "the user")?;
    let role_id = required(&form, "role_id", "the new role")?;
    assign_role(&state, &viewer, user_id.to_owned(), role_id).await?;
    Ok(done(PATH, "role-changed"))
}

/// `PATCH /v2/users/{userId}` with `{"role_id"}`: `Role:Edit` and the owner rules apply there.
async fn assign_role(
    state: &AppState,
    viewer: &Viewer,
    user_id: String,
    role_id: &str,
) -> Result<(), Failure> {
    users::update_user(
        State(state.clone()),
        call("users.update"),
        Extension(viewer.token.clone()),
        Path(user_id),
        Bytes::from(json!({ "role_id": role_id }).to_string()),
    )
    .await?;
    Ok(())
}
