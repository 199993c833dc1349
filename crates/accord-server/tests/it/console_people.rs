//! The console's *Users and roles*: users (add, deactivate and activate, change role) and roles
//! (create, change, delete a custom role), each through the `/v2` handler — so the owner rules
//! and the permission rule refuse exactly as the API does, and every change is audited.

use accord_core::ids::Email;
use accord_core::privileges::Privilege;
use accord_core::users::UserStatus;
use accord_store::Store;
use accord_store::audit::Actor;
use accord_store::users::NewUser;
use accord_testkit::on_every_backend;
use reqwest::StatusCode;

use crate::console_support::{form_at, post_ok, seed, sign_in};
use crate::support::{Browser, TestServer, forms};

async fn actions(store: &Store) -> Vec<(String, String)> {
    store
        .audit_log("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.target_id))
        .collect()
}

#[tokio::test]
async fn an_admin_adds_a_user_changes_roles_and_status_and_edits_custom_roles() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;

        let users = adam.get("/console/users").await;
        assert_eq!(users.status, StatusCode::OK, "{}", users.html);
        for text in ["Olive Owner", "max@acme.test", "Scheduler", "Add a user"] {
            assert!(
                users.html.contains(text),
                "{text} missing in {}",
                users.html
            );
        }
        assert!(
            users
                .html
                .contains("<a href=\"/console/users\" aria-current=\"page\">Users and roles</a>"),
            "{}",
            users.html
        );
        assert!(users.html.contains("href=\"/console/roles\""));

        // Add a Scheduler who can sign in with the password given.
        let add = form_at(&users, "/console/users/add", &[]);
        post_ok(
            &adam,
            &add.action,
            &add.with(&[
                ("email", "nia@acme.test"),
                ("first_name", "Nia"),
                ("last_name", "New"),
                ("role_id", "scheduler"),
                ("password", "nia-password"),
            ]),
        )
        .await;
        let nia = db
            .store
            .find_user_in("acme", "nia@acme.test")
            .await
            .unwrap();
        assert_eq!(nia.role_id.as_str(), "scheduler");
        assert_eq!(nia.status, UserStatus::Active);
        let nia_browser = server.browser();
        sign_in(&nia_browser, "nia@acme.test").await;

        // The same email again: the API's answer on the failure page.
        let again = adam
            .post(
                &add.action,
                &add.with(&[("email", "nia@acme.test"), ("password", "nia-password")]),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
        assert!(again.html.contains("(code 1005)"), "{}", again.html);
        let short = adam
            .post(
                &add.action,
                &add.with(&[("email", "zed@acme.test"), ("password", "short")]),
            )
            .await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.html);
        assert!(
            short
                .html
                .contains("autoCreate needs a password of 8 to 32 characters."),
            "{}",
            short.html
        );

        // Max becomes a Scheduler.
        let users = adam.get("/console/users").await;
        assert!(users.html.contains("Nia New"), "{}", users.html);
        let change = form_at(&users, "/console/users/role", &[("user_id", "max")]);
        post_ok(
            &adam,
            &change.action,
            &change.with(&[("role_id", "scheduler")]),
        )
        .await;
        let max = db.store.user("max").await.unwrap();
        assert_eq!(max.role_id.as_str(), "scheduler");

        // Deactivated, then activated again.
        let users = adam.get("/console/users").await;
        let deactivate = form_at(&users, "/console/users/status", &[("user_id", "max")]);
        assert_eq!(deactivate.field("action"), "deactivate");
        let users = post_ok(&adam, &deactivate.action, &deactivate.fields).await;
        assert!(
            users.html.contains("The user is deactivated"),
            "{}",
            users.html
        );
        assert_eq!(
            db.store.user("max").await.unwrap().status,
            UserStatus::Inactive
        );
        let activate = form_at(&users, "/console/users/status", &[("user_id", "max")]);
        assert_eq!(activate.field("action"), "activate");
        post_ok(&adam, &activate.action, &activate.fields).await;
        assert_eq!(
            db.store.user("max").await.unwrap().status,
            UserStatus::Active
        );

        // The owner: no form offers it, and a crafted post gets the rule's refusal.
        let users = adam.get("/console/users").await;
        assert!(
            !forms(&users.html)
                .iter()
                .any(|f| f.fields.iter().any(|(n, v)| n == "user_id" && v == "olive")),
            "{}",
            users.html
        );
        let before = actions(&db.store).await.len();
        let refused = adam
            .post(
                "/console/users/status",
                &deactivate.replacing("user_id", "olive"),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
        assert!(
            refused
                .html
                .contains("The account owner cannot be deactivated."),
            "{}",
            refused.html
        );
        assert_eq!(
            db.store.user("olive").await.unwrap().status,
            UserStatus::Active
        );
        // Nor can the owner be moved out of the Owner role.
        let change = form_at(&users, "/console/users/role", &[("user_id", "max")]);
        let mut demote = change.replacing("user_id", "olive");
        demote.push(("role_id".into(), "2".into()));
        let refused = adam.post(&change.action, &demote).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
        assert_eq!(db.store.user("olive").await.unwrap().role_id.as_str(), "0");
        assert_eq!(actions(&db.store).await.len(), before);

        // Roles: the page sits under Users and roles.
        let roles = adam.get("/console/roles").await;
        assert_eq!(roles.status, StatusCode::OK, "{}", roles.html);
        assert!(
            roles
                .html
                .contains("<a href=\"/console/users\" aria-current=\"page\">Users and roles</a>"),
            "{}",
            roles.html
        );
        for privilege in Privilege::ALL {
            assert!(
                roles
                    .html
                    .contains(&format!("id=\"new-privilege-{privilege}\"")),
                "{privilege} missing in {}",
                roles.html
            );
        }

        // Create "Auditor" with AuditLog:Read, change it, delete it.
        let create = form_at(&roles, "/console/roles/create", &[]);
        let roles = post_ok(
            &adam,
            &create.action,
            &create.with(&[
                ("name", "Auditor"),
                ("description", "Reads the audit log"),
                ("privilege", "AuditLog:Read"),
            ]),
        )
        .await;
        let duplicate = adam
            .post(&create.action, &create.with(&[("name", "Auditor")]))
            .await;
        assert_eq!(
            duplicate.status,
            StatusCode::BAD_REQUEST,
            "{}",
            duplicate.html
        );
        assert!(duplicate.html.contains("(code 1224)"), "{}", duplicate.html);
        let auditor = auditor(&db.store).await.expect("the role exists");
        assert_eq!(auditor.privileges.names(), vec!["AuditLog:Read"]);
        assert_eq!(auditor.description, "Reads the audit log");
        assert!(roles.html.contains("Auditor"), "{}", roles.html);

        let edit = form_at(
            &roles,
            "/console/roles/update",
            &[("role_id", auditor.id.as_str())],
        );
        assert_eq!(
            edit.fields.iter().filter(|(n, _)| n == "privilege").count(),
            1
        );
        post_ok(
            &adam,
            &edit.action,
            &edit.with(&[
                ("name", "Auditors"),
                ("description", "Reads users and the audit log"),
                ("privilege", "User:Read"),
            ]),
        )
        .await;
        let changed = db.store.role("acme", auditor.id.as_str()).await.unwrap();
        assert_eq!(changed.name, "Auditors");
        assert!(changed.privileges.contains(Privilege::UserRead));
        assert!(changed.privileges.contains(Privilege::AuditLogRead));
        assert!(!changed.privileges.contains(Privilege::UserEdit));

        let roles = adam.get("/console/roles").await;
        let delete = form_at(
            &roles,
            "/console/roles/delete",
            &[("role_id", auditor.id.as_str())],
        );
        let roles = post_ok(&adam, &delete.action, &delete.fields).await;
        assert!(roles.html.contains("The role is deleted"), "{}", roles.html);
        assert!(db.store.role("acme", auditor.id.as_str()).await.is_err());

        let log = actions(&db.store).await;
        let audited =
            |action: &str, target: &str| log.iter().any(|(a, t)| a == action && t == target);
        let nia = nia.id.to_string();
        let role = auditor.id.to_string();
        for (action, target) in [
            ("user.created", nia.as_str()),
            ("user.role_changed", nia.as_str()),
            ("user.role_changed", "max"),
            ("user.deactivated", "max"),
            ("user.activated", "max"),
            ("role.created", role.as_str()),
            ("role.updated", role.as_str()),
            ("role.deleted", role.as_str()),
        ] {
            assert!(
                audited(action, target),
                "no {action} of {target} in {log:?}"
            );
        }
    })
    .await;
}

/// Every form of the section as Adam (admin) sees it, filled in to change something: action and
/// fields (with Adam's CSRF token).
async fn every_form(adam: &Browser) -> Vec<(String, Vec<(String, String)>)> {
    let users = adam.get("/console/users").await;
    let roles = adam.get("/console/roles").await;
    [
        form_at(&users, "/console/users/add", &[]).with(&[
            ("email", "eve@acme.test"),
            ("role_id", "1"),
            ("password", "eve-password"),
        ]),
        form_at(&users, "/console/users/status", &[("user_id", "max")]).fields,
        form_at(&users, "/console/users/role", &[("user_id", "max")]).with(&[("role_id", "1")]),
        form_at(&roles, "/console/roles/create", &[])
            .with(&[("name", "Auditor"), ("privilege", "AuditLog:Read")]),
        form_at(&roles, "/console/roles/update", &[("role_id", "scheduler")])
            .with(&[("privilege", "User:Edit")]),
        form_at(&roles, "/console/roles/delete", &[("role_id", "scheduler")]).fields,
    ]
    .into_iter()
    .zip([
        "/console/users/add",
        "/console/users/status",
        "/console/users/role",
        "/console/roles/create",
        "/console/roles/update",
        "/console/roles/delete",
    ])
    .map(|(fields, action)| (action.to_owned(), fields))
    .collect()
}

async fn auditor(store: &Store) -> Option<accord_store::roles::Role> {
    store
        .roles("acme")
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "Auditor")
}

#[tokio::test]
async fn a_member_is_refused_every_users_and_roles_page_and_form() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let ann = server.browser();
        let home = sign_in(&ann, "ann@acme.test").await;
        assert!(
            !home.html.contains("href=\"/console/users\""),
            "{}",
            home.html
        );
        let ann_csrf = home.form_with("csrf_token").field("csrf_token");
        for path in ["/console/users", "/console/roles"] {
            let page = ann.get(path).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);
            assert!(page.html.contains("Not allowed"), "{}", page.html);
        }

        // Adam's forms, posted by Ann with her own CSRF token.
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;
        let posts = every_form(&adam).await;
        let log = db.store.audit_log("acme").await.unwrap().len();
        let users_before = db.store.users("acme").await.unwrap();
        let roles_before = db.store.roles("acme").await.unwrap();
        for (action, fields) in posts {
            let fields: Vec<(String, String)> = fields
                .into_iter()
                .map(|(n, v)| {
                    let v = if n == "csrf_token" {
                        ann_csrf.clone()
                    } else {
                        v
                    };
                    (n, v)
                })
                .collect();
            let answer = ann.post(&action, &fields).await;
            assert!(answer.status.is_client_error(), "{action}: {}", answer.html);
            assert!(
                answer.html.contains("The permission rule stopped at step"),
                "{action}: {}",
                answer.html
            );
        }
        assert_eq!(db.store.audit_log("acme").await.unwrap().len(), log);
        assert_eq!(db.store.users("acme").await.unwrap(), users_before);
        assert_eq!(db.store.roles("acme").await.unwrap(), roles_before);
    })
    .await;
}

#[tokio::test]
async fn only_the_owner_changes_the_admin_role_and_no_form_goes_through_without_its_csrf_token() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;
        let roles = adam.get("/console/roles").await;
        assert!(
            !forms(&roles.html)
                .iter()
                .any(|f| f.action == "/console/roles/update"
                    && f.fields.iter().any(|(n, v)| n == "role_id" && v == "1")),
            "{}",
            roles.html
        );
        let scheduler = form_at(&roles, "/console/roles/update", &[("role_id", "scheduler")]);
        let log = db.store.audit_log("acme").await.unwrap().len();
        let refused = adam
            .post(&scheduler.action, &scheduler.replacing("role_id", "1"))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
        assert!(
            refused
                .html
                .contains("Only the account owner can change the Admin role."),
            "{}",
            refused.html
        );

        // No form goes through without its CSRF token.
        let users_before = db.store.users("acme").await.unwrap();
        let roles_before = db.store.roles("acme").await.unwrap();
        for (action, fields) in every_form(&adam).await {
            let forged: Vec<_> = fields
                .into_iter()
                .filter(|(n, _)| n != "csrf_token")
                .collect();
            let answer = adam.post(&action, &forged).await;
            assert!(answer.status.is_client_error(), "{action}: {}", answer.html);
        }
        assert_eq!(db.store.users("acme").await.unwrap(), users_before);
        assert_eq!(db.store.roles("acme").await.unwrap(), roles_before);
        assert_eq!(db.store.audit_log("acme").await.unwrap().len(), log);

        // The owner trims the Admin role.
        let olive = server.browser();
        sign_in(&olive, "olive@acme.test").await;
        let roles = olive.get("/console/roles").await;
        let admin = form_at(&roles, "/console/roles/update", &[("role_id", "1")]);
        post_ok(
            &olive,
            &admin.action,
            &admin.unchecking("privilege", "AuditLog:Read").fields,
        )
        .await;
        let trimmed = db.store.role("acme", "1").await.unwrap();
        assert!(!trimmed.privileges.contains(Privilege::AuditLogRead));
        assert!(trimmed.privileges.contains(Privilege::UserEdit));
    })
    .await;
}

#[tokio::test]
async fn the_users_page_follows_every_page_of_the_list() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        // More than one page of 300.
        for n in 0..300 {
            let email = Email::parse(format!("bulk{n}@acme.test")).expect("an email");
            db.store
                .create_user(&Actor::cli(), "acme", NewUser::new(email))
                .await
                .expect("a user");
        }
        let server = TestServer::start(&db).await;
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;
        let users = adam.get("/console/users").await;
        assert_eq!(users.status, StatusCode::OK, "{}", users.html);
        assert_eq!(users.html.matches("@acme.test</td>").count(), 305);
        assert!(users.html.contains("bulk299@acme.test"));
    })
    .await;
}
