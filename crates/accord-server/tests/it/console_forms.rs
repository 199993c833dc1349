//! Every console form, found by crawling the consoles as the users who see the most (Acme's owner,
//! Devco's developer), is posted back
//!
//! - by a member of the same account, who lacks every privilege: refused (4xx), unless the form
//!   acts on whoever posts it ([`acts_on_poster`]) or only reads ([`READ_ONLY`]);
//! - by its own user without the CSRF token, and with another browser's token: refused (403);
//!
//! and each refused post changes nothing: the database (every table's row count, the newest
//! `updated_at` of the tables that have one, the whole audit log) reads the same after it. New
//! pages and forms are covered as soon as a link reaches them.

use std::collections::{BTreeSet, VecDeque};

use accord_store::Store;
use accord_testkit::on_every_backend;
use reqwest::StatusCode;
use sqlx::Row;

use crate::console_support::{approve, seed, sign_in};
use crate::support::{Browser, TestServer, attribute, tags};

/// Whether a form acts on whoever posts it, whatever the page it came from held: adding an
/// assistant to oneself (the form names only the assistant), creating a meeting with no host named
/// (one's own). A member posting one is not refused; every other form names its target (a user,
/// meeting, app, role) and must be refused.
fn acts_on_poster(form: &FoundForm) -> bool {
    let field = |name: &str| {
        form.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match form.action.as_str() {
        "/console/scheduling/add" => true,
        "/console/meetings/create" => field("user").unwrap_or_default().is_empty(),
        _ => false,
    }
}

/// Forms that read and never change anything: a member's post may be answered, but must leave the
/// database as it was.
const READ_ONLY: &[&str] = &["/console/why"];

/// Forms that change nothing and are not console actions: signing in and out.
const NOT_ACTIONS: &[&str] = &["/console/sign-in", "/console/choose-account"];

/// A form as found on a page, with a value for every field a person would fill in.
#[derive(Debug, Clone)]
struct FoundForm {
    page: String,
    action: String,
    fields: Vec<(String, String)>,
}

impl FoundForm {
    fn with_csrf(&self, token: Option<&str>) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(name, _)| name != "csrf_token")
            .cloned()
            .collect();
        if let Some(token) = token {
            fields.push(("csrf_token".into(), token.into()));
        }
        fields
    }
}

/// What a person would type into a field named `name` of type `kind`.
fn typed_value(name: &str, kind: &str) -> String {
    match (name, kind) {
        (_, "email") | ("email", _) => "formtest@acme.test".into(),
        (_, "password") | ("password", _) => "form-test-password-1".into(),
        (_, "url") => "http://127.0.0.1:9/form-test".into(),
        (_, "number") | ("duration", _) => "30".into(),
        (_, "datetime-local") => "2030-01-01T10:00".into(),
        (_, "date") => "2030-01-01".into(),
        ("token", _) => "not-a-token".into(),
        ("method", _) => "GET".into(),
        ("path", _) => "/v2/users/me".into(),
        _ => "Form Test".into(),
    }
}

/// Every post form of a page: hidden inputs as they are, checked boxes, a value for each text
/// field, the first option of each select; one form per named submit button.
fn post_forms(page: &str, html: &str) -> Vec<FoundForm> {
    let mut found = Vec::new();
    for chunk in html.split("<form ").skip(1) {
        let body = chunk.split("</form>").next().unwrap_or(chunk);
        let head = format!(" {}", &body[..body.find('>').unwrap_or(0)]);
        if !attribute(&head, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            continue;
        }
        let action = attribute(&head, "action").unwrap_or_else(|| page.to_owned());
        let mut fields = Vec::new();
        for input in tags(body, "input") {
            let Some(name) = attribute(input, "name") else {
                continue;
            };
            let kind = attribute(input, "type").unwrap_or_else(|| "text".into());
            let value = attribute(input, "value").filter(|v| !v.is_empty());
            match kind.as_str() {
                "hidden" => fields.push((name, value.unwrap_or_default())),
                "checkbox" | "radio" => {
                    // Checked boxes; the first of each group of radio buttons.
                    let chosen = if kind == "radio" {
                        !fields.iter().any(|(n, _)| *n == name)
                    } else {
                        input.contains(" checked")
                    };
                    if chosen {
                        fields.push((name, value.unwrap_or_else(|| "on".into())));
                    }
                }
                "submit" | "button" | "reset" => {}
                _ => fields.push((
                    name.clone(),
                    value.unwrap_or_else(|| typed_value(&name, &kind)),
                )),
            }
        }
        for textarea in tags(body, "textarea") {
            if let Some(name) = attribute(textarea, "name") {
                let value = typed_value(&name, "textarea");
                fields.push((name, value));
            }
        }
        for select in body.split("<select ").skip(1) {
            let name = attribute(&format!(" {select}"), "name");
            let first = tags(select, "option")
                .into_iter()
                .find_map(|option| attribute(option, "value"));
            if let (Some(name), Some(value)) = (name, first) {
                fields.push((name, value));
            }
        }
        let buttons: Vec<(String, String)> = tags(body, "button")
            .into_iter()
            .filter_map(|b| {
                Some((
                    attribute(b, "name")?,
                    attribute(b, "value").unwrap_or_default(),
                ))
            })
            .collect();
        if buttons.is_empty() {
            found.push(FoundForm {
                page: page.to_owned(),
                action: action.clone(),
                fields,
            });
        } else {
            for button in buttons {
                let mut fields = fields.clone();
                fields.push(button);
                found.push(FoundForm {
                    page: page.to_owned(),
                    action: action.clone(),
                    fields,
                });
            }
        }
    }
    found
}

/// Every console page reachable by links from `start`, with its post forms.
async fn crawl(browser: &Browser, start: &[&str]) -> (Vec<String>, Vec<FoundForm>) {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = start.iter().map(|p| p.to_string()).collect();
    let mut pages = Vec::new();
    let mut forms = Vec::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || seen.len() > 200 {
            continue;
        }
        let page = browser.get(&path).await;
        if page.status != StatusCode::OK {
            continue;
        }
        for anchor in tags(&page.html, "a") {
            if let Some(href) = attribute(anchor, "href")
                && href.starts_with("/console")
                && !href.contains("done=")
            {
                queue.push_back(href);
            }
        }
        forms.extend(post_forms(&path, &page.html));
        pages.push(path);
    }
    (pages, forms)
}

/// What the database holds, as far as a console form could change it.
async fn snapshot(store: &Store) -> String {
    let tables = [
        "accounts",
        "roles",
        "users",
        "assistants",
        "apps",
        "app_credentials",
        "client_secrets",
        "grants",
        "app_preapprovals",
        "blocked_apps",
        "audit_log",
        "authorization_codes",
        "refresh_tokens",
        "meetings",
        "webhook_events",
    ];
    let mut out = String::new();
    for table in tables {
        let count: i64 = // The table names are this list's own constants.
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(store.pool())
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"))
            .get(0);
        out.push_str(&format!("{table}: {count} rows"));
        if let Ok(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT MAX(updated_at) FROM {table}"
        )))
        .fetch_one(store.pool())
        .await
        {
            let newest: Option<i64> = row.try_get(0).ok().flatten();
            out.push_str(&format!(", newest update {newest:?}"));
        }
        out.push('\n');
    }
    for account in store.accounts().await.expect("accounts") {
        for entry in store.audit_log(account.id.as_str()).await.expect("audit") {
            out.push_str(&format!("{entry:?}\n"));
        }
    }
    out
}

#[tokio::test]
async fn every_console_form_refuses_members_and_forged_posts_and_changes_nothing() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        // Something on every page: an installation, a member's authorization, a meeting.
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;
        approve(&adam, "sync").await;
        let ann = server.browser();
        sign_in(&ann, "ann@acme.test").await;
        approve(&ann, "notes").await;

        let olive = server.browser();
        sign_in(&olive, "olive@acme.test").await;
        // Olive's own meeting and assistant, so their forms are on her pages too.
        let meetings = olive.get("/console/meetings").await;
        let create = meetings.form_with("topic");
        let created = olive
            .post(
                &create.action,
                &create.with(&[
                    ("topic", "Planning"),
                    ("start_time", "2030-01-01T10:00"),
                    ("duration", "30"),
                ]),
            )
            .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
        let scheduling = olive.get("/console/scheduling").await;
        let add = scheduling.form_with("email");
        let added = olive
            .post(&add.action, &add.with(&[("email", "adam@acme.test")]))
            .await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
        let dana = server.browser();
        sign_in(&dana, "dana@devco.test").await;
        let max = server.browser();
        let max_home = sign_in(&max, "max@acme.test").await;
        let max_token = max_home.form_with("csrf_token").field("csrf_token");

        // Another user's meetings are reached by a GET form (whose meetings), not a link.
        let (olive_pages, olive_forms) = crawl(&olive, &["/console", "/console/meetings?user=ann"]).await;
        let (dana_pages, dana_forms) = crawl(&dana, &["/console"]).await;
        for section in [
            "/console",
            "/console/apps",
            "/console/users",
            "/console/roles",
            "/console/scheduling",
            "/console/meetings",
            "/console/audit",
            "/console/why",
        ] {
            assert!(olive_pages.iter().any(|p| p == section), "{section} not in {olive_pages:?}");
        }
        assert!(
            dana_pages.iter().any(|p| p.starts_with("/console/developer/")),
            "no app page of the developer console in {dana_pages:?}"
        );
        let forms: Vec<(&Browser, FoundForm)> = olive_forms
            .into_iter()
            .map(|form| (&olive, form))
            .chain(dana_forms.into_iter().map(|form| (&dana, form)))
            .filter(|(_, form)| !NOT_ACTIONS.contains(&form.action.as_str()))
            .collect();
        assert!(!forms.is_empty(), "no forms on {olive_pages:?} {dana_pages:?}");

        let mut member_allowed = BTreeSet::new();
        for (owner, form) in &forms {
            let what = format!("{} on {} ({:?})", form.action, form.page, form.fields);
            // A member without privileges (Devco's forms: a user of another account). Signing
            // out is everyone's; it would only end the member's own session.
            db.clock.advance_seconds(1);
            let before = snapshot(&db.store).await;
            if form.action == "/console/sign-out" {
                member_allowed.insert(form.action.clone());
            } else if acts_on_poster(form) {
                max.post(&form.action, &form.with_csrf(Some(&max_token))).await;
                member_allowed.insert(form.action.clone());
            } else if READ_ONLY.contains(&form.action.as_str()) {
                max.post(&form.action, &form.with_csrf(Some(&max_token))).await;
                assert_eq!(before, snapshot(&db.store).await, "a read changed something: {what}");
                member_allowed.insert(form.action.clone());
            } else {
                let answer = max.post(&form.action, &form.with_csrf(Some(&max_token))).await;
                assert!(
                    answer.status.is_client_error(),
                    "a member was not refused: {what}: {} {}",
                    answer.status,
                    answer.html
                );
                assert_eq!(before, snapshot(&db.store).await, "a member's post changed something: {what}");
            }
            // No CSRF token, and another browser's.
            for token in [None, Some(max_token.as_str())] {
                db.clock.advance_seconds(1);
                let before = snapshot(&db.store).await;
                let answer = owner.post(&form.action, &form.with_csrf(token)).await;
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what} with CSRF token {token:?}: {}", answer.html);
                assert_eq!(before, snapshot(&db.store).await, "a forged post changed something: {what}");
            }
        }
        eprintln!(
            "console forms: {} forms on {} pages checked; self-service forms a member used: {member_allowed:?}",
            forms.len(),
            olive_pages.len() + dana_pages.len()
        );
    })
    .await;
}
