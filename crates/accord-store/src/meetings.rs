//! Meetings: creation with a random 10–11 digit id, reading back (occurrences recomputed from the
//! stored recurrence), partial updates re-validated as a whole, deletion, and keyset listing per
//! host with Zoom's `type` filter. Every change writes its audit entry in the same transaction.
//!
//! Listing (`GET /users/{userId}/meetings`), decided here since Zoom's wording is loose:
//! - `scheduled`: every meeting of the host except instant ones (types 2, 3, 8), past or not;
//! - `upcoming`: every meeting not over yet at `now` (its end, or its last occurrence's end, is at
//!   or after `now`; a meeting without a fixed time is never over), instant ones included;
//! - `previous_meetings`: every meeting over before `now`.
//!
//! Pages are ordered by the meeting's start (its creation time when it has no fixed time), then
//! id; `from` / `to` bound that same key (`from` inclusive, `to` exclusive).

use accord_core::clock::Timestamp;
use accord_core::ids::{AccountId, UserId};
use accord_core::meetings::{
    Defaults, MeetingDraft, MeetingInput, MeetingObject, MeetingType, RecurrenceDraft,
};
use accord_core::webhooks::Event;
use serde::Serialize;
use sqlx::any::AnyRow;

use crate::audit::{self, Actor, Entry};
use crate::error::{Result, StoreError};
use crate::{Conn, Ctx, Store, rows, secrets};

/// A stored meeting. Not `Serialize`: the API renders Zoom's object from it (with join URLs).
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    /// Zoom's meeting number: 10–11 digits, unique in the deployment.
    pub id: i64,
    /// 22 URL-safe characters, unique in the deployment.
    pub uuid: String,
    pub account_id: AccountId,
    pub host_id: UserId,
    /// Who scheduled the meeting for the host, when an assistant did.
    pub assistant_id: Option<UserId>,
    /// Always `waiting` for now.
    pub status: String,
    /// The passcode (generated at creation when none was given).
    pub password: String,
    /// Topic, type, times, settings, recurrence and occurrences, as validated.
    pub input: MeetingInput,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Meeting {
    /// The listing key: the start, or the creation time for a meeting without a fixed time.
    pub fn sort_key(&self) -> ListKey {
        ListKey {
            sort_at: self.input.start_time().unwrap_or(self.created_at).millis(),
            id: self.id,
        }
    }

    /// `{base}/j/{id}?pwd={password}`: where participants join.
    pub fn join_url(&self, base: &str) -> String {
        format!(
            "{}/j/{}?pwd={}",
            base.trim_end_matches('/'),
            self.id,
            self.password
        )
    }

    /// `{base}/s/{id}`: where the host starts the meeting (signing in proves who they are).
    pub fn start_url(&self, base: &str) -> String {
        format!("{}/s/{}", base.trim_end_matches('/'), self.id)
    }

    /// The meeting as the API shows it and webhook events carry it; `base` is the public URL the
    /// join and start links start with.
    pub fn object(&self, base: &str, host_email: &str) -> MeetingObject {
        let input = &self.input;
        MeetingObject {
            uuid: self.uuid.clone(),
            id: self.id,
            host_id: self.host_id.as_str().to_owned(),
            host_email: host_email.to_owned(),
            assistant_id: self.assistant_id.as_ref().map(|a| a.as_str().to_owned()),
            topic: input.topic().to_owned(),
            meeting_type: input.meeting_type().number(),
            status: self.status.clone(),
            start_time: input.start_time().map(|t| t.rfc3339()),
            duration: input.duration(),
            timezone: input.timezone().to_owned(),
            agenda: input.agenda().to_owned(),
            created_at: self.created_at.rfc3339(),
            password: self.password.clone(),
            join_url: self.join_url(base),
            start_url: self.start_url(base),
            settings: input.settings().clone(),
            recurrence: input.recurrence().map(|r| r.to_draft()),
            occurrences: (input.meeting_type() == MeetingType::RecurringFixedTime)
                .then(|| input.occurrences().to_vec()),
        }
    }
}

/// A meeting to create.
#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub host_id: UserId,
    /// Set when an assistant schedules the meeting for the host (the caller checked the right).
    pub assistant_id: Option<UserId>,
    pub draft: MeetingDraft,
}

/// Zoom's `type` filter of the meeting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Scheduled,
    Upcoming,
    PreviousMeetings,
}

impl ListType {
    /// Parses Zoom's names (`scheduled`, `upcoming`, `previous_meetings`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "scheduled" => Some(ListType::Scheduled),
            "upcoming" => Some(ListType::Upcoming),
            "previous_meetings" => Some(ListType::PreviousMeetings),
            _ => None,
        }
    }
}

/// Which of a host's meetings to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFilter {
    pub list_type: ListType,
    /// Only meetings whose listing key is at or after this.
    pub from: Option<Timestamp>,
    /// Only meetings whose listing key is before this.
    pub to: Option<Timestamp>,
}

impl ListFilter {
    /// A filter of one type without date bounds.
    pub fn of(list_type: ListType) -> Self {
        ListFilter {
            list_type,
            from: None,
            to: None,
        }
    }
}

/// A position in a listing: the last meeting a page showed. The next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ListKey {
    pub sort_at: i64,
    pub id: i64,
}

const COLUMNS: &str = "id, uuid, account_id, host_id, assistant_id, topic, meeting_type, status, \
     start_time, duration, timezone, agenda, password, settings, recurrence, created_at, updated_at";

/// The smallest and largest meeting ids: every one has 10 or 11 digits.
pub const MIN_ID: i64 = 1_000_000_000;
pub const MAX_ID: i64 = 99_999_999_999;

fn from_row(row: &AnyRow) -> Result<Meeting> {
    let corrupt = |e: accord_core::ids::InvalidValue| StoreError::Corrupt(e.0);
    let id = rows::int(row, "id")?;
    let password = rows::text(row, "password")?;
    let recurrence: Option<RecurrenceDraft> = match rows::opt_text(row, "recurrence")? {
        Some(raw) => Some(
            serde_json::from_str(&raw)
                .map_err(|e| StoreError::Corrupt(format!("meeting {id} recurrence: {e}")))?,
        ),
        None => None,
    };
    let created_at = rows::time(row, "created_at")?;
    let timezone = rows::text(row, "timezone")?;
    let draft = MeetingDraft {
        topic: Some(rows::text(row, "topic")?),
        meeting_type: Some(rows::int(row, "meeting_type")?),
        start_time: rows::opt_time(row, "start_time")?.map(Timestamp::rfc3339),
        duration: Some(rows::int(row, "duration")?),
        timezone: Some(timezone.clone()),
        agenda: Some(rows::text(row, "agenda")?),
        password: Some(password.clone()),
        settings: Some(rows::json(row, "settings")?),
        recurrence,
    };
    let input = MeetingInput::validate(
        &draft,
        Defaults {
            timezone: &timezone,
            now: created_at,
        },
    )
    .map_err(|e| StoreError::Corrupt(format!("meeting {id}: {e}")))?;
    Ok(Meeting {
        id,
        uuid: rows::text(row, "uuid")?,
        account_id: AccountId::parse(rows::text(row, "account_id")?).map_err(corrupt)?,
        host_id: UserId::parse(rows::text(row, "host_id")?).map_err(corrupt)?,
        assistant_id: rows::opt_text(row, "assistant_id")?
            .map(UserId::parse)
            .transpose()
            .map_err(corrupt)?,
        status: rows::text(row, "status")?,
        password,
        input,
        created_at,
        updated_at: rows::time(row, "updated_at")?,
    })
}

/// A passcode of 8 characters from `A–Z a–z 0–9` (Zoom generates one when none is given).
fn new_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    secrets::random_bytes::<8>()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn new_meeting_id() -> i64 {
    let raw = u64::from_le_bytes(secrets::random_bytes::<8>());
    let span = u64::try_from(MAX_ID - MIN_ID + 1).unwrap_or(1);
    MIN_ID + i64::try_from(raw % span).unwrap_or(0)
}

/// The columns derived from the validated fields, in insert/update order.
struct Derived {
    settings: String,
    recurrence: Option<String>,
    sort_at: i64,
    ends_at: Option<i64>,
}

fn derive(input: &MeetingInput, created_at: Timestamp) -> Derived {
    Derived {
        settings: rows::to_json(input.settings()),
        recurrence: input.recurrence().map(|r| rows::to_json(&r.to_draft())),
        sort_at: input.start_time().unwrap_or(created_at).millis(),
        ends_at: input.ends_at().map(Timestamp::millis),
    }
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Meeting>> {
    let sql = format!("SELECT {COLUMNS} FROM meetings WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn require(conn: &mut Conn, id: i64) -> Result<Meeting> {
    get(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found("meeting", id.to_string()))
}

/// Creates a meeting for its host, in the host's account. A missing time zone is the host's
/// (UTC when the host's is unknown to the tz database); a missing passcode is generated.
pub async fn insert(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    new: NewMeeting,
) -> Result<Meeting> {
    let host = crate::users::require(conn, new.host_id.as_str()).await?;
    if let Some(assistant) = &new.assistant_id {
        let scheduler = crate::users::require(conn, assistant.as_str()).await?;
        if scheduler.account_id != host.account_id {
            return Err(StoreError::Invalid(format!(
                "user {assistant} cannot schedule for a user of another account"
            )));
        }
    }
    let host_timezone = if host.timezone.is_known() {
        host.timezone.as_str()
    } else {
        "UTC"
    };
    let mut draft = new.draft;
    if draft.password.is_none() {
        draft.password = Some(new_password());
    }
    let input = MeetingInput::validate(
        &draft,
        Defaults {
            timezone: host_timezone,
            now: ctx.now,
        },
    )?;
    let password = input.password().unwrap_or_default().to_owned();
    let derived = derive(&input, ctx.now);
    let uuid = secrets::new_id();
    // A random id may be taken: try another. ON CONFLICT keeps a PostgreSQL transaction usable.
    let mut inserted = None;
    for _ in 0..16 {
        let id = new_meeting_id();
        let done = sqlx::query(
            "INSERT INTO meetings (id, uuid, account_id, host_id, assistant_id, topic, meeting_type, status, \
             start_time, duration, timezone, agenda, password, settings, recurrence, sort_at, ends_at, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting', $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&uuid)
        .bind(host.account_id.as_str())
        .bind(host.id.as_str())
        .bind(new.assistant_id.as_ref().map(UserId::as_str))
        .bind(input.topic())
        .bind(input.meeting_type().number())
        .bind(input.start_time().map(Timestamp::millis))
        .bind(i64::from(input.duration()))
        .bind(input.timezone())
        .bind(input.agenda())
        .bind(&password)
        .bind(&derived.settings)
        .bind(derived.recurrence.as_deref())
        .bind(derived.sort_at)
        .bind(derived.ends_at)
        .bind(ctx.now.millis())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            inserted = Some(id);
            break;
        }
    }
    let id = inserted
        .ok_or_else(|| StoreError::Conflict("no free meeting id was found; try again".into()))?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: host.account_id.as_str(),
            actor,
            action: "meeting.created",
            target_kind: "meeting",
            target_id: &id.to_string(),
            details: serde_json::json!({
                "host_id": host.id.as_str(),
                "assistant_id": new.assistant_id.as_ref().map(UserId::as_str),
                "type": input.meeting_type().number(),
                "topic": input.topic(),
            }),
        },
    )
    .await?;
    let meeting = require(conn, id).await?;
    queue_event(conn, ctx, actor, Event::MeetingCreated, &meeting, None).await?;
    Ok(meeting)
}

/// Applies a partial change: the fields `change` sets replace the meeting's (settings field by
/// field, a recurrence whole), and the result is validated as a whole. Nothing changed, nothing
/// written.
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: i64,
    change: &MeetingDraft,
) -> Result<Meeting> {
    let current = require(conn, id).await?;
    let merged = current.input.to_draft().merged(change);
    let input = MeetingInput::validate(
        &merged,
        Defaults {
            timezone: current.input.timezone(),
            now: ctx.now,
        },
    )?;
    let changed = input.changed_fields(&current.input);
    if changed.is_empty() {
        return Ok(current);
    }
    let derived = derive(&input, current.created_at);
    sqlx::query(
        "UPDATE meetings SET topic = $1, meeting_type = $2, start_time = $3, duration = $4, timezone = $5, \
         agenda = $6, password = $7, settings = $8, recurrence = $9, sort_at = $10, ends_at = $11, \
         updated_at = $12 WHERE id = $13",
    )
    .bind(input.topic())
    .bind(input.meeting_type().number())
    .bind(input.start_time().map(Timestamp::millis))
    .bind(i64::from(input.duration()))
    .bind(input.timezone())
    .bind(input.agenda())
    .bind(input.password().unwrap_or(&current.password))
    .bind(&derived.settings)
    .bind(derived.recurrence.as_deref())
    .bind(derived.sort_at)
    .bind(derived.ends_at)
    .bind(ctx.now.millis())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: current.account_id.as_str(),
            actor,
            action: "meeting.updated",
            target_kind: "meeting",
            target_id: &id.to_string(),
            details: serde_json::json!({"host_id": current.host_id.as_str(), "changed": changed}),
        },
    )
    .await?;
    let meeting = require(conn, id).await?;
    queue_event(
        conn,
        ctx,
        actor,
        Event::MeetingUpdated,
        &meeting,
        Some(&current),
    )
    .await?;
    Ok(meeting)
}

pub async fn delete(conn: &mut Conn, ctx: &Ctx<'_>, actor: &Actor, id: i64) -> Result<()> {
    let meeting = require(conn, id).await?;
    queue_event(conn, ctx, actor, Event::MeetingDeleted, &meeting, None).await?;
    sqlx::query("DELETE FROM meetings WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        Entry {
            account_id: meeting.account_id.as_str(),
            actor,
            action: "meeting.deleted",
            target_kind: "meeting",
            target_id: &id.to_string(),
            details: serde_json::json!({
                "host_id": meeting.host_id.as_str(),
                "topic": meeting.input.topic(),
            }),
        },
    )
    .await
}

/// Queues a `meeting.*` event for the apps that may read the meeting now ([`crate::outbox`]);
/// `previous` is the meeting before an update. The object is rendered only when someone receives it.
async fn queue_event(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    event: Event,
    meeting: &Meeting,
    previous: Option<&Meeting>,
) -> Result<()> {
    let subject = crate::outbox::Subject {
        account_id: &meeting.account_id,
        owner_id: &meeting.host_id,
        object_id: meeting.id.to_string(),
    };
    let apps = crate::outbox::recipients(conn, event, &subject).await?;
    if apps.is_empty() {
        return Ok(());
    }
    let host_email = crate::users::require(conn, meeting.host_id.as_str())
        .await?
        .email
        .to_string();
    let base = crate::outbox::public_url(conn).await?;
    let object = meeting.object(&base, &host_email);
    let previous = previous.map(|m| m.object(&base, &host_email));
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

/// Every meeting a user hosts (when the user is deleted, each raises `meeting.deleted`).
pub(crate) async fn hosted_by(conn: &mut Conn, host_id: &str) -> Result<Vec<Meeting>> {
    let sql = format!("SELECT {COLUMNS} FROM meetings WHERE host_id = $1 ORDER BY sort_at, id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(host_id)
        .fetch_all(&mut *conn)
        .await?;
    found.iter().map(from_row).collect()
}

/// Queues `meeting.deleted` for a meeting about to be removed with its host.
pub(crate) async fn queue_deleted(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    actor: &Actor,
    meeting: &Meeting,
) -> Result<()> {
    queue_event(conn, ctx, actor, Event::MeetingDeleted, meeting, None).await
}

/// The WHERE clause of a listing and its integer parameters (`$1` is always the host id).
fn conditions(now: Timestamp, filter: &ListFilter) -> (String, Vec<i64>) {
    let mut clause = String::from("host_id = $1");
    let mut binds = Vec::new();
    let next = |binds: &mut Vec<i64>, value: i64| {
        binds.push(value);
        format!("${}", binds.len() + 1)
    };
    match filter.list_type {
        ListType::Scheduled => clause.push_str(" AND meeting_type <> 1"),
        ListType::Upcoming => {
            let p = next(&mut binds, now.millis());
            clause.push_str(&format!(" AND (ends_at IS NULL OR ends_at >= {p})"));
        }
        ListType::PreviousMeetings => {
            let p = next(&mut binds, now.millis());
            clause.push_str(&format!(" AND ends_at < {p}"));
        }
    }
    if let Some(from) = filter.from {
        let p = next(&mut binds, from.millis());
        clause.push_str(&format!(" AND sort_at >= {p}"));
    }
    if let Some(to) = filter.to {
        let p = next(&mut binds, to.millis());
        clause.push_str(&format!(" AND sort_at < {p}"));
    }
    (clause, binds)
}

/// One page of a host's meetings after `after` (from the start when `None`), at most `limit`
/// (at least 1), and the key to continue from when more follow. Pages stay consistent while
/// meetings are added or removed in between: each starts strictly after the last one shown.
pub async fn list(
    conn: &mut Conn,
    now: Timestamp,
    host_id: &str,
    filter: &ListFilter,
    after: Option<ListKey>,
    limit: u32,
) -> Result<(Vec<Meeting>, Option<ListKey>)> {
    let (mut clause, mut binds) = conditions(now, filter);
    if let Some(key) = after {
        let a = binds.len() + 2;
        clause.push_str(&format!(
            " AND (sort_at > ${a} OR (sort_at = ${a} AND id > ${}))",
            a + 1
        ));
        binds.push(key.sort_at);
        binds.push(key.id);
    }
    let limit = i64::from(limit.max(1));
    let sql = format!(
        "SELECT {COLUMNS} FROM meetings WHERE {clause} ORDER BY sort_at, id LIMIT ${}",
        binds.len() + 2
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(host_id);
    for value in binds {
        query = query.bind(value);
    }
    let found = query.bind(limit + 1).fetch_all(&mut *conn).await?;
    let mut meetings = found.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let more = meetings.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    meetings.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        meetings.last().map(Meeting::sort_key)
    } else {
        None
    };
    Ok((meetings, next))
}

/// How many of a host's meetings the filter matches (Zoom's `total_records`).
pub async fn count(
    conn: &mut Conn,
    now: Timestamp,
    host_id: &str,
    filter: &ListFilter,
) -> Result<i64> {
    let (clause, binds) = conditions(now, filter);
    let sql = format!("SELECT COUNT(*) FROM meetings WHERE {clause}");
    let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(host_id);
    for value in binds {
        query = query.bind(value);
    }
    Ok(query.fetch_one(&mut *conn).await?)
}

impl Store {
    /// Creates a meeting; the audit entry `meeting.created` names `actor`.
    pub async fn create_meeting(&self, actor: &Actor, new: NewMeeting) -> Result<Meeting> {
        let mut tx = self.begin().await?;
        let meeting = insert(&mut tx, &self.ctx(), actor, new).await?;
        self.commit(tx).await?;
        Ok(meeting)
    }

    pub async fn meeting(&self, id: i64) -> Result<Meeting> {
        let mut conn = self.pool().acquire().await?;
        require(&mut conn, id).await
    }

    pub async fn update_meeting(
        &self,
        actor: &Actor,
        id: i64,
        change: &MeetingDraft,
    ) -> Result<Meeting> {
        let mut tx = self.begin().await?;
        let meeting = update(&mut tx, &self.ctx(), actor, id, change).await?;
        self.commit(tx).await?;
        Ok(meeting)
    }

    pub async fn delete_meeting(&self, actor: &Actor, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        delete(&mut tx, &self.ctx(), actor, id).await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// One page of a host's meetings, judged against the store's clock.
    pub async fn meetings(
        &self,
        host_id: &str,
        filter: &ListFilter,
        after: Option<ListKey>,
        limit: u32,
    ) -> Result<(Vec<Meeting>, Option<ListKey>)> {
        let mut conn = self.pool().acquire().await?;
        list(&mut conn, self.now(), host_id, filter, after, limit).await
    }

    /// How many meetings [`Store::meetings`] pages through.
    pub async fn count_meetings(&self, host_id: &str, filter: &ListFilter) -> Result<i64> {
        let mut conn = self.pool().acquire().await?;
        count(&mut conn, self.now(), host_id, filter).await
    }
}
