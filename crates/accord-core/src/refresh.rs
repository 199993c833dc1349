//! Whether a presented refresh token is usable now, and how (oauth.md, "Refresh token"). The token
//! endpoint's rotation and introspection both ask [`decide`], so they cannot disagree: what
//! introspection calls active is exactly what `/oauth/token` would accept at that moment.
//!
//! The order of the checks is part of the rule. A token that is unknown, another client's,
//! revoked, expired, or of a generation its grant no longer honours is merely invalid: presenting
//! it changes nothing, so a client cannot end someone else's family with a token it was never
//! issued. Only a valid token that was already rotated out can be *reuse*, and reuse ends the
//! family — unless it comes within the grace window while the successor is still unused, when
//! the same successor is handed out again (a lost answer, or two concurrent refreshes).

use crate::clock::Timestamp;
use crate::grants::GrantFacts;

/// What the store knows about one refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFacts {
    /// The client it was issued to.
    pub client_id: String,
    /// The generation of the authorization it was issued under.
    pub generation: i64,
    pub expires_at: Timestamp,
    /// When it was rotated out.
    pub used_at: Option<Timestamp>,
    pub revoked: bool,
    /// Its grant; `None` when the grant no longer exists.
    pub grant: Option<GrantFacts>,
    /// Its one successor, once it has been rotated.
    pub successor: Option<SuccessorFacts>,
}

/// The successor a rotated token was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessorFacts {
    pub used: bool,
    pub revoked: bool,
    pub expires_at: Timestamp,
}

/// Why a refresh token is refused without consequences. Every reason answers `invalid_grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Unknown,
    OtherClient,
    Revoked,
    Expired,
    /// The grant was removed, re-authorized since (another generation), or its user may no
    /// longer act.
    NotHonoured,
}

/// What presenting a refresh token does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// Refused; nothing changes.
    Invalid(Invalid),
    /// Unused: rotate it — mark it used and issue its one successor.
    Rotate,
    /// Rotated within the grace window and its successor is still unused: that same successor
    /// again.
    RepeatSuccessor,
    /// Rotated out, after the grace window or after its successor was used: reuse. The family
    /// and every access token of the authorization end.
    Reused,
}

impl RefreshVerdict {
    /// Whether the token endpoint answers with tokens: what introspection reports as `active`.
    pub fn usable(self) -> bool {
        matches!(
            self,
            RefreshVerdict::Rotate | RefreshVerdict::RepeatSuccessor
        )
    }
}

/// The rule: what presenting `token` (`None`: unknown) as `client_id` at `now` does, with a grace
/// window of `grace_seconds` (0 turns it off).
pub fn decide(
    token: Option<&RefreshFacts>,
    client_id: &str,
    now: Timestamp,
    grace_seconds: i64,
) -> RefreshVerdict {
    let Some(token) = token else {
        return RefreshVerdict::Invalid(Invalid::Unknown);
    };
    let invalid = if token.client_id != client_id {
        Some(Invalid::OtherClient)
    } else if token.revoked {
        Some(Invalid::Revoked)
    } else if token.expires_at <= now {
        Some(Invalid::Expired)
    } else if !token.grant.is_some_and(|g| g.honours(token.generation)) {
        Some(Invalid::NotHonoured)
    } else {
        None
    };
    if let Some(reason) = invalid {
        return RefreshVerdict::Invalid(reason);
    }
    let Some(used_at) = token.used_at else {
        return RefreshVerdict::Rotate;
    };
    let within_grace =
        grace_seconds > 0 && now.millis() - used_at.millis() <= grace_seconds.saturating_mul(1000);
    let successor_unused = token
        .successor
        .is_some_and(|s| !s.used && !s.revoked && s.expires_at > now);
    if within_grace && successor_unused {
        RefreshVerdict::RepeatSuccessor
    } else {
        RefreshVerdict::Reused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::{GrantKind, GrantStatus};

    const NOW: Timestamp = Timestamp(1_000_000_000);
    const GRACE: i64 = 60;

    fn fresh() -> RefreshFacts {
        RefreshFacts {
            client_id: "notes".into(),
            generation: 2,
            expires_at: NOW.plus_seconds(3600),
            used_at: None,
            revoked: false,
            grant: Some(GrantFacts {
                kind: GrantKind::Authorization,
                status: GrantStatus::Active,
                generation: 2,
                user_active: true,
            }),
            successor: None,
        }
    }

    fn rotated(seconds_ago: i64, successor: SuccessorFacts) -> RefreshFacts {
        RefreshFacts {
            used_at: Some(NOW.plus_seconds(-seconds_ago)),
            successor: Some(successor),
            ..fresh()
        }
    }

    const UNUSED: SuccessorFacts = SuccessorFacts {
        used: false,
        revoked: false,
        expires_at: Timestamp(NOW.0 + 3_600_000),
    };

    fn verdict(token: &RefreshFacts) -> RefreshVerdict {
        decide(Some(token), "notes", NOW, GRACE)
    }

    #[test]
    fn a_fresh_token_rotates_and_a_repeat_within_the_grace_window_gets_the_same_successor() {
        assert_eq!(verdict(&fresh()), RefreshVerdict::Rotate);
        assert_eq!(
            verdict(&rotated(0, UNUSED)),
            RefreshVerdict::RepeatSuccessor
        );
        assert_eq!(
            verdict(&rotated(GRACE, UNUSED)),
            RefreshVerdict::RepeatSuccessor,
            "the window's last millisecond is inside it"
        );
        assert!(RefreshVerdict::Rotate.usable() && RefreshVerdict::RepeatSuccessor.usable());
    }

    #[test]
    fn a_rotated_token_is_reuse_after_the_window_or_once_its_successor_was_used() {
        assert_eq!(verdict(&rotated(GRACE + 1, UNUSED)), RefreshVerdict::Reused);
        let used = SuccessorFacts {
            used: true,
            ..UNUSED
        };
        assert_eq!(verdict(&rotated(1, used)), RefreshVerdict::Reused);
        let revoked = SuccessorFacts {
            revoked: true,
            ..UNUSED
        };
        assert_eq!(verdict(&rotated(1, revoked)), RefreshVerdict::Reused);
        let expired = SuccessorFacts {
            expires_at: NOW,
            ..UNUSED
        };
        assert_eq!(verdict(&rotated(1, expired)), RefreshVerdict::Reused);
        let missing = RefreshFacts {
            successor: None,
            ..rotated(1, UNUSED)
        };
        assert_eq!(verdict(&missing), RefreshVerdict::Reused);
        assert_eq!(
            decide(Some(&rotated(0, UNUSED)), "notes", NOW, 0),
            RefreshVerdict::Reused,
            "a grace window of 0 is off"
        );
        assert!(!RefreshVerdict::Reused.usable());
    }

    #[test]
    fn invalid_tokens_are_refused_before_reuse_is_considered() {
        let spent = rotated(GRACE + 1, UNUSED);
        assert_eq!(
            decide(None, "notes", NOW, GRACE),
            RefreshVerdict::Invalid(Invalid::Unknown)
        );
        assert_eq!(
            decide(Some(&spent), "other", NOW, GRACE),
            RefreshVerdict::Invalid(Invalid::OtherClient),
            "another client presenting a spent token does not end the family"
        );
        let revoked = RefreshFacts {
            revoked: true,
            ..spent.clone()
        };
        assert_eq!(verdict(&revoked), RefreshVerdict::Invalid(Invalid::Revoked));
        let expired = RefreshFacts {
            expires_at: NOW,
            ..spent.clone()
        };
        assert_eq!(verdict(&expired), RefreshVerdict::Invalid(Invalid::Expired));
        let grant = fresh().grant;
        for (what, grant) in [
            ("removed", None),
            (
                "re-authorized",
                grant.map(|g| GrantFacts { generation: 3, ..g }),
            ),
            (
                "revoked",
                grant.map(|g| GrantFacts {
                    status: GrantStatus::Revoked,
                    ..g
                }),
            ),
            (
                "user inactive",
                grant.map(|g| GrantFacts {
                    user_active: false,
                    ..g
                }),
            ),
        ] {
            for token in [fresh(), spent.clone()] {
                let token = RefreshFacts { grant, ..token };
                assert_eq!(
                    verdict(&token),
                    RefreshVerdict::Invalid(Invalid::NotHonoured),
                    "{what}"
                );
            }
        }
    }
}
