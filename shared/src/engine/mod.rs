//! The pure queue engine: a synchronous state machine over [`Command`]s and [`Event`]s.
//!
//! It owns no clock, no socket and no disk. [`Engine::handle`] takes a command and the current
//! time, decides, and returns the events it recorded (already folded into the state);
//! [`Engine::apply`] folds an event read back from the log. Both paths go through the same
//! `apply`, so replaying the log rebuilds exactly the state that produced it.
//!
//! # Layout
//!
//! - `mod.rs`: the state, `handle` and `apply`, lookups
//! - `command.rs`: commands, replies and refusals
//! - `decide.rs`: a command checked against the state and turned into events
//! - `fold.rs`: an event applied to the state
//! - `select.rs`: which ticket a counter calls next (priority policy, calling mode)
//! - `view.rs`: positions, estimates and the read-only [`StateView`]

mod command;
mod decide;
mod fold;
mod select;
mod view;

pub use command::{Command, DomainError, Outcome, Rater, Reply};

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::domain::{CenterConfig, CounterId, ServiceId, Ticket, TicketId, TicketStatus};
use crate::protocol::{ClockStep, Event, RecentCall, Recorded, StateView};

/// How many recent calls the state keeps for the lobby screens.
const RECENT_CALLS: usize = 10;
/// How many recent service times per service feed the estimate.
const SERVICE_SAMPLES: usize = 10;
/// Longest accepted `request_id`.
const MAX_REQUEST_ID: usize = 64;
/// Longest accepted credential identity that scopes a `request_id`.
const MAX_CREDENTIAL: usize = 64;
/// Separates the credential from the `request_id` in a stored key; neither may contain it.
const KEY_SEPARATOR: char = '\u{1f}';
/// Business days whose numbering is remembered after they close, so a day touched early by a
/// wrong clock continues its numbers when it really comes.
const NUMBERED_DAYS: usize = 14;
/// Clock steps kept for the dashboard.
const CLOCK_STEPS: usize = 5;
/// Most tickets kept rateable past the day's close (those finished in its last minutes); a
/// center finishes far fewer within one rating window.
const RATEABLE_AFTER_CLOSE: usize = 1000;

/// Live state of a counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CounterState {
    open: bool,
    staff: Option<String>,
    current: Option<TicketId>,
    /// Priority calls in a row, for the interleave policy.
    priority_streak: u32,
    last_finished: Option<TicketId>,
    served_today: u32,
    /// Seconds of service finished here today, for the counter's mean service time.
    #[serde(default)]
    service_secs_today: u64,
    #[serde(default)]
    no_shows_today: u32,
}

/// The queue state machine. Serializable as a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Engine {
    config: CenterConfig,
    #[serde(skip, default = "utc")]
    tz: TimeZone,
    seq: u64,
    /// Time of the last event.
    #[serde(default)]
    last_at: Option<Timestamp>,
    /// Business day the live tickets belong to; `None` right after a day closed.
    day: Option<Date>,
    /// The latest day that closed.
    closed_day: Option<Date>,
    /// When it closed: a clock stepped back before that instant has not seen the close yet,
    /// so the day is open again.
    #[serde(default)]
    closed_at: Option<Timestamp>,
    next_ticket_id: TicketId,
    /// Next number per business day and service, kept for the last [`NUMBERED_DAYS`] days
    /// touched: a day a wrong clock opened early continues its numbers when it really comes.
    #[serde(default)]
    numbers: BTreeMap<Date, BTreeMap<ServiceId, u32>>,
    /// The current day's next numbers as snapshots before `numbers` kept them; read only.
    #[serde(default, rename = "next_number", skip_serializing)]
    legacy_next_number: BTreeMap<ServiceId, u32>,
    tickets: BTreeMap<TicketId, Ticket>,
    /// Tickets of the day that closed last which were finished within the rating window
    /// before the close and not rated yet: their rating devices may still rate them for the
    /// rest of the window (the last citizens of the day are asked like everyone else).
    #[serde(default)]
    rateable_after_close: BTreeMap<TicketId, Ticket>,
    /// Credential-scoped idempotency keys of today's tickets. Ordered so a snapshot
    /// serializes the same bytes however the state was reached.
    requests: BTreeMap<String, TicketId>,
    counters: BTreeMap<CounterId, CounterState>,
    recent_calls: VecDeque<RecentCall>,
    /// Recent service durations per service, in seconds.
    service_times: BTreeMap<ServiceId, VecDeque<u64>>,
    /// The latest steps of the wall clock, newest first.
    #[serde(default)]
    clock_steps: VecDeque<ClockStep>,
    /// Waiting tickets in queue order, derived from `tickets`.
    #[serde(skip)]
    queues: Queues,
}

/// One queue: waiting tickets in issue order (their ids, which follow `seq`, not their
/// times, which a stepped clock can reorder), each with its issue time and whether it claimed
/// priority, so that calling and positions need not look the tickets up.
pub(crate) type Queue = BTreeMap<TicketId, (Timestamp, bool)>;

/// The waiting tickets in issue order, kept beside `tickets` so that calling, positions and
/// views look only at who waits where, not at every ticket of the day. Derived state: never
/// serialized, rebuilt when a snapshot is restored.
#[derive(Debug, Clone, Default)]
pub(crate) struct Queues {
    /// Waiting tickets any counter serving the service may call.
    pub(crate) by_service: BTreeMap<ServiceId, Queue>,
    /// Waiting tickets transferred to one named counter.
    pub(crate) by_counter: BTreeMap<CounterId, Queue>,
}

impl Queues {
    fn set_for(&mut self, t: &Ticket) -> &mut Queue {
        match t.for_counter {
            Some(c) => self.by_counter.entry(c).or_default(),
            None => self.by_service.entry(t.service.clone()).or_default(),
        }
    }

    fn insert(&mut self, t: &Ticket) {
        if t.status == TicketStatus::Waiting {
            self.set_for(t)
                .insert(t.id, (t.issued_at, t.priority.is_some()));
        }
    }

    fn remove(&mut self, t: &Ticket) {
        if t.status == TicketStatus::Waiting {
            self.set_for(t).remove(&t.id);
        }
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

/// Placeholder until a snapshot's configuration names the real zone.
fn utc() -> TimeZone {
    TimeZone::UTC
}

impl Engine {
    /// An empty engine with the default center, before any event.
    pub fn new() -> Engine {
        let config = CenterConfig::default();
        let tz = config.time_zone().unwrap_or(TimeZone::UTC);
        Engine {
            config,
            tz,
            seq: 0,
            last_at: None,
            day: None,
            closed_day: None,
            closed_at: None,
            next_ticket_id: 1,
            numbers: BTreeMap::new(),
            legacy_next_number: BTreeMap::new(),
            tickets: BTreeMap::new(),
            rateable_after_close: BTreeMap::new(),
            requests: BTreeMap::new(),
            counters: BTreeMap::new(),
            recent_calls: VecDeque::new(),
            service_times: BTreeMap::new(),
            clock_steps: VecDeque::new(),
            queues: Queues::default(),
        }
    }

    /// Restores an engine from a snapshot made by serializing one.
    pub fn from_snapshot(json: &[u8]) -> Result<Engine, serde_json::Error> {
        let mut engine: Engine = serde_json::from_slice(json)?;
        engine.tz = engine.config.time_zone().unwrap_or(TimeZone::UTC);
        let legacy = std::mem::take(&mut engine.legacy_next_number);
        if let Some(day) = engine.day
            && !legacy.is_empty()
        {
            let numbers = engine.numbers.entry(day).or_default();
            for (service, n) in legacy {
                let next = numbers.entry(service).or_insert(n);
                *next = (*next).max(n);
            }
        }
        for t in engine.tickets.values() {
            engine.queues.insert(t);
        }
        Ok(engine)
    }

    /// Serializes the state as a snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        // Serializing plain maps and strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Sequence number of the last event applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Time of the last event applied.
    pub fn last_at(&self) -> Option<Timestamp> {
        self.last_at
    }

    /// The current configuration.
    pub fn config(&self) -> &CenterConfig {
        &self.config
    }

    /// Today's ticket with this id.
    pub fn ticket(&self, id: TicketId) -> Option<&Ticket> {
        self.tickets.get(&id)
    }

    /// The center's local date at `now`.
    pub fn local_date(&self, now: Timestamp) -> Date {
        now.to_zoned(self.tz.clone()).date()
    }

    /// Whether `day` has closed as of `now`. A close recorded after `now` was dated by a clock
    /// that has since been set back: it has not happened yet.
    fn closed_on(&self, day: Date, now: Timestamp) -> bool {
        self.closed_day == Some(day) && self.closed_at.is_none_or(|at| at <= now)
    }

    /// Handles one command at time `now`.
    pub fn handle(&mut self, command: Command, now: Timestamp) -> Outcome {
        let mut out = Vec::new();
        let stepped = matches!(command, Command::NoteClockStep { .. });
        if let Command::NoteClockStep { expected } = &command {
            let offset_ms =
                i64::try_from(now.duration_since(*expected).as_millis()).unwrap_or(i64::MAX);
            self.record(
                &mut out,
                now,
                Event::ClockStepped {
                    expected: *expected,
                    offset_ms,
                },
            );
        }
        self.roll_day(now, stepped, &mut out);
        let result = self.decide(command, now, &mut out);
        Outcome {
            events: out,
            result,
        }
    }

    /// Folds one recorded event into the state.
    ///
    /// Events must come in `seq` order without gaps; one that does not is ignored and
    /// reported, so a corrupt log cannot silently fork the state.
    pub fn apply(&mut self, rec: &Recorded) -> Result<(), ApplyError> {
        if rec.seq != self.seq + 1 {
            return Err(ApplyError {
                expected: self.seq + 1,
                found: rec.seq,
            });
        }
        self.seq = rec.seq;
        self.fold(&rec.event, rec.at);
        Ok(())
    }

    fn record(&mut self, out: &mut Vec<Recorded>, at: Timestamp, event: Event) {
        let rec = Recorded {
            seq: self.seq + 1,
            at,
            event,
        };
        self.seq = rec.seq;
        self.fold(&rec.event, rec.at);
        out.push(rec);
    }

    fn counter_state(&self, id: CounterId) -> Result<&CounterState, DomainError> {
        if self.config.counter(id).is_none() {
            return Err(DomainError::UnknownCounter(id));
        }
        Ok(self.counters.get(&id).unwrap_or(&DEFAULT_COUNTER))
    }

    /// The counter's current ticket, which must be in one of `allowed` states.
    fn current(
        &self,
        counter: CounterId,
        allowed: &[TicketStatus],
        action: &str,
    ) -> Result<&Ticket, DomainError> {
        let state = self.counter_state(counter)?;
        let ticket = state
            .current
            .and_then(|id| self.tickets.get(&id))
            .ok_or(DomainError::NoCurrentTicket(counter))?;
        if !allowed.contains(&ticket.status) {
            return Err(DomainError::Conflict(format!(
                "cannot {action} ticket {} while it is {}",
                ticket.number,
                status_word(ticket.status)
            )));
        }
        Ok(ticket)
    }

    fn ticket_reply(&self, id: TicketId, now: Timestamp) -> Reply {
        Reply::Ticket {
            ticket: Box::new(self.ticket_view(id, now)),
            created: false,
        }
    }

    /// Every ticket of the current day, in id order.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values()
    }

    /// The counter a ticket is held by, checked both ways (used by invariant tests).
    pub fn holder_of(&self, id: TicketId) -> Vec<CounterId> {
        self.counters
            .iter()
            .filter(|(_, c)| c.current == Some(id))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Whether the waiting-queue index agrees with the tickets (checked by property tests).
    #[doc(hidden)]
    pub fn queues_consistent(&self) -> bool {
        let mut rebuilt = Queues::default();
        for t in self.tickets.values() {
            rebuilt.insert(t);
        }
        fn nonempty<K: Clone + Ord>(m: &BTreeMap<K, Queue>) -> BTreeMap<K, Queue> {
            m.iter()
                .filter(|(_, set)| !set.is_empty())
                .map(|(k, set)| (k.clone(), set.clone()))
                .collect()
        }
        nonempty(&rebuilt.by_service) == nonempty(&self.queues.by_service)
            && nonempty(&rebuilt.by_counter) == nonempty(&self.queues.by_counter)
    }

    /// Builds the read-only view of the whole state.
    pub fn state_view(&self, now: Timestamp) -> StateView {
        self.view(now)
    }
}

static DEFAULT_COUNTER: CounterState = CounterState {
    open: false,
    staff: None,
    current: None,
    priority_streak: 0,
    last_finished: None,
    served_today: 0,
    service_secs_today: 0,
    no_shows_today: 0,
};

/// The stored idempotency key of a request: its `request_id` scoped to the credential.
fn request_key(
    credential: &str,
    request_id: Option<String>,
) -> Result<Option<String>, DomainError> {
    let Some(id) = request_id else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > MAX_REQUEST_ID || id.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!(
            "request_id must be 1 to {MAX_REQUEST_ID} printable characters"
        )));
    }
    if credential.len() > MAX_CREDENTIAL || credential.chars().any(char::is_control) {
        return Err(DomainError::Invalid(
            "the credential identity must be at most 64 printable characters".into(),
        ));
    }
    // Neither part contains the separator (a control character), so keys never collide.
    Ok(Some(format!("{credential}{KEY_SEPARATOR}{id}")))
}

/// Length of a ticket number's prefix: everything but the last three digits.
fn prefix_len(number: &str) -> usize {
    number.len().saturating_sub(3)
}

fn status_word(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Waiting => "waiting",
        TicketStatus::Called => "called",
        TicketStatus::Serving => "being served",
        TicketStatus::Done => "finished",
        TicketStatus::NoShow => "a no-show",
        TicketStatus::Cancelled => "cancelled",
        TicketStatus::Expired => "expired",
    }
}

/// An event arrived out of `seq` order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event seq {found} does not follow {expected}")]
pub struct ApplyError {
    /// The seq that should have come.
    pub expected: u64,
    /// The seq that came.
    pub found: u64,
}

#[cfg(test)]
mod tests;
