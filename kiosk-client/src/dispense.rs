//! The seam between the touch UI and what issues and prints a ticket.

use luot_shared::Priority;
use luot_shared::protocol::TicketView;

/// What the citizen chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Service field id.
    pub service: String,
    /// Priority the citizen declared, if any.
    pub priority: Option<Priority>,
    /// The citizen chose English on the screen: the ticket's words are printed in English.
    pub english: bool,
}

/// Why a printer cannot print now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterProblem {
    /// Out of paper.
    PaperOut,
    /// The cover is open.
    CoverOpen,
    /// It does not answer, or the device cannot be opened/written.
    Offline(String),
    /// It reports an error (cutter, mechanism, overheating…).
    Error(String),
}

/// The printer as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrinterStatus {
    /// What stops it printing, if anything.
    pub problem: Option<PrinterProblem>,
    /// The roll is nearly at its end (the printer's paper-near-end sensor).
    pub paper_low: bool,
    /// Whether the printer answers status at all (`file:` targets and many USB printers do not).
    pub answers_status: bool,
}

/// The result of one touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Issued and printed.
    Printed {
        /// The ticket.
        ticket: TicketView,
    },
    /// Issued, but not printed: the screen must show the number.
    NotPrinted {
        /// The ticket.
        ticket: TicketView,
        /// Why it did not print.
        problem: PrinterProblem,
    },
    /// The server refused (issuing stopped for today, a closed field…): nothing issued.
    Refused {
        /// The server's message.
        message: String,
    },
    /// The server could not be reached after the retries: nothing issued, nothing printed.
    Unreachable {
        /// What went wrong.
        message: String,
    },
}

/// Issues and prints. Called from a worker thread, never the UI thread: both calls may block
/// for seconds.
pub trait Dispenser: Send + Sync + 'static {
    /// Issues one ticket for `request` (one `request_id` for this touch, retried with the same
    /// id) and prints it.
    fn dispense(&self, request: &Request) -> Outcome;
    /// Asks the printer how it is.
    fn printer_status(&self) -> PrinterStatus;
}
