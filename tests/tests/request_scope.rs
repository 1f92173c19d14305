//! `request_id` on the real server: scoped to the credential that sent it, kept across a
//! restart, and never sent to subscribers.

use luot_shared::protocol::{Role, TicketView};
use luot_tests::{ServerOptions, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// Two kiosks that send the same `request_id` get two tickets with different track secrets;
/// the same kiosk retrying gets its own ticket back (200), also after a crash and restart.
#[tokio::test]
async fn request_id_is_scoped_to_the_credential_and_survives_a_restart() {
    let mut server = TestServer::start(
        ServerOptions::new()
            .token("kiosk-a", Role::Kiosk, None)
            .token("kiosk-b", Role::Kiosk, None),
    );
    let a = server.api_as("kiosk-a");
    let b = server.api_as("kiosk-b");
    let first: TicketView = a
        .issue("tnmt", Some("lobby-7"))
        .await
        .expect_status(201)
        .json();
    let other: TicketView = b
        .issue("tnmt", Some("lobby-7"))
        .await
        .expect_status(201)
        .json();
    assert_ne!(first.id, other.id, "two citizens, two tickets");
    assert_ne!(first.number, other.number);
    assert_ne!(
        first.track, other.track,
        "each kiosk gets only its own secret"
    );
    let retry: TicketView = a
        .issue("tnmt", Some("lobby-7"))
        .await
        .expect_status(200)
        .json();
    assert_eq!((retry.id, &retry.track), (first.id, &first.track));

    server.kill9();
    server.restart();
    let a = server.api_as("kiosk-a");
    let b = server.api_as("kiosk-b");
    let after: TicketView = a
        .issue("tnmt", Some("lobby-7"))
        .await
        .expect_status(200)
        .json();
    assert_eq!((after.id, &after.track), (first.id, &first.track));
    let after: TicketView = b
        .issue("tnmt", Some("lobby-7"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(after.id, other.id);
    assert_eq!(a.state().await.services[0].waiting, 2, "no third ticket");
}

/// Neither a live `ticket_issued` frame nor the same event replayed with `since` carries the
/// `request_id` (or its value) to a subscriber.
#[tokio::test]
async fn request_id_never_reaches_subscribers() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("display", Role::Display, None),
    );
    let kiosk = server.api_as("kiosk");
    let display = server.token("display");
    let mut live = server.ws(&display, None).await;
    let (start, _) = live.snapshot().await;
    kiosk
        .issue("tnmt", Some("secret-request-4711"))
        .await
        .expect_status(201);
    let text = |frame: Option<Message>| match frame {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    };
    let frame = text(live.next_frame().await);
    assert!(frame.contains("ticket_issued"), "{frame}");
    for leak in ["request_id", "secret-request-4711"] {
        assert!(!frame.contains(leak), "live frame carries {leak}: {frame}");
    }
    let mut replay = server.ws(&display, Some(start)).await;
    let frame = text(replay.next_frame().await);
    assert!(frame.contains("ticket_issued"), "{frame}");
    for leak in ["request_id", "secret-request-4711"] {
        assert!(
            !frame.contains(leak),
            "replayed frame carries {leak}: {frame}"
        );
    }
}
