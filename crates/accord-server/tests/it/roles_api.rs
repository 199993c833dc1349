//! `/v2/roles…` through the permission rule, with the Owner/Admin/Member business rules.

use accord_core::privileges::Privilege;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::tokens::{start, str_of};
use crate::users_api::{call, server_token};

#[tokio::test]
async fn roles_and_their_members_change_within_the_owner_rules() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let bot = server_token(&live, "role-bot-prod", "role-bot-prod-secret-0123456789").await;
        let (status, body) = call(&live, &bot, Method::GET, "/v2/roles", None).await;
        assert_eq!((status, body["total_records"].as_u64()), (StatusCode::OK, Some(3)), "{body}");

        let (status, role) = call(&live, &bot, Method::POST, "/v2/roles", Some(json!({"name": "Scheduler", "description": "Meetings of everyone", "privileges": ["Meeting:Edit"]}))).await;
        assert_eq!(status, StatusCode::CREATED, "{role}");
        assert_eq!(role["privileges"], json!(["Meeting:Read", "Meeting:Edit"]), "Edit implies Read");
        let id = str_of(&role, "id").to_owned();
        let (status, body) = call(&live, &bot, Method::POST, "/v2/roles", Some(json!({"name": "scheduler"}))).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(1224)), "{body}");
        let (status, body) = call(&live, &bot, Method::POST, "/v2/roles", Some(json!({"name": "Odd", "privileges": ["Meeting:Fly"]}))).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("privileges[0]")), "{body}");

        let (status, _) = call(&live, &bot, Method::POST, &format!("/v2/roles/{id}/members"), Some(json!({"members": [{"email": "ann@acme.test"}]}))).await;
        assert_eq!(status, StatusCode::CREATED);
        assert!(live.db.store.view().privileges("acme-ann").contains(Privilege::MeetingEdit), "the new role applies at once");
        let (_, members) = call(&live, &bot, Method::GET, &format!("/v2/roles/{id}/members"), None).await;
        assert_eq!((members["total_records"].as_u64(), members["members"][0]["id"].as_str()), (Some(1), Some("acme-ann")), "{members}");

        for builtin in ["0", "2"] {
            let (status, body) = call(&live, &bot, Method::POST, &format!("/v2/roles/{builtin}/members"), Some(json!({"members": [{"id": "acme-adam"}]}))).await;
            assert_eq!((status, body["code"].as_i64(), body["explain"]["step"].as_str()), (StatusCode::BAD_REQUEST, Some(300), Some("business")), "{builtin}: {body}");
        }
        let (status, body) = call(&live, &bot, Method::POST, &format!("/v2/roles/{id}/members"), Some(json!({"members": [{"id": "acme-olive"}]}))).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(200)), "the owner keeps the Owner role: {body}");
        let (status, body) = call(&live, &bot, Method::PATCH, "/v2/roles/0", Some(json!({"privileges": []}))).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(200)), "{body}");
        let (status, _) = call(&live, &bot, Method::PATCH, "/v2/roles/1", Some(json!({"privileges": ["User:Read"]}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "a server app acts as the owner, who may trim Admin");

        let (status, body) = call(&live, &bot, Method::DELETE, &format!("/v2/roles/{id}"), None).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(300)), "a role with members stays: {body}");
        let (status, _) = call(&live, &bot, Method::DELETE, &format!("/v2/roles/{id}/members/ann@acme.test"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(live.db.store.view().privileges("acme-ann").is_empty(), "back to Member");
        let (status, _) = call(&live, &bot, Method::DELETE, &format!("/v2/roles/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = call(&live, &bot, Method::GET, &format!("/v2/roles/{id}"), None).await;
        assert_eq!((status, body["code"].as_i64(), body["message"].as_str()), (StatusCode::BAD_REQUEST, Some(1034), Some(format!("Role does not exist: {id}.").as_str())));

        // Without a role scope: 4711; another account's role reads as missing.
        let reader = server_token(&live, "backend-prod", "backend-prod-secret-0123456789").await;
        let (status, body) = call(&live, &reader, Method::GET, "/v2/roles", None).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(4711)), "{body}");
        let (_, custom) = call(&live, &bot, Method::POST, "/v2/roles", Some(json!({"name": "Auditor", "privileges": ["AuditLog:Read"]}))).await;
        let gadget = server_token(&live, "gadget-prod", "gadget-prod-secret-0123456789").await;
        let (status, body) = call(&live, &gadget, Method::GET, &format!("/v2/roles/{}", str_of(&custom, "id")), None).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(1034)), "{body}");
        live.assert_nothing_secret_logged();
    })
    .await;
}
