//! Storage integration tests. Every test runs on a fresh SQLite database and, when
//! `ACCORD_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database too.

mod meetings;
mod model;
mod passwords;
mod schema;
mod seed;
mod view;
