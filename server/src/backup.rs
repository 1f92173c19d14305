//! Export and import of a data directory: the way back from a damaged disk.
//!
//! An export is JSON lines, one record a line, in this order:
//!
//! ```text
//! {"header":{"format":"luot-export","version":1,"last_seq":N}}
//! {"event":{"seq":1,"at":"…","event":{…}}}          one per event, seq 1 to N without a gap
//! {"token":{"key":"<hash>","record":{…}}}          device and script tokens (hashes only)
//! {"user":{"key":"<name>","record":{…}}}           accounts (argon2 hashes only)
//! {"meta":{"key":"track_key","hex":"…"}}           server settings (the tracking-link key)
//! {"end":{"events":N,"records":R,"crc32":"…","salvaged":false}}
//! ```
//!
//! The end line carries a CRC32 of every byte before it, so a cut or altered file is refused by
//! import. Sessions are not exported: after a restore everyone logs in again. Snapshots, the
//! day index and report roll-ups are derived, and import computes them again.
//!
//! `luot-server --data DIR export --to FILE` exports a stopped server's directory;
//! `GET /api/v1/admin/export` streams the same from a running server (admins only, one at a
//! time, bounded memory); `luot-server --data NEW import FILE` rebuilds a data directory.

use std::io::{BufRead, Read as _, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use luot_shared::{Engine, Event, Recorded};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{self, Principal};
use crate::error::{ApiError, Result as ApiResult};
use crate::store::{Damage, Store, StoreError, Table};

/// The `format` of the header line.
pub const FORMAT: &str = "luot-export";
/// The version of the format this build writes and reads.
pub const VERSION: u32 = 1;
/// Longest line import accepts (a whole center configuration is at most 64 KiB).
const MAX_LINE: usize = 1024 * 1024;
/// Events read from the store at a time.
const PAGE: usize = 1000;
/// Events written to the store per batch by import.
const IMPORT_BATCH: usize = 4096;
/// Bytes of an export handed to the HTTP body at a time, and chunks that may wait.
const CHUNK: usize = 64 * 1024;
const CHUNKS_QUEUED: usize = 8;

/// One line of an export, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Header(Header),
    Event(Box<Recorded>),
    Token(Keyed),
    User(Keyed),
    Meta(MetaLine),
    End(End),
    Error(String),
}

/// One line of an export, as written.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum LineOut<'a> {
    Header(&'a Header),
    Event(&'a Recorded),
    Token(&'a Keyed),
    User(&'a Keyed),
    Meta(&'a MetaLine),
    End(&'a End),
    Error(&'a str),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    last_seq: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keyed {
    key: String,
    record: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaLine {
    key: String,
    hex: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    events: u64,
    records: u64,
    crc32: String,
    salvaged: bool,
}

/// What an export or import handled.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Events.
    pub events: u64,
    /// Tokens.
    pub tokens: u64,
    /// Accounts.
    pub users: u64,
    /// Server settings.
    pub meta: u64,
    /// What a salvage left out, one line per part.
    pub lost: Vec<String>,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Part of the data directory cannot be read.
    #[error("{0}")]
    Damaged(Damage),
    /// The store cannot be read right now.
    #[error(transparent)]
    Store(StoreError),
    /// The output refused a write (disk full, client gone).
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// The message shown when the server refuses to start on a damaged data directory.
pub fn damage_message(dir: &Path, damage: &Damage) -> String {
    let dir = dir.display();
    let salvage = if damage.intact_events > 0 {
        format!(
            "   luot-server --data {dir} export --to luot-salvage.jsonl --salvage\n   \
             keeps events 1 to {} and every readable account and token, and lists what is lost;\n",
            damage.intact_events
        )
    } else {
        format!(
            "   luot-server --data {dir} export --to luot-salvage.jsonl --salvage\n   \
             keeps every readable account and token, and lists what is lost;\n"
        )
    };
    format!(
        "the data directory {dir} is damaged: {}: {}.\n\
         The server does not start on damaged data, so that nothing is served or recorded wrongly.\n\
         To recover (the damaged directory is left as it is):\n\
         1. restore the latest export taken with `export` or GET /api/v1/admin/export:\n   \
            luot-server --data NEW-DIR import THAT-FILE\n\
         2. or, without one, save what is intact:\n{salvage}   \
            then luot-server --data NEW-DIR import luot-salvage.jsonl\n\
         and start the server with --data NEW-DIR.",
        damage.what, damage.detail
    )
}

/// A writer that keeps a CRC32 of what went through it.
struct Crc<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Crc<W> {
    fn line(&mut self, line: &LineOut<'_>) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.hasher.update(&bytes);
        self.inner.write_all(&bytes)
    }
}

/// Writes the export of `store` to `out`. Every record is checked on the way (checksums, a
/// gap-free log); damage stops the export with what is damaged, unless `salvage`, which writes
/// the intact part (events up to the damage, every readable credential) and says what it left
/// out.
pub fn export(store: &Store, out: impl Write, salvage: bool) -> Result<Summary, ExportError> {
    let mut w = Crc {
        inner: out,
        hasher: crc32fast::Hasher::new(),
    };
    let mut summary = Summary::default();
    let last_seq = store
        .last_seq()
        .map_err(|e| read_error(e, "event log", 0))?;
    w.line(&LineOut::Header(&Header {
        format: FORMAT.into(),
        version: VERSION,
        last_seq,
    }))?;
    let mut next = 1;
    'log: while next <= last_seq {
        let page = match store.events(next, last_seq, PAGE) {
            Ok(page) => page,
            Err(e) if e.is_unavailable() => return Err(ExportError::Store(e)),
            // Find the first record of the page that cannot be read.
            Err(_) => match store.events(next, next, 1) {
                Ok(one) => one,
                Err(e) => {
                    let damage = Damage {
                        what: "event log".into(),
                        detail: format!("record seq {next} cannot be read ({e})"),
                        intact_events: next - 1,
                    };
                    if !salvage {
                        return Err(ExportError::Damaged(damage));
                    }
                    summary
                        .lost
                        .push(format!("events {next} to {last_seq}: {}", damage.detail));
                    break 'log;
                }
            },
        };
        if page.first().is_none_or(|r| r.seq != next) {
            let detail =
                format!("event {next} is missing (the log should run from 1 to {last_seq})");
            if !salvage {
                return Err(ExportError::Damaged(Damage {
                    what: "event log".into(),
                    detail,
                    intact_events: next - 1,
                }));
            }
            summary
                .lost
                .push(format!("events {next} to {last_seq}: {detail}"));
            break;
        }
        for rec in &page {
            if rec.seq != next {
                let detail = format!("event {next} is missing");
                if !salvage {
                    return Err(ExportError::Damaged(Damage {
                        what: "event log".into(),
                        detail,
                        intact_events: next - 1,
                    }));
                }
                summary
                    .lost
                    .push(format!("events {next} to {last_seq}: {detail}"));
                break 'log;
            }
            w.line(&LineOut::Event(rec))?;
            next += 1;
            summary.events += 1;
        }
    }
    if let Some(recorded) = store.recorded_seq()
        && recorded > last_seq
        && summary.lost.is_empty()
    {
        let detail = format!(
            "it ends at seq {last_seq} but events up to seq {recorded} were recorded: events {} to {recorded} are missing (the database dropped what followed a damaged block)",
            last_seq + 1
        );
        if !salvage {
            return Err(ExportError::Damaged(Damage {
                what: "event log".into(),
                detail,
                intact_events: last_seq,
            }));
        }
        summary.lost.push(detail);
    }
    for (table, name) in [(Table::Tokens, "tokens"), (Table::Users, "user accounts")] {
        let records = match store.list::<serde_json::Value>(table) {
            Ok(records) => records,
            Err(e) if e.is_unavailable() => return Err(ExportError::Store(e)),
            Err(e) if salvage => {
                summary.lost.push(format!("{name}: {e}"));
                continue;
            }
            Err(e) => return Err(read_error(e, name, summary.events)),
        };
        for (key, record) in records {
            let keyed = Keyed { key, record };
            match table {
                Table::Tokens => {
                    w.line(&LineOut::Token(&keyed))?;
                    summary.tokens += 1;
                }
                _ => {
                    w.line(&LineOut::User(&keyed))?;
                    summary.users += 1;
                }
            }
        }
    }
    match store.meta_list() {
        Ok(meta) => {
            for (key, value) in meta {
                w.line(&LineOut::Meta(&MetaLine {
                    key,
                    hex: auth::hex(&value),
                }))?;
                summary.meta += 1;
            }
        }
        Err(e) if e.is_unavailable() => return Err(ExportError::Store(e)),
        Err(e) if salvage => summary.lost.push(format!("server settings: {e}")),
        Err(e) => return Err(read_error(e, "server settings (meta)", summary.events)),
    }
    let crc = format!("{:08x}", w.hasher.clone().finalize());
    w.line(&LineOut::End(&End {
        events: summary.events,
        records: summary.events + summary.tokens + summary.users + summary.meta,
        crc32: crc,
        salvaged: !summary.lost.is_empty(),
    }))?;
    w.inner.flush()?;
    Ok(summary)
}

fn read_error(e: StoreError, what: &str, intact: u64) -> ExportError {
    if e.is_unavailable() {
        return ExportError::Store(e);
    }
    ExportError::Damaged(Damage {
        what: what.into(),
        detail: e.to_string(),
        intact_events: intact,
    })
}

/// Rebuilds a data directory in `dir` (absent or empty) from an export: the log (replayed
/// through the engine, so an inconsistent one is refused), credentials and settings, then
/// snapshots, the day index and report roll-ups. On any refusal the directory is left empty.
pub fn import(dir: &Path, input: impl BufRead) -> anyhow::Result<Summary> {
    let existed = dir.exists();
    if existed {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: import builds a new data directory; give it a new or empty one",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = Store::open(dir)
        .map_err(anyhow::Error::from)
        .and_then(|store| import_into(&store, input));
    if result.is_err() {
        // Leave nothing half-built behind: a later start must not serve part of a log.
        let _ = std::fs::remove_dir_all(dir);
        if existed {
            let _ = std::fs::create_dir_all(dir);
        }
    }
    result
}

fn import_into(store: &Store, mut input: impl BufRead) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut hasher = crc32fast::Hasher::new();
    let mut engine = Engine::new();
    let mut pending: Vec<Recorded> = Vec::new();
    let mut marked_day = None;
    let mut header: Option<Header> = None;
    let mut end: Option<End> = None;
    let mut buf = Vec::new();
    let mut line_no: u64 = 0;
    loop {
        buf.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .context("cannot read the export")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE {
            bail!("line {line_no} is longer than {MAX_LINE} bytes: not an export");
        }
        if end.is_some() {
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            bail!("line {line_no} comes after the end line: the file was altered");
        }
        let line: Line = serde_json::from_slice(&buf)
            .with_context(|| format!("line {line_no} is not a line of an export"))?;
        match line {
            Line::End(e) => {
                end = Some(e);
                continue;
            }
            Line::Error(why) => bail!(
                "the export stopped at line {line_no} with an error, so it is incomplete: {why}"
            ),
            _ => hasher.update(&buf),
        }
        match line {
            Line::Header(h) => {
                if header.is_some() || line_no != 1 {
                    bail!("line {line_no}: a second header");
                }
                if h.format != FORMAT || h.version != VERSION {
                    bail!(
                        "this is {} version {}; this build reads {FORMAT} version {VERSION}",
                        h.format,
                        h.version
                    );
                }
                header = Some(h);
            }
            _ if header.is_none() => bail!("the file does not start with an export header"),
            Line::Event(rec) => {
                let expected = engine.seq() + 1;
                if rec.seq != expected {
                    bail!(
                        "line {line_no}: event seq {} where {expected} was due: the log has a gap or is out of order",
                        rec.seq
                    );
                }
                engine
                    .apply(&rec)
                    .map_err(|e| anyhow::anyhow!("event seq {} does not apply: {e}", rec.seq))?;
                let day = engine.local_date(rec.at);
                if marked_day != Some(day) {
                    store.mark_day(day, rec.seq)?;
                    marked_day = Some(day);
                }
                let closed = match rec.event {
                    Event::DayClosed { day, .. } => Some(day),
                    _ => None,
                };
                pending.push(*rec);
                summary.events += 1;
                if let Some(day) = closed {
                    store.append(&pending)?;
                    pending.clear();
                    store.save_snapshot(&engine)?;
                    let config = engine.config().clone();
                    let tz = config
                        .time_zone()
                        .map_err(|e| anyhow::anyhow!("time zone of the center: {e}"))?;
                    crate::reports::day_rollup(store, &config, &tz, day)?;
                } else if pending.len() >= IMPORT_BATCH {
                    store.append(&pending)?;
                    pending.clear();
                }
            }
            Line::Token(k) => {
                store.put(Table::Tokens, &k.key, &k.record)?;
                summary.tokens += 1;
            }
            Line::User(k) => {
                store.put(Table::Users, &k.key, &k.record)?;
                summary.users += 1;
            }
            Line::Meta(m) => {
                let value = unhex(&m.hex)
                    .with_context(|| format!("line {line_no}: setting {:?}", m.key))?;
                store.meta_put(&m.key, &value)?;
                summary.meta += 1;
            }
            Line::End(_) | Line::Error(_) => {}
        }
    }
    let Some(header) = header else {
        bail!("the file is empty");
    };
    let Some(end) = end else {
        bail!("the file ends before its end line: it was cut short");
    };
    let crc = format!("{:08x}", hasher.finalize());
    if crc != end.crc32 {
        bail!(
            "checksum mismatch (the file says {}, its lines give {crc}): the file was altered or damaged",
            end.crc32
        );
    }
    let records = summary.events + summary.tokens + summary.users + summary.meta;
    if end.events != summary.events || end.records != records {
        bail!(
            "the end line counts {} events and {} records; the file holds {} and {records}",
            end.events,
            end.records,
            summary.events
        );
    }
    if !end.salvaged && summary.events != header.last_seq {
        bail!(
            "the header announces {} events; the file holds {}",
            header.last_seq,
            summary.events
        );
    }
    if end.salvaged {
        summary
            .lost
            .push("this export was salvaged from a damaged directory".into());
    }
    store.append(&pending)?;
    store.save_snapshot(&engine)?;
    store.flush()?;
    store
        .verify()
        .map_err(|d| anyhow::anyhow!("the rebuilt directory does not verify: {d}"))?;
    Ok(summary)
}

fn unhex(s: &str) -> anyhow::Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("odd-length hex");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| anyhow::anyhow!("not hex"))
        })
        .collect()
}

/// Routes of this module.
pub fn router() -> axum::Router<AppState> {
    Router::new().route("/api/v1/admin/export", get(export_route))
}

/// One export at a time: each reads the whole log.
static EXPORTING: AtomicBool = AtomicBool::new(false);

struct ExportSlot;

impl Drop for ExportSlot {
    fn drop(&mut self) {
        EXPORTING.store(false, Ordering::SeqCst);
    }
}

/// `GET /api/v1/admin/export`: the export of the running server, streamed as it is read.
#[utoipa::path(get, path = "/api/v1/admin/export", tag = "admin",
    description = "Admin. The whole log and the credentials, as JSON lines (`luot-server import` reads it back), streamed as it is read; one export at a time. A failure after the first byte ends the stream with an `error` line and no end line, which import refuses.",
    responses(
        (status = 200, description = "The export (an attachment)", content_type = "application/x-ndjson", body = String),
        (status = 409, description = "`export_running`", body = luot_shared::protocol::ErrorBody),
    ))]
async fn export_route(State(app): State<AppState>, who: Principal) -> ApiResult<Response> {
    who.require(&[])?;
    if EXPORTING.swap(true, Ordering::SeqCst) {
        return Err(ApiError::Bad(
            StatusCode::CONFLICT,
            "export_running",
            "an export is already running; try again when it is done".into(),
        ));
    }
    let slot = ExportSlot;
    let store = app.store.clone();
    // Fail before the first byte when the store cannot be read at all.
    let check = store.clone();
    tokio::task::spawn_blocking(move || check.last_seq())
        .await
        .map_err(|_| ApiError::Internal)??;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_QUEUED);
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match export(&store, &mut out, false) {
            Ok(summary) => {
                tracing::info!(events = summary.events, "export sent");
            }
            Err(ExportError::Write(e)) => {
                tracing::info!(error = %e, "export stopped: the client went away");
            }
            Err(e) => {
                tracing::error!(error = %e, "export stopped");
                // The status is sent already: end with a line import refuses, and no end line.
                let text = e.to_string();
                let line = serde_json::to_vec(&LineOut::Error(&text)).unwrap_or_default();
                let _ = out.write_all(&line).and_then(|()| out.write_all(b"\n"));
                let _ = out.flush();
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let name = format!(
        "attachment; filename=\"luot-export-{}.jsonl\"",
        jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Writes an export that holds only a log kept elsewhere — the province's copy of a site's
/// events, seq 1 to `last_seq` in order — so that `import` rebuilds a site's directory from
/// it (without accounts or tokens: the server makes a first admin at its first start). Stops
/// with an error line (which import refuses) at the first gap or unreadable event.
pub fn export_events<E: std::fmt::Display>(
    events: impl Iterator<Item = Result<Recorded, E>>,
    last_seq: u64,
    out: impl Write,
) -> std::io::Result<u64> {
    let mut w = Crc {
        inner: out,
        hasher: crc32fast::Hasher::new(),
    };
    w.line(&LineOut::Header(&Header {
        format: FORMAT.into(),
        version: VERSION,
        last_seq,
    }))?;
    let mut next = 1;
    for rec in events {
        let problem = match &rec {
            Ok(rec) if rec.seq == next => None,
            Ok(rec) => Some(format!("event {next} is missing (found {})", rec.seq)),
            Err(e) => Some(format!("event {next} cannot be read: {e}")),
        };
        if let Some(why) = problem {
            w.line(&LineOut::Error(&why))?;
            return w.inner.flush().map(|()| next - 1);
        }
        if let Ok(rec) = rec {
            if rec.seq > last_seq {
                break;
            }
            w.line(&LineOut::Event(&rec))?;
        }
        next += 1;
    }
    let events = next - 1;
    if events != last_seq {
        w.line(&LineOut::Error(&format!(
            "the log ends at {events}, before {last_seq}"
        )))?;
        return w.inner.flush().map(|()| events);
    }
    let crc = format!("{:08x}", w.hasher.clone().finalize());
    w.line(&LineOut::End(&End {
        events,
        records: events,
        crc32: crc,
        salvaged: false,
    }))?;
    w.inner.flush()?;
    Ok(events)
}

/// Streams what `write` writes as an HTTP body, from a blocking thread, waiting when the client
/// reads slowly.
pub fn blocking_body(write: impl FnOnce(&mut dyn Write) + Send + 'static) -> Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_QUEUED);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        write(&mut out);
        let _ = out.flush();
    });
    Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// Hands an export to the HTTP body in chunks, waiting when the client reads slowly.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use jiff::Timestamp;
    use luot_shared::{CenterConfig, Command};

    use super::*;

    /// The export of a store with a configured center and a few tickets, and its directory.
    fn exported() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a")).unwrap();
        let mut engine = Engine::new();
        let mut commands = vec![Command::Configure {
            config: Box::new(CenterConfig::default()),
            by: "system".into(),
        }];
        for _ in 0..4 {
            commands.push(Command::Issue {
                service: "tnmt".into(),
                priority: None,
                request_id: None,
                credential: String::new(),
                by: "kiosk".into(),
            });
        }
        for command in commands {
            let outcome = engine.handle(command, Timestamp::now());
            store.append(&outcome.events).unwrap();
        }
        store.flush().unwrap();
        store.meta_put("track_key", &[1, 2, 3, 0xff]).unwrap();
        let mut out = Vec::new();
        export(&store, &mut out, false).unwrap();
        (dir, String::from_utf8(out).unwrap())
    }

    /// Rewrites the end line so its counts and checksum fit `lines`.
    fn reseal(lines: &[&str], events: u64) -> String {
        let mut hasher = crc32fast::Hasher::new();
        let mut text = String::new();
        for line in lines {
            text.push_str(line);
            text.push('\n');
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        let records = lines.len() as u64 - 1;
        text.push_str(&format!(
            "{{\"end\":{{\"events\":{events},\"records\":{records},\"crc32\":\"{:08x}\",\"salvaged\":false}}}}\n",
            hasher.finalize()
        ));
        text
    }

    /// An export imports into an empty directory and reads back the same settings; a
    /// non-empty directory is refused.
    #[test]
    fn round_trip_and_refuses_non_empty() {
        let (dir, text) = exported();
        let target = dir.path().join("b");
        import(&target, text.as_bytes()).unwrap();
        let store = Store::open(&target).unwrap();
        assert_eq!(
            store.meta_get("track_key").unwrap().unwrap(),
            vec![1, 2, 3, 0xff]
        );
        let mut again = Vec::new();
        export(&store, &mut again, false).unwrap();
        assert_eq!(String::from_utf8(again).unwrap(), text);
        drop(store);
        let err = import(&target, text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
    }

    /// A changed byte fails the checksum, a missing event is a gap even with a fitting
    /// checksum, a cut file has no end line, an error line is incomplete: each is refused and
    /// leaves no database behind.
    #[test]
    fn damaged_exports_are_refused() {
        let (dir, text) = exported();
        let lines: Vec<&str> = text.lines().collect();
        let target = dir.path().join("c");

        let altered = text.replacen("\"tnmt\"", "\"tckh\"", 1);
        let err = import(&target, altered.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert!(!target.join("db").exists());

        let events = lines.iter().filter(|l| l.starts_with("{\"event\"")).count() as u64;
        let mut gap: Vec<&str> = lines[..lines.len() - 1].to_vec();
        gap.remove(2);
        let err = import(&target, reseal(&gap, events - 1).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("gap"), "{err}");

        let cut = lines[..lines.len() - 1].join("\n");
        let err = import(&target, cut.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");

        let mut failed: Vec<&str> = lines[..3].to_vec();
        failed.push("{\"error\":\"disk gone\"}");
        let err = import(&target, failed.join("\n").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("disk gone"), "{err}");
        assert!(!target.join("db").exists());
    }
}
