//! `/v2/users…` through the permission rule: account-wide lists with keyset pages, create,
//! update, status and delete, with Zoom's error shapes and the owner's business rules.

use accord_core::grants::GrantKind;
use accord_testkit::on_every_backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::live::Live;
use crate::tokens::{grant_token, post, start, str_of};

pub async fn server_token(live: &Live, client: &str, secret: &str) -> String {
    let (status, _, body) = post(
        live,
        "/oauth/token",
        Some((client, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    live.secret(str_of(&body, "access_token"))
}

pub async fn call(
    live: &Live,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = live
        .http
        .request(method, format!("{}{path}", live.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn lists_page_with_tamper_proof_tokens_bound_to_their_query() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let token = server_token(&live, "backend-prod", "backend-prod-secret-0123456789").await;
        let (status, first) = call(
            &live,
            &token,
            reqwest::Method::GET,
            "/v2/users?page_size=2",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(
            (first["page_size"].as_u64(), first["total_records"].as_u64()),
            (Some(2), Some(3))
        );
        assert_eq!(first["users"].as_array().map(Vec::len), Some(2));
        let next = str_of(&first, "next_page_token").to_owned();
        assert!(!next.is_empty());
        let (status, second) = call(
            &live,
            &token,
            reqwest::Method::GET,
            &format!("/v2/users?page_size=2&next_page_token={next}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(second["users"].as_array().map(Vec::len), Some(1));
        assert_eq!(second["next_page_token"], "");
        let mut ids: Vec<&str> = first["users"]
            .as_array()
            .unwrap()
            .iter()
            .chain(second["users"].as_array().unwrap())
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            ["acme-adam", "acme-ann", "acme-olive"],
            "every user once, nobody from Globex"
        );

        let tampered = format!(
            "{}{}",
            &next[..next.len() - 1],
            if next.ends_with('A') { 'B' } else { 'A' }
        );
        let (status, body) = call(
            &live,
            &token,
            reqwest::Method::GET,
            &format!("/v2/users?next_page_token={tampered}"),
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(300)),
            "{body}"
        );
        let (status, body) = call(
            &live,
            &token,
            reqwest::Method::GET,
            &format!("/v2/users?status=inactive&next_page_token={next}"),
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(300)),
            "a token is bound to its filters: {body}"
        );
        let (status, body) = call(
            &live,
            &token,
            reqwest::Method::GET,
            "/v2/users?page_size=0",
            None,
        )
        .await;
        assert_eq!(
            (status, body["errors"][0]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("page_size")),
            "{body}"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn users_are_created_changed_deactivated_and_deleted_within_the_rules() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let reader = server_token(&live, "backend-prod", "backend-prod-secret-0123456789").await;
        let writer = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let new_user = json!({"action": "autoCreate", "user_info": {"email": "zoe@acme.test", "type": 1, "first_name": "Zoe", "password": "zoe-password-1"}});
        live.secret("zoe-password-1");

        let (status, body) = call(&live, &reader, reqwest::Method::POST, "/v2/users", Some(new_user.clone())).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(4711)), "a read-only app cannot create users: {body}");
        let (status, created) = call(&live, &writer, reqwest::Method::POST, "/v2/users", Some(new_user.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let zoe_id = str_of(&created, "id").to_owned();
        assert_eq!((created["email"].as_str(), created["first_name"].as_str()), (Some("zoe@acme.test"), Some("Zoe")));
        let (status, body) = call(&live, &writer, reqwest::Method::POST, "/v2/users", Some(new_user)).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::CONFLICT, Some(1005)), "{body}");
        let (status, body) = call(&live, &writer, reqwest::Method::POST, "/v2/users", Some(json!({"action": "autoCreate", "user_info": {"email": "not-an-email"}}))).await;
        assert_eq!((status, body["code"].as_i64(), body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(300), Some("user_info.email")), "{body}");
        let (status, body) = call(&live, &writer, reqwest::Method::POST, "/v2/users", Some(json!({"action": "autoCreate"}))).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(300)), "{body}");

        let (status, _) = call(&live, &writer, reqwest::Method::PATCH, "/v2/users/zoe@acme.test", Some(json!({"last_name": "Zed", "timezone": "Asia/Tokyo"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, zoe) = call(&live, &reader, reqwest::Method::GET, "/v2/users/zoe@acme.test", None).await;
        assert_eq!((zoe["last_name"].as_str(), zoe["timezone"].as_str()), (Some("Zed"), Some("Asia/Tokyo")));

        let (status, _) = call(&live, &writer, reqwest::Method::PUT, "/v2/users/zoe@acme.test/status", Some(json!({"action": "deactivate"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, inactive) = call(&live, &reader, reqwest::Method::GET, "/v2/users?status=inactive", None).await;
        assert_eq!(inactive["total_records"], 1);

        let (status, body) = call(&live, &writer, reqwest::Method::PUT, "/v2/users/olive@acme.test/status", Some(json!({"action": "deactivate"}))).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(200)), "{body}");
        assert_eq!(body["explain"]["step"], "business", "{body}");
        let (status, body) = call(&live, &writer, reqwest::Method::DELETE, "/v2/users/acme-olive", None).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(200)), "{body}");

        let (status, _) = call(&live, &writer, reqwest::Method::DELETE, "/v2/users/zoe@acme.test?action=delete", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = call(&live, &reader, reqwest::Method::GET, "/v2/users/zoe@acme.test", None).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::NOT_FOUND, Some(1001)));
        let log = live.db.store.audit_log("acme").await.unwrap();
        for action in ["user.created", "user.updated", "user.deactivated", "user.deleted"] {
            let entry = log.iter().find(|e| e.action == action && e.target_id == zoe_id).unwrap_or_else(|| panic!("no {action} entry"));
            assert_eq!((entry.actor_kind.as_str(), entry.actor_id.as_deref()), ("app", Some("admin-bot-prod")), "{action}");
        }

        // Another account's user reads as missing, even for writes.
        let gadget = server_token(&live, "gadget-prod", "gadget-prod-secret-0123456789").await;
        let (status, body) = call(&live, &gadget, reqwest::Method::PATCH, "/v2/users/ann@acme.test", Some(json!({"first_name": "X"}))).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::NOT_FOUND, Some(1001)), "{body}");
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn a_member_user_grant_with_an_admin_scope_is_refused_the_list_not_narrowed() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let mut tokens = Vec::new();
        for user in ["acme-ann", "acme-adam"] {
            tokens.push(grant_token(&live, "directory", user, GrantKind::Authorization).await);
        }
        let (status, body) = call(&live, &tokens[0], reqwest::Method::GET, "/v2/users", None).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(200)),
            "{body}"
        );
        assert_eq!(body["explain"]["missing_privilege"], "User:Read", "{body}");
        let (status, body) = call(&live, &tokens[1], reqwest::Method::GET, "/v2/users", None).await;
        assert_eq!(
            (status, body["total_records"].as_u64()),
            (StatusCode::OK, Some(3)),
            "an admin's user grant lists everyone: {body}"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn each_account_gets_its_rate_limit_with_zoom_headers_and_a_429() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let token = server_token(&live, "backend-prod", "backend-prod-secret-0123456789").await;
        let get = |path: &'static str| {
            let (http, url, token) = (live.http.clone(), live.url.clone(), token.clone());
            async move {
                http.get(format!("{url}{path}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("request")
            }
        };
        let first = get("/v2/users").await;
        assert_eq!(first.headers()["x-ratelimit-category"], "Medium");
        assert_eq!(first.headers()["x-ratelimit-limit"], "20");
        assert!(first.headers().contains_key("x-ratelimit-remaining"));
        // The test clock stands still: Light allows exactly 30 calls in this second.
        let mut statuses = Vec::new();
        for _ in 0..31 {
            statuses.push(get("/v2/users/me").await);
        }
        assert!(statuses[..30].iter().all(|r| r.status() == StatusCode::OK));
        let refused = &statuses[30];
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            refused.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        // Another account is not affected; time moving on refills the bucket.
        let other = server_token(&live, "gadget-prod", "gadget-prod-secret-0123456789").await;
        let response = live
            .http
            .get(format!("{}/v2/users/me", live.url))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        live.db.clock.advance_seconds(1);
        assert_eq!(get("/v2/users/me").await.status(), StatusCode::OK);
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn a_member_cannot_change_her_own_license_type_but_may_edit_her_profile() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        // Ann, a member, through her user app with user-level read and write scopes.
        let ann = grant_token(&live, "helper", "acme-ann", GrantKind::Authorization).await;
        let patch = |token: String, path: &'static str, body: Value| {
            let live = &live;
            async move { call(live, &token, reqwest::Method::PATCH, path, Some(body)).await }
        };
        let (status, body) = patch(ann.clone(), "/v2/users/me", json!({"type": 2})).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(200)),
            "{body}"
        );
        assert_eq!(body["explain"]["step"], "reach", "{body}");
        assert_eq!(body["explain"]["missing_privilege"], "User:Edit", "{body}");
        let (status, body) = patch(
            ann.clone(),
            "/v2/users/me",
            json!({"first_name": "Annie", "type": 1}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "the same type is no change: {body}"
        );
        let user = live.db.store.user("acme-ann").await.expect("Ann");
        assert_eq!(
            (user.first_name.as_str(), i64::from(user.user_type)),
            ("Annie", 1)
        );

        // Adam is an admin, but his user app holds no admin scope: his own type is guarded too.
        let adam = grant_token(&live, "helper", "acme-adam", GrantKind::Authorization).await;
        let (status, body) = patch(adam, "/v2/users/me", json!({"type": 2})).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(200)),
            "{body}"
        );

        // An app acting for the account with an admin scope may.
        let bot = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let (status, body) = patch(bot, "/v2/users/acme-ann", json!({"type": 2})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let user = live.db.store.user("acme-ann").await.expect("Ann");
        assert_eq!(i64::from(user.user_type), 2);
        live.assert_nothing_secret_logged();
    })
    .await;
}
