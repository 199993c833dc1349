use std::path::{Path, PathBuf};

use accord_core::ids::{Email, Secret};
use accord_store::seed;
use accord_testkit::{Stored, dump_tables, on_every_backend};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed.json")
}

const EXAMPLE_SECRETS: [&str; 5] = [
    "owner-password-1",
    "ann-password-1",
    "sam-password-1",
    "ms-prod-secret-0123456789",
    "ms-webhook-token-0123456789",
];

#[tokio::test]
async fn the_example_seed_applies_and_applying_it_twice_changes_nothing() {
    on_every_backend(|db| async move {
        let first = db.store.seed_file(&example()).await.unwrap();
        assert!(
            first.created.iter().any(|c| c.starts_with("account Acme")),
            "{:?}",
            first.created
        );
        assert!(first.created.iter().any(|c| c == "role Scheduler"));
        assert!(
            first
                .created
                .iter()
                .any(|c| c.starts_with("assistant sam@acme.test"))
        );
        let before = dump_tables(&db.store).await;

        db.clock.advance_seconds(3600);
        let second = db.store.seed_file(&example()).await.unwrap();
        assert!(
            second.changed_nothing(),
            "second apply changed {:?} {:?}",
            second.created,
            second.updated
        );
        assert!(second.shown_once.is_empty());
        assert_eq!(
            before,
            dump_tables(&db.store).await,
            "{:?}: the second apply changed stored rows",
            db.backend
        );

        let acme = db.store.account("acme").await.unwrap();
        assert_eq!(
            acme.owner_id.as_ref().map(|o| o.as_str()),
            Some("acme-owner")
        );
        let sam = db.store.find_user("SAM@acme.test").await.unwrap();
        assert_eq!(sam.role_id.as_str(), "scheduler");
        let ann = db.store.find_user("ann@acme.test").await.unwrap();
        let assistants = db.store.assistants(ann.id.as_str()).await.unwrap();
        assert_eq!(assistants.len(), 1);
        assert_eq!(assistants[0].user.id, sam.id);
    })
    .await;
}

#[tokio::test]
async fn secrets_in_the_file_work_and_missing_ones_are_generated_once() {
    on_every_backend(|db| async move {
        let report = db.store.seed_file(&example()).await.unwrap();
        let email = Email::parse("owner@acme.test").unwrap();
        assert_eq!(
            db.store
                .check_password(&email, &Secret::new("owner-password-1"))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            db.store
                .check_password(&email, &Secret::new("owner-password-2"))
                .await
                .unwrap()
                .is_empty()
        );

        let client = db
            .store
            .authenticate_client("ms-prod", &Secret::new("ms-prod-secret-0123456789"))
            .await
            .unwrap()
            .expect("the seeded secret authenticates");
        let app = &client.app;
        assert_eq!(app.name, "Meeting Sync");
        assert!(
            db.store
                .authenticate_client("ms-prod", &Secret::new("ms-prod-secret-012345678"))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            db.store
                .webhook_secret_token(app.id.as_str())
                .await
                .unwrap(),
            Some(Secret::new("ms-webhook-token-0123456789"))
        );

        // The development set was left out of the file: generated, shown once, and it works.
        let (label, generated) = report
            .shown_once
            .iter()
            .find(|(label, _)| label.contains("development client secret"))
            .expect("a generated development secret");
        let dev = app
            .credentials
            .iter()
            .find(|c| c.environment == accord_core::apps::Environment::Development)
            .unwrap();
        assert!(label.contains(&dev.client_id));
        assert!(
            db.store
                .authenticate_client(&dev.client_id, generated)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn no_column_of_any_table_holds_a_seeded_password_or_secret() {
    on_every_backend(|db| async move {
        let report = db.store.seed_file(&example()).await.unwrap();
        let mut secrets: Vec<String> = EXAMPLE_SECRETS.iter().map(|s| s.to_string()).collect();
        secrets.extend(report.shown_once.iter().map(|(_, s)| s.expose().to_owned()));
        assert!(
            secrets.len() > EXAMPLE_SECRETS.len(),
            "generated secrets are scanned too"
        );
        let tables = dump_tables(&db.store).await;
        let mut scanned = 0;
        for (table, rows) in &tables {
            for row in rows {
                for (column, value) in row {
                    let raw = value.bytes();
                    let lower = String::from_utf8_lossy(&raw).to_lowercase();
                    for secret in &secrets {
                        assert!(
                            !contains(&raw, secret.as_bytes()),
                            "{table}.{column} holds a plain secret"
                        );
                        assert!(
                            !contains(lower.as_bytes(), hex(secret.as_bytes()).as_bytes()),
                            "{table}.{column} holds a hex-encoded secret"
                        );
                    }
                    if !matches!(value, Stored::Null) {
                        scanned += 1;
                    }
                }
            }
        }
        assert!(scanned > 100, "scanned only {scanned} values");
    })
    .await;
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_bad_role_name_is_refused_with_its_json_path_and_nothing_is_applied() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(example())
            .unwrap()
            .replace("\"role\": \"scheduler\"", "\"role\": \"schedular\"");
        let path = write(dir.path(), "bad-role.json", &text);
        let before = dump_tables(&db.store).await;
        let err = db.store.seed_file(&path).await.unwrap_err();
        assert_eq!(err.path, "$.accounts[0].users[2].role");
        let message = err.to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("schedular") && message.contains("scheduler"),
            "{message}"
        );
        assert_eq!(
            before,
            dump_tables(&db.store).await,
            "a refused file changed the database"
        );
    })
    .await;
}

#[tokio::test]
async fn a_nul_character_is_refused_with_its_json_path_and_nothing_is_applied() {
    // PostgreSQL refuses NUL in text: without this check the file failed midway with a database
    // error; now both backends refuse it up front, saying where it is.
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(example())
            .unwrap()
            .replace("\"name\": \"Acme\"", "\"name\": \"Ac\\u0000me\"");
        assert!(text.contains("\\u0000"), "the example names Acme");
        let path = write(dir.path(), "nul.json", &text);
        let before = dump_tables(&db.store).await;
        let err = db.store.seed_file(&path).await.unwrap_err();
        assert_eq!(err.path, "$.accounts[0].name", "{err}");
        assert!(err.problem.contains("NUL"), "{err}");
        assert_eq!(before, dump_tables(&db.store).await);
    })
    .await;
}

#[tokio::test]
async fn a_conflict_found_while_applying_rolls_back_the_whole_file() {
    on_every_backend(|db| async move {
        db.store.seed_file(&example()).await.unwrap();
        let before = dump_tables(&db.store).await;
        let dir = tempfile::tempdir().unwrap();
        // Acme's owner's id, taken again by a new user of a new account: found only on insert.
        let path = write(
            dir.path(),
            "globex.json",
            r#"{"accounts": [{"id": "globex", "name": "Globex", "users": [
                 {"email": "gina@globex.test", "password": "gina-password-1", "role": "owner"},
                 {"id": "acme-owner", "email": "gus@globex.test", "role": "member"}]}]}"#,
        );
        let err = db.store.seed_file(&path).await.unwrap_err();
        assert_eq!(err.path, "$.accounts[0].users[1]", "{err}");
        assert!(err.problem.contains("already exists"), "{err}");
        assert_eq!(
            before,
            dump_tables(&db.store).await,
            "a half-applied file left changes behind"
        );
        assert!(db.store.account("globex").await.is_err());
    })
    .await;
}

#[test]
fn type_errors_and_unknown_fields_carry_their_json_path() {
    let err = seed::parse(
        "f.json",
        r#"{"accounts": [{"name": "A", "users": [{"email": "a@a.test", "type": "two"}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "$.accounts[0].users[0].type");
    assert!(
        err.to_string()
            .starts_with("f.json: $.accounts[0].users[0].type: "),
        "{err}"
    );
    let err = seed::parse(
        "f.json",
        r#"{"accounts": [{"name": "A", "colour": "red"}]}"#,
    )
    .unwrap_err();
    assert!(err.problem.contains("colour"), "{err}");
    let err = seed::parse("f.json", r#"{"accounts": [}"#).unwrap_err();
    assert!(err.problem.contains("line 1"), "{err}");
}

#[tokio::test]
async fn semantic_errors_point_at_the_entry() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (r#"{"apps": [{"name": "J", "kind": "jwt", "developer": "x@x.test"}]}"#, "$.apps[0].kind", "server"),
            (
                r#"{"accounts": [{"name": "A", "users": [{"email": "o@a.test", "role": "owner"}]}],
                   "apps": [{"name": "M", "kind": "user", "developer": "o@a.test", "scopes": ["meeting:read", "user:read:user"]}]}"#,
                "$.apps[0].scopes[1]",
                "family",
            ),
            (r#"{"accounts": [{"name": "A", "users": [{"email": "o@a.test", "role": "member"}]}]}"#, "$.accounts[0].users", "owner"),
            (
                r#"{"accounts": [{"name": "A", "roles": [{"name": "R", "privileges": ["Meeting:Fly"]}], "users": [{"email": "o@a.test", "role": "owner"}]}]}"#,
                "$.accounts[0].roles[0].privileges[0]",
                "Meeting:Fly",
            ),
        ];
        for (i, (text, path, needle)) in cases.into_iter().enumerate() {
            let file = write(dir.path(), &format!("case{i}.json"), text);
            let err = db.store.seed_file(&file).await.unwrap_err();
            assert_eq!(err.path, path, "case {i}: {err}");
            assert!(err.problem.contains(needle), "case {i}: {err}");
        }
        assert_eq!(db.store.counts().await.unwrap().accounts, 0);
    })
    .await;
}

#[tokio::test]
async fn a_database_error_while_finding_the_developer_is_reported_as_one_not_as_a_missing_user() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        // The users table gone: every lookup of the developer fails in the database.
        sqlx::query("ALTER TABLE users RENAME TO users_gone")
            .execute(db.store.pool())
            .await
            .unwrap();
        for (i, developer) in ["someone-id", "someone@x.test"].into_iter().enumerate() {
            let file = write(
                dir.path(),
                &format!("case{i}.json"),
                &format!(
                    r#"{{"apps": [{{"name": "T", "kind": "server", "developer": "{developer}", "scopes": ["user:read:admin"]}}]}}"#
                ),
            );
            let err = db.store.seed_file(&file).await.unwrap_err();
            assert_eq!(err.path, "$.apps[0].developer", "{err}");
            assert!(err.problem.contains("database error"), "{err}");
            assert!(!err.problem.contains("no user"), "{err}");
        }
    })
    .await;
}

/// Two accounts with a user of the same address (and password), and an app of each.
const SHARED_EMAIL: &str = r#"{
  "accounts": [
    {"id": "acme", "name": "Acme", "users": [
      {"id": "acme-pat", "email": "pat@shared.test", "password": "pat-password-1", "role": "owner"},
      {"email": "ann@acme.test", "role": "member"}],
     "assistants": [{"user": "ann@acme.test", "assistant": "PAT@shared.test"}]},
    {"id": "globex", "name": "Globex", "users": [
      {"id": "globex-pat", "email": "Pat@Shared.test", "password": "pat-password-1", "role": "owner"},
      {"email": "gus@globex.test", "role": "member"}],
     "assistants": [{"user": "gus@globex.test", "assistant": "pat@shared.test"}]}
  ],
  "apps": [
    {"name": "Acme Tool", "kind": "server", "developer": "pat@shared.test", "developer_account": "acme",
     "scopes": ["user:read:admin"]},
    {"name": "Globex Tool", "kind": "server", "developer": "pat@shared.test", "developer_account": "Globex",
     "scopes": ["user:read:admin"]},
    {"name": "By Id", "kind": "server", "developer": "globex-pat", "scopes": ["user:read:admin"]},
    {"name": "Gus Tool", "kind": "server", "developer": "gus@globex.test", "scopes": ["user:read:admin"]}
  ]
}"#;

#[tokio::test]
async fn the_same_email_in_two_accounts_of_a_file_is_two_users_and_reapplying_changes_nothing() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "shared.json", SHARED_EMAIL);
        db.store.seed_file(&path).await.unwrap();
        let before = dump_tables(&db.store).await;
        let second = db.store.seed_file(&path).await.unwrap();
        assert!(
            second.changed_nothing(),
            "{:?} {:?}",
            second.created,
            second.updated
        );
        assert_eq!(before, dump_tables(&db.store).await);

        let acme_pat = db
            .store
            .find_user_in("acme", "pat@shared.test")
            .await
            .unwrap();
        let globex_pat = db
            .store
            .find_user_in("globex", "pat@shared.test")
            .await
            .unwrap();
        assert_eq!(
            (acme_pat.id.as_str(), globex_pat.id.as_str()),
            ("acme-pat", "globex-pat")
        );
        // Each account's assistant pair is made of that account's users.
        let ann = db
            .store
            .find_user_in("acme", "ann@acme.test")
            .await
            .unwrap();
        let ann_assistants = db.store.assistants(ann.id.as_str()).await.unwrap();
        assert_eq!(ann_assistants[0].user.id, acme_pat.id);
        let gus = db
            .store
            .find_user_in("globex", "gus@globex.test")
            .await
            .unwrap();
        assert_eq!(
            db.store.assistants(gus.id.as_str()).await.unwrap()[0]
                .user
                .id,
            globex_pat.id
        );

        let developer_account = |name: &str| {
            let report = &second;
            report
                .apps
                .iter()
                .find(|a| a.name == name)
                .map(|a| a.developer_account_id.clone())
                .unwrap()
        };
        assert_eq!(developer_account("Acme Tool"), "acme");
        assert_eq!(developer_account("Globex Tool"), "globex");
        assert_eq!(developer_account("By Id"), "globex");
        assert_eq!(developer_account("Gus Tool"), "globex");
    })
    .await;
}

#[tokio::test]
async fn a_developer_email_of_several_accounts_is_refused_with_the_way_out() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        // Declared in two accounts of the file, named without its account.
        let ambiguous = SHARED_EMAIL.replace(r#", "developer_account": "Globex""#, "");
        let path = write(dir.path(), "ambiguous.json", &ambiguous);
        let err = db.store.seed_file(&path).await.unwrap_err();
        assert_eq!(err.path, "$.apps[1].developer", "{err}");
        for needle in [
            "pat@shared.test",
            "several accounts",
            "acme",
            "globex",
            "developer_account",
            "id",
        ] {
            assert!(err.problem.contains(needle), "{needle}: {err}");
        }
        assert_eq!(
            db.store.counts().await.unwrap().accounts,
            0,
            "nothing is applied"
        );

        // A developer_account that names no account, or not the developer's.
        for (account, path_end, needle) in [
            ("Umbrella", "developer_account", "no account"),
            ("acme", "developer", "no user"),
        ] {
            let text = SHARED_EMAIL.replace(
                r#""developer": "gus@globex.test", "#,
                &format!(r#""developer": "gus@globex.test", "developer_account": "{account}", "#),
            );
            let path = write(dir.path(), "wrong-account.json", &text);
            let err = db.store.seed_file(&path).await.unwrap_err();
            assert_eq!(err.path, format!("$.apps[3].{path_end}"), "{err}");
            assert!(err.problem.contains(needle), "{err}");
        }

        // Declared in no account of the file: the database must hold exactly one such user.
        db.store
            .seed_file(&write(dir.path(), "shared.json", SHARED_EMAIL))
            .await
            .unwrap();
        let later = r#"{"apps": [{"name": "Later", "kind": "server", "developer": "pat@shared.test",
                        "scopes": ["user:read:admin"]}]}"#;
        let err = db
            .store
            .seed_file(&write(dir.path(), "later.json", later))
            .await
            .unwrap_err();
        assert_eq!(err.path, "$.apps[0].developer", "{err}");
        assert!(err.problem.contains("several accounts"), "{err}");
        let by_account = later.replace(r#""scopes""#, r#""developer_account": "acme", "scopes""#);
        let report = db
            .store
            .seed_file(&write(dir.path(), "later.json", &by_account))
            .await
            .unwrap();
        assert_eq!(report.apps[0].developer_account_id, "acme");
    })
    .await;
}

#[tokio::test]
async fn a_file_declaring_the_developer_email_once_means_that_account_even_if_others_have_it() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        // Another tenant already has a user with the address the file's developer has.
        let other = r#"{"accounts": [{"id": "umbrella", "name": "Umbrella", "users": [
            {"email": "owner@acme.test", "role": "owner"}]}]}"#;
        db.store
            .seed_file(&write(dir.path(), "other.json", other))
            .await
            .unwrap();
        let report = db.store.seed_file(&example()).await.unwrap();
        let app = &report.apps[0];
        assert_eq!(app.developer_account_id, "acme");
    })
    .await;
}

#[tokio::test]
async fn an_email_declared_twice_in_one_account_is_refused() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"accounts": [{"name": "A", "users": [
            {"email": "o@a.test", "role": "owner"}, {"email": "O@A.test", "role": "member"}]}]}"#;
        let err = db
            .store
            .seed_file(&write(dir.path(), "twice.json", text))
            .await
            .unwrap_err();
        assert_eq!(err.path, "$.accounts[0].users[1].email", "{err}");
        assert!(err.problem.contains("already declared"), "{err}");
    })
    .await;
}
