//! `GET /oauth/authorize` (oauth.md, console.md): checks the authorization request, signs the
//! browser in if needed, and shows the install / consent page in the variant that
//! `accord_core::install` decides. The page's form posts back here and ends in a 303 to the
//! client's redirect URI with a code, or with an error — and always `iss` (RFC 9207).
//!
//! | route | does |
//! |---|---|
//! | `GET /oauth/authorize[/]` | check the request; sign-in page, or the consent page |
//! | `POST /oauth/authorize/sign-in` | `email` + `password`; a session, then back to the consent page |
//! | `POST /oauth/authorize/decision` | `decision` = `approve` / `deny` / `request_preapproval`, optional `scope`s |
//! | `POST /oauth/authorize/sign-out` | end the session, back to the sign-in page |
//!
//! Until the client and its redirect URI are known to match, errors show an error page and
//! never redirect: redirecting to an unchecked URI would make this an open redirector. After
//! that, errors redirect to the client. Every form carries a CSRF token (`pages::csrf`) and the
//! request itself as signed flow state, which is checked again in full on every post.

use accord_core::apps::{AppKind, AppStatus, Environment};
use accord_core::ids::{AccountId, AppId, Email, Secret};
use accord_core::install::{
    AccountFacts, AppFacts, AuthorizeRefusal, InstallRefusal, UserFacts, check_account_install,
    check_user_authorize,
};
use accord_core::privileges::Privilege;
use accord_core::scopes::Scope;
use accord_core::users::UserStatus;
use accord_store::accounts::Account;
use accord_store::apps::{self as stored_apps, App};
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::tokens::NewCode;
use accord_store::users::User;
use accord_store::{Store, StoreError};
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};

use crate::pages::security::{self, Csp};
use crate::pages::signed::{self, SignedError};
use crate::pages::{Page, PageError, PostedForm, csrf, session};
use crate::state::AppState;

/// The MAC purpose of the flow state, so no other signed value is ever accepted as one.
const FLOW_PURPOSE: &str = "authorize-state";
/// How long a sign-in or consent page stays usable.
const FLOW_SECONDS: i64 = 600;
/// The hidden form field holding the flow state.
const FLOW_FIELD: &str = "flow";

const SIGN_IN_PATH: &str = "/oauth/authorize/sign-in";
const DECISION_PATH: &str = "/oauth/authorize/decision";
const SIGN_OUT_PATH: &str = "/oauth/authorize/sign-out";

/// The authorize routes; every answer carries the page security headers (and no CORS headers).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/authorize/", get(authorize))
        .route(SIGN_IN_PATH, post(sign_in))
        .route(DECISION_PATH, post(decide))
        .route(SIGN_OUT_PATH, post(sign_out))
        .layer(middleware::map_response(security::security_headers))
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

/// The parameters of an authorization request as sent (unknown ones are ignored).
#[derive(Debug, Default)]
struct RequestParams {
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
    fn from_query(query: &str) -> Self {
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
struct FlowState {
    client_id: String,
    redirect_uri: String,
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
            redirect_uri: Some(flow.redirect_uri),
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
struct Authorization {
    app: App,
    environment: Environment,
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<&'static str>,
    /// The `scope` parameter as sent, and the scopes it names (all declared by the app).
    scope_param: Option<String>,
    requested: Option<Vec<Scope>>,
}

impl Authorization {
    /// A development credential set, like a development app, is usable only in the app's
    /// developer account: the install rules see it as a development app.
    fn effective_status(&self) -> AppStatus {
        match self.environment {
            Environment::Development => AppStatus::Development,
            Environment::Production => self.app.status,
        }
    }

    /// The optional scopes this request lets the user choose from.
    fn offered_optional(&self) -> Vec<Scope> {
        self.app
            .optional_scopes
            .iter()
            .copied()
            .filter(|scope| self.requested.as_ref().is_none_or(|r| r.contains(scope)))
            .collect()
    }

    fn flow(&self) -> FlowState {
        FlowState {
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            code_challenge: self.code_challenge.clone(),
            code_challenge_method: self.code_challenge_method.map(str::to_owned),
            scope: self.scope_param.clone(),
        }
    }

    fn seal(&self, state: &AppState) -> String {
        signed::seal(
            state.store().keys(),
            FLOW_PURPOSE,
            state.store().now(),
            &self.flow(),
        )
    }

    /// This request again, as an authorize URL on this server (where a post continues).
    fn authorize_url(&self) -> String {
        let flow = self.flow();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("response_type", "code");
        query.append_pair("client_id", &flow.client_id);
        query.append_pair("redirect_uri", &flow.redirect_uri);
        for (name, value) in [
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

    fn client_error(&self, error: &'static str, description: impl Into<String>) -> ClientError {
        ClientError {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description: description.into(),
        }
    }

    /// The 303 that hands the client its code.
    fn success(&self, issuer: &str, code: &Secret) -> Response {
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
struct ClientError {
    redirect_uri: String,
    state: Option<String>,
    error: &'static str,
    description: String,
}

impl ClientError {
    fn into_response(self, issuer: &str) -> Response {
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
enum Refused {
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
fn see_other(location: &str) -> Response {
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
async fn check_request(state: &AppState, params: &RequestParams) -> Result<Authorization, Refused> {
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
        .ok_or_else(PageError::unavailable)?;
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
        state: params.state.clone(),
        code_challenge,
        code_challenge_method,
        scope_param: scope_param.map(str::to_owned),
        requested,
    })
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

// ---------------------------------------------------------------------------------------------
// Eligibility: decided by accord_core::install only
// ---------------------------------------------------------------------------------------------

/// Why the user cannot add the app, whichever kind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    AdminRequired(Vec<Privilege>),
    PreapprovalRequired,
    Blocked,
    DevelopmentApp,
    UserNotActive,
    WrongKind,
}

impl From<InstallRefusal> for Refusal {
    fn from(refusal: InstallRefusal) -> Self {
        match refusal {
            InstallRefusal::AdminRequired { missing } => Refusal::AdminRequired(missing),
            InstallRefusal::Blocked => Refusal::Blocked,
            InstallRefusal::DevelopmentAppOutsideDeveloperAccount => Refusal::DevelopmentApp,
            InstallRefusal::UserNotActive => Refusal::UserNotActive,
            InstallRefusal::WrongKind => Refusal::WrongKind,
        }
    }
}

impl From<AuthorizeRefusal> for Refusal {
    fn from(refusal: AuthorizeRefusal) -> Self {
        match refusal {
            AuthorizeRefusal::PreapprovalRequired => Refusal::PreapprovalRequired,
            AuthorizeRefusal::Blocked => Refusal::Blocked,
            AuthorizeRefusal::DevelopmentAppOutsideDeveloperAccount => Refusal::DevelopmentApp,
            AuthorizeRefusal::UserNotActive => Refusal::UserNotActive,
            AuthorizeRefusal::WrongKind => Refusal::WrongKind,
        }
    }
}

/// The user's account, and either the scopes the grant would get or why there is none.
struct Eligibility {
    account: Account,
    outcome: Result<Vec<Scope>, Refusal>,
}

/// Loads the facts `accord_core::install` needs and asks it. `accepted_optional` is the optional
/// scopes the user kept (`None`: all that are offered).
async fn eligibility(
    state: &AppState,
    request: &Authorization,
    user: &User,
    accepted_optional: Option<&[Scope]>,
) -> Result<Eligibility, PageError> {
    let store = state.store();
    let account = store.account(user.account_id.as_str()).await?;
    let app_ids = |ids: Vec<String>| -> Vec<AppId> {
        ids.into_iter()
            .filter_map(|id| AppId::parse(id).ok())
            .collect()
    };
    let blocked = app_ids(store.blocked_apps(account.id.as_str()).await?);
    let preapproved = app_ids(
        store
            .preapprovals(account.id.as_str())
            .await?
            .into_iter()
            .filter(|p| p.status == "approved")
            .map(|p| p.app_id)
            .collect(),
    );
    let privileges = store.user_privileges(user.id.as_str()).await?;
    let developer_account = AccountId::parse(request.app.developer_account_id.clone())
        .map_err(|e| PageError::from(StoreError::Corrupt(e.0)))?;
    let app = AppFacts {
        id: &request.app.id,
        kind: request.app.kind,
        status: request.effective_status(),
        developer_account: &developer_account,
        required: &request.app.required_scopes,
        optional: &request.app.optional_scopes,
    };
    let offered = request.offered_optional();
    let user_facts = UserFacts {
        status: user.status,
        is_owner: user.is_owner(),
        privileges,
        accepted_optional: Some(accepted_optional.unwrap_or(&offered)),
    };
    let account_facts = AccountFacts {
        id: &account.id,
        app_approval: account.app_approval,
        blocked_apps: &blocked,
        preapproved_apps: &preapproved,
    };
    let outcome = match request.app.kind {
        AppKind::Account => {
            check_account_install(&app, &user_facts, &account_facts).map_err(Refusal::from)
        }
        AppKind::User | AppKind::Server => {
            check_user_authorize(&app, &user_facts, &account_facts).map_err(Refusal::from)
        }
    };
    Ok(Eligibility { account, outcome })
}

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInTemplate<'a> {
    app_name: &'a str,
    csrf_token: &'a str,
    flow: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

struct ScopeLine {
    scope: &'static str,
    text: String,
}

struct UnavailableScope {
    scope: &'static str,
    text: String,
    privilege: &'static str,
}

enum RefusalView {
    AdminRequired {
        missing: Vec<&'static str>,
    },
    Preapproval {
        requested: bool,
        approvers: Vec<String>,
    },
    Blocked,
    DevelopmentApp,
    UserNotActive,
    WrongKind,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentTemplate<'a> {
    csrf_token: &'a str,
    flow: &'a str,
    app_name: &'a str,
    developer_name: &'a str,
    kind_label: &'static str,
    account_wide: bool,
    account_name: &'a str,
    user_name: String,
    user_email: &'a str,
    signed_in: bool,
    required: Vec<ScopeLine>,
    optional: Vec<ScopeLine>,
    unavailable: Vec<UnavailableScope>,
    refusal: Option<RefusalView>,
}

fn kind_label(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Account => "account-level app",
        AppKind::User => "user-level app",
        AppKind::Server => "Server-to-Server app",
    }
}

fn display_name(user: &User) -> String {
    let name = format!("{} {}", user.first_name, user.last_name);
    match name.trim() {
        "" => user.email.to_string(),
        name => name.to_owned(),
    }
}

/// The active users of an account who may answer a pre-approval request (Marketplace:Edit).
async fn approvers(store: &Store, account_id: &str) -> Result<Vec<String>, PageError> {
    let roles = store.roles(account_id).await?;
    let users = store.users(account_id).await?;
    Ok(users
        .iter()
        .filter(|user| user.status == UserStatus::Active)
        .filter(|user| {
            user.is_owner()
                || roles.iter().any(|role| {
                    role.id == user.role_id && role.privileges.contains(Privilege::MarketplaceEdit)
                })
        })
        .map(display_name)
        .collect())
}

fn sign_in_page(
    request: &Authorization,
    csrf_token: &str,
    flow: &str,
    email: &str,
    error: Option<&str>,
) -> Page {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    Page::new(
        status,
        &SignInTemplate {
            app_name: &request.app.name,
            csrf_token,
            flow,
            email,
            error,
        },
    )
}

/// The consent page for `user`, in the variant the install rules decide.
async fn consent_page(
    state: &AppState,
    request: &Authorization,
    user: &User,
    csrf_token: &str,
    flow: &str,
    signed_in: bool,
) -> Result<Page, PageError> {
    let store = state.store();
    let Eligibility { account, outcome } =
        eligibility(state, request, user, request.requested.as_deref()).await?;
    let developer_name = match store.account(&request.app.developer_account_id).await {
        Ok(developer) => developer.name,
        Err(StoreError::NotFound { .. }) => "an unknown developer".to_owned(),
        Err(error) => return Err(error.into()),
    };
    let line = |scope: Scope| ScopeLine {
        scope: scope.as_str(),
        text: scope.describe(&account.name),
    };
    let required = request
        .app
        .required_scopes
        .iter()
        .copied()
        .map(line)
        .collect();
    let (optional, unavailable, refusal) = match &outcome {
        Ok(granted) => {
            let offered = request.offered_optional();
            let optional = offered
                .iter()
                .copied()
                .filter(|scope| granted.contains(scope))
                .map(line)
                .collect();
            let unavailable = offered
                .iter()
                .copied()
                .filter(|scope| !granted.contains(scope))
                .map(|scope| UnavailableScope {
                    scope: scope.as_str(),
                    text: scope.describe(&account.name),
                    privilege: scope.privilege().as_str(),
                })
                .collect();
            (optional, unavailable, None)
        }
        Err(refusal) => {
            let view = match refusal {
                Refusal::AdminRequired(missing) => RefusalView::AdminRequired {
                    missing: missing.iter().map(|p| p.as_str()).collect(),
                },
                Refusal::PreapprovalRequired => {
                    let requested = store
                        .preapprovals(account.id.as_str())
                        .await?
                        .iter()
                        .any(|p| p.app_id == request.app.id.as_str() && p.status == "requested");
                    RefusalView::Preapproval {
                        requested,
                        approvers: approvers(store, account.id.as_str()).await?,
                    }
                }
                Refusal::Blocked => RefusalView::Blocked,
                Refusal::DevelopmentApp => RefusalView::DevelopmentApp,
                Refusal::UserNotActive => RefusalView::UserNotActive,
                Refusal::WrongKind => RefusalView::WrongKind,
            };
            (Vec::new(), Vec::new(), Some(view))
        }
    };
    let status = match &outcome {
        Ok(_) | Err(Refusal::PreapprovalRequired) => StatusCode::OK,
        Err(_) => StatusCode::FORBIDDEN,
    };
    let page = Page::new(
        status,
        &ConsentTemplate {
            csrf_token,
            flow,
            app_name: &request.app.name,
            developer_name: &developer_name,
            kind_label: kind_label(request.app.kind),
            account_wide: request.app.kind == AppKind::Account,
            account_name: &account.name,
            user_name: display_name(user),
            user_email: user.email.as_str(),
            signed_in,
            required,
            optional,
            unavailable,
            refusal,
        },
    );
    // The decision ends in a redirect to the client, which Chrome checks against form-action.
    Ok(page.with_csp(Csp::with_form_target(&request.redirect_uri)))
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `GET /oauth/authorize`: the sign-in page without a session, else the consent page.
async fn authorize(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Result<Response, Refused> {
    let params = RequestParams::from_query(query.as_deref().unwrap_or(""));
    let request = check_request(&state, &params).await?;
    let flow = request.seal(&state);
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    let page = match session::current_user(&state, &jar).await? {
        None => sign_in_page(&request, &csrf_token, &flow, "", None),
        Some(user) => consent_page(&state, &request, &user, &csrf_token, &flow, true).await?,
    };
    Ok((jar, page).into_response())
}

/// Argon2id is slow on purpose: the check runs on the blocking pool so it never stalls the
/// workers serving other requests.
async fn check_password(
    store: Store,
    email: Email,
    password: Secret,
) -> Result<Option<User>, PageError> {
    let runtime = tokio::runtime::Handle::current();
    let checked = tokio::task::spawn_blocking(move || {
        runtime.block_on(store.check_password(&email, &password))
    })
    .await
    .map_err(|_| PageError::unavailable())?;
    Ok(checked?)
}

/// `POST /oauth/authorize/sign-in`: `email` and `password`. Success starts a session and goes
/// back to the consent page (303); a wrong email or password shows the form again (401) without
/// saying which was wrong.
async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, Refused> {
    let form = PostedForm::parse(&body);
    let (request, flow) = check_post(&state, &headers, &jar, &form).await?;
    let email_text = form.get("email").unwrap_or_default().trim();
    let user = match (Email::parse(email_text), form.get("password")) {
        (Ok(email), Some(password)) => {
            check_password(state.store().clone(), email, Secret::new(password)).await?
        }
        _ => None,
    };
    let (jar, csrf_token) =
        csrf::ensure(jar, state.store().keys(), state.config().secure_cookies());
    let Some(user) = user else {
        let page = sign_in_page(
            &request,
            &csrf_token,
            &flow,
            email_text,
            Some("Wrong email or password."),
        );
        return Ok((jar, page).into_response());
    };
    if user.status != UserStatus::Active {
        // No session for an inactive user; the install rules say what they may not do.
        let page = consent_page(&state, &request, &user, &csrf_token, &flow, false).await?;
        return Ok((jar, page).into_response());
    }
    let jar = session::start(&state, jar, user.id.as_str()).await?;
    Ok((jar, see_other(&request.authorize_url())).into_response())
}

/// `POST /oauth/authorize/sign-out`: ends the session and shows the sign-in page again.
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
            code_challenge: request.code_challenge.as_deref(),
            code_challenge_method: request.code_challenge_method,
            scopes: &scopes,
        })
        .await?;
    Ok(request.success(issuer, &code))
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
