//! An account's own rate limits from the shell: `accord account change --rate-limit`, shown by
//! `accord account show` (text and `--json`), refused with the flag named, audited — and applied
//! by an `accord serve` already running, without a restart.

use accord_testkit::on_every_backend;

use crate::server::Running;
use crate::{accord, accord_on, example_seed, run, stderr, stdout};

/// A server app of Acme, for a token the running server rate-limits.
const BOT: &str = r#"{"apps": [{"name": "Bot", "kind": "server", "developer": "owner@acme.test",
  "scopes": ["user:read:admin"],
  "credentials": {"production": {"client_id": "bot-prod", "client_secret": "bot-prod-secret-0123456789"}}}]}"#;
/// Basic credentials of `bot-prod:bot-prod-secret-0123456789`.
const BOT_BASIC: &str = "Basic Ym90LXByb2Q6Ym90LXByb2Qtc2VjcmV0LTAxMjM0NTY3ODk=";

#[tokio::test]
async fn rate_limits_are_changed_shown_audited_and_refused_by_flag() {
    on_every_backend(|db| async move {
        assert!(run(accord_on(&db).arg("seed").arg(example_seed())).status.success());
        let shown = run(accord_on(&db).args(["account", "show", "acme"]));
        assert!(
            stdout(&shown).contains(
                "Rate limits: light 30/s, medium 20/s, heavy 10/s, meetings 100 per host per day\n"
            ),
            "{}",
            stdout(&shown)
        );

        let changed = run(accord_on(&db).args([
            "account",
            "change",
            "acme",
            "--rate-limit",
            "light=50/s",
            "--rate-limit",
            "meetings=200/day",
        ]));
        assert!(changed.status.success(), "{}", stderr(&changed));
        assert!(stdout(&changed).contains("light 50/s (own)"), "{}", stdout(&changed));

        let shown = run(accord_on(&db).args(["account", "show", "acme"]));
        assert!(
            stdout(&shown).contains(
                "Rate limits: light 50/s (own), medium 20/s, heavy 10/s, meetings 200 per host per day (own)\n"
            ),
            "{}",
            stdout(&shown)
        );
        let json = run(accord_on(&db).args(["--json", "account", "show", "acme"]));
        let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(
            json["account"]["rate_limits"],
            serde_json::json!({"light": {"per_second": 50}, "meetings": {"per_host_per_day": 200}})
        );
        assert_eq!(
            json["effective_rate_limits"],
            serde_json::json!({
                "light": {"per_second": 50, "default": false},
                "medium": {"per_second": 20, "default": true},
                "heavy": {"per_second": 10, "default": true},
                "meetings": {"per_host_per_day": 200, "default": false},
            })
        );

        for (flag, says) in [
            ("huge=5/s", "--rate-limit: unknown rate limit \"huge\": use one of light, medium, heavy, meetings"),
            ("meetings=5/s", "--rate-limit: meetings is counted /day, not \"/s\": write meetings=N/day"),
            ("light=5000000/s", "--rate-limit: 5000000 is more than the largest limit, 1000000"),
            ("light", "--rate-limit: \"light\" is not a rate-limit change"),
        ] {
            let refused = run(accord_on(&db).args(["account", "change", "acme", "--rate-limit", flag]));
            assert_eq!(refused.status.code(), Some(1), "{flag}");
            assert!(stderr(&refused).contains(says), "{flag}: {}", stderr(&refused));
        }

        let cleared = run(accord_on(&db).args([
            "--json", "account", "change", "acme", "--rate-limit", "light=default",
        ]));
        assert!(cleared.status.success(), "{}", stderr(&cleared));
        let cleared: serde_json::Value = serde_json::from_slice(&cleared.stdout).unwrap();
        assert_eq!(
            cleared["rate_limits"],
            serde_json::json!({"meetings": {"per_host_per_day": 200}})
        );

        let audited: Vec<_> = db
            .store
            .audit_log("acme")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "account.rate_limits_changed")
            .collect();
        assert_eq!(audited.len(), 2, "one entry per change, none for refusals");
        assert!(audited.iter().all(|e| e.actor_id.as_deref() == Some("cli")));

        let help = run(accord().args(["account", "change", "--help"]));
        assert!(stdout(&help).contains("--rate-limit <NAME=VALUE>"), "{}", stdout(&help));
    })
    .await;
}

/// Five Light calls at once, stopping at a refusal: its lowercased head. Five exceed a limit of
/// two per second, and stay within the default thirty with the caller's pauses.
fn burst_until_refused(server: &Running, token: &str) -> Option<String> {
    for _ in 0..5 {
        let (status, head, body) = server.get_with(
            "/v2/users/me",
            &[("Authorization", format!("Bearer {token}"))],
        );
        if status == 429 {
            return Some(head);
        }
        assert_eq!(status, 200, "{body}");
    }
    None
}

#[tokio::test]
async fn a_running_server_applies_a_limit_changed_from_the_shell_without_a_restart() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let bot = dir.path().join("bot.json");
        std::fs::write(&bot, BOT).unwrap();
        assert!(
            run(accord_on(&db).arg("seed").arg(example_seed()))
                .status
                .success()
        );
        assert!(run(accord_on(&db).arg("seed").arg(&bot)).status.success());
        let server = Running::start(
            accord_on(&db).args(["serve", "--bind", "127.0.0.1:0"]),
            "readiness",
        );
        let (status, body) = server.post_json(
            "/oauth/token?grant_type=client_credentials",
            &[("Authorization", BOT_BASIC.to_owned())],
            "",
        );
        assert_eq!(status, 200, "{body}");
        let token: serde_json::Value = serde_json::from_str(&body).unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let (status, head, _) = server.get_with(
            "/v2/users/me",
            &[("Authorization", format!("Bearer {token}"))],
        );
        assert_eq!(status, 200);
        assert!(head.contains("x-ratelimit-limit: 30"), "{head}");

        // Another process changes the limit; the server learns it from the change feed.
        let changed =
            run(accord_on(&db).args(["account", "change", "acme", "--rate-limit", "light=2/s"]));
        assert!(changed.status.success(), "{}", stderr(&changed));
        // A deadline for failure, not a timing assertion: the watcher syncs within 250 ms.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let refusal = loop {
            if let Some(head) = burst_until_refused(&server, &token) {
                break head;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server never applied light=2/s"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        for header in [
            "x-ratelimit-category: light",
            "x-ratelimit-type: qps",
            "x-ratelimit-limit: 2",
            "x-ratelimit-remaining: 0",
            "retry-after: 1",
        ] {
            assert!(refusal.contains(header), "{header}: {refusal}");
        }
        server.stop();
    })
    .await;
}
