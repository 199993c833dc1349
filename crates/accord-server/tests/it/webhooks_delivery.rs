//! Webhook delivery (webhooks.md): retries on the schedule, a dead endpoint isolated from the
//! others, URL validation before anything is sent, SSRF refusals, no redirects, capped answers,
//! one sender per event across nodes, and signatures that verify — on every backend.
//!
//! Receivers are axum servers (or bare sockets) on 127.0.0.1:0 inside the test. Time is the
//! test database's `ManualClock`: a test moves it and runs one worker pass
//! ([`Worker::run_once`]), which sends everything due at that moment and returns — no sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_core::webhooks::{self, Event, RetrySchedule};
use accord_server::webhooks::{PassReport, WebhookConfig, Worker};
use accord_store::audit::Actor;
use accord_store::{Ctx, Store, outbox, seed};
use accord_testkit::{TestDbRef, on_every_backend};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::Row;
use tokio::net::{TcpListener, TcpStream};

use crate::support::test_webhook_config;

const SECRET: &str = "hooks-secret-token-0123456789";

/// How a receiver answers the n-th delivery it gets (1-based).
#[derive(Clone)]
pub(crate) enum Reply {
    Status(u16),
    /// 200 with a body of this many bytes.
    Large(usize),
    /// 302 to this URL.
    RedirectTo(String),
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn event_id(&self) -> &str {
        self.header("x-accord-event-id")
    }
}

struct ReceiverState {
    /// Answers URL validations correctly while set.
    validates: AtomicBool,
    validations: Mutex<Vec<Received>>,
    deliveries: Mutex<Vec<Received>>,
    script: Box<dyn Fn(usize) -> Reply + Send + Sync>,
    /// Requests being answered now, per app (the `app` query parameter of its URL).
    in_flight: Mutex<HashMap<String, usize>>,
    most_in_flight_for_one_app: AtomicUsize,
    arrived: tokio::sync::Notify,
}

/// A webhook endpoint inside the test.
pub(crate) struct Receiver {
    /// `http://127.0.0.1:PORT/hooks`.
    pub(crate) url: String,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Receiver {
        let state = Arc::new(ReceiverState {
            validates: AtomicBool::new(true),
            validations: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
            script: Box::new(script),
            in_flight: Mutex::new(HashMap::new()),
            most_in_flight_for_one_app: AtomicUsize::new(0),
            arrived: tokio::sync::Notify::new(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let app = Router::new().fallback(receive).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            state,
            task,
        }
    }

    async fn always_ok() -> Receiver {
        Self::start(|_| Reply::Status(200)).await
    }

    fn deliveries(&self) -> Vec<Received> {
        self.state.deliveries.lock().unwrap().clone()
    }

    fn validations(&self) -> usize {
        self.state.validations.lock().unwrap().len()
    }

    fn set_validates(&self, on: bool) {
        self.state.validates.store(on, Ordering::SeqCst);
    }

    /// Waits until at least `n` deliveries arrived (bounded, so a broken worker fails the test
    /// instead of hanging it).
    async fn wait_for_deliveries(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.state.arrived.notified();
                if self.deliveries().len() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("{n} deliveries did not arrive"));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let received = Received { headers, body };
    let envelope: serde_json::Value = serde_json::from_str(&received.body).unwrap_or_default();
    if envelope["event"] == webhooks::URL_VALIDATION {
        state.validations.lock().unwrap().push(received);
        if !state.validates.load(Ordering::SeqCst) {
            return StatusCode::OK.into_response();
        }
        let plain = envelope["payload"]["plainToken"].as_str().unwrap_or("");
        return axum::Json(serde_json::json!({
            "plainToken": plain,
            "encryptedToken": webhooks::url_validation_answer(SECRET, plain),
        }))
        .into_response();
    }
    let app = uri.query().unwrap_or("").to_owned();
    let now_in_flight = {
        let mut in_flight = state.in_flight.lock().unwrap();
        let count = in_flight.entry(app.clone()).or_default();
        *count += 1;
        *count
    };
    state
        .most_in_flight_for_one_app
        .fetch_max(now_in_flight, Ordering::SeqCst);
    // Give another worker every chance to send this app something meanwhile.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    let n = {
        let mut deliveries = state.deliveries.lock().unwrap();
        deliveries.push(received);
        deliveries.len()
    };
    *state.in_flight.lock().unwrap().entry(app).or_default() -= 1;
    state.arrived.notify_waiters();
    match (state.script)(n) {
        Reply::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::OK)
            .into_response(),
        Reply::Large(bytes) => (StatusCode::OK, "x".repeat(bytes)).into_response(),
        Reply::RedirectTo(url) => {
            (StatusCode::FOUND, [(axum::http::header::LOCATION, url)]).into_response()
        }
    }
}

/// An endpoint that accepts connections and never answers, until released.
struct Silent {
    url: String,
    held: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    async fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(tokio::sync::Notify::new());
        let task = {
            let held = held.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    held.lock().unwrap().push(socket);
                    accepted.notify_one();
                }
            })
        };
        Silent {
            url: format!("http://127.0.0.1:{port}/hooks"),
            held,
            accepted,
            task,
        }
    }

    /// Closes every held connection without a word: the attempt fails with no answer.
    fn release(&self) {
        self.held.lock().unwrap().clear();
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Acme, its owner, and one account app per `(id, url)` subscribed to every event.
pub(crate) async fn seed_apps(store: &Store, apps: &[(&str, &str)]) {
    let apps: Vec<serde_json::Value> = apps
        .iter()
        .map(|(id, url)| {
            serde_json::json!({
                "id": id, "name": format!("App {id}"), "kind": "account",
                "developer": "olive@acme.test", "status": "published",
                "scopes": ["user:read:admin"],
                "credentials": {"production": {"redirect_uris": ["http://127.0.0.1:9/cb"]}},
                "webhook": {"url": url, "secret_token": SECRET,
                            "events": Event::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>()}
            })
        })
        .collect();
    let file = serde_json::json!({
        "accounts": [{"id": "acme", "name": "Acme", "users": [
            {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"}]}],
        "apps": apps,
    });
    let parsed = seed::parse("webhooks test", &file.to_string()).expect("a valid seed");
    seed::apply(store, "webhooks test", &parsed)
        .await
        .expect("the seed applies");
}

/// Queues a `user.updated` for one app, as a change's transaction would; returns the event id.
pub(crate) async fn raise(store: &Store, app_id: &str, n: usize) -> String {
    let mut tx = store.begin().await.expect("a transaction");
    let ctx = Ctx {
        now: store.now(),
        keys: store.keys(),
    };
    let id = outbox::enqueue(
        &mut tx,
        &ctx,
        app_id,
        "acme",
        Event::UserUpdated,
        |_| serde_json::json!({"account_id": "acme", "object": {"id": "acme-olive", "n": n}}),
    )
    .await
    .expect("enqueue")
    .expect("the app subscribes");
    store.commit(tx).await.expect("commit");
    id
}

fn worker(db: &TestDbRef, configure: impl FnOnce(&mut WebhookConfig)) -> Worker {
    let mut config = test_webhook_config();
    configure(&mut config);
    Worker::new(db.store.clone(), config).expect("a worker")
}

async fn pass(worker: &Worker) -> PassReport {
    worker.run_once().await.expect("a pass")
}

/// One line of the delivery log.
#[derive(Debug)]
struct Attempt {
    outcome: String,
    status_code: Option<i64>,
    error: Option<String>,
    excerpt: Option<String>,
    at: i64,
}

async fn attempts(store: &Store, event_id: Option<&str>, app_id: &str) -> Vec<Attempt> {
    let sql = match event_id {
        Some(_) => {
            "SELECT outcome, status_code, error, response_excerpt, at FROM webhook_attempts \
             WHERE event_id = $1 AND app_id = $2 ORDER BY seq"
        }
        None => {
            "SELECT outcome, status_code, error, response_excerpt, at FROM webhook_attempts \
             WHERE event_id IS NULL AND app_id = $2 AND $1 = '' ORDER BY seq"
        }
    };
    sqlx::query(sql)
        .bind(event_id.unwrap_or(""))
        .bind(app_id)
        .fetch_all(store.pool())
        .await
        .expect("the log")
        .iter()
        .map(|row| Attempt {
            outcome: row.get(0),
            status_code: row.get(1),
            error: row.get(2),
            excerpt: row.get(3),
            at: row.get(4),
        })
        .collect()
}

async fn status(store: &Store, event_id: &str) -> (String, i64) {
    let event = store
        .queued_webhook_event(event_id)
        .await
        .expect("read")
        .expect("the event");
    (event.status, event.attempts)
}

#[tokio::test]
async fn a_receiver_answering_500_then_200_gets_the_event_on_the_retry() {
    on_every_backend(|db| async move {
        let receiver = Receiver::start(|n| Reply::Status(if n == 1 { 500 } else { 200 })).await;
        seed_apps(&db.store, &[("flaky", &receiver.url)]).await;
        let event = raise(&db.store, "flaky", 1).await;
        let worker = worker(&db, |_| {});

        let report = pass(&worker).await;
        assert_eq!((report.validated, report.retrying), (1, 1), "{report:?}");
        assert_eq!(receiver.deliveries().len(), 1);
        assert_eq!(status(&db.store, &event).await, ("pending".into(), 1));
        let queued = db
            .store
            .queued_webhook_event(&event)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(queued.next_attempt_at, db.clock_now().plus_seconds(300));

        db.clock.advance_seconds(299);
        assert_eq!(pass(&worker).await, PassReport::default());
        assert_eq!(
            receiver.deliveries().len(),
            1,
            "not before its retry is due"
        );

        db.clock.advance_seconds(1);
        assert_eq!(pass(&worker).await.delivered, 1);
        let got = receiver.deliveries();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].event_id(), event);
        assert_eq!(got[1].event_id(), event, "the same id, to de-duplicate by");
        assert_eq!(got[0].body, got[1].body, "the same bytes");
        assert_eq!(status(&db.store, &event).await, ("delivered".into(), 2));
        let log = attempts(&db.store, Some(&event), "flaky").await;
        let outcomes: Vec<(&str, Option<i64>)> = log
            .iter()
            .map(|a| (a.outcome.as_str(), a.status_code))
            .collect();
        assert_eq!(
            outcomes,
            [("retry", Some(500)), ("delivered", Some(200))],
            "{log:?}"
        );
        assert_eq!(
            db.store.webhook_outbox_counts().await.unwrap().pending,
            0,
            "nothing left undelivered"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dead_receiver_fails_after_the_last_attempt_while_another_app_gets_its_events_on_time() {
    on_every_backend(|db| async move {
        let dead = Silent::start().await;
        let healthy = Receiver::always_ok().await;
        seed_apps(&db.store, &[("dead", &dead.url), ("healthy", &healthy.url)]).await;
        // The dead endpoint passed its validation once (and then stopped answering).
        sqlx::query("UPDATE apps SET webhook_validated_at = $1, webhook_validation_due_at = $2 WHERE id = 'dead'")
            .bind(db.clock_now().millis())
            .bind(db.clock_now().plus_seconds(72 * 3600).millis())
            .execute(db.store.pool())
            .await
            .unwrap();
        // A timeout far longer than the test: only the receiver's silence holds the request.
        let worker = worker(&db, |c| c.sender.timeout = Duration::from_secs(60));
        let dead_event = raise(&db.store, "dead", 0).await;

        let schedule = RetrySchedule::default();
        for round in 1..=schedule.attempts() {
            let healthy_event = raise(&db.store, "healthy", round).await;
            let running = tokio::spawn({
                let worker = worker.clone();
                async move { worker.run_once().await.expect("a pass") }
            });
            // The healthy app's event arrives while the dead endpoint still holds its request.
            let held = dead.accepted.notified();
            healthy.wait_for_deliveries(round).await;
            assert_eq!(healthy.deliveries()[round - 1].event_id(), healthy_event);
            tokio::time::timeout(Duration::from_secs(20), held)
                .await
                .expect("the dead endpoint was tried in the same pass");
            assert!(!running.is_finished(), "the dead request is still open");
            dead.release();
            let report = running.await.expect("the pass");
            assert_eq!(report.delivered, 1, "round {round}: {report:?}");
            assert_eq!(
                status(&db.store, &healthy_event).await,
                ("delivered".into(), 1),
                "delivered at its first attempt, on time"
            );
            let (dead_status, dead_attempts) = status(&db.store, &dead_event).await;
            assert_eq!(dead_attempts, i64::try_from(round).unwrap());
            if round < schedule.attempts() {
                assert_eq!(dead_status, "pending", "round {round}");
                assert_eq!(report.retrying, 1);
                db.clock
                    .advance_seconds(schedule.delay_after(round).expect("a delay"));
            } else {
                assert_eq!(dead_status, "failed", "failed after the last attempt");
                assert_eq!(report.failed, 1);
            }
        }
        let log = attempts(&db.store, Some(&dead_event), "dead").await;
        let outcomes: Vec<&str> = log.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["retry", "retry", "retry", "failed"]);
        assert!(
            log.iter().all(|a| a.status_code.is_none()
                && a.error.as_deref().is_some_and(|e| !e.contains(&dead.url))),
            "no answer, and an error that does not repeat the URL: {log:?}"
        );
        let times: Vec<i64> = log.iter().map(|a| (a.at - log[0].at) / 1000).collect();
        assert_eq!(times, [0, 300, 1500, 5100], "Zoom's schedule: +5, +20, +60 minutes");
        // Once failed, nothing more is sent.
        db.clock.advance_seconds(10 * 3600);
        assert_eq!(pass(&worker).await, PassReport::default());
    })
    .await;
}

#[tokio::test]
async fn a_receiver_that_hangs_past_the_timeout_counts_as_a_failed_attempt() {
    on_every_backend(|db| async move {
        let silent = Silent::start().await;
        seed_apps(&db.store, &[("slow", &silent.url)]).await;
        sqlx::query("UPDATE apps SET webhook_validated_at = $1 WHERE id = 'slow'")
            .bind(db.clock_now().millis())
            .execute(db.store.pool())
            .await
            .unwrap();
        let event = raise(&db.store, "slow", 0).await;
        let worker = worker(&db, |c| c.sender.timeout = Duration::from_millis(300));
        let report = pass(&worker).await;
        assert_eq!(report.retrying, 1, "{report:?}");
        let log = attempts(&db.store, Some(&event), "slow").await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].status_code, None);
        assert_eq!(log[0].error.as_deref(), Some("no answer within 300 ms"));
    })
    .await;
}

#[tokio::test]
async fn an_unvalidated_endpoint_receives_nothing_until_validated_then_gets_the_waiting_events() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        receiver.set_validates(false);
        seed_apps(&db.store, &[("late", &receiver.url)]).await;
        let first = raise(&db.store, "late", 1).await;
        let second = raise(&db.store, "late", 2).await;
        let worker = worker(&db, |_| {});

        let report = pass(&worker).await;
        assert_eq!(report.invalid, 1, "{report:?}");
        assert_eq!(receiver.validations(), 1);
        assert!(
            receiver.deliveries().is_empty(),
            "nothing before validation"
        );
        let app = db.store.app("late").await.unwrap();
        assert_eq!(app.webhook.unwrap().validated_at, None);
        let log = attempts(&db.store, None, "late").await;
        assert_eq!(log[0].outcome, "invalid");
        assert!(
            log[0].error.as_deref().unwrap().contains("plainToken"),
            "{log:?}"
        );

        // Validation is retried on the delivery schedule: +5 minutes, then +20.
        db.clock.advance_seconds(299);
        assert_eq!(pass(&worker).await, PassReport::default());
        db.clock.advance_seconds(1);
        assert_eq!(pass(&worker).await.invalid, 1);
        assert_eq!(receiver.validations(), 2);
        assert!(receiver.deliveries().is_empty());

        receiver.set_validates(true);
        db.clock.advance_seconds(1200);
        let report = pass(&worker).await;
        assert_eq!((report.validated, report.delivered), (1, 2), "{report:?}");
        let got: Vec<String> = receiver
            .deliveries()
            .iter()
            .map(|r| r.event_id().to_owned())
            .collect();
        assert_eq!(got, [first.clone(), second.clone()], "in event order");
        let app = db.store.app("late").await.unwrap();
        assert_eq!(app.webhook.unwrap().validated_at, Some(db.clock_now()));

        // Validated again 72 hours later.
        db.clock.advance_seconds(72 * 3600 - 1);
        assert_eq!(pass(&worker).await.validated, 0);
        db.clock.advance_seconds(1);
        assert_eq!(pass(&worker).await.validated, 1);
        assert_eq!(receiver.validations(), 4);
    })
    .await;
}

#[tokio::test]
async fn events_of_an_endpoint_that_never_validates_fail_when_their_own_schedule_runs_out() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        receiver.set_validates(false);
        seed_apps(&db.store, &[("never", &receiver.url)]).await;
        let event = raise(&db.store, "never", 1).await;
        let worker = worker(&db, |c| c.retry.delays = vec![10, 20]);
        pass(&worker).await;
        db.clock.advance_seconds(29);
        pass(&worker).await;
        assert_eq!(status(&db.store, &event).await.0, "pending");
        db.clock.advance_seconds(1);
        let report = pass(&worker).await;
        assert_eq!(report.failed, 1, "{report:?}");
        assert_eq!(status(&db.store, &event).await, ("failed".into(), 0));
        let log = attempts(&db.store, Some(&event), "never").await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].outcome, "failed");
        assert!(
            log[0].error.as_deref().unwrap().contains("URL validation"),
            "{log:?}"
        );
        assert!(receiver.deliveries().is_empty());
    })
    .await;
}

#[tokio::test]
async fn private_targets_are_refused_without_the_flag() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        let by_name = receiver.url.replace("127.0.0.1", "localhost");
        seed_apps(&db.store, &[("literal", &receiver.url), ("named", &by_name)]).await;
        let worker = worker(&db, |c| c.sender.allow_private = false);
        let report = pass(&worker).await;
        assert_eq!(report.invalid, 2, "{report:?}");
        assert_eq!(receiver.validations(), 0, "no request left the node");
        let literal = attempts(&db.store, None, "literal").await;
        assert!(
            literal[0].error.as_deref().unwrap().contains("refused: 127.0.0.1 is a loopback address"),
            "{literal:?}"
        );
        let named = attempts(&db.store, None, "named").await;
        let error = named[0].error.as_deref().unwrap();
        assert!(error.contains("refused: localhost resolves to"), "{error}");
        assert!(error.contains("loopback"), "{error}");

        // An app that is gone is sent its events at the endpoint it had: refused all the same.
        db.store
            .delete_app(&Actor::cli(), "literal")
            .await
            .expect("deleted");
        let event = {
            // The row as the app's deletion would leave it: its endpoint snapshot.
            sqlx::query(
                "INSERT INTO webhook_events (id, app_id, account_id, event, event_ts, body, endpoint_url, \
                 endpoint_secret, status, attempts, next_attempt_at, created_at) \
                 VALUES ('gone-1', 'literal', 'acme', 'app_deauthorized', $1, '{}', $2, $3, 'pending', 0, $1, $1)",
            )
            .bind(db.clock_now().millis())
            .bind(&receiver.url)
            .bind(db.store.keys().encrypt(SECRET.as_bytes()))
            .execute(db.store.pool())
            .await
            .unwrap();
            "gone-1"
        };
        assert_eq!(pass(&worker).await.retrying, 1);
        let log = attempts(&db.store, Some(event), "literal").await;
        assert!(log[0].error.as_deref().unwrap().starts_with("refused:"), "{log:?}");
        assert!(receiver.deliveries().is_empty());

        // With the flag, the same endpoints are reached.
        let allowed = worker_allowing(&db);
        db.clock.advance_seconds(300);
        let report = pass(&allowed).await;
        assert_eq!((report.validated, report.delivered), (1, 1), "{report:?}");
    })
    .await;
}

fn worker_allowing(db: &TestDbRef) -> Worker {
    worker(db, |c| c.sender.allow_private = true)
}

#[tokio::test]
async fn a_deleted_apps_deauthorization_goes_to_the_endpoint_it_had() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        seed_apps(&db.store, &[("leaving", &receiver.url)]).await;
        let worker = worker(&db, |_| {});
        assert_eq!(pass(&worker).await.validated, 1);
        let installed = db
            .store
            .upsert_grant(
                &Actor::User("acme-olive".into()),
                accord_store::grants::GrantRequest {
                    kind: accord_core::grants::GrantKind::Installation,
                    app_id: "leaving",
                    account_id: "acme",
                    user_id: None,
                    created_by: Some("acme-olive"),
                    scopes: &[accord_core::scopes::Scope::parse("user:read:admin").unwrap()],
                },
            )
            .await;
        installed.expect("an installation");
        db.store
            .delete_app(&Actor::cli(), "leaving")
            .await
            .expect("the app is deleted");
        let report = pass(&worker).await;
        assert_eq!(report.delivered, 1, "{report:?}");
        let got = receiver.deliveries();
        let envelope: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(envelope["event"], "app_deauthorized");
        assert_eq!(envelope["payload"]["account_id"], "acme");
    })
    .await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    on_every_backend(|db| async move {
        let elsewhere = Receiver::always_ok().await;
        let target = elsewhere.url.clone();
        let redirecting = Receiver::start(move |_| Reply::RedirectTo(target.clone())).await;
        seed_apps(&db.store, &[("mover", &redirecting.url)]).await;
        let event = raise(&db.store, "mover", 1).await;
        let worker = worker(&db, |_| {});
        let report = pass(&worker).await;
        assert_eq!((report.validated, report.retrying), (1, 1), "{report:?}");
        assert_eq!(redirecting.deliveries().len(), 1);
        assert!(
            elsewhere.deliveries().is_empty(),
            "the redirect was not followed"
        );
        let log = attempts(&db.store, Some(&event), "mover").await;
        assert_eq!(log[0].status_code, Some(302));
        assert_eq!(log[0].error.as_deref(), Some("answered HTTP 302"));
    })
    .await;
}

#[tokio::test]
async fn an_oversized_answer_is_cut_and_the_delivery_still_counts() {
    on_every_backend(|db| async move {
        let receiver = Receiver::start(|_| Reply::Large(8 * 1024 * 1024)).await;
        seed_apps(&db.store, &[("chatty", &receiver.url)]).await;
        let first = raise(&db.store, "chatty", 1).await;
        let second = raise(&db.store, "chatty", 2).await;
        let worker = worker(&db, |_| {});
        let report = pass(&worker).await;
        assert_eq!(report.delivered, 2, "{report:?}");
        for event in [&first, &second] {
            let log = attempts(&db.store, Some(event), "chatty").await;
            assert_eq!(log[0].outcome, "delivered");
            let excerpt = log[0].excerpt.as_deref().unwrap();
            assert_eq!(
                excerpt.len(),
                accord_server::webhooks::sender::EXCERPT_CHARS
            );
        }
    })
    .await;
}

#[tokio::test]
async fn two_workers_on_one_database_never_send_the_same_event_at_once() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        let apps: Vec<(String, String)> = (0..6)
            .map(|i| (format!("app-{i}"), format!("{}?app-{i}", receiver.url)))
            .collect();
        let refs: Vec<(&str, &str)> = apps.iter().map(|(a, u)| (a.as_str(), u.as_str())).collect();
        seed_apps(&db.store, &refs).await;
        let mut raised = Vec::new();
        for n in 0..8 {
            for (app, _) in &apps {
                raised.push(raise(&db.store, app, n).await);
            }
        }
        // A second node: its own pool on the same database, the same clock.
        let other_store = open_again(&db).await;
        let mut config = test_webhook_config();
        config.concurrency = 4;
        let one = Worker::new(db.store.clone(), config.clone()).unwrap();
        let two = Worker::new(other_store.clone(), config).unwrap();
        assert_ne!(one.node(), two.node());
        let (a, b) = tokio::join!(one.run_once(), two.run_once());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.validated + b.validated, 6, "each endpoint validated once");
        assert_eq!(a.delivered + b.delivered, raised.len());

        let got = receiver.deliveries();
        let mut ids: Vec<&str> = got.iter().map(Received::event_id).collect();
        ids.sort_unstable();
        let mut expected: Vec<&str> = raised.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(ids, expected, "every event exactly once");
        assert_eq!(
            receiver
                .state
                .most_in_flight_for_one_app
                .load(Ordering::SeqCst),
            1,
            "never two requests at once to one app"
        );
        // Per app, in event order.
        for (app, _) in &apps {
            let of_app: Vec<&str> = got
                .iter()
                .map(Received::event_id)
                .filter(|id| raised_by(&raised, &apps, id) == Some(app.as_str()))
                .collect();
            let order: Vec<&str> = raised
                .iter()
                .map(String::as_str)
                .filter(|id| raised_by(&raised, &apps, id) == Some(app.as_str()))
                .collect();
            assert_eq!(of_app, order, "{app} got its events in order");
        }
        other_store.pool().close().await;
    })
    .await;
}

/// Which app an event was raised for (events were raised round-robin over `apps`).
fn raised_by<'a>(raised: &[String], apps: &'a [(String, String)], id: &str) -> Option<&'a str> {
    let at = raised.iter().position(|r| r == id)?;
    Some(apps[at % apps.len()].0.as_str())
}

async fn open_again(db: &TestDbRef) -> Store {
    let dir = tempfile::tempdir().expect("a folder");
    let config = accord_store::StoreConfig {
        data_dir: Some(dir.path().to_path_buf()),
        master_key: Some(db.master_key.clone()),
        password_cost: accord_store::secrets::PasswordCost::TESTING,
        max_connections: 5,
        ..accord_store::StoreConfig::new(db.database_url.clone())
    };
    Store::open_with_clock(&config, Arc::new(db.clock.clone()))
        .await
        .expect("a second store on the same database")
}

#[tokio::test]
async fn signatures_in_the_headers_verify() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        seed_apps(&db.store, &[("signed", &receiver.url)]).await;
        let event = raise(&db.store, "signed", 1).await;
        let worker = worker(&db, |_| {});
        assert_eq!(pass(&worker).await.delivered, 1);
        let got = &receiver.deliveries()[0];
        let now = db.clock_now().seconds();

        assert_eq!(got.header("content-type"), "application/json");
        assert!(got.header("user-agent").starts_with("Accord-Webhooks/"));
        assert_eq!(got.event_id(), event);
        assert_eq!(got.header("webhook-id"), event);
        assert_eq!(got.header("x-zm-request-timestamp"), now.to_string());
        assert_eq!(got.header("webhook-timestamp"), now.to_string());
        // Zoom's: v0=hex(HMAC(secret, "v0:{timestamp}:{body}")) over the raw body.
        assert_eq!(
            got.header("x-zm-signature"),
            webhooks::zoom_signature(SECRET, now, &got.body)
        );
        // Standard Webhooks: v1,base64(HMAC(secret, "{id}.{timestamp}.{body}")).
        assert_eq!(
            got.header("webhook-signature"),
            webhooks::standard_signature(SECRET, &event, now, &got.body)
        );
        // Checked independently of accord_core: HMAC-SHA256 computed here.
        assert_eq!(
            got.header("x-zm-signature"),
            format!(
                "v0={}",
                hex(&hmac_sha256(
                    SECRET.as_bytes(),
                    format!("v0:{now}:{}", got.body).as_bytes()
                ))
            )
        );
        let stored: String = sqlx::query_scalar("SELECT body FROM webhook_events WHERE id = $1")
            .bind(&event)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(got.body, stored, "exactly the stored envelope");

        // The URL validation request was signed the same way.
        let validation = receiver.state.validations.lock().unwrap()[0].clone();
        let id = validation.header("webhook-id").to_owned();
        assert_eq!(
            validation.header("x-zm-signature"),
            webhooks::zoom_signature(SECRET, now, &validation.body)
        );
        assert_eq!(
            validation.header("webhook-signature"),
            webhooks::standard_signature(SECRET, &id, now, &validation.body)
        );
        assert!(validation.headers.get("x-accord-event-id").is_none());
    })
    .await;
}

/// HMAC-SHA256 (RFC 2104) over sha2, independent of the code under test.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

trait ClockNow {
    fn clock_now(&self) -> accord_core::clock::Timestamp;
}

impl ClockNow for TestDbRef {
    fn clock_now(&self) -> accord_core::clock::Timestamp {
        accord_core::clock::Clock::now(&self.clock)
    }
}

#[tokio::test]
async fn the_test_servers_worker_delivers_the_deauthorization_of_an_uninstall() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        seed_apps(&db.store, &[("installed", &receiver.url)]).await;
        let server = crate::support::TestServer::start(&db).await;
        db.store
            .upsert_grant(
                &Actor::User("acme-olive".into()),
                accord_store::grants::GrantRequest {
                    kind: accord_core::grants::GrantKind::Installation,
                    app_id: "installed",
                    account_id: "acme",
                    user_id: None,
                    created_by: Some("acme-olive"),
                    scopes: &[accord_core::scopes::Scope::parse("user:read:admin").unwrap()],
                },
            )
            .await
            .expect("an installation");
        let ended = db
            .store
            .uninstall_app(
                &Actor::User("acme-olive".into()),
                "acme",
                "installed",
                "test",
            )
            .await
            .expect("uninstalled");
        assert_eq!(ended, 1);
        let report = server.deliver_webhooks().await;
        assert_eq!((report.validated, report.delivered), (1, 1), "{report:?}");
        let got = receiver.deliveries();
        let envelope: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(envelope["event"], "app_deauthorized");
        assert_eq!(envelope["payload"]["user_id"], "acme-olive");
    })
    .await;
}

/// Waits (bounded) until `condition` holds: for what a background task does on its own time.
/// It asserts nothing about how long that took.
async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let wait = async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("{what} never happened"));
}

#[tokio::test]
async fn the_running_worker_validates_at_start_delivers_when_woken_and_stops_cleanly() {
    on_every_backend(|db| async move {
        let receiver = Receiver::always_ok().await;
        seed_apps(&db.store, &[("live", &receiver.url)]).await;
        // As a seeded endpoint whose last validation attempt pushed the next one far out.
        sqlx::query("UPDATE apps SET webhook_validation_due_at = $1 WHERE id = 'live'")
            .bind(db.clock_now().plus_seconds(24 * 3600).millis())
            .execute(db.store.pool())
            .await
            .unwrap();
        // On PostgreSQL the idle poll is an hour away: only `NOTIFY accord_webhooks` can wake
        // the worker for the second event. SQLite has no notifications and polls.
        let poll = match db.backend {
            accord_store::Backend::Postgres => Duration::from_secs(3600),
            accord_store::Backend::Sqlite => Duration::from_millis(20),
        };
        let worker = worker(&db, |c| c.poll_interval = Some(poll));
        let first = raise(&db.store, "live", 1).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = worker.clone().spawn(async move {
            let _ = stopped.await;
        });

        receiver.wait_for_deliveries(1).await;
        assert_eq!(receiver.validations(), 1, "validated at start");
        assert_eq!(receiver.deliveries()[0].event_id(), first);
        let store = db.store.clone();
        let delivered = |id: String| {
            let store = store.clone();
            async move {
                store
                    .queued_webhook_event(&id)
                    .await
                    .unwrap()
                    .unwrap()
                    .status
                    == "delivered"
            }
        };
        eventually("the first delivery recorded", || delivered(first.clone())).await;

        let second = raise(&db.store, "live", 2).await;
        receiver.wait_for_deliveries(2).await;
        assert_eq!(receiver.deliveries()[1].event_id(), second);
        eventually("the second delivery recorded", || delivered(second.clone())).await;

        stop.send(()).expect("the worker is running");
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("the worker stops")
            .expect("cleanly");
        assert_eq!(
            db.store.webhook_outbox_counts().await.unwrap(),
            accord_store::deliveries::OutboxCounts {
                pending: 0,
                delivered: 2,
                failed: 0
            }
        );
    })
    .await;
}
