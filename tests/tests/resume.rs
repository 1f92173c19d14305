//! A WebSocket client that drops off and comes back with `since`.

use luot_shared::Event;
use luot_shared::protocol::{Role, ServerMessage};
use luot_tests::{ServerOptions, TestServer, assert_gap_free, kinds};

/// Reconnecting with `since=S` replays exactly the events S+1..=N that happened while away
/// (no snapshot, identical to what a connected client saw live), then live events follow.
#[tokio::test]
async fn reconnect_with_since_replays_exactly_the_missed_events() {
    let mut server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("staff-3", Role::Staff, Some(3)),
    );
    // A token handed out by the running server works like one made with the CLI.
    let display = server.create_token("display", Role::Display, None).await;
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("staff-3");
    kiosk.issue_ticket("tnmt").await;

    let mut away = server.ws(&display, None).await;
    let (seen, state) = away.snapshot().await;
    assert_eq!(state.seq, seen);
    assert_eq!(state.services[0].waiting, 1);
    away.close().await;

    // A client that stays connected records what happened meanwhile.
    let mut stayed = server.ws(&display, None).await;
    let (stayed_at, _) = stayed.snapshot().await;
    assert_eq!(stayed_at, seen);

    kiosk.issue_ticket("ldtbxh").await;
    kiosk.issue_ticket("ldtbxh").await;
    staff.open_counter(3).await;
    staff
        .call_next(3)
        .await
        .expect("a ticket waits at counter 3");
    staff.counter_action(3, "recall").await.expect_status(200);
    staff.counter_action(3, "no-show").await.expect_status(200);
    let now = kiosk.seq().await;
    assert_eq!(now, seen + 6);
    let live = stayed.events_through(now).await;

    let mut back = server.ws(&display, Some(seen)).await;
    let mut replayed = Vec::new();
    for _ in seen..now {
        match back.next_message().await {
            ServerMessage::Event(event) => replayed.push(event),
            other => panic!("expected only missed events, got {other:?}"),
        }
    }
    assert_gap_free(&replayed, seen + 1);
    assert_eq!(
        kinds(&replayed),
        [
            "ticket_issued",
            "ticket_issued",
            "counter_opened",
            "ticket_called",
            "ticket_called",
            "ticket_no_show",
        ]
    );
    assert!(matches!(
        replayed[4].event,
        Event::TicketCalled { recall: true, .. }
    ));
    assert_eq!(replayed, live, "replay differs from the live stream");

    // Then live events continue on the resumed connection, right after N.
    kiosk.issue_ticket("tnmt").await;
    let next = back.event().await;
    assert_eq!(next.seq, now + 1);
    assert_eq!(next.event.kind(), "ticket_issued");
    assert_eq!(stayed.event().await, next);

    // Resuming from the present sends nothing until the next event.
    let mut current = server.ws(&display, Some(now + 1)).await;
    staff.counter_action(3, "close").await.expect_status(200);
    let closed = current.event().await;
    assert_eq!(closed.seq, now + 2);
    assert_eq!(closed.event.kind(), "counter_closed");
}

/// A `since` from the future (a client that kept a seq from before the data was reset) gets
/// a fresh snapshot rather than silence.
#[tokio::test]
async fn since_ahead_of_the_log_gets_a_snapshot() {
    let server = TestServer::start(ServerOptions::new().token("display", Role::Display, None));
    let display = server.token("display");
    let now = server.api(Some(&display)).seq().await;
    let mut client = server.ws(&display, Some(now + 500)).await;
    let (seq, state) = client.snapshot().await;
    assert_eq!((seq, state.seq), (now, now));
}
