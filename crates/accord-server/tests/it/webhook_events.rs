//! Every removal path of model.md over a running server: the grant's token is refused on the very
//! next request, `app_deauthorized` is delivered to the app's endpoint (a receiver in the test)
//! with Zoom's payload, its inner signature and both request signatures, and the audit log has
//! the entry. Removals without an HTTP surface (the developer deleting or unpublishing an app,
//! which are CLI and console actions) are taken through the store functions those call.

use accord_core::grants::GrantKind;
use accord_core::ids::Secret;
use accord_core::webhooks;
use accord_store::apps::{AppChange, NewWebhook};
use accord_store::audit::Actor;
use accord_testkit::on_every_backend;
use axum::body::Bytes;
use axum::http::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use crate::live::Live;
use crate::tokens::{grant_token, me, post, start};
use crate::users_api::{call, server_token};

const SECRET: &str = "hook-secret-token-0123456789abcdef";

/// A request the receiver got: the app (its path), the headers that carry signatures, the body.
#[derive(Debug, Clone)]
struct Received {
    app: String,
    headers: HeaderMap,
    body: String,
}

/// The apps' endpoint: answers URL validation for [`SECRET`] and records everything else.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let record = got.clone();
    let app = axum::Router::new().route(
        "/hooks/{app}",
        axum::routing::post(
            move |axum::extract::Path(app): axum::extract::Path<String>,
                  headers: HeaderMap,
                  body: Bytes| {
                let record = record.clone();
                async move {
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let json: Value = serde_json::from_str(&body).unwrap_or_default();
                    if json["event"] == webhooks::URL_VALIDATION {
                        let plain = json["payload"]["plainToken"].as_str().unwrap_or_default();
                        return axum::Json(json!({"plainToken": plain,
                            "encryptedToken": webhooks::url_validation_answer(SECRET, plain)}));
                    }
                    record.lock().unwrap().push(Received { app, headers, body });
                    axum::Json(json!({}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn subscribe(live: &Live, receiver: &str, app: &str) {
    live.db
        .store
        .update_app(
            &Actor::cli(),
            app,
            AppChange {
                webhook: Some(Some(NewWebhook {
                    url: format!("{receiver}/hooks/{app}"),
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
/// `app_deauthorized` naming `user_id` reaches `app`'s endpoint, and `grant.revoked` is audited
/// with `reason`.
async fn check(
    live: &Live,
    got: &Mutex<Vec<Received>>,
    app: &str,
    token: &str,
    user_id: &str,
    reason: &str,
) {
    let (status, body) = me(live, token).await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (StatusCode::UNAUTHORIZED, Some(124)),
        "{reason}: the very next request is refused: {body}"
    );
    let report = live.server.deliver_webhooks().await;
    assert_eq!(report.delivered, 1, "{reason}: {report:?}");
    let received = std::mem::take(&mut *got.lock().unwrap());
    assert_eq!(received.len(), 1, "{reason}: {received:?}");
    let Received {
        app: to,
        headers,
        body,
    } = &received[0];
    assert_eq!(to, app, "{reason}");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap();
    let timestamp: i64 = header("x-zm-request-timestamp").parse().unwrap();
    assert_eq!(
        header("x-zm-signature"),
        webhooks::zoom_signature(SECRET, timestamp, body),
        "{reason}: Zoom's signature"
    );
    let id = header("webhook-id");
    assert_eq!(id, header("x-accord-event-id"));
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        header("webhook-signature"),
        webhooks::standard_signature(SECRET, id, timestamp, body),
        "{reason}: the Standard Webhooks signature"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["event"], "app_deauthorized", "{reason}");
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
async fn every_removal_path_refuses_the_next_request_and_delivers_a_signed_app_deauthorized() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let (url, got) = receiver().await;
        for app in ["sync", "notes", "calendar", "directory", "helper"] {
            subscribe(&live, &url, app).await;
        }
        // Saving an endpoint makes its URL validation due: the worker validates all five.
        let report = live.server.deliver_webhooks().await;
        assert_eq!(report.validated, 5, "{report:?}");
        let store = &live.db.store;
        let ops = server_token(&live, "ops-bot-prod", "ops-bot-prod-secret-0123456789").await;
        let admin = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let ops = ops.as_str();

        // An admin uninstalls through the API; the app acting is named by its installer.
        let token = grant_token(&live, "sync", "acme-adam", GrantKind::Installation).await;
        works(&live, &token).await;
        let (status, _) = call(
            &live,
            ops,
            Method::DELETE,
            "/v2/marketplace/apps/sync",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        check(
            &live,
            &got,
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
        let reason = "revoked by the app at /oauth/revoke";
        check(&live, &got, "notes", &token, "acme-ann", reason).await;

        // An admin removes one user's authorization through the API.
        let token = grant_token(&live, "calendar", "acme-ann", GrantKind::Authorization).await;
        works(&live, &token).await;
        let path = "/v2/marketplace/apps/calendar/users/acme-ann";
        let (status, body) = call(&live, ops, Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let reason = "removed by an admin through the API";
        check(&live, &got, "calendar", &token, "acme-ann", reason).await;

        // Ann removes her own authorization of Directory, with the token of another app of hers
        // (Helper, `user:write`).
        let token = grant_token(&live, "directory", "acme-ann", GrantKind::Authorization).await;
        works(&live, &token).await;
        let helper = grant_token(&live, "helper", "acme-ann", GrantKind::Authorization).await;
        let path = "/v2/users/me/apps/directory";
        let (status, body) = call(&live, &helper, Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        check(
            &live,
            &got,
            "directory",
            &token,
            "acme-ann",
            "removed by the user",
        )
        .await;

        // The account blocks Helper through the API: Ann's authorization of it ends.
        works(&live, &helper).await;
        let path = "/v2/marketplace/apps/helper/block";
        let (status, body) = call(&live, ops, Method::PUT, path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let reason = "app blocked in the account";
        check(&live, &got, "helper", &helper, "acme-ann", reason).await;

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
        check(
            &live,
            &got,
            "calendar",
            &token,
            "acme-ann",
            "user deactivated",
        )
        .await;

        // The user is deleted through the API.
        let token = grant_token(&live, "directory", "acme-adam", GrantKind::Authorization).await;
        works(&live, &token).await;
        let path = "/v2/users/acme-adam?action=delete";
        let (status, body) = call(&live, &admin, Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        check(
            &live,
            &got,
            "directory",
            &token,
            "acme-adam",
            "user deleted",
        )
        .await;

        // The developer deletes the app (the CLI's `accord app delete`): its deauthorization
        // still goes out, to the endpoint the app had. (Unpublishing, which ends grants outside
        // the developer account, is tested in the store: every app here is Acme's own.)
        let token = grant_token(&live, "notes", "acme-olive", GrantKind::Authorization).await;
        works(&live, &token).await;
        store
            .delete_app(&Actor::User("acme-olive".into()), "notes")
            .await
            .unwrap();
        check(&live, &got, "notes", &token, "acme-olive", "app deleted").await;
        live.assert_nothing_secret_logged();
    })
    .await;
}
