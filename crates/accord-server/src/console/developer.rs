//! *Developer* (`/console/developer`): the apps the signed-in user's account develops, and
//! creating one; one app's page (`/console/developer/app?id=…`) with its credential sets and
//! redirect URIs, client secret rotation (the new secret shown once, on the answer to the post
//! itself, never through a redirect), publish / unpublish, grants per account, install links,
//! the webhook endpoint with its validation state and events, webhook secret rotation, and the
//! delivery log with redeliver.
//!
//! Every read and change goes through the `/v2` handlers of `api/apps.rs` and
//! `api/webhook_deliveries.rs` (tenant: the app's developer account; `Marketplace:Read` to read,
//! `Marketplace:Edit` to change), so a member without the privilege who crafts a post gets the
//! API's refusal, and nothing changes.

use accord_core::apps::{AppKind, WEBHOOK_EVENTS};
use accord_core::privileges::Privilege;
use accord_core::scopes::{Scope, ScopeFamily};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::{Failure, Layout, Posted, Viewer, call, done, notice, required, when_rfc3339};
use crate::api::apps::{self, AppDetails, AppView, CredentialSetView};
use crate::api::webhook_deliveries::{self, WebhookDelivery};
use crate::pages::{Page, PostedForm};
use crate::state::AppState;

/// The developer console's list of apps.
pub const PATH: &str = "/console/developer";
/// One app's page (`?id=APP_ID`).
const APP_PATH: &str = "/console/developer/app";

const NOTICES: &[(&str, &str)] = &[
    ("redirects", "The redirect URIs are saved."),
    (
        "published",
        "The app is published: any account can install or authorize it now.",
    ),
    (
        "unpublished",
        "The app is back in development: only your account can use it, and its grants in other accounts ended.",
    ),
    (
        "webhook",
        "The webhook endpoint is saved. It receives events once it passes URL validation, which is due now.",
    ),
    (
        "retired",
        "The older client secret is retired: only the newest one works now.",
    ),
    (
        "redelivered",
        "The delivery is queued again, due now, with the same event id.",
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list_page))
        .route(APP_PATH, get(app_page))
        .route("/console/developer/create", post(create))
        .route("/console/developer/redirect-uris", post(save_redirect_uris))
        .route("/console/developer/status", post(set_status))
        .route("/console/developer/webhook", post(save_webhook))
        .route("/console/developer/rotate-secret", post(rotate_secret))
        .route("/console/developer/retire-secret", post(retire_secret))
        .route(
            "/console/developer/rotate-webhook-secret",
            post(rotate_webhook_secret),
        )
        .route("/console/developer/redeliver", post(redeliver))
}

/// One kind of app, as the create form explains it.
struct KindChoice {
    value: &'static str,
    label: &'static str,
    explanation: &'static str,
}

const KINDS: [KindChoice; 3] = [
    KindChoice {
        value: "user",
        label: "User app",
        explanation: "Each user authorizes it for themselves; it acts as that user and can never do more than they may.",
    },
    KindChoice {
        value: "account",
        label: "Account app",
        explanation: "An admin installs it once for the whole account; it acts for the account within its scopes and gives no user extra power.",
    },
    KindChoice {
        value: "server",
        label: "Server app",
        explanation: "No one installs it: your backend gets tokens for your own account from its client credentials.",
    },
];

/// One scope in the picker: its name and the consent page's words for it.
struct ScopeChoice {
    name: &'static str,
    text: String,
}

/// A group of the picker.
struct ScopeGroup {
    title: &'static str,
    scopes: Vec<ScopeChoice>,
}

/// The scope catalog grouped for the picker, each scope described as the consent page does.
fn scope_groups() -> Vec<ScopeGroup> {
    let groups: [(&str, Option<ScopeFamily>, bool); 5] = [
        (
            "Classic scopes: the user's own",
            Some(ScopeFamily::Classic),
            false,
        ),
        (
            "Classic scopes: every user of the account",
            Some(ScopeFamily::Classic),
            true,
        ),
        (
            "Granular scopes: the user's own",
            Some(ScopeFamily::Granular),
            false,
        ),
        (
            "Granular scopes: every user of the account",
            Some(ScopeFamily::Granular),
            true,
        ),
        ("Marketplace and reports (with either family)", None, true),
    ];
    groups
        .into_iter()
        .map(|(title, family, admin)| ScopeGroup {
            title,
            scopes: Scope::all()
                .filter(|s| s.family() == family && s.is_admin() == admin)
                .map(|s| ScopeChoice {
                    name: s.as_str(),
                    text: s.describe("the account that installs it"),
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/developer.html")]
struct ListTemplate {
    layout: Layout,
    /// `None` when the user's role may not see the account's apps.
    apps: Option<Vec<AppView>>,
    can_edit: bool,
    kinds: &'static [KindChoice],
    groups: Vec<ScopeGroup>,
}

/// `GET /console/developer`: the account's apps (through `GET /v2/apps`) and the create form.
async fn list_page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let apps = if viewer.may(Privilege::MarketplaceRead) {
        let Json(list) = apps::list(
            State(state.clone()),
            call("apps.list"),
            Extension(viewer.token.clone()),
        )
        .await?;
        Some(list.apps)
    } else {
        None
    };
    let page = ListTemplate {
        layout: viewer.layout("Developer", notice(query.as_deref(), NOTICES)),
        apps,
        can_edit: viewer.may(Privilege::MarketplaceEdit),
        kinds: &KINDS,
        groups: scope_groups(),
    };
    Ok(Page::new(StatusCode::OK, &page).into_response())
}

/// A secret made by the post being answered, shown this once.
struct ShownSecret {
    label: String,
    value: String,
}

/// A webhook event in the endpoint form.
struct EventChoice {
    name: &'static str,
    checked: bool,
}

/// One delivery of the log, as the page shows it.
struct DeliveryRow {
    id: String,
    event: String,
    status: String,
    attempts: i64,
    created: String,
    last_answer: String,
}

impl DeliveryRow {
    fn new(delivery: &WebhookDelivery) -> Self {
        let last_answer = delivery.attempt_log.last().map_or_else(String::new, |a| {
            match (a.status_code, &a.error) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(error)) => error.clone(),
                (None, None) => a.outcome.clone(),
            }
        });
        DeliveryRow {
            id: delivery.id.clone(),
            event: delivery.event.clone(),
            status: delivery.status.clone(),
            attempts: delivery.attempts,
            created: when_rfc3339(&delivery.created_time),
            last_answer,
        }
    }
}

#[derive(Template)]
#[template(path = "console/developer_app.html")]
struct AppTemplate {
    layout: Layout,
    app: AppDetails,
    /// The credential sets, with their redirect URIs one per line for the edit forms.
    sets: Vec<(CredentialSetView, String)>,
    is_server: bool,
    published: bool,
    /// In words, with a class: `ok`, `bad` or `muted`.
    validation: Option<(&'static str, String)>,
    events: Vec<EventChoice>,
    deliveries: Vec<DeliveryRow>,
    total_deliveries: u64,
    can_edit: bool,
    shown: Vec<ShownSecret>,
}

/// The app's page through `GET /v2/apps/{appId}` and its delivery log through
/// `GET /v2/apps/{appId}/webhook_deliveries`, with `shown` (secrets made now) on top.
async fn render_app(
    state: &AppState,
    viewer: &Viewer,
    app_id: &str,
    notice: Option<&'static str>,
    shown: Vec<ShownSecret>,
) -> Result<Response, Failure> {
    let Json(app) = apps::get(
        State(state.clone()),
        call("apps.get"),
        Extension(viewer.token.clone()),
        Path(app_id.to_owned()),
    )
    .await?;
    let Json(log) = webhook_deliveries::list(
        State(state.clone()),
        call("apps.webhook_deliveries.list"),
        Extension(viewer.token.clone()),
        Path(app_id.to_owned()),
        RawQuery(None),
    )
    .await?;
    let validation =
        app.webhook.as_ref().map(
            |hook| match (&hook.validated_time, &hook.validation_error) {
                (Some(at), _) => ("ok", format!("Validated {}", when_rfc3339(at))),
                (None, Some(error)) => ("bad", format!("Not validated: {error}")),
                (None, None) => ("muted", "Validation pending: due now".to_owned()),
            },
        );
    let subscribed = app
        .webhook
        .as_ref()
        .map(|h| h.events.clone())
        .unwrap_or_default();
    let page = AppTemplate {
        layout: viewer.layout(&app.app.name, notice),
        sets: app
            .app
            .credentials
            .iter()
            .map(|set| (set.clone(), set.redirect_uris.join("\n")))
            .collect(),
        is_server: app.app.kind == AppKind::Server.as_str(),
        published: app.app.status == "published",
        validation,
        events: WEBHOOK_EVENTS
            .iter()
            .map(|name| EventChoice {
                name,
                checked: subscribed.iter().any(|e| e == name),
            })
            .collect(),
        deliveries: log
            .webhook_deliveries
            .iter()
            .map(DeliveryRow::new)
            .collect(),
        total_deliveries: log.page.total_records,
        can_edit: viewer.may(Privilege::MarketplaceEdit),
        shown,
        app,
    };
    Ok(Page::new(StatusCode::OK, &page).into_response())
}

/// `GET /console/developer/app?id=APP_ID`.
async fn app_page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let query = query.unwrap_or_default();
    let app_id = form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "id")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| Failure::bad_form("Say which app to show (?id=…)."))?;
    render_app(
        &state,
        &viewer,
        &app_id,
        notice(Some(&query), NOTICES),
        Vec::new(),
    )
    .await
}

/// The app's page path, with its id in the query.
fn app_path(app_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id", app_id)
        .finish();
    format!("{APP_PATH}?{query}")
}

/// One entry per non-empty line.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A post about one app, checked: sent from this site with this browser's CSRF token
/// ([`Viewer::form`], before anything is read), naming the app in `app_id`.
struct AppPost {
    viewer: Viewer,
    form: PostedForm,
    app_id: String,
}

impl FromRequest<AppState> for AppPost {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let Posted { viewer, form } = Posted::from_request(request, state).await?;
        let app_id = required(&form, "app_id", "which app")
            .map_err(IntoResponse::into_response)?
            .to_owned();
        Ok(AppPost {
            viewer,
            form,
            app_id,
        })
    }
}

/// Runs `PATCH /v2/apps/{appId}` with `change`.
async fn change_app(
    state: &AppState,
    viewer: &Viewer,
    app_id: &str,
    change: Value,
) -> Result<apps::AppWithSecrets, Failure> {
    let Json(changed) = apps::update(
        State(state.clone()),
        call("apps.update"),
        Extension(viewer.token.clone()),
        Path(app_id.to_owned()),
        Bytes::from(change.to_string()),
    )
    .await?;
    Ok(changed)
}

/// `POST /console/developer/create`: `kind`, `name`, `scope` (repeated), `redirect_uri`; answers
/// with the new app's page, its client secrets shown this once.
async fn create(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> Result<Response, Failure> {
    let kind = required(&form, "kind", "which kind of app")?;
    let name = required(&form, "name", "the app's name")?;
    let scopes: Vec<&str> = form.all("scope").collect();
    let redirect_uris = lines(form.get("redirect_uri").unwrap_or_default());
    let request = json!({
        "name": name,
        "kind": kind,
        "scopes": scopes,
        "redirect_uris": {"production": redirect_uris, "development": redirect_uris},
    });
    let (_, Json(created)) = apps::create(
        State(state.clone()),
        call("apps.create"),
        Extension(viewer.token.clone()),
        Bytes::from(request.to_string()),
    )
    .await?;
    let shown = created
        .client_secrets
        .iter()
        .map(|secret| ShownSecret {
            label: format!(
                "Client secret of the {} credentials ({})",
                secret.environment, secret.client_id
            ),
            value: secret.client_secret.clone(),
        })
        .collect();
    let app_id = created.details.app.id.clone();
    render_app(
        &state,
        &viewer,
        &app_id,
        Some("The app is created, in development. Copy its client secrets now: they are shown only this once."),
        shown,
    )
    .await
}

/// `POST /console/developer/redirect-uris`: `app_id`, `environment`, `redirect_uris` (one per
/// line).
async fn save_redirect_uris(
    State(state): State<AppState>,
    AppPost {
        viewer,
        form,
        app_id,
    }: AppPost,
) -> Result<Response, Failure> {
    let app_id = app_id.as_str();
    let environment = required(&form, "environment", "which credential set")?;
    if !["production", "development"].contains(&environment) {
        return Err(Failure::bad_form(
            "The credential set is production or development (environment).",
        ));
    }
    let uris = lines(form.get("redirect_uris").unwrap_or_default());
    let change = json!({"redirect_uris": {environment: uris}});
    change_app(&state, &viewer, app_id, change).await?;
    Ok(done(&app_path(app_id), "redirects"))
}

/// `POST /console/developer/status`: `app_id`, `status` (`published` or `development`).
async fn set_status(
    State(state): State<AppState>,
    AppPost {
        viewer,
        form,
        app_id,
    }: AppPost,
) -> Result<Response, Failure> {
    let app_id = app_id.as_str();
    let status = required(&form, "status", "published or development")?;
    let changed = change_app(&state, &viewer, app_id, json!({"status": status})).await?;
    let notice = if changed.details.app.status == "published" {
        "published"
    } else {
        "unpublished"
    };
    Ok(done(&app_path(app_id), notice))
}

/// `POST /console/developer/webhook`: `app_id`, `url`, `event` (repeated). Saving makes the
/// endpoint's URL validation due now; a first endpoint's secret token is shown once.
async fn save_webhook(
    State(state): State<AppState>,
    AppPost {
        viewer,
        form,
        app_id,
    }: AppPost,
) -> Result<Response, Failure> {
    let app_id = app_id.as_str();
    let url = required(&form, "url", "the endpoint's URL")?.trim();
    let events: Vec<&str> = form.all("event").collect();
    let changed = change_app(
        &state,
        &viewer,
        app_id,
        json!({"webhook": {"url": url, "events": events}}),
    )
    .await?;
    match changed.webhook_secret_token {
        Some(token) => {
            let shown = vec![ShownSecret {
                label: "Webhook secret token".into(),
                value: token,
            }];
            let saved = NOTICES.iter().find(|(name, _)| *name == "webhook");
            render_app(&state, &viewer, app_id, saved.map(|(_, s)| *s), shown).await
        }
        None => Ok(done(&app_path(app_id), "webhook")),
    }
}

/// `POST /console/developer/rotate-secret`: `app_id`, `environment`; answers with the app's page,
/// the new client secret shown this once.
async fn rotate_secret(
    State(state): State<AppState>,
    AppPost {
        viewer,
        form,
        app_id,
    }: AppPost,
) -> Result<Response, Failure> {
    let app_id = app_id.as_str();
    let environment = required(&form, "environment", "which credential set")?;
    let (_, Json(rotated)) = apps::rotate_secret(
        State(state.clone()),
        call("apps.secret.rotate"),
        Extension(viewer.token.clone()),
        Path((app_id.to_owned(), environment.to_owned())),
    )
    .await?;
    let secret = ShownSecret {
        label: format!(
            "New client secret of the {} credentials ({})",
            rotated.secret.environment, rotated.secret.client_id
        ),
        value: rotated.secret.client_secret,
    };
    let made = "A new client secret is made; the older one keeps working until it is retired. \
                Copy the new one now: it is shown only this once.";
    render_app(&state, &viewer, app_id, Some(made), vec![secret]).await
}

/// `POST /console/developer/retire-secret`: `app_id`, `environment`: the end of a rotation.
async fn retire_secret(
    State(state): State<AppState>,
    AppPost {
        viewer,
        form,
        app_id,
    }: AppPost,
) -> Result<Response, Failure> {
    let app_id = app_id.as_str();
    let environment = required(&form, "environment", "which credential set")?;
    apps::retire_secret(
        State(state.clone()),
        call("apps.secret.retire"),
        Extension(viewer.token.clone()),
        Path((app_id.to_owned(), environment.to_owned())),
    )
    .await?;
    Ok(done(&app_path(app_id), "retired"))
}

/// `POST /console/developer/rotate-webhook-secret`: `app_id`; answers with the app's page, the
/// new webhook secret token shown this once.
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    AppPost { viewer, app_id, .. }: AppPost,
) -> Result<Response, Failure> {
    let app_id = app_id.as_str();
    let (_, Json(rotated)) = webhook_deliveries::rotate_secret(
        State(state.clone()),
        call("apps.webhook_secret.rotate"),
        Extension(viewer.token.clone()),
        Path(app_id.to_owned()),
    )
    .await?;
    let secret = ShownSecret {
        label: "New webhook secret token".into(),
        value: rotated.secret_token,
    };
    let made = "A new webhook secret token is in force; the endpoint receives nothing until it \
                passes URL validation with it. Copy it now: it is shown only this once.";
    render_app(&state, &viewer, app_id, Some(made), vec![secret]).await
}

/// `POST /console/developer/redeliver`: `app_id`, `delivery_id`.
async fn redeliver(
    State(state): State<AppState>,
    AppPost {
        viewer,
        form,
        app_id,
    }: AppPost,
) -> Result<Response, Failure> {
    let app_id = app_id.as_str();
    let delivery_id = required(&form, "delivery_id", "which delivery")?;
    let _queued = webhook_deliveries::redeliver(
        State(state.clone()),
        call("apps.webhook_deliveries.redeliver"),
        Extension(viewer.token.clone()),
        Path((app_id.to_owned(), delivery_id.to_owned())),
    )
    .await?;
    Ok(done(&app_path(app_id), "redelivered"))
}
