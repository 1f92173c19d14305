//! Headless rendering of the lobby screen with egui_kittest: the text a person would read,
//! found in the rendered UI's accessibility tree, for a busy center in every layout. The
//! harness refuses missing glyphs, so every Vietnamese letter drawn is in the embedded font.

#![allow(clippy::unwrap_used)]

use egui::vec2;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use jiff::{SignedDuration, Timestamp};
use luot_display::link::{LinkState, Live};
use luot_display::screen::{Screen, screen};
use luot_display::text::install_fonts;
use luot_display::ui::draw;
use luot_shared::engine::{Command, Engine};
use luot_shared::follow::{FollowConfig, Follower};
use luot_shared::protocol::ServerMessage;

/// A fixed working-day morning (09:30 in Hà Nội): the engine rolls the center's day over at
/// local midnight, so a scene built by back-dating from the wall clock would close its
/// counters when the tests run just after midnight.
fn morning() -> Timestamp {
    "2026-03-10T02:30:00Z".parse().unwrap()
}

/// Nine counters open and calling, 40 waiting, the latest call at counter 3 a second ago;
/// the center's name arrives decomposed (NFD), as some editors save it.
fn busy_center(now: Timestamp) -> Live {
    let mut engine = Engine::new();
    let mut config = engine.config().clone();
    config.center.name = "Trung ta\u{302}m Ha\u{300}nh chi\u{301}nh co\u{302}ng".into();
    config.center.ticker = Some("Giờ làm việc: 7 giờ 30 – 17 giờ, thứ Hai đến thứ Sáu".into());
    let mut at = now - SignedDuration::from_mins(30);
    let mut step = |engine: &mut Engine, command: Command| {
        at += SignedDuration::from_millis(100);
        let outcome = engine.handle(command, at);
        outcome.result.unwrap();
    };
    step(
        &mut engine,
        Command::Configure {
            config: Box::new(config.clone()),
            by: "admin".into(),
        },
    );
    for c in 1..=9 {
        step(
            &mut engine,
            Command::Open {
                counter: c,
                staff: format!("nv{c}"),
            },
        );
    }
    for i in 0..49 {
        let service = config.services[i % 9].id.clone();
        step(
            &mut engine,
            Command::Issue {
                service,
                priority: None,
                request_id: None,
                credential: String::new(),
                by: "kiosk".into(),
            },
        );
    }
    for c in [1, 2, 4, 5, 6, 7, 8, 9] {
        step(
            &mut engine,
            Command::CallNext {
                counter: c,
                staff: format!("nv{c}"),
            },
        );
    }
    let call = now - SignedDuration::from_secs(1);
    engine
        .handle(
            Command::CallNext {
                counter: 3,
                staff: "nv3".into(),
            },
            call,
        )
        .result
        .unwrap();
    let mut follower = Follower::new(FollowConfig::default());
    let snapshot = ServerMessage::Snapshot {
        seq: engine.seq(),
        state: Box::new(engine.state_view(now)),
    };
    follower.handle(snapshot, now);
    Live {
        follower,
        link: LinkState::Online,
    }
}

fn render(screen: Screen, size: egui::Vec2) -> Harness<'static> {
    let mut harness = Harness::builder()
        .with_size(size)
        .with_context_setup(install_fonts)
        .build_ui(move |ui| draw(ui, &screen, 0.0));
    harness.run();
    harness
}

fn count(harness: &Harness<'_>, label: &str) -> usize {
    harness.query_all_by_label(label).count()
}

/// A busy center at 1920×1080: the call, every counter, the waiting list and the ticker are on screen.
#[test]
fn busy_center_shows_the_call_counters_and_queues() {
    let now = morning();
    let live = busy_center(now);
    let s = screen(&live, now);
    assert_eq!(s.center, "Trung tâm Hành chính công", "NFC before drawing");
    let harness = render(s, vec2(1920.0, 1080.0));
    assert!(
        harness
            .query_by_label("Trung tâm Hành chính công")
            .is_some()
    );
    assert!(harness.query_by_label("Mời công dân có số").is_some());
    assert_eq!(
        count(&harness, "3001"),
        2,
        "the big number and counter 3's tile"
    );
    assert!(harness.query_by_label("đến Quầy 3").is_some());
    for c in 1..=9 {
        assert!(count(&harness, &format!("Quầy {c}")) >= 1, "counter {c}");
    }
    assert!(harness.query_by_label("Đang chờ: 40").is_some());
    assert!(
        harness
            .query_by_label("Lao động - Thương binh và Xã hội")
            .is_some()
    );
    assert!(harness.query_by_label("Tư pháp - Hộ tịch").is_some());
    assert!(harness.query_by_label_contains("Giờ làm việc").is_some());
    assert!(harness.query_by_label("Mất kết nối").is_none());
}

/// The smaller TV and a portrait screen draw the same call without missing glyphs.
#[test]
fn small_and_portrait_layouts_render() {
    let now = morning();
    let live = busy_center(now);
    for size in [vec2(1366.0, 768.0), vec2(1080.0, 1920.0)] {
        let harness = render(screen(&live, now), size);
        assert_eq!(count(&harness, "3001"), 2, "{size:?}");
        assert!(
            harness.query_by_label("Tư pháp - Hộ tịch").is_some(),
            "{size:?}"
        );
    }
}

/// Offline, the screen says "Mất kết nối" and for how long, over the last known state.
#[test]
fn offline_banner_says_for_how_long() {
    let now = morning();
    let mut live = busy_center(now);
    live.link = LinkState::Offline {
        since: now - SignedDuration::from_secs(125),
        reason: "connection refused".into(),
    };
    let harness = render(screen(&live, now), vec2(1920.0, 1080.0));
    assert!(harness.query_by_label("Mất kết nối").is_some());
    assert!(harness.query_by_label_contains("2 phút 5 giây").is_some());
    assert_eq!(count(&harness, "3001"), 2, "the last state stays visible");
}

/// A refused token gets a clear message naming what to do.
#[test]
fn refused_token_is_explained() {
    let now = morning();
    let mut live = busy_center(now);
    live.link = LinkState::Refused {
        since: now,
        reason: "HTTP 401".into(),
    };
    let harness = render(screen(&live, now), vec2(1920.0, 1080.0));
    assert!(
        harness
            .query_by_label("Máy chủ từ chối màn hình này")
            .is_some()
    );
    assert!(harness.query_by_label_contains("cần cấp mã mới").is_some());
}
