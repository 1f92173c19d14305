//! The server keeps serving under abuse of its sockets: garbage instead of HTTP, thousands of
//! connections that never send a request, and a WebSocket client that stops reading.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use luot_shared::protocol::{Role, ServerMessage};
use luot_tests::{ADMIN, Api, ServerOptions, TIMEOUT, TestServer, assert_gap_free, poll_until};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const SEED: u64 = 0x7265_736f;
/// Connections opened and left silent.
const IDLE_CONNECTIONS: usize = 2000;
/// Connections that send half a request head, and ones that go quiet after one request.
const SLOW_CONNECTIONS: usize = 20;
/// Descriptors this process needs besides the idle connections.
const FD_SLACK: u64 = 500;
/// The server closes a connection that has not sent a complete request head within 10 s.
const IDLE_CLOSED_WITHIN: Duration = Duration::from_secs(20);
/// How long the server may take to close a connection that sent garbage.
const GARBAGE_CLOSED_WITHIN: Duration = Duration::from_secs(10);
/// Events produced while one WebSocket client does not read.
const STALL_EVENTS: u64 = 2000;
const STALL_KIOSKS: u64 = 4;
/// Of those, at least this many are whole center configurations (the rest are tickets).
const STALL_MIN_CONFIGURATIONS: u64 = 20;
/// Slowest `/healthz` answer accepted while the events are produced.
const HEALTHZ_LIMIT: Duration = Duration::from_secs(3);

/// The tests that open thousands of sockets take turns, so each needs only its own share of
/// descriptors.
static MANY_SOCKETS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Raises this process's open-files soft limit to its hard limit; `false` (with the reason
/// printed) when even that is too low for `sockets` more sockets.
fn raise_open_files_limit(sockets: usize) -> bool {
    let needed = sockets as u64 + FD_SLACK;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit >= needed => true,
        Ok(limit) => {
            eprintln!("skipped: the open-files hard limit is {limit}, this test needs {needed}");
            false
        }
        Err(e) => {
            eprintln!("skipped: cannot raise the open-files limit: {e}");
            false
        }
    }
}

fn address(server: &TestServer) -> String {
    server.base_url().trim_start_matches("http://").to_owned()
}

async fn connect(addr: &str) -> TcpStream {
    tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("cannot connect")
}

/// How a connection ended, or did not.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed it (EOF or reset), after sending these bytes.
    Closed(Vec<u8>),
    /// Still open at the deadline, after sending these bytes.
    Open(Vec<u8>),
}

/// Reads until the server closes the connection or `deadline` passes.
async fn read_to_end(stream: &mut TcpStream, deadline: Instant) -> End {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return End::Open(answer),
            Ok(Ok(0) | Err(_)) => return End::Closed(answer),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// Checks that the server still serves: `/healthz` and a new ticket.
async fn still_serving(server: &TestServer, kiosk: &Api) {
    server.api(None).get("/healthz").await.expect_status(200);
    kiosk.issue_ticket("tnmt").await;
}

/// Byte strings that are not HTTP/1.1 requests a server could wait on.
fn garbage(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut payloads: Vec<Vec<u8>> = vec![
        // A TLS ClientHello.
        [
            0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
        ]
        .to_vec(),
        b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
        vec![0; 64],
        vec![0xff; 64],
        b"\r\n\r\n\x01\x02\x03".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"GET /\x00 HTTP/1.1\r\n\r\n".to_vec(),
        // One request, then garbage where the next should start.
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02\x03garbage".to_vec(),
        // A request head far past any buffer.
        [b"GET /".as_slice(), &vec![b'a'; 1 << 20]].concat(),
        [b"GET / HTTP/1.1\r\nX: ".as_slice(), &vec![b'b'; 1 << 20]].concat(),
        // The HTTP/2 preface, then frames that are not frames.
        [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_slice(), &[0xff; 64]].concat(),
    ];
    for _ in 0..40 {
        let len = rng.random_range(1..4096);
        let mut bytes = vec![0u8; len];
        rng.fill(&mut bytes[..]);
        // Starts with a byte no request can start with (not a letter, CR or LF).
        bytes[0] = match rng.random_range(0..3) {
            0 => rng.random_range(0x00..=0x08),
            1 => rng.random_range(0x0e..=0x1f),
            _ => rng.random_range(0x7f..=0xff),
        };
        payloads.push(bytes);
    }
    payloads
}

/// Connections that send bytes that are not HTTP (random bytes, a TLS or SSH greeting, broken
/// request heads, a megabyte-long head, a broken HTTP/2 preface) are closed by the server,
/// with at most an HTTP error status, and the server goes on serving `/healthz` and tickets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_connections_are_closed_and_serving_goes_on() {
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let kiosk = server.api_as("kiosk");
    let addr = address(&server);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut connections = JoinSet::new();
    for payload in garbage(&mut rng) {
        let addr = addr.clone();
        connections.spawn(async move {
            let mut stream = connect(&addr).await;
            // The server may close before it has read everything.
            let _ = stream.write_all(&payload).await;
            let end = read_to_end(&mut stream, Instant::now() + GARBAGE_CLOSED_WITHIN).await;
            (payload, end)
        });
    }
    let mut answers: std::collections::BTreeMap<String, usize> = Default::default();
    while let Some(result) = connections.join_next().await {
        let (payload, end) = result.expect("connection task");
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(40)]).into_owned();
        let End::Closed(answer) = end else {
            panic!(
                "the server kept a connection that sent {shown:?} open for {GARBAGE_CLOSED_WITHIN:?}"
            );
        };
        // What the server says, if anything, is an error status (or HTTP/2 frames); only the
        // one well-formed request before the garbage gets its 200.
        let text = String::from_utf8_lossy(&answer);
        let statuses: Vec<&str> = text
            .match_indices("HTTP/1.1 ")
            .filter_map(|(at, _)| text.get(at + 9..at + 12))
            .collect();
        let valid_first = payload.starts_with(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        for (n, status) in statuses.iter().enumerate() {
            assert!(
                status.starts_with('4')
                    || *status == "505"
                    || (n == 0 && valid_first && *status == "200"),
                "answer to {shown:?}: {status}"
            );
        }
        let key = if statuses.is_empty() {
            if answer.is_empty() {
                "nothing".to_owned()
            } else {
                "other bytes".to_owned()
            }
        } else {
            statuses.join("+")
        };
        *answers.entry(key).or_default() += 1;
        server.api(None).get("/healthz").await.expect_status(200);
    }
    still_serving(&server, &kiosk).await;
    eprintln!("resources: garbage connections closed by the server; answers: {answers:?}");
}

/// Opens `n` connections that send nothing.
async fn open_idle(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        idle.push(connect(addr).await);
    }
    idle
}

/// With 2,000 connections open that never send a byte, `/healthz`, issuing a ticket and a new
/// `/ws` client (snapshot, then the ticket's event) still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_block_service() {
    let _turn = MANY_SOCKETS.lock().await;
    if !raise_open_files_limit(IDLE_CONNECTIONS) {
        return;
    }
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("display", Role::Display, None),
    );
    let opening = Instant::now();
    let idle = open_idle(&address(&server), IDLE_CONNECTIONS).await;

    let kiosk = server.api_as("kiosk");
    server.api(None).get("/healthz").await.expect_status(200);
    let mut screen = server.ws(&server.token("display"), None).await;
    let (seq, _) = screen.snapshot().await;
    let ticket = kiosk.issue_ticket("tnmt").await;
    let event = screen.event().await;
    assert_eq!(event.seq, seq + 1);
    match &event.event {
        luot_shared::Event::TicketIssued { ticket: issued, .. } => assert_eq!(issued.id, ticket.id),
        other => panic!("expected ticket_issued, got {other:?}"),
    }
    // All of that happened while even the first idle connection was within its 10 s.
    assert!(
        opening.elapsed() < Duration::from_secs(10),
        "too slow to tell: {:?}",
        opening.elapsed()
    );
    assert_eq!(idle.len(), IDLE_CONNECTIONS);
}

/// Connections that never send a byte (2,000 of them), that send half a request head, or
/// that go quiet after one request are closed by the server within 20 s (it allows 10 s for a
/// request head), and it still serves afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let _turn = MANY_SOCKETS.lock().await;
    if !raise_open_files_limit(IDLE_CONNECTIONS + 2 * SLOW_CONNECTIONS) {
        return;
    }
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let addr = address(&server);
    let mut connections = JoinSet::new();
    let mut watch = |kind: &'static str, mut stream: TcpStream, since: Instant| {
        connections.spawn(async move {
            let end = read_to_end(&mut stream, since + IDLE_CLOSED_WITHIN).await;
            (kind, matches!(end, End::Closed(_)))
        });
    };
    for stream in open_idle(&addr, IDLE_CONNECTIONS).await {
        watch("silent", stream, Instant::now());
    }
    for _ in 0..SLOW_CONNECTIONS {
        let mut stream = connect(&addr).await;
        let since = Instant::now();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: luot\r\n")
            .await
            .expect("cannot write half a request");
        watch("half a request head", stream, since);
    }
    for _ in 0..SLOW_CONNECTIONS {
        let mut stream = connect(&addr).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: luot\r\n\r\n")
            .await
            .expect("cannot write a request");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.ends_with(b"\r\n\r\nok") {
            let n = tokio::time::timeout(TIMEOUT, stream.read(&mut buf))
                .await
                .expect("no answer to /healthz")
                .expect("cannot read the answer");
            assert!(n > 0, "closed before answering: {answer:?}");
            answer.extend_from_slice(&buf[..n]);
        }
        watch("quiet after one request", stream, Instant::now());
    }

    let mut open: std::collections::BTreeMap<&str, usize> = Default::default();
    while let Some(result) = connections.join_next().await {
        let (kind, closed) = result.expect("connection task");
        if !closed {
            *open.entry(kind).or_default() += 1;
        }
    }
    assert!(
        open.is_empty(),
        "connections still open {IDLE_CLOSED_WITHIN:?} after their last byte: {open:?}"
    );
    still_serving(&server, &server.api_as("kiosk")).await;
}

/// Bytes the kernel may buffer on the sending side of a connection: the largest `tcp_wmem`
/// on Linux (4 MiB by default).
fn socket_buffers() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20)
}

/// The value of an unlabelled metric in `/metrics`.
async fn metric(api: &Api, name: &str) -> u64 {
    let text = api.get("/metrics").await.expect_status(200).body;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// A center as large as a request body may be: 99 services with long names and counters
/// serving them all, so that its `center_configured` event is some 60 KB. Ticket events are
/// about 260 bytes, and the loopback's socket buffers hold megabytes: without a few of these
/// the server's sends to a client that stops reading would never back up.
fn big_center(name: &str) -> serde_json::Value {
    let long_name = |what: &str, i: usize| {
        let text = format!("{what} {i:02} — thủ tục hành chính liên thông một cửa ");
        text.chars().cycle().take(120).collect::<String>()
    };
    let ids: Vec<String> = (1..=99)
        .map(|i| format!("linh-vuc-{i:02}-{}", "x".repeat(20)))
        .collect();
    let services: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({ "id": id, "name": long_name("Lĩnh vực", i + 1), "prefix": (i + 1).to_string() })
        })
        .collect();
    let mut counters: Vec<serde_json::Value> = (1..=20)
        .map(|k| serde_json::json!({ "id": k, "name": long_name("Quầy", k), "services": ids }))
        .collect();
    loop {
        let center = serde_json::json!({
            "center": { "name": name, "timezone": "Asia/Ho_Chi_Minh" },
            "services": services,
            "counters": counters,
        });
        // Under the 64 KiB body limit.
        if center.to_string().len() < 60_000 {
            return center;
        }
        counters.pop();
    }
}

/// A WebSocket client that stops reading while 2,000 events (a hundred or so of them whole
/// center configurations, so that more is sent than the socket buffers hold) are produced does not
/// hold the server up: two other clients receive every event in order, `/healthz` keeps
/// answering quickly, and the server drops the stalled client or sends it a fresh snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_stops_reading_does_not_stall_the_server() {
    let mut options = ServerOptions::new().token("display", Role::Display, None);
    for k in 0..STALL_KIOSKS {
        options = options.token(&format!("kiosk-{k}"), Role::Kiosk, None);
    }
    let server = TestServer::start(options);
    let display = server.token("display");
    let reader = server.api(Some(&display));
    let admin = server.api_as(ADMIN);
    let centers = [big_center("Trung tâm A"), big_center("Trung tâm B")];
    // Enough configurations to send half as much again as the socket buffers hold.
    let config_bytes = centers[0].to_string().len();
    let configurations = u64::try_from(socket_buffers() * 3 / 2 / config_bytes)
        .unwrap_or(u64::MAX)
        .max(STALL_MIN_CONFIGURATIONS);
    let per_kiosk = STALL_EVENTS.saturating_sub(configurations) / STALL_KIOSKS;
    let total = configurations + per_kiosk * STALL_KIOSKS;
    admin
        .put("/api/v1/admin/center", &centers[0])
        .await
        .expect_status(200);
    let state = reader.state().await;
    let services: Arc<Vec<String>> = Arc::new(
        state
            .services
            .iter()
            .take(9)
            .map(|s| s.id.clone())
            .collect(),
    );

    // The stalled client reads its handshake and nothing more.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let addr = address(&server).parse().expect("an address");
    let stream = socket.connect(addr).await.expect("cannot connect");
    let url = format!("{}?token={display}", server.ws_url());
    let (mut stalled, _) =
        tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("handshake timed out")
            .expect("handshake failed");

    let mut followers = Vec::new();
    for _ in 0..2 {
        let mut client = server.ws(&display, None).await;
        let (seq, _) = client.snapshot().await;
        followers.push(tokio::spawn(async move {
            let events = client.events_through(seq + total).await;
            assert_gap_free(&events, seq + 1);
            // Kept open, so the connections still counted are the followers and the stalled one.
            (events.len(), client)
        }));
    }
    poll_until(TIMEOUT, "three WebSocket connections", || {
        let reader = reader.clone();
        async move { (metric(&reader, "luot_ws_connections").await == 3).then_some(()) }
    })
    .await;
    let start = reader.seq().await;

    let mut producers = Vec::new();
    for k in 0..STALL_KIOSKS {
        let kiosk = server.api_as(&format!("kiosk-{k}"));
        let services = services.clone();
        producers.push(tokio::spawn(async move {
            for n in 0..per_kiosk {
                let service = &services[usize::try_from(n + k).unwrap_or(0) % services.len()];
                kiosk.issue(service, None).await.expect_status(201);
            }
        }));
    }
    producers.push(tokio::spawn(async move {
        // Each alternates with the last one, so each is a change and one event.
        for n in 0..configurations {
            let center = &centers[usize::from(n % 2 == 0)];
            admin
                .put("/api/v1/admin/center", center)
                .await
                .expect_status(200);
        }
    }));
    // `/healthz` while the events flow.
    let health = server.api(None);
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    while producers.iter().any(|p| !p.is_finished()) {
        let asked_at = Instant::now();
        health.get("/healthz").await.expect_status(200);
        slowest = slowest.max(asked_at.elapsed());
        asked += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for producer in producers {
        producer.await.expect("producer task");
    }
    let mut open_followers = Vec::new();
    for follower in followers {
        let (received, client) = tokio::time::timeout(Duration::from_secs(60), follower)
            .await
            .expect("a follower did not get every event")
            .expect("follower task");
        assert_eq!(received as u64, total);
        open_followers.push(client);
    }
    assert_eq!(reader.seq().await, start + total);
    assert!(
        slowest < HEALTHZ_LIMIT,
        "/healthz took {slowest:?} while a client stalled"
    );

    // The server gives up on the stalled client, or starts it over from a snapshot.
    let lagged_before = metric(&reader, "luot_ws_lag_snapshots_total").await;
    poll_until(
        Duration::from_secs(40),
        "the stalled client to be dropped or sent a snapshot",
        || {
            let reader = reader.clone();
            async move {
                let connections = metric(&reader, "luot_ws_connections").await;
                let lagged = metric(&reader, "luot_ws_lag_snapshots_total").await;
                (connections <= 2 || lagged > lagged_before).then_some(())
            }
        },
    )
    .await;
    let mut at = None;
    let mut events = 0;
    let outcome = loop {
        let next = tokio::time::timeout(TIMEOUT, stalled.next())
            .await
            .expect("the stalled client's connection neither ended nor moved on");
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break "dropped",
            Some(Ok(_)) => continue,
        };
        match ServerMessage::decode(text.as_str()).expect("a server message") {
            ServerMessage::Snapshot { seq, .. } if at.is_none() => at = Some(seq),
            ServerMessage::Snapshot { .. } => break "sent a fresh snapshot",
            ServerMessage::Event(rec) => {
                let expected = at.map(|s| s + 1);
                assert_eq!(
                    Some(rec.seq),
                    expected,
                    "the stalled client's events are out of order"
                );
                at = Some(rec.seq);
                events += 1;
            }
            other => panic!("unexpected message {other:?}"),
        }
    };
    assert!(
        events < total,
        "the stalled client got every event: the server's sends never backed up"
    );
    eprintln!(
        "resources: {total} events ({configurations} of them configurations); stalled client \
         {outcome} after {events} events; /healthz answered {asked} times meanwhile, slowest \
         {slowest:?}"
    );
    // New clients are served as before.
    let mut fresh = server.ws(&display, None).await;
    assert_eq!(fresh.snapshot().await.0, start + total);
    drop(open_followers);
}
