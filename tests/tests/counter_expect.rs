//! A counter action that names the ticket the console shows (`?ticket=ID`, or `none`) acts
//! only when the counter still holds exactly that ticket: two tabs of one counter, a stale
//! page, a takeover, a transfer, many presses at once or a day closing between the view and
//! the press never end a citizen the clerk has not seen; odd encodings of the value are a
//! clear 400.

use std::sync::Arc;

use luot_server::clock::Clock;
use luot_shared::TicketStatus;
use luot_shared::protocol::{Role, TicketView};
use luot_tests::in_process::{Running, advance_to, api, hanoi, tokens};
use luot_tests::{Api, ServerOptions, TestServer};
use tokio::sync::Barrier;

const CENTER: &str = r#"
[center]
name = "Trung tâm thử nghiệm"
timezone = "Asia/Ho_Chi_Minh"

[[services]]
id = "a"
name = "Hộ tịch"
prefix = "1"

[[services]]
id = "b"
name = "Đất đai"
prefix = "2"

[[counters]]
id = 1
services = ["a"]

[[counters]]
id = 2
services = ["b"]
"#;

fn server() -> TestServer {
    TestServer::start(
        ServerOptions::new()
            .center(CENTER)
            .token("kiosk", Role::Kiosk, None)
            .token("staff-1", Role::Staff, Some(1))
            .token("staff-1b", Role::Staff, Some(1))
            .token("staff-2", Role::Staff, Some(2))
            .token("display", Role::Display, None),
    )
}

async fn act(api: &Api, counter: u32, action: &str, ticket: &str) -> luot_tests::Reply {
    api.counter_action(counter, &format!("{action}?ticket={ticket}"))
        .await
}

/// What counter `id` holds, as the server says now.
async fn held(api: &Api, id: u32) -> Option<TicketView> {
    api.state()
        .await
        .counters
        .iter()
        .find(|c| c.id == id)
        .and_then(|c| c.current.clone())
}

/// A second tab called the next citizen: every action the first tab aims at the ticket it
/// still shows is refused with 409 `ticket_changed`, records nothing, and the citizen now at
/// the counter stays called; aimed at the right ticket, the same actions work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_on_a_ticket_the_counter_no_longer_holds_does_nothing() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("staff-1");
    let first = kiosk.issue_ticket("a").await;
    let second = kiosk.issue_ticket("a").await;
    staff.open_counter(1).await;
    let called: TicketView = act(&staff, 1, "call-next", "none")
        .await
        .expect_status(200)
        .json();
    assert_eq!(called.id, first.id);
    // The other tab: call next on what it sees (the first ticket).
    let next: TicketView = act(&staff, 1, "call-next", &first.id.to_string())
        .await
        .expect_status(200)
        .json();
    assert_eq!(next.id, second.id);

    let seq = staff.seq().await;
    for action in ["finish", "no-show", "recall", "start", "call-next", "close"] {
        let e = act(&staff, 1, action, &first.id.to_string())
            .await
            .expect_error(409);
        assert_eq!(e.code, "ticket_changed", "{action}: {}", e.message);
        assert!(
            e.message.contains(&second.number),
            "{action}: {}",
            e.message
        );
    }
    let e = staff
        .post(
            &format!("/api/v1/counters/1/transfer?ticket={}", first.id),
            &serde_json::json!({ "service": "b" }),
        )
        .await
        .expect_error(409);
    assert_eq!(e.code, "ticket_changed");
    let e = act(&staff, 1, "call-next", "none").await.expect_error(409);
    assert_eq!(e.code, "ticket_changed");
    assert_eq!(staff.seq().await, seq, "a refused action recorded nothing");
    let now = held(&staff, 1).await.expect("counter 1 holds a ticket");
    assert_eq!(
        (now.id, now.status),
        (second.id, TicketStatus::Called),
        "the citizen called by the other tab is still called"
    );

    // Aimed at the ticket the counter holds, the actions work.
    let sid = second.id.to_string();
    act(&staff, 1, "recall", &sid).await.expect_status(200);
    act(&staff, 1, "start", &sid).await.expect_status(200);
    let done: TicketView = act(&staff, 1, "finish", &sid)
        .await
        .expect_status(200)
        .json();
    assert_eq!((done.id, done.status), (second.id, TicketStatus::Done));
    // Now the counter holds nothing: a late no-show of the finished ticket is refused too.
    let e = act(&staff, 1, "no-show", &sid).await.expect_error(409);
    assert_eq!(e.code, "ticket_changed");
    assert!(e.message.contains("no longer holds"), "{}", e.message);
    act(&staff, 1, "close", "none").await.expect_status(200);
}

/// Twenty presses of "finish and call next" at once, all naming the ticket the console
/// showed: exactly one acts; the rest are refused and the queue loses nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_presses_at_once_end_only_the_ticket_they_named() {
    const PRESSES: usize = 20;
    let server = server();
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("staff-1");
    let mut issued = Vec::new();
    for _ in 0..PRESSES + 2 {
        issued.push(kiosk.issue_ticket("a").await);
    }
    staff.open_counter(1).await;
    let shown = staff.call_next(1).await.expect("a ticket");
    let go = Arc::new(Barrier::new(PRESSES));
    let mut tasks = Vec::new();
    for _ in 0..PRESSES {
        let api = server.api_as("staff-1");
        let go = go.clone();
        let ticket = shown.id.to_string();
        tasks.push(tokio::spawn(async move {
            go.wait().await;
            act(&api, 1, "call-next", &ticket).await
        }));
    }
    let mut acted = Vec::new();
    for task in tasks {
        let reply = task.await.expect("press task");
        match reply.status {
            200 => acted.push(reply.json::<TicketView>()),
            409 => assert_eq!(reply.expect_error(409).code, "ticket_changed"),
            other => panic!("press answered {other}: {}", reply.body),
        }
    }
    assert_eq!(acted.len(), 1, "exactly one press acted: {acted:?}");
    assert_eq!(acted[0].id, issued[1].id, "the next in line was called");
    let state = staff.state().await;
    let waiting = state
        .services
        .iter()
        .find(|s| s.id == "a")
        .map(|s| s.waiting)
        .expect("service a");
    assert_eq!(
        usize::try_from(waiting).expect("count"),
        PRESSES,
        "only one citizen left the queue"
    );
}

/// A `ticket` that is neither an id nor `none`, or an unknown parameter, is a clear 400 that
/// changes nothing; the role check still comes first for a display.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_expectation_is_refused() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("staff-1");
    kiosk.issue_ticket("a").await;
    staff.open_counter(1).await;
    let seq = staff.seq().await;
    for bad in ["abc", "-1", "+5", "", "1.0", "18446744073709551616", "None"] {
        let e = act(&staff, 1, "call-next", bad).await.expect_error(400);
        assert_eq!(e.code, "bad_ticket", "{bad:?}: {}", e.message);
    }
    let e = staff
        .counter_action(1, "call-next?tiket=none")
        .await
        .expect_error(400);
    assert_eq!(e.code, "bad_query");
    assert_eq!(staff.seq().await, seq, "nothing recorded");
    let display = server.api_as("display");
    let e = act(&display, 1, "call-next", "none")
        .await
        .expect_error(403);
    assert_eq!(e.code, "forbidden");
    assert!(held(&staff, 1).await.is_none(), "nobody was called");
}

/// Duplicated, padded, signed, non-ASCII-digit, hexadecimal, exponent, NUL-laden, oversized
/// and value-less `ticket`s are a 400 that records nothing and calls nobody; an escaped
/// `none` is `none`, and leading zeros name the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_encodings_of_the_expected_ticket() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("staff-1");
    let first = kiosk.issue_ticket("a").await;
    kiosk.issue_ticket("a").await;
    staff.open_counter(1).await;
    let seq = staff.seq().await;
    for bad in [
        "none&ticket=none",
        "none&ticket=1",
        "%20none",
        "none%20",
        "%201",
        "1%20",
        "%2B1",
        "%D9%A1",
        "%EF%BC%91",
        "n%00one",
        "NONE",
        "0x1",
        "1e0",
        "1;",
        "99999999999999999999999999999999999999",
        "%",
        "%zz",
    ] {
        let reply = act(&staff, 1, "call-next", bad).await;
        assert_eq!(reply.status, 400, "{bad:?}: {}", reply.body);
        let e = reply.expect_error(400);
        assert!(
            e.code == "bad_ticket" || e.code == "bad_query",
            "{bad:?}: {} {}",
            e.code,
            e.message
        );
    }
    // A long value is refused with a short answer (the message does not echo it whole).
    let long = "7".repeat(20_000);
    let reply = act(&staff, 1, "call-next", &long).await;
    assert!((400..=431).contains(&reply.status), "{}", reply.status);
    assert!(
        reply.body.len() < 2_000,
        "an answer of {} bytes",
        reply.body.len()
    );
    let bare = staff.counter_action(1, "call-next?ticket").await;
    assert_eq!(bare.status, 400, "{}", bare.body);
    assert_eq!(staff.seq().await, seq, "nothing recorded");
    assert!(held(&staff, 1).await.is_none(), "nobody was called");

    let called: TicketView = act(&staff, 1, "call-next", "n%6Fne")
        .await
        .expect_status(200)
        .json();
    assert_eq!(called.id, first.id);
    let padded = format!("000{}", first.id);
    let done: TicketView = act(&staff, 1, "finish", &padded)
        .await
        .expect_status(200)
        .json();
    assert_eq!((done.id, done.status), (first.id, TicketStatus::Done));
}

/// Another staff member takes over counter 1 and calls the next citizen: the first clerk's
/// page, still showing the old ticket, can end neither the new one nor the old; a ticket
/// transferred away or held at another counter is refused too, and counter 2 receives the
/// transferred ticket only as the clerk there names "none".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_transfer_and_another_counters_ticket() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    let a = server.api_as("staff-1");
    let b = server.api_as("staff-1b");
    let two = server.api_as("staff-2");
    let x = kiosk.issue_ticket("a").await;
    let y = kiosk.issue_ticket("a").await;
    let z = kiosk.issue_ticket("b").await;
    a.open_counter(1).await;
    two.open_counter(2).await;
    let called: TicketView = act(&a, 1, "call-next", "none")
        .await
        .expect_status(200)
        .json();
    assert_eq!(called.id, x.id);
    let at_two: TicketView = act(&two, 2, "call-next", "none")
        .await
        .expect_status(200)
        .json();
    assert_eq!(at_two.id, z.id);

    // B takes over counter 1 and calls next from what B sees (x).
    b.open_counter(1).await;
    let next: TicketView = act(&b, 1, "call-next", &x.id.to_string())
        .await
        .expect_status(200)
        .json();
    assert_eq!(next.id, y.id);
    let seq = a.seq().await;
    for action in ["finish", "no-show", "recall", "call-next"] {
        let e = act(&a, 1, action, &x.id.to_string())
            .await
            .expect_error(409);
        assert_eq!(e.code, "ticket_changed", "{action}");
        // Counter 2's ticket named at counter 1.
        let e = act(&a, 1, action, &z.id.to_string())
            .await
            .expect_error(409);
        assert_eq!(e.code, "ticket_changed", "{action}");
    }
    assert_eq!(a.seq().await, seq, "nothing recorded");
    assert_eq!(held(&a, 1).await.map(|t| t.id), Some(y.id));
    assert_eq!(held(&a, 2).await.map(|t| t.id), Some(z.id));

    // B transfers y to service b; A's stale page cannot touch it, nor can counter 2's clerk
    // while counter 2 still holds z.
    b.post(
        &format!("/api/v1/counters/1/transfer?ticket={}", y.id),
        &serde_json::json!({ "service": "b" }),
    )
    .await
    .expect_status(200);
    let e = act(&a, 1, "finish", &y.id.to_string())
        .await
        .expect_error(409);
    assert_eq!(e.code, "ticket_changed");
    let e = act(&two, 2, "finish", &y.id.to_string())
        .await
        .expect_error(409);
    assert_eq!(e.code, "ticket_changed");
    act(&two, 2, "finish", &z.id.to_string())
        .await
        .expect_status(200);
    let got: TicketView = act(&two, 2, "call-next", "none")
        .await
        .expect_status(200)
        .json();
    assert_eq!(got.id, y.id);
}

/// The page shows ticket x at 23:59; the press comes after midnight: refused with
/// `ticket_changed`, x is not finished; "call next" on `none` meets the closed counter. After
/// a restart, the next morning's ticket has a new id, and yesterday's id named at the counter
/// holding it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_closing_between_the_view_and_the_press() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let tokens = tokens(
        dir.path(),
        &[
            ("kiosk", Role::Kiosk, None),
            ("staff-1", Role::Staff, Some(1)),
        ],
    );
    let monday = jiff::civil::date(2026, 11, 30);
    let tuesday = jiff::civil::date(2026, 12, 1);
    let clock = Clock::manual(hanoi(monday, 23, 58, 0));
    let server = Running::start(dir.path(), &clock).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let staff = api(&server.base, &tokens, "staff-1");
    staff.open_counter(1).await;
    let x = kiosk.issue_ticket("tnmt").await;
    let called: TicketView = act(&staff, 1, "call-next", "none")
        .await
        .expect_status(200)
        .json();
    assert_eq!(called.id, x.id);

    advance_to(&clock, hanoi(tuesday, 0, 0, 10));
    let e = act(&staff, 1, "finish", &x.id.to_string())
        .await
        .expect_error(409);
    assert_eq!(e.code, "ticket_changed", "{}", e.message);
    let e = act(&staff, 1, "call-next", "none").await.expect_error(409);
    assert_eq!(e.code, "counter_closed", "{}", e.message);
    assert!(held(&staff, 1).await.is_none());
    server.stop().await;

    advance_to(&clock, hanoi(tuesday, 7, 30, 0));
    let server = Running::start(dir.path(), &clock).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let staff = api(&server.base, &tokens, "staff-1");
    let y = kiosk.issue_ticket("tnmt").await;
    assert_ne!(y.id, x.id, "a new day's ticket never reuses an id");
    assert_eq!(y.number, x.number, "numbering starts again");
    act(&staff, 1, "open", "none").await.expect_status(200);
    act(&staff, 1, "call-next", "none").await.expect_status(200);
    let seq = staff.seq().await;
    let e = act(&staff, 1, "finish", &x.id.to_string())
        .await
        .expect_error(409);
    assert_eq!(e.code, "ticket_changed");
    assert_eq!(staff.seq().await, seq);
    assert_eq!(held(&staff, 1).await.map(|t| t.id), Some(y.id));
    server.stop().await;
}
