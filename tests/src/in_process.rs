//! The server in-process (`Server::with_clock`) on a test's clock: for tests that step time
//! by hand rather than through the wall clock.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use luot_server::auth;
use luot_server::clock::Clock;
use luot_server::store::Store;
use luot_server::{Options, Server};
use luot_shared::protocol::Role;

use crate::Api;
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

/// The instant of `h:m:s` on `day` in Hà Nội time (the test centers' zone).
///
/// # Panics
///
/// On a time that does not exist.
pub fn hanoi(day: Date, h: i8, m: i8, s: i8) -> Timestamp {
    day.at(h, m, s, 0)
        .in_tz("Asia/Ho_Chi_Minh")
        .expect("a local time")
        .timestamp()
}

/// Tokens made on a stopped data directory, as `luot-server token create` does: `(label,
/// token)` for each `(label, role, counter)`.
///
/// # Panics
///
/// When the store does not open or a token cannot be made.
pub fn tokens(dir: &Path, specs: &[(&str, Role, Option<u32>)]) -> Vec<(String, String)> {
    let store = Store::open(dir).expect("the store opens");
    specs
        .iter()
        .map(|(label, role, counter)| {
            let (token, _) = auth::create_token(&store, *role, *counter, Some((*label).to_owned()))
                .expect("token created");
            ((*label).to_owned(), token)
        })
        .collect()
}

/// A client of `base` with the token labelled `label` (none when there is no such label).
pub fn api(base: &str, tokens: &[(String, String)], label: &str) -> Api {
    let token = tokens
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, t)| t.as_str());
    Api::new(base, token)
}

/// Moves a manual `clock` forward to `to`.
///
/// # Panics
///
/// When `to` is before the clock's time.
pub fn advance_to(clock: &Clock, to: Timestamp) {
    let by = to.duration_since(clock.now());
    clock.advance(Duration::try_from(by).expect("forward"));
}
