//! Which ticket a counter calls next.
//!
//! A counter may call a waiting ticket that was transferred to it by name, or one of a service
//! it serves that is not named for another counter. Among those, the priority policy picks a
//! class (priority or normal) and the calling mode picks the ticket within the class; a
//! ticket keeps its place in issue order, also after a transfer or a reinstatement. Issue
//! order is the order of ticket ids (the log's order), not of issue times: a clock stepped
//! back must not put new tickets ahead of those issued before the step.

use jiff::{SignedDuration, Timestamp};

use super::Engine;
use crate::domain::{CallingMode, CounterId, PriorityMode, Ticket, TicketId};

/// Sort key: lower is called first.
type Key = (usize, TicketId);

impl Engine {
    /// Whether `t` counts as priority at `now`: claimed, or escalated by its wait.
    pub(super) fn effective_priority(&self, t: &Ticket, now: Timestamp) -> bool {
        self.counts_as_priority(t.priority.is_some(), t.issued_at, now)
    }

    /// Whether a ticket issued at `issued_at` counts as priority at `now`.
    pub(super) fn counts_as_priority(
        &self,
        claimed: bool,
        issued_at: Timestamp,
        now: Timestamp,
    ) -> bool {
        if claimed {
            return true;
        }
        let minutes = self.config.center.priority.escalate_after_min;
        // A ticket dated after `now` (the clock was stepped back) has waited nothing yet.
        minutes > 0
            && now.duration_since(issued_at) >= SignedDuration::from_mins(i64::from(minutes))
    }

    /// The ticket `counter` calls next and whether it is taken as priority.
    ///
    /// Only the queues this counter may call are looked at: tickets named for it, then the
    /// queues of its services. Each queue is in issue order, so its first priority and first
    /// normal ticket are its best of each class.
    pub(super) fn select(&self, counter: CounterId, now: Timestamp) -> Option<(TicketId, bool)> {
        let config = self.config.counter(counter)?;
        let mut queues = Vec::with_capacity(config.services.len() + 1);
        if let Some(named) = self.queues.by_counter.get(&counter) {
            queues.push((0, named));
        }
        for (index, service) in config.services.iter().enumerate() {
            if let Some(set) = self.queues.by_service.get(service) {
                let rank = match config.mode {
                    CallingMode::Oldest => 1,
                    CallingMode::ServiceOrder => 1 + index,
                };
                queues.push((rank, set));
            }
        }
        let mut best_priority: Option<Key> = None;
        let mut best_normal: Option<Key> = None;
        for (rank, set) in queues {
            let (mut found_priority, mut found_normal) = (false, false);
            for (&id, &(issued_at, claimed)) in set {
                let key = (rank, id);
                let (slot, found) = if self.counts_as_priority(claimed, issued_at, now) {
                    (&mut best_priority, &mut found_priority)
                } else {
                    (&mut best_normal, &mut found_normal)
                };
                if !*found {
                    *found = true;
                    if slot.is_none_or(|k| key < k) {
                        *slot = Some(key);
                    }
                }
                if found_priority && found_normal {
                    break;
                }
            }
        }
        let policy = &self.config.center.priority;
        let streak = self.counters.get(&counter).map_or(0, |c| c.priority_streak);
        let normal_turn = policy.mode == PriorityMode::Interleave && streak >= policy.interleave;
        match (best_priority, best_normal) {
            (Some(_), Some(n)) if normal_turn => Some((n.1, false)),
            (Some(p), _) => Some((p.1, true)),
            (None, Some(n)) => Some((n.1, false)),
            (None, None) => None,
        }
    }
}
