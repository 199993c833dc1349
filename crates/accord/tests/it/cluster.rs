//! Several `accord serve` processes on one database, as behind a load balancer: refresh rotation
//! is decided in the database, so concurrent refreshes spread over two processes still agree.

use accord_core::grants::GrantKind;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::tokens::NewCode;
use accord_testkit::on_every_backend;

use crate::accord_on;
use crate::server::Running;

const SEED: &str = r#"{
  "accounts": [{"id": "acme", "name": "Acme", "users": [
    {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"},
    {"id": "acme-ann", "email": "ann@acme.test", "password": "ann-password-1", "role": "member"}]}],
  "apps": [{"id": "notes", "name": "Notes", "kind": "user", "developer": "olive@acme.test", "status": "published",
            "scopes": ["user:read"],
            "credentials": {"production": {"client_id": "notes-prod", "client_secret": "notes-prod-secret-0123456789",
                                            "redirect_uris": ["http://127.0.0.1:9/cb"]}}}]
}"#;

#[tokio::test]
async fn two_processes_on_one_database_rotate_a_refresh_token_to_one_successor() {
    on_every_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed.json");
        std::fs::write(&seed, SEED).unwrap();
        let nodes: Vec<Running> = (0..2)
            .map(|_| {
                Running::start(
                    accord_on(&db)
                        .args([
                            "serve",
                            "--bind",
                            "127.0.0.1:0",
                            "--public-url",
                            "http://accord.test",
                            "--seed",
                        ])
                        .arg(&seed),
                    "readiness",
                )
            })
            .collect();

        // A code, made as the consent page makes it, redeemed on the first node. The processes run on
        // the real clock, so the test's store must too.
        db.clock.set(accord_core::clock::Clock::now(
            &accord_core::clock::SystemClock,
        ));
        let store = &db.store;
        let scopes = store.app("notes").await.unwrap().required_scopes;
        let request = GrantRequest {
            kind: GrantKind::Authorization,
            app_id: "notes",
            account_id: "acme",
            user_id: Some("acme-ann"),
            created_by: Some("acme-ann"),
            scopes: &scopes,
        };
        let grant = store
            .upsert_grant(&Actor::User("acme-ann".into()), request)
            .await
            .unwrap();
        let new = NewCode {
            grant_id: &grant.id,
            generation: grant.generation,
            client_id: "notes-prod",
            user_id: "acme-ann",
            redirect_uri: "http://127.0.0.1:9/cb",
            code_challenge: None,
            code_challenge_method: None,
            scopes: &scopes,
        };
        let code = store.create_code(new).await.unwrap();
        let http = reqwest::Client::new();
        let token = |node: &Running, form: Vec<(&'static str, String)>| {
            http.post(format!("http://{}/oauth/token", node.address))
                .basic_auth("notes-prod", Some("notes-prod-secret-0123456789"))
                .form(&form)
                .send()
        };
        let first: serde_json::Value = token(
            &nodes[0],
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code.expose().into()),
            ],
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let parent = first["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh token: {first}"))
            .to_owned();

        let mut requests = Vec::new();
        for i in 0..50 {
            requests.push(token(
                &nodes[i % 2],
                vec![
                    ("grant_type", "refresh_token".into()),
                    ("refresh_token", parent.clone()),
                ],
            ));
        }
        let mut successors = std::collections::HashSet::new();
        for request in requests {
            let response = request.await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            let body: serde_json::Value = response.json().await.unwrap();
            successors.insert(
                body["refresh_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        assert_eq!(
            successors.len(),
            1,
            "{:?}: both processes handed out the same successor",
            db.backend
        );
        for node in nodes {
            node.stop();
        }
    })
    .await;
}
