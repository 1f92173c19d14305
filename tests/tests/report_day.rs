//! Simulated days at a center through the real server, in-process on a manual clock, over
//! HTTP with real credentials (a kiosk token, staff accounts logged in at their counters, a
//! rating device paired to each counter, an admin token): every figure of every report row
//! equals the one recounted independently ([`luot_tests::recount`]) from the exported log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use luot_server::clock::Clock;
use luot_server::store::Store;
use luot_server::{Options, Server, auth};
use luot_shared::protocol::{LoginResponse, Role, TicketView};
use luot_shared::{CounterId, TicketId};
use luot_tests::Api;
use luot_tests::recount::{self, Recount, Report};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Seed of the whole simulation: the same seed gives the same days, event for event.
const SEED: u64 = 20_260_930;
/// Every grouping of a report.
const GROUPINGS: [&str; 8] = [
    "service", "counter", "staff", "hour", "day", "week", "month", "quarter",
];
/// Share of arrivals per field, in the order of the default center's fields.
const FIELD_WEIGHTS: [u32; 9] = [20, 10, 12, 4, 6, 10, 3, 8, 27];
/// Target wait per field, minutes.
const TARGETS: [u32; 9] = [20, 15, 15, 10, 10, 20, 15, 10, 25];
/// Expected service time per field, minutes.
const SERVICE_MIN: [u32; 9] = [9, 7, 7, 4, 5, 10, 9, 5, 7];
/// Reasons the rating device offers after a low rating.
const REASONS: [&str; 3] = ["Chờ quá lâu", "Cán bộ chưa nhiệt tình", "Hướng dẫn chưa rõ"];
const PASSWORD: &str = "mat-khau-quay";

/// The instant of `h:m` on `day` in Hà Nội time.
fn local(day: Date, h: i8, m: i8) -> Timestamp {
    day.at(h, m, 0, 0)
        .in_tz("Asia/Ho_Chi_Minh")
        .expect("a local time")
        .timestamp()
}

/// A running in-process server and what stops it.
struct Running {
    base: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), String>>,
}

impl Running {
    async fn start(dir: &Path, clock: &Clock) -> Running {
        // A roll-up thread of the previous run may still hold the data directory for a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let server = loop {
            match Server::open(Options {
                data_dir: dir.to_owned(),
                center: None,
            }) {
                Ok(server) => break server,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    assert!(format!("{e:#}").contains("lock"), "the server opens: {e:#}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the server opens: {e:#}"),
            }
        }
        .with_clock(clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            server
                .run(listener, stopped)
                .await
                .map_err(|e| format!("{e:#}"))
        });
        Running { base, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the server task")
            .expect("a clean stop");
    }
}

/// Logs `username` in and returns a client with the session cookie and CSRF header.
async fn login(base: &str, username: &str) -> Api {
    let reply = Api::new(base, None)
        .post(
            "/api/v1/login",
            &json!({ "username": username, "password": PASSWORD }),
        )
        .await
        .expect_status(200);
    let login: LoginResponse = reply.json();
    let set_cookie = reply.set_cookie.expect("login sets a cookie");
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    Api::new(base, None)
        .with_header("Cookie", &cookie)
        .with_header("X-CSRF-Token", &login.csrf)
}

/// Milliseconds since the epoch: the simulation's time line.
type Ms = i64;

/// Something that happens at a moment of the day.
#[derive(Debug, Clone)]
enum Action {
    /// A citizen takes a ticket; some give up after a while and say so at a counter.
    Arrive {
        field: usize,
        priority: Option<&'static str>,
        gives_up_after: Option<Ms>,
    },
    /// The next step of a counter's work.
    Desk { counter: CounterId, generation: u32 },
    /// A staff member opens a counter (or takes it over).
    Open {
        counter: CounterId,
        staff: &'static str,
    },
    /// The counter closes once its current citizen is done (a break, the end of a shift).
    Pause { counter: CounterId },
    /// A citizen who gave up has their ticket cancelled.
    Cancel { ticket: TicketId },
    /// A no-show comes back and is put back in the queue.
    Reinstate { ticket: TicketId },
    /// The latest no-show comes back after the last call: it waits until the close.
    ReinstateLatest,
    /// The citizen rates on the counter's device.
    Rate {
        ticket: TicketId,
        counter: CounterId,
        score: u8,
        reason: Option<&'static str>,
    },
    /// A counter calls one more citizen late and is still at it when the day closes.
    Hold { counter: CounterId, start: bool },
}

/// What a counter is doing, as the simulation knows it.
#[derive(Debug, Clone, PartialEq)]
enum Work {
    Closed,
    Idle,
    Called {
        ticket: TicketId,
        service: String,
        recalls: u32,
        comes: bool,
    },
    Serving {
        ticket: TicketId,
        service: String,
    },
    /// Left as it is until the day closes.
    Held,
}

#[derive(Debug, Clone)]
struct Desk {
    staff: Option<&'static str>,
    work: Work,
    /// Which chain of `Desk` actions is current (each open starts a new one).
    generation: u32,
    pause: bool,
    /// Idle with nobody to call: woken by the next ticket it may call.
    asleep: bool,
}

/// A waiting ticket as the simulation knows it.
#[derive(Debug, Clone)]
struct Queued {
    service: String,
    for_counter: Option<CounterId>,
}

/// How often each part of the lifecycle happened, so a change of seed cannot quietly lose
/// one.
#[derive(Debug, Default)]
struct Coverage {
    issued: u64,
    priority: u64,
    recalls: u64,
    no_shows: u64,
    reinstated: u64,
    to_service: u64,
    to_counter: u64,
    cancelled: u64,
    unstarted: u64,
    finished_by_next_call: u64,
    ratings: u64,
    reasons: u64,
    handovers: u64,
    held: u64,
    reinstated_late: u64,
}

/// The simulation of a center's days.
struct Sim {
    clock: Clock,
    now: Ms,
    rng: StdRng,
    order: u64,
    agenda: BTreeMap<(Ms, u64), Action>,
    fields: Vec<String>,
    /// Services of each counter.
    serves: BTreeMap<CounterId, Vec<String>>,
    kiosk: Api,
    devices: BTreeMap<CounterId, Api>,
    staff: BTreeMap<&'static str, (Api, Vec<CounterId>)>,
    desks: BTreeMap<CounterId, Desk>,
    waiting: BTreeMap<TicketId, Queued>,
    no_shows: BTreeMap<TicketId, String>,
    /// No counter calls a new citizen from then on (the end of the working day).
    last_call: Ms,
    /// Tickets rated on a device, in order.
    rated: Vec<TicketId>,
    seen: Coverage,
}

fn ms(t: Timestamp) -> Ms {
    t.as_millisecond()
}

impl Sim {
    /// Moves the clock to `t` (never back).
    fn advance_to(&mut self, t: Ms) {
        assert!(t >= self.now, "the simulation runs forward");
        self.clock.advance(Duration::from_millis(
            u64::try_from(t - self.now).unwrap_or(0),
        ));
        self.now = t;
    }

    fn at(&mut self, t: Ms, action: Action) {
        self.order += 1;
        self.agenda.insert((t, self.order), action);
    }

    /// Schedules `action` between `lo` and `hi` seconds from now, at a random millisecond.
    fn after(&mut self, lo: i64, hi: i64, action: Action) {
        let delay = self.rng.random_range(lo * 1000..=hi * 1000);
        self.at(self.now + delay, action);
    }

    /// Runs every action due until `end`; those planned later do not happen.
    async fn run_until(&mut self, end: Ms) {
        while let Some(entry) = self.agenda.first_entry() {
            let (t, _) = *entry.key();
            if t > end {
                break;
            }
            let action = entry.remove();
            self.advance_to(t);
            self.act(action).await;
        }
        self.agenda.clear();
        self.advance_to(end);
    }

    /// Every staff member logs in at the start of a working day (a session lasts 12 hours).
    async fn log_in(&mut self, base: &str) {
        for (name, counters) in STAFF {
            self.staff
                .insert(name, (login(base, name).await, counters.to_vec()));
        }
    }

    fn staff_api(&self, name: &str) -> &Api {
        &self.staff[name].0
    }

    fn desk_api(&self, counter: CounterId) -> Api {
        let name = self.desks[&counter].staff.expect("the counter is staffed");
        self.staff_api(name).clone()
    }

    /// A staff member who may act on `q`: one at a counter that serves its service or is
    /// named for it.
    fn reaching(&self, service: &str, for_counter: Option<CounterId>) -> &Api {
        let (_, (api, _)) = self
            .staff
            .iter()
            .find(|(_, (_, counters))| {
                counters
                    .iter()
                    .any(|c| for_counter == Some(*c) || self.serves[c].iter().any(|s| s == service))
            })
            .expect("some staff member reaches the ticket");
        api
    }

    fn may_call(&self, counter: CounterId, q: &Queued) -> bool {
        match q.for_counter {
            Some(named) => named == counter,
            None => self.serves[&counter].contains(&q.service),
        }
    }

    fn has_callable(&self, counter: CounterId) -> bool {
        self.waiting.values().any(|q| self.may_call(counter, q))
    }

    /// A ticket began waiting: counters idle for want of it get to work.
    fn wake(&mut self, q: &Queued) {
        let woken: Vec<CounterId> = self
            .desks
            .iter()
            .filter(|(c, d)| d.asleep && d.work == Work::Idle && self.may_call(**c, q))
            .map(|(c, _)| *c)
            .collect();
        for counter in woken {
            let desk = self.desks.get_mut(&counter).expect("desk");
            desk.asleep = false;
            let generation = desk.generation;
            self.after(
                3,
                25,
                Action::Desk {
                    counter,
                    generation,
                },
            );
        }
    }

    fn queue(&mut self, ticket: TicketId, q: Queued) {
        self.waiting.insert(ticket, q.clone());
        self.wake(&q);
    }

    /// Seconds of service for `service`: around its expected time, 0.3 to 1.7 times it.
    fn service_secs(&mut self, service: &str) -> i64 {
        let i = self.fields.iter().position(|f| f == service).unwrap_or(0);
        let base = f64::from(SERVICE_MIN[i] * 60);
        let (a, b): (f64, f64) = (self.rng.random(), self.rng.random());
        (base * (0.3 + 0.7 * (a + b))) as i64
    }

    fn set_work(&mut self, counter: CounterId, work: Work) {
        self.desks.get_mut(&counter).expect("desk").work = work;
    }

    /// Schedules the next step of `counter`'s current chain.
    fn next_step(&mut self, counter: CounterId, lo: i64, hi: i64) {
        let generation = self.desks[&counter].generation;
        self.after(
            lo,
            hi,
            Action::Desk {
                counter,
                generation,
            },
        );
    }

    /// After a ticket is called at `counter`: does the citizen come?
    fn called(&mut self, counter: CounterId, t: &TicketView) {
        self.waiting.remove(&t.id);
        let comes = self.rng.random_bool(0.9);
        self.set_work(
            counter,
            Work::Called {
                ticket: t.id,
                service: t.service.clone(),
                recalls: 0,
                comes,
            },
        );
        if comes {
            self.next_step(counter, 15, 90);
        } else {
            self.next_step(counter, 40, 60);
        }
    }

    /// A finished ticket: the citizen may rate it on the device within its window.
    fn finished(&mut self, ticket: TicketId, counter: CounterId) {
        if !self.rng.random_bool(0.75) {
            return;
        }
        let roll = self.rng.random_range(0..100);
        let score = match roll {
            0..48 => 5,
            48..78 => 4,
            78..90 => 3,
            90..96 => 2,
            _ => 1,
        };
        let reason = (score <= 2 && self.rng.random_bool(0.6))
            .then(|| REASONS[self.rng.random_range(0..REASONS.len())]);
        self.after(
            3,
            540,
            Action::Rate {
                ticket,
                counter,
                score,
                reason,
            },
        );
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Arrive {
                field,
                priority,
                gives_up_after,
            } => {
                let service = self.fields[field].clone();
                let mut body = json!({ "service": service });
                if let Some(p) = priority {
                    body["priority"] = p.into();
                    self.seen.priority += 1;
                }
                let t: TicketView = self
                    .kiosk
                    .post("/api/v1/tickets", &body)
                    .await
                    .expect_status(201)
                    .json();
                self.seen.issued += 1;
                if let Some(after) = gives_up_after {
                    self.at(self.now + after, Action::Cancel { ticket: t.id });
                }
                self.queue(
                    t.id,
                    Queued {
                        service,
                        for_counter: None,
                    },
                );
            }
            Action::Desk {
                counter,
                generation,
            } => {
                if self.desks[&counter].generation == generation {
                    self.desk_step(counter).await;
                }
            }
            Action::Open { counter, staff } => {
                let api = self.staff_api(staff).clone();
                api.counter_action(counter, "open").await.expect_status(200);
                let desk = self.desks.get_mut(&counter).expect("desk");
                let was = desk.staff.replace(staff);
                desk.pause = false;
                if desk.work == Work::Closed {
                    desk.work = Work::Idle;
                    desk.generation += 1;
                    desk.asleep = false;
                    self.next_step(counter, 1, 5);
                } else if was.is_some_and(|w| w != staff) {
                    // Taken over while open: a citizen at the desk, if any, is finished by the new staff
                    // member.
                    self.seen.handovers += 1;
                }
            }
            Action::Pause { counter } => {
                let desk = self.desks.get_mut(&counter).expect("desk");
                desk.pause = true;
                if desk.asleep {
                    desk.asleep = false;
                    self.next_step(counter, 0, 2);
                }
            }
            Action::Cancel { ticket } => {
                let Some(q) = self.waiting.get(&ticket).cloned() else {
                    return;
                };
                let api = self.reaching(&q.service, q.for_counter).clone();
                api.post_empty(&format!("/api/v1/tickets/{ticket}/cancel"))
                    .await
                    .expect_status(200);
                self.waiting.remove(&ticket);
                self.seen.cancelled += 1;
            }
            Action::Reinstate { ticket } => {
                let Some(service) = self.no_shows.remove(&ticket) else {
                    return;
                };
                let api = self.reaching(&service, None).clone();
                api.post_empty(&format!("/api/v1/tickets/{ticket}/reinstate"))
                    .await
                    .expect_status(200);
                self.seen.reinstated += 1;
                self.queue(
                    ticket,
                    Queued {
                        service,
                        for_counter: None,
                    },
                );
            }
            Action::ReinstateLatest => {
                if let Some(&ticket) = self.no_shows.keys().next_back() {
                    self.seen.reinstated_late += 1;
                    Box::pin(self.act(Action::Reinstate { ticket })).await;
                }
            }
            Action::Rate {
                ticket,
                counter,
                score,
                reason,
            } => {
                let mut body = json!({ "score": score });
                if let Some(reason) = reason {
                    body["reason"] = reason.into();
                    self.seen.reasons += 1;
                }
                self.devices[&counter]
                    .post(&format!("/api/v1/tickets/{ticket}/rating"), &body)
                    .await
                    .expect_status(200);
                self.rated.push(ticket);
                self.seen.ratings += 1;
            }
            Action::Hold { counter, start } => {
                if self.desks[&counter].work != Work::Closed || !self.has_callable(counter) {
                    return;
                }
                let api = self.desk_api(counter);
                api.counter_action(counter, "open").await.expect_status(200);
                let t = api.call_next(counter).await.expect("someone waits");
                self.waiting.remove(&t.id);
                if start {
                    api.counter_action(counter, "start")
                        .await
                        .expect_status(200);
                }
                let desk = self.desks.get_mut(&counter).expect("desk");
                desk.work = Work::Held;
                desk.generation += 1;
                self.seen.held += 1;
            }
        }
    }

    async fn desk_step(&mut self, counter: CounterId) {
        let api = self.desk_api(counter);
        match self.desks[&counter].work.clone() {
            Work::Closed | Work::Held => {}
            Work::Idle => {
                if self.desks[&counter].pause || self.now >= self.last_call {
                    api.counter_action(counter, "close")
                        .await
                        .expect_status(200);
                    let desk = self.desks.get_mut(&counter).expect("desk");
                    desk.work = Work::Closed;
                    desk.generation += 1;
                    return;
                }
                if !self.has_callable(counter) {
                    self.desks.get_mut(&counter).expect("desk").asleep = true;
                    return;
                }
                let t = api
                    .call_next(counter)
                    .await
                    .unwrap_or_else(|| panic!("counter {counter} has someone to call"));
                self.called(counter, &t);
            }
            Work::Called {
                ticket,
                service,
                recalls,
                comes,
            } => {
                if comes {
                    let start = self.rng.random_bool(0.85);
                    if start {
                        api.counter_action(counter, "start")
                            .await
                            .expect_status(200);
                    } else {
                        self.seen.unstarted += 1;
                    }
                    let secs = self.service_secs(&service);
                    self.set_work(counter, Work::Serving { ticket, service });
                    self.next_step(counter, secs, secs + 1);
                } else if recalls < 2 && self.rng.random_bool(0.7) {
                    api.counter_action(counter, "recall")
                        .await
                        .expect_status(200);
                    self.seen.recalls += 1;
                    let comes = self.rng.random_bool(0.5);
                    self.set_work(
                        counter,
                        Work::Called {
                            ticket,
                            service,
                            recalls: recalls + 1,
                            comes,
                        },
                    );
                    self.next_step(counter, 30, 60);
                } else {
                    api.counter_action(counter, "no-show")
                        .await
                        .expect_status(200);
                    self.seen.no_shows += 1;
                    self.no_shows.insert(ticket, service);
                    if self.rng.random_bool(0.45) {
                        self.after(180, 1500, Action::Reinstate { ticket });
                    }
                    self.set_work(counter, Work::Idle);
                    self.next_step(counter, 3, 10);
                }
            }
            Work::Serving { ticket, service } => {
                let roll = self.rng.random_range(0..1000);
                if roll < 60 {
                    // The citizen needs another field.
                    let others: Vec<String> = self
                        .fields
                        .iter()
                        .filter(|f| **f != service)
                        .cloned()
                        .collect();
                    let to = others[self.rng.random_range(0..others.len())].clone();
                    api.post(
                        &format!("/api/v1/counters/{counter}/transfer"),
                        &json!({ "service": to }),
                    )
                    .await
                    .expect_status(200);
                    self.seen.to_service += 1;
                    self.set_work(counter, Work::Idle);
                    self.queue(
                        ticket,
                        Queued {
                            service: to,
                            for_counter: None,
                        },
                    );
                    self.next_step(counter, 5, 20);
                } else if roll < 90 {
                    // A named counter handles this case.
                    let others: Vec<CounterId> = self
                        .desks
                        .keys()
                        .copied()
                        .filter(|c| *c != counter)
                        .collect();
                    let to = others[self.rng.random_range(0..others.len())];
                    api.post(
                        &format!("/api/v1/counters/{counter}/transfer"),
                        &json!({ "counter": to }),
                    )
                    .await
                    .expect_status(200);
                    self.seen.to_counter += 1;
                    self.set_work(counter, Work::Idle);
                    self.queue(
                        ticket,
                        Queued {
                            service,
                            for_counter: Some(to),
                        },
                    );
                    self.next_step(counter, 5, 20);
                } else if roll < 250
                    && !self.desks[&counter].pause
                    && self.now < self.last_call
                    && self.has_callable(counter)
                {
                    // "Call next" finishes the current citizen and calls the next one.
                    let next = api
                        .call_next(counter)
                        .await
                        .unwrap_or_else(|| panic!("counter {counter} has someone to call"));
                    self.seen.finished_by_next_call += 1;
                    self.finished(ticket, counter);
                    self.called(counter, &next);
                } else {
                    api.counter_action(counter, "finish")
                        .await
                        .expect_status(200);
                    self.finished(ticket, counter);
                    self.set_work(counter, Work::Idle);
                    self.next_step(counter, 5, 40);
                }
            }
        }
    }

    /// Plans the arrivals of a day: a Poisson stream whose rate has a morning and an
    /// afternoon peak and a lunch lull, `scale` times the rate of a full day (~250 visitors),
    /// from `from` to `until` (local hours).
    fn plan_arrivals(&mut self, day: Date, scale: f64, from: (i8, i8), until: (i8, i8)) {
        let start = ms(local(day, from.0, from.1));
        let end = ms(local(day, until.0, until.1));
        let minute = |t: Ms| (t - ms(local(day, 0, 0))) as f64 / 60_000.0;
        let rate = |t: Ms| {
            let m = minute(t);
            let bump = |centre: f64, width: f64, height: f64| {
                height * (-((m - centre) / width).powi(2)).exp()
            };
            let lull = if (690.0..810.0).contains(&m) {
                0.3
            } else {
                1.0
            };
            scale * lull * (0.2 + bump(555.0, 50.0, 1.0) + bump(870.0, 45.0, 0.8))
        };
        // Thinning: candidates at the highest rate, each kept with rate(t) / highest.
        let highest = scale * 1.25;
        let total: u32 = FIELD_WEIGHTS.iter().sum();
        let mut t = start;
        loop {
            let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
            t += (-u.ln() / highest * 60_000.0) as Ms;
            if t >= end {
                break;
            }
            if !self.rng.random_bool((rate(t) / highest).min(1.0)) {
                continue;
            }
            let mut pick = self.rng.random_range(0..total);
            let field = FIELD_WEIGHTS
                .iter()
                .position(|w| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .unwrap_or(0);
            let priority = self.rng.random_bool(0.08).then(|| {
                [
                    "elderly",
                    "disability",
                    "pregnant",
                    "young_child",
                    "meritorious",
                ][self.rng.random_range(0..5)]
            });
            let gives_up_after = self
                .rng
                .random_bool(0.05)
                .then(|| self.rng.random_range(8 * 60_000..40 * 60_000));
            self.at(
                t,
                Action::Arrive {
                    field,
                    priority,
                    gives_up_after,
                },
            );
        }
    }

    /// The day is over: the server closed every counter and expired what was open.
    fn day_closed(&mut self) {
        for desk in self.desks.values_mut() {
            desk.work = Work::Closed;
            desk.generation += 1;
            desk.asleep = false;
            desk.pause = false;
        }
        self.waiting.clear();
        self.no_shows.clear();
    }
}

/// Staff accounts and the counters each is assigned to.
const STAFF: [(&str, &[CounterId]); 10] = [
    ("cb.an", &[1]),
    ("cb.binh", &[2]),
    ("cb.chi", &[3]),
    ("cb.dung", &[4]),
    ("cb.giang", &[5]),
    ("cb.hoa", &[6]),
    ("cb.khanh", &[7]),
    ("cb.lan", &[8]),
    ("cb.minh", &[9]),
    ("cb.nam", &[8, 10]),
];

/// Counters and their staff on a full day: who opens when, breaks, hand-overs.
fn plan_full_day(sim: &mut Sim, day: Date) {
    let t = |h, m| ms(local(day, h, m));
    for (i, (staff, counters)) in STAFF.iter().enumerate().take(9) {
        let counter = counters[0];
        let opens = match i {
            6 => t(8, 0),
            3 => t(7, 45),
            _ => t(7, 30),
        };
        sim.at(opens, Action::Open { counter, staff });
        // Counter 7 (Thanh tra) works only in the morning.
        sim.at(t(11, 30), Action::Pause { counter });
        if counter != 7 {
            sim.at(t(13, 30), Action::Open { counter, staff });
        }
    }
    // Counter 10 helps Tư pháp and Nội vụ until 15:00; then its staff takes over counter 8.
    sim.at(
        t(8, 30),
        Action::Open {
            counter: 10,
            staff: "cb.nam",
        },
    );
    sim.at(t(15, 0), Action::Pause { counter: 10 });
    sim.at(
        t(15, 2),
        Action::Open {
            counter: 8,
            staff: "cb.nam",
        },
    );
    // A short break at counter 3.
    sim.at(t(15, 10), Action::Pause { counter: 3 });
    sim.at(
        t(15, 30),
        Action::Open {
            counter: 3,
            staff: "cb.chi",
        },
    );
    // Counter 9 leaves early: Tư pháp tickets of the last hour wait.
    sim.at(t(16, 0), Action::Pause { counter: 9 });
    sim.at(t(17, 5), Action::ReinstateLatest);
    // Late calls still open when the day closes at 17:30.
    sim.at(
        t(17, 20),
        Action::Hold {
            counter: 9,
            start: true,
        },
    );
    sim.at(
        t(17, 22),
        Action::Hold {
            counter: 10,
            start: false,
        },
    );
    sim.last_call = t(17, 0);
}

/// A short day: every counter of the fields opens in the morning and after lunch.
fn plan_short_day(sim: &mut Sim, day: Date, afternoon: bool) {
    let t = |h, m| ms(local(day, h, m));
    for (staff, counters) in STAFF.iter().take(9) {
        let counter = counters[0];
        sim.at(t(7, 30), Action::Open { counter, staff });
        if afternoon {
            sim.at(t(11, 30), Action::Pause { counter });
            sim.at(t(13, 30), Action::Open { counter, staff });
        }
    }
    sim.last_call = t(16, 45);
}

/// Asks for the report of `from..=to` grouped `by`.
async fn fetch(admin: &Api, from: Date, to: Date, by: &str) -> Value {
    admin
        .get(&format!("/api/v1/reports?from={from}&to={to}&by={by}"))
        .await
        .expect_status(200)
        .json()
}

/// Every row of the server's report against the recount: the same rows in the same order,
/// each figure equal. Returns what differs, one line each.
fn compare(expected: &Report, server: &Value) -> Vec<String> {
    let what = format!("{}..{} by {}", expected.from, expected.to, expected.by);
    let actual: Report = serde_json::from_value(server.clone())
        .unwrap_or_else(|e| panic!("{what}: the report has other fields than the recount ({e})"));
    let mut out = Vec::new();
    if (actual.from, actual.to, &actual.by) != (expected.from, expected.to, &expected.by) {
        out.push(format!(
            "{what}: header {:?}",
            (actual.from, actual.to, &actual.by)
        ));
    }
    let keys = |r: &Report| r.rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
    if keys(&actual) != keys(expected) {
        out.push(format!(
            "{what}: rows {:?}, expected {:?}",
            keys(&actual),
            keys(expected)
        ));
        return out;
    }
    for (e, a) in expected
        .rows
        .iter()
        .chain([&expected.total])
        .zip(actual.rows.iter().chain([&actual.total]))
    {
        for d in recount::differences(e, a) {
            out.push(format!("{what}, row {}: {d}", e.key));
        }
    }
    out
}

/// Every grouping of every range against the recount; what differs, one line each.
async fn compare_all(admin: &Api, recount: &Recount, ranges: &[(Date, Date)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, to) in ranges {
        for by in GROUPINGS {
            let expected = recount.report(*from, *to, by);
            wrong.extend(compare(&expected, &fetch(admin, *from, *to, by).await));
        }
    }
    wrong
}

/// A Wednesday at the end of a quarter (the full day), the Thursday that opens the next
/// quarter (a short day), and the Monday after (a morning still open): every figure of every
/// report row, for each day, for all three together, in every grouping, equals the recount
/// of the exported log, the CSV too; each closed day's reports are the same after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_figure_equals_the_recount_of_the_exported_log() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let days = [
        jiff::civil::date(2026, 9, 30),
        jiff::civil::date(2026, 10, 1),
        jiff::civil::date(2026, 10, 5),
    ];
    let mut specs: Vec<(String, Role, Option<CounterId>)> = vec![
        ("kiosk".into(), Role::Kiosk, None),
        ("admin".into(), Role::Admin, None),
    ];
    specs.extend((1..=10).map(|c| (format!("danh-gia-{c}"), Role::Kiosk, Some(c))));
    let tokens: BTreeMap<String, String> = {
        let store = Store::open(dir.path()).expect("the store opens");
        specs
            .into_iter()
            .map(|(label, role, counter)| {
                let (token, _) = auth::create_token(&store, role, counter, Some(label.clone()))
                    .expect("token created");
                (label, token)
            })
            .collect()
    };
    let clock = Clock::manual(local(days[0], 7, 0));
    let server = Running::start(dir.path(), &clock).await;
    let api = |label: &str| Api::new(&server.base, Some(&tokens[label]));
    let admin = api("admin");

    // The center: targets and service times per field, a tenth counter for Tư pháp and Nội
    // vụ, rating reasons, issuing until 16:45 and the close at 17:30.
    let mut config: Value = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    config["center"]["rating_reasons"] = json!(REASONS);
    config["center"]["issue_until"] = "16:45:00".into();
    config["center"]["close"] = "17:30:00".into();
    for (i, service) in config["services"]
        .as_array_mut()
        .expect("services")
        .iter_mut()
        .enumerate()
    {
        service["target_wait_min"] = TARGETS[i].into();
        service["service_min"] = SERVICE_MIN[i].into();
    }
    config["counters"].as_array_mut().expect("counters").push(
        json!({ "id": 10, "name": "Quầy 10 (Tư pháp - Nội vụ)", "services": ["tphc", "nv"] }),
    );
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);
    for (name, counters) in STAFF {
        admin
            .post(
                "/api/v1/admin/users",
                &json!({ "username": name, "password": PASSWORD, "role": "staff", "counters": counters }),
            )
            .await
            .expect_status(201);
    }
    let fields: Vec<String> = config["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect();
    let serves: BTreeMap<CounterId, Vec<String>> = config["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().expect("a counter id") as CounterId,
                serde_json::from_value(c["services"].clone()).expect("services"),
            )
        })
        .collect();
    let mut sim = Sim {
        clock: clock.clone(),
        now: ms(clock.now()),
        rng: StdRng::seed_from_u64(SEED),
        order: 0,
        agenda: BTreeMap::new(),
        fields,
        desks: serves
            .keys()
            .map(|c| {
                (
                    *c,
                    Desk {
                        staff: None,
                        work: Work::Closed,
                        generation: 0,
                        pause: false,
                        asleep: false,
                    },
                )
            })
            .collect(),
        serves,
        kiosk: api("kiosk"),
        devices: (1..=10)
            .map(|c| (c, api(&format!("danh-gia-{c}"))))
            .collect(),
        staff: BTreeMap::new(),
        waiting: BTreeMap::new(),
        no_shows: BTreeMap::new(),
        last_call: 0,
        rated: Vec::new(),
        seen: Coverage::default(),
    };

    // The full day, closed at 17:30 by the first request after it.
    sim.log_in(&server.base).await;
    sim.plan_arrivals(days[0], 1.0, (7, 30), (16, 45));
    plan_full_day(&mut sim, days[0]);
    sim.run_until(ms(local(days[0], 17, 29))).await;
    // An admin corrects one rating (recorded as a correction; the report counts the latest).
    let corrected = *sim.rated.first().expect("a rated ticket");
    admin.rate(corrected, 2).await.expect_status(200);
    let full_day_issued = sim.seen.issued;
    sim.advance_to(ms(local(days[0], 17, 31)));
    let refused = sim.kiosk.issue("tnmt", None).await;
    assert!(refused.status >= 400, "no tickets after the close");
    sim.day_closed();
    let mut closed_reports = BTreeMap::new();
    for by in GROUPINGS {
        closed_reports.insert((days[0], by), fetch(&admin, days[0], days[0], by).await);
    }

    // A short day, closed the same way.
    sim.advance_to(ms(local(days[1], 7, 0)));
    sim.log_in(&server.base).await;
    sim.plan_arrivals(days[1], 0.3, (7, 30), (16, 30));
    plan_short_day(&mut sim, days[1], true);
    sim.run_until(ms(local(days[1], 17, 29))).await;
    sim.advance_to(ms(local(days[1], 17, 31)));
    assert!(sim.kiosk.issue("tnmt", None).await.status >= 400);
    sim.day_closed();
    for by in GROUPINGS {
        closed_reports.insert((days[1], by), fetch(&admin, days[1], days[1], by).await);
    }

    // Monday morning, still open.
    sim.advance_to(ms(local(days[2], 7, 0)));
    sim.log_in(&server.base).await;
    sim.plan_arrivals(days[2], 0.15, (7, 30), (10, 0));
    plan_short_day(&mut sim, days[2], false);
    sim.run_until(ms(local(days[2], 10, 0))).await;

    let seen = &sim.seen;
    eprintln!("simulated: {seen:?}; the full day issued {full_day_issued} tickets");
    assert!(
        (220..=290).contains(&full_day_issued),
        "about 250 visitors on the full day, not {full_day_issued}"
    );
    for (what, n) in [
        ("priority tickets", seen.priority),
        ("recalls", seen.recalls),
        ("no-shows", seen.no_shows),
        ("reinstated no-shows", seen.reinstated),
        ("transfers to a service", seen.to_service),
        ("transfers to a counter", seen.to_counter),
        ("cancellations", seen.cancelled),
        ("finishes without a start", seen.unstarted),
        ("finishes by the next call", seen.finished_by_next_call),
        ("ratings", seen.ratings),
        ("ratings with a reason", seen.reasons),
        ("tickets held at a counter at the close", seen.held),
        (
            "counters taken over with a citizen at the desk",
            seen.handovers,
        ),
        (
            "no-shows reinstated after the last call",
            seen.reinstated_late,
        ),
    ] {
        assert!(n > 0, "the simulation has {what}: {seen:?}");
    }

    // The log, exported, recounted.
    let export = admin
        .get("/api/v1/admin/export")
        .await
        .expect_status(200)
        .body;
    let events = recount::parse_export(&export);
    let recount = Recount::new(&events);
    assert!(
        recount.open_tickets(days[2], days[2]) > 0,
        "Monday's morning is still open"
    );
    let ranges = [
        (days[0], days[0]),
        (days[1], days[1]),
        (days[2], days[2]),
        (days[0], days[2]),
    ];
    let mut wrong = compare_all(&admin, &recount, &ranges).await;
    // The simulation's own tally agrees with the log.
    let all = recount.report(days[0], days[2], "day").total;
    assert_eq!(
        (all.issued, all.cancelled, all.ratings),
        (seen.issued, seen.cancelled, seen.ratings),
        "issued, cancelled, rated"
    );
    let full = recount.report(days[0], days[0], "service").total;
    assert!(
        full.no_show > 0 && full.expired > 0 && full.cancelled > 0 && full.served > 0,
        "the full day has every outcome: {full:?}"
    );
    let by_counter = recount.report(days[0], days[0], "counter");
    let staff_keys: BTreeSet<String> = recount
        .report(days[0], days[0], "staff")
        .rows
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert!(by_counter.rows.len() >= 10 && staff_keys.contains("cb.nam"));

    // The CSV, once: the same figures, as a spreadsheet reads them.
    let csv = admin
        .get(&format!(
            "/api/v1/reports?from={}&to={}&by=service&format=csv",
            days[0], days[2]
        ))
        .await
        .expect_status(200)
        .body;
    let body = csv.strip_prefix('\u{feff}').expect("a byte-order mark");
    assert!(body.ends_with("\r\n"), "CRLF line ends");
    let mut lines = body.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        recount::csv_fields(lines.next().expect("a header")),
        recount::CSV_HEADER
    );
    let expected = recount.report(days[0], days[2], "service");
    let records: Vec<Vec<String>> = lines.map(recount::csv_fields).collect();
    assert_eq!(
        records.len(),
        expected.rows.len() + 1,
        "a line per row and the total"
    );
    for (row, fields) in expected.rows.iter().chain([&expected.total]).zip(&records) {
        for d in recount::csv_differences(row, fields) {
            wrong.push(format!("CSV row {}: {d}", row.key));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} figures differ from the recount:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // The closed days read the same now that their roll-ups are stored, and after a restart.
    for ((day, by), before) in &closed_reports {
        assert_eq!(
            &fetch(&admin, *day, *day, by).await,
            before,
            "{day} by {by}"
        );
    }
    server.stop().await;
    let server = Running::start(dir.path(), &clock).await;
    let admin = Api::new(&server.base, Some(&tokens["admin"]));
    for ((day, by), before) in &closed_reports {
        assert_eq!(
            &fetch(&admin, *day, *day, by).await,
            before,
            "{day} by {by} after a restart"
        );
    }
    let wrong = compare_all(&admin, &recount, &ranges).await;
    assert!(wrong.is_empty(), "after a restart:\n{}", wrong.join("\n"));
    server.stop().await;

    // The closed days' roll-ups were kept, final (the log is past their settling).
    // The roll-up thread of the stopped server may still hold the directory for a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let store = loop {
        match Store::open(dir.path()) {
            Ok(store) => break store,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("lock"), "the store opens: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the store opens: {e}"),
        }
    };
    for day in &days[..2] {
        let stored = store
            .rollup_get(*day)
            .expect("the store reads")
            .unwrap_or_else(|| panic!("{day} has a stored roll-up"));
        let stored: Value = serde_json::from_slice(&stored).expect("a roll-up");
        assert_eq!(
            (&stored["closed"], &stored["settled"]),
            (&json!(true), &json!(true)),
            "{day}"
        );
    }
}
