//! The socket loop: connects to `/ws`, feeds every message to the [`Follower`], passes the
//! calls it decides to announce to the announcer, and reconnects — with backoff and jitter,
//! from `since`, after a gap, a silent socket, or the machine waking from sleep.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use jiff::Timestamp;
use luot_shared::follow::{Announcement, Follower, Step};
use luot_shared::protocol::ServerMessage;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How often the loop compares the wall clock with the monotonic clock.
const CLOCK_CHECK: Duration = Duration::from_secs(2);
/// A difference this large between the two clocks over one check means the machine slept
/// or its time was set: reload.
const CLOCK_JUMP: Duration = Duration::from_secs(5);
/// Longest the connection attempt itself may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that lived this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);
/// Largest message accepted from the server (a snapshot of a busy center is a few tens of KiB).
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// How the loop connects and retries.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Server base URL, e.g. `http://10.0.0.2:8080`.
    pub server: String,
    /// The display's device token.
    pub token: String,
    /// First retry delay; it doubles on each failure.
    pub backoff_min: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
    /// Retry delay after the server refused the token.
    pub refused_retry: Duration,
    /// A socket silent this long is dead (a NAT dropped it, the machine slept) even if the
    /// kernel has not noticed; the server pings every 20 s.
    pub silence_limit: Duration,
}

impl LinkConfig {
    /// The defaults for `server` and `token`.
    pub fn new(server: &str, token: &str) -> LinkConfig {
        LinkConfig {
            server: server.trim_end_matches('/').to_string(),
            token: token.to_string(),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            refused_retry: Duration::from_secs(60),
            silence_limit: Duration::from_secs(50),
        }
    }

    /// The WebSocket URL, with `since` when resuming.
    pub fn ws_url(&self, since: Option<u64>) -> String {
        let base = if let Some(rest) = self.server.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.server.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.server.clone()
        };
        match since {
            Some(s) => format!("{base}/ws?since={s}"),
            None => format!("{base}/ws"),
        }
    }
}

/// The state of the connection, for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet since the start.
    Connecting,
    /// Receiving the stream.
    Online,
    /// Lost; retrying. `since` is when it was lost (client clock).
    Offline {
        /// When the connection was lost.
        since: Timestamp,
        /// Why, in plain words.
        reason: String,
    },
    /// The server refused the token (revoked, unknown) or the connection.
    Refused {
        /// Since when.
        since: Timestamp,
        /// What the server said.
        reason: String,
    },
}

/// What the socket loop and the screen share: the follower and the link's state.
#[derive(Debug)]
pub struct Live {
    /// The stream follower with the view.
    pub follower: Follower,
    /// The connection.
    pub link: LinkState,
}

/// The shared state, locked briefly by the loop and by each frame (never across an await).
#[derive(Debug, Clone)]
pub struct Shared(Arc<Mutex<Live>>);

impl Shared {
    /// A shared state around a fresh follower.
    pub fn new(follower: Follower) -> Shared {
        Shared(Arc::new(Mutex::new(Live {
            follower,
            link: LinkState::Connecting,
        })))
    }

    /// Locks it; a panicked holder leaves the data usable (it is only a view).
    pub fn lock(&self) -> MutexGuard<'_, Live> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How one connection ended.
enum Ended {
    /// Reconnect soon (after backoff).
    Lost(String),
    /// Reconnect at once from this `since` (a gap, a wake-up).
    Resync,
    /// The server refused us.
    Refused(String),
    /// Shutdown was asked.
    Shutdown,
}

/// Runs until `shutdown` turns true. `repaint` is called whenever the view changed.
pub async fn run(
    config: LinkConfig,
    shared: Shared,
    announce: mpsc::Sender<Announcement>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let opened = Instant::now();
        let ended = connect_and_follow(&config, &shared, &announce, &*repaint, &mut shutdown).await;
        let delay = match ended {
            Ended::Shutdown => return,
            // Soon, but never in a tight loop should a server keep sending gaps.
            Ended::Resync => config.backoff_min,
            Ended::Lost(reason) => {
                if opened.elapsed() >= STABLE {
                    failures = 0;
                }
                tracing::warn!(%reason, "connection lost");
                let mut live = shared.lock();
                if !matches!(live.link, LinkState::Offline { .. }) {
                    live.link = LinkState::Offline {
                        since: Timestamp::now(),
                        reason,
                    };
                }
                failures = failures.saturating_add(1);
                backoff(&config, failures)
            }
            Ended::Refused(reason) => {
                tracing::error!(%reason, "the server refused this display's token");
                let mut live = shared.lock();
                if !matches!(live.link, LinkState::Refused { .. }) {
                    live.link = LinkState::Refused {
                        since: Timestamp::now(),
                        reason,
                    };
                }
                config.refused_retry
            }
        };
        repaint();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Notices the machine sleeping or its time being set: the wall clock moves by more (or
/// less) than the monotonic clock, which stops while the machine sleeps.
#[derive(Debug, Clone, Copy)]
pub struct ClockWatch {
    wall: Timestamp,
    mono: Instant,
}

impl ClockWatch {
    /// Starts watching from these readings.
    pub fn new(wall: Timestamp, mono: Instant) -> ClockWatch {
        ClockWatch { wall, mono }
    }

    /// Takes new readings; returns how far the clocks drifted apart since the last ones when
    /// that is more than [`CLOCK_JUMP`].
    pub fn jumped(&mut self, wall: Timestamp, mono: Instant) -> Option<Duration> {
        let wall_step = wall.duration_since(self.wall).as_secs_f64();
        let mono_step = mono.saturating_duration_since(self.mono).as_secs_f64();
        self.wall = wall;
        self.mono = mono;
        let drift = (wall_step - mono_step).abs();
        (drift > CLOCK_JUMP.as_secs_f64()).then(|| Duration::from_secs_f64(drift))
    }
}

/// Exponential backoff with full jitter between half and all of the step.
fn backoff(config: &LinkConfig, failures: u32) -> Duration {
    let step = config
        .backoff_min
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(config.backoff_max);
    let jitter = rand::rng().random_range(0.5..=1.0);
    step.mul_f64(jitter)
}

async fn connect_and_follow(
    config: &LinkConfig,
    shared: &Shared,
    announce: &mpsc::Sender<Announcement>,
    repaint: &(dyn Fn() + Send + Sync),
    shutdown: &mut watch::Receiver<bool>,
) -> Ended {
    let since = shared.lock().follower.since();
    let mut request = match config.ws_url(since).into_client_request() {
        Ok(r) => r,
        Err(e) => return Ended::Refused(format!("bad server address: {e}")),
    };
    match HeaderValue::from_str(&format!("Bearer {}", config.token)) {
        Ok(v) => {
            request.headers_mut().insert("authorization", v);
        }
        Err(_) => return Ended::Refused("the token has characters a header cannot carry".into()),
    }
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    let mut socket = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => return Ended::Lost("connection timed out".into()),
        Ok(Err(WsError::Http(response))) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            let reason = format!(
                "HTTP {status} {}",
                body.chars().take(200).collect::<String>()
            );
            return if status == 401 || status == 403 {
                Ended::Refused(reason)
            } else {
                Ended::Lost(reason)
            };
        }
        Ok(Err(e)) => return Ended::Lost(e.to_string()),
        Ok(Ok((socket, _))) => socket,
    };
    tracing::info!(?since, "connected");
    {
        let mut live = shared.lock();
        live.follower.connected(Timestamp::now());
        live.link = LinkState::Online;
    }
    repaint();
    let mut last_frame = Instant::now();
    let mut clock = tokio::time::interval(CLOCK_CHECK.min(config.silence_limit / 2));
    let mut watch = ClockWatch::new(Timestamp::now(), Instant::now());
    loop {
        tokio::select! {
            frame = socket.next() => {
                last_frame = Instant::now();
                let text = match frame {
                    None => return Ended::Lost("the server closed the connection".into()),
                    Some(Err(e)) => return Ended::Lost(e.to_string()),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        let reason = format!("closed by the server ({code} {reason})");
                        return if code == 4401 || code == 4403 {
                            Ended::Refused(reason)
                        } else {
                            Ended::Lost(reason)
                        };
                    }
                    Some(Ok(_)) => continue,
                };
                let message = match ServerMessage::decode(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable message from the server");
                        continue;
                    }
                };
                let (step, calls) = {
                    let mut live = shared.lock();
                    let step = live.follower.handle(message, Timestamp::now());
                    let calls: Vec<Announcement> =
                        std::iter::from_fn(|| live.follower.next_announcement()).collect();
                    (step, calls)
                };
                repaint();
                for call in calls {
                    // Waits for room: a call is never dropped.
                    if announce.send(call).await.is_err() {
                        return Ended::Shutdown;
                    }
                }
                match step {
                    Step::Reconnect { since } => {
                        tracing::warn!(?since, "gap in the stream; resuming");
                        let _ = socket.close(None).await;
                        return Ended::Resync;
                    }
                    Step::ServerError(e) => tracing::warn!(code = %e.code, message = %e.message, "server error"),
                    Step::Applied | Step::Duplicate | Step::Pong => {}
                }
            }
            _ = clock.tick() => {
                let wall_now = Timestamp::now();
                shared.lock().follower.tick(wall_now);
                if let Some(jump) = watch.jumped(wall_now, Instant::now()) {
                    tracing::warn!(seconds = jump.as_secs_f64(), "the clock jumped (sleep or time change); reloading");
                    shared.lock().follower.clock_jumped();
                    let _ = socket.close(None).await;
                    return Ended::Resync;
                }
                if last_frame.elapsed() > config.silence_limit {
                    let _ = socket.close(None).await;
                    return Ended::Lost("the server went silent".into());
                }
                repaint();
            }
            _ = shutdown.changed() => {
                let _ = socket.close(None).await;
                return Ended::Shutdown;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Retries double from the minimum up to the maximum, each jittered to half–all of its step.
    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let config = LinkConfig::new("http://x", "t");
        for failures in 1..=30 {
            let step = config
                .backoff_min
                .saturating_mul(1 << (failures - 1).min(16))
                .min(config.backoff_max);
            for _ in 0..20 {
                let d = backoff(&config, failures);
                assert!(d >= step / 2 && d <= step, "{failures}: {d:?} vs {step:?}");
            }
        }
        assert!(backoff(&config, 30) <= config.backoff_max);
    }

    /// A wall clock leaping ahead of the monotonic one (asleep) or set back is noticed; ticks are not.
    #[test]
    fn clock_watch_notices_sleep_and_time_changes() {
        let wall = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let mono = Instant::now();
        let mut watch = ClockWatch::new(wall, mono);
        let two = Duration::from_secs(2);
        let wall = wall + two;
        assert_eq!(watch.jumped(wall, mono + two), None);
        // Asleep for eight hours: the monotonic clock moved two seconds.
        let wall = wall + Duration::from_secs(8 * 3600);
        let jump = watch.jumped(wall, mono + two * 2).unwrap_or_default();
        assert!(jump > Duration::from_secs(8 * 3600 - 10), "{jump:?}");
        // The time set back a minute.
        let wall = wall - Duration::from_secs(60);
        assert!(watch.jumped(wall, mono + two * 3).is_some());
        assert_eq!(watch.jumped(wall + two, mono + two * 4), None);
    }

    /// The WebSocket address follows the server's scheme and carries `since` when resuming.
    #[test]
    fn ws_url_from_the_server_address() {
        let c = LinkConfig::new("http://10.0.0.2:8080/", "t");
        assert_eq!(c.ws_url(None), "ws://10.0.0.2:8080/ws");
        assert_eq!(c.ws_url(Some(42)), "ws://10.0.0.2:8080/ws?since=42");
        let c = LinkConfig::new("https://luot.example", "t");
        assert_eq!(c.ws_url(None), "wss://luot.example/ws");
    }
}
