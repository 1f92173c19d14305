//! A counter action that names the ticket the console shows (`?ticket=ID`, or `none`) acts
//! only when the counter still holds exactly that ticket: two tabs of one counter, a stale
//! page, or many presses at once never end a citizen the clerk has not seen.

use std::sync::Arc;

use luot_shared::TicketStatus;
use luot_shared::protocol::{Role, TicketView};
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
            .token("display", Role::Display, None),
    )
}

async fn act(api: &Api, counter: u32, action: &str, ticket: &str) -> luot_tests::Reply {
    api.counter_action(counter, &format!("{action}?ticket={ticket}"))
        .await
}

/// The ticket counter 1 holds, as the server says now.
async fn held(api: &Api) -> Option<TicketView> {
    let state = api.state().await;
    state
        .counters
        .iter()
        .find(|c| c.id == 1)
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
    let now = held(&staff).await.expect("counter 1 holds a ticket");
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
    assert!(held(&staff).await.is_none(), "nobody was called");
}
