//! The `accord` binary, driven as a user drives it: flags, exit codes, what it prints, and a
//! running server answering `/healthz` and `/readyz`. Runs on SQLite and, when configured,
//! PostgreSQL.

mod cli;
mod cluster;
mod demo_walkthrough;
mod rate_limits;
mod server;
mod three_nodes;
mod webhook_outbox;
mod webhooks;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn accord() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_accord"));
    for var in [
        "ACCORD_DATABASE",
        "ACCORD_MASTER_KEY",
        "ACCORD_DATA_DIR",
        "ACCORD_BIND",
        "ACCORD_SEED",
        "ACCORD_JSON",
    ] {
        command.env_remove(var);
    }
    // The cheapest Argon2id setting keeps the suite quick; hashes carry their own parameters.
    command
        .env("ACCORD_ARGON2_MEMORY_KIB", "8")
        .env("ACCORD_ARGON2_ITERATIONS", "1")
        .env("ACCORD_LOG", "warn");
    command
}

/// `accord` against one test database.
pub fn accord_on(db: &accord_testkit::TestDbRef) -> Command {
    let mut command = accord();
    command
        .env("ACCORD_DATABASE", &db.database_url)
        .env("ACCORD_MASTER_KEY", &db.master_key);
    command
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("the accord binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn example_seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed.json")
}
