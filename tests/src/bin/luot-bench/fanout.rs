//! Many lobby displays on WebSockets: each reports when a wanted message reached it, so a
//! round measures how long a call takes to reach all of them (on Lượt, or on the bare
//! broadcaster `luot-baseline broadcast`, with the same message size and client count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Barrier, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// How long a display may wait for a message before the run fails.
const WAIT: Duration = Duration::from_secs(30);

/// Connected displays: each task reports, for every message matching `wanted`, the instant it
/// arrived.
pub(crate) struct Displays {
    arrivals: mpsc::UnboundedReceiver<Instant>,
    count: usize,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Displays {
    /// Connects `count` clients, spread over `urls` (one per display token: the server lets
    /// one credential hold at most 256 WebSockets), and waits until each has read its first message
    /// (the snapshot on the real server; nothing on the bare one, where `first` is false).
    pub(crate) async fn connect(
        urls: &[String],
        count: usize,
        first: bool,
        wanted: &'static str,
    ) -> Displays {
        let (tx, arrivals) = mpsc::unbounded_channel();
        let ready = Arc::new(Barrier::new(count + 1));
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            let (tx, ready, url) = (tx.clone(), ready.clone(), urls[i % urls.len()].clone());
            tasks.push(tokio::spawn(async move {
                let (mut ws, _) = loop {
                    match tokio_tungstenite::connect_async(url.as_str()).await {
                        Ok(pair) => break pair,
                        // The listen backlog overflows while thousands connect at once.
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                };
                if first {
                    let _ = tokio::time::timeout(WAIT, ws.next()).await;
                }
                ready.wait().await;
                while let Ok(Some(Ok(msg))) = tokio::time::timeout(WAIT * 4, ws.next()).await {
                    match msg {
                        Message::Text(text)
                            if text.as_str().contains(wanted)
                                && tx.send(Instant::now()).is_err() =>
                        {
                            break;
                        }
                        Message::Text(_) => {}
                        Message::Ping(payload) => {
                            let _ = ws.send(Message::Pong(payload)).await;
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
            }));
        }
        ready.wait().await;
        Displays {
            arrivals,
            count,
            tasks,
        }
    }

    /// Waits until every display has received one more wanted message; returns each one's
    /// delay after `sent`.
    pub(crate) async fn round(&mut self, sent: Instant) -> Vec<Duration> {
        let mut delays = Vec::with_capacity(self.count);
        while delays.len() < self.count {
            let at = tokio::time::timeout(WAIT, self.arrivals.recv())
                .await
                .expect("every display receives the message")
                .expect("display tasks run");
            delays.push(at.saturating_duration_since(sent));
        }
        delays
    }

    /// Disconnects every display.
    pub(crate) fn close(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}
