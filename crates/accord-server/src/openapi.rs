//! `GET /openapi.json`: an OpenAPI 3.1 document of every `/v2` and `/oauth` endpoint, generated
//! from the code — each handler's `#[utoipa::path]` annotation and the typed bodies it reads and
//! writes — then completed from the endpoint catalog (`accord_core::endpoints`), the same table
//! the permission rule reads: each `/v2` operation names the scopes that admit it, the privilege a
//! user grant needs and its rate-limit category, so the document cannot disagree with the rule.
//!
//! A snapshot test (`tests/it/openapi.rs`) keeps the document under review: a change to any route,
//! body or scope shows up as a diff of `crates/accord-server/openapi.json`.

use std::collections::BTreeMap;

use accord_core::endpoints;
use accord_core::scopes::Scope;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response as ResponseDoc, ResponseBuilder};
use utoipa::openapi::security::{
    AuthorizationCode, ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Scopes,
    SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Server};
use utoipa::{IntoParams, IntoResponses, OpenApi};

use crate::state::AppState;

/// The security scheme `/v2` operations name, with their admitting scopes.
pub const ZOOM_OAUTH: &str = "zoom_oauth";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accord",
        description = "Zoom's OAuth 2.x dialect and resource API, with the permission rule in force. \
            Every `/v2` call needs a bearer access token from `/oauth/token`; a refusal names the \
            rule's step in `explain`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::api::users::list_users,
        crate::api::users::create_user,
        crate::api::users::get_user,
        crate::api::users::update_user,
        crate::api::users::delete_user,
        crate::api::users::update_status,
        crate::api::assistants::list,
        crate::api::assistants::add,
        crate::api::assistants::delete_all,
        crate::api::assistants::delete_one,
        crate::api::assistants::schedulers,
        crate::api::assistants::delete_schedulers,
        crate::api::assistants::delete_scheduler,
        crate::api::meetings::list,
        crate::api::meetings::create,
        crate::api::meetings::get,
        crate::api::meetings::update,
        crate::api::meetings::delete,
        crate::api::roles::list,
        crate::api::roles::create,
        crate::api::roles::get,
        crate::api::roles::update,
        crate::api::roles::delete,
        crate::api::roles::members,
        crate::api::roles::add_members,
        crate::api::roles::remove_member,
        crate::api::report::operation_logs,
        crate::api::report::granted_apps,
        crate::api::report::uninstall,
        crate::api::marketplace::remove_authorization,
        crate::api::marketplace::block,
        crate::api::marketplace::unblock,
        crate::api::marketplace::list_requests,
        crate::api::marketplace::decide_request,
        crate::api::marketplace::settings,
        crate::api::marketplace::update_settings,
        crate::api::marketplace::remove_own_authorization,
        crate::api::webhook_deliveries::list,
        crate::api::webhook_deliveries::redeliver,
        crate::api::webhook_deliveries::rotate_secret,
        crate::api::apps::list,
        crate::api::apps::create,
        crate::api::apps::get,
        crate::api::apps::update,
        crate::api::apps::rotate_secret,
        crate::api::apps::retire_secret,
        crate::oauth::authorize::authorize,
        crate::oauth::authorize::sign_in,
        crate::oauth::authorize::choose_account,
        crate::oauth::authorize::decide,
        crate::oauth::authorize::sign_out,
        crate::oauth::token::token,
        crate::oauth::revoke::revoke,
        crate::oauth::introspect::introspect,
        crate::oauth::metadata::metadata,
        crate::oauth::metadata::jwks,
    ),
    components(schemas(
        crate::errors::ApiError,
        crate::errors::FieldError,
        crate::oauth::errors::OAuthErrorBody,
        // Named by query parameters only, which utoipa does not collect by itself.
        crate::api::users::UserStatusFilter,
        crate::api::users::DeleteAction,
        crate::api::meetings::MeetingListType,
    )),
    tags(
        (name = "Users", description = "Users of the token's account."),
        (name = "Assistants", description = "Scheduling assistants: who may schedule for whom."),
        (name = "Meetings", description = "Meetings, judged on their host."),
        (name = "Roles", description = "Roles, their privileges and members (account-wide)."),
        (name = "Reports", description = "The account's audit log."),
        (name = "Apps", description = "The apps granted in the account: removals, blocks, pre-approvals, the app policy."),
        (name = "Developer", description = "The apps the token's account develops: create, change, publish, client secrets (Accord extension)."),
        (name = "Webhooks", description = "An app's webhook delivery log, redelivery and secret token, for its developer account."),
        (name = "OAuth", description = "The authorization server, in Zoom's dialect."),
    ),
)]
struct ApiDoc;

/// The document as this server serves it: `servers` names its public URL.
pub fn document(public_url: &str) -> Document {
    let mut doc = ApiDoc::openapi();
    complete_from_catalog(&mut doc);
    doc.servers = Some(vec![Server::new(public_url)]);
    doc
}

/// `GET /openapi.json`.
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut response = Json(document(&state.config().public_url)).into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    response
}

/// Adds what the endpoint catalog knows to every `/v2` operation: its security requirement (the
/// scopes that admit it), and a line on the privilege, reach and rate-limit category. Also
/// declares the security schemes, with every scope of the catalog described.
fn complete_from_catalog(doc: &mut Document) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(api_path) = path.strip_prefix("/v2") else {
            continue;
        };
        for (method, operation) in [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ] {
            if let (Some(operation), Some(endpoint)) =
                (operation.as_mut(), endpoints::find(method, api_path))
            {
                describe_rule(operation, endpoint);
            }
        }
    }
    let described: Vec<(&str, String)> = Scope::all()
        .map(|scope| (scope.as_str(), scope.describe("the account")))
        .collect();
    let scopes = || Scopes::from_iter(described.iter().map(|(name, what)| (*name, what.as_str())));
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        ZOOM_OAUTH,
        SecurityScheme::OAuth2(OAuth2::with_description(
            [
                Flow::AuthorizationCode(AuthorizationCode::new(
                    "/oauth/authorize",
                    "/oauth/token",
                    scopes(),
                )),
                Flow::ClientCredentials(ClientCredentials::new("/oauth/token", scopes())),
            ],
            "Access tokens from `/oauth/token`: authorization code (+ PKCE) for account and user \
             apps, `account_credentials` for server-to-server apps.",
        )),
    );
    components.add_security_scheme(
        "client_basic",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
    );
}

fn describe_rule(operation: &mut Operation, endpoint: &endpoints::Endpoint) {
    let admitting: Vec<&str> = endpoint
        .scopes
        .admitting()
        .into_iter()
        .map(Scope::as_str)
        .collect();
    operation.security = Some(vec![SecurityRequirement::new(
        ZOOM_OAUTH,
        admitting.clone(),
    )]);
    let reach = if endpoint.account_wide {
        "Account-wide: an admin scope, and on a user grant the privilege too."
    } else {
        "A user-form scope reaches only `me` (and, for meetings, the users who made `me` their \
         assistant); an admin form reaches every user of the account."
    };
    let guarded = match endpoint.guarded {
        Some(change) => format!(
            " Being the user is not enough to {}: it needs {} over the user (an admin scope, and \
             on a user grant the privilege too) even when the user is `me`.",
            change.describe(),
            endpoint.privilege.as_str(),
        ),
        None => String::new(),
    };
    let rule = format!(
        "Admitting scopes: {}. Privilege a user grant's user needs: {}. {reach}{guarded} \
         Rate-limit category: {}.",
        admitting.join(", "),
        endpoint.privilege.as_str(),
        endpoint.rate_limit.as_str(),
    );
    operation.description = Some(match operation.description.take() {
        Some(text) if !text.is_empty() => format!("{text}\n\n{rule}"),
        _ => rule,
    });
    operation.operation_id = Some(endpoint.name.to_owned());
}

fn error_response(description: &str, schema: &str) -> RefOr<ResponseDoc> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
        .into()
}

fn html_response(description: &str) -> RefOr<ResponseDoc> {
    let text = utoipa::openapi::schema::Object::with_type(utoipa::openapi::Type::String);
    ResponseBuilder::new()
        .description(description)
        .content(
            "text/html",
            ContentBuilder::new().schema(Some(text)).build(),
        )
        .build()
        .into()
}

/// What the sign-in and consent pages answer: HTML pages, and 303s.
pub struct PageAnswers;

impl IntoResponses for PageAnswers {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        let redirect = ResponseBuilder::new()
            .description(
                "To the client's redirect URI with `code` or `error`, and `state` and `iss`; or \
                 back to a page",
            )
            .build()
            .into();
        BTreeMap::from([
            ("200".to_owned(), html_response("The page (HTML)")),
            ("303".to_owned(), redirect),
            (
                "400".to_owned(),
                html_response(
                    "An error page: the request cannot be trusted enough to redirect (HTML)",
                ),
            ),
            (
                "401".to_owned(),
                html_response("Sign-in failed: the form again (HTML)"),
            ),
            (
                "403".to_owned(),
                html_response("The CSRF token or the signed flow state is missing or wrong (HTML)"),
            ),
            (
                "429".to_owned(),
                html_response(
                    "Too many failed sign-ins for the email or from the address: the form again, \
                     saying when to retry, with `Retry-After`; the password was not checked (HTML)",
                ),
            ),
            (
                "503".to_owned(),
                html_response(
                    "The database cannot be reached, or every password-check worker is busy \
                     (sign-in, with `Retry-After`) (HTML)",
                ),
            ),
        ])
    }
}

/// The failures every `/v2` endpoint may answer with, in Zoom's error shape.
pub struct Failures;

impl IntoResponses for Failures {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        [
            (
                "400",
                "Refused or invalid: 4711 no admitting scope, 200 no permission (both with \
                 `explain`), 300 validation (with `errors`), 1034 no such role, …",
            ),
            (
                "401",
                "124: the bearer token is missing, invalid, expired or its grant ended.",
            ),
            (
                "404",
                "No such object in the token's account (another account's objects read the same): \
                 1001 user, 3001 meeting, …",
            ),
            (
                "409",
                "1005: a user with that email already exists in the account.",
            ),
            (
                "429",
                "A rate limit was reached; `Retry-After` says when to try again.",
            ),
            (
                "500",
                "An internal error (a bug, logged); x-zm-trackingid names the log line.",
            ),
            ("503", "The database cannot be reached; try again shortly."),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), error_response(description, "Error")))
        .collect()
    }
}

/// The failures of the token, revocation and introspection endpoints.
pub struct OAuthFailures;

impl IntoResponses for OAuthFailures {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        [
            (
                "400",
                "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, …",
            ),
            ("401", "invalid_client: unknown client or wrong secret."),
            (
                "429",
                "slow_down: too many failed client authentications for this client_id or from \
                 this address; `Retry-After` says when to try again. The secret was not checked.",
            ),
            (
                "500",
                "server_error: an internal error (a bug, logged); x-zm-trackingid names the log line.",
            ),
            (
                "503",
                "temporarily_unavailable: the database cannot be reached.",
            ),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), error_response(description, "OAuthError")))
        .collect()
    }
}

/// Paging of list endpoints (keyset pages; the token is opaque, tamper-proof and bound to the
/// query that made it).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; handlers read it through `PageQuery`
pub struct PageParams {
    /// Items per page: 30 when absent; above 300 reads as 300.
    #[param(minimum = 1)]
    page_size: Option<u32>,
    /// From the previous page's answer; valid for 15 minutes.
    next_page_token: Option<String>,
}
