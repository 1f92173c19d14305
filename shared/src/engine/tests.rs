//! Unit tests of the engine on a virtual clock: every instant is built from a civil time in
//! the center's zone, never read from the wall clock.

#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use jiff::civil::{self, Date};

use super::{Command, DomainError, Engine, Outcome, Rater, Reply};
use crate::domain::{
    CallingMode, CenterConfig, CounterConfig, CounterId, Priority, PriorityMode, PriorityPolicy,
    ServiceField, TicketId, TicketStatus,
};
use crate::protocol::{Event, Recorded, TicketView};

const TZ: &str = "Asia/Ho_Chi_Minh";
/// A Monday; the tests' first business day.
const MONDAY: Date = civil::date(2025, 3, 3);
const TUESDAY: Date = civil::date(2025, 3, 4);

/// The instant of `h:m` on `day` in the center's zone.
fn local(day: Date, h: i8, m: i8) -> Timestamp {
    day.at(h, m, 0, 0).in_tz(TZ).unwrap().timestamp()
}

fn staff(counter: CounterId) -> String {
    format!("nv{counter}")
}

fn open(counter: CounterId) -> Command {
    Command::Open {
        counter,
        staff: staff(counter),
    }
}

fn close(counter: CounterId) -> Command {
    Command::Close {
        counter,
        staff: staff(counter),
    }
}

fn call_next(counter: CounterId) -> Command {
    Command::CallNext {
        counter,
        staff: staff(counter),
    }
}

fn recall(counter: CounterId) -> Command {
    Command::Recall {
        counter,
        staff: staff(counter),
    }
}

fn start(counter: CounterId) -> Command {
    Command::Start {
        counter,
        staff: staff(counter),
    }
}

fn finish(counter: CounterId) -> Command {
    Command::Finish {
        counter,
        staff: staff(counter),
    }
}

fn no_show(counter: CounterId) -> Command {
    Command::NoShow {
        counter,
        staff: staff(counter),
    }
}

fn transfer(
    counter: CounterId,
    to_service: Option<&str>,
    to_counter: Option<CounterId>,
) -> Command {
    Command::Transfer {
        counter,
        to_service: to_service.map(str::to_owned),
        to_counter,
        staff: staff(counter),
    }
}

fn issue(service: &str, priority: Option<Priority>, request_id: Option<&str>) -> Command {
    Command::Issue {
        service: service.to_owned(),
        priority,
        request_id: request_id.map(str::to_owned),
        credential: "kiosk-1".to_owned(),
        by: "kiosk".to_owned(),
    }
}

/// The rating device paired to `counter`.
fn device(counter: CounterId) -> Rater {
    Rater::Device {
        name: format!("rating-{counter}"),
        counter: Some(counter),
    }
}

fn configure(config: CenterConfig) -> Command {
    Command::Configure {
        config: Box::new(config),
        by: "admin".to_owned(),
    }
}

fn service(id: &str, prefix: &str) -> ServiceField {
    ServiceField {
        id: id.to_owned(),
        name: format!("Lĩnh vực {id}"),
        prefix: prefix.to_owned(),
        start: 1,
        target_wait_min: 15,
        service_min: 8,
    }
}

fn counter(id: CounterId, services: &[&str], mode: CallingMode) -> CounterConfig {
    CounterConfig {
        id,
        name: format!("Quầy {id}"),
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        mode,
    }
}

/// A center with the given services and counters, default settings otherwise.
fn center(services: Vec<ServiceField>, counters: Vec<CounterConfig>) -> CenterConfig {
    CenterConfig {
        services,
        counters,
        ..CenterConfig::default()
    }
}

/// One service `a` (prefix `A`) at counter 1, with the given priority policy.
fn one_queue(mode: PriorityMode, interleave: u32, escalate_after_min: u32) -> CenterConfig {
    let mut config = center(
        vec![service("a", "A")],
        vec![counter(1, &["a"], CallingMode::Oldest)],
    );
    config.center.priority = PriorityPolicy {
        mode,
        interleave,
        escalate_after_min,
    };
    config
}

fn kinds(events: &[Recorded]) -> Vec<&'static str> {
    events.iter().map(|r| r.event.kind()).collect()
}

/// An engine driven on a virtual clock, keeping every event it recorded.
struct Desk {
    engine: Engine,
    now: Timestamp,
    log: Vec<Recorded>,
}

impl Desk {
    /// The default center at 08:00 on Monday.
    fn new() -> Desk {
        Desk {
            engine: Engine::new(),
            now: local(MONDAY, 8, 0),
            log: Vec::new(),
        }
    }

    /// `config` in force at 07:00 on Monday, every counter open.
    fn with(config: CenterConfig) -> Desk {
        let mut desk = Desk::new();
        desk.now = local(MONDAY, 7, 0);
        let ids: Vec<CounterId> = config.counters.iter().map(|c| c.id).collect();
        desk.ok(configure(config));
        for id in ids {
            desk.ok(open(id));
        }
        desk
    }

    fn set(&mut self, day: Date, h: i8, m: i8) {
        self.now = local(day, h, m);
    }

    fn later(&mut self, minutes: i64) {
        self.now = self
            .now
            .checked_add(jiff::SignedDuration::from_mins(minutes))
            .unwrap();
    }

    fn handle(&mut self, command: Command) -> Outcome {
        let out = self.engine.handle(command, self.now);
        self.log.extend(out.events.iter().cloned());
        out
    }

    /// Handles a command that must succeed; returns its reply and events.
    fn ok(&mut self, command: Command) -> (Reply, Vec<Recorded>) {
        let described = format!("{command:?}");
        let out = self.handle(command);
        match out.result {
            Ok(reply) => (reply, out.events),
            Err(e) => panic!("{described} was refused: {e}"),
        }
    }

    /// Handles a command that must be refused, checking it recorded nothing and left the
    /// snapshot byte for byte as it was.
    fn refuse(&mut self, command: Command) -> DomainError {
        let before = self.engine.snapshot();
        let described = format!("{command:?}");
        let out = self.handle(command);
        assert!(
            out.events.is_empty(),
            "{described} recorded {:?}",
            kinds(&out.events)
        );
        assert!(
            before == self.engine.snapshot(),
            "{described} changed the state"
        );
        match out.result {
            Err(e) => e,
            Ok(reply) => panic!("{described} was accepted: {reply:?}"),
        }
    }

    fn issue(&mut self, service: &str) -> TicketView {
        self.issue_as(service, None)
    }

    fn issue_as(&mut self, service: &str, priority: Option<Priority>) -> TicketView {
        match self.ok(issue(service, priority, None)).0 {
            Reply::Ticket { ticket, .. } => *ticket,
            other => panic!("issue answered {other:?}"),
        }
    }

    /// Calls next at `counter`; the called ticket, or `None` when nobody waits.
    fn call(&mut self, counter: CounterId) -> Option<TicketView> {
        match self.ok(call_next(counter)).0 {
            Reply::Ticket { ticket, .. } => Some(*ticket),
            Reply::NobodyWaiting => None,
            other => panic!("call-next answered {other:?}"),
        }
    }

    /// Calls next at `counter` and returns the called number.
    fn call_number(&mut self, counter: CounterId) -> String {
        self.call(counter)
            .map(|t| t.number)
            .unwrap_or_else(|| panic!("nobody waits at counter {counter}"))
    }

    fn status(&self, id: TicketId) -> TicketStatus {
        self.engine.ticket(id).unwrap().status
    }
}

// --- A citizen's path -------------------------------------------------------------------

/// A whole visit records issued, called, serving, finished and rated, in that seq order.
#[test]
fn full_visit_records_each_step_in_seq_order() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let first = desk.engine.seq() + 1;
    let t = desk.issue("tnmt");
    desk.later(2);
    desk.ok(call_next(1));
    desk.later(1);
    desk.ok(start(1));
    desk.later(6);
    desk.ok(finish(1));
    desk.ok(Command::Rate {
        ticket: t.id,
        score: 5,
        reason: None,
        rater: device(1),
    });

    let visit: Vec<Recorded> = desk
        .log
        .iter()
        .filter(|r| r.seq >= first)
        .cloned()
        .collect();
    assert_eq!(
        kinds(&visit),
        [
            "ticket_issued",
            "ticket_called",
            "ticket_serving",
            "ticket_finished",
            "ticket_rated"
        ]
    );
    let seqs: Vec<u64> = desk.log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=desk.engine.seq()).collect::<Vec<_>>());
    let done = desk.engine.ticket(t.id).unwrap();
    assert_eq!(done.status, TicketStatus::Done);
    assert_eq!(done.rating, Some(5));
    assert_eq!(done.first_called_at, Some(local(MONDAY, 8, 2)));
    assert_eq!(done.started_at, Some(local(MONDAY, 8, 3)));
    assert_eq!(done.finished_at, Some(local(MONDAY, 8, 9)));
}

/// Call-next while the counter holds a ticket finishes it first, then calls the next one.
#[test]
fn call_next_finishes_the_held_ticket_before_calling() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let first = desk.issue("tnmt");
    let second = desk.issue("tnmt");
    desk.call(1);
    let (reply, events) = desk.ok(call_next(1));
    assert_eq!(kinds(&events), ["ticket_finished", "ticket_called"]);
    assert!(
        matches!(&events[0].event, Event::TicketFinished { ticket, .. } if ticket.id == first.id)
    );
    assert!(matches!(reply, Reply::Ticket { ticket, .. } if ticket.id == second.id));
    assert_eq!(desk.status(first.id), TicketStatus::Done);
}

fn expect(current: Option<TicketId>, then: Command) -> Command {
    Command::Expect {
        current,
        then: Box::new(then),
    }
}

/// A command naming the ticket it expects acts when the counter holds exactly that one, and
/// is refused, changing nothing, when the counter holds another one or none.
#[test]
fn an_expected_ticket_guards_every_counter_action() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let first = desk.issue("tnmt");
    let second = desk.issue("tnmt");
    desk.ok(expect(None, call_next(1)));
    // Someone else called the next citizen meanwhile: a finish, no-show, recall, start,
    // transfer or call-next aimed at `first` must not land on `second`.
    desk.ok(call_next(1));
    for then in [
        finish(1),
        no_show(1),
        recall(1),
        start(1),
        call_next(1),
        transfer(1, Some("tp"), None),
    ] {
        let e = desk.refuse(expect(Some(first.id), then));
        assert!(
            matches!(&e, DomainError::TicketChanged(m) if m.contains(&second.number)),
            "{e}"
        );
        assert_eq!(e.code(), "ticket_changed");
    }
    assert!(matches!(
        desk.refuse(expect(None, call_next(1))),
        DomainError::TicketChanged(_)
    ));
    assert!(matches!(
        desk.refuse(expect(None, close(1))),
        DomainError::TicketChanged(_)
    ));
    assert_eq!(desk.status(second.id), TicketStatus::Called);
    desk.ok(expect(Some(second.id), finish(1)));
    assert_eq!(desk.status(second.id), TicketStatus::Done);
    // The counter now holds nothing: an action aimed at the finished ticket is refused.
    assert!(matches!(
        desk.refuse(expect(Some(second.id), no_show(1))),
        DomainError::TicketChanged(m) if m.contains("no longer holds")
    ));
    desk.ok(expect(None, close(1)));
}

/// Only a counter's command can name the ticket it expects, and the counter must exist.
#[test]
fn an_expectation_wraps_only_a_counter_command() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    assert!(matches!(
        desk.refuse(expect(None, issue("tnmt", None, None))),
        DomainError::Invalid(_)
    ));
    assert!(matches!(
        desk.refuse(expect(None, expect(None, call_next(1)))),
        DomainError::Invalid(_)
    ));
    assert_eq!(
        desk.refuse(expect(None, call_next(99))),
        DomainError::UnknownCounter(99)
    );
}

/// Call-next on an empty queue answers nobody-waiting, still finishing a held ticket.
#[test]
fn call_next_on_an_empty_queue_answers_nobody_waiting() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let (reply, events) = desk.ok(call_next(1));
    assert_eq!(reply, Reply::NobodyWaiting);
    assert!(events.is_empty());

    let t = desk.issue("tnmt");
    desk.call(1);
    let (reply, events) = desk.ok(call_next(1));
    assert_eq!(reply, Reply::NobodyWaiting);
    assert_eq!(kinds(&events), ["ticket_finished"]);
    assert_eq!(desk.status(t.id), TicketStatus::Done);
    assert!(desk.engine.holder_of(t.id).is_empty());
}

/// Call-next at a closed counter is refused, whether it never opened or closed since.
#[test]
fn call_next_at_a_closed_counter_is_refused() {
    let mut desk = Desk::new();
    desk.issue("tnmt");
    assert_eq!(desk.refuse(call_next(1)), DomainError::CounterClosed(1));
    desk.ok(open(1));
    desk.ok(close(1));
    assert_eq!(desk.refuse(call_next(1)), DomainError::CounterClosed(1));
    assert_eq!(desk.refuse(call_next(42)), DomainError::UnknownCounter(42));
}

/// Recall, start, finish, no-show and transfer need a current ticket.
#[test]
fn actions_without_a_current_ticket_are_refused() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    desk.issue("tnmt");
    for command in [
        recall(1),
        start(1),
        finish(1),
        no_show(1),
        transfer(1, Some("tckh"), None),
    ] {
        assert_eq!(desk.refuse(command), DomainError::NoCurrentTicket(1));
    }
}

/// Recall repeats the call and counts it; start and no-show only apply to a called ticket.
#[test]
fn recall_counts_and_serving_ticket_cannot_be_recalled() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let t = desk.issue("tnmt");
    desk.call(1);
    let (_, events) = desk.ok(recall(1));
    assert!(
        matches!(&events[..], [r] if matches!(&r.event, Event::TicketCalled { recall: true, .. }))
    );
    assert_eq!(desk.engine.ticket(t.id).unwrap().recalls, 1);
    desk.ok(start(1));
    assert!(matches!(desk.refuse(recall(1)), DomainError::Conflict(_)));
    assert!(matches!(desk.refuse(no_show(1)), DomainError::Conflict(_)));
    assert!(matches!(desk.refuse(start(1)), DomainError::Conflict(_)));
}

/// Two counters calling in turn get different tickets of a shared service.
#[test]
fn two_counters_never_get_the_same_ticket() {
    let mut desk = Desk::with(center(
        vec![service("a", "A")],
        vec![
            counter(1, &["a"], CallingMode::Oldest),
            counter(2, &["a"], CallingMode::Oldest),
        ],
    ));
    desk.issue("a");
    desk.issue("a");
    let one = desk.call_number(1);
    let two = desk.call_number(2);
    assert_eq!((one.as_str(), two.as_str()), ("A001", "A002"));
    assert_eq!(desk.call(1), None);
}

// --- Numbering and the business day ---------------------------------------------------

/// Numbers are prefix plus three digits from 001: field 1's fifth ticket is 1005.
#[test]
fn default_numbering_makes_field_one_fifth_ticket_1005() {
    let mut desk = Desk::new();
    let numbers: Vec<String> = (0..5).map(|_| desk.issue("tnmt").number).collect();
    assert_eq!(numbers, ["1001", "1002", "1003", "1004", "1005"]);
    assert_eq!(desk.issue("tphc").number, "9001");
    assert_eq!(desk.issue("tnmt").number, "1006");
}

/// Numbering starts at the service's configured `start`.
#[test]
fn numbering_starts_at_the_configured_start() {
    let mut a = service("a", "HT");
    a.start = 42;
    let mut desk = Desk::with(center(
        vec![a],
        vec![counter(1, &["a"], CallingMode::Oldest)],
    ));
    assert_eq!(desk.issue("a").number, "HT042");
    assert_eq!(desk.issue("a").number, "HT043");
}

/// A service that has issued 999 refuses further numbers for the day.
#[test]
fn numbers_run_out_at_999() {
    let mut a = service("a", "A");
    a.start = 999;
    let mut desk = Desk::with(center(
        vec![a],
        vec![counter(1, &["a"], CallingMode::Oldest)],
    ));
    assert_eq!(desk.issue("a").number, "A999");
    assert_eq!(
        desk.refuse(issue("a", None, None)),
        DomainError::NumbersExhausted("a".into())
    );
}

/// The day's close expires the tickets still open and leaves a no-show a no-show (the one
/// lifecycle rule the reports follow too); every ticket carries the estimate it was given.
#[test]
fn the_close_leaves_no_shows_alone() {
    let mut desk = Desk::new();
    desk.set(MONDAY, 16, 0);
    desk.ok(open(1));
    desk.issue("tnmt");
    let waiting = desk.issue("tnmt");
    desk.call(1);
    desk.ok(no_show(1));
    assert!(desk.engine.tickets().all(|t| t.estimated_wait_s.is_some()));
    desk.set(TUESDAY, 0, 5);
    let out = desk.handle(issue("tnmt", None, None));
    match &out.events[0].event {
        Event::DayClosed { expired, .. } => {
            let ids: Vec<TicketId> = expired.iter().map(|t| t.id).collect();
            assert_eq!(ids, [waiting.id]);
        }
        other => panic!("expected day_closed, got {other:?}"),
    }
}

/// Numbering restarts at local midnight, and tickets left waiting expire with the day.
#[test]
fn numbering_restarts_at_local_midnight() {
    let mut desk = Desk::new();
    desk.set(MONDAY, 23, 50);
    let waiting = desk.issue("tnmt");
    desk.issue("tnmt");
    desk.set(TUESDAY, 0, 5);
    let out = desk.handle(issue("tnmt", None, None));
    assert_eq!(kinds(&out.events), ["day_closed", "ticket_issued"]);
    match &out.events[0].event {
        Event::DayClosed { day, expired } => {
            assert_eq!(*day, MONDAY);
            assert_eq!(expired.len(), 2);
            assert!(expired.iter().any(|t| t.id == waiting.id));
        }
        other => panic!("expected day_closed, got {other:?}"),
    }
    match out.result.unwrap() {
        Reply::Ticket { ticket, .. } => {
            assert_eq!(ticket.number, "1001");
            assert_eq!(ticket.day, TUESDAY);
        }
        other => panic!("issue answered {other:?}"),
    }
    assert!(desk.engine.ticket(waiting.id).is_none());
}

/// Midnight UTC (07:00 in Hà Nội) is not a business-day boundary.
#[test]
fn utc_midnight_does_not_restart_numbering() {
    let mut desk = Desk::new();
    desk.set(MONDAY, 6, 50);
    assert_eq!(desk.issue("tnmt").number, "1001");
    desk.set(MONDAY, 7, 10);
    let out = desk.handle(issue("tnmt", None, None));
    assert_eq!(kinds(&out.events), ["ticket_issued"]);
    assert!(matches!(out.result, Ok(Reply::Ticket { ticket, .. }) if ticket.number == "1002"));
}

/// A center in another zone starts a new day at that zone's midnight, even if configured first.
#[test]
fn configured_zone_defines_the_business_day() {
    let mut config = CenterConfig::default();
    config.center.timezone = "UTC".into();
    let mut engine = Engine::new();
    // 20:00 UTC on Monday is already Tuesday 03:00 in Hà Nội.
    let evening: Timestamp = "2025-03-03T20:00:00Z".parse().unwrap();
    assert!(engine.handle(configure(config), evening).result.is_ok());
    let first = engine.handle(issue("tnmt", None, None), evening);
    assert!(
        matches!(first.result, Ok(Reply::Ticket { ticket, .. }) if ticket.number == "1001" && ticket.day == MONDAY)
    );

    let morning: Timestamp = "2025-03-04T01:00:00Z".parse().unwrap();
    let next = engine.handle(issue("tnmt", None, None), morning);
    assert_eq!(kinds(&next.events), ["day_closed", "ticket_issued"]);
    assert!(
        matches!(next.result, Ok(Reply::Ticket { ticket, .. }) if ticket.number == "1001" && ticket.day == TUESDAY)
    );
}

/// The closing hour closes the day: waiting tickets expire, counters close, issuing stops.
#[test]
fn closing_hour_closes_the_day() {
    let mut config = CenterConfig::default();
    config.center.close = Some(civil::time(17, 0, 0, 0));
    let mut desk = Desk::with(config);
    desk.set(MONDAY, 16, 0);
    let served = desk.issue("tnmt");
    let waiting = desk.issue("tnmt");
    desk.call(1);
    desk.ok(finish(1));

    desk.set(MONDAY, 16, 59);
    assert!(desk.ok(Command::Tick).1.is_empty());
    desk.set(MONDAY, 17, 0);
    let (_, events) = desk.ok(Command::Tick);
    match &events[..] {
        [
            Recorded {
                event: Event::DayClosed { day, expired },
                ..
            },
        ] => {
            assert_eq!(*day, MONDAY);
            let ids: Vec<TicketId> = expired.iter().map(|t| t.id).collect();
            assert_eq!(ids, [waiting.id]);
            assert!(!ids.contains(&served.id));
        }
        other => panic!("expected one day_closed, got {:?}", kinds(other)),
    }
    let view = desk.engine.state_view(desk.now);
    assert!(view.counters.iter().all(|c| !c.open));
    assert!(!view.issuing);

    desk.later(30);
    assert!(matches!(
        desk.refuse(issue("tnmt", None, None)),
        DomainError::IssuingClosed(_)
    ));
    desk.set(TUESDAY, 8, 0);
    assert_eq!(desk.issue("tnmt").number, "1001");
}

/// After a day left open overnight, the next day's closing hour still stops issuing.
#[test]
fn closing_hour_holds_on_the_day_after_an_unclosed_day() {
    let mut config = CenterConfig::default();
    config.center.close = Some(civil::time(17, 0, 0, 0));
    let mut desk = Desk::with(config);
    desk.set(MONDAY, 9, 0);
    desk.issue("tnmt");
    desk.set(TUESDAY, 18, 0);
    let out = desk.handle(issue("tnmt", None, None));
    assert_eq!(kinds(&out.events), ["day_closed"]);
    assert!(
        matches!(out.result, Err(DomainError::IssuingClosed(_))),
        "issued after the closing hour: {:?}",
        out.result
    );
}

/// Issuing is refused before `open` and from `issue_until` on.
#[test]
fn issuing_hours_are_enforced() {
    let mut config = CenterConfig::default();
    config.center.open = Some(civil::time(7, 30, 0, 0));
    config.center.issue_until = Some(civil::time(16, 30, 0, 0));
    let mut desk = Desk::with(config);
    desk.set(MONDAY, 7, 29);
    assert!(matches!(
        desk.refuse(issue("tnmt", None, None)),
        DomainError::IssuingClosed(_)
    ));
    assert!(!desk.engine.state_view(desk.now).issuing);
    desk.set(MONDAY, 7, 30);
    assert_eq!(desk.issue("tnmt").number, "1001");
    desk.set(MONDAY, 16, 29);
    assert_eq!(desk.issue("tnmt").number, "1002");
    desk.set(MONDAY, 16, 30);
    assert!(matches!(
        desk.refuse(issue("tnmt", None, None)),
        DomainError::IssuingClosed(_)
    ));
    let view = desk.engine.state_view(desk.now);
    assert!(!view.issuing);
    assert!(view.issuing_note.is_some());
}

// --- Issuing ---------------------------------------------------------------------------

/// A repeated request id returns the same ticket and records nothing.
#[test]
fn issue_with_the_same_request_id_is_idempotent() {
    let mut desk = Desk::new();
    let (first, events) = desk.ok(issue("tnmt", None, Some("kiosk-1/0001")));
    assert_eq!(kinds(&events), ["ticket_issued"]);
    let Reply::Ticket {
        ticket: first,
        created: true,
    } = first
    else {
        panic!("first issue answered {first:?}");
    };
    let seq = desk.engine.seq();
    let snapshot = desk.engine.snapshot();
    let (again, events) = desk.ok(issue("tnmt", None, Some("kiosk-1/0001")));
    assert!(events.is_empty());
    assert_eq!(desk.engine.seq(), seq);
    assert!(snapshot == desk.engine.snapshot());
    let Reply::Ticket {
        ticket: again,
        created: false,
    } = again
    else {
        panic!("repeated issue answered {again:?}");
    };
    assert_eq!((again.id, again.number.as_str()), (first.id, "1001"));
    assert_eq!(desk.issue("tnmt").number, "1002");
}

/// A request id reused for another ticket, or malformed, is refused.
#[test]
fn issue_with_a_reused_or_malformed_request_id_is_refused() {
    let mut desk = Desk::new();
    desk.ok(issue("tnmt", None, Some("kiosk-1/0001")));
    assert!(matches!(
        desk.refuse(issue("tckh", None, Some("kiosk-1/0001"))),
        DomainError::Conflict(_)
    ));
    assert!(matches!(
        desk.refuse(issue("tnmt", Some(Priority::Elderly), Some("kiosk-1/0001"))),
        DomainError::Conflict(_)
    ));
    let too_long = "k".repeat(65);
    for key in ["", "tab\there", too_long.as_str()] {
        assert!(matches!(
            desk.refuse(issue("tnmt", None, Some(key))),
            DomainError::Invalid(_)
        ));
    }
}

/// Issuing for an unknown service is refused.
#[test]
fn issue_for_an_unknown_service_is_refused() {
    let mut desk = Desk::new();
    assert_eq!(
        desk.refuse(issue("thue", None, None)),
        DomainError::UnknownService("thue".into())
    );
}

/// Estimated wait = people ahead × mean service time ÷ open counters serving the service.
#[test]
fn estimate_is_ahead_times_mean_service_over_open_counters() {
    let mut desk = Desk::with(center(
        vec![service("a", "A")],
        vec![
            counter(1, &["a"], CallingMode::Oldest),
            counter(2, &["a"], CallingMode::Oldest),
        ],
    ));
    desk.set(MONDAY, 8, 0);
    for ahead in 0..3 {
        let t = desk.issue("a");
        assert_eq!(t.ahead, ahead);
        // Until the day has data, the configured 8 minutes per citizen.
        assert_eq!(t.estimated_wait_s, u64::from(ahead) * 480 / 2);
    }
    desk.ok(close(2));
    let fourth = desk.issue("a");
    assert_eq!((fourth.ahead, fourth.estimated_wait_s), (3, 3 * 480));

    desk.call(1);
    desk.later(1);
    desk.ok(start(1));
    desk.later(4);
    desk.ok(finish(1));
    // One service of 4 minutes so far; three are ahead of a new ticket.
    let fifth = desk.issue("a");
    assert_eq!((fifth.ahead, fifth.estimated_wait_s), (3, 3 * 240));
    let view = desk.engine.state_view(desk.now);
    let a = &view.services[0];
    assert_eq!((a.waiting, a.open_counters), (4, 1));
    assert_eq!(a.estimated_wait_s, 4 * 240);
    // A priority ticket waits only behind priority tickets.
    let urgent = desk.issue_as("a", Some(Priority::Pregnant));
    assert_eq!((urgent.ahead, urgent.estimated_wait_s), (0, 0));
}

// --- No-show, reinstate, transfer, cancel ----------------------------------------------

/// A reinstated no-show waits again in its place by issue time.
#[test]
fn reinstated_no_show_keeps_its_place_by_issue_time() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let first = desk.issue("tnmt");
    desk.later(5);
    let second = desk.issue("tnmt");
    desk.later(5);
    desk.call(1);
    desk.ok(recall(1));
    let (_, events) = desk.ok(no_show(1));
    assert_eq!(kinds(&events), ["ticket_no_show"]);
    assert_eq!(desk.status(first.id), TicketStatus::NoShow);
    assert!(desk.engine.holder_of(first.id).is_empty());
    assert!(matches!(
        desk.refuse(Command::Reinstate {
            ticket: second.id,
            staff: staff(1),
            counters: None,
        }),
        DomainError::Conflict(_)
    ));

    let (reply, _) = desk.ok(Command::Reinstate {
        ticket: first.id,
        staff: staff(1),
        counters: None,
    });
    assert!(
        matches!(reply, Reply::Ticket { ticket, .. } if ticket.status == TicketStatus::Waiting && ticket.ahead == 0)
    );
    let behind = desk.engine.ticket_view(second.id, desk.now);
    assert_eq!(behind.ahead, 1);
    assert_eq!(desk.call_number(1), "1001");
    assert_eq!(desk.call_number(1), "1002");
}

/// A ticket transferred to another service keeps its number and its place by issue time.
#[test]
fn transfer_to_a_service_keeps_number_and_place() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    desk.ok(open(2));
    let moved = desk.issue("tnmt");
    desk.later(5);
    desk.issue("tckh");
    desk.later(5);
    desk.call(1);
    desk.ok(start(1));
    let (reply, events) = desk.ok(transfer(1, Some("tckh"), None));
    assert!(
        matches!(&events[..], [r] if matches!(&r.event, Event::TicketTransferred { from_counter: Some(1), service, counter: None, .. } if service == "tckh"))
    );
    assert!(
        matches!(reply, Reply::Ticket { ticket, .. } if ticket.status == TicketStatus::Waiting && ticket.service == "tckh")
    );
    assert!(desk.engine.holder_of(moved.id).is_empty());
    assert_eq!(desk.call(1), None);
    let called = desk.call(2).unwrap();
    assert_eq!((called.id, called.number.as_str()), (moved.id, "1001"));
    assert_eq!(desk.call_number(2), "2001");
}

/// A ticket transferred to a named counter is called by that counter only, first.
#[test]
fn transfer_to_a_counter_only_that_counter_calls_it() {
    let mut desk = Desk::with(center(
        vec![service("a", "A"), service("b", "B")],
        vec![
            counter(1, &["a"], CallingMode::Oldest),
            counter(2, &["a"], CallingMode::Oldest),
            counter(3, &["b"], CallingMode::Oldest),
        ],
    ));
    desk.set(MONDAY, 8, 0);
    let moved = desk.issue("a");
    desk.call(1);
    desk.later(1);
    desk.issue("a");
    desk.ok(transfer(1, None, Some(3)));
    assert_eq!(desk.engine.ticket(moved.id).unwrap().for_counter, Some(3));
    // Counter 1 serves `a` but may not take a ticket named for counter 3.
    assert_eq!(desk.call_number(1), "A002");
    assert_eq!(desk.call(2), None);
    let called = desk.call(3).unwrap();
    assert_eq!((called.id, called.number.as_str()), (moved.id, "A001"));
}

/// Transfer needs a target, a known service and somewhere new to go.
#[test]
fn transfer_without_a_valid_target_is_refused() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    desk.issue("tnmt");
    desk.call(1);
    assert!(matches!(
        desk.refuse(transfer(1, None, None)),
        DomainError::Invalid(_)
    ));
    assert_eq!(
        desk.refuse(transfer(1, Some("thue"), None)),
        DomainError::UnknownService("thue".into())
    );
    assert_eq!(
        desk.refuse(transfer(1, None, Some(77))),
        DomainError::UnknownCounter(77)
    );
    assert!(matches!(
        desk.refuse(transfer(1, None, Some(1))),
        DomainError::Conflict(_)
    ));
}

/// Cancel withdraws a waiting ticket, and only a waiting one.
#[test]
fn cancel_withdraws_only_a_waiting_ticket() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let first = desk.issue("tnmt");
    let second = desk.issue("tnmt");
    let (_, events) = desk.ok(Command::Cancel {
        ticket: first.id,
        staff: staff(1),
        counters: None,
    });
    assert_eq!(kinds(&events), ["ticket_cancelled"]);
    assert_eq!(desk.status(first.id), TicketStatus::Cancelled);
    assert!(matches!(
        desk.refuse(Command::Cancel {
            ticket: first.id,
            staff: staff(1),
            counters: None,
        }),
        DomainError::Conflict(_)
    ));
    assert_eq!(desk.call(1).unwrap().id, second.id);
    assert!(matches!(
        desk.refuse(Command::Cancel {
            ticket: second.id,
            staff: staff(1),
            counters: None,
        }),
        DomainError::Conflict(_)
    ));
    assert_eq!(
        desk.refuse(Command::Cancel {
            ticket: 999,
            staff: staff(1),
            counters: None,
        }),
        DomainError::UnknownTicket(999)
    );
}

/// A counter holding a ticket cannot close.
#[test]
fn counter_holding_a_ticket_cannot_close() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    desk.issue("tnmt");
    desk.call(1);
    assert!(matches!(desk.refuse(close(1)), DomainError::Conflict(_)));
    desk.ok(finish(1));
    let (_, events) = desk.ok(close(1));
    assert_eq!(kinds(&events), ["counter_closed"]);
}

// --- Rating -----------------------------------------------------------------------------

/// A finished ticket is rated once, tied to its counter and staff member.
#[test]
fn rating_is_tied_to_counter_and_staff() {
    let mut desk = Desk::new();
    desk.ok(open(3));
    let t = desk.issue("ldtbxh");
    desk.call(3);
    desk.ok(finish(3));
    let (_, events) = desk.ok(Command::Rate {
        ticket: t.id,
        score: 4,
        reason: None,
        rater: device(3),
    });
    assert!(
        matches!(&events[..], [r] if matches!(&r.event, Event::TicketRated { counter: 3, staff, score: 4, .. } if staff == "nv3"))
    );
}

/// A low rating may carry one of the center's reasons, recorded with it; a reason not on the
/// list, or with a good rating, is refused and records nothing.
#[test]
fn rating_reasons_come_from_the_center_list() {
    let mut desk = Desk::new();
    let mut config = CenterConfig::default();
    config.center.rating_reasons = vec!["Chờ quá lâu".into(), "Thái độ phục vụ".into()];
    desk.ok(configure(config));
    desk.ok(open(1));
    let rated = desk.issue("tnmt");
    let good = desk.issue("tnmt");
    desk.call(1);
    desk.ok(finish(1));
    let rate = |ticket, score, reason: &str| Command::Rate {
        ticket,
        score,
        reason: Some(reason.to_owned()),
        rater: device(1),
    };
    assert!(matches!(
        desk.refuse(rate(rated.id, 2, "Không có trong danh sách")),
        DomainError::Invalid(_)
    ));
    let (_, events) = desk.ok(rate(rated.id, 2, "Chờ quá lâu"));
    assert!(matches!(&events[..], [r] if matches!(&r.event,
        Event::TicketRated { score: 2, reason: Some(reason), .. } if reason == "Chờ quá lâu")));
    desk.call(1);
    desk.ok(finish(1));
    assert!(matches!(
        desk.refuse(rate(good.id, 4, "Chờ quá lâu")),
        DomainError::Invalid(_)
    ));
}

fn rate_5(ticket: TicketId) -> Command {
    Command::Rate {
        ticket,
        score: 5,
        reason: None,
        rater: device(1),
    }
}

/// A citizen finished a few minutes before midnight may still rate within the window after
/// the day closed; the rating is recorded on that ticket, opens no day, and counts once; a
/// ticket finished earlier than the window before the close, or one still served at the
/// close, is not rateable afterwards.
#[test]
fn the_last_citizens_of_a_day_can_rate_after_it_closed() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    desk.set(MONDAY, 23, 30);
    let early = desk.issue("tnmt");
    desk.call(1);
    desk.ok(finish(1));
    desk.set(MONDAY, 23, 55);
    let late = desk.issue("tnmt");
    let served = desk.issue("tnmt");
    desk.call(1);
    desk.ok(finish(1));
    desk.call(1);
    desk.set(TUESDAY, 0, 1);
    let (_, events) = desk.ok(Command::Tick);
    assert_eq!(kinds(&events), ["day_closed"]);
    desk.set(TUESDAY, 0, 3);
    let (reply, events) = desk.ok(rate_5(late.id));
    assert_eq!(kinds(&events), ["ticket_rated"]);
    assert!(
        matches!(&events[0].event, Event::TicketRated { ticket, counter: 1, .. } if ticket.id == late.id)
    );
    assert!(
        matches!(reply, Reply::Ticket { ticket, .. } if ticket.number == late.number && ticket.status == TicketStatus::Done)
    );
    assert!(matches!(
        desk.refuse(rate_5(late.id)),
        DomainError::AlreadyRated(n) if n == late.number
    ));
    assert!(matches!(
        desk.refuse(rate_5(early.id)),
        DomainError::UnknownTicket(_)
    ));
    assert!(matches!(
        desk.refuse(rate_5(served.id)),
        DomainError::UnknownTicket(_)
    ));
    // The rating opened no day: Tuesday's first ticket is its 1001, with no second close.
    let (_, events) = desk.ok(issue("tnmt", None, None));
    assert_eq!(kinds(&events), ["ticket_issued"]);
    // Replaying the log gives the same state.
    let mut replay = Engine::new();
    for rec in &desk.log {
        replay.apply(rec).unwrap();
    }
    assert!(replay.snapshot() == desk.engine.snapshot());
    let restored = Engine::from_snapshot(&desk.engine.snapshot()).unwrap();
    assert!(restored.snapshot() == desk.engine.snapshot());
}

/// At the closing hour the same holds, and the window still ends: past it, the rating is
/// refused as late.
#[test]
fn a_rating_after_the_closing_hour_keeps_its_window() {
    let mut config = CenterConfig::default();
    config.center.close = Some(civil::time(17, 0, 0, 0));
    let mut desk = Desk::with(config);
    desk.set(MONDAY, 16, 50);
    let first = desk.issue("tnmt");
    let second = desk.issue("tnmt");
    desk.call(1);
    desk.set(MONDAY, 16, 55);
    desk.call(1);
    desk.set(MONDAY, 16, 58);
    desk.ok(finish(1));
    desk.set(MONDAY, 17, 1);
    let (_, events) = desk.ok(Command::Tick);
    assert_eq!(kinds(&events), ["day_closed"]);
    desk.set(MONDAY, 17, 6);
    let (_, events) = desk.ok(rate_5(second.id));
    assert_eq!(kinds(&events), ["ticket_rated"]);
    // Finished at 16:55 (by the call of the next), rated 11 minutes later: too late.
    assert!(matches!(
        desk.refuse(rate_5(first.id)),
        DomainError::RatingWindowClosed(_)
    ));
}

/// Scores outside 1..=5 are invalid.
#[test]
fn rating_out_of_range_is_invalid() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let t = desk.issue("tnmt");
    desk.call(1);
    desk.ok(finish(1));
    for score in [0, 6, 255] {
        assert!(matches!(
            desk.refuse(Command::Rate {
                ticket: t.id,
                score,
                reason: None,
                rater: device(1),
            }),
            DomainError::Invalid(_)
        ));
    }
}

/// A ticket is rated only once.
#[test]
fn rating_twice_is_refused() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let t = desk.issue("tnmt");
    desk.call(1);
    desk.ok(finish(1));
    desk.ok(Command::Rate {
        ticket: t.id,
        score: 5,
        reason: None,
        rater: device(1),
    });
    assert!(matches!(
        desk.refuse(Command::Rate {
            ticket: t.id,
            score: 1,
            reason: None,
            rater: device(1),
        }),
        DomainError::AlreadyRated(_)
    ));
    assert_eq!(desk.engine.ticket(t.id).unwrap().rating, Some(5));
}

/// Only a finished ticket can be rated.
#[test]
fn rating_before_finish_is_refused() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let t = desk.issue("tnmt");
    let rate = |ticket| Command::Rate {
        ticket,
        score: 5,
        reason: None,
        rater: device(1),
    };
    assert!(matches!(desk.refuse(rate(t.id)), DomainError::Conflict(_)));
    desk.call(1);
    assert!(matches!(desk.refuse(rate(t.id)), DomainError::Conflict(_)));
    desk.ok(start(1));
    assert!(matches!(desk.refuse(rate(t.id)), DomainError::Conflict(_)));
    assert_eq!(desk.refuse(rate(404)), DomainError::UnknownTicket(404));
}

// --- Priority and calling modes -------------------------------------------------------

/// Queue of two normal tickets then four priority ones, issued a minute apart from 08:00.
fn mixed_queue(desk: &mut Desk) {
    desk.set(MONDAY, 8, 0);
    for _ in 0..2 {
        desk.issue("a");
        desk.later(1);
    }
    for _ in 0..4 {
        desk.issue_as("a", Some(Priority::Elderly));
        desk.later(1);
    }
}

/// The called numbers and their `as_priority` flags, in call order.
fn calls(desk: &Desk) -> Vec<(String, bool)> {
    desk.log
        .iter()
        .filter_map(|r| match &r.event {
            Event::TicketCalled {
                ticket,
                recall: false,
                as_priority,
                ..
            } => Some((ticket.number.clone(), *as_priority)),
            _ => None,
        })
        .collect()
}

/// Strict policy calls every priority ticket before any normal one.
#[test]
fn strict_policy_calls_priority_first() {
    let mut desk = Desk::with(one_queue(PriorityMode::Strict, 1, 0));
    mixed_queue(&mut desk);
    for _ in 0..6 {
        desk.call(1);
    }
    let order: Vec<String> = calls(&desk).into_iter().map(|(n, _)| n).collect();
    assert_eq!(order, ["A003", "A004", "A005", "A006", "A001", "A002"]);
}

/// Interleave N calls one normal ticket after N priority calls when one waits.
#[test]
fn interleave_calls_a_normal_ticket_after_n_priority_calls() {
    let mut desk = Desk::with(one_queue(PriorityMode::Interleave, 2, 0));
    mixed_queue(&mut desk);
    for _ in 0..6 {
        desk.call(1);
    }
    assert_eq!(
        calls(&desk),
        [
            ("A003".to_owned(), true),
            ("A004".to_owned(), true),
            ("A001".to_owned(), false),
            ("A005".to_owned(), true),
            ("A006".to_owned(), true),
            ("A002".to_owned(), false),
        ]
    );
}

/// A recall does not count as a priority call for the interleave ratio.
#[test]
fn recalls_do_not_advance_the_interleave() {
    let mut desk = Desk::with(one_queue(PriorityMode::Interleave, 1, 0));
    mixed_queue(&mut desk);
    assert_eq!(desk.call_number(1), "A003");
    desk.ok(recall(1));
    desk.ok(recall(1));
    assert_eq!(desk.call_number(1), "A001");
    assert_eq!(desk.call_number(1), "A004");
}

/// A normal ticket that has waited the escalation age is called as priority, by issue time.
#[test]
fn escalation_treats_an_old_normal_ticket_as_priority() {
    let mut desk = Desk::with(one_queue(PriorityMode::Strict, 1, 30));
    desk.set(MONDAY, 8, 0);
    desk.issue("a");
    desk.set(MONDAY, 8, 10);
    desk.issue_as("a", Some(Priority::Disability));
    desk.set(MONDAY, 8, 20);
    desk.issue_as("a", Some(Priority::Meritorious));
    desk.set(MONDAY, 8, 29);
    assert_eq!(desk.call_number(1), "A002");
    desk.set(MONDAY, 8, 30);
    assert_eq!(desk.call_number(1), "A001");
    assert_eq!(desk.call_number(1), "A003");
    assert_eq!(
        calls(&desk).into_iter().map(|(_, p)| p).collect::<Vec<_>>(),
        [true, true, true]
    );
}

fn two_services(mode: CallingMode) -> CenterConfig {
    center(
        vec![service("a", "A"), service("b", "B")],
        vec![counter(1, &["a", "b"], mode)],
    )
}

/// In `oldest` mode a counter calls the longest-waiting ticket across its services.
#[test]
fn oldest_mode_calls_across_services_by_issue_time() {
    let mut desk = Desk::with(two_services(CallingMode::Oldest));
    desk.set(MONDAY, 8, 0);
    desk.issue("b");
    desk.later(1);
    desk.issue("a");
    desk.later(1);
    desk.issue("b");
    let order: Vec<String> = (0..3).map(|_| desk.call_number(1)).collect();
    assert_eq!(order, ["B001", "A001", "B002"]);
}

/// In `service_order` mode a counter empties its first service before the next.
#[test]
fn service_order_mode_prefers_the_first_service() {
    let mut desk = Desk::with(two_services(CallingMode::ServiceOrder));
    desk.set(MONDAY, 8, 0);
    desk.issue("b");
    desk.later(1);
    desk.issue("a");
    desk.later(1);
    desk.issue("b");
    desk.later(1);
    desk.issue("a");
    let order: Vec<String> = (0..4).map(|_| desk.call_number(1)).collect();
    assert_eq!(order, ["A001", "A002", "B001", "B002"]);
}

// --- Configuration -----------------------------------------------------------------------

/// An invalid configuration is refused, names the field at fault and changes nothing.
#[test]
fn invalid_configuration_is_refused_and_changes_nothing() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    desk.issue("tnmt");
    let before = desk.engine.config().clone();

    let mut duplicate_prefix = CenterConfig::default();
    duplicate_prefix.services[1].prefix = "1".into();
    let mut empty_counter = CenterConfig::default();
    empty_counter.counters[0].services.clear();
    let mut unknown_zone = CenterConfig::default();
    unknown_zone.center.timezone = "Asia/Atlantis".into();
    let mut unknown_service = CenterConfig::default();
    unknown_service.counters[0].services = vec!["thue".into()];
    let mut invisible_center = CenterConfig::default();
    invisible_center.center.name = "\u{200B}\u{200D}\u{FEFF}".into();
    let mut bidi_service = CenterConfig::default();
    bidi_service.services[2].name = "\u{202E}\u{2066}".into();
    let mut override_counter = CenterConfig::default();
    override_counter.counters[0].name = "Quầy \u{202E}1".into();
    let mut long_ticker = CenterConfig::default();
    long_ticker.center.ticker = Some("x".repeat(301));
    let mut long_footer = CenterConfig::default();
    long_footer.center.ticket_footer = Some("x".repeat(161));
    let mut twice_reason = CenterConfig::default();
    twice_reason.center.rating_reasons = vec!["Chờ lâu".into(), "Chờ lâu".into()];
    let mut many_reasons = CenterConfig::default();
    many_reasons.center.rating_reasons = (0..9).map(|i| format!("Lý do {i}")).collect();

    for (config, field) in [
        (duplicate_prefix, "services[1].prefix"),
        (empty_counter, "counters[0].services"),
        (unknown_zone, "center.timezone"),
        (unknown_service, "counters[0].services"),
        (invisible_center, "center.name"),
        (bidi_service, "services[2].name"),
        (override_counter, "counters[0].name"),
        (long_ticker, "center.ticker"),
        (long_footer, "center.ticket_footer"),
        (twice_reason, "center.rating_reasons"),
        (many_reasons, "center.rating_reasons"),
    ] {
        match desk.refuse(configure(config)) {
            DomainError::Config(e) => assert_eq!(e.field, field),
            other => panic!("expected a config error on {field}, got {other:?}"),
        }
    }
    assert_eq!(desk.engine.config(), &before);
}

/// A valid configuration is recorded and takes effect; the same one again records nothing.
#[test]
fn valid_configuration_takes_effect_once() {
    let mut desk = Desk::new();
    let mut config = CenterConfig::default();
    config.services[0].prefix = "TN".into();
    let (_, events) = desk.ok(configure(config.clone()));
    assert_eq!(kinds(&events), ["center_configured"]);
    assert_eq!(desk.issue("tnmt").number, "TN001");
    let (_, events) = desk.ok(configure(config));
    assert!(events.is_empty());
}

/// Removing the service of a called ticket cancels it and frees the counter holding it.
#[test]
fn removing_a_called_tickets_service_frees_its_counter() {
    let mut desk = Desk::with(center(
        vec![service("a", "A"), service("b", "B")],
        vec![
            counter(1, &["a"], CallingMode::Oldest),
            counter(2, &["b"], CallingMode::Oldest),
        ],
    ));
    let t = desk.issue("a");
    desk.call(1);
    let (_, events) = desk.ok(configure(center(
        vec![service("b", "B")],
        vec![
            counter(1, &["b"], CallingMode::Oldest),
            counter(2, &["b"], CallingMode::Oldest),
        ],
    )));
    assert_eq!(kinds(&events), ["ticket_cancelled", "center_configured"]);
    assert_eq!(desk.status(t.id), TicketStatus::Cancelled);
    assert!(desk.engine.holder_of(t.id).is_empty());
    let view = desk.engine.state_view(desk.now);
    assert!(view.counters.iter().all(|c| c.current.is_none()));
    let (reply, events) = desk.ok(call_next(1));
    assert_eq!(reply, Reply::NobodyWaiting);
    assert!(events.is_empty());
    assert_eq!(desk.status(t.id), TicketStatus::Cancelled);
}

// --- Refusals, replay and snapshots -----------------------------------------------------

/// Every refused command records no event and leaves the snapshot byte-identical.
#[test]
fn refused_commands_change_nothing() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    let waiting = desk.issue("tnmt");
    desk.issue("tnmt");
    desk.call(1);
    for command in [
        issue("nope", None, None),
        issue("tnmt", None, Some("\u{7}")),
        call_next(2),
        call_next(0),
        open(100),
        close(1),
        transfer(1, Some("nope"), None),
        Command::Reinstate {
            ticket: waiting.id + 1,
            staff: staff(1),
            counters: None,
        },
        Command::Rate {
            ticket: waiting.id,
            score: 3,
            reason: None,
            rater: device(1),
        },
        Command::Cancel {
            ticket: 12345,
            staff: staff(1),
            counters: None,
        },
        recall(2),
    ] {
        desk.refuse(command);
    }
}

/// Replaying the log into a fresh engine rebuilds the live snapshot byte for byte.
#[test]
fn replaying_the_log_rebuilds_the_same_snapshot() {
    let mut desk = Desk::new();
    desk.ok(open(1));
    desk.ok(open(2));
    desk.ok(issue("tnmt", None, Some("kiosk/0")));
    desk.call(1);
    desk.ok(start(1));
    desk.later(3);
    desk.ok(transfer(1, Some("tckh"), None));
    desk.call(2);
    desk.ok(no_show(2));
    desk.set(TUESDAY, 8, 0);
    desk.ok(open(1));
    desk.ok(open(2));
    for i in 0..12 {
        let key = format!("kiosk/{i}");
        let service = if i % 3 == 0 { "tckh" } else { "tnmt" };
        desk.ok(issue(service, None, Some(&key)));
        desk.later(1);
    }
    desk.call(1);
    desk.ok(finish(1));
    desk.call(2);
    desk.ok(transfer(2, None, Some(1)));

    let mut replayed = Engine::new();
    for rec in &desk.log {
        replayed.apply(rec).unwrap();
    }
    assert_eq!(replayed.seq(), desk.engine.seq());
    assert!(
        replayed.snapshot() == desk.engine.snapshot(),
        "replayed state differs from the live one"
    );
    let restored = Engine::from_snapshot(&desk.engine.snapshot()).unwrap();
    assert!(restored.snapshot() == desk.engine.snapshot());
}

/// An event that does not follow the last seq is refused by `apply`.
#[test]
fn apply_refuses_an_event_out_of_sequence() {
    let mut desk = Desk::new();
    desk.issue("tnmt");
    desk.issue("tnmt");
    let mut replayed = Engine::new();
    let err = replayed.apply(&desk.log[1]).unwrap_err();
    assert_eq!((err.expected, err.found), (1, 2));
    assert_eq!(replayed.seq(), 0);
    replayed.apply(&desk.log[0]).unwrap();
    assert!(replayed.apply(&desk.log[0]).is_err());
    assert_eq!(replayed.seq(), 1);
}

// --- Views --------------------------------------------------------------------------------

/// The service view lists the next tickets in calling order (claimed and escalated priority
/// first, then by issue time), counts claimed priority, names the oldest wait, and each
/// waiting ticket's position agrees with that order.
#[test]
fn service_view_shows_the_calling_order() {
    let mut desk = Desk::with(one_queue(PriorityMode::Strict, 1, 30));
    desk.set(MONDAY, 8, 0);
    let a1 = desk.issue("a");
    desk.set(MONDAY, 8, 5);
    let a2 = desk.issue("a");
    desk.set(MONDAY, 8, 10);
    let a3 = desk.issue_as("a", Some(Priority::Elderly));
    desk.set(MONDAY, 8, 15);
    let a4 = desk.issue("a");
    desk.set(MONDAY, 8, 20);
    let a5 = desk.issue_as("a", Some(Priority::Pregnant));
    // 08:32: A001 has waited 32 minutes and counts as priority; A002 (27) does not yet.
    desk.set(MONDAY, 8, 32);
    let view = desk.engine.state_view(desk.now);
    let a = &view.services[0];
    let next: Vec<&str> = a.next.iter().map(|t| t.number.as_str()).collect();
    assert_eq!(next, ["A001", "A003", "A005", "A002", "A004"]);
    assert_eq!(a.waiting, 5);
    assert_eq!(a.waiting_priority, 2);
    assert_eq!(a.oldest_waiting_since, Some(a1.issued_at));
    let ahead = |t: &TicketView| desk.engine.ticket_view(t.id, desk.now).ahead;
    assert_eq!(
        [ahead(&a1), ahead(&a3), ahead(&a5), ahead(&a2), ahead(&a4)],
        [0, 1, 2, 3, 4]
    );
    // The counter calls in the order the view showed.
    let called: Vec<String> = (0..5).map(|_| desk.call_number(1)).collect();
    assert_eq!(called, next);
    let view = desk.engine.state_view(desk.now);
    assert_eq!(view.services[0].waiting, 0);
    assert!(view.services[0].next.is_empty());
    assert_eq!(view.services[0].oldest_waiting_since, None);
}

/// An end of issuing or of the day at 00:00 is refused: it would stop every day before it
/// starts.
#[test]
fn midnight_as_an_end_is_refused() {
    for field in ["issue_until", "close"] {
        let mut config = CenterConfig::default();
        match field {
            "issue_until" => config.center.issue_until = Some(jiff::civil::Time::midnight()),
            _ => config.center.close = Some(jiff::civil::Time::midnight()),
        }
        let error = config.validate().expect_err("midnight end refused");
        assert_eq!(error.field, format!("center.{field}"));
    }
}
