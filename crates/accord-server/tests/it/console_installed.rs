//! The console's *Installed apps* (`/console/apps`): an admin sees the account's installations and
//! authorizations and changes them — removal, uninstall, app policy, blocks, pre-approvals —
//! through the same `/v2` handlers as the API; a member gets the rule's refusal and changes
//! nothing; a user who may read but not edit sees no change forms.

use accord_core::apps::AppApproval;
use accord_core::grants::GrantStatus;
use accord_core::ids::RoleId;
use accord_core::privileges::Privilege;
use accord_store::Store;
use accord_store::audit::Actor;
use accord_store::roles::NewRole;
use accord_store::users::UserChange;
use accord_testkit::{TestDbRef, on_every_backend};
use reqwest::StatusCode;

use crate::console_support::{approve, form_at, seed, sign_in};
use crate::support::{Browser, Page, TestServer, forms};

/// Posts `fields` to `action` and follows the redirect back to the page, which must show
/// `notice`.
async fn change(
    browser: &Browser,
    action: &str,
    fields: &[(String, String)],
    notice: &str,
) -> Page {
    let answer = browser.post(action, fields).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
    let page = browser.follow(&answer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains(notice), "{notice}: {}", page.html);
    page
}

/// How many audit entries of `account` say `action`.
async fn audited(store: &Store, account: &str, action: &str) -> usize {
    let log = store.audit_log(account).await.expect("the audit log");
    log.iter().filter(|entry| entry.action == action).count()
}

async fn grant_statuses(store: &Store, account: &str) -> Vec<(String, GrantStatus)> {
    let mut grants: Vec<_> = store
        .grants_in_account(account)
        .await
        .expect("the grants")
        .into_iter()
        .map(|grant| (grant.id.to_string(), grant.status))
        .collect();
    grants.sort_by(|a, b| a.0.cmp(&b.0));
    grants
}

/// The seeded world on a running server, with Meeting Sync installed by Adam and Notes authorized
/// by Ann through the consent page; Adam's and Ann's browsers stay signed in.
async fn acme_with_two_grants(db: &TestDbRef) -> (TestServer, Browser, Browser) {
    seed(&db.store).await;
    let server = TestServer::start(db).await;
    let adam = server.browser();
    sign_in(&adam, "adam@acme.test").await;
    approve(&adam, "sync").await;
    let ann = server.browser();
    sign_in(&ann, "ann@acme.test").await;
    approve(&ann, "notes").await;
    (server, adam, ann)
}

#[tokio::test]
async fn an_admin_removes_uninstalls_changes_the_policy_and_blocks_on_the_console() {
    on_every_backend(|db| async move {
        let store = &db.store;
        let (_server, adam, _ann) = acme_with_two_grants(&db).await;

        let page = adam.get("/console/apps").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        for shown in [
            "Meeting Sync",
            "Notes",
            "meeting:write:admin",
            "ann@acme.test",
            "Installed (account app)",
            "Open: any user may authorize",
        ] {
            assert!(page.html.contains(shown), "{shown}: {}", page.html);
        }

        // Ann's authorization of Notes, removed.
        let remove = form_at(
            &page,
            "/console/apps/remove-authorization",
            &[("app_id", "notes"), ("user_id", "ann")],
        );
        let page = change(
            &adam,
            &remove.action,
            &remove.fields,
            "authorization is removed",
        )
        .await;
        let notes = store.grants_of_app("notes").await.unwrap();
        assert!(notes.iter().all(|g| g.status == GrantStatus::Revoked));
        assert!(!page.html.contains("ann@acme.test"), "{}", page.html);
        assert_eq!(audited(store, "acme", "grant.revoked").await, 1);

        // Meeting Sync, uninstalled.
        let uninstall = form_at(
            &page,
            "/console/apps/uninstall",
            &[("app_id", "meeting-sync")],
        );
        let page = change(
            &adam,
            &uninstall.action,
            &uninstall.fields,
            "is uninstalled",
        )
        .await;
        let sync = store.grants_of_app("meeting-sync").await.unwrap();
        assert!(!sync.is_empty() && sync.iter().all(|g| g.status == GrantStatus::Revoked));
        assert!(page.html.contains("No app is installed or authorized"));
        assert_eq!(audited(store, "acme", "grant.revoked").await, 2);

        // The policy: pre-approval, then open again.
        let mut page = page;
        for (policy, now, shown) in [
            (
                "preapproval",
                AppApproval::Preapproval,
                "Pre-approval: members may",
            ),
            ("open", AppApproval::Open, "Open: any user may"),
        ] {
            let form = form_at(&page, "/console/apps/policy", &[]);
            let fields = form.with(&[("app_approval", policy)]);
            page = change(&adam, &form.action, &fields, "app policy is saved").await;
            assert_eq!(store.account("acme").await.unwrap().app_approval, now);
            assert!(page.html.contains(shown), "{}", page.html);
        }
        assert_eq!(
            audited(store, "acme", "account.app_policy_changed").await,
            2
        );
        let policy = form_at(&page, "/console/apps/policy", &[]);
        let bad = adam
            .post(&policy.action, &policy.with(&[("app_approval", "closed")]))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.html);

        // Missing, malformed or unknown input: a 400 or the API's 404, never a change.
        let block = form_at(&page, "/console/apps/block", &[]);
        let ahead = form_at(&page, "/console/apps/decide", &[]);
        let no_app = block.fields.clone();
        let unknown_app = block.with(&[("app_id", "no-such-app")]);
        let no_decision = ahead.with(&[("app_id", "notes"), ("decision", "maybe")]);
        for (form, fields, status) in [
            (&block, no_app, StatusCode::BAD_REQUEST),
            (&block, unknown_app, StatusCode::NOT_FOUND),
            (&ahead, no_decision, StatusCode::BAD_REQUEST),
        ] {
            let refused = adam.post(&form.action, &fields).await;
            assert_eq!(refused.status, status, "{fields:?}: {}", refused.html);
        }
        assert!(store.blocked_apps("acme").await.unwrap().is_empty());

        // Notes, blocked by its id, then unblocked from the list.
        let block = form_at(&page, "/console/apps/block", &[]);
        let page = change(
            &adam,
            &block.action,
            &block.with(&[("app_id", "notes")]),
            "is blocked",
        )
        .await;
        assert_eq!(store.blocked_apps("acme").await.unwrap(), ["notes"]);
        let unblock = form_at(&page, "/console/apps/unblock", &[("app_id", "notes")]);
        let page = change(&adam, &unblock.action, &unblock.fields, "is unblocked").await;
        assert!(store.blocked_apps("acme").await.unwrap().is_empty());
        assert!(page.html.contains("No app is blocked."));
        assert_eq!(audited(store, "acme", "app.blocked").await, 1);
        assert_eq!(audited(store, "acme", "app.unblocked").await, 1);

        // Notes, pre-approved ahead of any request.
        let ahead = form_at(&page, "/console/apps/decide", &[]);
        change(
            &adam,
            &ahead.action,
            &ahead.with(&[("app_id", "notes"), ("decision", "approve")]),
            "is pre-approved",
        )
        .await;
        let preapprovals = store.preapprovals("acme").await.unwrap();
        assert_eq!(preapprovals.len(), 1);
        assert_eq!(preapprovals[0].status, "approved");
        assert_eq!(audited(store, "acme", "app.preapproved").await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_members_preapproval_request_is_approved_on_the_console() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let store = &db.store;
        let server = TestServer::start(&db).await;
        let gus = server.browser();
        sign_in(&gus, "gus@globex.test").await;
        let consent = gus
            .get("/oauth/authorize?response_type=code&client_id=notes&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s")
            .await;
        assert!(
            consent.has_button("decision", "request_preapproval"),
            "{}",
            consent.html
        );
        let form = consent.form_with("decision");
        let asked = gus
            .post(
                &form.action,
                &form.with(&[("decision", "request_preapproval")]),
            )
            .await;
        assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.html);

        let gina = server.browser();
        sign_in(&gina, "gina@globex.test").await;
        let page = gina.get("/console/apps").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(page.html.contains("gus@globex.test"), "{}", page.html);
        assert!(page.html.contains("requested"), "{}", page.html);
        let decide = form_at(&page, "/console/apps/decide", &[("app_id", "notes")]);
        assert!(decide.buttons.contains(&("decision".into(), "decline".into())));
        let page = change(
            &gina,
            &decide.action,
            &decide.with(&[("decision", "approve")]),
            "is pre-approved",
        )
        .await;
        assert!(page.html.contains("approved"), "{}", page.html);
        let preapprovals = store.preapprovals("globex").await.unwrap();
        assert_eq!(preapprovals.len(), 1);
        assert_eq!(preapprovals[0].status, "approved");
        assert_eq!(audited(store, "globex", "app.preapproved").await, 1);

        // Now Gus may authorize Notes.
        approve(&gus, "notes").await;
    })
    .await;
}

#[tokio::test]
async fn a_member_posting_the_installed_apps_forms_is_refused_and_nothing_changes() {
    on_every_backend(|db| async move {
        let store = &db.store;
        let (_server, adam, ann) = acme_with_two_grants(&db).await;
        let home = ann.get("/console").await;
        let csrf = home.form_with("csrf_token").field("csrf_token");

        let page = ann.get("/console/apps").await;
        assert!(page.status.is_client_error(), "{}", page.html);
        assert!(page.html.contains("Marketplace:Read"), "{}", page.html);

        let audit_before = store.audit_log("acme").await.unwrap().len();
        let grants_before = grant_statuses(store, "acme").await;
        let posts: [(&str, &[(&str, &str)]); 7] = [
            ("/console/apps/uninstall", &[("app_id", "meeting-sync")]),
            (
                "/console/apps/remove-authorization",
                &[("app_id", "notes"), ("user_id", "ann")],
            ),
            ("/console/apps/policy", &[("app_approval", "preapproval")]),
            ("/console/apps/block", &[("app_id", "notes")]),
            ("/console/apps/unblock", &[("app_id", "notes")]),
            (
                "/console/apps/decide",
                &[("app_id", "notes"), ("decision", "approve")],
            ),
            (
                "/console/apps/decide",
                &[("app_id", "notes"), ("decision", "decline")],
            ),
        ];
        for (action, fields) in posts {
            let mut posted = vec![("csrf_token".to_owned(), csrf.clone())];
            posted.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let refused = ann.post(action, &posted).await;
            assert!(
                refused.status.is_client_error(),
                "{action}: {}",
                refused.html
            );
            assert!(
                refused.html.contains("Not allowed"),
                "{action}: {}",
                refused.html
            );
            assert!(
                refused.html.contains("Marketplace:Edit"),
                "{action}: {}",
                refused.html
            );
            // An admin's form without its CSRF token is refused too.
            let forged = adam.post(action, &posted[1..]).await;
            assert!(forged.status.is_client_error(), "{action}: {}", forged.html);
        }
        assert_eq!(store.audit_log("acme").await.unwrap().len(), audit_before);
        assert_eq!(grant_statuses(store, "acme").await, grants_before);
        assert_eq!(
            store.account("acme").await.unwrap().app_approval,
            AppApproval::Open
        );
        assert!(store.blocked_apps("acme").await.unwrap().is_empty());
        assert!(store.preapprovals("acme").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_user_who_may_read_but_not_edit_sees_no_change_forms() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let store = &db.store;
        let cli = Actor::cli();
        let reader = NewRole {
            id: Some(RoleId::parse("app-reader").unwrap()),
            name: "App reader".into(),
            description: String::new(),
            privileges: [Privilege::MarketplaceRead].into_iter().collect(),
        };
        let role = store.create_role(&cli, "acme", reader).await.unwrap();
        let change = UserChange {
            role_id: Some(role.id.clone()),
            ..Default::default()
        };
        store.update_user(&cli, "max", change).await.unwrap();
        let server = TestServer::start(&db).await;
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;
        approve(&adam, "sync").await;

        let max = server.browser();
        sign_in(&max, "max@acme.test").await;
        let page = max.get("/console/apps").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(page.html.contains("Meeting Sync"), "{}", page.html);
        let change_forms: Vec<String> = forms(&page.html)
            .into_iter()
            .map(|form| form.action)
            .filter(|action| action.starts_with("/console/apps/"))
            .collect();
        assert!(change_forms.is_empty(), "{change_forms:?}");
    })
    .await;
}
