//! Meetings as Zoom's API describes them (api.md, "Meeting"): the four meeting types, the settings,
//! start times read in the meeting's time zone, and recurrences with their occurrences.
//!
//! A request body arrives as a [`MeetingDraft`] (every field optional, Zoom's JSON shape) and becomes
//! a [`MeetingInput`] only through [`MeetingInput::validate`], which reports the first bad field as
//! a [`FieldError`]. The tz database is compiled in (jiff's bundled copy), so a result never depends
//! on the machine, and nothing here reads a file or the clock: "now" is passed in.
//!
//! Decisions on points Zoom leaves open:
//! - A monthly recurrence on a day a month lacks (31 in April, 29–31 in February) skips that month;
//!   skipped months are not counted towards `end_times`.
//! - A local time that falls in a daylight-saving gap moves forward by the gap (02:30 on the day
//!   clocks jump 02:00→03:00 becomes 03:30); one that occurs twice takes the earlier instant.
//! - `end_date_time` is an instant: occurrences starting at or before it are kept.
//! - A weekly recurrence starts in the week of `start_time` (weeks begin on Sunday, as Zoom's
//!   numbering does) and keeps only days at or after the start date; `start_time` itself is kept
//!   as given even when its weekday is not one of `weekly_days`.
//! - Types 1 and 2 ignore a `recurrence` (as Zoom does); type 3 keeps and checks it but has no
//!   occurrences (it has no fixed time); type 8 requires both `start_time` and `recurrence`.
//! - Zoom's `monthly_week`/`monthly_week_day` are refused with a message saying so.

use std::fmt;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// A validation failure naming the request field at fault (`recurrence.weekly_days`, `topic`),
/// ready for Zoom's `{"code":300,"errors":[{"field","message"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    field: &'static str,
    message: String,
}

impl FieldError {
    /// A failure of `field`, explained by `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }

    /// The field's name as the request spells it, dotted for nested objects.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What was wrong and what is expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Zoom's meeting types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum MeetingType {
    /// 1: started now, no schedule.
    Instant = 1,
    /// 2: one meeting at a start time.
    Scheduled = 2,
    /// 3: recurring, usable at any time.
    RecurringNoFixedTime = 3,
    /// 8: recurring, with occurrences at fixed times.
    RecurringFixedTime = 8,
}

impl MeetingType {
    /// Zoom's number for the type.
    pub fn number(self) -> i64 {
        self as i64
    }
}

impl TryFrom<i64> for MeetingType {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(MeetingType::Instant),
            2 => Ok(MeetingType::Scheduled),
            3 => Ok(MeetingType::RecurringNoFixedTime),
            8 => Ok(MeetingType::RecurringFixedTime),
            other => Err(format!(
                "must be 1 (instant), 2 (scheduled), 3 (recurring, no fixed time) or 8 (recurring, fixed time), not {other}"
            )),
        }
    }
}

impl From<MeetingType> for i64 {
    fn from(value: MeetingType) -> i64 {
        value.number()
    }
}

/// Who may join without approval: 0 approve automatically, 1 approve manually, 2 no registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum ApprovalType {
    Automatic = 0,
    Manual = 1,
    NoRegistration = 2,
}

impl TryFrom<i64> for ApprovalType {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(ApprovalType::Automatic),
            1 => Ok(ApprovalType::Manual),
            2 => Ok(ApprovalType::NoRegistration),
            other => Err(format!(
                "must be 0 (automatic), 1 (manual) or 2 (no registration), not {other}"
            )),
        }
    }
}

impl From<ApprovalType> for i64 {
    fn from(value: ApprovalType) -> i64 {
        value as i64
    }
}

/// Where a meeting is recorded automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AutoRecording {
    Local,
    Cloud,
    None,
}

impl AutoRecording {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "local" => Some(AutoRecording::Local),
            "cloud" => Some(AutoRecording::Cloud),
            "none" => Some(AutoRecording::None),
            _ => None,
        }
    }
}

/// A meeting's settings, every one set (defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    pub host_video: bool,
    pub participant_video: bool,
    pub join_before_host: bool,
    pub mute_upon_entry: bool,
    pub waiting_room: bool,
    /// 0 approve automatically, 1 approve manually, 2 no registration.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0, maximum = 2))]
    pub approval_type: ApprovalType,
    pub auto_recording: AutoRecording,
    /// Emails or ids separated by commas or semicolons, as Zoom takes them.
    pub alternative_hosts: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host_video: false,
            participant_video: false,
            join_before_host: false,
            mute_upon_entry: false,
            waiting_room: false,
            approval_type: ApprovalType::NoRegistration,
            auto_recording: AutoRecording::None,
            alternative_hosts: String::new(),
        }
    }
}

/// Settings as a request sends them: any subset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsDraft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_video: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_video: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_before_host: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_upon_entry: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_room: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_recording: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative_hosts: Option<String>,
}

impl SettingsDraft {
    /// Every field of these settings as a draft, for merging a partial change over them.
    pub fn from_settings(settings: &Settings) -> Self {
        SettingsDraft {
            host_video: Some(settings.host_video),
            participant_video: Some(settings.participant_video),
            join_before_host: Some(settings.join_before_host),
            mute_upon_entry: Some(settings.mute_upon_entry),
            waiting_room: Some(settings.waiting_room),
            approval_type: Some(i64::from(settings.approval_type)),
            auto_recording: Some(
                match settings.auto_recording {
                    AutoRecording::Local => "local",
                    AutoRecording::Cloud => "cloud",
                    AutoRecording::None => "none",
                }
                .to_owned(),
            ),
            alternative_hosts: Some(settings.alternative_hosts.clone()),
        }
    }

    /// These settings with every field `over` sets replacing this one's.
    pub fn merged(&self, over: &SettingsDraft) -> SettingsDraft {
        SettingsDraft {
            host_video: over.host_video.or(self.host_video),
            participant_video: over.participant_video.or(self.participant_video),
            join_before_host: over.join_before_host.or(self.join_before_host),
            mute_upon_entry: over.mute_upon_entry.or(self.mute_upon_entry),
            waiting_room: over.waiting_room.or(self.waiting_room),
            approval_type: over.approval_type.or(self.approval_type),
            auto_recording: over
                .auto_recording
                .clone()
                .or_else(|| self.auto_recording.clone()),
            alternative_hosts: over
                .alternative_hosts
                .clone()
                .or_else(|| self.alternative_hosts.clone()),
        }
    }

    fn validate(&self) -> Result<Settings, FieldError> {
        let defaults = Settings::default();
        let approval_type = match self.approval_type {
            Some(n) => ApprovalType::try_from(n)
                .map_err(|m| FieldError::new("settings.approval_type", m))?,
            None => defaults.approval_type,
        };
        let auto_recording = match &self.auto_recording {
            Some(s) => AutoRecording::parse(s).ok_or_else(|| {
                FieldError::new(
                    "settings.auto_recording",
                    format!("must be \"local\", \"cloud\" or \"none\", not {s:?}"),
                )
            })?,
            None => defaults.auto_recording,
        };
        let alternative_hosts = self.alternative_hosts.clone().unwrap_or_default();
        if alternative_hosts.chars().count() > 1024
            || alternative_hosts.chars().any(char::is_control)
        {
            return Err(FieldError::new(
                "settings.alternative_hosts",
                "must be at most 1024 printable characters",
            ));
        }
        Ok(Settings {
            host_video: self.host_video.unwrap_or(defaults.host_video),
            participant_video: self.participant_video.unwrap_or(defaults.participant_video),
            join_before_host: self.join_before_host.unwrap_or(defaults.join_before_host),
            mute_upon_entry: self.mute_upon_entry.unwrap_or(defaults.mute_upon_entry),
            waiting_room: self.waiting_room.unwrap_or(defaults.waiting_room),
            approval_type,
            auto_recording,
            alternative_hosts,
        })
    }
}

/// How often a recurring meeting repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum RecurrenceType {
    Daily = 1,
    Weekly = 2,
    Monthly = 3,
}

impl RecurrenceType {
    /// The largest `repeat_interval` Zoom allows for this type.
    pub fn max_interval(self) -> i64 {
        match self {
            RecurrenceType::Daily => 90,
            RecurrenceType::Weekly => 12,
            RecurrenceType::Monthly => 3,
        }
    }
}

impl TryFrom<i64> for RecurrenceType {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(RecurrenceType::Daily),
            2 => Ok(RecurrenceType::Weekly),
            3 => Ok(RecurrenceType::Monthly),
            other => Err(format!(
                "must be 1 (daily), 2 (weekly) or 3 (monthly), not {other}"
            )),
        }
    }
}

impl From<RecurrenceType> for i64 {
    fn from(value: RecurrenceType) -> i64 {
        value as i64
    }
}

/// The most occurrences one recurring meeting may have (Zoom's limit).
pub const MAX_OCCURRENCES: usize = 60;

/// A recurrence as a request sends it (Zoom's shape); also how it is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecurrenceDraft {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub recurrence_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<i64>,
    /// Comma-separated days, 1 = Sunday … 7 = Saturday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_days: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_day: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_week: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_week_day: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_times: Option<i64>,
    /// `yyyy-MM-ddTHH:mm:ssZ`, or a local time in the meeting's time zone without `Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
}

/// When a recurrence ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecurrenceEnd {
    /// After this many occurrences (1–60).
    Times(u32),
    /// With the last occurrence starting at or before this instant.
    DateTime(Timestamp),
}

/// A checked recurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub recurrence_type: RecurrenceType,
    pub repeat_interval: u32,
    /// Days of the week for weekly recurrences, 1 = Sunday … 7 = Saturday, ascending, no repeats.
    pub weekly_days: Vec<u8>,
    /// Day of the month (1–31) for monthly recurrences.
    pub monthly_day: Option<u8>,
    pub end: RecurrenceEnd,
}

impl Recurrence {
    /// Zoom's JSON shape, with times in UTC.
    pub fn to_draft(&self) -> RecurrenceDraft {
        let weekly_days = (!self.weekly_days.is_empty()).then(|| {
            self.weekly_days
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(",")
        });
        let (end_times, end_date_time) = match self.end {
            RecurrenceEnd::Times(n) => (Some(i64::from(n)), None),
            RecurrenceEnd::DateTime(at) => (None, Some(at.rfc3339())),
        };
        RecurrenceDraft {
            recurrence_type: Some(i64::from(self.recurrence_type)),
            repeat_interval: Some(i64::from(self.repeat_interval)),
            weekly_days,
            monthly_day: self.monthly_day.map(i64::from),
            monthly_week: None,
            monthly_week_day: None,
            end_times,
            end_date_time,
        }
    }
}

impl Serialize for Recurrence {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_draft().serialize(serializer)
    }
}

impl RecurrenceDraft {
    fn validate(&self, tz: &TimeZone) -> Result<Recurrence, FieldError> {
        let recurrence_type = match self.recurrence_type {
            Some(n) => {
                RecurrenceType::try_from(n).map_err(|m| FieldError::new("recurrence.type", m))?
            }
            None => return Err(FieldError::new("recurrence.type", "is required")),
        };
        let interval = self.repeat_interval.unwrap_or(1);
        let max = recurrence_type.max_interval();
        if !(1..=max).contains(&interval) {
            return Err(FieldError::new(
                "recurrence.repeat_interval",
                format!("must be between 1 and {max} for this recurrence type, not {interval}"),
            ));
        }
        let weekly_days = match (recurrence_type, &self.weekly_days) {
            (RecurrenceType::Weekly, Some(days)) => parse_weekly_days(days)?,
            (RecurrenceType::Weekly, None) => {
                return Err(FieldError::new(
                    "recurrence.weekly_days",
                    "is required for a weekly recurrence (1 = Sunday … 7 = Saturday, e.g. \"2,4\")",
                ));
            }
            _ => Vec::new(),
        };
        if self.monthly_week.is_some() || self.monthly_week_day.is_some() {
            let field = if self.monthly_week.is_some() {
                "recurrence.monthly_week"
            } else {
                "recurrence.monthly_week_day"
            };
            return Err(FieldError::new(
                field,
                "is not supported: give monthly_day (1-31) instead",
            ));
        }
        let monthly_day = match (recurrence_type, self.monthly_day) {
            (RecurrenceType::Monthly, Some(day)) => match u8::try_from(day) {
                Ok(day @ 1..=31) => Some(day),
                _ => {
                    return Err(FieldError::new(
                        "recurrence.monthly_day",
                        format!("must be between 1 and 31, not {day}"),
                    ));
                }
            },
            (RecurrenceType::Monthly, None) => {
                return Err(FieldError::new(
                    "recurrence.monthly_day",
                    "is required for a monthly recurrence (1-31)",
                ));
            }
            _ => None,
        };
        let end = match (self.end_times, &self.end_date_time) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "recurrence.end_date_time",
                    "cannot be given together with end_times: give one of them",
                ));
            }
            (Some(n), None) => match u32::try_from(n) {
                Ok(n @ 1..=60) => RecurrenceEnd::Times(n),
                _ => {
                    return Err(FieldError::new(
                        "recurrence.end_times",
                        format!("must be between 1 and {MAX_OCCURRENCES}, not {n}"),
                    ));
                }
            },
            (None, Some(text)) => RecurrenceEnd::DateTime(
                parse_time(text, tz).map_err(|m| FieldError::new("recurrence.end_date_time", m))?,
            ),
            (None, None) => {
                return Err(FieldError::new(
                    "recurrence.end_times",
                    "one of end_times or end_date_time is required",
                ));
            }
        };
        Ok(Recurrence {
            recurrence_type,
            repeat_interval: u32::try_from(interval).unwrap_or(1),
            weekly_days,
            monthly_day,
            end,
        })
    }
}

fn parse_weekly_days(text: &str) -> Result<Vec<u8>, FieldError> {
    let bad = || {
        FieldError::new(
            "recurrence.weekly_days",
            format!(
                "must be days 1-7 separated by commas (1 = Sunday … 7 = Saturday), not {text:?}"
            ),
        )
    };
    let mut days = Vec::new();
    for part in text.split(',') {
        let day: u8 = part.trim().parse().map_err(|_| bad())?;
        if !(1..=7).contains(&day) {
            return Err(bad());
        }
        days.push(day);
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

/// One occurrence of a recurring meeting with a fixed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Occurrence {
    /// The occurrence's start as Unix milliseconds, in a string (Zoom's form).
    pub occurrence_id: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`.
    pub start_time: String,
    pub duration: u32,
    /// Always `available` here.
    pub status: String,
    /// The start as a timestamp, for sorting and filtering.
    #[serde(skip)]
    pub starts_at: Timestamp,
}

impl Occurrence {
    fn new(starts_at: Timestamp, duration: u32) -> Self {
        Occurrence {
            occurrence_id: starts_at.millis().to_string(),
            start_time: starts_at.rfc3339(),
            duration,
            status: "available".into(),
            starts_at,
        }
    }
}

/// A meeting as a request describes it (create, or a partial change): Zoom's field names, every
/// field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingDraft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub meeting_type: Option<i64>,
    /// `yyyy-MM-ddTHH:mm:ssZ` (UTC), or without `Z` a wall-clock time in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agenda: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsDraft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<RecurrenceDraft>,
}

impl MeetingDraft {
    /// This draft with every field `change` sets replacing this one's: settings merge field by
    /// field, a recurrence is replaced whole.
    pub fn merged(&self, change: &MeetingDraft) -> MeetingDraft {
        let settings = match (&self.settings, &change.settings) {
            (Some(base), Some(over)) => Some(base.merged(over)),
            (base, over) => over.clone().or_else(|| base.clone()),
        };
        MeetingDraft {
            topic: change.topic.clone().or_else(|| self.topic.clone()),
            meeting_type: change.meeting_type.or(self.meeting_type),
            start_time: change
                .start_time
                .clone()
                .or_else(|| self.start_time.clone()),
            duration: change.duration.or(self.duration),
            timezone: change.timezone.clone().or_else(|| self.timezone.clone()),
            agenda: change.agenda.clone().or_else(|| self.agenda.clone()),
            password: change.password.clone().or_else(|| self.password.clone()),
            settings,
            recurrence: change
                .recurrence
                .clone()
                .or_else(|| self.recurrence.clone()),
        }
    }
}

/// What validation fills in when a draft leaves it out.
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    /// The host's time zone.
    pub timezone: &'a str,
    /// The start of an instant meeting, and of a scheduled one given no `start_time` (as Zoom does).
    pub now: Timestamp,
}

/// The topic a meeting gets when none is given.
pub const DEFAULT_TOPIC: &str = "Zoom Meeting";
/// The duration (minutes) a meeting gets when none is given.
pub const DEFAULT_DURATION: u32 = 60;

/// A checked meeting: every field present and within Zoom's limits, start time in UTC, and for
/// type 8 its occurrences. Made only by [`MeetingInput::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingInput {
    topic: String,
    meeting_type: MeetingType,
    start_time: Option<Timestamp>,
    duration: u32,
    timezone: String,
    agenda: String,
    password: Option<String>,
    settings: Settings,
    recurrence: Option<Recurrence>,
    occurrences: Vec<Occurrence>,
}

impl MeetingInput {
    /// Checks a draft field by field and computes occurrences; the first failure names its field.
    pub fn validate(draft: &MeetingDraft, defaults: Defaults<'_>) -> Result<Self, FieldError> {
        let topic = draft.topic.clone().unwrap_or_else(|| DEFAULT_TOPIC.into());
        if topic.chars().count() > 200 {
            return Err(FieldError::new("topic", "must be at most 200 characters"));
        }
        let meeting_type = match draft.meeting_type {
            Some(n) => MeetingType::try_from(n).map_err(|m| FieldError::new("type", m))?,
            None => MeetingType::Scheduled,
        };
        let timezone = draft
            .timezone
            .clone()
            .unwrap_or_else(|| defaults.timezone.to_owned());
        let tz = TimeZone::get(&timezone).map_err(|_| {
            FieldError::new(
                "timezone",
                format!("{timezone:?} is not an IANA time-zone name such as Europe/Berlin"),
            )
        })?;
        let duration = match draft.duration {
            None => DEFAULT_DURATION,
            Some(d) => match u32::try_from(d) {
                Ok(d @ 0..=1440) => d,
                _ => {
                    return Err(FieldError::new(
                        "duration",
                        format!("must be between 0 and 1440 minutes, not {d}"),
                    ));
                }
            },
        };
        let agenda = draft.agenda.clone().unwrap_or_default();
        if agenda.chars().count() > 2000 {
            return Err(FieldError::new("agenda", "must be at most 2000 characters"));
        }
        if let Some(password) = &draft.password {
            check_password(password)?;
        }
        let given_start = draft
            .start_time
            .as_deref()
            .map(|text| parse_time(text, &tz).map_err(|m| FieldError::new("start_time", m)))
            .transpose()?;
        let start_time = match meeting_type {
            MeetingType::Instant | MeetingType::Scheduled => {
                Some(given_start.unwrap_or(defaults.now))
            }
            MeetingType::RecurringNoFixedTime => None,
            MeetingType::RecurringFixedTime => Some(given_start.ok_or_else(|| {
                FieldError::new(
                    "start_time",
                    "is required for a recurring meeting with a fixed time (type 8)",
                )
            })?),
        };
        let settings = draft.settings.clone().unwrap_or_default().validate()?;
        let recurrence = match (meeting_type, &draft.recurrence) {
            (MeetingType::Instant | MeetingType::Scheduled, _) => None,
            (MeetingType::RecurringNoFixedTime, None) => None,
            (MeetingType::RecurringFixedTime, None) => {
                return Err(FieldError::new(
                    "recurrence",
                    "is required for a recurring meeting with a fixed time (type 8)",
                ));
            }
            (_, Some(r)) => Some(r.validate(&tz)?),
        };
        let occurrences = match (&recurrence, start_time, meeting_type) {
            (Some(r), Some(start), MeetingType::RecurringFixedTime) => {
                occurrences(r, start, &tz, duration)?
            }
            _ => Vec::new(),
        };
        Ok(MeetingInput {
            topic,
            meeting_type,
            start_time,
            duration,
            timezone,
            agenda,
            password: draft.password.clone(),
            settings,
            recurrence,
            occurrences,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn meeting_type(&self) -> MeetingType {
        self.meeting_type
    }

    /// The start in UTC; `None` only for type 3.
    pub fn start_time(&self) -> Option<Timestamp> {
        self.start_time
    }

    /// Minutes.
    pub fn duration(&self) -> u32 {
        self.duration
    }

    /// The IANA name the meeting's local times are read in.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    pub fn agenda(&self) -> &str {
        &self.agenda
    }

    /// The passcode, if the draft gave one (storage generates one otherwise).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn recurrence(&self) -> Option<&Recurrence> {
        self.recurrence.as_ref()
    }

    /// The occurrences of a type 8 meeting, in order; empty for the other types.
    pub fn occurrences(&self) -> &[Occurrence] {
        &self.occurrences
    }

    /// When the meeting is over: the end of its last occurrence (type 8) or of itself (types 1
    /// and 2); `None` for type 3, which never ends.
    pub fn ends_at(&self) -> Option<Timestamp> {
        let last_start = match self.meeting_type {
            MeetingType::RecurringFixedTime => self.occurrences.last().map(|o| o.starts_at),
            MeetingType::RecurringNoFixedTime => None,
            MeetingType::Instant | MeetingType::Scheduled => self.start_time,
        }?;
        Some(last_start.plus_seconds(i64::from(self.duration) * 60))
    }

    /// Every field as a draft (start time in UTC with `Z`), for merging a partial change over it.
    pub fn to_draft(&self) -> MeetingDraft {
        MeetingDraft {
            topic: Some(self.topic.clone()),
            meeting_type: Some(self.meeting_type.number()),
            start_time: self.start_time.map(Timestamp::rfc3339),
            duration: Some(i64::from(self.duration)),
            timezone: Some(self.timezone.clone()),
            agenda: Some(self.agenda.clone()),
            password: self.password.clone(),
            settings: Some(SettingsDraft::from_settings(&self.settings)),
            recurrence: self.recurrence.as_ref().map(Recurrence::to_draft),
        }
    }

    /// The names of the top-level fields that differ between two meetings (for the audit log).
    pub fn changed_fields(&self, other: &MeetingInput) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |name, differs: bool| {
            if differs {
                changed.push(name);
            }
        };
        check("topic", self.topic != other.topic);
        check("type", self.meeting_type != other.meeting_type);
        check("start_time", self.start_time != other.start_time);
        check("duration", self.duration != other.duration);
        check("timezone", self.timezone != other.timezone);
        check("agenda", self.agenda != other.agenda);
        check("password", self.password != other.password);
        check("settings", self.settings != other.settings);
        check("recurrence", self.recurrence != other.recurrence);
        changed
    }
}

/// Checks a meeting passcode: 1–10 characters from `A–Z a–z 0–9 @ - _ *`.
pub fn check_password(password: &str) -> Result<(), FieldError> {
    let ok = (1..=10).contains(&password.chars().count())
        && password
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_' | '*'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "password",
            "must be 1-10 characters from A-Z a-z 0-9 @ - _ *",
        ))
    }
}

/// Parses Zoom's time format: `yyyy-MM-ddTHH:mm:ssZ` is UTC; without `Z` it is a wall-clock time
/// in `tz`. Returns a message (no field) on failure.
pub fn parse_time(text: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let bad = || format!("must be yyyy-MM-ddTHH:mm:ss with an optional Z for UTC, not {text:?}");
    let (body, utc) = match text.strip_suffix('Z') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let bytes = body.as_bytes();
    let shape_ok = bytes.len() == 19
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| body.get(range).and_then(|s| s.parse::<i16>().ok());
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return Err(bad());
    };
    let narrow = |v: i16| i8::try_from(v).map_err(|_| bad());
    let civil = DateTime::new(
        year,
        narrow(month)?,
        narrow(day)?,
        narrow(hour)?,
        narrow(minute)?,
        narrow(second)?,
        0,
    )
    .map_err(|_| format!("{text:?} is not a real date and time"))?;
    let zone = if utc { TimeZone::UTC } else { tz.clone() };
    let instant = zone
        .to_timestamp(civil)
        .map_err(|_| format!("{text:?} is out of range"))?;
    Ok(Timestamp(instant.as_millisecond()))
}

/// The occurrences of a recurrence starting at `start`, keeping the local wall-clock time of
/// `start` in `tz` on every date. More than [`MAX_OCCURRENCES`] is refused, and so is none.
pub fn occurrences(
    recurrence: &Recurrence,
    start: Timestamp,
    tz: &TimeZone,
    duration: u32,
) -> Result<Vec<Occurrence>, FieldError> {
    let out_of_range = || FieldError::new("start_time", "is out of the supported range");
    let start_instant =
        jiff::Timestamp::from_millisecond(start.millis()).map_err(|_| out_of_range())?;
    let local_start = tz.to_datetime(start_instant);
    let start_date = local_start.date();
    let time_of_day = local_start.time();
    let interval = i64::from(recurrence.repeat_interval.max(1));
    let (limit, until) = match recurrence.end {
        RecurrenceEnd::Times(n) => (n as usize, None),
        RecurrenceEnd::DateTime(at) => {
            if at < start {
                return Err(FieldError::new(
                    "recurrence.end_date_time",
                    "must not be before start_time",
                ));
            }
            (MAX_OCCURRENCES + 1, Some(at))
        }
    };
    let add_days = |date: Date, days: i64| {
        date.checked_add(jiff::Span::new().days(days))
            .map_err(|_| out_of_range())
    };
    let mut found: Vec<Occurrence> = Vec::new();
    // Each step is one period (day, week or month); the bound keeps skipped months from looping
    // forever (at most 11 of 12 months lack a given day, so 61 occurrences need < 61 * 12 steps).
    for step in 0..(MAX_OCCURRENCES as i64 + 1) * 12 {
        let dates: Vec<Date> = match recurrence.recurrence_type {
            RecurrenceType::Daily => vec![add_days(start_date, step * interval)?],
            RecurrenceType::Weekly => {
                let sunday_offset = i64::from(start_date.weekday().to_sunday_zero_offset());
                let week_start = add_days(start_date, step * interval * 7 - sunday_offset)?;
                let mut dates = Vec::new();
                for day in &recurrence.weekly_days {
                    let date = add_days(week_start, i64::from(*day) - 1)?;
                    if date >= start_date {
                        dates.push(date);
                    }
                }
                dates
            }
            RecurrenceType::Monthly => {
                let first = start_date.first_of_month();
                let month = first
                    .checked_add(jiff::Span::new().months(step * interval))
                    .map_err(|_| out_of_range())?;
                let day = recurrence.monthly_day.unwrap_or(1);
                match Date::new(month.year(), month.month(), day as i8) {
                    Ok(date) if date >= start_date => vec![date],
                    _ => Vec::new(),
                }
            }
        };
        for date in dates {
            let local = date.to_datetime(time_of_day);
            let instant = tz.to_timestamp(local).map_err(|_| out_of_range())?;
            let at = Timestamp(instant.as_millisecond());
            if until.is_some_and(|end| at > end) {
                return finish(found);
            }
            found.push(Occurrence::new(at, duration));
            if found.len() >= limit {
                return finish(found);
            }
        }
    }
    finish(found)
}

fn finish(found: Vec<Occurrence>) -> Result<Vec<Occurrence>, FieldError> {
    if found.len() > MAX_OCCURRENCES {
        return Err(FieldError::new(
            "recurrence",
            format!("yields more than {MAX_OCCURRENCES} occurrences: end it sooner"),
        ));
    }
    if found.is_empty() {
        return Err(FieldError::new(
            "recurrence",
            "yields no occurrence: end_date_time is before the first matching day",
        ));
    }
    Ok(found)
}

// One shape for the API (`GET /meetings/{meetingId}`) and webhook events, so an event's `object`
// is exactly what the app would read. (The doc line below is the OpenAPI description.)
/// A meeting in Zoom's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Meeting))]
pub struct MeetingObject {
    /// 22 URL-safe characters, unique in the deployment.
    pub uuid: String,
    /// Zoom's meeting number.
    pub id: i64,
    pub host_id: String,
    pub host_email: String,
    /// Who scheduled the meeting for the host, when an assistant did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
    pub topic: String,
    /// 1 instant, 2 scheduled, 3 recurring without a fixed time, 8 recurring at fixed times.
    #[serde(rename = "type")]
    pub meeting_type: i64,
    pub status: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`; absent for type 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Minutes.
    pub duration: u32,
    /// The IANA time zone the meeting's local times are read in.
    pub timezone: String,
    pub agenda: String,
    pub created_at: String,
    pub password: String,
    pub join_url: String,
    pub start_url: String,
    pub settings: Settings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<RecurrenceDraft>,
    /// Every occurrence of a type 8 meeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<Vec<Occurrence>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_795_867_200_000); // 2026-11-28T12:00:00Z

    fn defaults() -> Defaults<'static> {
        Defaults {
            timezone: "UTC",
            now: NOW,
        }
    }

    fn draft(json: serde_json::Value) -> MeetingDraft {
        serde_json::from_value(json).expect("test drafts are well-formed")
    }

    fn validate(json: serde_json::Value) -> Result<MeetingInput, FieldError> {
        MeetingInput::validate(&draft(json), defaults())
    }

    fn starts(input: &MeetingInput) -> Vec<String> {
        input
            .occurrences()
            .iter()
            .map(|o| o.start_time.clone())
            .collect()
    }

    #[test]
    fn every_type_validates_with_defaults_filled_in() {
        let instant = validate(serde_json::json!({"type": 1})).unwrap();
        assert_eq!(instant.meeting_type(), MeetingType::Instant);
        assert_eq!(instant.start_time(), Some(NOW));
        assert_eq!(instant.topic(), DEFAULT_TOPIC);
        assert_eq!(instant.duration(), DEFAULT_DURATION);
        assert_eq!(instant.timezone(), "UTC");
        assert_eq!(instant.settings(), &Settings::default());

        let scheduled =
            validate(serde_json::json!({"type": 2, "start_time": "2027-01-15T10:00:00Z"})).unwrap();
        assert_eq!(
            scheduled.start_time().map(Timestamp::rfc3339).as_deref(),
            Some("2027-01-15T10:00:00Z")
        );
        assert!(scheduled.occurrences().is_empty());
        assert_eq!(
            scheduled.ends_at().map(Timestamp::rfc3339).as_deref(),
            Some("2027-01-15T11:00:00Z")
        );

        let no_fixed_time =
            validate(serde_json::json!({"type": 3, "start_time": "2027-01-15T10:00:00Z"})).unwrap();
        assert_eq!(no_fixed_time.start_time(), None);
        assert_eq!(no_fixed_time.ends_at(), None);
        assert!(no_fixed_time.occurrences().is_empty());

        let fixed = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-15T10:00:00Z", "duration": 30,
            "recurrence": {"type": 1, "end_times": 3}
        }))
        .unwrap();
        assert_eq!(
            starts(&fixed),
            [
                "2027-01-15T10:00:00Z",
                "2027-01-16T10:00:00Z",
                "2027-01-17T10:00:00Z"
            ]
        );
        let first = &fixed.occurrences()[0];
        assert_eq!(first.occurrence_id, "1800007200000");
        assert_eq!(first.duration, 30);
        assert_eq!(first.status, "available");
        assert_eq!(
            fixed.ends_at().map(Timestamp::rfc3339).as_deref(),
            Some("2027-01-17T10:30:00Z")
        );
    }

    #[test]
    fn scheduled_meetings_ignore_a_recurrence() {
        let input = validate(serde_json::json!({
            "type": 2, "start_time": "2027-01-15T10:00:00Z", "recurrence": {"type": 9}
        }))
        .unwrap();
        assert!(input.recurrence().is_none());
    }

    #[test]
    fn start_time_with_z_is_utc_and_without_is_local_to_the_timezone() {
        let cases = [
            (
                "2027-01-15T10:00:00Z",
                "Europe/Berlin",
                "2027-01-15T10:00:00Z",
            ),
            ("2027-01-15T10:00:00", "UTC", "2027-01-15T10:00:00Z"),
            (
                "2027-01-15T10:00:00",
                "Europe/Berlin",
                "2027-01-15T09:00:00Z",
            ),
            (
                "2027-07-15T10:00:00",
                "Europe/Berlin",
                "2027-07-15T08:00:00Z",
            ),
            (
                "2027-01-15T10:00:00",
                "America/New_York",
                "2027-01-15T15:00:00Z",
            ),
            (
                "2027-07-15T10:00:00",
                "America/New_York",
                "2027-07-15T14:00:00Z",
            ),
            // In the spring-forward gap: moved forward by the gap.
            (
                "2027-03-28T02:30:00",
                "Europe/Berlin",
                "2027-03-28T01:30:00Z",
            ),
            // Twice in the fall-back fold: the earlier instant.
            (
                "2027-10-31T02:30:00",
                "Europe/Berlin",
                "2027-10-31T00:30:00Z",
            ),
        ];
        for (given, tz, expected) in cases {
            let input =
                validate(serde_json::json!({"type": 2, "start_time": given, "timezone": tz}))
                    .unwrap();
            assert_eq!(
                input.start_time().map(Timestamp::rfc3339).as_deref(),
                Some(expected),
                "{given} in {tz}"
            );
        }
    }

    #[test]
    fn occurrences_keep_local_wall_clock_time_across_dst_changes() {
        let cases: [(&str, &str, serde_json::Value, &[&str]); 4] = [
            (
                "Europe/Berlin",
                "2027-03-16T09:00:00",
                serde_json::json!({"type": 2, "weekly_days": "3", "end_times": 3}),
                &[
                    "2027-03-16T08:00:00Z",
                    "2027-03-23T08:00:00Z",
                    "2027-03-30T07:00:00Z",
                ],
            ),
            (
                "Europe/Berlin",
                "2027-10-26T09:00:00",
                serde_json::json!({"type": 2, "weekly_days": "3", "end_times": 2}),
                &["2027-10-26T07:00:00Z", "2027-11-02T08:00:00Z"],
            ),
            (
                "America/New_York",
                "2027-03-13T09:00:00",
                serde_json::json!({"type": 1, "end_times": 2}),
                &["2027-03-13T14:00:00Z", "2027-03-14T13:00:00Z"],
            ),
            (
                "America/New_York",
                "2027-11-06T09:00:00",
                serde_json::json!({"type": 1, "end_times": 2}),
                &["2027-11-06T13:00:00Z", "2027-11-07T14:00:00Z"],
            ),
        ];
        for (tz, start, recurrence, expected) in cases {
            let input = validate(serde_json::json!({
                "type": 8, "start_time": start, "timezone": tz, "recurrence": recurrence
            }))
            .unwrap();
            assert_eq!(starts(&input), expected, "{start} in {tz}");
        }
    }

    #[test]
    fn weekly_days_count_from_sunday_as_one() {
        // 2027-01-01 is a Friday.
        let cases: [(&str, &[&str]); 4] = [
            ("7", &["2027-01-02T10:00:00Z", "2027-01-09T10:00:00Z"]),
            ("1", &["2027-01-03T10:00:00Z", "2027-01-10T10:00:00Z"]),
            ("6", &["2027-01-01T10:00:00Z", "2027-01-08T10:00:00Z"]),
            ("4,2", &["2027-01-04T10:00:00Z", "2027-01-06T10:00:00Z"]),
        ];
        for (days, expected) in cases {
            let input = validate(serde_json::json!({
                "type": 8, "start_time": "2027-01-01T10:00:00Z",
                "recurrence": {"type": 2, "weekly_days": days, "end_times": 2}
            }))
            .unwrap();
            assert_eq!(starts(&input), expected, "weekly_days {days}");
        }
    }

    #[test]
    fn intervals_skip_periods() {
        let every_other_week = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-04T10:00:00Z",
            "recurrence": {"type": 2, "repeat_interval": 2, "weekly_days": "2", "end_times": 3}
        }))
        .unwrap();
        assert_eq!(
            starts(&every_other_week),
            [
                "2027-01-04T10:00:00Z",
                "2027-01-18T10:00:00Z",
                "2027-02-01T10:00:00Z"
            ]
        );
        let every_third_day = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-30T10:00:00Z",
            "recurrence": {"type": 1, "repeat_interval": 3, "end_times": 2}
        }))
        .unwrap();
        assert_eq!(
            starts(&every_third_day),
            ["2027-01-30T10:00:00Z", "2027-02-02T10:00:00Z"]
        );
    }

    #[test]
    fn monthly_day_31_skips_months_without_it() {
        let input = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-31T10:00:00Z",
            "recurrence": {"type": 3, "monthly_day": 31, "end_times": 4}
        }))
        .unwrap();
        assert_eq!(
            starts(&input),
            [
                "2027-01-31T10:00:00Z",
                "2027-03-31T10:00:00Z",
                "2027-05-31T10:00:00Z",
                "2027-07-31T10:00:00Z"
            ]
        );
        // A monthly day before the start day begins next month.
        let later = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-20T10:00:00Z",
            "recurrence": {"type": 3, "monthly_day": 5, "repeat_interval": 3, "end_times": 2}
        }))
        .unwrap();
        assert_eq!(
            starts(&later),
            ["2027-04-05T10:00:00Z", "2027-07-05T10:00:00Z"]
        );
    }

    #[test]
    fn end_date_time_includes_an_occurrence_starting_at_it() {
        let input = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-01T10:00:00Z",
            "recurrence": {"type": 1, "end_date_time": "2027-01-05T10:00:00Z"}
        }))
        .unwrap();
        assert_eq!(input.occurrences().len(), 5);
        assert_eq!(
            input.recurrence().map(|r| r.end),
            Some(RecurrenceEnd::DateTime(Timestamp(1_799_143_200_000)))
        );
        let sixty = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-01T10:00:00Z",
            "recurrence": {"type": 1, "end_times": 60}
        }))
        .unwrap();
        assert_eq!(sixty.occurrences().len(), 60);
    }

    #[test]
    fn more_than_sixty_occurrences_are_refused() {
        let err = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-01T10:00:00Z",
            "recurrence": {"type": 1, "end_date_time": "2027-03-15T10:00:00Z"}
        }))
        .unwrap_err();
        assert_eq!(err.field(), "recurrence");
        assert!(err.message().contains("60"), "{err}");
    }

    #[test]
    fn recurrence_round_trips_through_its_stored_form() {
        let input = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-01T10:00:00", "timezone": "Europe/Berlin",
            "recurrence": {"type": 2, "weekly_days": "4,2,2", "end_date_time": "2027-02-01T00:00:00"}
        }))
        .unwrap();
        let stored = serde_json::to_value(input.recurrence()).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"type": 2, "repeat_interval": 1, "weekly_days": "2,4", "end_date_time": "2027-01-31T23:00:00Z"})
        );
        let again = MeetingInput::validate(&input.to_draft(), defaults()).unwrap();
        assert_eq!(again, input);
    }

    #[test]
    fn a_partial_change_merges_over_the_current_meeting() {
        let current = validate(serde_json::json!({
            "type": 2, "start_time": "2027-01-15T10:00:00Z", "topic": "Plan",
            "settings": {"host_video": true, "auto_recording": "cloud"}
        }))
        .unwrap();
        let change =
            draft(serde_json::json!({"topic": "Plan B", "settings": {"mute_upon_entry": true}}));
        let merged =
            MeetingInput::validate(&current.to_draft().merged(&change), defaults()).unwrap();
        assert_eq!(merged.topic(), "Plan B");
        assert!(merged.settings().host_video && merged.settings().mute_upon_entry);
        assert_eq!(merged.settings().auto_recording, AutoRecording::Cloud);
        assert_eq!(merged.start_time(), current.start_time());
        assert_eq!(merged.changed_fields(&current), ["topic", "settings"]);
    }

    #[test]
    fn bad_input_names_the_field_at_fault() {
        let start = "2027-01-01T10:00:00Z";
        let cases = [
            (serde_json::json!({"topic": "x".repeat(201)}), "topic"),
            (serde_json::json!({"agenda": "x".repeat(2001)}), "agenda"),
            (serde_json::json!({"type": 5}), "type"),
            (serde_json::json!({"duration": 1441}), "duration"),
            (serde_json::json!({"duration": -1}), "duration"),
            (
                serde_json::json!({"timezone": "Mars/Olympus_Mons"}),
                "timezone",
            ),
            (serde_json::json!({"password": "abc def"}), "password"),
            (serde_json::json!({"password": "12345678901"}), "password"),
            (serde_json::json!({"password": ""}), "password"),
            (
                serde_json::json!({"start_time": "2027-02-30T10:00:00Z"}),
                "start_time",
            ),
            (
                serde_json::json!({"start_time": "2027-01-01 10:00:00"}),
                "start_time",
            ),
            (
                serde_json::json!({"start_time": "2027-01-01T10:00:00+01:00"}),
                "start_time",
            ),
            (
                serde_json::json!({"settings": {"approval_type": 3}}),
                "settings.approval_type",
            ),
            (
                serde_json::json!({"settings": {"auto_recording": "disk"}}),
                "settings.auto_recording",
            ),
            (
                serde_json::json!({"settings": {"alternative_hosts": "a\nb"}}),
                "settings.alternative_hosts",
            ),
            (
                serde_json::json!({"type": 8, "recurrence": {"type": 1, "end_times": 2}}),
                "start_time",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start}),
                "recurrence",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"end_times": 2}}),
                "recurrence.type",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 4, "end_times": 2}}),
                "recurrence.type",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 1, "repeat_interval": 91, "end_times": 2}}),
                "recurrence.repeat_interval",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 2, "repeat_interval": 13, "weekly_days": "1", "end_times": 2}}),
                "recurrence.repeat_interval",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 3, "repeat_interval": 4, "monthly_day": 1, "end_times": 2}}),
                "recurrence.repeat_interval",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 2, "end_times": 2}}),
                "recurrence.weekly_days",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 2, "weekly_days": "0,8", "end_times": 2}}),
                "recurrence.weekly_days",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 2, "weekly_days": "mon", "end_times": 2}}),
                "recurrence.weekly_days",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 3, "end_times": 2}}),
                "recurrence.monthly_day",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 3, "monthly_day": 32, "end_times": 2}}),
                "recurrence.monthly_day",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 3, "monthly_week": 1, "monthly_week_day": 2, "end_times": 2}}),
                "recurrence.monthly_week",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 1}}),
                "recurrence.end_times",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 1, "end_times": 61}}),
                "recurrence.end_times",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 1, "end_times": 0}}),
                "recurrence.end_times",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 1, "end_times": 2, "end_date_time": start}}),
                "recurrence.end_date_time",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 1, "end_date_time": "2026-12-31T10:00:00Z"}}),
                "recurrence.end_date_time",
            ),
            (
                serde_json::json!({"type": 8, "start_time": start, "recurrence": {"type": 1, "end_date_time": "soon"}}),
                "recurrence.end_date_time",
            ),
            (
                serde_json::json!({"type": 3, "recurrence": {"type": 1, "end_times": 99}}),
                "recurrence.end_times",
            ),
        ];
        for (json, field) in cases {
            let err = validate(json.clone()).expect_err(&json.to_string());
            assert_eq!(err.field(), field, "{json}: {err}");
            assert!(!err.message().is_empty());
        }
    }

    #[test]
    fn a_recurrence_with_no_matching_day_before_its_end_is_refused() {
        let err = validate(serde_json::json!({
            "type": 8, "start_time": "2027-01-01T10:00:00Z",
            "recurrence": {"type": 2, "weekly_days": "2", "end_date_time": "2027-01-02T10:00:00Z"}
        }))
        .unwrap_err();
        assert_eq!(err.field(), "recurrence");
    }
}
