//! The in-memory access view: this process's own changes show at once; another process's changes
//! show once the view syncs (the watcher does that on NOTIFY or its timer).

use accord_core::grants::{GrantKind, GrantStatus};
use accord_core::ids::RoleId;
use accord_core::privileges::Privilege;
use accord_core::scopes::Scope;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::users::UserChange;
use accord_store::{Store, StoreConfig};
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
        // A second process: its own pool and view over the same database.
        let config = StoreConfig {
            master_key: Some(db.master_key.clone()),
            password_cost: accord_store::secrets::PasswordCost::TESTING,
            ..StoreConfig::new(db.database_url.clone())
        };
        let other = Store::open(&config).await.unwrap();
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
