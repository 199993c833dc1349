//! The whole authorization-code flow as an integrator's backend runs it with the `oauth2` crate:
//! the consent pages are driven exactly as the form contract allows (named inputs, hidden fields
//! and cookies posted back unchanged), then the code is exchanged with PKCE, refreshed, and the
//! API called. Also: a member is refused the install, and the installation outlives its installer's
//! admin role.

use accord_core::ids::RoleId;
use accord_store::audit::Actor;
use accord_store::users::UserChange;
use accord_testkit::on_every_backend;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    PkceCodeChallenge, RedirectUrl, RefreshToken, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;

use crate::support::{Browser, Page};
use crate::tokens::{REDIRECT, me, start};

/// `oauth2`'s HTTP client: any async function from request to response; here, reqwest.
async fn send(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut answer = HttpResponse::new(response.bytes().await?.to_vec());
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// Signs in on the page `authorize_url` leads to, as `email`, and returns the consent page.
async fn sign_in(browser: &Browser, authorize_url: &str, email: &str, password: &str) -> Page {
    let page = browser.get(authorize_url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let form = page.form_with("password");
    let signed_in = browser
        .post(
            &form.action,
            &form.with(&[("email", email), ("password", password)]),
        )
        .await;
    browser.follow(&signed_in).await
}

#[tokio::test]
async fn the_oauth2_crate_completes_code_pkce_refresh_and_calls_the_api() {
    on_every_backend(|db| async move {
        let live = start(db).await;
        let client = BasicClient::new(ClientId::new("sync-prod".into()))
            .set_client_secret(ClientSecret::new("sync-prod-secret-0123456789".into()))
            .set_auth_uri(AuthUrl::new(format!("{}/oauth/authorize", live.url)).unwrap())
            .set_token_uri(TokenUrl::new(format!("{}/oauth/token", live.url)).unwrap())
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        let http = live.http.clone();
        let http_client = move |request: HttpRequest| send(http.clone(), request);

        // A member cannot install an account app: the admin-required page, and no grant.
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .url();
        let member = live.server.browser();
        let consent = sign_in(&member, url.as_str(), "ann@acme.test", "ann-password-1").await;
        assert!(
            !consent.has_button("decision", "approve"),
            "{}",
            consent.html
        );
        assert!(consent.html.contains("admin"), "{}", consent.html);
        assert!(
            live.db
                .store
                .grants_of_app("sync")
                .await
                .unwrap()
                .is_empty(),
            "a refused member makes no grant"
        );

        // An admin installs it.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf) = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .url();
        let admin = live.server.browser();
        let consent = sign_in(&admin, url.as_str(), "adam@acme.test", "adam-password-1").await;
        let form = consent.form_with("decision");
        let done = admin
            .post(&form.action, &form.with(&[("decision", "approve")]))
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        assert_eq!(
            done.redirect_param("state").as_deref(),
            Some(csrf.secret().as_str())
        );
        assert_eq!(
            done.redirect_param("iss").as_deref(),
            Some(live.url.as_str())
        );
        let code = live.secret(done.redirect_param("code").expect("a code"));

        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http_client)
            .await
            .expect("the code exchanges");
        let access = live.secret(token.access_token().secret().clone());
        let refresh = live.secret(
            token
                .refresh_token()
                .expect("a refresh token")
                .secret()
                .clone(),
        );
        assert!(matches!(
            token.expires_in().map(|d| d.as_secs()),
            Some(3599 | 3600)
        ));
        let (status, user) = me(&live, &access).await;
        assert_eq!(
            (status, user["id"].as_str()),
            (StatusCode::OK, Some("acme-adam")),
            "{user}"
        );

        let refreshed = client
            .exchange_refresh_token(&RefreshToken::new(refresh))
            .request_async(&http_client)
            .await
            .expect("the refresh token works");
        let access = live.secret(refreshed.access_token().secret().clone());
        live.secret(
            refreshed
                .refresh_token()
                .expect("a rotated refresh token")
                .secret()
                .clone(),
        );
        assert_eq!(me(&live, &access).await.0, StatusCode::OK);

        // Demoting the admin who installed it does not break the installation.
        let demote = UserChange {
            role_id: Some(RoleId::parse("2").unwrap()),
            ..Default::default()
        };
        live.db
            .store
            .update_user(&Actor::cli(), "acme-adam", demote)
            .await
            .unwrap();
        let (status, user) = me(&live, &access).await;
        assert_eq!(
            (status, user["id"].as_str()),
            (StatusCode::OK, Some("acme-adam")),
            "{user}"
        );
        let owner = live
            .http
            .get(format!("{}/v2/users/olive@acme.test", live.url))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(
            owner.status(),
            StatusCode::OK,
            "the installation still reaches every user"
        );
        live.assert_nothing_secret_logged();
    })
    .await;
}
