//! State a page carries through a form and gets back unchanged: serialised as JSON with the time
//! it was issued, MAC-signed with a purpose of its own, and refused once tampered with or older
//! than its lifetime. The time comes from the store's injected clock.
//!
//! Wire form: `base64url(json) "." base64url(mac(purpose, base64url(json)))`.

use accord_core::clock::Timestamp;
use accord_store::secrets::Keys;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why signed state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    #[error("the form state is missing")]
    Missing,
    #[error("the form state was changed or is not from this server")]
    Invalid,
    #[error("the form state expired")]
    Expired,
}

/// Clocks of several nodes may differ a little; state from slightly in the future is accepted.
const ALLOWED_SKEW_MILLIS: i64 = 60_000;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    /// Issued at, in milliseconds.
    iat: i64,
    v: T,
}

/// Signs `value` for `purpose`, issued `now`.
pub fn seal<T: Serialize>(keys: &Keys, purpose: &str, now: Timestamp, value: &T) -> String {
    let envelope = Envelope {
        iat: now.millis(),
        v: value,
    };
    // Serialising plain data (strings, numbers, options) to JSON cannot fail.
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let mac = URL_SAFE_NO_PAD.encode(keys.mac(purpose, payload.as_bytes()));
    format!("{payload}.{mac}")
}

/// Opens state sealed for `purpose`, if it is intact and at most `max_age_seconds` old at `now`.
pub fn open<T: DeserializeOwned>(
    keys: &Keys,
    purpose: &str,
    now: Timestamp,
    max_age_seconds: i64,
    sealed: Option<&str>,
) -> Result<T, SignedError> {
    let sealed = sealed.ok_or(SignedError::Missing)?;
    let (payload, mac) = sealed.split_once('.').ok_or(SignedError::Invalid)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| SignedError::Invalid)?;
    if !keys.mac_matches(purpose, payload.as_bytes(), &mac) {
        return Err(SignedError::Invalid);
    }
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| SignedError::Invalid)?;
    let envelope: Envelope<T> = serde_json::from_slice(&json).map_err(|_| SignedError::Invalid)?;
    let age = now.millis() - envelope.iat;
    if age > max_age_seconds * 1000 {
        return Err(SignedError::Expired);
    }
    if age < -ALLOWED_SKEW_MILLIS {
        return Err(SignedError::Invalid);
    }
    Ok(envelope.v)
}

#[cfg(test)]
mod tests {
    use accord_store::secrets::{MasterKey, PasswordCost};

    use super::*;

    fn keys() -> Keys {
        Keys::new(&MasterKey::generate(), PasswordCost::TESTING).unwrap()
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Flow {
        client_id: String,
        state: Option<String>,
    }

    fn flow() -> Flow {
        Flow {
            client_id: "notes".into(),
            state: Some("xyz".into()),
        }
    }

    #[test]
    fn sealed_state_opens_until_it_expires() {
        let keys = keys();
        let t0 = Timestamp(1_000_000);
        let sealed = seal(&keys, "flow", t0, &flow());
        let open_at = |at: Timestamp| open::<Flow>(&keys, "flow", at, 600, Some(&sealed));
        assert_eq!(open_at(t0), Ok(flow()));
        assert_eq!(open_at(t0.plus_seconds(600)), Ok(flow()));
        assert_eq!(open_at(t0.plus_seconds(601)), Err(SignedError::Expired));
        assert_eq!(open_at(t0.plus_seconds(-3600)), Err(SignedError::Invalid));
    }

    #[test]
    fn tampered_foreign_or_missing_state_is_refused() {
        let keys = keys();
        let now = Timestamp(1_000_000);
        let sealed = seal(&keys, "flow", now, &flow());
        let opens = |text: &str, keys: &Keys, purpose: &str| {
            open::<Flow>(keys, purpose, now, 600, Some(text))
        };
        assert_eq!(opens(&sealed, &keys, "csrf"), Err(SignedError::Invalid));
        assert_eq!(
            opens(&sealed, &super::tests::keys(), "flow"),
            Err(SignedError::Invalid)
        );
        let (payload, mac) = sealed.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({"iat": now.millis(), "v": {"client_id": "evil", "state": null}}))
                .unwrap(),
        );
        assert_eq!(
            opens(&format!("{forged}.{mac}"), &keys, "flow"),
            Err(SignedError::Invalid)
        );
        assert_eq!(opens(payload, &keys, "flow"), Err(SignedError::Invalid));
        assert_eq!(opens("", &keys, "flow"), Err(SignedError::Invalid));
        assert_eq!(
            open::<Flow>(&keys, "flow", now, 600, None),
            Err(SignedError::Missing)
        );
    }
}
