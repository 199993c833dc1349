//! The outside services some suites need (PostgreSQL, Redis), and what a test does when one is not
//! configured. Three cases, decided by [`availability`]:
//! - the URL variable names the service: use it;
//! - it does not, and the matching `ACCORD_REQUIRE_*` variable is set (CI): the test FAILS — a
//!   missing service must never look like a green run;
//! - it does not, and nothing requires it (a developer's `cargo test`): the test skips that part
//!   and says so on the terminal. libtest captures `eprintln!` from tests and shows it only on
//!   failure, so skip notices are written to the process's stderr directly, past the capture.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// A service the tests can use.
pub struct Service {
    pub name: &'static str,
    /// Names the service's URL; empty or `off` means not configured.
    pub url_env: &'static str,
    /// Set to `1` (CI does) to make a missing service a failure instead of a skip.
    pub require_env: &'static str,
    /// What runs without it, for the notice.
    pub skipped: &'static str,
    warned: AtomicBool,
}

pub static POSTGRES: Service = Service {
    name: "PostgreSQL",
    url_env: crate::POSTGRES_ENV,
    require_env: "ACCORD_REQUIRE_POSTGRES",
    skipped: "storage, server and CLI tests run on SQLite ONLY",
    warned: AtomicBool::new(false),
};

pub static REDIS: Service = Service {
    name: "Redis",
    url_env: crate::REDIS_ENV,
    require_env: "ACCORD_REQUIRE_REDIS",
    skipped: "the cluster-wide (Redis) rate-limit tests do not run",
    warned: AtomicBool::new(false),
};

/// What a test should do, from the two variables' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Use(String),
    Skip,
    /// Required but not configured: the message to fail with.
    Fail(String),
}

/// Decides from the URL variable's and the require variable's values (pure, for its tests).
pub fn availability(service: &Service, url: Option<&str>, require: Option<&str>) -> Availability {
    match url {
        Some(url) if !url.is_empty() && url != "off" => Availability::Use(url.to_owned()),
        _ if require.is_some_and(|v| !v.is_empty() && v != "0" && v != "false") => {
            Availability::Fail(format!(
                "{}={} but {} is not set (or is `off`): the {} suites cannot run; start {} and set {}",
                service.require_env,
                require.unwrap_or_default(),
                service.url_env,
                service.name,
                service.name,
                service.url_env,
            ))
        }
        _ => Availability::Skip,
    }
}

impl Service {
    /// The service's URL, or `None` after printing a skip notice; panics (fails the test) when the
    /// service is required but missing.
    pub fn url(&self) -> Option<String> {
        let url = std::env::var(self.url_env).ok();
        let require = std::env::var(self.require_env).ok();
        match availability(self, url.as_deref(), require.as_deref()) {
            Availability::Use(url) => Some(url),
            Availability::Fail(message) => panic!("{message}"),
            Availability::Skip => {
                self.notice_skip();
                None
            }
        }
    }

    fn notice_skip(&self) {
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let mut out = String::new();
        if !self.warned.swap(true, Ordering::Relaxed) {
            out.push_str(&format!(
                "\n!!! {} is not set: {} ({} SKIPPED). Set it, or {}=1 to fail instead. !!!\n",
                self.url_env, self.skipped, self.name, self.require_env
            ));
        }
        out.push_str(&format!("SKIPPED ({} part): {test}\n", self.name));
        // Straight to the process's stderr: libtest would swallow `eprintln!` from a passing test.
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_service_is_used() {
        assert_eq!(
            availability(&POSTGRES, Some("postgres://h/db"), Some("1")),
            Availability::Use("postgres://h/db".into())
        );
    }

    #[test]
    fn a_missing_service_is_skipped_unless_required() {
        for url in [None, Some(""), Some("off")] {
            assert_eq!(availability(&REDIS, url, None), Availability::Skip);
            assert_eq!(availability(&REDIS, url, Some("0")), Availability::Skip);
            let Availability::Fail(message) = availability(&REDIS, url, Some("1")) else {
                panic!("a required service that is missing must fail");
            };
            assert!(message.contains("ACCORD_REQUIRE_REDIS=1"), "{message}");
            assert!(message.contains("ACCORD_TEST_REDIS_URL"), "{message}");
        }
    }

    #[test]
    #[should_panic(expected = "the PostgreSQL suites cannot run")]
    fn the_kit_fails_a_test_whose_required_service_is_missing() {
        // A service whose variables no environment sets, required through a variable that is set
        // in every test process (PATH), behaves exactly as PostgreSQL in CI without PostgreSQL.
        static MISSING: Service = Service {
            name: "PostgreSQL",
            url_env: "ACCORD_TEST_NO_SUCH_SERVICE_URL",
            require_env: "PATH",
            skipped: "",
            warned: AtomicBool::new(false),
        };
        let _ = MISSING.url();
    }
}
