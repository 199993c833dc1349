//! Apps: kinds, scopes, the two credential sets with their client ids, secrets (keyed hashes
//! only) and redirect allow-lists, webhook settings (secret token encrypted), publishing, and
//! client authentication.

use accord_core::apps::{self as rules, AppKind, AppStatus, Environment, MAX_ACTIVE_SECRETS};
use accord_core::clock::Timestamp;
use accord_core::grants::GrantKind;
use accord_core::ids::{AppId, ClientId, Secret, check_credential};
use accord_core::scopes::{Scope, check_app_scopes};
use serde::Serialize;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::grants::{self, GrantRequest, Matching};
use crate::view::ClientState;
use crate::{Conn, Ctx, Store, rows, secrets, users};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct App {
    pub id: AppId,
    pub name: String,
    pub kind: AppKind,
    pub developer_account_id: String,
    pub developer_user_id: Option<String>,
    pub status: AppStatus,
    pub required_scopes: Vec<Scope>,
    pub optional_scopes: Vec<Scope>,
    pub public_client: bool,
    pub webhook: Option<Webhook>,
    pub credentials: Vec<CredentialSet>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl App {
    pub fn credential_set(&self, environment: Environment) -> Option<&CredentialSet> {
        self.credentials
            .iter()
            .find(|c| c.environment == environment)
    }

    /// Whether `account_id` sees the app at all ([`AppStatus::visible_in`]).
    pub fn visible_in(&self, account_id: &str) -> bool {
        self.status
            .visible_in(&self.developer_account_id, account_id)
    }

    /// Every scope the app declares, required first.
    pub fn all_scopes(&self) -> Vec<Scope> {
        self.required_scopes
            .iter()
            .chain(&self.optional_scopes)
            .copied()
            .collect()
    }
}

/// The webhook settings (the secret token is never part of this view).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub url: String,
    pub events: Vec<String>,
    pub validated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialSet {
    pub environment: Environment,
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub active_secrets: i64,
}

/// One credential set as declared: anything left out is generated.
#[derive(Debug, Clone, Default)]
pub struct NewCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    /// `None` generates one (shown once).
    pub secret_token: Option<Secret>,
    pub events: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewApp {
    pub id: Option<AppId>,
    pub name: String,
    pub kind: AppKind,
    /// The user building the app; their account is the app's developer account.
    pub developer_user_id: String,
    pub status: AppStatus,
    pub required_scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub public_client: bool,
    pub development: NewCredentials,
    pub production: NewCredentials,
    pub webhook: Option<NewWebhook>,
}

/// Secrets generated while creating or changing an app: shown once, never stored in the clear.
#[derive(Debug, Clone, Default)]
pub struct ShownOnce {
    pub client_secrets: Vec<(Environment, String, Secret)>,
    pub webhook_secret_token: Option<Secret>,
}

#[derive(Debug, Clone, Default)]
pub struct AppChange {
    pub name: Option<String>,
    pub status: Option<AppStatus>,
    pub required_scopes: Option<Vec<String>>,
    pub optional_scopes: Option<Vec<String>>,
    pub redirect_uris: Vec<(Environment, Vec<String>)>,
    pub webhook: Option<Option<NewWebhook>>,
}

const COLUMNS: &str = "id, name, kind, developer_account_id, developer_user_id, status, required_scopes, optional_scopes, \
     public_client, webhook_url, webhook_events, webhook_validated_at, created_at, updated_at";

fn scopes_from(row: &AnyRow, column: &str) -> Result<Vec<Scope>> {
    let names: Vec<String> = rows::json(row, column)?;
    names
        .iter()
        .map(|n| Scope::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

async fn from_row(conn: &mut Conn, row: &AnyRow) -> Result<App> {
    let id = rows::parsed(row, "id", AppId::parse)?;
    let webhook = match rows::opt_text(row, "webhook_url")? {
        Some(url) => Some(Webhook {
            url,
            events: rows::json(row, "webhook_events")?,
            validated_at: rows::opt_time(row, "webhook_validated_at")?,
        }),
        None => None,
    };
    let credentials = credential_sets(conn, id.as_str()).await?;
    Ok(App {
        name: rows::text(row, "name")?,
        kind: rows::parsed(row, "kind", |s| AppKind::parse(&s))?,
        developer_account_id: rows::text(row, "developer_account_id")?,
        developer_user_id: rows::opt_text(row, "developer_user_id")?,
        status: rows::parsed(row, "status", |s| AppStatus::parse(&s))?,
        required_scopes: scopes_from(row, "required_scopes")?,
        optional_scopes: scopes_from(row, "optional_scopes")?,
        public_client: rows::flag(row, "public_client")?,
        webhook,
        credentials,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
        id,
    })
}

async fn credential_sets(conn: &mut Conn, app_id: &str) -> Result<Vec<CredentialSet>> {
    let found = sqlx::query(
        "SELECT c.environment, c.client_id, c.redirect_uris, \
         (SELECT COUNT(*) FROM client_secrets s WHERE s.client_id = c.client_id) AS active_secrets \
         FROM app_credentials c WHERE c.app_id = $1 ORDER BY c.environment",
    )
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok(CredentialSet {
                environment: rows::parsed(row, "environment", |s| Environment::parse(&s))?,
                client_id: rows::text(row, "client_id")?,
                redirect_uris: rows::json(row, "redirect_uris")?,
                active_secrets: rows::int(row, "active_secrets")?,
            })
        })
        .collect()
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<App>> {
    let sql = format!("SELECT {COLUMNS} FROM apps WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(from_row(conn, &row).await?)),
        None => Ok(None),
    }
}

pub async fn require(conn: &mut Conn, id: &str) -> Result<App> {
    get(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("app", id))
}

/// The app a client id belongs to, and which credential set it names.
pub async fn by_client_id(conn: &mut Conn, client_id: &str) -> Result<Option<(App, Environment)>> {
    let found: Option<(String, String)> =
        sqlx::query_as("SELECT app_id, environment FROM app_credentials WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((app_id, environment)) = found else {
        return Ok(None);
    };
    let environment = Environment::parse(&environment).map_err(|e| StoreError::Corrupt(e.0))?;
    Ok(Some((require(conn, &app_id).await?, environment)))
}

/// The app a developer account has under this name (names are unique per developer account).
pub async fn by_name(
    conn: &mut Conn,
    developer_account_id: &str,
    name: &str,
) -> Result<Option<App>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM apps WHERE developer_account_id = $1 AND name = $2")
            .bind(developer_account_id)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    match id {
        Some(id) => get(conn, &id).await,
        None => Ok(None),
    }
}

/// Every app, or those a developer account builds.
pub async fn list(conn: &mut Conn, developer_account_id: Option<&str>) -> Result<Vec<App>> {
    let ids: Vec<String> = match developer_account_id {
        Some(account) => {
            sqlx::query_scalar(
                "SELECT id FROM apps WHERE developer_account_id = $1 ORDER BY created_at, id",
            )
            .bind(account)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_scalar("SELECT id FROM apps ORDER BY created_at, id")
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut apps = Vec::with_capacity(ids.len());
    for id in ids {
        apps.push(require(conn, &id).await?);
    }
    Ok(apps)
}

fn check_name(name: &str) -> Result<String> {
    rules::check_app_name(name).map_err(|e| StoreError::Invalid(e.0))
}

fn check_redirect_uris(kind: AppKind, environment: Environment, uris: &[String]) -> Result<()> {
    if kind == AppKind::Server && !uris.is_empty() {
        return Err(StoreError::Invalid(
            "server apps get tokens from client credentials and take no redirect URIs".into(),
        ));
    }
    for (i, uri) in uris.iter().enumerate() {
        rules::check_redirect_uri(uri).map_err(|e| {
            StoreError::Invalid(format!("{} redirect_uris[{i}]: {e}", environment.as_str()))
        })?;
        if uris[..i].contains(uri) {
            return Err(StoreError::Invalid(format!(
                "{} redirect URI {uri} is listed twice",
                environment.as_str()
            )));
        }
    }
    Ok(())
}

fn check_webhook(webhook: &NewWebhook) -> Result<()> {
    rules::check_webhook_url(&webhook.url).map_err(|e| StoreError::Invalid(e.0))?;
    for event in &webhook.events {
        rules::check_webhook_event(event).map_err(|e| StoreError::Invalid(e.0))?;
    }
    if let Some(token) = &webhook.secret_token {
        check_credential("a webhook secret token", token.expose())
            .map_err(|e| StoreError::Invalid(e.0))?;
    }
    Ok(())
}

fn check_scopes(
    kind: AppKind,
    required: &[String],
    optional: &[String],
) -> Result<(Vec<Scope>, Vec<Scope>)> {
    let scopes =
        check_app_scopes(required, optional).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if kind == AppKind::Server && !scopes.optional.is_empty() {
        // Nobody consents to a server app, so nothing is optional: every scope is granted.
        return Ok((
            scopes.required.into_iter().chain(scopes.optional).collect(),
            Vec::new(),
        ));
    }
    Ok((scopes.required, scopes.optional))
}

pub(crate) async fn insert_secret(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    client_id: &str,
    secret: &Secret,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, serial, created_at) \
         VALUES ($1, $2, $3, (SELECT COALESCE(MAX(serial), 0) + 1 FROM client_secrets WHERE client_id = $2), $4)",
    )
    .bind(secrets::new_id())
    .bind(client_id)
    .bind(ctx.keys.hash_secret(secret.expose()))
    .bind(ctx.now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The app a credential set is created for.
#[derive(Clone, Copy)]
struct CredentialOwner<'a> {
    app_id: &'a str,
    kind: AppKind,
    public_client: bool,
}

async fn insert_credentials(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    owner: &CredentialOwner<'_>,
    environment: Environment,
    new: NewCredentials,
    shown: &mut ShownOnce,
) -> Result<()> {
    let CredentialOwner {
        app_id,
        kind,
        public_client,
    } = *owner;
    check_redirect_uris(kind, environment, &new.redirect_uris)?;
    let client_id = match new.client_id {
        Some(id) => ClientId::parse(id)
            .map_err(|e| {
                StoreError::Invalid(format!("{} client_id: {}", environment.as_str(), e.0))
            })?
            .to_string(),
        None => secrets::new_client_id(),
    };
    let taken: Option<String> =
        sqlx::query_scalar("SELECT app_id FROM app_credentials WHERE client_id = $1")
            .bind(&client_id)
            .fetch_optional(&mut *conn)
            .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "client id {client_id} is already used by another credential set"
        )));
    }
    sqlx::query("INSERT INTO app_credentials (client_id, app_id, environment, redirect_uris, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
        .bind(&client_id)
        .bind(app_id)
        .bind(environment.as_str())
        .bind(rows::to_json(&new.redirect_uris))
        .bind(ctx.now.millis())
        .execute(&mut *conn)
        .await?;
    match (public_client, new.client_secret) {
        (true, Some(_)) => {
            return Err(StoreError::Invalid(
                "a public client has no client secret (it uses PKCE instead)".into(),
            ));
        }
        (true, None) => {}
        (false, Some(secret)) => {
            check_credential("a client secret", secret.expose()).map_err(|e| {
                StoreError::Invalid(format!("{} client_secret: {}", environment.as_str(), e.0))
            })?;
            insert_secret(conn, ctx, &client_id, &secret).await?;
        }
        (false, None) => {
            let secret = secrets::new_secret();
            insert_secret(conn, ctx, &client_id, &secret).await?;
            shown.client_secrets.push((environment, client_id, secret));
        }
    }
    Ok(())
}

async fn set_webhook(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    app_id: &str,
    webhook: Option<NewWebhook>,
    shown: &mut ShownOnce,
) -> Result<()> {
    match webhook {
        Some(webhook) => {
            check_webhook(&webhook)?;
            let token = match webhook.secret_token {
                Some(token) => token,
                None => {
                    let token = secrets::new_secret();
                    shown.webhook_secret_token = Some(token.clone());
                    token
                }
            };
            sqlx::query("UPDATE apps SET webhook_url = $1, webhook_secret = $2, webhook_events = $3, webhook_validated_at = NULL, \
                 webhook_validation_due_at = $4, webhook_validation_error = NULL, updated_at = $4 WHERE id = $5")
                .bind(&webhook.url)
                .bind(ctx.keys.encrypt(token.expose().as_bytes()))
                .bind(rows::to_json(&webhook.events))
                .bind(ctx.now.millis())
                .bind(app_id)
                .execute(&mut *conn)
                .await?;
        }
        None => {
            sqlx::query("UPDATE apps SET webhook_url = NULL, webhook_secret = NULL, webhook_events = '[]', webhook_validated_at = NULL, \
                 webhook_validation_due_at = NULL, webhook_validation_error = NULL, updated_at = $1 WHERE id = $2")
                .bind(ctx.now.millis())
                .bind(app_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The webhook secret token, decrypted (for signing deliveries and checking seeds).
pub async fn webhook_secret_token(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    app_id: &str,
) -> Result<Option<Secret>> {
    let sealed: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT webhook_secret FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_optional(&mut *conn)
            .await?;
    match sealed.flatten() {
        Some(sealed) => {
            let plain = ctx.keys.decrypt(&sealed)?;
            let text = String::from_utf8(plain.to_vec())
                .map_err(|_| StoreError::Corrupt("a webhook secret token is not text".into()))?;
            Ok(Some(Secret::new(text)))
        }
        None => Ok(None),
    }
}

/// Creates an app with both credential sets. A `server` app is activated at once: its server
/// grant in the developer account exists when this returns.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    new: NewApp,
) -> Result<(App, ShownOnce)> {
    let name = check_name(&new.name)?;
    let developer = users::require(conn, &new.developer_user_id).await?;
    let account_id = developer.account_id.as_str().to_owned();
    let (required, optional) = check_scopes(new.kind, &new.required_scopes, &new.optional_scopes)?;
    if new.public_client && new.kind == AppKind::Server {
        return Err(StoreError::Invalid(
            "a server app authenticates with its client secret and cannot be a public client"
                .into(),
        ));
    }
    if by_name(conn, &account_id, &name).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "the developer account already has an app named {name:?}"
        )));
    }
    let id = match new.id {
        Some(id) => {
            if get(conn, id.as_str()).await?.is_some() {
                return Err(StoreError::Conflict(format!("app id {id} already exists")));
            }
            id
        }
        None => AppId::parse(secrets::new_id()).map_err(|e| StoreError::Invalid(e.0))?,
    };
    let names =
        |scopes: &[Scope]| rows::to_json(&scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    sqlx::query(
        "INSERT INTO apps (id, name, kind, developer_account_id, developer_user_id, status, required_scopes, optional_scopes, \
         public_client, webhook_events, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '[]', $10, $10)",
    )
    .bind(id.as_str())
    .bind(&name)
    .bind(new.kind.as_str())
    .bind(&account_id)
    .bind(developer.id.as_str())
    .bind(new.status.as_str())
    .bind(names(&required))
    .bind(names(&optional))
    .bind(i64::from(new.public_client))
    .bind(ctx.now.millis())
    .execute(&mut *conn)
    .await?;
    let mut shown = ShownOnce::default();
    let owner = CredentialOwner {
        app_id: id.as_str(),
        kind: new.kind,
        public_client: new.public_client,
    };
    for (environment, credentials) in [
        (Environment::Development, new.development),
        (Environment::Production, new.production),
    ] {
        insert_credentials(conn, ctx, &owner, environment, credentials, &mut shown).await?;
    }
    if new.webhook.is_some() {
        set_webhook(conn, ctx, id.as_str(), new.webhook, &mut shown).await?;
    }
    audit::record(conn, ctx, Entry {
        account_id: &account_id,
        actor,
        action: "app.created",
        target_kind: "app",
        target_id: id.as_str(),
        details: serde_json::json!({"name": name, "kind": new.kind.as_str(), "status": new.status.as_str()}),
    })
    .await?;
    if new.kind == AppKind::Server {
        activate_server_app(conn, ctx, actor, id.as_str()).await?;
    }
    Ok((require(conn, id.as_str()).await?, shown))
}

/// Creates (or re-activates) a server app's grant in its developer account.
pub async fn activate_server_app(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    app_id: &str,
) -> Result<grants::Grant> {
    let app = require(conn, app_id).await?;
    if app.kind != AppKind::Server {
        return Err(StoreError::Invalid(format!(
            "app {} is a {} app; only server apps are activated",
            app.id, app.kind
        )));
    }
    let scopes = app.all_scopes();
    grants::upsert(
        conn,
        ctx,
        actor,
        GrantRequest {
            kind: GrantKind::Server,
            app_id,
            account_id: &app.developer_account_id,
            user_id: None,
            created_by: app.developer_user_id.as_deref(),
            scopes: &scopes,
        },
    )
    .await
}

/// Applies a change. Unpublishing ends the app's grants outside its developer account.
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &str,
    change: AppChange,
) -> Result<(App, ShownOnce)> {
    let current = require(conn, id).await?;
    let mut shown = ShownOnce::default();
    let mut changed: Vec<&str> = Vec::new();
    let name = change
        .name
        .as_deref()
        .map(check_name)
        .transpose()?
        .unwrap_or_else(|| current.name.clone());
    if name != current.name {
        if by_name(conn, &current.developer_account_id, &name)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "the developer account already has an app named {name:?}"
            )));
        }
        changed.push("name");
    }
    let status = change.status.unwrap_or(current.status);
    if status != current.status {
        changed.push("status");
    }
    let as_names = |v: &[Scope]| v.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>();
    let required = change
        .required_scopes
        .unwrap_or_else(|| as_names(&current.required_scopes));
    let optional = change
        .optional_scopes
        .unwrap_or_else(|| as_names(&current.optional_scopes));
    let (required, optional) = check_scopes(current.kind, &required, &optional)?;
    if required != current.required_scopes || optional != current.optional_scopes {
        changed.push("scopes");
    }
    let names =
        |scopes: &[Scope]| rows::to_json(&scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    if !changed.is_empty() {
        sqlx::query("UPDATE apps SET name = $1, status = $2, required_scopes = $3, optional_scopes = $4, updated_at = $5 WHERE id = $6")
            .bind(&name)
            .bind(status.as_str())
            .bind(names(&required))
            .bind(names(&optional))
            .bind(ctx.now.millis())
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    for (environment, uris) in change.redirect_uris {
        check_redirect_uris(current.kind, environment, &uris)?;
        let set = current.credential_set(environment).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "app {id} has no {} credentials",
                environment.as_str()
            ))
        })?;
        if set.redirect_uris != uris {
            sqlx::query("UPDATE app_credentials SET redirect_uris = $1, updated_at = $2 WHERE client_id = $3")
                .bind(rows::to_json(&uris))
                .bind(ctx.now.millis())
                .bind(&set.client_id)
                .execute(&mut *conn)
                .await?;
            changed.push("redirect_uris");
        }
    }
    if let Some(webhook) = change.webhook {
        set_webhook(conn, ctx, id, webhook, &mut shown).await?;
        changed.push("webhook");
    }
    if changed.is_empty() {
        return Ok((current, shown));
    }
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: &current.developer_account_id,
            actor,
            action: "app.updated",
            target_kind: "app",
            target_id: id,
            details: serde_json::json!({"changed": changed, "status": status.as_str()}),
        },
    )
    .await?;
    if current.status == AppStatus::Published && status == AppStatus::Development {
        grants::revoke_matching(
            conn,
            ctx,
            actor,
            Matching::AppOutsideAccount {
                app_id: id,
                account_id: &current.developer_account_id,
            },
            "app unpublished",
        )
        .await?;
    }
    Ok((require(conn, id).await?, shown))
}

/// Adds a new client secret to a credential set (at most two active, for rotation). The new
/// secret is returned once.
pub async fn rotate_secret(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &str,
    environment: Environment,
) -> Result<Secret> {
    let app = require(conn, id).await?;
    if app.public_client {
        return Err(StoreError::Invalid(
            "a public client has no client secret to rotate".into(),
        ));
    }
    let set = app.credential_set(environment).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "app {id} has no {} credentials",
            environment.as_str()
        ))
    })?;
    if set.active_secrets >= MAX_ACTIVE_SECRETS as i64 {
        return Err(StoreError::Invalid(format!(
            "the {} credentials already have {MAX_ACTIVE_SECRETS} active secrets; retire the older one first",
            environment.as_str()
        )));
    }
    let secret = secrets::new_secret();
    insert_secret(conn, ctx, &set.client_id, &secret).await?;
    audit::record(conn, ctx, Entry {
        account_id: &app.developer_account_id,
        actor,
        action: "app.secret_rotated",
        target_kind: "app",
        target_id: id,
        details: serde_json::json!({"environment": environment.as_str(), "client_id": set.client_id}),
    })
    .await?;
    Ok(secret)
}

/// Replaces an app's webhook secret token with a generated one, returned once. The endpoint must
/// prove it knows the new token before it receives anything more: it is marked unvalidated and
/// its URL validation due now (the delivery worker, in whichever process, picks it up). Audited in
/// the developer account, without the token.
pub async fn rotate_webhook_secret(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &str,
) -> Result<Secret> {
    let app = require(conn, id).await?;
    if app.webhook.is_none() {
        return Err(StoreError::Invalid(
            "the app has no webhook endpoint: set one first".into(),
        ));
    }
    let token = secrets::new_secret();
    sqlx::query(
        "UPDATE apps SET webhook_secret = $1, webhook_validated_at = NULL,          webhook_validation_due_at = $2, webhook_validation_error = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(ctx.keys.encrypt(token.expose().as_bytes()))
    .bind(ctx.now.millis())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: &app.developer_account_id,
            actor,
            action: "app.webhook_secret_rotated",
            target_kind: "app",
            target_id: id,
            details: serde_json::json!({}),
        },
    )
    .await?;
    Ok(token)
}

/// Retires the oldest secret of a credential set once a newer one exists.
pub async fn retire_oldest_secret(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &str,
    environment: Environment,
) -> Result<()> {
    let app = require(conn, id).await?;
    let set = app.credential_set(environment).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "app {id} has no {} credentials",
            environment.as_str()
        ))
    })?;
    if set.active_secrets < 2 {
        return Err(StoreError::Invalid(format!(
            "the {} credentials have only one secret; rotate first",
            environment.as_str()
        )));
    }
    let oldest: String =
        sqlx::query_scalar("SELECT id FROM client_secrets WHERE client_id = $1 ORDER BY serial")
            .bind(&set.client_id)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM client_secrets WHERE id = $1")
        .bind(&oldest)
        .execute(&mut *conn)
        .await?;
    audit::record(conn, ctx, Entry {
        account_id: &app.developer_account_id,
        actor,
        action: "app.secret_retired",
        target_kind: "app",
        target_id: id,
        details: serde_json::json!({"environment": environment.as_str(), "client_id": set.client_id}),
    })
    .await
}

/// Deletes an app: every grant of it ends, then its credentials and the app itself go.
pub async fn delete(conn: &mut Conn, ctx: &Ctx<'_>, actor: &Actor, id: &str) -> Result<()> {
    let app = require(conn, id).await?;
    grants::revoke_matching(conn, ctx, actor, Matching::App(id), "app deleted").await?;
    for sql in [
        "DELETE FROM authorization_codes WHERE grant_id IN (SELECT id FROM grants WHERE app_id = $1)",
        "DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE app_id = $1)",
        "DELETE FROM grants WHERE app_id = $1",
        "DELETE FROM app_preapprovals WHERE app_id = $1",
        "DELETE FROM blocked_apps WHERE app_id = $1",
        "DELETE FROM client_secrets WHERE client_id IN (SELECT client_id FROM app_credentials WHERE app_id = $1)",
        "DELETE FROM app_credentials WHERE app_id = $1",
        "DELETE FROM apps WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: &app.developer_account_id,
            actor,
            action: "app.deleted",
            target_kind: "app",
            target_id: id,
            details: serde_json::json!({"name": app.name}),
        },
    )
    .await
}

/// A client as stored: its app, the credential set its id names and that set's secret hashes.
pub async fn client(conn: &mut Conn, client_id: &str) -> Result<Option<ClientState>> {
    let Some((app, environment)) = by_client_id(conn, client_id).await? else {
        return Ok(None);
    };
    let secret_hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT secret_hash FROM client_secrets WHERE client_id = $1")
            .bind(client_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Some(ClientState {
        app,
        environment,
        secret_hashes,
    }))
}

/// Checks a secret against a client's secret hashes: constant-time against every one of them,
/// and an unknown client (no hashes) costs the same as a wrong secret.
pub fn secret_matches(ctx: &Ctx<'_>, secret: &Secret, hashes: &[Vec<u8>]) -> bool {
    let mut matched = false;
    for hash in hashes {
        matched |= ctx.keys.secret_matches(secret.expose(), hash);
    }
    if hashes.is_empty() {
        // Same work as a real check, result ignored.
        let _ = ctx.keys.secret_matches(secret.expose(), &[0u8; 32]);
    }
    matched
}

impl Store {
    pub async fn create_app(&self, actor: &Actor, new: NewApp) -> Result<(App, ShownOnce)> {
        let mut tx = self.begin().await?;
        let created = create(&mut tx, &self.ctx(), actor, new).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    pub async fn app(&self, id: &str) -> Result<App> {
        let mut conn = self.pool().acquire().await?;
        require(&mut conn, id).await
    }

    /// An app by its id or by one of its client ids.
    pub async fn find_app(&self, id_or_client_id: &str) -> Result<App> {
        let mut conn = self.pool().acquire().await?;
        if let Some(app) = get(&mut conn, id_or_client_id).await? {
            return Ok(app);
        }
        by_client_id(&mut conn, id_or_client_id)
            .await?
            .map(|(app, _)| app)
            .ok_or_else(|| StoreError::not_found("app", id_or_client_id))
    }

    pub async fn apps(&self, developer_account_id: Option<&str>) -> Result<Vec<App>> {
        let mut conn = self.pool().acquire().await?;
        list(&mut conn, developer_account_id).await
    }

    pub async fn update_app(
        &self,
        actor: &Actor,
        id: &str,
        change: AppChange,
    ) -> Result<(App, ShownOnce)> {
        let mut tx = self.begin().await?;
        let updated = update(&mut tx, &self.ctx(), actor, id, change).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        id: &str,
        environment: Environment,
    ) -> Result<Secret> {
        let mut tx = self.begin().await?;
        let secret = rotate_secret(&mut tx, &self.ctx(), actor, id, environment).await?;
        self.commit(tx).await?;
        Ok(secret)
    }

    pub async fn retire_oldest_secret(
        &self,
        actor: &Actor,
        id: &str,
        environment: Environment,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        retire_oldest_secret(&mut tx, &self.ctx(), actor, id, environment).await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// Rotates the webhook secret token (see [`rotate_webhook_secret`]); the new one is returned
    /// once.
    pub async fn rotate_webhook_secret(&self, actor: &Actor, id: &str) -> Result<Secret> {
        let mut tx = self.begin().await?;
        let token = rotate_webhook_secret(&mut tx, &self.ctx(), actor, id).await?;
        self.commit(tx).await?;
        Ok(token)
    }

    /// Creates or re-activates a server app's grant in its developer account.
    pub async fn activate_server_app(&self, actor: &Actor, id: &str) -> Result<grants::Grant> {
        let mut tx = self.begin().await?;
        let grant = activate_server_app(&mut tx, &self.ctx(), actor, id).await?;
        self.commit(tx).await?;
        Ok(grant)
    }

    pub async fn delete_app(&self, actor: &Actor, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        delete(&mut tx, &self.ctx(), actor, id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// Checks a client id and secret ([`secret_matches`]) against the client the access view
    /// remembers, reading it from the database only the first time after a change to its app.
    /// Answers with the view's own entry (no copy of the app: the token endpoint's hot path).
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &Secret,
    ) -> Result<Option<Arc<ClientState>>> {
        let client = self.client(client_id).await?;
        let hashes = client.as_ref().map_or(&[][..], |c| &c.secret_hashes[..]);
        if !secret_matches(&self.ctx(), secret, hashes) {
            return Ok(None);
        }
        Ok(client)
    }

    /// A client by its id, from the access view when it remembers it (see [`crate::view`]),
    /// else read and remembered (also as unknown).
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientState>>> {
        let ticket = match self.view().client(client_id) {
            Ok(client) => return Ok(client),
            Err(ticket) => ticket,
        };
        let mut conn = self.pool().acquire().await?;
        let found = client(&mut conn, client_id).await?.map(Arc::new);
        self.view()
            .remember_client(client_id, ticket, found.clone());
        Ok(found)
    }

    pub async fn webhook_secret_token(&self, app_id: &str) -> Result<Option<Secret>> {
        let mut conn = self.pool().acquire().await?;
        webhook_secret_token(&mut conn, &self.ctx(), app_id).await
    }
}
