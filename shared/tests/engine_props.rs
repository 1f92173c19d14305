//! Property tests of the queue engine: random command sequences on a virtual clock, checked
//! after every step for the invariants the center relies on (no number twice, no ticket at
//! two counters, gap-free seq, replay and snapshots rebuild the same state, no starvation).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::{self, Date};
use jiff::{SignedDuration, Timestamp};
use luot_shared::domain::{
    CallingMode, CenterSettings, CounterConfig, PriorityMode, PriorityPolicy, ServiceField,
};
use luot_shared::engine::{Rater, Reply};
use luot_shared::{
    CenterConfig, Command, CounterId, DomainError, Engine, Event, Priority, Recorded, ServiceId,
    TicketId, TicketStatus,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

const TZ: &str = "Asia/Ho_Chi_Minh";
const MONDAY: Date = civil::date(2025, 3, 3);

/// Service ids and number prefixes.
const SERVICES: [(&str, &str); 3] = [("a", "A"), ("b", "B"), ("c", "C")];
/// Counter ids; a command may also name one that does not exist.
const COUNTERS: [CounterId; 4] = [1, 2, 3, 4];
const UNKNOWN_COUNTER: CounterId = 9;

/// Four counters sharing three services, two calling in each mode. Service `c` numbers from
/// `c_start`, so a high one makes it run out of numbers within the day.
fn center(policy: PriorityPolicy, hours: bool, c_start: u32) -> CenterConfig {
    let services = SERVICES
        .iter()
        .map(|(id, prefix)| ServiceField {
            id: (*id).to_owned(),
            name: format!("Lĩnh vực {id}"),
            prefix: (*prefix).to_owned(),
            start: if *id == "c" { c_start } else { 1 },
            target_wait_min: 15,
            service_min: 5,
        })
        .collect();
    let counter = |id: CounterId, services: &[&str], mode: CallingMode| CounterConfig {
        id,
        name: format!("Quầy {id}"),
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        mode,
    };
    let at = |h| hours.then(|| civil::time(h, 0, 0, 0));
    CenterConfig {
        center: CenterSettings {
            open: at(7),
            issue_until: hours.then(|| civil::time(16, 30, 0, 0)),
            close: at(17),
            priority: policy,
            ..CenterSettings::default()
        },
        services,
        counters: vec![
            counter(1, &["a", "b"], CallingMode::Oldest),
            counter(2, &["b", "c"], CallingMode::ServiceOrder),
            counter(3, &["c", "a"], CallingMode::Oldest),
            counter(4, &["a"], CallingMode::ServiceOrder),
        ],
    }
}

/// How many variants [`reshape`] knows.
const RESHAPES: usize = 4;

/// A variant of `base`: itself, without counter 4, without service `c`, or with the other
/// priority mode. Switching between them settles tickets that lose their route.
fn reshape(base: &CenterConfig, variant: usize) -> CenterConfig {
    let mut config = base.clone();
    match variant {
        1 => config.counters.retain(|c| c.id != 4),
        2 => {
            config.services.retain(|s| s.id != "c");
            for counter in &mut config.counters {
                counter.services.retain(|s| s != "c");
            }
        }
        3 => {
            config.center.priority.mode = match config.center.priority.mode {
                PriorityMode::Strict => PriorityMode::Interleave,
                PriorityMode::Interleave => PriorityMode::Strict,
            };
        }
        _ => {}
    }
    config
}

/// One step of a random session. Counter and ticket fields are indexes resolved against the
/// engine when the step runs.
#[derive(Debug, Clone)]
enum Op {
    Issue {
        service: usize,
        priority: Option<usize>,
        request: Option<u8>,
    },
    CallNext(Who),
    Recall(Who),
    Start(Who),
    Finish(Who),
    NoShow(Who),
    Transfer {
        counter: Who,
        service: Option<usize>,
        to: Option<Who>,
    },
    Reinstate(Index, bool),
    Cancel(Index, bool),
    Rate(Index, bool, u8),
    Open(Who, u8),
    Close(Who),
    /// Switch to one of the [`reshape`]d centers.
    Reconfigure(usize),
    Tick,
    /// Let this many seconds pass.
    Wait(i64),
}

/// Which counter a step acts at.
#[derive(Debug, Clone)]
enum Who {
    /// `COUNTERS[i]`, or a counter that does not exist when `i` is past the end.
    Nth(usize),
    /// One of the counters holding a ticket (counter 1 when none does).
    Holding(Index),
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly real counters, now and then one that does not exist.
    let counter = || {
        prop_oneof![
            19 => (0..COUNTERS.len()).prop_map(Who::Nth),
            1 => Just(Who::Nth(COUNTERS.len())),
        ]
    };
    // Actions on a current ticket mostly go to a counter that has one.
    let acting = || prop_oneof![3 => any::<Index>().prop_map(Who::Holding), 2 => counter()];
    prop_oneof![
        8 => (
            0..SERVICES.len(),
            prop::option::weighted(0.3, 0..Priority::ALL.len()),
            prop::option::weighted(0.3, 0..6u8),
        )
            .prop_map(|(service, priority, request)| Op::Issue { service, priority, request }),
        8 => counter().prop_map(Op::CallNext),
        1 => acting().prop_map(Op::Recall),
        3 => acting().prop_map(Op::Start),
        3 => acting().prop_map(Op::Finish),
        1 => acting().prop_map(Op::NoShow),
        2 => (acting(), prop::option::of(0..SERVICES.len()), prop::option::of(counter()))
            .prop_map(|(counter, service, to)| Op::Transfer { counter, service, to }),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, exact)| Op::Reinstate(i, exact)),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, exact)| Op::Cancel(i, exact)),
        1 => (any::<Index>(), any::<bool>(), 0..=6u8)
            .prop_map(|(i, exact, score)| Op::Rate(i, exact, score)),
        4 => (counter(), 0..2u8).prop_map(|(c, s)| Op::Open(c, s)),
        1 => counter().prop_map(Op::Close),
        1 => (0..RESHAPES).prop_map(Op::Reconfigure),
        1 => Just(Op::Tick),
        6 => (0..900i64).prop_map(Op::Wait),
        1 => (3_600..36_000i64).prop_map(Op::Wait),
    ]
}

fn policy() -> impl Strategy<Value = PriorityPolicy> {
    (any::<bool>(), 1..5u32, prop_oneof![Just(0u32), 1..60u32]).prop_map(
        |(strict, interleave, escalate_after_min)| PriorityPolicy {
            mode: if strict {
                PriorityMode::Strict
            } else {
                PriorityMode::Interleave
            },
            interleave,
            escalate_after_min,
        },
    )
}

fn resolve(engine: &Engine, who: &Who) -> CounterId {
    match who {
        Who::Nth(i) => COUNTERS.get(*i).copied().unwrap_or(UNKNOWN_COUNTER),
        Who::Holding(index) => {
            let holding: Vec<CounterId> = engine
                .tickets()
                .filter(|t| t.status.at_counter())
                .filter_map(|t| t.counter)
                .collect();
            if holding.is_empty() {
                COUNTERS[0]
            } else {
                holding[index.index(holding.len())]
            }
        }
    }
}

fn staff(counter: CounterId) -> String {
    format!("nv{counter}")
}

/// A ticket of today, chosen among those in `wanted` status when `exact` and any exist.
fn pick(engine: &Engine, index: &Index, exact: bool, wanted: TicketStatus) -> TicketId {
    let all: Vec<TicketId> = engine.tickets().map(|t| t.id).collect();
    let suitable: Vec<TicketId> = engine
        .tickets()
        .filter(|t| t.status == wanted)
        .map(|t| t.id)
        .collect();
    let from = if exact && !suitable.is_empty() {
        suitable
    } else {
        all
    };
    if from.is_empty() {
        return 1_000_000;
    }
    from[index.index(from.len())]
}

fn command(engine: &Engine, base: &CenterConfig, op: &Op) -> Option<Command> {
    let c = |who: &Who| resolve(engine, who);
    Some(match op {
        Op::Issue {
            service,
            priority,
            request,
        } => Command::Issue {
            service: SERVICES[*service].0.to_owned(),
            priority: priority.map(|p| Priority::ALL[p]),
            request_id: request.map(|r| format!("r{r}")),
            credential: "kiosk".to_owned(),
            by: "kiosk".to_owned(),
        },
        Op::CallNext(i) => Command::CallNext {
            counter: c(i),
            staff: staff(c(i)),
        },
        Op::Recall(i) => Command::Recall {
            counter: c(i),
            staff: staff(c(i)),
        },
        Op::Start(i) => Command::Start {
            counter: c(i),
            staff: staff(c(i)),
        },
        Op::Finish(i) => Command::Finish {
            counter: c(i),
            staff: staff(c(i)),
        },
        Op::NoShow(i) => Command::NoShow {
            counter: c(i),
            staff: staff(c(i)),
        },
        Op::Transfer {
            counter,
            service,
            to,
        } => Command::Transfer {
            counter: c(counter),
            to_service: service.map(|s| SERVICES[s].0.to_owned()),
            to_counter: to.as_ref().map(c),
            staff: staff(c(counter)),
        },
        Op::Reinstate(i, exact) => Command::Reinstate {
            ticket: pick(engine, i, *exact, TicketStatus::NoShow),
            staff: "lead".to_owned(),
            counters: None,
        },
        Op::Cancel(i, exact) => Command::Cancel {
            ticket: pick(engine, i, *exact, TicketStatus::Waiting),
            staff: "lead".to_owned(),
            counters: None,
        },
        Op::Rate(i, exact, score) => {
            let ticket = pick(engine, i, *exact, TicketStatus::Done);
            // The rating device of the counter that finished it.
            let counter = engine.ticket(ticket).and_then(|t| t.counter);
            Command::Rate {
                ticket,
                score: *score,
                reason: None,
                rater: Rater::Device {
                    name: format!("rating-{counter:?}"),
                    counter,
                },
            }
        }
        Op::Open(i, who) => Command::Open {
            counter: c(i),
            staff: format!("{}-{who}", staff(c(i))),
        },
        Op::Close(i) => Command::Close {
            counter: c(i),
            staff: staff(c(i)),
        },
        Op::Reconfigure(variant) => Command::Configure {
            config: Box::new(reshape(base, *variant)),
            by: "admin".to_owned(),
        },
        Op::Tick => Command::Tick,
        Op::Wait(_) => return None,
    })
}

/// One command handled by the live engine, kept to check a restored engine against.
struct Step {
    /// Index of the op it came from.
    op: usize,
    command: Command,
    at: Timestamp,
    events: Vec<Recorded>,
    result: Result<Reply, DomainError>,
}

/// What the checker remembers across steps.
#[derive(Default)]
struct Ledger {
    /// Every event, in order.
    log: Vec<Recorded>,
    /// Numbers issued per (business day, service), in issue order.
    numbers: BTreeMap<(Date, ServiceId), Vec<String>>,
    /// Every (business day, service, number) issued.
    seen: HashSet<(Date, ServiceId, String)>,
}

/// Checks one step's events and the state after it.
fn check_step(
    engine: &Engine,
    ledger: &mut Ledger,
    before_seq: u64,
    before_status: &HashMap<TicketId, TicketStatus>,
    before_snapshot: &[u8],
    step: &Step,
) -> Result<(), TestCaseError> {
    // Seq is gap-free and increasing, and every event carries the command's time.
    for (i, rec) in step.events.iter().enumerate() {
        prop_assert_eq!(rec.seq, before_seq + 1 + i as u64);
        prop_assert_eq!(rec.at, step.at);
    }
    prop_assert_eq!(engine.seq(), before_seq + step.events.len() as u64);

    match &step.result {
        Err(e) => {
            // A refused command may only have closed a day that was over before it.
            prop_assert!(
                step.events
                    .iter()
                    .all(|r| matches!(r.event, Event::DayClosed { .. })),
                "{:?} refused ({}) yet recorded {:?}",
                step.command,
                e,
                step.events
            );
            if step.events.is_empty() {
                prop_assert!(
                    before_snapshot == engine.snapshot().as_slice(),
                    "{:?} refused ({}) yet changed the state",
                    step.command,
                    e
                );
            }
        }
        Ok(Reply::Ticket { created: false, .. })
            if matches!(step.command, Command::Issue { .. }) =>
        {
            prop_assert!(
                step.events.is_empty(),
                "an idempotent issue recorded events"
            );
        }
        Ok(_) => {}
    }

    let mut day_closed = false;
    for rec in &step.events {
        match &rec.event {
            Event::TicketIssued { ticket, .. } => {
                let field = engine.config().service(&ticket.service).unwrap();
                prop_assert_eq!(ticket.day, engine.local_date(rec.at));
                let key = (ticket.day, ticket.service.clone());
                let numbers = ledger.numbers.entry(key).or_default();
                let expected = format!(
                    "{}{:03}",
                    field.prefix,
                    field.start as usize + numbers.len()
                );
                prop_assert_eq!(&ticket.number, &expected, "numbers run without gaps");
                prop_assert!(
                    ledger
                        .seen
                        .insert((ticket.day, ticket.service.clone(), ticket.number.clone())),
                    "number {} issued twice on {}",
                    ticket.number,
                    ticket.day
                );
                numbers.push(ticket.number.clone());
            }
            Event::TicketCalled { ticket, recall, .. } => {
                let was = before_status.get(&ticket.id).copied();
                let expected = if *recall {
                    TicketStatus::Called
                } else {
                    TicketStatus::Waiting
                };
                prop_assert!(
                    !day_closed,
                    "ticket {} called after its day closed",
                    ticket.number
                );
                prop_assert_eq!(
                    was,
                    Some(expected),
                    "called ticket {} was {:?}",
                    ticket.number,
                    was
                );
            }
            Event::DayClosed { .. } => day_closed = true,
            _ => {}
        }
    }
    ledger.log.extend(step.events.iter().cloned());

    // The index of waiting queues agrees with the tickets.
    prop_assert!(engine.queues_consistent(), "queue index out of step");

    // No ticket is held by two counters, and holding agrees both ways.
    let view = engine.state_view(step.at);
    let mut held = HashSet::new();
    for counter in &view.counters {
        if let Some(current) = &counter.current {
            prop_assert!(
                held.insert(current.id),
                "ticket {} at two counters",
                current.number
            );
            let t = engine.ticket(current.id).unwrap();
            prop_assert!(
                t.status.at_counter(),
                "counter {} holds {:?} ticket",
                counter.id,
                t.status
            );
            prop_assert_eq!(t.counter, Some(counter.id));
        }
    }
    for t in engine.tickets() {
        let holders = engine.holder_of(t.id);
        prop_assert!(
            holders.len() <= 1,
            "ticket {} held by {:?}",
            t.number,
            holders
        );
        if t.status.at_counter() {
            prop_assert_eq!(holders, vec![t.counter.unwrap()]);
        } else {
            prop_assert!(
                holders.is_empty(),
                "{:?} ticket {} still held",
                t.status,
                t.number
            );
        }
        prop_assert_eq!(t.day, view.day, "ticket {} outlived its day", t.number);
    }
    Ok(())
}

/// Runs `ops` from `start`, checking every step; then replays the log into a fresh engine and
/// continues a copy restored from a snapshot taken before step `restore_at`.
fn run_session(
    config: CenterConfig,
    start: Timestamp,
    ops: &[Op],
    restore_at: &Index,
) -> Result<(), TestCaseError> {
    let mut live = Engine::new();
    let mut ledger = Ledger::default();
    let mut steps: Vec<Step> = Vec::new();
    let mut now = start;
    let k = restore_at.index(ops.len() + 1);
    let mut restore_from = None;

    let setup = Command::Configure {
        config: Box::new(config.clone()),
        by: "admin".to_owned(),
    };
    let out = live.handle(setup, now);
    prop_assert!(out.result.is_ok());
    ledger.log.extend(out.events);
    for counter in COUNTERS {
        let out = live.handle(
            Command::Open {
                counter,
                staff: staff(counter),
            },
            now,
        );
        prop_assert!(out.result.is_ok());
        ledger.log.extend(out.events);
    }

    for (i, op) in ops.iter().enumerate() {
        if i == k {
            restore_from = Some(live.snapshot());
        }
        if let Op::Wait(secs) = op {
            now = now.checked_add(SignedDuration::from_secs(*secs)).unwrap();
            continue;
        }
        let Some(command) = command(&live, &config, op) else {
            continue;
        };
        let before_seq = live.seq();
        let before_status: HashMap<TicketId, TicketStatus> =
            live.tickets().map(|t| (t.id, t.status)).collect();
        let before_snapshot = live.snapshot();
        let out = live.handle(command.clone(), now);
        let step = Step {
            op: i,
            command,
            at: now,
            events: out.events,
            result: out.result,
        };
        check_step(
            &live,
            &mut ledger,
            before_seq,
            &before_status,
            &before_snapshot,
            &step,
        )?;
        steps.push(step);
    }

    let seqs: Vec<u64> = ledger.log.iter().map(|r| r.seq).collect();
    prop_assert_eq!(seqs, (1..=live.seq()).collect::<Vec<_>>());

    // Replaying every event into a fresh engine gives the live state, byte for byte.
    let mut replayed = Engine::new();
    for rec in &ledger.log {
        prop_assert!(replayed.apply(rec).is_ok(), "apply refused seq {}", rec.seq);
    }
    prop_assert!(
        replayed.snapshot() == live.snapshot(),
        "replayed snapshot differs from the live one"
    );

    // An engine restored from a snapshot taken before op `k`, fed the same commands, agrees.
    let snapshot = restore_from.unwrap_or_else(|| live.snapshot());
    let mut restored = Engine::from_snapshot(&snapshot).unwrap();
    for step in steps.iter().filter(|s| s.op >= k) {
        let out = restored.handle(step.command.clone(), step.at);
        prop_assert_eq!(
            &out.events,
            &step.events,
            "restored engine recorded other events"
        );
        prop_assert_eq!(
            &out.result,
            &step.result,
            "restored engine answered otherwise"
        );
    }
    prop_assert!(
        restored.snapshot() == live.snapshot(),
        "restored snapshot differs from the live one"
    );
    Ok(())
}

fn start_time() -> impl Strategy<Value = Timestamp> {
    // Any minute of Monday, so some sessions cross midnight within a few steps.
    (0..24i8, 0..60i8).prop_map(|(h, m)| MONDAY.at(h, m, 0, 0).in_tz(TZ).unwrap().timestamp())
}

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Random sessions keep every invariant at every step; replay and snapshots rebuild the state.
    #[test]
    fn random_sessions_keep_the_invariants(
        policy in policy(),
        hours in any::<bool>(),
        start in start_time(),
        ops in prop::collection::vec(op(), 1..200),
        restore_at in any::<Index>(),
    ) {
        run_session(center(policy, hours, 990), start, &ops, &restore_at)?;
    }
}

/// Interleave with any ratio (with or without escalation), or strict with escalation.
fn fair_policy() -> impl Strategy<Value = PriorityPolicy> {
    prop_oneof![
        (1..5u32, prop_oneof![Just(0u32), 5..60u32]).prop_map(|(interleave, escalate)| {
            PriorityPolicy {
                mode: PriorityMode::Interleave,
                interleave,
                escalate_after_min: escalate,
            }
        }),
        (1..60u32).prop_map(|escalate| PriorityPolicy {
            mode: PriorityMode::Strict,
            interleave: 3,
            escalate_after_min: escalate,
        }),
    ]
}

/// Rounds within which every ticket waiting at the start must have been called: each round
/// every counter calls once, so a normal ticket gets a turn at least every `interleave + 1`
/// rounds, or is treated as priority (older than every arrival) after the escalation age.
fn starvation_bound(policy: &PriorityPolicy, waiting: usize) -> usize {
    let waiting_rounds = waiting * (policy.interleave as usize + 1);
    match policy.mode {
        PriorityMode::Interleave => waiting_rounds + 2,
        PriorityMode::Strict => policy.escalate_after_min as usize + waiting + 2,
    }
}

/// Issues `waiting` tickets, then runs rounds in which priority tickets arrive in every
/// service (more than the counters can call) and every counter calls next once, a minute
/// apart; returns the rounds it took until each first ticket had been called, or `None`.
fn rounds_until_all_called(
    policy: PriorityPolicy,
    waiting: &[(usize, bool)],
    arrivals: &[[usize; 3]],
    max_rounds: usize,
) -> Result<Option<usize>, TestCaseError> {
    let mut engine = Engine::new();
    let mut now = MONDAY.at(7, 0, 0, 0).in_tz(TZ).unwrap().timestamp();
    let setup = Command::Configure {
        config: Box::new(center(policy, false, 1)),
        by: "admin".to_owned(),
    };
    prop_assert!(engine.handle(setup, now).result.is_ok());
    for counter in COUNTERS {
        let open = Command::Open {
            counter,
            staff: staff(counter),
        };
        prop_assert!(engine.handle(open, now).result.is_ok());
    }
    let issue = |engine: &mut Engine, service: usize, priority: bool, now| {
        let command = Command::Issue {
            service: SERVICES[service].0.to_owned(),
            priority: priority.then_some(Priority::Elderly),
            request_id: None,
            credential: "kiosk".to_owned(),
            by: "kiosk".to_owned(),
        };
        match engine.handle(command, now).result {
            Ok(Reply::Ticket { ticket, .. }) => Ok(ticket.id),
            other => Err(TestCaseError::fail(format!("issue answered {other:?}"))),
        }
    };
    let mut targets = Vec::new();
    for &(service, priority) in waiting {
        targets.push(issue(&mut engine, service, priority, now)?);
        now = now.checked_add(SignedDuration::from_secs(10)).unwrap();
    }
    for round in 0..max_rounds {
        if targets.iter().all(|id| {
            engine
                .ticket(*id)
                .is_some_and(|t| t.first_called_at.is_some())
        }) {
            return Ok(Some(round));
        }
        now = now.checked_add(SignedDuration::from_mins(1)).unwrap();
        for (service, count) in arrivals[round % arrivals.len()].iter().enumerate() {
            for _ in 0..*count {
                issue(&mut engine, service, true, now)?;
            }
        }
        for counter in COUNTERS {
            let call = Command::CallNext {
                counter,
                staff: staff(counter),
            };
            prop_assert!(engine.handle(call, now).result.is_ok());
        }
    }
    Ok(None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..proptest_config() })]

    /// Under a fair policy every waiting ticket is called within a bounded number of rounds.
    #[test]
    fn fair_policies_call_every_waiting_ticket(
        policy in fair_policy(),
        waiting in prop::collection::vec((0..SERVICES.len(), prop::bool::weighted(0.3)), 1..30),
        arrivals in prop::collection::vec([2..4usize, 2..4usize, 2..4usize], 1..20),
    ) {
        let bound = starvation_bound(&policy, waiting.len());
        let rounds = rounds_until_all_called(policy.clone(), &waiting, &arrivals, bound)?;
        prop_assert!(
            rounds.is_some(),
            "{:?}: some of the {} first tickets still waited after {} rounds",
            policy,
            waiting.len(),
            bound
        );
    }
}
