use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use accord_testkit::on_every_backend;

use crate::{accord, accord_on, example_seed};

/// A running `accord` process; stopped with SIGTERM when dropped.
pub struct Running {
    child: Child,
    /// Set once stopped cleanly; a test that panics earlier kills the process on drop.
    stopped: bool,
    pub banner: Vec<String>,
    pub address: String,
    /// What it printed after the banner.
    printed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    /// Starts the command and reads its output up to the line that says where it listens.
    pub fn start(command: &mut std::process::Command, until: &str) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("accord starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // A reader thread forwards lines; a missing marker then fails the test after a generous
        // deadline instead of hanging it (a deadline for failure, not a timing assertion).
        let (sender, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let mut address = None;
        while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(60)) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                address = Some(rest.trim().to_owned());
            }
            let done = line.contains(until);
            banner.push(line);
            if done && address.is_some() {
                break;
            }
        }
        let (Some(address), true) = (address, banner.iter().any(|l| l.contains(until))) else {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("accord did not print {until:?}: {banner:?} {err}");
        };
        // Keep draining stdout so the server never blocks on a full pipe, keeping what it says.
        let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = printed.clone();
        std::thread::spawn(move || {
            for line in lines {
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Running {
            child,
            stopped: false,
            banner,
            address,
            printed,
        }
    }

    /// The first line printed after the banner that contains `needle`; fails after a generous
    /// deadline (a deadline for failure, not a timing assertion).
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let printed = self.printed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(line) = printed.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "accord never printed {needle:?}: {printed:?}"
            );
            drop(printed);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// POSTs a JSON body with extra headers; the status and the body.
    pub fn post_json(&self, path: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let (status, _, body) = exchange(&self.address, &head, body);
        (status, body)
    }

    pub fn get(&self, path: &str) -> (u16, String, String) {
        get_from(&self.address, path, &[])
    }

    /// GETs with extra headers; the status, the lowercased head and the body.
    pub fn get_with(&self, path: &str, headers: &[(&str, String)]) -> (u16, String, String) {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        get_from(&self.address, path, &headers)
    }

    /// Kills the process with SIGKILL (no draining, no cleanup), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stopped = true;
    }

    /// Sends SIGTERM and checks the server drains and exits cleanly; returns its log.
    pub fn stop(mut self) -> String {
        #[cfg(unix)]
        {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
        }
        let status = self.child.wait().expect("accord exits");
        self.stopped = true;
        assert!(
            status.success(),
            "accord exited with {status} after SIGTERM"
        );
        let mut err = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .map(|mut e| e.read_to_string(&mut err));
        err
    }
}

/// `GET path` from `address` with extra headers: the status, the head (lowercased) and the body.
pub fn get_from(address: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    exchange(address, &head, "")
}

/// Sends one request (`head`: its request line and headers, each line ending in CRLF; `Host` and
/// `Connection: close` are added) on a new connection and reads the whole answer: the status,
/// the head (lowercased) and the body.
fn exchange(address: &str, head: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let request = format!("{head}Host: {address}\r\nConnection: close\r\n\r\n{body}");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_owned())
}

#[tokio::test]
async fn serve_applies_its_seed_reports_what_it_holds_and_answers_health_checks() {
    on_every_backend(|db| async move {
        let running = Running::start(
            accord_on(&db)
                .args(["serve", "--bind", "127.0.0.1:0", "--seed"])
                .arg(example_seed()),
            "readiness",
        );
        let banner = running.banner.join("\n");
        assert!(banner.contains("account Acme"), "{banner}");
        assert!(
            banner.contains(&format!("database:    {}", db.backend.name())),
            "{banner}"
        );
        assert!(banner.contains("accounts 1, users 3, apps 1"), "{banner}");
        assert!(
            !banner.contains(&db.master_key),
            "the master key is never printed"
        );

        let (status, head, body) = running.get("/healthz");
        assert_eq!(status, 200);
        assert!(head.contains("x-zm-trackingid:"), "{head}");
        assert_eq!(body, r#"{"status":"ok"}"#);
        let (status, _, body) = running.get("/readyz");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(db.backend.name()), "{body}");
        let (status, _, body) = running.get("/no/such/page");
        assert_eq!(status, 404);
        assert!(body.contains(r#""code":404"#), "{body}");

        running.stop();
    })
    .await;
}

#[tokio::test]
async fn serve_never_prints_a_password_given_in_the_database_url() {
    on_every_backend(|db| async move {
        if db.backend != accord_store::Backend::Postgres {
            // SQLite URLs carry no password.
            return;
        }
        // PostgreSQL takes a password in the query string as well as in the user info; the test
        // server trusts loopback, so the password is accepted and ignored.
        let secret = "hunter2-in-the-query";
        let separator = if db.database_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{separator}password={secret}", db.database_url);
        let running = Running::start(
            accord_on(&db)
                .env("ACCORD_DATABASE", &url)
                .env("ACCORD_LOG", "info")
                .args(["serve", "--bind", "127.0.0.1:0"]),
            "readiness",
        );
        let banner = running.banner.join("\n");
        assert!(banner.contains("password=***"), "{banner}");
        let log = running.stop();
        assert!(!banner.contains(secret), "{banner}");
        assert!(!log.contains(secret), "{log}");
    })
    .await;
}

#[test]
fn demo_serves_a_fresh_story_and_prints_what_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(
        accord()
            .current_dir(dir.path())
            .args(["demo", "--bind", "127.0.0.1:0"]),
        "Discovery:",
    );
    let banner = running.banner.join("\n");
    for expected in [
        "olive@acme.test",
        "olive-demo-password",
        "gina@globex.test",
        "Meeting Sync",
        "install link:",
        "client_id devworks-backend",
    ] {
        assert!(
            banner.contains(expected),
            "demo output lacks {expected}: {banner}"
        );
    }
    assert!(
        banner.contains("accounts 3, users 8, apps 4, active grants 2"),
        "{banner}"
    );
    assert!(
        banner.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A9000%2Fcallback"),
        "{banner}"
    );
    let (status, _, _) = running.get("/readyz");
    assert_eq!(status, 200);

    // The walkthrough's uninstall is the admin's DELETE, and every app's endpoint is the demo's
    // own receiver, which answers URL validation and prints each delivery with its verdict.
    assert!(
        banner.contains("-X DELETE \"$URL/v2/marketplace/apps/meeting-sync\""),
        "{banner}"
    );
    assert!(banner.contains("/_demo/webhooks"), "{banner}");
    let token = "notes-webhook-token";
    let validation =
        r#"{"event":"endpoint.url_validation","event_ts":1,"payload":{"plainToken":"plain-1"}}"#;
    let (status, answer) = running.post_json("/_demo/webhooks/notes", &[], validation);
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    assert_eq!(
        answer["encryptedToken"],
        accord_core::webhooks::url_validation_answer(token, "plain-1")
    );
    let body = r#"{"event":"meeting.created","event_ts":1,"payload":{"account_id":"acme"}}"#;
    let timestamp = 1_700_000_000;
    let signed = |body: &str| {
        vec![
            ("x-zm-request-timestamp", timestamp.to_string()),
            (
                "x-zm-signature",
                accord_core::webhooks::zoom_signature(token, timestamp, body),
            ),
            ("webhook-id", "evt-demo-1".to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                accord_core::webhooks::standard_signature(token, "evt-demo-1", timestamp, body),
            ),
            ("x-accord-event-id", "evt-demo-1".to_owned()),
        ]
    };
    let (status, _) = running.post_json("/_demo/webhooks/notes", &signed(body), body);
    assert_eq!(status, 204);
    let line = running.wait_for_line("meeting.created");
    assert!(
        line.contains("app notes") && line.contains("signature verified"),
        "{line}"
    );
    let forged = body.replace("acme", "evil");
    let (status, _) = running.post_json("/_demo/webhooks/notes", &signed(body), &forged);
    assert_eq!(status, 401, "a forged delivery is refused");
    running.wait_for_line("signature NOT verified");
    running.stop();
    assert!(
        !dir.path().join("accord-data").exists(),
        "the demo never touches ./accord-data"
    );
}

/// A bare HTTP/1.1 webhook receiver on the loopback: answers URL validations for `secret`, takes
/// every other POST with 200 and hands its body to the test.
async fn webhook_receiver(
    secret: &'static str,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let (deliveries, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let deliveries = deliveries.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (name, value) = l.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while request.len() < head_end + length {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&request[head_end..]).to_string();
                let envelope: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let answer = if envelope["event"] == accord_core::webhooks::URL_VALIDATION {
                    let plain = envelope["payload"]["plainToken"].as_str().unwrap_or("");
                    serde_json::json!({
                        "plainToken": plain,
                        "encryptedToken": accord_core::webhooks::url_validation_answer(secret, plain),
                    })
                    .to_string()
                } else {
                    let _ = deliveries.send(body);
                    String::new()
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, received)
}

#[tokio::test]
async fn serve_validates_seeded_endpoints_and_delivers_the_outbox_with_the_private_flag() {
    on_every_backend(|db| async move {
        const SECRET: &str = "serve-hooks-token-0123456789";
        let (url, mut received) = webhook_receiver(SECRET).await;
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed.json");
        let file = serde_json::json!({
            "accounts": [{"id": "acme", "name": "Acme", "users": [
                {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"}]}],
            "apps": [{"id": "hooked", "name": "Hooked", "kind": "account", "developer": "olive@acme.test",
                      "status": "published", "scopes": ["user:read:admin"],
                      "credentials": {"production": {"redirect_uris": ["http://127.0.0.1:9/cb"]}},
                      "webhook": {"url": url, "secret_token": SECRET, "events": ["user.updated"]}}]
        });
        std::fs::write(&seed, file.to_string()).unwrap();
        let running = Running::start(
            accord_on(&db)
                .env("ACCORD_LOG", "info,sqlx=warn")
                // A loaded test machine may answer slowly: a long timeout, and a quick retry.
                .args(["serve", "--bind", "127.0.0.1:0", "--webhook-allow-private"])
                .args(["--webhook-timeout", "30", "--webhook-retry-delays", "1,1,1"])
                .arg("--seed")
                .arg(&seed),
            "readiness",
        );
        let banner = running.banner.join("\n");
        assert!(
            banner.contains("retries after 1, 1, 1 s") && banner.contains("ALLOWED"),
            "{banner}"
        );

        // An event committed by another process (this test) reaches the receiver.
        db.store.sync_view().await;
        let mut tx = db.store.begin().await.unwrap();
        let ctx = accord_store::Ctx {
            now: db.store.now(),
            keys: db.store.keys(),
        };
        let id = accord_store::outbox::enqueue(
            &mut tx,
            &ctx,
            "hooked",
            "acme",
            accord_core::webhooks::Event::UserUpdated,
            |_| serde_json::json!({"account_id": "acme"}),
        )
        .await
        .unwrap()
        .expect("the endpoint subscribes");
        db.store.commit(tx).await.unwrap();
        // A deadline for failure only (the worker polls every 250 ms, or is notified).
        let Ok(Some(body)) =
            tokio::time::timeout(std::time::Duration::from_secs(20), received.recv()).await
        else {
            let log = running.stop();
            panic!("the event did not arrive; the server's log:\n{log}");
        };
        let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(envelope["event"], "user.updated");
        let stderr = running.stop();
        assert!(!stderr.contains(SECRET), "the secret token is never logged");
        let app = db.store.app("hooked").await.unwrap();
        assert!(app.webhook.unwrap().validated_at.is_some(), "validated at start");
        let event = db.store.queued_webhook_event(&id).await.unwrap().unwrap();
        assert_eq!(event.status, "delivered");
    })
    .await;
}

#[tokio::test]
async fn metrics_move_to_their_own_listener_and_need_the_token_there() {
    on_every_backend(|db| async move {
        let running = Running::start(
            accord_on(&db)
                // The listener from the environment, the token from the flag: both are read.
                .env("ACCORD_METRICS_BIND", "127.0.0.1:0")
                .args([
                    "serve",
                    "--bind",
                    "127.0.0.1:0",
                    "--metrics-token",
                    "scrape-token-0123456789",
                ]),
            "readiness",
        );
        let line = running.wait_for_line("metrics:");
        assert!(line.contains("bearer --metrics-token"), "{line}");
        let metrics = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split("/metrics").next())
            .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
            .to_owned();
        assert_ne!(metrics, running.address, "a listener of its own");

        let (status, _, _) = running.get("/metrics");
        assert_eq!(status, 404, "the main listener no longer serves /metrics");
        let (status, _, body) = get_from(&metrics, "/metrics", &[]);
        assert_eq!(status, 403, "{body}");
        let bearer = [("Authorization", "Bearer scrape-token-0123456789")];
        let (status, head, body) = get_from(&metrics, "/metrics", &bearer);
        assert_eq!(status, 200, "{body}");
        assert!(
            head.contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        // The main listener's 404 above counts on the same registry.
        assert!(
            body.lines()
                .any(|l| l.starts_with("accord_http_requests_total{")
                    && l.contains(r#"route="unmatched""#)
                    && l.contains(r#"status="404""#)),
            "{body}"
        );
        assert!(
            body.contains("# TYPE accord_tokens_issued_total counter"),
            "{body}"
        );
        running.stop();
    })
    .await;
}
