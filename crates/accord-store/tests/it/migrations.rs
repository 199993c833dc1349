//! Migrations keep what an older Accord stored: a database migrated to an earlier version and
//! filled with that schema's rows is opened by the current store, and everything is still there.

use std::sync::{Arc, Mutex};

use accord_core::ids::{Email, RoleId};
use accord_store::users::NewUser;
use accord_store::{Backend, StoreError};
use accord_testkit::{Stored, dump_pool, on_every_backend_migrated_from};
use sqlx::{AnyPool, Executor};

/// What 0005 changes hangs from: users, and every table that refers to them.
const KEPT: [&str; 7] = [
    "accounts",
    "roles",
    "users",
    "assistants",
    "meetings",
    "sessions",
    "apps",
];

type Rows = Vec<Vec<(String, Stored)>>;

/// Two accounts as an Accord of schema version 4 stored them (emails unique in the deployment):
/// owners, a member with a password hash who has an assistant, a meeting, a session and an app.
async fn fill_version_4(pool: AnyPool, backend: Backend) {
    let t = 1_795_867_200_000_i64;
    let mut statements = vec![
        format!("INSERT INTO accounts VALUES ('acme', 'Acme', 'open', {t}, {t})"),
        format!("INSERT INTO accounts VALUES ('globex', 'Globex', 'open', {t}, {t})"),
    ];
    for account in ["acme", "globex"] {
        for (id, name, privileges) in [
            ("0", "Owner", "[]"),
            ("1", "Admin", "[]"),
            ("2", "Member", "[]"),
        ] {
            statements.push(format!(
                "INSERT INTO roles VALUES ('{account}', '{id}', '{name}', '{}', '', '{privileges}', {t}, {t})",
                name.to_lowercase()
            ));
        }
    }
    statements.extend([
        format!(
            "INSERT INTO users VALUES ('acme-owner', 'acme', 'Owner@Acme.test', 'owner@acme.test', 'Olive', 'Owner', 2, \
             'active', 'Europe/Berlin', 1000000001, '0', NULL, {t}, {t}, NULL)"
        ),
        format!(
            "INSERT INTO users VALUES ('ann', 'acme', 'ann@acme.test', 'ann@acme.test', 'Ann', '', 1, \
             'active', 'UTC', 1000000002, '2', '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA', {t}, {t}, {})",
            t + 5
        ),
        format!(
            "INSERT INTO users VALUES ('globex-owner', 'globex', 'gina@globex.test', 'gina@globex.test', '', '', 1, \
             'active', 'UTC', 1000000003, '0', NULL, {t}, {t}, NULL)"
        ),
        format!("INSERT INTO assistants VALUES ('acme', 'ann', 'acme-owner', {t})"),
        format!(
            "INSERT INTO meetings VALUES (81234567890, 'uuid-1', 'acme', 'ann', 'acme-owner', 'Standup', 2, 'waiting', \
             {t}, 30, 'UTC', '', 'pass1', '{{}}', NULL, {t}, {}, {t}, {t})",
            t + 1_800_000
        ),
        format!("INSERT INTO sessions VALUES ('\\x01'::bytea, 'ann', {t}, {})", t + 1),
        format!(
            "INSERT INTO apps VALUES ('app-1', 'Sync', 'account', 'acme', 'acme-owner', 'published', '[]', '[]', 0, \
             NULL, NULL, '[]', NULL, {t}, {t})"
        ),
    ]);
    for statement in statements {
        // A session id hash is a BLOB/BYTEA: the one literal the two spell differently.
        let statement = if backend == Backend::Sqlite {
            statement.replace("'\\x01'::bytea", "X'01'")
        } else {
            statement
        };
        pool.execute(sqlx::AssertSqlSafe(statement.clone()))
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

async fn kept_rows(pool: &AnyPool, backend: Backend) -> Vec<(String, Rows)> {
    dump_pool(pool, backend)
        .await
        .into_iter()
        .filter(|(table, _)| KEPT.contains(&table.as_str()))
        .collect()
}

/// The column names a dumped table's rows have.
fn columns_of(dump: &[(String, Rows)], table: &str) -> Vec<String> {
    dump.iter()
        .filter(|(name, _)| name == table)
        .flat_map(|(_, rows)| rows.iter().flatten().map(|(column, _)| column.clone()))
        .collect()
}

fn member(email: &str) -> NewUser {
    let mut new = NewUser::new(Email::parse(email).unwrap());
    new.role_id = RoleId::parse("2").unwrap();
    new
}

#[tokio::test]
async fn emails_per_account_keeps_every_user_and_what_refers_to_them() {
    let before: Arc<Mutex<Vec<(String, Rows)>>> = Arc::default();
    let remember = before.clone();
    on_every_backend_migrated_from(
        4,
        move |pool, backend| {
            let remember = remember.clone();
            async move {
                fill_version_4(pool.clone(), backend).await;
                *remember.lock().unwrap() = kept_rows(&pool, backend).await;
            }
        },
        |db| {
            let before = before.lock().unwrap().clone();
            async move {
                let store = &db.store;
                let pool = store.pool();
                // Later migrations may add columns; the rows' values in every old column stay.
                let after: Vec<(String, Rows)> = kept_rows(pool, db.backend)
                    .await
                    .into_iter()
                    .map(|(table, rows)| {
                        let old_columns = columns_of(&before, &table);
                        let rows = rows
                            .into_iter()
                            .map(|row| {
                                row.into_iter()
                                    .filter(|(column, _)| old_columns.contains(column))
                                    .collect()
                            })
                            .collect();
                        (table, rows)
                    })
                    .collect();
                assert_eq!(
                    after,
                    before,
                    "{:?}: migrating changed stored rows",
                    db.backend
                );
                let ann = store.find_user("ANN@acme.test").await.unwrap();
                assert_eq!(ann.id.as_str(), "ann");
                assert_eq!(store.assistants("ann").await.unwrap().len(), 1);
                assert!(store.meeting(81234567890).await.is_ok());

                // The new rule: the address is free in another account, still taken in its own.
                let cli = accord_store::audit::Actor::cli();
                let globex_ann = store
                    .create_user(&cli, "globex", member("Ann@ACME.test"))
                    .await
                    .expect("an address of another account is free");
                assert_eq!(globex_ann.0.account_id.as_str(), "globex");
                let again = store.create_user(&cli, "acme", member("ANN@acme.test")).await;
                assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

                // What the rebuild had to make again still works: the one-owner index, the view
                // triggers, and the foreign keys (on every pooled connection).
                let second_owner = sqlx::query(
                    "INSERT INTO users VALUES ('o2', 'acme', 'o2@acme.test', 'o2@acme.test', '', '', 1, \
                     'active', 'UTC', 1000000009, '0', NULL, 0, 0, NULL)",
                )
                .execute(pool)
                .await;
                assert!(second_owner.is_err(), "a second owner was accepted");
                let changes = || async {
                    sqlx::query_scalar::<_, i64>(
                        "SELECT COUNT(*) FROM view_changes WHERE kind = 'user' AND key = 'ann'",
                    )
                    .fetch_one(pool)
                    .await
                    .unwrap()
                };
                let seen = changes().await;
                sqlx::query("UPDATE users SET first_name = 'Annie' WHERE id = 'ann'")
                    .execute(pool)
                    .await
                    .unwrap();
                assert_eq!(changes().await, seen + 1, "the users view trigger is gone");
                let dangling = sqlx::query(
                    "INSERT INTO assistants VALUES ('acme', 'ann', 'nobody', 0)",
                )
                .execute(pool)
                .await;
                assert!(dangling.is_err(), "a reference to no user was accepted");
                if db.backend == Backend::Sqlite {
                    sqlite_foreign_keys_are_on_everywhere(pool).await;
                    let mut names: Vec<String> = sqlx::query_scalar(
                        "SELECT name FROM sqlite_master WHERE tbl_name = 'users' AND type IN ('index', 'trigger') \
                         AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY name",
                    )
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    names.sort();
                    assert_eq!(
                        names,
                        [
                            "users_by_account",
                            "users_by_email",
                            "users_one_owner_per_account",
                            "users_view_delete",
                            "users_view_insert",
                            "users_view_update"
                        ]
                    );
                }
            }
        },
    )
    .await;
}

/// Holds every connection of the pool at once, so the one that ran the migration is among them.
async fn sqlite_foreign_keys_are_on_everywhere(pool: &AnyPool) {
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await.unwrap());
    }
    for conn in &mut held {
        let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(on, 1, "a pooled connection has foreign keys off");
        let violations = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut **conn)
            .await
            .unwrap();
        assert!(violations.is_empty(), "dangling references after migrating");
    }
}
