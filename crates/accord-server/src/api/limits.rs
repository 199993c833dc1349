//! Rate limits (api.md, "Rate limits"): per account and category (Light 30/s, Medium 20/s,
//! Heavy 10/s by default), and the per-host daily meeting limit (100 meeting creates and updates
//! per host per UTC day by default).
//!
//! **An account's own limits** (`accord account change --rate-limit`, a seed file's
//! `rate_limits`) replace the defaults they name. The limiter reads them per call from
//! [`OwnLimits`] — in the server the store's access view, which every node keeps current through
//! its change feed — so a change reaches running nodes without a restart, and costs a call no
//! database round trip. A changed rate keeps the key's state (the time it is free again).
//!
//! **Per-second limits** are an exact GCRA (generic cell rate algorithm, the leaky bucket as a
//! meter) over integer time: a key's state is one "theoretical arrival time", kept in units of
//! `1 / rate` milliseconds so no rounding creeps in. With rate `r`, a key idle for a second may
//! send `r` requests at once, then one every `1/r` seconds. Time is the injected clock's
//! [`Timestamp`], passed to every call: tests move time instead of sleeping.
//!
//! **The daily meeting limit** counts, per host, the calls admitted since 00:00 UTC of the
//! injected clock's day; it resets at midnight UTC, and a refusal's `Retry-After` points there.
//!
//! **Memory stays bounded.** A per-second key whose arrival time has passed is in exactly the
//! state of a key never seen, so dropping it changes no decision; at most once a second such keys
//! are swept, together with daily counters of earlier days. What remains is the keys used in the
//! last two seconds at most (so the map grows with the request rate, not with the number of
//! accounts ever seen), plus the hosts that created or updated meetings today.
//!
//! **Several nodes.** With `--redis` the same GCRA runs as one Redis script per check
//! ([`super::shared_limits`]: the arrival time under `PREFIX:rl:{account}:{category}`, the daily
//! count under `PREFIX:rl:day:{host}:{day}`), so the limits hold for the whole cluster; when Redis
//! does not answer, the node decides locally on its share. Without Redis each node enforces its
//! *share*, `ceil(limit / nodes)` (`--nodes`, [`LimitsConfig::nodes`]). That is an approximation, and an honest one
//! has two sides: behind a balancing load balancer the cluster admits about the limit (up to
//! `nodes - 1` more per period from the rounding up), but when one account's calls land unevenly
//! (sticky sessions, few long-lived connections) it is refused before reaching its limit, and a
//! node that is down takes its share with it. `X-RateLimit-Limit` reports the account's
//! configured limit; `X-RateLimit-Remaining` reports what this node will still admit, which never
//! promises more than the cluster allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use accord_core::clock::Timestamp;
use accord_core::endpoints::{Endpoint, RateLimitCategory};
use accord_core::rate_limits::{DEFAULT_MEETINGS_PER_HOST_PER_DAY, Limit, RateLimits};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::shared_limits::SharedLimits;
use crate::errors::ApiError;

/// `X-RateLimit-Category`: `Light`, `Medium` or `Heavy`.
pub const CATEGORY_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-category");
/// `X-RateLimit-Type`: `QPS` or `Daily-limit`.
pub const TYPE_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-type");
/// `X-RateLimit-Limit`: the limit that applies.
pub const LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`: calls still admitted now (per second) or today (daily).
pub const REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// Zoom's answer when a per-second limit is reached.
pub const PER_SECOND_MESSAGE: &str =
    "You have reached the maximum per-second rate limit for this API. Try again later.";

const MILLIS_PER_SECOND: i64 = 1000;
const MILLIS_PER_DAY: i64 = 86_400_000;
/// How often idle keys are swept.
const SWEEP_INTERVAL_MILLIS: i64 = 1000;

/// The limits of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// Calls per second in the Light category.
    pub light: u32,
    /// Calls per second in the Medium category.
    pub medium: u32,
    /// Calls per second in the Heavy category.
    pub heavy: u32,
    /// Meeting creates and updates per host per UTC day.
    pub daily_meetings_per_host: u32,
}

impl Default for AccountLimits {
    /// api.md's defaults: 30, 20 and 10 per second; 100 meetings per host per day.
    fn default() -> Self {
        AccountLimits {
            light: RateLimitCategory::Light.default_per_second(),
            medium: RateLimitCategory::Medium.default_per_second(),
            heavy: RateLimitCategory::Heavy.default_per_second(),
            daily_meetings_per_host: DEFAULT_MEETINGS_PER_HOST_PER_DAY,
        }
    }
}

impl AccountLimits {
    /// The per-second limit of `category`. A limit of 0 refuses every call of the category.
    pub fn per_second(&self, category: RateLimitCategory) -> u32 {
        match category {
            RateLimitCategory::Light => self.light,
            RateLimitCategory::Medium => self.medium,
            RateLimitCategory::Heavy => self.heavy,
        }
    }

    /// These limits with an account's own values in place of those it sets.
    pub fn with_own(self, own: &RateLimits) -> Self {
        let mut limits = self;
        for (limit, value) in own.iter() {
            match limit {
                Limit::PerSecond(category) => limits = limits.with_per_second(category, value),
                Limit::MeetingsPerHostPerDay => limits.daily_meetings_per_host = value,
            }
        }
        limits
    }

    /// The same limits with `category` set to `per_second`.
    pub fn with_per_second(mut self, category: RateLimitCategory, per_second: u32) -> Self {
        match category {
            RateLimitCategory::Light => self.light = per_second,
            RateLimitCategory::Medium => self.medium = per_second,
            RateLimitCategory::Heavy => self.heavy = per_second,
        }
        self
    }
}

/// The limiter's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Limits of every account, except those an account sets for itself ([`OwnLimits`]).
    pub defaults: AccountLimits,
    /// Nodes sharing the traffic without a shared counter: each enforces `ceil(limit / nodes)`.
    /// 1 (the default) enforces the whole limit here.
    pub nodes: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            defaults: AccountLimits::default(),
            nodes: 1,
        }
    }
}

impl LimitsConfig {
    /// This node's share of `limit`.
    fn share(&self, limit: u32) -> u32 {
        limit.div_ceil(self.nodes.max(1))
    }
}

/// Which limit a decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitType {
    /// Calls per second per account and category (`QPS`).
    PerSecond,
    /// Meeting creates and updates per host per UTC day (`Daily-limit`).
    DailyMeetings,
}

impl LimitType {
    /// The `X-RateLimit-Type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitType::PerSecond => "QPS",
            LimitType::DailyMeetings => "Daily-limit",
        }
    }
}

/// The limiter's answer for one call: admitted or not, and the headers that say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub category: RateLimitCategory,
    pub limit_type: LimitType,
    /// The configured limit (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Calls this node still admits in the current second or day (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Whole seconds until a call may be admitted again, at least 1; `None` when admitted.
    pub retry_after_seconds: Option<u64>,
}

impl Decision {
    /// The `X-RateLimit-*` headers, and `Retry-After` on a refusal.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = vec![
            (
                CATEGORY_HEADER,
                HeaderValue::from_static(self.category.as_str()),
            ),
            (
                TYPE_HEADER,
                HeaderValue::from_static(self.limit_type.as_str()),
            ),
            (LIMIT_HEADER, HeaderValue::from(self.limit)),
            (REMAINING_HEADER, HeaderValue::from(self.remaining)),
        ];
        if let Some(seconds) = self.retry_after_seconds {
            headers.push((RETRY_AFTER, HeaderValue::from(seconds)));
        }
        headers
    }

    /// Adds [`Decision::headers`] to a response (every `/v2` response carries them).
    pub fn apply(&self, response: &mut Response) {
        let target = response.headers_mut();
        for (name, value) in self.headers() {
            target.insert(name, value);
        }
    }

    /// The 429 answer when the call was refused, headers included; `None` when admitted.
    pub fn refusal(&self) -> Option<Response> {
        if self.allowed {
            return None;
        }
        let message = match self.limit_type {
            LimitType::PerSecond => PER_SECOND_MESSAGE.to_owned(),
            LimitType::DailyMeetings => format!(
                "You have exceeded the daily rate limit of ({}) for meeting create and update \
                 API requests for this host. You can resume these API requests at GMT 00:00:00.",
                self.limit
            ),
        };
        let mut response = ApiError::too_many_requests(message).into_response();
        self.apply(&mut response);
        Some(response)
    }
}

/// One per-second key's GCRA state.
#[derive(Debug, Clone, Copy)]
struct Cell {
    /// The per-second rate the arrival time is scaled by.
    rate: u32,
    /// Theoretical arrival time, in units of `1 / rate` milliseconds.
    tat: i128,
}

/// One host's meeting calls today.
#[derive(Debug, Clone, Copy)]
struct DayCount {
    /// Days since the Unix epoch, UTC.
    day: i64,
    count: u32,
}

#[derive(Debug, Default)]
struct Tables {
    cells: HashMap<(String, RateLimitCategory), Cell>,
    days: HashMap<String, DayCount>,
    last_sweep_millis: i64,
}

impl Tables {
    /// Drops what no longer affects any decision, at most once a second (or when the clock went
    /// back).
    fn sweep_if_due(&mut self, now: Timestamp) {
        let now_millis = now.millis();
        let elapsed = now_millis.saturating_sub(self.last_sweep_millis);
        if (0..SWEEP_INTERVAL_MILLIS).contains(&elapsed) {
            return;
        }
        self.last_sweep_millis = now_millis;
        self.cells
            .retain(|_, cell| cell.tat > i128::from(now_millis) * i128::from(cell.rate));
        let today = utc_day(now);
        self.days.retain(|_, count| count.day >= today);
    }
}

/// Where the limiter learns the limits an account sets for itself.
pub trait OwnLimits: Send + Sync {
    /// `account`'s own limits now (empty: the defaults).
    fn own_limits(&self, account: &str) -> RateLimits;
}

/// The server's source: the access view, which every node keeps current (a change made through
/// any node, the CLI or a seed file arrives with the view's change feed).
impl OwnLimits for accord_store::Store {
    fn own_limits(&self, account: &str) -> RateLimits {
        self.view().rate_limits(account)
    }
}

/// A fixed table, by account id (tests).
impl OwnLimits for HashMap<String, RateLimits> {
    fn own_limits(&self, account: &str) -> RateLimits {
        self.get(account).copied().unwrap_or_default()
    }
}

/// The rate limiter of one node; share one per process (it is `Send + Sync`). Local only, or
/// with a Redis counter shared by the cluster ([`Limiter::with_shared`]); accounts' own limits
/// from [`Limiter::with_own_limits`].
pub struct Limiter {
    config: LimitsConfig,
    tables: Mutex<Tables>,
    shared: Option<SharedLimits>,
    own: Option<Arc<dyn OwnLimits>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("config", &self.config)
            .field("shared", &self.shared)
            .field("own_limits", &self.own.is_some())
            .finish_non_exhaustive()
    }
}

impl Limiter {
    pub fn new(config: LimitsConfig) -> Self {
        Limiter {
            config,
            tables: Mutex::new(Tables::default()),
            shared: None,
            own: None,
        }
    }

    /// The same limiter, applying each account's own limits from `own`.
    pub fn with_own_limits(self, own: Arc<dyn OwnLimits>) -> Self {
        Limiter {
            own: Some(own),
            ..self
        }
    }

    /// The limits that apply to `account` now: the defaults, with its own where it sets them.
    pub fn limits_of(&self, account: &str) -> AccountLimits {
        match &self.own {
            Some(own) => self.config.defaults.with_own(&own.own_limits(account)),
            None => self.config.defaults,
        }
    }

    /// A limiter counting in Redis, for the whole cluster; its local tables only serve while Redis
    /// does not answer.
    pub fn with_shared(config: LimitsConfig, shared: SharedLimits) -> Self {
        Limiter {
            shared: Some(shared),
            ..Limiter::new(config)
        }
    }

    /// Whether the limits are counted in Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// [`Limiter::check`], counted in Redis when the limiter is shared (and Redis answers).
    pub async fn admit(
        &self,
        account: &str,
        category: RateLimitCategory,
        now: Timestamp,
    ) -> Decision {
        let limit = self.limits_of(account).per_second(category);
        if let Some(shared) = &self.shared
            && limit > 0
            && let Some(outcome) = shared.per_second(account, category, limit, now).await
        {
            return per_second_decision(category, limit, outcome);
        }
        self.check(account, category, now)
    }

    /// [`Limiter::check_daily_meetings`], counted in Redis when the limiter is shared.
    pub async fn admit_daily_meetings(
        &self,
        account: &str,
        category: RateLimitCategory,
        host: &str,
        now: Timestamp,
    ) -> Decision {
        let limit = self.limits_of(account).daily_meetings_per_host;
        if let Some(shared) = &self.shared {
            let today = utc_day(now);
            // The key outlives its day by one: it may only go once no node's clock is on that day.
            let keep = (today + 2)
                .saturating_mul(MILLIS_PER_DAY)
                .saturating_sub(now.millis());
            if let Some((admitted, count)) = shared.daily(host, today, limit, keep).await {
                return daily_decision(category, limit, admitted, count, now);
            }
        }
        self.check_daily_meetings(account, category, host, now)
    }

    /// [`Limiter::check_endpoint`], counted in Redis when the limiter is shared.
    pub async fn admit_endpoint(
        &self,
        account: &str,
        endpoint: &Endpoint,
        host: Option<&str>,
        now: Timestamp,
    ) -> Decision {
        let per_second = self.admit(account, endpoint.rate_limit, now).await;
        match host {
            Some(host) if endpoint.daily_meeting_limit && per_second.allowed => {
                self.admit_daily_meetings(account, endpoint.rate_limit, host, now)
                    .await
            }
            _ => per_second,
        }
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Counts one call of `account` in `category` at `now` against the per-second limit.
    pub fn check(&self, account: &str, category: RateLimitCategory, now: Timestamp) -> Decision {
        let limit = self.limits_of(account).per_second(category);
        let rate = self.config.share(limit);
        if rate == 0 {
            return per_second_decision(category, limit, Err(1));
        }
        let mut tables = self.lock();
        tables.sweep_if_due(now);
        let cell = tables
            .cells
            .entry((account.to_owned(), category))
            .or_insert(Cell { rate, tat: 0 });
        per_second_decision(category, limit, admit(cell, rate, now))
    }

    /// Counts one meeting create or update for `host` (of `account`) at `now` against the daily
    /// limit. `category` is the endpoint's, for the headers. Host ids are unique deployment-wide.
    pub fn check_daily_meetings(
        &self,
        account: &str,
        category: RateLimitCategory,
        host: &str,
        now: Timestamp,
    ) -> Decision {
        let limit = self.limits_of(account).daily_meetings_per_host;
        let share = self.config.share(limit);
        let today = utc_day(now);
        let mut tables = self.lock();
        tables.sweep_if_due(now);
        let count = tables.days.entry(host.to_owned()).or_insert(DayCount {
            day: today,
            count: 0,
        });
        if count.day != today {
            *count = DayCount {
                day: today,
                count: 0,
            };
        }
        let allowed = count.count < share;
        if allowed {
            count.count += 1;
        }
        let mut decision = daily_decision(category, limit, allowed, count.count, now);
        decision.remaining = share.saturating_sub(count.count);
        decision
    }

    /// Everything one call of `endpoint` counts against: the per-second limit of its category
    /// and, for meeting create and update, the daily limit of `host` (the meeting's host, once
    /// known). The daily limit is only counted when the per-second limit admitted the call, and
    /// its decision (type `Daily-limit`) is then the one the response reports.
    pub fn check_endpoint(
        &self,
        account: &str,
        endpoint: &Endpoint,
        host: Option<&str>,
        now: Timestamp,
    ) -> Decision {
        let per_second = self.check(account, endpoint.rate_limit, now);
        match host {
            Some(host) if endpoint.daily_meeting_limit && per_second.allowed => {
                self.check_daily_meetings(account, endpoint.rate_limit, host, now)
            }
            _ => per_second,
        }
    }

    /// How many keys the limiter holds (per-second keys and daily counters), for tests and metrics.
    pub fn tracked_keys(&self) -> usize {
        let tables = self.lock();
        tables.cells.len() + tables.days.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // The tables stay consistent even if a holder panicked: every update is a single store.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The per-second decision for `limit`: `Ok(remaining)` admitted, `Err(milliseconds to wait)`.
fn per_second_decision(
    category: RateLimitCategory,
    limit: u32,
    outcome: Result<u32, i64>,
) -> Decision {
    Decision {
        allowed: outcome.is_ok(),
        category,
        limit_type: LimitType::PerSecond,
        limit,
        remaining: outcome.unwrap_or(0),
        retry_after_seconds: outcome.err().map(whole_seconds),
    }
}

/// The daily decision for `limit` after `count` calls today; a refusal waits for midnight UTC.
fn daily_decision(
    category: RateLimitCategory,
    limit: u32,
    allowed: bool,
    count: u32,
    now: Timestamp,
) -> Decision {
    let until_midnight = (utc_day(now) + 1)
        .saturating_mul(MILLIS_PER_DAY)
        .saturating_sub(now.millis());
    Decision {
        allowed,
        category,
        limit_type: LimitType::DailyMeetings,
        limit,
        remaining: limit.saturating_sub(count),
        retry_after_seconds: (!allowed).then(|| whole_seconds(until_midnight)),
    }
}

/// GCRA for one call at `now` with `rate` calls per second (> 0): `Ok(remaining)` and the cell
/// updated, or `Err(milliseconds until a call would be admitted)` and the cell unchanged.
fn admit(cell: &mut Cell, rate: u32, now: Timestamp) -> Result<u32, i64> {
    let scale = i128::from(rate);
    if cell.rate != rate {
        // The account's limit changed: keep the same arrival time in the new units.
        cell.tat = cell.tat * scale / i128::from(cell.rate.max(1));
        cell.rate = rate;
    }
    // In units of 1/rate ms, one call costs 1000 and a full second of burst is 1000 * rate.
    let interval = i128::from(MILLIS_PER_SECOND);
    let window = interval * scale;
    let now_scaled = i128::from(now.millis()) * scale;
    let new_tat = cell.tat.max(now_scaled) + interval;
    let allowed_from = new_tat - window;
    if now_scaled < allowed_from {
        let wait = (allowed_from - now_scaled + scale - 1) / scale;
        return Err(i64::try_from(wait).unwrap_or(i64::MAX));
    }
    cell.tat = new_tat;
    let remaining = (now_scaled + window - new_tat) / interval;
    Ok(u32::try_from(remaining).unwrap_or(0))
}

/// Milliseconds rounded up to whole seconds, at least 1 (`Retry-After`).
fn whole_seconds(millis: i64) -> u64 {
    let seconds = millis.max(1).saturating_add(MILLIS_PER_SECOND - 1) / MILLIS_PER_SECOND;
    u64::try_from(seconds).unwrap_or(1).max(1)
}

/// Days since the Unix epoch in UTC.
fn utc_day(now: Timestamp) -> i64 {
    now.millis().div_euclid(MILLIS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use accord_core::clock::{Clock, ManualClock};
    use accord_core::endpoints;
    use axum::body::to_bytes;
    use axum::http::StatusCode;

    use super::*;
    use RateLimitCategory::{Heavy, Light, Medium};

    /// 2026-11-28T12:00:00Z.
    const NOON: Timestamp = Timestamp(1_795_867_200_000);

    fn limiter() -> Limiter {
        Limiter::new(LimitsConfig::default())
    }

    /// Calls admitted out of `tries` at one instant.
    fn admitted(
        limiter: &Limiter,
        account: &str,
        category: RateLimitCategory,
        tries: u32,
        at: Timestamp,
    ) -> u32 {
        (0..tries)
            .map(|_| limiter.check(account, category, at))
            .filter(|d| d.allowed)
            .count() as u32
    }

    #[test]
    fn exactly_the_limit_is_admitted_within_a_second() {
        for (category, limit) in [(Light, 30), (Medium, 20), (Heavy, 10)] {
            let limiter = limiter();
            for n in 1..=limit {
                let decision = limiter.check("acct", category, NOON);
                assert!(decision.allowed, "{category} call {n}");
                assert_eq!(decision.remaining, limit - n);
                assert_eq!(decision.limit, limit);
                assert_eq!(decision.retry_after_seconds, None);
            }
            let refused = limiter.check("acct", category, NOON);
            assert!(!refused.allowed);
            assert_eq!(refused.remaining, 0);
            // A millisecond later: still refused (one call frees up after 1/limit s).
            let later = Timestamp(NOON.millis() + 1);
            assert!(!limiter.check("acct", category, later).allowed);
        }
    }

    #[test]
    fn a_sustained_rate_is_held_to_the_limit() {
        let limiter = limiter();
        let clock = ManualClock::new(NOON);
        let mut allowed = 0;
        // 100 calls a second for 10 seconds, in steps of 10 ms.
        for _ in 0..1000 {
            allowed += u32::from(limiter.check("acct", Heavy, clock.now()).allowed);
            clock.set(Timestamp(clock.now().millis() + 10));
        }
        // A burst of 10, then 10 a second: 10 + 10 * 10 at most.
        assert!((100..=110).contains(&allowed), "{allowed}");
    }

    #[test]
    fn capacity_refills_as_time_advances() {
        let limiter = limiter();
        let clock = ManualClock::new(NOON);
        assert_eq!(admitted(&limiter, "acct", Heavy, 15, clock.now()), 10);
        // A tenth of a second gives back one call at 10/s.
        clock.set(Timestamp(NOON.millis() + 100));
        assert_eq!(admitted(&limiter, "acct", Heavy, 5, clock.now()), 1);
        clock.advance_seconds(1);
        assert_eq!(admitted(&limiter, "acct", Heavy, 15, clock.now()), 10);
    }

    #[test]
    fn a_refusal_says_when_to_retry_in_whole_seconds() {
        let limiter = limiter();
        admitted(&limiter, "acct", Light, 30, NOON);
        let refused = limiter.check("acct", Light, NOON);
        assert_eq!(refused.retry_after_seconds, Some(1));
        let blocked = Limiter::new(LimitsConfig {
            defaults: AccountLimits::default().with_per_second(Light, 0),
            ..LimitsConfig::default()
        });
        assert_eq!(
            blocked.check("acct", Light, NOON).retry_after_seconds,
            Some(1)
        );
        assert_eq!(whole_seconds(1), 1);
        assert_eq!(whole_seconds(1000), 1);
        assert_eq!(whole_seconds(1001), 2);
        assert_eq!(whole_seconds(0), 1);
        assert_eq!(whole_seconds(-5), 1);
    }

    #[test]
    fn categories_are_independent() {
        let limiter = limiter();
        assert_eq!(admitted(&limiter, "acct", Heavy, 11, NOON), 10);
        assert_eq!(admitted(&limiter, "acct", Medium, 21, NOON), 20);
        assert_eq!(admitted(&limiter, "acct", Light, 31, NOON), 30);
    }

    #[test]
    fn accounts_are_independent() {
        let limiter = limiter();
        assert_eq!(admitted(&limiter, "a", Heavy, 11, NOON), 10);
        assert_eq!(admitted(&limiter, "b", Heavy, 11, NOON), 10);
        assert!(!limiter.check("a", Heavy, NOON).allowed);
    }

    #[test]
    fn an_account_s_own_limits_replace_the_defaults_they_name() {
        let own: RateLimits = serde_json::from_value(serde_json::json!({
            "light": {"per_second": 100},
            "heavy": {"per_second": 2},
            "meetings": {"per_host_per_day": 3},
        }))
        .expect("limits");
        let limiter = Limiter::new(LimitsConfig::default())
            .with_own_limits(Arc::new(HashMap::from([("big".to_owned(), own)])));
        assert_eq!(admitted(&limiter, "big", Light, 200, NOON), 100);
        assert_eq!(admitted(&limiter, "big", Heavy, 5, NOON), 2);
        assert_eq!(admitted(&limiter, "small", Light, 200, NOON), 30);
        // Medium is not set: the default.
        assert_eq!(limiter.check("big", Medium, NOON).limit, 20);
        let daily = (0..5)
            .filter(|_| {
                limiter
                    .check_daily_meetings("big", Medium, "host", NOON)
                    .allowed
            })
            .count();
        assert_eq!(daily, 3);
    }

    #[test]
    fn the_daily_meeting_limit_resets_at_midnight_utc() {
        let limiter = limiter();
        let last_second = Timestamp(NOON.millis() + 12 * 3_600_000 - 1000);
        for n in 1..=100 {
            let decision = limiter.check_daily_meetings("acct", Medium, "host", NOON);
            assert!(decision.allowed, "call {n}");
            assert_eq!(decision.remaining, 100 - n);
            assert_eq!(decision.limit_type, LimitType::DailyMeetings);
        }
        let refused = limiter.check_daily_meetings("acct", Medium, "host", NOON);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_seconds, Some(12 * 3600));
        let refused = limiter.check_daily_meetings("acct", Medium, "host", last_second);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_seconds, Some(1));
        // Another host of the same account has its own count.
        assert!(
            limiter
                .check_daily_meetings("acct", Medium, "other", NOON)
                .allowed
        );
        let midnight = Timestamp(last_second.millis() + 1000);
        let next_day = limiter.check_daily_meetings("acct", Medium, "host", midnight);
        assert!(next_day.allowed);
        assert_eq!(next_day.remaining, 99);
    }

    #[test]
    fn meeting_writes_count_against_both_limits() {
        let limiter = limiter();
        let create =
            endpoints::find("POST", "/users/{userId}/meetings").expect("meeting create exists");
        let get = endpoints::find("GET", "/users/{userId}").expect("user get exists");
        let decision = limiter.check_endpoint("acct", create, Some("host"), NOON);
        assert!(decision.allowed);
        assert_eq!(decision.limit_type, LimitType::DailyMeetings);
        assert_eq!(decision.category, Medium);
        assert_eq!(decision.remaining, 99);
        let plain = limiter.check_endpoint("acct", get, Some("host"), NOON);
        assert_eq!(plain.limit_type, LimitType::PerSecond);
        // Calls refused per second do not use up the day.
        let mut clock_ms = NOON.millis();
        for _ in 0..200 {
            limiter.check_endpoint("acct", create, Some("host"), Timestamp(clock_ms));
        }
        clock_ms += 1;
        let day = limiter.check_daily_meetings("acct", Medium, "other", Timestamp(clock_ms));
        assert_eq!(day.remaining, 99);
        let host = limiter.check_daily_meetings("acct", Medium, "host", Timestamp(clock_ms));
        // 1 + 19 admitted per second (the Medium burst of 20), plus this one.
        assert_eq!(host.remaining, 100 - 21);
    }

    #[test]
    fn idle_keys_are_evicted_so_memory_stays_bounded() {
        let limiter = limiter();
        let clock = ManualClock::new(NOON);
        for account in 0..10_000 {
            limiter.check(&format!("acct-{account}"), Light, clock.now());
            limiter.check_daily_meetings("acct", Medium, &format!("host-{account}"), clock.now());
        }
        assert_eq!(limiter.tracked_keys(), 20_000);
        // A second later every per-second key is back to its initial state.
        clock.advance_seconds(1);
        limiter.check("acct-new", Light, clock.now());
        assert_eq!(limiter.tracked_keys(), 10_001);
        // A key used recently stays: its state still matters.
        clock.set(Timestamp(NOON.millis() + 1900));
        assert_eq!(admitted(&limiter, "busy", Light, 30, clock.now()), 30);
        clock.set(Timestamp(NOON.millis() + 2000));
        limiter.check("acct-new", Light, clock.now());
        assert_eq!(limiter.tracked_keys(), 10_002);
        // 100 ms after its burst, "busy" has 3 calls back, not 30.
        assert_eq!(admitted(&limiter, "busy", Light, 31, clock.now()), 3);
        // The next day, yesterday's counts go too.
        clock.set(Timestamp(NOON.millis() + 12 * 3_600_000));
        limiter.check("acct-new", Light, clock.now());
        assert_eq!(limiter.tracked_keys(), 1);
        // Eviction loses nothing: an evicted account gets its full burst.
        assert_eq!(admitted(&limiter, "acct-0", Light, 31, clock.now()), 30);
    }

    #[test]
    fn a_changed_limit_keeps_the_time_the_key_is_free_again() {
        let mut limiter = limiter();
        assert_eq!(admitted(&limiter, "acct", Heavy, 10, NOON), 10);
        limiter.config.defaults.heavy = 20;
        // The burst used until a second from now is still used…
        assert_eq!(admitted(&limiter, "acct", Heavy, 30, NOON), 0);
        // …and comes back at the new rate: 20/s for half a second.
        let half = Timestamp(NOON.millis() + 500);
        assert_eq!(admitted(&limiter, "acct", Heavy, 30, half), 10);
    }

    #[test]
    fn without_a_shared_counter_each_node_enforces_its_share() {
        let limiter = Limiter::new(LimitsConfig {
            nodes: 3,
            ..LimitsConfig::default()
        });
        assert_eq!(admitted(&limiter, "acct", Light, 50, NOON), 10);
        assert_eq!(admitted(&limiter, "acct", Heavy, 50, NOON), 4);
        assert_eq!(limiter.check("acct", Medium, NOON).limit, 20);
        assert_eq!(limiter.check("acct", Medium, NOON).remaining, 5);
    }

    #[test]
    fn headers_name_the_category_type_limit_and_remaining() {
        let limiter = limiter();
        let mut response = StatusCode::OK.into_response();
        limiter.check("acct", Medium, NOON).apply(&mut response);
        let headers = response.headers();
        assert_eq!(headers["X-RateLimit-Category"], "Medium");
        assert_eq!(headers["X-RateLimit-Type"], "QPS");
        assert_eq!(headers["X-RateLimit-Limit"], "20");
        assert_eq!(headers["X-RateLimit-Remaining"], "19");
        assert!(headers.get("Retry-After").is_none());
        assert!(limiter.check("acct", Medium, NOON).refusal().is_none());

        let daily = limiter.check_daily_meetings("acct", Light, "host", NOON);
        let mut response = StatusCode::NO_CONTENT.into_response();
        daily.apply(&mut response);
        assert_eq!(response.headers()["X-RateLimit-Type"], "Daily-limit");
        assert_eq!(response.headers()["X-RateLimit-Category"], "Light");
        assert_eq!(response.headers()["X-RateLimit-Limit"], "100");
    }

    #[tokio::test]
    async fn a_refusal_is_a_429_with_zoom_s_body_and_retry_after() {
        let limiter = limiter();
        admitted(&limiter, "acct", Heavy, 10, NOON);
        let response = limiter
            .check("acct", Heavy, NOON)
            .refusal()
            .expect("refused");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["Retry-After"], "1");
        assert_eq!(response.headers()["X-RateLimit-Remaining"], "0");
        let body = to_bytes(response.into_body(), 4096).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"code": 429, "message": PER_SECOND_MESSAGE})
        );

        let strict = Limiter::new(LimitsConfig {
            defaults: AccountLimits {
                daily_meetings_per_host: 0,
                ..AccountLimits::default()
            },
            ..LimitsConfig::default()
        });
        let response = strict
            .check_daily_meetings("acct", Medium, "host", NOON)
            .refusal()
            .expect("refused");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["Retry-After"], (12 * 3600).to_string());
        let body = to_bytes(response.into_body(), 4096).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], 429);
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("daily rate limit of (0)")),
            "{body}"
        );
    }
}
