//! What the engine is asked ([`Command`]), what it answers ([`Reply`], [`Outcome`]) and why
//! it refuses ([`DomainError`]).

use jiff::Timestamp;

use crate::domain::{CenterConfig, ConfigError, CounterId, Priority, ServiceId, TicketId};
use crate::protocol::Recorded;
use crate::protocol::{CounterView, TicketView};

/// What someone asks the engine to do. `by` / `staff` name the actor for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Issue a ticket.
    Issue {
        /// Service id.
        service: ServiceId,
        /// Claimed priority.
        priority: Option<Priority>,
        /// Idempotency key, scoped to `credential`: the same pair again returns the same
        /// ticket; the same key from another credential is another request.
        request_id: Option<String>,
        /// Stable identity of the credential that sent the command (a token's or an
        /// account's, as the server derives it), never shown to anyone. Printable, at most 64
        /// characters.
        credential: String,
        /// Issuer.
        by: String,
    },
    /// Finish the counter's current ticket, if any, and call the next one.
    CallNext {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Call the counter's current ticket again.
    Recall {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// The called citizen is at the desk.
    Start {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Service of the current ticket is done.
    Finish {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// The called citizen did not come.
    NoShow {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Send the current ticket to another service and/or a named counter.
    Transfer {
        /// Counter holding the ticket.
        counter: CounterId,
        /// New service.
        to_service: Option<ServiceId>,
        /// Counter that alone may call it.
        to_counter: Option<CounterId>,
        /// Staff member.
        staff: String,
    },
    /// Put a no-show ticket back in its queue.
    Reinstate {
        /// Ticket.
        ticket: TicketId,
        /// Staff member.
        staff: String,
        /// Counters the actor is bound to (`None`: any): it may act only on tickets of the
        /// services they serve, or named for them.
        counters: Option<Vec<CounterId>>,
    },
    /// Withdraw a waiting ticket.
    Cancel {
        /// Ticket.
        ticket: TicketId,
        /// Who.
        staff: String,
        /// Counters the actor is bound to, as for [`Command::Reinstate`].
        counters: Option<Vec<CounterId>>,
    },
    /// Rate a finished ticket.
    Rate {
        /// Ticket.
        ticket: TicketId,
        /// 1..=5.
        score: u8,
        /// For a score of 1 or 2, one of the center's rating reasons.
        reason: Option<String>,
        /// Who rates.
        rater: Rater,
    },
    /// Open (or take over) a counter.
    Open {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Close a counter.
    Close {
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Replace the center's configuration.
    Configure {
        /// The new configuration.
        config: Box<CenterConfig>,
        /// Who.
        by: String,
    },
    /// Do `then`, a counter's command, only if that counter holds `current` (`None`: no
    /// ticket) when it runs: a console acts on the ticket it shows, never on one that reached
    /// the counter meanwhile (called from another tab, taken over, or the day closed).
    Expect {
        /// The ticket the counter must hold.
        current: Option<TicketId>,
        /// Call next, recall, start, finish, no-show, transfer, open or close.
        then: Box<Command>,
    },
    /// Let time pass: closes the business day when it is over.
    Tick,
    /// Record that the wall clock was stepped: it reads `observed` (the command's `now`)
    /// where elapsed time says `expected`. Recorded before anything else the new time causes
    /// (such as the day closing).
    NoteClockStep {
        /// Where the wall clock should have been.
        expected: Timestamp,
    },
}

impl Command {
    /// The counter a counter's command acts on; `None` for every other command.
    pub fn counter(&self) -> Option<CounterId> {
        match self {
            Command::CallNext { counter, .. }
            | Command::Recall { counter, .. }
            | Command::Start { counter, .. }
            | Command::Finish { counter, .. }
            | Command::NoShow { counter, .. }
            | Command::Transfer { counter, .. }
            | Command::Open { counter, .. }
            | Command::Close { counter, .. } => Some(*counter),
            _ => None,
        }
    }
}

/// Who asks to rate a ticket, as the server maps the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rater {
    /// A rating device (a kiosk credential), paired to a counter when it was made with
    /// `--counter N`.
    Device {
        /// Its name in the record.
        name: String,
        /// The counter it is paired to.
        counter: Option<CounterId>,
    },
    /// Counter staff: refused, staff never rate their own service.
    Staff {
        /// Its name.
        name: String,
    },
    /// An admin: the rating is recorded as a correction, at any time of the day.
    Admin {
        /// Its name in the record.
        name: String,
    },
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// No such service.
    #[error("unknown service {0:?}")]
    UnknownService(String),
    /// No such counter.
    #[error("unknown counter {0}")]
    UnknownCounter(CounterId),
    /// No such ticket today.
    #[error("unknown ticket {0}")]
    UnknownTicket(TicketId),
    /// The counter is closed.
    #[error("counter {0} is closed; open it first")]
    CounterClosed(CounterId),
    /// The counter holds no ticket.
    #[error("counter {0} has no current ticket")]
    NoCurrentTicket(CounterId),
    /// The ticket is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The counter no longer holds the ticket the command expected.
    #[error("{0}")]
    TicketChanged(String),
    /// Issuing is not possible now.
    #[error("{0}")]
    IssuingClosed(String),
    /// The service ran out of numbers for today.
    #[error("service {0:?} has issued all its numbers for today")]
    NumbersExhausted(String),
    /// A value is out of its allowed range.
    #[error("{0}")]
    Invalid(String),
    /// The configuration is refused.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The actor is bound to counters that do not serve this ticket.
    #[error("{0}")]
    NotYourCounter(String),
    /// Staff may not rate.
    #[error("staff may not rate tickets; the counter's rating device does")]
    StaffCannotRate,
    /// A device that is not paired to a counter may not rate.
    #[error("this device is not a counter's rating device (make its token with --counter N)")]
    RatingDeviceUnpaired,
    /// The rating device belongs to another counter than the one that finished the ticket.
    #[error("{0}")]
    WrongRatingDevice(String),
    /// The ticket already has its rating.
    #[error("ticket {0} is already rated")]
    AlreadyRated(String),
    /// The rating window after the finish has passed.
    #[error("{0}")]
    RatingWindowClosed(String),
}

impl DomainError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::UnknownService(_) => "unknown_service",
            DomainError::UnknownCounter(_) => "unknown_counter",
            DomainError::UnknownTicket(_) => "unknown_ticket",
            DomainError::CounterClosed(_) => "counter_closed",
            DomainError::NoCurrentTicket(_) => "no_current_ticket",
            DomainError::Conflict(_) => "conflict",
            DomainError::TicketChanged(_) => "ticket_changed",
            DomainError::IssuingClosed(_) => "issuing_closed",
            DomainError::NumbersExhausted(_) => "numbers_exhausted",
            DomainError::Invalid(_) => "invalid",
            DomainError::Config(_) => "invalid_config",
            DomainError::NotYourCounter(_) => "not_your_counter",
            DomainError::StaffCannotRate => "staff_cannot_rate",
            DomainError::RatingDeviceUnpaired => "rating_device_unpaired",
            DomainError::WrongRatingDevice(_) => "wrong_rating_device",
            DomainError::AlreadyRated(_) => "already_rated",
            DomainError::RatingWindowClosed(_) => "rating_window_closed",
        }
    }

    /// Whether the refusal is about who asks rather than what is asked (HTTP 403).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            DomainError::NotYourCounter(_)
                | DomainError::StaffCannotRate
                | DomainError::RatingDeviceUnpaired
                | DomainError::WrongRatingDevice(_)
        )
    }
}

/// What a successful command answers, besides its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A ticket; `created` is false when an idempotent issue returned an existing ticket.
    Ticket {
        /// The ticket as it is now.
        ticket: Box<TicketView>,
        /// Whether this command created it.
        created: bool,
    },
    /// Call next found nobody waiting.
    NobodyWaiting,
    /// A counter as it is now.
    Counter(Box<CounterView>),
    /// Done, nothing to show.
    Ok,
}

/// The result of [`Engine::handle`]: the events recorded (to persist, even when the command
/// itself was refused, because a day rollover may have happened first) and the answer.
#[derive(Debug)]
pub struct Outcome {
    /// Events recorded, already applied, in `seq` order.
    pub events: Vec<Recorded>,
    /// The answer to the caller.
    pub result: Result<Reply, DomainError>,
}
