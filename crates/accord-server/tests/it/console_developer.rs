//! The developer console (`/console/developer`) and the `/v2/apps` endpoints it runs on: Dana
//! (Devco's owner) creates an app, rotates its secret (shown once), publishes it, edits its
//! redirect URIs, sees Meeting Sync's grants and its delivery log and redelivers; Adam (Acme)
//! gets the 404 another account's app gets; Mia (a Devco member without the marketplace
//! privileges) is refused every form and nothing changes. The API tests use Devco's `devops`
//! server app (marketplace admin scopes) and Acme's `acme-ops`.

use accord_core::apps::{AppKind, AppStatus};
use accord_core::ids::{Email, Secret};
use accord_store::Store;
use accord_store::apps::{NewApp, NewCredentials};
use accord_store::audit::Actor;
use accord_store::users::NewUser;
use accord_testkit::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console_support::{approve, form_at, seed, sign_in};
use crate::support::{Form, Page, TestServer};

/// This file's own additions to the console seed: Mia, a Devco member; `devops`, a Devco server
/// app holding the marketplace admin scopes; `acme-ops`, the same in Acme.
async fn extra_seed(store: &Store) {
    let mut mia = NewUser::new(Email::parse("mia@devco.test").expect("an email"));
    mia.first_name = "Mia".into();
    mia.password = Some(Secret::new("mia-password".to_owned()));
    store
        .create_user(&Actor::cli(), "devco", mia)
        .await
        .expect("Mia");
    for (id, developer) in [("devops", "dana"), ("acme-ops", "olive")] {
        let new = NewApp {
            id: Some(accord_core::ids::AppId::parse(id.to_owned()).expect("an app id")),
            name: id.to_owned(),
            kind: AppKind::Server,
            developer_user_id: developer.to_owned(),
            status: AppStatus::Development,
            required_scopes: vec![
                "marketplace:read:admin".into(),
                "marketplace:write:admin".into(),
            ],
            optional_scopes: Vec::new(),
            public_client: false,
            development: NewCredentials::default(),
            production: NewCredentials {
                client_id: Some(id.to_owned()),
                client_secret: Some(Secret::new(format!("{id}-secret-0123456789"))),
                redirect_uris: Vec::new(),
            },
            webhook: None,
        };
        store
            .create_app(&Actor::cli(), new)
            .await
            .expect("a server app");
    }
}

async fn start(db: &accord_testkit::TestDbRef) -> TestServer {
    seed(&db.store).await;
    extra_seed(&db.store).await;
    TestServer::start(db).await
}

/// Every secret shown on the page (`<p class="secret">…</p>`).
fn shown_secrets(page: &Page) -> Vec<String> {
    page.html
        .split("<p class=\"secret\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

fn fields(form: &Form, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    form.with(extra)
}

async fn authenticates(store: &Store, client_id: &str, secret: &str) -> bool {
    store
        .authenticate_client(client_id, &Secret::new(secret.to_owned()))
        .await
        .expect("a check")
        .is_some()
}

#[tokio::test]
async fn dana_creates_an_app_rotates_its_secret_publishes_it_and_edits_its_redirect_uris() {
    on_every_backend(|db| async move {
        let server = start(&db).await;
        let store = &db.store;
        let dana = server.browser();
        sign_in(&dana, "dana@devco.test").await;
        let list = dana.get("/console/developer").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.html);
        for name in ["Meeting Sync", "Notes", "Backend", "sync", "notes"] {
            assert!(list.html.contains(name), "{name}: {}", list.html);
        }
        // The picker explains each scope in the consent page's words.
        let read = accord_core::scopes::Scope::parse("meeting:read").expect("a scope");
        assert!(
            list.html
                .contains(&read.describe("the account that installs it"))
        );
        assert!(list.html.contains("value=\"meeting:write:admin\""));

        // Bad input: the API's field errors, on the page, and nothing created.
        let create = form_at(&list, "/console/developer/create", &[]);
        let refused = dana
            .post(
                &create.action,
                &fields(
                    &create,
                    &[
                        ("kind", "user"),
                        ("name", "Calendar Bridge"),
                        ("scope", "meeting:read"),
                        ("redirect_uri", "javascript:alert(1)"),
                    ],
                ),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
        assert!(
            refused.html.contains("redirect_uris.production[0]"),
            "{}",
            refused.html
        );
        assert_eq!(store.apps(Some("devco")).await.unwrap().len(), 4);

        let created = dana
            .post(
                &create.action,
                &fields(
                    &create,
                    &[
                        ("kind", "user"),
                        ("name", "Calendar Bridge"),
                        ("scope", "meeting:read"),
                        ("scope", "user:read"),
                        ("redirect_uri", "http://127.0.0.1:9/calendar"),
                    ],
                ),
            )
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.html);
        assert_eq!(created.header("cache-control"), Some("no-store"));
        let app = store
            .apps(Some("devco"))
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.name == "Calendar Bridge")
            .expect("the new app");
        assert_eq!(app.kind, AppKind::User);
        assert_eq!(app.status, AppStatus::Development);
        let names: Vec<&str> = app.required_scopes.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["meeting:read", "user:read"]);
        let production = app
            .credential_set(accord_core::apps::Environment::Production)
            .expect("production credentials")
            .clone();
        assert_eq!(production.redirect_uris, ["http://127.0.0.1:9/calendar"]);
        assert!(created.html.contains(&production.client_id));
        let secrets = shown_secrets(&created);
        assert_eq!(secrets.len(), 2, "one per credential set: {}", created.html);
        let mut old = None;
        for secret in &secrets {
            if authenticates(store, &production.client_id, secret).await {
                old = Some(secret.clone());
            }
        }
        let old = old.expect("the production secret shown authenticates");

        // Rotating: the new secret is shown on the answer itself; old and new both work.
        let app_path = format!("/console/developer/app?id={}", app.id);
        let page = dana.get(&app_path).await;
        assert!(shown_secrets(&page).is_empty());
        assert!(!page.html.contains(&old), "shown only once");
        let rotate = form_at(
            &page,
            "/console/developer/rotate-secret",
            &[("environment", "production")],
        );
        let rotated = dana.post(&rotate.action, &rotate.fields).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.html);
        assert_eq!(rotated.header("cache-control"), Some("no-store"));
        let new = shown_secrets(&rotated).pop().expect("the new secret");
        assert_ne!(new, old);
        assert!(authenticates(store, &production.client_id, &old).await);
        assert!(authenticates(store, &production.client_id, &new).await);
        let reloaded = dana.get(&app_path).await;
        assert!(!reloaded.html.contains(&new), "not shown again");
        assert!(
            reloaded.html.contains("2 active secrets"),
            "{}",
            reloaded.html
        );

        // Publishing.
        let publish = form_at(&reloaded, "/console/developer/status", &[]);
        assert_eq!(publish.field("status"), "published");
        let answer = dana.post(&publish.action, &publish.fields).await;
        let published = dana.follow(&answer).await;
        assert!(
            published.html.contains("The app is published"),
            "{}",
            published.html
        );
        assert_eq!(
            store.app(app.id.as_str()).await.unwrap().status,
            AppStatus::Published
        );
        let link = published
            .html
            .split("Install link")
            .nth(1)
            .unwrap_or_default();
        assert!(
            link.contains(&format!(
                "/oauth/authorize?response_type=code&#38;client_id={}&#38;redirect_uri=",
                production.client_id
            )),
            "{link}"
        );

        // Editing the production redirect URIs.
        let edit = form_at(
            &published,
            "/console/developer/redirect-uris",
            &[("environment", "production")],
        );
        let answer = dana
            .post(
                &edit.action,
                &fields(
                    &edit,
                    &[(
                        "redirect_uris",
                        "http://127.0.0.1:9/a\r\nhttp://127.0.0.1:9/b\r\n",
                    )],
                ),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
        let saved = dana.follow(&answer).await;
        assert!(saved.html.contains("The redirect URIs are saved."));
        let changed = store.app(app.id.as_str()).await.unwrap();
        assert_eq!(
            changed
                .credential_set(accord_core::apps::Environment::Production)
                .unwrap()
                .redirect_uris,
            ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
        );
        // Ending the rotation: the older secret retired, the newer alone works.
        let retire = form_at(
            &saved,
            "/console/developer/retire-secret",
            &[("environment", "production")],
        );
        let answer = dana.post(&retire.action, &retire.fields).await;
        let retired = dana.follow(&answer).await;
        assert!(
            retired.html.contains("The older client secret is retired"),
            "{}",
            retired.html
        );
        assert!(!authenticates(store, &production.client_id, &old).await);
        assert!(authenticates(store, &production.client_id, &new).await);
        let actions: Vec<String> = store
            .audit_log("devco")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.target_id == app.id.as_str())
            .map(|e| e.action)
            .collect();
        for action in ["app.created", "app.secret_rotated", "app.updated"] {
            assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn dana_sees_meeting_syncs_grants_and_redelivers_its_app_deauthorized() {
    on_every_backend(|db| async move {
        let server = start(&db).await;
        let store = &db.store;
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;
        approve(&adam, "sync").await;

        let dana = server.browser();
        sign_in(&dana, "dana@devco.test").await;
        let page = dana.get("/console/developer/app?id=meeting-sync").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(
            page.html
                .contains("<tr><td><code>acme</code></td><td>1</td><td>0</td><td>0</td></tr>"),
            "one installation in Acme: {}",
            page.html
        );
        assert!(page.html.contains("Nothing was sent to this app yet."));

        // The uninstall queues app_deauthorized; the endpoint's validation fails (nothing
        // listens), which the page shows.
        db.clock.advance_seconds(1);
        store
            .uninstall_app(&Actor::cli(), "acme", "meeting-sync", "the test uninstalls")
            .await
            .expect("an uninstall");
        server.deliver_webhooks().await;
        let page = dana.get("/console/developer/app?id=meeting-sync").await;
        assert!(
            page.html.contains("No account holds a grant"),
            "{}",
            page.html
        );
        assert!(
            page.html.contains("<code>app_deauthorized</code>"),
            "{}",
            page.html
        );
        assert!(page.html.contains("Not validated"), "{}", page.html);
        let (queued, _) = store
            .webhook_deliveries("meeting-sync", None, 1)
            .await
            .unwrap();
        let event = queued[0].id.clone();

        db.clock.advance_seconds(60);
        let redeliver = form_at(
            &page,
            "/console/developer/redeliver",
            &[("delivery_id", &event)],
        );
        let answer = dana.post(&redeliver.action, &redeliver.fields).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
        let after = dana.follow(&answer).await;
        assert!(after.html.contains("queued again"), "{}", after.html);
        let stored = store.webhook_delivery(&event).await.unwrap();
        assert_eq!((stored.status.as_str(), stored.attempts), ("pending", 0));
        assert_eq!(stored.next_attempt_at, store.now());
        let audit = store.audit_log("devco").await.unwrap();
        assert!(audit.iter().any(|e| e.action == "webhook.redelivered"));

        // Saving the endpoint keeps its token and makes its URL validation due now.
        let endpoint = form_at(&after, "/console/developer/webhook", &[]);
        let answer = dana
            .post(
                &endpoint.action,
                &fields(&endpoint, &[("url", "http://127.0.0.1:9/hooks/sync-v2")]),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
        let state = store
            .webhook_endpoint("meeting-sync")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.url, "http://127.0.0.1:9/hooks/sync-v2");
        assert_eq!(state.events, ["app_deauthorized", "meeting.created"]);
        assert_eq!(
            (state.validated_at, state.validation_due_at),
            (None, Some(store.now()))
        );
        let token = store
            .webhook_secret_token("meeting-sync")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(token.expose(), "sync-hook-secret-0123456789");

        // Rotating the webhook secret token: shown once, on the answer.
        let page = dana.follow(&answer).await;
        let rotate = form_at(&page, "/console/developer/rotate-webhook-secret", &[]);
        let rotated = dana.post(&rotate.action, &rotate.fields).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.html);
        let shown = shown_secrets(&rotated).pop().expect("the new token");
        let token = store
            .webhook_secret_token("meeting-sync")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(token.expose(), shown);
        let reloaded = dana.get("/console/developer/app?id=meeting-sync").await;
        assert!(!reloaded.html.contains(&shown));

        // Adam asks for Devco's app: the answer a missing app gets.
        let foreign = adam.get("/console/developer/app?id=meeting-sync").await;
        let missing = adam.get("/console/developer/app?id=no-such-app").await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.html);
        assert!(foreign.html.contains("App does not exist: meeting-sync."));
        assert_eq!(
            foreign.html.replace("meeting-sync", "{app}"),
            missing.html.replace("no-such-app", "{app}")
        );
        let list = adam.get("/console/developer").await;
        assert!(!list.html.contains("Meeting Sync"), "{}", list.html);
    })
    .await;
}

#[tokio::test]
async fn a_member_without_the_marketplace_privileges_is_refused_every_form_and_nothing_changes() {
    on_every_backend(|db| async move {
        let server = start(&db).await;
        let store = &db.store;
        let mia = server.browser();
        let home = sign_in(&mia, "mia@devco.test").await;
        let csrf = home.form_with("csrf_token").field("csrf_token");
        let list = mia.get("/console/developer").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.html);
        assert!(list.html.contains("Marketplace:Read"), "{}", list.html);
        assert!(!list.html.contains("/console/developer/create"));
        assert!(!list.html.contains("Notes"));
        let page = mia.get("/console/developer/app?id=notes").await;
        assert!(page.status.is_client_error(), "{}", page.html);

        let before = serde_json::to_string(&store.app("notes").await.unwrap()).unwrap();
        let audit_before = store.audit_log("devco").await.unwrap().len();
        let posts: [(&str, &[(&str, &str)]); 8] = [
            (
                "create",
                &[("kind", "user"), ("name", "Sneaky"), ("scope", "user:read")],
            ),
            (
                "redirect-uris",
                &[
                    ("app_id", "notes"),
                    ("environment", "production"),
                    ("redirect_uris", "http://127.0.0.1:9/x"),
                ],
            ),
            ("status", &[("app_id", "notes"), ("status", "development")]),
            (
                "webhook",
                &[("app_id", "notes"), ("url", "http://127.0.0.1:9/x")],
            ),
            (
                "rotate-secret",
                &[("app_id", "notes"), ("environment", "production")],
            ),
            (
                "retire-secret",
                &[("app_id", "notes"), ("environment", "production")],
            ),
            ("rotate-webhook-secret", &[("app_id", "notes")]),
            (
                "redeliver",
                &[("app_id", "notes"), ("delivery_id", "nothing")],
            ),
        ];
        for (verb, extra) in posts {
            let mut form = vec![("csrf_token".to_owned(), csrf.clone())];
            form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let answer = mia.post(&format!("/console/developer/{verb}"), &form).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{verb}: {}",
                answer.html
            );
            assert!(
                answer.html.contains("Not allowed"),
                "{verb}: {}",
                answer.html
            );
            assert!(
                answer.html.contains("Marketplace:Edit"),
                "{verb}: {}",
                answer.html
            );
        }
        // And without a CSRF token: refused before anything is read.
        let answer = mia
            .post(
                "/console/developer/status",
                &[
                    ("app_id".into(), "notes".into()),
                    ("status".into(), "development".into()),
                ],
            )
            .await;
        assert!(answer.status.is_client_error(), "{}", answer.html);

        let after = serde_json::to_string(&store.app("notes").await.unwrap()).unwrap();
        assert_eq!(before, after);
        assert_eq!(store.audit_log("devco").await.unwrap().len(), audit_before);
        assert_eq!(store.apps(Some("devco")).await.unwrap().len(), 4);
        let token = store.webhook_secret_token("notes").await.unwrap().unwrap();
        assert_eq!(token.expose(), "notes-hook-secret-0123456789");
    })
    .await;
}

// The API ------------------------------------------------------------------------------------

/// A server app's token (client credentials).
async fn server_token(server: &TestServer, client: &str) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.base))
        .basic_auth(client, Some(format!("{client}-secret-0123456789")))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("a token answer");
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("JSON");
    body["access_token"].as_str().expect("a token").to_owned()
}

async fn api(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/v2{path}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.expect("an answer");
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_apps_api_creates_changes_and_rotates_with_secrets_shown_once() {
    on_every_backend(|db| async move {
        let server = start(&db).await;
        let store = &db.store;
        let token = server_token(&server, "devops").await;
        let (status, list) = api(&server, &token, Method::GET, "/apps", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let ids: Vec<&str> = list["apps"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        let mut ids = ids;
        ids.sort_unstable();
        assert_eq!(ids, ["backend", "devops", "meeting-sync", "notes"]);

        let (status, created) = api(
            &server,
            &token,
            Method::POST,
            "/apps",
            Some(json!({"name": "Bridge", "kind": "account", "scopes": ["meeting:read:admin"],
                        "redirect_uris": {"production": ["https://bridge.test/cb"]}})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["status"], "development");
        assert_eq!(created["client_secrets"].as_array().unwrap().len(), 2);
        assert_eq!(created["webhook_secret_token"], Value::Null);
        let id = created["id"].as_str().unwrap().to_owned();
        let production = created["client_secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["environment"] == "production")
            .unwrap();
        let client_id = production["client_id"].as_str().unwrap().to_owned();
        let first = production["client_secret"].as_str().unwrap().to_owned();
        assert!(
            created["install_links"][0]["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("client_id={client_id}&redirect_uri=https%3A%2F%2Fbridge.test%2Fcb"))
        );
        let (status, got) = api(&server, &token, Method::GET, &format!("/apps/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert!(!got.to_string().contains(&first), "shown once");
        assert_eq!(got["grants"], json!([]));

        // A first webhook endpoint: its token shown once, validation due now; saving again
        // keeps the token.
        let (status, changed) = api(
            &server,
            &token,
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"webhook": {"url": "http://127.0.0.1:9/bridge", "events": ["app_deauthorized"]},
                        "status": "published"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        assert_eq!(changed["status"], "published");
        let hook_token = changed["webhook_secret_token"].as_str().expect("a token").to_owned();
        assert_eq!(changed["webhook"]["validated_time"], Value::Null);
        assert_eq!(changed["webhook"]["validation_due_time"], store.now().rfc3339().as_str());
        let (_, again) = api(
            &server,
            &token,
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"webhook": {"url": "http://127.0.0.1:9/bridge", "events": ["app_deauthorized", "user.created"]}})),
        )
        .await;
        assert_eq!(again["webhook_secret_token"], Value::Null);
        assert_eq!(
            store.webhook_secret_token(&id).await.unwrap().unwrap().expose(),
            hook_token
        );

        // Rotation: both secrets work; a third waits for the older to be retired.
        let rotate = format!("/apps/{id}/credentials/production/secret");
        let (status, rotated) = api(&server, &token, Method::POST, &rotate, None).await;
        assert_eq!(status, StatusCode::CREATED, "{rotated}");
        assert_eq!(rotated["client_id"], client_id.as_str());
        assert_eq!(rotated["active_secrets"], 2);
        let second = rotated["client_secret"].as_str().unwrap();
        assert!(authenticates(store, &client_id, &first).await);
        assert!(authenticates(store, &client_id, second).await);
        let (status, refused) = api(&server, &token, Method::POST, &rotate, None).await;
        assert_eq!((status, refused["code"].as_u64()), (StatusCode::BAD_REQUEST, Some(300)));
        let (status, refused) = api(&server, &token, Method::POST, &format!("/apps/{id}/credentials/staging/secret"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["errors"][0]["field"], "environment");
        // Retiring the older secret ends the rotation: only the newer works, and there is
        // room for the next one.
        let (status, _) = api(&server, &token, Method::DELETE, &rotate, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(!authenticates(store, &client_id, &first).await);
        assert!(authenticates(store, &client_id, second).await);
        let (status, refused) = api(&server, &token, Method::DELETE, &rotate, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "only one left: {refused}");
        let (status, rotated) = api(&server, &token, Method::POST, &rotate, None).await;
        assert_eq!(status, StatusCode::CREATED, "{rotated}");
        let audit = store.audit_log("devco").await.unwrap();
        for action in ["app.created", "app.updated", "app.secret_rotated", "app.secret_retired"] {
            assert!(audit.iter().any(|e| e.action == action && e.target_id == id), "{action}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_apps_api_names_every_bad_field_and_never_fails_on_bad_input() {
    on_every_backend(|db| async move {
        let server = start(&db).await;
        let token = server_token(&server, "devops").await;
        let (status, refused) = api(
            &server,
            &token,
            Method::POST,
            "/apps",
            Some(json!({"name": " ", "kind": "jwt", "scopes": ["nope"],
                        "webhook": {"url": "ftp://x", "events": ["bogus"]}})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["code"], 300);
        let fields: Vec<&str> = refused["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["name", "kind", "scopes[0]", "webhook.url", "webhook.events[0]"]);
        for body in [
            json!({"name": "X", "kind": "server", "scopes": ["user:read:admin"], "redirect_uris": {"production": ["https://x.test/cb"]}}),
            json!({"name": "X", "kind": "user", "scopes": []}),
            json!({"name": "X", "kind": "user", "scopes": ["user:read", "user:read:user"]}),
            json!({"name": "X", "kind": "user", "scopes": ["user:read"], "extra": 1}),
            json!({"name": "X", "kind": "user", "scopes": "user:read"}),
            json!(["X"]),
        ] {
            let (status, answer) = api(&server, &token, Method::POST, "/apps", Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(answer["code"], 300, "{body}: {answer}");
        }
        // A name the account already uses: a conflict, not a failure.
        let (status, answer) = api(
            &server,
            &token,
            Method::POST,
            "/apps",
            Some(json!({"name": "Notes", "kind": "user", "scopes": ["user:read"]})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        let (status, answer) = api(
            &server,
            &token,
            Method::PATCH,
            "/apps/notes",
            Some(json!({"status": "live", "redirect_uris": {"production": ["no scheme"]}})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let fields: Vec<&str> = answer["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["status", "redirect_uris.production[0]"]);
        assert_eq!(db.store.app("notes").await.unwrap().status, AppStatus::Published);
    })
    .await;
}

#[tokio::test]
async fn another_accounts_token_reads_a_developers_app_as_missing() {
    on_every_backend(|db| async move {
        let server = start(&db).await;
        let foreign = server_token(&server, "acme-ops").await;
        let (status, list) = api(&server, &foreign, Method::GET, "/apps", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(
            list["apps"].as_array().unwrap().len(),
            1,
            "only Acme's own: {list}"
        );
        for (method, template, body) in [
            (Method::GET, "/apps/{app}", None),
            (
                Method::PATCH,
                "/apps/{app}",
                Some(json!({"name": "Taken over"})),
            ),
            (
                Method::POST,
                "/apps/{app}/credentials/production/secret",
                None,
            ),
            (
                Method::DELETE,
                "/apps/{app}/credentials/production/secret",
                None,
            ),
        ] {
            let mut answers = Vec::new();
            for app in ["notes", "no-such-app"] {
                let path = template.replace("{app}", app);
                let (status, body) =
                    api(&server, &foreign, method.clone(), &path, body.clone()).await;
                answers.push((status, body.to_string().replace(app, "{app}")));
            }
            assert_eq!(answers[0], answers[1], "{template}");
            assert_eq!(answers[0].0, StatusCode::NOT_FOUND, "{template}");
            assert!(
                answers[0].1.contains("App does not exist: {app}."),
                "{}",
                answers[0].1
            );
        }
        assert_eq!(db.store.app("notes").await.unwrap().name, "Notes");
    })
    .await;
}
