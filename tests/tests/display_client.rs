//! The lobby display's library against the real server: the socket loop, the follower and the
//! announcer (with a recording sink, no sound card) through kills and restarts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use luot_display::announcer::{AnnounceSettings, Announcer};
use luot_display::audio::{Clip, RecordingOut};
use luot_display::link::{self, LinkConfig, LinkState, Shared};
use luot_display::speech::{DEFAULT_TEMPLATE, call_sentence};
use luot_display::voice::{Voice, VoiceError};
use luot_shared::follow::{FollowConfig, Follower};
use luot_shared::protocol::Role;
use luot_tests::{ServerOptions, TestServer, poll_until};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Says the words as the clip's label, in a millisecond of silence.
struct Words;

impl Voice for Words {
    fn speak(&mut self, words: &[String]) -> Result<Clip, VoiceError> {
        Ok(Clip::silence(&words.join(" "), Duration::from_millis(1)))
    }
}

/// The display keeps one address while the server's port changes on each restart, as a
/// lobby TV keeps one configured URL: a TCP relay forwards to wherever the server is now.
struct Relay {
    url: String,
    backend: Arc<Mutex<String>>,
    /// Connections the display opened.
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    async fn start(backend: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let url = format!("http://{}", listener.local_addr().expect("relay address"));
        let backend = Arc::new(Mutex::new(backend.to_string()));
        let target = backend.clone();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let to = target.lock().expect("relay target").clone();
                tokio::spawn(async move {
                    if let Ok(mut server) =
                        TcpStream::connect(to.trim_start_matches("http://")).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay {
            url,
            backend,
            accepted,
        }
    }

    fn point_at(&self, backend: &str) {
        *self.backend.lock().expect("relay target") = backend.to_string();
    }
}

struct Display {
    shared: Shared,
    recording: RecordingOut,
    stop: watch::Sender<bool>,
    link: tokio::task::JoinHandle<()>,
    announcer: Announcer,
}

fn start_display(url: &str, token: &str) -> Display {
    let shared = Shared::new(Follower::new(FollowConfig::default()));
    let recording = RecordingOut::new();
    let sink = recording.clone();
    let settings = AnnounceSettings {
        repeat: 1,
        ..AnnounceSettings::default()
    };
    let announcer = Announcer::spawn(settings, Some(Box::new(Words)), move || Box::new(sink));
    let mut config = LinkConfig::new(url, token);
    config.backoff_min = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(400);
    let (stop, stopped) = watch::channel(false);
    let link = tokio::spawn(link::run(
        config,
        shared.clone(),
        announcer.sender(),
        Arc::new(|| {}),
        stopped,
    ));
    Display {
        shared,
        recording,
        stop,
        link,
        announcer,
    }
}

impl Display {
    fn sentences(&self) -> Vec<String> {
        self.recording
            .played()
            .into_iter()
            .map(|p| p.label)
            .filter(|l| l != "chime" && l != "pause")
            .collect()
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.link.await;
        self.announcer.finish();
    }
}

/// 30 calls while the server is killed (`kill -9`) and restarted twice: the display ends
/// showing the server's state and announced each call exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_calls_through_two_server_restarts_are_each_announced_once() {
    let mut server = TestServer::start(
        ServerOptions::new()
            .token("display", Role::Display, None)
            .token("staff", Role::Staff, None),
    );
    let relay = Relay::start(server.base_url()).await;
    let display = start_display(&relay.url, &server.token("display"));
    let staff = server.api_as("staff");
    staff.open_counter(1).await;
    for _ in 0..30 {
        staff.issue_ticket("tnmt").await;
    }
    poll_until(
        Duration::from_secs(20),
        "the display's first snapshot",
        || async { display.shared.lock().follower.view().map(|_| ()) },
    )
    .await;

    let mut called = Vec::new();
    for i in 0..30 {
        if i == 10 || i == 20 {
            server.kill9();
            server.restart();
            relay.point_at(server.base_url());
        }
        let staff = server.api_as("staff");
        let ticket = staff.call_next(1).await.expect("a ticket waits");
        called.push(ticket.number);
    }
    let expected: Vec<String> = called
        .iter()
        .map(|n| call_sentence(DEFAULT_TEMPLATE, n, 1))
        .collect();
    let state = server.api_as("staff").state().await;
    poll_until(
        Duration::from_secs(30),
        "the display to catch up and speak",
        || async {
            let caught_up = display.shared.lock().follower.since() == Some(state.seq);
            (caught_up && display.sentences().len() >= expected.len()).then_some(())
        },
    )
    .await;

    assert_eq!(display.sentences(), expected, "each call once, in order");
    assert!(
        relay.accepted.load(Ordering::SeqCst) >= 3,
        "the display reconnected after each restart"
    );
    let chimes = display
        .recording
        .played()
        .iter()
        .filter(|p| p.label == "chime")
        .count();
    assert_eq!(chimes, 30);
    {
        let live = display.shared.lock();
        assert_eq!(live.link, LinkState::Online);
        let view = live.follower.view().expect("a view");
        assert_eq!(
            view.latest.as_ref().map(|c| c.number.as_str()),
            called.last().map(String::as_str)
        );
        let counter = view.counter(1).expect("counter 1");
        assert!(counter.open);
        assert_eq!(counter.current.as_ref().map(|t| &t.number), called.last());
        for s in &state.services {
            assert_eq!(
                view.service(&s.id).map(|v| v.waiting),
                Some(s.waiting),
                "{}",
                s.id
            );
        }
        let shown: Vec<&str> = view
            .recent_calls
            .iter()
            .map(|c| c.number.as_str())
            .collect();
        let server_shown: Vec<&str> = state
            .recent_calls
            .iter()
            .map(|c| c.ticket.number.as_str())
            .collect();
        assert_eq!(shown, server_shown);
    }
    display.stop().await;
}

/// A token the server does not know is shown as refused, and not retried in a storm: over a
/// second in which the ordinary backoff (50–400 ms) would have tried several times, it tries once.
#[tokio::test]
async fn unknown_token_is_refused_on_screen() {
    let server = TestServer::start(ServerOptions::new());
    let relay = Relay::start(server.base_url()).await;
    let display = start_display(&relay.url, "lt_not_a_real_token");
    let reason = poll_until(Duration::from_secs(10), "the refusal", || async {
        match &display.shared.lock().link {
            LinkState::Refused { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    })
    .await;
    assert!(reason.contains("401"), "{reason}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 1);
    assert!(matches!(
        display.shared.lock().link,
        LinkState::Refused { .. }
    ));
    assert!(display.sentences().is_empty());
    display.stop().await;
}

/// The `luot-display` binary beside this test (built by `cargo test --workspace`).
fn display_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join("luot-display"))
        .find(|candidate| candidate.is_file())
}

/// `--screenshot` under Xvfb connects, draws the server's state and writes a 1920×1080 PNG.
#[tokio::test]
async fn screenshot_writes_the_current_screen() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let xvfb = std::process::Command::new("which")
        .arg("xvfb-run")
        .output()
        .is_ok_and(|o| o.status.success());
    let (Some(binary), true) = (display_binary(), xvfb) else {
        assert!(!ci, "CI must have xvfb-run and build luot-display");
        eprintln!(
            "skipped: needs xvfb-run and the luot-display binary (cargo build -p luot-display)"
        );
        return;
    };
    let server = TestServer::start(ServerOptions::new().token("display", Role::Display, None));
    let staff = server.api_as(luot_tests::ADMIN);
    staff.open_counter(1).await;
    staff.issue_ticket("tnmt").await;
    staff.call_next(1).await.expect("a ticket waits");
    let dir = tempfile::tempdir().expect("temp dir");
    let png = dir.path().join("screen.png");
    let out = tokio::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(&binary)
        .args([
            "--server",
            server.base_url(),
            "--token",
            &server.token("display"),
        ])
        .args(["--window", "1920x1080+0+0", "--screenshot"])
        .arg(&png)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the screenshot run ended in time")
        .expect("xvfb-run runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("the PNG was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!((be(16), be(20)), (1920, 1080));
    // A screen with text and panels compresses far less than a blank one.
    assert!(bytes.len() > 40_000, "{} bytes", bytes.len());
}

/// A socket that goes silent (a NAT forgot it, the PC slept) is given up after the silence
/// limit, and the display comes back with `since` = the seq it had reached.
#[tokio::test]
async fn silent_socket_is_replaced_and_resumed_with_since() {
    use futures_util::SinkExt;
    use luot_shared::engine::{Command, Engine};
    use luot_shared::protocol::ServerMessage;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    let mut engine = Engine::new();
    let now = jiff::Timestamp::now();
    let opened = engine.handle(
        Command::Open {
            counter: 1,
            staff: "nv1".into(),
        },
        now,
    );
    assert!(opened.result.is_ok());
    let snapshot = serde_json::to_string(&ServerMessage::Snapshot {
        seq: engine.seq(),
        state: Box::new(engine.state_view(now)),
    })
    .expect("encode the snapshot");

    // A server that answers every connection with the snapshot, then says nothing more.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (uris_tx, mut uris) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let uris_tx = uris_tx.clone();
            // The callback's signature, with its large error type, is tungstenite's.
            #[allow(clippy::result_large_err)]
            let callback = move |request: &Request, response: Response| {
                let _ = uris_tx.send(request.uri().to_string());
                Ok(response)
            };
            if let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await {
                let _ = ws.send(Message::Text(snapshot.clone().into())).await;
                held.push(ws);
            }
        }
    });

    let shared = Shared::new(Follower::new(FollowConfig::default()));
    let mut config = LinkConfig::new(&url, "token");
    config.silence_limit = Duration::from_millis(300);
    config.backoff_min = Duration::from_millis(20);
    // Nothing is called here: the announcer's queue only has to exist.
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let (stop, stopped) = watch::channel(false);
    let link = tokio::spawn(link::run(
        config,
        shared.clone(),
        tx,
        Arc::new(|| {}),
        stopped,
    ));

    let first = tokio::time::timeout(Duration::from_secs(10), uris.recv())
        .await
        .expect("a first connection");
    assert_eq!(first.as_deref(), Some("/ws"));
    let second = tokio::time::timeout(Duration::from_secs(10), uris.recv())
        .await
        .expect("a reconnection");
    assert_eq!(second, Some(format!("/ws?since={}", engine.seq())));
    assert!(
        shared.lock().follower.view().is_some(),
        "the last state stays on screen"
    );
    let _ = stop.send(true);
    let _ = link.await;
}
