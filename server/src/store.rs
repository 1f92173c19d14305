//! Durable storage: the event log, snapshots, a per-day index and credentials, in sled.
//!
//! Nothing outside this module names sled. Writes are made durable by [`Store::flush`]; the
//! engine task calls it once per batch of commands (group commit) before it answers anyone.
//!
//! # Damage and failure
//!
//! Every stored value is framed: a format byte and a CRC32 of the payload, so a damaged record
//! is named rather than served ([`Store::verify`] reads every one at start; values written
//! before the frame existed are checked by decoding and then rewritten framed).
//!
//! sled keeps the first I/O error it meets (a full disk, a failing device) and refuses every
//! later write of that handle (reads of what is on disk still work). So after such an error
//! the store marks itself failing: writes answer [`StoreError::Unavailable`], reads go on, and
//! [`Store::health`] says why. A background thread probes the disk; once it takes a write
//! again the handle is dropped and the database reopened, and a write and a flush through the
//! new handle end the failure. Whatever was flushed before the failure is on disk and is what
//! the reopened handle reads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use luot_shared::{Engine, Recorded};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// sled's page cache. The live state is small (today's events and a snapshot); the default
/// 1 GiB cache only costs memory on a mini PC.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// How many snapshots are kept (the newest is used; older ones are a fallback).
const SNAPSHOTS_KEPT: usize = 3;
/// First byte of a framed value: then a CRC32 (little endian) of the payload, then the payload.
/// A JSON value never starts with it, and a legacy day index entry is exactly 8 bytes.
const FRAMED: u8 = 0xC5;
const FRAME_HEADER: usize = 5;
/// Pause between attempts to reopen a failing database.
const REOPEN_EVERY: Duration = Duration::from_millis(500);
/// A file written and synced to learn whether the disk has room again, and its size.
const PROBE_FILE: &str = "luot-space-probe";
const PROBE_BYTES: usize = 1024 * 1024;
/// Attempts to open the database right after dropping the failed handle, and the pause
/// between them (a reader may hold the old handle for a moment).
const REOPEN_TRIES: usize = 40;
const REOPEN_TRY_PAUSE: Duration = Duration::from_millis(25);
/// Meta key written and flushed to prove that a reopened database accepts writes.
const PROBE_KEY: &str = "store_probe";
/// Records rewritten per batch while upgrading legacy values to framed ones.
const UPGRADE_BATCH: usize = 4096;
/// Pause between two checks of the whole log by a running server.
const SCRUB_EVERY: Duration = Duration::from_secs(24 * 3600);
/// A file beside sled's that holds the last seq made durable. When sled meets a damaged
/// block while it recovers, it takes the damage for the end of its log and silently drops
/// everything after it; this mark is how a start knows that events are missing.
pub const SEQ_MARK_FILE: &str = "luot-durable-seq";
const SEQ_MARK_MAGIC: &[u8; 4] = b"LSEQ";

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed in a way that is not an I/O failure.
    #[error("database: {0}")]
    Db(sled::Error),
    /// Stored bytes do not decode or fail their checksum.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// The decoding error.
        detail: String,
    },
    /// The disk refused a read or write (full, failing, gone); the store is reopening.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The directory's data format is newer than this build reads, or its format file is
    /// unreadable ([`crate::data_format`]).
    #[error("{0}")]
    Format(#[from] crate::data_format::FormatError),
}

impl StoreError {
    /// True for a failure of the disk, which passes once it has room or is back.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How the store is doing, for `/healthz` and the metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Health {
    /// The disk refused a write and the store has not yet reopened.
    pub failing: bool,
    /// The last failure, while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Since when it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Storage failures since start.
    pub failures: u64,
    /// Successful reopenings since start.
    pub reopened: u64,
    /// Damage found in the log by the check that runs while serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// The sled handles of one opening of the database.
struct Trees {
    db: sled::Db,
    events: sled::Tree,
    snapshots: sled::Tree,
    days: sled::Tree,
    rollups: sled::Tree,
    meta: sled::Tree,
    tokens: sled::Tree,
    users: sled::Tree,
    sessions: sled::Tree,
}

impl Trees {
    fn open(dir: &Path) -> Result<Trees, sled::Error> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        Ok(Trees {
            events: db.open_tree("events")?,
            snapshots: db.open_tree("snapshots")?,
            days: db.open_tree("days")?,
            rollups: db.open_tree("rollups")?,
            meta: db.open_tree("meta")?,
            tokens: db.open_tree("tokens")?,
            users: db.open_tree("users")?,
            sessions: db.open_tree("sessions")?,
            db,
        })
    }

    fn table(&self, table: Table) -> &sled::Tree {
        match table {
            Table::Tokens => &self.tokens,
            Table::Users => &self.users,
            Table::Sessions => &self.sessions,
        }
    }
}

struct Shared {
    dir: PathBuf,
    /// `None` only between dropping a failed handle and opening the next one.
    trees: RwLock<Option<Arc<Trees>>>,
    failing: AtomicBool,
    reopening: AtomicBool,
    failures: AtomicU64,
    reopened: AtomicU64,
    last_error: Mutex<Option<(String, Timestamp)>>,
    /// The highest seq appended (durable once a flush returns).
    appended: AtomicU64,
    /// The seq mark file and the value it holds.
    mark: Mutex<SeqMark>,
    /// Damage the check of the whole log found while serving.
    damaged: Mutex<Option<Damage>>,
}

struct SeqMark {
    /// What the file held when opened (`None`: absent or unreadable).
    found: Option<u64>,
    value: u64,
    file: Option<std::fs::File>,
}

impl SeqMark {
    fn open(dir: &Path) -> SeqMark {
        let path = dir.join(SEQ_MARK_FILE);
        let found = std::fs::read(&path).ok().and_then(|bytes| {
            let bytes: [u8; 16] = bytes.try_into().ok()?;
            let (body, sum) = bytes.split_at(12);
            (&body[..4] == SEQ_MARK_MAGIC && sum == crc(body))
                .then(|| u64::from_le_bytes(body[4..12].try_into().unwrap_or_default()))
        });
        let file = std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot open the seq mark file"))
            .ok();
        SeqMark {
            found,
            value: found.unwrap_or(0),
            file,
        }
    }

    /// Records that `seq` is durable. The write is not synced: it only ever trails what
    /// sled has synced, and a lost one merely weakens the next start's check.
    fn advance(&mut self, seq: u64) {
        if seq <= self.value {
            return;
        }
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(SEQ_MARK_MAGIC);
        bytes[4..12].copy_from_slice(&seq.to_le_bytes());
        let sum = crc(&bytes[..12]);
        bytes[12..].copy_from_slice(&sum);
        if let Some(file) = &self.file {
            use std::os::unix::fs::FileExt as _;
            if let Err(e) = file.write_all_at(&bytes, 0) {
                tracing::warn!(error = %e, "cannot write the seq mark file");
                return;
            }
        }
        self.value = seq;
    }
}

/// Handle to the data directory. Cheap to clone; all clones share the database.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// A credentials table.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// Device and script tokens, keyed by the token's hash.
    Tokens,
    /// Staff and admin accounts, keyed by user name.
    Users,
    /// Browser sessions, keyed by the session token's hash.
    Sessions,
}

/// What [`Store::verify`] read.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// Events in the log (seq 1 to this, without a gap).
    pub events: u64,
    /// Every record read, all tables.
    pub records: u64,
    /// Records written before checksums existed, now rewritten with one.
    pub upgraded: u64,
    /// Damaged derived records (snapshots, roll-ups) dropped; they are computed again.
    pub dropped: u64,
    /// Events 1 to this were not read (see [`Store::verify_start`]).
    pub deferred: u64,
}

/// Which events a verification reads.
#[derive(Debug, Clone, Copy)]
enum Scope {
    All,
    AfterSnapshot,
}

/// What is damaged in a data directory, as found by [`Store::verify`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct Damage {
    /// The part of the data directory.
    pub what: String,
    /// What is wrong with it.
    pub detail: String,
    /// The last event seq before the damage that is intact (an export with `--salvage` keeps
    /// events up to it).
    pub intact_events: u64,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        crate::data_format::check_and_record(dir)?;
        let trees = Trees::open(dir).map_err(|e| match e {
            sled::Error::Io(io) => StoreError::Unavailable(io.to_string()),
            other => StoreError::Db(other),
        })?;
        Ok(Store {
            shared: Arc::new(Shared {
                dir: dir.to_owned(),
                trees: RwLock::new(Some(Arc::new(trees))),
                failing: AtomicBool::new(false),
                reopening: AtomicBool::new(false),
                failures: AtomicU64::new(0),
                reopened: AtomicU64::new(0),
                last_error: Mutex::new(None),
                appended: AtomicU64::new(0),
                mark: Mutex::new(SeqMark::open(dir)),
                damaged: Mutex::new(None),
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// How the store is doing.
    pub fn health(&self) -> Health {
        let failing = self.shared.failing.load(Ordering::SeqCst);
        let last = if failing {
            self.shared
                .last_error
                .lock()
                .map(|g| g.clone())
                .unwrap_or_default()
        } else {
            None
        };
        Health {
            failing,
            error: last.as_ref().map(|(e, _)| e.clone()),
            since: last.map(|(_, at)| at),
            failures: self.shared.failures.load(Ordering::Relaxed),
            reopened: self.shared.reopened.load(Ordering::Relaxed),
            damaged: self
                .shared
                .damaged
                .lock()
                .ok()
                .and_then(|d| d.as_ref().map(ToString::to_string)),
        }
    }

    /// True while the disk refuses writes and the store has not reopened.
    pub fn is_failing(&self) -> bool {
        self.shared.failing.load(Ordering::SeqCst)
    }

    /// The current handles, or `Unavailable` while failing.
    fn trees(&self) -> Result<Arc<Trees>> {
        let guard = self
            .shared
            .trees
            .read()
            .map_err(|_| StoreError::Unavailable("store lock poisoned".into()))?;
        match guard.as_ref() {
            Some(trees) => Ok(trees.clone()),
            None => Err(StoreError::Unavailable(self.failure_text())),
        }
    }

    fn failure_text(&self) -> String {
        self.shared
            .last_error
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|(e, _)| e.clone()))
            .unwrap_or_else(|| "the store is reopening".into())
    }

    /// Turns a sled error into a store error; an I/O failure marks the store failing and
    /// starts reopening it.
    fn fail(&self, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(io) => {
                let text = format!("the disk refused a write or read: {io}");
                self.mark_failing(&text);
                StoreError::Unavailable(text)
            }
            sled::Error::ReportableBug(bug) => {
                let text = format!("the database stopped after an internal failure: {bug}");
                self.mark_failing(&text);
                StoreError::Unavailable(text)
            }
            sled::Error::Corruption { at, bt: _ } => StoreError::Corrupt {
                what: "database page",
                detail: format!("checksum mismatch at {at:?}"),
            },
            other => StoreError::Db(other),
        }
    }

    fn mark_failing(&self, text: &str) {
        if let Ok(mut last) = self.shared.last_error.lock() {
            let since = match last.as_ref() {
                Some((_, since)) if self.shared.failing.load(Ordering::SeqCst) => *since,
                _ => Timestamp::now(),
            };
            *last = Some((text.to_owned(), since));
        }
        if !self.shared.failing.swap(true, Ordering::SeqCst) {
            self.shared.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                error = text,
                "storage failing; the database is reopened once the disk accepts writes"
            );
        }
        if !self.shared.reopening.swap(true, Ordering::SeqCst) {
            let store = self.clone();
            let spawned = std::thread::Builder::new()
                .name("luot-store-reopen".into())
                .spawn(move || store.reopen_loop());
            if let Err(e) = spawned {
                self.shared.reopening.store(false, Ordering::SeqCst);
                tracing::error!(error = %e, "cannot start the thread that reopens the store");
            }
        }
    }

    /// While failing, the old handle still serves reads of what is on disk (sled refuses only
    /// writes after an I/O error). Once a probe file can be written and synced, the handle is
    /// dropped and the database opened again.
    fn reopen_loop(&self) {
        let mut attempts: u64 = 0;
        loop {
            std::thread::sleep(REOPEN_EVERY);
            attempts += 1;
            let result = self.probe_disk().and_then(|()| self.swap_handle());
            match result {
                Ok(()) => {
                    self.shared.reopened.fetch_add(1, Ordering::Relaxed);
                    self.shared.reopening.store(false, Ordering::SeqCst);
                    self.shared.failing.store(false, Ordering::SeqCst);
                    tracing::info!(attempts, "store reopened; the disk accepts writes again");
                    return;
                }
                Err(e) => {
                    if attempts == 1 || attempts.is_multiple_of(60) {
                        tracing::warn!(attempts, error = %e, "store still failing");
                    }
                    if let Ok(mut last) = self.shared.last_error.lock()
                        && let Some((text, _)) = last.as_mut()
                    {
                        *text = format!("the disk refuses writes: {e}");
                    }
                }
            }
        }
    }

    /// Writes and syncs [`PROBE_BYTES`] beside the database, then removes them.
    fn probe_disk(&self) -> Result<(), String> {
        use std::io::Write as _;
        let path = self.shared.dir.join(PROBE_FILE);
        let written = std::fs::File::create(&path).and_then(|mut f| {
            f.write_all(&vec![0u8; PROBE_BYTES])?;
            f.sync_all()
        });
        let _ = std::fs::remove_file(&path);
        written.map_err(|e| e.to_string())
    }

    /// Drops the failed handle and opens the database again; on failure the store stays
    /// without a handle (calls answer `Unavailable`) until the next attempt.
    fn swap_handle(&self) -> Result<(), String> {
        let old = self
            .shared
            .trees
            .write()
            .map_err(|_| "store lock poisoned".to_owned())?
            .take();
        drop(old);
        // A reader may still hold the old handle for a moment (an iterator): the database is
        // locked until it lets go.
        let mut last = String::new();
        for _ in 0..REOPEN_TRIES {
            match self.try_reopen() {
                Ok(trees) => {
                    let mut slot = self
                        .shared
                        .trees
                        .write()
                        .map_err(|_| "store lock poisoned".to_owned())?;
                    *slot = Some(Arc::new(trees));
                    return Ok(());
                }
                Err(e) => {
                    last = e.to_string();
                    std::thread::sleep(REOPEN_TRY_PAUSE);
                }
            }
        }
        Err(last)
    }

    /// Opens the database again and proves it takes a durable write.
    fn try_reopen(&self) -> Result<Trees, sled::Error> {
        let trees = Trees::open(&self.shared.dir)?;
        trees
            .meta
            .insert(PROBE_KEY, frame(Timestamp::now().to_string().as_bytes()))?;
        trees.db.flush()?;
        Ok(trees)
    }

    /// Appends events to the log (not yet durable: call [`Store::flush`]).
    pub fn append(&self, events: &[Recorded]) -> Result<()> {
        let t = self.trees()?;
        let mut batch = sled::Batch::default();
        for rec in events {
            batch.insert(&rec.seq.to_be_bytes(), encode(rec));
        }
        t.events.apply_batch(batch).map_err(|e| self.fail(e))?;
        if let Some(last) = events.iter().map(|r| r.seq).max() {
            self.shared.appended.fetch_max(last, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The last seq the seq mark file says was made durable, as found at open (`None` for a
    /// directory from before the mark existed).
    pub fn recorded_seq(&self) -> Option<u64> {
        self.shared.mark.lock().ok().and_then(|m| m.found)
    }

    /// Records that `seq` is the first event of local day `day`, unless one is known.
    pub fn mark_day(&self, day: Date, seq: u64) -> Result<()> {
        let t = self.trees()?;
        let key = day.to_string();
        t.days
            .compare_and_swap(
                key.as_bytes(),
                None as Option<&[u8]>,
                Some(frame(&seq.to_be_bytes())),
            )
            .map_err(|e| self.fail(e))?
            .ok();
        Ok(())
    }

    /// First seq of the earliest recorded day on or after `day`.
    pub fn first_seq_from(&self, day: Date) -> Result<Option<u64>> {
        let t = self.trees()?;
        let key = day.to_string();
        match t.days.range(key.as_bytes()..).next() {
            Some(item) => Ok(Some(decode_day(&item.map_err(|e| self.fail(e))?.1)?)),
            None => Ok(None),
        }
    }

    /// First seq of local day `day`, if anything happened that day.
    pub fn first_seq_of(&self, day: Date) -> Result<Option<u64>> {
        let t = self.trees()?;
        match t
            .days
            .get(day.to_string().as_bytes())
            .map_err(|e| self.fail(e))?
        {
            Some(bytes) => Ok(Some(decode_day(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every local day on which something was recorded, in order.
    pub fn recorded_days(&self) -> Result<Vec<Date>> {
        let t = self.trees()?;
        let mut days = Vec::new();
        for item in t.days.iter().keys() {
            let key = item.map_err(|e| self.fail(e))?;
            if let Some(day) = std::str::from_utf8(&key).ok().and_then(|k| k.parse().ok()) {
                days.push(day);
            }
        }
        Ok(days)
    }

    /// The stored roll-up of a closed day.
    pub fn rollup_get(&self, day: Date) -> Result<Option<Vec<u8>>> {
        let t = self.trees()?;
        match t
            .rollups
            .get(day.to_string().as_bytes())
            .map_err(|e| self.fail(e))?
        {
            Some(bytes) => Ok(Some(
                unframe(&bytes, "report roll-up", Legacy::Json)?.to_vec(),
            )),
            None => Ok(None),
        }
    }

    /// Stores the roll-up of a closed day (derived data: no flush of its own; a lost one is
    /// computed again).
    pub fn rollup_put(&self, day: Date, bytes: &[u8]) -> Result<()> {
        let t = self.trees()?;
        t.rollups
            .insert(day.to_string().as_bytes(), frame(bytes))
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Makes every write so far durable. Blocks on the disk.
    pub fn flush(&self) -> Result<usize> {
        let t = self.trees()?;
        let appended = self.shared.appended.load(Ordering::SeqCst);
        let flushed = t.db.flush().map_err(|e| self.fail(e))?;
        if let Ok(mut mark) = self.shared.mark.lock() {
            mark.advance(appended);
        }
        Ok(flushed)
    }

    /// Saves a snapshot of the engine and drops old ones.
    pub fn save_snapshot(&self, engine: &Engine) -> Result<()> {
        let t = self.trees()?;
        t.snapshots
            .insert(engine.seq().to_be_bytes(), frame(&engine.snapshot()))
            .map_err(|e| self.fail(e))?;
        while t.snapshots.len() > SNAPSHOTS_KEPT {
            if t.snapshots.pop_min().map_err(|e| self.fail(e))?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Rebuilds the engine: the newest readable snapshot, then every event after it.
    pub fn load(&self) -> Result<Engine> {
        let t = self.trees()?;
        let mut engine = Engine::new();
        for item in t.snapshots.iter().rev() {
            let (_, bytes) = item.map_err(|e| self.fail(e))?;
            let parsed = unframe(&bytes, "snapshot", Legacy::Json)
                .map_err(|e| e.to_string())
                .and_then(|json| Engine::from_snapshot(json).map_err(|e| e.to_string()));
            match parsed {
                Ok(e) => {
                    engine = e;
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "unreadable snapshot skipped"),
            }
        }
        let from = engine.seq() + 1;
        for item in t.events.range(from.to_be_bytes()..) {
            let (_, bytes) = item.map_err(|e| self.fail(e))?;
            let rec: Recorded = decode(&bytes, "event")?;
            engine.apply(&rec).map_err(|e| StoreError::Corrupt {
                what: "event log",
                detail: e.to_string(),
            })?;
        }
        Ok(engine)
    }

    /// Events with `from <= seq <= to`, at most `limit` of them.
    pub fn events(&self, from: u64, to: u64, limit: usize) -> Result<Vec<Recorded>> {
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let t = self.trees()?;
        for item in t
            .events
            .range(from.to_be_bytes()..=to.to_be_bytes())
            .take(limit)
        {
            let (_, bytes) = item.map_err(|e| self.fail(e))?;
            out.push(decode(&bytes, "event")?);
        }
        Ok(out)
    }

    /// Iterates over the log from `from` on, decoding lazily.
    pub fn events_from(&self, from: u64) -> impl Iterator<Item = Result<Recorded>> + use<> {
        let store = self.clone();
        let (first, iter) = match self.trees() {
            Ok(t) => (None, Some(t.events.range(from.to_be_bytes()..))),
            Err(e) => (Some(Err(e)), None),
        };
        first
            .into_iter()
            .chain(iter.into_iter().flatten().map(move |item| {
                let (_, bytes) = item.map_err(|e| store.fail(e))?;
                decode(&bytes, "event")
            }))
    }

    /// Seq of the last event in the log.
    pub fn last_seq(&self) -> Result<u64> {
        let t = self.trees()?;
        match t.events.last().map_err(|e| self.fail(e))? {
            Some((key, _)) => decode_seq(&key),
            None => Ok(0),
        }
    }

    /// A value from the meta table, created with `init` the first time.
    pub fn meta_or_init(&self, key: &str, init: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
        if let Some(v) = self.meta_get(key)? {
            return Ok(v);
        }
        let t = self.trees()?;
        let value = init();
        t.meta
            .compare_and_swap(key, None as Option<&[u8]>, Some(frame(&value)))
            .map_err(|e| self.fail(e))?
            .ok();
        t.db.flush().map_err(|e| self.fail(e))?;
        Ok(self.meta_get(key)?.unwrap_or(value))
    }

    /// A value from the meta table.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let t = self.trees()?;
        match t.meta.get(key).map_err(|e| self.fail(e))? {
            Some(bytes) => Ok(Some(unframe(&bytes, "meta", Legacy::Raw)?.to_vec())),
            None => Ok(None),
        }
    }

    /// Writes a value to the meta table durably.
    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        let t = self.trees()?;
        t.meta.insert(key, frame(value)).map_err(|e| self.fail(e))?;
        t.db.flush().map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Removes a value from the meta table durably; true if it existed.
    pub fn meta_remove(&self, key: &str) -> Result<bool> {
        let t = self.trees()?;
        let existed = t.meta.remove(key).map_err(|e| self.fail(e))?.is_some();
        t.db.flush().map_err(|e| self.fail(e))?;
        Ok(existed)
    }

    /// Every meta key and value (the store's own probe excluded).
    pub fn meta_list(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let t = self.trees()?;
        let mut out = Vec::new();
        for item in t.meta.iter() {
            let (k, v) = item.map_err(|e| self.fail(e))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            if key == PROBE_KEY {
                continue;
            }
            out.push((key, unframe(&v, "meta", Legacy::Raw)?.to_vec()));
        }
        Ok(out)
    }

    /// Reads a credential record.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let t = self.trees()?;
        match t.table(table).get(key).map_err(|e| self.fail(e))? {
            Some(bytes) => Ok(Some(decode(&bytes, "credential")?)),
            None => Ok(None),
        }
    }

    /// Writes a credential record durably.
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        let t = self.trees()?;
        t.table(table)
            .insert(key, encode(value))
            .map_err(|e| self.fail(e))?;
        t.db.flush().map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Inserts a credential record durably only if the key is free; false if it was taken.
    pub fn put_new<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<bool> {
        let t = self.trees()?;
        let done = t
            .table(table)
            .compare_and_swap(key, None as Option<&[u8]>, Some(encode(value)))
            .map_err(|e| self.fail(e))?
            .is_ok();
        t.db.flush().map_err(|e| self.fail(e))?;
        Ok(done)
    }

    /// Removes a credential record durably; true if it existed.
    pub fn remove(&self, table: Table, key: &str) -> Result<bool> {
        let t = self.trees()?;
        let existed = t
            .table(table)
            .remove(key)
            .map_err(|e| self.fail(e))?
            .is_some();
        t.db.flush().map_err(|e| self.fail(e))?;
        Ok(existed)
    }

    /// Encodes a credential record the way the store keeps it, for a [`CredentialOp`].
    pub fn encode_credential<T: Serialize>(value: &T) -> Vec<u8> {
        encode(value)
    }

    /// Applies one credential write without making it durable: the credential writer applies
    /// a batch of them and then calls [`Store::flush`] once. For `PutNew` and `Remove`, whether
    /// it took effect.
    pub fn apply_credential(&self, op: &CredentialOp) -> Result<bool> {
        let t = self.trees()?;
        Ok(match op {
            CredentialOp::Put { table, key, value } => {
                t.table(*table)
                    .insert(key.as_str(), value.as_slice())
                    .map_err(|e| self.fail(e))?;
                true
            }
            CredentialOp::PutNew { table, key, value } => t
                .table(*table)
                .compare_and_swap(key.as_str(), None as Option<&[u8]>, Some(value.as_slice()))
                .map_err(|e| self.fail(e))?
                .is_ok(),
            CredentialOp::Remove { table, key } => t
                .table(*table)
                .remove(key.as_str())
                .map_err(|e| self.fail(e))?
                .is_some(),
        })
    }

    /// Every record of a table, keyed.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let t = self.trees()?;
        let mut out = Vec::new();
        for item in t.table(table).iter() {
            let (k, v) = item.map_err(|e| self.fail(e))?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                decode(&v, "credential")?,
            ));
        }
        Ok(out)
    }

    /// Number of records in a table.
    pub fn count(&self, table: Table) -> usize {
        self.trees().map_or(0, |t| t.table(table).len())
    }

    /// Reads every record of every table: each value against its checksum (values from
    /// before checksums are decoded instead, then rewritten with one), every database page
    /// through sled's own checks, and the log for a gap-free run of seqs from 1. Damaged
    /// derived records (snapshots, roll-ups) are dropped, since they are computed again; any
    /// other damage is returned, and the server must not start on it.
    pub fn verify(&self) -> Result<Verified, Damage> {
        // A first pass only reads, so a damaged directory is left exactly as it was; a second
        // one writes, when old records need a checksum or a damaged derived one goes.
        self.verify_scope(Scope::All)
    }

    /// What the start checks before serving: [`Store::verify`] except the events older than
    /// the newest snapshot (the state is built from the snapshot and the events after it;
    /// those are checked here). `deferred` in the answer is how many are left: give it to
    /// [`Store::spawn_scrub`], which checks them while the server serves. A year of history
    /// would otherwise cost about a second of sled reads before the first ticket.
    pub fn verify_start(&self) -> Result<Verified, Damage> {
        self.verify_scope(Scope::AfterSnapshot)
    }

    fn verify_scope(&self, scope: Scope) -> Result<Verified, Damage> {
        let mut report = self.check(false, scope)?;
        if report.upgraded > 0 || report.dropped > 0 {
            report = self.check(true, scope)?;
        }
        // A directory from before the mark, or one whose mark was lost, gets one now.
        self.shared
            .appended
            .fetch_max(report.events, Ordering::SeqCst);
        if let Ok(mut mark) = self.shared.mark.lock() {
            mark.advance(report.events);
        }
        Ok(report)
    }

    /// One pass of [`Store::verify`]; writes only when `write`.
    fn check(&self, write: bool, scope: Scope) -> Result<Verified, Damage> {
        let t = self.trees().map_err(|e| Damage {
            what: "database".into(),
            detail: e.to_string(),
            intact_events: 0,
        })?;
        let mut report = Verified::default();
        // The event log: seqs 1, 2, 3... each decoding; in two halves at once when long (the
        // scan is bound by sled's per-record cost, and a mini PC has a core to spare at start).
        let last = match t.events.last() {
            Ok(Some((key, _))) => decode_seq(&key).map_err(|e| Damage {
                what: "event log".into(),
                detail: e.to_string(),
                intact_events: 0,
            })?,
            Ok(None) => 0,
            Err(e) => {
                return Err(Damage {
                    what: "event log".into(),
                    detail: format!("the database cannot read its end: {e}"),
                    intact_events: 0,
                });
            }
        };
        let mut upgrades: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let from = match scope {
            Scope::All => 1,
            Scope::AfterSnapshot => {
                let newest = match t.snapshots.last() {
                    Ok(Some((key, _))) => decode_seq(&key).unwrap_or(0),
                    Ok(None) => 0,
                    Err(e) => {
                        return Err(Damage {
                            what: "snapshots".into(),
                            detail: format!("the database cannot read them: {e}"),
                            intact_events: 0,
                        });
                    }
                };
                if newest > last {
                    return Err(Damage {
                        what: "event log".into(),
                        detail: format!(
                            "it ends at seq {last} but the newest snapshot is of seq {newest}: events {} to {newest} or more are missing",
                            last + 1
                        ),
                        intact_events: last,
                    });
                }
                newest + 1
            }
        };
        report.deferred = from - 1;
        let (records, upgraded) = self.scan_events(&t.events, from, last, write)?;
        report.records += records;
        report.upgraded += upgraded;
        report.events = last;
        if let Some(recorded) = self.recorded_seq()
            && recorded > report.events
        {
            return Err(Damage {
                what: "event log".into(),
                detail: format!(
                    "it ends at seq {} but events up to seq {recorded} were recorded: events {} to {recorded} are missing (the database dropped what followed a damaged block)",
                    report.events,
                    report.events + 1
                ),
                intact_events: report.events,
            });
        }
        let intact = report.events;
        // Credentials and meta: damage there is not recomputable.
        let strict: [(&sled::Tree, &str, Legacy); 4] = [
            (&t.tokens, "tokens", Legacy::Json),
            (&t.users, "user accounts", Legacy::Json),
            (&t.sessions, "sessions", Legacy::Json),
            (&t.meta, "server settings (meta)", Legacy::Raw),
        ];
        for (tree, name, legacy) in strict {
            for item in tree.iter() {
                let damage = |detail: String| Damage {
                    what: name.into(),
                    detail,
                    intact_events: intact,
                };
                let (key, bytes) =
                    item.map_err(|e| damage(format!("the database cannot read it: {e}")))?;
                let payload = unframe(&bytes, "record", legacy).map_err(|e| {
                    damage(format!(
                        "record {:?} is damaged ({e})",
                        String::from_utf8_lossy(&key)
                    ))
                })?;
                if !is_framed(&bytes) {
                    upgrades.push((key.to_vec(), frame(payload)));
                }
                report.records += 1;
            }
            report.upgraded += self.upgrade(write, tree, &mut upgrades, name)?;
        }
        // The day index.
        for item in t.days.iter() {
            let damage = |detail: String| Damage {
                what: "day index".into(),
                detail,
                intact_events: intact,
            };
            let (key, bytes) =
                item.map_err(|e| damage(format!("the database cannot read it: {e}")))?;
            decode_day(&bytes).map_err(|e| {
                damage(format!(
                    "entry {:?} is damaged ({e})",
                    String::from_utf8_lossy(&key)
                ))
            })?;
            if bytes.len() == 8 {
                upgrades.push((key.to_vec(), frame(&bytes)));
            }
            report.records += 1;
        }
        report.upgraded += self.upgrade(write, &t.days, &mut upgrades, "day index")?;
        // Derived records: a damaged one is dropped and computed again.
        for (tree, name) in [(&t.snapshots, "snapshots"), (&t.rollups, "report roll-ups")] {
            let mut dropped: Vec<Vec<u8>> = Vec::new();
            for item in tree.iter() {
                let (key, bytes) = item.map_err(|e| Damage {
                    what: name.into(),
                    detail: format!("the database cannot read them: {e}"),
                    intact_events: intact,
                })?;
                match unframe(&bytes, "record", Legacy::Json) {
                    Ok(payload) if !is_framed(&bytes) => {
                        upgrades.push((key.to_vec(), frame(payload)));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if write {
                            tracing::warn!(table = name, error = %e, "damaged derived record dropped; it is computed again");
                        }
                        dropped.push(key.to_vec());
                    }
                }
                report.records += 1;
            }
            for key in dropped {
                report.dropped += 1;
                if !write {
                    continue;
                }
                tree.remove(key).map_err(|e| Damage {
                    what: name.into(),
                    detail: format!("cannot drop a damaged record: {e}"),
                    intact_events: intact,
                })?;
            }
            report.upgraded += self.upgrade(write, tree, &mut upgrades, name)?;
        }
        if write && (report.upgraded > 0 || report.dropped > 0) {
            t.db.flush().map_err(|e| Damage {
                what: "database".into(),
                detail: format!("cannot write the checked records: {e}"),
                intact_events: intact,
            })?;
        }
        Ok(report)
    }

    /// Checks events 1 to `through` now (then the whole log once a day) on a thread of its
    /// own, while the server serves. Damage is logged as an error and reported by
    /// [`Store::health`] (`/healthz` then answers 503); records from before checksums get one.
    ///
    /// The thread holds the store only while it checks, so the database closes when the
    /// server stops; it ends at its next check after that.
    pub fn spawn_scrub(&self, through: u64) {
        let weak = Arc::downgrade(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("luot-store-scrub".into())
            .spawn(move || {
                let mut through = through;
                loop {
                    let Some(shared) = weak.upgrade() else {
                        return;
                    };
                    let store = Store { shared };
                    let started = std::time::Instant::now();
                    match store.scrub(through) {
                        Ok(upgraded) => tracing::info!(
                            events = through,
                            upgraded,
                            took_ms = started.elapsed().as_millis() as u64,
                            "event log checked"
                        ),
                        Err(damage) => {
                            tracing::error!(
                                damage = %damage,
                                "the event log is damaged; the live state is intact (it comes from the snapshot and the events after it) but reports over the damaged days and exports fail: take `export --salvage` and import it, or restore the latest export"
                            );
                            if let Ok(mut slot) = store.shared.damaged.lock() {
                                *slot = Some(damage);
                            }
                            return;
                        }
                    }
                    let next = store.last_seq().unwrap_or(through);
                    drop(store);
                    std::thread::sleep(SCRUB_EVERY);
                    through = next;
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the thread that checks the event log");
        }
    }

    /// Checks events 1 to `through`, rewriting legacy ones with a checksum; the number of
    /// records so upgraded.
    pub fn scrub(&self, through: u64) -> Result<u64, Damage> {
        let t = self.trees().map_err(|e| Damage {
            what: "database".into(),
            detail: e.to_string(),
            intact_events: 0,
        })?;
        let (_, legacy) = self.scan_events(&t.events, 1, through, false)?;
        if legacy == 0 {
            return Ok(0);
        }
        let (_, upgraded) = self.scan_events(&t.events, 1, through, true)?;
        t.db.flush().map_err(|e| Damage {
            what: "event log".into(),
            detail: format!("cannot write the checked records: {e}"),
            intact_events: through,
        })?;
        Ok(upgraded)
    }

    /// Checks that the log holds exactly seqs `from..=to`, each record intact; returns the
    /// records read and the legacy ones (rewritten with a checksum when `write`).
    fn scan_events(
        &self,
        events: &sled::Tree,
        from: u64,
        to: u64,
        write: bool,
    ) -> Result<(u64, u64), Damage> {
        if from > to {
            return Ok((0, 0));
        }
        let mut expected = from;
        let mut upgraded = 0;
        let mut upgrades: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for item in events.range(from.to_be_bytes()..=to.to_be_bytes()) {
            let damage = |detail: String| Damage {
                what: "event log".into(),
                detail,
                intact_events: expected - 1,
            };
            let (key, bytes) = item.map_err(|e| {
                damage(format!(
                    "the database cannot read the records after seq {}: {e}",
                    expected - 1
                ))
            })?;
            let seq = decode_seq(&key).map_err(|e| damage(e.to_string()))?;
            if seq != expected {
                return Err(damage(format!(
                    "events {expected} to {} are missing (the next record is seq {seq})",
                    seq - 1
                )));
            }
            match unframe(&bytes, "event", Legacy::Json) {
                Ok(payload) => {
                    if !is_framed(&bytes) {
                        upgrades.push((key.to_vec(), frame(payload)));
                    }
                }
                Err(e) => return Err(damage(format!("record seq {seq} is damaged ({e})"))),
            }
            expected += 1;
            if upgrades.len() >= UPGRADE_BATCH {
                upgraded += self.upgrade(write, events, &mut upgrades, "event log")?;
            }
        }
        if expected != to + 1 {
            return Err(Damage {
                what: "event log".into(),
                detail: format!("events {expected} to {to} are missing"),
                intact_events: expected - 1,
            });
        }
        upgraded += self.upgrade(write, events, &mut upgrades, "event log")?;
        Ok((to + 1 - from, upgraded))
    }

    fn upgrade(
        &self,
        write: bool,
        tree: &sled::Tree,
        upgrades: &mut Vec<(Vec<u8>, Vec<u8>)>,
        name: &str,
    ) -> Result<u64, Damage> {
        if upgrades.is_empty() {
            return Ok(0);
        }
        let n = upgrades.len() as u64;
        if !write {
            upgrades.clear();
            return Ok(n);
        }
        let mut batch = sled::Batch::default();
        for (k, v) in upgrades.drain(..) {
            batch.insert(k, v);
        }
        tree.apply_batch(batch).map_err(|e| Damage {
            what: name.into(),
            detail: format!("cannot add checksums to old records: {e}"),
            intact_events: 0,
        })?;
        Ok(n)
    }
}

/// How a value written before frames existed looks.
#[derive(Debug, Clone, Copy)]
enum Legacy {
    /// JSON, checked by decoding it.
    Json,
    /// Arbitrary bytes (meta): accepted as they are.
    Raw,
}

fn crc(bytes: &[u8]) -> [u8; 4] {
    crc32fast::hash(bytes).to_le_bytes()
}

/// A value with its format byte and checksum.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER + payload.len());
    out.push(FRAMED);
    out.extend_from_slice(&crc(payload));
    out.extend_from_slice(payload);
    out
}

fn is_framed(bytes: &[u8]) -> bool {
    bytes.len() >= FRAME_HEADER
        && bytes[0] == FRAMED
        && bytes[1..FRAME_HEADER] == crc(&bytes[FRAME_HEADER..])
}

/// The payload of a stored value, checked against its checksum, or a legacy value.
fn unframe<'a>(bytes: &'a [u8], what: &'static str, legacy: Legacy) -> Result<&'a [u8]> {
    if is_framed(bytes) {
        return Ok(&bytes[FRAME_HEADER..]);
    }
    match legacy {
        // Legacy raw values (meta) cannot be told from damage: sled's page checks cover them.
        Legacy::Raw => Ok(bytes),
        Legacy::Json if bytes.first() == Some(&FRAMED) => Err(StoreError::Corrupt {
            what,
            detail: "checksum mismatch".into(),
        }),
        Legacy::Json => match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Ok(bytes),
            Err(e) => Err(StoreError::Corrupt {
                what,
                detail: format!("not a valid record: {e}"),
            }),
        },
    }
}

/// A write to a credentials table, made durable by the credential writer.
#[derive(Debug, Clone)]
pub enum CredentialOp {
    /// Insert or replace.
    Put {
        /// Table.
        table: Table,
        /// Key.
        key: String,
        /// Encoded record ([`Store::encode_credential`]).
        value: Vec<u8>,
    },
    /// Insert only if the key is free.
    PutNew {
        /// Table.
        table: Table,
        /// Key.
        key: String,
        /// Encoded record ([`Store::encode_credential`]).
        value: Vec<u8>,
    },
    /// Remove.
    Remove {
        /// Table.
        table: Table,
        /// Key.
        key: String,
    },
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our records are plain data (strings, numbers, maps with string keys): serializing
    // them cannot fail.
    frame(&serde_json::to_vec(value).unwrap_or_default())
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T> {
    let payload = if is_framed(bytes) {
        &bytes[FRAME_HEADER..]
    } else if bytes.first() == Some(&FRAMED) {
        return Err(StoreError::Corrupt {
            what,
            detail: "checksum mismatch".into(),
        });
    } else {
        bytes
    };
    serde_json::from_slice(payload).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn decode_day(bytes: &[u8]) -> Result<u64> {
    if bytes.len() == 8 {
        return decode_seq(bytes);
    }
    if !is_framed(bytes) {
        return Err(StoreError::Corrupt {
            what: "day index",
            detail: "checksum mismatch".into(),
        });
    }
    decode_seq(&bytes[FRAME_HEADER..])
}

fn decode_seq(bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what: "sequence key",
        detail: format!("{} bytes", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use luot_shared::{CenterConfig, Command};

    use super::*;

    /// A store with a configured center and `tickets` issued, flushed.
    fn filled(tickets: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut engine = Engine::new();
        let now = Timestamp::now();
        let mut commands = vec![Command::Configure {
            config: Box::new(CenterConfig::default()),
            by: "system".into(),
        }];
        for _ in 0..tickets {
            commands.push(Command::Issue {
                service: "tnmt".into(),
                priority: None,
                request_id: None,
                credential: String::new(),
                by: "kiosk".into(),
            });
        }
        for command in commands {
            let outcome = engine.handle(command, now);
            store.append(&outcome.events).unwrap();
        }
        store.flush().unwrap();
        (dir, store)
    }

    /// A framed value reads back; one flipped bit is named as damage; legacy JSON still reads.
    #[test]
    fn frames_detect_damage_and_accept_legacy() {
        let framed = frame(b"{\"a\":1}");
        assert_eq!(
            unframe(&framed, "t", Legacy::Json).ok(),
            Some(&b"{\"a\":1}"[..])
        );
        let mut bad = framed.clone();
        bad[7] ^= 1;
        assert!(unframe(&bad, "t", Legacy::Json).is_err());
        assert!(unframe(b"{\"a\":1}", "t", Legacy::Json).is_ok());
        assert!(unframe(&[0u8; 16], "t", Legacy::Json).is_err());
        assert_eq!(decode_day(&frame(&7u64.to_be_bytes())).ok(), Some(7));
        assert_eq!(decode_day(&7u64.to_be_bytes()).ok(), Some(7));
    }

    /// Records written before checksums (bare JSON, bare day seqs) verify, are rewritten with
    /// a checksum, and the state loads the same.
    #[test]
    fn legacy_records_are_read_and_upgraded() {
        let (_dir, store) = filled(5);
        let before = store.load().unwrap().snapshot();
        let t = store.trees().unwrap();
        for item in t.events.iter() {
            let (k, v) = item.unwrap();
            t.events.insert(k, &v[FRAME_HEADER..]).unwrap();
        }
        t.days.insert("2026-01-01", &3u64.to_be_bytes()).unwrap();
        t.meta.insert("legacy", &b"raw bytes"[..]).unwrap();
        let first = store.verify().unwrap();
        assert_eq!(first.events, store.last_seq().unwrap());
        assert!(first.events >= 6, "{} events", first.events);
        assert!(first.upgraded >= 8, "upgraded {}", first.upgraded);
        for item in t.events.iter() {
            assert!(is_framed(&item.unwrap().1));
        }
        assert!(is_framed(&t.days.get("2026-01-01").unwrap().unwrap()));
        assert_eq!(store.meta_get("legacy").unwrap().unwrap(), b"raw bytes");
        assert_eq!(store.load().unwrap().snapshot(), before);
        assert_eq!(store.verify().unwrap().upgraded, 0, "upgraded once");
    }

    /// A record whose bytes no longer match their checksum, a hole in the log and a log
    /// shorter than the seq mark are each refused, naming the part and the seq.
    #[test]
    fn damage_is_named() {
        let (_dir, store) = filled(5);
        let t = store.trees().unwrap();
        let key = 3u64.to_be_bytes();
        let mut bytes = t.events.get(key).unwrap().unwrap().to_vec();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        t.events.insert(key, bytes).unwrap();
        let damage = store.verify().unwrap_err();
        assert_eq!(damage.what, "event log");
        assert!(damage.detail.contains("seq 3"), "{}", damage.detail);
        assert_eq!(damage.intact_events, 2);

        t.events.remove(key).unwrap();
        let damage = store.verify().unwrap_err();
        assert!(damage.detail.contains("missing"), "{}", damage.detail);

        let (dir, store) = filled(5);
        let events = store.last_seq().unwrap();
        let t = store.trees().unwrap();
        t.events.remove(events.to_be_bytes()).unwrap();
        t.db.flush().unwrap();
        drop(t);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.recorded_seq(), Some(events));
        let damage = store.verify().unwrap_err();
        assert!(
            damage
                .detail
                .contains(&format!("events {events} to {events} are missing")),
            "{}",
            damage.detail
        );
    }

    /// The start reads only the events after the newest snapshot, so damage older than it
    /// is left to the check that runs while serving, which names it and makes the health
    /// report it; a snapshot newer than the log's end is refused at start.
    #[test]
    fn old_damage_is_found_while_serving() {
        let (_dir, store) = filled(6);
        let engine = store.load().unwrap();
        store.save_snapshot(&engine).unwrap();
        let t = store.trees().unwrap();
        let key = 2u64.to_be_bytes();
        let mut bytes = t.events.get(key).unwrap().unwrap().to_vec();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        t.events.insert(key, bytes).unwrap();
        let start = store.verify_start().unwrap();
        assert_eq!(start.deferred, engine.seq());
        let damage = store.scrub(start.deferred).unwrap_err();
        assert!(damage.detail.contains("seq 2"), "{}", damage.detail);
        store.spawn_scrub(start.deferred);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.health().damaged.is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "health never said damaged"
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        let (_dir, store) = filled(3);
        store.save_snapshot(&store.load().unwrap()).unwrap();
        let t = store.trees().unwrap();
        t.events.pop_max().unwrap();
        let damage = store.verify_start().unwrap_err();
        assert!(
            damage.detail.contains("newest snapshot"),
            "{}",
            damage.detail
        );
    }
}
