//! A PostgreSQL restart under load, on loopback (PostgreSQL only; SKIPPED loudly without it).
//!
//! The shared PostgreSQL is never restarted: the server reaches it through [`Proxy`], a small TCP
//! relay the test can *cut* — every open connection closed, new ones refused — and *restore*.
//! That is exactly what a restart looks like to a client. Proven here:
//! - during the cut every answer that needs the database is a 503 with a clear message (Zoom's
//!   shape on `/v2`, `temporarily_unavailable` on `/oauth/*`), within 5 s — never a 500, never a
//!   hang (tokens and introspection, answered from the access view, may go on succeeding while the
//!   view is within its staleness bound); after the restore the node answers 200 again by itself;
//! - a write attempted meanwhile either committed whole (the user and its audit entry) or not at all;
//! - a node whose access view has not synced for longer than `--view-max-staleness` (moved on the
//!   injected clock) refuses with 503 instead of honouring a grant revoked meanwhile, and `/readyz`
//!   says not ready.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accord_store::audit::Actor;
use accord_store::{Store, StoreConfig};
use accord_testkit::{TestDb, TestDbRef};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::live::Live;
use crate::support::TestServer;
use crate::tokens::{FIXTURE, post};
use crate::users_api::{call, server_token};

/// Every request during the outage must be answered within this long.
const ANSWER_BOUND: Duration = Duration::from_secs(5);
/// The node must serve again within this long of the restore, by itself.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

const BACKEND: (&str, &str) = ("backend-prod", "backend-prod-secret-0123456789");
const ADMIN_BOT: (&str, &str) = ("admin-bot-prod", "admin-bot-prod-secret-0123456789");

/// A TCP relay from a loopback port to PostgreSQL that can be cut and restored.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    accepting: Mutex<Option<JoinHandle<()>>>,
    relays: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// While set, every byte either way is dropped and the connections stay open: what a network
    /// that silently loses packets looks like.
    stalled: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let proxy = Arc::new(Proxy {
            port: listener.local_addr().expect("an address").port(),
            upstream,
            accepting: Mutex::new(None),
            relays: Arc::new(Mutex::new(Vec::new())),
            stalled: Arc::default(),
        });
        proxy.accept_on(listener);
        proxy
    }

    fn accept_on(&self, listener: TcpListener) {
        let (upstream, relays) = (self.upstream, self.relays.clone());
        let stalled = self.stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let stalled = stalled.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            relay_one_way(client_read, server_write, stalled.clone()),
                            relay_one_way(server_read, client_write, stalled),
                        );
                    }
                });
                relays.lock().unwrap().push(relay);
            }
        });
        *self.accepting.lock().unwrap() = Some(task);
    }

    /// Drops every byte from now on, closing nothing (until [`Proxy::cut`]).
    fn stall(&self) {
        self.stalled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Closes every relayed connection and stops listening: new connections are refused.
    fn cut(&self) {
        self.stalled
            .store(false, std::sync::atomic::Ordering::SeqCst);
        if let Some(task) = self.accepting.lock().unwrap().take() {
            task.abort();
        }
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    /// Listens again on the same port.
    async fn restore(&self) {
        let address: SocketAddr = ([127, 0, 0, 1], self.port).into();
        // The aborted accept task drops its listener on its next poll: retry the bind briefly.
        for _ in 0..100 {
            let socket = TcpSocket::new_v4().expect("a socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            if socket.bind(address).is_ok()
                && let Ok(listener) = socket.listen(128)
            {
                self.accept_on(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the proxy cannot listen on {address} again");
    }

    /// `database_url` with its host and port replaced by the proxy's.
    fn url_for(&self, database_url: &str) -> String {
        let mut url = reqwest::Url::parse(database_url).expect("a database URL");
        url.set_host(Some("127.0.0.1")).expect("a host");
        url.set_port(Some(self.port)).expect("a port");
        url.to_string()
    }
}

/// Copies bytes from `from` to `to` until either side closes, dropping them while `stalled`.
async fn relay_one_way(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.load(std::sync::atomic::Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The PostgreSQL server a URL names (host and port; 5432 when none is given).
async fn upstream_of(database_url: &str) -> SocketAddr {
    let url = reqwest::Url::parse(database_url).expect("a database URL");
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .expect("the PostgreSQL host resolves")
        .next()
        .expect("an address")
}

/// The fixture on a fresh PostgreSQL database, and a server that reaches it only through a proxy.
/// `None` (and a loud SKIPPED) without PostgreSQL.
async fn node_behind_proxy() -> Option<(TestDb, Arc<Proxy>, Live)> {
    node_behind_proxy_configured(|_| {}).await
}

/// [`node_behind_proxy`] with the server's configuration changed by `configure`.
async fn node_behind_proxy_configured(
    configure: impl FnOnce(&mut accord_server::ServerConfig),
) -> Option<(TestDb, Arc<Proxy>, Live)> {
    let admin_url = accord_testkit::postgres_url()?;
    let db = TestDb::postgres(&admin_url).await;
    let seed = accord_store::seed::parse("fixture", FIXTURE).expect("fixture parses");
    accord_store::seed::apply(&db.store, "fixture", &seed)
        .await
        .expect("fixture applies");
    let proxy = Proxy::start(upstream_of(&db.database_url).await).await;
    let database_url = proxy.url_for(&db.database_url);
    let dir = tempfile::tempdir().expect("a folder");
    let config = StoreConfig {
        data_dir: Some(dir.path().to_path_buf()),
        master_key: Some(db.master_key.clone()),
        password_cost: accord_store::secrets::PasswordCost::TESTING,
        max_connections: 5,
        // As `--db-acquire-timeout 3`: every answer during the cut within the test's 5 s bound.
        acquire_timeout: std::time::Duration::from_secs(3),
        ..StoreConfig::new(database_url.clone())
    };
    let store = Store::open_with_clock(&config, Arc::new(db.clock.clone()))
        .await
        .expect("the node's store, through the proxy");
    let node = TestDbRef {
        store,
        backend: db.backend,
        clock: db.clock.clone(),
        database_url,
        master_key: db.master_key.clone(),
    };
    // The load runs on a frozen clock, so per-second rate limits would never refill: off.
    let server = TestServer::start_configured(
        &node,
        |base| base.to_owned(),
        |config| {
            config.rate_limits = false;
            configure(config);
        },
    )
    .await;
    let live = Live {
        url: server.base.clone(),
        db: node,
        http: reqwest::Client::new(),
        server,
    };
    Some((db, proxy, live))
}

/// One answer the load saw.
#[derive(Debug)]
struct Answer {
    what: &'static str,
    status: StatusCode,
    body: Value,
    took: Duration,
    started: Instant,
}

/// Asserts an answer is a 503 that says what happened, in its endpoint's dialect.
fn assert_clear_503(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
    if answer.what.starts_with("/oauth") {
        assert_eq!(
            answer.body["error"], "temporarily_unavailable",
            "{answer:?}"
        );
        assert!(
            answer.body["reason"]
                .as_str()
                .is_some_and(|r| r.contains("try again")),
            "{answer:?}"
        );
    } else {
        assert_eq!(answer.body["code"], 503, "{answer:?}");
        assert!(
            answer.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("try again")),
            "{answer:?}"
        );
    }
}

/// A request of the load, on its way.
type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = (StatusCode, Value)> + Send>>;

/// Runs one kind of request in a loop until `stop`, recording every answer.
fn load(
    live: &Arc<Live>,
    what: &'static str,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    answers: &Arc<Mutex<Vec<Answer>>>,
    request: impl Fn(Arc<Live>, usize) -> Pending + Send + 'static,
) -> JoinHandle<()> {
    let (live, stop, answers) = (live.clone(), stop.clone(), answers.clone());
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let started = Instant::now();
            let (status, body) = tokio::time::timeout(
                ANSWER_BOUND + Duration::from_secs(5),
                request(live.clone(), n),
            )
            .await
            .unwrap_or_else(|_| panic!("{what} hung for over {ANSWER_BOUND:?} plus 5 s"));
            answers.lock().unwrap().push(Answer {
                what,
                status,
                body,
                took: started.elapsed(),
                started,
            });
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Polls `request` until it answers 200, within [`RECOVERY_BOUND`]; returns how long that took.
async fn until_ok<F, Fut>(what: &str, request: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let started = Instant::now();
    loop {
        let (status, body) = request().await;
        if status == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "{what} did not recover within {RECOVERY_BOUND:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn token_answer(live: &Live) -> (StatusCode, Value) {
    let (status, _, body) = post(
        live,
        "/oauth/token",
        Some(BACKEND),
        &[("grant_type", "client_credentials")],
    )
    .await;
    (status, body)
}

async fn introspect_answer(live: &Live, token: &str) -> (StatusCode, Value) {
    let (status, _, body) = post(
        live,
        "/oauth/introspect",
        Some(BACKEND),
        &[("token", token)],
    )
    .await;
    (status, body)
}

async fn revoke_answer(live: &Live, token: &str) -> (StatusCode, Value) {
    let (status, _, body) = post(live, "/oauth/revoke", Some(BACKEND), &[("token", token)]).await;
    (status, body)
}

#[tokio::test]
async fn a_postgres_restart_under_load_gives_503s_in_bounded_time_and_the_node_recovers_by_itself()
{
    let Some((db, proxy, live)) = node_behind_proxy().await else {
        return;
    };
    let live = Arc::new(live);
    let reader = server_token(&live, BACKEND.0, BACKEND.1).await;
    let writer = server_token(&live, ADMIN_BOT.0, ADMIN_BOT.1).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    // Reads: a user's profile (remembered by the access view) and the user list (the database).
    for path in ["/v2/users/me", "/v2/users"] {
        let token = reader.clone();
        tasks.push(load(&live, path, &stop, &answers, move |live, _| {
            let token = token.clone();
            Box::pin(async move { call(&live, &token, Method::GET, path, None).await })
        }));
    }
    tasks.push(load(&live, "/oauth/token", &stop, &answers, |live, _| {
        Box::pin(async move { token_answer(&live).await })
    }));
    let token = reader.clone();
    tasks.push(load(
        &live,
        "/oauth/introspect",
        &stop,
        &answers,
        move |live, _| {
            let token = token.clone();
            Box::pin(async move { introspect_answer(&live, &token).await })
        },
    ));
    // Writes: each creates a new user (its audit entry in the same transaction).
    let token = writer.clone();
    tasks.push(load(
        &live,
        "POST /v2/users",
        &stop,
        &answers,
        move |live, n| {
            let token = token.clone();
            Box::pin(async move {
                let user = json!({"action": "create",
                              "user_info": {"email": format!("load-{n}@acme.test"), "type": 1}});
                call(&live, &token, Method::POST, "/v2/users", Some(user)).await
            })
        },
    ));

    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    let cut_at = Instant::now();
    // Long enough for the pool to give up on reconnecting (3 s) several times over.
    tokio::time::sleep(Duration::from_secs(8)).await;
    proxy.restore().await;
    let restored_at = Instant::now();

    // The node recovers by itself: each kind of request answers 200 again, no one intervening.
    let me = until_ok("/v2/users/me", || {
        call(&live, &reader, Method::GET, "/v2/users/me", None)
    })
    .await;
    let token = until_ok("/oauth/token", || token_answer(&live)).await;
    let introspect = until_ok("/oauth/introspect", || introspect_answer(&live, &reader)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a load task");
    }
    eprintln!(
        "recovered after the restore: /v2/users/me in {me:?}, /oauth/token in {token:?}, \
         /oauth/introspect in {introspect:?}"
    );

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let slowest = answers.iter().map(|a| a.took).max().unwrap_or_default();
    eprintln!("{} answers under load; slowest {slowest:?}", answers.len());
    for answer in answers.iter() {
        assert!(
            answer.took <= ANSWER_BOUND,
            "an answer took over {ANSWER_BOUND:?}: {answer:?}"
        );
        assert!(
            answer.status != StatusCode::INTERNAL_SERVER_ERROR,
            "a 500 during the outage: {answer:?}"
        );
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_clear_503(answer);
        } else {
            assert!(
                answer.status.is_success(),
                "neither success nor 503: {answer:?}"
            );
        }
    }
    // Requests that started well into the cut and ended before the restore: each kind ran. Those
    // that need the database (the user list, a write) were every one refused; a client credentials
    // token, an introspection and a profile the view remembers are answered from the access view,
    // which is still within `--view-max-staleness`, so they may succeed (correctly) or be refused —
    // never more.
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.started > cut_at + Duration::from_millis(100))
        .filter(|a| a.started + a.took < restored_at)
        .collect();
    for (what, needs_the_database) in [
        ("/v2/users/me", false),
        ("/v2/users", true),
        ("/oauth/token", false),
        ("/oauth/introspect", false),
        ("POST /v2/users", true),
    ] {
        let of_kind: Vec<_> = during.iter().filter(|a| a.what == what).collect();
        assert!(!of_kind.is_empty(), "no {what} ran during the cut");
        for answer in of_kind {
            if needs_the_database || answer.status != StatusCode::OK {
                assert_clear_503(answer);
            }
        }
    }

    // Nothing half-done: every user the load created exists with exactly one audit entry, and a
    // write refused with 503 either committed whole (user and entry) or left nothing.
    let created: Vec<&str> = answers
        .iter()
        .filter(|a| a.what == "POST /v2/users" && a.status == StatusCode::CREATED)
        .map(|a| a.body["id"].as_str().expect("a created user's id"))
        .collect();
    let committed = created.len();
    let users: Vec<(String, i64)> = sqlx::query_as(
        "SELECT u.id, (SELECT COUNT(*) FROM audit_log a \
                        WHERE a.action = 'user.created' AND a.target_id = u.id) \
         FROM users u WHERE u.email LIKE 'load-%'",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("the users the load created");
    for (id, entries) in &users {
        assert_eq!(*entries, 1, "user {id} has {entries} creation entries");
    }
    for id in &created {
        assert!(
            users.iter().any(|(user, _)| user == id),
            "user {id} was answered 201 but does not exist"
        );
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log a WHERE a.action = 'user.created' \
         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.target_id)",
    )
    .fetch_one(db.store.pool())
    .await
    .expect("audit entries without their user");
    assert_eq!(orphans, 0, "an audit entry whose change did not commit");
    assert!(
        users.len() >= committed,
        "{committed} creations answered 201 but only {} users exist",
        users.len()
    );
    eprintln!(
        "writes: {committed} answered 201, {} users exist (the rest of the 503s left nothing)",
        users.len()
    );
    live.assert_nothing_secret_logged();
    drop(live);
    drop(proxy);
    db.finish().await;
}

#[tokio::test]
async fn a_node_whose_view_is_stale_past_the_bound_refuses_instead_of_honouring_a_revoked_grant() {
    let Some((db, proxy, live)) = node_behind_proxy().await else {
        return;
    };
    let token = server_token(&live, BACKEND.0, BACKEND.1).await;
    // Time alone does not make a reachable node refuse: past the bound it catches up first.
    db.clock.advance_seconds(60);
    let (status, body) = call(&live, &token, Method::GET, "/v2/users/me", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Cut off from its database, the node does not see the Backend app uninstalled elsewhere…
    proxy.cut();
    db.store
        .uninstall_app(&Actor::System("test".into()), "acme", "backend", "test")
        .await
        .expect("uninstalled through another node");
    // …and once its view is older than the bound (10 s), it refuses rather than decide on it.
    db.clock.advance_seconds(11);
    let ask = |what: &'static str| {
        let (live, token) = (&live, token.clone());
        async move {
            let started = Instant::now();
            let (status, body) = match what {
                "/v2/users/me" => call(live, &token, Method::GET, what, None).await,
                "/oauth/token" => token_answer(live).await,
                "/oauth/introspect" => introspect_answer(live, &token).await,
                "/oauth/revoke" => revoke_answer(live, &token).await,
                _ => call(live, "", Method::GET, what, None).await,
            };
            Answer {
                what,
                status,
                body,
                took: started.elapsed(),
                started,
            }
        }
    };
    for what in [
        "/v2/users/me",
        "/oauth/token",
        "/oauth/introspect",
        "/oauth/revoke",
    ] {
        let answer = ask(what).await;
        assert_clear_503(&answer);
        let words = answer.body["message"]
            .as_str()
            .or(answer.body["reason"].as_str())
            .unwrap_or_default();
        assert!(words.contains("view of grants is stale"), "{answer:?}");
        assert!(answer.took <= ANSWER_BOUND, "{answer:?}");
    }
    let ready = ask("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");

    // Back in touch, it catches up by itself: the revoked grant is refused, never honoured.
    proxy.restore().await;
    let started = Instant::now();
    loop {
        let answer = ask("/v2/users/me").await;
        if answer.status != StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                (answer.status, answer.body["code"].as_i64()),
                (StatusCode::UNAUTHORIZED, Some(124)),
                "{answer:?}"
            );
            break;
        }
        assert!(started.elapsed() < RECOVERY_BOUND, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = ask("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    drop(live);
    drop(proxy);
    db.finish().await;
}

/// A database that stops answering without closing anything (every packet silently dropped): no
/// error ever ends the wait, so the request deadline (`--request-timeout`, here 2 s) does — 503 in
/// the surface's words, within the bound — and once the network is back the node serves again.
#[tokio::test]
async fn a_database_that_silently_stops_answering_gets_503_at_the_request_deadline() {
    let Some((db, proxy, live)) =
        node_behind_proxy_configured(|config| config.request_timeout = Duration::from_secs(2))
            .await
    else {
        return;
    };
    let admin = server_token(&live, ADMIN_BOT.0, ADMIN_BOT.1).await;
    let backend = server_token(&live, BACKEND.0, BACKEND.1).await;
    proxy.stall();
    let started = Instant::now();
    let new_user =
        json!({"action": "create", "user_info": {"email": "silent@acme.test", "type": 1}});
    let (status, body) = call(&live, &admin, Method::POST, "/v2/users", Some(new_user)).await;
    let took = started.elapsed();
    assert_clear_503(&Answer {
        what: "/v2/users",
        status,
        body: body.clone(),
        took,
        started,
    });
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not answered within 2 s")),
        "{body}"
    );
    assert!(took < ANSWER_BOUND, "{took:?}");
    let started = Instant::now();
    let (status, body) = revoke_answer(&live, &backend).await;
    let answer = Answer {
        what: "/oauth/revoke",
        status,
        body,
        took: started.elapsed(),
        started,
    };
    assert_clear_503(&answer);
    assert!(answer.took < ANSWER_BOUND, "{answer:?}");

    // The network comes back (the stalled connections break, as they would once TCP gives up).
    proxy.cut();
    proxy.restore().await;
    until_ok("GET /v2/users/me", || {
        call(&live, &admin, Method::GET, "/v2/users/me", None)
    })
    .await;
    db.finish().await;
}
