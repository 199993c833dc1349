//! `POST /oauth/token`: the authorization-code (+ PKCE), refresh-token, account-credentials and
//! client-credentials grants, answered in Zoom's shape (`expires_in` a number, `scope` a string,
//! `api_url`) with `Cache-Control: no-store`.

use std::sync::Arc;

use accord_core::apps::AppKind;
use accord_core::grants::{GrantKind, GrantStatus};
use accord_core::permission::resolve_me;
use accord_core::scopes::{Scope, scope_string};
use accord_store::grants::Grant;
use accord_store::tokens::{CodeUse, RedeemedCode, RefreshRefusal, Rotation};
use accord_store::view::{ClientState, GrantState};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::errors::{OAuthError, no_store};
use super::jwt::{AccessClaims, sign};
use super::params::{ClientCredentials, OAuthParams};
use crate::state::AppState;

/// The success body (oauth.md).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// A signed JWT (EdDSA) for `Authorization: Bearer` on the API.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// For the authorization-code and refresh-token grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scopes, separated by spaces.
    pub scope: String,
    /// Where the API the token is for lives.
    pub api_url: String,
}

/// The form `POST /oauth/token` takes (also read from the query string, as Zoom does). The
/// client authenticates with HTTP Basic, or with `client_id` and `client_secret` here; a
/// public client sends only `client_id` and proves itself with PKCE.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form; the handler reads it through `OAuthParams`
pub struct TokenRequest {
    /// `authorization_code`, `refresh_token`, `account_credentials` or `client_credentials`.
    grant_type: String,
    /// For `authorization_code`.
    code: Option<String>,
    /// For `authorization_code`: required, identical, when the authorization request named one;
    /// when it named none (the app's only redirect URI), it may be left out.
    redirect_uri: Option<String>,
    /// For `authorization_code` when the request sent a `code_challenge`.
    code_verifier: Option<String>,
    /// For `refresh_token`.
    refresh_token: Option<String>,
    /// For `account_credentials`: the app's own account.
    account_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        // Written into a buffer sized for it at once: `Json` starts at 128 bytes and grew it
        // several times for every token (a JWT alone is over 500).
        let mut body = Vec::with_capacity(
            self.access_token.len()
                + self.refresh_token.as_ref().map_or(0, String::len)
                + self.scope.len()
                + self.api_url.len()
                + 128,
        );
        if serde_json::to_writer(&mut body, &self).is_err() {
            // Strings and an integer: serialising cannot fail, but never answer half a body.
            return OAuthError::server_error().into_response();
        }
        let mut response = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        no_store(&mut response);
        response
    }
}

#[utoipa::path(
    post, path = "/oauth/token", tag = "OAuth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "OK", body = TokenResponse), crate::openapi::OAuthFailures),
    security((), ("client_basic" = [])),
)]
pub async fn token(
    State(state): State<AppState>,
    params: OAuthParams,
) -> Result<TokenResponse, OAuthError> {
    state
        .ensure_view_fresh()
        .await
        .map_err(|stale| OAuthError::stale_view(&stale))?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("Missing parameter: grant_type"))?;
    let (grant_type, issued) = match grant_type {
        "authorization_code" => (
            "authorization_code",
            authorization_code(&state, &params).await,
        ),
        "refresh_token" => ("refresh_token", refresh_token(&state, &params).await),
        "account_credentials" => (
            "account_credentials",
            server_token(&state, &params, true).await,
        ),
        "client_credentials" => (
            "client_credentials",
            server_token(&state, &params, false).await,
        ),
        _ => return Err(OAuthError::unsupported_grant_type()),
    };
    if issued.is_ok() {
        state.metrics().token_issued(grant_type);
    }
    issued
}

/// Authenticates the client: a confidential client by its secret (constant-time, against every
/// active secret of the credential set), a public client by its id alone (it proves itself with
/// PKCE instead). Failures are throttled per client id and per address (`crate::throttle`): a
/// refused attempt gets 429 `slow_down` without its secret being looked at.
pub async fn authenticate(
    state: &AppState,
    params: &OAuthParams,
) -> Result<(Arc<ClientState>, ClientCredentials), OAuthError> {
    let credentials = params.client()?;
    let attempt = state
        .throttles()
        .client_authentication
        .admit(
            &credentials.client_id,
            params.client_address(),
            state.store().now(),
        )
        .map_err(|refusal| OAuthError::too_many_failures(refusal.retry_after_seconds))?;
    let found = match &credentials.secret {
        Some(secret) => {
            state
                .store()
                .authenticate_client(&credentials.client_id, secret)
                .await?
        }
        None => state
            .store()
            .client(&credentials.client_id)
            .await?
            .filter(|client| client.app.public_client),
    };
    let Some(client) = found else {
        attempt.failed(state.store().now());
        return Err(OAuthError::invalid_client(credentials.basic));
    };
    attempt.succeeded(state.store().now());
    Ok((client, credentials))
}

/// Who `me` is for a grant right now (the installer while still in the account, else the owner).
/// The access view answers without a database read; only an account this process has not seen yet
/// (created a moment ago on another node) falls back to reading the database.
pub async fn grant_me(state: &AppState, grant: &GrantState) -> Result<Option<String>, OAuthError> {
    let view = state.store().view();
    if let Some(me) = view.me(grant) {
        return Ok(Some(me.into_string()));
    }
    let account = state.store().account(&grant.account_id).await?;
    let Some(owner) = account.owner_id else {
        return Ok(None);
    };
    let installer = match &grant.created_by {
        Some(id) => state
            .store()
            .user(id)
            .await
            .ok()
            .filter(|u| u.account_id.as_str() == grant.account_id)
            .map(|u| u.id),
        None => None,
    };
    let authorized = grant
        .user_id
        .as_deref()
        .and_then(|id| accord_core::ids::UserId::parse(id).ok());
    Ok(
        resolve_me(grant.kind, authorized.as_ref(), installer.as_ref(), &owner)
            .map(|u| u.into_string()),
    )
}

/// Signs an access token for a grant and builds the response. `generation` is the one the code or
/// refresh token just validated was issued under — never re-read from the grant, so a
/// re-authorization, code replay or reuse detection that lands between validation and signing
/// cannot lend this token the new generation and let it outlive that revocation. A grant that has
/// moved on (or ended) since is refused.
pub async fn issue(
    state: &AppState,
    grant: &Grant,
    generation: i64,
    client_id: &str,
    scopes: &[Scope],
    refresh_token: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let view = GrantState::from(grant);
    issue_for(
        state,
        &grant.id,
        &view,
        generation,
        client_id,
        scopes,
        refresh_token,
    )
    .await
}

/// [`issue`] for a grant as the access view holds it.
async fn issue_for(
    state: &AppState,
    grant_id: &str,
    grant: &GrantState,
    generation: i64,
    client_id: &str,
    scopes: &[Scope],
    refresh_token: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    if grant.status != GrantStatus::Active || grant.generation != generation {
        return Err(OAuthError::invalid_grant("Invalid Token!"));
    }
    let config = state.config();
    let now = state.store().now();
    let me = grant_me(state, grant).await?;
    let (sub, uid) = match grant.kind {
        GrantKind::Server => (format!("app:{client_id}"), None),
        GrantKind::Installation | GrantKind::Authorization => {
            let me = me.ok_or_else(|| OAuthError::invalid_grant("Invalid Token!"))?;
            (me.clone(), Some(me))
        }
    };
    let iat = now.seconds();
    let exp = iat + config.access_token_seconds;
    let claims = AccessClaims {
        iss: config.issuer.clone(),
        sub,
        aud: config.api_url.clone(),
        client_id: client_id.to_owned(),
        aid: grant.account_id.clone(),
        uid,
        gid: grant_id.to_owned(),
        r#gen: generation,
        scope: scope_string(scopes),
        iat,
        nbf: iat,
        exp,
        jti: accord_store::secrets::new_id(),
    };
    let access_token = sign(state.keys(), &claims, now).ok_or_else(OAuthError::server_error)?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        refresh_token,
        // Whole seconds left until `exp`: 3599 unless issued exactly on a second boundary.
        expires_in: (exp * 1000 - now.millis()) / 1000,
        scope: claims.scope,
        api_url: config.api_url.clone(),
    })
}

fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

/// RFC 7636 §4.6: does the verifier match the stored challenge?
fn pkce_matches(code: &RedeemedCode, verifier: Option<&str>) -> bool {
    match (&code.code_challenge, verifier) {
        (None, None) => true,
        // A verifier without a challenge is a downgrade attempt (RFC 9700).
        (None, Some(_)) | (Some(_), None) => false,
        (Some(challenge), Some(verifier)) => {
            if !is_pkce_value(verifier) {
                return false;
            }
            let computed = match code.code_challenge_method.as_deref() {
                Some("S256") => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
                _ => verifier.to_owned(),
            };
            bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
        }
    }
}

/// RFC 6749 §4.1.3: when the authorization request named a redirect URI the exchange must name
/// the identical one; when it named none (the app's only URI was used), the exchange may name none,
/// or that one.
fn redirect_uri_matches(code: &RedeemedCode, sent: Option<&str>) -> bool {
    match sent {
        Some(uri) => uri == code.redirect_uri,
        None => !code.redirect_uri_given,
    }
}

async fn authorization_code(
    state: &AppState,
    params: &OAuthParams,
) -> Result<TokenResponse, OAuthError> {
    let (client, credentials) = authenticate(state, params).await?;
    let app = &client.app;
    let invalid_code = || OAuthError::invalid_grant("Invalid authorization code");
    let code = params.require("code")?;
    let redeemed = match state.store().take_code(code).await? {
        CodeUse::Fresh(redeemed) => redeemed,
        CodeUse::Replayed | CodeUse::Unknown => return Err(invalid_code()),
    };
    if redeemed.client_id != credentials.client_id || redeemed.expires_at <= state.store().now() {
        return Err(invalid_code());
    }
    if !redirect_uri_matches(&redeemed, params.get("redirect_uri")) {
        return Err(OAuthError::invalid_grant("Invalid redirect uri"));
    }
    if app.public_client && redeemed.code_challenge.is_none() {
        return Err(invalid_code());
    }
    if !pkce_matches(&redeemed, params.get("code_verifier")) {
        return Err(OAuthError::invalid_grant("Invalid code_verifier"));
    }
    // Refused when the grant no longer honours the code's generation (replayed meanwhile,
    // re-authorized, removed).
    let (refresh, grant) = state
        .store()
        .start_refresh_family(&redeemed, state.config().refresh_token_seconds)
        .await?
        .ok_or_else(invalid_code)?;
    issue(
        state,
        &grant,
        redeemed.generation,
        &credentials.client_id,
        &redeemed.scopes,
        Some(refresh.expose().to_owned()),
    )
    .await
}

/// How refresh tokens rotate on this server (also what introspection judges them by).
pub fn rotation(state: &AppState) -> Rotation {
    Rotation {
        refresh_ttl_seconds: state.config().refresh_token_seconds,
        grace_seconds: state.config().refresh_grace_seconds,
    }
}

async fn refresh_token(
    state: &AppState,
    params: &OAuthParams,
) -> Result<TokenResponse, OAuthError> {
    let (_, credentials) = authenticate(state, params).await?;
    let presented = accord_core::ids::Secret::new(params.require("refresh_token")?);
    let rotated = state
        .store()
        .rotate_refresh(&presented, &credentials.client_id, rotation(state))
        .await?
        .map_err(|refusal| {
            if refusal == RefreshRefusal::Reused {
                state.metrics().refresh_reuse();
            }
            OAuthError::invalid_grant("Invalid Token!")
        })?;
    issue(
        state,
        &rotated.grant,
        rotated.generation,
        &credentials.client_id,
        &rotated.scopes,
        Some(rotated.refresh_token.expose().to_owned()),
    )
    .await
}

/// Server-to-Server: `account_credentials` names the account, which must be the app's own;
/// `client_credentials` implies it.
async fn server_token(
    state: &AppState,
    params: &OAuthParams,
    account_named: bool,
) -> Result<TokenResponse, OAuthError> {
    let (client, credentials) = authenticate(state, params).await?;
    let app = &client.app;
    if app.kind != AppKind::Server {
        return Err(OAuthError::unauthorized_client(format!(
            "Only server apps may use this grant type; this is {} app",
            match app.kind {
                AppKind::Account => "an account",
                AppKind::User => "a user",
                AppKind::Server => "a server",
            }
        )));
    }
    if account_named {
        let account_id = params.require("account_id")?;
        if account_id != app.developer_account_id {
            return Err(OAuthError::invalid_request("Account does not exist"));
        }
    }
    // The app's own grant, from the access view; the database only when the view has no active
    // one (activated a moment ago on another node).
    let is_active_server =
        |g: &GrantState| g.kind == GrantKind::Server && g.status == GrantStatus::Active;
    let grant = match state
        .store()
        .view()
        .account_grant(app.id.as_str(), &app.developer_account_id)
        .filter(|(_, g)| is_active_server(g))
    {
        Some(found) => Some(found),
        None => state
            .store()
            .grants_of_app(app.id.as_str())
            .await?
            .iter()
            .map(|g| (g.id.clone(), GrantState::from(g)))
            .find(|(_, g)| g.account_id == app.developer_account_id && is_active_server(g)),
    };
    let (grant_id, grant) = grant
        .ok_or_else(|| OAuthError::invalid_request("The app is not activated in its account"))?;
    issue_for(
        state,
        &grant_id,
        &grant,
        grant.generation,
        &credentials.client_id,
        &grant.scopes,
        None,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(challenge: Option<&str>, method: Option<&str>) -> RedeemedCode {
        RedeemedCode {
            code_hash: vec![],
            grant_id: String::new(),
            generation: 1,
            client_id: String::new(),
            user_id: String::new(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_given: false,
            code_challenge: challenge.map(str::to_owned),
            code_challenge_method: method.map(str::to_owned),
            scopes: vec![],
            expires_at: accord_core::clock::Timestamp(0),
        }
    }

    #[test]
    fn a_redirect_uri_the_request_named_must_be_named_again_identically() {
        let omitted = code(None, None);
        assert!(redirect_uri_matches(&omitted, None));
        assert!(redirect_uri_matches(
            &omitted,
            Some("https://app.example/cb")
        ));
        assert!(!redirect_uri_matches(
            &omitted,
            Some("https://app.example/cb/")
        ));
        let named = RedeemedCode {
            redirect_uri_given: true,
            ..code(None, None)
        };
        assert!(!redirect_uri_matches(&named, None));
        assert!(redirect_uri_matches(&named, Some("https://app.example/cb")));
        assert!(!redirect_uri_matches(
            &named,
            Some("https://app.example/other")
        ));
    }

    #[test]
    fn pkce_follows_rfc7636_and_refuses_downgrades() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(
            &code(Some(challenge), Some("S256")),
            Some(verifier)
        ));
        assert!(!pkce_matches(
            &code(Some(challenge), Some("S256")),
            Some(&verifier.replace('d', "e"))
        ));
        assert!(!pkce_matches(&code(Some(challenge), Some("S256")), None));
        assert!(
            !pkce_matches(&code(None, None), Some(verifier)),
            "a verifier without a challenge is a downgrade"
        );
        assert!(pkce_matches(&code(None, None), None));
        assert!(pkce_matches(
            &code(Some(verifier), Some("plain")),
            Some(verifier)
        ));
        assert!(!pkce_matches(
            &code(Some("short"), Some("plain")),
            Some("short")
        ));
    }
}
