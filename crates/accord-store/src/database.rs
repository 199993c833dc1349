//! Opening the database: choosing the backend from the URL, SQLite's file and pragmas, the pool,
//! the master key, and migrations (one numbered folder per backend, applied on every start).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row, SqlSafeStr};

use crate::error::{Result, StoreError};
use crate::secrets::{MAKE_A_KEY, MasterKey};

/// Which database the URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {}: use sqlite://PATH (the embedded default) or postgres://USER@HOST:PORT/DB",
                redact_url(url)
            )))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The database URL with any password replaced, safe to print and log: the one in the user info
/// (`postgres://user:pw@host/db`) and any query parameter that carries one (`?password=…`,
/// `&sslpassword=…`), which PostgreSQL accepts as well.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    let masked = if userinfo.contains(':') {
                        format!("{user}:***")
                    } else {
                        user.to_owned()
                    };
                    format!("{scheme}://{masked}@{host}{tail}")
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    let Some(query) = query else {
        return base;
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if carries_password(name) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", redacted.join("&"))
}

/// Whether a URL query parameter's value is a password (`password`, `sslpassword`, `PASSWORD`,
/// and their percent-encoded spellings alike).
fn carries_password(name: &str) -> bool {
    let decoded: String = form_decode(name).to_ascii_lowercase();
    decoded.ends_with("password") || decoded == "pass" || decoded == "pwd"
}

/// Percent-decodes a query parameter name (enough to see through `pass%77ord`).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The SQLite file a `sqlite:` URL names (`sqlite://./x.db`, `sqlite:x.db`, `sqlite:///abs/x.db`).
pub fn sqlite_path(url: &str) -> Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "the SQLite database must be a file (an in-memory database gives every pooled connection its own empty copy)".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Where the embedded default keeps its generated master key; default: the SQLite file's folder.
    pub data_dir: Option<PathBuf>,
    /// Base64 of 32 bytes; required for PostgreSQL, generated into the data directory for SQLite.
    pub master_key: Option<String>,
    pub password_cost: crate::secrets::PasswordCost,
    pub max_connections: u32,
    /// How long a query waits for a pooled connection — including reconnecting to a database
    /// that refuses connections (a PostgreSQL restart) — before it fails as unavailable (503).
    /// Every request that needs the database answers within about this long, never hangs.
    pub acquire_timeout: Duration,
}

/// The default [`StoreConfig::acquire_timeout`]: long enough for a busy pool to hand out a
/// connection to every waiter (fifty concurrent refreshes of one grant queue on its lock; at 3 s a
/// loaded 2-core machine answered some of them 503), short enough that a client sees 503 before
/// its own timeout. A deployment that prefers failing fast in an outage lowers it.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl StoreConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        StoreConfig {
            database_url: database_url.into(),
            data_dir: None,
            master_key: None,
            password_cost: crate::secrets::PasswordCost::DEFAULT,
            max_connections: 10,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

/// What opening found: the pool, the backend, the master key and where it came from.
pub(crate) struct Opened {
    pub pool: AnyPool,
    /// SQLite only: the one connection write transactions use (see [`crate::Store::begin`]).
    pub writer: Option<AnyPool>,
    pub backend: Backend,
    pub master_key: MasterKey,
    pub master_key_source: String,
}

pub(crate) async fn open(config: &StoreConfig) -> Result<Opened> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(&config.database_url)?;
    let mut url = config.database_url.clone();
    let data_dir = match backend {
        Backend::Sqlite => {
            let path = sqlite_path(&url)?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            std::fs::create_dir_all(&dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create the database folder {}: {e}",
                    dir.display()
                ))
            })?;
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            Some(config.data_dir.clone().unwrap_or(dir))
        }
        Backend::Postgres => config.data_dir.clone(),
    };
    let (master_key, master_key_source) = match (&config.master_key, backend) {
        (Some(text), _) => (
            MasterKey::from_base64(text)?,
            "ACCORD_MASTER_KEY".to_owned(),
        ),
        (None, Backend::Sqlite) => {
            let dir = data_dir.clone().unwrap_or_else(|| PathBuf::from("."));
            let (key, path) = MasterKey::load_or_create(&dir)?;
            (key, path.display().to_string())
        }
        (None, Backend::Postgres) => {
            return Err(StoreError::Config(format!(
                "PostgreSQL needs ACCORD_MASTER_KEY (every node must share the same key): {MAKE_A_KEY}"
            )));
        }
    };

    let options: AnyConnectOptions = url.parse().map_err(|e| {
        StoreError::Config(format!(
            "invalid database URL {}: {e}",
            redact_url(&config.database_url)
        ))
    })?;
    // A pooled PostgreSQL connection may have died with its server or the network, so it is
    // pinged before use; an embedded SQLite connection cannot, and the ping would only cost a
    // round trip to its worker thread on every query (on the writer, while holding the lock).
    let ping_before_use = backend == Backend::Postgres;
    let pool = AnyPoolOptions::new()
        .max_connections(config.max_connections.max(1))
        .acquire_timeout(config.acquire_timeout)
        .test_before_acquire(ping_before_use)
        .connect_with(options.clone())
        .await
        .map_err(|e| {
            StoreError::Config(format!(
                "cannot open {} database {}: {e}",
                backend.name(),
                redact_url(&config.database_url)
            ))
        })?;
    if backend == Backend::Sqlite {
        // WAL is a property of the file: set once, it stays. Readers then never block the writer.
        pool.execute("PRAGMA journal_mode = WAL").await?;
    }
    migrator(backend).run(&pool).await?;
    // SQLite lets one transaction write at a time; connections that wait for the file's lock sleep
    // in SQLite's busy handler (1 ms, 2 ms, 5 ms … 100 ms), so ten pooled writers spend their time
    // asleep and the unlucky one waits for most of a second. One connection for every write
    // transaction turns that into a fair queue on the pool (bounded by the acquire timeout), and
    // the busy handler only meets other processes (the CLI).
    let writer = match backend {
        Backend::Sqlite => Some(
            AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(config.acquire_timeout)
                .test_before_acquire(ping_before_use)
                // The writer's batches of refresh rotations ([`crate::rotations`]) write many rows
                // in one statement, and because refresh_tokens has a foreign key SQLite keeps a
                // statement journal for them: in memory, not a temporary file created and deleted
                // for each batch once it passes 64 KiB.
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?,
        ),
        Backend::Postgres => None,
    };
    Ok(Opened {
        pool,
        writer,
        backend,
        master_key,
        master_key_source,
    })
}

/// The first line of a migration that manages its own transaction (sqlx's convention): SQLite
/// can switch foreign keys off only outside one.
const NO_TRANSACTION: &str = "-- no-transaction";

macro_rules! migrations {
    ($dir:literal: $($version:literal => $file:literal),+ $(,)?) => {
        vec![$({
            let sql = include_str!(concat!("../migrations/", $dir, "/", $file, ".sql"));
            Migration::new(
                $version,
                Cow::Borrowed($file),
                MigrationType::Simple,
                sql.into_sql_str(),
                sql.starts_with(NO_TRANSACTION),
            )
        }),+]
    };
}

/// The embedded migrations of one backend. Both folders are numbered alike (a test checks).
pub fn migrations(backend: Backend) -> Vec<Migration> {
    match backend {
        Backend::Sqlite => {
            migrations!("sqlite": 1 => "0001_foundation", 2 => "0002_oauth", 3 => "0003_meetings", 4 => "0004_access_view",
                5 => "0005_email_per_account", 6 => "0006_code_redirect_uri_given", 7 => "0007_webhooks", 8 => "0008_account_rate_limits",
                9 => "0009_client_view")
        }
        Backend::Postgres => {
            migrations!("postgres": 1 => "0001_foundation", 2 => "0002_oauth", 3 => "0003_meetings", 4 => "0004_access_view",
                5 => "0005_email_per_account", 6 => "0006_code_redirect_uri_given", 7 => "0007_webhooks", 8 => "0008_account_rate_limits",
                9 => "0009_client_view")
        }
    }
}

fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(migrations(backend))
}

/// Whether every embedded migration has been applied (for `/readyz`).
pub(crate) async fn migrations_current(pool: &AnyPool, backend: Backend) -> Result<bool> {
    let rows = sqlx::query("SELECT version FROM _sqlx_migrations")
        .fetch_all(pool)
        .await?;
    let applied: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    Ok(migrations(backend)
        .iter()
        .all(|m| applied.contains(&m.version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's `PRAGMA temp_store`: 0 the default (files), 2 memory.
    async fn temp_store(pool: &AnyPool) -> i64 {
        sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_sqlite_writer_keeps_its_statement_journals_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let opened = open(&StoreConfig::new(url)).await.unwrap();
        assert_eq!(temp_store(opened.writer.as_ref().unwrap()).await, 2);
        assert_eq!(
            temp_store(&opened.pool).await,
            0,
            "readers keep SQLite's default"
        );
    }

    #[test]
    fn urls_pick_the_backend_and_never_print_passwords() {
        assert_eq!(
            Backend::from_url("sqlite://./a.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgresql://x/y").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://root:hunter2@db/x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=disable&password=hunter2"),
            "postgres://u@h/db?sslmode=disable&password=***"
        );
        assert_eq!(
            redact_url("postgresql://h/db?PassWord=hunter2&sslpassword=k3y&application_name=a"),
            "postgresql://h/db?PassWord=***&sslpassword=***&application_name=a"
        );
        assert_eq!(
            redact_url("postgres://u:pw@h/db?pass%77ord=hunter2"),
            "postgres://u:***@h/db?pass%77ord=***"
        );
        assert_eq!(
            redact_url("sqlite://./a.db?mode=rwc"),
            "sqlite://./a.db?mode=rwc"
        );
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            sqlite_path("sqlite://./accord-data/accord.db").unwrap(),
            PathBuf::from("./accord-data/accord.db")
        );
        assert_eq!(
            sqlite_path("sqlite:x.db?mode=rwc").unwrap(),
            PathBuf::from("x.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
    }

    #[test]
    fn both_backends_have_the_same_numbered_migrations() {
        let names = |b| {
            migrations(b)
                .iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Backend::Sqlite), names(Backend::Postgres));
    }
}
