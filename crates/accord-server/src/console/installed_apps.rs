//! *Installed apps* (`/console/apps`, `Marketplace:Read`): the account's installations and user
//! authorizations, its policy for user apps, the apps it blocked and the pre-approvals — and, with
//! `Marketplace:Edit`, every change to them. Each read and each change runs the `/v2` handler of
//! the same request (`marketplace.*`), so a user without the privilege gets the API's refusal with
//! the rule's explanation, and every change writes its audit entry (and, for a removal, queues
//! `app_deauthorized`) exactly as through the API.

use std::sync::Arc;

use accord_core::apps::AppApproval;
use accord_core::privileges::Privilege;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use super::{Failure, Layout, Posted, Viewer, call, done, notice, required, when_rfc3339};
use crate::api::access::{ApiDenial, TokenState};
use crate::api::handler::Call;
use crate::api::marketplace::{self, AppRequest};
use crate::api::report::{self, GrantedApp};
use crate::pages::Page;
use crate::state::AppState;

/// The section's page.
pub const PATH: &str = "/console/apps";

const NOTICES: &[(&str, &str)] = &[
    (
        "uninstalled",
        "The app is uninstalled: every grant of it in the account ended, its tokens no longer work, and the app was told.",
    ),
    (
        "removed",
        "The user's authorization is removed: its tokens no longer work, and the app was told.",
    ),
    ("policy", "The account's app policy is saved."),
    (
        "blocked",
        "The app is blocked: it cannot be installed or authorized here, and its grants here ended.",
    ),
    (
        "unblocked",
        "The app is unblocked: it may be installed or authorized here again.",
    ),
    (
        "approved",
        "The app is pre-approved: members may now authorize it.",
    ),
    ("declined", "The pre-approval request is declined."),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route(
            "/console/apps/uninstall",
            app_change("marketplace.apps.delete", report::uninstall, "uninstalled"),
        )
        .route(
            "/console/apps/remove-authorization",
            post(remove_authorization),
        )
        .route("/console/apps/policy", post(change_policy))
        .route(
            "/console/apps/block",
            app_change("marketplace.apps.block", marketplace::block, "blocked"),
        )
        .route(
            "/console/apps/unblock",
            app_change(
                "marketplace.apps.unblock",
                marketplace::unblock,
                "unblocked",
            ),
        )
        .route("/console/apps/decide", post(decide))
}

/// One installation or authorization, as the table shows it.
struct GrantRow {
    app_id: String,
    name: String,
    kind: &'static str,
    scopes: Vec<String>,
    /// The installer of an installation, the authorizing user of an authorization.
    who: String,
    /// The authorizing user, whose authorization a removal ends (`None`: an installation).
    user_id: Option<String>,
    when: String,
}

impl GrantRow {
    fn new(app: GrantedApp) -> Self {
        let installation = app.grant_kind == "installation";
        let who = if installation {
            app.installed_by_email.or(app.installed_by)
        } else {
            app.user_email.or_else(|| app.user_id.clone())
        };
        GrantRow {
            kind: if installation {
                "Installed (account app)"
            } else {
                "Authorized (user app)"
            },
            app_id: app.id,
            name: app.name,
            scopes: app.scopes,
            who: who.unwrap_or_else(|| "a removed user".to_owned()),
            user_id: app.user_id.filter(|_| !installation),
            when: when_rfc3339(&app.installed_at),
        }
    }
}

/// A pre-approval or a member's request for one, as the table shows it.
struct RequestRow {
    app_id: String,
    name: String,
    status: String,
    pending: bool,
    requested_by: Option<String>,
    requested: Option<String>,
    decided: Option<String>,
}

impl RequestRow {
    fn new(request: AppRequest) -> Self {
        RequestRow {
            pending: request.status == "requested",
            status: request.status,
            app_id: request.app_id,
            name: request.app_name,
            requested_by: request.requested_by_email.or(request.requested_by),
            requested: request.requested_time.as_deref().map(when_rfc3339),
            decided: request.decided_time.as_deref().map(when_rfc3339),
        }
    }
}

struct BlockedRow {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/installed_apps.html")]
struct InstalledAppsTemplate {
    layout: Layout,
    /// Whether to offer the change forms (`Marketplace:Edit`; the rule decides each post).
    may_edit: bool,
    grants: Vec<GrantRow>,
    preapproval: bool,
    blocked: Vec<BlockedRow>,
    requests: Vec<RequestRow>,
}

/// `GET /console/apps`: read through `GET /v2/marketplace/apps`, `/settings` and `/app_requests`.
async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let token = || Extension(viewer.token.clone());
    let Json(granted) =
        report::granted_apps(State(state.clone()), call("marketplace.apps.list"), token()).await?;
    let Json(settings) = marketplace::settings(
        State(state.clone()),
        call("marketplace.settings.get"),
        token(),
    )
    .await?;
    let Json(requests) = marketplace::list_requests(
        State(state.clone()),
        call("marketplace.app_requests.list"),
        token(),
        RawQuery(None),
    )
    .await?;
    let mut grants: Vec<GrantRow> = granted.apps.into_iter().map(GrantRow::new).collect();
    grants.sort_by(|a, b| (&a.name, &a.who).cmp(&(&b.name, &b.who)));
    let template = InstalledAppsTemplate {
        layout: viewer.layout("Installed apps", notice(query.as_deref(), NOTICES)),
        may_edit: viewer.may(Privilege::MarketplaceEdit),
        grants,
        preapproval: settings.app_approval == AppApproval::Preapproval,
        blocked: settings
            .blocked_apps
            .into_iter()
            .map(|app| BlockedRow {
                id: app.id,
                name: app.name,
            })
            .collect(),
        requests: requests
            .app_requests
            .into_iter()
            .map(RequestRow::new)
            .collect(),
    };
    Ok(Page::new(StatusCode::OK, &template).into_response())
}

/// `POST /console/apps/remove-authorization`: `app_id`, `user_id` —
/// `DELETE /v2/marketplace/apps/{appId}/users/{userId}`.
async fn remove_authorization(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let app_id = required(&form, "app_id", "the app")?.to_owned();
    let user_id = required(&form, "user_id", "the user")?.to_owned();
    marketplace::remove_authorization(
        State(state.clone()),
        call("marketplace.authorizations.delete"),
        Extension(viewer.token.clone()),
        Path((app_id, user_id)),
    )
    .await?;
    Ok(done(PATH, "removed"))
}

/// `POST /console/apps/policy`: `app_approval` (`open` / `preapproval`) —
/// `PATCH /v2/marketplace/settings`, which judges the value.
async fn change_policy(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let policy = required(&form, "app_approval", "the policy")?;
    marketplace::update_settings(
        State(state.clone()),
        call("marketplace.settings.update"),
        Extension(viewer.token.clone()),
        Bytes::from(json!({ "app_approval": policy }).to_string()),
    )
    .await?;
    Ok(done(PATH, "policy"))
}

/// `POST` of a form naming one app (`app_id`): runs the `/v2` handler of `endpoint` on it (a
/// handler taking the app id alone) and returns to the page with `notice`. Uninstall
/// (`DELETE /marketplace/apps/{appId}`), block and unblock (`PUT`/`DELETE …/block`).
fn app_change<H, Fut>(
    endpoint: &'static str,
    handler: H,
    notice: &'static str,
) -> MethodRouter<AppState>
where
    H: Fn(State<AppState>, Call, Extension<Arc<TokenState>>, Path<String>) -> Fut
        + Clone
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = Result<StatusCode, ApiDenial>> + Send,
{
    post(
        move |State(state): State<AppState>, Posted { viewer, form }: Posted| async move {
            let app_id = required(&form, "app_id", "the app")?.trim().to_owned();
            let token = Extension(viewer.token.clone());
            handler(State(state.clone()), call(endpoint), token, Path(app_id)).await?;
            Ok::<_, Failure>(done(PATH, notice))
        },
    )
}

/// `POST /console/apps/decide`: `app_id`, `decision` (`approve` / `decline`) — a request
/// answered, or an app pre-approved ahead of any: `PATCH /v2/marketplace/apps/{appId}/requests`.
async fn decide(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let app_id = required(&form, "app_id", "the app")?.trim().to_owned();
    let (action, notice) = match required(&form, "decision", "approve or decline")? {
        "approve" => ("approve", "approved"),
        "decline" => ("decline", "declined"),
        _ => {
            return Err(Failure::bad_form(
                "The decision must be approve or decline.",
            ));
        }
    };
    marketplace::decide_request(
        State(state.clone()),
        call("marketplace.app_requests.decide"),
        Extension(viewer.token.clone()),
        Path(app_id),
        Bytes::from(json!({ "action": action }).to_string()),
    )
    .await?;
    Ok(done(PATH, notice))
}
