//! `luot-bench`: measures the real server (release build, temp dir) against the physical
//! baseline of the same disk, in the same run.
//!
//! ```text
//! cargo run --release -p luot-tests --bin luot-bench -- [--quick]
//! ```
//!
//! Prints a table and, last, one JSON line with every figure.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use luot_shared::protocol::Role;
use luot_tests::{ServerOptions, TestServer};
use serde_json::json;

/// Services of the benchmark center: enough numbers per day for every ticket it issues.
const SERVICES: usize = 40;

struct Sizes {
    fsyncs: usize,
    single: usize,
    clients: usize,
    per_client: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            fsyncs: 400,
            single: 300,
            clients: 64,
            per_client: 20,
        }
    } else {
        Sizes {
            fsyncs: 2000,
            single: 1000,
            clients: 64,
            per_client: 100,
        }
    };
    build_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&sizes, quick));
}

/// Makes sure the release server binary is current (`cargo run` builds only this bench).
fn build_server() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "luot-server",
            "--bin",
            "luot-server",
        ])
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "cannot build the server");
}

fn center() -> String {
    let mut toml = String::from("[center]\nname = \"Bench\"\n");
    for i in 0..SERVICES {
        toml.push_str(&format!(
            "[[services]]\nid = \"s{i:02}\"\nname = \"Lĩnh vực {i}\"\nprefix = \"{}\"\n",
            10 + i
        ));
    }
    toml
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// Rate and median latency of small appends each made durable with `fdatasync`, in `dir`.
fn fsync_baseline(dir: &Path, n: usize) -> (f64, f64) {
    let path = dir.join("fsync-baseline.bin");
    let mut file = File::create(&path).unwrap();
    let record = [0x5au8; 96];
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        file.write_all(&record).unwrap();
        file.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    let total = started.elapsed();
    let _ = std::fs::remove_file(&path);
    lat.sort();
    (n as f64 / total.as_secs_f64(), percentile(&lat, 0.5))
}

async fn run(sizes: &Sizes, quick: bool) {
    let server = TestServer::start(ServerOptions::new().center(&center()).token(
        "kiosk",
        Role::Kiosk,
        None,
    ));
    let data = server.data_dir();
    let (fsync_per_s, fsync_p50_ms) = fsync_baseline(data.parent().unwrap(), sizes.fsyncs);

    // One kiosk: each issue is acknowledged only after its group commit reached the disk.
    let kiosk = server.api_as("kiosk");
    for i in 0..20 {
        kiosk.issue_ticket(&format!("s{:02}", i % SERVICES)).await;
    }
    // The same client's round trip to an endpoint that touches neither engine nor disk.
    let mut http = Vec::with_capacity(sizes.single);
    for _ in 0..sizes.single {
        let t = Instant::now();
        kiosk.get("/healthz").await.expect_status(200);
        http.push(t.elapsed());
    }
    http.sort();
    let http_p50_ms = percentile(&http, 0.5);
    let mut lat = Vec::with_capacity(sizes.single);
    for i in 0..sizes.single {
        let t = Instant::now();
        kiosk.issue_ticket(&format!("s{:02}", i % SERVICES)).await;
        lat.push(t.elapsed());
    }
    lat.sort();
    let issue_p50_ms_1 = percentile(&lat, 0.5);
    let issue_p99_ms_1 = percentile(&lat, 0.99);

    // 64 kiosks at once: group commit shares each flush among every queued request.
    let token = server.token("kiosk");
    let base = server.base_url().to_owned();
    // Baseline: the same 64 clients on an endpoint that touches neither engine nor disk,
    // so the figure below can be read against what HTTP alone costs on these two cores.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..sizes.clients {
        let api = luot_tests::Api::new(&base, Some(&token));
        let n = sizes.per_client;
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                api.get("/healthz").await.expect_status(200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let http_per_s_64 = (sizes.clients * sizes.per_client) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..sizes.clients {
        let api = luot_tests::Api::new(&base, Some(&token));
        let n = sizes.per_client;
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                api.issue_ticket(&format!("s{:02}", (c + i) % SERVICES))
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = sizes.clients * sizes.per_client;
    let issue_per_s_64 = total as f64 / started.elapsed().as_secs_f64();

    let rows = [
        (
            "fsync'd 96-byte appends/s (disk baseline)",
            format!("{fsync_per_s:.0}"),
            String::new(),
        ),
        (
            "fsync p50 (ms)",
            format!("{fsync_p50_ms:.3}"),
            String::new(),
        ),
        (
            "HTTP requests/s, 64 clients, /healthz",
            format!("{http_per_s_64:.0}"),
            String::new(),
        ),
        (
            "HTTP round trip p50, /healthz (ms)",
            format!("{http_p50_ms:.3}"),
            String::new(),
        ),
        (
            "issue p50, 1 kiosk (ms)",
            format!("{issue_p50_ms_1:.3}"),
            format!(
                "{:.2}× fsync p50 (target ≤ 1.5×)",
                issue_p50_ms_1 / fsync_p50_ms
            ),
        ),
        (
            "issue p99, 1 kiosk (ms)",
            format!("{issue_p99_ms_1:.3}"),
            String::new(),
        ),
        (
            "issues/s, 64 kiosks",
            format!("{issue_per_s_64:.0}"),
            format!(
                "{:.1}× fsync rate (target ≥ 10×)",
                issue_per_s_64 / fsync_per_s
            ),
        ),
    ];
    println!("{:<44} {:>12}  ratio", "figure", "value");
    for (name, value, ratio) in rows {
        println!("{name:<44} {value:>12}  {ratio}");
    }
    let line = json!({
        "quick": quick,
        "fsync_per_s": round(fsync_per_s),
        "fsync_p50_ms": round(fsync_p50_ms),
        "http_p50_ms": round(http_p50_ms),
        "http_per_s_64": round(http_per_s_64),
        "issue_p50_ms_1": round(issue_p50_ms_1),
        "issue_p99_ms_1": round(issue_p99_ms_1),
        "issue_per_s_64": round(issue_per_s_64),
        "issue_p50_vs_fsync_p50": round(issue_p50_ms_1 / fsync_p50_ms),
        "issue_rate_64_vs_fsync_rate": round(issue_per_s_64 / fsync_per_s),
    });
    println!("{line}");
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
