//! Two hubs on one database and one stream, which the README calls safe: both must show the
//! province as PostgreSQL holds it, not each its own share of the messages.

use luot_tests::province::{self, Hub, Nats, PROVINCE, Postgres, converge, site, traffic};
use luot_tests::{ADMIN, Api};

/// With two hubs sharing the durable consumer and the database, each hub's
/// `/api/v1/province/state` reaches every site's last seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hubs_on_one_database_both_show_every_site() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let nats = Nats::start();
    let pg = Postgres::start();
    let one = Hub::start(&nats.url(), &pg.url(), PROVINCE);
    let two = Hub::start(&nats.url(), &pg.url(), PROVINCE);
    let token = one.token("viewer");
    let s1 = site(&one, "s1", &nats.url());
    let s2 = site(&one, "s2", &nats.url());
    for round in 0..4 {
        traffic(&s1, 4, round).await;
        traffic(&s2, 4, round + 1).await;
    }
    let db = pg.client().await;
    // Against each site's seq as it is at each look (a site may record more meanwhile); on
    // giving up, what the hubs and the sites say is printed.
    let deadline = tokio::time::Instant::now() + province::CONVERGE;
    loop {
        let want = vec![
            ("s1".to_owned(), s1.api_as(ADMIN).seq().await as i64),
            ("s2".to_owned(), s2.api_as(ADMIN).seq().await as i64),
        ];
        let rows = db
            .query("SELECT site, last_seq FROM hub_sites ORDER BY site", &[])
            .await
            .expect("hub_sites");
        let have: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if have == want {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            for hub in [&one, &two] {
                let api = Api::new(&hub.base_url, Some(&token));
                eprintln!(
                    "hub {}: {}",
                    hub.base_url,
                    api.get("/api/v1/province/state").await.body
                );
            }
            for s in [&s1, &s2] {
                eprintln!(
                    "site {}: {}",
                    s.base_url(),
                    s.api_as(ADMIN).get("/api/v1/admin/ship").await.body
                );
            }
            panic!(
                "PostgreSQL holds {have:?}, the sites are at {want:?} after {:?}",
                province::CONVERGE
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for hub in [&one, &two] {
        let api = Api::new(&hub.base_url, Some(&token));
        let state: serde_json::Value = api.get("/api/v1/province/state").await.json();
        eprintln!(
            "{}: {:?}",
            hub.base_url,
            state["sites"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| (s["site"].clone(), s["last_seq"].clone()))
                .collect::<Vec<_>>()
        );
    }
    for hub in [&one, &two] {
        let api = Api::new(&hub.base_url, Some(&token));
        converge(&api, &[("s1", &s1), ("s2", &s2)]).await;
    }
}
