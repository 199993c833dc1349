//! **The** permission rule of model.md, as one pure function over plain data.
//!
//! [`decide`] evaluates the five steps in order — token, tenant, scope, reach, business rules —
//! and answers with the first failure: a [`Denial`] carrying Zoom's status, `code` and `message`
//! plus an [`Explain`] saying which step failed and what would fix it. [`explain_steps`] reports
//! every step's outcome for `accord explain` and the console's *Why?* page, computed by the very
//! same code path. Everything the rule reads live (privileges, assistants, grant status) is
//! loaded by the caller and handed in; nothing here does I/O.

use serde::Serialize;

use crate::endpoints::Endpoint;
use crate::grants::{GrantKind, GrantStatus};
use crate::ids::{AccountId, UserId};
use crate::privileges::{Privilege, PrivilegeSet};
use crate::scopes::Scope;
use crate::users::GuardedChange;

/// What the signature and expiry check made of the bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCheck {
    /// Signed by this server and not expired.
    Valid,
    /// No bearer token was sent.
    Missing,
    /// Not a token this server issues (not a JWS, wrong claims).
    Malformed,
    /// The signature does not verify with any current key.
    BadSignature,
    /// Past its `exp`.
    Expired,
}

/// The token's claims joined with the live state of the grant it hangs from.
#[derive(Debug, Clone, Copy)]
pub struct GrantFacts<'a> {
    /// Installation, authorization or server grant: decides how reach is judged.
    pub kind: GrantKind,
    /// The grant's status now.
    pub status: GrantStatus,
    /// The generation the token carries.
    pub token_generation: u64,
    /// The grant's generation now; re-authorizing bumps it.
    pub current_generation: u64,
    /// The account the token belongs to.
    pub account: &'a AccountId,
    /// The scopes the token carries.
    pub scopes: &'a [Scope],
    /// The acting user, resolved with [`resolve_me`].
    pub me: &'a UserId,
}

/// Everything step 1 needs.
#[derive(Debug, Clone, Copy)]
pub struct TokenFacts<'a> {
    /// The outcome of the signature and expiry check.
    pub check: TokenCheck,
    /// The token's grant; `None` when the token could not be read or its grant no longer exists.
    pub grant: Option<GrantFacts<'a>>,
}

/// What the request acts on.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The id as the request gave it (a user id, `me`, an email, a meeting or role id), used in
    /// not-found messages; empty for account-wide requests.
    pub id: &'a str,
    /// The account holding the object; `None` when no such object exists anywhere. Both get the
    /// same not-found answer.
    pub account: Option<&'a AccountId>,
    /// The user whose object it is (the user itself, or a meeting's host); `None` for requests
    /// that concern the account as a whole (lists over every user, roles, the audit log, apps).
    pub owner: Option<&'a UserId>,
}

impl<'a> Target<'a> {
    /// One user's object: the user itself, their meetings, assistants or schedulers.
    pub fn owned_by(id: &'a str, account: &'a AccountId, owner: &'a UserId) -> Self {
        Target {
            id,
            account: Some(account),
            owner: Some(owner),
        }
    }

    /// An object of the account as a whole (a role, a granted app), or a list over every user.
    pub fn account_wide(id: &'a str, account: &'a AccountId) -> Self {
        Target {
            id,
            account: Some(account),
            owner: None,
        }
    }

    /// An object that does not exist in any account.
    pub fn missing(id: &'a str) -> Self {
        Target {
            id,
            account: None,
            owner: None,
        }
    }
}

/// The live facts of the user an authorization (user) grant acts as. Ignored for installation
/// and server grants, whose reach comes from their scopes alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActingUser<'a> {
    /// The privileges of the user's role now.
    pub privileges: PrivilegeSet,
    /// The users who made the acting user their assistant (whose meetings they may manage).
    pub assistant_of: &'a [UserId],
}

/// A business rule of the endpoint that the request breaks (step 5), found by the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Zoom's code, e.g. 200 for "a member cannot delete the owner", 300 for membership of
    /// built-in roles (api.md).
    pub code: u32,
    /// The message of the error body.
    pub message: String,
    /// What would make the request acceptable.
    pub fix: String,
}

/// One API call, as the rule sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The bearer token and its grant (step 1).
    pub token: TokenFacts<'a>,
    /// The endpoint called: its scopes, privilege and object kind.
    pub endpoint: &'static Endpoint,
    /// What the call acts on (steps 2 and 4).
    pub target: Target<'a>,
    /// For authorization grants: the acting user's live facts. `None` counts as no privileges
    /// and assistant to nobody.
    pub acting_user: Option<ActingUser<'a>>,
    /// Step 5: the business rule the request breaks, if any.
    pub violation: Option<Violation>,
    /// A guarded change the request's body makes (`PATCH /users/{userId}` with a new `type`); the
    /// endpoint's own ([`Endpoint::guarded`]: status, deletion) always applies. Reaching the
    /// acting user's own object does not cover it (step 4).
    pub guarded_change: Option<GuardedChange>,
}

impl Request<'_> {
    /// The guarded change this request makes, if any: the endpoint's, else the body's.
    fn guarded(&self) -> Option<GuardedChange> {
        self.endpoint.guarded.or(self.guarded_change)
    }
}

/// The five steps of model.md, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// 1: the token is valid, its grant active and its generation current.
    Token,
    /// 2: the target is in the token's account.
    Tenant,
    /// 3: the token holds a scope that admits the endpoint.
    Scope,
    /// 4: the token may act on this target.
    Reach,
    /// 5: the endpoint's business rules hold.
    Business,
}

impl Step {
    /// Every step, in evaluation order.
    pub const ALL: [Step; 5] = [
        Step::Token,
        Step::Tenant,
        Step::Scope,
        Step::Reach,
        Step::Business,
    ];

    /// 1 to 5, as model.md numbers them.
    pub fn number(self) -> u8 {
        match self {
            Step::Token => 1,
            Step::Tenant => 2,
            Step::Scope => 3,
            Step::Reach => 4,
            Step::Business => 5,
        }
    }

    /// The wire name: `token`, `tenant`, `scope`, `reach`, `business`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Token => "token",
            Step::Tenant => "tenant",
            Step::Scope => "scope",
            Step::Reach => "reach",
            Step::Business => "business",
        }
    }

    /// What the step checks, in a few words.
    pub fn question(self) -> &'static str {
        match self {
            Step::Token => "is the token valid, its grant active and its generation current?",
            Step::Tenant => "is the target in the token's account?",
            Step::Scope => "does the token hold a scope that admits the endpoint?",
            Step::Reach => "may the token act on this target?",
            Step::Business => "does the request keep the endpoint's business rules?",
        }
    }
}

/// How access was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// The target is the acting user's own (`me` of an app grant, or the user of a user grant).
    Own,
    /// A meeting of a user who made the acting user their assistant.
    Assistant,
    /// An admin scope of an installation or server grant: every user of the account.
    AdminScope,
    /// An admin scope on a user grant, backed by the privilege in the user's role right now.
    AdminScopeAndPrivilege,
}

/// Why a step failed and what would fix it; the `explain` object of an error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explain {
    /// The step that failed.
    pub step: Step,
    /// What was found wrong, in plain words.
    pub reason: String,
    /// What would fix it, concretely.
    pub fix: String,
    /// Scopes one of which the app would need.
    pub missing_scopes: Vec<String>,
    /// The privilege the acting user's role would need, e.g. `Meeting:Read`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub missing_privilege: Option<Privilege>,
}

/// A refused request: Zoom's answer plus the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The step that failed.
    pub step: Step,
    /// The HTTP status.
    pub status: u16,
    /// Zoom's `code`.
    pub code: u32,
    /// Zoom's `message`.
    pub message: String,
    /// Which step failed and what would fix it.
    pub explain: Explain,
}

impl Denial {
    /// The error body: `{"code":N,"message":"…","explain":{…}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code, "message": self.message, "explain": self.explain })
    }
}

/// A step's outcome, as `accord explain` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepResult {
    /// The step passed; `detail` says why.
    Passed {
        /// e.g. "the token holds meeting:read:admin, which admits GET /meetings/{meetingId}".
        detail: String,
    },
    /// The step failed with this denial, which is the answer.
    Failed {
        /// The same denial [`decide`] returns.
        denial: Denial,
    },
    /// An earlier step failed.
    NotReached,
}

/// One line of an explanation: a step and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepOutcome {
    /// The step.
    pub step: Step,
    /// How it went.
    #[serde(flatten)]
    pub result: StepResult,
}

/// HTTP 401, code 124: the token is not honoured.
pub const INVALID_TOKEN_CODE: u32 = 124;
/// HTTP 400, code 4711: no admitting scope.
pub const MISSING_SCOPE_CODE: u32 = 4711;
/// HTTP 400, code 200: no permission.
pub const NO_PERMISSION_CODE: u32 = 200;

/// The permission rule of model.md. Evaluates, in order, and answers with the first failure:
///
/// 1. **Token** — valid signature, not expired, grant active, generation current (401, 124);
/// 2. **Tenant** — the target is in the token's account, else a missing object's answer;
/// 3. **Scope** — the token holds a scope that admits the endpoint (400, 4711);
/// 4. **Reach** — the token may act on this target (400, 200);
/// 5. **Business** — the endpoint's own rules (400, the endpoint's code).
///
/// The steps themselves are in `evaluate`, just below, shared with [`explain_steps`].
pub fn decide(request: &Request<'_>) -> Result<Reach, Denial> {
    evaluate(request, &mut Trace(None))
}

/// The five steps, top to bottom. Each step either passes — handing what it learnt to the next
/// — or returns the denial that becomes the answer.
fn evaluate(request: &Request<'_>, trace: &mut Trace<'_>) -> Result<Reach, Denial> {
    // 1. Token: valid signature, not expired, grant active, generation current — else 401/124.
    let grant = trace.record(Step::Token, token_step(&request.token))?;
    // 2. Tenant: the target is in the token's account — else exactly what a missing object gets.
    trace.record(Step::Tenant, tenant_step(request, grant))?;
    // 3. Scope: the token holds a scope that admits the endpoint — else 400/4711.
    let admitting_held = trace.record(Step::Scope, scope_step(request, grant))?;
    // 4. Reach: the token may act on this target — else 400/200 "No permission."
    let reach = trace.record(Step::Reach, reach_step(request, grant, &admitting_held))?;
    // 5. Business rules of the endpoint — with the endpoint's code.
    trace.record(Step::Business, business_step(request))?;
    Ok(reach)
}

/// Step 1 alone, exactly as [`decide`] runs it: whether the token is honoured at all. The HTTP
/// layer asks this before reading a request's body or looking anything up, so a caller without
/// a valid token learns nothing about the request but that (401, code 124).
pub fn check_token(token: &TokenFacts<'_>) -> Result<(), Denial> {
    token_step(token).map(|_| ())
}

/// Every step's outcome in order — passed, failed, or not reached after a failure — from the
/// same evaluation as [`decide`]. Always five entries.
pub fn explain_steps(request: &Request<'_>) -> Vec<StepOutcome> {
    let mut steps = Vec::with_capacity(Step::ALL.len());
    // The decision itself is in the trace; the steps after a failure were never evaluated.
    let _decision = evaluate(request, &mut Trace(Some(&mut steps)));
    for step in Step::ALL.into_iter().skip(steps.len()) {
        steps.push(StepOutcome {
            step,
            result: StepResult::NotReached,
        });
    }
    steps
}

/// The acting user (`me`) of a grant: for an authorization, the user who authorized; for an
/// installation, the installer while they are still in the account — demoted or deactivated
/// still counts — and the account owner once the installer is deleted; for a server grant,
/// the account owner. An authorization without its user has nobody to act as: `None`, which the
/// caller must treat as an invalid token (it can only come from corrupt data — a deleted user's
/// authorizations end). Never falling back to the owner keeps such a token powerless.
pub fn resolve_me(
    kind: GrantKind,
    authorized_user: Option<&UserId>,
    installer_still_in_account: Option<&UserId>,
    account_owner: &UserId,
) -> Option<UserId> {
    match kind {
        GrantKind::Authorization => authorized_user.cloned(),
        GrantKind::Installation => {
            Some(installer_still_in_account.unwrap_or(account_owner).clone())
        }
        GrantKind::Server => Some(account_owner.clone()),
    }
}

/// A step that passed: what it hands on, and a line for the explanation.
struct Passed<T> {
    value: T,
    detail: String,
}

/// Records step outcomes when explaining; does nothing when deciding.
struct Trace<'t>(Option<&'t mut Vec<StepOutcome>>);

impl Trace<'_> {
    fn record<T>(&mut self, step: Step, outcome: Result<Passed<T>, Denial>) -> Result<T, Denial> {
        if let Some(steps) = self.0.as_deref_mut() {
            let result = match &outcome {
                Ok(passed) => StepResult::Passed {
                    detail: passed.detail.clone(),
                },
                Err(denial) => StepResult::Failed {
                    denial: denial.clone(),
                },
            };
            steps.push(StepOutcome { step, result });
        }
        outcome.map(|passed| passed.value)
    }
}

fn deny(
    step: Step,
    status: u16,
    code: u32,
    message: String,
    reason: String,
    fix: String,
) -> Denial {
    Denial {
        step,
        status,
        code,
        message,
        explain: Explain {
            step,
            reason,
            fix,
            missing_scopes: Vec::new(),
            missing_privilege: None,
        },
    }
}

fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(scopes: &[Scope]) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect()
}

// Step 1 ---------------------------------------------------------------------------------------

fn token_step<'r, 'a>(token: &'r TokenFacts<'a>) -> Result<Passed<&'r GrantFacts<'a>>, Denial> {
    let invalid = |reason: &str, fix: &str| {
        deny(
            Step::Token,
            401,
            INVALID_TOKEN_CODE,
            "Invalid access token.".into(),
            reason.into(),
            fix.into(),
        )
    };
    match token.check {
        TokenCheck::Valid => {}
        TokenCheck::Missing => {
            return Err(invalid(
                "no access token was sent",
                "Send the access token in the header `Authorization: Bearer <access token>`.",
            ));
        }
        TokenCheck::Malformed => {
            return Err(invalid(
                "the access token is not one this server issues (malformed)",
                "Send the access_token of this server's token response, unchanged.",
            ));
        }
        TokenCheck::BadSignature => {
            return Err(invalid(
                "the access token's signature does not verify with this server's keys",
                "Get a new token from this server's /oauth/token; this one was changed or signed \
                 elsewhere.",
            ));
        }
        TokenCheck::Expired => {
            return Err(deny(
                Step::Token,
                401,
                INVALID_TOKEN_CODE,
                "Access token is expired.".into(),
                "the access token is past its expiry time".into(),
                "Get a new access token with the refresh token (grant_type=refresh_token), or \
                 request a new one."
                    .into(),
            ));
        }
    }
    let Some(grant) = &token.grant else {
        return Err(invalid(
            "the grant this token belongs to no longer exists",
            "The app is no longer installed or authorized: an admin must install this app again \
             (account apps), or the user must authorize it again (user apps).",
        ));
    };
    if grant.status == GrantStatus::Revoked {
        let (reason, fix) = match grant.kind {
            GrantKind::Installation => (
                "the app was uninstalled from this account, which ended all its tokens",
                "An admin must install this app again.",
            ),
            GrantKind::Authorization => (
                "the user's authorization of this app was removed, which ended all its tokens",
                "The user must authorize the app again.",
            ),
            GrantKind::Server => (
                "the server app was deactivated, which ended all its tokens",
                "Reactivate the app, then request a new token.",
            ),
        };
        return Err(invalid(reason, fix));
    }
    if grant.token_generation != grant.current_generation {
        return Err(invalid(
            &format!(
                "the grant was re-authorized after this token was issued (token generation {}, \
                 current generation {})",
                grant.token_generation, grant.current_generation
            ),
            "Use the token from the latest authorization, or re-authorize the app to get a fresh \
             token.",
        ));
    }
    Ok(Passed {
        value: grant,
        detail: format!(
            "valid token of an active {} grant (generation {})",
            grant.kind.as_str(),
            grant.current_generation
        ),
    })
}

// Step 2 ---------------------------------------------------------------------------------------

fn tenant_step(request: &Request<'_>, grant: &GrantFacts<'_>) -> Result<Passed<()>, Denial> {
    let target = &request.target;
    let object = request.endpoint.object;
    if target.account == Some(grant.account) {
        let detail = if target.id.is_empty() {
            format!(
                "the request concerns account {}, the token's own",
                grant.account
            )
        } else {
            format!("{} {} is in the token's account", object.noun(), target.id)
        };
        return Ok(Passed { value: (), detail });
    }
    // Another account's object and a missing one get the very same answer and explanation, so
    // nothing reveals that the object exists elsewhere.
    let not_found = object.not_found(target.id);
    let alias = if object == crate::endpoints::ObjectKind::User {
        " (a user may also be given as `me` or by email)"
    } else {
        ""
    };
    Err(deny(
        Step::Tenant,
        not_found.status,
        not_found.code,
        not_found.message,
        format!(
            "there is no {} {:?} in the token's account",
            object.noun(),
            target.id
        ),
        format!(
            "Check the {} id{alias}; ids are looked up only in the account the token was issued for.",
            object.noun()
        ),
    ))
}

// Step 3 ---------------------------------------------------------------------------------------

fn scope_step(request: &Request<'_>, grant: &GrantFacts<'_>) -> Result<Passed<Vec<Scope>>, Denial> {
    let endpoint = request.endpoint;
    let admitting = endpoint.scopes.admitting();
    let held: Vec<Scope> = admitting
        .iter()
        .copied()
        .filter(|s| grant.scopes.contains(s))
        .collect();
    if !held.is_empty() {
        let detail = format!(
            "the token holds {}, which admits {}",
            join(&held),
            endpoint.display()
        );
        return Ok(Passed {
            value: held,
            detail,
        });
    }
    let listed = join(&admitting);
    let token_holds = if grant.scopes.is_empty() {
        "no scopes".to_owned()
    } else {
        join(grant.scopes)
    };
    let then = match grant.kind {
        GrantKind::Installation => {
            "then an admin must install the app again so the installation holds it"
        }
        GrantKind::Authorization => "then authorize the app again to get a token that holds it",
        GrantKind::Server => "then request a new token",
    };
    let mut denial = deny(
        Step::Scope,
        400,
        MISSING_SCOPE_CODE,
        format!("Invalid access token, does not contain scopes:[{listed}]."),
        format!(
            "{} is admitted only by {listed}; the token holds {token_holds}",
            endpoint.display()
        ),
        format!("Add one of these scopes to the app: {listed}; {then}."),
    );
    denial.explain.missing_scopes = names(&admitting);
    Err(denial)
}

// Step 4 ---------------------------------------------------------------------------------------

fn reach_step(
    request: &Request<'_>,
    grant: &GrantFacts<'_>,
    admitting_held: &[Scope],
) -> Result<Passed<Reach>, Denial> {
    let admin_scope = admitting_held
        .iter()
        .copied()
        .find(|scope| scope.is_admin());
    match grant.kind {
        GrantKind::Installation | GrantKind::Server => app_reach(request, grant, admin_scope),
        GrantKind::Authorization => user_reach(request, grant, admin_scope),
    }
}

/// Installation and server grants act as the app: an admin scope reaches every user of the
/// account, a user scope only `me`.
fn app_reach(
    request: &Request<'_>,
    grant: &GrantFacts<'_>,
    admin_scope: Option<Scope>,
) -> Result<Passed<Reach>, Denial> {
    let me = grant.me;
    let owner = request.target.owner;
    let guarded = request.guarded();
    if owner == Some(me) && guarded.is_none() {
        let detail = format!("the target belongs to the grant's own user (me), {me}");
        return Ok(Passed {
            value: Reach::Own,
            detail,
        });
    }
    if let Some(scope) = admin_scope {
        let detail = format!("the admin scope {scope} reaches every user of the account");
        return Ok(Passed {
            value: Reach::AdminScope,
            detail,
        });
    }
    let endpoint = request.endpoint;
    let admin_scopes = endpoint.scopes.admitting_admin();
    let what = match (owner, guarded) {
        (Some(owner), Some(change)) if owner == me => format!(
            "{me} itself, and being the user does not entitle anyone to {}",
            change.describe()
        ),
        (Some(owner), _) => format!("a {} of user {owner}", endpoint.object.noun()),
        (None, _) => "the account as a whole".to_owned(),
    };
    let then = match grant.kind {
        GrantKind::Server => "then request a new token",
        _ => "then an admin must install the app again",
    };
    let mut denial = no_permission(
        format!(
            "the token's scopes for {} are user-level, which reach only the grant's own user (me), \
             {me}; this request concerns {what}",
            endpoint.display()
        ),
        format!(
            "Add an admin scope to the app ({}); {then}.",
            join(&admin_scopes)
        ),
    );
    denial.explain.missing_scopes = names(&admin_scopes);
    Err(denial)
}

/// An authorization grant acts as its user V: V's own objects; meetings of users who made V
/// their assistant; anything else only with an admin scope *and* V's live privilege.
fn user_reach(
    request: &Request<'_>,
    grant: &GrantFacts<'_>,
    admin_scope: Option<Scope>,
) -> Result<Passed<Reach>, Denial> {
    let endpoint = request.endpoint;
    let acting = request.acting_user.unwrap_or_default();
    let me = grant.me;
    let owner = request.target.owner;
    let meeting_of = owner.filter(|_| endpoint.is_meeting_operation());
    let guarded = request.guarded();

    if owner == Some(me) && guarded.is_none() {
        let detail = format!("the target belongs to the token's user, {me}");
        return Ok(Passed {
            value: Reach::Own,
            detail,
        });
    }
    if let Some(host) = meeting_of.filter(|host| acting.assistant_of.contains(host)) {
        let detail = format!("{me} is an assistant of {host}, so reaches {host}'s meetings");
        return Ok(Passed {
            value: Reach::Assistant,
            detail,
        });
    }
    let privilege = endpoint.privilege;
    let has_privilege = acting.privileges.contains(privilege);
    if let (Some(scope), true) = (admin_scope, has_privilege) {
        let detail =
            format!("the admin scope {scope} and {me}'s privilege {privilege} reach other users");
        return Ok(Passed {
            value: Reach::AdminScopeAndPrivilege,
            detail,
        });
    }

    let admin_scopes = endpoint.scopes.admitting_admin();
    let what = match (owner, guarded) {
        (Some(owner), Some(change)) if owner == me => format!(
            "asks to {}, which needs {} over the user even when it is the user's own app",
            change.describe(),
            endpoint.privilege
        ),
        (Some(owner), _) => format!("acts on a {} of user {owner}", endpoint.object.noun()),
        (None, _) => "concerns the account as a whole; it is refused, not narrowed to the user's \
                      own objects"
            .to_owned(),
    };
    let lacking = match (admin_scope, has_privilege) {
        (None, false) => {
            format!("the token holds no admin scope and {me}'s role lacks {privilege}")
        }
        (Some(scope), _) => format!(
            "{me}'s role lacks {privilege}, and on a user grant the admin scope {scope} is only as \
             wide as the user's privileges"
        ),
        (None, true) => format!("{me}'s role holds {privilege} but the token holds no admin scope"),
    };
    let assistant_note = match meeting_of {
        Some(host) => format!("; {me} is not an assistant of {host}"),
        None => String::new(),
    };
    let mut fixes = Vec::new();
    if admin_scope.is_none() {
        fixes.push(format!(
            "add an admin scope to the app ({}) and authorize it again",
            join(&admin_scopes)
        ));
    }
    if !has_privilege {
        fixes.push(format!("ask an admin to give your role {privilege}"));
    }
    let mut fix = fixes.join(", and ");
    if let Some(host) = meeting_of {
        fix.push_str(&format!("; or ask {host} to make you an assistant"));
    }
    let mut denial = no_permission(
        format!(
            "user {me} {what}: that needs an admin scope and {privilege} in the user's role now; \
             {lacking}{assistant_note}"
        ),
        capitalize(&fix) + ".",
    );
    if admin_scope.is_none() {
        denial.explain.missing_scopes = names(&admin_scopes);
    }
    if !has_privilege {
        denial.explain.missing_privilege = Some(privilege);
    }
    Err(denial)
}

fn no_permission(reason: String, fix: String) -> Denial {
    deny(
        Step::Reach,
        400,
        NO_PERMISSION_CODE,
        "No permission.".into(),
        reason,
        fix,
    )
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// Step 5 ---------------------------------------------------------------------------------------

fn business_step(request: &Request<'_>) -> Result<Passed<()>, Denial> {
    match &request.violation {
        None => Ok(Passed {
            value: (),
            detail: format!(
                "no business rule of {} is broken",
                request.endpoint.display()
            ),
        }),
        Some(violation) => Err(deny(
            Step::Business,
            400,
            violation.code,
            violation.message.clone(),
            violation.message.clone(),
            violation.fix.clone(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::{self, ObjectKind};

    // The world: Acme with its owner Olive, admin Adam (who installed the account app), Vic (the
    // user a user app acts as, with varying privileges) and Uma (whose objects Vic reaches for);
    // Globex with Gus.
    struct World {
        acme: AccountId,
        globex: AccountId,
        olive: UserId,
        adam: UserId,
        vic: UserId,
        uma: UserId,
        gus: UserId,
    }

    fn world() -> World {
        let user = |id: &str| UserId::parse(id).unwrap();
        World {
            acme: AccountId::parse("acme").unwrap(),
            globex: AccountId::parse("globex").unwrap(),
            olive: user("olive"),
            adam: user("adam"),
            vic: user("vic"),
            uma: user("uma"),
            gus: user("gus"),
        }
    }

    fn scope(name: &str) -> Scope {
        Scope::parse(name).unwrap()
    }

    fn endpoint(method: &str, path: &str) -> &'static Endpoint {
        endpoints::find(method, path).unwrap()
    }

    /// Owned test data from which a borrowed [`Request`] is built.
    #[derive(Clone)]
    struct Case {
        check: TokenCheck,
        grant_exists: bool,
        kind: GrantKind,
        status: GrantStatus,
        token_generation: u64,
        current_generation: u64,
        account: AccountId,
        scopes: Vec<Scope>,
        me: UserId,
        endpoint: &'static Endpoint,
        target_id: String,
        target_account: Option<AccountId>,
        target_owner: Option<UserId>,
        privileges: PrivilegeSet,
        assistant_of: Vec<UserId>,
        violation: Option<Violation>,
        guarded_change: Option<GuardedChange>,
    }

    impl Case {
        /// A valid token of an active grant in Acme; `me` is Adam for installations, Olive for
        /// server grants, Vic for authorizations. Targets Uma's meeting 111.
        fn new(kind: GrantKind, scopes: &[&str]) -> Case {
            let w = world();
            let me = match kind {
                GrantKind::Installation => w.adam.clone(),
                GrantKind::Server => w.olive.clone(),
                GrantKind::Authorization => w.vic.clone(),
            };
            Case {
                check: TokenCheck::Valid,
                grant_exists: true,
                kind,
                status: GrantStatus::Active,
                token_generation: 1,
                current_generation: 1,
                account: w.acme.clone(),
                scopes: scopes.iter().map(|name| scope(name)).collect(),
                me,
                endpoint: endpoint("GET", "/meetings/{meetingId}"),
                target_id: "111".into(),
                target_account: Some(w.acme),
                target_owner: Some(w.uma),
                privileges: PrivilegeSet::empty(),
                assistant_of: Vec::new(),
                violation: None,
                guarded_change: None,
            }
        }

        fn changing(mut self, change: GuardedChange) -> Case {
            self.guarded_change = Some(change);
            self
        }

        fn on(mut self, method: &str, path: &str, id: &str, owner: Option<&UserId>) -> Case {
            self.endpoint = endpoint(method, path);
            self.target_id = id.into();
            self.target_owner = owner.cloned();
            self
        }

        fn in_account(mut self, account: Option<&AccountId>) -> Case {
            self.target_account = account.cloned();
            self
        }

        fn me(mut self, me: &UserId) -> Case {
            self.me = me.clone();
            self
        }

        fn privileges(mut self, privileges: &[Privilege]) -> Case {
            self.privileges = privileges.iter().copied().collect();
            self
        }

        fn assistant_of(mut self, principals: &[&UserId]) -> Case {
            self.assistant_of = principals.iter().map(|u| (*u).clone()).collect();
            self
        }

        fn with<R>(&self, run: impl FnOnce(&Request<'_>) -> R) -> R {
            let grant = self.grant_exists.then_some(GrantFacts {
                kind: self.kind,
                status: self.status,
                token_generation: self.token_generation,
                current_generation: self.current_generation,
                account: &self.account,
                scopes: &self.scopes,
                me: &self.me,
            });
            let request = Request {
                token: TokenFacts {
                    check: self.check,
                    grant,
                },
                endpoint: self.endpoint,
                target: Target {
                    id: &self.target_id,
                    account: self.target_account.as_ref(),
                    owner: self.target_owner.as_ref(),
                },
                acting_user: Some(ActingUser {
                    privileges: self.privileges,
                    assistant_of: &self.assistant_of,
                }),
                violation: self.violation.clone(),
                guarded_change: self.guarded_change,
            };
            run(&request)
        }

        fn decide(&self) -> Result<Reach, Denial> {
            self.with(decide)
        }

        fn explain(&self) -> Vec<StepOutcome> {
            self.with(explain_steps)
        }

        fn denial(&self) -> Denial {
            match self.decide() {
                Err(denial) => denial,
                Ok(reach) => panic!("expected a denial, got {reach:?}"),
            }
        }
    }

    // ---- The table ---------------------------------------------------------------------------

    /// What a row expects.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Expect {
        Allow(Reach),
        Deny(Step, u16, u32),
    }

    const OWN: Expect = Expect::Allow(Reach::Own);
    const ASSIST: Expect = Expect::Allow(Reach::Assistant);
    const ADMIN: Expect = Expect::Allow(Reach::AdminScope);
    const PRIV: Expect = Expect::Allow(Reach::AdminScopeAndPrivilege);
    const NO_PERM: Expect = Expect::Deny(Step::Reach, 400, 200);
    const NO_SCOPE: Expect = Expect::Deny(Step::Scope, 400, 4711);
    const NO_USER: Expect = Expect::Deny(Step::Tenant, 404, 1001);
    const NO_MEETING: Expect = Expect::Deny(Step::Tenant, 404, 3001);

    fn outcome(result: &Result<Reach, Denial>) -> Expect {
        match result {
            Ok(reach) => Expect::Allow(*reach),
            Err(denial) => Expect::Deny(denial.step, denial.status, denial.code),
        }
    }

    use GrantKind::{Authorization as AUTH, Installation as INST, Server as SERVER};

    /// The scope form a row's token holds.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Form {
        ClassicUser,
        ClassicAdmin,
        GranularUser,
        GranularAdmin,
    }
    use Form::{ClassicAdmin as CA, ClassicUser as CU, GranularAdmin as GA, GranularUser as GU};
    const FORMS: [Form; 4] = [CU, CA, GU, GA];

    /// Where the target is: in the token's account, or in another one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Tenancy {
        Same,
        Other,
    }
    use Tenancy::{Other as OTHER, Same as SAME};

    /// The six columns: the acting user's privileges × whether they are the target owner's
    /// assistant.
    const COLUMNS: [(&[Privilege], bool); 6] = [
        (&[], false),
        (&[], true),
        (&[Privilege::MeetingRead], false),
        (&[Privilege::MeetingRead], true),
        (&ALL_PRIVILEGES, false),
        (&ALL_PRIVILEGES, true),
    ];
    const ALL_PRIVILEGES: [Privilege; 10] = Privilege::ALL;

    type Row = (GrantKind, Form, Tenancy, [Expect; 6]);

    /// Runs a table on `endpoint` against a target owned by Uma (same account) or Gus (Globex).
    /// In each row the columns are: no privileges, no privileges + assistant, Meeting:Read only,
    /// Meeting:Read + assistant, every privilege, every privilege + assistant. For installation
    /// and server grants the privileges and assistant relations are those of `me`, and must not
    /// matter.
    fn run_table(table: &[Row], method: &str, path: &str, scope_names: [&str; 4]) {
        let w = world();
        for &(kind, form, tenancy, expected) in table {
            let scope_name = scope_names[FORMS.iter().position(|f| *f == form).unwrap()];
            let (account, owner) = match tenancy {
                SAME => (&w.acme, &w.uma),
                OTHER => (&w.globex, &w.gus),
            };
            for ((privileges, assistant), expect) in COLUMNS.iter().zip(expected) {
                let principals: &[&UserId] = if *assistant { &[owner] } else { &[] };
                let case = Case::new(kind, &[scope_name])
                    .on(method, path, "target-1", Some(owner))
                    .in_account(Some(account))
                    .privileges(privileges)
                    .assistant_of(principals);
                let result = case.decide();
                assert_eq!(
                    outcome(&result),
                    expect,
                    "{method} {path}: {kind:?} grant holding {scope_name}, target in {tenancy:?} \
                     account, privileges {privileges:?}, assistant {assistant}: {result:?}"
                );
                assert_explain_agrees(&case);
            }
        }
    }

    /// Proves a table has exactly one row for every grant kind × scope form × tenancy.
    fn assert_covers_every_combination(table: &[Row]) {
        for kind in [INST, AUTH, SERVER] {
            for form in FORMS {
                for tenancy in [SAME, OTHER] {
                    let rows = table
                        .iter()
                        .filter(|r| (r.0, r.1, r.2) == (kind, form, tenancy))
                        .count();
                    assert_eq!(
                        rows, 1,
                        "{kind:?} {form:?} {tenancy:?} appears {rows} times"
                    );
                }
            }
        }
    }

    /// explain_steps agrees with decide: passes up to the deciding step, the same denial there,
    /// nothing after.
    fn assert_explain_agrees(case: &Case) {
        let steps = case.explain();
        assert_eq!(steps.iter().map(|s| s.step).collect::<Vec<_>>(), Step::ALL);
        match case.decide() {
            Ok(_) => assert!(
                steps
                    .iter()
                    .all(|s| matches!(s.result, StepResult::Passed { .. }))
            ),
            Err(denial) => {
                let at = Step::ALL.iter().position(|s| *s == denial.step).unwrap();
                assert!(
                    steps[..at]
                        .iter()
                        .all(|s| matches!(s.result, StepResult::Passed { .. }))
                );
                assert_eq!(steps[at].result, StepResult::Failed { denial });
                assert!(
                    steps[at + 1..]
                        .iter()
                        .all(|s| s.result == StepResult::NotReached)
                );
            }
        }
    }

    /// `GET /meetings/{meetingId}` on a meeting hosted by another user: the meeting operation,
    /// where the assistant relation matters and Meeting:Read is the privilege.
    const MEETING_TABLE: [Row; 24] = [
        //                         none     none+A   M:Read   M:R+A    all      all+A
        (
            INST,
            CU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (INST, CA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (
            INST,
            GU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (INST, GA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (INST, CU, OTHER, [NO_MEETING; 6]),
        (INST, CA, OTHER, [NO_MEETING; 6]),
        (INST, GU, OTHER, [NO_MEETING; 6]),
        (INST, GA, OTHER, [NO_MEETING; 6]),
        (
            SERVER,
            CU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (SERVER, CA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (
            SERVER,
            GU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (SERVER, GA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (SERVER, CU, OTHER, [NO_MEETING; 6]),
        (SERVER, CA, OTHER, [NO_MEETING; 6]),
        (SERVER, GU, OTHER, [NO_MEETING; 6]),
        (SERVER, GA, OTHER, [NO_MEETING; 6]),
        (
            AUTH,
            CU,
            SAME,
            [NO_PERM, ASSIST, NO_PERM, ASSIST, NO_PERM, ASSIST],
        ),
        (
            AUTH,
            CA,
            SAME,
            [NO_PERM, ASSIST, PRIV, ASSIST, PRIV, ASSIST],
        ),
        (
            AUTH,
            GU,
            SAME,
            [NO_PERM, ASSIST, NO_PERM, ASSIST, NO_PERM, ASSIST],
        ),
        (
            AUTH,
            GA,
            SAME,
            [NO_PERM, ASSIST, PRIV, ASSIST, PRIV, ASSIST],
        ),
        (AUTH, CU, OTHER, [NO_MEETING; 6]),
        (AUTH, CA, OTHER, [NO_MEETING; 6]),
        (AUTH, GU, OTHER, [NO_MEETING; 6]),
        (AUTH, GA, OTHER, [NO_MEETING; 6]),
    ];

    #[test]
    fn meeting_of_another_user_table() {
        assert_covers_every_combination(&MEETING_TABLE);
        run_table(
            &MEETING_TABLE,
            "GET",
            "/meetings/{meetingId}",
            [
                "meeting:read",
                "meeting:read:admin",
                "meeting:read:meeting",
                "meeting:read:meeting:admin",
            ],
        );
    }

    /// `GET /users/{userId}` of another user: not a meeting operation, so being an assistant
    /// does not help, and Meeting:Read is the wrong privilege.
    const USER_TABLE: [Row; 24] = [
        //                         none     none+A   M:Read   M:R+A    all      all+A
        (
            INST,
            CU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (INST, CA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (
            INST,
            GU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (INST, GA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (INST, CU, OTHER, [NO_USER; 6]),
        (INST, CA, OTHER, [NO_USER; 6]),
        (INST, GU, OTHER, [NO_USER; 6]),
        (INST, GA, OTHER, [NO_USER; 6]),
        (
            SERVER,
            CU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (SERVER, CA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (
            SERVER,
            GU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (SERVER, GA, SAME, [ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN]),
        (SERVER, CU, OTHER, [NO_USER; 6]),
        (SERVER, CA, OTHER, [NO_USER; 6]),
        (SERVER, GU, OTHER, [NO_USER; 6]),
        (SERVER, GA, OTHER, [NO_USER; 6]),
        (
            AUTH,
            CU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (
            AUTH,
            CA,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, PRIV, PRIV],
        ),
        (
            AUTH,
            GU,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM, NO_PERM],
        ),
        (
            AUTH,
            GA,
            SAME,
            [NO_PERM, NO_PERM, NO_PERM, NO_PERM, PRIV, PRIV],
        ),
        (AUTH, CU, OTHER, [NO_USER; 6]),
        (AUTH, CA, OTHER, [NO_USER; 6]),
        (AUTH, GU, OTHER, [NO_USER; 6]),
        (AUTH, GA, OTHER, [NO_USER; 6]),
    ];

    #[test]
    fn profile_of_another_user_table() {
        assert_covers_every_combination(&USER_TABLE);
        run_table(
            &USER_TABLE,
            "GET",
            "/users/{userId}",
            [
                "user:read",
                "user:read:admin",
                "user:read:user",
                "user:read:user:admin",
            ],
        );
    }

    #[test]
    fn own_objects_are_reached_with_any_admitting_scope_by_every_grant_kind() {
        // kind, scope, expected: the target is `me`'s own meeting, `me` holds no privilege.
        let rows = [
            (INST, "meeting:read", OWN),
            (INST, "meeting:read:admin", OWN),
            (INST, "meeting:read:meeting", OWN),
            (INST, "meeting:read:meeting:admin", OWN),
            (SERVER, "meeting:read", OWN),
            (SERVER, "meeting:read:admin", OWN),
            (SERVER, "meeting:read:meeting", OWN),
            (SERVER, "meeting:read:meeting:admin", OWN),
            (AUTH, "meeting:read", OWN),
            (AUTH, "meeting:read:admin", OWN),
            (AUTH, "meeting:read:meeting", OWN),
            (AUTH, "meeting:read:meeting:admin", OWN),
        ];
        for (kind, scope_name, expect) in rows {
            let me = Case::new(kind, &[]).me;
            let case =
                Case::new(kind, &[scope_name]).on("GET", "/meetings/{meetingId}", "111", Some(&me));
            assert_eq!(outcome(&case.decide()), expect, "{kind:?} {scope_name}");
            assert_explain_agrees(&case);
        }
    }

    #[test]
    fn account_wide_user_list_table() {
        // GET /users is admin-only: user forms do not even admit it. On a user grant the admin
        // scope needs User:Read in the user's role; the list is refused, never narrowed.
        // kind, scope, [no privileges, Meeting:Read only, every privilege]
        let rows = [
            (INST, "user:read", [NO_SCOPE; 3]),
            (INST, "user:read:admin", [ADMIN; 3]),
            (INST, "user:read:list_users", [NO_SCOPE; 3]),
            (INST, "user:read:list_users:admin", [ADMIN; 3]),
            (SERVER, "user:read", [NO_SCOPE; 3]),
            (SERVER, "user:read:admin", [ADMIN; 3]),
            (SERVER, "user:read:list_users", [NO_SCOPE; 3]),
            (SERVER, "user:read:list_users:admin", [ADMIN; 3]),
            (AUTH, "user:read", [NO_SCOPE; 3]),
            (AUTH, "user:read:admin", [NO_PERM, NO_PERM, PRIV]),
            (AUTH, "user:read:list_users", [NO_SCOPE; 3]),
            (AUTH, "user:read:list_users:admin", [NO_PERM, NO_PERM, PRIV]),
        ];
        let w = world();
        let columns: [&[Privilege]; 3] = [&[], &[Privilege::MeetingRead], &ALL_PRIVILEGES];
        for (kind, scope_name, expected) in rows {
            for (privileges, expect) in columns.into_iter().zip(expected) {
                let case = Case::new(kind, &[scope_name])
                    .on("GET", "/users", "", None)
                    .in_account(Some(&w.acme))
                    .privileges(privileges);
                assert_eq!(
                    outcome(&case.decide()),
                    expect,
                    "{kind:?} {scope_name} {privileges:?}"
                );
                assert_explain_agrees(&case);
            }
        }
    }

    // ---- Named cases -------------------------------------------------------------------------

    #[test]
    fn server_grant_acts_as_the_account_owner() {
        let w = world();
        let me = resolve_me(GrantKind::Server, None, Some(&w.adam), &w.olive)
            .expect("installations and server grants always act as someone");
        assert_eq!(me, w.olive);
        let case = Case::new(SERVER, &["user:read"]).me(&me);
        let own = case
            .clone()
            .on("GET", "/users/{userId}", "me", Some(&w.olive));
        assert_eq!(own.decide(), Ok(Reach::Own));
        let other = case.on("GET", "/users/{userId}", "adam", Some(&w.adam));
        assert_eq!(outcome(&other.decide()), NO_PERM);
    }

    #[test]
    fn installation_survives_its_installer_being_demoted() {
        let w = world();
        // Adam installed the app and was then demoted to Member: still `me`, and the
        // installation keeps its full reach, which never depended on his privileges.
        let me = resolve_me(GrantKind::Installation, None, Some(&w.adam), &w.olive)
            .expect("installations and server grants always act as someone");
        assert_eq!(me, w.adam);
        let admin = Case::new(INST, &["meeting:write:admin"])
            .me(&me)
            .privileges(&[]);
        assert_eq!(admin.decide(), Ok(Reach::AdminScope));
        let own = Case::new(INST, &["meeting:read"]).me(&me).on(
            "GET",
            "/users/{userId}/meetings",
            "me",
            Some(&w.adam),
        );
        assert_eq!(own.decide(), Ok(Reach::Own));
    }

    #[test]
    fn installation_of_a_deleted_installer_acts_as_the_owner() {
        let w = world();
        let me = resolve_me(GrantKind::Installation, None, None, &w.olive)
            .expect("installations and server grants always act as someone");
        assert_eq!(me, w.olive);
        let owners_meeting = Case::new(INST, &["meeting:read"]).me(&me).on(
            "GET",
            "/meetings/{meetingId}",
            "222",
            Some(&w.olive),
        );
        assert_eq!(owners_meeting.decide(), Ok(Reach::Own));
        let admin = Case::new(INST, &["meeting:read:admin"]).me(&me);
        assert_eq!(admin.decide(), Ok(Reach::AdminScope));
    }

    #[test]
    fn an_authorization_acts_as_its_user() {
        let w = world();
        assert_eq!(
            resolve_me(
                GrantKind::Authorization,
                Some(&w.vic),
                Some(&w.vic),
                &w.olive
            ),
            Some(w.vic.clone())
        );
        assert_eq!(
            resolve_me(GrantKind::Authorization, None, Some(&w.vic), &w.olive),
            None
        );
    }

    #[test]
    fn member_user_grant_with_admin_scope_reaches_only_own_objects() {
        let w = world();
        let member = Case::new(AUTH, &["meeting:read:admin"]).privileges(&[]);
        let own = member
            .clone()
            .on("GET", "/meetings/{meetingId}", "333", Some(&w.vic));
        assert_eq!(own.decide(), Ok(Reach::Own));

        let denial = member.denial();
        assert_eq!(
            (denial.step, denial.status, denial.code),
            (Step::Reach, 400, 200)
        );
        assert_eq!(denial.message, "No permission.");
        assert_eq!(
            denial.explain.missing_privilege,
            Some(Privilege::MeetingRead)
        );
        assert!(
            denial.explain.missing_scopes.is_empty(),
            "the admin scope is there"
        );
        assert_eq!(
            denial.explain.fix,
            "Ask an admin to give your role Meeting:Read; or ask uma to make you an assistant."
        );
        assert!(
            denial
                .explain
                .reason
                .contains("only as wide as the user's privileges")
        );
    }

    #[test]
    fn admin_user_grant_with_admin_scope_reaches_every_user() {
        let w = world();
        let admin = Case::new(AUTH, &["meeting:write:admin", "user:write:admin"])
            .privileges(&[Privilege::MeetingEdit, Privilege::UserEdit]);
        assert_eq!(
            admin.decide(),
            Ok(Reach::AdminScopeAndPrivilege),
            "classic write admits read"
        );
        let patch = admin
            .clone()
            .on("PATCH", "/users/{userId}", "uma", Some(&w.uma));
        assert_eq!(patch.decide(), Ok(Reach::AdminScopeAndPrivilege));
        let list = admin.clone().on("GET", "/users", "", None);
        assert_eq!(list.decide(), Ok(Reach::AdminScopeAndPrivilege));
        let owner = admin.on("DELETE", "/meetings/{meetingId}", "444", Some(&w.olive));
        assert_eq!(owner.decide(), Ok(Reach::AdminScopeAndPrivilege));
    }

    #[test]
    fn user_grant_without_admin_scope_is_told_which_admin_scopes_to_add() {
        let w = world();
        let denial = Case::new(AUTH, &["user:read"])
            .privileges(&[Privilege::UserRead])
            .on("GET", "/users/{userId}", "uma", Some(&w.uma))
            .denial();
        assert_eq!(denial.code, 200);
        assert_eq!(denial.explain.missing_privilege, None);
        assert_eq!(
            denial.explain.missing_scopes,
            [
                "user:read:admin",
                "user:write:admin",
                "user:read:user:admin"
            ]
        );
        assert_eq!(
            denial.explain.fix,
            "Add an admin scope to the app (user:read:admin, user:write:admin, \
             user:read:user:admin) and authorize it again."
        );
    }

    #[test]
    fn member_without_scope_or_privilege_is_told_both_and_the_assistant_route() {
        let denial = Case::new(AUTH, &["meeting:read:meeting"]).denial();
        assert_eq!(
            denial.explain.missing_privilege,
            Some(Privilege::MeetingRead)
        );
        assert_eq!(
            denial.explain.missing_scopes,
            [
                "meeting:read:admin",
                "meeting:write:admin",
                "meeting:read:meeting:admin"
            ]
        );
        assert_eq!(
            denial.explain.fix,
            "Add an admin scope to the app (meeting:read:admin, meeting:write:admin, \
             meeting:read:meeting:admin) and authorize it again, and ask an admin to give your \
             role Meeting:Read; or ask uma to make you an assistant."
        );
    }

    #[test]
    fn installation_with_user_scope_on_another_user_is_told_to_add_an_admin_scope() {
        let denial = Case::new(INST, &["meeting:read"]).denial();
        assert_eq!(denial.code, 200);
        assert_eq!(denial.explain.missing_privilege, None);
        assert_eq!(
            denial.explain.fix,
            "Add an admin scope to the app (meeting:read:admin, meeting:write:admin, \
             meeting:read:meeting:admin); then an admin must install the app again."
        );
        assert!(
            denial
                .explain
                .reason
                .contains("reach only the grant's own user (me), adam")
        );
    }

    #[test]
    fn assistant_reaches_the_hosts_meetings_but_not_the_host() {
        let w = world();
        let sam = Case::new(AUTH, &["meeting:write", "user:read"]).assistant_of(&[&w.uma]);
        let schedule = sam
            .clone()
            .on("POST", "/users/{userId}/meetings", "uma", Some(&w.uma));
        assert_eq!(schedule.decide(), Ok(Reach::Assistant));
        let list = sam
            .clone()
            .on("GET", "/users/{userId}/meetings", "uma", Some(&w.uma));
        assert_eq!(list.decide(), Ok(Reach::Assistant));
        let delete = sam
            .clone()
            .on("DELETE", "/meetings/{meetingId}", "111", Some(&w.uma));
        assert_eq!(delete.decide(), Ok(Reach::Assistant));
        let profile = sam
            .clone()
            .on("GET", "/users/{userId}", "uma", Some(&w.uma));
        assert_eq!(outcome(&profile.decide()), NO_PERM);
        let others = sam.on("GET", "/meetings/{meetingId}", "555", Some(&w.olive));
        assert_eq!(outcome(&others.decide()), NO_PERM);
    }

    #[test]
    fn nobody_deactivates_deletes_or_relicenses_themselves_on_the_strength_of_being_themselves() {
        let w = world();
        // Vic, a member, through her own user app holding an admin scope.
        let member = Case::new(AUTH, &["user:write:admin"]);
        for (method, path) in [
            ("PUT", "/users/{userId}/status"),
            ("DELETE", "/users/{userId}"),
        ] {
            let own = member.clone().on(method, path, "me", Some(&w.vic));
            let denial = own.denial();
            assert_eq!(outcome(&Err(denial.clone())), NO_PERM, "{method} {path}");
            assert_eq!(denial.explain.missing_privilege, Some(Privilege::UserEdit));
            assert!(
                denial.explain.reason.contains("asks to"),
                "{}",
                denial.explain.reason
            );
        }
        let relicense = member
            .clone()
            .on("PATCH", "/users/{userId}", "me", Some(&w.vic))
            .changing(GuardedChange::LicenseType);
        assert_eq!(outcome(&relicense.decide()), NO_PERM);
        // The rest of her profile stays hers to change, with a user-level scope too.
        let profile =
            Case::new(AUTH, &["user:write"]).on("PATCH", "/users/{userId}", "me", Some(&w.vic));
        assert_eq!(outcome(&profile.decide()), OWN);
        let relicense_user_scope = profile.changing(GuardedChange::LicenseType);
        let denial = relicense_user_scope.denial();
        assert_eq!(denial.explain.missing_privilege, Some(Privilege::UserEdit));
        assert!(
            !denial.explain.missing_scopes.is_empty(),
            "an admin scope is needed too"
        );
    }

    #[test]
    fn guarded_changes_to_oneself_need_user_edit_over_oneself() {
        let w = world();
        // With User:Edit in her role and an admin scope, a user may do it to herself as to anyone.
        let admin = Case::new(AUTH, &["user:write:admin"]).privileges(&[Privilege::UserEdit]);
        for (method, path) in [
            ("PUT", "/users/{userId}/status"),
            ("DELETE", "/users/{userId}"),
        ] {
            let own = admin.clone().on(method, path, "me", Some(&w.vic));
            assert_eq!(outcome(&own.decide()), PRIV, "{method} {path}");
        }
        let relicense = admin
            .on("PATCH", "/users/{userId}", "me", Some(&w.vic))
            .changing(GuardedChange::LicenseType);
        assert_eq!(outcome(&relicense.decide()), PRIV);
        // An account app acts for the account: its admin scope covers its own `me` too ...
        let app = Case::new(INST, &["user:write:admin"]).on(
            "PUT",
            "/users/{userId}/status",
            "me",
            Some(&w.adam),
        );
        assert_eq!(outcome(&app.decide()), ADMIN);
        // ... but a user-level scope reaching only `me` does not cover a guarded change of `me`.
        let app_user_scope = Case::new(INST, &["user:write"])
            .on("PATCH", "/users/{userId}", "me", Some(&w.adam))
            .changing(GuardedChange::LicenseType);
        assert_eq!(outcome(&app_user_scope.decide()), NO_PERM);
        // The explanation walks the same path.
        let steps = Case::new(AUTH, &["user:write:admin"])
            .on("DELETE", "/users/{userId}", "me", Some(&w.vic))
            .explain();
        assert!(
            matches!(steps[3].result, StepResult::Failed { .. }),
            "{steps:?}"
        );
    }

    #[test]
    fn a_user_grant_without_live_facts_has_no_privilege_and_no_principal() {
        let w = world();
        let case = Case::new(AUTH, &["meeting:read:admin"]).privileges(&Privilege::ALL);
        let result = case.with(|request| {
            decide(&Request {
                acting_user: None,
                ..request.clone()
            })
        });
        assert_eq!(outcome(&result), NO_PERM);
        let own = case.on("GET", "/meetings/{meetingId}", "1", Some(&w.vic));
        assert_eq!(
            own.with(|r| decide(&Request {
                acting_user: None,
                ..r.clone()
            })),
            Ok(Reach::Own)
        );
    }

    #[test]
    fn token_from_another_account_gets_exactly_the_missing_object_answer() {
        let w = world();
        let cases = [
            (
                "GET",
                "/users/{userId}",
                "gus",
                "user:read:admin",
                404,
                1001,
                "User does not exist: gus.",
            ),
            (
                "GET",
                "/meetings/{meetingId}",
                "999",
                "meeting:read:admin",
                404,
                3001,
                "Meeting does not exist: 999.",
            ),
            (
                "PATCH",
                "/roles/{roleId}",
                "auditor",
                "role:write:admin",
                400,
                1034,
                "Role does not exist: auditor.",
            ),
        ];
        for kind in [INST, AUTH, SERVER] {
            for (method, path, id, scope_name, status, code, message) in cases {
                let base = Case::new(kind, &[scope_name]).privileges(&Privilege::ALL);
                let elsewhere = base
                    .clone()
                    .on(method, path, id, Some(&w.gus))
                    .in_account(Some(&w.globex));
                let missing = base.on(method, path, id, None).in_account(None);
                let (foreign, absent) = (elsewhere.denial(), missing.denial());
                assert_eq!(
                    foreign, absent,
                    "{kind:?} {method} {path}: the answers must not differ"
                );
                assert_eq!(
                    (foreign.step, foreign.status, foreign.code),
                    (Step::Tenant, status, code)
                );
                assert_eq!(foreign.message, message);
                assert!(!format!("{:?}", foreign.explain).contains("globex"));
                assert_ne!(foreign.status, 403);
            }
        }
    }

    #[test]
    fn a_foreign_object_is_not_found_even_without_an_admitting_scope() {
        let w = world();
        // Step 2 comes before step 3: a token without any fitting scope still cannot tell a
        // foreign user from a missing one.
        let foreign = Case::new(INST, &["meeting:read"])
            .on("GET", "/users/{userId}", "gus", Some(&w.gus))
            .in_account(Some(&w.globex))
            .denial();
        let missing = Case::new(INST, &["meeting:read"])
            .on("GET", "/users/{userId}", "gus", None)
            .in_account(None)
            .denial();
        assert_eq!(foreign, missing);
        assert_eq!((foreign.status, foreign.code), (404, 1001));
    }

    #[test]
    fn missing_scope_lists_every_admitting_scope_of_both_families() {
        let w = world();
        let denial = Case::new(INST, &["meeting:read:admin"])
            .on("GET", "/users/{userId}", "uma", Some(&w.uma))
            .denial();
        assert_eq!(
            (denial.step, denial.status, denial.code),
            (Step::Scope, 400, 4711)
        );
        assert_eq!(
            denial.message,
            "Invalid access token, does not contain scopes:[user:read, user:write, user:read:admin, \
             user:write:admin, user:read:user, user:read:user:admin]."
        );
        assert_eq!(
            denial.explain.missing_scopes,
            [
                "user:read",
                "user:write",
                "user:read:admin",
                "user:write:admin",
                "user:read:user",
                "user:read:user:admin"
            ]
        );
        assert!(
            denial
                .explain
                .fix
                .starts_with("Add one of these scopes to the app: user:read, ")
        );
        assert!(
            denial.explain.fix.ends_with(
                "then an admin must install the app again so the installation holds it."
            )
        );
        assert!(
            denial
                .explain
                .reason
                .ends_with("the token holds meeting:read:admin")
        );
    }

    #[test]
    fn revoked_grant_is_an_invalid_token() {
        for (kind, fix) in [
            (INST, "An admin must install this app again."),
            (AUTH, "The user must authorize the app again."),
            (SERVER, "Reactivate the app, then request a new token."),
        ] {
            let mut case = Case::new(kind, &["meeting:read:admin"]);
            case.status = GrantStatus::Revoked;
            let denial = case.denial();
            assert_eq!(
                (denial.step, denial.status, denial.code),
                (Step::Token, 401, 124)
            );
            assert_eq!(denial.message, "Invalid access token.");
            assert_eq!(denial.explain.fix, fix);
        }
    }

    #[test]
    fn stale_generation_is_an_invalid_token() {
        let mut case = Case::new(AUTH, &["meeting:read"]);
        case.token_generation = 2;
        case.current_generation = 3;
        let denial = case.denial();
        assert_eq!(
            (denial.step, denial.status, denial.code),
            (Step::Token, 401, 124)
        );
        assert_eq!(denial.message, "Invalid access token.");
        assert!(
            denial
                .explain
                .reason
                .contains("token generation 2, current generation 3")
        );
        assert!(
            denial
                .explain
                .fix
                .contains("re-authorize the app to get a fresh token")
        );
    }

    #[test]
    fn unusable_tokens_are_invalid_and_expired_ones_say_so() {
        for (check, message) in [
            (TokenCheck::Missing, "Invalid access token."),
            (TokenCheck::Malformed, "Invalid access token."),
            (TokenCheck::BadSignature, "Invalid access token."),
            (TokenCheck::Expired, "Access token is expired."),
        ] {
            let mut case = Case::new(INST, &["meeting:read:admin"]);
            case.check = check;
            case.grant_exists = !matches!(check, TokenCheck::Missing | TokenCheck::Malformed);
            let denial = case.denial();
            assert_eq!(
                (denial.step, denial.status, denial.code),
                (Step::Token, 401, 124),
                "{check:?}"
            );
            assert_eq!(denial.message, message);
            assert!(!denial.explain.fix.is_empty());
        }
        let mut gone = Case::new(INST, &["meeting:read:admin"]);
        gone.grant_exists = false;
        let denial = gone.denial();
        assert_eq!((denial.status, denial.code), (401, 124));
        assert!(
            denial
                .explain
                .fix
                .contains("an admin must install this app again")
        );
    }

    #[test]
    fn token_failures_win_over_everything_else() {
        let w = world();
        let mut case = Case::new(INST, &[])
            .on("GET", "/users/{userId}", "gus", Some(&w.gus))
            .in_account(Some(&w.globex));
        case.check = TokenCheck::Expired;
        assert_eq!(case.denial().step, Step::Token);
    }

    #[test]
    fn classic_write_admits_read_but_granular_write_does_not() {
        let w = world();
        let own = |kind, scopes: &[&str]| {
            let me = Case::new(kind, &[]).me;
            Case::new(kind, scopes).on("GET", "/meetings/{meetingId}", "1", Some(&me))
        };
        assert_eq!(own(AUTH, &["meeting:write"]).decide(), Ok(Reach::Own));
        assert_eq!(own(INST, &["meeting:write:admin"]).decide(), Ok(Reach::Own));
        assert_eq!(
            outcome(&own(AUTH, &["meeting:write:meeting"]).decide()),
            NO_SCOPE
        );
        assert_eq!(
            outcome(&own(AUTH, &["meeting:update:meeting"]).decide()),
            NO_SCOPE
        );
        let list = Case::new(SERVER, &["user:write:admin"])
            .on("GET", "/users", "", None)
            .in_account(Some(&w.acme));
        assert_eq!(list.decide(), Ok(Reach::AdminScope));
        // And never the other way round: read does not admit write.
        let write = own(AUTH, &["meeting:read", "meeting:read:admin"]);
        let write = write.clone().on(
            "PATCH",
            "/meetings/{meetingId}",
            "1",
            write.target_owner.as_ref(),
        );
        assert_eq!(outcome(&write.decide()), NO_SCOPE);
    }

    #[test]
    fn account_wide_lists_are_refused_not_narrowed_for_a_members_user_grant() {
        let w = world();
        for (method, path, scope_name, privilege) in [
            ("GET", "/users", "user:read:admin", Privilege::UserRead),
            ("GET", "/roles", "role:read:admin", Privilege::RoleRead),
            (
                "GET",
                "/roles/{roleId}/members",
                "role:read:list_members:admin",
                Privilege::RoleRead,
            ),
            (
                "GET",
                "/report/operationlogs",
                "report:read:admin",
                Privilege::AuditLogRead,
            ),
            (
                "GET",
                "/marketplace/apps",
                "marketplace:read:admin",
                Privilege::MarketplaceRead,
            ),
        ] {
            let member = Case::new(AUTH, &[scope_name])
                .on(method, path, "", None)
                .in_account(Some(&w.acme));
            let denial = member.denial();
            assert_eq!(
                (denial.step, denial.status, denial.code),
                (Step::Reach, 400, 200),
                "{path}"
            );
            assert_eq!(denial.explain.missing_privilege, Some(privilege), "{path}");
            assert!(
                denial.explain.reason.contains("refused, not narrowed"),
                "{}",
                denial.explain.reason
            );
            assert_eq!(
                denial.explain.fix,
                format!("Ask an admin to give your role {privilege}.")
            );

            let holder = member.privileges(&[privilege]);
            assert_eq!(holder.decide(), Ok(Reach::AdminScopeAndPrivilege), "{path}");
        }
    }

    #[test]
    fn business_rule_violation_is_answered_after_every_other_step() {
        let w = world();
        let violation = Violation {
            code: 200,
            message: "The account owner cannot be deleted.".into(),
            fix: "Transfer ownership to another user first.".into(),
        };
        let mut case = Case::new(INST, &["user:write:admin"]).on(
            "DELETE",
            "/users/{userId}",
            "olive",
            Some(&w.olive),
        );
        case.violation = Some(violation.clone());
        let denial = case.denial();
        assert_eq!(
            (denial.step, denial.status, denial.code),
            (Step::Business, 400, 200)
        );
        assert_eq!(denial.message, violation.message);
        assert_eq!(denial.explain.fix, violation.fix);

        let mut unscoped = case.clone();
        unscoped.scopes = vec![scope("user:read:admin")];
        assert_eq!(
            unscoped.denial().step,
            Step::Scope,
            "an earlier failure wins"
        );
    }

    #[test]
    fn explain_steps_reports_each_step_in_order() {
        let w = world();
        let case = Case::new(AUTH, &["meeting:read:admin"]).privileges(&[]);
        let steps = case.explain();
        let results: Vec<&str> = steps
            .iter()
            .map(|s| match &s.result {
                StepResult::Passed { .. } => "passed",
                StepResult::Failed { .. } => "failed",
                StepResult::NotReached => "not reached",
            })
            .collect();
        assert_eq!(
            results,
            ["passed", "passed", "passed", "failed", "not reached"]
        );
        assert_eq!(
            steps[2].result,
            StepResult::Passed {
                detail:
                    "the token holds meeting:read:admin, which admits GET /meetings/{meetingId}"
                        .into()
            }
        );

        let allowed = case.privileges(&[Privilege::MeetingRead]);
        let json = serde_json::to_value(allowed.explain()).unwrap();
        assert_eq!(json[0]["step"], "token");
        assert_eq!(json[0]["result"], "passed");
        assert_eq!(json[4]["step"], "business");
        assert!(json[3]["detail"].as_str().unwrap().contains("Meeting:Read"));

        let mut expired = Case::new(SERVER, &[])
            .on("GET", "/users", "", None)
            .in_account(Some(&w.acme));
        expired.check = TokenCheck::Expired;
        let steps = expired.explain();
        assert!(matches!(steps[0].result, StepResult::Failed { .. }));
        assert!(
            steps[1..]
                .iter()
                .all(|s| s.result == StepResult::NotReached)
        );
    }

    #[test]
    fn denial_body_carries_code_message_and_explain() {
        let denial = Case::new(AUTH, &["meeting:read:admin"]).denial();
        let body = denial.body();
        assert_eq!(body["code"], 200);
        assert_eq!(body["message"], "No permission.");
        assert_eq!(body["explain"]["step"], "reach");
        assert_eq!(body["explain"]["missing_privilege"], "Meeting:Read");
        assert_eq!(body["explain"]["missing_scopes"], serde_json::json!([]));
        assert_eq!(
            serde_json::to_value(Reach::AdminScopeAndPrivilege).unwrap(),
            "admin_scope_and_privilege"
        );
        assert_eq!(Step::Business.number(), 5);
        assert_eq!(ObjectKind::User.noun(), "user");
    }
}
