//! Ed25519 signing keys in memory: the ring every node loads from the database. The newest key
//! whose `signs_from` has come signs; every key still published is accepted for verification.
//!
//! A token naming a `kid` the ring does not hold makes the node read the keys again (another node
//! may have rotated) — but a reload decrypts every key, and the `kid` is whatever the sender wrote,
//! before any rate limit could know whose token it is. So [`KeyRing::learn`] reloads only for a
//! `kid` not in the ring, and at most once per [`UNKNOWN_KID_RELOAD_MILLIS`] per node (by the
//! store's clock); a bad signature under a known `kid` is simply refused. A flood of forged `kid`s
//! thus costs one reload a second, and a genuinely new key is still learned within a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use accord_core::clock::Timestamp;
use accord_store::signing_keys::{KeyInfo, key_state, key_states};
use accord_store::{Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One key, ready to sign and verify.
pub struct LoadedKey {
    pub kid: String,
    pub signing: SigningKey,
    pub verifying: VerifyingKey,
    pub signs_from: Timestamp,
    /// The JWT header of the tokens it signs, encoded once ([`super::jwt::encoded_header`]).
    pub header: String,
}

pub struct KeyRing {
    keys: RwLock<Vec<Arc<LoadedKey>>>,
    stored: RwLock<Vec<accord_store::signing_keys::StoredKey>>,
    token_ttl_seconds: i64,
    /// How many times the ring was read from the store (each decrypts every key).
    reloads: AtomicU64,
    /// When the last reload for an unknown `kid` started; held while it runs, so concurrent
    /// requests naming new kids wait for that one reload instead of starting their own.
    last_unknown_kid_reload: tokio::sync::Mutex<Option<Timestamp>>,
}

/// At most one reload for an unknown `kid` per this many milliseconds, per node.
pub const UNKNOWN_KID_RELOAD_MILLIS: i64 = 1000;

/// The RFC 7638 thumbprint of an Ed25519 public key: the `kid`.
pub fn thumbprint(public: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Makes a new key pair and stores it; it signs from `signs_from`.
pub async fn create_key(store: &Store, signs_from: Timestamp) -> Result<String, StoreError> {
    let seed = zeroize::Zeroizing::new(accord_store::secrets::random_bytes::<32>());
    let signing = SigningKey::from_bytes(&seed);
    let public = signing.verifying_key().to_bytes();
    let kid = thumbprint(&public);
    store
        .add_signing_key(&kid, &public, seed.as_slice(), signs_from)
        .await?;
    Ok(kid)
}

/// Announces a new key now; it starts signing after `delay_seconds` (so verifiers can fetch it first).
pub async fn rotate(store: &Store, delay_seconds: i64) -> Result<String, StoreError> {
    create_key(store, store.now().plus_seconds(delay_seconds)).await
}

fn load_key(stored: &accord_store::signing_keys::StoredKey) -> Result<Arc<LoadedKey>, StoreError> {
    let seed: [u8; 32] =
        stored.private_key.as_slice().try_into().map_err(|_| {
            StoreError::Corrupt(format!("signing key {} has a bad length", stored.kid))
        })?;
    let signing = SigningKey::from_bytes(&seed);
    Ok(Arc::new(LoadedKey {
        kid: stored.kid.clone(),
        verifying: signing.verifying_key(),
        signing,
        signs_from: stored.signs_from,
        header: super::jwt::encoded_header(&stored.kid),
    }))
}

impl KeyRing {
    /// Loads every key; creates the first one (signing at once) if there is none.
    pub async fn load(store: &Store, token_ttl_seconds: i64) -> Result<KeyRing, StoreError> {
        if store.signing_keys().await?.is_empty() {
            create_key(store, store.now()).await?;
        }
        let ring = KeyRing {
            keys: RwLock::new(Vec::new()),
            stored: RwLock::new(Vec::new()),
            token_ttl_seconds,
            reloads: AtomicU64::new(0),
            last_unknown_kid_reload: tokio::sync::Mutex::new(None),
        };
        ring.reload(store).await?;
        Ok(ring)
    }

    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        let stored = store.signing_keys().await?;
        let loaded = stored.iter().map(load_key).collect::<Result<Vec<_>, _>>()?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        *self.stored.write().unwrap_or_else(|e| e.into_inner()) = stored;
        Ok(())
    }

    /// Whether a key with this `kid` is in the ring (in any state).
    pub fn holds(&self, kid: &str) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|k| k.kid == kid)
    }

    /// For a token whose signature did not verify: when its `kid` is not in the ring, reads the
    /// keys again — unless that was done less than [`UNKNOWN_KID_RELOAD_MILLIS`] ago — and answers
    /// whether the `kid` is in the ring now (then the token is worth verifying again). A `kid`
    /// already held answers `false` at once: the signature is simply bad.
    pub async fn learn(&self, store: &Store, kid: &str) -> Result<bool, StoreError> {
        if self.holds(kid) {
            return Ok(false);
        }
        let mut last = self.last_unknown_kid_reload.lock().await;
        // A reload another request ran while this one waited may have brought it.
        if self.holds(kid) {
            return Ok(true);
        }
        let now = store.now();
        let recent = last.is_some_and(|at| {
            (0..UNKNOWN_KID_RELOAD_MILLIS).contains(&(now.millis() - at.millis()))
        });
        if recent {
            return Ok(false);
        }
        // Counted even if it fails: a database outage must not turn into a reload per request.
        *last = Some(now);
        self.reload(store).await?;
        Ok(self.holds(kid))
    }

    /// How many times the ring was read from the store, the first load included.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// The key that signs at `now`.
    pub fn signing_key(&self, now: Timestamp) -> Option<Arc<LoadedKey>> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .rev()
            .find(|k| k.signs_from <= now)
            .or(keys.first())
            .cloned()
    }

    /// The state of every key at `now`.
    pub fn states(&self, now: Timestamp) -> Vec<KeyInfo> {
        key_states(
            &self.stored.read().unwrap_or_else(|e| e.into_inner()),
            now,
            self.token_ttl_seconds,
        )
    }

    /// A published key by `kid` (announced, signing or retired; not expired).
    pub fn verifying_key(&self, kid: &str, now: Timestamp) -> Option<VerifyingKey> {
        let stored = self.stored.read().unwrap_or_else(|e| e.into_inner());
        let i = stored.iter().position(|k| k.kid == kid)?;
        if key_state(&stored, i, now, self.token_ttl_seconds) == "expired" {
            return None;
        }
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.verifying)
    }

    /// The JWKS document: every published key.
    pub fn jwks(&self, now: Timestamp) -> Value {
        let states = self.states(now);
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let published: Vec<Value> = keys
            .iter()
            .filter(|k| states.iter().any(|s| s.kid == k.kid && s.state != "expired"))
            .map(|k| json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(k.verifying.to_bytes()), "kid": k.kid, "use": "sig", "alg": "EdDSA"}))
            .collect();
        json!({"keys": published})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_is_the_rfc7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
