//! Webhooks (webhooks.md): the events, their envelope, the signatures a receiver checks, and who
//! receives an event about an object — decided by the same permission rule the API uses.
//!
//! Everything here is pure: the store writes the envelope into the outbox in the transaction of the
//! change, the server's delivery worker signs and sends it.
//!
//! Signatures, all HMAC-SHA256 keyed with the UTF-8 bytes of the app's secret token:
//! - Zoom's: `x-zm-signature: v0=hex(HMAC(v0:{timestamp}:{body}))` with `x-zm-request-timestamp`
//!   in Unix seconds ([`zoom_signature`]);
//! - Standard Webhooks: `webhook-signature: v1,base64(HMAC({id}.{timestamp}.{body}))`
//!   ([`standard_signature`]); libraries that want a `whsec_` key take `whsec_` + base64(token);
//! - URL validation: `encryptedToken = hex(HMAC(plainToken))` ([`url_validation_answer`]);
//! - `app_deauthorized`'s inner `signature`: hex(HMAC(`{account_id}:{user_id}:{client_id}:{time}`))
//!   ([`deauthorization_signature`]).

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::endpoints::{self, Endpoint};
use crate::grants::{GrantKind, GrantStatus};
use crate::ids::{AccountId, UserId, hex};
use crate::permission::{self, ActingUser, GrantFacts, Request, Target, TokenCheck, TokenFacts};
use crate::privileges::PrivilegeSet;
use crate::scopes::Scope;
use crate::users::UserStatus;

/// The events an app's endpoint may subscribe to (webhooks.md), plus URL validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Event {
    #[serde(rename = "app_deauthorized")]
    AppDeauthorized,
    #[serde(rename = "meeting.created")]
    MeetingCreated,
    #[serde(rename = "meeting.updated")]
    MeetingUpdated,
    #[serde(rename = "meeting.deleted")]
    MeetingDeleted,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
}

impl Event {
    /// Every event an endpoint may subscribe to, in webhooks.md's order.
    pub const ALL: [Event; 8] = [
        Event::AppDeauthorized,
        Event::MeetingCreated,
        Event::MeetingUpdated,
        Event::MeetingDeleted,
        Event::UserCreated,
        Event::UserUpdated,
        Event::UserDeactivated,
        Event::UserDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::AppDeauthorized => "app_deauthorized",
            Event::MeetingCreated => "meeting.created",
            Event::MeetingUpdated => "meeting.updated",
            Event::MeetingDeleted => "meeting.deleted",
            Event::UserCreated => "user.created",
            Event::UserUpdated => "user.updated",
            Event::UserDeactivated => "user.deactivated",
            Event::UserDeleted => "user.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|event| event.as_str() == name)
    }

    /// The API call whose permission decides who receives an event about an object: reading it.
    /// `None` for `app_deauthorized`, which goes to the app whose grant ended.
    pub fn read_endpoint(self) -> Option<&'static Endpoint> {
        let name = match self {
            Event::AppDeauthorized => return None,
            Event::MeetingCreated | Event::MeetingUpdated | Event::MeetingDeleted => "meetings.get",
            Event::UserCreated
            | Event::UserUpdated
            | Event::UserDeactivated
            | Event::UserDeleted => "users.get",
        };
        endpoints::by_name(name)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event name of a URL validation request (never stored in the outbox).
pub const URL_VALIDATION: &str = "endpoint.url_validation";

/// The envelope, compact (Zoom's SDK re-serialises the body to check the signature, so no
/// whitespace may differ): `{"event":…,"event_ts":<ms>,"payload":{…}}`.
pub fn envelope(event: &str, event_ts: Timestamp, payload: &serde_json::Value) -> String {
    #[derive(Serialize)]
    struct Envelope<'a> {
        event: &'a str,
        event_ts: i64,
        payload: &'a serde_json::Value,
    }
    serde_json::to_string(&Envelope {
        event,
        event_ts: event_ts.millis(),
        payload,
    })
    .unwrap_or_default()
}

/// The payload of `app_deauthorized` (webhooks.md), its inner signature included.
#[derive(Debug, Clone)]
pub struct Deauthorization<'a> {
    pub account_id: &'a str,
    /// The user whose authorization ended; for an installation, the user who removed it, or the
    /// installer when the system removed it.
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub at: Timestamp,
}

impl Deauthorization<'_> {
    pub fn payload(&self, secret_token: &str) -> serde_json::Value {
        let time = self.at.rfc3339();
        serde_json::json!({
            "account_id": self.account_id,
            "user_id": self.user_id,
            "client_id": self.client_id,
            "deauthorization_time": time,
            "user_data_retention": "false",
            "signature": deauthorization_signature(
                secret_token, self.account_id, self.user_id, self.client_id, &time,
            ),
        })
    }
}

fn hmac(secret_token: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_token.as_bytes())
        .expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Zoom's `x-zm-signature` value for a body sent at `timestamp` (Unix seconds).
pub fn zoom_signature(secret_token: &str, timestamp: i64, body: &str) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac(
        secret_token,
        &[b"v0:", timestamp.as_bytes(), b":", body.as_bytes()],
    );
    format!("v0={}", hex(&mac))
}

/// The Standard Webhooks `webhook-signature` value (`v1,<base64>`).
pub fn standard_signature(secret_token: &str, id: &str, timestamp: i64, body: &str) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac(
        secret_token,
        &[
            id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            body.as_bytes(),
        ],
    );
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// The key a Standard Webhooks library takes for this secret token: `whsec_` + base64(token).
pub fn standard_key(secret_token: &str) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(secret_token.as_bytes())
    )
}

/// The `encryptedToken` an endpoint must answer a URL validation with.
pub fn url_validation_answer(secret_token: &str, plain_token: &str) -> String {
    hex(&hmac(secret_token, &[plain_token.as_bytes()]))
}

/// `app_deauthorized`'s inner `signature`.
pub fn deauthorization_signature(
    secret_token: &str,
    account_id: &str,
    user_id: &str,
    client_id: &str,
    deauthorization_time: &str,
) -> String {
    let message = format!("{account_id}:{user_id}:{client_id}:{deauthorization_time}");
    hex(&hmac(secret_token, &[message.as_bytes()]))
}

/// What the rule needs to know about one active grant that might receive an event.
#[derive(Debug, Clone)]
pub struct Recipient<'a> {
    pub kind: GrantKind,
    pub account: &'a AccountId,
    pub scopes: &'a [Scope],
    /// The acting user (`me`), as [`permission::resolve_me`] finds it.
    pub me: &'a UserId,
    /// For authorization grants: the user's privileges now and whose assistant they are.
    pub acting_user: Option<(PrivilegeSet, &'a [UserId])>,
}

/// Whether the grant could read the object the event is about through the API right now — the
/// permission rule's own answer for `GET /meetings/{id}` or `GET /users/{id}`, with a valid
/// token of the grant's current generation. `owner` is the user the object belongs to (the
/// meeting's host, or the user itself); `account` the object's account.
pub fn may_receive(
    event: Event,
    recipient: &Recipient<'_>,
    object_id: &str,
    account: &AccountId,
    owner: &UserId,
) -> bool {
    let Some(endpoint) = event.read_endpoint() else {
        return false;
    };
    let request = Request {
        token: TokenFacts {
            check: TokenCheck::Valid,
            grant: Some(GrantFacts {
                kind: recipient.kind,
                status: GrantStatus::Active,
                token_generation: 1,
                current_generation: 1,
                account: recipient.account,
                scopes: recipient.scopes,
                me: recipient.me,
            }),
        },
        endpoint,
        target: Target::owned_by(object_id, account, owner),
        acting_user: recipient
            .acting_user
            .map(|(privileges, assistant_of)| ActingUser {
                privileges,
                assistant_of,
            }),
        violation: None,
        guarded_change: None,
    };
    permission::decide(&request).is_ok()
}

/// Who made a change, as an event's payload names them (`operator`, `operator_id`).
///
/// A user acting (signed in, or through a user app's token) is that user. An app acting with its
/// own token (an installation or a server app) is named by the user it acts as — its installer
/// while still in the account, else the account owner — as Zoom names a server-to-server app's
/// calls after a user. A change by the operator (command line, seed file) is named by the account
/// owner: the payload always carries an email and an id, as Zoom's does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub email: String,
    pub id: String,
}

/// The payload of a `meeting.*` or `user.*` event (webhooks.md). `object` is the object as the
/// API shows it; for an update, `previous` is how it was before, and the payload carries, as
/// Zoom's does, only what changed: `object` the new values and `old_object` the old ones (both
/// with the object's identity: `id`, and `uuid` for a meeting), plus `time_stamp` (ms).
pub fn object_payload(
    account_id: &str,
    operator: &Operator,
    object: &serde_json::Value,
    previous: Option<&serde_json::Value>,
    at: Timestamp,
) -> serde_json::Value {
    let mut payload = serde_json::Map::new();
    payload.insert("account_id".into(), account_id.into());
    payload.insert("operator".into(), operator.email.as_str().into());
    payload.insert("operator_id".into(), operator.id.as_str().into());
    match previous {
        Some(previous) => {
            let (new, old) = changes(previous, object);
            payload.insert("object".into(), new);
            payload.insert("old_object".into(), old);
            payload.insert("time_stamp".into(), at.millis().into());
        }
        None => {
            payload.insert("object".into(), object.clone());
        }
    }
    serde_json::Value::Object(payload)
}

/// The fields that name an object in an update's `object` and `old_object` even when unchanged.
const IDENTITY: [&str; 2] = ["id", "uuid"];

/// What changed between two renderings of an object: (new values, old values), each keeping the
/// identity fields. Nested objects (a meeting's `settings`) are compared field by field and carry
/// only their changed fields; anything else changed is carried whole. A field present on one
/// side only is carried on that side.
pub fn changes(
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    use serde_json::{Map, Value};
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return (after.clone(), before.clone());
    };
    let mut new = Map::new();
    let mut old = Map::new();
    for key in IDENTITY {
        if let Some(value) = after.get(key).or_else(|| before.get(key)) {
            new.insert(key.into(), value.clone());
            old.insert(key.into(), before.get(key).unwrap_or(value).clone());
        }
    }
    let keys = after
        .keys()
        .chain(before.keys().filter(|k| !after.contains_key(*k)));
    for key in keys {
        if IDENTITY.contains(&key.as_str()) {
            continue;
        }
        match (before.get(key), after.get(key)) {
            (Some(b), Some(a)) if a == b => {}
            (Some(b @ Value::Object(_)), Some(a @ Value::Object(_))) => {
                let (a, b) = nested_changes(b, a);
                new.insert(key.clone(), a);
                old.insert(key.clone(), b);
            }
            (b, a) => {
                if let Some(a) = a {
                    new.insert(key.clone(), a.clone());
                }
                if let Some(b) = b {
                    old.insert(key.clone(), b.clone());
                }
            }
        }
    }
    (Value::Object(new), Value::Object(old))
}

/// [`changes`] of a nested object: only the fields that differ, no identity.
fn nested_changes(
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    use serde_json::{Map, Value};
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return (after.clone(), before.clone());
    };
    let mut new = Map::new();
    let mut old = Map::new();
    for (key, a) in after {
        match before.get(key) {
            Some(b) if b == a => {}
            Some(b) => {
                new.insert(key.clone(), a.clone());
                old.insert(key.clone(), b.clone());
            }
            None => {
                new.insert(key.clone(), a.clone());
            }
        }
    }
    for (key, b) in before {
        if !after.contains_key(key) {
            old.insert(key.clone(), b.clone());
        }
    }
    (Value::Object(new), Value::Object(old))
}

/// The event a change of a user raises: leaving `active` for `inactive` is `user.deactivated`,
/// any other change `user.updated`.
pub fn user_change_event(before: UserStatus, after: UserStatus) -> Event {
    if before != UserStatus::Inactive && after == UserStatus::Inactive {
        Event::UserDeactivated
    } else {
        Event::UserUpdated
    }
}

/// When a failed delivery is tried again: the delay after each failed attempt, in seconds. After
/// the last one fails the event is marked failed. Zoom's schedule (webhooks.md) is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    pub delays: Vec<i64>,
}

impl Default for RetrySchedule {
    /// 5 minutes, then 20, then 60: four attempts in all.
    fn default() -> Self {
        RetrySchedule {
            delays: vec![300, 1200, 3600],
        }
    }
}

impl RetrySchedule {
    /// The delay before the next attempt after `attempts` failed ones, or `None` when none is left.
    pub fn delay_after(&self, attempts: usize) -> Option<i64> {
        attempts
            .checked_sub(1)
            .and_then(|i| self.delays.get(i))
            .copied()
    }

    /// How many attempts an event gets in all.
    pub fn attempts(&self) -> usize {
        self.delays.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_match_the_subscribable_list() {
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
        }
        let names: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names, crate::apps::WEBHOOK_EVENTS);
    }

    #[test]
    fn the_envelope_is_compact_json() {
        let body = envelope(
            "meeting.created",
            Timestamp(1_700_000_000_123),
            &serde_json::json!({"account_id": "a", "object": {"id": 1}}),
        );
        assert_eq!(
            body,
            r#"{"event":"meeting.created","event_ts":1700000000123,"payload":{"account_id":"a","object":{"id":1}}}"#
        );
    }

    #[test]
    fn signatures_match_values_computed_with_pythons_hmac_module() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'secret', b'v0:1700000000:{}', hashlib.sha256).hexdigest())"
        assert_eq!(
            zoom_signature("secret", 1_700_000_000, "{}"),
            "v0=84dd7b277ba946b3a34369b43499bfd9258b410b8894583f1288b1911aa6a6d6"
        );
        assert_eq!(
            standard_signature("secret", "msg_1", 1, "{}"),
            "v1,kW+83cjD04uWm7Qber/sPiCRVJ9ljbsrg8ALKAx2qMc="
        );
        assert_eq!(
            url_validation_answer("secret", "plain"),
            "a237566e044b73e6a1e54bd59974547487fa5f8143025ce0d04d82e7ee4c5e34"
        );
        assert_eq!(
            deauthorization_signature("secret", "acc", "usr", "cid", "2026-01-01T00:00:00Z"),
            "5617fa68a659acb447d934d69967c6597b455785e921a88df251e828d60a6899"
        );
        assert_eq!(standard_key("secret"), "whsec_c2VjcmV0");
    }

    #[test]
    fn the_default_schedule_is_zooms_four_attempts() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 4);
        assert_eq!(schedule.delay_after(1), Some(300));
        assert_eq!(schedule.delay_after(3), Some(3600));
        assert_eq!(schedule.delay_after(4), None);
    }

    #[test]
    fn an_update_carries_only_what_changed_with_the_identity_on_both_sides() {
        let before = serde_json::json!({"uuid": "u1", "id": 7, "topic": "Old", "duration": 30,
            "settings": {"host_video": false, "waiting_room": true}});
        let after = serde_json::json!({"uuid": "u1", "id": 7, "topic": "New", "duration": 30,
            "settings": {"host_video": true, "waiting_room": true}, "agenda": "x"});
        let (new, old) = changes(&before, &after);
        assert_eq!(
            new,
            serde_json::json!({"uuid": "u1", "id": 7, "topic": "New",
                "settings": {"host_video": true}, "agenda": "x"})
        );
        assert_eq!(
            old,
            serde_json::json!({"uuid": "u1", "id": 7, "topic": "Old",
                "settings": {"host_video": false}})
        );
    }

    #[test]
    fn object_payloads_name_the_operator_and_updates_add_old_object_and_time_stamp() {
        let operator = Operator {
            email: "ann@acme.test".into(),
            id: "ann".into(),
        };
        let object = serde_json::json!({"id": "bob", "first_name": "Bob"});
        let created = object_payload("acme", &operator, &object, None, Timestamp(5));
        assert_eq!(
            created,
            serde_json::json!({"account_id": "acme", "operator": "ann@acme.test",
                "operator_id": "ann", "object": object})
        );
        let before = serde_json::json!({"id": "bob", "first_name": "Robert"});
        let updated = object_payload("acme", &operator, &object, Some(&before), Timestamp(5));
        assert_eq!(
            updated["old_object"],
            serde_json::json!({"id": "bob", "first_name": "Robert"})
        );
        assert_eq!(updated["time_stamp"], 5);
    }

    #[test]
    fn leaving_active_for_inactive_is_a_deactivation_and_nothing_else_is() {
        use UserStatus::*;
        assert_eq!(user_change_event(Active, Inactive), Event::UserDeactivated);
        assert_eq!(user_change_event(Pending, Inactive), Event::UserDeactivated);
        assert_eq!(user_change_event(Inactive, Active), Event::UserUpdated);
        assert_eq!(user_change_event(Active, Active), Event::UserUpdated);
    }
}
