//! The counter's rating tablet (`/rate`) in a real headless Chromium against the real
//! server: paired once by `/rate#token=…`, it asks about each ticket its counter finishes,
//! records the rating for that ticket, counter and staff member, never offers a rated
//! ticket again, asks a reason after a low rating, returns to idle on its own, keeps
//! retrying while the server is down (also across a reload), and says so when its token is
//! revoked. Screenshots at
//! tablet landscape (1280×800) and phone size (390×844) land in `target/screenshots/`.
//!
//! Without Chromium and chromedriver these tests print why and skip, except under CI.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use luot_shared::TicketId;
use luot_shared::protocol::{Event, Role, TicketView};
use luot_tests::browser::{Browser, BrowserOptions};
use luot_tests::{ADMIN, Api, ServerOptions, TestServer, WsClient};

const STAFF: &str = "lan";
const PASSWORD: &str = "mat-khau-quay-mot";

fn options() -> ServerOptions {
    ServerOptions::new()
        .token("tablet", Role::Kiosk, Some(1))
        .token("kiosk", Role::Kiosk, None)
}

/// A server with a staff account at counter 1, logged in, and that counter open.
async fn center() -> (TestServer, Api) {
    let server = TestServer::start(options());
    server.create_staff(STAFF, PASSWORD, &[1]).await;
    let staff = server.login(STAFF, PASSWORD).await.api;
    staff.open_counter(1).await;
    (server, staff)
}

/// Issues a ticket and serves it to the end at counter 1.
async fn serve_one(server: &TestServer, staff: &Api) -> TicketView {
    let ticket = server.api_as("kiosk").issue_ticket("tnmt").await;
    assert_eq!(staff.call_next(1).await.unwrap().id, ticket.id);
    staff.counter_action(1, "start").await.expect_status(200);
    staff.counter_action(1, "finish").await.expect_status(200);
    ticket
}

/// Opens `/rate` with `query` and the pairing fragment, and waits for the idle screen online.
async fn open_tablet(browser: &Browser, server: &TestServer, token: &str, query: &str) {
    browser
        .goto(&format!("{}/rate{query}#token={token}", server.base_url()))
        .await;
    browser
        .wait_js(
            "the paired tablet online",
            "window.luotRate.counter !== null && window.luotRate.online && window.luotRate.screen === 'idle' && window.luotRate.seq !== null",
        )
        .await;
}

async fn wait_question(browser: &Browser, number: &str) {
    browser
        .wait_js(
            &format!("the question about {number}"),
            &format!(
                "window.luotRate.screen === 'choose' && document.getElementById('choose-number').textContent === '{number}'"
            ),
        )
        .await;
}

/// The `ticket_rated` event of `ticket`, read from the log after `since`.
async fn rated_event(server: &TestServer, since: u64, ticket: TicketId) -> Event {
    let mut ws: WsClient = server.ws(&server.token(ADMIN), Some(since)).await;
    let end = server.api_as(ADMIN).seq().await;
    ws.events_through(end)
        .await
        .into_iter()
        .map(|r| r.event)
        .find(|e| matches!(e, Event::TicketRated { ticket: t, .. } if t.id == ticket))
        .unwrap_or_else(|| panic!("no ticket_rated for ticket {ticket}"))
}

/// Opened once with the pairing link, the tablet keeps the token and strips it from the
/// address bar; when counter 1 finishes a ticket it shows that number and five choices; a
/// touch records the rating for that ticket, counter 1 and the staff member who served it;
/// a second rating of the ticket is refused (409) and the tablet never offers it again,
/// even when the finish reaches it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_ticket_is_rated_once_from_the_counter_tablet() {
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(1280, 800)).await else {
        return;
    };
    let (server, staff) = center().await;
    let tablet = server.token("tablet");
    open_tablet(&browser, &server, &tablet, "?thanks=1").await;
    let href = browser.js("return location.href;").await;
    assert!(
        !href.as_str().unwrap().contains(&tablet) && !href.as_str().unwrap().contains('#'),
        "the token left the address bar: {href}"
    );
    let kept = browser
        .js("return localStorage.getItem('luot.rate.token');")
        .await;
    assert_eq!(kept.as_str(), Some(tablet.as_str()));
    assert_eq!(browser.js("return window.luotRate.counter;").await, 1);
    let idle = browser.text("#idle").await;
    assert!(
        idle.contains("Quầy 1") && idle.contains("Xin cảm ơn"),
        "{idle}"
    );
    browser.screenshot("rate-idle-1280x800.png").await;

    let before = server.api_as(ADMIN).seq().await;
    let ticket = serve_one(&server, &staff).await;
    wait_question(&browser, &ticket.number).await;
    let labels = browser
        .js("return [...document.querySelectorAll('#choices [data-score]')].map((b) => b.dataset.score + ' ' + b.textContent.trim());")
        .await;
    assert_eq!(
        labels,
        serde_json::json!([
            "5 Rất hài lòng",
            "4 Hài lòng",
            "3 Bình thường",
            "2 Không hài lòng",
            "1 Rất không hài lòng"
        ])
    );
    let smallest = browser
        .js("return Math.min(...[...document.querySelectorAll('#choices button')].map((b) => Math.min(b.getBoundingClientRect().width, b.getBoundingClientRect().height)));")
        .await;
    assert!(
        smallest.as_f64().unwrap() >= 120.0,
        "choices are huge targets: {smallest}"
    );
    browser.screenshot("rate-choosing-1280x800.png").await;

    browser.click("#choices [data-score='4']").await;
    browser
        .wait_js(
            "the thanks",
            "window.luotRate.screen === 'message' && document.getElementById('message').dataset.kind === 'thanks'",
        )
        .await;
    browser.screenshot("rate-thanks-1280x800.png").await;
    match rated_event(&server, before, ticket.id).await {
        Event::TicketRated {
            counter,
            staff,
            score,
            by,
            correction,
            reason,
            ..
        } => {
            assert_eq!((counter, staff.as_str(), score), (1, STAFF, 4));
            assert_eq!(by.as_deref(), Some("tablet"));
            assert!(!correction);
            assert_eq!(reason, None);
        }
        other => panic!("{other:?}"),
    }
    let again = server.api_as("tablet").rate(ticket.id, 5).await;
    assert_eq!(again.expect_error(409).code, "already_rated");

    // Back to idle; the finish replayed from the log is not offered a second time.
    browser
        .wait_js("idle again", "window.luotRate.screen === 'idle'")
        .await;
    let now = server.api_as(ADMIN).seq().await;
    browser
        .js(&format!(
            "window.luotRate.reconnect({before}); return true;"
        ))
        .await;
    browser
        .wait_js(
            "the replayed events",
            &format!("window.luotRate.seq >= {now}"),
        )
        .await;
    assert_eq!(browser.js("return window.luotRate.screen;").await, "idle");
    assert_eq!(
        browser
            .js("return window.luotRate.offered.length;")
            .await
            .as_u64(),
        Some(1)
    );
    let sent = browser
        .js("return window.luotRate.sent.map((s) => [s.ticket, s.score, s.status]);")
        .await;
    assert_eq!(sent, serde_json::json!([[ticket.id, 4, 200]]));
    assert_eq!(
        browser.js("return window.luotRate.cspViolations;").await,
        serde_json::json!([])
    );
}

/// With the center's reasons set in the admin settings, a rating of 2 asks one reason and
/// records it; a rating of 1 with "skip" records none. Screenshots at phone size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_rating_carries_the_reason_chosen() {
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(390, 844)).await else {
        return;
    };
    let (server, staff) = center().await;
    let admin = server.api_as(ADMIN);
    let mut config: serde_json::Value = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    config["center"]["rating_reasons"] =
        serde_json::json!(["Chờ quá lâu", "Hướng dẫn chưa rõ", "Thái độ chưa tốt"]);
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);
    open_tablet(&browser, &server, &server.token("tablet"), "?thanks=1").await;
    assert_eq!(
        browser.js("return window.luotRate.reasons.length;").await,
        3
    );
    browser.screenshot("rate-idle-390x844.png").await;

    let before = admin.seq().await;
    let first = serve_one(&server, &staff).await;
    wait_question(&browser, &first.number).await;
    browser.screenshot("rate-choosing-390x844.png").await;
    browser.click("#choices [data-score='2']").await;
    browser
        .wait_js("the reasons", "window.luotRate.screen === 'reason'")
        .await;
    browser.screenshot("rate-reason-390x844.png").await;
    browser.click("#reasons [data-reason='Chờ quá lâu']").await;
    browser
        .wait_js(
            "the thanks",
            "document.getElementById('message').dataset.kind === 'thanks' && window.luotRate.screen === 'message'",
        )
        .await;
    browser.screenshot("rate-thanks-390x844.png").await;
    match rated_event(&server, before, first.id).await {
        Event::TicketRated { score, reason, .. } => {
            assert_eq!((score, reason.as_deref()), (2, Some("Chờ quá lâu")));
        }
        other => panic!("{other:?}"),
    }

    browser
        .wait_js("idle again", "window.luotRate.screen === 'idle'")
        .await;
    let before = admin.seq().await;
    let second = serve_one(&server, &staff).await;
    wait_question(&browser, &second.number).await;
    browser.click("#choices [data-score='1']").await;
    browser
        .wait_js("the reasons", "window.luotRate.screen === 'reason'")
        .await;
    browser.click("#skip").await;
    browser
        .wait_js(
            "the thanks",
            "document.getElementById('message').dataset.kind === 'thanks'",
        )
        .await;
    match rated_event(&server, before, second.id).await {
        Event::TicketRated { score, reason, .. } => assert_eq!((score, reason), (1, None)),
        other => panic!("{other:?}"),
    }
}

/// Left unanswered, the question returns to idle after the tablet's idle time (shortened
/// here to 2 s by `?idle=2`) and sends nothing; a second finish while the first is still
/// unrated replaces it on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_question_returns_to_idle_and_the_newest_finish_wins() {
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(1280, 800)).await else {
        return;
    };
    let (server, staff) = center().await;
    open_tablet(&browser, &server, &server.token("tablet"), "?idle=2").await;
    assert_eq!(browser.js("return window.luotRate.idleMs;").await, 2000);
    let first = serve_one(&server, &staff).await;
    wait_question(&browser, &first.number).await;
    let second = serve_one(&server, &staff).await;
    wait_question(&browser, &second.number).await;
    let shown = Instant::now();
    browser
        .wait_js("idle after 2 s", "window.luotRate.screen === 'idle'")
        .await;
    let waited = shown.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "went idle too early: {waited:?}"
    );
    assert_eq!(
        browser.js("return window.luotRate.sent.length;").await,
        0,
        "nothing was sent"
    );
    // Both are still the tablet's to rate within the server's window: the API takes either.
    server
        .api_as("tablet")
        .rate(first.id, 3)
        .await
        .expect_status(200);
}

/// A tablet whose token is revoked shows at once that it is no longer paired (close 4401);
/// one without a token says how to pair it; a kiosk token without a counter is refused as
/// not a rating device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_or_missing_token_shows_the_tablet_unpaired() {
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(1280, 800)).await else {
        return;
    };
    let (mut server, _staff) = center().await;
    let token = server
        .create_token("quầy 2 tablet", Role::Kiosk, Some(2))
        .await;
    open_tablet(&browser, &server, &token, "").await;
    assert_eq!(browser.js("return window.luotRate.counter;").await, 2);
    let admin = server.api_as(ADMIN);
    let tokens: serde_json::Value = admin
        .get("/api/v1/admin/tokens")
        .await
        .expect_status(200)
        .json();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "quầy 2 tablet")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/tokens/{id}"),
            None,
        )
        .await
        .expect_status(204);
    browser
        .wait_js(
            "the unpaired screen",
            "window.luotRate.screen === 'unpaired' && window.luotRate.unpaired === 'refused'",
        )
        .await;
    let text = browser.text("#unpaired").await;
    assert!(text.contains("không còn được ghép"), "{text}");
    assert!(text.contains("quản trị viên"), "{text}");
    browser.screenshot("rate-unpaired-1280x800.png").await;

    browser
        .js("localStorage.removeItem('luot.rate.token'); return true;")
        .await;
    browser.goto(&format!("{}/rate", server.base_url())).await;
    browser
        .wait_js(
            "the pairing instructions",
            "window.luotRate.unpaired === 'missing'",
        )
        .await;
    assert!(browser.text("#unpaired").await.contains("chưa được ghép"));

    browser
        .goto(&format!(
            "{}/rate?lang=vi#token={}",
            server.base_url(),
            server.token("kiosk")
        ))
        .await;
    browser
        .wait_js(
            "a kiosk token refused as a rating device",
            "window.luotRate.unpaired === 'not_rating'",
        )
        .await;
}

/// In /admin an admin sets the ticket footer and the reasons for a low rating (one per line;
/// a duplicate is refused next to the field and changes nothing), then makes a rating link
/// for counter 3: opened on a tablet, it pairs that tablet to counter 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_the_reasons_and_makes_a_rating_link() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(options());
    let password = server.admin_password().unwrap().to_owned();
    browser
        .login(server.base_url(), "/admin", "admin", &password)
        .await;
    browser
        .wait_js(
            "the admin page",
            "document.querySelector('#tabs [data-tab=\"center\"]') !== null && document.getElementById('center-form').children.length > 0",
        )
        .await;
    browser.click("#tabs [data-tab='center']").await;
    browser
        .wait_js(
            "the center form",
            "document.querySelector('[data-field=\"center.rating_reasons\"]') !== null",
        )
        .await;
    browser
        .fill(
            "[data-field='center.ticket_footer']",
            "Cảm ơn quý khách đã đến",
        )
        .await;
    browser
        .js("document.querySelector('[data-field=\"center.rating_reasons\"]').value = 'Chờ quá lâu\\nChờ quá lâu'; return true;")
        .await;
    browser.click("#tab-center .save-config").await;
    browser
        .wait_js(
            "the duplicate refused next to its field",
            "document.querySelector('[data-error-for=\"center.rating_reasons\"]').textContent.includes('twice')",
        )
        .await;
    let admin = server.api_as(ADMIN);
    assert!(
        admin.state().await.rating_reasons.is_empty(),
        "nothing changed"
    );
    browser
        .js("document.querySelector('[data-field=\"center.rating_reasons\"]').value = 'Chờ quá lâu\\n  Hướng dẫn chưa rõ  \\n\\n'; return true;")
        .await;
    browser.click("#tab-center .save-config").await;
    luot_tests::poll_until(Duration::from_secs(10), "the saved reasons", || async {
        let state = admin.state().await;
        (state.rating_reasons == ["Chờ quá lâu", "Hướng dẫn chưa rõ"]).then_some(state)
    })
    .await
    .ticket_footer
    .filter(|f| f == "Cảm ơn quý khách đã đến")
    .expect("the footer saved");

    browser.click("#tabs [data-tab='devices']").await;
    browser
        .wait_js(
            "the rating link form",
            "document.querySelector('#rating-counter option[value=\"3\"]') !== null",
        )
        .await;
    browser
        .js("document.getElementById('rating-counter').value = '3'; return true;")
        .await;
    browser.click("#rating-form button[type=submit]").await;
    browser
        .wait_js(
            "the link shown once",
            "(document.getElementById('rating-link') || {}).textContent.includes('/rate#token=')",
        )
        .await;
    browser.screenshot("admin-rating-link-1366x768.png").await;
    let link = browser.text("#rating-link").await;
    let tokens: serde_json::Value = admin
        .get("/api/v1/admin/tokens")
        .await
        .expect_status(200)
        .json();
    let made = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["counter"] == 3)
        .expect("a token for counter 3");
    assert_eq!(made["role"], "kiosk");
    assert_eq!(made["label"], "Máy đánh giá quầy 3");

    browser.goto(&link).await;
    browser
        .wait_js(
            "the tablet paired to counter 3",
            "window.luotRate.counter === 3 && window.luotRate.online && window.luotRate.reasons.length === 2",
        )
        .await;
    assert!(browser.text("#idle").await.contains("Quầy 3"));
}

/// A rating not yet sent is kept in the browser's storage until the server takes it, and a
/// tablet reloaded with one kept (it crashed or was restarted meanwhile) sends it once
/// paired again, without taking the screen; each is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsent_rating_is_kept_until_the_server_takes_it() {
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(1280, 800)).await else {
        return;
    };
    let (mut server, staff) = center().await;
    open_tablet(&browser, &server, &server.token("tablet"), "").await;
    let before = server.api_as(ADMIN).seq().await;
    let first = serve_one(&server, &staff).await;
    wait_question(&browser, &first.number).await;
    server.kill9();
    browser.click("#choices [data-score='3']").await;
    browser
        .wait_js(
            "the honest retry",
            "document.getElementById('message').dataset.kind === 'retrying'",
        )
        .await;
    let text = browser.text("#message").await;
    assert!(text.contains("Chưa gửi được"), "{text}");
    browser.screenshot("rate-retrying-1280x800.png").await;
    let kept = "return JSON.parse(localStorage.getItem('luot.rate.pending') || '[]').map((p) => [p.id, p.score]);";
    assert_eq!(browser.js(kept).await, serde_json::json!([[first.id, 3]]));
    server.restart_same_port();
    browser
        .wait_js_for(
            Duration::from_secs(30),
            "the thanks after the server returned",
            "document.getElementById('message').dataset.kind === 'thanks'",
        )
        .await;
    assert_eq!(browser.js(kept).await, serde_json::json!([]));

    // A reload finds a rating an earlier load could not send, and sends it.
    let second = serve_one(&server, &staff).await;
    wait_question(&browser, &second.number).await;
    browser
        .js(&format!(
            "localStorage.setItem('luot.rate.pending', JSON.stringify([{{ id: {}, number: '{}', score: 2, started: Date.now() }}])); return true;",
            second.id, second.number
        ))
        .await;
    browser
        .goto(&format!("{}/rate?reload=1", server.base_url()))
        .await;
    browser
        .wait_js(
            "the kept rating sent after the reload",
            "window.luotRate.sent.some((s) => s.quiet && s.status === 200) && window.luotRate.screen === 'idle'",
        )
        .await;
    assert_eq!(browser.js(kept).await, serde_json::json!([]));
    let mut ws = server.ws(&server.token(ADMIN), Some(before)).await;
    let end = server.api_as(ADMIN).seq().await;
    let ratings: Vec<TicketId> = ws
        .events_through(end)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            Event::TicketRated { ticket, .. } => Some(ticket.id),
            _ => None,
        })
        .collect();
    assert_eq!(ratings, [first.id, second.id], "each recorded once");
    for (ticket, expected) in [(&first, 3), (&second, 2)] {
        match rated_event(&server, before, ticket.id).await {
            Event::TicketRated { score, counter, .. } => {
                assert_eq!((score, counter), (expected, 1));
            }
            other => panic!("{other:?}"),
        }
    }
}
