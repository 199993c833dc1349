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

/// What decides whether a grant still honours its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantFacts {
    pub kind: GrantKind,
    pub status: GrantStatus,
    /// The current generation: re-authorizing, a replayed code and a reused refresh token each
    /// move it on, ending every token of the generations before.
    pub generation: i64,
    /// For an authorization, whether its user is still active (`false` once deleted).
    pub user_active: bool,
}

impl GrantFacts {
    /// Whether tokens of `generation` are honoured: the grant is active, still at that
    /// generation, and an authorization's user may still act.
    pub fn honours(&self, generation: i64) -> bool {
        self.status == GrantStatus::Active
            && self.generation == generation
            && (self.kind != GrantKind::Authorization || self.user_active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_grant_honours_its_current_generation_and_a_user_grant_needs_its_user() {
        let grant = GrantFacts {
            kind: GrantKind::Authorization,
            status: GrantStatus::Active,
            generation: 3,
            user_active: true,
        };
        assert!(grant.honours(3));
        assert!(!grant.honours(2), "an earlier authorization");
        assert!(!grant.honours(4));
        let revoked = GrantFacts {
            status: GrantStatus::Revoked,
            ..grant
        };
        assert!(!revoked.honours(3));
        let user_gone = GrantFacts {
            user_active: false,
            ..grant
        };
        assert!(!user_gone.honours(3));
        let installation = GrantFacts {
            kind: GrantKind::Installation,
            ..user_gone
        };
        assert!(
            installation.honours(3),
            "an installation does not depend on one user"
        );
    }
}
