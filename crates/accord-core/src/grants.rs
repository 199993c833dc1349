//! Grants: the one object every token hangs from.

use serde::{Deserialize, Serialize};

/// The three kinds of grant, one per app kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantKind {
    /// An `account` app installed in an account, keyed by (app, account).
    Installation,
    /// A `user` app authorized by a user, keyed by (app, user).
    Authorization,
    /// A `server` app activated in its developer account, keyed by (app, account).
    Server,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Installation => "installation",
            GrantKind::Authorization => "authorization",
            GrantKind::Server => "server",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "installation" => Some(GrantKind::Installation),
            "authorization" => Some(GrantKind::Authorization),
            "server" => Some(GrantKind::Server),
            _ => None,
        }
    }
}

/// Whether tokens of a grant are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantStatus {
    Active,
    Revoked,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::Revoked => "revoked",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(GrantStatus::Active),
            "revoked" => Some(GrantStatus::Revoked),
            _ => None,
        }
    }
}
