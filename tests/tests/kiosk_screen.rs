//! The `luot-kiosk` binary's `--screenshot` under Xvfb against the real server: it connects,
//! goes to the page asked for and writes the window as a PNG.

use std::time::Duration;

use luot_shared::protocol::Role;
use luot_tests::{ServerOptions, TestServer};

/// The `luot-kiosk` binary beside this test (built by `cargo test --workspace`).
fn kiosk_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join("luot-kiosk"))
        .find(|candidate| candidate.is_file())
}

/// `--screenshot --screenshot-page priority` on a portrait 1080×1920 window writes that page
/// as a 1080×1920 PNG; a refused token fails the run with a message instead of hanging.
#[tokio::test]
async fn screenshot_of_the_priority_page_in_portrait() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let xvfb = std::process::Command::new("which")
        .arg("xvfb-run")
        .output()
        .is_ok_and(|o| o.status.success());
    let (Some(binary), true) = (kiosk_binary(), xvfb) else {
        assert!(!ci, "CI must have xvfb-run and build luot-kiosk");
        eprintln!("skipped: needs xvfb-run and the luot-kiosk binary (cargo build -p luot-kiosk)");
        return;
    };
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    server.api_as("kiosk").issue_ticket("tnmt").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |token: String, png: std::path::PathBuf| {
        let out = tokio::process::Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1080x1920x24"])
            .arg(&binary)
            .args(["--server", server.base_url(), "--token", &token])
            .args(["--demo", "printed", "--mute", "--window", "1080x1920+0+0"])
            .args(["--screenshot-page", "priority", "--screenshot"])
            .arg(png)
            .kill_on_drop(true)
            .output();
        async move {
            tokio::time::timeout(Duration::from_secs(90), out)
                .await
                .expect("the screenshot run ended in time")
                .expect("xvfb-run runs")
        }
    };
    let png = dir.path().join("priority.png");
    let out = run(server.token("kiosk"), png.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("the PNG was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!((be(16), be(20)), (1080, 1920));
    assert!(bytes.len() > 40_000, "{} bytes", bytes.len());

    let refused = run("lt_not-a-token".into(), dir.path().join("refused.png")).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("screenshot failed"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
