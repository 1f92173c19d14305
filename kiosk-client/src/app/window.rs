//! The eframe window around either screen, and `--screenshot`: connect, go to the page asked
//! for, draw it, save it, close.

use std::time::{Duration, Instant};

use egui::{ViewportCommand, pos2};
use luot_display::app::{ScreenshotJob, ScreenshotResult, write_png};
use luot_display::link::LinkState;
use luot_display::text::install_fonts;
use luot_shared::Priority;

use super::{Action, Kiosk, Page};
use crate::rating::{RatingDevice, RatingPage};

/// Which screen the window shows.
pub enum Screen {
    /// The touch menu.
    Kiosk(Box<Kiosk>),
    /// The counter's rating screen.
    Rating(Box<RatingDevice>),
}

/// The page a screenshot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShotPage {
    /// The start page.
    Start,
    /// The priority categories.
    Priority,
    /// The fields after a priority was chosen.
    Fields,
    /// The result of a touch on the first open field (needs a dispenser: `--demo`).
    Result,
    /// The rating choices, once the counter finishes a ticket.
    Rating,
}

/// What `--screenshot` asks for.
pub struct ShotPlan {
    /// File and time limit.
    pub job: ScreenshotJob,
    /// The page.
    pub page: ShotPage,
    /// Where the outcome goes.
    pub result: ScreenshotResult,
}

struct ShotState {
    plan: ShotPlan,
    started: Instant,
    navigated: bool,
    frames: u32,
    requested: bool,
}

/// The kiosk's window.
pub struct KioskApp {
    screen: Screen,
    explicit_window: bool,
    sized: bool,
    shot: Option<ShotState>,
}

impl KioskApp {
    /// The window over `screen`; `explicit_window` when `--window` was given.
    pub fn new(
        ctx: &egui::Context,
        screen: Screen,
        explicit_window: bool,
        shot: Option<ShotPlan>,
    ) -> KioskApp {
        install_fonts(ctx);
        KioskApp {
            screen,
            explicit_window,
            sized: false,
            shot: shot.map(|plan| ShotState {
                plan,
                started: Instant::now(),
                navigated: false,
                frames: 0,
                requested: false,
            }),
        }
    }

    fn screenshot(&mut self, ctx: &egui::Context) {
        let Some(shot) = &mut self.shot else { return };
        if shot.requested {
            return;
        }
        let shared = match &self.screen {
            Screen::Kiosk(k) => k.shared().clone(),
            Screen::Rating(r) => r.shared().clone(),
        };
        let (online, refused, link) = {
            let live = shared.lock();
            (
                live.link == LinkState::Online && live.follower.view().is_some(),
                matches!(live.link, LinkState::Refused { .. }),
                format!("{:?}", live.link),
            )
        };
        let fail = |shot: &mut ShotState, why: String| {
            if let Ok(mut r) = shot.plan.result.lock() {
                r.get_or_insert(Err(why));
            }
            ctx.send_viewport_cmd(ViewportCommand::Close);
        };
        if refused || shot.started.elapsed() > shot.plan.job.timeout {
            let why = format!("the page {:?} was not reached ({link})", shot.plan.page);
            fail(shot, why);
            return;
        }
        ctx.request_repaint_after(Duration::from_millis(50));
        if !online {
            return;
        }
        if !shot.navigated {
            shot.navigated = true;
            if let Screen::Kiosk(k) = &mut self.screen {
                let board = k.board();
                let first = board
                    .fields
                    .iter()
                    .find(|f| !f.closed)
                    .map(|f| f.id.clone());
                let steps = match shot.plan.page {
                    ShotPage::Priority => vec![Action::PriorityMenu],
                    ShotPage::Fields => {
                        vec![Action::PriorityMenu, Action::Priority(Priority::Elderly)]
                    }
                    ShotPage::Result => first.map(Action::Field).into_iter().collect(),
                    ShotPage::Start | ShotPage::Rating => Vec::new(),
                };
                for step in steps {
                    k.act(step, &board, ctx);
                }
            }
            return;
        }
        let reached = match (&self.screen, shot.plan.page) {
            (Screen::Kiosk(k), page) => matches!(
                (k.page(), page),
                (Page::Start, ShotPage::Start)
                    | (Page::Priority, ShotPage::Priority)
                    | (Page::Fields { .. }, ShotPage::Fields)
                    | (Page::Result { .. }, ShotPage::Result)
            ),
            (Screen::Rating(r), ShotPage::Rating) => matches!(r.page(), RatingPage::Choose { .. }),
            (Screen::Rating(r), _) => matches!(r.page(), RatingPage::Idle),
        };
        if !reached {
            return;
        }
        // A few frames so fonts and layout have settled.
        shot.frames += 1;
        if shot.frames < 3 {
            ctx.request_repaint();
            return;
        }
        shot.requested = true;
        let (path, result, close) = (
            shot.plan.job.path.clone(),
            shot.plan.result.clone(),
            ctx.clone(),
        );
        ctx.request_screenshot(move |image| {
            let written = write_png(&path, &image);
            if let Ok(mut r) = result.lock() {
                r.get_or_insert(written);
            }
            close.send_viewport_cmd(ViewportCommand::Close);
            close.request_repaint();
        });
        ctx.request_repaint();
    }
}

impl eframe::App for KioskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if !self.sized && !self.explicit_window {
            // Without a window manager fullscreen does nothing: cover the monitor ourselves.
            if let Some(monitor) = ctx.input(|i| i.viewport().monitor_size) {
                ctx.send_viewport_cmd(ViewportCommand::OuterPosition(pos2(0.0, 0.0)));
                ctx.send_viewport_cmd(ViewportCommand::InnerSize(monitor));
                self.sized = true;
            }
        }
        match &mut self.screen {
            Screen::Kiosk(k) => k.show(ui),
            Screen::Rating(r) => r.show(ui),
        }
        self.screenshot(&ctx);
    }
}
