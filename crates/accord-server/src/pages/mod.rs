//! Server-rendered pages (console.md): what every page shares.
//!
//! - [`account_choice`]: the sign-in step for an email and password of several accounts.
//! - [`security`]: the headers every page sends (Content-Security-Policy, anti-framing, no-store)
//!   and the refusal of cross-site form posts.
//! - [`csrf`]: the per-browser CSRF cookie and the keyed token every form carries.
//! - [`session`]: the sign-in session cookie.
//! - [`sign_in`]: checking an email and password, throttled, for every sign-in form.
//! - [`signed`]: state carried through a form, MAC-signed and expiring.
//! - [`render`]: turning an askama template into a page, and the error page.
//!
//! Pages are plain HTML that works without JavaScript; the one stylesheet is served here.

pub mod account_choice;
pub mod csrf;
pub mod render;
pub mod security;
pub mod session;
pub mod sign_in;
pub mod signed;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub use render::{Page, PageError};

use crate::state::AppState;

/// The stylesheet every page links to.
pub const STYLESHEET_PATH: &str = "/static/accord.css";

const STYLESHEET: &str = include_str!("../../templates/accord.css");

/// The icon every page links to (so no browser asks for a missing `/favicon.ico`).
pub const ICON_PATH: &str = "/static/favicon.svg";

const ICON: &str = include_str!("../../templates/favicon.svg");

/// The routes of the page plumbing itself (the stylesheet and the icon).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(STYLESHEET_PATH, get(stylesheet))
        .route(ICON_PATH, get(icon))
}

async fn icon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        ICON,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        STYLESHEET,
    )
}

/// A posted form, once it is known to come from this site (`security::check_same_site`) with this
/// browser's CSRF token (`csrf::verify`) — checked before a single field is read. Every form post
/// of the consoles goes through here.
pub fn checked_form(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    jar: &axum_extra::extract::cookie::CookieJar,
    body: &[u8],
) -> Result<PostedForm, PageError> {
    security::check_same_site(headers, &state.config().public_url)?;
    let form = PostedForm::parse(body);
    csrf::verify(jar, state.store().keys(), form.get(csrf::FIELD))?;
    Ok(form)
}

/// The fields of a posted `application/x-www-form-urlencoded` form, in order. Repeated names
/// (the consent page's `scope` checkboxes) are kept.
#[derive(Debug, Default)]
pub struct PostedForm(Vec<(String, String)>);

impl PostedForm {
    pub fn parse(body: &[u8]) -> Self {
        PostedForm(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of a field; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// Every value of a repeated field.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
