//! `GET /metrics`: the server's counters, histograms and gauges in Prometheus text
//! (operations.md "Observability"), and who may read them.
//!
//! Every series is named here, once, with its help text ([`SERIES`]); the hooks call the typed
//! methods of [`Metrics`] (`token_issued`, `denied`, …), never a metric name. Each [`AppState`]
//! owns one registry (a `metrics-exporter-prometheus` recorder used directly, not installed as
//! the process-wide recorder): a deployed process runs one server, so its registry is the
//! process's, while the tests — many servers in one process — read exact values of the server
//! they drive instead of totals shared with every other test.
//!
//! Access ([`MetricsAccess`]): with `--metrics-token` a scrape must carry it as a bearer token;
//! without, only loopback clients may scrape. With `--metrics-bind` the route moves to a listener
//! of its own ([`metrics_router`]) and leaves the main one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use subtle::ConstantTimeEq;

use crate::errors::ApiError;
use crate::state::AppState;

/// Requests answered, by route template, method and status.
pub const HTTP_REQUESTS: &str = "accord_http_requests_total";
/// Time to answer, by route template and method.
pub const HTTP_DURATION: &str = "accord_http_request_duration_seconds";
/// Access tokens issued, by grant type.
pub const TOKENS_ISSUED: &str = "accord_tokens_issued_total";
/// Requests the permission rule refused, by the step that failed.
pub const DENIALS: &str = "accord_permission_denials_total";
/// Rotated-out refresh tokens presented after the grace window (their family revoked).
pub const REFRESH_REUSE: &str = "accord_refresh_token_reuse_total";
/// Calls refused by a rate limit, by category and limit.
pub const RATE_LIMITED: &str = "accord_rate_limited_total";
/// Webhook delivery attempts, by outcome.
pub const WEBHOOK_DELIVERIES: &str = "accord_webhook_deliveries_total";
/// Age of the oldest due, undelivered webhook event when the worker last looked.
pub const OUTBOX_LAG: &str = "accord_webhook_outbox_lag_seconds";
/// Seconds since the access view was last brought up to date.
pub const VIEW_SYNC_LAG: &str = "accord_access_view_sync_lag_seconds";

/// Kinds of series, for their help lines.
enum Kind {
    Counter,
    Histogram,
    Gauge,
}

/// Every series with its kind and help text (the README lists the same).
const SERIES: [(&str, Kind, &str); 9] = [
    (
        HTTP_REQUESTS,
        Kind::Counter,
        "HTTP requests answered, by route template, method and status.",
    ),
    (
        HTTP_DURATION,
        Kind::Histogram,
        "Time to answer an HTTP request, by route template and method.",
    ),
    (
        TOKENS_ISSUED,
        Kind::Counter,
        "Access tokens issued, by grant type.",
    ),
    (
        DENIALS,
        Kind::Counter,
        "Requests the permission rule refused, by the step that failed.",
    ),
    (
        REFRESH_REUSE,
        Kind::Counter,
        "Rotated-out refresh tokens presented again after the grace window; each revoked its family.",
    ),
    (
        RATE_LIMITED,
        Kind::Counter,
        "Calls refused by a rate limit, by category (light, medium, heavy) and limit (per_second, daily_meetings).",
    ),
    (
        WEBHOOK_DELIVERIES,
        Kind::Counter,
        "Webhook delivery attempts, by outcome (delivered, retry, failed).",
    ),
    (
        OUTBOX_LAG,
        Kind::Gauge,
        "Age of the oldest due webhook event not yet delivered, when the delivery worker last looked.",
    ),
    (
        VIEW_SYNC_LAG,
        Kind::Gauge,
        "Seconds since the in-memory access view was last brought up to date.",
    ),
];

/// The grant types `POST /oauth/token` issues tokens for.
pub const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "account_credentials",
    "client_credentials",
];

/// Webhook delivery outcomes.
pub const DELIVERY_OUTCOMES: [&str; 3] = ["delivered", "retry", "failed"];

/// Latency buckets in seconds: from a cached token check to a slow password sign-in.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How often recorded latencies are folded into the histograms ([`Metrics::spawn_upkeep`]).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One server's metrics registry. Cheap to clone (all clones count into the same registry).
#[derive(Clone)]
pub struct Metrics(Arc<Registry>);

struct Registry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The request series' handles by route template, so that counting a request is a lookup by
    /// `&str` and two atomic updates rather than building and hashing a labelled key each time.
    /// Bounded: route templates, methods ([`method_label`]) and statuses are finite sets.
    requests: std::sync::RwLock<HashMap<String, RouteSeries>>,
    /// The tokens-issued counter of each of [`GRANT_TYPES`], registered (at 0) once.
    tokens_issued: Vec<(&'static str, metrics::Counter)>,
}

/// One route's request counters (by method and status) and latency histograms (by method).
#[derive(Default)]
struct RouteSeries {
    counters: Vec<(&'static str, u16, metrics::Counter)>,
    histograms: Vec<(&'static str, metrics::Histogram)>,
}

impl RouteSeries {
    /// Counts one request if this route's series for `method` and `status` exist already.
    fn count(&self, method: &'static str, status: u16, seconds: f64) -> bool {
        let counter = self
            .counters
            .iter()
            .find(|(m, s, _)| *m == method && *s == status);
        let histogram = self.histograms.iter().find(|(m, _)| *m == method);
        match (counter, histogram) {
            (Some((_, _, counter)), Some((_, histogram))) => {
                counter.increment(1);
                histogram.record(seconds);
                true
            }
            _ => false,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every series described and the labelled counters present at 0, so a
    /// scrape shows each series before its first event.
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .expect("the latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let tokens_issued = GRANT_TYPES
            .into_iter()
            .map(|grant_type| {
                let key =
                    Key::from_parts(TOKENS_ISSUED, vec![Label::new("grant_type", grant_type)]);
                (grant_type, recorder.register_counter(&key, &METADATA))
            })
            .collect();
        let metrics = Metrics(Arc::new(Registry {
            recorder,
            handle,
            requests: Default::default(),
            tokens_issued,
        }));
        for (name, kind, help) in SERIES {
            let (name, help) = (name.into(), SharedString::const_str(help));
            match kind {
                Kind::Counter => metrics.0.recorder.describe_counter(name, None, help),
                Kind::Histogram => {
                    metrics
                        .0
                        .recorder
                        .describe_histogram(name, Some(Unit::Seconds), help)
                }
                Kind::Gauge => metrics
                    .0
                    .recorder
                    .describe_gauge(name, Some(Unit::Seconds), help),
            }
        }
        for step in accord_core::permission::Step::ALL {
            metrics.counter(DENIALS, vec![Label::new("step", step.as_str())], 0);
        }
        metrics.counter(REFRESH_REUSE, Vec::new(), 0);
        for category in ["light", "medium", "heavy"] {
            for limit in ["per_second", "daily_meetings"] {
                let labels = vec![Label::new("category", category), Label::new("limit", limit)];
                metrics.counter(RATE_LIMITED, labels, 0);
            }
        }
        for outcome in DELIVERY_OUTCOMES {
            metrics.counter(WEBHOOK_DELIVERIES, vec![Label::new("outcome", outcome)], 0);
        }
        metrics.gauge(OUTBOX_LAG, 0.0);
        metrics.gauge(VIEW_SYNC_LAG, 0.0);
        metrics
    }

    /// Drains recorded latencies into the histograms every 5 s (the exporter keeps each sample
    /// until then; without a scrape they would pile up). Ends once every clone is dropped.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let registry = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match registry.upgrade() {
                    Some(registry) => registry.handle.run_upkeep(),
                    None => break,
                }
            }
        })
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>, by: u64) {
        let key = Key::from_parts(name, labels);
        self.0
            .recorder
            .register_counter(&key, &METADATA)
            .increment(by);
    }

    fn gauge(&self, name: &'static str, value: f64) {
        let key = Key::from_static_name(name);
        self.0.recorder.register_gauge(&key, &METADATA).set(value);
    }

    /// One answered request: `route` is the matched route template (`unmatched` for none).
    pub fn request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let requests = &self.0.requests;
        let counted = requests
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(route)
            .is_some_and(|series| series.count(method, status, seconds));
        if counted {
            return;
        }
        // First of its kind: register its series (registering again returns the same handles).
        let route_label = Label::new("route", route.to_owned());
        let method_label = Label::new("method", method);
        let counter = self.0.recorder.register_counter(
            &Key::from_parts(
                HTTP_REQUESTS,
                vec![
                    route_label.clone(),
                    method_label.clone(),
                    Label::new("status", status.to_string()),
                ],
            ),
            &METADATA,
        );
        let histogram = self.0.recorder.register_histogram(
            &Key::from_parts(HTTP_DURATION, vec![route_label, method_label]),
            &METADATA,
        );
        counter.increment(1);
        histogram.record(seconds);
        let mut requests = requests
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let series = requests.entry(route.to_owned()).or_default();
        if !series
            .counters
            .iter()
            .any(|(m, s, _)| *m == method && *s == status)
        {
            series.counters.push((method, status, counter));
        }
        if !series.histograms.iter().any(|(m, _)| *m == method) {
            series.histograms.push((method, histogram));
        }
    }

    /// An access token issued by `grant_type` (one of [`GRANT_TYPES`]).
    pub fn token_issued(&self, grant_type: &'static str) {
        match self.0.tokens_issued.iter().find(|(t, _)| *t == grant_type) {
            Some((_, counter)) => counter.increment(1),
            None => self.counter(TOKENS_ISSUED, vec![Label::new("grant_type", grant_type)], 1),
        }
    }

    /// A request the permission rule refused at `step`.
    pub fn denied(&self, step: accord_core::permission::Step) {
        self.counter(DENIALS, vec![Label::new("step", step.as_str())], 1);
    }

    /// A refresh token presented again after its rotation's grace window.
    pub fn refresh_reuse(&self) {
        self.counter(REFRESH_REUSE, Vec::new(), 1);
    }

    /// A call refused by the limit a decision reports.
    pub fn rate_limited(&self, decision: &crate::api::limits::Decision) {
        use crate::api::limits::LimitType;
        use accord_core::endpoints::RateLimitCategory;
        let category = match decision.category {
            RateLimitCategory::Light => "light",
            RateLimitCategory::Medium => "medium",
            RateLimitCategory::Heavy => "heavy",
        };
        let limit = match decision.limit_type {
            LimitType::PerSecond => "per_second",
            LimitType::DailyMeetings => "daily_meetings",
        };
        let labels = vec![Label::new("category", category), Label::new("limit", limit)];
        self.counter(RATE_LIMITED, labels, 1);
    }

    /// A webhook delivery attempt ended with `outcome` (one of [`DELIVERY_OUTCOMES`]).
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.counter(WEBHOOK_DELIVERIES, vec![Label::new("outcome", outcome)], 1);
    }

    /// The age of the oldest due, undelivered webhook event (0 when none is due).
    pub fn outbox_lag(&self, seconds: f64) {
        self.gauge(OUTBOX_LAG, seconds);
    }

    /// The Prometheus text of every series, with the access view's lag as of `state`'s now.
    pub fn render(&self, state: &AppState) -> String {
        // Since the view last confirmed every committed change (+Inf before it ever did).
        let age = state.store().view_age();
        let lag = if age == std::time::Duration::MAX {
            f64::INFINITY
        } else {
            age.as_secs_f64()
        };
        self.gauge(VIEW_SYNC_LAG, lag);
        self.0.handle.render()
    }
}

/// Who may scrape `/metrics`, and on which listener (`--metrics-token`, `--metrics-bind`).
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// When set, a scrape must send `Authorization: Bearer <token>` (from any address).
    pub token: Option<String>,
    /// The route is served on a listener of its own (`--metrics-bind`), not the main one.
    pub separate_listener: bool,
}

impl MetricsAccess {
    /// Whether a scrape from `peer` with this `Authorization` header may read the metrics:
    /// the configured bearer token, or — when none is configured — a loopback peer.
    pub fn admits(&self, peer: Option<SocketAddr>, authorization: Option<&HeaderValue>) -> bool {
        match &self.token {
            Some(token) => authorization
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .is_some_and(|(_, sent)| {
                    bool::from(sent.trim().as_bytes().ct_eq(token.as_bytes()))
                }),
            None => peer.is_some_and(|peer| match peer.ip() {
                std::net::IpAddr::V4(v4) => v4.is_loopback(),
                std::net::IpAddr::V6(v6) => {
                    v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
            }),
        }
    }
}

/// `GET /metrics`: the Prometheus text (version 0.0.4), or 403 to a client [`MetricsAccess`]
/// does not admit (Zoom's error shape, as every refusal). An operational route like `/healthz`,
/// outside the `/v2` API and its OpenAPI document.
pub async fn scrape(State(state): State<AppState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let access = &state.config().metrics;
    if !access.admits(peer, request.headers().get(header::AUTHORIZATION)) {
        let message = if access.token.is_some() {
            "Send the metrics token as a bearer token."
        } else {
            "Metrics are served to loopback clients only (or set --metrics-token)."
        };
        return ApiError::new(StatusCode::FORBIDDEN, 403, message).into_response();
    }
    let body = state.metrics().render(&state);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The method as a label: the standard ones by name, any other as `other` — a client inventing
/// methods must not invent series (each holds memory for the life of the process).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The router of the separate metrics listener (`--metrics-bind`): `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .fallback(crate::errors::not_found)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str) -> Option<SocketAddr> {
        Some(address.parse().expect("a socket address"))
    }

    #[test]
    fn invented_methods_share_one_label() {
        let invented = axum::http::Method::from_bytes(b"FROBNICATE").unwrap();
        assert_eq!(method_label(&invented), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }

    #[test]
    fn without_a_token_only_loopback_clients_may_scrape() {
        let access = MetricsAccess::default();
        for admitted in [
            "127.0.0.1:9",
            "127.0.0.2:9",
            "[::1]:9",
            "[::ffff:127.0.0.1]:9",
        ] {
            assert!(access.admits(peer(admitted), None), "{admitted}");
        }
        for refused in [
            "10.0.0.1:9",
            "192.0.2.7:9",
            "[2001:db8::1]:9",
            "[::ffff:10.0.0.1]:9",
        ] {
            assert!(!access.admits(peer(refused), None), "{refused}");
        }
        assert!(
            !access.admits(None, None),
            "a peer nobody knows is not the loopback"
        );
    }

    #[test]
    fn with_a_token_every_client_needs_it_and_nothing_else_will_do() {
        let access = MetricsAccess {
            token: Some("scrape-token".into()),
            separate_listener: false,
        };
        let header = |value: &str| HeaderValue::from_str(value).unwrap();
        assert!(access.admits(peer("192.0.2.7:9"), Some(&header("Bearer scrape-token"))));
        assert!(access.admits(peer("192.0.2.7:9"), Some(&header("bearer scrape-token"))));
        for refused in [
            "Bearer scrape-toke",
            "Bearer scrape-token2",
            "Basic scrape-token",
            "scrape-token",
            "Bearer ",
        ] {
            assert!(
                !access.admits(peer("127.0.0.1:9"), Some(&header(refused))),
                "{refused}"
            );
        }
        assert!(
            !access.admits(peer("127.0.0.1:9"), None),
            "the loopback needs it too"
        );
    }
}
