//! Apps: their kind, status, credential sets, redirect URIs, webhook events, and the account's
//! app policy.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::InvalidValue;

/// Who authorizes an app and whom its tokens act as (model.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Admin-managed: installed once per account, acts on the whole account within its scopes.
    Account,
    /// User-managed: each user authorizes it; it acts as that user.
    User,
    /// Server-to-Server: client credentials for the developer's own account.
    Server,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Account => "account",
            AppKind::User => "user",
            AppKind::Server => "server",
        }
    }

    /// The grant this kind of app receives.
    pub fn grant_kind(self) -> crate::grants::GrantKind {
        match self {
            AppKind::Account => crate::grants::GrantKind::Installation,
            AppKind::User => crate::grants::GrantKind::Authorization,
            AppKind::Server => crate::grants::GrantKind::Server,
        }
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        match value {
            "account" => Ok(AppKind::Account),
            "user" => Ok(AppKind::User),
            "server" => Ok(AppKind::Server),
            "jwt" | "JWT" => Err(InvalidValue(
                "there is no JWT app kind: JWT apps shared one never-expiring key with full admin \
                 power; use a \"server\" app (Server-to-Server OAuth), which gets one-hour tokens \
                 for its own account from client credentials"
                    .into(),
            )),
            other => Err(InvalidValue(format!(
                "app kind {other:?} is not one of account, user, server"
            ))),
        }
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AppKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AppKind::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Where an app may be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppStatus {
    /// Installable only in its developer account, with development credentials.
    Development,
    /// Installable in any account.
    Published,
}

impl AppStatus {
    /// Whether an account sees an app of this status at all: a published app everywhere, a
    /// development app only in its developer account (anywhere else it reads as missing).
    pub fn visible_in(self, developer_account: &str, account: &str) -> bool {
        self == AppStatus::Published || developer_account == account
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Development => "development",
            AppStatus::Published => "published",
        }
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        match value {
            "development" => Ok(AppStatus::Development),
            "published" => Ok(AppStatus::Published),
            other => Err(InvalidValue(format!(
                "app status {other:?} is not one of development, published"
            ))),
        }
    }
}

/// Each app has two credential sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub const ALL: [Environment; 2] = [Environment::Development, Environment::Production];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
        }
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        match value {
            "development" => Ok(Environment::Development),
            "production" => Ok(Environment::Production),
            other => Err(InvalidValue(format!(
                "credential set {other:?} is not one of development, production"
            ))),
        }
    }
}

/// An account's policy for user-level apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AppApproval {
    /// Any user may authorize user-level apps.
    #[default]
    Open,
    /// Members may authorize only apps an admin pre-approved for the account.
    Preapproval,
}

impl AppApproval {
    pub fn as_str(self) -> &'static str {
        match self {
            AppApproval::Open => "open",
            AppApproval::Preapproval => "preapproval",
        }
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        match value {
            "open" => Ok(AppApproval::Open),
            "preapproval" => Ok(AppApproval::Preapproval),
            other => Err(InvalidValue(format!(
                "app_approval {other:?} is not one of open, preapproval"
            ))),
        }
    }
}

/// Checks an app's name: 1-128 printable characters once trimmed. Returns the trimmed name.
pub fn check_app_name(name: &str) -> Result<String, InvalidValue> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(InvalidValue(
            "an app name must be 1-128 printable characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// At most this many active client secrets per credential set (two during a rotation).
pub const MAX_ACTIVE_SECRETS: usize = 2;

/// Checks a redirect URI for an allow-list: an absolute `http` or `https` URL (or a private-use
/// scheme such as `com.example.app:/cb` for native apps, RFC 8252), no fragment, no whitespace.
/// Matching at authorize time is by exact string, so nothing here normalises the value.
pub fn check_redirect_uri(uri: &str) -> Result<(), InvalidValue> {
    let invalid = |why: &str| InvalidValue(format!("redirect URI {uri:?} {why}"));
    if uri.is_empty() || uri.len() > 2048 {
        return Err(invalid("must be 1-2048 characters"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("must not contain whitespace"));
    }
    if uri.contains('#') {
        return Err(invalid("must not contain a fragment (#)"));
    }
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or_else(|| invalid("must be an absolute URL"))?;
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(invalid("must start with a URL scheme"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => {
            let authority = rest
                .strip_prefix("//")
                .map(|r| r.split(['/', '?']).next().unwrap_or(""))
                .unwrap_or("");
            if authority.is_empty() || authority.contains('@') {
                return Err(invalid("must name a host (and no user info)"));
            }
            Ok(())
        }
        "javascript" | "data" | "file" | "vbscript" => Err(invalid("uses a forbidden scheme")),
        // Private-use schemes for native apps must look like a reversed domain name.
        _ if scheme.contains('.') => Ok(()),
        _ => Err(invalid(
            "must use http, https or a reversed-domain private-use scheme",
        )),
    }
}

/// The events an app may subscribe its webhook endpoint to (webhooks.md).
pub const WEBHOOK_EVENTS: [&str; 8] = [
    "app_deauthorized",
    "meeting.created",
    "meeting.updated",
    "meeting.deleted",
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.deleted",
];

pub fn check_webhook_event(event: &str) -> Result<(), InvalidValue> {
    if WEBHOOK_EVENTS.contains(&event) {
        Ok(())
    } else {
        Err(InvalidValue(format!(
            "webhook event {event:?} is not one of {}",
            WEBHOOK_EVENTS.join(", ")
        )))
    }
}

/// Checks a webhook endpoint URL: absolute http(s), no fragment. Whether private targets are
/// allowed is decided when delivering, by deployment policy.
pub fn check_webhook_url(url: &str) -> Result<(), InvalidValue> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(InvalidValue(format!(
            "webhook URL {url:?} must be an http or https URL"
        )));
    }
    check_redirect_uri(url)
        .map_err(|_| InvalidValue(format!("webhook URL {url:?} is not a valid URL")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_name_is_trimmed_and_printable() {
        assert_eq!(check_app_name("  Notes ").unwrap(), "Notes");
        assert!(check_app_name("   ").is_err());
        assert!(check_app_name("a\u{7}b").is_err());
        assert!(check_app_name(&"x".repeat(129)).is_err());
    }

    #[test]
    fn a_development_app_is_seen_only_in_its_developer_account() {
        assert!(AppStatus::Published.visible_in("devworks", "acme"));
        assert!(AppStatus::Development.visible_in("devworks", "devworks"));
        assert!(!AppStatus::Development.visible_in("devworks", "acme"));
    }

    #[test]
    fn asking_for_a_jwt_app_points_to_server_apps() {
        let err = AppKind::parse("jwt").unwrap_err();
        assert!(err.0.contains("\"server\""), "{err}");
        assert_eq!(AppKind::parse("server"), Ok(AppKind::Server));
    }

    #[test]
    fn redirect_uris_must_be_absolute_and_fragment_free() {
        for ok in [
            "http://127.0.0.1:9000/callback",
            "https://app.example.com/oauth/cb?x=1",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/callback",
            "https://app.example.com/cb#frag",
            "javascript:alert(1)",
            "https://user@evil.test/cb",
            "https:///cb",
            "myapp:/cb",
            "https://a.test/ cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn webhook_events_come_from_the_catalog() {
        assert!(check_webhook_event("meeting.created").is_ok());
        assert!(check_webhook_event("meeting.exploded").is_err());
        assert!(check_webhook_url("ftp://x.test/").is_err());
        assert!(check_webhook_url("http://127.0.0.1:9000/hooks").is_ok());
    }
}
