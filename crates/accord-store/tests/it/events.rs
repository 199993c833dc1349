//! What the outbox queues (webhooks.md): `meeting.*` and `user.*` routed to exactly the apps the
//! permission rule lets read the object, with Zoom's payloads, written in the change's
//! transaction (so a rolled-back change queues nothing); and every removal path ending in
//! `app_deauthorized`, signed, with its audit entry and its tokens dead.

use std::collections::BTreeSet;

use accord_core::apps::AppStatus;
use accord_core::clock::Clock;
use accord_core::grants::{GrantKind, RemovalRefusal};
use accord_core::ids::{Email, UserId};
use accord_core::meetings::MeetingDraft;
use accord_core::users::UserStatus;
use accord_core::webhooks;
use accord_store::apps::AppChange;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::meetings::NewMeeting;
use accord_store::users::{NewUser, UserChange};
use accord_store::{Ctx, Store, StoreError};
use accord_testkit::on_every_backend;
use serde_json::{Value, json};

const SECRET: &str = "hook-secret-token-0123456789abcdef";

/// Acme: olive (owner), adam (admin), ann and carl (members), bob (ann's assistant). Globex: gina.
/// Every app's endpoint subscribes to every object event except `quiet`'s.
fn fixture() -> String {
    let hook = |events: &[&str]| json!({"url": "http://127.0.0.1:9/hooks", "secret_token": SECRET, "events": events});
    let all = [
        "app_deauthorized",
        "meeting.created",
        "meeting.updated",
        "meeting.deleted",
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.deleted",
    ];
    let creds = |id: &str, redirect: bool| {
        let mut set = json!({"client_id": format!("{id}-prod"),
            "client_secret": format!("{id}-prod-secret-0123456789")});
        if redirect {
            set["redirect_uris"] = json!(["http://127.0.0.1:9/cb"]);
        }
        json!({"production": set})
    };
    let app = |id: &str, kind: &str, developer: &str, scopes: &[&str], events: &[&str]| {
        let mut app = json!({"id": id, "name": id, "kind": kind, "developer": developer,
            "scopes": scopes, "credentials": creds(id, kind != "server"), "webhook": hook(events)});
        if kind != "server" {
            app["status"] = json!("published");
        }
        app
    };
    json!({
        "accounts": [
            {"id": "acme", "name": "Acme", "users": [
                {"id": "olive", "email": "olive@acme.test", "role": "owner"},
                {"id": "adam", "email": "adam@acme.test", "role": "admin"},
                {"id": "ann", "email": "ann@acme.test", "role": "member"},
                {"id": "bob", "email": "bob@acme.test", "role": "member"},
                {"id": "carl", "email": "carl@acme.test", "role": "member"}],
             "assistants": [{"user": "ann", "assistant": "bob"}]},
            {"id": "globex", "name": "Globex", "users": [
                {"id": "gina", "email": "gina@globex.test", "role": "owner"}]}
        ],
        "apps": [
            app("acct-admin", "account", "olive@acme.test", &["meeting:read:admin", "user:read:admin"], &all),
            app("acct-users", "account", "olive@acme.test", &["user:read:admin"], &all),
            app("quiet", "account", "olive@acme.test", &["meeting:read:admin", "user:read:admin"], &["app_deauthorized"]),
            app("member-app", "user", "olive@acme.test", &["meeting:read", "user:read"], &all),
            app("assistant-app", "user", "olive@acme.test", &["meeting:read", "user:read"], &all),
            app("admin-app", "user", "olive@acme.test", &["meeting:read:admin", "user:read:admin"], &all),
            app("server-app", "server", "olive@acme.test", &["meeting:read:admin", "user:read:admin"], &all),
            app("globex-app", "server", "gina@globex.test", &["meeting:read:admin", "user:read:admin"], &all)
        ]
    })
    .to_string()
}

async fn seeded(store: &Store) {
    let seed = accord_store::seed::parse("fixture", &fixture()).expect("fixture parses");
    accord_store::seed::apply(store, "fixture", &seed)
        .await
        .expect("fixture applies");
    store.set_public_url("http://accord.test").await.unwrap();
    for (app, user, kind) in [
        ("acct-admin", "adam", GrantKind::Installation),
        ("acct-users", "adam", GrantKind::Installation),
        ("quiet", "adam", GrantKind::Installation),
        ("member-app", "ann", GrantKind::Authorization),
        ("assistant-app", "bob", GrantKind::Authorization),
        ("admin-app", "adam", GrantKind::Authorization),
    ] {
        grant(store, app, user, kind).await;
    }
    clear(store).await;
}

async fn grant(
    store: &Store,
    app: &str,
    user: &str,
    kind: GrantKind,
) -> accord_store::grants::Grant {
    let scopes = store.app(app).await.unwrap().all_scopes();
    store
        .upsert_grant(
            &Actor::User(user.into()),
            GrantRequest {
                kind,
                app_id: app,
                account_id: "acme",
                user_id: (kind == GrantKind::Authorization).then_some(user),
                created_by: Some(user),
                scopes: &scopes,
            },
        )
        .await
        .unwrap()
}

/// Every queued row: (app, event, parsed body), oldest first.
async fn queued(store: &Store) -> Vec<(String, String, Value)> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT app_id, event, body FROM webhook_events ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    rows.into_iter()
        .map(|(app, event, body)| {
            let parsed: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                serde_json::to_string(&parsed).unwrap(),
                body,
                "the body is compact JSON"
            );
            (app, event, parsed)
        })
        .collect()
}

/// The apps a queued `event` went to.
async fn receivers(store: &Store, event: &str) -> BTreeSet<String> {
    queued(store)
        .await
        .into_iter()
        .filter(|(_, e, _)| e == event)
        .map(|(app, _, _)| app)
        .collect()
}

async fn clear(store: &Store) {
    sqlx::query("DELETE FROM webhook_events")
        .execute(store.pool())
        .await
        .unwrap();
}

fn set(apps: &[&str]) -> BTreeSet<String> {
    apps.iter().map(|a| (*a).to_owned()).collect()
}

fn draft(value: Value) -> MeetingDraft {
    serde_json::from_value(value).unwrap()
}

async fn meeting_of(store: &Store, host: &str) -> accord_store::meetings::Meeting {
    store
        .create_meeting(
            &Actor::User(host.into()),
            NewMeeting {
                host_id: UserId::parse(host.to_owned()).unwrap(),
                assistant_id: None,
                draft: draft(
                    json!({"topic": "Plans", "type": 2, "start_time": "2027-01-15T10:00:00Z"}),
                ),
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn each_kind_of_grant_receives_exactly_the_events_the_permission_rule_allows() {
    on_every_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;

        // A member's meeting: her own app, her assistant's app, admin scopes; never an app
        // without a meeting scope, one not subscribed, or another account's.
        let anns = meeting_of(&store, "ann").await;
        let everyone_on_anns = set(&[
            "acct-admin",
            "admin-app",
            "assistant-app",
            "member-app",
            "server-app",
        ]);
        assert_eq!(receivers(&store, "meeting.created").await, everyone_on_anns);
        store
            .update_meeting(
                &Actor::User("ann".into()),
                anns.id,
                &draft(json!({"topic": "New plans"})),
            )
            .await
            .unwrap();
        assert_eq!(receivers(&store, "meeting.updated").await, everyone_on_anns);
        store
            .delete_meeting(&Actor::User("ann".into()), anns.id)
            .await
            .unwrap();
        assert_eq!(receivers(&store, "meeting.deleted").await, everyone_on_anns);
        clear(&store).await;

        // Another member's meeting: only admin reach.
        meeting_of(&store, "carl").await;
        assert_eq!(
            receivers(&store, "meeting.created").await,
            set(&["acct-admin", "admin-app", "server-app"])
        );
        clear(&store).await;

        // A new user: apps with a user admin scope (the account app without a meeting scope too).
        let (dave, _) = store
            .create_user(
                &Actor::cli(),
                "acme",
                NewUser::new(Email::parse("dave@acme.test").unwrap()),
            )
            .await
            .unwrap();
        let user_admins = set(&["acct-admin", "acct-users", "admin-app", "server-app"]);
        assert_eq!(receivers(&store, "user.created").await, user_admins);
        clear(&store).await;

        // A change to ann: she reads herself through her own app; her assistant does not.
        store
            .update_user(
                &Actor::User("ann".into()),
                "ann",
                UserChange {
                    first_name: Some("Annie".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut with_ann = user_admins.clone();
        with_ann.insert("member-app".into());
        assert_eq!(receivers(&store, "user.updated").await, with_ann);
        clear(&store).await;

        // The admin loses her privileges: her user app's admin scope no longer reaches others.
        store
            .update_role(
                &Actor::cli(),
                "acme",
                "1",
                accord_store::roles::RoleChange {
                    privileges: Some(accord_core::privileges::PrivilegeSet::empty()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        meeting_of(&store, "carl").await;
        assert_eq!(
            receivers(&store, "meeting.created").await,
            set(&["acct-admin", "server-app"])
        );
        clear(&store).await;
        store
            .update_role(
                &Actor::cli(),
                "acme",
                "1",
                accord_store::roles::RoleChange {
                    privileges: Some(accord_core::privileges::PrivilegeSet::all()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

        // Globex's own changes reach only Globex's app.
        store
            .create_user(
                &Actor::cli(),
                "globex",
                NewUser::new(Email::parse("gus@globex.test").unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(
            receivers(&store, "user.created").await,
            set(&["globex-app"])
        );
        clear(&store).await;

        // Deactivating and deleting a user.
        store
            .update_user(
                &Actor::cli(),
                dave.id.as_str(),
                UserChange {
                    status: Some(UserStatus::Inactive),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(receivers(&store, "user.deactivated").await, user_admins);
        assert!(receivers(&store, "user.updated").await.is_empty());
        store
            .delete_user(&Actor::cli(), dave.id.as_str())
            .await
            .unwrap();
        assert_eq!(receivers(&store, "user.deleted").await, user_admins);
    })
    .await;
}

#[tokio::test]
async fn payloads_carry_the_object_the_api_shows_and_updates_what_changed() {
    on_every_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        let meeting = meeting_of(&store, "ann").await;
        let rows = queued(&store).await;
        let (_, _, created) = rows.iter().find(|(app, _, _)| app == "member-app").unwrap();
        let object = serde_json::to_value(meeting.object("http://accord.test", "ann@acme.test")).unwrap();
        assert_eq!(created["event"], "meeting.created");
        assert_eq!(created["event_ts"], db.clock.now().millis());
        assert_eq!(
            created["payload"],
            json!({"account_id": "acme", "operator": "ann@acme.test", "operator_id": "ann", "object": object})
        );
        assert_eq!(
            created["payload"]["object"]["join_url"],
            format!("http://accord.test/j/{}?pwd={}", meeting.id, meeting.password)
        );
        clear(&store).await;

        // An update by the server app (an app acting with its own token): named after the user
        // it acts as — the account owner for a server grant with no installer in the account.
        store
            .update_meeting(
                &Actor::App("server-app-prod".into()),
                meeting.id,
                &draft(json!({"topic": "Moved", "duration": 45})),
            )
            .await
            .unwrap();
        let rows = queued(&store).await;
        let (_, _, updated) = rows.iter().find(|(app, _, _)| app == "acct-admin").unwrap();
        let payload = &updated["payload"];
        assert_eq!((payload["operator"].as_str(), payload["operator_id"].as_str()), (Some("olive@acme.test"), Some("olive")));
        assert_eq!(
            payload["object"],
            json!({"uuid": meeting.uuid, "id": meeting.id, "topic": "Moved", "duration": 45})
        );
        assert_eq!(
            payload["old_object"],
            json!({"uuid": meeting.uuid, "id": meeting.id, "topic": "Plans", "duration": 60})
        );
        assert_eq!(payload["time_stamp"], db.clock.now().millis());
        clear(&store).await;

        // user.updated carries old_object too; the command line is named by the owner.
        store
            .update_user(&Actor::cli(), "carl", UserChange {
                last_name: Some("Jones".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let rows = queued(&store).await;
        let (_, _, updated) = rows.iter().find(|(app, _, _)| app == "server-app").unwrap();
        assert_eq!(
            updated["payload"],
            json!({"account_id": "acme", "operator": "olive@acme.test", "operator_id": "olive",
                "object": {"id": "carl", "last_name": "Jones", "display_name": "Jones"},
                "old_object": {"id": "carl", "last_name": "", "display_name": ""},
                "time_stamp": db.clock.now().millis()})
        );
        clear(&store).await;

        // A change the object does not show raises nothing.
        store
            .update_user(&Actor::cli(), "carl", UserChange {
                password: Some(accord_core::ids::Secret::new("a-new-password-1".to_owned())),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(queued(&store).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_rolled_back_change_queues_nothing() {
    on_every_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        let ctx = Ctx {
            now: store.now(),
            keys: store.keys(),
        };
        let mut tx = store.begin().await.unwrap();
        accord_store::meetings::insert(
            &mut tx,
            &ctx,
            &Actor::User("ann".into()),
            NewMeeting {
                host_id: UserId::parse("ann".to_owned()).unwrap(),
                assistant_id: None,
                draft: draft(json!({"topic": "Never", "type": 1})),
            },
        )
        .await
        .unwrap();
        let inside: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(inside, 5, "queued inside the transaction");
        tx.rollback().await.unwrap();
        assert!(queued(&store).await.is_empty());

        // A change refused part-way (a deletion of the owner) leaves nothing either.
        assert!(store.delete_user(&Actor::cli(), "olive").await.is_err());
        assert!(queued(&store).await.is_empty());
    })
    .await;
}

/// The one `app_deauthorized` queued since the last clear, for `app`: its payload checked against
/// Zoom's shape and its inner signature recomputed.
async fn deauthorized(store: &Store, app: &str, user_id: &str) {
    let rows = queued(store).await;
    let found: Vec<_> = rows
        .iter()
        .filter(|(a, event, _)| a == app && event == "app_deauthorized")
        .collect();
    assert_eq!(found.len(), 1, "{app}: {rows:?}");
    let payload = &found[0].2["payload"];
    let client_id = format!("{app}-prod");
    let time = payload["deauthorization_time"].as_str().unwrap();
    assert_eq!(
        payload,
        &json!({"account_id": "acme", "user_id": user_id, "client_id": client_id,
            "deauthorization_time": time, "user_data_retention": "false",
            "signature": webhooks::deauthorization_signature(SECRET, "acme", user_id, &client_id, time)})
    );
}

/// Ends a grant through `remove`, then checks it all: no token of it honoured, the signed
/// `app_deauthorized`, the audit entry.
async fn check_removal(
    store: &Store,
    grant: &accord_store::grants::Grant,
    user_id: &str,
    reason: &str,
) {
    assert!(
        !store
            .grant_honours(&grant.id, grant.generation)
            .await
            .unwrap(),
        "{reason}: tokens of the grant are refused"
    );
    let view = store.view().grant(&grant.id);
    assert!(
        view.is_none_or(|g| g.status != accord_core::grants::GrantStatus::Active),
        "{reason}: this process's access view refuses the very next request"
    );
    deauthorized(store, &grant.app_id, user_id).await;
    let audited = store.audit_log("acme").await.unwrap().into_iter().any(|e| {
        e.action == "grant.revoked"
            && e.details["grant_id"] == grant.id.as_str()
            && e.details["reason"] == reason
    });
    assert!(audited, "{reason}: audit entry");
    clear(store).await;
}

#[tokio::test]
async fn every_removal_path_ends_the_grant_through_revoke_matching() {
    on_every_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;

        // An admin uninstalls an installation: user_id is the remover.
        let installed = store.grants_of_app("acct-admin").await.unwrap().remove(0);
        store
            .uninstall_app(
                &Actor::User("olive".into()),
                "acme",
                "acct-admin",
                "uninstalled",
            )
            .await
            .unwrap();
        check_removal(&store, &installed, "olive", "uninstalled").await;

        // An admin removes one user's authorization; a member may not remove another's.
        let anns = store.grants_of_app("member-app").await.unwrap().remove(0);
        let refused = store
            .remove_authorization(&Actor::User("carl".into()), "acme", "member-app", "ann")
            .await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Refused(RemovalRefusal::MissingPrivilege))
            ),
            "{refused:?}"
        );
        let refused = store
            .remove_authorization(&Actor::User("gina".into()), "acme", "member-app", "ann")
            .await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Refused(RemovalRefusal::OtherAccount))
            ),
            "{refused:?}"
        );
        assert!(queued(&store).await.is_empty());
        store
            .remove_authorization(&Actor::User("adam".into()), "acme", "member-app", "ann")
            .await
            .unwrap();
        check_removal(&store, &anns, "ann", "removed by an admin").await;
        let again = store
            .remove_authorization(&Actor::User("adam".into()), "acme", "member-app", "ann")
            .await;
        assert!(
            matches!(again, Err(StoreError::NotFound { .. })),
            "{again:?}"
        );

        // A user removes her own.
        let bobs = store
            .grants_of_app("assistant-app")
            .await
            .unwrap()
            .remove(0);
        store
            .remove_own_authorization("bob", "assistant-app")
            .await
            .unwrap();
        check_removal(&store, &bobs, "bob", "removed by the user").await;

        // The app revokes a token of the grant (/oauth/revoke).
        let anns = grant(&store, "member-app", "ann", GrantKind::Authorization).await;
        clear(&store).await;
        store
            .revoke_grant(
                &Actor::App("member-app-prod".into()),
                &anns.id,
                "revoked at /oauth/revoke",
            )
            .await
            .unwrap();
        check_removal(&store, &anns, "ann", "revoked at /oauth/revoke").await;

        // The user is deactivated, then (another) deleted: their authorizations end.
        let anns = grant(&store, "member-app", "ann", GrantKind::Authorization).await;
        clear(&store).await;
        store
            .update_user(
                &Actor::User("olive".into()),
                "ann",
                UserChange {
                    status: Some(UserStatus::Inactive),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        check_removal(&store, &anns, "ann", "user deactivated").await;
        let bobs = grant(&store, "assistant-app", "bob", GrantKind::Authorization).await;
        clear(&store).await;
        store
            .delete_user(&Actor::User("olive".into()), "bob")
            .await
            .unwrap();
        check_removal(&store, &bobs, "bob", "user deleted").await;

        // The account blocks an app.
        let quiet = store.grants_of_app("quiet").await.unwrap().remove(0);
        store
            .block_app(&Actor::User("olive".into()), "acme", "quiet")
            .await
            .unwrap();
        check_removal(&store, &quiet, "olive", "app blocked in the account").await;

        // The developer deletes an app (the event outlives the app: its endpoint is in the row).
        let users_app = store.grants_of_app("acct-users").await.unwrap().remove(0);
        store
            .delete_app(&Actor::User("olive".into()), "acct-users")
            .await
            .unwrap();
        check_removal(&store, &users_app, "olive", "app deleted").await;

        // Its developer (Globex) unpublishes an app: its grants outside Globex end, Acme's too.
        let globex_user = grant_in(&store, "globex-user-app").await;
        store
            .update_app(
                &Actor::User("gina".into()),
                "globex-user-app",
                AppChange {
                    status: Some(AppStatus::Development),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let rows = queued(&store).await;
        assert!(
            rows.iter()
                .any(|(a, e, _)| a == "globex-user-app" && e == "app_deauthorized"),
            "{rows:?}"
        );
        assert!(
            !store
                .grant_honours(&globex_user.id, globex_user.generation)
                .await
                .unwrap()
        );
        let audited = store
            .audit_log("acme")
            .await
            .unwrap()
            .into_iter()
            .any(|e| e.action == "grant.revoked" && e.details["reason"] == "app unpublished");
        assert!(audited);
    })
    .await;
}

/// A published user app developed by Globex, authorized by carl in Acme.
async fn grant_in(store: &Store, app_id: &str) -> accord_store::grants::Grant {
    let seed = json!({"apps": [{"id": app_id, "name": app_id, "kind": "user", "developer": "gina@globex.test",
        "status": "published", "scopes": ["user:read"],
        "credentials": {"production": {"client_id": format!("{app_id}-prod"),
            "client_secret": "globex-user-secret-0123456789", "redirect_uris": ["http://127.0.0.1:9/cb"]}},
        "webhook": {"url": "http://127.0.0.1:9/hooks", "secret_token": SECRET, "events": ["app_deauthorized"]}}]});
    let seed = accord_store::seed::parse("more", &seed.to_string()).unwrap();
    accord_store::seed::apply(store, "more", &seed)
        .await
        .unwrap();
    let granted = grant(store, app_id, "carl", GrantKind::Authorization).await;
    clear(store).await;
    granted
}
