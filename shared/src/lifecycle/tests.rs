use jiff::{SignedDuration, Timestamp};

use super::{Fate, Wait, advance, figures, service_secs};
use crate::domain::{Ticket, TicketRef, TicketStatus};
use crate::protocol::Event;

fn t0() -> Timestamp {
    "2026-03-02T01:00:00Z".parse().expect("a valid timestamp")
}

fn at(min: i64) -> Timestamp {
    t0() + SignedDuration::from_mins(min)
}

fn ticket(service: &str) -> Ticket {
    Ticket {
        id: 7,
        number: "1007".into(),
        service: service.into(),
        priority: None,
        day: t0().to_zoned(jiff::tz::TimeZone::UTC).date(),
        issued_at: t0(),
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
        request_id: None,
        estimated_wait_s: Some(600),
        target_wait_min: Some(15),
        waiting_since: None,
        earlier_waits: Vec::new(),
    }
}

fn r(t: &Ticket) -> TicketRef {
    TicketRef::from(t)
}

fn call(t: &Ticket, counter: u32, recall: bool) -> Event {
    Event::TicketCalled {
        ticket: r(t),
        counter,
        staff: "nv".into(),
        recall,
        as_priority: false,
    }
}

fn start(t: &Ticket) -> Event {
    Event::TicketServing {
        ticket: r(t),
        counter: 1,
        staff: "nv".into(),
    }
}

fn finish(t: &Ticket) -> Event {
    Event::TicketFinished {
        ticket: r(t),
        counter: 1,
        staff: "nv".into(),
    }
}

fn step(t: &mut Ticket, event: impl Fn(&Ticket) -> Event, min: i64) {
    let event = event(t);
    advance(t, &event, at(min));
}

/// A transfer ends the wait in the old service and starts a new one in the new service; the
/// printed estimate is held against the first wait.
#[test]
fn a_transfer_starts_a_new_wait() {
    let mut t = ticket("tnmt");
    step(&mut t, |x| call(x, 1, false), 5);
    let transfer = Event::TicketTransferred {
        ticket: r(&t),
        from_counter: Some(1),
        service: "tp".into(),
        counter: None,
        staff: "nv".into(),
        target_wait_min: Some(20),
    };
    step(&mut t, |_| transfer.clone(), 6);
    step(&mut t, |x| call(x, 2, false), 10);
    step(&mut t, finish, 18);
    let f = figures(&t);
    assert_eq!(f.fate, Fate::Served);
    assert_eq!(
        f.waits,
        vec![
            Wait {
                service: "tnmt".into(),
                since: at(0),
                called: Some(at(5)),
                target_min: Some(15),
            },
            Wait {
                service: "tp".into(),
                since: at(6),
                called: Some(at(10)),
                target_min: Some(20),
            },
        ]
    );
    assert_eq!(
        f.waits.iter().map(Wait::secs).collect::<Vec<_>>(),
        [Some(300), Some(240)]
    );
    assert_eq!(f.first_wait_s(), Some(300));
    assert_eq!(f.estimated_wait_s, Some(600));
    assert_eq!(f.service, "tp");
    // Never started: service runs from the latest call.
    assert_eq!(f.service_s, Some(8 * 60));
}

/// A transfer before any call leaves an unfinished wait in the old service, not a zero.
#[test]
fn a_transfer_before_a_call_leaves_an_unfinished_wait() {
    let mut t = ticket("tnmt");
    let transfer = Event::TicketTransferred {
        ticket: r(&t),
        from_counter: None,
        service: "tp".into(),
        counter: Some(4),
        staff: "admin".into(),
        target_wait_min: Some(20),
    };
    step(&mut t, |_| transfer.clone(), 3);
    let f = figures(&t);
    assert_eq!(f.waits.len(), 2);
    assert_eq!(f.waits[0].secs(), None);
    assert_eq!(f.waits[1].since, at(3));
    assert_eq!(f.fate, Fate::Open);
}

/// Service time runs from the start of service; a recall moves the call, not the wait.
#[test]
fn service_time_runs_from_start_and_recalls_keep_the_wait() {
    let mut t = ticket("tnmt");
    step(&mut t, |x| call(x, 1, false), 4);
    step(&mut t, |x| call(x, 1, true), 6);
    step(&mut t, start, 7);
    step(&mut t, finish, 19);
    assert_eq!(service_secs(&t), Some(12 * 60));
    assert_eq!(figures(&t).first_wait_s(), Some(4 * 60));
}

/// At the day's close a waiting ticket expires, a no-show stays a no-show, a served ticket
/// stays served — whatever the close lists.
#[test]
fn the_close_expires_only_open_tickets() {
    let waiting = ticket("tnmt");
    let mut no_show = ticket("tnmt");
    no_show.id = 8;
    let mut served = ticket("tnmt");
    served.id = 9;
    step(&mut no_show, |x| call(x, 1, false), 2);
    let gone = Event::TicketNoShow {
        ticket: r(&no_show),
        counter: 1,
        staff: "nv".into(),
    };
    step(&mut no_show, |_| gone.clone(), 5);
    step(&mut served, |x| call(x, 1, false), 2);
    step(&mut served, finish, 9);
    let close = Event::DayClosed {
        day: waiting.day,
        expired: vec![r(&waiting), r(&no_show), r(&served)],
    };
    let mut tickets = [waiting, no_show, served];
    for t in &mut tickets {
        advance(t, &close, at(600));
    }
    let fates: Vec<Fate> = tickets.iter().map(|t| figures(t).fate).collect();
    assert_eq!(fates, [Fate::Expired, Fate::NoShow, Fate::Served]);
    assert_eq!(service_secs(&tickets[1]), None);
}

/// An event about another ticket changes nothing.
#[test]
fn events_about_other_tickets_change_nothing() {
    let mut t = ticket("tnmt");
    let mut other = ticket("tnmt");
    other.id = 99;
    let before = t.clone();
    step(&mut t, |_| call(&other, 1, false), 1);
    step(&mut t, |_| finish(&other), 2);
    assert_eq!(t, before);
}

/// A ticket only re-queued where it already waits (its named counter was removed) keeps its
/// wait; the same transfer from a counter starts a new one.
#[test]
fn a_re_queue_in_place_keeps_the_wait() {
    let mut t = ticket("tnmt");
    let requeue = Event::TicketTransferred {
        ticket: r(&t),
        from_counter: None,
        service: "tnmt".into(),
        counter: None,
        staff: "system".into(),
        target_wait_min: Some(15),
    };
    step(&mut t, |_| requeue.clone(), 3);
    step(&mut t, |x| call(x, 1, false), 9);
    let f = figures(&t);
    assert_eq!(f.waits.len(), 1);
    assert_eq!(f.first_wait_s(), Some(9 * 60));
}
