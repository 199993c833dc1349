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
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, body.to_owned())
    }

    pub fn get(&self, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .unwrap();
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
        banner.contains("-X DELETE http://")
            && banner.contains("/v2/marketplace/apps/meeting-sync"),
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
