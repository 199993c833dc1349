//! The `/v2` endpoint catalog: every row of api.md's endpoint table, with the scopes that admit
//! it, the privilege a user grant's user needs to reach another user's object, the kind of object
//! it addresses (and so the answer a missing object gets), and its rate-limit category.
//!
//! The server routes from this table and the permission rule reads it, so the two can never
//! disagree about what an endpoint needs.

use std::fmt;

use serde::Serialize;

use crate::privileges::Privilege;
use crate::scopes::Scope;

/// The scopes that admit an endpoint, as api.md writes them. Each name is a catalog scope (a
/// unit test proves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRule {
    /// A user form in each family (`meeting:read` | `meeting:read:meeting`). Each also admits its
    /// `:admin` form, and a classic `read` is also admitted by the matching classic `write`.
    UserOrAdmin {
        /// The classic user form, e.g. `meeting:read`.
        classic: &'static str,
        /// The granular user form, e.g. `meeting:read:meeting`.
        granular: &'static str,
    },
    /// Only admin forms exist for this endpoint (`user:read:admin` | `user:read:list_users:admin`);
    /// the classic `read` is again also admitted by the matching classic `write`.
    AdminOnly {
        /// The classic admin form, e.g. `user:read:admin`.
        classic: &'static str,
        /// The granular admin form, e.g. `user:read:list_users:admin`.
        granular: &'static str,
    },
    /// Scopes that exist in one form only and go with either family (marketplace, report).
    Shared(&'static [&'static str]),
}

impl ScopeRule {
    /// Every scope of both families that admits the endpoint, in a stable order: classic before
    /// granular before shared; within a family every user form before every admin form; a read
    /// before the write that implies it. This is the list a 4711 message shows.
    pub fn admitting(&self) -> Vec<Scope> {
        let parse = |name: &str| Scope::parse(name).ok();
        let with_classic_write = |scope: Scope| [Some(scope), scope.classic_write()];
        let mut admitting = Vec::new();
        match *self {
            ScopeRule::UserOrAdmin { classic, granular } => {
                if let Some(classic) = parse(classic) {
                    let user_forms = with_classic_write(classic);
                    let admin_forms = user_forms.map(|scope| scope.map(Scope::admin_form));
                    admitting.extend(user_forms.into_iter().chain(admin_forms).flatten());
                }
                if let Some(granular) = parse(granular) {
                    admitting.extend([granular, granular.admin_form()]);
                }
            }
            ScopeRule::AdminOnly { classic, granular } => {
                if let Some(classic) = parse(classic) {
                    admitting.extend(with_classic_write(classic).into_iter().flatten());
                }
                admitting.extend(parse(granular));
            }
            ScopeRule::Shared(names) => admitting.extend(names.iter().filter_map(|n| parse(n))),
        }
        let mut unique = Vec::with_capacity(admitting.len());
        for scope in admitting {
            if !unique.contains(&scope) {
                unique.push(scope);
            }
        }
        unique
    }

    /// Whether `scope` admits the endpoint.
    pub fn admits(&self, scope: Scope) -> bool {
        self.admitting().contains(&scope)
    }

    /// The admitting admin scopes: what an app needs to reach users other than its own.
    pub fn admitting_admin(&self) -> Vec<Scope> {
        self.admitting()
            .into_iter()
            .filter(|scope| scope.is_admin())
            .collect()
    }

    /// Every scope name the rule writes down (for checks against the catalog).
    pub fn names(&self) -> Vec<&'static str> {
        match *self {
            ScopeRule::UserOrAdmin { classic, granular }
            | ScopeRule::AdminOnly { classic, granular } => {
                vec![classic, granular]
            }
            ScopeRule::Shared(names) => names.to_vec(),
        }
    }
}

/// What kind of object an endpoint addresses, which decides the answer a missing object gets —
/// and, identically, an object of another account (model.md, step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A user, or a user's assistants, schedulers or meeting list (`{userId}`).
    User,
    /// One meeting (`{meetingId}`).
    Meeting,
    /// A role or its members (`{roleId}`).
    Role,
    /// The account's audit log.
    AuditLog,
    /// An app granted in the account (`{appId}`).
    App,
}

/// The answer an object that does not exist (in the token's account) gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotFound {
    /// The HTTP status.
    pub status: u16,
    /// Zoom's `code`.
    pub code: u32,
    /// Zoom's `message`, naming the id as the request gave it.
    pub message: String,
}

impl ObjectKind {
    /// The kind in words, e.g. `meeting`.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Meeting => "meeting",
            ObjectKind::Role => "role",
            ObjectKind::AuditLog => "operation log entry",
            ObjectKind::App => "app",
        }
    }

    /// The not-found answer: users 404/1001, meetings 404/3001, roles 400/1034 (api.md), apps and
    /// operation-log entries 404/404 (api.md names no code for them).
    pub fn not_found(self, id: &str) -> NotFound {
        let (status, code, message) = match self {
            ObjectKind::User => (404, 1001, format!("User does not exist: {id}.")),
            ObjectKind::Meeting => (404, 3001, format!("Meeting does not exist: {id}.")),
            ObjectKind::Role => (400, 1034, format!("Role does not exist: {id}.")),
            ObjectKind::App => (404, 404, format!("App does not exist: {id}.")),
            ObjectKind::AuditLog => (
                404,
                404,
                format!("Operation log entry does not exist: {id}."),
            ),
        };
        NotFound {
            status,
            code,
            message,
        }
    }
}

/// api.md's rate-limit categories, shared per account by every app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RateLimitCategory {
    /// Single-object reads and writes (default 30/s).
    Light,
    /// Lists and multi-object writes (default 20/s).
    Medium,
    /// The audit log (default 10/s).
    Heavy,
}

impl RateLimitCategory {
    /// The header value (`X-RateLimit-Category`): `Light`, `Medium`, `Heavy`.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitCategory::Light => "Light",
            RateLimitCategory::Medium => "Medium",
            RateLimitCategory::Heavy => "Heavy",
        }
    }

    /// The default per-second limit of the category (api.md): 30, 20, 10.
    pub fn default_per_second(self) -> u32 {
        match self {
            RateLimitCategory::Light => 30,
            RateLimitCategory::Medium => 20,
            RateLimitCategory::Heavy => 10,
        }
    }
}

impl fmt::Display for RateLimitCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of api.md's endpoint table.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// A stable name, e.g. `users.get`.
    pub name: &'static str,
    /// `GET`, `POST`, `PATCH`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path template under `/v2`, e.g. `/users/{userId}`.
    pub path: &'static str,
    /// The scopes that admit the call.
    pub scopes: ScopeRule,
    /// The privilege a user grant's user needs to reach another user's object, or the account as
    /// a whole.
    pub privilege: Privilege,
    /// What the path addresses; decides the not-found answer.
    pub object: ObjectKind,
    /// The request concerns the account as a whole rather than one user's object: lists over
    /// every user (`GET /users`, `GET /roles`), creating users and roles, roles and their members,
    /// the audit log, granted apps. Such a request needs an admin scope, and on a user grant the
    /// privilege too; it is refused, never narrowed to the user's own objects.
    pub account_wide: bool,
    /// The rate-limit category.
    pub rate_limit: RateLimitCategory,
    /// Also counts against the per-host daily meeting limit (meeting create and update).
    pub daily_meeting_limit: bool,
    /// A change the target user may not make to herself without `User:Edit` over herself (her
    /// status, her deletion); `PATCH /users/{userId}` guards `type` per request instead.
    pub guarded: Option<crate::users::GuardedChange>,
}

impl Endpoint {
    /// `GET /users/{userId}`.
    pub fn display(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// A meeting operation: an assistant of the meeting's host reaches it with a user-form scope.
    pub fn is_meeting_operation(&self) -> bool {
        matches!(
            self.privilege,
            Privilege::MeetingRead | Privilege::MeetingEdit
        )
    }

    /// The names of the template's parameters, in order (`["roleId", "userId"]`).
    pub fn parameters(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }

    /// Matches a concrete path (`/users/me/meetings`) against the template; on success the
    /// parameter values, in template order.
    pub fn match_path<'p>(&self, path: &'p str) -> Option<Vec<(&'static str, &'p str)>> {
        let mut concrete = normalize(path).split('/');
        let mut params = Vec::new();
        for pattern in self.path.split('/') {
            let segment = concrete.next()?;
            match pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !segment.is_empty() => params.push((name, segment)),
                Some(_) => return None,
                None if pattern == segment => {}
                None => return None,
            }
        }
        concrete.next().is_none().then_some(params)
    }
}

/// Strips a `/v2` prefix, a query string and one trailing slash (api.md tolerates it).
fn normalize(path: &str) -> &str {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let path = path
        .strip_prefix("/v2")
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .unwrap_or(path);
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    }
}

use crate::users::GuardedChange::{Deletion, Status};
use ObjectKind::{App, AuditLog, Meeting, Role, User};
use Privilege::{
    AuditLogRead, MarketplaceEdit, MarketplaceRead, MeetingEdit, MeetingRead, RoleEdit, RoleRead,
    UserEdit, UserRead,
};
use RateLimitCategory::{Heavy, Light, Medium};

const fn user_or_admin(classic: &'static str, granular: &'static str) -> ScopeRule {
    ScopeRule::UserOrAdmin { classic, granular }
}

const fn admin_only(classic: &'static str, granular: &'static str) -> ScopeRule {
    ScopeRule::AdminOnly { classic, granular }
}

#[allow(clippy::too_many_arguments)]
const fn row(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    scopes: ScopeRule,
    privilege: Privilege,
    object: ObjectKind,
    account_wide: bool,
    rate_limit: RateLimitCategory,
) -> Endpoint {
    Endpoint {
        name,
        method,
        path,
        scopes,
        privilege,
        object,
        account_wide,
        rate_limit,
        daily_meeting_limit: false,
        guarded: None,
    }
}

/// Meeting create and update also count against the per-host daily limit (api.md's `*`).
const fn daily_limited(endpoint: Endpoint) -> Endpoint {
    Endpoint {
        daily_meeting_limit: true,
        ..endpoint
    }
}

/// Status changes and deletion need `User:Edit` over the target even when it is the caller.
const fn guarded(change: crate::users::GuardedChange, endpoint: Endpoint) -> Endpoint {
    Endpoint {
        guarded: Some(change),
        ..endpoint
    }
}

const MARKETPLACE_READ: ScopeRule = ScopeRule::Shared(&["marketplace:read:admin"]);
const MARKETPLACE_WRITE: ScopeRule = ScopeRule::Shared(&["marketplace:write:admin"]);

const ONE_USER: bool = false;
const ACCOUNT_WIDE: bool = true;

/// api.md's endpoint table, row by row, then Accord's extensions. `GET /users/me` is `users.get` with `me` as the id.
/// One line per row, like the table it mirrors.
#[rustfmt::skip]
static ENDPOINTS: [Endpoint; 46] = [
    // Users.
    row("users.get", "GET", "/users/{userId}", user_or_admin("user:read", "user:read:user"), UserRead, User, ONE_USER, Light),
    row("users.list", "GET", "/users", admin_only("user:read:admin", "user:read:list_users:admin"), UserRead, User, ACCOUNT_WIDE, Medium),
    row("users.create", "POST", "/users", admin_only("user:write:admin", "user:write:user:admin"), UserEdit, User, ACCOUNT_WIDE, Light),
    row("users.update", "PATCH", "/users/{userId}", user_or_admin("user:write", "user:update:user"), UserEdit, User, ONE_USER, Light),
    guarded(Status, row("users.status", "PUT", "/users/{userId}/status", admin_only("user:write:admin", "user:update:user:admin"), UserEdit, User, ONE_USER, Light)),
    guarded(Deletion, row("users.delete", "DELETE", "/users/{userId}", admin_only("user:write:admin", "user:delete:user:admin"), UserEdit, User, ONE_USER, Light)),
    // Scheduling privilege.
    row("assistants.list", "GET", "/users/{userId}/assistants", user_or_admin("user:read", "user:read:list_assistants"), UserRead, User, ONE_USER, Medium),
    row("assistants.add", "POST", "/users/{userId}/assistants", user_or_admin("user:write", "user:write:assistant"), UserEdit, User, ONE_USER, Medium),
    row("assistants.delete_all", "DELETE", "/users/{userId}/assistants", user_or_admin("user:write", "user:delete:assistant"), UserEdit, User, ONE_USER, Light),
    row("assistants.delete", "DELETE", "/users/{userId}/assistants/{assistantId}", user_or_admin("user:write", "user:delete:assistant"), UserEdit, User, ONE_USER, Light),
    row("schedulers.list", "GET", "/users/{userId}/schedulers", user_or_admin("user:read", "user:read:list_schedulers"), UserRead, User, ONE_USER, Medium),
    row("schedulers.delete_all", "DELETE", "/users/{userId}/schedulers", user_or_admin("user:write", "user:delete:scheduler"), UserEdit, User, ONE_USER, Light),
    row("schedulers.delete", "DELETE", "/users/{userId}/schedulers/{schedulerId}", user_or_admin("user:write", "user:delete:scheduler"), UserEdit, User, ONE_USER, Light),
    // Meetings. Listing and creating address the host (a user); the others address the meeting.
    row("meetings.list", "GET", "/users/{userId}/meetings", user_or_admin("meeting:read", "meeting:read:list_meetings"), MeetingRead, User, ONE_USER, Medium),
    daily_limited(row("meetings.create", "POST", "/users/{userId}/meetings", user_or_admin("meeting:write", "meeting:write:meeting"), MeetingEdit, User, ONE_USER, Medium)),
    row("meetings.get", "GET", "/meetings/{meetingId}", user_or_admin("meeting:read", "meeting:read:meeting"), MeetingRead, Meeting, ONE_USER, Light),
    daily_limited(row("meetings.update", "PATCH", "/meetings/{meetingId}", user_or_admin("meeting:write", "meeting:update:meeting"), MeetingEdit, Meeting, ONE_USER, Light)),
    row("meetings.delete", "DELETE", "/meetings/{meetingId}", user_or_admin("meeting:write", "meeting:delete:meeting"), MeetingEdit, Meeting, ONE_USER, Light),
    // Roles: admin forms only; a role belongs to the account, not to a user.
    row("roles.list", "GET", "/roles", admin_only("role:read:admin", "role:read:list_roles:admin"), RoleRead, Role, ACCOUNT_WIDE, Medium),
    row("roles.create", "POST", "/roles", admin_only("role:write:admin", "role:write:role:admin"), RoleEdit, Role, ACCOUNT_WIDE, Light),
    row("roles.get", "GET", "/roles/{roleId}", admin_only("role:read:admin", "role:read:role:admin"), RoleRead, Role, ACCOUNT_WIDE, Light),
    row("roles.update", "PATCH", "/roles/{roleId}", admin_only("role:write:admin", "role:update:role:admin"), RoleEdit, Role, ACCOUNT_WIDE, Light),
    row("roles.delete", "DELETE", "/roles/{roleId}", admin_only("role:write:admin", "role:delete:role:admin"), RoleEdit, Role, ACCOUNT_WIDE, Light),
    row("role_members.list", "GET", "/roles/{roleId}/members", admin_only("role:read:admin", "role:read:list_members:admin"), RoleRead, Role, ACCOUNT_WIDE, Medium),
    row("role_members.add", "POST", "/roles/{roleId}/members", admin_only("role:write:admin", "role:write:member:admin"), RoleEdit, Role, ACCOUNT_WIDE, Medium),
    row("role_members.delete", "DELETE", "/roles/{roleId}/members/{userId}", admin_only("role:write:admin", "role:delete:member:admin"), RoleEdit, Role, ACCOUNT_WIDE, Medium),
    // Audit log and granted apps: shared scopes.
    row("report.operationlogs", "GET", "/report/operationlogs", ScopeRule::Shared(&["report:read:admin", "report:read:operation_logs:admin"]), AuditLogRead, AuditLog, ACCOUNT_WIDE, Heavy),
    row("marketplace.apps.list", "GET", "/marketplace/apps", MARKETPLACE_READ, MarketplaceRead, App, ACCOUNT_WIDE, Medium),
    row("marketplace.apps.delete", "DELETE", "/marketplace/apps/{appId}", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    // Accord extensions (webhooks.md, model.md "Removal"): the account's other app controls —
    // one user's authorization, blocks, pre-approvals — with the marketplace scopes.
    row("marketplace.authorizations.delete", "DELETE", "/marketplace/apps/{appId}/users/{userId}", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    row("marketplace.apps.block", "PUT", "/marketplace/apps/{appId}/block", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    row("marketplace.apps.unblock", "DELETE", "/marketplace/apps/{appId}/block", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    row("marketplace.app_requests.list", "GET", "/marketplace/app_requests", MARKETPLACE_READ, MarketplaceRead, App, ACCOUNT_WIDE, Medium),
    row("marketplace.app_requests.decide", "PATCH", "/marketplace/apps/{appId}/requests", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    // The account's app settings: its policy for user apps (`open` / `preapproval`) and the apps
    // it blocked.
    row("marketplace.settings.get", "GET", "/marketplace/settings", MARKETPLACE_READ, MarketplaceRead, App, ACCOUNT_WIDE, Light),
    row("marketplace.settings.update", "PATCH", "/marketplace/settings", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    // A user removing her own authorization of an app (an admin form reaches other users; the
    // store then also asks for Marketplace:Edit, `accord_core::grants::check_authorization_removal`).
    row("users.apps.delete", "DELETE", "/users/{userId}/apps/{appId}", user_or_admin("user:write", "user:update:user"), UserEdit, User, ONE_USER, Light),
    // The developer's webhook tools: only tokens of the app's developer account reach its app.
    row("apps.webhook_deliveries.list", "GET", "/apps/{appId}/webhook_deliveries", MARKETPLACE_READ, MarketplaceRead, App, ACCOUNT_WIDE, Medium),
    row("apps.webhook_deliveries.redeliver", "POST", "/apps/{appId}/webhook_deliveries/{deliveryId}/redeliver", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    row("apps.webhook_secret.rotate", "POST", "/apps/{appId}/webhook/secret", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    // The developer's apps themselves (the developer console's API), on the same terms: the apps
    // the token's account develops; another account's app reads as missing.
    row("apps.list", "GET", "/apps", MARKETPLACE_READ, MarketplaceRead, App, ACCOUNT_WIDE, Medium),
    row("apps.create", "POST", "/apps", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    row("apps.get", "GET", "/apps/{appId}", MARKETPLACE_READ, MarketplaceRead, App, ACCOUNT_WIDE, Light),
    row("apps.update", "PATCH", "/apps/{appId}", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    row("apps.secret.rotate", "POST", "/apps/{appId}/credentials/{environment}/secret", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
    row("apps.secret.retire", "DELETE", "/apps/{appId}/credentials/{environment}/secret", MARKETPLACE_WRITE, MarketplaceEdit, App, ACCOUNT_WIDE, Light),
];

/// Every endpoint, in api.md's order.
pub fn all() -> &'static [Endpoint] {
    &ENDPOINTS
}

/// The endpoint with this method (any case) and path template (`/users/{userId}`; a `/v2`
/// prefix and a trailing slash are tolerated).
pub fn find(method: &str, path_template: &str) -> Option<&'static Endpoint> {
    let template = normalize(path_template);
    ENDPOINTS
        .iter()
        .find(|endpoint| endpoint.method.eq_ignore_ascii_case(method) && endpoint.path == template)
}

/// The endpoint by its name (`users.get`).
pub fn by_name(name: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|endpoint| endpoint.name == name)
}

/// A concrete request path matched to its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'p> {
    /// The matched endpoint.
    pub endpoint: &'static Endpoint,
    /// The template's parameters with the values found in the path, in template order.
    pub params: Vec<(&'static str, &'p str)>,
}

impl<'p> Route<'p> {
    /// The value of one parameter (`userId`).
    pub fn param(&self, name: &str) -> Option<&'p str> {
        self.params
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    }
}

/// Routes a concrete request (`GET /v2/users/me/meetings?type=scheduled`) to its endpoint, as
/// `accord explain` needs. Literal segments win over parameters, so the route is unambiguous.
pub fn route<'p>(method: &str, path: &'p str) -> Option<Route<'p>> {
    ENDPOINTS
        .iter()
        .filter(|endpoint| endpoint.method.eq_ignore_ascii_case(method))
        .find_map(|endpoint| {
            endpoint
                .match_path(path)
                .map(|params| Route { endpoint, params })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scopes::ScopeFamily;

    fn names(scopes: Vec<Scope>) -> Vec<&'static str> {
        scopes.into_iter().map(Scope::as_str).collect()
    }

    #[test]
    fn every_scope_a_rule_names_is_in_the_catalog() {
        for endpoint in all() {
            for name in endpoint.scopes.names() {
                assert!(
                    Scope::parse(name).is_ok(),
                    "{}: {name} is not a catalog scope",
                    endpoint.name
                );
            }
        }
    }

    #[test]
    fn rules_name_the_right_form_and_family() {
        for endpoint in all() {
            match endpoint.scopes {
                ScopeRule::UserOrAdmin { classic, granular }
                | ScopeRule::AdminOnly { classic, granular } => {
                    let (classic, granular) = (
                        Scope::parse(classic).unwrap(),
                        Scope::parse(granular).unwrap(),
                    );
                    assert_eq!(
                        classic.family(),
                        Some(ScopeFamily::Classic),
                        "{}",
                        endpoint.name
                    );
                    assert_eq!(
                        granular.family(),
                        Some(ScopeFamily::Granular),
                        "{}",
                        endpoint.name
                    );
                    let admin_only = matches!(endpoint.scopes, ScopeRule::AdminOnly { .. });
                    assert_eq!(classic.is_admin(), admin_only, "{}", endpoint.name);
                    assert_eq!(granular.is_admin(), admin_only, "{}", endpoint.name);
                }
                ScopeRule::Shared(names) => {
                    for name in names {
                        assert_eq!(
                            Scope::parse(name).unwrap().family(),
                            None,
                            "{}",
                            endpoint.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn each_admitting_scope_stands_for_the_endpoint_privilege() {
        for endpoint in all() {
            let admitting = endpoint.scopes.admitting();
            assert!(!admitting.is_empty(), "{}", endpoint.name);
            for scope in admitting {
                // A classic write admitting a read endpoint stands for the Edit privilege.
                let privilege = scope.privilege();
                assert!(
                    privilege == endpoint.privilege
                        || privilege.implied_read() == Some(endpoint.privilege),
                    "{}: {scope} stands for {privilege}",
                    endpoint.name
                );
            }
        }
    }

    #[test]
    fn the_catalog_has_every_row_of_the_api_table() {
        let rows: Vec<String> = all().iter().map(|e| e.display()).collect();
        let expected = [
            "GET /users/{userId}",
            "GET /users",
            "POST /users",
            "PATCH /users/{userId}",
            "PUT /users/{userId}/status",
            "DELETE /users/{userId}",
            "GET /users/{userId}/assistants",
            "POST /users/{userId}/assistants",
            "DELETE /users/{userId}/assistants",
            "DELETE /users/{userId}/assistants/{assistantId}",
            "GET /users/{userId}/schedulers",
            "DELETE /users/{userId}/schedulers",
            "DELETE /users/{userId}/schedulers/{schedulerId}",
            "GET /users/{userId}/meetings",
            "POST /users/{userId}/meetings",
            "GET /meetings/{meetingId}",
            "PATCH /meetings/{meetingId}",
            "DELETE /meetings/{meetingId}",
            "GET /roles",
            "POST /roles",
            "GET /roles/{roleId}",
            "PATCH /roles/{roleId}",
            "DELETE /roles/{roleId}",
            "GET /roles/{roleId}/members",
            "POST /roles/{roleId}/members",
            "DELETE /roles/{roleId}/members/{userId}",
            "GET /report/operationlogs",
            "GET /marketplace/apps",
            "DELETE /marketplace/apps/{appId}",
            "DELETE /marketplace/apps/{appId}/users/{userId}",
            "PUT /marketplace/apps/{appId}/block",
            "DELETE /marketplace/apps/{appId}/block",
            "GET /marketplace/app_requests",
            "PATCH /marketplace/apps/{appId}/requests",
            "GET /marketplace/settings",
            "PATCH /marketplace/settings",
            "DELETE /users/{userId}/apps/{appId}",
            "GET /apps/{appId}/webhook_deliveries",
            "POST /apps/{appId}/webhook_deliveries/{deliveryId}/redeliver",
            "POST /apps/{appId}/webhook/secret",
            "GET /apps",
            "POST /apps",
            "GET /apps/{appId}",
            "PATCH /apps/{appId}",
            "POST /apps/{appId}/credentials/{environment}/secret",
            "DELETE /apps/{appId}/credentials/{environment}/secret",
        ];
        assert_eq!(rows, expected);
        let mut unique_names: Vec<_> = all().iter().map(|e| e.name).collect();
        unique_names.sort();
        unique_names.dedup();
        assert_eq!(unique_names.len(), all().len(), "endpoint names are unique");
    }

    #[test]
    fn admitting_lists_classic_then_granular_user_forms_before_admin_forms() {
        let get_user = find("GET", "/users/{userId}").unwrap();
        assert_eq!(
            names(get_user.scopes.admitting()),
            [
                "user:read",
                "user:write",
                "user:read:admin",
                "user:write:admin",
                "user:read:user",
                "user:read:user:admin"
            ]
        );
        let update_meeting = find("PATCH", "/meetings/{meetingId}").unwrap();
        assert_eq!(
            names(update_meeting.scopes.admitting()),
            [
                "meeting:write",
                "meeting:write:admin",
                "meeting:update:meeting",
                "meeting:update:meeting:admin"
            ]
        );
        let list_users = find("GET", "/users").unwrap();
        assert_eq!(
            names(list_users.scopes.admitting()),
            [
                "user:read:admin",
                "user:write:admin",
                "user:read:list_users:admin"
            ]
        );
        let audit = find("GET", "/report/operationlogs").unwrap();
        assert_eq!(
            names(audit.scopes.admitting()),
            ["report:read:admin", "report:read:operation_logs:admin"]
        );
        let uninstall = find("DELETE", "/marketplace/apps/{appId}").unwrap();
        assert_eq!(
            names(uninstall.scopes.admitting()),
            ["marketplace:write:admin"]
        );
        assert_eq!(names(list_users.scopes.admitting_admin()).len(), 3);
        assert!(get_user.scopes.admits(Scope::parse("user:write").unwrap()));
        assert!(
            !get_user
                .scopes
                .admits(Scope::parse("user:update:user").unwrap())
        );
    }

    #[test]
    fn not_found_answers_follow_the_api_codes() {
        assert_eq!(
            ObjectKind::User.not_found("ann@acme.test"),
            NotFound {
                status: 404,
                code: 1001,
                message: "User does not exist: ann@acme.test.".into()
            }
        );
        assert_eq!(
            ObjectKind::Meeting.not_found("81234567890"),
            NotFound {
                status: 404,
                code: 3001,
                message: "Meeting does not exist: 81234567890.".into()
            }
        );
        assert_eq!(
            ObjectKind::Role.not_found("scheduler"),
            NotFound {
                status: 400,
                code: 1034,
                message: "Role does not exist: scheduler.".into()
            }
        );
        assert_eq!(ObjectKind::App.not_found("x").status, 404);
    }

    #[test]
    fn find_matches_method_and_template_tolerantly() {
        assert_eq!(
            find("get", "/users/{userId}").map(|e| e.name),
            Some("users.get")
        );
        assert_eq!(
            find("GET", "/v2/users/{userId}/").map(|e| e.name),
            Some("users.get")
        );
        assert_eq!(
            find("DELETE", "/users/{userId}/assistants").map(|e| e.name),
            Some("assistants.delete_all")
        );
        assert_eq!(find("POST", "/meetings/{meetingId}"), None);
        assert_eq!(
            find("GET", "/users/me"),
            None,
            "find takes templates, route takes paths"
        );
        assert_eq!(
            by_name("roles.get").map(|e| e.path),
            Some("/roles/{roleId}")
        );
    }

    #[test]
    fn route_matches_concrete_paths_and_extracts_parameters() {
        let me = route("GET", "/v2/users/me?x=1").unwrap();
        assert_eq!(me.endpoint.name, "users.get");
        assert_eq!(me.param("userId"), Some("me"));

        let meetings = route("POST", "/users/ann@acme.test/meetings/").unwrap();
        assert_eq!(meetings.endpoint.name, "meetings.create");
        assert_eq!(meetings.param("userId"), Some("ann@acme.test"));

        let member = route("DELETE", "/roles/7/members/u1").unwrap();
        assert_eq!(member.endpoint.name, "role_members.delete");
        assert_eq!(member.params, vec![("roleId", "7"), ("userId", "u1")]);

        assert_eq!(
            route("GET", "/users").map(|r| r.endpoint.name),
            Some("users.list")
        );
        assert_eq!(route("GET", "/v2").map(|r| r.endpoint.name), None);
        assert_eq!(route("GET", "/users//meetings"), None);
        assert_eq!(route("GET", "/users/u1/meetings/extra"), None);
        assert_eq!(route("PUT", "/meetings/1"), None);
        assert_eq!(
            find("GET", "/users/{userId}").unwrap().parameters(),
            ["userId"]
        );
    }

    #[test]
    fn account_wide_endpoints_are_admin_only() {
        for endpoint in all().iter().filter(|e| e.account_wide) {
            assert!(
                endpoint.scopes.admitting().iter().all(|s| s.is_admin()),
                "{} is account-wide but admits a user-form scope",
                endpoint.name
            );
        }
        let limited: Vec<_> = all()
            .iter()
            .filter(|e| e.daily_meeting_limit)
            .map(|e| e.name)
            .collect();
        assert_eq!(limited, ["meetings.create", "meetings.update"]);
        assert!(
            find("GET", "/users/{userId}/meetings")
                .unwrap()
                .is_meeting_operation()
        );
        assert!(
            !find("GET", "/users/{userId}")
                .unwrap()
                .is_meeting_operation()
        );
        assert_eq!(RateLimitCategory::Heavy.default_per_second(), 10);
    }
}
