//! *Why?* (`/console/why`): paste an access token and a request (method and path) and see the
//! permission rule's answer step by step — [`explain::explain_for`], the very function behind
//! `accord explain`. With no token, the question is asked for the viewer's own console principal
//! ("as me"). The token is never shown back, stored or logged.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use accord_core::permission::StepResult;

use super::{Failure, Layout, Posted, Viewer, required};
use crate::api::access::token_state_of;
use crate::api::explain::{self, Explanation};
use crate::pages::Page;
use crate::state::AppState;

/// The page (the form posts back to it).
pub const PATH: &str = "/console/why";

/// The methods the form offers.
const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "PUT", "DELETE"];

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(page).post(ask))
}

struct MethodChoice {
    name: &'static str,
    selected: bool,
}

/// One step as the page shows it.
struct StepRow {
    number: u8,
    question: &'static str,
    /// `pass`, `fail` or `not reached`.
    outcome: &'static str,
    detail: String,
    fix: String,
}

/// The rule's answer.
struct Answer {
    endpoint: String,
    allowed: bool,
    status: Option<u16>,
    code: Option<u32>,
    as_me: bool,
    steps: Vec<StepRow>,
}

#[derive(Template)]
#[template(path = "console/why.html")]
struct WhyTemplate {
    layout: Layout,
    methods: Vec<MethodChoice>,
    path: String,
    answer: Option<Answer>,
    /// Why there is no answer (the request names no endpoint, the database failed).
    problem: Option<String>,
}

fn template(viewer: &Viewer, method: &str, path: &str) -> WhyTemplate {
    WhyTemplate {
        layout: viewer.layout("Why?", None),
        methods: METHODS
            .iter()
            .map(|&name| MethodChoice {
                name,
                selected: name == method,
            })
            .collect(),
        path: path.to_owned(),
        answer: None,
        problem: None,
    }
}

/// `GET /console/why`: the empty form.
async fn page(viewer: Viewer) -> Response {
    Page::new(StatusCode::OK, &template(&viewer, "GET", "/v2/users/me")).into_response()
}

fn answer(explanation: Explanation, as_me: bool) -> Answer {
    Answer {
        allowed: explanation.decision == "allow",
        endpoint: explanation.endpoint,
        status: explanation.status,
        code: explanation.code,
        as_me,
        steps: explanation
            .steps
            .into_iter()
            .map(|outcome| {
                let (label, detail, fix) = match outcome.result {
                    StepResult::Passed { detail } => ("pass", detail, String::new()),
                    StepResult::Failed { denial } => {
                        ("fail", denial.explain.reason, denial.explain.fix)
                    }
                    StepResult::NotReached => ("not reached", String::new(), String::new()),
                };
                StepRow {
                    number: outcome.step.number(),
                    question: outcome.step.question(),
                    outcome: label,
                    detail,
                    fix,
                }
            })
            .collect(),
    }
}

/// `POST /console/why`: `token` (optional: empty asks as the viewer), `method`, `path`.
async fn ask(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let method = required(&form, "method", "a method")?;
    let method = METHODS
        .into_iter()
        .find(|m| *m == method)
        .ok_or_else(|| Failure::bad_form("The method must be GET, POST, PATCH, PUT or DELETE."))?;
    let path = required(&form, "path", "the request's path, e.g. /v2/users/me")?.trim();
    let pasted = form.get("token").map(str::trim).filter(|t| !t.is_empty());
    let token = match pasted {
        Some(pasted) => std::sync::Arc::new(token_state_of(&state, Some(pasted)).await?),
        None => viewer.token.clone(),
    };
    let mut page = template(&viewer, method, path);
    match explain::explain_for(&state, &token, method, path).await {
        Ok(explanation) => page.answer = Some(answer(explanation, pasted.is_none())),
        Err(problem) => page.problem = Some(problem),
    }
    Ok(Page::new(StatusCode::OK, &page).into_response())
}
