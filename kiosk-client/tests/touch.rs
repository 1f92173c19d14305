//! The touch menu headless with egui_kittest: touches on the rendered buttons, a fake
//! dispenser behind the seam, and a manual clock for the timers. The harness refuses missing
//! glyphs, so every Vietnamese letter drawn is in the embedded font.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui::{Pos2, Rect, Role, vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use jiff::{SignedDuration, Timestamp};
use luot_display::link::{LinkState, Shared};
use luot_display::text::install_fonts;
use luot_kiosk::app::clock::ManualClock;
use luot_kiosk::app::notes::{CenterNotes, Notes};
use luot_kiosk::app::{Kiosk, Page};
use luot_kiosk::dispense::{Dispenser, Outcome, PrinterProblem, PrinterStatus, Request};
use luot_kiosk::ui::MIN_TARGET;
use luot_kiosk::voice_guide::RecordingGuide;
use luot_shared::engine::{Command, Engine};
use luot_shared::follow::{FollowConfig, Follower};
use luot_shared::protocol::{ServerMessage, TicketView};
use luot_shared::{Priority, TicketStatus};

/// A fixed working-day morning (09:30 in Hà Nội): the engine rolls the center's day over at
/// local midnight, so a scene built by back-dating from the wall clock would close its
/// counters when the tests run just after midnight.
fn morning() -> Timestamp {
    "2026-03-10T02:30:00Z".parse().unwrap()
}

const PORTRAIT: egui::Vec2 = vec2(1080.0, 1920.0);
const LANDSCAPE: egui::Vec2 = vec2(1920.0, 1080.0);
const PANEL: egui::Vec2 = vec2(1280.0, 800.0);
const LONG: Duration = Duration::from_secs(10);

/// What the fake answers.
#[derive(Clone)]
enum Answer {
    Printed,
    NotPrinted,
    Refused,
    Unreachable,
}

/// Records every request; answers as told; optionally waits for the test to let it answer.
struct FakeDispenser {
    requests: Mutex<Vec<Request>>,
    answer: Answer,
    gate: Mutex<Option<Receiver<()>>>,
}

impl FakeDispenser {
    fn new(answer: Answer) -> Arc<FakeDispenser> {
        Arc::new(FakeDispenser {
            requests: Mutex::new(Vec::new()),
            answer,
            gate: Mutex::new(None),
        })
    }

    /// The fake holds its answer until the returned sender sends.
    fn gated(answer: Answer) -> (Arc<FakeDispenser>, Sender<()>) {
        let (tx, rx) = channel();
        let fake = FakeDispenser::new(answer);
        *fake.gate.lock().unwrap() = Some(rx);
        (fake, tx)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn ticket(request: &Request) -> TicketView {
    TicketView {
        id: 7,
        number: "1005".into(),
        service: request.service.clone(),
        service_name: "Tài nguyên - Môi trường".into(),
        priority: request.priority,
        status: TicketStatus::Waiting,
        day: jiff::civil::date(2026, 12, 1),
        issued_at: Timestamp::now(),
        called_at: None,
        started_at: None,
        counter: None,
        ahead: 4,
        estimated_wait_s: 1920,
        track: Some("abc".into()),
    }
}

impl Dispenser for FakeDispenser {
    fn dispense(&self, request: &Request) -> Outcome {
        self.requests.lock().unwrap().push(request.clone());
        if let Some(gate) = self.gate.lock().unwrap().as_ref() {
            let _ = gate.recv_timeout(LONG);
        }
        match self.answer {
            Answer::Printed => Outcome::Printed {
                ticket: ticket(request),
            },
            Answer::NotPrinted => Outcome::NotPrinted {
                ticket: ticket(request),
                problem: PrinterProblem::PaperOut,
            },
            Answer::Refused => Outcome::Refused {
                message: "issuing stopped at 16:30 for today".into(),
            },
            Answer::Unreachable => Outcome::Unreachable {
                message: "connection refused".into(),
            },
        }
    }

    fn printer_status(&self) -> PrinterStatus {
        match self.answer {
            Answer::NotPrinted => PrinterStatus {
                problem: Some(PrinterProblem::PaperOut),
                paper_low: false,
                answers_status: true,
            },
            _ => PrinterStatus::default(),
        }
    }
}

/// The default center (nine fields) with counters 1–3 open and tickets waiting; field `tt`
/// (Thanh tra) has no counter at all, so it is closed.
fn center(issuing: bool) -> (Shared, Notes) {
    let mut engine = Engine::new();
    let mut config = engine.config().clone();
    config
        .counters
        .retain(|c| !c.services.iter().any(|s| s == "tt"));
    let now = morning();
    let mut at = now - SignedDuration::from_mins(10);
    let mut step = |engine: &mut Engine, command: Command| {
        at += SignedDuration::from_millis(100);
        engine.handle(command, at).result.unwrap();
    };
    step(
        &mut engine,
        Command::Configure {
            config: Box::new(config),
            by: "admin".into(),
        },
    );
    for c in 1..=3 {
        step(
            &mut engine,
            Command::Open {
                counter: c,
                staff: format!("nv{c}"),
            },
        );
    }
    for service in ["tnmt", "tnmt", "tnmt", "tnmt", "tckh", "ldtbxh"] {
        step(
            &mut engine,
            Command::Issue {
                service: service.into(),
                priority: None,
                request_id: None,
                credential: String::new(),
                by: "kiosk".into(),
            },
        );
    }
    let mut follower = Follower::new(FollowConfig::default());
    follower.handle(
        ServerMessage::Snapshot {
            seq: engine.seq(),
            state: Box::new(engine.state_view(now)),
        },
        now,
    );
    let shared = Shared::new(follower);
    shared.lock().link = LinkState::Online;
    let notes = Notes::new();
    notes.set(CenterNotes {
        issuing: Some(issuing),
        issuing_note: (!issuing).then(|| "issuing stopped at 16:30 for today".into()),
        rating_reasons: Vec::new(),
    });
    (shared, notes)
}

struct Setup {
    harness: Harness<'static, Kiosk>,
    clock: ManualClock,
    guide: RecordingGuide,
}

fn kiosk_with(dispenser: Arc<FakeDispenser>, size: egui::Vec2, issuing: bool) -> Setup {
    let (shared, notes) = center(issuing);
    let clock = ManualClock::new();
    let guide = RecordingGuide::default();
    let kiosk = Kiosk::new(
        shared,
        notes,
        dispenser,
        Arc::new(guide.clone()),
        Arc::new(clock.clone()),
    );
    let mut harness = Harness::builder()
        .with_size(size)
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, kiosk: &mut Kiosk| kiosk.show(ui), kiosk);
    harness.run();
    Setup {
        harness,
        clock,
        guide,
    }
}

fn kiosk(dispenser: Arc<FakeDispenser>) -> Setup {
    kiosk_with(dispenser, PORTRAIT, true)
}

/// The button whose label contains `text`.
fn button_rect(harness: &Harness<'_, Kiosk>, text: &str) -> Rect {
    harness
        .get_by(|n| n.role() == Role::Button && n.label().is_some_and(|l| l.contains(text)))
        .rect()
}

fn has_button(harness: &Harness<'_, Kiosk>, text: &str) -> bool {
    harness
        .query_by(|n| n.role() == Role::Button && n.label().is_some_and(|l| l.contains(text)))
        .is_some()
}

fn touch(harness: &Harness<'_, Kiosk>, text: &str) {
    harness
        .get_by(|n| n.role() == Role::Button && n.label().is_some_and(|l| l.contains(text)))
        .click();
}

fn tap_at(harness: &Harness<'_, Kiosk>, pos: Pos2) {
    harness.event(egui::Event::PointerMoved(pos));
    for pressed in [true, false] {
        harness.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::default(),
        });
    }
}

fn shows(harness: &Harness<'_, Kiosk>, text: &str) -> bool {
    harness.query_by_label_contains(text).is_some()
}

fn settle(setup: &mut Setup) {
    assert!(
        setup.harness.state_mut().await_outcome(LONG),
        "the dispenser answered"
    );
    setup.harness.run();
}

/// A touch on a field calls the dispenser once with that field (no priority) and shows the
/// number, the field, the people ahead and "Vui lòng nhận phiếu".
#[test]
fn a_touch_on_a_field_issues_once_and_shows_the_number() {
    let fake = FakeDispenser::new(Answer::Printed);
    let mut s = kiosk(fake.clone());
    touch(&s.harness, "Tài nguyên - Môi trường");
    s.harness.run();
    settle(&mut s);
    assert_eq!(
        fake.requests(),
        vec![Request {
            service: "tnmt".into(),
            priority: None,
            english: false
        }]
    );
    assert!(shows(&s.harness, "1005"));
    assert!(shows(&s.harness, "Có 4 người trước bạn"));
    assert!(shows(&s.harness, "Vui lòng nhận phiếu"));
}

/// Two taps on the same field, one frame apart and in one frame, issue one ticket: the page
/// says "Đang in phiếu…" and offers no button until the dispenser answers.
#[test]
fn a_double_tap_issues_once() {
    let (fake, release) = FakeDispenser::gated(Answer::Printed);
    let mut s = kiosk(fake.clone());
    let at = button_rect(&s.harness, "Tài chính - Kế hoạch").center();
    tap_at(&s.harness, at);
    s.harness.step();
    tap_at(&s.harness, at);
    tap_at(&s.harness, at);
    s.harness.step();
    s.harness.run();
    assert!(shows(&s.harness, "Đang in phiếu…"));
    assert!(
        s.harness.query_by_role(Role::Button).is_none(),
        "nothing to touch while printing"
    );
    release.send(()).unwrap();
    settle(&mut s);
    tap_at(&s.harness, at);
    s.harness.run();
    assert_eq!(fake.requests().len(), 1, "{:?}", fake.requests());
    assert_eq!(fake.requests()[0].service, "tckh");
    assert!(shows(&s.harness, "1005"));
}

/// The priority path: "Ưu tiên" → "Người cao tuổi (từ 60 tuổi)" → a field issues with that
/// priority, and the result says so.
#[test]
fn the_priority_path_passes_the_priority() {
    let fake = FakeDispenser::new(Answer::Printed);
    let mut s = kiosk(fake.clone());
    touch(&s.harness, "Ưu tiên");
    s.harness.run();
    for p in [
        "Người cao tuổi",
        "Người khuyết tật",
        "Phụ nữ mang thai",
        "Người có con nhỏ",
        "Người có công",
    ] {
        assert!(has_button(&s.harness, p), "{p}");
    }
    assert!(has_button(&s.harness, "Quay lại") && has_button(&s.harness, "Về đầu"));
    touch(&s.harness, "Người cao tuổi");
    s.harness.run();
    assert!(shows(&s.harness, "Ưu tiên: Người cao tuổi"));
    touch(&s.harness, "Lao động - Thương binh và Xã hội");
    s.harness.run();
    settle(&mut s);
    assert_eq!(
        fake.requests(),
        vec![Request {
            service: "ldtbxh".into(),
            priority: Some(Priority::Elderly),
            english: false
        }]
    );
    assert!(shows(&s.harness, "Ưu tiên: Người cao tuổi"));
}

/// Issued but not printed: the number and the printer message stay, longer than a printed one.
#[test]
fn not_printed_shows_the_number_and_the_printer_message() {
    let fake = FakeDispenser::new(Answer::NotPrinted);
    let mut s = kiosk(fake);
    touch(&s.harness, "Tài nguyên - Môi trường");
    s.harness.run();
    settle(&mut s);
    assert!(shows(&s.harness, "1005"));
    assert!(shows(
        &s.harness,
        "Máy in hết giấy — vui lòng ghi nhớ số này / chụp ảnh màn hình"
    ));
    assert!(!shows(&s.harness, "Vui lòng nhận phiếu"));
    // Still there after 30 s, when a printed ticket's screen would long be gone.
    s.clock.advance(Duration::from_secs(30));
    s.harness.run();
    assert!(shows(&s.harness, "1005"));
}

/// An unreachable server: a clear message, no number, and back to the start by itself.
#[test]
fn unreachable_shows_the_message_and_no_number() {
    let fake = FakeDispenser::new(Answer::Unreachable);
    let mut s = kiosk(fake);
    touch(&s.harness, "Tài nguyên - Môi trường");
    s.harness.run();
    settle(&mut s);
    assert!(shows(&s.harness, "Không kết nối được máy chủ"));
    assert!(shows(&s.harness, "Chưa có số nào được cấp"));
    assert!(!shows(&s.harness, "1005"));
    assert!(!shows(&s.harness, "Số của bạn"));
    s.clock.advance(Duration::from_secs(16));
    s.harness.run();
    assert_eq!(s.harness.state().page(), &Page::Start);
}

/// A refusal (issuing stopped meanwhile) says so in Vietnamese, with no number.
#[test]
fn refused_says_why_without_a_number() {
    let fake = FakeDispenser::new(Answer::Refused);
    let mut s = kiosk(fake);
    touch(&s.harness, "Tài nguyên - Môi trường");
    s.harness.run();
    settle(&mut s);
    assert!(shows(&s.harness, "Chưa lấy được số"));
    assert!(shows(&s.harness, "Đã hết giờ lấy số hôm nay"));
    assert!(!shows(&s.harness, "1005"));
}

/// Untouched, the priority page warns "Màn hình sẽ quay lại từ đầu sau 5 giây — chạm để
/// tiếp tục" and then returns to the start; a touch on the warning keeps it.
#[test]
fn the_reset_warning_appears_and_then_the_start_returns() {
    let fake = FakeDispenser::new(Answer::Printed);
    let mut s = kiosk(fake);
    touch(&s.harness, "Ưu tiên");
    s.harness.run();
    assert_eq!(s.harness.state().page(), &Page::Priority);
    s.clock.advance(Duration::from_secs(24));
    s.harness.run();
    assert!(!shows(&s.harness, "Màn hình sẽ quay lại"));
    s.clock.advance(Duration::from_secs(1));
    s.harness.run();
    assert!(shows(
        &s.harness,
        "Màn hình sẽ quay lại từ đầu sau 5 giây — chạm để tiếp tục"
    ));
    touch(&s.harness, "Tiếp tục");
    s.harness.run();
    assert!(!shows(&s.harness, "Màn hình sẽ quay lại"));
    assert_eq!(s.harness.state().page(), &Page::Priority);
    s.clock.advance(Duration::from_secs(27));
    s.harness.run();
    assert!(shows(&s.harness, "sau 3 giây"));
    s.clock.advance(Duration::from_secs(3));
    s.harness.run();
    assert_eq!(s.harness.state().page(), &Page::Start);
    assert!(has_button(&s.harness, "Tài nguyên - Môi trường"));
}

/// The result returns to the start after its countdown, which it shows.
#[test]
fn the_result_counts_down_to_the_start() {
    let fake = FakeDispenser::new(Answer::Printed);
    let mut s = kiosk(fake);
    touch(&s.harness, "Tài nguyên - Môi trường");
    s.harness.run();
    settle(&mut s);
    assert!(shows(&s.harness, "Tự quay lại màn hình đầu sau 10 giây"));
    s.clock.advance(Duration::from_secs(4));
    s.harness.run();
    assert!(shows(&s.harness, "sau 6 giây"));
    s.clock.advance(Duration::from_secs(6));
    s.harness.run();
    assert_eq!(s.harness.state().page(), &Page::Start);
}

/// A field no counter serves is shown greyed, "Tạm ngừng", and is no button.
#[test]
fn a_closed_field_is_shown_plainly() {
    let fake = FakeDispenser::new(Answer::Printed);
    let s = kiosk(fake);
    assert!(shows(&s.harness, "Thanh tra\nTạm ngừng"));
    assert!(!has_button(&s.harness, "Thanh tra"));
    assert!(has_button(&s.harness, "Tư pháp - Hộ tịch"));
}

/// When issuing has stopped, the start page says "Đã hết giờ lấy số hôm nay" with the hour
/// and offers no field button.
#[test]
fn issuing_stopped_is_shown_instead_of_buttons() {
    let fake = FakeDispenser::new(Answer::Printed);
    let s = kiosk_with(fake, PORTRAIT, false);
    assert!(shows(&s.harness, "Đã hết giờ lấy số hôm nay"));
    assert!(shows(&s.harness, "16:30"));
    assert!(!has_button(&s.harness, "Tài nguyên - Môi trường"));
    assert!(!has_button(&s.harness, "Ưu tiên"));
}

/// Offline: "Mất kết nối" and no field button that could not work.
#[test]
fn offline_shows_the_state_and_no_field_buttons() {
    let fake = FakeDispenser::new(Answer::Printed);
    let mut s = kiosk(fake);
    s.harness.state().shared().lock().link = LinkState::Offline {
        since: Timestamp::now(),
        reason: "test".into(),
    };
    s.harness.run();
    assert!(shows(&s.harness, "Mất kết nối"));
    assert!(!has_button(&s.harness, "Tài nguyên - Môi trường"));
}

/// The language button switches to English and back; a reset returns to Vietnamese.
#[test]
fn the_language_toggles_and_resets_to_vietnamese() {
    let fake = FakeDispenser::new(Answer::Printed);
    let mut s = kiosk(fake);
    touch(&s.harness, "English");
    s.harness.run();
    assert!(shows(&s.harness, "Touch the service you need"));
    assert!(has_button(&s.harness, "Priority"));
    assert!(has_button(&s.harness, "Tiếng Việt"));
    touch(&s.harness, "Priority");
    s.harness.run();
    assert!(has_button(&s.harness, "Older person (60+)"));
    s.clock.advance(Duration::from_secs(31));
    s.harness.run();
    assert_eq!(s.harness.state().page(), &Page::Start);
    assert!(shows(&s.harness, "Chạm vào lĩnh vực bạn cần"));
    assert!(has_button(&s.harness, "English"));
}

/// The voice guide button speaks the page in Vietnamese, naming the fields.
#[test]
fn the_voice_guide_speaks_the_page() {
    let fake = FakeDispenser::new(Answer::Printed);
    let mut s = kiosk(fake);
    touch(&s.harness, "Hướng dẫn bằng giọng nói");
    s.harness.run();
    let said = s.guide.said();
    assert_eq!(said.len(), 1);
    assert!(
        said[0].contains("Tài nguyên - Môi trường, 4 người đang chờ"),
        "{said:?}"
    );
    assert!(said[0].contains("Ưu tiên"));
}

fn all_buttons(harness: &Harness<'_, Kiosk>) -> Vec<Rect> {
    harness
        .query_all_by_role(Role::Button)
        .map(|n| n.rect())
        .collect()
}

/// Every touch target on every page is at least 120 px tall and 240 px wide at 1080×1920
/// and 1920×1080 (at least 120 px tall on a 1280×800 panel too), and on a portrait screen
/// every button sits below the top third.
#[test]
fn targets_are_large_and_low_enough() {
    for size in [PORTRAIT, LANDSCAPE, PANEL] {
        let fake = FakeDispenser::new(Answer::NotPrinted);
        let mut s = kiosk_with(fake, size, true);
        let mut pages = Vec::new();
        pages.push(all_buttons(&s.harness));
        touch(&s.harness, "Ưu tiên");
        s.harness.run();
        pages.push(all_buttons(&s.harness));
        touch(&s.harness, "Người có công");
        s.harness.run();
        pages.push(all_buttons(&s.harness));
        touch(&s.harness, "Tài nguyên - Môi trường");
        s.harness.run();
        settle(&mut s);
        pages.push(all_buttons(&s.harness));
        for (i, rects) in pages.iter().enumerate() {
            assert!(rects.len() >= 2, "{size:?} page {i}");
            for r in rects {
                assert!(r.height() >= MIN_TARGET, "{size:?} page {i}: {r:?}");
                if size != PANEL {
                    assert!(r.width() >= 240.0, "{size:?} page {i}: {r:?}");
                }
                assert!(
                    Rect::from_min_size(Pos2::ZERO, size).contains_rect(*r),
                    "{size:?} page {i}: {r:?} off screen"
                );
                if size.y > size.x {
                    assert!(r.top() >= size.y / 3.0, "{size:?} page {i}: {r:?} too high");
                }
            }
        }
    }
}

/// Portrait: the field buttons sit below the top third, and the center name and clock above.
#[test]
fn portrait_puts_the_field_buttons_below_the_top_third() {
    let fake = FakeDispenser::new(Answer::Printed);
    let s = kiosk(fake);
    let field = button_rect(&s.harness, "Tài nguyên - Môi trường");
    assert!(field.top() >= PORTRAIT.y / 3.0, "{field:?}");
    let name = s.harness.get_by_label("Trung tâm Hành chính công").rect();
    assert!(name.bottom() <= PORTRAIT.y / 3.0, "{name:?}");
}

/// Without a voice the guide button says "Không có giọng nói" and is no button.
#[test]
fn a_kiosk_without_a_voice_says_so() {
    let (shared, notes) = center(true);
    let kiosk = Kiosk::new(
        shared,
        notes,
        FakeDispenser::new(Answer::Printed),
        Arc::new(luot_kiosk::voice_guide::NoGuide("no espeak-ng".into())),
        Arc::new(ManualClock::new()),
    );
    let mut harness = Harness::builder()
        .with_size(PORTRAIT)
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, kiosk: &mut Kiosk| kiosk.show(ui), kiosk);
    harness.run();
    assert!(harness.query_by_label("Không có giọng nói").is_some());
    assert!(!has_button(&harness, "giọng nói"));
    assert!(has_button(&harness, "Tài nguyên - Môi trường"));
}

/// The printer watch asks the dispenser off the UI thread; a printer out of paper is shown on
/// the start page, and the fields stay touchable (the number will be shown on screen).
#[test]
fn a_printer_problem_is_shown_on_the_start_page() {
    let fake = FakeDispenser::new(Answer::NotPrinted);
    let mut s = kiosk(fake.clone());
    assert!(!shows(&s.harness, "Máy in hết giấy"));
    let status = s.harness.state().printer_status();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = luot_kiosk::app::spawn_printer_watch(
        fake,
        status.clone(),
        s.harness.state().busy_flag(),
        Duration::from_secs(3600),
        Arc::new(|| {}),
        stop.clone(),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + LONG;
    while status.lock().unwrap().problem.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch never asked"
        );
        std::thread::park_timeout(Duration::from_millis(10));
    }
    s.harness.run();
    assert!(shows(
        &s.harness,
        "Máy in hết giấy — số của bạn sẽ hiện trên màn hình"
    ));
    assert!(has_button(&s.harness, "Tài nguyên - Môi trường"));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    watch.thread().unpark();
    watch.join().unwrap();
}

/// Twenty-four fields on a landscape screen: no tile shrinks below 120 px; "Trang sau ▶"
/// shows the rest, and a field there issues.
#[test]
fn many_fields_page_instead_of_shrinking() {
    let mut engine = Engine::new();
    let mut config = engine.config().clone();
    for i in 10..34 {
        config.services.push(luot_shared::domain::ServiceField {
            id: format!("f{i}"),
            name: format!("Lĩnh vực số {i}"),
            prefix: format!("{i}"),
            start: 1,
            target_wait_min: 15,
            service_min: 8,
        });
        config.counters.push(luot_shared::domain::CounterConfig {
            id: i,
            name: format!("Quầy {i}"),
            services: vec![format!("f{i}")],
            mode: Default::default(),
        });
    }
    let now = morning();
    engine
        .handle(
            Command::Configure {
                config: Box::new(config),
                by: "admin".into(),
            },
            now - SignedDuration::from_mins(1),
        )
        .result
        .unwrap();
    let mut follower = Follower::new(FollowConfig::default());
    follower.handle(
        ServerMessage::Snapshot {
            seq: engine.seq(),
            state: Box::new(engine.state_view(now)),
        },
        now,
    );
    let shared = Shared::new(follower);
    shared.lock().link = LinkState::Online;
    let fake = FakeDispenser::new(Answer::Printed);
    let kiosk = Kiosk::new(
        shared,
        Notes::new(),
        fake.clone(),
        Arc::new(RecordingGuide::default()),
        Arc::new(ManualClock::new()),
    );
    let mut harness = Harness::builder()
        .with_size(LANDSCAPE)
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, kiosk: &mut Kiosk| kiosk.show(ui), kiosk);
    harness.run();
    assert!(!has_button(&harness, "Lĩnh vực số 33"));
    for r in all_buttons(&harness) {
        assert!(r.height() >= MIN_TARGET, "{r:?}");
    }
    let mut pages = 1;
    while !has_button(&harness, "Lĩnh vực số 33") {
        touch(&harness, "Trang sau");
        harness.run();
        pages += 1;
        assert!(pages <= 4, "the last field never appeared");
        for r in all_buttons(&harness) {
            assert!(r.height() >= MIN_TARGET, "{r:?}");
        }
    }
    touch(&harness, "Lĩnh vực số 33");
    harness.run();
    assert!(harness.state_mut().await_outcome(LONG));
    assert_eq!(fake.requests()[0].service, "f33");
}
