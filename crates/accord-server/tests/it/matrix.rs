//! The permission matrix (issue 4): every endpoint of the catalog, called by every kind of caller
//! on a target in the caller's reach and on targets outside it, asserting the status, Zoom's
//! `code` and — for a denial — what `explain` names: the failed step, the missing privilege, the
//! admitting scopes.
//!
//! Three tables make the matrix, so a reader sees it whole:
//! - [`PRINCIPALS`], the columns: who calls, how their token is minted, which targets they aim at;
//! - [`CASES`], the rows: what each endpoint's path points at and what a write sends;
//! - [`EXPECTED`], the cells: one outcome per target, or an explicit `n/a(…)` with its reason.
//!
//! The tests walk the catalog itself (`accord_core::endpoints::all`), so an endpoint added
//! without a row fails them. Every cell mints its own caller and every call builds fresh objects,
//! so no cell depends on another; the audit log shows that a refused call or a read changed
//! nothing and that an allowed write changed the caller's account only. The test clock moves one
//! second before each call, so rate limits never interfere. The catalog runs as four tests (users,
//! assistants and schedulers, meetings, account-wide) so they run side by side; on failure each
//! prints its grid, failing cells marked `!`.

use std::fmt::Write as _;

use accord_core::apps::AppApproval;
use accord_core::clock::Timestamp;
use accord_core::endpoints::{self, Endpoint, ObjectKind};
use accord_core::grants::GrantKind;
use accord_core::ids::{Email, RoleId, UserId};
use accord_core::privileges::Privilege;
use accord_core::scopes::Scope;
use accord_store::audit::Actor;
use accord_store::grants::GrantRequest;
use accord_store::tokens::NewCode;
use accord_store::users::{NewUser, UserChange};
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::live::Live;
use crate::tokens::{REDIRECT, post, str_of};

// The world ----------------------------------------------------------------------------------

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const ADMIN: &str = "1";
const MEMBER: &str = "2";

/// Every admin scope of the classic family, plus the shared report and marketplace scopes.
const CLASSIC_ADMIN: &[&str] = &[
    "user:read:admin",
    "user:write:admin",
    "meeting:read:admin",
    "meeting:write:admin",
    "role:read:admin",
    "role:write:admin",
    "report:read:admin",
    "marketplace:read:admin",
    "marketplace:write:admin",
];

/// Every user-form scope of the classic family.
const CLASSIC_USER: &[&str] = &["user:read", "user:write", "meeting:read", "meeting:write"];

/// Every user-form scope of the granular family that some endpoint admits.
const GRANULAR_USER: &[&str] = &[
    "user:read:user",
    "user:update:user",
    "user:read:list_assistants",
    "user:write:assistant",
    "user:delete:assistant",
    "user:read:list_schedulers",
    "user:delete:scheduler",
    "meeting:read:meeting",
    "meeting:read:list_meetings",
    "meeting:write:meeting",
    "meeting:update:meeting",
    "meeting:delete:meeting",
];

/// Every admin scope of the granular family that some endpoint admits, plus the shared ones.
const GRANULAR_ADMIN: &[&str] = &[
    "user:read:user:admin",
    "user:read:list_users:admin",
    "user:write:user:admin",
    "user:update:user:admin",
    "user:delete:user:admin",
    "user:read:list_assistants:admin",
    "user:write:assistant:admin",
    "user:delete:assistant:admin",
    "user:read:list_schedulers:admin",
    "user:delete:scheduler:admin",
    "meeting:read:meeting:admin",
    "meeting:read:list_meetings:admin",
    "meeting:write:meeting:admin",
    "meeting:update:meeting:admin",
    "meeting:delete:meeting:admin",
    "role:read:list_roles:admin",
    "role:write:role:admin",
    "role:read:role:admin",
    "role:update:role:admin",
    "role:delete:role:admin",
    "role:read:list_members:admin",
    "role:write:member:admin",
    "role:delete:member:admin",
    "report:read:operation_logs:admin",
    "marketplace:read:admin",
    "marketplace:write:admin",
];

/// Every scope of the classic family and every shared scope: the `no-scope` caller holds all of
/// them except the ones that admit the endpoint it calls.
const CLASSIC_AND_SHARED: &[&str] = &[
    "user:read",
    "user:write",
    "user:read:admin",
    "user:write:admin",
    "meeting:read",
    "meeting:write",
    "meeting:read:admin",
    "meeting:write:admin",
    "role:read:admin",
    "role:write:admin",
    "report:read:admin",
    "report:read:operation_logs:admin",
    "marketplace:read:admin",
    "marketplace:write:admin",
];

/// Two accounts, each with only its owner: every other user a cell needs is made for that cell.
/// Client ids are `{app}-prod`, secrets `{app}-prod-secret-0123456789`.
fn fixture() -> String {
    let app = |id: &str, kind: &str, developer: &str, scopes: &[&str]| {
        let mut production = json!({
            "client_id": format!("{id}-prod"),
            "client_secret": format!("{id}-prod-secret-0123456789"),
        });
        let mut app =
            json!({"id": id, "name": id, "kind": kind, "developer": developer, "scopes": scopes});
        if kind != "server" {
            production["redirect_uris"] = json!([REDIRECT]);
            app["status"] = json!("published");
        }
        app["credentials"] = json!({ "production": production });
        app
    };
    let olive = "olive@acme.test";
    json!({
        "accounts": [
            {"id": ACME, "name": "Acme", "users": [
                {"id": "acme-olive", "email": olive, "role": "owner"}]},
            {"id": GLOBEX, "name": "Globex", "users": [
                {"id": "globex-gina", "email": "gina@globex.test", "role": "owner"}]}
        ],
        "apps": [
            app("console", "account", olive, CLASSIC_ADMIN),
            app("console-lite", "account", olive, GRANULAR_USER),
            app("planner", "user", olive, CLASSIC_USER),
            app("directory", "user", olive, GRANULAR_ADMIN),
            app("backend", "server", olive, CLASSIC_ADMIN),
            app("gadget", "server", "gina@globex.test", CLASSIC_ADMIN),
            app("bystander", "account", olive, CLASSIC_AND_SHARED),
            // The app `DELETE /marketplace/apps/{appId}` uninstalls.
            app("widget", "user", olive, &["user:read"]),
            // Each account's own app in development (seen only there), with a webhook endpoint:
            // the object of the developer's webhook tools and of the account's app controls.
            hooked(ACME, olive),
            hooked(GLOBEX, "gina@globex.test"),
        ]
    })
    .to_string()
}

/// The development user app of `account` with a webhook endpoint: `hooked-{account}`.
fn hooked(account: &str, developer: &str) -> Value {
    let id = hooked_app(account);
    json!({
        "id": id, "name": id, "kind": "user", "developer": developer, "status": "development",
        "scopes": ["user:read"],
        "credentials": {"production": {
            "client_id": format!("{id}-prod"),
            "client_secret": format!("{id}-prod-secret-0123456789"),
            "redirect_uris": [REDIRECT],
        }},
        "webhook": {"url": "http://127.0.0.1:9/hooks", "secret_token": "hooked-webhook-token-0123456789",
                    "events": ["app_deauthorized"]},
    })
}

fn hooked_app(account: &str) -> String {
    format!("hooked-{account}")
}

fn owner_of(account: &str) -> &'static str {
    if account == ACME {
        "acme-olive"
    } else {
        "globex-gina"
    }
}

fn other_account(account: &str) -> &'static str {
    if account == ACME { GLOBEX } else { ACME }
}

// The columns: principals -------------------------------------------------------------------

/// What a call is aimed at, relative to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The caller's own user (`me` in the path): the authorizing user of a user grant, the
    /// installer of an installation.
    Me,
    /// A user who made the caller their assistant.
    Assisted,
    /// Another user of the caller's account, with no tie to the caller.
    Other,
    /// A user, or an object, of the other account.
    Foreign,
    /// The caller's account as a whole, or an object of it (account-wide endpoints).
    Account,
}

/// How a column's token is minted. Every cell mints its own.
#[derive(Debug, Clone, Copy)]
enum Mint {
    /// An account app installed by a fresh admin (the installation's `me`).
    Installation(&'static str),
    /// A user app authorized by a fresh user with this role.
    Authorization(&'static str, &'static str),
    /// A user app authorized by a fresh member whom a fresh member made their assistant.
    Assistant(&'static str),
    /// A server app's client credentials; `me` is the account owner.
    Server(&'static str),
    /// An installation of `bystander` holding every classic and shared scope except the ones
    /// that admit the endpoint called.
    WithoutTheScope,
}

/// One column of the matrix.
struct Principal {
    /// The column header.
    key: &'static str,
    /// Who calls, for the legend.
    about: &'static str,
    /// The account the token belongs to.
    home: &'static str,
    mint: Mint,
    /// The targets of a per-user endpoint: the first in the caller's reach, the others not.
    /// Account-wide endpoints are aimed at [`ACCOUNT_WIDE_TARGETS`] instead.
    targets: &'static [Target],
}

/// Account-wide endpoints are aimed at the caller's account and at an object of the other one.
const ACCOUNT_WIDE_TARGETS: &[Target] = &[Target::Account, Target::Foreign];

use Target::{Assisted, Foreign, Me, Other};

const PRINCIPALS: [Principal; 9] = [
    Principal {
        key: "acct-admin",
        about: "account app, classic admin scopes, installed by an admin: reaches every user",
        home: ACME,
        mint: Mint::Installation("console"),
        targets: &[Other, Foreign],
    },
    Principal {
        key: "acct-user",
        about: "account app, granular user scopes only: reaches only `me` (its installer)",
        home: ACME,
        mint: Mint::Installation("console-lite"),
        targets: &[Me, Other, Foreign],
    },
    Principal {
        key: "member",
        about: "user app, classic user scopes, authorized by a member: own objects only",
        home: ACME,
        mint: Mint::Authorization("planner", MEMBER),
        targets: &[Me, Other, Foreign],
    },
    Principal {
        key: "assistant",
        about: "the same user app, authorized by a member who is P's assistant: P's meetings",
        home: ACME,
        mint: Mint::Assistant("planner"),
        targets: &[Assisted, Other],
    },
    Principal {
        key: "uadm-admin",
        about: "user app, granular admin scopes, authorized by an admin: reaches every user",
        home: ACME,
        mint: Mint::Authorization("directory", ADMIN),
        targets: &[Other, Foreign],
    },
    Principal {
        key: "uadm-member",
        about: "the same user app, authorized by a member: admin scopes but no privilege",
        home: ACME,
        mint: Mint::Authorization("directory", MEMBER),
        targets: &[Me, Other, Foreign],
    },
    Principal {
        key: "server",
        about: "server app, classic admin scopes: reaches every user of its account",
        home: ACME,
        mint: Mint::Server("backend"),
        targets: &[Other, Foreign],
    },
    Principal {
        key: "foreign",
        about: "the other account's server app, classic admin scopes: Other is a Globex user",
        home: GLOBEX,
        mint: Mint::Server("gadget"),
        targets: &[Other, Foreign],
    },
    Principal {
        key: "no-scope",
        about: "account app installation holding every classic scope but the admitting ones",
        home: ACME,
        mint: Mint::WithoutTheScope,
        targets: &[Me, Other, Foreign],
    },
];

// The rows: what each endpoint's call points at and sends ------------------------------------

/// What the path's parameters point at, made fresh for each cell in the target's account.
#[derive(Debug, Clone, Copy)]
enum Object {
    /// No parameter.
    Nothing,
    /// `{userId}`: the target user.
    User,
    /// `{userId}` and `{assistantId}`: the target user and a fresh assistant of theirs.
    UserAndAssistant,
    /// `{userId}` and `{schedulerId}`: the target user and a fresh user who made them their
    /// assistant.
    UserAndScheduler,
    /// `{meetingId}`: a fresh meeting hosted by the target user.
    MeetingOf,
    /// `{roleId}`: a fresh custom role.
    Role,
    /// `{roleId}` and `{userId}`: a fresh custom role and a fresh member of it.
    RoleAndMember,
    /// `{appId}`: `widget`, granted (to a fresh user) in the target account and no other.
    GrantedApp,
    /// `{appId}` and `{userId}`: the target account's `hooked` app and a fresh user there who
    /// authorized it.
    AuthorizedApp,
    /// `{userId}` and `{appId}`: the target user, who authorized the target account's `hooked`.
    UserAndAuthorizedApp,
    /// `{appId}`: the target account's `hooked` app, not blocked there.
    UnblockedApp,
    /// `{appId}`: the target account's `hooked` app, blocked there.
    BlockedApp,
    /// `{appId}`: the target account's `hooked` app (developed there).
    DevelopedApp,
    /// `{appId}` and `{deliveryId}`: the target account's `hooked` app and a fresh
    /// `app_deauthorized` queued for it.
    Delivery,
    /// `{appId}` and `{environment}`: the target account's `hooked` app and its production
    /// credentials, down to one active secret (so a rotation has room).
    DevelopedAppCredentials,
    /// `{appId}` and `{environment}`: the same, with two active secrets (a retirement has one
    /// to retire).
    RotatedAppCredentials,
}

/// The JSON a write sends.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    /// `POST /users`: a pending user with a fresh email.
    NewUser,
    /// A first name.
    Profile,
    /// `{"action":"deactivate"}`.
    Deactivate,
    /// A fresh user of the target's account as assistant.
    AddAssistant,
    /// A scheduled meeting.
    NewMeeting,
    /// A new topic.
    MeetingChange,
    /// A role with a fresh name.
    NewRole,
    /// A new description.
    RoleChange,
    /// A fresh user of the target's account as member.
    AddMember,
    /// `{"action":"approve"}`.
    Approve,
    /// `{"app_approval": …}`: the policy the target account does not have now.
    OtherPolicy,
    /// `POST /apps`: a user app with a fresh name.
    NewApp,
    /// `PATCH /apps/{appId}`: a fresh name.
    AppChange,
}

/// What a successful answer must show.
#[derive(Debug, Clone, Copy)]
enum Shows {
    /// 204, no body.
    Nothing,
    /// Its `id` is the object the path named.
    TheObject,
    /// This field (a list, or the created object's id).
    Field(&'static str),
}

/// One row: an endpoint of the catalog (by name), its success status, and how to call it.
struct Case {
    endpoint: &'static str,
    ok: u16,
    object: Object,
    body: Body,
    shows: Shows,
}

const fn case(endpoint: &'static str, ok: u16, object: Object, body: Body, shows: Shows) -> Case {
    Case {
        endpoint,
        ok,
        object,
        body,
        shows,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    case("users.get",               200, Object::User,             Body::None,          Shows::TheObject),
    case("users.list",              200, Object::Nothing,          Body::None,          Shows::Field("users")),
    case("users.create",            201, Object::Nothing,          Body::NewUser,       Shows::Field("id")),
    case("users.update",            204, Object::User,             Body::Profile,       Shows::Nothing),
    case("users.status",            204, Object::User,             Body::Deactivate,    Shows::Nothing),
    case("users.delete",            204, Object::User,             Body::None,          Shows::Nothing),
    case("assistants.list",         200, Object::User,             Body::None,          Shows::Field("assistants")),
    case("assistants.add",          201, Object::User,             Body::AddAssistant,  Shows::Field("ids")),
    case("assistants.delete_all",   204, Object::UserAndAssistant, Body::None,          Shows::Nothing),
    case("assistants.delete",       204, Object::UserAndAssistant, Body::None,          Shows::Nothing),
    case("schedulers.list",         200, Object::User,             Body::None,          Shows::Field("schedulers")),
    case("schedulers.delete_all",   204, Object::UserAndScheduler, Body::None,          Shows::Nothing),
    case("schedulers.delete",       204, Object::UserAndScheduler, Body::None,          Shows::Nothing),
    case("meetings.list",           200, Object::User,             Body::None,          Shows::Field("meetings")),
    case("meetings.create",         201, Object::User,             Body::NewMeeting,    Shows::Field("id")),
    case("meetings.get",            200, Object::MeetingOf,        Body::None,          Shows::TheObject),
    case("meetings.update",         204, Object::MeetingOf,        Body::MeetingChange, Shows::Nothing),
    case("meetings.delete",         204, Object::MeetingOf,        Body::None,          Shows::Nothing),
    case("roles.list",              200, Object::Nothing,          Body::None,          Shows::Field("roles")),
    case("roles.create",            201, Object::Nothing,          Body::NewRole,       Shows::Field("id")),
    case("roles.get",               200, Object::Role,             Body::None,          Shows::TheObject),
    case("roles.update",            204, Object::Role,             Body::RoleChange,    Shows::Nothing),
    case("roles.delete",            204, Object::Role,             Body::None,          Shows::Nothing),
    case("role_members.list",       200, Object::RoleAndMember,    Body::None,          Shows::Field("members")),
    case("role_members.add",        201, Object::Role,             Body::AddMember,     Shows::Field("ids")),
    case("role_members.delete",     204, Object::RoleAndMember,    Body::None,          Shows::Nothing),
    case("report.operationlogs",    200, Object::Nothing,          Body::None,          Shows::Field("operation_logs")),
    case("marketplace.apps.list",   200, Object::Nothing,          Body::None,          Shows::Field("apps")),
    case("marketplace.apps.delete", 204, Object::GrantedApp,       Body::None,          Shows::Nothing),
    case("marketplace.authorizations.delete", 204, Object::AuthorizedApp, Body::None,   Shows::Nothing),
    case("marketplace.apps.block",  204, Object::UnblockedApp,     Body::None,          Shows::Nothing),
    case("marketplace.apps.unblock", 204, Object::BlockedApp,      Body::None,          Shows::Nothing),
    case("marketplace.app_requests.list", 200, Object::Nothing,    Body::None,          Shows::Field("app_requests")),
    case("marketplace.app_requests.decide", 204, Object::DevelopedApp, Body::Approve,   Shows::Nothing),
    case("marketplace.settings.get", 200, Object::Nothing,         Body::None,          Shows::Field("app_approval")),
    case("marketplace.settings.update", 204, Object::Nothing,      Body::OtherPolicy,   Shows::Nothing),
    case("users.apps.delete",       204, Object::UserAndAuthorizedApp, Body::None,      Shows::Nothing),
    case("apps.webhook_deliveries.list", 200, Object::DevelopedApp, Body::None,         Shows::Field("webhook_deliveries")),
    case("apps.webhook_deliveries.redeliver", 202, Object::Delivery, Body::None,        Shows::Field("id")),
    case("apps.webhook_secret.rotate", 201, Object::DevelopedApp,  Body::None,          Shows::Field("secret_token")),
    case("apps.list",               200, Object::Nothing,          Body::None,          Shows::Field("apps")),
    case("apps.create",             201, Object::Nothing,          Body::NewApp,        Shows::Field("client_secrets")),
    case("apps.get",                200, Object::DevelopedApp,     Body::None,          Shows::Field("credentials")),
    case("apps.update",             200, Object::DevelopedApp,     Body::AppChange,     Shows::Field("credentials")),
    case("apps.secret.rotate",      201, Object::DevelopedAppCredentials, Body::None,   Shows::Field("client_secret")),
    case("apps.secret.retire",      204, Object::RotatedAppCredentials, Body::None,     Shows::Nothing),
];

// The cells ----------------------------------------------------------------------------------

/// One outcome per target of the column, in the column's target order (for account-wide
/// endpoints: the account, then the other account's object):
/// - `ok`: the endpoint's success status, showing what it should;
/// - `4711`: 400, code 4711, the message and `explain.missing_scopes` listing every admitting
///   scope of the endpoint, `explain.step` = scope;
/// - `priv`: 400, code 200, `explain.step` = reach, `explain.missing_privilege` = the endpoint's
///   privilege (the token holds an admin scope, the user's role lacks the privilege);
/// - `admin`: 400, code 200, reach, `explain.missing_scopes` = the admitting admin scopes (an
///   app's user-form scopes reach only `me`);
/// - `both`: 400, code 200, reach, naming the missing privilege and the admin scopes (a user
///   grant without admin scope, whose user lacks the privilege);
/// - `missing`: exactly what a missing object gets — users 404/1001, meetings 404/3001, roles
///   400/1034 (api.md), apps 404/404 — and the very body a nonexistent id gets, never a 400/403
///   that would tell another account's object from none;
/// - `n/a(key)`: does not apply, for the reason [`NOT_APPLICABLE`] gives; alone, it stands for
///   the whole cell.
///
/// A user grant's reach denial on a meeting also says how to become the host's assistant.
#[rustfmt::skip]
const EXPECTED: &[(&str, [&str; 9])] = &[
    //                             acct-admin      acct-user            member               assistant    uadm-admin      uadm-member        server          foreign         no-scope
    ("users.get",                ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("users.list",               ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("users.create",             ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("users.update",             ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("users.status",             ["ok missing",   "4711 4711 missing", "4711 4711 missing", "4711 4711", "ok missing",   "priv priv missing", "ok missing", "ok missing",   "4711 4711 missing"]),
    ("users.delete",             ["ok missing",   "4711 4711 missing", "4711 4711 missing", "4711 4711", "ok missing",   "priv priv missing", "ok missing", "ok missing",   "4711 4711 missing"]),
    ("assistants.list",          ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("assistants.add",           ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("assistants.delete_all",    ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("assistants.delete",        ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("schedulers.list",          ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("schedulers.delete_all",    ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("schedulers.delete",        ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("meetings.list",            ["ok missing",   "ok admin missing",  "ok both missing",   "ok both",   "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("meetings.create",          ["ok missing",   "ok admin missing",  "ok both missing",   "ok both",   "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("meetings.get",             ["ok missing",   "ok admin missing",  "ok both missing",   "ok both",   "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("meetings.update",          ["ok missing",   "ok admin missing",  "ok both missing",   "ok both",   "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("meetings.delete",          ["ok missing",   "ok admin missing",  "ok both missing",   "ok both",   "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("roles.list",               ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("roles.create",             ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("roles.get",                ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("roles.update",             ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("roles.delete",             ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("role_members.list",        ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("role_members.add",         ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("role_members.delete",      ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("report.operationlogs",     ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("marketplace.apps.list",    ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("marketplace.apps.delete",  ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("marketplace.authorizations.delete", ["ok missing", "4711 missing", "4711 missing",   "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("marketplace.apps.block",   ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("marketplace.apps.unblock", ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("marketplace.app_requests.list", ["ok n/a(noid)", "4711 n/a(noid)", "4711 n/a(noid)",  "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("marketplace.app_requests.decide", ["ok missing", "4711 missing",   "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("marketplace.settings.get", ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("marketplace.settings.update", ["ok n/a(noid)", "4711 n/a(noid)", "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("users.apps.delete",        ["ok missing",   "ok admin missing",  "ok both missing",   "both both", "ok missing",   "ok priv missing", "ok missing",   "ok missing",   "4711 4711 missing"]),
    ("apps.webhook_deliveries.list", ["ok missing", "4711 missing",    "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("apps.webhook_deliveries.redeliver", ["ok missing", "4711 missing", "4711 missing",    "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("apps.webhook_secret.rotate", ["ok missing", "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("apps.list",                ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("apps.create",              ["ok n/a(noid)", "4711 n/a(noid)",    "4711 n/a(noid)",    "n/a(acct)", "ok n/a(noid)", "priv n/a(noid)",  "ok n/a(noid)", "ok n/a(noid)", "4711 n/a(noid)"]),
    ("apps.get",                 ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("apps.update",              ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("apps.secret.rotate",       ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
    ("apps.secret.retire",       ["ok missing",   "4711 missing",      "4711 missing",      "n/a(acct)", "ok missing",   "priv missing",    "ok missing",   "ok missing",   "4711 missing"]),
];

/// Why a cell, or one target of it, does not apply.
const NOT_APPLICABLE: &[(&str, &str)] = &[
    (
        "noid",
        "the path names no object, so there is no object of another account to ask for",
    ),
    (
        "acct",
        "account-wide: nothing here is a user's, so nothing is a principal's; the member column \
         asks with the same kind of token",
    ),
];

/// A cell's outcome for one target, parsed from [`EXPECTED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    MissingScope,
    NoReach {
        names_privilege: bool,
        names_admin_scopes: bool,
    },
    Missing,
    NotApplicable(&'static str),
}

fn expect(token: &'static str) -> Expect {
    match token {
        "ok" => Expect::Ok,
        "4711" => Expect::MissingScope,
        "priv" => Expect::NoReach {
            names_privilege: true,
            names_admin_scopes: false,
        },
        "admin" => Expect::NoReach {
            names_privilege: false,
            names_admin_scopes: true,
        },
        "both" => Expect::NoReach {
            names_privilege: true,
            names_admin_scopes: true,
        },
        "missing" => Expect::Missing,
        other => {
            let key = other
                .strip_prefix("n/a(")
                .and_then(|rest| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("unknown outcome {other:?} in EXPECTED"));
            let (_, reason) = NOT_APPLICABLE
                .iter()
                .find(|(k, _)| *k == key)
                .unwrap_or_else(|| panic!("n/a({key}) has no reason in NOT_APPLICABLE"));
            Expect::NotApplicable(reason)
        }
    }
}

// Running a cell -----------------------------------------------------------------------------

/// The minted caller of one cell.
struct Caller {
    token: String,
    /// The acting user's id (`me`).
    me: String,
    account: &'static str,
    /// The user who made the caller their assistant.
    assisted: Option<String>,
}

/// A call ready to send.
struct Call {
    path: String,
    body: Option<Value>,
    /// The value of the path's first parameter (the object the tenant step looks at).
    subject: Option<String>,
    /// The id the answer must show for [`Shows::TheObject`].
    object_id: String,
}

/// The server and a counter for fresh names.
struct World {
    live: Live,
    next: std::cell::Cell<u32>,
}

impl World {
    /// A server on `db`, seeded with [`fixture`].
    async fn start(db: accord_testkit::TestDbRef) -> World {
        let seed = accord_store::seed::parse("matrix", &fixture()).expect("the fixture parses");
        accord_store::seed::apply(&db.store, "matrix", &seed)
            .await
            .expect("the fixture applies");
        World {
            live: Live::start(db).await,
            next: std::cell::Cell::new(0),
        }
    }

    fn fresh(&self) -> u32 {
        let n = self.next.get() + 1;
        self.next.set(n);
        n
    }

    async fn user(&self, account: &str, role: &str) -> String {
        let n = self.fresh();
        let email = Email::parse(format!("u{n}@{account}.test")).expect("an email");
        let mut new = NewUser::new(email);
        new.role_id = RoleId::parse(role).expect("a role id");
        let (user, _) = self
            .live
            .db
            .store
            .create_user(&Actor::cli(), account, new)
            .await
            .expect("a fresh user");
        user.id.into_string()
    }

    /// `user`'s authorization of the user app `app` in `account`, made in the store.
    async fn authorize(&self, app: &str, account: &str, user: &str) {
        let scopes = [Scope::parse("user:read").expect("a scope")];
        let request = GrantRequest {
            kind: GrantKind::Authorization,
            app_id: app,
            account_id: account,
            user_id: Some(user),
            created_by: Some(user),
            scopes: &scopes,
        };
        self.live
            .db
            .store
            .upsert_grant(&Actor::cli(), request)
            .await
            .expect("an authorization");
    }

    /// A grant made as the consent page makes it, then its code redeemed at `/oauth/token`.
    async fn code_token(
        &self,
        app: &str,
        kind: GrantKind,
        account: &str,
        user: &str,
        scopes: &[Scope],
    ) -> String {
        let store = &self.live.db.store;
        let request = GrantRequest {
            kind,
            app_id: app,
            account_id: account,
            user_id: (kind == GrantKind::Authorization).then_some(user),
            created_by: Some(user),
            scopes,
        };
        let grant = store
            .upsert_grant(&Actor::User(user.into()), request)
            .await
            .expect("a grant");
        let client = format!("{app}-prod");
        let code = store
            .create_code(NewCode {
                grant_id: &grant.id,
                generation: grant.generation,
                client_id: &client,
                user_id: user,
                redirect_uri: REDIRECT,
                redirect_uri_given: false,
                code_challenge: None,
                code_challenge_method: None,
                scopes,
            })
            .await
            .expect("a code");
        let secret = format!("{app}-prod-secret-0123456789");
        let (status, _, body) = post(
            &self.live,
            "/oauth/token",
            Some((&client, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{app}: {body}");
        str_of(&body, "access_token").to_owned()
    }

    async fn mint(&self, principal: &Principal, endpoint: &Endpoint) -> Caller {
        let account = principal.home;
        let declared = |app: &'static str| async move {
            self.live
                .db
                .store
                .app(app)
                .await
                .expect("a fixture app")
                .required_scopes
        };
        let (token, me, assisted) = match principal.mint {
            Mint::Installation(app) => {
                let installer = self.user(account, ADMIN).await;
                let scopes = declared(app).await;
                let kind = GrantKind::Installation;
                let token = self
                    .code_token(app, kind, account, &installer, &scopes)
                    .await;
                (token, installer, None)
            }
            Mint::Authorization(app, role) => {
                let user = self.user(account, role).await;
                let scopes = declared(app).await;
                let kind = GrantKind::Authorization;
                (
                    self.code_token(app, kind, account, &user, &scopes).await,
                    user,
                    None,
                )
            }
            Mint::Assistant(app) => {
                let user = self.user(account, MEMBER).await;
                let principal = self.user(account, MEMBER).await;
                self.live
                    .db
                    .store
                    .add_assistant(&Actor::cli(), &principal, &user)
                    .await
                    .expect("an assistant pair");
                let scopes = declared(app).await;
                let kind = GrantKind::Authorization;
                let token = self.code_token(app, kind, account, &user, &scopes).await;
                (token, user, Some(principal))
            }
            Mint::Server(app) => {
                let client = format!("{app}-prod");
                let secret = format!("{app}-prod-secret-0123456789");
                let (status, _, body) = post(
                    &self.live,
                    "/oauth/token",
                    Some((&client, &secret)),
                    &[("grant_type", "client_credentials")],
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{app}: {body}");
                let token = str_of(&body, "access_token").to_owned();
                (token, owner_of(account).to_owned(), None)
            }
            Mint::WithoutTheScope => {
                let installer = self.user(account, ADMIN).await;
                let scopes: Vec<Scope> = CLASSIC_AND_SHARED
                    .iter()
                    .map(|name| Scope::parse(name).expect("a catalog scope"))
                    .filter(|scope| !endpoint.scopes.admits(*scope))
                    .collect();
                assert!(scopes.len() >= 8, "{}: {scopes:?}", endpoint.name);
                let kind = GrantKind::Installation;
                let token = self
                    .code_token("bystander", kind, account, &installer, &scopes)
                    .await;
                (token, installer, None)
            }
        };
        Caller {
            token,
            me,
            account,
            assisted,
        }
    }

    /// Builds the call of `case` aimed at `target`, with fresh objects.
    async fn prepare(
        &self,
        case: &Case,
        endpoint: &Endpoint,
        caller: &Caller,
        target: Target,
    ) -> Call {
        let store = &self.live.db.store;
        let cli = Actor::cli();
        // The user the path names (for per-user endpoints) and the account objects are made in.
        let (user_in_path, user_id, account) = match target {
            Target::Me => ("me".to_owned(), caller.me.clone(), caller.account),
            Target::Assisted => {
                let id = caller
                    .assisted
                    .clone()
                    .expect("the assistant column's principal");
                (id.clone(), id, caller.account)
            }
            Target::Other => {
                let id = self.user(caller.account, MEMBER).await;
                (id.clone(), id, caller.account)
            }
            Target::Foreign if !endpoint.account_wide => {
                let account = other_account(caller.account);
                let id = self.user(account, MEMBER).await;
                (id.clone(), id, account)
            }
            Target::Foreign => (String::new(), String::new(), other_account(caller.account)),
            Target::Account => (String::new(), String::new(), caller.account),
        };
        let mut params: Vec<(&str, String)> = Vec::new();
        let mut object_id = user_id.clone();
        match case.object {
            Object::Nothing => {}
            Object::User => params.push(("userId", user_in_path)),
            Object::UserAndAssistant => {
                let assistant = self.user(account, MEMBER).await;
                store
                    .add_assistant(&cli, &user_id, &assistant)
                    .await
                    .expect("a pair");
                params.push(("userId", user_in_path));
                params.push(("assistantId", assistant));
            }
            Object::UserAndScheduler => {
                let scheduler = self.user(account, MEMBER).await;
                store
                    .add_assistant(&cli, &scheduler, &user_id)
                    .await
                    .expect("a pair");
                params.push(("userId", user_in_path));
                params.push(("schedulerId", scheduler));
            }
            Object::MeetingOf => {
                let draft = serde_json::from_value(scheduled_meeting()).expect("a meeting draft");
                let new = accord_store::meetings::NewMeeting {
                    host_id: UserId::parse(user_id.clone()).expect("a user id"),
                    assistant_id: None,
                    draft,
                };
                let meeting = store.create_meeting(&cli, new).await.expect("a meeting");
                object_id = meeting.id.to_string();
                params.push(("meetingId", object_id.clone()));
            }
            Object::Role | Object::RoleAndMember => {
                let n = self.fresh();
                let new = accord_store::roles::NewRole {
                    id: None,
                    name: format!("Matrix role {n}"),
                    description: String::new(),
                    privileges: [Privilege::MeetingRead].into_iter().collect(),
                };
                let role = store.create_role(&cli, account, new).await.expect("a role");
                object_id = role.id.as_str().to_owned();
                params.push(("roleId", object_id.clone()));
                if let Object::RoleAndMember = case.object {
                    let member = self.user(account, MEMBER).await;
                    let change = UserChange {
                        role_id: Some(role.id.clone()),
                        ..Default::default()
                    };
                    store
                        .update_user(&cli, &member, change)
                        .await
                        .expect("a member");
                    params.push(("userId", member));
                }
            }
            Object::GrantedApp => {
                for account in [ACME, GLOBEX] {
                    store
                        .uninstall_app(&cli, account, "widget", "the matrix starts afresh")
                        .await
                        .expect("an uninstall");
                }
                let user = self.user(account, MEMBER).await;
                let scopes = [Scope::parse("user:read").expect("a scope")];
                let request = GrantRequest {
                    kind: GrantKind::Authorization,
                    app_id: "widget",
                    account_id: account,
                    user_id: Some(&user),
                    created_by: Some(&user),
                    scopes: &scopes,
                };
                store.upsert_grant(&cli, request).await.expect("a grant");
                object_id = "widget".to_owned();
                params.push(("appId", object_id.clone()));
            }
            Object::AuthorizedApp => {
                let hooked = hooked_app(account);
                let user = self.user(account, MEMBER).await;
                self.authorize(&hooked, account, &user).await;
                params.push(("appId", hooked));
                params.push(("userId", user));
            }
            Object::UserAndAuthorizedApp => {
                let hooked = hooked_app(account);
                self.authorize(&hooked, account, &user_id).await;
                params.push(("userId", user_in_path));
                params.push(("appId", hooked));
            }
            Object::UnblockedApp | Object::BlockedApp | Object::DevelopedApp => {
                let hooked = hooked_app(account);
                match case.object {
                    Object::UnblockedApp => store.unblock_app(&cli, account, &hooked).await,
                    Object::BlockedApp => store.block_app(&cli, account, &hooked).await,
                    _ => Ok(()),
                }
                .expect("a block or unblock");
                params.push(("appId", hooked));
            }
            Object::Delivery => {
                let hooked = hooked_app(account);
                let user = self.user(account, MEMBER).await;
                self.authorize(&hooked, account, &user).await;
                store
                    .uninstall_app(&cli, account, &hooked, "queues an app_deauthorized")
                    .await
                    .expect("an uninstall");
                let (queued, _) = store
                    .webhook_deliveries(&hooked, None, 1)
                    .await
                    .expect("the delivery log");
                let delivery = queued
                    .into_iter()
                    .next()
                    .expect("a queued app_deauthorized");
                params.push(("appId", hooked));
                params.push(("deliveryId", delivery.id));
            }
            Object::DevelopedAppCredentials | Object::RotatedAppCredentials => {
                let hooked = hooked_app(account);
                let production = accord_core::apps::Environment::Production;
                let app = store.app(&hooked).await.expect("the hooked app");
                let active = app
                    .credential_set(production)
                    .map_or(0, |set| set.active_secrets);
                let wanted = if let Object::RotatedAppCredentials = case.object {
                    2
                } else {
                    1
                };
                if active > wanted {
                    store
                        .retire_oldest_secret(&cli, &hooked, production)
                        .await
                        .expect("room for a rotation");
                } else if active < wanted {
                    store
                        .rotate_secret(&cli, &hooked, production)
                        .await
                        .expect("a secret to retire");
                }
                params.push(("appId", hooked));
                params.push(("environment", "production".to_owned()));
            }
        }
        let n = self.fresh();
        let body = match case.body {
            Body::None => None,
            Body::NewUser => {
                let email = format!("new{n}@{account}.test");
                Some(json!({"action": "create", "user_info": {"email": email, "type": 1}}))
            }
            Body::Profile => Some(json!({"first_name": format!("Renamed {n}")})),
            Body::Deactivate => Some(json!({"action": "deactivate"})),
            Body::AddAssistant => {
                Some(json!({"assistants": [{"id": self.user(account, MEMBER).await}]}))
            }
            Body::NewMeeting => Some(scheduled_meeting()),
            Body::MeetingChange => Some(json!({"topic": format!("Moved {n}")})),
            Body::NewRole => {
                Some(json!({"name": format!("Created role {n}"), "privileges": ["Meeting:Read"]}))
            }
            Body::RoleChange => Some(json!({"description": format!("Changed {n}")})),
            Body::AddMember => Some(json!({"members": [{"id": self.user(account, MEMBER).await}]})),
            Body::Approve => Some(json!({"action": "approve"})),
            Body::OtherPolicy => {
                let now = store
                    .account(account)
                    .await
                    .expect("an account")
                    .app_approval;
                let other = match now {
                    AppApproval::Open => AppApproval::Preapproval,
                    AppApproval::Preapproval => AppApproval::Open,
                };
                Some(json!({"app_approval": other.as_str()}))
            }
            Body::NewApp => Some(
                json!({"name": format!("Matrix app {n}"), "kind": "user", "scopes": ["user:read"]}),
            ),
            Body::AppChange => Some(json!({"name": format!("Hooked {n}")})),
        };
        let names = endpoint.parameters();
        let mut path = format!("/v2{}", endpoint.path);
        for name in &names {
            let (_, value) = params
                .iter()
                .find(|(key, _)| key == name)
                .unwrap_or_else(|| panic!("{}: no value for {{{name}}}", endpoint.name));
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let subject = names.first().and_then(|first| {
            params
                .iter()
                .find(|(key, _)| key == first)
                .map(|(_, value)| value.clone())
        });
        Call {
            path,
            body,
            subject,
            object_id,
        }
    }

    /// How many audit entries each account got since `since`, `[acme, globex]`: every change
    /// writes one in the same transaction, so the counts tell whether a call changed anything,
    /// and where.
    async fn audit_since(&self, since: Timestamp) -> [i64; 2] {
        let store = &self.live.db.store;
        let until = store.now().plus_seconds(1);
        let mut counts = [0; 2];
        for (count, account) in counts.iter_mut().zip([ACME, GLOBEX]) {
            let (_, total) = store
                .audit_page(account, since, until, Default::default(), None, 1)
                .await
                .expect("the audit log");
            *count = total;
        }
        counts
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        // A second of test time per call keeps every account inside its rate limits.
        self.live.db.clock.advance_seconds(1);
        let method = Method::from_bytes(endpoint.method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .live
            .http
            .request(method, format!("{}{path}", self.live.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("a response");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// A meeting body, as created through the store or the API.
fn scheduled_meeting() -> Value {
    json!({"topic": "Matrix", "type": 2, "start_time": "2026-12-01T10:00:00Z", "duration": 30})
}

/// The path with its first segment equal to `subject` replaced by `replacement`.
fn with_subject(path: &str, subject: &str, replacement: &str) -> String {
    let mut replaced = false;
    path.split('/')
        .map(|segment| {
            if !replaced && segment == subject {
                replaced = true;
                replacement
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// api.md's answer for a missing object of this kind — status, code, the message before the id —
/// and an id no such object has.
fn missing_answer(object: ObjectKind) -> (u16, i64, &'static str, &'static str) {
    match object {
        ObjectKind::User => (404, 1001, "User does not exist: ", "nobody-matrix"),
        ObjectKind::Meeting => (404, 3001, "Meeting does not exist: ", "999999999"),
        ObjectKind::Role => (400, 1034, "Role does not exist: ", "no-such-role"),
        ObjectKind::App => (404, 404, "App does not exist: ", "no-such-app"),
        ObjectKind::AuditLog => unreachable!("the audit log's path names no object"),
    }
}

fn names(scopes: Vec<Scope>) -> Value {
    json!(scopes.into_iter().map(Scope::as_str).collect::<Vec<_>>())
}

/// Whether the answer is the outcome expected; if not, what differs.
fn judge(
    expected: Expect,
    case: &Case,
    endpoint: &Endpoint,
    principal: &Principal,
    call: &Call,
    status: StatusCode,
    body: &Value,
) -> Result<(), String> {
    let explain = &body["explain"];
    let mut wrong = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            wrong.push(what);
        }
    };
    match expected {
        Expect::Ok => {
            check(
                status.as_u16() == case.ok,
                format!("status {} (want {})", status, case.ok),
            );
            match case.shows {
                Shows::Nothing => {}
                Shows::TheObject => {
                    let id = body["id"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| body["id"].to_string());
                    check(
                        id == call.object_id,
                        format!("id {id} (want {})", call.object_id),
                    );
                }
                Shows::Field(field) => check(!body[field].is_null(), format!("no {field}")),
            }
        }
        Expect::MissingScope => {
            let admitting = endpoint.scopes.admitting();
            let listed: Vec<&str> = admitting.iter().map(|s| s.as_str()).collect();
            let message = format!(
                "Invalid access token, does not contain scopes:[{}].",
                listed.join(", ")
            );
            check(
                status == StatusCode::BAD_REQUEST,
                format!("status {status} (want 400)"),
            );
            check(
                body["code"] == 4711,
                format!("code {} (want 4711)", body["code"]),
            );
            check(
                body["message"] == message.as_str(),
                format!("message {} (want {message:?})", body["message"]),
            );
            check(
                explain["step"] == "scope",
                format!("explain.step {}", explain["step"]),
            );
            check(
                explain["missing_scopes"] == names(admitting),
                format!("explain.missing_scopes {}", explain["missing_scopes"]),
            );
        }
        Expect::NoReach {
            names_privilege,
            names_admin_scopes,
        } => {
            check(
                status == StatusCode::BAD_REQUEST,
                format!("status {status} (want 400)"),
            );
            check(
                body["code"] == 200,
                format!("code {} (want 200)", body["code"]),
            );
            check(
                body["message"] == "No permission.",
                format!("message {}", body["message"]),
            );
            check(
                explain["step"] == "reach",
                format!("explain.step {}", explain["step"]),
            );
            let privilege = if names_privilege {
                json!(endpoint.privilege)
            } else {
                Value::Null
            };
            check(
                explain["missing_privilege"] == privilege,
                format!(
                    "explain.missing_privilege {} (want {privilege})",
                    explain["missing_privilege"]
                ),
            );
            let admin = if names_admin_scopes {
                names(endpoint.scopes.admitting_admin())
            } else {
                json!([])
            };
            check(
                explain["missing_scopes"] == admin,
                format!(
                    "explain.missing_scopes {} (want {admin})",
                    explain["missing_scopes"]
                ),
            );
            let user_grant = matches!(principal.mint, Mint::Authorization(..) | Mint::Assistant(_));
            if user_grant && endpoint.is_meeting_operation() {
                let fix = explain["fix"].as_str().unwrap_or_default();
                check(
                    fix.contains("to make you an assistant"),
                    format!("explain.fix {fix:?} says nothing of assistants"),
                );
            }
        }
        Expect::Missing => {
            let (want_status, want_code, prefix, _) = missing_answer(endpoint.object);
            let subject = call.subject.clone().unwrap_or_default();
            let message = format!("{prefix}{subject}.");
            check(
                status.as_u16() == want_status,
                format!("status {status} (want {want_status})"),
            );
            check(
                body["code"] == want_code,
                format!("code {} (want {want_code})", body["code"]),
            );
            check(
                body["message"] == message.as_str(),
                format!("message {} (want {message:?})", body["message"]),
            );
            check(
                explain["step"] == "tenant",
                format!("explain.step {}", explain["step"]),
            );
        }
        Expect::NotApplicable(_) => unreachable!("n/a cells are not called"),
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; answer {status} {body}", wrong.join("; ")))
    }
}

/// Runs one cell: one caller, minted afresh, aimed at each target of the cell. Only the first
/// target may be in reach (the table says so, and the test checks it), so the targets run last to
/// first: every call before the last is refused and changes nothing, and the one that may
/// succeed — deleting the caller's own user, say — comes last. Returns each target's failure, if
/// any, in the table's order, and how many calls were made.
async fn run_cell(
    world: &World,
    case: &Case,
    endpoint: &Endpoint,
    principal: &Principal,
    targets: &[Target],
    tokens: &[&'static str],
) -> (Vec<Option<String>>, usize) {
    let mut failures = vec![None; tokens.len()];
    let mut calls = 0;
    let aimed: Vec<(usize, Target, Expect)> = targets
        .iter()
        .copied()
        .zip(tokens.iter().map(|token| expect(token)))
        .enumerate()
        .filter(|(_, (_, expected))| !matches!(expected, Expect::NotApplicable(_)))
        .map(|(i, (target, expected))| (i, target, expected))
        .collect();
    if aimed.is_empty() {
        return (failures, 0);
    }
    let caller = world.mint(principal, endpoint).await;
    for (i, target, expected) in aimed.into_iter().rev() {
        let call = world.prepare(case, endpoint, &caller, target).await;
        // `send` moves the clock a second on, so what the call writes is all that is that new.
        let sent_at = world.live.db.store.now().plus_seconds(1);
        let (status, body) = world
            .send(endpoint, &caller.token, &call.path, call.body.as_ref())
            .await;
        calls += 1;
        let written = world.audit_since(sent_at).await;
        let mut failure = judge(expected, case, endpoint, principal, &call, status, &body)
            .and_then(|()| judge_effect(expected, endpoint, &caller, written))
            .err();
        if expected == Expect::Missing && failure.is_none() {
            // Another account's object reads exactly like one that exists nowhere.
            let subject = call.subject.clone().unwrap_or_default();
            let (.., missing) = missing_answer(endpoint.object);
            let path = with_subject(&call.path, &subject, missing);
            let (nowhere_status, nowhere) = world
                .send(endpoint, &caller.token, &path, call.body.as_ref())
                .await;
            calls += 1;
            let foreign = body.to_string().replace(&subject, "{id}");
            let absent = nowhere.to_string().replace(missing, "{id}");
            if (status, &foreign) != (nowhere_status, &absent) {
                failure = Some(format!(
                    "another account's object answers {status} {foreign}, a missing one \
                     {nowhere_status} {absent}"
                ));
            }
        }
        failures[i] =
            failure.map(|f| format!("{} {} [{target:?}]: {f}", endpoint.method, call.path));
    }
    (failures, calls)
}

/// What a call changed, read from the audit log: a refused call or a read changes nothing; a
/// write the rule allowed changes the caller's account and never the other one.
fn judge_effect(
    expected: Expect,
    endpoint: &Endpoint,
    caller: &Caller,
    written: [i64; 2],
) -> Result<(), String> {
    let own = usize::from(caller.account != ACME);
    let writes = expected == Expect::Ok && endpoint.method != "GET";
    if written[1 - own] != 0 {
        return Err("the call wrote into the other account's audit log".into());
    }
    match (writes, written[own]) {
        (true, 0) => Err("a write answered success but changed nothing".into()),
        (false, n) if n > 0 => Err(format!(
            "{} changed the account ({n} audit entries)",
            if expected == Expect::Ok {
                "a read"
            } else {
                "a refused call"
            }
        )),
        _ => Ok(()),
    }
}

/// One asserted (or n/a) outcome.
struct Verdict {
    endpoint: usize,
    principal: usize,
    token: &'static str,
    failure: Option<String>,
}

/// The grid: endpoints down, principals across, each cell's outcomes with failures marked `!`.
fn grid(verdicts: &[Verdict]) -> String {
    let catalog = endpoints::all();
    let cell = |e: usize, p: usize| {
        verdicts
            .iter()
            .filter(|v| v.endpoint == e && v.principal == p)
            .map(|v| format!("{}{}", v.token, if v.failure.is_some() { "!" } else { "" }))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let name_width = catalog.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..PRINCIPALS.len())
        .map(|p| {
            (0..catalog.len())
                .map(|e| cell(e, p).len())
                .chain([PRINCIPALS[p].key.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{:name_width$}", "");
    for (p, principal) in PRINCIPALS.iter().enumerate() {
        let _ = write!(out, " | {:w$}", principal.key, w = widths[p]);
    }
    out.push('\n');
    for (e, endpoint) in catalog.iter().enumerate() {
        let _ = write!(out, "{:name_width$}", endpoint.name);
        for (p, width) in widths.iter().enumerate() {
            let _ = write!(out, " | {:width$}", cell(e, p));
        }
        out.push('\n');
    }
    out.push_str(
        "\ncolumns, aimed at the targets listed (account-wide endpoints: Account, Foreign):\n",
    );
    for principal in &PRINCIPALS {
        let _ = writeln!(
            out,
            "  {:12} {:?}: {}",
            principal.key, principal.targets, principal.about
        );
    }
    for (key, reason) in NOT_APPLICABLE {
        let _ = writeln!(out, "  n/a({key}): {reason}");
    }
    out
}

/// The matrix runs as four tests, one per slice of the catalog, so they run side by side. Every
/// endpoint falls in exactly one slice, whatever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slice {
    Users,
    Scheduling,
    Meetings,
    AccountWide,
}

impl Slice {
    fn of(endpoint: &Endpoint) -> Slice {
        if endpoint.account_wide {
            Slice::AccountWide
        } else if endpoint.is_meeting_operation() {
            Slice::Meetings
        } else if ["/assistants", "/schedulers"]
            .iter()
            .any(|part| endpoint.path.contains(part))
        {
            Slice::Scheduling
        } else {
            Slice::Users
        }
    }
}

/// Runs every cell of one endpoint's row; returns the verdicts and how many calls were made.
async fn run_row(world: &World, e: usize, endpoint: &Endpoint) -> (Vec<Verdict>, usize) {
    let case = CASES
        .iter()
        .find(|c| c.endpoint == endpoint.name)
        .expect("a case");
    let (_, row) = EXPECTED
        .iter()
        .find(|(name, _)| *name == endpoint.name)
        .expect("a row of outcomes");
    let mut verdicts = Vec::new();
    let mut calls = 0;
    for (p, principal) in PRINCIPALS.iter().enumerate() {
        let targets = if endpoint.account_wide {
            ACCOUNT_WIDE_TARGETS
        } else {
            principal.targets
        };
        let tokens: Vec<&'static str> = row[p].split_whitespace().collect();
        let (failures, made) = run_cell(world, case, endpoint, principal, targets, &tokens).await;
        calls += made;
        for (token, failure) in tokens.into_iter().zip(failures) {
            verdicts.push(Verdict {
                endpoint: e,
                principal: p,
                token,
                failure,
            });
        }
    }
    (verdicts, calls)
}

/// Runs one slice of the matrix on every backend; on any difference, fails with the grid.
async fn run_matrix(slice: Slice) {
    on_every_backend(|db| async move {
        let backend = db.backend.name();
        let world = World::start(db).await;
        let started = std::time::Instant::now();
        let catalog = endpoints::all();
        let mut verdicts = Vec::new();
        let mut calls = 0;
        for (e, endpoint) in catalog.iter().enumerate() {
            if Slice::of(endpoint) == slice {
                let (row, made) = run_row(&world, e, endpoint).await;
                verdicts.extend(row);
                calls += made;
            }
        }
        let asserted = verdicts
            .iter()
            .filter(|v| !v.token.starts_with("n/a"))
            .count();
        eprintln!(
            "matrix {slice:?} on {backend}: {asserted} outcomes asserted with {calls} calls, {} \
             n/a, in {:.1?}",
            verdicts.len() - asserted,
            started.elapsed()
        );
        let failures: Vec<String> = verdicts
            .iter()
            .filter_map(|v| {
                let (endpoint, principal) = (catalog[v.endpoint].name, PRINCIPALS[v.principal].key);
                let failure = v.failure.as_ref()?;
                Some(format!(
                    "{endpoint} × {principal}: want {} — {failure}",
                    v.token
                ))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "the matrix on {backend} differs in {} of {asserted} outcomes:\n\n{}\n{}",
            failures.len(),
            grid(&verdicts),
            failures.join("\n")
        );
    })
    .await;
}

#[test]
fn the_matrix_tables_cover_the_catalog_exactly() {
    // A new endpoint without a row fails here (and its slice runs it, whichever that is).
    let catalog = endpoints::all();
    for endpoint in catalog {
        let cases = CASES.iter().filter(|c| c.endpoint == endpoint.name);
        assert_eq!(cases.count(), 1, "{}: one row in CASES", endpoint.name);
        let rows = EXPECTED.iter().filter(|(name, _)| *name == endpoint.name);
        assert_eq!(rows.count(), 1, "{}: one row in EXPECTED", endpoint.name);
    }
    assert_eq!(
        CASES.len(),
        catalog.len(),
        "CASES names only catalog endpoints"
    );
    assert_eq!(
        EXPECTED.len(),
        catalog.len(),
        "EXPECTED names only catalog endpoints"
    );
    for (name, row) in EXPECTED {
        let endpoint = endpoints::by_name(name).expect("a catalog endpoint");
        for (cell, principal) in row.iter().zip(&PRINCIPALS) {
            let targets = if endpoint.account_wide {
                ACCOUNT_WIDE_TARGETS
            } else {
                principal.targets
            };
            let tokens: Vec<&'static str> = cell.split_whitespace().collect();
            let expected: Vec<Expect> = tokens.iter().map(|token| expect(token)).collect();
            let whole_cell_na = matches!(expected[..], [Expect::NotApplicable(_)]);
            assert!(
                whole_cell_na || tokens.len() == targets.len(),
                "{name} × {}: {} outcomes for the targets {targets:?}",
                principal.key,
                tokens.len()
            );
            // What lets a cell share one caller among its targets (see `run_cell`).
            assert!(
                !expected.iter().skip(1).any(|e| *e == Expect::Ok),
                "{name} × {}: only the first target of a cell is in the caller's reach",
                principal.key
            );
        }
    }
}

#[tokio::test]
async fn users_endpoints_answer_every_kind_of_caller_as_the_rule_says() {
    run_matrix(Slice::Users).await;
}

#[tokio::test]
async fn assistant_and_scheduler_endpoints_answer_every_kind_of_caller_as_the_rule_says() {
    run_matrix(Slice::Scheduling).await;
}

#[tokio::test]
async fn meeting_endpoints_answer_every_kind_of_caller_as_the_rule_says() {
    run_matrix(Slice::Meetings).await;
}

#[tokio::test]
async fn account_wide_endpoints_answer_every_kind_of_caller_as_the_rule_says() {
    run_matrix(Slice::AccountWide).await;
}

/// Ids inside a request — a path's second id, a body's — of another account's user: the column
/// that calls, the endpoint, the path and the body, `{id}` standing for the user's id.
#[rustfmt::skip]
const INNER_IDS: &[(&str, &str, &str, &str)] = &[
    ("member", "assistants.delete",   "/v2/users/me/assistants/{id}",  ""),
    ("member", "schedulers.delete",   "/v2/users/me/schedulers/{id}",  ""),
    ("member", "assistants.add",      "/v2/users/me/assistants",       r#"{"assistants": [{"id": "{id}"}]}"#),
    ("member", "meetings.create",     "/v2/users/me/meetings",         r#"{"topic": "x", "type": 2, "schedule_for": "{id}"}"#),
    ("server", "role_members.add",    "/v2/roles/{role}/members",      r#"{"members": [{"id": "{id}"}]}"#),
    ("server", "role_members.delete", "/v2/roles/{role}/members/{id}", ""),
];

/// Ids inside a request follow the path's first: another account's user reads exactly like one
/// that exists nowhere — 404, code 1001, the same body.
#[tokio::test]
async fn ids_of_another_account_inside_a_request_read_as_missing() {
    on_every_backend(|db| async move {
        let world = World::start(db).await;
        let mut differences = Vec::new();
        for (key, name, path, body) in INNER_IDS {
            let principal = PRINCIPALS.iter().find(|p| p.key == *key).expect("a column");
            let endpoint = endpoints::by_name(name).expect("a catalog endpoint");
            let caller = world.mint(principal, endpoint).await;
            let role = accord_store::roles::NewRole {
                id: None,
                name: format!("Inner {}", world.fresh()),
                description: String::new(),
                privileges: Default::default(),
            };
            let role = world
                .live
                .db
                .store
                .create_role(&Actor::cli(), ACME, role)
                .await;
            let role = role.expect("a role").id;
            let foreign = world.user(GLOBEX, MEMBER).await;
            let mut answers = Vec::new();
            for id in [foreign.as_str(), "nobody-matrix"] {
                let fill = |text: &str| text.replace("{id}", id).replace("{role}", role.as_str());
                let body: Option<Value> = (!body.is_empty())
                    .then(|| serde_json::from_str(&fill(body)).expect("a JSON body"));
                let (status, answer) = world
                    .send(endpoint, &caller.token, &fill(path), body.as_ref())
                    .await;
                answers.push((status, answer.to_string().replace(id, "{id}")));
            }
            let (foreign, nobody) = (&answers[0], &answers[1]);
            if foreign != nobody
                || (foreign.0, foreign.1.contains("\"code\":1001")) != (StatusCode::NOT_FOUND, true)
            {
                differences.push(format!(
                    "{name}: another account's user {foreign:?}, nobody {nobody:?}"
                ));
            }
        }
        assert!(differences.is_empty(), "{}", differences.join("\n"));
    })
    .await;
}

/// A user's `role_id` naming another account's role reads exactly like a role that exists nowhere:
/// 400, code 1034 (api.md), the same body — and the user keeps their role.
#[tokio::test]
async fn a_role_of_another_account_in_a_users_role_id_reads_as_missing() {
    on_every_backend(|db| async move {
        let world = World::start(db).await;
        let principal = PRINCIPALS
            .iter()
            .find(|p| p.key == "acct-admin")
            .expect("a column");
        let endpoint = endpoints::by_name("users.update").expect("a catalog endpoint");
        let caller = world.mint(principal, endpoint).await;
        let store = &world.live.db.store;
        let foreign = accord_store::roles::NewRole {
            id: None,
            name: format!("Foreign {}", world.fresh()),
            description: String::new(),
            privileges: Default::default(),
        };
        let foreign = store
            .create_role(&Actor::cli(), GLOBEX, foreign)
            .await
            .expect("a Globex role")
            .id;
        let user = world.user(ACME, MEMBER).await;
        let mut answers = Vec::new();
        for role in [foreign.as_str(), "nobody-role"] {
            let body = serde_json::json!({"role_id": role});
            let (status, answer) = world
                .send(
                    endpoint,
                    &caller.token,
                    &format!("/v2/users/{user}"),
                    Some(&body),
                )
                .await;
            answers.push((status, answer.to_string().replace(role, "{role}")));
        }
        assert_eq!(
            answers[0], answers[1],
            "another account's role reads like none"
        );
        assert_eq!(answers[0].0, StatusCode::BAD_REQUEST);
        assert!(answers[0].1.contains("\"code\":1034"), "{}", answers[0].1);
        let unchanged = store.user(&user).await.expect("the user");
        assert_eq!(unchanged.role_id.as_str(), MEMBER);
    })
    .await;
}
