//! Every log line the servers of this test binary write, captured, so tests can prove that no
//! secret they handled was ever logged.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use accord_testkit::TestDbRef;

use crate::support::TestServer;

/// Everything the server logged in this test binary (all tests share one process-wide subscriber).
static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

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

fn log() -> Arc<Mutex<Vec<u8>>> {
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
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
    /// Secrets this test handled: checked against the captured log by [`Live::assert_nothing_secret_logged`].
    pub secrets: Mutex<Vec<String>>,
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
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// Remembers a secret to look for in the log.
    pub fn secret(&self, value: impl Into<String>) -> String {
        let value = value.into();
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(value.clone());
        value
    }

    pub fn assert_nothing_secret_logged(&self) {
        let log = log();
        let log = log.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&log);
        assert!(
            text.contains("answered"),
            "the server logged nothing: the scan would prove nothing"
        );
        for secret in self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            assert!(secret.len() >= 8, "only real secrets are scanned for");
            assert!(
                !text.contains(secret.as_str()),
                "a secret appeared in the server log"
            );
        }
    }
}
