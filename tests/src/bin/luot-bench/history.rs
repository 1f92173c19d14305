//! A year of a center's history, written into a data directory the way the server writes it:
//! the real engine on a virtual clock, events appended and flushed per day, a snapshot and a
//! report roll-up at each day's close.

use std::path::Path;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use luot_server::store::Store;
use luot_shared::engine::{Rater, Reply};
use luot_shared::{CenterConfig, Command, Engine, Recorded};

/// Visits per working day: the city center's ~250, a little more for busy days.
const PER_DAY: usize = 275;
const STAFF: &str = "nhan-vien";

/// Writes `days` working days ending yesterday into `dir`; returns the tickets written.
pub(crate) fn generate(dir: &Path, days: usize) -> usize {
    let store = Store::open(dir).expect("open the store");
    let config = CenterConfig::default();
    let tz = config.time_zone().expect("time zone");
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let mut engine = Engine::new();
    let mut writer = Writer {
        store: &store,
        tz: &tz,
        pending: Vec::new(),
    };
    let first = today
        .checked_sub(jiff::Span::new().days(i64::try_from(days).unwrap_or(365)))
        .expect("date");
    writer.run(
        &mut engine,
        Command::Configure {
            config: Box::new(config.clone()),
            by: "system".into(),
        },
        writer.at(first, 7, 0),
    );
    let mut tickets = 0;
    let mut day = first;
    let mut n: u64 = 0;
    while day < today {
        for counter in config.counters.iter().map(|c| c.id) {
            writer.run(
                &mut engine,
                Command::Open {
                    counter,
                    staff: STAFF.into(),
                },
                writer.at(day, 7, 25),
            );
        }
        for i in 0..PER_DAY {
            n += 1;
            let service = &config.services[(n as usize * 7 + i) % config.services.len()].id;
            let counter = config
                .counters
                .iter()
                .find(|c| c.services.contains(service))
                .expect("every service has a counter")
                .id;
            // Spread over 07:30–16:30, with waits and service times that vary.
            let minute = 450 + (i * 540 / PER_DAY) as i64;
            let issued = writer.at(day, 0, 0) + SignedDuration::from_mins(minute);
            let reply = writer.run(
                &mut engine,
                Command::Issue {
                    service: service.clone(),
                    priority: None,
                    request_id: None,
                    credential: "kiosk".into(),
                    by: "kiosk".into(),
                },
                issued,
            );
            let Some(Reply::Ticket { ticket, .. }) = reply else {
                continue;
            };
            tickets += 1;
            let called = issued + SignedDuration::from_secs(60 + (n % 17) as i64 * 45);
            writer.run(
                &mut engine,
                Command::CallNext {
                    counter,
                    staff: STAFF.into(),
                },
                called,
            );
            if n.is_multiple_of(23) {
                writer.run(
                    &mut engine,
                    Command::NoShow {
                        counter,
                        staff: STAFF.into(),
                    },
                    called,
                );
                continue;
            }
            writer.run(
                &mut engine,
                Command::Start {
                    counter,
                    staff: STAFF.into(),
                },
                called,
            );
            let done = called + SignedDuration::from_secs(180 + (n % 11) as i64 * 50);
            writer.run(
                &mut engine,
                Command::Finish {
                    counter,
                    staff: STAFF.into(),
                },
                done,
            );
            if n.is_multiple_of(3) {
                let score = [5, 5, 4, 5, 3, 4, 5, 2, 5, 4][(n % 10) as usize];
                writer.run(
                    &mut engine,
                    Command::Rate {
                        ticket: ticket.id,
                        score,
                        reason: None,
                        rater: Rater::Device {
                            name: "rating".into(),
                            counter: Some(counter),
                        },
                    },
                    done,
                );
            }
        }
        writer.flush();
        day = day.tomorrow().expect("date");
        // The day closes with the first command after midnight, as on the server.
        writer.run(
            &mut engine,
            Command::Tick,
            writer.at(day, 0, 0) + SignedDuration::from_secs(5),
        );
        writer.flush();
        store.save_snapshot(&engine).expect("snapshot");
    }
    store.flush().expect("flush");
    tickets
}

struct Writer<'a> {
    store: &'a Store,
    tz: &'a TimeZone,
    pending: Vec<Recorded>,
}

impl Writer<'_> {
    fn at(&self, day: Date, h: i8, m: i8) -> Timestamp {
        day.at(h, m, 0, 0)
            .to_zoned(self.tz.clone())
            .expect("local time")
            .timestamp()
    }

    fn run(&mut self, engine: &mut Engine, command: Command, at: Timestamp) -> Option<Reply> {
        let outcome = engine.handle(command, at);
        for rec in &outcome.events {
            let day = rec.at.to_zoned(self.tz.clone()).date();
            self.store.mark_day(day, rec.seq).expect("day index");
        }
        self.pending.extend(outcome.events);
        outcome.result.ok()
    }

    fn flush(&mut self) {
        self.store.append(&self.pending).expect("append");
        self.store.flush().expect("flush");
        self.pending.clear();
    }
}
