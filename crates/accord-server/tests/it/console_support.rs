//! What the console tests share: one seeded world and signing a browser in to the console.
//!
//! Acme (open): Olive (owner), Adam (admin), Ann and Max (members), Sam (custom role Scheduler:
//! Meeting:Read, Meeting:Edit), Sam is Ann's assistant. Globex (preapproval): Gina (owner), Gus
//! (member). Devco: Dana (owner) develops Meeting Sync (account app), Notes (user app), Backend
//! (server app), each with a webhook endpoint on a port nothing listens on.

use accord_store::Store;
use reqwest::StatusCode;

use crate::support::{Browser, Form, Page, forms};

pub const SEED: &str = r#"{
  "accounts": [
    {"id": "devco", "name": "Devco", "users": [
      {"id": "dana", "email": "dana@devco.test", "password": "dana-password", "role": "owner",
       "first_name": "Dana", "last_name": "Developer"}]},
    {"id": "acme", "name": "Acme", "app_approval": "open",
     "roles": [{"id": "scheduler", "name": "Scheduler", "privileges": ["Meeting:Read", "Meeting:Edit"]}],
     "users": [
      {"id": "olive", "email": "olive@acme.test", "password": "olive-password", "role": "owner",
       "first_name": "Olive", "last_name": "Owner"},
      {"id": "adam", "email": "adam@acme.test", "password": "adam-password", "role": "admin",
       "first_name": "Adam", "last_name": "Admin"},
      {"id": "ann", "email": "ann@acme.test", "password": "ann-password", "role": "member",
       "first_name": "Ann", "last_name": "Member"},
      {"id": "max", "email": "max@acme.test", "password": "max-password", "role": "member",
       "first_name": "Max", "last_name": "Member"},
      {"id": "sam", "email": "sam@acme.test", "password": "sam-password", "role": "scheduler",
       "first_name": "Sam", "last_name": "Scheduler"}],
     "assistants": [{"user": "ann@acme.test", "assistant": "sam@acme.test"}]},
    {"id": "globex", "name": "Globex", "app_approval": "preapproval", "users": [
      {"id": "gina", "email": "gina@globex.test", "password": "gina-password", "role": "owner",
       "first_name": "Gina", "last_name": "Owner"},
      {"id": "gus", "email": "gus@globex.test", "password": "gus-password", "role": "member",
       "first_name": "Gus", "last_name": "Member"}]}
  ],
  "apps": [
    {"id": "meeting-sync", "name": "Meeting Sync", "kind": "account", "developer": "dana@devco.test",
     "status": "published", "scopes": ["meeting:write:admin", "user:read:admin"],
     "credentials": {"production": {"client_id": "sync", "client_secret": "sync-secret-0123456789",
       "redirect_uris": ["http://127.0.0.1:9/callback"]}},
     "webhook": {"url": "http://127.0.0.1:9/hooks/sync", "secret_token": "sync-hook-secret-0123456789",
       "events": ["app_deauthorized", "meeting.created"]}},
    {"id": "notes", "name": "Notes", "kind": "user", "developer": "dana@devco.test",
     "status": "published", "scopes": ["meeting:read", "user:read"],
     "credentials": {"production": {"client_id": "notes", "client_secret": "notes-secret-0123456789",
       "redirect_uris": ["http://127.0.0.1:9/callback"]}},
     "webhook": {"url": "http://127.0.0.1:9/hooks/notes", "secret_token": "notes-hook-secret-0123456789",
       "events": ["app_deauthorized"]}},
    {"id": "backend", "name": "Backend", "kind": "server", "developer": "dana@devco.test",
     "status": "development", "scopes": ["user:read:admin"],
     "credentials": {"production": {"client_id": "backend", "client_secret": "backend-secret-0123456789"}}}
  ]
}"#;

pub async fn seed(store: &Store) {
    let seed = accord_store::seed::parse("console-test.json", SEED).expect("the seed parses");
    accord_store::seed::apply(store, "console-test.json", &seed)
        .await
        .expect("the seed applies");
}

/// Signs `browser` in to the console as `email` (password: the part before `@`, then
/// `-password`) and returns the console's first page.
pub async fn sign_in(browser: &Browser, email: &str) -> Page {
    let form_page = browser.get("/console/sign-in").await;
    assert_eq!(form_page.status, StatusCode::OK, "{}", form_page.html);
    let form = form_page.form_with("password");
    let password = format!("{}-password", email.split('@').next().unwrap_or_default());
    let signed_in = browser
        .post(
            &form.action,
            &form.with(&[("email", email), ("password", &password)]),
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    let page = browser.follow(&signed_in).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    page
}

/// Authorizes a user app, or installs an account app, through the consent page as the browser's
/// signed-in user (the session is the console's), approving every required scope.
pub async fn approve(browser: &Browser, client_id: &str) -> Page {
    let consent = browser
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s"
        ))
        .await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let form = consent.form_with("decision");
    let answer = browser
        .post(&form.action, &form.with(&[("decision", "approve")]))
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
    answer
}

/// The form posting to `action` whose hidden fields include every `having` pair.
pub fn form_at(page: &Page, action: &str, having: &[(&str, &str)]) -> Form {
    forms(&page.html)
        .into_iter()
        .find(|form| {
            form.action == action
                && having
                    .iter()
                    .all(|(name, value)| form.fields.iter().any(|(n, v)| n == name && v == value))
        })
        .unwrap_or_else(|| panic!("no {action} form with {having:?} in:\n{}", page.html))
}

/// Posts `fields` to `action`, expects the redirect back with a notice, and returns that page.
pub async fn post_ok(browser: &Browser, action: &str, fields: &[(String, String)]) -> Page {
    let answer = browser.post(action, fields).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
    let page = browser.follow(&answer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("class=\"done\""), "{}", page.html);
    page
}
