//! Cluster-wide rate limits (`--redis`, operations.md "Many nodes"): the same GCRA and daily
//! count as [`super::limits`], run as one Lua script per check in Redis, so every node counts
//! against one counter per account and category (and per host and day).
//!
//! The script does the local limiter's integer arithmetic (Lua numbers are doubles, exact for
//! integers below 2^53: a time in milliseconds times a rate below ~4,000,000 fits), and takes the
//! time as an argument — the injected clock's — so tests move time instead of sleeping and the
//! same sequence of calls gets the same decisions as one node's local limiter (a test checks
//! exactly that). Keys expire a minute after they stop mattering, so Redis holds only the keys of
//! recent traffic.
//!
//! When Redis does not answer (down, or slower than [`TIMEOUT`]), the node falls back to its local
//! limiter for that call — its share of the limit, as without Redis — and logs a warning at most
//! once a minute: a Redis outage degrades the limits' precision, never the API.

use std::sync::Mutex;
use std::time::Duration;

use accord_core::clock::Timestamp;
use accord_core::endpoints::RateLimitCategory;
use redis::aio::ConnectionManager;
use redis::{Client, Script};

/// How long a check may wait for Redis before the node decides locally.
pub const TIMEOUT: Duration = Duration::from_millis(250);

/// GCRA: KEYS[1] the account×category key; ARGV now (ms), rate (per second, > 0).
/// Returns `{1, remaining}` (admitted, state stored) or `{0, wait_ms}` (refused, unchanged).
const PER_SECOND: &str = r"
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local interval = 1000
local window = interval * rate
local now_scaled = now * rate
local tat = now_scaled
local stored = redis.call('HMGET', KEYS[1], 'tat', 'rate')
if stored[1] then
  local t = tonumber(stored[1])
  local r = tonumber(stored[2])
  if r ~= rate then t = math.floor(t * rate / math.max(r, 1)) end
  if t > tat then tat = t end
end
local new_tat = tat + interval
local allowed_from = new_tat - window
if now_scaled < allowed_from then
  return {0, math.ceil((allowed_from - now_scaled) / rate)}
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat), 'rate', rate)
redis.call('PEXPIRE', KEYS[1], math.ceil((new_tat - now_scaled) / rate) + 60000)
return {1, math.floor((now_scaled + window - new_tat) / interval)}
";

/// Daily count: KEYS[1] the host×day key; ARGV limit, milliseconds to keep the key.
/// Returns `{1, count}` (admitted and counted) or `{0, count}` (refused).
const DAILY: &str = r"
local limit = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= limit then return {0, count} end
count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return {1, count}
";

/// The Redis side of the limiter: a reconnecting connection and the two scripts.
pub struct SharedLimits {
    connection: ConnectionManager,
    prefix: String,
    per_second: Script,
    daily: Script,
    last_warning: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedLimits {
    /// Connects to `url` (`redis://host:port[/db]`); keys start with `prefix:` so deployments (and
    /// test runs) can share one Redis. Fails when Redis does not answer now: a misconfigured
    /// `--redis` should stop the node, not be discovered under load.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        // A Redis URL may carry a password: messages show it redacted.
        let shown = accord_store::redact_url(url);
        let client = Client::open(url).map_err(|e| format!("--redis {shown:?}: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| format!("Redis at {shown} did not answer within 5 s"))?
        .map_err(|e| format!("cannot reach Redis at {shown}: {e}"))?;
        let shared = SharedLimits {
            connection,
            prefix: prefix.to_owned(),
            per_second: Script::new(PER_SECOND),
            daily: Script::new(DAILY),
            last_warning: Mutex::new(None),
        };
        // Load both scripts now, so a Redis without Lua (or refusing EVAL) fails at start.
        let mut connection = shared.connection.clone();
        for script in [&shared.per_second, &shared.daily] {
            script
                .prepare_invoke()
                .load_async(&mut connection)
                .await
                .map_err(|e| format!("Redis at {shown} refused the rate-limit scripts: {e}"))?;
        }
        Ok(shared)
    }

    /// One call of `account` in `category` at `now` with `rate` per second (> 0):
    /// `Ok(remaining)` admitted, `Err(milliseconds to wait)` refused, `None` when Redis did not
    /// answer in time.
    pub async fn per_second(
        &self,
        account: &str,
        category: RateLimitCategory,
        rate: u32,
        now: Timestamp,
    ) -> Option<Result<u32, i64>> {
        let key = format!("{}:rl:{account}:{}", self.prefix, category.as_str());
        let mut invocation = self.per_second.key(key);
        invocation.arg(now.millis()).arg(rate);
        let mut connection = self.connection.clone();
        let answer: (i64, i64) = self
            .answer(invocation.invoke_async(&mut connection))
            .await?;
        Some(match answer {
            (1, remaining) => Ok(u32::try_from(remaining).unwrap_or(0)),
            (_, wait_millis) => Err(wait_millis),
        })
    }

    /// One meeting create or update for `host` on UTC day `day` against `limit`: `(admitted,
    /// count after the call)`; `None` when Redis did not answer in time.
    pub async fn daily(
        &self,
        host: &str,
        day: i64,
        limit: u32,
        keep_millis: i64,
    ) -> Option<(bool, u32)> {
        let key = format!("{}:rl:day:{host}:{day}", self.prefix);
        let mut invocation = self.daily.key(key);
        invocation.arg(limit).arg(keep_millis.max(1));
        let mut connection = self.connection.clone();
        let (admitted, count): (i64, i64) = self
            .answer(invocation.invoke_async(&mut connection))
            .await?;
        Some((admitted == 1, u32::try_from(count).unwrap_or(u32::MAX)))
    }

    async fn answer<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let problem = match tokio::time::timeout(TIMEOUT, call).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} ms", TIMEOUT.as_millis()),
        };
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *last = Some(std::time::Instant::now());
            tracing::warn!(
                %problem,
                "Redis rate-limit check failed: this node limits on its own share until Redis answers"
            );
        }
        None
    }
}
