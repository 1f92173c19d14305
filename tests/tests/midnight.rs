//! The center's midnight passing while everyone is connected, on the real server binary whose
//! wall clock libfaketime sets 25 seconds before the center's midnight (Asia/Ho_Chi_Minh): a
//! kiosk issues, a counter calls and finishes, nobody acts, the server closes the day on its
//! own at midnight, a lobby display's WebSocket (and the display's view model fed from it)
//! sees `day_closed`, and the next day's first ticket is numbered afresh.
//!
//! Needs the Debian package `faketime`; without it the test prints why and passes, except
//! when `CI=true`, where it fails.

use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use luot_shared::follow::{FollowConfig, Follower};
use luot_shared::protocol::{Role, ServerMessage, StateView};
use luot_shared::{Event, Recorded, TicketStatus};
use luot_tests::{ADMIN, ServerOptions, TestServer, WsClient, libfaketime, poll_until};
use serde_json::Value;

/// How far before the center's midnight the server's clock starts: room for the start and
/// the evening's work on two busy cores, short enough for a test.
const LEAD: SignedDuration = SignedDuration::from_secs(25);
/// Longest wait for the day to close after the server started: the lead, the engine's tick
/// (15 s) that closes a day nobody acts in, and slack for a loaded machine.
const CLOSE_WITHIN: Duration = Duration::from_secs(150);

/// The `FAKETIME` start (`@YYYY-MM-DD HH:MM:SS`, UTC) [`LEAD`] before the center's next
/// midnight: libfaketime starts the server's wall clock there when the server starts, however
/// long the tokens took to make before it.
fn start_before_midnight(tz: &TimeZone) -> String {
    let now = Timestamp::now();
    let tomorrow = now
        .to_zoned(tz.clone())
        .date()
        .tomorrow()
        .expect("a tomorrow");
    let midnight = tomorrow
        .to_zoned(tz.clone())
        .expect("midnight exists")
        .timestamp();
    (midnight - LEAD)
        .to_zoned(TimeZone::UTC)
        .strftime("@%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Feeds one message to the display's follower, as the display's socket loop does.
fn follow(follower: &mut Follower, message: ServerMessage) {
    follower.handle(message, Timestamp::now());
}

/// Reads the display's socket until an event `pick` accepts, feeding every message to the
/// follower; fails after `limit`.
async fn until_event(
    ws: &mut WsClient,
    follower: &mut Follower,
    limit: Duration,
    what: &str,
    pick: impl Fn(&Recorded) -> bool,
) -> Recorded {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = ws
            .next_message_within(left)
            .await
            .unwrap_or_else(|| panic!("no {what} on the display's socket within {limit:?}"));
        let found = match &message {
            ServerMessage::Event(rec) if pick(rec) => Some(rec.clone()),
            _ => None,
        };
        follow(follower, message);
        if let Some(rec) = found {
            return rec;
        }
    }
}

/// Across the center's midnight with a display, a kiosk and a counter connected: the day
/// closes on its own, the ticket still waiting and the one called but not finished expire
/// (the finished one is served), the display sees `day_closed` and clears its calls and
/// queues, yesterday's report holds all three tickets, and the next day starts at 1001.
#[tokio::test]
async fn the_day_closes_at_midnight_and_the_next_starts_afresh() {
    let Some(lib) = libfaketime() else { return };
    let tz = TimeZone::get("Asia/Ho_Chi_Minh").expect("the center's zone");
    let start = start_before_midnight(&tz);
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("quay-1", Role::Staff, Some(1))
            .token("tv", Role::Display, None)
            .env("LD_PRELOAD", &lib.to_string_lossy())
            .env("FAKETIME", &start)
            // The zone libfaketime reads the start in.
            .env("TZ", "UTC")
            // libfaketime otherwise reports CLOCK_MONOTONIC as the faked calendar time, and a
            // timed wait of std (a futex with an absolute monotonic deadline) then sleeps for
            // decades in the kernel's real monotonic time.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .own_clock(),
    );
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("quay-1");
    let admin = server.api_as(ADMIN);

    let mut ws = server.ws(&server.token("tv"), None).await;
    let mut display = Follower::new(FollowConfig::default());
    let (_, state) = ws.snapshot().await;
    let day = state.day;
    follow(
        &mut display,
        ServerMessage::Snapshot {
            seq: state.seq,
            state: Box::new(state),
        },
    );

    // The evening's work: three tickets, the first served, the second called and left.
    staff.open_counter(1).await;
    let first = kiosk.issue_ticket("tnmt").await;
    let second = kiosk.issue_ticket("tnmt").await;
    let third = kiosk.issue_ticket("tnmt").await;
    assert_eq!(
        [&first, &second, &third].map(|t| (t.number.as_str(), t.day)),
        [("1001", day), ("1002", day), ("1003", day)]
    );
    let local = third.issued_at.to_zoned(tz.clone());
    assert!(
        local.date() == day && local.time() >= Time::new(23, 58, 0, 0).expect("a time"),
        "the server's clock should read just before midnight on {day}, not {local} \
         (is libfaketime preloaded?)"
    );
    assert_eq!(staff.call_next(1).await.map(|t| t.id), Some(first.id));
    staff.counter_action(1, "finish").await.expect_status(200);
    assert_eq!(staff.call_next(1).await.map(|t| t.id), Some(second.id));
    let called = until_event(
        &mut ws,
        &mut display,
        Duration::from_secs(10),
        "call of the second ticket",
        |r| matches!(&r.event, Event::TicketCalled { ticket, .. } if ticket.id == second.id),
    )
    .await;
    assert!(
        called.at.to_zoned(tz.clone()).date() == day,
        "the evening's work ran past midnight ({}); the lead is too short for this machine",
        called.at
    );
    let view = display.view().expect("the display has a view");
    assert_eq!(
        view.latest.as_ref().map(|c| c.number.as_str()),
        Some("1002")
    );
    assert_eq!(view.services[0].waiting, 1, "the third ticket waits");

    // Nobody acts: the server closes the day at midnight by itself.
    let closed = until_event(&mut ws, &mut display, CLOSE_WITHIN, "day_closed", |r| {
        matches!(r.event, Event::DayClosed { .. })
    })
    .await;
    let Event::DayClosed {
        day: closed_day,
        expired,
    } = &closed.event
    else {
        unreachable!("picked a day_closed");
    };
    let next_day = day.tomorrow().expect("a next day");
    assert_eq!(*closed_day, day);
    let closed_local = closed.at.to_zoned(tz.clone());
    assert_eq!(closed_local.date(), next_day, "closed after midnight");
    assert!(
        closed_local.time() < Time::new(0, 1, 0, 0).expect("a time"),
        "closed within the engine's tick of midnight, not at {closed_local}"
    );
    let mut gone: Vec<_> = expired.iter().map(|t| t.number.as_str()).collect();
    gone.sort_unstable();
    assert_eq!(
        gone,
        ["1002", "1003"],
        "the called and the waiting ticket expire"
    );

    // The display forgets the day that ended.
    let view = display.view().expect("the display has a view");
    assert!(
        view.latest.is_none() && view.recent_calls.is_empty(),
        "{view:?}"
    );
    assert!(view.services.iter().all(|s| s.waiting == 0), "{view:?}");
    assert!(
        view.counters.iter().all(|c| !c.open && c.current.is_none()),
        "{view:?}"
    );

    // The server's state is the new day's, empty; the counter is closed.
    let state: StateView = kiosk.state().await;
    assert_eq!(state.day, next_day);
    assert!(state.issuing, "issuing is open after midnight");
    assert!(state.recent_calls.is_empty());
    assert!(state.services.iter().all(|s| s.waiting == 0));
    assert!(
        state
            .counters
            .iter()
            .all(|c| !c.open && c.current.is_none())
    );
    staff
        .post_empty("/api/v1/counters/1/call-next")
        .await
        .expect_error(409);

    // The next day's first ticket is 1001 again, seen by the display as the new day's.
    let fresh = kiosk.issue_ticket("tnmt").await;
    assert_eq!((fresh.number.as_str(), fresh.day), ("1001", next_day));
    assert_ne!(fresh.id, first.id, "a new ticket, not yesterday's");
    let issued = until_event(
        &mut ws,
        &mut display,
        Duration::from_secs(10),
        "the new day's first ticket",
        |r| matches!(&r.event, Event::TicketIssued { ticket, .. } if ticket.id == fresh.id),
    )
    .await;
    if let Event::TicketIssued { ticket, .. } = &issued.event {
        assert_eq!((ticket.number.as_str(), ticket.day), ("1001", next_day));
        assert_eq!(ticket.status, TicketStatus::Waiting);
    }
    let view = display.view().expect("the display has a view");
    assert_eq!(view.day, next_day);
    assert_eq!(view.services[0].waiting, 1);

    // Yesterday's report holds all three tickets; today's only the new one.
    let report = |from: jiff::civil::Date| {
        let admin = &admin;
        async move {
            let body: Value = admin
                .get(&format!("/api/v1/reports?from={from}&to={from}&by=service"))
                .await
                .expect_status(200)
                .json();
            body["rows"][0].clone()
        }
    };
    let evening = poll_until(
        Duration::from_secs(10),
        "the closed day's report",
        || async {
            let row = report(day).await;
            (row["expired"] == 2).then_some(row)
        },
    )
    .await;
    assert_eq!(evening["key"], "tnmt");
    assert_eq!(
        [&evening["issued"], &evening["served"], &evening["called"]],
        [&Value::from(3), &Value::from(1), &Value::from(2)],
        "{evening}"
    );
    let morning = report(next_day).await;
    assert_eq!(
        [&morning["issued"], &morning["served"], &morning["expired"]],
        [&Value::from(1), &Value::from(0), &Value::from(0)],
        "{morning}"
    );
}
