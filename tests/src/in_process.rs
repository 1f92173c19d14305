//! The server in-process (`Server::with_clock`) on a test's clock: for tests that step time
//! by hand rather than through the wall clock.

use std::path::Path;
use std::time::Duration;

use luot_server::clock::Clock;
use luot_server::{Options, Server};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running in-process server and what stops it.
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), String>>,
}

impl Running {
    /// Opens the data directory `dir` (waiting for a previous run to let go of it) and serves
    /// on a free port of 127.0.0.1, dating everything by `clock`.
    pub async fn start(dir: &Path, clock: &Clock) -> Running {
        // A roll-up thread of the previous run may still hold the data directory for a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let server = loop {
            match Server::open(Options {
                data_dir: dir.to_owned(),
                center: None,
                ship: None,
            }) {
                Ok(server) => break server,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    assert!(format!("{e:#}").contains("lock"), "the server opens: {e:#}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the server opens: {e:#}"),
            }
        }
        .with_clock(clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            server
                .run(listener, stopped)
                .await
                .map_err(|e| format!("{e:#}"))
        });
        Running { base, stop, task }
    }

    /// Stops the server and waits for a clean stop.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the server task")
            .expect("a clean stop");
    }
}
