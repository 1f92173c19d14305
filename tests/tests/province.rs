//! A province of three real sites shipping to a real NATS JetStream, projected by the hub into
//! a real PostgreSQL, through a WAN cut, a site killed with SIGKILL and the hub killed too.

use std::collections::BTreeMap;

use luot_shared::Recorded;
use luot_tests::province::{
    self, CONVERGE, Hub, Link, Nats, PROVINCE, Postgres, Province, converge, rename, site,
    site_events, traffic,
};
use luot_tests::{ADMIN, Api, poll_until};
use serde_json::Value;

fn without(mut v: Value, keys: &[&str]) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in keys {
            o.remove(*k);
        }
    }
    v
}

/// Through a WAN cut, a site's SIGKILL and the hub's, PostgreSQL ends with every event of every
/// site exactly once and gap-free, and the province's report is the sum of the sites' own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_sites_through_cuts_and_kills() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let nats = Nats::start();
    let pg = Postgres::start();
    let wan = Link::start(nats.port).await;
    let mut hub = Hub::start(&nats.url(), &pg.url(), PROVINCE);
    let token = hub.token("admin");
    assert!(token.starts_with("lh_"), "{token}");
    let ids = ["s1", "s2", "s3"];
    let mut s1 = site(&hub, ids[0], &wan.url());
    let mut s2 = site(&hub, ids[1], &wan.url());
    // A cluster's address list, one of its servers down.
    let s3 = site(
        &hub,
        ids[2],
        &format!("nats://127.0.0.1:{},{}", province::free_port(), wan.url()),
    );
    rename(&s1, "Trung tâm Phục vụ hành chính công Quận 1").await;
    rename(&s2, "Bộ phận Một cửa Quận 3").await;
    rename(&s3, "Bộ phận Một cửa Huyện Nhà Bè").await;

    // Normal traffic.
    for (n, s) in [&s1, &s2, &s3].into_iter().enumerate() {
        traffic(s, 8, n).await;
    }
    let hub_api = Api::new(&hub.base_url, Some(&token));
    converge(&hub_api, &[("s1", &s1), ("s2", &s2), ("s3", &s3)]).await;

    // The WAN drops: the sites go on, their backlog grows and shows.
    wan.cut();
    for (n, s) in [&s1, &s2, &s3].into_iter().enumerate() {
        traffic(s, 8, n + 1).await;
    }
    let admin1 = s1.api_as(ADMIN);
    let status: Value = poll_until(CONVERGE, "site 1 to show its backlog", || async {
        let v: Value = admin1
            .get("/api/v1/admin/ship")
            .await
            .expect_status(200)
            .json();
        (v["shipping"]["backlog"].as_u64().unwrap_or(0) > 0
            && v["shipping"]["state"] != "caught_up")
            .then_some(v)
    })
    .await;
    assert_eq!(status["enabled"], true);
    assert_eq!(status["shipping"]["site"], "s1");
    wan.restore();

    // A site is killed mid-day and restarted; it resumes where the stream stopped.
    traffic(&s2, 4, 3).await;
    s2.kill9();
    s2.restart();
    traffic(&s2, 4, 4).await;

    // The hub is killed while the sites work, then restarted.
    hub.kill9();
    for (n, s) in [&s1, &s2, &s3].into_iter().enumerate() {
        traffic(s, 6, n + 2).await;
    }
    hub.restart();
    let hub_api = Api::new(&hub.base_url, Some(&token));
    s1.kill9();
    s1.restart();
    for (n, s) in [&s1, &s2, &s3].into_iter().enumerate() {
        traffic(s, 4, n + 3).await;
    }
    converge(&hub_api, &[("s1", &s1), ("s2", &s2), ("s3", &s3)]).await;

    // PostgreSQL holds each site's log exactly, once, without a gap.
    let db = pg.client().await;
    for (id, server) in [("s1", &s1), ("s2", &s2), ("s3", &s3)] {
        let admin = server.api_as(ADMIN);
        let own = site_events(&admin).await;
        let rows = db
            .query(
                "SELECT seq, body::text FROM hub_events WHERE site = $1 ORDER BY seq",
                &[&id],
            )
            .await
            .expect("query");
        assert_eq!(rows.len(), own.len(), "{id}: events in PostgreSQL");
        for (i, (row, mine)) in rows.iter().zip(&own).enumerate() {
            let seq: i64 = row.get(0);
            assert_eq!(seq as u64, i as u64 + 1, "{id}: gap-free");
            let theirs: Recorded = serde_json::from_str(row.get(1)).expect("stored event");
            assert_eq!(&theirs, mine, "{id}: event {seq} differs");
        }
        let cursor: i64 = db
            .query_one("SELECT last_seq FROM hub_sites WHERE site = $1", &[&id])
            .await
            .expect("cursor")
            .get(0);
        assert_eq!(cursor as usize, own.len(), "{id}: cursor");
        let issued = own
            .iter()
            .filter(|r| r.event.kind() == "ticket_issued")
            .count();
        let tickets: i64 = db
            .query_one("SELECT count(*) FROM hub_tickets WHERE site = $1", &[&id])
            .await
            .expect("tickets")
            .get(0);
        assert_eq!(tickets as usize, issued, "{id}: one row per ticket");
        // The site's own view of its shipping agrees.
        let acked = poll_until(CONVERGE, "the acknowledged seq in the metrics", || async {
            let status: Value = admin.get("/api/v1/admin/ship").await.json();
            (status["shipping"]["backlog"] == 0).then_some(status)
        })
        .await;
        assert_eq!(
            acked["shipping"]["acked_seq"].as_u64(),
            Some(own.len() as u64)
        );
        let metrics = admin.get("/metrics").await.expect_status(200).body;
        let value = |name: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        assert_eq!(value("luot_ship_acked_seq"), Some(own.len() as u64), "{id}");
        assert_eq!(value("luot_ship_backlog"), Some(0), "{id}");
    }

    // The province's report is the sum of the centers' own.
    let day = s1.api_as(ADMIN).state().await.day;
    let q = format!("from={day}&to={day}");
    let by_site: Value = hub_api
        .get(&format!("/api/v1/province/reports?{q}&by=site"))
        .await
        .expect_status(200)
        .json();
    let mut sum: BTreeMap<&str, u64> = BTreeMap::new();
    let counted = [
        "issued",
        "served",
        "no_show",
        "cancelled",
        "expired",
        "called",
        "ratings",
        "over_target",
    ];
    for (id, server) in [("s1", &s1), ("s2", &s2), ("s3", &s3)] {
        let admin = server.api_as(ADMIN);
        let own: Value = admin
            .get(&format!("/api/v1/reports?{q}&by=service"))
            .await
            .expect_status(200)
            .json();
        let theirs: Value = hub_api
            .get(&format!(
                "/api/v1/province/reports?{q}&by=service&site={id}"
            ))
            .await
            .expect_status(200)
            .json();
        let rows: Vec<Value> = theirs["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| without(r.clone(), &["site"]))
            .collect();
        assert_eq!(Value::from(rows), own["rows"], "{id}: rows by service");
        assert_eq!(theirs["total"], own["total"], "{id}: total");
        let row = by_site["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["site"] == id)
            .unwrap_or_else(|| panic!("{id} missing from the province's report"));
        assert_eq!(
            without(row.clone(), &["site", "key", "label"]),
            without(own["total"].clone(), &["key", "label"]),
            "{id}: its row of the province's report"
        );
        for k in counted {
            *sum.entry(k).or_default() += own["total"][k].as_u64().unwrap_or(0);
        }
    }
    for k in counted {
        assert_eq!(
            by_site["total"][k].as_u64(),
            Some(sum[k]),
            "province total {k}"
        );
    }
    assert!(sum["issued"] > 0);

    // A second server shipping as s3 is refused; the province keeps s3's own log.
    let before: i64 = db
        .query_one("SELECT last_seq FROM hub_sites WHERE site = 's3'", &[])
        .await
        .expect("cursor")
        .get(0);
    let impostor = site(&hub, "s3", &nats.url());
    let status: Value = poll_until(CONVERGE, "the second writer to be refused", || async {
        let v: Value = impostor
            .api_as(ADMIN)
            .get("/api/v1/admin/ship")
            .await
            .expect_status(200)
            .json();
        (v["shipping"]["state"] == "refused").then_some(v)
    })
    .await;
    assert!(
        status["shipping"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("another server")),
        "{status}"
    );
    traffic(&s3, 2, 0).await;
    converge(&hub_api, &[("s3", &s3)]).await;
    let after: i64 = db
        .query_one("SELECT last_seq FROM hub_sites WHERE site = 's3'", &[])
        .await
        .expect("cursor")
        .get(0);
    assert!(after > before, "s3 itself still ships");
    assert_eq!(after as u64, s3.api_as(ADMIN).seq().await);
}

/// The province's database lost and replaced by an empty one while the stream's consumer
/// remembers what it delivered: the restarted hub fills every site's history back from the
/// stream, gap-free, and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_empty_database_is_filled_from_the_stream() {
    let Some(Province { nats, pg, mut hub }) = Province::start() else {
        return;
    };
    let token = hub.token("admin");
    let a = site(&hub, "a", &nats.url());
    let b = site(&hub, "b", &nats.url());
    traffic(&a, 10, 0).await;
    traffic(&b, 6, 1).await;
    converge(
        &Api::new(&hub.base_url, Some(&token)),
        &[("a", &a), ("b", &b)],
    )
    .await;

    let keys = [hub.enroll("a"), hub.enroll("b")];
    hub.kill9();
    pg.replace_database();
    // The sites' keys come back from the sites' own settings.
    hub.enroll_with("a", &keys[0]);
    hub.enroll_with("b", &keys[1]);
    hub.restart();
    let token = hub.token("admin");
    let api = Api::new(&hub.base_url, Some(&token));
    traffic(&a, 4, 2).await;
    traffic(&b, 4, 3).await;
    converge(&api, &[("a", &a), ("b", &b)]).await;

    let db = pg.client().await;
    for (id, server) in [("a", &a), ("b", &b)] {
        let last = server.api_as(ADMIN).seq().await as i64;
        let row = db
            .query_one(
                "SELECT count(*), min(seq), max(seq) FROM hub_events WHERE site = $1",
                &[&id],
            )
            .await
            .expect("query");
        let (n, lo, hi): (i64, Option<i64>, Option<i64>) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            (n, lo, hi),
            (last, Some(1), Some(last)),
            "{id}: every event, once"
        );
    }
    let state: Value = api
        .get("/api/v1/province/state")
        .await
        .expect_status(200)
        .json();
    for s in state["sites"].as_array().expect("sites") {
        assert!(s["gap_from"].is_null() && s["problem"].is_null(), "{s}");
    }
    // The history came back by reading the stream, not by chance.
    assert!(
        hub.log().contains("gap filled from the stream"),
        "{}",
        hub.log()
    );

    // The province's copy of a site rebuilds it: an admin downloads it, import takes it.
    let viewer = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    viewer
        .get("/api/v1/province/sites/a/export")
        .await
        .expect_status(403);
    api.get("/api/v1/province/sites/nowhere/export")
        .await
        .expect_status(404);
    let file = api
        .get("/api/v1/province/sites/a/export")
        .await
        .expect_status(200)
        .body;
    let last = a.api_as(ADMIN).seq().await;
    let events = file.lines().filter(|l| l.starts_with("{\"event\"")).count();
    assert_eq!(events as u64, last, "every event of the site in its export");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.jsonl");
    std::fs::write(&path, &file).expect("write");
    let output = std::process::Command::new(luot_tests::server_binary())
        .arg("--data")
        .arg(dir.path().join("rebuilt"))
        .arg("import")
        .arg(&path)
        .output()
        .expect("import");
    assert!(
        output.status.success(),
        "import refused the province's copy: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
