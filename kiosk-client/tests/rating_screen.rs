//! The rating screen headless with egui_kittest: the stream comes from the engine itself,
//! message by message as the socket loop would pass it, and a fake sender stands for the
//! server's answer.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use jiff::{SignedDuration, Timestamp};
use luot_display::link::{LinkState, Shared};
use luot_display::text::install_fonts;
use luot_kiosk::app::clock::ManualClock;
use luot_kiosk::app::notes::{CenterNotes, Notes};
use luot_kiosk::rating::{Ending, FinishFeed, RatingDevice, RatingPage, RatingReply, RatingSender};
use luot_shared::TicketId;
use luot_shared::engine::{Command, Engine};
use luot_shared::follow::{FollowConfig, Follower};
use luot_shared::protocol::ServerMessage;

/// A fixed working-day morning (09:30 in Hà Nội): the engine rolls the center's day over at
/// local midnight, so a scene built by back-dating from the wall clock would close its
/// counters when the tests run just after midnight.
fn morning() -> Timestamp {
    "2026-03-10T02:30:00Z".parse().unwrap()
}

/// Records ratings; answers as told.
struct FakeSender {
    sent: Mutex<Vec<(TicketId, u8, Option<String>)>>,
    reply: RatingReply,
}

impl RatingSender for FakeSender {
    fn send(&self, ticket: TicketId, score: u8, reason: Option<&str>) -> RatingReply {
        self.sent
            .lock()
            .unwrap()
            .push((ticket, score, reason.map(str::to_owned)));
        self.reply.clone()
    }
}

struct Counter {
    engine: Engine,
    at: Timestamp,
    shared: Shared,
    feed: Arc<FinishFeed>,
    harness: Harness<'static, RatingDevice>,
    clock: ManualClock,
    sender: Arc<FakeSender>,
}

impl Counter {
    /// Counter 1 open with two tickets of its field waiting; the screen connected.
    fn new(reply: RatingReply, reasons: &[&str]) -> Counter {
        let engine = Engine::new();
        let at = morning() - SignedDuration::from_mins(5);
        let shared = Shared::new(Follower::new(FollowConfig::default()));
        shared.lock().link = LinkState::Online;
        let notes = Notes::new();
        notes.set(CenterNotes {
            issuing: Some(true),
            issuing_note: None,
            rating_reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
        });
        let clock = ManualClock::new();
        let sender = Arc::new(FakeSender {
            sent: Mutex::new(Vec::new()),
            reply,
        });
        let (device, feed) = RatingDevice::new(
            1,
            shared.clone(),
            notes,
            sender.clone(),
            Arc::new(clock.clone()),
        );
        let harness = Harness::builder()
            .with_size(egui::vec2(1920.0, 1080.0))
            .with_context_setup(install_fonts)
            .build_ui_state(|ui, d: &mut RatingDevice| d.show(ui), device);
        let mut counter = Counter {
            engine,
            at,
            shared,
            feed,
            harness,
            clock,
            sender,
        };
        let config = counter.engine.config().clone();
        counter.run(Command::Configure {
            config: Box::new(config),
            by: "admin".into(),
        });
        counter.run(Command::Open {
            counter: 1,
            staff: "lan".into(),
        });
        for _ in 0..2 {
            counter.run(Command::Issue {
                service: "tnmt".into(),
                priority: None,
                request_id: None,
                credential: String::new(),
                by: "kiosk".into(),
            });
        }
        counter.snapshot();
        counter
    }

    fn snapshot(&mut self) {
        let message = ServerMessage::Snapshot {
            seq: self.engine.seq(),
            state: Box::new(self.engine.state_view(self.at)),
        };
        self.shared.lock().follower.handle(message, self.at);
        self.feed.observe();
    }

    /// Runs a command and passes its events to the screen one by one.
    fn run(&mut self, command: Command) {
        self.at += SignedDuration::from_millis(200);
        let outcome = self.engine.handle(command, self.at);
        outcome.result.unwrap();
        let has_view = self.shared.lock().follower.view().is_some();
        if has_view {
            for rec in outcome.events {
                self.shared
                    .lock()
                    .follower
                    .handle(ServerMessage::Event(rec), self.at);
                self.feed.observe();
            }
        }
        self.harness.run();
    }

    fn call(&mut self) {
        self.run(Command::CallNext {
            counter: 1,
            staff: "lan".into(),
        });
    }

    fn finish(&mut self) {
        self.run(Command::Finish {
            counter: 1,
            staff: "lan".into(),
        });
    }

    fn has(&self, label: &str) -> bool {
        self.harness.query_by_label_contains(label).is_some()
    }

    fn touch(&self, words: &str) {
        self.harness
            .get_by(|n| n.role() == Role::Button && n.label().is_some_and(|l| l.starts_with(words)))
            .click();
    }

    fn answer(&mut self) {
        self.harness.run();
        assert!(
            self.harness
                .state_mut()
                .await_answer(Duration::from_secs(10))
        );
        self.harness.run();
    }
}

/// A no-show offers nothing; a finish offers its ticket; a low score with the center's
/// reasons asks one and sends score and reason for that ticket.
#[test]
fn a_low_score_asks_one_reason_and_sends_both() {
    let mut c = Counter::new(RatingReply::Recorded, &["Chờ lâu", "Thái độ chưa tốt"]);
    c.call();
    c.run(Command::NoShow {
        counter: 1,
        staff: "lan".into(),
    });
    assert_eq!(
        c.harness.state().page(),
        &RatingPage::Idle,
        "a no-show is not rated"
    );
    c.call();
    let ticket = c
        .shared
        .lock()
        .follower
        .view()
        .unwrap()
        .counter(1)
        .unwrap()
        .current
        .clone()
        .unwrap();
    c.finish();
    assert!(c.has(&format!("Phiếu số {}", ticket.number)));
    c.touch("Không hài lòng");
    c.harness.run();
    assert!(c.has("Điều gì làm quý khách chưa hài lòng?"));
    c.touch("Chờ lâu");
    c.answer();
    assert_eq!(
        *c.sender.sent.lock().unwrap(),
        vec![(ticket.ticket, 2, Some("Chờ lâu".to_owned()))]
    );
    assert!(c.has("Cảm ơn quý khách đã đánh giá!"));
}

/// A low score left at the reason page is still sent, without a reason, after 30 s.
#[test]
fn a_reason_left_untouched_sends_the_score_alone() {
    let mut c = Counter::new(RatingReply::Recorded, &["Chờ lâu"]);
    c.call();
    c.finish();
    c.touch("Rất không hài lòng");
    c.harness.run();
    assert!(c.has("Bỏ qua"));
    c.clock.advance(Duration::from_secs(30));
    c.answer();
    let sent = c.sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].1, sent[0].2.clone()), (1, None));
}

/// `already_rated` is taken kindly ("đã được đánh giá", thanks), and the ticket is never
/// offered again.
#[test]
fn already_rated_is_kind_and_final() {
    let mut c = Counter::new(RatingReply::AlreadyRated, &[]);
    c.call();
    c.finish();
    c.touch("Rất hài lòng");
    c.answer();
    assert_eq!(
        c.harness.state().page(),
        &RatingPage::Done {
            ending: Ending::AlreadyRated
        }
    );
    assert!(c.has("Phiếu này đã được đánh giá. Cảm ơn quý khách!"));
    c.clock.advance(Duration::from_secs(7));
    c.snapshot();
    c.harness.run();
    assert_eq!(c.harness.state().page(), &RatingPage::Idle);
}

/// A closed window says so; a refused token (close code 4401) shows "not paired any more".
#[test]
fn a_closed_window_and_an_unpaired_device_are_explained() {
    let mut c = Counter::new(RatingReply::WindowClosed, &[]);
    c.call();
    c.finish();
    c.touch("Bình thường");
    c.answer();
    assert!(c.has("Đã quá thời gian đánh giá phiếu này"));
    c.shared.lock().link = LinkState::Refused {
        since: Timestamp::now(),
        reason: "closed by the server (4401 )".into(),
    };
    c.harness.run();
    assert!(c.has("Thiết bị này không còn được ghép với quầy"));
    assert!(c.harness.query_by_role(Role::Button).is_none());
}
