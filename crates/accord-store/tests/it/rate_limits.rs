//! An account's own rate limits: set, read, cleared and audited through the store, declared in
//! a seed file (errors name the JSON path), and learned by another process's access view.

use accord_core::endpoints::RateLimitCategory::{Heavy, Light};
use accord_core::rate_limits::{Limit, RateLimitChange, RateLimits};
use accord_store::accounts::AccountChange;
use accord_store::audit::Actor;
use accord_store::seed;
use accord_store::{Store, StoreConfig};
use accord_testkit::on_every_backend;

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed.json")
}

fn changes(texts: &[&str]) -> AccountChange {
    AccountChange {
        rate_limits: texts
            .iter()
            .map(|t| RateLimitChange::parse(t).unwrap())
            .collect(),
        ..AccountChange::default()
    }
}

#[tokio::test]
async fn rate_limits_are_set_read_cleared_and_audited() {
    on_every_backend(|db| async move {
        let store = &db.store;
        store.seed_file(&example()).await.unwrap();
        let cli = Actor::cli();
        assert!(store.account("acme").await.unwrap().rate_limits.is_empty());

        let account = store
            .update_account(&cli, "acme", changes(&["light=50/s", "meetings=200/day"]))
            .await
            .unwrap();
        let read = store.account("acme").await.unwrap();
        assert_eq!(read, account);
        assert_eq!(read.rate_limits.get(Limit::PerSecond(Light)), Some(50));
        assert_eq!(read.rate_limits.get(Limit::MeetingsPerHostPerDay), Some(200));
        assert_eq!(read.rate_limits.get(Limit::PerSecond(Heavy)), None);
        assert_eq!(store.view().rate_limits("acme"), read.rate_limits);

        // Setting what is already set changes nothing and audits nothing.
        let entries = store.audit_log("acme").await.unwrap().len();
        store
            .update_account(&cli, "acme", changes(&["light=50"]))
            .await
            .unwrap();
        assert_eq!(store.audit_log("acme").await.unwrap().len(), entries);

        let cleared = store
            .update_account(&cli, "acme", changes(&["light=default", "meetings=default"]))
            .await
            .unwrap();
        assert!(cleared.rate_limits.is_empty());
        assert!(store.view().rate_limits("acme").is_empty());

        let log = store.audit_log("acme").await.unwrap();
        let changed: Vec<_> = log
            .iter()
            .filter(|e| e.action == "account.rate_limits_changed")
            .collect();
        assert_eq!(changed.len(), 2, "{log:?}");
        let details: Vec<_> = changed.iter().map(|e| e.details.clone()).collect();
        let set = serde_json::json!({"before": {}, "after": {"light": {"per_second": 50}, "meetings": {"per_host_per_day": 200}}});
        let unset = serde_json::json!({"before": {"light": {"per_second": 50}, "meetings": {"per_host_per_day": 200}}, "after": {}});
        assert!(details.contains(&set), "{details:?}");
        assert!(details.contains(&unset), "{details:?}");
        assert!(changed.iter().all(|e| e.actor_id.as_deref() == Some("cli") && e.target_id == "acme"));
    })
    .await;
}

#[tokio::test]
async fn another_process_learns_a_changed_limit_when_its_view_syncs() {
    on_every_backend(|db| async move {
        db.store.seed_file(&example()).await.unwrap();
        let config = StoreConfig {
            master_key: Some(db.master_key.clone()),
            password_cost: accord_store::secrets::PasswordCost::TESTING,
            ..StoreConfig::new(db.database_url.clone())
        };
        let other = Store::open(&config).await.unwrap();
        assert!(other.view().rate_limits("acme").is_empty());
        db.store
            .update_account(&Actor::cli(), "acme", changes(&["heavy=2/s"]))
            .await
            .unwrap();
        other.sync_view().await;
        assert_eq!(
            other
                .view()
                .rate_limits("acme")
                .get(Limit::PerSecond(Heavy)),
            Some(2)
        );
        // A full reload (a node starting, or catching up) reads the same.
        let fresh = Store::open(&config).await.unwrap();
        assert_eq!(
            fresh.view().rate_limits("acme"),
            db.store.view().rate_limits("acme")
        );
        db.store
            .delete_account(&Actor::cli(), "acme")
            .await
            .unwrap();
        other.sync_view().await;
        assert!(other.view().rate_limits("acme").is_empty());
        other.pool().close().await;
        fresh.pool().close().await;
    })
    .await;
}

#[tokio::test]
async fn a_seed_file_sets_exactly_its_limits_and_leaves_them_when_it_says_nothing() {
    on_every_backend(|db| async move {
        let store = &db.store;
        let dir = tempfile::tempdir().unwrap();
        let original = std::fs::read_to_string(example()).unwrap();
        let with_limits = original.replacen(
            "\"app_approval\": \"open\",",
            "\"app_approval\": \"open\", \"rate_limits\": {\"light\": {\"per_second\": 50}, \"meetings\": {\"per_host_per_day\": 7}},",
            1,
        );
        assert_ne!(with_limits, original, "the example's account declares app_approval");
        let path = dir.path().join("limits.json");
        std::fs::write(&path, &with_limits).unwrap();
        let report = store.seed_file(&path).await.unwrap();
        assert!(!report.changed_nothing());
        let limits = store.account("acme").await.unwrap().rate_limits;
        assert_eq!(limits.to_string(), "light 50/s, meetings 7 per host per day");
        assert!(store.seed_file(&path).await.unwrap().changed_nothing());

        // A file without the field leaves the limits as they are.
        assert!(store.seed_file(&example()).await.unwrap().changed_nothing());
        assert_eq!(store.account("acme").await.unwrap().rate_limits, limits);

        // A file that lists fewer limits sets exactly those.
        let fewer = with_limits.replace(
            "{\"light\": {\"per_second\": 50}, \"meetings\": {\"per_host_per_day\": 7}}",
            "{\"heavy\": {\"per_second\": 1}}",
        );
        std::fs::write(&path, &fewer).unwrap();
        let report = store.seed_file(&path).await.unwrap();
        assert!(report.updated.iter().any(|u| u.contains("account")), "{report:?}");
        let limits = store.account("acme").await.unwrap().rate_limits;
        assert_eq!(limits.iter().collect::<Vec<_>>(), [(Limit::PerSecond(Heavy), 1)]);
        assert_eq!(store.view().rate_limits("acme"), limits);
    })
    .await;
}

#[test]
fn seed_rate_limit_errors_name_their_json_path() {
    let file = |limits: &str| {
        format!(
            r#"{{"accounts": [{{"name": "A", "rate_limits": {limits}, "users": [{{"email": "o@a.test", "role": "owner"}}]}}]}}"#
        )
    };
    for (limits, path, says) in [
        (
            r#"{"light": {"per_second": 2000000}}"#,
            "$.accounts[0].rate_limits.light.per_second",
            "more than the largest limit, 1000000",
        ),
        (
            r#"{"light": {"per_day": 5}}"#,
            "$.accounts[0].rate_limits.light.per_day",
            "unknown field `per_day`, expected `per_second`",
        ),
        (
            r#"{"resource_intensive": {"per_second": 5}}"#,
            "$.accounts[0].rate_limits.resource_intensive",
            "unknown field `resource_intensive`, expected one of `light`, `medium`, `heavy`, `meetings`",
        ),
        (
            r#"{"meetings": {"per_host_per_day": -1}}"#,
            "$.accounts[0].rate_limits.meetings.per_host_per_day",
            "invalid value",
        ),
        (
            r#"{"heavy": 5}"#,
            "$.accounts[0].rate_limits.heavy",
            "invalid type",
        ),
    ] {
        let err = seed::parse("f.json", &file(limits)).unwrap_err();
        assert_eq!(err.path, path, "{limits}: {err}");
        assert!(err.problem.contains(says), "{limits}: {err}");
        assert!(err.to_string().starts_with(&format!("f.json: {path}: ")));
    }
    let ok = seed::parse("f.json", &file(r#"{"medium": {"per_second": 0}}"#)).unwrap();
    let limits: RateLimits = ok.accounts[0].rate_limits.unwrap();
    assert_eq!(
        limits.get(Limit::PerSecond(
            accord_core::endpoints::RateLimitCategory::Medium
        )),
        Some(0)
    );
}
