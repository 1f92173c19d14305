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

pub mod app;
pub mod dispense;
pub mod rating;
pub mod ui;
pub mod voice_guide;
