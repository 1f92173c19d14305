//! `--province`: the hub projecting a backlog into PostgreSQL, as a ratio to a bare batched
//! insert of the same rows into the same database in the same run; and 50 real sites catching
//! up after a one-hour WAN cut.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use luot_server::ship::{SIGNATURE_HEADER, message_id, payload, sign, site_subject, stream_config};
use luot_server::store::Store;
use luot_shared::Recorded;
use luot_tests::province::{Hub, Link, Nats, Postgres, rename, traffic};
use luot_tests::{ADMIN, Api, TestServer};
use serde_json::Value;

use super::history;

const PROVINCE: &str = "bench";

/// Every event of one generated working day (≈ 275 visitors).
fn one_day() -> Vec<Recorded> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("day");
    history::generate(&data, 1);
    let store = Store::open(&data).unwrap();
    store.events_from(1).map(|r| r.unwrap()).collect()
}

/// Enrolls a site with the hub's command line; returns its key.
fn enroll(postgres: &str, site: &str) -> String {
    let out = std::process::Command::new(luot_tests::server_binary())
        .args(["hub", "--postgres", postgres, "site", "add", site])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

/// Sum of every site's projected cursor.
async fn projected(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT coalesce(sum(last_seq), 0)::bigint FROM hub_sites",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

pub(crate) async fn run(sites: usize) {
    let day = one_day();
    let n = day.len();
    let total = (n * sites) as f64;
    println!("one day: {n} events; {sites} sites: {total} events");
    let nats = Nats::start();
    let pg = Postgres::start();
    let db = pg.client().await;

    // The baseline: the same rows inserted as the hub inserts them (unnest, one transaction
    // per 1,000), with nothing else.
    db.batch_execute(
        "CREATE TABLE bench_events (site text, seq bigint, at timestamptz, kind text, body jsonb,
                                    PRIMARY KEY (site, seq))",
    )
    .await
    .unwrap();
    let bodies: Vec<String> = day
        .iter()
        .map(|r| String::from_utf8(payload(r)).unwrap())
        .collect();
    let started = Instant::now();
    for s in 0..sites {
        let site = format!("site-{s:02}");
        for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
            let seqs: Vec<i64> = chunk.iter().map(|&i| day[i].seq as i64).collect();
            let ats: Vec<String> = chunk.iter().map(|&i| day[i].at.to_string()).collect();
            let kinds: Vec<String> = chunk
                .iter()
                .map(|&i| day[i].event.kind().to_owned())
                .collect();
            let b: Vec<String> = chunk.iter().map(|&i| bodies[i].clone()).collect();
            db.execute(
                "INSERT INTO bench_events SELECT $1, s, a::timestamptz, k, b::jsonb
                 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(s, a, k, b)",
                &[&site, &seqs, &ats, &kinds, &b],
            )
            .await
            .unwrap();
        }
    }
    let bare_s = started.elapsed().as_secs_f64();
    let bare_rate = total / bare_s;
    println!("bare batched insert: {bare_rate:.0} events/s ({bare_s:.2} s)");

    // The backlog: every site's day in the stream before the hub starts.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    js.get_or_create_stream(stream_config(PROVINCE, 1))
        .await
        .unwrap();
    let published = Instant::now();
    for s in 0..sites {
        let site = format!("site-{s:02}");
        let key = enroll(&pg.url(), &site);
        let subject = site_subject(PROVINCE, &site);
        let mut acks = Vec::with_capacity(n);
        for (rec, body) in day.iter().zip(&bodies) {
            let mut headers = async_nats::HeaderMap::new();
            let id = message_id(&site, rec.seq);
            headers.insert("Nats-Msg-Id", id.as_str());
            headers.insert(SIGNATURE_HEADER, sign(&key, &id, body.as_bytes()).as_str());
            acks.push(
                js.publish_with_headers(subject.clone(), headers, body.clone().into())
                    .await
                    .unwrap(),
            );
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }
    println!(
        "backlog published in {:.1} s",
        published.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let hub = Hub::start(&nats.url(), &pg.url(), PROVINCE);
    let want = total as i64;
    while projected(&db).await < want {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the hub did not project the backlog:\n{}",
            hub.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hub_s = started.elapsed().as_secs_f64();
    let hub_rate = total / hub_s;
    println!(
        "hub projecting the backlog (start included): {hub_rate:.0} events/s ({hub_s:.2} s) = {:.2} × the bare insert",
        hub_rate / bare_rate
    );
    drop(hub);
    drop(js);

    // 50 real sites through a WAN with latency, cut for an hour of traffic.
    for one_way_ms in [0u64, 20] {
        catch_up(&nats, &pg, sites, Duration::from_millis(one_way_ms)).await;
    }
}

/// Sites ship through a link with `one_way` latency; three hours of traffic with the link up,
/// one with it cut; then the time from the restore until the hub has every event.
async fn catch_up(nats: &Nats, pg: &Postgres, sites: usize, one_way: Duration) {
    pg.replace_database();
    let province = format!("wan{}", one_way.as_millis());
    let mut hub = Hub::start(&nats.url(), &pg.url(), &province);
    let token = hub.token("admin");
    let api = Api::new(&hub.base_url, Some(&token));
    let wan = Link::with_latency(nats.port, one_way).await;
    let started = Instant::now();
    let mut servers: Vec<TestServer> = Vec::new();
    for s in 0..sites {
        let key = hub.enroll(&format!("site-{s:02}"));
        let server = luot_tests::TestServer::start(
            luot_tests::ServerOptions::new()
                .token("kiosk", luot_shared::protocol::Role::Kiosk, None)
                .token("rate-1", luot_shared::protocol::Role::Kiosk, Some(1))
                .token("rate-2", luot_shared::protocol::Role::Kiosk, Some(2))
                .token("rate-3", luot_shared::protocol::Role::Kiosk, Some(3))
                .env("LUOT_SITE", &format!("site-{s:02}"))
                .env("LUOT_SHIP", &wan.url())
                .env("LUOT_PROVINCE", &province)
                .env("LUOT_SHIP_KEY", &key),
        );
        servers.push(server);
    }
    for (i, s) in servers.iter().enumerate() {
        rename(s, &format!("Trung tâm {i}")).await;
    }
    println!(
        "{sites} sites started in {:.1} s (one-way latency {} ms)",
        started.elapsed().as_secs_f64(),
        one_way.as_millis()
    );
    // ≈ 275 visitors a day over 8 hours: 34 an hour.
    let hour = 34;
    futures_util::future::join_all(
        servers
            .iter()
            .enumerate()
            .map(|(i, s)| traffic(s, 3 * hour, i)),
    )
    .await;
    let seqs = last_seqs(&servers).await;
    wait_for(&api, &seqs).await;
    wan.cut();
    futures_util::future::join_all(
        servers
            .iter()
            .enumerate()
            .map(|(i, s)| traffic(s, hour, i + 1)),
    )
    .await;
    let seqs = last_seqs(&servers).await;
    let backlog: u64 = {
        let state: Value = api.get("/api/v1/province/state").await.json();
        let have: u64 = state["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["last_seq"].as_u64().unwrap())
            .sum();
        seqs.iter().map(|(_, s)| s).sum::<u64>() - have
    };
    let restored = Instant::now();
    wan.restore();
    wait_for(&api, &seqs).await;
    let took = restored.elapsed().as_secs_f64();
    println!(
        "after a one-hour cut, {sites} sites' backlog of {backlog} events caught up in {took:.2} s (one-way latency {} ms)",
        one_way.as_millis()
    );
    drop(servers);
    hub.kill9();
}

async fn last_seqs(servers: &[TestServer]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        out.push((format!("site-{i:02}"), s.api_as(ADMIN).seq().await));
    }
    out
}

async fn wait_for(api: &Api, seqs: &[(String, u64)]) {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sites did not catch up"
        );
        let state: Value = api.get("/api/v1/province/state").await.json();
        let done = seqs.iter().all(|(id, seq)| {
            state["sites"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["site"] == id.as_str() && s["last_seq"].as_u64() == Some(*seq))
        });
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
