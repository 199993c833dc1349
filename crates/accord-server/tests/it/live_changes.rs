//! Changes made *through the API* change the very next answer of every token they concern: an
//! admin removed from the Admin role (`DELETE /v2/roles/1/members/{id}`), an assistant removed
//! (`DELETE /v2/users/{id}/assistants/{assistantId}`), an app uninstalled
//! (`DELETE /v2/marketplace/apps/{appId}`) — no cache to wait for, no token to renew.

use accord_core::grants::GrantKind;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::tokens::{grant_token, start};
use crate::users_api::{call, server_token};

fn refusal(answer: &(StatusCode, Value)) -> (StatusCode, Option<i64>) {
    (answer.0, answer.1["code"].as_i64())
}

#[tokio::test]
async fn demotion_assistant_removal_and_uninstall_through_the_api_change_the_very_next_answer() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let roles = server_token(&live, "role-bot-prod", "role-bot-prod-secret-0123456789").await;
        let admin = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let ops = server_token(&live, "ops-bot-prod", "ops-bot-prod-secret-0123456789").await;

        // Adam, an admin, lists Ann through his user grant with an admin scope…
        let adams = grant_token(&live, "directory", "acme-adam", GrantKind::Authorization).await;
        let ann = "/v2/users/acme-ann";
        let (status, body) = call(&live, &adams, Method::GET, ann, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // …until the owner's role app takes him out of the Admin role: the next call is refused.
        let (status, body) = call(
            &live,
            &roles,
            Method::DELETE,
            "/v2/roles/1/members/acme-adam",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let refused = call(&live, &adams, Method::GET, ann, None).await;
        assert_eq!(
            refusal(&refused),
            (StatusCode::BAD_REQUEST, Some(200)),
            "{}",
            refused.1
        );
        assert_eq!(
            refused.1["explain"]["missing_privilege"], "User:Read",
            "{}",
            refused.1
        );

        // Ann, a member, reads Adam's meetings as his assistant…
        let (status, body) = call(
            &live,
            &admin,
            Method::POST,
            "/v2/users/acme-adam/assistants",
            Some(json!({"assistants": [{"id": "acme-ann"}]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let anns = grant_token(&live, "calendar", "acme-ann", GrantKind::Authorization).await;
        let adams_meetings = "/v2/users/acme-adam/meetings";
        let (status, body) = call(&live, &anns, Method::GET, adams_meetings, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "an assistant reaches her principal's meetings: {body}"
        );
        // …until she is removed as his assistant: the next call is refused.
        let (status, body) = call(
            &live,
            &admin,
            Method::DELETE,
            "/v2/users/acme-adam/assistants/acme-ann",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let refused = call(&live, &anns, Method::GET, adams_meetings, None).await;
        assert_eq!(
            refusal(&refused),
            (StatusCode::BAD_REQUEST, Some(200)),
            "{}",
            refused.1
        );
        let (status, body) = call(&live, &anns, Method::GET, "/v2/users/me/meetings", None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "her own meetings stay reachable: {body}"
        );

        // Uninstalling the app ends her token at once.
        let (status, body) = call(
            &live,
            &ops,
            Method::DELETE,
            "/v2/marketplace/apps/calendar",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let refused = call(&live, &anns, Method::GET, "/v2/users/me/meetings", None).await;
        assert_eq!(
            refusal(&refused),
            (StatusCode::UNAUTHORIZED, Some(124)),
            "{}",
            refused.1
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}
