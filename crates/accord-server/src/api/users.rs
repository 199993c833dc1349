//! `/v2/users…`: Zoom's user objects.

use accord_core::endpoints;
use accord_core::ids::Email;
use accord_store::users::User;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::access::{ApiDenial, Located, authorize, token_state};
use crate::state::AppState;

/// A user in Zoom's shape.
pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": format!("{} {}", user.first_name, user.last_name).trim(),
        "type": i64::from(user.user_type),
        "role_id": user.role_id,
        "status": user.status.as_str(),
        "timezone": user.timezone,
        "pmi": user.pmi,
        "account_id": user.account_id,
        "created_at": user.created_at.rfc3339(),
        "last_login_time": user.last_login_at.map(|t| t.rfc3339()),
    })
}

/// Finds `{userId}`: `me`, an id or an email. Missing anywhere → `None`.
pub async fn find_user(
    state: &AppState,
    me: Option<&accord_core::ids::UserId>,
    user_id: &str,
) -> Result<Option<User>, ApiDenial> {
    let store = state.store();
    let found = if user_id == "me" {
        match me {
            Some(me) => store.user(me.as_str()).await,
            None => return Ok(None),
        }
    } else if let Ok(email) = Email::parse(user_id) {
        store.find_user(email.as_str()).await
    } else {
        store.user(user_id).await
    };
    match found {
        Ok(user) => Ok(Some(user)),
        Err(accord_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v2/users/{userId}`.
pub async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiDenial> {
    let endpoint = endpoints::find("GET", "/users/{userId}").ok_or(ApiDenial::Unavailable)?;
    let token = token_state(&state, &headers).await?;
    let user = find_user(&state, token.me.as_ref(), &user_id).await?;
    let target = Located {
        id: &user_id,
        account: user.as_ref().map(|u| u.account_id.clone()),
        owner: user.as_ref().map(|u| u.id.clone()),
    };
    authorize(&state, &token, endpoint, target).await?;
    let user = user.ok_or(ApiDenial::Unavailable)?;
    Ok(Json(user_json(&user)))
}
