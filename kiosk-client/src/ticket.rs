//! The printed ticket: what it says and how it is laid out on the paper's exact width.
//!
//! Top to bottom: center name, service field (wrapped by words), the number (by far the
//! largest thing), the priority mark as a black band, people ahead and the estimate, the time
//! of issue in the center's time zone, the QR code to `/t/{track}` with its line, and the
//! admin's footer. Everything is drawn with the embedded DejaVu fonts and thresholded to
//! 1 bit, so diacritics print on any printer whatever its code pages.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use luot_shared::Priority;
use luot_shared::StateView;
use luot_shared::protocol::TicketView;
use qrcode::{Color, EcLevel, QrCode};

use crate::raster::{Bitmap, Face, NBSP, RasterError, render_line, text_width, wrap};

/// The paper roll, by the width the printer prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Paper {
    /// 80 mm paper: 576 dots at 8 dots/mm.
    #[default]
    Mm80,
    /// 58 mm paper: 384 dots.
    Mm58,
}

impl Paper {
    /// Dots across the printable width.
    pub fn dots(self) -> usize {
        match self {
            Paper::Mm80 => 576,
            Paper::Mm58 => 384,
        }
    }

    /// White dots kept at each side, so nothing touches the edge of the paper.
    fn margin(self) -> usize {
        match self {
            Paper::Mm80 => 24,
            Paper::Mm58 => 16,
        }
    }

    /// Text sizes shrink less than the paper: small text must stay readable.
    fn text_scale(self) -> f32 {
        match self {
            Paper::Mm80 => 1.0,
            Paper::Mm58 => 0.85,
        }
    }
}

impl FromStr for Paper {
    type Err = String;

    fn from_str(s: &str) -> Result<Paper, String> {
        match s.trim_end_matches("mm") {
            "80" => Ok(Paper::Mm80),
            "58" => Ok(Paper::Mm58),
            _ => Err(format!("paper is 80 or 58 (mm), not {s:?}")),
        }
    }
}

impl std::fmt::Display for Paper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Paper::Mm80 => "80",
            Paper::Mm58 => "58",
        })
    }
}

/// The language of the ticket's own words (names come from the server as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// Tiếng Việt.
    #[default]
    Vietnamese,
    /// English.
    English,
}

/// What the center says on every ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct CenterInfo {
    /// Center name.
    pub name: String,
    /// The admin's footer line, if any.
    pub footer: Option<String>,
    /// The center's time zone, for the time of issue.
    pub timezone: TimeZone,
}

impl CenterInfo {
    /// From the server's state. An unknown zone name falls back to the system's zone.
    pub fn from_state(state: &StateView) -> CenterInfo {
        CenterInfo {
            name: state.center.clone(),
            footer: state.ticket_footer.clone(),
            timezone: TimeZone::get(&state.timezone).unwrap_or_else(|_| TimeZone::system()),
        }
    }
}

/// Everything a ticket says.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFace {
    /// Center name (empty: left out).
    pub center: String,
    /// Service field name.
    pub service: String,
    /// The number.
    pub number: String,
    /// The claimed priority, if any.
    pub priority: Option<Priority>,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// The center's time zone.
    pub timezone: TimeZone,
    /// People ahead.
    pub ahead: u32,
    /// Estimated seconds until the call.
    pub estimated_wait_s: u64,
    /// The tracking link for the QR code (`{server}/t/{track}`), if the server gave a track.
    pub track_url: Option<String>,
    /// The admin's footer line.
    pub footer: Option<String>,
    /// Language of the ticket's words.
    pub language: Language,
}

impl TicketFace {
    /// The face of an issued ticket; `server` is the base URL the kiosk talks to, which is
    /// the one phones on the center's Wi-Fi reach too.
    pub fn new(
        ticket: &TicketView,
        center: &CenterInfo,
        server: &str,
        language: Language,
    ) -> TicketFace {
        TicketFace {
            center: center.name.clone(),
            service: ticket.service_name.clone(),
            number: ticket.number.clone(),
            priority: ticket.priority,
            issued_at: ticket.issued_at,
            timezone: center.timezone.clone(),
            ahead: ticket.ahead,
            estimated_wait_s: ticket.estimated_wait_s,
            track_url: ticket.track.as_ref().map(|t| track_url(server, t)),
            footer: center.footer.clone().filter(|f| !f.trim().is_empty()),
            language,
        }
    }
}

/// `{server}/t/{track}`.
pub fn track_url(server: &str, track: &str) -> String {
    format!("{}/t/{track}", server.trim_end_matches('/'))
}

/// The label of a priority category in `language`.
pub fn priority_label(priority: Priority, language: Language) -> &'static str {
    match language {
        Language::Vietnamese => priority.label_vi(),
        Language::English => match priority {
            Priority::Elderly => "Elderly person",
            Priority::Disability => "Person with a disability",
            Priority::Pregnant => "Pregnant woman",
            Priority::YoungChild => "With a young child",
            Priority::Meritorious => "Person of national merit",
        },
    }
}

/// "khoảng 25 phút" / "about 25 min": the estimate in whole minutes, rounded up, its words
/// joined by no-break spaces.
pub fn estimate_text(seconds: u64, language: Language) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    let (h, m) = (minutes / 60, minutes % 60);
    match (language, h, m) {
        (Language::Vietnamese, 0, m) => format!("khoảng {m} phút"),
        (Language::Vietnamese, h, 0) => format!("khoảng {h} giờ"),
        (Language::Vietnamese, h, m) => format!("khoảng {h} giờ {m} phút"),
        (Language::English, 0, m) => format!("about {m} min"),
        (Language::English, h, 0) => format!("about {h} h"),
        (Language::English, h, m) => format!("about {h} h {m} min"),
    }
    // Printed, the estimate is one unit: never "khoảng 25" on one line and "phút" below.
    .replace(' ', &NBSP.to_string())
}

/// `text` with no-break spaces: a label that wraps as one piece.
fn unbroken(text: &str) -> String {
    text.replace(' ', &NBSP.to_string())
}

/// The lines of the ticket's own words, in order, so the screen can say the same.
struct Words {
    your_number: &'static str,
    priority: &'static str,
    ahead: String,
    wait: String,
    issued: String,
    scan: &'static str,
}

fn words(face: &TicketFace) -> Words {
    let local = face.issued_at.to_zoned(face.timezone.clone());
    let time = local.strftime("%H:%M");
    let date = local.strftime("%d/%m/%Y");
    match face.language {
        Language::Vietnamese => Words {
            your_number: "SỐ THỨ TỰ CỦA BẠN",
            priority: "ƯU TIÊN",
            ahead: match face.ahead {
                0 => "Không có ai chờ trước bạn".to_owned(),
                n => format!("Số người chờ trước bạn: {n}"),
            },
            wait: if face.ahead == 0 && face.estimated_wait_s == 0 {
                "Sắp đến lượt bạn".to_owned()
            } else {
                format!(
                    "{} {}",
                    unbroken("Thời gian chờ dự kiến:"),
                    estimate_text(face.estimated_wait_s, face.language)
                )
            },
            issued: format!("Lấy số lúc {time} ngày {date}"),
            scan: "Quét mã để theo dõi lượt",
        },
        Language::English => Words {
            your_number: "YOUR NUMBER",
            priority: "PRIORITY",
            ahead: match face.ahead {
                0 => "Nobody is waiting ahead of you".to_owned(),
                1 => "1 person ahead of you".to_owned(),
                n => format!("{n} people ahead of you"),
            },
            wait: if face.ahead == 0 && face.estimated_wait_s == 0 {
                "You are next".to_owned()
            } else {
                format!(
                    "{} {}",
                    unbroken("Estimated wait:"),
                    estimate_text(face.estimated_wait_s, face.language)
                )
            },
            issued: format!("Issued at {time} on {date}"),
            scan: "Scan to follow your turn",
        },
    }
}

/// Blocks the paper width wide, stacked top to bottom.
struct Column {
    paper: Paper,
    blocks: Vec<Bitmap>,
}

impl Column {
    fn new(paper: Paper) -> Column {
        Column {
            paper,
            blocks: Vec::new(),
        }
    }

    fn content_width(&self) -> usize {
        self.paper.dots() - 2 * self.paper.margin()
    }

    fn gap(&mut self, rows: usize) -> Result<(), RasterError> {
        let rows = (rows as f32 * self.paper.text_scale()).round() as usize;
        self.blocks.push(Bitmap::new(self.paper.dots(), rows)?);
        Ok(())
    }

    fn rule(&mut self) -> Result<(), RasterError> {
        let mut b = Bitmap::new(self.paper.dots(), 2)?;
        b.fill_rect(self.paper.margin(), 0, self.content_width(), 2, true);
        self.blocks.push(b);
        Ok(())
    }

    /// Wrapped, centered text at `size` (before the paper's text scale); returns the block's
    /// index.
    fn text(&mut self, text: &str, face: Face, size: f32) -> Result<usize, RasterError> {
        let size = size * self.paper.text_scale();
        let width = self.content_width();
        let lines = wrap(text, face, size, width as f32);
        let rendered = lines
            .iter()
            .map(|l| render_line(l, face, size))
            .collect::<Result<Vec<_>, _>>()?;
        let spacing = (size * 0.12).round() as usize;
        let height: usize = rendered.iter().map(|l| l.bitmap.height()).sum::<usize>()
            + spacing * rendered.len().saturating_sub(1);
        let mut block = Bitmap::new(self.paper.dots(), height)?;
        let mut y = 0;
        for line in &rendered {
            let w = line.bitmap.width().min(width);
            let x = self.paper.margin() + (width - w) / 2;
            block.blit(&line.bitmap, x, y);
            y += line.bitmap.height() + spacing;
        }
        self.blocks.push(block);
        Ok(self.blocks.len() - 1)
    }

    /// One line as large as `max_size` allows within the width (the number).
    fn fitted(&mut self, text: &str, face: Face, max_size: f32) -> Result<(), RasterError> {
        let width = self.content_width() as f32;
        let mut size = max_size;
        while size > 12.0 && text_width(text, face, size) > width {
            size -= 2.0;
        }
        if text_width(text, face, size) > width {
            // Absurdly long: wrap rather than overflow.
            self.text(text, face, size / self.paper.text_scale())?;
            return Ok(());
        }
        let line = render_line(text, face, size)?;
        // Trim the empty rows above the digits and below the baseline: at this size the
        // font's line box is mostly air.
        let (_, top, _, bottom) = line.bitmap.ink_bounds().unwrap_or((0, 0, 0, 0));
        let mut block = Bitmap::new(self.paper.dots(), bottom - top)?;
        let w = line.bitmap.width().min(self.content_width());
        let x = self.paper.margin() + (self.content_width() - w) / 2;
        let mut trimmed = Bitmap::new(line.bitmap.width(), bottom - top)?;
        for yy in top..bottom {
            for xx in 0..line.bitmap.width() {
                if line.bitmap.get(xx, yy) {
                    trimmed.set(xx, yy - top, true);
                }
            }
        }
        block.blit(&trimmed, x, 0);
        self.blocks.push(block);
        Ok(())
    }

    /// Inverts a text block across the content width with a little padding: white on black.
    fn band(&mut self, index: usize, pad: usize) -> Result<(), RasterError> {
        let inner = &self.blocks[index];
        let mut block = Bitmap::new(self.paper.dots(), inner.height() + 2 * pad)?;
        block.blit(inner, 0, pad);
        block.invert_rect(self.paper.margin(), 0, self.content_width(), block.height());
        self.blocks[index] = block;
        Ok(())
    }

    fn image(&mut self, image: &Bitmap) -> Result<(), RasterError> {
        let mut block = Bitmap::new(self.paper.dots(), image.height())?;
        let x = (self.paper.dots().saturating_sub(image.width())) / 2;
        block.blit(image, x, 0);
        self.blocks.push(block);
        Ok(())
    }

    fn finish(self) -> Result<Bitmap, RasterError> {
        Bitmap::stack(&self.blocks)
    }
}

/// The QR code of `url` for `paper`: each module a whole number of dots (as many as fit
/// about a third of the paper), with the standard 4-module quiet zone.
///
/// # Errors
///
/// When the text is too long for a QR code, or the image is out of bounds.
pub fn qr_code(url: &str, paper: Paper) -> Result<Bitmap, RasterError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| RasterError::Qr(e.to_string()))?;
    let modules = code.width();
    let quiet = 4;
    let total = modules + 2 * quiet;
    let target = match paper {
        Paper::Mm80 => 240,
        Paper::Mm58 => 200,
    };
    let scale = (target / total).max(2);
    let colors = code.to_colors();
    let mut out = Bitmap::new(total * scale, total * scale)?;
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules, i / modules);
            out.fill_rect(
                (mx + quiet) * scale,
                (my + quiet) * scale,
                scale,
                scale,
                true,
            );
        }
    }
    Ok(out)
}

/// Lays out the ticket on `paper` with a QR code made beforehand by [`qr_code`] (`None`:
/// the ticket has no tracking link).
///
/// # Errors
///
/// When a piece is out of bounds (a footer thousands of words long).
pub fn render_with_qr(
    face: &TicketFace,
    paper: Paper,
    qr: Option<&Bitmap>,
) -> Result<Bitmap, RasterError> {
    let w = words(face);
    let mut col = Column::new(paper);
    col.gap(24)?;
    if !face.center.trim().is_empty() {
        col.text(&face.center, Face::Regular, 24.0)?;
        col.gap(12)?;
        col.rule()?;
        col.gap(16)?;
    }
    col.text(&face.service, Face::Bold, 34.0)?;
    col.gap(18)?;
    col.text(w.your_number, Face::Regular, 22.0)?;
    col.gap(14)?;
    col.fitted(
        &face.number,
        Face::Bold,
        200.0 * paper.dots() as f32 / 576.0,
    )?;
    col.gap(22)?;
    if let Some(priority) = face.priority {
        let mark = format!(
            "{} – {}",
            w.priority,
            priority_label(priority, face.language)
        );
        let index = col.text(&mark, Face::Bold, 28.0)?;
        col.band(index, 8)?;
        col.gap(18)?;
    }
    col.text(&w.ahead, Face::Regular, 28.0)?;
    col.gap(6)?;
    col.text(&w.wait, Face::Regular, 28.0)?;
    col.gap(12)?;
    col.text(&w.issued, Face::Regular, 22.0)?;
    if let Some(qr) = qr {
        col.gap(10)?;
        col.image(qr)?;
        col.text(w.scan, Face::Regular, 22.0)?;
    }
    if let Some(footer) = &face.footer {
        col.gap(14)?;
        col.rule()?;
        col.gap(10)?;
        col.text(footer, Face::Regular, 20.0)?;
    }
    col.gap(24)?;
    col.finish()
}

/// Lays out the ticket on `paper`, QR code included.
///
/// # Errors
///
/// As [`render_with_qr`] and [`qr_code`].
pub fn render(face: &TicketFace, paper: Paper) -> Result<Bitmap, RasterError> {
    let qr = face
        .track_url
        .as_deref()
        .map(|url| qr_code(url, paper))
        .transpose()?;
    render_with_qr(face, paper, qr.as_ref())
}

/// Every Vietnamese letter in lower case: each vowel with each of the six tones, then the
/// consonants (đ included). Upper case is `to_uppercase` of each.
pub fn vietnamese_letters() -> Vec<String> {
    // None, huyền, sắc, hỏi, ngã, nặng, as combining marks; NFC composes each pair.
    const TONES: [&str; 6] = ["", "\u{300}", "\u{301}", "\u{309}", "\u{303}", "\u{323}"];
    const VOWELS: [&str; 12] = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y"];
    const CONSONANTS: [&str; 18] = [
        "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "q", "r", "s", "t", "v", "x", "f",
    ];
    let mut letters = Vec::new();
    for vowel in VOWELS {
        for tone in TONES {
            letters.push(luot_display::text::nfc(&format!("{vowel}{tone}")));
        }
    }
    letters.extend(CONSONANTS.iter().map(|c| (*c).to_owned()));
    letters
}

/// The print-test sheet: every Vietnamese letter in both cases, sample lines, the sizes a
/// ticket uses, and a QR code, laid out as a ticket is.
///
/// # Errors
///
/// As [`render_with_qr`].
pub fn test_sheet(paper: Paper) -> Result<Bitmap, RasterError> {
    let letters = vietnamese_letters();
    let mut col = Column::new(paper);
    col.gap(24)?;
    col.text("Lượt – in thử / print test", Face::Bold, 30.0)?;
    col.gap(8)?;
    col.text(
        &format!("Giấy {} mm, {} chấm", paper, paper.dots()),
        Face::Regular,
        22.0,
    )?;
    col.gap(12)?;
    col.rule()?;
    col.gap(12)?;
    // Six tones of a vowel per group, so a missing mark is easy to spot.
    let lower: Vec<String> = letters.chunks(6).map(|c| c.concat()).collect();
    let upper: Vec<String> = lower.iter().map(|g| g.to_uppercase()).collect();
    col.text(&lower.join(" "), Face::Regular, 30.0)?;
    col.gap(10)?;
    col.text(&upper.join(" "), Face::Regular, 30.0)?;
    col.gap(10)?;
    col.text(&lower.join(" "), Face::Bold, 30.0)?;
    col.gap(10)?;
    col.text(&upper.join(" "), Face::Bold, 30.0)?;
    col.gap(12)?;
    col.rule()?;
    col.gap(12)?;
    col.text(
        "Trung tâm Hành chính công – Lao động - Thương binh và Xã hội",
        Face::Bold,
        34.0,
    )?;
    col.gap(10)?;
    col.fitted("1005", Face::Bold, 200.0 * paper.dots() as f32 / 576.0)?;
    col.gap(12)?;
    let mark = col.text("ƯU TIÊN – Người có công", Face::Bold, 28.0)?;
    col.band(mark, 8)?;
    col.gap(12)?;
    col.text(
        "Quý khách vui lòng chờ đến lượt. Xin cảm ơn!",
        Face::Regular,
        22.0,
    )?;
    col.gap(10)?;
    let qr = qr_code("https://luot.invalid/t/print-test", paper)?;
    col.image(&qr)?;
    col.text("Quét mã để theo dõi lượt", Face::Regular, 22.0)?;
    col.gap(24)?;
    col.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use ab_glyph::Font;

    fn face(service: &str, priority: Option<Priority>) -> TicketFace {
        TicketFace {
            center: "Trung tâm Phục vụ hành chính công tỉnh Hà Tĩnh".into(),
            service: service.into(),
            number: "1005".into(),
            priority,
            issued_at: "2026-12-01T01:15:00Z".parse().unwrap(),
            timezone: TimeZone::get("Asia/Ho_Chi_Minh").unwrap(),
            ahead: 4,
            estimated_wait_s: 25 * 60,
            track_url: Some("http://192.168.1.10:8080/t/AbCdEf0123456789xyzw".into()),
            footer: Some("Giữ vé cho đến khi được phục vụ. Xin cảm ơn!".into()),
            language: Language::Vietnamese,
        }
    }

    const LONG: &str = "Lao động - Thương binh và Xã hội, Bảo hiểm xã hội và Chính sách người có công với cách mạng";

    /// The raster is exactly the printer's width on both papers.
    #[test]
    fn raster_is_exactly_the_paper_width() {
        for paper in [Paper::Mm80, Paper::Mm58] {
            let image = render(&face("Tư pháp - Hộ tịch", None), paper).unwrap();
            assert_eq!(image.width(), paper.dots());
            assert_eq!(image.row_bytes(), paper.dots() / 8);
            let sheet = test_sheet(paper).unwrap();
            assert_eq!(sheet.width(), paper.dots());
        }
        assert_eq!(Paper::Mm80.dots(), 576);
        assert_eq!(Paper::Mm58.dots(), 384);
    }

    /// A long Vietnamese service name wraps to several lines and no ink reaches the margins.
    #[test]
    fn long_service_name_wraps_inside_the_margins() {
        for paper in [Paper::Mm80, Paper::Mm58] {
            let size = 34.0 * paper.text_scale();
            let width = (paper.dots() - 2 * paper.margin()) as f32;
            let lines = wrap(LONG, Face::Bold, size, width);
            assert!(lines.len() > 1, "{lines:?}");
            assert_eq!(
                lines.join(" "),
                luot_display::text::nfc(LONG),
                "no word lost"
            );
            let image = render(&face(LONG, Some(Priority::Meritorious)), paper).unwrap();
            // Outside the priority band (which is inverted, so black to the margin), no
            // ink in the side margins.
            let (left, _, right, _) = image.ink_bounds().unwrap();
            assert!(left >= paper.margin(), "{left}");
            assert!(right <= paper.dots() - paper.margin(), "{right}");
        }
    }

    /// The number is by far the tallest text on the ticket.
    #[test]
    fn number_is_the_biggest_thing() {
        let face = face("Tư pháp - Hộ tịch", None);
        let number = render_line(&face.number, Face::Bold, 200.0).unwrap();
        let (_, top, _, bottom) = number.bitmap.ink_bounds().unwrap();
        let service = render_line(&face.service, Face::Bold, 34.0).unwrap();
        let (_, st, _, sb) = service.bitmap.ink_bounds().unwrap();
        assert!(bottom - top > 3 * (sb - st));
    }

    /// Every Vietnamese letter, lower and upper, in both faces, has its own glyph with ink:
    /// none falls back to the font's .notdef box.
    #[test]
    fn every_vietnamese_letter_has_a_glyph() {
        let letters = vietnamese_letters();
        assert_eq!(letters.len(), 12 * 6 + 18);
        for face in [Face::Regular, Face::Bold] {
            let notdef = render_line("\u{10fffd}", face, 40.0).unwrap().bitmap;
            assert_eq!(face.font().glyph_id('\u{10fffd}').0, 0);
            for letter in &letters {
                for l in [letter.clone(), letter.to_uppercase()] {
                    assert_eq!(l.chars().count(), 1, "{l:?} is one code point in NFC");
                    let c = l.chars().next().unwrap();
                    assert_ne!(face.font().glyph_id(c).0, 0, "{l} missing in {face:?}");
                    let bitmap = render_line(&l, face, 40.0).unwrap().bitmap;
                    assert!(bitmap.ink() > 0, "{l} has no ink");
                    assert_ne!(bitmap, notdef, "{l} renders as .notdef");
                }
            }
        }
    }

    /// Times print in the center's zone; estimates read as Vietnamese and English people say.
    #[test]
    fn words_of_the_ticket() {
        let w = words(&face("x", None));
        assert_eq!(w.issued, "Lấy số lúc 08:15 ngày 01/12/2026");
        assert_eq!(w.ahead, "Số người chờ trước bạn: 4");
        let plain = |s: String| s.replace(NBSP, " ");
        assert_eq!(plain(w.wait), "Thời gian chờ dự kiến: khoảng 25 phút");
        assert_eq!(
            plain(estimate_text(61, Language::Vietnamese)),
            "khoảng 2 phút"
        );
        assert_eq!(
            plain(estimate_text(3600, Language::Vietnamese)),
            "khoảng 1 giờ"
        );
        assert_eq!(
            plain(estimate_text(4800, Language::English)),
            "about 1 h 20 min"
        );
        assert_eq!(plain(estimate_text(0, Language::English)), "about 1 min");
        assert_eq!(track_url("http://h:1/", "abc"), "http://h:1/t/abc");
        assert_eq!("58".parse(), Ok(Paper::Mm58));
        assert_eq!("80mm".parse(), Ok(Paper::Mm80));
        assert!("76".parse::<Paper>().is_err());
    }

    /// The QR code has whole-dot modules and a white quiet zone of four modules.
    #[test]
    fn qr_has_quiet_zone() {
        let qr = qr_code(
            "http://192.168.1.10:8080/t/AbCdEf0123456789xyzw",
            Paper::Mm80,
        )
        .unwrap();
        let code = QrCode::with_error_correction_level(
            "http://192.168.1.10:8080/t/AbCdEf0123456789xyzw".as_bytes(),
            EcLevel::M,
        )
        .unwrap();
        let total = code.width() + 8;
        assert_eq!(qr.width() % total, 0);
        let scale = qr.width() / total;
        assert!(scale >= 3);
        let (left, top, right, bottom) = qr.ink_bounds().unwrap();
        assert_eq!((left, top), (4 * scale, 4 * scale));
        assert_eq!(
            (right, bottom),
            (qr.width() - 4 * scale, qr.height() - 4 * scale)
        );
    }
}
