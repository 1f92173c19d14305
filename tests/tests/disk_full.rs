//! A full disk: issuing answers 503 `storage_unavailable`, `/healthz` and the metrics say the
//! store is failing, and once space is freed the server recovers on its own, having lost
//! nothing it acknowledged. The data directory is a small tmpfs mounted by the test (root in
//! CI; elsewhere the test skips, saying why, when it cannot mount).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use luot_shared::protocol::{Role, TicketView};
use luot_shared::{Event, TicketId};
use luot_tests::{ADMIN, Api, ServerOptions, TestServer, assert_gap_free, copy_dir, poll_until};

/// Room on the tmpfs besides the data directory and the filler.
const TMPFS_SIZE: &str = "48m";
/// Issues tried on the full disk before giving up on seeing it refuse.
const MAX_TRIES_FULL: usize = 2000;
/// How long the server may take to notice the freed space.
const RECOVERY: Duration = Duration::from_secs(20);

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a tmpfs on `dir`, or says why not.
fn mount_tmpfs(dir: &Path) -> Result<Mount, String> {
    let output = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if output.status.success() {
        Ok(Mount(dir.to_owned()))
    } else {
        Err(format!(
            "mount -t tmpfs failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Fills the file system of `dir` with one file until it refuses a single byte more.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("create the filler");
    let mut written = 0u64;
    for size in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let chunk = vec![0xAAu8; size];
        while file.write_all(&chunk).is_ok() {
            written += size as u64;
        }
    }
    let _ = file.sync_all();
    written
}

async fn healthz(api: &Api) -> (u16, String) {
    let reply = api.get("/healthz").await;
    (reply.status, reply.body)
}

async fn metric(api: &Api, name: &str) -> Option<u64> {
    let text = api.get("/metrics").await.expect_status(200).body;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// With the disk full, issuing answers 503 `storage_unavailable` (never 500) and `/healthz`
/// answers 503 saying the store fails, with `luot_store_failing 1`; after the filler is
/// removed issuing works again without a restart, `/healthz` is ok, and after `kill -9` and a
/// restart every ticket acknowledged before, during and after the outage is there, once; a
/// screen connected throughout saw every durable event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_clearly_and_recovers_on_its_own() {
    let mut server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let admin = server.api_as(ADMIN);
    admin.open_counter(1).await;
    let mut acknowledged: Vec<TicketView> = Vec::new();
    for _ in 0..5 {
        acknowledged.push(server.api_as("kiosk").issue_ticket("tnmt").await);
    }

    // Move the data directory onto a small tmpfs.
    server.kill9();
    let data = server.data_dir();
    let saved = tempfile::Builder::new()
        .prefix("luot-saved-")
        .tempdir()
        .expect("temporary directory");
    copy_dir(&data, saved.path());
    let _mount = match mount_tmpfs(&data) {
        Ok(mount) => mount,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run the full-disk test, but {why}"
            );
            eprintln!("SKIPPED full_disk_refuses_clearly_and_recovers_on_its_own: {why}");
            return;
        }
    };
    copy_dir(saved.path(), &data);
    server.restart();
    let kiosk = server.api_as("kiosk");
    let admin = server.api_as(ADMIN);
    for _ in 0..5 {
        acknowledged.push(kiosk.issue_ticket("tnmt").await);
    }
    assert_eq!(healthz(&admin).await, (200, "ok".to_owned()));
    // A lobby screen watches throughout.
    let mut screen = server.ws(&server.token(ADMIN), None).await;
    let (watched_from, _) = screen.snapshot().await;

    let filler = data.join("filler");
    let filled = fill(&filler);
    eprintln!("filled the tmpfs with {filled} bytes");
    let mut refused = None;
    for _ in 0..MAX_TRIES_FULL {
        let reply = kiosk.issue("tnmt", None).await;
        if reply.status == 201 {
            acknowledged.push(reply.json());
            continue;
        }
        refused = Some(reply);
        break;
    }
    let refused = refused.expect("the full disk never refused an issue");
    let error = refused.expect_error(503);
    assert_eq!(error.code, "storage_unavailable", "{}", refused.body);
    // It stays refused, clearly, while the disk is full.
    let again = kiosk.issue("tnmt", None).await;
    assert_eq!(again.expect_error(503).code, "storage_unavailable");
    let (status, body) = healthz(&admin).await;
    assert_eq!(status, 503, "/healthz while the disk is full: {body}");
    assert!(body.contains("failing"), "/healthz body: {body}");
    assert_eq!(metric(&admin, "luot_store_failing").await, Some(1));
    // Readers still get the last durable state.
    admin.state().await;

    std::fs::remove_file(&filler).expect("remove the filler");
    let ticket: TicketView = poll_until(RECOVERY, "issuing to work again", || {
        let kiosk = kiosk.clone();
        async move {
            let reply = kiosk.issue("tnmt", None).await;
            (reply.status == 201).then(|| reply.json())
        }
    })
    .await;
    acknowledged.push(ticket);
    for _ in 0..5 {
        acknowledged.push(kiosk.issue_ticket("tnmt").await);
    }
    assert_eq!(healthz(&admin).await, (200, "ok".to_owned()));
    assert_eq!(metric(&admin, "luot_store_failing").await, Some(0));
    assert!(metric(&admin, "luot_store_reopened_total").await >= Some(1));
    // The screen saw every durable event once, in order, across the outage.
    let last = admin.seq().await;
    let seen = screen.events_through(last).await;
    assert_gap_free(&seen, watched_from + 1);
    let issued: BTreeSet<TicketId> = seen
        .iter()
        .filter_map(|r| match &r.event {
            Event::TicketIssued { ticket, .. } => Some(ticket.id),
            _ => None,
        })
        .collect();
    let during = acknowledged.iter().skip(10);
    for ticket in during {
        assert!(
            issued.contains(&ticket.id),
            "the screen missed {}",
            ticket.number
        );
    }

    server.restart();
    let admin = server.api_as(ADMIN);
    let mut called = Vec::new();
    while let Some(ticket) = admin.call_next(1).await {
        called.push(ticket);
        admin.counter_action(1, "no-show").await.expect_status(200);
    }
    let called_ids: BTreeSet<TicketId> = called.iter().map(|t| t.id).collect();
    assert_eq!(called_ids.len(), called.len(), "a ticket was called twice");
    let numbers: BTreeSet<&String> = called.iter().map(|t| &t.number).collect();
    assert_eq!(numbers.len(), called.len(), "a number was issued twice");
    for ticket in &acknowledged {
        assert!(
            called_ids.contains(&ticket.id),
            "acknowledged ticket {} ({}) is lost",
            ticket.number,
            ticket.id
        );
    }
    eprintln!(
        "{} acknowledged, {} present after the restart",
        acknowledged.len(),
        called.len()
    );
    server.kill9();
}
