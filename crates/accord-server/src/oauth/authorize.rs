//! `GET /oauth/authorize` (oauth.md, console.md): checks the authorization request, signs the
//! browser in if needed, and shows the install / consent page in the variant that
//! `accord_core::install` decides. The page's form posts back here and ends in a 303 to the
//! client's redirect URI with a code, or with an error — and always `iss` (RFC 9207).
//!
//! | route | does |
//! |---|---|
//! | `GET /oauth/authorize[/]` | check the request; sign-in page, or the consent page |
//! | `POST /oauth/authorize/sign-in` | `email` + `password`; a session, then back to the consent page — or, when they match users of several accounts, the account choice |
//! | `POST /oauth/authorize/choose-account` | `account` (one of the accounts offered) and the sealed `matched`; a session, then back to the consent page |
//! | `POST /oauth/authorize/decision` | `decision` = `approve` / `deny` / `request_preapproval`, optional `scope`s |
//! | `POST /oauth/authorize/sign-out` | end the session, back to the sign-in page |
//!
//! Until the client and its redirect URI are known to match, errors show an error page and
//! never redirect: redirecting to an unchecked URI would make this an open redirector. After
//! that, errors redirect to the client. Every form carries a CSRF token (`pages::csrf`) and the
//! request itself as signed flow state, which is checked again in full on every post.
//!
//! [`request`] checks the request and builds the redirects back to the client; [`consent`] asks
//! the install rules and renders the pages; [`account_choice`] is the extra sign-in step for an
//! email and password that are a user of several accounts.

mod consent;
mod request;

use accord_core::apps::AppKind;
use accord_core::scopes::Scope;
use accord_core::users::UserStatus;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::tokens::NewCode;
use accord_store::users::User;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;

use self::consent::{Eligibility, Refusal, consent_page, eligibility, sign_in_form, sign_in_page};
use self::request::{Authorization, FlowState, Refused, RequestParams, check_request, see_other};
use crate::pages::account_choice::{
    self, ChoiceForm, ChoiceRefused, account_choice_page, chosen_user,
};
use crate::pages::security;
use crate::pages::sign_in::{self, Checked, WRONG_EMAIL_OR_PASSWORD};
use crate::pages::signed::{self, SignedError};
use crate::pages::{PageError, PostedForm, csrf, session};
use crate::state::AppState;
use crate::throttle::ClientAddress;

/// The MAC purpose of the flow state, so no other signed value is ever accepted as one.
const FLOW_PURPOSE: &str = "authorize-state";
/// How long a sign-in or consent page stays usable.
const FLOW_SECONDS: i64 = 600;
/// The hidden form field holding the flow state.
const FLOW_FIELD: &str = "flow";

const SIGN_IN_PATH: &str = "/oauth/authorize/sign-in";
const CHOOSE_ACCOUNT_PATH: &str = "/oauth/authorize/choose-account";
const DECISION_PATH: &str = "/oauth/authorize/decision";
const SIGN_OUT_PATH: &str = "/oauth/authorize/sign-out";

/// The fields the pages' forms post (which ones depend on the form): every form carries
/// `csrf_token` and the signed `flow`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the forms; the handlers read them through `PostedForm`
pub struct PageForm {
    csrf_token: String,
    /// The authorization request, signed.
    flow: String,
    /// Sign-in.
    email: Option<String>,
    /// Sign-in.
    password: Option<String>,
    /// Account choice: the id of the chosen account (the value of the button pressed).
    account: Option<String>,
    /// Account choice: which users the password matched, sealed.
    matched: Option<String>,
    /// Decision: `approve`, `deny` or `request_preapproval`.
    decision: Option<String>,
    /// Decision: an optional scope the user agreed to (repeated).
    scope: Option<String>,
}

/// The authorize routes; every answer carries the page security headers (and no CORS headers).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/authorize/", get(authorize))
        .route(SIGN_IN_PATH, post(sign_in))
        .route(CHOOSE_ACCOUNT_PATH, post(choose_account))
        .route(DECISION_PATH, post(decide))
        .route(SIGN_OUT_PATH, post(sign_out))
        .layer(middleware::map_response(security::security_headers))
}

/// The request as the forms carry it, signed and stamped with the time.
fn seal_flow(state: &AppState, request: &Authorization) -> String {
    signed::seal(
        state.store().keys(),
        FLOW_PURPOSE,
        state.store().now(),
        &request.flow(),
    )
}

/// What every post checks before anything else: it comes from this site, carries this
/// browser's CSRF token, and its flow state is intact, fresh, and still a valid request.
async fn check_post(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
    form: &PostedForm,
) -> Result<(Authorization, String), Refused> {
    security::check_same_site(headers, &state.config().public_url)?;
    let store = state.store();
    csrf::verify(jar, store.keys(), form.get(csrf::FIELD))?;
    let sealed = form.get(FLOW_FIELD);
    let flow: FlowState = signed::open(
        store.keys(),
        FLOW_PURPOSE,
        store.now(),
        FLOW_SECONDS,
        sealed,
    )
    .map_err(|error| match error {
        SignedError::Expired => PageError::bad_request(
            "This page expired",
            "The page was open for more than 10 minutes. Go back to the app and start again.",
        ),
        SignedError::Missing | SignedError::Invalid => PageError::bad_request(
            "Invalid form",
            "The form was changed or did not come from this server. Go back to the app and \
                 start again.",
        ),
    })?;
    let request = check_request(state, &flow.into()).await?;
    Ok((request, sealed.unwrap_or_default().to_owned()))
}

/// `GET /oauth/authorize`: the sign-in page without a session, else the consent page.
#[utoipa::path(
    get, path = "/oauth/authorize", tag = "OAuth",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query),
        ("redirect_uri" = Option<String>, Query, description = "Exactly one of the app's; loopback IP literals match on any port"),
        ("state" = Option<String>, Query),
        ("code_challenge" = Option<String>, Query, description = "PKCE (RFC 7636); required for public clients"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256`, or `plain` for a confidential client"),
        ("scope" = Option<String>, Query, description = "Optional scopes to ask for besides the required ones"),
    ),
    responses(crate::openapi::PageAnswers),
)]
async fn authorize(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Result<Response, Refused> {
    let params = RequestParams::from_query(query.as_deref().unwrap_or(""));
    let request = check_request(&state, &params).await?;
    let flow = seal_flow(&state, &request);
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    let page = match session::current_user(&state, &jar).await? {
        None => sign_in_page(&request, &csrf_token, &flow, "", None),
        Some(user) => consent_page(&state, &request, &user, &csrf_token, &flow, true).await?,
    };
    Ok((jar, page).into_response())
}

/// `POST /oauth/authorize/sign-in`: `email` and `password`. Success starts a session and goes
/// back to the consent page (303); a wrong email or password shows the form again (401) without
/// saying which was wrong. When they match users of several accounts, the page asks which
/// account to continue with (200), listing only those. Failures are throttled per email and per
/// client address: a refused attempt shows the form again with 429 and `Retry-After` and checks
/// nothing; when every password-check worker is busy, the form comes back with 503 and
/// `Retry-After`.
#[utoipa::path(
    post, path = "/oauth/authorize/sign-in", tag = "OAuth",
    request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses(crate::openapi::PageAnswers),
)]
async fn sign_in(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, Refused> {
    let form = PostedForm::parse(&body);
    let (request, flow) = check_post(&state, &headers, &jar, &form).await?;
    let email_text = form.get("email").unwrap_or_default().trim();
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    let form_again = |status: StatusCode, message: &str| {
        sign_in_form(
            &request,
            &csrf_token,
            &flow,
            email_text,
            status,
            Some(message),
        )
    };
    let checked = sign_in::check(&state, &address, email_text, form.get("password")).await?;
    let status = match &checked {
        Checked::Users(_) => StatusCode::OK,
        Checked::Wrong => StatusCode::UNAUTHORIZED,
        Checked::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Checked::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut users = match checked {
        Checked::Users(users) => users,
        Checked::Throttled {
            retry_after_seconds,
        }
        | Checked::Busy {
            retry_after_seconds,
        } => {
            let page = form_again(status, &checked.message());
            let retry = [(header::RETRY_AFTER, retry_after_seconds.to_string())];
            return Ok((jar, retry, page).into_response());
        }
        Checked::Wrong => {
            let page = form_again(status, &checked.message());
            return Ok((jar, page).into_response());
        }
    };
    let user = if users.len() == 1 {
        users.remove(0)
    } else {
        // The same address and password in several accounts: ask which one.
        let form = ChoiceForm {
            action: CHOOSE_ACCOUNT_PATH,
            continue_to: &request.app.name,
            flow: &flow,
        };
        let page = account_choice_page(&state, form, email_text, &users, &csrf_token).await?;
        return Ok((jar, page).into_response());
    };
    continue_as(&state, jar, &request, &user, &csrf_token, &flow).await
}

/// `POST /oauth/authorize/choose-account`: `account`, one of the accounts the account choice
/// offered, with its sealed `matched`. Starts the session for that account's user and goes back
/// to the consent page (303). A choice that was not offered, or was changed, or comes from
/// another browser is refused (400); one older than five minutes shows the sign-in form again.
#[utoipa::path(
    post, path = "/oauth/authorize/choose-account", tag = "OAuth",
    request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses(crate::openapi::PageAnswers),
)]
async fn choose_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, Refused> {
    let form = PostedForm::parse(&body);
    let (request, flow) = check_post(&state, &headers, &jar, &form).await?;
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    let chosen = chosen_user(
        &state,
        form.get(account_choice::MATCHED_FIELD),
        &csrf_token,
        form.get(account_choice::ACCOUNT_FIELD),
    );
    let user_id = match chosen {
        Ok(user_id) => user_id,
        Err(ChoiceRefused::Invalid(error)) => return Err(error.into()),
        Err(ChoiceRefused::Expired) => {
            let page = sign_in_page(
                &request,
                &csrf_token,
                &flow,
                "",
                Some("The account choice expired. Sign in again."),
            );
            return Ok((jar, page).into_response());
        }
    };
    let user = match state.store().user(&user_id).await {
        Ok(user) => user,
        // Deleted since the password was checked: as if the sign-in had failed.
        Err(accord_store::StoreError::NotFound { .. }) => {
            let page = sign_in_page(
                &request,
                &csrf_token,
                &flow,
                "",
                Some(WRONG_EMAIL_OR_PASSWORD),
            );
            return Ok((jar, page).into_response());
        }
        Err(error) => return Err(error.into()),
    };
    continue_as(&state, jar, &request, &user, &csrf_token, &flow).await
}

/// Once the browser has proved to be `user`: a session and back to the consent page, or, for a
/// user who is not active, the consent page that says so and no session.
async fn continue_as(
    state: &AppState,
    jar: CookieJar,
    request: &Authorization,
    user: &User,
    csrf_token: &str,
    flow: &str,
) -> Result<Response, Refused> {
    if user.status != UserStatus::Active {
        // No session for an inactive user; the install rules say what they may not do.
        let page = consent_page(state, request, user, csrf_token, flow, false).await?;
        return Ok((jar, page).into_response());
    }
    let jar = session::start(state, jar, user.id.as_str()).await?;
    Ok((jar, see_other(&request.authorize_url())).into_response())
}

/// `POST /oauth/authorize/sign-out`: ends the session and shows the sign-in page again.
#[utoipa::path(
    post, path = "/oauth/authorize/sign-out", tag = "OAuth",
    request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses(crate::openapi::PageAnswers),
)]
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, Refused> {
    let form = PostedForm::parse(&body);
    let (request, _) = check_post(&state, &headers, &jar, &form).await?;
    let jar = session::end(&state, jar).await?;
    Ok((jar, see_other(&request.authorize_url())).into_response())
}

/// `POST /oauth/authorize/decision`: `approve` grants (creating or re-authorizing the grant) and
/// redirects with a code; `deny` redirects with `access_denied`; `request_preapproval` records
/// the request and shows the page again.
#[utoipa::path(
    post, path = "/oauth/authorize/decision", tag = "OAuth",
    request_body(content = PageForm, content_type = "application/x-www-form-urlencoded"),
    responses(crate::openapi::PageAnswers),
)]
async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, Refused> {
    let form = PostedForm::parse(&body);
    let (request, _) = check_post(&state, &headers, &jar, &form).await?;
    let issuer = state.config().issuer.as_str();
    let decision = form.get("decision");
    if decision == Some("deny") {
        return Ok(request
            .client_error("access_denied", "The user did not authorize the app.")
            .into_response(issuer));
    }
    if !matches!(decision, Some("approve" | "request_preapproval")) {
        return Err(PageError::bad_request(
            "Invalid form",
            "The form must say approve, deny or request_preapproval.",
        )
        .into());
    }
    let Some(user) = session::current_user(&state, &jar).await? else {
        // The session ended while the page was open: sign in again.
        return Ok(see_other(&request.authorize_url()));
    };
    let store = state.store();

    if decision == Some("request_preapproval") {
        let Eligibility { account, outcome } =
            eligibility(&state, &request, &user, request.requested.as_deref()).await?;
        if outcome == Err(Refusal::PreapprovalRequired) {
            store
                .request_preapproval(
                    account.id.as_str(),
                    request.app.id.as_str(),
                    user.id.as_str(),
                )
                .await?;
        }
        return Ok(see_other(&request.authorize_url()));
    }

    let offered = request.offered_optional();
    let accepted: Vec<Scope> = form
        .all("scope")
        .filter_map(|name| Scope::parse(name).ok())
        .filter(|scope| offered.contains(scope))
        .collect();
    let Eligibility { account, outcome } =
        eligibility(&state, &request, &user, Some(&accepted)).await?;
    let Ok(scopes) = outcome else {
        // Refused (perhaps something changed since the page was shown): show why; no grant.
        return Ok(see_other(&request.authorize_url()));
    };
    let kind = request.app.kind.grant_kind();
    let grant = store
        .upsert_grant(
            &Actor::User(user.id.to_string()),
            GrantRequest {
                kind,
                app_id: request.app.id.as_str(),
                account_id: account.id.as_str(),
                user_id: (request.app.kind == AppKind::User).then_some(user.id.as_str()),
                created_by: Some(user.id.as_str()),
                scopes: &scopes,
            },
        )
        .await?;
    let code = store
        .create_code(NewCode {
            grant_id: &grant.id,
            generation: grant.generation,
            client_id: &request.client_id,
            user_id: user.id.as_str(),
            redirect_uri: &request.redirect_uri,
            redirect_uri_given: request.redirect_uri_given,
            code_challenge: request.code_challenge.as_deref(),
            code_challenge_method: request.code_challenge_method,
            scopes: &scopes,
        })
        .await?;
    Ok(request.success(issuer, &code))
}
