//! The simulation: citizens arriving through the day, counters opening, pausing and changing
//! hands, calls, recalls, no-shows, transfers, cancellations and ratings, each one a request
//! to the real server with the credential that would send it. It knows only what the answers
//! told it, and asserts that its picture holds (a counter it believes has someone to call
//! does get a ticket).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use luot_server::clock::Clock;
use luot_shared::protocol::{LoginResponse, TicketView};
use luot_shared::{CounterId, TicketId};
use luot_tests::Api;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// The instant of `h:m` on `day` in Hà Nội time.
pub(crate) fn local(day: Date, h: i8, m: i8) -> Timestamp {
    day.at(h, m, 0, 0)
        .in_tz("Asia/Ho_Chi_Minh")
        .expect("a local time")
        .timestamp()
}

/// Share of arrivals per field, in the order of the default center's fields.
pub(crate) const FIELD_WEIGHTS: [u32; 9] = [20, 10, 12, 4, 6, 10, 3, 8, 27];
/// Expected service time per field, minutes.
pub(crate) const SERVICE_MIN: [u32; 9] = [9, 7, 7, 4, 5, 10, 9, 5, 7];
/// Reasons the rating device offers after a low rating.
pub(crate) const REASONS: [&str; 3] =
    ["Chờ quá lâu", "Cán bộ chưa nhiệt tình", "Hướng dẫn chưa rõ"];
pub(crate) const PASSWORD: &str = "mat-khau-quay";

/// Logs `username` in and returns a client with the session cookie and CSRF header.
pub(crate) async fn login(base: &str, username: &str) -> Api {
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
pub(crate) type Ms = i64;

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
pub(crate) struct Coverage {
    pub(crate) issued: u64,
    pub(crate) priority: u64,
    pub(crate) recalls: u64,
    pub(crate) no_shows: u64,
    pub(crate) reinstated: u64,
    pub(crate) to_service: u64,
    pub(crate) to_counter: u64,
    pub(crate) cancelled: u64,
    pub(crate) unstarted: u64,
    pub(crate) finished_by_next_call: u64,
    pub(crate) ratings: u64,
    pub(crate) reasons: u64,
    pub(crate) handovers: u64,
    pub(crate) held: u64,
    pub(crate) reinstated_late: u64,
}

/// The simulation of a center's days.
pub(crate) struct Sim {
    clock: Clock,
    now: Ms,
    rng: StdRng,
    order: u64,
    agenda: BTreeMap<(Ms, u64), Action>,
    fields: Vec<String>,
    /// Services of each counter.
    serves: BTreeMap<CounterId, Vec<String>>,
    pub(crate) kiosk: Api,
    devices: BTreeMap<CounterId, Api>,
    staff: BTreeMap<&'static str, (Api, Vec<CounterId>)>,
    desks: BTreeMap<CounterId, Desk>,
    waiting: BTreeMap<TicketId, Queued>,
    no_shows: BTreeMap<TicketId, String>,
    /// No counter calls a new citizen from then on (the end of the working day).
    pub(crate) last_call: Ms,
    /// Tickets rated on a device, in order.
    pub(crate) rated: Vec<TicketId>,
    pub(crate) seen: Coverage,
}

pub(crate) fn ms(t: Timestamp) -> Ms {
    t.as_millisecond()
}

impl Sim {
    /// A simulation on `clock` seeded with `seed`, for a center with `fields` (services in
    /// order) and `serves` (the services of each counter), issuing at `kiosk` and rating on
    /// `devices` (one per counter).
    pub(crate) fn new(
        clock: &Clock,
        seed: u64,
        fields: Vec<String>,
        serves: BTreeMap<CounterId, Vec<String>>,
        kiosk: Api,
        devices: BTreeMap<CounterId, Api>,
    ) -> Sim {
        let desk = Desk {
            staff: None,
            work: Work::Closed,
            generation: 0,
            pause: false,
            asleep: false,
        };
        Sim {
            clock: clock.clone(),
            now: ms(clock.now()),
            rng: StdRng::seed_from_u64(seed),
            order: 0,
            agenda: BTreeMap::new(),
            fields,
            desks: serves.keys().map(|c| (*c, desk.clone())).collect(),
            serves,
            kiosk,
            devices,
            staff: BTreeMap::new(),
            waiting: BTreeMap::new(),
            no_shows: BTreeMap::new(),
            last_call: 0,
            rated: Vec::new(),
            seen: Coverage::default(),
        }
    }

    /// Moves the clock to `t` (never back).
    pub(crate) fn advance_to(&mut self, t: Ms) {
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
    pub(crate) async fn run_until(&mut self, end: Ms) {
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
    pub(crate) async fn log_in(&mut self, base: &str) {
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
                    // Taken over while open: the new staff member finishes with whoever is
                    // at the desk.
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
    pub(crate) fn plan_arrivals(&mut self, day: Date, scale: f64, from: (i8, i8), until: (i8, i8)) {
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
    pub(crate) fn day_closed(&mut self) {
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
pub(crate) const STAFF: [(&str, &[CounterId]); 10] = [
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
pub(crate) fn plan_full_day(sim: &mut Sim, day: Date) {
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
pub(crate) fn plan_short_day(sim: &mut Sim, day: Date, afternoon: bool) {
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
