//! Accord's storage: one [`Store`] over SQLite (the embedded default) and PostgreSQL.
//!
//! Every query is one SQL text that runs on both (`$1…$N` placeholders, portable types: ids and
//! JSON as TEXT, times as BIGINT milliseconds, flags as BIGINT 0/1, hashes as BLOB/BYTEA).
//! Each entity module offers connection-level functions that compose inside one transaction (so an
//! audit entry — and later an outbox event — is written with the change that causes it) and
//! `impl Store` methods that wrap one change in its own transaction.

pub mod accounts;
pub mod apps;
pub mod assistants;
pub mod audit;
pub mod database;
pub mod error;
pub mod grants;
pub mod meetings;
pub mod roles;
pub mod secrets;
pub mod seed;
pub mod sessions;
pub mod signing_keys;
pub mod tokens;
pub mod users;

mod rows;

use std::sync::Arc;

use accord_core::clock::{Clock, SystemClock, Timestamp};
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};

pub use database::{Backend, StoreConfig, redact_url};
pub use error::{Result, StoreError};
use secrets::Keys;

/// The storage handle: a connection pool, the keys derived from the master key, and the clock.
/// Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    keys: Keys,
    clock: Arc<dyn Clock>,
    master_key_source: String,
}

/// What a change is made with: the time it happens at and the keys for secrets.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub keys: &'a Keys,
}

/// How many of each thing the deployment holds (printed at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub accounts: i64,
    pub users: i64,
    pub apps: i64,
    pub grants: i64,
}

impl Store {
    /// Opens (creating and migrating as needed) the database the config names, with the real clock.
    pub async fn open(config: &StoreConfig) -> Result<Store> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn open_with_clock(config: &StoreConfig, clock: Arc<dyn Clock>) -> Result<Store> {
        let opened = database::open(config).await?;
        let keys = Keys::new(&opened.master_key, config.password_cost)?;
        let store = Store {
            inner: Arc::new(Inner {
                pool: opened.pool,
                backend: opened.backend,
                keys,
                clock,
                master_key_source: opened.master_key_source,
            }),
        };
        store.check_master_key().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Where the master key came from (an environment variable or a file path), for the start banner.
    pub fn master_key_source(&self) -> &str {
        &self.inner.master_key_source
    }

    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            now: self.now(),
            keys: &self.inner.keys,
        }
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so two
    /// writers queue on the busy timeout instead of failing when a read lock cannot be upgraded.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>> {
        let tx = match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Whether the database answers and every migration is applied (for `/readyz`).
    pub async fn ready(&self) -> Result<bool> {
        database::migrations_current(&self.inner.pool, self.inner.backend).await
    }

    pub async fn counts(&self) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM users), \
             (SELECT COUNT(*) FROM apps), (SELECT COUNT(*) FROM grants WHERE status = 'active')",
        )
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(Counts {
            accounts: row.try_get(0)?,
            users: row.try_get(1)?,
            apps: row.try_get(2)?,
            grants: row.try_get(3)?,
        })
    }

    /// Refuses to run with a master key other than the one the database was first opened with.
    async fn check_master_key(&self) -> Result<()> {
        let expected = self.inner.keys.check_value();
        let mut tx = self.begin().await?;
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT value FROM deployment_settings WHERE name = 'master_key_check'",
        )
        .fetch_optional(&mut *tx)
        .await?;
        match stored {
            Some(value) if value == expected => {}
            Some(_) => {
                return Err(StoreError::Config(format!(
                    "the master key from {} is not the one this database was created with; \
                     set ACCORD_MASTER_KEY to the original key",
                    self.inner.master_key_source
                )));
            }
            None => {
                sqlx::query(
                    "INSERT INTO deployment_settings (name, value) VALUES ('master_key_check', $1)",
                )
                .bind(expected)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Shorthand for the connection type every entity function takes.
pub type Conn = AnyConnection;
