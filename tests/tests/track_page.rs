//! The phone page of one ticket (`/t/{track}`) in a real headless Chromium at phone size,
//! and its live channel `/ws/track/{track}` against the real server: the page follows the
//! ticket live until it is called ("Mời đến Quầy N", a vibration) and served; a forged link
//! gets a plain not-found page; the socket refuses unknown tickets with 404 before any
//! upgrade, shows nothing of other citizens beyond the lobby screen, and bounds the sockets
//! each ticket and each address may hold. Screenshots land in `target/screenshots/`.
//!
//! Without Chromium and chromedriver the browser tests print why and skip, except under CI.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use futures_util::StreamExt as _;
use luot_server::track::{MAX_PER_ADDRESS, MAX_PER_TICKET};
use luot_shared::TicketStatus;
use luot_shared::protocol::{Role, TicketView, TrackMessage, TrackView};
use luot_tests::browser::{Browser, BrowserOptions};
use luot_tests::{ServerOptions, TIMEOUT, TestServer};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};

fn options() -> ServerOptions {
    ServerOptions::new()
        .token("staff", Role::Staff, None)
        .token("kiosk", Role::Kiosk, None)
}

async fn phone() -> Option<Browser> {
    Browser::start_with(BrowserOptions::new().viewport(390, 844)).await
}

fn track_of(ticket: &TicketView) -> String {
    ticket
        .track
        .clone()
        .expect("the issuer gets a track secret")
}

/// Opens `/ws/track/{track}` from the local address `from`: the socket, or the handshake's
/// HTTP status when the server refused it.
async fn track_ws(
    server: &TestServer,
    track: &str,
    from: Ipv4Addr,
) -> Result<WebSocketStream<TcpStream>, u16> {
    let address: SocketAddr = server.address().parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let stream = tokio::time::timeout(TIMEOUT, socket.connect(address))
        .await
        .expect("connect timed out")
        .expect("cannot connect");
    let url = format!("ws://{}/ws/track/{track}", server.address());
    match tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(url, stream))
        .await
        .expect("handshake timed out")
    {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// The next `track` message on a track socket, with its raw text.
async fn next_view(ws: &mut WebSocketStream<TcpStream>) -> (TrackView, String) {
    loop {
        let frame = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("no track message within the timeout")
            .expect("the track socket ended")
            .expect("track socket error");
        if let Message::Text(text) = frame {
            match TrackMessage::decode(text.as_str()) {
                Ok(TrackMessage::Track { view }) => return (view, text.to_string()),
                Ok(other) => panic!("expected a track message, got {other:?}"),
                Err(e) => panic!("undecodable track message ({e}): {text}"),
            }
        }
    }
}

/// A citizen opens the page from the QR code while two people wait before them: it shows the
/// number biggest, the service and "2 ahead"; each call ahead lowers the count live; when
/// their own number is called it says "Mời đến Quầy 1" and vibrates once (again for a
/// recall, not for a re-sync when the page is shown again); served and finished, it says
/// done and stops following.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_page_follows_a_ticket_until_it_is_called() {
    let Some(browser) = phone().await else {
        return;
    };
    let server = TestServer::start(options());
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    staff.open_counter(1).await;
    let first = kiosk.issue_ticket("tnmt").await;
    let second = kiosk.issue_ticket("tnmt").await;
    let mine = kiosk.issue_ticket("tnmt").await;
    assert_eq!(mine.ahead, 2);

    browser
        .goto(&format!("{}/t/{}", server.base_url(), track_of(&mine)))
        .await;
    browser
        .wait_js(
            "the ticket's first view",
            &format!(
                "window.luotTrack.online && document.getElementById('number').textContent === '{}' && document.getElementById('ahead').textContent === '2'",
                mine.number
            ),
        )
        .await;
    let text = browser.text("main").await;
    assert!(text.contains("Tài nguyên - Môi trường"), "{text}");
    assert!(text.contains("Đang chờ đến lượt"), "{text}");
    assert!(text.contains("người đang chờ trước bạn"), "{text}");
    // The number is the biggest text on the page.
    let biggest = browser
        .js("const n = parseFloat(getComputedStyle(document.getElementById('number')).fontSize); return [...document.querySelectorAll('main *')].every((e) => e.id === 'number' || parseFloat(getComputedStyle(e).fontSize) < n);")
        .await;
    assert_eq!(biggest.as_bool(), Some(true), "the number is the biggest");
    let hint = browser.text("#touch-hint").await;
    assert!(
        hint.contains("Chạm vào trang"),
        "the page asks for the touch: {hint}"
    );
    browser.screenshot("track-waiting-390x844.png").await;
    // A test stand-in for the vibration motor, and the touch browsers require before it.
    browser
        .js("window.buzzes = []; navigator.vibrate = (p) => { window.buzzes.push(p); return true; }; document.dispatchEvent(new Event('pointerdown')); return true;")
        .await;

    let called = staff.call_next(1).await.unwrap();
    assert_eq!(called.id, first.id);
    browser
        .wait_js(
            "one fewer ahead",
            "document.getElementById('ahead').textContent === '1'",
        )
        .await;
    assert_eq!(staff.call_next(1).await.unwrap().id, second.id);
    browser
        .wait_js(
            "nobody ahead",
            "document.getElementById('ahead').textContent === '0'",
        )
        .await;
    let views_before = browser.js("return window.luotTrack.views;").await;

    let calling = Instant::now();
    assert_eq!(staff.call_next(1).await.unwrap().id, mine.id);
    browser
        .wait_js(
            "the call on the phone",
            "document.getElementById('status').dataset.status === 'called' && document.getElementById('status').textContent.includes('Quầy 1')",
        )
        .await;
    eprintln!(
        "call → phone page shows it: {} ms",
        calling.elapsed().as_millis()
    );
    let status = browser.text("#status").await;
    assert!(status.contains("Mời đến"), "{status}");
    assert!(status.contains("Quầy 1"), "{status}");
    let buzzes = browser.js("return window.buzzes.length;").await;
    assert_eq!(buzzes.as_u64(), Some(1), "vibrated once for the call");
    let title = browser.js("return document.title;").await;
    assert!(title.as_str().unwrap().contains("Quầy 1"), "{title}");
    let views_after = browser.js("return window.luotTrack.views;").await;
    assert!(
        views_after.as_u64() > views_before.as_u64(),
        "the call came as a new view"
    );
    browser.screenshot("track-called-390x844.png").await;

    // A recall rings again; the same call re-sent (a re-sync) does not.
    let views = browser.js("return window.luotTrack.views;").await;
    // A phone shown again (the page becomes visible) re-syncs at once.
    browser
        .js("document.dispatchEvent(new Event('visibilitychange')); return true;")
        .await;
    browser
        .wait_js(
            "the re-synced view",
            &format!("window.luotTrack.views > {views}"),
        )
        .await;
    assert_eq!(
        browser.js("return window.buzzes.length;").await.as_u64(),
        Some(1)
    );
    let resynced = browser
        .js("return window.luotTrack.resyncs.map((r) => r.reason);")
        .await;
    assert_eq!(resynced, serde_json::json!(["visible"]));
    staff.counter_action(1, "recall").await.expect_status(200);
    browser
        .wait_js("the recall's vibration", "window.buzzes.length === 2")
        .await;

    staff.counter_action(1, "start").await.expect_status(200);
    browser
        .wait_js(
            "being served",
            "document.getElementById('status').dataset.status === 'serving'",
        )
        .await;
    staff.counter_action(1, "finish").await.expect_status(200);
    browser
        .wait_js(
            "done",
            "document.getElementById('status').dataset.status === 'done' && window.luotTrack.final",
        )
        .await;
    let done = browser.text("#status").await;
    assert!(done.contains("Đã xong"), "{done}");
    browser.screenshot("track-done-390x844.png").await;
    let violations = browser.js("return window.luotTrack.cspViolations;").await;
    assert_eq!(violations, serde_json::json!([]), "no CSP violation");
}

/// A mistyped or forged link gets a page that says plainly the ticket is not found (in
/// Vietnamese and English) with status 404; so does a well-formed secret of another ticket
/// id; a client that does not ask for HTML gets the JSON error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_track_gets_a_not_found_page() {
    let server = TestServer::start(options());
    let kiosk = server.api_as("kiosk");
    let ticket = kiosk.issue_ticket("tnmt").await;
    let track = track_of(&ticket);
    let (_, mac) = track.split_once('-').unwrap();
    let anyone = server.api(None);
    let browser_like = server
        .api(None)
        .with_header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    for forged in [
        "nothing".to_owned(),
        format!("{}-{mac}", ticket.id + 1),
        format!("{}-", ticket.id),
    ] {
        // A client that does not ask for HTML gets the API's JSON error.
        anyone.get(&format!("/t/{forged}")).await.expect_error(404);
        let reply = browser_like.get(&format!("/t/{forged}")).await;
        assert_eq!(reply.status, 404, "{forged}: {}", reply.body);
        assert!(
            reply
                .content_type
                .as_deref()
                .unwrap_or("")
                .starts_with("text/html"),
            "{forged}: {:?}",
            reply.content_type
        );
        assert!(
            reply.body.contains("Không tìm thấy số này"),
            "{}",
            reply.body
        );
    }
    let good = anyone.get(&format!("/t/{track}")).await.expect_status(200);
    assert!(good.body.contains("/static/track.js"), "{}", good.body);

    let Some(browser) = phone().await else {
        return;
    };
    browser
        .goto(&format!("{}/t/nothing-here", server.base_url()))
        .await;
    browser
        .wait_js(
            "the not-found page",
            "document.getElementById('missing') !== null",
        )
        .await;
    let text = browser.text("#missing").await;
    assert!(text.contains("Không tìm thấy số này"), "{text}");
    assert!(text.contains("Ticket not found"), "{text}");
    browser.screenshot("track-missing-390x844.png").await;
}

/// The track socket answers a forged or unknown secret with 404 before any upgrade; a genuine
/// one gets the ticket's view at once, and a call of another ticket as the lobby shows it
/// (number and counter), without that ticket's id, secret, priority or the staff member; each
/// ticket holds at most `MAX_PER_TICKET` sockets and each address `MAX_PER_ADDRESS`, while
/// another address still connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_track_socket_refuses_unknown_tickets_and_bounds_each_address() {
    let server = TestServer::start(options());
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    staff.open_counter(1).await;
    let local = Ipv4Addr::LOCALHOST;

    let other = kiosk
        .post(
            "/api/v1/tickets",
            &serde_json::json!({ "service": "tnmt", "priority": "disability" }),
        )
        .await
        .expect_status(201)
        .json::<TicketView>();
    let tickets: Vec<TicketView> = {
        let mut v = Vec::new();
        for _ in 0..MAX_PER_ADDRESS.div_ceil(MAX_PER_TICKET) + 1 {
            v.push(kiosk.issue_ticket("tnmt").await);
        }
        v
    };
    let mine = &tickets[0];
    let (id, mac) = track_of(mine)
        .split_once('-')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    for forged in [
        "nothing".to_owned(),
        format!("{id}-{}", "0".repeat(mac.len())),
        format!("{}-{mac}", other.id),
        format!("999999-{mac}"),
    ] {
        assert_eq!(
            track_ws(&server, &forged, local).await.err(),
            Some(404),
            "{forged}"
        );
    }
    // Not a WebSocket at all: the secret is still checked first.
    server
        .api(None)
        .get("/ws/track/nothing")
        .await
        .expect_error(404);

    let mut ws = track_ws(&server, &track_of(mine), local).await.unwrap();
    let (view, _) = next_view(&mut ws).await;
    assert_eq!(view.ticket.id, mine.id);
    assert_eq!(view.ticket.ahead, 1);
    assert_eq!(view.ticket.track.as_deref(), Some(track_of(mine).as_str()));

    // Someone else's call reaches the phone as the lobby screen shows it, and nothing more.
    assert_eq!(staff.call_next(1).await.unwrap().id, other.id);
    let (view, text) = next_view(&mut ws).await;
    assert_eq!(view.ticket.ahead, 0);
    assert_eq!(view.recent_calls[0].number, other.number);
    assert_eq!(view.recent_calls[0].counter, 1);
    assert_eq!(view.recent_calls[0].counter_name, "Quầy 1");
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let call = raw["view"]["recent_calls"][0].as_object().unwrap();
    let mut keys: Vec<&str> = call.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["at", "counter", "counter_name", "number", "recall"]);
    assert!(!text.contains(&track_of(&other)), "another ticket's secret");
    assert!(
        !text.contains("disability"),
        "another citizen's priority category"
    );
    assert!(!text.contains("\"staff\""), "a staff member");
    let get: serde_json::Value = server
        .api(None)
        .get(&format!("/api/v1/track/{}", track_of(mine)))
        .await
        .expect_status(200)
        .json();
    assert_eq!(get["recent_calls"], raw["view"]["recent_calls"]);

    // One ticket: at most MAX_PER_TICKET sockets (the one above included).
    let mut held = vec![ws];
    for _ in 1..MAX_PER_TICKET {
        held.push(track_ws(&server, &track_of(mine), local).await.unwrap());
    }
    assert_eq!(
        track_ws(&server, &track_of(mine), local).await.err(),
        Some(429),
        "a ticket past its bound"
    );
    // One address: at most MAX_PER_ADDRESS over all its tickets.
    let mut next = tickets[1..].iter().cycle();
    let mut per_ticket = std::collections::HashMap::new();
    while held.len() < MAX_PER_ADDRESS {
        let t = next.next().unwrap();
        let n = per_ticket.entry(t.id).or_insert(0usize);
        if *n == MAX_PER_TICKET {
            continue;
        }
        *n += 1;
        held.push(track_ws(&server, &track_of(t), local).await.unwrap());
    }
    let spare = tickets.last().unwrap();
    assert!(per_ticket.get(&spare.id).copied().unwrap_or(0) < MAX_PER_TICKET);
    assert_eq!(
        track_ws(&server, &track_of(spare), local).await.err(),
        Some(429),
        "an address past its bound"
    );
    // Another address is not affected, and a socket given back frees its place.
    let elsewhere = track_ws(&server, &track_of(spare), Ipv4Addr::new(127, 0, 0, 2))
        .await
        .expect("another address connects");
    drop(elsewhere);
    let mut last = held.pop().unwrap();
    last.close(None).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(TIMEOUT, last.next()).await {}
    let (server, spare) = (&server, track_of(spare));
    luot_tests::poll_until(TIMEOUT, "the address's freed place", || {
        let spare = spare.clone();
        async move { track_ws(server, &spare, local).await.ok() }
    })
    .await;
}

/// Many phones following their tickets all get the view a call changes: 256 track sockets
/// (32 tickets, 8 addresses) each receive the new view after one call; prints how long the
/// last one took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_phones_all_see_a_call() {
    let server = TestServer::start(options());
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    staff.open_counter(1).await;
    let mut tickets = Vec::new();
    for _ in 0..32 {
        tickets.push(kiosk.issue_ticket("tnmt").await);
    }
    let mut phones = Vec::new();
    for (i, ticket) in tickets.iter().enumerate() {
        for k in 0..MAX_PER_TICKET {
            let from = Ipv4Addr::new(
                127,
                0,
                1,
                u8::try_from((i * MAX_PER_TICKET + k) % 8 + 1).unwrap(),
            );
            let mut ws = track_ws(&server, &track_of(ticket), from).await.unwrap();
            let (view, _) = next_view(&mut ws).await;
            assert_eq!(view.ticket.id, ticket.id);
            phones.push((ticket.id, view.ticket.ahead, ws));
        }
    }
    let calling = Instant::now();
    assert_eq!(staff.call_next(1).await.unwrap().id, tickets[0].id);
    let mut slowest = std::time::Duration::ZERO;
    for (id, ahead, ws) in &mut phones {
        let (view, _) = next_view(ws).await;
        assert_eq!(view.ticket.id, *id);
        if *id == tickets[0].id {
            assert_eq!(view.ticket.status, luot_shared::TicketStatus::Called);
        } else {
            assert_eq!(view.ticket.ahead + 1, *ahead, "one fewer ahead");
        }
        slowest = slowest.max(calling.elapsed());
    }
    eprintln!(
        "{} track sockets: call → last phone has the new view: {} ms",
        phones.len(),
        slowest.as_millis()
    );
}

/// Once the visit is over the server sends the last view and closes the socket itself, so a
/// finished ticket holds no slot, whoever opened it.
#[tokio::test]
async fn the_track_socket_closes_when_the_visit_is_over() {
    let server = TestServer::start(options());
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    staff.open_counter(1).await;
    let mine = kiosk.issue_ticket("tnmt").await;
    let mut ws = track_ws(&server, &track_of(&mine), Ipv4Addr::LOCALHOST)
        .await
        .expect("the socket opens");
    let (first, _) = next_view(&mut ws).await;
    assert_eq!(first.ticket.status, TicketStatus::Waiting);
    staff.call_next(1).await.expect("my ticket is called");
    staff.counter_action(1, "finish").await.expect_status(200);
    let mut last = None;
    loop {
        let frame = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("the server closes within the timeout");
        match frame {
            Some(Ok(Message::Text(text))) => {
                if let Ok(TrackMessage::Track { view }) = TrackMessage::decode(text.as_str()) {
                    last = Some(view.ticket.status);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let frame = frame.expect("a close frame with a code");
                assert_eq!(u16::from(frame.code), 1000, "{frame:?}");
                break;
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => panic!("the socket ended without a close frame"),
        }
    }
    assert_eq!(last, Some(TicketStatus::Done), "the last view says done");
}
