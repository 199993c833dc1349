//! `accord webhook deliveries|redeliver|rotate-secret`, and the removals the shell offers
//! (`account change --uninstall-app`, `user change --remove-app`): each ends in the store call
//! the API makes, so an `app_deauthorized` is queued and shows in the delivery log.

use accord_core::grants::GrantKind;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_testkit::on_every_backend;
use serde_json::Value;

use crate::{accord_on, example_seed, run, stderr, stdout};

/// The example seed's account app, installed in Acme by its owner.
async fn installed_meeting_sync(db: &accord_testkit::TestDbRef) -> String {
    let seeded = run(accord_on(db).arg("seed").arg(example_seed()));
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let app = db.store.find_app("ms-prod").await.expect("Meeting Sync");
    let request = GrantRequest {
        kind: GrantKind::Installation,
        app_id: app.id.as_str(),
        account_id: "acme",
        user_id: None,
        created_by: Some("acme-owner"),
        scopes: &app.required_scopes,
    };
    db.store
        .upsert_grant(&Actor::User("acme-owner".into()), request)
        .await
        .expect("an installation");
    app.id.as_str().to_owned()
}

fn json_of(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn the_delivery_log_and_redelivery_from_the_shell() {
    on_every_backend(|db| async move {
        let app = installed_meeting_sync(&db).await;
        let uninstalled = run(accord_on(&db).args([
            "account",
            "change",
            "acme",
            "--uninstall-app",
            "ms-prod",
        ]));
        assert!(uninstalled.status.success(), "{}", stderr(&uninstalled));
        assert!(
            stdout(&uninstalled).contains("1 grant(s) ended"),
            "{}",
            stdout(&uninstalled)
        );

        let log = json_of(&run(accord_on(&db).args([
            "--json",
            "webhook",
            "deliveries",
            "ms-prod",
        ])));
        assert_eq!(log["app_id"], app.as_str());
        assert_eq!(log["total_records"], 1);
        assert_eq!(log["endpoint"]["url"], "http://127.0.0.1:9000/hooks");
        let delivery = &log["deliveries"][0]["delivery"];
        assert_eq!(delivery["event"], "app_deauthorized");
        assert_eq!(delivery["status"], "pending");
        let id = delivery["id"].as_str().expect("an event id").to_owned();

        // As a worker would leave it once delivered.
        sqlx::query(
            "UPDATE webhook_events SET status = 'delivered', attempts = 1, delivered_at = 1 WHERE id = $1",
        )
        .bind(&id)
        .execute(db.store.pool())
        .await
        .expect("delivered");
        let text = run(accord_on(&db).args(["webhook", "deliveries", &app]));
        assert!(text.status.success(), "{}", stderr(&text));
        let printed = stdout(&text);
        assert!(printed.contains(&id) && printed.contains("delivered"), "{printed}");

        let redelivered = run(accord_on(&db).args(["webhook", "redeliver", &id]));
        assert!(redelivered.status.success(), "{}", stderr(&redelivered));
        assert!(
            stdout(&redelivered).contains("pending again"),
            "{}",
            stdout(&redelivered)
        );
        let stored = db.store.webhook_delivery(&id).await.expect("the delivery");
        assert_eq!((stored.status.as_str(), stored.attempts), ("pending", 0));
        assert_eq!(stored.id, id, "the event keeps its id");
        let audit = db.store.audit_log("acme").await.expect("the audit log");
        assert!(audit.iter().any(|e| e.action == "webhook.redelivered"));

        let missing = run(accord_on(&db).args(["webhook", "redeliver", "no-such-delivery"]));
        assert_eq!(missing.status.code(), Some(1));
        assert!(
            stderr(&missing).contains("webhook delivery no-such-delivery does not exist"),
            "{}",
            stderr(&missing)
        );
        let unknown = run(accord_on(&db).args(["webhook", "deliveries", "no-such-app"]));
        assert_eq!(unknown.status.code(), Some(1));
        assert!(stderr(&unknown).contains("does not exist"), "{}", stderr(&unknown));

        // Nothing left to uninstall: said so, not silently accepted.
        let again = run(accord_on(&db).args([
            "account",
            "change",
            "acme",
            "--uninstall-app",
            "ms-prod",
        ]));
        assert_eq!(again.status.code(), Some(1));
        assert!(stderr(&again).contains("has no grant"), "{}", stderr(&again));
    })
    .await;
}

#[tokio::test]
async fn a_rotated_webhook_secret_is_printed_once() {
    on_every_backend(|db| async move {
        installed_meeting_sync(&db).await;
        let rotated = run(accord_on(&db).args(["webhook", "rotate-secret", "ms-prod"]));
        assert!(rotated.status.success(), "{}", stderr(&rotated));
        let printed = stdout(&rotated);
        let app = db.store.find_app("ms-prod").await.expect("the app");
        let token = db
            .store
            .webhook_secret_token(app.id.as_str())
            .await
            .expect("the token")
            .expect("a token");
        assert_ne!(token.expose(), "ms-webhook-token-0123456789");
        assert!(printed.contains(token.expose()), "{printed}");

        for args in [
            vec!["webhook", "deliveries", "ms-prod"],
            vec!["--json", "webhook", "deliveries", "ms-prod"],
            vec!["--json", "app", "show", "ms-prod"],
        ] {
            let shown = run(accord_on(&db).args(&args));
            assert!(shown.status.success(), "{}", stderr(&shown));
            assert!(
                !stdout(&shown).contains(token.expose()),
                "{args:?} shows the token again"
            );
        }
        let log = json_of(&run(accord_on(&db).args([
            "--json",
            "webhook",
            "deliveries",
            "ms-prod",
        ])));
        assert_eq!(log["endpoint"]["validated_at"], Value::Null);
        assert!(log["endpoint"]["validation_due_at"].is_number());
    })
    .await;
}

#[tokio::test]
async fn a_users_authorization_is_removed_from_the_shell() {
    on_every_backend(|db| async move {
        installed_meeting_sync(&db).await;
        let created = json_of(&run(accord_on(&db).args([
            "--json",
            "app",
            "create",
            "--developer",
            "owner@acme.test",
            "--name",
            "Notes",
            "--kind",
            "user",
            "--scopes",
            "user:read",
            "--status",
            "published",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--webhook-url",
            "http://127.0.0.1:9/notes",
            "--webhook-events",
            "app_deauthorized",
        ])));
        let app = created["app"]["id"].as_str().expect("an app id").to_owned();
        let ann = db.store.find_user("ann@acme.test").await.expect("Ann");
        let scopes = db.store.app(&app).await.expect("the app").required_scopes;
        let request = GrantRequest {
            kind: GrantKind::Authorization,
            app_id: &app,
            account_id: "acme",
            user_id: Some(ann.id.as_str()),
            created_by: Some(ann.id.as_str()),
            scopes: &scopes,
        };
        db.store
            .upsert_grant(&Actor::User(ann.id.as_str().into()), request)
            .await
            .expect("Ann's authorization");

        let removed =
            run(accord_on(&db).args(["user", "change", "ann@acme.test", "--remove-app", &app]));
        assert!(removed.status.success(), "{}", stderr(&removed));
        let grants = db.store.grants_of_app(&app).await.expect("the grants");
        assert!(
            grants.iter().all(|g| g.status.as_str() == "revoked"),
            "{grants:?}"
        );
        let (queued, _) = db
            .store
            .webhook_deliveries(&app, None, 10)
            .await
            .expect("the log");
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].event, "app_deauthorized");

        let again =
            run(accord_on(&db).args(["user", "change", "ann@acme.test", "--remove-app", &app]));
        assert_eq!(again.status.code(), Some(1));
        assert!(
            stderr(&again).contains("has no active authorization"),
            "{}",
            stderr(&again)
        );
    })
    .await;
}

#[tokio::test]
async fn preapproval_from_the_shell_policy_a_members_request_approved_declined_and_ahead() {
    on_every_backend(|db| async move {
        installed_meeting_sync(&db).await;
        let created = json_of(&run(accord_on(&db).args([
            "--json",
            "app",
            "create",
            "--developer",
            "owner@acme.test",
            "--name",
            "Notes",
            "--kind",
            "user",
            "--scopes",
            "user:read",
            "--status",
            "published",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
        ])));
        let notes = created["app"]["id"].as_str().expect("an app id").to_owned();
        let policy = run(accord_on(&db).args([
            "account",
            "change",
            "acme",
            "--app-approval",
            "preapproval",
        ]));
        assert!(policy.status.success(), "{}", stderr(&policy));

        // Nothing to decline yet: the shell says so and changes nothing.
        let declined =
            run(accord_on(&db).args(["account", "change", "acme", "--decline-app", &notes]));
        assert!(!declined.status.success(), "{}", stdout(&declined));
        assert!(
            stderr(&declined).contains("does not exist"),
            "{}",
            stderr(&declined)
        );

        // Ann asks (the consent page's button calls this store function); the shell lists,
        // declines, then approves.
        let ann = db.store.find_user("ann@acme.test").await.expect("Ann");
        db.store
            .request_preapproval("acme", &notes, ann.id.as_str())
            .await
            .expect("a request");
        let shown = json_of(&run(
            accord_on(&db).args(["--json", "account", "show", "acme"])
        ));
        assert_eq!(shown["account"]["app_approval"], "preapproval", "{shown}");
        let statuses = |shown: &Value| -> Vec<(String, String)> {
            shown["preapprovals"]
                .as_array()
                .expect("pre-approvals")
                .iter()
                .map(|p| {
                    (
                        p["app_id"].as_str().unwrap().to_owned(),
                        p["status"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        assert_eq!(statuses(&shown), [(notes.clone(), "requested".to_owned())]);
        let declined =
            run(accord_on(&db).args(["account", "change", "acme", "--decline-app", &notes]));
        assert!(declined.status.success(), "{}", stderr(&declined));
        let shown = json_of(&run(
            accord_on(&db).args(["--json", "account", "show", "acme"])
        ));
        assert_eq!(statuses(&shown), [(notes.clone(), "declined".to_owned())]);
        let approved =
            run(accord_on(&db).args(["account", "change", "acme", "--preapprove-app", &notes]));
        assert!(approved.status.success(), "{}", stderr(&approved));
        let shown = json_of(&run(
            accord_on(&db).args(["--json", "account", "show", "acme"])
        ));
        assert_eq!(statuses(&shown), [(notes.clone(), "approved".to_owned())]);

        // Ahead of any request, and refused for an account app (an admin installs those).
        let ahead =
            run(accord_on(&db).args(["account", "change", "acme", "--preapprove-app", "ms-prod"]));
        assert!(
            !ahead.status.success(),
            "an account app is never pre-approved"
        );
        let log = db.store.audit_log("acme").await.expect("the log");
        let actions: Vec<&str> = log
            .iter()
            .filter(|e| e.target_id == notes && e.action.starts_with("app.preap"))
            .map(|e| e.action.as_str())
            .collect();
        assert_eq!(
            actions,
            [
                "app.preapproval_requested",
                "app.preapproval_declined",
                "app.preapproved"
            ]
        );
    })
    .await;
}
