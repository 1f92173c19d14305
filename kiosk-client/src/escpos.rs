//! ESC/POS: the bytes a thermal printer takes for a raster ticket, a decoder that reads them
//! back into images (tests and `file:` debugging), and the real-time status requests.
//!
//! A job is `ESC @` (initialize), the image as `GS v 0` raster blocks of at most
//! [`MAX_STRIP_ROWS`] rows (a tall image in one block overflows the input buffer of many
//! printers), `ESC d n` (feed n lines, a little white below the text) and `GS V 66 0`
//! (function B: feed to the cutter, then a partial cut; a plain `GS V 1` would cut through
//! the last lines, which are still between the head and the cutter).

use crate::dispense::{PrinterProblem, PrinterStatus};
use crate::raster::{Bitmap, MAX_ROWS, MAX_WIDTH, RasterError};

/// The most rows one `GS v 0` block carries.
pub const MAX_STRIP_ROWS: usize = 256;
/// Lines fed after the image, before the cut.
const FEED_LINES: u8 = 3;

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;
const DLE: u8 = 0x10;
const EOT: u8 = 0x04;

/// The bytes of one printed ticket: init, the image in strips, feed, cut.
pub fn encode(image: &Bitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(image.data().len() + 64);
    out.extend_from_slice(&[ESC, b'@']);
    let width_bytes = image.row_bytes();
    let mut row = 0;
    while row < image.height() {
        let rows = (image.height() - row).min(MAX_STRIP_ROWS);
        // GS v 0 m xL xH yL yH: m = 0 (normal size), x in bytes, y in dots.
        out.extend_from_slice(&[
            GS,
            b'v',
            b'0',
            0,
            (width_bytes & 0xff) as u8,
            (width_bytes >> 8) as u8,
            (rows & 0xff) as u8,
            (rows >> 8) as u8,
        ]);
        out.extend_from_slice(image.rows(row, row + rows));
        row += rows;
    }
    out.extend_from_slice(&[ESC, b'd', FEED_LINES]);
    out.extend_from_slice(&[GS, b'V', 66, 0]);
    out
}

/// What is wrong with a byte stream that should be ESC/POS raster jobs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream stops inside a command.
    #[error("the stream ends inside a command at byte {0}")]
    Truncated(usize),
    /// A command this encoder never sends.
    #[error("unexpected byte 0x{byte:02x} at {at}")]
    Unexpected {
        /// The byte.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// A raster block in a mode other than normal size.
    #[error("GS v 0 with mode {mode} at byte {at} (only 0 is sent)")]
    Mode {
        /// The mode byte.
        mode: u8,
        /// The command's offset.
        at: usize,
    },
    /// Strips of one ticket with different widths.
    #[error("a strip {got} bytes wide after strips {expected} bytes wide at byte {at}")]
    Width {
        /// Width of the earlier strips.
        expected: usize,
        /// Width of this one.
        got: usize,
        /// The command's offset.
        at: usize,
    },
    /// The image would be out of bounds.
    #[error("{0}")]
    Size(String),
}

impl From<RasterError> for DecodeError {
    fn from(e: RasterError) -> DecodeError {
        DecodeError::Size(e.to_string())
    }
}

/// What a decoded stream held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Each cut ticket's image, in order.
    pub tickets: Vec<Bitmap>,
    /// Row counts of every `GS v 0` block, in order (to check the strip bound).
    pub strips: Vec<usize>,
    /// Raster rows after the last cut (a job that never cut).
    pub uncut_rows: usize,
    /// `DLE EOT n` requests seen, by `n`.
    pub status_requests: Vec<u8>,
}

/// Reads a stream of jobs as [`encode`] writes them (also several in a row, and any
/// `DLE EOT n` status requests between them) back into one image per cut.
///
/// # Errors
///
/// When the stream holds anything [`encode`] never writes, or stops inside a command.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut out = Decoded::default();
    let mut width: Option<usize> = None;
    let mut rows: Vec<u8> = Vec::new();
    let mut height = 0usize;
    let mut i = 0;
    let need = |i: usize, n: usize| {
        if i + n <= bytes.len() {
            Ok(())
        } else {
            Err(DecodeError::Truncated(i))
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            ESC => {
                need(i, 2)?;
                match bytes[i + 1] {
                    b'@' => i += 2,
                    b'd' => {
                        need(i, 3)?;
                        i += 3;
                    }
                    byte => return Err(DecodeError::Unexpected { byte, at: i + 1 }),
                }
            }
            GS => {
                need(i, 2)?;
                match bytes[i + 1] {
                    b'v' => {
                        need(i, 8)?;
                        if bytes[i + 2] != b'0' {
                            return Err(DecodeError::Unexpected {
                                byte: bytes[i + 2],
                                at: i + 2,
                            });
                        }
                        let mode = bytes[i + 3];
                        if mode != 0 {
                            return Err(DecodeError::Mode { mode, at: i });
                        }
                        let x = usize::from(bytes[i + 4]) | usize::from(bytes[i + 5]) << 8;
                        let y = usize::from(bytes[i + 6]) | usize::from(bytes[i + 7]) << 8;
                        if x * 8 > MAX_WIDTH.next_multiple_of(8) || height + y > MAX_ROWS {
                            return Err(DecodeError::Size(format!(
                                "{x} bytes × {} rows is out of bounds",
                                height + y
                            )));
                        }
                        if let Some(expected) = width
                            && expected != x
                        {
                            return Err(DecodeError::Width {
                                expected,
                                got: x,
                                at: i,
                            });
                        }
                        width = Some(x);
                        let len = x * y;
                        need(i + 8, len)?;
                        rows.extend_from_slice(&bytes[i + 8..i + 8 + len]);
                        height += y;
                        out.strips.push(y);
                        i += 8 + len;
                    }
                    b'V' => {
                        need(i, 3)?;
                        // Function A (`GS V m`, m = 0, 1, 48, 49) has no n; function B
                        // (m = 65, 66) has one.
                        let m = bytes[i + 2];
                        let len = match m {
                            0 | 1 | 48 | 49 => 3,
                            65 | 66 => 4,
                            byte => return Err(DecodeError::Unexpected { byte, at: i + 2 }),
                        };
                        need(i, len)?;
                        let x = width.take().unwrap_or(0);
                        let ticket = Bitmap::from_packed(x * 8, height, std::mem::take(&mut rows))?;
                        out.tickets.push(ticket);
                        height = 0;
                        i += len;
                    }
                    byte => return Err(DecodeError::Unexpected { byte, at: i + 1 }),
                }
            }
            DLE => {
                need(i, 3)?;
                if bytes[i + 1] != EOT {
                    return Err(DecodeError::Unexpected {
                        byte: bytes[i + 1],
                        at: i + 1,
                    });
                }
                out.status_requests.push(bytes[i + 2]);
                i += 3;
            }
            byte => return Err(DecodeError::Unexpected { byte, at: i }),
        }
    }
    out.uncut_rows = height;
    Ok(out)
}

/// The real-time status requests, in the order their one-byte answers come:
/// `DLE EOT 1` printer, `2` offline cause, `3` error cause, `4` roll paper sensor.
pub const STATUS_REQUESTS: [u8; 12] = [DLE, EOT, 1, DLE, EOT, 2, DLE, EOT, 3, DLE, EOT, 4];

/// Reads the four answers to [`STATUS_REQUESTS`].
///
/// Bits, after the Epson ESC/POS Command Reference, "DLE EOT n: Transmit real-time status"
/// (the same table is in the Bixolon SRP-350 and Sewoo manuals). Every answer has bit 1 and
/// bit 4 fixed on and bits 0 and 7 fixed off (`0b0xx1_xx10`), which tells an answer from
/// noise.
///
/// - n = 1, printer: bit 3 off-line.
/// - n = 2, off-line cause: bit 2 cover open; bit 3 paper being fed by the feed button;
///   bit 5 printing stopped by paper end; bit 6 an error occurred.
/// - n = 3, error cause: bit 3 auto-cutter error; bit 5 unrecoverable error; bit 6
///   automatically recoverable error (head too hot, or the cover opened while printing).
/// - n = 4, roll paper sensor: bits 2 and 3 paper near end; bits 5 and 6 paper end.
pub fn parse_status(answers: [u8; 4]) -> PrinterStatus {
    let [printer, offline, error, paper] = answers;
    if answers.iter().any(|&a| a & 0b1001_0011 != 0b0001_0010) {
        return PrinterStatus {
            problem: Some(PrinterProblem::Offline(format!(
                "the printer's status answer {answers:02x?} is not an ESC/POS status"
            ))),
            paper_low: false,
            answers_status: true,
        };
    }
    let bit = |byte: u8, n: u8| byte & (1 << n) != 0;
    let paper_low = bit(paper, 2) || bit(paper, 3);
    let paper_out = bit(paper, 5) || bit(paper, 6) || bit(offline, 5);
    let problem = if paper_out {
        Some(PrinterProblem::PaperOut)
    } else if bit(offline, 2) {
        Some(PrinterProblem::CoverOpen)
    } else if bit(error, 3) {
        Some(PrinterProblem::Error("auto-cutter error".into()))
    } else if bit(error, 5) {
        Some(PrinterProblem::Error("unrecoverable error".into()))
    } else if bit(error, 6) {
        Some(PrinterProblem::Error(
            "recoverable error (print head too hot?)".into(),
        ))
    } else if bit(offline, 6) {
        Some(PrinterProblem::Error("error".into()))
    } else if bit(printer, 3) {
        Some(PrinterProblem::Offline("the printer is off-line".into()))
    } else {
        None
    };
    PrinterStatus {
        problem,
        paper_low,
        answers_status: true,
    }
}

/// Answers to [`STATUS_REQUESTS`] a printer in that state would give (fake printers, tests).
pub fn status_answers(paper_out: bool, paper_low: bool, cover_open: bool, error: bool) -> [u8; 4] {
    let base = 0b0001_0010u8;
    let offline = paper_out || cover_open || error;
    [
        base | if offline { 1 << 3 } else { 0 },
        base | if cover_open { 1 << 2 } else { 0 }
            | if paper_out { 1 << 5 } else { 0 }
            | if error { 1 << 6 } else { 0 },
        base | if error { 1 << 5 } else { 0 },
        base | if paper_low || paper_out { 0b1100 } else { 0 }
            | if paper_out { 0b110_0000 } else { 0 },
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pattern(width: usize, height: usize) -> Bitmap {
        let mut b = Bitmap::new(width, height).unwrap();
        for y in 0..height {
            for x in 0..width {
                b.set(x, y, (x * 7 + y * 13) % 5 == 0 || x == y);
            }
        }
        b
    }

    /// A tall image goes out in strips of at most 256 rows that reassemble to the same image.
    #[test]
    fn strips_are_bounded_and_reassemble() {
        let image = pattern(576, 1000);
        let bytes = encode(&image);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.strips, vec![256, 256, 256, 232]);
        assert!(decoded.strips.iter().all(|&s| s <= MAX_STRIP_ROWS));
        assert_eq!(decoded.tickets, vec![image]);
        assert_eq!(decoded.uncut_rows, 0);
    }

    /// decode(encode(img)) == img, for both paper widths and heights around a strip's edge.
    #[test]
    fn decode_inverts_encode() {
        for (w, h) in [
            (384, 1),
            (384, 256),
            (384, 257),
            (576, 512),
            (576, 513),
            (8, 3),
        ] {
            let image = pattern(w, h);
            let decoded = decode(&encode(&image)).unwrap();
            assert_eq!(decoded.tickets, vec![image], "{w}×{h}");
        }
    }

    /// The job starts with ESC @ and ends with a feed and a function-B cut.
    #[test]
    fn job_framing() {
        let bytes = encode(&pattern(384, 10));
        assert_eq!(&bytes[..2], &[0x1b, 0x40]);
        assert_eq!(&bytes[2..10], &[0x1d, 0x76, 0x30, 0, 48, 0, 10, 0]);
        assert_eq!(
            &bytes[bytes.len() - 7..],
            &[0x1b, 0x64, 3, 0x1d, 0x56, 66, 0]
        );
    }

    /// Two jobs and status requests in one stream decode to two tickets; junk is refused.
    #[test]
    fn several_jobs_and_bad_streams() {
        let a = pattern(384, 300);
        let b = pattern(576, 20);
        let mut bytes = STATUS_REQUESTS.to_vec();
        bytes.extend(encode(&a));
        bytes.extend(encode(&b));
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.tickets, vec![a.clone(), b]);
        assert_eq!(decoded.status_requests, vec![1, 2, 3, 4]);
        let full = encode(&a);
        assert!(matches!(
            decode(&full[..full.len() - 100]),
            Err(DecodeError::Truncated(_))
        ));
        assert!(matches!(
            decode(b"hello"),
            Err(DecodeError::Unexpected { byte: b'h', at: 0 })
        ));
        let mut mixed = encode(&pattern(384, 300));
        // Make the second strip claim 72 bytes a row instead of 48.
        let second = 2 + 8 + 48 * 256;
        mixed[second + 4] = 72;
        assert!(matches!(decode(&mixed), Err(DecodeError::Width { .. })));
    }

    /// Status answers parse: paper out, near end, cover open, errors, off-line, fine, noise.
    #[test]
    fn status_bytes_parse() {
        let fine = parse_status([0x12, 0x12, 0x12, 0x12]);
        assert_eq!(fine.problem, None);
        assert!(!fine.paper_low && fine.answers_status);

        let out = parse_status([0x1a, 0x32, 0x12, 0x7e]);
        assert_eq!(out.problem, Some(PrinterProblem::PaperOut));
        assert!(out.paper_low);

        let low = parse_status([0x12, 0x12, 0x12, 0x1e]);
        assert_eq!(low.problem, None);
        assert!(low.paper_low);

        let cover = parse_status([0x1a, 0x16, 0x12, 0x12]);
        assert_eq!(cover.problem, Some(PrinterProblem::CoverOpen));

        let cutter = parse_status([0x1a, 0x52, 0x1a, 0x12]);
        assert!(matches!(cutter.problem, Some(PrinterProblem::Error(m)) if m.contains("cutter")));
        let hot = parse_status([0x1a, 0x52, 0x52, 0x12]);
        assert!(matches!(hot.problem, Some(PrinterProblem::Error(_))));
        let offline = parse_status([0x1a, 0x12, 0x12, 0x12]);
        assert!(matches!(offline.problem, Some(PrinterProblem::Offline(_))));

        let noise = parse_status([0xff, 0x00, 0x12, 0x12]);
        assert!(
            matches!(noise.problem, Some(PrinterProblem::Offline(m)) if m.contains("not an ESC/POS"))
        );

        assert_eq!(
            parse_status(status_answers(true, false, false, false)).problem,
            Some(PrinterProblem::PaperOut)
        );
        assert_eq!(
            parse_status(status_answers(false, false, true, false)).problem,
            Some(PrinterProblem::CoverOpen)
        );
        assert!(parse_status(status_answers(false, true, false, false)).paper_low);
    }
}
