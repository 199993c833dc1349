//! Input the databases refuse is refused at the edge, and a database error means what it says:
//! a NUL character anywhere a handler could read it gets each surface's usual 400 on both
//! databases (it used to reach PostgreSQL, which refused it, and the client was told the database
//! was unreachable); a JSON value of the wrong type is refused with code 300; 503 "cannot reach its
//! database" only when it cannot be reached, and a statement the database refuses is a logged 500
//! in Zoom's shape.

use accord_store::Backend;
use accord_testkit::on_every_backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::live::Live;
use crate::tokens::{post, start};
use crate::users_api::{call, server_token};

async fn get(live: &Live, path: &str) -> (StatusCode, String) {
    let response = live
        .http
        .get(format!("{}{path}", live.url))
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

fn validation_field(body: &Value) -> (Option<i64>, &str) {
    (
        body["code"].as_i64(),
        body["errors"][0]["field"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn a_nul_character_gets_the_usual_400_on_every_surface_and_every_backend() {
    on_every_backend(|db| async move {
        let live = start(db).await;

        // /oauth/authorize: an unknown client's error page, never "cannot reach its database".
        let (status, html) = get(
            &live,
            "/oauth/authorize?response_type=code&client_id=sync%00prod&redirect_uri=http://127.0.0.1:9/cb",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains("NUL character"), "{html}");
        assert!(!html.contains("database"), "{html}");

        // The sign-in form: the error page, whatever else the form holds.
        let response = live
            .http
            .post(format!("{}/oauth/authorize/sign-in", live.url))
            .form(&[("email", "ann\0@acme.test"), ("password", "whatever-1")])
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().contains_key("content-security-policy"));
        let html = response.text().await.unwrap_or_default();
        assert!(html.contains("The body field email must not contain"), "{html}");

        // /oauth/token, /oauth/introspect, /oauth/revoke: invalid_request in both dialects.
        for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
            let (status, headers, body) = post(
                &live,
                path,
                None,
                &[("grant_type", "client_credentials"), ("client_id", "backend\0prod"), ("client_secret", "x"), ("token", "t")],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_eq!(body["error"], "invalid_request", "{path}: {body}");
            assert!(body["reason"].as_str().unwrap_or("").contains("client_id"), "{body}");
            assert_eq!(headers["cache-control"], "no-store", "{path}");
        }
        let response = live
            .http
            .post(format!("{}/oauth/token?grant_type=client_credentials", live.url))
            .json(&json!({"client_id": "backend-prod", "client_secret": "a\u{0}b"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(body["error"], "invalid_request", "{body}");

        // /v2: Zoom's validation error naming where the NUL was — path, query, body field.
        let token = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let (status, body) = call(&live, &token, reqwest::Method::GET, "/v2/users/%00", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(validation_field(&body), (Some(300), "path"), "{body}");
        let (status, body) =
            call(&live, &token, reqwest::Method::GET, "/v2/users?status=active%00", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(validation_field(&body), (Some(300), "status"), "{body}");
        let new_user = json!({"action": "create", "user_info": {"email": "nul\u{0}@acme.test"}});
        let (status, body) =
            call(&live, &token, reqwest::Method::POST, "/v2/users", Some(new_user)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(validation_field(&body), (Some(300), "user_info.email"), "{body}");
        let meeting = json!({"topic": "a\u{0}b", "type": 2, "start_time": "2026-12-01T10:00:00Z"});
        let (status, body) = call(
            &live,
            &token,
            reqwest::Method::POST,
            "/v2/users/acme-ann/meetings",
            Some(meeting),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(validation_field(&body), (Some(300), "topic"), "{body}");

        // Nothing was written.
        let users = live.db.store.users("acme").await.expect("users");
        assert!(users.iter().all(|u| !u.email.as_str().starts_with("nul")), "{users:?}");
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn a_json_value_of_the_wrong_type_is_refused_with_code_300() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let token = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let path = "/v2/users/acme-ann/meetings";
        let base = json!({"topic": "Planning", "type": 8, "start_time": "2026-12-01T10:00:00Z"});
        for (field, value) in [
            ("recurrence", json!([])),
            ("recurrence", json!([1, 1])),
            ("settings", json!([true])),
            ("duration", json!("30")),
            ("topic", json!(5)),
        ] {
            let mut body = base.clone();
            body[field] = value.clone();
            let (status, answer) =
                call(&live, &token, reqwest::Method::POST, path, Some(body)).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{field}: {value} → {answer}"
            );
            assert_eq!(validation_field(&answer), (Some(300), field), "{answer}");
        }
        let (status, answer) = call(&live, &token, reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["total_records"], 0,
            "no meeting was created: {answer}"
        );

        // A whole body of the wrong shape, and a nested object given as an array elsewhere.
        let (status, answer) = call(
            &live,
            &token,
            reqwest::Method::POST,
            path,
            Some(json!([base])),
        )
        .await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(300))
        );
        let new_user = json!({"action": "create", "user_info": ["someone@acme.test"]});
        let (status, answer) = call(
            &live,
            &token,
            reqwest::Method::POST,
            "/v2/users",
            Some(new_user),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(
            validation_field(&answer),
            (Some(300), "user_info"),
            "{answer}"
        );
    })
    .await;
}

#[tokio::test]
async fn only_an_unreachable_database_is_called_unreachable_and_a_refused_statement_is_a_500() {
    on_every_backend(|db| async move {
        let live = start(db.clone()).await;
        let token = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;

        // A statement the database refuses (here: its table is gone) is a bug: 500, logged.
        let drop = match db.backend {
            Backend::Sqlite => "DROP TABLE meetings",
            Backend::Postgres => "DROP TABLE meetings CASCADE",
        };
        sqlx::query(drop)
            .execute(db.store.pool())
            .await
            .expect("drop meetings");
        let (status, body) = call(
            &live,
            &token,
            reqwest::Method::GET,
            "/v2/users/acme-ann/meetings",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(body["code"], 500, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("x-zm-trackingid"),
            "{body}"
        );
        let log =
            String::from_utf8_lossy(&crate::live::log().lock().unwrap_or_else(|e| e.into_inner()))
                .into_owned();
        assert!(
            log.contains("storage refused"),
            "the refusal is logged as a bug"
        );

        // A database that cannot be reached: 503, in each surface's words.
        db.store.close().await;
        let (status, body) = call(&live, &token, reqwest::Method::GET, "/v2/users", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("cannot reach its database"),
            "{body}"
        );
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            Some(("backend-prod", "backend-prod-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    })
    .await;
}

/// Sends `head` then `body` on a fresh connection and reads the answer's head and body.
async fn raw_exchange(live: &Live, head: String, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = live.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    // The server may answer (and stop reading) before the whole body is sent: that is fine.
    let _ = stream.write_all(body).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
            let text = String::from_utf8_lossy(&received);
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .to_lowercase()
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse().ok())
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    break;
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 30 s");
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_in_each_surfaces_words_declared_or_chunked() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let address = live.url.trim_start_matches("http://").to_owned();
        let limit = accord_server::MAX_BODY_BYTES;
        let oversized = vec![b'a'; limit + 1];

        // Declared: refused from the Content-Length alone, before any of the body is sent.
        let head = format!(
            "POST /oauth/token HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            oversized.len()
        );
        let (status, body) = raw_exchange(&live, head, &[]).await;
        assert_eq!(status, 413, "{body}");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(body["error"], "invalid_request", "{body}");
        assert!(body["reason"].as_str().unwrap_or("").contains(&limit.to_string()), "{body}");

        // Chunked: no length to go by, refused once the limit is crossed while reading.
        let mut chunked = Vec::new();
        for chunk in oversized.chunks(64 * 1024) {
            chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            chunked.extend_from_slice(chunk);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let head = format!(
            "POST /v2/users HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_exchange(&live, head, &chunked).await;
        assert_eq!(status, 413, "{body}");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(body["code"], 413, "{body}");

        // A body exactly at the limit is read and handed on: the handler answers in its own words.
        let at_limit = vec![b'a'; limit];
        let head = format!(
            "POST /oauth/token HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {limit}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw_exchange(&live, head, &at_limit).await;
        assert_eq!(status, 400, "{body}");
        assert!(!body.contains("larger than"), "{body}");
    })
    .await;
}
