//! `accord account|user|app …`: the console's administration from a shell. Each command is one
//! store call; output is plain text, or JSON with `--json`.

use accord_core::apps::{AppApproval, AppKind, AppStatus, Environment};
use accord_core::ids::{AccountId, Email, RoleId, Secret};
use accord_core::rate_limits::{Limit, RateLimitChange, RateLimits};
use accord_core::roles::BuiltinRole;
use accord_core::users::{UserStatus, UserType};
use accord_core::webhooks;
use accord_store::accounts::{AccountChange, NewAccount};
use accord_store::apps::{AppChange, NewApp, NewCredentials, NewWebhook, ShownOnce};
use accord_store::audit::Actor;
use accord_store::users::{NewUser, User, UserChange};
use accord_store::{Store, StoreError};
use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde_json::json;

use crate::cli::{AccountCommand, AppCommand, Global, KeysCommand, UserCommand, WebhookCommand};

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_shown_once(shown: &ShownOnce) {
    if shown.client_secrets.is_empty() && shown.webhook_secret_token.is_none() {
        return;
    }
    println!("Secrets (shown once; only their hashes are stored):");
    for (environment, client_id, secret) in &shown.client_secrets {
        println!(
            "  {} client_id {client_id}  client_secret {}",
            environment.as_str(),
            secret.expose()
        );
    }
    if let Some(token) = &shown.webhook_secret_token {
        println!("  webhook secret token {}", token.expose());
    }
}

fn shown_once_json(shown: &ShownOnce) -> serde_json::Value {
    json!({
        "client_secrets": shown.client_secrets.iter().map(|(e, id, s)| json!({"environment": e.as_str(), "client_id": id, "client_secret": s.expose()})).collect::<Vec<_>>(),
        "webhook_secret_token": shown.webhook_secret_token.as_ref().map(|t| t.expose().to_owned()),
    })
}

/// `owner`/`admin`/`member` or a custom role id, as a role id.
fn role_id(keyword: &str) -> anyhow::Result<RoleId> {
    match BuiltinRole::from_keyword(keyword) {
        Some(role) => Ok(role.role_id()),
        None => RoleId::parse(keyword).map_err(|e| anyhow!("--role: {e}")),
    }
}

/// The user a command names (`flag`, or the positional argument when `None`): an id, or an email
/// — looked up in `account` when given. An email that is a user in several accounts is refused
/// with the way out, never resolved to one of them.
async fn named_user(
    store: &Store,
    account: Option<&str>,
    user: &str,
    flag: Option<&str>,
) -> anyhow::Result<User> {
    let found = match account {
        Some(account) => {
            store.account(account).await.context("--account")?;
            store.find_user_in(account, user).await
        }
        None => store.find_user(user).await,
    };
    let problem = match (found, account) {
        (Ok(user), _) => return Ok(user),
        (Err(StoreError::AmbiguousEmail { email, accounts }), _) => anyhow!(
            "{email} is a user in several accounts ({}): add --account ACCOUNT or give the user's id",
            accounts.join(", ")
        ),
        (Err(StoreError::NotFound { .. }), Some(account)) => {
            anyhow!("no user {user} in account {account}")
        }
        (Err(error), _) => error.into(),
    };
    Err(match flag {
        Some(flag) => problem.context(flag.to_owned()),
        None => problem,
    })
}

fn user_line(user: &User) -> String {
    let name = format!("{} {}", user.first_name, user.last_name);
    format!(
        "{:24} {:28} role {:10} {:8} {}",
        user.id.as_str(),
        user.email.as_str(),
        user.role_id.as_str(),
        user.status.as_str(),
        name.trim()
    )
}

/// Every limit that applies to an account: its own value, else the default (api.md's; a server
/// run with `--rate-limits off` applies none).
fn rate_limits_json(own: &RateLimits) -> serde_json::Value {
    let limits: serde_json::Map<String, serde_json::Value> = Limit::ALL
        .into_iter()
        .map(|limit| {
            let unit = match limit {
                Limit::PerSecond(_) => "per_second",
                Limit::MeetingsPerHostPerDay => "per_host_per_day",
            };
            (
                limit.name().to_owned(),
                json!({unit: own.value_or_default(limit), "default": own.get(limit).is_none()}),
            )
        })
        .collect();
    serde_json::Value::Object(limits)
}

/// `light 50/s (own), medium 20/s, heavy 10/s, meetings 100 per host per day`.
fn rate_limits_line(own: &RateLimits) -> String {
    Limit::ALL
        .into_iter()
        .map(|limit| {
            let value = limit.describe(own.value_or_default(limit));
            match own.get(limit) {
                Some(_) => format!("{limit} {value} (own)"),
                None => format!("{limit} {value}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn account(
    store: &Store,
    global: &Global,
    command: AccountCommand,
) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match command {
        AccountCommand::Create {
            name,
            id,
            owner_email,
            owner_password,
            owner_first_name,
            owner_last_name,
            app_approval,
        } => {
            let app_approval =
                AppApproval::parse(&app_approval).map_err(|e| anyhow!("--app-approval: {e}"))?;
            let id = id
                .map(AccountId::parse)
                .transpose()
                .map_err(|e| anyhow!("--id: {e}"))?;
            let mut owner =
                NewUser::new(Email::parse(owner_email).map_err(|e| anyhow!("--owner-email: {e}"))?);
            owner.first_name = owner_first_name;
            owner.last_name = owner_last_name;
            owner.password = owner_password.map(Secret::new);
            let (account, owner, generated) = store
                .create_account(
                    &actor,
                    NewAccount {
                        id,
                        name,
                        app_approval,
                    },
                    owner,
                )
                .await?;
            if global.json {
                return print_json(
                    &json!({"account": account, "owner": owner, "owner_password": generated.as_ref().map(|p| p.expose().to_owned())}),
                );
            }
            println!(
                "Created account {} ({}) with owner {}.",
                account.name, account.id, owner.email
            );
            if let Some(password) = generated {
                println!("Owner password (shown once): {}", password.expose());
            }
            Ok(())
        }
        AccountCommand::List => {
            let accounts = store.accounts().await?;
            if global.json {
                return print_json(&accounts);
            }
            if accounts.is_empty() {
                println!(
                    "No accounts yet: `accord account create` or `accord seed FILE` makes some."
                );
            }
            for account in accounts {
                let owner = account.owner_id.as_ref().map(|o| o.as_str()).unwrap_or("-");
                println!(
                    "{:24} {:24} owner {:24} app_approval {}",
                    account.id.as_str(),
                    account.name,
                    owner,
                    account.app_approval.as_str()
                );
            }
            Ok(())
        }
        AccountCommand::Show { account } => {
            let account = store.account(&account).await?;
            let roles = store.roles(account.id.as_str()).await?;
            let users = store.users(account.id.as_str()).await?;
            let blocked = store.blocked_apps(account.id.as_str()).await?;
            let preapprovals = store.preapprovals(account.id.as_str()).await?;
            let grants = store.grants_in_account(account.id.as_str()).await?;
            if global.json {
                return print_json(
                    &json!({"account": account, "effective_rate_limits": rate_limits_json(&account.rate_limits), "roles": roles, "users": users, "blocked_apps": blocked, "preapprovals": preapprovals, "grants": grants}),
                );
            }
            println!(
                "Account {} ({}), app_approval {}",
                account.name,
                account.id,
                account.app_approval.as_str()
            );
            println!("Rate limits: {}", rate_limits_line(&account.rate_limits));
            println!("Roles:");
            for role in &roles {
                println!(
                    "  {:12} {:16} {} member(s): {}",
                    role.id.as_str(),
                    role.name,
                    role.total_members,
                    role.privileges.names().join(", ")
                );
            }
            println!("Users:");
            for user in &users {
                println!("  {}", user_line(user));
            }
            println!("Grants:");
            for grant in &grants {
                println!(
                    "  {} {:13} app {} user {} status {} generation {}",
                    grant.id,
                    grant.kind.as_str(),
                    grant.app_id,
                    grant.user_id.as_deref().unwrap_or("-"),
                    grant.status.as_str(),
                    grant.generation
                );
            }
            println!(
                "Blocked apps: {}",
                if blocked.is_empty() {
                    "none".into()
                } else {
                    blocked.join(", ")
                }
            );
            for p in &preapprovals {
                println!("Pre-approval of {}: {}", p.app_id, p.status);
            }
            Ok(())
        }
        AccountCommand::Change {
            account,
            name,
            app_approval,
            rate_limits,
            block_app,
            unblock_app,
            preapprove_app,
            decline_app,
            uninstall_app,
        } => {
            let app_approval = app_approval
                .map(|a| AppApproval::parse(&a))
                .transpose()
                .map_err(|e| anyhow!("--app-approval: {e}"))?;
            let rate_limits = rate_limits
                .iter()
                .map(|text| RateLimitChange::parse(text))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!("--rate-limit: {e}"))?;
            let account = store
                .update_account(
                    &actor,
                    &account,
                    AccountChange {
                        name,
                        app_approval,
                        rate_limits,
                    },
                )
                .await?;
            let id = account.id.as_str();
            for app in block_app {
                store
                    .block_app(&actor, id, store.find_app(&app).await?.id.as_str())
                    .await?;
            }
            for app in unblock_app {
                store
                    .unblock_app(&actor, id, store.find_app(&app).await?.id.as_str())
                    .await?;
            }
            for app in preapprove_app {
                store
                    .decide_preapproval(&actor, id, store.find_app(&app).await?.id.as_str(), true)
                    .await?;
            }
            for app in decline_app {
                store
                    .decide_preapproval(&actor, id, store.find_app(&app).await?.id.as_str(), false)
                    .await?;
            }
            for app in uninstall_app {
                let app = store.find_app(&app).await?;
                let ended = store
                    .uninstall_app(
                        &actor,
                        id,
                        app.id.as_str(),
                        "uninstalled from the command line",
                    )
                    .await?;
                if ended == 0 {
                    bail!(
                        "--uninstall-app: app {} has no grant in account {id}",
                        app.id
                    );
                }
                if !global.json {
                    println!("Uninstalled {} from {id}: {ended} grant(s) ended.", app.id);
                }
            }
            let account = store.account(id).await?;
            if global.json {
                return print_json(&account);
            }
            println!(
                "Account {} ({}) now: app_approval {}, rate limits {}.",
                account.name,
                account.id,
                account.app_approval.as_str(),
                rate_limits_line(&account.rate_limits)
            );
            Ok(())
        }
        AccountCommand::Delete { account, yes } => {
            if !yes {
                bail!(
                    "deleting account {account} removes its users, roles, grants and the apps it develops; add --yes to confirm"
                );
            }
            store.delete_account(&actor, &account).await?;
            if global.json {
                return print_json(&json!({"deleted": account}));
            }
            println!("Deleted account {account} (its audit log is kept).");
            Ok(())
        }
    }
}

pub async fn user(store: &Store, global: &Global, command: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match command {
        UserCommand::Create {
            account,
            email,
            password,
            role,
            first_name,
            last_name,
            user_type,
            timezone,
            status,
        } => {
            let mut new = NewUser::new(Email::parse(email).map_err(|e| anyhow!("--email: {e}"))?);
            new.role_id = role_id(&role)?;
            new.password = password.map(Secret::new);
            new.first_name = first_name;
            new.last_name = last_name;
            new.user_type = UserType::try_from(user_type).map_err(|e| anyhow!("--type: {e}"))?;
            new.timezone = timezone;
            new.status = UserStatus::parse(&status).ok_or_else(|| {
                anyhow!("--status: {status:?} is not one of active, inactive, pending")
            })?;
            let (user, generated) = store.create_user(&actor, &account, new).await?;
            if global.json {
                return print_json(
                    &json!({"user": user, "password": generated.as_ref().map(|p| p.expose().to_owned())}),
                );
            }
            println!(
                "Created user {} ({}) in account {}.",
                user.email, user.id, user.account_id
            );
            if let Some(password) = generated {
                println!("Password (shown once): {}", password.expose());
            }
            Ok(())
        }
        UserCommand::List { account } => {
            store.account(&account).await?;
            let users = store.users(&account).await?;
            if global.json {
                return print_json(&users);
            }
            for user in &users {
                println!("{}", user_line(user));
            }
            Ok(())
        }
        UserCommand::Show { user, account } => {
            let user = named_user(store, account.as_deref(), &user, None).await?;
            let privileges = store.user_privileges(user.id.as_str()).await?;
            let assistants = store.assistants(user.id.as_str()).await?;
            let schedulers = store.schedulers(user.id.as_str()).await?;
            if global.json {
                let ids = |list: &[accord_store::assistants::Delegate]| {
                    list.iter()
                        .map(|d| d.user.id.as_str().to_owned())
                        .collect::<Vec<_>>()
                };
                return print_json(
                    &json!({"user": user, "privileges": privileges, "assistants": ids(&assistants), "schedules_for": ids(&schedulers)}),
                );
            }
            println!("{}", user_line(&user));
            println!(
                "  account {}  type {}  timezone {}  pmi {}",
                user.account_id,
                i64::from(user.user_type),
                user.timezone,
                user.pmi
            );
            println!(
                "  privileges: {}",
                if privileges.is_empty() {
                    "none (own profile and meetings only)".into()
                } else {
                    privileges.names().join(", ")
                }
            );
            for d in &assistants {
                println!("  assistant: {}", d.user.email);
            }
            for d in &schedulers {
                println!("  schedules for: {}", d.user.email);
            }
            Ok(())
        }
        UserCommand::Change {
            user,
            account,
            email,
            first_name,
            last_name,
            user_type,
            timezone,
            role,
            status,
            password,
            make_owner,
            add_assistant,
            remove_assistant,
            remove_app,
        } => {
            let current = named_user(store, account.as_deref(), &user, None).await?;
            let id = current.id.as_str().to_owned();
            if make_owner {
                store.transfer_ownership(&actor, &id).await?;
            }
            let change = UserChange {
                email: email
                    .map(Email::parse)
                    .transpose()
                    .map_err(|e| anyhow!("--email: {e}"))?,
                first_name,
                last_name,
                user_type: user_type
                    .map(UserType::try_from)
                    .transpose()
                    .map_err(|e| anyhow!("--type: {e}"))?,
                timezone,
                role_id: role.as_deref().map(role_id).transpose()?,
                status: status
                    .as_deref()
                    .map(|s| {
                        UserStatus::parse(s).ok_or_else(|| {
                            anyhow!("--status: {s:?} is not one of active, inactive, pending")
                        })
                    })
                    .transpose()?,
                password: password.map(Secret::new),
            };
            store.update_user(&actor, &id, change).await?;
            // Assistants are users of the same account.
            let account_id = current.account_id.as_str();
            for other in add_assistant {
                let assistant =
                    named_user(store, Some(account_id), &other, Some("--add-assistant")).await?;
                store
                    .add_assistant(&actor, &id, assistant.id.as_str())
                    .await?;
            }
            for other in remove_assistant {
                let assistant =
                    named_user(store, Some(account_id), &other, Some("--remove-assistant")).await?;
                store
                    .remove_assistant(&actor, &id, Some(assistant.id.as_str()))
                    .await?;
            }
            for app in remove_app {
                let app = store.find_app(&app).await?;
                match store
                    .remove_authorization(&actor, account_id, app.id.as_str(), &id)
                    .await
                {
                    Ok(_) => {}
                    Err(accord_store::StoreError::NotFound { .. }) => bail!(
                        "--remove-app: {} has no active authorization of app {}",
                        current.email,
                        app.id
                    ),
                    Err(other) => return Err(other.into()),
                }
                if !global.json {
                    println!("Ended {}'s authorization of {}.", current.email, app.id);
                }
            }
            let updated = store.user(&id).await?;
            if global.json {
                return print_json(&updated);
            }
            println!("{}", user_line(&updated));
            Ok(())
        }
        UserCommand::Delete { user, account } => {
            let found = named_user(store, account.as_deref(), &user, None).await?;
            store.delete_user(&actor, found.id.as_str()).await?;
            if global.json {
                return print_json(&json!({"deleted": found.id}));
            }
            println!(
                "Deleted user {} ({}); their authorizations ended, installations they made stay.",
                found.email, found.id
            );
            Ok(())
        }
    }
}

fn environment(value: &str, flag: &str) -> anyhow::Result<Environment> {
    Environment::parse(value).map_err(|e| anyhow!("{flag}: {e}"))
}

pub async fn app(store: &Store, global: &Global, command: AppCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match command {
        AppCommand::Create {
            developer,
            account,
            name,
            kind,
            scopes,
            optional_scopes,
            status,
            redirect_uris,
            dev_redirect_uris,
            public_client,
            webhook_url,
            webhook_events,
        } => {
            let developer =
                named_user(store, account.as_deref(), &developer, Some("--developer")).await?;
            let kind = AppKind::parse(&kind).map_err(|e| anyhow!("--kind: {e}"))?;
            let new = NewApp {
                id: None,
                name,
                kind,
                developer_user_id: developer.id.as_str().to_owned(),
                status: AppStatus::parse(&status).map_err(|e| anyhow!("--status: {e}"))?,
                required_scopes: scopes,
                optional_scopes,
                public_client,
                development: NewCredentials {
                    redirect_uris: dev_redirect_uris,
                    ..Default::default()
                },
                production: NewCredentials {
                    redirect_uris,
                    ..Default::default()
                },
                webhook: webhook_url.map(|url| NewWebhook {
                    url,
                    secret_token: None,
                    events: webhook_events,
                }),
            };
            let (app, shown) = store.create_app(&actor, new).await?;
            if global.json {
                return print_json(&json!({"app": app, "shown_once": shown_once_json(&shown)}));
            }
            println!(
                "Created {} app {} ({}) in developer account {}.",
                app.kind, app.name, app.id, app.developer_account_id
            );
            if app.kind == AppKind::Server {
                println!(
                    "Activated: its server grant in {} exists.",
                    app.developer_account_id
                );
            }
            print_shown_once(&shown);
            Ok(())
        }
        AppCommand::List { account } => {
            let apps = store.apps(account.as_deref()).await?;
            if global.json {
                return print_json(&apps);
            }
            for app in &apps {
                let scopes: Vec<&str> = app.all_scopes().iter().map(|s| s.as_str()).collect();
                println!(
                    "{:24} {:8} {:12} {:24} {}",
                    app.id.as_str(),
                    app.kind.as_str(),
                    app.status.as_str(),
                    app.name,
                    scopes.join(" ")
                );
            }
            Ok(())
        }
        AppCommand::Show { app } => {
            let app = store.find_app(&app).await?;
            let grants = store.grants_of_app(app.id.as_str()).await?;
            if global.json {
                return print_json(&json!({"app": app, "grants": grants}));
            }
            println!(
                "{} app {} ({}), {}, developer account {}",
                app.kind,
                app.name,
                app.id,
                app.status.as_str(),
                app.developer_account_id
            );
            let names = |v: &[accord_core::scopes::Scope]| {
                v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
            };
            println!(
                "  scopes: {}   optional: {}",
                names(&app.required_scopes),
                names(&app.optional_scopes)
            );
            for set in &app.credentials {
                println!(
                    "  {:11} client_id {}  {} active secret(s)  redirect URIs: {}",
                    set.environment.as_str(),
                    set.client_id,
                    set.active_secrets,
                    set.redirect_uris.join(" ")
                );
            }
            if let Some(hook) = &app.webhook {
                println!("  webhook {} events {}", hook.url, hook.events.join(","));
            }
            for grant in &grants {
                println!(
                    "  grant {} {:13} account {} user {} {} generation {}",
                    grant.id,
                    grant.kind.as_str(),
                    grant.account_id,
                    grant.user_id.as_deref().unwrap_or("-"),
                    grant.status.as_str(),
                    grant.generation
                );
            }
            Ok(())
        }
        AppCommand::Change {
            app,
            name,
            status,
            scopes,
            optional_scopes,
            redirect_uris,
            dev_redirect_uris,
            rotate_secret,
            retire_old_secret,
            activate,
        } => {
            let found = store.find_app(&app).await?;
            let id = found.id.as_str().to_owned();
            let mut uris = Vec::new();
            if let Some(list) = redirect_uris {
                uris.push((Environment::Production, list));
            }
            if let Some(list) = dev_redirect_uris {
                uris.push((Environment::Development, list));
            }
            let change = AppChange {
                name,
                status: status
                    .map(|s| AppStatus::parse(&s))
                    .transpose()
                    .map_err(|e| anyhow!("--status: {e}"))?,
                required_scopes: scopes,
                optional_scopes,
                redirect_uris: uris,
                webhook: None,
            };
            let (mut updated, mut shown) = store.update_app(&actor, &id, change).await?;
            if let Some(set) = rotate_secret {
                let environment = environment(&set, "--rotate-secret")?;
                let secret = store.rotate_secret(&actor, &id, environment).await?;
                let client_id = updated
                    .credential_set(environment)
                    .map(|c| c.client_id.clone())
                    .unwrap_or_default();
                shown.client_secrets.push((environment, client_id, secret));
            }
            if let Some(set) = retire_old_secret {
                store
                    .retire_oldest_secret(&actor, &id, environment(&set, "--retire-old-secret")?)
                    .await?;
            }
            if activate {
                store.activate_server_app(&actor, &id).await?;
            }
            updated = store.app(&id).await?;
            if global.json {
                return print_json(&json!({"app": updated, "shown_once": shown_once_json(&shown)}));
            }
            println!(
                "Updated {} app {} ({}), {}.",
                updated.kind,
                updated.name,
                updated.id,
                updated.status.as_str()
            );
            print_shown_once(&shown);
            Ok(())
        }
        AppCommand::Delete { app } => {
            let found = store.find_app(&app).await?;
            store.delete_app(&actor, found.id.as_str()).await?;
            if global.json {
                return print_json(&json!({"deleted": found.id}));
            }
            println!(
                "Deleted app {} ({}); every grant of it ended.",
                found.name, found.id
            );
            Ok(())
        }
    }
}

pub async fn keys(store: &Store, global: &Global, command: KeysCommand) -> anyhow::Result<()> {
    // The token lifetime decides how long a superseded key stays published.
    let ring = accord_server::oauth::keys::KeyRing::load(store, 3600).await?;
    match command {
        KeysCommand::Rotate { delay } => {
            if delay < 0 {
                bail!("--delay must be 0 or more seconds, not {delay}");
            }
            let kid = accord_server::oauth::keys::rotate(store, delay).await?;
            let signs_from = store.now().plus_seconds(delay);
            if global.json {
                return print_json(&json!({"kid": kid, "signs_from": signs_from.rfc3339()}));
            }
            println!(
                "Announced signing key {kid}: published in JWKS now, signs from {} (in {delay} s).",
                signs_from.rfc3339()
            );
            println!(
                "Running servers publish it within a second (through the change feed); the previous key stays published until its tokens expire."
            );
            Ok(())
        }
        KeysCommand::List => {
            ring.reload(store).await?;
            let states = ring.states(store.now());
            if global.json {
                return print_json(&states);
            }
            for key in states {
                println!(
                    "{}  {:9}  created {}  signs from {}",
                    key.kid,
                    key.state,
                    key.created_at.rfc3339(),
                    key.signs_from.rfc3339()
                );
            }
            Ok(())
        }
    }
}

pub async fn explain(
    store: Store,
    global: &Global,
    token: &str,
    issuer: Option<String>,
    api_url: Option<String>,
    method: &str,
    path: &str,
) -> anyhow::Result<()> {
    use accord_core::permission::StepResult;
    let claimed = accord_server::oauth::jwt::unverified_claims(token);
    let issuer = issuer
        .or_else(|| claimed.as_ref().map(|c| c.iss.clone()))
        .unwrap_or_default();
    let mut config = accord_server::ServerConfig::new(issuer.clone());
    config.issuer = issuer;
    if let Some(aud) = api_url.or_else(|| claimed.as_ref().map(|c| c.aud.clone())) {
        config.api_url = aud;
    }
    let state = accord_server::AppState::new(store, config).await?;
    let explanation = accord_server::api::explain::explain(&state, token, method, path)
        .await
        .map_err(|e| anyhow!(e))?;
    if global.json {
        return print_json(&explanation);
    }
    match (explanation.status, explanation.code) {
        (Some(status), Some(code)) => println!(
            "{}: DENY (HTTP {status}, code {code})",
            explanation.endpoint
        ),
        _ => println!("{}: ALLOW", explanation.endpoint),
    }
    for (number, outcome) in explanation.steps.iter().enumerate() {
        let step = serde_json::to_value(outcome.step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        match &outcome.result {
            StepResult::Passed { detail } => {
                println!("  {}. {step:8} passed       {detail}", number + 1)
            }
            StepResult::Failed { denial } => {
                println!("  {}. {step:8} FAILED       {}", number + 1, denial.message);
                println!("     why: {}", denial.explain.reason);
                println!("     fix: {}", denial.explain.fix);
            }
            StepResult::NotReached => println!("  {}. {step:8} not reached", number + 1),
        }
    }
    Ok(())
}

/// `accord webhook …`: the developer's delivery log, redelivery and secret rotation, the same
/// store calls the API makes.
pub async fn webhook(
    store: &Store,
    global: &Global,
    command: WebhookCommand,
) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match command {
        WebhookCommand::Deliveries { app, limit, before } => {
            let app = store.find_app(&app).await?;
            let app_id = app.id.as_str();
            let before = match before {
                Some(id) => {
                    let delivery = store.webhook_delivery(&id).await.context("--before")?;
                    if delivery.app_id != app_id {
                        bail!("--before: delivery {id} is not one of app {app_id}");
                    }
                    Some(delivery.seq)
                }
                None => None,
            };
            let (deliveries, total) = store.webhook_deliveries(app_id, before, limit).await?;
            let attempts = store.webhook_attempts(app_id, &deliveries).await?;
            let endpoint = store.webhook_endpoint(app_id).await?;
            let validations = store.webhook_validations(app_id).await?;
            if global.json {
                let listed: Vec<_> = deliveries
                    .iter()
                    .map(|d| {
                        let mine: Vec<_> = attempts
                            .iter()
                            .filter(|a| a.event_id.as_deref() == Some(d.id.as_str()))
                            .collect();
                        json!({"delivery": d, "attempts": mine})
                    })
                    .collect();
                return print_json(&json!({
                    "app_id": app_id,
                    "endpoint": endpoint,
                    "validations": validations,
                    "total_records": total,
                    "deliveries": listed,
                }));
            }
            match &endpoint {
                Some(endpoint) => println!(
                    "App {app_id}: endpoint {} ({}), events {}",
                    endpoint.url,
                    match (&endpoint.validated_at, &endpoint.validation_error) {
                        (Some(at), _) => format!("validated {}", at.rfc3339()),
                        (None, Some(error)) => format!("not validated: {error}"),
                        (None, None) => "not validated yet".to_owned(),
                    },
                    endpoint.events.join(", ")
                ),
                None => println!("App {app_id}: no webhook endpoint now."),
            }
            for validation in validations.iter().take(3) {
                println!(
                    "  validation {} {} {}",
                    validation.at.rfc3339(),
                    validation.outcome,
                    validation.error.as_deref().unwrap_or("")
                );
            }
            println!("{total} delivery(ies); newest first:");
            for delivery in &deliveries {
                println!(
                    "{} {:24} {:9} attempts {} created {}{}",
                    delivery.id,
                    delivery.event,
                    delivery.status,
                    delivery.attempts,
                    delivery.created_at.rfc3339(),
                    if delivery.status == "pending" {
                        format!(" next {}", delivery.next_attempt_at.rfc3339())
                    } else {
                        String::new()
                    }
                );
                for attempt in attempts
                    .iter()
                    .filter(|a| a.event_id.as_deref() == Some(delivery.id.as_str()))
                {
                    println!(
                        "    {} {:9} HTTP {} {} ms {}{}",
                        attempt.at.rfc3339(),
                        attempt.outcome,
                        attempt
                            .status_code
                            .map_or_else(|| "-".to_owned(), |code| code.to_string()),
                        attempt.latency_ms,
                        attempt.error.as_deref().unwrap_or(""),
                        attempt
                            .response_excerpt
                            .as_deref()
                            .map(|text| format!(" {text:?}"))
                            .unwrap_or_default()
                    );
                }
            }
            if let Some(last) = deliveries
                .last()
                .filter(|_| deliveries.len() as i64 == limit)
            {
                println!("More: --before {}", last.id);
            }
            Ok(())
        }
        WebhookCommand::Redeliver { id } => {
            let delivery = store.redeliver_webhook(&actor, &id, None).await?;
            if global.json {
                return print_json(&delivery);
            }
            println!(
                "Delivery {} ({} for app {}) is pending again, due now.",
                delivery.id, delivery.event, delivery.app_id
            );
            Ok(())
        }
        WebhookCommand::Sign { .. } => sign(command),
        WebhookCommand::RotateSecret { app } => {
            let app = store.find_app(&app).await?;
            let token = store.rotate_webhook_secret(&actor, app.id.as_str()).await?;
            if global.json {
                return print_json(
                    &json!({"app_id": app.id, "webhook_secret_token": token.expose()}),
                );
            }
            println!("New webhook secret token for app {} (shown once):", app.id);
            println!("  {}", token.expose());
            println!(
                "The endpoint receives nothing until it passes URL validation with this token."
            );
            Ok(())
        }
    }
}

/// `accord webhook sign`: the headers of a delivery of the body on standard input, computed by
/// the same functions the delivery worker signs with. Needs no database.
pub fn sign(command: WebhookCommand) -> anyhow::Result<()> {
    let WebhookCommand::Sign {
        secret_token,
        id,
        timestamp,
    } = command
    else {
        bail!("not a sign command");
    };
    let mut body = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut body)
        .context("cannot read the body from standard input")?;
    let timestamp = match timestamp {
        Some(timestamp) => timestamp,
        None => i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs(),
        )?,
    };
    print_json(&json!({
        "content-type": "application/json",
        "x-zm-request-timestamp": timestamp.to_string(),
        "x-zm-signature": webhooks::zoom_signature(&secret_token, timestamp, &body),
        "webhook-id": id,
        "webhook-timestamp": timestamp.to_string(),
        "webhook-signature": webhooks::standard_signature(&secret_token, &id, timestamp, &body),
        "x-accord-event-id": id,
    }))
}
