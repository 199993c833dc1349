//! The headers every page sends, and the refusal of form posts from other sites.
//!
//! Pages are framed by nobody (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), load only
//! their own stylesheet (`default-src 'self'`, no inline script or style), are never cached
//! (`Cache-Control: no-store`: they carry CSRF tokens and flow state) and send a referrer only to
//! this server (`Referrer-Policy: same-origin`: the redirect after consent carries an authorization
//! code, which must not reach another site). Not `no-referrer`: under it a browser sends
//! `Origin: null` with its form posts (Fetch, "serializing a request origin"), which
//! [`check_same_site`] must refuse — every sign-in in a real browser would fail.
//!
//! Chrome applies `form-action` to the redirect that follows a form post, so a page whose form
//! ends in a redirect to the client names the client's origin there too ([`Csp::with_form_target`]).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::PageError;

/// A Content-Security-Policy for a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csp {
    /// Where forms may post (and, in Chrome, where their redirects may lead) beside `'self'`.
    /// `None` leaves `form-action` out altogether (a target that cannot be expressed safely).
    form_targets: Option<String>,
}

impl Default for Csp {
    fn default() -> Self {
        Csp {
            form_targets: Some(String::new()),
        }
    }
}

impl Csp {
    /// A policy whose forms may also lead to `redirect_uri`'s origin (the client the consent
    /// page sends the browser back to).
    pub fn with_form_target(redirect_uri: &str) -> Self {
        Csp {
            form_targets: csp_source(redirect_uri).map(|source| format!(" {source}")),
        }
    }

    pub fn header_value(&self) -> HeaderValue {
        let mut policy = String::from(
            "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; \
             frame-ancestors 'none'",
        );
        if let Some(targets) = &self.form_targets {
            policy.push_str("; form-action 'self'");
            policy.push_str(targets);
        }
        // Every part is ASCII without control characters (`csp_source` admits only those).
        HeaderValue::from_str(&policy).unwrap_or_else(|_| {
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")
        })
    }
}

/// The CSP source expression for a redirect URI: `scheme://host[:port]` for http(s), `scheme:`
/// for a private-use scheme (RFC 8252). `None` when it holds anything but the few characters
/// a host, port or scheme needs, so nothing can be smuggled into the header.
pub fn csp_source(redirect_uri: &str) -> Option<String> {
    let (scheme, rest) = redirect_uri.split_once(':')?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Some(format!("{scheme}:"));
    }
    let authority = rest.strip_prefix("//")?.split(['/', '?']).next()?;
    let authority_ok = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    authority_ok.then(|| format!("{scheme}://{authority}"))
}

/// Adds the headers every page and every redirect from a page carries. A page that set its own
/// Content-Security-Policy keeps it.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            Csp::default().header_value(),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The origin (`scheme://host[:port]`) of a base URL such as the configured public URL.
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// Refuses a form post another site made the browser send: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` that is not the public URL's. (Browsers that send neither are covered by the CSRF
/// token alone.)
pub fn check_same_site(headers: &HeaderMap, public_url: &str) -> Result<(), PageError> {
    let refused = || {
        PageError::forbidden(
            "This form was sent from another site. Go back to the app and start again.",
        )
    };
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(refused());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let expected = origin_of(public_url);
        let same = origin
            .to_str()
            .is_ok_and(|origin| origin.eq_ignore_ascii_case(expected));
        if !same {
            return Err(refused());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_sources_name_the_origin_or_the_private_scheme() {
        assert_eq!(
            csp_source("http://127.0.0.1:9000/callback?x=1").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            csp_source("https://app.example.com/cb").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            csp_source("http://[::1]:4000/cb").as_deref(),
            Some("http://[::1]:4000")
        );
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("https://a.example;script-src/x"), None);
        assert_eq!(csp_source("https://a.example'/x"), None);
        assert_eq!(csp_source("no-scheme"), None);
    }

    #[test]
    fn policies_forbid_framing_and_name_form_targets() {
        let default = Csp::default().header_value();
        let default = default.to_str().unwrap();
        assert!(default.contains("default-src 'self'"), "{default}");
        assert!(default.contains("frame-ancestors 'none'"), "{default}");
        assert!(default.ends_with("form-action 'self'"), "{default}");
        assert!(
            !default.contains("unsafe") && !default.contains('*'),
            "{default}"
        );

        let consent = Csp::with_form_target("http://127.0.0.1:9000/cb").header_value();
        assert!(
            consent
                .to_str()
                .unwrap()
                .ends_with("form-action 'self' http://127.0.0.1:9000")
        );
        let odd = Csp::with_form_target("https://a;b/cb").header_value();
        assert!(!odd.to_str().unwrap().contains("form-action"));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let public = "http://127.0.0.1:8080";
        let with = |name: &'static str, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            check_same_site(&headers, public).is_ok()
        };
        assert!(check_same_site(&HeaderMap::new(), public).is_ok());
        assert!(with("sec-fetch-site", "same-origin"));
        assert!(with("origin", "http://127.0.0.1:8080"));
        assert!(!with("sec-fetch-site", "cross-site"));
        assert!(!with("origin", "http://evil.example"));
        assert!(!with("origin", "null"));
        assert_eq!(origin_of("https://a.example/accord/"), "https://a.example");
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
