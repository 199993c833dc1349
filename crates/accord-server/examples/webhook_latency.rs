//! Commit-to-delivery latency of webhooks at a healthy receiver: a program that prints numbers,
//! not a test. For each backend (SQLite always; PostgreSQL when `ACCORD_TEST_POSTGRES_URL` names
//! one) it starts a running delivery worker as `accord serve` does, commits `N` events (default
//! 1,000) for one app at a steady pace, and measures from each commit to the receiver getting it.
//!
//! ```sh
//! ACCORD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release -p accord-server --example webhook_latency -- 1000 5
//! ```
//! Arguments: the number of events, and the pause between commits in milliseconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accord_core::webhooks::{self, Event};
use accord_server::webhooks::{WebhookConfig, Worker};
use accord_store::{Ctx, Store, outbox, seed};
use accord_testkit::TestDb;
use axum::http::HeaderMap;

const SECRET: &str = "latency-token-0123456789";

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver(arrivals: Arrivals) -> String {
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
        let arrivals = arrivals.clone();
        async move {
            let envelope: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if envelope["event"] == webhooks::URL_VALIDATION {
                let plain = envelope["payload"]["plainToken"].as_str().unwrap_or("");
                return axum::Json(serde_json::json!({
                    "plainToken": plain,
                    "encryptedToken": webhooks::url_validation_answer(SECRET, plain),
                }));
            }
            if let Some(id) = headers
                .get("x-accord-event-id")
                .and_then(|v| v.to_str().ok())
            {
                arrivals
                    .lock()
                    .unwrap()
                    .entry(id.to_owned())
                    .or_insert_with(Instant::now);
            }
            axum::Json(serde_json::json!({}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn measure(db: TestDb, events: usize, pause: Duration) {
    let store: Store = db.store.clone();
    let arrivals: Arrivals = Arc::default();
    let url = receiver(arrivals.clone()).await;
    let file = serde_json::json!({
        "accounts": [{"id": "acme", "name": "Acme", "users": [
            {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"}]}],
        "apps": [{"id": "bench", "name": "Bench", "kind": "account", "developer": "olive@acme.test",
                  "status": "published", "scopes": ["user:read:admin"],
                  "credentials": {"production": {"redirect_uris": ["http://127.0.0.1:9/cb"]}},
                  "webhook": {"url": url, "secret_token": SECRET, "events": ["user.updated"]}}]
    });
    let parsed = seed::parse("bench", &file.to_string()).unwrap();
    seed::apply(&store, "bench", &parsed).await.unwrap();
    let mut config = WebhookConfig::default();
    config.sender.allow_private = true;
    let worker = Worker::new(store.clone(), config).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = worker.spawn(async move {
        let _ = stopped.await;
    });
    while store
        .app("bench")
        .await
        .unwrap()
        .webhook
        .unwrap()
        .validated_at
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut committed = Vec::with_capacity(events);
    for n in 0..events {
        let mut tx = store.begin().await.unwrap();
        let ctx = Ctx {
            now: store.now(),
            keys: store.keys(),
        };
        let id = outbox::enqueue(
            &mut tx,
            &ctx,
            "bench",
            "acme",
            Event::UserUpdated,
            |_| serde_json::json!({"account_id": "acme", "object": {"n": n}}),
        )
        .await
        .unwrap()
        .unwrap();
        store.commit(tx).await.unwrap();
        committed.push((id, Instant::now()));
        tokio::time::sleep(pause).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().unwrap().len() < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let arrived = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<f64> = committed
        .iter()
        .filter_map(|(id, at)| {
            arrived
                .get(id)
                .map(|got| got.duration_since(*at).as_secs_f64() * 1e3)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{:10} {} events, one app, one every {} ms: delivered {}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        db.backend.name(),
        events,
        pause.as_millis(),
        latencies.len(),
        pick(0.50),
        pick(0.99),
        pick(1.0),
    );
    let _ = stop.send(());
    let _ = task.await;
    db.finish().await;
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let pause = Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(5));
    measure(TestDb::sqlite().await, events, pause).await;
    match std::env::var(accord_testkit::POSTGRES_ENV) {
        Ok(url) if !url.is_empty() && url != "off" => {
            measure(TestDb::postgres(&url).await, events, pause).await
        }
        _ => println!(
            "PostgreSQL: not measured ({} not set)",
            accord_testkit::POSTGRES_ENV
        ),
    }
}
