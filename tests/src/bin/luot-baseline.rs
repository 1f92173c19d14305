//! `luot-baseline`: the minimal servers `luot-bench` compares Lượt against, each run as its
//! own process like Lượt itself, so a ratio compares like with like.
//!
//! ```text
//! luot-baseline http                 # bare axum: GET /healthz answers "ok", nothing else
//! luot-baseline broadcast FRAME_FILE # bare axum + tokio-tungstenite broadcaster
//! ```
//!
//! Both listen on `127.0.0.1:0` and print `listening ADDR` as their first line. The
//! broadcaster upgrades `GET /ws` with the same 4 KiB read and write buffers as Lượt and, on
//! `POST /send`, sends the text of `FRAME_FILE` (a real `ticket_called` frame) to every
//! client, serialized once and shared.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::routing::{get, post};
use tokio::sync::broadcast;

/// Lượt's per-connection WebSocket buffers.
const BUFFER: usize = 4096;
/// Lượt's broadcast buffer.
const EVENT_BUFFER: usize = 4096;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let app = match args.first().map(String::as_str) {
        Some("http") => Router::new().route("/healthz", get(|| async { "ok" })),
        Some("broadcast") => {
            let path = args
                .get(1)
                .expect("usage: luot-baseline broadcast FRAME_FILE");
            let frame = std::fs::read_to_string(path).expect("read the frame file");
            let (tx, _) = broadcast::channel::<Utf8Bytes>(EVENT_BUFFER);
            Router::new()
                .route("/ws", get(subscribe))
                .route("/send", post(send))
                .with_state((tx, Utf8Bytes::from(frame)))
        }
        _ => {
            eprintln!("usage: luot-baseline http | broadcast FRAME_FILE");
            std::process::exit(2);
        }
    };
    // The same runtime shape as Lượt: tokio's multi-threaded default.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening {}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}

type Shared = (broadcast::Sender<Utf8Bytes>, Utf8Bytes);

async fn subscribe(
    State((tx, _)): State<Shared>,
    upgrade: WebSocketUpgrade,
) -> axum::response::Response {
    let rx = tx.subscribe();
    upgrade
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .on_upgrade(move |socket| forward(socket, rx))
}

async fn forward(mut socket: WebSocket, mut rx: broadcast::Receiver<Utf8Bytes>) {
    while let Ok(text) = rx.recv().await {
        if socket.send(Message::Text(text)).await.is_err() {
            break;
        }
    }
}

async fn send(State((tx, frame)): State<Shared>) -> &'static str {
    let _ = tx.send(frame);
    "sent"
}
