//! `luot-tests`: end-to-end tests of Lượt that start the real `luot-server` binary on port 0
//! with a temporary data directory and drive it over HTTP and WebSocket.
//!
//! # Layout
//!
//! - [`TestServer`]: starts, kills (`kill -9`) and restarts the binary on one data directory
//! - [`ServerOptions`]: the center file and the tokens created with the CLI before the start
//! - [`Api`] and [`Reply`]: an HTTP client with the API's calls and error checks
//! - [`WsClient`]: a `/ws` client that decodes [`ServerMessage`]s with a read timeout
//! - [`in_process`]: the server in-process on a test's own clock
//! - [`browser`]: a headless Chromium over WebDriver, for the web pages
//! - [`kiosk`]: a fake network printer and a proxy that loses replies, around the kiosk
//! - [`province`]: a real NATS JetStream and PostgreSQL in temporary directories, a WAN link
//!   that can be cut, and the province's hub
//! - [`recount`]: the report recounted from an exported event log, to hold against the server's
//!
//! The binary is `LUOT_SERVER_BIN` when set, else `luot-server` next to the test executable's
//! `target/<profile>/` directory; `cargo test --workspace` builds it (the server's own CLI
//! test needs it).

pub mod browser;
pub mod in_process;
pub mod kiosk;
pub mod province;
pub mod recount;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use luot_shared::protocol::{
    CounterView, ErrorBody, ErrorDetail, LoginResponse, Role, ServerMessage, TicketView,
};
use luot_shared::{CounterId, Recorded, StateView, TicketId};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single HTTP request or WebSocket read may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to print its serving line (argon2 in a debug build takes most
/// of a second, and tests start servers in parallel on two cores).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the server log shown when a test fails.
const LOG_TAIL: usize = 60;
/// Label of the admin token every [`TestServer`] creates before its first start.
pub const ADMIN: &str = "admin-token";

/// The `luot-server` binary under test.
///
/// # Panics
///
/// When it cannot be found: run `cargo build -p luot-server` (or `cargo test --workspace`).
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(find_server_binary).clone()
}

fn find_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LUOT_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let name = format!("luot-server{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe().unwrap_or_default();
    // The test runs from target/<profile>/deps/; the binary sits in target/<profile>/.
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join(&name))
        .find(|candidate| candidate.is_file())
        .inspect(|binary| warn_if_older(binary, &exe))
        .unwrap_or_else(|| {
            panic!(
                "cannot find the {name} binary near {}: run `cargo build -p luot-server` \
                 (or set LUOT_SERVER_BIN)",
                exe.display()
            )
        })
}

/// `cargo test -p luot-tests` alone does not rebuild the server: say so when the binary is
/// older than the test, in case a failure comes from a stale build.
fn warn_if_older(binary: &std::path::Path, test: &std::path::Path) {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(server), Some(test)) = (modified(binary), modified(test))
        && server < test
    {
        eprintln!(
            "note: {} is older than this test; if it fails oddly, run `cargo build -p luot-server`",
            binary.display()
        );
    }
}

/// Where Debian puts libfaketime's preload library, by architecture.
const LIBFAKETIME: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// libfaketime's preload library (Debian package `faketime`), or `None` with the reason
/// printed.
///
/// # Panics
///
/// When it is missing and `CI=true`: CI installs it (`.ci/run`), so there it must be found.
pub fn libfaketime() -> Option<PathBuf> {
    let found = LIBFAKETIME.iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "faketime is not installed; CI must install it (.ci/run)"
        );
        eprintln!("skipped: libfaketime not found (apt-get install faketime)");
    }
    found
}

/// A test runs within one business day of the center when it starts at least this long
/// before the center's midnight: the longest single test takes about a minute on a loaded
/// machine, so three leave room.
pub const MIDNIGHT_MARGIN: Duration = Duration::from_secs(180);
/// The default center's time zone.
const DEFAULT_ZONE: &str = "Asia/Ho_Chi_Minh";

/// The time zone a center file sets (`timezone = "..."` under `[center]`), else the default
/// center's.
fn center_zone(center: Option<&str>) -> String {
    center
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "timezone").then(|| value.trim().trim_matches('"').to_owned())
        })
        .next()
        .unwrap_or_else(|| DEFAULT_ZONE.to_owned())
}

/// How long until the next midnight in `zone`, as the wall clock reads now.
///
/// # Panics
///
/// When `zone` is not a time zone jiff knows.
pub fn until_midnight(zone: &str) -> Duration {
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or_else(|e| panic!("time zone {zone}: {e}"));
    let now = jiff::Timestamp::now();
    let midnight = now
        .to_zoned(tz.clone())
        .date()
        .tomorrow()
        .and_then(|d| d.to_zoned(tz))
        .map(|z| z.timestamp())
        .unwrap_or(now);
    midnight
        .duration_since(now)
        .try_into()
        .unwrap_or(Duration::ZERO)
}

/// When the center's midnight in `zone` is less than [`MIDNIGHT_MARGIN`] away, waits (saying
/// so) until it has passed, so that what the test does falls within one business day: the
/// day's close at midnight expires the tickets a test has issued and closes its counters.
/// Tests of the midnight itself set the server's clock instead (`tests/midnight.rs`).
///
/// # Panics
///
/// When `zone` is not a time zone jiff knows.
pub fn wait_out_midnight(zone: &str) {
    let left = until_midnight(zone);
    if left >= MIDNIGHT_MARGIN {
        return;
    }
    // A second past midnight: the new day is under way on every clock of this machine.
    let wait = left + Duration::from_secs(1);
    eprintln!(
        "note: the center's midnight ({zone}) is {:.0} s away; waiting {:.0} s for it to pass \
         so this test runs within one business day",
        left.as_secs_f64(),
        wait.as_secs_f64()
    );
    std::thread::sleep(wait);
}

/// Whether the running test starts its first server now, or its first was started longer
/// than [`MIDNIGHT_MARGIN`] ago. A test's later servers (a restart, a second site) are not
/// held back: the first start already left the test its margin before midnight, and waiting
/// now would split the test's work across the day's close. A test is told by its thread's
/// name, which the test harness sets to the test's; threads of a runtime are not a test's.
fn first_start_of_this_test() -> bool {
    static FIRST: OnceLock<std::sync::Mutex<HashMap<String, Instant>>> = OnceLock::new();
    let Some(test) = std::thread::current()
        .name()
        .filter(|name| !name.starts_with("tokio-runtime"))
        .map(str::to_owned)
    else {
        return true;
    };
    let mut first = FIRST
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match first.get(&test) {
        Some(at) if at.elapsed() < MIDNIGHT_MARGIN => false,
        _ => {
            first.insert(test, Instant::now());
            true
        }
    }
}

/// A token to create with `luot-server token create` before the first start.
#[derive(Debug, Clone)]
struct TokenSpec {
    label: String,
    role: Role,
    counter: Option<CounterId>,
}

/// How to start a [`TestServer`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    center: Option<String>,
    tokens: Vec<TokenSpec>,
    env: Vec<(String, String)>,
    own_clock: bool,
}

impl ServerOptions {
    /// The default center, and only the admin token.
    pub fn new() -> ServerOptions {
        ServerOptions::default()
    }

    /// Serves this center file (TOML) instead of the default center.
    pub fn center(mut self, toml: &str) -> ServerOptions {
        self.center = Some(toml.to_owned());
        self
    }

    /// Sets an environment variable of the server process (every start).
    pub fn env(mut self, name: &str, value: &str) -> ServerOptions {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The test sets the server's clock itself (libfaketime in [`ServerOptions::env`]), so the
    /// start is not held back near the center's midnight ([`wait_out_midnight`]).
    pub fn own_clock(mut self) -> ServerOptions {
        self.own_clock = true;
        self
    }

    /// Creates a token with the CLI before the first start; [`TestServer::token`] returns it.
    pub fn token(mut self, label: &str, role: Role, counter: Option<CounterId>) -> ServerOptions {
        self.tokens.push(TokenSpec {
            label: label.to_owned(),
            role,
            counter,
        });
        self
    }
}

/// The real server binary on port 0 with a temporary data directory. Dropping it kills the
/// process and removes the directory.
pub struct TestServer {
    dir: TempDir,
    config: Option<PathBuf>,
    log: PathBuf,
    child: Option<Child>,
    base_url: String,
    admin_password: Option<String>,
    tokens: HashMap<String, String>,
    starts: u32,
    env: Vec<(String, String)>,
}

impl TestServer {
    /// Creates the data directory and the tokens of `options`, then starts the server and
    /// waits for it to serve. Within [`MIDNIGHT_MARGIN`] before the center's midnight it
    /// first waits for the midnight to pass ([`wait_out_midnight`]), unless the test sets the
    /// server's clock itself.
    ///
    /// # Panics
    ///
    /// When the server does not start; the panic shows what it logged.
    pub fn start(options: ServerOptions) -> TestServer {
        if !options.own_clock && first_start_of_this_test() {
            wait_out_midnight(&center_zone(options.center.as_deref()));
        }
        let dir = tempfile::Builder::new()
            .prefix("luot-e2e-")
            .tempdir()
            .expect("cannot create a temporary directory");
        let config = options.center.as_ref().map(|toml| {
            let path = dir.path().join("center.toml");
            std::fs::write(&path, toml).expect("cannot write the center file");
            path
        });
        let log = dir.path().join("server.log");
        let mut server = TestServer {
            dir,
            config,
            log,
            child: None,
            base_url: String::new(),
            admin_password: None,
            tokens: HashMap::new(),
            starts: 0,
            env: options.env.clone(),
        };
        server.create_token_cli(ADMIN, Role::Admin, None);
        for spec in &options.tokens {
            server.create_token_cli(&spec.label, spec.role, spec.counter);
        }
        server.launch("127.0.0.1:0");
        server
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `http://127.0.0.1:PORT` of the running server.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `ws://127.0.0.1:PORT/ws` of the running server.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base_url.replacen("http://", "ws://", 1))
    }

    /// The first-run admin password the server printed on its first start.
    pub fn admin_password(&self) -> Option<&str> {
        self.admin_password.as_deref()
    }

    /// A token created before the start under `label` ([`ADMIN`] is always there).
    ///
    /// # Panics
    ///
    /// When no token has that label.
    pub fn token(&self, label: &str) -> String {
        self.tokens
            .get(label)
            .unwrap_or_else(|| panic!("no token labelled {label:?}"))
            .clone()
    }

    /// An HTTP client that sends `token` (none: no credentials).
    pub fn api(&self, token: Option<&str>) -> Api {
        Api::new(&self.base_url, token)
    }

    /// An HTTP client with the token created under `label`.
    pub fn api_as(&self, label: &str) -> Api {
        self.api(Some(&self.token(label)))
    }

    /// Opens `/ws` with `token` and, when given, `since`.
    pub async fn ws(&self, token: &str, since: Option<u64>) -> WsClient {
        let mut url = format!("{}?token={token}", self.ws_url());
        if let Some(since) = since {
            url.push_str(&format!("&since={since}"));
        }
        WsClient::connect(&url).await
    }

    /// Creates a token with `luot-server token create` and remembers it under `label`.
    ///
    /// # Panics
    ///
    /// While the server runs (the data directory is locked), or when the command fails.
    pub fn create_token_cli(
        &mut self,
        label: &str,
        role: Role,
        counter: Option<CounterId>,
    ) -> String {
        assert!(
            self.child.is_none(),
            "`token create` needs a stopped server; use create_token while it runs"
        );
        let token = token_cli(&self.data_dir(), label, role, counter);
        self.tokens.insert(label.to_owned(), token.clone());
        token
    }

    /// Creates a token through the running server's admin API and remembers it under `label`.
    ///
    /// # Panics
    ///
    /// When the server refuses.
    pub async fn create_token(
        &mut self,
        label: &str,
        role: Role,
        counter: Option<CounterId>,
    ) -> String {
        let mut body = serde_json::json!({ "role": role.as_str(), "label": label });
        if let Some(counter) = counter {
            body["counter"] = counter.into();
        }
        let reply = self
            .api_as(ADMIN)
            .post("/api/v1/admin/tokens", &body)
            .await
            .expect_status(201);
        let created: serde_json::Value = reply.json();
        let token = created["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {}", reply.body))
            .to_owned();
        self.tokens.insert(label.to_owned(), token.clone());
        token
    }

    /// Creates a staff account assigned to `counters` through the admin API.
    ///
    /// # Panics
    ///
    /// When the server refuses.
    pub async fn create_staff(&self, name: &str, password: &str, counters: &[CounterId]) {
        self.api_as(ADMIN)
            .post(
                "/api/v1/admin/users",
                &serde_json::json!({ "username": name, "password": password, "role": "staff", "counters": counters }),
            )
            .await
            .expect_status(201);
    }

    /// Logs in through the API and returns the browser session.
    ///
    /// # Panics
    ///
    /// When the login is refused.
    pub async fn login(&self, username: &str, password: &str) -> Session {
        let reply = self
            .api(None)
            .post(
                "/api/v1/login",
                &serde_json::json!({ "username": username, "password": password }),
            )
            .await
            .expect_status(200);
        let login: LoginResponse = reply.json();
        let set_cookie = reply.set_cookie.clone().expect("login sets a cookie");
        let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
        let api = self
            .api(None)
            .with_header("Cookie", &cookie)
            .with_header("X-CSRF-Token", &login.csrf);
        Session {
            api,
            cookie,
            login,
            set_cookie,
        }
    }

    /// Kills the process with SIGKILL (`kill -9`): no shutdown, no final snapshot.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data directory (killing it first if it runs). The
    /// port changes: make new clients afterwards.
    pub fn restart(&mut self) {
        self.restart_at("127.0.0.1:0");
    }

    /// Starts the server again on the same data directory and the same address, as a machine
    /// that reboots does: clients that know the address (a browser page) find it again.
    pub fn restart_same_port(&mut self) {
        let address = self.address();
        self.restart_at(&address);
    }

    /// Starts the server again on the same data directory, listening on `listen`.
    pub fn restart_at(&mut self, listen: &str) {
        self.kill9();
        self.launch(listen);
    }

    /// `127.0.0.1:PORT` of the running (or last) server.
    pub fn address(&self) -> String {
        self.base_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// What the server has logged so far (all its starts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn launch(&mut self, listen: &str) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("cannot open the server log");
        let mut cmd = Command::new(server_binary());
        cmd.args(["--listen", listen, "--data"])
            .arg(self.data_dir())
            .env("NO_COLOR", "1")
            .env_remove("LUOT_LISTEN")
            .env_remove("LUOT_DATA")
            .env_remove("LUOT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd.spawn().expect("cannot start luot-server");
        let stdout = child.stdout.take().expect("stdout is piped");
        // A thread reads stdout to the end, so the server never blocks on a full pipe nor
        // writes to a closed one.
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Once the start is seen nobody listens; keep draining anyway.
                let _ = lines_tx.send(line);
            }
        });
        self.child = Some(child);
        let first = self.starts == 0;
        self.starts += 1;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut serving = None;
        while serving.is_none() || (first && self.admin_password.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => self.fail_start(&format!("no serving line ({e})")),
            };
            if let Some(url) = line.strip_prefix("Lượt is serving ") {
                serving = Some(url.trim().to_owned());
            } else if let Some(rest) =
                line.strip_prefix("First run: log in as 'admin' with password ")
            {
                self.admin_password = rest.split_whitespace().next().map(str::to_owned);
            }
        }
        self.base_url = serving.unwrap_or_default();
    }

    fn fail_start(&mut self, why: &str) -> ! {
        self.kill9();
        panic!(
            "luot-server did not start: {why}\n--- its log ---\n{}",
            self.log()
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            eprintln!("luot-server had exited: {status}");
        }
        self.kill9();
        if std::thread::panicking() {
            // The test failed: show what the server said (the test harness captures it).
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
            eprintln!("--- luot-server log (last {LOG_TAIL} lines) ---");
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}

/// A logged-in browser session: the cookie and the CSRF header on every request.
#[derive(Debug, Clone)]
pub struct Session {
    /// A client that sends the cookie and the CSRF header.
    pub api: Api,
    /// `luot_session=…`, as a browser sends it back.
    pub cookie: String,
    /// The login's answer.
    pub login: LoginResponse,
    /// The whole `Set-Cookie` header of the login.
    pub set_cookie: String,
}

/// An HTTP response: status and body text.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `Set-Cookie`, if any.
    pub set_cookie: Option<String>,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// The body as JSON of type `T`.
    ///
    /// # Panics
    ///
    /// When it is not.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not the expected JSON ({e}): {}",
                self.status, self.body
            )
        })
    }

    /// Asserts the status and returns the reply.
    ///
    /// # Panics
    ///
    /// On another status.
    #[track_caller]
    pub fn expect_status(self, status: u16) -> Reply {
        assert_eq!(
            self.status, status,
            "expected status {status}, got {}: {}",
            self.status, self.body
        );
        self
    }

    /// Asserts a 4xx `status` with the API's JSON error body, and returns the error.
    ///
    /// # Panics
    ///
    /// On another status or body.
    #[track_caller]
    pub fn expect_error(&self, status: u16) -> ErrorDetail {
        assert_eq!(
            self.status, status,
            "expected status {status}, got {}: {}",
            self.status, self.body
        );
        assert!(
            self.content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/json")),
            "error {status} is not JSON ({:?}): {}",
            self.content_type,
            self.body
        );
        let body: ErrorBody = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("error {status} has no error body ({e}): {}", self.body));
        assert!(
            !body.error.code.is_empty(),
            "empty error code: {}",
            self.body
        );
        assert!(
            !body.error.message.is_empty(),
            "empty error message: {}",
            self.body
        );
        body.error
    }
}

/// Creates a token with `luot-server --data DIR token create` (a stopped server's data
/// directory) and returns it.
///
/// # Panics
///
/// When the command fails or prints no token.
pub fn token_cli(
    data_dir: &std::path::Path,
    label: &str,
    role: Role,
    counter: Option<CounterId>,
) -> String {
    let mut cmd = Command::new(server_binary());
    cmd.arg("--data").arg(data_dir).args([
        "token",
        "create",
        "--role",
        role.as_str(),
        "--label",
        label,
    ]);
    if let Some(counter) = counter {
        cmd.args(["--counter", &counter.to_string()]);
    }
    let output = cmd.output().expect("cannot run luot-server token create");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "token create failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let token = stdout.lines().last().unwrap_or_default().trim().to_owned();
    assert!(!token.is_empty(), "token create printed nothing");
    token
}

/// Copies a directory tree (a data directory, to damage or restore a copy).
///
/// # Panics
///
/// When a file cannot be read or written.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// An HTTP client for one server and one set of credentials.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    headers: Vec<(String, String)>,
}

impl Api {
    /// A client for `base` (`http://host:port`) that sends `token`, if any, as a Bearer token.
    pub fn new(base: &str, token: Option<&str>) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .build()
            .expect("cannot build an HTTP client");
        Api {
            http,
            base: base.to_owned(),
            token: token.map(str::to_owned),
            headers: Vec::new(),
        }
    }

    /// The same client with one more header on every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Api {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends a request with an optional body and its content type.
    ///
    /// # Panics
    ///
    /// When the request cannot be sent or answered within [`TIMEOUT`].
    pub async fn send(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((content_type, bytes)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let set_cookie = header(reqwest::header::SET_COOKIE);
        let body = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: cannot read the body: {e}"));
        Reply {
            status,
            content_type,
            set_cookie,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Reply {
        let bytes = serde_json::to_vec(body).expect("body serializes");
        self.send(Method::POST, path, Some(("application/json", bytes)))
            .await
    }

    /// `POST path` without a body.
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(Method::POST, path, None).await
    }

    /// `POST path` with raw bytes sent as `application/json`.
    pub async fn post_raw(&self, path: &str, bytes: impl Into<Vec<u8>>) -> Reply {
        self.send(Method::POST, path, Some(("application/json", bytes.into())))
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &impl Serialize) -> Reply {
        let bytes = serde_json::to_vec(body).expect("body serializes");
        self.send(Method::PUT, path, Some(("application/json", bytes)))
            .await
    }

    /// `PATCH` with a JSON body.
    pub async fn patch(&self, path: &str, body: &impl Serialize) -> Reply {
        let bytes = serde_json::to_vec(body).expect("body serializes");
        self.send(Method::PATCH, path, Some(("application/json", bytes)))
            .await
    }

    /// `GET /api/v1/state`.
    pub async fn state(&self) -> StateView {
        self.get("/api/v1/state").await.expect_status(200).json()
    }

    /// The `seq` of `GET /api/v1/state`.
    pub async fn seq(&self) -> u64 {
        self.state().await.seq
    }

    /// `POST /api/v1/tickets` for `service`, with an optional `request_id`.
    pub async fn issue(&self, service: &str, request_id: Option<&str>) -> Reply {
        let mut body = serde_json::json!({ "service": service });
        if let Some(id) = request_id {
            body["request_id"] = id.into();
        }
        self.post("/api/v1/tickets", &body).await
    }

    /// Issues a ticket and asserts `201 Created`.
    pub async fn issue_ticket(&self, service: &str) -> TicketView {
        self.issue(service, None).await.expect_status(201).json()
    }

    /// `POST /api/v1/counters/{counter}/{action}` without a body.
    pub async fn counter_action(&self, counter: CounterId, action: &str) -> Reply {
        self.post_empty(&format!("/api/v1/counters/{counter}/{action}"))
            .await
    }

    /// Opens a counter and asserts `200`.
    pub async fn open_counter(&self, counter: CounterId) -> CounterView {
        self.counter_action(counter, "open")
            .await
            .expect_status(200)
            .json()
    }

    /// Presses "call next": the called ticket, or `None` on `204` (nobody waits).
    ///
    /// # Panics
    ///
    /// On any other answer.
    pub async fn call_next(&self, counter: CounterId) -> Option<TicketView> {
        let reply = self.counter_action(counter, "call-next").await;
        match reply.status {
            200 => Some(reply.json()),
            204 => None,
            other => panic!("call-next at counter {counter}: {other} {}", reply.body),
        }
    }

    /// `POST /api/v1/tickets/{ticket}/rating` with `score`.
    pub async fn rate(&self, ticket: TicketId, score: impl Serialize) -> Reply {
        self.post(
            &format!("/api/v1/tickets/{ticket}/rating"),
            &serde_json::json!({ "score": score }),
        )
        .await
    }
}

/// A `/ws` connection.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to a full `ws://` URL.
    ///
    /// # Panics
    ///
    /// When the handshake fails.
    pub async fn connect(url: &str) -> WsClient {
        let connect = tokio_tungstenite::connect_async(url);
        let (stream, _) = tokio::time::timeout(TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| panic!("WebSocket handshake with {url} timed out"))
            .unwrap_or_else(|e| panic!("WebSocket handshake with {url} failed: {e}"));
        WsClient { stream }
    }

    /// The next frame other than pings and pongs, or `None` when the connection has ended.
    ///
    /// # Panics
    ///
    /// When nothing arrives within [`TIMEOUT`].
    pub async fn next_frame(&mut self) -> Option<Message> {
        loop {
            let next = tokio::time::timeout(TIMEOUT, self.stream.next())
                .await
                .expect("no WebSocket message within the timeout");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next message within `limit`, which may be longer than [`TIMEOUT`] (reading answers
    /// the server's pings meanwhile, so a quiet minute does not end the connection); `None`
    /// when `limit` passes first.
    ///
    /// # Panics
    ///
    /// On a closed connection or a frame that is not a [`ServerMessage`].
    pub async fn next_message_within(&mut self, limit: Duration) -> Option<ServerMessage> {
        let frame = tokio::time::timeout(limit, async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(message)) => return Some(message),
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
        .ok()?;
        match frame {
            Some(Message::Text(text)) => Some(
                ServerMessage::decode(text.as_str())
                    .unwrap_or_else(|e| panic!("undecodable server message ({e}): {text}")),
            ),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// The next message, decoded.
    ///
    /// # Panics
    ///
    /// On a timeout, a closed connection or a frame that is not a [`ServerMessage`].
    pub async fn next_message(&mut self) -> ServerMessage {
        match self.next_frame().await {
            Some(Message::Text(text)) => ServerMessage::decode(text.as_str())
                .unwrap_or_else(|e| panic!("undecodable server message ({e}): {text}")),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// The next message, which must be a snapshot: its `seq` and state.
    pub async fn snapshot(&mut self) -> (u64, StateView) {
        match self.next_message().await {
            ServerMessage::Snapshot { seq, state } => (seq, *state),
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }

    /// The next message, which must be an event.
    pub async fn event(&mut self) -> Recorded {
        match self.next_message().await {
            ServerMessage::Event(recorded) => recorded,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Reads events until the one with `seq` (inclusive) and returns them all.
    ///
    /// # Panics
    ///
    /// On anything but events, or an event past `seq`.
    pub async fn events_through(&mut self, seq: u64) -> Vec<Recorded> {
        let mut events = Vec::new();
        while events.last().is_none_or(|e: &Recorded| e.seq < seq) {
            let event = self.event().await;
            assert!(
                event.seq <= seq,
                "event {} went past the expected last seq {seq}",
                event.seq
            );
            events.push(event);
        }
        events
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text))
            .await
            .expect("cannot send on the WebSocket");
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Read until the server's Close arrives, so the server has seen it.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(TIMEOUT, self.stream.next()).await {}
    }
}

/// Asserts that `events` have strictly increasing, gap-free `seq`s starting at `first`.
///
/// # Panics
///
/// On a gap, a repeat or a different start.
#[track_caller]
pub fn assert_gap_free(events: &[Recorded], first: u64) {
    for (expected, event) in (first..).zip(events) {
        assert_eq!(
            event.seq,
            expected,
            "seq gap or reorder: {:?}",
            events.iter().map(|e| e.seq).collect::<Vec<_>>()
        );
    }
}

/// The `kind`s of `events`, as on the wire.
pub fn kinds(events: &[Recorded]) -> Vec<&'static str> {
    events.iter().map(|e| e.event.kind()).collect()
}

/// Polls `check` until it returns `Some` or `limit` passes.
///
/// # Panics
///
/// When `limit` passes first.
pub async fn poll_until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zone the midnight guard watches: the center file's, else the default center's.
    #[test]
    fn the_guard_watches_the_centers_zone() {
        assert_eq!(center_zone(None), "Asia/Ho_Chi_Minh");
        assert_eq!(
            center_zone(Some("[center]\nname = \"A\"\n")),
            "Asia/Ho_Chi_Minh"
        );
        assert_eq!(
            center_zone(Some("[center]\ntimezone = \"Europe/Berlin\"\n")),
            "Europe/Berlin"
        );
        let left = until_midnight("Asia/Ho_Chi_Minh");
        assert!(left > Duration::ZERO && left <= Duration::from_secs(24 * 3600));
    }
}
