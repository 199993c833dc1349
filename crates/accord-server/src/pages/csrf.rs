//! CSRF protection for every form: a random value in an `HttpOnly`, `SameSite=Lax` cookie, and
//! in each form a token that is the keyed MAC (purpose `csrf`) of that value. A post is accepted
//! only when its token is the MAC of the cookie it came with, checked in constant time. Another
//! site can make a browser send the cookie but can neither read it nor compute its MAC.

use accord_store::secrets::{Keys, new_secret};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::PageError;

/// The cookie holding the per-browser random value.
pub const COOKIE: &str = "accord_csrf";
/// The hidden form field holding the token.
pub const FIELD: &str = "csrf_token";

const PURPOSE: &str = "csrf";

fn usable(value: &str) -> bool {
    (32..=128).contains(&value.len())
}

/// The token the forms of the browser holding `cookie_value` carry.
pub fn token_for(keys: &Keys, cookie_value: &str) -> String {
    URL_SAFE_NO_PAD.encode(keys.mac(PURPOSE, cookie_value.as_bytes()))
}

/// The token for this browser's forms, setting the cookie first if the browser has none.
pub fn ensure(jar: CookieJar, keys: &Keys, secure: bool) -> (CookieJar, String) {
    if let Some(existing) = jar.get(COOKIE).map(Cookie::value).filter(|v| usable(v)) {
        let token = token_for(keys, existing);
        return (jar, token);
    }
    let value = new_secret();
    let token = token_for(keys, value.expose());
    let cookie = Cookie::build((COOKIE, value.expose().to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure);
    (jar.add(cookie), token)
}

/// Checks a posted token against the browser's cookie.
pub fn verify(jar: &CookieJar, keys: &Keys, presented: Option<&str>) -> Result<(), PageError> {
    let refused = || {
        PageError::forbidden(
            "This form expired or did not come from this site. Go back to the app and start again.",
        )
    };
    let cookie = jar
        .get(COOKIE)
        .map(Cookie::value)
        .filter(|v| usable(v))
        .ok_or_else(refused)?;
    let presented = presented
        .and_then(|token| URL_SAFE_NO_PAD.decode(token).ok())
        .ok_or_else(refused)?;
    if keys.mac_matches(PURPOSE, cookie.as_bytes(), &presented) {
        Ok(())
    } else {
        Err(refused())
    }
}
