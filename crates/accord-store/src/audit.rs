//! The append-only audit log. Entries are written inside the transaction of the change they
//! record, and never hold a secret.

use accord_core::clock::Timestamp;
use serde::Serialize;
use sqlx::Row;

use crate::error::Result;
use crate::rows;
use crate::{Conn, Ctx, Store};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Actor {
    /// A signed-in user (console) or the user behind a token.
    User(String),
    /// An app acting with its own token.
    App(String),
    /// The operator: the command line, a seed file, the server itself.
    System(String),
}

impl Actor {
    pub fn cli() -> Actor {
        Actor::System("cli".into())
    }

    fn parts(&self) -> (&'static str, &str) {
        match self {
            Actor::User(id) => ("user", id),
            Actor::App(id) => ("app", id),
            Actor::System(id) => ("system", id),
        }
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub account_id: &'a str,
    pub actor: &'a Actor,
    /// Dotted verb, e.g. `user.created`, `role.updated`, `grant.revoked`.
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: &'a str,
    pub details: serde_json::Value,
}

/// An entry as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub id: String,
    pub account_id: String,
    pub at: Timestamp,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

pub async fn record(conn: &mut Conn, ctx: &Ctx<'_>, entry: Entry<'_>) -> Result<()> {
    let (actor_kind, actor_id) = entry.actor.parts();
    sqlx::query(
        "INSERT INTO audit_log (id, account_id, at, actor_kind, actor_id, action, target_kind, target_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(crate::secrets::new_id())
    .bind(entry.account_id)
    .bind(ctx.now.millis())
    .bind(actor_kind)
    .bind(actor_id)
    .bind(entry.action)
    .bind(entry.target_kind)
    .bind(entry.target_id)
    .bind(rows::to_json(&entry.details))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn entry_from(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        id: rows::text(row, "id")?,
        account_id: rows::text(row, "account_id")?,
        at: rows::time(row, "at")?,
        actor_kind: rows::text(row, "actor_kind")?,
        actor_id: rows::opt_text(row, "actor_id")?,
        action: rows::text(row, "action")?,
        target_kind: rows::text(row, "target_kind")?,
        target_id: rows::text(row, "target_id")?,
        details: rows::json(row, "details")?,
    })
}

/// Which entries of a window a page holds: every field `None` keeps every entry.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilter<'a> {
    /// Only entries made by this actor (a user id, an app's client id, `cli`…).
    pub actor_id: Option<&'a str>,
    /// Only entries with this action (`meeting.created`).
    pub action: Option<&'a str>,
    /// Only entries about this kind of object (`user`, `meeting`, …): Zoom's `category_type`.
    pub target_kind: Option<&'a str>,
}

/// The conditions both page queries share: account, window and filter (`$1`–`$6`; an empty
/// filter value matches every entry, so one statement serves both databases without typed NULLs).
/// A macro, not a `const`, so the statements stay literals (`concat!`).
macro_rules! window {
    () => {
        "account_id = $1 AND at >= $2 AND at < $3 \
         AND ($4 = '' OR actor_id = $4) AND ($5 = '' OR action = $5) AND ($6 = '' OR target_kind = $6)"
    };
}

/// One keyset page of an account's log between `from` (inclusive) and `to` (exclusive) that
/// `filter` keeps, oldest first, after the `(at, seq)` position; and the total it keeps.
pub async fn page(
    conn: &mut Conn,
    account_id: &str,
    from: Timestamp,
    to: Timestamp,
    filter: AuditFilter<'_>,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<(Vec<AuditEntry>, i64)> {
    let (after_at, after_seq) = after.unwrap_or((i64::MIN, i64::MIN));
    let bound = [filter.actor_id, filter.action, filter.target_kind].map(|v| v.unwrap_or(""));
    let found = sqlx::query(concat!(
        "SELECT seq, id, account_id, at, actor_kind, actor_id, action, target_kind, target_id, details \
         FROM audit_log WHERE ",
        window!(),
        " AND (at > $7 OR (at = $7 AND seq > $8)) ORDER BY at, seq LIMIT $9"
    ))
    .bind(account_id)
    .bind(from.millis())
    .bind(to.millis())
    .bind(bound[0])
    .bind(bound[1])
    .bind(bound[2])
    .bind(after_at)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 =
        sqlx::query_scalar(concat!("SELECT COUNT(*) FROM audit_log WHERE ", window!()))
            .bind(account_id)
            .bind(from.millis())
            .bind(to.millis())
            .bind(bound[0])
            .bind(bound[1])
            .bind(bound[2])
            .fetch_one(&mut *conn)
            .await?;
    Ok((
        found.iter().map(entry_from).collect::<Result<Vec<_>>>()?,
        total,
    ))
}

pub async fn list(conn: &mut Conn, account_id: &str) -> Result<Vec<AuditEntry>> {
    let found = sqlx::query(
        "SELECT seq, id, account_id, at, actor_kind, actor_id, action, target_kind, target_id, details \
         FROM audit_log WHERE account_id = $1 ORDER BY at, seq",
    )
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    found
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                seq: row.try_get("seq")?,
                id: rows::text(row, "id")?,
                account_id: rows::text(row, "account_id")?,
                at: rows::time(row, "at")?,
                actor_kind: rows::text(row, "actor_kind")?,
                actor_id: rows::opt_text(row, "actor_id")?,
                action: rows::text(row, "action")?,
                target_kind: rows::text(row, "target_kind")?,
                target_id: rows::text(row, "target_id")?,
                details: rows::json(row, "details")?,
            })
        })
        .collect()
}

impl Store {
    /// One keyset page of the account's audit log in a time window kept by `filter`, and the
    /// total it keeps.
    pub async fn audit_page(
        &self,
        account_id: &str,
        from: Timestamp,
        to: Timestamp,
        filter: AuditFilter<'_>,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<(Vec<AuditEntry>, i64)> {
        let mut conn = self.pool().acquire().await?;
        page(&mut conn, account_id, from, to, filter, after, limit).await
    }

    /// The account's audit log, oldest first.
    pub async fn audit_log(&self, account_id: &str) -> Result<Vec<AuditEntry>> {
        let mut conn = self.pool().acquire().await?;
        list(&mut conn, account_id).await
    }
}
