//! Storage integration tests. Every test runs on a fresh SQLite database and, when
//! `ACCORD_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database too.

mod deliveries;
mod events;
mod meetings;
mod migrations;
mod model;
mod passwords;
mod rate_limits;
mod schema;
mod seed;
mod tokens;
mod view;
mod webhook_log;
