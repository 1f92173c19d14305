//! Touch → last byte written to the printer, on the real kiosk dispenser against the real
//! server, with a `file:` printer and a `tcp:` one (a local fake printer that answers status).
//!
//! ```text
//! cargo build --release -p luot-server
//! cargo run --release -p luot-tests --example kiosk_bench [ROUNDS]
//! ```
//!
//! The baseline is the bare issue round trip (the same HTTP client, one `POST
//! /api/v1/tickets`, no rendering or printing), measured in the same process in alternating
//! rounds (baseline, file, tcp, baseline, …) so a busy minute on the shared machine hits all
//! three alike. Each touch is broken into issue, QR, render, encode (ESC/POS and nothing
//! else: no preview) and write (status check and every byte); the last line is JSON.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use luot_kiosk::client::{IssueClient, Issued, RetryPolicy};
use luot_kiosk::dispense::{Outcome, Request};
use luot_kiosk::net::{NetDispenser, Timings};
use luot_kiosk::printer::{Printer, Target};
use luot_kiosk::ticket::Paper;
use luot_shared::protocol::Role;
use luot_tests::kiosk::FakePrinter;
use luot_tests::{ServerOptions, TestServer};

/// The default center's fields: each takes 999 tickets a day, so the rounds spread over all.
const FIELDS: [&str; 9] = [
    "tnmt", "tckh", "ldtbxh", "vhtt", "ct", "qldt", "tt", "nv", "tphc",
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Series {
    total: Vec<f64>,
    issue: Vec<f64>,
    qr: Vec<f64>,
    render: Vec<f64>,
    encode: Vec<f64>,
    write: Vec<f64>,
}

impl Series {
    fn push(&mut self, total: Duration, t: &Timings) {
        self.total.push(ms(total));
        self.issue.push(ms(t.issue));
        self.qr.push(ms(t.qr));
        self.render.push(ms(t.render));
        self.encode.push(ms(t.encode));
        self.write.push(ms(t.write));
    }
}

fn touch(dispenser: &NetDispenser, request: &Request, series: &mut Series) {
    let started = Instant::now();
    let (outcome, timings) = dispenser.dispense_timed(request);
    let total = started.elapsed();
    assert!(
        matches!(outcome, Outcome::Printed { .. }),
        "not printed: {outcome:?}"
    );
    series.push(total, &timings);
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS is a number"))
        .unwrap_or(150);
    assert!(
        rounds * 3 + 3 < 999 * FIELDS.len(),
        "too many tickets for one day"
    );
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let token = server.token("kiosk");
    let dir = tempfile::tempdir().unwrap();
    let fake = FakePrinter::start(Some(luot_kiosk::escpos::status_answers(
        false, false, false, false,
    )));
    let paper = Paper::Mm80;
    let file = NetDispenser::new(
        server.base_url(),
        &token,
        Printer::new(Target::File(dir.path().join("printer.bin"))),
        paper,
        None,
    )
    .unwrap();
    let tcp = NetDispenser::new(
        server.base_url(),
        &token,
        Printer::new(fake.target().parse().unwrap()),
        paper,
        None,
    )
    .unwrap();
    let bare = IssueClient::new(server.base_url(), &token, RetryPolicy::default()).unwrap();

    let request = |i: usize| Request {
        service: FIELDS[i % FIELDS.len()].into(),
        priority: None,
        english: false,
    };
    // Untimed: open the connections and fetch the center's settings once.
    let mut warm = Series::default();
    touch(&file, &request(0), &mut warm);
    touch(&tcp, &request(1), &mut warm);
    assert!(matches!(bare.issue(&request(2)), Issued::Ticket(_)));

    let mut baseline = Vec::new();
    let mut on_file = Series::default();
    let mut on_tcp = Series::default();
    for round in 0..rounds {
        let started = Instant::now();
        let issued = bare.issue(&request(round * 3));
        baseline.push(ms(started.elapsed()));
        assert!(matches!(issued, Issued::Ticket(_)), "{issued:?}");
        touch(&file, &request(round * 3 + 1), &mut on_file);
        touch(&tcp, &request(round * 3 + 2), &mut on_tcp);
    }
    let bytes = std::fs::metadata(dir.path().join("printer.bin"))
        .unwrap()
        .len();
    let job_kb = bytes as f64 / (rounds + 1) as f64 / 1024.0;

    let b50 = percentile(&baseline, 0.5);
    let b99 = percentile(&baseline, 0.99);
    println!("kiosk touch → last byte written, {rounds} rounds, 80 mm, job {job_kb:.0} KiB");
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}",
        "", "p50 ms", "p99 ms", "×base p50", "×base p99"
    );
    println!("{:<28} {b50:>9.3} {b99:>9.3}", "baseline: bare issue");
    let mut json = serde_json::json!({
        "rounds": rounds,
        "job_kib": job_kb,
        "baseline_issue_p50_ms": b50,
        "baseline_issue_p99_ms": b99,
    });
    for (name, s) in [("file", &on_file), ("tcp", &on_tcp)] {
        let parts = [
            ("total", &s.total),
            ("  issue", &s.issue),
            ("  qr", &s.qr),
            ("  render", &s.render),
            ("  encode", &s.encode),
            ("  write", &s.write),
        ];
        for (part, samples) in parts {
            let p50 = percentile(samples, 0.5);
            let p99 = percentile(samples, 0.99);
            println!(
                "{:<28} {p50:>9.3} {p99:>9.3} {:>9.2} {:>9.2}",
                format!("{name}: {}", part),
                p50 / b50,
                p99 / b99
            );
            let key = format!("{name}_{}", part.trim());
            json[format!("{key}_p50_ms")] = p50.into();
            json[format!("{key}_p99_ms")] = p99.into();
        }
        json[format!("{name}_total_p50_vs_baseline")] = (percentile(&s.total, 0.5) / b50).into();
        json[format!("{name}_total_p99_vs_baseline")] = (percentile(&s.total, 0.99) / b99).into();
    }
    println!("{json}");
}
