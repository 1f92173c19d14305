//! `kill -9` right after acknowledged issues, then a restart on the same data directory.

use std::collections::BTreeMap;

use luot_shared::TicketStatus;
use luot_shared::protocol::{Role, TicketView};
use luot_tests::{Api, ServerOptions, TestServer};

const TICKETS: usize = 100;
const CLIENTS: usize = 8;

/// Every ticket acknowledged with 201 before a SIGKILL is there after the restart: the
/// counter calls them all, in issue order, each once; new tickets continue the numbering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_tickets_survive_kill_9() {
    let mut server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("staff-1", Role::Staff, Some(1)),
    );
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        // Each client its own connection pool, like separate kiosks.
        let kiosk = Api::new(server.base_url(), Some(&server.token("kiosk")));
        let share = TICKETS / CLIENTS + usize::from(client < TICKETS % CLIENTS);
        clients.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..share {
                let key = format!("kiosk-{client}-{n}");
                let reply = kiosk.issue("tnmt", Some(&key)).await.expect_status(201);
                let ticket: TicketView = reply.json();
                acknowledged.push((ticket.id, ticket.number, key));
            }
            acknowledged
        }));
    }
    let mut acknowledged = BTreeMap::new();
    let mut by_key = BTreeMap::new();
    for client in clients {
        for (id, number, key) in client.await.expect("client task") {
            assert!(acknowledged.insert(id, number).is_none(), "id {id} twice");
            by_key.insert(key, id);
        }
    }
    // Killed at once after the last 201: no clean shutdown, no final snapshot.
    server.kill9();
    assert_eq!(acknowledged.len(), TICKETS);
    let mut numbers: Vec<&String> = acknowledged.values().collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), TICKETS, "a number was issued twice");

    server.restart();
    let staff = server.api_as("staff-1");
    let state = staff.state().await;
    let tnmt = state
        .services
        .iter()
        .find(|s| s.id == "tnmt")
        .expect("tnmt");
    assert_eq!(tnmt.waiting as usize, TICKETS);

    staff.open_counter(1).await;
    let mut called = Vec::new();
    for _ in 0..=TICKETS {
        match staff.call_next(1).await {
            Some(ticket) => {
                assert_eq!(ticket.status, TicketStatus::Called);
                called.push((ticket.id, ticket.number));
            }
            None => break,
        }
    }
    let expected: Vec<(u64, String)> = acknowledged.clone().into_iter().collect();
    assert_eq!(
        called, expected,
        "after the restart the counter must call every acknowledged ticket once, in issue order"
    );

    // A kiosk retrying a request from before the crash gets the same ticket, not a new one.
    let kiosk = server.api_as("kiosk");
    let retried: TicketView = kiosk
        .issue("tnmt", Some("kiosk-3-5"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(Some(&retried.id), by_key.get("kiosk-3-5"));
    assert_eq!(acknowledged.get(&retried.id), Some(&retried.number));

    // Numbering continues after the highest acknowledged number, with a fresh id.
    let next = kiosk.issue_ticket("tnmt").await;
    assert_eq!(next.number, format!("1{:03}", TICKETS + 1));
    let last_id = *acknowledged.keys().last().expect("tickets");
    assert!(next.id > last_id, "ticket id {} reused", next.id);
    assert!(acknowledged.values().all(|n| *n != next.number));
}
