//! Signing-key reloads: a token naming a `kid` this node does not hold makes it read the keys again
//! (another node may have rotated), at most once a second; a bad signature under a known `kid` is
//! simply refused. Every reload decrypts every key, so forged tokens must not be able to ask for one
//! per request.

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

#[tokio::test]
async fn a_key_rotated_by_another_node_is_learned_within_a_second_even_under_forged_kids() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let token = server_token(&live).await;
        let ring = live.server.state.keys();
        // A forged kid just made this node read its keys: the throttle is armed.
        all_refused(&live, vec![with_kid(&token, "forged")]).await;

        // Another node rotates to a key that signs at once, and issues a token with it.
        let store = &live.db.store;
        let new_kid = keys::rotate(store, 0).await.unwrap();
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
        assert_eq!(me(&live, &rotated).await.0, StatusCode::OK);
        assert_eq!(ring.reloads(), before + 1);
        assert_eq!(me(&live, &rotated).await.0, StatusCode::OK);
        assert_eq!(ring.reloads(), before + 1, "known from now on");
    })
    .await;
}
