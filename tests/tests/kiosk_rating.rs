//! The native rating screen (`luot-kiosk --mode rating --counter N`) against the real server:
//! its socket loop, finish watch and HTTP sender, drawn and touched with egui_kittest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use luot_display::link::{self, LinkConfig, LinkState, Shared};
use luot_display::text::install_fonts;
use luot_kiosk::app::clock::ManualClock;
use luot_kiosk::app::notes::{self, Notes};
use luot_kiosk::rating::{Ending, HttpRating, RatingDevice, RatingPage, THANKS_FOR};
use luot_shared::follow::{FollowConfig, Follower};
use luot_shared::protocol::{Role as TokenRole, ServerMessage};
use luot_tests::{ADMIN, ServerOptions, TIMEOUT, TestServer};
use serde_json::Value;
use tokio::sync::watch;

/// Counter 2 of the default center serves field 2, `tckh`.
const COUNTER: u32 = 2;

struct Screen {
    harness: Harness<'static, RatingDevice>,
    clock: ManualClock,
    stop: watch::Sender<bool>,
}

fn rating_screen(server: &TestServer, token: &str) -> Screen {
    let shared = Shared::new(Follower::new(FollowConfig::default()));
    let notes = Notes::new();
    let clock = ManualClock::new();
    let sender = Arc::new(HttpRating::new(
        server.base_url(),
        token,
        tokio::runtime::Handle::current(),
    ));
    let (device, feed) = RatingDevice::new(
        COUNTER,
        shared.clone(),
        notes.clone(),
        sender,
        Arc::new(clock.clone()),
    );
    let (stop, stopped) = watch::channel(false);
    let (calls, mut heard) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move { while heard.recv().await.is_some() {} });
    let mut config = LinkConfig::new(server.base_url(), token);
    config.backoff_min = Duration::from_millis(50);
    tokio::spawn(link::run(
        config,
        shared,
        calls,
        Arc::new(move || feed.observe()),
        stopped.clone(),
    ));
    tokio::spawn(notes::run(
        server.base_url().to_owned(),
        token.to_owned(),
        notes,
        Arc::new(|| {}),
        stopped,
    ));
    let harness = Harness::builder()
        .with_size(egui::vec2(1920.0, 1080.0))
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, device: &mut RatingDevice| device.show(ui), device);
    Screen {
        harness,
        clock,
        stop,
    }
}

impl Screen {
    /// Draws frames until `check` holds, for at most [`TIMEOUT`].
    async fn until(&mut self, what: &str, check: impl Fn(&Harness<'static, RatingDevice>) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            self.harness.run();
            if check(&self.harness) {
                return;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn has_choice(&self, words: &str) -> bool {
        self.harness
            .query_by(|n| {
                n.role() == Role::Button && n.label().is_some_and(|l| l.starts_with(words))
            })
            .is_some()
    }

    fn touch_choice(&self, words: &str) {
        self.harness
            .get_by(|n| n.role() == Role::Button && n.label().is_some_and(|l| l.starts_with(words)))
            .click();
    }
}

/// A staff member opens counter 2, calls and finishes a ticket; the rating screen of counter
/// 2 shows its number and five choices; a touch on "Hài lòng" records score 4 for that
/// ticket, counter 2 and that staff member, by this device; the screen thanks and goes idle;
/// a second rating of the ticket is refused (409 `already_rated`) and the choices are not
/// offered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rating_screen_records_one_rating_for_the_finished_ticket() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", TokenRole::Kiosk, None)
            .token("rate-2", TokenRole::Kiosk, Some(COUNTER)),
    );
    server
        .create_staff("lan", "mat-khau-cua-lan", &[COUNTER])
        .await;
    let lan = server.login("lan", "mat-khau-cua-lan").await;
    let token = server.token("rate-2");
    let mut screen = rating_screen(&server, &token);
    screen
        .until("the idle screen", |h| {
            h.query_by_label("Xin cảm ơn quý khách").is_some()
        })
        .await;
    // Connected before the finish: the screen must learn of it from the stream.
    let seq0 = server.api_as(ADMIN).seq().await;
    let mut events = server.ws(&server.token(ADMIN), Some(seq0)).await;
    screen
        .until("the link online", |h| {
            let live = h.state().shared().lock();
            live.link == LinkState::Online && live.follower.since() >= Some(seq0)
        })
        .await;

    let ticket = server.api_as("kiosk").issue_ticket("tckh").await;
    lan.api.open_counter(COUNTER).await;
    let called = lan.api.call_next(COUNTER).await.expect("the ticket waits");
    assert_eq!(called.id, ticket.id);
    lan.api
        .counter_action(COUNTER, "finish")
        .await
        .expect_status(200);

    let heading = format!("Phiếu số {}", ticket.number);
    screen
        .until("the choices for the finished ticket", |h| {
            h.query_by_label(&heading).is_some()
        })
        .await;
    for words in [
        "Rất hài lòng",
        "Hài lòng",
        "Bình thường",
        "Không hài lòng",
        "Rất không hài lòng",
    ] {
        assert!(screen.has_choice(words), "{words}");
    }
    screen.touch_choice("Hài lòng");
    screen.harness.run();
    assert!(
        screen.harness.state_mut().await_answer(TIMEOUT),
        "the server answered"
    );
    screen.harness.run();
    assert_eq!(
        screen.harness.state().page(),
        &RatingPage::Done {
            ending: Ending::Thanks
        }
    );
    assert!(
        screen
            .harness
            .query_by_label("Cảm ơn quý khách đã đánh giá!")
            .is_some()
    );

    // The event says who, where, what and by which device.
    let rated = loop {
        let message = events.next_message().await;
        if let ServerMessage::Event(rec) = message {
            let value: Value = serde_json::to_value(&rec).expect("event as JSON");
            if value["event"]["kind"] == "ticket_rated" {
                break value["event"].clone();
            }
        }
    };
    assert_eq!(rated["ticket"]["id"], ticket.id);
    assert_eq!(rated["counter"], COUNTER);
    assert_eq!(rated["staff"], "lan");
    assert_eq!(rated["score"], 4);
    assert_eq!(rated["by"], "rate-2");

    // Once only: the server refuses a second rating, the screen offers none.
    let again = server
        .api_as("rate-2")
        .rate(ticket.id, 1)
        .await
        .expect_error(409);
    assert_eq!(again.code, "already_rated", "{}", again.message);
    screen.clock.advance(THANKS_FOR + Duration::from_secs(1));
    screen.harness.run();
    assert_eq!(screen.harness.state().page(), &RatingPage::Idle);
    assert!(!screen.has_choice("Hài lòng"));
    let _ = screen.stop.send(true);
}

/// The choices wait 30 s for a touch and then return to idle, rating nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_choices_return_to_idle_after_thirty_seconds() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", TokenRole::Kiosk, None)
            .token("rate-2", TokenRole::Kiosk, Some(COUNTER)),
    );
    let staff = server.api_as(ADMIN);
    let mut screen = rating_screen(&server, &server.token("rate-2"));
    screen
        .until("the link online", |h| {
            h.state().shared().lock().follower.view().is_some()
        })
        .await;
    let ticket = server.api_as("kiosk").issue_ticket("tckh").await;
    staff.open_counter(COUNTER).await;
    staff.call_next(COUNTER).await.expect("the ticket waits");
    staff
        .counter_action(COUNTER, "finish")
        .await
        .expect_status(200);
    let heading = format!("Phiếu số {}", ticket.number);
    screen
        .until("the choices", |h| h.query_by_label(&heading).is_some())
        .await;
    screen.clock.advance(Duration::from_secs(29));
    screen.harness.run();
    assert!(screen.has_choice("Rất hài lòng"), "still waiting at 29 s");
    screen.clock.advance(Duration::from_secs(1));
    screen.harness.run();
    assert_eq!(screen.harness.state().page(), &RatingPage::Idle);
    assert!(!screen.has_choice("Rất hài lòng"));
    // Nothing was sent: the device may still rate it.
    server
        .api_as("rate-2")
        .rate(ticket.id, 5)
        .await
        .expect_status(200);
    let _ = screen.stop.send(true);
}
