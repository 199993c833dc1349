//! Roles: the three built-ins every account gets, custom roles, and the privileges of a user now.

use accord_core::clock::Timestamp;
use accord_core::ids::RoleId;
use accord_core::names::RoleName;
use accord_core::privileges::{Privilege, PrivilegeSet};
use accord_core::roles::{self as rules, BuiltinRole};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::rows;
use crate::{Conn, Ctx, Store};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Role {
    pub account_id: String,
    pub id: RoleId,
    pub name: RoleName,
    pub description: String,
    pub privileges: PrivilegeSet,
    /// "builtin" or "custom".
    #[serde(rename = "type")]
    pub role_type: &'static str,
    pub total_members: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A custom role to create.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub id: Option<RoleId>,
    pub name: String,
    pub description: String,
    pub privileges: PrivilegeSet,
}

/// What to change on a role; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoleChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub privileges: Option<PrivilegeSet>,
}

const COLUMNS: &str = "r.account_id, r.id, r.name, r.description, r.privileges, r.created_at, r.updated_at, \
     (SELECT COUNT(*) FROM users u WHERE u.account_id = r.account_id AND u.role_id = r.id) AS total_members";

fn from_row(row: &AnyRow) -> Result<Role> {
    let id = rows::parsed(row, "id", RoleId::parse)?;
    let name = RoleName::parse(&rows::text(row, "name")?)
        .map_err(|e| StoreError::Corrupt(format!("role {id}: {e}")))?;
    let names: Vec<String> = rows::json(row, "privileges")?;
    let privileges = names
        .iter()
        .map(|n| n.parse::<Privilege>())
        .collect::<std::result::Result<PrivilegeSet, _>>()
        .map_err(|e| StoreError::Corrupt(format!("role {id}: {e}")))?;
    Ok(Role {
        account_id: rows::text(row, "account_id")?,
        role_type: if BuiltinRole::from_id(id.as_str()).is_some() {
            "builtin"
        } else {
            "custom"
        },
        id,
        name,
        description: rows::text(row, "description")?,
        privileges,
        total_members: row.try_get("total_members")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

/// A role name given to the store: [`RoleName`]'s rule, refused as [`StoreError::Invalid`].
fn parse_name(name: &str) -> Result<RoleName> {
    RoleName::parse(name).map_err(|e| StoreError::Invalid(e.0))
}

async fn insert_row(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    account_id: &str,
    id: &str,
    name: &RoleName,
    description: &str,
    privileges: PrivilegeSet,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO roles (account_id, id, name, name_key, description, privileges, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(account_id)
    .bind(id)
    .bind(name.as_str())
    .bind(name.key())
    .bind(description)
    .bind(rows::to_json(&privileges.names()))
    .bind(ctx.now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates Owner, Admin and Member in a new account.
pub(crate) async fn insert_builtins(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    account_id: &str,
) -> Result<()> {
    for role in BuiltinRole::ALL {
        insert_row(
            conn,
            ctx,
            account_id,
            role.id(),
            &role.role_name(),
            role.description(),
            role.default_privileges(),
        )
        .await?;
    }
    Ok(())
}

pub async fn get(conn: &mut Conn, account_id: &str, role_id: &str) -> Result<Option<Role>> {
    let sql = format!("SELECT {COLUMNS} FROM roles r WHERE r.account_id = $1 AND r.id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(role_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn require(conn: &mut Conn, account_id: &str, role_id: &str) -> Result<Role> {
    get(conn, account_id, role_id)
        .await?
        .ok_or_else(|| StoreError::not_found("role", role_id))
}

pub async fn list(conn: &mut Conn, account_id: &str) -> Result<Vec<Role>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM roles r WHERE r.account_id = $1 ORDER BY r.created_at, r.id"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

async fn name_taken(
    conn: &mut Conn,
    account_id: &str,
    name: &RoleName,
    except: Option<&str>,
) -> Result<bool> {
    let other: Option<String> =
        sqlx::query_scalar("SELECT id FROM roles WHERE account_id = $1 AND name_key = $2")
            .bind(account_id)
            .bind(name.key())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(other.is_some_and(|id| Some(id.as_str()) != except))
}

/// Creates a custom role.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    new: NewRole,
) -> Result<Role> {
    let name = parse_name(&new.name)?;
    let id = match new.id {
        Some(id) if BuiltinRole::from_id(id.as_str()).is_some() => {
            return Err(StoreError::Invalid(format!(
                "role id {id} is reserved for a built-in role"
            )));
        }
        Some(id) => id,
        None => RoleId::parse(crate::secrets::new_id()).map_err(|e| StoreError::Invalid(e.0))?,
    };
    if get(conn, account_id, id.as_str()).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "role id {id} already exists in this account"
        )));
    }
    if name_taken(conn, account_id, &name, None).await? {
        return Err(StoreError::Conflict(format!(
            "a role named {:?} already exists in this account",
            name.as_str()
        )));
    }
    insert_row(
        conn,
        ctx,
        account_id,
        id.as_str(),
        &name,
        new.description.trim(),
        new.privileges,
    )
    .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id,
            actor,
            action: "role.created",
            target_kind: "role",
            target_id: id.as_str(),
            details: serde_json::json!({"name": name, "privileges": new.privileges.names()}),
        },
    )
    .await?;
    require(conn, account_id, id.as_str()).await
}

/// Changes a role's name, description or privileges. The Owner role cannot change.
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    role_id: &str,
    change: RoleChange,
) -> Result<Role> {
    let current = require(conn, account_id, role_id).await?;
    let name = match &change.name {
        Some(name) => parse_name(name)?,
        None => current.name.clone(),
    };
    let description = change
        .description
        .as_deref()
        .map(str::trim)
        .unwrap_or(&current.description)
        .to_owned();
    let privileges = change.privileges.unwrap_or(current.privileges);
    if (name != current.name || privileges != current.privileges)
        && BuiltinRole::from_id(role_id).is_some()
    {
        if privileges != current.privileges {
            rules::check_privilege_change(role_id)?;
        }
        if name != current.name {
            return Err(StoreError::Invalid(
                "built-in roles keep their names".into(),
            ));
        }
    }
    if name == current.name
        && description == current.description
        && privileges == current.privileges
    {
        return Ok(current);
    }
    if name_taken(conn, account_id, &name, Some(role_id)).await? {
        return Err(StoreError::Conflict(format!(
            "a role named {:?} already exists in this account",
            name.as_str()
        )));
    }
    sqlx::query(
        "UPDATE roles SET name = $1, name_key = $2, description = $3, privileges = $4, updated_at = $5 \
         WHERE account_id = $6 AND id = $7",
    )
    .bind(name.as_str())
    .bind(name.key())
    .bind(&description)
    .bind(rows::to_json(&privileges.names()))
    .bind(ctx.now.millis())
    .bind(account_id)
    .bind(role_id)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id,
            actor,
            action: "role.updated",
            target_kind: "role",
            target_id: role_id,
            details: serde_json::json!({
                "name": name,
                "privileges_before": current.privileges.names(),
                "privileges_after": privileges.names(),
            }),
        },
    )
    .await?;
    require(conn, account_id, role_id).await
}

/// Deletes a custom role that no user holds.
pub async fn delete(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    role_id: &str,
) -> Result<()> {
    let role = require(conn, account_id, role_id).await?;
    rules::check_role_deletion(role_id)?;
    if role.total_members > 0 {
        return Err(StoreError::Invalid(format!(
            "role {} still has {} member(s); give them another role first",
            role.name, role.total_members
        )));
    }
    sqlx::query("DELETE FROM roles WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(role_id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id,
            actor,
            action: "role.deleted",
            target_kind: "role",
            target_id: role_id,
            details: serde_json::json!({"name": role.name}),
        },
    )
    .await
}

/// The privileges a user holds right now, through their role.
pub async fn privileges_of_user(conn: &mut Conn, user_id: &str) -> Result<PrivilegeSet> {
    let raw: Option<String> = sqlx::query_scalar(
        "SELECT r.privileges FROM users u JOIN roles r ON r.account_id = u.account_id AND r.id = u.role_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(raw) = raw else {
        return Ok(PrivilegeSet::empty());
    };
    let names: Vec<String> =
        serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    names
        .iter()
        .map(|n| n.parse::<Privilege>())
        .collect::<std::result::Result<PrivilegeSet, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    pub async fn roles(&self, account_id: &str) -> Result<Vec<Role>> {
        let mut conn = self.pool().acquire().await?;
        list(&mut conn, account_id).await
    }

    pub async fn role(&self, account_id: &str, role_id: &str) -> Result<Role> {
        let mut conn = self.pool().acquire().await?;
        require(&mut conn, account_id, role_id).await
    }

    pub async fn create_role(&self, actor: &Actor, account_id: &str, new: NewRole) -> Result<Role> {
        let mut tx = self.begin().await?;
        crate::accounts::require(&mut tx, account_id).await?;
        let role = create(&mut tx, &self.ctx(), actor, account_id, new).await?;
        self.commit(tx).await?;
        Ok(role)
    }

    pub async fn update_role(
        &self,
        actor: &Actor,
        account_id: &str,
        role_id: &str,
        change: RoleChange,
    ) -> Result<Role> {
        let mut tx = self.begin().await?;
        let role = update(&mut tx, &self.ctx(), actor, account_id, role_id, change).await?;
        self.commit(tx).await?;
        Ok(role)
    }

    pub async fn delete_role(&self, actor: &Actor, account_id: &str, role_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        delete(&mut tx, &self.ctx(), actor, account_id, role_id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub async fn user_privileges(&self, user_id: &str) -> Result<PrivilegeSet> {
        let mut conn = self.pool().acquire().await?;
        privileges_of_user(&mut conn, user_id).await
    }
}
