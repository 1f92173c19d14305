//! `luot-page-bench`: how long a call takes to show on the browser lobby display (`/display`),
//! with 10 and with 200 displays connected to the release server.
//!
//! ```text
//! cargo run --release -p luot-tests --bin luot-page-bench -- [--calls N]
//! ```
//!
//! Two hundred Chromium pages do not fit on a small machine, so the run holds 10 real pages
//! (windows of one headless Chromium) and, for the 200 case, 190 more WebSocket clients that
//! load the server as pages do: on every event they fetch `/api/v1/state`, one request at a
//! time. A page records the wall-clock time at which it put each call on screen
//! (`window.luotDisplay.shown`); the bench notes the wall-clock time just before each
//! `call-next`. Also printed: the same call's arrival on the plain clients' sockets, and the
//! `call-next` round trip, which the page's figure includes.
//!
//! Prints a table and, last, one JSON line with every figure.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use luot_shared::protocol::Role;
use luot_tests::browser::{Browser, BrowserOptions};
use luot_tests::{Api, ServerOptions, TestServer};
use serde_json::{Value, json};
use tokio::sync::{Barrier, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Real pages: each is a window of one Chromium.
const PAGES: usize = 10;
/// The counters of the default center, one per service field.
const COUNTERS: u32 = 9;
/// Calls are spaced like a busy center's, not fired back to back: the figure is a call's
/// latency, not the page's throughput.
const CALL_SPACING: Duration = Duration::from_millis(250);
/// How long a page or a client may take to show a call before the run fails.
const WAIT: Duration = Duration::from_secs(30);

fn main() {
    let calls = std::env::args()
        .skip_while(|a| a != "--calls")
        .nth(1)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(100);
    build_server();
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("cannot raise the open-files limit: {e}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(calls));
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

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// One figure: p50 and p99 in milliseconds of some samples.
struct Figure {
    p50: f64,
    p99: f64,
    samples: usize,
}

impl Figure {
    fn of(mut samples: Vec<f64>) -> Figure {
        samples.sort_by(f64::total_cmp);
        Figure {
            p50: percentile(&samples, 0.50),
            p99: percentile(&samples, 0.99),
            samples: samples.len(),
        }
    }

    fn json(&self) -> Value {
        json!({ "p50_ms": round(self.p50), "p99_ms": round(self.p99), "samples": self.samples })
    }
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// What one run of calls measured.
struct Scenario {
    displays: usize,
    page: Figure,
    socket: Option<Figure>,
    ack: Figure,
}

async fn run(calls: usize) {
    let server = TestServer::start(
        ServerOptions::new()
            .token("tv", Role::Display, None)
            .token("staff", Role::Staff, None)
            .token("kiosk", Role::Kiosk, None),
    );
    let tv = server.token("tv");
    let staff = server.api_as("staff");
    let kiosk = server.api_as("kiosk");
    let state = kiosk.state().await;
    let services: Vec<String> = state.services.iter().map(|s| s.id.clone()).collect();
    // Two runs of `calls` calls spread over the nine counters, each serving its own field.
    let per_service = (2 * calls).div_ceil(COUNTERS as usize) + 1;
    for service in &services {
        for _ in 0..per_service {
            kiosk.issue_ticket(service).await;
        }
    }
    for counter in 1..=COUNTERS {
        staff.open_counter(counter).await;
    }

    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(1366, 768)).await else {
        eprintln!("no Chromium here: nothing to measure");
        return;
    };
    let url = format!("{}/display?token={tv}", server.base_url());
    let mut windows = vec![browser.client().window().await.unwrap()];
    for _ in 1..PAGES {
        windows.push(browser.client().new_window(false).await.unwrap().handle);
    }
    for window in &windows {
        browser
            .client()
            .switch_to_window(window.clone())
            .await
            .unwrap();
        browser.goto(&url).await;
        browser
            .wait_js_for(
                WAIT,
                "the page's first state",
                "window.luotDisplay.online && window.luotDisplay.state !== null",
            )
            .await;
    }

    let mut results = Vec::new();
    results.push(measure(&browser, &windows, &staff, calls, None).await);
    let load = LoadClients::connect(&server, &tv, 200 - PAGES).await;
    results.push(measure(&browser, &windows, &staff, calls, Some(&load)).await);
    load.stop();

    println!();
    println!("call → page update on /display ({calls} calls per run, {PAGES} real pages)");
    println!(
        "{:>9} {:>15} {:>15} {:>22} {:>17}",
        "displays", "page p50 ms", "page p99 ms", "plain socket p50/p99", "call-next p50/p99"
    );
    for s in &results {
        let socket = s
            .socket
            .as_ref()
            .map(|f| format!("{:.1} / {:.1}", f.p50, f.p99))
            .unwrap_or_else(|| "—".into());
        println!(
            "{:>9} {:>15.1} {:>15.1} {:>22} {:>17}",
            s.displays,
            s.page.p50,
            s.page.p99,
            socket,
            format!("{:.1} / {:.1}", s.ack.p50, s.ack.p99)
        );
    }
    let figures: Vec<Value> = results
        .iter()
        .map(|s| {
            json!({
                "displays": s.displays,
                "page": s.page.json(),
                "plain_socket": s.socket.as_ref().map(Figure::json),
                "call_next": s.ack.json(),
            })
        })
        .collect();
    println!(
        "{}",
        json!({ "bench": "display_page", "calls": calls, "pages": PAGES, "runs": figures })
    );
}

/// Makes `calls` calls and reads back when each page showed each one.
async fn measure(
    browser: &Browser,
    windows: &[fantoccini::wd::WindowHandle],
    staff: &Api,
    calls: usize,
    load: Option<&LoadClients>,
) -> Scenario {
    for window in windows {
        browser
            .client()
            .switch_to_window(window.clone())
            .await
            .unwrap();
        browser
            .js("window.luotDisplay.shown.length = 0; return true;")
            .await;
    }
    if let Some(load) = load {
        load.clear().await;
    }
    let mut sent: HashMap<String, (f64, Instant)> = HashMap::new();
    let mut acks = Vec::with_capacity(calls);
    for i in 0..calls {
        let counter = (i as u32 % COUNTERS) + 1;
        let at_wall = wall_ms();
        let at = Instant::now();
        let ticket = staff
            .call_next(counter)
            .await
            .expect("a ticket waits for every call");
        acks.push(at.elapsed().as_secs_f64() * 1000.0);
        sent.insert(ticket.number, (at_wall, at));
        tokio::time::sleep(CALL_SPACING).await;
    }

    let mut page = Vec::with_capacity(calls * windows.len());
    for window in windows {
        browser
            .client()
            .switch_to_window(window.clone())
            .await
            .unwrap();
        browser
            .wait_js_for(
                WAIT,
                "every call on the page",
                &format!("window.luotDisplay.shown.length >= {calls}"),
            )
            .await;
        let shown = browser
            .js("return window.luotDisplay.shown.map((s) => [s.number, s.t]);")
            .await;
        for entry in shown.as_array().unwrap() {
            let number = entry[0].as_str().unwrap();
            let t = entry[1].as_f64().unwrap();
            if let Some((at_wall, _)) = sent.get(number) {
                page.push(t - at_wall);
            }
        }
    }
    assert_eq!(
        page.len(),
        calls * windows.len(),
        "every page showed every call once"
    );
    let socket = match load {
        Some(load) => Some(Figure::of(load.latencies(&sent, calls).await)),
        None => None,
    };
    Scenario {
        displays: windows.len() + load.map_or(0, |l| l.count),
        page: Figure::of(page),
        socket,
        ack: Figure::of(acks),
    }
}

/// Plain WebSocket clients that load the server as display pages do.
struct LoadClients {
    count: usize,
    arrivals: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Instant)>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LoadClients {
    /// Connects `count` clients and waits until each has its snapshot.
    async fn connect(server: &TestServer, token: &str, count: usize) -> LoadClients {
        let (tx, arrivals) = mpsc::unbounded_channel();
        let ready = Arc::new(Barrier::new(count + 1));
        let url = format!("{}?token={token}", server.ws_url());
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (tx, ready, url) = (tx.clone(), ready.clone(), url.clone());
            let api = server.api(Some(token));
            tasks.push(tokio::spawn(async move {
                let (mut ws, _) = loop {
                    match tokio_tungstenite::connect_async(url.as_str()).await {
                        Ok(pair) => break pair,
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                };
                let _ = tokio::time::timeout(WAIT, ws.next()).await;
                ready.wait().await;
                let fetching = Arc::new(tokio::sync::Semaphore::new(1));
                while let Some(Ok(message)) = ws.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let arrived = Instant::now();
                    let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if value["event"]["kind"] == "ticket_called"
                        && let Some(number) = value["event"]["ticket"]["number"].as_str()
                    {
                        let _ = tx.send((number.to_owned(), arrived));
                    }
                    // As a page does: the full state after each event, one fetch at a time.
                    if let Ok(permit) = fetching.clone().try_acquire_owned() {
                        let api = api.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            let _ = api.get("/api/v1/state").await;
                            drop(permit);
                        });
                    }
                }
            }));
        }
        ready.wait().await;
        LoadClients {
            count,
            arrivals: tokio::sync::Mutex::new(arrivals),
            tasks,
        }
    }

    /// Forgets arrivals so far.
    async fn clear(&self) {
        let mut arrivals = self.arrivals.lock().await;
        while arrivals.try_recv().is_ok() {}
    }

    /// Call → arrival on every client for the calls in `sent`.
    async fn latencies(&self, sent: &HashMap<String, (f64, Instant)>, calls: usize) -> Vec<f64> {
        let mut arrivals = self.arrivals.lock().await;
        let mut out = Vec::with_capacity(calls * self.count);
        let deadline = tokio::time::Instant::now() + WAIT;
        while out.len() < calls * self.count {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some((number, arrived))) => {
                    if let Some((_, at)) = sent.get(&number) {
                        out.push(arrived.duration_since(*at).as_secs_f64() * 1000.0);
                    }
                }
                _ => panic!(
                    "only {} of {} arrivals on the plain clients",
                    out.len(),
                    calls * self.count
                ),
            }
        }
        out
    }

    fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}
