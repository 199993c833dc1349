//! Signing in to the console and out of it. The same email and password check as the authorize
//! flow (`pages::sign_in`: throttled per email and per address, never saying which was wrong), the
//! same session cookie, and the same account choice when the address and password are a user of
//! several accounts.
//!
//! | route | does |
//! |---|---|
//! | `GET /console/sign-in` | the form (or, signed in already, the console) |
//! | `POST /console/sign-in` | `email` + `password`: a session, then the console |
//! | `POST /console/choose-account` | `account` and the sealed `matched` |
//! | `POST /console/sign-out` | ends the session |

use accord_core::users::UserStatus;
use accord_store::users::User;
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;

use super::{HOME, see_other};
use crate::pages::account_choice::{self, ChoiceForm, ChoiceRefused, chosen_user};
use crate::pages::sign_in::{self, Checked, WRONG_EMAIL_OR_PASSWORD};
use crate::pages::{self, Page, PageError, csrf, session};
use crate::state::AppState;
use crate::throttle::ClientAddress;

pub const PATH: &str = "/console/sign-in";
const CHOOSE_PATH: &str = "/console/choose-account";
const SIGN_OUT_PATH: &str = "/console/sign-out";
const CONTINUE_TO: &str = "the Accord console";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(form).post(sign_in))
        .route(CHOOSE_PATH, post(choose_account))
        .route(SIGN_OUT_PATH, post(sign_out))
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInTemplate<'a> {
    csrf_token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn sign_in_page(
    status: StatusCode,
    csrf_token: &str,
    email: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Page {
    Page::new(
        status,
        &SignInTemplate {
            csrf_token,
            email,
            error,
            notice,
        },
    )
}

/// `GET /console/sign-in`: the form; signed in already, the console.
async fn form(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    if session::current_user(&state, &jar).await?.is_some() {
        return Ok((jar, see_other(HOME)).into_response());
    }
    let query = query.unwrap_or_default();
    let notice = if query.split('&').any(|pair| pair == "ended=1") {
        Some("Your session ended. Sign in again to continue.")
    } else if query.split('&').any(|pair| pair == "signed_out=1") {
        Some("You are signed out.")
    } else {
        None
    };
    let page = sign_in_page(StatusCode::OK, &csrf_token, "", None, notice);
    Ok((jar, page).into_response())
}

/// `POST /console/sign-in`: a session and the console (303), the form again with what went wrong
/// (401; 429 or 503 with `Retry-After`), or the account choice.
async fn sign_in(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = pages::checked_form(&state, &headers, &jar, &body)?;
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    let email = form.get("email").unwrap_or_default().trim();
    let checked = sign_in::check(&state, &address, email, form.get("password")).await?;
    let (status, retry) = match &checked {
        Checked::Users(_) => (StatusCode::OK, None),
        Checked::Wrong => (StatusCode::UNAUTHORIZED, None),
        Checked::Throttled {
            retry_after_seconds,
        } => (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after_seconds)),
        Checked::Busy {
            retry_after_seconds,
        } => (StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after_seconds)),
    };
    let Checked::Users(mut users) = checked else {
        let page = sign_in_page(status, &csrf_token, email, Some(&checked.message()), None);
        let mut response = (jar, page).into_response();
        if let Some(seconds) = retry
            && let Ok(value) = seconds.to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    };
    if users.len() > 1 {
        let choice = ChoiceForm {
            action: CHOOSE_PATH,
            continue_to: CONTINUE_TO,
            flow: "",
        };
        let page =
            account_choice::account_choice_page(&state, choice, email, &users, &csrf_token).await?;
        return Ok((jar, page).into_response());
    }
    start(&state, jar, &csrf_token, &users.remove(0)).await
}

/// The session for a user whose password was proved; a user who is not active gets none.
async fn start(
    state: &AppState,
    jar: CookieJar,
    csrf_token: &str,
    user: &User,
) -> Result<Response, PageError> {
    if user.status != UserStatus::Active {
        let page = sign_in_page(
            StatusCode::FORBIDDEN,
            csrf_token,
            user.email.as_str(),
            Some("This user is deactivated. An admin of the account can activate it again."),
            None,
        );
        return Ok((jar, page).into_response());
    }
    let jar = session::start(state, jar, user.id.as_str()).await?;
    Ok((jar, see_other(HOME)).into_response())
}

/// `POST /console/choose-account`: the session for the chosen account's user.
async fn choose_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = pages::checked_form(&state, &headers, &jar, &body)?;
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    let chosen = chosen_user(
        &state,
        form.get(account_choice::MATCHED_FIELD),
        &csrf_token,
        form.get(account_choice::ACCOUNT_FIELD),
    );
    let again = |message: &str| {
        let page = sign_in_page(StatusCode::OK, &csrf_token, "", Some(message), None);
        (jar.clone(), page).into_response()
    };
    let user_id = match chosen {
        Ok(user_id) => user_id,
        Err(ChoiceRefused::Invalid(error)) => return Err(error),
        Err(ChoiceRefused::Expired) => {
            return Ok(again("The account choice expired. Sign in again."));
        }
    };
    match state.store().user(&user_id).await {
        Ok(user) => start(&state, jar, &csrf_token, &user).await,
        // Deleted since the password was checked: as if the sign-in had failed.
        Err(accord_store::StoreError::NotFound { .. }) => Ok(again(WRONG_EMAIL_OR_PASSWORD)),
        Err(error) => Err(error.into()),
    }
}

/// `POST /console/sign-out`: ends the session; back to the sign-in page.
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, PageError> {
    pages::checked_form(&state, &headers, &jar, &body)?;
    let jar = session::end(&state, jar).await?;
    Ok((jar, see_other(&format!("{PATH}?signed_out=1"))).into_response())
}
