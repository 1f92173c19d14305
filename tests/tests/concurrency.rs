//! Two counters sharing a service, pressing "call next" at the same time.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use luot_shared::Event;
use luot_shared::protocol::Role;
use luot_tests::{Api, ServerOptions, TestServer, assert_gap_free};
use tokio::sync::Barrier;

const CENTER: &str = r#"
[center]
name = "Trung tâm thử nghiệm"
timezone = "Asia/Ho_Chi_Minh"

[[services]]
id = "a"
name = "Hộ tịch"
prefix = "1"

[[counters]]
id = 1
services = ["a"]

[[counters]]
id = 2
services = ["a"]
"#;

const TICKETS: usize = 200;
const ISSUERS: usize = 4;

/// Presses "call next" at `counter` until nobody waits; returns the ids it was given.
async fn press_until_empty(api: Api, counter: u32, go: Arc<Barrier>) -> Vec<u64> {
    let mut called = Vec::new();
    go.wait().await;
    // Bound: one press per ticket plus the final 204.
    for _ in 0..=TICKETS {
        match api.call_next(counter).await {
            Some(ticket) => called.push(ticket.id),
            None => return called,
        }
    }
    panic!("counter {counter} was still given tickets after {TICKETS} presses");
}

/// With 200 tickets in one service and two staff pressing "call next" concurrently at the
/// two counters serving it, no ticket goes to both and every ticket is called exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_call_next_never_gives_a_ticket_twice() {
    let server = TestServer::start(
        ServerOptions::new()
            .center(CENTER)
            .token("kiosk", Role::Kiosk, None)
            .token("staff-1", Role::Staff, Some(1))
            .token("staff-2", Role::Staff, Some(2))
            .token("display", Role::Display, None),
    );
    let mut issuers = Vec::new();
    for _ in 0..ISSUERS {
        let kiosk = server.api_as("kiosk");
        issuers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..TICKETS / ISSUERS {
                ids.push(kiosk.issue_ticket("a").await.id);
            }
            ids
        }));
    }
    let mut issued = BTreeSet::new();
    for task in issuers {
        for id in task.await.expect("issuer task") {
            assert!(issued.insert(id), "ticket id {id} issued twice");
        }
    }
    assert_eq!(issued.len(), TICKETS);

    let staff_1 = server.api_as("staff-1");
    let staff_2 = server.api_as("staff-2");
    staff_1.open_counter(1).await;
    staff_2.open_counter(2).await;
    let start = staff_1.seq().await;
    let mut screen = server.ws(&server.token("display"), Some(start)).await;

    // Both staff start pressing at the same moment.
    let go = Arc::new(Barrier::new(2));
    let one = tokio::spawn(press_until_empty(staff_1.clone(), 1, go.clone()));
    let two = tokio::spawn(press_until_empty(staff_2.clone(), 2, go));
    let (one, two) = (one.await.expect("counter 1"), two.await.expect("counter 2"));

    assert!(
        !one.is_empty() && !two.is_empty(),
        "the counters did not press concurrently ({} and {} calls)",
        one.len(),
        two.len()
    );
    let at_one: BTreeSet<u64> = one.iter().copied().collect();
    let at_two: BTreeSet<u64> = two.iter().copied().collect();
    assert_eq!(
        at_one.len(),
        one.len(),
        "counter 1 was given a ticket twice"
    );
    assert_eq!(
        at_two.len(),
        two.len(),
        "counter 2 was given a ticket twice"
    );
    let both: Vec<_> = at_one.intersection(&at_two).collect();
    assert!(both.is_empty(), "tickets given to both counters: {both:?}");
    let all: BTreeSet<u64> = at_one.union(&at_two).copied().collect();
    assert_eq!(all, issued, "called tickets differ from issued ones");
    // Each counter calls in issue order among what it got.
    assert!(
        one.windows(2).all(|w| w[0] < w[1]),
        "counter 1 out of order"
    );
    assert!(
        two.windows(2).all(|w| w[0] < w[1]),
        "counter 2 out of order"
    );

    // The log agrees: one `ticket_called` per ticket, at the counter that got it.
    let end = staff_1.seq().await;
    let events = screen.events_through(end).await;
    assert_gap_free(&events, start + 1);
    let mut calls: HashMap<u64, Vec<u32>> = HashMap::new();
    for event in &events {
        if let Event::TicketCalled {
            ticket, counter, ..
        } = &event.event
        {
            calls.entry(ticket.id).or_default().push(*counter);
        }
    }
    assert_eq!(calls.len(), TICKETS);
    for (id, counters) in calls {
        let expected = if at_one.contains(&id) { 1 } else { 2 };
        assert_eq!(counters, [expected], "ticket {id} called at {counters:?}");
    }
    let state = staff_1.state().await;
    assert_eq!(state.services[0].waiting, 0);
}
