//! `kill -9` soak: kiosks issue and counters call while the server is killed again and again.
//!
//! Short by default; `LUOT_SOAK_CYCLES=N` runs N kill cycles, and `LUOT_SOAK_SEED=S` replays
//! the random choices (delays, pauses, actions) of an earlier run, whose seed it printed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use luot_shared::protocol::{Role, ServerMessage, TicketView};
use luot_shared::{Event, Recorded};
use luot_tests::{ServerOptions, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const CENTER: &str = r#"
[center]
name = "Trung tâm thử nghiệm"
timezone = "Asia/Ho_Chi_Minh"

[[services]]
id = "a"
name = "Hộ tịch"
prefix = "1"

[[services]]
id = "b"
name = "Đất đai"
prefix = "2"

[[services]]
id = "c"
name = "Xây dựng"
prefix = "3"

[[counters]]
id = 1
services = ["a", "b"]

[[counters]]
id = 2
services = ["b", "c"]

[[counters]]
id = 3
services = ["c", "a"]
"#;

const SERVICES: [&str; 3] = ["a", "b", "c"];
const COUNTERS: [u32; 3] = [1, 2, 3];
const KIOSKS: usize = 4;
const DISPLAY: &str = "display";
const DEFAULT_CYCLES: u64 = 4;
const DEFAULT_SEED: u64 = 0x4c75_6f74;
/// Tickets issued per cycle at most: a cycle stays well under the `/ws` replay window.
const MAX_TICKETS_PER_CYCLE: usize = 60;
/// Numbers a service has per day (001–999), less room for requests cut by a kill.
const NUMBERS_PER_SERVICE: usize = 999 - KIOSKS;
/// The server replays at most this many missed events on `/ws`; further back is a snapshot.
const MAX_REPLAY: u64 = 10_000;
/// Time from the start of a cycle's load to the kill, in milliseconds.
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 150..=900;
/// A load request without an answer in this time counts as not acknowledged.
const LOAD_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the display may take to catch up with the state after a restart.
const CATCH_UP: Duration = Duration::from_secs(15);

/// An issue request that got no answer; the kiosk sends it again with the same `request_id`.
#[derive(Debug, Clone)]
struct Unanswered {
    request_id: String,
    service: &'static str,
    /// Whether it was sent at all (a request the kiosk never got to send is not a retry).
    sent: bool,
}

/// A ticket a kiosk was answered with: 201, or 200 for a retried `request_id`.
#[derive(Debug, Clone)]
struct IssueAck {
    request_id: String,
    id: u64,
    number: String,
    service: String,
}

/// A ticket "call next" answered with 200.
#[derive(Debug, Clone)]
struct CallAck {
    counter: u32,
    id: u64,
    number: String,
}

/// What one load client was answered, and what it could not get answered.
#[derive(Debug, Default)]
struct LoadReport {
    issued: Vec<IssueAck>,
    calls: Vec<CallAck>,
    unanswered: Vec<Unanswered>,
    /// Requests that got no answer (the server died under them, or they timed out).
    cut: usize,
    /// Answers no client should ever get here.
    wrong: Vec<String>,
    /// 409s to counter actions: wrong too, unless the business day closed under them.
    conflicts: Vec<String>,
}

/// The answer to one load request.
enum Answer {
    Status(u16, String),
    /// No complete answer: counts as not acknowledged.
    Cut,
}

#[derive(Clone)]
struct LoadClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl LoadClient {
    fn new(base: &str, token: String) -> LoadClient {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(LOAD_TIMEOUT)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("cannot build an HTTP client");
        LoadClient {
            http,
            base: base.to_owned(),
            token,
        }
    }

    async fn post(&self, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let Ok(response) = request.send().await else {
            return Answer::Cut;
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(text) => Answer::Status(status, text),
            Err(_) => Answer::Cut,
        }
    }
}

/// The cycle's share of ticket numbers, handed out round-robin over the services.
struct IssuePlan {
    cycle: u64,
    /// Services are taken in turn across the whole run, from this position.
    first: usize,
    cap: usize,
    taken: AtomicUsize,
}

impl IssuePlan {
    fn take(&self) -> Option<(String, &'static str)> {
        let slot = self.taken.fetch_add(1, Ordering::Relaxed);
        (slot < self.cap).then(|| {
            (
                format!("c{}-t{slot}", self.cycle),
                SERVICES[(self.first + slot) % SERVICES.len()],
            )
        })
    }

    fn used(&self) -> usize {
        self.taken.load(Ordering::Relaxed).min(self.cap)
    }
}

/// Waits up to `ms`, or less if the stop comes first; `true` when stopped.
async fn pause(stop: &mut watch::Receiver<bool>, ms: u64) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// A kiosk: first the requests it could not get answered before, then new ones from the plan.
async fn kiosk(
    client: LoadClient,
    retries: Vec<Unanswered>,
    plan: Arc<IssuePlan>,
    pause_ms: u64,
    mut rng: StdRng,
    mut stop: watch::Receiver<bool>,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut queue: VecDeque<Unanswered> = retries.into();
    loop {
        if *stop.borrow() {
            break;
        }
        let mut request = match queue.pop_front() {
            Some(retry) => retry,
            None => match plan.take() {
                Some((request_id, service)) => Unanswered {
                    request_id,
                    service,
                    sent: false,
                },
                None => {
                    // This cycle's numbers are used up: wait for the kill.
                    let _ = stop.changed().await;
                    break;
                }
            },
        };
        let body = json!({ "service": request.service, "request_id": request.request_id });
        let was_sent = request.sent;
        request.sent = true;
        match client.post("/api/v1/tickets", Some(body)).await {
            Answer::Status(status @ (200 | 201), text) => {
                match serde_json::from_str::<TicketView>(&text) {
                    Ok(ticket) => {
                        if status == 200 && !was_sent {
                            report.wrong.push(format!(
                                "a first request {} was answered 200 (an existing ticket): {text}",
                                request.request_id
                            ));
                        }
                        report.issued.push(IssueAck {
                            request_id: request.request_id,
                            id: ticket.id,
                            number: ticket.number,
                            service: ticket.service,
                        });
                    }
                    Err(e) => report
                        .wrong
                        .push(format!("issue answer is not a ticket ({e}): {text}")),
                }
            }
            Answer::Status(status, text) => {
                report
                    .wrong
                    .push(format!("issue {}: {status} {text}", request.request_id));
            }
            Answer::Cut => {
                report.cut += 1;
                report.unanswered.push(request);
            }
        }
        let ms = rng.random_range(pause_ms / 2..=pause_ms * 3 / 2);
        if pause(&mut stop, ms).await {
            break;
        }
    }
    // What it never got to send waits for the next cycle too.
    report.unanswered.extend(queue);
    report
}

/// A member of staff at `counter`: opens it, then calls, recalls, starts and finishes.
async fn staff(
    client: LoadClient,
    counter: u32,
    mut rng: StdRng,
    mut stop: watch::Receiver<bool>,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut opened = false;
    // What the counter holds, as far as this client knows: unknown after a restart, so the
    // first action after opening is "call next", which finishes whatever it held.
    let mut called = false;
    let mut serving = false;
    loop {
        if *stop.borrow() {
            break;
        }
        let action = if !opened {
            "open"
        } else if serving {
            if rng.random_bool(0.5) {
                "finish"
            } else {
                "call-next"
            }
        } else if called {
            match rng.random_range(0..10) {
                0 => "recall",
                1..=5 => "start",
                _ => "call-next",
            }
        } else {
            "call-next"
        };
        let answer = client
            .post(&format!("/api/v1/counters/{counter}/{action}"), None)
            .await;
        match (action, answer) {
            (_, Answer::Cut) => {
                report.cut += 1;
                // What happened is unknown: "call next" settles it either way.
                (called, serving) = (false, false);
            }
            ("open", Answer::Status(200, _)) => opened = true,
            ("call-next", Answer::Status(200, text)) => {
                match serde_json::from_str::<TicketView>(&text) {
                    Ok(ticket) => {
                        report.calls.push(CallAck {
                            counter,
                            id: ticket.id,
                            number: ticket.number,
                        });
                        (called, serving) = (true, false);
                    }
                    Err(e) => report
                        .wrong
                        .push(format!("call-next answer is not a ticket ({e}): {text}")),
                }
            }
            ("call-next", Answer::Status(204, _)) => (called, serving) = (false, false),
            ("recall", Answer::Status(200, _)) => {}
            ("start", Answer::Status(200, _)) => (called, serving) = (false, true),
            ("finish", Answer::Status(200, _)) => (called, serving) = (false, false),
            (action, Answer::Status(409, text)) => {
                // The day closing closes counters and expires what they held.
                if text.contains("counter_closed") {
                    opened = false;
                }
                (called, serving) = (false, false);
                report
                    .conflicts
                    .push(format!("counter {counter} {action}: 409 {text}"));
            }
            (action, Answer::Status(status, text)) => {
                report
                    .wrong
                    .push(format!("counter {counter} {action}: {status} {text}"));
            }
        }
        let ms = rng.random_range(3..=25);
        if pause(&mut stop, ms).await {
            break;
        }
    }
    report
}

/// Where a ticket is, as the log tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Waiting,
    /// Called or being served at this counter.
    Held(u32),
    Done,
    NoShow,
    Cancelled,
    Expired,
}

#[derive(Debug, Clone)]
struct TicketFacts {
    number: String,
    /// Service it was issued in.
    issued_in: String,
    /// Service it waits in now (changes on transfer).
    service: String,
    place: Place,
}

/// The event log as read back from the server, folded into the facts the invariants need.
#[derive(Default)]
struct Log {
    events: Vec<Recorded>,
    tickets: HashMap<u64, TicketFacts>,
    /// (business day, service, number) of every ticket issued.
    numbers: HashSet<(String, String, String)>,
    /// Ticket each counter holds.
    holders: HashMap<u32, u64>,
    /// (ticket, counter) of every first call (not recalls).
    calls: HashSet<(u64, u32)>,
    /// Tickets issued per service on the latest business day seen.
    day: String,
    issued_today: HashMap<String, usize>,
    violations: Vec<String>,
}

impl Log {
    fn seq(&self) -> u64 {
        self.events.len() as u64
    }

    fn violation(&mut self, seq: u64, what: String) {
        self.violations.push(format!("seq {seq}: {what}"));
    }

    /// The place of ticket `id`, checked against what the event may find.
    fn expect_place(&mut self, seq: u64, id: u64, kind: &str, allowed: &[Place]) -> bool {
        let place = self.tickets.get(&id).map(|t| t.place);
        match place {
            Some(p) if allowed.contains(&p) => true,
            other => {
                self.violation(
                    seq,
                    format!(
                        "{kind} of ticket {id} found it {other:?}, expected one of {allowed:?}"
                    ),
                );
                false
            }
        }
    }

    fn set_place(&mut self, id: u64, place: Place) {
        if let Some(t) = self.tickets.get_mut(&id) {
            t.place = place;
        }
    }

    fn release(&mut self, counter: u32, id: u64) {
        if self.holders.get(&counter) == Some(&id) {
            self.holders.remove(&counter);
        }
    }

    fn apply(&mut self, rec: Recorded) {
        let seq = rec.seq;
        if seq != self.seq() + 1 {
            self.violation(seq, format!("expected seq {}", self.seq() + 1));
        }
        match &rec.event {
            Event::TicketIssued { ticket, .. } => {
                let day = ticket.day.to_string();
                if self.tickets.contains_key(&ticket.id) {
                    self.violation(seq, format!("ticket id {} issued twice", ticket.id));
                }
                let key = (day.clone(), ticket.service.clone(), ticket.number.clone());
                if !self.numbers.insert(key) {
                    self.violation(
                        seq,
                        format!(
                            "number {} issued twice in {} on {day}",
                            ticket.number, ticket.service
                        ),
                    );
                }
                if day != self.day {
                    self.day = day;
                    self.issued_today.clear();
                }
                *self.issued_today.entry(ticket.service.clone()).or_default() += 1;
                self.tickets.insert(
                    ticket.id,
                    TicketFacts {
                        number: ticket.number.clone(),
                        issued_in: ticket.service.clone(),
                        service: ticket.service.clone(),
                        place: Place::Waiting,
                    },
                );
            }
            Event::TicketCalled {
                ticket,
                counter,
                recall,
                ..
            } => {
                let (id, counter) = (ticket.id, *counter);
                if *recall {
                    self.expect_place(seq, id, "recall", &[Place::Held(counter)]);
                } else {
                    // A first call takes a waiting ticket; one held anywhere is a double call.
                    if self.expect_place(seq, id, "call", &[Place::Waiting]) {
                        self.set_place(id, Place::Held(counter));
                    }
                    if let Some(other) = self.holders.insert(counter, id) {
                        self.violation(
                            seq,
                            format!("counter {counter} called {id} while holding {other}"),
                        );
                    }
                    self.calls.insert((id, counter));
                }
            }
            Event::TicketServing {
                ticket, counter, ..
            } => {
                self.expect_place(seq, ticket.id, "start", &[Place::Held(*counter)]);
            }
            Event::TicketFinished {
                ticket, counter, ..
            } => {
                if self.expect_place(seq, ticket.id, "finish", &[Place::Held(*counter)]) {
                    self.set_place(ticket.id, Place::Done);
                }
                self.release(*counter, ticket.id);
            }
            Event::TicketNoShow {
                ticket, counter, ..
            } => {
                if self.expect_place(seq, ticket.id, "no-show", &[Place::Held(*counter)]) {
                    self.set_place(ticket.id, Place::NoShow);
                }
                self.release(*counter, ticket.id);
            }
            Event::TicketReinstated { ticket, .. } => {
                if self.expect_place(seq, ticket.id, "reinstate", &[Place::NoShow]) {
                    self.set_place(ticket.id, Place::Waiting);
                }
            }
            Event::TicketTransferred {
                ticket,
                from_counter,
                service,
                ..
            } => {
                let id = ticket.id;
                let held = self.tickets.get(&id).map(|t| t.place);
                if !matches!(held, Some(Place::Waiting | Place::Held(_))) {
                    self.violation(seq, format!("transfer of ticket {id} found it {held:?}"));
                }
                if let Some(counter) = from_counter {
                    self.release(*counter, id);
                }
                if let Some(t) = self.tickets.get_mut(&id) {
                    t.place = Place::Waiting;
                    t.service = service.clone();
                }
            }
            Event::TicketCancelled { ticket, .. } => {
                if self.expect_place(seq, ticket.id, "cancel", &[Place::Waiting]) {
                    self.set_place(ticket.id, Place::Cancelled);
                }
            }
            Event::DayClosed { expired, .. } => {
                for ticket in expired {
                    self.set_place(ticket.id, Place::Expired);
                }
                self.holders.clear();
            }
            Event::CenterConfigured { .. }
            | Event::TicketRated { .. }
            | Event::CounterOpened { .. }
            | Event::CounterClosed { .. }
            | Event::ClockStepped { .. } => {}
        }
        self.events.push(rec);
    }

    /// Tickets waiting per service, by the log.
    fn waiting(&self, service: &str) -> u32 {
        let n = self
            .tickets
            .values()
            .filter(|t| t.place == Place::Waiting && t.service == service)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// A lobby screen following `/ws`: resumes with `since` after every restart and keeps every
/// event it saw live, so what it saw before a kill can be compared with the log after it.
struct Follower {
    url: watch::Sender<String>,
    at: watch::Receiver<u64>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    faults: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Follower {
    fn start(ws_url: String, token: String) -> Follower {
        let (url, url_rx) = watch::channel(ws_url);
        let (at_tx, at) = watch::channel(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(follow(
            url_rx,
            token,
            at_tx,
            seen.clone(),
            faults.clone(),
            connections.clone(),
        ));
        Follower {
            url,
            at,
            seen,
            faults,
            connections,
            task,
        }
    }

    /// Waits until it has seen every event through `seq`.
    async fn caught_up(&mut self, seq: u64) {
        let reached = tokio::time::timeout(CATCH_UP, self.at.wait_for(|at| *at >= seq))
            .await
            .is_ok_and(|r| r.is_ok());
        let at = *self.at.borrow();
        assert!(
            reached,
            "the display did not catch up with seq {seq} within {CATCH_UP:?} (at {at}; faults {:?})",
            self.faults()
        );
    }

    fn faults(&self) -> Vec<String> {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    fn seen(&self) -> Vec<Recorded> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn follow(
    mut url: watch::Receiver<String>,
    token: String,
    at: watch::Sender<u64>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    faults: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
) {
    let fault = |what: String| {
        if let Ok(mut f) = faults.lock() {
            f.push(what);
        }
    };
    loop {
        let since = *at.borrow();
        let base = url.borrow_and_update().clone();
        let address = format!("{base}?token={token}&since={since}");
        let connect = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(address),
        );
        let mut stream = match connect.await {
            Ok(Ok((stream, _))) => stream,
            _ => {
                // The server is down or restarting: try again shortly, at once when it moves.
                tokio::select! {
                    changed = url.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
        };
        connections.fetch_add(1, Ordering::Relaxed);
        loop {
            let frame = tokio::select! {
                changed = url.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                frame = stream.next() => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                // The server died: reconnect with `since`.
                Some(Err(_)) | None => break,
            };
            let current = *at.borrow();
            match ServerMessage::decode(text.as_str()) {
                Ok(ServerMessage::Event(rec)) if rec.seq == current + 1 => {
                    let seq = rec.seq;
                    if let Ok(mut s) = seen.lock() {
                        s.push(rec);
                    }
                    at.send_replace(seq);
                }
                Ok(ServerMessage::Event(rec)) if rec.seq <= current => {
                    fault(format!("event {} again while at {current}", rec.seq));
                }
                Ok(ServerMessage::Event(rec)) => {
                    fault(format!("gap: event {} while at {current}", rec.seq));
                    break;
                }
                Ok(ServerMessage::Snapshot { seq, .. }) => {
                    // Resuming within the replay window must replay events, never snapshot.
                    fault(format!("snapshot at {seq} when resuming from {current}"));
                    break;
                }
                Ok(other) => fault(format!("unexpected message {other:?}")),
                Err(e) => fault(format!("undecodable message ({e}): {text}")),
            }
        }
    }
}

/// Everything the clients were answered, over the whole run.
#[derive(Default)]
struct Books {
    issued: HashMap<String, IssueAck>,
    calls: Vec<CallAck>,
    unanswered: Vec<Vec<Unanswered>>,
    /// `request_id`s ever sent.
    sent: HashSet<String>,
    cut: usize,
    wrong: Vec<String>,
    conflicts: Vec<String>,
}

impl Books {
    fn absorb(&mut self, report: LoadReport) {
        for ack in report.issued {
            self.sent.insert(ack.request_id.clone());
            if let Some(before) = self.issued.insert(ack.request_id.clone(), ack.clone()) {
                self.wrong.push(format!(
                    "{} answered twice: {before:?} and {ack:?}",
                    ack.request_id
                ));
            }
        }
        for request in &report.unanswered {
            if request.sent {
                self.sent.insert(request.request_id.clone());
            }
        }
        self.calls.extend(report.calls);
        self.cut += report.cut;
        self.wrong.extend(report.wrong);
        self.conflicts.extend(report.conflicts);
    }
}

/// Reads the log from the server past what is already known, folds it in, and checks every
/// acknowledgement against it and the display and the state against the log.
async fn verify(server: &TestServer, log: &mut Log, books: &Books, follower: &mut Follower) {
    let display = server.token(DISPLAY);
    let api = server.api(Some(&display));
    let state = api.state().await;
    let known = log.seq();
    assert!(
        state.seq >= known,
        "after the restart the server is at seq {} but {known} events had been read back: \
         the log lost events",
        state.seq
    );
    assert!(
        state.seq - known <= MAX_REPLAY,
        "{} new events is more than /ws replays",
        state.seq - known
    );
    if state.seq > known {
        let mut ws = server.ws(&display, Some(known)).await;
        for rec in ws.events_through(state.seq).await {
            log.apply(rec);
        }
        ws.close().await;
    }
    assert!(
        log.violations.is_empty(),
        "the log breaks the queue's rules:\n{}",
        log.violations.join("\n")
    );

    let lost: Vec<&IssueAck> = books
        .issued
        .values()
        .filter(|ack| {
            log.tickets
                .get(&ack.id)
                .is_none_or(|t| t.number != ack.number || t.issued_in != ack.service)
        })
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged tickets missing from the log: {lost:?}"
    );
    let missing: Vec<&CallAck> = books
        .calls
        .iter()
        .filter(|call| {
            !log.calls.contains(&(call.id, call.counter))
                || log
                    .tickets
                    .get(&call.id)
                    .is_none_or(|t| t.number != call.number)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged calls missing from the log: {missing:?}"
    );

    // The restarted state is the fold of the log.
    for service in &state.services {
        assert_eq!(
            service.waiting,
            log.waiting(&service.id),
            "waiting in {} differs from the log",
            service.id
        );
    }

    // The display converges to the state, and what it saw live is what the log holds.
    follower.caught_up(state.seq).await;
    let faults = follower.faults();
    assert!(faults.is_empty(), "the display saw: {faults:?}");
    let seen = follower.seen();
    let through = usize::try_from(state.seq).unwrap_or(usize::MAX);
    assert!(
        seen.len() >= through && seen[..through] == log.events[..through],
        "what the display saw live differs from the log after the restart"
    );
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// Under repeated SIGKILLs with kiosks issuing and counters calling, no acknowledged ticket or
/// call is lost, no number is issued twice, no ticket is called by two counters, the log stays
/// gap-free, retried requests never make a second ticket, and a display resuming with `since`
/// converges to the state after every restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_soak_loses_nothing_acknowledged() {
    let cycles = env_u64("LUOT_SOAK_CYCLES", DEFAULT_CYCLES);
    let seed = env_u64("LUOT_SOAK_SEED", DEFAULT_SEED);
    eprintln!("soak: seed {seed} (LUOT_SOAK_SEED), {cycles} cycles (LUOT_SOAK_CYCLES)");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = std::time::Instant::now();

    let mut options = ServerOptions::new()
        .center(CENTER)
        .token(DISPLAY, Role::Display, None);
    for k in 0..KIOSKS {
        options = options.token(&format!("kiosk-{k}"), Role::Kiosk, None);
    }
    for counter in COUNTERS {
        options = options.token(&format!("staff-{counter}"), Role::Staff, Some(counter));
    }
    let mut server = TestServer::start(options);
    let mut follower = Follower::start(server.ws_url(), server.token(DISPLAY));
    let mut log = Log::default();
    let mut books = Books {
        unanswered: vec![Vec::new(); KIOSKS],
        ..Books::default()
    };
    let mut round_robin = 0;

    for cycle in 1..=cycles {
        // Spread what is left of the day's numbers over the cycles still to run.
        let left = SERVICES
            .iter()
            .map(|s| NUMBERS_PER_SERVICE.saturating_sub(*log.issued_today.get(*s).unwrap_or(&0)))
            .min()
            .unwrap_or(0);
        let pending: usize = books.unanswered.iter().map(Vec::len).sum();
        let cycles_left = usize::try_from(cycles - cycle + 1).unwrap_or(usize::MAX);
        let cap = ((left * SERVICES.len()).saturating_sub(pending) / cycles_left)
            .min(MAX_TICKETS_PER_CYCLE);
        let plan = Arc::new(IssuePlan {
            cycle,
            first: round_robin,
            cap,
            taken: AtomicUsize::new(0),
        });
        let kill_after = rng.random_range(KILL_AFTER_MS);
        // Pace the kiosks so the cycle's tickets spread over the time before the kill.
        let per_kiosk = (cap / KIOSKS).max(1) as u64;
        let kiosk_pause = (KILL_AFTER_MS.end() / 2 / per_kiosk).clamp(2, 500);

        let (stop_tx, stop) = watch::channel(false);
        let mut load = Vec::new();
        for (k, retries) in books.unanswered.iter_mut().enumerate() {
            let client = LoadClient::new(server.base_url(), server.token(&format!("kiosk-{k}")));
            let retries = std::mem::take(retries);
            let rng = StdRng::seed_from_u64(rng.random());
            load.push((
                Some(k),
                tokio::spawn(kiosk(
                    client,
                    retries,
                    plan.clone(),
                    kiosk_pause,
                    rng,
                    stop.clone(),
                )),
            ));
        }
        for counter in COUNTERS {
            let client =
                LoadClient::new(server.base_url(), server.token(&format!("staff-{counter}")));
            let rng = StdRng::seed_from_u64(rng.random());
            load.push((
                None,
                tokio::spawn(staff(client, counter, rng, stop.clone())),
            ));
        }

        // The kill comes at a random moment, with requests in flight.
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        tokio::task::block_in_place(|| server.kill9());
        stop_tx.send_replace(true);
        for (k, task) in load {
            let mut report = task.await.expect("a load client panicked");
            if let Some(k) = k {
                books.unanswered[k] = std::mem::take(&mut report.unanswered);
            }
            books.absorb(report);
        }
        round_robin += plan.used();

        tokio::task::block_in_place(|| server.restart());
        follower.url.send_replace(server.ws_url());
        verify(&server, &mut log, &books, &mut follower).await;
        eprintln!(
            "soak: cycle {cycle}/{cycles}: killed after {kill_after} ms; seq {}, {} tickets and {} \
             calls acknowledged so far, {} requests cut",
            log.seq(),
            books.issued.len(),
            books.calls.len(),
            books.cut
        );
    }

    // With the server left running, the kiosks get an answer to every request they sent.
    let mut retried = 0;
    for (k, requests) in std::mem::take(&mut books.unanswered)
        .into_iter()
        .enumerate()
    {
        let kiosk = server.api_as(&format!("kiosk-{k}"));
        for request in requests {
            let reply = kiosk
                .issue(request.service, Some(&request.request_id))
                .await;
            assert!(
                (reply.status == 201) || (reply.status == 200 && request.sent),
                "retry of {request:?}: {} {}",
                reply.status,
                reply.body
            );
            let ticket: TicketView = reply.json();
            retried += 1;
            books.absorb(LoadReport {
                issued: vec![IssueAck {
                    request_id: request.request_id,
                    id: ticket.id,
                    number: ticket.number,
                    service: ticket.service,
                }],
                ..LoadReport::default()
            });
        }
    }
    verify(&server, &mut log, &books, &mut follower).await;

    assert!(
        books.wrong.is_empty(),
        "clients got answers they should not have:\n{}",
        books.wrong.join("\n")
    );
    let day_closed = log
        .events
        .iter()
        .any(|e| matches!(e.event, Event::DayClosed { .. }));
    assert!(
        books.conflicts.is_empty() || day_closed,
        "counter actions refused although the day did not close:\n{}",
        books.conflicts.join("\n")
    );
    // Every request was answered exactly once and every ticket in the log answers one request:
    // a retry after a kill never made a second ticket.
    assert_eq!(
        books.issued.len(),
        books.sent.len(),
        "requests without an answer"
    );
    let acknowledged: HashSet<u64> = books.issued.values().map(|a| a.id).collect();
    let logged: HashSet<u64> = log.tickets.keys().copied().collect();
    assert_eq!(
        acknowledged.len(),
        books.issued.len(),
        "two requests were answered with the same ticket"
    );
    assert_eq!(
        acknowledged, logged,
        "tickets in the log and tickets acknowledged differ"
    );
    assert!(
        !books.calls.is_empty(),
        "no call was acknowledged: the soak did not exercise the counters"
    );

    // Read from the very start, the log is what was read back piece by piece.
    if log.seq() <= MAX_REPLAY {
        let display = server.token(DISPLAY);
        let mut ws = server.ws(&display, Some(0)).await;
        let whole = ws.events_through(log.seq()).await;
        assert!(
            whole == log.events,
            "the whole log differs from the pieces read after each restart"
        );
    } else {
        eprintln!(
            "soak: {} events: the whole-log reread is past the replay window",
            log.seq()
        );
    }
    follower.task.abort();
    let losses = books
        .issued
        .values()
        .filter(|a| !log.tickets.contains_key(&a.id))
        .count();
    eprintln!(
        "soak: seed {seed}: {cycles} cycles, {} tickets acknowledged ({retried} on a retry after \
         the run), {} calls acknowledged, {} requests cut by kills, {} events, display \
         connections {}, losses={losses}, in {:.1?}",
        books.issued.len(),
        books.calls.len(),
        books.cut,
        log.seq(),
        follower.connections.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert_eq!(losses, 0);
}
