//! `accord`: serve, demo, seed, migrate, and administer accounts, users and apps from a shell.

mod admin;
mod cli;
mod demo_receiver;
mod serve;

use std::process::ExitCode;

use accord_store::secrets::PasswordCost;
use accord_store::{Store, StoreConfig};
use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, Global, LogFormat};

/// mimalloc, not glibc's malloc: the tokio workers free each other's buffers without contending
/// for an arena lock (the workspace's Cargo.toml says what was measured).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Command::Serve(_) | Command::Demo(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACCORD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match cli.global.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::serve(&global, args).await,
        Command::Demo(args) => serve::demo(&global, args).await,
        Command::Migrate => {
            let store = open_store(&global, None).await?;
            println!(
                "{} database {} is migrated and ready.",
                store.backend().name(),
                database_url(&global, None)
            );
            Ok(())
        }
        Command::Seed { file } => {
            let store = open_store(&global, None).await?;
            let report = store.seed_file(&file).await?;
            serve::print_seed_report(&report);
            Ok(())
        }
        Command::Account(command) => {
            admin::account(&open_store(&global, None).await?, &global, command).await
        }
        Command::User(command) => {
            admin::user(&open_store(&global, None).await?, &global, command).await
        }
        Command::App(command) => {
            admin::app(&open_store(&global, None).await?, &global, command).await
        }
        Command::Explain {
            token,
            issuer,
            api_url,
            method,
            path,
        } => {
            let store = open_store(&global, None).await?;
            admin::explain(store, &global, &token, issuer, api_url, &method, &path).await
        }
        Command::Webhook(command @ cli::WebhookCommand::Sign { .. }) => admin::sign(command),
        Command::Webhook(command) => {
            admin::webhook(&open_store(&global, None).await?, &global, command).await
        }
        Command::Keys(command) => {
            admin::keys(&open_store(&global, None).await?, &global, command).await
        }
    }
}

/// The database URL in force: the flag, else `fallback`, else the embedded default.
pub fn database_url(global: &Global, fallback: Option<&str>) -> String {
    global
        .database
        .clone()
        .or_else(|| fallback.map(str::to_owned))
        .unwrap_or_else(|| cli::DEFAULT_DATABASE.to_owned())
}

/// Opens (creating and migrating) the configured database.
pub async fn open_store(global: &Global, fallback_database: Option<&str>) -> anyhow::Result<Store> {
    let url = database_url(global, fallback_database);
    let config = StoreConfig {
        data_dir: global.data_dir.clone(),
        master_key: global.master_key.clone(),
        password_cost: PasswordCost {
            memory_kib: global.argon2_memory_kib,
            iterations: global.argon2_iterations,
        },
        acquire_timeout: std::time::Duration::from_secs(global.db_acquire_timeout),
        ..StoreConfig::new(url.clone())
    };
    Store::open(&config).await.with_context(|| {
        format!(
            "cannot open the database {}",
            accord_store::redact_url(&url)
        )
    })
}
