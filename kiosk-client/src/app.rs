//! The kiosk's touch menu as a state machine: which page is shown, the timers that bring it
//! back to the start, and the one worker thread that issues a ticket per touch.
//!
//! [`Kiosk::show`] is one frame: it reads the clock, takes the worker's answer, draws the
//! page from a plain [`Board`] and applies the one [`Action`] the touch asked for. Time comes
//! from an injected [`clock::Clock`], so tests step the reset timers instead of waiting.
//!
//! # Layout
//!
//! - this file: [`Kiosk`], [`Page`], [`Action`], [`Board`], [`Timing`]
//! - [`clock`]: the clock the timers read
//! - [`notes`]: whether issuing is open now, read from `/api/v1/state`
//! - [`demo`]: a dispenser that only pretends, for looking at the screens (`--demo`)
//! - [`window`]: the eframe window, both modes, `--screenshot`

pub mod clock;
pub mod demo;
pub mod notes;
pub mod window;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use luot_display::link::{LinkState, Shared};
use luot_display::text::nfc;
use luot_shared::Priority;

use self::clock::Clock;
use self::notes::Notes;
use crate::dispense::{Dispenser, Outcome, PrinterStatus, Request};
use crate::ui::words::{self, Lang};
use crate::voice_guide::{Guide, GuideStatus, spoken_number};

/// How long each page stays without a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A menu page (priority, fields) returns to the start after this long untouched.
    pub idle: Duration,
    /// The warning shows this long before any return.
    pub warn: Duration,
    /// The result of a printed ticket stays this long.
    pub printed: Duration,
    /// A number that did not print stays this long: time to note it or take a photo.
    pub not_printed: Duration,
    /// A refusal or an unreachable server stays this long.
    pub failed: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            idle: Duration::from_secs(30),
            warn: Duration::from_secs(5),
            printed: Duration::from_secs(10),
            not_printed: Duration::from_secs(60),
            failed: Duration::from_secs(15),
        }
    }
}

/// The page on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The fields, the priority button.
    Start,
    /// Which priority category.
    Priority,
    /// The fields, for a priority ticket.
    Fields {
        /// The category chosen.
        priority: Priority,
    },
    /// Waiting for the dispenser: every touch is ignored.
    Issuing {
        /// What was asked.
        request: Request,
    },
    /// What came of it.
    Result {
        /// The dispenser's answer.
        outcome: Box<Outcome>,
        /// The category asked for, if any.
        priority: Option<Priority>,
    },
}

/// What a touch asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A field: issue a ticket for it.
    Field(String),
    /// The "Ưu tiên" button.
    PriorityMenu,
    /// A priority category.
    Priority(Priority),
    /// "Quay lại".
    Back,
    /// "Về đầu".
    Home,
    /// The language button.
    ToggleLang,
    /// "Hướng dẫn bằng giọng nói".
    Speak,
    /// The next page of fields.
    NextFields,
    /// The previous page of fields.
    PrevFields,
    /// "Tiếp tục" on the reset warning.
    KeepGoing,
}

/// The connection, as the start page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not connected yet.
    Connecting,
    /// Live.
    Online,
    /// Lost for this many seconds.
    Offline(u64),
    /// The server refused this kiosk's token.
    Refused,
}

/// One field's tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTile {
    /// Service id.
    pub id: String,
    /// Name, NFC.
    pub name: String,
    /// Tickets waiting.
    pub waiting: u32,
    /// Open counters serving it.
    pub open_counters: u32,
    /// Estimated wait, seconds.
    pub wait_s: u64,
    /// No counter serves it: shown greyed, "Tạm ngừng", not touchable.
    pub closed: bool,
}

/// Everything the pages show from the server, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// Center name.
    pub center: String,
    /// `09:41` in the center's time zone.
    pub clock: String,
    /// The connection.
    pub connection: Connection,
    /// `None` when issuing is open; else the server's note.
    pub closed_note: Option<Option<String>>,
    /// The fields.
    pub fields: Vec<FieldTile>,
    /// The printer's state.
    pub printer: PrinterStatus,
    /// The admin's line for screens.
    pub ticker: Option<String>,
}

impl Board {
    /// Whether a field button could work now.
    pub fn can_issue(&self) -> bool {
        self.connection == Connection::Online && self.closed_note.is_none()
    }
}

/// What a frame needs to draw the kiosk.
#[derive(Debug, Clone)]
pub struct View<'a> {
    /// The page.
    pub page: &'a Page,
    /// The language.
    pub lang: Lang,
    /// From the server.
    pub board: &'a Board,
    /// Seconds until the page returns to the start, when it will.
    pub returns_in: Option<u64>,
    /// Show the reset warning.
    pub warning: bool,
    /// The voice guide's state.
    pub guide: GuideStatus,
    /// Which page of fields.
    pub fields_page: usize,
}

/// The kiosk's touch menu.
pub struct Kiosk {
    shared: Shared,
    notes: Notes,
    printer: Arc<Mutex<PrinterStatus>>,
    dispenser: Arc<dyn Dispenser>,
    guide: Arc<dyn Guide>,
    clock: Arc<dyn Clock>,
    timing: Timing,
    page: Page,
    lang: Lang,
    reset_at: Option<Instant>,
    fields_page: usize,
    answer: Option<Receiver<Outcome>>,
    busy: Arc<AtomicBool>,
}

impl Kiosk {
    /// A kiosk over the live state `shared` and `notes`, issuing through `dispenser`.
    pub fn new(
        shared: Shared,
        notes: Notes,
        dispenser: Arc<dyn Dispenser>,
        guide: Arc<dyn Guide>,
        clock: Arc<dyn Clock>,
    ) -> Kiosk {
        Kiosk {
            shared,
            notes,
            printer: Arc::new(Mutex::new(PrinterStatus::default())),
            dispenser,
            guide,
            clock,
            timing: Timing::default(),
            page: Page::Start,
            lang: Lang::Vi,
            reset_at: None,
            fields_page: 0,
            answer: None,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The same with other timings.
    pub fn with_timing(mut self, timing: Timing) -> Kiosk {
        self.timing = timing;
        self
    }

    /// The page on screen.
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// The language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Where the printer status is kept; [`spawn_printer_watch`] fills it.
    pub fn printer_status(&self) -> Arc<Mutex<PrinterStatus>> {
        self.printer.clone()
    }

    /// Set while the dispenser works (the printer watch leaves the printer alone then).
    pub fn busy_flag(&self) -> Arc<AtomicBool> {
        self.busy.clone()
    }

    /// The live state it reads.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The board at this instant.
    pub fn board(&self) -> Board {
        let printer = self
            .printer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let notes = self.notes.lock().clone();
        let live = self.shared.lock();
        let connection = match &live.link {
            LinkState::Connecting => Connection::Connecting,
            LinkState::Online if live.follower.view().is_some() => Connection::Online,
            LinkState::Online => Connection::Connecting,
            LinkState::Offline { since, .. } => Connection::Offline(
                Timestamp::now()
                    .duration_since(*since)
                    .as_secs()
                    .max(0)
                    .unsigned_abs(),
            ),
            LinkState::Refused { .. } => Connection::Refused,
        };
        let Some(view) = live.follower.view() else {
            return Board {
                center: String::new(),
                clock: String::new(),
                connection,
                closed_note: None,
                fields: Vec::new(),
                printer,
                ticker: None,
            };
        };
        let issuing = notes.issuing.unwrap_or(view.issuing);
        let closed_note = (!issuing).then(|| notes.issuing_note.clone());
        let fields = view
            .services
            .iter()
            .map(|s| FieldTile {
                id: s.id.clone(),
                name: nfc(&s.name),
                waiting: s.waiting,
                open_counters: s.open_counters,
                wait_s: s.estimated_wait_s,
                closed: !view.counters.iter().any(|c| c.services.contains(&s.id)),
            })
            .collect();
        let clock = TimeZone::get(&view.timezone)
            .map(|tz| {
                live.follower
                    .server_now(Timestamp::now())
                    .to_zoned(tz)
                    .strftime("%H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        Board {
            center: nfc(&view.center),
            clock,
            connection,
            closed_note,
            fields,
            printer,
            ticker: view.ticker.as_deref().map(nfc),
        }
    }

    /// Seconds until the page returns to the start, and whether the warning shows.
    fn timer(&self, now: Instant) -> (Option<u64>, bool) {
        let Some(at) = self.reset_at else {
            return (None, false);
        };
        let left = at.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        (Some(secs), left <= self.timing.warn)
    }

    /// One frame: timers, the worker's answer, the page, the touch.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let now = self.clock.now();
        self.take_answer(now);
        let board = self.board();
        self.tick(now, &board);
        if ui.input(|i| i.pointer.any_pressed()) {
            self.touched(now);
        }
        let (returns_in, warning) = self.timer(now);
        let view = View {
            page: &self.page,
            lang: self.lang,
            board: &board,
            returns_in,
            warning,
            guide: self.guide.status(),
            fields_page: self.fields_page,
        };
        let action = crate::ui::kiosk::draw(ui, &view);
        if let Some(action) = action {
            self.act(action, &board, ui.ctx());
        }
        // The countdowns tick in seconds; the clock in minutes.
        let every = if self.reset_at.is_some() || matches!(self.page, Page::Issuing { .. }) {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        ui.ctx().request_repaint_after(every);
    }

    /// Returns to the start when the timer ran out, or a menu when the link went down.
    fn tick(&mut self, now: Instant, board: &Board) {
        if self.reset_at.is_some_and(|at| now >= at) {
            self.go_start(true);
        }
        let menu = matches!(self.page, Page::Priority | Page::Fields { .. });
        if menu && !board.can_issue() {
            self.go_start(false);
        }
    }

    fn touched(&mut self, now: Instant) {
        match self.page {
            Page::Priority | Page::Fields { .. } => self.reset_at = Some(now + self.timing.idle),
            Page::Result { .. } => {
                let later = now + self.timing.warn * 3;
                self.reset_at = self.reset_at.map(|at| at.max(later));
            }
            Page::Start | Page::Issuing { .. } => {}
        }
    }

    fn go_start(&mut self, new_citizen: bool) {
        self.page = Page::Start;
        self.reset_at = None;
        self.fields_page = 0;
        if new_citizen {
            self.lang = Lang::Vi;
        }
    }

    /// Applies a touch's action, if the page takes it.
    pub fn act(&mut self, action: Action, board: &Board, ctx: &egui::Context) {
        let now = self.clock.now();
        let menu_until = Some(now + self.timing.idle);
        match (&self.page, action) {
            (Page::Issuing { .. }, _) => {}
            (_, Action::ToggleLang) => self.lang = self.lang.other(),
            (_, Action::Speak) => self.guide.speak(&self.speech(board)),
            (_, Action::KeepGoing) => self.touched(now),
            (Page::Start | Page::Fields { .. }, Action::NextFields) => self.fields_page += 1,
            (Page::Start | Page::Fields { .. }, Action::PrevFields) => {
                self.fields_page = self.fields_page.saturating_sub(1);
            }
            (Page::Start, Action::PriorityMenu) if board.can_issue() => {
                self.page = Page::Priority;
                self.fields_page = 0;
                self.reset_at = menu_until;
            }
            (Page::Priority, Action::Priority(priority)) => {
                self.page = Page::Fields { priority };
                self.reset_at = menu_until;
            }
            (Page::Start, Action::Field(service)) => self.issue(service, None, board, ctx),
            (&Page::Fields { priority }, Action::Field(service)) => {
                self.issue(service, Some(priority), board, ctx);
            }
            (Page::Fields { .. }, Action::Back) => {
                self.page = Page::Priority;
                self.reset_at = menu_until;
            }
            (Page::Result { .. }, Action::Back | Action::Home) => self.go_start(true),
            (_, Action::Back | Action::Home) => self.go_start(false),
            _ => {}
        }
    }

    /// Starts the one dispense of this touch on a worker thread.
    fn issue(
        &mut self,
        service: String,
        priority: Option<Priority>,
        board: &Board,
        ctx: &egui::Context,
    ) {
        let open = board.fields.iter().any(|f| f.id == service && !f.closed);
        if !open || !board.can_issue() || self.answer.is_some() {
            return;
        }
        let request = Request {
            service,
            priority,
            english: self.lang == Lang::En,
        };
        self.page = Page::Issuing {
            request: request.clone(),
        };
        self.reset_at = None;
        let (tx, rx) = mpsc::channel();
        self.answer = Some(rx);
        let dispenser = self.dispenser.clone();
        let busy = self.busy.clone();
        let repaint = ctx.clone();
        busy.store(true, Ordering::SeqCst);
        tracing::info!(service = %request.service, priority = ?request.priority, "issuing");
        let spawned = std::thread::Builder::new()
            .name("dispense".into())
            .spawn(move || {
                let outcome = dispenser.dispense(&request);
                busy.store(false, Ordering::SeqCst);
                let _ = tx.send(outcome);
                repaint.request_repaint();
            });
        if let Err(e) = spawned {
            self.busy.store(false, Ordering::SeqCst);
            self.answer = None;
            self.show_outcome(
                Outcome::Unreachable {
                    message: format!("cannot start issuing: {e}"),
                },
                priority,
                self.clock.now(),
            );
        }
    }

    fn take_answer(&mut self, now: Instant) {
        let Some(rx) = &self.answer else { return };
        let outcome = match rx.try_recv() {
            Ok(outcome) => outcome,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Outcome::Unreachable {
                message: "the issuing worker stopped".into(),
            },
        };
        self.finish_issue(outcome, now);
    }

    fn finish_issue(&mut self, outcome: Outcome, now: Instant) {
        self.answer = None;
        let priority = match &self.page {
            Page::Issuing { request } => request.priority,
            _ => None,
        };
        if matches!(outcome, Outcome::Refused { .. }) {
            // Maybe the hour passed: read whether issuing is still open.
            self.notes.refresh_soon();
        }
        self.show_outcome(outcome, priority, now);
    }

    fn show_outcome(&mut self, outcome: Outcome, priority: Option<Priority>, now: Instant) {
        let hold = match &outcome {
            Outcome::Printed { .. } => self.timing.printed,
            Outcome::NotPrinted { .. } => self.timing.not_printed,
            Outcome::Refused { .. } | Outcome::Unreachable { .. } => self.timing.failed,
        };
        self.page = Page::Result {
            outcome: Box::new(outcome),
            priority,
        };
        self.reset_at = Some(now + hold);
    }

    /// Waits up to `limit` for the dispenser's answer and shows it (tests, screenshots);
    /// says whether it is in (a frame may have taken it already).
    pub fn await_outcome(&mut self, limit: Duration) -> bool {
        let Some(rx) = &self.answer else {
            return !matches!(self.page, Page::Issuing { .. });
        };
        let outcome = match rx.recv_timeout(limit) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => Outcome::Unreachable {
                message: "the issuing worker stopped".into(),
            },
        };
        let now = self.clock.now();
        self.finish_issue(outcome, now);
        true
    }

    /// What the voice guide says about the page, in Vietnamese.
    pub fn speech(&self, board: &Board) -> String {
        let fields = |board: &Board| -> String {
            board
                .fields
                .iter()
                .filter(|f| !f.closed)
                .map(|f| format!("{}, {} người đang chờ.", f.name, f.waiting))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match &self.page {
            Page::Start if board.connection != Connection::Online => {
                "Máy lấy số đang mất kết nối với máy chủ. Vui lòng chờ giây lát hoặc hỏi nhân viên."
                    .into()
            }
            Page::Start if board.closed_note.is_some() => {
                let (headline, detail) =
                    words::issuing_closed(Lang::Vi, board.closed_note.clone().flatten().as_deref());
                format!("{headline}. {}", detail.unwrap_or_default())
            }
            Page::Start => format!(
                "Xin chào. Hãy chạm vào lĩnh vực bạn cần ở nửa dưới màn hình để lấy số. {} \
                 Nếu bạn là người cao tuổi, người khuyết tật, phụ nữ mang thai, người có con nhỏ \
                 hoặc người có công, hãy chạm nút Ưu tiên.",
                fields(board)
            ),
            Page::Priority => format!(
                "Hãy chạm vào đối tượng ưu tiên của bạn: {}. Muốn quay lại, chạm nút Quay lại ở dưới cùng.",
                Priority::ALL
                    .iter()
                    .map(|p| words::priority_label(Lang::Vi, *p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Page::Fields { priority } => format!(
                "Bạn được ưu tiên: {}. Hãy chạm vào lĩnh vực bạn cần. {}",
                words::priority_label(Lang::Vi, *priority),
                fields(board)
            ),
            Page::Issuing { .. } => "Đang in phiếu, vui lòng chờ.".into(),
            Page::Result { outcome, .. } => match outcome.as_ref() {
                Outcome::Printed { ticket } => format!(
                    "Số của bạn là {}. Lĩnh vực {}. {}. Vui lòng nhận phiếu ở khe máy in.",
                    spoken_number(&ticket.number),
                    nfc(&ticket.service_name),
                    words::ahead(Lang::Vi, ticket.ahead)
                ),
                Outcome::NotPrinted { ticket, problem } => format!(
                    "Số của bạn là {}. Nhắc lại, số {}. {}.",
                    spoken_number(&ticket.number),
                    spoken_number(&ticket.number),
                    words::not_printed(Lang::Vi, problem)
                ),
                Outcome::Refused { .. } => {
                    "Chưa lấy được số. Vui lòng hỏi nhân viên để được giúp.".into()
                }
                Outcome::Unreachable { .. } => {
                    "Không kết nối được máy chủ, chưa có số nào được cấp. Vui lòng thử lại sau ít phút hoặc hỏi nhân viên."
                        .into()
                }
            },
        }
    }
}

/// Asks the printer how it is every `every`, off the UI thread, while no ticket is being
/// issued; stops when `stop` turns true.
pub fn spawn_printer_watch(
    dispenser: Arc<dyn Dispenser>,
    status: Arc<Mutex<PrinterStatus>>,
    busy: Arc<AtomicBool>,
    every: Duration,
    repaint: Arc<dyn Fn() + Send + Sync>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("printer-watch".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if !busy.load(Ordering::SeqCst) {
                    let fresh = dispenser.printer_status();
                    let mut shown = status.lock().unwrap_or_else(|p| p.into_inner());
                    if *shown != fresh {
                        *shown = fresh;
                        drop(shown);
                        repaint();
                    }
                }
                // A coarse wait: the watch has no event to wake it, and a few seconds of
                // staleness is what "every few seconds" means.
                std::thread::park_timeout(every);
            }
        })
}
