//! Attacks on the hub's web side: every endpoint without or with forged credentials, a
//! changed password, the login's limits, hostile query strings, and sites nobody registered.

use luot_tests::Api;
use luot_tests::province::{self, Hub, PROVINCE, Province};
use serde_json::{Value, json};

/// Logs in to the hub; returns the `name=value` of its session cookie.
async fn hub_login(hub: &Hub, user: &str, password: &str) -> Option<String> {
    let reply = Api::new(&hub.base_url, None)
        .post(
            "/api/v1/province/login",
            &json!({ "username": user, "password": password }),
        )
        .await;
    (reply.status == 204).then(|| {
        reply
            .set_cookie
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

/// Without credentials, with a forged token or cookie, with a session whose password changed
/// or that logged out, the hub's API answers 401 in the API's JSON error shape; hostile
/// `site=` and dates get a 4xx JSON error; the login is limited in size and attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_hub_endpoint_checks_credentials_and_input() {
    let Some(Province {
        nats: _nats,
        pg: _pg,
        hub,
    }) = Province::start()
    else {
        return;
    };
    let anonymous = Api::new(&hub.base_url, None);
    let forged_token = Api::new(
        &hub.base_url,
        Some("lh_0000000000000000000000000000000000000000"),
    );
    let forged_cookie = Api::new(&hub.base_url, None).with_header(
        "Cookie",
        "luot_hub_session=00112233445566778899aabbccddeeff",
    );
    let api_paths = [
        "/api/v1/province/state",
        "/api/v1/province/reports",
        "/api/v1/province/reports?format=csv",
    ];
    let mut findings = Vec::new();
    for api in [&anonymous, &forged_token, &forged_cookie] {
        for path in api_paths {
            let r = api.get(path).await;
            if r.status != 401 || !r.body.contains("\"error\"") {
                findings.push(format!("{path}: {} {}", r.status, r.body));
            }
        }
        let page = api.get("/province").await;
        if !page.body.contains("login-form") {
            findings.push("/province served its page without a session".into());
        }
    }

    // A session ends when its account's password changes, and at logout.
    let password = hub.user("so-noi-vu", "viewer");
    let cookie = hub_login(&hub, "so-noi-vu", &password)
        .await
        .expect("the account logs in");
    let session = Api::new(&hub.base_url, None).with_header("Cookie", &cookie);
    session
        .get("/api/v1/province/state")
        .await
        .expect_status(200);
    let _new_password = hub.user("so-noi-vu", "viewer");
    let after = session.get("/api/v1/province/state").await;
    if after.status != 401 {
        findings.push(format!(
            "a session survived a password change: {}",
            after.status
        ));
    }
    let password = hub.user("so-noi-vu", "viewer");
    let cookie = hub_login(&hub, "so-noi-vu", &password)
        .await
        .expect("the account logs in");
    let session = Api::new(&hub.base_url, None).with_header("Cookie", &cookie);
    session.post_empty("/api/v1/province/logout").await;
    let after = session.get("/api/v1/province/state").await;
    if after.status != 401 {
        findings.push(format!("a session survived its logout: {}", after.status));
    }

    // Hostile query strings.
    let token = hub.token("viewer");
    let viewer = Api::new(&hub.base_url, Some(&token));
    for q in [
        "site=%27%20OR%201%3D1%20--",
        "from=2026-13-45",
        "from=%27;DROP%20TABLE%20hub_events;--",
        "from=2026-12-02&to=2026-12-01",
        "from=1900-01-01&to=1900-01-02",
        "from=2000-01-01&to=2099-12-31",
        "by=nonsense",
        "format=xml",
        "unknown=1",
        "site=",
    ] {
        let r = viewer.get(&format!("/api/v1/province/reports?{q}")).await;
        let json_error = r
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json"))
            && r.body.contains("\"error\"");
        if !(400..500).contains(&r.status) || !json_error {
            findings.push(format!("reports?{q}: {} {}", r.status, r.body));
        }
    }

    // The login: a body past its limit, and repeated failures.
    let big = "x".repeat(8 * 1024);
    let r = anonymous
        .post(
            "/api/v1/province/login",
            &json!({ "username": "so-noi-vu", "password": big }),
        )
        .await;
    if r.status != 413 || !r.body.contains("\"error\"") {
        findings.push(format!("an 8 KiB login: {} {}", r.status, r.body));
    }
    let mut limited = false;
    for _ in 0..12 {
        let r = anonymous
            .post(
                "/api/v1/province/login",
                &json!({ "username": "so-noi-vu", "password": "wrong-password" }),
            )
            .await;
        if r.status == 429 {
            limited = true;
            break;
        }
    }
    if !limited {
        findings.push("12 wrong passwords in a row were never limited".into());
    }
    let h = Api::new(&hub.base_url, None).get("/healthz").await;
    eprintln!("healthz: {} {}", h.status, h.body);
    assert!(findings.is_empty(), "{findings:#?}");
}

/// Events of sites that no one set up (any holder of the sites' shared NATS account can
/// publish them) do not make the province list them without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sites_nobody_set_up_are_bounded() {
    let Some(Province { nats, pg: _pg, hub }) = Province::start() else {
        return;
    };
    let real = province::site(&hub, "s1", &nats.url());
    let admin = real.api_as(luot_tests::ADMIN);
    let first = province::site_events(&admin).await;
    let first = first.first().cloned().expect("a first event");
    let token = hub.token("viewer");
    let viewer = Api::new(&hub.base_url, Some(&token));
    luot_tests::province::converge(&viewer, &[("s1", &real)]).await;

    // 3000 sites, each one well-formed first event, published on the bare protocol.
    let mut out = Vec::new();
    for n in 0..3000 {
        let body = serde_json::to_vec(&first).expect("json");
        let subject = format!("luot.{PROVINCE}.ghost{n}");
        let headers = format!("NATS/1.0\r\nNats-Msg-Id: ghost{n}:1\r\n\r\n");
        out.extend_from_slice(
            format!(
                "HPUB {subject} {} {}\r\n",
                headers.len(),
                headers.len() + body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(headers.as_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n");
    }
    {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", nats.port))
            .await
            .expect("nats");
        let mut io = tokio::io::BufReader::new(stream);
        let mut info = String::new();
        io.read_line(&mut info).await.expect("INFO");
        io.get_mut()
            .write_all(b"CONNECT {\"headers\":true,\"verbose\":false}\r\n")
            .await
            .expect("CONNECT");
        io.get_mut().write_all(&out).await.expect("HPUB");
        io.get_mut().write_all(b"PING\r\n").await.expect("PING");
        loop {
            let mut line = String::new();
            io.read_line(&mut line).await.expect("PONG");
            if line.starts_with("PONG") {
                break;
            }
        }
    }
    // The real site's next event comes after every ghost in the stream: once it is
    // projected, the hub has seen them all.
    real.api_as(luot_tests::ADMIN)
        .issue("tnmt", None)
        .await
        .expect_status(201);
    luot_tests::province::converge(&viewer, &[("s1", &real)]).await;
    let v: Value = viewer.get("/api/v1/province/state").await.json();
    let sites = v["sites"].as_array().map_or(0, |a| a.len());
    let state = viewer.get("/api/v1/province/state").await;
    eprintln!(
        "the province lists {sites} sites; /api/v1/province/state is {} bytes",
        state.body.len()
    );
    assert!(
        sites <= 1000,
        "the province lists {sites} sites, every one that anybody published for, and keeps each folded in memory"
    );
}

/// A hub token that leaked can be revoked (`hub token revoke ID`), after which it gets 401;
/// an account can be removed (`hub user delete NAME`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hub_token_and_account_can_be_taken_away() {
    let Some(Province {
        nats: _nats,
        pg,
        hub,
    }) = Province::start()
    else {
        return;
    };
    let token = hub.token("admin");
    let api = Api::new(&hub.base_url, Some(&token));
    api.get("/api/v1/province/state").await.expect_status(200);
    let run = |args: &[&str]| {
        std::process::Command::new(luot_tests::server_binary())
            .args(["hub", "--postgres", &pg.url()])
            .args(args)
            .output()
            .expect("the hub's CLI runs")
    };
    let revoke = run(&["token", "revoke", &token]);
    let delete = run(&["user", "delete", "nobody"]);
    let after = api.get("/api/v1/province/state").await.status;
    assert!(
        revoke.status.success() && after == 401,
        "no way to revoke a hub token (`hub token revoke`: {}); the token still gets {after}; \
         `hub user delete`: {}",
        String::from_utf8_lossy(&revoke.stderr)
            .lines()
            .next()
            .unwrap_or_default(),
        String::from_utf8_lossy(&delete.stderr)
            .lines()
            .next()
            .unwrap_or_default()
    );
}
