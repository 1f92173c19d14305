//! Attacks on the province: two servers shipping as one site, a phantom site flooding the
//! stream with held-back events, and an event lost from the middle of the stream. Each test
//! asserts what the province promises; a failure is a finding.

use std::time::Duration;

use luot_shared::Recorded;
use luot_tests::province::{self, CONVERGE, Nats, PROVINCE, Postgres, Province, site, site_events};
use luot_tests::{ADMIN, Api, copy_dir, poll_until};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A bare NATS client speaking the text protocol: publish with headers, request/reply.
struct RawNats {
    io: BufReader<TcpStream>,
    next: u64,
}

impl RawNats {
    async fn connect(port: u16) -> RawNats {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("nats");
        let mut nats = RawNats {
            io: BufReader::new(stream),
            next: 0,
        };
        let mut info = String::new();
        nats.io.read_line(&mut info).await.expect("INFO");
        nats.io
            .get_mut()
            .write_all(
                b"CONNECT {\"headers\":true,\"verbose\":false,\"no_responders\":true}\r\nSUB _RED.* 1\r\n",
            )
            .await
            .expect("CONNECT");
        nats
    }

    fn frame(subject: &str, reply: Option<&str>, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut h = String::from("NATS/1.0\r\n");
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str("\r\n");
        let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
        let mut out = format!(
            "HPUB {subject}{reply} {} {}\r\n",
            h.len(),
            h.len() + body.len()
        )
        .into_bytes();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Publishes without waiting for the stream's acknowledgement.
    async fn publish(&mut self, subject: &str, headers: &[(&str, &str)], body: &[u8]) {
        let frame = RawNats::frame(subject, None, headers, body);
        self.io.get_mut().write_all(&frame).await.expect("HPUB");
    }

    /// Sends and waits for the reply's payload.
    async fn request(&mut self, subject: &str, headers: &[(&str, &str)], body: &[u8]) -> Value {
        self.next += 1;
        let reply = format!("_RED.{}", self.next);
        let frame = RawNats::frame(subject, Some(&reply), headers, body);
        self.io.get_mut().write_all(&frame).await.expect("HPUB");
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.io.read_line(&mut line))
                .await
                .expect("a reply in time")
                .expect("read");
            assert!(n > 0, "NATS closed the connection");
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first().copied() {
                Some("PING") => self
                    .io
                    .get_mut()
                    .write_all(b"PONG\r\n")
                    .await
                    .expect("PONG"),
                Some("MSG") | Some("HMSG") => {
                    let total: usize = words.last().and_then(|w| w.parse().ok()).expect("size");
                    let headers: usize = if words[0] == "HMSG" {
                        words[words.len() - 2].parse().expect("header size")
                    } else {
                        0
                    };
                    let mut data = vec![0u8; total + 2];
                    self.io.read_exact(&mut data).await.expect("payload");
                    if words[1] != reply {
                        continue;
                    }
                    let body = &data[headers..total];
                    return serde_json::from_slice(body).unwrap_or(Value::Null);
                }
                Some("-ERR") => panic!("NATS: {line}"),
                _ => {}
            }
        }
    }
}

fn stream() -> String {
    format!("LUOT_{}", PROVINCE.to_uppercase())
}

/// Waits until the site's shipping reports every event acknowledged.
async fn caught_up(admin: &Api) -> Value {
    let seq = admin.seq().await;
    poll_until(CONVERGE, "the site to ship its log", || async {
        let v: Value = admin
            .get("/api/v1/admin/ship")
            .await
            .expect_status(200)
            .json();
        let s = &v["shipping"];
        (s["acked_seq"].as_u64() == Some(seq) || s["state"] == "refused").then_some(s.clone())
    })
    .await
}

/// The events PostgreSQL holds for one site, in seq order.
async fn hub_events(pg: &Postgres, site: &str) -> Vec<Recorded> {
    let client = pg.client().await;
    client
        .query(
            "SELECT body::text FROM hub_events WHERE site = $1 ORDER BY seq",
            &[&site],
        )
        .await
        .expect("hub_events")
        .iter()
        .map(|r| serde_json::from_str(&r.get::<_, String>(0)).expect("an event"))
        .collect()
}

fn same(a: &Recorded, b: &Recorded) -> bool {
    a.seq == b.seq && a.at == b.at && a.event.kind() == b.event.kind()
}

/// A second server shipping as the same site (a data directory cloned onto another machine)
/// is refused, and the province's log of the site is one server's log, not a mix of both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cloned_site_is_refused_not_interleaved() {
    let Some(Province { nats, pg, hub }) = Province::start() else {
        return;
    };
    let mut a = site(&hub, "s1", &nats.url());
    let mut b = site(&hub, "s1", &nats.url());
    let admin_a = a.api_as(ADMIN);
    admin_a.issue_ticket_any().await;
    caught_up(&admin_a).await;

    // B becomes a copy of A: the same log, the same shipping cursor.
    b.kill9();
    a.kill9();
    let data_b = b.data_dir();
    std::fs::remove_dir_all(&data_b).expect("rm");
    copy_dir(&a.data_dir(), &data_b);
    a.restart();
    b.restart();
    let admin_a = Api::new(a.base_url(), Some(&a.token(ADMIN)));
    let admin_b = Api::new(b.base_url(), Some(&a.token(ADMIN)));
    caught_up(&admin_a).await;
    caught_up(&admin_b).await;

    // The two now write different events and ship them in turn.
    for admin in [&admin_a, &admin_b, &admin_b, &admin_a] {
        admin.issue_ticket_any().await;
        caught_up(admin).await;
    }
    let log_a = site_events(&admin_a).await;
    let log_b = site_events(&admin_b).await;
    let state_a = caught_up(&admin_a).await;
    let state_b = caught_up(&admin_b).await;
    let hub_api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    let last_a = log_a.last().map_or(0, |r| r.seq);
    poll_until(CONVERGE, "the hub to project s1", || async {
        let v: Value = hub_api.get("/api/v1/province/state").await.json();
        v["sites"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["site"] == "s1" && s["last_seq"].as_u64() >= Some(last_a))
            .then_some(())
    })
    .await;
    let projected = hub_events(&pg, "s1").await;
    let from_a = projected
        .iter()
        .filter(|e| log_a.iter().any(|x| same(x, e)) && !log_b.iter().any(|x| same(x, e)))
        .count();
    let from_b = projected
        .iter()
        .filter(|e| log_b.iter().any(|x| same(x, e)) && !log_a.iter().any(|x| same(x, e)))
        .count();
    eprintln!(
        "A: {:?} acked {}, B: {:?} acked {}; the province holds {} events only A wrote and {} only B wrote",
        state_a["state"],
        state_a["acked_seq"],
        state_b["state"],
        state_b["acked_seq"],
        from_a,
        from_b
    );
    assert!(
        state_a["state"] == "refused" || state_b["state"] == "refused",
        "neither server shipping as s1 was refused: A {state_a}, B {state_b}"
    );
    assert!(
        from_a == 0 || from_b == 0,
        "the province's log of s1 mixes two servers' logs: {from_a} events of A and {from_b} of B"
    );
}

/// Events of a site that never existed, each past the cursor's next, do not stop the
/// province from projecting its real sites.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_back_events_of_a_phantom_site_do_not_stall_the_province() {
    let Some(Province { nats, pg: _pg, hub }) = Province::start() else {
        return;
    };
    let s1 = site(&hub, "s1", &nats.url());
    let admin = s1.api_as(ADMIN);
    admin.issue_ticket_any().await;
    caught_up(&admin).await;
    let hub_api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    luot_tests::province::converge(&hub_api, &[("s1", &s1)]).await;

    // A well-formed event, re-numbered: seqs 2..=20_001 of site "zz"; its seq 1 never comes.
    let model = site_events(&admin).await.pop().expect("an event");
    let mut raw = RawNats::connect(nats.port).await;
    let subject = format!("luot.{PROVINCE}.zz");
    for seq in 2..=20_001u64 {
        let mut rec = model.clone();
        rec.seq = seq;
        let body = serde_json::to_vec(&rec).expect("json");
        let id = format!("zz:{seq}");
        raw.publish(&subject, &[("Nats-Msg-Id", &id)], &body).await;
    }
    let info = raw
        .request(&format!("$JS.API.STREAM.INFO.{}", stream()), &[], b"")
        .await;
    eprintln!("stream holds {} messages", info["state"]["messages"]);

    // The real site goes on; the hub must keep projecting it.
    for _ in 0..5 {
        admin.issue_ticket_any().await;
    }
    caught_up(&admin).await;
    let want = admin.seq().await;
    let result = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let v: Value = hub_api.get("/api/v1/province/state").await.json();
            let have = v["sites"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["site"] == "s1")
                .and_then(|s| s["last_seq"].as_u64())
                .unwrap_or(0);
            if have >= want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    let v: Value = hub_api.get("/api/v1/province/state").await.json();
    assert!(
        result.is_ok(),
        "s1 is at {want} but the hub stopped projecting it behind a phantom site's held-back events: {}",
        v["projection"]
    );
}

/// An event lost from the middle of the stream (not its end) is shipped again, so the
/// province's log of the site is completed instead of held at a gap forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_lost_in_the_middle_of_the_stream_is_shipped_again() {
    let Some(Province {
        nats,
        pg: _pg,
        mut hub,
    }) = Province::start()
    else {
        return;
    };
    let s1 = site(&hub, "s1", &nats.url());
    let admin = s1.api_as(ADMIN);
    admin.issue_ticket_any().await;
    caught_up(&admin).await;
    let hub_api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    luot_tests::province::converge(&hub_api, &[("s1", &s1)]).await;

    // The hub is down while the site ships three more events; the stream then loses the
    // middle one.
    hub.kill9();
    for _ in 0..3 {
        admin.issue_ticket_any().await;
    }
    caught_up(&admin).await;
    let mut raw = RawNats::connect(nats.port).await;
    let last = raw
        .request(
            &format!("$JS.API.STREAM.MSG.GET.{}", stream()),
            &[],
            format!("{{\"last_by_subj\":\"luot.{PROVINCE}.s1\"}}").as_bytes(),
        )
        .await;
    let last_seq = last["message"]["seq"].as_u64().expect("a last message");
    let deleted = raw
        .request(
            &format!("$JS.API.STREAM.MSG.DELETE.{}", stream()),
            &[],
            format!("{{\"seq\":{}}}", last_seq - 1).as_bytes(),
        )
        .await;
    assert_eq!(deleted["success"], true, "{deleted}");

    hub.restart();
    admin.issue_ticket_any().await;
    caught_up(&admin).await;
    let hub_api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    let want = admin.seq().await;
    let result = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let v: Value = hub_api.get("/api/v1/province/state").await.json();
            let s = v["sites"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["site"] == "s1")
                .cloned()
                .unwrap_or(Value::Null);
            if s["last_seq"].as_u64() >= Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    let v: Value = hub_api.get("/api/v1/province/state").await.json();
    let ship: Value = admin.get("/api/v1/admin/ship").await.json();
    assert!(
        result.is_ok(),
        "the province's log of s1 stays at a gap while the site says {}: hub {}",
        ship["shipping"]["state"],
        v["sites"]
    );
}

/// Helper trait: a ticket in the default center's first service.
trait IssueAny {
    async fn issue_ticket_any(&self);
}

impl IssueAny for Api {
    async fn issue_ticket_any(&self) {
        self.issue("tnmt", None).await.expect_status(201);
    }
}

/// One message published on a real site's subject under its next message id (what any holder
/// of the sites' shared NATS account can send) neither changes the province's view of that
/// site nor stops the site's own events from reaching the province.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_event_on_a_sites_subject_is_not_projected() {
    let Some(Province { nats, pg: _pg, hub }) = Province::start() else {
        return;
    };
    let s1 = site(&hub, "s1", &nats.url());
    province::rename(&s1, "Bộ phận Một cửa Quận 1").await;
    let admin = s1.api_as(ADMIN);
    admin.issue_ticket_any().await;
    caught_up(&admin).await;
    let hub_api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    luot_tests::province::converge(&hub_api, &[("s1", &s1)]).await;

    // The site's own configuration event, renamed and numbered as its next event.
    let events = site_events(&admin).await;
    let next = events.last().map_or(1, |r| r.seq + 1);
    let mut forged = events
        .iter()
        .rev()
        .find(|r| matches!(r.event, luot_shared::Event::CenterConfigured { .. }))
        .cloned()
        .expect("a configuration event");
    forged.seq = next;
    forged.at = jiff::Timestamp::now();
    let luot_shared::Event::CenterConfigured { config, by } = &mut forged.event else {
        unreachable!()
    };
    config.center.name = "<img src=x onerror=alert(1)> GIẢ MẠO".into();
    *by = "admin".into();
    let mut raw = RawNats::connect(nats.port).await;
    let ack = raw
        .request(
            &format!("luot.{PROVINCE}.s1"),
            &[("Nats-Msg-Id", &format!("s1:{next}"))],
            &serde_json::to_vec(&forged).expect("json"),
        )
        .await;
    eprintln!("the stream answered the forged event with {ack}");

    // The site goes on issuing.
    for _ in 0..3 {
        admin.issue_ticket_any().await;
    }
    let want = admin.seq().await;
    let mut seen_name = String::new();
    let mut have = 0;
    // The site waits out the stream's duplicate window (2 minutes), then ships after the
    // forgery.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while std::time::Instant::now() < deadline {
        let v: Value = hub_api.get("/api/v1/province/state").await.json();
        if let Some(s) = v["sites"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["site"] == "s1")
        {
            seen_name = s["name"].as_str().unwrap_or_default().to_owned();
            have = s["last_seq"].as_u64().unwrap_or(0);
        }
        if seen_name.contains("GIẢ MẠO") || have >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ship: Value = admin.get("/api/v1/admin/ship").await.json();
    assert!(
        !seen_name.contains("GIẢ MẠO"),
        "the province shows s1 as {seen_name:?}, an event s1 never wrote; s1's shipping is now {} ({})",
        ship["shipping"]["state"],
        ship["shipping"]["last_error"]
    );
    assert!(
        have >= want,
        "s1 is at {want}, the province at {have}; s1's shipping is {}",
        ship["shipping"]["state"]
    );
}

/// Runs a PostgreSQL program of the test cluster as its owner.
fn pg_ctl(data: &str, args: &[&str]) {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/pg_ctl"))
        .find(|p| p.is_file())
        .expect("pg_ctl");
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut cmd = if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    };
    let out = cmd
        .args(["-D", data])
        .args(args)
        .output()
        .expect("pg_ctl runs");
    assert!(
        out.status.success(),
        "pg_ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// While PostgreSQL is down the hub's `/healthz` says so (it cannot project), and once
/// PostgreSQL is back the hub projects again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthz_tells_when_postgres_is_down_and_the_hub_recovers() {
    let Some(Province { nats, pg, hub }) = Province::start() else {
        return;
    };
    let s1 = site(&hub, "s1", &nats.url());
    let admin = s1.api_as(ADMIN);
    admin.issue_ticket_any().await;
    caught_up(&admin).await;
    let hub_api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    luot_tests::province::converge(&hub_api, &[("s1", &s1)]).await;
    let data: String = pg
        .client()
        .await
        .query_one("SHOW data_directory", &[])
        .await
        .expect("data_directory")
        .get(0);
    let dir = std::path::Path::new(&data)
        .parent()
        .expect("parent")
        .to_owned();

    pg_ctl(&data, &["-m", "fast", "-w", "stop"]);
    let anonymous = Api::new(&hub.base_url, None);
    let mut health = 0u16;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        health = anonymous.get("/healthz").await.status;
        if health != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let state = hub_api.get("/api/v1/province/state").await.status;
    let options = format!(
        "-p {} -k {} -c listen_addresses=127.0.0.1",
        pg.port,
        dir.display()
    );
    let log = dir.join("pg.log");
    pg_ctl(
        &data,
        &[
            "-l",
            log.to_str().unwrap_or_default(),
            "-o",
            &options,
            "-w",
            "start",
        ],
    );
    admin.issue_ticket_any().await;
    caught_up(&admin).await;
    luot_tests::province::converge(&hub_api, &[("s1", &s1)]).await;
    assert_ne!(
        health, 200,
        "/healthz said ok for 20 s while PostgreSQL was down (the state API answered {state})"
    );
}

/// Two provinces whose ids differ only by `-` and `_` (both allowed) can share one NATS: each
/// site's events reach the stream of its own province.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provinces_differing_by_dash_and_underscore_both_ship() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let nats = Nats::start();
    let start = |province: &str| {
        luot_tests::TestServer::start(
            luot_tests::ServerOptions::new()
                .env("LUOT_SITE", "s1")
                .env("LUOT_SHIP", &nats.url())
                .env("LUOT_PROVINCE", province)
                .env("LUOT_SHIP_KEY", &format!("lk_{}", "ab".repeat(32))),
        )
    };
    let a = start("hcm-1");
    let admin_a = a.api_as(ADMIN);
    admin_a.issue_ticket_any().await;
    caught_up(&admin_a).await;
    let b = start("hcm_1");
    let admin_b = b.api_as(ADMIN);
    admin_b.issue_ticket_any().await;
    let want = admin_b.seq().await;
    let mut last = Value::Null;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let v: Value = admin_b.get("/api/v1/admin/ship").await.json();
        last = v["shipping"].clone();
        if last["acked_seq"].as_u64() == Some(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        last["acked_seq"].as_u64(),
        Some(want),
        "province hcm_1 cannot ship while hcm-1 exists: {last}"
    );
}

/// A site restarted from an older copy of its own data directory (copied mid-run, the site
/// running on after the copy) is refused, even once it has written past what the stream
/// holds, and the province keeps exactly the events it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_restored_from_an_older_copy_is_refused() {
    let Some(Province { nats, pg, hub }) = Province::start() else {
        return;
    };
    let mut a = site(&hub, "s1", &nats.url());
    let admin = a.api_as(ADMIN);
    for _ in 0..2 {
        admin.issue_ticket_any().await;
    }
    caught_up(&admin).await;
    a.kill9();
    let saved = tempfile::tempdir().expect("tmp");
    copy_dir(&a.data_dir(), saved.path());
    a.restart();
    let admin = a.api_as(ADMIN);
    for _ in 0..3 {
        admin.issue_ticket_any().await;
    }
    caught_up(&admin).await;
    let original = site_events(&admin).await;
    let hub_api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    luot_tests::province::converge(&hub_api, &[("s1", &a)]).await;

    a.kill9();
    std::fs::remove_dir_all(a.data_dir()).expect("rm");
    copy_dir(saved.path(), &a.data_dir());
    a.restart();
    let admin = a.api_as(ADMIN);
    for _ in 0..6 {
        admin.issue_ticket_any().await;
    }
    assert!(admin.seq().await > original.len() as u64);
    // Past the site's next check of a refusal (every 60 s).
    let mut state = Value::Null;
    let deadline = std::time::Instant::now() + Duration::from_secs(75);
    while std::time::Instant::now() < deadline {
        let v: Value = admin.get("/api/v1/admin/ship").await.json();
        state = v["shipping"].clone();
        if state["state"] != "refused" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(state["state"], "refused", "{state}");
    let projected = hub_events(&pg, "s1").await;
    assert_eq!(projected.len(), original.len(), "the province's s1 changed");
    for (p, o) in projected.iter().zip(&original) {
        assert!(same(p, o), "event {} changed in the province", p.seq);
    }
}
