//! Each site's state, folded from its projected events by the same engine the site runs, and
//! each site's share of the database as a log the report roll-ups can read.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use jiff::civil::Date;
use luot_shared::{Engine, Recorded};
use tokio::runtime::Handle;
use tokio_postgres::Client;

use crate::reports::DayLog;
use crate::store::StoreError;

/// One site as the hub knows it.
#[derive(Clone)]
pub(super) struct Site {
    /// The state folded from every projected event (its seq is the cursor).
    pub engine: Engine,
    /// The last local day with an event.
    pub last_day: Option<Date>,
    /// Why its events cannot be folded, if they cannot (they are still stored).
    pub problem: Option<String>,
    /// The first seq missing while a later one waits.
    pub gap_from: Option<u64>,
    /// Seq of the stored snapshot.
    pub snapshot_seq: u64,
    /// Set when the stream no longer holds the events of a gap: what comes after it is
    /// refused instead of delivered again and again (until the hub restarts).
    pub stuck: bool,
}

impl Site {
    /// A site never seen.
    pub(super) fn new() -> Site {
        Site {
            engine: Engine::new(),
            last_day: None,
            problem: None,
            gap_from: None,
            snapshot_seq: 0,
            stuck: false,
        }
    }

    /// The local date of an instant by the site's own time zone.
    pub(super) fn local_date(&self, rec: &Recorded) -> Date {
        self.engine.local_date(rec.at)
    }
}

impl Default for Site {
    fn default() -> Self {
        Site::new()
    }
}

/// Every site, shared by the projector (which replaces a site after each commit) and the web
/// handlers (which read).
#[derive(Default)]
pub(super) struct Sites {
    map: RwLock<BTreeMap<String, Arc<Site>>>,
}

impl Sites {
    /// One site.
    pub(super) fn get(&self, site: &str) -> Option<Arc<Site>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
            .cloned()
    }

    /// Every site, by id.
    pub(super) fn all(&self) -> Vec<(String, Arc<Site>)> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Replaces a site (after its events are committed).
    pub(super) fn put(&self, site: String, state: Site) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(site, Arc::new(state));
    }
}

/// Events read from the database at a time.
const PAGE: i64 = 2000;

/// Folds a site from its snapshot and the events after it.
pub(super) async fn load(
    client: &impl tokio_postgres::GenericClient,
    site: &str,
) -> anyhow::Result<Site> {
    let mut state = Site::new();
    if let Some(row) = client
        .query_opt(
            "SELECT seq, body FROM hub_snapshots WHERE site = $1",
            &[&site],
        )
        .await?
    {
        let seq: i64 = row.get(0);
        let body: Vec<u8> = row.get(1);
        match Engine::from_snapshot(&body) {
            Ok(engine) if engine.seq() == seq as u64 => {
                state.engine = engine;
                state.snapshot_seq = seq as u64;
            }
            _ => tracing::warn!(
                site,
                "unreadable snapshot; folding the site from its first event"
            ),
        }
    }
    let row = client
        .query_one(
            "SELECT last_seq, gap_from, problem, (SELECT max(day)::text FROM hub_days WHERE site = $1)
             FROM hub_sites WHERE site = $1",
            &[&site],
        )
        .await?;
    let last: i64 = row.get(0);
    state.gap_from = row.get::<_, Option<i64>>(1).map(|s| s as u64);
    state.problem = row.get(2);
    state.last_day = row.get::<_, Option<String>>(3).and_then(|d| d.parse().ok());
    while state.engine.seq() < last as u64 && state.problem.is_none() {
        let from = state.engine.seq() as i64 + 1;
        let rows = client
            .query(
                "SELECT body::text FROM hub_events WHERE site = $1 AND seq >= $2 AND seq <= $3
                 ORDER BY seq LIMIT $4",
                &[&site, &from, &last, &PAGE],
            )
            .await?;
        if rows.is_empty() {
            state.problem = Some(format!("event {from} is missing from the database"));
            break;
        }
        for row in rows {
            let text: String = row.get(0);
            let rec: Recorded = serde_json::from_str(&text)?;
            if let Err(e) = state.engine.apply(&rec) {
                state.problem = Some(format!("event {} cannot be folded: {e}", rec.seq));
                break;
            }
        }
    }
    Ok(state)
}

/// Folds every site the database holds.
pub(super) async fn load_all(client: &Client, sites: &Sites) -> anyhow::Result<()> {
    let ids: Vec<String> = client
        .query("SELECT site FROM hub_sites ORDER BY site", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in ids {
        let started = std::time::Instant::now();
        let state = load(client, &id).await?;
        tracing::info!(site = %id, seq = state.engine.seq(), took_ms = started.elapsed().as_millis() as u64, "site loaded");
        sites.put(id, state);
    }
    Ok(())
}

/// Brings every site up to what the database holds: another hub on the same database may
/// have projected events this one did not (they share the stream's consumer).
pub(super) async fn refresh(client: &Client, sites: &Sites) -> anyhow::Result<()> {
    let rows = client
        .query("SELECT site, last_seq FROM hub_sites", &[])
        .await?;
    for row in rows {
        let id: String = row.get(0);
        let last: i64 = row.get(1);
        let behind = sites
            .get(&id)
            .is_none_or(|s| s.problem.is_none() && s.engine.seq() < last as u64);
        if behind {
            let fresh = load(client, &id).await?;
            // The projector may have moved it on meanwhile: keep the further one.
            if sites
                .get(&id)
                .is_none_or(|s| s.engine.seq() < fresh.engine.seq())
            {
                sites.put(id, fresh);
            }
        }
    }
    Ok(())
}

/// One site's share of the database as the report roll-ups read it. Its methods block: call
/// it off the async threads (inside `spawn_blocking`).
pub(super) struct SiteLog {
    /// The site.
    pub site: String,
    /// A connection.
    pub client: Arc<Client>,
    /// The runtime the connection runs on.
    pub handle: Handle,
}

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL: {e}"))
}

impl DayLog for SiteLog {
    fn first_seq_of(&self, day: Date) -> Result<Option<u64>, StoreError> {
        let row = self
            .handle
            .block_on(self.client.query_opt(
                "SELECT first_seq FROM hub_days WHERE site = $1 AND day = $2::text::date",
                &[&self.site, &day.to_string()],
            ))
            .map_err(db)?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    fn events_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<Recorded, StoreError>> + '_> {
        Box::new(Pages {
            log: self,
            next: seq as i64,
            page: Vec::new().into_iter(),
            done: false,
        })
    }

    fn rollup_get(&self, day: Date) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .handle
            .block_on(self.client.query_opt(
                "SELECT body FROM hub_rollups WHERE site = $1 AND day = $2::text::date",
                &[&self.site, &day.to_string()],
            ))
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn rollup_put(&self, day: Date, bytes: &[u8]) -> Result<(), StoreError> {
        self.handle
            .block_on(self.client.execute(
                "INSERT INTO hub_rollups (site, day, body) VALUES ($1, $2::text::date, $3)
                 ON CONFLICT (site, day) DO UPDATE SET body = EXCLUDED.body",
                &[&self.site, &day.to_string(), &bytes],
            ))
            .map_err(db)?;
        Ok(())
    }
}

/// The events of a site from a seq on, a page at a time.
struct Pages<'a> {
    log: &'a SiteLog,
    next: i64,
    page: std::vec::IntoIter<Recorded>,
    done: bool,
}

impl Iterator for Pages<'_> {
    type Item = Result<Recorded, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(rec) = self.page.next() {
            return Some(Ok(rec));
        }
        if self.done {
            return None;
        }
        let rows = match self.log.handle.block_on(self.log.client.query(
            "SELECT body::text FROM hub_events WHERE site = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
            &[&self.log.site, &self.next, &PAGE],
        )) {
            Ok(rows) => rows,
            Err(e) => {
                self.done = true;
                return Some(Err(db(e)));
            }
        };
        if (rows.len() as i64) < PAGE {
            self.done = true;
        }
        let mut page = Vec::with_capacity(rows.len());
        for row in rows {
            let text: String = row.get(0);
            match serde_json::from_str::<Recorded>(&text) {
                Ok(rec) => page.push(rec),
                Err(e) => {
                    self.done = true;
                    return Some(Err(StoreError::Corrupt {
                        what: "projected event",
                        detail: e.to_string(),
                    }));
                }
            }
        }
        if let Some(last) = page.last() {
            self.next = last.seq as i64 + 1;
        }
        self.page = page.into_iter();
        self.page.next().map(Ok)
    }
}
