//! A citizen's whole visit, as the kiosk, the counter and the lobby screen see it.

use luot_shared::protocol::{Role, TicketView, TrackView};
use luot_shared::{Event, TicketStatus};
use luot_tests::{ServerOptions, TestServer, assert_gap_free, kinds};

/// Kiosk issue → open → call → start → finish → rating 5 is answered over HTTP and streamed
/// on the WebSocket as six gap-free events naming the same ticket, counter and staff.
#[tokio::test]
async fn full_visit_streams_every_step_in_seq_order() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("rate-1", Role::Kiosk, Some(1))
            .token("staff-1", Role::Staff, Some(1))
            .token("display", Role::Display, None),
    );
    let kiosk = server.api_as("kiosk");
    let rating = server.api_as("rate-1");
    let staff = server.api_as("staff-1");
    let mut screen = server.ws(&server.token("display"), None).await;
    let (start, snapshot) = screen.snapshot().await;
    assert_eq!(snapshot.seq, start);
    assert!(snapshot.counters.iter().all(|c| !c.open));

    let ticket: TicketView = kiosk
        .issue("tnmt", Some("visit-1"))
        .await
        .expect_status(201)
        .json();
    assert_eq!(ticket.number, "1001");
    assert_eq!(ticket.status, TicketStatus::Waiting);
    assert_eq!(ticket.ahead, 0);
    staff.open_counter(1).await;
    let called = staff.call_next(1).await.expect("a ticket waits");
    assert_eq!(
        (called.id, called.status),
        (ticket.id, TicketStatus::Called)
    );
    assert_eq!(called.counter, Some(1));
    let serving: TicketView = staff
        .counter_action(1, "start")
        .await
        .expect_status(200)
        .json();
    assert_eq!(serving.status, TicketStatus::Serving);
    let done: TicketView = staff
        .counter_action(1, "finish")
        .await
        .expect_status(200)
        .json();
    assert_eq!(done.status, TicketStatus::Done);
    let rated: TicketView = rating.rate(ticket.id, 5).await.expect_status(200).json();
    assert_eq!(rated.id, ticket.id);

    let events = screen.events_through(start + 6).await;
    assert_gap_free(&events, start + 1);
    assert_eq!(
        kinds(&events),
        [
            "ticket_issued",
            "counter_opened",
            "ticket_called",
            "ticket_serving",
            "ticket_finished",
            "ticket_rated",
        ]
    );
    for event in &events {
        match &event.event {
            Event::TicketIssued { ticket: t, by } => {
                assert_eq!((t.id, t.number.as_str()), (ticket.id, "1001"));
                assert_eq!(by, "kiosk");
            }
            Event::CounterOpened { counter, staff } => {
                assert_eq!((*counter, staff.as_str()), (1, "staff-1"));
            }
            Event::TicketCalled {
                ticket: t,
                counter,
                staff,
                recall,
                ..
            } => {
                assert_eq!((t.id, *counter, staff.as_str()), (ticket.id, 1, "staff-1"));
                assert_eq!(t.number, "1001");
                assert!(!recall);
            }
            Event::TicketServing {
                ticket: t, counter, ..
            }
            | Event::TicketFinished {
                ticket: t, counter, ..
            } => assert_eq!((t.id, *counter), (ticket.id, 1)),
            Event::TicketRated {
                ticket: t,
                counter,
                staff,
                score,
                by,
                ..
            } => {
                assert_eq!((t.id, *counter, staff.as_str()), (ticket.id, 1, "staff-1"));
                assert_eq!(*score, 5);
                assert_eq!(by.as_deref(), Some("rate-1"));
            }
            other => panic!("unexpected event {other:?}"),
        }
        assert!(events[0].at <= event.at, "time ran backwards");
    }
    let state = kiosk.state().await;
    assert_eq!(state.seq, start + 6);
    let counter = state
        .counters
        .iter()
        .find(|c| c.id == 1)
        .expect("counter 1");
    assert_eq!(counter.served_today, 1);
    assert!(counter.current.is_none());

    // A second rating of the same ticket is refused and changes nothing.
    rating.rate(ticket.id, 4).await.expect_error(409);
    assert_eq!(kiosk.seq().await, start + 6);
}

/// The same `request_id` returns the same ticket (200, no new event), a new one continues
/// the numbering, and the track secret opens `/track/{track}` while a forged one gets 404.
#[tokio::test]
async fn request_id_is_idempotent_and_track_needs_the_secret() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("display", Role::Display, None),
    );
    let kiosk = server.api_as("kiosk");
    let mut screen = server.ws(&server.token("display"), None).await;
    let (start, _) = screen.snapshot().await;

    let first: TicketView = kiosk
        .issue("tnmt", Some("kiosk-a-17"))
        .await
        .expect_status(201)
        .json();
    let again: TicketView = kiosk
        .issue("tnmt", Some("kiosk-a-17"))
        .await
        .expect_status(200)
        .json();
    assert_eq!((again.id, again.number.as_str()), (first.id, "1001"));
    assert_eq!(again.issued_at, first.issued_at);
    // The same key for another service is a different request: refused, not a second ticket.
    kiosk
        .issue("tckh", Some("kiosk-a-17"))
        .await
        .expect_error(409);
    let second: TicketView = kiosk
        .issue("tnmt", Some("kiosk-a-18"))
        .await
        .expect_status(201)
        .json();
    assert_eq!(second.number, "1002");
    assert_eq!(second.ahead, 1);
    let third = kiosk.issue_ticket("tnmt").await;
    assert_eq!(third.number, "1003");
    let other_field = kiosk.issue_ticket("tckh").await;
    assert_eq!(other_field.number, "2001");

    // Exactly four issue events: the repeated request recorded nothing.
    let events = screen.events_through(start + 4).await;
    assert_gap_free(&events, start + 1);
    let issued: Vec<_> = events
        .iter()
        .map(|e| match &e.event {
            Event::TicketIssued { ticket, .. } => ticket.number.clone(),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(issued, ["1001", "1002", "1003", "2001"]);
    assert_eq!(kiosk.seq().await, start + 4);

    // Tracking needs no credentials, only the secret.
    let anyone = server.api(None);
    let track = second
        .track
        .clone()
        .expect("the issuer gets a track secret");
    let view: TrackView = anyone
        .get(&format!("/api/v1/track/{track}"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(
        (view.ticket.id, view.ticket.number.as_str()),
        (second.id, "1002")
    );
    assert_eq!(view.ticket.status, TicketStatus::Waiting);
    assert_eq!(view.ticket.ahead, 1);
    let (id, mac) = track.split_once('-').expect("track is id-mac");
    let flipped: String = mac
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (0, '0') => '1',
            (0, _) => '0',
            (_, c) => c,
        })
        .collect();
    let forged = [
        format!("{id}-{flipped}"),
        format!("{}-{mac}", first.id),
        format!("{id}-"),
        id.to_owned(),
        "not-a-track".to_owned(),
        // The same ticket and secret spelled another way: one spelling per ticket.
        format!("0{id}-{mac}"),
        format!("+{id}-{mac}"),
    ];
    for track in forged {
        anyone
            .get(&format!("/api/v1/track/{track}"))
            .await
            .expect_error(404);
    }
}
