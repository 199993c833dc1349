//! Dev-only helpers: a fresh database per test, on SQLite always and on PostgreSQL whenever one is
//! configured, so every storage test runs on both backends.
//!
//! PostgreSQL is used when `ACCORD_TEST_POSTGRES_URL` names a server (the test script sets it to
//! `postgres://postgres@127.0.0.1:5432/test` when that answers). Each test gets its own database,
//! `accord_t_<random>`, dropped when the test passes; `scripts/test` drops any left by failures.

pub mod services;
pub mod snapshot;

use std::future::Future;
use std::sync::Arc;

use accord_core::clock::{Clock, ManualClock, Timestamp};
use accord_store::secrets::{MasterKey, PasswordCost};
use accord_store::{Backend, Store, StoreConfig};
use sqlx::{Connection, Executor};

/// The environment variable naming the PostgreSQL server for tests (an admin connection URL).
pub const POSTGRES_ENV: &str = "ACCORD_TEST_POSTGRES_URL";

/// 2026-11-28T12:00:00Z: where every test clock starts.
pub const TEST_EPOCH: Timestamp = Timestamp(1_795_867_200_000);

/// A fresh, migrated database for one test.
pub struct TestDb {
    pub store: Store,
    pub backend: Backend,
    pub clock: ManualClock,
    /// The URL and master key, for driving the `accord` binary against the same database.
    pub database_url: String,
    pub master_key: String,
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite database in a temporary folder.
    pub async fn sqlite() -> TestDb {
        Fresh::sqlite().open().await
    }

    /// A fresh PostgreSQL database on the server `admin_url` names.
    pub async fn postgres(admin_url: &str) -> TestDb {
        Fresh::postgres(admin_url).await.open().await
    }

    /// Closes the pool and drops a PostgreSQL test database.
    pub async fn finish(self) {
        self.store.close().await;
        let Some((admin_url, name)) = self.postgres else {
            return;
        };
        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = admin.execute(sqlx::AssertSqlSafe(drop)).await;
            let _ = admin.close().await;
        }
    }
}

/// A database that exists but is not migrated yet: where a [`TestDb`] will live.
struct Fresh {
    backend: Backend,
    url: String,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl Fresh {
    fn sqlite() -> Fresh {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("accord.db").display());
        Fresh {
            backend: Backend::Sqlite,
            url,
            dir,
            postgres: None,
        }
    }

    async fn postgres(admin_url: &str) -> Fresh {
        let name = format!(
            "accord_t_{}",
            accord_store::secrets::new_id()
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}: cannot connect: {e}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        Fresh {
            backend: Backend::Postgres,
            url: with_database(admin_url, &name),
            dir: tempfile::tempdir().expect("a temporary folder"),
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    /// Applies only the migrations up to `version` through a bare pool and hands that pool to
    /// `fill`: the database as an older Accord left it.
    async fn migrate_to<F, Fut>(&self, version: i64, fill: &F)
    where
        F: Fn(sqlx::AnyPool, Backend) -> Fut,
        Fut: Future<Output = ()>,
    {
        sqlx::any::install_default_drivers();
        let url = match self.backend {
            Backend::Sqlite => format!("{}?mode=rwc", self.url),
            Backend::Postgres => self.url.clone(),
        };
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect to the test database");
        let older = accord_store::database::migrations(self.backend)
            .into_iter()
            .filter(|m| m.version <= version)
            .collect();
        sqlx::migrate::Migrator::with_migrations(older)
            .run(&pool)
            .await
            .unwrap_or_else(|e| panic!("migrate the test database to version {version}: {e}"));
        fill(pool.clone(), self.backend).await;
        pool.close().await;
    }

    /// Opens the store, which applies every migration not applied yet.
    async fn open(self) -> TestDb {
        let clock = ManualClock::new(TEST_EPOCH);
        let master_key = MasterKey::generate().to_base64();
        let config = StoreConfig {
            data_dir: Some(self.dir.path().to_path_buf()),
            master_key: Some(master_key.clone()),
            password_cost: PasswordCost::TESTING,
            max_connections: 5,
            ..StoreConfig::new(self.url.clone())
        };
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let store = Store::open_with_clock(&config, shared)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot open the {} test database: {e}", self.backend.name())
            });
        TestDb {
            store,
            backend: self.backend,
            clock,
            database_url: self.url,
            master_key,
            _dir: self.dir,
            postgres: self.postgres,
        }
    }
}

fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The PostgreSQL admin URL for tests, if one is configured. Without one the test runs its SQLite
/// part only and says so on the terminal; with `ACCORD_REQUIRE_POSTGRES=1` it fails instead.
pub fn postgres_url() -> Option<String> {
    services::POSTGRES.url()
}

/// The environment variable naming the Redis for tests of cluster-wide rate limits.
pub const REDIS_ENV: &str = "ACCORD_TEST_REDIS_URL";

/// The Redis URL for tests, if one is configured (scripts/test sets it when Redis answers).
/// Tests given it use keys under a prefix of their own, so runs never see each other's counters.
/// Without one the test skips and says so; with `ACCORD_REQUIRE_REDIS=1` it fails instead.
pub fn redis_url() -> Option<String> {
    services::REDIS.url()
}

/// Runs `test` on a fresh SQLite database and, when configured, a fresh PostgreSQL database.
pub async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(TestDbRef) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut dbs = vec![TestDb::sqlite().await];
    if let Some(url) = postgres_url() {
        dbs.push(TestDb::postgres(&url).await);
    }
    for db in dbs {
        run(db, &test).await;
    }
}

/// Runs `test` on a fresh PostgreSQL database only (what needs several nodes on one server);
/// without one configured it says SKIPPED loudly, as the PostgreSQL part of every other test does.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: Fn(TestDbRef) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(url) = postgres_url() {
        run(TestDb::postgres(&url).await, &test).await;
    }
}

/// Runs `test`, on every backend, on a database that an older Accord created: migrated only up
/// to `version`, filled by `fill` through a bare pool (raw SQL of that schema), then opened as a
/// store, which applies the later migrations. For proving that a migration keeps existing data.
pub async fn on_every_backend_migrated_from<Fill, FillFut, F, Fut>(
    version: i64,
    fill: Fill,
    test: F,
) where
    Fill: Fn(sqlx::AnyPool, Backend) -> FillFut,
    FillFut: Future<Output = ()>,
    F: Fn(TestDbRef) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut fresh = vec![Fresh::sqlite()];
    if let Some(url) = postgres_url() {
        fresh.push(Fresh::postgres(&url).await);
    }
    for db in fresh {
        db.migrate_to(version, &fill).await;
        run(db.open().await, &test).await;
    }
}

async fn run<F, Fut>(db: TestDb, test: &F)
where
    F: Fn(TestDbRef) -> Fut,
    Fut: Future<Output = ()>,
{
    let handle = TestDbRef {
        store: db.store.clone(),
        backend: db.backend,
        clock: db.clock.clone(),
        database_url: db.database_url.clone(),
        master_key: db.master_key.clone(),
    };
    test(handle).await;
    db.finish().await;
}

/// What a test body receives: the store and how to reach the same database.
#[derive(Clone)]
pub struct TestDbRef {
    pub store: Store,
    pub backend: Backend,
    pub clock: ManualClock,
    pub database_url: String,
    pub master_key: String,
}

impl TestDbRef {
    /// A second store on the same database, as another process opens it: its own pool and its
    /// own access view, on the same test clock.
    pub async fn another_process(&self) -> Store {
        let config = StoreConfig {
            master_key: Some(self.master_key.clone()),
            password_cost: PasswordCost::TESTING,
            max_connections: 5,
            ..StoreConfig::new(self.database_url.clone())
        };
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        Store::open_with_clock(&config, clock)
            .await
            .expect("a second store on the test database")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_path_of_the_admin_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://p@h/test?sslmode=disable", "x"),
            "postgres://p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://p@h", "x"), "postgres://p@h/x");
    }
}

/// One stored value, as read back generically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stored {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Stored {
    /// The raw bytes of the value (text as UTF-8), for scanning.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Stored::Null => Vec::new(),
            Stored::Int(i) => i.to_string().into_bytes(),
            Stored::Text(t) => t.clone().into_bytes(),
            Stored::Bytes(b) => b.clone(),
        }
    }
}

/// Every table of the schema (the migrations bookkeeping table aside) with its columns, sorted.
pub async fn schema(store: &Store) -> std::collections::BTreeMap<String, Vec<String>> {
    schema_of(store.pool(), store.backend()).await
}

/// [`schema`] of a bare pool (a database not opened as a store).
pub async fn schema_of(
    pool: &sqlx::AnyPool,
    backend: Backend,
) -> std::collections::BTreeMap<String, Vec<String>> {
    use sqlx::Row;
    let tables_sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'"
        }
    };
    let columns_sql = match backend {
        Backend::Sqlite => "SELECT name FROM pragma_table_info($1)",
        Backend::Postgres => {
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1"
        }
    };
    let tables: Vec<String> = sqlx::query_scalar(tables_sql)
        .fetch_all(pool)
        .await
        .expect("list tables");
    let mut out = std::collections::BTreeMap::new();
    for table in tables {
        let rows = sqlx::query(columns_sql)
            .bind(&table)
            .fetch_all(pool)
            .await
            .expect("list columns");
        let mut columns: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0).expect("column name"))
            .collect();
        columns.sort();
        out.insert(table, columns);
    }
    out
}

/// Every row of every table, each value read back as text, integer or bytes: a snapshot to
/// compare ("applying twice changes nothing") or to scan ("no plain secret is stored").
pub async fn dump_tables(
    store: &Store,
) -> std::collections::BTreeMap<String, Vec<Vec<(String, Stored)>>> {
    dump_pool(store.pool(), store.backend()).await
}

/// [`dump_tables`] of a bare pool (a database not opened as a store).
pub async fn dump_pool(
    pool: &sqlx::AnyPool,
    backend: Backend,
) -> std::collections::BTreeMap<String, Vec<Vec<(String, Stored)>>> {
    use sqlx::{Column, Row};
    let mut out = std::collections::BTreeMap::new();
    for (table, _) in schema_of(pool, backend).await {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(pool)
            .await
            .expect("read table");
        let mut values: Vec<Vec<(String, Stored)>> = rows
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, column)| {
                        let value = if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                            v.map_or(Stored::Null, Stored::Text)
                        } else if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                            v.map_or(Stored::Null, Stored::Int)
                        } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
                            v.map_or(Stored::Null, Stored::Bytes)
                        } else {
                            panic!(
                                "{table}.{} has a type the store must not use",
                                column.name()
                            )
                        };
                        (column.name().to_owned(), value)
                    })
                    .collect()
            })
            .collect();
        values.sort();
        out.insert(table, values);
    }
    out
}
