use accord_store::Backend;
use accord_testkit::{TestDb, postgres_url, schema};

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    // Without PostgreSQL the kit prints the skip (or fails the test when it is required).
    let Some(url) = postgres_url() else { return };
    let sqlite = TestDb::sqlite().await;
    let postgres = TestDb::postgres(&url).await;
    assert_eq!(sqlite.backend, Backend::Sqlite);
    let (a, b) = (schema(&sqlite.store).await, schema(&postgres.store).await);
    assert!(
        a.contains_key("users") && a.contains_key("grants") && a.contains_key("audit_log"),
        "{a:?}"
    );
    assert_eq!(a, b, "the SQLite and PostgreSQL schemas differ");
    sqlite.finish().await;
    postgres.finish().await;
}

#[tokio::test]
async fn the_audit_log_refuses_changes_on_every_backend() {
    accord_testkit::on_every_backend(|db| async move {
        let store = db.store;
        let actor = accord_store::audit::Actor::cli();
        let owner =
            accord_store::users::NewUser::new(accord_core::ids::Email::parse("o@x.test").unwrap());
        let (account, _, _) = store
            .create_account(
                &actor,
                accord_store::accounts::NewAccount {
                    id: None,
                    name: "X".into(),
                    app_approval: Default::default(),
                },
                owner,
            )
            .await
            .unwrap();
        assert!(
            !store
                .audit_log(account.id.as_str())
                .await
                .unwrap()
                .is_empty()
        );
        let update = sqlx::query("UPDATE audit_log SET action = 'forged'")
            .execute(store.pool())
            .await;
        assert!(
            update.is_err(),
            "{:?}: audit log rows could be changed",
            db.backend
        );
        let delete = sqlx::query("DELETE FROM audit_log")
            .execute(store.pool())
            .await;
        assert!(
            delete.is_err(),
            "{:?}: audit log rows could be deleted",
            db.backend
        );
    })
    .await;
}

#[tokio::test]
async fn readiness_reports_current_migrations() {
    accord_testkit::on_every_backend(|db| async move {
        assert!(db.store.ready().await.unwrap());
        let counts = db.store.counts().await.unwrap();
        assert_eq!(counts.accounts, 0);
    })
    .await;
}
