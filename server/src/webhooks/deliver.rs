//! The registry of endpoints and the worker that delivers the log to one of them.
//!
//! Each endpoint has one worker task and one [`Slot`]: its settings, its cursor and how its
//! deliveries go. Every change of an endpoint's settings or cursor, by the admin or by its
//! worker, happens under the slot's write lock and is made durable before it is visible; an
//! admin change bumps the slot's generation, so a worker busy with an older view of the
//! endpoint drops what it was doing and starts over from the new one; only a redelivery also
//! voids an acknowledgement received meanwhile (the cursor was moved under it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{Endpoint, FileEndpoint, MAX_ENDPOINTS, RetryPolicy};
use crate::auth;
use crate::clock::Clock;
use crate::engine_task::EngineHandle;
use crate::error::ApiError;
use crate::store::{Store, StoreError};

mod worker;

/// Meta key prefixes of an endpoint's settings and of its cursor.
const ENDPOINT_KEY: &str = "webhook/";
const CURSOR_KEY: &str = "webhook_cursor/";
/// Events read from the store at a time by a worker.
const PAGE: usize = 100;
/// Time to connect to a receiver.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole delivery: connecting, sending, and the response with its body.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Bytes of a response body read (and thrown away) so the connection can be reused; a
/// receiver that sends more is cut off.
const MAX_RESPONSE_BODY: usize = 16 * 1024;

/// The endpoints and their workers.
pub struct Webhooks {
    store: Store,
    engine: EngineHandle,
    clock: Clock,
    retry: RetryPolicy,
    client: reqwest::Client,
    slots: Mutex<BTreeMap<String, Arc<Slot>>>,
    /// Serializes creating and removing endpoints (the bound on their number holds).
    membership: tokio::sync::Mutex<()>,
    started: AtomicBool,
    shutdown: watch::Receiver<bool>,
    /// Endpoints whose backlog gauge was last exported.
    exported: Mutex<Vec<String>>,
}

struct Slot {
    state: Mutex<SlotState>,
    /// Held while a change of the settings or the cursor is made durable.
    write: tokio::sync::Mutex<()>,
    /// Tells the worker that the settings or the cursor changed.
    wake: Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct SlotState {
    endpoint: Endpoint,
    /// The last seq acknowledged (or passed over by the filter).
    cursor: u64,
    /// Bumped by every change of the settings or the cursor.
    generation: u64,
    /// Bumped when the admin moves the cursor (redelivery): a 2xx to a delivery begun
    /// before that no longer moves it on. Other changes leave an acknowledgement valid.
    rewinds: u64,
    removed: bool,
    /// Failed attempts at the event after the cursor.
    attempts: u32,
    last_error: Option<String>,
    last_error_at: Option<Timestamp>,
    next_retry_at: Option<Timestamp>,
    last_delivered_at: Option<Timestamp>,
    /// Events acknowledged since the server started.
    delivered: u64,
}

/// An endpoint as the admin sees it: settings and delivery state, never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// Id.
    pub id: String,
    /// URL.
    pub url: String,
    /// Kinds delivered; empty: every kind.
    pub events: Vec<String>,
    /// Whether deliveries run.
    pub enabled: bool,
    /// Declared in the center file.
    pub from_file: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Why it stopped on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The last seq acknowledged.
    pub cursor: u64,
    /// The last seq of the log.
    pub last_seq: u64,
    /// Events not yet delivered or passed over.
    pub backlog: u64,
    /// Failed attempts at the event after the cursor.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<Timestamp>,
    /// When the next attempt is due, while retrying.
    pub next_retry_at: Option<Timestamp>,
    /// The last acknowledged delivery.
    pub last_delivered_at: Option<Timestamp>,
    /// Events acknowledged since the server started.
    pub delivered: u64,
}

/// A change of an endpoint's settings.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// New URL (checked).
    pub url: Option<String>,
    /// New secret (checked).
    pub secret: Option<String>,
    /// New filter (checked).
    pub events: Option<Vec<String>>,
    /// Enable or disable; enabling clears the reason it stopped.
    pub enabled: Option<bool>,
}

enum Outcome {
    Delivered,
    Gone,
    Interrupted,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a store call off the async threads (a write flushes to disk).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("a store call was cancelled".into())))
}

fn put_endpoint(store: &Store, endpoint: &Endpoint) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(endpoint).unwrap_or_default();
    store.meta_put(&format!("{ENDPOINT_KEY}{}", endpoint.id), &bytes)
}

fn put_cursor(store: &Store, id: &str, cursor: u64) -> Result<(), StoreError> {
    store.meta_put(&format!("{CURSOR_KEY}{id}"), &cursor.to_be_bytes())
}

impl Webhooks {
    /// Loads the endpoints and their cursors; no worker runs until [`Webhooks::start`].
    pub fn open(
        store: Store,
        engine: EngineHandle,
        clock: Clock,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Webhooks>> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(DELIVERY_TIMEOUT)
            .user_agent(concat!("luot-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut endpoints = BTreeMap::new();
        let mut cursors = BTreeMap::new();
        for (key, value) in store.meta_list()? {
            if let Some(id) = key.strip_prefix(ENDPOINT_KEY) {
                let endpoint: Endpoint = serde_json::from_slice(&value)
                    .map_err(|e| anyhow::anyhow!("webhook setting {key:?} is damaged: {e}"))?;
                endpoints.insert(id.to_owned(), endpoint);
            } else if let Some(id) = key.strip_prefix(CURSOR_KEY) {
                let bytes: [u8; 8] = value
                    .as_slice()
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("webhook cursor {key:?} is damaged"))?;
                cursors.insert(id.to_owned(), u64::from_be_bytes(bytes));
            }
        }
        let slots = endpoints
            .into_iter()
            .map(|(id, endpoint)| {
                let cursor = cursors.get(&id).copied().unwrap_or(0);
                (id, Slot::new(endpoint, cursor))
            })
            .collect();
        Ok(Arc::new(Webhooks {
            store,
            engine,
            clock,
            retry: RetryPolicy::from_env(),
            client,
            slots: Mutex::new(slots),
            membership: tokio::sync::Mutex::new(()),
            started: AtomicBool::new(false),
            shutdown,
            exported: Mutex::new(Vec::new()),
        }))
    }

    fn head(&self) -> u64 {
        self.engine.published().view.seq
    }

    /// Makes the endpoints of the center file what it says: each URL it names gets its
    /// secret and filter (an endpoint it adds starts after the last event so far), and the
    /// endpoints an earlier file added that it no longer names are removed. Endpoints the
    /// admin added are left alone. Runs at start, before the workers.
    pub fn apply_file(&self, file: &[FileEndpoint]) -> anyhow::Result<()> {
        let head = self.head();
        let slots: Vec<Arc<Slot>> = lock(&self.slots).values().cloned().collect();
        for slot in &slots {
            let (id, url, from_file) = {
                let s = lock(&slot.state);
                (
                    s.endpoint.id.clone(),
                    s.endpoint.url.clone(),
                    s.endpoint.from_file,
                )
            };
            match file.iter().find(|f| f.url == url) {
                Some(entry) => {
                    let mut s = lock(&slot.state);
                    s.endpoint.secret = entry.secret.clone();
                    s.endpoint.events = entry.events.clone();
                    s.endpoint.from_file = true;
                    put_endpoint(&self.store, &s.endpoint)?;
                }
                None if from_file => {
                    self.store.meta_remove(&format!("{ENDPOINT_KEY}{id}"))?;
                    self.store.meta_remove(&format!("{CURSOR_KEY}{id}"))?;
                    lock(&self.slots).remove(&id);
                    tracing::info!(webhook = %id, %url, "webhook removed: the center file no longer names it");
                }
                None => {}
            }
        }
        for entry in file {
            if slots
                .iter()
                .any(|s| lock(&s.state).endpoint.url == entry.url)
            {
                continue;
            }
            if lock(&self.slots).len() >= MAX_ENDPOINTS {
                anyhow::bail!("at most {MAX_ENDPOINTS} webhook endpoints");
            }
            let endpoint = Endpoint {
                id: self.new_id(),
                url: entry.url.clone(),
                secret: entry.secret.clone(),
                events: entry.events.clone(),
                enabled: true,
                from_file: true,
                created_at: self.clock.now(),
                disabled_reason: None,
            };
            put_cursor(&self.store, &endpoint.id, head)?;
            put_endpoint(&self.store, &endpoint)?;
            tracing::info!(webhook = %endpoint.id, url = %endpoint.url, after = head, "webhook added from the center file");
            lock(&self.slots).insert(endpoint.id.clone(), Slot::new(endpoint, head));
        }
        Ok(())
    }

    fn new_id(&self) -> String {
        let slots = lock(&self.slots);
        loop {
            let id = auth::random_hex(4);
            if !slots.contains_key(&id) {
                return id;
            }
        }
    }

    /// Starts a worker for every endpoint (and, from now on, for each one created).
    pub fn start(self: &Arc<Self>) {
        self.started.store(true, Ordering::SeqCst);
        let slots: Vec<Arc<Slot>> = lock(&self.slots).values().cloned().collect();
        for slot in slots {
            self.spawn_worker(slot);
        }
    }

    fn spawn_worker(self: &Arc<Self>, slot: Arc<Slot>) {
        let worker = tokio::spawn(self.clone().run(slot.clone()));
        if let Some(old) = lock(&slot.task).replace(worker) {
            old.abort();
        }
    }

    /// Stops every worker and waits for them (they hold the engine handle).
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = lock(&self.slots)
            .values()
            .filter_map(|s| lock(&s.task).take())
            .collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    /// Every endpoint, oldest first.
    pub fn list(&self) -> Vec<EndpointView> {
        let head = self.head();
        let mut views: Vec<EndpointView> = lock(&self.slots)
            .values()
            .map(|s| lock(&s.state).view(head))
            .collect();
        views.sort_by_key(|v| v.created_at);
        views
    }

    /// Sets each endpoint's `luot_webhook_backlog` gauge in `metrics` to its backlog now, and
    /// drops the gauges of endpoints removed since.
    pub fn export_backlog(&self, metrics: &crate::metrics::Metrics) {
        let views = self.list();
        let mut exported = lock(&self.exported);
        for gone in exported
            .iter()
            .filter(|id| !views.iter().any(|v| &v.id == *id))
        {
            metrics.forget_webhook(gone);
        }
        exported.clear();
        for v in &views {
            metrics
                .webhook_backlog(&v.id)
                .set(i64::try_from(v.backlog).unwrap_or(i64::MAX));
            exported.push(v.id.clone());
        }
    }

    fn slot(&self, id: &str) -> Result<Arc<Slot>, ApiError> {
        lock(&self.slots)
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no webhook {id:?}")))
    }

    /// One endpoint.
    pub fn get(&self, id: &str) -> Result<EndpointView, ApiError> {
        Ok(lock(&self.slot(id)?.state).view(self.head()))
    }

    /// Adds an endpoint with checked settings whose cursor starts at `after` (default: the
    /// last event so far, so only what happens from now on is sent).
    pub async fn create(
        self: &Arc<Self>,
        url: String,
        secret: String,
        events: Vec<String>,
        after: Option<u64>,
    ) -> Result<EndpointView, ApiError> {
        let _membership = self.membership.lock().await;
        let head = self.head();
        let cursor = after.unwrap_or(head);
        if cursor > head {
            return Err(ApiError::Bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_after",
                format!("after: the log ends at seq {head}"),
            ));
        }
        {
            let slots = lock(&self.slots);
            if slots.len() >= MAX_ENDPOINTS {
                return Err(ApiError::Bad(
                    StatusCode::CONFLICT,
                    "too_many_webhooks",
                    format!("at most {MAX_ENDPOINTS} webhook endpoints"),
                ));
            }
            if slots.values().any(|s| lock(&s.state).endpoint.url == url) {
                return Err(ApiError::Bad(
                    StatusCode::CONFLICT,
                    "webhook_exists",
                    format!("a webhook to {url} exists; change that one"),
                ));
            }
        }
        let endpoint = Endpoint {
            id: self.new_id(),
            url,
            secret,
            events,
            enabled: true,
            from_file: false,
            created_at: self.clock.now(),
            disabled_reason: None,
        };
        let store = self.store.clone();
        let stored = endpoint.clone();
        blocking(move || {
            put_cursor(&store, &stored.id, cursor)?;
            put_endpoint(&store, &stored)
        })
        .await?;
        tracing::info!(webhook = %endpoint.id, url = %endpoint.url, after = cursor, "webhook added");
        let slot = Slot::new(endpoint, cursor);
        let view = lock(&slot.state).view(head);
        lock(&self.slots).insert(view.id.clone(), slot.clone());
        if self.started.load(Ordering::SeqCst) {
            self.spawn_worker(slot);
        }
        Ok(view)
    }

    /// Changes an endpoint's settings.
    pub async fn update(&self, id: &str, change: Change) -> Result<EndpointView, ApiError> {
        let slot = self.slot(id)?;
        let _write = slot.write.lock().await;
        let mut endpoint = lock(&slot.state).endpoint.clone();
        if let Some(url) = change.url {
            let taken = lock(&self.slots)
                .values()
                .any(|s| !Arc::ptr_eq(s, &slot) && lock(&s.state).endpoint.url == url);
            if taken {
                return Err(ApiError::Bad(
                    StatusCode::CONFLICT,
                    "webhook_exists",
                    format!("a webhook to {url} exists"),
                ));
            }
            endpoint.url = url;
        }
        if let Some(secret) = change.secret {
            endpoint.secret = secret;
        }
        if let Some(events) = change.events {
            endpoint.events = events;
        }
        if let Some(enabled) = change.enabled {
            endpoint.enabled = enabled;
            if enabled {
                endpoint.disabled_reason = None;
            }
        }
        let store = self.store.clone();
        let stored = endpoint.clone();
        blocking(move || put_endpoint(&store, &stored)).await?;
        let view = {
            let mut s = lock(&slot.state);
            s.endpoint = endpoint;
            s.restart();
            s.view(self.head())
        };
        slot.wake.notify_one();
        Ok(view)
    }

    /// Sends everything again from seq `from` on (events up to `from - 1` count as
    /// acknowledged).
    pub async fn redeliver(&self, id: &str, from: u64) -> Result<EndpointView, ApiError> {
        let slot = self.slot(id)?;
        let head = self.head();
        if from == 0 || from > head + 1 {
            return Err(ApiError::Bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_from",
                format!(
                    "from: a seq from 1 to {} (the log ends at {head})",
                    head + 1
                ),
            ));
        }
        let _write = slot.write.lock().await;
        let store = self.store.clone();
        let key = id.to_owned();
        blocking(move || put_cursor(&store, &key, from - 1)).await?;
        let view = {
            let mut s = lock(&slot.state);
            s.cursor = from - 1;
            s.rewinds += 1;
            s.restart();
            s.view(head)
        };
        tracing::info!(webhook = %id, from, "webhook redelivers");
        slot.wake.notify_one();
        Ok(view)
    }

    /// Removes an endpoint and its cursor.
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        let _membership = self.membership.lock().await;
        let slot = self.slot(id)?;
        let _write = slot.write.lock().await;
        let store = self.store.clone();
        let key = id.to_owned();
        blocking(move || {
            store.meta_remove(&format!("{ENDPOINT_KEY}{key}"))?;
            store.meta_remove(&format!("{CURSOR_KEY}{key}"))
        })
        .await?;
        lock(&slot.state).removed = true;
        lock(&self.slots).remove(id);
        if let Some(task) = lock(&slot.task).take() {
            task.abort();
        }
        tracing::info!(webhook = %id, "webhook removed");
        Ok(())
    }
}

impl Slot {
    fn new(endpoint: Endpoint, cursor: u64) -> Arc<Slot> {
        Arc::new(Slot {
            state: Mutex::new(SlotState {
                endpoint,
                cursor,
                generation: 0,
                rewinds: 0,
                removed: false,
                attempts: 0,
                last_error: None,
                last_error_at: None,
                next_retry_at: None,
                last_delivered_at: None,
                delivered: 0,
            }),
            write: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            task: Mutex::new(None),
        })
    }
}

impl SlotState {
    /// After a change: the worker starts over, retrying at once.
    fn restart(&mut self) {
        self.generation += 1;
        self.attempts = 0;
        self.next_retry_at = None;
    }

    fn view(&self, head: u64) -> EndpointView {
        let e = &self.endpoint;
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            enabled: e.enabled,
            from_file: e.from_file,
            created_at: e.created_at,
            disabled_reason: e.disabled_reason.clone(),
            cursor: self.cursor,
            last_seq: head,
            backlog: head.saturating_sub(self.cursor),
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            last_error_at: self.last_error_at,
            next_retry_at: self.next_retry_at,
            last_delivered_at: self.last_delivered_at,
            delivered: self.delivered,
        }
    }
}
