//! Accounts (tenants): creation with their built-in roles and owner, their app policy
//! (`app_approval`, blocked apps, pre-approvals), their own rate limits, and deletion.

use accord_core::apps::AppApproval;
use accord_core::clock::Timestamp;
use accord_core::ids::{AccountId, Secret, UserId};
use accord_core::rate_limits::{RateLimitChange, RateLimits};
use serde::Serialize;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::users::{self, NewUser, User};
use crate::{Conn, Ctx, Store, grants, rows};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub app_approval: AppApproval,
    /// The user holding the Owner role.
    pub owner_id: Option<UserId>,
    /// The limits this account sets for itself; the others follow the deployment's defaults.
    pub rate_limits: RateLimits,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: Option<AccountId>,
    pub name: String,
    pub app_approval: AppApproval,
}

#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub name: Option<String>,
    pub app_approval: Option<AppApproval>,
    /// Applied in order to the account's own rate limits (a `None` value goes back to the default);
    /// [`RateLimitChange::replace_all`] sets all four.
    pub rate_limits: Vec<RateLimitChange>,
}

const COLUMNS: &str = "a.id, a.name, a.app_approval, a.rate_limits, a.created_at, a.updated_at, \
     (SELECT u.id FROM users u WHERE u.account_id = a.id AND u.role_id = '0') AS owner_id";

fn from_row(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: rows::parsed(row, "id", AccountId::parse)?,
        name: rows::text(row, "name")?,
        app_approval: rows::parsed(row, "app_approval", |s| AppApproval::parse(&s))?,
        owner_id: rows::opt_text(row, "owner_id")?
            .map(UserId::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.0))?,
        rate_limits: rows::json(row, "rate_limits")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(StoreError::Invalid(
            "an account name must be 1-128 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts a WHERE a.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn require(conn: &mut Conn, id: &str) -> Result<Account> {
    get(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("account", id))
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts a ORDER BY a.created_at, a.id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

/// Creates an account with its built-in roles and its owner. Returns the owner and, when no
/// password was given, the generated one (to show once).
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    new: NewAccount,
    mut owner: NewUser,
) -> Result<(Account, User, Option<Secret>)> {
    let name = check_name(&new.name)?;
    let id = match new.id {
        Some(id) => id,
        None => AccountId::parse(crate::secrets::new_id()).map_err(|e| StoreError::Invalid(e.0))?,
    };
    if get(conn, id.as_str()).await?.is_some() {
        return Err(StoreError::Conflict(format!("account {id} already exists")));
    }
    sqlx::query("INSERT INTO accounts (id, name, app_approval, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(id.as_str())
        .bind(&name)
        .bind(new.app_approval.as_str())
        .bind(ctx.now.millis())
        .execute(&mut *conn)
        .await?;
    crate::roles::insert_builtins(conn, ctx, id.as_str()).await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: id.as_str(),
            actor,
            action: "account.created",
            target_kind: "account",
            target_id: id.as_str(),
            details: serde_json::json!({"name": name, "app_approval": new.app_approval.as_str()}),
        },
    )
    .await?;
    owner.role_id = accord_core::roles::BuiltinRole::Owner.role_id();
    let (owner, password) = users::insert(
        conn,
        ctx,
        actor,
        id.as_str(),
        owner,
        users::Creation::AccountOwner,
    )
    .await?;
    Ok((require(conn, id.as_str()).await?, owner, password))
}

/// Changes an account's name, app policy and own rate limits; each kind of change that happens
/// is audited (`account.updated`, `account.app_policy_changed`, `account.rate_limits_changed`
/// with the limits before and after).
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &str,
    change: AccountChange,
) -> Result<Account> {
    let current = require(conn, id).await?;
    let name = change
        .name
        .as_deref()
        .map(check_name)
        .transpose()?
        .unwrap_or_else(|| current.name.clone());
    let app_approval = change.app_approval.unwrap_or(current.app_approval);
    if name != current.name || app_approval != current.app_approval {
        sqlx::query(
            "UPDATE accounts SET name = $1, app_approval = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(&name)
        .bind(app_approval.as_str())
        .bind(ctx.now.millis())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        let action = if app_approval != current.app_approval {
            "account.app_policy_changed"
        } else {
            "account.updated"
        };
        audit::record(
            conn,
            ctx,
            Entry {
                account_id: id,
                actor,
                action,
                target_kind: "account",
                target_id: id,
                details: serde_json::json!({"name": name, "app_approval": app_approval.as_str()}),
            },
        )
        .await?;
    }
    let rate_limits = current.rate_limits.with(&change.rate_limits);
    if rate_limits != current.rate_limits {
        // The column's triggers tell every node's access view, and so its limiter.
        sqlx::query("UPDATE accounts SET rate_limits = $1, updated_at = $2 WHERE id = $3")
            .bind(rows::to_json(&rate_limits))
            .bind(ctx.now.millis())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        audit::record(
            conn,
            ctx,
            Entry {
                account_id: id,
                actor,
                action: "account.rate_limits_changed",
                target_kind: "account",
                target_id: id,
                details: serde_json::json!({"before": current.rate_limits, "after": rate_limits}),
            },
        )
        .await?;
    }
    require(conn, id).await
}

/// Deletes an account and everything in it: its grants, its users and roles, and the apps it
/// develops (with their grants everywhere). Its audit log stays: it is append-only.
pub async fn delete(conn: &mut Conn, ctx: &Ctx<'_>, actor: &Actor, id: &str) -> Result<()> {
    require(conn, id).await?;
    let developed: Vec<String> =
        sqlx::query_scalar("SELECT id FROM apps WHERE developer_account_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    for app_id in developed {
        crate::apps::delete(conn, ctx, actor, &app_id).await?;
    }
    grants::revoke_matching(
        conn,
        ctx,
        actor,
        grants::Matching::Account(id),
        "account deleted",
    )
    .await?;
    for table in [
        "DELETE FROM authorization_codes WHERE grant_id IN (SELECT id FROM grants WHERE account_id = $1)",
        "DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE account_id = $1)",
        "DELETE FROM grants WHERE account_id = $1",
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)",
        "DELETE FROM app_preapprovals WHERE account_id = $1",
        "DELETE FROM blocked_apps WHERE account_id = $1",
        "DELETE FROM assistants WHERE account_id = $1",
        "DELETE FROM users WHERE account_id = $1",
        "DELETE FROM roles WHERE account_id = $1",
        "DELETE FROM accounts WHERE id = $1",
    ] {
        sqlx::query(table).bind(id).execute(&mut *conn).await?;
    }
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: id,
            actor,
            action: "account.deleted",
            target_kind: "account",
            target_id: id,
            details: serde_json::json!({}),
        },
    )
    .await
}

/// Blocks an app in an account: it installs nowhere there, and its grants there end.
pub async fn block_app(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    app_id: &str,
) -> Result<()> {
    require(conn, account_id).await?;
    crate::apps::require(conn, app_id).await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM blocked_apps WHERE account_id = $1 AND app_id = $2")
            .bind(account_id)
            .bind(app_id)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() {
        return Ok(());
    }
    let blocked_by = match actor {
        Actor::User(id) => Some(id.as_str()),
        _ => None,
    };
    sqlx::query("INSERT INTO blocked_apps (account_id, app_id, blocked_by, blocked_at) VALUES ($1, $2, $3, $4)")
        .bind(account_id)
        .bind(app_id)
        .bind(blocked_by)
        .bind(ctx.now.millis())
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id,
            actor,
            action: "app.blocked",
            target_kind: "app",
            target_id: app_id,
            details: serde_json::json!({}),
        },
    )
    .await?;
    grants::revoke_matching(
        conn,
        ctx,
        actor,
        grants::Matching::AppInAccount { app_id, account_id },
        "app blocked in the account",
    )
    .await?;
    Ok(())
}

pub async fn unblock_app(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    app_id: &str,
) -> Result<()> {
    let done = sqlx::query("DELETE FROM blocked_apps WHERE account_id = $1 AND app_id = $2")
        .bind(account_id)
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() > 0 {
        audit::record(
            conn,
            ctx,
            Entry {
                account_id,
                actor,
                action: "app.unblocked",
                target_kind: "app",
                target_id: app_id,
                details: serde_json::json!({}),
            },
        )
        .await?;
    }
    Ok(())
}

pub async fn blocked_apps(conn: &mut Conn, account_id: &str) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT app_id FROM blocked_apps WHERE account_id = $1 ORDER BY app_id")
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// A pre-approval of a user-level app for an account, or a member's request for one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preapproval {
    pub account_id: String,
    pub app_id: String,
    /// `requested`, `approved` or `declined`.
    pub status: String,
    pub requested_by: Option<String>,
    pub requested_at: Option<Timestamp>,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
}

pub async fn preapprovals(conn: &mut Conn, account_id: &str) -> Result<Vec<Preapproval>> {
    let found = sqlx::query(
        "SELECT account_id, app_id, status, requested_by, requested_at, decided_by, decided_at \
         FROM app_preapprovals WHERE account_id = $1 ORDER BY app_id",
    )
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok(Preapproval {
                account_id: rows::text(row, "account_id")?,
                app_id: rows::text(row, "app_id")?,
                status: rows::text(row, "status")?,
                requested_by: rows::opt_text(row, "requested_by")?,
                requested_at: rows::opt_time(row, "requested_at")?,
                decided_by: rows::opt_text(row, "decided_by")?,
                decided_at: rows::opt_time(row, "decided_at")?,
            })
        })
        .collect()
}

/// Records a user's request to pre-approve an app (kept until an admin answers it).
pub async fn request_preapproval(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    account_id: &str,
    app_id: &str,
    user_id: &str,
) -> Result<()> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM app_preapprovals WHERE account_id = $1 AND app_id = $2",
    )
    .bind(account_id)
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    match status.as_deref() {
        Some("approved") => return Ok(()),
        Some(_) => {
            sqlx::query(
                "UPDATE app_preapprovals SET status = 'requested', requested_by = $1, requested_at = $2, decided_by = NULL, decided_at = NULL \
                 WHERE account_id = $3 AND app_id = $4",
            )
            .bind(user_id)
            .bind(ctx.now.millis())
            .bind(account_id)
            .bind(app_id)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO app_preapprovals (account_id, app_id, status, requested_by, requested_at) VALUES ($1, $2, 'requested', $3, $4)",
            )
            .bind(account_id)
            .bind(app_id)
            .bind(user_id)
            .bind(ctx.now.millis())
            .execute(&mut *conn)
            .await?;
        }
    }
    let actor = Actor::User(user_id.to_owned());
    audit::record(
        conn,
        ctx,
        Entry {
            account_id,
            actor: &actor,
            action: "app.preapproval_requested",
            target_kind: "app",
            target_id: app_id,
            details: serde_json::json!({}),
        },
    )
    .await
}

/// An admin's answer: approve (also ahead of any request) or decline a request. Declining
/// needs a request to decline (`NotFound` otherwise); an account app is never pre-approved (its
/// install is an admin's own act). The audit entry records what it answered.
pub async fn decide_preapproval(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    app_id: &str,
    approve: bool,
) -> Result<()> {
    require(conn, account_id).await?;
    let app = crate::apps::require(conn, app_id).await?;
    if app.kind == accord_core::apps::AppKind::Account {
        return Err(StoreError::Invalid(format!(
            "app {app_id} is an account app: an admin installs it, nobody pre-approves it"
        )));
    }
    let before: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT status, requested_by FROM app_preapprovals WHERE account_id = $1 AND app_id = $2",
    )
    .bind(account_id)
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    if !approve
        && before
            .as_ref()
            .is_none_or(|(status, _)| status != "requested")
    {
        return Err(StoreError::not_found(
            "pre-approval request",
            format!("{app_id} in {account_id}"),
        ));
    }
    let status = if approve { "approved" } else { "declined" };
    let decided_by = match actor {
        Actor::User(id) => Some(id.clone()),
        _ => None,
    };
    let updated = sqlx::query("UPDATE app_preapprovals SET status = $1, decided_by = $2, decided_at = $3 WHERE account_id = $4 AND app_id = $5")
        .bind(status)
        .bind(decided_by.clone())
        .bind(ctx.now.millis())
        .bind(account_id)
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    if updated.rows_affected() == 0 {
        sqlx::query("INSERT INTO app_preapprovals (account_id, app_id, status, decided_by, decided_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(account_id)
            .bind(app_id)
            .bind(status)
            .bind(decided_by)
            .bind(ctx.now.millis())
            .execute(&mut *conn)
            .await?;
    }
    audit::record(
        conn,
        ctx,
        Entry {
            account_id,
            actor,
            action: if approve {
                "app.preapproved"
            } else {
                "app.preapproval_declined"
            },
            target_kind: "app",
            target_id: app_id,
            details: serde_json::json!({
                "previous_status": before.as_ref().map(|(status, _)| status),
                "requested_by": before.and_then(|(_, by)| by),
            }),
        },
    )
    .await
}

impl Store {
    pub async fn create_account(
        &self,
        actor: &Actor,
        new: NewAccount,
        owner: NewUser,
    ) -> Result<(Account, User, Option<Secret>)> {
        let mut tx = self.begin().await?;
        let created = create(&mut tx, &self.ctx(), actor, new, owner).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    pub async fn account(&self, id: &str) -> Result<Account> {
        let mut conn = self.pool().acquire().await?;
        require(&mut conn, id).await
    }

    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let mut conn = self.pool().acquire().await?;
        list(&mut conn).await
    }

    pub async fn update_account(
        &self,
        actor: &Actor,
        id: &str,
        change: AccountChange,
    ) -> Result<Account> {
        let mut tx = self.begin().await?;
        let account = update(&mut tx, &self.ctx(), actor, id, change).await?;
        self.commit(tx).await?;
        Ok(account)
    }

    pub async fn delete_account(&self, actor: &Actor, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        delete(&mut tx, &self.ctx(), actor, id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub async fn block_app(&self, actor: &Actor, account_id: &str, app_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        block_app(&mut tx, &self.ctx(), actor, account_id, app_id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub async fn unblock_app(&self, actor: &Actor, account_id: &str, app_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        unblock_app(&mut tx, &self.ctx(), actor, account_id, app_id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub async fn blocked_apps(&self, account_id: &str) -> Result<Vec<String>> {
        let mut conn = self.pool().acquire().await?;
        blocked_apps(&mut conn, account_id).await
    }

    pub async fn preapprovals(&self, account_id: &str) -> Result<Vec<Preapproval>> {
        let mut conn = self.pool().acquire().await?;
        preapprovals(&mut conn, account_id).await
    }

    pub async fn request_preapproval(
        &self,
        account_id: &str,
        app_id: &str,
        user_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        request_preapproval(&mut tx, &self.ctx(), account_id, app_id, user_id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub async fn decide_preapproval(
        &self,
        actor: &Actor,
        account_id: &str,
        app_id: &str,
        approve: bool,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        decide_preapproval(&mut tx, &self.ctx(), actor, account_id, app_id, approve).await?;
        self.commit(tx).await?;
        Ok(())
    }
}
