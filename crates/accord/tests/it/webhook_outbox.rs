//! The outbox survives `kill -9`: while a client creates meetings, `accord serve` is killed twice
//! and restarted, and afterwards every meeting's `meeting.created` has reached the receiver and
//! nothing is left undelivered. (Commit-to-delivery latency is measured by the benchmark program
//! `cargo run --release -p accord-server --example webhook_latency`, never asserted.)
//!
//! The receiver is a small axum server inside the test. It answers URL validation as a real
//! endpoint must, checks Zoom's signature on every request, and records each event it gets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use accord_testkit::on_every_backend;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use crate::accord_on;
use crate::server::Running;

pub(crate) const WEBHOOK_TOKEN: &str = "sync-webhook-token-0123456789";
const CLIENT: (&str, &str) = ("sync-prod", "sync-prod-secret-0123456789");

/// One server app of Acme that creates meetings and subscribes to `meeting.created`.
fn seed(receiver: &str) -> String {
    serde_json::json!({
        "accounts": [{"id": "acme", "name": "Acme", "users": [
            {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"}]}],
        "apps": [{"id": "sync", "name": "Sync", "kind": "server", "developer": "olive@acme.test",
                  "scopes": ["meeting:write:admin"],
                  "credentials": {"production": {"client_id": CLIENT.0, "client_secret": CLIENT.1}},
                  "webhook": {"url": receiver, "secret_token": WEBHOOK_TOKEN, "events": ["meeting.created"]}}]
    })
    .to_string()
}

/// What the receiver saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Event id → the meeting id in its payload.
    pub meetings: BTreeMap<String, i64>,
    /// Event id (`x-accord-event-id`) → how many times it arrived (URL validations aside).
    pub arrivals: BTreeMap<String, usize>,
    pub deliveries: usize,
    pub bad_signatures: usize,
    /// How long the receiver takes to answer an event, as a real endpoint does (zero by default).
    pub answer_delay: std::time::Duration,
}

async fn receive(seen: Arc<Mutex<Seen>>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let text = String::from_utf8_lossy(&body).into_owned();
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (StatusCode::BAD_REQUEST, String::new());
    };
    if json["event"] == accord_core::webhooks::URL_VALIDATION {
        let plain = json["payload"]["plainToken"].as_str().unwrap_or_default();
        let answer = serde_json::json!({
            "plainToken": plain,
            "encryptedToken": accord_core::webhooks::url_validation_answer(WEBHOOK_TOKEN, plain),
        });
        return (StatusCode::OK, answer.to_string());
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp: i64 = header("x-zm-request-timestamp").parse().unwrap_or(0);
    let expected = accord_core::webhooks::zoom_signature(WEBHOOK_TOKEN, timestamp, &text);
    // Counted on arrival, answered after the delay: a sender killed meanwhile has still delivered.
    let delay = {
        let mut seen = seen.lock().unwrap();
        seen.deliveries += 1;
        if header("x-zm-signature") != expected {
            seen.bad_signatures += 1;
        }
        let id = header("x-accord-event-id");
        *seen.arrivals.entry(id.clone()).or_default() += 1;
        if json["event"] == "meeting.created" && !seen.meetings.contains_key(&id) {
            let meeting = json["payload"]["object"]["id"].as_i64().unwrap_or(-1);
            seen.meetings.insert(id, meeting);
        }
        seen.answer_delay
    };
    tokio::time::sleep(delay).await;
    (StatusCode::OK, String::new())
}

/// Starts the receiver on a free port (for endpoints whose secret token is [`WEBHOOK_TOKEN`]);
/// returns its URL and what it sees.
pub(crate) async fn start_receiver() -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            receive(state.clone(), headers, body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A free port for the server, so a restarted process listens where the client already points.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(db: &accord_testkit::TestDbRef, seed: &std::path::Path, port: u16) -> Running {
    let bind = format!("127.0.0.1:{port}");
    Running::start(
        accord_on(db)
            .args(["serve", "--bind", &bind, "--rate-limits", "off"])
            .arg("--webhook-allow-private")
            .arg("--seed")
            .arg(seed),
        "readiness",
    )
}

async fn server_token(client: &reqwest::Client, base: &str) -> String {
    let answer: serde_json::Value = client
        .post(format!(
            "{base}/oauth/token?grant_type=account_credentials&account_id=acme"
        ))
        .basic_auth(CLIENT.0, Some(CLIENT.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

/// Creates one meeting, retrying while the server is down (a request lost in a kill may or may
/// not have committed: both are fine, the check below looks at the meetings that exist).
async fn create_meeting(client: &reqwest::Client, base: &str, token: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let sent = client
            .post(format!("{base}/v2/users/me/meetings"))
            .bearer_auth(token)
            .json(&serde_json::json!({"topic": format!("meeting {n}"), "type": 1}))
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status() == 201 => return,
            Ok(answer) if answer.status().is_server_error() => {}
            Ok(answer) => panic!("meeting {n}: {} {:?}", answer.status(), answer.text().await),
            Err(_) => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "meeting {n} never got through"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits (with a generous deadline for failure, not a timing assertion) until the outbox has
/// nothing left to deliver; returns what is left when the deadline passes.
pub(crate) async fn drained(db: &accord_testkit::TestDbRef) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let counts = db.store.webhook_outbox_counts().await.unwrap();
        let left = counts.pending + counts.failed;
        if left == 0 || std::time::Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn meeting_ids(db: &accord_testkit::TestDbRef) -> BTreeSet<i64> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM meetings")
        .fetch_all(db.store.pool())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_twice_while_meetings_are_created_loses_no_event() {
    on_every_backend(|db| async move {
        let (receiver, seen) = start_receiver().await;
        let dir = tempfile::tempdir().unwrap();
        let seed_file = dir.path().join("seed.json");
        std::fs::write(&seed_file, seed(&receiver)).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut server = start_server(&db, &seed_file, port);
        let client = reqwest::Client::new();
        let token = server_token(&client, &base).await;

        const MEETINGS: usize = 500;
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut creators = Vec::new();
        for _ in 0..4 {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let (done, next) = (done.clone(), next.clone());
            creators.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= MEETINGS {
                        return;
                    }
                    create_meeting(&client, &base, &token, n).await;
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }));
        }
        // SIGKILL at about a third and two thirds of the way, each while requests are in flight
        // and deliveries are being sent; a new process takes over the same port.
        for kill_at in [MEETINGS / 3, 2 * MEETINGS / 3] {
            while done.load(std::sync::atomic::Ordering::SeqCst) < kill_at {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            server.kill();
            server = start_server(&db, &seed_file, port);
        }
        for creator in creators {
            creator.await.unwrap();
        }
        let left = drained(&db).await;
        let meetings = meeting_ids(&db).await;
        let seen = seen.lock().unwrap();
        let delivered: BTreeSet<i64> = seen.meetings.values().copied().collect();
        let missing: Vec<&i64> = meetings.difference(&delivered).collect();
        println!(
            "{:?}: {} meetings, {} distinct meeting.created events seen over {} deliveries; {} undelivered",
            db.backend,
            meetings.len(),
            seen.meetings.len(),
            seen.deliveries,
            left
        );
        assert!(meetings.len() >= MEETINGS, "every request made a meeting");
        assert!(missing.is_empty(), "meetings without a delivered event: {missing:?}");
        assert_eq!(left, 0, "the outbox still holds undelivered events");
        assert_eq!(seen.bad_signatures, 0, "every signature verifies");
        drop(seen);
        server.stop();
    })
    .await;
}
