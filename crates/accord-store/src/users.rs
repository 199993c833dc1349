//! Users: creation (argon2id passwords, emails unique within their account), profile and role
//! changes under the owner invariants, deactivation and deletion (which end the user's
//! authorizations and delete the meetings they host, but not the installations they made).
//!
//! An email names at most one user per account, compared case-insensitively; the same address may
//! be a user of several accounts (model.md), so no tenant learns of another's users by being
//! refused an address. Resolving an email therefore needs its account ([`find_by_email`],
//! [`find`] with an account); only operator tools ask the whole deployment, and there an email
//! found in several accounts is an [`StoreError::AmbiguousEmail`], never a silent pick. Sign-in
//! checks the password against every user with the address and returns all it matches.

use accord_core::clock::Timestamp;
use accord_core::ids::{AccountId, Email, RoleId, Secret, UserId};
use accord_core::names::{PersonName, TimeZoneName};
use accord_core::roles::{self as rules, BuiltinRole, OwnerRuleViolation};
use accord_core::users::{UserObject, UserStatus, UserType};
use accord_core::webhooks::{self as hooks, Event};
use serde::Serialize;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::secrets::{Keys, PasswordMemory};
use crate::{Conn, Ctx, Store, grants, rows, secrets};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    #[serde(rename = "type")]
    pub user_type: UserType,
    pub status: UserStatus,
    pub timezone: TimeZoneName,
    pub pmi: i64,
    pub role_id: RoleId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

impl User {
    pub fn is_owner(&self) -> bool {
        self.role_id.is_owner()
    }

    /// The user as the API shows it and webhook events carry it.
    pub fn object(&self) -> UserObject {
        UserObject {
            id: self.id.as_str().to_owned(),
            email: self.email.as_str().to_owned(),
            first_name: self.first_name.to_string(),
            last_name: self.last_name.to_string(),
            display_name: accord_core::users::display_name(&self.first_name, &self.last_name),
            user_type: i64::from(self.user_type),
            role_id: self.role_id.as_str().to_owned(),
            status: self.status.as_str().to_owned(),
            timezone: self.timezone.to_string(),
            pmi: self.pmi,
            account_id: self.account_id.as_str().to_owned(),
            created_at: self.created_at.rfc3339(),
            last_login_time: self.last_login_at.map(|t| t.rfc3339()),
        }
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Option<UserId>,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub user_type: UserType,
    pub status: UserStatus,
    pub timezone: String,
    pub role_id: RoleId,
    /// `None` generates one (returned once) for active users; pending users may have none.
    pub password: Option<Secret>,
}

impl NewUser {
    /// An active Basic member in UTC with a generated password: the defaults of `accord user create`.
    pub fn new(email: Email) -> Self {
        NewUser {
            id: None,
            email,
            first_name: String::new(),
            last_name: String::new(),
            user_type: UserType::Basic,
            status: UserStatus::Active,
            timezone: "UTC".into(),
            role_id: BuiltinRole::Member.role_id(),
            password: None,
        }
    }
}

/// How a user comes to exist: only a new account's first user may take the Owner role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    AccountOwner,
    Member,
}

/// What to change on a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub email: Option<Email>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub user_type: Option<UserType>,
    pub timezone: Option<String>,
    pub role_id: Option<RoleId>,
    pub status: Option<UserStatus>,
    pub password: Option<Secret>,
}

const COLUMNS: &str = "id, account_id, email, first_name, last_name, user_type, status, timezone, pmi, role_id, \
     created_at, updated_at, last_login_at";

fn from_row(row: &AnyRow) -> Result<User> {
    let corrupt = |e: accord_core::ids::InvalidValue| StoreError::Corrupt(e.0);
    Ok(User {
        id: UserId::parse(rows::text(row, "id")?).map_err(corrupt)?,
        account_id: AccountId::parse(rows::text(row, "account_id")?).map_err(corrupt)?,
        email: Email::parse(rows::text(row, "email")?).map_err(corrupt)?,
        first_name: PersonName::parse(&rows::text(row, "first_name")?).map_err(corrupt)?,
        last_name: PersonName::parse(&rows::text(row, "last_name")?).map_err(corrupt)?,
        user_type: UserType::try_from(rows::int(row, "user_type")?).map_err(StoreError::Corrupt)?,
        status: rows::parsed(row, "status", |s| {
            UserStatus::parse(&s).ok_or(format!("unknown status {s}"))
        })?,
        timezone: TimeZoneName::parse(&rows::text(row, "timezone")?).map_err(corrupt)?,
        pmi: rows::int(row, "pmi")?,
        role_id: RoleId::parse(rows::text(row, "role_id")?).map_err(corrupt)?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
        last_login_at: rows::opt_time(row, "last_login_at")?,
    })
}

/// A time zone given to the store: [`TimeZoneName`]'s rule, refused as [`StoreError::Invalid`].
pub fn parse_timezone(tz: &str) -> Result<TimeZoneName> {
    TimeZoneName::parse(tz).map_err(|e| StoreError::Invalid(e.0))
}

/// A first or last name given to the store: [`PersonName`]'s rule, refused as
/// [`StoreError::Invalid`] naming the field.
fn parse_person_name(what: &str, value: &str) -> Result<PersonName> {
    PersonName::parse(value).map_err(|e| StoreError::Invalid(format!("{what} {e}")))
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn require(conn: &mut Conn, id: &str) -> Result<User> {
    get(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))
}

/// Finds the user with this email in one account, case-insensitively.
pub async fn find_by_email(
    conn: &mut Conn,
    account_id: &str,
    email: &Email,
) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE account_id = $1 AND email_key = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(email.key())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every user with this email, at most one per account, oldest first. For operator tools and
/// sign-in only: anything acting for a tenant asks [`find_by_email`] within its account.
pub async fn with_email(conn: &mut Conn, email: &Email) -> Result<Vec<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email_key = $1 ORDER BY created_at, id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email.key())
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

/// Resolves an id or an email to a user. With `account`, both must name a user of that account;
/// without, an email must name exactly one user in the deployment: one found in several accounts
/// is [`StoreError::AmbiguousEmail`].
pub async fn find(conn: &mut Conn, account: Option<&str>, id_or_email: &str) -> Result<User> {
    let found = match (Email::parse(id_or_email), account) {
        (Ok(email), Some(account)) => find_by_email(conn, account, &email).await?,
        (Ok(email), None) => {
            let mut found = with_email(conn, &email).await?;
            if found.len() > 1 {
                return Err(StoreError::AmbiguousEmail {
                    email: email.to_string(),
                    accounts: found.iter().map(|u| u.account_id.to_string()).collect(),
                });
            }
            found.pop()
        }
        (Err(_), account) => get(conn, id_or_email)
            .await?
            .filter(|user| account.is_none_or(|a| user.account_id.as_str() == a)),
    };
    found.ok_or_else(|| StoreError::not_found("user", id_or_email))
}

/// Filters of `GET /users`.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub status: Option<UserStatus>,
    pub role_id: Option<String>,
}

/// One keyset page of an account's users, ordered by (created_at, id), after `after`; `limit`
/// rows at most.
pub async fn page(
    conn: &mut Conn,
    account_id: &str,
    filter: &UserFilter,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<User>> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, ""));
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE account_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR role_id = $3) \
         AND (created_at > $4 OR (created_at = $4 AND id > $5)) ORDER BY created_at, id LIMIT $6"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(filter.status.map(UserStatus::as_str).unwrap_or(""))
        .bind(filter.role_id.as_deref().unwrap_or(""))
        .bind(after_at)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

/// How many users match (for `total_records`).
pub async fn count(conn: &mut Conn, account_id: &str, filter: &UserFilter) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE account_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR role_id = $3)")
        .bind(account_id)
        .bind(filter.status.map(UserStatus::as_str).unwrap_or(""))
        .bind(filter.role_id.as_deref().unwrap_or(""))
        .fetch_one(&mut *conn)
        .await?)
}

pub async fn list(conn: &mut Conn, account_id: &str) -> Result<Vec<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE account_id = $1 ORDER BY created_at, id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

/// The user of `account_id` holding this email, if any.
async fn email_owner(conn: &mut Conn, account_id: &str, email: &Email) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE account_id = $1 AND email_key = $2")
            .bind(account_id)
            .bind(email.key())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// A personal meeting id: 10 digits, unique in the deployment.
async fn new_pmi(conn: &mut Conn) -> Result<i64> {
    loop {
        let raw = u64::from_le_bytes(secrets::random_bytes::<8>());
        let pmi = 1_000_000_000 + i64::try_from(raw % 9_000_000_000).unwrap_or(0);
        let taken: Option<i64> = sqlx::query_scalar("SELECT pmi FROM users WHERE pmi = $1")
            .bind(pmi)
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_none() {
            return Ok(pmi);
        }
    }
}

/// Creates a user. Returns the generated password when none was given for an active user.
pub async fn insert(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    account_id: &str,
    new: NewUser,
    creation: Creation,
) -> Result<(User, Option<Secret>)> {
    if creation == Creation::Member {
        rules::check_role_assignment(false, new.role_id.as_str())?;
    }
    // Only a missing role is the caller's mistake; a database error stays one (503, not 400).
    if crate::roles::get(conn, account_id, new.role_id.as_str())
        .await?
        .is_none()
    {
        return Err(StoreError::Invalid(format!(
            "role {} does not exist in account {account_id}",
            new.role_id
        )));
    }
    if email_owner(conn, account_id, &new.email).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "the email {} is already used in this account",
            new.email
        )));
    }
    let id = match new.id {
        Some(id) => {
            if get(conn, id.as_str()).await?.is_some() {
                return Err(StoreError::Conflict(format!("user id {id} already exists")));
            }
            id
        }
        None => UserId::parse(secrets::new_id()).map_err(|e| StoreError::Invalid(e.0))?,
    };
    let timezone = parse_timezone(&new.timezone)?;
    let first_name = parse_person_name("first_name", &new.first_name)?;
    let last_name = parse_person_name("last_name", &new.last_name)?;
    let (password, generated) = match new.password {
        Some(given) => (Some(given), None),
        None if new.status == UserStatus::Active => {
            let made = secrets::new_secret();
            (Some(made.clone()), Some(made))
        }
        None => (None, None),
    };
    let password_hash = password
        .as_ref()
        .map(|p| ctx.keys.hash_password(p))
        .transpose()?;
    let pmi = new_pmi(conn).await?;
    sqlx::query(
        "INSERT INTO users (id, account_id, email, email_key, first_name, last_name, user_type, status, timezone, pmi, role_id, \
         password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(id.as_str())
    .bind(account_id)
    .bind(new.email.as_str())
    .bind(new.email.key())
    .bind(first_name.as_str())
    .bind(last_name.as_str())
    .bind(i64::from(new.user_type))
    .bind(new.status.as_str())
    .bind(timezone.as_str())
    .bind(pmi)
    .bind(new.role_id.as_str())
    .bind(password_hash)
    .bind(ctx.now.millis())
    .execute(&mut *conn)
    .await?;
    audit::record(conn, ctx, Entry {
        account_id,
        actor,
        action: "user.created",
        target_kind: "user",
        target_id: id.as_str(),
        details: serde_json::json!({"email": new.email.as_str(), "role_id": new.role_id.as_str(), "status": new.status.as_str()}),
    })
    .await?;
    let user = require(conn, id.as_str()).await?;
    queue_event(conn, ctx, actor, Event::UserCreated, &user, None).await?;
    Ok((user, generated))
}

/// Queues a `user.*` event for the apps that may read the user now ([`crate::outbox`]);
/// `previous` is the user before an update.
async fn queue_event(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    event: Event,
    user: &User,
    previous: Option<&User>,
) -> Result<()> {
    let subject = crate::outbox::Subject {
        account_id: &user.account_id,
        owner_id: &user.id,
        object_id: user.id.as_str().to_owned(),
    };
    let apps = crate::outbox::recipients(conn, event, &subject).await?;
    if apps.is_empty() {
        return Ok(());
    }
    let object = user.object();
    let previous = previous.map(User::object);
    crate::outbox::queue_object_event(
        conn,
        ctx,
        actor,
        event,
        &subject,
        &apps,
        &object,
        previous.as_ref(),
    )
    .await
}

/// Applies a change to a user under the owner invariants. Deactivating ends the user's
/// authorizations (the installations they made stay: they belong to the account).
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &str,
    change: UserChange,
) -> Result<User> {
    let current = require(conn, id).await?;
    let account_id = current.account_id.as_str().to_owned();
    let mut changed = Vec::new();

    let email = match change.email {
        Some(email) if email.as_str() != current.email.as_str() => {
            if email.key() != current.email.key()
                && email_owner(conn, &account_id, &email).await?.is_some()
            {
                return Err(StoreError::Conflict(format!(
                    "the email {email} is already used in this account"
                )));
            }
            changed.push("email");
            email
        }
        _ => current.email.clone(),
    };
    let first_name = match change.first_name {
        Some(v) => parse_person_name("first_name", &v)?,
        None => current.first_name.clone(),
    };
    let last_name = match change.last_name {
        Some(v) => parse_person_name("last_name", &v)?,
        None => current.last_name.clone(),
    };
    if first_name != current.first_name {
        changed.push("first_name");
    }
    if last_name != current.last_name {
        changed.push("last_name");
    }
    let user_type = change.user_type.unwrap_or(current.user_type);
    if user_type != current.user_type {
        changed.push("type");
    }
    let timezone = match change.timezone {
        Some(tz) if current.timezone != tz.as_str() => {
            changed.push("timezone");
            parse_timezone(&tz)?
        }
        _ => current.timezone.clone(),
    };
    let role_id = change.role_id.unwrap_or_else(|| current.role_id.clone());
    if role_id != current.role_id {
        rules::check_role_assignment(current.is_owner(), role_id.as_str())?;
        // NotFound("role"): the API answers it as Zoom's 1034, the CLI as "role … does not exist".
        crate::roles::require(conn, &account_id, role_id.as_str()).await?;
        changed.push("role_id");
    }
    let status = change.status.unwrap_or(current.status);
    if status != current.status {
        if current.is_owner() && status != UserStatus::Active {
            return Err(OwnerRuleViolation::OwnerCannotBeRemoved.into());
        }
        changed.push("status");
    }
    let password_hash = match &change.password {
        Some(password) => {
            changed.push("password");
            Some(ctx.keys.hash_password(password)?)
        }
        None => None,
    };
    if changed.is_empty() {
        return Ok(current);
    }
    sqlx::query(
        "UPDATE users SET email = $1, email_key = $2, first_name = $3, last_name = $4, user_type = $5, timezone = $6, \
         role_id = $7, status = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(email.as_str())
    .bind(email.key())
    .bind(first_name.as_str())
    .bind(last_name.as_str())
    .bind(i64::from(user_type))
    .bind(timezone.as_str())
    .bind(role_id.as_str())
    .bind(status.as_str())
    .bind(ctx.now.millis())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if let Some(hash) = password_hash {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    let action = match () {
        _ if changed.contains(&"role_id") => "user.role_changed",
        _ if status == UserStatus::Inactive && changed.contains(&"status") => "user.deactivated",
        _ if status == UserStatus::Active && changed.contains(&"status") => "user.activated",
        _ => "user.updated",
    };
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: &account_id,
            actor,
            action,
            target_kind: "user",
            target_id: id,
            details: serde_json::json!({
                "changed": changed,
                "role_before": current.role_id.as_str(),
                "role_after": role_id.as_str(),
                "status": status.as_str(),
            }),
        },
    )
    .await?;
    if status == UserStatus::Inactive && current.status != UserStatus::Inactive {
        grants::revoke_matching(
            conn,
            ctx,
            actor,
            grants::Matching::AuthorizationsOf(id),
            "user deactivated",
        )
        .await?;
    }
    // After the user's own authorizations ended: an app whose grant ended with this change hears
    // `app_deauthorized`, not the change itself.
    let user = require(conn, id).await?;
    let event = hooks::user_change_event(current.status, status);
    queue_event(conn, ctx, actor, event, &user, Some(&current)).await?;
    Ok(user)
}

/// Deletes a user (never the owner). Their authorizations end; installations they made stay.
pub async fn delete(conn: &mut Conn, ctx: &Ctx<'_>, actor: &Actor, id: &str) -> Result<()> {
    let user = require(conn, id).await?;
    if user.is_owner() {
        return Err(OwnerRuleViolation::OwnerCannotBeRemoved.into());
    }
    grants::revoke_matching(
        conn,
        ctx,
        actor,
        grants::Matching::AuthorizationsOf(id),
        "user deleted",
    )
    .await?;
    // Routed while the user and her meetings still exist, to the grants still active.
    for meeting in crate::meetings::hosted_by(conn, id).await? {
        crate::meetings::queue_deleted(conn, ctx, actor, &meeting).await?;
    }
    queue_event(conn, ctx, actor, Event::UserDeleted, &user, None).await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM assistants WHERE user_id = $1 OR assistant_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM meetings WHERE host_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE meetings SET assistant_id = NULL WHERE assistant_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE apps SET developer_user_id = NULL WHERE developer_user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: user.account_id.as_str(),
            actor,
            action: "user.deleted",
            target_kind: "user",
            target_id: id,
            details: serde_json::json!({"email": user.email.as_str()}),
        },
    )
    .await
}

/// Moves the Owner role to another user of the same account; the old owner becomes an Admin.
pub async fn transfer_ownership(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    new_owner_id: &str,
) -> Result<User> {
    let new_owner = require(conn, new_owner_id).await?;
    if new_owner.is_owner() {
        return Ok(new_owner);
    }
    if new_owner.status != UserStatus::Active {
        return Err(StoreError::Invalid(
            "ownership can only go to an active user".into(),
        ));
    }
    let account_id = new_owner.account_id.as_str();
    let old_owner: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE account_id = $1 AND role_id = '0'")
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?;
    let old_owner_before = match &old_owner {
        Some(old) => Some(require(conn, old).await?),
        None => None,
    };
    // The old owner steps down first: the schema allows one owner per account at any moment.
    if let Some(old) = &old_owner {
        sqlx::query("UPDATE users SET role_id = '1', updated_at = $1 WHERE id = $2")
            .bind(ctx.now.millis())
            .bind(old)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE users SET role_id = '0', updated_at = $1 WHERE id = $2")
        .bind(ctx.now.millis())
        .bind(new_owner_id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id,
            actor,
            action: "account.ownership_transferred",
            target_kind: "user",
            target_id: new_owner_id,
            details: serde_json::json!({"from": old_owner, "to": new_owner_id}),
        },
    )
    .await?;
    if let Some(before) = old_owner_before {
        let after = require(conn, before.id.as_str()).await?;
        queue_event(conn, ctx, actor, Event::UserUpdated, &after, Some(&before)).await?;
    }
    let after = require(conn, new_owner_id).await?;
    queue_event(
        conn,
        ctx,
        actor,
        Event::UserUpdated,
        &after,
        Some(&new_owner),
    )
    .await?;
    Ok(after)
}

/// A user an email may be signing in as, with the stored password hash to check the password
/// against (none for a user who never set one).
#[derive(Debug, Clone)]
pub struct SignInCandidate {
    pub user: User,
    password_hash: Option<String>,
}

/// Every user whose email this is (at most one per account: the same address may be a user of
/// several accounts), each with their stored password hash. Reads only: the slow password check
/// runs after the connection is back in the pool ([`matching_candidates`]).
pub async fn sign_in_candidates(conn: &mut Conn, email: &Email) -> Result<Vec<SignInCandidate>> {
    let sql = format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE email_key = $1 ORDER BY created_at, id"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email.key())
        .fetch_all(&mut *conn)
        .await?;
    found
        .iter()
        .map(|row| {
            Ok(SignInCandidate {
                user: from_row(row)?,
                password_hash: rows::opt_text(row, "password_hash")?,
            })
        })
        .collect()
}

/// The candidates whose password this is: none, one, or several when the same address and
/// password are a user of several accounts (the sign-in page then asks which account). Every
/// candidate costs one Argon2id verification, and
/// no candidate at all (an unknown email) costs one verification against the dummy hash made at
/// start, as does a candidate without a password: so the time an attempt takes does not tell
/// whether the email exists. Slow on purpose (tens of milliseconds at the default cost): the
/// server runs it on its password-check workers, in each worker's own `memory`, never while
/// holding a database connection.
pub fn matching_candidates(
    keys: &Keys,
    memory: &mut PasswordMemory,
    candidates: Vec<SignInCandidate>,
    password: &Secret,
) -> Vec<User> {
    if candidates.is_empty() {
        keys.password_matches_in(memory, password, keys.dummy_password_hash());
        return Vec::new();
    }
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let phc = candidate.password_hash.as_deref();
            let verified = keys.password_matches_in(
                memory,
                password,
                phc.unwrap_or(keys.dummy_password_hash()),
            );
            (verified && phc.is_some()).then_some(candidate.user)
        })
        .collect()
}

impl Store {
    pub async fn create_user(
        &self,
        actor: &Actor,
        account_id: &str,
        new: NewUser,
    ) -> Result<(User, Option<Secret>)> {
        let mut tx = self.begin().await?;
        crate::accounts::require(&mut tx, account_id).await?;
        let created = insert(
            &mut tx,
            &self.ctx(),
            actor,
            account_id,
            new,
            Creation::Member,
        )
        .await?;
        self.commit(tx).await?;
        Ok(created)
    }

    /// A user by id, from the access view when it remembers the row (see [`crate::view`]: every
    /// change to a user's row makes every node forget it), else read and remembered.
    pub async fn user(&self, id: &str) -> Result<User> {
        let ticket = match self.view().profile(id) {
            Ok(user) => return Ok(User::clone(&user)),
            Err(ticket) => ticket,
        };
        let mut conn = self.pool().acquire().await?;
        let user = require(&mut conn, id).await?;
        self.view()
            .remember_profile(ticket, std::sync::Arc::new(user.clone()));
        Ok(user)
    }

    /// A user by id, or by an email that names exactly one user in the deployment (else
    /// [`StoreError::AmbiguousEmail`]): for operator tools, which see every account.
    pub async fn find_user(&self, id_or_email: &str) -> Result<User> {
        let mut conn = self.pool().acquire().await?;
        find(&mut conn, None, id_or_email).await
    }

    /// A user of one account by id or email; a user of another account reads as missing.
    pub async fn find_user_in(&self, account_id: &str, id_or_email: &str) -> Result<User> {
        let mut conn = self.pool().acquire().await?;
        find(&mut conn, Some(account_id), id_or_email).await
    }

    /// The user with this email in one account, if any.
    pub async fn user_by_email(&self, account_id: &str, email: &Email) -> Result<Option<User>> {
        let mut conn = self.pool().acquire().await?;
        find_by_email(&mut conn, account_id, email).await
    }

    /// One keyset page of users and the total count.
    pub async fn users_page(
        &self,
        account_id: &str,
        filter: &UserFilter,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<(Vec<User>, i64)> {
        let mut conn = self.pool().acquire().await?;
        let users = page(&mut conn, account_id, filter, after, limit).await?;
        let total = count(&mut conn, account_id, filter).await?;
        Ok((users, total))
    }

    pub async fn users(&self, account_id: &str) -> Result<Vec<User>> {
        let mut conn = self.pool().acquire().await?;
        list(&mut conn, account_id).await
    }

    pub async fn update_user(&self, actor: &Actor, id: &str, change: UserChange) -> Result<User> {
        let mut tx = self.begin().await?;
        let user = update(&mut tx, &self.ctx(), actor, id, change).await?;
        self.commit(tx).await?;
        Ok(user)
    }

    /// The same change to several users, all or none (one transaction).
    pub async fn update_users(
        &self,
        actor: &Actor,
        ids: &[&str],
        change: &UserChange,
    ) -> Result<Vec<User>> {
        let mut tx = self.begin().await?;
        let mut updated = Vec::with_capacity(ids.len());
        for id in ids {
            updated.push(update(&mut tx, &self.ctx(), actor, id, change.clone()).await?);
        }
        self.commit(tx).await?;
        Ok(updated)
    }

    pub async fn delete_user(&self, actor: &Actor, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        delete(&mut tx, &self.ctx(), actor, id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    pub async fn transfer_ownership(&self, actor: &Actor, new_owner_id: &str) -> Result<User> {
        let mut tx = self.begin().await?;
        let user = transfer_ownership(&mut tx, &self.ctx(), actor, new_owner_id).await?;
        self.commit(tx).await?;
        Ok(user)
    }

    /// Every user this email may be signing in as, with their password hashes; the connection
    /// is released before this returns.
    pub async fn sign_in_candidates(&self, email: &Email) -> Result<Vec<SignInCandidate>> {
        let mut conn = self.pool().acquire().await?;
        sign_in_candidates(&mut conn, email).await
    }

    /// Every user with this email whose password this is: [`Store::sign_in_candidates`] and then
    /// [`matching_candidates`] on the calling thread. For tools and tests; the server runs the
    /// check on its password-check workers instead.
    pub async fn check_password(&self, email: &Email, password: &Secret) -> Result<Vec<User>> {
        let candidates = self.sign_in_candidates(email).await?;
        let mut memory = PasswordMemory::default();
        Ok(matching_candidates(
            self.keys(),
            &mut memory,
            candidates,
            password,
        ))
    }
}
