//! Browser sign-in sessions: the cookie holds a random value, the database only its keyed hash.

use accord_core::clock::Timestamp;
use accord_core::ids::Secret;

use crate::error::Result;
use crate::users::{self, User};
use crate::{Store, rows, secrets};

/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

impl Store {
    /// Starts a session for a signed-in user; returns the cookie value (shown to the browser only).
    pub async fn create_session(&self, user_id: &str) -> Result<Secret> {
        let ctx = self.ctx();
        let value = secrets::new_secret();
        sqlx::query("INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(ctx.keys.hash_secret(value.expose()))
            .bind(user_id)
            .bind(ctx.now.millis())
            .bind(ctx.now.plus_seconds(SESSION_SECONDS).millis())
            .execute(self.pool())
            .await?;
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(ctx.now.millis())
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(value)
    }

    /// The active user a session cookie belongs to, if the session is live.
    pub async fn session_user(&self, cookie: &str) -> Result<Option<(User, Timestamp)>> {
        let ctx = self.ctx();
        let row = sqlx::query("SELECT user_id, expires_at FROM sessions WHERE id_hash = $1")
            .bind(ctx.keys.hash_secret(cookie))
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = rows::time(&row, "expires_at")?;
        if expires_at <= ctx.now {
            return Ok(None);
        }
        let mut conn = self.pool().acquire().await?;
        let user = users::get(&mut conn, &rows::text(&row, "user_id")?).await?;
        Ok(user
            .filter(|u| u.status == accord_core::users::UserStatus::Active)
            .map(|u| (u, expires_at)))
    }

    /// Ends a session (sign-out).
    pub async fn delete_session(&self, cookie: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(self.keys().hash_secret(cookie))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
