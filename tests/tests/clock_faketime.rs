//! The real server binary under libfaketime: its wall clock is stepped forward 8.6 h and back
//! while it runs (what NTP does to a mini PC that booted with a wrong clock), and it must keep
//! an honest record: corrected times, real durations, the right business day, no number twice.
//!
//! Needs the Debian package `faketime`; without it the test prints why and passes, except
//! when `CI=true`, where it fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use luot_shared::protocol::{Role, StateView, TicketView};
use luot_tests::{Api, server_binary};
use serde_json::Value;

/// 8.6 hours, the step of the report.
const STEP_S: i64 = 30_960;
/// Where Debian puts the preload library, by architecture.
const LIBFAKETIME: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

fn libfaketime() -> Option<PathBuf> {
    LIBFAKETIME.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The server binary with its wall clock read from a libfaketime offset file.
struct FakedServer {
    dir: tempfile::TempDir,
    lib: PathBuf,
    child: Option<Child>,
    base: String,
    tokens: Vec<(String, String)>,
}

impl FakedServer {
    fn new(lib: PathBuf) -> FakedServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        FakedServer {
            dir,
            lib,
            child: None,
            base: String::new(),
            tokens: Vec::new(),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn offset_file(&self) -> PathBuf {
        self.dir.path().join("faketime")
    }

    /// Sets the wall clock the server sees to real time + `secs`.
    fn set_offset(&self, secs: i64) {
        let path = self.offset_file();
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, format!("{secs:+}\n")).expect("write the offset");
        // Renamed into place so the server never reads a half-written file.
        std::fs::rename(&tmp, &path).expect("install the offset");
    }

    fn create_token(&mut self, label: &str, role: Role, counter: Option<u32>) {
        let token = luot_tests::token_cli(&self.data(), label, role, counter);
        self.tokens.push((label.to_owned(), token));
    }

    fn api(&self, label: &str) -> Api {
        let token = self
            .tokens
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, t)| t.as_str());
        Api::new(&self.base, token)
    }

    fn launch(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let mut child = Command::new(server_binary())
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(self.data())
            .env("NO_COLOR", "1")
            .env("LD_PRELOAD", &self.lib)
            .env("FAKETIME_TIMESTAMP_FILE", self.offset_file())
            .env("FAKETIME_NO_CACHE", "1")
            // Only the wall clock is stepped, as NTP does; the monotonic clock keeps going.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env_remove("LUOT_LISTEN")
            .env_remove("LUOT_DATA")
            .env_remove("LUOT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start luot-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("no serving line ({e}): {}", self.log()));
            if let Some(url) = line.strip_prefix("Lượt is serving ") {
                self.base = url.trim().to_owned();
                break;
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for FakedServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- luot-server log ---\n{}", self.log());
        }
    }
}

/// The offset that puts the server's clock at 16:00 today in Hà Nội time.
fn offset_to_afternoon() -> (i64, Date) {
    let tz = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").expect("tz");
    let now = Timestamp::now();
    let today = now.to_zoned(tz.clone()).date();
    let target = today
        .at(16, 0, 0, 0)
        .to_zoned(tz)
        .expect("16:00 exists")
        .timestamp();
    (target.duration_since(now).as_secs(), today)
}

async fn issue(api: &Api) -> TicketView {
    api.issue_ticket("tnmt").await
}

fn secs_between(a: &TicketView, b: &TicketView) -> i64 {
    b.issued_at.duration_since(a.issued_at).as_secs()
}

/// After the wall clock steps forward 8.6 h and back: tickets issued 2 s apart are 2 s apart,
/// a 2 s service counts 2 s, the business day is the corrected date (also after a restart),
/// numbering continues where each day left off, and the state shows the step.
#[tokio::test]
async fn a_clock_stepped_forward_and_back_keeps_an_honest_record() {
    let Some(lib) = libfaketime() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "faketime is not installed; CI must install it (.ci/run)"
        );
        eprintln!("skipped: libfaketime not found (apt-get install faketime)");
        return;
    };
    let mut server = FakedServer::new(lib);
    server.create_token("kiosk", Role::Kiosk, None);
    server.create_token("staff-1", Role::Staff, Some(1));
    let (o0, today) = offset_to_afternoon();
    let tomorrow = today.tomorrow().expect("a tomorrow");
    server.set_offset(o0);
    server.launch();
    let kiosk = server.api("kiosk");
    let staff = server.api("staff-1");

    // Today at 16:00: 1001..1003.
    for n in ["1001", "1002", "1003"] {
        let t = issue(&kiosk).await;
        assert_eq!((t.number.as_str(), t.day), (n, today));
    }
    // The clock jumps to 00:36 tomorrow: a new day, 1001 and 1002.
    server.set_offset(o0 + STEP_S);
    let b1 = issue(&kiosk).await;
    let b2 = issue(&kiosk).await;
    assert_eq!((b1.number.as_str(), b1.day), ("1001", tomorrow));
    assert_eq!(b2.number, "1002");

    // Back to 16:01 today.
    server.set_offset(o0 + 60);
    let e = issue(&kiosk).await;
    let expected = Timestamp::now() + SignedDuration::from_secs(o0 + 60);
    assert!(
        e.issued_at.duration_since(expected).abs() < SignedDuration::from_secs(30),
        "a new ticket carries the corrected time: {} vs about {expected}",
        e.issued_at
    );
    assert_eq!(e.day, today, "the business day follows the corrected date");
    assert_eq!(e.number, "1004", "today's numbering continues after 1003");
    server.set_offset(o0 + 62);
    let f = issue(&kiosk).await;
    let apart = secs_between(&e, &f);
    assert!(
        (2..5).contains(&apart),
        "tickets issued 2 s apart are {apart} s apart"
    );
    let state: StateView = kiosk.state().await;
    assert_eq!(state.day, today);
    assert_eq!(state.services[0].waiting, 2, "e and f wait");

    // A 2 s service at counter 1.
    staff.open_counter(1).await;
    assert_eq!(staff.call_next(1).await.map(|t| t.id), Some(e.id));
    staff.counter_action(1, "start").await.expect_status(200);
    server.set_offset(o0 + 64);
    staff.counter_action(1, "finish").await.expect_status(200);
    let state: StateView = kiosk.state().await;
    let counter = state
        .counters
        .iter()
        .find(|c| c.id == 1)
        .expect("counter 1");
    assert_eq!(counter.served_today, 1);
    assert!(
        (2..5).contains(&counter.avg_service_s),
        "a 2 s service is recorded as {} s",
        counter.avg_service_s
    );

    // The state (and so the admin dashboard) shows the step back, about 8.6 h.
    let raw: Value = kiosk.get("/api/v1/state").await.expect_status(200).json();
    let steps = raw["clock_steps"]
        .as_array()
        .expect("clock_steps in the state");
    let back = steps
        .iter()
        .filter_map(|s| s["offset_ms"].as_i64())
        .find(|ms| *ms < 0)
        .unwrap_or_else(|| panic!("no backward step in {steps:?}"));
    let expected_ms = -(STEP_S - 60) * 1000;
    assert!(
        (back - expected_ms).abs() < 10_000,
        "the step back is {back} ms, not about {expected_ms}"
    );

    // A restart with the right clock stays on today and keeps numbering.
    server.kill();
    server.set_offset(o0 + 70);
    server.launch();
    let kiosk = server.api("kiosk");
    assert_eq!(kiosk.state().await.day, today, "after a restart");
    let g = issue(&kiosk).await;
    assert_eq!((g.number.as_str(), g.day), ("1006", today));

    // When tomorrow really comes, its numbering continues after the 1002 issued early.
    server.set_offset(o0 + STEP_S + 600);
    let h = issue(&kiosk).await;
    assert_eq!((h.number.as_str(), h.day), ("1003", tomorrow));
}
