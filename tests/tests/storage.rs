//! A damaged data directory is refused with a message that says what is damaged and how to
//! recover; export (CLI and HTTP) and import carry a busy day to a new directory unchanged.

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use luot_server::store::Store;
use luot_shared::protocol::Role;
use luot_tests::{ADMIN, Api, ServerOptions, TestServer, copy_dir, server_binary};

/// How long a server refusing to start may take to say so.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(60);

fn options() -> ServerOptions {
    ServerOptions::new().token("kiosk", Role::Kiosk, None)
}

/// A busy morning: three counters open, `tickets` issued over three services, most served
/// to the end, some marked absent, a few left waiting.
async fn busy_day(server: &TestServer, tickets: usize) {
    let kiosk = server.api_as("kiosk");
    let admin = server.api_as(ADMIN);
    let services = ["tnmt", "tckh", "ldtbxh"];
    for counter in 1..=3 {
        admin.open_counter(counter).await;
    }
    for n in 0..tickets {
        kiosk.issue_ticket(services[n % services.len()]).await;
        if n % 4 == 3 {
            let counter = (n / 4 % 3) as u32 + 1;
            if admin.call_next(counter).await.is_some() {
                let action = if n % 7 == 0 { "no-show" } else { "start" };
                admin
                    .counter_action(counter, action)
                    .await
                    .expect_status(200);
                if action == "start" {
                    admin
                        .counter_action(counter, "finish")
                        .await
                        .expect_status(200);
                }
            }
        }
    }
}

/// Runs `luot-server` with `args` to its end.
fn cli(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(server_binary())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("cannot run luot-server")
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn export_cli(data: &Path, to: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--data".as_ref(),
        data.as_os_str(),
        "export".as_ref(),
        "--to".as_ref(),
        to.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    cli(&args)
}

fn import_cli(data: &Path, file: &Path) -> Output {
    cli(&[
        "--data".as_ref(),
        data.as_os_str(),
        "import".as_ref(),
        file.as_os_str(),
    ])
}

/// The engine state (its snapshot bytes) and every event of a stopped server's directory.
fn state_of(data: &Path) -> (Vec<u8>, String) {
    let store = Store::open(data).expect("open the store");
    let engine = store.load().expect("load the state");
    let events = store
        .events(1, u64::MAX, usize::MAX)
        .expect("read the events");
    assert_eq!(events.len() as u64, engine.seq(), "a gap-free log");
    (
        engine.snapshot(),
        serde_json::to_string(&events).expect("events serialize"),
    )
}

/// Starts the server binary on `data` and waits for it to exit; fails if it serves instead.
fn start_expecting_refusal(data: &Path) -> String {
    let mut child = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start luot-server");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, lines) = mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    let mut said = String::new();
    let deadline = std::time::Instant::now() + REFUSE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                said.push_str(&line);
                said.push('\n');
                if line.starts_with("Lượt is serving") {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the server started on a damaged data directory:\n{said}");
                }
            }
            // Both pipes closed: the process is ending.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the server neither served nor stopped within {REFUSE_TIMEOUT:?}:\n{said}");
            }
        }
    }
    let status = child.wait().expect("wait for luot-server");
    assert!(
        !status.success(),
        "the server exited with success on damaged data:\n{said}"
    );
    said
}

/// Zeroes 4 KiB in the middle of the sled `db` file.
fn zero_middle(data: &Path) {
    let path = data.join("db");
    let len = std::fs::metadata(&path).expect("db file").len();
    let at = (len / 2) & !4095;
    let mut file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open db");
    file.seek(SeekFrom::Start(at)).expect("seek");
    file.write_all(&[0u8; 4096]).expect("zero 4 KiB");
    file.sync_all().expect("sync");
}

fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("luot-storage-")
        .tempdir()
        .expect("temporary directory");
    let path = dir.path().join(name);
    (dir, path)
}

/// 4 KiB zeroed in the middle of a busy day's `db` file: the server refuses to start and says
/// what is damaged and how to recover; `export` of the damaged directory names the damage
/// and exports nothing; `export --salvage` keeps the intact part, which imports and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeroed_block_is_refused_with_what_is_damaged() {
    let mut server = TestServer::start(options());
    busy_day(&server, 400).await;
    let seq = server.api_as(ADMIN).seq().await;
    server.kill9();
    let data = server.data_dir();
    zero_middle(&data);

    let said = start_expecting_refusal(&data);
    eprintln!("the server said:\n{said}");
    assert!(said.contains("is damaged"), "no word of damage:\n{said}");
    assert!(
        said.contains("import") && said.contains("export"),
        "no way to recover given:\n{said}"
    );

    let (_keep, out) = scratch("export.jsonl");
    let refused = export_cli(&data, &out, &[]);
    assert!(
        !refused.status.success(),
        "export of damaged data succeeded:\n{}",
        text(&refused)
    );
    let message = text(&refused);
    assert!(
        message.contains("damaged") || message.contains("cannot be read"),
        "export does not say what is damaged:\n{message}"
    );
    assert!(!out.exists(), "a refused export left a file");
    eprintln!("export said:\n{message}");

    let salvaged = export_cli(&data, &out, &["--salvage"]);
    assert!(
        salvaged.status.success(),
        "salvage failed:\n{}",
        text(&salvaged)
    );
    let (_keep2, fresh) = scratch("restored");
    let imported = import_cli(&fresh, &out);
    assert!(
        imported.status.success(),
        "import failed:\n{}",
        text(&imported)
    );
    let store = Store::open(&fresh).expect("open the restored store");
    let restored = store.load().expect("restored state").seq();
    assert!(restored <= seq, "the salvage invented events");
    drop(store);
    eprintln!("salvaged {restored} of {seq} events");
}

/// A busy day goes through `GET /api/v1/admin/export` and through `export`, the two files
/// are the same bytes, `import` of it rebuilds the same engine state and events byte for
/// byte, exports again to the same bytes, serves with the old credentials, and continues
/// the numbering; import refuses a non-empty directory and a cut file; export is admin-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip_is_exact() {
    let mut server = TestServer::start(options());
    busy_day(&server, 120).await;
    let admin = server.api_as(ADMIN);
    let seq = admin.seq().await;

    server
        .api(None)
        .get("/api/v1/admin/export")
        .await
        .expect_error(401);
    server
        .api_as("kiosk")
        .get("/api/v1/admin/export")
        .await
        .expect_error(403);
    let http = admin.get("/api/v1/admin/export").await.expect_status(200);
    assert!(
        http.content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/x-ndjson")),
        "content type {:?}",
        http.content_type
    );
    let lines: Vec<&str> = http.body.lines().collect();
    assert!(lines[0].contains("\"luot-export\""), "header: {}", lines[0]);
    let events = lines.iter().filter(|l| l.starts_with("{\"event\"")).count();
    assert_eq!(events as u64, seq, "every event exported");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("{\"end\"")),
        "no end line"
    );

    server.kill9();
    let original = server.data_dir();
    let (_keep, file) = scratch("export.jsonl");
    let exported = export_cli(&original, &file, &[]);
    assert!(
        exported.status.success(),
        "export failed:\n{}",
        text(&exported)
    );
    let from_cli = std::fs::read_to_string(&file).expect("read the export");
    assert_eq!(from_cli, http.body, "the HTTP and CLI exports differ");

    // Refusals first: a non-empty directory, a cut file.
    let refused = import_cli(&original, &file);
    assert!(!refused.status.success(), "imported over a live directory");
    assert!(text(&refused).contains("not empty"), "{}", text(&refused));
    let (_keep2, cut) = scratch("cut.jsonl");
    let half: Vec<&str> = from_cli.lines().take(lines.len() / 2).collect();
    std::fs::write(&cut, half.join("\n") + "\n").expect("write");
    let (_keep3, target) = scratch("from-cut");
    let refused = import_cli(&target, &cut);
    assert!(!refused.status.success(), "a cut export was imported");
    assert!(
        !target.join("db").exists(),
        "a refused import left a database"
    );

    let (_keep4, restored) = scratch("restored");
    let imported = import_cli(&restored, &file);
    assert!(
        imported.status.success(),
        "import failed:\n{}",
        text(&imported)
    );
    let (snapshot_a, events_a) = state_of(&original);
    let (snapshot_b, events_b) = state_of(&restored);
    assert_eq!(events_a, events_b, "the events differ");
    assert!(snapshot_a == snapshot_b, "the engine state differs");

    let (_keep5, again) = scratch("again.jsonl");
    let exported = export_cli(&restored, &again, &[]);
    assert!(exported.status.success(), "{}", text(&exported));
    assert_eq!(
        std::fs::read_to_string(&again).expect("read"),
        from_cli,
        "the restored directory exports differently"
    );

    // The restored directory serves, with the tokens of the original.
    let mut other = TestServer::start(ServerOptions::new());
    other.kill9();
    std::fs::remove_dir_all(other.data_dir()).expect("clear");
    copy_dir(&restored, &other.data_dir());
    other.restart();
    let api = Api::new(other.base_url(), Some(&server.token(ADMIN)));
    let state = api.state().await;
    assert_eq!(state.seq, seq, "the restored server is at the same seq");
    let kiosk = Api::new(other.base_url(), Some(&server.token("kiosk")));
    let ticket = kiosk.issue_ticket("tnmt").await;
    assert!(
        !events_a.contains(&format!("\"number\":\"{}\"", ticket.number)),
        "number {} issued twice after the restore",
        ticket.number
    );
    assert!(api.seq().await > seq, "the log continues");
}
