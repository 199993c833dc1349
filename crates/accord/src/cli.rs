//! The command line: every setting is a flag with an `ACCORD_*` environment fallback, and global
//! flags work before or after the subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The embedded default database.
pub const DEFAULT_DATABASE: &str = "sqlite://./accord-data/accord.db";

#[derive(Debug, Parser)]
#[command(
    name = "accord",
    version,
    about = "Accord: a self-hostable app-authorization platform that speaks Zoom's OAuth and API dialect.",
    long_about = "Accord decides what third-party apps may do in a multi-tenant product:\n\
  - account apps are installed once by an admin and act on the whole account within their scopes;\n\
  - user apps are authorized by each user and never do more than that user may do now;\n\
  - server apps get one-hour tokens for their own account from client credentials.\n\n\
Start with `accord demo` (a seeded demo server), or `accord serve --seed FILE`.\n\
Every flag also reads ACCORD_<FLAG> from the environment (e.g. --database: ACCORD_DATABASE).",
    after_help = "Specification and guide: see README.md and docs/ in the source tree."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Database URL: sqlite://PATH (embedded, created and migrated on start) or postgres://USER@HOST/DB.
    /// Default: sqlite://./accord-data/accord.db
    #[arg(long, env = "ACCORD_DATABASE", global = true, value_name = "URL")]
    pub database: Option<String>,

    /// Folder for files Accord generates (the master key of the embedded default).
    /// Default: the SQLite file's folder.
    #[arg(long, env = "ACCORD_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// 32 random bytes in base64 protecting secrets at rest. Required with PostgreSQL (the same on
    /// every node); generated into the data folder for SQLite. Prefer the environment variable.
    #[arg(
        long,
        env = "ACCORD_MASTER_KEY",
        global = true,
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub master_key: Option<String>,

    /// Log format on standard error.
    #[arg(long, env = "ACCORD_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Print results as JSON (account, user and app commands).
    #[arg(long, env = "ACCORD_JSON", global = true)]
    pub json: bool,

    /// Argon2id memory cost for password hashes, in KiB (default 12288 with 3 passes, one of
    /// OWASP's equally strong recommendations; 19456 with 2 passes is another). Lower it only for
    /// test suites. Existing hashes keep the cost they were made with.
    #[arg(long, env = "ACCORD_ARGON2_MEMORY_KIB", global = true, default_value_t = 12 * 1024, value_name = "KIB")]
    pub argon2_memory_kib: u32,

    /// Argon2id passes for password hashes.
    #[arg(
        long,
        env = "ACCORD_ARGON2_ITERATIONS",
        global = true,
        default_value_t = 3,
        value_name = "N"
    )]
    pub argon2_iterations: u32,

    /// Seconds a query waits for a database connection — reconnecting meanwhile if the database
    /// refuses (a PostgreSQL restart) — before the request gets 503. Nothing waits longer.
    #[arg(
        long,
        env = "ACCORD_DB_ACQUIRE_TIMEOUT",
        global = true,
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "SECONDS"
    )]
    pub db_acquire_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Serve a fresh demo database seeded with a story, and print what to open and paste.
    Demo(DemoArgs),
    /// Apply schema migrations and exit.
    Migrate,
    /// Apply a seed file (accounts, users, roles, assistants, apps) in one transaction; applying it
    /// twice changes nothing.
    Seed {
        /// The JSON seed file (shape: see README.md).
        file: PathBuf,
    },
    /// Accounts (tenants).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Users of an account.
    #[command(subcommand)]
    User(UserCommand),
    /// Apps (account, user and server apps) and their credentials.
    #[command(subcommand)]
    App(AppCommand),
    /// Access-token signing keys (Ed25519).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// An app's webhooks: its delivery log, redelivery, and its secret token.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// The permission rule's decision for a token and a request, step by step — the same answer
    /// the API gives, with what would fix a denial.
    Explain {
        /// The access token (or set ACCORD_TOKEN).
        #[arg(long, env = "ACCORD_TOKEN", hide_env_values = true)]
        token: String,
        /// The issuer tokens must carry; default: the token's own `iss` (its signature must still
        /// verify with this deployment's keys).
        #[arg(long, env = "ACCORD_ISSUER", value_name = "URL")]
        issuer: Option<String>,
        /// The audience (API URL) tokens must carry; default: the token's own `aud`.
        #[arg(long, env = "ACCORD_API_URL", value_name = "URL")]
        api_url: Option<String>,
        /// e.g. GET
        method: String,
        /// e.g. /v2/users/me or /users/ann@acme.test
        path: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Announce a new signing key now (it is published in JWKS at once) and sign with it after a
    /// delay, so verifiers fetch it first. The old key stays published until its tokens expire.
    Rotate {
        /// Seconds between announcing the key and signing with it.
        #[arg(
            long,
            env = "ACCORD_KEY_ROTATION_DELAY",
            default_value_t = 600,
            value_name = "SECONDS"
        )]
        delay: i64,
    },
    /// List signing keys and their state (announced, signing, retired, expired).
    List,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// An app's (id or client id) delivery log, newest first: each event with its status and
    /// every attempt (time, HTTP status, latency, response excerpt), and the endpoint's
    /// validation state.
    Deliveries {
        app: String,
        /// Deliveries to show.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Show only deliveries older than this one (an event id), for the next page.
        #[arg(long, value_name = "ID")]
        before: Option<String>,
    },
    /// Queue a delivery (an event id, as the log shows it) again, due now, with the same event id
    /// so receivers de-duplicate it.
    Redeliver { id: String },
    /// Replace an app's (id or client id) webhook secret token with a new one, printed once. The
    /// endpoint receives nothing until it passes URL validation with the new token.
    RotateSecret { app: String },
    /// Print, as JSON, the headers Accord sends with a webhook body (read from standard input):
    /// Zoom's `x-zm-signature` and the Standard Webhooks headers, signed with a secret token —
    /// for testing a receiver without a running server.
    Sign {
        /// The secret token to sign with (prefer the environment variable).
        #[arg(long, env = "ACCORD_WEBHOOK_SECRET_TOKEN", hide_env_values = true)]
        secret_token: String,
        /// The event id (`x-accord-event-id`, `webhook-id`).
        #[arg(long, default_value = "evt-accord-sign")]
        id: String,
        /// The signing time in Unix seconds; default now.
        #[arg(long, value_name = "SECONDS")]
        timestamp: Option<i64>,
    },
}

/// OAuth lifetimes and URLs shared by `serve` and `demo`.
#[derive(Debug, Args, Clone)]
pub struct OAuthArgs {
    /// The API base URL returned as `api_url` in token responses (and the tokens' audience).
    /// Default: the public URL.
    #[arg(long, env = "ACCORD_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Access-token lifetime in seconds.
    #[arg(
        long,
        env = "ACCORD_ACCESS_TOKEN_TTL",
        default_value_t = 3600,
        value_name = "SECONDS"
    )]
    pub access_token_ttl: i64,
    /// Refresh-token lifetime in seconds (default 90 days).
    #[arg(long, env = "ACCORD_REFRESH_TOKEN_TTL", default_value_t = 90 * 24 * 3600, value_name = "SECONDS")]
    pub refresh_token_ttl: i64,
    /// Seconds during which presenting a just-rotated refresh token again returns the same
    /// successor (a lost response or two concurrent refreshes then do no harm); 0 turns it off.
    #[arg(
        long,
        env = "ACCORD_REFRESH_GRACE",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub refresh_grace: i64,
    /// Per-account API rate limits (Light 30/s, Medium 20/s, Heavy 10/s, 100 meetings per host
    /// per day). `off` is for load tests and benchmarks only.
    #[arg(long, env = "ACCORD_RATE_LIMITS", default_value = "on", value_parser = ["on", "off"])]
    pub rate_limits: String,
    /// Redis for rate limits that hold for the whole cluster (every node counts in it), e.g.
    /// redis://127.0.0.1:6379. The node refuses to start when it does not answer; later outages
    /// make each node limit on its own share until Redis is back.
    #[arg(long, env = "ACCORD_REDIS", value_name = "URL")]
    pub redis: Option<String>,
    /// What this deployment's Redis keys start with (several deployments may share one Redis).
    #[arg(
        long,
        env = "ACCORD_REDIS_PREFIX",
        default_value = "accord",
        value_name = "PREFIX"
    )]
    pub redis_prefix: String,
    /// Without --redis: how many nodes share the traffic. Each then enforces ceil(limit / N), an
    /// approximation of the cluster-wide limit behind a load balancer that spreads calls evenly.
    #[arg(long, env = "ACCORD_NODES", default_value_t = 1, value_name = "N")]
    pub nodes: u32,
    /// Sign-in password checks (Argon2id) run at once; 256 per worker more may wait up to a second
    /// each, and a sign-in beyond them gets 503. Default: the number of CPU cores.
    #[arg(long, env = "ACCORD_PASSWORD_CHECK_WORKERS", value_name = "N")]
    pub password_check_workers: Option<usize>,
    /// Seconds this node's access view may go without syncing with the database (it normally
    /// syncs every 250 ms and on every change notification). Beyond, /v2, /oauth/token,
    /// /oauth/introspect and the consoles answer 503 and /readyz says not ready, instead of
    /// deciding on grants that may have been revoked meanwhile.
    #[arg(
        long,
        env = "ACCORD_VIEW_MAX_STALENESS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "SECONDS"
    )]
    pub view_max_staleness: u64,
    /// Seconds within which every request is answered: a request still waiting then (on a
    /// database that stopped answering without closing the connection, say) gets 503.
    #[arg(
        long,
        env = "ACCORD_REQUEST_TIMEOUT",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "SECONDS"
    )]
    pub request_timeout: u64,
}

/// Timeouts and caps on connections, shared by `serve` and `demo` (slow or many clients must not
/// hold the server hostage). The defaults are `ConnectionLimits::default()` (a test keeps them so).
#[derive(Debug, Args, Clone)]
pub struct ConnectionArgs {
    /// Seconds a client has to send a request's whole header section (from its first byte; from
    /// the connection's opening for the first request). Slower connections are closed.
    #[arg(
        long,
        env = "ACCORD_HEADER_TIMEOUT",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "SECONDS"
    )]
    pub header_timeout: u64,
    /// Seconds a connection may wait on its client: for the next request on a kept-alive
    /// connection, between chunks of a request body, or to have a response read.
    #[arg(
        long,
        env = "ACCORD_IDLE_TIMEOUT",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "SECONDS"
    )]
    pub idle_timeout: u64,
    /// Connections open at once. At the cap the server stops accepting until one closes; new
    /// ones wait in the kernel's listen backlog. Keep it below the open-file limit (`ulimit -n`).
    #[arg(
        long,
        env = "ACCORD_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..),
        value_name = "N"
    )]
    pub max_connections: u32,
    /// Connections open at once from one client address (IPv6: one /64); beyond, its new ones
    /// are closed. Behind a load balancer every connection comes from its address: set this to
    /// --max-connections there.
    #[arg(
        long,
        env = "ACCORD_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256,
        value_parser = clap::value_parser!(u32).range(1..),
        value_name = "N"
    )]
    pub max_connections_per_address: u32,
}

/// Webhook delivery (webhooks.md), shared by `serve` and `demo`.
#[derive(Debug, Args, Clone)]
pub struct WebhookArgs {
    /// Let webhooks go to loopback, private, link-local and other non-public addresses. Off by
    /// default (SSRF protection: an app's endpoint URL must not reach into your network); always
    /// on in `accord demo`.
    #[arg(long, env = "ACCORD_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Seconds to wait before each retry of a failed webhook delivery, comma-separated: one more
    /// attempt per value, then the event is marked failed. Default: Zoom's 5, 20 and 60 minutes.
    /// For more attempts with exponential backoff, list them (e.g. 60,120,240,480,960).
    #[arg(
        long,
        env = "ACCORD_WEBHOOK_RETRY_DELAYS",
        value_delimiter = ',',
        default_value = "300,1200,3600",
        value_parser = clap::value_parser!(i64).range(1..=7 * 24 * 3600),
        value_name = "SECONDS,…"
    )]
    pub webhook_retry_delays: Vec<i64>,
    /// Spread each retry delay by up to ± this percentage, so events that failed together (an
    /// endpoint that was down) do not all come back at once. 0 keeps the schedule exact.
    #[arg(
        long,
        env = "ACCORD_WEBHOOK_RETRY_JITTER",
        default_value_t = 0,
        value_parser = clap::value_parser!(u8).range(0..=50),
        value_name = "PERCENT"
    )]
    pub webhook_retry_jitter: u8,
    /// Seconds a webhook request may take, from connecting to the answer (success is HTTP 200
    /// or 204 within it).
    #[arg(
        long,
        env = "ACCORD_WEBHOOK_TIMEOUT",
        default_value_t = 3,
        value_parser = clap::value_parser!(u64).range(1..=60),
        value_name = "SECONDS"
    )]
    pub webhook_timeout: u64,
    /// Webhook requests this node sends at once (at most one per app at a time).
    #[arg(
        long,
        env = "ACCORD_WEBHOOK_CONCURRENCY",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=1024),
        value_name = "N"
    )]
    pub webhook_concurrency: u32,
}

/// Who may scrape `GET /metrics` (Prometheus text) and where it is served.
#[derive(Debug, Args, Clone, Default)]
pub struct MetricsArgs {
    /// Serve `/metrics` on this address instead of the main listener (which then has no
    /// `/metrics`). Without it, `/metrics` is on the main listener.
    #[arg(long, env = "ACCORD_METRICS_BIND", value_name = "ADDR")]
    pub metrics_bind: Option<SocketAddr>,
    /// Require this bearer token to scrape `/metrics` (from any address). Without it, only
    /// loopback clients may scrape.
    #[arg(
        long,
        env = "ACCORD_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub metrics_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "ACCORD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The base URL clients reach this server at. Default: http://BIND.
    #[arg(long, env = "ACCORD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// The OAuth issuer identifier. Default: the public URL.
    #[arg(long, env = "ACCORD_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// A seed file to apply at start (see `accord seed`).
    #[arg(long, env = "ACCORD_SEED", value_name = "FILE")]
    pub seed: Option<PathBuf>,
    #[command(flatten)]
    pub oauth: OAuthArgs,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "ACCORD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The base URL clients reach this server at. Default: http://BIND.
    #[arg(long, env = "ACCORD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub oauth: OAuthArgs,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account with its built-in roles (Owner, Admin, Member) and its owner.
    Create {
        #[arg(long)]
        name: String,
        /// Keep this id (1-64 of A-Z a-z 0-9 - _); generated when left out.
        #[arg(long)]
        id: Option<String>,
        /// The owner's email.
        #[arg(long)]
        owner_email: String,
        /// The owner's password; generated and printed once when left out.
        #[arg(long, env = "ACCORD_OWNER_PASSWORD", hide_env_values = true)]
        owner_password: Option<String>,
        #[arg(long, default_value = "")]
        owner_first_name: String,
        #[arg(long, default_value = "")]
        owner_last_name: String,
        /// open: any user may authorize user apps; preapproval: members only pre-approved ones.
        #[arg(long, default_value = "open")]
        app_approval: String,
    },
    /// List accounts.
    List,
    /// Show an account with its rate limits, roles, users, blocked apps and pre-approvals.
    Show { account: String },
    /// Change an account's name, app policy or rate limits, block or unblock apps, answer
    /// pre-approvals.
    Change {
        account: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        app_approval: Option<String>,
        /// Set one of the account's own rate limits (repeatable): light=50/s, medium=40/s,
        /// heavy=5/s (calls per second; 0 refuses all), meetings=200/day (meeting creates and
        /// updates per host per UTC day), or NAME=default to follow the deployment's default.
        /// Running servers apply it at once, without a restart.
        #[arg(long = "rate-limit", value_name = "NAME=VALUE")]
        rate_limits: Vec<String>,
        /// Block an app (id or client id) in this account; its grants here end.
        #[arg(long, value_name = "APP")]
        block_app: Vec<String>,
        #[arg(long, value_name = "APP")]
        unblock_app: Vec<String>,
        /// Pre-approve a user app (id or client id) for this account.
        #[arg(long, value_name = "APP")]
        preapprove_app: Vec<String>,
        /// Decline a pre-approval request.
        #[arg(long, value_name = "APP")]
        decline_app: Vec<String>,
        /// Uninstall an app (id or client id) from this account: every grant of it here ends.
        #[arg(long, value_name = "APP")]
        uninstall_app: Vec<String>,
    },
    /// Delete an account and everything in it (its audit log stays).
    Delete {
        account: String,
        /// Confirm: deleting cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in an account.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        email: String,
        /// Generated and printed once when left out.
        #[arg(long, env = "ACCORD_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// admin, member, or a custom role id (ownership moves with `user change --make-owner`).
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        /// 1 Basic, 2 Licensed.
        #[arg(long = "type", default_value_t = 1)]
        user_type: i64,
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// active, inactive or pending.
        #[arg(long, default_value = "active")]
        status: String,
    },
    /// List the users of an account.
    List {
        #[arg(long)]
        account: String,
    },
    /// Show a user (id or email) with their assistants and the users they schedule for.
    Show {
        user: String,
        /// The user's account: needed when the email is a user in several accounts.
        #[arg(long)]
        account: Option<String>,
    },
    /// Change a user (id or email).
    Change {
        user: String,
        /// The user's account: needed when the email is a user in several accounts.
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long = "type")]
        user_type: Option<i64>,
        #[arg(long)]
        timezone: Option<String>,
        /// admin, member or a custom role id.
        #[arg(long)]
        role: Option<String>,
        /// active, inactive (ends the user's authorizations) or pending.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, env = "ACCORD_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Transfer account ownership to this user (the old owner becomes an admin).
        #[arg(long)]
        make_owner: bool,
        /// Make this user (id or email, of the same account) an assistant of the user.
        #[arg(long, value_name = "USER")]
        add_assistant: Vec<String>,
        #[arg(long, value_name = "USER")]
        remove_assistant: Vec<String>,
        /// End the user's authorization of a user app (id or client id): its tokens stop at once.
        #[arg(long, value_name = "APP")]
        remove_app: Vec<String>,
    },
    /// Delete a user (never the owner). Their authorizations end; installations they made stay.
    Delete {
        user: String,
        /// The user's account: needed when the email is a user in several accounts.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app. Both credential sets are made; secrets are printed once.
    Create {
        /// The developer (id or email); their account is the app's developer account.
        #[arg(long)]
        developer: String,
        /// The developer's account: needed when the email is a user in several accounts.
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        name: String,
        /// account (admin-managed), user (user-managed) or server (server-to-server).
        #[arg(long)]
        kind: String,
        /// Required scopes, comma-separated (classic or granular, one family).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        optional_scopes: Vec<String>,
        /// development (installable only in the developer account) or published.
        #[arg(long, default_value = "development")]
        status: String,
        /// Production redirect URI (repeatable).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Development redirect URI (repeatable).
        #[arg(long = "dev-redirect-uri", value_name = "URI")]
        dev_redirect_uris: Vec<String>,
        /// No client secret: the client proves itself with PKCE (S256).
        #[arg(long)]
        public_client: bool,
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
        #[arg(long, value_delimiter = ',')]
        webhook_events: Vec<String>,
    },
    /// List apps, all or those of one developer account.
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Show an app (id or client id) with its credential sets and grants.
    Show { app: String },
    /// Change an app (id or client id).
    Change {
        app: String,
        #[arg(long)]
        name: Option<String>,
        /// development or published (unpublishing ends grants outside the developer account).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        optional_scopes: Option<Vec<String>>,
        /// Replace the production redirect URIs (repeatable).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Option<Vec<String>>,
        /// Replace the development redirect URIs (repeatable).
        #[arg(long = "dev-redirect-uri", value_name = "URI")]
        dev_redirect_uris: Option<Vec<String>>,
        /// Add a new client secret to a credential set (at most two active); printed once.
        #[arg(long, value_name = "SET")]
        rotate_secret: Option<String>,
        /// Retire the older secret of a credential set.
        #[arg(long, value_name = "SET")]
        retire_old_secret: Option<String>,
        /// (Re)activate a server app: its server grant becomes active again (e.g. after one of
        /// its tokens was sent to /oauth/revoke, which ends the grant).
        #[arg(long)]
        activate: bool,
    },
    /// Delete an app: every grant of it ends.
    Delete { app: String },
}
