//! Folding: one recorded event applied to the state, the only way the state changes.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{
    CLOCK_STEPS, Engine, NUMBERED_DAYS, Queues, RATEABLE_AFTER_CLOSE, RECENT_CALLS,
    SERVICE_SAMPLES, prefix_len,
};
use crate::domain::{CounterId, TicketId, TicketStatus};
use crate::lifecycle;
use crate::protocol::{ClockStep, Event, RecentCall};

impl Engine {
    pub(super) fn fold(&mut self, event: &Event, at: Timestamp) {
        self.last_at = Some(at);
        let touched = lifecycle::ticket_of(event).filter(|id| self.tickets.contains_key(id));
        // The counter holding the ticket before the event.
        let mut holder = None;
        if let Some(t) = touched.and_then(|id| self.tickets.get_mut(&id)) {
            self.queues.remove(t);
            holder = t.counter.filter(|_| t.status.at_counter());
            lifecycle::advance(t, event, at);
        } else if let Event::TicketRated { ticket, .. } = event
            && let Some(t) = self.rateable_after_close.get_mut(&ticket.id)
        {
            lifecycle::advance(t, event, at);
        }
        // A rating concerns a finished ticket: it never opens a day.
        let opens_day = self.day.is_none()
            && !matches!(
                event,
                Event::DayClosed { .. } | Event::ClockStepped { .. } | Event::TicketRated { .. }
            );
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
                recall,
                as_priority,
                ..
            } => {
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
            Event::TicketFinished {
                ticket, counter, ..
            } => {
                let t = self.tickets.get(&ticket.id);
                let served = t.and_then(lifecycle::service_secs);
                if let (Some(t), Some(secs)) = (t, served) {
                    let samples = self.service_times.entry(t.service.clone()).or_default();
                    samples.push_back(secs);
                    while samples.len() > SERVICE_SAMPLES {
                        samples.pop_front();
                    }
                }
                let c = self.counters.entry(*counter).or_default();
                if c.current == Some(ticket.id) {
                    c.current = None;
                }
                c.last_finished = Some(ticket.id);
                c.served_today += 1;
                c.service_secs_today += served.unwrap_or(0);
            }
            Event::TicketNoShow {
                ticket, counter, ..
            } => {
                self.release(*counter, ticket.id);
                if let Some(c) = self.counters.get_mut(counter) {
                    c.no_shows_today += 1;
                }
            }
            Event::TicketTransferred {
                ticket,
                from_counter,
                ..
            } => {
                if let Some(from) = from_counter {
                    self.release(*from, ticket.id);
                }
            }
            Event::TicketCancelled { ticket, .. } => {
                // A configuration change may cancel a ticket a counter still holds.
                if let Some(c) = holder {
                    self.release(c, ticket.id);
                }
            }
            Event::TicketServing { .. }
            | Event::TicketReinstated { .. }
            | Event::TicketRated { .. } => {}
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
                let window =
                    SignedDuration::from_mins(i64::from(self.config.center.rating_window_min));
                self.rateable_after_close = std::mem::take(&mut self.tickets)
                    .into_iter()
                    .filter(|(_, t)| {
                        t.status == TicketStatus::Done
                            && t.rating.is_none()
                            && t.finished_at
                                .is_some_and(|f| at.duration_since(f) <= window)
                    })
                    .collect();
                while self.rateable_after_close.len() > RATEABLE_AFTER_CLOSE {
                    self.rateable_after_close.pop_first();
                }
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

    pub(super) fn release(&mut self, counter: CounterId, ticket: TicketId) {
        if let Some(c) = self.counters.get_mut(&counter)
            && c.current == Some(ticket)
        {
            c.current = None;
        }
    }
}
