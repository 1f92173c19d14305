//! The eframe application: the window, the frame loop, and `--screenshot`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui::{ViewportCommand, pos2};
use jiff::Timestamp;

use crate::link::{LinkState, Shared};
use crate::screen::screen;
use crate::text::install_fonts;
use crate::ui::draw;

/// A window's size and position on the screen: `1920x1080+0+0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Top-left corner.
    pub position: (i32, i32),
}

impl std::str::FromStr for Geometry {
    type Err = String;

    fn from_str(s: &str) -> Result<Geometry, String> {
        let bad = || format!("{s:?} is not WIDTHxHEIGHT+X+Y (e.g. 1920x1080+0+0)");
        let (size, position) = match s.find(['+', '-']) {
            Some(i) => s.split_at(i),
            None => (s, "+0+0"),
        };
        let (w, h) = size.split_once('x').ok_or_else(bad)?;
        let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
        if !(200..=16384).contains(&w) || !(200..=16384).contains(&h) {
            return Err(format!("{s:?}: width and height must be 200 to 16384"));
        }
        let split = position[1..]
            .find(['+', '-'])
            .map(|i| i + 1)
            .ok_or_else(bad)?;
        let (x, y) = position.split_at(split);
        let x: i32 = x.trim_start_matches('+').parse().map_err(|_| bad())?;
        let y: i32 = y.trim_start_matches('+').parse().map_err(|_| bad())?;
        Ok(Geometry {
            size: (w, h),
            position: (x, y),
        })
    }
}

/// What `--screenshot` asks for.
#[derive(Debug, Clone)]
pub struct ScreenshotJob {
    /// Where the PNG goes.
    pub path: PathBuf,
    /// Longest wait for the server's state.
    pub timeout: Duration,
}

/// How a screenshot run ended.
pub type ScreenshotResult = Arc<Mutex<Option<Result<(), String>>>>;

/// The lobby screen.
pub struct DisplayApp {
    shared: Shared,
    explicit_window: bool,
    sized: bool,
    shot: Option<(ScreenshotJob, Instant, ScreenshotResult)>,
    frames_ready: u32,
    requested: bool,
}

impl DisplayApp {
    /// The app over `shared`; `explicit_window` when `--window` was given.
    pub fn new(
        ctx: &egui::Context,
        shared: Shared,
        explicit_window: bool,
        shot: Option<(ScreenshotJob, ScreenshotResult)>,
    ) -> DisplayApp {
        install_fonts(ctx);
        DisplayApp {
            shared,
            explicit_window,
            sized: false,
            shot: shot.map(|(job, result)| (job, Instant::now(), result)),
            frames_ready: 0,
            requested: false,
        }
    }

    fn screenshot(&mut self, ctx: &egui::Context, ready: bool) {
        let Some((job, started, result)) = &self.shot else {
            return;
        };
        if self.requested {
            return;
        }
        if !ready {
            let refused = matches!(self.shared.lock().link, LinkState::Refused { .. });
            if refused || started.elapsed() > job.timeout {
                let link = format!("{:?}", self.shared.lock().link);
                set(result, Err(format!("no state from the server ({link})")));
                ctx.send_viewport_cmd(ViewportCommand::Close);
            }
            ctx.request_repaint_after(Duration::from_millis(50));
            return;
        }
        // A few frames so fonts and layout have settled.
        self.frames_ready += 1;
        if self.frames_ready < 3 {
            ctx.request_repaint();
            return;
        }
        self.requested = true;
        let (path, result, close) = (job.path.clone(), result.clone(), ctx.clone());
        ctx.request_screenshot(move |image| {
            set(&result, write_png(&path, &image));
            close.send_viewport_cmd(ViewportCommand::Close);
            close.request_repaint();
        });
        ctx.request_repaint();
    }
}

fn set(result: &ScreenshotResult, value: Result<(), String>) {
    if let Ok(mut r) = result.lock() {
        r.get_or_insert(value);
    }
}

/// Writes an RGBA image as PNG.
pub fn write_png(path: &std::path::Path, image: &egui::ColorImage) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let [w, h] = image.size;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_array()).collect();
    writer.write_image_data(&bytes).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

impl eframe::App for DisplayApp {
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
        let (screen, ready) = {
            let live = self.shared.lock();
            (
                screen(&live, Timestamp::now()),
                live.follower.view().is_some(),
            )
        };
        draw(ui, &screen, ctx.input(|i| i.time));
        self.screenshot(&ctx, ready);
        if screen.ticker.is_some() {
            // 20 frames a second scroll smoothly enough; on software GL a 1080p frame costs
            // ~30 ms of CPU, so 30 would take most of a core.
            ctx.request_repaint_after(Duration::from_millis(50));
        } else {
            // The clock shows seconds.
            let sub = Timestamp::now().subsec_nanosecond();
            let wait = 1_000_000_000 - i64::from(sub).clamp(0, 999_999_999);
            ctx.request_repaint_after(Duration::from_nanos(wait as u64 + 1_000_000));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Window geometries parse, with and without a position; bad ones are refused.
    #[test]
    fn geometry_parses() {
        let g: Geometry = "1920x1080+0+0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            g,
            Geometry {
                size: (1920, 1080),
                position: (0, 0)
            }
        );
        let g: Geometry = "1366x768+1920-10".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            g,
            Geometry {
                size: (1366, 768),
                position: (1920, -10)
            }
        );
        let g: Geometry = "1080x1920".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.position, (0, 0));
        for bad in ["", "1920", "axb+0+0", "10x10+0+0", "1920x1080+0"] {
            assert!(bad.parse::<Geometry>().is_err(), "{bad}");
        }
    }
}
