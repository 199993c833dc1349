//! Every removal path of model.md over a running server: the grant's token is refused on the very
//! next request, `app_deauthorized` is queued with Zoom's payload and its inner signature, and the
//! audit log has the entry. Paths without an HTTP surface yet are taken through the store (the
//! console and the `/v2` surfaces call the same functions).

use accord_core::grants::GrantKind;
use accord_core::ids::Secret;
use accord_core::webhooks;
use accord_store::apps::{AppChange, NewWebhook};
use accord_store::audit::Actor;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::live::Live;
use crate::tokens::{grant_token, me, post, start};
use crate::users_api::{call, server_token};

const SECRET: &str = "hook-secret-token-0123456789abcdef";

async fn subscribe(live: &Live, app: &str) {
    live.db
        .store
        .update_app(
            &Actor::cli(),
            app,
            AppChange {
                webhook: Some(Some(NewWebhook {
                    url: "http://127.0.0.1:9/hooks".into(),
                    secret_token: Some(Secret::new(SECRET.to_owned())),
                    events: vec!["app_deauthorized".into()],
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// The token works now; after `remove` it is refused on the very next request, one signed
/// `app_deauthorized` naming `user_id` is queued for `app`, and `grant.revoked` is audited
/// with `reason`.
async fn check(live: &Live, app: &str, token: &str, user_id: &str, reason: &str) {
    let (status, body) = me(live, token).await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (StatusCode::UNAUTHORIZED, Some(124)),
        "{reason}: the very next request is refused: {body}"
    );
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event, body FROM webhook_events WHERE app_id = $1 AND status = 'pending' ORDER BY seq",
    )
    .bind(app)
    .fetch_all(live.db.store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{reason}: {rows:?}");
    assert_eq!(rows[0].0, "app_deauthorized");
    let body: Value = serde_json::from_str(&rows[0].1).unwrap();
    let payload = &body["payload"];
    let client_id = format!("{app}-prod");
    let time = payload["deauthorization_time"].as_str().unwrap();
    assert_eq!(
        payload,
        &json!({"account_id": "acme", "user_id": user_id, "client_id": client_id,
            "deauthorization_time": time, "user_data_retention": "false",
            "signature": webhooks::deauthorization_signature(SECRET, "acme", user_id, &client_id, time)}),
        "{reason}"
    );
    sqlx::query("DELETE FROM webhook_events WHERE app_id = $1")
        .bind(app)
        .execute(live.db.store.pool())
        .await
        .unwrap();
    let audited = live
        .db
        .store
        .audit_log("acme")
        .await
        .unwrap()
        .into_iter()
        .any(|e| {
            e.action == "grant.revoked" && e.target_id == app && e.details["reason"] == reason
        });
    assert!(audited, "{reason}: audit entry");
}

/// The token is honoured (the answer may still refuse a scope it lacks, never the token).
async fn works(live: &Live, token: &str) {
    let (status, body) = me(live, token).await;
    assert_ne!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn every_removal_path_refuses_the_next_request_and_queues_a_signed_app_deauthorized() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        for app in ["sync", "notes", "calendar", "directory", "helper"] {
            subscribe(&live, app).await;
        }
        let store = &live.db.store;
        let ops = server_token(&live, "ops-bot-prod", "ops-bot-prod-secret-0123456789").await;
        let admin = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;

        // An admin uninstalls through the API; the app acting is named by its installer.
        let token = grant_token(&live, "sync", "acme-adam", GrantKind::Installation).await;
        works(&live, &token).await;
        let (status, _) = call(
            &live,
            &ops,
            Method::DELETE,
            "/v2/marketplace/apps/sync",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        check(
            &live,
            "sync",
            &token,
            "acme-adam",
            "uninstalled through the API",
        )
        .await;

        // The app sends a token of the grant to /oauth/revoke.
        let token = grant_token(&live, "notes", "acme-ann", GrantKind::Authorization).await;
        works(&live, &token).await;
        let basic = Some(("notes-prod", "notes-prod-secret-0123456789"));
        let (status, _, _) =
            post(&live, "/oauth/revoke", basic, &[("token", token.as_str())]).await;
        assert_eq!(status, StatusCode::OK);
        check(
            &live,
            "notes",
            &token,
            "acme-ann",
            "revoked by the app at /oauth/revoke",
        )
        .await;

        // An admin removes one user's authorization (store: no /v2 surface yet).
        let token = grant_token(&live, "calendar", "acme-ann", GrantKind::Authorization).await;
        works(&live, &token).await;
        store
            .remove_authorization(
                &Actor::User("acme-adam".into()),
                "acme",
                "calendar",
                "acme-ann",
            )
            .await
            .unwrap();
        check(&live, "calendar", &token, "acme-ann", "removed by an admin").await;

        // A user removes her own (store: no surface yet).
        let token = grant_token(&live, "directory", "acme-ann", GrantKind::Authorization).await;
        works(&live, &token).await;
        store
            .remove_own_authorization("acme-ann", "directory")
            .await
            .unwrap();
        check(
            &live,
            "directory",
            &token,
            "acme-ann",
            "removed by the user",
        )
        .await;

        // The account blocks the app (store: `accord account change --block-app`, no /v2 yet).
        let token = grant_token(&live, "helper", "acme-ann", GrantKind::Authorization).await;
        works(&live, &token).await;
        store
            .block_app(&Actor::User("acme-olive".into()), "acme", "helper")
            .await
            .unwrap();
        check(
            &live,
            "helper",
            &token,
            "acme-ann",
            "app blocked in the account",
        )
        .await;

        // The user is deactivated through the API.
        let token = grant_token(&live, "calendar", "acme-ann", GrantKind::Authorization).await;
        works(&live, &token).await;
        let (status, body) = call(
            &live,
            &admin,
            Method::PUT,
            "/v2/users/acme-ann/status",
            Some(json!({"action": "deactivate"})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        check(&live, "calendar", &token, "acme-ann", "user deactivated").await;

        // The user is deleted through the API.
        let token = grant_token(&live, "directory", "acme-adam", GrantKind::Authorization).await;
        works(&live, &token).await;
        let (status, body) = call(
            &live,
            &admin,
            Method::DELETE,
            "/v2/users/acme-adam?action=delete",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        check(&live, "directory", &token, "acme-adam", "user deleted").await;

        // The developer deletes the app. (Unpublishing, which ends grants outside the developer
        // account, is taken at the store level: every app of this fixture is Acme's own.)
        let token = grant_token(&live, "notes", "acme-olive", GrantKind::Authorization).await;
        works(&live, &token).await;
        store
            .delete_app(&Actor::User("acme-olive".into()), "notes")
            .await
            .unwrap();
        check(&live, "notes", &token, "acme-olive", "app deleted").await;
        live.assert_nothing_secret_logged();
    })
    .await;
}
