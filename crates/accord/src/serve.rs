//! `accord serve` and `accord demo`: open the store, apply a seed, say what is running, serve.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use accord_core::apps::{AppKind, Environment};
use accord_server::{AppState, ConnectionLimits, ServerConfig};
use accord_store::seed::{self, SeedReport};
use anyhow::Context;
use tokio::net::TcpListener;

use accord_server::webhooks::{WebhookConfig, Worker};

use crate::cli::{
    ConnectionArgs, DemoArgs, Global, MetricsArgs, OAuthArgs, ServeArgs, WebhookArgs,
};

/// The story `accord demo` serves (operations.md): Acme, Globex and a developer account.
const DEMO_SEED: &str = include_str!("demo-seed.json");

/// Stands for the demo's public URL in [`DEMO_SEED`] (the apps' webhook endpoints).
const DEMO_URL: &str = "{DEMO_URL}";

pub async fn serve(global: &Global, args: ServeArgs) -> anyhow::Result<()> {
    let store = crate::open_store(global, None).await?;
    if let Some(file) = &args.seed {
        let report = store.seed_file(file).await?;
        print_seed_report(&report);
    }
    let (listener, address, mut config) =
        listen(args.bind, args.public_url.clone(), &args.oauth).await?;
    config.connections = connection_limits(&args.connections);
    if let Some(issuer) = args.issuer {
        config.issuer = issuer;
    }
    let metrics_listener = metrics_access(&args.metrics, &mut config).await?;
    // The state first (keys, Redis): a node that cannot serve never says it is listening.
    let state = AppState::new(store.clone(), config.clone()).await?;
    let webhooks = webhook_config(&args.webhooks, false);
    let worker = Worker::with_metrics(store.clone(), webhooks.clone(), state.metrics().clone())?;
    // Signal handlers before the banner: whoever reads it may stop the server at once.
    let shutdown = accord_server::shutdown_signal();
    announce(
        &store,
        global,
        &config,
        &webhooks,
        address,
        &metrics_listener,
    )
    .await?;
    let deliveries = Deliveries::start(worker);
    let metrics = MetricsListener::start(metrics_listener, &state, config.connections);
    let router = accord_server::router(state);
    accord_server::serve(listener, router, config.connections, shutdown).await?;
    metrics.stop().await;
    deliveries.stop().await;
    println!("Accord stopped.");
    Ok(())
}

/// The webhook settings from their flags; `accord demo` always allows private targets (its
/// receiver is on the loopback).
fn webhook_config(args: &WebhookArgs, always_allow_private: bool) -> WebhookConfig {
    let mut config = WebhookConfig::default();
    config.sender.allow_private = args.webhook_allow_private || always_allow_private;
    config.sender.timeout = Duration::from_secs(args.webhook_timeout);
    config.retry.delays = args.webhook_retry_delays.clone();
    config.retry_jitter_percent = args.webhook_retry_jitter;
    config.concurrency = usize::try_from(args.webhook_concurrency).unwrap_or(1);
    // A claim must outlive the request it covers, or a slow one could be sent twice at once.
    let timeout = i64::try_from(args.webhook_timeout).unwrap_or(i64::MAX);
    config.lease_seconds = config.lease_seconds.max(timeout.saturating_mul(10));
    config
}

fn announce_webhooks(config: &WebhookConfig) {
    let delays: Vec<String> = config.retry.delays.iter().map(i64::to_string).collect();
    println!(
        "  webhooks:    {} at once, {} s timeout, retries after {} s{}, then failed; private targets {}",
        config.concurrency,
        config.sender.timeout.as_secs(),
        if delays.is_empty() {
            "no retry".to_owned()
        } else {
            delays.join(", ")
        },
        match config.retry_jitter_percent {
            0 => String::new(),
            percent => format!(" (±{percent}%)"),
        },
        if config.sender.allow_private {
            "ALLOWED (--webhook-allow-private)"
        } else {
            "refused"
        }
    );
}

/// Applies `--metrics-token` and `--metrics-bind` to the config; binds the separate metrics
/// listener when asked for one.
async fn metrics_access(
    args: &MetricsArgs,
    config: &mut ServerConfig,
) -> anyhow::Result<Option<TcpListener>> {
    if args
        .metrics_token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        anyhow::bail!("--metrics-token must not be empty (leave it out for loopback-only scrapes)");
    }
    config.metrics = accord_server::MetricsAccess {
        token: args.metrics_token.clone(),
        separate_listener: args.metrics_bind.is_some(),
    };
    match args.metrics_bind {
        Some(bind) => Ok(Some(TcpListener::bind(bind).await.with_context(|| {
            format!(
                "cannot listen on {bind} for metrics (pick another address with --metrics-bind)"
            )
        })?)),
        None => Ok(None),
    }
}

/// The separate `/metrics` listener (`--metrics-bind`), if any, and how to stop it.
struct MetricsListener(
    Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
);

impl MetricsListener {
    fn start(listener: Option<TcpListener>, state: &AppState, limits: ConnectionLimits) -> Self {
        MetricsListener(listener.map(|listener| {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let router = accord_server::metrics_router(state.clone());
            let task = tokio::spawn(async move {
                let stopped = async move {
                    let _ = stopped.await;
                };
                if let Err(error) = accord_server::serve(listener, router, limits, stopped).await {
                    tracing::warn!(%error, "the metrics listener failed");
                }
            });
            (stop, task)
        }))
    }

    async fn stop(self) {
        if let Some((stop, task)) = self.0 {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// The running delivery worker and how to stop it once the server has drained.
struct Deliveries {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Deliveries {
    fn start(worker: Worker) -> Deliveries {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = worker.spawn(async move {
            let _ = stopped.await;
        });
        Deliveries { stop, task }
    }

    /// Lets requests in flight finish (each bounded by the timeout) and releases this node's claims.
    async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the webhook worker ended abnormally");
        }
    }
}

/// Binds the listening socket; the public URL defaults to the address actually bound (port 0 picks one).
async fn listen(
    bind: SocketAddr,
    public_url: Option<String>,
    oauth: &OAuthArgs,
) -> anyhow::Result<(TcpListener, SocketAddr, ServerConfig)> {
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind} (pick another address with --bind)"))?;
    let address = listener.local_addr()?;
    let mut config = ServerConfig::new(public_url.unwrap_or_else(|| format!("http://{address}")));
    if let Some(api_url) = &oauth.api_url {
        config.api_url = api_url.trim_end_matches('/').to_owned();
    }
    for (name, value) in [
        ("--access-token-ttl", oauth.access_token_ttl),
        ("--refresh-token-ttl", oauth.refresh_token_ttl),
    ] {
        if value < 60 {
            anyhow::bail!("{name} must be at least 60 seconds, not {value}");
        }
    }
    if oauth.refresh_grace < 0 {
        anyhow::bail!(
            "--refresh-grace must be 0 (off) or more seconds, not {}",
            oauth.refresh_grace
        );
    }
    config.access_token_seconds = oauth.access_token_ttl;
    config.refresh_token_seconds = oauth.refresh_token_ttl;
    config.refresh_grace_seconds = oauth.refresh_grace;
    config.rate_limits = oauth.rate_limits == "on";
    if oauth.nodes == 0 {
        anyhow::bail!("--nodes must be 1 or more, not 0");
    }
    if oauth.redis_prefix.is_empty() || oauth.redis_prefix.contains(char::is_whitespace) {
        anyhow::bail!(
            "--redis-prefix must be a non-empty word without spaces, not {:?}",
            oauth.redis_prefix
        );
    }
    config.redis_url = oauth.redis.clone().filter(|url| !url.is_empty());
    config.redis_prefix = oauth.redis_prefix.clone();
    config.nodes = oauth.nodes;
    config.view_max_staleness = Duration::from_secs(oauth.view_max_staleness);
    config.request_timeout = Duration::from_secs(oauth.request_timeout);
    if let Some(workers) = oauth.password_check_workers {
        if workers == 0 {
            anyhow::bail!("--password-check-workers must be 1 or more, not 0");
        }
        config.password_check_workers = workers;
        config.password_check_queue = accord_server::password_checks::QUEUE_PER_WORKER * workers;
    }
    Ok((listener, address, config))
}

/// The connection limits from their flags (clap has checked each is at least 1).
fn connection_limits(args: &ConnectionArgs) -> ConnectionLimits {
    let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    ConnectionLimits {
        header_timeout: Duration::from_secs(args.header_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: count(args.max_connections),
        max_connections_per_address: count(args.max_connections_per_address),
    }
}

async fn announce(
    store: &accord_store::Store,
    global: &Global,
    config: &ServerConfig,
    webhooks: &WebhookConfig,
    address: std::net::SocketAddr,
    metrics_listener: &Option<TcpListener>,
) -> anyhow::Result<()> {
    let counts = store.counts().await?;
    println!(
        "Accord {} listening on http://{address}",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "  public URL:  {}   (issuer {})",
        config.public_url, config.issuer
    );
    println!(
        "  database:    {} {}",
        store.backend().name(),
        accord_store::redact_url(&crate::database_url(global, None))
    );
    println!("  master key:  from {}", store.master_key_source());
    println!(
        "  holds:       accounts {}, users {}, apps {}, active grants {}",
        counts.accounts, counts.users, counts.apps, counts.grants
    );
    let limits = match (&config.redis_url, config.rate_limits) {
        (_, false) => "OFF (--rate-limits off: for load tests only)".to_owned(),
        (Some(url), true) => format!(
            "per account, shared by every node in Redis {} (keys {}:rl:*)",
            accord_store::redact_url(url),
            config.redis_prefix
        ),
        (None, true) if config.nodes > 1 => format!(
            "per account, this node's share of {} nodes (no --redis)",
            config.nodes
        ),
        (None, true) => "per account, on this node (several nodes: --redis)".to_owned(),
    };
    println!("  rate limits: {limits}");
    let connections = &config.connections;
    println!(
        "  connections: at most {} ({} per client address); header timeout {} s, idle timeout {} s",
        connections.max_connections,
        connections.max_connections_per_address,
        connections.header_timeout.as_secs(),
        connections.idle_timeout.as_secs()
    );
    announce_webhooks(webhooks);
    println!(
        "  health:      {}/healthz   readiness: {}/readyz",
        config.public_url, config.public_url
    );
    let metrics_at = match metrics_listener.as_ref().and_then(|l| l.local_addr().ok()) {
        Some(separate) => format!("http://{separate}/metrics"),
        None => format!("{}/metrics", config.public_url),
    };
    let who = if config.metrics.token.is_some() {
        "bearer --metrics-token"
    } else {
        "loopback clients only"
    };
    println!("  metrics:     {metrics_at} ({who})");
    Ok(())
}

pub fn print_seed_report(report: &SeedReport) {
    if report.changed_nothing() {
        println!("Seed applied: no changes (the database already matches the file).");
    } else {
        println!(
            "Seed applied: {} created, {} updated.",
            report.created.len(),
            report.updated.len()
        );
        for line in &report.created {
            println!("  + {line}");
        }
        for line in &report.updated {
            println!("  ~ {line}");
        }
    }
    if !report.shown_once.is_empty() {
        println!("Generated secrets (shown once, stored only as hashes or encrypted):");
        for (label, secret) in &report.shown_once {
            println!("  {label}: {}", secret.expose());
        }
    }
}

pub async fn demo(global: &Global, args: DemoArgs) -> anyhow::Result<()> {
    // A fresh database each time, unless one is named explicitly.
    let dir = tempfile::Builder::new()
        .prefix("accord-demo-")
        .tempdir()
        .context("cannot create a folder for the demo database")?;
    let fallback = format!("sqlite://{}", dir.path().join("demo.db").display());
    let store = crate::open_store(global, Some(&fallback)).await?;
    // Listening first: the demo apps' webhook endpoints are this server's own receiver.
    let (listener, address, mut config) = listen(args.bind, args.public_url, &args.oauth).await?;
    config.connections = connection_limits(&args.connections);
    let seed_text = DEMO_SEED.replace(DEMO_URL, &config.public_url);
    let seed_file = seed::parse("built-in demo seed", &seed_text)?;
    let report = seed::apply(&store, "built-in demo seed", &seed_file).await?;

    let mut global = global.clone();
    global.database.get_or_insert(fallback);
    let metrics_listener = metrics_access(&args.metrics, &mut config).await?;
    let state = AppState::new(store.clone(), config.clone()).await?;
    let webhooks = webhook_config(&args.webhooks, true);
    let worker = Worker::with_metrics(store.clone(), webhooks.clone(), state.metrics().clone())?;
    let shutdown = accord_server::shutdown_signal();
    announce(
        &store,
        &global,
        &config,
        &webhooks,
        address,
        &metrics_listener,
    )
    .await?;
    print_demo_guide(&config, &seed_file, &report, dir.path());
    let deliveries = Deliveries::start(worker);
    let metrics = MetricsListener::start(metrics_listener, &state, config.connections);
    let router = accord_server::router(state).merge(crate::demo_receiver::routes(store.clone()));
    accord_server::serve(listener, router, config.connections, shutdown).await?;
    metrics.stop().await;
    deliveries.stop().await;
    println!("Accord demo stopped; its database is removed.");
    Ok(())
}

fn print_demo_guide(config: &ServerConfig, seed: &seed::SeedFile, report: &SeedReport, dir: &Path) {
    let url = &config.public_url;
    println!();
    println!(
        "== The demo story (database in {}, removed when you stop) ==",
        dir.display()
    );
    println!(
        "Acme      — Olive (owner), Adam (admin), Ann and Max (members), Sam (custom role Scheduler: Meeting:Read, Meeting:Edit)."
    );
    println!("            Sam is Ann's assistant: Sam may manage Ann's meetings.");
    println!("Globex    — Gina (owner) and Gus (member): another tenant, invisible from Acme.");
    println!("Devworks  — Dana (owner) builds one app of each kind.");
    println!(
        "Acme IT   — Acme's own server app: its admins' tool for Acme's apps and roles (marketplace and role scopes)."
    );
    println!(
        "Webhooks  — every app's endpoint is this demo's receiver ({url}{}/APP): each delivery is printed here,",
        crate::demo_receiver::PATH
    );
    println!("            with its event, app, and whether its signatures verified.");
    println!();
    println!("Sign in as (email / password):");
    for account in &seed.accounts {
        for user in &account.users {
            let role = user.role.as_deref().unwrap_or("member");
            let password = user
                .password
                .as_ref()
                .map(|p| p.expose())
                .unwrap_or("(generated)");
            println!(
                "  {:8} {:10} {:22} {password}",
                account.name, role, user.email
            );
        }
    }
    println!();
    println!(
        "Apps (credentials are the demo's own; real deployments generate and show them once):"
    );
    for app in &report.apps {
        let kind = match app.kind {
            AppKind::Account => "account app: an Acme admin installs it once for the whole account",
            AppKind::User => "user app: each user authorizes it for themselves",
            AppKind::Server => {
                "server app: client credentials, tokens for its developer account only"
            }
        };
        println!("  {} — {kind}", app.name);
        let declared = seed
            .apps
            .iter()
            .find(|a| a.name == app.name)
            .and_then(|a| a.credentials.production.as_ref());
        let Some(set) = app.credential_set(Environment::Production) else {
            continue;
        };
        let secret = declared
            .and_then(|d| d.client_secret.as_ref())
            .map(|s| s.expose())
            .unwrap_or("(generated)");
        println!("    client_id {}   client_secret {secret}", set.client_id);
        if let Some(redirect) = set.redirect_uris.first() {
            println!(
                "    install link: {url}/oauth/authorize?response_type=code&client_id={}&redirect_uri={}",
                set.client_id,
                query_encode(redirect)
            );
        }
    }
    println!();
    println!(
        "Console: {url}/console — sign in as adam@acme.test (Acme's admin) to manage Acme's apps, users and"
    );
    println!(
        "         roles, as ann@acme.test (a member) to see what a member sees, as dana@devworks.test for the"
    );
    println!("         developer console ({url}/console/developer).");
    println!();
    print_walkthrough(url);
    println!();
}

/// Percent-encodes a query parameter value (everything but the unreserved characters).
fn query_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The copy-paste walkthrough (`demo-walkthrough.sh`, with the demo's URL): readiness, a server
/// token, an account install and a user authorization driven through the sign-in and consent forms
/// with curl, a refused member, an assistant, an admin uninstall and the `app_deauthorized` it
/// sends. Every command is followed by what it answers (`#   → …`); the `demo_walkthrough` test
/// runs it line by line in bash and checks each answer.
const DEMO_WALKTHROUGH: &str = include_str!("demo-walkthrough.sh");

fn print_walkthrough(url: &str) {
    print!("{}", DEMO_WALKTHROUGH.replace(DEMO_URL, url));
    println!("Discovery: {url}/.well-known/oauth-authorization-server   keys: {url}/oauth/jwks");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn webhook_flags_default_to_zooms_schedule_and_refuse_private_targets_outside_the_demo() {
        let Command::Serve(args) = Cli::parse_from(["accord", "serve"]).command else {
            panic!("serve parses as serve");
        };
        let config = webhook_config(&args.webhooks, false);
        assert_eq!(
            config.retry,
            accord_core::webhooks::RetrySchedule::default()
        );
        assert!(!config.sender.allow_private);
        assert_eq!(config.sender.timeout, Duration::from_secs(3));
        assert!(
            webhook_config(&args.webhooks, true).sender.allow_private,
            "the demo"
        );

        let Command::Serve(args) = Cli::parse_from([
            "accord",
            "serve",
            "--webhook-allow-private",
            "--webhook-retry-delays",
            "10,60,600,3600,7200",
            "--webhook-timeout",
            "5",
            "--webhook-retry-jitter",
            "10",
        ])
        .command
        else {
            panic!("serve parses as serve");
        };
        let config = webhook_config(&args.webhooks, false);
        assert!(config.sender.allow_private);
        assert_eq!(config.retry.delays, [10, 60, 600, 3600, 7200]);
        assert_eq!(config.retry.attempts(), 6);
        assert_eq!(config.sender.timeout, Duration::from_secs(5));
        assert_eq!(config.retry_jitter_percent, 10);
        for bad in ["0", "-5", "300,x", "1,"] {
            assert!(
                Cli::try_parse_from(["accord", "serve", "--webhook-retry-delays", bad]).is_err(),
                "--webhook-retry-delays {bad} is refused"
            );
        }
        assert!(Cli::try_parse_from(["accord", "demo", "--webhook-timeout", "0"]).is_err());
    }

    #[test]
    fn connection_flags_default_to_the_servers_defaults_and_refuse_zero() {
        let Command::Serve(args) = Cli::parse_from(["accord", "serve"]).command else {
            panic!("serve parses as serve");
        };
        assert_eq!(
            connection_limits(&args.connections),
            ConnectionLimits::default()
        );
        for flag in [
            "--header-timeout",
            "--idle-timeout",
            "--max-connections",
            "--max-connections-per-address",
        ] {
            assert!(
                Cli::try_parse_from(["accord", "serve", flag, "0"]).is_err(),
                "{flag} 0 is refused"
            );
        }
    }
}
