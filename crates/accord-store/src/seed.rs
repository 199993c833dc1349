//! Declarative fixtures: `accord seed FILE` (and `serve --seed`, and the built-in demo).
//!
//! A seed file declares accounts (roles, users, assistant pairs) and apps; applying it converges
//! the database to it in **one transaction**. Applying the same file twice changes nothing:
//! existing objects are matched by id, else by their natural key (account name, role name, user
//! email within its account, app name in its developer account), and only fields that differ are
//! written. An email may be a user of several accounts, so an app's `developer` given as an email
//! must name one user: see [`resolve_developer`]. Secrets
//! given in the file are checked against the stored hashes rather than re-hashed. Errors name the
//! file, the JSON path and the problem, and nothing is applied.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use accord_core::apps::{AppApproval, AppKind, AppStatus, Environment};
use accord_core::ids::{
    AccountId, AppId, ClientId, Email, RoleId, Secret, UserId, check_credential,
};
use accord_core::names::TimeZoneName;
use accord_core::privileges::{Privilege, PrivilegeSet};
use accord_core::roles::BuiltinRole;
use accord_core::scopes::check_app_scopes;
use accord_core::users::{UserStatus, UserType};
use serde::Deserialize;

use crate::apps::{self, AppChange, NewApp, NewCredentials, NewWebhook};
use crate::audit::Actor;
use crate::error::StoreError;
use crate::roles::{NewRole, RoleChange};
use crate::users::{Creation, NewUser, UserChange};
use crate::{Conn, Ctx, Store, accounts, assistants, grants, roles, users};

/// The seed file, exactly the shape in operations.md. Unknown fields are refused (a typo would
/// otherwise be silently ignored).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default)]
    pub accounts: Vec<SeedAccount>,
    #[serde(default)]
    pub apps: Vec<SeedApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAccount {
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub app_approval: Option<String>,
    /// The account's own rate limits (`{"light": {"per_second": 50}}`): when present, exactly
    /// these (the rest back to their defaults, `{}` clears all); when absent, left as they are.
    #[serde(default)]
    pub rate_limits: Option<accord_core::rate_limits::RateLimits>,
    #[serde(default)]
    pub roles: Vec<SeedRole>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub assistants: Vec<SeedAssistant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRole {
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub privileges: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub id: Option<String>,
    pub email: String,
    pub password: Option<Secret>,
    /// `owner`, `admin`, `member` (default) or a custom role's id.
    pub role: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(rename = "type")]
    pub user_type: Option<i64>,
    pub timezone: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAssistant {
    /// The user whose meetings the assistant manages (email or id).
    pub user: String,
    pub assistant: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApp {
    pub id: Option<String>,
    pub name: String,
    pub kind: String,
    /// Email or id of the user whose account develops the app.
    pub developer: String,
    /// The account (id or name) of `developer`, needed only when that email is a user of several
    /// accounts.
    pub developer_account: Option<String>,
    pub status: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub optional_scopes: Vec<String>,
    #[serde(default)]
    pub credentials: SeedCredentialSets,
    #[serde(default)]
    pub public_client: bool,
    pub webhook: Option<SeedWebhook>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SeedCredentialSets {
    pub development: Option<SeedCredentials>,
    pub production: Option<SeedCredentials>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedWebhook {
    pub url: String,
    pub secret_token: Option<Secret>,
    #[serde(default)]
    pub events: Vec<String>,
}

/// A refused seed file: which file, where in it, and what is wrong.
#[derive(Debug)]
pub struct SeedError {
    pub file: String,
    /// JSON path, e.g. `$.accounts[0].users[1].role`.
    pub path: String,
    pub problem: String,
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.problem)
    }
}

impl std::error::Error for SeedError {}

/// What applying a seed file did.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Generated secrets (passwords, client secrets, webhook tokens): print once, never stored in clear.
    pub shown_once: Vec<(String, Secret)>,
    /// Ids of what the file declares, for printing (account name → id, app name → id, …).
    pub apps: Vec<SeededApp>,
}

impl SeedReport {
    pub fn changed_nothing(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty()
    }
}

/// An app as seeded: enough to print its credentials and install link.
#[derive(Debug, Clone)]
pub struct SeededApp {
    pub id: String,
    pub name: String,
    pub kind: AppKind,
    pub developer_account_id: String,
    pub credentials: Vec<apps::CredentialSet>,
}

impl SeededApp {
    pub fn credential_set(&self, environment: Environment) -> Option<&apps::CredentialSet> {
        self.credentials
            .iter()
            .find(|c| c.environment == environment)
    }
}

/// Parses a seed file's text. Type errors carry the JSON path of the offending value.
pub fn parse(file: &str, text: &str) -> Result<SeedFile, SeedError> {
    // PostgreSQL refuses a NUL character in text; say where it is instead of failing mid-apply.
    if text.contains("\\u0000")
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(path) = accord_core::input::nul_in_json(&value)
    {
        return Err(SeedError {
            file: file.to_owned(),
            path: json_path(&path),
            problem: "must not contain the NUL character (\\u0000)".into(),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let problem = inner.to_string();
        // serde_json appends " at line L column C"; keep it, it helps find the spot.
        SeedError {
            file: file.to_owned(),
            path: json_path(&path),
            problem,
        }
    })
}

fn json_path(serde_path: &str) -> String {
    if serde_path.is_empty() || serde_path == "." {
        "$".to_owned()
    } else {
        format!("$.{serde_path}")
    }
}

/// Reads and parses a seed file from disk.
pub fn read(path: &Path) -> Result<SeedFile, SeedError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SeedError {
        file: file.clone(),
        path: "$".into(),
        problem: format!("cannot read the file: {e}"),
    })?;
    parse(&file, &text)
}

/// Builds errors that carry the file name.
struct Errors<'a> {
    file: &'a str,
}

impl Errors<'_> {
    fn at(&self, path: impl Into<String>, problem: impl fmt::Display) -> SeedError {
        SeedError {
            file: self.file.to_owned(),
            path: path.into(),
            problem: problem.to_string(),
        }
    }
}

/// Resolves a role keyword or custom id to a role id within an account.
fn role_id_for(keyword: &str, custom: &HashSet<String>) -> Option<RoleId> {
    if let Some(builtin) = BuiltinRole::from_keyword(keyword) {
        return Some(builtin.role_id());
    }
    if custom.contains(keyword) {
        RoleId::parse(keyword).ok()
    } else {
        None
    }
}

/// Everything that can be checked without the database, with paths. Catches most mistakes before
/// a transaction even starts.
fn validate(errors: &Errors<'_>, seed: &SeedFile) -> Result<(), SeedError> {
    for (a, account) in seed.accounts.iter().enumerate() {
        let at = format!("$.accounts[{a}]");
        if let Some(id) = &account.id {
            AccountId::parse(id.clone()).map_err(|e| errors.at(format!("{at}.id"), e))?;
        }
        if account.name.trim().is_empty() {
            return Err(errors.at(format!("{at}.name"), "an account needs a name"));
        }
        if let Some(policy) = &account.app_approval {
            AppApproval::parse(policy).map_err(|e| errors.at(format!("{at}.app_approval"), e))?;
        }
        let mut custom = HashSet::new();
        for (r, role) in account.roles.iter().enumerate() {
            let rat = format!("{at}.roles[{r}]");
            let id = role.id.clone().unwrap_or_else(|| role.name.clone());
            if let Some(id) = &role.id {
                RoleId::parse(id.clone()).map_err(|e| errors.at(format!("{rat}.id"), e))?;
                if BuiltinRole::from_id(id).is_some() || BuiltinRole::from_keyword(id).is_some() {
                    return Err(errors.at(
                        format!("{rat}.id"),
                        format!("{id:?} is reserved for a built-in role"),
                    ));
                }
            }
            for (p, name) in role.privileges.iter().enumerate() {
                name.parse::<Privilege>()
                    .map_err(|e| errors.at(format!("{rat}.privileges[{p}]"), e))?;
            }
            if !custom.insert(id.clone()) {
                return Err(errors.at(
                    format!("{rat}.id"),
                    format!("role {id:?} is declared twice"),
                ));
            }
        }
        let mut owners = 0;
        let mut emails = HashMap::new();
        let mut account_emails = HashSet::new();
        for (u, user) in account.users.iter().enumerate() {
            let uat = format!("{at}.users[{u}]");
            let email = Email::parse(user.email.clone())
                .map_err(|e| errors.at(format!("{uat}.email"), e))?;
            if let Some(previous) = emails.insert(email.key(), uat.clone()) {
                return Err(errors.at(format!("{uat}.email"), format!("{email} is already declared at {previous} (emails are unique within an account)")));
            }
            account_emails.insert(email.key());
            if let Some(id) = &user.id {
                UserId::parse(id.clone()).map_err(|e| errors.at(format!("{uat}.id"), e))?;
                account_emails.insert(id.clone());
            }
            let keyword = user.role.as_deref().unwrap_or("member");
            let role = role_id_for(keyword, &custom).ok_or_else(|| {
                let mut known = vec!["owner".to_owned(), "admin".to_owned(), "member".to_owned()];
                known.extend(custom.iter().cloned());
                errors.at(
                    format!("{uat}.role"),
                    format!("unknown role {keyword:?}: use one of {}", known.join(", ")),
                )
            })?;
            if role.is_owner() {
                owners += 1;
                if owners > 1 {
                    return Err(errors.at(format!("{uat}.role"), "an account has exactly one owner, and another user here is already \"owner\""));
                }
            }
            if let Some(t) = user.user_type {
                UserType::try_from(t).map_err(|e| errors.at(format!("{uat}.type"), e))?;
            }
            if let Some(tz) = &user.timezone {
                TimeZoneName::parse(tz).map_err(|e| errors.at(format!("{uat}.timezone"), e))?;
            }
            if let Some(status) = &user.status
                && UserStatus::parse(status).is_none()
            {
                return Err(errors.at(
                    format!("{uat}.status"),
                    format!("status {status:?} is not one of active, inactive, pending"),
                ));
            }
        }
        for (s, pair) in account.assistants.iter().enumerate() {
            let sat = format!("{at}.assistants[{s}]");
            for (field, who) in [("user", &pair.user), ("assistant", &pair.assistant)] {
                let key = Email::parse(who.clone())
                    .map(|e| e.key())
                    .unwrap_or_else(|_| who.clone());
                if !account_emails.contains(&key) {
                    return Err(errors.at(
                        format!("{sat}.{field}"),
                        format!("{who:?} is not a user of this account in the file"),
                    ));
                }
            }
            if pair.user.eq_ignore_ascii_case(&pair.assistant) {
                return Err(errors.at(
                    format!("{sat}.assistant"),
                    "a user cannot be their own assistant",
                ));
            }
        }
    }
    let mut client_ids = HashMap::new();
    for (p, app) in seed.apps.iter().enumerate() {
        let at = format!("$.apps[{p}]");
        if let Some(id) = &app.id {
            AppId::parse(id.clone()).map_err(|e| errors.at(format!("{at}.id"), e))?;
        }
        let kind = AppKind::parse(&app.kind).map_err(|e| errors.at(format!("{at}.kind"), e))?;
        if app
            .developer_account
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return Err(errors.at(
                format!("{at}.developer_account"),
                "name the developer's account by its id or name, or leave the field out",
            ));
        }
        if let Some(status) = &app.status {
            AppStatus::parse(status).map_err(|e| errors.at(format!("{at}.status"), e))?;
        }
        check_app_scopes(&app.scopes, &app.optional_scopes).map_err(|e| {
            let path = e
                .entry()
                .map(|entry| format!("{at}.{}", entry.path()))
                .unwrap_or_else(|| format!("{at}.scopes"));
            errors.at(path, e)
        })?;
        if kind == AppKind::Server && app.public_client {
            return Err(errors.at(
                format!("{at}.public_client"),
                "a server app authenticates with its client secret and cannot be a public client",
            ));
        }
        for (env, set) in [
            ("development", &app.credentials.development),
            ("production", &app.credentials.production),
        ] {
            let Some(set) = set else { continue };
            let cat = format!("{at}.credentials.{env}");
            if let Some(id) = &set.client_id {
                ClientId::parse(id.clone())
                    .map_err(|e| errors.at(format!("{cat}.client_id"), e))?;
                if let Some(previous) = client_ids.insert(id.clone(), cat.clone()) {
                    return Err(errors.at(
                        format!("{cat}.client_id"),
                        format!("client id {id:?} is already declared at {previous}"),
                    ));
                }
            }
            if let Some(secret) = &set.client_secret {
                if app.public_client {
                    return Err(errors.at(
                        format!("{cat}.client_secret"),
                        "a public client has no client secret (it uses PKCE instead)",
                    ));
                }
                check_credential("a client secret", secret.expose())
                    .map_err(|e| errors.at(format!("{cat}.client_secret"), e))?;
            }
            if kind == AppKind::Server && !set.redirect_uris.is_empty() {
                return Err(errors.at(
                    format!("{cat}.redirect_uris"),
                    "server apps take no redirect URIs",
                ));
            }
            for (i, uri) in set.redirect_uris.iter().enumerate() {
                accord_core::apps::check_redirect_uri(uri)
                    .map_err(|e| errors.at(format!("{cat}.redirect_uris[{i}]"), e))?;
            }
        }
        if let Some(hook) = &app.webhook {
            accord_core::apps::check_webhook_url(&hook.url)
                .map_err(|e| errors.at(format!("{at}.webhook.url"), e))?;
            for (i, event) in hook.events.iter().enumerate() {
                accord_core::apps::check_webhook_event(event)
                    .map_err(|e| errors.at(format!("{at}.webhook.events[{i}]"), e))?;
            }
            if let Some(token) = &hook.secret_token {
                check_credential("a webhook secret token", token.expose())
                    .map_err(|e| errors.at(format!("{at}.webhook.secret_token"), e))?;
            }
        }
    }
    Ok(())
}

/// Applies a parsed seed file in one transaction. `file` names it in errors.
pub async fn apply(store: &Store, file: &str, seed: &SeedFile) -> Result<SeedReport, SeedError> {
    let errors = Errors { file };
    validate(&errors, seed)?;
    let db = |e: StoreError| errors.at("$", format!("database: {e}"));
    let mut tx = store.begin().await.map_err(db)?;
    let ctx = store.ctx();
    let actor = Actor::System("seed".into());
    let mut report = SeedReport::default();
    let mut declared = Vec::with_capacity(seed.accounts.len());
    for (a, account) in seed.accounts.iter().enumerate() {
        let account_id = apply_account(
            &mut tx,
            &ctx,
            &actor,
            &errors,
            &format!("$.accounts[{a}]"),
            account,
            &mut report,
        )
        .await?;
        declared.push((account_id, account));
    }
    for (p, app) in seed.apps.iter().enumerate() {
        let at = format!("$.apps[{p}]");
        let developer = resolve_developer(&mut tx, &errors, &at, &declared, app).await?;
        apply_app(
            &mut tx,
            &ctx,
            &actor,
            &errors,
            &at,
            app,
            &developer,
            &mut report,
        )
        .await?;
    }
    tx.commit().await.map_err(|e| db(e.into()))?;
    store.sync_view().await;
    Ok(report)
}

fn new_user_from(
    seed: &SeedUser,
    role_id: RoleId,
    errors: &Errors<'_>,
    at: &str,
) -> Result<NewUser, SeedError> {
    let email =
        Email::parse(seed.email.clone()).map_err(|e| errors.at(format!("{at}.email"), e))?;
    Ok(NewUser {
        id: seed
            .id
            .clone()
            .map(UserId::parse)
            .transpose()
            .map_err(|e| errors.at(format!("{at}.id"), e))?,
        email,
        first_name: seed.first_name.clone().unwrap_or_default(),
        last_name: seed.last_name.clone().unwrap_or_default(),
        user_type: seed
            .user_type
            .map(UserType::try_from)
            .transpose()
            .map_err(|e| errors.at(format!("{at}.type"), e))?
            .unwrap_or(UserType::Basic),
        status: seed
            .status
            .as_deref()
            .and_then(UserStatus::parse)
            .unwrap_or(UserStatus::Active),
        timezone: seed.timezone.clone().unwrap_or_else(|| "UTC".into()),
        role_id,
        password: seed.password.clone(),
    })
}

/// Applies one account of the file; returns its id.
async fn apply_account(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    errors: &Errors<'_>,
    at: &str,
    seed: &SeedAccount,
    report: &mut SeedReport,
) -> Result<String, SeedError> {
    let fail = |path: String| move |e: StoreError| errors.at(path, e);
    let approval = seed
        .app_approval
        .as_deref()
        .map(AppApproval::parse)
        .transpose()
        .map_err(|e| errors.at(format!("{at}.app_approval"), e))?;
    let existing = match &seed.id {
        Some(id) => accounts::get(conn, id)
            .await
            .map_err(fail(format!("{at}.id")))?,
        None => accounts::list(conn)
            .await
            .map_err(fail(at.to_owned()))?
            .into_iter()
            .find(|a| a.name == seed.name.trim()),
    };
    let custom: HashSet<String> = seed
        .roles
        .iter()
        .map(|r| r.id.clone().unwrap_or_else(|| r.name.clone()))
        .collect();
    let role_of = |user: &SeedUser| role_id_for(user.role.as_deref().unwrap_or("member"), &custom);
    let rate_limits = seed
        .rate_limits
        .as_ref()
        .map(accord_core::rate_limits::RateLimitChange::replace_all)
        .unwrap_or_default();

    let account_id = match existing {
        Some(account) => {
            let change = accounts::AccountChange {
                name: Some(seed.name.clone()),
                app_approval: approval,
                rate_limits,
            };
            let updated = accounts::update(conn, ctx, actor, account.id.as_str(), change)
                .await
                .map_err(fail(format!("{at}.name")))?;
            if updated != account {
                report.updated.push(format!("account {}", account.name));
            }
            account.id.into_string()
        }
        None => {
            let Some((u, owner)) = seed
                .users
                .iter()
                .enumerate()
                .find(|(_, u)| role_of(u).is_some_and(|r| r.is_owner()))
            else {
                return Err(errors.at(
                    format!("{at}.users"),
                    "a new account needs one user with \"role\": \"owner\"",
                ));
            };
            let uat = format!("{at}.users[{u}]");
            let owner_new = new_user_from(owner, BuiltinRole::Owner.role_id(), errors, &uat)?;
            let new = accounts::NewAccount {
                id: seed
                    .id
                    .clone()
                    .map(AccountId::parse)
                    .transpose()
                    .map_err(|e| errors.at(format!("{at}.id"), e))?,
                name: seed.name.clone(),
                app_approval: approval.unwrap_or_default(),
            };
            let (account, owner_user, generated) =
                accounts::create(conn, ctx, actor, new, owner_new)
                    .await
                    .map_err(fail(uat))?;
            if !rate_limits.is_empty() {
                let change = accounts::AccountChange {
                    rate_limits,
                    ..accounts::AccountChange::default()
                };
                accounts::update(conn, ctx, actor, account.id.as_str(), change)
                    .await
                    .map_err(fail(format!("{at}.rate_limits")))?;
            }
            report
                .created
                .push(format!("account {} ({})", account.name, account.id));
            report.created.push(format!("user {}", owner_user.email));
            if let Some(password) = generated {
                report
                    .shown_once
                    .push((format!("password for {}", owner_user.email), password));
            }
            account.id.into_string()
        }
    };

    for (r, role) in seed.roles.iter().enumerate() {
        let rat = format!("{at}.roles[{r}]");
        let id = role.id.clone().unwrap_or_else(|| role.name.clone());
        let privileges: PrivilegeSet = role
            .privileges
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        match roles::get(conn, &account_id, &id)
            .await
            .map_err(fail(rat.clone()))?
        {
            Some(current) => {
                let change = RoleChange {
                    name: Some(role.name.clone()),
                    description: role.description.clone(),
                    privileges: Some(privileges),
                };
                let updated = roles::update(conn, ctx, actor, &account_id, &id, change)
                    .await
                    .map_err(fail(rat))?;
                if updated != current {
                    report.updated.push(format!("role {}", updated.name));
                }
            }
            None => {
                let new = NewRole {
                    id: Some(
                        RoleId::parse(id.clone()).map_err(|e| errors.at(format!("{rat}.id"), e))?,
                    ),
                    name: role.name.clone(),
                    description: role.description.clone().unwrap_or_default(),
                    privileges,
                };
                roles::create(conn, ctx, actor, &account_id, new)
                    .await
                    .map_err(fail(rat))?;
                report.created.push(format!("role {}", role.name));
            }
        }
    }

    // The owner first, so an ownership transfer happens before the old owner's new role is set.
    let mut order: Vec<usize> = (0..seed.users.len()).collect();
    order.sort_by_key(|&u| {
        role_of(&seed.users[u]).is_none_or(|r| r.as_str() != BuiltinRole::Owner.id())
    });
    for u in order {
        let user = &seed.users[u];
        let uat = format!("{at}.users[{u}]");
        let role_id =
            role_of(user).ok_or_else(|| errors.at(format!("{uat}.role"), "unknown role"))?;
        let new = new_user_from(user, role_id.clone(), errors, &uat)?;
        match users::find_by_email(conn, &account_id, &new.email)
            .await
            .map_err(fail(uat.clone()))?
        {
            Some(current) => {
                if let Some(id) = &new.id
                    && id != &current.id
                {
                    return Err(errors.at(
                        format!("{uat}.id"),
                        format!("{} already exists with id {}", new.email, current.id),
                    ));
                }
                let mut after = current.clone();
                if role_id.is_owner() && !current.is_owner() {
                    after = users::transfer_ownership(conn, ctx, actor, current.id.as_str())
                        .await
                        .map_err(fail(format!("{uat}.role")))?;
                }
                let password = match &user.password {
                    Some(password)
                        if !password_matches(conn, ctx, current.id.as_str(), password)
                            .await
                            .map_err(fail(uat.clone()))? =>
                    {
                        Some(password.clone())
                    }
                    _ => None,
                };
                let password_changed = password.is_some();
                let change = UserChange {
                    email: Some(new.email.clone()),
                    first_name: user.first_name.clone(),
                    last_name: user.last_name.clone(),
                    user_type: user.user_type.and_then(|t| UserType::try_from(t).ok()),
                    timezone: user.timezone.clone(),
                    role_id: Some(role_id),
                    status: user.status.as_deref().and_then(UserStatus::parse),
                    password,
                };
                let updated = users::update(conn, ctx, actor, current.id.as_str(), change)
                    .await
                    .map_err(fail(uat))?;
                if updated != current || after != current || password_changed {
                    report.updated.push(format!("user {}", updated.email));
                }
            }
            None => {
                let (created, generated) =
                    users::insert(conn, ctx, actor, &account_id, new, Creation::Member)
                        .await
                        .map_err(fail(uat))?;
                report.created.push(format!("user {}", created.email));
                if let Some(password) = generated {
                    report
                        .shown_once
                        .push((format!("password for {}", created.email), password));
                }
            }
        }
    }

    for (s, pair) in seed.assistants.iter().enumerate() {
        let sat = format!("{at}.assistants[{s}]");
        let user = users::find(conn, Some(&account_id), &pair.user)
            .await
            .map_err(fail(format!("{sat}.user")))?;
        let assistant = users::find(conn, Some(&account_id), &pair.assistant)
            .await
            .map_err(fail(format!("{sat}.assistant")))?;
        if assistants::add(conn, ctx, actor, user.id.as_str(), assistant.id.as_str())
            .await
            .map_err(fail(sat))?
        {
            report
                .created
                .push(format!("assistant {} for {}", assistant.email, user.email));
        }
    }
    Ok(account_id)
}

/// The user an app's `developer` names. A user id names one user. An email is looked up in
/// `developer_account` when the file gives one; else in the file's accounts that declare it,
/// which must be exactly one (so users other tenants create never change what a fixture file
/// means); else in the whole database, where it must be a user of exactly one account. An email
/// of several accounts is refused with the way out, never resolved to one of them silently.
async fn resolve_developer(
    conn: &mut Conn,
    errors: &Errors<'_>,
    at: &str,
    declared: &[(String, &SeedAccount)],
    app: &SeedApp,
) -> Result<users::User, SeedError> {
    let wanted = app.developer.as_str();
    let missing = || {
        errors.at(
            format!("{at}.developer"),
            format!(
                "no user {wanted:?} (name a user declared in this file or already in the database)"
            ),
        )
    };
    let ambiguous = |accounts: Vec<String>| {
        errors.at(
            format!("{at}.developer"),
            format!(
                "{wanted} is a user in several accounts ({}): add \"developer_account\" with the \
                 account's id or name, or give the user's id",
                accounts.join(", ")
            ),
        )
    };
    let db = |path: &str| {
        let path = format!("{at}.{path}");
        move |e: StoreError| errors.at(path, e)
    };
    if let Some(account) = app.developer_account.as_deref().map(str::trim) {
        let account_id = match accounts::get(conn, account)
            .await
            .map_err(db("developer_account"))?
        {
            Some(found) => found.id.into_string(),
            None => {
                let named: Vec<_> = accounts::list(conn)
                    .await
                    .map_err(db("developer_account"))?
                    .into_iter()
                    .filter(|a| a.name == account)
                    .collect();
                match named.as_slice() {
                    [one] => one.id.as_str().to_owned(),
                    [] => {
                        return Err(errors.at(
                            format!("{at}.developer_account"),
                            format!("no account with id or name {account:?}"),
                        ));
                    }
                    _ => {
                        return Err(errors.at(
                            format!("{at}.developer_account"),
                            format!(
                                "several accounts are named {account:?}: give the account's id"
                            ),
                        ));
                    }
                }
            }
        };
        return users::find(conn, Some(&account_id), wanted)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => errors.at(
                    format!("{at}.developer"),
                    format!("no user {wanted:?} in account {account_id}"),
                ),
                other => db("developer")(other),
            });
    }
    let Ok(email) = Email::parse(wanted) else {
        return users::find(conn, None, wanted).await.map_err(|e| match e {
            StoreError::NotFound { .. } => missing(),
            other => db("developer")(other),
        });
    };
    let in_file: Vec<&str> = declared
        .iter()
        .filter(|(_, account)| {
            account
                .users
                .iter()
                .any(|u| Email::parse(u.email.clone()).is_ok_and(|e| e.key() == email.key()))
        })
        .map(|(id, _)| id.as_str())
        .collect();
    match in_file.as_slice() {
        [account_id] => {
            return users::find_by_email(conn, account_id, &email)
                .await
                .map_err(db("developer"))?
                .ok_or_else(missing);
        }
        [] => {}
        several => return Err(ambiguous(several.iter().map(|a| a.to_string()).collect())),
    }
    match users::find(conn, None, wanted).await {
        Ok(user) => Ok(user),
        Err(StoreError::AmbiguousEmail { accounts, .. }) => Err(ambiguous(accounts)),
        Err(StoreError::NotFound { .. }) => Err(missing()),
        // A database that fails is not a user that is missing: say what failed.
        Err(other) => Err(db("developer")(other)),
    }
}

async fn password_matches(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    user_id: &str,
    password: &Secret,
) -> Result<bool, StoreError> {
    let phc: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(phc
        .flatten()
        .is_some_and(|phc| ctx.keys.password_matches(password, &phc)))
}

fn credentials_of(seed: &Option<SeedCredentials>) -> NewCredentials {
    match seed {
        Some(set) => NewCredentials {
            client_id: set.client_id.clone(),
            client_secret: set.client_secret.clone(),
            redirect_uris: set.redirect_uris.clone(),
        },
        None => NewCredentials::default(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn apply_app(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    errors: &Errors<'_>,
    at: &str,
    seed: &SeedApp,
    developer: &users::User,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let fail = |path: String| move |e: StoreError| errors.at(path, e);
    let kind = AppKind::parse(&seed.kind).map_err(|e| errors.at(format!("{at}.kind"), e))?;
    let status = seed
        .status
        .as_deref()
        .map(AppStatus::parse)
        .transpose()
        .map_err(|e| errors.at(format!("{at}.status"), e))?
        .unwrap_or(AppStatus::Development);
    let existing = match &seed.id {
        Some(id) => apps::get(conn, id)
            .await
            .map_err(fail(format!("{at}.id")))?,
        None => apps::by_name(conn, developer.account_id.as_str(), seed.name.trim())
            .await
            .map_err(fail(format!("{at}.name")))?,
    };
    let app = match existing {
        None => {
            let new = NewApp {
                id: seed
                    .id
                    .clone()
                    .map(AppId::parse)
                    .transpose()
                    .map_err(|e| errors.at(format!("{at}.id"), e))?,
                name: seed.name.clone(),
                kind,
                developer_user_id: developer.id.as_str().to_owned(),
                status,
                required_scopes: seed.scopes.clone(),
                optional_scopes: seed.optional_scopes.clone(),
                public_client: seed.public_client,
                development: credentials_of(&seed.credentials.development),
                production: credentials_of(&seed.credentials.production),
                webhook: seed.webhook.as_ref().map(|w| NewWebhook {
                    url: w.url.clone(),
                    secret_token: w.secret_token.clone(),
                    events: w.events.clone(),
                }),
            };
            let (app, shown) = apps::create(conn, ctx, actor, new)
                .await
                .map_err(fail(at.to_owned()))?;
            report
                .created
                .push(format!("app {} ({})", app.name, app.id));
            for (environment, client_id, secret) in shown.client_secrets {
                report.shown_once.push((
                    format!(
                        "{} {} client secret (client id {client_id})",
                        app.name,
                        environment.as_str()
                    ),
                    secret,
                ));
            }
            if let Some(token) = shown.webhook_secret_token {
                report
                    .shown_once
                    .push((format!("{} webhook secret token", app.name), token));
            }
            app
        }
        Some(current) => {
            if current.kind != kind {
                return Err(errors.at(
                    format!("{at}.kind"),
                    format!(
                        "app {} already exists as a {} app; the kind of an app cannot change",
                        current.name, current.kind
                    ),
                ));
            }
            if current.developer_account_id != developer.account_id.as_str() {
                return Err(errors.at(
                    format!("{at}.developer"),
                    "the developer account of an existing app cannot change",
                ));
            }
            let mut changed = false;
            let mut change = AppChange {
                name: Some(seed.name.clone()),
                status: Some(status),
                required_scopes: Some(seed.scopes.clone()),
                optional_scopes: Some(seed.optional_scopes.clone()),
                ..AppChange::default()
            };
            for (environment, set) in [
                (Environment::Development, &seed.credentials.development),
                (Environment::Production, &seed.credentials.production),
            ] {
                let Some(set) = set else { continue };
                let cat = format!("{at}.credentials.{}", environment.as_str());
                let stored = current.credential_set(environment).ok_or_else(|| {
                    errors.at(cat.clone(), "the stored app lacks this credential set")
                })?;
                if let Some(id) = &set.client_id
                    && id != &stored.client_id
                {
                    return Err(errors.at(
                        format!("{cat}.client_id"),
                        format!(
                            "the client id of an existing credential set cannot change (it is {})",
                            stored.client_id
                        ),
                    ));
                }
                change
                    .redirect_uris
                    .push((environment, set.redirect_uris.clone()));
                let Some(secret) = &set.client_secret else {
                    continue;
                };
                let replaced = replace_secret_if_different(conn, ctx, &stored.client_id, secret)
                    .await
                    .map_err(fail(format!("{cat}.client_secret")))?;
                if replaced {
                    changed = true;
                    let entry = crate::audit::Entry {
                        account_id: &current.developer_account_id,
                        actor,
                        action: "app.secret_replaced",
                        target_kind: "app",
                        target_id: current.id.as_str(),
                        details: serde_json::json!({"environment": environment.as_str(), "client_id": stored.client_id}),
                    };
                    crate::audit::record(conn, ctx, entry)
                        .await
                        .map_err(fail(format!("{cat}.client_secret")))?;
                }
            }
            let wanted = seed.webhook.as_ref();
            let stored_token = apps::webhook_secret_token(conn, ctx, current.id.as_str())
                .await
                .map_err(fail(format!("{at}.webhook")))?;
            let same_webhook = match (wanted, &current.webhook) {
                (None, None) => true,
                (Some(w), Some(s)) => {
                    w.url == s.url
                        && w.events == s.events
                        && w.secret_token
                            .as_ref()
                            .is_none_or(|t| Some(t) == stored_token.as_ref())
                }
                _ => false,
            };
            if !same_webhook {
                change.webhook = Some(wanted.map(|w| NewWebhook {
                    url: w.url.clone(),
                    secret_token: w.secret_token.clone().or_else(|| stored_token.clone()),
                    events: w.events.clone(),
                }));
            }
            let (updated, shown) = apps::update(conn, ctx, actor, current.id.as_str(), change)
                .await
                .map_err(fail(at.to_owned()))?;
            if let Some(token) = shown.webhook_secret_token {
                report
                    .shown_once
                    .push((format!("{} webhook secret token", updated.name), token));
            }
            if changed || updated != current {
                report.updated.push(format!("app {}", updated.name));
            }
            updated
        }
    };
    if kind == AppKind::Server {
        let active = grants::list_for_app(conn, app.id.as_str())
            .await
            .map_err(fail(at.to_owned()))?
            .iter()
            .any(|g| {
                g.account_id == app.developer_account_id
                    && g.status == accord_core::grants::GrantStatus::Active
            });
        if !active {
            apps::activate_server_app(conn, ctx, actor, app.id.as_str())
                .await
                .map_err(fail(at.to_owned()))?;
            report
                .updated
                .push(format!("server app {} activated", app.name));
        }
    }
    report.apps.push(SeededApp {
        id: app.id.as_str().to_owned(),
        name: app.name.clone(),
        kind: app.kind,
        developer_account_id: app.developer_account_id.clone(),
        credentials: app.credentials.clone(),
    });
    Ok(())
}

/// Makes the file's secret the credential set's only secret, unless it already is one of them.
async fn replace_secret_if_different(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    client_id: &str,
    secret: &Secret,
) -> Result<bool, StoreError> {
    let hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT secret_hash FROM client_secrets WHERE client_id = $1")
            .bind(client_id)
            .fetch_all(&mut *conn)
            .await?;
    if hashes
        .iter()
        .any(|h| ctx.keys.secret_matches(secret.expose(), h))
    {
        return Ok(false);
    }
    sqlx::query("DELETE FROM client_secrets WHERE client_id = $1")
        .bind(client_id)
        .execute(&mut *conn)
        .await?;
    apps::insert_secret(conn, ctx, client_id, secret).await?;
    Ok(true)
}

impl Store {
    /// Reads, checks and applies a seed file in one transaction.
    pub async fn seed_file(&self, path: &Path) -> Result<SeedReport, SeedError> {
        let seed = read(path)?;
        apply(self, &path.display().to_string(), &seed).await
    }
}
