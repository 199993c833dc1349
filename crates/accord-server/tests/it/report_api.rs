//! The audit log (`/v2/report/operationlogs`) and the granted apps (`/v2/marketplace/apps`).

use accord_core::grants::GrantKind;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};

use crate::tokens::{code_for, grant_token, me, start, str_of};
use crate::users_api::{call, server_token};

#[tokio::test]
async fn the_audit_log_pages_by_time_window() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let ops = server_token(&live, "ops-bot-prod", "ops-bot-prod-secret-0123456789").await;
        let (status, all) = call(&live, &ops, Method::GET, "/v2/report/operationlogs", None).await;
        assert_eq!(status, StatusCode::OK, "{all}");
        let total = all["total_records"].as_u64().unwrap_or(0);
        assert!(total >= 5, "seeding wrote entries: {all}");
        assert!(
            all["operation_logs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "user.created")
        );
        let (_, first) = call(
            &live,
            &ops,
            Method::GET,
            "/v2/report/operationlogs?page_size=2",
            None,
        )
        .await;
        let next = str_of(&first, "next_page_token").to_owned();
        let (_, second) = call(
            &live,
            &ops,
            Method::GET,
            &format!("/v2/report/operationlogs?page_size=2&next_page_token={next}"),
            None,
        )
        .await;
        assert_ne!(
            first["operation_logs"][0]["id"],
            second["operation_logs"][0]["id"]
        );
        // The test clock says 2026-11-28: that day holds everything, a week earlier nothing.
        let (_, today) = call(
            &live,
            &ops,
            Method::GET,
            "/v2/report/operationlogs?from=2026-11-28&to=2026-11-28",
            None,
        )
        .await;
        assert_eq!(today["total_records"].as_u64(), Some(total));
        let (_, before) = call(
            &live,
            &ops,
            Method::GET,
            "/v2/report/operationlogs?from=2026-11-20&to=2026-11-21",
            None,
        )
        .await;
        assert_eq!(before["total_records"], 0);
        let (status, body) = call(
            &live,
            &ops,
            Method::GET,
            "/v2/report/operationlogs?from=2026-13-01",
            None,
        )
        .await;
        assert_eq!(
            (status, body["errors"][0]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("from")),
            "{body}"
        );
        let reader = server_token(&live, "backend-prod", "backend-prod-secret-0123456789").await;
        let (status, body) = call(
            &live,
            &reader,
            Method::GET,
            "/v2/report/operationlogs",
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(4711)),
            "{body}"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

/// The entries of an operation-log answer: `(operator, action, category_type)`.
fn entries_of(body: &serde_json::Value) -> Vec<(String, String, String)> {
    body["operation_logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no operation_logs in {body}"))
        .iter()
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
            (text("operator"), text("action"), text("category_type"))
        })
        .collect()
}

#[tokio::test]
async fn the_audit_log_filters_by_operator_action_and_category() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        grant_token(&live, "sync", "acme-adam", GrantKind::Installation).await;
        let ops = server_token(&live, "ops-bot-prod", "ops-bot-prod-secret-0123456789").await;
        let get = |query: String| {
            let (live, ops) = (&live, &ops);
            async move {
                // A second apart: the report's per-second limit is not what this test is about.
                live.db.clock.advance_seconds(1);
                let (status, body) = call(
                    live,
                    ops,
                    Method::GET,
                    &format!("/v2/report/operationlogs?{query}"),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{query}: {body}");
                body
            }
        };
        let all = get(String::new()).await;
        let total = all["total_records"].as_u64().unwrap_or(0);

        let created = get("action=user.created".into()).await;
        let kept = created["total_records"].as_u64().unwrap_or(0);
        assert!(kept > 0 && kept < total, "{created}");
        assert!(entries_of(&created).iter().all(|e| e.1 == "user.created"));

        // By email or by id, the same entries: Adam's installation.
        let by_email = get("operator=adam%40acme.test".into()).await;
        let by_id = get("operator=acme-adam".into()).await;
        assert_eq!(by_email["operation_logs"], by_id["operation_logs"]);
        let adams = entries_of(&by_email);
        assert!(!adams.is_empty(), "{by_email}");
        assert!(adams.iter().all(|e| e.0 == "acme-adam"), "{by_email}");
        let nobody = get("operator=nobody%40acme.test".into()).await;
        assert_eq!(nobody["total_records"], 0, "{nobody}");

        let users = get("category_type=user".into()).await;
        assert!(entries_of(&users).iter().all(|e| e.2 == "user"), "{users}");
        let every = get("category_type=all".into()).await;
        assert_eq!(every["total_records"].as_u64(), Some(total));

        // Pages of a filtered window; the token is bound to the filter.
        let first = get("action=user.created&page_size=1".into()).await;
        let token = str_of(&first, "next_page_token").to_owned();
        let second = get(format!(
            "action=user.created&page_size=1&next_page_token={token}"
        ))
        .await;
        assert_eq!(entries_of(&second)[0].1, "user.created");
        assert_ne!(
            first["operation_logs"][0]["id"],
            second["operation_logs"][0]["id"]
        );
        for other in [
            "",
            "action=user.updated&",
            "operator=acme-adam&action=user.created&",
        ] {
            live.db.clock.advance_seconds(1);
            let (status, body) = call(
                &live,
                &ops,
                Method::GET,
                &format!("/v2/report/operationlogs?{other}page_size=1&next_page_token={token}"),
                None,
            )
            .await;
            assert_eq!(
                (status, body["errors"][0]["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some("next_page_token")),
                "{other}: {body}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn granted_apps_are_listed_and_an_uninstall_ends_every_token_at_once() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let sync_token = grant_token(&live, "sync", "acme-adam", GrantKind::Installation).await;
        code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;

        let ops = server_token(&live, "ops-bot-prod", "ops-bot-prod-secret-0123456789").await;
        let (status, listed) = call(&live, &ops, Method::GET, "/v2/marketplace/apps", None).await;
        assert_eq!(
            (status, listed["total_records"].as_u64()),
            (StatusCode::OK, Some(2)),
            "{listed}"
        );
        let apps = listed["apps"].as_array().unwrap();
        let sync = apps
            .iter()
            .find(|a| a["id"] == "sync")
            .expect("the installation");
        assert_eq!(
            (
                sync["grant_kind"].as_str(),
                sync["installed_by"].as_str(),
                sync["client_id"].as_str()
            ),
            (Some("installation"), Some("acme-adam"), Some("sync-prod"))
        );
        let notes = apps
            .iter()
            .find(|a| a["id"] == "notes")
            .expect("the authorization");
        assert_eq!(
            (notes["grant_kind"].as_str(), notes["user_id"].as_str()),
            (Some("authorization"), Some("acme-ann"))
        );

        assert_eq!(me(&live, &sync_token).await.0, StatusCode::OK);
        let (status, _) = call(
            &live,
            &ops,
            Method::DELETE,
            "/v2/marketplace/apps/sync",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = me(&live, &sync_token).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::UNAUTHORIZED, Some(124)),
            "uninstalled: the very next request fails"
        );
        let (_, listed) = call(&live, &ops, Method::GET, "/v2/marketplace/apps", None).await;
        assert_eq!(listed["total_records"], 1);
        let (status, _) = call(
            &live,
            &ops,
            Method::DELETE,
            "/v2/marketplace/apps/sync",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to uninstall");
        let log = live.db.store.audit_log("acme").await.unwrap();
        assert!(
            log.iter()
                .any(|e| e.action == "grant.revoked"
                    && e.actor_id.as_deref() == Some("ops-bot-prod"))
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn the_app_settings_are_read_and_the_policy_changed_through_the_api() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let ops = server_token(&live, "ops-bot-prod", "ops-bot-prod-secret-0123456789").await;
        let (_, listed) = call(&live, &ops, Method::GET, "/v2/marketplace/apps", None).await;
        assert_eq!(listed["apps"][0]["user_email"], "ann@acme.test", "{listed}");

        let (status, settings) =
            call(&live, &ops, Method::GET, "/v2/marketplace/settings", None).await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_eq!(
            settings,
            serde_json::json!({"app_approval": "open", "blocked_apps": []})
        );
        let (status, _) = call(
            &live,
            &ops,
            Method::PUT,
            "/v2/marketplace/apps/notes/block",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, settings) = call(&live, &ops, Method::GET, "/v2/marketplace/settings", None).await;
        assert_eq!(settings["blocked_apps"][0]["id"], "notes", "{settings}");

        let policy = |value: &str| Some(serde_json::json!({ "app_approval": value }));
        let path = "/v2/marketplace/settings";
        let (status, body) = call(&live, &ops, Method::PATCH, path, policy("preapproval")).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let store = &live.db.store;
        assert_eq!(
            store.account("acme").await.unwrap().app_approval,
            accord_core::apps::AppApproval::Preapproval
        );
        let log = store.audit_log("acme").await.unwrap();
        assert!(log.iter().any(|e| e.action == "account.app_policy_changed"
            && e.actor_id.as_deref() == Some("ops-bot-prod")));
        let (_, settings) = call(&live, &ops, Method::GET, path, None).await;
        assert_eq!(settings["app_approval"], "preapproval");

        let (status, body) = call(&live, &ops, Method::PATCH, path, policy("closed")).await;
        assert_eq!(
            (status, body["errors"][0]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("app_approval")),
            "{body}"
        );
        let extra = serde_json::json!({"app_approval": "open", "name": "Renamed"});
        let (status, _) = call(&live, &ops, Method::PATCH, path, Some(extra)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Globex's server app may read its marketplace, not change it.
        let gadget = server_token(&live, "gadget-prod", "gadget-prod-secret-0123456789").await;
        let (status, body) = call(&live, &gadget, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = call(&live, &gadget, Method::PATCH, path, policy("preapproval")).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(4711)),
            "{body}"
        );
        assert_eq!(
            store.account("acme").await.unwrap().app_approval,
            accord_core::apps::AppApproval::Preapproval,
            "unchanged by the refused call"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}
