//! What guessing costs the server and what it gets the guesser: sign-in password checks run a few
//! at a time, failed sign-ins are throttled per email and per address (console.md), and failed
//! client authentications at `/oauth/token`, `/oauth/introspect` and `/oauth/revoke` per client id
//! and per address — while the real user and the real client keep getting in. Clients connect
//! from different loopback addresses (127.0.0.x) to look like different machines; time moves on
//! the test clock.

use accord_store::Store;
use accord_store::secrets::{MasterKey, PasswordCost};
use accord_testkit::on_every_backend;
use reqwest::StatusCode;
use serde_json::Value;

use crate::live::Live;
use crate::support::{Browser, Page, TestServer};
use crate::tokens;

const SEED: &str = r#"{
  "accounts": [
    {"id": "acme", "name": "Acme", "users": [
      {"id": "olive", "email": "olive@acme.test", "password": "olive-password", "role": "owner"},
      {"id": "ann", "email": "ann@acme.test", "password": "ann-password", "role": "member"}]}
  ],
  "apps": [
    {"id": "notes", "name": "Notes", "kind": "user", "developer": "olive@acme.test",
     "status": "published", "scopes": ["meeting:read"],
     "credentials": {"production": {"client_id": "notes", "redirect_uris": ["http://127.0.0.1:9000/callback"]}}}
  ]
}"#;

const AUTHORIZE: &str = "/oauth/authorize?response_type=code&client_id=notes&redirect_uri=http%3A%2F%2F127.0.0.1%3A9000%2Fcallback";

async fn seeded(store: &Store) {
    let seed = accord_store::seed::parse("throttling.json", SEED).expect("the seed parses");
    accord_store::seed::apply(store, "throttling.json", &seed)
        .await
        .expect("the seed applies");
    crate::live::remember("ann-password");
}

/// Opens the sign-in page in `browser` and posts `email` and `password` on it.
async fn try_sign_in(browser: &Browser, email: &str, password: &str) -> Page {
    let page = browser.get(AUTHORIZE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let form = page.form_with("password");
    browser
        .post(
            &form.action,
            &form.with(&[("email", email), ("password", password)]),
        )
        .await
}

fn verifications(store: &Store) -> u64 {
    store.keys().password_work().verifications
}

fn assert_wrong_password(page: &Page) {
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.html);
    assert!(
        page.html.contains("Wrong email or password."),
        "{}",
        page.html
    );
}

/// A 429 sign-in page: the form again, saying when to retry, with `Retry-After`.
fn assert_throttled(page: &Page, seconds: u64) {
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.html);
    assert_eq!(
        page.header("retry-after"),
        Some(seconds.to_string().as_str())
    );
    let when = if seconds == 1 {
        "Try again in 1 second.".to_owned()
    } else {
        format!("Try again in {seconds} seconds.")
    };
    assert!(page.html.contains(&when), "{when} in {}", page.html);
    assert!(
        page.form_with("password").fields.len() >= 2,
        "a working form"
    );
}

fn assert_signed_in(page: &Page) {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("accord_session=")),
        "a session"
    );
}

/// Stores `user`'s password hashed at a real cost (the test store hashes at the cheapest), so each
/// verification takes milliseconds and concurrent ones would overlap.
async fn give_slow_hash(store: &Store, user: &str, password: &str) {
    let slow = accord_store::secrets::Keys::new(
        &MasterKey::generate(),
        PasswordCost {
            memory_kib: 8 * 1024,
            iterations: 2,
        },
    )
    .expect("keys");
    let phc = slow
        .hash_password(&accord_core::ids::Secret::new(password))
        .expect("a hash");
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(phc)
        .bind(user)
        .execute(store.pool())
        .await
        .expect("the hash is stored");
}

#[tokio::test]
async fn password_checks_never_run_more_at_once_than_the_workers_allow() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        give_slow_hash(&db.store, "ann", "ann-password").await;
        let server = TestServer::start_configured(&db, str::to_owned, |config| {
            config.password_check_workers = 1;
            config.password_check_queue = 4;
        })
        .await;
        let before = verifications(&db.store);
        // Twenty browsers, each with its sign-in form open, post at the same moment.
        let mut forms = Vec::new();
        for n in 0..20 {
            let browser = server.browser_from(&format!("127.0.0.{}", 10 + n));
            let page = browser.get(AUTHORIZE).await;
            let form = page.form_with("password");
            forms.push((browser, form));
        }
        let mut posts = tokio::task::JoinSet::new();
        for (browser, form) in forms {
            posts.spawn(async move {
                let fields =
                    form.with(&[("email", "ann@acme.test"), ("password", "not-ann-password")]);
                browser.post(&form.action, &fields).await
            });
        }
        let answers: Vec<Page> = posts.join_all().await;
        let mut checked = 0;
        for page in &answers {
            match page.status {
                StatusCode::UNAUTHORIZED => {
                    assert_wrong_password(page);
                    checked += 1;
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(page.header("retry-after").is_some());
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert!(page.html.contains("too busy"), "{}", page.html);
                    assert_eq!(page.header("retry-after"), Some("2"));
                    assert!(page.form_with("password").fields.len() >= 2);
                }
                other => panic!("{other}: {}", page.html),
            }
        }
        assert!(checked >= 1, "some were checked");
        let work = db.store.keys().password_work();
        assert_eq!(work.peak_concurrent, 1, "one password check at a time");
        assert_eq!(
            work.verifications - before,
            checked,
            "only the wrong-password answers cost a verification"
        );
    })
    .await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_email_and_the_real_user_gets_back_in() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let guesser = server.browser_from("127.0.0.2");
        for _ in 0..5 {
            assert_wrong_password(&try_sign_in(&guesser, "ann@acme.test", "guess").await);
        }
        let checked = verifications(&db.store);
        assert_throttled(&try_sign_in(&guesser, "ann@acme.test", "guess").await, 1);
        // From elsewhere, even with the right password: the email is closed, and nothing is
        // checked while it is.
        let ann = server.browser_from("127.0.0.3");
        assert_throttled(&try_sign_in(&ann, "ANN@acme.test", "ann-password").await, 1);
        assert_eq!(
            verifications(&db.store),
            checked,
            "a refused attempt costs no hash"
        );
        // Another email is not affected.
        assert_signed_in(
            &try_sign_in(
                &server.browser_from("127.0.0.3"),
                "olive@acme.test",
                "olive-password",
            )
            .await,
        );

        db.clock.advance_seconds(1);
        assert_signed_in(&try_sign_in(&ann, "ann@acme.test", "ann-password").await);
        // The success cleared the email's count: the next failure is an ordinary one.
        assert_wrong_password(&try_sign_in(&guesser, "ann@acme.test", "guess").await);

        // Without a success in between, the delay doubles.
        for _ in 0..4 {
            assert_wrong_password(&try_sign_in(&guesser, "ann@acme.test", "guess").await);
        }
        assert_throttled(&try_sign_in(&guesser, "ann@acme.test", "guess").await, 1);
        db.clock.advance_seconds(1);
        assert_wrong_password(&try_sign_in(&guesser, "ann@acme.test", "guess").await);
        assert_throttled(
            &try_sign_in(
                &server.browser_from("127.0.0.4"),
                "ann@acme.test",
                "ann-password",
            )
            .await,
            2,
        );
    })
    .await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        let guesser = server.browser_from("127.0.0.2");
        // Twenty different unknown emails, each guessed once: no email is closed, the address is.
        for n in 0..20 {
            let email = format!("nobody{n}@acme.test");
            assert_wrong_password(&try_sign_in(&guesser, &email, "guess").await);
        }
        let checked = verifications(&db.store);
        let neighbour = server.browser_from("127.0.0.2");
        assert_throttled(
            &try_sign_in(&neighbour, "ann@acme.test", "ann-password").await,
            1,
        );
        assert_eq!(verifications(&db.store), checked);
        assert_signed_in(
            &try_sign_in(
                &server.browser_from("127.0.0.3"),
                "ann@acme.test",
                "ann-password",
            )
            .await,
        );
        db.clock.advance_seconds(1);
        assert_signed_in(&try_sign_in(&neighbour, "olive@acme.test", "olive-password").await);
    })
    .await;
}

#[tokio::test]
async fn guesses_from_elsewhere_do_not_lock_out_a_user_where_they_signed_in_before() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let server = TestServer::start(&db).await;
        assert_signed_in(
            &try_sign_in(
                &server.browser_from("127.0.0.6"),
                "ann@acme.test",
                "ann-password",
            )
            .await,
        );
        let guesser = server.browser_from("127.0.0.7");
        for _ in 0..5 {
            assert_wrong_password(&try_sign_in(&guesser, "ann@acme.test", "guess").await);
        }
        assert_throttled(
            &try_sign_in(
                &server.browser_from("127.0.0.8"),
                "ann@acme.test",
                "ann-password",
            )
            .await,
            1,
        );
        // Ann, on another visit from where she signed in before, gets in at once.
        assert_signed_in(
            &try_sign_in(
                &server.browser_from("127.0.0.6"),
                "ann@acme.test",
                "ann-password",
            )
            .await,
        );
    })
    .await;
}

/// Posts to `/oauth/*` from the loopback address `ip` with HTTP Basic credentials.
async fn post_from(
    live: &Live,
    ip: &str,
    path: &str,
    basic: (&str, &str),
    form: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().expect("an IP address"))
        .build()
        .expect("a client");
    let response = client
        .post(format!("{}{path}", live.url))
        .basic_auth(basic.0, Some(basic.1))
        .form(form)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

const BACKEND: (&str, &str) = ("backend-prod", "backend-prod-secret-0123456789");
const WRONG: (&str, &str) = ("backend-prod", "not-the-secret");
const TOKEN: &[(&str, &str)] = &[("grant_type", "client_credentials")];
const A_TOKEN: &[(&str, &str)] = &[("token", "not-a-token")];

/// A 429 in both dialects, with `Retry-After`, that checked nothing.
fn assert_client_throttled(answer: &(StatusCode, reqwest::header::HeaderMap, Value), seconds: u64) {
    let (status, headers, body) = answer;
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "slow_down", "{body}");
    let reason = body["reason"].as_str().expect("a reason");
    assert_eq!(body["error_description"].as_str(), Some(reason));
    let when = if seconds == 1 {
        "try again in 1 second".to_owned()
    } else {
        format!("try again in {seconds} seconds")
    };
    assert!(reason.contains(&when), "{reason}");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some(seconds.to_string().as_str())
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert!(!headers.contains_key("www-authenticate"));
}

fn assert_invalid_client(answer: &(StatusCode, reqwest::header::HeaderMap, Value)) {
    assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{}", answer.2);
    assert_eq!(answer.2["error"], "invalid_client");
}

#[tokio::test]
async fn failed_client_authentication_is_throttled_per_client_id_at_every_endpoint() {
    on_every_backend(|db| async move {
        let live = tokens::start(db).await;
        // A client that never fails is never slowed.
        for _ in 0..30 {
            let (status, _, body) =
                post_from(&live, "127.0.0.2", "/oauth/token", BACKEND, TOKEN).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        for _ in 0..5 {
            assert_invalid_client(
                &post_from(&live, "127.0.0.3", "/oauth/token", WRONG, TOKEN).await,
            );
        }
        // The right secret from a new address is refused unchecked, at every endpoint.
        let from = "127.0.0.4";
        assert_client_throttled(
            &post_from(&live, from, "/oauth/token", BACKEND, TOKEN).await,
            1,
        );
        assert_client_throttled(
            &post_from(&live, from, "/oauth/introspect", BACKEND, A_TOKEN).await,
            1,
        );
        assert_client_throttled(
            &post_from(&live, from, "/oauth/revoke", BACKEND, A_TOKEN).await,
            1,
        );
        // Where it authenticated before, the client keeps working.
        let (status, _, body) = post_from(&live, "127.0.0.2", "/oauth/token", BACKEND, TOKEN).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Other clients are not affected.
        let sync = ("sync-prod", "sync-prod-secret-0123456789");
        let (status, _, body) = post_from(&live, from, "/oauth/introspect", sync, A_TOKEN).await;
        assert_eq!(
            (status, body["active"].as_bool()),
            (StatusCode::OK, Some(false)),
            "{body}"
        );

        live.db.clock.advance_seconds(1);
        let (status, _, body) = post_from(&live, from, "/oauth/revoke", BACKEND, A_TOKEN).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("success")),
            "{body}"
        );
        // The success cleared the count; failures start again from the free ones.
        for _ in 0..5 {
            assert_invalid_client(
                &post_from(&live, "127.0.0.3", "/oauth/introspect", WRONG, A_TOKEN).await,
            );
        }
        assert_client_throttled(
            &post_from(&live, "127.0.0.5", "/oauth/token", BACKEND, TOKEN).await,
            1,
        );
        live.db.clock.advance_seconds(1);
        assert_invalid_client(
            &post_from(&live, "127.0.0.3", "/oauth/revoke", WRONG, A_TOKEN).await,
        );
        assert_client_throttled(
            &post_from(&live, "127.0.0.5", "/oauth/token", BACKEND, TOKEN).await,
            2,
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}

#[tokio::test]
async fn failed_client_authentication_is_throttled_per_address() {
    on_every_backend(|db| async move {
        let live = tokens::start(db).await;
        let from = "127.0.0.2";
        for n in 0..20 {
            let client = format!("guess-{n}");
            let path = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"][n % 3];
            let form = if n % 3 == 0 { TOKEN } else { A_TOKEN };
            assert_invalid_client(&post_from(&live, from, path, (&client, "guess"), form).await);
        }
        assert_client_throttled(
            &post_from(&live, from, "/oauth/token", BACKEND, TOKEN).await,
            1,
        );
        let (status, _, body) = post_from(&live, "127.0.0.3", "/oauth/token", BACKEND, TOKEN).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        live.db.clock.advance_seconds(1);
        let (status, _, body) = post_from(&live, from, "/oauth/token", BACKEND, TOKEN).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    })
    .await;
}
