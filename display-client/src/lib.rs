//! `luot-display`: the lobby TV of Lượt. A full-screen window shows who is called to which
//! counter, the open counters, the last calls, the waiting per service and the admin's
//! ticker line; an announcer plays a chime and says each call in Vietnamese.
//!
//! The stream itself is followed by [`luot_shared::follow::Follower`] (shared with the
//! kiosk); this crate is the socket loop, the sound and the drawing around it.
//!
//! # Layout
//!
//! - [`link`]: the WebSocket loop (backoff, `since`, wake-up, refusal) and the shared state
//! - [`announcer`]: the queue that plays each call in turn
//! - [`speech`]: the sentence, the ticket spelled, the counter read as a number
//! - [`voice`]: espeak-ng or recorded clips
//! - [`audio`]: clips, the chime, WAV files, the sound card and a recording sink
//! - [`screen`]: the screen's text at an instant (plain data)
//! - [`ui`]: drawing it, landscape and portrait
//! - [`app`]: the eframe window and `--screenshot`
//! - [`text`]: the embedded font and NFC

pub mod announcer;
pub mod app;
pub mod audio;
pub mod config_file;
pub mod doctor;
pub mod link;
pub mod screen;
pub mod speech;
pub mod text;
pub mod ui;
pub mod voice;
