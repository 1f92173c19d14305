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
/// service time (for exact percentiles over any range), ratings by level and the estimates.
const RULE: u32 = 3;

/// Days past a business day's date after which no event can concern its tickets: a clock
/// stepped back by less than a day may reopen it that long after its date.
const SETTLE_DAYS: i64 = 2;

/// The roll-up of `day`: from the store when it was made once the day had settled, else
/// computed from the log (and stored when the day is closed). The day before is settled on
/// the way, so the roll-up stored at its close is replaced by the final one.
pub fn day_rollup(
    store: &Store,
    config: &CenterConfig,
    tz: &TimeZone,
    day: Date,
) -> Result<DayRollup, StoreError> {
    let rollup = stored_or_computed(store, config, tz, day)?;
    if rollup.closed
        && let Ok(before) = day.yesterday()
    {
        stored_or_computed(store, config, tz, before)?;
    }
    Ok(rollup)
}

fn stored_or_computed(
    store: &Store,
    config: &CenterConfig,
    tz: &TimeZone,
    day: Date,
) -> Result<DayRollup, StoreError> {
    if let Some(bytes) = store.rollup_get(day)? {
        match serde_json::from_slice::<DayRollup>(&bytes) {
            Ok(r) if r.settled && r.rule == RULE => return Ok(r),
            Ok(_) => {}
            Err(e) => tracing::warn!(%day, error = %e, "unreadable roll-up; recomputing"),
        }
    }
    let rollup = compute(store, config, tz, day)?;
    if rollup.closed {
        store.rollup_put(day, &serde_json::to_vec(&rollup).unwrap_or_default())?;
    }
    Ok(rollup)
}

/// Reduces one day of the log. The day's tickets live only inside it, but its close is
/// recorded as the first event after it (at midnight, or when the server next runs), and a
/// clock stepped back may reopen it after that: the log is read until it is
/// [`SETTLE_DAYS`] past the day, and only the day's own tickets are counted.
fn compute(
    store: &Store,
    config: &CenterConfig,
    tz: &TimeZone,
    day: Date,
) -> Result<DayRollup, StoreError> {
    let mut rollup = DayRollup {
        rule: RULE,
        ..DayRollup::default()
    };
    let Some(start) = store.first_seq_of(day)? else {
        return Ok(rollup);
    };
    let settle = day
        .checked_add(jiff::Span::new().days(SETTLE_DAYS))
        .unwrap_or(Date::MAX);
    let mut tickets: HashMap<TicketId, Ticket> = HashMap::new();
    for rec in store.events_from(start) {
        let rec = rec?;
        let date = rec.at.to_zoned(tz.clone()).date();
        if date >= settle {
            rollup.settled = true;
            break;
        }
        match &rec.event {
            // Closed at midnight, at its closing hour, or early by a clock that ran ahead.
            Event::DayClosed { day: closed, .. } if *closed == day => rollup.closed = true,
            Event::DayClosed { .. } | Event::ClockStepped { .. } => {}
            // The next day began without a close of this one (it had no tickets open).
            _ if date > day => rollup.closed = true,
            _ => {}
        }
        fold(&mut tickets, &rec);
    }
    let target = |service: &str| config.service(service).map_or(15, |s| s.target_wait_min);
    for t in tickets.values() {
        if t.day != day {
            continue;
        }
        let f = lifecycle::figures(t);
        let counter = t
            .counter
            .map_or_else(|| "-".to_owned(), |c| format!("{c:03}"));
        let staff = t.staff.clone().unwrap_or_else(|| "-".to_owned());
        let hour = format!("{:02}", t.issued_at.to_zoned(tz.clone()).hour());
        // A ticket counts in the service it ended in; each of its waits in the service it
        // was spent in.
        let service = rollup.by_service.entry(f.service.clone()).or_default();
        service.add_ticket(&f);
        for (i, wait) in f.waits.iter().enumerate() {
            let estimate = f.estimated_wait_s.filter(|_| i == 0);
            rollup
                .by_service
                .entry(wait.service.clone())
                .or_default()
                .add_wait(wait, target(&wait.service), estimate);
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
                acc.add_wait(wait, target(&wait.service), estimate);
            }
        }
    }
    Ok(rollup)
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
                for day in days {
                    if let Err(e) = day_rollup(&store, &config, &tz, day) {
                        tracing::warn!(%day, error = %e, "day roll-up failed; reports will compute it");
                    }
                }
            }
        })?;
    Ok(tx)
}
