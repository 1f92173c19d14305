//! The pure queue engine: a synchronous state machine over [`Command`]s and [`Event`]s.
//!
//! It owns no clock, no socket and no disk. [`Engine::handle`] takes a command and the current
//! time, decides, and returns the events it recorded (already folded into the state);
//! [`Engine::apply`] folds an event read back from the log. Both paths go through the same
//! `apply`, so replaying the log rebuilds exactly the state that produced it.
//!
//! # Layout
//!
//! - `mod.rs`: state, commands, errors, `handle` and `apply`
//! - `select.rs`: which ticket a counter calls next (priority policy, calling mode)
//! - `view.rs`: positions, estimates and the read-only [`StateView`]

mod select;
mod view;

use std::collections::{BTreeMap, VecDeque};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::{
    CenterConfig, ConfigError, CounterId, Priority, ServiceId, Ticket, TicketId, TicketRef,
    TicketStatus,
};
use crate::protocol::{ClockStep, CounterView, Event, RecentCall, Recorded, StateView, TicketView};

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

/// What someone asks the engine to do. `by` / `staff` name the actor for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Issue a ticket.
    Issue {
        /// Service id.
        service: ServiceId,
        /// Claimed priority.
        priority: Option<Priority>,
        /// Idempotency key, scoped to `credential`: the same pair again returns the same
        /// ticket; the same key from another credential is another request.
        request_id: Option<String>,
        /// Stable identity of the credential that sent the command (a token's or an
        /// account's, as the server derives it), never shown to anyone. Printable, at most 64
        /// characters.
        credential: String,
        /// Issuer.
        by: String,
    },
    /// Finish the counter's current ticket, if any, and call the next one.
    CallNext {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Call the counter's current ticket again.
    Recall {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// The called citizen is at the desk.
    Start {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Service of the current ticket is done.
    Finish {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// The called citizen did not come.
    NoShow {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Send the current ticket to another service and/or a named counter.
    Transfer {
        /// Counter holding the ticket.
        counter: CounterId,
        /// New service.
        to_service: Option<ServiceId>,
        /// Counter that alone may call it.
        to_counter: Option<CounterId>,
        /// Staff member.
        staff: String,
    },
    /// Put a no-show ticket back in its queue.
    Reinstate {
        /// Ticket.
        ticket: TicketId,
        /// Staff member.
        staff: String,
        /// Counters the actor is bound to (`None`: any): it may act only on tickets of the
        /// services they serve, or named for them.
        counters: Option<Vec<CounterId>>,
    },
    /// Withdraw a waiting ticket.
    Cancel {
        /// Ticket.
        ticket: TicketId,
        /// Who.
        staff: String,
        /// Counters the actor is bound to, as for [`Command::Reinstate`].
        counters: Option<Vec<CounterId>>,
    },
    /// Rate a finished ticket.
    Rate {
        /// Ticket.
        ticket: TicketId,
        /// 1..=5.
        score: u8,
        /// For a score of 1 or 2, one of the center's rating reasons.
        reason: Option<String>,
        /// Who rates.
        rater: Rater,
    },
    /// Open (or take over) a counter.
    Open {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Close a counter.
    Close {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Replace the center's configuration.
    Configure {
        /// The new configuration.
        config: Box<CenterConfig>,
        /// Who.
        by: String,
    },
    /// Let time pass: closes the business day when it is over.
    Tick,
    /// Record that the wall clock was stepped: it reads `observed` (the command's `now`)
    /// where elapsed time says `expected`. Recorded before anything else the new time causes
    /// (such as the day closing).
    NoteClockStep {
        /// Where the wall clock should have been.
        expected: Timestamp,
    },
}

/// Who asks to rate a ticket, as the server maps the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rater {
    /// A rating device (a kiosk credential), paired to a counter when it was made with
    /// `--counter N`.
    Device {
        /// Its name in the record.
        name: String,
        /// The counter it is paired to.
        counter: Option<CounterId>,
    },
    /// Counter staff: refused, staff never rate their own service.
    Staff {
        /// Its name.
        name: String,
    },
    /// An admin: the rating is recorded as a correction, at any time of the day.
    Admin {
        /// Its name in the record.
        name: String,
    },
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// No such service.
    #[error("unknown service {0:?}")]
    UnknownService(String),
    /// No such counter.
    #[error("unknown counter {0}")]
    UnknownCounter(CounterId),
    /// No such ticket today.
    #[error("unknown ticket {0}")]
    UnknownTicket(TicketId),
    /// The counter is closed.
    #[error("counter {0} is closed; open it first")]
    CounterClosed(CounterId),
    /// The counter holds no ticket.
    #[error("counter {0} has no current ticket")]
    NoCurrentTicket(CounterId),
    /// The ticket is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// Issuing is not possible now.
    #[error("{0}")]
    IssuingClosed(String),
    /// The service ran out of numbers for today.
    #[error("service {0:?} has issued all its numbers for today")]
    NumbersExhausted(String),
    /// A value is out of its allowed range.
    #[error("{0}")]
    Invalid(String),
    /// The configuration is refused.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The actor is bound to counters that do not serve this ticket.
    #[error("{0}")]
    NotYourCounter(String),
    /// Staff may not rate.
    #[error("staff may not rate tickets; the counter's rating device does")]
    StaffCannotRate,
    /// A device that is not paired to a counter may not rate.
    #[error("this device is not a counter's rating device (make its token with --counter N)")]
    RatingDeviceUnpaired,
    /// The rating device belongs to another counter than the one that finished the ticket.
    #[error("{0}")]
    WrongRatingDevice(String),
    /// The ticket already has its rating.
    #[error("ticket {0} is already rated")]
    AlreadyRated(String),
    /// The rating window after the finish has passed.
    #[error("{0}")]
    RatingWindowClosed(String),
}

impl DomainError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::UnknownService(_) => "unknown_service",
            DomainError::UnknownCounter(_) => "unknown_counter",
            DomainError::UnknownTicket(_) => "unknown_ticket",
            DomainError::CounterClosed(_) => "counter_closed",
            DomainError::NoCurrentTicket(_) => "no_current_ticket",
            DomainError::Conflict(_) => "conflict",
            DomainError::IssuingClosed(_) => "issuing_closed",
            DomainError::NumbersExhausted(_) => "numbers_exhausted",
            DomainError::Invalid(_) => "invalid",
            DomainError::Config(_) => "invalid_config",
            DomainError::NotYourCounter(_) => "not_your_counter",
            DomainError::StaffCannotRate => "staff_cannot_rate",
            DomainError::RatingDeviceUnpaired => "rating_device_unpaired",
            DomainError::WrongRatingDevice(_) => "wrong_rating_device",
            DomainError::AlreadyRated(_) => "already_rated",
            DomainError::RatingWindowClosed(_) => "rating_window_closed",
        }
    }

    /// Whether the refusal is about who asks rather than what is asked (HTTP 403).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            DomainError::NotYourCounter(_)
                | DomainError::StaffCannotRate
                | DomainError::RatingDeviceUnpaired
                | DomainError::WrongRatingDevice(_)
        )
    }
}

/// What a successful command answers, besides its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A ticket; `created` is false when an idempotent issue returned an existing ticket.
    Ticket {
        /// The ticket as it is now.
        ticket: Box<TicketView>,
        /// Whether this command created it.
        created: bool,
    },
    /// Call next found nobody waiting.
    NobodyWaiting,
    /// A counter as it is now.
    Counter(Box<CounterView>),
    /// Done, nothing to show.
    Ok,
}

/// The result of [`Engine::handle`]: the events recorded (to persist, even when the command
/// itself was refused, because a day rollover may have happened first) and the answer.
#[derive(Debug)]
pub struct Outcome {
    /// Events recorded, already applied, in `seq` order.
    pub events: Vec<Recorded>,
    /// The answer to the caller.
    pub result: Result<Reply, DomainError>,
}

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

    /// Closes the business day when the date has moved on or the closing hour has passed;
    /// when the clock was `stepped` back to an earlier date, also the day of the wrong date,
    /// so the business day follows the corrected clock. (Without a step, a date that seems
    /// to go back is a clock within a few seconds of midnight: the day stays.)
    fn roll_day(&mut self, now: Timestamp, stepped: bool, out: &mut Vec<Recorded>) {
        let zoned = now.to_zoned(self.tz.clone());
        let today = zoned.date();
        let live = self.day.unwrap_or(today);
        let due = if live < today || stepped && live > today {
            true
        } else {
            live == today
                && !self.closed_on(today, now)
                && self
                    .config
                    .center
                    .close
                    .is_some_and(|close| zoned.time() >= close)
        };
        let anything_open = self.day.is_some() || self.counters.values().any(|c| c.open);
        if due && anything_open {
            let expired = self
                .tickets
                .values()
                .filter(|t| !matches!(t.status, TicketStatus::Done | TicketStatus::Cancelled))
                .map(TicketRef::from)
                .collect();
            self.record(out, now, Event::DayClosed { day: live, expired });
        } else if due && !self.closed_on(live, now) && live == today {
            // Nothing happened today, but the closing hour passed: remember it so the kiosk
            // stops issuing.
            self.record(
                out,
                now,
                Event::DayClosed {
                    day: live,
                    expired: Vec::new(),
                },
            );
        }
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

    fn decide(
        &mut self,
        command: Command,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        match command {
            Command::Tick | Command::NoteClockStep { .. } => Ok(Reply::Ok),
            Command::Issue {
                service,
                priority,
                request_id,
                credential,
                by,
            } => {
                let key = request_key(&credential, request_id)?;
                self.issue(service, priority, key, by, now, out)
            }
            Command::CallNext { counter, staff } => {
                let state = self.counter_state(counter)?;
                if !state.open {
                    return Err(DomainError::CounterClosed(counter));
                }
                if let Some(id) = state.current
                    && let Some(t) = self.tickets.get(&id)
                {
                    let ticket = TicketRef::from(t);
                    self.record(
                        out,
                        now,
                        Event::TicketFinished {
                            ticket,
                            counter,
                            staff: staff.clone(),
                        },
                    );
                }
                match self.select(counter, now) {
                    Some((id, as_priority)) => {
                        let ticket = TicketRef::from(&self.tickets[&id]);
                        self.record(
                            out,
                            now,
                            Event::TicketCalled {
                                ticket,
                                counter,
                                staff,
                                recall: false,
                                as_priority,
                            },
                        );
                        Ok(self.ticket_reply(id, now))
                    }
                    None => Ok(Reply::NobodyWaiting),
                }
            }
            Command::Recall { counter, staff } => {
                let t = self.current(counter, &[TicketStatus::Called], "recall")?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketCalled {
                        ticket,
                        counter,
                        staff,
                        recall: true,
                        as_priority: false,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Start { counter, staff } => {
                let t = self.current(counter, &[TicketStatus::Called], "start")?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketServing {
                        ticket,
                        counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Finish { counter, staff } => {
                let t = self.current(
                    counter,
                    &[TicketStatus::Called, TicketStatus::Serving],
                    "finish",
                )?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketFinished {
                        ticket,
                        counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::NoShow { counter, staff } => {
                let t = self.current(counter, &[TicketStatus::Called], "mark as no-show")?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketNoShow {
                        ticket,
                        counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Transfer {
                counter,
                to_service,
                to_counter,
                staff,
            } => {
                let t = self.current(
                    counter,
                    &[TicketStatus::Called, TicketStatus::Serving],
                    "transfer",
                )?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                if to_service.is_none() && to_counter.is_none() {
                    return Err(DomainError::Invalid(
                        "name a service or a counter to transfer to".into(),
                    ));
                }
                if let Some(s) = &to_service
                    && self.config.service(s).is_none()
                {
                    return Err(DomainError::UnknownService(s.clone()));
                }
                if let Some(c) = to_counter {
                    self.counter_state(c)?;
                }
                let service = to_service.unwrap_or_else(|| ticket.service.clone());
                if to_counter == Some(counter) && service == ticket.service {
                    return Err(DomainError::Conflict(
                        "the ticket is already at this counter".into(),
                    ));
                }
                if to_counter.is_none()
                    && !self
                        .config
                        .counters
                        .iter()
                        .any(|c| c.services.contains(&service))
                {
                    return Err(DomainError::Conflict(format!(
                        "no counter serves {service:?}"
                    )));
                }
                self.record(
                    out,
                    now,
                    Event::TicketTransferred {
                        ticket,
                        from_counter: Some(counter),
                        service,
                        counter: to_counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Reinstate {
                ticket,
                staff,
                counters,
            } => {
                let t = self
                    .tickets
                    .get(&ticket)
                    .ok_or(DomainError::UnknownTicket(ticket))?;
                self.check_reach(t, counters.as_deref(), "reinstate")?;
                if t.status != TicketStatus::NoShow {
                    return Err(DomainError::Conflict(format!(
                        "only a no-show ticket can be reinstated; {} is {}",
                        t.number,
                        status_word(t.status)
                    )));
                }
                let r = TicketRef::from(t);
                self.record(out, now, Event::TicketReinstated { ticket: r, staff });
                Ok(self.ticket_reply(ticket, now))
            }
            Command::Cancel {
                ticket,
                staff,
                counters,
            } => {
                let t = self
                    .tickets
                    .get(&ticket)
                    .ok_or(DomainError::UnknownTicket(ticket))?;
                self.check_reach(t, counters.as_deref(), "cancel")?;
                if t.status != TicketStatus::Waiting {
                    return Err(DomainError::Conflict(format!(
                        "only a waiting ticket can be cancelled; {} is {}",
                        t.number,
                        status_word(t.status)
                    )));
                }
                let r = TicketRef::from(t);
                self.record(
                    out,
                    now,
                    Event::TicketCancelled {
                        ticket: r,
                        staff,
                        reason: None,
                    },
                );
                Ok(self.ticket_reply(ticket, now))
            }
            Command::Rate {
                ticket,
                score,
                reason,
                rater,
            } => self.rate(ticket, score, reason, rater, now, out),
            Command::Open { counter, staff } => {
                let state = self.counter_state(counter)?;
                if !state.open || state.staff.as_deref() != Some(staff.as_str()) {
                    self.record(out, now, Event::CounterOpened { counter, staff });
                }
                Ok(Reply::Counter(Box::new(self.counter_view(counter, now))))
            }
            Command::Close { counter, staff } => {
                let state = self.counter_state(counter)?;
                if let Some(t) = state.current.and_then(|id| self.tickets.get(&id)) {
                    return Err(DomainError::Conflict(format!(
                        "counter {counter} still holds ticket {}; finish, transfer or mark it first",
                        t.number
                    )));
                }
                if state.open {
                    self.record(out, now, Event::CounterClosed { counter, staff });
                }
                Ok(Reply::Counter(Box::new(self.counter_view(counter, now))))
            }
            Command::Configure { config, by } => self.configure(*config, by, now, out),
        }
    }

    /// Rates a finished ticket: from the rating device of the counter that finished it,
    /// once, within the rating window; or from an admin, as a correction.
    fn rate(
        &mut self,
        ticket: TicketId,
        score: u8,
        reason: Option<String>,
        rater: Rater,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        if !(1..=5).contains(&score) {
            return Err(DomainError::Invalid(format!(
                "score must be 1 to 5, not {score}"
            )));
        }
        if let Some(reason) = &reason {
            if score > 2 {
                return Err(DomainError::Invalid(
                    "a reason goes only with a rating of 1 or 2".into(),
                ));
            }
            if !self.config.center.rating_reasons.contains(reason) {
                return Err(DomainError::Invalid(format!(
                    "{reason:?} is not one of the center's rating reasons"
                )));
            }
        }
        let (by, device_counter) = match rater {
            Rater::Staff { .. } => return Err(DomainError::StaffCannotRate),
            Rater::Device { counter: None, .. } => return Err(DomainError::RatingDeviceUnpaired),
            Rater::Device {
                name,
                counter: Some(c),
            } => (name, Some(c)),
            Rater::Admin { name } => (name, None),
        };
        let t = self
            .tickets
            .get(&ticket)
            .ok_or(DomainError::UnknownTicket(ticket))?;
        if t.status != TicketStatus::Done {
            return Err(DomainError::Conflict(format!(
                "ticket {} is {}; only a finished ticket can be rated",
                t.number,
                status_word(t.status)
            )));
        }
        let (Some(counter), Some(staff)) = (t.counter, t.staff.clone()) else {
            return Err(DomainError::Conflict(format!(
                "ticket {} was never served",
                t.number
            )));
        };
        if let Some(device) = device_counter {
            if device != counter {
                return Err(DomainError::WrongRatingDevice(format!(
                    "ticket {} was finished at counter {counter}; this is counter {device}'s rating device",
                    t.number
                )));
            }
            if t.rating.is_some() {
                return Err(DomainError::AlreadyRated(t.number.clone()));
            }
            let window = self.config.center.rating_window_min;
            let finished = t.finished_at.unwrap_or(now);
            // A finish dated after `now` (the clock was stepped back since) is within it.
            if now.duration_since(finished) > SignedDuration::from_mins(i64::from(window)) {
                return Err(DomainError::RatingWindowClosed(format!(
                    "ticket {} can be rated only within {window} minutes of its finish",
                    t.number
                )));
            }
        }
        let r = TicketRef::from(t);
        self.record(
            out,
            now,
            Event::TicketRated {
                ticket: r,
                counter,
                staff,
                score,
                by: Some(by),
                correction: device_counter.is_none(),
                reason,
            },
        );
        Ok(self.ticket_reply(ticket, now))
    }

    /// Refuses when the actor is bound to counters none of which serves `t`'s service or is
    /// named for it.
    fn check_reach(
        &self,
        t: &Ticket,
        counters: Option<&[CounterId]>,
        action: &str,
    ) -> Result<(), DomainError> {
        let Some(counters) = counters else {
            return Ok(());
        };
        let reaches = counters.iter().any(|&c| {
            t.for_counter == Some(c)
                || self
                    .config
                    .counter(c)
                    .is_some_and(|k| k.services.contains(&t.service))
        });
        if reaches {
            Ok(())
        } else {
            Err(DomainError::NotYourCounter(format!(
                "you may not {action} ticket {}: your counters do not serve {:?}",
                t.number, t.service
            )))
        }
    }

    fn issue(
        &mut self,
        service: ServiceId,
        priority: Option<Priority>,
        request_id: Option<String>,
        by: String,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        if let Some(key) = &request_id
            && let Some(&id) = self.requests.get(key)
        {
            let view = self.ticket_view(id, now);
            if view.service != service || view.priority != priority {
                return Err(DomainError::Conflict(
                    "request_id was already used for a different ticket".into(),
                ));
            }
            return Ok(Reply::Ticket {
                ticket: Box::new(view),
                created: false,
            });
        }
        let field = self
            .config
            .service(&service)
            .ok_or_else(|| DomainError::UnknownService(service.clone()))?;
        if !self
            .config
            .counters
            .iter()
            .any(|c| c.services.contains(&service))
        {
            return Err(DomainError::IssuingClosed(format!(
                "no counter serves {:?}",
                field.name
            )));
        }
        if let Some(note) = self.issuing_note(now) {
            return Err(DomainError::IssuingClosed(note));
        }
        // The live business day: the local date, but for a clock a few seconds behind midnight.
        let day = self.day.unwrap_or_else(|| self.local_date(now));
        let n = self
            .numbers
            .get(&day)
            .and_then(|numbers| numbers.get(&service))
            .copied()
            .unwrap_or(field.start);
        if n > 999 {
            return Err(DomainError::NumbersExhausted(service));
        }
        let ticket = Ticket {
            id: self.next_ticket_id,
            number: format!("{}{n:03}", field.prefix),
            service,
            priority,
            day,
            issued_at: now,
            status: TicketStatus::Waiting,
            counter: None,
            for_counter: None,
            first_called_at: None,
            called_at: None,
            started_at: None,
            finished_at: None,
            staff: None,
            recalls: 0,
            rating: None,
            request_id,
        };
        let id = ticket.id;
        self.record(out, now, Event::TicketIssued { ticket, by });
        Ok(Reply::Ticket {
            ticket: Box::new(self.ticket_view(id, now)),
            created: true,
        })
    }

    /// Why the kiosk may not issue at `now`, or `None` when it may.
    pub fn issuing_note(&self, now: Timestamp) -> Option<String> {
        let zoned = now.to_zoned(self.tz.clone());
        let c = &self.config.center;
        // The closing hour stops issuing even before an event has closed today: the first
        // command after it may have closed the previous day instead.
        if self.closed_on(zoned.date(), now) || c.close.is_some_and(|close| zoned.time() >= close) {
            return Some("the center has closed for today".into());
        }
        if let Some(open) = c.open
            && zoned.time() < open
        {
            return Some(format!("issuing starts at {}", open.strftime("%H:%M")));
        }
        if let Some(until) = c.issue_until
            && zoned.time() >= until
        {
            return Some(format!(
                "issuing stopped at {} for today",
                until.strftime("%H:%M")
            ));
        }
        None
    }

    fn configure(
        &mut self,
        config: CenterConfig,
        by: String,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        config.validate()?;
        // The first event of a log always records the configuration, even the default one,
        // so the log alone tells what the center was.
        if config == self.config && self.seq > 0 {
            return Ok(Reply::Ok);
        }
        // Tickets the new configuration can no longer route are settled first, so no ticket
        // is left in a queue nobody can call.
        let open: Vec<Ticket> = self
            .tickets
            .values()
            .filter(|t| {
                matches!(
                    t.status,
                    TicketStatus::Waiting | TicketStatus::Called | TicketStatus::Serving
                )
            })
            .cloned()
            .collect();
        for t in open {
            let service_kept = config
                .counters
                .iter()
                .any(|c| c.services.contains(&t.service));
            let holder = t.counter.filter(|_| t.status.at_counter());
            let holder_kept = holder.is_none_or(|c| config.counter(c).is_some());
            let named_kept = t.for_counter.is_none_or(|c| config.counter(c).is_some());
            if holder_kept && named_kept && (service_kept || t.for_counter.is_some()) {
                continue;
            }
            let ticket = TicketRef::from(&t);
            if service_kept {
                self.record(
                    out,
                    now,
                    Event::TicketTransferred {
                        ticket,
                        from_counter: holder,
                        service: t.service.clone(),
                        counter: None,
                        staff: by.clone(),
                    },
                );
            } else {
                self.record(
                    out,
                    now,
                    Event::TicketCancelled {
                        ticket,
                        staff: by.clone(),
                        reason: Some("its service or counter was removed".into()),
                    },
                );
            }
        }
        self.record(out, now, Event::CenterConfigured { config, by });
        Ok(Reply::Ok)
    }

    fn fold(&mut self, event: &Event, at: Timestamp) {
        self.last_at = Some(at);
        let touched = ticket_of(event).filter(|id| self.tickets.contains_key(id));
        if let Some(t) = touched.and_then(|id| self.tickets.get(&id)) {
            self.queues.remove(t);
        }
        let opens_day = self.day.is_none()
            && !matches!(event, Event::DayClosed { .. } | Event::ClockStepped { .. });
        match event {
            Event::CenterConfigured { config, .. } => {
                self.config = config.clone();
                self.tz = config.time_zone().unwrap_or(TimeZone::UTC);
                self.counters.retain(|id, _| config.counter(*id).is_some());
            }
            Event::TicketIssued { ticket, .. } => {
                let n = ticket
                    .number
                    .get(prefix_len(&ticket.number)..)
                    .and_then(|d| d.parse::<u32>().ok());
                if let Some(n) = n {
                    let next = self
                        .numbers
                        .entry(ticket.day)
                        .or_default()
                        .entry(ticket.service.clone())
                        .or_insert(n + 1);
                    *next = (*next).max(n + 1);
                    while self.numbers.len() > NUMBERED_DAYS {
                        self.numbers.pop_first();
                    }
                }
                if let Some(key) = &ticket.request_id {
                    self.requests.insert(key.clone(), ticket.id);
                }
                self.next_ticket_id = self.next_ticket_id.max(ticket.id + 1);
                self.tickets.insert(ticket.id, ticket.clone());
            }
            Event::TicketCalled {
                ticket,
                counter,
                staff,
                recall,
                as_priority,
            } => {
                if let Some(t) = self.tickets.get_mut(&ticket.id) {
                    t.status = TicketStatus::Called;
                    t.counter = Some(*counter);
                    t.for_counter = None;
                    t.called_at = Some(at);
                    t.first_called_at.get_or_insert(at);
                    t.staff = Some(staff.clone());
                    if *recall {
                        t.recalls += 1;
                    } else {
                        t.recalls = 0;
                        t.started_at = None;
                    }
                }
                let c = self.counters.entry(*counter).or_default();
                c.current = Some(ticket.id);
                if !recall {
                    c.priority_streak = if *as_priority {
                        c.priority_streak + 1
                    } else {
                        0
                    };
                }
                self.recent_calls.retain(|r| r.ticket.id != ticket.id);
                self.recent_calls.push_front(RecentCall {
                    ticket: ticket.clone(),
                    counter: *counter,
                    at,
                    recall: *recall,
                });
                self.recent_calls.truncate(RECENT_CALLS);
            }
            Event::TicketServing { ticket, .. } => {
                if let Some(t) = self.tickets.get_mut(&ticket.id) {
                    t.status = TicketStatus::Serving;
                    t.started_at = Some(at);
                }
            }
            Event::TicketFinished {
                ticket,
                counter,
                staff,
            } => {
                let mut served_secs = 0;
                if let Some(t) = self.tickets.get_mut(&ticket.id) {
                    t.status = TicketStatus::Done;
                    t.finished_at = Some(at);
                    t.staff = Some(staff.clone());
                    if let Some(from) = t.started_at.or(t.called_at) {
                        let secs = at.duration_since(from).as_secs().max(0) as u64;
                        served_secs = secs;
                        let samples = self.service_times.entry(t.service.clone()).or_default();
                        samples.push_back(secs);
                        while samples.len() > SERVICE_SAMPLES {
                            samples.pop_front();
                        }
                    }
                }
                let c = self.counters.entry(*counter).or_default();
                if c.current == Some(ticket.id) {
                    c.current = None;
                }
                c.last_finished = Some(ticket.id);
                c.served_today += 1;
                c.service_secs_today += served_secs;
            }
            Event::TicketNoShow {
                ticket, counter, ..
            } => {
                if let Some(t) = self.tickets.get_mut(&ticket.id) {
                    t.status = TicketStatus::NoShow;
                }
                self.release(*counter, ticket.id);
                if let Some(c) = self.counters.get_mut(counter) {
                    c.no_shows_today += 1;
                }
            }
            Event::TicketReinstated { ticket, .. } => {
                if let Some(t) = self.tickets.get_mut(&ticket.id) {
                    t.status = TicketStatus::Waiting;
                    t.counter = None;
                    t.for_counter = None;
                    t.started_at = None;
                }
            }
            Event::TicketTransferred {
                ticket,
                from_counter,
                service,
                counter,
                ..
            } => {
                if let Some(t) = self.tickets.get_mut(&ticket.id) {
                    t.status = TicketStatus::Waiting;
                    t.service = service.clone();
                    t.counter = *counter;
                    t.for_counter = *counter;
                    t.started_at = None;
                    t.recalls = 0;
                }
                if let Some(from) = from_counter {
                    self.release(*from, ticket.id);
                }
            }
            Event::TicketCancelled { ticket, .. } => {
                // A configuration change may cancel a ticket a counter still holds.
                let holder = self.tickets.get_mut(&ticket.id).and_then(|t| {
                    let holder = t.counter.filter(|_| t.status.at_counter());
                    t.status = TicketStatus::Cancelled;
                    holder
                });
                if let Some(c) = holder {
                    self.release(c, ticket.id);
                }
            }
            Event::TicketRated { ticket, score, .. } => {
                if let Some(t) = self.tickets.get_mut(&ticket.id) {
                    t.rating = Some(*score);
                }
            }
            Event::CounterOpened { counter, staff } => {
                let c = self.counters.entry(*counter).or_default();
                c.open = true;
                c.staff = Some(staff.clone());
            }
            Event::CounterClosed { counter, .. } => {
                let c = self.counters.entry(*counter).or_default();
                c.open = false;
                c.staff = None;
            }
            Event::DayClosed { day, .. } => {
                // A future day closed because the clock was corrected back is not over: when
                // it really comes it opens again (and continues its numbers).
                if self.local_date(at) >= *day {
                    self.closed_day = Some(*day);
                    self.closed_at = Some(at);
                }
                self.day = None;
                self.tickets.clear();
                self.requests.clear();
                self.recent_calls.clear();
                self.service_times.clear();
                self.counters.clear();
                self.queues = Queues::default();
            }
            Event::ClockStepped { offset_ms, .. } => {
                self.clock_steps.push_front(ClockStep {
                    at,
                    offset_ms: *offset_ms,
                    seq: self.seq,
                });
                self.clock_steps.truncate(CLOCK_STEPS);
            }
        }
        let touched = touched.or(match event {
            Event::TicketIssued { ticket, .. } => Some(ticket.id),
            _ => None,
        });
        if let Some(t) = touched.and_then(|id| self.tickets.get(&id)) {
            self.queues.insert(t);
        }
        // After the match, so a configuration that changes the time zone dates the day in
        // the new zone.
        if opens_day {
            self.day = Some(self.local_date(at));
        }
    }

    fn release(&mut self, counter: CounterId, ticket: TicketId) {
        if let Some(c) = self.counters.get_mut(&counter)
            && c.current == Some(ticket)
        {
            c.current = None;
        }
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

/// The ticket an event changes, if any.
fn ticket_of(event: &Event) -> Option<TicketId> {
    match event {
        Event::TicketIssued { ticket, .. } => Some(ticket.id),
        Event::TicketCalled { ticket, .. }
        | Event::TicketServing { ticket, .. }
        | Event::TicketFinished { ticket, .. }
        | Event::TicketNoShow { ticket, .. }
        | Event::TicketReinstated { ticket, .. }
        | Event::TicketTransferred { ticket, .. }
        | Event::TicketCancelled { ticket, .. }
        | Event::TicketRated { ticket, .. } => Some(ticket.id),
        Event::CenterConfigured { .. }
        | Event::CounterOpened { .. }
        | Event::CounterClosed { .. }
        | Event::DayClosed { .. }
        | Event::ClockStepped { .. } => None,
    }
}

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
