use accord_core::apps::{AppKind, AppStatus, Environment};
use accord_core::grants::{GrantKind, GrantStatus};
use accord_core::ids::{Email, RoleId, Secret};
use accord_core::privileges::{Privilege, PrivilegeSet};
use accord_core::scopes::Scope;
use accord_core::users::UserStatus;
use accord_store::accounts::NewAccount;
use accord_store::apps::{NewApp, NewCredentials};
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::roles::{NewRole, RoleChange};
use accord_store::users::{NewUser, User, UserChange};
use accord_store::{Store, StoreError};
use accord_testkit::on_every_backend;

fn cli() -> Actor {
    Actor::cli()
}

async fn account(store: &Store, name: &str) -> (String, User) {
    let owner = NewUser::new(Email::parse(format!("owner@{}.test", name.to_lowercase())).unwrap());
    let (account, owner, _) = store
        .create_account(
            &cli(),
            NewAccount {
                id: None,
                name: name.into(),
                app_approval: Default::default(),
            },
            owner,
        )
        .await
        .unwrap();
    (account.id.into_string(), owner)
}

async fn user(store: &Store, account_id: &str, email: &str, role: &str) -> User {
    let mut new = NewUser::new(Email::parse(email).unwrap());
    new.role_id = RoleId::parse(role).unwrap();
    store.create_user(&cli(), account_id, new).await.unwrap().0
}

fn app(developer: &User, name: &str, kind: AppKind, scopes: &[&str]) -> NewApp {
    NewApp {
        id: None,
        name: name.into(),
        kind,
        developer_user_id: developer.id.as_str().into(),
        status: AppStatus::Published,
        required_scopes: scopes.iter().map(|s| s.to_string()).collect(),
        optional_scopes: vec![],
        public_client: false,
        development: NewCredentials::default(),
        production: NewCredentials {
            redirect_uris: if kind == AppKind::Server {
                vec![]
            } else {
                vec!["http://127.0.0.1:9000/cb".into()]
            },
            ..NewCredentials::default()
        },
        webhook: None,
    }
}

#[tokio::test]
async fn every_account_gets_the_builtin_roles_and_exactly_one_owner() {
    on_every_backend(|db| async move {
        let (acme, owner) = account(&db.store, "Acme").await;
        let roles = db.store.roles(&acme).await.unwrap();
        let ids: Vec<&str> = roles.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "2"]);
        assert_eq!(roles[0].total_members, 1);
        assert_eq!(roles[1].privileges, PrivilegeSet::all());
        assert!(roles[2].privileges.is_empty());
        assert!(owner.is_owner());
        assert_eq!(
            db.store.account(&acme).await.unwrap().owner_id,
            Some(owner.id.clone())
        );
    })
    .await;
}

#[tokio::test]
async fn emails_are_unique_within_an_account_ignoring_case() {
    on_every_backend(|db| async move {
        let (acme, _) = account(&db.store, "Acme").await;
        let ann = user(&db.store, &acme, "Ann@Acme.test", "2").await;
        let bob = user(&db.store, &acme, "bob@acme.test", "2").await;
        let again = db
            .store
            .create_user(
                &cli(),
                &acme,
                NewUser::new(Email::parse("ann@ACME.test").unwrap()),
            )
            .await
            .unwrap_err();
        assert!(matches!(again, StoreError::Conflict(_)), "{again}");
        let renamed = UserChange {
            email: Some(Email::parse("ANN@acme.test").unwrap()),
            ..Default::default()
        };
        let taken = db
            .store
            .update_user(&cli(), bob.id.as_str(), renamed)
            .await
            .unwrap_err();
        assert!(matches!(taken, StoreError::Conflict(_)), "{taken}");
        let found = db.store.find_user_in(&acme, "ANN@acme.TEST").await.unwrap();
        assert_eq!(found.id, ann.id);
        assert_eq!(found.email.as_str(), "Ann@Acme.test");
    })
    .await;
}

#[tokio::test]
async fn the_same_email_is_a_separate_user_in_each_account() {
    on_every_backend(|db| async move {
        let (acme, _) = account(&db.store, "Acme").await;
        let (globex, _) = account(&db.store, "Globex").await;
        let in_acme = user(&db.store, &acme, "Pat@Shared.test", "2").await;
        let in_globex = user(&db.store, &globex, "pat@SHARED.test", "1").await;
        assert_ne!(in_acme.id, in_globex.id);
        // Moving another user of Globex onto the address is refused only because Globex has it.
        let gus = user(&db.store, &globex, "gus@globex.test", "2").await;
        let onto = |email: &str| UserChange {
            email: Some(Email::parse(email).unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            db.store
                .update_user(&cli(), gus.id.as_str(), onto("pat@shared.test"))
                .await,
            Err(StoreError::Conflict(_))
        ));
        let (initech, _) = account(&db.store, "Initech").await;
        let ian = user(&db.store, &initech, "ian@initech.test", "2").await;
        db.store
            .update_user(&cli(), ian.id.as_str(), onto("PAT@shared.test"))
            .await
            .expect("an address of other accounts is free here");

        // Within an account the address names its user; a user of another account reads as
        // missing, by email and by id alike.
        let email = "pat@shared.test";
        assert_eq!(
            db.store.find_user_in(&acme, email).await.unwrap().id,
            in_acme.id
        );
        assert_eq!(
            db.store.find_user_in(&globex, email).await.unwrap().id,
            in_globex.id
        );
        assert!(matches!(
            db.store.find_user_in(&acme, in_globex.id.as_str()).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(
            db.store
                .user_by_email(&globex, &Email::parse(email).unwrap())
                .await
                .unwrap()
                .map(|u| u.id),
            Some(in_globex.id.clone())
        );

        // Asked without an account (operator tools), an email of several accounts is never
        // resolved to one of them; an id still is.
        match db.store.find_user(email).await {
            Err(StoreError::AmbiguousEmail { accounts, .. }) => {
                assert_eq!(accounts.len(), 3);
                assert!(accounts.contains(&acme) && accounts.contains(&globex));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            db.store
                .find_user(in_globex.id.as_str())
                .await
                .unwrap()
                .account_id
                .as_str(),
            globex
        );
    })
    .await;
}

#[tokio::test]
async fn a_password_check_returns_every_user_of_the_email_it_matches() {
    on_every_backend(|db| async move {
        let email = Email::parse("pat@shared.test").unwrap();
        let with_password = |password: &str| {
            let mut new = NewUser::new(email.clone());
            new.password = Some(Secret::new(password));
            new
        };
        let mut ids = Vec::new();
        for (name, password) in [
            ("Acme", "same-password"),
            ("Globex", "same-password"),
            ("Initech", "other-password"),
        ] {
            let (id, _) = account(&db.store, name).await;
            let created = db
                .store
                .create_user(&cli(), &id, with_password(password))
                .await
                .unwrap()
                .0;
            ids.push((id, created));
        }
        let matched = |password: &'static str| {
            let store = db.store.clone();
            let email = email.clone();
            async move {
                let mut found: Vec<String> = store
                    .check_password(&email, &Secret::new(password))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|u| u.account_id.into_string())
                    .collect();
                found.sort();
                found
            }
        };
        let mut both = vec![ids[0].0.clone(), ids[1].0.clone()];
        both.sort();
        assert_eq!(matched("same-password").await, both);
        assert_eq!(matched("other-password").await, [ids[2].0.clone()]);
        assert!(matched("wrong-password").await.is_empty());
        assert!(
            db.store
                .check_password(
                    &Email::parse("nobody@shared.test").unwrap(),
                    &Secret::new("same-password")
                )
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn the_owner_cannot_be_demoted_deleted_deactivated_or_duplicated() {
    on_every_backend(|db| async move {
        let (acme, owner) = account(&db.store, "Acme").await;
        let admin = user(&db.store, &acme, "admin@acme.test", "1").await;
        let demote = UserChange {
            role_id: Some(RoleId::parse("1").unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            db.store
                .update_user(&cli(), owner.id.as_str(), demote)
                .await,
            Err(StoreError::OwnerRule(_))
        ));
        assert!(matches!(
            db.store.delete_user(&cli(), owner.id.as_str()).await,
            Err(StoreError::OwnerRule(_))
        ));
        let deactivate = UserChange {
            status: Some(UserStatus::Inactive),
            ..Default::default()
        };
        assert!(matches!(
            db.store
                .update_user(&cli(), owner.id.as_str(), deactivate)
                .await,
            Err(StoreError::OwnerRule(_))
        ));
        let promote = UserChange {
            role_id: Some(RoleId::parse("0").unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            db.store
                .update_user(&cli(), admin.id.as_str(), promote)
                .await,
            Err(StoreError::OwnerRule(_))
        ));
        let owner_role = RoleChange {
            privileges: Some(PrivilegeSet::empty()),
            ..Default::default()
        };
        assert!(matches!(
            db.store.update_role(&cli(), &acme, "0", owner_role).await,
            Err(StoreError::OwnerRule(_))
        ));
        assert!(matches!(
            db.store.delete_role(&cli(), &acme, "2").await,
            Err(StoreError::OwnerRule(_))
        ));

        // Ownership moves by transfer: the old owner becomes an admin.
        let new_owner = db
            .store
            .transfer_ownership(&cli(), admin.id.as_str())
            .await
            .unwrap();
        assert!(new_owner.is_owner());
        assert_eq!(
            db.store
                .user(owner.id.as_str())
                .await
                .unwrap()
                .role_id
                .as_str(),
            "1"
        );
        assert_eq!(
            db.store.account(&acme).await.unwrap().owner_id,
            Some(admin.id)
        );
    })
    .await;
}

#[tokio::test]
async fn custom_roles_have_unique_names_and_edit_implies_read() {
    on_every_backend(|db| async move {
        let (acme, _) = account(&db.store, "Acme").await;
        let new = NewRole {
            id: Some(RoleId::parse("scheduler").unwrap()),
            name: "Scheduler".into(),
            description: String::new(),
            privileges: [Privilege::MeetingEdit].into_iter().collect(),
        };
        let role = db.store.create_role(&cli(), &acme, new).await.unwrap();
        assert!(role.privileges.contains(Privilege::MeetingRead));
        let dup = NewRole {
            id: None,
            name: "scheduler".into(),
            description: String::new(),
            privileges: PrivilegeSet::empty(),
        };
        assert!(matches!(
            db.store.create_role(&cli(), &acme, dup).await,
            Err(StoreError::Conflict(_))
        ));
        let sam = user(&db.store, &acme, "sam@acme.test", "scheduler").await;
        assert!(
            db.store
                .user_privileges(sam.id.as_str())
                .await
                .unwrap()
                .contains(Privilege::MeetingRead)
        );
        assert!(matches!(
            db.store.delete_role(&cli(), &acme, "scheduler").await,
            Err(StoreError::Invalid(_))
        ));
        // The admin role can be trimmed by the owner; the change is read on the next lookup.
        let trim = RoleChange {
            privileges: Some([Privilege::UserRead].into_iter().collect()),
            ..Default::default()
        };
        db.store
            .update_role(&cli(), &acme, "1", trim)
            .await
            .unwrap();
        let admin = user(&db.store, &acme, "admin@acme.test", "1").await;
        assert!(
            !db.store
                .user_privileges(admin.id.as_str())
                .await
                .unwrap()
                .contains(Privilege::MeetingRead)
        );
    })
    .await;
}

#[tokio::test]
async fn assistants_are_same_account_not_self_and_stored_once() {
    on_every_backend(|db| async move {
        let (acme, _) = account(&db.store, "Acme").await;
        let (globex, _) = account(&db.store, "Globex").await;
        let ann = user(&db.store, &acme, "ann@acme.test", "2").await;
        let sam = user(&db.store, &acme, "sam@acme.test", "2").await;
        let gus = user(&db.store, &globex, "gus@globex.test", "2").await;
        assert!(
            db.store
                .add_assistant(&cli(), ann.id.as_str(), sam.id.as_str())
                .await
                .unwrap()
        );
        assert!(
            !db.store
                .add_assistant(&cli(), ann.id.as_str(), sam.id.as_str())
                .await
                .unwrap()
        );
        assert!(matches!(
            db.store
                .add_assistant(&cli(), ann.id.as_str(), ann.id.as_str())
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            db.store
                .add_assistant(&cli(), ann.id.as_str(), gus.id.as_str())
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(db.store.assistants(ann.id.as_str()).await.unwrap().len(), 1);
        let schedulers = db.store.schedulers(sam.id.as_str()).await.unwrap();
        assert_eq!(schedulers[0].user.id, ann.id);
        assert_eq!(
            db.store
                .remove_assistant(&cli(), ann.id.as_str(), Some(sam.id.as_str()))
                .await
                .unwrap(),
            1
        );
        assert!(
            db.store
                .assistants(ann.id.as_str())
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn apps_validate_scopes_credentials_and_kinds() {
    on_every_backend(|db| async move {
        let (_, dev) = account(&db.store, "Dev").await;
        let mixed = app(
            &dev,
            "Mixed",
            AppKind::User,
            &["meeting:read", "meeting:read:meeting"],
        );
        assert!(matches!(
            db.store.create_app(&cli(), mixed).await,
            Err(StoreError::Invalid(_))
        ));
        let mut bad_uri = app(&dev, "Frag", AppKind::User, &["meeting:read"]);
        bad_uri.production.redirect_uris = vec!["https://x.test/cb#frag".into()];
        assert!(matches!(
            db.store.create_app(&cli(), bad_uri).await,
            Err(StoreError::Invalid(_))
        ));
        let mut public = app(&dev, "Public", AppKind::User, &["meeting:read"]);
        public.public_client = true;
        let (public, shown) = db.store.create_app(&cli(), public).await.unwrap();
        assert!(shown.client_secrets.is_empty());
        assert!(public.credentials.iter().all(|c| c.active_secrets == 0));

        let (sync, shown) = db
            .store
            .create_app(
                &cli(),
                app(&dev, "Sync", AppKind::Account, &["meeting:read:admin"]),
            )
            .await
            .unwrap();
        assert_eq!(
            shown.client_secrets.len(),
            2,
            "both credential sets get a generated secret"
        );
        let taken = NewApp {
            production: NewCredentials {
                client_id: Some(sync.credentials[1].client_id.clone()),
                ..Default::default()
            },
            ..app(&dev, "Copy", AppKind::Account, &["meeting:read:admin"])
        };
        assert!(matches!(
            db.store.create_app(&cli(), taken).await,
            Err(StoreError::Conflict(_))
        ));

        // Rotation: at most two active secrets, the old one keeps working until retired.
        let (_, prod_id, old) = shown
            .client_secrets
            .iter()
            .find(|(e, _, _)| *e == Environment::Production)
            .unwrap()
            .clone();
        let new = db
            .store
            .rotate_secret(&cli(), sync.id.as_str(), Environment::Production)
            .await
            .unwrap();
        assert!(
            db.store
                .authenticate_client(&prod_id, &old)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            db.store
                .authenticate_client(&prod_id, &new)
                .await
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            db.store
                .rotate_secret(&cli(), sync.id.as_str(), Environment::Production)
                .await,
            Err(StoreError::Invalid(_))
        ));
        db.store
            .retire_oldest_secret(&cli(), sync.id.as_str(), Environment::Production)
            .await
            .unwrap();
        assert!(
            db.store
                .authenticate_client(&prod_id, &old)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.store
                .authenticate_client(&prod_id, &new)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            db.store
                .authenticate_client("no-such-client", &new)
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn a_server_app_is_activated_in_its_developer_account() {
    on_every_backend(|db| async move {
        let (dev_account, dev) = account(&db.store, "Dev").await;
        let (server, _) = db
            .store
            .create_app(
                &cli(),
                app(
                    &dev,
                    "Backend",
                    AppKind::Server,
                    &["user:read:admin", "meeting:write:admin"],
                ),
            )
            .await
            .unwrap();
        let grants = db.store.grants_of_app(server.id.as_str()).await.unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].kind, GrantKind::Server);
        assert_eq!(grants[0].account_id, dev_account);
        assert_eq!(grants[0].status, GrantStatus::Active);
        assert_eq!(grants[0].scopes.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_installation_survives_its_installer_being_demoted_or_deleted() {
    on_every_backend(|db| async move {
        let (_, dev) = account(&db.store, "Dev").await;
        let (acme, _) = account(&db.store, "Acme").await;
        let admin = user(&db.store, &acme, "admin@acme.test", "1").await;
        let (sync, _) = db
            .store
            .create_app(
                &cli(),
                app(&dev, "Sync", AppKind::Account, &["meeting:read:admin"]),
            )
            .await
            .unwrap();
        let scopes = [Scope::parse("meeting:read:admin").unwrap()];
        let request = GrantRequest {
            kind: GrantKind::Installation,
            app_id: sync.id.as_str(),
            account_id: &acme,
            user_id: None,
            created_by: Some(admin.id.as_str()),
            scopes: &scopes,
        };
        let grant = db
            .store
            .upsert_grant(&Actor::User(admin.id.as_str().into()), request.clone())
            .await
            .unwrap();
        assert_eq!(grant.generation, 1);
        let again = db
            .store
            .upsert_grant(&Actor::User(admin.id.as_str().into()), request)
            .await
            .unwrap();
        assert_eq!(
            (again.id.as_str(), again.generation),
            (grant.id.as_str(), 2),
            "re-authorizing bumps the generation of the same grant"
        );

        db.store
            .update_user(
                &cli(),
                admin.id.as_str(),
                UserChange {
                    role_id: Some(RoleId::parse("2").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            db.store.grant(&grant.id).await.unwrap().status,
            GrantStatus::Active
        );
        db.store
            .delete_user(&cli(), admin.id.as_str())
            .await
            .unwrap();
        let kept = db.store.grant(&grant.id).await.unwrap();
        assert_eq!(kept.status, GrantStatus::Active);
        assert_eq!(kept.created_by.as_deref(), Some(admin.id.as_str()));
    })
    .await;
}

#[tokio::test]
async fn removing_a_user_app_or_blocking_it_ends_the_grants_concerned() {
    on_every_backend(|db| async move {
        let (_, dev) = account(&db.store, "Dev").await;
        let (acme, _) = account(&db.store, "Acme").await;
        let ann = user(&db.store, &acme, "ann@acme.test", "2").await;
        let bob = user(&db.store, &acme, "bob@acme.test", "2").await;
        let (notes, _) = db
            .store
            .create_app(&cli(), app(&dev, "Notes", AppKind::User, &["meeting:read"]))
            .await
            .unwrap();
        let scopes = [Scope::parse("meeting:read").unwrap()];
        let mut ids = Vec::new();
        for u in [&ann, &bob] {
            let request = GrantRequest {
                kind: GrantKind::Authorization,
                app_id: notes.id.as_str(),
                account_id: &acme,
                user_id: Some(u.id.as_str()),
                created_by: Some(u.id.as_str()),
                scopes: &scopes,
            };
            ids.push(
                db.store
                    .upsert_grant(&Actor::User(u.id.as_str().into()), request)
                    .await
                    .unwrap()
                    .id,
            );
        }
        db.store
            .update_user(
                &cli(),
                ann.id.as_str(),
                UserChange {
                    status: Some(UserStatus::Inactive),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            db.store.grant(&ids[0]).await.unwrap().status,
            GrantStatus::Revoked,
            "deactivating ends the user's authorizations"
        );
        assert_eq!(
            db.store.grant(&ids[1]).await.unwrap().status,
            GrantStatus::Active
        );

        db.store
            .block_app(&cli(), &acme, notes.id.as_str())
            .await
            .unwrap();
        assert_eq!(
            db.store.grant(&ids[1]).await.unwrap().status,
            GrantStatus::Revoked,
            "blocking ends the app's grants in the account"
        );
        let log = db.store.audit_log(&acme).await.unwrap();
        assert!(log.iter().any(|e| e.action == "app.blocked"));
        assert_eq!(
            log.iter().filter(|e| e.action == "grant.revoked").count(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_an_account_removes_its_data_but_keeps_its_audit_log() {
    on_every_backend(|db| async move {
        let (acme, _) = account(&db.store, "Acme").await;
        user(&db.store, &acme, "ann@acme.test", "2").await;
        db.store.delete_account(&cli(), &acme).await.unwrap();
        assert!(matches!(
            db.store.account(&acme).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(db.store.find_user("ann@acme.test").await.is_err());
        let log = db.store.audit_log(&acme).await.unwrap();
        assert_eq!(
            log.last().map(|e| e.action.as_str()),
            Some("account.deleted")
        );
        // The email is free again.
        let (_, owner) = account(&db.store, "Acme").await;
        assert!(owner.is_owner());
    })
    .await;
}

#[tokio::test]
async fn a_wrong_master_key_is_refused_at_open() {
    let db = accord_testkit::TestDb::sqlite().await;
    let config = accord_store::StoreConfig {
        master_key: Some(accord_store::secrets::MasterKey::generate().to_base64()),
        password_cost: accord_store::secrets::PasswordCost::TESTING,
        ..accord_store::StoreConfig::new(db.database_url.clone())
    };
    let err = Store::open(&config)
        .await
        .err()
        .expect("a different key is refused");
    assert!(err.to_string().contains("master key"), "{err}");
    let _ = Secret::new("unused");
    db.finish().await;
}

#[tokio::test]
async fn preapproval_requests_are_kept_until_an_admin_answers_them() {
    on_every_backend(|db| async move {
        let (_, dev) = account(&db.store, "Dev").await;
        let (acme, owner) = account(&db.store, "Acme").await;
        let ann = user(&db.store, &acme, "ann@acme.test", "2").await;
        let (notes, _) = db
            .store
            .create_app(&cli(), app(&dev, "Notes", AppKind::User, &["meeting:read"]))
            .await
            .unwrap();
        db.store
            .request_preapproval(&acme, notes.id.as_str(), ann.id.as_str())
            .await
            .unwrap();
        let pending = db.store.preapprovals(&acme).await.unwrap();
        assert_eq!(
            (
                pending[0].status.as_str(),
                pending[0].requested_by.as_deref()
            ),
            ("requested", Some(ann.id.as_str()))
        );
        let admin = Actor::User(owner.id.as_str().into());
        db.store
            .decide_preapproval(&admin, &acme, notes.id.as_str(), true)
            .await
            .unwrap();
        let decided = db.store.preapprovals(&acme).await.unwrap();
        assert_eq!(
            (decided[0].status.as_str(), decided[0].decided_by.as_deref()),
            ("approved", Some(owner.id.as_str()))
        );
        // Asking again for an approved app changes nothing.
        db.store
            .request_preapproval(&acme, notes.id.as_str(), ann.id.as_str())
            .await
            .unwrap();
        assert_eq!(
            db.store.preapprovals(&acme).await.unwrap()[0].status,
            "approved"
        );
        let actions: Vec<String> = db
            .store
            .audit_log(&acme)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(
            actions.contains(&"app.preapproval_requested".to_owned())
                && actions.contains(&"app.preapproved".to_owned()),
            "{actions:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn preapproval_answers_are_audited_a_decline_needs_a_request_and_account_apps_are_never_preapproved()
 {
    on_every_backend(|db| async move {
        let (_, dev) = account(&db.store, "Dev").await;
        let (acme, owner) = account(&db.store, "Acme").await;
        let ann = user(&db.store, &acme, "ann@acme.test", "2").await;
        let admin = Actor::User(owner.id.as_str().into());
        let (notes, _) = db
            .store
            .create_app(&cli(), app(&dev, "Notes", AppKind::User, &["meeting:read"]))
            .await
            .unwrap();
        let (sync, _) = db
            .store
            .create_app(&cli(), app(&dev, "Sync", AppKind::Account, &["meeting:read:admin"]))
            .await
            .unwrap();
        let declined = db
            .store
            .decide_preapproval(&admin, &acme, notes.id.as_str(), false)
            .await;
        assert!(matches!(declined, Err(StoreError::NotFound { .. })), "{declined:?}");
        let account_app = db
            .store
            .decide_preapproval(&admin, &acme, sync.id.as_str(), true)
            .await;
        assert!(matches!(account_app, Err(StoreError::Invalid(_))), "{account_app:?}");
        assert!(db.store.preapprovals(&acme).await.unwrap().is_empty());

        db.store
            .request_preapproval(&acme, notes.id.as_str(), ann.id.as_str())
            .await
            .unwrap();
        db.store
            .decide_preapproval(&admin, &acme, notes.id.as_str(), false)
            .await
            .unwrap();
        assert_eq!(db.store.preapprovals(&acme).await.unwrap()[0].status, "declined");
        // Pre-approving ahead of (another) request, after a decline.
        db.store
            .decide_preapproval(&admin, &acme, notes.id.as_str(), true)
            .await
            .unwrap();
        let log = db.store.audit_log(&acme).await.unwrap();
        let answers: Vec<(String, serde_json::Value)> = log
            .into_iter()
            .filter(|e| e.action.starts_with("app.preapprov"))
            .map(|e| (e.action, e.details))
            .collect();
        assert_eq!(
            answers,
            vec![
                ("app.preapproval_requested".to_owned(), serde_json::json!({})),
                (
                    "app.preapproval_declined".to_owned(),
                    serde_json::json!({"previous_status": "requested", "requested_by": ann.id.as_str()})
                ),
                (
                    "app.preapproved".to_owned(),
                    serde_json::json!({"previous_status": "declined", "requested_by": ann.id.as_str()})
                ),
            ]
        );
    })
    .await;
}
