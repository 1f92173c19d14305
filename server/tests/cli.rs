//! The `luot-server token create` command, run as a process on a temporary data directory.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_luot-server");

fn token_create(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(["token", "create"])
        .args(args)
        .output()
        .expect("cannot run luot-server")
}

fn is_token(line: &str) -> bool {
    line.strip_prefix("lt_").is_some_and(|hex| {
        hex.len() >= 32
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
    })
}

/// `token create` prints a fresh random token as its last stdout line, and a second call
/// prints a different one.
#[test]
fn token_create_prints_the_token_last() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut seen = Vec::new();
    for (role, counter) in [("staff", Some("1")), ("kiosk", None)] {
        let mut args = vec!["--role", role, "--label", "quầy"];
        if let Some(counter) = counter {
            args.extend(["--counter", counter]);
        }
        let out = token_create(dir.path(), &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        assert!(is_token(last), "last line is not a token: {stdout:?}");
        assert!(!seen.contains(&last.to_owned()), "token repeated");
        seen.push(last.to_owned());
    }
}

/// `--counter` is refused for a display token: non-zero exit, a reason on stderr, no token.
#[test]
fn token_create_refuses_a_counter_for_display() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = token_create(dir.path(), &["--role", "display", "--counter", "1"]);
    assert!(
        !out.status.success(),
        "display token with --counter accepted"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.lines().any(is_token),
        "a token was printed: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--counter"), "no reason given: {stderr}");
}

/// An unknown role is refused before anything is written.
#[test]
fn token_create_refuses_an_unknown_role() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    let out = token_create(&data, &["--role", "root"]);
    assert!(!out.status.success(), "unknown role accepted");
    assert!(!String::from_utf8_lossy(&out.stdout).lines().any(is_token));
}

/// While a server runs on a data directory, `token create` on it fails instead of writing
/// beside the running server.
#[test]
fn token_create_refuses_a_running_servers_directory() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut server = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start luot-server");
    let stdout = server.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    // The serving line comes only after the data directory is open (and locked).
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let out = token_create(dir.path(), &["--role", "kiosk"]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        first.starts_with("Lượt is serving"),
        "server did not start: {first:?}"
    );
    assert!(
        !out.status.success(),
        "token created beside a running server"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).lines().any(is_token));
}
