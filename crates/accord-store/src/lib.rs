//! Accord's storage: one [`Store`] over SQLite (the embedded default) and PostgreSQL.
//!
//! Every query is one SQL text that runs on both (`$1…$N` placeholders, portable types: ids and
//! JSON as TEXT, times as BIGINT milliseconds, flags as BIGINT 0/1, hashes as BLOB/BYTEA).
//! Each entity module offers connection-level functions that compose inside one transaction (so an
//! audit entry and any webhook event ([`outbox`]) are written with the change that causes it) and
//! `impl Store` methods that wrap one change in its own transaction.

pub mod accounts;
pub mod apps;
pub mod assistants;
pub mod audit;
pub mod database;
pub mod deliveries;
pub mod error;
pub mod grants;
pub mod meetings;
pub mod outbox;
pub mod roles;
mod rotations;
pub mod secrets;
pub mod seed;
pub mod sessions;
pub mod signing_keys;
pub mod tokens;
pub mod users;
pub mod view;
pub mod webhook_log;

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
    /// SQLite only: the one connection write transactions use.
    writer: Option<AnyPool>,
    /// SQLite only: refresh rotations waiting to be committed together on the writer.
    rotations: Option<rotations::Queue>,
    database_url: String,
    view: view::AccessView,
    /// When the view last confirmed it holds every committed change.
    freshness: view::Freshness,
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
                rotations: opened.writer.clone().map(rotations::Queue::start),
                writer: opened.writer,
                database_url: config.database_url.clone(),
                view: view::AccessView::new(opened.backend),
                freshness: view::Freshness::default(),
                backend: opened.backend,
                keys,
                clock,
                master_key_source: opened.master_key_source,
            }),
        };
        store.check_master_key().await?;
        let started = store.now();
        store.inner.view.reload(&store.inner.pool).await?;
        store.inner.freshness.confirm(started);
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

    /// Starts a transaction. On SQLite it runs on the one writer connection and takes the write
    /// lock at once (`BEGIN IMMEDIATE`): this process's writers queue for that connection, and a
    /// writer of another process (the CLI) waits on the busy timeout instead of failing when a read
    /// lock cannot be upgraded. Never begin a second transaction while holding one.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>> {
        let tx = match &self.inner.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await?,
            None => self.inner.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Closes every connection (the pool's and, on SQLite, the writer's).
    pub async fn close(&self) {
        self.inner.pool.close().await;
        if let Some(writer) = &self.inner.writer {
            writer.close().await;
        }
    }

    /// Commits a transaction, then brings this process's access view up to date, so a change shows
    /// on the very next request this process serves.
    pub async fn commit(&self, tx: Transaction<'static, Any>) -> Result<()> {
        tx.commit().await?;
        self.sync_view().await;
        Ok(())
    }

    /// Commits a transaction that changed no table the access view follows (grants, users, roles,
    /// assistants, accounts' limits, apps, their credentials and secrets, signing keys — see
    /// [`view`]): refresh-token rotation and code redemption, the hottest writes. It skips the
    /// sync [`Store::commit`] runs, which would find nothing new (the watcher still runs).
    pub async fn commit_outside_view(&self, tx: Transaction<'static, Any>) -> Result<()> {
        tx.commit().await?;
        Ok(())
    }

    /// The in-memory access view (grants, roles, privileges, assistants) of this process.
    pub fn view(&self) -> &view::AccessView {
        &self.inner.view
    }

    /// Applies committed changes to the access view. A failure only delays the view (the watcher
    /// retries), so it is logged rather than returned.
    pub async fn sync_view(&self) {
        if let Err(error) = self.try_sync_view().await {
            tracing::warn!(%error, "the access view could not be brought up to date; retrying shortly");
        }
    }

    /// Applies committed changes to the access view and, when that succeeds, confirms it fresh
    /// as of the moment the sync started.
    async fn try_sync_view(&self) -> Result<()> {
        let started = self.now();
        self.inner.view.sync(&self.inner.pool).await?;
        self.inner.freshness.confirm(started);
        Ok(())
    }

    /// How long ago (by the store's clock) the access view was last confirmed to hold every
    /// committed change.
    pub fn view_age(&self) -> std::time::Duration {
        self.inner.freshness.age(self.now())
    }

    /// Succeeds when the access view was confirmed within `bound`. Otherwise it tries one catch-up
    /// sync — concurrent callers share a single attempt, so a node cut off from its database
    /// answers each of them within about one acquire timeout — and fails if the view is still
    /// older than `bound`: a caller must then refuse rather than decide on grants that may have
    /// been revoked meanwhile.
    pub async fn ensure_view_fresh(
        &self,
        bound: std::time::Duration,
    ) -> std::result::Result<(), view::StaleView> {
        use std::sync::atomic::Ordering;
        if self.view_age() <= bound {
            return Ok(());
        }
        let freshness = &self.inner.freshness;
        let seen = freshness.attempts.load(Ordering::Acquire);
        let _turn = freshness.catching_up.lock().await;
        if freshness.attempts.load(Ordering::Acquire) == seen {
            // No attempt finished while this caller waited for its turn: make one.
            if let Err(error) = self.try_sync_view().await {
                tracing::warn!(%error, "the access view is stale and cannot catch up");
            }
            freshness.attempts.fetch_add(1, Ordering::AcqRel);
        }
        let age = self.view_age();
        if age <= bound {
            Ok(())
        } else {
            Err(view::StaleView { age, bound })
        }
    }

    /// Keeps the access view current with changes other processes make: on PostgreSQL it listens
    /// for `NOTIFY accord_view` (sent when they commit), and everywhere it also syncs every 250 ms,
    /// reloads fully every 5 minutes and prunes change rows older than an hour. A lost LISTEN
    /// connection (a database restart) is opened again every few seconds; polling covers the
    /// meantime, so no change is missed, only noticed up to 250 ms later.
    pub fn spawn_view_watcher(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move { store.watch_view().await })
    }

    /// A connection listening for `NOTIFY accord_view` (PostgreSQL), or `None` (logged) when one
    /// cannot be opened within the pool's acquire timeout.
    async fn listen_for_view_changes(&self) -> Option<sqlx::postgres::PgListener> {
        if self.inner.backend != Backend::Postgres {
            return None;
        }
        let within = self.inner.pool.options().get_acquire_timeout();
        let listen = async {
            let mut listener =
                sqlx::postgres::PgListener::connect(&self.inner.database_url).await?;
            listener.listen("accord_view").await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match tokio::time::timeout(within, listen).await {
            Ok(Ok(listener)) => Some(listener),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot LISTEN for access changes; polling meanwhile");
                None
            }
            Err(_) => {
                tracing::warn!("cannot LISTEN for access changes (timed out); polling meanwhile");
                None
            }
        }
    }

    async fn watch_view(&self) {
        let mut listener = self.listen_for_view_changes().await;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        let mut full = tokio::time::interval(std::time::Duration::from_secs(300));
        let mut relisten = tokio::time::interval(std::time::Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        relisten.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        full.tick().await;
        relisten.tick().await;
        let postgres = self.inner.backend == Backend::Postgres;
        while !self.inner.pool.is_closed() {
            let listening = listener.is_some();
            let notified = async {
                match listener.as_mut() {
                    // A dropped connection reconnects inside recv; what was sent meanwhile is
                    // covered by the timer (each sync reads every change it has not applied).
                    Some(listener) => listener.recv().await.map(|_| ()).map_err(|e| e.to_string()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = notified => {
                    if let Err(error) = result {
                        // Poll rather than spin on a connection that keeps failing; `relisten`
                        // opens a new one.
                        tracing::warn!(%error, "access-change notifications lost; polling until they return");
                        listener = None;
                    }
                    self.sync_view().await;
                }
                _ = tick.tick() => {
                    if !self.inner.pool.is_closed() {
                        self.sync_view().await;
                    }
                }
                _ = relisten.tick(), if postgres && !listening => {
                    listener = self.listen_for_view_changes().await;
                }
                _ = full.tick() => {
                    let started = self.now();
                    match self.inner.view.reload(&self.inner.pool).await {
                        Ok(()) => self.inner.freshness.confirm(started),
                        Err(error) => tracing::warn!(%error, "full reload of the access view failed"),
                    }
                    // Change rows carry the database's clock, so pruning uses real time too.
                    let now = accord_core::clock::Clock::now(&SystemClock).millis();
                    let _ = view::AccessView::prune(&self.inner.pool, now).await;
                }
            }
        }
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
