//! Attacks on the rating of a ticket finished just before the business day closed: who may
//! rate it, when, how often, and that replaying the log or restoring a snapshot gives the
//! same state; plus the lookup the province hub's projection makes for the rated ticket.

#![allow(clippy::unwrap_used)]

use jiff::civil::{self, Date, Time};
use jiff::{SignedDuration, Timestamp};
use luot_shared::engine::{Rater, Reply};
use luot_shared::protocol::TicketView;
use luot_shared::{
    CenterConfig, Command, CounterId, DomainError, Engine, Event, Recorded, TicketId,
};

const TZ: &str = "Asia/Ho_Chi_Minh";
const MONDAY: Date = civil::date(2025, 3, 3);
const TUESDAY: Date = civil::date(2025, 3, 4);

fn local(day: Date, h: i8, m: i8) -> Timestamp {
    day.at(h, m, 0, 0).in_tz(TZ).unwrap().timestamp()
}

/// The default center on a virtual clock, keeping its log.
struct Desk {
    engine: Engine,
    now: Timestamp,
    log: Vec<Recorded>,
}

impl Desk {
    fn new(config: CenterConfig, now: Timestamp) -> Desk {
        let mut desk = Desk {
            engine: Engine::new(),
            now,
            log: Vec::new(),
        };
        desk.ok(Command::Configure {
            config: Box::new(config),
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

    fn at(&mut self, counter: CounterId, action: &str) -> Reply {
        let staff = format!("nv{counter}");
        self.ok(match action {
            "open" => Command::Open { counter, staff },
            "call" => Command::CallNext { counter, staff },
            "finish" => Command::Finish { counter, staff },
            other => panic!("no action {other}"),
        })
    }

    fn issue(&mut self, service: &str) -> TicketView {
        match self.ok(Command::Issue {
            service: service.into(),
            priority: None,
            request_id: None,
            credential: "kiosk".into(),
            by: "kiosk".into(),
        }) {
            Reply::Ticket { ticket, .. } => *ticket,
            other => panic!("expected a ticket, got {other:?}"),
        }
    }

    /// Issues a ticket of `service` and serves it to the end at `counter`.
    fn served(&mut self, service: &str, counter: CounterId) -> TicketId {
        let t = self.issue(service);
        self.at(counter, "open");
        self.at(counter, "call");
        self.at(counter, "finish");
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

    fn tick(&mut self) {
        self.ok(Command::Tick);
    }

    fn closes(&self) -> usize {
        self.log
            .iter()
            .filter(|r| matches!(r.event, Event::DayClosed { .. }))
            .count()
    }

    /// The log folded from scratch.
    fn replayed(&self) -> Engine {
        let mut engine = Engine::new();
        for rec in &self.log {
            engine.apply(rec).unwrap();
        }
        engine
    }
}

fn device(counter: CounterId) -> Rater {
    Rater::Device {
        name: format!("rate-{counter}"),
        counter: Some(counter),
    }
}

fn ticket(reply: Reply) -> TicketView {
    match reply {
        Reply::Ticket { ticket, .. } => *ticket,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

/// A Monday center that closes at local midnight, with a ticket finished at counter 1 at
/// 23:55 and the day closed by a tick at 00:00:30.
fn closed_at_midnight() -> (Desk, TicketId) {
    let mut desk = Desk::new(CenterConfig::default(), local(MONDAY, 23, 50));
    desk.now = local(MONDAY, 23, 55);
    let id = desk.served("tnmt", 1);
    desk.now = local(TUESDAY, 0, 0) + SignedDuration::from_secs(30);
    desk.tick();
    assert_eq!(desk.closes(), 1, "the tick closed Monday");
    (desk, id)
}

/// A late rating is taken once by counter 1's device, refused to counter 2's device, to staff
/// and (for a second time) to counter 1's; it opens no day, records no further close, and
/// Tuesday's first ticket is still number 1 of Tuesday.
#[test]
fn a_late_rating_is_taken_once_from_the_right_device_and_opens_no_day() {
    let (mut desk, id) = closed_at_midnight();
    desk.now += SignedDuration::from_secs(60);
    let before = desk.engine.seq();
    assert!(matches!(
        desk.rate(id, device(2)),
        Err(DomainError::WrongRatingDevice(_))
    ));
    assert!(matches!(
        desk.rate(id, Rater::Staff { name: "nv1".into() }),
        Err(DomainError::StaffCannotRate)
    ));
    assert_eq!(desk.engine.seq(), before, "refusals record nothing");
    let rated = ticket(desk.rate(id, device(1)).unwrap());
    assert_eq!(rated.id, id);
    assert!(matches!(
        desk.rate(id, device(1)),
        Err(DomainError::AlreadyRated(_))
    ));
    desk.tick();
    assert_eq!(desk.closes(), 1, "the rating opened no day to close again");
    let view = desk.engine.state_view(desk.now);
    assert_eq!(view.day, TUESDAY);
    desk.now = local(TUESDAY, 7, 30);
    let first = desk.issue("tnmt");
    assert_eq!(first.day, TUESDAY);
    let numbers_of_tuesday = desk.engine.tickets().filter(|t| t.day == TUESDAY).count();
    assert_eq!(numbers_of_tuesday, 1);
    assert!(
        first.number.ends_with('1'),
        "Tuesday starts at 1: {}",
        first.number
    );
}

/// Past the rating window (10 minutes from the finish) a late rating is refused, as it is
/// during the day.
#[test]
fn a_late_rating_after_the_window_is_refused() {
    let (mut desk, id) = closed_at_midnight();
    desk.now = local(MONDAY, 23, 55) + SignedDuration::from_secs(10 * 60 + 1);
    assert!(matches!(
        desk.rate(id, device(1)),
        Err(DomainError::RatingWindowClosed(_))
    ));
}

/// A ticket finished long before the close, or rated before it, is not rateable after it.
#[test]
fn only_recent_unrated_tickets_stay_rateable() {
    let mut desk = Desk::new(CenterConfig::default(), local(MONDAY, 8, 0));
    let early = desk.served("tnmt", 1);
    desk.now = local(MONDAY, 23, 58);
    let rated = desk.served("tnmt", 1);
    ticket(desk.rate(rated, device(1)).unwrap());
    desk.now = local(TUESDAY, 0, 1);
    desk.tick();
    assert!(desk.rate(early, device(1)).is_err());
    assert!(matches!(
        desk.rate(rated, device(1)),
        Err(DomainError::UnknownTicket(_) | DomainError::AlreadyRated(_))
    ));
}

/// Replaying the log, and restoring a snapshot taken between the close and the rating then
/// rating on it, end in the same state as the engine that ran it all.
#[test]
fn replay_and_snapshot_restore_agree_on_a_late_rating() {
    let (mut desk, id) = closed_at_midnight();
    let snapshot = desk.engine.snapshot();
    let mark = desk.log.len();
    desk.now += SignedDuration::from_secs(60);
    ticket(desk.rate(id, device(1)).unwrap());
    assert_eq!(desk.replayed().snapshot(), desk.engine.snapshot());

    let mut restored = Engine::from_snapshot(&snapshot).unwrap();
    for rec in &desk.log[mark..] {
        restored.apply(rec).unwrap();
    }
    assert_eq!(restored.snapshot(), desk.engine.snapshot());

    // A restored engine that was not told of the rating takes it itself, and only once.
    let mut fresh = Engine::from_snapshot(&snapshot).unwrap();
    let out = fresh.handle(
        Command::Rate {
            ticket: id,
            score: 4,
            reason: None,
            rater: device(1),
        },
        desk.now,
    );
    assert!(out.result.is_ok(), "{:?}", out.result);
    let again = fresh.handle(
        Command::Rate {
            ticket: id,
            score: 4,
            reason: None,
            rater: device(1),
        },
        desk.now,
    );
    assert!(matches!(again.result, Err(DomainError::AlreadyRated(_))));
}

/// With a closing hour, the day closes at 17:00; a clock stepped back to 16:59 and running
/// past 17:00 again must not take away the rating of the ticket finished at 16:58.
#[test]
fn a_second_close_after_a_clock_step_keeps_the_late_ticket_rateable() {
    let mut config = CenterConfig::default();
    config.center.close = Some(Time::constant(17, 0, 0, 0));
    let mut desk = Desk::new(config, local(MONDAY, 16, 50));
    desk.now = local(MONDAY, 16, 58);
    let id = desk.served("tnmt", 1);
    desk.now = local(MONDAY, 17, 0) + SignedDuration::from_secs(10);
    desk.tick();
    assert_eq!(desk.closes(), 1);
    let expected = desk.now;
    desk.now = local(MONDAY, 16, 59);
    desk.ok(Command::NoteClockStep { expected });
    desk.now = local(MONDAY, 17, 1);
    desk.tick();
    desk.now = local(MONDAY, 17, 2);
    let rated = desk.rate(id, device(1));
    assert!(rated.is_ok(), "closes {}: {rated:?}", desk.closes());
    assert_eq!(desk.replayed().snapshot(), desk.engine.snapshot());
}

/// An admin's correction of a late-rated ticket is recorded as a correction and the device
/// cannot rate it again afterwards.
#[test]
fn an_admin_correction_after_the_close_is_a_correction() {
    let (mut desk, id) = closed_at_midnight();
    desk.now += SignedDuration::from_secs(60);
    ticket(desk.rate(id, device(1)).unwrap());
    ticket(
        desk.rate(
            id,
            Rater::Admin {
                name: "admin".into(),
            },
        )
        .unwrap(),
    );
    let last = desk.log.last().unwrap();
    assert!(matches!(
        last.event,
        Event::TicketRated {
            correction: true,
            ..
        }
    ));
    assert!(matches!(
        desk.rate(id, device(1)),
        Err(DomainError::AlreadyRated(_))
    ));
}

/// The province hub's projection folds each event into the site's engine and writes the row
/// of the ticket it touched as `Engine::ticket` gives it (server/src/hub/project.rs, `fold`):
/// after a late rating that lookup must give the rated ticket, or the hub never records it.
#[test]
fn the_hubs_lookup_finds_a_late_rated_ticket() {
    let (mut desk, id) = closed_at_midnight();
    desk.now += SignedDuration::from_secs(60);
    ticket(desk.rate(id, device(1)).unwrap());
    let hub = desk.replayed();
    let t = hub.ticket(id).expect("the hub finds the rated ticket");
    assert_eq!(t.rating, Some(4));
}

/// Midnight closes Monday with a ticket finished at 23:55 still to rate; the clock is then
/// found 2½ minutes ahead and stepped back, a citizen takes a ticket (Monday opens again), and
/// midnight closes Monday a second time: the 23:55 ticket is still within its window and
/// must stay rateable.
#[test]
fn a_second_close_of_the_same_day_keeps_the_first_ones_rateable() {
    let (mut desk, id) = closed_at_midnight();
    let expected = desk.now;
    desk.now = local(MONDAY, 23, 58);
    desk.ok(Command::NoteClockStep { expected });
    desk.issue("tnmt");
    desk.now = local(TUESDAY, 0, 0) + SignedDuration::from_secs(10);
    desk.tick();
    assert_eq!(desk.closes(), 2, "Monday closed again");
    desk.now = local(TUESDAY, 0, 1);
    let rated = desk.rate(id, device(1));
    assert!(rated.is_ok(), "{rated:?}");
}
