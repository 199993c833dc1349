//! Throttles for guessed credentials: passwords at sign-in, per email and per client address
//! (console.md), and client secrets at `/oauth/token`, `/oauth/introspect` and `/oauth/revoke`, per
//! `client_id` and per address. One algorithm for both, in memory on each node, on the store's
//! clock.
//!
//! **Delays.** Each key (an email, a client id, an address) counts its failures. The first
//! `free_failures` cost nothing; the failure that uses the last of them closes the key for
//! `first_delay`, and each further failure doubles that, up to `max_delay` (short on purpose: a
//! throttle, not a lockout). While closed, attempts are refused at once (429 with `Retry-After`)
//! without looking at the credential, so they cost no hash and teach nothing. A key with no
//! failure for `forget_after` starts again from zero. A success clears an identity's count (only
//! the real holder can succeed), never an address's: one valid account must not launder the
//! guesses of the address it signs in from.
//!
//! **Bursts.** A key that has failed admits only as many attempts at once as it has free failures
//! left (one at a time once none are left), so parallel guesses cannot all slip in before the
//! first results arrive. A key that has never failed is not limited at all: a client that never
//! fails is never slowed, and the hot path of a valid client is one map lookup.
//!
//! **The real user.** Failing on an email or a client id every `max_delay` keeps it closed, for
//! anyone. So an (identity, address) pair that succeeded lately is *trusted*: it skips both
//! throttles until it fails once. The real user signing in from where they signed in before, or a
//! backend calling from its usual address, is never locked out by guesses from elsewhere; an
//! attacker sharing that address gets one guess before the pair loses its trust.
//!
//! **Bounds.** Each table holds at most `capacity` keys, stored as SHA-256 digests (a megabyte-long
//! client id costs 32 bytes, and no email is kept in clear). When a table is full, keys with
//! nothing left to remember go first, then the eighth that failed longest ago, so many addresses
//! can make an old key be forgotten early but never grow the memory. Counts are per node: N nodes
//! behind a balancer let through up to N times the guesses.
//!
//! The address is the connection's peer (`ConnectInfo`), IPv6 by its /64 (one host usually holds
//! a whole /64). Behind a reverse proxy every client has the proxy's address: trusted pairs keep
//! known users and clients working, but a guessing client then slows new ones too.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};

use accord_core::clock::Timestamp;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

/// How one table of keys counts and forgives failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures that cost nothing.
    pub free_failures: u32,
    /// How long the failure that uses the last free one closes the key.
    pub first_delay_ms: i64,
    /// The longest a key is ever closed after one failure.
    pub max_delay_ms: i64,
    /// A key with no failure for this long is forgotten.
    pub forget_after_ms: i64,
    /// The most keys remembered at once.
    pub capacity: usize,
    /// Whether a success clears the count (identities) or leaves it (addresses).
    pub success_clears: bool,
}

impl Policy {
    /// How long a key that has failed `failures` times stays closed after its last failure.
    pub fn delay_ms(&self, failures: u32) -> i64 {
        if failures < self.free_failures || failures == 0 {
            return 0;
        }
        let doublings = (failures - self.free_failures).min(40);
        self.first_delay_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay_ms)
    }
}

/// The two tables of one kind of credential, and how long a pair that succeeded stays trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialPolicy {
    /// Per email or client id.
    pub identity: Policy,
    /// Per client address: more free failures, as many people may share one address.
    pub address: Policy,
    pub trust_for_ms: i64,
    pub trusted_capacity: usize,
}

const SECOND_MS: i64 = 1000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

impl CredentialPolicy {
    /// Sign-in and client authentication alike: 5 free failures per identity and 20 per address,
    /// then 1 s doubling to at most 30 s; forgotten after 15 quiet minutes; a pair that succeeded
    /// is trusted for 7 days. Each table remembers at most 50,000 keys (a few MiB).
    pub const DEFAULT: CredentialPolicy = CredentialPolicy {
        identity: Policy {
            free_failures: 5,
            first_delay_ms: SECOND_MS,
            max_delay_ms: 30 * SECOND_MS,
            forget_after_ms: 15 * MINUTE_MS,
            capacity: 50_000,
            success_clears: true,
        },
        address: Policy {
            free_failures: 20,
            first_delay_ms: SECOND_MS,
            max_delay_ms: 30 * SECOND_MS,
            forget_after_ms: 15 * MINUTE_MS,
            capacity: 50_000,
            success_clears: false,
        },
        trust_for_ms: 7 * DAY_MS,
        trusted_capacity: 50_000,
    };
}

/// An attempt refused without being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// When to try again, in whole seconds (at least 1), for `Retry-After`.
    pub retry_after_seconds: u64,
}

impl Refusal {
    fn after_ms(ms: i64) -> Refusal {
        let seconds = (ms.max(1) + SECOND_MS - 1) / SECOND_MS;
        Refusal {
            retry_after_seconds: u64::try_from(seconds).unwrap_or(1),
        }
    }
}

/// "1 second", "30 seconds": for messages saying when to try again.
pub fn seconds_text(seconds: u64) -> String {
    match seconds {
        1 => "1 second".to_owned(),
        n => format!("{n} seconds"),
    }
}

/// Where an attempt comes from: the peer address of the connection, IPv6 by its /64 and
/// IPv4-mapped IPv6 as IPv4. Without connection info (in-process requests) every attempt shares
/// one unknown address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(Option<IpAddr>);

impl ClientAddress {
    pub fn of(peer: Option<SocketAddr>) -> ClientAddress {
        ClientAddress(peer.map(|peer| crate::connections::client_key(peer.ip())))
    }

    fn key_bytes(&self) -> Vec<u8> {
        match self.0 {
            Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
            Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
            None => Vec::new(),
        }
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(IpAddr::V6(v6)) => write!(f, "{v6}/64"),
            Some(v4) => write!(f, "{v4}"),
            None => f.write_str("unknown"),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress::from_extensions(&parts.extensions))
    }
}

impl ClientAddress {
    /// The address the server's `ConnectInfo` recorded for a request.
    pub fn from_extensions(extensions: &axum::http::Extensions) -> ClientAddress {
        ClientAddress::of(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| *peer),
        )
    }
}

/// A table key: a digest, so every key has the same small size.
type Key = [u8; 32];

fn key_of(parts: &[&[u8]]) -> Key {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest.finalize().into()
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Timestamp,
    /// Admitted attempts whose outcome is not known yet.
    in_flight: u32,
}

/// How an admitted attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    /// Neither: the check did not run (the server was too busy, or the client went away).
    Abandoned,
}

/// One table: failures per key.
struct Throttle {
    policy: Policy,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        // The map stays consistent even if a holder panicked: every change is one statement.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forgotten(&self, entry: &Entry, now: Timestamp) -> bool {
        now.millis().saturating_sub(entry.last_failure.millis()) >= self.policy.forget_after_ms
    }

    /// Admits an attempt, or refuses it. `Ok(true)` when the attempt is counted in flight (the key
    /// has a record), so its outcome must be settled with `tracked = true`.
    fn admit(&self, key: &Key, now: Timestamp) -> Result<bool, Refusal> {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key) else {
            return Ok(false);
        };
        if entry.failures > 0 && self.forgotten(entry, now) {
            entry.failures = 0;
        }
        if entry.failures == 0 && entry.in_flight == 0 {
            entries.remove(key);
            return Ok(false);
        }
        let closed_until = entry
            .last_failure
            .millis()
            .saturating_add(self.policy.delay_ms(entry.failures));
        if now.millis() < closed_until {
            return Err(Refusal::after_ms(closed_until - now.millis()));
        }
        let at_once = self.policy.free_failures.max(entry.failures + 1);
        if entry.failures > 0 && entry.failures + entry.in_flight >= at_once {
            // The outcome of an attempt in flight decides whether the next one may go.
            return Err(Refusal::after_ms(SECOND_MS));
        }
        entry.in_flight += 1;
        Ok(true)
    }

    fn settle(&self, key: &Key, tracked: bool, outcome: Outcome, now: Timestamp) {
        let mut entries = self.lock();
        if outcome == Outcome::Failed && !entries.contains_key(key) {
            make_room(
                &mut entries,
                self.policy.capacity,
                |entry| entry.in_flight > 0 || (entry.failures > 0 && !self.forgotten(entry, now)),
                |entry| entry.last_failure,
            );
            entries.insert(
                *key,
                Entry {
                    failures: 0,
                    last_failure: now,
                    in_flight: 0,
                },
            );
        }
        let Some(entry) = entries.get_mut(key) else {
            return;
        };
        if tracked {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
        match outcome {
            Outcome::Failed => {
                if self.forgotten(entry, now) {
                    entry.failures = 0;
                }
                entry.failures = entry.failures.saturating_add(1);
                entry.last_failure = entry.last_failure.max(now);
            }
            Outcome::Succeeded if self.policy.success_clears => entry.failures = 0,
            Outcome::Succeeded | Outcome::Abandoned => {}
        }
        if entry.failures == 0 && entry.in_flight == 0 {
            entries.remove(key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Makes room for one more key in a full table: drops what `keep` says is no longer worth
/// remembering, then, if still full, the eighth with the oldest `age`.
fn make_room<V>(
    map: &mut HashMap<Key, V>,
    capacity: usize,
    keep: impl Fn(&V) -> bool,
    age: impl Fn(&V) -> Timestamp,
) {
    if map.len() < capacity.max(1) {
        return;
    }
    map.retain(|_, value| keep(value));
    if map.len() < capacity.max(1) {
        return;
    }
    let evict = (capacity / 8).max(1);
    let mut ages: Vec<Timestamp> = map.values().map(&age).collect();
    let (_, cutoff, _) = ages.select_nth_unstable(evict - 1);
    let cutoff = *cutoff;
    let mut evicted = 0;
    map.retain(|_, value| {
        let old = evicted < evict && age(value) <= cutoff;
        evicted += usize::from(old);
        !old
    });
}

/// The throttle of one kind of credential (passwords by email, client secrets by client id): a
/// table per identity, a table per address, and the pairs that succeeded lately.
pub struct CredentialThrottle {
    identities: Throttle,
    addresses: Throttle,
    trust_for_ms: i64,
    trusted_capacity: usize,
    /// Pair key → when it last succeeded.
    trusted: Mutex<HashMap<Key, Timestamp>>,
}

impl CredentialThrottle {
    pub fn new(policy: CredentialPolicy) -> CredentialThrottle {
        CredentialThrottle {
            identities: Throttle::new(policy.identity),
            addresses: Throttle::new(policy.address),
            trust_for_ms: policy.trust_for_ms,
            trusted_capacity: policy.trusted_capacity,
            trusted: Mutex::new(HashMap::new()),
        }
    }

    fn trusted(&self) -> MutexGuard<'_, HashMap<Key, Timestamp>> {
        self.trusted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits one attempt to prove `identity` from `address`, or refuses it: the caller must then
    /// not check the credential. Settle the attempt with [`Attempt::failed`] or
    /// [`Attempt::succeeded`]; dropping it unsettled (the check never ran) counts as neither.
    pub fn admit(
        &self,
        identity: &str,
        address: &ClientAddress,
        now: Timestamp,
    ) -> Result<Attempt<'_>, Refusal> {
        let address_bytes = address.key_bytes();
        let identity_key = key_of(&[b"identity", identity.as_bytes()]);
        let address_key = key_of(&[b"address", &address_bytes]);
        let pair_key = key_of(&[b"pair", identity.as_bytes(), &address_bytes]);
        let mut attempt = Attempt {
            throttle: self,
            identity_key,
            address_key,
            pair_key,
            identity_tracked: false,
            address_tracked: false,
            settled: false,
        };
        let trusted = self
            .trusted()
            .get(&pair_key)
            .is_some_and(|at| now.millis().saturating_sub(at.millis()) < self.trust_for_ms);
        if trusted {
            return Ok(attempt);
        }
        attempt.address_tracked = self.addresses.admit(&address_key, now)?;
        // On refusal here, dropping `attempt` releases the address's admission.
        attempt.identity_tracked = self.identities.admit(&identity_key, now)?;
        Ok(attempt)
    }
}

/// An admitted attempt, to be settled once the credential was checked.
#[must_use = "settle the attempt with failed() or succeeded()"]
pub struct Attempt<'a> {
    throttle: &'a CredentialThrottle,
    identity_key: Key,
    address_key: Key,
    pair_key: Key,
    identity_tracked: bool,
    address_tracked: bool,
    settled: bool,
}

impl Attempt<'_> {
    /// The credential was wrong: counts against the identity and the address, and the pair is no
    /// longer trusted.
    pub fn failed(mut self, now: Timestamp) {
        self.throttle.trusted().remove(&self.pair_key);
        self.settle(Outcome::Failed, now);
    }

    /// The credential was right: clears the identity's failures and trusts the pair.
    pub fn succeeded(mut self, now: Timestamp) {
        {
            let mut trusted = self.throttle.trusted();
            if !trusted.contains_key(&self.pair_key) {
                let trust_for_ms = self.throttle.trust_for_ms;
                make_room(
                    &mut trusted,
                    self.throttle.trusted_capacity,
                    |at| now.millis().saturating_sub(at.millis()) < trust_for_ms,
                    |at| *at,
                );
            }
            trusted.insert(self.pair_key, now);
        }
        self.settle(Outcome::Succeeded, now);
    }

    fn settle(&mut self, outcome: Outcome, now: Timestamp) {
        self.settled = true;
        let throttle = self.throttle;
        throttle
            .identities
            .settle(&self.identity_key, self.identity_tracked, outcome, now);
        throttle
            .addresses
            .settle(&self.address_key, self.address_tracked, outcome, now);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            // The time is only read for failures; an abandoned attempt records none.
            self.settle(Outcome::Abandoned, Timestamp(0));
        }
    }
}

/// The throttles of a node: one per kind of credential.
pub struct Throttles {
    /// Passwords at `POST /oauth/authorize/sign-in`, by email.
    pub sign_in: CredentialThrottle,
    /// Client secrets (and public client ids) at the token, introspection and revocation
    /// endpoints, by client id.
    pub client_authentication: CredentialThrottle,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            sign_in: CredentialThrottle::new(CredentialPolicy::DEFAULT),
            client_authentication: CredentialThrottle::new(CredentialPolicy::DEFAULT),
        }
    }
}

#[cfg(test)]
mod tests {
    use accord_core::clock::{Clock, ManualClock};

    use super::*;

    const ANN: &str = "ann@acme.test";

    fn address(text: &str) -> ClientAddress {
        ClientAddress::of(Some(SocketAddr::new(text.parse().unwrap(), 4242)))
    }

    fn throttle() -> (CredentialThrottle, ManualClock) {
        (
            CredentialThrottle::new(CredentialPolicy::DEFAULT),
            ManualClock::new(Timestamp(1_000_000)),
        )
    }

    fn fail(throttle: &CredentialThrottle, clock: &ManualClock, identity: &str, from: &str) {
        throttle
            .admit(identity, &address(from), clock.now())
            .expect("admitted")
            .failed(clock.now());
    }

    fn refusal(
        throttle: &CredentialThrottle,
        clock: &ManualClock,
        identity: &str,
        from: &str,
    ) -> Option<u64> {
        throttle
            .admit(identity, &address(from), clock.now())
            .err()
            .map(|refusal| refusal.retry_after_seconds)
    }

    #[test]
    fn delays_start_after_the_free_failures_double_and_stop_at_the_cap() {
        let policy = CredentialPolicy::DEFAULT.identity;
        let delays: Vec<i64> = (0..=12).map(|n| policy.delay_ms(n) / 1000).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(policy.delay_ms(u32::MAX), 30_000, "no overflow");

        let (throttle, clock) = throttle();
        for _ in 0..4 {
            fail(&throttle, &clock, ANN, "10.0.0.1");
            assert_eq!(refusal(&throttle, &clock, ANN, "10.0.0.1"), None);
        }
        fail(&throttle, &clock, ANN, "10.0.0.1");
        for expected in [1, 2, 4, 8, 16, 30, 30] {
            // Closed for every address, whatever the credential would have been.
            assert_eq!(refusal(&throttle, &clock, ANN, "10.0.0.2"), Some(expected));
            clock.set(Timestamp(clock.now().millis() + expected as i64 * 1000 - 1));
            assert_eq!(refusal(&throttle, &clock, ANN, "10.0.0.2"), Some(1));
            clock.set(Timestamp(clock.now().millis() + 1));
            fail(&throttle, &clock, ANN, "10.0.0.2");
        }
        assert_eq!(
            refusal(&throttle, &clock, "bob@acme.test", "10.0.0.3"),
            None,
            "other emails from other addresses are not affected"
        );
    }

    #[test]
    fn a_quiet_period_forgets_the_failures() {
        let (throttle, clock) = throttle();
        for _ in 0..8 {
            clock.advance_seconds(30);
            fail(&throttle, &clock, ANN, "10.0.0.1");
        }
        assert_eq!(refusal(&throttle, &clock, ANN, "10.0.0.1"), Some(8));
        clock.advance_seconds(15 * 60);
        for _ in 0..4 {
            fail(&throttle, &clock, ANN, "10.0.0.1");
        }
        assert_eq!(
            refusal(&throttle, &clock, ANN, "10.0.0.1"),
            None,
            "counting starts again from zero"
        );
    }

    #[test]
    fn a_success_clears_the_identity_but_not_the_address() {
        let (throttle, clock) = throttle();
        for n in 0..15 {
            fail(&throttle, &clock, &format!("user{n}@acme.test"), "10.0.0.1");
        }
        for _ in 0..4 {
            fail(&throttle, &clock, ANN, "10.0.0.1");
        }
        let attempt = throttle
            .admit(ANN, &address("10.0.0.1"), clock.now())
            .unwrap();
        attempt.succeeded(clock.now());
        // Ann's count is clear, the address keeps its 19 failures: one more closes it for
        // anyone without a trusted pair.
        fail(&throttle, &clock, "eve@acme.test", "10.0.0.1");
        assert_eq!(
            refusal(&throttle, &clock, "eve@acme.test", "10.0.0.1"),
            Some(1)
        );
        assert_eq!(
            refusal(&throttle, &clock, "bob@acme.test", "10.0.0.1"),
            Some(1)
        );
        assert_eq!(refusal(&throttle, &clock, ANN, "10.0.0.9"), None);
        assert_eq!(
            refusal(&throttle, &clock, ANN, "10.0.0.1"),
            None,
            "the pair is trusted"
        );
    }

    #[test]
    fn a_trusted_pair_skips_a_closed_identity_until_it_fails_once() {
        let (throttle, clock) = throttle();
        let attempt = throttle
            .admit(ANN, &address("192.0.2.7"), clock.now())
            .unwrap();
        attempt.succeeded(clock.now());
        for _ in 0..10 {
            clock.advance_seconds(60);
            fail(&throttle, &clock, ANN, "203.0.113.5");
        }
        assert!(refusal(&throttle, &clock, ANN, "203.0.113.6").is_some());
        // Ann, from where she signed in before, is not locked out by the guesses.
        let attempt = throttle
            .admit(ANN, &address("192.0.2.7"), clock.now())
            .unwrap();
        attempt.failed(clock.now());
        assert!(
            refusal(&throttle, &clock, ANN, "192.0.2.7").is_some(),
            "one failure and the pair is an ordinary one again"
        );
        // Trust ends after its time.
        clock.advance_seconds(3600);
        throttle
            .admit(ANN, &address("192.0.2.8"), clock.now())
            .unwrap()
            .succeeded(clock.now());
        clock.advance_seconds(7 * 24 * 3600);
        for _ in 0..5 {
            fail(&throttle, &clock, ANN, "203.0.113.5");
        }
        assert!(refusal(&throttle, &clock, ANN, "192.0.2.8").is_some());
    }

    #[test]
    fn a_failing_key_admits_only_its_remaining_free_attempts_at_once() {
        let (throttle, clock) = throttle();
        let now = clock.now();
        let fresh: Vec<Attempt<'_>> = (0..50)
            .map(|_| throttle.admit(ANN, &address("10.0.0.1"), now).unwrap())
            .collect();
        drop(fresh);
        for _ in 0..3 {
            fail(&throttle, &clock, ANN, "10.0.0.1");
        }
        let first = throttle.admit(ANN, &address("10.0.0.1"), now).unwrap();
        let second = throttle.admit(ANN, &address("10.0.0.2"), now).unwrap();
        assert_eq!(
            refusal(&throttle, &clock, ANN, "10.0.0.3"),
            Some(1),
            "3 failures + 2 in flight use up the 5 free ones"
        );
        first.failed(now);
        drop(second);
        assert_eq!(refusal(&throttle, &clock, ANN, "10.0.0.3"), None);
        fail(&throttle, &clock, ANN, "10.0.0.3");
        clock.advance_seconds(1);
        let only = throttle
            .admit(ANN, &address("10.0.0.4"), clock.now())
            .unwrap();
        assert_eq!(
            refusal(&throttle, &clock, ANN, "10.0.0.5"),
            Some(1),
            "one at a time"
        );
        only.succeeded(clock.now());
        assert_eq!(refusal(&throttle, &clock, ANN, "10.0.0.5"), None);
    }

    #[test]
    fn tables_stay_within_their_capacity_and_keep_recent_keys() {
        let small = Policy {
            capacity: 64,
            ..CredentialPolicy::DEFAULT.identity
        };
        let throttle = CredentialThrottle::new(CredentialPolicy {
            identity: small,
            address: Policy {
                capacity: 64,
                ..CredentialPolicy::DEFAULT.address
            },
            trust_for_ms: DAY_MS,
            trusted_capacity: 64,
        });
        let clock = ManualClock::new(Timestamp(1_000_000));
        for _ in 0..5 {
            fail(&throttle, &clock, ANN, "10.9.9.9");
        }
        for n in 0..10_000 {
            clock.set(Timestamp(1_000_000 + n));
            let from = format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256);
            fail(&throttle, &clock, &format!("user{n}@acme.test"), &from);
            throttle
                .admit(&format!("ok{n}@acme.test"), &address(&from), clock.now())
                .unwrap()
                .succeeded(clock.now());
        }
        assert!(
            throttle.identities.len() <= 64,
            "{}",
            throttle.identities.len()
        );
        assert!(throttle.addresses.len() <= 64);
        assert!(throttle.trusted().len() <= 64);
        assert!(
            throttle.identities.len() >= 56,
            "only an eighth is forgotten at a time"
        );
        let last = "user9999@acme.test";
        for _ in 0..4 {
            fail(&throttle, &clock, last, "10.200.0.1");
        }
        assert!(refusal(&throttle, &clock, last, "10.200.0.2").is_some());
    }

    #[test]
    fn addresses_are_counted_by_host_ipv6_by_its_64() {
        assert_eq!(
            address("2001:db8:1:2:aaaa::1"),
            address("2001:db8:1:2:bbbb::2")
        );
        assert_ne!(address("2001:db8:1:2::1"), address("2001:db8:1:3::1"));
        assert_eq!(address("::ffff:192.0.2.1"), address("192.0.2.1"));
        assert_eq!(
            address("2001:db8:1:2:aaaa::1").to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(ClientAddress::of(None).to_string(), "unknown");
        let (throttle, clock) = throttle();
        for n in 0..20 {
            fail(
                &throttle,
                &clock,
                &format!("u{n}@acme.test"),
                &format!("2001:db8::{n:x}"),
            );
        }
        assert_eq!(refusal(&throttle, &clock, ANN, "2001:db8::ffff"), Some(1));
        assert_eq!(refusal(&throttle, &clock, ANN, "2001:db8:0:1::1"), None);
    }
}
