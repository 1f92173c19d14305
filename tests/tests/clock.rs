//! The server in-process on a manual clock (`Server::with_clock`), stepped in milliseconds:
//! the rating window, a wall clock stepped forward and back while running, and one found
//! behind the log at start.

use std::time::Duration;

use jiff::SignedDuration;
use luot_server::clock::Clock;
use luot_shared::protocol::{Role, StateView, TicketView};
use luot_tests::Api;
use luot_tests::in_process::{Running, api, hanoi, tokens};
use serde_json::Value;

/// 8.6 hours.
const STEP: SignedDuration = SignedDuration::from_secs(30_960);

/// A counter-1 ticket served now; returns it.
async fn served(kiosk: &Api, staff: &Api) -> TicketView {
    let t = kiosk.issue_ticket("tnmt").await;
    assert_eq!(staff.call_next(1).await.map(|c| c.id), Some(t.id));
    staff.counter_action(1, "finish").await.expect_status(200);
    t
}

/// The rating device may rate within 10 minutes of the finish, not after (409
/// `rating_window_closed`), and a longer window set by the admin applies at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rating_window_follows_the_servers_clock() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let tokens = tokens(
        dir.path(),
        &[
            ("kiosk", Role::Kiosk, None),
            ("rate-1", Role::Kiosk, Some(1)),
            ("staff-1", Role::Staff, Some(1)),
            ("admin", Role::Admin, None),
        ],
    );
    let clock = Clock::manual(hanoi(jiff::civil::date(2026, 12, 1), 9, 0, 0));
    let server = Running::start(dir.path(), &clock).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let device = api(&server.base, &tokens, "rate-1");
    let staff = api(&server.base, &tokens, "staff-1");
    let admin = api(&server.base, &tokens, "admin");
    staff.open_counter(1).await;

    let first = served(&kiosk, &staff).await;
    clock.advance(Duration::from_secs(10 * 60));
    device.rate(first.id, 5).await.expect_status(200);

    let late = served(&kiosk, &staff).await;
    clock.advance(Duration::from_millis(10 * 60 * 1000 + 1));
    let error = device.rate(late.id, 5).await.expect_error(409);
    assert_eq!(error.code, "rating_window_closed", "{}", error.message);

    let mut config: Value = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    config["center"]["rating_window_min"] = 30.into();
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);
    device.rate(late.id, 3).await.expect_status(200);
    config["center"]["rating_window_min"] = 0.into();
    let error = admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_error(422);
    assert_eq!(error.field.as_deref(), Some("center.rating_window_min"));
    server.stop().await;
}

/// With the clock stepped 8.6 h forward and back in milliseconds: the state shows both steps
/// by exactly their size, the business day and numbering follow the corrected date, tickets
/// 2 s apart are 2 s apart, a 2 s service counts 2 s; a restart on a clock behind the log
/// records that step back too and stays on the corrected day; each day's report counts all
/// of its tickets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_steps_are_recorded_and_the_record_follows_the_corrected_clock() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let tokens = tokens(
        dir.path(),
        &[
            ("kiosk", Role::Kiosk, None),
            ("staff-1", Role::Staff, Some(1)),
            ("admin", Role::Admin, None),
        ],
    );
    let monday = jiff::civil::date(2026, 11, 30);
    let tuesday = jiff::civil::date(2026, 12, 1);
    let clock = Clock::manual(hanoi(monday, 16, 0, 0));
    let server = Running::start(dir.path(), &clock).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let staff = api(&server.base, &tokens, "staff-1");
    for n in ["1001", "1002", "1003"] {
        assert_eq!(kiosk.issue_ticket("tnmt").await.number, n);
        clock.advance(Duration::from_millis(1500));
    }
    clock.step(STEP);
    let early = kiosk.issue_ticket("tnmt").await;
    assert_eq!((early.number.as_str(), early.day), ("1001", tuesday));
    clock.advance(Duration::from_secs(60));
    clock.step(-STEP);

    let e = kiosk.issue_ticket("tnmt").await;
    assert_eq!((e.number.as_str(), e.day), ("1004", monday));
    assert_eq!(e.issued_at, clock.now(), "dated by the corrected clock");
    clock.advance(Duration::from_secs(2));
    let f = kiosk.issue_ticket("tnmt").await;
    assert_eq!(f.issued_at.duration_since(e.issued_at).as_secs(), 2);
    staff.open_counter(1).await;
    assert_eq!(staff.call_next(1).await.map(|t| t.id), Some(e.id));
    staff.counter_action(1, "start").await.expect_status(200);
    clock.advance(Duration::from_secs(2));
    staff.counter_action(1, "finish").await.expect_status(200);
    let state: StateView = kiosk.state().await;
    assert_eq!(state.day, monday);
    let counter = state
        .counters
        .iter()
        .find(|c| c.id == 1)
        .expect("counter 1");
    assert_eq!((counter.served_today, counter.avg_service_s), (1, 2));
    let steps: Vec<i64> = state.clock_steps.iter().map(|s| s.offset_ms).collect();
    assert_eq!(steps, [-STEP.as_millis() as i64, STEP.as_millis() as i64]);
    server.stop().await;

    // Restart on a clock an hour behind the last event.
    let last = clock.now();
    let behind = Clock::manual(last - SignedDuration::from_hours(1));
    let server = Running::start(dir.path(), &behind).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let g = kiosk.issue_ticket("tnmt").await;
    assert_eq!((g.number.as_str(), g.day), ("1006", monday));
    let state: StateView = kiosk.state().await;
    let newest = state.clock_steps.first().expect("the step at start");
    assert_eq!(newest.offset_ms, -3_600_000);
    assert_eq!(newest.at, behind.now());
    server.stop().await;

    // Tuesday really comes: its numbering continues after the 1001 issued early.
    let real = Clock::manual(hanoi(tuesday, 8, 0, 0));
    let server = Running::start(dir.path(), &real).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let h = kiosk.issue_ticket("tnmt").await;
    assert_eq!((h.number.as_str(), h.day), ("1002", tuesday));
    assert_eq!(
        kiosk.state().await.clock_steps.len(),
        2 + 1,
        "time spent stopped is no step"
    );

    // Each day's report counts its own tickets, also those issued after the step back.
    let admin = api(&server.base, &tokens, "admin");
    for (day, issued, served) in [(monday, 6, 1), (tuesday, 2, 0)] {
        let report: Value = admin
            .get(&format!("/api/v1/reports?from={day}&to={day}&by=service"))
            .await
            .expect_status(200)
            .json();
        assert_eq!(report["total"]["issued"], issued, "{day}: {report}");
        assert_eq!(report["total"]["served"], served, "{day}: {report}");
    }
    server.stop().await;
}
