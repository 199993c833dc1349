//! The account console (`/console`) and the developer console (`/console/developer`),
//! console.md: server-rendered pages that work without JavaScript.
//!
//! **One path for every decision.** A signed-in user acts in the console as themselves: the
//! session stands for a first-party user grant holding every scope ([`TokenState::console`]), and
//! every page calls the very `/v2` handler the API would run for the same request — same permission
//! rule, same store function, same audit entry and webhook. A member who crafts a post to an
//! admin page gets the API's refusal, with the rule's explanation ([`Failure`]).
//!
//! What every page shares lives here: the signed-in [`Viewer`] (or a redirect to sign in), the
//! checked post ([`Posted`]: same site, CSRF, before any field is read), the layout ([`Layout`]), the redirect after a
//! change with a fixed notice ([`done`]), and the failure page.
//!
//! | route | module |
//! |---|---|
//! | `/console/sign-in`, `/console/choose-account`, `/console/sign-out` | [`sign_in`] |
//! | `/console` (My apps) | [`my_apps`] |
//! | `/console/apps` (Installed apps) | [`installed_apps`] |
//! | `/console/users` (Users and roles: users) | [`users`] |
//! | `/console/roles` (Users and roles: roles) | [`roles`] |
//! | `/console/scheduling` (assistants; whom I schedule for) | [`scheduling`] |
//! | `/console/meetings` (mine, and others' the rule lets me see) | [`meetings`] |
//! | `/console/audit` (the audit log) | [`audit`] |
//! | `/console/why` (the rule's answer, step by step) | [`why`] |
//! | `/console/developer`, `/console/developer/app` (the developer console) | [`developer`] |

pub mod audit;
pub mod developer;
pub mod installed_apps;
pub mod meetings;
pub mod my_apps;
pub mod roles;
pub mod scheduling;
pub mod sign_in;
pub mod users;
pub mod why;

use std::sync::Arc;

use accord_core::privileges::{Privilege, PrivilegeSet};
use accord_store::accounts::Account;
use accord_store::users::User;
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};

use crate::api::access::{ApiDenial, TokenState};
use crate::api::handler::Call;
use crate::errors::ApiError;
use crate::pages::{Page, PageError, PostedForm, csrf, security, session};
use crate::state::AppState;

/// Where the console starts (My apps).
pub const HOME: &str = "/console";

/// Pages listed under another section's navigation entry: (page, section).
const SUBSECTIONS: &[(&str, &str)] = &[(roles::PATH, users::PATH)];

/// Whether `path` is a page (or below a page) that the navigation lists under `section`.
fn is_subsection(path: &str, section: &str) -> bool {
    SUBSECTIONS.iter().any(|(page, of)| {
        *of == section
            && path
                .strip_prefix(page)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Every console route; every answer carries the page security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(sign_in::routes())
        .merge(my_apps::routes())
        .merge(installed_apps::routes())
        .merge(users::routes())
        .merge(roles::routes())
        .merge(scheduling::routes())
        .merge(meetings::routes())
        .merge(audit::routes())
        .merge(why::routes())
        .merge(developer::routes())
        .layer(middleware::map_response(security::security_headers))
}

/// The signed-in user looking at a console page, with what the pages need to show and to act.
pub struct Viewer {
    pub user: User,
    pub account: Account,
    /// The user's role's privileges now (what the navigation offers; the rule decides).
    pub privileges: PrivilegeSet,
    /// The console's principal: the session as a user grant ([`TokenState::console`]).
    pub token: Arc<TokenState>,
    /// This browser's CSRF token, for the page's forms.
    pub csrf_token: String,
    /// The path of the page, for the navigation.
    pub path: String,
}

impl Viewer {
    /// Checks a posted form: sent from this site, carrying this browser's CSRF token. Nothing is
    /// read from it before both hold. (Handlers take a [`Posted`], which calls this.)
    fn form(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        jar: &CookieJar,
        body: &Bytes,
    ) -> Result<PostedForm, Failure> {
        Ok(crate::pages::checked_form(state, headers, jar, body)?)
    }

    /// Whether the user's role holds `privilege` now.
    pub fn may(&self, privilege: Privilege) -> bool {
        self.privileges.contains(privilege)
    }

    /// The layout of a page titled `title`, with `notice` shown above it.
    pub fn layout(&self, title: &str, notice: Option<&'static str>) -> Layout {
        let sections: [(&str, &str, Option<Privilege>); 8] = [
            (HOME, "My apps", None),
            (
                "/console/apps",
                "Installed apps",
                Some(Privilege::MarketplaceRead),
            ),
            (
                "/console/users",
                "Users and roles",
                Some(Privilege::UserRead),
            ),
            ("/console/scheduling", "Scheduling", None),
            ("/console/meetings", "Meetings", None),
            ("/console/audit", "Audit log", Some(Privilege::AuditLogRead)),
            ("/console/why", "Why?", None),
            ("/console/developer", "Developer", None),
        ];
        let nav = sections
            .into_iter()
            .filter(|(_, _, needs)| needs.is_none_or(|p| self.may(p)))
            .map(|(href, label, _)| NavLink {
                href,
                label,
                current: self.path == href
                    || (href != HOME && self.path.starts_with(&format!("{href}/")))
                    || is_subsection(&self.path, href),
            })
            .collect();
        Layout {
            title: title.to_owned(),
            nav,
            user_name: format!("{} {}", self.user.first_name, self.user.last_name)
                .trim()
                .to_owned(),
            email: self.user.email.to_string(),
            account_name: self.account.name.clone(),
            csrf_token: self.csrf_token.clone(),
            notice,
        }
    }
}

/// The largest form a console page posts (a list of redirect URIs is the longest field).
const FORM_LIMIT: usize = 64 * 1024;

/// A checked post: the signed-in [`Viewer`] and the form, sent from this site with this browser's
/// CSRF token ([`Viewer::form`]) — checked before a handler reads a single field. Not signed in:
/// the sign-in page; a form that fails a check: the refusal page.
pub struct Posted {
    pub viewer: Viewer,
    pub form: PostedForm,
}

impl axum::extract::FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let body = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| Failure::bad_form("The form is too large.").into_response())?;
        let jar = CookieJar::from_headers(&parts.headers);
        let form = viewer
            .form(state, &parts.headers, &jar, &body)
            .map_err(IntoResponse::into_response)?;
        Ok(Posted { viewer, form })
    }
}

/// A console page's frame: the navigation, who is signed in, the sign-out form, a notice.
pub struct Layout {
    pub title: String,
    pub nav: Vec<NavLink>,
    pub user_name: String,
    pub email: String,
    pub account_name: String,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// Why there is no [`Viewer`]: not signed in (or the session expired) — back to the sign-in
/// page, which returns here after — or the database failed.
pub enum NoViewer {
    /// No session cookie: sign in.
    SignIn,
    /// A session cookie whose session ended (expired, signed out elsewhere, user deactivated).
    Ended,
    Failed(PageError),
}

impl IntoResponse for NoViewer {
    fn into_response(self) -> Response {
        match self {
            NoViewer::SignIn => see_other(sign_in::PATH),
            NoViewer::Ended => see_other(&format!("{}?ended=1", sign_in::PATH)),
            NoViewer::Failed(error) => error.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = NoViewer;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        // The sign-in page sets the CSRF cookie; a browser without one signs in again.
        let Some(csrf_cookie) = jar.get(csrf::COOKIE).map(Cookie::value) else {
            return Err(NoViewer::SignIn);
        };
        let user = session::current_user(state, &jar)
            .await
            .map_err(NoViewer::Failed)?
            .ok_or(if jar.get(session::COOKIE).is_some() {
                NoViewer::Ended
            } else {
                NoViewer::SignIn
            })?;
        let account = state
            .store()
            .account(user.account_id.as_str())
            .await
            .map_err(|e| NoViewer::Failed(e.into()))?;
        let csrf_token = csrf::token_for(state.store().keys(), csrf_cookie);
        // The console decides through the same rule and view as `/v2`: not on a stale one.
        state
            .ensure_view_fresh()
            .await
            .map_err(|stale| NoViewer::Failed(stale.into()))?;
        let privileges = state.store().view().privileges(user.id.as_str());
        Ok(Viewer {
            token: Arc::new(TokenState::console(&user)),
            user,
            account,
            privileges,
            csrf_token,
            path: parts.uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// The catalog endpoint a console action runs, by name (a name the catalog lacks is a bug the
/// console tests catch on every page).
pub fn call(name: &str) -> Call {
    let endpoint = accord_core::endpoints::by_name(name)
        .unwrap_or_else(|| panic!("{name} is not an endpoint of the catalog"));
    Call { endpoint }
}

/// A 303 to a console path.
pub fn see_other(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// After a change: back to `path`, which shows the notice named `done` (`?done=…`; each page
/// maps the few names it knows to fixed sentences, so nothing posted is ever echoed).
pub fn done(path: &str, notice: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    see_other(&format!("{path}{separator}done={notice}"))
}

/// A posted field the action cannot go without (not blank), or a 400 naming it: "Give {what}
/// ({name})."
pub fn required<'a>(form: &'a PostedForm, name: &str, what: &str) -> Result<&'a str, Failure> {
    form.get(name)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| Failure::bad_form(format!("Give {what} ({name}).")))
}

/// The sentence a page shows for `?done=NAME`, from its own fixed table.
pub fn notice(query: Option<&str>, table: &[(&'static str, &'static str)]) -> Option<&'static str> {
    let name = form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == "done")
        .map(|(_, value)| value)?;
    table
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, sentence)| *sentence)
}

/// A time as the pages show it: `2026-12-01 09:30 UTC`.
pub fn when(at: accord_core::clock::Timestamp) -> String {
    when_rfc3339(&at.rfc3339())
}

/// [`when`] for a time the API answered as RFC 3339 (`2026-12-01T09:30:00Z`).
pub fn when_rfc3339(text: &str) -> String {
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text.to_owned(),
    }
}

/// A console request that did not go through: the API's refusal (with the permission rule's
/// explanation when the rule said no), a form that failed its checks, or a failure.
pub struct Failure(ApiError);

impl From<ApiDenial> for Failure {
    fn from(denial: ApiDenial) -> Self {
        Failure(match denial {
            ApiDenial::Denied(denial) => ApiError::denied(*denial),
            ApiDenial::Error(error) => error,
            ApiDenial::Unavailable => ApiError::unavailable(
                "The server cannot reach its database right now. Try again in a moment.",
            ),
            ApiDenial::Internal => ApiError::internal(),
        })
    }
}

impl From<PageError> for Failure {
    fn from(error: PageError) -> Self {
        Failure(ApiError::new(error.status, 0, error.message))
    }
}

impl From<accord_store::StoreError> for Failure {
    fn from(error: accord_store::StoreError) -> Self {
        PageError::from(error).into()
    }
}

impl Failure {
    /// A request the console itself refuses (a form field missing or malformed): 400.
    pub fn bad_form(message: impl Into<String>) -> Self {
        Failure(ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::errors::VALIDATION_CODE,
            message,
        ))
    }
}

#[derive(Template)]
#[template(path = "console/refused.html")]
struct RefusedTemplate<'a> {
    title: &'a str,
    error: &'a ApiError,
    step: Option<&'static str>,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let error = self.0;
        let title = match error.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
            StatusCode::INTERNAL_SERVER_ERROR => "Something went wrong",
            _ if error.explain.is_some() => "Not allowed",
            _ => "Request refused",
        };
        let step = error
            .explain
            .as_ref()
            .map(|explain| explain.step.question());
        Page::new(
            error.status,
            &RefusedTemplate {
                title,
                error: &error,
                step,
            },
        )
        .into_response()
    }
}
