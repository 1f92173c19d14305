//! The accept loop: every connection bounded, idle ones closed, graceful stop.
//!
//! `axum::serve` sets no header read timeout and no connection limit, so a client that opens
//! thousands of sockets and sends nothing would hold them forever. Here each connection takes
//! a slot (none free: it is closed at once, an error to that client rather than an outage for
//! everyone), and a connection that has not sent a complete request head within
//! [`HEADER_TIMEOUT`] — a new one, or a keep-alive one between requests — is closed. An
//! upgraded WebSocket leaves the HTTP layer and is bounded by the WebSocket limits instead.
//!
//! Connections that have not yet sent a request with valid credentials are *unproven*. At
//! most half the slots may be unproven: past that, and whenever every slot is taken, a new
//! connection closes the oldest unproven one. However many connections anonymous clients open
//! and hold, a kiosk, console or screen gets a connection, and once it has shown its
//! credentials nothing can take it away.
//!
//! Only HTTP/1.1 is spoken: it is what kiosks, screens and browsers on a center's LAN use,
//! and it lets hyper time the request head from the first byte.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tower::ServiceExt as _;

use crate::metrics::Metrics;

/// A connection must send a complete request head within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for requests in flight before it abandons their connections.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Pause after an accept error (such as running out of file descriptors), so a persistent
/// error does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Largest buffered request head.
const MAX_HEAD: usize = 64 * 1024;
/// How long a new connection waits for the slot of a connection it closed.
const EVICT_WAIT: Duration = Duration::from_millis(100);

/// Connections one credential can make proven: a lobby screen or console needs one or two,
/// so a stolen token cannot make thousands of connections that are never closed to make room.
const MAX_PROVEN_PER_CREDENTIAL: usize = 64;

/// Connections that have not yet shown valid credentials, oldest first, with the signal that
/// closes each; and how many each credential has proven.
#[derive(Default)]
struct Unproven {
    next_id: u64,
    open: BTreeMap<u64, Arc<Notify>>,
    /// Proven connections: whose credential made each one proven.
    owner: HashMap<u64, String>,
    proven: HashMap<String, usize>,
}

impl Unproven {
    /// Closes the oldest unproven connection; false if there is none.
    fn evict_oldest(&mut self) -> bool {
        match self.open.pop_first() {
            Some((_, close)) => {
                close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The connection a request came on; the request guard marks it proven once a request on it
/// carried valid credentials.
#[derive(Clone)]
pub struct Connection {
    id: u64,
    unproven: Arc<Mutex<Unproven>>,
}

impl Connection {
    /// This connection showed the credential `key`: it is no longer closed to make room,
    /// unless that credential already holds [`MAX_PROVEN_PER_CREDENTIAL`] such connections.
    pub fn prove(&self, key: &str) {
        let mut unproven = lock(&self.unproven);
        let held = unproven.proven.get(key).copied().unwrap_or(0);
        if held >= MAX_PROVEN_PER_CREDENTIAL || !unproven.open.contains_key(&self.id) {
            return;
        }
        unproven.open.remove(&self.id);
        unproven.owner.insert(self.id, key.to_owned());
        *unproven.proven.entry(key.to_owned()).or_insert(0) += 1;
    }

    /// The connection ended.
    fn closed(&self) {
        let mut unproven = lock(&self.unproven);
        unproven.open.remove(&self.id);
        if let Some(key) = unproven.owner.remove(&self.id)
            && let Some(n) = unproven.proven.get_mut(&key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                unproven.proven.remove(&key);
            }
        }
    }
}

fn lock(unproven: &Mutex<Unproven>) -> std::sync::MutexGuard<'_, Unproven> {
    unproven.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves `app` on `listener` until `stop` completes, with at most `max_connections` HTTP
/// connections at once; then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let max_unproven = (max_connections / 2).max(1);
    let unproven = Arc::new(Mutex::new(Unproven::default()));
    let (stopping_tx, stopping) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    tokio::pin!(stop);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Every slot is taken: make room by closing the oldest unproven connection.
                let evicted = lock(&unproven).evict_oldest();
                let waited = if evicted {
                    metrics.connections_evicted.inc();
                    tokio::time::timeout(EVICT_WAIT, slots.clone().acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok)
                } else {
                    None
                };
                let Some(permit) = waited else {
                    metrics.connections_refused.inc();
                    tracing::warn!(%addr, max_connections, "connection limit reached; closing a new connection");
                    drop(stream);
                    continue;
                };
                permit
            }
        };
        let close = Arc::new(Notify::new());
        let connection_handle = {
            let mut open = lock(&unproven);
            while open.open.len() >= max_unproven && open.evict_oldest() {
                metrics.connections_evicted.inc();
            }
            let id = open.next_id;
            open.next_id += 1;
            open.open.insert(id, close.clone());
            Connection {
                id,
                unproven: unproven.clone(),
            }
        };
        let _ = stream.set_nodelay(true);
        let tag = connection_handle.clone();
        let service = app
            .clone()
            .map_request(move |mut request: axum::extract::Request<_>| {
                let extensions = request.extensions_mut();
                extensions.insert(ConnectInfo::<SocketAddr>(addr));
                extensions.insert(tag.clone());
                request
            });
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stopping = stopping.clone();
        let open = metrics.clone();
        open.http_connections.inc();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = close.notified() => {
                    tracing::debug!(%addr, "unproven connection closed to make room");
                    Ok(())
                }
                _ = async { stopping.wait_for(|s| *s).await.map(|_| ()) } => {
                    // Finish the request in flight, if any, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
            connection_handle.closed();
            open.http_connections.dec();
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    // Every connection task holds a slot until it ends: all slots free means all done.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(STOP_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {STOP_GRACE:?}; stopping anyway");
    }
}
