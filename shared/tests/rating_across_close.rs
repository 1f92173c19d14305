//! A rating that arrives within the rating window but after the business day closed (at
//! midnight, or at the center's closing hour), on a virtual clock.
//!
//! Known defect, kept ignored so CI stays green until the engine is fixed: `Event::DayClosed`
//! clears the engine's tickets (`shared/src/engine/fold.rs`), and `Engine::rate` looks the
//! ticket up among them (`shared/src/engine/decide.rs`), so a citizen served a few minutes
//! before the close cannot rate within the window the center promises (`rating_window_min`,
//! 10 minutes by default): the rating device is answered `not_found`. Run it with
//! `cargo test -p luot-shared --test rating_across_close -- --ignored`.

#![allow(clippy::unwrap_used)]

use jiff::civil::{self, Date, Time};
use jiff::{SignedDuration, Timestamp};
use luot_shared::engine::{Rater, Reply};
use luot_shared::{Command, Engine, Event, TicketId};

const TZ: &str = "Asia/Ho_Chi_Minh";
const MONDAY: Date = civil::date(2025, 3, 3);

fn local(day: Date, h: i8, m: i8, s: i8) -> Timestamp {
    day.at(h, m, s, 0).in_tz(TZ).unwrap().timestamp()
}

/// The default center, `config` changed by `edit`, with one `tnmt` ticket served at counter 1
/// and finished at `finish`; returns the engine and the ticket.
fn served_at(
    finish: Timestamp,
    edit: impl FnOnce(&mut luot_shared::CenterConfig),
) -> (Engine, TicketId) {
    let mut engine = Engine::new();
    let mut config = engine.config().clone();
    edit(&mut config);
    let mut at = finish - SignedDuration::from_mins(5);
    let mut run = |engine: &mut Engine, command: Command| {
        let out = engine.handle(command, at);
        at += SignedDuration::from_secs(30);
        out.result.unwrap()
    };
    run(
        &mut engine,
        Command::Configure {
            config: Box::new(config),
            by: "admin".into(),
        },
    );
    let staff = || "nv1".to_owned();
    run(
        &mut engine,
        Command::Open {
            counter: 1,
            staff: staff(),
        },
    );
    let ticket = match run(
        &mut engine,
        Command::Issue {
            service: "tnmt".into(),
            priority: None,
            request_id: None,
            credential: "kiosk".into(),
            by: "kiosk".into(),
        },
    ) {
        Reply::Ticket { ticket, .. } => ticket.id,
        other => panic!("expected a ticket, got {other:?}"),
    };
    run(
        &mut engine,
        Command::CallNext {
            counter: 1,
            staff: staff(),
        },
    );
    let out = engine.handle(
        Command::Finish {
            counter: 1,
            staff: staff(),
        },
        finish,
    );
    out.result.unwrap();
    (engine, ticket)
}

/// Rates `ticket` at `now` from counter 1's rating device; returns the events it recorded.
fn rate(engine: &mut Engine, ticket: TicketId, now: Timestamp) -> Vec<&'static str> {
    let out = engine.handle(
        Command::Rate {
            ticket,
            score: 5,
            reason: None,
            rater: Rater::Device {
                name: "rate-1".into(),
                counter: Some(1),
            },
        },
        now,
    );
    let kinds = out.events.iter().map(|r| r.event.kind()).collect();
    if let Err(e) = out.result {
        panic!(
            "a rating within the window was refused after the day closed: {e} (events {kinds:?})"
        );
    }
    assert!(
        out.events
            .iter()
            .any(|r| matches!(r.event, Event::TicketRated { .. }))
    );
    kinds
}

/// Served at 23:58:00, rated at 00:01:00 (3 minutes later, within the 10-minute window): the
/// day closes first, and the rating is still recorded.
#[test]
#[ignore = "known defect: the day's close forgets the tickets a rating within the window needs"]
fn a_rating_within_the_window_after_midnight_is_recorded() {
    let (mut engine, ticket) = served_at(local(MONDAY, 23, 58, 0), |_| {});
    let tuesday = MONDAY.tomorrow().unwrap();
    let kinds = rate(&mut engine, ticket, local(tuesday, 0, 1, 0));
    assert_eq!(kinds, ["day_closed", "ticket_rated"]);
}

/// Served at 16:58 at a center that closes at 17:00, rated at 17:01: the closing hour closes
/// the day first, and the rating is still recorded.
#[test]
#[ignore = "known defect: the day's close forgets the tickets a rating within the window needs"]
fn a_rating_within_the_window_after_the_closing_hour_is_recorded() {
    let (mut engine, ticket) = served_at(local(MONDAY, 16, 58, 0), |config| {
        config.center.close = Some(Time::new(17, 0, 0, 0).unwrap());
    });
    let kinds = rate(&mut engine, ticket, local(MONDAY, 17, 1, 0));
    assert_eq!(kinds, ["day_closed", "ticket_rated"]);
}
