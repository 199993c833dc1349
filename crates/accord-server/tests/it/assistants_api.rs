//! `/v2/users/{userId}/assistants` and `/schedulers` through the permission rule.

use accord_core::grants::GrantKind;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::tokens::{grant_token, start};
use crate::users_api::{call, server_token};

#[tokio::test]
async fn a_member_manages_her_own_assistants_and_an_admin_app_manages_anyones() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let ann = grant_token(&live, "helper", "acme-ann", GrantKind::Authorization).await;

        let (status, body) = call(
            &live,
            &ann,
            Method::POST,
            "/v2/users/me/assistants",
            Some(json!({"assistants": [{"email": "adam@acme.test"}]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["ids"], "acme-adam");
        let (status, body) = call(&live, &ann, Method::GET, "/v2/users/me/assistants", None).await;
        assert_eq!(
            (status, body["assistants"][0]["email"].as_str()),
            (StatusCode::OK, Some("adam@acme.test")),
            "{body}"
        );

        // Another account's user reads as missing; nobody is their own assistant.
        let (status, body) = call(
            &live,
            &ann,
            Method::POST,
            "/v2/users/me/assistants",
            Some(json!({"assistants": [{"email": "gina@globex.test"}]})),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::NOT_FOUND, Some(1001)),
            "{body}"
        );
        let (status, body) = call(
            &live,
            &ann,
            Method::POST,
            "/v2/users/me/assistants",
            Some(json!({"assistants": [{"id": "acme-ann"}]})),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(300)),
            "{body}"
        );

        // A member's user-form scope does not reach another user's assistants.
        let (status, body) = call(
            &live,
            &ann,
            Method::GET,
            "/v2/users/acme-adam/schedulers",
            None,
        )
        .await;
        assert_eq!(
            (
                status,
                body["code"].as_i64(),
                body["explain"]["step"].as_str()
            ),
            (StatusCode::BAD_REQUEST, Some(200), Some("reach")),
            "{body}"
        );

        // An admin-scoped server app sees and removes the pair from the assistant's side.
        let admin = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let (status, body) = call(
            &live,
            &admin,
            Method::GET,
            "/v2/users/adam@acme.test/schedulers",
            None,
        )
        .await;
        assert_eq!(
            (
                status,
                body["total_records"].as_u64(),
                body["schedulers"][0]["id"].as_str()
            ),
            (StatusCode::OK, Some(1), Some("acme-ann")),
            "{body}"
        );
        let (status, _) = call(
            &live,
            &admin,
            Method::DELETE,
            "/v2/users/acme-adam/schedulers/ann@acme.test",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, body) = call(&live, &ann, Method::GET, "/v2/users/me/assistants", None).await;
        assert_eq!(
            body["assistants"],
            json!([]),
            "the removal shows on the very next request"
        );
        assert!(live.db.store.view().principals("acme-adam").is_empty());
        let (status, body) = call(
            &live,
            &admin,
            Method::DELETE,
            "/v2/users/acme-adam/schedulers/acme-ann",
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::NOT_FOUND, Some(1001)),
            "{body}"
        );

        let log = live.db.store.audit_log("acme").await.unwrap();
        let added = log
            .iter()
            .find(|e| e.action == "assistant.added")
            .expect("an audit entry");
        assert_eq!(
            (added.actor_kind.as_str(), added.actor_id.as_deref()),
            ("user", Some("acme-ann"))
        );
        assert!(
            log.iter().any(|e| e.action == "assistant.removed"
                && e.actor_id.as_deref() == Some("admin-bot-prod"))
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}
