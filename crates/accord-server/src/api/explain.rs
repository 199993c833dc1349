//! The permission rule's decision for a token and a request, step by step — `accord explain` and
//! the console's *Why?* page. It gathers facts exactly as enforcement does
//! ([`super::access::explain`] shares the code path with [`super::access::authorize`]).

use accord_core::endpoints::{self, ObjectKind};
use accord_core::permission::{StepOutcome, StepResult};
use serde::Serialize;

use super::access::{TokenState, explain as explain_steps, token_state_of};
use super::handler::Located;
use super::users::find_user;
use crate::state::AppState;

/// The explanation of one request.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The endpoint matched, e.g. `GET /users/{userId}`.
    pub endpoint: String,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The answer a denial gets: HTTP status and Zoom code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    pub steps: Vec<StepOutcome>,
}

/// Explains `METHOD PATH` (with or without the `/v2` prefix and a query string) for `token`.
pub async fn explain(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
) -> Result<Explanation, String> {
    let token = token_state_of(state, Some(token))
        .await
        .map_err(|_| UNAVAILABLE.to_owned())?;
    explain_for(state, &token, method, path).await
}

const UNAVAILABLE: &str = "the database could not be read";

/// [`explain`] for a token already verified — or for the console's own principal
/// ([`super::access::TokenState::console`]: *Why?* "as me").
pub async fn explain_for(
    state: &AppState,
    token: &TokenState,
    method: &str,
    path: &str,
) -> Result<Explanation, String> {
    let path = path.split('?').next().unwrap_or(path);
    let api_path = path.strip_prefix("/v2").unwrap_or(path);
    let route = endpoints::route(method, api_path)
        .ok_or_else(|| format!("{method} {path} is not an endpoint of the API (see api.md)"))?;
    let endpoint = route.endpoint;
    let unavailable = |_| UNAVAILABLE.to_owned();
    let target_id = route.params.first().map(|(_, value)| *value).unwrap_or("");
    let account_of_token = token.account.clone();
    let located = match (endpoint.object, route.param("userId")) {
        (ObjectKind::User | ObjectKind::Meeting, Some(user_id)) => {
            let user = find_user(state, token, user_id)
                .await
                .map_err(unavailable)?;
            super::users::located(user_id, user.as_ref())
        }
        (ObjectKind::Role, _) if route.param("roleId").is_some() => {
            let role_id = route.param("roleId").unwrap_or_default();
            let exists = match &account_of_token {
                Some(account) => state.store().role(account.as_str(), role_id).await.is_ok(),
                None => false,
            };
            Located {
                id: role_id,
                account: account_of_token.clone().filter(|_| exists),
                owner: None,
            }
        }
        // A meeting by id belongs to its host; a missing one (or a bad id) reads as missing.
        (ObjectKind::Meeting, None) if route.param("meetingId").is_some() => {
            let meeting = match target_id.parse::<i64>() {
                Ok(id) => state.store().meeting(id).await.ok(),
                Err(_) => None,
            };
            Located {
                id: target_id,
                account: meeting.as_ref().map(|m| m.account_id.clone()),
                owner: meeting.map(|m| m.host_id),
            }
        }
        _ => Located {
            id: "",
            account: account_of_token.clone(),
            owner: None,
        },
    };
    let steps = explain_steps(state, token, endpoint, &located);
    let failed = steps.iter().find_map(|s| match &s.result {
        StepResult::Failed { denial } => Some((denial.status, denial.code)),
        _ => None,
    });
    Ok(Explanation {
        endpoint: endpoint.display(),
        decision: if failed.is_some() { "deny" } else { "allow" },
        status: failed.map(|f| f.0),
        code: failed.map(|f| f.1),
        steps,
    })
}
