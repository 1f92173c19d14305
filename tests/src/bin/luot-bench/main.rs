//! `luot-bench`: measures the real server (release build, temp dir) against physical
//! baselines measured in the same run: the raw fsync rate of the same disk, the bare HTTP
//! round trip of the same client, and a bare WebSocket broadcast server.
//!
//! ```text
//! cargo run --release -p luot-tests --bin luot-bench -- [--quick]
//! ```
//!
//! Prints a table and, last, one JSON line with every figure.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod fanout;
mod history;

use std::fs::File;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use luot_shared::domain::TicketRef;
use luot_shared::protocol::{Event, Recorded, Role, ServerMessage};
use luot_tests::{Api, ServerOptions, TestServer, server_binary};
use serde_json::{Value, json};

use crate::fanout::{BareServer, Displays};

/// Services of the benchmark center: enough numbers per day for every ticket it issues.
const SERVICES: usize = 40;

struct Sizes {
    fsyncs: usize,
    single: usize,
    clients: usize,
    per_client: usize,
    displays: usize,
    rounds: usize,
    history_days: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            fsyncs: 400,
            single: 300,
            clients: 64,
            per_client: 20,
            displays: 2000,
            rounds: 10,
            history_days: 60,
        }
    } else {
        Sizes {
            fsyncs: 2000,
            single: 1000,
            clients: 64,
            per_client: 100,
            displays: 2000,
            rounds: 40,
            history_days: 365,
        }
    };
    build_server();
    // 2,000 displays are 2,000 sockets here and 2,000 on the server.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < 4 * sizes.displays as u64 + 512 => {
            eprintln!(
                "open-files limit {limit} is too low for {} displays",
                sizes.displays
            );
        }
        Ok(_) => {}
        Err(e) => eprintln!("cannot raise the open-files limit: {e}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&sizes, quick));
}

/// Makes sure the release server binary is current (`cargo run` builds only this bench).
fn build_server() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
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

/// Runs `n` requests from each of `clients` concurrent clients; returns requests per second.
async fn concurrent<F, Fut>(clients: usize, n: usize, base: &str, token: &str, request: F) -> f64
where
    F: Fn(Api, usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let api = Api::new(base, Some(token));
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                request(api.clone(), c, i).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (clients * n) as f64 / started.elapsed().as_secs_f64()
}

/// `luot_commit_seconds` sum and count from `/metrics`.
async fn commit_totals(api: &Api) -> (f64, f64) {
    let text = api.get("/metrics").await.expect_status(200).body;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("luot_commit_seconds_sum "),
        value("luot_commit_seconds_count "),
    )
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A `ticket_called` frame as the server sends it, for the bare broadcast's message size.
fn sample_call_frame() -> String {
    let rec = Recorded {
        seq: 123_456,
        at: Timestamp::now(),
        event: Event::TicketCalled {
            ticket: TicketRef {
                id: 98_765,
                number: "1005".into(),
                service: "tnmt".into(),
                priority: None,
            },
            counter: 3,
            staff: "nhan-vien-quay-3".into(),
            recall: false,
            as_priority: false,
        },
    };
    serde_json::to_string(&ServerMessage::Event(rec)).unwrap()
}

async fn run(sizes: &Sizes, quick: bool) {
    let server = TestServer::start(
        ServerOptions::new()
            .center(&center())
            .token("kiosk", Role::Kiosk, None)
            .token("staff", Role::Staff, None)
            .token("display", Role::Display, None),
    );
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
    let commits_before = commit_totals(&kiosk).await;
    let mut lat = Vec::with_capacity(sizes.single);
    for i in 0..sizes.single {
        let t = Instant::now();
        kiosk.issue_ticket(&format!("s{:02}", i % SERVICES)).await;
        lat.push(t.elapsed());
    }
    let commits_after = commit_totals(&kiosk).await;
    // The server's own measure of append + flush (sled) per group commit in that phase.
    let commit_mean_ms_1 = (commits_after.0 - commits_before.0) * 1000.0
        / (commits_after.1 - commits_before.1).max(1.0);
    lat.sort();
    let issue_p50_ms_1 = percentile(&lat, 0.5);
    let issue_p99_ms_1 = percentile(&lat, 0.99);

    // 64 clients: first on /healthz (what HTTP alone costs on these two cores), then issuing,
    // where group commit shares each flush among every queued request.
    let token = server.token("kiosk");
    let base = server.base_url().to_owned();
    let http_per_s_64 = concurrent(
        sizes.clients,
        sizes.per_client,
        &base,
        &token,
        |api, _, _| async move {
            api.get("/healthz").await.expect_status(200);
        },
    )
    .await;
    let issue_per_s_64 = concurrent(
        sizes.clients,
        sizes.per_client,
        &base,
        &token,
        |api, c, i| async move {
            api.issue_ticket(&format!("s{:02}", (c + i) % SERVICES))
                .await;
        },
    )
    .await;

    drop(server);

    // Lobby displays, on the embedded default center (the city's nine fields): every call
    // must reach every display.
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("staff", Role::Staff, None)
            .token("display", Role::Display, None),
    );
    let kiosk = server.api_as("kiosk");
    for _ in 0..sizes.rounds {
        kiosk.issue_ticket("tnmt").await;
    }
    let staff = server.api_as("staff");
    staff.open_counter(1).await;
    let server_rss_idle_mb = rss_mb(server.pid().unwrap_or(0));
    let url = format!("{}?token={}", server.ws_url(), server.token("display"));
    let connect_started = Instant::now();
    let mut displays = Displays::connect(&url, sizes.displays, true, "ticket_called").await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    let server_rss_mb = rss_mb(server.pid().unwrap_or(0));
    let mut delays = Vec::new();
    for _ in 0..sizes.rounds {
        let sent = Instant::now();
        staff.call_next(1).await.expect("tickets wait at counter 1");
        delays.extend(displays.round(sent).await);
    }
    displays.close();
    delays.sort();
    let call_to_display_p50_ms = percentile(&delays, 0.5);
    let call_to_display_p99_ms = percentile(&delays, 0.99);
    drop(server);

    let bare = BareServer::start(sample_call_frame()).await;
    let mut displays =
        Displays::connect(&bare.ws_url, sizes.displays, false, "ticket_called").await;
    let http_client = reqwest::Client::new();
    let mut bare_delays = Vec::new();
    for _ in 0..sizes.rounds {
        let sent = Instant::now();
        http_client.post(&bare.send_url).send().await.unwrap();
        bare_delays.extend(displays.round(sent).await);
    }
    displays.close();
    bare.stop();
    bare_delays.sort();
    let bare_broadcast_p50_ms = percentile(&bare_delays, 0.5);
    let bare_broadcast_p99_ms = percentile(&bare_delays, 0.99);

    // A year of history: start-up time and a year's report.
    let dir = tempfile::Builder::new()
        .prefix("luot-history-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let generated = Instant::now();
    let history_tickets = history::generate(&data, sizes.history_days);
    let generate_s = generated.elapsed().as_secs_f64();
    let (ready_s, year_report_ms, year_report_cold_ms) =
        history_figures(&data, sizes.history_days).await;

    let rows: Vec<(&str, String, String)> = vec![
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
            "HTTP round trip p50, /healthz (ms)",
            format!("{http_p50_ms:.3}"),
            String::new(),
        ),
        (
            "HTTP requests/s, 64 clients, /healthz",
            format!("{http_per_s_64:.0}"),
            String::new(),
        ),
        (
            "issue p50, 1 kiosk (ms)",
            format!("{issue_p50_ms_1:.3}"),
            format!(
                "{:.2}× fsync p50 (target ≤ 1.5×); fsync + HTTP floor = {:.2}×",
                issue_p50_ms_1 / fsync_p50_ms,
                (fsync_p50_ms + http_p50_ms) / fsync_p50_ms
            ),
        ),
        (
            "issue p99, 1 kiosk (ms)",
            format!("{issue_p99_ms_1:.3}"),
            String::new(),
        ),
        (
            "  of which append + flush in sled (mean ms)",
            format!("{commit_mean_ms_1:.3}"),
            format!("{:.2}× fsync p50", commit_mean_ms_1 / fsync_p50_ms),
        ),
        (
            "issues/s, 64 kiosks",
            format!("{issue_per_s_64:.0}"),
            format!(
                "{:.1}× fsync rate (target ≥ 10×); bare HTTP = {:.1}×",
                issue_per_s_64 / fsync_per_s,
                http_per_s_64 / fsync_per_s
            ),
        ),
        (
            "displays connected",
            format!("{}", sizes.displays),
            format!("in {connect_s:.1} s"),
        ),
        (
            "call → display p50 (ms)",
            format!("{call_to_display_p50_ms:.2}"),
            format!("bare broadcast p50 {bare_broadcast_p50_ms:.2} ms"),
        ),
        (
            "call → display p99 (ms)",
            format!("{call_to_display_p99_ms:.2}"),
            format!(
                "{:.2}× bare broadcast p99 {bare_broadcast_p99_ms:.2} ms (targets ≤ 50 ms, ≤ 1.5×)",
                call_to_display_p99_ms / bare_broadcast_p99_ms
            ),
        ),
        (
            "server RSS with the displays (MB)",
            format!("{server_rss_mb:.1}"),
            format!("{server_rss_idle_mb:.1} before they connected (target ≤ 64)"),
        ),
        (
            "history tickets",
            format!("{history_tickets}"),
            format!("{} days, written in {generate_s:.1} s", sizes.history_days),
        ),
        (
            "start to ready with the history (s)",
            format!("{ready_s:.3}"),
            "target < 1".into(),
        ),
        (
            "report over the history (ms)",
            format!("{year_report_ms:.1}"),
            format!("first call {year_report_cold_ms:.1} ms (target < 100)"),
        ),
    ];
    println!("{:<44} {:>12}  ratio / note", "figure", "value");
    for (name, value, note) in rows {
        println!("{name:<44} {value:>12}  {note}");
    }
    let line = json!({
        "quick": quick,
        "fsync_per_s": round(fsync_per_s),
        "fsync_p50_ms": round(fsync_p50_ms),
        "http_p50_ms": round(http_p50_ms),
        "http_per_s_64": round(http_per_s_64),
        "issue_p50_ms_1": round(issue_p50_ms_1),
        "issue_p99_ms_1": round(issue_p99_ms_1),
        "commit_mean_ms_1": round(commit_mean_ms_1),
        "issue_per_s_64": round(issue_per_s_64),
        "issue_p50_vs_fsync_p50": round(issue_p50_ms_1 / fsync_p50_ms),
        "issue_rate_64_vs_fsync_rate": round(issue_per_s_64 / fsync_per_s),
        "displays": sizes.displays,
        "call_to_display_p50_ms": round(call_to_display_p50_ms),
        "call_to_display_p99_ms": round(call_to_display_p99_ms),
        "bare_broadcast_p50_ms": round(bare_broadcast_p50_ms),
        "bare_broadcast_p99_ms": round(bare_broadcast_p99_ms),
        "call_p99_vs_bare_p99": round(call_to_display_p99_ms / bare_broadcast_p99_ms),
        "server_rss_mb": round(server_rss_mb),
        "server_rss_idle_mb": round(server_rss_idle_mb),
        "history_tickets": history_tickets,
        "ready_s": round(ready_s),
        "year_report_ms": round(year_report_ms),
        "year_report_cold_ms": round(year_report_cold_ms),
    });
    println!("{line}");
}

/// Starts the server on the generated history: seconds until it serves, then the report over
/// the whole history (median of five, and the first call).
async fn history_figures(data: &Path, days: usize) -> (f64, f64, f64) {
    let token = Command::new(server_binary())
        .arg("--data")
        .arg(data)
        .args(["token", "create", "--role", "admin"])
        .output()
        .expect("token create");
    let token = String::from_utf8_lossy(&token.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let started = Instant::now();
    let mut child = Command::new(server_binary())
        .arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .unwrap();
        if let Some(url) = line.strip_prefix("Lượt is serving ") {
            break url.trim().to_owned();
        }
    };
    let ready_s = started.elapsed().as_secs_f64();
    // Keep reading stdout so the server never blocks on it.
    std::thread::spawn(move || lines.for_each(drop));
    let admin = Api::new(&base, Some(&token));
    let today = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap())
        .date();
    let from = today
        .checked_sub(jiff::Span::new().days(days as i64))
        .unwrap();
    let path = format!("/api/v1/reports?from={from}&to={today}&by=service");
    let t = Instant::now();
    let report: Value = admin.get(&path).await.expect_status(200).json();
    let cold = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        report["total"]["issued"].as_u64().unwrap_or(0) > 0,
        "the report sees the history"
    );
    let mut warm = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        admin.get(&path).await.expect_status(200);
        warm.push(t.elapsed());
    }
    warm.sort();
    let _ = child.kill();
    let _ = child.wait();
    (ready_s, percentile(&warm, 0.5), cold)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
