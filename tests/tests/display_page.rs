//! The browser lobby display (`/display`) in a real headless Chromium against the real server:
//! it follows calls live, survives server restarts without a reload, announces each call
//! exactly once in order, shows a refused token, and ends showing the server's state.
//! Screenshots of a busy center at 1920×1080, 1366×768 and in portrait land in
//! `target/screenshots/`.
//!
//! Without Chromium and chromedriver these tests print why and skip, except under CI.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use luot_shared::protocol::{Event, Role, ServerMessage};
use luot_tests::browser::{Browser, BrowserOptions};
use luot_tests::{ADMIN, ServerOptions, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// Time for a queue of announcements to play out (a chime and a pause each).
const QUEUE_WAIT: Duration = Duration::from_secs(90);

/// A headless Chromium that may play sound without a touch, as a TV set up for it does.
async fn tv_browser() -> Option<Browser> {
    Browser::start_with(BrowserOptions::new().arg("--autoplay-policy=no-user-gesture-required"))
        .await
}

fn options() -> ServerOptions {
    ServerOptions::new()
        .token("tv", Role::Display, None)
        .token("staff", Role::Staff, None)
        .token("kiosk", Role::Kiosk, None)
}

/// Opens `/display` with `query` and waits for its first state.
async fn open_display(browser: &Browser, server: &TestServer, query: &str) {
    browser
        .goto(&format!("{}/display{query}", server.base_url()))
        .await;
    browser
        .wait_js(
            "the display's first state",
            "window.luotDisplay.state !== null && document.getElementById('center-name').textContent.length > 0",
        )
        .await;
}

/// What the page announced: (number, counter, recall) in order.
async fn announced(browser: &Browser) -> Vec<(String, u64, bool)> {
    let list = browser
        .js("return window.luotDisplay.announced.map((a) => [a.number, a.counter, a.recall]);")
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a[0].as_str().unwrap().to_owned(),
                a[1].as_u64().unwrap(),
                a[2].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Waits until the page has announced `count` calls and nothing more is queued.
async fn wait_announced(browser: &Browser, count: usize) {
    browser
        .wait_js_for(
            QUEUE_WAIT,
            &format!("{count} announcements"),
            &format!(
                "window.luotDisplay.announced.length >= {count} && window.luotDisplay.queued === 0 && window.luotDisplay.announced[window.luotDisplay.announced.length - 1].ended !== undefined"
            ),
        )
        .await;
}

/// Waits until the big call on the page is `number` at `counter`.
async fn wait_call(browser: &Browser, number: &str, counter: u32) {
    browser
        .wait_js(
            &format!("{number} called to counter {counter}"),
            &format!(
                "document.getElementById('call-number').dataset.number === '{number}' && document.getElementById('call').dataset.counter === '{counter}'"
            ),
        )
        .await;
}

fn called(number: &str, counter: u64, recall: bool) -> (String, u64, bool) {
    (number.to_owned(), counter, recall)
}

/// The page takes the token from the URL once, removes it from the address bar and keeps it;
/// it follows calls live, shows "Mất kết nối" while the server is down, and after two kill -9
/// restarts it shows and announces new calls with no reload; each call is announced exactly
/// once, in order, in the words of the template; a reload works from the kept token, and a
/// frozen tab re-syncs when it wakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_follows_calls_through_restarts() {
    let Some(browser) = tv_browser().await else {
        return;
    };
    let mut server = TestServer::start(options());
    let tv = server.token("tv");
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    staff.open_counter(1).await;
    staff.open_counter(3).await;
    for service in ["tnmt", "tnmt", "ldtbxh", "ldtbxh"] {
        kiosk.issue_ticket(service).await;
    }
    open_display(&browser, &server, &format!("?token={tv}")).await;
    let href = browser.js("return location.href;").await;
    assert!(
        !href.as_str().unwrap().contains(&tv),
        "the token left the address bar: {href}"
    );
    let kept = browser
        .js("return localStorage.getItem('luot.display.token');")
        .await;
    assert_eq!(kept.as_str(), Some(tv.as_str()));
    browser.js("window.sameLoad = 'yes'; return true;").await;

    assert_eq!(staff.call_next(1).await.unwrap().number, "1001");
    wait_call(&browser, "1001", 1).await;
    let text = browser.text("#call").await;
    assert!(
        text.contains("Mời công dân có số") && text.contains("1001") && text.contains("Quầy 1"),
        "{text}"
    );
    browser
        .wait_js(
            "counter 1's tile",
            "document.querySelector('#counters [data-counter=\"1\"]').dataset.number === '1001'",
        )
        .await;
    wait_announced(&browser, 1).await;

    for (round, (counter, number)) in [(3u32, "3001"), (1, "1002")].into_iter().enumerate() {
        server.kill9();
        browser
            .wait_js(
                "the offline banner",
                "!document.getElementById('offline').hidden && document.getElementById('offline').textContent.includes('Mất kết nối')",
            )
            .await;
        if round == 0 {
            browser.screenshot("display-offline-1366x768.png").await;
        }
        server.restart_same_port();
        browser
            .wait_js("the page back online", "window.luotDisplay.online === true")
            .await;
        assert_eq!(staff.call_next(counter).await.unwrap().number, number);
        wait_call(&browser, number, counter).await;
        browser
            .wait_js(
                "the banner gone",
                "document.getElementById('offline').hidden",
            )
            .await;
        let connects = browser.js("return window.luotDisplay.connects;").await;
        assert!(
            connects.as_u64().unwrap() >= 2 + round as u64,
            "reconnected: {connects}"
        );
    }
    let same = browser.js("return window.sameLoad || null;").await;
    assert_eq!(same.as_str(), Some("yes"), "the page was not reloaded");

    wait_announced(&browser, 3).await;
    assert_eq!(
        announced(&browser).await,
        vec![
            called("1001", 1, false),
            called("3001", 3, false),
            called("1002", 1, false)
        ]
    );
    let texts = browser
        .js("return window.luotDisplay.announced.map((a) => a.text);")
        .await;
    assert_eq!(
        texts,
        json!([
            "Mời công dân có số một không không một đến quầy số một",
            "Mời công dân có số ba không không một đến quầy số ba",
            "Mời công dân có số một không không hai đến quầy số một",
        ])
    );
    let chimed = browser
        .js("return window.luotDisplay.announced.every((a) => a.sound && a.chimed);")
        .await;
    assert_eq!(chimed, json!(true), "each announcement rang the chime");
    let words = browser
        .js("return [15, 21, 105, 10, 24, 250].map((n) => window.luotDisplay.sentenceFor('2005', n));")
        .await;
    let counters: Vec<&str> = words
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().split("quầy số ").nth(1).unwrap())
        .collect();
    assert_eq!(
        counters,
        [
            "mười lăm",
            "hai mươi mốt",
            "một trăm linh năm",
            "mười",
            "hai mươi bốn",
            "hai trăm năm mươi"
        ]
    );

    // A reload without the token in the URL works from the kept one.
    browser
        .goto(&format!("{}/display", server.base_url()))
        .await;
    browser
        .wait_js(
            "the state after a reload",
            "window.luotDisplay.state !== null && window.luotDisplay.online",
        )
        .await;
    wait_call(&browser, "1002", 1).await;

    // A tab frozen for six seconds (a TV that slept) notices the late timer and re-syncs.
    browser
        .js("const t = Date.now(); while (Date.now() - t < 6000) {} return true;")
        .await;
    browser
        .wait_js(
            "a re-sync after the freeze",
            "window.luotDisplay.resyncs.some((r) => r.reason === 'wake') && window.luotDisplay.online",
        )
        .await;
    assert_eq!(staff.call_next(3).await.unwrap().number, "3002");
    wait_call(&browser, "3002", 3).await;
    wait_announced(&browser, 1).await;
    assert_eq!(
        announced(&browser).await,
        vec![called("3002", 3, false)],
        "after a reload only new calls are announced"
    );
}

/// Calls made while the page was cut off come back with `since`: the one still recent is
/// announced, the one older than the page's window (`?recent=`) only shows; a recall is
/// announced again; a `visibilitychange` makes the page re-sync at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_calls_are_announced_only_while_recent() {
    let Some(browser) = tv_browser().await else {
        return;
    };
    let mut server = TestServer::start(options());
    let tv = server.token("tv");
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    for counter in [1, 2] {
        staff.open_counter(counter).await;
    }
    for service in ["tnmt", "tnmt", "tckh"] {
        kiosk.issue_ticket(service).await;
    }
    open_display(&browser, &server, &format!("?token={tv}&recent=10")).await;
    assert_eq!(staff.call_next(1).await.unwrap().number, "1001");
    wait_call(&browser, "1001", 1).await;

    // The page's server goes away; the center goes on at another address the page cannot see.
    let home = server.address();
    server.kill9();
    server.restart();
    let elsewhere = server.api_as("staff");
    assert_eq!(elsewhere.call_next(2).await.unwrap().number, "2001");
    // This is the age under test, not a wait for an event: 2001 must be older than the
    // page's 10-second window when the page hears of it.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(elsewhere.call_next(1).await.unwrap().number, "1002");
    server.restart_at(&home);
    browser
        .js("document.dispatchEvent(new Event('visibilitychange')); return true;")
        .await;
    wait_call(&browser, "1002", 1).await;
    browser
        .wait_js(
            "2001 among the recent calls",
            "document.querySelector('#recent [data-number=\"2001\"]') !== null",
        )
        .await;
    let resyncs = browser
        .js("return window.luotDisplay.resyncs.map((r) => r.reason);")
        .await;
    assert!(
        resyncs.as_array().unwrap().contains(&json!("visible")),
        "{resyncs}"
    );

    staff.counter_action(1, "recall").await.expect_status(200);
    wait_announced(&browser, 3).await;
    assert_eq!(
        announced(&browser).await,
        vec![
            called("1001", 1, false),
            called("1002", 1, false),
            called("1002", 1, true)
        ],
        "2001 was too old to announce; the recall of 1002 is announced again"
    );
}

/// A revoked token gets a clear message on screen and a retry only a minute later; so does a
/// fresh page with that token, and a page with no token at all; a new token works again, and
/// `?lang=en` shows the labels in English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_token_shows_a_message() {
    let Some(browser) = tv_browser().await else {
        return;
    };
    let mut server = TestServer::start(ServerOptions::new());
    let token = server.create_token("tv sảnh", Role::Display, None).await;
    let admin = server.api_as(ADMIN);
    open_display(&browser, &server, &format!("?token={token}")).await;

    let tokens: Vec<Value> = admin.get("/api/v1/admin/tokens").await.json();
    let id = tokens
        .iter()
        .find(|t| t["label"] == "tv sảnh")
        .and_then(|t| t["id"].as_str())
        .unwrap()
        .to_owned();
    admin
        .send(Method::DELETE, &format!("/api/v1/admin/tokens/{id}"), None)
        .await
        .expect_status(204);
    // A server that closes a revoked token's socket (4401) shows it at once; in any case the
    // next connection is refused, and a restart forces one.
    server.kill9();
    server.restart_same_port();
    let refused =
        "window.luotDisplay.refused === 'refused' && !document.getElementById('refused').hidden";
    browser.wait_js("the refusal message", refused).await;
    let text = browser.text("#refused").await;
    assert!(
        text.contains("Mã thiết bị bị từ chối") && text.contains("Thử lại sau"),
        "{text}"
    );
    let retry = browser.js("return window.luotDisplay.nextRetryMs;").await;
    assert!(
        retry.as_u64().unwrap() >= 54_000,
        "a refused token is retried only slowly, not in a storm: {retry}"
    );

    // A fresh page with the revoked token.
    browser
        .goto(&format!("{}/display?token={token}", server.base_url()))
        .await;
    browser
        .wait_js("the refusal on a fresh page", refused)
        .await;
    browser.screenshot("display-refused-1366x768.png").await;

    // No token anywhere.
    browser
        .js("localStorage.removeItem('luot.display.token'); return true;")
        .await;
    browser
        .goto(&format!("{}/display", server.base_url()))
        .await;
    browser
        .wait_js(
            "the missing-token message",
            "window.luotDisplay.refused === 'missing'",
        )
        .await;
    assert!(
        browser
            .text("#refused")
            .await
            .contains("Chưa có mã thiết bị")
    );

    // An administrator issues a new token: the page works with it.
    let fresh = server.create_token("tv mới", Role::Display, None).await;
    open_display(&browser, &server, &format!("?token={fresh}")).await;
    browser
        .wait_js(
            "no message",
            "window.luotDisplay.refused === null && document.getElementById('refused').hidden",
        )
        .await;

    // The labels in English on request; the token is still kept.
    open_display(&browser, &server, "?lang=en").await;
    assert_eq!(browser.text(".tv-call-lead").await, "Citizen number");
    assert!(
        browser
            .text(".tv-waiting h2")
            .await
            .to_lowercase()
            .contains("waiting by service")
    );
}

/// A browser that blocks audio until a touch: the page says so on screen, still shows and
/// records calls (without sound), and after a touch the hint goes away and calls ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_hint_until_a_touch() {
    let Some(browser) = Browser::start_with(
        BrowserOptions::new().arg("--autoplay-policy=document-user-activation-required"),
    )
    .await
    else {
        return;
    };
    let server = TestServer::start(options());
    let tv = server.token("tv");
    let staff = server.api_as("staff");
    staff.open_counter(1).await;
    for _ in 0..2 {
        server.api_as("kiosk").issue_ticket("tnmt").await;
    }
    open_display(&browser, &server, &format!("?token={tv}")).await;
    browser
        .wait_js(
            "the sound hint",
            "window.luotDisplay.audio === 'locked' && !document.getElementById('sound-hint').hidden",
        )
        .await;
    assert_eq!(
        browser.text("#sound-hint").await,
        "Chạm vào màn hình để bật âm thanh"
    );
    staff.call_next(1).await.unwrap();
    wait_call(&browser, "1001", 1).await;
    browser.screenshot("display-sound-hint-1366x768.png").await;
    wait_announced(&browser, 1).await;
    let silent = browser
        .js("return window.luotDisplay.announced.map((a) => a.sound);")
        .await;
    assert_eq!(silent, json!([false]));

    browser.click("#call").await;
    browser
        .wait_js(
            "the hint gone after a touch",
            "window.luotDisplay.audio === 'running' && document.getElementById('sound-hint').hidden",
        )
        .await;
    staff.call_next(1).await.unwrap();
    wait_call(&browser, "1002", 1).await;
    wait_announced(&browser, 2).await;
    let rang = browser
        .js("return window.luotDisplay.announced.map((a) => [a.number, a.sound, a.chimed]);")
        .await;
    assert_eq!(rang, json!([["1001", false, false], ["1002", true, true]]));
}

/// The busy center the screenshots show: its name, a ticker, the nine default fields.
const BUSY_CENTER: &str = r#"
[center]
name = "Trung tâm Hành chính công thành phố Hà Tĩnh"
ticker = "Giờ làm việc: sáng 7:30 – 11:30, chiều 13:30 – 17:00 từ thứ Hai đến thứ Sáu. Công dân vui lòng giữ phiếu số và chú ý màn hình, loa gọi số."
"#;

/// A busy center (9 counters open, 40 waiting, calls, a recall, one in service): what the
/// page shows — its state, the big call, each counter's number, the waiting counts, the recent
/// calls and the live ticker — equals `/api/v1/state`, and it announced every call the stream
/// carried once, in order. Leaves screenshots at 1920×1080, 1366×768 and portrait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_center_matches_the_api_and_screenshots() {
    let Some(browser) = tv_browser().await else {
        return;
    };
    let server = TestServer::start(options().center(BUSY_CENTER));
    let tv = server.token("tv");
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    let state = kiosk.state().await;
    let services: Vec<String> = state.services.iter().map(|s| s.id.clone()).collect();
    assert_eq!(services.len(), 9);
    for (service, count) in services.iter().zip([8, 7, 6, 6, 6, 5, 4, 4, 4]) {
        for _ in 0..count {
            kiosk.issue_ticket(service).await;
        }
    }
    for counter in 1..=9 {
        staff.open_counter(counter).await;
    }
    open_display(&browser, &server, &format!("?token={tv}")).await;
    let mut stream = server.ws(&tv, None).await;
    let (mut seq, _) = stream.snapshot().await;

    for counter in 1..=9 {
        staff.call_next(counter).await.unwrap();
    }
    staff.counter_action(2, "recall").await.expect_status(200);
    staff.counter_action(4, "start").await.expect_status(200);
    staff.call_next(5).await.unwrap();
    staff.call_next(7).await.unwrap();

    // The admin changes the ticker: the page shows it live.
    let ticker = "Lấy số thứ tự tại ki-ốt. Xin cảm ơn quý công dân!";
    let admin = server.api_as(ADMIN);
    let mut config: Value = admin.get("/api/v1/admin/center").await.json();
    config["center"]["ticker"] = json!(ticker);
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);

    let api = kiosk.state().await;
    let mut calls = Vec::new();
    while seq < api.seq {
        let recorded = match stream.next_message().await {
            ServerMessage::Event(recorded) => recorded,
            other => panic!("expected an event, got {other:?}"),
        };
        seq = recorded.seq;
        if let Event::TicketCalled {
            ticket,
            counter,
            recall,
            ..
        } = recorded.event
        {
            calls.push((ticket.number, u64::from(counter), recall));
        }
    }
    assert_eq!(calls.len(), 12);
    let waiting: u32 = api.services.iter().map(|s| s.waiting).sum();
    assert_eq!(waiting, 39);

    browser
        .wait_js(
            "the page at the API's seq",
            &format!(
                "window.luotDisplay.seq === {0} && window.luotDisplay.state.seq === {0}",
                api.seq
            ),
        )
        .await;
    let page_state = browser.js("return window.luotDisplay.state;").await;
    let api_json: Value = kiosk.get("/api/v1/state").await.expect_status(200).json();
    assert_eq!(api_json["seq"], json!(api.seq));
    assert_eq!(page_state, api_json, "the page's state is the server's");

    // What is on screen.
    let latest = &api.recent_calls[0];
    wait_call(&browser, &latest.ticket.number, latest.counter).await;
    let tiles = browser
        .js("return [...document.querySelectorAll('#counters .tv-counter')].map((e) => [Number(e.dataset.counter), e.dataset.number]);")
        .await;
    let expected: Vec<Value> = api
        .counters
        .iter()
        .filter(|c| c.open)
        .map(|c| {
            json!([
                c.id,
                c.current
                    .as_ref()
                    .map(|t| t.number.clone())
                    .unwrap_or_default()
            ])
        })
        .collect();
    assert_eq!(tiles, Value::Array(expected));
    let queues = browser
        .js("return [...document.querySelectorAll('#waiting li')].map((e) => [e.dataset.service, Number(e.dataset.waiting)]);")
        .await;
    let expected: Vec<Value> = api
        .services
        .iter()
        .map(|s| json!([s.id, s.waiting]))
        .collect();
    assert_eq!(queues, Value::Array(expected));
    let recent = browser
        .js("return [...document.querySelectorAll('#recent li')].map((e) => [e.dataset.number, Number(e.dataset.counter)]);")
        .await;
    let expected: Vec<Value> = api
        .recent_calls
        .iter()
        .skip(1)
        .take(6)
        .map(|r| json!([r.ticket.number, r.counter]))
        .collect();
    assert_eq!(recent, Value::Array(expected));
    assert_eq!(browser.text("#ticker .t").await, ticker);
    let serving = browser
        .js("return document.querySelector('#counters [data-counter=\"4\"]').className;")
        .await;
    assert!(serving.as_str().unwrap().contains("serving"), "{serving}");

    let violations = browser.js("return window.luotDisplay.cspViolations;").await;
    assert_eq!(violations, json!([]), "nothing blocked by the CSP");
    let font = server
        .api(None)
        .get("/static/fonts/DejaVuSans-Bold.ttf")
        .await
        .expect_status(200);
    assert_eq!(font.content_type.as_deref(), Some("font/ttf"));

    wait_announced(&browser, calls.len()).await;
    assert_eq!(
        announced(&browser).await,
        calls,
        "each call announced once, in order"
    );

    // Screenshots, with a fresh call highlighted.
    staff.call_next(9).await.unwrap();
    let latest = kiosk.state().await.recent_calls[0].clone();
    wait_call(&browser, &latest.ticket.number, latest.counter).await;
    for (width, height, name) in [
        (1920, 1080, "display-1920x1080.png"),
        (1366, 768, "display-1366x768.png"),
        (1080, 1920, "display-portrait-1080x1920.png"),
    ] {
        browser.set_viewport(width, height).await;
        let size = browser
            .js("return [window.innerWidth, window.innerHeight];")
            .await;
        assert_eq!(size, json!([width, height]));
        // Nothing may spill out of the screen: a TV has no scroll bar.
        let overflow = browser
            .js("const m = document.querySelector('.tv-waiting'); return [document.documentElement.scrollWidth <= innerWidth, document.documentElement.scrollHeight <= innerHeight, [...document.querySelectorAll('#waiting li')].every((li) => li.getBoundingClientRect().bottom <= m.getBoundingClientRect().bottom + 1)];")
            .await;
        browser.screenshot(name).await;
        assert_eq!(
            overflow,
            json!([true, true, true]),
            "{name} fits the screen"
        );
    }
}

/// Replaces the page's `WebSocket` with one that swallows the next `ticket_called` event, as
/// a proxy that lost a message would; the page's own code is untouched.
const DROP_NEXT_CALL: &str = r#"
const Real = window.WebSocket;
window.dropNextCall = true;
window.droppedSeq = null;
function Lossy(url, protocols) {
  const ws = new Real(url, protocols);
  let handler = null;
  Object.defineProperty(ws, "onmessage", { get() { return handler; }, set(h) { handler = h; } });
  ws.addEventListener("message", (m) => {
    const msg = JSON.parse(m.data);
    if (window.dropNextCall && msg.type === "event" && msg.event.kind === "ticket_called") {
      window.dropNextCall = false;
      window.droppedSeq = msg.seq;
      return;
    }
    if (handler) handler.call(ws, m);
  });
  return ws;
}
for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Lossy[k] = Real[k];
window.WebSocket = Lossy;
return true;
"#;

/// A message lost on the way (a gap in `seq`) is noticed at the next event: the page
/// reconnects with `since`, gets the lost call, shows it and announces it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_seq_reconnects_with_since() {
    let Some(browser) = tv_browser().await else {
        return;
    };
    let server = TestServer::start(options());
    let tv = server.token("tv");
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    staff.open_counter(1).await;
    kiosk.issue_ticket("tnmt").await;
    open_display(&browser, &server, &format!("?token={tv}")).await;
    browser.js(DROP_NEXT_CALL).await;
    // The page's next socket goes through the lossy one.
    browser
        .js("document.dispatchEvent(new Event('visibilitychange')); return true;")
        .await;
    browser
        .wait_js(
            "the page reconnected",
            "window.luotDisplay.connects === 2 && window.luotDisplay.online",
        )
        .await;

    assert_eq!(staff.call_next(1).await.unwrap().number, "1001");
    browser
        .wait_js("the call swallowed", "window.droppedSeq !== null")
        .await;
    let seq = browser.js("return window.luotDisplay.seq;").await;
    let dropped = browser.js("return window.droppedSeq;").await;
    assert_eq!(seq.as_u64().unwrap() + 1, dropped.as_u64().unwrap());
    // The next event shows the gap.
    kiosk.issue_ticket("tnmt").await;
    wait_call(&browser, "1001", 1).await;
    let resyncs = browser
        .js("return window.luotDisplay.resyncs.map((r) => r.reason);")
        .await;
    assert_eq!(resyncs, json!(["visible", "gap"]));
    let api_seq = kiosk.seq().await;
    browser
        .wait_js(
            "the page at the API's seq",
            &format!("window.luotDisplay.seq === {api_seq}"),
        )
        .await;
    wait_announced(&browser, 1).await;
    assert_eq!(announced(&browser).await, vec![called("1001", 1, false)]);
}

/// Gives the page's browser a Vietnamese voice that records what it is asked to say and
/// takes 300 ms to say it; headless Chromium has no voice of its own.
const FAKE_VI_VOICE: &str = r#"
window.spoken = [];
speechSynthesis.getVoices = () => [{ name: "Giọng thử", lang: "vi-VN" }];
speechSynthesis.speak = (u) => {
  const entry = { text: u.text, lang: u.lang, start: performance.timeOrigin + performance.now() };
  window.spoken.push(entry);
  setTimeout(() => { entry.end = performance.timeOrigin + performance.now(); if (u.onend) u.onend(); }, 300);
};
speechSynthesis.dispatchEvent(new Event("voiceschanged"));
return true;
"#;

/// With a `vi-VN` voice the page says each call after its chime, in Vietnamese, digit by
/// digit; two calls in a row are said one after the other, never over each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_each_call_in_vietnamese_after_the_chime() {
    let Some(browser) = tv_browser().await else {
        return;
    };
    let server = TestServer::start(options());
    let tv = server.token("tv");
    let staff = server.api_as("staff");
    staff.open_counter(1).await;
    staff.open_counter(2).await;
    server.api_as("kiosk").issue_ticket("tnmt").await;
    server.api_as("kiosk").issue_ticket("tckh").await;
    open_display(&browser, &server, &format!("?token={tv}")).await;
    browser.js(FAKE_VI_VOICE).await;
    browser
        .wait_js(
            "the voice picked",
            "window.luotDisplay.voice === 'Giọng thử'",
        )
        .await;

    staff.call_next(1).await.unwrap();
    staff.call_next(2).await.unwrap();
    wait_announced(&browser, 2).await;
    let spoken = browser.js("return window.spoken;").await;
    let spoken = spoken.as_array().unwrap();
    let texts: Vec<&str> = spoken.iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "Mời công dân có số một không không một đến quầy số một",
            "Mời công dân có số hai không không một đến quầy số hai"
        ]
    );
    assert!(spoken.iter().all(|s| s["lang"] == "vi-VN"));
    let records = browser
        .js("return window.luotDisplay.announced.map((a) => [a.started, a.ended, a.chimed, a.spoken]);")
        .await;
    let records = records.as_array().unwrap();
    for (record, said) in records.iter().zip(spoken) {
        assert_eq!(record[2], json!(true), "chimed");
        assert_eq!(record[3], json!(true), "spoken");
        let started = record[0].as_f64().unwrap();
        let speech = said["start"].as_f64().unwrap();
        assert!(
            speech >= started + 1000.0,
            "the voice starts after the chime ({started} → {speech})"
        );
    }
    let first_end = spoken[0]["end"].as_f64().unwrap();
    let second_start = spoken[1]["start"].as_f64().unwrap();
    assert!(
        second_start >= first_end,
        "the second call is said after the first ends"
    );
}
