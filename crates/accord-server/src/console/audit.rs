//! *Audit log* (`/console/audit`, `AuditLog:Read`): the account's changes, filtered by time
//! window, actor and action, in keyset pages — all through `GET /v2/report/operationlogs`'s
//! handler, whose rule refuses a user without the privilege.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};

use super::{Failure, Layout, Viewer, call, when_rfc3339};
use crate::api::report;
use crate::pages::Page;
use crate::state::AppState;

/// The page.
pub const PATH: &str = "/console/audit";

/// The query parameters the page reads and hands on: the filters, then the paging.
const FILTERS: [&str; 4] = ["from", "to", "operator", "action"];

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(page))
}

struct EntryRow {
    time: String,
    operator: String,
    action: String,
    target: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditTemplate {
    layout: Layout,
    /// The filters as asked, to fill the form again: `from`, `to`, `operator`, `action`.
    filters: [String; 4],
    window: String,
    total: u64,
    entries: Vec<EntryRow>,
    next: Option<String>,
}

/// `GET /console/audit` (`from`, `to`, `operator`, `action`, `page_size`, `next_page_token`).
async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let asked: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .filter(|(key, value)| {
                !value.trim().is_empty()
                    && (FILTERS.contains(&key.as_str())
                        || key == "page_size"
                        || key == "next_page_token")
            })
            .collect();
    let handed_on = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&asked)
        .finish();
    let Json(logs) = report::operation_logs(
        State(state.clone()),
        call("report.operationlogs"),
        Extension(viewer.token.clone()),
        RawQuery(Some(handed_on)),
    )
    .await?;
    let next = (!logs.page.next_page_token.is_empty()).then(|| {
        let kept = asked.iter().filter(|(key, _)| key != "next_page_token");
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .append_pair("next_page_token", &logs.page.next_page_token)
            .finish();
        format!("{PATH}?{query}")
    });
    let filters = FILTERS.map(|name| {
        asked
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    });
    let page = AuditTemplate {
        layout: viewer.layout("Audit log", None),
        filters,
        window: format!("{} to {}", when_rfc3339(&logs.from), when_rfc3339(&logs.to)),
        total: logs.page.total_records,
        entries: logs
            .operation_logs
            .into_iter()
            .map(|e| EntryRow {
                time: when_rfc3339(&e.time),
                operator: match e.operator {
                    Some(id) => format!("{} {id}", e.operator_kind),
                    None => e.operator_kind,
                },
                action: e.action,
                target: format!("{} {}", e.category_type, e.target_id),
                detail: e.operation_detail,
            })
            .collect(),
        next,
    };
    Ok(Page::new(StatusCode::OK, &page).into_response())
}
