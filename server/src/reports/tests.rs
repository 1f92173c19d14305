//! Reports from a log written by the real engine on a virtual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use luot_shared::engine::{Rater, Reply};
use luot_shared::{CenterConfig, Command, Engine, Event};

use super::{GroupBy, build, day_rollup, spreadsheet_safe};
use crate::store::Store;

const STAFF: &str = "lan";

/// A store filled by an engine driven on a virtual clock, as the engine thread would.
struct History {
    store: Store,
    engine: Engine,
    tz: TimeZone,
    _dir: tempfile::TempDir,
}

impl History {
    fn new() -> History {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut history = History {
            store,
            engine: Engine::new(),
            tz: TimeZone::get("Asia/Ho_Chi_Minh").unwrap(),
            _dir: dir,
        };
        let at = history.at(date(2026, 3, 2), 7, 0);
        history.run(
            Command::Configure {
                config: Box::new(CenterConfig::default()),
                by: "system".into(),
            },
            at,
        );
        history
    }

    fn at(&self, day: Date, h: i8, m: i8) -> Timestamp {
        day.at(h, m, 0, 0)
            .to_zoned(self.tz.clone())
            .unwrap()
            .timestamp()
    }

    fn run(&mut self, command: Command, at: Timestamp) -> Option<Reply> {
        let outcome = self.engine.handle(command, at);
        self.store.append(&outcome.events).unwrap();
        for rec in &outcome.events {
            let day = self.engine.local_date(rec.at);
            self.store.mark_day(day, rec.seq).unwrap();
        }
        outcome.result.ok()
    }

    /// Issues a ticket of `service` at `(h, m)`, calls it `wait` minutes later at the
    /// service's counter, serves it `service_min` minutes, and rates it `score` if given.
    fn visit(
        &mut self,
        day: Date,
        (h, m): (i8, i8),
        service: &str,
        wait: i64,
        service_min: i64,
        score: Option<u8>,
    ) {
        let issued = self.at(day, h, m);
        let Some(Reply::Ticket { ticket, .. }) = self.run(
            Command::Issue {
                service: service.into(),
                priority: None,
                request_id: None,
                credential: "kiosk".into(),
                by: "kiosk".into(),
            },
            issued,
        ) else {
            panic!("issue refused");
        };
        let counter = self
            .engine
            .config()
            .counters
            .iter()
            .find(|c| c.services.iter().any(|s| s == service))
            .unwrap()
            .id;
        let called = issued + SignedDuration::from_mins(wait);
        self.run(
            Command::Open {
                counter,
                staff: STAFF.into(),
            },
            called,
        );
        self.run(
            Command::CallNext {
                counter,
                staff: STAFF.into(),
            },
            called,
        );
        self.run(
            Command::Start {
                counter,
                staff: STAFF.into(),
            },
            called,
        );
        let done = called + SignedDuration::from_mins(service_min);
        self.run(
            Command::Finish {
                counter,
                staff: STAFF.into(),
            },
            done,
        );
        if let Some(score) = score {
            self.run(
                Command::Rate {
                    ticket: ticket.id,
                    score,
                    reason: None,
                    rater: Rater::Device {
                        name: "rating".into(),
                        counter: Some(counter),
                    },
                },
                done,
            );
        }
    }
}

/// A closed day's figures come from its roll-up, equal what the log says, and are stored once
/// the day's close is in the log; a report over several days merges the days.
#[test]
fn closed_days_roll_up_and_merge() {
    let mut h = History::new();
    let monday = date(2026, 3, 2);
    let tuesday = date(2026, 3, 3);
    h.visit(monday, (8, 0), "tnmt", 10, 6, Some(5));
    h.visit(monday, (8, 30), "tnmt", 20, 4, Some(2));
    h.visit(monday, (9, 0), "tckh", 5, 10, None);
    // A ticket still waiting at midnight expires.
    let late = h.at(monday, 16, 0);
    h.run(
        Command::Issue {
            service: "tnmt".into(),
            priority: None,
            request_id: None,
            credential: "kiosk".into(),
            by: "kiosk".into(),
        },
        late,
    );

    // Before Tuesday's first command, Monday is not closed: nothing is stored.
    let open = day_rollup(&h.store, h.engine.config(), &h.tz, monday).unwrap();
    assert!(!open.closed);
    assert!(h.store.rollup_get(monday).unwrap().is_none());

    h.visit(tuesday, (8, 0), "tnmt", 30, 8, Some(4));
    let closed = day_rollup(&h.store, h.engine.config(), &h.tz, monday).unwrap();
    assert!(closed.closed);
    assert!(
        h.store.rollup_get(monday).unwrap().is_some(),
        "a closed day's roll-up is stored"
    );
    assert_eq!(closed.total.issued, 4);

    let config = h.engine.config().clone();
    let report = build(&h.store, &config, &h.tz, monday, monday, GroupBy::Service).unwrap();
    let tnmt = report.rows.iter().find(|r| r.key == "tnmt").unwrap();
    assert_eq!(tnmt.issued, 3);
    assert_eq!(tnmt.served, 2);
    assert_eq!(tnmt.expired, 1);
    assert_eq!(tnmt.called, 2);
    assert_eq!(tnmt.avg_wait_s, 15 * 60);
    assert_eq!(tnmt.max_wait_s, 20 * 60);
    assert_eq!(tnmt.avg_service_s, 5 * 60);
    assert_eq!(
        tnmt.within_target_pct, 50.0,
        "one of two waited within 15 minutes"
    );
    assert_eq!(tnmt.ratings, 2);
    assert_eq!(tnmt.satisfaction_pct, 50.0);
    assert_eq!(
        report.rows[0].key, "tnmt",
        "services come in the center's order"
    );
    assert_eq!(report.total.issued, 4);

    let both = build(&h.store, &config, &h.tz, monday, tuesday, GroupBy::Day).unwrap();
    assert_eq!(both.rows.len(), 2);
    assert_eq!(both.rows[0].label, "02/03/2026");
    assert_eq!(both.rows[1].issued, 1);
    assert_eq!(both.total.issued, 5);
    assert_eq!(both.total.served, 4);

    let by_hour = build(&h.store, &config, &h.tz, monday, tuesday, GroupBy::Hour).unwrap();
    let eight = by_hour.rows.iter().find(|r| r.key == "08").unwrap();
    assert_eq!(
        eight.issued, 3,
        "08:00 and 08:30 on Monday, 08:00 on Tuesday"
    );
    assert_eq!(eight.label, "08:00–09:00");

    let by_staff = build(&h.store, &config, &h.tz, monday, tuesday, GroupBy::Staff).unwrap();
    let lan = by_staff.rows.iter().find(|r| r.key == STAFF).unwrap();
    assert_eq!(lan.served, 4);
    let never = by_staff.rows.iter().find(|r| r.key == "-").unwrap();
    assert_eq!(never.issued, 1);
    assert_eq!(never.label, "Chưa qua quầy");

    // The stored roll-up answers the same as a fresh computation from the log.
    let cached = build(&h.store, &config, &h.tz, monday, monday, GroupBy::Counter).unwrap();
    h.store.rollup_put(monday, b"not json").unwrap();
    let recomputed = build(&h.store, &config, &h.tz, monday, monday, GroupBy::Counter).unwrap();
    assert_eq!(cached.rows, recomputed.rows);
    assert!(h.engine.tickets().all(|t| t.day == tuesday));
    assert!(matches!(
        h.store
            .events(1, h.engine.seq(), 10_000)
            .unwrap()
            .iter()
            .filter(|r| matches!(r.event, Event::DayClosed { .. }))
            .count(),
        1
    ));
}

/// A transfer ends the wait in the first service and starts one in the second: each service's
/// row holds the wait spent in it, and the ticket counts where it was served; a no-show left at
/// the close stays a no-show.
#[test]
fn a_transfer_splits_the_wait_between_services() {
    let mut h = History::new();
    let monday = date(2026, 3, 2);
    let issued = h.at(monday, 8, 0);
    let min = |m: i64| issued + SignedDuration::from_mins(m);
    let issue = Command::Issue {
        service: "tnmt".into(),
        priority: None,
        request_id: None,
        credential: "kiosk".into(),
        by: "kiosk".into(),
    };
    h.run(issue.clone(), issued);
    h.run(issue, min(1));
    let tnmt_counter = |h: &History, service: &str| {
        h.engine
            .config()
            .counters
            .iter()
            .find(|c| c.services.iter().any(|s| s == service))
            .unwrap()
            .id
    };
    let (a, b) = (tnmt_counter(&h, "tnmt"), tnmt_counter(&h, "tckh"));
    let staff = || STAFF.to_owned();
    h.run(
        Command::Open {
            counter: a,
            staff: staff(),
        },
        min(10),
    );
    h.run(
        Command::Open {
            counter: b,
            staff: "mai".into(),
        },
        min(10),
    );
    h.run(
        Command::CallNext {
            counter: a,
            staff: staff(),
        },
        min(10),
    );
    h.run(
        Command::Transfer {
            counter: a,
            to_service: Some("tckh".into()),
            to_counter: None,
            staff: staff(),
        },
        min(12),
    );
    h.run(
        Command::CallNext {
            counter: b,
            staff: "mai".into(),
        },
        min(20),
    );
    h.run(
        Command::Finish {
            counter: b,
            staff: "mai".into(),
        },
        min(30),
    );
    // The second ticket is called and does not come.
    h.run(
        Command::CallNext {
            counter: a,
            staff: staff(),
        },
        min(31),
    );
    h.run(
        Command::NoShow {
            counter: a,
            staff: staff(),
        },
        min(35),
    );
    // Tuesday's first command closes Monday.
    let tuesday = h.at(date(2026, 3, 3), 8, 0);
    h.run(
        Command::Open {
            counter: a,
            staff: staff(),
        },
        tuesday,
    );

    let config = h.engine.config().clone();
    let report = build(&h.store, &config, &h.tz, monday, monday, GroupBy::Service).unwrap();
    let row = |key: &str| report.rows.iter().find(|r| r.key == key).unwrap().clone();
    let (tnmt, tckh) = (row("tnmt"), row("tckh"));
    assert_eq!((tnmt.called, tnmt.max_wait_s), (2, 30 * 60));
    assert_eq!(tnmt.avg_wait_s, (10 + 30) * 60 / 2);
    assert_eq!((tckh.called, tckh.avg_wait_s), (1, 8 * 60));
    assert_eq!((tckh.issued, tckh.served), (1, 1));
    assert_eq!((tnmt.issued, tnmt.no_show, tnmt.expired), (1, 1, 0));
    assert_eq!(tckh.avg_service_s, 10 * 60);
    assert_eq!(report.total.called, 3);
}

/// Rows by week, month and quarter gather the days of each period; the median and the 90th
/// percentile of a range come from all its waits; ratings are counted by level.
#[test]
fn periods_gather_their_days() {
    let mut h = History::new();
    let march = date(2026, 3, 31);
    let april = date(2026, 4, 1);
    h.visit(march, (8, 0), "tnmt", 4, 5, Some(5));
    h.visit(march, (9, 0), "tnmt", 8, 5, Some(1));
    h.visit(april, (8, 0), "tnmt", 40, 5, Some(4));
    // Closes April 1.
    h.visit(date(2026, 4, 2), (8, 0), "tnmt", 1, 1, None);
    let config = h.engine.config().clone();
    let months = build(&h.store, &config, &h.tz, march, april, GroupBy::Month).unwrap();
    let keys: Vec<(&str, &str)> = months
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.label.as_str()))
        .collect();
    assert_eq!(
        keys,
        [("2026-03", "Tháng 03/2026"), ("2026-04", "Tháng 04/2026")]
    );
    let quarters = build(&h.store, &config, &h.tz, march, april, GroupBy::Quarter).unwrap();
    let labels: Vec<&str> = quarters.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["Quý I/2026", "Quý II/2026"]);
    let weeks = build(&h.store, &config, &h.tz, march, april, GroupBy::Week).unwrap();
    assert_eq!(weeks.rows.len(), 1, "both days are in ISO week 14");
    assert_eq!(weeks.rows[0].key, "2026-W14");
    let total = &months.total;
    assert_eq!(total.issued, 3);
    assert_eq!(total.median_wait_s, 8 * 60);
    assert_eq!(total.p90_wait_s, 40 * 60);
    assert_eq!(total.ratings_by_level, [1, 0, 0, 1, 1]);
    assert_eq!(total.satisfaction_pct, 66.7);
    assert_eq!(total.estimated, 3);
}

/// A label a spreadsheet would read as a formula — also behind blanks, a no-break space or a
/// full-width sign — is written as text.
#[test]
fn formula_labels_are_written_as_text() {
    for label in [
        "=1+2",
        " =1+2",
        "\u{a0}=1+2",
        "\u{ff1d}1+2",
        "+1",
        "@SUM(A1)",
        "\t-3",
    ] {
        assert!(spreadsheet_safe(label).starts_with('\''), "{label:?}");
    }
    for label in ["-", "Lan", "Quầy 1", "1+2="] {
        assert_eq!(spreadsheet_safe(label), label);
    }
}
