//! The in-memory access view: this process's own changes show at once; another process's changes
//! show once the view syncs (the watcher does that on NOTIFY or its timer).

use accord_core::grants::{GrantKind, GrantStatus};
use accord_core::ids::RoleId;
use accord_core::privileges::Privilege;
use accord_core::scopes::Scope;
use accord_store::audit::Actor;
use accord_store::grants::{GrantRequest, Matching, revoke_matching};
use accord_store::users::UserChange;
use accord_store::view::MAX_TRACKED_GAPS;
use accord_store::{Backend, Ctx, Store, StoreConfig};
use accord_testkit::on_every_backend;

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed.json")
}

#[tokio::test]
async fn the_view_follows_this_processes_changes_at_once() {
    on_every_backend(|db| async move {
        let store = &db.store;
        store.seed_file(&example()).await.unwrap();
        let view = store.view();
        let sam = store.find_user("sam@acme.test").await.unwrap();
        let ann = store.find_user("ann@acme.test").await.unwrap();
        assert!(
            view.privileges(sam.id.as_str())
                .contains(Privilege::MeetingEdit),
            "seeded changes are in the view"
        );
        assert_eq!(view.principals(sam.id.as_str()), vec![ann.id.clone()]);

        store
            .update_user(
                &Actor::cli(),
                sam.id.as_str(),
                UserChange {
                    role_id: Some(RoleId::parse("2").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            view.privileges(sam.id.as_str()).is_empty(),
            "a demotion shows at once"
        );
        store
            .remove_assistant(&Actor::cli(), ann.id.as_str(), Some(sam.id.as_str()))
            .await
            .unwrap();
        assert!(
            view.principals(sam.id.as_str()).is_empty(),
            "a removed assistant shows at once"
        );

        let app = store.apps(None).await.unwrap().remove(0);
        let scopes = [Scope::parse("meeting:write:admin").unwrap()];
        let request = GrantRequest {
            kind: GrantKind::Installation,
            app_id: app.id.as_str(),
            account_id: "acme",
            user_id: None,
            created_by: Some("acme-owner"),
            scopes: &scopes,
        };
        let grant = store.upsert_grant(&Actor::cli(), request).await.unwrap();
        let seen = view.grant(&grant.id).expect("a new grant is in the view");
        assert_eq!((seen.status, seen.generation), (GrantStatus::Active, 1));
        assert_eq!(
            view.me(&seen).map(|u| u.into_string()).as_deref(),
            Some("acme-owner")
        );
        store
            .revoke_grant(&Actor::cli(), &grant.id, "test")
            .await
            .unwrap();
        assert_eq!(
            view.grant(&grant.id).map(|g| g.status),
            Some(GrantStatus::Revoked),
            "an uninstall shows at once"
        );
    })
    .await;
}

#[tokio::test]
async fn another_process_learns_of_changes_when_its_view_syncs() {
    on_every_backend(|db| async move {
        db.store.seed_file(&example()).await.unwrap();
        let other = another_process(&db).await;
        let sam = db.store.find_user("sam@acme.test").await.unwrap();
        assert!(
            other
                .view()
                .privileges(sam.id.as_str())
                .contains(Privilege::MeetingRead)
        );

        db.store
            .update_user(
                &Actor::cli(),
                sam.id.as_str(),
                UserChange {
                    role_id: Some(RoleId::parse("2").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            other
                .view()
                .privileges(sam.id.as_str())
                .contains(Privilege::MeetingRead),
            "stale until it syncs"
        );
        other.sync_view().await;
        assert!(other.view().privileges(sam.id.as_str()).is_empty());

        // Role privilege changes and deleted users travel too.
        db.store
            .update_user(
                &Actor::cli(),
                sam.id.as_str(),
                UserChange {
                    role_id: Some(RoleId::parse("scheduler").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let trim = accord_store::roles::RoleChange {
            privileges: Some([Privilege::UserRead].into_iter().collect()),
            ..Default::default()
        };
        db.store
            .update_role(&Actor::cli(), "acme", "scheduler", trim)
            .await
            .unwrap();
        db.store
            .delete_user(
                &Actor::cli(),
                db.store
                    .find_user("ann@acme.test")
                    .await
                    .unwrap()
                    .id
                    .as_str(),
            )
            .await
            .unwrap();
        other.sync_view().await;
        let privileges = other.view().privileges(sam.id.as_str());
        assert!(
            privileges.contains(Privilege::UserRead)
                && !privileges.contains(Privilege::MeetingRead)
        );
        assert!(other.view().principals(sam.id.as_str()).is_empty());
        other.pool().close().await;
    })
    .await;
}

/// A second process: its own pool and view over the test's database.
async fn another_process(db: &accord_testkit::TestDbRef) -> Store {
    let config = StoreConfig {
        master_key: Some(db.master_key.clone()),
        password_cost: accord_store::secrets::PasswordCost::TESTING,
        ..StoreConfig::new(db.database_url.clone())
    };
    Store::open(&config).await.unwrap()
}

/// Installs the example's account app in Acme: a grant to revoke.
async fn install(store: &Store) -> accord_store::grants::Grant {
    let app = store.apps(None).await.unwrap().remove(0);
    let scopes = [Scope::parse("meeting:write:admin").unwrap()];
    let request = GrantRequest {
        kind: GrantKind::Installation,
        app_id: app.id.as_str(),
        account_id: "acme",
        user_id: None,
        created_by: Some("acme-owner"),
        scopes: &scopes,
    };
    store.upsert_grant(&Actor::cli(), request).await.unwrap()
}

/// Starts a transaction that revokes `grant_id` and leaves it open: its trigger has taken a
/// sequence number that no one sees until it commits. On SQLite a writer holds the database's
/// write lock, so no other change can commit meanwhile: there the revocation commits at once
/// (`None`) and the tests check the same outcome in the order SQLite allows.
async fn revoke_in_open_transaction(
    db: &accord_testkit::TestDbRef,
    grant_id: &str,
) -> Option<sqlx::Transaction<'static, sqlx::Any>> {
    let store = &db.store;
    let mut held = store.begin().await.unwrap();
    let ctx = Ctx {
        now: store.now(),
        keys: store.keys(),
    };
    let ended = revoke_matching(
        &mut held,
        &ctx,
        &Actor::cli(),
        Matching::One(grant_id),
        "held",
    )
    .await
    .unwrap();
    assert_eq!(ended.len(), 1);
    match db.backend {
        Backend::Sqlite => {
            held.commit().await.unwrap();
            None
        }
        Backend::Postgres => Some(held),
    }
}

/// `count` committed changes through the store (each takes a sequence number and syncs the view).
async fn commit_changes(store: &Store, count: usize) {
    for i in 0..count {
        let change = accord_store::roles::RoleChange {
            description: Some(format!("change {i}")),
            ..Default::default()
        };
        store
            .update_role(&Actor::cli(), "acme", "scheduler", change)
            .await
            .unwrap();
    }
}

/// Syncs until `done` holds. On PostgreSQL a gap is let go once every transaction that was running
/// when it was noticed has ended — in the whole cluster, so other tests' transactions may hold it
/// up for a moment: poll, with a deadline.
async fn sync_until(store: &Store, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        store.sync_view().await;
        if done() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn status(store: &Store, grant_id: &str) -> Option<GrantStatus> {
    store.view().grant(grant_id).map(|g| g.status)
}

#[tokio::test]
async fn a_revocation_that_commits_after_300_later_changes_still_reaches_the_view() {
    on_every_backend(|db| async move {
        let store = &db.store;
        store.seed_file(&example()).await.unwrap();
        let grant = install(store).await;
        let held = revoke_in_open_transaction(&db, &grant.id).await;
        commit_changes(store, 300).await;
        store.sync_view().await;
        if let Some(held) = held {
            assert_eq!(
                status(store, &grant.id),
                Some(GrantStatus::Active),
                "not committed yet"
            );
            assert_eq!(store.view().tracked_gaps(), 1, "its number is awaited");
            held.commit().await.unwrap();
        }
        store.sync_view().await;
        assert_eq!(
            status(store, &grant.id),
            Some(GrantStatus::Revoked),
            "the revocation shows at the next sync, not at the next full reload"
        );
        assert_eq!(store.view().tracked_gaps(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_gap_is_awaited_while_its_transaction_runs_and_forgotten_once_it_rolls_back() {
    on_every_backend(|db| async move {
        let store = &db.store;
        store.seed_file(&example()).await.unwrap();
        let grant = install(store).await;
        let mut held = store.begin().await.unwrap();
        let ctx = Ctx {
            now: store.now(),
            keys: store.keys(),
        };
        revoke_matching(
            &mut held,
            &ctx,
            &Actor::cli(),
            Matching::One(&grant.id),
            "rolled back",
        )
        .await
        .unwrap();
        let held = match db.backend {
            Backend::Sqlite => {
                held.rollback().await.unwrap();
                None
            }
            Backend::Postgres => Some(held),
        };
        commit_changes(store, 3).await;
        if let Some(held) = held {
            // However often it syncs, a number whose transaction still runs stays awaited.
            for _ in 0..5 {
                store.sync_view().await;
                assert_eq!(store.view().tracked_gaps(), 1);
            }
            held.rollback().await.unwrap();
        }
        // A rolled-back number never appears: once its transaction has ended, it is let go.
        sync_until(store, "the rolled-back number is let go", || {
            store.view().tracked_gaps() == 0
        })
        .await;
        assert_eq!(status(store, &grant.id), Some(GrantStatus::Active));
    })
    .await;
}

#[tokio::test]
async fn a_change_in_flight_during_a_full_reload_is_applied_when_it_commits() {
    on_every_backend(|db| async move {
        let store = &db.store;
        store.seed_file(&example()).await.unwrap();
        let grant = install(store).await;
        let held = revoke_in_open_transaction(&db, &grant.id).await;
        commit_changes(store, 300).await;
        // This process reloads everything (the periodic safety net) and another one starts: both
        // read the whole state while the revocation is still in flight.
        store.view().reload(store.pool()).await.unwrap();
        let other = another_process(&db).await;
        if let Some(held) = held {
            assert_eq!(status(&other, &grant.id), Some(GrantStatus::Active));
            held.commit().await.unwrap();
        }
        store.sync_view().await;
        other.sync_view().await;
        assert_eq!(status(store, &grant.id), Some(GrantStatus::Revoked));
        assert_eq!(status(&other, &grant.id), Some(GrantStatus::Revoked));
        other.pool().close().await;
    })
    .await;
}

#[tokio::test]
async fn more_gaps_than_the_view_tracks_fall_back_to_a_reload_once_their_transactions_end() {
    on_every_backend(|db| async move {
        if db.backend == Backend::Sqlite {
            // One writer at a time: SQLite never leaves a number below a committed one unfilled.
            return;
        }
        let store = &db.store;
        store.seed_file(&example()).await.unwrap();
        let grant = install(store).await;
        let mut held = revoke_in_open_transaction(&db, &grant.id)
            .await
            .expect("PostgreSQL holds the transaction");
        // A big transaction: more numbers in flight than the view keeps track of.
        let many = i64::try_from(MAX_TRACKED_GAPS).unwrap() + 100;
        sqlx::query(
            "INSERT INTO view_changes (kind, key, at) \
             SELECT 'grant', 'no-such-grant', 0 FROM generate_series(1, $1)",
        )
        .bind(many)
        .execute(&mut *held)
        .await
        .unwrap();
        commit_changes(store, 1).await;
        assert!(store.view().tracked_gaps() <= MAX_TRACKED_GAPS, "bounded");
        for _ in 0..3 {
            store.sync_view().await;
            assert!(store.view().tracked_gaps() <= MAX_TRACKED_GAPS);
        }
        assert_eq!(status(store, &grant.id), Some(GrantStatus::Active));
        held.commit().await.unwrap();
        // The forgotten numbers' transactions have ended: the view reloads rather than miss them.
        sync_until(store, "the revocation arrives with a reload", || {
            status(store, &grant.id) == Some(GrantStatus::Revoked)
        })
        .await;
        sync_until(store, "the filled numbers are no longer awaited", || {
            store.view().tracked_gaps() == 0
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn another_process_forgets_a_remembered_client_when_its_app_or_secrets_change() {
    use accord_core::apps::{AppStatus, Environment};
    use accord_core::ids::Secret;
    use accord_store::apps::AppChange;
    on_every_backend(|db| async move {
        db.store.seed_file(&example()).await.unwrap();
        let other = another_process(&db).await;
        let seeded = Secret::new("ms-prod-secret-0123456789");
        let authenticates = |store: &Store, client_id: &'static str, secret: Secret| {
            let store = store.clone();
            async move {
                store
                    .authenticate_client(client_id, &secret)
                    .await
                    .unwrap()
                    .map(|client| client.app.clone())
            }
        };
        // Remembered on the other process: the app, and an unknown client id as unknown.
        let app = authenticates(&other, "ms-prod", seeded.clone())
            .await
            .expect("the seeded secret authenticates");
        assert!(
            authenticates(&other, "no-such-client", seeded.clone())
                .await
                .is_none()
        );

        // Rotation and retirement of the seeded secret on this process.
        let new = db
            .store
            .rotate_secret(&Actor::cli(), app.id.as_str(), Environment::Production)
            .await
            .unwrap();
        db.store
            .retire_oldest_secret(&Actor::cli(), app.id.as_str(), Environment::Production)
            .await
            .unwrap();
        assert!(
            authenticates(&db.store, "ms-prod", seeded.clone())
                .await
                .is_none()
        );
        assert!(
            authenticates(&other, "ms-prod", seeded.clone())
                .await
                .is_some(),
            "stale until it syncs"
        );
        other.sync_view().await;
        assert!(
            authenticates(&other, "ms-prod", seeded.clone())
                .await
                .is_none(),
            "a retired secret is refused once the view syncs"
        );
        let remembered = authenticates(&other, "ms-prod", new.clone())
            .await
            .expect("the new secret authenticates");
        assert_eq!(
            remembered
                .credential_set(Environment::Production)
                .unwrap()
                .active_secrets,
            1
        );

        // An app change reaches the remembered app.
        db.store
            .update_app(
                &Actor::cli(),
                app.id.as_str(),
                AppChange {
                    name: Some("Meeting Sync 2".into()),
                    status: Some(AppStatus::Published),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        other.sync_view().await;
        let renamed = authenticates(&other, "ms-prod", new.clone()).await.unwrap();
        assert_eq!(renamed.name, "Meeting Sync 2");

        // A deleted app's client is unknown everywhere.
        db.store
            .delete_app(&Actor::cli(), app.id.as_str())
            .await
            .unwrap();
        assert!(
            authenticates(&db.store, "ms-prod", new.clone())
                .await
                .is_none()
        );
        other.sync_view().await;
        assert!(
            authenticates(&other, "ms-prod", new.clone())
                .await
                .is_none()
        );
    })
    .await;
}

/// A user's whole row is remembered by the process that read it (`Store::user`) and forgotten on
/// every process once a change to the row reaches its view: a rename, then a deletion.
#[tokio::test]
async fn another_process_forgets_a_remembered_user_when_the_row_changes() {
    on_every_backend(|db| async move {
        db.store.seed_file(&example()).await.unwrap();
        let other = another_process(&db).await;
        let sam = db.store.find_user("sam@acme.test").await.unwrap();
        let id = sam.id.as_str();
        let remembered = other.user(id).await.unwrap();
        assert_eq!(remembered, sam);

        let rename = UserChange {
            first_name: Some("Samuel".to_owned()),
            ..Default::default()
        };
        db.store
            .update_user(&Actor::cli(), id, rename)
            .await
            .unwrap();
        assert_eq!(
            db.store.user(id).await.unwrap().first_name.as_str(),
            "Samuel"
        );
        assert_eq!(
            other.user(id).await.unwrap().first_name.as_str(),
            sam.first_name.as_str(),
            "stale until it syncs"
        );
        other.sync_view().await;
        assert_eq!(other.user(id).await.unwrap().first_name.as_str(), "Samuel");

        db.store.delete_user(&Actor::cli(), id).await.unwrap();
        other.sync_view().await;
        assert!(matches!(
            other.user(id).await,
            Err(accord_store::StoreError::NotFound { .. })
        ));
        other.pool().close().await;
    })
    .await;
}
