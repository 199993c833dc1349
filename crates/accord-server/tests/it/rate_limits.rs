//! Rate limits across several nodes (api.md "Rate limits", operations.md "Many nodes"): with
//! `--redis` every node counts in one Redis counter, so the account's limit holds for the cluster;
//! without it, `--nodes N` makes each node enforce its share. Two `AppState`s over one database
//! are the two nodes; the test clock is frozen, so "one second" is exactly the test's to decide.
//!
//! The Redis tests need `ACCORD_TEST_REDIS_URL` (scripts/test sets it when Redis answers) and
//! use keys under a prefix of their own.

use accord_core::clock::Timestamp;
use accord_core::endpoints::RateLimitCategory;
use accord_server::api::limits::{Decision, Limiter, LimitsConfig};
use accord_server::api::shared_limits::SharedLimits;
use accord_server::{AppState, ServerConfig, router};
use accord_testkit::{TestDbRef, on_every_backend, redis_url};
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use serde_json::Value;
use tower::ServiceExt;

use crate::tokens::FIXTURE;

fn fresh_prefix() -> String {
    format!("accord-test-{}", accord_store::secrets::new_id())
}

async fn node(db: &TestDbRef, redis: Option<&str>, prefix: &str, nodes: u32) -> AppState {
    let mut config = ServerConfig::new("http://accord.test");
    config.redis_url = redis.map(str::to_owned);
    config.redis_prefix = prefix.to_owned();
    config.nodes = nodes;
    AppState::new(db.store.clone(), config)
        .await
        .expect("a node")
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("an answer");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A server token of Acme's `backend` app (`user:read:admin`), from `state`.
async fn token(state: &AppState) -> String {
    client_token(state, "backend").await
}

async fn me(state: &AppState, token: &str) -> (StatusCode, HeaderMap) {
    let request = Request::get("/v2/users/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request");
    let (status, headers, _) = send(state, request).await;
    (status, headers)
}

async fn seeded(db: &TestDbRef) {
    let seed = accord_store::seed::parse("fixture", FIXTURE).expect("the fixture parses");
    accord_store::seed::apply(&db.store, "fixture", &seed)
        .await
        .expect("the fixture applies");
}

/// Light calls alternating between `nodes` until one is refused: how many the cluster admitted,
/// and the refusal's headers.
async fn admitted_until_refused(nodes: &[AppState], token: &str) -> (usize, HeaderMap) {
    for call in 0..200 {
        let (status, headers) = me(&nodes[call % nodes.len()], token).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return (call, headers);
        }
        assert_eq!(status, StatusCode::OK);
    }
    panic!("200 calls in one frozen second were all admitted");
}

#[tokio::test]
async fn with_redis_two_nodes_admit_the_accounts_limit_together_not_each() {
    let Some(redis) = redis_url() else { return };
    on_every_backend(|db| {
        let redis = redis.clone();
        async move {
            seeded(&db).await;
            let prefix = fresh_prefix();
            let nodes = [
                node(&db, Some(&redis), &prefix, 1).await,
                node(&db, Some(&redis), &prefix, 1).await,
            ];
            assert!(nodes.iter().all(|n| n.limits().is_shared()));
            let token = token(&nodes[0]).await;
            let (admitted, refusal) = admitted_until_refused(&nodes, &token).await;
            assert_eq!(admitted, 30, "Light is 30 per second for the whole cluster");
            assert_eq!(
                refusal.get("retry-after").map(|v| v.as_bytes()),
                Some(&b"1"[..])
            );
            assert_eq!(
                refusal.get("x-ratelimit-limit").map(|v| v.as_bytes()),
                Some(&b"30"[..])
            );
            // Both nodes refuse now; a second later both admit again.
            assert_eq!(me(&nodes[1], &token).await.0, StatusCode::TOO_MANY_REQUESTS);
            db.clock.advance_seconds(1);
            assert_eq!(me(&nodes[1], &token).await.0, StatusCode::OK);
            assert_eq!(me(&nodes[0], &token).await.0, StatusCode::OK);
        }
    })
    .await;
}

#[tokio::test]
async fn without_redis_each_of_two_nodes_enforces_its_share() {
    on_every_backend(|db| async move {
        seeded(&db).await;
        let prefix = fresh_prefix();
        // Not told about each other, two nodes admit the limit each: twice the account's limit.
        let alone = [
            node(&db, None, &prefix, 1).await,
            node(&db, None, &prefix, 1).await,
        ];
        let token = token(&alone[0]).await;
        assert_eq!(admitted_until_refused(&alone, &token).await.0, 60);
        // With --nodes 2 each enforces ceil(30 / 2): evenly spread calls get the limit, no more.
        db.clock.advance_seconds(1);
        let sharing = [
            node(&db, None, &prefix, 2).await,
            node(&db, None, &prefix, 2).await,
        ];
        let (admitted, refusal) = admitted_until_refused(&sharing, &token).await;
        assert_eq!(admitted, 30);
        assert_eq!(
            refusal.get("x-ratelimit-limit").map(|v| v.as_bytes()),
            Some(&b"30"[..])
        );
    })
    .await;
}

/// The Redis script and the local limiter decide alike: the same calls at the same times get the
/// same answers, headers included, over bursts, waits, rate changes and the day's meeting limit.
#[tokio::test]
async fn the_redis_script_decides_exactly_as_the_local_limiter() {
    let Some(redis) = redis_url() else { return };
    let prefix = fresh_prefix();
    let shared = SharedLimits::connect(&redis, &prefix)
        .await
        .expect("Redis answers");
    let mut config = LimitsConfig::default();
    config.defaults.daily_meetings_per_host = 7;
    let remote = Limiter::with_shared(config.clone(), shared);
    let local = Limiter::new(config);
    // A fixed pseudo-random walk: accounts, categories, hosts and steps of 0–400 ms.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut now = Timestamp(1_795_867_200_000);
    let categories = [
        RateLimitCategory::Light,
        RateLimitCategory::Medium,
        RateLimitCategory::Heavy,
    ];
    let (mut refused, mut admitted) = (0, 0);
    for step in 0..3000 {
        now = Timestamp(now.millis() + (next(5) * next(100)) as i64);
        let account = ["acme", "globex"][next(2) as usize];
        let (a, b): (Decision, Decision) = if next(10) == 0 {
            let host = ["h1", "h2"][next(2) as usize];
            let category = RateLimitCategory::Medium;
            (
                remote
                    .admit_daily_meetings(account, category, host, now)
                    .await,
                local.check_daily_meetings(account, category, host, now),
            )
        } else {
            let category = categories[next(3) as usize];
            (
                remote.admit(account, category, now).await,
                local.check(account, category, now),
            )
        };
        assert_eq!(a, b, "step {step} at {}", now.millis());
        if a.allowed {
            admitted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        admitted > 1000 && refused > 150,
        "{admitted} admitted, {refused} refused"
    );
}

#[tokio::test]
async fn a_node_told_to_use_a_redis_that_does_not_answer_refuses_to_start_without_showing_its_password()
 {
    on_every_backend(|db| async move {
        let mut config = ServerConfig::new("http://accord.test");
        config.redis_url = Some("redis://:hunter2-redis-password@127.0.0.1:1".into());
        let error = AppState::new(db.store.clone(), config)
            .await
            .err()
            .expect("no node without its Redis")
            .to_string();
        assert!(
            error.contains("cannot reach Redis at redis://:***@127.0.0.1:1"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "the password shows: {error}");
    })
    .await;
}

/// A Redis of the test's own, on a free port, stopped when dropped.
struct PrivateRedis {
    child: std::process::Child,
    url: String,
}

impl PrivateRedis {
    fn start() -> Option<PrivateRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        Some(PrivateRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        })
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis going away under a running node costs precision, not answers: checks fall back to the
/// node's own limiter and keep deciding.
#[tokio::test]
async fn when_redis_goes_away_a_node_keeps_limiting_on_its_own() {
    if redis_url().is_none() {
        return;
    }
    let Some(mut redis) = PrivateRedis::start() else {
        panic!(
            "{} is set but redis-server cannot be started",
            accord_testkit::REDIS_ENV
        );
    };
    let mut shared = None;
    for _ in 0..100 {
        if let Ok(connected) = SharedLimits::connect(&redis.url, &fresh_prefix()).await {
            shared = Some(connected);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let limiter = Limiter::with_shared(LimitsConfig::default(), shared.expect("its Redis answers"));
    let now = Timestamp(1_795_867_200_000);
    let light = RateLimitCategory::Light;
    for _ in 0..10 {
        assert!(limiter.admit("acme", light, now).await.allowed);
    }
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    // The node's own limiter takes over (it has not seen the 10 calls Redis counted).
    let decisions = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut decisions = Vec::new();
        for _ in 0..31 {
            decisions.push(limiter.admit("acme", light, now).await);
        }
        decisions
    })
    .await
    .expect("checks keep answering without Redis");
    assert!(decisions[..30].iter().all(|d| d.allowed));
    assert!(
        !decisions[30].allowed,
        "and still limit: {:?}",
        decisions[30]
    );
}

/// A server app of Globex, so the test has a token of another account.
const GLOBEX_BOT: &str = r#"{"apps": [
  {"id": "globex-bot", "name": "Globex Bot", "kind": "server", "developer": "gina@globex.test",
   "scopes": ["user:read:admin"],
   "credentials": {"production": {"client_id": "globex-bot-prod", "client_secret": "globex-bot-prod-secret-0123456789"}}}
]}"#;

/// A server token of the app whose production client is `{client}-prod`.
async fn client_token(state: &AppState, client: &str) -> String {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{client}-prod:{client}-prod-secret-0123456789"));
    let request = Request::post("/oauth/token")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=client_credentials"))
        .expect("a request");
    let (status, _, body) = send(state, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().expect("a token").to_owned()
}

/// Light calls (`GET /v2/users/me`) in the frozen second until one is refused: how many were
/// admitted, and the refusal's headers and body.
async fn light_calls_until_refused(state: &AppState, token: &str) -> (usize, HeaderMap, Value) {
    for call in 0..100 {
        let request = Request::get("/v2/users/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("a request");
        let (status, headers, body) = send(state, request).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return (call, headers, body);
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    panic!("100 Light calls in one frozen second were all admitted");
}

/// Waits (at most 10 s) until `node`'s access view — kept current by its own watcher, as in a
/// running `accord serve` — shows `acme`'s limits as `expected`.
async fn until_the_node_learns(node: &AppState, expected: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = node.store().view().rate_limits("acme").to_string();
        if seen == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 10 s the node still sees {seen}, not {expected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// An account's own limit, changed elsewhere (here through another store handle, as the CLI does
/// from its own process), is applied by a server already running on its own store: its access view
/// learns the change from the change feed, and its limiter reads the view. Another account keeps
/// the default, and clearing the limit brings the default back — no restart anywhere.
#[tokio::test]
async fn a_running_server_applies_an_accounts_own_limit_once_changed_elsewhere() {
    on_every_backend(|db| async move {
        seeded(&db).await;
        let extra = accord_store::seed::parse("globex-bot", GLOBEX_BOT).expect("parses");
        accord_store::seed::apply(&db.store, "globex-bot", &extra)
            .await
            .expect("applies");
        // The running server: its own pool, access view and watcher over the same database.
        let dir = tempfile::tempdir().expect("a folder");
        let config = accord_store::StoreConfig {
            data_dir: Some(dir.path().to_path_buf()),
            master_key: Some(db.master_key.clone()),
            password_cost: accord_store::secrets::PasswordCost::TESTING,
            max_connections: 5,
            ..accord_store::StoreConfig::new(db.database_url.clone())
        };
        let store = accord_store::Store::open_with_clock(
            &config,
            std::sync::Arc::new(db.clock.clone()),
        )
        .await
        .expect("the server's store");
        let server = AppState::new(store, ServerConfig::new("http://accord.test"))
            .await
            .expect("a server");
        let acme = client_token(&server, "backend").await;
        let globex = client_token(&server, "globex-bot").await;

        let change = |texts: &[&str]| accord_store::accounts::AccountChange {
            rate_limits: texts
                .iter()
                .map(|t| accord_core::rate_limits::RateLimitChange::parse(t).expect("a change"))
                .collect(),
            ..Default::default()
        };
        db.store
            .update_account(
                &accord_store::audit::Actor::cli(),
                "acme",
                change(&["light=3/s"]),
            )
            .await
            .expect("changed");
        until_the_node_learns(&server, "light 3/s").await;

        let (admitted, headers, body) = light_calls_until_refused(&server, &acme).await;
        assert_eq!(admitted, 3, "Acme's own Light limit is 3 per second");
        for (name, value) in [
            ("x-ratelimit-category", "Light"),
            ("x-ratelimit-type", "QPS"),
            ("x-ratelimit-limit", "3"),
            ("x-ratelimit-remaining", "0"),
            ("retry-after", "1"),
        ] {
            assert_eq!(
                headers.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name}"
            );
        }
        assert_eq!(
            body,
            serde_json::json!({"code": 429, "message": accord_server::api::limits::PER_SECOND_MESSAGE})
        );
        // Globex keeps the default, in the same second.
        let (admitted, headers, _) = light_calls_until_refused(&server, &globex).await;
        assert_eq!(admitted, 30);
        assert_eq!(
            headers.get("x-ratelimit-limit").map(|v| v.as_bytes()),
            Some(&b"30"[..])
        );

        db.store
            .update_account(
                &accord_store::audit::Actor::cli(),
                "acme",
                change(&["light=default"]),
            )
            .await
            .expect("cleared");
        until_the_node_learns(&server, "defaults").await;
        db.clock.advance_seconds(1);
        let (admitted, headers, _) = light_calls_until_refused(&server, &acme).await;
        assert_eq!(admitted, 30, "back to the default");
        assert_eq!(
            headers.get("x-ratelimit-limit").map(|v| v.as_bytes()),
            Some(&b"30"[..])
        );
        server.store().pool().close().await;
    })
    .await;
}
