//! Users: their type and status.

use serde::{Deserialize, Serialize};

/// Zoom's user type: 1 Basic, 2 Licensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum UserType {
    Basic = 1,
    Licensed = 2,
}

impl TryFrom<i64> for UserType {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(UserType::Basic),
            2 => Ok(UserType::Licensed),
            other => Err(format!(
                "user type must be 1 (Basic) or 2 (Licensed), not {other}"
            )),
        }
    }
}

impl From<UserType> for i64 {
    fn from(value: UserType) -> i64 {
        value as i64
    }
}

/// Whether a user can sign in and act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Inactive,
    Pending,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Inactive => "inactive",
            UserStatus::Pending => "pending",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(UserStatus::Active),
            "inactive" => Some(UserStatus::Inactive),
            "pending" => Some(UserStatus::Pending),
            _ => None,
        }
    }
}

/// A change to a user that being that user does not entitle anyone to make: deactivating or
/// reactivating, deleting, and changing the license type. Each needs `User:Edit` over the target
/// — through an admin scope, and on a user grant the live privilege too — even when the target is
/// the acting user herself (issue 8: a member's user app with an admin scope could deactivate or
/// delete the member, and any member could give herself a license).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardedChange {
    /// `PUT /users/{userId}/status`.
    Status,
    /// `DELETE /users/{userId}`.
    Deletion,
    /// `PATCH /users/{userId}` with a `type` other than the user's current one.
    LicenseType,
}

impl GuardedChange {
    /// The change in a few words, for explanations: "change one's own status".
    pub fn describe(self) -> &'static str {
        match self {
            GuardedChange::Status => "change one's own status",
            GuardedChange::Deletion => "delete oneself",
            GuardedChange::LicenseType => "change one's own license type",
        }
    }
}

// One shape for the API and webhook events. (The doc line below is the OpenAPI description.)
/// A user in Zoom's shape (`GET /users/{userId}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = User))]
pub struct UserObject {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    /// 1 basic, 2 licensed.
    #[serde(rename = "type")]
    pub user_type: i64,
    pub role_id: String,
    /// `active`, `inactive` or `pending`.
    pub status: String,
    pub timezone: String,
    pub pmi: i64,
    pub account_id: String,
    pub created_at: String,
    pub last_login_time: Option<String>,
}

/// Zoom's `display_name`: first and last name, trimmed.
pub fn display_name(first_name: impl AsRef<str>, last_name: impl AsRef<str>) -> String {
    let (first_name, last_name) = (first_name.as_ref(), last_name.as_ref());
    format!("{first_name} {last_name}").trim().to_owned()
}
