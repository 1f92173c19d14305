//! Drawing: the palette (every text/background pair at least 7:1), the frame of a page (top
//! for reading, lower part for touching on a tall screen), and the big buttons.
//!
//! - [`kiosk`]: the touch menu's pages
//! - [`rating`]: the rating screen
//! - [`words`]: what they say, in Vietnamese and English

pub mod kiosk;
pub mod rating;
pub mod words;

use egui::{
    Align, Color32, CornerRadius, FontFamily, FontId, Layout, Rect, Response, RichText, Sense,
    UiBuilder, pos2, text::LayoutJob, vec2,
};
use luot_display::text::BOLD_FAMILY;

/// Page background.
pub const PAGE: Color32 = Color32::from_rgb(245, 247, 250);
/// Text on the page.
pub const INK: Color32 = Color32::from_rgb(15, 23, 42);
/// A field button.
pub const FIELD: Color32 = Color32::from_rgb(11, 61, 145);
/// The priority button.
pub const PRIORITY: Color32 = Color32::from_rgb(122, 46, 0);
/// A closed field.
pub const CLOSED: Color32 = Color32::from_rgb(218, 221, 226);
/// Text on a closed field.
pub const CLOSED_INK: Color32 = Color32::from_rgb(48, 52, 59);
/// Buttons of the bottom bar.
pub const BAR: Color32 = Color32::from_rgb(31, 41, 55);
/// A problem.
pub const ALERT: Color32 = Color32::from_rgb(155, 28, 28);
/// The reset warning.
pub const WARN: Color32 = Color32::from_rgb(255, 224, 138);
/// Text on dark buttons.
pub const ON_DARK: Color32 = Color32::WHITE;

/// The text/background pairs the screens use, for the contrast test.
pub const PAIRS: [(Color32, Color32); 10] = [
    (INK, PAGE),
    (ON_DARK, FIELD),
    (ON_DARK, PRIORITY),
    (CLOSED_INK, CLOSED),
    (ON_DARK, BAR),
    (ON_DARK, ALERT),
    (INK, WARN),
    (FIELD, PAGE),
    (ALERT, PAGE),
    (PRIORITY, PAGE),
];

/// Smallest touch target height at the 1080-wide design scale, in pixels.
pub const MIN_TARGET: f32 = 120.0;

/// WCAG contrast ratio of two colours.
pub fn contrast(a: Color32, b: Color32) -> f32 {
    fn lum(c: Color32) -> f32 {
        let ch = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c.r()) + 0.7152 * ch(c.g()) + 0.0722 * ch(c.b())
    }
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// Where the parts of a page go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Scale against the design (1080×1920 portrait, 1920×1080 landscape).
    pub scale: f32,
    /// Taller than wide.
    pub portrait: bool,
    /// Center name, clock, notices: for reading (the top third of a portrait screen).
    pub header: Rect,
    /// The page's content and its buttons.
    pub body: Rect,
    /// The bottom bar: back, start, voice, language.
    pub footer: Rect,
    /// Gap between parts.
    pub gap: f32,
}

/// The frame of a page filling `full`.
pub fn frame(full: Rect) -> Frame {
    let (w, h) = (full.width(), full.height());
    let portrait = h > w;
    let s = if portrait {
        (w / 1080.0).min(h / 1920.0)
    } else {
        (w / 1920.0).min(h / 1080.0)
    };
    let gap = (16.0 * s).max(8.0);
    // Buttons never shrink below what a finger (and a shaking hand) hits.
    let footer_h = (150.0 * s).max(MIN_TARGET + 2.0 * gap);
    let header_h = if portrait {
        h / 3.0
    } else {
        (190.0 * s).max(120.0)
    };
    let header = Rect::from_min_size(full.min, vec2(w, header_h));
    let footer = Rect::from_min_max(pos2(full.left(), full.bottom() - footer_h), full.max);
    let body = Rect::from_min_max(
        pos2(full.left() + gap, header.bottom() + gap),
        pos2(full.right() - gap, footer.top() - gap),
    );
    Frame {
        scale: s,
        portrait,
        header,
        body,
        footer,
        gap,
    }
}

/// A font of the embedded DejaVu.
pub fn font(size: f32, bold: bool) -> FontId {
    let family = if bold {
        FontFamily::Name(BOLD_FAMILY.into())
    } else {
        FontFamily::Proportional
    };
    FontId::new(size, family)
}

/// Rich text in the embedded font.
pub fn rich(text: &str, size: f32, bold: bool, color: Color32) -> RichText {
    RichText::new(text).font(font(size, bold)).color(color)
}

/// A child ui filling `rect`, clipped to it.
pub fn region(ui: &mut egui::Ui, rect: Rect, layout: Layout) -> egui::Ui {
    let mut child = ui.new_child(UiBuilder::new().max_rect(rect).layout(layout));
    child.set_clip_rect(rect.intersect(ui.clip_rect()));
    child
}

/// Lines of text, centred, top to bottom in `rect`, each wrapped to its width.
pub fn lines(ui: &mut egui::Ui, rect: Rect, items: &[(String, f32, bool, Color32)]) {
    let mut child = region(ui, rect, Layout::top_down(Align::Center));
    for (text, size, bold, color) in items {
        child.add(
            egui::Label::new(rich(text, *size, *bold, *color))
                .wrap()
                .halign(Align::Center),
        );
    }
}

/// One line of a button: text, size, bold.
pub type Line = (String, f32, bool);

/// A big button at `rect`: its lines centred in it, `fill` behind, `ink` for the text.
/// Disabled buttons sense nothing and show as plain text to screen readers.
pub fn button(
    ui: &mut egui::Ui,
    rect: Rect,
    fill: Color32,
    ink: Color32,
    content: &[Line],
    enabled: bool,
) -> Response {
    let sense = if enabled {
        Sense::click()
    } else {
        Sense::hover()
    };
    let response = ui.allocate_rect(rect, sense);
    let pressed = enabled && response.is_pointer_button_down_on();
    let fill = if pressed {
        fill.gamma_multiply(0.8)
    } else {
        fill
    };
    let radius = (rect.height() * 0.12).min(24.0);
    ui.painter()
        .rect_filled(rect, CornerRadius::same(radius as u8), fill);
    let pad = (rect.height() * 0.1).clamp(8.0, 28.0);
    // Long words on a narrow button: smaller type rather than text cut off.
    let mut shrink = 1.0;
    let mut galley =
        ui.painter()
            .layout_job(job_of(content, ink, rect.width() - 2.0 * pad, shrink));
    for _ in 0..6 {
        let room = rect.height() - pad;
        if galley.size().y <= room && galley.size().x <= rect.width() - pad {
            break;
        }
        shrink *= 0.88;
        galley = ui
            .painter()
            .layout_job(job_of(content, ink, rect.width() - 2.0 * pad, shrink));
    }
    let pos = rect.center() - galley.rect.center().to_vec2();
    ui.painter().with_clip_rect(rect).galley(pos, galley, ink);
    let label: String = content
        .iter()
        .map(|(t, _, _)| t.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let role = if enabled {
        egui::Role::Button
    } else {
        egui::Role::Label
    };
    response.widget_info(|| egui::WidgetInfo::labeled(role, enabled, &label));
    response
}

fn job_of(content: &[Line], ink: Color32, width: f32, shrink: f32) -> LayoutJob {
    let mut job = LayoutJob::default();
    for (i, (text, size, bold)) in content.iter().enumerate() {
        let text = if i + 1 < content.len() {
            format!("{text}\n")
        } else {
            text.clone()
        };
        job.append(
            &text,
            0.0,
            egui::TextFormat {
                font_id: font(*size * shrink, *bold),
                color: ink,
                ..Default::default()
            },
        );
    }
    job.wrap.max_width = width;
    job.halign = Align::Center;
    job
}

/// Cells of a grid of `n` tiles in `area`, `cols` wide, each at least `min_h` tall: the cells
/// of one page and how many tiles a page holds.
pub fn grid(
    area: Rect,
    n: usize,
    cols: usize,
    min_h: f32,
    max_h: f32,
    gap: f32,
) -> (Vec<Rect>, usize) {
    let cols = cols.max(1);
    let fit_rows = (((area.height() + gap) / (min_h + gap)).floor() as usize).max(1);
    let per_page = fit_rows * cols;
    let rows = n.min(per_page).div_ceil(cols).max(1);
    let h = ((area.height() - gap * (rows as f32 - 1.0)) / rows as f32).min(max_h);
    let w = (area.width() - gap * (cols as f32 - 1.0)) / cols as f32;
    let cells = (0..n.min(per_page))
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            Rect::from_min_size(
                area.min + vec2(c as f32 * (w + gap), r as f32 * (h + gap)),
                vec2(w, h),
            )
        })
        .collect();
    (cells, per_page)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text/background pair the screens use has a contrast of at least 7:1 (WCAG AAA).
    #[test]
    fn every_pair_is_at_least_seven_to_one() {
        for (fg, bg) in PAIRS {
            let c = contrast(fg, bg);
            assert!(c >= 7.0, "{fg:?} on {bg:?}: {c:.2}");
        }
        assert!((contrast(Color32::BLACK, Color32::WHITE) - 21.0).abs() < 0.01);
    }

    /// On a portrait screen the header takes exactly the top third; the body starts below it.
    #[test]
    fn portrait_body_starts_below_the_top_third() {
        for (w, h) in [(1080.0, 1920.0), (800.0, 1280.0)] {
            let f = frame(Rect::from_min_size(pos2(0.0, 0.0), vec2(w, h)));
            assert!(f.portrait);
            assert!(f.body.top() >= h / 3.0, "{w}x{h}: {:?}", f.body);
            assert!(f.footer.height() >= MIN_TARGET);
        }
        let f = frame(Rect::from_min_size(pos2(0.0, 0.0), vec2(1920.0, 1080.0)));
        assert!(!f.portrait && f.body.height() > 600.0);
    }

    /// A grid never makes a tile shorter than asked; what does not fit goes to another page.
    #[test]
    fn grid_pages_instead_of_shrinking() {
        let area = Rect::from_min_size(pos2(0.0, 0.0), vec2(1000.0, 700.0));
        let (cells, per_page) = grid(area, 30, 2, 150.0, 300.0, 10.0);
        assert_eq!(per_page, 8);
        assert_eq!(cells.len(), 8);
        assert!(
            cells
                .iter()
                .all(|c| c.height() >= 150.0 && area.expand(0.5).contains_rect(*c))
        );
        let (cells, _) = grid(area, 3, 2, 150.0, 300.0, 10.0);
        assert!(cells.iter().all(|c| c.height() <= 300.0));
    }
}
