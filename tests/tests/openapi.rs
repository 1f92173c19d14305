//! `GET /api/v1/openapi.json` from the real server, held against the real router: each
//! described operation is routed, each other method of a described path is not, and what an
//! operation answers is among the statuses its description lists.
//!
//! (That every route the router has is described is checked where the routes are read, in
//! the server's `openapi` unit tests.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use luot_tests::{ADMIN, Reply, ServerOptions, TestServer};
use reqwest::Method;
use serde_json::Value;

/// The methods a path may have.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The path with each `{param}` replaced by a value of its declared schema.
fn concrete(path: &str, operation: &Value) -> String {
    let mut out = path.to_owned();
    for param in operation["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "path" {
            continue;
        }
        let schema = &param["schema"];
        let value = if let Some(first) = schema["enum"].get(0) {
            first.as_str().unwrap().to_owned()
        } else if schema["type"] == "integer" {
            "1".to_owned()
        } else {
            "x".to_owned()
        };
        out = out.replace(&format!("{{{}}}", param["name"].as_str().unwrap()), &value);
    }
    assert!(
        !out.contains('{'),
        "{path}: a path parameter is not declared"
    );
    out
}

/// Whether a reply is one of the router's own: no route (404 `no such page`) or no such
/// method (405).
fn fallback(reply: &Reply) -> bool {
    let error = || serde_json::from_str::<Value>(&reply.body).unwrap_or_default();
    match reply.status {
        404 => error()["error"]["message"] == "no such page",
        405 => error()["error"]["code"] == "method_not_allowed",
        _ => false,
    }
}

/// Anyone may read the description, and it is OpenAPI 3.1; every operation it describes is
/// routed (anonymous and admin requests get other than the router's 404 and 405), every other
/// method at a described path gets the router's 405, and the status each request gets is one
/// the operation lists, an error with the API's error body.
#[tokio::test]
async fn the_description_holds_for_the_running_router() {
    let server = TestServer::start(ServerOptions::new());
    let anonymous = server.api(None);
    let admin = server.api_as(ADMIN);
    let reply = anonymous
        .get("/api/v1/openapi.json")
        .await
        .expect_status(200);
    assert!(
        reply
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        reply.content_type
    );
    let doc: Value = reply.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 25, "only {} paths", paths.len());

    let mut operations = 0;
    for (path, item) in paths {
        for method in METHODS {
            let verb = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let Some(operation) = item.get(method) else {
                let url = concrete(path, item.as_object().unwrap().values().next().unwrap());
                let reply = anonymous.send(verb, &url, None).await;
                assert!(
                    reply.status == 405 && fallback(&reply),
                    "{method} {url} is not described but the router answers it: {} {}",
                    reply.status,
                    reply.body
                );
                continue;
            };
            operations += 1;
            let url = concrete(path, operation);
            let listed = operation["responses"].as_object().unwrap();
            for (who, api) in [("anonymous", &anonymous), ("admin", &admin)] {
                let reply = api.send(verb.clone(), &url, None).await;
                assert!(
                    !fallback(&reply),
                    "{method} {url} is described but not routed: {} {}",
                    reply.status,
                    reply.body
                );
                let status = reply.status.to_string();
                assert!(
                    listed.contains_key(&status),
                    "{method} {url} as {who} answered {status}, which its description does not list ({:?}): {}",
                    listed.keys().collect::<Vec<_>>(),
                    reply.body
                );
                if reply.status >= 400 && path != "/healthz" {
                    reply.expect_error(reply.status);
                }
            }
        }
    }
    assert!(operations >= 35, "only {operations} operations");
}
