//! `luot-kiosk`: the citizen's touch menu at the entrance, the printed ticket, and the rating
//! screen at a counter.
//!
//! The touch UI (`app`, `ui`, `rating`) talks to the rest through one seam,
//! [`dispense::Dispenser`]: issue a ticket and print it. The real dispenser issues over HTTP
//! with a `request_id` and prints on an ESC/POS printer; tests use fakes.
//!
//! # Layout
//!
//! - [`dispense`]: the seam: request, outcome, printer status
//! - [`app`]: the touch menu's state machine, its timers and worker, the window
//! - [`rating`]: the counter's rating screen (`--mode rating --counter N`)
//! - [`ui`]: drawing both, and their words in Vietnamese and English
//! - [`voice_guide`]: the screen read aloud in Vietnamese
//! - [`net`]: [`net::NetDispenser`], the real one: issue over HTTP, render, print
//! - [`client`]: issuing with one `request_id` per touch, retried with the same id
//! - [`ticket`]: what a ticket says and its layout on 80 or 58 mm paper
//! - [`raster`]: the 1-bit bitmap, text drawing with the embedded font, PNG
//! - [`escpos`]: the printer's bytes (`GS v 0` strips, cut), their decoder, `DLE EOT` status
//! - [`printer`]: `usb:`, `tcp:` and `file:` targets with bounded waits
//! - [`cli`]: the `issue` and `print-test` commands

pub mod app;
pub mod cli;
pub mod client;
pub mod dispense;
pub mod doctor;
pub mod escpos;
pub mod net;
pub mod printer;
pub mod raster;
pub mod rating;
pub mod ticket;
pub mod ui;
pub mod voice_guide;
