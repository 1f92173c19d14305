//! Wire protocol v1: every message the HTTP API and the WebSocket carry, used by server and
//! clients alike. Decoding happens in one place per direction ([`ServerMessage::decode`],
//! [`ClientMessage::decode`]).

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::{
    CallingMode, CenterConfig, CounterId, Priority, ServiceId, Ticket, TicketId, TicketRef,
    TicketStatus,
};

/// One event of the log, with its gap-free sequence number and the time it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recorded {
    /// Position in the log: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub event: Event,
}

/// Everything that can happen to the queue. The state is a fold over these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The center's configuration was set or changed.
    CenterConfigured {
        /// The whole new configuration.
        config: CenterConfig,
        /// Who changed it (`system` for a center file at start).
        by: String,
    },
    /// A ticket was issued.
    TicketIssued {
        /// The new ticket, status `waiting`.
        ticket: Ticket,
        /// Who issued it (a kiosk or staff member).
        by: String,
    },
    /// A ticket was called (or called again) to a counter.
    TicketCalled {
        /// The ticket.
        ticket: TicketRef,
        /// Counter it is called to.
        counter: CounterId,
        /// Staff member at that counter.
        staff: String,
        /// Whether this is a repeated call of the same ticket.
        recall: bool,
        /// Whether it was picked as a priority ticket (claimed or escalated by age).
        as_priority: bool,
    },
    /// The citizen reached the desk and service started.
    TicketServing {
        /// The ticket.
        ticket: TicketRef,
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// Service finished.
    TicketFinished {
        /// The ticket.
        ticket: TicketRef,
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// The citizen did not come after being called.
    TicketNoShow {
        /// The ticket.
        ticket: TicketRef,
        /// Counter.
        counter: CounterId,
        /// Staff member.
        staff: String,
    },
    /// A no-show ticket was put back in its queue, keeping its place by issue time.
    TicketReinstated {
        /// The ticket.
        ticket: TicketRef,
        /// Who reinstated it.
        staff: String,
    },
    /// A ticket went back to waiting in another service or for a named counter.
    TicketTransferred {
        /// The ticket (with its service before the transfer).
        ticket: TicketRef,
        /// Counter that held it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_counter: Option<CounterId>,
        /// Service it now waits in.
        service: ServiceId,
        /// Counter that alone may call it now, if one was named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        counter: Option<CounterId>,
        /// Who transferred it.
        staff: String,
        /// The target wait of `service` in force at the transfer, minutes: the one its new
        /// wait is held against (absent in logs from before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_wait_min: Option<u32>,
    },
    /// A waiting ticket was withdrawn.
    TicketCancelled {
        /// The ticket.
        ticket: TicketRef,
        /// Who cancelled it.
        staff: String,
        /// Why, when the system did it (e.g. its service was removed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A finished ticket was rated.
    TicketRated {
        /// The ticket.
        ticket: TicketRef,
        /// Counter that served it.
        counter: CounterId,
        /// Staff member who finished it.
        staff: String,
        /// 5 Rất hài lòng … 1 Rất không hài lòng.
        score: u8,
        /// Who gave the rating: the counter's rating device, or the admin who corrected it
        /// (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Whether an admin entered or corrected it rather than the citizen on the device.
        #[serde(default, skip_serializing_if = "is_false")]
        correction: bool,
        /// The reason the citizen chose for a low rating (1 or 2), from the center's list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A counter opened (or changed hands).
    CounterOpened {
        /// Counter.
        counter: CounterId,
        /// Staff member now at it.
        staff: String,
    },
    /// A counter closed.
    CounterClosed {
        /// Counter.
        counter: CounterId,
        /// Staff member who closed it.
        staff: String,
    },
    /// The business day closed: open tickets expired, counters closed, numbering restarts.
    DayClosed {
        /// The day that closed.
        day: Date,
        /// Tickets that expired.
        expired: Vec<TicketRef>,
    },
    /// The server's wall clock was stepped: it disagreed with elapsed (monotonic) time by
    /// more than a few seconds. The event's `at` is the corrected time read; events keep
    /// their order by `seq` whatever their times say.
    ClockStepped {
        /// Where the wall clock should have been by elapsed time (at start: the time of the
        /// last event in the log).
        expected: Timestamp,
        /// How far the wall clock moved: positive forward, negative back, in milliseconds.
        offset_ms: i64,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Event {
    /// The event's `kind` as it appears on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CenterConfigured { .. } => "center_configured",
            Event::TicketIssued { .. } => "ticket_issued",
            Event::TicketCalled { .. } => "ticket_called",
            Event::TicketServing { .. } => "ticket_serving",
            Event::TicketFinished { .. } => "ticket_finished",
            Event::TicketNoShow { .. } => "ticket_no_show",
            Event::TicketReinstated { .. } => "ticket_reinstated",
            Event::TicketTransferred { .. } => "ticket_transferred",
            Event::TicketCancelled { .. } => "ticket_cancelled",
            Event::TicketRated { .. } => "ticket_rated",
            Event::CounterOpened { .. } => "counter_opened",
            Event::CounterClosed { .. } => "counter_closed",
            Event::DayClosed { .. } => "day_closed",
            Event::ClockStepped { .. } => "clock_stepped",
        }
    }
}

/// A ticket as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketView {
    /// Unique id.
    pub id: TicketId,
    /// Printed number.
    pub number: String,
    /// Service id.
    pub service: ServiceId,
    /// Service name.
    pub service_name: String,
    /// Claimed priority category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Status.
    pub status: TicketStatus,
    /// Business day.
    pub day: Date,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Latest call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub called_at: Option<Timestamp>,
    /// Start of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Counter holding it or named for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterId>,
    /// People ahead of it while it waits (0 otherwise).
    pub ahead: u32,
    /// Estimated seconds until it is called while it waits (0 otherwise).
    pub estimated_wait_s: u64,
    /// The secret that follows this ticket at `/t/{track}`; given to whoever issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
}

/// A service field with its live queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceView {
    /// Id.
    pub id: ServiceId,
    /// Name.
    pub name: String,
    /// Number prefix.
    pub prefix: String,
    /// Target wait in minutes.
    pub target_wait_min: u32,
    /// Tickets waiting.
    pub waiting: u32,
    /// Of which priority tickets.
    pub waiting_priority: u32,
    /// Issue time of the longest-waiting ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_waiting_since: Option<Timestamp>,
    /// Estimated wait for a ticket issued now, in seconds.
    pub estimated_wait_s: u64,
    /// Open counters serving it.
    pub open_counters: u32,
    /// The next few tickets in calling order.
    pub next: Vec<TicketRef>,
}

/// A counter with its live state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CounterView {
    /// The number people read.
    pub id: CounterId,
    /// Name.
    pub name: String,
    /// Services it serves, in order.
    pub services: Vec<ServiceId>,
    /// Calling mode.
    pub mode: CallingMode,
    /// Whether it is open.
    pub open: bool,
    /// Staff member at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// Ticket it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<TicketView>,
    /// Last ticket it finished (the rating screen rates this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_finished: Option<TicketRef>,
    /// Tickets finished today.
    pub served_today: u32,
    /// Mean service time of the tickets finished here today, in seconds.
    pub avg_service_s: u64,
    /// Tickets marked no-show here today.
    pub no_shows_today: u32,
    /// Tickets waiting that this counter could call.
    pub waiting: u32,
}

/// A recent call, for the lobby screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecentCall {
    /// The ticket.
    pub ticket: TicketRef,
    /// Counter.
    pub counter: CounterId,
    /// When.
    pub at: Timestamp,
    /// Whether it was a recall.
    pub recall: bool,
}

/// The whole live state, as `/api/v1/state` and the WebSocket snapshot show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateView {
    /// Sequence number of the last event folded into this state.
    pub seq: u64,
    /// Center name.
    pub center: String,
    /// Center time zone.
    pub timezone: String,
    /// Current business day.
    pub day: Date,
    /// Whether the kiosk may issue now.
    pub issuing: bool,
    /// Why not, when it may not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuing_note: Option<String>,
    /// Services with their queues.
    pub services: Vec<ServiceView>,
    /// Counters.
    pub counters: Vec<CounterView>,
    /// Latest calls, newest first.
    pub recent_calls: Vec<RecentCall>,
    /// The line the admin set for lobby screens to scroll, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    /// The short line the admin set for the foot of printed tickets, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_footer: Option<String>,
    /// Reasons a rating device offers after a rating of 1 or 2 (none: it asks none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rating_reasons: Vec<String>,
    /// The latest steps of the server's wall clock, newest first (for the admin dashboard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clock_steps: Vec<ClockStep>,
}

/// A step of the server's wall clock, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClockStep {
    /// The time read after the step.
    pub at: Timestamp,
    /// How far the clock moved: positive forward, negative back, in milliseconds.
    pub offset_ms: i64,
    /// Sequence number of the `clock_stepped` event.
    pub seq: u64,
}

/// Messages from the server on `/ws`.
#[allow(clippy::large_enum_variant)] // short-lived; boxing would only add an allocation per event
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The whole state at `seq`; events after it follow.
    Snapshot {
        /// Sequence number of the state.
        seq: u64,
        /// The state.
        state: Box<StateView>,
    },
    /// One event. Serialized without what stays inside the server: a ticket's `request_id`
    /// (the log keeps it for replay; subscribers never see it).
    Event(#[serde(serialize_with = "public_event")] Recorded),
    /// Answer to a client ping.
    Pong,
    /// The client sent something the server cannot take.
    Error {
        /// What is wrong.
        error: ErrorDetail,
    },
}

/// Serializes an event as subscribers see it: without the issuing request's idempotency key.
fn public_event<S: serde::Serializer>(rec: &Recorded, serializer: S) -> Result<S::Ok, S::Error> {
    match &rec.event {
        Event::TicketIssued { ticket, .. } if ticket.request_id.is_some() => {
            let mut public = rec.clone();
            if let Event::TicketIssued { ticket, .. } = &mut public.event {
                ticket.request_id = None;
            }
            public.serialize(serializer)
        }
        _ => rec.serialize(serializer),
    }
}

impl ServerMessage {
    /// Decodes a text frame from the server.
    pub fn decode(text: &str) -> Result<ServerMessage, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Messages a client may send on `/ws`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Asks for a `pong`: an application-level liveness check.
    Ping,
}

impl ClientMessage {
    /// Decodes a text frame from a client.
    pub fn decode(text: &str) -> Result<ClientMessage, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A machine-readable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable code, e.g. `unknown_service`.
    pub code: String,
    /// What went wrong, in plain words.
    pub message: String,
    /// The offending field, when one is at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `POST /api/v1/tickets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// Service id.
    pub service: ServiceId,
    /// Priority category, if claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Idempotency key: the same key again returns the same ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// `POST /api/v1/counters/{id}/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Service to wait in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    /// Counter that alone may call it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterId>,
}

/// `POST /api/v1/tickets/{id}/rating`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1..=5.
    pub score: u8,
    /// For a score of 1 or 2, one of the center's `rating_reasons`, optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Answer to a successful login; the session itself travels in an HttpOnly cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// User name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Counters the user may act at (empty: any, for admins).
    pub counters: Vec<CounterId>,
    /// Value to send as `X-CSRF-Token` on every state-changing request of this session.
    pub csrf: String,
}

/// A principal's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures the center, sees reports, may do anything.
    Admin,
    /// Acts at counters.
    Staff,
    /// Issues tickets; in rating mode, rates them.
    Kiosk,
    /// Reads state and events.
    Display,
}

impl Role {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "staff" => Some(Role::Staff),
            "kiosk" => Some(Role::Kiosk),
            "display" => Some(Role::Display),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Kiosk => "kiosk",
            Role::Display => "display",
        }
    }
}

/// One ticket as its holder follows it on a phone (`GET /api/v1/track/{track}`, and the
/// `track` message of `/ws/track/{track}`). Of the other citizens it shows no more than a
/// lobby screen does: the numbers called and the counters they were called to; never their
/// ticket ids, track secrets, priority categories or the staff who serve them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrackView {
    /// The ticket, with position and estimate.
    pub ticket: TicketView,
    /// The name of the counter the ticket is called to, served at, or named for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_name: Option<String>,
    /// Center name.
    pub center: String,
    /// Tickets most recently called, newest first, as the lobby screen shows them.
    pub recent_calls: Vec<LobbyCall>,
}

/// A call as the lobby screen shows it: a number and a counter, nothing else about the
/// citizen who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LobbyCall {
    /// The printed number called.
    pub number: String,
    /// The counter it was called to.
    pub counter: CounterId,
    /// That counter's name.
    pub counter_name: String,
    /// When.
    pub at: Timestamp,
    /// Whether it was a recall.
    pub recall: bool,
}

/// Messages from the server on `/ws/track/{track}`, the live channel of a phone following
/// one ticket. The secret in the path is the only credential: an invalid or unknown one is
/// answered `404` before any upgrade.
///
/// The server sends `track` once on connect and again whenever the view changes (the
/// ticket's own transitions, its position or estimate, a call shown to the lobby), at most
/// about four times a second, never twice the same view; it pings, answers
/// [`ClientMessage::Ping`] with `pong`, and closes with [`TrackMessage::CLOSE_GONE`] when the
/// ticket leaves today's queue (the business day changed) and 1001 when it stops.
#[allow(clippy::large_enum_variant)] // one per change of one ticket; boxing gains nothing
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrackMessage {
    /// The ticket's view as of now.
    Track {
        /// The view.
        view: TrackView,
    },
    /// Answer to a client ping.
    Pong,
    /// The client sent something the server cannot take.
    Error {
        /// What is wrong.
        error: ErrorDetail,
    },
}

impl TrackMessage {
    /// Close code of `/ws/track/{track}` once the ticket is no longer in today's queue.
    pub const CLOSE_GONE: u16 = 4404;

    /// Decodes a text frame from the server.
    pub fn decode(text: &str) -> Result<TrackMessage, serde_json::Error> {
        serde_json::from_str(text)
    }
}
