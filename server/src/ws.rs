//! `/ws`: the event stream that screens, kiosks and consoles follow.
//!
//! A connection subscribes to the broadcast *before* it reads the state, so nothing falls
//! between the snapshot and the first event. It then sends a snapshot (or, when `since` is
//! recent, only the missed events from the log), and every event in `seq` order. A subscriber
//! that falls behind the broadcast buffer gets a fresh snapshot rather than silence. The server
//! pings; a peer silent for too long, or one that does not read what it is sent, is dropped.
//! On shutdown each connection sends `Close` itself.
//!
//! A connection re-checks its credential whenever any credential is revoked, and at every
//! ping: a revoked token, an ended session or a disabled account gets `Close` with code
//! [`CLOSE_REVOKED`] and the reason, within moments. A WebSocket opened with the session
//! cookie must come from a page of this server (`Origin` = `Host`): browsers send cookies
//! with cross-site WebSocket handshakes, so without this any web page a staff member opens
//! could follow the stream.

use std::future::Future as _;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt as _;
use luot_shared::protocol::{ClientMessage, ErrorBody, ErrorDetail, ServerMessage};
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, timeout};

use crate::AppState;
use crate::auth::{Credential, Principal};
use crate::error::{ApiError, Query, Result};

/// Largest text message a client may send (they only send pings).
pub(crate) const MAX_CLIENT_MESSAGE: usize = 4096;
/// Most missed events replayed from the log for `since`; further back gets a snapshot.
const MAX_REPLAY: u64 = 10_000;
/// Ping period, and how long a silent peer is kept.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(20);
pub(crate) const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// A send that cannot complete in this time means the peer stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-connection socket buffers: small, because a display receives little and there may be
/// thousands of them.
pub(crate) const BUFFER: usize = 4096;

/// Close code when the connection's credential was taken away (revoked token, ended session,
/// disabled account). Clients show it and do not retry at once.
pub const CLOSE_REVOKED: u16 = 4401;

/// WebSockets one credential may hold: every lobby screen of a large center on one shared
/// display token fits; one stolen token cannot take the server's 10,000.
const MAX_PER_CREDENTIAL: usize = 256;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[derive(Deserialize)]
struct WsParams {
    since: Option<u64>,
    // Read by the `Principal` extractor; named here so it is an accepted parameter.
    #[allow(dead_code)]
    token: Option<String>,
}

/// Whether the request's `Origin` names this server (the `Host` it was sent to).
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// The event stream that screens, kiosks and consoles follow.
#[utoipa::path(get, path = "/ws", tag = "queue",
    security(("bearer" = []), ("session" = []), ("ws_token" = [])),
    description = "Any role. A WebSocket (`Upgrade: websocket`); a browser without a way to set headers passes its token as `?token=`, and one using the session cookie must come from this server's pages (`Origin` = `Host`). The server sends `ServerMessage` frames (JSON text): a `snapshot` (or, with a recent `since`, only the `event`s after it), then every `event` in `seq` order, a fresh `snapshot` when the client fell behind, `pong` for a client `ping`, `error` for a frame it cannot take; the client sends `ClientMessage` (`{\"type\":\"ping\"}`). Closes with 4401 when the credential is taken away, 1001 when the server stops.",
    params(
        ("since" = Option<u64>, Query, description = "The last seq the client has: missed events are replayed rather than a snapshot sent, when recent enough"),
        ("token" = Option<String>, Query, description = "A device token, for clients that cannot send `Authorization`"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; frames are `ServerMessage` from the server, `ClientMessage` from the client", body = ServerMessage),
        (status = 400, description = "`not_websocket`: not a WebSocket handshake", body = ErrorBody),
        (status = 403, description = "`forbidden`: the session cookie from another site's page", body = ErrorBody),
        (status = 429, description = "`too_many_at_once`: too many WebSockets on this credential", body = ErrorBody),
        (status = 503, description = "`unavailable`: too many WebSocket connections", body = ErrorBody),
    ))]
async fn upgrade(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    Query(params): Query<WsParams>,
    upgrade: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response> {
    let upgrade = upgrade
        .map_err(|e| ApiError::Bad(StatusCode::BAD_REQUEST, "not_websocket", e.body_text()))?;
    if let Credential::Session(_) = who.credential
        && !same_origin(&headers)
    {
        return Err(ApiError::Forbidden(
            "a WebSocket with the session cookie must come from this server's own pages".into(),
        ));
    }
    let per_credential = app
        .quota
        .take(
            &format!("ws:{}", crate::auth::credential_key(&who.credential)),
            MAX_PER_CREDENTIAL,
        )
        .ok_or(ApiError::TooManyAtOnce)?;
    let permit = app
        .ws_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable("too many WebSocket connections".into()))?;
    Ok(upgrade
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            app.metrics.ws_connections.inc();
            let _per_credential = per_credential;
            if let Err(e) = serve(socket, &app, params.since, who.credential, permit).await {
                tracing::debug!(reason = e, "websocket closed");
            }
            app.metrics.ws_connections.dec();
        }))
}

/// Sends a message; a peer that does not take it within [`SEND_TIMEOUT`] is dropped.
///
/// The send is tried once first: almost always the socket takes the frame at once, and a
/// timer is armed only when it does not (a timer per frame costs more than the send itself
/// when a call goes out to thousands of screens).
pub(crate) async fn send(
    socket: &mut WebSocket,
    message: Message,
) -> std::result::Result<(), &'static str> {
    let mut sending = std::pin::pin!(socket.send(message));
    let first = std::future::poll_fn(|cx| Poll::Ready(sending.as_mut().poll(cx))).await;
    let result = match first {
        Poll::Ready(result) => result,
        Poll::Pending => match timeout(SEND_TIMEOUT, sending).await {
            Ok(result) => result,
            Err(_) => return Err("peer stopped reading"),
        },
    };
    result.map_err(|_| "send failed")
}

pub(crate) async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = send(socket, Message::Close(Some(frame))).await;
}

fn error_message(code: &str, message: String) -> Message {
    let error = ServerMessage::Error {
        error: ErrorDetail {
            code: code.into(),
            message,
            field: None,
        },
    };
    Message::Text(serde_json::to_string(&error).unwrap_or_default().into())
}

/// Sends what the client missed since `since`, or a snapshot; returns the seq it is now at.
async fn catch_up(
    socket: &mut WebSocket,
    app: &AppState,
    since: Option<u64>,
) -> std::result::Result<u64, &'static str> {
    let published = app.engine.published();
    let current = published.view.seq;
    if let Some(since) = since
        && since <= current
        && current - since <= MAX_REPLAY
    {
        match app.store.events(since + 1, current, MAX_REPLAY as usize) {
            Ok(events) if events.len() as u64 == current - since => {
                for rec in events {
                    let text =
                        serde_json::to_string(&ServerMessage::Event(rec)).unwrap_or_default();
                    send(socket, Message::Text(text.into())).await?;
                }
                return Ok(current);
            }
            Ok(_) => tracing::warn!(
                since,
                current,
                "log shorter than expected; sending a snapshot"
            ),
            Err(e) => tracing::error!(error = %e, "cannot read the log; sending a snapshot"),
        }
    }
    send(socket, Message::Text(published.snapshot_text())).await?;
    Ok(current)
}

async fn serve(
    mut socket: WebSocket,
    app: &AppState,
    since: Option<u64>,
    credential: Credential,
    _permit: OwnedSemaphorePermit,
) -> std::result::Result<(), &'static str> {
    let mut events = app.engine.subscribe();
    let mut shutdown = app.shutdown.clone();
    let revocations = app.auth.revocations();
    let revoked = |app: &AppState| match app.auth.check(&credential) {
        Ok(_) => None,
        Err(ApiError::Unauthorized(_)) => Some("credentials revoked"),
        // A store failure is not a revocation: keep serving.
        Err(_) => None,
    };
    // Subscribed first, then checked: a revocation between the handshake's check and here
    // is caught now, any later one by the subscription.
    if let Some(reason) = revoked(app) {
        close(&mut socket, CLOSE_REVOKED, reason).await;
        return Err("credential revoked before the stream began");
    }
    if *shutdown.borrow_and_update() {
        close(&mut socket, close_code::AWAY, "server shutting down").await;
        return Ok(());
    }
    let mut at = catch_up(&mut socket, app, since).await?;
    // The two watches as streams, whose waiting futures live across the loop: re-creating
    // them on every event would register and unregister thousands of waiters per call.
    let mut revoked_signals = std::pin::pin!(futures_util::stream::unfold(
        revocations,
        |mut rx| async move { rx.changed().await.ok().map(|()| ((), rx)) }
    ));
    let mut stopping = std::pin::pin!(async move {
        // Also ends if the sender is gone, which only happens when stopping.
        let _ = shutdown.changed().await;
    });
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            frame = events.recv() => match frame {
                Ok(frame) if frame.seq <= at => {}
                Ok(frame) if frame.seq == at + 1 => {
                    send(&mut socket, Message::Text(frame.text)).await?;
                    at = frame.seq;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    // Fell behind (or, defensively, saw a gap): start over from the state.
                    app.metrics.ws_lag_snapshots.inc();
                    let published = app.engine.published();
                    send(&mut socket, Message::Text(published.snapshot_text())).await?;
                    at = published.view.seq;
                }
                Err(RecvError::Closed) => {
                    close(&mut socket, close_code::AWAY, "server stopping").await;
                    return Ok(());
                }
            },
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(_)) => {
                        close(&mut socket, close_code::SIZE, "message too big or malformed").await;
                        return Err("bad frame from client");
                    }
                    Some(Ok(Message::Text(text))) => {
                        if text.len() > MAX_CLIENT_MESSAGE {
                            let message = format!("messages are limited to {MAX_CLIENT_MESSAGE} bytes");
                            send(&mut socket, error_message("message_too_large", message)).await?;
                            close(&mut socket, close_code::SIZE, "message too big").await;
                            return Err("client message too large");
                        }
                        let reply = match ClientMessage::decode(text.as_str()) {
                            Ok(ClientMessage::Ping) => {
                                Message::Text(serde_json::to_string(&ServerMessage::Pong).unwrap_or_default().into())
                            }
                            Err(e) => error_message("bad_message", format!("cannot read message: {e}")),
                        };
                        send(&mut socket, reply).await?;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        send(&mut socket, error_message("bad_message", "binary messages are not accepted".into())).await?;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                }
            }
            Some(()) = revoked_signals.next() => {
                if let Some(reason) = revoked(app) {
                    close(&mut socket, CLOSE_REVOKED, reason).await;
                    return Err("credential revoked");
                }
            }
            _ = ping.tick() => {
                if let Some(reason) = revoked(app) {
                    close(&mut socket, CLOSE_REVOKED, reason).await;
                    return Err("credential revoked");
                }
                if last_heard.elapsed() > SILENCE_LIMIT {
                    close(&mut socket, close_code::AWAY, "no answer to pings").await;
                    return Err("peer silent");
                }
                send(&mut socket, Message::Ping(Default::default())).await?;
            }
            () = &mut stopping => {
                // Also reached if the sender is gone, which only happens when stopping.
                close(&mut socket, close_code::AWAY, "server shutting down").await;
                return Ok(());
            }
        }
    }
}
