//! Bad input gets a clear JSON 4xx and changes nothing.

use luot_shared::protocol::{Role, ServerMessage};
use luot_tests::{ADMIN, ServerOptions, TestServer};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Malformed or misshapen bodies, unknown services, counters and tickets, actions without a
/// current ticket, ratings out of range, oversized bodies and bad paths each get the right JSON
/// 4xx, and the state's `seq` is the same afterwards.
#[tokio::test]
async fn bad_requests_get_json_4xx_and_change_nothing() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("rate-1", Role::Kiosk, Some(1))
            .token("staff-1", Role::Staff, Some(1)),
    );
    let kiosk = server.api_as("kiosk");
    let rating = server.api_as("rate-1");
    let staff = server.api_as("staff-1");
    let admin = server.api_as(ADMIN);
    // A finished ticket to rate, a waiting one, and counter 1 open with nothing in hand.
    let done = kiosk.issue_ticket("tnmt").await;
    let waiting = kiosk.issue_ticket("tckh").await;
    staff.open_counter(1).await;
    staff.call_next(1).await.expect("a ticket waits");
    staff.counter_action(1, "finish").await.expect_status(200);
    let seq = kiosk.seq().await;

    let check = |reply: luot_tests::Reply, status: u16, code: &str, what: &str| {
        let error = reply.expect_error(status);
        assert_eq!(error.code, code, "{what}: {}", error.message);
    };

    // Bodies that are not the expected JSON.
    let tickets = "/api/v1/tickets";
    check(
        kiosk.post_raw(tickets, "{\"service\": ").await,
        400,
        "bad_json",
        "truncated",
    );
    check(
        kiosk.post_raw(tickets, "not json").await,
        400,
        "bad_json",
        "not json",
    );
    check(
        kiosk.post_raw(tickets, "[1, 2]").await,
        422,
        "invalid_body",
        "array",
    );
    check(
        kiosk.post_raw(tickets, "{}").await,
        422,
        "invalid_body",
        "no service",
    );
    check(
        kiosk
            .post(tickets, &json!({ "service": "tnmt", "extra": 1 }))
            .await,
        422,
        "invalid_body",
        "unknown field",
    );
    check(
        kiosk
            .post(tickets, &json!({ "service": "tnmt", "priority": "vip" }))
            .await,
        422,
        "invalid_body",
        "unknown priority",
    );
    check(
        kiosk
            .send(
                Method::POST,
                tickets,
                Some(("text/plain", b"{\"service\":\"tnmt\"}".to_vec())),
            )
            .await,
        415,
        "unsupported_media_type",
        "text/plain",
    );
    check(
        kiosk.post_empty(tickets).await,
        415,
        "unsupported_media_type",
        "no body",
    );
    let long_key = "k".repeat(500);
    check(
        kiosk.issue("tnmt", Some(&long_key)).await,
        422,
        "invalid",
        "long request_id",
    );

    // Unknown service, counter, ticket, action, route.
    check(
        kiosk.issue("khong-co", None).await,
        404,
        "unknown_service",
        "service",
    );
    for action in ["call-next", "open", "start"] {
        check(
            admin.counter_action(99, action).await,
            404,
            "unknown_counter",
            action,
        );
    }
    check(
        admin.get("/api/v1/counters/99").await,
        404,
        "unknown_counter",
        "get",
    );
    check(
        rating.rate(987_654, 5).await,
        404,
        "unknown_ticket",
        "rate unknown",
    );
    check(
        admin.post_empty("/api/v1/tickets/987654/cancel").await,
        404,
        "unknown_ticket",
        "cancel unknown",
    );
    check(
        staff.counter_action(1, "dance").await,
        404,
        "not_found",
        "action",
    );
    check(
        admin.counter_action(0, "open").await,
        404,
        "unknown_counter",
        "counter 0",
    );
    check(
        admin.get("/api/v1/nothing").await,
        404,
        "not_found",
        "route",
    );

    // Acting on a counter that holds no ticket, or one that is closed.
    for action in ["start", "finish", "recall", "no-show"] {
        check(
            staff.counter_action(1, action).await,
            409,
            "no_current_ticket",
            action,
        );
    }
    check(
        staff
            .post("/api/v1/counters/1/transfer", &json!({ "service": "tckh" }))
            .await,
        409,
        "no_current_ticket",
        "transfer",
    );
    check(
        admin.counter_action(2, "call-next").await,
        409,
        "counter_closed",
        "closed",
    );

    // Ratings out of range, of a ticket not yet served.
    for score in [json!(0), json!(6), json!(255)] {
        check(rating.rate(done.id, &score).await, 422, "invalid", "score");
    }
    for score in [json!(300), json!(-1), json!("5"), json!(4.5), json!(null)] {
        check(
            rating.rate(done.id, &score).await,
            422,
            "invalid_body",
            "score type",
        );
    }
    check(
        rating.rate(waiting.id, 5).await,
        409,
        "conflict",
        "rate waiting",
    );

    // Paths that do not parse.
    check(
        admin.post_empty("/api/v1/counters/4294967296/open").await,
        400,
        "bad_path",
        "counter past u32",
    );
    check(
        admin.post_empty("/api/v1/counters/abc/open").await,
        400,
        "bad_path",
        "counter abc",
    );
    check(
        kiosk
            .post("/api/v1/tickets/abc/rating", &json!({ "score": 5 }))
            .await,
        400,
        "bad_path",
        "ticket abc",
    );
    check(
        admin.send(Method::DELETE, tickets, None).await,
        405,
        "method_not_allowed",
        "DELETE tickets",
    );

    // Bodies over the limit, on a JSON endpoint and on the transfer action.
    let huge = format!("{{\"service\":\"{}\"}}", "x".repeat(100 * 1024));
    check(
        kiosk.post_raw(tickets, huge.clone()).await,
        413,
        "body_too_large",
        "issue",
    );
    check(
        staff
            .post_raw("/api/v1/counters/1/transfer", huge.clone())
            .await,
        413,
        "body_too_large",
        "transfer",
    );
    check(
        admin
            .put("/api/v1/admin/center", &json!({ "pad": huge }))
            .await,
        413,
        "body_too_large",
        "center",
    );

    assert_eq!(kiosk.seq().await, seq, "bad input changed the state");
    server.api(None).get("/healthz").await.expect_status(200);
}

/// On `/ws`, a ping gets a pong, garbage gets an error and the connection stays; a text
/// message over 4 KiB gets an error and then Close 1009; the state is unchanged.
#[tokio::test]
async fn websocket_rejects_oversized_and_garbage_messages() {
    let server = TestServer::start(ServerOptions::new().token("display", Role::Display, None));
    let display = server.token("display");
    let mut ws = server.ws(&display, None).await;
    let (seq, _) = ws.snapshot().await;

    ws.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(ws.next_message().await, ServerMessage::Pong);
    for garbage in ["hello", "{}", r#"{"type":"subscribe"}"#] {
        ws.send_text(garbage).await;
        match ws.next_message().await {
            ServerMessage::Error { error } => assert_eq!(error.code, "bad_message", "{garbage}"),
            other => panic!("{garbage}: expected an error, got {other:?}"),
        }
    }
    // Still connected after garbage.
    ws.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(ws.next_message().await, ServerMessage::Pong);

    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(5000));
    ws.send_text(&big).await;
    match ws.next_message().await {
        ServerMessage::Error { error } => assert_eq!(error.code, "message_too_large"),
        other => panic!("expected an error, got {other:?}"),
    }
    match ws.next_frame().await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected Close 1009, got {other:?}"),
    }
    assert!(ws.next_frame().await.is_none(), "connection still open");

    assert_eq!(server.api(Some(&display)).seq().await, seq);
}
