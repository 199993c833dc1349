//! `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`, metadata and JWKS, and the first protected
//! endpoint `GET /v2/users/me` — over HTTP, on every backend, with the log scanned for secrets.

use accord_core::grants::GrantKind;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::tokens::NewCode;
use accord_testkit::on_every_backend;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::live::Live;

pub const FIXTURE: &str = r#"{
  "accounts": [
    {"id": "acme", "name": "Acme", "users": [
      {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"},
      {"id": "acme-adam", "email": "adam@acme.test", "password": "adam-password-1", "role": "admin"},
      {"id": "acme-ann", "email": "ann@acme.test", "password": "ann-password-1", "role": "member"}]},
    {"id": "globex", "name": "Globex", "users": [
      {"id": "globex-gina", "email": "gina@globex.test", "password": "gina-password-1", "role": "owner"}]}
  ],
  "apps": [
    {"id": "sync", "name": "Sync", "kind": "account", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read:admin"],
     "credentials": {"production": {"client_id": "sync-prod", "client_secret": "sync-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}}},
    {"id": "notes", "name": "Notes", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read"],
     "credentials": {"production": {"client_id": "notes-prod", "client_secret": "notes-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}}},
    {"id": "directory", "name": "Directory", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read:admin"],
     "credentials": {"production": {"client_id": "directory-prod", "client_secret": "directory-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}}},
    {"id": "helper", "name": "Helper", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read", "user:write"],
     "credentials": {"production": {"client_id": "helper-prod", "client_secret": "helper-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}}},
    {"id": "calendar", "name": "Calendar", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["meeting:read", "meeting:write"],
     "credentials": {"production": {"client_id": "calendar-prod", "client_secret": "calendar-prod-secret-0123456789",
                                     "redirect_uris": ["http://127.0.0.1:9/cb"]}}},
    {"id": "mobile", "name": "Mobile", "kind": "user", "developer": "olive@acme.test", "status": "published",
     "scopes": ["user:read"], "public_client": true,
     "credentials": {"production": {"client_id": "mobile-prod", "redirect_uris": ["http://127.0.0.1:9/cb"]}}},
    {"id": "backend", "name": "Backend", "kind": "server", "developer": "olive@acme.test", "scopes": ["user:read:admin"],
     "credentials": {"production": {"client_id": "backend-prod", "client_secret": "backend-prod-secret-0123456789"}}},
    {"id": "admin-bot", "name": "Admin Bot", "kind": "server", "developer": "olive@acme.test",
     "scopes": ["user:read:admin", "user:write:admin", "meeting:read:admin", "meeting:write:admin"],
     "credentials": {"production": {"client_id": "admin-bot-prod", "client_secret": "admin-bot-prod-secret-0123456789"}}},
    {"id": "role-bot", "name": "Role Bot", "kind": "server", "developer": "olive@acme.test",
     "scopes": ["role:read:admin", "role:write:admin"],
     "credentials": {"production": {"client_id": "role-bot-prod", "client_secret": "role-bot-prod-secret-0123456789"}}},
    {"id": "ops-bot", "name": "Ops Bot", "kind": "server", "developer": "olive@acme.test",
     "scopes": ["report:read:admin", "marketplace:read:admin", "marketplace:write:admin"],
     "credentials": {"production": {"client_id": "ops-bot-prod", "client_secret": "ops-bot-prod-secret-0123456789"}}},
    {"id": "gadget", "name": "Gadget", "kind": "server", "developer": "gina@globex.test",
     "scopes": ["user:read:admin", "meeting:read:admin", "meeting:write:admin", "report:read:admin", "marketplace:read:admin"],
     "credentials": {"production": {"client_id": "gadget-prod", "client_secret": "gadget-prod-secret-0123456789"}}}
  ]
}"#;

pub const REDIRECT: &str = "http://127.0.0.1:9/cb";

pub async fn start(db: accord_testkit::TestDbRef) -> Live {
    let seed = accord_store::seed::parse("fixture", FIXTURE).expect("fixture parses");
    accord_store::seed::apply(&db.store, "fixture", &seed)
        .await
        .expect("fixture applies");
    let live = Live::start(db).await;
    for secret in [
        "olive-password-1",
        "sync-prod-secret-0123456789",
        "notes-prod-secret-0123456789",
        "backend-prod-secret-0123456789",
    ] {
        live.secret(secret);
    }
    live
}

/// Posts to `/oauth/*` with optional Basic credentials and form parameters.
pub async fn post(
    live: &Live,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = live.http.post(format!("{}{path}", live.url)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub async fn me(live: &Live, token: &str) -> (StatusCode, Value) {
    let response = live
        .http
        .get(format!("{}/v2/users/me", live.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

pub fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {body}"))
}

/// A grant made as the consent page makes it, and a code for it.
pub async fn code_for(
    live: &Live,
    app_id: &str,
    client_id: &str,
    user_id: &str,
    kind: GrantKind,
    challenge: Option<(&str, &str)>,
) -> String {
    let store = &live.db.store;
    let scopes = store.app(app_id).await.unwrap().required_scopes;
    let request = GrantRequest {
        kind,
        app_id,
        account_id: "acme",
        user_id: (kind == GrantKind::Authorization).then_some(user_id),
        created_by: Some(user_id),
        scopes: &scopes,
    };
    let grant = store
        .upsert_grant(&Actor::User(user_id.into()), request)
        .await
        .unwrap();
    let code = store
        .create_code(NewCode {
            grant_id: &grant.id,
            generation: grant.generation,
            client_id,
            user_id,
            redirect_uri: REDIRECT,
            redirect_uri_given: false,
            code_challenge: challenge.map(|c| c.0),
            code_challenge_method: challenge.map(|c| c.1),
            scopes: &scopes,
        })
        .await
        .unwrap();
    live.secret(code.expose())
}

/// The access token of a fresh grant: `user` installs (`Installation`) or authorizes
/// (`Authorization`) the FIXTURE app `app`, and its production client exchanges the code.
pub async fn grant_token(live: &Live, app: &str, user: &str, kind: GrantKind) -> String {
    let client = format!("{app}-prod");
    let secret = format!("{app}-prod-secret-0123456789");
    let code = code_for(live, app, &client, user, kind, None).await;
    let (status, _, body) = post(
        live,
        "/oauth/token",
        Some((&client, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    live.secret(str_of(&body, "access_token"))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[tokio::test]
async fn server_apps_get_one_hour_tokens_for_their_own_account_only() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let basic = Some(("backend-prod", "backend-prod-secret-0123456789"));
        let (status, headers, body) = post(&live, "/oauth/token", basic, &[("grant_type", "account_credentials"), ("account_id", "acme")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(body["token_type"], "bearer");
        assert!(matches!(body["expires_in"].as_i64(), Some(3599 | 3600)), "{body}");
        assert_eq!(body["scope"], "user:read:admin");
        assert_eq!(body["api_url"], live.url.as_str());
        assert!(body.get("refresh_token").is_none(), "server grants get no refresh token");
        let token = live.secret(str_of(&body, "access_token"));

        let (status, user) = me(&live, &token).await;
        assert_eq!(status, StatusCode::OK, "{user}");
        assert_eq!(user["id"], "acme-olive", "a server grant's `me` is the account owner");
        assert_eq!(user["email"], "olive@acme.test");

        // Another account's user reads like a missing one.
        let other = live.http.get(format!("{}/v2/users/gina@globex.test", live.url)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
        let other: Value = other.json().await.unwrap();
        assert_eq!((other["code"].as_i64(), other["message"].as_str()), (Some(1001), Some("User does not exist: gina@globex.test.")));

        // client_credentials: account implied; credentials in the body; a JSON content type on an
        // empty body with parameters in the query, as zoom-python-client sends them.
        let response = live
            .http
            .post(format!("{}/oauth/token/?grant_type=client_credentials&client_id=backend-prod&client_secret=backend-prod-secret-0123456789", live.url))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        let (status, _, body) = post(&live, "/oauth/token", basic, &[("grant_type", "account_credentials"), ("account_id", "globex")]).await;
        assert_eq!((status, str_of(&body, "reason")), (StatusCode::BAD_REQUEST, "Account does not exist"));
        assert_eq!(body["error"], "invalid_request");
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn client_authentication_failures_answer_in_both_dialects() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let (status, headers, body) = post(
            &live,
            "/oauth/token",
            Some(("backend-prod", "wrong-secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["reason"], "Invalid client_id or client_secret");
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(
            body["error_description"],
            "Invalid client_id or client_secret"
        );
        assert!(headers.contains_key("www-authenticate"));
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            Some(("nobody", "backend-prod-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            Some(("backend-prod", "backend-prod-secret-0123456789")),
            &[("grant_type", "password")],
        )
        .await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Unsupported grant type"))
        );
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            Some(("sync-prod", "sync-prod-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
            "only server apps use client credentials"
        );
        // Client ids and secrets inside Basic are form-url-decoded (openid-client encodes `-`).
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            Some(("backend%2Dprod", "backend%2Dprod%2Dsecret%2D0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn authorization_codes_are_single_use_and_bound_to_pkce_and_redirect() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let verifier = "a-verifier-that-is-long-enough-0123456789-abcdefghij";
        let code = code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            Some((&s256(verifier), "S256")),
        )
        .await;
        let basic = Some(("notes-prod", "notes-prod-secret-0123456789"));
        let wrong = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "x".repeat(43).leak() as &str),
        ];
        let (status, _, body) = post(&live, "/oauth/token", basic, &wrong).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{body}"
        );
        // The failed attempt spent the code: codes are single use whatever happens.
        let right = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        let (status, _, body) = post(&live, "/oauth/token", basic, &right).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Invalid authorization code"))
        );

        // A fresh code works once; its replay revokes what the first use issued.
        let code = code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            Some((&s256(verifier), "S256")),
        )
        .await;
        let first = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        let (status, _, body) = post(&live, "/oauth/token", basic, &first).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let access = live.secret(str_of(&body, "access_token"));
        let refresh = live.secret(str_of(&body, "refresh_token"));
        assert_eq!(me(&live, &access).await.1["id"], "acme-ann");
        let (status, _, _) = post(&live, "/oauth/token", basic, &first).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = me(&live, &access).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::UNAUTHORIZED, Some(124)),
            "a replayed code revokes the first use's access token"
        );
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "…and its refresh family");

        // PKCE downgrade: a verifier for a code issued without a challenge is refused.
        let code = code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", verifier),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );

        // A different redirect URI is refused; another client cannot redeem the code.
        let code = code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:9/other"),
            ],
        )
        .await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Invalid redirect uri"))
        );
        let code = code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            Some(("sync-prod", "sync-prod-secret-0123456789")),
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // A public client redeems with PKCE alone.
        let code = code_for(
            &live,
            "mobile",
            "mobile-prod",
            "acme-ann",
            GrantKind::Authorization,
            Some((&s256(verifier), "S256")),
        )
        .await;
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "mobile-prod"),
                ("code", code.as_str()),
                ("code_verifier", verifier),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        live.secret(str_of(&body, "access_token"));
        live.secret(str_of(&body, "refresh_token"));
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn fifty_concurrent_refreshes_get_one_successor_and_late_reuse_revokes_the_family() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let code = code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let basic = Some(("notes-prod", "notes-prod-secret-0123456789"));
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let parent = live.secret(str_of(&body, "refresh_token"));

        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (http, url, parent) = (live.http.clone(), live.url.clone(), parent.clone());
            tasks.push(tokio::spawn(async move {
                let response = http
                    .post(format!("{url}/oauth/token"))
                    .basic_auth("notes-prod", Some("notes-prod-secret-0123456789"))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", parent.as_str()),
                    ])
                    .send()
                    .await
                    .expect("request");
                (
                    response.status(),
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }));
        }
        let mut successors = std::collections::HashSet::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            successors.insert(str_of(&body, "refresh_token").to_owned());
            live.secret(str_of(&body, "access_token"));
        }
        assert_eq!(
            successors.len(),
            1,
            "every concurrent refresh got the same successor"
        );
        let successor = live.secret(successors.into_iter().next().unwrap_or_default());
        assert_ne!(successor, parent);

        // The family survives: the successor refreshes normally.
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", successor.as_str()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let grandchild = live.secret(str_of(&body, "refresh_token"));
        assert_eq!(
            me(&live, str_of(&body, "access_token")).await.0,
            StatusCode::OK
        );

        // The parent after the grace window is reuse: the whole family is revoked.
        live.db.clock.advance_seconds(61);
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", parent.as_str()),
            ],
        )
        .await;
        assert_eq!(
            (status, body["reason"].as_str(), body["error"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("Invalid Token!"),
                Some("invalid_grant")
            )
        );
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", grandchild.as_str()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "reuse revoked the family");
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn revoking_any_token_of_a_grant_ends_every_token_of_it() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let basic = Some(("sync-prod", "sync-prod-secret-0123456789"));
        let mut access = Vec::new();
        let mut refresh = Vec::new();
        for _ in 0..2 {
            let code = code_for(
                &live,
                "sync",
                "sync-prod",
                "acme-adam",
                GrantKind::Installation,
                None,
            )
            .await;
            let (status, _, body) = post(
                &live,
                "/oauth/token",
                basic,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                ],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            refresh.push(live.secret(str_of(&body, "refresh_token")));
        }
        // Two tokens of the current generation.
        for _ in 0..2 {
            let (_, _, body) = post(
                &live,
                "/oauth/token",
                basic,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh[1].as_str()),
                ],
            )
            .await;
            access.push(live.secret(str_of(&body, "access_token")));
        }
        assert_eq!(
            me(&live, &access[0]).await.1["id"],
            "acme-adam",
            "an installation's `me` is its installer"
        );
        // The older authorization's tokens died when the app was re-authorized (generation 2).
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh[0].as_str()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (status, _, body) = post(
            &live,
            "/oauth/revoke",
            basic,
            &[("token", access[1].as_str())],
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, serde_json::json!({"status": "success"}))
        );
        for token in &access {
            let (status, body) = me(&live, token).await;
            assert_eq!(
                (status, body["code"].as_i64()),
                (StatusCode::UNAUTHORIZED, Some(124)),
                "{body}"
            );
        }
        let (status, _, _) = post(
            &live,
            "/oauth/token",
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh[1].as_str()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let grants = live.db.store.grants_in_account("acme").await.unwrap();
        assert!(
            grants.iter().any(
                |g| g.app_id == "sync" && g.status == accord_core::grants::GrantStatus::Revoked
            )
        );
        // Unknown tokens are "revoked" successfully too (RFC 7009).
        let (status, _, _) = post(&live, "/oauth/revoke", basic, &[("token", "not-a-token")]).await;
        assert_eq!(status, StatusCode::OK);
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn introspection_shows_a_client_only_its_own_live_tokens() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let backend = Some(("backend-prod", "backend-prod-secret-0123456789"));
        let (_, _, body) = post(
            &live,
            "/oauth/token",
            backend,
            &[("grant_type", "client_credentials")],
        )
        .await;
        let token = live.secret(str_of(&body, "access_token"));
        let (status, _, body) = post(
            &live,
            "/oauth/introspect",
            backend,
            &[("token", token.as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (
                body["active"].as_bool(),
                body["client_id"].as_str(),
                body["aid"].as_str()
            ),
            (Some(true), Some("backend-prod"), Some("acme"))
        );
        assert_eq!(body["scope"], "user:read:admin");
        let (_, _, body) = post(
            &live,
            "/oauth/introspect",
            Some(("sync-prod", "sync-prod-secret-0123456789")),
            &[("token", token.as_str())],
        )
        .await;
        assert_eq!(
            body,
            serde_json::json!({"active": false}),
            "another client's token is not revealed"
        );
        let (_, _, body) = post(&live, "/oauth/introspect", backend, &[("token", "garbage")]).await;
        assert_eq!(body, serde_json::json!({"active": false}));
        live.db.clock.advance_seconds(3600);
        let (status, body) = me(&live, &token).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("Access token is expired."))
        );
        let (_, _, body) = post(
            &live,
            "/oauth/introspect",
            backend,
            &[("token", token.as_str())],
        )
        .await;
        assert_eq!(body["active"], false);
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn metadata_is_truthful_and_keys_are_announced_before_use() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let metadata: Value = live
            .http
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                live.url
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(metadata["issuer"], live.url.as_str());
        for endpoint in [
            "authorization_endpoint",
            "token_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
            "jwks_uri",
        ] {
            let url = str_of(&metadata, endpoint);
            assert!(url.starts_with(&live.url), "{endpoint}: {url}");
        }
        assert_eq!(
            metadata["response_types_supported"],
            serde_json::json!(["code"])
        );
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            true
        );
        let jwks_url = str_of(&metadata, "jwks_uri").to_owned();
        let jwks = |http: reqwest::Client| {
            let url = jwks_url.clone();
            async move {
                http.get(url)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let first = jwks(live.http.clone()).await;
        assert_eq!(first["keys"].as_array().map(Vec::len), Some(1));
        let old_kid = str_of(&first["keys"][0], "kid").to_owned();

        // Rotate: the new key is published at once but signs only after the delay.
        let new_kid = accord_server::oauth::keys::rotate(&live.db.store, 600)
            .await
            .unwrap();
        let state = accord_server::AppState::new(
            live.db.store.clone(),
            accord_server::ServerConfig::new(live.url.clone()),
        )
        .await
        .unwrap();
        state.keys().reload(&live.db.store).await.unwrap();
        let published: Vec<String> = state.keys().jwks(live.db.store.now())["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(published, [old_kid.clone(), new_kid.clone()]);
        assert_eq!(
            state.keys().signing_key(live.db.store.now()).unwrap().kid,
            old_kid
        );
        live.db.clock.advance_seconds(601);
        assert_eq!(
            state.keys().signing_key(live.db.store.now()).unwrap().kid,
            new_kid
        );
        // The running server learns the new key when a token names it.
        let (status, _, body) = post(
            &live,
            "/oauth/token",
            Some(("backend-prod", "backend-prod-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let token = live.secret(str_of(&body, "access_token"));
        assert_eq!(me(&live, &token).await.0, StatusCode::OK);
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn token_endpoints_allow_cors_but_authorize_never_does() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        for path in [
            "/oauth/token",
            "/oauth/revoke",
            "/oauth/introspect",
            "/oauth/jwks",
            "/.well-known/oauth-authorization-server",
        ] {
            let response = live
                .http
                .request(reqwest::Method::OPTIONS, format!("{}{path}", live.url))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST")
                .send()
                .await
                .unwrap();
            assert_eq!(
                response
                    .headers()
                    .get("access-control-allow-origin")
                    .map(|v| v.to_str().unwrap_or("")),
                Some("*"),
                "{path}"
            );
        }
        let response = live
            .http
            .get(format!(
                "{}/oauth/authorize?response_type=code&client_id=notes-prod",
                live.url
            ))
            .header("origin", "https://app.example")
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "no CORS on /oauth/authorize"
        );
    })
    .await;
}

#[tokio::test]
async fn a_demotion_or_an_uninstall_changes_the_very_next_answer() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let token = grant_token(&live, "directory", "acme-adam", GrantKind::Authorization).await;
        let olive = |token: String| {
            let (http, url) = (live.http.clone(), live.url.clone());
            async move {
                let response = http
                    .get(format!("{url}/v2/users/olive@acme.test"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                (
                    response.status(),
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };
        assert_eq!(
            olive(token.clone()).await.0,
            StatusCode::OK,
            "an admin's user grant with an admin scope reaches every user"
        );

        let demote = accord_store::users::UserChange {
            role_id: Some(accord_core::ids::RoleId::parse("2").unwrap()),
            ..Default::default()
        };
        live.db
            .store
            .update_user(&Actor::cli(), "acme-adam", demote)
            .await
            .unwrap();
        let (status, body) = olive(token.clone()).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(200)),
            "{body}"
        );
        assert_eq!(body["explain"]["missing_privilege"], "User:Read", "{body}");
        assert_eq!(
            me(&live, &token).await.0,
            StatusCode::OK,
            "their own profile stays reachable"
        );

        let grant = live
            .db
            .store
            .grants_of_app("directory")
            .await
            .unwrap()
            .remove(0);
        live.db
            .store
            .revoke_grant(&Actor::cli(), &grant.id, "removed by an admin")
            .await
            .unwrap();
        let (status, body) = me(&live, &token).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::UNAUTHORIZED, Some(124)),
            "{body}"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

const NOTES: (&str, &str) = ("notes-prod", "notes-prod-secret-0123456789");

/// Ann authorizes Notes and its client exchanges the code: (access token, refresh token).
async fn notes_tokens(live: &Live) -> (String, String) {
    let code = code_for(
        live,
        "notes",
        "notes-prod",
        "acme-ann",
        GrantKind::Authorization,
        None,
    )
    .await;
    let (status, _, body) = post(
        live,
        "/oauth/token",
        Some(NOTES),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        live.secret(str_of(&body, "access_token")),
        live.secret(str_of(&body, "refresh_token")),
    )
}

/// `grant_type=refresh_token` for `client`.
async fn refresh(live: &Live, client: (&str, &str), token: &str) -> (StatusCode, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    let (status, _, body) = post(live, "/oauth/token", Some(client), &form).await;
    if status == StatusCode::OK {
        live.secret(str_of(&body, "access_token"));
        live.secret(str_of(&body, "refresh_token"));
    }
    (status, body)
}

/// Asks introspection about a refresh token, then presents it at the token endpoint (both as
/// `client`), and requires both to give the expected answer: `usable` or not.
async fn introspection_and_refresh_agree(
    live: &Live,
    what: &str,
    client: (&str, &str),
    token: &str,
    usable: bool,
) -> Value {
    let (status, _, introspected) =
        post(live, "/oauth/introspect", Some(client), &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{what}: {introspected}");
    let (status, body) = refresh(live, client, token).await;
    assert_eq!(
        (introspected["active"].as_bool(), status == StatusCode::OK),
        (Some(usable), usable),
        "{what}: introspection said {introspected}, the token endpoint {status} {body}"
    );
    if usable {
        assert_eq!(introspected["token_type"], "refresh_token", "{what}");
        assert_eq!(introspected["client_id"], client.0, "{what}");
    }
    body
}

#[tokio::test]
async fn introspection_agrees_with_the_token_endpoint_for_every_refresh_token_state() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let helper = ("helper-prod", "helper-prod-secret-0123456789");
        live.secret(helper.1);
        let agree = |what: &'static str,
                     client: (&'static str, &'static str),
                     token: String,
                     usable: bool| {
            let live = &live;
            async move { introspection_and_refresh_agree(live, what, client, &token, usable).await }
        };

        let (_, first) = notes_tokens(&live).await;
        let answer = agree("fresh", NOTES, first.clone(), true).await;
        let successor = str_of(&answer, "refresh_token").to_owned();
        let again = agree(
            "rotated, within the grace window",
            NOTES,
            first.clone(),
            true,
        )
        .await;
        assert_eq!(
            str_of(&again, "refresh_token"),
            successor,
            "the same successor again"
        );
        refresh(&live, NOTES, &successor).await;
        agree("rotated, its successor used", NOTES, first, false).await;

        let (_, first) = notes_tokens(&live).await;
        let (_, answer) = refresh(&live, NOTES, &first).await;
        let successor = str_of(&answer, "refresh_token").to_owned();
        live.db.clock.advance_seconds(61);
        agree("rotated, after the grace window", NOTES, first, false).await;
        agree("the successor of a reused token", NOTES, successor, false).await;

        let (_, earlier) = notes_tokens(&live).await;
        code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        agree(
            "of the authorization before a re-consent",
            NOTES,
            earlier,
            false,
        )
        .await;

        let (_, revoked) = notes_tokens(&live).await;
        let (status, _, _) = post(
            &live,
            "/oauth/revoke",
            Some(NOTES),
            &[("token", revoked.as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        agree("of a revoked grant", NOTES, revoked, false).await;

        let (_, token) = notes_tokens(&live).await;
        agree("presented by another client", helper, token.clone(), false).await;
        agree("after another client's attempt", NOTES, token, true).await;

        agree("unknown", NOTES, "not-a-refresh-token".into(), false).await;

        let (_, expired) = notes_tokens(&live).await;
        live.db.clock.advance_seconds(90 * 24 * 3600 + 1);
        agree("expired", NOTES, expired, false).await;
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn refresh_reuse_ends_the_access_tokens_of_the_authorization_at_once() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let (first_access, first) = notes_tokens(&live).await;
        let (status, body) = refresh(&live, NOTES, &first).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let access = str_of(&body, "access_token").to_owned();
        assert_eq!(me(&live, &access).await.0, StatusCode::OK);
        let grant = live
            .db
            .store
            .grants_of_app("notes")
            .await
            .unwrap()
            .remove(0);

        live.db.clock.advance_seconds(61);
        let (status, body) = refresh(&live, NOTES, &first).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "reuse"
        );
        for token in [&first_access, &access] {
            let (status, body) = me(&live, token).await;
            assert_eq!(
                (status, body["code"].as_i64()),
                (StatusCode::UNAUTHORIZED, Some(124)),
                "an access token of the reused family still works: {body}"
            );
        }
        let after = live.db.store.grant(&grant.id).await.unwrap();
        assert_eq!(after.generation, grant.generation + 1);
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn no_introspection_answer_may_be_cached() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let backend = ("backend-prod", "backend-prod-secret-0123456789");
        let (_, _, body) = post(
            &live,
            "/oauth/token",
            Some(backend),
            &[("grant_type", "client_credentials")],
        )
        .await;
        let token = live.secret(str_of(&body, "access_token"));
        // (what, client credentials, form, the status it gets)
        type Case<'a> = (
            &'a str,
            (&'a str, &'a str),
            &'a [(&'a str, &'a str)],
            StatusCode,
        );
        let cases: [Case; 4] = [
            (
                "active",
                backend,
                &[("token", token.as_str())],
                StatusCode::OK,
            ),
            ("inactive", backend, &[("token", "garbage")], StatusCode::OK),
            (
                "bad client",
                (backend.0, "wrong-secret"),
                &[("token", token.as_str())],
                StatusCode::UNAUTHORIZED,
            ),
            ("no token", backend, &[], StatusCode::BAD_REQUEST),
        ];
        for (what, client, form, expected) in cases {
            let (status, headers, body) =
                post(&live, "/oauth/introspect", Some(client), form).await;
            assert_eq!(status, expected, "{what}: {body}");
            assert_eq!(
                (
                    headers.get("cache-control").and_then(|v| v.to_str().ok()),
                    headers.get("pragma").and_then(|v| v.to_str().ok())
                ),
                (Some("no-store"), Some("no-cache")),
                "{what}"
            );
        }
        live.assert_nothing_secret_logged();
    })
    .await;
}

/// Goes through `/oauth/authorize` at `path` as Ann in `browser` (signing in first when asked)
/// and approves: the code the redirect carries.
async fn authorized_code(
    live: &Live,
    browser: &crate::support::Browser,
    path: &str,
    sign_in: bool,
) -> String {
    let mut page = browser.get(path).await;
    if sign_in {
        let form = page.form_with("password");
        let password = live.secret("ann-password-1");
        let signed_in = browser
            .post(
                &form.action,
                &form.with(&[("email", "ann@acme.test"), ("password", &password)]),
            )
            .await;
        page = browser.follow(&signed_in).await;
    }
    let form = page.form_with("decision");
    let done = browser
        .post(&form.action, &form.with(&[("decision", "approve")]))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    live.secret(done.redirect_param("code").expect("a code"))
}

#[tokio::test]
async fn a_code_needs_the_redirect_uri_its_authorization_request_named() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let named = format!(
            "/oauth/authorize?response_type=code&client_id=notes-prod&redirect_uri={}",
            form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        );
        let omitted = "/oauth/authorize?response_type=code&client_id=notes-prod";
        let exchange = |code: String, redirect_uri: Option<&'static str>| {
            let live = &live;
            async move {
                let mut form = vec![
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                ];
                form.extend(redirect_uri.map(|uri| ("redirect_uri", uri)));
                let (status, _, body) = post(live, "/oauth/token", Some(NOTES), &form).await;
                if status == StatusCode::OK {
                    live.secret(str_of(&body, "access_token"));
                    live.secret(str_of(&body, "refresh_token"));
                }
                (status, body)
            }
        };

        // The request named it (and signing in in between keeps it named): the exchange must too.
        let browser = live.server.browser();
        let code = authorized_code(&live, &browser, &named, true).await;
        let (status, body) = exchange(code, None).await;
        assert_eq!(
            (status, body["error"].as_str(), body["reason"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("invalid_grant"),
                Some("Invalid redirect uri")
            ),
            "{body}"
        );
        let code = authorized_code(&live, &browser, &named, false).await;
        assert_eq!(exchange(code, Some(REDIRECT)).await.0, StatusCode::OK);

        // The request left it out (the app has one): the exchange may leave it out or name that one.
        let browser = live.server.browser();
        let code = authorized_code(&live, &browser, omitted, true).await;
        let (status, body) = exchange(code, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let code = authorized_code(&live, &browser, omitted, false).await;
        assert_eq!(exchange(code, Some(REDIRECT)).await.0, StatusCode::OK);
        let code = authorized_code(&live, &browser, omitted, false).await;
        let (status, body) = exchange(code, Some("http://127.0.0.1:9/other")).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Invalid redirect uri"))
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

/// What `issue` gave across a revocation: a refusal, or a token the API refuses at once.
async fn nothing_outlives_the_revocation(
    live: &Live,
    what: &str,
    issued: Result<
        accord_server::oauth::token::TokenResponse,
        accord_server::oauth::errors::OAuthError,
    >,
) {
    match issued {
        Err(refusal) => assert_eq!(refusal.error, "invalid_grant", "{what}"),
        Ok(answer) => {
            let token = live.secret(answer.access_token);
            let (status, body) = me(live, &token).await;
            assert_eq!(
                (status, body["code"].as_i64()),
                (StatusCode::UNAUTHORIZED, Some(124)),
                "{what}: a token issued across the revocation works"
            );
        }
    }
}

#[tokio::test]
async fn a_re_consent_or_code_replay_between_validation_and_issuing_leaves_no_live_token() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let store = &live.db.store;
        let state = accord_server::AppState::new(
            store.clone(),
            accord_server::ServerConfig::new(live.url.clone()),
        )
        .await
        .unwrap();
        let issue = accord_server::oauth::token::issue;

        // The refresh token is validated (rotated), Ann re-consents, then the token is signed.
        let (_, refresh) = notes_tokens(&live).await;
        let rotation = accord_server::oauth::token::rotation(&state);
        let rotated = store
            .rotate_refresh(
                &accord_core::ids::Secret::new(refresh),
                "notes-prod",
                rotation,
            )
            .await
            .unwrap()
            .expect("a valid refresh token");
        live.secret(rotated.refresh_token.expose());
        code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let grant = store.grant(&rotated.grant.id).await.unwrap();
        let issued = issue(
            &state,
            &grant,
            rotated.generation,
            "notes-prod",
            &rotated.scopes,
            None,
        )
        .await;
        nothing_outlives_the_revocation(&live, "re-consent during a refresh", issued).await;

        // The code is validated (spent), replayed, then the exchange carries on.
        let code = code_for(
            &live,
            "notes",
            "notes-prod",
            "acme-ann",
            GrantKind::Authorization,
            None,
        )
        .await;
        let accord_store::tokens::CodeUse::Fresh(redeemed) = store.take_code(&code).await.unwrap()
        else {
            panic!("a fresh code");
        };
        assert!(matches!(
            store.take_code(&code).await.unwrap(),
            accord_store::tokens::CodeUse::Replayed
        ));
        assert!(
            store
                .start_refresh_family(&redeemed, rotation.refresh_ttl_seconds)
                .await
                .unwrap()
                .is_none(),
            "no refresh family for a code replayed before it started"
        );
        let grant = store.grant(&redeemed.grant_id).await.unwrap();
        let issued = issue(
            &state,
            &grant,
            redeemed.generation,
            "notes-prod",
            &redeemed.scopes,
            None,
        )
        .await;
        nothing_outlives_the_revocation(&live, "code replay during an exchange", issued).await;
        live.assert_nothing_secret_logged();
    })
    .await;
}
