//! Roles: the three built-ins every account has, custom roles, and the owner invariants.

use crate::ids::RoleId;
use crate::names::RoleName;
use crate::privileges::PrivilegeSet;

/// The built-in roles, with the ids Zoom gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    Owner,
    Admin,
    Member,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 3] = [BuiltinRole::Owner, BuiltinRole::Admin, BuiltinRole::Member];

    /// The role id: "0", "1", "2".
    pub fn id(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "0",
            BuiltinRole::Admin => "1",
            BuiltinRole::Member => "2",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "Owner",
            BuiltinRole::Admin => "Admin",
            BuiltinRole::Member => "Member",
        }
    }

    /// The keyword used for it in seed files and on the command line.
    pub fn keyword(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "owner",
            BuiltinRole::Admin => "admin",
            BuiltinRole::Member => "member",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "Account owner: every privilege, always.",
            BuiltinRole::Admin => "Account admin: every privilege unless the owner trims it.",
            BuiltinRole::Member => "Member: acts on their own profile and meetings only.",
        }
    }

    /// The privileges a new account gives this role.
    pub fn default_privileges(self) -> PrivilegeSet {
        match self {
            BuiltinRole::Owner | BuiltinRole::Admin => PrivilegeSet::all(),
            BuiltinRole::Member => PrivilegeSet::empty(),
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        BuiltinRole::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn from_keyword(keyword: &str) -> Option<Self> {
        BuiltinRole::ALL
            .into_iter()
            .find(|r| r.keyword() == keyword.to_ascii_lowercase())
    }

    pub fn role_id(self) -> RoleId {
        RoleId::parse(self.id()).expect("built-in role ids are valid")
    }

    /// [`BuiltinRole::name`] as a role's name.
    pub fn role_name(self) -> RoleName {
        RoleName::parse(self.name()).expect("built-in role names are valid")
    }
}

impl RoleId {
    /// The built-in role this id names, if any ("0" Owner, "1" Admin, "2" Member).
    pub fn builtin(&self) -> Option<BuiltinRole> {
        BuiltinRole::from_id(self.as_str())
    }

    /// Whether this is the Owner role's id.
    pub fn is_owner(&self) -> bool {
        self.builtin() == Some(BuiltinRole::Owner)
    }
}

/// A change to roles that would break the owner invariants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerRuleViolation {
    #[error("the Owner role holds every privilege and cannot be changed")]
    OwnerRoleIsFixed,
    #[error("the Owner role cannot be assigned directly; transfer ownership instead")]
    OwnerRoleAssignedDirectly,
    #[error(
        "the account owner keeps the Owner role until ownership is transferred to another user"
    )]
    OwnerCannotLeaveOwnerRole,
    #[error("the account owner cannot be deleted or deactivated; transfer ownership first")]
    OwnerCannotBeRemoved,
    #[error("built-in roles cannot be deleted")]
    BuiltinRoleCannotBeDeleted,
}

/// Checks a change of `user`'s role from `from` to `to`. Owner-ship moves only by transfer.
pub fn check_role_assignment(is_owner: bool, to: &str) -> Result<(), OwnerRuleViolation> {
    match (is_owner, to == BuiltinRole::Owner.id()) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => Err(OwnerRuleViolation::OwnerCannotLeaveOwnerRole),
        (false, true) => Err(OwnerRuleViolation::OwnerRoleAssignedDirectly),
    }
}

/// Checks a change of a role's privileges.
pub fn check_privilege_change(role_id: &str) -> Result<(), OwnerRuleViolation> {
    if role_id == BuiltinRole::Owner.id() {
        return Err(OwnerRuleViolation::OwnerRoleIsFixed);
    }
    Ok(())
}

/// Checks deleting a role.
pub fn check_role_deletion(role_id: &str) -> Result<(), OwnerRuleViolation> {
    if BuiltinRole::from_id(role_id).is_some() {
        return Err(OwnerRuleViolation::BuiltinRoleCannotBeDeleted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privileges::Privilege;

    #[test]
    fn builtins_have_zoom_ids_and_default_privileges() {
        assert_eq!(BuiltinRole::from_keyword("Owner"), Some(BuiltinRole::Owner));
        assert_eq!(BuiltinRole::from_id("2"), Some(BuiltinRole::Member));
        assert!(
            BuiltinRole::Admin
                .default_privileges()
                .contains(Privilege::MarketplaceEdit)
        );
        assert!(BuiltinRole::Member.default_privileges().is_empty());
        for role in BuiltinRole::ALL {
            assert_eq!(role.role_name(), role.name());
        }
    }

    #[test]
    fn role_ids_name_their_builtin() {
        assert_eq!(
            BuiltinRole::Owner.role_id().builtin(),
            Some(BuiltinRole::Owner)
        );
        assert!(BuiltinRole::Owner.role_id().is_owner());
        assert!(!BuiltinRole::Admin.role_id().is_owner());
        assert_eq!(
            RoleId::parse("1").unwrap().builtin(),
            Some(BuiltinRole::Admin)
        );
        assert_eq!(RoleId::parse("scheduler").unwrap().builtin(), None);
    }

    #[test]
    fn ownership_moves_only_by_transfer() {
        assert_eq!(
            check_role_assignment(true, "1"),
            Err(OwnerRuleViolation::OwnerCannotLeaveOwnerRole)
        );
        assert_eq!(
            check_role_assignment(false, "0"),
            Err(OwnerRuleViolation::OwnerRoleAssignedDirectly)
        );
        assert_eq!(check_role_assignment(false, "1"), Ok(()));
        assert_eq!(
            check_privilege_change("0"),
            Err(OwnerRuleViolation::OwnerRoleIsFixed)
        );
        assert_eq!(check_privilege_change("1"), Ok(()));
        assert_eq!(
            check_role_deletion("2"),
            Err(OwnerRuleViolation::BuiltinRoleCannotBeDeleted)
        );
        assert_eq!(check_role_deletion("scheduler"), Ok(()));
    }
}
