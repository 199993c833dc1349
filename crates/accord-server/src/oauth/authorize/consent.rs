//! Who may add the app — asked of `accord_core::install` only, from facts loaded from the
//! store — and the sign-in and consent pages in every variant of console.md.

use accord_core::apps::{AppKind, Environment};
use accord_core::ids::{AccountId, AppId};
use accord_core::install::{
    AccountFacts, AppFacts, AuthorizeRefusal, InstallRefusal, UserFacts, check_account_install,
    check_user_authorize,
};
use accord_core::privileges::Privilege;
use accord_core::scopes::Scope;
use accord_core::users::UserStatus;
use accord_store::accounts::Account;
use accord_store::users::User;
use accord_store::{Store, StoreError};
use askama::Template;
use axum::http::StatusCode;

use super::request::Authorization;
use crate::pages::security::Csp;
use crate::pages::{Page, PageError};
use crate::state::AppState;

/// Why the user cannot add the app, whichever kind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    AdminRequired(Vec<Privilege>),
    PreapprovalRequired,
    Blocked,
    DevelopmentApp,
    UserNotActive,
    WrongKind,
}

impl From<InstallRefusal> for Refusal {
    fn from(refusal: InstallRefusal) -> Self {
        match refusal {
            InstallRefusal::AdminRequired { missing } => Refusal::AdminRequired(missing),
            InstallRefusal::Blocked => Refusal::Blocked,
            InstallRefusal::DevelopmentAppOutsideDeveloperAccount => Refusal::DevelopmentApp,
            InstallRefusal::UserNotActive => Refusal::UserNotActive,
            InstallRefusal::WrongKind => Refusal::WrongKind,
        }
    }
}

impl From<AuthorizeRefusal> for Refusal {
    fn from(refusal: AuthorizeRefusal) -> Self {
        match refusal {
            AuthorizeRefusal::PreapprovalRequired => Refusal::PreapprovalRequired,
            AuthorizeRefusal::Blocked => Refusal::Blocked,
            AuthorizeRefusal::DevelopmentAppOutsideDeveloperAccount => Refusal::DevelopmentApp,
            AuthorizeRefusal::UserNotActive => Refusal::UserNotActive,
            AuthorizeRefusal::WrongKind => Refusal::WrongKind,
        }
    }
}

/// The user's account, and either the scopes the grant would get or why there is none.
pub(super) struct Eligibility {
    pub(super) account: Account,
    pub(super) outcome: Result<Vec<Scope>, Refusal>,
}

/// Loads the facts `accord_core::install` needs and asks it. `accepted_optional` is the optional
/// scopes the user kept (`None`: all that are offered).
pub(super) async fn eligibility(
    state: &AppState,
    request: &Authorization,
    user: &User,
    accepted_optional: Option<&[Scope]>,
) -> Result<Eligibility, PageError> {
    let store = state.store();
    let account = store.account(user.account_id.as_str()).await?;
    let app_ids = |ids: Vec<String>| -> Vec<AppId> {
        ids.into_iter()
            .filter_map(|id| AppId::parse(id).ok())
            .collect()
    };
    let blocked = app_ids(store.blocked_apps(account.id.as_str()).await?);
    let preapproved = app_ids(
        store
            .preapprovals(account.id.as_str())
            .await?
            .into_iter()
            .filter(|p| p.status == "approved")
            .map(|p| p.app_id)
            .collect(),
    );
    let privileges = store.user_privileges(user.id.as_str()).await?;
    let developer_account = AccountId::parse(request.app.developer_account_id.clone())
        .map_err(|e| PageError::from(StoreError::Corrupt(e.0)))?;
    let app = AppFacts {
        id: &request.app.id,
        kind: request.app.kind,
        status: request.effective_status(),
        developer_account: &developer_account,
        required: &request.app.required_scopes,
        optional: &request.app.optional_scopes,
    };
    let offered = request.offered_optional();
    let user_facts = UserFacts {
        status: user.status,
        is_owner: user.is_owner(),
        privileges,
        accepted_optional: Some(accepted_optional.unwrap_or(&offered)),
    };
    let account_facts = AccountFacts {
        id: &account.id,
        app_approval: account.app_approval,
        blocked_apps: &blocked,
        preapproved_apps: &preapproved,
    };
    let outcome = match request.app.kind {
        AppKind::Account => {
            check_account_install(&app, &user_facts, &account_facts).map_err(Refusal::from)
        }
        AppKind::User | AppKind::Server => {
            check_user_authorize(&app, &user_facts, &account_facts).map_err(Refusal::from)
        }
    };
    Ok(Eligibility { account, outcome })
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInTemplate<'a> {
    app_name: &'a str,
    csrf_token: &'a str,
    flow: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

struct ScopeLine {
    scope: &'static str,
    text: String,
}

struct UnavailableScope {
    scope: &'static str,
    text: String,
    privilege: &'static str,
}

enum RefusalView {
    AdminRequired {
        missing: Vec<&'static str>,
    },
    Preapproval {
        requested: bool,
        approvers: Vec<String>,
    },
    Blocked,
    DevelopmentApp,
    UserNotActive,
    WrongKind,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentTemplate<'a> {
    csrf_token: &'a str,
    flow: &'a str,
    app_name: &'a str,
    developer_name: &'a str,
    kind_label: &'static str,
    account_wide: bool,
    account_name: &'a str,
    user_name: String,
    user_email: &'a str,
    signed_in: bool,
    /// The link uses the development credential set (usable only in the developer account).
    development_credentials: bool,
    required: Vec<ScopeLine>,
    optional: Vec<ScopeLine>,
    unavailable: Vec<UnavailableScope>,
    refusal: Option<RefusalView>,
}

fn kind_label(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Account => "account-level app",
        AppKind::User => "user-level app",
        AppKind::Server => "Server-to-Server app",
    }
}

fn display_name(user: &User) -> String {
    let name = format!("{} {}", user.first_name, user.last_name);
    match name.trim() {
        "" => user.email.to_string(),
        name => name.to_owned(),
    }
}

/// The active users of an account who may answer a pre-approval request (Marketplace:Edit).
async fn approvers(store: &Store, account_id: &str) -> Result<Vec<String>, PageError> {
    let roles = store.roles(account_id).await?;
    let users = store.users(account_id).await?;
    Ok(users
        .iter()
        .filter(|user| user.status == UserStatus::Active)
        .filter(|user| {
            user.is_owner()
                || roles.iter().any(|role| {
                    role.id == user.role_id && role.privileges.contains(Privilege::MarketplaceEdit)
                })
        })
        .map(display_name)
        .collect())
}

pub(super) fn sign_in_page(
    request: &Authorization,
    csrf_token: &str,
    flow: &str,
    email: &str,
    error: Option<&str>,
) -> Page {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    sign_in_form(request, csrf_token, flow, email, status, error)
}

/// The sign-in form with `status` and, when there is one, a message saying what went wrong (a
/// wrong password, too many failures, a busy server).
pub(super) fn sign_in_form(
    request: &Authorization,
    csrf_token: &str,
    flow: &str,
    email: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Page {
    Page::new(
        status,
        &SignInTemplate {
            app_name: &request.app.name,
            csrf_token,
            flow,
            email,
            error,
        },
    )
}

/// The consent page for `user`, in the variant the install rules decide.
pub(super) async fn consent_page(
    state: &AppState,
    request: &Authorization,
    user: &User,
    csrf_token: &str,
    flow: &str,
    signed_in: bool,
) -> Result<Page, PageError> {
    let store = state.store();
    let Eligibility { account, outcome } =
        eligibility(state, request, user, request.requested.as_deref()).await?;
    let developer_name = match store.account(&request.app.developer_account_id).await {
        Ok(developer) => developer.name,
        Err(StoreError::NotFound { .. }) => "an unknown developer".to_owned(),
        Err(error) => return Err(error.into()),
    };
    let line = |scope: Scope| ScopeLine {
        scope: scope.as_str(),
        text: scope.describe(&account.name),
    };
    let required = request
        .app
        .required_scopes
        .iter()
        .copied()
        .map(line)
        .collect();
    let (optional, unavailable, refusal) = match &outcome {
        Ok(granted) => {
            let offered = request.offered_optional();
            let optional = offered
                .iter()
                .copied()
                .filter(|scope| granted.contains(scope))
                .map(line)
                .collect();
            let unavailable = offered
                .iter()
                .copied()
                .filter(|scope| !granted.contains(scope))
                .map(|scope| UnavailableScope {
                    scope: scope.as_str(),
                    text: scope.describe(&account.name),
                    privilege: scope.privilege().as_str(),
                })
                .collect();
            (optional, unavailable, None)
        }
        Err(refusal) => {
            let view = match refusal {
                Refusal::AdminRequired(missing) => RefusalView::AdminRequired {
                    missing: missing.iter().map(|p| p.as_str()).collect(),
                },
                Refusal::PreapprovalRequired => {
                    let requested = store
                        .preapprovals(account.id.as_str())
                        .await?
                        .iter()
                        .any(|p| p.app_id == request.app.id.as_str() && p.status == "requested");
                    RefusalView::Preapproval {
                        requested,
                        approvers: approvers(store, account.id.as_str()).await?,
                    }
                }
                Refusal::Blocked => RefusalView::Blocked,
                Refusal::DevelopmentApp => RefusalView::DevelopmentApp,
                Refusal::UserNotActive => RefusalView::UserNotActive,
                Refusal::WrongKind => RefusalView::WrongKind,
            };
            (Vec::new(), Vec::new(), Some(view))
        }
    };
    let status = match &outcome {
        Ok(_) | Err(Refusal::PreapprovalRequired) => StatusCode::OK,
        Err(_) => StatusCode::FORBIDDEN,
    };
    let page = Page::new(
        status,
        &ConsentTemplate {
            csrf_token,
            flow,
            app_name: &request.app.name,
            developer_name: &developer_name,
            kind_label: kind_label(request.app.kind),
            account_wide: request.app.kind == AppKind::Account,
            account_name: &account.name,
            user_name: display_name(user),
            user_email: user.email.as_str(),
            signed_in,
            development_credentials: request.environment == Environment::Development,
            required,
            optional,
            unavailable,
            refusal,
        },
    );
    // The decision ends in a redirect to the client, which Chrome checks against form-action.
    Ok(page.with_csp(Csp::with_form_target(&request.redirect_uri)))
}
