//! Signing keys at rest: public halves in the clear, private halves encrypted under the master
//! key. Which key signs, and which are published, is derived from `signs_from` alone: the newest
//! key whose time has come signs; a key stays published until the key after it has signed for
//! longer than a token lives.

use accord_core::clock::Timestamp;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::{Store, rows};

/// A signing key as stored (the private half decrypted, in memory only).
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub private_key: Zeroizing<Vec<u8>>,
    pub created_at: Timestamp,
    pub signs_from: Timestamp,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("signs_from", &self.signs_from)
            .finish_non_exhaustive()
    }
}

/// A key's state at some moment, for `accord keys list`.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: Timestamp,
    pub signs_from: Timestamp,
    /// `announced` (published, not signing yet), `signing`, `retired` (published until its tokens
    /// expire) or `expired` (no longer published).
    pub state: &'static str,
}

/// Classifies every key at `now`; keys must be sorted by `signs_from`.
pub fn key_states(keys: &[StoredKey], now: Timestamp, token_ttl_seconds: i64) -> Vec<KeyInfo> {
    keys.iter()
        .enumerate()
        .map(|(i, key)| KeyInfo {
            kid: key.kid.clone(),
            created_at: key.created_at,
            signs_from: key.signs_from,
            state: key_state(keys, i, now, token_ttl_seconds),
        })
        .collect()
}

/// The state of `keys[i]` at `now` (see [`KeyInfo::state`]); keys must be sorted by `signs_from`.
pub fn key_state(
    keys: &[StoredKey],
    i: usize,
    now: Timestamp,
    token_ttl_seconds: i64,
) -> &'static str {
    let signing = keys.iter().rposition(|k| k.signs_from <= now);
    match signing {
        _ if keys[i].signs_from > now => "announced",
        Some(s) if s == i => "signing",
        _ => {
            // Superseded when the next key started signing.
            let superseded = keys.get(i + 1).map(|next| next.signs_from).unwrap_or(now);
            if superseded.plus_seconds(token_ttl_seconds + 60) > now {
                "retired"
            } else {
                "expired"
            }
        }
    }
}

impl Store {
    /// Every signing key, oldest first, with private halves decrypted.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>> {
        let found = sqlx::query("SELECT kid, public_key, private_key, created_at, signs_from FROM signing_keys ORDER BY signs_from, created_at")
            .fetch_all(self.pool())
            .await?;
        found
            .iter()
            .map(|row| {
                use sqlx::Row;
                let sealed: Vec<u8> = row.try_get("private_key")?;
                Ok(StoredKey {
                    kid: rows::text(row, "kid")?,
                    public_key: row.try_get("public_key")?,
                    private_key: self
                        .keys()
                        .decrypt(&sealed)
                        .map_err(|e| StoreError::Corrupt(format!("signing key: {e}")))?,
                    created_at: rows::time(row, "created_at")?,
                    signs_from: rows::time(row, "signs_from")?,
                })
            })
            .collect()
    }

    /// Stores a new key pair that signs from `signs_from`, and tells every node through the access
    /// view's change feed (a `keys` row in `view_changes` and `NOTIFY accord_view`, in the same
    /// transaction), so running servers publish it without a restart.
    pub async fn add_signing_key(
        &self,
        kid: &str,
        public_key: &[u8],
        private_key: &[u8],
        signs_from: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO signing_keys (kid, public_key, private_key, created_at, signs_from) VALUES ($1, $2, $3, $4, $5)")
            .bind(kid)
            .bind(public_key)
            .bind(self.keys().encrypt(private_key))
            .bind(self.now().millis())
            .bind(signs_from.millis())
            .execute(&mut *tx)
            .await?;
        crate::view::announce_key_change(&mut tx, kid).await?;
        self.commit(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, signs_from: i64) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            public_key: vec![],
            private_key: Zeroizing::new(vec![]),
            created_at: Timestamp(0),
            signs_from: Timestamp(signs_from),
        }
    }

    #[test]
    fn keys_are_announced_then_sign_then_retire_then_expire() {
        let keys = [key("a", 0), key("b", 600_000)];
        let states = |now| {
            key_states(&keys, Timestamp(now), 3600)
                .into_iter()
                .map(|k| k.state)
                .collect::<Vec<_>>()
        };
        assert_eq!(states(1_000), ["signing", "announced"]);
        assert_eq!(states(600_000), ["retired", "signing"]);
        assert_eq!(states(600_000 + 3_600_000), ["retired", "signing"]);
        assert_eq!(states(600_000 + 3_661_000), ["expired", "signing"]);
    }
}
