//! The engine's guards on who may act and on a stepped clock, on a virtual clock: counter
//! reach for cancel and reinstate, rating rules, credential-scoped idempotency, and a wall
//! clock stepped forward and back.

#![allow(clippy::unwrap_used)]

use jiff::civil::{self, Date};
use jiff::{SignedDuration, Timestamp};
use luot_shared::engine::{Rater, Reply};
use luot_shared::protocol::{ServerMessage, TicketView};
use luot_shared::{Command, CounterId, DomainError, Engine, Event, Recorded, TicketId};

const TZ: &str = "Asia/Ho_Chi_Minh";
const MONDAY: Date = civil::date(2025, 3, 3);
const TUESDAY: Date = civil::date(2025, 3, 4);

fn local(day: Date, h: i8, m: i8) -> Timestamp {
    day.at(h, m, 0, 0).in_tz(TZ).unwrap().timestamp()
}

/// The default center (counter k serves field k only) on a virtual clock.
struct Desk {
    engine: Engine,
    now: Timestamp,
    log: Vec<Recorded>,
}

impl Desk {
    fn new() -> Desk {
        let mut desk = Desk {
            engine: Engine::new(),
            now: local(MONDAY, 8, 0),
            log: Vec::new(),
        };
        desk.ok(Command::Configure {
            config: Box::default(),
            by: "system".into(),
        });
        desk
    }

    fn run(&mut self, command: Command) -> Result<Reply, DomainError> {
        let out = self.engine.handle(command, self.now);
        self.log.extend(out.events);
        out.result
    }

    fn ok(&mut self, command: Command) -> Reply {
        let described = format!("{command:?}");
        self.run(command)
            .unwrap_or_else(|e| panic!("{described} refused: {e}"))
    }

    fn refuse(&mut self, command: Command) -> DomainError {
        let seq = self.engine.seq();
        let err = self.run(command).expect_err("refused");
        assert_eq!(self.engine.seq(), seq, "a refusal records nothing");
        err
    }

    fn later_secs(&mut self, secs: i64) {
        self.now += SignedDuration::from_secs(secs);
    }

    fn issue_by(&mut self, service: &str, credential: &str, request: Option<&str>) -> Reply {
        self.ok(Command::Issue {
            service: service.into(),
            priority: None,
            request_id: request.map(str::to_owned),
            credential: credential.into(),
            by: credential.into(),
        })
    }

    fn issue(&mut self, service: &str) -> TicketView {
        ticket(self.issue_by(service, "kiosk", None))
    }

    fn at(&mut self, counter: CounterId, action: &str) -> Reply {
        let staff = format!("nv{counter}");
        self.ok(match action {
            "open" => Command::Open { counter, staff },
            "call" => Command::CallNext { counter, staff },
            "start" => Command::Start { counter, staff },
            "finish" => Command::Finish { counter, staff },
            "no-show" => Command::NoShow { counter, staff },
            other => panic!("no action {other}"),
        })
    }

    /// Issues a `tnmt` ticket and serves it at counter 1; returns its id.
    fn served(&mut self) -> TicketId {
        let t = self.issue("tnmt");
        self.at(1, "open");
        self.at(1, "call");
        self.at(1, "finish");
        t.id
    }

    fn rate(&mut self, ticket: TicketId, rater: Rater) -> Result<Reply, DomainError> {
        self.run(Command::Rate {
            ticket,
            score: 4,
            reason: None,
            rater,
        })
    }
}

fn ticket(reply: Reply) -> TicketView {
    match reply {
        Reply::Ticket { ticket, .. } => *ticket,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

fn device(counter: Option<CounterId>) -> Rater {
    Rater::Device {
        name: format!("rate-{counter:?}"),
        counter,
    }
}

/// Cancel and reinstate by an actor bound to counter 3 reach only counter 3's service; an
/// unbound actor reaches every ticket.
#[test]
fn counter_bound_actors_reach_only_their_services() {
    let mut desk = Desk::new();
    let foreign = desk.issue("tnmt");
    let own = desk.issue("ldtbxh");
    let cancel = |ticket, counters: Option<Vec<CounterId>>| Command::Cancel {
        ticket,
        staff: "nv3".into(),
        counters,
    };
    assert!(matches!(
        desk.refuse(cancel(foreign.id, Some(vec![3]))),
        DomainError::NotYourCounter(_)
    ));
    assert!(matches!(
        desk.refuse(cancel(foreign.id, Some(vec![]))),
        DomainError::NotYourCounter(_)
    ));
    desk.ok(cancel(own.id, Some(vec![3])));
    desk.ok(cancel(foreign.id, Some(vec![1, 3])));

    let late = desk.issue("tnmt");
    desk.at(1, "open");
    assert_eq!(ticket(desk.at(1, "call")).id, late.id);
    desk.at(1, "no-show");
    let reinstate = |counters| Command::Reinstate {
        ticket: late.id,
        staff: "nv".into(),
        counters,
    };
    assert!(matches!(
        desk.refuse(reinstate(Some(vec![3]))),
        DomainError::NotYourCounter(_)
    ));
    desk.ok(reinstate(None));
}

/// Staff and unpaired devices never rate; another counter's device is refused; the right
/// device rates once within the window; an admin corrects at any time, recorded as such.
#[test]
fn ratings_come_from_the_finishing_counters_device_once_within_the_window() {
    let mut desk = Desk::new();
    let t = desk.served();
    let seq = desk.engine.seq();
    let staff = Rater::Staff { name: "nv1".into() };
    assert_eq!(desk.rate(t, staff), Err(DomainError::StaffCannotRate));
    assert_eq!(
        desk.rate(t, device(None)),
        Err(DomainError::RatingDeviceUnpaired)
    );
    assert!(matches!(
        desk.rate(t, device(Some(2))),
        Err(DomainError::WrongRatingDevice(_))
    ));
    assert_eq!(desk.engine.seq(), seq);
    desk.later_secs(9 * 60);
    desk.rate(t, device(Some(1))).unwrap();
    assert!(matches!(
        desk.rate(t, device(Some(1))),
        Err(DomainError::AlreadyRated(_))
    ));
    let admin = Rater::Admin {
        name: "admin".into(),
    };
    desk.later_secs(3600);
    desk.rate(t, admin).unwrap();
    let rated: Vec<(Option<String>, bool)> = desk
        .log
        .iter()
        .filter_map(|r| match &r.event {
            Event::TicketRated {
                by,
                correction,
                counter: 1,
                staff,
                ..
            } if staff == "nv1" => Some((by.clone(), *correction)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rated,
        [
            (Some("rate-Some(1)".to_owned()), false),
            (Some("admin".to_owned()), true)
        ]
    );

    // Past the window (10 minutes by default) the device is refused.
    let late = desk.served();
    desk.later_secs(10 * 60 + 1);
    assert!(matches!(
        desk.rate(late, device(Some(1))),
        Err(DomainError::RatingWindowClosed(_))
    ));
}

/// The same request_id from two credentials makes two tickets; from one, one ticket; and the
/// idempotency survives a replay of the log. Subscribers' frames never carry the key.
#[test]
fn request_ids_are_scoped_to_the_credential_and_stay_off_the_wire() {
    let mut desk = Desk::new();
    let a = ticket(desk.issue_by("tnmt", "kiosk-a", Some("r1")));
    let b = ticket(desk.issue_by("tnmt", "kiosk-b", Some("r1")));
    assert_ne!(a.id, b.id);
    let again = desk.issue_by("tnmt", "kiosk-a", Some("r1"));
    assert!(matches!(&again, Reply::Ticket { ticket, created: false } if ticket.id == a.id));

    let mut replayed = Engine::new();
    for rec in &desk.log {
        replayed.apply(rec).unwrap();
    }
    let out = replayed.handle(
        Command::Issue {
            service: "tnmt".into(),
            priority: None,
            request_id: Some("r1".into()),
            credential: "kiosk-b".into(),
            by: "kiosk-b".into(),
        },
        desk.now,
    );
    assert!(out.events.is_empty());
    assert!(
        matches!(out.result, Ok(Reply::Ticket { ticket, created: false }) if ticket.id == b.id)
    );

    for rec in &desk.log {
        let text = serde_json::to_string(&ServerMessage::Event(rec.clone())).unwrap();
        assert!(
            !text.contains("request_id") && !text.contains("r1"),
            "{text}"
        );
        let stored = serde_json::to_string(rec).unwrap();
        if let Event::TicketIssued { ticket, .. } = &rec.event
            && ticket.request_id.is_some()
        {
            assert!(stored.contains("r1"), "the log keeps what replay needs");
        }
    }
}

/// A clock stepped 8.6 h forward and back: the step is recorded first, the future day closes
/// and the real one reopens with its own numbering, new tickets queue behind older ones,
/// durations are never negative, and when the future day really comes its numbering
/// continues where it stopped.
#[test]
fn a_stepped_clock_keeps_order_numbering_and_the_real_day() {
    let mut desk = Desk::new();
    desk.now = local(MONDAY, 16, 0);
    desk.at(1, "open");
    for n in ["1001", "1002", "1003"] {
        assert_eq!(desk.issue("tnmt").number, n);
    }
    let step = SignedDuration::from_secs(30_960);
    desk.now += step;
    let ahead = desk.issue("tnmt");
    assert_eq!((ahead.number.as_str(), ahead.day), ("1001", TUESDAY));
    desk.issue("tnmt");
    // Time is corrected back, one minute after the first step.
    let expected = desk.now;
    desk.now = local(MONDAY, 16, 1);
    let seq = desk.engine.seq();
    desk.ok(Command::NoteClockStep { expected });
    let kinds: Vec<&str> = desk.log[seq as usize..]
        .iter()
        .map(|r| r.event.kind())
        .collect();
    assert_eq!(kinds, ["clock_stepped", "day_closed"]);
    let Event::ClockStepped { offset_ms, .. } = desk.log[seq as usize].event else {
        panic!("no clock_stepped");
    };
    assert_eq!(
        offset_ms,
        desk.now.duration_since(expected).as_millis() as i64
    );
    let state = desk.engine.state_view(desk.now);
    assert_eq!(
        state.clock_steps.first().map(|s| s.offset_ms),
        Some(offset_ms)
    );

    let e = desk.issue("tnmt");
    assert_eq!((e.number.as_str(), e.day), ("1004", MONDAY));
    desk.later_secs(2);
    let f = desk.issue("tnmt");
    assert_eq!(f.issued_at.duration_since(e.issued_at).as_secs(), 2);
    assert_eq!(desk.engine.state_view(desk.now).day, MONDAY);
    desk.at(1, "open");
    assert_eq!(ticket(desk.at(1, "call")).id, e.id, "issue order, not time");
    desk.at(1, "start");
    desk.later_secs(2);
    desk.at(1, "finish");
    let counter = desk.engine.counter_view(1, desk.now);
    assert_eq!((counter.served_today, counter.avg_service_s), (1, 2));

    // A service started before a step back and finished after counts zero, not negative.
    assert_eq!(ticket(desk.at(1, "call")).id, f.id);
    desk.at(1, "start");
    desk.later_secs(-600);
    desk.at(1, "finish");
    let counter = desk.engine.counter_view(1, desk.now);
    assert_eq!(counter.served_today, 2);
    assert_eq!(counter.avg_service_s, 1, "(2 + 0) / 2");

    // Tuesday really comes: its numbering continues after the two issued early.
    desk.now = local(TUESDAY, 8, 0);
    let t = desk.issue("tnmt");
    assert_eq!((t.number.as_str(), t.day), ("1003", TUESDAY));
}

/// A snapshot written before numbering was kept per day (`next_number` for the live day)
/// restores with the live day's numbering, and the log of that time (ratings without `by`)
/// still decodes.
#[test]
fn snapshots_and_events_of_older_versions_still_load() {
    let mut desk = Desk::new();
    desk.issue("tnmt");
    desk.issue("tnmt");
    let mut snapshot: serde_json::Value = serde_json::from_slice(&desk.engine.snapshot()).unwrap();
    let object = snapshot.as_object_mut().unwrap();
    object.remove("numbers");
    object.remove("clock_steps");
    object.remove("closed_at");
    object.insert("next_number".into(), serde_json::json!({ "tnmt": 3 }));
    let mut old = Engine::from_snapshot(&serde_json::to_vec(&snapshot).unwrap()).unwrap();
    let out = old.handle(
        Command::Issue {
            service: "tnmt".into(),
            priority: None,
            request_id: None,
            credential: "kiosk".into(),
            by: "kiosk".into(),
        },
        desk.now,
    );
    assert_eq!(ticket(out.result.unwrap()).number, "1003");

    let rated = r#"{"seq":9,"at":"2025-03-03T02:00:00Z","event":{"kind":"ticket_rated",
        "ticket":{"id":1,"number":"1001","service":"tnmt"},"counter":1,"staff":"nv1","score":5}}"#;
    let rec: Recorded = serde_json::from_str(rated).unwrap();
    assert!(matches!(
        rec.event,
        Event::TicketRated {
            by: None,
            correction: false,
            ..
        }
    ));
}

/// A clock a few seconds behind midnight (no step noted) keeps the new business day: its
/// tickets stay, and the next ones continue its numbers.
#[test]
fn a_few_seconds_back_across_midnight_keeps_the_day() {
    let mut desk = Desk::new();
    desk.now = local(TUESDAY, 0, 0) + SignedDuration::from_secs(1);
    let first = desk.issue("tnmt");
    assert_eq!((first.number.as_str(), first.day), ("1001", TUESDAY));
    desk.now = local(TUESDAY, 0, 0) - SignedDuration::from_secs(2);
    let seq = desk.engine.seq();
    let second = desk.issue("tnmt");
    assert_eq!((second.number.as_str(), second.day), ("1002", TUESDAY));
    assert_eq!(desk.engine.seq(), seq + 1, "nothing closed");
    assert_eq!(
        desk.engine.ticket(first.id).map(|t| t.status),
        Some(luot_shared::TicketStatus::Waiting)
    );
}
