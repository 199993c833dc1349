//! *Users and roles*, the roles page (`/console/roles`): every role with its privileges and
//! member count (`roles.list`, then `roles.get` for each role's privileges), and — for a viewer
//! whose role holds `Role:Edit` — creating a custom role, changing a role's privileges (and a
//! custom role's name and description), and deleting a custom role, through `roles.create`,
//! `roles.update` and `roles.delete`. The API's step-5 rules decide what may change: the Owner
//! role never does, and only the account owner changes the Admin role.

use accord_core::privileges::Privilege;
use accord_core::roles::BuiltinRole;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::{Failure, Layout, NavLink, Posted, Viewer, call, done, notice, required};
use crate::api::roles::{self, RoleBody};
use crate::pages::{Page, PostedForm};
use crate::state::AppState;

/// The roles page.
pub const PATH: &str = "/console/roles";

/// The posted field holding each checked privilege's name.
const PRIVILEGE_FIELD: &str = "privilege";

const NOTICES: &[(&str, &str)] = &[
    ("created", "The role is created."),
    (
        "updated",
        "The role is changed; its members' privileges changed at once.",
    ),
    (
        "deleted",
        "The role is deleted; its members are Members now.",
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route("/console/roles/create", post(create))
        .route("/console/roles/update", post(update))
        .route("/console/roles/delete", post(delete))
}

/// The section's own navigation, shown atop both its pages: Users (`User:Read`) and Roles
/// (`Role:Read`), with `here` marked current.
pub fn subnav(viewer: &Viewer, here: &str) -> Vec<NavLink> {
    [
        (super::users::PATH, "Users", Privilege::UserRead),
        (PATH, "Roles", Privilege::RoleRead),
    ]
    .into_iter()
    .filter(|(_, _, needs)| viewer.may(*needs))
    .map(|(href, label, _)| NavLink {
        href,
        label,
        current: href == here,
    })
    .collect()
}

/// A role as a choice in a form: its id and name, and whether a user can be given it (every
/// role but Owner, which moves only by an ownership transfer).
pub struct RoleChoice {
    pub id: String,
    pub name: String,
    pub assignable: bool,
}

/// The account's roles, through `roles.list`.
async fn listed_roles(state: &AppState, viewer: &Viewer) -> Result<Vec<RoleBody>, Failure> {
    let Json(list) = roles::list(
        State(state.clone()),
        call("roles.list"),
        Extension(viewer.token.clone()),
    )
    .await?;
    Ok(list.roles)
}

/// The account's roles as form choices (the users page's role select).
pub async fn role_choices(state: &AppState, viewer: &Viewer) -> Result<Vec<RoleChoice>, Failure> {
    Ok(listed_roles(state, viewer)
        .await?
        .into_iter()
        .map(|role| RoleChoice {
            assignable: BuiltinRole::from_id(&role.id) != Some(BuiltinRole::Owner),
            id: role.id,
            name: role.name,
        })
        .collect())
}

/// One privilege of the catalog, for a role's checkboxes.
struct PrivilegeBox {
    name: &'static str,
    checked: bool,
}

/// A role as the page shows it.
struct RoleRow {
    id: String,
    name: String,
    description: String,
    custom: bool,
    total_members: i64,
    privileges: Vec<PrivilegeBox>,
    /// Whether the page offers changing it (never the Owner role; Admin only to the owner).
    editable: bool,
}

impl RoleRow {
    fn held(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.privileges.iter().filter(|p| p.checked).map(|p| p.name)
    }
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesTemplate {
    layout: Layout,
    subnav: Vec<NavLink>,
    roles: Vec<RoleRow>,
    may_edit: bool,
    /// Every privilege of the catalog, unchecked: the new role's checkboxes.
    catalog: Vec<PrivilegeBox>,
}

/// Every privilege of the catalog, checked where `held` names it.
fn privilege_boxes(held: &[String]) -> Vec<PrivilegeBox> {
    Privilege::ALL
        .into_iter()
        .map(|p| PrivilegeBox {
            name: p.as_str(),
            checked: held.iter().any(|h| h == p.as_str()),
        })
        .collect()
}

/// `GET /console/roles`.
async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let may_edit = viewer.may(Privilege::RoleEdit);
    let mut rows = Vec::new();
    for listed in listed_roles(&state, &viewer).await? {
        let Json(role) = roles::get(
            State(state.clone()),
            call("roles.get"),
            Extension(viewer.token.clone()),
            Path(listed.id),
        )
        .await?;
        let builtin = BuiltinRole::from_id(&role.id);
        let editable = may_edit
            && match builtin {
                Some(BuiltinRole::Owner) => false,
                Some(BuiltinRole::Admin) => viewer.user.is_owner(),
                _ => true,
            };
        rows.push(RoleRow {
            privileges: privilege_boxes(role.privileges.as_deref().unwrap_or_default()),
            custom: builtin.is_none(),
            editable,
            id: role.id,
            name: role.name,
            description: role.description,
            total_members: role.total_members,
        });
    }
    let template = RolesTemplate {
        layout: viewer.layout("Roles", notice(query.as_deref(), NOTICES)),
        subnav: subnav(&viewer, PATH),
        roles: rows,
        may_edit,
        catalog: privilege_boxes(&[]),
    };
    Ok(Page::new(StatusCode::OK, &template).into_response())
}

/// A role's body from a posted form: `name` and `description` when the form has them (an empty
/// description clears it), and `privileges` as the checked boxes — none checked means none.
fn role_request(form: &PostedForm) -> Value {
    let mut body = Map::new();
    if let Some(name) = form.get("name") {
        body.insert("name".into(), json!(name));
    }
    if let Some(description) = form.all("description").next() {
        body.insert("description".into(), json!(description));
    }
    let privileges: Vec<&str> = form.all(PRIVILEGE_FIELD).collect();
    body.insert("privileges".into(), json!(privileges));
    Value::Object(body)
}

/// `POST /console/roles/create`: `name`, `description`, `privilege` (repeated).
async fn create(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let _created = roles::create(
        State(state.clone()),
        call("roles.create"),
        Extension(viewer.token.clone()),
        Bytes::from(role_request(&form).to_string()),
    )
    .await?;
    Ok(done(PATH, "created"))
}

/// `POST /console/roles/update`: `role_id`, `privilege` (repeated), and for a custom role
/// `name` and `description`.
async fn update(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    roles::update(
        State(state.clone()),
        call("roles.update"),
        Extension(viewer.token.clone()),
        Path(required(&form, "role_id", "the role")?.to_owned()),
        Bytes::from(role_request(&form).to_string()),
    )
    .await?;
    Ok(done(PATH, "updated"))
}

/// `POST /console/roles/delete`: `role_id`.
async fn delete(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    roles::delete(
        State(state.clone()),
        call("roles.delete"),
        Extension(viewer.token.clone()),
        Path(required(&form, "role_id", "the role")?.to_owned()),
    )
    .await?;
    Ok(done(PATH, "deleted"))
}
