//! The developer's webhook tools through the API: the delivery log (keyset pages, newest first,
//! with every attempt), redelivery (the same event id, pending and due now), secret rotation
//! (shown once, endpoint back to unvalidated) — and that another developer account's token sees
//! none of it, answered exactly like an app that does not exist.

use accord_core::grants::{GrantKind, GrantStatus};
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::live::Live;
use crate::tokens::{post, str_of};

const FIXTURE: &str = r#"{
  "accounts": [
    {"id": "acme", "name": "Acme", "users": [
      {"id": "acme-olive", "email": "olive@acme.test", "role": "owner"},
      {"id": "acme-ann", "email": "ann@acme.test", "role": "member"}]},
    {"id": "globex", "name": "Globex", "users": [
      {"id": "globex-gina", "email": "gina@globex.test", "role": "owner"}]}
  ],
  "apps": [
    {"id": "hooked", "name": "Hooked", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read"],
     "credentials": {"production": {"client_id": "hooked-prod", "client_secret": "hooked-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}},
     "webhook": {"url": "http://127.0.0.1:9/hooks", "secret_token": "hooked-webhook-token-0123456789",
                 "events": ["app_deauthorized"]}},
    {"id": "other-hooked", "name": "Other Hooked", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read"],
     "credentials": {"production": {"client_id": "other-hooked-prod", "client_secret": "other-hooked-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}},
     "webhook": {"url": "http://127.0.0.1:9/other", "secret_token": "other-webhook-token-0123456789",
                 "events": ["app_deauthorized"]}},
    {"id": "quiet", "name": "Quiet", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read"],
     "credentials": {"production": {"client_id": "quiet-prod", "client_secret": "quiet-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}}},
    {"id": "ops", "name": "Ops", "kind": "server", "developer": "olive@acme.test",
     "scopes": ["marketplace:read:admin", "marketplace:write:admin"],
     "credentials": {"production": {"client_id": "ops-prod", "client_secret": "ops-prod-secret-0123456789"}}},
    {"id": "gadget", "name": "Gadget", "kind": "server", "developer": "gina@globex.test",
     "scopes": ["marketplace:read:admin", "marketplace:write:admin"],
     "credentials": {"production": {"client_id": "gadget-prod", "client_secret": "gadget-prod-secret-0123456789"}}}
  ]
}"#;

async fn start(db: accord_testkit::TestDbRef) -> Live {
    let seed = accord_store::seed::parse("fixture", FIXTURE).expect("fixture parses");
    accord_store::seed::apply(&db.store, "fixture", &seed)
        .await
        .expect("fixture applies");
    let live = Live::start(db).await;
    for secret in [
        "hooked-webhook-token-0123456789",
        "ops-prod-secret-0123456789",
        "gadget-prod-secret-0123456789",
    ] {
        live.secret(secret);
    }
    live
}

/// A server app's token (client credentials).
async fn server_token(live: &Live, app: &str) -> String {
    let client = format!("{app}-prod");
    let secret = format!("{app}-prod-secret-0123456789");
    let (status, _, body) = post(
        live,
        "/oauth/token",
        Some((&client, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    live.secret(str_of(&body, "access_token"))
}

async fn call(live: &Live, method: Method, path: &str, token: &str) -> (StatusCode, Value) {
    live.db.clock.advance_seconds(1);
    let response = live
        .http
        .request(method, format!("{}{path}", live.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("a response");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Ann authorizes `app`, then the authorization is removed: one `app_deauthorized` queued.
/// Returns its event id.
async fn queue_deauthorization(live: &Live, app: &str) -> String {
    let store = &live.db.store;
    let scopes = store.app(app).await.expect("the app").required_scopes;
    let request = GrantRequest {
        kind: GrantKind::Authorization,
        app_id: app,
        account_id: "acme",
        user_id: Some("acme-ann"),
        created_by: Some("acme-ann"),
        scopes: &scopes,
    };
    store
        .upsert_grant(&Actor::User("acme-ann".into()), request)
        .await
        .expect("a grant");
    live.db.clock.advance_seconds(1);
    let ended = store
        .remove_authorization(&Actor::User("acme-ann".into()), "acme", app, "acme-ann")
        .await
        .expect("a removal");
    assert_eq!(
        ended.status,
        GrantStatus::Revoked,
        "the authorization ended"
    );
    let (queued, _) = store
        .webhook_deliveries(app, None, 1)
        .await
        .expect("the log");
    queued[0].id.clone()
}

/// Records what a delivery worker records for one attempt that reached the endpoint.
async fn record_delivered_attempt(live: &Live, app: &str, event_id: &str) {
    let pool = live.db.store.pool();
    let at = live.db.store.now().millis();
    sqlx::query(
        "INSERT INTO webhook_attempts (app_id, event_id, at, url, status_code, latency_ms, outcome, \
         error, response_excerpt) VALUES ($1, $2, $3, 'http://127.0.0.1:9/hooks', 200, 12, 'delivered', NULL, 'ok')",
    )
    .bind(app)
    .bind(event_id)
    .bind(at)
    .execute(pool)
    .await
    .expect("an attempt");
    sqlx::query(
        "UPDATE webhook_events SET status = 'delivered', attempts = 1, delivered_at = $1 WHERE id = $2",
    )
    .bind(at)
    .bind(event_id)
    .execute(pool)
    .await
    .expect("delivered");
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first_and_redelivery_keeps_the_event_id() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(queue_deauthorization(&live, "hooked").await);
        }
        let other = queue_deauthorization(&live, "other-hooked").await;
        record_delivered_attempt(&live, "hooked", &ids[0]).await;
        let token = server_token(&live, "ops").await;

        let (status, first) = call(
            &live,
            Method::GET,
            "/v2/apps/hooked/webhook_deliveries?page_size=2",
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["app_id"], "hooked");
        assert_eq!(
            first["total_records"], 3,
            "another app's deliveries are not listed"
        );
        assert_eq!(first["endpoint"]["url"], "http://127.0.0.1:9/hooks");
        let listed: Vec<&str> = first["webhook_deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| d["id"].as_str().expect("an id"))
            .collect();
        assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()], "newest first");
        let newest = &first["webhook_deliveries"][0];
        assert_eq!(newest["event"], "app_deauthorized");
        assert_eq!(newest["status"], "pending");
        let body: Value = serde_json::from_str(newest["body"].as_str().expect("the body"))
            .expect("the envelope is JSON");
        assert_eq!(body["payload"]["user_id"], "acme-ann");
        let next = str_of(&first, "next_page_token").to_owned();
        assert!(!next.is_empty());

        let (status, second) = call(
            &live,
            Method::GET,
            &format!("/v2/apps/hooked/webhook_deliveries?page_size=2&next_page_token={next}"),
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(second["next_page_token"], "");
        let oldest = &second["webhook_deliveries"][0];
        assert_eq!(oldest["id"], ids[0].as_str());
        assert_eq!(oldest["status"], "delivered");
        assert_eq!(oldest["attempts"], 1);
        assert_eq!(oldest["attempt_log"][0]["status_code"], 200);
        assert_eq!(oldest["attempt_log"][0]["outcome"], "delivered");
        assert_eq!(oldest["attempt_log"][0]["response_excerpt"], "ok");

        // A page token made for another app's log is refused.
        let (status, refused) = call(
            &live,
            Method::GET,
            &format!("/v2/apps/other-hooked/webhook_deliveries?next_page_token={next}"),
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

        // Redelivering the delivered event: pending, due now, the same id, a fresh count.
        let redeliver = format!("/v2/apps/hooked/webhook_deliveries/{}/redeliver", ids[0]);
        let (status, answer) = call(&live, Method::POST, &redeliver, &token).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["id"], ids[0].as_str());
        assert_eq!(answer["status"], "pending");
        let stored = live
            .db
            .store
            .webhook_delivery(&ids[0])
            .await
            .expect("the delivery");
        assert_eq!(
            (stored.status.as_str(), stored.attempts, stored.delivered_at),
            ("pending", 0, None)
        );
        assert_eq!(stored.next_attempt_at, live.db.store.now());
        let audit = live
            .db
            .store
            .audit_log("acme")
            .await
            .expect("the audit log");
        let entry = audit
            .iter()
            .find(|e| e.action == "webhook.redelivered")
            .expect("an audit entry");
        assert_eq!(entry.target_id, "hooked");
        assert_eq!(entry.details["event_id"], ids[0].as_str());

        // A delivery of another app, or none, under this app: 404 alike.
        let mut answers = Vec::new();
        for id in [other.as_str(), "no-such-delivery"] {
            let path = format!("/v2/apps/hooked/webhook_deliveries/{id}/redeliver");
            let (status, body) = call(&live, Method::POST, &path, &token).await;
            answers.push((status, body.to_string().replace(id, "{id}")));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0].0, StatusCode::NOT_FOUND, "{:?}", answers[0]);
        let other_row = live
            .db
            .store
            .webhook_delivery(&other)
            .await
            .expect("the other app's delivery");
        assert_eq!(other_row.status, "pending");
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn another_developer_accounts_token_sees_none_of_it_as_if_the_app_were_missing() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let event = queue_deauthorization(&live, "hooked").await;
        record_delivered_attempt(&live, "hooked", &event).await;
        let foreign = server_token(&live, "gadget").await;
        // Every call moves the clock a second first: whatever they wrote is at least that new.
        let since = live.db.store.now().plus_seconds(1);
        for (method, template) in [
            (Method::GET, "/v2/apps/{app}/webhook_deliveries"),
            (
                Method::POST,
                "/v2/apps/{app}/webhook_deliveries/{event}/redeliver",
            ),
            (Method::POST, "/v2/apps/{app}/webhook/secret"),
        ] {
            let mut answers = Vec::new();
            for app in ["hooked", "no-such-app"] {
                let path = template.replace("{app}", app).replace("{event}", &event);
                let (status, body) = call(&live, method.clone(), &path, &foreign).await;
                answers.push((status, body.to_string().replace(app, "{app}")));
            }
            assert_eq!(answers[0], answers[1], "{template}");
            assert_eq!(answers[0].0, StatusCode::NOT_FOUND, "{template}");
            assert!(
                answers[0].1.contains("App does not exist: {app}."),
                "{template}: {}",
                answers[0].1
            );
        }
        // Nothing changed: the event is still delivered, the secret the same, no audit entry.
        let stored = live
            .db
            .store
            .webhook_delivery(&event)
            .await
            .expect("the delivery");
        assert_eq!(stored.status, "delivered");
        let token = live
            .db
            .store
            .webhook_secret_token("hooked")
            .await
            .expect("the token")
            .expect("a token");
        assert_eq!(token.expose(), "hooked-webhook-token-0123456789");
        let until = live.db.store.now().plus_seconds(1);
        for account in ["acme", "globex"] {
            let (_, written) = live
                .db
                .store
                .audit_page(account, since, until, Default::default(), None, 1)
                .await
                .expect("the audit log");
            assert_eq!(written, 0, "{account}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_rotated_webhook_secret_is_shown_once_and_the_endpoint_validates_again() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let store = &live.db.store;
        sqlx::query("UPDATE apps SET webhook_validated_at = 1 WHERE id = 'hooked'")
            .execute(store.pool())
            .await
            .expect("validated");
        let token = server_token(&live, "ops").await;
        let (status, rotated) = call(
            &live,
            Method::POST,
            "/v2/apps/hooked/webhook/secret",
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{rotated}");
        let secret = live.secret(str_of(&rotated, "secret_token"));
        assert!(secret.len() >= 32, "a generated token");
        let kept = store
            .webhook_secret_token("hooked")
            .await
            .expect("the token")
            .expect("a token");
        assert_eq!(kept.expose(), secret, "the token shown is the one in force");

        // Shown once: the log and the app's views never show it again.
        let (status, log) = call(
            &live,
            Method::GET,
            "/v2/apps/hooked/webhook_deliveries",
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{log}");
        assert!(!log.to_string().contains(&secret));
        assert_eq!(log["endpoint"]["validated_time"], Value::Null);
        assert_eq!(
            log["endpoint"]["validation_due_time"],
            store.now().plus_seconds(-1).rfc3339().as_str(),
            "due at the rotation"
        );
        let app = serde_json::to_string(&store.app("hooked").await.expect("the app"))
            .expect("the app serializes");
        assert!(!app.contains(&secret));
        let audit = store.audit_log("acme").await.expect("the audit log");
        let entry = audit
            .iter()
            .find(|e| e.action == "app.webhook_secret_rotated")
            .expect("an audit entry");
        assert!(!entry.details.to_string().contains(&secret));

        // Each rotation makes a new one.
        let (_, again) = call(
            &live,
            Method::POST,
            "/v2/apps/hooked/webhook/secret",
            &token,
        )
        .await;
        let second = live.secret(str_of(&again, "secret_token"));
        assert_ne!(second, secret);

        // An app without an endpoint has no secret to rotate.
        let (status, refused) =
            call(&live, Method::POST, "/v2/apps/quiet/webhook/secret", &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["code"], 300);
        live.assert_nothing_secret_logged();
    })
    .await;
}
