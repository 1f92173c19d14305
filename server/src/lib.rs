//! `luot-server`: the Lượt server. One engine thread owns the queue state and the sled log;
//! axum serves the HTTP API and the `/ws` event stream of wire protocol v1.
//!
//! # Layout
//!
//! - [`store`]: sled behind one type: event log, snapshots, day index, credentials
//! - [`engine_task`]: the single writer: bounded job queue, group commit, broadcast
//! - [`clock`]: the one injectable source of time, and the detection of clock steps
//! - [`auth`]: tokens, accounts, sessions, roles, CSRF, login rate limiting, track secrets
//! - [`api`], [`account`], [`users`], [`reports`], [`ws`], [`track`], [`events_api`]: the API
//!   routes, each module with its `router()`
//! - [`ship`]: the log shipped to the province over NATS JetStream; [`hub`]: the province's
//!   side, projecting every site's log into PostgreSQL
//! - [`webhooks`]: deliveries of the log to the one-door software, and their admin routes
//! - [`pages`]: the web pages (counter console, admin, report, lobby screen, rating tablet,
//!   phone tracking), embedded in the binary
//! - [`error`]: `ApiError` and the JSON extractors
//! - [`metrics`]: `/metrics` for Prometheus (OpenMetrics or text 0.0.4)
//! - [`openapi`]: the OpenAPI description of the HTTP API at `/api/v1/openapi.json`
//!
//! `main.rs` parses flags and calls [`Server::open`] then [`Server::run`]; tests do the same
//! with port 0 and a temporary directory.

pub mod account;
pub mod api;
pub mod auth;
pub mod backup;
pub mod backup_job;
pub mod clock;
pub mod credentials;
pub mod data_format;
pub mod doctor;
pub mod engine_task;
pub mod error;
pub mod events_api;
pub mod hub;
pub mod login;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod quota;
pub mod reports;
pub mod serve;
pub mod ship;
pub mod store;
pub mod track;
pub mod users;
pub mod webhooks;
pub mod ws;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use luot_shared::{CenterConfig, Command, Engine};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::auth::Auth;
use crate::clock::Clock;
use crate::engine_task::EngineHandle;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::store::Store;

/// Largest request body (the biggest is a whole center configuration).
const MAX_BODY: usize = 64 * 1024;
/// Requests handled at once from callers with valid credentials (kiosks, consoles, screens,
/// admins); more get a 503 rather than piling up.
const MAX_IN_FLIGHT: usize = 2048;
/// Requests handled at once from everyone else (logins, pages, wrong credentials). Kept
/// apart so that no amount of anonymous traffic takes the slots the center runs on.
const MAX_PUBLIC_IN_FLIGHT: usize = 256;
/// Requests one credential may have in flight: a kiosk sends one at a time, a console a few;
/// one stolen token cannot take the pool the whole center shares.
const MAX_IN_FLIGHT_PER_CREDENTIAL: usize = 64;
/// Requests without valid credentials one address may have in flight.
const MAX_PUBLIC_PER_ADDR: usize = 16;
/// Largest body of a request without valid credentials (a login is under 200 bytes).
const MAX_PUBLIC_BODY: usize = 4 * 1024;
/// A request body must arrive whole within this time (bodies are at most 64 KiB: on a LAN
/// that takes milliseconds). A client that announces a body and stalls is answered 408.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// Open HTTP connections (an upgraded WebSocket no longer counts here).
const MAX_CONNECTIONS: usize = 4096;
/// Open WebSocket connections (lobby screens, kiosks, consoles, phones).
const MAX_WEBSOCKETS: usize = 10_000;
/// How often the engine is told the time, so the day closes even when nobody acts.
const TICK: Duration = Duration::from_secs(15);

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The engine thread.
    pub engine: EngineHandle,
    /// The store (for reads that do not go through the engine).
    pub store: Store,
    /// Authentication.
    pub auth: Arc<Auth>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Becomes `true` when the server is stopping.
    pub shutdown: watch::Receiver<bool>,
    /// Free WebSocket slots.
    pub ws_slots: Arc<Semaphore>,
    /// Free request slots for callers with valid credentials.
    pub request_slots: Arc<Semaphore>,
    /// Free request slots for everyone else.
    pub public_slots: Arc<Semaphore>,
    /// What each credential and each address holds at once.
    pub quota: Arc<quota::Quota>,
    /// The server's clock.
    pub clock: Clock,
    /// Webhook endpoints and their deliveries.
    pub webhooks: Arc<webhooks::Webhooks>,
    /// Shipping to the province, when on.
    pub ship: Option<Arc<ship::Shipper>>,
}

/// The whole application: every module's routes, limits and JSON fallbacks.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(api::router())
        .merge(account::router())
        .merge(reports::router())
        .merge(users::router())
        .merge(pages::router())
        .merge(ws::router())
        .merge(track::router())
        .merge(backup::router())
        .merge(events_api::router())
        .merge(webhooks::api::router())
        .merge(ship::router())
        .merge(openapi::router())
        .fallback(|| async { ApiError::NotFound("no such page".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::Bad(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here".into(),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Reads the body whole within [`BODY_DEADLINE`] before the request takes any slot (a stalled
/// body holds only its own connection), checks the credentials once the body is in (one
/// revoked while it arrived no longer works), then bounds the requests in flight: callers
/// with valid credentials and everyone else in separate pools, and within them each
/// credential and each address. Counts responses.
async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        // Answers from memory without a body: no slot needed, so it always answers.
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let limit = if app.auth.resolve(&parts).is_ok() {
        MAX_BODY
    } else {
        MAX_PUBLIC_BODY
    };
    let response = match read_body(&parts, body, limit).await {
        Err(e) => e.into_response(),
        Ok(body) => {
            let resolved = app.auth.resolve(&parts).ok();
            let (pool, key, max) = match &resolved {
                Some(p) => (
                    &app.request_slots,
                    auth::credential_key(&p.credential),
                    MAX_IN_FLIGHT_PER_CREDENTIAL,
                ),
                None => {
                    let addr = parts
                        .extensions
                        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                        .map(|c| c.0.ip().to_string())
                        .unwrap_or_default();
                    (
                        &app.public_slots,
                        format!("addr:{addr}"),
                        MAX_PUBLIC_PER_ADDR,
                    )
                }
            };
            let Some(_held) = app.quota.take(&key, max) else {
                let response = ApiError::TooManyAtOnce.into_response();
                app.metrics.observe_status(response.status().as_u16());
                return response;
            };
            let Ok(_permit) = pool.try_acquire() else {
                app.metrics.observe_status(503);
                return ApiError::Unavailable("the server is busy; try again".into())
                    .into_response();
            };
            if let Some(principal) = resolved {
                if let Some(connection) = parts.extensions.get::<serve::Connection>() {
                    connection.prove(&key);
                }
                parts.extensions.insert(auth::Resolved(principal));
            }
            next.run(Request::from_parts(parts, body)).await
        }
    };
    app.metrics.observe_status(response.status().as_u16());
    response
}

/// The request's body, read whole within [`BODY_DEADLINE`] and at most `limit` long, so a
/// handler never waits on a client; a request without a body passes as it is.
async fn read_body(
    parts: &axum::http::request::Parts,
    body: Body,
    limit: usize,
) -> Result<Body, ApiError> {
    let headers = &parts.headers;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let too_large = || {
        ApiError::Bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is too large (at most {limit} bytes)"),
        )
    };
    match length {
        Some(n) if n > limit as u64 => return Err(too_large()),
        Some(0) | None if !chunked => return Ok(body),
        _ => {}
    }
    let limited = http_body_util::Limited::new(body, limit);
    let collected = tokio::time::timeout(BODY_DEADLINE, http_body_util::BodyExt::collect(limited))
        .await
        .map_err(|_| ApiError::BodyTimeout(BODY_DEADLINE.as_secs()))?;
    match collected {
        Ok(collected) => Ok(Body::from(collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::Bad(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("the request body cannot be read: {e}"),
        )),
    }
}

/// `ok`, or 503 with what fails while the store cannot write (a supervisor or a monitor sees
/// it without a login).
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    description = "Anyone; answers from memory, outside every request limit.",
    responses(
        (status = 200, description = "`ok`", content_type = "text/plain", body = String),
        (status = 503, description = "The store is damaged or cannot write: `{\"status\":\"damaged\"|\"failing\",\"store\":{…},\"message\":…}`", body = Object),
    ))]
async fn healthz(State(app): State<AppState>) -> Response {
    let health = app.store.health();
    if let Some(damage) = &health.damaged
        && !health.failing
    {
        let body = serde_json::json!({
            "status": "damaged",
            "store": { "damaged": damage },
            "message": "the event log is damaged; the live queue is intact, but reports over the damaged days and exports fail; see the server log for how to recover",
        });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    if !health.failing {
        return "ok".into_response();
    }
    let body = serde_json::json!({
        "status": "failing",
        "store": {
            "failing": true,
            "error": health.error,
            "since": health.since,
        },
        "message": "the store cannot write to its disk; issuing and calling answer 503 until it recovers on its own",
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Every metric, for anyone who can reach the server (counts only, nothing personal), in the
/// format the scraper asks for.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    description = "Anyone. OpenMetrics when `Accept` asks for `application/openmetrics-text`, else the Prometheus text format 0.0.4.",
    responses(
        (status = 200, description = "The metrics", content(
            (String = "application/openmetrics-text"),
            (String = "text/plain"),
        )),
    ))]
async fn metrics(State(app): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let format =
        metrics::Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    app.webhooks.export_backlog(&app.metrics);
    if let Some(ship) = &app.ship {
        let view = ship.view();
        app.metrics
            .ship_backlog
            .set(i64::try_from(view.backlog).unwrap_or(i64::MAX));
        app.metrics
            .ship_acked_seq
            .set(i64::try_from(view.acked_seq).unwrap_or(i64::MAX));
    }
    let text = app
        .metrics
        .render(&app.engine.published().view, &app.store.health(), format);
    (
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::VARY, "accept"),
        ],
        text,
    )
        .into_response()
}

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory.
    pub data_dir: PathBuf,
    /// A center file; `None` keeps the stored configuration (the default center on a fresh
    /// data directory).
    pub center: Option<CenterFile>,
    /// Where to ship the log, if anywhere.
    pub ship: Option<ship::ShipConfig>,
}

/// A center file as read at start.
#[derive(Debug, Clone)]
pub struct CenterFile {
    /// Its configuration.
    pub config: CenterConfig,
    /// Its `[[webhooks]]`.
    pub webhooks: Vec<webhooks::FileEndpoint>,
    /// A digest of its text. The file is applied when it differs from the last one applied,
    /// so changes an admin made live are not undone by a restart with the same file.
    pub digest: String,
}

impl CenterFile {
    /// Parses a center file's text.
    pub fn parse(text: &str) -> Result<CenterFile, luot_shared::domain::ConfigError> {
        use sha2::Digest as _;
        // Webhooks are server settings, not part of the configuration the log records.
        let (rest, webhooks) = webhooks::split_center_file(text)?;
        Ok(CenterFile {
            config: CenterConfig::from_toml(&rest)?,
            webhooks,
            digest: auth::hex(&sha2::Sha256::digest(text.as_bytes())),
        })
    }
}

/// Meta key of the digest of the last center file applied.
const CENTER_FILE_DIGEST: &str = "center_file_digest";

/// An opened server: store loaded, state rebuilt, not yet listening.
pub struct Server {
    store: Store,
    engine: Engine,
    center: Option<CenterFile>,
    ship: Option<ship::ShipConfig>,
    clock: Clock,
    /// The first-run admin password, when this start created the admin account.
    pub first_admin_password: Option<String>,
}

impl Server {
    /// Opens the data directory and rebuilds the state from the snapshot and the log.
    pub fn open(options: Options) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("cannot create {}", options.data_dir.display()))?;
        let store = Store::open(&options.data_dir).with_context(|| {
            format!(
                "cannot open the data directory {}",
                options.data_dir.display()
            )
        })?;
        let started = std::time::Instant::now();
        let verified = store.verify_start().map_err(|damage| {
            anyhow::anyhow!(backup::damage_message(&options.data_dir, &damage))
        })?;
        tracing::info!(
            events = verified.events,
            records = verified.records,
            upgraded = verified.upgraded,
            dropped = verified.dropped,
            deferred = verified.deferred,
            took_ms = started.elapsed().as_millis() as u64,
            "data directory verified (events before the newest snapshot are checked while serving)"
        );
        let started = std::time::Instant::now();
        let engine = store.load().map_err(|e| {
            anyhow::anyhow!(backup::damage_message(
                &options.data_dir,
                &store::Damage {
                    what: "event log".into(),
                    detail: format!("the state cannot be rebuilt from it: {e}"),
                    intact_events: 0,
                }
            ))
        })?;
        tracing::info!(
            seq = engine.seq(),
            took_ms = started.elapsed().as_millis() as u64,
            "state loaded"
        );
        store.spawn_scrub(verified.deferred);
        let first_admin_password = auth::ensure_first_admin(&store)?;
        Ok(Server {
            store,
            engine,
            center: options.center,
            ship: options.ship,
            clock: Clock::system(),
            first_admin_password,
        })
    }

    /// Runs on `clock` instead of the system clock (tests step it in milliseconds).
    pub fn with_clock(mut self, clock: Clock) -> Server {
        self.clock = clock;
        self
    }

    /// Serves on `listener` until `shutdown` completes, then stops cleanly: WebSockets get
    /// `Close`, the engine finishes what is queued and writes a snapshot.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let metrics = Arc::new(Metrics::default());
        let auth = Arc::new(Auth::new(
            self.store.clone(),
            metrics.clone(),
            self.clock.clone(),
        )?);
        let fresh = self.engine.seq() == 0;
        let roller = match reports::spawn_roller(self.store.clone()) {
            Ok(roller) => {
                // Days of the log without their roll-up (a log imported, or written by an
                // older version) are rolled up now, in the background, in one pass.
                match self
                    .store
                    .recorded_days()
                    .map(|days| reports::days_to_roll_up(&self.store, days))
                {
                    Ok(days) if !days.is_empty() => {
                        let _ = roller.try_send((days, self.engine.config().clone()));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot list the days of the log"),
                }
                Some(roller)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the roll-up thread; reports compute each day when asked");
                None
            }
        };
        let (engine, thread) = engine_task::spawn(
            self.engine,
            self.store.clone(),
            metrics.clone(),
            self.clock.clone(),
            roller,
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let webhooks = webhooks::Webhooks::open(
            self.store.clone(),
            engine.clone(),
            self.clock.clone(),
            stop_rx.clone(),
        )?;
        let applied = self.store.meta_get(CENTER_FILE_DIGEST)?;
        let center = match &self.center {
            Some(file) if fresh || applied.as_deref() != Some(file.digest.as_bytes()) => {
                // Before the configuration, so a new endpoint also gets its event.
                webhooks.apply_file(&file.webhooks)?;
                Some(file.config.clone())
            }
            Some(_) => {
                tracing::info!(
                    "center file unchanged since it was last applied; keeping the stored configuration"
                );
                None
            }
            None if fresh => Some(CenterConfig::default()),
            None => None,
        };
        if let Some(config) = center {
            engine
                .command(Command::Configure {
                    config: Box::new(config),
                    by: "system".into(),
                })
                .await
                .map_err(|e| anyhow::anyhow!("center configuration refused: {e}"))?;
            if let Some(file) = &self.center {
                self.store
                    .meta_put(CENTER_FILE_DIGEST, file.digest.as_bytes())?;
            }
        }
        let ticker = tokio::spawn(engine_task::run_ticker(engine.clone(), TICK));
        webhooks.start();
        let shipper = match self.ship {
            Some(config) => Some(ship::Shipper::open(
                config,
                self.store.clone(),
                engine.clone(),
            )?),
            None => None,
        };
        let shipping = shipper
            .clone()
            .map(|s| tokio::spawn(s.run(stop_rx.clone())));
        let (max_connections, max_websockets) = socket_limits();
        let state = AppState {
            engine,
            store: self.store,
            auth,
            metrics,
            shutdown: stop_rx,
            ws_slots: Arc::new(Semaphore::new(max_websockets)),
            request_slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            public_slots: Arc::new(Semaphore::new(MAX_PUBLIC_IN_FLIGHT)),
            quota: Arc::new(quota::Quota::default()),
            clock: self.clock,
            webhooks: webhooks.clone(),
            ship: shipper,
        };
        let metrics = state.metrics.clone();
        serve::serve(listener, app(state), max_connections, metrics, async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        })
        .await;
        ticker.abort();
        let _ = ticker.await;
        // The workers hold engine handles: they stop before the engine is joined.
        webhooks.stop().await;
        drop(webhooks);
        if let Some(task) = shipping {
            let _ = task.await;
        }
        // Every handle is dropped now; the engine thread drains, snapshots and stops.
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .ok();
        Ok(())
    }
}

/// File descriptors kept for the store, logs and the process itself.
const RESERVED_FDS: u64 = 256;

/// Connection and WebSocket limits that fit in the open-files limit, so the server refuses a
/// connection cleanly rather than failing to accept or open a file.
fn socket_limits() -> (usize, usize) {
    let soft = rlimit::Resource::NOFILE
        .get()
        .map_or(1024, |(soft, _)| soft);
    let budget = usize::try_from(soft.saturating_sub(RESERVED_FDS))
        .unwrap_or(usize::MAX)
        .max(64);
    let websockets = MAX_WEBSOCKETS.min(budget * 3 / 4);
    let connections = MAX_CONNECTIONS.min(budget - websockets).max(16);
    tracing::info!(
        connections,
        websockets,
        open_files = soft,
        "connection limits"
    );
    (connections, websockets)
}

/// Raises the open-files soft limit to the hard limit: each display is a socket, and a
/// process at the common default of 1,024 stalls silently past that many.
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
}
