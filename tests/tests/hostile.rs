//! Generated hostile input against one running server per test: mutated JSON bodies, odd path
//! segments and random WebSocket frames. Never a 5xx, every 4xx is the API's JSON error, a
//! refused request changes nothing, and `/healthz` answers after every case.
//!
//! The cases are the same on every run; `PROPTEST_RNG_SEED=N` draws another set.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use luot_shared::protocol::{ClientMessage, LoginRequest, Role, ServerMessage, TicketView};
use luot_tests::{ADMIN, Api, Reply, ServerOptions, TIMEOUT, TestServer};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Seed of the cases when `PROPTEST_RNG_SEED` is not set.
const SEED: u64 = 0x686f_7374;
/// Most bodies sent that make the server hash a password: argon2 takes most of a second in a
/// debug build, and logins are rate-limited anyway.
const ARGON2_BUDGET: usize = 4;
/// Largest text message a WebSocket client may send, and largest frame the server reads.
const MAX_CLIENT_MESSAGE: usize = 4096;
const MAX_WS_MESSAGE: usize = 64 * 1024;
/// Token labels every test server has.
const LABELS: [&str; 4] = [ADMIN, "kiosk", "staff-1", "display"];

fn runner(cases: u32) -> TestRunner {
    let defaults = Config::default();
    let rng_seed = match defaults.rng_seed {
        RngSeed::Fixed(seed) => RngSeed::Fixed(seed),
        RngSeed::Random => RngSeed::Fixed(SEED),
    };
    TestRunner::new(Config {
        cases,
        rng_seed,
        // Nothing written into the source tree; shrinking talks to the server, so keep it short.
        failure_persistence: None,
        max_shrink_iters: 200,
        ..defaults
    })
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a runtime")
}

fn start_server() -> TestServer {
    TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("staff-1", Role::Staff, Some(1))
            .token("display", Role::Display, None),
    )
}

/// What the cases need: the server's address, a client per token, and a few tickets.
struct Ctx {
    base: String,
    http: reqwest::Client,
    tokens: HashMap<&'static str, String>,
    admin: Api,
    /// A ticket served to the end (to rate), one held at counter 1, one waiting.
    done: TicketView,
    waiting: TicketView,
    hashes: AtomicUsize,
    /// How many answers of each status the cases got.
    statuses: RefCell<std::collections::BTreeMap<u16, usize>>,
}

impl Ctx {
    async fn new(server: &TestServer) -> Ctx {
        let kiosk = server.api_as("kiosk");
        let staff = server.api_as("staff-1");
        staff.open_counter(1).await;
        let done = kiosk.issue_ticket("tnmt").await;
        staff.call_next(1).await.expect("a ticket waits");
        staff.counter_action(1, "finish").await.expect_status(200);
        kiosk.issue_ticket("tnmt").await;
        staff.call_next(1).await.expect("a ticket waits");
        let waiting = kiosk.issue_ticket("tckh").await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .build()
            .expect("cannot build an HTTP client");
        Ctx {
            base: server.base_url().to_owned(),
            http,
            tokens: LABELS.iter().map(|l| (*l, server.token(l))).collect(),
            admin: server.api_as(ADMIN),
            done,
            waiting,
            hashes: AtomicUsize::new(0),
            statuses: RefCell::default(),
        }
    }

    /// Sends a request exactly as given: any method, content type (or none) and bytes.
    async fn send(
        &self,
        method: &Method,
        path: &str,
        who: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = who.and_then(|label| self.tokens.get(label)) {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {} got no answer: {e}", preview(path)));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {}: cannot read the body: {e}", preview(path)));
        Reply {
            status,
            content_type,
            set_cookie: None,
            body,
        }
    }

    /// The state's seq and business day, before a request.
    async fn mark(&self) -> (u64, String) {
        let state = self.admin.state().await;
        (state.seq, state.day.to_string())
    }

    /// Asserts the rules for any answer: no 5xx; a 4xx is the JSON error and changed nothing
    /// (`before` is the [`Ctx::mark`] before the request); `/healthz` still answers.
    async fn check(&self, what: &str, reply: &Reply, before: (u64, String)) {
        *self.statuses.borrow_mut().entry(reply.status).or_default() += 1;
        assert!(
            reply.status < 500,
            "{what}: server error {}: {}",
            reply.status,
            preview(&reply.body)
        );
        if (400..500).contains(&reply.status) {
            reply.expect_error(reply.status);
            let after = self.mark().await;
            // Only the business day closing at midnight may move the state meanwhile.
            assert!(
                after == before || after.1 != before.1,
                "{what}: refused with {} but the state moved from seq {} to {}: {}",
                reply.status,
                before.0,
                after.0,
                preview(&reply.body)
            );
        }
        self.healthz().await;
    }

    async fn healthz(&self) {
        let reply = self.send(&Method::GET, "/healthz", None, None, None).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "ok"), "/healthz");
    }
}

/// The first bytes of a long text, for messages.
fn preview(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ({} bytes)", &text[..end], text.len())
}

/// The lines of a list written one item a line (an empty line is an empty item).
fn lines(list: &'static str) -> Vec<&'static str> {
    let list = list.strip_prefix('\n').unwrap_or(list);
    list.strip_suffix('\n')
        .unwrap_or(list)
        .split('\n')
        .collect()
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

// ---- mutated bodies ----

/// Whether a valid body makes the server hash a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hashing {
    No,
    Login,
    NewUser,
    UserChange,
}

/// An endpoint that takes a JSON body, with a valid body for it.
struct Target {
    method: Method,
    path: String,
    body: Value,
    /// Token label it is sent with (`None`: no credentials).
    who: Option<&'static str>,
    hashing: Hashing,
}

fn target(method: Method, path: String, body: Value, who: Option<&'static str>) -> Target {
    Target {
        method,
        path,
        body,
        who,
        hashing: Hashing::No,
    }
}

fn targets(ctx: &Ctx, center: Value) -> Vec<Target> {
    let (done, waiting) = (ctx.done.id, ctx.waiting.id);
    let staff = Some("staff-1");
    let admin = Some(ADMIN);
    vec![
        target(
            Method::POST,
            "/api/v1/tickets".into(),
            json!({ "service": "tnmt", "priority": "elderly", "request_id": "kiosk-1-42" }),
            Some("kiosk"),
        ),
        target(
            Method::POST,
            "/api/v1/counters/1/transfer".into(),
            json!({ "service": "tckh", "counter": 2 }),
            staff,
        ),
        target(
            Method::POST,
            "/api/v1/counters/1/call-next".into(),
            json!({}),
            staff,
        ),
        target(
            Method::POST,
            "/api/v1/counters/1/no-show".into(),
            json!({ "reason": "vắng" }),
            staff,
        ),
        target(
            Method::POST,
            format!("/api/v1/tickets/{done}/rating"),
            json!({ "score": 5 }),
            Some("kiosk"),
        ),
        target(
            Method::POST,
            format!("/api/v1/tickets/{waiting}/cancel"),
            json!({}),
            staff,
        ),
        target(
            Method::POST,
            "/api/v1/admin/tokens".into(),
            json!({ "role": "staff", "counter": 1, "label": "quầy 1" }),
            admin,
        ),
        Target {
            hashing: Hashing::NewUser,
            ..target(
                Method::POST,
                "/api/v1/admin/users".into(),
                json!({ "username": "nv.hoa", "password": "mat-khau-du-dai", "role": "staff", "counters": [1] }),
                admin,
            )
        },
        Target {
            hashing: Hashing::UserChange,
            ..target(
                Method::PATCH,
                "/api/v1/admin/users/admin".into(),
                json!({ "password": "mat-khau-moi-1", "counters": [], "disabled": false }),
                admin,
            )
        },
        target(Method::PUT, "/api/v1/admin/center".into(), center, admin),
        Target {
            hashing: Hashing::Login,
            ..target(
                Method::POST,
                "/api/v1/login".into(),
                json!({ "username": "admin", "password": "sai-mat-khau" }),
                None,
            )
        },
        target(
            Method::POST,
            "/api/v1/password".into(),
            json!({ "old": "sai-mat-khau", "new": "mat-khau-moi-2" }),
            admin,
        ),
    ]
}

/// The shapes of the account bodies, to tell which mutated bodies would reach argon2.
#[allow(dead_code)] // Only whether they parse matters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserShape {
    username: String,
    password: String,
    role: Role,
    #[serde(default)]
    counters: Vec<u32>,
}

#[allow(dead_code)] // Only whether they parse matters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChangeShape {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    counters: Option<Vec<u32>>,
    #[serde(default)]
    disabled: Option<bool>,
}

fn password_ok(p: &str) -> bool {
    (8..=128).contains(&p.chars().count())
}

fn hashes(hashing: Hashing, bytes: &[u8]) -> bool {
    match hashing {
        Hashing::No => false,
        Hashing::Login => serde_json::from_slice::<LoginRequest>(bytes).is_ok(),
        Hashing::NewUser => {
            serde_json::from_slice::<NewUserShape>(bytes).is_ok_and(|u| password_ok(&u.password))
        }
        Hashing::UserChange => serde_json::from_slice::<UserChangeShape>(bytes)
            .is_ok_and(|c| c.password.as_deref().is_some_and(password_ok)),
    }
}

/// Raw JSON texts no well-behaved client sends.
const ODD_VALUES: &str = r#"
null
true
false
0
-1
1
5
6
255
256
-129
4294967295
4294967296
18446744073709551615
18446744073709551616
-9223372036854775809
99999999999999999999999999999999999999
1e400
-1e400
1.5
-0
1E2
0.1e-999999
[]
{}
""
[1,2]
{"a":1}
"tnmt"
"admin"
"staff"
"elderly"
"\ud800"
"\u0000"
"a\u0000b"
NaN
Infinity
'tnmt'
"\x41"
[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
{"a":{"b":
"#;

/// A JSON value as raw text, so it can be what serde_json would never write.
fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => prop::sample::select(lines(ODD_VALUES)).prop_map(str::to_owned),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap_or_default()),
        2 => "\\PC{0,40}".prop_map(|s| json_string(&s)),
        1 => any::<String>().prop_map(|s| json_string(&s)),
        1 => (1usize..=30_000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        1 => (1usize..=6_000).prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d))),
        // Up to ~70 KB: some bodies pass the 64 KiB limit.
        1 => (0usize..=23_500).prop_map(|n| json_string(&"ấ".repeat(n))),
    ]
}

fn odd_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&[
            "service", "priority", "request_id", "score", "role", "counter", "counters",
            "username", "password", "label", "disabled", "old", "new", "services", "center",
            "__proto__", "", "type",
        ][..])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Keep,
    Drop(Index),
    /// The field again, with another value (`{"a":1,"a":2}`).
    Duplicate(Index, String),
    Replace(Index, String),
    Add(String, String),
    /// The field's value inside this many arrays.
    Nest(Index, usize),
    /// Not an object at all.
    Whole(String),
    Truncate(Index),
    /// These bytes written over the valid body from a position.
    Splice(Index, Vec<u8>),
    Bytes(Vec<u8>),
}

impl Mutation {
    fn apply(&self, body: &Value) -> Vec<u8> {
        let valid = body.to_string();
        let mut fields: Vec<(String, String)> = match body {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            _ => Vec::new(),
        };
        let pick = |i: &Index, fields: &[(String, String)]| {
            (!fields.is_empty()).then(|| i.index(fields.len()))
        };
        match self {
            Mutation::Keep => return valid.into_bytes(),
            Mutation::Drop(i) => {
                if let Some(k) = pick(i, &fields) {
                    fields.remove(k);
                }
            }
            Mutation::Duplicate(i, value) => {
                if let Some(k) = pick(i, &fields) {
                    let key = fields[k].0.clone();
                    fields.push((key, value.clone()));
                }
            }
            Mutation::Replace(i, value) => match pick(i, &fields) {
                Some(k) => fields[k].1.clone_from(value),
                None => fields.push(("service".into(), value.clone())),
            },
            Mutation::Add(key, value) => fields.push((key.clone(), value.clone())),
            Mutation::Nest(i, depth) => {
                if let Some(k) = pick(i, &fields) {
                    let inner = &fields[k].1;
                    fields[k].1 = format!("{}{inner}{}", "[".repeat(*depth), "]".repeat(*depth));
                }
            }
            Mutation::Whole(value) => return value.clone().into_bytes(),
            Mutation::Truncate(i) => {
                let mut bytes = valid.into_bytes();
                bytes.truncate(i.index(bytes.len() + 1));
                return bytes;
            }
            Mutation::Splice(i, patch) => {
                let mut bytes = valid.into_bytes();
                let at = i.index(bytes.len() + 1);
                bytes.truncate(at);
                bytes.extend_from_slice(patch);
                return bytes;
            }
            Mutation::Bytes(bytes) => return bytes.clone(),
        }
        let members: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_string(k)))
            .collect();
        format!("{{{}}}", members.join(",")).into_bytes()
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Keep),
        2 => any::<Index>().prop_map(Mutation::Drop),
        1 => (any::<Index>(), odd_value()).prop_map(|(i, v)| Mutation::Duplicate(i, v)),
        4 => (any::<Index>(), odd_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => (odd_key(), odd_value()).prop_map(|(k, v)| Mutation::Add(k, v)),
        1 => (any::<Index>(), 1usize..=20_000).prop_map(|(i, d)| Mutation::Nest(i, d)),
        2 => odd_value().prop_map(Mutation::Whole),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Splice(i, b)),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Mutation::Bytes),
    ]
}

#[derive(Debug, Clone)]
struct BodyCase {
    target: Index,
    mutation: Mutation,
    /// `None`: no `Content-Type` header.
    content_type: Option<&'static str>,
    /// Another method than the endpoint's, sometimes.
    method: Option<&'static str>,
    /// Another token than the endpoint's usual one, sometimes.
    who: Option<&'static str>,
}

fn body_case() -> impl Strategy<Value = BodyCase> {
    let content_type = prop_oneof![
        8 => Just(Some("application/json")),
        2 => prop::sample::select(&[
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-16",
            "application/jsonx",
            "APPLICATION/JSON",
            "application/problem+json",
            "application/octet-stream",
            "json",
            "*/*",
        ][..])
        .prop_map(Some),
        1 => Just(None),
    ];
    let method = prop_oneof![
        9 => Just(None),
        1 => prop::sample::select(&["GET", "PUT", "PATCH", "DELETE", "POST", "OPTIONS"][..])
            .prop_map(Some),
    ];
    let who = prop_oneof![
        7 => Just(None),
        3 => prop::sample::select(&LABELS[..]).prop_map(Some),
    ];
    (any::<Index>(), mutation(), content_type, method, who).prop_map(
        |(target, mutation, content_type, method, who)| BodyCase {
            target,
            mutation,
            content_type,
            method,
            who,
        },
    )
}

/// Valid bodies for every endpoint that takes JSON, mutated (fields dropped, doubled, of the
/// wrong type, huge or negative numbers, unicode, deeply nested arrays, truncated, random
/// bytes, wrong content types and methods), never get a 5xx; every 4xx is the JSON error and
/// leaves the state's seq as it was; `/healthz` answers after each.
#[test]
fn mutated_json_bodies_get_json_4xx_and_change_nothing() {
    let rt = runtime();
    let server = start_server();
    let ctx = rt.block_on(Ctx::new(&server));
    let center: Value = rt
        .block_on(ctx.admin.get("/api/v1/admin/center"))
        .expect_status(200)
        .json();
    let targets = targets(&ctx, center);
    let sent = AtomicUsize::new(0);
    let result = runner(400).run(&body_case(), |case| {
        let target = &targets[case.target.index(targets.len())];
        let method = case
            .method
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .unwrap_or_else(|| target.method.clone());
        let bytes = case.mutation.apply(&target.body);
        if method == target.method
            && hashes(target.hashing, &bytes)
            && ctx.hashes.fetch_add(1, Ordering::Relaxed) >= ARGON2_BUDGET
        {
            return Ok(());
        }
        sent.fetch_add(1, Ordering::Relaxed);
        rt.block_on(async {
            let before = ctx.mark().await;
            let what = format!(
                "{method} {} ({:?}) with {}",
                target.path,
                case.content_type,
                preview(&String::from_utf8_lossy(&bytes))
            );
            let who = case.who.or(target.who);
            let reply = ctx
                .send(&method, &target.path, who, case.content_type, Some(bytes))
                .await;
            ctx.check(&what, &reply, before).await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "hostile: {} mutated bodies sent; answers by status: {:?}",
        sent.load(Ordering::Relaxed),
        ctx.statuses.borrow()
    );
}

// ---- odd paths ----

/// Path segments that are not the ids the routes expect.
const ODD_SEGMENTS: &str = r#"
-1
0
1
99999999999999999999
4294967295
4294967296
18446744073709551615
18446744073709551616
abc
1.5
1e3
0x10
+1
１２
NaN
%00
%ZZ
%
%2F
%2e%2e
..
.
quầy-1
🎫
admin
call-next
' OR 1=1 --
<script>alert(1)</script>
a b

2024-02-30
-999999-01-01
9999-12-31
day
csv
"#;

/// Routes with holes for segments: method, template (`{1}` and `{2}`), JSON body.
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/api/v1/tickets/{1}", None),
    ("POST", "/api/v1/tickets/{1}/rating", Some(r#"{"score":5}"#)),
    ("POST", "/api/v1/tickets/{1}/cancel", None),
    ("POST", "/api/v1/tickets/{1}/reinstate", None),
    ("POST", "/api/v1/tickets/{1}", Some(r#"{"service":"tnmt"}"#)),
    ("GET", "/api/v1/counters/{1}", None),
    ("POST", "/api/v1/counters/{1}/{2}", None),
    (
        "POST",
        "/api/v1/counters/{1}/transfer",
        Some(r#"{"service":"tckh"}"#),
    ),
    ("POST", "/api/v1/counters/1/{2}", None),
    ("GET", "/api/v1/track/{1}", None),
    ("GET", "/api/v1/track/{1}-{2}", None),
    ("GET", "/ws/track/{1}", None),
    ("GET", "/ws/track/{1}-{2}", None),
    ("GET", "/t/{1}-{2}", None),
    ("DELETE", "/api/v1/admin/tokens/{1}", None),
    (
        "PATCH",
        "/api/v1/admin/users/{1}",
        Some(r#"{"counters":[1]}"#),
    ),
    ("GET", "/api/v1/reports?from={1}&to={2}", None),
    ("GET", "/api/v1/reports?by={1}&format={2}", None),
    ("GET", "/api/v1/state?{1}={2}", None),
    ("GET", "/ws?since={1}&token={2}", None),
    ("GET", "/api/v1/{1}", None),
    ("GET", "/{1}/{2}", None),
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(lines(ODD_SEGMENTS)).prop_map(str::to_owned),
        1 => "[0-9]{1,40}",
        1 => "-[0-9]{1,30}",
        1 => "\\PC{0,16}",
        1 => "[ -~]{0,24}",
    ]
}

/// Percent-encodes all but unreserved characters, and leaves `%` alone so that broken
/// escapes like `%ZZ` reach the server as they are.
fn encode(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~%".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct PathCase {
    route: Index,
    first: String,
    second: String,
    who: Index,
}

fn path_case() -> impl Strategy<Value = PathCase> {
    (any::<Index>(), segment(), segment(), any::<Index>()).prop_map(
        |(route, first, second, who)| PathCase {
            route,
            first,
            second,
            who,
        },
    )
}

/// Path and query segments such as -1, 99999999999999999999, "abc", unicode, broken escapes
/// and empty ones, in every route that takes one, never get a 5xx; every 4xx is the JSON error
/// and leaves the state's seq as it was.
#[test]
fn odd_path_segments_get_json_4xx() {
    let rt = runtime();
    let server = start_server();
    let ctx = rt.block_on(Ctx::new(&server));
    let result = runner(300).run(&path_case(), |case| {
        let (method, template, body) = ROUTES[case.route.index(ROUTES.len())];
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let path = template
            .replace("{1}", &encode(&case.first))
            .replace("{2}", &encode(&case.second));
        let who = LABELS[case.who.index(LABELS.len())];
        rt.block_on(async {
            let before = ctx.mark().await;
            let content_type = body.map(|_| "application/json");
            let body = body.map(|b| b.as_bytes().to_vec());
            let reply = ctx
                .send(&method, &path, Some(who), content_type, body)
                .await;
            ctx.check(&format!("{method} {path} as {who}"), &reply, before)
                .await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "hostile: paths answered by status: {:?}",
        ctx.statuses.borrow()
    );
}

// ---- WebSocket frames ----

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// Texts close to what a client might send.
const WS_TEXTS: &str = r#"
{"type":"ping"}
{ "type" : "ping" }
{"type":"PING"}
{"type":"ping","x":1}
{"type":"pong"}
{"type":"subscribe","since":0}
{"type":null}
{"type":["ping"]}
[]
null

ping
{"type":"ping"
[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
"#;

/// A ping padded with spaces to `len` bytes: valid JSON on either side of the size limit.
fn padded_ping(len: usize) -> String {
    let ping = r#"{"type":"ping"}"#;
    format!("{ping}{}", " ".repeat(len.saturating_sub(ping.len())))
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        3 => "\\PC{0,64}".prop_map(Frame::Text),
        3 => prop::sample::select(lines(WS_TEXTS)).prop_map(|t| Frame::Text(t.to_owned())),
        1 => any::<String>().prop_map(Frame::Text),
        2 => (4080usize..=4112).prop_map(|n| Frame::Text(padded_ping(n))),
        // "ư" is two bytes: 4,098 to 64,000 bytes.
        1 => (2049usize..=32_000).prop_map(|n| Frame::Text("ư".repeat(n))),
        1 => (MAX_WS_MESSAGE + 1..=80_000).prop_map(|n| Frame::Text("x".repeat(n))),
        2 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Frame::Binary),
        1 => (MAX_WS_MESSAGE + 1..=70_000).prop_map(|n| Frame::Binary(vec![0xab; n])),
    ]
}

/// What the server must do with a frame.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Pong,
    BadMessage,
    /// An error message, then Close 1009.
    TooLarge,
    /// Past the frame limit: Close 1009, or the connection just ends.
    Refused,
}

fn expected(frame: &Frame) -> Expected {
    match frame {
        Frame::Text(t) if t.len() > MAX_WS_MESSAGE => Expected::Refused,
        Frame::Text(t) if t.len() > MAX_CLIENT_MESSAGE => Expected::TooLarge,
        Frame::Text(t) if ClientMessage::decode(t).is_ok() => Expected::Pong,
        Frame::Text(_) => Expected::BadMessage,
        Frame::Binary(b) if b.len() > MAX_WS_MESSAGE => Expected::Refused,
        Frame::Binary(_) => Expected::BadMessage,
    }
}

/// What came from the server.
#[derive(Debug)]
enum Incoming {
    Message(Box<ServerMessage>),
    Close(Option<CloseCode>),
    Ended,
}

impl Incoming {
    fn message(&self) -> Option<&ServerMessage> {
        match self {
            Incoming::Message(message) => Some(message),
            _ => None,
        }
    }

    fn is_error(&self, code: &str) -> bool {
        matches!(self.message(), Some(ServerMessage::Error { error }) if error.code == code)
    }
}

/// The next message other than pings and events, within the timeout.
async fn incoming(ws: &mut Ws) -> Incoming {
    loop {
        let next = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("no answer on the WebSocket within the timeout");
        match next {
            Some(Ok(Message::Text(text))) => match ServerMessage::decode(text.as_str()) {
                // The day may close under the test; that is not an answer.
                Ok(ServerMessage::Event(_)) => {}
                Ok(message) => return Incoming::Message(Box::new(message)),
                Err(e) => panic!("undecodable server message ({e}): {}", preview(&text)),
            },
            Some(Ok(Message::Close(frame))) => return Incoming::Close(frame.map(|f| f.code)),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            Some(Err(_)) | None => return Incoming::Ended,
        }
    }
}

async fn connect(url: &str) -> Ws {
    let (mut ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
        .await
        .expect("WebSocket handshake timed out")
        .expect("WebSocket handshake failed");
    let first = incoming(&mut ws).await;
    assert!(
        matches!(first.message(), Some(ServerMessage::Snapshot { .. })),
        "expected a snapshot first, got {first:?}"
    );
    ws
}

/// Sends `frame` and checks the answer; returns the connection if it is still open.
async fn ws_case(mut ws: Ws, frame: &Frame) -> Option<Ws> {
    let expect = expected(frame);
    let message = match frame {
        Frame::Text(t) => Message::text(t.as_str()),
        Frame::Binary(b) => Message::binary(b.clone()),
    };
    if let Err(e) = ws.send(message).await {
        // The server may drop a connection while a message past its limit is still arriving.
        assert_eq!(expect, Expected::Refused, "cannot send: {e}");
        return None;
    }
    let answer = incoming(&mut ws).await;
    match expect {
        Expected::Pong => {
            assert!(
                matches!(answer.message(), Some(ServerMessage::Pong)),
                "expected a pong, got {answer:?}"
            );
            Some(ws)
        }
        Expected::BadMessage => {
            assert!(
                answer.is_error("bad_message"),
                "expected a bad_message error, got {answer:?}"
            );
            Some(ws)
        }
        Expected::TooLarge => {
            assert!(
                answer.is_error("message_too_large"),
                "expected a message_too_large error, got {answer:?}"
            );
            match incoming(&mut ws).await {
                Incoming::Close(Some(CloseCode::Size)) => {}
                other => panic!("expected Close 1009, got {other:?}"),
            }
            assert!(
                matches!(incoming(&mut ws).await, Incoming::Ended),
                "still open after Close"
            );
            None
        }
        Expected::Refused => {
            assert!(
                matches!(
                    answer,
                    Incoming::Close(Some(CloseCode::Size)) | Incoming::Ended
                ),
                "expected Close 1009 or the end, got {answer:?}"
            );
            None
        }
    }
}

/// Random text and binary frames on `/ws`: a ping gets a pong, anything else up to 4 KiB an
/// error message on a connection that stays open, a text over 4 KiB an error and Close 1009,
/// a frame past 64 KiB Close 1009 or the end of the connection; the server never falls over
/// and `/healthz` answers after each frame.
#[test]
fn random_websocket_frames_get_errors_or_close_1009() {
    let rt = runtime();
    let server = start_server();
    let ctx = rt.block_on(Ctx::new(&server));
    let url = format!("{}?token={}", server.ws_url(), server.token("display"));
    // The connection carries over from case to case while the server keeps it open.
    let open: RefCell<Option<Ws>> = RefCell::new(None);
    let result = runner(250).run(&frame(), |frame| {
        rt.block_on(async {
            let kept = open.borrow_mut().take();
            let ws = match kept {
                Some(ws) => ws,
                None => connect(&url).await,
            };
            let still_open = ws_case(ws, &frame).await;
            *open.borrow_mut() = still_open;
            ctx.healthz().await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
