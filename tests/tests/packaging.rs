//! The Debian package of the server, installed into this system with `dpkg -i` as the
//! person who installs a center would: its files, user and conffile, its units, the service's
//! own command line as its own user, an upgrade that keeps data and configuration, a
//! downgrade refused over newer data, and a clean purge.
//!
//! Installing into the real system needs root and changes the machine, so the test runs
//! only in CI (`CI=true`, where it must run) or when `LUOT_TEST_DPKG=1` asks for it; it
//! purges the package even when it fails. `.ci/run` builds the packages first
//! (`cargo deb --no-build` into `target/debian/`).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use luot_server::data_format::{DATA_FORMAT, FORMAT_FILE};

const PACKAGE: &str = "luot-server";
/// Longest wait for the installed server to say where it serves, and to stop.
const START_LIMIT: Duration = Duration::from_secs(30);
const STOP_LIMIT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_owned()
}

/// The packaged default center is the center the server embeds, so installing the package
/// changes nothing about what a fresh server serves.
#[test]
fn packaged_center_is_the_embedded_default() {
    let text = std::fs::read_to_string(repo().join("packaging/server/center.toml"))
        .expect("packaging/server/center.toml");
    let file = luot_server::CenterFile::parse(&text).expect("the packaged center parses");
    assert_eq!(
        file.config,
        luot_shared::domain::CenterConfig::default(),
        "packaging/server/center.toml differs from CenterConfig::default()"
    );
}

/// The package's preinst refuses data of the same newest format the server reads, and the
/// unit carries the hardening the README promises.
#[test]
fn maintainer_scripts_and_unit_agree_with_the_server() {
    let preinst =
        std::fs::read_to_string(repo().join("packaging/server/debian/preinst")).expect("preinst");
    assert!(
        preinst.contains(&format!("SUPPORTED_DATA_FORMAT={DATA_FORMAT}\n")),
        "preinst's SUPPORTED_DATA_FORMAT must equal data_format::DATA_FORMAT ({DATA_FORMAT})"
    );
    let unit = std::fs::read_to_string(repo().join("packaging/server/debian/luot-server.service"))
        .expect("unit");
    for line in [
        "User=luot",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/luot",
        "LimitNOFILE=65536",
        "Restart=on-failure",
        "StandardOutput=journal",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "luot-server.service lacks {line}"
        );
    }
    assert_eq!(
        luot_server::doctor::WANTED_OPEN_FILES,
        65_536,
        "the doctor asks for the unit's LimitNOFILE"
    );
}

/// A data directory written by a newer format is refused at start with a message that says
/// what to do, and is left as it was.
#[test]
fn newer_data_format_refused_by_the_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join(FORMAT_FILE), format!("{}\n", DATA_FORMAT + 1)).expect("write");
    let out = Command::new(luot_tests::server_binary())
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("run luot-server");
    assert!(
        !out.status.success(),
        "a newer data format must stop the start"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("format {}", DATA_FORMAT + 1))
            && err.contains(&format!("reads up to format {DATA_FORMAT}"))
            && err.contains("Install the newer luot-server"),
        "{err}"
    );
    let names: Vec<String> = std::fs::read_dir(&data)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [FORMAT_FILE], "nothing else was written");
}

/// `systemd-analyze verify` passes the units and says nothing about them (it exits 0 even
/// for an unknown key or a bad value, only warning).
fn verify_units(units: &[PathBuf]) {
    let out = run(Command::new("systemd-analyze").arg("verify").args(units));
    let said = String::from_utf8_lossy(&out.stderr);
    let about_ours: Vec<&str> = said
        .lines()
        .filter(|l| units.iter().any(|u| l.contains(&*u.to_string_lossy())))
        .collect();
    assert!(
        about_ours.is_empty(),
        "systemd-analyze verify: {about_ours:#?}"
    );
}

/// The display's and the kiosk's units verify. `cage` is not installed here, so the copies
/// checked start `/bin/sh` in its place; every other line is the packaged one.
#[test]
fn display_and_kiosk_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI installs systemd (systemd-analyze)"
        );
        eprintln!("SKIPPED display_and_kiosk_units_verify: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut units = Vec::new();
    for kind in ["display", "kiosk"] {
        let name = format!("luot-{kind}.service");
        let text = std::fs::read_to_string(repo().join(format!("packaging/{kind}/debian/{name}")))
            .expect("unit");
        assert!(
            text.contains(&format!(
                "ExecStart=/usr/bin/cage -d -- /usr/bin/luot-{kind} --config /etc/luot/{kind}.toml\n"
            )),
            "{name} starts the client in cage with its configuration file"
        );
        assert!(
            text.contains("\nRestart=always\n"),
            "{name} restarts by itself"
        );
        let path = dir.path().join(&name);
        std::fs::write(
            &path,
            text.replace("ExecStart=/usr/bin/cage ", "ExecStart=/bin/sh "),
        )
        .expect("write");
        units.push(path);
    }
    verify_units(&units);
}

/// Whether the installing test may run here; panics in CI when it cannot.
fn dpkg_test_enabled() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let asked = std::env::var("LUOT_TEST_DPKG").is_ok_and(|v| v == "1");
    if !ci && !asked {
        eprintln!(
            "skipped: this test installs {PACKAGE} into this system with dpkg as root; \
             set LUOT_TEST_DPKG=1 to run it (CI=true runs it)"
        );
        return false;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(root, "the package test needs root (dpkg -i)");
    true
}

/// The package `.ci/run` built.
fn built_deb() -> PathBuf {
    if let Some(path) = std::env::var_os("LUOT_SERVER_DEB") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test exe");
    let found = exe
        .ancestors()
        .map(|dir| dir.join("debian"))
        .filter(|dir| dir.is_dir())
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("luot-server_") && n.ends_with(".deb"))
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    found.unwrap_or_else(|| {
        panic!(
            "no luot-server_*.deb near {}: build it with `cargo deb -p luot-server --no-build \
             --profile dev` (as .ci/run does) or set LUOT_SERVER_DEB",
            exe.display()
        )
    })
}

fn run(cmd: &mut Command) -> std::process::Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn installed_version() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", PACKAGE])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.strip_prefix("install ok installed ")
        .map(str::to_owned)
}

/// Purges the package and removes what the test itself made, whatever happened.
struct Cleanup {
    server: Option<Child>,
    scratch: tempfile::TempDir,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("dpkg")
            .args(["--purge", PACKAGE])
            .stdin(Stdio::null())
            .output();
        // Kept by the package on purge (the backups outlive it); the test made them.
        let _ = std::fs::remove_dir_all("/var/backups/luot");
        let _ = Command::new("userdel").arg("luot").output();
    }
}

/// A file of the installed package, under /usr/lib or /lib.
fn unit_path(name: &str) -> PathBuf {
    ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("unit {name} not installed"))
}

/// A key of a unit file (the last one wins, as in systemd).
fn unit_key(path: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(path).expect("unit");
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{} has no {key}=", path.display()))
        .to_owned()
}

/// The words of a unit's ExecStart with one flag's value replaced.
fn exec_start(unit: &Path, flag: &str, value: &str) -> Vec<String> {
    let mut words: Vec<String> = unit_key(unit, "ExecStart")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let at = words
        .iter()
        .position(|w| w == flag)
        .unwrap_or_else(|| panic!("ExecStart of {} has no {flag}", unit.display()));
    words[at + 1] = value.to_owned();
    words
}

/// Runs `argv` as the unit's user, with no new privileges, as systemd would.
fn as_service_user(user: &str, argv: &[String]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={user}"),
        &format!("--regid={user}"),
        "--init-groups",
        "--no-new-privs",
        "--",
    ]);
    cmd.args(argv);
    cmd.current_dir("/");
    cmd
}

/// Starts the installed server with the unit's command line (on a free loopback port, not
/// 8080, which this shared machine may be using) and waits until it says where it serves.
/// Returns the child, its base URL and the lines it printed.
fn start_installed(unit: &Path) -> (Child, String, Vec<String>) {
    let user = unit_key(unit, "User");
    let argv = exec_start(unit, "--listen", "127.0.0.1:0");
    let mut child = as_service_user(&user, &argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the installed luot-server");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("[installed server] {line}");
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + START_LIMIT;
    let mut lines = Vec::new();
    let mut base = None;
    // The first-run line comes after the URLs; read until the data line that ends them, and
    // the first-run line right after it when there is one.
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(rest) = line.strip_prefix("Lượt is serving ") {
            base = Some(rest.trim().to_owned());
        }
        let last = line.trim_start().starts_with("data ");
        lines.push(line);
        if last {
            if let Ok(next) = rx.recv_timeout(Duration::from_millis(500)) {
                lines.push(next);
            }
            break;
        }
    }
    let base = base.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the installed server did not say where it serves: {lines:?}")
    });
    (child, base, lines)
}

fn stop(child: &mut Child) {
    run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let deadline = Instant::now() + STOP_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "the server stopped with {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Repacks `deb` with version `version`: the same files, a higher version, like the next
/// release.
fn repack(deb: &Path, version: &str, scratch: &Path) -> PathBuf {
    let tree = scratch.join(format!("tree-{version}"));
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).expect("control");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Version: ") {
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&control, text).expect("write control");
    let out = scratch.join(format!("luot-server_{version}_amd64.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&tree)
        .arg(&out));
    out
}

fn mode_owner(path: &str) -> String {
    let out = run(Command::new("stat").args(["-c", "%a %U:%G", path]));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `dpkg -i` of the server's package sets up the user, the directories, the conffile and the
/// units; the installed binary runs as the service user with the unit's command line and
/// serves; a higher version keeps the data and a changed center file; a downgrade over a
/// newer data format is refused; a purge leaves nothing but the backups.
#[test]
fn install_upgrade_and_purge_with_dpkg() {
    if !dpkg_test_enabled() {
        return;
    }
    let deb = built_deb();
    if let Some(version) = installed_version() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            ci,
            "{PACKAGE} {version} is installed on this machine: the test would purge it; remove it first"
        );
        run(Command::new("dpkg").args(["--purge", PACKAGE]));
    }
    let mut cleanup = Cleanup {
        server: None,
        scratch: tempfile::tempdir().expect("scratch dir"),
    };
    let scratch = cleanup.scratch.path().to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();

    // Install.
    let out = run(Command::new("dpkg").arg("-i").arg(&deb));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains(":8080/admin") && said.contains("journalctl -u luot-server"),
        "the first install says where the admin page is and how to read the password: {said}"
    );
    let version = installed_version().expect("installed");

    // Files, user, conffile.
    for path in ["/usr/bin/luot-server", "/etc/luot/center.toml"] {
        assert!(Path::new(path).is_file(), "{path} installed");
    }
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", PACKAGE]));
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains("/etc/luot/center.toml"),
        "center.toml is a conffile"
    );
    assert_eq!(mode_owner("/etc/luot/center.toml"), "640 root:luot");
    assert_eq!(mode_owner("/var/lib/luot"), "750 luot:luot");
    assert_eq!(mode_owner("/var/backups/luot"), "750 luot:luot");
    assert_eq!(mode_owner("/etc/luot/backup.token"), "640 root:luot");
    let token = std::fs::read_to_string("/etc/luot/backup.token").expect("backup token");
    let token = token.trim().to_owned();
    assert!(token.len() > 20, "a backup token was made: {token:?}");
    let passwd = run(Command::new("getent").args(["passwd", "luot"]));
    let passwd = String::from_utf8_lossy(&passwd.stdout).into_owned();
    assert!(
        passwd
            .trim_end()
            .ends_with(":/var/lib/luot:/usr/sbin/nologin"),
        "a system user without a login: {passwd}"
    );
    let uid: u32 = passwd
        .split(':')
        .nth(2)
        .and_then(|u| u.parse().ok())
        .expect("uid");
    assert!(uid < 1000, "a system uid: {uid}");

    // The units verify.
    let units: Vec<PathBuf> = [
        "luot-server.service",
        "luot-backup.service",
        "luot-backup.timer",
    ]
    .iter()
    .map(|u| unit_path(u))
    .collect();
    verify_units(&units);

    // The installed binary, as the service user, with the unit's command line.
    let server_unit = &units[0];
    let (child, base, lines) = start_installed(server_unit);
    cleanup.server = Some(child);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("First run: log in as 'admin' with password")),
        "the first start prints the admin password (to the journal under systemd): {lines:?}"
    );
    let health = runtime
        .block_on(http.get(format!("{base}/healthz")).send())
        .expect("healthz");
    assert_eq!(health.status(), 200, "/healthz of the installed server");
    // Some data: a ticket, issued with the backup's admin token.
    let issued = runtime
        .block_on(
            http.post(format!("{base}/api/v1/tickets"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"service": "tnmt", "request_id": "package-test"}))
                .send(),
        )
        .expect("issue");
    assert!(issued.status().is_success(), "issue: {}", issued.status());
    let issued: serde_json::Value = runtime.block_on(issued.json()).expect("issue json");
    let number = issued["number"]
        .as_str()
        .unwrap_or_else(|| panic!("a ticket number in {issued}"))
        .to_owned();
    let id = issued["id"].as_u64().expect("a ticket id");

    // The nightly backup's command line, as its user, against the running server.
    let backup_unit = &units[1];
    let argv = exec_start(backup_unit, "--server", &base);
    let user = unit_key(backup_unit, "User");
    run(&mut as_service_user(&user, &argv));
    let backups: Vec<PathBuf> = std::fs::read_dir("/var/backups/luot")
        .expect("backups")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(backups.len(), 1, "one backup: {backups:?}");
    let events = luot_server::backup_job::check_file(&backups[0]).expect("a complete export");
    assert!(
        events >= 2,
        "the backup holds the configuration and the ticket"
    );

    let mut child = cleanup.server.take().expect("server");
    stop(&mut child);

    // The center officer edits the center file.
    let center = std::fs::read_to_string("/etc/luot/center.toml").expect("center");
    let edited = center.replace(
        "name = \"Trung tâm Hành chính công\"",
        "name = \"Trung tâm Hành chính công phường Thử\"",
    );
    assert_ne!(
        edited, center,
        "the center's name line is in the packaged file"
    );
    std::fs::write("/etc/luot/center.toml", &edited).expect("edit center");

    // Upgrade to a higher version.
    let next = format!("{version}+next1");
    let newer = repack(&deb, &next, &scratch);
    run(Command::new("dpkg").arg("-i").arg(&newer));
    assert_eq!(installed_version().as_deref(), Some(next.as_str()));
    assert_eq!(
        std::fs::read_to_string("/etc/luot/center.toml").expect("center"),
        edited,
        "the upgrade kept the edited center file"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/luot/backup.token")
            .expect("token")
            .trim(),
        token,
        "the upgrade kept the backup token"
    );
    let (child, base, lines) = start_installed(server_unit);
    cleanup.server = Some(child);
    assert!(
        !lines.iter().any(|l| l.starts_with("First run")),
        "the admin account survived the upgrade: {lines:?}"
    );
    let get = |path: String| -> serde_json::Value {
        runtime
            .block_on(async {
                http.get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await
            })
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    };
    let ticket = get(format!("/api/v1/tickets/{id}"));
    assert_eq!(
        (ticket["number"].as_str(), ticket["status"].as_str()),
        (Some(number.as_str()), Some("waiting")),
        "the ticket issued before the upgrade is still there: {ticket}"
    );
    let state = get("/api/v1/state".into());
    assert_eq!(
        state["center"], "Trung tâm Hành chính công phường Thử",
        "the edited center file is the one served"
    );
    let mut child = cleanup.server.take().expect("server");
    stop(&mut child);

    // A downgrade over data of a newer format is refused and changes nothing.
    let format_file = Path::new("/var/lib/luot").join(FORMAT_FILE);
    assert_eq!(
        std::fs::read_to_string(&format_file)
            .expect("format file")
            .trim(),
        DATA_FORMAT.to_string(),
        "the data directory records its format"
    );
    std::fs::write(&format_file, format!("{}\n", DATA_FORMAT + 1)).expect("raise format");
    let refused = Command::new("dpkg")
        .arg("-i")
        .arg(&deb)
        .stdin(Stdio::null())
        .output()
        .expect("dpkg");
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success(), "the downgrade must be refused");
    assert!(
        said.contains(&format!("format {}", DATA_FORMAT + 1))
            && said.contains("Nothing was changed"),
        "{said}"
    );
    assert_eq!(installed_version().as_deref(), Some(next.as_str()));
    std::fs::write(&format_file, format!("{DATA_FORMAT}\n")).expect("restore format");

    // Purge.
    run(Command::new("dpkg").args(["--purge", PACKAGE]));
    assert_eq!(installed_version(), None);
    for path in [
        "/usr/bin/luot-server",
        "/etc/luot",
        "/var/lib/luot",
        "/usr/lib/systemd/system/luot-server.service",
        "/lib/systemd/system/luot-server.service",
        "/etc/systemd/system/multi-user.target.wants/luot-server.service",
        "/etc/systemd/system/timers.target.wants/luot-backup.timer",
    ] {
        assert!(!Path::new(path).exists(), "{path} left after purge");
    }
    assert!(
        Path::new("/var/backups/luot").is_dir(),
        "the backups are kept on purge"
    );
    drop(cleanup);
}
