//! `GET /openapi.json`: the document is snapshot-tested, covers exactly the endpoint catalog and
//! the OAuth endpoints, names each operation's admitting scopes from the catalog, and every
//! operation it documents is really routed.

use std::collections::BTreeSet;

use accord_core::endpoints;
use accord_server::{AppState, ServerConfig, router};
use accord_testkit::on_every_backend;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// The reviewed document, checked in next to the crate's manifest.
const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

/// The document as a server at `http://accord.test` serves it, pretty-printed.
fn current() -> String {
    let doc = accord_server::openapi::document("http://accord.test");
    let mut text = serde_json::to_string_pretty(&doc).expect("the document serializes");
    text.push('\n');
    text
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths").iter() {
        for method in item.as_object().expect("a path item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[test]
fn the_document_matches_its_reviewed_snapshot() {
    // A change fails and leaves `openapi.json.new` to review; ACCORD_UPDATE_SNAPSHOTS=1 accepts it
    // outside CI only (accord_testkit::snapshot).
    if let Err(message) =
        accord_testkit::snapshot::check(std::path::Path::new(SNAPSHOT), &current())
    {
        panic!("{message}");
    }
}

#[test]
fn the_document_covers_the_catalog_and_the_oauth_endpoints_and_nothing_else() {
    let doc: Value = serde_json::from_str(&current()).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = operations(&doc);
    let mut expected: BTreeSet<(String, String)> = endpoints::all()
        .iter()
        .map(|e| (e.method.to_owned(), format!("/v2{}", e.path)))
        .collect();
    for (method, path) in [
        ("GET", "/oauth/authorize"),
        ("POST", "/oauth/authorize/sign-in"),
        ("POST", "/oauth/authorize/choose-account"),
        ("POST", "/oauth/authorize/decision"),
        ("POST", "/oauth/authorize/sign-out"),
        ("POST", "/oauth/token"),
        ("POST", "/oauth/revoke"),
        ("POST", "/oauth/introspect"),
        ("GET", "/oauth/jwks"),
        ("GET", "/.well-known/oauth-authorization-server"),
    ] {
        expected.insert((method.to_owned(), path.to_owned()));
    }
    assert_eq!(
        documented.difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not in the catalog"
    );
    assert_eq!(
        expected.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in the catalog but not documented"
    );

    // Every `$ref` names a schema the document holds.
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 100, "only {} references", found.len());
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a reference outside the schemas: {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} names no schema of the document"
        );
    }

    // Every link leads to an operation of the document.
    let ids: BTreeSet<&str> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let mut links = 0;
    for item in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for operation in item.as_object().into_iter().flat_map(|i| i.values()) {
            for response in operation["responses"]
                .as_object()
                .into_iter()
                .flat_map(|r| r.values())
            {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    assert!(
                        ids.contains(target),
                        "a link to {target:?}, which is no operation"
                    );
                    links += 1;
                }
            }
        }
    }
    assert!(links >= 10, "only {links} links");

    // Each /v2 operation names exactly the scopes the rule admits it with, and its catalog name.
    for endpoint in endpoints::all() {
        let path = format!("/v2{}", endpoint.path);
        let operation = &doc["paths"][&path][endpoint.method.to_lowercase()];
        let scopes: Vec<String> = endpoint
            .scopes
            .admitting()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        assert_eq!(
            operation["security"],
            serde_json::json!([{ "zoom_oauth": scopes }]),
            "{}",
            endpoint.display()
        );
        assert_eq!(operation["operationId"], endpoint.name);
        for status in ["400", "401", "404", "429"] {
            assert_eq!(
                operation["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{} {status}",
                endpoint.display()
            );
        }
    }
}

/// A concrete request path for a documented template.
fn concrete(path: &str) -> String {
    path.replace("{userId}", "me")
        .replace("{meetingId}", "85746065432")
        .replace("{assistantId}", "someone@example.test")
        .replace("{schedulerId}", "someone@example.test")
        .replace("{roleId}", "2")
        .replace("{appId}", "some-app")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_the_document_is_served() {
    on_every_backend(|db| async move {
        let state = AppState::new(db.store.clone(), ServerConfig::new("http://accord.test"))
            .await
            .unwrap();
        let response = router(state.clone())
            .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap();
        let served: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            served["servers"],
            serde_json::json!([{"url": "http://accord.test"}])
        );
        assert_eq!(
            served,
            serde_json::from_str::<Value>(&current()).unwrap(),
            "the served document is the snapshot's"
        );

        for (method, path) in operations(&served) {
            let request = Request::builder()
                .method(method.as_str())
                .uri(concrete(&path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap();
            let response = router(state.clone()).oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
            if path.starts_with("/v2") {
                // Routed: the gate answers first, for want of a token.
                let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                assert_eq!(
                    (status, body["code"].as_u64()),
                    (StatusCode::UNAUTHORIZED, Some(124)),
                    "{method} {path}"
                );
            } else {
                assert!(
                    status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} answered {status}"
                );
            }
        }
    })
    .await;
}
