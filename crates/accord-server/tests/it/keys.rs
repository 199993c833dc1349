//! Signing keys on running nodes: a rotation by any process reaches this one through the access
//! view's change feed (published at once, signing after its delay, gone after its grace), and a
//! token naming a `kid` this node does not hold yet makes it read the keys again, at most once a
//! second; a bad signature under a known `kid` is simply refused. Every reload decrypts every key,
//! so forged tokens must not be able to ask for one per request.

use accord_server::oauth::{jwt, keys};
use accord_server::{AppState, ServerConfig};
use accord_testkit::on_every_backend;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;

use crate::live::Live;
use crate::tokens::{me, post, start, str_of};

async fn server_token(live: &Live) -> String {
    let (status, _, body) = post(
        live,
        "/oauth/token",
        Some(("backend-prod", "backend-prod-secret-0123456789")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    live.secret(str_of(&body, "access_token"))
}

/// The token with its signature's first byte changed: the `kid` is the node's own.
fn with_forged_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    bytes[0] ^= 0x01;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The token with its header's `kid` replaced (so its signature no longer matches either).
fn with_kid(token: &str, kid: &str) -> String {
    let mut parts = token.splitn(2, '.');
    let (header, rest) = (parts.next().unwrap(), parts.next().unwrap());
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"] = Value::from(kid);
    format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
    )
}

/// Sends every token to `GET /v2/users/me` at once and checks each is refused.
async fn all_refused(live: &Live, tokens: Vec<String>) {
    let mut requests = tokio::task::JoinSet::new();
    for token in tokens {
        let (http, url) = (live.http.clone(), format!("{}/v2/users/me", live.url));
        requests.spawn(async move {
            let response = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            response.status()
        });
    }
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.expect("a request task"), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn forged_tokens_reload_the_keys_only_for_an_unknown_kid_and_at_most_once_a_second() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let token = server_token(&live).await;
        let ring = live.server.state.keys();
        let before = ring.reloads();

        let forged = with_forged_signature(&token);
        all_refused(&live, vec![forged; 100]).await;
        assert_eq!(
            ring.reloads(),
            before,
            "a bad signature under a known kid is refused without reading the keys"
        );

        let unknown =
            |from: usize| (from..from + 100).map(|i| with_kid(&token, &format!("kid-{i}")));
        all_refused(&live, unknown(0).collect()).await;
        assert_eq!(
            ring.reloads(),
            before + 1,
            "one reload for 100 unknown kids"
        );
        live.db.clock.advance_seconds(1);
        all_refused(&live, unknown(100).collect()).await;
        assert_eq!(ring.reloads(), before + 2, "the next one a second later");

        assert_eq!(me(&live, &token).await.0, StatusCode::OK);
        live.assert_nothing_secret_logged();
    })
    .await;
}

/// Stores a key that signs at once WITHOUT the change feed's row, as a node would see a key whose
/// notification has not arrived yet: only [`keys::KeyRing::learn`] can find it.
async fn key_unannounced(store: &accord_store::Store) -> String {
    let seed = accord_store::secrets::random_bytes::<32>();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let kid = keys::thumbprint(&public);
    sqlx::query("INSERT INTO signing_keys (kid, public_key, private_key, created_at, signs_from) VALUES ($1, $2, $3, $4, $4)")
        .bind(&kid)
        .bind(public.as_slice())
        .bind(store.keys().encrypt(&seed))
        .bind(store.now().millis())
        .execute(store.pool())
        .await
        .unwrap();
    kid
}

#[tokio::test]
async fn a_key_the_feed_has_not_brought_is_learned_within_a_second_even_under_forged_kids() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let token = server_token(&live).await;
        let ring = live.server.state.keys();
        // A forged kid just made this node read its keys: the throttle is armed.
        all_refused(&live, vec![with_kid(&token, "forged")]).await;

        // Another node holds a key this one has not heard of, and issues a token with it.
        let store = &live.db.store;
        let new_kid = key_unannounced(store).await;
        let other = AppState::new(store.clone(), ServerConfig::new(live.url.clone()))
            .await
            .unwrap();
        let claims = jwt::unverified_claims(&token).unwrap();
        let rotated = jwt::sign(other.keys(), &claims, store.now()).unwrap();
        assert_eq!(jwt::kid_of(&rotated).as_deref(), Some(new_kid.as_str()));
        live.secret(rotated.clone());

        let before = ring.reloads();
        assert_eq!(
            me(&live, &rotated).await.0,
            StatusCode::UNAUTHORIZED,
            "within the second after a reload, a new kid waits"
        );
        assert_eq!(ring.reloads(), before);
        live.db.clock.advance_seconds(1);
        // Introspection learns it as the API's gate does.
        let (status, _, body) = post(
            &live,
            "/oauth/introspect",
            Some(("backend-prod", "backend-prod-secret-0123456789")),
            &[("token", rotated.as_str())],
        )
        .await;
        assert_eq!(
            (status, &body["active"]),
            (StatusCode::OK, &Value::Bool(true)),
            "{body}"
        );
        assert_eq!(ring.reloads(), before + 1);
        assert_eq!(me(&live, &rotated).await.0, StatusCode::OK);
        assert_eq!(ring.reloads(), before + 1, "known from now on");
    })
    .await;
}

/// The kids `GET /oauth/jwks` publishes now.
async fn published(live: &Live) -> Vec<String> {
    let jwks: Value = live
        .http
        .get(format!("{}/oauth/jwks", live.url))
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JSON");
    jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_rotation_by_another_process_is_published_at_once_signs_after_its_delay_and_retires_after_its_grace()
 {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let old_token = server_token(&live).await;
        let old_kid = jwt::kid_of(&old_token).unwrap();
        let ring = live.server.state.keys();
        let before = ring.reloads();

        // `accord keys rotate` in another process: its own pool, its own view, the same database.
        let other = live.db.another_process().await;
        let new_kid = keys::rotate(&other, 600).await.unwrap();
        // The feed brings it (NOTIFY on PostgreSQL, the view's poll on SQLite); no request names
        // it. A deadline for failure only: the propagation bound is measured by the cluster suite.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !published(&live).await.contains(&new_kid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the running server never published the rotated key"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(published(&live).await, [old_kid.clone(), new_kid.clone()]);
        assert!(ring.reloads() > before, "read through the feed");

        // Announced, not signing: tokens are still signed with the old key until the delay passes.
        let still_old = server_token(&live).await;
        assert_eq!(jwt::kid_of(&still_old), Some(old_kid.clone()));
        live.db.clock.advance_seconds(600);
        let new_token = server_token(&live).await;
        assert_eq!(jwt::kid_of(&new_token), Some(new_kid.clone()));

        // Tokens of both published keys are honoured by the API, introspection and revocation.
        let backend = Some(("backend-prod", "backend-prod-secret-0123456789"));
        for token in [&old_token, &new_token] {
            assert_eq!(me(&live, token).await.0, StatusCode::OK);
            let (_, _, body) = post(&live, "/oauth/introspect", backend, &[("token", token)]).await;
            assert_eq!(body["active"], true, "{body}");
        }
        let (status, _, _) = post(&live, "/oauth/revoke", backend, &[("token", &old_token)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            me(&live, &new_token).await.0,
            StatusCode::UNAUTHORIZED,
            "revoking the retired key's token ended its grant"
        );

        // The retired key stays published while its tokens may live, then leaves.
        live.db.clock.advance_seconds(3600);
        assert_eq!(published(&live).await, [old_kid.clone(), new_kid.clone()]);
        live.db.clock.advance_seconds(61);
        assert_eq!(published(&live).await, [new_kid]);
        live.assert_nothing_secret_logged();
    })
    .await;
}
