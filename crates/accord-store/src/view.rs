//! The in-memory access view every node keeps, so the permission rule reads grants, roles,
//! privileges and assistant pairs — and the rate limiter each account's own limits — without a
//! database round trip per request, and the token and introspection endpoints authenticate
//! clients and find grants without one either.
//!
//! **Clients** are kept lazily: the first authentication of a client id reads its app, credential
//! sets and secret hashes — or that there is no such client — and remembers them
//! ([`AccessView::remember_client`]), so a known and an unknown client id cost alike; any change to
//! that app, its credential sets or secrets (triggers write `app` and `client` change rows) makes
//! every node forget every client of the app and the client ids named. A client read while a change was being applied is not
//! remembered (the view's version moved on), so a stale read can never outlive the change.
//! **Users' whole rows** are kept the same way ([`AccessView::remember_profile`]): every change to a
//! user's row already writes a `user` change row, which makes every node forget that user's row.
//!
//! **One place invalidates it**: database triggers append a row to `view_changes` in the same
//! transaction as any change to `grants`, `users`, `roles`, `assistants` or an account's
//! `rate_limits`, and [`AccessView::sync`]
//! applies the rows this node has not seen. `sync` runs after every commit this process makes (so
//! its own changes show on the very next request), on PostgreSQL whenever a `NOTIFY accord_view`
//! arrives from another node, and on a short timer as a safety net; a full reload runs periodically
//! and whenever rows were pruned before this node read them.
//!
//! **Numbers that commit out of order.** PostgreSQL hands out `view_changes.seq` when a row is
//! inserted, not when its transaction commits: a long transaction may commit its number after
//! thousands of higher ones were applied. So the view keeps the highest number it applied plus the
//! numbers below it not seen yet — the *gaps* — and every sync reads the rows above the highest and
//! the rows of the gaps (by number, so a long transaction costs one row per sync, not a window).
//! A gap is filled when its row appears. Rolled-back transactions leave numbers that never appear,
//! so a gap must also end; rather than guess with a time limit, the view asks PostgreSQL: a gap
//! noticed by one sync is tagged by the next with the snapshot's `xmax` (its transaction already
//! had an id then — the trigger runs after the row change that assigned it — so the id is below
//! `xmax`), and once a later snapshot's `xmin` has passed that tag the transaction has ended:
//! if the rows read after that snapshot still lack the number, it was rolled back and is let go.
//! A transaction that runs for hours keeps its gap for hours; one that rolled back is forgotten
//! within two syncs of every transaction older than it ending (`xmin` spans the whole server, so an
//! unrelated long transaction delays letting go — never applying). Only while gaps are awaited does
//! a sync read the snapshot: one small query. SQLite has one writer at a time, so a number below a
//! committed one is never still in flight: there every gap ends at once.
//!
//! The state is bounded: at most [`MAX_TRACKED_GAPS`] gaps. Beyond, the lowest are forgotten and
//! the view remembers to reload fully once every transaction that may own them has ended (the same
//! `xmax`/`xmin` test), so nothing is missed for longer than those transactions run. A full reload
//! keeps the gaps it knew and adds the numbers missing between the highest it knew and the highest
//! it read (all retained rows on the first load), so a transaction in flight during a reload is
//! applied when it commits.
//!
//! **Signing keys ride the same feed.** A new key writes a `keys` row (and the notification) in its
//! own transaction ([`announce_key_change`]); the view holds no keys, but a sync that applies such a
//! row — and every full reload, the periodic resync — bumps [`AccessView::key_changes`], which the
//! server's key ring watches to read the keys again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use accord_core::apps::Environment;
use accord_core::grants::{GrantFacts, GrantKind, GrantStatus};
use accord_core::ids::UserId;
use accord_core::privileges::{Privilege, PrivilegeSet};
use accord_core::rate_limits::RateLimits;
use accord_core::scopes::Scope;
use accord_core::users::UserStatus;
use sqlx::AnyPool;
use sqlx::any::AnyRow;

use crate::Backend;
use crate::error::{Result, StoreError};
use crate::rows;

/// A grant as the permission rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantState {
    pub kind: GrantKind,
    pub app_id: String,
    pub account_id: String,
    pub user_id: Option<String>,
    pub created_by: Option<String>,
    pub status: GrantStatus,
    pub generation: i64,
    /// The scopes granted (what a server app's token carries).
    pub scopes: Vec<Scope>,
}

impl From<&crate::grants::Grant> for GrantState {
    fn from(grant: &crate::grants::Grant) -> Self {
        GrantState {
            kind: grant.kind,
            app_id: grant.app_id.clone(),
            account_id: grant.account_id.clone(),
            user_id: grant.user_id.clone(),
            created_by: grant.created_by.clone(),
            status: grant.status,
            generation: grant.generation,
            scopes: grant.scopes.clone(),
        }
    }
}

/// A client as authentication needs it: its app, the credential set its id names, and the keyed
/// hashes of that set's active secrets (compared in constant time by the caller).
#[derive(Debug, Clone)]
pub struct ClientState {
    pub app: crate::apps::App,
    pub environment: Environment,
    pub secret_hashes: Vec<Vec<u8>>,
}

/// At most this many clients are remembered; beyond, the view starts over (a client read again
/// costs one authentication's database reads).
pub const MAX_CACHED_CLIENTS: usize = 10_000;

/// At most this many users' rows are remembered; beyond, the view starts over (a user read again
/// costs one database read).
pub const MAX_CACHED_PROFILES: usize = 10_000;

/// The view's version when something was read from the database: it is remembered only if no
/// change was applied since (the read may predate the change).
#[derive(Debug, Clone, Copy)]
pub struct ReadTicket(u64);

/// A user as the permission rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub account_id: String,
    pub role_id: String,
    pub status: UserStatus,
}

/// When a forgotten or awaited number's transaction has surely ended: `None` until a snapshot read
/// after the number was noticed gives its `xmax`; then ended once a snapshot's `xmin` reaches it.
type EndsBefore = Option<i64>;

#[derive(Debug, Default)]
struct Data {
    /// The highest `view_changes.seq` applied.
    seq: i64,
    /// Numbers below `seq` not seen yet (their transactions may still commit).
    gaps: BTreeMap<i64, EndsBefore>,
    /// Set when gaps beyond [`MAX_TRACKED_GAPS`] were forgotten: reload once their transactions
    /// have ended.
    forgotten: Option<EndsBefore>,
    /// Bumped by every change to the data, so a sync that read concurrently with another knows to
    /// read again.
    version: u64,
    grants: HashMap<String, GrantState>,
    /// (app, account) → the grant without a user there (an installation or a server app's own
    /// grant; the schema allows one).
    account_grants: HashMap<(String, String), String>,
    users: HashMap<String, UserState>,
    /// (account, role) → privileges.
    roles: HashMap<(String, String), PrivilegeSet>,
    /// assistant → the users who made them their assistant.
    principals: HashMap<String, Vec<String>>,
    /// account → its owner.
    owners: HashMap<String, String>,
    /// account → its own rate limits (only accounts that set some).
    rate_limits: HashMap<String, RateLimits>,
    /// client id → the client (`None`: no such client), for those authenticated since the last
    /// change to their app or client id.
    clients: HashMap<String, Option<Arc<ClientState>>>,
    /// user id → the user's whole row, for those read since the last change to it (the API's
    /// `GET /users/me` and every handler that names a user by id).
    profiles: HashMap<String, Arc<crate::users::User>>,
}

impl Data {
    fn set_rate_limits(&mut self, account: &str, limits: Option<RateLimits>) {
        match limits.filter(|limits| !limits.is_empty()) {
            Some(limits) => {
                self.rate_limits.insert(account.to_owned(), limits);
            }
            None => {
                self.rate_limits.remove(account);
            }
        }
    }

    fn set_grant(&mut self, id: &str, grant: Option<GrantState>) {
        if let Some(old) = self.grants.remove(id)
            && old.user_id.is_none()
        {
            self.account_grants.remove(&(old.app_id, old.account_id));
        }
        if let Some(grant) = grant {
            if grant.user_id.is_none() {
                self.account_grants.insert(
                    (grant.app_id.clone(), grant.account_id.clone()),
                    id.to_owned(),
                );
            }
            self.grants.insert(id.to_owned(), grant);
        }
    }

    /// Forgets the named client ids (also as unknown) and every remembered client of the named
    /// apps or of the apps those client ids belong to (an app's entry lists all its credential
    /// sets, so it goes with any of them).
    fn forget_clients(&mut self, apps: &HashSet<String>, client_ids: &HashSet<String>) {
        if apps.is_empty() && client_ids.is_empty() {
            return;
        }
        self.clients.retain(|id, client| {
            !client_ids.contains(id)
                && client.as_ref().is_none_or(|client| {
                    !apps.contains(client.app.id.as_str())
                        && !client
                            .app
                            .credentials
                            .iter()
                            .any(|set| client_ids.contains(&set.client_id))
                })
        });
    }

    fn set_user(&mut self, id: &str, user: Option<UserState>) {
        self.profiles.remove(id);
        if let Some(old) = self.users.remove(id)
            && self
                .owners
                .get(&old.account_id)
                .is_some_and(|owner| owner == id)
        {
            self.owners.remove(&old.account_id);
        }
        if let Some(user) = user {
            if user.role_id == accord_core::roles::BuiltinRole::Owner.id() {
                self.owners.insert(user.account_id.clone(), id.to_owned());
            }
            self.users.insert(id.to_owned(), user);
        }
    }
}

impl Data {
    /// Keeps at most [`MAX_TRACKED_GAPS`] gaps, forgetting the lowest; a forgotten number's change
    /// then comes with a full reload once its transaction has ended.
    fn bound_gaps(&mut self) {
        let excess = self.gaps.len().saturating_sub(MAX_TRACKED_GAPS);
        if excess == 0 {
            return;
        }
        let lowest: Vec<i64> = self.gaps.keys().take(excess).copied().collect();
        for seq in lowest {
            self.gaps.remove(&seq);
        }
        // Re-tagged by the next sync, after the numbers just forgotten were noticed.
        self.forgotten = Some(None);
        tracing::warn!(
            forgotten = excess,
            "more access changes in flight than the view tracks; it reloads once they have committed"
        );
    }
}

/// The current rows of everything a batch of changes names, read before the write lock is taken.
#[derive(Default)]
struct ReadChanges {
    grants: Vec<(String, Option<AnyRow>)>,
    users: Vec<(String, Option<AnyRow>)>,
    roles: Vec<((String, String), Option<AnyRow>)>,
    assistants: Vec<(String, Vec<String>)>,
    accounts: Vec<(String, Option<AnyRow>)>,
    /// Apps and client ids whose remembered clients are forgotten (nothing to read).
    apps: HashSet<String>,
    clients: HashSet<String>,
}

impl ReadChanges {
    fn apply_to(self, data: &mut Data) -> Result<()> {
        for (id, row) in self.grants {
            match row {
                Some(row) => {
                    let (id, grant) = grant_from(&row)?;
                    data.set_grant(&id, Some(grant));
                }
                None => data.set_grant(&id, None),
            }
        }
        for (id, row) in self.users {
            let user = row
                .as_ref()
                .map(user_from)
                .transpose()?
                .map(|(_, user)| user);
            data.set_user(&id, user);
        }
        for (key, row) in self.roles {
            match row {
                Some(row) => {
                    let (key, set) = privileges_from(&row)?;
                    data.roles.insert(key, set);
                }
                None => {
                    data.roles.remove(&key);
                }
            }
        }
        for (account, row) in self.accounts {
            let limits = row
                .as_ref()
                .map(rate_limits_from)
                .transpose()?
                .map(|(_, limits)| limits);
            data.set_rate_limits(&account, limits);
        }
        for (assistant, principals) in self.assistants {
            if principals.is_empty() {
                data.principals.remove(&assistant);
            } else {
                data.principals.insert(assistant, principals);
            }
        }
        data.forget_clients(&self.apps, &self.clients);
        Ok(())
    }
}

/// The change rows with these numbers (those that have committed).
async fn rows_of(pool: &AnyPool, seqs: &[i64]) -> Result<Vec<AnyRow>> {
    let mut found = Vec::new();
    for chunk in seqs.chunks(GAP_QUERY_CHUNK) {
        // Padded by repeating the last number, so only log2(chunk) distinct texts are prepared.
        let padded = chunk.len().next_power_of_two();
        let placeholders: Vec<String> = (1..=padded).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT seq, kind, key FROM view_changes WHERE seq IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in 0..padded {
            query = query.bind(chunk[i.min(chunk.len() - 1)]);
        }
        found.extend(query.fetch_all(pool).await?);
    }
    Ok(found)
}

/// The numbers in `(after, upto]` that no row has, newest first, at most [`HOLE_SCAN_LIMIT`].
async fn missing_numbers(pool: &AnyPool, after: i64, upto: i64) -> Result<Vec<i64>> {
    if upto <= after {
        return Ok(Vec::new());
    }
    // Each row with its predecessor in the range (the range's start for the first): a step of more
    // than one is a run of missing numbers.
    let runs = sqlx::query(
        "SELECT previous, seq FROM (\
             SELECT seq, COALESCE(LAG(seq) OVER (ORDER BY seq), $1) AS previous \
             FROM view_changes WHERE seq > $1 AND seq <= $2\
         ) AS steps WHERE seq > previous + 1 ORDER BY seq DESC LIMIT $3",
    )
    .bind(after)
    .bind(upto)
    .bind(HOLE_SCAN_LIMIT)
    .fetch_all(pool)
    .await?;
    let mut missing = Vec::new();
    for run in runs {
        let (previous, seq) = (rows::int(&run, "previous")?, rows::int(&run, "seq")?);
        for number in (previous + 1..seq).rev() {
            if missing.len() as i64 >= HOLE_SCAN_LIMIT {
                return Ok(missing);
            }
            missing.push(number);
        }
    }
    Ok(missing)
}

/// How recently the view is known to hold every committed change, by the store's clock.
///
/// A sync that succeeds *confirms* the view as of the moment it started: every change committed
/// before then has been applied. The watcher confirms every 250 ms (and on each `NOTIFY`); a node
/// cut off from its database stops confirming, and past a bound ([`crate::Store::ensure_view_fresh`])
/// its answers would rest on grants that may have been revoked meanwhile, so it refuses instead.
#[derive(Debug, Default)]
pub struct Freshness {
    /// Clock milliseconds at the start of the last sync that succeeded (0: never).
    confirmed_at: std::sync::atomic::AtomicI64,
    /// Catch-up attempts finished, so callers that waited on one do not repeat it.
    pub(crate) attempts: std::sync::atomic::AtomicU64,
    /// One catch-up sync at a time; the others wait for its outcome.
    pub(crate) catching_up: tokio::sync::Mutex<()>,
}

impl Freshness {
    /// Records a sync that started at `started` and succeeded.
    pub fn confirm(&self, started: accord_core::clock::Timestamp) {
        self.confirmed_at
            .fetch_max(started.millis(), std::sync::atomic::Ordering::AcqRel);
    }

    /// How long before `now` the view was last confirmed (everything, if never).
    pub fn age(&self, now: accord_core::clock::Timestamp) -> std::time::Duration {
        let confirmed = self.confirmed_at.load(std::sync::atomic::Ordering::Acquire);
        if confirmed == 0 {
            return std::time::Duration::MAX;
        }
        std::time::Duration::from_millis(u64::try_from(now.millis() - confirmed).unwrap_or(0))
    }
}

/// The access view has not been confirmed within the bound and a catch-up sync failed: this node
/// cannot tell whether a grant it holds has been revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the access view was last synced with the database {} ago, more than the {} s allowed", describe_age(*.age), .bound.as_secs())]
pub struct StaleView {
    pub age: std::time::Duration,
    pub bound: std::time::Duration,
}

fn describe_age(age: std::time::Duration) -> String {
    if age == std::time::Duration::MAX {
        "an unknown time".to_owned()
    } else {
        format!("{} s", age.as_secs())
    }
}

/// The view. Cheap to read (one read lock); `sync` and `reload` take the write lock only to swap in
/// what they read.
#[derive(Debug)]
pub struct AccessView {
    backend: Backend,
    data: RwLock<Data>,
    /// Bumped when the signing keys may have changed (see the module doc).
    keys: tokio::sync::watch::Sender<u64>,
}

/// The `view_changes.kind` of a new signing key.
const KEYS_KIND: &str = "keys";

/// Records, in the transaction that adds signing key `kid`, that every node must read the keys
/// again: a change row for the view's feed and, on PostgreSQL, `NOTIFY accord_view` (sent at commit).
/// `at` is the real time, as the pruning that reads it uses.
pub(crate) async fn announce_key_change(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    kid: &str,
) -> Result<()> {
    let at = accord_core::clock::Clock::now(&accord_core::clock::SystemClock).millis();
    sqlx::query("INSERT INTO view_changes (kind, key, at) VALUES ($1, $2, $3)")
        .bind(KEYS_KIND)
        .bind(kid)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    if tx.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
        sqlx::query("SELECT pg_notify('accord_view', $1)")
            .bind(KEYS_KIND)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn grant_from(row: &AnyRow) -> Result<(String, GrantState)> {
    Ok((
        rows::text(row, "id")?,
        GrantState {
            kind: rows::parsed(row, "kind", |s| {
                GrantKind::parse(&s).ok_or(format!("unknown grant kind {s}"))
            })?,
            app_id: rows::text(row, "app_id")?,
            account_id: rows::text(row, "account_id")?,
            user_id: rows::opt_text(row, "user_id")?,
            created_by: rows::opt_text(row, "created_by")?,
            status: rows::parsed(row, "status", |s| {
                GrantStatus::parse(&s).ok_or(format!("unknown grant status {s}"))
            })?,
            generation: rows::int(row, "generation")?,
            scopes: rows::json::<Vec<String>>(row, "scopes")?
                .iter()
                .map(|n| Scope::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
                .collect::<Result<_>>()?,
        },
    ))
}

fn user_from(row: &AnyRow) -> Result<(String, UserState)> {
    Ok((
        rows::text(row, "id")?,
        UserState {
            account_id: rows::text(row, "account_id")?,
            role_id: rows::text(row, "role_id")?,
            status: rows::parsed(row, "status", |s| {
                UserStatus::parse(&s).ok_or(format!("unknown user status {s}"))
            })?,
        },
    ))
}

fn privileges_from(row: &AnyRow) -> Result<((String, String), PrivilegeSet)> {
    let names: Vec<String> = rows::json(row, "privileges")?;
    let set = names
        .iter()
        .map(|n| n.parse::<Privilege>())
        .collect::<std::result::Result<PrivilegeSet, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((
        (rows::text(row, "account_id")?, rows::text(row, "id")?),
        set,
    ))
}

fn rate_limits_from(row: &AnyRow) -> Result<(String, RateLimits)> {
    Ok((rows::text(row, "id")?, rows::json(row, "rate_limits")?))
}

const GRANT_COLUMNS: &str = "SELECT id, kind, app_id, account_id, user_id, created_by, status, generation, scopes FROM grants";
const USER_COLUMNS: &str = "SELECT id, account_id, role_id, status FROM users";
const ROLE_COLUMNS: &str = "SELECT account_id, id, privileges FROM roles";
const ACCOUNT_COLUMNS: &str = "SELECT id, rate_limits FROM accounts";

/// At most this many change rows are applied one by one; beyond, a full reload is cheaper.
const MAX_INCREMENTAL: i64 = 5000;

/// At most this many gaps are awaited; beyond, the lowest are forgotten and a full reload follows
/// once their transactions have ended.
pub const MAX_TRACKED_GAPS: usize = 1000;

/// What a sync knows of the transactions running when it starts.
#[derive(Debug, Clone, Copy)]
struct Horizon {
    /// Every transaction with a lower id has ended (the snapshot's `xmin`).
    ended_below: i64,
    /// Every transaction that exists has a lower id (the snapshot's `xmax`).
    next: i64,
}

impl Horizon {
    fn has_ended(&self, ends_before: EndsBefore) -> bool {
        ends_before.is_some_and(|tag| tag <= self.ended_below)
    }
}

/// The rows of the awaited numbers, read in lists of padded length (1, 2, 4 … 256 placeholders) so a
/// handful of SQL texts serve every size.
const GAP_QUERY_CHUNK: usize = 256;

/// How many of the newest missing numbers a reload looks for (one more than is kept, to notice
/// that some are forgotten).
const HOLE_SCAN_LIMIT: i64 = MAX_TRACKED_GAPS as i64 + 1;

impl AccessView {
    pub fn new(backend: Backend) -> AccessView {
        AccessView {
            backend,
            data: RwLock::new(Data::default()),
            keys: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Changes (to an opaque count) whenever the signing keys may have changed: a new key's change
    /// row was applied, or the view was reloaded in full (the periodic resync).
    pub fn key_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.keys.subscribe()
    }

    fn keys_may_have_changed(&self) {
        self.keys
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// How many numbers below the highest applied are awaited (for tests and diagnostics).
    pub fn tracked_gaps(&self) -> usize {
        self.read().gaps.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads everything. The highest number and the numbers missing below it are read first, so a
    /// change that commits meanwhile is applied again by the next `sync` (applying twice is harmless).
    pub async fn reload(&self, pool: &AnyPool) -> Result<()> {
        self.reload_settling(pool, None).await
    }

    /// [`reload`](Self::reload); when `settles` is the `forgotten` mark that asked for it, clears it.
    async fn reload_settling(&self, pool: &AnyPool, settles: Option<EndsBefore>) -> Result<()> {
        let (known, known_gaps) = {
            let data = self.read();
            (data.seq, data.gaps.clone())
        };
        let row = sqlx::query("SELECT MIN(seq) AS oldest, MAX(seq) AS newest FROM view_changes")
            .fetch_one(pool)
            .await?;
        let oldest: Option<i64> = sqlx::Row::try_get(&row, "oldest")?;
        let newest: i64 = sqlx::Row::try_get::<Option<i64>, _>(&row, "newest")?.unwrap_or(0);
        // On the first load every retained row is new; numbers below the oldest were pruned.
        let scan_from = if known == 0 {
            oldest.map_or(newest, |oldest| oldest - 1)
        } else {
            known.min(newest)
        };
        let holes = missing_numbers(pool, scan_from, newest).await?;

        let mut fresh = Data::default();
        for row in sqlx::query(GRANT_COLUMNS).fetch_all(pool).await? {
            let (id, grant) = grant_from(&row)?;
            fresh.set_grant(&id, Some(grant));
        }
        for row in sqlx::query(USER_COLUMNS).fetch_all(pool).await? {
            let (id, user) = user_from(&row)?;
            fresh.set_user(&id, Some(user));
        }
        for row in sqlx::query(ROLE_COLUMNS).fetch_all(pool).await? {
            let (key, set) = privileges_from(&row)?;
            fresh.roles.insert(key, set);
        }
        for row in sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ACCOUNT_COLUMNS} WHERE rate_limits <> '{{}}'"
        )))
        .fetch_all(pool)
        .await?
        {
            let (account, limits) = rate_limits_from(&row)?;
            fresh.set_rate_limits(&account, Some(limits));
        }
        for row in sqlx::query("SELECT user_id, assistant_id FROM assistants")
            .fetch_all(pool)
            .await?
        {
            fresh
                .principals
                .entry(rows::text(&row, "assistant_id")?)
                .or_default()
                .push(rows::text(&row, "user_id")?);
        }

        let mut data = self.write();
        // Awaited: the gaps known when this reload started (one may commit after the tables were
        // read, even if a sync has applied it since: applying it again is harmless), those a sync
        // noticed meanwhile, and the numbers missing when this reload started. Numbers above
        // `newest` are read again by the next sync, as the tables here may predate them.
        fresh.gaps = known_gaps;
        for (seq, ends_before) in std::mem::take(&mut data.gaps) {
            let gap = fresh.gaps.entry(seq).or_insert(ends_before);
            *gap = gap.or(ends_before);
        }
        for hole in holes {
            fresh.gaps.entry(hole).or_insert(None);
        }
        fresh.gaps.retain(|seq, _| *seq <= newest);
        fresh.seq = newest;
        fresh.forgotten = match (data.forgotten, settles) {
            (Some(mark), Some(settled)) if mark == settled => None,
            (mark, _) => mark,
        };
        fresh.version = data.version + 1;
        fresh.bound_gaps();
        *data = fresh;
        drop(data);
        self.keys_may_have_changed();
        Ok(())
    }

    /// Applies the changes committed since the last sync. Returns how many it applied.
    pub async fn sync(&self, pool: &AnyPool) -> Result<usize> {
        // Two syncs may race; the one that loses reads again (bounded), then falls back to a reload.
        for _ in 0..4 {
            if let Some(applied) = self.try_sync(pool).await? {
                return Ok(applied);
            }
        }
        self.reload(pool).await?;
        Ok(0)
    }

    async fn try_sync(&self, pool: &AnyPool) -> Result<Option<usize>> {
        let (since, gaps, forgotten, version) = {
            let data = self.read();
            (data.seq, data.gaps.clone(), data.forgotten, data.version)
        };
        // Which transactions have ended, read BEFORE the rows: a number whose transaction ended by
        // now is in the rows read below if it ever committed.
        let horizon = if gaps.is_empty() && forgotten.is_none() {
            None
        } else {
            Some(self.horizon(pool).await?)
        };
        if let (Some(horizon), Some(mark)) = (horizon, forgotten)
            && horizon.has_ended(mark)
        {
            self.reload_settling(pool, Some(mark)).await?;
            return Ok(Some(0));
        }
        let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM view_changes")
            .fetch_one(pool)
            .await?;
        let newer = sqlx::query(
            "SELECT seq, kind, key FROM view_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(since)
        .bind(MAX_INCREMENTAL + 1)
        .fetch_all(pool)
        .await?;
        // Rows this node never saw were pruned, or there are too many: read everything instead.
        if oldest.is_some_and(|oldest| oldest > since + 1 && since > 0)
            || newer.len() as i64 > MAX_INCREMENTAL
        {
            self.reload(pool).await?;
            return Ok(Some(newer.len()));
        }
        let awaited: Vec<i64> = gaps.keys().copied().collect();
        let filled = rows_of(pool, &awaited).await?;
        let mut changes = Vec::with_capacity(newer.len() + filled.len());
        let mut new_seqs = Vec::with_capacity(newer.len());
        let mut filled_seqs = Vec::with_capacity(filled.len());
        for row in &newer {
            new_seqs.push(rows::int(row, "seq")?);
        }
        for row in &filled {
            filled_seqs.push(rows::int(row, "seq")?);
        }
        changes.extend(newer.iter().chain(filled.iter()));
        if changes.is_empty() && horizon.is_none() {
            return Ok(Some(0));
        }

        let read = self.read_changes(pool, &changes).await?;
        let mut keys_changed = false;
        for row in &changes {
            keys_changed |= rows::text(row, "kind")? == KEYS_KIND;
        }
        let mut data = self.write();
        if data.version != version {
            // Another sync or a reload ran meanwhile: read again.
            return Ok(None);
        }
        read.apply_to(&mut data)?;
        // Mark the forgotten numbers and tag the gaps noticed before `horizon` was read; then let go
        // of the gaps whose transactions ended before the rows above were read without them.
        if let Some(horizon) = horizon {
            if data.forgotten == Some(None) {
                data.forgotten = Some(Some(horizon.next));
            }
            data.gaps.retain(|_, ends_before| {
                let tag = *ends_before.get_or_insert(horizon.next);
                !horizon.has_ended(Some(tag))
            });
        }
        for seq in &filled_seqs {
            data.gaps.remove(seq);
        }
        let mut expected = since + 1;
        for &seq in &new_seqs {
            for missing in expected..seq {
                data.gaps.insert(missing, None);
            }
            expected = seq + 1;
            data.seq = data.seq.max(seq);
        }
        data.bound_gaps();
        data.version += 1;
        drop(data);
        if keys_changed {
            self.keys_may_have_changed();
        }
        Ok(Some(new_seqs.len() + filled_seqs.len()))
    }

    /// The oldest and newest transaction ids that may still be running (PostgreSQL); SQLite's one
    /// writer never leaves a lower number in flight behind a committed one.
    async fn horizon(&self, pool: &AnyPool) -> Result<Horizon> {
        match self.backend {
            Backend::Sqlite => Ok(Horizon {
                ended_below: i64::MAX,
                next: i64::MAX,
            }),
            Backend::Postgres => {
                let row = sqlx::query(
                    "SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT) AS ended_below, \
                            CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS TEXT) AS BIGINT) AS next",
                )
                .fetch_one(pool)
                .await?;
                Ok(Horizon {
                    ended_below: rows::int(&row, "ended_below")?,
                    next: rows::int(&row, "next")?,
                })
            }
        }
    }

    /// Reads the current state of everything the change rows name (once per key).
    async fn read_changes(&self, pool: &AnyPool, changes: &[&AnyRow]) -> Result<ReadChanges> {
        let mut seen = HashSet::new();
        let mut read = ReadChanges::default();
        for row in changes {
            let (kind, key) = (rows::text(row, "kind")?, rows::text(row, "key")?);
            if !seen.insert((kind.clone(), key.clone())) {
                continue;
            }
            match kind.as_str() {
                "grant" => read.grants.push((
                    key.clone(),
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{GRANT_COLUMNS} WHERE id = $1"
                    )))
                    .bind(key)
                    .fetch_optional(pool)
                    .await?,
                )),
                "user" => read.users.push((
                    key.clone(),
                    sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} WHERE id = $1")))
                        .bind(key)
                        .fetch_optional(pool)
                        .await?,
                )),
                "role" => {
                    let (account, role) = key.split_once('/').unwrap_or((key.as_str(), ""));
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{ROLE_COLUMNS} WHERE account_id = $1 AND id = $2"
                    )))
                    .bind(account.to_owned())
                    .bind(role.to_owned())
                    .fetch_optional(pool)
                    .await?;
                    read.roles
                        .push(((account.to_owned(), role.to_owned()), row));
                }
                "account" => read.accounts.push((
                    key.clone(),
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{ACCOUNT_COLUMNS} WHERE id = $1"
                    )))
                    .bind(key)
                    .fetch_optional(pool)
                    .await?,
                )),
                "assistant" => {
                    let principals: Vec<String> = sqlx::query_scalar(
                        "SELECT user_id FROM assistants WHERE assistant_id = $1",
                    )
                    .bind(&key)
                    .fetch_all(pool)
                    .await?;
                    read.assistants.push((key, principals));
                }
                "app" => {
                    read.apps.insert(key);
                }
                "client" => {
                    read.clients.insert(key);
                }
                _ => {}
            }
        }
        Ok(read)
    }

    /// Deletes change rows older than an hour (by the database's clock).
    pub async fn prune(pool: &AnyPool, now_millis: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM view_changes WHERE at < $1")
            .bind(now_millis - 3_600_000)
            .execute(pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub fn grant(&self, id: &str) -> Option<GrantState> {
        self.data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .grants
            .get(id)
            .cloned()
    }

    /// The grant without a user that `app_id` has in `account_id` (an installation, or a server
    /// app's own grant), with its id.
    pub fn account_grant(&self, app_id: &str, account_id: &str) -> Option<(String, GrantState)> {
        let data = self.read();
        let id = data
            .account_grants
            .get(&(app_id.to_owned(), account_id.to_owned()))?;
        Some((id.clone(), data.grants.get(id)?.clone()))
    }

    /// Whether a grant honours tokens of `generation` now ([`GrantFacts::honours`]); `None` when
    /// the view cannot tell (the grant, or an authorization's user, is not known here yet).
    pub fn grant_honours(&self, grant_id: &str, generation: i64) -> Option<bool> {
        let data = self.read();
        let grant = data.grants.get(grant_id)?;
        let user_active = match (grant.kind, grant.user_id.as_deref()) {
            (GrantKind::Authorization, Some(user_id)) => {
                data.users.get(user_id)?.status == UserStatus::Active
            }
            (GrantKind::Authorization, None) => false,
            (GrantKind::Installation | GrantKind::Server, _) => true,
        };
        let facts = GrantFacts {
            kind: grant.kind,
            status: grant.status,
            generation: grant.generation,
            user_active,
        };
        Some(facts.honours(generation))
    }

    /// A remembered client (`Ok(None)`: remembered as unknown), or the ticket to remember it under
    /// once read from the database.
    pub fn client(&self, client_id: &str) -> Result<Option<Arc<ClientState>>, ReadTicket> {
        let data = self.read();
        match data.clients.get(client_id) {
            Some(client) => Ok(client.clone()),
            None => Err(ReadTicket(data.version)),
        }
    }

    /// Remembers a client read from the database (`None`: unknown) after `ticket` was taken,
    /// unless a change was applied meanwhile (the read may predate it).
    pub fn remember_client(
        &self,
        client_id: &str,
        ticket: ReadTicket,
        client: Option<Arc<ClientState>>,
    ) {
        let mut data = self.write();
        if data.version != ticket.0 {
            return;
        }
        if data.clients.len() >= MAX_CACHED_CLIENTS {
            data.clients.clear();
        }
        data.clients.insert(client_id.to_owned(), client);
    }

    /// A remembered user's row, or the ticket to remember it under once read from the database.
    pub fn profile(&self, user_id: &str) -> Result<Arc<crate::users::User>, ReadTicket> {
        let data = self.read();
        match data.profiles.get(user_id) {
            Some(user) => Ok(user.clone()),
            None => Err(ReadTicket(data.version)),
        }
    }

    /// Remembers a user's row read from the database after `ticket` was taken, unless a change
    /// was applied meanwhile.
    pub fn remember_profile(&self, ticket: ReadTicket, user: Arc<crate::users::User>) {
        let mut data = self.write();
        if data.version != ticket.0 {
            return;
        }
        if data.profiles.len() >= MAX_CACHED_PROFILES {
            data.profiles.clear();
        }
        data.profiles.insert(user.id.as_str().to_owned(), user);
    }

    pub fn user(&self, id: &str) -> Option<UserState> {
        self.data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .users
            .get(id)
            .cloned()
    }

    /// The rate limits `account` sets for itself now (empty: every limit is the default).
    pub fn rate_limits(&self, account: &str) -> RateLimits {
        self.read()
            .rate_limits
            .get(account)
            .copied()
            .unwrap_or_default()
    }

    /// The privileges of a user's role now (none for an unknown user).
    pub fn privileges(&self, user_id: &str) -> PrivilegeSet {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        data.users
            .get(user_id)
            .and_then(|user| {
                data.roles
                    .get(&(user.account_id.clone(), user.role_id.clone()))
            })
            .copied()
            .unwrap_or_default()
    }

    /// The users who made `assistant_id` their assistant.
    pub fn principals(&self, assistant_id: &str) -> Vec<UserId> {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        data.principals
            .get(assistant_id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| UserId::parse(id.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `me` of a grant now: the authorizing user; the installer while still in the account (else
    /// the owner); the owner for a server grant.
    pub fn me(&self, grant: &GrantState) -> Option<UserId> {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        let owner = data
            .owners
            .get(&grant.account_id)
            .and_then(|o| UserId::parse(o.clone()).ok())?;
        let installer = grant
            .created_by
            .as_ref()
            .filter(|id| {
                data.users
                    .get(*id)
                    .is_some_and(|u| u.account_id == grant.account_id)
            })
            .and_then(|id| UserId::parse(id.clone()).ok());
        let authorized = grant
            .user_id
            .as_ref()
            .and_then(|id| UserId::parse(id.clone()).ok());
        accord_core::permission::resolve_me(
            grant.kind,
            authorized.as_ref(),
            installer.as_ref(),
            &owner,
        )
    }
}

#[cfg(test)]
mod freshness_tests {
    use std::time::Duration;

    use accord_core::clock::Timestamp;

    use super::Freshness;

    #[test]
    fn a_view_never_confirmed_is_infinitely_old_and_a_confirmation_never_goes_back() {
        let freshness = Freshness::default();
        assert_eq!(freshness.age(Timestamp(5_000)), Duration::MAX);
        freshness.confirm(Timestamp(4_000));
        assert_eq!(freshness.age(Timestamp(5_000)), Duration::from_secs(1));
        // A slower sync that started earlier finishes last: the later confirmation stands.
        freshness.confirm(Timestamp(3_000));
        assert_eq!(freshness.age(Timestamp(5_000)), Duration::from_secs(1));
        // A clock behind the confirmation reads as fresh, not as an error.
        assert_eq!(freshness.age(Timestamp(3_500)), Duration::ZERO);
    }
}
