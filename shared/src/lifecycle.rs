//! The one rule of a ticket's life: how each recorded event changes the ticket it concerns
//! ([`advance`]), and what figures a ticket yields ([`figures`]): its waits, its service
//! time, what became of it, its rating.
//!
//! The engine folds its live tickets with [`advance`] and takes service times from
//! [`figures`]; the report roll-ups fold the log with the same two functions. Neither has a
//! rule of its own, so a report figure is what the engine lived through.
//!
//! The rules:
//! - a **wait** runs from issue (or from the transfer that began it) to the first call after
//!   it, and is held against the target of its service in force when it began; a transfer from
//!   a counter or to another service ends the wait in the old service (unfinished if it was
//!   never called) and starts a new one in the new service;
//! - **service time** = finish − start of service, or − the latest call when service was never
//!   started;
//! - a ticket still waiting, called or being served when its day closes is **expired**; a
//!   no-show stays a **no-show** (the citizen was called and did not come).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{ServiceId, Ticket, TicketId, TicketStatus};
use crate::protocol::Event;

/// Most waits a ticket remembers from before its latest transfer; more transfers than this
/// drop the oldest (a ticket passed around that often is an exception the log still holds).
pub const MAX_EARLIER_WAITS: usize = 8;

/// One wait of a ticket in one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Wait {
    /// The service it waited in.
    pub service: ServiceId,
    /// When the wait began: issue, or the transfer into `service`.
    pub since: Timestamp,
    /// The first call that ended it; none if a transfer or the day's close came first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub called: Option<Timestamp>,
    /// The service's target wait in force when it began, minutes (absent in logs from before
    /// it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_min: Option<u32>,
}

impl Wait {
    /// Seconds waited, when the wait ended with a call.
    pub fn secs(&self) -> Option<u64> {
        self.called.map(|c| secs_between(self.since, c))
    }
}

/// What became of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Not settled yet: waiting, called or being served.
    Open,
    /// Served to the end.
    Served,
    /// Called and did not come.
    NoShow,
    /// Withdrawn.
    Cancelled,
    /// Still open when its day closed.
    Expired,
}

/// The figures of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// What became of it.
    pub fate: Fate,
    /// Its waits in order, one per service it waited in.
    pub waits: Vec<Wait>,
    /// Seconds of service, once served.
    pub service_s: Option<u64>,
    /// The service it was served (or last waited) in.
    pub service: ServiceId,
    /// Its rating, once given.
    pub rating: Option<u8>,
    /// The estimate printed on the ticket, in seconds (absent in logs from before it was
    /// recorded).
    pub estimated_wait_s: Option<u64>,
}

impl Figures {
    /// Seconds of the first wait, when it ended with a call: the wait the printed estimate
    /// promised.
    pub fn first_wait_s(&self) -> Option<u64> {
        self.waits.first().and_then(Wait::secs)
    }
}

/// The ticket an event concerns, if any (a day's close concerns many: see [`advance`]).
pub fn ticket_of(event: &Event) -> Option<TicketId> {
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

/// Applies `event`, recorded at `at`, to `t`. The caller passes the ticket the event concerns
/// ([`ticket_of`]), or, for a day's close, each ticket it lists as expired. Events about other
/// tickets, and those that concern no ticket, change nothing.
pub fn advance(t: &mut Ticket, event: &Event, at: Timestamp) {
    match event {
        Event::DayClosed { expired, .. } => {
            if expired.iter().any(|r| r.id == t.id) && expires_at_close(t.status) {
                t.status = TicketStatus::Expired;
            }
            return;
        }
        _ if ticket_of(event) != Some(t.id) => return,
        _ => {}
    }
    match event {
        Event::TicketCalled {
            counter,
            staff,
            recall,
            ..
        } => {
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
        Event::TicketServing { .. } => {
            t.status = TicketStatus::Serving;
            t.started_at = Some(at);
        }
        Event::TicketFinished { staff, .. } => {
            t.status = TicketStatus::Done;
            t.finished_at = Some(at);
            t.staff = Some(staff.clone());
        }
        Event::TicketNoShow { .. } => t.status = TicketStatus::NoShow,
        Event::TicketReinstated { .. } => {
            t.status = TicketStatus::Waiting;
            t.counter = None;
            t.for_counter = None;
            t.started_at = None;
        }
        Event::TicketTransferred {
            service,
            counter,
            from_counter,
            target_wait_min,
            ..
        } => {
            // A ticket taken from a counter, or moved to another service, starts a new wait;
            // one only re-queued where it waits (its named counter removed) keeps its wait.
            if from_counter.is_some() || *service != t.service {
                if t.earlier_waits.len() == MAX_EARLIER_WAITS {
                    t.earlier_waits.remove(0);
                }
                t.earlier_waits.push(current_wait(t));
                t.waiting_since = Some(at);
                t.first_called_at = None;
                t.target_wait_min = *target_wait_min;
            }
            t.status = TicketStatus::Waiting;
            t.service = service.clone();
            t.counter = *counter;
            t.for_counter = *counter;
            t.started_at = None;
            t.recalls = 0;
        }
        Event::TicketCancelled { .. } => t.status = TicketStatus::Cancelled,
        Event::TicketRated { score, .. } => t.rating = Some(*score),
        Event::TicketIssued { .. }
        | Event::CenterConfigured { .. }
        | Event::CounterOpened { .. }
        | Event::CounterClosed { .. }
        | Event::DayClosed { .. }
        | Event::ClockStepped { .. } => {}
    }
}

/// Whether a ticket in `status` is expired when its day closes.
pub fn expires_at_close(status: TicketStatus) -> bool {
    matches!(
        status,
        TicketStatus::Waiting | TicketStatus::Called | TicketStatus::Serving
    )
}

/// The figures of `t` as it stands.
pub fn figures(t: &Ticket) -> Figures {
    let fate = match t.status {
        TicketStatus::Waiting | TicketStatus::Called | TicketStatus::Serving => Fate::Open,
        TicketStatus::Done => Fate::Served,
        TicketStatus::NoShow => Fate::NoShow,
        TicketStatus::Cancelled => Fate::Cancelled,
        TicketStatus::Expired => Fate::Expired,
    };
    let mut waits = t.earlier_waits.clone();
    waits.push(current_wait(t));
    Figures {
        fate,
        waits,
        service_s: service_secs(t),
        service: t.service.clone(),
        rating: t.rating,
        estimated_wait_s: t.estimated_wait_s,
    }
}

/// Seconds of service of a finished ticket: finish − start, or − the latest call when service
/// was never started.
pub fn service_secs(t: &Ticket) -> Option<u64> {
    if t.status != TicketStatus::Done {
        return None;
    }
    let finish = t.finished_at?;
    let from = t.started_at.or(t.called_at)?;
    Some(secs_between(from, finish))
}

fn current_wait(t: &Ticket) -> Wait {
    Wait {
        service: t.service.clone(),
        since: t.waiting_since.unwrap_or(t.issued_at),
        called: t.first_called_at,
        target_min: t.target_wait_min,
    }
}

/// Whole seconds from `from` to `to`; zero when a clock stepped back put `to` first.
fn secs_between(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.duration_since(from).as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
