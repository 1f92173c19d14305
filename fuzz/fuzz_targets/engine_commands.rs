//! Arbitrary sessions of engine commands on a virtual clock over a small center. After every
//! command: no panic, seq gap-free, a refused command records at most a day rollover, no
//! ticket held by two counters, holding agrees with ticket status, the queue index agrees
//! with the tickets, the state view builds. At the end, replaying the log into a fresh
//! engine and restoring a snapshot both give the live state byte for byte, so no command
//! changed the state without recording it.

#![no_main]

use arbitrary::Arbitrary;
use jiff::civil::{self, Date};
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;
use luot_shared::domain::{
    CallingMode, CenterSettings, CounterConfig, PriorityMode, PriorityPolicy, ServiceField,
};
use luot_shared::engine::Rater;
use luot_shared::{CenterConfig, Command, CounterId, Engine, Event, Priority, TicketId};

/// Service ids and number prefixes.
const SERVICES: [(&str, &str); 3] = [("a", "A"), ("b", "B"), ("c", "C")];
/// Counter ids; index 4 names a counter that does not exist.
const COUNTERS: [CounterId; 5] = [1, 2, 3, 4, 9];
/// Zones the center may be in: one without and one with daylight saving time.
const ZONES: [&str; 2] = ["Asia/Ho_Chi_Minh", "Europe/Berlin"];
/// Longest session looked at, in commands.
const MAX_OPS: usize = 300;
const FIRST_DAY: Date = civil::date(2025, 3, 3);

/// The center of a session.
#[derive(Debug, Arbitrary)]
struct Setup {
    strict: bool,
    interleave: u8,
    escalate_after_min: u8,
    /// Opening, issuing and closing hours, or none.
    hours: bool,
    /// First number of service `c`: a high one makes it run out within the day.
    c_start: u16,
    zone: u8,
    /// Minutes after midnight of the first day (in the center's zone) the session starts,
    /// spread over about two years.
    start_min: u32,
}

/// One step. Counters and tickets are small indexes resolved against the engine.
#[derive(Debug, Arbitrary)]
enum Op {
    Issue {
        service: u8,
        priority: Option<u8>,
        request: Option<u8>,
    },
    CallNext(Who),
    Recall(Who),
    Start(Who),
    Finish(Who),
    NoShow(Who),
    Transfer {
        counter: Who,
        service: Option<u8>,
        to: Option<Who>,
    },
    Reinstate(u8),
    Cancel(u8),
    Rate(u8, u8),
    Open(Who, bool),
    Close(Who),
    Reconfigure(u8),
    Tick,
    /// Let this many seconds pass.
    Wait(u16),
    /// Let this many hours pass.
    WaitHours(u8),
    /// Set the wall clock this many minutes back (as NTP corrects a clock that ran ahead),
    /// and tell the engine, as the server does.
    StepBack(u16),
    /// Rate as a kiosk without a counter, as staff, or as an admin.
    RateAs(u8, u8, u8),
    /// Cancel as staff bound to one counter.
    CancelAt(u8, Who),
    /// `op` only if its counter holds the picked ticket (or none).
    Expect(Option<u8>, Box<Op>),
}

/// Which counter a step acts at.
#[derive(Debug, Arbitrary)]
enum Who {
    /// `COUNTERS[i % 5]`.
    Nth(u8),
    /// The i-th counter holding a ticket (counter 1 when none does).
    Holding(u8),
}

#[derive(Debug, Arbitrary)]
struct Session {
    setup: Setup,
    ops: Vec<Op>,
}

fn center(setup: &Setup) -> CenterConfig {
    let services = SERVICES
        .iter()
        .map(|(id, prefix)| ServiceField {
            id: (*id).to_owned(),
            name: format!("Lĩnh vực {id}"),
            prefix: (*prefix).to_owned(),
            start: if *id == "c" {
                u32::from(setup.c_start % 999) + 1
            } else {
                1
            },
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
    let at = |h| setup.hours.then(|| civil::time(h, 0, 0, 0));
    CenterConfig {
        center: CenterSettings {
            timezone: ZONES[usize::from(setup.zone) % ZONES.len()].to_owned(),
            open: at(7),
            issue_until: setup.hours.then(|| civil::time(16, 30, 0, 0)),
            close: at(17),
            priority: PriorityPolicy {
                mode: if setup.strict {
                    PriorityMode::Strict
                } else {
                    PriorityMode::Interleave
                },
                interleave: u32::from(setup.interleave % 5) + 1,
                escalate_after_min: u32::from(setup.escalate_after_min % 61),
            },
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

/// A variant of `base`: itself, without counter 4, without service `c`, or with the other
/// priority mode. Switching between them settles tickets that lose their route.
fn reshape(base: &CenterConfig, variant: u8) -> CenterConfig {
    let mut config = base.clone();
    match variant % 4 {
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

fn resolve(engine: &Engine, who: &Who) -> CounterId {
    match *who {
        Who::Nth(i) => COUNTERS[usize::from(i) % COUNTERS.len()],
        Who::Holding(i) => {
            let holding: Vec<CounterId> = engine
                .tickets()
                .filter(|t| t.status.at_counter())
                .filter_map(|t| t.counter)
                .collect();
            if holding.is_empty() {
                COUNTERS[0]
            } else {
                holding[usize::from(i) % holding.len()]
            }
        }
    }
}

/// The i-th ticket of today, or one that does not exist.
fn pick(engine: &Engine, i: u8) -> TicketId {
    let all: Vec<TicketId> = engine.tickets().map(|t| t.id).collect();
    if all.is_empty() || usize::from(i) >= all.len() * 2 {
        return 1_000_000;
    }
    all[usize::from(i) % all.len()]
}

fn service(i: u8) -> String {
    SERVICES[usize::from(i) % SERVICES.len()].0.to_owned()
}

fn staff(counter: CounterId) -> String {
    format!("nv{counter}")
}

fn command(engine: &Engine, base: &CenterConfig, op: &Op) -> Command {
    let c = |who: &Who| resolve(engine, who);
    match op {
        Op::Issue {
            service: s,
            priority,
            request,
        } => Command::Issue {
            service: service(*s),
            priority: priority.map(|p| Priority::ALL[usize::from(p) % Priority::ALL.len()]),
            request_id: request.map(|r| format!("r{}", r % 8)),
            // Two kiosks share the request ids, so scoping is exercised.
            credential: format!("kiosk-{}", request.unwrap_or(0) % 2),
            by: "kiosk".to_owned(),
        },
        Op::CallNext(w) => Command::CallNext {
            counter: c(w),
            staff: staff(c(w)),
        },
        Op::Recall(w) => Command::Recall {
            counter: c(w),
            staff: staff(c(w)),
        },
        Op::Start(w) => Command::Start {
            counter: c(w),
            staff: staff(c(w)),
        },
        Op::Finish(w) => Command::Finish {
            counter: c(w),
            staff: staff(c(w)),
        },
        Op::NoShow(w) => Command::NoShow {
            counter: c(w),
            staff: staff(c(w)),
        },
        Op::Transfer {
            counter,
            service: s,
            to,
        } => Command::Transfer {
            counter: c(counter),
            to_service: s.map(service),
            to_counter: to.as_ref().map(c),
            staff: staff(c(counter)),
        },
        Op::Reinstate(i) => Command::Reinstate {
            ticket: pick(engine, *i),
            staff: "lead".to_owned(),
            counters: None,
        },
        Op::Cancel(i) => Command::Cancel {
            ticket: pick(engine, *i),
            staff: "lead".to_owned(),
            counters: None,
        },
        Op::CancelAt(i, w) => Command::Cancel {
            ticket: pick(engine, *i),
            staff: staff(c(w)),
            counters: Some(vec![c(w)]),
        },
        Op::Rate(i, score) => {
            let ticket = pick(engine, *i);
            // The rating device of the counter holding or last holding the ticket.
            let counter = engine.ticket(ticket).and_then(|t| t.counter);
            Command::Rate {
                ticket,
                score: score % 7,
                reason: None,
                rater: Rater::Device {
                    name: "rating".to_owned(),
                    counter,
                },
            }
        }
        Op::RateAs(i, score, who) => Command::Rate {
            ticket: pick(engine, *i),
            score: score % 7,
            reason: None,
            rater: match who % 4 {
                0 => Rater::Device {
                    name: "kiosk".to_owned(),
                    counter: None,
                },
                1 => Rater::Staff {
                    name: "nv1".to_owned(),
                },
                2 => Rater::Device {
                    name: "rating-9".to_owned(),
                    counter: Some(9),
                },
                _ => Rater::Admin {
                    name: "admin".to_owned(),
                },
            },
        },
        Op::Open(w, other) => Command::Open {
            counter: c(w),
            staff: format!("{}-{}", staff(c(w)), u8::from(*other)),
        },
        Op::Close(w) => Command::Close {
            counter: c(w),
            staff: staff(c(w)),
        },
        Op::Reconfigure(variant) => Command::Configure {
            config: Box::new(reshape(base, *variant)),
            by: "admin".to_owned(),
        },
        Op::Expect(ticket, op) => Command::Expect {
            current: ticket.map(|i| pick(engine, i)),
            then: Box::new(command(engine, base, op)),
        },
        Op::Tick | Op::Wait(_) | Op::WaitHours(_) | Op::StepBack(_) => Command::Tick,
    }
}

/// Checks the state after a command.
fn check_state(engine: &Engine, now: Timestamp) {
    assert!(engine.queues_consistent(), "queue index out of step");
    for t in engine.tickets() {
        let holders = engine.holder_of(t.id);
        assert!(
            holders.len() <= 1,
            "ticket {} held by {holders:?}",
            t.number
        );
        if t.status.at_counter() {
            assert_eq!(
                holders,
                t.counter.into_iter().collect::<Vec<_>>(),
                "{:?} ticket {} held elsewhere",
                t.status,
                t.number
            );
        } else {
            assert!(
                holders.is_empty(),
                "{:?} ticket {} still held by {holders:?}",
                t.status,
                t.number
            );
        }
    }
    let view = engine.state_view(now);
    assert_eq!(view.seq, engine.seq());
}

fuzz_target!(|session: Session| {
    let config = center(&session.setup);
    let tz = config.time_zone().expect("the zones are known");
    let start_min = i64::from(session.setup.start_min % (2 * 366 * 24 * 60));
    let mut now = FIRST_DAY
        .to_zoned(tz)
        .expect("midnight exists")
        .timestamp()
        .checked_add(SignedDuration::from_mins(start_min))
        .expect("within range");

    let mut engine = Engine::new();
    let mut log = Vec::new();
    let mut run = |engine: &mut Engine, command: Command, now: Timestamp| {
        let before_seq = engine.seq();
        let out = engine.handle(command.clone(), now);
        for (i, rec) in out.events.iter().enumerate() {
            assert_eq!(rec.seq, before_seq + 1 + i as u64, "seq not gap-free");
            assert_eq!(rec.at, now, "event not at the command's time");
        }
        assert_eq!(engine.seq(), before_seq + out.events.len() as u64);
        // A refused command records at most the rollover of a day that was over before it.
        // (That it changes nothing else is checked once, by the replay at the end.)
        if let Err(e) = &out.result {
            assert!(
                out.events
                    .iter()
                    .all(|r| matches!(r.event, Event::DayClosed { .. })),
                "{command:?} refused ({e}) yet recorded {:?}",
                out.events
            );
        }
        log.extend(out.events);
        check_state(engine, now);
    };

    run(
        &mut engine,
        Command::Configure {
            config: Box::new(config.clone()),
            by: "admin".to_owned(),
        },
        now,
    );
    for counter in &COUNTERS[..4] {
        let open = Command::Open {
            counter: *counter,
            staff: staff(*counter),
        };
        run(&mut engine, open, now);
    }

    for op in session.ops.iter().take(MAX_OPS) {
        let step = match op {
            Op::Wait(secs) => Some(SignedDuration::from_secs(i64::from(*secs))),
            Op::WaitHours(hours) => Some(SignedDuration::from_hours(i64::from(*hours))),
            _ => None,
        };
        if let Some(step) = step {
            match now.checked_add(step) {
                Ok(later) => now = later,
                Err(_) => break,
            }
            continue;
        }
        if let Op::StepBack(minutes) = op {
            let expected = now;
            match now.checked_sub(SignedDuration::from_mins(i64::from(*minutes))) {
                Ok(earlier) => now = earlier,
                Err(_) => break,
            }
            run(&mut engine, Command::NoteClockStep { expected }, now);
            continue;
        }
        let command = command(&engine, &config, op);
        run(&mut engine, command, now);
    }

    let seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=engine.seq()).collect::<Vec<_>>(), "log has gaps");

    let live = engine.snapshot();
    let mut replayed = Engine::new();
    for rec in &log {
        replayed.apply(rec).expect("the log is in seq order");
    }
    assert!(replayed.snapshot() == live, "replayed snapshot differs");
    let restored = Engine::from_snapshot(&live).expect("a snapshot restores");
    assert!(restored.snapshot() == live, "restored snapshot differs");
});
