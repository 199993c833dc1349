//! *Scheduling* (`/console/scheduling`): the viewer's assistants — add one by email, remove one —
//! and the users who made the viewer their assistant (whose meetings the viewer may schedule).
//! Every read and change runs the `/v2/users/{userId}/assistants` and `/schedulers` handlers.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::{Failure, Layout, Posted, Viewer, call, done, notice, required};
use crate::api::assistants::{self, Assistant, Scheduler};
use crate::pages::Page;
use crate::state::AppState;

/// The page.
pub const PATH: &str = "/console/scheduling";

const NOTICES: &[(&str, &str)] = &[
    (
        "added",
        "The assistant is added: they can now schedule and manage your meetings.",
    ),
    (
        "removed",
        "The assistant is removed: they can no longer manage your meetings.",
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route("/console/scheduling/add", post(add))
        .route("/console/scheduling/remove", post(remove))
}

#[derive(Template)]
#[template(path = "console/scheduling.html")]
struct SchedulingTemplate {
    layout: Layout,
    assistants: Vec<Assistant>,
    schedulers: Vec<Scheduler>,
}

/// `GET /console/scheduling`.
async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let me = viewer.user.id.to_string();
    let axum::Json(assistants) = assistants::list(
        State(state.clone()),
        call("assistants.list"),
        Extension(viewer.token.clone()),
        Path(me.clone()),
    )
    .await?;
    let schedulers = principals(&state, &viewer).await?;
    let layout = viewer.layout("Scheduling", notice(query.as_deref(), NOTICES));
    let page = SchedulingTemplate {
        layout,
        assistants: assistants.assistants,
        schedulers,
    };
    Ok(Page::new(StatusCode::OK, &page).into_response())
}

/// The users who made the viewer their assistant (`GET /v2/users/{me}/schedulers`).
pub async fn principals(state: &AppState, viewer: &Viewer) -> Result<Vec<Scheduler>, Failure> {
    let axum::Json(list) = assistants::schedulers(
        State(state.clone()),
        call("schedulers.list"),
        Extension(viewer.token.clone()),
        Path(viewer.user.id.to_string()),
    )
    .await?;
    Ok(list.schedulers)
}

/// `POST /console/scheduling/add`: `email`.
async fn add(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let email = required(&form, "email", "the assistant's email")?;
    let request = serde_json::json!({ "assistants": [{ "email": email.trim() }] });
    let _added = assistants::add(
        State(state.clone()),
        call("assistants.add"),
        Extension(viewer.token.clone()),
        Path(viewer.user.id.to_string()),
        Bytes::from(request.to_string()),
    )
    .await?;
    Ok(done(PATH, "added"))
}

/// `POST /console/scheduling/remove`: `assistant_id`.
async fn remove(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let assistant = required(&form, "assistant_id", "the assistant to remove")?;
    assistants::delete_one(
        State(state.clone()),
        call("assistants.delete"),
        Extension(viewer.token.clone()),
        Path((viewer.user.id.to_string(), assistant.to_owned())),
    )
    .await?;
    Ok(done(PATH, "removed"))
}
