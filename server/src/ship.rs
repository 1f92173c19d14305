//! Shipping the log to the province: every event, in `seq` order, published to NATS JetStream.
//!
//! The site stays the single writer of its log and never waits for the province: shipping
//! runs beside the engine, reading what is already durable, and a WAN cut only grows the
//! backlog. Each event is published to the subject `luot.<province>.<site>` with
//!
//! - `Nats-Msg-Id: <site>:<seq>` — the stream drops a copy it has already stored (within its
//!   duplicate window), so a publish repeated after a lost acknowledgement is stored once;
//! - `Nats-Expected-Last-Subject-Sequence: <stream seq of the previous event>` — the stream
//!   refuses the event unless the last message on the subject is this site's previous one,
//!   so a second server shipping as the same site is refused instead of interleaving.
//!
//! The cursor (the last `seq` the stream acknowledged, and the stream sequence it got) is kept
//! in the data directory. Before shipping, and after any refusal, the site reads the last
//! message of its subject and reconciles: the same event as the cursor (resume); a later one
//! that is byte for byte this log's event (an acknowledgement lost in a crash: adopt it); an
//! earlier one (the stream lost messages: ship again from there — the hub drops what it
//! already has); anything else (another writer, or this directory restored from an older
//! backup) stops shipping with the reason on the admin page, and nothing is overwritten.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use jiff::Timestamp;
use luot_shared::{Event, Recorded};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::engine_task::EngineHandle;
use crate::store::{Store, StoreError};

/// Events read from the store at a time.
const PAGE: usize = 256;
/// Acknowledged events between two writes of the cursor (it is also written whenever the
/// backlog empties; a cursor behind the stream is reconciled at the next start).
const CURSOR_EVERY: u64 = 256;
/// Time for the stream to acknowledge one event.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to reach the NATS server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between two attempts while the province cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Wait before checking again after shipping was refused.
const REFUSED_RECHECK: Duration = Duration::from_secs(60);
/// Days the stream keeps events: the hub has that long to catch up after an outage.
pub const STREAM_MAX_AGE_DAYS: u64 = 90;
/// Largest event published (a whole center configuration is at most 64 KiB).
const MAX_MESSAGE: i32 = 256 * 1024;
/// Meta key of the cursor.
const CURSOR_KEY: &str = "ship_cursor";

/// Where and as whom to ship.
#[derive(Debug, Clone)]
pub struct ShipConfig {
    /// `nats://host:port` (a comma-separated list for a cluster).
    pub url: String,
    /// This site's id within the province.
    pub site: String,
    /// The province's id.
    pub province: String,
    /// The key this site's events are signed with (`luot-server hub site add` makes it).
    pub key: String,
}

/// The header that carries an event's signature.
pub const SIGNATURE_HEADER: &str = "Luot-Signature";

/// The signature of an event: hex HMAC-SHA256 under the site's key of its message id, a line
/// feed and the payload. The hub takes only events signed by the site's own key, so no other
/// publisher can speak for a site.
pub fn sign(key: &str, message_id: &str, payload: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(message_id.as_bytes());
    mac.update(b"\n");
    mac.update(payload);
    crate::auth::hex(&mac.finalize().into_bytes())
}

/// Whether `signature` is the site's signature of an event (compared in constant time).
pub fn verify(key: &str, message_id: &str, payload: &[u8], signature: &str) -> bool {
    let want = sign(key, message_id, payload);
    !want.is_empty()
        && want.len() == signature.len()
        && want
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Checks a site key's shape: `lk_` and 64 hex digits.
pub fn check_key(key: &str) -> Result<String, String> {
    let ok = key
        .strip_prefix("lk_")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(key.to_owned())
    } else {
        Err("the site key (--ship-key) is `lk_` and 64 hex digits, as `luot-server hub site add` prints it".into())
    }
}

/// Checks an id used as a subject token and a stream name part: 1–32 of `a-z`, `0-9`, `-`,
/// `_`.
pub fn check_id(what: &str, id: &str) -> Result<String, String> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(format!(
            "{what} {id:?} must be 1 to 32 characters of a-z, 0-9, '-' and '_'"
        ))
    }
}

impl ShipConfig {
    /// Checks the ids and the URL.
    pub fn new(url: &str, site: &str, province: &str, key: &str) -> Result<ShipConfig, String> {
        let site = check_id("site", site)?;
        let key = check_key(key)?;
        let province = check_id("province", province)?;
        for part in url.split(',') {
            let rest = part
                .trim()
                .strip_prefix("nats://")
                .or_else(|| part.trim().strip_prefix("tls://"))
                .ok_or_else(|| format!("{part:?} is not a nats:// or tls:// address"))?;
            if rest.is_empty() || rest.contains('/') {
                return Err(format!("{:?} must be nats://HOST:PORT", redact(part)));
            }
        }
        NatsAuth::of(url)?;
        Ok(ShipConfig {
            url: url.to_owned(),
            site,
            province,
            key,
        })
    }

    /// The servers to connect to, one per comma-separated address, without credentials.
    pub fn servers(&self) -> Vec<String> {
        server_addresses(&self.url)
    }

    /// The credentials the addresses carry.
    pub fn auth(&self) -> NatsAuth {
        NatsAuth::of(&self.url).unwrap_or(NatsAuth::None)
    }

    /// The server list as shown and logged: a password in it is masked.
    pub fn shown_url(&self) -> String {
        redact(&self.url)
    }

    /// The subject this site's events are published to.
    pub fn subject(&self) -> String {
        site_subject(&self.province, &self.site)
    }
}

/// The credentials in a server list: `nats://USER:PASSWORD@HOST:PORT` or
/// `nats://TOKEN@HOST:PORT`, the same in every address that carries any (one NATS user per
/// program); percent-escapes (`%40` for `@`) are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials.
    None,
    /// A user and its password.
    User(String, String),
    /// A token.
    Token(String),
}

impl NatsAuth {
    /// Reads the credentials of a server list; addresses with different ones are refused.
    pub fn of(url: &str) -> Result<NatsAuth, String> {
        let mut found: Option<NatsAuth> = None;
        for part in server_list(url) {
            let Some((_, rest)) = part.split_once("://") else {
                continue;
            };
            let Some((auth, _)) = rest.rsplit_once('@') else {
                continue;
            };
            let auth = match auth.split_once(':') {
                Some((user, password)) => {
                    NatsAuth::User(percent_decode(user)?, percent_decode(password)?)
                }
                None => NatsAuth::Token(percent_decode(auth)?),
            };
            match &found {
                Some(seen) if *seen != auth => {
                    return Err(format!(
                        "the addresses of {} carry different credentials: one NATS user connects to every server of a cluster",
                        redact(url)
                    ));
                }
                _ => found = Some(auth),
            }
        }
        Ok(found.unwrap_or(NatsAuth::None))
    }

    /// Connection options that present these credentials.
    pub fn options(&self) -> async_nats::ConnectOptions {
        match self {
            NatsAuth::None => async_nats::ConnectOptions::new(),
            NatsAuth::User(user, password) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            NatsAuth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
        }
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % in a NATS address's credentials is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the credentials of a NATS address are not UTF-8".into())
}

/// `nats://a:4222,nats://b:4222` as its addresses to connect to, without their credentials
/// (given apart, see [`NatsAuth`], so that no password reaches a log).
pub fn server_addresses(url: &str) -> Vec<String> {
    server_list(url)
        .into_iter()
        .map(|part| match part.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}"),
                None => part,
            },
            None => part,
        })
        .collect()
}

/// `nats://a:4222,nats://b:4222` as its addresses.
pub fn server_list(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A server list with each `user:password@` shown as `user:***@` (a token alone as `***@`).
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|part| {
            let part = part.trim();
            let Some((scheme, rest)) = part.split_once("://") else {
                return part.to_owned();
            };
            match rest.rsplit_once('@') {
                Some((auth, host)) => {
                    let user = auth.split_once(':').map_or("", |(u, _)| u);
                    if user.is_empty() {
                        format!("{scheme}://***@{host}")
                    } else {
                        format!("{scheme}://{user}:***@{host}")
                    }
                }
                None => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The subject of one site's events.
pub fn site_subject(province: &str, site: &str) -> String {
    format!("luot.{province}.{site}")
}

/// The stream that holds a province's events.
pub fn stream_name(province: &str) -> String {
    // Upper-cased only: `hcm-1` and `hcm_1` keep two streams.
    format!("LUOT_{}", province.to_uppercase())
}

/// The stream's configuration, as both the sites and the hub create it.
pub fn stream_config(province: &str, replicas: usize) -> stream::Config {
    stream::Config {
        name: stream_name(province),
        subjects: vec![format!("luot.{province}.*")],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(STREAM_MAX_AGE_DAYS * 24 * 3600),
        max_message_size: MAX_MESSAGE,
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: replicas.max(1),
        discard: stream::DiscardPolicy::Old,
        // A site reads the last message of its own subject with a direct get whose request
        // subject names that subject, so NATS permissions can keep it from reading another
        // site's (packaging/province/nats-server.conf).
        allow_direct: true,
        ..Default::default()
    }
}

/// The inbox prefix of a site's connection: its replies (acknowledgements, API answers) come
/// on subjects only its own NATS user may subscribe to.
pub fn site_inbox_prefix(province: &str, site: &str) -> String {
    format!("_INBOX.luot.{province}.{site}")
}

/// The inbox prefix of the hub's connection.
pub fn hub_inbox_prefix(province: &str) -> String {
    format!("_INBOX.luot-hub.{province}")
}

/// Takes note of the NATS server's permission refusals on a connection (the server answers a
/// refused publish or subscription with an error only, and a refused request then times out):
/// each is logged and shown as the last error; the latest is returned by [`Refusals::take`].
#[derive(Clone, Default)]
pub struct Refusals {
    latest: Arc<Mutex<Option<String>>>,
}

impl Refusals {
    /// Whether a server error is a permission refusal; notes it.
    pub fn note(&self, error: &async_nats::ServerError) -> Option<String> {
        let async_nats::ServerError::Other(text) = error else {
            return None;
        };
        if !text.to_lowercase().contains("permissions violation") {
            return None;
        }
        let text = text.trim().trim_matches('\'').to_owned();
        *lock(&self.latest) = Some(text.clone());
        Some(text)
    }

    /// The latest refusal since the last call.
    pub fn take(&self) -> Option<String> {
        lock(&self.latest).take()
    }
}

/// What a permission refusal means for this program, for its last error.
pub fn refusal_message(who: &str, refused: &str) -> String {
    let hint = if refused.contains("STREAM.CREATE") {
        " (the hub makes the stream: start it first)"
    } else {
        ""
    };
    format!(
        "the NATS server refused {who}'s user: {refused}{hint}; the permissions it needs are in packaging/province/nats-server.conf"
    )
}

/// The subject on which the hub asks a site for events the stream no longer holds (not in the
/// stream: the stream takes `luot.<province>.<site>` only).
pub fn repair_subject(site_subject: &str) -> String {
    format!("{site_subject}.repair")
}

/// A repair request: events from `from` on.
#[derive(Debug, Serialize, Deserialize)]
pub struct RepairRequest {
    /// The first seq wanted.
    pub from: u64,
}

/// Bytes of events in one repair answer (NATS carries 1 MiB by default).
pub const REPAIR_BYTES: usize = 512 * 1024;

/// Answers repair requests: the events from the one asked for, each as it is published and
/// with its signature (`<signature> <event>`), one a line, at most [`REPAIR_BYTES`] (an empty
/// answer: nothing from there).
async fn serve_repairs(
    client: async_nats::Client,
    store: Store,
    config: ShipConfig,
    mut requests: async_nats::Subscriber,
) {
    use futures_util::StreamExt as _;
    while let Some(request) = requests.next().await {
        let Some(reply) = request.reply.clone() else {
            continue;
        };
        let Ok(ask) = serde_json::from_slice::<RepairRequest>(&request.payload) else {
            continue;
        };
        let from = ask.from.max(1);
        let store = store.clone();
        let config = config.clone();
        let lines = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let last = store.last_seq()?;
            if from > last {
                return Ok(out);
            }
            for rec in store.events(from, last, PAGE)? {
                let body = payload(&rec);
                let signature = sign(&config.key, &message_id(&config.site, rec.seq), &body);
                if !out.is_empty() && out.len() + signature.len() + body.len() + 2 > REPAIR_BYTES {
                    break;
                }
                // `<signature> <event>`: the hub checks each as it checks a published one.
                out.extend_from_slice(signature.as_bytes());
                out.push(b' ');
                out.extend_from_slice(&body);
                out.push(b'\n');
            }
            Ok::<_, StoreError>(out)
        })
        .await;
        match lines {
            Ok(Ok(lines)) => {
                tracing::info!(from, bytes = lines.len(), "the hub asked for events again");
                let _ = client.publish(reply, lines.into()).await;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot answer the hub's repair request"),
            Err(_) => {}
        }
    }
}

/// The message id of one event.
pub fn message_id(site: &str, seq: u64) -> String {
    format!("{site}:{seq}")
}

/// Reads a message id back: the site and the seq.
pub fn parse_message_id(id: &str) -> Option<(&str, u64)> {
    let (site, seq) = id.rsplit_once(':')?;
    Some((site, seq.parse().ok()?))
}

/// The bytes published for an event: the event as subscribers see it (without the issuing
/// request's idempotency key, which stays in the site).
pub fn payload(rec: &Recorded) -> Vec<u8> {
    let mut public = rec.clone();
    if let Event::TicketIssued { ticket, .. } = &mut public.event {
        ticket.request_id = None;
    }
    serde_json::to_vec(&public).unwrap_or_default()
}

/// What the stream has acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The last seq acknowledged.
    seq: u64,
    /// The stream sequence it was stored at.
    stream_seq: u64,
}

/// Where shipping is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipState {
    /// Reaching the NATS server.
    Connecting,
    /// Publishing the backlog.
    Shipping,
    /// Every event is acknowledged.
    CaughtUp,
    /// Cannot reach the province; retrying.
    Retrying,
    /// The stream holds events this log does not: shipping stopped until that is resolved.
    Refused,
}

/// Shipping as the admin page and `/api/v1/admin/ship` show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShipView {
    /// This site's id.
    pub site: String,
    /// The province's id.
    pub province: String,
    /// The subject published to.
    pub subject: String,
    /// The NATS server(s).
    pub server: String,
    /// Where shipping is.
    pub state: ShipState,
    /// The last seq the stream acknowledged.
    pub acked_seq: u64,
    /// The last seq of the log.
    pub last_seq: u64,
    /// Events not yet acknowledged.
    pub backlog: u64,
    /// When the last acknowledgement came.
    pub last_acked_at: Option<Timestamp>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<Timestamp>,
}

struct Status {
    state: ShipState,
    cursor: Cursor,
    last_acked_at: Option<Timestamp>,
    last_error: Option<String>,
    last_error_at: Option<Timestamp>,
}

/// The shipping task and its status.
pub struct Shipper {
    config: ShipConfig,
    store: Store,
    engine: EngineHandle,
    status: Mutex<Status>,
}

/// Why a round of shipping ended.
enum Stop {
    /// The server is stopping.
    Shutdown,
    /// The link failed; retry after a backoff.
    Link(String),
    /// The stream holds events this log does not.
    Refused(String),
    /// Something was published under this site's id without its key: wait this long (until
    /// the stream's duplicate window is past), then go on after it.
    Forged(String, Duration),
}

/// The stream's duplicate window (see [`stream_config`]).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| format!("the log cannot be read: {e}")),
        Err(_) => Err("the log reader stopped".into()),
    }
}

impl Shipper {
    /// Reads the cursor; nothing is shipped until [`Shipper::run`].
    pub fn open(
        config: ShipConfig,
        store: Store,
        engine: EngineHandle,
    ) -> anyhow::Result<Arc<Shipper>> {
        let cursor = match store.meta_get(&cursor_key(&config))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("the shipping cursor is damaged: {e}"))?,
            None => Cursor::default(),
        };
        Ok(Arc::new(Shipper {
            config,
            store,
            engine,
            status: Mutex::new(Status {
                state: ShipState::Connecting,
                cursor,
                last_acked_at: None,
                last_error: None,
                last_error_at: None,
            }),
        }))
    }

    /// The status.
    pub fn view(&self) -> ShipView {
        let last_seq = self.engine.published().view.seq;
        let s = lock(&self.status);
        ShipView {
            site: self.config.site.clone(),
            province: self.config.province.clone(),
            subject: self.config.subject(),
            server: self.config.shown_url(),
            state: s.state,
            acked_seq: s.cursor.seq,
            last_seq,
            backlog: last_seq.saturating_sub(s.cursor.seq),
            last_acked_at: s.last_acked_at,
            last_error: s.last_error.clone(),
            last_error_at: s.last_error_at,
        }
    }

    fn set_state(&self, state: ShipState) {
        lock(&self.status).state = state;
    }

    fn failed(&self, state: ShipState, why: &str) {
        let mut s = lock(&self.status);
        s.state = state;
        s.last_error = Some(why.to_owned());
        s.last_error_at = Some(Timestamp::now());
    }

    fn cursor(&self) -> Cursor {
        lock(&self.status).cursor
    }

    async fn save_cursor(&self, cursor: Cursor) -> Result<(), String> {
        let store = self.store.clone();
        let key = cursor_key(&self.config);
        let bytes = serde_json::to_vec(&cursor).unwrap_or_default();
        blocking(move || store.meta_put(&key, &bytes)).await
    }

    /// Ships until `shutdown` turns `true`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            if *shutdown.borrow() {
                break;
            }
            self.set_state(ShipState::Connecting);
            let stop = tokio::select! {
                stop = self.round() => stop,
                _ = shutdown.changed() => Stop::Shutdown,
            };
            let wait = match stop {
                Stop::Shutdown => break,
                Stop::Link(why) => {
                    tracing::warn!(error = %why, retry_in_s = backoff.as_secs(), "shipping to the province interrupted");
                    self.failed(ShipState::Retrying, &why);
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
                Stop::Refused(why) => {
                    tracing::error!(error = %why, "shipping to the province refused");
                    self.failed(ShipState::Refused, &why);
                    REFUSED_RECHECK
                }
                Stop::Forged(why, wait) => {
                    tracing::error!(error = %why, "a forged message on this site's subject");
                    self.failed(ShipState::Retrying, &why);
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
            if matches!(
                lock(&self.status).state,
                ShipState::Shipping | ShipState::CaughtUp
            ) {
                backoff = Duration::from_secs(1);
            }
        }
        // What was acknowledged is kept for the next start.
        let cursor = self.cursor();
        if let Err(e) = self.save_cursor(cursor).await {
            tracing::warn!(error = %e, "cannot keep the shipping cursor; it is reconciled at the next start");
        }
    }

    /// Connects, reconciles, then publishes until the link fails or shipping is refused.
    async fn round(self: &Arc<Self>) -> Stop {
        let refusals = Refusals::default();
        let noted = refusals.clone();
        let shipper = Arc::downgrade(self);
        let client = match self
            .config
            .auth()
            .options()
            .connection_timeout(CONNECT_TIMEOUT)
            .name(format!("luot-site {}", self.config.site))
            .custom_inbox_prefix(site_inbox_prefix(&self.config.province, &self.config.site))
            .event_callback(move |event| {
                // A refusal shows at once (a refused subscription to the repair subject leaves
                // shipping itself working); a request it makes time out says why.
                if let async_nats::Event::ServerError(error) = &event
                    && let Some(refused) = noted.note(error)
                    && let Some(shipper) = shipper.upgrade()
                {
                    let why = refusal_message("this site", &refused);
                    tracing::error!(error = %why, "shipping to the province");
                    let mut s = lock(&shipper.status);
                    s.last_error = Some(why);
                    s.last_error_at = Some(Timestamp::now());
                }
                async {}
            })
            .connect(self.config.servers())
            .await
        {
            Ok(client) => client,
            Err(e) => return Stop::Link(format!("cannot reach {}: {e}", self.config.shown_url())),
        };
        let js = jetstream::ContextBuilder::new()
            .timeout(ACK_TIMEOUT)
            .build(client.clone());
        // The hub asks for events the stream no longer holds; answered while connected.
        let repair = match client
            .subscribe(repair_subject(&self.config.subject()))
            .await
        {
            Ok(requests) => Some(tokio::spawn(serve_repairs(
                client.clone(),
                self.store.clone(),
                self.config.clone(),
                requests,
            ))),
            Err(e) => {
                tracing::warn!(error = %e, "cannot answer the hub's repair requests");
                None
            }
        };
        let mut result = self.ship(&js).await;
        if let Some(task) = repair {
            task.abort();
        }
        drop(js);
        let _ = client.drain().await;
        if let (Stop::Link(why), Some(refused)) = (&mut result, refusals.take()) {
            *why = format!("{why}: {}", refusal_message("this site", &refused));
        }
        result
    }

    async fn ship(&self, js: &jetstream::Context) -> Stop {
        let name = stream_name(&self.config.province);
        // Normally the hub made it (replicated, in a cluster); a site that comes first makes
        // a single-replica one.
        let stream = match js
            .get_or_create_stream(stream_config(&self.config.province, 1))
            .await
        {
            Ok(stream) => stream,
            Err(e) => return Stop::Link(format!("cannot open the stream {name}: {e}")),
        };
        if !stream.cached_info().config.allow_direct {
            return Stop::Link(format!(
                "the stream {name} does not answer direct gets (allow_direct), by which this site reads its last event: this version's hub turns them on when it starts"
            ));
        }
        let mut cursor = match self.reconcile(&stream).await {
            Ok(cursor) => cursor,
            Err(stop) => return stop,
        };
        {
            let mut s = lock(&self.status);
            s.cursor = cursor;
            s.state = ShipState::Shipping;
        }
        let subject = self.config.subject();
        let mut events = self.engine.subscribe();
        let mut unsaved = 0u64;
        loop {
            events = events.resubscribe();
            let head = self.engine.published().view.seq;
            if cursor.seq >= head {
                if unsaved > 0 {
                    if let Err(e) = self.save_cursor(cursor).await {
                        return Stop::Link(e);
                    }
                    unsaved = 0;
                }
                self.set_state(ShipState::CaughtUp);
                let _ = events.recv().await;
                continue;
            }
            self.set_state(ShipState::Shipping);
            let store = self.store.clone();
            let from = cursor.seq + 1;
            let page = match blocking(move || store.events(from, head, PAGE)).await {
                Ok(page) if page.first().is_some_and(|r| r.seq == from) => page,
                Ok(_) => return Stop::Link(format!("event {from} cannot be read here")),
                Err(e) => return Stop::Link(e),
            };
            for rec in &page {
                let body = payload(rec);
                let id = message_id(&self.config.site, rec.seq);
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(
                    SIGNATURE_HEADER,
                    sign(&self.config.key, &id, &body).as_str(),
                );
                let publish = PublishMessage::build()
                    .payload(body.clone().into())
                    .headers(headers)
                    .message_id(id)
                    .expected_last_subject_sequence(cursor.stream_seq);
                let ack = match js.send_publish(subject.clone(), publish).await {
                    Ok(future) => future.await,
                    Err(e) => Err(e),
                };
                if let Ok(ack) = &ack
                    && ack.duplicate
                {
                    // The stream drops a repeated message id before it checks the fence: the
                    // copy it kept must be this very event, or someone else published under
                    // this site's id (a second server, or a forgery). The site may read only
                    // the last message of its own subject: the copy is judged when it is that
                    // one, and otherwise the stream is read again from its end.
                    let last = match stream.direct_get_last_for_subject(subject.as_str()).await {
                        Ok(last) => Some(last),
                        Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => None,
                        Err(e) => {
                            return Stop::Link(format!("cannot check a repeated event: {e}"));
                        }
                    };
                    let stored = match last {
                        Some(last) if last.sequence == ack.sequence => last,
                        _ => {
                            if unsaved > 0 {
                                let _ = self.save_cursor(cursor).await;
                            }
                            return Stop::Link(format!(
                                "the stream holds event {} of this site at stream seq {}, not the last message of {subject}; checking again",
                                rec.seq, ack.sequence
                            ));
                        }
                    };
                    if stored.payload.as_ref() == body.as_slice() {
                        tracing::debug!(seq = rec.seq, "the stream already had this event");
                    } else if !self.signed_by_us(&stored) {
                        if unsaved > 0 {
                            let _ = self.save_cursor(cursor).await;
                        }
                        return Stop::Forged(
                            format!(
                                "stream seq {} took the id of event {} without this site's key (a forgery; the province refuses it); shipping goes on after it once the stream's duplicate window has passed",
                                ack.sequence, rec.seq
                            ),
                            DUPLICATE_WINDOW + Duration::from_secs(1),
                        );
                    } else {
                        if unsaved > 0 {
                            let _ = self.save_cursor(cursor).await;
                        }
                        return Stop::Refused(format!(
                            "the stream already holds another event {} of site {:?} (stream seq {}): another server ships as this site, or another program published under its id",
                            rec.seq, self.config.site, ack.sequence
                        ));
                    }
                }
                match ack {
                    Ok(ack) => {
                        cursor = Cursor {
                            seq: rec.seq,
                            stream_seq: ack.sequence,
                        };
                        {
                            let mut s = lock(&self.status);
                            s.cursor = cursor;
                            s.last_acked_at = Some(Timestamp::now());
                        }
                        unsaved += 1;
                        if unsaved >= CURSOR_EVERY {
                            if let Err(e) = self.save_cursor(cursor).await {
                                return Stop::Link(e);
                            }
                            unsaved = 0;
                        }
                    }
                    Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                        // Someone else's message is last on our subject, or our cursor is
                        // behind what the stream stored: find out which.
                        if unsaved > 0 {
                            let _ = self.save_cursor(cursor).await;
                        }
                        return Stop::Link(format!(
                            "the stream's last message for {subject} is not event {}; checking again",
                            cursor.seq
                        ));
                    }
                    Err(e) => {
                        if unsaved > 0 {
                            let _ = self.save_cursor(cursor).await;
                        }
                        return Stop::Link(format!("event {} not acknowledged: {e}", rec.seq));
                    }
                }
            }
        }
    }

    /// Compares the cursor with the last message of the subject; see the module comment.
    async fn reconcile(&self, stream: &stream::Stream) -> Result<Cursor, Stop> {
        let subject = self.config.subject();
        let cursor = self.cursor();
        let last = match stream.direct_get_last_for_subject(subject.as_str()).await {
            Ok(message) => Some(message),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => None,
            Err(e) => return Err(Stop::Link(format!("cannot read the stream: {e}"))),
        };
        if let Some(junk) = last.as_ref().filter(|m| !self.signed_by_us(m)) {
            // Not this site's (not signed with its key): the province refuses it; fence after
            // the junk. (The site reads no message but the last of its subject: should the
            // cursor's own event be missing from the stream, the hub asks the site for it.)
            tracing::warn!(
                stream_seq = junk.sequence,
                "the last message on this site's subject is not signed with its key; shipping goes on after it"
            );
            return Ok(Cursor {
                seq: cursor.seq,
                stream_seq: junk.sequence,
            });
        }
        let Some(last) = last else {
            if cursor.seq > 0 {
                tracing::warn!(
                    acked = cursor.seq,
                    "the stream holds nothing of this site (expired or recreated); shipping again from the start"
                );
            }
            // The hub keeps what it has and takes the rest; its cursor drops repeats.
            return Ok(Cursor::default());
        };
        let id = last
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let theirs = match parse_message_id(&id) {
            Some((site, seq)) if site == self.config.site => seq,
            _ => {
                return Err(Stop::Refused(format!(
                    "the last message on {subject} (stream seq {}) is not an event of site {:?}: another program publishes there",
                    last.sequence, self.config.site
                )));
            }
        };
        let ours = match self.local_event(theirs).await {
            Ok(ours) => ours,
            Err(e) => return Err(Stop::Link(e)),
        };
        match ours {
            Some(rec) if payload(&rec) == last.payload.as_ref() => {
                if theirs != cursor.seq {
                    tracing::info!(
                        stream_has = theirs,
                        cursor = cursor.seq,
                        "shipping resumes after the stream's last event of this site"
                    );
                }
                let cursor = Cursor {
                    seq: theirs,
                    stream_seq: last.sequence,
                };
                self.save_cursor(cursor).await.map_err(Stop::Link)?;
                Ok(cursor)
            }
            Some(_) => Err(Stop::Refused(format!(
                "the stream's event {theirs} of site {:?} differs from this log's: another server ships as this site, or this data directory was restored from an older backup and has written other events since",
                self.config.site
            ))),
            None => Err(Stop::Refused(format!(
                "the stream holds events of site {:?} up to {theirs}, past the end of this log: another server ships as this site, or this data directory was restored from an older backup",
                self.config.site
            ))),
        }
    }

    /// Whether a stored message is an event of this site, signed with its key.
    fn signed_by_us(&self, message: &jetstream::message::StreamMessage) -> bool {
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        let id = header("Nats-Msg-Id");
        parse_message_id(&id).is_some_and(|(site, _)| site == self.config.site)
            && verify(
                &self.config.key,
                &id,
                &message.payload,
                &header(SIGNATURE_HEADER),
            )
    }

    async fn local_event(&self, seq: u64) -> Result<Option<Recorded>, String> {
        if seq == 0 {
            return Ok(None);
        }
        let store = self.store.clone();
        let page = blocking(move || store.events(seq, seq, 1)).await?;
        Ok(page.into_iter().find(|r| r.seq == seq))
    }
}

/// Routes of this module.
pub fn router() -> axum::Router<crate::AppState> {
    axum::Router::new().route("/api/v1/admin/ship", axum::routing::get(status))
}

/// Whether shipping is on, and how far it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipStatus {
    /// Whether this server ships its log (`--ship`).
    pub enabled: bool,
    /// How far, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping: Option<ShipView>,
}

/// Shipping of the log to the province: the last `seq` acknowledged and the backlog.
#[utoipa::path(get, path = "/api/v1/admin/ship", tag = "integration",
    description = "Admin.",
    responses((status = 200, description = "Shipping status", body = ShipStatus)))]
async fn status(
    axum::extract::State(app): axum::extract::State<crate::AppState>,
    who: crate::auth::Principal,
) -> crate::error::Result<crate::error::Json<ShipStatus>> {
    who.require(&[luot_shared::protocol::Role::Admin])?;
    Ok(crate::error::Json(ShipStatus {
        enabled: app.ship.is_some(),
        shipping: app.ship.as_ref().map(|s| s.view()),
    }))
}

fn cursor_key(config: &ShipConfig) -> String {
    format!("{CURSOR_KEY}/{}/{}", config.province, config.site)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are checked as subject tokens: no dots, wildcards, spaces or capitals.
    #[test]
    fn ids() {
        assert!(check_id("site", "q1-hcm").is_ok());
        for bad in ["", "a.b", "a*", "A", "a b", &"x".repeat(33), ">"] {
            assert!(check_id("site", bad).is_err(), "{bad:?}");
        }
        let key = format!("lk_{}", "a1".repeat(32));
        assert!(ShipConfig::new("nats://h:4222", "s1", "p", &key).is_ok());
        assert!(ShipConfig::new("http://h:4222", "s1", "p", &key).is_err());
        assert!(ShipConfig::new("nats://h:4222/x", "s1", "p", &key).is_err());
        assert!(ShipConfig::new("nats://h:4222", "s1", "p", "lk_short").is_err());
    }

    /// A message id reads back as the site and the seq it was made from.
    #[test]
    fn message_ids() {
        assert_eq!(parse_message_id(&message_id("q1", 42)), Some(("q1", 42)));
        assert_eq!(parse_message_id("q1:x"), None);
        assert_eq!(parse_message_id("nothing"), None);
        assert_eq!(stream_name("hcm-city"), "LUOT_HCM-CITY");
        assert_ne!(stream_name("hcm-1"), stream_name("hcm_1"));
    }

    /// A signature holds for its own event only, under its own site's key.
    #[test]
    fn signatures() {
        let key = format!("lk_{}", "0f".repeat(32));
        let other = format!("lk_{}", "f0".repeat(32));
        let sig = sign(&key, "s1:7", b"{}");
        assert!(verify(&key, "s1:7", b"{}", &sig));
        assert!(!verify(&other, "s1:7", b"{}", &sig));
        assert!(!verify(&key, "s1:8", b"{}", &sig));
        assert!(!verify(&key, "s1:7", b"{ }", &sig));
        assert!(!verify(&key, "s1:7", b"{}", ""));
    }

    /// The credentials of a server list are given to NATS apart from its addresses, decoded,
    /// and one list carries one user's.
    #[test]
    fn credentials() {
        let list = "nats://q1:p%40ss:w@n1:4222, nats://q1:p%40ss:w@n2:4222,nats://n3:4222";
        assert_eq!(
            NatsAuth::of(list),
            Ok(NatsAuth::User("q1".into(), "p@ss:w".into()))
        );
        assert_eq!(
            server_addresses(list),
            ["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"]
        );
        assert_eq!(
            NatsAuth::of("tls://t0k@n1:4222"),
            Ok(NatsAuth::Token("t0k".into()))
        );
        assert_eq!(NatsAuth::of("nats://n1:4222"), Ok(NatsAuth::None));
        assert!(NatsAuth::of("nats://q1:a@n1:4222,nats://q2:b@n2:4222").is_err());
        assert!(NatsAuth::of("nats://q1:%zz@n1:4222").is_err());
        let key = format!("lk_{}", "a1".repeat(32));
        assert!(ShipConfig::new("nats://a:b@h:4222,nats://c:d@h2:4222", "s1", "p", &key).is_err());
    }

    /// A password in the server list never reaches a page or a log.
    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact("nats://site:s3cret@n1:4222,nats://n2:4222,tls://tok@n3:4222"),
            "nats://site:***@n1:4222,nats://n2:4222,tls://***@n3:4222"
        );
    }
}
