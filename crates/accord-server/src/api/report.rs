//! `GET /v2/report/operationlogs` (the account's audit log) and `/v2/marketplace/apps` (the apps
//! granted in the account; uninstalling ends every grant of an app there).

use std::sync::Arc;

use accord_core::grants::{GrantKind, GrantStatus};
use accord_store::audit::AuditEntry;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::access::{ApiDenial, Located, TokenState, authorize};
use super::dates::day;
use super::paging::{Binding, KeyPart, PageFields, PageQuery, split_page};
use super::users::{actor, endpoint};
use crate::errors::ApiError;
use crate::state::AppState;

fn log_item(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "time": entry.at.rfc3339(),
        "operator": entry.actor_id,
        "operator_kind": entry.actor_kind,
        "category_type": entry.target_kind,
        "action": entry.action,
        "target_id": entry.target_id,
        "operation_detail": entry.details.to_string(),
    })
}

/// `GET /report/operationlogs` (`from`, `to` as `yyyy-MM-dd`, both days included; default: the
/// last 30 days).
pub async fn operation_logs(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<TokenState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiDenial> {
    let endpoint = endpoint("GET", "/report/operationlogs")?;
    let caller = authorize(
        &state,
        &token,
        endpoint,
        Located {
            id: "",
            account: token.account.clone(),
            owner: None,
        },
    )
    .await?;
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let now = state.store().now();
    let to = match params.get("to").filter(|v| !v.is_empty()) {
        Some(text) => day("to", text)?.plus_seconds(86_400),
        None => now.plus_seconds(1),
    };
    let from = match params.get("from").filter(|v| !v.is_empty()) {
        Some(text) => day("from", text)?,
        None => to.plus_seconds(-30 * 86_400),
    };
    if from >= to {
        return Err(ApiError::validation("from", "from must be on or before to.").into());
    }
    let page = PageQuery::from_query(query.as_deref())?;
    let account = caller.grant.account_id.clone();
    let binding = Binding::new(account.clone(), endpoint.name)
        .filter("from", from.millis().to_string())
        .filter("to", to.millis().to_string());
    let after = match page
        .position(state.store().keys(), &binding, now)
        .map_err(ApiError::from)?
        .as_deref()
    {
        Some([KeyPart::Int(at), KeyPart::Int(seq)]) => Some((*at, *seq)),
        Some(_) => {
            return Err(ApiError::validation("next_page_token", "Invalid next_page_token").into());
        }
        None => None,
    };
    let (rows, total) = state
        .store()
        .audit_page(&account, from, to, after, i64::from(page.fetch_limit()))
        .await?;
    let (entries, next) = split_page(rows, page.page_size, |e: &AuditEntry| {
        vec![KeyPart::Int(e.at.millis()), KeyPart::Int(e.seq)]
    });
    let fields = PageFields::new(
        state.store().keys(),
        &binding,
        page.page_size,
        u64::try_from(total).unwrap_or(0),
        next.as_deref(),
        now,
    );
    let mut body = fields.with_items("operation_logs", entries.iter().map(log_item).collect());
    if let Some(object) = body.as_object_mut() {
        object.insert("from".into(), json!(from.rfc3339()));
        object.insert("to".into(), json!(to.rfc3339()));
    }
    Ok(Json(body))
}

/// `GET /marketplace/apps`: one entry per active installation or authorization in the account.
pub async fn granted_apps(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<TokenState>>,
) -> Result<Json<Value>, ApiDenial> {
    let caller = authorize(
        &state,
        &token,
        endpoint("GET", "/marketplace/apps")?,
        Located {
            id: "",
            account: token.account.clone(),
            owner: None,
        },
    )
    .await?;
    let grants = state
        .store()
        .grants_in_account(&caller.grant.account_id)
        .await?;
    let mut apps = Vec::new();
    for grant in grants
        .iter()
        .filter(|g| g.status == GrantStatus::Active && g.kind != GrantKind::Server)
    {
        let app = state.store().app(&grant.app_id).await?;
        let client_id = app
            .credential_set(accord_core::apps::Environment::Production)
            .map(|c| c.client_id.clone());
        apps.push(json!({
            "id": app.id,
            "name": app.name,
            "kind": app.kind,
            "client_id": client_id,
            "grant_kind": grant.kind,
            "scopes": grant.scopes,
            "installed_by": grant.created_by,
            "installed_at": grant.created_at.rfc3339(),
            "user_id": grant.user_id,
        }));
    }
    Ok(Json(json!({"total_records": apps.len(), "apps": apps})))
}

/// `DELETE /marketplace/apps/{appId}` → 204: every grant of the app in this account ends (all
/// their tokens stop at once). An app without grants here reads as missing.
pub async fn uninstall(
    State(state): State<AppState>,
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
    let caller = authorize(
        &state,
        &token,
        endpoint("DELETE", "/marketplace/apps/{appId}")?,
        target,
    )
    .await?;
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
