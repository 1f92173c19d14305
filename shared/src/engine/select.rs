//! Which ticket a counter calls next.
//!
//! A counter may call a waiting ticket that was transferred to it by name, or one of a service
//! it serves that is not named for another counter. Among those, the priority policy picks a
//! class (priority or normal) and the calling mode picks the ticket within the class; a
//! ticket keeps its place by issue time, also after a transfer or a reinstatement.

use jiff::{SignedDuration, Timestamp};

use super::Engine;
use crate::domain::{CallingMode, CounterId, PriorityMode, Ticket, TicketId, TicketStatus};

/// Sort key: lower is called first.
type Key = (usize, Timestamp, TicketId);

impl Engine {
    /// Whether `t` counts as priority at `now`: claimed, or escalated by its wait.
    pub(super) fn effective_priority(&self, t: &Ticket, now: Timestamp) -> bool {
        if t.priority.is_some() {
            return true;
        }
        let minutes = self.config.center.priority.escalate_after_min;
        minutes > 0
            && now.duration_since(t.issued_at) >= SignedDuration::from_mins(i64::from(minutes))
    }

    /// The calling-order key of `t` at `counter`, or `None` when the counter may not call it.
    pub(super) fn key_at(&self, counter: CounterId, t: &Ticket) -> Option<Key> {
        if t.status != TicketStatus::Waiting {
            return None;
        }
        let config = self.config.counter(counter)?;
        let rank = match t.for_counter {
            Some(c) if c == counter => 0,
            Some(_) => return None,
            None => {
                let index = config.services.iter().position(|s| *s == t.service)?;
                match config.mode {
                    CallingMode::Oldest => 1,
                    CallingMode::ServiceOrder => 1 + index,
                }
            }
        };
        Some((rank, t.issued_at, t.id))
    }

    /// The ticket `counter` calls next and whether it is taken as priority.
    pub(super) fn select(&self, counter: CounterId, now: Timestamp) -> Option<(TicketId, bool)> {
        let mut best_priority: Option<Key> = None;
        let mut best_normal: Option<Key> = None;
        for t in self.tickets.values() {
            let Some(key) = self.key_at(counter, t) else {
                continue;
            };
            let slot = if self.effective_priority(t, now) {
                &mut best_priority
            } else {
                &mut best_normal
            };
            if slot.is_none_or(|k| key < k) {
                *slot = Some(key);
            }
        }
        let policy = &self.config.center.priority;
        let streak = self.counters.get(&counter).map_or(0, |c| c.priority_streak);
        let normal_turn = policy.mode == PriorityMode::Interleave && streak >= policy.interleave;
        match (best_priority, best_normal) {
            (Some(_), Some(n)) if normal_turn => Some((n.2, false)),
            (Some(p), _) => Some((p.2, true)),
            (None, Some(n)) => Some((n.2, false)),
            (None, None) => None,
        }
    }
}
