//! The console's sign-in and *My apps*: a user sees and removes her own authorizations, through
//! the same handler as `DELETE /v2/users/{userId}/apps/{appId}`.

use accord_core::grants::GrantStatus;
use accord_testkit::on_every_backend;
use reqwest::StatusCode;

use crate::console_support::{approve, seed, sign_in};
use crate::support::TestServer;

#[tokio::test]
async fn a_user_sees_and_removes_her_own_authorization() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let ann = server.browser();
        let home = sign_in(&ann, "ann@acme.test").await;
        assert!(
            home.html.contains("You have not authorized any app."),
            "{}",
            home.html
        );
        assert!(
            !home.html.contains("href=\"/console/audit\""),
            "a member has no audit log link"
        );

        approve(&ann, "notes").await;
        let home = ann.get("/console").await;
        assert!(home.html.contains("Notes"), "{}", home.html);
        let remove = home.form_with("app_id");
        let answer = ann.post(&remove.action, &remove.fields).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
        let after = ann.follow(&answer).await;
        assert!(
            after.html.contains("authorization is removed"),
            "{}",
            after.html
        );
        assert!(after.html.contains("You have not authorized any app."));
        let grants = db.store.grants_of_app("notes").await.unwrap();
        assert!(grants.iter().all(|g| g.status == GrantStatus::Revoked));
        let audit = db.store.audit_log("acme").await.unwrap();
        assert!(
            audit.iter().any(|e| e.action == "grant.revoked"),
            "{audit:?}"
        );

        // Removing what she has not authorized: the API's answer, on the page.
        let again = ann.post(&remove.action, &remove.fields).await;
        assert!(again.status.is_client_error(), "{}", again.html);
    })
    .await;
}

#[tokio::test]
async fn the_console_needs_a_session_and_signing_out_ends_it() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let browser = server.browser();
        let answer = browser.get("/console").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.location().as_deref(), Some("/console/sign-in"));

        let home = sign_in(&browser, "adam@acme.test").await;
        let csp = home.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let sign_out = home.form_with("csrf_token");
        assert_eq!(sign_out.action, "/console/sign-out");
        let answer = browser.post(&sign_out.action, &sign_out.fields).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let answer = browser.get("/console").await;
        assert_eq!(answer.location().as_deref(), Some("/console/sign-in"));

        // A session ends by itself after twelve hours: the sign-in page says so.
        sign_in(&browser, "adam@acme.test").await;
        db.clock.advance_seconds(12 * 3600 + 1);
        let answer = browser.get("/console").await;
        assert_eq!(
            answer.location().as_deref(),
            Some("/console/sign-in?ended=1")
        );
        let page = browser.get("/console/sign-in?ended=1").await;
        assert!(page.html.contains("Your session ended"), "{}", page.html);
    })
    .await;
}

/// One wrong password for Ann on the console's sign-in form.
async fn guess(browser: &crate::support::Browser) -> crate::support::Page {
    let page = browser.get("/console/sign-in").await;
    let form = page.form_with("password");
    browser
        .post(
            &form.action,
            &form.with(&[("email", "ann@acme.test"), ("password", "guess")]),
        )
        .await
}

#[tokio::test]
async fn console_sign_in_failures_count_with_the_authorize_flows_and_are_throttled_alike() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let guesser = server.browser_from("127.0.0.2");
        for _ in 0..5 {
            let answer = guess(&guesser).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.html);
            assert!(answer.html.contains("Wrong email or password."));
        }
        let answer = guess(&guesser).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.html);
        assert_eq!(answer.header("retry-after"), Some("1"));
        // The same email through the authorize flow's sign-in, from elsewhere: closed too.
        let elsewhere = server.browser_from("127.0.0.3");
        let consent = elsewhere
            .get("/oauth/authorize?response_type=code&client_id=notes&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback")
            .await;
        let form = consent.form_with("password");
        let answer = elsewhere
            .post(
                &form.action,
                &form.with(&[("email", "ann@acme.test"), ("password", "ann-password")]),
            )
            .await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.html);
        // Not for long: a second later the real user gets in.
        db.clock.advance_seconds(1);
        sign_in(&elsewhere, "ann@acme.test").await;
    })
    .await;
}

#[tokio::test]
async fn console_cookies_are_http_only_lax_and_secure_behind_https() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start_with(&db, |base| base.replace("http://", "https://")).await;
        // A client without a cookie store: it would not send Secure cookies over plain http.
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = |path: &str| format!("{}{path}", server.base);
        let cookie_named = |response: &reqwest::Response, name: &str| {
            response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name} cookie"))
                .to_owned()
        };
        let response = plain.get(url("/console/sign-in")).send().await.unwrap();
        let csrf = cookie_named(&response, "accord_csrf");
        let form = crate::support::forms(&response.text().await.unwrap())
            .into_iter()
            .find(|f| f.action == "/console/sign-in")
            .expect("the sign-in form");
        let signed_in = plain
            .post(url("/console/sign-in"))
            .header("cookie", csrf.split(';').next().unwrap())
            .form(&form.with(&[("email", "ann@acme.test"), ("password", "ann-password")]))
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let session = cookie_named(&signed_in, "accord_session");
        for cookie in [&csrf, &session] {
            for attribute in ["; HttpOnly", "; SameSite=Lax", "; Secure", "; Path=/"] {
                assert!(cookie.contains(attribute), "{attribute} in {cookie}");
            }
        }
    })
    .await;
}
