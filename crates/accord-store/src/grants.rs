//! Grants: installations, authorizations and server grants — the one object every token hangs
//! from. Re-authorizing bumps the generation (older tokens stop working); removal revokes.
//!
//! This module is the one place grant status changes: every removal path ends here, so this is
//! where each ended grant's tokens die and its `app_deauthorized` is queued (in the same
//! transaction, [`crate::outbox`]).

use accord_core::clock::Timestamp;
use accord_core::grants::{
    AuthorizationRemover, GrantKind, GrantStatus, check_authorization_removal,
};
use accord_core::ids::{AccountId, UserId};
use accord_core::scopes::Scope;
use serde::Serialize;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::{Conn, Ctx, Store, rows};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub id: String,
    pub kind: GrantKind,
    pub app_id: String,
    pub account_id: String,
    /// The authorizing user (authorizations only).
    pub user_id: Option<String>,
    /// Who installed or authorized it (kept after that user is demoted or deleted).
    pub created_by: Option<String>,
    pub scopes: Vec<Scope>,
    pub status: GrantStatus,
    pub generation: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
}

pub(crate) const COLUMNS: &str = "id, kind, app_id, account_id, user_id, created_by, scopes, status, generation, created_at, \
     updated_at, revoked_at, revoked_reason";

pub(crate) fn from_row(row: &AnyRow) -> Result<Grant> {
    let names: Vec<String> = rows::json(row, "scopes")?;
    let scopes = names
        .iter()
        .map(|n| Scope::parse(n))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Grant {
        id: rows::text(row, "id")?,
        kind: rows::parsed(row, "kind", |s| {
            GrantKind::parse(&s).ok_or(format!("unknown grant kind {s}"))
        })?,
        app_id: rows::text(row, "app_id")?,
        account_id: rows::text(row, "account_id")?,
        user_id: rows::opt_text(row, "user_id")?,
        created_by: rows::opt_text(row, "created_by")?,
        scopes,
        status: rows::parsed(row, "status", |s| {
            GrantStatus::parse(&s).ok_or(format!("unknown grant status {s}"))
        })?,
        generation: rows::int(row, "generation")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
        revoked_at: rows::opt_time(row, "revoked_at")?,
        revoked_reason: rows::opt_text(row, "revoked_reason")?,
    })
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<Grant>> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether the connection is to PostgreSQL, where a transaction must lock what it re-checks.
fn is_postgres(conn: &Conn) -> bool {
    conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME
}

/// Takes the grant's row lock until the transaction ends. Refresh rotation, code redemption, the
/// start of a refresh family and every way a grant's tokens end (reuse detection, code replay,
/// [`revoke_matching`]) take it first and read what they decide on only after, so they happen one
/// after another; a re-authorization's `UPDATE grants` waits for the same lock. Without it, under
/// READ COMMITTED, a revoking `UPDATE` cannot see the successor a concurrent rotation inserts, and
/// the rotation's earlier reads miss the revocation: a live token in an ended family.
/// `FOR NO KEY UPDATE` conflicts with itself and with `UPDATE grants`, not with the key-share lock
/// that inserting a code or token referencing the grant takes. SQLite needs nothing: every write
/// transaction begins `IMMEDIATE` and so already holds the database's one write lock.
pub async fn lock(conn: &mut Conn, id: &str) -> Result<()> {
    if is_postgres(conn) {
        sqlx::query("SELECT id FROM grants WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Moves a grant on from `generation` (when it is still there), ending every token issued under
/// it at once: access tokens are checked against the generation, refresh tokens carry theirs.
/// Returns the grant as it now is, or `None` when it was not at that generation. The caller holds
/// the grant's [`lock`] and records why in the audit log.
pub async fn end_generation(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    id: &str,
    generation: i64,
) -> Result<Option<Grant>> {
    let bumped = sqlx::query(
        "UPDATE grants SET generation = generation + 1, updated_at = $1 WHERE id = $2 AND generation = $3",
    )
    .bind(ctx.now.millis())
    .bind(id)
    .bind(generation)
    .execute(&mut *conn)
    .await?;
    match bumped.rows_affected() {
        0 => Ok(None),
        _ => get(conn, id).await,
    }
}

/// Every grant in an account (active and revoked), oldest first.
pub async fn list_for_account(conn: &mut Conn, account_id: &str) -> Result<Vec<Grant>> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE account_id = $1 ORDER BY created_at, id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

/// The active grants in an account of apps whose endpoint may subscribe to `event` (the exact
/// subscription is checked when the event is queued), by app then id.
pub async fn active_subscribed(
    conn: &mut Conn,
    account_id: &str,
    event: &str,
) -> Result<Vec<Grant>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM grants WHERE account_id = $1 AND status = 'active' AND app_id IN \
         (SELECT id FROM apps WHERE webhook_url IS NOT NULL AND webhook_events LIKE $2) ORDER BY app_id, id"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(format!("%\"{event}\"%"))
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

pub async fn list_for_app(conn: &mut Conn, app_id: &str) -> Result<Vec<Grant>> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE app_id = $1 ORDER BY created_at, id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(app_id)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

/// The grant that would be created or re-authorized.
#[derive(Debug, Clone)]
pub struct GrantRequest<'a> {
    pub kind: GrantKind,
    pub app_id: &'a str,
    pub account_id: &'a str,
    /// For authorizations: the authorizing user.
    pub user_id: Option<&'a str>,
    pub created_by: Option<&'a str>,
    pub scopes: &'a [Scope],
}

/// Creates the grant, or re-authorizes the existing one: status active, scopes replaced,
/// generation bumped (so tokens of the previous authorization stop working, as on Zoom).
pub async fn upsert(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    request: GrantRequest<'_>,
) -> Result<Grant> {
    let user_key = match request.kind {
        GrantKind::Authorization => Some(
            request
                .user_id
                .ok_or_else(|| StoreError::Invalid("an authorization needs its user".into()))?,
        ),
        GrantKind::Installation | GrantKind::Server => None,
    };
    let existing: Option<String> =
        match user_key {
            Some(user_id) => {
                sqlx::query_scalar("SELECT id FROM grants WHERE app_id = $1 AND user_id = $2")
                    .bind(request.app_id)
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => sqlx::query_scalar(
                "SELECT id FROM grants WHERE app_id = $1 AND account_id = $2 AND user_id IS NULL",
            )
            .bind(request.app_id)
            .bind(request.account_id)
            .fetch_optional(&mut *conn)
            .await?,
        };
    let names: Vec<&str> = request.scopes.iter().map(|s| s.as_str()).collect();
    let id = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE grants SET status = 'active', scopes = $1, created_by = $2, generation = generation + 1, updated_at = $3, \
                 revoked_at = NULL, revoked_reason = NULL WHERE id = $4",
            )
            .bind(rows::to_json(&names))
            .bind(request.created_by)
            .bind(ctx.now.millis())
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            id
        }
        None => {
            let id = crate::secrets::new_id();
            sqlx::query(
                "INSERT INTO grants (id, kind, app_id, account_id, user_id, created_by, scopes, status, generation, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', 1, $8, $8)",
            )
            .bind(&id)
            .bind(request.kind.as_str())
            .bind(request.app_id)
            .bind(request.account_id)
            .bind(user_key)
            .bind(request.created_by)
            .bind(rows::to_json(&names))
            .bind(ctx.now.millis())
            .execute(&mut *conn)
            .await?;
            id
        }
    };
    let grant = get(conn, &id)
        .await?
        .ok_or_else(|| StoreError::not_found("grant", &id))?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: request.account_id,
            actor,
            action: if grant.generation == 1 {
                "grant.created"
            } else {
                "grant.reauthorized"
            },
            target_kind: "app",
            target_id: request.app_id,
            details: serde_json::json!({
                "grant_id": grant.id,
                "grant_kind": grant.kind,
                "user_id": grant.user_id,
                "scopes": names,
                "generation": grant.generation,
            }),
        },
    )
    .await?;
    Ok(grant)
}

/// Which active grants a removal ends.
#[derive(Debug, Clone, Copy)]
pub enum Matching<'a> {
    One(&'a str),
    Account(&'a str),
    App(&'a str),
    AppInAccount {
        app_id: &'a str,
        account_id: &'a str,
    },
    /// The user's own authorizations (not the installations they made).
    AuthorizationsOf(&'a str),
    /// Grants of an app outside its developer account (when it is unpublished).
    AppOutsideAccount {
        app_id: &'a str,
        account_id: &'a str,
    },
}

/// Ends every active grant matching: status revoked, with an audit entry per grant.
/// Returns the grants ended, as they now are. On PostgreSQL the grants are locked (in id order, so two removals
/// never deadlock) before their tokens are revoked; see [`lock`].
pub async fn revoke_matching(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    matching: Matching<'_>,
    reason: &str,
) -> Result<Vec<Grant>> {
    let (condition, params): (&str, Vec<&str>) = match matching {
        Matching::One(id) => ("id = $1", vec![id]),
        Matching::Account(account) => ("account_id = $1", vec![account]),
        Matching::App(app) => ("app_id = $1", vec![app]),
        Matching::AppInAccount { app_id, account_id } => {
            ("app_id = $1 AND account_id = $2", vec![app_id, account_id])
        }
        Matching::AuthorizationsOf(user) => ("kind = 'authorization' AND user_id = $1", vec![user]),
        Matching::AppOutsideAccount { app_id, account_id } => {
            ("app_id = $1 AND account_id <> $2", vec![app_id, account_id])
        }
    };
    let lock = if is_postgres(conn) {
        " FOR NO KEY UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM grants WHERE status = 'active' AND {condition} ORDER BY id{lock}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for param in params {
        query = query.bind(param.to_owned());
    }
    let found = query.fetch_all(&mut *conn).await?;
    let mut ended = found.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    for grant in &mut ended {
        crate::tokens::revoke_for_grant(conn, ctx, &grant.id).await?;
        sqlx::query("UPDATE grants SET status = 'revoked', revoked_at = $1, revoked_reason = $2, updated_at = $1 WHERE id = $3")
            .bind(ctx.now.millis())
            .bind(reason)
            .bind(&grant.id)
            .execute(&mut *conn)
            .await?;
        // Hand back the grant as it now is.
        grant.status = GrantStatus::Revoked;
        grant.revoked_at = Some(ctx.now);
        grant.revoked_reason = Some(reason.to_owned());
        grant.updated_at = ctx.now;
        audit::record(
            conn,
            ctx,
            Entry {
                account_id: &grant.account_id,
                actor,
                action: "grant.revoked",
                target_kind: "app",
                target_id: &grant.app_id,
                details: serde_json::json!({
                    "grant_id": grant.id,
                    "grant_kind": grant.kind,
                    "user_id": grant.user_id,
                    "reason": reason,
                }),
            },
        )
        .await?;
        queue_deauthorization(conn, ctx, actor, grant).await?;
    }
    Ok(ended)
}

/// Queues `app_deauthorized` for an ended grant (when the app's endpoint subscribes to it).
/// `user_id` is the user whose authorization ended; for an installation or a server grant, the
/// user who removed it, or its creator when the system (or the app itself) removed it.
async fn queue_deauthorization(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &Grant,
) -> Result<()> {
    let user_id = match (&grant.user_id, actor) {
        (Some(user), _) => user.clone(),
        (None, Actor::User(remover)) => remover.clone(),
        (None, _) => grant.created_by.clone().unwrap_or_default(),
    };
    let client_id = client_id_of(conn, &grant.app_id, &grant.account_id).await?;
    let at = ctx.now;
    crate::outbox::enqueue(
        conn,
        ctx,
        &grant.app_id,
        &grant.account_id,
        accord_core::webhooks::Event::AppDeauthorized,
        |secret| {
            accord_core::webhooks::Deauthorization {
                account_id: &grant.account_id,
                user_id: &user_id,
                client_id: &client_id,
                at,
            }
            .payload(secret.expose())
        },
    )
    .await?;
    Ok(())
}

/// The client id an app is known by in an account: its development credentials in its developer
/// account while it is in development, its production credentials otherwise.
async fn client_id_of(conn: &mut Conn, app_id: &str, account_id: &str) -> Result<String> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT c.client_id FROM app_credentials c JOIN apps a ON a.id = c.app_id WHERE c.app_id = $1          AND c.environment = CASE WHEN a.status = 'development' AND a.developer_account_id = $2          THEN 'development' ELSE 'production' END",
    )
    .bind(app_id)
    .bind(account_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.unwrap_or_default())
}

/// Ends one user's authorization of a user app in an account (model.md, "Removal"). A user
/// actor must be the user herself or an admin of her account holding `Marketplace:Edit`
/// ([`accord_core::grants::check_authorization_removal`], with her privileges read now); an app
/// actor was let through by the permission rule at the API, and the operator may always.
/// `NotFound` when the user has no active authorization of the app in the account.
pub async fn remove_authorization(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    app_id: &str,
    user_id: &str,
) -> Result<Grant> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM grants WHERE kind = 'authorization' AND status = 'active' AND app_id = $1 \
         AND user_id = $2 AND account_id = $3",
    )
    .bind(app_id)
    .bind(user_id)
    .bind(account_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else {
        return Err(StoreError::not_found(
            "authorization",
            format!("{app_id} of {user_id}"),
        ));
    };
    let reason = match actor {
        Actor::User(remover_id) => {
            let remover = crate::users::require(conn, remover_id).await?;
            let privileges = crate::roles::privileges_of_user(conn, remover_id).await?;
            let user = UserId::parse(user_id.to_owned()).map_err(|e| StoreError::Invalid(e.0))?;
            let account =
                AccountId::parse(account_id.to_owned()).map_err(|e| StoreError::Invalid(e.0))?;
            match check_authorization_removal(
                &remover.id,
                &remover.account_id,
                privileges,
                &user,
                &account,
            )? {
                AuthorizationRemover::Herself => "removed by the user",
                AuthorizationRemover::Admin => "removed by an admin",
            }
        }
        Actor::App(_) => "removed by an admin through the API",
        Actor::System(_) => "removed by the operator",
    };
    let ended = revoke_matching(conn, ctx, actor, Matching::One(&id), reason).await?;
    ended
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found("authorization", format!("{app_id} of {user_id}")))
}

impl Store {
    /// Ends one user's authorization of an app ([`remove_authorization`]): an admin removing it
    /// for her, or the operator.
    pub async fn remove_authorization(
        &self,
        actor: &Actor,
        account_id: &str,
        app_id: &str,
        user_id: &str,
    ) -> Result<Grant> {
        let mut tx = self.begin().await?;
        let grant =
            remove_authorization(&mut tx, &self.ctx(), actor, account_id, app_id, user_id).await?;
        self.commit(tx).await?;
        Ok(grant)
    }

    /// A user removes her own authorization of an app.
    pub async fn remove_own_authorization(&self, user_id: &str, app_id: &str) -> Result<Grant> {
        let mut tx = self.begin().await?;
        let user = crate::users::require(&mut tx, user_id).await?;
        let grant = remove_authorization(
            &mut tx,
            &self.ctx(),
            &Actor::User(user_id.to_owned()),
            user.account_id.as_str(),
            app_id,
            user_id,
        )
        .await?;
        self.commit(tx).await?;
        Ok(grant)
    }

    pub async fn grant(&self, id: &str) -> Result<Grant> {
        let mut conn = self.pool().acquire().await?;
        get(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::not_found("grant", id))
    }

    pub async fn grants_in_account(&self, account_id: &str) -> Result<Vec<Grant>> {
        let mut conn = self.pool().acquire().await?;
        list_for_account(&mut conn, account_id).await
    }

    pub async fn grants_of_app(&self, app_id: &str) -> Result<Vec<Grant>> {
        let mut conn = self.pool().acquire().await?;
        list_for_app(&mut conn, app_id).await
    }

    pub async fn upsert_grant(&self, actor: &Actor, request: GrantRequest<'_>) -> Result<Grant> {
        let mut tx = self.begin().await?;
        let grant = upsert(&mut tx, &self.ctx(), actor, request).await?;
        self.commit(tx).await?;
        Ok(grant)
    }

    /// Ends every grant of an app in an account (an uninstall); returns how many ended.
    pub async fn uninstall_app(
        &self,
        actor: &Actor,
        account_id: &str,
        app_id: &str,
        reason: &str,
    ) -> Result<usize> {
        let mut tx = self.begin().await?;
        let ended = revoke_matching(
            &mut tx,
            &self.ctx(),
            actor,
            Matching::AppInAccount { app_id, account_id },
            reason,
        )
        .await?;
        self.commit(tx).await?;
        Ok(ended.len())
    }

    pub async fn revoke_grant(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
    ) -> Result<Option<Grant>> {
        let mut tx = self.begin().await?;
        let ended = revoke_matching(&mut tx, &self.ctx(), actor, Matching::One(id), reason).await?;
        self.commit(tx).await?;
        Ok(ended.into_iter().next())
    }
}
