//! The one writer: a dedicated thread that owns the [`Engine`] and the log.
//!
//! Handlers send a [`Job`] over a bounded channel and await a oneshot reply. The thread takes
//! what is queued (up to [`MAX_BATCH`]), handles each command in order, appends the events,
//! calls one flush for the whole batch (group commit), and only then publishes the new state,
//! broadcasts the events and answers. An answered caller's events are on disk; two counters
//! calling at the same instant are decided one after the other by this thread alone.
//!
//! It is a thread rather than a task because `flush` blocks on the disk.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use jiff::Timestamp;
use jiff::civil::Date;
use luot_shared::engine::Reply;
use luot_shared::protocol::{ServerMessage, TicketView};
use luot_shared::{CenterConfig, Command, DomainError, Engine, Recorded, StateView, TicketId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::clock::{Clock, StepDetector};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Queue of jobs to the engine thread. 1,024 is several seconds of the heaviest burst we
/// expect (64 kiosks and dozens of counters); beyond it callers wait, which is backpressure,
/// not loss.
const JOB_QUEUE: usize = 1024;
/// Most commands folded into one group commit, to bound the latency of the first one.
const MAX_BATCH: usize = 256;
/// Events a WebSocket subscriber may fall behind before it is sent a fresh snapshot instead.
/// A batch of 256 commands makes at most ~512 events, so 4,096 covers several bursts.
const EVENT_BUFFER: usize = 4096;
/// A snapshot is written after this many events, so a restart replays at most that many.
const SNAPSHOT_EVERY: u64 = 2000;

/// A failure answering a job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The command was refused; nothing changed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store failed (a full or failing disk); nothing of this command was acknowledged,
    /// and the state is as the disk holds it. Retrying once the disk has room is safe.
    #[error("storage unavailable: {0}")]
    Store(String),
    /// The engine has stopped (shutting down).
    #[error("the server is shutting down")]
    Stopped,
}

enum Job {
    Command {
        command: Command,
        reply: oneshot::Sender<Result<Reply, JobError>>,
    },
    Ticket {
        id: TicketId,
        reply: oneshot::Sender<Result<Option<TicketView>, JobError>>,
    },
    Config {
        reply: oneshot::Sender<Result<CenterConfig, JobError>>,
    },
}

/// The state as of the last batch, shared with readers without touching the engine.
#[derive(Debug)]
pub struct Published {
    /// The state view.
    pub view: StateView,
    /// The same view as a WebSocket `snapshot` message, serialized on first use (most
    /// batches are never sent as a snapshot) and then shared by every connection.
    snapshot_text: OnceLock<Utf8Bytes>,
}

impl Published {
    /// The view as a ready-to-send `{"type":"snapshot",...}` text.
    pub fn snapshot_text(&self) -> Utf8Bytes {
        self.snapshot_text
            .get_or_init(|| {
                let message = ServerMessage::Snapshot {
                    seq: self.view.seq,
                    state: Box::new(self.view.clone()),
                };
                serde_json::to_string(&message).unwrap_or_default().into()
            })
            .clone()
    }
}

/// One event, serialized once for every subscriber.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Its seq.
    pub seq: u64,
    /// The `{"type":"event",...}` text.
    pub text: Utf8Bytes,
}

/// What the rest of the server holds to talk to the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    jobs: mpsc::Sender<Job>,
    published: watch::Receiver<Arc<Published>>,
    events: broadcast::Sender<Frame>,
}

impl EngineHandle {
    /// Sends a command and waits until its events are durable.
    pub async fn command(&self, command: Command) -> Result<Reply, JobError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Command { command, reply })
            .await
            .map_err(|_| JobError::Stopped)?;
        rx.await.map_err(|_| JobError::Stopped)?
    }

    /// Today's ticket with this id, with its current position and estimate.
    pub async fn ticket(&self, id: TicketId) -> Result<Option<TicketView>, JobError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Ticket { id, reply })
            .await
            .map_err(|_| JobError::Stopped)?;
        rx.await.map_err(|_| JobError::Stopped)?
    }

    /// The center's configuration as the engine holds it.
    pub async fn config(&self) -> Result<CenterConfig, JobError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Config { reply })
            .await
            .map_err(|_| JobError::Stopped)?;
        rx.await.map_err(|_| JobError::Stopped)?
    }

    /// The state as of the last batch.
    pub fn published(&self) -> Arc<Published> {
        self.published.borrow().clone()
    }

    /// Subscribes to events broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.events.subscribe()
    }
}

/// The running engine thread; join it after dropping every handle to let it finish.
pub struct EngineThread {
    thread: std::thread::JoinHandle<()>,
}

impl EngineThread {
    /// Waits for the thread to write its last snapshot and stop.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("engine thread panicked");
        }
    }
}

/// Where the engine thread sends the business days that closed, with the configuration they
/// closed under (the report roll-ups listen).
pub type ClosedDays = std::sync::mpsc::SyncSender<(Vec<Date>, CenterConfig)>;

/// Starts the engine thread over a loaded engine; it dates events by `clock` and reports
/// closed days to `closed`.
pub fn spawn(
    engine: Engine,
    store: Store,
    metrics: Arc<Metrics>,
    clock: Clock,
    closed: Option<ClosedDays>,
) -> (EngineHandle, EngineThread) {
    let (jobs, rx) = mpsc::channel(JOB_QUEUE);
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    // The thread hands each batch's frames to a task on the runtime, which puts them on the
    // broadcast: waking thousands of subscriber tasks from a runtime thread uses the workers'
    // own queues, where waking them from this thread goes one by one through the runtime's
    // shared queue. Unbounded, because the task only moves frames on and never waits; the
    // broadcast behind it is bounded.
    let (fanout, mut batches) = tokio::sync::mpsc::unbounded_channel::<Vec<Frame>>();
    let broadcast = events.clone();
    tokio::spawn(async move {
        while let Some(frames) = batches.recv().await {
            for frame in frames {
                // No subscriber is not an error.
                let _ = broadcast.send(frame);
            }
        }
    });
    metrics.set_services(engine.config());
    let now = clock.now();
    let (publisher, published) = watch::channel(Arc::new(publish(&engine, now)));
    let steps = StepDetector::new(engine.last_at());
    let writer = Writer {
        clock,
        steps,
        engine,
        store,
        metrics,
        publisher,
        fanout,
        last_snapshot: 0,
        marked_day: None,
        tainted: None,
        closed,
    };
    let thread = std::thread::Builder::new()
        .name("luot-engine".into())
        .spawn(move || writer.run(rx))
        .unwrap_or_else(|e| panic!("cannot start the engine thread: {e}"));
    (
        EngineHandle {
            jobs,
            published,
            events,
        },
        EngineThread { thread },
    )
}

fn publish(engine: &Engine, now: Timestamp) -> Published {
    Published {
        view: engine.state_view(now),
        snapshot_text: OnceLock::new(),
    }
}

struct Writer {
    /// The server's clock: every event is dated by it.
    clock: Clock,
    /// Notices when the wall clock is stepped, so the step is recorded.
    steps: StepDetector,
    engine: Engine,
    store: Store,
    metrics: Arc<Metrics>,
    publisher: watch::Sender<Arc<Published>>,
    /// Frames for the broadcast, a batch at a time.
    fanout: tokio::sync::mpsc::UnboundedSender<Vec<Frame>>,
    last_snapshot: u64,
    /// The last day written to the day index, so it is written once a day, not per batch.
    marked_day: Option<jiff::civil::Date>,
    /// Set when a batch could not be made durable: the engine in memory is then ahead of the
    /// disk and must not answer anyone until it is rebuilt from what the disk holds. Holds
    /// the failure, for the callers.
    tainted: Option<String>,
    /// Listener for closed days.
    closed: Option<ClosedDays>,
}

enum Answer {
    Command(
        oneshot::Sender<Result<Reply, JobError>>,
        Result<Reply, JobError>,
    ),
    Ticket(
        oneshot::Sender<Result<Option<TicketView>, JobError>>,
        Option<TicketView>,
    ),
    Config(
        oneshot::Sender<Result<CenterConfig, JobError>>,
        CenterConfig,
    ),
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        self.last_snapshot = self.engine.seq();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.run_batch(&mut batch);
        }
        // Every handle is gone: leave a snapshot so the next start replays nothing (never of
        // a state the disk does not hold).
        if self.tainted.is_some() {
            tracing::warn!("engine stopped while the store was failing; no final snapshot");
            return;
        }
        if let Err(e) = self
            .store
            .save_snapshot(&self.engine)
            .and_then(|_| self.store.flush())
        {
            tracing::error!(error = %e, "final snapshot failed");
        }
        tracing::info!(seq = self.engine.seq(), "engine stopped");
    }

    fn run_batch(&mut self, batch: &mut Vec<Job>) {
        if let Some(failure) = self.tainted.clone()
            && !self.recover()
        {
            for job in batch.drain(..) {
                refuse(job, &failure);
            }
            return;
        }
        // Events are dated by the wall clock as it reads now, also after it was stepped back:
        // their order is their `seq`, and durations are clamped where they are computed.
        let (now, step) = self.steps.check(&self.clock);
        let mut recorded: Vec<Recorded> = Vec::new();
        let mut answers = Vec::with_capacity(batch.len());
        let mut commands = 0;
        if let Some(step) = step {
            let offset_ms = now.duration_since(step.expected).as_millis();
            tracing::warn!(
                expected = %step.expected,
                observed = %now,
                offset_ms = offset_ms as i64,
                "the wall clock was stepped; recording it"
            );
            let outcome = self.engine.handle(
                Command::NoteClockStep {
                    expected: step.expected,
                },
                now,
            );
            recorded.extend(outcome.events);
        }
        for job in batch.drain(..) {
            match job {
                Job::Command { command, reply } => {
                    self.metrics.commands.inc();
                    commands += 1;
                    let outcome = self.engine.handle(command, now);
                    recorded.extend(outcome.events);
                    answers.push(Answer::Command(
                        reply,
                        outcome.result.map_err(JobError::from),
                    ));
                }
                Job::Ticket { id, reply } => {
                    let view = self
                        .engine
                        .ticket(id)
                        .map(|_| self.engine.ticket_view(id, now));
                    answers.push(Answer::Ticket(reply, view));
                }
                Job::Config { reply } => {
                    answers.push(Answer::Config(reply, self.engine.config().clone()));
                }
            }
        }
        if !recorded.is_empty()
            && let Err(e) = self.persist(&recorded, commands)
        {
            let failure = failure_text(&e);
            tracing::error!(error = %e, "could not make events durable; nothing of this batch is acknowledged");
            // Nobody in this batch is answered from a state the disk may not hold: queries
            // read the engine the failed commands already changed.
            for answer in answers {
                match answer {
                    Answer::Command(reply, _) => {
                        let _ = reply.send(Err(JobError::Store(failure.clone())));
                    }
                    Answer::Ticket(reply, _) => {
                        let _ = reply.send(Err(JobError::Store(failure.clone())));
                    }
                    Answer::Config(reply, _) => {
                        let _ = reply.send(Err(JobError::Store(failure.clone())));
                    }
                }
            }
            if !e.is_unavailable() {
                // Not the disk refusing: the store holds something it cannot read back.
                tracing::error!(error = %e, "the store is damaged; stopping (the next start checks it and says what is damaged)");
                std::process::exit(70);
            }
            self.tainted = Some(failure);
            self.recover();
            return;
        }
        self.publisher
            .send_replace(Arc::new(publish(&self.engine, now)));
        self.broadcast(&recorded);
        for answer in answers {
            // A caller that gave up waiting is not an error either: its events are durable.
            match answer {
                Answer::Command(reply, result) => {
                    let _ = reply.send(result);
                }
                Answer::Ticket(reply, view) => {
                    let _ = reply.send(Ok(view));
                }
                Answer::Config(reply, config) => {
                    let _ = reply.send(Ok(config));
                }
            }
        }
    }

    fn persist(&mut self, recorded: &[Recorded], commands: usize) -> Result<(), StoreError> {
        let started = Instant::now();
        self.store.append(recorded)?;
        for rec in recorded {
            let d = self.engine.local_date(rec.at);
            if self.marked_day != Some(d) {
                self.store.mark_day(d, rec.seq)?;
                self.marked_day = Some(d);
            }
        }
        self.store.flush()?;
        self.metrics
            .observe_commit(recorded.len(), commands, started.elapsed());
        self.metrics.observe_events(recorded, self.engine.config());
        let closed_days: Vec<jiff::civil::Date> = recorded
            .iter()
            .filter_map(|r| match r.event {
                luot_shared::Event::DayClosed { day, .. } => Some(day),
                _ => None,
            })
            .collect();
        if !closed_days.is_empty() || self.engine.seq() - self.last_snapshot >= SNAPSHOT_EVERY {
            // The snapshot is redundant with the log, so it needs no flush of its own, and a
            // failed one loses nothing: the events are durable, the callers are answered.
            match self.store.save_snapshot(&self.engine) {
                Ok(()) => self.last_snapshot = self.engine.seq(),
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot not saved; the next one replaces it")
                }
            }
        }
        if !closed_days.is_empty() {
            self.roll_up(closed_days);
        }
        Ok(())
    }

    /// Tells whoever listens (the report roll-ups) which days closed, without waiting: a
    /// full or gone listener only means a report computes those days when it is asked.
    fn roll_up(&self, days: Vec<Date>) {
        if let Some(closed) = &self.closed
            && closed
                .try_send((days, self.engine.config().clone()))
                .is_err()
        {
            tracing::warn!("the roll-up queue is full; reports will compute those days");
        }
    }

    /// Serializes each event once and hands the frames to the broadcast task.
    fn broadcast(&self, recorded: &[Recorded]) {
        if recorded.is_empty() {
            return;
        }
        let frames = recorded
            .iter()
            .map(|rec| Frame {
                seq: rec.seq,
                text: serde_json::to_string(&ServerMessage::Event(rec.clone()))
                    .unwrap_or_default()
                    .into(),
            })
            .collect();
        // Gone only when the runtime is stopping.
        let _ = self.fanout.send(frames);
    }

    /// After a failed write the engine in memory may be ahead of the disk. Once the store
    /// has reopened (it does so on its own when the disk takes writes again), rebuilds the
    /// engine from what the disk holds, publishes it and sends subscribers any event that
    /// reached the disk without being broadcast. False while the store still fails.
    fn recover(&mut self) -> bool {
        if self.tainted.is_none() {
            return true;
        }
        if self.store.is_failing() {
            return false;
        }
        let engine = match self.store.load() {
            Ok(engine) => engine,
            Err(e) if e.is_unavailable() => {
                self.tainted = Some(failure_text(&e));
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the state after a storage failure; stopping");
                std::process::exit(70);
            }
        };
        let published = self.publisher.borrow().view.seq;
        let missed = match self.store.events(published + 1, engine.seq(), usize::MAX) {
            Ok(events) => events,
            Err(e) => {
                self.tainted = Some(failure_text(&e));
                return false;
            }
        };
        self.engine = engine;
        self.metrics.set_services(self.engine.config());
        self.metrics.observe_events(&missed, self.engine.config());
        self.tainted = None;
        self.marked_day = None;
        self.last_snapshot = self.engine.seq();
        self.publisher
            .send_replace(Arc::new(publish(&self.engine, self.clock.now())));
        self.broadcast(&missed);
        tracing::info!(
            seq = self.engine.seq(),
            recovered_events = missed.len(),
            "state rebuilt from the disk after a storage failure"
        );
        true
    }
}

/// Answers a job without running it: the store is failing.
fn refuse(job: Job, failure: &str) {
    let error = || JobError::Store(failure.to_owned());
    match job {
        Job::Command { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
        Job::Ticket { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
        Job::Config { reply } => {
            let _ = reply.send(Err(error()));
        }
    }
}

fn failure_text(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Sends a `Tick` every `period` so the day closes on time even when nobody acts.
pub async fn run_ticker(handle: EngineHandle, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(JobError::Stopped) = handle.command(Command::Tick).await {
            break;
        }
    }
}
