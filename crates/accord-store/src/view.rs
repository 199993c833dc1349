//! The in-memory access view every node keeps, so the permission rule reads grants, roles,
//! privileges and assistant pairs without a database round trip per request.
//!
//! **One place invalidates it**: database triggers append a row to `view_changes` in the same
//! transaction as any change to `grants`, `users`, `roles` or `assistants`, and [`AccessView::sync`]
//! applies the rows after the last sequence number this node saw. `sync` runs after every commit
//! this process makes (so its own changes show on the very next request), on PostgreSQL whenever a
//! `NOTIFY accord_view` arrives from another node, and on a short timer as a safety net; a full
//! reload runs periodically and whenever rows were pruned before this node read them.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use accord_core::grants::{GrantKind, GrantStatus};
use accord_core::ids::UserId;
use accord_core::privileges::{Privilege, PrivilegeSet};
use accord_core::users::UserStatus;
use sqlx::AnyPool;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};
use crate::rows;

/// A grant as the permission rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantState {
    pub kind: GrantKind,
    pub app_id: String,
    pub account_id: String,
    pub user_id: Option<String>,
    pub created_by: Option<String>,
    pub status: GrantStatus,
    pub generation: i64,
}

impl From<&crate::grants::Grant> for GrantState {
    fn from(grant: &crate::grants::Grant) -> Self {
        GrantState {
            kind: grant.kind,
            app_id: grant.app_id.clone(),
            account_id: grant.account_id.clone(),
            user_id: grant.user_id.clone(),
            created_by: grant.created_by.clone(),
            status: grant.status,
            generation: grant.generation,
        }
    }
}

/// A user as the permission rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub account_id: String,
    pub role_id: String,
    pub status: UserStatus,
}

#[derive(Debug, Default)]
struct Data {
    /// The highest `view_changes.seq` applied.
    seq: i64,
    /// Sequence numbers applied within the last [`WINDOW`]: on PostgreSQL a transaction that took
    /// a lower number may commit after a higher one, so every sync looks back that far and applies
    /// what it has not seen yet.
    applied: std::collections::BTreeSet<i64>,
    grants: HashMap<String, GrantState>,
    users: HashMap<String, UserState>,
    /// (account, role) → privileges.
    roles: HashMap<(String, String), PrivilegeSet>,
    /// assistant → the users who made them their assistant.
    principals: HashMap<String, Vec<String>>,
    /// account → its owner.
    owners: HashMap<String, String>,
}

impl Data {
    fn set_user(&mut self, id: &str, user: Option<UserState>) {
        if let Some(old) = self.users.remove(id)
            && self
                .owners
                .get(&old.account_id)
                .is_some_and(|owner| owner == id)
        {
            self.owners.remove(&old.account_id);
        }
        if let Some(user) = user {
            if user.role_id == accord_core::roles::BuiltinRole::Owner.id() {
                self.owners.insert(user.account_id.clone(), id.to_owned());
            }
            self.users.insert(id.to_owned(), user);
        }
    }
}

/// The view. Cheap to read (one read lock); `sync` and `reload` take the write lock only to swap in
/// what they read.
#[derive(Debug, Default)]
pub struct AccessView {
    data: RwLock<Data>,
}

fn grant_from(row: &AnyRow) -> Result<(String, GrantState)> {
    Ok((
        rows::text(row, "id")?,
        GrantState {
            kind: rows::parsed(row, "kind", |s| {
                GrantKind::parse(&s).ok_or(format!("unknown grant kind {s}"))
            })?,
            app_id: rows::text(row, "app_id")?,
            account_id: rows::text(row, "account_id")?,
            user_id: rows::opt_text(row, "user_id")?,
            created_by: rows::opt_text(row, "created_by")?,
            status: rows::parsed(row, "status", |s| {
                GrantStatus::parse(&s).ok_or(format!("unknown grant status {s}"))
            })?,
            generation: rows::int(row, "generation")?,
        },
    ))
}

fn user_from(row: &AnyRow) -> Result<(String, UserState)> {
    Ok((
        rows::text(row, "id")?,
        UserState {
            account_id: rows::text(row, "account_id")?,
            role_id: rows::text(row, "role_id")?,
            status: rows::parsed(row, "status", |s| {
                UserStatus::parse(&s).ok_or(format!("unknown user status {s}"))
            })?,
        },
    ))
}

fn privileges_from(row: &AnyRow) -> Result<((String, String), PrivilegeSet)> {
    let names: Vec<String> = rows::json(row, "privileges")?;
    let set = names
        .iter()
        .map(|n| n.parse::<Privilege>())
        .collect::<std::result::Result<PrivilegeSet, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((
        (rows::text(row, "account_id")?, rows::text(row, "id")?),
        set,
    ))
}

const GRANT_COLUMNS: &str =
    "SELECT id, kind, app_id, account_id, user_id, created_by, status, generation FROM grants";
const USER_COLUMNS: &str = "SELECT id, account_id, role_id, status FROM users";
const ROLE_COLUMNS: &str = "SELECT account_id, id, privileges FROM roles";

/// At most this many change rows are applied one by one; beyond, a full reload is cheaper.
const MAX_INCREMENTAL: i64 = 5000;

/// How far back each sync looks for changes committed out of sequence order.
const WINDOW: i64 = 256;

impl AccessView {
    /// Reads everything. The sequence is read first, so a change committed meanwhile is applied
    /// again by the next `sync` (applying a change twice is harmless).
    pub async fn reload(&self, pool: &AnyPool) -> Result<()> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM view_changes")
            .fetch_one(pool)
            .await?;
        let mut data = Data {
            seq: seq.unwrap_or(0),
            ..Data::default()
        };
        for row in sqlx::query(GRANT_COLUMNS).fetch_all(pool).await? {
            let (id, grant) = grant_from(&row)?;
            data.grants.insert(id, grant);
        }
        for row in sqlx::query(USER_COLUMNS).fetch_all(pool).await? {
            let (id, user) = user_from(&row)?;
            data.set_user(&id, Some(user));
        }
        for row in sqlx::query(ROLE_COLUMNS).fetch_all(pool).await? {
            let (key, set) = privileges_from(&row)?;
            data.roles.insert(key, set);
        }
        for row in sqlx::query("SELECT user_id, assistant_id FROM assistants")
            .fetch_all(pool)
            .await?
        {
            data.principals
                .entry(rows::text(&row, "assistant_id")?)
                .or_default()
                .push(rows::text(&row, "user_id")?);
        }
        *self.data.write().unwrap_or_else(|e| e.into_inner()) = data;
        Ok(())
    }

    /// Applies the changes committed since the last sync. Returns how many it applied.
    pub async fn sync(&self, pool: &AnyPool) -> Result<usize> {
        // Two syncs may race; the one that loses reads again (bounded), then falls back to a reload.
        for _ in 0..4 {
            if let Some(applied) = self.try_sync(pool).await? {
                return Ok(applied);
            }
        }
        self.reload(pool).await?;
        Ok(0)
    }

    async fn try_sync(&self, pool: &AnyPool) -> Result<Option<usize>> {
        let (since, applied) = {
            let data = self.data.read().unwrap_or_else(|e| e.into_inner());
            (data.seq, data.applied.clone())
        };
        let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM view_changes")
            .fetch_one(pool)
            .await?;
        let rows_found = sqlx::query(
            "SELECT seq, kind, key FROM view_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(since - WINDOW)
        .bind(MAX_INCREMENTAL + WINDOW + 1)
        .fetch_all(pool)
        .await?;
        let mut changes = Vec::with_capacity(rows_found.len());
        for row in rows_found {
            if !applied.contains(&rows::int(&row, "seq")?) {
                changes.push(row);
            }
        }
        // Rows this node never saw were pruned, or there are too many: read everything instead.
        if oldest.is_some_and(|oldest| oldest > since + 1 && since > 0)
            || changes.len() as i64 > MAX_INCREMENTAL
        {
            self.reload(pool).await?;
            return Ok(Some(changes.len()));
        }
        if changes.is_empty() {
            return Ok(Some(0));
        }
        let mut new_seqs = Vec::with_capacity(changes.len());
        for row in &changes {
            new_seqs.push(rows::int(row, "seq")?);
        }
        let mut seen = HashSet::new();
        let mut grants = Vec::new();
        let mut users = Vec::new();
        let mut roles = Vec::new();
        let mut assistants = Vec::new();
        for row in &changes {
            let (kind, key) = (rows::text(row, "kind")?, rows::text(row, "key")?);
            if !seen.insert((kind.clone(), key.clone())) {
                continue;
            }
            match kind.as_str() {
                "grant" => grants.push((
                    key.clone(),
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{GRANT_COLUMNS} WHERE id = $1"
                    )))
                    .bind(key)
                    .fetch_optional(pool)
                    .await?,
                )),
                "user" => users.push((
                    key.clone(),
                    sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} WHERE id = $1")))
                        .bind(key)
                        .fetch_optional(pool)
                        .await?,
                )),
                "role" => {
                    let (account, role) = key.split_once('/').unwrap_or((key.as_str(), ""));
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{ROLE_COLUMNS} WHERE account_id = $1 AND id = $2"
                    )))
                    .bind(account.to_owned())
                    .bind(role.to_owned())
                    .fetch_optional(pool)
                    .await?;
                    roles.push(((account.to_owned(), role.to_owned()), row));
                }
                "assistant" => {
                    let principals: Vec<String> = sqlx::query_scalar(
                        "SELECT user_id FROM assistants WHERE assistant_id = $1",
                    )
                    .bind(&key)
                    .fetch_all(pool)
                    .await?;
                    assistants.push((key, principals));
                }
                _ => {}
            }
        }
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        if data.seq != since || data.applied != applied {
            // Another sync ran meanwhile: read again.
            return Ok(None);
        }
        for (id, row) in grants {
            match row {
                Some(row) => {
                    let (id, grant) = grant_from(&row)?;
                    data.grants.insert(id, grant);
                }
                None => {
                    data.grants.remove(&id);
                }
            }
        }
        for (id, row) in users {
            let user = row
                .as_ref()
                .map(user_from)
                .transpose()?
                .map(|(_, user)| user);
            data.set_user(&id, user);
        }
        for (key, row) in roles {
            match row {
                Some(row) => {
                    let (key, set) = privileges_from(&row)?;
                    data.roles.insert(key, set);
                }
                None => {
                    data.roles.remove(&key);
                }
            }
        }
        for (assistant, principals) in assistants {
            if principals.is_empty() {
                data.principals.remove(&assistant);
            } else {
                data.principals.insert(assistant, principals);
            }
        }
        let count = new_seqs.len();
        for seq in new_seqs {
            data.seq = data.seq.max(seq);
            data.applied.insert(seq);
        }
        let floor = data.seq - WINDOW;
        data.applied.retain(|seq| *seq > floor);
        Ok(Some(count))
    }

    /// Deletes change rows older than an hour (by the database's clock).
    pub async fn prune(pool: &AnyPool, now_millis: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM view_changes WHERE at < $1")
            .bind(now_millis - 3_600_000)
            .execute(pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub fn grant(&self, id: &str) -> Option<GrantState> {
        self.data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .grants
            .get(id)
            .cloned()
    }

    pub fn user(&self, id: &str) -> Option<UserState> {
        self.data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .users
            .get(id)
            .cloned()
    }

    /// The privileges of a user's role now (none for an unknown user).
    pub fn privileges(&self, user_id: &str) -> PrivilegeSet {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        data.users
            .get(user_id)
            .and_then(|user| {
                data.roles
                    .get(&(user.account_id.clone(), user.role_id.clone()))
            })
            .copied()
            .unwrap_or_default()
    }

    /// The users who made `assistant_id` their assistant.
    pub fn principals(&self, assistant_id: &str) -> Vec<UserId> {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        data.principals
            .get(assistant_id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| UserId::parse(id.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `me` of a grant now: the authorizing user; the installer while still in the account (else
    /// the owner); the owner for a server grant.
    pub fn me(&self, grant: &GrantState) -> Option<UserId> {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        let owner = data
            .owners
            .get(&grant.account_id)
            .and_then(|o| UserId::parse(o.clone()).ok())?;
        let installer = grant
            .created_by
            .as_ref()
            .filter(|id| {
                data.users
                    .get(*id)
                    .is_some_and(|u| u.account_id == grant.account_id)
            })
            .and_then(|id| UserId::parse(id.clone()).ok());
        let authorized = grant
            .user_id
            .as_ref()
            .and_then(|id| UserId::parse(id.clone()).ok());
        accord_core::permission::resolve_me(
            grant.kind,
            authorized.as_ref(),
            installer.as_ref(),
            &owner,
        )
    }
}
