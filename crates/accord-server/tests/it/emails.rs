//! Email addresses are unique within an account, not across the deployment (model.md): the API
//! creates and resolves an address within the caller's account only, and sign-in asks which
//! account to continue with when one email and password match users of several.

use accord_testkit::on_every_backend;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Browser, Form, Page, TestServer};
use crate::tokens::{start, str_of};
use crate::users_api::{call, server_token};

/// A Globex app that may create users and assign roles (the shared fixture's Globex app may not).
const GLOBEX_ADMIN: &str = r#"{"apps": [
  {"id": "globex-admin", "name": "Globex Admin", "kind": "server", "developer": "gina@globex.test",
   "scopes": ["user:read:admin", "user:write:admin", "role:read:admin", "role:write:admin"],
   "credentials": {"production": {"client_id": "globex-admin-prod",
                                   "client_secret": "globex-admin-prod-secret-0123456789"}}}]}"#;

fn auto_create(email: &str, first_name: &str) -> Value {
    json!({"action": "autoCreate",
           "user_info": {"email": email, "first_name": first_name, "password": "made-password-1"}})
}

#[tokio::test]
async fn an_address_of_another_account_is_free_and_each_account_sees_only_its_own_user() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let extra = accord_store::seed::parse("globex-admin", GLOBEX_ADMIN).unwrap();
        accord_store::seed::apply(&live.db.store, "globex-admin", &extra)
            .await
            .unwrap();
        live.secret("made-password-1");
        let acme = server_token(&live, "admin-bot-prod", "admin-bot-prod-secret-0123456789").await;
        let globex = server_token(
            &live,
            "globex-admin-prod",
            "globex-admin-prod-secret-0123456789",
        )
        .await;

        // Acme's ann@acme.test exists; for Globex the address is as fresh as any other.
        let (status, created) = call(
            &live,
            &globex,
            Method::POST,
            "/v2/users",
            Some(auto_create("Ann@Acme.test", "Gann")),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let globex_ann = str_of(&created, "id").to_owned();
        assert_ne!(globex_ann, "acme-ann");
        assert_eq!(created["email"], "Ann@Acme.test");
        let (status, fresh) = call(
            &live,
            &globex,
            Method::POST,
            "/v2/users",
            Some(auto_create("fresh@globex.test", "Fresh")),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{fresh}");
        let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert_eq!(
            keys(&created),
            keys(&fresh),
            "the same answer as for a fresh address"
        );
        // The same way round, and used twice within one account: Zoom's conflict.
        let (status, body) = call(
            &live,
            &acme,
            Method::POST,
            "/v2/users",
            Some(auto_create("gina@GLOBEX.test", "Acme Gina")),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = call(
            &live,
            &globex,
            Method::POST,
            "/v2/users",
            Some(auto_create("ann@acme.TEST", "Again")),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::CONFLICT, Some(1005)),
            "{body}"
        );
        let (status, body) = call(
            &live,
            &acme,
            Method::POST,
            "/v2/users",
            Some(auto_create("ANN@acme.test", "Again")),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::CONFLICT, Some(1005)),
            "{body}"
        );

        // `{userId}` as an email resolves within the caller's account.
        let (status, from_acme) =
            call(&live, &acme, Method::GET, "/v2/users/ann@acme.test", None).await;
        assert_eq!(status, StatusCode::OK, "{from_acme}");
        assert_eq!(
            (from_acme["id"].as_str(), from_acme["account_id"].as_str()),
            (Some("acme-ann"), Some("acme"))
        );
        let (status, from_globex) =
            call(&live, &globex, Method::GET, "/v2/users/ANN@acme.test", None).await;
        assert_eq!(status, StatusCode::OK, "{from_globex}");
        assert_eq!(
            (
                from_globex["id"].as_str(),
                from_globex["account_id"].as_str(),
                from_globex["first_name"].as_str()
            ),
            (Some(globex_ann.as_str()), Some("globex"), Some("Gann"))
        );
        // By id, the other account's user reads as missing; lists hold only the caller's users.
        let (status, body) = call(
            &live,
            &acme,
            Method::GET,
            &format!("/v2/users/{globex_ann}"),
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::NOT_FOUND, Some(1001)),
            "{body}"
        );
        let (_, list) = call(&live, &acme, Method::GET, "/v2/users?page_size=300", None).await;
        let listed = list["users"].to_string();
        assert!(
            !listed.contains(&globex_ann) && !listed.contains("Gann"),
            "{listed}"
        );
        assert!(listed.contains("Acme Gina"), "{listed}");

        // Writes by email reach the caller's user only.
        let (status, _) = call(
            &live,
            &globex,
            Method::PATCH,
            "/v2/users/ann@acme.test",
            Some(json!({"last_name": "Globex"})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = call(
            &live,
            &globex,
            Method::POST,
            "/v2/roles/1/members",
            Some(json!({"members": [{"email": "ann@acme.test"}]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["ids"].as_str(), Some(globex_ann.as_str()));
        let acme_ann = live.db.store.user("acme-ann").await.unwrap();
        assert_eq!(
            (acme_ann.last_name.as_str(), acme_ann.role_id.as_str()),
            ("", "2"),
            "Acme's Ann is untouched"
        );
        let (status, _) = call(
            &live,
            &globex,
            Method::DELETE,
            "/v2/users/ann@acme.test?action=delete",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(live.db.store.user("acme-ann").await.is_ok());
        let (status, body) =
            call(&live, &globex, Method::GET, "/v2/users/ann@acme.test", None).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::NOT_FOUND, Some(1001)),
            "{body}"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

/// A developer account with a user app, and three accounts that each have pat@shared.test: two
/// with the same password, one with another. lee@shared.test has a different password in each.
const SHARED_SEED: &str = r#"{
  "accounts": [
    {"id": "devco", "name": "Devco", "users": [
      {"email": "dana@devco.test", "password": "dana-password", "role": "owner"}]},
    {"id": "acme", "name": "Acme", "users": [
      {"id": "acme-pat", "email": "pat@shared.test", "password": "shared-password", "role": "owner",
       "first_name": "Pat", "last_name": "Acme"},
      {"id": "acme-lee", "email": "lee@shared.test", "password": "lee-acme-password", "role": "member"}]},
    {"id": "globex", "name": "Globex", "users": [
      {"id": "globex-pat", "email": "Pat@Shared.test", "password": "shared-password", "role": "owner",
       "first_name": "Pat", "last_name": "Globex"},
      {"id": "globex-lee", "email": "lee@shared.test", "password": "lee-globex-password", "role": "member"}]},
    {"id": "initech", "name": "Initech", "users": [
      {"id": "initech-pat", "email": "pat@shared.test", "password": "initech-password", "role": "owner"}]}
  ],
  "apps": [
    {"id": "notes", "name": "Notes", "kind": "user", "developer": "dana@devco.test",
     "status": "published", "scopes": ["meeting:read"],
     "credentials": {"production": {"client_id": "notes", "redirect_uris": ["http://127.0.0.1:9000/callback"]}}}
  ]
}"#;

const AUTHORIZE: &str = "/oauth/authorize?response_type=code&client_id=notes&redirect_uri=http%3A%2F%2F127.0.0.1%3A9000%2Fcallback&state=s";

async fn shared_server(db: &accord_testkit::TestDbRef) -> TestServer {
    let seed = accord_store::seed::parse("shared", SHARED_SEED).expect("the seed parses");
    accord_store::seed::apply(&db.store, "shared", &seed)
        .await
        .expect("the seed applies");
    for password in [
        "shared-password",
        "lee-acme-password",
        "lee-globex-password",
        "initech-password",
    ] {
        crate::live::remember(password);
    }
    TestServer::start(db).await
}

/// Posts the sign-in form of a fresh authorize page.
async fn sign_in(browser: &Browser, email: &str, password: &str) -> Page {
    let page = browser.get(AUTHORIZE).await;
    let form = page.form_with("password");
    browser
        .post(
            &form.action,
            &form.with(&[("email", email), ("password", password)]),
        )
        .await
}

fn has_session(page: &Page) -> bool {
    page.set_cookies()
        .iter()
        .any(|c| c.starts_with("accord_session="))
}

/// After a 303 back to the authorize URL: the consent page, signed in as whom it names.
async fn consent_after(browser: &Browser, answer: &Page) -> Page {
    assert!(has_session(answer), "no session: {}", answer.html);
    let consent = browser.follow(answer).await;
    assert!(
        consent.has_button("decision", "approve"),
        "{}",
        consent.html
    );
    consent
}

/// The account buttons of the account choice, as (value, label) in page order.
fn offered(page: &Page) -> Vec<String> {
    page.form_with("account")
        .buttons
        .iter()
        .filter(|(name, _)| name == "account")
        .map(|(_, value)| value.clone())
        .collect()
}

#[tokio::test]
async fn one_email_with_a_different_password_per_account_signs_into_each_without_a_choice() {
    on_every_backend(|db| async move {
        let server = shared_server(&db).await;
        for (password, account) in [
            ("lee-acme-password", "Acme"),
            ("lee-globex-password", "Globex"),
        ] {
            let browser = server.browser();
            let answer = sign_in(&browser, "LEE@shared.test", password).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
            let consent = consent_after(&browser, &answer).await;
            assert!(
                consent
                    .html
                    .contains(&format!("account <strong>{account}</strong>")),
                "{}",
                consent.html
            );
        }
        // Initech's pat has a password of its own: it signs in there directly.
        let browser = server.browser();
        let answer = sign_in(&browser, "pat@shared.test", "initech-password").await;
        let consent = consent_after(&browser, &answer).await;
        assert!(consent.html.contains("account <strong>Initech</strong>"));
        let refused = sign_in(&server.browser(), "lee@shared.test", "shared-password").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        crate::live::assert_no_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn the_same_email_and_password_in_two_accounts_asks_which_and_each_choice_signs_in_there() {
    on_every_backend(|db| async move {
        let server = shared_server(&db).await;
        for (account, user) in [("acme", "acme-pat"), ("globex", "globex-pat")] {
            let browser = server.browser();
            let choice = sign_in(&browser, "pat@shared.test", "shared-password").await;
            assert_eq!(choice.status, StatusCode::OK, "{}", choice.html);
            assert!(!has_session(&choice), "no session before the choice");
            assert!(
                choice.html.contains("Continue with which account?"),
                "{}",
                choice.html
            );
            // Only the accounts whose user the password matched, by name.
            assert_eq!(offered(&choice), ["acme", "globex"]);
            assert!(
                choice.html.contains(">Acme</button>") && choice.html.contains(">Globex</button>")
            );
            assert!(
                !choice.html.contains("Initech") && !choice.html.contains("initech"),
                "{}",
                choice.html
            );
            assert!(!choice.html.contains("shared-password"));
            // The form carries its hidden inputs, which a client posts back unchanged.
            let form = choice.form_with("account");
            for hidden in ["csrf_token", "flow", "matched"] {
                assert!(!form.field(hidden).is_empty(), "{hidden}");
            }

            let answer = browser
                .post(&form.action, &form.with(&[("account", account)]))
                .await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
            let consent = consent_after(&browser, &answer).await;
            let decision = consent.form_with("decision");
            let approved = browser
                .post(&decision.action, &decision.with(&[("decision", "approve")]))
                .await;
            assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.html);
            let grants = server.store.grants_in_account(account).await.unwrap();
            assert_eq!(grants.len(), 1, "{account}");
            assert_eq!(grants[0].user_id.as_deref(), Some(user));
        }
        crate::live::assert_no_secret_logged();
    })
    .await;
}

/// The sealed `matched` value with its payload rewritten (the MAC left as it was).
fn rewritten(sealed: &str, change: impl Fn(&mut Value)) -> String {
    let (payload, mac) = sealed.split_once('.').expect("payload.mac");
    let mut json: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    change(&mut json);
    format!(
        "{}.{mac}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap())
    )
}

async fn refused(
    browser: &Browser,
    form: &Form,
    fields: Vec<(String, String)>,
    status: StatusCode,
    why: &str,
) {
    let answer = browser.post(&form.action, &fields).await;
    assert_eq!(answer.status, status, "{why}: {}", answer.html);
    assert!(!has_session(&answer), "{why}: a session was started");
}

#[tokio::test]
async fn a_forged_stale_or_foreign_account_choice_is_refused() {
    on_every_backend(|db| async move {
        let server = shared_server(&db).await;
        let browser = server.browser();
        let choice = sign_in(&browser, "pat@shared.test", "shared-password").await;
        let form = choice.form_with("account");
        let sealed = form.field("matched");
        let with = |fields: Vec<(String, String)>, account: &str| {
            let mut fields = fields;
            fields.push(("account".into(), account.into()));
            fields
        };

        // An account that was not offered: the one whose password did not match, or none.
        refused(
            &browser,
            &form,
            form.with(&[("account", "initech")]),
            StatusCode::BAD_REQUEST,
            "not offered",
        )
        .await;
        refused(
            &browser,
            &form,
            form.fields.clone(),
            StatusCode::BAD_REQUEST,
            "no account",
        )
        .await;
        // The sealed list extended with that account, or its seal broken, or left out.
        let forged = rewritten(&sealed, |json| {
            json["v"]["users"]
                .as_array_mut()
                .unwrap()
                .push(json!(["initech", "initech-pat"]));
        });
        refused(
            &browser,
            &form,
            with(form.replacing("matched", &forged), "initech"),
            StatusCode::BAD_REQUEST,
            "extended",
        )
        .await;
        let broken = format!("{}x", &sealed[..sealed.len() - 1]);
        refused(
            &browser,
            &form,
            with(form.replacing("matched", &broken), "acme"),
            StatusCode::BAD_REQUEST,
            "broken seal",
        )
        .await;
        refused(
            &browser,
            &form,
            with(form.without("matched"), "acme"),
            StatusCode::BAD_REQUEST,
            "no seal",
        )
        .await;
        // Another browser cannot use it, even with its own CSRF token and flow.
        let other = server.browser();
        let other_form = other.get(AUTHORIZE).await.form_with("password");
        let mut fields = other_form.fields.clone();
        fields.push(("matched".into(), sealed.clone()));
        refused(
            &other,
            &form,
            with(fields, "acme"),
            StatusCode::BAD_REQUEST,
            "another browser",
        )
        .await;
        // After five minutes (the flow itself lasts ten) the choice has expired: sign in again.
        db.clock.advance_seconds(301);
        let answer = browser
            .post(&form.action, &form.with(&[("account", "acme")]))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.html);
        assert!(answer.html.contains("expired"), "{}", answer.html);
        assert!(answer.form_with("password").fields.len() >= 2);
        assert!(!has_session(&answer));

        let still_signed_out = browser.get(AUTHORIZE).await;
        assert!(still_signed_out.html.contains("name=\"password\""));
        for account in ["acme", "globex", "initech"] {
            assert!(
                server
                    .store
                    .grants_in_account(account)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
        // A fresh choice within its time still works.
        let choice = sign_in(&browser, "pat@shared.test", "shared-password").await;
        let form = choice.form_with("account");
        let answer = browser
            .post(&form.action, &form.with(&[("account", "globex")]))
            .await;
        consent_after(&browser, &answer).await;
    })
    .await;
}
