//! The rating screen: five large choices, each a face, a colour and words in Vietnamese with
//! English under them; a row on a landscape panel, a column on a portrait one.

use egui::{Color32, CornerRadius, Pos2, Rect, Sense, Shape, Stroke, pos2, vec2};

use super::words::score_label;
use super::{ALERT, BAR, FIELD, INK, ON_DARK, PAGE, WARN, button, grid, lines};
use crate::rating::{Ending, RatingAction, RatingPage, RatingView};

/// The colour of each score's button, 1 to 5 (white text on each is at least 7:1).
pub const SCORE_FILL: [Color32; 5] = [
    Color32::from_rgb(153, 27, 27),
    Color32::from_rgb(154, 52, 18),
    Color32::from_rgb(55, 65, 81),
    Color32::from_rgb(21, 94, 60),
    Color32::from_rgb(20, 83, 45),
];

/// Draws the rating screen; returns the touch's action.
pub fn draw(ui: &mut egui::Ui, v: &RatingView<'_>) -> Option<RatingAction> {
    let full = ui.max_rect();
    ui.painter().rect_filled(full, 0.0, PAGE);
    ui.style_mut().interaction.selectable_labels = false;
    let portrait = full.height() > full.width();
    let s = if portrait {
        (full.width() / 1080.0).min(full.height() / 1920.0)
    } else {
        (full.width() / 1920.0).min(full.height() / 1080.0)
    };
    let gap = (16.0 * s).max(8.0);
    let header_h = if portrait {
        full.height() * 0.22
    } else {
        (200.0 * s).max(120.0)
    };
    let header = Rect::from_min_size(full.min, vec2(full.width(), header_h)).shrink(gap);
    let body = Rect::from_min_max(
        pos2(full.left() + gap, full.top() + header_h),
        full.max - vec2(gap, gap),
    );
    let mut action = None;
    if v.unpaired {
        lines(
            ui,
            body,
            &[
                (
                    "Thiết bị này không còn được ghép với quầy".into(),
                    64.0 * s,
                    true,
                    ALERT,
                ),
                (
                    "This device is no longer paired with the counter".into(),
                    38.0 * s,
                    false,
                    INK,
                ),
                (String::new(), 30.0 * s, false, INK),
                (
                    format!(
                        "Vui lòng báo quản trị viên cấp mã mới cho {} (token create --role kiosk --counter {}).",
                        v.counter_name, v.counter
                    ),
                    36.0 * s,
                    false,
                    INK,
                ),
            ],
        );
        return None;
    }
    let mut head = vec![(v.counter_name.clone(), 64.0 * s, true, INK)];
    if !v.center.is_empty() {
        head.push((v.center.clone(), 34.0 * s, false, INK));
    }
    lines(ui, header, &head);
    match v.page {
        RatingPage::Idle => {
            let mut items = vec![
                ("Xin cảm ơn quý khách".to_owned(), 72.0 * s, true, INK),
                (
                    "Sau khi được phục vụ, mời quý khách đánh giá tại đây".to_owned(),
                    46.0 * s,
                    false,
                    INK,
                ),
                (
                    "After your service, please rate it here".to_owned(),
                    34.0 * s,
                    false,
                    INK,
                ),
            ];
            if v.offline {
                items.push((String::new(), 40.0 * s, false, INK));
                items.push((
                    "Mất kết nối — đang kết nối lại… / Connection lost — reconnecting…".to_owned(),
                    34.0 * s,
                    true,
                    ALERT,
                ));
            }
            let r = Rect::from_center_size(body.center(), vec2(body.width(), body.height() * 0.6));
            lines(ui, r, &items);
        }
        RatingPage::Choose { ticket } => {
            let title_h = 200.0 * s;
            let title = Rect::from_min_size(body.min, vec2(body.width(), title_h));
            lines(
                ui,
                title,
                &[
                    (
                        format!("Phiếu số {}", nfc_number(&ticket.number)),
                        60.0 * s,
                        true,
                        FIELD,
                    ),
                    (
                        "Quý khách có hài lòng với việc phục vụ?".into(),
                        44.0 * s,
                        true,
                        INK,
                    ),
                    (
                        "How satisfied are you with the service?".into(),
                        30.0 * s,
                        false,
                        INK,
                    ),
                ],
            );
            let area = Rect::from_min_max(pos2(body.left(), title.bottom() + gap), body.max);
            let (cols, max_h) = if portrait {
                (1, 300.0 * s)
            } else {
                (5, area.height())
            };
            let (cells, _) = grid(area, 5, cols, 120.0_f32.max(150.0 * s), max_h, gap);
            for (cell, score) in cells.iter().zip([5u8, 4, 3, 2, 1]) {
                if choice(ui, *cell, score, s, portrait) {
                    action = Some(RatingAction::Score(score));
                }
            }
        }
        RatingPage::Reason { ticket, score } => {
            let title = Rect::from_min_size(body.min, vec2(body.width(), 200.0 * s));
            let (vi, en) = score_label(*score);
            lines(
                ui,
                title,
                &[
                    (
                        format!("Phiếu số {} — {vi}", nfc_number(&ticket.number)),
                        44.0 * s,
                        true,
                        INK,
                    ),
                    (
                        "Điều gì làm quý khách chưa hài lòng?".into(),
                        48.0 * s,
                        true,
                        INK,
                    ),
                    (format!("What was not good? ({en})"), 30.0 * s, false, INK),
                ],
            );
            let area = Rect::from_min_max(pos2(body.left(), title.bottom() + gap), body.max);
            let n = v.reasons.len() + 1;
            let cols = if portrait { 1 } else { 2 };
            let (cells, _) = grid(area, n, cols, 120.0_f32.max(130.0 * s), 220.0 * s, gap);
            for (cell, reason) in cells.iter().zip(v.reasons.iter()) {
                let size = (40.0 * s).min(cell.height() * 0.28);
                if button(
                    ui,
                    *cell,
                    BAR,
                    ON_DARK,
                    &[(nfc_number(reason), size, true)],
                    true,
                )
                .clicked()
                {
                    action = Some(RatingAction::Reason(reason.clone()));
                }
            }
            if let Some(cell) = cells.get(v.reasons.len()) {
                let size = (40.0 * s).min(cell.height() * 0.28);
                let content = [
                    ("Bỏ qua".to_owned(), size, true),
                    ("Skip".to_owned(), size * 0.7, false),
                ];
                if button(ui, *cell, FIELD, ON_DARK, &content, true).clicked() {
                    action = Some(RatingAction::Skip);
                }
            }
        }
        RatingPage::Sending { .. } => {
            lines(
                ui,
                body,
                &[
                    ("Đang gửi đánh giá…".into(), 64.0 * s, true, INK),
                    ("Sending…".into(), 36.0 * s, false, INK),
                ],
            );
        }
        RatingPage::Done { ending } => {
            let (vi, en, color) = match ending {
                Ending::Thanks => (
                    "Cảm ơn quý khách đã đánh giá!",
                    "Thank you for your rating!",
                    INK,
                ),
                Ending::AlreadyRated => (
                    "Phiếu này đã được đánh giá. Cảm ơn quý khách!",
                    "This ticket has already been rated. Thank you!",
                    INK,
                ),
                Ending::WindowClosed => (
                    "Đã quá thời gian đánh giá phiếu này. Cảm ơn quý khách!",
                    "The time to rate this ticket has passed. Thank you!",
                    INK,
                ),
                Ending::Failed => (
                    "Chưa gửi được đánh giá. Xin lỗi quý khách — vui lòng báo nhân viên.",
                    "The rating could not be sent. Sorry — please tell a staff member.",
                    ALERT,
                ),
            };
            let r = Rect::from_center_size(body.center(), vec2(body.width(), body.height() * 0.6));
            lines(
                ui,
                r,
                &[
                    (vi.into(), 68.0 * s, true, color),
                    (en.into(), 38.0 * s, false, INK),
                ],
            );
        }
    }
    action
}

fn nfc_number(n: &str) -> String {
    luot_display::text::nfc(n)
}

/// One score's button: the face above, the words below. Returns whether it was touched.
fn choice(ui: &mut egui::Ui, rect: Rect, score: u8, s: f32, portrait: bool) -> bool {
    let fill = SCORE_FILL[usize::from(score.clamp(1, 5) - 1)];
    let (vi, en) = score_label(score);
    let response = ui.allocate_rect(rect, Sense::click());
    let pressed = response.is_pointer_button_down_on();
    ui.painter().rect_filled(
        rect,
        CornerRadius::same(20),
        if pressed {
            fill.gamma_multiply(0.8)
        } else {
            fill
        },
    );
    let (face_center, radius, text_rect) = if portrait {
        let r = (rect.height() * 0.36).min(90.0 * s);
        let c = pos2(rect.left() + 40.0 * s + r, rect.center().y);
        let text = Rect::from_min_max(pos2(c.x + r + 30.0 * s, rect.top()), rect.max);
        (c, r, text)
    } else {
        let r = (rect.width() * 0.3).min(rect.height() * 0.2);
        // Face and words together, centred in the button.
        let c = pos2(rect.center().x, rect.center().y - r * 0.7);
        let text = Rect::from_min_max(
            pos2(rect.left() + 8.0, c.y + r + 20.0 * s),
            rect.max - vec2(8.0, 8.0),
        );
        (c, r, text)
    };
    face(ui, face_center, radius, score);
    let vi_size = (46.0 * s).min(text_rect.width() / 7.0).max(20.0);
    let mut child = super::region(
        ui,
        text_rect,
        egui::Layout::top_down(if portrait {
            egui::Align::Min
        } else {
            egui::Align::Center
        }),
    );
    if portrait {
        child.add_space((text_rect.height() - vi_size * 2.4).max(0.0) / 2.0);
    }
    child.add(egui::Label::new(super::rich(vi, vi_size, true, ON_DARK)).wrap());
    child.add(egui::Label::new(super::rich(en, vi_size * 0.65, false, ON_DARK)).wrap());
    response
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("{vi}\n{en}")));
    response.clicked()
}

/// A face: smiling for 5, straight for 3, frowning for 1.
fn face(ui: &mut egui::Ui, c: Pos2, r: f32, score: u8) {
    let p = ui.painter();
    p.circle_filled(c, r, WARN);
    p.circle_stroke(c, r, Stroke::new((r * 0.06).max(2.0), INK));
    let eye = r * 0.11;
    p.circle_filled(c + vec2(-r * 0.35, -r * 0.25), eye, INK);
    p.circle_filled(c + vec2(r * 0.35, -r * 0.25), eye, INK);
    // The mouth's bend: +1 a full smile, −1 a full frown.
    let bend = (f32::from(score) - 3.0) / 2.0;
    let points: Vec<Pos2> = (0..=16)
        .map(|i| {
            let t = i as f32 / 16.0 * 2.0 - 1.0;
            let x = t * r * 0.5;
            let y = r * 0.35 + bend * r * 0.25 * (1.0 - t * t);
            c + vec2(x, y - bend * r * 0.1)
        })
        .collect();
    p.add(Shape::line(points, Stroke::new((r * 0.1).max(3.0), INK)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White words on every score's colour are at least 7:1.
    #[test]
    fn score_colours_keep_seven_to_one() {
        for fill in SCORE_FILL {
            let c = super::super::contrast(ON_DARK, fill);
            assert!(c >= 7.0, "{fill:?}: {c:.2}");
        }
    }
}
