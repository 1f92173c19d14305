//! Durable storage: the event log, snapshots, a per-day index and credentials, in sled.
//!
//! Nothing outside this module names sled. Writes are made durable by [`Store::flush`]; the
//! engine task calls it once per batch of commands (group commit) before it answers anyone.

use std::path::Path;

use jiff::civil::Date;
use luot_shared::{Engine, Recorded};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// sled's page cache. The live state is small (today's events and a snapshot); the default
/// 1 GiB cache only costs memory on a mini PC.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// How many snapshots are kept (the newest is used; older ones are a fallback).
const SNAPSHOTS_KEPT: usize = 3;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// Stored bytes do not decode.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// The decoding error.
        detail: String,
    },
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the data directory. Cheap to clone; all clones share the database.
#[derive(Clone)]
pub struct Store {
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

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        Ok(Store {
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

    /// Appends events to the log (not yet durable: call [`Store::flush`]).
    pub fn append(&self, events: &[Recorded]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for rec in events {
            batch.insert(&rec.seq.to_be_bytes(), encode(rec));
        }
        self.events.apply_batch(batch)?;
        Ok(())
    }

    /// Records that `seq` is the first event of local day `day`, unless one is known.
    pub fn mark_day(&self, day: Date, seq: u64) -> Result<()> {
        let key = day.to_string();
        self.days
            .compare_and_swap(
                key.as_bytes(),
                None as Option<&[u8]>,
                Some(&seq.to_be_bytes()[..]),
            )?
            .ok();
        Ok(())
    }

    /// First seq of the earliest recorded day on or after `day`.
    pub fn first_seq_from(&self, day: Date) -> Result<Option<u64>> {
        let key = day.to_string();
        match self.days.range(key.as_bytes()..).next() {
            Some(item) => Ok(Some(decode_seq(&item?.1)?)),
            None => Ok(None),
        }
    }

    /// First seq of local day `day`, if anything happened that day.
    pub fn first_seq_of(&self, day: Date) -> Result<Option<u64>> {
        match self.days.get(day.to_string().as_bytes())? {
            Some(bytes) => Ok(Some(decode_seq(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The stored roll-up of a closed day.
    pub fn rollup_get(&self, day: Date) -> Result<Option<Vec<u8>>> {
        Ok(self
            .rollups
            .get(day.to_string().as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Stores the roll-up of a closed day (derived data: no flush of its own; a lost one is
    /// computed again).
    pub fn rollup_put(&self, day: Date, bytes: &[u8]) -> Result<()> {
        self.rollups.insert(day.to_string().as_bytes(), bytes)?;
        Ok(())
    }

    /// Makes every write so far durable. Blocks on the disk.
    pub fn flush(&self) -> Result<usize> {
        Ok(self.db.flush()?)
    }

    /// Saves a snapshot of the engine and drops old ones.
    pub fn save_snapshot(&self, engine: &Engine) -> Result<()> {
        self.snapshots
            .insert(engine.seq().to_be_bytes(), engine.snapshot())?;
        while self.snapshots.len() > SNAPSHOTS_KEPT {
            if self.snapshots.pop_min()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Rebuilds the engine: the newest readable snapshot, then every event after it.
    pub fn load(&self) -> Result<Engine> {
        let mut engine = Engine::new();
        for item in self.snapshots.iter().rev() {
            let (_, bytes) = item?;
            match Engine::from_snapshot(&bytes) {
                Ok(e) => {
                    engine = e;
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "unreadable snapshot skipped"),
            }
        }
        let from = engine.seq() + 1;
        for item in self.events.range(from.to_be_bytes()..) {
            let (_, bytes) = item?;
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
        for item in self
            .events
            .range(from.to_be_bytes()..=to.to_be_bytes())
            .take(limit)
        {
            let (_, bytes) = item?;
            out.push(decode(&bytes, "event")?);
        }
        Ok(out)
    }

    /// Iterates over the log from `from` on, decoding lazily.
    pub fn events_from(&self, from: u64) -> impl Iterator<Item = Result<Recorded>> + use<> {
        self.events
            .range(from.to_be_bytes()..)
            .map(|item| decode(&item?.1, "event"))
    }

    /// Seq of the last event in the log.
    pub fn last_seq(&self) -> Result<u64> {
        match self.events.last()? {
            Some((key, _)) => decode_seq(&key),
            None => Ok(0),
        }
    }

    /// A value from the meta table, created with `init` the first time.
    pub fn meta_or_init(&self, key: &str, init: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
        if let Some(v) = self.meta.get(key)? {
            return Ok(v.to_vec());
        }
        let value = init();
        self.meta
            .compare_and_swap(key, None as Option<&[u8]>, Some(value.as_slice()))?
            .ok();
        self.db.flush()?;
        Ok(self.meta.get(key)?.map(|v| v.to_vec()).unwrap_or(value))
    }

    /// A value from the meta table.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    /// Writes a value to the meta table durably.
    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.meta.insert(key, value)?;
        self.db.flush()?;
        Ok(())
    }

    fn table(&self, table: Table) -> &sled::Tree {
        match table {
            Table::Tokens => &self.tokens,
            Table::Users => &self.users,
            Table::Sessions => &self.sessions,
        }
    }

    /// Reads a credential record.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        match self.table(table).get(key)? {
            Some(bytes) => Ok(Some(decode(&bytes, "credential")?)),
            None => Ok(None),
        }
    }

    /// Writes a credential record durably.
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        self.table(table).insert(key, encode(value))?;
        self.db.flush()?;
        Ok(())
    }

    /// Inserts a credential record durably only if the key is free; false if it was taken.
    pub fn put_new<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<bool> {
        let done = self
            .table(table)
            .compare_and_swap(key, None as Option<&[u8]>, Some(encode(value)))?
            .is_ok();
        self.db.flush()?;
        Ok(done)
    }

    /// Removes a credential record durably; true if it existed.
    pub fn remove(&self, table: Table, key: &str) -> Result<bool> {
        let existed = self.table(table).remove(key)?.is_some();
        self.db.flush()?;
        Ok(existed)
    }

    /// Every record of a table, keyed.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        for item in self.table(table).iter() {
            let (k, v) = item?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                decode(&v, "credential")?,
            ));
        }
        Ok(out)
    }

    /// Number of records in a table.
    pub fn count(&self, table: Table) -> usize {
        self.table(table).len()
    }

    /// Encodes a credential record the way the store keeps it, for a [`CredentialOp`].
    pub fn encode_credential<T: Serialize>(value: &T) -> Vec<u8> {
        encode(value)
    }

    /// Applies one credential write without making it durable: the credential writer applies
    /// a batch of them and then calls [`Store::flush`] once. For `PutNew` and `Remove`, whether
    /// it took effect.
    pub fn apply_credential(&self, op: &CredentialOp) -> Result<bool> {
        Ok(match op {
            CredentialOp::Put { table, key, value } => {
                self.table(*table).insert(key.as_str(), value.as_slice())?;
                true
            }
            CredentialOp::PutNew { table, key, value } => self
                .table(*table)
                .compare_and_swap(key.as_str(), None as Option<&[u8]>, Some(value.as_slice()))?
                .is_ok(),
            CredentialOp::Remove { table, key } => {
                self.table(*table).remove(key.as_str())?.is_some()
            }
        })
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
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn decode_seq(bytes: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what: "sequence key",
        detail: format!("{} bytes", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}
