//! The authorization request: its parameters, the check that makes the redirect URI trusted
//! (exact match, any port for loopback IP literals) and the rest of oauth.md's rules, the flow
//! state the forms carry, and the 303s back to the client with `iss` always.

use accord_core::apps::{AppKind, AppStatus, Environment};
use accord_core::ids::Secret;
use accord_core::scopes::Scope;
use accord_store::StoreError;
use accord_store::apps::{self as stored_apps, App};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::pages::PageError;
use crate::state::AppState;

/// The parameters of an authorization request as sent (unknown ones are ignored).
#[derive(Debug, Default)]
pub(super) struct RequestParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    /// A known parameter sent more than once (RFC 6749 §3.1 forbids it).
    repeated: Option<&'static str>,
}

impl RequestParams {
    pub(super) fn from_query(query: &str) -> Self {
        let mut params = RequestParams::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let (name, slot) = match name.as_ref() {
                "response_type" => ("response_type", &mut params.response_type),
                "client_id" => ("client_id", &mut params.client_id),
                "redirect_uri" => ("redirect_uri", &mut params.redirect_uri),
                "state" => ("state", &mut params.state),
                "code_challenge" => ("code_challenge", &mut params.code_challenge),
                "code_challenge_method" => {
                    ("code_challenge_method", &mut params.code_challenge_method)
                }
                "scope" => ("scope", &mut params.scope),
                _ => continue,
            };
            if slot.is_some() {
                params.repeated.get_or_insert(name);
            }
            // Empty values count as absent, as on every OAuth endpoint.
            if !value.is_empty() {
                *slot = Some(value.into_owned());
            }
        }
        params
    }
}

/// What the forms carry: the checked request, to be checked again on every post.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FlowState {
    client_id: String,
    /// As the request sent it: `None` when it named no redirect URI (the exchange may then name
    /// none either), so checking the flow again gives the same answer.
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
}

impl From<FlowState> for RequestParams {
    fn from(flow: FlowState) -> Self {
        RequestParams {
            response_type: Some("code".into()),
            client_id: Some(flow.client_id),
            redirect_uri: flow.redirect_uri,
            state: flow.state,
            code_challenge: flow.code_challenge,
            code_challenge_method: flow.code_challenge_method,
            scope: flow.scope,
            repeated: None,
        }
    }
}

/// A checked authorization request: the client is known and the redirect URI is trusted.
#[derive(Debug)]
pub(super) struct Authorization {
    pub(super) app: App,
    pub(super) environment: Environment,
    pub(super) client_id: String,
    /// Where the answer goes: the URI the request named, or the app's only one.
    pub(super) redirect_uri: String,
    /// Whether the request named it; the code exchange must then name the identical one.
    pub(super) redirect_uri_given: bool,
    pub(super) state: Option<String>,
    pub(super) code_challenge: Option<String>,
    pub(super) code_challenge_method: Option<&'static str>,
    /// The `scope` parameter as sent, and the scopes it names (all declared by the app).
    pub(super) scope_param: Option<String>,
    pub(super) requested: Option<Vec<Scope>>,
}

impl Authorization {
    /// A development credential set, like a development app, is usable only in the app's
    /// developer account: the install rules see it as a development app.
    pub(super) fn effective_status(&self) -> AppStatus {
        match self.environment {
            Environment::Development => AppStatus::Development,
            Environment::Production => self.app.status,
        }
    }

    /// The optional scopes this request lets the user choose from.
    pub(super) fn offered_optional(&self) -> Vec<Scope> {
        self.app
            .optional_scopes
            .iter()
            .copied()
            .filter(|scope| self.requested.as_ref().is_none_or(|r| r.contains(scope)))
            .collect()
    }

    pub(super) fn flow(&self) -> FlowState {
        FlowState {
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri_given.then(|| self.redirect_uri.clone()),
            state: self.state.clone(),
            code_challenge: self.code_challenge.clone(),
            code_challenge_method: self.code_challenge_method.map(str::to_owned),
            scope: self.scope_param.clone(),
        }
    }

    /// This request again, as an authorize URL on this server (where a post continues).
    pub(super) fn authorize_url(&self) -> String {
        let flow = self.flow();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("response_type", "code");
        query.append_pair("client_id", &flow.client_id);
        for (name, value) in [
            ("redirect_uri", &flow.redirect_uri),
            ("state", &flow.state),
            ("code_challenge", &flow.code_challenge),
            ("code_challenge_method", &flow.code_challenge_method),
            ("scope", &flow.scope),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        format!("/oauth/authorize?{}", query.finish())
    }

    pub(super) fn client_error(
        &self,
        error: &'static str,
        description: impl Into<String>,
    ) -> ClientError {
        ClientError {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description: description.into(),
        }
    }

    /// The 303 that hands the client its code.
    pub(super) fn success(&self, issuer: &str, code: &Secret) -> Response {
        let mut params = vec![("code", code.expose())];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        see_other(&with_params(&self.redirect_uri, &params))
    }
}

/// An error the client learns of by redirect (the redirect URI is trusted).
#[derive(Debug)]
pub(super) struct ClientError {
    redirect_uri: String,
    state: Option<String>,
    error: &'static str,
    description: String,
}

impl ClientError {
    pub(super) fn into_response(self, issuer: &str) -> Response {
        let mut params = vec![
            ("error", self.error),
            ("error_description", self.description.as_str()),
        ];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        see_other(&with_params(&self.redirect_uri, &params))
    }
}

/// Why a request ends here: an error page (untrusted redirect URI, bad form) or a redirect.
#[derive(Debug)]
pub(super) enum Refused {
    Page(PageError),
    Client(ClientError, String),
}

impl From<PageError> for Refused {
    fn from(error: PageError) -> Self {
        Refused::Page(error)
    }
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Refused::Page(error.into())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Page(error) => error.into_response(),
            Refused::Client(error, issuer) => error.into_response(&issuer),
        }
    }
}

/// Whether a requested redirect URI matches a registered one: exactly, or — for loopback IP
/// literals over http — with any port (RFC 8252 §7.3: native apps listen on a free port).
fn redirect_matches(registered: &str, requested: &str) -> bool {
    registered == requested
        || matches!(
            (loopback_parts(registered), loopback_parts(requested)),
            (Some(a), Some(b)) if a == b
        )
}

/// `(host, path-and-query)` of `http://127.0.0.1[:port]…` or `http://[::1][:port]…`.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (host, after_host) = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find_map(|host| rest.strip_prefix(host).map(|after| (host, after)))?;
    let path_start = after_host.find(['/', '?']).unwrap_or(after_host.len());
    let (port, path) = after_host.split_at(path_start);
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    Some((host, path))
}

/// `uri` with `params` added to its query (it may already have one).
fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let separator = match uri.find('?') {
        None => "?",
        Some(_) if uri.ends_with(['?', '&']) => "",
        Some(_) => "&",
    };
    format!("{uri}{separator}{}", query.finish())
}

/// A 303 to `location`; bytes a header cannot hold (non-ASCII) are percent-encoded.
pub(super) fn see_other(location: &str) -> Response {
    let mut encoded = String::with_capacity(location.len());
    for byte in location.bytes() {
        if byte.is_ascii_graphic() {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    match HeaderValue::from_str(&encoded) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => PageError::bad_request(
            "Invalid redirect",
            "The redirect URI cannot be used in an HTTP redirect.",
        )
        .into_response(),
    }
}

/// A PKCE code challenge: 43-128 characters of the unreserved set (RFC 7636 §4.2).
fn valid_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks an authorization request: first what makes the redirect URI trustworthy (errors
/// shown as a page), then everything else (errors redirected to the client).
pub(super) async fn check_request(
    state: &AppState,
    params: &RequestParams,
) -> Result<Authorization, Refused> {
    let store = state.store();
    if matches!(params.repeated, Some("client_id" | "redirect_uri")) {
        return Err(PageError::bad_request(
            "Invalid request",
            "The request names its client_id or redirect_uri more than once.",
        )
        .into());
    }
    let client_id = params.client_id.as_deref().ok_or_else(|| {
        PageError::bad_request(
            "Invalid request",
            "The request has no client_id: the app that sent you here did not say who it is.",
        )
    })?;
    // By client id only, with its credential set: `Store::find_app` would also match an app id.
    let found = {
        let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
        stored_apps::by_client_id(&mut conn, client_id).await?
    };
    let Some((app, environment)) = found else {
        return Err(PageError::bad_request(
            "Unknown app",
            format!("No app has the client_id {client_id}. Check the link the app sent you to."),
        )
        .into());
    };
    let registered = app
        .credential_set(environment)
        .map(|set| set.redirect_uris.clone())
        .ok_or_else(PageError::internal)?;
    let server_app_note = if app.kind == AppKind::Server {
        " It is a Server-to-Server app: it gets tokens with client credentials, not through this page."
    } else {
        ""
    };
    let redirect_uri = match params.redirect_uri.as_deref() {
        Some(uri) if registered.iter().any(|r| redirect_matches(r, uri)) => uri.to_owned(),
        Some(uri) => {
            return Err(PageError::bad_request(
                "Redirect URI not allowed",
                format!(
                    "{uri} is not a redirect URI registered for {}'s {} credentials, so you are \
                     not sent back there.{server_app_note}",
                    app.name,
                    environment.as_str()
                ),
            )
            .into());
        }
        None => match registered.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(PageError::bad_request(
                    "Invalid request",
                    format!(
                        "The request has no redirect_uri, and {} has {} registered, so it must \
                         name one.{server_app_note}",
                        app.name,
                        registered.len()
                    ),
                )
                .into());
            }
        },
    };

    // From here on the redirect URI is trusted: errors go back to the client.
    let issuer = state.config().issuer.clone();
    let fail = |error: &'static str, description: String| {
        Refused::Client(
            ClientError {
                redirect_uri: redirect_uri.clone(),
                state: params.state.clone(),
                error,
                description,
            },
            issuer.clone(),
        )
    };
    if let Some(name) = params.repeated {
        return Err(fail(
            "invalid_request",
            format!("The parameter {name} is repeated."),
        ));
    }
    if app.kind == AppKind::Server {
        return Err(fail(
            "unauthorized_client",
            "Server-to-Server apps get tokens with client credentials, not by authorization."
                .into(),
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(fail(
                "invalid_request",
                "The response_type parameter is required (response_type=code).".into(),
            ));
        }
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "Only response_type=code is supported.".into(),
            ));
        }
    }

    let scope_param = params
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let requested = match scope_param {
        None => None,
        Some(text) => {
            let mut scopes: Vec<Scope> = Vec::new();
            for name in text.split([' ', ',', '+']).filter(|n| !n.is_empty()) {
                let scope = Scope::parse(name).map_err(|_| {
                    fail("invalid_scope", format!("The scope {name} does not exist."))
                })?;
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
            let declared = |scope: &Scope| app.all_scopes().contains(scope);
            if let Some(undeclared) = scopes.iter().find(|s| !declared(s)) {
                return Err(fail(
                    "invalid_scope",
                    format!("{} does not declare the scope {undeclared}.", app.name),
                ));
            }
            Some(scopes)
        }
    };

    let code_challenge = params.code_challenge.clone();
    let code_challenge_method = match (&code_challenge, params.code_challenge_method.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method was sent without a code_challenge.".into(),
            ));
        }
        (Some(_), None | Some("plain")) => Some("plain"),
        (Some(_), Some("S256")) => Some("S256"),
        (Some(_), Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256 (or plain, for confidential clients).".into(),
            ));
        }
    };
    if app.public_client && code_challenge_method != Some("S256") {
        return Err(fail(
            "invalid_request",
            "This app is a public client: it must use PKCE with code_challenge_method=S256.".into(),
        ));
    }
    if code_challenge
        .as_deref()
        .is_some_and(|c| !valid_challenge(c))
    {
        return Err(fail(
            "invalid_request",
            "code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~.".into(),
        ));
    }

    Ok(Authorization {
        client_id: client_id.to_owned(),
        app,
        environment,
        redirect_uri,
        redirect_uri_given: params.redirect_uri.is_some(),
        state: params.state.clone(),
        code_challenge,
        code_challenge_method,
        scope_param: scope_param.map(str::to_owned),
        requested,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirect_uris_match_on_any_port() {
        let registered = "http://127.0.0.1:9000/callback";
        assert!(redirect_matches(registered, registered));
        assert!(redirect_matches(
            registered,
            "http://127.0.0.1:51234/callback"
        ));
        assert!(redirect_matches(registered, "http://127.0.0.1/callback"));
        assert!(redirect_matches(
            "http://[::1]/cb?x=1",
            "http://[::1]:8080/cb?x=1"
        ));
        for other in [
            "http://127.0.0.1:51234/callback/",
            "http://127.0.0.1:51234/other",
            "http://127.0.0.1:5x/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:9000@evil.example/callback",
            "https://127.0.0.1:9000/callback",
            "http://localhost:9000/callback",
            "http://[::1]:9000/callback",
        ] {
            assert!(!redirect_matches(registered, other), "{other}");
        }
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
    }

    #[test]
    fn parameters_are_appended_to_an_existing_query() {
        let params = [("code", "a b"), ("iss", "http://x/y")];
        assert_eq!(
            with_params("https://a.example/cb", &params),
            "https://a.example/cb?code=a+b&iss=http%3A%2F%2Fx%2Fy"
        );
        assert_eq!(
            with_params("https://a.example/cb?tenant=1", &params[..1]),
            "https://a.example/cb?tenant=1&code=a+b"
        );
        assert_eq!(
            with_params("https://a.example/cb?", &params[..1]),
            "https://a.example/cb?code=a+b"
        );
    }

    #[test]
    fn challenges_are_43_to_128_unreserved_characters() {
        assert!(valid_challenge(&"a".repeat(43)));
        assert!(valid_challenge(&"A-._~9".repeat(22)[..128]));
        assert!(!valid_challenge(&"a".repeat(42)));
        assert!(!valid_challenge(&"a".repeat(129)));
        assert!(!valid_challenge(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn repeated_parameters_are_noticed_and_unknown_ones_ignored() {
        let params = RequestParams::from_query("client_id=a&foo=1&foo=2&state=x&state=y");
        assert_eq!(params.client_id.as_deref(), Some("a"));
        assert_eq!(params.repeated, Some("state"));
        let params = RequestParams::from_query("client_id=a&redirect_uri=&scope=a+b");
        assert_eq!(params.redirect_uri, None);
        assert_eq!(params.scope.as_deref(), Some("a b"));
        assert_eq!(params.repeated, None);
    }
}
