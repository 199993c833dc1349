//! The sign-in session cookie: `HttpOnly`, `SameSite=Lax`, `Secure` when the public URL is https.
//! It holds a random value; the database keeps only its keyed hash (`accord_store::sessions`).

use accord_core::ids::Secret;
use accord_store::users::User;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::PageError;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "accord_session";

/// The signed-in user, if the browser holds a live session of an active user.
pub async fn current_user(state: &AppState, jar: &CookieJar) -> Result<Option<User>, PageError> {
    let Some(value) = jar.get(COOKIE).map(Cookie::value).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    Ok(state
        .store()
        .session_user(value)
        .await?
        .map(|(user, _)| user))
}

/// Starts a session for `user_id` and sets its cookie.
pub async fn start(
    state: &AppState,
    jar: CookieJar,
    user_id: &str,
) -> Result<CookieJar, PageError> {
    let value: Secret = state.store().create_session(user_id).await?;
    let cookie = Cookie::build((COOKIE, value.expose().to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config().secure_cookies());
    Ok(jar.add(cookie))
}

/// Ends the browser's session, if any, and removes its cookie.
pub async fn end(state: &AppState, jar: CookieJar) -> Result<CookieJar, PageError> {
    if let Some(value) = jar.get(COOKIE).map(Cookie::value).filter(|v| !v.is_empty()) {
        state.store().delete_session(value).await?;
    }
    Ok(jar.remove(Cookie::build(COOKIE).path("/")))
}
