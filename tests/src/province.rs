//! A province on one machine: a real `nats-server -js` and a real PostgreSQL, each in a
//! temporary directory on a free port, a TCP link that can be cut between the sites and NATS
//! (the WAN), and the hub (`luot-server hub`) as a process that can be killed.
//!
//! PostgreSQL refuses to run as root: as root its directory is given to the `postgres` system
//! user (Debian's package creates it) and its programs run as that user.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use luot_shared::Recorded;
use luot_shared::protocol::Role;
use serde_json::Value;

use crate::{ADMIN, Api, ServerOptions, TestServer, poll_until, server_binary};

/// How long a service may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the province's programs are here; `Err` says what is missing. With `CI=true` a
/// missing program is a failure, not a skip.
pub fn available() -> Result<(), String> {
    let mut missing = Vec::new();
    if which("nats-server").is_none() {
        missing.push("nats-server (Debian package nats-server)");
    }
    if postgres_bin().is_none() {
        missing.push("PostgreSQL (Debian package postgresql)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let why = format!("missing {}", missing.join(" and "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: .ci/run installs them");
    }
    Err(why)
}

/// NATS with JetStream, PostgreSQL and a hub of [`PROVINCE`] on them, each in its own
/// temporary directory: what most province tests start with. Stopped in the reverse order.
pub struct Province {
    /// The NATS server.
    pub nats: Nats,
    /// The database.
    pub pg: Postgres,
    /// The hub.
    pub hub: Hub,
}

impl Province {
    /// Starts all three; `None`, after saying why, when this machine lacks the programs
    /// (never with `CI=true`: see [`available`]).
    pub fn start() -> Option<Province> {
        if let Err(why) = available() {
            eprintln!("skipped: {why}");
            return None;
        }
        let nats = Nats::start();
        let pg = Postgres::start();
        let hub = Hub::start(&nats.url(), &pg.url(), PROVINCE);
        Some(Province { nats, pg, hub })
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The directory of the newest installed PostgreSQL's programs.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + START_TIMEOUT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `nats-server -js` with its store in a temporary directory.
pub struct Nats {
    dir: TempDir,
    /// Its port.
    pub port: u16,
    /// A configuration file it reads (`-c`) before its flags.
    config: Option<PathBuf>,
    child: Option<Child>,
}

impl Nats {
    /// Starts it.
    pub fn start() -> Nats {
        let dir = tempfile::Builder::new()
            .prefix("luot-nats-")
            .tempdir()
            .expect("temp dir");
        let mut nats = Nats {
            dir,
            port: free_port(),
            config: None,
            child: None,
        };
        nats.launch();
        nats
    }

    /// Starts it with this configuration (users, permissions); its address, port and store
    /// come from the flags, which take precedence over the file's.
    pub fn with_config(config: &str) -> Nats {
        let dir = tempfile::Builder::new()
            .prefix("luot-nats-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("nats-server.conf");
        std::fs::write(&path, config).expect("nats-server.conf");
        let mut nats = Nats {
            dir,
            port: free_port(),
            config: Some(path),
            child: None,
        };
        nats.launch();
        nats
    }

    fn launch(&mut self) {
        let log = self.dir.path().join("nats.log");
        let mut command = Command::new(which("nats-server").expect("nats-server"));
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let mut child = command
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path().join("store"))
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nats-server");
        wait_for_port(self.port, "nats-server", &mut child, &log);
        self.child = Some(child);
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL cluster in a temporary directory, trusting local connections, with a
/// database `luot` owned by the user `luot`.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    /// Its port.
    pub port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// Creates and starts it.
    pub fn start() -> Postgres {
        let bin = postgres_bin().expect("PostgreSQL");
        let dir = tempfile::Builder::new()
            .prefix("luot-pg-")
            .tempdir()
            .expect("temp dir");
        let as_postgres = running_as_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "cannot give the directory to postgres");
        }
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-A",
                "trust",
                "-U",
                "luot",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let log = pg.dir.path().join("pg.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            pg.port,
            pg.dir.path().display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-l",
                log.to_str().unwrap_or_default(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        pg.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "luot",
                "luot",
            ],
        );
        pg
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        } else {
            Command::new(&path)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        }
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Drops the database and creates it again, empty: a database lost and replaced.
    pub fn replace_database(&self) {
        let port = self.port.to_string();
        self.run(
            "dropdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "luot",
                "--force",
                "luot",
            ],
        );
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "luot", "luot"],
        );
    }

    /// The connection string.
    pub fn url(&self) -> String {
        format!("postgres://luot@127.0.0.1:{}/luot", self.port)
    }

    /// A client (its connection runs on a task of the current runtime).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("cannot connect to the test PostgreSQL");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let path = self.bin.join("pg_ctl");
        let args = [
            "-D",
            data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "stop",
        ];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .output()
        } else {
            Command::new(&path).args(args).output()
        };
    }
}

/// Whether this process runs as root (PostgreSQL then runs as `postgres`).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A TCP link that forwards to a target until it is cut: cutting closes every connection
/// through it and refuses new ones (they are accepted and closed at once), as a WAN that
/// drops does.
pub struct Link {
    /// The port to connect to instead of the target.
    pub port: u16,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Link {
    /// Starts forwarding to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Link {
        Link::with_latency(target, Duration::ZERO).await
    }

    /// Starts forwarding to `127.0.0.1:target`, holding each chunk `one_way` before passing
    /// it on (a WAN's latency: a request and its answer take twice that).
    pub async fn with_latency(target: u16, one_way: Duration) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let cut = cut.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                            if one_way.is_zero() {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            } else {
                                let (ri, wi) = inbound.into_split();
                                let (ro, wo) = outbound.into_split();
                                tokio::join!(delayed(ri, wo, one_way), delayed(ro, wi, one_way));
                            }
                        }
                    });
                    let mut list = connections.lock().unwrap_or_else(|e| e.into_inner());
                    list.retain(|t| !t.is_finished());
                    list.push(task);
                }
            })
        };
        Link {
            port,
            cut,
            connections,
            accept,
        }
    }

    /// `nats://127.0.0.1:PORT` through the link.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Cuts the link.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Restores it.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, each chunk `delay` late.
async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tokio::time::sleep(delay).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `luot-server hub` as a process.
pub struct Hub {
    nats: String,
    postgres: String,
    province: String,
    dir: TempDir,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` of the running hub.
    pub base_url: String,
}

impl Hub {
    /// Starts a hub and waits for it to serve.
    pub fn start(nats: &str, postgres: &str, province: &str) -> Hub {
        let mut hub = Hub {
            nats: nats.to_owned(),
            postgres: postgres.to_owned(),
            province: province.to_owned(),
            dir: tempfile::Builder::new()
                .prefix("luot-hub-")
                .tempdir()
                .expect("temp dir"),
            child: None,
            base_url: String::new(),
        };
        hub.launch();
        hub
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("hub.log")
    }

    /// What the hub logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn launch(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log");
        let mut child = Command::new(server_binary())
            .args(["hub", "--listen", "127.0.0.1:0", "--nats", &self.nats])
            .args(["--postgres", &self.postgres, "--province", &self.province])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("cannot start the hub");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("the hub did not start ({e}):\n{}", self.log()));
            if let Some(rest) = line.split_once(" is serving ").map(|(_, r)| r) {
                self.base_url = rest.trim().trim_end_matches("/province").to_owned();
                break;
            }
        }
    }

    /// Kills it with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills and starts it again.
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// Creates a token with the CLI; returns it.
    pub fn token(&self, role: &str) -> String {
        self.cli(&["token", "create", "--role", role])
    }

    /// Enrolls a site with the CLI (or finds it enrolled); returns its key.
    pub fn enroll(&self, site: &str) -> String {
        self.cli(&["site", "add", site])
    }

    /// Enrolls a site with the key it already has (a database made anew).
    pub fn enroll_with(&self, site: &str, key: &str) -> String {
        self.cli(&["site", "add", site, "--key", key])
    }

    /// Sets an account with the CLI; returns its password.
    pub fn user(&self, name: &str, role: &str) -> String {
        self.cli(&["user", "set", name, "--role", role])
    }

    /// Runs `luot-server hub --postgres … ARGS`; returns the last line it printed.
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(server_binary())
            .args(["hub", "--postgres", &self.postgres])
            .args(args)
            .output()
            .expect("cannot run the hub's command line");
        assert!(
            output.status.success(),
            "hub {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- hub log (last 60 lines) ---");
            for line in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// The province of the tests.
pub const PROVINCE: &str = "testprov";
/// Time for everything shipped to be projected.
pub const CONVERGE: Duration = Duration::from_secs(120);

/// A site of [`PROVINCE`] enrolled at `hub` and shipping to `ship`, with a kiosk token and a rating device per
/// counter 1–3 (`rate-N`).
pub fn site(hub: &Hub, id: &str, ship: &str) -> TestServer {
    let key = hub.enroll(id);
    TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("rate-1", Role::Kiosk, Some(1))
            .token("rate-2", Role::Kiosk, Some(2))
            .token("rate-3", Role::Kiosk, Some(3))
            .env("LUOT_SITE", id)
            .env("LUOT_SHIP", ship)
            .env("LUOT_PROVINCE", PROVINCE)
            .env("LUOT_SHIP_KEY", &key),
    )
}

/// Names the center (a `center_configured` event, as an admin's edit makes).
pub async fn rename(server: &TestServer, name: &str) {
    let admin = server.api_as(ADMIN);
    let mut config: Value = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    config["center"]["name"] = Value::from(name);
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);
}

/// Some of a day: tickets in three fields, counters calling, serving, marking absent, citizens
/// rating.
pub async fn traffic(server: &TestServer, rounds: usize, salt: usize) {
    let kiosk = server.api_as("kiosk");
    let admin = server.api_as(ADMIN);
    let services = ["tnmt", "tckh", "ldtbxh"];
    for counter in 1..=3 {
        admin.open_counter(counter).await;
    }
    for n in 0..rounds {
        kiosk
            .issue_ticket(services[(n + salt) % services.len()])
            .await;
        if n % 2 == 1 {
            for counter in 1..=3u32 {
                if let Some(called) = admin.call_next(counter).await {
                    let end = if (n + salt + counter as usize).is_multiple_of(5) {
                        "no-show"
                    } else {
                        admin
                            .counter_action(counter, "start")
                            .await
                            .expect_status(200);
                        "finish"
                    };
                    admin.counter_action(counter, end).await.expect_status(200);
                    if end == "finish" && !(n + salt).is_multiple_of(3) {
                        let score = 1 + (n + salt + counter as usize) % 5;
                        server
                            .api_as(&format!("rate-{counter}"))
                            .rate(called.id, score as u8)
                            .await
                            .expect_status(200);
                    }
                }
            }
        }
    }
}

/// Every event of a site, from its own log.
pub async fn site_events(admin: &Api) -> Vec<Recorded> {
    let mut out = Vec::new();
    let mut after = 0u64;
    loop {
        let page: Value = admin
            .get(&format!("/api/v1/events?after={after}&limit=1000"))
            .await
            .expect_status(200)
            .json();
        for e in page["events"].as_array().into_iter().flatten() {
            out.push(serde_json::from_value(e.clone()).expect("an event"));
        }
        after = page["next"].as_u64().unwrap_or(after);
        if !page["more"].as_bool().unwrap_or(false) {
            return out;
        }
    }
}

/// Waits until the hub has projected every site up to its last seq.
pub async fn converge(hub: &Api, sites: &[(&str, &TestServer)]) {
    let mut want = BTreeMap::new();
    for (id, server) in sites {
        want.insert(id.to_string(), server.api_as(ADMIN).seq().await);
    }
    poll_until(CONVERGE, "the hub to project every site", || async {
        let state: Value = hub.get("/api/v1/province/state").await.json();
        let have: BTreeMap<String, u64> = state["sites"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["site"].as_str().unwrap_or_default().to_owned(),
                    s["last_seq"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        want.iter()
            .all(|(id, seq)| have.get(id) == Some(seq))
            .then_some(())
    })
    .await;
}
