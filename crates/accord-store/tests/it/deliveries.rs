//! The delivery side of the outbox (`accord_store::deliveries`): which events a node may claim,
//! leases, endpoint validation state and the counts an operator (or the crash test) reads.

use accord_core::ids::Secret;
use accord_core::webhooks::Event;
use accord_store::apps::{AppChange, NewWebhook};
use accord_store::audit::Actor;
use accord_store::deliveries::{AfterFailure, AttemptReport, Delivery, OutboxCounts};
use accord_store::{Ctx, Store, outbox, seed};
use accord_testkit::on_every_backend;

const SECRET: &str = "store-hooks-token-0123456789";

/// Acme and one account app per id, each with an endpoint subscribed to every event.
async fn seed_apps(store: &Store, ids: &[&str]) {
    let apps: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            serde_json::json!({
                "id": id, "name": format!("App {id}"), "kind": "account",
                "developer": "olive@acme.test", "status": "published",
                "scopes": ["user:read:admin"],
                "credentials": {"production": {"redirect_uris": ["http://127.0.0.1:9/cb"]}},
                "webhook": {"url": format!("https://{id}.example.test/hooks"), "secret_token": SECRET,
                            "events": Event::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>()}
            })
        })
        .collect();
    let file = serde_json::json!({
        "accounts": [{"id": "acme", "name": "Acme", "users": [
            {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"}]}],
        "apps": apps,
    });
    let parsed = seed::parse("deliveries test", &file.to_string()).expect("a valid seed");
    seed::apply(store, "deliveries test", &parsed)
        .await
        .expect("the seed applies");
}

async fn raise(store: &Store, app_id: &str) -> String {
    let mut tx = store.begin().await.unwrap();
    let ctx = Ctx {
        now: store.now(),
        keys: store.keys(),
    };
    let id = outbox::enqueue(
        &mut tx,
        &ctx,
        app_id,
        "acme",
        Event::UserCreated,
        |_| serde_json::json!({"account_id": "acme"}),
    )
    .await
    .unwrap()
    .expect("subscribed");
    store.commit(tx).await.unwrap();
    id
}

/// Validates every due endpoint (as a worker whose validations all pass would).
async fn validate_all(store: &Store) -> Vec<String> {
    let checks = store.claim_webhook_validations(30, 100).await.unwrap();
    let mut validated = Vec::new();
    for check in &checks {
        let next = store.now().plus_seconds(72 * 3600);
        store
            .record_webhook_validation(check, &AttemptReport::default(), true, next)
            .await
            .unwrap();
        validated.push(check.app_id.clone());
    }
    validated.sort();
    validated
}

fn ids(claimed: &[Delivery]) -> Vec<&str> {
    claimed.iter().map(|d| d.id.as_str()).collect()
}

async fn delivered(store: &Store, delivery: &Delivery) {
    store
        .record_webhook_attempt(
            delivery,
            &AttemptReport::default(),
            true,
            AfterFailure::GiveUp,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_node_claims_each_validated_apps_oldest_due_event_one_at_a_time() {
    on_every_backend(|db| async move {
        let store = &db.store;
        seed_apps(store, &["a", "b", "c"]).await;
        assert_eq!(validate_all(store).await, ["a", "b", "c"]);
        // c's endpoint is saved anew: unvalidated until it passes again.
        store
            .update_app(
                &Actor::cli(),
                "c",
                AppChange {
                    webhook: Some(Some(NewWebhook {
                        url: "https://c.example.test/new".into(),
                        secret_token: Some(Secret::new(SECRET)),
                        events: vec!["user.created".into()],
                    })),
                    ..AppChange::default()
                },
            )
            .await
            .unwrap();
        let a1 = raise(store, "a").await;
        let a2 = raise(store, "a").await;
        let b1 = raise(store, "b").await;
        let c1 = raise(store, "c").await;

        let first = store.claim_webhook_deliveries("one", 30, 10).await.unwrap();
        assert_eq!(ids(&first), [a1.as_str(), b1.as_str()]);
        assert_eq!(first[0].url, "https://a.example.test/hooks");
        assert_eq!(first[0].secret_token.expose(), SECRET);
        assert_eq!(first[0].attempts, 0);
        let queued = store.queued_webhook_event(&a1).await.unwrap().unwrap();
        assert_eq!(queued.claimed_by.as_deref(), Some("one"));

        // a and b each have one in flight; c is not validated.
        assert!(
            store
                .claim_webhook_deliveries("two", 30, 10)
                .await
                .unwrap()
                .is_empty()
        );
        delivered(store, &first[0]).await;
        let next = store.claim_webhook_deliveries("two", 30, 10).await.unwrap();
        assert_eq!(ids(&next), [a2.as_str()], "a's next event, in order");

        // Saving c's endpoint made it due for validation; once it passes, its event goes.
        assert_eq!(validate_all(store).await, ["c"]);
        let last = store.claim_webhook_deliveries("two", 30, 10).await.unwrap();
        assert_eq!(ids(&last), [c1.as_str()]);
        assert_eq!(
            last[0].url, "https://c.example.test/new",
            "the current endpoint"
        );
        assert_eq!(
            store.webhook_outbox_counts().await.unwrap(),
            OutboxCounts {
                pending: 3,
                delivered: 1,
                failed: 0
            }
        );
    })
    .await;
}

#[tokio::test]
async fn a_lapsed_lease_lets_another_node_claim_the_event_and_a_released_one_at_once() {
    on_every_backend(|db| async move {
        let store = &db.store;
        seed_apps(store, &["a"]).await;
        validate_all(store).await;
        let event = raise(store, "a").await;
        let claimed = store
            .claim_webhook_deliveries("dies", 30, 10)
            .await
            .unwrap();
        assert_eq!(ids(&claimed), [event.as_str()]);
        db.clock.advance_seconds(29);
        assert!(
            store
                .claim_webhook_deliveries("other", 30, 10)
                .await
                .unwrap()
                .is_empty()
        );
        db.clock.advance_seconds(1);
        let retaken = store
            .claim_webhook_deliveries("other", 30, 10)
            .await
            .unwrap();
        assert_eq!(ids(&retaken), [event.as_str()], "the lease ran out");

        // A node stopping cleanly hands its claims back at once.
        assert_eq!(store.release_webhook_claims("other").await.unwrap(), 1);
        let again = store
            .claim_webhook_deliveries("third", 30, 10)
            .await
            .unwrap();
        assert_eq!(ids(&again), [event.as_str()]);
    })
    .await;
}

#[tokio::test]
async fn a_failed_attempt_waits_for_its_retry_and_the_last_one_fails_the_event() {
    on_every_backend(|db| async move {
        let store = &db.store;
        seed_apps(store, &["a"]).await;
        validate_all(store).await;
        let event = raise(store, "a").await;
        let claimed = store.claim_webhook_deliveries("n", 30, 10).await.unwrap();
        let retry_at = store.now().plus_seconds(300);
        store
            .record_webhook_attempt(
                &claimed[0],
                &AttemptReport {
                    status_code: Some(500),
                    latency_ms: 7,
                    error: Some("answered HTTP 500".into()),
                    response_excerpt: Some("oops".into()),
                },
                false,
                AfterFailure::RetryAt(retry_at),
            )
            .await
            .unwrap();
        let queued = store.queued_webhook_event(&event).await.unwrap().unwrap();
        assert_eq!((queued.status.as_str(), queued.attempts), ("pending", 1));
        assert_eq!(queued.next_attempt_at, retry_at);
        assert_eq!(queued.claimed_by, None, "the claim is released");
        assert!(!store.webhook_work_due().await.unwrap());
        assert!(
            store
                .claim_webhook_deliveries("n", 30, 10)
                .await
                .unwrap()
                .is_empty()
        );

        db.clock.set(retry_at);
        assert!(store.webhook_work_due().await.unwrap());
        let again = store.claim_webhook_deliveries("n", 30, 10).await.unwrap();
        assert_eq!(again[0].attempts, 1);
        store
            .record_webhook_attempt(
                &again[0],
                &AttemptReport::default(),
                false,
                AfterFailure::GiveUp,
            )
            .await
            .unwrap();
        let queued = store.queued_webhook_event(&event).await.unwrap().unwrap();
        assert_eq!((queued.status.as_str(), queued.attempts), ("failed", 2));
        let counts = store.webhook_outbox_counts().await.unwrap();
        assert_eq!((counts.pending, counts.failed), (0, 1));
    })
    .await;
}

#[tokio::test]
async fn a_failed_validation_keeps_the_endpoint_unvalidated_until_it_passes() {
    on_every_backend(|db| async move {
        let store = &db.store;
        seed_apps(store, &["a"]).await;
        raise(store, "a").await;
        let checks = store.claim_webhook_validations(30, 10).await.unwrap();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].failures_in_a_row, 0);
        assert!(
            store
                .claim_webhook_validations(30, 10)
                .await
                .unwrap()
                .is_empty(),
            "claimed: no other node validates it meanwhile"
        );
        let retry_at = store.now().plus_seconds(300);
        let failure = AttemptReport {
            error: Some("answered HTTP 404".into()),
            ..AttemptReport::default()
        };
        store
            .record_webhook_validation(&checks[0], &failure, false, retry_at)
            .await
            .unwrap();
        let app = store.app("a").await.unwrap();
        assert_eq!(app.webhook.unwrap().validated_at, None);
        assert!(
            store
                .claim_webhook_deliveries("n", 30, 10)
                .await
                .unwrap()
                .is_empty()
        );

        db.clock.set(retry_at);
        let checks = store.claim_webhook_validations(30, 10).await.unwrap();
        assert_eq!(checks[0].failures_in_a_row, 1, "for the retry schedule");
        store
            .record_webhook_validation(
                &checks[0],
                &AttemptReport::default(),
                true,
                retry_at.plus_seconds(72 * 3600),
            )
            .await
            .unwrap();
        let app = store.app("a").await.unwrap();
        assert_eq!(app.webhook.unwrap().validated_at, Some(retry_at));
        assert_eq!(
            store
                .claim_webhook_deliveries("n", 30, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn waiting_events_fail_after_their_schedule_only_once_their_endpoint_failed_a_validation() {
    on_every_backend(|db| async move {
        let store = &db.store;
        seed_apps(store, &["a"]).await;
        let event = raise(store, "a").await;
        // Saved while no worker ran: never tried, so its events keep waiting past the schedule.
        db.clock.advance_seconds(10_000);
        assert_eq!(store.expire_waiting_webhooks(5_100).await.unwrap(), 0);
        let checks = store.claim_webhook_validations(30, 10).await.unwrap();
        let failure = AttemptReport {
            error: Some("answered HTTP 404".into()),
            ..AttemptReport::default()
        };
        let next = store.now().plus_seconds(300);
        store
            .record_webhook_validation(&checks[0], &failure, false, next)
            .await
            .unwrap();
        assert_eq!(store.expire_waiting_webhooks(5_100).await.unwrap(), 1);
        let queued = store.queued_webhook_event(&event).await.unwrap().unwrap();
        assert_eq!(queued.status, "failed");
        let why: String = sqlx::query_scalar(
            "SELECT error FROM webhook_attempts WHERE event_id = $1 AND outcome = 'failed'",
        )
        .bind(&event)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(why.contains("answered HTTP 404"), "{why}");
    })
    .await;
}
