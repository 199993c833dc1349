//! The console's *Scheduling*, *Meetings*, *Audit log* and *Why?* sections: each reads and changes
//! through the `/v2` handlers, so the rule decides — an assistant reaches her principal's
//! meetings, a member does not, and a refused or forged post changes nothing.

use accord_testkit::on_every_backend;
use reqwest::StatusCode;

use crate::console_support::{approve, form_at, post_ok, seed, sign_in};
use crate::support::{Browser, Page, TestServer};

/// Schedules a meeting on the open meetings page.
async fn schedule(browser: &Browser, page: &Page, topic: &str) -> Page {
    let form = form_at(page, "/console/meetings/create", &[]);
    post_ok(
        browser,
        &form.action,
        &form.with(&[
            ("topic", topic),
            ("start_time", "2026-12-02T09:30"),
            ("duration", "45"),
        ]),
    )
    .await
}

async fn audit_len(server: &TestServer) -> usize {
    server.store.audit_log("acme").await.expect("the log").len()
}

#[tokio::test]
async fn a_user_adds_an_assistant_and_removes_him() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let ann = server.browser();
        sign_in(&ann, "ann@acme.test").await;
        let page = ann.get("/console/scheduling").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(page.html.contains("sam@acme.test"), "{}", page.html);
        assert!(!page.html.contains("max@acme.test"));

        let add = form_at(&page, "/console/scheduling/add", &[]);
        let added = post_ok(&ann, &add.action, &add.with(&[("email", "max@acme.test")])).await;
        assert!(
            added.html.contains("The assistant is added"),
            "{}",
            added.html
        );
        assert!(added.html.contains("max@acme.test"), "{}", added.html);
        let max_id = server
            .store
            .user_by_email(
                "acme",
                &accord_core::ids::Email::parse("max@acme.test").unwrap(),
            )
            .await
            .unwrap()
            .expect("Max")
            .id
            .to_string();

        let remove = form_at(
            &added,
            "/console/scheduling/remove",
            &[("assistant_id", &max_id)],
        );
        let removed = post_ok(&ann, &remove.action, &remove.fields).await;
        assert!(
            removed.html.contains("The assistant is removed"),
            "{}",
            removed.html
        );
        assert!(!removed.html.contains("max@acme.test"), "{}", removed.html);
        assert!(removed.html.contains("sam@acme.test"));
        let actions: Vec<String> = server
            .store
            .audit_log("acme")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(actions.len() >= 2, "{actions:?}");

        // A bad email: the API's validation answer, nothing added; a forged post: refused.
        let before = audit_len(&server).await;
        let forged = ann
            .post(
                &add.action,
                &[
                    ("csrf_token".to_owned(), "forged".to_owned()),
                    ("email".to_owned(), "max@acme.test".to_owned()),
                ],
            )
            .await;
        assert!(forged.status.is_client_error(), "{}", forged.html);
        let answer = ann
            .post(&add.action, &add.with(&[("email", "nobody@acme.test")]))
            .await;
        assert!(answer.status.is_client_error(), "{}", answer.html);
        assert_eq!(audit_len(&server).await, before);
    })
    .await;
}

#[tokio::test]
async fn an_assistant_sees_her_principal_and_schedules_for_her() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let sam = server.browser();
        sign_in(&sam, "sam@acme.test").await;
        let page = sam.get("/console/scheduling").await;
        assert!(page.html.contains("I schedule for"), "{}", page.html);
        assert!(page.html.contains("ann@acme.test"), "{}", page.html);
        let link_start = page.html.find("/console/meetings?user=").expect("a link");
        let link = &page.html[link_start..];
        let link = &link[..link.find('"').unwrap()];

        let meetings = sam.get(link).await;
        assert_eq!(meetings.status, StatusCode::OK, "{}", meetings.html);
        assert!(
            meetings.html.contains("meetings of ann@acme.test"),
            "{}",
            meetings.html
        );
        let after = schedule(&sam, &meetings, "Planning with Ann").await;
        assert!(
            after.html.contains("The meeting is scheduled."),
            "{}",
            after.html
        );
        assert!(after.html.contains("Planning with Ann"), "{}", after.html);
        assert!(
            after.html.contains("2026-12-02 09:30 UTC"),
            "{}",
            after.html
        );

        let created = server
            .store
            .audit_log("acme")
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.action == "meeting.created")
            .expect("the entry");
        assert_eq!(created.actor_id.as_deref(), Some("sam"), "{created:?}");
        // The meeting is Ann's: her own page lists it.
        let ann = server.browser();
        sign_in(&ann, "ann@acme.test").await;
        let hers = ann.get("/console/meetings").await;
        assert!(hers.html.contains("Planning with Ann"), "{}", hers.html);
        assert!(hers.html.contains("your meetings"), "{}", hers.html);
    })
    .await;
}

#[tokio::test]
async fn a_member_who_is_not_her_assistant_is_refused_her_meetings() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let ann = server.browser();
        sign_in(&ann, "ann@acme.test").await;
        let mine = ann.get("/console/meetings").await;
        let mine = schedule(&ann, &mine, "Ann solo").await;
        let delete = form_at(&mine, "/console/meetings/delete", &[]);

        let max = server.browser();
        sign_in(&max, "max@acme.test").await;
        let refused = max.get("/console/meetings?user=ann%40acme.test").await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
        assert!(refused.html.contains("Not allowed"), "{}", refused.html);
        assert!(
            refused.html.contains("What would fix it"),
            "{}",
            refused.html
        );
        assert!(refused.html.contains("step 4"), "{}", refused.html);
        assert!(!refused.html.contains("Ann solo") && !refused.html.contains("Ann solo"));

        // Max's own page offers no one else; crafted posts get the rule's refusal, nothing changes.
        let own = max.get("/console/meetings").await;
        assert!(!own.html.contains("ann@acme.test"), "{}", own.html);
        let create = form_at(&own, "/console/meetings/create", &[]);
        let before = audit_len(&server).await;
        let answer = max
            .post(
                &create.action,
                &create
                    .replacing("user", "ann@acme.test")
                    .into_iter()
                    .chain([
                        ("topic".to_owned(), "Sneaky".to_owned()),
                        ("start_time".to_owned(), "2026-12-02T09:30".to_owned()),
                        ("duration".to_owned(), "30".to_owned()),
                    ])
                    .collect::<Vec<_>>(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.html);
        assert!(answer.html.contains("What would fix it"), "{}", answer.html);
        let meeting_id = delete.field("meeting_id");
        let forged = create.replacing("csrf_token", "nope");
        let answer = max
            .post(
                "/console/meetings/delete",
                &[
                    ("csrf_token".to_owned(), create.field("csrf_token")),
                    ("meeting_id".to_owned(), meeting_id.clone()),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.html);
        assert!(answer.html.contains("What would fix it"), "{}", answer.html);
        // Ann solo delete form, without a valid CSRF token: refused before anything is read.
        let answer = ann
            .post(&delete.action, &delete.replacing("csrf_token", "forged"))
            .await;
        assert!(answer.status.is_client_error(), "{}", answer.html);
        let answer = max.post(&create.action, &forged).await;
        assert!(answer.status.is_client_error(), "{}", answer.html);
        assert_eq!(audit_len(&server).await, before);
        let still = ann.get("/console/meetings").await;
        assert!(still.html.contains("Ann solo") || still.html.contains("Ann solo"));

        // Ann deletes her own.
        let gone = post_ok(&ann, &delete.action, &delete.fields).await;
        assert!(
            gone.html.contains("The meeting is deleted."),
            "{}",
            gone.html
        );
        assert!(gone.html.contains("0 scheduled meetings"), "{}", gone.html);
    })
    .await;
}

#[tokio::test]
async fn an_admin_filters_and_pages_the_audit_log_and_a_member_is_refused() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let adam = server.browser();
        sign_in(&adam, "adam@acme.test").await;
        let meetings = adam.get("/console/meetings").await;
        schedule(&adam, &meetings, "Adam review").await;

        let all = adam.get("/console/audit").await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.html);
        assert!(all.html.contains("user.created"), "{}", all.html);
        assert!(all.html.contains("meeting.created"), "{}", all.html);

        let created = adam.get("/console/audit?action=user.created").await;
        assert!(created.html.contains("user.created"), "{}", created.html);
        assert!(
            !created.html.contains("<code>meeting.created</code>"),
            "{}",
            created.html
        );

        let by_adam = adam
            .get("/console/audit?operator=adam%40acme.test&from=2026-11-01&to=2026-12-31")
            .await;
        assert_eq!(by_adam.status, StatusCode::OK, "{}", by_adam.html);
        assert!(by_adam.html.contains("1 entry"), "{}", by_adam.html);
        assert!(by_adam.html.contains("meeting.created"), "{}", by_adam.html);
        assert!(
            by_adam.html.contains("value=\"adam@acme.test\""),
            "the filter stays filled"
        );

        // Pages of two, following the next-page links to the end.
        let mut page = adam
            .get("/console/audit?action=user.created&page_size=2")
            .await;
        let mut pages = 1;
        while let Some(at) = page.html.find("href=\"/console/audit?") {
            let link = &page.html[at + 6..];
            let link = link[..link.find('"').unwrap()]
                .replace("&#38;", "&")
                .replace("&amp;", "&");
            assert!(link.contains("action=user.created"), "{link}");
            page = adam.get(&link).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.html);
            assert!(!page.html.contains("<code>meeting.created</code>"));
            pages += 1;
            assert!(pages < 10, "the pages end");
        }
        assert!(
            pages >= 3,
            "five users in two-entry pages: {pages}: {}",
            page.html
        );

        let ann = server.browser();
        sign_in(&ann, "ann@acme.test").await;
        let refused = ann.get("/console/audit").await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
        assert!(refused.html.contains("Not allowed"), "{}", refused.html);
        assert!(refused.html.contains("AuditLog:Read"), "{}", refused.html);
    })
    .await;
}

#[tokio::test]
async fn why_explains_a_refused_call_for_a_real_token_and_as_me() {
    on_every_backend(|db| async move {
        seed(&db.store).await;
        let server = TestServer::start(&db).await;
        let ann = server.browser();
        sign_in(&ann, "ann@acme.test").await;
        let code = approve(&ann, "notes")
            .await
            .redirect_param("code")
            .expect("a code");
        let exchanged = ann
            .client
            .post(ann.url("/oauth/token"))
            .basic_auth("notes", Some("notes-secret-0123456789"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:9/callback"),
            ])
            .send()
            .await
            .expect("the token request");
        let body: serde_json::Value = exchanged.json().await.expect("JSON");
        let token = body["access_token"].as_str().expect("a token").to_owned();

        let why = ann.get("/console/why").await;
        assert_eq!(why.status, StatusCode::OK, "{}", why.html);
        let form = form_at(&why, "/console/why", &[]);
        let before = audit_len(&server).await;
        // Notes holds meeting:read, not meeting:write: step 3 refuses.
        let answer = ann
            .post(
                &form.action,
                &form.with(&[
                    ("token", token.as_str()),
                    ("method", "POST"),
                    ("path", "/v2/users/me/meetings"),
                ]),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.html);
        assert!(
            !answer.html.contains(&token),
            "the token is never shown back"
        );
        assert!(
            answer.html.contains("POST /users/{userId}/meetings"),
            "{}",
            answer.html
        );
        assert!(answer.html.contains("denied"), "{}", answer.html);
        assert!(answer.html.contains("code 4711"), "{}", answer.html);
        assert!(answer.html.contains("Fix:"), "{}", answer.html);
        assert!(answer.html.contains("not reached"), "{}", answer.html);
        assert!(answer.html.contains("meeting:write"), "{}", answer.html);

        // Reach: Ann's token on Max's meetings fails step 4, with its reason and fix.
        let answer = ann
            .post(
                &form.action,
                &form.with(&[
                    ("token", token.as_str()),
                    ("method", "GET"),
                    ("path", "/v2/users/max@acme.test/meetings"),
                ]),
            )
            .await;
        assert!(answer.html.contains("code 200"), "{}", answer.html);
        assert!(answer.html.contains("Meeting:Read"), "{}", answer.html);

        // As me (no token): the console's own principal.
        let answer = ann
            .post(
                &form.action,
                &form.with(&[("method", "GET"), ("path", "/v2/report/operationlogs")]),
            )
            .await;
        assert!(
            answer.html.contains("The answer for you"),
            "{}",
            answer.html
        );
        assert!(answer.html.contains("AuditLog:Read"), "{}", answer.html);
        let answer = ann
            .post(
                &form.action,
                &form.with(&[("method", "GET"), ("path", "/v2/users/me")]),
            )
            .await;
        assert!(answer.html.contains("allowed"), "{}", answer.html);

        // Not an endpoint, a bad method, no CSRF token: answered, never a 500.
        let answer = ann
            .post(
                &form.action,
                &form.with(&[("method", "GET"), ("path", "/v2/nowhere")]),
            )
            .await;
        assert!(
            answer.html.contains("is not an endpoint"),
            "{}",
            answer.html
        );
        let answer = ann
            .post(
                &form.action,
                &form.with(&[("method", "TRACE"), ("path", "/v2/users/me")]),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.html);
        let answer = ann
            .post(
                &form.action,
                &[
                    ("method".to_owned(), "GET".to_owned()),
                    ("path".to_owned(), "/v2/users/me".to_owned()),
                ],
            )
            .await;
        assert!(answer.status.is_client_error(), "{}", answer.html);
        assert_eq!(
            audit_len(&server).await,
            before,
            "explaining changes nothing"
        );
    })
    .await;
}
