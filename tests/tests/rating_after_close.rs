//! The server in-process on a manual clock: a ticket finished at 23:55 is rated by its
//! counter's device after midnight closed the day, across a restart of the server between the
//! close and the rating; the report of that day counts the rating, the next day's does not,
//! and the rating records no second close.

use std::time::Duration;

use jiff::civil::Date;
use luot_server::clock::Clock;
use luot_shared::Event;
use luot_shared::protocol::Role;
use luot_tests::in_process::{Running, advance_to, api, hanoi, tokens};
use luot_tests::province::{Province, site_events};
use luot_tests::{Api, poll_until};
use serde_json::Value;

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
    let clock = Clock::manual(hanoi(monday, 23, 50, 0));
    let server = Running::start(dir.path(), &clock).await;
    let kiosk = api(&server.base, &tokens, "kiosk");
    let staff = api(&server.base, &tokens, "staff-1");
    staff.open_counter(1).await;
    let t = kiosk.issue_ticket("tnmt").await;
    advance_to(&clock, hanoi(monday, 23, 55, 0));
    assert_eq!(staff.call_next(1).await.map(|c| c.id), Some(t.id));
    staff.counter_action(1, "finish").await.expect_status(200);

    // Past midnight any command closes Monday first (this one is then refused).
    advance_to(&clock, hanoi(tuesday, 0, 0, 30));
    let refused = staff.counter_action(1, "finish").await.expect_error(409);
    assert_ne!(refused.code, "ticket_changed");
    let admin = api(&server.base, &tokens, "admin");
    let closes = |events: &[luot_shared::Recorded]| {
        events
            .iter()
            .filter(|r| matches!(r.event, Event::DayClosed { .. }))
            .count()
    };
    assert_eq!(
        closes(&site_events(&admin).await),
        1,
        "midnight closed Monday"
    );
    assert_eq!(day_total(&admin, monday).await, (1, 0));
    server.stop().await;

    let server = Running::start(dir.path(), &clock).await;
    advance_to(&clock, hanoi(tuesday, 0, 2, 0));
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
    advance_to(&clock, hanoi(tuesday, 7, 30, 0));
    let first = kiosk_on(&server, &tokens).issue_ticket("tnmt").await;
    assert_eq!(first.number, "1001");
    assert_eq!(first.day, tuesday);
    assert_eq!(
        closes(&site_events(&admin).await),
        1,
        "the rating opened no day"
    );
    assert_eq!(day_total(&admin, monday).await, (1, 1));
    server.stop().await;
}

fn kiosk_on(server: &Running, tokens: &[(String, String)]) -> Api {
    api(&server.base, tokens, "kiosk")
}

/// The province hub records a late rating in the ticket's row: a site on a manual clock
/// ships a ticket finished at 23:55, midnight closes the day, counter 1's device rates it;
/// the hub stores the `ticket_rated` event and must show the rating in `hub_tickets`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_records_a_late_rating() {
    use luot_server::ship::ShipConfig;
    use luot_server::{Options, Server};
    use luot_tests::province::PROVINCE;

    let Some(Province { nats, pg, hub }) = Province::start() else {
        return;
    };
    let key = hub.enroll("s1");
    let dir = tempfile::tempdir().expect("temporary directory");
    let tokens = tokens(
        dir.path(),
        &[
            ("kiosk", Role::Kiosk, None),
            ("rate-1", Role::Kiosk, Some(1)),
            ("staff-1", Role::Staff, Some(1)),
        ],
    );
    let monday = jiff::civil::date(2026, 11, 30);
    let tuesday = jiff::civil::date(2026, 12, 1);
    let clock = Clock::manual(hanoi(monday, 23, 50, 0));
    let server = Server::open(Options {
        data_dir: dir.path().to_owned(),
        center: None,
        ship: Some(ShipConfig::new(&nats.url(), "s1", PROVINCE, &key).expect("ship config")),
    })
    .expect("the server opens")
    .with_clock(clock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(listener, async move {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| format!("{e:#}"))
    });
    let kiosk = api(&base, &tokens, "kiosk");
    let staff = api(&base, &tokens, "staff-1");
    let device = api(&base, &tokens, "rate-1");
    staff.open_counter(1).await;
    let t = kiosk.issue_ticket("tnmt").await;
    advance_to(&clock, hanoi(monday, 23, 55, 0));
    staff.call_next(1).await.expect("called");
    staff.counter_action(1, "finish").await.expect_status(200);
    advance_to(&clock, hanoi(tuesday, 0, 1, 0));
    device.rate(t.id, 5).await.expect_status(200);

    let client = pg.client().await;
    let id = t.id as i64;
    poll_until(
        Duration::from_secs(120),
        "the hub to store the rating",
        || async {
            let rows = client
                .query(
                    "SELECT count(*) FROM hub_events WHERE site = 's1' AND kind = 'ticket_rated'",
                    &[],
                )
                .await
                .expect("hub_events");
            (rows[0].get::<_, i64>(0) == 1).then_some(())
        },
    )
    .await;
    let row = client
        .query_one(
            "SELECT state, rating FROM hub_tickets WHERE site = 's1' AND ticket = $1",
            &[&id],
        )
        .await
        .expect("the ticket's row");
    assert_eq!(row.get::<_, String>(0), "done");
    assert_eq!(row.get::<_, Option<i16>>(1), Some(5), "the late rating");
    let _ = stop.send(());
    task.await.expect("task").expect("clean stop");
}
