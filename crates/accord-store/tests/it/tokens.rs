//! Refresh rotation racing the revocation of its family or grant: whatever order the database
//! picks, a revoked family or grant keeps no live refresh token and no honoured generation.

use accord_core::grants::GrantKind;
use accord_core::ids::Secret;
use accord_store::Store;
use accord_store::audit::Actor;
use accord_store::grants::{Grant, GrantRequest};
use accord_store::tokens::{CodeUse, NewCode, RefreshRefusal, Rotation};
use accord_testkit::on_every_backend;

const SEED: &str = r#"{
  "accounts": [{"id": "acme", "name": "Acme", "users": [
    {"id": "acme-olive", "email": "olive@acme.test", "password": "olive-password-1", "role": "owner"},
    {"id": "acme-ann", "email": "ann@acme.test", "password": "ann-password-1", "role": "member"}]}],
  "apps": [{"id": "notes", "name": "Notes", "kind": "user", "developer": "olive@acme.test", "status": "published",
            "scopes": ["user:read"],
            "credentials": {"production": {"client_id": "notes-prod", "client_secret": "notes-prod-secret-0123456789",
                                            "redirect_uris": ["http://127.0.0.1:9/cb"]}}}]
}"#;

/// Trials per race: enough for both orders and the interleavings between them to occur.
const TRIALS: usize = 200;

/// No grace window: presenting a rotated-out token is reuse at once.
const NO_GRACE: Rotation = Rotation {
    refresh_ttl_seconds: 3600,
    grace_seconds: 0,
};

async fn seeded(store: &Store) {
    let seed = accord_store::seed::parse("tokens.json", SEED).expect("the seed parses");
    accord_store::seed::apply(store, "tokens.json", &seed)
        .await
        .expect("the seed applies");
}

/// Ann (re-)authorizes Notes and its client redeems the code: the grant (at its new generation)
/// and the first refresh token of a new family.
async fn new_family(store: &Store) -> (Grant, Secret) {
    let scopes = store.app("notes").await.unwrap().required_scopes;
    let grant = store
        .upsert_grant(
            &Actor::User("acme-ann".into()),
            GrantRequest {
                kind: GrantKind::Authorization,
                app_id: "notes",
                account_id: "acme",
                user_id: Some("acme-ann"),
                created_by: Some("acme-ann"),
                scopes: &scopes,
            },
        )
        .await
        .unwrap();
    let code = store
        .create_code(NewCode {
            grant_id: &grant.id,
            generation: grant.generation,
            client_id: "notes-prod",
            user_id: "acme-ann",
            redirect_uri: "http://127.0.0.1:9/cb",
            redirect_uri_given: false,
            code_challenge: None,
            code_challenge_method: None,
            scopes: &scopes,
        })
        .await
        .unwrap();
    let CodeUse::Fresh(redeemed) = store.take_code(code.expose()).await.unwrap() else {
        panic!("a fresh code");
    };
    let (refresh, _) = store
        .start_refresh_family(&redeemed, NO_GRACE.refresh_ttl_seconds)
        .await
        .unwrap()
        .expect("the grant honours a fresh code");
    (grant, refresh)
}

/// Refresh tokens of this grant and generation that are not revoked.
async fn live_refresh_tokens(store: &Store, grant: &Grant) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM refresh_tokens WHERE grant_id = $1 AND generation = $2 AND revoked_at IS NULL",
    )
    .bind(&grant.id)
    .bind(grant.generation)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_racing_reuse_detection_leaves_no_live_token_in_the_family() {
    on_every_backend(|db| async move {
        let store = &db.store;
        seeded(store).await;
        for trial in 0..TRIALS {
            let (grant, first) = new_family(store).await;
            let second = store
                .rotate_refresh(&first, "notes-prod", NO_GRACE)
                .await
                .unwrap()
                .expect("the first rotation")
                .refresh_token;
            // The holder of `second` refreshes while a thief replays the spent `first`.
            let (holder, thief) = (store.clone(), store.clone());
            let rotation = tokio::spawn(async move {
                holder.rotate_refresh(&second, "notes-prod", NO_GRACE).await
            });
            let reuse = tokio::spawn(async move {
                thief.rotate_refresh(&first, "notes-prod", NO_GRACE).await
            });
            let (rotation, reuse) = (rotation.await.unwrap(), reuse.await.unwrap());
            assert_eq!(
                reuse.unwrap().err(),
                Some(RefreshRefusal::Reused),
                "trial {trial}"
            );
            assert_eq!(
                live_refresh_tokens(store, &grant).await,
                0,
                "{:?} trial {trial}: a refresh token of the revoked family is still live",
                db.backend
            );
            if let Ok(rotated) = rotation.unwrap() {
                assert!(
                    !store
                        .grant_honours(&rotated.grant.id, rotated.generation)
                        .await
                        .unwrap(),
                    "{:?} trial {trial}: the grant still honours the generation the rotation issued for",
                    db.backend
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_racing_grant_revocation_leaves_no_live_token_of_the_grant() {
    on_every_backend(|db| async move {
        let store = &db.store;
        seeded(store).await;
        for trial in 0..TRIALS {
            let (grant, first) = new_family(store).await;
            let (holder, admin) = (store.clone(), store.clone());
            let rotation =
                tokio::spawn(
                    async move { holder.rotate_refresh(&first, "notes-prod", NO_GRACE).await },
                );
            let grant_id = grant.id.clone();
            let revocation = tokio::spawn(async move {
                admin
                    .revoke_grant(&Actor::cli(), &grant_id, "removed by an admin")
                    .await
            });
            let (rotation, revocation) = (rotation.await.unwrap(), revocation.await.unwrap());
            assert!(revocation.unwrap().is_some(), "trial {trial}");
            assert_eq!(
                live_refresh_tokens(store, &grant).await,
                0,
                "{:?} trial {trial}: a refresh token of the revoked grant is still live",
                db.backend
            );
            if let Ok(rotated) = rotation.unwrap() {
                assert!(
                    !store
                        .grant_honours(&rotated.grant.id, rotated.generation)
                        .await
                        .unwrap(),
                    "{:?} trial {trial}",
                    db.backend
                );
            }
        }
    })
    .await;
}
