//! `luot-shared`: what the server and every client of Lượt agree on — the center's domain
//! types, the wire protocol, and the pure queue engine that decides every step of a ticket.
//!
//! # Layout
//!
//! - [`domain`]: service fields, counters, priority, tickets, the center file
//! - [`protocol`]: events, API requests and views, WebSocket messages (wire protocol v1)
//! - [`engine`]: the sans-I/O state machine: commands and time in, events out
//! - [`lifecycle`]: the one rule of a ticket's life and the figures it yields, for the engine
//!   and the reports alike
//! - [`follow`]: following the event stream without a socket: seq, gaps, the lobby screen's
//!   view and what to announce

pub mod doctor;
pub mod domain;
pub mod engine;
pub mod follow;
pub mod lifecycle;
pub mod protocol;

pub use domain::{CenterConfig, CounterId, Priority, ServiceId, Ticket, TicketId, TicketStatus};
pub use engine::{Command, DomainError, Engine, Outcome, Reply};
pub use protocol::{Event, Recorded, StateView};
