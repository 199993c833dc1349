//! Scheduling privilege: user U names user A as an assistant, and A may manage U's meetings.
//! Same account only, nobody is their own assistant, a pair is stored once.

use accord_core::clock::Timestamp;
use serde::Serialize;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::users::{self, User};
use crate::{Conn, Ctx, Store, rows};

/// One side of an assistant pair as listed: the other user and since when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delegate {
    pub user: User,
    pub since: Timestamp,
}

/// Makes `assistant_id` an assistant of `user_id`. Returns false when the pair already existed.
pub async fn add(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    user_id: &str,
    assistant_id: &str,
) -> Result<bool> {
    let user = users::require(conn, user_id).await?;
    let assistant = users::require(conn, assistant_id).await?;
    if user.id == assistant.id {
        return Err(StoreError::Invalid(
            "a user cannot be their own assistant".into(),
        ));
    }
    if user.account_id != assistant.account_id {
        // Read like a missing user: another account's users do not exist from here.
        return Err(StoreError::not_found("user", assistant_id));
    }
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM assistants WHERE user_id = $1 AND assistant_id = $2")
            .bind(user_id)
            .bind(assistant_id)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() {
        return Ok(false);
    }
    sqlx::query("INSERT INTO assistants (account_id, user_id, assistant_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(user.account_id.as_str())
        .bind(user_id)
        .bind(assistant_id)
        .bind(ctx.now.millis())
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: user.account_id.as_str(),
            actor,
            action: "assistant.added",
            target_kind: "user",
            target_id: user_id,
            details: serde_json::json!({"assistant_id": assistant_id}),
        },
    )
    .await?;
    Ok(true)
}

/// Removes one pair, or every assistant of `user_id` when `assistant_id` is `None`.
pub async fn remove(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    user_id: &str,
    assistant_id: Option<&str>,
) -> Result<u64> {
    let user = users::require(conn, user_id).await?;
    let done = match assistant_id {
        Some(a) => {
            sqlx::query("DELETE FROM assistants WHERE user_id = $1 AND assistant_id = $2")
                .bind(user_id)
                .bind(a)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM assistants WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await?
        }
    };
    if done.rows_affected() > 0 {
        audit::record(conn, ctx, Entry {
            account_id: user.account_id.as_str(),
            actor,
            action: "assistant.removed",
            target_kind: "user",
            target_id: user_id,
            details: serde_json::json!({"assistant_id": assistant_id, "removed": done.rows_affected()}),
        })
        .await?;
    }
    Ok(done.rows_affected())
}

async fn delegates(conn: &mut Conn, sql: &'static str, id: &str) -> Result<Vec<Delegate>> {
    let pairs = sqlx::query(sql).bind(id).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(pairs.len());
    for row in &pairs {
        let other = rows::text(row, "other")?;
        out.push(Delegate {
            user: users::require(conn, &other).await?,
            since: rows::time(row, "created_at")?,
        });
    }
    Ok(out)
}

/// The assistants of `user_id`: who may manage their meetings.
pub async fn assistants_of(conn: &mut Conn, user_id: &str) -> Result<Vec<Delegate>> {
    delegates(conn, "SELECT assistant_id AS other, created_at FROM assistants WHERE user_id = $1 ORDER BY created_at, assistant_id", user_id).await
}

/// The schedulers view of `assistant_id`: whose meetings they may manage.
pub async fn principals_of(conn: &mut Conn, assistant_id: &str) -> Result<Vec<Delegate>> {
    delegates(conn, "SELECT user_id AS other, created_at FROM assistants WHERE assistant_id = $1 ORDER BY created_at, user_id", assistant_id).await
}

impl Store {
    pub async fn add_assistant(
        &self,
        actor: &Actor,
        user_id: &str,
        assistant_id: &str,
    ) -> Result<bool> {
        Ok(self.add_assistants(actor, user_id, &[assistant_id]).await? == 1)
    }

    /// Makes each of `assistant_ids` an assistant of `user_id`, all or none (one transaction).
    /// Returns how many pairs are new.
    pub async fn add_assistants(
        &self,
        actor: &Actor,
        user_id: &str,
        assistant_ids: &[&str],
    ) -> Result<usize> {
        let mut tx = self.begin().await?;
        let mut added = 0;
        for assistant_id in assistant_ids {
            added += usize::from(add(&mut tx, &self.ctx(), actor, user_id, assistant_id).await?);
        }
        self.commit(tx).await?;
        Ok(added)
    }

    /// `assistant_id` stops being anybody's assistant, in one transaction (an audit entry per
    /// principal). Returns how many pairs ended.
    pub async fn remove_from_every_principal(
        &self,
        actor: &Actor,
        assistant_id: &str,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut removed = 0;
        for principal in principals_of(&mut tx, assistant_id).await? {
            removed += remove(
                &mut tx,
                &self.ctx(),
                actor,
                principal.user.id.as_str(),
                Some(assistant_id),
            )
            .await?;
        }
        self.commit(tx).await?;
        Ok(removed)
    }

    pub async fn remove_assistant(
        &self,
        actor: &Actor,
        user_id: &str,
        assistant_id: Option<&str>,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let removed = remove(&mut tx, &self.ctx(), actor, user_id, assistant_id).await?;
        self.commit(tx).await?;
        Ok(removed)
    }

    pub async fn assistants(&self, user_id: &str) -> Result<Vec<Delegate>> {
        let mut conn = self.pool().acquire().await?;
        assistants_of(&mut conn, user_id).await
    }

    pub async fn schedulers(&self, assistant_id: &str) -> Result<Vec<Delegate>> {
        let mut conn = self.pool().acquire().await?;
        principals_of(&mut conn, assistant_id).await
    }
}
