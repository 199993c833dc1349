//! `GET /v2/report/operationlogs` (the account's audit log) and `/v2/marketplace/apps` (the apps
//! granted in the account; uninstalling ends every grant of an app there).

use std::sync::Arc;

use accord_core::clock::Timestamp;
use accord_core::grants::{GrantKind, GrantStatus};
use accord_store::audit::{AuditEntry, AuditFilter};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{ApiDenial, TokenState, authorize};
use super::dates::day;
use super::handler::{Call, Located, Pages, actor};
use super::paging::{Binding, KeyPart, PageFields, split_page};
use super::users::emails_in_account;
use crate::errors::ApiError;
use crate::state::AppState;

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationLog {
    pub id: String,
    pub time: String,
    /// The user or app that made the change (absent for the system).
    pub operator: Option<String>,
    /// `user`, `app` or `system`.
    pub operator_kind: String,
    /// What was changed: `user`, `meeting`, `role`, `grant`, …
    pub category_type: String,
    pub action: String,
    pub target_id: String,
    /// The change's details, as a JSON text.
    pub operation_detail: String,
}

impl OperationLog {
    fn new(entry: &AuditEntry) -> Self {
        OperationLog {
            id: entry.id.clone(),
            time: entry.at.rfc3339(),
            operator: entry.actor_id.clone(),
            operator_kind: entry.actor_kind.clone(),
            category_type: entry.target_kind.clone(),
            action: entry.action.clone(),
            target_id: entry.target_id.clone(),
            operation_detail: entry.details.to_string(),
        }
    }
}

/// A page of `GET /report/operationlogs`: the window asked for and its entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationLogs {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub page: PageFields,
    pub operation_logs: Vec<OperationLog>,
}

/// An app granted in the account: an installation, or one user's authorization.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantedApp {
    pub id: String,
    pub name: String,
    /// `account` or `user`.
    pub kind: String,
    pub client_id: Option<String>,
    /// `installation` or `authorization`.
    pub grant_kind: String,
    pub scopes: Vec<String>,
    pub installed_by: Option<String>,
    /// The email of the user who installed or authorized the app (absent once that user is gone).
    pub installed_by_email: Option<String>,
    pub installed_at: String,
    /// The authorizing user, for an authorization.
    pub user_id: Option<String>,
    /// The authorizing user's email, for an authorization.
    pub user_email: Option<String>,
}

/// The answer to `GET /marketplace/apps`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantedApps {
    pub total_records: usize,
    pub apps: Vec<GrantedApp>,
}

/// `GET /report/operationlogs` (`from`, `to` as `yyyy-MM-dd`, both days included; default: the
/// last 30 days), narrowed by `category_type` (Zoom's name), `operator` and `action`.
#[utoipa::path(
    get, path = "/v2/report/operationlogs", tag = "Reports",
    params(
        ("from" = Option<String>, Query, description = "First day, `yyyy-MM-dd`; default 30 days before `to`"),
        ("to" = Option<String>, Query, description = "Last day, `yyyy-MM-dd` (included); default today"),
        ("category_type" = Option<String>, Query, description = "Only changes to this kind of object (`user`, `meeting`, `role`, `grant`, …); `all` or absent: every kind"),
        ("operator" = Option<String>, Query, description = "Only changes made by this user (id or email) or app (client id)"),
        ("action" = Option<String>, Query, description = "Only entries with this action, e.g. `meeting.created`"),
        crate::openapi::PageParams,
    ),
    responses((status = 200, description = "OK", body = OperationLogs), crate::openapi::Failures),
)]
pub async fn operation_logs(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<OperationLogs>, ApiDenial> {
    let endpoint = call.endpoint;
    let caller = authorize(&state, &token, endpoint, Located::account_wide(&token)).await?;
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let now = state.store().now();
    let to = match params.get("to").filter(|v| !v.is_empty()) {
        Some(text) => day("to", text)?.plus_seconds(86_400),
        // The end of today (UTC): a default that stays put while the pages are read, as the
        // page token's binding to the window requires.
        None => Timestamp(now.millis() - now.millis().rem_euclid(86_400_000)).plus_seconds(86_400),
    };
    let from = match params.get("from").filter(|v| !v.is_empty()) {
        Some(text) => day("from", text)?,
        None => to.plus_seconds(-30 * 86_400),
    };
    if from >= to {
        return Err(ApiError::validation("from", "from must be on or before to.").into());
    }
    let account = caller.grant.account_id.clone();
    let text = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let operator = match text("operator") {
        Some(operator) => Some(operator_id(&state, &account, operator).await?),
        None => None,
    };
    let filter = AuditFilter {
        actor_id: operator.as_deref(),
        action: text("action"),
        target_kind: text("category_type").filter(|kind| *kind != "all"),
    };
    let binding = Binding::new(account.clone(), endpoint.name)
        .filter("from", from.millis().to_string())
        .filter("to", to.millis().to_string())
        .filter("operator", filter.actor_id.unwrap_or_default())
        .filter("action", filter.action.unwrap_or_default())
        .filter("category_type", filter.target_kind.unwrap_or_default());
    let pages = Pages::read(&state, query.as_deref(), binding)?;
    let after = pages.after(|parts| match parts {
        [KeyPart::Int(at), KeyPart::Int(seq)] => Some((*at, *seq)),
        _ => None,
    })?;
    let (rows, total) = state
        .store()
        .audit_page(
            &account,
            from,
            to,
            filter,
            after,
            i64::from(pages.query.fetch_limit()),
        )
        .await?;
    let (entries, next) = split_page(rows, pages.query.page_size, |e: &AuditEntry| {
        vec![KeyPart::Int(e.at.millis()), KeyPart::Int(e.seq)]
    });
    let fields = pages.fields(u64::try_from(total).unwrap_or(0), next.as_deref());
    Ok(Json(OperationLogs {
        from: from.rfc3339(),
        to: to.rfc3339(),
        page: fields,
        operation_logs: entries.iter().map(OperationLog::new).collect(),
    }))
}

/// The actor id an `operator` filter names: a user of the account by email is their id; anything
/// else (a user id, an app's client id) is taken as given — an operator who made no change
/// simply finds no entries.
async fn operator_id(state: &AppState, account: &str, operator: &str) -> Result<String, ApiDenial> {
    if let Ok(email) = accord_core::ids::Email::parse(operator)
        && let Some(user) = state.store().user_by_email(account, &email).await?
    {
        return Ok(user.id.to_string());
    }
    Ok(operator.to_owned())
}

/// `GET /marketplace/apps`: one entry per active installation or authorization in the account.
#[utoipa::path(
    get, path = "/v2/marketplace/apps", tag = "Apps",
    responses((status = 200, description = "OK", body = GrantedApps), crate::openapi::Failures),
)]
pub async fn granted_apps(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
) -> Result<Json<GrantedApps>, ApiDenial> {
    let caller = authorize(&state, &token, call.endpoint, Located::account_wide(&token)).await?;
    let grants = state
        .store()
        .grants_in_account(&caller.grant.account_id)
        .await?;
    let emails = emails_in_account(&state, &caller.grant.account_id).await?;
    let email_of = |id: &Option<String>| id.as_ref().and_then(|id| emails.get(id)).cloned();
    let mut apps = Vec::new();
    for grant in grants
        .iter()
        .filter(|g| g.status == GrantStatus::Active && g.kind != GrantKind::Server)
    {
        let app = state.store().app(&grant.app_id).await?;
        let client_id = app
            .credential_set(accord_core::apps::Environment::Production)
            .map(|c| c.client_id.clone());
        apps.push(GrantedApp {
            id: app.id.as_str().to_owned(),
            name: app.name.clone(),
            kind: app.kind.as_str().to_owned(),
            client_id,
            grant_kind: grant.kind.as_str().to_owned(),
            scopes: grant.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            installed_by: grant.created_by.clone(),
            installed_by_email: email_of(&grant.created_by),
            installed_at: grant.created_at.rfc3339(),
            user_id: grant.user_id.clone(),
            user_email: email_of(&grant.user_id),
        });
    }
    Ok(Json(GrantedApps {
        total_records: apps.len(),
        apps,
    }))
}

/// `DELETE /marketplace/apps/{appId}` → 204: every grant of the app in this account ends (all
/// their tokens stop at once). An app without grants here reads as missing.
#[utoipa::path(
    delete, path = "/v2/marketplace/apps/{appId}", tag = "Apps",
    params(("appId" = String, Path, description = "The app's id")),
    responses((status = 204, description = "Every grant of the app in the account ended"), crate::openapi::Failures),
)]
pub async fn uninstall(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiDenial> {
    let account = token.account.clone();
    let granted = match &account {
        Some(account) => state
            .store()
            .grants_in_account(account.as_str())
            .await?
            .iter()
            .any(|g| {
                g.app_id == app_id && g.status == GrantStatus::Active && g.kind != GrantKind::Server
            }),
        None => false,
    };
    let target = Located {
        id: &app_id,
        account: account.filter(|_| granted),
        owner: None,
    };
    let caller = authorize(&state, &token, call.endpoint, target).await?;
    let ended = state
        .store()
        .uninstall_app(
            &actor(&caller),
            &caller.grant.account_id,
            &app_id,
            "uninstalled through the API",
        )
        .await?;
    tracing::info!(grants = ended, "app uninstalled through the API");
    Ok(StatusCode::NO_CONTENT)
}
