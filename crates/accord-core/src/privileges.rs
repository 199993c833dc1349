//! Role privileges (`User:Edit`, `Meeting:Read`, …) and sets of them.
//!
//! A role is a set of privileges. `Edit` implies `Read`, and the set enforces that on construction,
//! so every later check is a plain membership test.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One privilege of the catalog in model.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    UserRead,
    UserEdit,
    MeetingRead,
    MeetingEdit,
    RoleRead,
    RoleEdit,
    MarketplaceRead,
    MarketplaceEdit,
    AuditLogRead,
    AccountEdit,
}

impl Privilege {
    /// Every privilege, in catalog order.
    pub const ALL: [Privilege; 10] = [
        Privilege::UserRead,
        Privilege::UserEdit,
        Privilege::MeetingRead,
        Privilege::MeetingEdit,
        Privilege::RoleRead,
        Privilege::RoleEdit,
        Privilege::MarketplaceRead,
        Privilege::MarketplaceEdit,
        Privilege::AuditLogRead,
        Privilege::AccountEdit,
    ];

    /// The wire name, e.g. `User:Edit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::UserRead => "User:Read",
            Privilege::UserEdit => "User:Edit",
            Privilege::MeetingRead => "Meeting:Read",
            Privilege::MeetingEdit => "Meeting:Edit",
            Privilege::RoleRead => "Role:Read",
            Privilege::RoleEdit => "Role:Edit",
            Privilege::MarketplaceRead => "Marketplace:Read",
            Privilege::MarketplaceEdit => "Marketplace:Edit",
            Privilege::AuditLogRead => "AuditLog:Read",
            Privilege::AccountEdit => "Account:Edit",
        }
    }

    /// The `Read` privilege an `Edit` privilege implies, if any.
    pub fn implied_read(self) -> Option<Privilege> {
        match self {
            Privilege::UserEdit => Some(Privilege::UserRead),
            Privilege::MeetingEdit => Some(Privilege::MeetingRead),
            Privilege::RoleEdit => Some(Privilege::RoleRead),
            Privilege::MarketplaceEdit => Some(Privilege::MarketplaceRead),
            _ => None,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A privilege name that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown privilege {0:?} (known: {known})", known = catalog_list())]
pub struct UnknownPrivilege(pub String);

fn catalog_list() -> String {
    Privilege::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Privilege {
    type Err = UnknownPrivilege;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Privilege::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPrivilege(s.to_owned()))
    }
}

impl Serialize for Privilege {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Privilege {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of privileges, closed under "Edit implies Read".
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PrivilegeSet(u16);

impl PrivilegeSet {
    /// No privilege at all (the built-in Member role).
    pub const fn empty() -> Self {
        PrivilegeSet(0)
    }

    /// Every privilege (the Owner role, and Admin by default).
    pub fn all() -> Self {
        Privilege::ALL.into_iter().collect()
    }

    pub fn contains(self, privilege: Privilege) -> bool {
        self.0 & privilege.bit() != 0
    }

    pub fn insert(&mut self, privilege: Privilege) {
        self.0 |= privilege.bit();
        if let Some(read) = privilege.implied_read() {
            self.0 |= read.bit();
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The privileges in catalog order.
    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Catalog-ordered wire names, the form stored and returned on the API.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Privilege::as_str).collect()
    }
}

impl FromIterator<Privilege> for PrivilegeSet {
    fn from_iter<I: IntoIterator<Item = Privilege>>(iter: I) -> Self {
        let mut set = PrivilegeSet::empty();
        for privilege in iter {
            set.insert(privilege);
        }
        set
    }
}

impl fmt::Debug for PrivilegeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Privilege::as_str))
            .finish()
    }
}

impl Serialize for PrivilegeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PrivilegeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Privilege>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_implies_read() {
        let set: PrivilegeSet = [Privilege::MeetingEdit].into_iter().collect();
        assert!(set.contains(Privilege::MeetingRead));
        assert!(!set.contains(Privilege::UserRead));
        assert_eq!(set.names(), vec!["Meeting:Read", "Meeting:Edit"]);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for privilege in Privilege::ALL {
            assert_eq!(privilege.as_str().parse::<Privilege>(), Ok(privilege));
        }
        let err = "Meeting:Delete".parse::<Privilege>().unwrap_err();
        assert!(err.to_string().contains("Meeting:Delete"));
        assert!(err.to_string().contains("Meeting:Edit"));
    }

    #[test]
    fn all_holds_every_privilege() {
        let all = PrivilegeSet::all();
        assert!(Privilege::ALL.iter().all(|p| all.contains(*p)));
        assert!(PrivilegeSet::empty().is_empty());
    }
}
