//! The delivery log's store functions: keyset pages, redelivery of a row a worker holds, and a
//! rotated secret that sends the endpoint back to validation.

use accord_core::grants::GrantKind;
use accord_store::Store;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_testkit::on_every_backend;

const SEED: &str = r#"{
  "accounts": [{"id": "acme", "name": "Acme", "users": [
    {"id": "acme-olive", "email": "olive@acme.test", "role": "owner"},
    {"id": "acme-ann", "email": "ann@acme.test", "role": "member"}]}],
  "apps": [{"id": "hooked", "name": "Hooked", "kind": "user", "developer": "olive@acme.test",
    "status": "published", "scopes": ["user:read"],
    "credentials": {"production": {"client_id": "hooked-prod", "client_secret": "hooked-prod-secret-0123456789",
                                    "redirect_uris": ["http://127.0.0.1:9/cb"]}},
    "webhook": {"url": "http://127.0.0.1:9/hooks", "secret_token": "hooked-webhook-token-0123456789",
                "events": ["app_deauthorized"]}}]
}"#;

async fn seeded(store: &Store) {
    let seed = accord_store::seed::parse("webhook_log.json", SEED).expect("the seed parses");
    accord_store::seed::apply(store, "webhook_log.json", &seed)
        .await
        .expect("the seed applies");
}

/// Ann authorizes `hooked` and removes it: one `app_deauthorized` queued. Its id.
async fn queued(store: &Store) -> String {
    let scopes = store.app("hooked").await.expect("the app").required_scopes;
    let request = GrantRequest {
        kind: GrantKind::Authorization,
        app_id: "hooked",
        account_id: "acme",
        user_id: Some("acme-ann"),
        created_by: Some("acme-ann"),
        scopes: &scopes,
    };
    let ann = Actor::User("acme-ann".into());
    store.upsert_grant(&ann, request).await.expect("a grant");
    let ended = store
        .remove_authorization(&ann, "acme", "hooked", "acme-ann")
        .await
        .expect("a removal");
    assert_eq!(ended.status.as_str(), "revoked");
    let (page, _) = store
        .webhook_deliveries("hooked", None, 1)
        .await
        .expect("the log");
    page[0].id.clone()
}

#[tokio::test]
async fn pages_are_newest_first_and_continue_where_the_last_ended() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            db.clock.advance_seconds(1);
            ids.push(queued(&db.store).await);
        }
        let (first, total) = db
            .store
            .webhook_deliveries("hooked", None, 2)
            .await
            .expect("a page");
        assert_eq!(total, 5);
        let (second, _) = db
            .store
            .webhook_deliveries("hooked", Some(first[1].seq), 2)
            .await
            .expect("a page");
        let (third, _) = db
            .store
            .webhook_deliveries("hooked", Some(second[1].seq), 2)
            .await
            .expect("a page");
        let listed: Vec<String> = first
            .iter()
            .chain(&second)
            .chain(&third)
            .map(|d| d.id.clone())
            .collect();
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(listed, newest_first);
        assert!(
            db.store
                .webhook_attempts("hooked", &first)
                .await
                .expect("attempts")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn redelivery_takes_the_row_back_from_a_worker_that_holds_it() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let id = queued(&db.store).await;
        // As a worker leaves a row it gave up on while holding the lease.
        sqlx::query(
            "UPDATE webhook_events SET status = 'failed', attempts = 4, next_attempt_at = 0, \
             claimed_until = $1, claimed_by = 'node-a' WHERE id = $2",
        )
        .bind(db.store.now().plus_seconds(60).millis())
        .bind(&id)
        .execute(db.store.pool())
        .await
        .expect("a failed row");
        db.clock.advance_seconds(10);
        let redelivered = db
            .store
            .redeliver_webhook(&Actor::cli(), &id, Some("hooked"))
            .await
            .expect("redelivered");
        assert_eq!(redelivered.id, id);
        assert_eq!(
            (redelivered.status.as_str(), redelivered.attempts),
            ("pending", 0)
        );
        assert_eq!(redelivered.next_attempt_at, db.store.now());
        let lease: (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT claimed_until, claimed_by FROM webhook_events WHERE id = $1")
                .bind(&id)
                .fetch_one(db.store.pool())
                .await
                .expect("the row");
        assert_eq!(lease, (None, None), "no worker holds it any more");
        let wrong_app = db
            .store
            .redeliver_webhook(&Actor::cli(), &id, Some("another-app"))
            .await;
        assert!(matches!(
            wrong_app,
            Err(accord_store::StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn a_rotated_secret_sends_the_endpoint_back_to_validation() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        sqlx::query(
            "UPDATE apps SET webhook_validated_at = 1, webhook_validation_error = 'old' WHERE id = 'hooked'",
        )
        .execute(db.store.pool())
        .await
        .expect("validated");
        let token = db
            .store
            .rotate_webhook_secret(&Actor::cli(), "hooked")
            .await
            .expect("rotated");
        let kept = db
            .store
            .webhook_secret_token("hooked")
            .await
            .expect("the token")
            .expect("a token");
        assert_eq!(kept.expose(), token.expose());
        let endpoint = db
            .store
            .webhook_endpoint("hooked")
            .await
            .expect("the endpoint")
            .expect("an endpoint");
        assert_eq!(endpoint.validated_at, None);
        assert_eq!(endpoint.validation_due_at, Some(db.store.now()));
        assert_eq!(endpoint.validation_error, None);
        // A queued event's body is not re-signed: its bytes stay what they were.
        let id = queued(&db.store).await;
        let before = db.store.webhook_delivery(&id).await.expect("the row").body;
        db.store
            .rotate_webhook_secret(&Actor::cli(), "hooked")
            .await
            .expect("rotated again");
        let after = db.store.webhook_delivery(&id).await.expect("the row").body;
        assert_eq!(before, after);
    })
    .await;
}
