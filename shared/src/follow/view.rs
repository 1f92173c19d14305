//! The lobby screen's view model and how each event changes it.
//!
//! Events do not carry everything a snapshot shows (estimates come from service times the
//! engine keeps), so the view keeps what it needs to recompute them the engine's way: waiting
//! tickets × mean service time ÷ open counters serving the service, with the mean taken from
//! the last snapshot's own figures (or the configured service time).

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::domain::{CenterConfig, CounterId, ServiceId, TicketId};
use crate::protocol::{Event, Recorded, StateView};

/// Mean service time assumed when nothing better is known (the engine's own default).
const DEFAULT_SERVICE_S: u64 = 480;

/// A call as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallShown {
    /// The ticket.
    pub ticket: TicketId,
    /// Printed number, e.g. `1005`.
    pub number: String,
    /// Counter it was called to.
    pub counter: CounterId,
    /// That counter's name, e.g. `Quầy 3`.
    pub counter_name: String,
    /// Service of the ticket.
    pub service: ServiceId,
    /// When it was called (server time).
    pub at: Timestamp,
    /// Whether it was a repeated call.
    pub recall: bool,
}

/// What a counter holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldStatus {
    /// Called, the citizen is on the way.
    Called,
    /// Being served.
    Serving,
}

/// The ticket a counter holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTicket {
    /// The ticket.
    pub ticket: TicketId,
    /// Printed number.
    pub number: String,
    /// Service it is served in.
    pub service: ServiceId,
    /// Called or being served.
    pub status: HeldStatus,
    /// When it was called or service started.
    pub since: Timestamp,
}

/// A counter on the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterShown {
    /// The number people read.
    pub id: CounterId,
    /// Name, e.g. `Quầy 3`.
    pub name: String,
    /// Services it serves, in order.
    pub services: Vec<ServiceId>,
    /// Whether it is open.
    pub open: bool,
    /// Ticket it holds.
    pub current: Option<HeldTicket>,
    /// Tickets finished here today.
    pub served_today: u32,
}

/// A service field with its queue, for the screen and the kiosk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceShown {
    /// Stable id.
    pub id: ServiceId,
    /// Name.
    pub name: String,
    /// Number prefix.
    pub prefix: String,
    /// Tickets waiting.
    pub waiting: u32,
    /// Of which priority tickets.
    pub waiting_priority: u32,
    /// Open counters serving it.
    pub open_counters: u32,
    /// Estimated wait for a ticket issued now, in seconds.
    pub estimated_wait_s: u64,
    /// Mean service time the estimate uses, in seconds.
    pub mean_service_s: u64,
}

/// Everything the lobby screen draws, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenView {
    /// Center name.
    pub center: String,
    /// Center time zone (IANA name).
    pub timezone: String,
    /// Business day shown.
    pub day: Date,
    /// Whether the kiosk may issue now.
    pub issuing: bool,
    /// The line the admin set for the screens, if any.
    pub ticker: Option<String>,
    /// Latest call, if any today.
    pub latest: Option<CallShown>,
    /// The latest call is drawn highlighted until then.
    pub highlight_until: Option<Timestamp>,
    /// Every counter, in the center's order.
    pub counters: Vec<CounterShown>,
    /// Latest calls, newest first (the latest included).
    pub recent_calls: Vec<CallShown>,
    /// Services with their queues.
    pub services: Vec<ServiceShown>,
}

impl ScreenView {
    /// The view of a snapshot.
    pub fn from_state(state: &StateView) -> ScreenView {
        let names: HashMap<CounterId, String> = state
            .counters
            .iter()
            .map(|c| (c.id, c.name.clone()))
            .collect();
        let counter_name = |id: CounterId| names.get(&id).cloned().unwrap_or_default();
        let recent_calls: Vec<CallShown> = state
            .recent_calls
            .iter()
            .map(|r| CallShown {
                ticket: r.ticket.id,
                number: r.ticket.number.clone(),
                counter: r.counter,
                counter_name: counter_name(r.counter),
                service: r.ticket.service.clone(),
                at: r.at,
                recall: r.recall,
            })
            .collect();
        let counters = state
            .counters
            .iter()
            .map(|c| CounterShown {
                id: c.id,
                name: c.name.clone(),
                services: c.services.clone(),
                open: c.open,
                current: c.current.as_ref().map(|t| HeldTicket {
                    ticket: t.id,
                    number: t.number.clone(),
                    service: t.service.clone(),
                    status: match t.started_at {
                        Some(_) => HeldStatus::Serving,
                        None => HeldStatus::Called,
                    },
                    since: t.started_at.or(t.called_at).unwrap_or(t.issued_at),
                }),
                served_today: c.served_today,
            })
            .collect();
        let services = state
            .services
            .iter()
            .map(|s| {
                // The engine's estimate is queue × mean ÷ open counters: recover the mean.
                let mean_service_s = if s.waiting > 0 && s.estimated_wait_s > 0 {
                    s.estimated_wait_s * u64::from(s.open_counters.max(1)) / u64::from(s.waiting)
                } else {
                    DEFAULT_SERVICE_S
                };
                ServiceShown {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    prefix: s.prefix.clone(),
                    waiting: s.waiting,
                    waiting_priority: s.waiting_priority,
                    open_counters: s.open_counters,
                    estimated_wait_s: s.estimated_wait_s,
                    mean_service_s,
                }
            })
            .collect();
        ScreenView {
            center: state.center.clone(),
            timezone: state.timezone.clone(),
            day: state.day,
            issuing: state.issuing,
            ticker: state.ticker.clone(),
            latest: recent_calls.first().cloned(),
            highlight_until: None,
            counters,
            recent_calls,
            services,
        }
    }

    /// A counter by its number.
    pub fn counter(&self, id: CounterId) -> Option<&CounterShown> {
        self.counters.iter().find(|c| c.id == id)
    }

    /// A service by its id.
    pub fn service(&self, id: &str) -> Option<&ServiceShown> {
        self.services.iter().find(|s| s.id == id)
    }

    /// Counters that are open, in the center's order.
    pub fn open_counters(&self) -> impl Iterator<Item = &CounterShown> {
        self.counters.iter().filter(|c| c.open)
    }

    /// Tickets waiting across all services.
    pub fn waiting_total(&self) -> u32 {
        self.services.iter().map(|s| s.waiting).sum()
    }

    /// The calendar date at `at` in the center's time zone.
    pub fn local_date(&self, at: Timestamp) -> Option<Date> {
        TimeZone::get(&self.timezone)
            .ok()
            .map(|tz| at.to_zoned(tz).date())
    }

    fn service_mut(&mut self, id: &str) -> Option<&mut ServiceShown> {
        self.services.iter_mut().find(|s| s.id == id)
    }

    fn counter_mut(&mut self, id: CounterId) -> Option<&mut CounterShown> {
        self.counters.iter_mut().find(|c| c.id == id)
    }

    fn add_waiting(&mut self, service: &str, priority: bool, delta: i64) {
        if let Some(s) = self.service_mut(service) {
            s.waiting = shift(s.waiting, delta);
            if priority {
                s.waiting_priority = shift(s.waiting_priority, delta);
            }
        }
    }

    /// Clears the counter holding `ticket`, if one does; says whether one did.
    fn release(&mut self, ticket: TicketId) -> bool {
        let mut released = false;
        for c in &mut self.counters {
            if c.current.as_ref().is_some_and(|t| t.ticket == ticket) {
                c.current = None;
                released = true;
            }
        }
        released
    }

    /// Folds one event into the view. Returns the call it makes, for the announcer to decide.
    pub fn apply(&mut self, rec: &Recorded, recent_limit: usize) -> Option<CallShown> {
        let mut call = None;
        match &rec.event {
            Event::CenterConfigured { config, .. } => self.configure(config),
            Event::TicketIssued { ticket, .. } => {
                self.add_waiting(&ticket.service, ticket.priority.is_some(), 1);
            }
            Event::TicketCalled {
                ticket,
                counter,
                recall,
                ..
            } => {
                if !recall {
                    // A first call (or a call after a transfer) takes it out of its queue.
                    self.release(ticket.id);
                    self.add_waiting(&ticket.service, ticket.priority.is_some(), -1);
                }
                if let Some(c) = self.counter_mut(*counter) {
                    c.current = Some(HeldTicket {
                        ticket: ticket.id,
                        number: ticket.number.clone(),
                        service: ticket.service.clone(),
                        status: HeldStatus::Called,
                        since: rec.at,
                    });
                }
                let shown = CallShown {
                    ticket: ticket.id,
                    number: ticket.number.clone(),
                    counter: *counter,
                    counter_name: self
                        .counter(*counter)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    service: ticket.service.clone(),
                    at: rec.at,
                    recall: *recall,
                };
                // As the engine keeps them: a ticket appears once, at its latest call.
                self.recent_calls.retain(|r| r.ticket != ticket.id);
                self.recent_calls.insert(0, shown.clone());
                self.recent_calls.truncate(recent_limit);
                self.latest = Some(shown.clone());
                call = Some(shown);
            }
            Event::TicketServing {
                ticket, counter, ..
            } => {
                if let Some(held) = self
                    .counter_mut(*counter)
                    .and_then(|c| c.current.as_mut())
                    .filter(|t| t.ticket == ticket.id)
                {
                    held.status = HeldStatus::Serving;
                    held.since = rec.at;
                }
            }
            Event::TicketFinished {
                ticket, counter, ..
            } => {
                self.release(ticket.id);
                if let Some(c) = self.counter_mut(*counter) {
                    c.served_today += 1;
                }
            }
            Event::TicketNoShow { ticket, .. } => {
                self.release(ticket.id);
            }
            Event::TicketReinstated { ticket, .. } => {
                self.add_waiting(&ticket.service, ticket.priority.is_some(), 1);
            }
            Event::TicketTransferred {
                ticket,
                from_counter,
                service,
                ..
            } => {
                let held = from_counter.is_some() && self.release(ticket.id);
                if !held {
                    self.add_waiting(&ticket.service, ticket.priority.is_some(), -1);
                }
                self.add_waiting(service, ticket.priority.is_some(), 1);
            }
            Event::TicketCancelled { ticket, .. } => {
                // Waiting tickets are cancelled; a configuration change may cancel a held one.
                if !self.release(ticket.id) {
                    self.add_waiting(&ticket.service, ticket.priority.is_some(), -1);
                }
            }
            Event::TicketRated { .. } => {}
            Event::CounterOpened { counter, .. } => {
                if let Some(c) = self.counter_mut(*counter) {
                    c.open = true;
                }
            }
            Event::CounterClosed { counter, .. } => {
                if let Some(c) = self.counter_mut(*counter) {
                    c.open = false;
                }
            }
            Event::DayClosed { .. } => self.clear_day(),
            // Shown to admins; a screen needs nothing from it (later events carry the
            // corrected time).
            Event::ClockStepped { .. } => {}
        }
        // As the engine dates its day: the first event after a close opens the next one.
        if !matches!(rec.event, Event::DayClosed { .. })
            && let Some(date) = self.local_date(rec.at)
            && date > self.day
        {
            self.day = date;
        }
        self.refresh_estimates();
        call
    }

    /// Forgets what belongs to the day that ended: calls, queues, counters' tickets.
    pub(super) fn clear_day(&mut self) {
        self.latest = None;
        self.highlight_until = None;
        self.recent_calls.clear();
        for c in &mut self.counters {
            c.open = false;
            c.current = None;
            c.served_today = 0;
        }
        for s in &mut self.services {
            s.waiting = 0;
            s.waiting_priority = 0;
        }
        self.refresh_estimates();
    }

    /// Takes a new configuration: names, services and counters, keeping live counts.
    fn configure(&mut self, config: &CenterConfig) {
        self.center = config.center.name.clone();
        self.timezone = config.center.timezone.clone();
        self.ticker = config.center.ticker.clone();
        let old_services = std::mem::take(&mut self.services);
        self.services = config
            .services
            .iter()
            .map(|s| {
                let old = old_services.iter().find(|o| o.id == s.id);
                ServiceShown {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    prefix: s.prefix.clone(),
                    waiting: old.map_or(0, |o| o.waiting),
                    waiting_priority: old.map_or(0, |o| o.waiting_priority),
                    open_counters: 0,
                    estimated_wait_s: 0,
                    mean_service_s: old.map_or(u64::from(s.service_min) * 60, |o| o.mean_service_s),
                }
            })
            .collect();
        let old_counters = std::mem::take(&mut self.counters);
        self.counters = config
            .counters
            .iter()
            .map(|c| {
                let old = old_counters.iter().find(|o| o.id == c.id);
                CounterShown {
                    id: c.id,
                    name: c.name.clone(),
                    services: c.services.clone(),
                    open: old.is_some_and(|o| o.open),
                    current: old.and_then(|o| o.current.clone()),
                    served_today: old.map_or(0, |o| o.served_today),
                }
            })
            .collect();
    }

    /// Open counters and estimates, the engine's way.
    fn refresh_estimates(&mut self) {
        for s in &mut self.services {
            let open = self
                .counters
                .iter()
                .filter(|c| c.open && c.services.contains(&s.id))
                .count();
            s.open_counters = u32::try_from(open).unwrap_or(u32::MAX);
            s.estimated_wait_s =
                u64::from(s.waiting) * s.mean_service_s / u64::from(s.open_counters.max(1));
        }
    }
}

fn shift(n: u32, delta: i64) -> u32 {
    u32::try_from((i64::from(n) + delta).max(0)).unwrap_or(u32::MAX)
}
