//! Counter-bound credentials on the real server: a staff token made for one counter acts only
//! on that counter's services, and a rating comes only from the rating device of the counter
//! that finished the ticket (or from an admin, as a correction), once.

use luot_shared::TicketStatus;
use luot_shared::protocol::{Role, TicketView};
use luot_tests::{ADMIN, ServerOptions, TestServer};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// The default center: counter k serves only field k (1 `tnmt`, 2 `tckh`, 3 `ldtbxh`).
fn server() -> TestServer {
    TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("rate-1", Role::Kiosk, Some(1))
            .token("rate-2", Role::Kiosk, Some(2))
            .token("staff-1", Role::Staff, Some(1))
            .token("staff-3", Role::Staff, Some(3)),
    )
}

/// A staff token for counter 3 gets 403 `not_your_counter` when it cancels or reinstates a
/// ticket of a service counter 3 does not serve, changing nothing; the same token still
/// cancels a ticket of its own service.
#[tokio::test]
async fn staff_token_of_one_counter_cannot_cancel_or_reinstate_other_services() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    let staff1 = server.api_as("staff-1");
    let staff3 = server.api_as("staff-3");

    let foreign = kiosk.issue_ticket("tnmt").await;
    let seq = kiosk.seq().await;
    let refused = staff3
        .post_empty(&format!("/api/v1/tickets/{}/cancel", foreign.id))
        .await
        .expect_error(403);
    assert_eq!(refused.code, "not_your_counter", "{}", refused.message);
    assert_eq!(kiosk.seq().await, seq, "a refused cancel records nothing");

    // A no-show of counter 1 cannot be put back in line by counter 3 either.
    staff1.open_counter(1).await;
    assert_eq!(staff1.call_next(1).await.map(|t| t.id), Some(foreign.id));
    staff1.counter_action(1, "no-show").await.expect_status(200);
    let seq = kiosk.seq().await;
    let refused = staff3
        .post_empty(&format!("/api/v1/tickets/{}/reinstate", foreign.id))
        .await
        .expect_error(403);
    assert_eq!(refused.code, "not_your_counter", "{}", refused.message);
    assert_eq!(
        kiosk.seq().await,
        seq,
        "a refused reinstate records nothing"
    );
    let back: TicketView = staff1
        .post_empty(&format!("/api/v1/tickets/{}/reinstate", foreign.id))
        .await
        .expect_status(200)
        .json();
    assert_eq!(back.status, TicketStatus::Waiting);

    // Its own service it may still withdraw.
    let own = kiosk.issue_ticket("ldtbxh").await;
    let cancelled: TicketView = staff3
        .post_empty(&format!("/api/v1/tickets/{}/cancel", own.id))
        .await
        .expect_status(200)
        .json();
    assert_eq!(cancelled.status, TicketStatus::Cancelled);
}

/// Only counter 1's rating device rates a ticket finished at counter 1: staff (403
/// `staff_cannot_rate`), a kiosk without a counter (403 `rating_device_unpaired`) and
/// counter 2's device (403 `wrong_rating_device`) are refused; a second rating gets 409
/// `already_rated`; the event names the counter, the staff member who finished the ticket and
/// the device; an admin's rating is recorded as a correction naming the admin.
#[tokio::test]
async fn rating_comes_only_from_the_finishing_counters_device_once() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    let staff1 = server.api_as("staff-1");
    let admin = server.api_as(ADMIN);
    let ticket = kiosk.issue_ticket("tnmt").await;
    staff1.open_counter(1).await;
    staff1.call_next(1).await.expect("the ticket waits");
    staff1.counter_action(1, "finish").await.expect_status(200);
    let seq = kiosk.seq().await;

    for (who, status, code) in [
        ("staff-1", 403, "staff_cannot_rate"),
        ("kiosk", 403, "rating_device_unpaired"),
        ("rate-2", 403, "wrong_rating_device"),
    ] {
        let error = server
            .api_as(who)
            .rate(ticket.id, 1)
            .await
            .expect_error(status);
        assert_eq!(error.code, code, "{who}: {}", error.message);
    }
    assert_eq!(kiosk.seq().await, seq, "refused ratings record nothing");

    let mut screen = server.ws(&server.token("rate-1"), Some(seq)).await;
    server
        .api_as("rate-1")
        .rate(ticket.id, 5)
        .await
        .expect_status(200);
    let error = server
        .api_as("rate-1")
        .rate(ticket.id, 4)
        .await
        .expect_error(409);
    assert_eq!(error.code, "already_rated", "{}", error.message);
    admin.rate(ticket.id, 4).await.expect_status(200);

    let mut rated = Vec::new();
    while rated.len() < 2 {
        let Some(Message::Text(text)) = screen.next_frame().await else {
            panic!("the rating stream ended");
        };
        let frame: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
        rated.push(frame["event"].clone());
    }
    let device = &rated[0];
    assert_eq!(device["kind"], "ticket_rated");
    assert_eq!(device["ticket"]["id"], ticket.id);
    assert_eq!(device["counter"], 1);
    assert_eq!(
        device["staff"], "staff-1",
        "the staff member who finished it"
    );
    assert_eq!(device["score"], 5);
    assert_eq!(device["by"], "rate-1", "the device that rated");
    assert!(device.get("correction").is_none_or(|c| c == false));
    let correction = &rated[1];
    assert_eq!(correction["kind"], "ticket_rated");
    assert_eq!(correction["score"], 4);
    assert_eq!(correction["staff"], "staff-1");
    assert_eq!(correction["by"], ADMIN);
    assert_eq!(
        correction["correction"], true,
        "an admin's rating is a correction"
    );
}

/// A staff account assigned to counter 3 logs in and gets 403 `not_your_counter` cancelling a
/// ticket of counter 1's service, and 403 `staff_cannot_rate` rating one it finished itself.
#[tokio::test]
async fn staff_account_acts_only_on_its_assigned_counters_services_and_never_rates() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    server
        .api_as(ADMIN)
        .post(
            "/api/v1/admin/users",
            &serde_json::json!({ "username": "hoa", "password": "mat-khau-3", "role": "staff", "counters": [3] }),
        )
        .await
        .expect_status(201);
    let reply = server
        .api(None)
        .post(
            "/api/v1/login",
            &serde_json::json!({ "username": "hoa", "password": "mat-khau-3" }),
        )
        .await
        .expect_status(200);
    let csrf = reply.json::<Value>()["csrf"]
        .as_str()
        .expect("a csrf token")
        .to_owned();
    let cookie = reply
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let hoa = server
        .api(None)
        .with_header("Cookie", &cookie)
        .with_header("X-CSRF-Token", &csrf);

    let foreign = kiosk.issue_ticket("tnmt").await;
    let refused = hoa
        .post_empty(&format!("/api/v1/tickets/{}/cancel", foreign.id))
        .await
        .expect_error(403);
    assert_eq!(refused.code, "not_your_counter", "{}", refused.message);

    let own = kiosk.issue_ticket("ldtbxh").await;
    hoa.open_counter(3).await;
    assert_eq!(hoa.call_next(3).await.map(|t| t.id), Some(own.id));
    hoa.counter_action(3, "finish").await.expect_status(200);
    let refused = hoa.rate(own.id, 5).await.expect_error(403);
    assert_eq!(refused.code, "staff_cannot_rate", "{}", refused.message);
}

/// A counter's rating device (a kiosk token made with `--counter N`) cannot issue tickets,
/// priority or not: whoever takes the token off the tablet cannot jump the queue.
#[tokio::test]
async fn a_rating_device_does_not_issue() {
    let server = server();
    let kiosk = server.api_as("kiosk");
    let seq = kiosk.seq().await;
    for body in [
        serde_json::json!({ "service": "tnmt" }),
        serde_json::json!({ "service": "tnmt", "priority": "meritorious" }),
    ] {
        let refused = server
            .api_as("rate-1")
            .post("/api/v1/tickets", &body)
            .await
            .expect_error(403);
        assert!(
            refused.message.contains("rating device"),
            "{}",
            refused.message
        );
    }
    assert_eq!(kiosk.seq().await, seq, "nothing was issued");
    kiosk.issue_ticket("tnmt").await;
}
