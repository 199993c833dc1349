//! `/healthz`, `/readyz` and the JSON not-found answer, in process (`Router::oneshot`).

use accord_server::{AppState, ServerConfig, router};
use accord_testkit::on_every_backend;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

async fn get(state: &AppState, path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
    let response = router(state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let id = response
        .headers()
        .get("x-zm-trackingid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, id, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn health_and_readiness_answer_with_a_request_id() {
    on_every_backend(|db| async move {
        let state = AppState::new(
            db.store.clone(),
            ServerConfig::new("http://127.0.0.1:8080/"),
        )
        .await
        .unwrap();
        assert_eq!(state.config().issuer, "http://127.0.0.1:8080");
        let (status, id, body) = get(&state, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        let id = id.expect("a request id");
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "32 hex digits: {id}"
        );
        assert_eq!(body["status"], "ok");
        let (_, again, _) = get(&state, "/healthz").await;
        assert_ne!(
            again.as_deref(),
            Some(id.as_str()),
            "every request its own id"
        );
        let (status, _, body) = get(&state, "/readyz").await;
        assert_eq!(
            (status, body["database"].as_str()),
            (StatusCode::OK, Some(db.backend.name()))
        );
    })
    .await;
}

#[tokio::test]
async fn readiness_fails_when_the_schema_is_behind() {
    on_every_backend(|db| async move {
        let state = AppState::new(db.store.clone(), ServerConfig::new("http://127.0.0.1:8080"))
            .await
            .unwrap();
        sqlx::query("DELETE FROM _sqlx_migrations")
            .execute(db.store.pool())
            .await
            .unwrap();
        let (status, _, body) = get(&state, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["message"].as_str().unwrap().contains("accord migrate"),
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_paths_get_a_json_not_found() {
    on_every_backend(|db| async move {
        let state = AppState::new(db.store.clone(), ServerConfig::new("http://127.0.0.1:8080"))
            .await
            .unwrap();
        let (status, _, body) = get(&state, "/v2/nothing-here").await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (StatusCode::NOT_FOUND, Some(404))
        );
    })
    .await;
}
