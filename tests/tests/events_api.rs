//! `GET /api/v1/events`: the log in pages after a cursor, in the shape webhooks carry, for
//! admins only, with bad parameters refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use luot_shared::protocol::Role;
use luot_tests::{ADMIN, ServerOptions, TestServer};
use serde_json::Value;

/// Pages of any size join into the whole log, 1 to the last seq, each event once, with
/// `next` and `more` to go on from; no ticket's `request_id` leaves the server.
#[tokio::test]
async fn pages_cover_the_log_once_in_order() {
    let server = TestServer::start(ServerOptions::new());
    let api = server.api_as(ADMIN);
    for i in 0..12 {
        let reply = api.issue("tnmt", Some(&format!("kiosk-request-{i}"))).await;
        reply.expect_status(201);
    }
    api.open_counter(1).await;
    for _ in 0..5 {
        api.call_next(1).await.expect("someone waits");
    }
    let last = api.seq().await;
    assert!(last >= 19, "{last}");

    for limit in [1, 7, 1000] {
        let mut after = 0;
        let mut seqs = Vec::new();
        let mut pages = 0u64;
        loop {
            let page: Value = api
                .get(&format!("/api/v1/events?after={after}&limit={limit}"))
                .await
                .expect_status(200)
                .json();
            pages += 1;
            assert!(pages <= last + 1, "paging does not end");
            let events = page["events"].as_array().unwrap();
            assert!(events.len() <= limit as usize);
            for event in events {
                seqs.push(event["seq"].as_u64().unwrap());
                assert_eq!(event["kind"], event["event"]["kind"], "{event}");
                assert!(event["at"].is_string(), "{event}");
                assert!(event.get("type").is_none(), "{event}");
            }
            assert!(
                !page.to_string().contains("kiosk-request-"),
                "request_id leaked"
            );
            assert_eq!(page["last_seq"], last);
            let next = page["next"].as_u64().unwrap();
            assert_eq!(Some(next), seqs.last().copied().or(Some(after)));
            if !page["more"].as_bool().unwrap() {
                assert_eq!(next, last);
                break;
            }
            after = next;
        }
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "limit {limit}");
    }
    let default: Value = api.get("/api/v1/events").await.expect_status(200).json();
    assert_eq!(default["events"].as_array().unwrap().len(), last as usize);
    let end: Value = api
        .get(&format!("/api/v1/events?after={last}"))
        .await
        .expect_status(200)
        .json();
    assert!(end["events"].as_array().unwrap().is_empty());
    assert_eq!(
        (end["next"].as_u64(), end["more"].as_bool()),
        (Some(last), Some(false))
    );
}

/// Bad cursors and limits get a 400 JSON error; only admins may read the log.
#[tokio::test]
async fn bad_parameters_and_other_roles_are_refused() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("screen", Role::Display, None)
            .token("kiosk", Role::Kiosk, None)
            .token("desk", Role::Staff, None),
    );
    let api = server.api_as(ADMIN);
    let last = api.seq().await;
    for query in [
        "after=-1".to_owned(),
        "after=abc".to_owned(),
        "limit=0".to_owned(),
        "limit=1001".to_owned(),
        "limit=-5".to_owned(),
        "since=3".to_owned(),
        format!("after={}", last + 1),
    ] {
        let reply = api.get(&format!("/api/v1/events?{query}")).await;
        reply.expect_error(400);
    }
    for label in ["screen", "kiosk", "desk"] {
        server
            .api_as(label)
            .get("/api/v1/events")
            .await
            .expect_error(403);
    }
    server
        .api(None)
        .get("/api/v1/events")
        .await
        .expect_error(401);
}
