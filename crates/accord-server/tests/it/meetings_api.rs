//! Meetings through the permission rule: own meetings, an assistant's reach to their principal's
//! meetings (and `schedule_for`), admin reach, another account's meeting reading as missing, local
//! start times, recurrence occurrences and keyset pages.

use accord_core::grants::GrantKind;
use accord_store::audit::Actor;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::live::Live;
use crate::tokens::{grant_token, start, str_of};
use crate::users_api::{call, server_token};

async fn calendar_token(live: &Live, user: &str) -> String {
    grant_token(live, "calendar", user, GrantKind::Authorization).await
}

#[tokio::test]
async fn meetings_follow_their_host_their_assistants_and_the_account() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let ann = calendar_token(&live, "acme-ann").await;
        let adam = calendar_token(&live, "acme-adam").await;

        // A local start time is read in the meeting's time zone (Berlin is UTC+1 in December).
        let (status, created) = call(&live, &ann, Method::POST, "/v2/users/me/meetings", Some(json!({"topic": "Standup", "type": 2, "start_time": "2026-12-01T10:00:00", "timezone": "Europe/Berlin", "duration": 30}))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!((created["start_time"].as_str(), created["host_id"].as_str()), (Some("2026-12-01T09:00:00Z"), Some("acme-ann")));
        let id = created["id"].as_i64().expect("a numeric id");
        assert!((1_000_000_000..100_000_000_000).contains(&id));
        assert!(str_of(&created, "join_url").contains(&id.to_string()));
        let (status, weekly) = call(&live, &ann, Method::POST, "/v2/users/me/meetings", Some(json!({"topic": "Weekly", "type": 8, "start_time": "2026-12-01T10:00:00Z", "recurrence": {"type": 2, "repeat_interval": 1, "weekly_days": "3", "end_times": 3}}))).await;
        assert_eq!(status, StatusCode::CREATED, "{weekly}");
        assert_eq!(weekly["occurrences"].as_array().map(Vec::len), Some(3), "{weekly}");
        let (status, body) = call(&live, &ann, Method::POST, "/v2/users/me/meetings", Some(json!({"type": 2, "duration": -5}))).await;
        assert_eq!((status, body["code"].as_i64(), body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(300), Some("duration")), "{body}");

        // Keyset pages over her meetings.
        let (_, page) = call(&live, &ann, Method::GET, "/v2/users/me/meetings?page_size=1", None).await;
        assert_eq!((page["total_records"].as_u64(), page["meetings"].as_array().map(Vec::len)), (Some(2), Some(1)), "{page}");
        let next = str_of(&page, "next_page_token").to_owned();
        let (_, page2) = call(&live, &ann, Method::GET, &format!("/v2/users/me/meetings?page_size=1&next_page_token={next}"), None).await;
        assert_ne!(page["meetings"][0]["id"], page2["meetings"][0]["id"]);
        assert_eq!(page2["next_page_token"], "");

        // Adam (an admin, but this user app holds only user-form scopes) is refused her meeting…
        let path = format!("/v2/meetings/{id}");
        let (status, body) = call(&live, &adam, Method::GET, &path, None).await;
        assert_eq!((status, body["code"].as_i64(), body["explain"]["step"].as_str()), (StatusCode::BAD_REQUEST, Some(200), Some("reach")), "{body}");
        // …until Ann makes him her assistant: then he reads it and schedules for her.
        live.db.store.add_assistant(&Actor::cli(), "acme-ann", "acme-adam").await.unwrap();
        let (status, _) = call(&live, &adam, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, scheduled) = call(&live, &adam, Method::POST, "/v2/users/me/meetings", Some(json!({"topic": "For Ann", "type": 2, "start_time": "2026-12-02T09:00:00Z", "schedule_for": "ann@acme.test"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{scheduled}");
        assert_eq!((scheduled["host_id"].as_str(), scheduled["assistant_id"].as_str()), (Some("acme-ann"), Some("acme-adam")));
        live.db.store.remove_assistant(&Actor::cli(), "acme-ann", Some("acme-adam")).await.unwrap();
        let (status, _) = call(&live, &adam, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a removed assistant is refused on the very next request");

        // An admin-scoped server app reaches every host's meetings; another account's app sees nothing.
        let admin = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let (status, got) = call(&live, &admin, Method::GET, &path, None).await;
        assert_eq!((status, got["host_email"].as_str()), (StatusCode::OK, Some("ann@acme.test")));
        let gadget = server_token(&live, "gadget-prod", "gadget-prod-secret-0123456789").await;
        let (status, body) = call(&live, &gadget, Method::GET, &path, None).await;
        assert_eq!((status, body["code"].as_i64(), body["message"].as_str()), (StatusCode::NOT_FOUND, Some(3001), Some(format!("Meeting does not exist: {id}.").as_str())));

        let (status, _) = call(&live, &ann, Method::PATCH, &path, Some(json!({"topic": "Standup (moved)", "start_time": "2026-12-01T11:00:00Z"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, got) = call(&live, &ann, Method::GET, &path, None).await;
        assert_eq!((got["topic"].as_str(), got["start_time"].as_str()), (Some("Standup (moved)"), Some("2026-12-01T11:00:00Z")));
        let (status, _) = call(&live, &ann, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = call(&live, &ann, Method::GET, &path, None).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::NOT_FOUND, Some(3001)));
        let (status, body) = call(&live, &ann, Method::GET, "/v2/meetings/not-a-number", None).await;
        assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(300)), "{body}");

        let actions: Vec<String> = live.db.store.audit_log("acme").await.unwrap().into_iter().map(|e| e.action).collect();
        for action in ["meeting.created", "meeting.updated", "meeting.deleted"] {
            assert!(actions.iter().any(|a| a == action), "no {action}");
        }
        live.assert_nothing_secret_logged();
    })
    .await;
}
