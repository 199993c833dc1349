//! Identifiers and other small values that must be valid by construction
//! ("parse, don't validate"): ids, emails, client ids and secrets.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value could not be parsed. The message is meant for people: it says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn is_url_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Checks the id form shared by accounts, users, roles, apps and grants: 1–64 URL-safe characters
/// (`A–Z a–z 0–9 - _`). Generated ids are 22 of them (128 random bits).
pub fn check_id(kind: &str, value: &str) -> Result<(), InvalidValue> {
    if value.is_empty() || value.len() > 64 || !value.chars().all(is_url_safe) {
        return Err(InvalidValue(format!(
            "{kind} id {value:?} must be 1-64 characters from A-Z a-z 0-9 - _"
        )));
    }
    Ok(())
}

/// What every text value type offers (ids here, names in [`crate::names`]): the text as `&str`
/// and `String`, `Display`, `Serialize` as a plain string, and comparison with `str`.
macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
pub(crate) use text_value;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
                let value = value.into();
                check_id($kind, &value)?;
                Ok($name(value))
            }
        }

        text_value!($name);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $name::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A tenant.
    AccountId,
    "account"
);
id_type!(
    /// A user; unique across the deployment.
    UserId,
    "user"
);
id_type!(
    /// A role, unique within its account (built-ins are "0", "1", "2" in every account).
    RoleId,
    "role"
);
id_type!(
    /// An app.
    AppId,
    "app"
);
id_type!(
    /// A grant: the installation, authorization or server grant every token hangs from.
    GrantId,
    "grant"
);

/// An email address, compared case-insensitively. Unique within an account, not across the
/// deployment: the same address may be a user of several accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value: String = value.into();
        let invalid = || InvalidValue(format!("{value:?} is not an email address"));
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(invalid());
        }
        Ok(Email(value))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: the address in lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Email::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

fn is_credential_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')
}

/// Client ids and secrets: 1–128 characters from `A–Z a–z 0–9 . _ ~ -`, so form-url-decoding a
/// value a client sent raw never changes it.
pub fn check_credential(what: &str, value: &str) -> Result<(), InvalidValue> {
    if value.is_empty() || value.len() > 128 || !value.chars().all(is_credential_char) {
        return Err(InvalidValue(format!(
            "{what} must be 1-128 characters from A-Z a-z 0-9 . _ ~ -"
        )));
    }
    Ok(())
}

/// The public half of an app's credential set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_credential("client id", &value)?;
        Ok(ClientId(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ClientId::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A secret in memory: a password, a client secret, a webhook secret token. Its `Debug` and
/// `Display` never show the value, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself; call only where the secret is hashed, encrypted or shown once on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Secret(String::deserialize(deserializer)?))
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_url_safe_characters_only() {
        assert!(UserId::parse("acme-owner_1").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a".repeat(65)).is_err());
        assert!(UserId::parse("a/b").is_err());
        assert!(UserId::parse("ann@acme").is_err());
    }

    #[test]
    fn emails_compare_case_insensitively() {
        let a = Email::parse("Ann@Acme.test").unwrap();
        assert_eq!(a.key(), "ann@acme.test");
        assert_eq!(a.as_str(), "Ann@Acme.test");
        for bad in [
            "",
            "ann",
            "@acme.test",
            "ann@",
            "ann@@acme",
            "a b@c.d",
            "ann@.acme",
            "ann@acme..test",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn credentials_use_the_unreserved_alphabet() {
        assert!(check_credential("client id", "ms-prod.v1~x_y").is_ok());
        assert!(check_credential("client id", "a+b").is_err());
        assert!(check_credential("client id", "a%2Db").is_err());
        assert!(check_credential("client id", &"x".repeat(129)).is_err());
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
    }
}
