//! Step 5 of the permission rule: the business rules of single endpoints, as pure functions.
//!
//! Each answers the [`Violation`] a request breaks, if any; the caller (the API, the console)
//! hands it to [`crate::permission`], which reports it after steps 1–4 admit the call — so a
//! caller without access learns nothing from a rule. One copy for every surface: a page that
//! changes a role asks the same function as `PATCH /v2/roles/{roleId}`.
//!
//! The store keeps its own guard on the same invariants ([`crate::roles::check_role_assignment`]
//! and its siblings), for writes that come from no endpoint (the CLI, seeds).

use crate::ids::RoleId;
use crate::permission::Violation;
use crate::privileges::{Privilege, PrivilegeSet};
use crate::roles::BuiltinRole;
use crate::users::UserStatus;

fn violation(code: u32, message: impl Into<String>, fix: impl Into<String>) -> Violation {
    Violation {
        code,
        message: message.into(),
        fix: fix.into(),
    }
}

/// `PATCH /roles/{roleId}`: the Owner role never changes, and only the account owner changes the
/// Admin role. `role` is the role found in the caller's account (`None`: no such role, which the
/// rule answers as missing); `caller_is_owner` whether the caller acts as the account owner.
pub fn role_change(role: Option<&RoleId>, caller_is_owner: bool) -> Option<Violation> {
    match role.and_then(RoleId::builtin) {
        Some(BuiltinRole::Owner) => Some(violation(
            200,
            "The Owner role holds every privilege and cannot be changed.",
            "Change another role.",
        )),
        Some(BuiltinRole::Admin) if !caller_is_owner => Some(violation(
            200,
            "Only the account owner can change the Admin role.",
            "Ask the account owner.",
        )),
        _ => None,
    }
}

/// `POST /roles/{roleId}/members` and `DELETE /roles/{roleId}/members/{userId}`: Owner and Member
/// membership is not edited directly (api.md: 400, code 300) — ownership moves by transfer, and
/// an unassigned user is a Member. `role_id` as the path gives it.
pub fn role_membership_change(role_id: &str) -> Option<Violation> {
    match BuiltinRole::from_id(role_id) {
        Some(BuiltinRole::Owner) => Some(violation(
            300,
            "The Owner role's membership cannot be edited directly.",
            "Transfer ownership instead.",
        )),
        Some(BuiltinRole::Member) => Some(violation(
            300,
            "The Member role's membership cannot be edited directly.",
            "Assign the user another role; unassigned users are Members.",
        )),
        _ => None,
    }
}

/// `PATCH /users/{userId}` with a `role_id`: through a user grant the acting user needs the
/// `Role:Edit` privilege too. `acting_user` is the live privileges of the user a user grant acts
/// as (`None` for installation and server grants, whose scopes alone decide).
pub fn user_role_assignment(
    changes_role: bool,
    acting_user: Option<PrivilegeSet>,
) -> Option<Violation> {
    let lacks_role_edit = acting_user.is_some_and(|p| !p.contains(Privilege::RoleEdit));
    (changes_role && lacks_role_edit).then(|| {
        violation(
            200,
            "Only a user with the Role:Edit privilege can change a user's role.",
            "Ask an admin to give your role Role:Edit, or change the role in the console.",
        )
    })
}

/// `PUT /users/{userId}/status`: the account owner cannot be deactivated. `target_is_owner`:
/// whether the user found holds the Owner role (`false` when none was found).
pub fn user_status_change(target_is_owner: bool, to: UserStatus) -> Option<Violation> {
    (to == UserStatus::Inactive)
        .then(|| owner_removal(target_is_owner, "deactivated"))
        .flatten()
}

/// `DELETE /users/{userId}`: the account owner cannot be deleted.
pub fn user_deletion(target_is_owner: bool) -> Option<Violation> {
    owner_removal(target_is_owner, "deleted")
}

fn owner_removal(target_is_owner: bool, what: &str) -> Option<Violation> {
    target_is_owner.then(|| {
        violation(
            200,
            format!("The account owner cannot be {what}."),
            "Transfer ownership to another user first.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: &str) -> RoleId {
        RoleId::parse(id).unwrap()
    }

    #[test]
    fn the_owner_role_never_changes() {
        for caller_is_owner in [true, false] {
            let v = role_change(Some(&BuiltinRole::Owner.role_id()), caller_is_owner).unwrap();
            assert_eq!(v.code, 200);
            assert_eq!(
                v.message,
                "The Owner role holds every privilege and cannot be changed."
            );
            assert_eq!(v.fix, "Change another role.");
        }
    }

    #[test]
    fn only_the_owner_changes_the_admin_role() {
        let v = role_change(Some(&role("1")), false).unwrap();
        assert_eq!(
            (v.code, v.message.as_str(), v.fix.as_str()),
            (
                200,
                "Only the account owner can change the Admin role.",
                "Ask the account owner."
            )
        );
        assert_eq!(role_change(Some(&role("1")), true), None);
    }

    #[test]
    fn member_and_custom_roles_and_missing_ones_break_no_rule() {
        for caller_is_owner in [true, false] {
            assert_eq!(role_change(Some(&role("2")), caller_is_owner), None);
            assert_eq!(role_change(Some(&role("scheduler")), caller_is_owner), None);
            assert_eq!(role_change(None, caller_is_owner), None);
        }
    }

    #[test]
    fn owner_and_member_membership_is_not_edited_directly() {
        let owner = role_membership_change("0").unwrap();
        assert_eq!(owner.code, 300);
        assert_eq!(
            owner.message,
            "The Owner role's membership cannot be edited directly."
        );
        assert_eq!(owner.fix, "Transfer ownership instead.");
        let member = role_membership_change("2").unwrap();
        assert_eq!(member.code, 300);
        assert_eq!(
            member.message,
            "The Member role's membership cannot be edited directly."
        );
        assert_eq!(
            member.fix,
            "Assign the user another role; unassigned users are Members."
        );
        assert_eq!(role_membership_change("1"), None);
        assert_eq!(role_membership_change("scheduler"), None);
        assert_eq!(role_membership_change("no such role"), None);
    }

    #[test]
    fn a_user_grant_changes_a_role_only_with_role_edit() {
        let without = PrivilegeSet::empty();
        let with: PrivilegeSet = [Privilege::RoleEdit].into_iter().collect();
        let v = user_role_assignment(true, Some(without)).unwrap();
        assert_eq!(v.code, 200);
        assert_eq!(
            v.message,
            "Only a user with the Role:Edit privilege can change a user's role."
        );
        assert_eq!(user_role_assignment(true, Some(with)), None);
        // Installation and server grants: their scopes decide.
        assert_eq!(user_role_assignment(true, None), None);
        // No role in the body: nothing to check.
        assert_eq!(user_role_assignment(false, Some(without)), None);
    }

    #[test]
    fn the_owner_is_neither_deactivated_nor_deleted() {
        let v = user_status_change(true, UserStatus::Inactive).unwrap();
        assert_eq!(v.code, 200);
        assert_eq!(v.message, "The account owner cannot be deactivated.");
        assert_eq!(v.fix, "Transfer ownership to another user first.");
        assert_eq!(user_status_change(true, UserStatus::Active), None);
        assert_eq!(user_status_change(false, UserStatus::Inactive), None);
        let v = user_deletion(true).unwrap();
        assert_eq!(v.code, 200);
        assert_eq!(v.message, "The account owner cannot be deleted.");
        assert_eq!(user_deletion(false), None);
    }
}
