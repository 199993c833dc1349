//! Zoom's pagination (api.md, "Pagination"): `page_size` and an opaque `next_page_token`.
//!
//! A list endpoint reads its page with a keyset query (`WHERE (created_at, id) > (…) ORDER BY …
//! LIMIT page_size + 1`), so pages stay stable while objects are added or removed. The token
//! carries that keyset position — a short list of [`KeyPart`]s the endpoint defines — and is
//!
//! - **tamper-proof**: a keyed MAC (purpose `page-token`, [`Keys::mac`]) covers every byte;
//! - **bound** to the account, the endpoint and the filters it came from ([`Binding`]). The binding
//!   is not written into the token, only into the MAC input, so a token presented with another
//!   account, endpoint or filter value simply fails the MAC check. `page_size` is not bound: it
//!   may change between pages;
//! - **short-lived**: refused 15 minutes after it was issued, by the injected clock (Zoom's rule);
//! - **URL-safe and short**: `base64url(payload ‖ mac[..16])`, no padding, no separator. The
//!   payload is a compact binary encoding (a version byte, the issue time in seconds, the keyset
//!   parts); a 128-bit MAC is ample for a value that lives 15 minutes.
//!
//! Every refusal is the same 400, code 300 (`Invalid next_page_token`); the field error says
//! whether the token expired, so a client knows to start again from the first page.

use std::collections::BTreeMap;

use accord_core::clock::Timestamp;
use accord_store::secrets::Keys;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::errors::{ApiError, VALIDATION_CODE};

/// `page_size` when the request gives none.
pub const DEFAULT_PAGE_SIZE: u32 = 30;
/// Larger `page_size` values are treated as this one.
pub const MAX_PAGE_SIZE: u32 = 300;
/// A token is refused this long after it was issued (Zoom's 15 minutes).
pub const TOKEN_LIFETIME_SECONDS: i64 = 15 * 60;
/// The MAC purpose of page tokens, so no other signed value is ever accepted as one.
const PURPOSE: &str = "page-token";
/// The first byte of every payload; a new layout gets a new version instead of a misreading.
const FORMAT_VERSION: u8 = 1;
/// Bytes of the HMAC-SHA256 tag kept in the token.
const MAC_BYTES: usize = 16;
/// Nodes' clocks may differ a little: a token issued slightly "in the future" is accepted.
const ALLOWED_SKEW_SECONDS: i64 = 60;
/// Longer presented tokens are refused before any decoding work.
const MAX_TOKEN_CHARS: usize = 1024;
const TAG_INT: u8 = 0;
const TAG_TEXT: u8 = 1;

/// One component of a keyset position, e.g. a creation time or an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPart {
    Int(i64),
    Text(String),
}

impl KeyPart {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            KeyPart::Int(value) => Some(*value),
            KeyPart::Text(_) => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            KeyPart::Text(value) => Some(value),
            KeyPart::Int(_) => None,
        }
    }
}

impl From<i64> for KeyPart {
    fn from(value: i64) -> Self {
        KeyPart::Int(value)
    }
}

impl From<String> for KeyPart {
    fn from(value: String) -> Self {
        KeyPart::Text(value)
    }
}

impl From<&str> for KeyPart {
    fn from(value: &str) -> Self {
        KeyPart::Text(value.to_owned())
    }
}

/// Where the next page starts: the sort key of the last item of the previous page.
pub type Position = Vec<KeyPart>;

/// What a token is bound to: the account, the endpoint (its stable name, e.g. `users.list`) and
/// the filters of the request. Filters are compared by name and value, in any order; an absent
/// filter should simply not be added, so "absent" and "empty" stay different.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    account: String,
    endpoint: String,
    filters: BTreeMap<String, String>,
}

impl Binding {
    pub fn new(account: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Binding {
            account: account.into(),
            endpoint: endpoint.into(),
            filters: BTreeMap::new(),
        }
    }

    /// Binds one filter of the request (`status=active`, `from=…`).
    pub fn filter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.filters.insert(name.into(), value.into());
        self
    }

    /// An unambiguous encoding (every field length-prefixed) for the MAC input.
    fn encode_into(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.account.as_bytes());
        put_bytes(out, self.endpoint.as_bytes());
        put_varint(out, self.filters.len() as u64);
        for (name, value) in &self.filters {
            put_bytes(out, name.as_bytes());
            put_bytes(out, value.as_bytes());
        }
    }
}

/// Why a presented `next_page_token` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    /// Changed, not made by this deployment, or made for another account, endpoint or filters.
    #[error("The next_page_token is not valid for this request.")]
    Invalid,
    /// Older than 15 minutes.
    #[error("The next_page_token has expired; request the first page again.")]
    Expired,
}

impl From<PageTokenError> for ApiError {
    fn from(error: PageTokenError) -> Self {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            VALIDATION_CODE,
            "Invalid next_page_token",
        )
        .with_field_error("next_page_token", error.to_string())
    }
}

/// Makes and opens page tokens.
pub struct PageToken;

impl PageToken {
    /// The token for the page starting after `position`, issued `now`.
    pub fn encode(keys: &Keys, binding: &Binding, position: &[KeyPart], now: Timestamp) -> String {
        let mut payload = vec![FORMAT_VERSION];
        put_varint(&mut payload, u64::try_from(now.seconds()).unwrap_or(0));
        for part in position {
            match part {
                KeyPart::Int(value) => {
                    payload.push(TAG_INT);
                    put_varint(&mut payload, zigzag(*value));
                }
                KeyPart::Text(value) => {
                    payload.push(TAG_TEXT);
                    put_bytes(&mut payload, value.as_bytes());
                }
            }
        }
        let tag = mac(keys, binding, &payload);
        payload.extend_from_slice(&tag[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// The position a token carries, if it is intact, made for `binding`, and not expired at `now`.
    pub fn decode(
        keys: &Keys,
        binding: &Binding,
        token: &str,
        now: Timestamp,
    ) -> Result<Position, PageTokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(PageTokenError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| PageTokenError::Invalid)?;
        let split = bytes
            .len()
            .checked_sub(MAC_BYTES)
            .ok_or(PageTokenError::Invalid)?;
        let (payload, presented) = bytes.split_at(split);
        let expected = mac(keys, binding, payload);
        if !bool::from(expected[..MAC_BYTES].ct_eq(presented)) {
            return Err(PageTokenError::Invalid);
        }
        let mut reader = Reader(payload);
        if reader.byte()? != FORMAT_VERSION {
            return Err(PageTokenError::Invalid);
        }
        let issued = i64::try_from(reader.varint()?).map_err(|_| PageTokenError::Invalid)?;
        let age = now.seconds().saturating_sub(issued);
        if age > TOKEN_LIFETIME_SECONDS {
            return Err(PageTokenError::Expired);
        }
        if age < -ALLOWED_SKEW_SECONDS {
            return Err(PageTokenError::Invalid);
        }
        let mut position = Vec::new();
        while !reader.0.is_empty() {
            let part = match reader.byte()? {
                TAG_INT => KeyPart::Int(unzigzag(reader.varint()?)),
                TAG_TEXT => KeyPart::Text(
                    String::from_utf8(reader.bytes()?.to_vec())
                        .map_err(|_| PageTokenError::Invalid)?,
                ),
                _ => return Err(PageTokenError::Invalid),
            };
            position.push(part);
        }
        Ok(position)
    }
}

fn mac(keys: &Keys, binding: &Binding, payload: &[u8]) -> [u8; 32] {
    let mut data = Vec::with_capacity(64 + payload.len());
    binding.encode_into(&mut data);
    data.extend_from_slice(payload);
    keys.mac(PURPOSE, &data)
}

/// The paging parameters of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// Between 1 and [`MAX_PAGE_SIZE`].
    pub page_size: u32,
    /// The presented token; `None` for the first page (an empty value counts as absent).
    pub next_page_token: Option<String>,
}

impl Default for PageQuery {
    fn default() -> Self {
        PageQuery {
            page_size: DEFAULT_PAGE_SIZE,
            next_page_token: None,
        }
    }
}

impl PageQuery {
    /// Reads `page_size` and `next_page_token` from a raw query string (other parameters are
    /// ignored; of a repeated parameter the first counts).
    pub fn from_query(query: Option<&str>) -> Result<Self, ApiError> {
        let mut page_size = None;
        let mut token = None;
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "page_size" if page_size.is_none() => page_size = Some(value.into_owned()),
                "next_page_token" if token.is_none() => token = Some(value.into_owned()),
                _ => {}
            }
        }
        Self::parse(page_size.as_deref(), token.as_deref())
    }

    /// Validates the two parameters: `page_size` absent or empty → 30, above 300 → 300, below 1
    /// or not a whole number → 400, code 300.
    pub fn parse(page_size: Option<&str>, next_page_token: Option<&str>) -> Result<Self, ApiError> {
        let page_size = match page_size.map(str::trim) {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(text) => parse_page_size(text)?,
        };
        let next_page_token = next_page_token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(PageQuery {
            page_size,
            next_page_token,
        })
    }

    /// Rows to read: one more than a page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> u32 {
        self.page_size + 1
    }

    /// The position to continue from: `None` for the first page.
    pub fn position(
        &self,
        keys: &Keys,
        binding: &Binding,
        now: Timestamp,
    ) -> Result<Option<Position>, PageTokenError> {
        self.next_page_token
            .as_deref()
            .map(|token| PageToken::decode(keys, binding, token, now))
            .transpose()
    }
}

fn parse_page_size(text: &str) -> Result<u32, ApiError> {
    let invalid = || {
        ApiError::validation(
            "page_size",
            format!("page_size must be a whole number from 1 to {MAX_PAGE_SIZE}."),
        )
    };
    let digits = text.strip_prefix('+').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // A positive number, however long: 0 is refused, anything above 300 is 300.
        let value = digits.trim_start_matches('0');
        if value.is_empty() {
            return Err(invalid());
        }
        return Ok(value
            .parse::<u32>()
            .map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE)));
    }
    Err(invalid())
}

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        PageQuery::from_query(parts.uri.query())
    }
}

/// Keeps the first `page_size` of `rows` (read with [`PageQuery::fetch_limit`]) and, when more
/// follow, the position of the last row kept.
pub fn split_page<T>(
    mut rows: Vec<T>,
    page_size: u32,
    position_of: impl Fn(&T) -> Position,
) -> (Vec<T>, Option<Position>) {
    let page_size = page_size as usize;
    if rows.len() <= page_size {
        return (rows, None);
    }
    rows.truncate(page_size);
    let next = rows.last().map(position_of);
    (rows, next)
}

/// The paging fields of a list response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PageFields {
    pub page_size: u32,
    pub total_records: u64,
    /// Pass it back as `next_page_token` for the next page; `""` on the last page.
    pub next_page_token: String,
}

impl PageFields {
    /// The fields for a page of `page_size` items out of `total_records`, continuing at `next`.
    pub fn new(
        keys: &Keys,
        binding: &Binding,
        page_size: u32,
        total_records: u64,
        next: Option<&[KeyPart]>,
        now: Timestamp,
    ) -> Self {
        PageFields {
            page_size,
            total_records,
            next_page_token: next
                .map(|position| PageToken::encode(keys, binding, position, now))
                .unwrap_or_default(),
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Reads a payload; any truncation or overlong number is [`PageTokenError::Invalid`]. (Only
/// payloads with a valid MAC get here, but reading never trusts them to be well formed.)
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, PageTokenError> {
        let (&first, rest) = self.0.split_first().ok_or(PageTokenError::Invalid)?;
        self.0 = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u64, PageTokenError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f)
                .checked_shl(shift)
                .ok_or(PageTokenError::Invalid)?;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(PageTokenError::Invalid)
    }

    fn bytes(&mut self) -> Result<&'a [u8], PageTokenError> {
        let len = usize::try_from(self.varint()?).map_err(|_| PageTokenError::Invalid)?;
        if len > self.0.len() {
            return Err(PageTokenError::Invalid);
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use accord_core::clock::{Clock, ManualClock};
    use accord_store::secrets::{MasterKey, PasswordCost};
    use axum::http::StatusCode;

    use super::*;

    fn keys() -> Keys {
        Keys::new(&MasterKey::generate(), PasswordCost::TESTING).unwrap()
    }

    fn binding() -> Binding {
        Binding::new("acct-1", "users.list").filter("status", "active")
    }

    fn position() -> Position {
        vec![
            KeyPart::Int(1_795_867_200_123),
            KeyPart::from("k2Jd9_fQx-3sWvT0aZb1Cg"),
        ]
    }

    const T0: Timestamp = Timestamp(1_795_867_200_000);

    #[test]
    fn a_token_round_trips_its_position() {
        let keys = keys();
        let token = PageToken::encode(&keys, &binding(), &position(), T0);
        assert_eq!(
            PageToken::decode(&keys, &binding(), &token, T0),
            Ok(position())
        );
        let odd = vec![
            KeyPart::Int(i64::MIN),
            KeyPart::Int(-1),
            KeyPart::Int(i64::MAX),
            KeyPart::from(""),
            KeyPart::from("émoji ✓ & spaces"),
        ];
        let token = PageToken::encode(&keys, &binding(), &odd, T0);
        assert_eq!(PageToken::decode(&keys, &binding(), &token, T0), Ok(odd));
        let empty = PageToken::encode(&keys, &binding(), &[], T0);
        assert_eq!(
            PageToken::decode(&keys, &binding(), &empty, T0),
            Ok(Vec::new())
        );
    }

    #[test]
    fn tokens_are_url_safe_and_short() {
        let token = PageToken::encode(&keys(), &binding(), &position(), T0);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
        // version 1 + time 5 + int 1+6 + text 1+1+22 + mac 16 = 53 bytes → 71 characters.
        assert_eq!(token.len(), 71, "{token}");
    }

    #[test]
    fn changing_any_character_of_a_token_is_refused() {
        let keys = keys();
        let token = PageToken::encode(&keys, &binding(), &position(), T0);
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (index, original) in token.char_indices() {
            for replacement in alphabet.chars().filter(|&c| c != original) {
                let mut changed = token.clone();
                changed.replace_range(index..index + 1, replacement.encode_utf8(&mut [0; 4]));
                assert_eq!(
                    PageToken::decode(&keys, &binding(), &changed, T0),
                    Err(PageTokenError::Invalid),
                    "position {index}: {changed}"
                );
            }
        }
        for broken in [
            "",
            "x",
            &token[..token.len() - 1],
            &format!("{token}A"),
            &token.replace('_', "/"),
        ] {
            if broken != token {
                assert_eq!(
                    PageToken::decode(&keys, &binding(), broken, T0),
                    Err(PageTokenError::Invalid),
                    "{broken}"
                );
            }
        }
        assert_eq!(
            PageToken::decode(&keys, &binding(), &"A".repeat(5000), T0),
            Err(PageTokenError::Invalid)
        );
    }

    #[test]
    fn a_token_from_another_deployment_is_refused() {
        let token = PageToken::encode(&keys(), &binding(), &position(), T0);
        assert_eq!(
            PageToken::decode(&keys(), &binding(), &token, T0),
            Err(PageTokenError::Invalid)
        );
    }

    #[test]
    fn a_token_used_with_another_account_endpoint_or_filters_is_refused() {
        let keys = keys();
        let token = PageToken::encode(&keys, &binding(), &position(), T0);
        let others = [
            Binding::new("acct-2", "users.list").filter("status", "active"),
            Binding::new("acct-1", "roles.list").filter("status", "active"),
            Binding::new("acct-1", "users.list").filter("status", "inactive"),
            Binding::new("acct-1", "users.list"),
            Binding::new("acct-1", "users.list")
                .filter("status", "active")
                .filter("role_id", "2"),
            Binding::new("acct-1", "users.list").filter("status", ""),
            // Length prefixes keep shifted boundaries apart.
            Binding::new("acct-1u", "sers.list").filter("status", "active"),
        ];
        for other in &others {
            assert_eq!(
                PageToken::decode(&keys, other, &token, T0),
                Err(PageTokenError::Invalid),
                "{other:?}"
            );
        }
        // The order in which filters are bound does not matter.
        let both = |first: (&str, &str), second: (&str, &str)| {
            Binding::new("acct-1", "users.list")
                .filter(first.0, first.1)
                .filter(second.0, second.1)
        };
        let token = PageToken::encode(
            &keys,
            &both(("status", "active"), ("role_id", "2")),
            &position(),
            T0,
        );
        assert_eq!(
            PageToken::decode(
                &keys,
                &both(("role_id", "2"), ("status", "active")),
                &token,
                T0
            ),
            Ok(position())
        );
    }

    #[test]
    fn a_token_expires_after_fifteen_minutes() {
        let keys = keys();
        let clock = ManualClock::new(T0);
        let token = PageToken::encode(&keys, &binding(), &position(), clock.now());
        clock.advance_seconds(TOKEN_LIFETIME_SECONDS);
        assert_eq!(
            PageToken::decode(&keys, &binding(), &token, clock.now()),
            Ok(position())
        );
        clock.advance_seconds(1);
        assert_eq!(
            PageToken::decode(&keys, &binding(), &token, clock.now()),
            Err(PageTokenError::Expired)
        );
        // Issued by a node whose clock runs far ahead: not accepted either.
        assert_eq!(
            PageToken::decode(&keys, &binding(), &token, T0.plus_seconds(-3600)),
            Err(PageTokenError::Invalid)
        );
    }

    #[test]
    fn a_refused_token_is_a_400_with_code_300() {
        for error in [PageTokenError::Invalid, PageTokenError::Expired] {
            let api = ApiError::from(error);
            assert_eq!(api.status, StatusCode::BAD_REQUEST);
            let body = serde_json::to_value(&api).unwrap();
            assert_eq!(body["code"], 300);
            assert_eq!(body["message"], "Invalid next_page_token");
            assert_eq!(body["errors"][0]["field"], "next_page_token");
        }
    }

    fn page_size_of(query: &str) -> Result<u32, ApiError> {
        PageQuery::from_query(Some(query)).map(|q| q.page_size)
    }

    #[test]
    fn page_size_defaults_to_30_and_is_capped_at_300() {
        assert_eq!(PageQuery::from_query(None).unwrap(), PageQuery::default());
        assert_eq!(page_size_of("").unwrap(), 30);
        assert_eq!(page_size_of("page_size=").unwrap(), 30);
        assert_eq!(page_size_of("status=active").unwrap(), 30);
        assert_eq!(page_size_of("page_size=1").unwrap(), 1);
        assert_eq!(page_size_of("page_size=300").unwrap(), 300);
        assert_eq!(page_size_of("page_size=301").unwrap(), 300);
        assert_eq!(page_size_of("page_size=007").unwrap(), 7);
        assert_eq!(page_size_of("page_size=%2B5").unwrap(), 5);
        assert_eq!(
            page_size_of("page_size=99999999999999999999999").unwrap(),
            300
        );
        assert_eq!(page_size_of("page_size=50&page_size=abc").unwrap(), 50);
    }

    #[test]
    fn page_size_below_one_or_not_a_number_is_a_validation_error() {
        for bad in [
            "0", "000", "-1", "-300", "abc", "1.5", "3e2", "%2B", "30abc", "%20",
        ] {
            // "%20" decodes to a space, which trims to empty: that one is the default.
            let result = page_size_of(&format!("page_size={bad}"));
            if bad == "%20" {
                assert_eq!(result.unwrap(), 30);
                continue;
            }
            let error = result.expect_err(bad);
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert_eq!(error.code, 300);
            assert_eq!(error.errors.len(), 1, "{bad}");
            assert_eq!(error.errors[0].field, "page_size");
        }
    }

    #[test]
    fn an_empty_next_page_token_means_the_first_page() {
        let keys = keys();
        let query = PageQuery::from_query(Some("next_page_token=&page_size=10")).unwrap();
        assert_eq!(query.next_page_token, None);
        assert_eq!(query.position(&keys, &binding(), T0), Ok(None));

        let token = PageToken::encode(&keys, &binding(), &position(), T0);
        let query = PageQuery::from_query(Some(&format!("next_page_token={token}"))).unwrap();
        assert_eq!(query.position(&keys, &binding(), T0), Ok(Some(position())));
    }

    #[test]
    fn split_page_keeps_a_page_and_the_position_after_it() {
        let rows: Vec<i64> = (1..=11).collect();
        let (page, next) = split_page(rows, 10, |row| vec![KeyPart::Int(*row)]);
        assert_eq!(page, (1..=10).collect::<Vec<_>>());
        assert_eq!(next, Some(vec![KeyPart::Int(10)]));

        let (page, next) = split_page(vec![1_i64, 2], 10, |row| vec![KeyPart::Int(*row)]);
        assert_eq!(page, vec![1, 2]);
        assert_eq!(next, None);
    }

    #[test]
    fn response_fields_carry_an_empty_token_on_the_last_page() {
        let keys = keys();
        let last = PageFields::new(&keys, &binding(), 30, 2, None, T0);
        #[derive(Serialize)]
        struct Listing {
            #[serde(flatten)]
            page: PageFields,
            users: Vec<serde_json::Value>,
        }
        let body = serde_json::to_value(Listing {
            page: last,
            users: vec![serde_json::json!({"id": "a"})],
        })
        .unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "page_size": 30,
                "total_records": 2,
                "next_page_token": "",
                "users": [{"id": "a"}],
            })
        );
        let more = PageFields::new(&keys, &binding(), 1, 2, Some(&position()), T0);
        assert_eq!(
            PageToken::decode(&keys, &binding(), &more.next_page_token, T0),
            Ok(position())
        );
    }
}
