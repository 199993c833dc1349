//! Grants: the one object every token hangs from.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, UserId};
use crate::privileges::{Privilege, PrivilegeSet};

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

/// Who may remove a user's authorization of a user app (model.md, "Removal"): the user herself,
/// or an admin of her account holding `Marketplace:Edit`. Another account's user may not, even
/// with the privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationRemover {
    /// The user removes her own authorization.
    Herself,
    /// An admin of her account removes it for her.
    Admin,
}

/// Why a user may not remove someone's authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RemovalRefusal {
    #[error("only the user or an admin of her account may remove her authorization")]
    OtherAccount,
    #[error("removing another user's authorization needs the Marketplace:Edit privilege")]
    MissingPrivilege,
}

/// Decides whether `remover` may remove `user`'s authorization. Pure: the caller reads the
/// remover's account and privileges now.
pub fn check_authorization_removal(
    remover: &UserId,
    remover_account: &AccountId,
    remover_privileges: PrivilegeSet,
    user: &UserId,
    user_account: &AccountId,
) -> Result<AuthorizationRemover, RemovalRefusal> {
    if remover_account != user_account {
        return Err(RemovalRefusal::OtherAccount);
    }
    if remover == user {
        return Ok(AuthorizationRemover::Herself);
    }
    if remover_privileges.contains(Privilege::MarketplaceEdit) {
        Ok(AuthorizationRemover::Admin)
    } else {
        Err(RemovalRefusal::MissingPrivilege)
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

    fn id(s: &str) -> UserId {
        UserId::parse(s.to_owned()).unwrap()
    }

    fn account(s: &str) -> AccountId {
        AccountId::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn a_user_removes_her_own_and_an_admin_with_marketplace_edit_removes_anyones_in_her_account() {
        let acme = account("acme");
        let none = PrivilegeSet::empty();
        let edit: PrivilegeSet = [Privilege::MarketplaceEdit].into_iter().collect();
        let cases = [
            ("ann", &acme, none, Ok(AuthorizationRemover::Herself)),
            (
                "ann",
                &account("globex"),
                edit,
                Err(RemovalRefusal::OtherAccount),
            ),
            ("bob", &acme, none, Err(RemovalRefusal::MissingPrivilege)),
            ("adam", &acme, edit, Ok(AuthorizationRemover::Admin)),
        ];
        for (remover, remover_account, privileges, expected) in cases {
            assert_eq!(
                check_authorization_removal(
                    &id(remover),
                    remover_account,
                    privileges,
                    &id("ann"),
                    &acme
                ),
                expected,
                "{remover}"
            );
        }
    }
}
