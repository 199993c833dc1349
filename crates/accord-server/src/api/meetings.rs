//! `/v2/users/{userId}/meetings` and `/v2/meetings/{meetingId}`: Zoom's meetings, through the
//! permission rule. A meeting belongs to its host: reach is judged on the host, so an assistant of
//! the host reaches it with the user form of a meeting scope. Creates and updates also count
//! against the host's daily meeting limit.

use std::sync::Arc;

use accord_core::meetings::MeetingDraft;
use accord_store::meetings::{ListFilter, ListKey, ListType, Meeting, NewMeeting};
use accord_store::users::User;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{ApiDenial, Caller, TokenState, authorize};
use super::dates::day;
use super::handler::{Call, Located, Pages, Writing, actor, json, store_error};
use super::paging::{Binding, KeyPart, PageFields, split_page};
use super::users::{find_user, located};
use crate::errors::ApiError;
use crate::state::AppState;

fn meeting_not_found(id: &str) -> ApiDenial {
    ApiError::missing(accord_core::endpoints::ObjectKind::Meeting, id).into()
}

/// A meeting in Zoom's shape: the one shape the API and webhook events share.
pub use accord_core::meetings::MeetingObject as MeetingBody;

/// A meeting as `GET /users/{userId}/meetings` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingListItem {
    pub uuid: String,
    pub id: i64,
    pub host_id: String,
    pub topic: String,
    #[serde(rename = "type")]
    pub meeting_type: i64,
    /// Absent (null) for type 3.
    pub start_time: Option<String>,
    pub duration: u32,
    pub timezone: String,
    pub created_at: String,
    pub join_url: String,
    pub agenda: String,
}

impl MeetingListItem {
    fn new(state: &AppState, meeting: &Meeting) -> Self {
        let input = &meeting.input;
        MeetingListItem {
            uuid: meeting.uuid.clone(),
            id: meeting.id,
            host_id: meeting.host_id.as_str().to_owned(),
            topic: input.topic().to_owned(),
            meeting_type: input.meeting_type().number(),
            start_time: input.start_time().map(|t| t.rfc3339()),
            duration: input.duration(),
            timezone: input.timezone().to_owned(),
            created_at: meeting.created_at.rfc3339(),
            join_url: meeting.join_url(&state.config().public_url),
            agenda: input.agenda().to_owned(),
        }
    }
}

/// `GET /users/{userId}/meetings` `type` (for the OpenAPI document; the handler reads the text).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum MeetingListType {
    Scheduled,
    Upcoming,
    PreviousMeetings,
}

/// A page of `GET /users/{userId}/meetings`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingList {
    #[serde(flatten)]
    pub page: PageFields,
    pub meetings: Vec<MeetingListItem>,
}

/// The 429 a create or update gets once the host has used the day's meeting allowance.
async fn daily_refusal(
    state: &AppState,
    caller: &Caller,
    host: &str,
    endpoint: &accord_core::endpoints::Endpoint,
) -> Option<axum::response::Response> {
    let decision = state
        .limits()
        .admit_daily_meetings(
            &caller.grant.account_id,
            endpoint.rate_limit,
            host,
            state.store().now(),
        )
        .await;
    let refusal = decision.refusal();
    if refusal.is_some() {
        state.metrics().rate_limited(&decision);
    }
    refusal
}

/// `GET /users/{userId}/meetings` (`type`, `from`, `to`, `page_size`, `next_page_token`).
#[utoipa::path(
    get, path = "/v2/users/{userId}/meetings", tag = "Meetings",
    params(
        ("userId" = String, Path, description = "`me`, a user id or an email", example = "me"),
        ("type" = Option<MeetingListType>, Query, description = "`scheduled` (default), `upcoming` or `previous_meetings`"),
        ("from" = Option<String>, Query, description = "First day, `yyyy-MM-dd`"),
        ("to" = Option<String>, Query, description = "Last day, `yyyy-MM-dd` (included)"),
        crate::openapi::PageParams,
    ),
    responses((status = 200, description = "OK", body = MeetingList), crate::openapi::Failures),
)]
pub async fn list(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<MeetingList>, ApiDenial> {
    let endpoint = call.endpoint;
    let host = find_user(&state, &token, &user_id).await?;
    let caller = authorize(&state, &token, endpoint, located(&user_id, host.as_ref())).await?;
    let host = host.ok_or(ApiDenial::Internal)?;
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let list_type = match params
        .get("type")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
    {
        None => ListType::Scheduled,
        Some(text) => ListType::parse(text).ok_or_else(|| {
            ApiError::validation(
                "type",
                "type must be scheduled, upcoming or previous_meetings.",
            )
        })?,
    };
    let from = params
        .get("from")
        .filter(|v| !v.is_empty())
        .map(|v| day("from", v))
        .transpose()?;
    // `to` names the last day included.
    let to = params
        .get("to")
        .filter(|v| !v.is_empty())
        .map(|v| day("to", v).map(|t| t.plus_seconds(86_400)))
        .transpose()?;
    let filter = ListFilter {
        list_type,
        from,
        to,
    };
    let binding = Binding::new(caller.grant.account_id.clone(), endpoint.name)
        .filter("host", host.id.as_str())
        .filter("type", params.get("type").cloned().unwrap_or_default())
        .filter("from", params.get("from").cloned().unwrap_or_default())
        .filter("to", params.get("to").cloned().unwrap_or_default());
    let pages = Pages::read(&state, query.as_deref(), binding)?;
    let after = pages.after(|parts| match parts {
        [KeyPart::Int(sort_at), KeyPart::Int(id)] => Some(ListKey {
            sort_at: *sort_at,
            id: *id,
        }),
        _ => None,
    })?;
    let (rows, _) = state
        .store()
        .meetings(host.id.as_str(), &filter, after, pages.query.fetch_limit())
        .await?;
    let total = state
        .store()
        .count_meetings(host.id.as_str(), &filter)
        .await?;
    let (meetings, next) = split_page(rows, pages.query.page_size, |m: &Meeting| {
        let key = m.sort_key();
        vec![KeyPart::Int(key.sort_at), KeyPart::Int(key.id)]
    });
    let fields = pages.fields(u64::try_from(total).unwrap_or(0), next.as_deref());
    Ok(Json(MeetingList {
        page: fields,
        meetings: meetings
            .iter()
            .map(|m| MeetingListItem::new(&state, m))
            .collect(),
    }))
}

/// The body of `POST /users/{userId}/meetings`: the meeting, and whom to schedule it for.
#[derive(ToSchema)]
pub struct CreateMeetingRequest {
    #[serde(flatten)]
    draft: MeetingDraft,
    /// Email or id of the user to host the meeting (an assistant scheduling for them).
    schedule_for: Option<String>,
}

/// `schedule_for`, read on its own beside the draft.
#[derive(serde::Deserialize)]
struct ScheduleFor {
    #[serde(default)]
    schedule_for: Option<String>,
}

impl CreateMeetingRequest {
    /// Reads the two parts separately rather than through `#[serde(flatten)]`: serde reads
    /// flattened fields from a buffer of its own, past the strict reading of `body::json` that
    /// refuses, say, `"recurrence": []`.
    fn read(body: &[u8]) -> Result<Self, ApiDenial> {
        let draft: MeetingDraft = json(body)?;
        let ScheduleFor { schedule_for } = json(body)?;
        Ok(CreateMeetingRequest {
            draft,
            schedule_for,
        })
    }
}

/// `POST /users/{userId}/meetings` → 201 with the meeting.
#[utoipa::path(
    post, path = "/v2/users/{userId}/meetings", tag = "Meetings",
    params(("userId" = String, Path, description = "`me`, a user id or an email", example = "me")),
    request_body = CreateMeetingRequest,
    responses(
        (status = 201, description = "Created", body = MeetingBody, links(("meetings.get" = (operation_id = "meetings.get", parameters(("meetingId" = "$response.body#/id")))), ("meetings.update" = (operation_id = "meetings.update", parameters(("meetingId" = "$response.body#/id")))), ("meetings.delete" = (operation_id = "meetings.delete", parameters(("meetingId" = "$response.body#/id")))))),
        crate::openapi::Failures),
)]
pub async fn create(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(user_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiDenial> {
    use axum::response::IntoResponse;
    let endpoint = call.endpoint;
    let body = CreateMeetingRequest::read(&body)?;
    // With `schedule_for`, the meeting's host — and the user the rule judges reach on — is that user.
    let host_ref = body
        .schedule_for
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&user_id)
        .to_owned();
    let host: Option<User> = find_user(&state, &token, &host_ref).await?;
    let caller = authorize(&state, &token, endpoint, located(&host_ref, host.as_ref())).await?;
    let host = host.ok_or(ApiDenial::Internal)?;
    if let Some(refusal) = daily_refusal(&state, &caller, host.id.as_str(), endpoint).await {
        return Ok(refusal);
    }
    // The caller scheduled for someone else as their assistant.
    let assistant = (caller.me != host.id
        && state
            .store()
            .view()
            .principals(caller.me.as_str())
            .contains(&host.id))
    .then(|| caller.me.clone());
    let new = NewMeeting {
        host_id: host.id.clone(),
        assistant_id: assistant,
        draft: body.draft,
    };
    let meeting = state
        .store()
        .create_meeting(&actor(&caller), new)
        .await
        .map_err(|e| store_error(e, Some(Writing::Meeting(""))))?;
    Ok((
        StatusCode::CREATED,
        Json(meeting.object(&state.config().public_url, host.email.as_str())),
    )
        .into_response())
}

/// Finds `{meetingId}` and its host, and asks the rule about `method path` on them.
async fn authorized_meeting(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static accord_core::endpoints::Endpoint,
    meeting_id: &str,
) -> Result<(Meeting, User, Caller), ApiDenial> {
    let id: i64 = meeting_id
        .parse()
        .map_err(|_| ApiError::validation("meetingId", "Invalid meeting id."))?;
    let meeting = match state.store().meeting(id).await {
        Ok(meeting) => Some(meeting),
        Err(accord_store::StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let host = match &meeting {
        Some(m) => Some(state.store().user(m.host_id.as_str()).await?),
        None => None,
    };
    let target = Located {
        id: meeting_id,
        account: meeting.as_ref().map(|m| m.account_id.clone()),
        owner: meeting.as_ref().map(|m| m.host_id.clone()),
    };
    let caller = authorize(state, token, endpoint, target).await?;
    match (meeting, host) {
        (Some(meeting), Some(host)) => Ok((meeting, host, caller)),
        _ => Err(meeting_not_found(meeting_id)),
    }
}

/// `GET /meetings/{meetingId}`.
#[utoipa::path(
    get, path = "/v2/meetings/{meetingId}", tag = "Meetings",
    params(("meetingId" = i64, Path, description = "The meeting number")),
    responses((status = 200, description = "OK", body = MeetingBody), crate::openapi::Failures),
)]
pub async fn get(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(meeting_id): Path<String>,
) -> Result<Json<MeetingBody>, ApiDenial> {
    let (meeting, host, _) = authorized_meeting(&state, &token, call.endpoint, &meeting_id).await?;
    Ok(Json(
        meeting.object(&state.config().public_url, host.email.as_str()),
    ))
}

/// `PATCH /meetings/{meetingId}` → 204.
#[utoipa::path(
    patch, path = "/v2/meetings/{meetingId}", tag = "Meetings",
    params(("meetingId" = i64, Path, description = "The meeting number")),
    request_body = MeetingDraft,
    responses((status = 204, description = "Updated"), crate::openapi::Failures),
)]
pub async fn update(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(meeting_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiDenial> {
    use axum::response::IntoResponse;
    let change: MeetingDraft = json(&body)?;
    let (meeting, host, caller) =
        authorized_meeting(&state, &token, call.endpoint, &meeting_id).await?;
    let endpoint = call.endpoint;
    if let Some(refusal) = daily_refusal(&state, &caller, host.id.as_str(), endpoint).await {
        return Ok(refusal);
    }
    state
        .store()
        .update_meeting(&actor(&caller), meeting.id, &change)
        .await
        .map_err(|e| store_error(e, Some(Writing::Meeting(&meeting_id))))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /meetings/{meetingId}` → 204.
#[utoipa::path(
    delete, path = "/v2/meetings/{meetingId}", tag = "Meetings",
    params(("meetingId" = i64, Path, description = "The meeting number")),
    responses((status = 204, description = "Deleted"), crate::openapi::Failures),
)]
pub async fn delete(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(meeting_id): Path<String>,
) -> Result<StatusCode, ApiDenial> {
    let (meeting, _, caller) =
        authorized_meeting(&state, &token, call.endpoint, &meeting_id).await?;
    state
        .store()
        .delete_meeting(&actor(&caller), meeting.id)
        .await
        .map_err(|e| store_error(e, Some(Writing::Meeting(&meeting_id))))?;
    Ok(StatusCode::NO_CONTENT)
}
