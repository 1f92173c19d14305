//! Unit tests of the follower: events from the real engine on a virtual clock go in; what the
//! screen shows and what is announced come out.

#![allow(clippy::unwrap_used)]

use jiff::civil::{self, Date};
use jiff::{SignedDuration, Timestamp};

use super::{Announcement, FollowConfig, Follower, HeldStatus, ScreenView, Step};
use crate::engine::{Command, Engine};
use crate::protocol::{Recorded, ServerMessage};

const TZ: &str = "Asia/Ho_Chi_Minh";
const MONDAY: Date = civil::date(2025, 3, 3);
const TUESDAY: Date = civil::date(2025, 3, 4);

fn local(day: Date, h: i8, m: i8, s: i8) -> Timestamp {
    day.at(h, m, s, 0).in_tz(TZ).unwrap().timestamp()
}

/// The server side: the engine and everything it recorded.
struct Center {
    engine: Engine,
}

impl Center {
    fn new() -> Center {
        Center {
            engine: Engine::new(),
        }
    }

    fn run(&mut self, command: Command, at: Timestamp) -> Vec<Recorded> {
        let outcome = self.engine.handle(command, at);
        outcome.result.unwrap();
        outcome.events
    }

    fn issue(&mut self, service: &str, at: Timestamp) -> Vec<Recorded> {
        self.run(
            Command::Issue {
                service: service.into(),
                priority: None,
                request_id: None,
                credential: String::new(),
                by: "kiosk".into(),
            },
            at,
        )
    }

    fn open(&mut self, counter: u32, at: Timestamp) -> Vec<Recorded> {
        self.run(
            Command::Open {
                counter,
                staff: format!("nv{counter}"),
            },
            at,
        )
    }

    fn call_next(&mut self, counter: u32, at: Timestamp) -> Vec<Recorded> {
        self.run(
            Command::CallNext {
                counter,
                staff: format!("nv{counter}"),
            },
            at,
        )
    }

    fn recall(&mut self, counter: u32, at: Timestamp) -> Vec<Recorded> {
        self.run(
            Command::Recall {
                counter,
                staff: format!("nv{counter}"),
            },
            at,
        )
    }

    fn snapshot(&self, at: Timestamp) -> ServerMessage {
        ServerMessage::Snapshot {
            seq: self.engine.seq(),
            state: Box::new(self.engine.state_view(at)),
        }
    }

    /// The first service's id (the default center's field 1).
    fn service(&self, n: usize) -> String {
        self.engine.config().services[n].id.clone()
    }
}

fn feed(f: &mut Follower, events: &[Recorded], now: Timestamp) -> Vec<Step> {
    events
        .iter()
        .map(|rec| f.handle(ServerMessage::Event(rec.clone()), now))
        .collect()
}

fn drain(f: &mut Follower) -> Vec<Announcement> {
    std::iter::from_fn(|| f.next_announcement()).collect()
}

fn numbers(list: &[Announcement]) -> Vec<(String, u32, bool)> {
    list.iter()
        .map(|a| (a.number.clone(), a.counter, a.recall))
        .collect()
}

/// A center with counter 1 open and `n` tickets waiting in field 1, followed from a snapshot.
fn started(n: usize) -> (Center, Follower, Timestamp) {
    let mut center = Center::new();
    let t0 = local(MONDAY, 8, 0, 0);
    center.open(1, t0);
    let service = center.service(0);
    for i in 0..n {
        center.issue(&service, t0 + SignedDuration::from_secs(i as i64 + 1));
    }
    let mut f = Follower::new(FollowConfig::default());
    assert_eq!(f.handle(center.snapshot(t0), t0), Step::Applied);
    (center, f, t0)
}

/// Calls followed live are announced once each, in order, and a replayed overlap changes nothing.
#[test]
fn live_calls_are_announced_once_in_order() {
    let (mut center, mut f, t0) = started(3);
    let mut all = Vec::new();
    for i in 1..=3 {
        let at = t0 + SignedDuration::from_mins(i);
        let events = center.call_next(1, at);
        assert!(
            feed(&mut f, &events, at)
                .iter()
                .all(|s| *s == Step::Applied)
        );
        all.extend(events);
    }
    let said = drain(&mut f);
    assert_eq!(
        numbers(&said),
        vec![
            ("1001".into(), 1, false),
            ("1002".into(), 1, false),
            ("1003".into(), 1, false)
        ]
    );
    // The same events again, as a reconnect with an older `since` would replay them.
    let later = t0 + SignedDuration::from_mins(4);
    assert!(
        feed(&mut f, &all, later)
            .iter()
            .all(|s| *s == Step::Duplicate)
    );
    assert!(drain(&mut f).is_empty());
    let view = f.view().unwrap();
    assert_eq!(view.latest.as_ref().unwrap().number, "1003");
    assert_eq!(view.service(&center.service(0)).unwrap().waiting, 0);
}

/// A missing seq is not applied: the follower asks to reconnect from the seq it reached.
#[test]
fn gap_asks_for_a_reconnect_with_since() {
    let (mut center, mut f, t0) = started(2);
    let reached = f.since().unwrap();
    let at = t0 + SignedDuration::from_mins(1);
    let first = center.call_next(1, at);
    let second = center.call_next(1, at + SignedDuration::from_secs(30));
    let step = f.handle(ServerMessage::Event(second[0].clone()), at);
    assert_eq!(
        step,
        Step::Reconnect {
            since: Some(reached)
        }
    );
    assert_eq!(f.since(), Some(reached));
    assert!(f.view().unwrap().latest.is_none());
    assert!(drain(&mut f).is_empty());
    // The reconnect's replay fills the gap.
    let now = at + SignedDuration::from_secs(31);
    feed(&mut f, &first, now);
    feed(&mut f, &second, now);
    assert_eq!(f.since(), Some(center.engine.seq()));
    assert_eq!(
        numbers(&drain(&mut f)),
        vec![("1001".into(), 1, false), ("1002".into(), 1, false)]
    );
}

/// An event before any snapshot means the connection started from an unknown point: start over.
#[test]
fn event_before_snapshot_asks_for_a_fresh_snapshot() {
    let mut center = Center::new();
    let t0 = local(MONDAY, 8, 0, 0);
    let events = center.open(1, t0);
    let mut f = Follower::new(FollowConfig::default());
    assert_eq!(
        f.handle(ServerMessage::Event(events[0].clone()), t0),
        Step::Reconnect { since: None }
    );
}

/// Calls made while the display was away are announced after the reconnect, in order, when recent.
#[test]
fn reconnect_announces_recent_missed_calls_in_order() {
    let (mut center, mut f, t0) = started(4);
    let now = t0 + SignedDuration::from_mins(10);
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.extend(center.call_next(1, now - SignedDuration::from_secs(90 - i * 30)));
    }
    feed(&mut f, &missed, now);
    let said = drain(&mut f);
    assert_eq!(
        numbers(&said),
        vec![
            ("1001".into(), 1, false),
            ("1002".into(), 1, false),
            ("1003".into(), 1, false)
        ]
    );
    assert!(said.windows(2).all(|w| w[0].seq < w[1].seq));
}

/// Calls missed longer ago than the window are shown but not announced; newer ones are.
#[test]
fn stale_missed_calls_are_shown_not_announced() {
    let (mut center, mut f, t0) = started(3);
    let now = t0 + SignedDuration::from_mins(30);
    let mut missed = center.call_next(1, now - SignedDuration::from_mins(10));
    missed.extend(center.call_next(1, now - SignedDuration::from_mins(3)));
    missed.extend(center.call_next(1, now - SignedDuration::from_secs(60)));
    feed(&mut f, &missed, now);
    assert_eq!(numbers(&drain(&mut f)), vec![("1003".into(), 1, false)]);
    let view = f.view().unwrap();
    let shown: Vec<&str> = view
        .recent_calls
        .iter()
        .map(|c| c.number.as_str())
        .collect();
    assert_eq!(shown, vec!["1003", "1002", "1001"]);
    // The same holds for a window set shorter.
    let config = FollowConfig {
        announce_within: SignedDuration::from_secs(30),
        ..FollowConfig::default()
    };
    let (mut center, _, t0) = started(1);
    let mut f = Follower::new(config);
    f.handle(center.snapshot(t0), t0);
    let now = t0 + SignedDuration::from_mins(5);
    feed(
        &mut f,
        &center.call_next(1, now - SignedDuration::from_secs(45)),
        now,
    );
    assert!(drain(&mut f).is_empty());
}

/// A recall is announced again, each time, and does not change the waiting count.
#[test]
fn recall_is_announced_again() {
    let (mut center, mut f, t0) = started(2);
    let at = t0 + SignedDuration::from_mins(1);
    feed(&mut f, &center.call_next(1, at), at);
    let waiting = f.view().unwrap().waiting_total();
    for i in 1..=2 {
        let at = at + SignedDuration::from_secs(20 * i);
        feed(&mut f, &center.recall(1, at), at);
    }
    assert_eq!(
        numbers(&drain(&mut f)),
        vec![
            ("1001".into(), 1, false),
            ("1001".into(), 1, true),
            ("1001".into(), 1, true)
        ]
    );
    let view = f.view().unwrap();
    assert_eq!(view.waiting_total(), waiting);
    assert_eq!(
        view.recent_calls.len(),
        1,
        "a ticket appears once in the list"
    );
    assert!(view.recent_calls[0].recall);
}

/// A display switched on shows the calls already made but announces none of them.
#[test]
fn first_snapshot_announces_nothing() {
    let mut center = Center::new();
    let t0 = local(MONDAY, 8, 0, 0);
    center.open(1, t0);
    let service = center.service(0);
    center.issue(&service, t0);
    center.call_next(1, t0 + SignedDuration::from_secs(5));
    let now = t0 + SignedDuration::from_secs(10);
    let mut f = Follower::new(FollowConfig::default());
    f.handle(center.snapshot(now), now);
    assert!(drain(&mut f).is_empty());
    let view = f.view().unwrap();
    assert_eq!(view.latest.as_ref().unwrap().number, "1001");
    assert!(f.highlighted(now), "a call 5 s old is still highlighted");
    assert!(!f.highlighted(now + SignedDuration::from_secs(10)));
}

/// A snapshot sent after lagging announces the calls it lists that were not seen, in order.
#[test]
fn snapshot_after_lag_announces_only_unseen_calls() {
    let (mut center, mut f, t0) = started(4);
    let mut seen = center.open(2, t0);
    let a = t0 + SignedDuration::from_mins(1);
    seen.extend(center.call_next(1, a));
    // Counter 2 serves field 2: give it a ticket of its own.
    let service2 = center.service(1);
    center.issue(&service2, a);
    feed(&mut f, &seen, a);
    assert_eq!(drain(&mut f).len(), 1);
    // The follower lags: these reach it only as a snapshot.
    center.call_next(1, a + SignedDuration::from_secs(10));
    center.call_next(2, a + SignedDuration::from_secs(20));
    center.recall(1, a + SignedDuration::from_secs(30));
    let now = a + SignedDuration::from_secs(40);
    assert_eq!(f.handle(center.snapshot(now), now), Step::Applied);
    assert_eq!(
        numbers(&drain(&mut f)),
        vec![("2001".into(), 2, false), ("1002".into(), 1, true),],
        "1002's first call is folded into its recall in the snapshot's list"
    );
    assert_eq!(f.since(), Some(center.engine.seq()));
    // The same snapshot again announces nothing more.
    f.handle(center.snapshot(now), now);
    assert!(drain(&mut f).is_empty());
}

/// The day closing clears the calls and queues; the next day's calls are announced as usual.
#[test]
fn day_change_clears_the_screen() {
    let (mut center, mut f, t0) = started(3);
    let at = t0 + SignedDuration::from_mins(1);
    feed(&mut f, &center.call_next(1, at), at);
    drain(&mut f);
    // Tuesday morning: the engine closes Monday on its first command.
    let tue = local(TUESDAY, 7, 30, 0);
    let events = center.open(1, tue);
    assert!(events.iter().any(|e| e.event.kind() == "day_closed"));
    feed(&mut f, &events, tue);
    let view = f.view().unwrap();
    assert_eq!(view.day, TUESDAY);
    assert!(view.latest.is_none());
    assert!(view.recent_calls.is_empty());
    assert_eq!(view.waiting_total(), 0);
    assert!(view.counter(1).unwrap().open);
    let service = center.service(0);
    let mut events = center.issue(&service, tue + SignedDuration::from_secs(1));
    events.extend(center.call_next(1, tue + SignedDuration::from_secs(2)));
    feed(&mut f, &events, tue + SignedDuration::from_secs(3));
    assert_eq!(numbers(&drain(&mut f)), vec![("1001".into(), 1, false)]);
}

/// Past midnight the screen drops yesterday's calls even before the server closes the day.
#[test]
fn midnight_clears_yesterdays_calls_without_an_event() {
    let (mut center, mut f, t0) = started(1);
    let at = t0 + SignedDuration::from_mins(1);
    feed(&mut f, &center.call_next(1, at), at);
    f.tick(local(MONDAY, 23, 59, 0));
    assert!(f.view().unwrap().latest.is_some());
    f.tick(local(TUESDAY, 0, 0, 1));
    let view = f.view().unwrap();
    assert_eq!(view.day, TUESDAY);
    assert!(view.latest.is_none());
    assert!(view.counter(1).unwrap().current.is_none());
}

/// The view folded from events agrees with the engine's own snapshot of the same state.
#[test]
fn folded_view_matches_the_engines_snapshot() {
    let (mut center, mut f, t0) = started(0);
    let mut at = t0;
    let mut tick = || {
        at += SignedDuration::from_secs(7);
        at
    };
    for counter in 2..=4 {
        let now = tick();
        feed(&mut f, &center.open(counter, now), now);
    }
    for n in 0..12 {
        let service = center.service(n % 4);
        let now = tick();
        feed(&mut f, &center.issue(&service, now), now);
    }
    for counter in 1..=4 {
        let now = tick();
        feed(&mut f, &center.call_next(counter, now), now);
    }
    let now = tick();
    let start = center.run(
        Command::Start {
            counter: 2,
            staff: "nv2".into(),
        },
        now,
    );
    feed(&mut f, &start, now);
    let to_field_1 = center.service(0);
    for command in [
        Command::Finish {
            counter: 4,
            staff: "nv4".into(),
        },
        Command::Close {
            counter: 4,
            staff: "nv4".into(),
        },
        Command::Transfer {
            counter: 3,
            to_service: Some(to_field_1),
            to_counter: None,
            staff: "nv3".into(),
        },
    ] {
        let now = tick();
        let events = center.run(command, now);
        feed(&mut f, &events, now);
    }
    let now = tick();
    let ServerMessage::Snapshot { state, .. } = center.snapshot(now) else {
        unreachable!()
    };
    let expected = ScreenView::from_state(&state);
    let got = f.view().unwrap();
    let waiting = |v: &ScreenView| -> Vec<(String, u32, u32)> {
        v.services
            .iter()
            .map(|s| (s.id.clone(), s.waiting, s.open_counters))
            .collect()
    };
    assert_eq!(waiting(got), waiting(&expected));
    type Held = Option<(String, HeldStatus)>;
    let counters = |v: &ScreenView| -> Vec<(u32, bool, Held)> {
        v.counters
            .iter()
            .map(|c| {
                let held = c.current.as_ref().map(|t| (t.number.clone(), t.status));
                (c.id, c.open, held)
            })
            .collect()
    };
    assert_eq!(counters(got), counters(&expected));
    assert_eq!(got.recent_calls, expected.recent_calls);
    assert_eq!(counters(got)[1].2.as_ref().unwrap().1, HeldStatus::Serving);
}

/// A display clock ten minutes fast still announces live calls: staleness is judged by server time.
#[test]
fn fast_display_clock_still_announces_live_calls() {
    let skew = SignedDuration::from_mins(10);
    let (mut center, mut f, t0) = started(3);
    f.connected(t0 + skew);
    for i in 1..=3 {
        let at = t0 + SignedDuration::from_mins(i);
        feed(&mut f, &center.call_next(1, at), at + skew);
    }
    // Each arrives well after the connection opened: live, so it teaches the offset itself.
    let said = drain(&mut f);
    assert_eq!(said.len(), 3);
    assert_eq!(f.clock_offset(), skew);
    assert!(f.highlighted(t0 + SignedDuration::from_mins(3) + skew));
}
