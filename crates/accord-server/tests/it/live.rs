//! Every log line the servers of this test binary write, captured, so tests can prove that no
//! secret they handled was ever logged.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use accord_testkit::TestDbRef;

use crate::support::TestServer;

/// Everything the server logged in this test binary (all tests share one process-wide subscriber).
static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Every secret any test of this binary handled.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret (password, code, token, client secret) to look for in the log.
pub fn remember(value: impl Into<String>) -> String {
    let value = value.into();
    SECRETS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(value.clone());
    value
}

/// Scans everything logged so far for every secret remembered so far.
pub fn assert_no_secret_logged() {
    let log = log();
    let log = log.lock().unwrap_or_else(|e| e.into_inner());
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.contains("answered"),
        "the server logged nothing: the scan would prove nothing"
    );
    for secret in SECRETS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        assert!(secret.len() >= 8, "only real secrets are scanned for");
        assert!(
            !text.contains(secret.as_str()),
            "a secret appeared in the server log"
        );
    }
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once) and returns the captured log.
pub fn log() -> Arc<Mutex<Vec<u8>>> {
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,accord_server=debug,accord_store=debug,tower_http=debug,sqlx=warn",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

/// A server running for one test ([`TestServer`]), with a plain HTTP client and the secrets the
/// test handled.
pub struct Live {
    pub url: String,
    pub db: TestDbRef,
    pub http: reqwest::Client,
    pub server: TestServer,
}

impl Live {
    pub async fn start(db: TestDbRef) -> Live {
        log();
        let server = TestServer::start(&db).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Live {
            url: server.base.clone(),
            db,
            http,
            server,
        }
    }

    /// Remembers a secret to look for in the log.
    pub fn secret(&self, value: impl Into<String>) -> String {
        remember(value)
    }

    pub fn assert_nothing_secret_logged(&self) {
        assert_no_secret_logged();
    }
}
