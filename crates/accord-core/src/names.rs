//! Names people type, each valid by construction ("parse, don't validate"): a user's first or
//! last name, a role's name, a time zone's IANA name. One rule each, for the store, the API, the
//! seed file and the console: a value of these types has passed it, and a string that has not
//! passed it is not one of them.

use std::fmt;

use jiff::tz::TimeZone;
use serde::{Serialize, Serializer};

use crate::ids::{InvalidValue, text_value};

/// A user's first or last name: trimmed, at most 64 characters, none of them a control
/// character. May be empty (Zoom's users may have no name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_CHARS: usize = 64;

    /// The name, trimmed. The error reads after the field's name: "first_name must be …".
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let value = value.trim();
        if value.chars().count() > Self::MAX_CHARS || value.chars().any(char::is_control) {
            return Err(InvalidValue(format!(
                "must be at most {} printable characters",
                Self::MAX_CHARS
            )));
        }
        Ok(PersonName(value.to_owned()))
    }
}

text_value!(PersonName);

/// A role's name: trimmed, 1–64 characters. Unique within an account, compared by
/// [`RoleName::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleName(String);

impl RoleName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "a role name must be 1-{} characters",
                Self::MAX_CHARS
            )));
        }
        Ok(RoleName(value.to_owned()))
    }

    /// The uniqueness key: the name in lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

text_value!(RoleName);

/// An IANA time-zone name's shape: `UTC`, `Europe/Berlin`, `America/Argentina/Buenos_Aires` —
/// at most 64 characters, `/`-separated parts that start with a letter and hold letters, digits
/// and `_ - +`. Whether the bundled tz database knows it is [`TimeZoneName::zone`]: a user keeps a
/// well-formed name the database may not know (yet); a meeting needs a known one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value.split('/').all(|part| {
                !part.is_empty()
                    && part.starts_with(|c: char| c.is_ascii_alphabetic())
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
            });
        if !ok {
            return Err(InvalidValue(format!(
                "timezone {value:?} is not an IANA time-zone name such as Europe/Berlin"
            )));
        }
        Ok(TimeZoneName(value.to_owned()))
    }

    /// `UTC`, every new user's time zone.
    pub fn utc() -> Self {
        TimeZoneName("UTC".to_owned())
    }

    /// The zone, when the bundled tz database knows the name.
    pub fn zone(&self) -> Option<TimeZone> {
        TimeZone::get(&self.0).ok()
    }

    /// Whether the bundled tz database knows this name.
    pub fn is_known(&self) -> bool {
        self.zone().is_some()
    }
}

text_value!(TimeZoneName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_names_are_trimmed_short_and_printable() {
        assert_eq!(PersonName::parse("  Ada ").unwrap(), "Ada");
        assert_eq!(PersonName::parse("").unwrap(), "");
        assert_eq!(
            PersonName::parse(&"é".repeat(64)).unwrap().as_str().len(),
            128
        );
        let too_long = PersonName::parse(&"a".repeat(65)).unwrap_err();
        assert_eq!(too_long.0, "must be at most 64 printable characters");
        assert!(PersonName::parse("Ada\u{7}").is_err());
        assert!(PersonName::parse("A\nB").is_err());
    }

    #[test]
    fn role_names_are_trimmed_and_1_to_64_characters() {
        let name = RoleName::parse(" Schedulers ").unwrap();
        assert_eq!(name, "Schedulers");
        assert_eq!(name.key(), "schedulers");
        for bad in ["", "   ", &"r".repeat(65)] {
            assert_eq!(
                RoleName::parse(bad).unwrap_err().0,
                "a role name must be 1-64 characters"
            );
        }
        assert!(RoleName::parse(&"r".repeat(64)).is_ok());
    }

    #[test]
    fn time_zone_names_have_the_iana_shape() {
        for good in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
            "America/Port-au-Prince",
        ] {
            assert_eq!(TimeZoneName::parse(good).unwrap(), good);
        }
        for bad in [
            "",
            "Europe/",
            "/Berlin",
            "Europe//Berlin",
            "1Zone",
            "Europe/Ber lin",
        ] {
            assert_eq!(
                TimeZoneName::parse(bad).unwrap_err().0,
                format!("timezone {bad:?} is not an IANA time-zone name such as Europe/Berlin")
            );
        }
        assert!(TimeZoneName::parse(&format!("A{}", "b".repeat(64))).is_err());
    }

    #[test]
    fn a_well_formed_time_zone_may_be_unknown() {
        assert!(TimeZoneName::parse("Europe/Berlin").unwrap().is_known());
        assert!(TimeZoneName::utc().is_known());
        let mars = TimeZoneName::parse("Mars/Olympus_Mons").unwrap();
        assert!(!mars.is_known());
        assert!(mars.zone().is_none());
    }
}
