//! Tenants never see each other: random sequences of API calls by apps of two accounts, and no
//! answer to one account ever contains an id, email or meeting topic of the other — unless the
//! caller sent that very string itself (a not-found message echoes the id it was asked about).
//! The sequences come from a fixed set of seeds, so a failure reproduces exactly.

use std::collections::HashSet;

use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::tokens::start;
use crate::users_api::{call, server_token};

/// xorshift64*: small, deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get((self.next() % items.len() as u64) as usize)
        }
    }
}

/// What one account owns that the other must never see.
#[derive(Default)]
struct Tenant {
    token: String,
    secrets: HashSet<String>,
    meetings: Vec<i64>,
}

#[tokio::test]
async fn random_call_sequences_never_show_one_account_anything_of_the_other() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let mut tenants = [Tenant::default(), Tenant::default()];
        tenants[0].token = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        tenants[1].token = server_token(&live, "gadget-prod", "gadget-prod-secret-0123456789").await;
        for (tenant, account) in tenants.iter_mut().zip(["acme", "globex"]) {
            for user in live.db.store.users(account).await.unwrap() {
                tenant.secrets.insert(user.id.as_str().to_owned());
                tenant.secrets.insert(user.email.as_str().to_owned());
            }
        }
        let known_users: Vec<String> = tenants.iter().flat_map(|t| t.secrets.iter().cloned()).collect();
        let mut calls = 0;
        let mut answered_with_data = 0;
        for seed in [1u64, 7, 42, 1234, 99_991] {
            let mut rng = Rng(seed);
            for step in 0..60 {
                // One call a second of test time keeps both accounts inside their rate limits, so
                // every answer carries data to check rather than a 429.
                live.db.clock.advance_seconds(1);
                let me = (rng.next() % 2) as usize;
                let other = 1 - me;
                let any_meeting = rng.pick(&[tenants[0].meetings.clone(), tenants[1].meetings.clone()].concat()).copied();
                let user = rng.pick(&known_users).cloned().unwrap_or_default();
                let (method, path, body) = match rng.next() % 9 {
                    0 => (Method::GET, "/v2/users?page_size=2".to_owned(), None),
                    1 => (Method::GET, format!("/v2/users/{user}"), None),
                    2 => {
                        let topic = format!("topic-{seed}-{step}-{}", if me == 0 { "acme" } else { "globex" });
                        tenants[me].secrets.insert(topic.clone());
                        (Method::POST, "/v2/users/me/meetings".to_owned(), Some(json!({"topic": topic, "type": 2, "start_time": "2026-12-01T10:00:00Z"})))
                    }
                    3 => (Method::GET, "/v2/users/me/meetings".to_owned(), None),
                    4 => (Method::GET, format!("/v2/meetings/{}", any_meeting.unwrap_or(1)), None),
                    5 => (Method::PATCH, format!("/v2/meetings/{}", any_meeting.unwrap_or(1)), Some(json!({"agenda": "changed"}))),
                    6 => (Method::GET, format!("/v2/users/{user}/meetings"), None),
                    7 => (Method::GET, "/v2/report/operationlogs?page_size=50".to_owned(), None),
                    _ => (Method::GET, "/v2/marketplace/apps".to_owned(), None),
                };
                let request_text = format!("{path} {}", body.as_ref().map(Value::to_string).unwrap_or_default());
                let (status, answer) = call(&live, &tenants[me].token, method.clone(), &path, body).await;
                calls += 1;
                if status.is_success() {
                    answered_with_data += 1;
                }
                assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{method} {path}: {answer}");
                if status == StatusCode::CREATED
                    && path.ends_with("/meetings")
                    && let Some(id) = answer["id"].as_i64()
                {
                    tenants[me].meetings.push(id);
                    tenants[me].secrets.insert(id.to_string());
                }
                let text = answer.to_string();
                for secret in &tenants[other].secrets {
                    if request_text.contains(secret.as_str()) {
                        continue;
                    }
                    assert!(!text.contains(secret.as_str()), "seed {seed} step {step}: {method} {path} by account {me} showed {secret:?} of the other account: {text}");
                }
            }
        }
        assert!(calls >= 300);
        assert!(answered_with_data >= 150, "most calls must answer with data: {answered_with_data}");
        assert!(tenants.iter().all(|t| !t.meetings.is_empty()), "both accounts created meetings");
        live.assert_nothing_secret_logged();
    })
    .await;
}
