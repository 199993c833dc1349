//! The scope catalogs (model.md, *Scopes*): classic and granular scopes, each a user form that
//! reaches only the token's own user and an `:admin` form that reaches every user of the account,
//! plus the marketplace and report scopes that exist only in their admin form and go with either
//! family.
//!
//! A [`Scope`] can only hold a catalog scope ("parse, don't validate"), knows the role
//! [`Privilege`] behind it, and describes itself in plain words for a consent page.
//! [`check_app_scopes`] checks the scope lists an app declares.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::privileges::Privilege;

/// Zoom's two scope families. An app uses one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeFamily {
    /// `resource:read|write[:admin]`, e.g. `meeting:write:admin`.
    Classic,
    /// `service:action:data[:admin]`, e.g. `meeting:update:meeting`.
    Granular,
}

impl ScopeFamily {
    /// The wire name: `classic` or `granular`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeFamily::Classic => "classic",
            ScopeFamily::Granular => "granular",
        }
    }
}

impl fmt::Display for ScopeFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the catalog: a scope's user form (if it has one) and its admin form, which share
/// a family, a privilege and a description.
struct ScopeDef {
    /// The user form (`meeting:read`); `None` for scopes that exist only in their admin form.
    user: Option<&'static str>,
    /// The admin form (`meeting:read:admin`).
    admin: &'static str,
    /// `None` for the scopes that go with either family.
    family: Option<ScopeFamily>,
    privilege: Privilege,
    /// What the user form lets an app do, in plain words.
    own: &'static str,
    /// What the admin form lets an app do; `{account}` stands for the account's name.
    every: &'static str,
}

const fn classic(
    user: Option<&'static str>,
    admin: &'static str,
    privilege: Privilege,
    own: &'static str,
    every: &'static str,
) -> ScopeDef {
    ScopeDef {
        user,
        admin,
        family: Some(ScopeFamily::Classic),
        privilege,
        own,
        every,
    }
}

const fn granular(
    user: &'static str,
    admin: &'static str,
    privilege: Privilege,
    own: &'static str,
    every: &'static str,
) -> ScopeDef {
    ScopeDef {
        user: Some(user),
        admin,
        family: Some(ScopeFamily::Granular),
        privilege,
        own,
        every,
    }
}

const fn shared(admin: &'static str, privilege: Privilege, every: &'static str) -> ScopeDef {
    ScopeDef {
        user: None,
        admin,
        family: None,
        privilege,
        own: "",
        every,
    }
}

use Privilege::{
    AuditLogRead, MarketplaceEdit, MarketplaceRead, MeetingEdit, MeetingRead, RoleEdit, RoleRead,
    UserEdit, UserRead,
};

/// The whole catalog, in the order of model.md: classic, granular, then the shared scopes.
/// Role scopes whose user forms admit no endpoint say so, so a consent page never overstates
/// what an app gets.
static CATALOG: [ScopeDef; 33] = [
    // Classic.
    classic(
        Some("meeting:read"),
        "meeting:read:admin",
        MeetingRead,
        "See your meetings and those you schedule for others",
        "See meetings of every user in {account}",
    ),
    classic(
        Some("meeting:write"),
        "meeting:write:admin",
        MeetingEdit,
        "See and change your meetings and those you schedule for others",
        "See and change meetings of every user in {account}",
    ),
    classic(
        Some("user:read"),
        "user:read:admin",
        UserRead,
        "See your profile, your assistants and the users you schedule for",
        "See every user of {account}, with their assistants and schedulers",
    ),
    classic(
        Some("user:write"),
        "user:write:admin",
        UserEdit,
        "See and change your profile, your assistants and the users you schedule for",
        "See, add, change, deactivate and delete users of {account}, with their assistants and \
         schedulers",
    ),
    classic(
        None,
        "role:read:admin",
        RoleRead,
        "",
        "See the roles of {account} and who holds each",
    ),
    classic(
        None,
        "role:write:admin",
        RoleEdit,
        "",
        "See, create, change and delete roles of {account} and assign them to users",
    ),
    // Granular: meetings.
    granular(
        "meeting:read:meeting",
        "meeting:read:meeting:admin",
        MeetingRead,
        "See your meetings and those of users you schedule for",
        "See any meeting of any user in {account}",
    ),
    granular(
        "meeting:read:list_meetings",
        "meeting:read:list_meetings:admin",
        MeetingRead,
        "List your meetings and those of users you schedule for",
        "List the meetings of every user in {account}",
    ),
    granular(
        "meeting:write:meeting",
        "meeting:write:meeting:admin",
        MeetingEdit,
        "Create meetings for you and for users you schedule for",
        "Create meetings for any user in {account}",
    ),
    granular(
        "meeting:update:meeting",
        "meeting:update:meeting:admin",
        MeetingEdit,
        "Change your meetings and those of users you schedule for",
        "Change meetings of every user in {account}",
    ),
    granular(
        "meeting:delete:meeting",
        "meeting:delete:meeting:admin",
        MeetingEdit,
        "Delete your meetings and those of users you schedule for",
        "Delete meetings of every user in {account}",
    ),
    // Granular: users.
    granular(
        "user:read:user",
        "user:read:user:admin",
        UserRead,
        "See your profile",
        "See the profile of every user in {account}",
    ),
    granular(
        "user:read:list_users",
        "user:read:list_users:admin",
        UserRead,
        "List users (only with the admin form; alone it reaches only you)",
        "List every user of {account}",
    ),
    granular(
        "user:write:user",
        "user:write:user:admin",
        UserEdit,
        "Create users (only with the admin form; alone it reaches only you)",
        "Create users in {account}",
    ),
    granular(
        "user:update:user",
        "user:update:user:admin",
        UserEdit,
        "Change your profile",
        "Change the profile and status of every user in {account}",
    ),
    granular(
        "user:delete:user",
        "user:delete:user:admin",
        UserEdit,
        "Delete users (only with the admin form; alone it reaches only you)",
        "Delete or disassociate users of {account}",
    ),
    granular(
        "user:read:list_assistants",
        "user:read:list_assistants:admin",
        UserRead,
        "See your assistants",
        "See the assistants of every user in {account}",
    ),
    granular(
        "user:write:assistant",
        "user:write:assistant:admin",
        UserEdit,
        "Add assistants who may schedule meetings for you",
        "Add assistants for any user in {account}",
    ),
    granular(
        "user:delete:assistant",
        "user:delete:assistant:admin",
        UserEdit,
        "Remove your assistants",
        "Remove the assistants of any user in {account}",
    ),
    granular(
        "user:read:list_schedulers",
        "user:read:list_schedulers:admin",
        UserRead,
        "See the users you schedule meetings for",
        "See whom every user in {account} schedules meetings for",
    ),
    granular(
        "user:delete:scheduler",
        "user:delete:scheduler:admin",
        UserEdit,
        "Stop scheduling meetings for users who made you their assistant",
        "Remove the scheduling privileges of any user in {account}",
    ),
    // Granular: roles. Every role endpoint is admin-only, so the user forms admit nothing.
    granular(
        "role:read:list_roles",
        "role:read:list_roles:admin",
        RoleRead,
        "List roles (only with the admin form)",
        "List the roles of {account}",
    ),
    granular(
        "role:read:role",
        "role:read:role:admin",
        RoleRead,
        "See a role and its privileges (only with the admin form)",
        "See any role of {account} and its privileges",
    ),
    granular(
        "role:write:role",
        "role:write:role:admin",
        RoleEdit,
        "Create roles (only with the admin form)",
        "Create roles in {account}",
    ),
    granular(
        "role:update:role",
        "role:update:role:admin",
        RoleEdit,
        "Change roles (only with the admin form)",
        "Change the roles of {account} and their privileges",
    ),
    granular(
        "role:delete:role",
        "role:delete:role:admin",
        RoleEdit,
        "Delete roles (only with the admin form)",
        "Delete custom roles of {account}",
    ),
    granular(
        "role:read:list_members",
        "role:read:list_members:admin",
        RoleRead,
        "See who holds a role (only with the admin form)",
        "See who holds each role in {account}",
    ),
    granular(
        "role:write:member",
        "role:write:member:admin",
        RoleEdit,
        "Assign roles (only with the admin form)",
        "Assign roles to users of {account}",
    ),
    granular(
        "role:delete:member",
        "role:delete:member:admin",
        RoleEdit,
        "Remove users from roles (only with the admin form)",
        "Remove users from roles in {account}",
    ),
    // Shared: one form only, either family.
    shared(
        "marketplace:read:admin",
        MarketplaceRead,
        "See the apps installed and authorized in {account}",
    ),
    shared(
        "marketplace:write:admin",
        MarketplaceEdit,
        "Uninstall apps and remove app authorizations in {account}",
    ),
    shared(
        "report:read:admin",
        AuditLogRead,
        "Read the audit log of {account}",
    ),
    shared(
        "report:read:operation_logs:admin",
        AuditLogRead,
        "Read the operation logs (audit log) of {account}",
    ),
];

/// A scope of the catalog. It cannot hold anything else: the only ways to get one are
/// [`Scope::parse`], deserializing, and [`Scope::all`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Index into [`CATALOG`].
    def: u8,
    /// The admin form of the entry. Always true for entries without a user form.
    admin: bool,
}

/// A scope name that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope {0:?} is not in the classic or granular scope catalog")]
pub struct UnknownScope(pub String);

impl Scope {
    /// Looks a name up in the catalog (exact match: scope names are lower case).
    pub fn parse(name: &str) -> Result<Scope, UnknownScope> {
        Scope::all()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }

    /// Every scope of the catalog: classic, granular, shared; each user form before its admin
    /// form.
    pub fn all() -> impl Iterator<Item = Scope> {
        CATALOG.iter().zip(0u8..).flat_map(|(def, index)| {
            let user = def.user.map(|_| Scope {
                def: index,
                admin: false,
            });
            user.into_iter().chain(std::iter::once(Scope {
                def: index,
                admin: true,
            }))
        })
    }

    fn def(self) -> &'static ScopeDef {
        // `def` is only ever an index produced by `Scope::all`, so it is in range.
        &CATALOG[usize::from(self.def)]
    }

    /// The wire name, e.g. `meeting:read:admin`.
    pub fn as_str(self) -> &'static str {
        let def = self.def();
        match (self.admin, def.user) {
            (false, Some(user)) => user,
            _ => def.admin,
        }
    }

    /// The family, or `None` for the scopes that go with either (`marketplace:read:admin`,
    /// `marketplace:write:admin`, `report:read:admin`, `report:read:operation_logs:admin`).
    pub fn family(self) -> Option<ScopeFamily> {
        self.def().family
    }

    /// Whether this is an admin form (its name ends in `:admin`): it reaches other users of the
    /// account, not only the token's own user.
    pub fn is_admin(self) -> bool {
        self.admin
    }

    /// The admin form of this scope (itself if it is one).
    pub fn admin_form(self) -> Scope {
        Scope {
            def: self.def,
            admin: true,
        }
    }

    /// The user form of this scope, if the scope has one (itself if it is one).
    pub fn user_form(self) -> Option<Scope> {
        self.def().user.map(|_| Scope {
            def: self.def,
            admin: false,
        })
    }

    /// The role privilege behind the scope: what a user needs to install an app holding its
    /// admin form, and what a user grant's user needs for it to reach other users.
    pub fn privilege(self) -> Privilege {
        self.def().privilege
    }

    /// For a classic `read` scope, the classic `write` scope of the same form that also admits
    /// everything it admits ("classic write implies read"): `user:read:admin` →
    /// `user:write:admin`. `None` for every other scope.
    pub fn classic_write(self) -> Option<Scope> {
        if self.family() != Some(ScopeFamily::Classic) {
            return None;
        }
        let write = self.as_str().replacen(":read", ":write", 1);
        if write == self.as_str() {
            return None;
        }
        Scope::parse(&write).ok()
    }

    /// One line in plain words for a consent page, e.g. "See and change meetings of every user
    /// in Acme" for `meeting:write:admin`.
    pub fn describe(self, account_name: &str) -> String {
        let def = self.def();
        let template = if self.admin { def.every } else { def.own };
        template.replace("{account}", account_name)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({})", self.as_str())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialOrd for Scope {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Scopes sort by name, so sorted scope lists read alphabetically.
impl Ord for Scope {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Scope::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// The space-separated form used in token responses and token claims (`scope`).
pub fn scope_string(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scopes an app declares, checked: every name in the catalog, one family, no duplicates,
/// at least one required scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppScopes {
    /// Granted whenever the app is installed or authorized.
    pub required: Vec<Scope>,
    /// Offered as checkboxes on the consent page; may be declined.
    pub optional: Vec<Scope>,
}

impl AppScopes {
    /// The family the app uses, or `None` if it holds only shared scopes.
    pub fn family(&self) -> Option<ScopeFamily> {
        self.required
            .iter()
            .chain(&self.optional)
            .find_map(|scope| scope.family())
    }

    /// Required then optional scopes.
    pub fn all(&self) -> impl Iterator<Item = Scope> + '_ {
        self.required.iter().chain(&self.optional).copied()
    }
}

/// Which of an app's two scope lists an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeList {
    /// The required scopes (`scopes`).
    Required,
    /// The optional scopes (`optional_scopes`).
    Optional,
}

impl ScopeList {
    /// The field holding this list in a seed file or app form: `scopes` or `optional_scopes`.
    pub fn field(self) -> &'static str {
        match self {
            ScopeList::Required => "scopes",
            ScopeList::Optional => "optional_scopes",
        }
    }

    fn adjective(self) -> &'static str {
        match self {
            ScopeList::Required => "required",
            ScopeList::Optional => "optional",
        }
    }
}

/// Where an entry sits in an app's scope lists: the list and the 0-based index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ScopeEntry {
    /// The list the entry is in.
    pub list: ScopeList,
    /// Its 0-based position in that list.
    pub index: usize,
}

impl ScopeEntry {
    /// The entry as a JSON path relative to the app, e.g. `optional_scopes[2]`.
    pub fn path(self) -> String {
        format!("{}[{}]", self.list.field(), self.index)
    }
}

impl fmt::Display for ScopeEntry {
    /// e.g. `required scope scopes[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} scope {}", self.list.adjective(), self.path())
    }
}

/// Why an app's scope lists were refused. Each variant carries the entries at fault so a form or
/// a seed-file error can point at them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeSetError {
    /// A name that is not in the catalog.
    #[error(
        "{at}: {name:?} is not in the classic or granular scope catalog (e.g. meeting:read, \
         meeting:read:meeting, user:read:admin)"
    )]
    Unknown {
        /// The entry.
        at: ScopeEntry,
        /// The name as given.
        name: String,
    },
    /// Classic and granular scopes together.
    #[error(
        "an app uses one scope family: {classic} ({classic_at}) is classic but {granular} \
         ({granular_at}) is granular; marketplace and report scopes go with either"
    )]
    MixedFamilies {
        /// The first classic scope.
        classic: Scope,
        /// Where it is.
        classic_at: ScopeEntry,
        /// The first granular scope.
        granular: Scope,
        /// Where it is.
        granular_at: ScopeEntry,
    },
    /// A scope listed twice in the same list.
    #[error("{at}: {scope} is listed twice (first at {first})")]
    Duplicate {
        /// The repeated scope.
        scope: Scope,
        /// The repetition.
        at: ScopeEntry,
        /// The first occurrence.
        first: ScopeEntry,
    },
    /// A scope in both lists.
    #[error("{scope} is both required ({required_at}) and optional ({optional_at}); list it once")]
    RequiredAndOptional {
        /// The scope in both lists.
        scope: Scope,
        /// Where it is required.
        required_at: ScopeEntry,
        /// Where it is optional.
        optional_at: ScopeEntry,
    },
    /// The required list is empty.
    #[error("an app needs at least one required scope")]
    NoRequiredScope,
}

impl ScopeSetError {
    /// The entry to point at first (none for [`ScopeSetError::NoRequiredScope`]).
    pub fn entry(&self) -> Option<ScopeEntry> {
        match self {
            ScopeSetError::Unknown { at, .. } | ScopeSetError::Duplicate { at, .. } => Some(*at),
            ScopeSetError::MixedFamilies { granular_at, .. } => Some(*granular_at),
            ScopeSetError::RequiredAndOptional { optional_at, .. } => Some(*optional_at),
            ScopeSetError::NoRequiredScope => None,
        }
    }
}

/// Checks the scopes an app declares. Errors are reported in this order: an unknown name, a
/// scope listed twice (within a list or across both), mixed families, no required scope; within
/// each kind, the first offending entry (required list first).
pub fn check_app_scopes(
    required: &[impl AsRef<str>],
    optional: &[impl AsRef<str>],
) -> Result<AppScopes, ScopeSetError> {
    let names = required
        .iter()
        .enumerate()
        .map(|(index, name)| {
            (
                ScopeEntry {
                    list: ScopeList::Required,
                    index,
                },
                name.as_ref(),
            )
        })
        .chain(optional.iter().enumerate().map(|(index, name)| {
            (
                ScopeEntry {
                    list: ScopeList::Optional,
                    index,
                },
                name.as_ref(),
            )
        }));

    let mut entries: Vec<(ScopeEntry, Scope)> = Vec::with_capacity(required.len() + optional.len());
    for (at, name) in names {
        let scope = Scope::parse(name).map_err(|_| ScopeSetError::Unknown {
            at,
            name: name.to_owned(),
        })?;
        entries.push((at, scope));
    }

    for (position, &(at, scope)) in entries.iter().enumerate() {
        let earlier = entries[..position].iter().find(|(_, seen)| *seen == scope);
        if let Some(&(first, _)) = earlier {
            return Err(if first.list == at.list {
                ScopeSetError::Duplicate { scope, at, first }
            } else {
                ScopeSetError::RequiredAndOptional {
                    scope,
                    required_at: first,
                    optional_at: at,
                }
            });
        }
    }

    let first_of = |family: ScopeFamily| {
        entries
            .iter()
            .find(|(_, scope)| scope.family() == Some(family))
            .copied()
    };
    if let (Some((classic_at, classic)), Some((granular_at, granular))) = (
        first_of(ScopeFamily::Classic),
        first_of(ScopeFamily::Granular),
    ) {
        return Err(ScopeSetError::MixedFamilies {
            classic,
            classic_at,
            granular,
            granular_at,
        });
    }

    if required.is_empty() {
        return Err(ScopeSetError::NoRequiredScope);
    }

    let (required, optional): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(at, _)| at.list == ScopeList::Required);
    Ok(AppScopes {
        required: required.into_iter().map(|(_, scope)| scope).collect(),
        optional: optional.into_iter().map(|(_, scope)| scope).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIC: [&str; 10] = [
        "meeting:read",
        "meeting:write",
        "meeting:read:admin",
        "meeting:write:admin",
        "user:read",
        "user:write",
        "user:read:admin",
        "user:write:admin",
        "role:read:admin",
        "role:write:admin",
    ];

    const GRANULAR_USER_FORMS: [&str; 23] = [
        "meeting:read:meeting",
        "meeting:read:list_meetings",
        "meeting:write:meeting",
        "meeting:update:meeting",
        "meeting:delete:meeting",
        "user:read:user",
        "user:read:list_users",
        "user:write:user",
        "user:update:user",
        "user:delete:user",
        "user:read:list_assistants",
        "user:write:assistant",
        "user:delete:assistant",
        "user:read:list_schedulers",
        "user:delete:scheduler",
        "role:read:list_roles",
        "role:read:role",
        "role:write:role",
        "role:update:role",
        "role:delete:role",
        "role:read:list_members",
        "role:write:member",
        "role:delete:member",
    ];

    const SHARED: [&str; 4] = [
        "marketplace:read:admin",
        "marketplace:write:admin",
        "report:read:admin",
        "report:read:operation_logs:admin",
    ];

    fn scope(name: &str) -> Scope {
        Scope::parse(name).unwrap()
    }

    #[test]
    fn catalog_holds_exactly_the_classic_granular_and_shared_scopes() {
        let mut expected: Vec<String> = CLASSIC.iter().map(|s| s.to_string()).collect();
        for user_form in GRANULAR_USER_FORMS {
            expected.push(user_form.to_string());
            expected.push(format!("{user_form}:admin"));
        }
        expected.extend(SHARED.iter().map(|s| s.to_string()));
        expected.sort();

        let mut catalog: Vec<String> = Scope::all().map(|s| s.as_str().to_string()).collect();
        catalog.sort();
        assert_eq!(catalog, expected);
        assert_eq!(catalog.len(), 60);
    }

    #[test]
    fn every_catalog_scope_round_trips_through_its_name() {
        for scope in Scope::all() {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
            assert_eq!(scope.to_string(), scope.as_str());
            assert_eq!(
                scope.is_admin(),
                scope.as_str().ends_with(":admin"),
                "{scope}"
            );
            assert_eq!(scope.admin_form().as_str(), scope.def().admin);
            if let Some(user) = scope.user_form() {
                assert_eq!(
                    format!("{}:admin", user.as_str()),
                    scope.admin_form().as_str()
                );
            }
        }
    }

    #[test]
    fn unknown_scopes_are_refused_with_their_name() {
        for bad in [
            "",
            "meeting",
            "meeting:read:master",
            "MEETING:READ",
            "role:read",
            "user_info:read",
        ] {
            let err = Scope::parse(bad).unwrap_err();
            assert_eq!(err, UnknownScope(bad.to_string()));
            let message = err.to_string();
            assert!(message.contains(&format!("{bad:?}")), "{message}");
            assert!(
                message.contains("not in the classic or granular"),
                "{message}"
            );
        }
    }

    #[test]
    fn families_follow_the_catalog_and_shared_scopes_have_none() {
        for name in CLASSIC {
            assert_eq!(scope(name).family(), Some(ScopeFamily::Classic), "{name}");
        }
        for name in GRANULAR_USER_FORMS {
            assert_eq!(scope(name).family(), Some(ScopeFamily::Granular), "{name}");
            assert_eq!(
                scope(&format!("{name}:admin")).family(),
                Some(ScopeFamily::Granular)
            );
        }
        for name in SHARED {
            assert_eq!(scope(name).family(), None, "{name}");
            assert!(scope(name).is_admin());
            assert_eq!(scope(name).user_form(), None);
        }
    }

    #[test]
    fn each_scope_names_the_privilege_behind_it() {
        let cases = [
            ("meeting:read", Privilege::MeetingRead),
            ("meeting:read:list_meetings:admin", Privilege::MeetingRead),
            ("meeting:write", Privilege::MeetingEdit),
            ("meeting:update:meeting", Privilege::MeetingEdit),
            ("meeting:delete:meeting:admin", Privilege::MeetingEdit),
            ("user:read:admin", Privilege::UserRead),
            ("user:read:list_schedulers", Privilege::UserRead),
            ("user:write", Privilege::UserEdit),
            ("user:write:assistant", Privilege::UserEdit),
            ("user:delete:scheduler:admin", Privilege::UserEdit),
            ("role:read:admin", Privilege::RoleRead),
            ("role:read:list_members:admin", Privilege::RoleRead),
            ("role:write:member:admin", Privilege::RoleEdit),
            ("role:delete:role", Privilege::RoleEdit),
            ("marketplace:read:admin", Privilege::MarketplaceRead),
            ("marketplace:write:admin", Privilege::MarketplaceEdit),
            ("report:read:admin", Privilege::AuditLogRead),
            ("report:read:operation_logs:admin", Privilege::AuditLogRead),
        ];
        for (name, privilege) in cases {
            assert_eq!(scope(name).privilege(), privilege, "{name}");
        }
        // Read scopes need a Read privilege and every other action an Edit privilege.
        for s in Scope::all() {
            let reads = s.as_str().split(':').nth(1) == Some("read");
            let expected_read = matches!(
                s.privilege(),
                Privilege::MeetingRead
                    | Privilege::UserRead
                    | Privilege::RoleRead
                    | Privilege::MarketplaceRead
                    | Privilege::AuditLogRead
            );
            assert_eq!(reads, expected_read, "{s}");
        }
    }

    #[test]
    fn classic_write_is_the_write_behind_each_classic_read() {
        let cases = [
            ("meeting:read", Some("meeting:write")),
            ("meeting:read:admin", Some("meeting:write:admin")),
            ("user:read", Some("user:write")),
            ("user:read:admin", Some("user:write:admin")),
            ("role:read:admin", Some("role:write:admin")),
            ("meeting:write", None),
            ("meeting:read:meeting", None),
            ("report:read:admin", None),
            ("marketplace:read:admin", None),
        ];
        for (read, write) in cases {
            assert_eq!(
                scope(read).classic_write().map(Scope::as_str),
                write,
                "{read}"
            );
        }
    }

    #[test]
    fn descriptions_are_plain_words_naming_the_account_for_admin_forms() {
        assert_eq!(
            scope("meeting:write:admin").describe("Acme"),
            "See and change meetings of every user in Acme"
        );
        assert_eq!(
            scope("meeting:write").describe("Acme"),
            "See and change your meetings and those you schedule for others"
        );
        for s in Scope::all() {
            let line = s.describe("Acme");
            assert!(!line.is_empty() && !line.contains('{'), "{s}: {line:?}");
            if s.is_admin() {
                assert!(line.contains("Acme"), "{s}: {line:?}");
            }
        }
    }

    #[test]
    fn scopes_serialize_as_names_sort_by_name_and_join_with_spaces() {
        let scopes = vec![scope("user:read:admin"), scope("meeting:read")];
        assert_eq!(
            serde_json::to_string(&scopes).unwrap(),
            r#"["user:read:admin","meeting:read"]"#
        );
        let back: Vec<Scope> =
            serde_json::from_str(r#"["user:read:admin","meeting:read"]"#).unwrap();
        assert_eq!(back, scopes);
        assert!(serde_json::from_str::<Scope>(r#""meeting:fly""#).is_err());
        let mut sorted = scopes.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![scope("meeting:read"), scope("user:read:admin")]
        );
        assert_eq!(scope_string(&scopes), "user:read:admin meeting:read");
        assert_eq!(scope_string(&[]), "");
        assert_eq!(
            serde_json::to_string(&ScopeFamily::Granular).unwrap(),
            r#""granular""#
        );
    }

    fn entry(list: ScopeList, index: usize) -> ScopeEntry {
        ScopeEntry { list, index }
    }

    #[test]
    fn app_scopes_accept_one_family_plus_shared_scopes() {
        let ok = check_app_scopes(
            &["meeting:write:admin", "report:read:admin"],
            &["user:read:admin", "marketplace:read:admin"],
        )
        .unwrap();
        assert_eq!(
            ok.required,
            vec![scope("meeting:write:admin"), scope("report:read:admin")]
        );
        assert_eq!(
            ok.optional,
            vec![scope("user:read:admin"), scope("marketplace:read:admin")]
        );
        assert_eq!(ok.family(), Some(ScopeFamily::Classic));

        let granular = check_app_scopes(&["meeting:read:meeting"], &[] as &[&str]).unwrap();
        assert_eq!(granular.family(), Some(ScopeFamily::Granular));

        let shared_only = check_app_scopes(&["report:read:admin"], &[] as &[&str]).unwrap();
        assert_eq!(shared_only.family(), None);
    }

    #[test]
    fn app_scopes_refuse_unknown_names_pointing_at_the_entry() {
        let err = check_app_scopes(&["meeting:read"], &["user:read", "meeting:fly"]).unwrap_err();
        assert_eq!(
            err,
            ScopeSetError::Unknown {
                at: entry(ScopeList::Optional, 1),
                name: "meeting:fly".into()
            }
        );
        assert_eq!(err.entry(), Some(entry(ScopeList::Optional, 1)));
        assert_eq!(
            err.to_string(),
            "optional scope optional_scopes[1]: \"meeting:fly\" is not in the classic or granular \
             scope catalog (e.g. meeting:read, meeting:read:meeting, user:read:admin)"
        );
    }

    #[test]
    fn app_scopes_refuse_mixing_classic_and_granular_naming_one_of_each() {
        let err = check_app_scopes(
            &["report:read:admin", "meeting:read"],
            &["marketplace:read:admin", "user:read:user"],
        )
        .unwrap_err();
        assert_eq!(
            err,
            ScopeSetError::MixedFamilies {
                classic: scope("meeting:read"),
                classic_at: entry(ScopeList::Required, 1),
                granular: scope("user:read:user"),
                granular_at: entry(ScopeList::Optional, 1),
            }
        );
        assert_eq!(
            err.to_string(),
            "an app uses one scope family: meeting:read (required scope scopes[1]) is classic but \
             user:read:user (optional scope optional_scopes[1]) is granular; marketplace and \
             report scopes go with either"
        );
    }

    #[test]
    fn app_scopes_refuse_duplicates_within_a_list() {
        let err = check_app_scopes(
            &["meeting:read", "user:read", "meeting:read"],
            &[] as &[&str],
        )
        .unwrap_err();
        assert_eq!(
            err,
            ScopeSetError::Duplicate {
                scope: scope("meeting:read"),
                at: entry(ScopeList::Required, 2),
                first: entry(ScopeList::Required, 0),
            }
        );
        assert_eq!(
            err.to_string(),
            "required scope scopes[2]: meeting:read is listed twice (first at required scope scopes[0])"
        );
        let err = check_app_scopes(&["meeting:read"], &["user:read", "user:read"]).unwrap_err();
        assert!(
            matches!(err, ScopeSetError::Duplicate { at, .. } if at == entry(ScopeList::Optional, 1))
        );
    }

    #[test]
    fn app_scopes_refuse_a_scope_both_required_and_optional() {
        let err = check_app_scopes(&["meeting:read", "user:read"], &["user:read"]).unwrap_err();
        assert_eq!(
            err,
            ScopeSetError::RequiredAndOptional {
                scope: scope("user:read"),
                required_at: entry(ScopeList::Required, 1),
                optional_at: entry(ScopeList::Optional, 0),
            }
        );
        assert!(
            err.to_string().contains("user:read is both required"),
            "{err}"
        );
    }

    #[test]
    fn app_scopes_need_a_required_scope() {
        let err = check_app_scopes(&[] as &[&str], &["meeting:read"]).unwrap_err();
        assert_eq!(err, ScopeSetError::NoRequiredScope);
        assert_eq!(err.entry(), None);
        assert_eq!(err.to_string(), "an app needs at least one required scope");
    }

    #[test]
    fn app_scope_errors_come_in_a_fixed_order() {
        // An unknown name is reported before a duplicate, a duplicate before mixed families.
        let err = check_app_scopes(
            &["meeting:read", "meeting:read"],
            &["user:read:user", "nope"],
        )
        .unwrap_err();
        assert!(matches!(err, ScopeSetError::Unknown { .. }), "{err}");
        let err =
            check_app_scopes(&["meeting:read", "meeting:read"], &["user:read:user"]).unwrap_err();
        assert!(matches!(err, ScopeSetError::Duplicate { .. }), "{err}");
        assert_eq!(
            ScopeEntry {
                list: ScopeList::Optional,
                index: 3
            }
            .path(),
            "optional_scopes[3]"
        );
    }
}
