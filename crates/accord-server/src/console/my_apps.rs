//! *My apps* (`/console`): the user's own authorizations, and removing one — through
//! `DELETE /v2/users/{userId}/apps/{appId}`'s handler, so the grant's tokens stop at once,
//! `app_deauthorized` is queued and the audit entry written, exactly as through the API.

use accord_core::grants::{GrantKind, GrantStatus};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::{Failure, HOME, Layout, Posted, Viewer, call, done, notice, when};
use crate::api::marketplace;
use crate::pages::Page;
use crate::state::AppState;

const NOTICES: &[(&str, &str)] = &[(
    "removed",
    "The app's authorization is removed: its tokens no longer work, and the app was told.",
)];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(page))
        .route("/console/my-apps/remove", post(remove))
}

struct AuthorizedApp {
    id: String,
    name: String,
    scopes: Vec<String>,
    when: String,
}

#[derive(Template)]
#[template(path = "console/my_apps.html")]
struct MyAppsTemplate {
    layout: Layout,
    apps: Vec<AuthorizedApp>,
}

/// `GET /console`: the user's own active authorizations.
async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let store = state.store();
    let mut apps = Vec::new();
    for grant in store
        .grants_in_account(viewer.user.account_id.as_str())
        .await?
    {
        let mine = grant.kind == GrantKind::Authorization
            && grant.status == GrantStatus::Active
            && grant.user_id.as_deref() == Some(viewer.user.id.as_str());
        if !mine {
            continue;
        }
        let app = store.app(&grant.app_id).await?;
        apps.push(AuthorizedApp {
            id: app.id.to_string(),
            name: app.name,
            scopes: grant.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            when: when(grant.updated_at),
        });
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    let layout = viewer.layout("My apps", notice(query.as_deref(), NOTICES));
    Ok(Page::new(StatusCode::OK, &MyAppsTemplate { layout, apps }).into_response())
}

/// `POST /console/my-apps/remove`: `app_id`.
async fn remove(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let app_id = form
        .get("app_id")
        .ok_or_else(|| Failure::bad_form("Say which app to remove (app_id)."))?
        .to_owned();
    marketplace::remove_own_authorization(
        State(state.clone()),
        call("users.apps.delete"),
        Extension(viewer.token.clone()),
        Path((viewer.user.id.to_string(), app_id)),
    )
    .await?;
    Ok(done(HOME, "removed"))
}
