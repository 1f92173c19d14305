//! A 1-bit bitmap as thermal printers take it: one bit per dot, 1 = black, rows packed
//! most-significant bit first (the leftmost dot is bit 7 of a row's first byte), each row
//! `ceil(width / 8)` bytes. Text is drawn with the embedded DejaVu fonts and thresholded.

use std::io::Write;
use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use unicode_normalization::UnicodeNormalization;

/// Coverage at or above which a dot of a glyph is printed black. Below one half, so the thin
/// strokes of small marks (the hook of ẩ, the tilde of ẵ) stay joined at 8 dots/mm.
const INK_THRESHOLD: f32 = 0.35;
/// The tallest bitmap this crate makes or decodes (a ticket is ~1,500 rows; 20,000 rows at
/// 8 dots/mm is 2.5 m of paper).
pub const MAX_ROWS: usize = 20_000;
/// The widest bitmap this crate makes or decodes (a 112 mm printer has 832 dots).
pub const MAX_WIDTH: usize = 2_048;

/// Why a bitmap cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    /// Width or height outside the bounds.
    #[error("a {width}×{height} bitmap is outside the bounds ({MAX_WIDTH}×{MAX_ROWS})")]
    Size {
        /// Dots across.
        width: usize,
        /// Rows.
        height: usize,
    },
    /// The PNG could not be written or read.
    #[error("PNG: {0}")]
    Png(String),
    /// The text does not fit in a QR code.
    #[error("QR code: {0}")]
    Qr(String),
    /// A file could not be written or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A 1-bit image.
#[derive(Clone, PartialEq, Eq)]
pub struct Bitmap {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bitmap")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("ink", &self.ink())
            .finish()
    }
}

impl Bitmap {
    /// A white bitmap.
    ///
    /// # Errors
    ///
    /// When the size is outside [`MAX_WIDTH`] × [`MAX_ROWS`].
    pub fn new(width: usize, height: usize) -> Result<Bitmap, RasterError> {
        if width > MAX_WIDTH || height > MAX_ROWS {
            return Err(RasterError::Size { width, height });
        }
        Ok(Bitmap {
            width,
            height,
            data: vec![0; width.div_ceil(8) * height],
        })
    }

    /// A bitmap from packed rows (`row_bytes(width) * height` bytes). Bits past the width in
    /// each row's last byte are cleared, so two bitmaps of the same dots compare equal.
    ///
    /// # Errors
    ///
    /// When the size is out of bounds or `data` has the wrong length.
    pub fn from_packed(width: usize, height: usize, data: Vec<u8>) -> Result<Bitmap, RasterError> {
        if width > MAX_WIDTH || height > MAX_ROWS || data.len() != width.div_ceil(8) * height {
            return Err(RasterError::Size { width, height });
        }
        let mut bitmap = Bitmap {
            width,
            height,
            data,
        };
        bitmap.clear_padding();
        Ok(bitmap)
    }

    fn clear_padding(&mut self) {
        let spare = self.row_bytes() * 8 - self.width;
        if spare == 0 || self.width == 0 {
            return;
        }
        let mask = 0xffu8 << spare;
        let stride = self.row_bytes();
        for row in self.data.chunks_mut(stride) {
            if let Some(last) = row.last_mut() {
                *last &= mask;
            }
        }
    }

    /// Dots across.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes per row: `ceil(width / 8)`.
    pub fn row_bytes(&self) -> usize {
        self.width.div_ceil(8)
    }

    /// The packed rows.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The packed bytes of rows `from..to`.
    pub fn rows(&self, from: usize, to: usize) -> &[u8] {
        let stride = self.row_bytes();
        &self.data[from.min(self.height) * stride..to.min(self.height) * stride]
    }

    /// Whether the dot at (x, y) is black (outside: white).
    pub fn get(&self, x: usize, y: usize) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        self.data[y * self.row_bytes() + x / 8] & (0x80 >> (x % 8)) != 0
    }

    /// Makes the dot at (x, y) black or white; outside the bitmap it does nothing.
    pub fn set(&mut self, x: usize, y: usize, black: bool) {
        if x >= self.width || y >= self.height {
            return;
        }
        let index = y * self.row_bytes() + x / 8;
        let bit = 0x80 >> (x % 8);
        if black {
            self.data[index] |= bit;
        } else {
            self.data[index] &= !bit;
        }
    }

    /// Black dots in all.
    pub fn ink(&self) -> usize {
        self.data.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// The smallest rectangle holding every black dot, as (left, top, right, bottom)
    /// exclusive; `None` when the bitmap is white.
    pub fn ink_bounds(&self) -> Option<(usize, usize, usize, usize)> {
        let mut bounds: Option<(usize, usize, usize, usize)> = None;
        for y in 0..self.height {
            for x in 0..self.width {
                if self.get(x, y) {
                    let b = bounds.get_or_insert((x, y, x + 1, y + 1));
                    b.0 = b.0.min(x);
                    b.1 = b.1.min(y);
                    b.2 = b.2.max(x + 1);
                    b.3 = b.3.max(y + 1);
                }
            }
        }
        bounds
    }

    /// Fills a rectangle with black (`true`) or white, clipped to the bitmap.
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, black: bool) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.set(xx, yy, black);
            }
        }
    }

    /// Copies the black dots of `image` onto this bitmap with its top-left at (x, y),
    /// clipped.
    pub fn blit(&mut self, image: &Bitmap, x: usize, y: usize) {
        for yy in 0..image.height {
            for xx in 0..image.width {
                if image.get(xx, yy) {
                    self.set(x + xx, y + yy, true);
                }
            }
        }
    }

    /// Inverts every dot of a rectangle, clipped to the bitmap.
    pub fn invert_rect(&mut self, x: usize, y: usize, w: usize, h: usize) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                let dot = self.get(xx, yy);
                self.set(xx, yy, !dot);
            }
        }
    }

    /// Stacks `parts` top to bottom into one bitmap as wide as the widest.
    ///
    /// # Errors
    ///
    /// When the result would be out of bounds.
    pub fn stack(parts: &[Bitmap]) -> Result<Bitmap, RasterError> {
        let width = parts.iter().map(Bitmap::width).max().unwrap_or(0);
        let height = parts.iter().map(Bitmap::height).sum();
        let mut out = Bitmap::new(width, height)?;
        let mut y = 0;
        for part in parts {
            out.blit(part, 0, y);
            y += part.height;
        }
        Ok(out)
    }

    /// The bitmap as a 1-bit grayscale PNG (black ink on white paper).
    ///
    /// # Errors
    ///
    /// When the encoder fails.
    pub fn to_png(&self) -> Result<Vec<u8>, RasterError> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::One);
            let mut writer = encoder
                .write_header()
                .map_err(|e| RasterError::Png(e.to_string()))?;
            // In a 1-bit grayscale PNG 0 is black; here 1 is black.
            let inverted: Vec<u8> = self.data.iter().map(|b| !b).collect();
            writer
                .write_image_data(&inverted)
                .map_err(|e| RasterError::Png(e.to_string()))?;
            writer
                .finish()
                .map_err(|e| RasterError::Png(e.to_string()))?;
        }
        Ok(out)
    }

    /// Writes [`Bitmap::to_png`] to `path` (through a temporary file renamed into place, so a
    /// reader never sees half a PNG).
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn write_png(&self, path: &Path) -> Result<(), RasterError> {
        let png = self.to_png()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&png)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Reads a grayscale PNG (any bit depth; dots darker than mid-gray are black), such as
    /// one [`Bitmap::write_png`] wrote.
    ///
    /// # Errors
    ///
    /// When it is not a grayscale PNG within the bounds.
    pub fn read_png(bytes: &[u8]) -> Result<Bitmap, RasterError> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder
            .read_info()
            .map_err(|e| RasterError::Png(e.to_string()))?;
        let (width, height) = {
            let info = reader.info();
            (info.width as usize, info.height as usize)
        };
        let mut out = Bitmap::new(width, height)?;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| RasterError::Png("image too large".into()))?;
        let mut buf = vec![0; size];
        let frame = reader
            .next_frame(&mut buf)
            .map_err(|e| RasterError::Png(e.to_string()))?;
        let channels = match frame.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            other => return Err(RasterError::Png(format!("not grayscale: {other:?}"))),
        };
        let sample = match frame.bit_depth {
            png::BitDepth::Eight => 1,
            png::BitDepth::Sixteen => 2,
            other => return Err(RasterError::Png(format!("unexpected depth {other:?}"))),
        };
        let stride = frame.line_size;
        for y in 0..height {
            for x in 0..width {
                let value = buf[y * stride + x * channels * sample];
                out.set(x, y, value < 128);
            }
        }
        Ok(out)
    }
}

/// A face of the embedded font.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// DejaVu Sans.
    Regular,
    /// DejaVu Sans Bold.
    Bold,
}

impl Face {
    /// The parsed font.
    pub fn font(self) -> &'static FontRef<'static> {
        use std::sync::OnceLock;
        static REGULAR: OnceLock<FontRef<'static>> = OnceLock::new();
        static BOLD: OnceLock<FontRef<'static>> = OnceLock::new();
        let (cell, bytes) = match self {
            Face::Regular => (&REGULAR, luot_display::text::REGULAR),
            Face::Bold => (&BOLD, luot_display::text::BOLD),
        };
        cell.get_or_init(|| {
            // The bytes are the font shipped in the binary; a parse failure is a build
            // mistake that every test would show at once.
            #[allow(clippy::expect_used)]
            FontRef::try_from_slice(bytes).expect("the embedded DejaVu font parses")
        })
    }
}

/// A line of text rendered on its own: its dots, and where its baseline is.
#[derive(Debug, Clone)]
pub struct TextLine {
    /// The dots, exactly as wide as the text's advance (plus any ink past it) and as tall as
    /// the font's line or the ink, whichever is taller.
    pub bitmap: Bitmap,
    /// The baseline's row in `bitmap`.
    pub baseline: usize,
}

/// The advance width of `text` (already NFC) in dots at `size` (pixel height of the em).
pub fn text_width(text: &str, face: Face, size: f32) -> f32 {
    let font = face.font().as_scaled(PxScale::from(size));
    let mut width = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        prev = Some(id);
    }
    width
}

/// Renders one line of `text` (normalized to NFC here) at `size`, thresholded to 1 bit.
///
/// # Errors
///
/// When the line would be out of bounds.
pub fn render_line(text: &str, face: Face, size: f32) -> Result<TextLine, RasterError> {
    let text: String = text.nfc().collect();
    let font = face.font();
    let scaled = font.as_scaled(PxScale::from(size));
    // Lay out on a baseline at y = 0, then find the real ink extent: capitals with two marks
    // (Ấ, Ẫ) rise above the font's ascent, and a line must never clip them.
    let mut glyphs = Vec::new();
    let mut x = 0.0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            x += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(size, ab_glyph::point(x, 0.0)));
        x += scaled.h_advance(id);
        prev = Some(id);
    }
    let outlines: Vec<_> = glyphs
        .into_iter()
        .filter_map(|g| font.outline_glyph(g))
        .collect();
    let mut top = -scaled.ascent();
    let mut bottom = -scaled.descent();
    let mut right = x;
    for o in &outlines {
        let b = o.px_bounds();
        top = top.min(b.min.y);
        bottom = bottom.max(b.max.y);
        right = right.max(b.max.x);
    }
    let top = top.floor();
    let width = right.ceil().max(0.0) as usize;
    let height = (bottom.ceil() - top).max(0.0) as usize;
    let mut bitmap = Bitmap::new(width, height)?;
    for o in &outlines {
        let b = o.px_bounds();
        let ox = b.min.x.floor();
        let oy = b.min.y.floor() - top;
        o.draw(|gx, gy, coverage| {
            if coverage >= INK_THRESHOLD {
                let px = ox + gx as f32;
                let py = oy + gy as f32;
                if px >= 0.0 && py >= 0.0 {
                    bitmap.set(px as usize, py as usize, true);
                }
            }
        });
    }
    Ok(TextLine {
        bitmap,
        baseline: (-top) as usize,
    })
}

/// A space that never breaks a line (`khoảng 25 phút` stays together).
pub const NBSP: char = '\u{a0}';

/// Splits `text` into lines no wider than `max_width` dots at `size`, breaking at spaces
/// (never at [`NBSP`]) into as few lines as fit, then evening their lengths so no line is a
/// lone word; a single word wider than the line is broken between letters, so nothing ever
/// runs past the edge.
pub fn wrap(text: &str, face: Face, size: f32, max_width: f32) -> Vec<String> {
    let text: String = text.nfc().collect();
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() && c != NBSP)
        .filter(|w| !w.is_empty())
        .collect();
    let greedy = wrap_words(&words, face, size, max_width);
    if greedy.len() < 2 {
        return greedy;
    }
    // The narrowest width that still needs no more lines, but never narrower than the
    // widest word (that would cut a word which fits the paper).
    let widest = words
        .iter()
        .map(|w| text_width(w, face, size))
        .fold(0.0f32, f32::max)
        .min(max_width);
    let (mut lo, mut hi) = (widest, max_width);
    for _ in 0..12 {
        let mid = (lo + hi) / 2.0;
        if wrap_words(&words, face, size, mid).len() <= greedy.len() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    wrap_words(&words, face, size, hi)
}

fn wrap_words(words: &[&str], face: Face, size: f32, max_width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in words {
        let candidate = if line.is_empty() {
            (*word).to_owned()
        } else {
            format!("{line} {word}")
        };
        if text_width(&candidate, face, size) <= max_width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // The word alone: if even that is too wide, cut it between letters.
        let mut piece = String::new();
        for c in word.chars() {
            let mut next = piece.clone();
            next.push(c);
            if !piece.is_empty() && text_width(&next, face, size) > max_width {
                lines.push(std::mem::take(&mut piece));
                piece.push(c);
            } else {
                piece = next;
            }
        }
        line = piece;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Rows are packed MSB first, ceil(width/8) bytes, and padding bits never count.
    #[test]
    fn packing_is_msb_first_with_clean_padding() {
        let mut b = Bitmap::new(10, 2).unwrap();
        assert_eq!(b.row_bytes(), 2);
        b.set(0, 0, true);
        b.set(9, 1, true);
        assert_eq!(b.data(), &[0x80, 0x00, 0x00, 0x40]);
        let from = Bitmap::from_packed(10, 2, vec![0x80, 0x3f, 0x00, 0x7f]).unwrap();
        assert_eq!(from.data(), &[0x80, 0x00, 0x00, 0x40]);
        assert!(Bitmap::from_packed(10, 2, vec![0; 3]).is_err());
        assert!(Bitmap::new(MAX_WIDTH + 1, 1).is_err());
    }

    /// A bitmap written as PNG reads back as the same dots.
    #[test]
    fn png_round_trip() {
        let mut b = Bitmap::new(21, 9).unwrap();
        b.fill_rect(2, 3, 7, 4, true);
        b.set(20, 8, true);
        let back = Bitmap::read_png(&b.to_png().unwrap()).unwrap();
        assert_eq!(back, b);
    }

    /// A stacked capital with two marks is not clipped at the top of its line.
    #[test]
    fn double_marked_capitals_are_not_clipped() {
        let line = render_line("ẤẪẨ", Face::Bold, 40.0).unwrap();
        let (_, top, _, bottom) = line.bitmap.ink_bounds().unwrap();
        assert!(bottom <= line.bitmap.height());
        // The marks sit well above the cap height: ink starts near the top row, which exists.
        assert!(
            top < line.baseline / 3,
            "top {top}, baseline {}",
            line.baseline
        );
    }

    /// Wrapping keeps every line within the width, and splits an over-long word.
    #[test]
    fn wrap_stays_within_width() {
        let lines = wrap(
            "Lao động - Thương binh và Xã hội",
            Face::Regular,
            30.0,
            200.0,
        );
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(text_width(l, Face::Regular, 30.0) <= 200.0, "{l}");
        }
        // Balanced: two lines of the same count of words rather than a long one and a
        // lone word.
        let even = wrap("một hai ba bốn năm sáu bảy", Face::Regular, 30.0, 250.0);
        assert_eq!(even.len(), 2, "{even:?}");
        let counts: Vec<usize> = even.iter().map(|l| l.split(' ').count()).collect();
        assert!(counts[0].abs_diff(counts[1]) <= 1, "{even:?}");
        // A no-break space holds its words together.
        let held = wrap(
            "chờ dự kiến: khoảng\u{a0}25\u{a0}phút",
            Face::Regular,
            30.0,
            250.0,
        );
        assert!(
            held.iter().any(|l| l == "khoảng\u{a0}25\u{a0}phút"),
            "{held:?}"
        );
        let long = wrap("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Face::Bold, 40.0, 100.0);
        assert!(long.len() > 2);
        for l in &long {
            assert!(text_width(l, Face::Bold, 40.0) <= 100.0, "{l}");
        }
    }
}
