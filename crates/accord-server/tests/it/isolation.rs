//! Tenants never see each other — a property test. proptest generates sequences of API calls,
//! each by an app of Acme or of Globex, over every family of the API (users, assistants,
//! meetings, roles and members, the audit log, granted apps), with ids drawn from *both*
//! accounts' objects. The property: no answer to one account ever contains an id, email, meeting
//! topic, role name or user name of the other — unless the caller sent that very string itself
//! (a not-found message echoes the id it was asked about) — and no call fails with a 500.
//!
//! One server serves every case, so the state the accounts build up (meetings, roles, renamed
//! users) grows across cases: later sequences run against a richer world. The runner's RNG is
//! deterministic, so a failure reproduces exactly; proptest then shrinks the sequence.

use std::collections::HashSet;
use std::sync::Mutex;

use accord_testkit::on_every_backend;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::live::Live;
use crate::tokens::start;
use crate::users_api::{call, server_token};

/// An app per account holding every admin scope of the API, so every call reaches the rule's
/// later steps instead of stopping at 4711; and a second Globex user to have assistants.
const ALL_SCOPES_APPS: &str = r#"{
  "accounts": [
    {"id": "globex", "name": "Globex", "users": [
      {"id": "globex-gus", "email": "gus@globex.test", "password": "gus-password-1", "role": "member"}]}
  ],
  "apps": [
    {"id": "acme-all", "name": "Acme All", "kind": "server", "developer": "olive@acme.test",
     "scopes": ["user:read:admin", "user:write:admin", "meeting:read:admin", "meeting:write:admin",
                "role:read:admin", "role:write:admin", "report:read:admin",
                "marketplace:read:admin", "marketplace:write:admin"],
     "credentials": {"production": {"client_id": "acme-all-prod", "client_secret": "acme-all-prod-secret-0123456789"}}},
    {"id": "globex-all", "name": "Globex All", "kind": "server", "developer": "gina@globex.test",
     "scopes": ["user:read:admin", "user:write:admin", "meeting:read:admin", "meeting:write:admin",
                "role:read:admin", "role:write:admin", "report:read:admin",
                "marketplace:read:admin", "marketplace:write:admin"],
     "credentials": {"production": {"client_id": "globex-all-prod", "client_secret": "globex-all-prod-secret-0123456789"}}}
  ]
}"#;

/// One API call. Indices pick among the objects both accounts have made so far (modulo their
/// number), so a call as often names the other account's object as its own.
#[derive(Debug, Clone)]
enum Op {
    ListUsers,
    GetUser(usize),
    RenameUser(usize),
    ListAssistants(usize),
    AddAssistant(usize, usize),
    Schedulers(usize),
    UserMeetings(usize),
    CreateMeeting(usize),
    GetMeeting(usize),
    PatchMeeting(usize),
    DeleteMeeting(usize),
    ListRoles,
    CreateRole,
    GetRole(usize),
    RoleMembers(usize),
    AddRoleMember(usize, usize),
    AuditLog,
    GrantedApps,
}

fn op() -> impl Strategy<Value = Op> {
    let i = || any::<usize>();
    prop_oneof![
        Just(Op::ListUsers),
        i().prop_map(Op::GetUser),
        i().prop_map(Op::RenameUser),
        i().prop_map(Op::ListAssistants),
        (i(), i()).prop_map(|(u, a)| Op::AddAssistant(u, a)),
        i().prop_map(Op::Schedulers),
        i().prop_map(Op::UserMeetings),
        // Making meetings and reading them back come up twice as often as the rest.
        i().prop_map(Op::CreateMeeting),
        i().prop_map(Op::CreateMeeting),
        i().prop_map(Op::GetMeeting),
        i().prop_map(Op::GetMeeting),
        i().prop_map(Op::PatchMeeting),
        i().prop_map(Op::DeleteMeeting),
        Just(Op::ListRoles),
        Just(Op::CreateRole),
        i().prop_map(Op::GetRole),
        i().prop_map(Op::RoleMembers),
        (i(), i()).prop_map(|(r, u)| Op::AddRoleMember(r, u)),
        Just(Op::AuditLog),
        Just(Op::GrantedApps),
    ]
}

/// What one account owns that the other must never see.
#[derive(Default)]
struct Tenant {
    name: &'static str,
    token: String,
    secrets: HashSet<String>,
    users: Vec<String>,
    meetings: Vec<i64>,
    roles: Vec<String>,
}

/// Both accounts, and counts over the whole run.
struct World {
    tenants: [Tenant; 2],
    calls: usize,
    successes: usize,
    made: usize,
}

impl World {
    fn all<T: Clone>(&self, of: impl Fn(&Tenant) -> &Vec<T>) -> Vec<T> {
        self.tenants.iter().flat_map(|t| of(t).clone()).collect()
    }
}

fn nth<T: Clone>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()].clone())
}

/// The request for `op` by tenant `me`, and the secret it introduces (a new topic, name, …).
fn request(
    world: &World,
    me: usize,
    op: &Op,
    serial: usize,
) -> (Method, String, Option<Value>, Option<String>) {
    let users = world.all(|t| &t.users);
    let meetings = world.all(|t| &t.meetings);
    let roles = world.all(|t| &t.roles);
    let user = |i| nth(&users, i).unwrap_or_else(|| "me".into());
    let meeting = |i| nth(&meetings, i).unwrap_or(1);
    let role = |i| nth(&roles, i).unwrap_or_else(|| "1".into());
    let mark = format!("{}-{serial}", world.tenants[me].name);
    match op {
        Op::ListUsers => (Method::GET, "/v2/users?page_size=5".into(), None, None),
        Op::GetUser(u) => (Method::GET, format!("/v2/users/{}", user(*u)), None, None),
        Op::RenameUser(u) => {
            let name = format!("name-{mark}");
            (
                Method::PATCH,
                format!("/v2/users/{}", user(*u)),
                Some(json!({"first_name": name})),
                Some(name),
            )
        }
        Op::ListAssistants(u) => (
            Method::GET,
            format!("/v2/users/{}/assistants", user(*u)),
            None,
            None,
        ),
        Op::AddAssistant(u, a) => {
            let body = json!({"assistants": [{"id": user(*a)}]});
            (
                Method::POST,
                format!("/v2/users/{}/assistants", user(*u)),
                Some(body),
                None,
            )
        }
        Op::Schedulers(u) => (
            Method::GET,
            format!("/v2/users/{}/schedulers", user(*u)),
            None,
            None,
        ),
        Op::UserMeetings(u) => (
            Method::GET,
            format!("/v2/users/{}/meetings", user(*u)),
            None,
            None,
        ),
        Op::CreateMeeting(u) => {
            let topic = format!("topic-{mark}");
            let body = json!({"topic": topic, "type": 2, "start_time": "2026-12-01T10:00:00Z"});
            (
                Method::POST,
                format!("/v2/users/{}/meetings", user(*u)),
                Some(body),
                Some(topic),
            )
        }
        Op::GetMeeting(m) => (
            Method::GET,
            format!("/v2/meetings/{}", meeting(*m)),
            None,
            None,
        ),
        Op::PatchMeeting(m) => {
            let agenda = format!("agenda-{mark}");
            (
                Method::PATCH,
                format!("/v2/meetings/{}", meeting(*m)),
                Some(json!({"agenda": agenda})),
                Some(agenda),
            )
        }
        Op::DeleteMeeting(m) => (
            Method::DELETE,
            format!("/v2/meetings/{}", meeting(*m)),
            None,
            None,
        ),
        Op::ListRoles => (Method::GET, "/v2/roles".into(), None, None),
        Op::CreateRole => {
            let name = format!("role-{mark}");
            let body = json!({"name": name, "privileges": ["Meeting:Read"]});
            (Method::POST, "/v2/roles".into(), Some(body), Some(name))
        }
        Op::GetRole(r) => (Method::GET, format!("/v2/roles/{}", role(*r)), None, None),
        Op::RoleMembers(r) => (
            Method::GET,
            format!("/v2/roles/{}/members", role(*r)),
            None,
            None,
        ),
        Op::AddRoleMember(r, u) => {
            let body = json!({"members": [{"id": user(*u)}]});
            (
                Method::POST,
                format!("/v2/roles/{}/members", role(*r)),
                Some(body),
                None,
            )
        }
        Op::AuditLog => (
            Method::GET,
            "/v2/report/operationlogs?page_size=50".into(),
            None,
            None,
        ),
        Op::GrantedApps => (Method::GET, "/v2/marketplace/apps".into(), None, None),
    }
}

/// Runs one generated sequence; `Err` names the call whose answer leaked.
async fn run_sequence(
    live: &Live,
    world: &Mutex<World>,
    sequence: &[(bool, Op)],
) -> Result<(), TestCaseError> {
    for (by_globex, op) in sequence {
        let me = usize::from(*by_globex);
        let other = 1 - me;
        // One call a second of test time keeps both accounts inside their rate limits, so every
        // answer carries data to check rather than a 429.
        live.db.clock.advance_seconds(1);
        let (method, path, body, introduced, token) = {
            let mut world = world.lock().expect("the world");
            world.calls += 1;
            let serial = world.calls;
            let (method, path, body, introduced) = request(&world, me, op, serial);
            (
                method,
                path,
                body,
                introduced,
                world.tenants[me].token.clone(),
            )
        };
        let sent = format!(
            "{path} {}",
            body.as_ref().map(Value::to_string).unwrap_or_default()
        );
        let (status, answer) = call(live, &token, method.clone(), &path, body).await;
        let mut world = world.lock().expect("the world");
        prop_assert!(
            status != StatusCode::INTERNAL_SERVER_ERROR,
            "{method} {path}: {answer}"
        );
        if status.is_success() {
            world.successes += 1;
            // What the call made is this account's, and secret from the other.
            if let Some(secret) = introduced {
                world.tenants[me].secrets.insert(secret);
                world.made += 1;
            }
            if status == StatusCode::CREATED
                && path.ends_with("/meetings")
                && let Some(id) = answer["id"].as_i64()
            {
                world.tenants[me].meetings.push(id);
                world.tenants[me].secrets.insert(id.to_string());
            }
            if status == StatusCode::CREATED
                && path == "/v2/roles"
                && let Some(id) = answer["id"].as_str()
            {
                world.tenants[me].roles.push(id.to_owned());
                world.tenants[me].secrets.insert(id.to_owned());
            }
        }
        let text = answer.to_string();
        for secret in &world.tenants[other].secrets {
            if sent.contains(secret.as_str()) {
                continue;
            }
            prop_assert!(
                !text.contains(secret.as_str()),
                "{method} {path} by {} showed {secret:?} of {}: {text}",
                world.tenants[me].name,
                world.tenants[other].name
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_call_sequences_never_show_one_account_anything_of_the_other() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let extra =
            accord_store::seed::parse("isolation", ALL_SCOPES_APPS).expect("the extra seed parses");
        accord_store::seed::apply(&live.db.store, "isolation", &extra)
            .await
            .expect("the extra seed applies");
        let mut tenants = [
            Tenant {
                name: "acme",
                ..Tenant::default()
            },
            Tenant {
                name: "globex",
                ..Tenant::default()
            },
        ];
        for (tenant, (client, secret)) in tenants.iter_mut().zip([
            ("acme-all-prod", "acme-all-prod-secret-0123456789"),
            ("globex-all-prod", "globex-all-prod-secret-0123456789"),
        ]) {
            tenant.token = server_token(&live, client, secret).await;
            for user in live.db.store.users(tenant.name).await.expect("users") {
                tenant.users.push(user.id.as_str().to_owned());
                tenant.secrets.insert(user.id.as_str().to_owned());
                tenant.secrets.insert(user.email.as_str().to_owned());
            }
        }
        let world = Mutex::new(World {
            tenants,
            calls: 0,
            successes: 0,
            made: 0,
        });

        let config = Config {
            cases: 40,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let sequences = prop::collection::vec((any::<bool>(), op()), 1..30);
        let handle = tokio::runtime::Handle::current();
        let outcome = tokio::task::block_in_place(|| {
            runner.run(&sequences, |sequence| {
                handle.block_on(run_sequence(&live, &world, &sequence))
            })
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }

        let world = world.into_inner().expect("the world");
        assert!(world.calls >= 400, "only {} calls", world.calls);
        assert!(
            world.successes * 3 >= world.calls,
            "most calls must answer with data: {} of {}",
            world.successes,
            world.calls
        );
        assert!(
            world.made >= 40,
            "the accounts made only {} objects",
            world.made
        );
        assert!(
            world
                .tenants
                .iter()
                .all(|t| !t.meetings.is_empty() && !t.roles.is_empty()),
            "both accounts made meetings and roles"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}
