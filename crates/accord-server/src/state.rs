//! The state every handler receives: one `AppState(Arc<…>)`, cheap to clone.

use std::sync::Arc;

use accord_store::Store;

use crate::oauth::keys::KeyRing;
use crate::password_checks::PasswordChecks;
use crate::throttle::Throttles;

/// Where the server is reachable, what it calls itself, and the OAuth lifetimes.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The base URL clients use (`--public-url`), e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// The OAuth issuer (`--issuer`), by default the public URL.
    pub issuer: String,
    /// The API base URL returned as `api_url` in token responses and used as the tokens' `aud`.
    pub api_url: String,
    /// Access token lifetime (default 3600 s).
    pub access_token_seconds: i64,
    /// Refresh token lifetime (default 90 days).
    pub refresh_token_seconds: i64,
    /// How long presenting a rotated-out refresh token still returns the same successor
    /// (default 60 s; 0 turns it off).
    pub refresh_grace_seconds: i64,
    /// Per-account API rate limits (api.md); off only for load tests and benchmarks.
    pub rate_limits: bool,
    /// Redis for cluster-wide rate limits (`--redis`), e.g. `redis://127.0.0.1:6379`.
    pub redis_url: Option<String>,
    /// What this deployment's Redis keys start with (`--redis-prefix`).
    pub redis_prefix: String,
    /// Nodes sharing the traffic without Redis: each enforces `ceil(limit / nodes)` (`--nodes`).
    pub nodes: u32,
    /// Timeouts and caps on connections (`--header-timeout`, `--idle-timeout`,
    /// `--max-connections`, `--max-connections-per-address`).
    pub connections: crate::ConnectionLimits,
    /// Sign-in password checks (Argon2id) running at once; default: the number of CPU cores.
    pub password_check_workers: usize,
    /// Password checks waiting for a worker; a sign-in beyond them gets 503 at once.
    pub password_check_queue: usize,
    /// How long a password check waits for a worker before the sign-in gets 503.
    pub password_check_wait: std::time::Duration,
    /// Who may scrape `/metrics` and where it is served (`--metrics-token`, `--metrics-bind`).
    pub metrics: crate::metrics::MetricsAccess,
    /// How old the access view may be (since it last confirmed every committed change) before
    /// this node refuses to decide on it (`--view-max-staleness`, default
    /// [`DEFAULT_VIEW_MAX_STALENESS`]): `/v2`, `/oauth/token`, `/oauth/introspect` and the consoles
    /// answer 503 and `/readyz` says not ready, rather than honour a grant revoked meanwhile.
    pub view_max_staleness: std::time::Duration,
    /// Every request is answered within this (`--request-timeout`, default
    /// [`DEFAULT_REQUEST_TIMEOUT`]); a handler still waiting then is dropped and the client gets 503.
    pub request_timeout: std::time::Duration,
}

/// The default deadline of a request: far beyond any healthy answer (a sign-in waits at most a
/// second for a password-check worker; the pool's acquire timeout is 10 s), so it only ends waits
/// nothing else would, such as a query on a connection whose packets are silently dropped.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The default bound on the access view's age. The watcher confirms it every 250 ms, so in health
/// it is never near; 10 s rides out a slow full reload or a few failed syncs (each bounded by the
/// pool's acquire timeout) without refusing, and caps at 10 s how long a node cut off from its
/// database could honour a revoked grant. (A stale node first tries one catch-up sync per request
/// wave, so a brief blip costs nothing.)
pub const DEFAULT_VIEW_MAX_STALENESS: std::time::Duration = std::time::Duration::from_secs(10);

impl ServerConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        let public_url = public_url.into().trim_end_matches('/').to_owned();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        ServerConfig {
            issuer: public_url.clone(),
            api_url: public_url.clone(),
            public_url,
            access_token_seconds: 3600,
            refresh_token_seconds: 90 * 24 * 3600,
            refresh_grace_seconds: 60,
            rate_limits: true,
            redis_url: None,
            redis_prefix: "accord".into(),
            nodes: 1,
            connections: crate::ConnectionLimits::default(),
            password_check_workers: cores,
            password_check_queue: crate::password_checks::QUEUE_PER_WORKER * cores,
            password_check_wait: std::time::Duration::from_secs(1),
            metrics: crate::metrics::MetricsAccess::default(),
            view_max_staleness: DEFAULT_VIEW_MAX_STALENESS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Cookies are marked `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub config: ServerConfig,
    pub keys: KeyRing,
    /// Per-account, per-category rate limits of this node (api.md "Rate limits").
    pub limits: crate::api::limits::Limiter,
    /// Where sign-in passwords are checked, a few at a time.
    pub password_checks: PasswordChecks,
    /// Failed sign-ins and client authentications, per identity and per address.
    pub throttles: Throttles,
    /// This server's counters, histograms and gauges (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    /// Builds the state: loads the signing keys, creating the first one if the database has none.
    pub async fn new(store: Store, config: ServerConfig) -> Result<Self, accord_store::StoreError> {
        let keys = KeyRing::load(&store, config.access_token_seconds).await?;
        // Meeting objects in webhook events link to this server, whichever process raises them.
        store.set_public_url(&config.public_url).await?;
        // Changes made by other processes reach this one's access view (LISTEN/NOTIFY + polling).
        store.spawn_view_watcher();
        let mut limits = crate::api::limits::LimitsConfig::default();
        if !config.rate_limits {
            let unlimited = u32::MAX / 4;
            limits.defaults = crate::api::limits::AccountLimits {
                light: unlimited,
                medium: unlimited,
                heavy: unlimited,
                daily_meetings_per_host: unlimited,
            };
        }
        limits.nodes = config.nodes.max(1);
        let limits = match &config.redis_url {
            Some(url) => {
                let shared =
                    crate::api::shared_limits::SharedLimits::connect(url, &config.redis_prefix)
                        .await
                        .map_err(accord_store::StoreError::Config)?;
                crate::api::limits::Limiter::with_shared(limits, shared)
            }
            None => crate::api::limits::Limiter::new(limits),
        };
        // Accounts' own limits come from the access view, current on every node; with limits off
        // (load tests) there is nothing to apply them to.
        let limits = if config.rate_limits {
            limits.with_own_limits(std::sync::Arc::new(store.clone()))
        } else {
            limits
        };
        let password_checks = PasswordChecks::start(
            config.password_check_workers,
            config.password_check_queue,
            config.password_check_wait,
        )
        .map_err(|e| {
            accord_store::StoreError::Config(format!(
                "cannot start the password-check workers: {e}"
            ))
        })?;
        let metrics = crate::metrics::Metrics::new();
        metrics.spawn_upkeep();
        let state = AppState(Arc::new(Shared {
            store,
            config,
            keys,
            limits,
            password_checks,
            throttles: Throttles::default(),
            metrics,
        }));
        state.spawn_key_watcher();
        Ok(state)
    }

    /// Reads the signing keys again whenever the access view's change feed says they may have
    /// changed (a key rotated by any process, or the periodic full resync), so JWKS shows a new key
    /// within the feed's latency and signing switches to it when its time comes — no restart. Ends
    /// with the state.
    fn spawn_key_watcher(&self) {
        let mut changes = self.store().view().key_changes();
        changes.mark_unchanged();
        let state = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(shared) = state.upgrade() else {
                    return;
                };
                if let Err(error) = shared.keys.reload(&shared.store).await {
                    tracing::warn!(%error, "the signing keys could not be read again; retrying on the next change or resync");
                }
            }
        });
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.0.metrics
    }

    /// Succeeds when the access view is recent enough to decide on
    /// ([`ServerConfig::view_max_staleness`]); see [`Store::ensure_view_fresh`].
    pub async fn ensure_view_fresh(&self) -> Result<(), accord_store::view::StaleView> {
        self.0
            .store
            .ensure_view_fresh(self.0.config.view_max_staleness)
            .await
    }

    pub fn keys(&self) -> &KeyRing {
        &self.0.keys
    }

    pub fn limits(&self) -> &crate::api::limits::Limiter {
        &self.0.limits
    }

    pub fn password_checks(&self) -> &PasswordChecks {
        &self.0.password_checks
    }

    pub fn throttles(&self) -> &Throttles {
        &self.0.throttles
    }
}
