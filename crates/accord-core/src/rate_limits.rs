//! An account's own rate limits (api.md "Rate limits": "configurable per account"): which of the
//! four limits — Light, Medium and Heavy calls per second, meeting creates and updates per host
//! per UTC day — the account has a value of its own for. A limit left unset follows the
//! deployment's default ([`Limit::default_value`]).
//!
//! One shape everywhere, the seed file's, the stored column's and `accord account show --json`'s:
//! `{"light": {"per_second": 50}, "heavy": {"per_second": 5}, "meetings": {"per_host_per_day": 200}}`.
//! The unit is spelled in the JSON so that a value is never read in the wrong one. On the command
//! line a change is `NAME=VALUE[/UNIT]` (`light=50/s`, `meetings=200/day`) or `NAME=default`.
//!
//! Values are at most [`MAX_VALUE`]: the cluster-wide limiter computes in Redis' doubles, exact
//! while a time in milliseconds times a per-second rate stays below 2^53.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::endpoints::RateLimitCategory;

/// The largest value a limit may have (per second, or per host per day).
pub const MAX_VALUE: u32 = 1_000_000;

/// The default number of meeting creates and updates per host per UTC day (api.md).
pub const DEFAULT_MEETINGS_PER_HOST_PER_DAY: u32 = 100;

/// One of the limits an account may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Calls per second in a category.
    PerSecond(RateLimitCategory),
    /// Meeting creates and updates per host per UTC day.
    MeetingsPerHostPerDay,
}

impl Limit {
    /// Every limit, in the order they are shown.
    pub const ALL: [Limit; 4] = [
        Limit::PerSecond(RateLimitCategory::Light),
        Limit::PerSecond(RateLimitCategory::Medium),
        Limit::PerSecond(RateLimitCategory::Heavy),
        Limit::MeetingsPerHostPerDay,
    ];

    /// The name in JSON and on the command line: `light`, `medium`, `heavy`, `meetings`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::PerSecond(RateLimitCategory::Light) => "light",
            Limit::PerSecond(RateLimitCategory::Medium) => "medium",
            Limit::PerSecond(RateLimitCategory::Heavy) => "heavy",
            Limit::MeetingsPerHostPerDay => "meetings",
        }
    }

    pub fn from_name(name: &str) -> Option<Limit> {
        Limit::ALL
            .into_iter()
            .find(|limit| limit.name().eq_ignore_ascii_case(name))
    }

    /// api.md's default: 30, 20, 10 per second; 100 meetings per host per day.
    pub fn default_value(self) -> u32 {
        match self {
            Limit::PerSecond(category) => category.default_per_second(),
            Limit::MeetingsPerHostPerDay => DEFAULT_MEETINGS_PER_HOST_PER_DAY,
        }
    }

    /// How a value of this limit is written after the number on the command line: `/s`, `/day`.
    pub fn unit(self) -> &'static str {
        match self {
            Limit::PerSecond(_) => "/s",
            Limit::MeetingsPerHostPerDay => "/day",
        }
    }

    /// `50/s`, `200 per host per day`.
    pub fn describe(self, value: u32) -> String {
        match self {
            Limit::PerSecond(_) => format!("{value}/s"),
            Limit::MeetingsPerHostPerDay => format!("{value} per host per day"),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A limit's value, `0..=`[`MAX_VALUE`]; 0 refuses every call it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u32")]
pub struct LimitValue(u32);

impl LimitValue {
    pub fn new(value: u64) -> Result<LimitValue, RateLimitError> {
        u32::try_from(value)
            .ok()
            .filter(|v| *v <= MAX_VALUE)
            .map(LimitValue)
            .ok_or(RateLimitError::TooLarge(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for LimitValue {
    type Error = RateLimitError;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        LimitValue::new(value)
    }
}

impl From<LimitValue> for u32 {
    fn from(value: LimitValue) -> u32 {
        value.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("{0} is more than the largest limit, {MAX_VALUE}")]
    TooLarge(u64),
    #[error(
        "{0:?} is not a rate-limit change: write NAME=VALUE with NAME one of light, medium, heavy, meetings (e.g. light=50/s, meetings=200/day) or NAME=default"
    )]
    Syntax(String),
    #[error("unknown rate limit {0:?}: use one of light, medium, heavy, meetings")]
    UnknownLimit(String),
    #[error("{limit} is counted {expected}, not {given:?}: write {limit}=N{expected}")]
    WrongUnit {
        limit: Limit,
        expected: &'static str,
        given: String,
    },
    #[error("{0:?} is not a whole number")]
    NotANumber(String),
}

/// An account's own limits: `Some` where it differs from the deployment's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Shape", into = "Shape")]
pub struct RateLimits {
    light: Option<LimitValue>,
    medium: Option<LimitValue>,
    heavy: Option<LimitValue>,
    meetings: Option<LimitValue>,
}

impl RateLimits {
    /// The account's own value of `limit`, if it has one.
    pub fn get(&self, limit: Limit) -> Option<u32> {
        self.slot(limit).map(LimitValue::get)
    }

    /// Sets (`Some`) or clears (`None`, back to the default) one limit.
    pub fn set(&mut self, limit: Limit, value: Option<LimitValue>) {
        *self.slot_mut(limit) = value;
    }

    /// The account's value of `limit`, else the default.
    pub fn value_or_default(&self, limit: Limit) -> u32 {
        self.get(limit).unwrap_or_else(|| limit.default_value())
    }

    /// Whether no limit is set (every one follows the default).
    pub fn is_empty(&self) -> bool {
        Limit::ALL.iter().all(|limit| self.get(*limit).is_none())
    }

    /// The limits that are set, in [`Limit::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Limit, u32)> + '_ {
        Limit::ALL
            .into_iter()
            .filter_map(|limit| self.get(limit).map(|value| (limit, value)))
    }

    /// These limits with `changes` applied in order.
    pub fn with(mut self, changes: &[RateLimitChange]) -> RateLimits {
        for change in changes {
            self.set(change.limit, change.value);
        }
        self
    }

    fn slot(&self, limit: Limit) -> Option<LimitValue> {
        match limit {
            Limit::PerSecond(RateLimitCategory::Light) => self.light,
            Limit::PerSecond(RateLimitCategory::Medium) => self.medium,
            Limit::PerSecond(RateLimitCategory::Heavy) => self.heavy,
            Limit::MeetingsPerHostPerDay => self.meetings,
        }
    }

    fn slot_mut(&mut self, limit: Limit) -> &mut Option<LimitValue> {
        match limit {
            Limit::PerSecond(RateLimitCategory::Light) => &mut self.light,
            Limit::PerSecond(RateLimitCategory::Medium) => &mut self.medium,
            Limit::PerSecond(RateLimitCategory::Heavy) => &mut self.heavy,
            Limit::MeetingsPerHostPerDay => &mut self.meetings,
        }
    }
}

impl fmt::Display for RateLimits {
    /// `light 50/s, meetings 200 per host per day`, or `defaults`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("defaults");
        }
        let parts: Vec<String> = self
            .iter()
            .map(|(limit, value)| format!("{limit} {}", limit.describe(value)))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// One change to an account's limits, as typed on the command line: a value, or back to the
/// default (`value: None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitChange {
    pub limit: Limit,
    pub value: Option<LimitValue>,
}

impl RateLimitChange {
    /// `light=50/s`, `light=50`, `meetings=200/day`, `heavy=default`.
    pub fn parse(text: &str) -> Result<RateLimitChange, RateLimitError> {
        let syntax = || RateLimitError::Syntax(text.to_owned());
        let (name, value) = text.split_once('=').ok_or_else(syntax)?;
        let limit = Limit::from_name(name.trim())
            .ok_or_else(|| RateLimitError::UnknownLimit(name.trim().to_owned()))?;
        let value = value.trim();
        if value.eq_ignore_ascii_case("default") {
            return Ok(RateLimitChange { limit, value: None });
        }
        let (number, unit) = match value.find('/') {
            Some(at) => value.split_at(at),
            None => (value, ""),
        };
        let unit_ok = match limit {
            Limit::PerSecond(_) => ["", "/s", "/second"].contains(&unit),
            Limit::MeetingsPerHostPerDay => ["", "/day", "/d"].contains(&unit),
        };
        if !unit_ok {
            return Err(RateLimitError::WrongUnit {
                limit,
                expected: limit.unit(),
                given: unit.to_owned(),
            });
        }
        let number: u64 = number
            .trim()
            .parse()
            .map_err(|_| RateLimitError::NotANumber(number.trim().to_owned()))?;
        Ok(RateLimitChange {
            limit,
            value: Some(LimitValue::new(number)?),
        })
    }

    /// Every limit set as in `limits`, the others back to their default: replaces all four.
    pub fn replace_all(limits: &RateLimits) -> Vec<RateLimitChange> {
        Limit::ALL
            .into_iter()
            .map(|limit| RateLimitChange {
                limit,
                value: limits.slot(limit),
            })
            .collect()
    }
}

/// The JSON shape, units spelled out.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    light: Option<PerSecond>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    medium: Option<PerSecond>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    heavy: Option<PerSecond>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    meetings: Option<PerHostPerDay>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerSecond {
    per_second: LimitValue,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerHostPerDay {
    per_host_per_day: LimitValue,
}

impl From<Shape> for RateLimits {
    fn from(shape: Shape) -> Self {
        RateLimits {
            light: shape.light.map(|l| l.per_second),
            medium: shape.medium.map(|l| l.per_second),
            heavy: shape.heavy.map(|l| l.per_second),
            meetings: shape.meetings.map(|l| l.per_host_per_day),
        }
    }
}

impl From<RateLimits> for Shape {
    fn from(limits: RateLimits) -> Self {
        let per_second =
            |value: Option<LimitValue>| value.map(|per_second| PerSecond { per_second });
        Shape {
            light: per_second(limits.light),
            medium: per_second(limits.medium),
            heavy: per_second(limits.heavy),
            meetings: limits
                .meetings
                .map(|per_host_per_day| PerHostPerDay { per_host_per_day }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RateLimitCategory::{Heavy, Light, Medium};

    fn value(n: u64) -> Option<LimitValue> {
        Some(LimitValue::new(n).unwrap())
    }

    #[test]
    fn the_json_shape_spells_each_unit_and_round_trips() {
        let text = r#"{"light":{"per_second":50},"meetings":{"per_host_per_day":200}}"#;
        let limits: RateLimits = serde_json::from_str(text).unwrap();
        assert_eq!(limits.get(Limit::PerSecond(Light)), Some(50));
        assert_eq!(limits.get(Limit::PerSecond(Medium)), None);
        assert_eq!(limits.get(Limit::MeetingsPerHostPerDay), Some(200));
        assert_eq!(serde_json::to_string(&limits).unwrap(), text);
        assert_eq!(serde_json::to_string(&RateLimits::default()).unwrap(), "{}");
        assert_eq!(limits.value_or_default(Limit::PerSecond(Heavy)), 10);
        assert_eq!(
            limits.to_string(),
            "light 50/s, meetings 200 per host per day"
        );
        assert_eq!(RateLimits::default().to_string(), "defaults");
    }

    #[test]
    fn the_json_shape_refuses_unknown_limits_units_and_values_too_large() {
        for (text, says) in [
            (
                r#"{"resource_intensive":{"per_second":5}}"#,
                "unknown field",
            ),
            (r#"{"light":{"per_day":5}}"#, "unknown field `per_day`"),
            (
                r#"{"meetings":{"per_second":5}}"#,
                "unknown field `per_second`",
            ),
            (
                r#"{"light":{"per_second":1000001}}"#,
                "more than the largest limit",
            ),
            (r#"{"light":{"per_second":-1}}"#, "invalid value"),
            (r#"{"light":50}"#, "invalid type"),
        ] {
            let err = serde_json::from_str::<RateLimits>(text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn command_line_changes_name_the_limit_and_its_unit() {
        let parse = |t: &str| RateLimitChange::parse(t);
        assert_eq!(
            parse("light=50/s").unwrap(),
            RateLimitChange {
                limit: Limit::PerSecond(Light),
                value: value(50)
            }
        );
        assert_eq!(parse("Heavy=0").unwrap().value, value(0));
        assert_eq!(
            parse("meetings=200/day").unwrap().limit,
            Limit::MeetingsPerHostPerDay
        );
        assert_eq!(parse("medium=default").unwrap().value, None);
        assert!(matches!(parse("light"), Err(RateLimitError::Syntax(_))));
        assert!(matches!(
            parse("huge=5/s"),
            Err(RateLimitError::UnknownLimit(_))
        ));
        let wrong = parse("meetings=5/s").unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "meetings is counted /day, not \"/s\": write meetings=N/day"
        );
        assert!(matches!(
            parse("light=fast"),
            Err(RateLimitError::NotANumber(_))
        ));
        assert!(matches!(
            parse("light=5000000/s"),
            Err(RateLimitError::TooLarge(5_000_000))
        ));
    }

    #[test]
    fn changes_apply_in_order_and_replace_all_resets_the_rest() {
        let mut limits = RateLimits::default();
        limits.set(Limit::PerSecond(Heavy), value(3));
        let changed = limits.with(&[
            RateLimitChange::parse("light=50/s").unwrap(),
            RateLimitChange::parse("heavy=default").unwrap(),
        ]);
        assert_eq!(
            changed.iter().collect::<Vec<_>>(),
            [(Limit::PerSecond(Light), 50)]
        );
        let replaced = limits.with(&RateLimitChange::replace_all(&changed));
        assert_eq!(replaced, changed);
        assert!(
            limits
                .with(&RateLimitChange::replace_all(&RateLimits::default()))
                .is_empty()
        );
    }
}
