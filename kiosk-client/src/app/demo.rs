//! `--demo`: a dispenser that issues nothing and prints nothing, for looking at the screens
//! (screenshots, training). Its "ticket" is made up from the live view: the field's prefix and
//! the next number after those waiting, its queue and estimate. Never the default.

use std::sync::atomic::{AtomicU32, Ordering};

use jiff::Timestamp;
use luot_display::link::Shared;
use luot_shared::TicketStatus;
use luot_shared::protocol::TicketView;

use crate::dispense::{Dispenser, Outcome, PrinterProblem, PrinterStatus, Request};

/// What the demo answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoOutcome {
    /// Issued and printed.
    Printed,
    /// Issued, the printer out of paper.
    PaperOut,
    /// The server could not be reached.
    Unreachable,
}

/// The pretend dispenser.
pub struct DemoDispenser {
    shared: Shared,
    outcome: DemoOutcome,
    made: AtomicU32,
}

impl DemoDispenser {
    /// Answers `outcome`, with tickets made up from `shared`'s view.
    pub fn new(shared: Shared, outcome: DemoOutcome) -> DemoDispenser {
        DemoDispenser {
            shared,
            outcome,
            made: AtomicU32::new(0),
        }
    }

    fn ticket(&self, request: &Request) -> TicketView {
        let made = self.made.fetch_add(1, Ordering::SeqCst);
        let live = self.shared.lock();
        let view = live.follower.view();
        let service = view.and_then(|v| v.service(&request.service));
        let waiting = service.map_or(0, |s| s.waiting);
        TicketView {
            id: 0,
            number: format!(
                "{}{:03}",
                service.map_or("", |s| s.prefix.as_str()),
                waiting + made + 1
            ),
            service: request.service.clone(),
            service_name: service.map(|s| s.name.clone()).unwrap_or_default(),
            priority: request.priority,
            status: TicketStatus::Waiting,
            day: view.map_or(jiff::civil::date(2026, 1, 1), |v| v.day),
            issued_at: Timestamp::now(),
            called_at: None,
            started_at: None,
            counter: None,
            ahead: waiting + made,
            estimated_wait_s: service.map_or(0, |s| s.estimated_wait_s),
            track: None,
        }
    }
}

impl Dispenser for DemoDispenser {
    fn dispense(&self, request: &Request) -> Outcome {
        match self.outcome {
            DemoOutcome::Printed => Outcome::Printed {
                ticket: self.ticket(request),
            },
            DemoOutcome::PaperOut => Outcome::NotPrinted {
                ticket: self.ticket(request),
                problem: PrinterProblem::PaperOut,
            },
            DemoOutcome::Unreachable => Outcome::Unreachable {
                message: "demo: no server".into(),
            },
        }
    }

    fn printer_status(&self) -> PrinterStatus {
        PrinterStatus {
            problem: (self.outcome == DemoOutcome::PaperOut).then_some(PrinterProblem::PaperOut),
            paper_low: false,
            answers_status: true,
        }
    }
}
