//! The hub's gap filler against a slow link to NATS: a gap the stream can fill must not be
//! declared lost for good because the stream answered slower than a second.

use std::time::Duration;

use luot_tests::province::{Hub, Link, PROVINCE, Province, site, traffic};
use luot_tests::{ADMIN, Api};
use serde_json::Value;

/// Polls the hub until site `id` reaches `want` or `limit` passes; returns the site's row.
async fn wait_for(hub: &Api, id: &str, want: u64, limit: Duration) -> Value {
    let deadline = std::time::Instant::now() + limit;
    let mut row = Value::Null;
    while std::time::Instant::now() < deadline {
        let reply = hub.get("/api/v1/province/state").await;
        if reply.status == 200 {
            let v: Value = reply.json();
            if let Some(s) = v["sites"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["site"] == id)
            {
                row = s.clone();
                if s["last_seq"].as_u64() >= Some(want) && s["problem"].is_null() {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    row
}

/// An empty database behind a hub whose link to NATS has a 600 ms one-way latency (or
/// `LUOT_ATTACK_LATENCY_MS`; a
/// satellite or overloaded WAN): the site's whole history is still in the stream, so the hub
/// fills it back — and a hub restarted on a fast link does too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_stream_does_not_make_a_fillable_gap_permanent() {
    let Some(Province { nats, pg, mut hub }) = Province::start() else {
        return;
    };
    let a = site(&hub, "a", &nats.url());
    traffic(&a, 6, 0).await;
    let token = hub.token("viewer");
    let api = Api::new(&hub.base_url, Some(&token));
    let want = a.api_as(ADMIN).seq().await;
    let row = wait_for(&api, "a", want, Duration::from_secs(60)).await;
    assert_eq!(row["last_seq"].as_u64(), Some(want), "{row}");

    // The database is lost; the hub comes back, reaching NATS over a slow link.
    let key = hub.enroll("a");
    hub.kill9();
    drop(hub);
    pg.replace_database();
    let one_way = std::env::var("LUOT_ATTACK_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let slow = Link::with_latency(nats.port, Duration::from_millis(one_way)).await;
    let hub = Hub::start(&slow.url(), &pg.url(), PROVINCE);
    // The site's key comes back from its own settings.
    hub.enroll_with("a", &key);
    let api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    traffic(&a, 2, 1).await;
    let want = a.api_as(ADMIN).seq().await;
    let slow_row = wait_for(&api, "a", want, Duration::from_secs(90)).await;
    let slow_log: String = hub
        .log()
        .lines()
        .filter(|l| l.contains("gap") || l.contains("missing"))
        .collect::<Vec<_>>()
        .join("\n");
    drop(hub);

    // The same database, a hub on a fast link.
    let hub = Hub::start(&nats.url(), &pg.url(), PROVINCE);
    let api = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    traffic(&a, 2, 2).await;
    let want_after = a.api_as(ADMIN).seq().await;
    let fast_row = wait_for(&api, "a", want_after, Duration::from_secs(60)).await;
    let stored: i64 = pg
        .client()
        .await
        .query_one("SELECT count(*) FROM hub_events WHERE site = 'a'", &[])
        .await
        .expect("count")
        .get(0);
    let ok =
        |row: &Value, want: u64| row["last_seq"].as_u64() >= Some(want) && row["problem"].is_null();
    assert!(
        ok(&slow_row, want) && ok(&fast_row, want_after),
        "over the slow link the hub ended at {} of {want} with problem {}; hub log:\n{slow_log}\n\
         restarted on a fast link it ended at {} of {want_after} with problem {}; hub_events holds {stored} of its events",
        slow_row["last_seq"],
        slow_row["problem"],
        fast_row["last_seq"],
        fast_row["problem"]
    );
}
