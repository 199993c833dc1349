//! `GET /oauth/authorize`, sign-in and the install / consent pages, driven over HTTP like a
//! browser that posts back exactly what the form contract allows (console.md).

use accord_core::grants::GrantKind;
use accord_core::scopes::Scope;
use accord_store::Store;
use accord_store::audit::Actor;
use accord_store::tokens::CodeUse;
use accord_testkit::on_every_backend;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::support::{Browser, Page, TestServer};

/// Three accounts (a developer's, an open one, one requiring pre-approval) and five apps.
const SEED: &str = r#"{
  "accounts": [
    {"id": "devco", "name": "Devco", "users": [
      {"id": "dana", "email": "dana@devco.test", "password": "dana-password", "role": "owner",
       "first_name": "Dana", "last_name": "Developer"}]},
    {"id": "acme", "name": "Acme", "app_approval": "open", "users": [
      {"id": "olive", "email": "olive@acme.test", "password": "olive-password", "role": "owner",
       "first_name": "Olive", "last_name": "Owner"},
      {"id": "adam", "email": "adam@acme.test", "password": "adam-password", "role": "admin",
       "first_name": "Adam", "last_name": "Admin"},
      {"id": "ann", "email": "ann@acme.test", "password": "ann-password", "role": "member",
       "first_name": "Ann", "last_name": "Member"},
      {"id": "ian", "email": "ian@acme.test", "password": "ian-password", "role": "member",
       "status": "inactive"}]},
    {"id": "globex", "name": "Globex", "app_approval": "preapproval", "users": [
      {"id": "gina", "email": "gina@globex.test", "password": "gina-password", "role": "owner",
       "first_name": "Gina", "last_name": "Owner"},
      {"id": "gus", "email": "gus@globex.test", "password": "gus-password", "role": "member",
       "first_name": "Gus", "last_name": "Member"}]}
  ],
  "apps": [
    {"id": "meeting-sync", "name": "Meeting Sync", "kind": "account", "developer": "dana@devco.test",
     "status": "published", "scopes": ["meeting:write:admin"], "optional_scopes": ["user:read:admin"],
     "credentials": {
       "production": {"client_id": "sync",
                      "redirect_uris": ["http://127.0.0.1:9000/callback", "https://sync.example/cb?tenant=1"]},
       "development": {"client_id": "sync-dev", "redirect_uris": ["http://127.0.0.1:9000/callback"]}}},
    {"id": "notes", "name": "Notes", "kind": "user", "developer": "dana@devco.test",
     "status": "published", "scopes": ["meeting:read"], "optional_scopes": ["user:read"],
     "credentials": {
       "production": {"client_id": "notes", "redirect_uris": ["http://127.0.0.1:9000/callback"]},
       "development": {"client_id": "notes-dev", "redirect_uris": ["http://127.0.0.1:9000/callback"]}}},
    {"id": "lab", "name": "Lab", "kind": "user", "developer": "dana@devco.test",
     "status": "development", "scopes": ["meeting:read"],
     "credentials": {"production": {"client_id": "lab", "redirect_uris": ["http://127.0.0.1:9000/callback"]}}},
    {"id": "mobile", "name": "Mobile", "kind": "user", "developer": "dana@devco.test",
     "status": "published", "public_client": true, "scopes": ["meeting:read"],
     "credentials": {"production": {"client_id": "mobile", "redirect_uris": ["com.example.mobile:/cb"]}}},
    {"id": "backend", "name": "Backend", "kind": "server", "developer": "dana@devco.test",
     "scopes": ["meeting:read:admin"], "credentials": {"production": {"client_id": "backend"}}}
  ]
}"#;

const REDIRECT: &str = "http://127.0.0.1:9000/callback";
const STATE: &str = "st-123";
/// RFC 7636 appendix B's S256 challenge.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn seeded(store: &Store) {
    let seed = accord_store::seed::parse("authorize-test.json", SEED).expect("the seed parses");
    accord_store::seed::apply(store, "authorize-test.json", &seed)
        .await
        .expect("the seed applies");
}

/// An authorize URL for `client_id` with the default redirect URI and state; `changes` add or
/// replace parameters (an empty value removes one).
fn authorize(client_id: &str, changes: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", STATE),
    ];
    for &(name, value) in changes {
        params.retain(|(n, _)| *n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    format!("/oauth/authorize?{}", query.finish())
}

/// Signs in on the sign-in page `path` shows and follows the 303 to the consent page.
async fn sign_in(browser: &Browser, path: &str, email: &str) -> Page {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let form = page.form_with("password");
    let password = crate::live::remember(format!(
        "{}-password",
        email.split('@').next().unwrap_or_default()
    ));
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
    browser.follow(&signed_in).await
}

/// Submits the consent form with `decision`, posting the checked boxes unchanged.
async fn decide(browser: &Browser, consent: &Page, decision: &str) -> Page {
    let form = consent.form_with("decision");
    browser
        .post(&form.action, &form.with(&[("decision", decision)]))
        .await
}

/// Parameters added to or replaced in a default authorize request.
type Changes<'a> = &'a [(&'a str, &'a str)];

fn scopes(names: &[&str]) -> Vec<Scope> {
    names.iter().map(|n| Scope::parse(n).unwrap()).collect()
}

fn no_redirect(page: &Page) {
    assert_eq!(page.location(), None, "error pages never redirect");
}

#[tokio::test]
async fn unknown_client_and_unregistered_redirect_uri_get_an_error_page_not_a_redirect() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();

        let unknown = browser.get(&authorize("no-such-client", &[])).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert!(unknown.html.contains("Unknown app"), "{}", unknown.html);
        no_redirect(&unknown);

        for uri in [
            "https://evil.example/callback",
            "http://127.0.0.1:9000/callback/other",
            "http://localhost:9000/callback",
        ] {
            let page = browser
                .get(&authorize("notes", &[("redirect_uri", uri)]))
                .await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(
                page.html.contains("Redirect URI not allowed"),
                "{}",
                page.html
            );
            no_redirect(&page);
        }

        // The development set's URIs are not the production set's.
        let other_set = browser
            .get(&authorize(
                "sync",
                &[("redirect_uri", "https://sync.example/cb")],
            ))
            .await;
        assert_eq!(other_set.status, StatusCode::BAD_REQUEST);
        no_redirect(&other_set);

        // Two registered URIs: the request must name one.
        let unnamed = browser
            .get(&authorize("sync", &[("redirect_uri", "")]))
            .await;
        assert_eq!(unnamed.status, StatusCode::BAD_REQUEST);
        no_redirect(&unnamed);

        // A server app has no redirect URI to trust.
        let server_app = browser.get(&authorize("backend", &[])).await;
        assert_eq!(server_app.status, StatusCode::BAD_REQUEST);
        assert!(
            server_app.html.contains("Server-to-Server"),
            "{}",
            server_app.html
        );
        no_redirect(&server_app);
    })
    .await;
}

#[tokio::test]
async fn loopback_redirect_uri_may_use_any_port_and_a_single_uri_is_the_default() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let other_port = "http://127.0.0.1:51234/callback";

        let consent = sign_in(
            &browser,
            &authorize("notes", &[("redirect_uri", other_port)]),
            "ann@acme.test",
        )
        .await;
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
        let done = decide(&browser, &consent, "approve").await;
        assert_eq!(done.status, StatusCode::SEE_OTHER);
        let location = done.location().unwrap();
        assert!(
            location.starts_with(&format!("{other_port}?code=")),
            "{location}"
        );
        let code = crate::live::remember(done.redirect_param("code").unwrap());
        let CodeUse::Fresh(redeemed) = server.store.take_code(&code).await.unwrap() else {
            panic!("a fresh code")
        };
        assert_eq!(redeemed.redirect_uri, other_port);

        // notes has exactly one redirect URI: leaving redirect_uri out uses it.
        let defaulted = browser
            .get(&authorize("notes", &[("redirect_uri", "")]))
            .await;
        assert_eq!(defaulted.status, StatusCode::OK, "{}", defaulted.html);
        let done = decide(&browser, &defaulted, "approve").await;
        assert!(
            done.location()
                .unwrap()
                .starts_with(&format!("{REDIRECT}?code="))
        );
    })
    .await;
}

#[tokio::test]
async fn wrong_password_shows_sign_in_again_with_401_and_the_right_one_the_consent_page() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let page = browser.get(&authorize("notes", &[])).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.html.contains("Sign in"), "{}", page.html);
        let form = page.form_with("password");
        assert!(form.names.iter().any(|n| n == "email"));

        for (email, password) in [
            ("ann@acme.test", "not-her-password"),
            ("nobody@acme.test", "ann-password"),
            ("not an email", "ann-password"),
        ] {
            let refused = browser
                .post(
                    &form.action,
                    &form.with(&[("email", email), ("password", password)]),
                )
                .await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{email}");
            assert!(
                refused.html.contains("Wrong email or password."),
                "{}",
                refused.html
            );
            assert!(
                !refused
                    .set_cookies()
                    .iter()
                    .any(|c| c.starts_with("accord_session=")),
                "no session for {email}"
            );
            // The page comes back with a working form.
            assert!(refused.form_with("password").fields.len() >= 2);
        }
        let still_signed_out = browser.get(&authorize("notes", &[])).await;
        assert!(still_signed_out.html.contains("name=\"password\""));

        let signed_in = browser
            .post(
                &form.action,
                &form.with(&[("email", "ANN@acme.test"), ("password", "ann-password")]),
            )
            .await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.html
        );
        let session = signed_in
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("accord_session="))
            .expect("a session cookie");
        assert!(session.contains("HttpOnly"), "{session}");
        assert!(session.contains("SameSite=Lax"), "{session}");
        assert!(!session.contains("Secure"), "http public URL: {session}");
        let consent = browser.follow(&signed_in).await;
        assert_eq!(consent.status, StatusCode::OK);
        assert!(
            consent.has_button("decision", "approve"),
            "{}",
            consent.html
        );
        assert!(consent.has_button("decision", "deny"));
        assert!(consent.html.contains("Ann Member"));
    })
    .await;
}

#[tokio::test]
async fn an_inactive_user_gets_no_session_and_cannot_authorize() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let page = browser.get(&authorize("notes", &[])).await;
        let form = page.form_with("password");
        let refused = browser
            .post(
                &form.action,
                &form.with(&[("email", "ian@acme.test"), ("password", "ian-password")]),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(
            refused.html.contains("Your user is not active"),
            "{}",
            refused.html
        );
        assert!(!refused.has_button("decision", "approve"));
        assert!(
            !refused
                .set_cookies()
                .iter()
                .any(|c| c.starts_with("accord_session="))
        );
        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn member_cannot_install_an_account_app_and_sees_the_missing_privileges() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let page = sign_in(&browser, &authorize("sync", &[]), "ann@acme.test").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(
            page.html.contains("An account admin must install this app"),
            "{}",
            page.html
        );
        assert!(page.html.contains("Marketplace:Edit"));
        assert!(page.html.contains("Meeting:Edit"));
        assert!(!page.has_button("decision", "approve"), "no approve button");

        // Posting approve anyway grants nothing: the page comes back.
        let forced = decide(&browser, &page, "approve").await;
        assert_eq!(forced.status, StatusCode::SEE_OTHER);
        assert!(forced.location().unwrap().starts_with("/oauth/authorize?"));
        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );

        // Leaving goes back to the app with access_denied.
        let left = decide(&browser, &page, "deny").await;
        assert_eq!(
            left.redirect_param("error").as_deref(),
            Some("access_denied")
        );
    })
    .await;
}

#[tokio::test]
async fn admin_installs_an_account_app_and_gets_a_code_bound_to_the_request() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let path = authorize(
            "sync",
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("unknown_param", "tolerated"),
            ],
        );
        let consent = sign_in(&browser, &path, "adam@acme.test").await;
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
        for words in [
            "Meeting Sync",
            "Devco",
            "account-level app",
            "See and change meetings of every user in Acme",
            "gives no user of Acme any extra power",
        ] {
            assert!(consent.html.contains(words), "{words} in {}", consent.html);
        }
        let done = decide(&browser, &consent, "approve").await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        assert!(
            done.location()
                .unwrap()
                .starts_with(&format!("{REDIRECT}?code="))
        );
        assert_eq!(done.redirect_param("state").as_deref(), Some(STATE));
        assert_eq!(done.redirect_param("iss"), Some(server.base.clone()));

        let grants = server.store.grants_in_account("acme").await.unwrap();
        assert_eq!(grants.len(), 1);
        let grant = &grants[0];
        assert_eq!(
            (grant.kind, grant.app_id.as_str(), grant.generation),
            (GrantKind::Installation, "meeting-sync", 1)
        );
        assert_eq!(
            grant.user_id, None,
            "an installation belongs to the account"
        );
        assert_eq!(grant.created_by.as_deref(), Some("adam"));
        assert_eq!(
            grant.scopes,
            scopes(&["meeting:write:admin", "user:read:admin"])
        );

        let code = crate::live::remember(done.redirect_param("code").unwrap());
        let CodeUse::Fresh(redeemed) = server.store.take_code(&code).await.unwrap() else {
            panic!("a fresh code")
        };
        assert_eq!(redeemed.client_id, "sync");
        assert_eq!(redeemed.redirect_uri, REDIRECT);
        assert_eq!(redeemed.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(redeemed.code_challenge_method.as_deref(), Some("S256"));
        assert_eq!(
            (redeemed.grant_id.as_str(), redeemed.generation),
            (grant.id.as_str(), 1)
        );
        assert_eq!(redeemed.user_id, "adam");
        assert!(matches!(
            server.store.take_code(&code).await.unwrap(),
            CodeUse::Replayed
        ));
        crate::live::assert_no_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn approving_again_reauthorizes_the_grant_with_the_next_generation() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let consent = sign_in(&browser, &authorize("sync", &[]), "olive@acme.test").await;
        let first = decide(&browser, &consent, "approve").await;
        assert!(first.redirect_param("code").is_some());

        let again = browser.get(&authorize("sync", &[])).await;
        assert_eq!(
            again.status,
            StatusCode::OK,
            "still signed in: {}",
            again.html
        );
        let second = decide(&browser, &again, "approve").await;
        let code = crate::live::remember(second.redirect_param("code").unwrap());

        let grants = server.store.grants_in_account("acme").await.unwrap();
        assert_eq!(grants.len(), 1, "the same installation");
        assert_eq!(grants[0].generation, 2);
        assert_eq!(grants[0].created_by.as_deref(), Some("olive"));
        let CodeUse::Fresh(redeemed) = server.store.take_code(&code).await.unwrap() else {
            panic!("a fresh code")
        };
        assert_eq!(redeemed.generation, 2);
        assert_eq!(redeemed.code_challenge, None);
    })
    .await;
}

#[tokio::test]
async fn deny_redirects_with_access_denied_state_and_iss_keeping_the_uri_query() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let with_query = "https://sync.example/cb?tenant=1";
        let consent = sign_in(
            &browser,
            &authorize("sync", &[("redirect_uri", with_query)]),
            "adam@acme.test",
        )
        .await;
        let denied = decide(&browser, &consent, "deny").await;
        assert_eq!(denied.status, StatusCode::SEE_OTHER);
        let location = denied.location().unwrap();
        assert!(
            location.starts_with("https://sync.example/cb?tenant=1&error=access_denied&"),
            "{location}"
        );
        assert_eq!(denied.redirect_param("tenant").as_deref(), Some("1"));
        assert_eq!(denied.redirect_param("state").as_deref(), Some(STATE));
        assert_eq!(denied.redirect_param("iss"), Some(server.base.clone()));
        assert!(denied.redirect_param("error_description").is_some());
        assert_eq!(denied.redirect_param("code"), None);
        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_declined_optional_scope_is_not_granted() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let consent = sign_in(&browser, &authorize("notes", &[]), "ann@acme.test").await;
        let form = consent.form_with("decision");
        assert_eq!(
            form.checkboxes,
            [("scope".to_owned(), "user:read".to_owned())],
            "optional scopes are checkboxes named scope"
        );
        assert!(
            form.fields.contains(&("scope".into(), "user:read".into())),
            "checked by default"
        );
        assert!(consent.html.contains("will act as you"), "{}", consent.html);

        let unchecked = form.unchecking("scope", "user:read");
        let done = browser
            .post(
                &unchecked.action,
                &unchecked.with(&[("decision", "approve")]),
            )
            .await;
        let code = crate::live::remember(done.redirect_param("code").unwrap());

        let grants = server.store.grants_in_account("acme").await.unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].kind, GrantKind::Authorization);
        assert_eq!(grants[0].user_id.as_deref(), Some("ann"));
        assert_eq!(grants[0].scopes, scopes(&["meeting:read"]));
        let CodeUse::Fresh(redeemed) = server.store.take_code(&code).await.unwrap() else {
            panic!("a fresh code")
        };
        assert_eq!(redeemed.scopes, scopes(&["meeting:read"]));

        // A `scope` parameter narrows what is offered: user:read is not even asked for.
        let narrowed = browser
            .get(&authorize("notes", &[("scope", "meeting:read")]))
            .await;
        assert!(
            narrowed.form_with("decision").checkboxes.is_empty(),
            "{}",
            narrowed.html
        );
    })
    .await;
}

#[tokio::test]
async fn preapproval_is_requested_by_a_member_and_then_lets_them_authorize() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let path = authorize("notes", &[]);
        let page = sign_in(&browser, &path, "gus@globex.test").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(
            page.html.contains("Globex requires approval"),
            "{}",
            page.html
        );
        assert!(page.has_button("decision", "request_preapproval"));
        assert!(!page.has_button("decision", "approve"));
        assert!(page.html.contains("Marketplace:Edit"));
        assert!(page.html.contains("Gina Owner"), "names who can approve");

        let requested = decide(&browser, &page, "request_preapproval").await;
        assert_eq!(requested.status, StatusCode::SEE_OTHER);
        let preapprovals = server.store.preapprovals("globex").await.unwrap();
        assert_eq!(preapprovals.len(), 1);
        assert_eq!(
            (
                preapprovals[0].app_id.as_str(),
                preapprovals[0].status.as_str(),
                preapprovals[0].requested_by.as_deref()
            ),
            ("notes", "requested", Some("gus"))
        );
        let shown = browser.follow(&requested).await;
        assert!(shown.html.contains("has been sent"), "{}", shown.html);
        assert!(
            server
                .store
                .grants_in_account("globex")
                .await
                .unwrap()
                .is_empty()
        );

        server
            .store
            .decide_preapproval(&Actor::User("gina".into()), "globex", "notes", true)
            .await
            .unwrap();
        let consent = browser.get(&path).await;
        assert!(
            consent.has_button("decision", "approve"),
            "{}",
            consent.html
        );
        let done = decide(&browser, &consent, "approve").await;
        assert!(done.redirect_param("code").is_some());
        let grants = server.store.grants_in_account("globex").await.unwrap();
        assert_eq!(grants[0].user_id.as_deref(), Some("gus"));
    })
    .await;
}

#[tokio::test]
async fn under_preapproval_a_forced_approve_or_a_declined_request_makes_no_grant_and_admins_are_not_held_back()
 {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let no_grants = || async {
            server
                .store
                .grants_in_account("globex")
                .await
                .unwrap()
                .is_empty()
        };
        let browser = server.browser();
        let path = authorize("notes", &[]);
        let page = sign_in(&browser, &path, "gus@globex.test").await;
        assert!(!page.has_button("decision", "approve"));
        let forced = decide(&browser, &page, "approve").await;
        assert!(
            forced.location().unwrap().starts_with("/oauth/authorize?"),
            "the page again, no code"
        );
        assert!(no_grants().await);

        decide(&browser, &page, "request_preapproval").await;
        server
            .store
            .decide_preapproval(&Actor::User("gina".into()), "globex", "notes", false)
            .await
            .unwrap();
        let again = browser.get(&path).await;
        assert!(
            again.html.contains("Globex requires approval"),
            "{}",
            again.html
        );
        assert!(!again.has_button("decision", "approve"));
        let forced = decide(&browser, &again, "approve").await;
        assert!(forced.location().unwrap().starts_with("/oauth/authorize?"));
        assert!(no_grants().await, "a declined request grants nothing");

        // The owner holds Marketplace:Edit: the policy does not hold her back.
        let owner = server.browser();
        let page = sign_in(&owner, &path, "gina@globex.test").await;
        assert!(page.has_button("decision", "approve"), "{}", page.html);
        let done = decide(&owner, &page, "approve").await;
        assert!(done.redirect_param("code").is_some());
    })
    .await;
}

#[tokio::test]
async fn a_blocked_app_cannot_be_added() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        db.store
            .block_app(&Actor::User("olive".into()), "acme", "notes")
            .await
            .unwrap();
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let page = sign_in(&browser, &authorize("notes", &[]), "olive@acme.test").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(
            page.html.contains("Acme has blocked this app"),
            "{}",
            page.html
        );
        assert!(!page.has_button("decision", "approve"));
        let forced = decide(&browser, &page, "approve").await;
        assert!(forced.location().unwrap().starts_with("/oauth/authorize?"));
        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_development_app_or_credential_set_works_only_in_its_developer_account() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let lab = sign_in(&browser, &authorize("lab", &[]), "ann@acme.test").await;
        assert_eq!(lab.status, StatusCode::FORBIDDEN);
        assert!(lab.html.contains("still in development"), "{}", lab.html);
        assert!(!lab.has_button("decision", "approve"));

        let dev_credentials = browser.get(&authorize("notes-dev", &[])).await;
        assert_eq!(dev_credentials.status, StatusCode::FORBIDDEN);
        assert!(
            dev_credentials
                .html
                .contains("development credentials of Notes")
        );
        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );

        let developer = server.browser();
        for client_id in ["lab", "notes-dev"] {
            let consent = if client_id == "lab" {
                sign_in(&developer, &authorize(client_id, &[]), "dana@devco.test").await
            } else {
                developer.get(&authorize(client_id, &[])).await
            };
            assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
            let done = decide(&developer, &consent, "approve").await;
            assert!(done.redirect_param("code").is_some(), "{client_id}");
        }
        let grants = server.store.grants_in_account("devco").await.unwrap();
        let authorizations = grants.iter().filter(|g| g.kind == GrantKind::Authorization);
        assert_eq!(authorizations.count(), 2);
    })
    .await;
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_or_from_another_site_are_refused() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let consent = sign_in(&browser, &authorize("notes", &[]), "ann@acme.test").await;
        let form = consent.form_with("decision");
        let approve = ("decision".to_owned(), "approve".to_owned());

        let mut without = form.without("csrf_token");
        without.push(approve.clone());
        let refused = browser.post(&form.action, &without).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        no_redirect(&refused);

        // Another browser's token does not match this browser's cookie.
        let other = server.browser().get(&authorize("notes", &[])).await;
        let foreign = other.form_with("password").field("csrf_token");
        let mut wrong = form.replacing("csrf_token", &foreign);
        wrong.push(approve.clone());
        assert_eq!(
            browser.post(&form.action, &wrong).await.status,
            StatusCode::FORBIDDEN
        );

        let mut right = form.fields.clone();
        right.push(approve.clone());
        for (name, value) in [
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.example"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            let page = browser.post_with(&form.action, &right, headers).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{name}: {value}");
        }

        // The sign-in form is protected the same way.
        let signed_out = server.browser();
        let sign_in_form = signed_out
            .get(&authorize("notes", &[]))
            .await
            .form_with("password");
        let mut no_token = sign_in_form.without("csrf_token");
        no_token.push(("email".into(), "ann@acme.test".into()));
        no_token.push(("password".into(), "ann-password".into()));
        let page = signed_out.post(&sign_in_form.action, &no_token).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(
            !page
                .set_cookies()
                .iter()
                .any(|c| c.starts_with("accord_session="))
        );

        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );

        // The same post from this site, with its own origin, goes through.
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_str(&server.base).unwrap());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        let accepted = browser.post_with(&form.action, &right, headers).await;
        assert!(
            accepted.redirect_param("code").is_some(),
            "{}",
            accepted.html
        );
    })
    .await;
}

#[tokio::test]
async fn tampered_or_expired_flow_state_shows_an_error_page() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let consent = sign_in(&browser, &authorize("notes", &[]), "ann@acme.test").await;
        let form = consent.form_with("decision");
        let flow = form.field("flow");

        // Change one character of the signed payload.
        let mut tampered: Vec<char> = flow.chars().collect();
        tampered[5] = if tampered[5] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        let mut fields = form.replacing("flow", &tampered);
        fields.push(("decision".into(), "approve".into()));
        let page = browser.post(&form.action, &fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.html.contains("Invalid form"), "{}", page.html);
        no_redirect(&page);

        db.clock.advance_seconds(601);
        let page = browser
            .post(&form.action, &form.with(&[("decision", "approve")]))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.html.contains("expired"), "{}", page.html);
        no_redirect(&page);
        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn request_errors_redirect_to_the_client_with_state_and_iss() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let mobile = "com.example.mobile:/cb";
        // (client, changes to the default request, the error it gets)
        let cases: &[(&str, Changes, &str)] = &[
            ("mobile", &[("redirect_uri", mobile)], "invalid_request"),
            (
                "mobile",
                &[("redirect_uri", mobile), ("code_challenge", CHALLENGE)],
                "invalid_request",
            ),
            (
                "mobile",
                &[
                    ("redirect_uri", mobile),
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "plain"),
                ],
                "invalid_request",
            ),
            (
                "notes",
                &[("code_challenge", "too-short")],
                "invalid_request",
            ),
            (
                "notes",
                &[
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S512"),
                ],
                "invalid_request",
            ),
            (
                "notes",
                &[("code_challenge_method", "S256")],
                "invalid_request",
            ),
            (
                "notes",
                &[("response_type", "token")],
                "unsupported_response_type",
            ),
            ("notes", &[("response_type", "")], "invalid_request"),
            (
                "notes",
                &[("scope", "meeting:read user:read:admin")],
                "invalid_scope",
            ),
            ("notes", &[("scope", "meeting:fly")], "invalid_scope"),
        ];
        for (client_id, changes, error) in cases {
            let page = browser.get(&authorize(client_id, changes)).await;
            assert_eq!(
                page.status,
                StatusCode::SEE_OTHER,
                "{changes:?}: {}",
                page.html
            );
            let location = page.location().unwrap();
            let redirect = changes
                .iter()
                .find(|(n, _)| *n == "redirect_uri")
                .map_or(REDIRECT, |(_, v)| v);
            assert!(
                location.starts_with(&format!("{redirect}?error=")),
                "{location}"
            );
            assert_eq!(
                page.redirect_param("error").as_deref(),
                Some(*error),
                "{changes:?}"
            );
            assert_eq!(page.redirect_param("state").as_deref(), Some(STATE));
            assert_eq!(page.redirect_param("iss"), Some(server.base.clone()));
            assert!(page.redirect_param("error_description").is_some());
        }

        // What is allowed: S256 from a public client, plain (also by default) from a
        // confidential one, a scope naming declared scopes.
        for (client_id, changes) in [
            (
                "mobile",
                &[
                    ("redirect_uri", mobile),
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                ][..],
            ),
            ("notes", &[("code_challenge", CHALLENGE)][..]),
            (
                "notes",
                &[
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "plain"),
                ][..],
            ),
            ("notes", &[("scope", "user:read meeting:read")][..]),
        ] {
            let page = browser.get(&authorize(client_id, changes)).await;
            assert_eq!(page.status, StatusCode::OK, "{changes:?}: {}", page.html);
        }
    })
    .await;
}

#[tokio::test]
async fn pages_send_security_headers_and_no_cors() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let check = |page: &Page, what: &str| {
            let csp = page.header("content-security-policy").unwrap_or_default();
            assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
            assert!(
                !csp.contains("unsafe-") && !csp.contains('*'),
                "{what}: {csp}"
            );
            for (name, value) in [
                ("x-frame-options", "DENY"),
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "same-origin"),
                ("cache-control", "no-store"),
            ] {
                assert_eq!(page.header(name), Some(value), "{what}: {name}");
            }
            assert_eq!(page.header("access-control-allow-origin"), None, "{what}");
        };

        let response = server
            .browser()
            .client
            .get(browser.url(&authorize("notes", &[])))
            .header("origin", "https://elsewhere.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers().get("access-control-allow-origin"), None);

        let sign_in_page = browser.get(&authorize("notes", &[])).await;
        check(&sign_in_page, "sign-in");
        assert!(
            sign_in_page
                .header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        for markup in [
            "<html lang=\"en\">",
            "<meta name=\"viewport\"",
            "<label for=\"email\">",
            "<label for=\"password\">",
            "href=\"/static/accord.css\"",
        ] {
            assert!(sign_in_page.html.contains(markup), "{markup}");
        }
        let csrf_cookie = sign_in_page
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("accord_csrf="))
            .expect("a CSRF cookie");
        assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));

        let consent = sign_in(&browser, &authorize("notes", &[]), "ann@acme.test").await;
        check(&consent, "consent");
        let csp = consent.header("content-security-policy").unwrap();
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:9000"),
            "{csp}"
        );
        assert!(consent.html.contains("<label for=\"scope-1\">"));

        let redirect = decide(&browser, &consent, "deny").await;
        check(&redirect, "redirect");

        let error = browser.get(&authorize("nobody", &[])).await;
        check(&error, "error page");

        let css = browser.get("/static/accord.css").await;
        assert_eq!(css.status, StatusCode::OK);
        assert!(css.header("content-type").unwrap().starts_with("text/css"));
    })
    .await;
}

#[tokio::test]
async fn signing_out_shows_the_sign_in_page_again() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let path = authorize("notes", &[]);
        let consent = sign_in(&browser, &path, "ann@acme.test").await;
        let form = consent.form_with("flow");
        let sign_out = crate::support::forms(&consent.html)
            .into_iter()
            .find(|f| f.action.ends_with("/sign-out"))
            .expect("a sign-out form");
        assert_eq!(sign_out.field("flow"), form.field("flow"));
        let out = browser.post(&sign_out.action, &sign_out.fields).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        let page = browser.follow(&out).await;
        assert!(page.html.contains("name=\"password\""), "{}", page.html);

        // The old consent form no longer grants anything without a session.
        let stale = decide(&browser, &consent, "approve").await;
        assert!(stale.location().unwrap().starts_with("/oauth/authorize?"));
        assert!(
            server
                .store
                .grants_in_account("acme")
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start_with(&db, |base| base.replace("http://", "https://")).await;
        // A client without a cookie store: it would not send Secure cookies over plain http.
        let browser = server.browser();
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = plain
            .get(browser.url(&authorize("notes", &[])))
            .send()
            .await
            .unwrap();
        let csrf_cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("accord_csrf="))
            .expect("a CSRF cookie")
            .to_owned();
        assert!(csrf_cookie.contains("; Secure"), "{csrf_cookie}");
        let form = crate::support::forms(&response.text().await.unwrap())
            .into_iter()
            .find(|f| f.action.ends_with("/sign-in"))
            .expect("the sign-in form");
        let cookie = csrf_cookie.split(';').next().unwrap().to_owned();
        let signed_in = plain
            .post(browser.url(&form.action))
            .header("cookie", cookie)
            .form(&form.with(&[("email", "ann@acme.test"), ("password", "ann-password")]))
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let session = signed_in
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("accord_session="))
            .expect("a session cookie");
        assert!(
            session.contains("; Secure") && session.contains("HttpOnly"),
            "{session}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_storage_failure_shows_a_503_page() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        db.store.pool().close().await;
        let page = browser.get(&authorize("notes", &[])).await;
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            page.html.contains("Temporarily unavailable"),
            "{}",
            page.html
        );
        assert_eq!(page.header("cache-control"), Some("no-store"));
        no_redirect(&page);
    })
    .await;
}

/// Globex's own admin tool: a server app with the marketplace scopes (added only where used, so
/// the other tests see Globex without grants).
const GLOBEX_IT: &str = r#"{"apps": [
  {"id": "globex-it", "name": "Globex IT", "kind": "server", "developer": "gina@globex.test",
   "scopes": ["marketplace:read:admin", "marketplace:write:admin"],
   "credentials": {"production": {"client_id": "globex-it", "client_secret": "globex-it-secret-0123456789"}}}
]}"#;

#[tokio::test]
async fn preapproval_runs_end_to_end_through_the_api_requested_listed_approved_and_ahead_of_any_request()
 {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let extra = accord_store::seed::parse("globex-it.json", GLOBEX_IT).unwrap();
        accord_store::seed::apply(&db.store, "globex-it.json", &extra)
            .await
            .unwrap();
        let server = TestServer::start(&db).await;
        let http = reqwest::Client::new();
        let secret = crate::live::remember("globex-it-secret-0123456789".to_owned());
        let answer: serde_json::Value = http
            .post(format!(
                "{}/oauth/token?grant_type=account_credentials&account_id=globex",
                server.base
            ))
            .basic_auth("globex-it", Some(secret))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().expect("a token").to_owned();
        let api = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
            let request = http
                .request(method, format!("{}/v2{path}", server.base))
                .bearer_auth(&token);
            let request = match body {
                Some(body) => request.json(&body),
                None => request,
            };
            async move {
                let answer = request.send().await.unwrap();
                let status = answer.status();
                let text = answer.text().await.unwrap();
                (
                    status,
                    serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
                )
            }
        };

        // Gus, a member, asks from the consent page; nothing is granted yet.
        let browser = server.browser();
        let path = authorize("notes", &[]);
        let page = sign_in(&browser, &path, "gus@globex.test").await;
        assert!(!page.has_button("decision", "approve"), "{}", page.html);
        decide(&browser, &page, "request_preapproval").await;

        // The admin's tool lists the request and approves it.
        let (status, listed) = api(
            reqwest::Method::GET,
            "/marketplace/app_requests?status=requested",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let requests = listed["app_requests"].as_array().unwrap();
        assert_eq!(requests.len(), 1, "{listed}");
        assert_eq!(
            (
                &requests[0]["app_id"],
                &requests[0]["status"],
                &requests[0]["requested_by"]
            ),
            (
                &serde_json::json!("notes"),
                &serde_json::json!("requested"),
                &serde_json::json!("gus")
            )
        );
        let approve = Some(serde_json::json!({"action": "approve"}));
        let (status, body) = api(
            reqwest::Method::PATCH,
            "/marketplace/apps/notes/requests",
            approve.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let consent = browser.get(&path).await;
        assert!(
            consent.has_button("decision", "approve"),
            "{}",
            consent.html
        );
        let done = decide(&browser, &consent, "approve").await;
        assert!(
            done.redirect_param("code").is_some(),
            "Gus authorizes Notes"
        );

        // Declining needs a request; approving does not: Mobile is pre-approved before anyone asks.
        let decline = Some(serde_json::json!({"action": "decline"}));
        let (status, _) = api(
            reqwest::Method::PATCH,
            "/marketplace/apps/mobile/requests",
            decline,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing to decline");
        let (status, body) = api(
            reqwest::Method::PATCH,
            "/marketplace/apps/mobile/requests",
            approve,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let mobile = authorize(
            "mobile",
            &[
                ("redirect_uri", "com.example.mobile:/cb"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        );
        let consent = browser.get(&mobile).await;
        assert!(
            consent.has_button("decision", "approve"),
            "{}",
            consent.html
        );
        let (_, listed) = api(reqwest::Method::GET, "/marketplace/app_requests", None).await;
        let statuses: Vec<(&str, &str)> = listed["app_requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["app_id"].as_str().unwrap(), r["status"].as_str().unwrap()))
            .collect();
        assert_eq!(statuses.len(), 2, "{listed}");
        assert!(
            statuses.contains(&("notes", "approved")) && statuses.contains(&("mobile", "approved"))
        );

        // Each answer is in Globex's audit log.
        let answered = db
            .store
            .audit_log("globex")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action.starts_with("app.preapproval") || e.action == "app.preapproved")
            .map(|e| (e.action, e.target_id))
            .collect::<Vec<_>>();
        let expected = [
            ("app.preapproval_requested", "notes"),
            ("app.preapproved", "notes"),
            ("app.preapproved", "mobile"),
        ]
        .map(|(action, app)| (action.to_owned(), app.to_owned()));
        assert_eq!(answered, expected, "the request and both answers, in order");
    })
    .await;
}
