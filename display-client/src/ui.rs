//! Drawing the [`Screen`]: where each part goes on a landscape TV (1920×1080, 1366×768) or a
//! portrait one, sized to be read from 8 m — the called number is about a fifth of the
//! screen's height.

use egui::{
    Align, Color32, FontFamily, FontId, Layout, Rect, RichText, UiBuilder, Vec2, pos2, vec2,
};

use crate::screen::{Banner, RECENT_SHOWN, Screen};
use crate::text::BOLD_FAMILY;

const BACKGROUND: Color32 = Color32::from_rgb(10, 25, 60);
const PANEL: Color32 = Color32::from_rgb(20, 45, 95);
const HIGHLIGHT: Color32 = Color32::from_rgb(255, 204, 0);
const TEXT: Color32 = Color32::from_rgb(240, 244, 255);
const DIM: Color32 = Color32::from_rgb(170, 185, 215);
const ALERT: Color32 = Color32::from_rgb(190, 20, 30);

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Areas {
    /// Scale against the 1920×1080 (or 1080×1920) design.
    pub scale: f32,
    /// Center name, date and clock.
    pub header: Rect,
    /// The latest call.
    pub latest: Rect,
    /// Open counters.
    pub counters: Rect,
    /// Recent calls.
    pub recent: Rect,
    /// Waiting per service.
    pub waiting: Rect,
    /// The ticker line.
    pub footer: Rect,
}

/// The layout for a screen of `size` points: landscape or portrait by its shape.
pub fn areas(size: Vec2) -> Areas {
    let (w, h) = (size.x, size.y);
    let gap = 16.0;
    if w >= h {
        let s = (w / 1920.0).min(h / 1080.0);
        let header = Rect::from_min_size(pos2(0.0, 0.0), vec2(w, 100.0 * s));
        let footer = Rect::from_min_max(pos2(0.0, h - 80.0 * s), pos2(w, h));
        let top = header.bottom() + gap * s;
        let bottom = footer.top() - gap * s;
        let left_w = w * 0.6;
        let latest = Rect::from_min_max(
            pos2(gap * s, top),
            pos2(left_w, top + (bottom - top) * 0.52),
        );
        let counters = Rect::from_min_max(
            pos2(gap * s, latest.bottom() + gap * s),
            pos2(left_w, bottom),
        );
        let right = left_w + gap * s;
        let recent = Rect::from_min_max(
            pos2(right, top),
            pos2(w - gap * s, top + (bottom - top) * 0.42),
        );
        let waiting = Rect::from_min_max(
            pos2(right, recent.bottom() + gap * s),
            pos2(w - gap * s, bottom),
        );
        Areas {
            scale: s,
            header,
            latest,
            counters,
            recent,
            waiting,
            footer,
        }
    } else {
        let s = (w / 1080.0).min(h / 1920.0);
        let header = Rect::from_min_size(pos2(0.0, 0.0), vec2(w, 120.0 * s));
        let footer = Rect::from_min_max(pos2(0.0, h - 90.0 * s), pos2(w, h));
        let x0 = gap * s;
        let x1 = w - gap * s;
        let mut y = header.bottom() + gap * s;
        let mut take = |height: f32| {
            let r = Rect::from_min_max(pos2(x0, y), pos2(x1, y + height * s));
            y = r.bottom() + gap * s;
            r
        };
        let latest = take(520.0);
        let counters = take(420.0);
        let recent = take(300.0);
        let waiting = Rect::from_min_max(pos2(x0, y), pos2(x1, footer.top() - gap * s));
        Areas {
            scale: s,
            header,
            latest,
            counters,
            recent,
            waiting,
            footer,
        }
    }
}

fn font(size: f32, bold: bool) -> FontId {
    let family = if bold {
        FontFamily::Name(BOLD_FAMILY.into())
    } else {
        FontFamily::Proportional
    };
    FontId::new(size, family)
}

fn text(s: &str, size: f32, bold: bool, color: Color32) -> RichText {
    RichText::new(s).font(font(size, bold)).color(color)
}

/// A child ui filling `rect`, clipped to it, laid out by `layout`.
fn region(ui: &mut egui::Ui, rect: Rect, layout: Layout) -> egui::Ui {
    let mut child = ui.new_child(UiBuilder::new().max_rect(rect).layout(layout));
    child.set_clip_rect(rect.intersect(ui.clip_rect()));
    child
}

/// Draws the whole screen into `ui` (which covers the window). `time` (seconds) moves the
/// ticker.
pub fn draw(ui: &mut egui::Ui, screen: &Screen, time: f64) {
    let full = ui.max_rect();
    let a = areas(full.size());
    let at = |r: Rect| r.translate(full.min.to_vec2());
    let s = a.scale;
    ui.painter().rect_filled(full, 0.0, BACKGROUND);
    ui.spacing_mut().item_spacing = vec2(8.0 * s, 4.0 * s);

    // Header: the center's name left, date and clock right.
    let header = at(a.header);
    ui.painter().rect_filled(header, 0.0, PANEL);
    let inner = header.shrink2(vec2(24.0 * s, 0.0));
    let mut right = region(ui, inner, Layout::right_to_left(Align::Center));
    right.label(text(&screen.clock, 52.0 * s, true, HIGHLIGHT));
    right.label(text(&screen.date, 34.0 * s, false, DIM));
    // The name takes what the date and clock leave, cut short with "…" if it must.
    let name = Rect::from_min_max(
        inner.min,
        pos2(right.min_rect().left() - 24.0 * s, inner.bottom()),
    );
    region(ui, name, Layout::left_to_right(Align::Center))
        .add(egui::Label::new(text(&screen.center, 40.0 * s, true, TEXT)).truncate());

    draw_latest(ui, at(a.latest), screen, s);
    draw_counters(ui, at(a.counters), screen, s);
    draw_recent(ui, at(a.recent), screen, s);
    draw_waiting(ui, at(a.waiting), screen, s);
    draw_footer(ui, at(a.footer), screen, s, time);
    if let Some(banner) = &screen.banner {
        draw_banner(ui, full, banner, s);
    }
}

fn draw_latest(ui: &mut egui::Ui, rect: Rect, screen: &Screen, s: f32) {
    let lit = screen.latest.as_ref().is_some_and(|l| l.highlighted);
    ui.painter()
        .rect_filled(rect, 16.0 * s, if lit { HIGHLIGHT } else { PANEL });
    let (fg, dim) = if lit {
        (BACKGROUND, BACKGROUND)
    } else {
        (TEXT, DIM)
    };
    let mut ui = region(ui, rect.shrink(20.0 * s), Layout::top_down(Align::Center));
    let Some(latest) = &screen.latest else {
        ui.add_space(rect.height() * 0.3);
        ui.label(text("Chưa có lượt gọi", 64.0 * s, false, DIM));
        return;
    };
    let lead = if latest.recall {
        "Mời lại công dân có số"
    } else {
        "Mời công dân có số"
    };
    ui.label(text(lead, 50.0 * s, false, dim));
    let number_size = (rect.height() * 0.46)
        .min(rect.width() / (latest.number.chars().count().max(3) as f32 * 0.68));
    ui.label(text(&latest.number, number_size, true, fg));
    ui.label(text(&format!("đến {}", latest.counter), 84.0 * s, true, fg));
}

fn draw_counters(ui: &mut egui::Ui, rect: Rect, screen: &Screen, s: f32) {
    ui.painter().rect_filled(rect, 16.0 * s, PANEL);
    if screen.counters.is_empty() {
        region(
            ui,
            rect,
            Layout::centered_and_justified(egui::Direction::TopDown),
        )
        .label(text("Chưa có quầy nào mở", 40.0 * s, false, DIM));
        return;
    }
    let n = screen.counters.len();
    let cols = match n {
        0..=2 => n.max(1),
        3 | 4 => 2,
        _ => 3,
    };
    let rows = n.div_ceil(cols);
    let pad = 10.0 * s;
    let cell = vec2(
        (rect.width() - pad) / cols as f32,
        (rect.height() - pad) / rows as f32,
    );
    let big = (cell.y * 0.36).min(cell.x * 0.24).min(96.0 * s);
    let small = (cell.y * 0.14).min(30.0 * s);
    for (i, tile) in screen.counters.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let min = rect.min + vec2(pad + c as f32 * cell.x, pad + r as f32 * cell.y);
        let cell_rect = Rect::from_min_size(min, cell - Vec2::splat(pad));
        ui.painter().rect_filled(cell_rect, 10.0 * s, BACKGROUND);
        let mut cell_ui = region(
            ui,
            cell_rect.shrink(6.0 * s),
            Layout::top_down(Align::Center),
        );
        cell_ui.label(text(&tile.name, small * 1.2, true, DIM));
        cell_ui.label(text(&tile.number, big, true, TEXT));
        cell_ui.label(text(&tile.status, small, false, DIM));
    }
}

fn draw_recent(ui: &mut egui::Ui, rect: Rect, screen: &Screen, s: f32) {
    ui.painter().rect_filled(rect, 16.0 * s, PANEL);
    let mut ui = region(ui, rect.shrink(16.0 * s), Layout::top_down(Align::Min));
    ui.label(text("Vừa gọi", 36.0 * s, true, HIGHLIGHT));
    let list = ui.available_rect_before_wrap();
    let row = list.height() / RECENT_SHOWN as f32;
    let size = (row * 0.68).min(46.0 * s);
    if screen.recent.is_empty() {
        ui.label(text("—", size, false, DIM));
    }
    for (i, (number, counter)) in screen.recent.iter().enumerate() {
        let line = Rect::from_min_size(
            list.min + vec2(0.0, i as f32 * row),
            vec2(list.width(), row),
        );
        region(&mut ui, line, Layout::left_to_right(Align::Center))
            .label(text(number, size, true, TEXT));
        region(&mut ui, line, Layout::right_to_left(Align::Center)).label(text(
            counter,
            size * 0.85,
            false,
            DIM,
        ));
    }
}

fn draw_waiting(ui: &mut egui::Ui, rect: Rect, screen: &Screen, s: f32) {
    ui.painter().rect_filled(rect, 16.0 * s, PANEL);
    let mut ui = region(ui, rect.shrink(16.0 * s), Layout::top_down(Align::Min));
    let total: u32 = screen
        .waiting
        .iter()
        .filter_map(|w| w.waiting.parse::<u32>().ok())
        .sum();
    ui.label(text(
        &format!("Đang chờ: {total}"),
        36.0 * s,
        true,
        HIGHLIGHT,
    ));
    let list = ui.available_rect_before_wrap();
    let row = list.height() / screen.waiting.len().max(1) as f32;
    let size = (row * 0.62).min(32.0 * s);
    for (i, line) in screen.waiting.iter().enumerate() {
        let r = Rect::from_min_size(
            list.min + vec2(0.0, i as f32 * row),
            vec2(list.width(), row),
        );
        let estimate = Rect::from_min_max(pos2(r.right() - 120.0 * s, r.top()), r.max);
        let count = Rect::from_min_max(
            pos2(estimate.left() - 80.0 * s, r.top()),
            pos2(estimate.left(), r.bottom()),
        );
        let name = Rect::from_min_max(r.min, pos2(count.left() - 8.0 * s, r.bottom()));
        region(&mut ui, estimate, Layout::right_to_left(Align::Center)).label(text(
            &line.estimate,
            size * 0.8,
            false,
            DIM,
        ));
        region(&mut ui, count, Layout::right_to_left(Align::Center)).label(text(
            &line.waiting,
            size,
            true,
            TEXT,
        ));
        region(&mut ui, name, Layout::left_to_right(Align::Center))
            .add(egui::Label::new(text(&line.service, size * 0.85, false, TEXT)).truncate());
    }
}

fn draw_footer(ui: &mut egui::Ui, rect: Rect, screen: &Screen, s: f32, time: f64) {
    ui.painter().rect_filled(rect, 0.0, PANEL);
    let Some(ticker) = &screen.ticker else { return };
    let size = 38.0 * s;
    let galley = ui
        .painter()
        .layout_no_wrap(ticker.clone(), font(size, false), TEXT);
    let width = galley.size().x;
    let mut ui = region(ui, rect, Layout::left_to_right(Align::Center));
    let x = if width <= rect.width() - 48.0 * s {
        rect.center().x - width / 2.0
    } else {
        // Starts at the left edge and scrolls right to left at 120 points a second
        // (scaled); once gone it comes back in from the right.
        let span = rect.width() + width;
        let moved = ((time * 120.0 * f64::from(s)) % f64::from(span)) as f32;
        let x = rect.left() + 24.0 * s - moved;
        if x + width < rect.left() { x + span } else { x }
    };
    let label_rect = Rect::from_min_size(pos2(x, rect.top()), vec2(width + 4.0, rect.height()));
    ui.put(
        label_rect,
        egui::Label::new(text(ticker, size, false, TEXT)).extend(),
    );
}

fn draw_banner(ui: &mut egui::Ui, full: Rect, banner: &Banner, s: f32) {
    let height = if banner.refused {
        full.height() * 0.4
    } else {
        150.0 * s
    };
    let rect = Rect::from_center_size(full.center(), vec2(full.width() * 0.8, height));
    ui.painter().rect_filled(rect, 20.0 * s, ALERT);
    let mut ui = region(ui, rect.shrink(20.0 * s), Layout::top_down(Align::Center));
    ui.label(text(
        &banner.title,
        if banner.refused { 60.0 } else { 56.0 } * s,
        true,
        Color32::WHITE,
    ));
    if !banner.detail.is_empty() {
        ui.add(egui::Label::new(text(&banner.detail, 30.0 * s, false, Color32::WHITE)).wrap());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(outer: Rect, inner: Rect) -> bool {
        outer.expand(0.5).contains_rect(inner)
    }

    /// Each layout keeps every part on the screen and no two parts overlap.
    #[test]
    fn layouts_fit_and_do_not_overlap() {
        for size in [
            vec2(1920.0, 1080.0),
            vec2(1366.0, 768.0),
            vec2(1080.0, 1920.0),
        ] {
            let a = areas(size);
            let screen = Rect::from_min_size(pos2(0.0, 0.0), size);
            let parts = [
                a.header, a.latest, a.counters, a.recent, a.waiting, a.footer,
            ];
            for (i, p) in parts.iter().enumerate() {
                assert!(inside(screen, *p), "{size:?} part {i} {p:?}");
                assert!(
                    p.width() > 100.0 && p.height() > 40.0,
                    "{size:?} part {i} {p:?}"
                );
                for q in &parts[i + 1..] {
                    assert!(
                        !p.shrink(0.5).intersects(q.shrink(0.5)),
                        "{size:?} {p:?} {q:?}"
                    );
                }
            }
        }
    }
}
