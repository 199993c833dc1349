//! The webhook outbox (webhooks.md, "Delivery guarantees"): an event is a row written in the same
//! transaction as the change that raised it, one row per receiving app, so a crash at any moment
//! loses nothing and a rolled-back change sends nothing. The delivery worker
//! ([`crate::deliveries`]) claims and sends the rows.
//!
//! Only apps whose endpoint subscribes to the event get a row; the body is the final compact
//! envelope, so every attempt sends (and signs) the same bytes. On PostgreSQL the insert also
//! sends `NOTIFY accord_webhooks`, delivered at commit, which wakes every node's worker at once.
//!
//! Routing of `meeting.*` and `user.*` ([`recipients`]): an app receives an event about an object
//! when one of its ACTIVE grants in the object's account could read that object through the API
//! at this moment — [`accord_core::webhooks::may_receive`], the permission rule itself, asked
//! with facts read in the same transaction as the change (the grant's kind and scopes, its `me`
//! as [`permission::resolve_me`] finds it, and for an authorization the user's privileges and
//! whose assistant she is). One row per app, however many of its grants qualify.

use accord_core::clock::Timestamp;
use accord_core::grants::GrantKind;
use accord_core::ids::{AccountId, Secret, UserId};
use accord_core::permission;
use accord_core::roles::BuiltinRole;
use accord_core::webhooks::{self, Event, Operator, Recipient};

use crate::audit::Actor;
use crate::error::{Result, StoreError};
use crate::grants::Grant;
use crate::{Conn, Ctx, Store};

/// The PostgreSQL channel the outbox notifies on when it gains rows.
pub const CHANNEL: &str = "accord_webhooks";

/// An app's endpoint as the outbox needs it.
struct Endpoint {
    url: String,
    sealed_secret: Vec<u8>,
    events: Vec<String>,
}

async fn endpoint(conn: &mut Conn, app_id: &str) -> Result<Option<Endpoint>> {
    let row: Option<(Option<String>, Option<Vec<u8>>, String)> = sqlx::query_as(
        "SELECT webhook_url, webhook_secret, webhook_events FROM apps WHERE id = $1",
    )
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((Some(url), Some(sealed_secret), events)) = row else {
        return Ok(None);
    };
    let events = serde_json::from_str(&events)
        .map_err(|e| StoreError::Corrupt(format!("webhook events of app {app_id}: {e}")))?;
    Ok(Some(Endpoint {
        url,
        sealed_secret,
        events,
    }))
}

/// Queues `event` for one app when its endpoint subscribes to it; `payload` builds the event's
/// payload and is given the app's secret token (`app_deauthorized` signs with it). Returns the
/// event id, or `None` when the app has no endpoint for the event. Call inside the transaction of
/// the change that raised the event.
pub async fn enqueue(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    app_id: &str,
    account_id: &str,
    event: Event,
    payload: impl FnOnce(&Secret) -> serde_json::Value,
) -> Result<Option<String>> {
    let Some(endpoint) = endpoint(conn, app_id).await? else {
        return Ok(None);
    };
    if !endpoint.events.iter().any(|e| e == event.as_str()) {
        return Ok(None);
    }
    let plain = ctx.keys.decrypt(&endpoint.sealed_secret)?;
    let secret = Secret::new(
        String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::Corrupt("a webhook secret token is not text".into()))?,
    );
    let body = webhooks::envelope(event.as_str(), ctx.now, &payload(&secret));
    insert(conn, ctx.now, app_id, account_id, event, &body, &endpoint).await
}

async fn insert(
    conn: &mut Conn,
    now: Timestamp,
    app_id: &str,
    account_id: &str,
    event: Event,
    body: &str,
    endpoint: &Endpoint,
) -> Result<Option<String>> {
    let id = crate::secrets::new_id();
    sqlx::query(
        "INSERT INTO webhook_events (id, app_id, account_id, event, event_ts, body, endpoint_url, endpoint_secret, \
         status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $5, $5)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(account_id)
    .bind(event.as_str())
    .bind(now.millis())
    .bind(body)
    .bind(&endpoint.url)
    .bind(&endpoint.sealed_secret)
    .execute(&mut *conn)
    .await?;
    if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some(id))
}

/// What an object event is about: the object's account, the user it belongs to (a meeting's
/// host, a user itself) and its id as the API names it.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub account_id: &'a AccountId,
    pub owner_id: &'a UserId,
    pub object_id: String,
}

/// The apps that receive `event` about `subject` now, in app id order: those with an active grant
/// in the subject's account whose endpoint subscribes to the event and which the permission rule
/// lets read the object. Call inside the change's transaction, after the change.
pub async fn recipients(
    conn: &mut Conn,
    event: Event,
    subject: &Subject<'_>,
) -> Result<Vec<String>> {
    let candidates =
        crate::grants::active_subscribed(conn, subject.account_id.as_str(), event.as_str()).await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let Some(owner) = account_owner(conn, subject.account_id.as_str()).await? else {
        return Ok(Vec::new());
    };
    let mut receiving: Vec<String> = Vec::new();
    for grant in &candidates {
        if receiving.contains(&grant.app_id) {
            continue;
        }
        if grant_may_read(conn, event, grant, subject, &owner).await? {
            receiving.push(grant.app_id.clone());
        }
    }
    Ok(receiving)
}

/// Whether `grant` could read the subject through the API now: the permission rule's answer.
async fn grant_may_read(
    conn: &mut Conn,
    event: Event,
    grant: &Grant,
    subject: &Subject<'_>,
    owner: &UserId,
) -> Result<bool> {
    let corrupt = |e: accord_core::ids::InvalidValue| StoreError::Corrupt(e.0);
    let authorized = grant
        .user_id
        .clone()
        .map(UserId::parse)
        .transpose()
        .map_err(corrupt)?;
    let installer = match (&grant.kind, &grant.created_by) {
        (GrantKind::Installation, Some(id)) => {
            user_in_account(conn, id, subject.account_id.as_str()).await?
        }
        _ => None,
    };
    let Some(me) =
        permission::resolve_me(grant.kind, authorized.as_ref(), installer.as_ref(), owner)
    else {
        return Ok(false);
    };
    let (privileges, assistant_of) = match grant.kind {
        GrantKind::Authorization => (
            crate::roles::privileges_of_user(conn, me.as_str()).await?,
            principals(conn, me.as_str()).await?,
        ),
        GrantKind::Installation | GrantKind::Server => {
            (accord_core::privileges::PrivilegeSet::empty(), Vec::new())
        }
    };
    let recipient = Recipient {
        kind: grant.kind,
        account: subject.account_id,
        scopes: &grant.scopes,
        me: &me,
        acting_user: (grant.kind == GrantKind::Authorization)
            .then_some((privileges, assistant_of.as_slice())),
    };
    Ok(webhooks::may_receive(
        event,
        &recipient,
        &subject.object_id,
        subject.account_id,
        subject.owner_id,
    ))
}

/// Queues `event` about `subject` for each app of `apps` ([`recipients`]), the payload naming
/// `actor` as the operator; `previous` is the object before an update. An update the object does
/// not show (a new password) raises nothing.
#[allow(clippy::too_many_arguments)]
pub async fn queue_object_event<T: serde::Serialize>(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    event: Event,
    subject: &Subject<'_>,
    apps: &[String],
    object: &T,
    previous: Option<&T>,
) -> Result<()> {
    if apps.is_empty() {
        return Ok(());
    }
    let render =
        |object: &T| serde_json::to_value(object).map_err(|e| StoreError::Corrupt(e.to_string()));
    let object = render(object)?;
    let previous = previous.map(render).transpose()?;
    if previous.as_ref() == Some(&object) {
        return Ok(());
    }
    let account_id = subject.account_id.as_str();
    let operator = operator(conn, actor, account_id).await?;
    let payload =
        webhooks::object_payload(account_id, &operator, &object, previous.as_ref(), ctx.now);
    for app_id in apps {
        enqueue(conn, ctx, app_id, account_id, event, |_| payload.clone()).await?;
    }
    Ok(())
}

/// The operator an event's payload names for `actor` ([`Operator`] says who stands for an app
/// or the command line).
async fn operator(conn: &mut Conn, actor: &Actor, account_id: &str) -> Result<Operator> {
    let user_id = match actor {
        Actor::User(id) => Some(id.clone()),
        Actor::App(client_id) => {
            let installer: Option<Option<String>> = sqlx::query_scalar(
                "SELECT g.created_by FROM grants g JOIN app_credentials c ON c.app_id = g.app_id \
                 WHERE c.client_id = $1 AND g.account_id = $2 AND g.user_id IS NULL",
            )
            .bind(client_id)
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?;
            let installer = match installer.flatten() {
                Some(id) => user_in_account(conn, &id, account_id).await?,
                None => None,
            };
            match installer {
                Some(id) => Some(id.as_str().to_owned()),
                None => account_owner(conn, account_id)
                    .await?
                    .map(|id| id.as_str().to_owned()),
            }
        }
        Actor::System(_) => account_owner(conn, account_id)
            .await?
            .map(|id| id.as_str().to_owned()),
    };
    let Some(id) = user_id else {
        return Ok(Operator {
            email: String::new(),
            id: String::new(),
        });
    };
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(&id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(Operator {
        email: email.unwrap_or_default(),
        id,
    })
}

async fn account_owner(conn: &mut Conn, account_id: &str) -> Result<Option<UserId>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE account_id = $1 AND role_id = $2")
            .bind(account_id)
            .bind(BuiltinRole::Owner.id())
            .fetch_optional(&mut *conn)
            .await?;
    id.map(UserId::parse)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.0))
}

/// `user_id` when that user is (still) in the account.
async fn user_in_account(
    conn: &mut Conn,
    user_id: &str,
    account_id: &str,
) -> Result<Option<UserId>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?;
    id.map(UserId::parse)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.0))
}

/// The users who made `assistant_id` their assistant.
async fn principals(conn: &mut Conn, assistant_id: &str) -> Result<Vec<UserId>> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM assistants WHERE assistant_id = $1")
            .bind(assistant_id)
            .fetch_all(&mut *conn)
            .await?;
    ids.into_iter()
        .map(UserId::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(e.0))
}

/// The public URL meeting objects' join and start links start with, as the server last
/// recorded it ([`Store::set_public_url`]); empty (relative links) before any server ran. Kept in
/// the database because the command line, another process, raises events too.
pub async fn public_url(conn: &mut Conn) -> Result<String> {
    let url: Option<String> =
        sqlx::query_scalar("SELECT value FROM deployment_settings WHERE name = 'public_url'")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(url.unwrap_or_default())
}

impl Store {
    /// Records the public URL the server is reached at, for the links in webhook events.
    pub async fn set_public_url(&self, url: &str) -> Result<()> {
        let url = url.trim_end_matches('/');
        let mut conn = self.pool().acquire().await?;
        if public_url(&mut conn).await? == url {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO deployment_settings (name, value) VALUES ('public_url', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(url)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
