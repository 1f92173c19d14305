//! The server in-process on a manual clock: a ticket finished at 23:55 is rated by its
//! counter's device after midnight closed the day, across a restart of the server between the
//! close and the rating; the report of that day counts the rating, the next day's does not,
//! and the rating records no second close.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use luot_server::auth;
use luot_server::clock::Clock;
use luot_server::store::Store;
use luot_shared::Event;
use luot_shared::protocol::Role;
use luot_tests::Api;
use luot_tests::in_process::Running;
use luot_tests::province::site_events;
use serde_json::Value;

fn local(day: Date, h: i8, m: i8, s: i8) -> Timestamp {
    day.at(h, m, s, 0)
        .in_tz("Asia/Ho_Chi_Minh")
        .expect("a local time")
        .timestamp()
}

fn tokens(dir: &Path, specs: &[(&str, Role, Option<u32>)]) -> Vec<(String, String)> {
    let store = Store::open(dir).expect("the store opens");
    specs
        .iter()
        .map(|(label, role, counter)| {
            let (token, _) = auth::create_token(&store, *role, *counter, Some((*label).to_owned()))
                .expect("token created");
            ((*label).to_owned(), token)
        })
        .collect()
}

fn api(base: &str, tokens: &[(String, String)], label: &str) -> Api {
    let token = tokens
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, t)| t.as_str());
    Api::new(base, token)
}

/// The day's report total as (issued, ratings).
async fn day_total(admin: &Api, day: Date) -> (u64, u64) {
    let report: Value = admin
        .get(&format!("/api/v1/reports?from={day}&to={day}&by=day"))
        .await
        .expect_status(200)
        .json();
    let total = &report["total"];
    (
        total["issued"].as_u64().unwrap_or(0),
        total["ratings"].as_u64().unwrap_or(0),
    )
}

/// A late rating after midnight and a restart: taken once by counter 1's device (counter 2's
/// device and staff refused), counted in Monday's report (not before, not in Tuesday's), no
/// second `day_closed`, Tuesday's numbering starts at 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rating_after_midnight_and_a_restart_counts_in_its_own_day() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let tokens = tokens(
        dir.path(),
        &[
            ("kiosk", Role::Kiosk, None),
            ("rate-1", Role::Kiosk, Some(1)),
            ("rate-2", Role::Kiosk, Some(2)),
            ("staff-1", Role::Staff, Some(1)),
            ("admin", Role::Admin, None),
        ],
    );
    let monday = jiff::civil::date(2026, 11, 30);
    let tuesday = jiff::civil::date(2026, 12, 1);
    let clock = Clock::manual(local(monday, 23, 50, 0));
    let server = Running::start(dir.path(), &clock).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let staff = api(&server.base, &tokens, "staff-1");
    staff.open_counter(1).await;
    let t = kiosk.issue_ticket("tnmt").await;
    advance_to(&clock, local(monday, 23, 55, 0));
    assert_eq!(staff.call_next(1).await.map(|c| c.id), Some(t.id));
    staff.counter_action(1, "finish").await.expect_status(200);

    // Past midnight any command closes Monday first (this one is then refused).
    advance_to(&clock, local(tuesday, 0, 0, 30));
    let refused = staff.counter_action(1, "finish").await.expect_error(409);
    assert_ne!(refused.code, "ticket_changed");
    let admin = api(&server.base, &tokens, "admin");
    let closes = |events: &[luot_shared::Recorded]| {
        events
            .iter()
            .filter(|r| matches!(r.event, Event::DayClosed { .. }))
            .count()
    };
    assert_eq!(closes(&site_events(&admin).await), 1, "midnight closed Monday");
    assert_eq!(day_total(&admin, monday).await, (1, 0));
    server.stop().await;

    let server = Running::start(dir.path(), &clock).await;
    advance_to(&clock, local(tuesday, 0, 2, 0));
    let device = api(&server.base, &tokens, "rate-1");
    let other = api(&server.base, &tokens, "rate-2");
    let staff = api(&server.base, &tokens, "staff-1");
    let admin = api(&server.base, &tokens, "admin");
    let wrong = other.rate(t.id, 5).await.expect_error(403);
    assert_eq!(wrong.code, "wrong_rating_device", "{}", wrong.message);
    staff.rate(t.id, 5).await.expect_error(403);
    device.rate(t.id, 5).await.expect_status(200);
    let again = device.rate(t.id, 4).await.expect_error(409);
    assert_eq!(again.code, "already_rated", "{}", again.message);

    assert_eq!(day_total(&admin, monday).await, (1, 1));
    assert_eq!(day_total(&admin, tuesday).await, (0, 0));
    advance_to(&clock, local(tuesday, 7, 30, 0));
    let first = kiosk_on(&server, &tokens).issue_ticket("tnmt").await;
    assert_eq!(first.number, "1001");
    assert_eq!(first.day, tuesday);
    assert_eq!(closes(&site_events(&admin).await), 1, "the rating opened no day");
    assert_eq!(day_total(&admin, monday).await, (1, 1));
    server.stop().await;
}

/// Lets time pass on the manual clock up to `to`.
fn advance_to(clock: &Clock, to: Timestamp) {
    let by = to.duration_since(clock.now());
    clock.advance(Duration::try_from(by).expect("forward"));
}

fn kiosk_on(server: &Running, tokens: &[(String, String)]) -> Api {
    api(&server.base, tokens, "kiosk")
}
