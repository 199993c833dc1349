//! From a bearer token and a target to the permission rule's decision: verify the token, read the
//! live state of its grant and of the acting user, then call `decide`. Endpoints never judge
//! access themselves.

use accord_core::endpoints::Endpoint;
use accord_core::grants::GrantStatus;
use accord_core::ids::{AccountId, UserId};
use accord_core::permission::{
    self, ActingUser, Denial, GrantFacts, Reach, Request, Target, TokenCheck, TokenFacts,
};
use accord_core::scopes::Scope;
use accord_core::users::GuardedChange;
use accord_store::view::GrantState;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::handler::Located;
use crate::oauth::jwt::{self, AccessClaims};
use crate::state::AppState;

/// A denial (or an infrastructure failure) as an API answer: Zoom's `code` and `message`, plus
/// `explain`.
#[derive(Debug)]
pub enum ApiDenial {
    /// The permission rule said no.
    Denied(Box<Denial>),
    /// The request itself is wrong (validation, conflict), in Zoom's error shape.
    Error(crate::errors::ApiError),
    /// The database cannot be reached right now (503).
    Unavailable,
    /// A bug: the database refused a statement, or an invariant did not hold (500, logged).
    Internal,
}

impl From<crate::errors::ApiError> for ApiDenial {
    fn from(error: crate::errors::ApiError) -> Self {
        ApiDenial::Error(error)
    }
}

impl From<accord_store::StoreError> for ApiDenial {
    /// A store failure on a read: [`super::handler::store_error`], the one mapping.
    fn from(error: accord_store::StoreError) -> Self {
        super::handler::store_error(error, None)
    }
}

impl IntoResponse for ApiDenial {
    fn into_response(self) -> Response {
        match self {
            ApiDenial::Denied(denial) => crate::errors::ApiError::denied(*denial).into_response(),
            ApiDenial::Error(error) => error.into_response(),
            ApiDenial::Unavailable => crate::errors::ApiError::unavailable(
                "The service cannot reach its database; try again shortly.",
            )
            .into_response(),
            ApiDenial::Internal => crate::errors::ApiError::internal().into_response(),
        }
    }
}

/// The caller, once the rule has allowed the request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: AccessClaims,
    pub grant: GrantState,
    /// The acting user (`me`).
    pub me: UserId,
    pub reach: Reach,
}

/// What the verified token and its grant say, loaded once per request.
pub struct TokenState {
    pub check: TokenCheck,
    pub claims: Option<AccessClaims>,
    pub grant: Option<GrantState>,
    pub scopes: Vec<Scope>,
    pub me: Option<UserId>,
    pub account: Option<AccountId>,
}

impl TokenState {
    /// What step 1 of the rule looks at.
    pub fn facts(&self) -> TokenFacts<'_> {
        let grant = match (&self.claims, &self.grant, &self.me, &self.account) {
            (Some(claims), Some(grant), Some(me), Some(account)) => Some(GrantFacts {
                kind: grant.kind,
                status: grant.status,
                token_generation: u64::try_from(claims.r#gen).unwrap_or(0),
                current_generation: u64::try_from(grant.generation).unwrap_or(0),
                account,
                scopes: &self.scopes,
                me,
            }),
            _ => None,
        };
        TokenFacts {
            check: self.check,
            grant,
        }
    }
}

/// The client id the console's principal carries (audit entries name the user, never this).
pub const CONSOLE_CLIENT_ID: &str = "accord-console";

impl TokenState {
    /// The console's principal: the signed-in user acting in person, as a first-party user grant
    /// that holds every scope. The rule then judges exactly what the user may do — their own
    /// objects, the meetings of users who made them an assistant, and whatever else their role's
    /// privileges allow now (step 4) — so a console page and an API call are refused alike, with
    /// the same explanation. Nothing is stored: the session is the grant.
    pub fn console(user: &accord_store::users::User) -> TokenState {
        let scopes: Vec<Scope> = Scope::all().collect();
        let scope = scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let account_id = user.account_id.to_string();
        let user_id = user.id.to_string();
        TokenState {
            check: TokenCheck::Valid,
            claims: Some(AccessClaims {
                iss: String::new(),
                sub: user_id.clone(),
                aud: String::new(),
                client_id: CONSOLE_CLIENT_ID.to_owned(),
                aid: account_id.clone(),
                uid: Some(user_id.clone()),
                gid: String::new(),
                r#gen: 0,
                scope,
                iat: 0,
                nbf: 0,
                exp: 0,
                jti: String::new(),
            }),
            grant: Some(GrantState {
                kind: accord_core::grants::GrantKind::Authorization,
                app_id: CONSOLE_CLIENT_ID.to_owned(),
                account_id,
                user_id: Some(user_id.clone()),
                created_by: Some(user_id),
                status: GrantStatus::Active,
                generation: 0,
                scopes: scopes.clone(),
            }),
            scopes,
            me: Some(user.id.clone()),
            account: Some(user.account_id.clone()),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Verifies the bearer token and loads its grant's live state.
pub async fn token_state(state: &AppState, headers: &HeaderMap) -> Result<TokenState, ApiDenial> {
    token_state_of(state, bearer(headers)).await
}

/// [`token_state`] for a token given directly (`accord explain`).
pub async fn token_state_of(
    state: &AppState,
    token: Option<&str>,
) -> Result<TokenState, ApiDenial> {
    let empty = |check| TokenState {
        check,
        claims: None,
        grant: None,
        scopes: Vec::new(),
        me: None,
        account: None,
    };
    let Some(token) = token else {
        return Ok(empty(TokenCheck::Missing));
    };
    let config = state.config();
    let verified = jwt::verify_learning(
        state.keys(),
        state.store(),
        jwt::verify,
        token,
        &config.issuer,
        &config.api_url,
    )
    .await?;
    let claims = match verified {
        Ok(claims) => claims,
        Err(check) => return Ok(empty(check)),
    };
    // Grant status, generation and `me` come from the in-memory view: no database round trip.
    let view = state.store().view();
    let grant = view
        .grant(&claims.gid)
        .filter(|g| g.account_id == claims.aid);
    let me = grant.as_ref().and_then(|g| view.me(g));
    let scopes = claims
        .scope
        .split(' ')
        .filter_map(|s| Scope::parse(s).ok())
        .collect();
    let account = AccountId::parse(claims.aid.clone()).ok();
    Ok(TokenState {
        check: TokenCheck::Valid,
        claims: Some(claims),
        grant,
        scopes,
        me,
        account,
    })
}

/// Gathers the rule's facts for one request (token, grant, acting user, target) — all from the
/// verified token and the in-memory view — and hands the rule's input to `ask`. Enforcement
/// ([`authorize`]) and explanation ([`explain`]) both go through here, so they cannot disagree.
fn with_request<R>(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static Endpoint,
    target: &Located<'_>,
    violation: Option<permission::Violation>,
    guarded_change: Option<GuardedChange>,
    ask: impl FnOnce(&Request<'_>) -> R,
) -> R {
    // A user grant acts as its user: their privileges and assistant relations now, from the view.
    let mut principals = Vec::new();
    let mut acting = None;
    if let (Some(grant), Some(me)) = (&token.grant, &token.me)
        && grant.kind == accord_core::grants::GrantKind::Authorization
        && grant.status == GrantStatus::Active
    {
        principals = state.store().view().principals(me.as_str());
        acting = Some(state.store().view().privileges(me.as_str()));
    }
    let request = Request {
        token: token.facts(),
        endpoint,
        target: Target {
            id: target.id,
            account: target.account.as_ref(),
            owner: target.owner.as_ref(),
        },
        acting_user: acting.map(|privileges| ActingUser {
            privileges,
            assistant_of: &principals,
        }),
        violation,
        guarded_change,
    };
    ask(&request)
}

/// Asks the permission rule about one request.
pub async fn authorize(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static Endpoint,
    target: Located<'_>,
) -> Result<Caller, ApiDenial> {
    authorize_with(state, token, endpoint, target, None)
}

/// [`authorize`] with the endpoint's business-rule violation (step 5), if the request breaks one.
pub fn authorize_with(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static Endpoint,
    target: Located<'_>,
    violation: Option<permission::Violation>,
) -> Result<Caller, ApiDenial> {
    authorize_change(state, token, endpoint, target, violation, None)
}

/// [`authorize_with`] for a request whose body makes a guarded change (a user's license type),
/// which reaching one's own object does not cover (`accord_core::users::GuardedChange`).
pub fn authorize_change(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static Endpoint,
    target: Located<'_>,
    violation: Option<permission::Violation>,
    guarded_change: Option<GuardedChange>,
) -> Result<Caller, ApiDenial> {
    match with_request(
        state,
        token,
        endpoint,
        &target,
        violation,
        guarded_change,
        permission::decide,
    ) {
        Ok(reach) => match (&token.claims, &token.grant, &token.me) {
            (Some(claims), Some(grant), Some(me)) => Ok(Caller {
                claims: claims.clone(),
                grant: grant.clone(),
                me: me.clone(),
                reach,
            }),
            _ => Err(ApiDenial::Internal),
        },
        Err(denial) => Err(denied(state, denial)),
    }
}

/// The rule's refusal as an answer, counted by the step that failed (`/metrics`).
pub fn denied(state: &AppState, denial: Denial) -> ApiDenial {
    state.metrics().denied(denial.step);
    ApiDenial::Denied(Box::new(denial))
}

/// The rule's decision step by step, for `accord explain` and the console's *Why?* page.
pub fn explain(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static Endpoint,
    target: &Located<'_>,
) -> Vec<permission::StepOutcome> {
    with_request(
        state,
        token,
        endpoint,
        target,
        None,
        None,
        permission::explain_steps,
    )
}
