//! Per-day roll-ups of the log: each closed business day is reduced once to mergeable sums
//! per service, counter, staff member and hour, so a report over a year reads 365 small
//! records instead of every event of the year.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::SyncSender;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use luot_shared::lifecycle;
use luot_shared::{CenterConfig, Event, Recorded, Ticket, TicketId};
use serde::{Deserialize, Serialize};

use super::acc::Acc;
use crate::store::{Store, StoreError};

/// One business day reduced to sums.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRollup {
    /// Sums per service id.
    pub by_service: BTreeMap<String, Acc>,
    /// Sums per counter (`"001"`…; `"-"` for tickets never called).
    pub by_counter: BTreeMap<String, Acc>,
    /// Sums per staff member (`"-"` for tickets never called).
    pub by_staff: BTreeMap<String, Acc>,
    /// Sums per hour of issue (`"08"`…).
    pub by_hour: BTreeMap<String, Acc>,
    /// All tickets of the day.
    pub total: Acc,
    /// Whether the day's close was seen.
    pub closed: bool,
    /// Whether the log has moved [`SETTLE_DAYS`] past the day, so nothing about it can change
    /// any more: only then is a stored roll-up reused. (A clock stepped back can reopen a
    /// closed day for a while; its later tickets belong to it too.)
    #[serde(default)]
    pub settled: bool,
    /// The [`RULE`] it was computed by; one made by another is computed again.
    #[serde(default)]
    pub rule: u32,
}

/// Version of the figures' rule ([`luot_shared::lifecycle`]) stored roll-ups were made by:
/// 2 counts a transfer as the start of a new wait in the new service; 3 keeps every wait and
/// service time (for exact percentiles over any range), ratings by level and the estimates; 4
/// holds each wait against the target in force when it began.
const RULE: u32 = 4;

/// Days past a business day's date after which no event can concern its tickets: a clock
/// stepped back by less than a day may reopen it that long after its date.
const SETTLE_DAYS: i64 = 2;

/// What roll-ups are made from and kept in: a center's store, or one site's share of the
/// provincial database.
pub trait DayLog {
    /// The first seq recorded on local `day`, if any.
    fn first_seq_of(&self, day: Date) -> Result<Option<u64>, StoreError>;
    /// Every event from `seq` on, in order.
    fn events_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<Recorded, StoreError>> + '_>;
    /// The roll-up stored for `day`, as stored.
    fn rollup_get(&self, day: Date) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores the roll-up of `day`.
    fn rollup_put(&self, day: Date, bytes: &[u8]) -> Result<(), StoreError>;
}

impl DayLog for Store {
    fn first_seq_of(&self, day: Date) -> Result<Option<u64>, StoreError> {
        Store::first_seq_of(self, day)
    }
    fn events_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<Recorded, StoreError>> + '_> {
        Box::new(Store::events_from(self, seq))
    }
    fn rollup_get(&self, day: Date) -> Result<Option<Vec<u8>>, StoreError> {
        Store::rollup_get(self, day)
    }
    fn rollup_put(&self, day: Date, bytes: &[u8]) -> Result<(), StoreError> {
        Store::rollup_put(self, day, bytes)
    }
}

/// The roll-up of `day`: from the store when it was made once the day had settled, else
/// computed from the log (and stored when the day is closed). The two days before are settled
/// on the way, so a roll-up stored at a close is replaced by the final one.
pub fn day_rollup(
    store: &dyn DayLog,
    config: &CenterConfig,
    tz: &TimeZone,
    day: Date,
) -> Result<DayRollup, StoreError> {
    let from = day
        .checked_sub(jiff::Span::new().days(SETTLE_DAYS))
        .unwrap_or(day);
    let mut days = range_rollups(store, config, tz, from, day)?;
    Ok(days.pop().map(|(_, r)| r).unwrap_or_default())
}

/// The roll-ups of every day of `from..=to`, in order: stored settled ones as they are, the
/// others computed in one pass over the log (and stored when closed), so a year of missing
/// roll-ups costs one reading of the year, not one per day.
pub fn range_rollups(
    store: &dyn DayLog,
    config: &CenterConfig,
    tz: &TimeZone,
    from: Date,
    to: Date,
) -> Result<Vec<(Date, DayRollup)>, StoreError> {
    let mut out: Vec<(Date, Option<DayRollup>)> = Vec::new();
    let mut day = from;
    while day <= to {
        out.push((day, stored(store, day)?));
        day = match day.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    let missing: Vec<Date> = out
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(d, _)| *d)
        .collect();
    let mut computed = compute(store, config, tz, &missing)?;
    for (day, rollup) in &computed {
        if rollup.closed {
            store.rollup_put(*day, &encode(rollup))?;
        }
    }
    Ok(out
        .into_iter()
        .map(|(day, r)| {
            let r = r.or_else(|| computed.remove(&day)).unwrap_or_default();
            (day, r)
        })
        .collect())
}

/// The stored roll-up of `day`, if it was made by this rule once the day had settled.
fn stored(store: &dyn DayLog, day: Date) -> Result<Option<DayRollup>, StoreError> {
    let Some(bytes) = store.rollup_get(day)? else {
        return Ok(None);
    };
    if !is_final(&bytes) {
        return Ok(None);
    }
    match postcard::from_bytes::<DayRollup>(&bytes[HEADER..]) {
        Ok(r) => Ok(Some(r)),
        Err(e) => {
            tracing::warn!(%day, error = %e, "unreadable roll-up; recomputing");
            Ok(None)
        }
    }
}

/// A stored roll-up starts with `P`, the [`RULE`] it was made by and whether its day had
/// settled, then the roll-up in postcard (compact: a year of them is read in a few
/// milliseconds). Roll-ups stored as JSON by older versions are made again.
const HEADER: usize = 3;

fn encode(rollup: &DayRollup) -> Vec<u8> {
    let header = vec![b'P', RULE as u8, u8::from(rollup.settled)];
    // Cannot fail for these types; an empty record would be computed again.
    postcard::to_extend(rollup, header).unwrap_or_default()
}

/// A stored roll-up as the store holds it, if it is a final one of this rule.
pub fn decode_stored(bytes: &[u8]) -> Option<DayRollup> {
    if !is_final(bytes) {
        return None;
    }
    postcard::from_bytes(&bytes[HEADER..]).ok()
}

/// Whether stored bytes hold a settled roll-up of this rule, without decoding it.
fn is_final(bytes: &[u8]) -> bool {
    bytes.len() > HEADER && bytes[0] == b'P' && bytes[1] == RULE as u8 && bytes[2] == 1
}

/// Of `days`, those without a settled roll-up of this rule (read, not decoded).
pub fn days_to_roll_up(store: &dyn DayLog, days: Vec<Date>) -> Vec<Date> {
    days.into_iter()
        .filter(|day| !matches!(store.rollup_get(*day), Ok(Some(bytes)) if is_final(&bytes)))
        .collect()
}

/// Reduces the given days (ascending) of the log in one pass. A day's tickets live only inside
/// it, but its close is recorded as the first event after it (at midnight, or when the server
/// next runs), and a clock stepped back may reopen it after that: the log is read until it is
/// [`SETTLE_DAYS`] past the last day, each day is finished once the log is that far past it,
/// and only each day's own tickets are counted in it.
fn compute(
    store: &dyn DayLog,
    config: &CenterConfig,
    tz: &TimeZone,
    days: &[Date],
) -> Result<BTreeMap<Date, DayRollup>, StoreError> {
    let fresh = || DayRollup {
        rule: RULE,
        ..DayRollup::default()
    };
    let mut done: BTreeMap<Date, DayRollup> = BTreeMap::new();
    // Days that saw events, each with its first seq; the others are empty.
    let mut pending: BTreeMap<Date, DayRollup> = BTreeMap::new();
    let mut start = None;
    for &day in days {
        match store.first_seq_of(day)? {
            Some(seq) => {
                start = Some(start.map_or(seq, |s: u64| s.min(seq)));
                pending.insert(day, fresh());
            }
            None => {
                done.insert(day, fresh());
            }
        }
    }
    let Some(start) = start else {
        return Ok(done);
    };
    let settle = |day: Date| {
        day.checked_add(jiff::Span::new().days(SETTLE_DAYS))
            .unwrap_or(Date::MAX)
    };
    let mut tickets: HashMap<TicketId, Ticket> = HashMap::new();
    let mut current: Option<Date> = None;
    for rec in store.events_from(start) {
        let rec = rec?;
        // Dates change once a day: convert only when the instant may have crossed one.
        let date = rec.at.to_zoned(tz.clone()).date();
        if current != Some(date) {
            current = Some(date);
            while let Some(entry) = pending.first_entry() {
                if date < settle(*entry.key()) {
                    break;
                }
                let (day, mut rollup) = entry.remove_entry();
                rollup.settled = true;
                rollup.closed = true;
                finish(&mut rollup, &mut tickets, day, config, tz);
                done.insert(day, rollup);
            }
            if pending.is_empty() {
                break;
            }
        }
        match &rec.event {
            // Closed at midnight, at its closing hour, or early by a clock that ran ahead.
            Event::DayClosed { day: closed, .. } => {
                if let Some(r) = pending.get_mut(closed) {
                    r.closed = true;
                }
            }
            Event::ClockStepped { .. } => {}
            // A later day began: the days before it are over even without a close (they had
            // no tickets open).
            _ => {
                for (_, r) in pending.range_mut(..date) {
                    r.closed = true;
                }
            }
        }
        if let Event::TicketIssued { ticket, .. } = &rec.event
            && !pending.contains_key(&ticket.day)
        {
            // A ticket of a day not asked for.
            continue;
        }
        fold(&mut tickets, &rec);
    }
    for (day, mut rollup) in pending {
        finish(&mut rollup, &mut tickets, day, config, tz);
        done.insert(day, rollup);
    }
    Ok(done)
}

/// Adds the tickets of `day` to its roll-up, and forgets them.
fn finish(
    rollup: &mut DayRollup,
    tickets: &mut HashMap<TicketId, Ticket>,
    day: Date,
    config: &CenterConfig,
    tz: &TimeZone,
) {
    let mut ids: Vec<TicketId> = tickets
        .values()
        .filter(|t| t.day == day)
        .map(|t| t.id)
        .collect();
    // In issue order, so a roll-up's samples come out the same however it was computed.
    ids.sort_unstable();
    for id in ids {
        if let Some(t) = tickets.remove(&id) {
            add_ticket(rollup, &t, config, tz);
        }
    }
}

/// The sums of a day's tickets as they stand (a day still open: its open tickets count as
/// issued, their finished waits as waits), by the same rule as a closed day's roll-up.
pub fn tickets_rollup<'a>(
    tickets: impl IntoIterator<Item = &'a Ticket>,
    config: &CenterConfig,
    tz: &TimeZone,
) -> DayRollup {
    let mut tickets: Vec<&Ticket> = tickets.into_iter().collect();
    tickets.sort_unstable_by_key(|t| t.id);
    let mut rollup = DayRollup {
        rule: RULE,
        ..DayRollup::default()
    };
    for t in tickets {
        add_ticket(&mut rollup, t, config, tz);
    }
    rollup
}

/// Adds one ticket to a roll-up.
fn add_ticket(rollup: &mut DayRollup, t: &Ticket, config: &CenterConfig, tz: &TimeZone) {
    // The target in force when each wait began, as the log recorded it; for waits logged
    // before targets were recorded, today's.
    let target = |wait: &lifecycle::Wait| {
        wait.target_min.unwrap_or_else(|| {
            config
                .service(&wait.service)
                .map_or(15, |s| s.target_wait_min)
        })
    };
    let f = lifecycle::figures(t);
    let counter = t
        .counter
        .map_or_else(|| "-".to_owned(), |c| format!("{c:03}"));
    let staff = t.staff.clone().unwrap_or_else(|| "-".to_owned());
    let hour = format!("{:02}", t.issued_at.to_zoned(tz.clone()).hour());
    // A ticket counts in the service it ended in; each of its waits in the service it was
    // spent in.
    let service = rollup.by_service.entry(f.service.clone()).or_default();
    service.add_ticket(&f);
    for (i, wait) in f.waits.iter().enumerate() {
        let estimate = f.estimated_wait_s.filter(|_| i == 0);
        rollup
            .by_service
            .entry(wait.service.clone())
            .or_default()
            .add_wait(wait, target(wait), estimate);
    }
    for acc in [
        rollup.by_counter.entry(counter).or_default(),
        rollup.by_staff.entry(staff).or_default(),
        rollup.by_hour.entry(hour).or_default(),
        &mut rollup.total,
    ] {
        acc.add_ticket(&f);
        for (i, wait) in f.waits.iter().enumerate() {
            let estimate = f.estimated_wait_s.filter(|_| i == 0);
            acc.add_wait(wait, target(wait), estimate);
        }
    }
}

/// Folds one event into the tickets it concerns, by the one lifecycle rule.
fn fold(tickets: &mut HashMap<TicketId, Ticket>, rec: &Recorded) {
    match &rec.event {
        Event::TicketIssued { ticket, .. } => {
            tickets.insert(ticket.id, ticket.clone());
        }
        Event::DayClosed { expired, .. } => {
            for r in expired {
                if let Some(t) = tickets.get_mut(&r.id) {
                    lifecycle::advance(t, &rec.event, rec.at);
                }
            }
        }
        event => {
            if let Some(t) = lifecycle::ticket_of(event).and_then(|id| tickets.get_mut(&id)) {
                lifecycle::advance(t, event, rec.at);
            }
        }
    }
}

/// Closed days waiting for their roll-up; beyond this the engine thread drops the notice.
const CLOSED_QUEUE: usize = 64;

/// Starts the thread that rolls up each day the engine reports closed, off the engine's
/// path; returns where to report them. It stops when the sender is dropped.
pub fn spawn_roller(store: Store) -> std::io::Result<SyncSender<(Vec<Date>, CenterConfig)>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Date>, CenterConfig)>(CLOSED_QUEUE);
    std::thread::Builder::new()
        .name("luot-rollup".into())
        .spawn(move || {
            for (days, config) in rx {
                let Ok(tz) = config.time_zone() else { continue };
                let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else {
                    continue;
                };
                // The days before are settled on the way.
                let from = first
                    .checked_sub(jiff::Span::new().days(SETTLE_DAYS))
                    .unwrap_or(first);
                if let Err(e) = range_rollups(&store, &config, &tz, from, last) {
                    tracing::warn!(%last, error = %e, "day roll-up failed; reports will compute it");
                }
            }
        })?;
    Ok(tx)
}
