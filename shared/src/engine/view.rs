//! Positions, estimates and the read-only views of the state.

use jiff::Timestamp;

use super::{CounterState, DEFAULT_COUNTER, Engine, Queue};
use crate::domain::{CounterId, Ticket, TicketId, TicketRef, TicketStatus};
use crate::protocol::{CounterView, ServiceView, StateView, TicketView};

/// How many upcoming tickets each service shows.
const NEXT_SHOWN: usize = 5;

impl Engine {
    /// The queue a waiting ticket stands in.
    fn queue_of(&self, t: &Ticket) -> Option<&Queue> {
        match t.for_counter {
            Some(c) => self.queues.by_counter.get(&c),
            None => self.queues.by_service.get(&t.service),
        }
    }

    /// People ahead of a waiting ticket: those in its queue who are called before it.
    pub(super) fn ahead_of(&self, t: &Ticket, now: Timestamp) -> u32 {
        let Some(queue) = self.queue_of(t) else {
            return 0;
        };
        // Called before `t`: any priority ticket when `t` is not one, and within the same
        // class whoever was issued earlier.
        let mine = t.id;
        let t_priority = self.effective_priority(t, now);
        let n = queue
            .iter()
            .filter(|&(&id, &(issued_at, claimed))| {
                let u_priority = self.counts_as_priority(claimed, issued_at, now);
                id != mine && (u_priority && !t_priority || u_priority == t_priority && id < mine)
            })
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Mean recent service time of a service in seconds, or its configured default.
    fn mean_service_s(&self, service: &str) -> u64 {
        match self.service_times.get(service) {
            Some(samples) if !samples.is_empty() => {
                samples.iter().sum::<u64>() / samples.len() as u64
            }
            _ => self
                .config
                .service(service)
                .map_or(480, |s| u64::from(s.service_min) * 60),
        }
    }

    fn counter(&self, id: CounterId) -> &CounterState {
        self.counters.get(&id).unwrap_or(&DEFAULT_COUNTER)
    }

    /// Open counters that serve `service`.
    fn open_counters(&self, service: &str) -> u32 {
        let n = self
            .config
            .counters
            .iter()
            .filter(|c| c.services.iter().any(|s| s == service) && self.counter(c.id).open)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Estimated seconds until a ticket with `ahead` people before it is called: people ahead
    /// × recent mean service time ÷ open counters serving the service (at least one).
    pub(super) fn estimate_s(&self, service: &str, ahead: u32, named_counter: bool) -> u64 {
        let counters = if named_counter {
            1
        } else {
            self.open_counters(service).max(1)
        };
        u64::from(ahead) * self.mean_service_s(service) / u64::from(counters)
    }

    /// A ticket of today as the API shows it (without its track secret).
    pub fn ticket_view(&self, id: TicketId, now: Timestamp) -> TicketView {
        let Some(t) = self
            .tickets
            .get(&id)
            .or_else(|| self.rateable_after_close.get(&id))
        else {
            // Callers pass ids they just looked up; an unknown id yields an obviously empty view.
            return TicketView {
                id,
                number: String::new(),
                service: String::new(),
                service_name: String::new(),
                priority: None,
                status: TicketStatus::Expired,
                day: self.local_date(now),
                issued_at: now,
                called_at: None,
                started_at: None,
                counter: None,
                ahead: 0,
                estimated_wait_s: 0,
                track: None,
            };
        };
        let (ahead, estimated_wait_s) = if t.status == TicketStatus::Waiting {
            let ahead = self.ahead_of(t, now);
            (
                ahead,
                self.estimate_s(&t.service, ahead, t.for_counter.is_some()),
            )
        } else {
            (0, 0)
        };
        TicketView {
            id: t.id,
            number: t.number.clone(),
            service: t.service.clone(),
            service_name: self
                .config
                .service(&t.service)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            priority: t.priority,
            status: t.status,
            day: t.day,
            issued_at: t.issued_at,
            called_at: t.called_at,
            started_at: t.started_at,
            counter: t.counter,
            ahead,
            estimated_wait_s,
            track: None,
        }
    }

    /// A counter with its live state.
    pub fn counter_view(&self, id: CounterId, now: Timestamp) -> CounterView {
        let state = self.counter(id);
        let config = self.config.counter(id);
        let named = self.queues.by_counter.get(&id).map_or(0, Queue::len);
        let general: usize = config
            .map(|c| {
                c.services
                    .iter()
                    .filter_map(|s| self.queues.by_service.get(s))
                    .map(Queue::len)
                    .sum()
            })
            .unwrap_or(0);
        let waiting = named + general;
        CounterView {
            id,
            name: config.map(|c| c.name.clone()).unwrap_or_default(),
            services: config.map(|c| c.services.clone()).unwrap_or_default(),
            mode: config.map(|c| c.mode).unwrap_or_default(),
            open: state.open,
            staff: state.staff.clone(),
            current: state.current.map(|t| self.ticket_view(t, now)),
            last_finished: state
                .last_finished
                .and_then(|t| self.tickets.get(&t))
                .map(TicketRef::from),
            served_today: state.served_today,
            avg_service_s: state
                .service_secs_today
                .checked_div(u64::from(state.served_today))
                .unwrap_or(0),
            no_shows_today: state.no_shows_today,
            waiting: u32::try_from(waiting).unwrap_or(u32::MAX),
        }
    }

    /// The whole live state.
    pub(super) fn view(&self, now: Timestamp) -> StateView {
        // Tickets transferred to a named counter still count in their service's queue.
        let named: Vec<&Ticket> = self
            .queues
            .by_counter
            .values()
            .flat_map(|q| q.keys())
            .filter_map(|id| self.tickets.get(id))
            .collect();
        let empty = Queue::new();
        let services = self
            .config
            .services
            .iter()
            .map(|s| {
                let queue = self.queues.by_service.get(&s.id).unwrap_or(&empty);
                let named_here: Vec<&Ticket> = named
                    .iter()
                    .copied()
                    .filter(|t| t.service == s.id)
                    .collect();
                // One pass in issue order: the first few of each class are the next to be
                // called; claimed priority is counted on the way.
                let mut first_priority = Vec::with_capacity(NEXT_SHOWN);
                let mut first_normal = Vec::with_capacity(NEXT_SHOWN);
                let mut claimed_count = 0;
                for (&id, &(issued_at, claimed)) in queue {
                    claimed_count += usize::from(claimed);
                    let bucket = if self.counts_as_priority(claimed, issued_at, now) {
                        &mut first_priority
                    } else {
                        &mut first_normal
                    };
                    if bucket.len() < NEXT_SHOWN {
                        bucket.push(id);
                    }
                }
                let mut next: Vec<(bool, TicketId)> = first_priority
                    .into_iter()
                    .map(|id| (false, id))
                    .chain(first_normal.into_iter().map(|id| (true, id)))
                    .chain(
                        named_here
                            .iter()
                            .map(|t| (!self.effective_priority(t, now), t.id)),
                    )
                    .collect();
                next.sort();
                // The longest-waiting ticket is the first issued, whatever the clock said.
                let oldest = queue
                    .iter()
                    .next()
                    .map(|(&id, &(at, _))| (id, at))
                    .into_iter()
                    .chain(named_here.iter().map(|t| (t.id, t.issued_at)))
                    .min()
                    .map(|(_, at)| at);
                let claimed_named = named_here.iter().filter(|t| t.priority.is_some()).count();
                ServiceView {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    prefix: s.prefix.clone(),
                    target_wait_min: s.target_wait_min,
                    waiting: u32::try_from(queue.len() + named_here.len()).unwrap_or(u32::MAX),
                    waiting_priority: u32::try_from(claimed_count + claimed_named)
                        .unwrap_or(u32::MAX),
                    oldest_waiting_since: oldest,
                    estimated_wait_s: self.estimate_s(
                        &s.id,
                        u32::try_from(queue.len()).unwrap_or(u32::MAX),
                        false,
                    ),
                    open_counters: self.open_counters(&s.id),
                    next: next
                        .iter()
                        .take(NEXT_SHOWN)
                        .filter_map(|(_, id)| self.tickets.get(id))
                        .map(TicketRef::from)
                        .collect(),
                }
            })
            .collect();
        let counters = self
            .config
            .counters
            .iter()
            .map(|c| self.counter_view(c.id, now))
            .collect();
        let note = self.issuing_note(now);
        StateView {
            seq: self.seq,
            center: self.config.center.name.clone(),
            timezone: self.config.center.timezone.clone(),
            day: self.day.unwrap_or_else(|| self.local_date(now)),
            issuing: note.is_none(),
            issuing_note: note,
            services,
            counters,
            recent_calls: self.recent_calls.iter().cloned().collect(),
            ticker: self.config.center.ticker.clone(),
            ticket_footer: self.config.center.ticket_footer.clone(),
            rating_reasons: self.config.center.rating_reasons.clone(),
            clock_steps: self.clock_steps.iter().cloned().collect(),
        }
    }
}
