//! Authorization codes and refresh tokens: stored only as keyed hashes, single use, bound to their
//! client and grant.
//!
//! Refresh rotation is race-free by construction: a refresh token's one successor is *derived* from
//! it ([`crate::secrets::Keys::refresh_successor`]), and what presenting a token does is decided by
//! [`accord_core::refresh::decide`] — the same rule introspection asks — over facts read while
//! holding the grant's lock ([`grants::lock`]), so a concurrent rotation, replay or revocation of
//! the same grant is either wholly before or wholly after. Presenting the same parent again within
//! the grace window returns that same successor (while it is unused); after the window it is reuse:
//! the whole family is revoked and the grant's generation moves on, ending its access tokens too.

use accord_core::clock::Timestamp;
use accord_core::grants::{GrantFacts, GrantKind};
use accord_core::ids::{Secret, hex};
use accord_core::refresh::{self, RefreshFacts, RefreshVerdict, SuccessorFacts};
use accord_core::scopes::Scope;
use accord_core::users::UserStatus;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::{Conn, Ctx, Store, grants, rows, secrets};

/// Authorization codes live five minutes.
pub const CODE_SECONDS: i64 = 300;

fn scope_names(scopes: &[Scope]) -> String {
    rows::to_json(&scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())
}

fn scopes_of(row: &AnyRow) -> Result<Vec<Scope>> {
    scopes_in(row, "scopes")
}

/// The scopes a row holds as a JSON list under `column`.
fn scopes_in(row: &AnyRow, column: &str) -> Result<Vec<Scope>> {
    let names: Vec<String> = rows::json(row, column)?;
    names
        .iter()
        .map(|n| Scope::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// A code to hand out after consent.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub grant_id: &'a str,
    pub generation: i64,
    pub client_id: &'a str,
    pub user_id: &'a str,
    /// The request's redirect URI: the one it named, or the app's only one when it named none.
    pub redirect_uri: &'a str,
    /// Whether the request named it (the exchange must then name the identical one).
    pub redirect_uri_given: bool,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    pub scopes: &'a [Scope],
}

/// A code as redeemed: everything it was bound to.
#[derive(Debug, Clone)]
pub struct RedeemedCode {
    pub code_hash: Vec<u8>,
    pub grant_id: String,
    pub generation: i64,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    /// Whether the authorization request named `redirect_uri` (RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub scopes: Vec<Scope>,
    pub expires_at: Timestamp,
}

/// What presenting a code found.
#[derive(Debug, Clone)]
pub enum CodeUse {
    /// First use: the code is now spent; the caller checks client, redirect URI and PKCE.
    Fresh(Box<RedeemedCode>),
    /// A second use: what the first use issued has been revoked.
    Replayed,
    Unknown,
}

pub async fn create_code(conn: &mut Conn, ctx: &Ctx<'_>, new: NewCode<'_>) -> Result<Secret> {
    let code = secrets::new_secret();
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, grant_id, generation, client_id, user_id, redirect_uri, redirect_uri_given, \
         code_challenge, code_challenge_method, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(ctx.keys.hash_secret(code.expose()))
    .bind(new.grant_id)
    .bind(new.generation)
    .bind(new.client_id)
    .bind(new.user_id)
    .bind(new.redirect_uri)
    .bind(i64::from(new.redirect_uri_given))
    .bind(new.code_challenge)
    .bind(new.code_challenge_method)
    .bind(scope_names(new.scopes))
    .bind(ctx.now.millis())
    .bind(ctx.now.plus_seconds(CODE_SECONDS).millis())
    .execute(&mut *conn)
    .await?;
    Ok(code)
}

/// Ends what a code's first use issued: its refresh family, and (by moving the grant's generation
/// on) every access token of that authorization. The caller holds the grant's lock.
async fn revoke_issued_by_code(conn: &mut Conn, ctx: &Ctx<'_>, row: &AnyRow) -> Result<()> {
    if let Some(family) = rows::opt_text(row, "family_id")? {
        revoke_family(conn, ctx, &family).await?;
    }
    let grant_id = rows::text(row, "grant_id")?;
    let generation = rows::int(row, "generation")?;
    if let Some(grant) = grants::end_generation(conn, ctx, &grant_id, generation).await? {
        audit::record(
            conn,
            ctx,
            Entry {
                account_id: &grant.account_id,
                actor: &Actor::System("oauth".into()),
                action: "grant.code_replayed",
                target_kind: "app",
                target_id: &grant.app_id,
                details: serde_json::json!({"grant_id": grant_id, "generation": grant.generation}),
            },
        )
        .await?;
    }
    Ok(())
}

/// Revokes every refresh token of a family. The caller holds the grant's lock.
pub async fn revoke_family(conn: &mut Conn, ctx: &Ctx<'_>, family_id: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(ctx.now.millis())
    .bind(family_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes every refresh token of a grant (called when the grant ends).
pub async fn revoke_for_grant(conn: &mut Conn, ctx: &Ctx<'_>, grant_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
    )
    .bind(ctx.now.millis())
    .bind(grant_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a refresh token is bound to.
#[derive(Debug, Clone)]
pub struct RefreshBinding<'a> {
    pub grant_id: &'a str,
    pub generation: i64,
    pub client_id: &'a str,
    pub scopes: &'a [Scope],
}

/// The row that stores `token`, issued now.
fn new_row(
    ctx: &Ctx<'_>,
    token: &Secret,
    family_id: &str,
    parent_id: Option<&str>,
    binding: &RefreshBinding<'_>,
    ttl_seconds: i64,
) -> RefreshRow {
    let issued = Issued {
        token_hash: ctx.keys.hash_secret(token.expose()),
        at: ctx.now,
        ttl_seconds,
    };
    row_of(issued, family_id, parent_id, binding)
}

/// A refresh token as issued: its keyed hash, when, and for how long.
struct Issued {
    token_hash: Vec<u8>,
    at: Timestamp,
    ttl_seconds: i64,
}

fn row_of(
    issued: Issued,
    family_id: &str,
    parent_id: Option<&str>,
    binding: &RefreshBinding<'_>,
) -> RefreshRow {
    RefreshRow {
        id: secrets::new_id(),
        token_hash: issued.token_hash,
        family_id: family_id.to_owned(),
        parent_id: parent_id.map(str::to_owned),
        grant_id: binding.grant_id.to_owned(),
        generation: binding.generation,
        client_id: binding.client_id.to_owned(),
        scopes: scope_names(binding.scopes),
        created_at: issued.at.millis(),
        expires_at: issued.at.plus_seconds(issued.ttl_seconds).millis(),
    }
}

/// A refresh token's row as stored (its secret only as the keyed hash).
#[derive(Debug, Clone)]
pub(crate) struct RefreshRow {
    pub id: String,
    pub token_hash: Vec<u8>,
    pub family_id: String,
    pub parent_id: Option<String>,
    pub grant_id: String,
    pub generation: i64,
    pub client_id: String,
    /// JSON list of scope names.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The start of every statement that stores refresh tokens: the columns in the order
/// [`bind_row`] binds them (and SQLite's batch lists them).
macro_rules! insert_refresh {
    () => {
        "INSERT INTO refresh_tokens (id, token_hash, family_id, parent_id, grant_id, generation, client_id, scopes, created_at, expires_at) "
    };
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds a refresh token's row in the order of the `INSERT`'s columns, after what `query` holds.
fn bind_row<'q>(query: AnyQuery<'q>, row: &'q RefreshRow) -> AnyQuery<'q> {
    query
        .bind(&row.id)
        .bind(&row.token_hash)
        .bind(&row.family_id)
        .bind(&row.parent_id)
        .bind(&row.grant_id)
        .bind(row.generation)
        .bind(&row.client_id)
        .bind(&row.scopes)
        .bind(row.created_at)
        .bind(row.expires_at)
}

pub(crate) async fn insert_row(conn: &mut Conn, row: &RefreshRow) -> Result<()> {
    bind_row(
        sqlx::query(concat!(
            insert_refresh!(),
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )),
        row,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The writes of one rotation ([`Store::rotate_refresh`]'s common case, [`first_rotation`]):
/// claim the presented token, then store its successor. On PostgreSQL, where it was decided
/// without the grant's lock, only while the grant is still as read.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub at: i64,
    pub token_id: String,
    /// The grant as read with the token: the claim holds only while it is still so.
    pub grant_id: String,
    pub generation: i64,
    pub grant_status: &'static str,
    pub successor: RefreshRow,
}

/// A refresh token presented to be rotated: what its rotation needs besides the stored rows.
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub token_hash: Vec<u8>,
    pub client_id: String,
    pub now: Timestamp,
    pub rotation: Rotation,
    /// The keyed hash of its successor, which is derived from the token
    /// ([`crate::secrets::Keys::refresh_successor`]).
    pub successor_hash: Vec<u8>,
}

/// What a rotation answers once its claim holds (with the successor, which the caller derived).
#[derive(Debug, Clone)]
pub(crate) struct Rotated {
    pub grant: grants::Grant,
    pub generation: i64,
    pub scopes: Vec<Scope>,
}

/// The rotation of `found` as `presented`, if [`refresh::decide`] rotates it (a first
/// presentation whose grant honours it): the claim to make and what to answer once it holds.
/// `None` otherwise: the caller then decides under the grant's lock.
fn first_rotation(found: FoundRefresh, presented: &Presented) -> Option<(Claim, Rotated)> {
    let verdict = refresh::decide(
        Some(&found.facts),
        &presented.client_id,
        presented.now,
        presented.rotation.grace_seconds,
    );
    let grant = found
        .grant
        .clone()
        .filter(|_| verdict == RefreshVerdict::Rotate)?;
    let issued = Issued {
        token_hash: presented.successor_hash.clone(),
        at: presented.now,
        ttl_seconds: presented.rotation.refresh_ttl_seconds,
    };
    let claim = Claim {
        at: presented.now.millis(),
        token_id: found.id.clone(),
        grant_id: grant.id.clone(),
        generation: grant.generation,
        grant_status: grant.status.as_str(),
        successor: successor_row(&found, &presented.client_id, issued),
    };
    let rotated = Rotated {
        grant,
        generation: found.facts.generation,
        scopes: found.scopes,
    };
    Some((claim, rotated))
}

/// SQLite's batch of rotations ([`crate::rotations`]), inside the caller's write transaction
/// (whose `BEGIN IMMEDIATE` stands for every grant's lock, so what is read here is what is
/// claimed): reads every presented token with its grant and user in one statement, and rotates
/// those that [`first_rotation`] rotates, each token once however often the batch holds it, in
/// two statements more. `None` for a presentation it does not rotate.
pub(crate) async fn rotate_first_presentations(
    conn: &mut Conn,
    presented: &[&Presented],
) -> Result<Vec<Option<Rotated>>> {
    let hashes: Vec<String> = presented.iter().map(|p| hex(&p.token_hash)).collect();
    let found_rows = sqlx::query(FOUND_UNUSED_SQLITE.as_str())
        .bind(rows::to_json(&hashes))
        .fetch_all(&mut *conn)
        .await?;
    let mut found = std::collections::HashMap::with_capacity(found_rows.len());
    for row in &found_rows {
        found.insert(rows::bytes(row, "token_hash")?, found_of(row)?);
    }
    let mut claims = Vec::with_capacity(presented.len());
    let mut answers = Vec::with_capacity(presented.len());
    for presented in presented {
        // `remove`: a token in the batch twice is rotated for its first presentation only.
        let rotation = found
            .remove(&presented.token_hash)
            .and_then(|f| first_rotation(f, presented));
        answers.push(rotation.map(|(claim, rotated)| {
            claims.push(claim);
            rotated
        }));
    }
    if claims.is_empty() {
        return Ok(answers);
    }
    let used: Vec<(&str, i64)> = claims.iter().map(|c| (c.token_id.as_str(), c.at)).collect();
    let claimed = sqlx::query(
        "UPDATE refresh_tokens SET used_at = c.value ->> 1 FROM json_each($1) AS c \
         WHERE refresh_tokens.id = c.value ->> 0 AND refresh_tokens.used_at IS NULL AND refresh_tokens.revoked_at IS NULL",
    )
    .bind(rows::to_json(&used))
    .execute(&mut *conn)
    .await?;
    if claimed.rows_affected() != claims.len() as u64 {
        // Cannot happen under the write lock: each was read unused a statement ago.
        return Err(StoreError::Corrupt(format!(
            "a batch of rotations claimed {} of the {} tokens it read unused",
            claimed.rows_affected(),
            claims.len()
        )));
    }
    let successors: Vec<serde_json::Value> = claims
        .iter()
        .map(|c| {
            let row = &c.successor;
            serde_json::json!([
                row.id,
                hex(&row.token_hash),
                row.family_id,
                row.parent_id,
                row.grant_id,
                row.generation,
                row.client_id,
                row.scopes,
                row.created_at,
                row.expires_at
            ])
        })
        .collect();
    sqlx::query(concat!(
        insert_refresh!(),
        "SELECT s.value ->> 0, unhex(s.value ->> 1), s.value ->> 2, s.value ->> 3, s.value ->> 4, s.value ->> 5, \
         s.value ->> 6, s.value ->> 7, s.value ->> 8, s.value ->> 9 FROM json_each($1) AS s"
    ))
    .bind(rows::to_json(&successors))
    .execute(&mut *conn)
    .await?;
    Ok(answers)
}

/// A rotation's claim on PostgreSQL as one statement, which is its own transaction: `g` takes the
/// grant's lock as every change to its tokens does (`FOR NO KEY UPDATE`, which re-checks the
/// newest version of the row, so a grant revoked or moved on while the statement waited for the
/// lock yields nothing and the claim matches nothing); `c` claims the token (its own conditions
/// likewise re-checked on the newest version of its row); the successor is inserted only from
/// the claimed row. A revocation thus either committed before (and nothing is claimed) or waits
/// for the lock until this commits, and then sees the successor. One round trip instead of BEGIN,
/// lock, claim, insert and COMMIT (W4).
const CLAIM_AND_STORE_POSTGRES: &str = concat!(
    "WITH g AS (SELECT id FROM grants WHERE id = $3 AND generation = $4 AND status = $5 FOR NO KEY UPDATE), \
     c AS (UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL \
     AND EXISTS (SELECT 1 FROM g) RETURNING id) ",
    insert_refresh!(),
    "SELECT $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM c"
);

async fn claim_and_store_postgres(conn: &mut Conn, claim: &Claim) -> Result<bool> {
    let query = sqlx::query(CLAIM_AND_STORE_POSTGRES)
        .bind(claim.at)
        .bind(&claim.token_id)
        .bind(&claim.grant_id)
        .bind(claim.generation)
        .bind(claim.grant_status);
    let done = bind_row(query, &claim.successor)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The row of the successor `issued`, the rotation of the claimed refresh token `found`, in its
/// family.
fn successor_row(found: &FoundRefresh, client_id: &str, issued: Issued) -> RefreshRow {
    let binding = RefreshBinding {
        grant_id: &found.grant_id,
        generation: found.facts.generation,
        client_id,
        scopes: &found.scopes,
    };
    row_of(issued, &found.family_id, Some(&found.id), &binding)
}

/// A refresh token as rotated or looked up.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub refresh_token: Secret,
    /// The grant, as read under its lock (it honours `generation`).
    pub grant: grants::Grant,
    pub generation: i64,
    pub client_id: String,
    pub scopes: Vec<Scope>,
}

/// Why a refresh was refused. Every variant answers `invalid_grant` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// Unknown, expired, revoked, another client's, or its grant ended.
    Invalid,
    /// A rotated-out token presented after the grace window: the family is now revoked.
    Reused,
}

const REFRESH_COLUMNS: &str =
    "id, family_id, grant_id, generation, client_id, scopes, expires_at, used_at, revoked_at";

async fn refresh_row(conn: &mut Conn, ctx: &Ctx<'_>, token: &str) -> Result<Option<AnyRow>> {
    let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ctx.keys.hash_secret(token))
        .fetch_optional(&mut *conn)
        .await?)
}

/// What decides whether a grant honours its tokens, read now.
async fn grant_facts(conn: &mut Conn, grant: &grants::Grant) -> Result<GrantFacts> {
    let user_status = match (grant.kind, grant.user_id.as_deref()) {
        (GrantKind::Authorization, Some(user_id)) => {
            crate::users::get(conn, user_id).await?.map(|u| u.status)
        }
        _ => None,
    };
    Ok(facts_of(grant, user_status))
}

/// [`GrantFacts`] of a grant whose authorizing user (if any) has `user_status` (`None`: gone).
fn facts_of(grant: &grants::Grant, user_status: Option<UserStatus>) -> GrantFacts {
    let user_active = match (grant.kind, grant.user_id.as_deref()) {
        (GrantKind::Authorization, Some(_)) => user_status == Some(UserStatus::Active),
        (GrantKind::Authorization, None) => false,
        (GrantKind::Installation | GrantKind::Server, _) => true,
    };
    GrantFacts {
        kind: grant.kind,
        status: grant.status,
        generation: grant.generation,
        user_active,
    }
}

/// The grant behind a token, if it still honours tokens of `generation` (and, for an
/// authorization, its user may still act).
async fn honouring_grant(
    conn: &mut Conn,
    grant_id: &str,
    generation: i64,
) -> Result<Option<grants::Grant>> {
    let Some(grant) = grants::get(conn, grant_id).await? else {
        return Ok(None);
    };
    let honours = grant_facts(conn, &grant).await?.honours(generation);
    Ok(honours.then_some(grant))
}

/// A stored refresh token with everything [`refresh::decide`] needs to judge it.
struct FoundRefresh {
    id: String,
    family_id: String,
    grant_id: String,
    /// The grant as read with the token, while it exists.
    grant: Option<grants::Grant>,
    scopes: Vec<Scope>,
    facts: RefreshFacts,
}

/// A refresh token's row joined with its grant's and the grant's user's status, `WHERE`
/// `condition`, so that one statement reads all three. The grant's columns are [`grants::COLUMNS`]
/// under their own names (for [`grants::from_row`]); the token's that would collide are renamed.
fn found_refresh_sql(condition: &str) -> String {
    let grant_columns = grants::COLUMNS
        .split(',')
        .map(|column| format!("g.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT r.id AS token_id, r.token_hash, r.family_id, r.grant_id, r.generation AS token_generation, \
         r.client_id, r.scopes AS token_scopes, r.expires_at, r.used_at, \
         r.revoked_at AS token_revoked_at, {grant_columns}, u.status AS user_status \
         FROM refresh_tokens r LEFT JOIN grants g ON g.id = r.grant_id \
         LEFT JOIN users u ON u.id = g.user_id WHERE {condition}"
    )
}

/// One token, by its keyed hash ([`find_refresh`]).
static FOUND_REFRESH_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| found_refresh_sql("r.token_hash = $1"));

/// The unused ones of many tokens, `$1` a JSON list of their keyed hashes in hex (SQLite's batch
/// of rotations, [`rotate_first_presentations`]).
static FOUND_UNUSED_SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    found_refresh_sql(
        "r.token_hash IN (SELECT unhex(value) FROM json_each($1)) AND r.used_at IS NULL",
    )
});

/// Reads a refresh token (`token`, whose hash is `token_hash`), its grant and that grant's user in
/// one statement, and (once rotated) its successor.
async fn find_refresh(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    token: &str,
    token_hash: &[u8],
) -> Result<Option<FoundRefresh>> {
    let Some(row) = sqlx::query(FOUND_REFRESH_SQL.as_str())
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut found = found_of(&row)?;
    if found.facts.used_at.is_some() {
        let successor = ctx.keys.refresh_successor(token);
        if let Some(next) = refresh_row(conn, ctx, successor.expose()).await? {
            found.facts.successor = Some(SuccessorFacts {
                used: rows::opt_time(&next, "used_at")?.is_some(),
                revoked: rows::opt_time(&next, "revoked_at")?.is_some(),
                expires_at: rows::time(&next, "expires_at")?,
            });
        }
    }
    Ok(Some(found))
}

/// A row of [`found_refresh_sql`], without its successor's facts.
fn found_of(row: &AnyRow) -> Result<FoundRefresh> {
    let grant = match rows::opt_text(row, "id")? {
        Some(_) => Some(grants::from_row(row)?),
        None => None,
    };
    let grant_facts = match &grant {
        Some(grant) => {
            let user_status = rows::opt_text(row, "user_status")?
                .map(|s| {
                    UserStatus::parse(&s)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown status {s}")))
                })
                .transpose()?;
            Some(facts_of(grant, user_status))
        }
        None => None,
    };
    Ok(FoundRefresh {
        id: rows::text(row, "token_id")?,
        family_id: rows::text(row, "family_id")?,
        grant,
        scopes: scopes_in(row, "token_scopes")?,
        facts: RefreshFacts {
            client_id: rows::text(row, "client_id")?,
            generation: rows::int(row, "token_generation")?,
            expires_at: rows::time(row, "expires_at")?,
            used_at: rows::opt_time(row, "used_at")?,
            revoked: rows::opt_time(row, "token_revoked_at")?.is_some(),
            grant: grant_facts,
            successor: None,
        },
        grant_id: rows::text(row, "grant_id")?,
    })
}

/// Ends a family on reuse: every token of it revoked, and the grant's generation moved on so the
/// access tokens issued from it stop at once too (as a replayed code does), with an audit entry.
/// The caller holds the grant's lock.
async fn end_reused_family(conn: &mut Conn, ctx: &Ctx<'_>, found: &FoundRefresh) -> Result<()> {
    revoke_family(conn, ctx, &found.family_id).await?;
    // Reuse is judged only while the grant honours the token's generation (under the lock), so
    // the generation does move on here.
    if let Some(grant) =
        grants::end_generation(conn, ctx, &found.grant_id, found.facts.generation).await?
    {
        audit::record(
            conn,
            ctx,
            Entry {
                account_id: &grant.account_id,
                actor: &Actor::System("oauth".into()),
                action: "grant.refresh_reuse_detected",
                target_kind: "app",
                target_id: &grant.app_id,
                details: serde_json::json!({
                    "grant_id": found.grant_id,
                    "family_id": found.family_id,
                    "generation": grant.generation,
                }),
            },
        )
        .await?;
    }
    Ok(())
}

/// Settings for rotation.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    pub refresh_ttl_seconds: i64,
    /// 0 turns the grace window off.
    pub grace_seconds: i64,
}

/// What introspection may say of a refresh token: what presenting it would do now, and whose it is.
#[derive(Debug, Clone)]
pub struct RefreshStatus {
    pub verdict: RefreshVerdict,
    pub grant_id: String,
    /// The grant's account, while the grant exists.
    pub account_id: Option<String>,
    pub client_id: String,
}

/// Which kind of secret [`grant_of`] looks up.
#[derive(Debug, Clone, Copy)]
enum Table {
    Codes,
    RefreshTokens,
}

/// The grant a code or refresh token belongs to: read before taking that grant's lock, after
/// which the secret itself is read again.
async fn grant_of(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    table: Table,
    secret: &str,
) -> Result<Option<String>> {
    let sql = match table {
        Table::Codes => "SELECT grant_id FROM authorization_codes WHERE code_hash = $1",
        Table::RefreshTokens => "SELECT grant_id FROM refresh_tokens WHERE token_hash = $1",
    };
    Ok(sqlx::query_scalar(sql)
        .bind(ctx.keys.hash_secret(secret))
        .fetch_optional(&mut *conn)
        .await?)
}

impl Store {
    /// Stores a new authorization code and returns it (to put in the redirect, never to log).
    pub async fn create_code(&self, new: NewCode<'_>) -> Result<Secret> {
        let mut conn = self.pool().acquire().await?;
        create_code(&mut conn, &self.ctx(), new).await
    }

    /// Spends a code. A second presentation revokes what the first issued.
    pub async fn take_code(&self, code: &str) -> Result<CodeUse> {
        let ctx = self.ctx();
        let hash = ctx.keys.hash_secret(code);
        let mut tx = self.begin().await?;
        let Some(grant_id) = grant_of(&mut tx, &ctx, Table::Codes, code).await? else {
            return Ok(CodeUse::Unknown);
        };
        // Read the code only under the lock: a first use's family may have just been recorded.
        grants::lock(&mut tx, &grant_id).await?;
        let row = sqlx::query(
            "SELECT code_hash, grant_id, generation, client_id, user_id, redirect_uri, redirect_uri_given, code_challenge, \
             code_challenge_method, scopes, expires_at, used_at, family_id FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(CodeUse::Unknown);
        };
        let claimed = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(ctx.now.millis())
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            revoke_issued_by_code(&mut tx, &ctx, &row).await?;
            self.commit(tx).await?;
            return Ok(CodeUse::Replayed);
        }
        let redeemed = RedeemedCode {
            code_hash: hash,
            grant_id: rows::text(&row, "grant_id")?,
            generation: rows::int(&row, "generation")?,
            client_id: rows::text(&row, "client_id")?,
            user_id: rows::text(&row, "user_id")?,
            redirect_uri: rows::text(&row, "redirect_uri")?,
            redirect_uri_given: rows::flag(&row, "redirect_uri_given")?,
            code_challenge: rows::opt_text(&row, "code_challenge")?,
            code_challenge_method: rows::opt_text(&row, "code_challenge_method")?,
            scopes: scopes_of(&row)?,
            expires_at: rows::time(&row, "expires_at")?,
        };
        self.commit_outside_view(tx).await?;
        Ok(CodeUse::Fresh(Box::new(redeemed)))
    }

    /// Starts the refresh family of a redeemed code and records it on the code, so a replay can
    /// revoke it. Returns the first refresh token and the grant as read under its lock, or `None`
    /// when the grant no longer honours the code's generation (a replay of the code, a
    /// re-authorization or a removal came first).
    pub async fn start_refresh_family(
        &self,
        code: &RedeemedCode,
        refresh_ttl_seconds: i64,
    ) -> Result<Option<(Secret, grants::Grant)>> {
        let ctx = self.ctx();
        let token = secrets::new_secret();
        let family = secrets::new_id();
        let mut tx = self.begin().await?;
        grants::lock(&mut tx, &code.grant_id).await?;
        let Some(grant) = honouring_grant(&mut tx, &code.grant_id, code.generation).await? else {
            return Ok(None);
        };
        let binding = RefreshBinding {
            grant_id: &code.grant_id,
            generation: code.generation,
            client_id: &code.client_id,
            scopes: &code.scopes,
        };
        let first = new_row(&ctx, &token, &family, None, &binding, refresh_ttl_seconds);
        insert_row(&mut tx, &first).await?;
        sqlx::query("UPDATE authorization_codes SET family_id = $1 WHERE code_hash = $2")
            .bind(&family)
            .bind(&code.code_hash)
            .execute(&mut *tx)
            .await?;
        self.commit_outside_view(tx).await?;
        Ok(Some((token, grant)))
    }

    /// Whether a grant still honours tokens of this generation (status, generation, and an
    /// authorization's user still active): from the access view, or the database when the view
    /// does not know the grant yet (created a moment ago on another node).
    pub async fn grant_honours(&self, grant_id: &str, generation: i64) -> Result<bool> {
        if let Some(honours) = self.view().grant_honours(grant_id, generation) {
            return Ok(honours);
        }
        let mut conn = self.pool().acquire().await?;
        Ok(honouring_grant(&mut conn, grant_id, generation)
            .await?
            .is_some())
    }

    /// Rotates a refresh token presented by `client_id`. See the module documentation.
    pub async fn rotate_refresh(
        &self,
        presented: &Secret,
        client_id: &str,
        rotation: Rotation,
    ) -> Result<std::result::Result<RefreshGrant, RefreshRefusal>> {
        if let Some(rotated) = self
            .rotate_unclaimed(presented, client_id, rotation)
            .await?
        {
            return Ok(Ok(rotated));
        }
        let ctx = self.ctx();
        let mut tx = self.begin().await?;
        let Some(grant_id) =
            grant_of(&mut tx, &ctx, Table::RefreshTokens, presented.expose()).await?
        else {
            return Ok(Err(RefreshRefusal::Invalid));
        };
        grants::lock(&mut tx, &grant_id).await?;
        let token_hash = ctx.keys.hash_secret(presented.expose());
        let found = find_refresh(&mut tx, &ctx, presented.expose(), &token_hash).await?;
        let verdict = refresh::decide(
            found.as_ref().map(|f| &f.facts),
            client_id,
            ctx.now,
            rotation.grace_seconds,
        );
        let Some(found) = found else {
            return Ok(Err(RefreshRefusal::Invalid));
        };
        let successor = ctx.keys.refresh_successor(presented.expose());
        // A usable verdict means the grant exists and honours the token.
        let answer = |token: Secret| match &found.grant {
            Some(grant) => Ok(RefreshGrant {
                refresh_token: token,
                grant: grant.clone(),
                generation: found.facts.generation,
                client_id: client_id.to_owned(),
                scopes: found.scopes.clone(),
            }),
            None => Err(RefreshRefusal::Invalid),
        };
        match verdict {
            RefreshVerdict::Invalid(_) => Ok(Err(RefreshRefusal::Invalid)),
            RefreshVerdict::RepeatSuccessor => Ok(answer(successor)),
            RefreshVerdict::Rotate => {
                // Under the lock nothing else can have claimed it; the condition still makes the
                // claim refuse rather than mint a second successor if that ever changes.
                let claimed = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL",
                )
                .bind(ctx.now.millis())
                .bind(&found.id)
                .execute(&mut *tx)
                .await?;
                if claimed.rows_affected() != 1 {
                    return Ok(Err(RefreshRefusal::Invalid));
                }
                let issued = Issued {
                    token_hash: ctx.keys.hash_secret(successor.expose()),
                    at: ctx.now,
                    ttl_seconds: rotation.refresh_ttl_seconds,
                };
                insert_row(&mut tx, &successor_row(&found, client_id, issued)).await?;
                self.commit_outside_view(tx).await?;
                Ok(answer(successor))
            }
            RefreshVerdict::Reused => {
                end_reused_family(&mut tx, &ctx, &found).await?;
                self.commit(tx).await?;
                Ok(Err(RefreshRefusal::Reused))
            }
        }
    }

    /// The common case of [`Store::rotate_refresh`] — a token never presented before, whose grant
    /// honours it ([`first_rotation`]) — without holding the grant's lock while reading.
    ///
    /// - SQLite: the rotation joins the others waiting for the writer ([`crate::rotations`]), which
    ///   read, claim and store a whole batch in one write transaction (three statements and one
    ///   commit for up to [`crate::rotations::MAX_BATCH`] rotations). Read under the write lock,
    ///   what is decided is what holds.
    /// - PostgreSQL: the token, its grant and user are read on a pooled connection, then one
    ///   statement on that connection takes the grant's lock, claims the token and stores its
    ///   successor ([`CLAIM_AND_STORE_POSTGRES`]). The claim holds only if the token is still
    ///   unused and unrevoked and its grant still at the generation and status read, so a
    ///   concurrent presentation, revocation or re-authorization makes it claim nothing. (A user
    ///   deactivated between the read and the claim gets a successor and an access token that are
    ///   refused on first use, as the view then says so.)
    ///
    /// `None` when it rotates nothing: the caller then decides under the grant's lock.
    async fn rotate_unclaimed(
        &self,
        presented: &Secret,
        client_id: &str,
        rotation: Rotation,
    ) -> Result<Option<RefreshGrant>> {
        let ctx = self.ctx();
        let successor = ctx.keys.refresh_successor(presented.expose());
        let first = Presented {
            token_hash: ctx.keys.hash_secret(presented.expose()),
            client_id: client_id.to_owned(),
            now: ctx.now,
            rotation,
            successor_hash: ctx.keys.hash_secret(successor.expose()),
        };
        let rotated = match &self.inner.rotations {
            Some(queue) => queue.submit(first).await?,
            None => {
                let mut conn = self.pool().acquire().await?;
                let found =
                    find_refresh(&mut conn, &ctx, presented.expose(), &first.token_hash).await?;
                match found.and_then(|found| first_rotation(found, &first)) {
                    Some((claim, rotated)) => claim_and_store_postgres(&mut conn, &claim)
                        .await?
                        .then_some(rotated),
                    None => None,
                }
            }
        };
        Ok(rotated.map(|rotated| RefreshGrant {
            refresh_token: successor,
            grant: rotated.grant,
            generation: rotated.generation,
            client_id: client_id.to_owned(),
            scopes: rotated.scopes,
        }))
    }

    /// What presenting a refresh token as `client_id` would do now — the very decision
    /// [`Store::rotate_refresh`] takes, without changing anything (for introspection). `None` for
    /// a token that was never issued.
    pub async fn refresh_status(
        &self,
        token: &str,
        client_id: &str,
        rotation: Rotation,
    ) -> Result<Option<RefreshStatus>> {
        let ctx = self.ctx();
        let mut conn = self.pool().acquire().await?;
        let token_hash = ctx.keys.hash_secret(token);
        let Some(found) = find_refresh(&mut conn, &ctx, token, &token_hash).await? else {
            return Ok(None);
        };
        Ok(Some(RefreshStatus {
            verdict: refresh::decide(
                Some(&found.facts),
                client_id,
                ctx.now,
                rotation.grace_seconds,
            ),
            grant_id: found.grant_id,
            account_id: found.grant.map(|g| g.account_id),
            client_id: found.facts.client_id,
        }))
    }

    /// The grant and client a refresh token belongs to, whatever its state (for revocation).
    pub async fn refresh_owner(&self, token: &str) -> Result<Option<(String, String)>> {
        let ctx = self.ctx();
        let mut conn = self.pool().acquire().await?;
        let Some(row) = refresh_row(&mut conn, &ctx, token).await? else {
            return Ok(None);
        };
        Ok(Some((
            rows::text(&row, "grant_id")?,
            rows::text(&row, "client_id")?,
        )))
    }
}
