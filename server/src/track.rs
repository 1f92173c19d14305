//! Following one ticket from a phone: `GET /api/v1/track/{track}` and the live channel
//! `/ws/track/{track}` behind the page `/t/{track}` that the printed QR code opens.
//!
//! The track secret in the path is the only credential (a phone has no token). It is checked
//! before anything else, in constant time, and the ticket looked up in today's queue: a
//! forged or unknown secret gets `404` before any upgrade, by the same steps as the plain
//! `GET`, so the socket tells an attacker nothing the `GET` does not.
//!
//! A connection sends the ticket's [`TrackView`] at once and again whenever it changes. Any
//! event may change it (the ticket's own transitions, a call ahead of it, a counter opening,
//! a call shown to the lobby), so every event marks the view stale; a stale view is rebuilt
//! once per [`COALESCE`] (a burst of events costs one look-up per phone) and sent only if it
//! differs from the last one sent. The view carries no more of other citizens than the lobby
//! screen shows ([`LobbyCall`]).
//!
//! Phones are anonymous, so they are bounded apart from the devices the center runs on: at
//! most [`MAX_PER_ADDRESS`] sockets per address, [`MAX_PER_TICKET`] per ticket and
//! [`MAX_TRACK_SOCKETS`] in all (the rest of the WebSocket slots stay for screens, kiosks
//! and consoles). Pings, the silence limit, the send timeout for a peer that stopped reading
//! and the `Close` on shutdown are those of `/ws`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use luot_shared::protocol::{
    ClientMessage, ErrorBody, ErrorDetail, LobbyCall, TrackMessage, TrackView,
};
use luot_shared::{TicketId, TicketStatus};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::AppState;
use crate::error::{ApiError, Json, Path, Result};
use crate::quota::Held;
use crate::ws::{BUFFER, MAX_CLIENT_MESSAGE, PING_EVERY, SILENCE_LIMIT, close, send};

/// Track sockets one address may hold. A phone holds one, and one more for a while after it
/// woke from sleep (the dead one lingers until the silence limit); a center whose guest
/// Wi-Fi is put behind one address (NAT) shares this among all its phones.
pub const MAX_PER_ADDRESS: usize = 32;
/// Track sockets one ticket may have: a citizen's phone and a relative's, with room for
/// sockets of sleeping phones that have not yet been found dead.
pub const MAX_PER_TICKET: usize = 8;
/// Track sockets in all: a busy day's visitors following their tickets at once, well within
/// the WebSocket slots, so phones never take those of the lobby screens and counters.
pub const MAX_TRACK_SOCKETS: usize = 2048;
/// Events within this time after a first one are folded into one rebuilt view.
pub const COALESCE: Duration = Duration::from_millis(250);
/// After a failed look-up (the store failing), the next try waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/track/{track}", get(track))
        .route("/ws/track/{track}", get(upgrade))
}

fn missing() -> ApiError {
    ApiError::NotFound("no such ticket today".into())
}

/// The ticket a track secret stands for, if the secret is genuine and the ticket is in
/// today's queue: the check shared by the page, the `GET` and the socket.
pub async fn lookup(app: &AppState, track: &str) -> Result<(TicketId, TrackView)> {
    let id = app.auth.verify_track(track).ok_or_else(missing)?;
    let view = view(app, id, track).await?.ok_or_else(missing)?;
    Ok((id, view))
}

/// The view of ticket `id` as of now, or `None` once it is no longer in today's queue.
async fn view(app: &AppState, id: TicketId, track: &str) -> Result<Option<TrackView>> {
    let Some(mut ticket) = app.engine.ticket(id).await? else {
        return Ok(None);
    };
    ticket.track = Some(track.to_owned());
    let published = app.engine.published();
    let state = &published.view;
    let counter_name = |counter| {
        state
            .counters
            .iter()
            .find(|c| c.id == counter)
            .map_or_else(|| format!("Quầy {counter}"), |c| c.name.clone())
    };
    Ok(Some(TrackView {
        counter_name: ticket.counter.map(counter_name),
        ticket,
        center: state.center.clone(),
        recent_calls: state
            .recent_calls
            .iter()
            .map(|call| LobbyCall {
                number: call.ticket.number.clone(),
                counter: call.counter,
                counter_name: counter_name(call.counter),
                at: call.at,
                recall: call.recall,
            })
            .collect(),
    }))
}

/// The ticket a track secret stands for, as its holder follows it.
#[utoipa::path(get, path = "/api/v1/track/{track}", tag = "tracking", security(()),
    description = "Anyone holding the secret printed on the ticket (the QR code).",
    params(("track" = String, Path, description = "The ticket's track secret")),
    responses(
        (status = 200, description = "The ticket, its place and estimate, and the recent calls", body = TrackView),
        (status = 404, description = "`not_found`: no such ticket today (or a forged secret)", body = ErrorBody),
    ))]
async fn track(State(app): State<AppState>, Path(track): Path<String>) -> Result<Json<TrackView>> {
    Ok(Json(lookup(&app, &track).await?.1))
}

/// What one track socket holds; given back when it ends.
struct Slots {
    _address: Held,
    _ticket: Held,
    _all: Held,
    _socket: OwnedSemaphorePermit,
}

/// The live channel of one ticket, for the phone page.
#[utoipa::path(get, path = "/ws/track/{track}", tag = "tracking", security(()),
    description = "A WebSocket (`Upgrade: websocket`). The server sends `TrackMessage` frames (JSON text): `track` at once and whenever the view changes, `pong` for a client `ping`, `error` for a frame it cannot take; the client sends `ClientMessage` (`{\"type\":\"ping\"}`). Closes with 4404 once the ticket leaves today's queue, 1001 when the server stops. A forged or unknown secret is answered 404 before any upgrade.",
    params(("track" = String, Path, description = "The ticket's track secret")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; frames are `TrackMessage` from the server, `ClientMessage` from the client", body = TrackMessage),
        (status = 400, description = "`not_websocket`: not a WebSocket handshake", body = ErrorBody),
        (status = 404, description = "`not_found`: no such ticket today", body = ErrorBody),
        (status = 429, description = "`too_many_at_once`: too many track sockets from this address or for this ticket", body = ErrorBody),
        (status = 503, description = "`unavailable`: too many WebSocket connections", body = ErrorBody),
    ))]
async fn upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(track): Path<String>,
    upgrade: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response> {
    // The secret first: nothing else about the request is answered to a forged one.
    let (id, _) = lookup(&app, &track).await?;
    let upgrade = upgrade
        .map_err(|e| ApiError::Bad(StatusCode::BAD_REQUEST, "not_websocket", e.body_text()))?;
    let address = app
        .quota
        .take(
            &format!("track-ws:addr:{}", network_of(peer.ip())),
            MAX_PER_ADDRESS,
        )
        .ok_or(ApiError::TooManyAtOnce)?;
    let ticket = app
        .quota
        .take(&format!("track-ws:ticket:{id}"), MAX_PER_TICKET)
        .ok_or(ApiError::TooManyAtOnce)?;
    let all = app
        .quota
        .take("track-ws:all", MAX_TRACK_SOCKETS)
        .ok_or_else(|| ApiError::Unavailable("too many phones are following tickets".into()))?;
    let socket = app
        .ws_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable("too many WebSocket connections".into()))?;
    let slots = Slots {
        _address: address,
        _ticket: ticket,
        _all: all,
        _socket: socket,
    };
    Ok(upgrade
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            app.metrics.ws_connections.inc();
            let _slots = slots;
            if let Err(e) = serve(socket, &app, id, &track).await {
                tracing::debug!(reason = e, "track websocket closed");
            }
            app.metrics.ws_connections.dec();
        }))
}

fn text_of(message: &TrackMessage) -> Message {
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

fn error_message(code: &str, message: String) -> Message {
    text_of(&TrackMessage::Error {
        error: ErrorDetail {
            code: code.into(),
            message,
            field: None,
        },
    })
}

async fn serve(
    mut socket: WebSocket,
    app: &AppState,
    id: TicketId,
    track: &str,
) -> std::result::Result<(), &'static str> {
    // Subscribed before the first view is built: a change in between marks it stale.
    let mut events = app.engine.subscribe();
    let mut shutdown = app.shutdown.clone();
    if *shutdown.borrow_and_update() {
        close(&mut socket, close_code::AWAY, "server shutting down").await;
        return Ok(());
    }
    let mut stopping = std::pin::pin!(async move {
        // Also ends if the sender is gone, which only happens when stopping.
        let _ = shutdown.changed().await;
    });
    let mut last_sent: Option<String> = None;
    // Due at once: the first view goes out as soon as the loop starts.
    let mut stale_until: Option<Instant> = Some(Instant::now());
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    loop {
        let due = stale_until.unwrap_or_else(Instant::now);
        tokio::select! {
            frame = events.recv() => match frame {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    stale_until.get_or_insert_with(|| Instant::now() + COALESCE);
                }
                Err(RecvError::Closed) => {
                    close(&mut socket, close_code::AWAY, "server stopping").await;
                    return Ok(());
                }
            },
            () = tokio::time::sleep_until(due), if stale_until.is_some() => {
                stale_until = None;
                match view(app, id, track).await {
                    Ok(Some(view)) => {
                        let over = matches!(
                            view.ticket.status,
                            TicketStatus::Done | TicketStatus::Cancelled | TicketStatus::Expired
                        );
                        let text = serde_json::to_string(&TrackMessage::Track { view })
                            .unwrap_or_default();
                        if last_sent.as_deref() != Some(text.as_str()) {
                            send(&mut socket, Message::Text(text.clone().into())).await?;
                            last_sent = Some(text);
                        }
                        // Nothing more can happen to it: its last view was sent, the slot is
                        // freed for another phone.
                        if over {
                            close(&mut socket, close_code::NORMAL, "the visit is over").await;
                            return Ok(());
                        }
                    }
                    Ok(None) => {
                        close(&mut socket, TrackMessage::CLOSE_GONE, "this ticket is no longer in today's queue").await;
                        return Ok(());
                    }
                    Err(_) => {
                        // The store is failing or the server stopping: try again shortly.
                        stale_until = Some(Instant::now() + RETRY_AFTER_FAILURE);
                    }
                }
            }
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(_)) => {
                        close(&mut socket, close_code::SIZE, "message too big or malformed").await;
                        return Err("bad frame from client");
                    }
                    Some(Ok(Message::Text(text))) => {
                        let reply = match ClientMessage::decode(text.as_str()) {
                            Ok(ClientMessage::Ping) => text_of(&TrackMessage::Pong),
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
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    close(&mut socket, close_code::AWAY, "no answer to pings").await;
                    return Err("peer silent");
                }
                send(&mut socket, Message::Ping(Default::default())).await?;
            }
            () = &mut stopping => {
                close(&mut socket, close_code::AWAY, "server shutting down").await;
                return Ok(());
            }
        }
    }
}

/// The network a peer's address stands for: an IPv4 address itself; for IPv6 its /64, the
/// block one device may pick addresses from at will.
fn network_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::network_of;

    /// IPv6 peers count by their /64; IPv4 (also mapped into IPv6) by the address.
    #[test]
    fn peers_count_by_network() {
        let a = network_of("2001:db8:1:2::1".parse().expect("ip"));
        let b = network_of("2001:db8:1:2:ffff::9".parse().expect("ip"));
        let c = network_of("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            network_of("::ffff:10.0.0.7".parse().expect("ip")),
            "10.0.0.7"
        );
        assert_eq!(network_of("10.0.0.7".parse().expect("ip")), "10.0.0.7");
    }
}
