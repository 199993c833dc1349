//! `GET /metrics` (operations.md "Observability"): every series is there from the first scrape
//! and moves when its event happens — requests by route template and status, tokens by grant
//! type, denials by rule step, refresh reuse, rate-limit refusals, webhook deliveries by outcome,
//! the outbox lag and the access view's lag — and only the clients the access rule admits read it.
//!
//! Each server has its own registry ([`accord_server::Metrics`]), so a test reads exact values of
//! the server it drives, whatever the other tests of this binary do at the same time.

use accord_core::grants::GrantKind;
use accord_server::metrics::GRANT_TYPES;
use accord_testkit::on_every_backend;
use reqwest::StatusCode;

use crate::live::Live;
use crate::support::TestServer;
use crate::tokens::{code_for, post, str_of};
use crate::webhooks_delivery::{Receiver, Reply, raise, seed_apps};

/// A scrape: the Prometheus text of a server, read from a loopback client.
struct Scrape(String);

impl Scrape {
    async fn of(http: &reqwest::Client, base: &str) -> Scrape {
        let response = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("a scrape");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        Scrape(response.text().await.expect("a body"))
    }

    /// The value of the sample `name` whose labels include every one of `labels`; `None` when the
    /// scrape has no such sample.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (series_name, series_labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let matches = series_name == name
                    && labels.iter().all(|(k, v)| {
                        series_labels
                            .split(',')
                            .any(|l| l == format!("{k}=\"{v}\""))
                    });
                matches.then(|| value.parse().expect("a number"))
            })
    }

    /// [`Scrape::value`], required to be there.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{}", self.0))
    }

    /// Whether the scrape describes `name` (a `# HELP` and a `# TYPE` line).
    fn describes(&self, name: &str, kind: &str) -> bool {
        self.0.contains(&format!("# HELP {name} "))
            && self.0.contains(&format!("# TYPE {name} {kind}"))
    }
}

const NOTES: (&str, &str) = ("notes-prod", "notes-prod-secret-0123456789");
const BACKEND: (&str, &str) = ("backend-prod", "backend-prod-secret-0123456789");

async fn token(live: &Live, client: (&str, &str), form: &[(&str, &str)]) -> serde_json::Value {
    let (status, _, body) = post(live, "/oauth/token", Some(client), form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    live.secret(str_of(&body, "access_token"));
    if let Some(refresh) = body["refresh_token"].as_str() {
        live.secret(refresh);
    }
    body
}

async fn get(live: &Live, path: &str, bearer: &str) -> StatusCode {
    live.http
        .get(format!("{}{path}", live.url))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("a request")
        .status()
}

#[tokio::test]
async fn every_series_is_there_from_the_start_and_moves_with_its_event() {
    on_every_backend(|db| async move {
        let live = crate::tokens::start(db).await;
        let before = Scrape::of(&live.http, &live.url).await;
        // Request series appear with the first request answered (this scrape counts once done).
        for (name, kind) in [
            ("accord_tokens_issued_total", "counter"),
            ("accord_permission_denials_total", "counter"),
            ("accord_refresh_token_reuse_total", "counter"),
            ("accord_rate_limited_total", "counter"),
            ("accord_webhook_deliveries_total", "counter"),
            ("accord_webhook_outbox_lag_seconds", "gauge"),
            ("accord_access_view_sync_lag_seconds", "gauge"),
        ] {
            assert!(
                before.describes(name, kind),
                "{name} is not described:\n{}",
                before.0
            );
        }
        for grant_type in GRANT_TYPES {
            let issued = before.get("accord_tokens_issued_total", &[("grant_type", grant_type)]);
            assert_eq!(issued, 0.0, "{grant_type}");
        }
        for step in ["token", "tenant", "scope", "reach", "business"] {
            assert_eq!(
                before.get("accord_permission_denials_total", &[("step", step)]),
                0.0
            );
        }
        assert_eq!(before.get("accord_refresh_token_reuse_total", &[]), 0.0);
        for outcome in ["delivered", "retry", "failed"] {
            let deliveries = before.get("accord_webhook_deliveries_total", &[("outcome", outcome)]);
            assert_eq!(deliveries, 0.0);
        }
        let light = [("category", "light"), ("limit", "per_second")];
        assert_eq!(before.get("accord_rate_limited_total", &light), 0.0);
        let daily = [("category", "medium"), ("limit", "daily_meetings")];
        assert_eq!(before.get("accord_rate_limited_total", &daily), 0.0);

        // A token of every grant type (a code, its refresh, both server grants).
        let code = code_for(
            &live,
            "notes",
            NOTES.0,
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let first = token(
            &live,
            NOTES,
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;
        let first_refresh = str_of(&first, "refresh_token").to_owned();
        let notes = token(
            &live,
            NOTES,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first_refresh),
            ],
        )
        .await;
        let notes = str_of(&notes, "access_token").to_owned();
        token(
            &live,
            BACKEND,
            &[
                ("grant_type", "account_credentials"),
                ("account_id", "acme"),
            ],
        )
        .await;
        let backend = token(&live, BACKEND, &[("grant_type", "client_credentials")]).await;
        let backend = str_of(&backend, "access_token").to_owned();
        // A refused grant issues nothing.
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            Some(NOTES),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Denials: no valid token (step 1), a scope the token lacks (3), another tenant's user (2).
        assert_eq!(
            get(&live, "/v2/users/me", "not-a-token").await,
            StatusCode::UNAUTHORIZED
        );
        assert!(get(&live, "/v2/users", &notes).await.is_client_error());
        let other_tenant = get(&live, "/v2/users/globex-gina", &backend).await;
        assert!(other_tenant.is_client_error(), "{other_tenant}");
        // Another user of her account is out of a member's reach (4); the owner may not be
        // deleted (5, a business rule).
        assert!(get(&live, "/v2/users/acme-adam", &notes).await.is_client_error());
        let admin_bot = token(
            &live,
            ("admin-bot-prod", "admin-bot-prod-secret-0123456789"),
            &[("grant_type", "client_credentials")],
        )
        .await;
        let admin_bot = str_of(&admin_bot, "access_token").to_owned();
        let deletion = live
            .http
            .delete(format!("{}/v2/users/acme-olive", live.url))
            .bearer_auth(&admin_bot)
            .send()
            .await
            .expect("DELETE /v2/users/acme-olive");
        assert!(deletion.status().is_client_error(), "{}", deletion.status());

        // Refresh reuse: the rotated-out token after the grace window.
        live.db.clock.advance_seconds(61);
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            Some(NOTES),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first_refresh),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "reuse");

        // A rate-limit refusal: the frozen clock keeps every call in the same second.
        let mut refused = false;
        for _ in 0..40 {
            if get(&live, "/v2/users/me", &backend).await == StatusCode::TOO_MANY_REQUESTS {
                refused = true;
                break;
            }
        }
        assert!(refused, "31 light calls in one second were all admitted");
        // A daily-meetings refusal: Acme allows one meeting a day per host.
        let one_a_day = accord_store::accounts::AccountChange {
            rate_limits: vec![
                accord_core::rate_limits::RateLimitChange::parse("meetings=1/day")
                    .expect("a change"),
            ],
            ..Default::default()
        };
        live.db
            .store
            .update_account(&accord_store::audit::Actor::cli(), "acme", one_a_day)
            .await
            .expect("changed");
        let mut created = Vec::new();
        for topic in ["First", "Second"] {
            let answer = live
                .http
                .post(format!("{}/v2/users/me/meetings", live.url))
                .bearer_auth(&admin_bot)
                .json(&serde_json::json!({"topic": topic, "type": 2, "start_time": "2026-12-01T10:00:00Z"}))
                .send()
                .await
                .expect("POST /v2/users/me/meetings");
            created.push(answer.status());
        }
        assert_eq!(
            created,
            [StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS]
        );

        let after = Scrape::of(&live.http, &live.url).await;
        for grant_type in GRANT_TYPES {
            let issued = after.get("accord_tokens_issued_total", &[("grant_type", grant_type)]);
            // Two server apps' tokens (Backend's and Admin Bot's); one of every other type.
            let expected = if grant_type == "client_credentials" { 2.0 } else { 1.0 };
            assert_eq!(issued, expected, "{grant_type}");
        }
        assert_eq!(
            after.get("accord_permission_denials_total", &[("step", "token")]),
            1.0
        );
        assert_eq!(
            after.get("accord_permission_denials_total", &[("step", "scope")]),
            1.0
        );
        for step in ["tenant", "reach", "business"] {
            assert_eq!(
                after.get("accord_permission_denials_total", &[("step", step)]),
                1.0,
                "{step}"
            );
        }
        assert_eq!(after.get("accord_refresh_token_reuse_total", &[]), 1.0);
        assert_eq!(after.get("accord_rate_limited_total", &light), 1.0);
        let daily = [("category", "medium"), ("limit", "daily_meetings")];
        assert_eq!(after.get("accord_rate_limited_total", &daily), 1.0);

        // Requests by route template (never the raw path) and status, with their latency.
        assert!(after.describes("accord_http_requests_total", "counter"));
        assert!(after.describes("accord_http_request_duration_seconds", "histogram"));
        let token_ok = [
            ("route", "/oauth/token"),
            ("method", "POST"),
            ("status", "200"),
        ];
        assert_eq!(after.get("accord_http_requests_total", &token_ok), 5.0);
        let token_refused = [
            ("route", "/oauth/token"),
            ("method", "POST"),
            ("status", "400"),
        ];
        assert_eq!(after.get("accord_http_requests_total", &token_refused), 2.0);
        let by_id = [("route", "/v2/users/{userId}"), ("status", "429")];
        assert_eq!(after.get("accord_http_requests_total", &by_id), 1.0);
        assert!(
            !after.0.contains("globex-gina"),
            "a raw path became a label"
        );
        let scrapes = [("route", "/metrics"), ("status", "200")];
        assert_eq!(
            after.get("accord_http_requests_total", &scrapes),
            1.0,
            "the first scrape"
        );
        let latency = [("route", "/oauth/token"), ("method", "POST")];
        assert_eq!(
            after.get("accord_http_request_duration_seconds_count", &latency),
            7.0
        );
        let bucket = [
            ("route", "/oauth/token"),
            ("method", "POST"),
            ("le", "+Inf"),
        ];
        assert_eq!(
            after.get("accord_http_request_duration_seconds_bucket", &bucket),
            7.0
        );
        assert!(
            after
                .value("accord_http_requests_total", &[("route", "/v2/users/me")])
                .is_none()
        );

        // The view's lag: how long since it was last brought up to date, by the store's clock.
        let lag = after.get("accord_access_view_sync_lag_seconds", &[]);
        assert!((0.0..=61.0).contains(&lag), "{lag}");
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn webhook_deliveries_count_by_outcome_and_the_worker_measures_the_outbox_lag() {
    on_every_backend(|db| async move {
        // The receiver fails the first delivery, accepts the second and fails every later one.
        let receiver = Receiver::start(|n| Reply::Status(if n == 2 { 200 } else { 500 })).await;
        seed_apps(&db.store, &[("hooked", &receiver.url)]).await;
        let server = TestServer::start(&db).await;
        let http = reqwest::Client::new();
        let before = Scrape::of(&http, &server.base).await;
        assert_eq!(before.get("accord_webhook_outbox_lag_seconds", &[]), 0.0);

        raise(&db.store, "hooked", 1).await;
        db.clock.advance_seconds(30);
        let report = server.deliver_webhooks().await;
        assert_eq!(report.retrying, 1, "{report:?}");
        let retried = Scrape::of(&http, &server.base).await;
        // Measured as the pass began: the event had been due for 30 s.
        assert_eq!(retried.get("accord_webhook_outbox_lag_seconds", &[]), 30.0);
        let outcome = |scrape: &Scrape, outcome| {
            scrape.get("accord_webhook_deliveries_total", &[("outcome", outcome)])
        };
        assert_eq!(outcome(&retried, "retry"), 1.0);
        assert_eq!(outcome(&retried, "delivered"), 0.0);

        // The retry is due within 5 minutes (± jitter); 10 minutes on, it is sent and accepted.
        db.clock.advance_seconds(600);
        let report = server.deliver_webhooks().await;
        assert_eq!(report.delivered, 1, "{report:?}");
        let delivered = Scrape::of(&http, &server.base).await;
        assert_eq!(outcome(&delivered, "retry"), 1.0);
        assert_eq!(outcome(&delivered, "delivered"), 1.0);
        assert_eq!(outcome(&delivered, "failed"), 0.0);
        let lag = delivered.get("accord_webhook_outbox_lag_seconds", &[]);
        assert!(
            lag > 0.0 && lag <= 600.0,
            "the retry waited since it came due: {lag}"
        );

        // Nothing due any more: the next pass measures no lag.
        server.deliver_webhooks().await;
        let idle = Scrape::of(&http, &server.base).await;
        assert_eq!(idle.get("accord_webhook_outbox_lag_seconds", &[]), 0.0);

        // An event the receiver refuses every time: three retries, then the fourth attempt fails
        // for good and counts as `failed`.
        raise(&db.store, "hooked", 2).await;
        let mut failed = 0;
        for _ in 0..4 {
            failed += server.deliver_webhooks().await.failed;
            db.clock.advance_seconds(2 * 3600);
        }
        assert_eq!(failed, 1);
        let given_up = Scrape::of(&http, &server.base).await;
        assert_eq!(outcome(&given_up, "retry"), 4.0);
        assert_eq!(outcome(&given_up, "delivered"), 1.0);
        assert_eq!(outcome(&given_up, "failed"), 1.0);
    })
    .await;
}

#[tokio::test]
async fn with_a_metrics_token_a_scrape_needs_it_and_with_a_separate_listener_the_main_one_has_none()
{
    on_every_backend(|db| async move {
        let server = TestServer::start_configured(
            &db,
            |base| base.to_owned(),
            |config| config.metrics.token = Some("scrape-token-0123456789".into()),
        )
        .await;
        let http = reqwest::Client::new();
        let url = format!("{}/metrics", server.base);
        for bearer in [None, Some("wrong-token"), Some("scrape-token-012345678")] {
            let mut request = http.get(&url);
            if let Some(bearer) = bearer {
                request = request.bearer_auth(bearer);
            }
            let response = request.send().await.expect("an answer");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{bearer:?}");
            let body: serde_json::Value = response.json().await.expect("Zoom's error shape");
            assert_eq!(body["code"], 403, "{body}");
        }
        let response = http
            .get(&url)
            .bearer_auth("scrape-token-0123456789")
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("accord_tokens_issued_total")
        );

        // `--metrics-bind`: the main listener answers 404, the metrics router serves the text.
        let separate = TestServer::start_configured(
            &db,
            |base| base.to_owned(),
            |config| config.metrics.separate_listener = true,
        )
        .await;
        let main = http
            .get(format!("{}/metrics", separate.base))
            .send()
            .await
            .unwrap();
        assert_eq!(main.status(), StatusCode::NOT_FOUND);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(accord_server::serve(
            listener,
            accord_server::metrics_router(separate.state.clone()),
            accord_server::ConnectionLimits::default(),
            std::future::pending(),
        ));
        let scrape = Scrape::of(&http, &base).await;
        // The 404 the main listener answered counts on the same server's registry.
        let unmatched = [("route", "unmatched"), ("status", "404")];
        assert_eq!(scrape.get("accord_http_requests_total", &unmatched), 1.0);
        task.abort();
    })
    .await;
}
