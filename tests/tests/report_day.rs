//! Simulated days at a center through the real server, in-process on a manual clock, over
//! HTTP with real credentials (a kiosk token, staff accounts logged in at their counters, a
//! rating device paired to each counter, an admin token): every figure of every report row
//! equals the one recounted independently ([`luot_tests::recount`]) from the exported log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::civil::Date;
use luot_server::auth;
use luot_server::clock::Clock;
use luot_server::store::Store;
use luot_shared::CounterId;
use luot_shared::protocol::Role;
use luot_tests::Api;
use luot_tests::in_process::Running;
use luot_tests::recount::{self, Recount, Report};
use serde_json::{Value, json};
use sim::{PASSWORD, REASONS, SERVICE_MIN, STAFF, Sim, local, ms, plan_full_day, plan_short_day};

#[path = "report_day/sim.rs"]
mod sim;

/// Seed of the whole simulation: the same seed gives the same days, event for event.
const SEED: u64 = 20_260_930;
/// Every grouping of a report.
const GROUPINGS: [&str; 8] = [
    "service", "counter", "staff", "hour", "day", "week", "month", "quarter",
];
/// Target wait per field, minutes.
const TARGETS: [u32; 9] = [20, 15, 15, 10, 10, 20, 15, 10, 25];

/// Asks for the report of `from..=to` grouped `by`.
async fn fetch(admin: &Api, from: Date, to: Date, by: &str) -> Value {
    admin
        .get(&format!("/api/v1/reports?from={from}&to={to}&by={by}"))
        .await
        .expect_status(200)
        .json()
}

/// Every row of the server's report against the recount: the same rows in the same order,
/// each figure equal. Returns what differs, one line each.
fn compare(expected: &Report, server: &Value) -> Vec<String> {
    let what = format!("{}..{} by {}", expected.from, expected.to, expected.by);
    let actual: Report = serde_json::from_value(server.clone())
        .unwrap_or_else(|e| panic!("{what}: the report has other fields than the recount ({e})"));
    let mut out = Vec::new();
    if (actual.from, actual.to, &actual.by) != (expected.from, expected.to, &expected.by) {
        out.push(format!(
            "{what}: header {:?}",
            (actual.from, actual.to, &actual.by)
        ));
    }
    let keys = |r: &Report| r.rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
    if keys(&actual) != keys(expected) {
        out.push(format!(
            "{what}: rows {:?}, expected {:?}",
            keys(&actual),
            keys(expected)
        ));
        return out;
    }
    for (e, a) in expected
        .rows
        .iter()
        .chain([&expected.total])
        .zip(actual.rows.iter().chain([&actual.total]))
    {
        for d in recount::differences(e, a) {
            out.push(format!("{what}, row {}: {d}", e.key));
        }
    }
    out
}

/// Every grouping of every range against the recount; what differs, one line each.
async fn compare_all(admin: &Api, recount: &Recount, ranges: &[(Date, Date)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, to) in ranges {
        for by in GROUPINGS {
            let expected = recount.report(*from, *to, by);
            wrong.extend(compare(&expected, &fetch(admin, *from, *to, by).await));
        }
    }
    wrong
}

/// A Wednesday at the end of a quarter (the full day), the Thursday that opens the next
/// quarter (a short day), and the Monday after (a morning still open): every figure of every
/// report row, for each day, for all three together, in every grouping, equals the recount
/// of the exported log, the CSV too; each closed day's reports are the same after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_figure_equals_the_recount_of_the_exported_log() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let days = [
        jiff::civil::date(2026, 9, 30),
        jiff::civil::date(2026, 10, 1),
        jiff::civil::date(2026, 10, 5),
    ];
    let mut specs: Vec<(String, Role, Option<CounterId>)> = vec![
        ("kiosk".into(), Role::Kiosk, None),
        ("admin".into(), Role::Admin, None),
    ];
    specs.extend((1..=10).map(|c| (format!("danh-gia-{c}"), Role::Kiosk, Some(c))));
    let tokens: BTreeMap<String, String> = {
        let store = Store::open(dir.path()).expect("the store opens");
        specs
            .into_iter()
            .map(|(label, role, counter)| {
                let (token, _) = auth::create_token(&store, role, counter, Some(label.clone()))
                    .expect("token created");
                (label, token)
            })
            .collect()
    };
    let clock = Clock::manual(local(days[0], 7, 0));
    let server = Running::start(dir.path(), &clock).await;
    let api = |label: &str| Api::new(&server.base, Some(&tokens[label]));
    let admin = api("admin");

    // The center: targets and service times per field, a tenth counter for Tư pháp and Nội
    // vụ, rating reasons, issuing until 16:45 and the close at 17:30.
    let mut config: Value = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    config["center"]["rating_reasons"] = json!(REASONS);
    config["center"]["issue_until"] = "16:45:00".into();
    config["center"]["close"] = "17:30:00".into();
    for (i, service) in config["services"]
        .as_array_mut()
        .expect("services")
        .iter_mut()
        .enumerate()
    {
        service["target_wait_min"] = TARGETS[i].into();
        service["service_min"] = SERVICE_MIN[i].into();
    }
    config["counters"].as_array_mut().expect("counters").push(
        json!({ "id": 10, "name": "Quầy 10 (Tư pháp - Nội vụ)", "services": ["tphc", "nv"] }),
    );
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);
    for (name, counters) in STAFF {
        admin
            .post(
                "/api/v1/admin/users",
                &json!({ "username": name, "password": PASSWORD, "role": "staff", "counters": counters }),
            )
            .await
            .expect_status(201);
    }
    let fields: Vec<String> = config["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect();
    let serves: BTreeMap<CounterId, Vec<String>> = config["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().expect("a counter id") as CounterId,
                serde_json::from_value(c["services"].clone()).expect("services"),
            )
        })
        .collect();
    let devices = (1..=10)
        .map(|c| (c, api(&format!("danh-gia-{c}"))))
        .collect();
    let mut sim = Sim::new(&clock, SEED, fields, serves, api("kiosk"), devices);

    // The full day, closed at 17:30 by the first request after it.
    sim.log_in(&server.base).await;
    sim.plan_arrivals(days[0], 1.0, (7, 30), (16, 45));
    plan_full_day(&mut sim, days[0]);
    sim.run_until(ms(local(days[0], 17, 29))).await;
    // An admin corrects one rating (recorded as a correction; the report counts the latest).
    let corrected = *sim.rated.first().expect("a rated ticket");
    admin.rate(corrected, 2).await.expect_status(200);
    let full_day_issued = sim.seen.issued;
    sim.advance_to(ms(local(days[0], 17, 31)));
    let refused = sim.kiosk.issue("tnmt", None).await;
    assert!(refused.status >= 400, "no tickets after the close");
    sim.day_closed();
    let mut closed_reports = BTreeMap::new();
    for by in GROUPINGS {
        closed_reports.insert((days[0], by), fetch(&admin, days[0], days[0], by).await);
    }

    // A short day, closed the same way, after the manager tightened every target: the closed
    // day keeps the targets its waits began under.
    sim.advance_to(ms(local(days[1], 7, 0)));
    for service in config["services"].as_array_mut().expect("services") {
        let target = service["target_wait_min"].as_u64().expect("a target");
        service["target_wait_min"] = (target / 2).max(1).into();
    }
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);
    sim.log_in(&server.base).await;
    sim.plan_arrivals(days[1], 0.3, (7, 30), (16, 30));
    plan_short_day(&mut sim, days[1], true);
    sim.run_until(ms(local(days[1], 17, 29))).await;
    sim.advance_to(ms(local(days[1], 17, 31)));
    assert!(sim.kiosk.issue("tnmt", None).await.status >= 400);
    sim.day_closed();
    for by in GROUPINGS {
        closed_reports.insert((days[1], by), fetch(&admin, days[1], days[1], by).await);
    }

    // Monday morning, still open.
    sim.advance_to(ms(local(days[2], 7, 0)));
    sim.log_in(&server.base).await;
    sim.plan_arrivals(days[2], 0.15, (7, 30), (10, 0));
    plan_short_day(&mut sim, days[2], false);
    sim.run_until(ms(local(days[2], 10, 0))).await;

    let seen = &sim.seen;
    eprintln!("simulated: {seen:?}; the full day issued {full_day_issued} tickets");
    assert!(
        (220..=290).contains(&full_day_issued),
        "about 250 visitors on the full day, not {full_day_issued}"
    );
    for (what, n) in [
        ("priority tickets", seen.priority),
        ("recalls", seen.recalls),
        ("no-shows", seen.no_shows),
        ("reinstated no-shows", seen.reinstated),
        ("transfers to a service", seen.to_service),
        ("transfers to a counter", seen.to_counter),
        ("cancellations", seen.cancelled),
        ("finishes without a start", seen.unstarted),
        ("finishes by the next call", seen.finished_by_next_call),
        ("ratings", seen.ratings),
        ("ratings with a reason", seen.reasons),
        ("tickets held at a counter at the close", seen.held),
        (
            "counters taken over with a citizen at the desk",
            seen.handovers,
        ),
        (
            "no-shows reinstated after the last call",
            seen.reinstated_late,
        ),
    ] {
        assert!(n > 0, "the simulation has {what}: {seen:?}");
    }

    // The log, exported, recounted.
    let export = admin
        .get("/api/v1/admin/export")
        .await
        .expect_status(200)
        .body;
    let events = recount::parse_export(&export);
    let recount = Recount::new(&events);
    assert!(
        recount.open_tickets(days[2], days[2]) > 0,
        "Monday's morning is still open"
    );
    let ranges = [
        (days[0], days[0]),
        (days[1], days[1]),
        (days[2], days[2]),
        (days[0], days[2]),
    ];
    let mut wrong = compare_all(&admin, &recount, &ranges).await;
    // The simulation's own tally agrees with the log.
    let all = recount.report(days[0], days[2], "day").total;
    assert_eq!(
        (all.issued, all.cancelled, all.ratings),
        (seen.issued, seen.cancelled, seen.ratings),
        "issued, cancelled, rated"
    );
    let full = recount.report(days[0], days[0], "service").total;
    assert!(
        full.no_show > 0 && full.expired > 0 && full.cancelled > 0 && full.served > 0,
        "the full day has every outcome: {full:?}"
    );
    let by_counter = recount.report(days[0], days[0], "counter");
    let staff_keys: BTreeSet<String> = recount
        .report(days[0], days[0], "staff")
        .rows
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert!(by_counter.rows.len() >= 10 && staff_keys.contains("cb.nam"));

    // The CSV, once: the same figures, as a spreadsheet reads them.
    let csv = admin
        .get(&format!(
            "/api/v1/reports?from={}&to={}&by=service&format=csv",
            days[0], days[2]
        ))
        .await
        .expect_status(200)
        .body;
    let body = csv.strip_prefix('\u{feff}').expect("a byte-order mark");
    assert!(body.ends_with("\r\n"), "CRLF line ends");
    let mut lines = body.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        recount::csv_fields(lines.next().expect("a header")),
        recount::CSV_HEADER
    );
    let expected = recount.report(days[0], days[2], "service");
    let records: Vec<Vec<String>> = lines.map(recount::csv_fields).collect();
    assert_eq!(
        records.len(),
        expected.rows.len() + 1,
        "a line per row and the total"
    );
    for (row, fields) in expected.rows.iter().chain([&expected.total]).zip(&records) {
        for d in recount::csv_differences(row, fields) {
            wrong.push(format!("CSV row {}: {d}", row.key));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} figures differ from the recount:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // The closed days read the same now that their roll-ups are stored, and after a restart.
    for ((day, by), before) in &closed_reports {
        assert_eq!(
            &fetch(&admin, *day, *day, by).await,
            before,
            "{day} by {by}"
        );
    }
    server.stop().await;
    let server = Running::start(dir.path(), &clock).await;
    let admin = Api::new(&server.base, Some(&tokens["admin"]));
    for ((day, by), before) in &closed_reports {
        assert_eq!(
            &fetch(&admin, *day, *day, by).await,
            before,
            "{day} by {by} after a restart"
        );
    }
    let wrong = compare_all(&admin, &recount, &ranges).await;
    assert!(wrong.is_empty(), "after a restart:\n{}", wrong.join("\n"));
    server.stop().await;

    // The closed days' roll-ups were kept, final (the log is past their settling).
    // The roll-up thread of the stopped server may still hold the directory for a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let store = loop {
        match Store::open(dir.path()) {
            Ok(store) => break store,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("lock"), "the store opens: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the store opens: {e}"),
        }
    };
    for day in &days[..2] {
        let stored = store
            .rollup_get(*day)
            .expect("the store reads")
            .unwrap_or_else(|| panic!("{day} has a stored roll-up"));
        let stored = luot_server::reports::decode_stored(&stored)
            .unwrap_or_else(|| panic!("{day}'s stored roll-up is a final one"));
        assert!(stored.closed && stored.settled, "{day}");
    }
}
