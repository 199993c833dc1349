//! The developer's apps, an Accord extension under `/v2` (the developer console's API): the apps
//! the token's account develops (`GET /apps`), creating one (`POST /apps`, its client secrets
//! and webhook secret token shown once), one app with its grants per account, install links and
//! webhook endpoint (`GET /apps/{appId}`), changing it (`PATCH /apps/{appId}`), and a client
//! secret rotation for a credential set: a new secret beside the old
//! (`POST /apps/{appId}/credentials/{environment}/secret`), then the older one retired
//! (`DELETE` on the same path).
//!
//! The access model is the webhook tools' (`webhook_deliveries.rs`): the tenant step is asked
//! with the app's developer account as the object's account, so another account's token gets
//! exactly what a missing app gets (404, "App does not exist"); reading needs
//! `Marketplace:Read`, changing `Marketplace:Edit` (and the marketplace admin scopes).
//!
//! **What a developer learns about other accounts:** only, per account id that holds an active
//! grant of the app, how many installations, authorizations and server grants it holds there —
//! never a user, a name or a scope choice of that account.
//!
//! Every change goes through the store's app functions (`create`, `update`, `rotate_secret`),
//! which write the audit entry in the developer account; saving a webhook endpoint marks it
//! unvalidated with its URL validation due now, as everywhere else.

use std::collections::BTreeMap;
use std::sync::Arc;

use accord_core::apps::{self as rules, AppKind, AppStatus, Environment};
use accord_core::grants::{GrantKind, GrantStatus};
use accord_core::ids::AccountId;
use accord_core::scopes::check_app_scopes;
use accord_store::StoreError;
use accord_store::apps::{App, AppChange, NewApp, NewCredentials, NewWebhook, ShownOnce};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{ApiDenial, Caller, TokenState, authorize};
use super::handler::{Call, Located, Writing, actor, json, store_error};
use super::webhook_deliveries::{WebhookEndpoint, endpoint_view};
use crate::errors::ApiError;
use crate::state::AppState;

/// One credential set: its client id and redirect allow-list (secrets are never shown again).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialSetView {
    /// `development` or `production`.
    pub environment: String,
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    /// How many client secrets work now (two during a rotation).
    pub active_secrets: i64,
}

/// An app as its developer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    pub id: String,
    pub name: String,
    /// `account`, `user` or `server`.
    pub kind: String,
    /// `development` or `published`.
    pub status: String,
    pub developer_account_id: String,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub credentials: Vec<CredentialSetView>,
    pub created_time: String,
    pub updated_time: String,
}

impl AppView {
    fn new(app: &App) -> Self {
        let names = |scopes: &[accord_core::scopes::Scope]| {
            scopes.iter().map(|s| s.as_str().to_owned()).collect()
        };
        AppView {
            id: app.id.to_string(),
            name: app.name.clone(),
            kind: app.kind.as_str().to_owned(),
            status: app.status.as_str().to_owned(),
            developer_account_id: app.developer_account_id.clone(),
            scopes: names(&app.required_scopes),
            optional_scopes: names(&app.optional_scopes),
            credentials: app
                .credentials
                .iter()
                .map(|set| CredentialSetView {
                    environment: set.environment.as_str().to_owned(),
                    client_id: set.client_id.clone(),
                    redirect_uris: set.redirect_uris.clone(),
                    active_secrets: set.active_secrets,
                })
                .collect(),
            created_time: app.created_at.rfc3339(),
            updated_time: app.updated_at.rfc3339(),
        }
    }
}

/// The answer to `GET /apps`: the apps the token's account develops, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppList {
    pub total_records: usize,
    pub apps: Vec<AppView>,
}

/// The active grants of the app in one account: counts only.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountGrants {
    pub account_id: String,
    pub installations: u32,
    pub authorizations: u32,
    pub server: u32,
}

/// Where a user starts installing or authorizing the app with one credential set.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallLink {
    pub environment: String,
    pub url: String,
}

/// One app in full: the app, its webhook endpoint with its validation state, its active grants
/// per account, and its install links.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppDetails {
    #[serde(flatten)]
    pub app: AppView,
    /// Absent when the app has no endpoint.
    pub webhook: Option<WebhookEndpoint>,
    pub grants: Vec<AccountGrants>,
    /// One per credential set with a redirect URI (server apps have none).
    pub install_links: Vec<InstallLink>,
}

/// A client secret made now, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewClientSecret {
    pub environment: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The answer to a create or a change: the app, and the secrets it generated, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppWithSecrets {
    #[serde(flatten)]
    pub details: AppDetails,
    /// Client secrets generated now (on create: one per credential set).
    pub client_secrets: Vec<NewClientSecret>,
    /// The webhook secret token, when one was generated now.
    pub webhook_secret_token: Option<String>,
}

/// The answer to a client secret rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedClientSecret {
    pub app_id: String,
    #[serde(flatten)]
    pub secret: NewClientSecret,
    /// The older secret keeps working alongside (two at most) until it is retired.
    pub active_secrets: i64,
}

/// Redirect allow-lists per credential set; a set left out keeps its list.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectUris {
    pub production: Option<Vec<String>>,
    pub development: Option<Vec<String>>,
}

impl RedirectUris {
    fn lists(self) -> Vec<(Environment, Vec<String>)> {
        [
            (Environment::Production, self.production),
            (Environment::Development, self.development),
        ]
        .into_iter()
        .filter_map(|(environment, uris)| uris.map(|uris| (environment, uris)))
        .collect()
    }
}

/// The app's webhook endpoint: where events go, and which.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
}

/// The body of `POST /apps`. A new app starts in `development`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppRequest {
    pub name: String,
    /// `account` (installed by an admin, acts for the account), `user` (each user authorizes it;
    /// it acts as that user) or `server` (client credentials, the developer's own account).
    pub kind: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub optional_scopes: Vec<String>,
    #[serde(default)]
    pub redirect_uris: RedirectUris,
    pub webhook: Option<WebhookSettings>,
}

/// The body of `PATCH /apps/{appId}`: what is left out stays.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppChangeRequest {
    pub name: Option<String>,
    /// `development` or `published`; unpublishing ends the app's grants in other accounts.
    pub status: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub optional_scopes: Option<Vec<String>>,
    pub redirect_uris: Option<RedirectUris>,
    /// Saving the endpoint keeps its secret token and makes its URL validation due now.
    pub webhook: Option<WebhookSettings>,
}

/// Asks the rule about a request on an app as its developer: the app's developer account is the
/// object's account, so any other account's token reads it as missing. Returns the app too when
/// the rule allows.
pub(crate) async fn as_developer(
    state: &AppState,
    token: &TokenState,
    endpoint: &'static accord_core::endpoints::Endpoint,
    app_id: &str,
) -> Result<(Caller, Option<App>), ApiDenial> {
    let app = match state.store().app(app_id).await {
        Ok(app) => Some(app),
        Err(StoreError::NotFound { .. }) => None,
        Err(error) => return Err(error.into()),
    };
    let target = Located {
        id: app_id,
        account: app
            .as_ref()
            .and_then(|app| AccountId::parse(app.developer_account_id.clone()).ok()),
        owner: None,
    };
    let caller = authorize(state, token, endpoint, target).await?;
    Ok((caller, app))
}

/// The field errors of a request, gathered so one answer names them all (400, code 300).
#[derive(Default)]
struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    fn check<E: std::fmt::Display>(&mut self, field: impl Into<String>, result: Result<(), E>) {
        if let Err(error) = result {
            self.0.push((field.into(), error.to_string()));
        }
    }

    fn answer(self) -> Result<(), ApiDenial> {
        let mut fields = self.0.into_iter();
        let Some((field, message)) = fields.next() else {
            return Ok(());
        };
        let error = fields.fold(ApiError::validation(field, message), |error, (f, m)| {
            error.with_field_error(f, m)
        });
        Err(error.into())
    }

    fn name(&mut self, name: &str) {
        self.check("name", rules::check_app_name(name).map(|_| ()));
    }

    fn scopes(&mut self, required: &[String], optional: &[String]) {
        if let Err(error) = check_app_scopes(required, optional) {
            let field = error.entry().map_or_else(|| "scopes".into(), |e| e.path());
            self.0.push((field, error.to_string()));
        }
    }

    fn redirect_uris(&mut self, kind: AppKind, lists: &[(Environment, Vec<String>)]) {
        for (environment, uris) in lists {
            let field = format!("redirect_uris.{}", environment.as_str());
            if kind == AppKind::Server && !uris.is_empty() {
                self.0.push((
                    field.clone(),
                    "a server app gets tokens from client credentials and takes no redirect URIs"
                        .into(),
                ));
            }
            for (i, uri) in uris.iter().enumerate() {
                self.check(format!("{field}[{i}]"), rules::check_redirect_uri(uri));
            }
        }
    }

    fn webhook(&mut self, webhook: Option<&WebhookSettings>) {
        let Some(webhook) = webhook else { return };
        self.check("webhook.url", rules::check_webhook_url(&webhook.url));
        for (i, event) in webhook.events.iter().enumerate() {
            self.check(
                format!("webhook.events[{i}]"),
                rules::check_webhook_event(event),
            );
        }
    }
}

/// A parsed enum field, or its field error.
fn parsed<T, E: std::fmt::Display>(
    errors: &mut FieldErrors,
    field: &str,
    result: Result<T, E>,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            errors.0.push((field.to_owned(), error.to_string()));
            None
        }
    }
}

/// The app in full: its webhook endpoint, its active grants per account, its install links.
async fn details(state: &AppState, app: &App) -> Result<AppDetails, ApiDenial> {
    let store = state.store();
    let app_id = app.id.as_str();
    let webhook = match store.webhook_endpoint(app_id).await? {
        Some(endpoint) => Some(endpoint_view(
            endpoint,
            &store.webhook_validations(app_id).await?,
        )),
        None => None,
    };
    let mut grants: BTreeMap<String, AccountGrants> = BTreeMap::new();
    for grant in store.grants_of_app(app_id).await? {
        if grant.status != GrantStatus::Active {
            continue;
        }
        let counts = grants
            .entry(grant.account_id.clone())
            .or_insert_with(|| AccountGrants {
                account_id: grant.account_id.clone(),
                installations: 0,
                authorizations: 0,
                server: 0,
            });
        match grant.kind {
            GrantKind::Installation => counts.installations += 1,
            GrantKind::Authorization => counts.authorizations += 1,
            GrantKind::Server => counts.server += 1,
        }
    }
    Ok(AppDetails {
        app: AppView::new(app),
        webhook,
        grants: grants.into_values().collect(),
        install_links: install_links(&state.config().public_url, app),
    })
}

/// `{public_url}/oauth/authorize?response_type=code&client_id=…&redirect_uri=…`, per credential
/// set with a redirect URI (its first).
fn install_links(public_url: &str, app: &App) -> Vec<InstallLink> {
    if app.kind == AppKind::Server {
        return Vec::new();
    }
    app.credentials
        .iter()
        .filter_map(|set| {
            let redirect_uri = set.redirect_uris.first()?;
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("response_type", "code")
                .append_pair("client_id", &set.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .finish();
            Some(InstallLink {
                environment: set.environment.as_str().to_owned(),
                url: format!(
                    "{}/oauth/authorize?{query}",
                    public_url.trim_end_matches('/')
                ),
            })
        })
        .collect()
}

fn with_secrets(details: AppDetails, shown: ShownOnce) -> AppWithSecrets {
    AppWithSecrets {
        details,
        client_secrets: shown
            .client_secrets
            .iter()
            .map(|(environment, client_id, secret)| NewClientSecret {
                environment: environment.as_str().to_owned(),
                client_id: client_id.clone(),
                client_secret: secret.expose().to_owned(),
            })
            .collect(),
        webhook_secret_token: shown
            .webhook_secret_token
            .as_ref()
            .map(|token| token.expose().to_owned()),
    }
}

/// `GET /apps`: the apps the token's account develops.
#[utoipa::path(
    get, path = "/v2/apps", tag = "Developer",
    responses((status = 200, description = "OK", body = AppList), crate::openapi::Failures),
)]
pub async fn list(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
) -> Result<Json<AppList>, ApiDenial> {
    let caller = authorize(&state, &token, call.endpoint, Located::account_wide(&token)).await?;
    let apps = state
        .store()
        .apps(Some(&caller.grant.account_id))
        .await?
        .iter()
        .map(AppView::new)
        .collect::<Vec<_>>();
    Ok(Json(AppList {
        total_records: apps.len(),
        apps,
    }))
}

/// `POST /apps` → 201: a new app in `development`, developed by the token's account (the acting
/// user is its developer), with both credential sets; the client secrets (and the webhook secret
/// token, with an endpoint) are in this answer only.
#[utoipa::path(
    post, path = "/v2/apps", tag = "Developer",
    request_body = NewAppRequest,
    responses((status = 201, description = "Created; secrets shown this once", body = AppWithSecrets), crate::openapi::Failures),
)]
pub async fn create(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<AppWithSecrets>), ApiDenial> {
    let caller = authorize(&state, &token, call.endpoint, Located::account_wide(&token)).await?;
    let request: NewAppRequest = json(&body)?;
    let mut errors = FieldErrors::default();
    errors.name(&request.name);
    let kind = parsed(&mut errors, "kind", AppKind::parse(&request.kind));
    errors.scopes(&request.scopes, &request.optional_scopes);
    let redirect_uris = request.redirect_uris.lists();
    if let Some(kind) = kind {
        errors.redirect_uris(kind, &redirect_uris);
    }
    errors.webhook(request.webhook.as_ref());
    errors.answer()?;
    let kind = kind.ok_or(ApiDenial::Internal)?;
    let credentials = |environment| NewCredentials {
        redirect_uris: redirect_uris
            .iter()
            .find(|(e, _)| *e == environment)
            .map(|(_, uris)| uris.clone())
            .unwrap_or_default(),
        ..Default::default()
    };
    let new = NewApp {
        id: None,
        name: request.name.clone(),
        kind,
        developer_user_id: caller.me.as_str().to_owned(),
        status: AppStatus::Development,
        required_scopes: request.scopes,
        optional_scopes: request.optional_scopes,
        public_client: false,
        development: credentials(Environment::Development),
        production: credentials(Environment::Production),
        webhook: request.webhook.map(|webhook| NewWebhook {
            url: webhook.url,
            secret_token: None,
            events: webhook.events,
        }),
    };
    let (app, shown) = state
        .store()
        .create_app(&actor(&caller), new)
        .await
        .map_err(|e| store_error(e, Some(Writing::App(&request.name))))?;
    tracing::info!(app = %app.id, "app created through the API");
    let details = details(&state, &app).await?;
    Ok((StatusCode::CREATED, Json(with_secrets(details, shown))))
}

/// `GET /apps/{appId}`: the app, its webhook endpoint with its validation state, its active
/// grants counted per account, and its install links.
#[utoipa::path(
    get, path = "/v2/apps/{appId}", tag = "Developer",
    params(("appId" = String, Path, description = "The app's id")),
    responses((status = 200, description = "OK", body = AppDetails), crate::openapi::Failures),
)]
pub async fn get(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
) -> Result<Json<AppDetails>, ApiDenial> {
    let (_, app) = as_developer(&state, &token, call.endpoint, &app_id).await?;
    let app = app.ok_or(ApiDenial::Internal)?;
    Ok(Json(details(&state, &app).await?))
}

/// `PATCH /apps/{appId}` → 200: name, status (publish / unpublish), scopes, redirect URIs per
/// credential set, webhook endpoint. A webhook endpoint saved keeps its secret token (a first one
/// is generated and shown in this answer) and is validated again before it receives anything.
#[utoipa::path(
    patch, path = "/v2/apps/{appId}", tag = "Developer",
    params(("appId" = String, Path, description = "The app's id")),
    request_body = AppChangeRequest,
    responses((status = 200, description = "Changed", body = AppWithSecrets), crate::openapi::Failures),
)]
pub async fn update(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Result<Json<AppWithSecrets>, ApiDenial> {
    let (caller, app) = as_developer(&state, &token, call.endpoint, &app_id).await?;
    let app = app.ok_or(ApiDenial::Internal)?;
    let request: AppChangeRequest = json(&body)?;
    let mut errors = FieldErrors::default();
    if let Some(name) = &request.name {
        errors.name(name);
    }
    let status = request
        .status
        .as_deref()
        .and_then(|s| parsed(&mut errors, "status", AppStatus::parse(s)));
    if request.scopes.is_some() || request.optional_scopes.is_some() {
        let names = |scopes: &[accord_core::scopes::Scope]| {
            scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        errors.scopes(
            request
                .scopes
                .as_deref()
                .unwrap_or(&names(&app.required_scopes)),
            request
                .optional_scopes
                .as_deref()
                .unwrap_or(&names(&app.optional_scopes)),
        );
    }
    let redirect_uris = request.redirect_uris.unwrap_or_default().lists();
    errors.redirect_uris(app.kind, &redirect_uris);
    errors.webhook(request.webhook.as_ref());
    errors.answer()?;
    let store = state.store();
    let webhook = match request.webhook {
        Some(webhook) => Some(Some(NewWebhook {
            url: webhook.url,
            // The endpoint keeps its token: only a rotation changes it.
            secret_token: store.webhook_secret_token(&app_id).await?,
            events: webhook.events,
        })),
        None => None,
    };
    let change = AppChange {
        name: request.name,
        status,
        required_scopes: request.scopes,
        optional_scopes: request.optional_scopes,
        redirect_uris,
        webhook,
    };
    let (app, shown) = store
        .update_app(&actor(&caller), &app_id, change)
        .await
        .map_err(|e| store_error(e, Some(Writing::App(&app_id))))?;
    tracing::info!(app = %app_id, "app changed through the API");
    let details = details(&state, &app).await?;
    Ok(Json(with_secrets(details, shown)))
}

/// `POST /apps/{appId}/credentials/{environment}/secret` → 201: a new client secret for the
/// credential set, shown this once. The older one keeps working beside it (two at most); a third
/// rotation waits until the older is retired.
#[utoipa::path(
    post, path = "/v2/apps/{appId}/credentials/{environment}/secret", tag = "Developer",
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("environment" = String, Path, description = "`production` or `development`"),
    ),
    responses((status = 201, description = "The new client secret (shown once)", body = RotatedClientSecret), crate::openapi::Failures),
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((app_id, environment)): Path<(String, String)>,
) -> Result<(StatusCode, Json<RotatedClientSecret>), ApiDenial> {
    let (caller, app) = as_developer(&state, &token, call.endpoint, &app_id).await?;
    let app = app.ok_or(ApiDenial::Internal)?;
    let environment = environment_of(&environment)?;
    let store = state.store();
    let secret = store
        .rotate_secret(&actor(&caller), &app_id, environment)
        .await
        .map_err(|e| store_error(e, Some(Writing::App(&app_id))))?;
    let set = app.credential_set(environment);
    tracing::info!(app = %app_id, environment = environment.as_str(), "client secret rotated through the API");
    Ok((
        StatusCode::CREATED,
        Json(RotatedClientSecret {
            app_id,
            secret: NewClientSecret {
                environment: environment.as_str().to_owned(),
                client_id: set.map(|s| s.client_id.clone()).unwrap_or_default(),
                client_secret: secret.expose().to_owned(),
            },
            active_secrets: set.map_or(1, |s| s.active_secrets + 1),
        }),
    ))
}

/// A credential set named in the path, or a validation error naming `environment`.
fn environment_of(name: &str) -> Result<Environment, ApiDenial> {
    Environment::parse(name).map_err(|e| ApiError::validation("environment", e.0).into())
}

/// `DELETE /apps/{appId}/credentials/{environment}/secret` → 204: the oldest client secret of
/// the credential set stops working, once a newer one exists (the end of a rotation).
#[utoipa::path(
    delete, path = "/v2/apps/{appId}/credentials/{environment}/secret", tag = "Developer",
    params(
        ("appId" = String, Path, description = "The app's id"),
        ("environment" = String, Path, description = "`production` or `development`"),
    ),
    responses((status = 204, description = "The older secret is retired"), crate::openapi::Failures),
)]
pub async fn retire_secret(
    State(state): State<AppState>,
    call: Call,
    Extension(token): Extension<Arc<TokenState>>,
    Path((app_id, environment)): Path<(String, String)>,
) -> Result<StatusCode, ApiDenial> {
    let (caller, _) = as_developer(&state, &token, call.endpoint, &app_id).await?;
    let environment = environment_of(&environment)?;
    state
        .store()
        .retire_oldest_secret(&actor(&caller), &app_id, environment)
        .await
        .map_err(|e| store_error(e, Some(Writing::App(&app_id))))?;
    tracing::info!(app = %app_id, environment = environment.as_str(), "older client secret retired through the API");
    Ok(StatusCode::NO_CONTENT)
}
