//! Following the server's event stream without a socket: the part every lobby client shares.
//!
//! A [`Follower`] takes each [`ServerMessage`] as it arrives and the current time, keeps the
//! `seq` it has reached, and answers with a [`Step`]: applied, already seen, or "reconnect
//! with `since`" when it sees a gap. It keeps the screen's [`ScreenView`] and decides what to
//! announce: every call once, in `seq` order, recalls again; calls missed while offline only
//! while they are recent ([`FollowConfig::announce_within`]); older ones are only shown.
//!
//! Time is an input. The server stamps events with its clock and the display's clock may be
//! off, so the follower learns the offset from events that arrive live (well after the
//! connection's catch-up burst) and judges staleness and the business day by server time.
//!
//! # Layout
//!
//! - this file: [`Follower`], [`Step`], [`Announcement`], [`FollowConfig`]
//! - [`view`]: [`ScreenView`] and how each event changes it

mod view;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use jiff::{SignedDuration, Timestamp};

use crate::domain::{CounterId, ServiceId, TicketId};
use crate::protocol::{ErrorDetail, Recorded, ServerMessage, StateView};

pub use view::{CallShown, CounterShown, HeldStatus, HeldTicket, ScreenView, ServiceShown};

/// Calls remembered as announced, to never announce one twice (the engine keeps ten recent
/// calls; a snapshot can list no more than those).
const ANNOUNCED_KEPT: usize = 64;
/// Offset samples kept: enough to ride over a few slow deliveries.
const OFFSET_SAMPLES: usize = 16;
/// Events arriving this soon after a connection opens may be its catch-up burst: they say
/// nothing about the clock offset.
const SETTLE: SignedDuration = SignedDuration::from_secs(2);

/// What the follower is told to do; every field has a sensible default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowConfig {
    /// Calls older than this when they reach the follower are shown but not announced.
    pub announce_within: SignedDuration,
    /// How long the latest call stays highlighted.
    pub highlight_for: SignedDuration,
    /// Recent calls kept in the view.
    pub recent_limit: usize,
}

impl Default for FollowConfig {
    fn default() -> FollowConfig {
        FollowConfig {
            announce_within: SignedDuration::from_mins(2),
            highlight_for: SignedDuration::from_secs(8),
            recent_limit: 10,
        }
    }
}

/// A call to be spoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The ticket.
    pub ticket: TicketId,
    /// Printed number, read digit by digit.
    pub number: String,
    /// Counter number, read as a number.
    pub counter: CounterId,
    /// Service of the ticket.
    pub service: ServiceId,
    /// Whether it is a repeated call.
    pub recall: bool,
    /// When the server made the call.
    pub at: Timestamp,
    /// `seq` of the event, or `None` when it came from a snapshot's recent calls.
    pub seq: Option<u64>,
}

/// What the caller should do after a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The message was taken.
    Applied,
    /// An event already folded in (a replay overlap); nothing changed.
    Duplicate,
    /// Events are missing: close the connection and reconnect with `?since=` this value
    /// (`None`: without `since`, for a fresh snapshot).
    Reconnect {
        /// The seq reached so far.
        since: Option<u64>,
    },
    /// The server answered a ping.
    Pong,
    /// The server refused something the client sent.
    ServerError(ErrorDetail),
}

/// Follows the event stream: seq, gaps, snapshots, the view, and what to announce.
#[derive(Debug, Clone)]
pub struct Follower {
    config: FollowConfig,
    seq: Option<u64>,
    view: Option<ScreenView>,
    /// Calls announced or deliberately skipped, by ticket and call time, oldest first.
    seen_calls: VecDeque<(TicketId, Timestamp)>,
    /// Announcements decided but not yet taken by the announcer.
    pending: VecDeque<Announcement>,
    /// When the current connection opened (client clock).
    connected_at: Option<Timestamp>,
    /// Recent (client time − server time) of live events; the smallest is the offset.
    offset_samples: VecDeque<SignedDuration>,
}

impl Follower {
    /// A follower that has seen nothing yet.
    pub fn new(config: FollowConfig) -> Follower {
        Follower {
            config,
            seq: None,
            view: None,
            seen_calls: VecDeque::new(),
            pending: VecDeque::new(),
            connected_at: None,
            offset_samples: VecDeque::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &FollowConfig {
        &self.config
    }

    /// The `since` to connect with: the seq reached, or `None` before any snapshot.
    pub fn since(&self) -> Option<u64> {
        self.seq
    }

    /// The view, once a snapshot has arrived.
    pub fn view(&self) -> Option<&ScreenView> {
        self.view.as_ref()
    }

    /// How far the display's clock is ahead of the server's, as learned from live events.
    pub fn clock_offset(&self) -> SignedDuration {
        self.offset_samples
            .iter()
            .copied()
            .min()
            .unwrap_or(SignedDuration::ZERO)
    }

    /// The server's time now, by the display's clock corrected by the learned offset.
    pub fn server_now(&self, now: Timestamp) -> Timestamp {
        now.checked_sub(self.clock_offset()).unwrap_or(now)
    }

    /// A connection just opened: what arrives in the next moments is its catch-up.
    pub fn connected(&mut self, now: Timestamp) {
        self.connected_at = Some(now);
    }

    /// The display's clock jumped (the machine slept or the time was set): forget the
    /// offset learned so far.
    pub fn clock_jumped(&mut self) {
        self.offset_samples.clear();
    }

    /// Takes the next announcement, oldest first.
    pub fn next_announcement(&mut self) -> Option<Announcement> {
        self.pending.pop_front()
    }

    /// Whether the latest call is drawn highlighted at `now`.
    pub fn highlighted(&self, now: Timestamp) -> bool {
        self.view
            .as_ref()
            .and_then(|v| v.highlight_until)
            .is_some_and(|until| self.server_now(now) < until)
    }

    /// When the view next changes on its own (the highlight ends, the day rolls over), so a
    /// screen knows when to redraw without polling.
    pub fn next_timeout(&self, now: Timestamp) -> Option<Timestamp> {
        let until = self.view.as_ref()?.highlight_until?;
        (self.server_now(now) < until).then(|| until.checked_add(self.clock_offset()).ok())?
    }

    /// Takes one message from the server.
    pub fn handle(&mut self, message: ServerMessage, now: Timestamp) -> Step {
        match message {
            ServerMessage::Snapshot { seq, state } => {
                self.take_snapshot(seq, &state, now);
                Step::Applied
            }
            ServerMessage::Event(rec) => self.take_event(&rec, now),
            ServerMessage::Pong => Step::Pong,
            ServerMessage::Error { error } => Step::ServerError(error),
        }
    }

    /// Notices a business day that ended without a `day_closed` reaching the follower (the
    /// server closes a day on its next command): yesterday's calls leave the screen.
    pub fn tick(&mut self, now: Timestamp) {
        let server_now = self.server_now(now);
        let Some(view) = &mut self.view else { return };
        let Some(today) = view.local_date(server_now) else {
            return;
        };
        if today > view.day {
            view.day = today;
            view.clear_day();
            self.pending.clear();
        }
    }

    fn take_snapshot(&mut self, seq: u64, state: &StateView, now: Timestamp) {
        let first = self.view.is_none();
        let mut view = ScreenView::from_state(state);
        view.recent_calls.truncate(self.config.recent_limit);
        let new_day = self.view.as_ref().is_some_and(|old| old.day != view.day);
        if new_day {
            self.pending.clear();
        }
        // Calls in the snapshot the follower has not seen, oldest first: missed while it
        // lagged or was away. A display just switched on announces none of the past.
        let newest_seen = self.seen_calls.back().map(|(_, at)| *at);
        let mut fresh: Vec<CallShown> = view
            .recent_calls
            .iter()
            .filter(|c| !self.seen_calls.contains(&(c.ticket, c.at)))
            .filter(|c| newest_seen.is_none_or(|newest| c.at >= newest))
            .cloned()
            .collect();
        fresh.sort_by_key(|c| c.at);
        for call in fresh {
            if !first {
                self.consider(&call, None, now);
            }
            self.remember(&call);
        }
        if let Some(latest) = &view.latest
            && self.server_now(now).duration_since(latest.at) < self.config.highlight_for
        {
            view.highlight_until = latest.at.checked_add(self.config.highlight_for).ok();
        }
        self.view = Some(view);
        self.seq = Some(seq);
    }

    fn take_event(&mut self, rec: &Recorded, now: Timestamp) -> Step {
        let Some(seq) = self.seq else {
            // Events before any snapshot: this connection was opened with a `since` the
            // follower does not have. Start over.
            return Step::Reconnect { since: None };
        };
        if rec.seq <= seq {
            return Step::Duplicate;
        }
        if rec.seq != seq + 1 {
            return Step::Reconnect { since: Some(seq) };
        }
        self.learn_offset(rec.at, now);
        let Some(view) = &mut self.view else {
            return Step::Reconnect { since: None };
        };
        let day = view.day;
        let call = view.apply(rec, self.config.recent_limit);
        if view.day != day {
            self.pending.clear();
        }
        if let Some(call) = call {
            if let Some(view) = &mut self.view {
                view.highlight_until = call.at.checked_add(self.config.highlight_for).ok();
            }
            if !self.seen_calls.contains(&(call.ticket, call.at)) {
                self.consider(&call, Some(rec.seq), now);
                self.remember(&call);
            }
        }
        self.seq = Some(rec.seq);
        Step::Applied
    }

    /// Queues a call for announcing when it is recent enough by server time.
    fn consider(&mut self, call: &CallShown, seq: Option<u64>, now: Timestamp) {
        let age = self.server_now(now).duration_since(call.at);
        if age <= self.config.announce_within {
            self.pending.push_back(Announcement {
                ticket: call.ticket,
                number: call.number.clone(),
                counter: call.counter,
                service: call.service.clone(),
                recall: call.recall,
                at: call.at,
                seq,
            });
        }
    }

    fn remember(&mut self, call: &CallShown) {
        self.seen_calls.push_back((call.ticket, call.at));
        while self.seen_calls.len() > ANNOUNCED_KEPT {
            self.seen_calls.pop_front();
        }
    }

    /// Takes (client − server) time of an event that arrived live, not in a catch-up burst.
    fn learn_offset(&mut self, at: Timestamp, now: Timestamp) {
        let live = self
            .connected_at
            .is_some_and(|since| now.duration_since(since) >= SETTLE);
        if live {
            self.offset_samples.push_back(now.duration_since(at));
            while self.offset_samples.len() > OFFSET_SAMPLES {
                self.offset_samples.pop_front();
            }
        }
    }
}
