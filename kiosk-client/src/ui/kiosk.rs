//! The touch menu's pages. Reading at the top, touching below: on a portrait screen every
//! button sits in the lower two thirds, within reach from a wheelchair.

use egui::{Color32, Rect, pos2, vec2};
use luot_shared::Priority;

use super::words::{self, Lang};
use super::{
    ALERT, BAR, CLOSED, CLOSED_INK, FIELD, Frame, INK, Line, MIN_TARGET, ON_DARK, PAGE, PRIORITY,
    WARN, button, frame, grid, lines,
};
use crate::app::{Action, Connection, FieldTile, Page, View};
use crate::dispense::Outcome;
use crate::voice_guide::GuideStatus;

/// Draws the kiosk's page into `ui` (the whole window); returns what a touch asked for.
pub fn draw(ui: &mut egui::Ui, v: &View<'_>) -> Option<Action> {
    let full = ui.max_rect();
    ui.painter().rect_filled(full, 0.0, PAGE);
    ui.style_mut().interaction.selectable_labels = false;
    let f = frame(full);
    let mut action = None;
    let body = header(ui, &f, v);
    match v.page {
        Page::Start => start(ui, &f, body, v, &mut action),
        Page::Priority => priorities(ui, &f, body, v.lang, &mut action),
        Page::Fields { .. } => {
            let tiles: Vec<Tile<'_>> = v.board.fields.iter().map(Tile::Field).collect();
            tile_grid(ui, &f, body, v, &tiles, &mut action);
        }
        Page::Issuing { .. } => issuing(ui, &f, body, v.lang),
        Page::Result { outcome, priority } => result(ui, &f, body, v, outcome, *priority),
    }
    if !matches!(v.page, Page::Issuing { .. }) {
        footer(ui, &f, body, v, &mut action);
    }
    if v.warning && !matches!(v.page, Page::Start | Page::Issuing { .. }) {
        warning(ui, &f, v, &mut action);
    }
    action
}

/// The header; returns what is left of the body (a notice may take its top).
fn header(ui: &mut egui::Ui, f: &Frame, v: &View<'_>) -> Rect {
    let s = f.scale;
    let lang = v.lang;
    let b = v.board;
    let prompt = match v.page {
        Page::Start if b.can_issue() => Some(
            lang.pick(
                "Chạm vào lĩnh vực bạn cần để lấy số",
                "Touch the service you need to get a number",
            )
            .to_owned(),
        ),
        Page::Priority => Some(
            lang.pick(
                "Bạn thuộc đối tượng ưu tiên nào?",
                "Which priority group are you in?",
            )
            .to_owned(),
        ),
        Page::Fields { priority } => Some(lang.say(
            format!(
                "Ưu tiên: {} — chọn lĩnh vực",
                words::priority_label(lang, *priority)
            ),
            format!(
                "Priority: {} — choose the service",
                words::priority_label(lang, *priority)
            ),
        )),
        _ => None,
    };
    // On the start page only: a result says what happened to its own ticket.
    let printer = if matches!(v.page, Page::Start) {
        words::printer_notice(lang, b.printer.problem.as_ref(), b.printer.paper_low)
    } else {
        None
    };
    let inner = f.header.shrink2(vec2(32.0 * s, 16.0 * s));
    let mut body = f.body;
    if f.portrait {
        let mut items = vec![
            (b.center.clone(), 44.0 * s, true, INK),
            (b.clock.clone(), 88.0 * s, true, INK),
        ];
        if let Some(t) = &b.ticker {
            items.push((t.clone(), 30.0 * s, false, INK));
        }
        if let Some(p) = prompt {
            items.push((p, 56.0 * s, true, INK));
        }
        if matches!(v.page, Page::Start) && b.can_issue() {
            items.push((
                lang.pick(
                    "Lấy số xong, mời ngồi chờ đến khi số của bạn hiện trên màn hình gọi số",
                    "With your number, please sit and wait until it shows on the calling screen",
                )
                .to_owned(),
                34.0 * s,
                false,
                INK,
            ));
        }
        let text_rect = if printer.is_some() {
            Rect::from_min_max(inner.min, pos2(inner.right(), inner.bottom() - 130.0 * s))
        } else {
            inner
        };
        lines(ui, text_rect, &items);
        if let Some(p) = printer {
            let strip =
                Rect::from_min_max(pos2(inner.left(), inner.bottom() - 120.0 * s), inner.max);
            notice(ui, strip, &p, 36.0 * s);
        }
    } else {
        let clock_w = 320.0 * s;
        let clock = Rect::from_min_max(pos2(inner.right() - clock_w, inner.top()), inner.max);
        lines(ui, clock, &[(b.clock.clone(), 72.0 * s, true, INK)]);
        let left = Rect::from_min_max(inner.min, pos2(clock.left() - 16.0 * s, inner.bottom()));
        let mut items = vec![(b.center.clone(), 38.0 * s, true, INK)];
        if let Some(p) = prompt {
            items.push((p, 50.0 * s, true, INK));
        }
        lines(ui, left, &items);
        if let Some(p) = printer {
            let strip = Rect::from_min_size(body.min, vec2(body.width(), 80.0 * s));
            notice(ui, strip, &p, 34.0 * s);
            body.min.y = strip.bottom() + f.gap;
        }
    }
    body
}

fn notice(ui: &mut egui::Ui, rect: Rect, text: &str, size: f32) {
    ui.painter().rect_filled(rect, 12.0, ALERT);
    let inner = rect.shrink(8.0);
    let mut child = super::region(
        ui,
        inner,
        egui::Layout::centered_and_justified(egui::Direction::TopDown),
    );
    child.add(egui::Label::new(super::rich(text, size, true, ON_DARK)).wrap());
}

/// A big message in the body, where the buttons would be.
fn message(ui: &mut egui::Ui, body: Rect, s: f32, title: &str, detail: &str, color: Color32) {
    let rect = Rect::from_center_size(
        body.center(),
        vec2(body.width(), (body.height() * 0.6).max(300.0 * s)),
    )
    .intersect(body);
    lines(
        ui,
        rect,
        &[
            (title.to_owned(), 72.0 * s, true, color),
            (String::new(), 24.0 * s, false, INK),
            (detail.to_owned(), 44.0 * s, false, INK),
        ],
    );
}

fn start(ui: &mut egui::Ui, f: &Frame, body: Rect, v: &View<'_>, action: &mut Option<Action>) {
    let s = f.scale;
    let lang = v.lang;
    match v.board.connection {
        Connection::Online => {}
        Connection::Connecting => {
            message(
                ui,
                body,
                s,
                lang.pick("Đang kết nối…", "Connecting…"),
                lang.pick(
                    "Máy lấy số đang kết nối với máy chủ. Vui lòng chờ giây lát.",
                    "The kiosk is connecting to the server. Please wait a moment.",
                ),
                INK,
            );
            return;
        }
        Connection::Offline(secs) => {
            let detail = lang.say(
                format!(
                    "Chưa lấy được số lúc này. Vui lòng chờ giây lát hoặc hỏi nhân viên.\n(đã {} phút)",
                    secs / 60
                ),
                format!(
                    "Numbers cannot be issued right now. Please wait a moment or ask a staff member.\n({} min)",
                    secs / 60
                ),
            );
            message(
                ui,
                body,
                s,
                lang.pick("Mất kết nối", "Connection lost"),
                &detail,
                ALERT,
            );
            return;
        }
        Connection::Refused => {
            message(
                ui,
                body,
                s,
                lang.pick(
                    "Máy lấy số chưa được cấp phép",
                    "This kiosk is not authorised",
                ),
                lang.pick(
                    "Vui lòng báo nhân viên: máy cần được cấp mã mới.",
                    "Please tell a staff member: the kiosk needs a new token.",
                ),
                ALERT,
            );
            return;
        }
    }
    if let Some(note) = &v.board.closed_note {
        let (headline, detail) = words::issuing_closed(lang, note.as_deref());
        let mut detail = detail.unwrap_or_default();
        if !detail.is_empty() {
            detail.push('\n');
        }
        detail.push_str(lang.pick("Xin cảm ơn và hẹn gặp lại.", "Thank you, see you again."));
        message(ui, body, s, &headline, &detail, INK);
        return;
    }
    let mut tiles = vec![Tile::PriorityMenu];
    tiles.extend(v.board.fields.iter().map(Tile::Field));
    tile_grid(ui, f, body, v, &tiles, action);
}

/// What a tile of the grid is.
enum Tile<'a> {
    PriorityMenu,
    Field(&'a FieldTile),
}

/// How many fields a page of the grid holds, for the paging buttons.
fn per_page(f: &Frame, body: Rect, n: usize) -> usize {
    let (_, per) = grid(
        body,
        n,
        cols(f, body, n),
        min_tile(f),
        300.0 * f.scale,
        f.gap,
    );
    per
}

fn cols(f: &Frame, body: Rect, n: usize) -> usize {
    if f.portrait {
        if body.width() >= 700.0 { 2 } else { 1 }
    } else {
        // A fourth column before a second page, while tiles stay wide enough to read.
        let (_, per) = grid(body, n, 3, min_tile(f), 300.0 * f.scale, f.gap);
        if per >= n || body.width() < 1150.0 {
            3
        } else {
            4
        }
    }
}

fn min_tile(f: &Frame) -> f32 {
    (160.0 * f.scale).max(MIN_TARGET)
}

fn tile_grid(
    ui: &mut egui::Ui,
    f: &Frame,
    body: Rect,
    v: &View<'_>,
    tiles: &[Tile<'_>],
    action: &mut Option<Action>,
) {
    let s = f.scale;
    let lang = v.lang;
    let (cells, per) = grid(
        body,
        tiles.len(),
        cols(f, body, tiles.len()),
        min_tile(f),
        300.0 * s,
        f.gap,
    );
    let pages = tiles.len().div_ceil(per).max(1);
    let page = v.fields_page.min(pages - 1);
    for (cell, tile) in cells.iter().zip(tiles.iter().skip(page * per)) {
        let name_size = (40.0 * s).min(cell.height() * 0.24);
        let small = (30.0 * s).min(cell.height() * 0.17);
        match tile {
            Tile::PriorityMenu => {
                let content: [Line; 2] = [
                    (
                        lang.pick("Ưu tiên", "Priority").into(),
                        name_size * 1.2,
                        true,
                    ),
                    (
                        lang.pick(
                            "Người cao tuổi, khuyết tật, mang thai, có con nhỏ, người có công",
                            "Older people, disability, pregnancy, small child, national merit",
                        )
                        .into(),
                        small * 0.9,
                        false,
                    ),
                ];
                if button(ui, *cell, PRIORITY, ON_DARK, &content, true).clicked() {
                    *action = Some(Action::PriorityMenu);
                }
            }
            Tile::Field(field) if field.closed => {
                let content: [Line; 2] = [
                    (field.name.clone(), name_size, true),
                    (lang.pick("Tạm ngừng", "Not available").into(), small, false),
                ];
                button(ui, *cell, CLOSED, CLOSED_INK, &content, false);
            }
            Tile::Field(field) => {
                let line = format!(
                    "{} · {}",
                    words::waiting(lang, field.waiting),
                    words::estimate(lang, field.waiting, field.open_counters, field.wait_s)
                );
                let content: [Line; 2] =
                    [(field.name.clone(), name_size, true), (line, small, false)];
                if button(ui, *cell, FIELD, ON_DARK, &content, true).clicked() {
                    *action = Some(Action::Field(field.id.clone()));
                }
            }
        }
    }
}

fn priorities(ui: &mut egui::Ui, f: &Frame, body: Rect, lang: Lang, action: &mut Option<Action>) {
    let s = f.scale;
    let cols = if f.portrait { 1 } else { 2 };
    let (cells, _) = grid(
        body,
        Priority::ALL.len(),
        cols,
        min_tile(f),
        240.0 * s,
        f.gap,
    );
    for (cell, p) in cells.iter().zip(Priority::ALL) {
        let size = (46.0 * s).min(cell.height() * 0.3);
        let content: [Line; 1] = [(words::priority_label(lang, p).into(), size, true)];
        if button(ui, *cell, PRIORITY, ON_DARK, &content, true).clicked() {
            *action = Some(Action::Priority(p));
        }
    }
}

fn issuing(ui: &mut egui::Ui, f: &Frame, body: Rect, lang: Lang) {
    let s = f.scale;
    message(
        ui,
        body,
        s,
        lang.pick("Đang in phiếu…", "Printing your ticket…"),
        lang.pick("Vui lòng chờ trong giây lát", "Please wait a moment"),
        INK,
    );
}

fn result(
    ui: &mut egui::Ui,
    f: &Frame,
    body: Rect,
    v: &View<'_>,
    outcome: &Outcome,
    priority: Option<Priority>,
) {
    let s = f.scale;
    let lang = v.lang;
    let countdown_h = 60.0 * s;
    let area = Rect::from_min_max(body.min, pos2(body.right(), body.bottom() - countdown_h));
    let mut items = Vec::new();
    match outcome {
        Outcome::Printed { ticket } | Outcome::NotPrinted { ticket, .. } => {
            let number = luot_display::text::nfc(&ticket.number);
            let size = (area.height() * 0.33)
                .min(area.width() / (number.chars().count().max(3) as f32 * 0.66));
            items.push((
                lang.pick("Số của bạn", "Your number").to_owned(),
                44.0 * s,
                false,
                INK,
            ));
            items.push((number, size, true, FIELD));
            items.push((
                luot_display::text::nfc(&ticket.service_name),
                42.0 * s,
                true,
                INK,
            ));
            if let Some(p) = priority.or(ticket.priority) {
                let mark = lang.say(
                    format!("Ưu tiên: {}", words::priority_label(lang, p)),
                    format!("Priority: {}", words::priority_label(lang, p)),
                );
                items.push((mark, 36.0 * s, true, PRIORITY));
            }
            items.push((words::ahead(lang, ticket.ahead), 40.0 * s, false, INK));
            if let Some(w) = words::wait(lang, ticket.ahead, ticket.estimated_wait_s) {
                items.push((w, 36.0 * s, false, INK));
            }
            let last = if let Outcome::NotPrinted { problem, .. } = outcome {
                items.push((words::not_printed(lang, problem), 46.0 * s, true, ALERT));
                None
            } else {
                Some(lang.pick("Vui lòng nhận phiếu", "Please take your ticket"))
            };
            if let Some(last) = last {
                items.push((String::new(), 12.0 * s, false, INK));
                items.push((last.to_owned(), 58.0 * s, true, INK));
            }
        }
        Outcome::Refused { message } => {
            items.push((
                lang.pick("Chưa lấy được số", "No number was issued").into(),
                68.0 * s,
                true,
                ALERT,
            ));
            let detail = if message.contains("issuing") || message.contains("closed") {
                let (headline, hour) = words::issuing_closed(lang, Some(message));
                format!("{headline}. {}", hour.unwrap_or_default())
            } else {
                lang.pick(
                    "Vui lòng hỏi nhân viên để được giúp.",
                    "Please ask a staff member for help.",
                )
                .to_owned()
            };
            items.push((detail, 44.0 * s, false, INK));
        }
        Outcome::Unreachable { .. } => {
            items.push((
                lang.pick("Không kết nối được máy chủ", "Cannot reach the server")
                    .into(),
                64.0 * s,
                true,
                ALERT,
            ));
            items.push((
                lang.pick(
                    "Chưa có số nào được cấp. Vui lòng thử lại sau ít phút hoặc hỏi nhân viên.",
                    "No number was issued. Please try again in a few minutes or ask a staff member.",
                )
                .into(),
                44.0 * s,
                false,
                INK,
            ));
        }
    }
    lines(ui, area, &items);
    if let Some(secs) = v.returns_in {
        let strip = Rect::from_min_max(pos2(body.left(), area.bottom()), body.max);
        lines(
            ui,
            strip,
            &[(words::countdown(lang, secs), 32.0 * s, false, INK)],
        );
    }
}

fn footer(ui: &mut egui::Ui, f: &Frame, body: Rect, v: &View<'_>, action: &mut Option<Action>) {
    let s = f.scale;
    let lang = v.lang;
    let mut buttons: Vec<(String, Action, bool)> = Vec::new();
    match v.page {
        Page::Priority | Page::Fields { .. } => {
            buttons.push((lang.pick("◀ Quay lại", "◀ Back").into(), Action::Back, true));
            buttons.push((lang.pick("Về đầu", "Start over").into(), Action::Home, true));
        }
        Page::Result { .. } => {
            buttons.push((lang.pick("Về đầu", "Start over").into(), Action::Home, true));
        }
        Page::Start | Page::Issuing { .. } => {}
    }
    let listed = match v.page {
        Page::Start if v.board.can_issue() => v.board.fields.len() + 1,
        Page::Fields { .. } => v.board.fields.len(),
        _ => 0,
    };
    if listed > 0 {
        let per = per_page(f, body, listed);
        let pages = listed.div_ceil(per).max(1);
        if pages > 1 {
            let page = v.fields_page.min(pages - 1);
            buttons.push((
                lang.pick("◀ Trang trước", "◀ Previous").into(),
                Action::PrevFields,
                page > 0,
            ));
            buttons.push((
                lang.say(
                    format!("Trang sau ▶ ({}/{pages})", page + 1),
                    format!("More ▶ ({}/{pages})", page + 1),
                ),
                Action::NextFields,
                page + 1 < pages,
            ));
        }
    }
    let (voice, can) = match &v.guide {
        GuideStatus::Ready => (
            lang.pick("Hướng dẫn bằng giọng nói", "Voice guide (Vietnamese)"),
            true,
        ),
        GuideStatus::Speaking => (lang.pick("Đang đọc hướng dẫn…", "Speaking…"), true),
        GuideStatus::Starting => (
            lang.pick("Đang chuẩn bị giọng nói…", "Preparing the voice…"),
            false,
        ),
        GuideStatus::Unavailable(_) => (lang.pick("Không có giọng nói", "No voice guide"), false),
    };
    buttons.push((voice.into(), Action::Speak, can));
    buttons.push((
        lang.pick("English", "Tiếng Việt").into(),
        Action::ToggleLang,
        true,
    ));
    let row = f.footer.shrink(f.gap);
    let n = buttons.len() as f32;
    let w = (row.width() - f.gap * (n - 1.0)) / n;
    for (i, (label, act, enabled)) in buttons.into_iter().enumerate() {
        let rect = Rect::from_min_size(
            row.min + vec2(i as f32 * (w + f.gap), 0.0),
            vec2(w, row.height()),
        );
        let size = (34.0 * s).clamp(20.0, row.height() * 0.3);
        let (fill, ink) = if enabled {
            (BAR, ON_DARK)
        } else {
            (CLOSED, CLOSED_INK)
        };
        if button(ui, rect, fill, ink, &[(label, size, true)], enabled).clicked() {
            *action = Some(act);
        }
    }
}

fn warning(ui: &mut egui::Ui, f: &Frame, v: &View<'_>, action: &mut Option<Action>) {
    let s = f.scale;
    let secs = v.returns_in.unwrap_or(0);
    let body = f.body;
    let rect = Rect::from_center_size(
        body.center(),
        vec2(body.width(), (440.0 * s).max(2.0 * MIN_TARGET + 100.0)),
    );
    // The panel takes the touch itself, so a tap on it never lands on a button beneath.
    let blocker = ui.allocate_rect(rect, egui::Sense::click());
    ui.painter().rect_filled(rect, 20.0, WARN);
    ui.painter().rect_stroke(
        rect,
        20.0,
        egui::Stroke::new(4.0, INK),
        egui::StrokeKind::Inside,
    );
    let text = Rect::from_min_max(
        rect.min + vec2(24.0, 24.0),
        pos2(rect.right() - 24.0, rect.center().y + 20.0 * s),
    );
    lines(
        ui,
        text,
        &[(words::reset_warning(v.lang, secs), 48.0 * s, true, INK)],
    );
    let go = Rect::from_center_size(
        pos2(
            rect.center().x,
            rect.bottom() - 24.0 - (MIN_TARGET.max(140.0 * s)) / 2.0,
        ),
        vec2(rect.width() * 0.6, MIN_TARGET.max(140.0 * s)),
    );
    let pressed = button(
        ui,
        go,
        FIELD,
        ON_DARK,
        &[(v.lang.pick("Tiếp tục", "Continue").into(), 46.0 * s, true)],
        true,
    )
    .clicked();
    if pressed || blocker.clicked() {
        *action = Some(Action::KeepGoing);
    }
}
