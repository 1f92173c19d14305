//! `luot-bench`: measures the real server (release build, temp dir) against baselines
//! measured in the same run: the raw fsync rate of the same disk, and two minimal servers run
//! as their own processes like Lượt (`luot-baseline`): a bare axum HTTP server and a bare
//! axum + tokio-tungstenite broadcaster with Lượt's buffer sizes and message size.
//!
//! ```text
//! cargo run --release -p luot-tests --bin luot-bench -- [--quick]
//! cargo run --release -p luot-tests --bin luot-bench -- --history      # a year's report only
//! cargo run --release -p luot-tests --bin luot-bench -- --province     # the hub; 50 sites' catch-up
//! ```
//!
//! Prints a table and, last, one JSON line with every figure.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod fanout;
mod history;
mod province;

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

use crate::fanout::Displays;

/// What a display counts: every event frame (the snapshot is read before the rounds).
const EVENT_FRAME: &str = "\"type\":\"event\"";

/// Display tokens the 2,000 displays share (as a large center's screens might).
const DISPLAY_TOKENS: usize = 10;

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
    if std::env::args().any(|a| a == "--history") {
        runtime.block_on(history_only(&sizes));
    } else if std::env::args().any(|a| a == "--province") {
        runtime.block_on(province::run(if quick { 10 } else { 50 }));
    } else {
        runtime.block_on(run(&sizes, quick));
    }
}

/// Only the year of history: start-up and the report over it.
async fn history_only(sizes: &Sizes) {
    let dir = tempfile::Builder::new()
        .prefix("luot-history-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let generated = Instant::now();
    let tickets = history::generate(&data, sizes.history_days);
    let generate_s = generated.elapsed().as_secs_f64();
    let h = history_figures(&data, sizes.history_days).await;
    println!(
        "history tickets {tickets} ({} days, written in {generate_s:.1} s)",
        sizes.history_days
    );
    println!("start to ready with the history: {:.3} s", h.ready_s);
    println!(
        "report over the history, first ever (no roll-ups yet): {:.1} ms",
        h.first_ms
    );
    println!(
        "report over the history, first call of a restarted server: {:.1} ms (target < 100)",
        h.cold_ms
    );
    println!(
        "report over the history, warm (median of 5): {:.1} ms",
        h.warm_ms
    );
}

/// Makes sure the release server and baseline binaries are current (`cargo run` builds only
/// this bench).
fn build_server() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (package, bin) in [
        ("luot-server", "luot-server"),
        ("luot-tests", "luot-baseline"),
    ] {
        let status = Command::new(&cargo)
            .args(["build", "--release", "-p", package, "--bin", bin])
            .status()
            .expect("cannot run cargo");
        assert!(status.success(), "cannot build {bin}");
    }
}

/// A `luot-baseline` process; killed when dropped.
struct Baseline {
    child: std::process::Child,
    addr: String,
}

impl Baseline {
    fn start(args: &[&str]) -> Baseline {
        let exe = std::env::current_exe().unwrap();
        let binary = exe.with_file_name(format!("luot-baseline{}", std::env::consts::EXE_SUFFIX));
        let mut child = Command::new(&binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next()
            .expect("the baseline prints its address")
            .unwrap();
        let addr = first
            .strip_prefix("listening ")
            .expect("a 'listening ADDR' line")
            .to_owned();
        std::thread::spawn(move || lines.for_each(drop));
        Baseline { child, addr }
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` sequential `GET /healthz` from one client, timed into `lat`.
async fn healthz_round(api: &Api, n: usize, lat: &mut Vec<Duration>) {
    for _ in 0..n {
        let t = Instant::now();
        api.get("/healthz").await.expect_status(200);
        lat.push(t.elapsed());
    }
}

/// Each figure and its baseline are measured in alternating rounds, so a disk or CPU whose
/// speed changes during the run (the machine is shared) moves both alike.
const ROUNDS: usize = 10;

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

/// Small appends to one file, each made durable with `fdatasync`: the disk's baseline.
struct FsyncBaseline {
    file: File,
    path: std::path::PathBuf,
    latencies: Vec<Duration>,
    total: Duration,
}

impl FsyncBaseline {
    fn new(dir: &Path) -> FsyncBaseline {
        let path = dir.join("fsync-baseline.bin");
        FsyncBaseline {
            file: File::create(&path).unwrap(),
            path,
            latencies: Vec::new(),
            total: Duration::ZERO,
        }
    }

    /// `n` more appends.
    fn round(&mut self, n: usize) {
        let record = [0x5au8; 96];
        let started = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            self.file.write_all(&record).unwrap();
            self.file.sync_data().unwrap();
            self.latencies.push(t.elapsed());
        }
        self.total += started.elapsed();
    }

    /// Appends per second and the median latency (ms).
    fn figures(mut self) -> (f64, f64) {
        let _ = std::fs::remove_file(&self.path);
        self.latencies.sort();
        (
            self.latencies.len() as f64 / self.total.as_secs_f64(),
            percentile(&self.latencies, 0.5),
        )
    }
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
    let mut fsync = FsyncBaseline::new(data.parent().unwrap());

    // One kiosk: each issue is acknowledged only after its group commit reached the disk;
    // beside it the same client's round trip to a bare axum server in its own process, and
    // to Lượt's own /healthz (which touches neither engine nor disk).
    let kiosk = server.api_as("kiosk");
    for i in 0..20 {
        kiosk.issue_ticket(&format!("s{:02}", i % SERVICES)).await;
    }
    let bare_http = Baseline::start(&["http"]);
    let bare_base = format!("http://{}", bare_http.addr);
    let bare_api = Api::new(&bare_base, None);
    let per_round = sizes.single / ROUNDS;
    let (mut bare_lat, mut http_lat, mut lat) = (Vec::new(), Vec::new(), Vec::new());
    let (mut commit_secs, mut commit_count) = (0.0, 0.0);
    for round in 0..ROUNDS {
        fsync.round(sizes.fsyncs / ROUNDS);
        healthz_round(&bare_api, per_round, &mut bare_lat).await;
        healthz_round(&kiosk, per_round, &mut http_lat).await;
        let before = commit_totals(&kiosk).await;
        for i in 0..per_round {
            let t = Instant::now();
            kiosk
                .issue_ticket(&format!("s{:02}", (round * per_round + i) % SERVICES))
                .await;
            lat.push(t.elapsed());
        }
        let after = commit_totals(&kiosk).await;
        commit_secs += after.0 - before.0;
        commit_count += after.1 - before.1;
    }
    let (fsync_per_s, fsync_p50_ms) = fsync.figures();
    for v in [&mut bare_lat, &mut http_lat, &mut lat] {
        v.sort();
    }
    let bare_http_p50_ms = percentile(&bare_lat, 0.5);
    let http_p50_ms = percentile(&http_lat, 0.5);
    // The server's own measure of append + flush (sled) per group commit in that phase.
    let commit_mean_ms_1 = commit_secs * 1000.0 / commit_count.max(1.0);
    let issue_p50_ms_1 = percentile(&lat, 0.5);
    let issue_p99_ms_1 = percentile(&lat, 0.99);

    // 64 clients, in alternating rounds: the bare server, Lượt's /healthz, then issuing,
    // where group commit shares each flush among every queued request.
    let token = server.token("kiosk");
    let base = server.base_url().to_owned();
    let per_client = sizes.per_client / 4;
    let (mut bare_rates, mut http_rates, mut issue_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..4 {
        bare_rates.push(
            concurrent(
                sizes.clients,
                per_client,
                &bare_base,
                &token,
                |api, _, _| async move {
                    api.get("/healthz").await.expect_status(200);
                },
            )
            .await,
        );
        http_rates.push(
            concurrent(
                sizes.clients,
                per_client,
                &base,
                &token,
                |api, _, _| async move {
                    api.get("/healthz").await.expect_status(200);
                },
            )
            .await,
        );
        issue_rates.push(
            concurrent(
                sizes.clients,
                per_client,
                &base,
                &token,
                move |api, c, i| async move {
                    api.issue_ticket(&format!("s{:02}", (round * 7 + c + i) % SERVICES))
                        .await;
                },
            )
            .await,
        );
    }
    drop(bare_http);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (bare_http_per_s_64, http_per_s_64, issue_per_s_64) =
        (mean(&bare_rates), mean(&http_rates), mean(&issue_rates));

    drop(server);

    // Lobby displays, on the embedded default center (the city's nine fields), and as many on
    // the bare broadcaster, connected together; calls alternate between the two, and every
    // call must reach every display.
    let options = (0..DISPLAY_TOKENS).fold(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("staff", Role::Staff, None),
        |options, i| options.token(&format!("display-{i}"), Role::Display, None),
    );
    let server = TestServer::start(options);
    let kiosk = server.api_as("kiosk");
    for _ in 0..sizes.rounds {
        kiosk.issue_ticket("tnmt").await;
    }
    let staff = server.api_as("staff");
    staff.open_counter(1).await;
    let server_rss_idle_mb = rss_mb(server.pid().unwrap_or(0));
    let urls: Vec<String> = (0..DISPLAY_TOKENS)
        .map(|i| {
            format!(
                "{}?token={}",
                server.ws_url(),
                server.token(&format!("display-{i}"))
            )
        })
        .collect();
    let connect_started = Instant::now();
    let mut displays = Displays::connect(&urls, sizes.displays, true, EVENT_FRAME).await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    let server_rss_mb = rss_mb(server.pid().unwrap_or(0));

    let frame_dir = tempfile::tempdir().unwrap();
    let frame_file = frame_dir.path().join("frame.json");
    std::fs::write(&frame_file, sample_call_frame()).unwrap();
    let bare = Baseline::start(&["broadcast", frame_file.to_str().unwrap()]);
    let bare_ws = format!("ws://{}/ws", bare.addr);
    let bare_send = format!("http://{}/send", bare.addr);
    let mut bare_displays = Displays::connect(&[bare_ws], sizes.displays, false, EVENT_FRAME).await;
    let http_client = reqwest::Client::new();
    let (mut delays, mut bare_delays) = (Vec::new(), Vec::new());
    // The first request of each client after the connect phase costs a one-off ~50 ms on
    // its idle connection (measured: a refused recall took 48 ms, the next 0.6 ms); it is not
    // the fan-out, so both clients make one untimed request first.
    staff.get("/api/v1/state").await.expect_status(200);
    http_client.post(&bare_send).send().await.unwrap();
    bare_displays.round(Instant::now()).await;
    for round in 0..sizes.rounds {
        // Call-next would first finish the ticket the counter holds (one more event): finish
        // it apart, so the call timed is one event, as the bare broadcaster's send is.
        if round > 0 {
            staff.counter_action(1, "finish").await.expect_status(200);
            displays.round(Instant::now()).await;
        }
        let sent = Instant::now();
        staff.call_next(1).await.expect("tickets wait at counter 1");
        delays.extend(displays.round(sent).await);
        let sent = Instant::now();
        http_client.post(&bare_send).send().await.unwrap();
        bare_delays.extend(bare_displays.round(sent).await);
    }
    displays.close();
    bare_displays.close();
    drop(bare);
    drop(server);
    delays.sort();
    bare_delays.sort();
    let call_to_display_p50_ms = percentile(&delays, 0.5);
    let call_to_display_p99_ms = percentile(&delays, 0.99);
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
    let h = history_figures(&data, sizes.history_days).await;
    let (ready_s, year_report_ms, year_report_cold_ms, year_report_first_ms) =
        (h.ready_s, h.warm_ms, h.cold_ms, h.first_ms);

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
            "bare HTTP round trip p50 (ms)",
            format!("{bare_http_p50_ms:.3}"),
            "bare axum process".into(),
        ),
        (
            "bare HTTP requests/s, 64 clients",
            format!("{bare_http_per_s_64:.0}"),
            "bare axum process".into(),
        ),
        (
            "Lượt /healthz p50 (ms)",
            format!("{http_p50_ms:.3}"),
            format!("{:.2}× bare HTTP", http_p50_ms / bare_http_p50_ms),
        ),
        (
            "Lượt /healthz requests/s, 64 clients",
            format!("{http_per_s_64:.0}"),
            format!("{:.2}× bare HTTP", http_per_s_64 / bare_http_per_s_64),
        ),
        (
            "issue p50, 1 kiosk (ms)",
            format!("{issue_p50_ms_1:.3}"),
            format!(
                "{:.2}× (bare HTTP p50 + fsync p50) (target ≤ 1.3×)",
                issue_p50_ms_1 / (bare_http_p50_ms + fsync_p50_ms)
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
                "{:.2}× bare HTTP at 64 (target ≥ 0.8×); {:.1}× fsync rate",
                issue_per_s_64 / bare_http_per_s_64,
                issue_per_s_64 / fsync_per_s
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
                "{:.2}× bare broadcast p99 {bare_broadcast_p99_ms:.2} ms (target ≤ 1.0×)",
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
            format!(
                "first call of a restarted server {year_report_cold_ms:.1} ms (target < 100); \
                 first ever, before any roll-up {year_report_first_ms:.1} ms"
            ),
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
        "bare_http_p50_ms": round(bare_http_p50_ms),
        "bare_http_per_s_64": round(bare_http_per_s_64),
        "http_p50_ms": round(http_p50_ms),
        "http_per_s_64": round(http_per_s_64),
        "issue_p50_ms_1": round(issue_p50_ms_1),
        "issue_p99_ms_1": round(issue_p99_ms_1),
        "commit_mean_ms_1": round(commit_mean_ms_1),
        "issue_per_s_64": round(issue_per_s_64),
        "issue_p50_vs_fsync_p50": round(issue_p50_ms_1 / fsync_p50_ms),
        "issue_p50_vs_http_plus_fsync": round(issue_p50_ms_1 / (bare_http_p50_ms + fsync_p50_ms)),
        "issue_rate_64_vs_fsync_rate": round(issue_per_s_64 / fsync_per_s),
        "issue_rate_64_vs_bare_http": round(issue_per_s_64 / bare_http_per_s_64),
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
        "year_report_first_ms": round(year_report_first_ms),
    });
    println!("{line}");
}

/// What the year of history measured.
struct HistoryFigures {
    /// Seconds from start to serving.
    ready_s: f64,
    /// The first report ever: no roll-up exists, the log is read once.
    first_ms: f64,
    /// The first report of a freshly started server over the roll-ups it made.
    cold_ms: f64,
    /// Median of five more.
    warm_ms: f64,
}

/// A server process on the history's data directory.
struct HistoryServer {
    child: std::process::Child,
    admin: Api,
    ready_s: f64,
}

impl HistoryServer {
    fn start(data: &Path, token: &str) -> HistoryServer {
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
        HistoryServer {
            child,
            admin: Api::new(&base, Some(token)),
            ready_s,
        }
    }

    /// Milliseconds of one report over `path`.
    async fn report_ms(&self, path: &str) -> f64 {
        let t = Instant::now();
        let report: Value = self.admin.get(path).await.expect_status(200).json();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(
            report["total"]["issued"].as_u64().unwrap_or(0) > 0,
            "the report sees the history"
        );
        ms
    }

    /// Stops the server as its service manager would (SIGTERM), so it writes what it holds.
    fn stop(mut self) {
        let stopped = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts the server on the generated history (which holds only the log): the first report
/// reads the log once and leaves the roll-ups; a restarted server's first report uses them.
async fn history_figures(data: &Path, days: usize) -> HistoryFigures {
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
    let today = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap())
        .date();
    let from = today
        .checked_sub(jiff::Span::new().days(days as i64))
        .unwrap();
    let path = format!("/api/v1/reports?from={from}&to={today}&by=service");
    let first = HistoryServer::start(data, &token);
    let ready_s = first.ready_s;
    let first_ms = first.report_ms(&path).await;
    first.stop();
    let server = HistoryServer::start(data, &token);
    let cold_ms = server.report_ms(&path).await;
    let mut warm = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        server.admin.get(&path).await.expect_status(200);
        warm.push(t.elapsed());
    }
    warm.sort();
    server.stop();
    HistoryFigures {
        ready_s,
        first_ms,
        cold_ms,
        warm_ms: percentile(&warm, 0.5),
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
