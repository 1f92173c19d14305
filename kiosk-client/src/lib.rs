//! `luot-kiosk`: the citizen's touch menu at the entrance, the printed ticket, and the rating
//! screen at a counter.
//!
//! The touch UI (`app`, `ui`, `rating`) talks to the rest through one seam,
//! [`dispense::Dispenser`]: issue a ticket and print it. The real dispenser issues over HTTP
//! with a `request_id` and prints on an ESC/POS printer; tests use fakes.

pub mod dispense;
