//! Who may change what: every mutating endpoint against missing, unknown and under-privileged
//! credentials.

use luot_shared::protocol::{LoginResponse, Role};
use luot_tests::{ADMIN, Api, Reply, ServerOptions, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// One mutating request and the token labels that must get 403 for it.
struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    forbidden: &'static [&'static str],
}

async fn send(api: &Api, case: &Case) -> Reply {
    let body = case
        .body
        .as_ref()
        .map(|b| ("application/json", serde_json::to_vec(b).expect("json")));
    api.send(case.method.clone(), &case.path, body).await
}

fn case(
    method: Method,
    path: String,
    body: Option<Value>,
    forbidden: &'static [&'static str],
) -> Case {
    Case {
        method,
        path,
        body,
        forbidden,
    }
}

const NOT_STAFF: &[&str] = &["display", "kiosk"];
/// Counter 2 actions: staff-1 is bound to counter 1.
const NOT_AT_2: &[&str] = &["display", "kiosk", "staff-1"];
const NOT_ADMIN: &[&str] = &["display", "kiosk", "staff-1"];

/// Every mutating endpoint answers 401 (JSON) without valid credentials and 403 (JSON) to a
/// role that may not use it, and none of those requests changes the state, the tokens or the
/// center; the same requests with the right credentials succeed.
#[tokio::test]
async fn mutations_need_the_right_credentials() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("display", Role::Display, None)
            .token("staff-1", Role::Staff, Some(1)),
    );
    let admin = server.api_as(ADMIN);
    let ticket = server.api_as("kiosk").issue_ticket("tnmt").await.id;
    let center: Value = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    let tokens_before: Vec<Value> = admin
        .get("/api/v1/admin/tokens")
        .await
        .expect_status(200)
        .json();
    let kiosk_id = tokens_before
        .iter()
        .find(|t| t["label"] == "kiosk")
        .and_then(|t| t["id"].as_str())
        .expect("the kiosk token is listed")
        .to_owned();

    let mut cases = vec![
        case(
            Method::POST,
            "/api/v1/tickets".into(),
            Some(json!({ "service": "tnmt" })),
            &["display"],
        ),
        case(
            Method::POST,
            format!("/api/v1/tickets/{ticket}/rating"),
            Some(json!({ "score": 5 })),
            &["display"],
        ),
        case(
            Method::POST,
            format!("/api/v1/tickets/{ticket}/cancel"),
            None,
            NOT_STAFF,
        ),
        case(
            Method::POST,
            format!("/api/v1/tickets/{ticket}/reinstate"),
            None,
            NOT_STAFF,
        ),
        case(
            Method::POST,
            "/api/v1/admin/tokens".into(),
            Some(json!({ "role": "kiosk", "label": "extra" })),
            NOT_ADMIN,
        ),
        case(
            Method::DELETE,
            format!("/api/v1/admin/tokens/{kiosk_id}"),
            None,
            NOT_ADMIN,
        ),
        case(
            Method::PUT,
            "/api/v1/admin/center".into(),
            Some(center.clone()),
            NOT_ADMIN,
        ),
    ];
    for action in [
        "open",
        "call-next",
        "recall",
        "start",
        "finish",
        "no-show",
        "transfer",
        "close",
    ] {
        let body = (action == "transfer").then(|| json!({ "service": "tckh" }));
        for (counter, forbidden) in [(1, NOT_STAFF), (2, NOT_AT_2)] {
            cases.push(case(
                Method::POST,
                format!("/api/v1/counters/{counter}/{action}"),
                body.clone(),
                forbidden,
            ));
        }
    }

    let seq = admin.seq().await;
    let unauthenticated = [
        server.api(None),
        server.api(Some("lt_0123456789abcdef0123456789abcdef0123456789abcdef")),
        server
            .api(None)
            .with_header("Authorization", "Basic YWRtaW46YWRtaW4="),
        server
            .api(None)
            .with_header("Cookie", "luot_session=forged"),
    ];
    for case in &cases {
        for api in &unauthenticated {
            let error = send(api, case).await.expect_error(401);
            assert_eq!(error.code, "unauthorized", "{} {}", case.method, case.path);
        }
        for label in case.forbidden {
            let error = send(&server.api_as(label), case).await.expect_error(403);
            assert_eq!(
                error.code, "forbidden",
                "{} {} as {label}",
                case.method, case.path
            );
        }
    }
    // Reading needs a token too.
    for path in ["/api/v1/state", "/ws", "/api/v1/admin/center"] {
        server.api(None).get(path).await.expect_error(401);
    }

    assert_eq!(
        admin.seq().await,
        seq,
        "a refused request changed the state"
    );
    let tokens_after: Vec<Value> = admin
        .get("/api/v1/admin/tokens")
        .await
        .expect_status(200)
        .json();
    assert_eq!(
        tokens_after, tokens_before,
        "a refused request changed the tokens"
    );
    let center_after: Value = admin.get("/api/v1/admin/center").await.json();
    assert_eq!(center_after, center);

    // The same requests with the right credentials go through.
    let staff = server.api_as("staff-1");
    staff.open_counter(1).await;
    let called = staff.call_next(1).await.expect("the ticket waits");
    assert_eq!(called.id, ticket);
    admin
        .put("/api/v1/admin/center", &center)
        .await
        .expect_status(200);
    admin
        .post(
            "/api/v1/admin/tokens",
            &json!({ "role": "kiosk", "label": "extra" }),
        )
        .await
        .expect_status(201);
    admin
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/tokens/{kiosk_id}"),
            None,
        )
        .await
        .expect_status(204);
    // A revoked token stops working at once.
    server
        .api_as("kiosk")
        .issue("tnmt", None)
        .await
        .expect_error(401);
}

/// A browser session may change nothing without its CSRF token, and may with it.
#[tokio::test]
async fn session_mutations_need_the_csrf_token() {
    let server = TestServer::start(ServerOptions::new());
    let password = server
        .admin_password()
        .expect("the first start prints the admin password")
        .to_owned();
    let anyone = server.api(None);
    anyone
        .post(
            "/api/v1/login",
            &json!({ "username": "admin", "password": "wrong-password" }),
        )
        .await
        .expect_error(401);
    let reply = anyone
        .post(
            "/api/v1/login",
            &json!({ "username": "admin", "password": password }),
        )
        .await
        .expect_status(200);
    let login: LoginResponse = reply.json();
    assert_eq!(login.role, Role::Admin);
    let cookie = reply
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .expect("login sets the session cookie")
        .to_owned();
    let session = server.api(None).with_header("Cookie", &cookie);
    let seq = session.seq().await;

    for csrf in [None, Some("0000"), Some("")] {
        let api = match csrf {
            Some(value) => session.clone().with_header("X-CSRF-Token", value),
            None => session.clone(),
        };
        let error = api.issue("tnmt", None).await.expect_error(403);
        assert_eq!(error.code, "forbidden");
        api.counter_action(1, "open").await.expect_error(403);
    }
    assert_eq!(session.seq().await, seq);

    let with_csrf = session.with_header("X-CSRF-Token", &login.csrf);
    let ticket = with_csrf.issue_ticket("tnmt").await;
    assert_eq!(ticket.number, "1001");
    assert_eq!(with_csrf.seq().await, seq + 1);
}
