//! Access tokens: RFC 9068 JWTs (`typ: at+jwt`) signed with EdDSA (Ed25519), `kid` in the header.
//! Verification accepts exactly that algorithm — nothing in the token chooses how it is checked.

use accord_core::clock::Timestamp;
use accord_core::permission::TokenCheck;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;

/// The claims of an access token (oauth.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The acting user's id, or `app:<client_id>` for a server grant.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    /// The account.
    pub aid: String,
    /// The acting user, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The grant and its generation.
    pub gid: String,
    pub r#gen: i64,
    /// Space-separated scopes.
    pub scope: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

fn encode_json<T: Serialize>(value: &T) -> String {
    // Plain structs of strings and integers: serialising cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// The encoded JWT header of tokens signed by the key `kid` (made once per key).
pub fn encoded_header(kid: &str) -> String {
    encode_json(&Header {
        alg: "EdDSA".into(),
        typ: "at+jwt".into(),
        kid: kid.to_owned(),
    })
}

/// Signs claims with the key that signs now.
pub fn sign(ring: &KeyRing, claims: &AccessClaims, now: Timestamp) -> Option<String> {
    let key = ring.signing_key(now)?;
    // Plain structs of strings and integers: serialising cannot fail.
    let payload = serde_json::to_vec(claims).ok()?;
    // header.payload, signed, then .signature: one string, sized once (86 = an Ed25519
    // signature's 64 bytes in unpadded base64).
    let mut token = String::with_capacity(key.header.len() + payload.len() * 4 / 3 + 4 + 1 + 86);
    token.push_str(&key.header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature: Signature = key.signing.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    Some(token)
}

/// The claims of a token WITHOUT verifying anything: only to learn which issuer and audience to
/// verify it against in `accord explain`, which then verifies it fully.
pub fn unverified_claims(token: &str) -> Option<AccessClaims> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// Reads the `kid` of a token without verifying anything (to decide whether to reload keys).
pub fn kid_of(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    Some(header.kid)
}

/// Verifies a token: shape, header (`EdDSA`, `at+jwt`, a published `kid`), signature, issuer,
/// audience, and time. Grant status and generation are checked by the caller.
pub fn verify(
    ring: &KeyRing,
    token: &str,
    now: Timestamp,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, TokenCheck> {
    let claims = verify_ignoring_time(ring, token, now, issuer, audience)?;
    let now_s = now.seconds();
    if claims.exp <= now_s {
        return Err(TokenCheck::Expired);
    }
    // A little leeway for the clocks of several nodes.
    if claims.nbf > now_s + 60 {
        return Err(TokenCheck::Malformed);
    }
    Ok(claims)
}

/// Which checks [`verify_learning`] runs: [`verify`] or [`verify_ignoring_time`].
pub type Check = fn(&KeyRing, &str, Timestamp, &str, &str) -> Result<AccessClaims, TokenCheck>;

/// `check` on a token, and when its signature fails under a `kid` this node does not hold, once
/// more after [`KeyRing::learn`] (another node may have rotated and the change feed not arrived
/// yet; throttled there). Every endpoint that reads access tokens — the API's gate, introspection,
/// revocation — verifies through here, so all honour every published key alike.
pub async fn verify_learning(
    ring: &KeyRing,
    store: &accord_store::Store,
    check: Check,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Result<AccessClaims, TokenCheck>, accord_store::StoreError> {
    let now = store.now();
    let verified = check(ring, token, now, issuer, audience);
    if verified == Err(TokenCheck::BadSignature)
        && let Some(kid) = kid_of(token)
        && ring.learn(store, &kid).await?
    {
        return Ok(check(ring, token, now, issuer, audience));
    }
    Ok(verified)
}

/// Everything [`verify`] checks but expiry: for revoking an expired token's grant.
pub fn verify_ignoring_time(
    ring: &KeyRing,
    token: &str,
    now: Timestamp,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, TokenCheck> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenCheck::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenCheck::Malformed)
    };
    let parsed: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| TokenCheck::Malformed)?;
    if parsed.alg != "EdDSA" || !parsed.typ.eq_ignore_ascii_case("at+jwt") {
        return Err(TokenCheck::Malformed);
    }
    let key = ring
        .verifying_key(&parsed.kid, now)
        .ok_or(TokenCheck::BadSignature)?;
    let signature =
        Signature::from_slice(&decode(signature)?).map_err(|_| TokenCheck::Malformed)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    key.verify_strict(signing_input.as_bytes(), &signature)
        .map_err(|_| TokenCheck::BadSignature)?;
    let claims: AccessClaims =
        serde_json::from_slice(&decode(payload)?).map_err(|_| TokenCheck::Malformed)?;
    if claims.iss != issuer || claims.aud != audience {
        return Err(TokenCheck::BadSignature);
    }
    Ok(claims)
}
