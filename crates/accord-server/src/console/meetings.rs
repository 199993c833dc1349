//! *Meetings* (`/console/meetings`): the viewer's meetings, or — with `?user=<id or email>` —
//! another user's, when the rule allows it (`Meeting:Read`, or the viewer is that user's
//! assistant); otherwise the rule's refusal. Create and delete go through the
//! `POST /v2/users/{userId}/meetings` and `DELETE /v2/meetings/{meetingId}` handlers, so an
//! assistant creates a meeting for their principal exactly as through the API.

use accord_core::privileges::Privilege;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use super::{
    Failure, Layout, Posted, Viewer, call, done, notice, required, scheduling, when_rfc3339,
};
use crate::api::{meetings, users};
use crate::pages::{Page, PostedForm};
use crate::state::AppState;

/// The page.
pub const PATH: &str = "/console/meetings";

const NOTICES: &[(&str, &str)] = &[
    ("created", "The meeting is scheduled."),
    ("deleted", "The meeting is deleted."),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route("/console/meetings/create", post(create))
        .route("/console/meetings/delete", post(delete))
}

/// A user whose meetings the viewer can choose to see.
struct Choice {
    id: String,
    label: String,
    selected: bool,
}

struct MeetingRow {
    id: i64,
    topic: String,
    start: String,
    duration: u32,
    join_url: String,
}

#[derive(Template)]
#[template(path = "console/meetings.html")]
struct MeetingsTemplate {
    layout: Layout,
    /// `?user=` as asked (empty: the viewer's own).
    user: String,
    /// Whose meetings, in words.
    whose: String,
    choices: Vec<Choice>,
    /// Whether the viewer may pick any user of the account (`User:Read`) or only from
    /// `choices` and by email.
    may_list_users: bool,
    /// Whether the create and delete forms are offered (the rule still decides on post).
    may_change: bool,
    meetings: Vec<MeetingRow>,
    total: u64,
    /// The next page's link, when there is one.
    next: Option<String>,
}

/// The value of `name` in a query string, if not empty.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `/console/meetings` for `user` (the viewer's own when empty), with `extra` query text.
fn page_path(user: &str, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !user.is_empty() {
        query.append_pair("user", user);
    }
    for (key, value) in extra {
        query.append_pair(key, value);
    }
    let query = query.finish();
    if query.is_empty() {
        PATH.to_owned()
    } else {
        format!("{PATH}?{query}")
    }
}

/// `GET /console/meetings[?user=…][&next_page_token=…]`.
async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let user = query_value(query.as_deref(), "user").unwrap_or_default();
    let host = if user.is_empty() {
        viewer.user.id.to_string()
    } else {
        user.clone()
    };
    let token = query_value(query.as_deref(), "next_page_token");
    let list_query = token
        .as_deref()
        .map(|token| format!("next_page_token={}", urlencoded(token)));
    let Json(list) = meetings::list(
        State(state.clone()),
        call("meetings.list"),
        Extension(viewer.token.clone()),
        Path(host.clone()),
        RawQuery(list_query),
    )
    .await?;
    let principals = scheduling::principals(&state, &viewer).await?;
    let mine = is_viewer(&viewer, &host);
    let principal = principals
        .iter()
        .find(|p| p.id == host || p.email.eq_ignore_ascii_case(&host));
    let may_list_users = viewer.may(Privilege::UserRead);
    let mut choices = vec![Choice {
        id: String::new(),
        label: "My meetings".to_owned(),
        selected: mine,
    }];
    if may_list_users {
        let Json(users) = users::list_users(
            State(state.clone()),
            call("users.list"),
            Extension(viewer.token.clone()),
            RawQuery(Some("page_size=300".to_owned())),
        )
        .await?;
        choices.extend(
            users
                .users
                .into_iter()
                .filter(|u| u.id != viewer.user.id.as_str())
                .map(|u| Choice {
                    selected: u.id == host || u.email.eq_ignore_ascii_case(&host),
                    label: u.email,
                    id: u.id,
                }),
        );
    } else {
        choices.extend(principals.iter().map(|p| Choice {
            id: p.id.clone(),
            label: p.email.clone(),
            selected: principal.is_some_and(|q| q.id == p.id),
        }));
    }
    let whose = match (mine, principal) {
        (true, _) => "your meetings".to_owned(),
        (false, Some(p)) => format!("meetings of {}", p.email),
        (false, None) => format!("meetings of {host}"),
    };
    let next = (!list.page.next_page_token.is_empty())
        .then(|| page_path(&user, &[("next_page_token", &list.page.next_page_token)]));
    let page = MeetingsTemplate {
        layout: viewer.layout("Meetings", notice(query.as_deref(), NOTICES)),
        may_change: mine || principal.is_some() || viewer.may(Privilege::MeetingEdit),
        user,
        whose,
        choices,
        may_list_users,
        total: list.page.total_records,
        meetings: list
            .meetings
            .into_iter()
            .map(|m| MeetingRow {
                id: m.id,
                topic: m.topic,
                start: m
                    .start_time
                    .as_deref()
                    .map(when_rfc3339)
                    .unwrap_or_default(),
                duration: m.duration,
                join_url: m.join_url,
            })
            .collect(),
        next,
    };
    Ok(Page::new(StatusCode::OK, &page).into_response())
}

fn urlencoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Whether `user` (an id, an email or `me`) names the viewer.
fn is_viewer(viewer: &Viewer, user: &str) -> bool {
    user == "me"
        || user == viewer.user.id.as_str()
        || user.eq_ignore_ascii_case(viewer.user.email.as_str())
}

/// The `user` a form names (empty: the viewer).
fn posted_user(form: &PostedForm, viewer: &Viewer) -> String {
    form.get("user")
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| viewer.user.id.to_string())
}

/// `datetime-local`'s `yyyy-MM-ddTHH:mm` (or with seconds) as Zoom's UTC `start_time`.
fn start_time(local: &str) -> String {
    let local = local.trim();
    if local.len() == 16 {
        format!("{local}:00Z")
    } else {
        format!("{local}Z")
    }
}

/// `POST /console/meetings/create`: `user` (the host; empty for the viewer), `topic`,
/// `start_time` (`datetime-local`, UTC), `duration` (minutes).
async fn create(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let host = posted_user(&form, &viewer);
    let topic = required(&form, "topic", "the meeting's topic")?;
    let start = required(&form, "start_time", "the start time")?;
    let duration: u32 = required(&form, "duration", "the duration in minutes")?
        .trim()
        .parse()
        .map_err(|_| Failure::bad_form("Give the duration as a whole number of minutes."))?;
    let request = serde_json::json!({
        "topic": topic,
        "type": 2,
        "start_time": start_time(start),
        "duration": duration,
        "timezone": "UTC",
    });
    meetings::create(
        State(state.clone()),
        call("meetings.create"),
        Extension(viewer.token.clone()),
        Path(host.clone()),
        Bytes::from(request.to_string()),
    )
    .await?;
    Ok(done(
        &page_path(form.get("user").unwrap_or(""), &[]),
        "created",
    ))
}

/// `POST /console/meetings/delete`: `meeting_id`, and `user` (whose page to return to).
async fn delete(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let meeting = required(&form, "meeting_id", "the meeting to delete")?;
    meetings::delete(
        State(state.clone()),
        call("meetings.delete"),
        Extension(viewer.token.clone()),
        Path(meeting.to_owned()),
    )
    .await?;
    Ok(done(
        &page_path(form.get("user").unwrap_or(""), &[]),
        "deleted",
    ))
}
