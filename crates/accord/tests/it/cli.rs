use accord_testkit::on_every_backend;

use crate::{accord, accord_on, example_seed, run, stderr, stdout};

#[tokio::test]
async fn seed_applies_once_then_changes_nothing_and_refuses_bad_files_by_path() {
    on_every_backend(|db| async move {
        let first = run(accord_on(&db).arg("seed").arg(example_seed()));
        assert!(first.status.success(), "{}", stderr(&first));
        assert!(
            stdout(&first).contains("+ account Acme (acme)"),
            "{}",
            stdout(&first)
        );
        assert!(
            stdout(&first).contains("development client secret"),
            "generated secrets are shown once"
        );

        let second = run(accord_on(&db).arg("seed").arg(example_seed()));
        assert!(second.status.success(), "{}", stderr(&second));
        assert!(
            stdout(&second).contains("no changes"),
            "{}",
            stdout(&second)
        );
        assert!(
            !stdout(&second).contains("secret"),
            "nothing is generated twice: {}",
            stdout(&second)
        );

        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        let text = std::fs::read_to_string(example_seed())
            .unwrap()
            .replace("\"role\": \"member\"", "\"role\": \"boss\"");
        std::fs::write(&bad, text).unwrap();
        let refused = run(accord_on(&db).arg("seed").arg(&bad));
        assert_eq!(refused.status.code(), Some(1));
        let message = stderr(&refused);
        assert!(
            message.contains(&format!(
                "{}: $.accounts[0].users[1].role: unknown role \"boss\"",
                bad.display()
            )),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn accounts_users_and_apps_are_administered_from_the_shell() {
    on_every_backend(|db| async move {
        let created = run(accord_on(&db).args([
            "--json",
            "account",
            "create",
            "--name",
            "Initech",
            "--id",
            "initech",
            "--owner-email",
            "bill@initech.test",
        ]));
        assert!(created.status.success(), "{}", stderr(&created));
        let json: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
        assert_eq!(json["account"]["id"], "initech");
        assert_eq!(json["owner"]["role_id"], "0");
        assert!(
            json["owner_password"]
                .as_str()
                .is_some_and(|p| p.len() >= 40),
            "a generated password is shown once"
        );

        // Global flags work after the subcommand too.
        let user = run(accord_on(&db).args([
            "user",
            "create",
            "--account",
            "initech",
            "--email",
            "Peter@Initech.test",
            "--password",
            "peter-password",
            "--json",
        ]));
        assert!(user.status.success(), "{}", stderr(&user));
        let dup = run(accord_on(&db).args([
            "user",
            "create",
            "--account",
            "initech",
            "--email",
            "peter@initech.TEST",
        ]));
        assert_eq!(dup.status.code(), Some(1));
        assert!(stderr(&dup).contains("already used"), "{}", stderr(&dup));

        let promoted = run(accord_on(&db).args([
            "user",
            "change",
            "peter@initech.test",
            "--role",
            "admin",
            "--json",
        ]));
        assert!(promoted.status.success(), "{}", stderr(&promoted));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&promoted.stdout).unwrap()["role_id"],
            "1"
        );
        let owner_demotion =
            run(accord_on(&db).args(["user", "change", "bill@initech.test", "--role", "member"]));
        assert_eq!(owner_demotion.status.code(), Some(1));
        assert!(
            stderr(&owner_demotion).contains("Owner role"),
            "{}",
            stderr(&owner_demotion)
        );

        let jwt = run(accord_on(&db).args([
            "app",
            "create",
            "--developer",
            "bill@initech.test",
            "--name",
            "Legacy",
            "--kind",
            "jwt",
            "--scopes",
            "user:read:admin",
        ]));
        assert_eq!(jwt.status.code(), Some(1));
        assert!(stderr(&jwt).contains("server"), "{}", stderr(&jwt));

        let app = run(accord_on(&db).args([
            "--json",
            "app",
            "create",
            "--developer",
            "bill@initech.test",
            "--name",
            "TPS Reports",
            "--kind",
            "server",
            "--scopes",
            "user:read:admin,meeting:read:admin",
        ]));
        assert!(app.status.success(), "{}", stderr(&app));
        let app: serde_json::Value = serde_json::from_slice(&app.stdout).unwrap();
        let app_id = app["app"]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app["shown_once"]["client_secrets"].as_array().map(Vec::len),
            Some(2)
        );

        let shown = run(accord_on(&db).args(["--json", "app", "show", &app_id]));
        assert!(shown.status.success(), "{}", stderr(&shown));
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(
            shown["grants"][0]["kind"], "server",
            "a server app is activated when created"
        );
        assert_eq!(shown["grants"][0]["account_id"], "initech");

        let rotated =
            run(accord_on(&db).args(["app", "change", &app_id, "--rotate-secret", "production"]));
        assert!(
            rotated.status.success() && stdout(&rotated).contains("client_secret"),
            "{}",
            stderr(&rotated)
        );

        let listed = run(accord_on(&db).args(["--json", "user", "list", "--account", "initech"]));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&listed.stdout)
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(
            run(accord_on(&db).args(["user", "delete", "peter@initech.test"]))
                .status
                .success()
        );

        let unconfirmed = run(accord_on(&db).args(["account", "delete", "initech"]));
        assert_eq!(unconfirmed.status.code(), Some(1));
        assert!(stderr(&unconfirmed).contains("--yes"));
        assert!(
            run(accord_on(&db).args(["account", "delete", "initech", "--yes"]))
                .status
                .success()
        );
        let gone = run(accord_on(&db).args(["account", "show", "initech"]));
        assert!(
            stderr(&gone).contains("account initech does not exist"),
            "{}",
            stderr(&gone)
        );
    })
    .await;
}

#[test]
fn postgres_without_a_master_key_is_refused_with_instructions() {
    let output = run(accord().args([
        "--database",
        "postgres://accord@127.0.0.1:1/accord",
        "migrate",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("ACCORD_MASTER_KEY")
            && stderr(&output).contains("openssl rand -base64 32"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_databases_and_bad_flags_get_precise_errors() {
    let output = run(accord().args(["--database", "mysql://root:hunter2@db/x", "migrate"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("sqlite://") && !stderr(&output).contains("hunter2"),
        "{}",
        stderr(&output)
    );
    let usage = run(accord().args(["serve", "--bind", "not-an-address"]));
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn help_names_every_environment_variable() {
    let output = run(accord().args(["serve", "--help"]));
    let help = stdout(&output);
    for var in [
        "ACCORD_BIND",
        "ACCORD_PUBLIC_URL",
        "ACCORD_SEED",
        "ACCORD_DATABASE",
        "ACCORD_MASTER_KEY",
        "ACCORD_LOG_FORMAT",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
}

#[test]
fn the_embedded_default_creates_its_database_and_private_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(accord().current_dir(dir.path()).arg("migrate"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("accord-data/accord.db").exists());
    let key = dir.path().join("accord-data/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A second start reuses the same key and database.
    assert!(
        run(accord().current_dir(dir.path()).arg("migrate"))
            .status
            .success()
    );
}

#[tokio::test]
async fn keys_are_announced_before_they_sign() {
    on_every_backend(|db| async move {
        let rotated = run(accord_on(&db).args(["keys", "rotate", "--delay", "600"]));
        assert!(rotated.status.success(), "{}", stderr(&rotated));
        assert!(
            stdout(&rotated).contains("published in JWKS now"),
            "{}",
            stdout(&rotated)
        );
        let listed = run(accord_on(&db).args(["--json", "keys", "list"]));
        let keys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        let states: Vec<&str> = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["signing", "announced"]);
        let negative = run(accord_on(&db).args(["keys", "rotate", "--delay=-5"]));
        assert_eq!(negative.status.code(), Some(1));
    })
    .await;
}

#[tokio::test]
async fn an_email_of_several_accounts_needs_its_account_or_the_user_id() {
    on_every_backend(|db| async move {
        let json = |output: &std::process::Output| -> serde_json::Value {
            assert!(output.status.success(), "{}", stderr(output));
            serde_json::from_slice(&output.stdout).unwrap()
        };
        assert!(
            run(accord_on(&db).arg("seed").arg(example_seed()))
                .status
                .success()
        );
        // Another account whose owner has the address of Acme's owner, and a member in both.
        json(&run(accord_on(&db).args([
            "--json",
            "account",
            "create",
            "--name",
            "Initech",
            "--id",
            "initech",
            "--owner-email",
            "OWNER@acme.test",
        ])));
        let mut pats = Vec::new();
        for account in ["acme", "initech"] {
            let created = json(&run(accord_on(&db).args([
                "--json",
                "user",
                "create",
                "--account",
                account,
                "--email",
                "pat@shared.test",
            ])));
            pats.push(created["user"]["id"].as_str().unwrap().to_owned());
        }

        // Without its account, the email is refused with the way out, whatever the command.
        for args in [
            vec!["user", "show", "owner@acme.test"],
            vec!["user", "change", "pat@shared.test", "--first-name", "X"],
            vec!["user", "delete", "pat@shared.test"],
            vec![
                "app",
                "create",
                "--developer",
                "owner@acme.test",
                "--name",
                "Tool",
                "--kind",
                "server",
                "--scopes",
                "user:read:admin",
            ],
        ] {
            let refused = run(accord_on(&db).args(&args));
            assert_eq!(refused.status.code(), Some(1), "{args:?}");
            let message = stderr(&refused);
            for needle in [
                "several accounts",
                "acme",
                "initech",
                "--account ACCOUNT",
                "user's id",
            ] {
                assert!(message.contains(needle), "{args:?}: {needle}: {message}");
            }
        }
        assert!(
            json(&run(accord_on(&db).args([
                "--json",
                "user",
                "list",
                "--account",
                "initech"
            ])))
            .as_array()
            .is_some_and(|users| users.len() == 2),
            "nothing was changed or deleted"
        );

        // With --account, or by id, each names one user.
        let shown = json(&run(accord_on(&db).args([
            "--json",
            "user",
            "show",
            "owner@acme.test",
            "--account",
            "initech",
        ])));
        assert_eq!(shown["user"]["account_id"], "initech");
        let shown = json(&run(accord_on(&db).args([
            "--json",
            "user",
            "show",
            "acme-owner",
        ])));
        assert_eq!(shown["user"]["account_id"], "acme");
        let changed = json(&run(accord_on(&db).args([
            "--json",
            "user",
            "change",
            "pat@shared.test",
            "--account",
            "acme",
            "--first-name",
            "Acme Pat",
            "--add-assistant",
            "ann@acme.test",
        ])));
        assert_eq!(
            (changed["id"].as_str(), changed["first_name"].as_str()),
            (Some(pats[0].as_str()), Some("Acme Pat"))
        );
        let app = json(&run(accord_on(&db).args([
            "--json",
            "app",
            "create",
            "--developer",
            "owner@acme.test",
            "--account",
            "initech",
            "--name",
            "Tool",
            "--kind",
            "server",
            "--scopes",
            "user:read:admin",
        ])));
        assert_eq!(app["app"]["developer_account_id"], "initech");
        assert!(
            run(accord_on(&db).args(["user", "delete", "pat@shared.test", "--account", "initech"]))
                .status
                .success()
        );
        assert!(db.store.user(&pats[1]).await.is_err());
        assert!(db.store.user(&pats[0]).await.is_ok());

        // An email or id that is not a user of the account named.
        for user in ["nobody@acme.test", "acme-owner"] {
            let missing = run(accord_on(&db).args(["user", "show", user, "--account", "initech"]));
            assert_eq!(missing.status.code(), Some(1));
            assert!(
                stderr(&missing).contains(&format!("no user {user} in account initech")),
                "{}",
                stderr(&missing)
            );
        }
    })
    .await;
}
