//! `--mode rating --counter N`: the counter's rating screen on a touch panel. Idle until
//! counter N finishes a ticket; then its number and five choices; a reason for a 1 or 2 when
//! the center has a list; the rating sent once; thanks; idle again after 30 s untouched.
//!
//! A finish is seen in the follower's view after each message: counter N held ticket T, now
//! holds another or none, and its count of finished tickets went up — exactly what a
//! `ticket_finished` for counter N does to the view (a no-show or transfer releases the
//! ticket without counting it).

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::civil::Date;
use luot_display::link::{LinkState, Shared};
use luot_display::text::nfc;
use luot_shared::follow::ScreenView;
use luot_shared::{CounterId, TicketId};

use crate::app::clock::Clock;
use crate::app::notes::Notes;

/// The screen waits this long for a choice before it returns to idle.
pub const CHOICE_FOR: Duration = Duration::from_secs(30);
/// Thanks (or a kind refusal) stay this long.
pub const THANKS_FOR: Duration = Duration::from_secs(6);
/// Tickets remembered as rated, never offered again.
const RATED_KEPT: usize = 256;

/// A ticket counter N just finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The ticket.
    pub ticket: TicketId,
    /// Its number.
    pub number: String,
}

/// What the watch remembers of the counter from the last view.
#[derive(Debug, Clone)]
struct Seen {
    /// The ticket it held: id and number.
    held: Option<(TicketId, String)>,
    /// Tickets it finished today.
    served: u32,
    /// The business day.
    day: Date,
}

/// Notices counter N finishing a ticket, from one view to the next.
#[derive(Debug, Clone)]
pub struct FinishWatch {
    counter: CounterId,
    last: Option<Seen>,
}

impl FinishWatch {
    /// Watches `counter`.
    pub fn new(counter: CounterId) -> FinishWatch {
        FinishWatch {
            counter,
            last: None,
        }
    }

    /// Takes the view after a message; returns the ticket finished since the last one, if any.
    pub fn observe(&mut self, view: Option<&ScreenView>) -> Option<Finished> {
        let view = view?;
        let Some(c) = view.counter(self.counter) else {
            self.last = None;
            return None;
        };
        let held = c.current.as_ref().map(|t| (t.ticket, t.number.clone()));
        let finished = match &self.last {
            Some(Seen {
                held: Some((ticket, number)),
                served,
                day,
            }) if *day == view.day
                && c.served_today > *served
                && held.as_ref().map(|h| h.0) != Some(*ticket) =>
            {
                Some(Finished {
                    ticket: *ticket,
                    number: number.clone(),
                })
            }
            _ => None,
        };
        self.last = Some(Seen {
            held,
            served: c.served_today,
            day: view.day,
        });
        finished
    }
}

/// Feeds finishes from the socket loop to the screen: call [`FinishFeed::observe`] after every
/// message (the link's repaint callback does).
pub struct FinishFeed {
    watch: Mutex<FinishWatch>,
    shared: Shared,
    tx: Mutex<Sender<Finished>>,
}

impl FinishFeed {
    /// Looks at the view now.
    pub fn observe(&self) {
        let finished = {
            let live = self.shared.lock();
            let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
            watch.observe(live.follower.view())
        };
        if let Some(f) = finished {
            tracing::info!(ticket = f.ticket, number = %f.number, "finished at this counter");
            let _ = self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(f);
        }
    }
}

/// What the server said to a rating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingReply {
    /// Recorded.
    Recorded,
    /// The ticket already had its rating (perhaps this very one, whose answer was lost).
    AlreadyRated,
    /// The rating window after the finish has passed.
    WindowClosed,
    /// This device is not (or no longer) the counter's rating device.
    Unpaired(String),
    /// Anything else: the server is unreachable or refused for another reason.
    Failed(String),
}

/// Sends a rating. Called on a worker thread; may block for seconds.
pub trait RatingSender: Send + Sync + 'static {
    /// `POST /api/v1/tickets/{ticket}/rating` `{score, reason?}`.
    fn send(&self, ticket: TicketId, score: u8, reason: Option<&str>) -> RatingReply;
}

/// The real sender: HTTP with the device's Bearer token, retried on a lost answer (a retry
/// of a recorded rating gets `already_rated`, which counts as recorded).
pub struct HttpRating {
    http: reqwest::Client,
    server: String,
    token: String,
    runtime: tokio::runtime::Handle,
}

impl HttpRating {
    /// A sender to `server` with `token`, running its requests on `runtime`.
    pub fn new(server: &str, token: &str, runtime: tokio::runtime::Handle) -> HttpRating {
        HttpRating {
            http: crate::app::notes::http_client(),
            server: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            runtime,
        }
    }

    async fn once(
        &self,
        ticket: TicketId,
        score: u8,
        reason: Option<&str>,
    ) -> Result<RatingReply, String> {
        let body = luot_shared::protocol::RatingRequest {
            score,
            reason: reason.map(str::to_owned),
        };
        let response = self
            .http
            .post(format!("{}/api/v1/tickets/{ticket}/rating", self.server))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(RatingReply::Recorded);
        }
        if status >= 500 {
            return Err(format!("HTTP {status}"));
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(match (status, code.as_str()) {
            (_, "already_rated") => RatingReply::AlreadyRated,
            (_, "rating_window_closed") => RatingReply::WindowClosed,
            (401, _) | (_, "rating_device_unpaired" | "wrong_rating_device") => {
                RatingReply::Unpaired(message)
            }
            _ => RatingReply::Failed(format!("{status} {code}: {message}")),
        })
    }
}

impl RatingSender for HttpRating {
    fn send(&self, ticket: TicketId, score: u8, reason: Option<&str>) -> RatingReply {
        self.runtime.block_on(async {
            let mut last = String::new();
            for attempt in 0..3u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
                match self.once(ticket, score, reason).await {
                    Ok(reply) => return reply,
                    Err(e) => last = e,
                }
            }
            RatingReply::Failed(last)
        })
    }
}

/// How a rating ended, for the last screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Thanks.
    Thanks,
    /// It was rated already: thanks all the same.
    AlreadyRated,
    /// Too late to rate it.
    WindowClosed,
    /// It could not be sent.
    Failed,
}

/// The rating screen's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingPage {
    /// Waiting for the counter to finish someone.
    Idle,
    /// The five choices.
    Choose {
        /// The ticket.
        ticket: Finished,
    },
    /// A reason for a low score.
    Reason {
        /// The ticket.
        ticket: Finished,
        /// The score chosen.
        score: u8,
    },
    /// Sending.
    Sending {
        /// The ticket.
        ticket: Finished,
    },
    /// The end of one rating.
    Done {
        /// How it went.
        ending: Ending,
    },
}

/// A touch on the rating screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingAction {
    /// A score, 1..=5.
    Score(u8),
    /// A reason from the center's list.
    Reason(String),
    /// No reason.
    Skip,
}

/// The state of the rating screen, for drawing.
#[derive(Debug, Clone)]
pub struct RatingView<'a> {
    /// The counter.
    pub counter: CounterId,
    /// The counter's name, the center's name.
    pub counter_name: String,
    /// The center.
    pub center: String,
    /// The page.
    pub page: &'a RatingPage,
    /// The center's reasons.
    pub reasons: &'a [String],
    /// Not paired any more (the server closed with 4401, or refused the token).
    pub unpaired: bool,
    /// The connection is lost (the screen says so while idle).
    pub offline: bool,
}

/// The rating screen.
pub struct RatingDevice {
    counter: CounterId,
    shared: Shared,
    notes: Notes,
    sender: Arc<dyn RatingSender>,
    clock: Arc<dyn Clock>,
    finishes: Receiver<Finished>,
    page: RatingPage,
    until: Option<Instant>,
    rated: VecDeque<TicketId>,
    answer: Option<Receiver<RatingReply>>,
    waiting: Option<Finished>,
    unpaired_reply: bool,
}

impl RatingDevice {
    /// The screen of `counter`, and the feed to call after each message of the stream.
    pub fn new(
        counter: CounterId,
        shared: Shared,
        notes: Notes,
        sender: Arc<dyn RatingSender>,
        clock: Arc<dyn Clock>,
    ) -> (RatingDevice, Arc<FinishFeed>) {
        let (tx, rx) = mpsc::channel();
        let feed = Arc::new(FinishFeed {
            watch: Mutex::new(FinishWatch::new(counter)),
            shared: shared.clone(),
            tx: Mutex::new(tx),
        });
        let device = RatingDevice {
            counter,
            shared,
            notes,
            sender,
            clock,
            finishes: rx,
            page: RatingPage::Idle,
            until: None,
            rated: VecDeque::new(),
            answer: None,
            waiting: None,
            unpaired_reply: false,
        };
        (device, feed)
    }

    /// The page.
    pub fn page(&self) -> &RatingPage {
        &self.page
    }

    /// The live state it reads.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// One frame.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let now = self.clock.now();
        self.step(now);
        let (center, counter_name, offline, unpaired) = {
            let live = self.shared.lock();
            let view = live.follower.view();
            let name = view
                .and_then(|v| v.counter(self.counter))
                .map(|c| nfc(&c.name))
                .unwrap_or_else(|| format!("Quầy {}", self.counter));
            (
                view.map(|v| nfc(&v.center)).unwrap_or_default(),
                name,
                matches!(live.link, LinkState::Offline { .. }),
                matches!(live.link, LinkState::Refused { .. }),
            )
        };
        let reasons = self.notes.lock().rating_reasons.clone();
        let view = RatingView {
            counter: self.counter,
            counter_name,
            center,
            page: &self.page,
            reasons: &reasons,
            unpaired: unpaired || self.unpaired_reply,
            offline,
        };
        if let Some(action) = crate::ui::rating::draw(ui, &view) {
            self.act(action, &reasons, ui.ctx());
        }
        ui.ctx()
            .request_repaint_after(Duration::from_millis(if self.until.is_some() {
                250
            } else {
                1000
            }));
    }

    /// Takes finishes and answers, runs the timers.
    pub fn step(&mut self, now: Instant) {
        while let Ok(f) = self.finishes.try_recv() {
            self.offer(f, now);
        }
        if let Some(rx) = &self.answer {
            match rx.try_recv() {
                Ok(reply) => self.answered(reply, now),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.answered(RatingReply::Failed("the worker stopped".into()), now);
                }
            }
        }
        if self.until.is_some_and(|at| now >= at) {
            self.until = None;
            match std::mem::replace(&mut self.page, RatingPage::Idle) {
                // A low score given and the reason left: the score still counts.
                RatingPage::Reason { ticket, score } => self.send(ticket, score, None, None),
                _ => self.next_waiting(now),
            }
        }
    }

    /// Waits up to `limit` for the sender's answer (tests); says whether it is in (a frame
    /// may have taken it already).
    pub fn await_answer(&mut self, limit: Duration) -> bool {
        let Some(rx) = &self.answer else {
            return !matches!(self.page, RatingPage::Sending { .. });
        };
        match rx.recv_timeout(limit) {
            Ok(reply) => {
                let now = self.clock.now();
                self.answered(reply, now);
                true
            }
            Err(_) => false,
        }
    }

    fn offer(&mut self, f: Finished, now: Instant) {
        if self.rated.contains(&f.ticket) {
            return;
        }
        if matches!(self.page, RatingPage::Sending { .. }) {
            self.waiting = Some(f);
            return;
        }
        self.page = RatingPage::Choose { ticket: f };
        self.until = Some(now + CHOICE_FOR);
    }

    fn next_waiting(&mut self, now: Instant) {
        self.page = RatingPage::Idle;
        if let Some(f) = self.waiting.take() {
            self.offer(f, now);
        }
    }

    fn act(&mut self, action: RatingAction, reasons: &[String], ctx: &egui::Context) {
        let now = self.clock.now();
        match (self.page.clone(), action) {
            (RatingPage::Choose { ticket }, RatingAction::Score(score))
                if (1..=5).contains(&score) =>
            {
                if score <= 2 && !reasons.is_empty() {
                    self.page = RatingPage::Reason { ticket, score };
                    self.until = Some(now + CHOICE_FOR);
                } else {
                    self.send(ticket, score, None, Some(ctx));
                }
            }
            (RatingPage::Reason { ticket, score }, RatingAction::Reason(reason)) => {
                let reason = reasons.iter().find(|r| **r == reason).cloned();
                self.send(ticket, score, reason, Some(ctx));
            }
            (RatingPage::Reason { ticket, score }, RatingAction::Skip) => {
                self.send(ticket, score, None, Some(ctx));
            }
            _ => {}
        }
    }

    fn send(
        &mut self,
        ticket: Finished,
        score: u8,
        reason: Option<String>,
        ctx: Option<&egui::Context>,
    ) {
        // Never offered again, whatever the answer: one citizen, one rating.
        self.rated.push_back(ticket.ticket);
        while self.rated.len() > RATED_KEPT {
            self.rated.pop_front();
        }
        let (tx, rx) = mpsc::channel();
        self.answer = Some(rx);
        self.until = None;
        let sender = self.sender.clone();
        let repaint = ctx.cloned();
        let id = ticket.ticket;
        self.page = RatingPage::Sending { ticket };
        tracing::info!(ticket = id, score, "rating");
        let spawned = std::thread::Builder::new()
            .name("rating".into())
            .spawn(move || {
                let reply = sender.send(id, score, reason.as_deref());
                let _ = tx.send(reply);
                if let Some(ctx) = repaint {
                    ctx.request_repaint();
                }
            });
        if let Err(e) = spawned {
            self.answer = None;
            let now = self.clock.now();
            self.answered(RatingReply::Failed(e.to_string()), now);
        }
    }

    fn answered(&mut self, reply: RatingReply, now: Instant) {
        self.answer = None;
        let ending = match reply {
            RatingReply::Recorded => Ending::Thanks,
            RatingReply::AlreadyRated => Ending::AlreadyRated,
            RatingReply::WindowClosed => Ending::WindowClosed,
            RatingReply::Unpaired(why) => {
                tracing::error!(%why, "this device is not the counter's rating device");
                self.unpaired_reply = true;
                Ending::Failed
            }
            RatingReply::Failed(why) => {
                tracing::warn!(%why, "the rating was not sent");
                Ending::Failed
            }
        };
        self.page = RatingPage::Done { ending };
        self.until = Some(now + THANKS_FOR);
    }
}
