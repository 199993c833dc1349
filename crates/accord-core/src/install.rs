//! Who may add an app, and which scopes the grant gets (model.md, *Installing, authorizing,
//! removing*): the install of an `account` app and the authorization of a `user` app, as pure
//! rules over small fact structs the caller loads.
//!
//! An installation acts for the whole account, so its installer must hold `Marketplace:Edit`
//! and the privilege behind every required admin scope, and optional admin scopes they could not
//! grant are dropped. A user grant keeps every declared scope: its admin scopes are clipped to the
//! user's live privileges on each call by the permission rule, not here.

use crate::apps::{AppApproval, AppKind, AppStatus};
use crate::ids::{AccountId, AppId};
use crate::privileges::{Privilege, PrivilegeSet};
use crate::scopes::Scope;
use crate::users::UserStatus;

/// The app being installed or authorized.
#[derive(Debug, Clone, Copy)]
pub struct AppFacts<'a> {
    /// The app's id, looked up in the account's blocked and pre-approved lists.
    pub id: &'a AppId,
    /// Account apps are installed, user apps authorized.
    pub kind: AppKind,
    /// A development app is added only in its developer account.
    pub status: AppStatus,
    /// The account the app was built in.
    pub developer_account: &'a AccountId,
    /// Declared required scopes, in declaration order.
    pub required: &'a [Scope],
    /// Declared optional scopes, in declaration order.
    pub optional: &'a [Scope],
}

impl AppFacts<'_> {
    /// The first scope in `requested` that the app does not declare at all: the authorize
    /// endpoint answers it with `error=invalid_scope` (oauth.md) before any consent.
    pub fn undeclared(&self, requested: &[Scope]) -> Option<Scope> {
        requested
            .iter()
            .copied()
            .find(|scope| !self.required.contains(scope) && !self.optional.contains(scope))
    }
}

/// The user on the consent page.
#[derive(Debug, Clone, Copy)]
pub struct UserFacts<'a> {
    /// Only active users install or authorize.
    pub status: UserStatus,
    /// The account owner always qualifies, whatever their role says.
    pub is_owner: bool,
    /// The privileges of the user's role now.
    pub privileges: PrivilegeSet,
    /// The optional scopes the user kept (the consent page's checkboxes, or an authorize
    /// request's `scope`); `None` keeps every optional scope. Entries that are not declared
    /// optional are ignored here (see [`AppFacts::undeclared`]).
    pub accepted_optional: Option<&'a [Scope]>,
}

impl UserFacts<'_> {
    fn effective_privileges(&self) -> PrivilegeSet {
        if self.is_owner {
            PrivilegeSet::all()
        } else {
            self.privileges
        }
    }

    fn keeps(&self, optional: Scope) -> bool {
        self.accepted_optional
            .is_none_or(|accepted| accepted.contains(&optional))
    }
}

/// The account the app is being added to, and its app policy.
#[derive(Debug, Clone, Copy)]
pub struct AccountFacts<'a> {
    /// The account's id, compared with a development app's developer account.
    pub id: &'a AccountId,
    /// Whether members may authorize only pre-approved user apps.
    pub app_approval: AppApproval,
    /// Apps blocked in this account.
    pub blocked_apps: &'a [AppId],
    /// Apps an admin pre-approved for this account.
    pub preapproved_apps: &'a [AppId],
}

/// Why an account app cannot be installed. The consent page shows it; no grant is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallRefusal {
    /// Only an account admin can install it: these privileges are missing.
    #[error(
        "an account admin must install this app: your role lacks {}",
        privilege_list(missing)
    )]
    AdminRequired {
        /// The privileges the user's role lacks, in catalog order.
        missing: Vec<Privilege>,
    },
    /// The account blocked the app.
    #[error("this account has blocked this app")]
    Blocked,
    /// A development app installs only in its developer account.
    #[error("this app is in development and can be installed only in its developer account")]
    DevelopmentAppOutsideDeveloperAccount,
    /// The user is inactive or pending.
    #[error("only an active user can install apps")]
    UserNotActive,
    /// Only `account` apps are installed; `user` apps are authorized, `server` apps activated.
    #[error("only account-level apps are installed for an account; this one is a different kind")]
    WrongKind,
}

/// Why a user app cannot be authorized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeRefusal {
    /// The account requires pre-approval and has not pre-approved this app; the page offers to
    /// request it from an admin holding Marketplace:Edit.
    #[error(
        "this account requires an admin to pre-approve apps; ask an admin with Marketplace:Edit \
         to pre-approve this one"
    )]
    PreapprovalRequired,
    /// The account blocked the app.
    #[error("this account has blocked this app")]
    Blocked,
    /// A development app is authorized only in its developer account.
    #[error("this app is in development and can be authorized only in its developer account")]
    DevelopmentAppOutsideDeveloperAccount,
    /// The user is inactive or pending.
    #[error("only an active user can authorize apps")]
    UserNotActive,
    /// Only `user` apps are authorized by a user for themselves.
    #[error("only user-level apps are authorized by a user; this one is a different kind")]
    WrongKind,
}

fn privilege_list(privileges: &[Privilege]) -> String {
    privileges
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The install of an `account` app: checks the installer and the account, and returns the scopes
/// the installation gets — every required scope, then the optional ones the user kept and could
/// grant (an optional admin scope whose privilege the user lacks is dropped).
pub fn check_account_install(
    app: &AppFacts<'_>,
    user: &UserFacts<'_>,
    account: &AccountFacts<'_>,
) -> Result<Vec<Scope>, InstallRefusal> {
    if app.kind != AppKind::Account {
        return Err(InstallRefusal::WrongKind);
    }
    if account.blocked_apps.contains(app.id) {
        return Err(InstallRefusal::Blocked);
    }
    if app.status == AppStatus::Development && app.developer_account != account.id {
        return Err(InstallRefusal::DevelopmentAppOutsideDeveloperAccount);
    }
    if user.status != UserStatus::Active {
        return Err(InstallRefusal::UserNotActive);
    }

    let privileges = user.effective_privileges();
    let needed = std::iter::once(Privilege::MarketplaceEdit).chain(
        app.required
            .iter()
            .filter(|scope| scope.is_admin())
            .map(|scope| scope.privilege()),
    );
    let mut missing: Vec<Privilege> = needed.filter(|p| !privileges.contains(*p)).collect();
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(InstallRefusal::AdminRequired { missing });
    }

    let can_grant = |scope: &Scope| !scope.is_admin() || privileges.contains(scope.privilege());
    let optional = app
        .optional
        .iter()
        .copied()
        .filter(|s| user.keeps(*s) && can_grant(s));
    Ok(app.required.iter().copied().chain(optional).collect())
}

/// The authorization of a `user` app by a user for themselves: any active user, held back only
/// by a block, a development app outside its developer account, or — under `preapproval`, for a
/// user without Marketplace:Edit — the lack of a pre-approval. Returns every required scope and
/// the optional ones the user kept.
pub fn check_user_authorize(
    app: &AppFacts<'_>,
    user: &UserFacts<'_>,
    account: &AccountFacts<'_>,
) -> Result<Vec<Scope>, AuthorizeRefusal> {
    if app.kind != AppKind::User {
        return Err(AuthorizeRefusal::WrongKind);
    }
    if account.blocked_apps.contains(app.id) {
        return Err(AuthorizeRefusal::Blocked);
    }
    if app.status == AppStatus::Development && app.developer_account != account.id {
        return Err(AuthorizeRefusal::DevelopmentAppOutsideDeveloperAccount);
    }
    if user.status != UserStatus::Active {
        return Err(AuthorizeRefusal::UserNotActive);
    }
    let held_back = account.app_approval == AppApproval::Preapproval
        && !user
            .effective_privileges()
            .contains(Privilege::MarketplaceEdit)
        && !account.preapproved_apps.contains(app.id);
    if held_back {
        return Err(AuthorizeRefusal::PreapprovalRequired);
    }
    let optional = app.optional.iter().copied().filter(|s| user.keeps(*s));
    Ok(app.required.iter().copied().chain(optional).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(names: &[&str]) -> Vec<Scope> {
        names
            .iter()
            .map(|name| Scope::parse(name).unwrap())
            .collect()
    }

    fn names(scopes: &[Scope]) -> Vec<&'static str> {
        scopes.iter().map(|s| s.as_str()).collect()
    }

    struct Fixture {
        app_id: AppId,
        other_app: AppId,
        dev_account: AccountId,
        acme: AccountId,
        required: Vec<Scope>,
        optional: Vec<Scope>,
    }

    impl Fixture {
        /// An app built in "devco" requiring meeting:write:admin and offering user:read:admin
        /// and meeting:read (both optional).
        fn new() -> Fixture {
            Fixture {
                app_id: AppId::parse("meeting-sync").unwrap(),
                other_app: AppId::parse("other").unwrap(),
                dev_account: AccountId::parse("devco").unwrap(),
                acme: AccountId::parse("acme").unwrap(),
                required: scopes(&["meeting:write:admin"]),
                optional: scopes(&["user:read:admin", "meeting:read"]),
            }
        }

        fn app(&self, kind: AppKind, status: AppStatus) -> AppFacts<'_> {
            AppFacts {
                id: &self.app_id,
                kind,
                status,
                developer_account: &self.dev_account,
                required: &self.required,
                optional: &self.optional,
            }
        }

        fn acme(&self) -> AccountFacts<'_> {
            AccountFacts {
                id: &self.acme,
                app_approval: AppApproval::Open,
                blocked_apps: std::slice::from_ref(&self.other_app),
                preapproved_apps: &[],
            }
        }
    }

    fn user(privileges: &[Privilege]) -> UserFacts<'static> {
        UserFacts {
            status: UserStatus::Active,
            is_owner: false,
            privileges: privileges.iter().copied().collect(),
            accepted_optional: None,
        }
    }

    use Privilege::{MarketplaceEdit, MeetingEdit, UserRead};

    /// The granted scope names a row expects, or its refusal.
    type Granted<E> = Result<Vec<&'static str>, E>;

    #[test]
    fn account_install_rules_table() {
        let f = Fixture::new();
        let published = f.app(AppKind::Account, AppStatus::Published);
        let admin = user(&Privilege::ALL);
        let owner = UserFacts {
            is_owner: true,
            ..user(&[])
        };
        // Who installs, and what the installation gets (or why not).
        let rows: [(&str, UserFacts<'_>, Granted<InstallRefusal>); 7] = [
            (
                "admin gets every scope",
                admin,
                Ok(vec![
                    "meeting:write:admin",
                    "user:read:admin",
                    "meeting:read",
                ]),
            ),
            (
                "owner always qualifies",
                owner,
                Ok(vec![
                    "meeting:write:admin",
                    "user:read:admin",
                    "meeting:read",
                ]),
            ),
            (
                "optional admin scope without its privilege is dropped",
                user(&[MarketplaceEdit, MeetingEdit]),
                Ok(vec!["meeting:write:admin", "meeting:read"]),
            ),
            (
                "member lacks everything",
                user(&[]),
                Err(InstallRefusal::AdminRequired {
                    missing: vec![MeetingEdit, MarketplaceEdit],
                }),
            ),
            (
                "marketplace editor without the meeting privilege",
                user(&[MarketplaceEdit, UserRead]),
                Err(InstallRefusal::AdminRequired {
                    missing: vec![MeetingEdit],
                }),
            ),
            (
                "meeting editor without Marketplace:Edit",
                user(&[MeetingEdit]),
                Err(InstallRefusal::AdminRequired {
                    missing: vec![MarketplaceEdit],
                }),
            ),
            (
                "deactivated admin",
                UserFacts {
                    status: UserStatus::Inactive,
                    ..user(&Privilege::ALL)
                },
                Err(InstallRefusal::UserNotActive),
            ),
        ];
        for (what, user, expected) in rows {
            let result = check_account_install(&published, &user, &f.acme());
            assert_eq!(
                result.as_deref().map(names).map_err(Clone::clone),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn installer_may_narrow_optional_scopes() {
        let f = Fixture::new();
        let app = f.app(AppKind::Account, AppStatus::Published);
        let kept = scopes(&["meeting:read", "marketplace:read:admin"]);
        let admin = UserFacts {
            accepted_optional: Some(&kept),
            ..user(&Privilege::ALL)
        };
        let granted = check_account_install(&app, &admin, &f.acme()).unwrap();
        assert_eq!(
            names(&granted),
            ["meeting:write:admin", "meeting:read"],
            "undeclared entries are ignored"
        );
        assert_eq!(
            app.undeclared(&kept).map(Scope::as_str),
            Some("marketplace:read:admin")
        );
        assert_eq!(
            app.undeclared(&scopes(&["meeting:read", "meeting:write:admin"])),
            None
        );
        let none = UserFacts {
            accepted_optional: Some(&[]),
            ..user(&Privilege::ALL)
        };
        assert_eq!(
            names(&check_account_install(&app, &none, &f.acme()).unwrap()),
            ["meeting:write:admin"]
        );
    }

    #[test]
    fn development_app_installs_only_in_its_developer_account() {
        let f = Fixture::new();
        let app = f.app(AppKind::Account, AppStatus::Development);
        let admin = user(&Privilege::ALL);
        assert_eq!(
            check_account_install(&app, &admin, &f.acme()),
            Err(InstallRefusal::DevelopmentAppOutsideDeveloperAccount)
        );
        let home = AccountFacts {
            id: &f.dev_account,
            ..f.acme()
        };
        assert!(check_account_install(&app, &admin, &home).is_ok());
    }

    #[test]
    fn blocked_app_installs_nowhere_and_wrong_kinds_are_refused() {
        let f = Fixture::new();
        let admin = user(&Privilege::ALL);
        let app = f.app(AppKind::Account, AppStatus::Published);
        let blocking = AccountFacts {
            blocked_apps: std::slice::from_ref(&f.app_id),
            ..f.acme()
        };
        assert_eq!(
            check_account_install(&app, &admin, &blocking),
            Err(InstallRefusal::Blocked)
        );
        let home_blocking = AccountFacts {
            id: &f.dev_account,
            ..blocking
        };
        assert_eq!(
            check_account_install(&app, &admin, &home_blocking),
            Err(InstallRefusal::Blocked)
        );
        for kind in [AppKind::User, AppKind::Server] {
            assert_eq!(
                check_account_install(&f.app(kind, AppStatus::Published), &admin, &f.acme()),
                Err(InstallRefusal::WrongKind)
            );
        }
    }

    #[test]
    fn admin_required_names_the_missing_privileges() {
        let refusal = InstallRefusal::AdminRequired {
            missing: vec![Privilege::MarketplaceRead, MarketplaceEdit],
        };
        assert_eq!(
            refusal.to_string(),
            "an account admin must install this app: your role lacks Marketplace:Read, Marketplace:Edit"
        );
    }

    #[test]
    fn user_authorize_rules_table() {
        let f = Fixture::new();
        let app = f.app(AppKind::User, AppStatus::Published);
        let preapproval = AccountFacts {
            app_approval: AppApproval::Preapproval,
            ..f.acme()
        };
        let approved = AccountFacts {
            preapproved_apps: std::slice::from_ref(&f.app_id),
            ..preapproval
        };
        let all = Ok(vec![
            "meeting:write:admin",
            "user:read:admin",
            "meeting:read",
        ]);
        let member = user(&[]);
        let marketplace_admin = user(&[MarketplaceEdit]);
        let owner = UserFacts {
            is_owner: true,
            ..user(&[])
        };
        let inactive = UserFacts {
            status: UserStatus::Inactive,
            ..user(&[])
        };
        let pending = UserFacts {
            status: UserStatus::Pending,
            ..user(&Privilege::ALL)
        };
        let rows: [(
            &str,
            UserFacts<'_>,
            AccountFacts<'_>,
            Granted<AuthorizeRefusal>,
        ); 8] = [
            (
                "member under open policy keeps every declared scope",
                member,
                f.acme(),
                all.clone(),
            ),
            (
                "member under preapproval is held back",
                member,
                preapproval,
                Err(AuthorizeRefusal::PreapprovalRequired),
            ),
            ("member, app pre-approved", member, approved, all.clone()),
            (
                "Marketplace:Edit holders are not held back",
                marketplace_admin,
                preapproval,
                all.clone(),
            ),
            ("owner is not held back", owner, preapproval, all.clone()),
            (
                "inactive user",
                inactive,
                f.acme(),
                Err(AuthorizeRefusal::UserNotActive),
            ),
            (
                "pending user",
                pending,
                f.acme(),
                Err(AuthorizeRefusal::UserNotActive),
            ),
            (
                "blocked app",
                member,
                AccountFacts {
                    blocked_apps: std::slice::from_ref(&f.app_id),
                    ..f.acme()
                },
                Err(AuthorizeRefusal::Blocked),
            ),
        ];
        for (what, user, account, expected) in rows {
            let result = check_user_authorize(&app, &user, &account);
            assert_eq!(
                result.as_deref().map(names).map_err(Clone::clone),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn user_authorize_drops_declined_optional_scopes_and_checks_kind_and_status() {
        let f = Fixture::new();
        let app = f.app(AppKind::User, AppStatus::Published);
        let kept = scopes(&["meeting:read"]);
        let member = UserFacts {
            accepted_optional: Some(&kept),
            ..user(&[])
        };
        assert_eq!(
            names(&check_user_authorize(&app, &member, &f.acme()).unwrap()),
            ["meeting:write:admin", "meeting:read"]
        );

        let dev = f.app(AppKind::User, AppStatus::Development);
        assert_eq!(
            check_user_authorize(&dev, &member, &f.acme()),
            Err(AuthorizeRefusal::DevelopmentAppOutsideDeveloperAccount)
        );
        let home = AccountFacts {
            id: &f.dev_account,
            ..f.acme()
        };
        assert!(check_user_authorize(&dev, &member, &home).is_ok());
        for kind in [AppKind::Account, AppKind::Server] {
            assert_eq!(
                check_user_authorize(&f.app(kind, AppStatus::Published), &member, &f.acme()),
                Err(AuthorizeRefusal::WrongKind)
            );
        }
    }
}
