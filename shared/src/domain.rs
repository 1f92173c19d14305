//! The center's vocabulary: service fields, counters, priority, tickets and the center file.

use std::collections::HashSet;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// Stable id of a service field (lĩnh vực), used by the API, e.g. `"tnmt"`.
pub type ServiceId = String;

/// The number people read for a counter (quầy), e.g. `3` for "quầy số 3".
pub type CounterId = u32;

/// Unique id of a ticket across all business days.
pub type TicketId = u64;

/// A priority category (đối tượng ưu tiên) a citizen may claim at the kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Người cao tuổi (60+).
    Elderly,
    /// Người khuyết tật.
    Disability,
    /// Phụ nữ mang thai.
    Pregnant,
    /// Người có con nhỏ.
    YoungChild,
    /// Người có công với cách mạng.
    Meritorious,
}

impl Priority {
    /// Every category, in the order the kiosk lists them.
    pub const ALL: [Priority; 5] = [
        Priority::Elderly,
        Priority::Disability,
        Priority::Pregnant,
        Priority::YoungChild,
        Priority::Meritorious,
    ];

    /// The Vietnamese label shown on screens and tickets.
    pub fn label_vi(self) -> &'static str {
        match self {
            Priority::Elderly => "Người cao tuổi",
            Priority::Disability => "Người khuyết tật",
            Priority::Pregnant => "Phụ nữ mang thai",
            Priority::YoungChild => "Người có con nhỏ",
            Priority::Meritorious => "Người có công",
        }
    }
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// In a queue, not yet called.
    Waiting,
    /// Called to a counter, citizen not yet at the desk.
    Called,
    /// Being served at a counter.
    Serving,
    /// Service finished.
    Done,
    /// Called but did not come; may be reinstated.
    NoShow,
    /// Withdrawn before being called.
    Cancelled,
    /// Still open when the business day closed.
    Expired,
}

impl TicketStatus {
    /// Whether the ticket is still held by a counter.
    pub fn at_counter(self) -> bool {
        matches!(self, TicketStatus::Called | TicketStatus::Serving)
    }
}

/// How a counter picks the next ticket among the services it serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallingMode {
    /// The ticket that has waited longest, across all the counter's services.
    #[default]
    Oldest,
    /// The counter's first service while it has anyone waiting, then the next, and so on.
    ServiceOrder,
}

/// How priority tickets are weighed against normal ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PriorityPolicy {
    /// `strict` (priority always first) or `interleave`.
    #[serde(default)]
    pub mode: PriorityMode,
    /// With `interleave`: after this many priority calls at a counter, one normal ticket is
    /// called if any waits.
    #[serde(default = "default_interleave")]
    pub interleave: u32,
    /// A normal ticket that has waited this many minutes is treated as priority; `0` turns
    /// escalation off.
    #[serde(default = "default_escalate")]
    pub escalate_after_min: u32,
}

fn default_interleave() -> u32 {
    3
}

fn default_escalate() -> u32 {
    45
}

impl Default for PriorityPolicy {
    fn default() -> Self {
        PriorityPolicy {
            mode: PriorityMode::Interleave,
            interleave: default_interleave(),
            escalate_after_min: default_escalate(),
        }
    }
}

/// See [`PriorityPolicy::mode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PriorityMode {
    /// Priority tickets always go first.
    Strict,
    /// Priority first, but a normal ticket after every N priority calls.
    #[default]
    Interleave,
}

/// A service field as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceField {
    /// Stable id used by the API.
    pub id: ServiceId,
    /// Name shown to citizens.
    pub name: String,
    /// Number prefix: ticket numbers are the prefix followed by three digits.
    pub prefix: String,
    /// First number of the day (1 gives `…001`).
    #[serde(default = "default_start")]
    pub start: u32,
    /// Target wait in minutes, for reports and the dashboard.
    #[serde(default = "default_target_wait")]
    pub target_wait_min: u32,
    /// Expected service time in minutes, used for estimates until the day has data.
    #[serde(default = "default_service_min")]
    pub service_min: u32,
}

fn default_start() -> u32 {
    1
}

fn default_target_wait() -> u32 {
    15
}

fn default_service_min() -> u32 {
    8
}

/// A counter as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CounterConfig {
    /// The number people read.
    pub id: CounterId,
    /// Name shown on screens, e.g. "Quầy 1".
    #[serde(default)]
    pub name: String,
    /// Services it serves, in the order it prefers them.
    pub services: Vec<ServiceId>,
    /// How it picks the next ticket.
    #[serde(default)]
    pub mode: CallingMode,
}

/// Center-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CenterSettings {
    /// The center's name, printed on tickets and shown on screens.
    #[serde(default = "default_center_name")]
    pub name: String,
    /// IANA time zone that defines the business day.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Local time before which the kiosk does not issue (none: issue from midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "07:30:00"))]
    pub open: Option<Time>,
    /// Local time after which the kiosk says issuing has stopped for today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "07:30:00"))]
    pub issue_until: Option<Time>,
    /// Local time at which the day closes and waiting tickets expire (none: midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "07:30:00"))]
    pub close: Option<Time>,
    /// Priority policy.
    #[serde(default)]
    pub priority: PriorityPolicy,
    /// A line the lobby screens scroll (opening hours, a notice); none: no ticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    /// Minutes after a ticket is finished during which its counter's rating device may rate
    /// it.
    #[serde(default = "default_rating_window")]
    pub rating_window_min: u32,
    /// A short line printed at the foot of every ticket (a hotline, a website); none: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_footer: Option<String>,
    /// Reasons the rating device offers after a rating of 1 or 2, at most
    /// [`MAX_RATING_REASONS`]; empty: it asks none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rating_reasons: Vec<String>,
}

/// Most reasons a rating device offers.
pub const MAX_RATING_REASONS: usize = 8;
/// Longest rating reason.
const MAX_REASON: usize = 80;
/// Longest ticket footer.
const MAX_FOOTER: usize = 160;

fn default_rating_window() -> u32 {
    10
}

/// Longest rating window: a working day.
const MAX_RATING_WINDOW_MIN: u32 = 720;

fn default_center_name() -> String {
    "Trung tâm Hành chính công".to_owned()
}

fn default_timezone() -> String {
    "Asia/Ho_Chi_Minh".to_owned()
}

impl Default for CenterSettings {
    fn default() -> Self {
        CenterSettings {
            name: default_center_name(),
            timezone: default_timezone(),
            open: None,
            issue_until: None,
            close: None,
            priority: PriorityPolicy::default(),
            ticker: None,
            rating_window_min: default_rating_window(),
            ticket_footer: None,
            rating_reasons: Vec::new(),
        }
    }
}

/// The whole configuration of a center: what a center file describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CenterConfig {
    /// Center-wide settings.
    #[serde(default)]
    pub center: CenterSettings,
    /// Service fields.
    #[serde(default)]
    pub services: Vec<ServiceField>,
    /// Counters.
    #[serde(default)]
    pub counters: Vec<CounterConfig>,
}

/// The nine fields of the city center, in the order of its own report, plus Tư pháp - Hộ tịch.
const DEFAULT_FIELDS: [(&str, &str); 9] = [
    ("tnmt", "Tài nguyên - Môi trường"),
    ("tckh", "Tài chính - Kế hoạch"),
    ("ldtbxh", "Lao động - Thương binh và Xã hội"),
    ("vhtt", "Văn hóa - Thông tin"),
    ("ct", "Công thương"),
    ("qldt", "Quản lý đô thị"),
    ("tt", "Thanh tra"),
    ("nv", "Nội vụ"),
    ("tphc", "Tư pháp - Hộ tịch"),
];

impl Default for CenterConfig {
    /// The embedded default center: nine fields, field k has prefix `k`, one counter per field.
    fn default() -> Self {
        let services = DEFAULT_FIELDS
            .iter()
            .enumerate()
            .map(|(i, (id, name))| ServiceField {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                prefix: (i + 1).to_string(),
                start: default_start(),
                target_wait_min: default_target_wait(),
                service_min: default_service_min(),
            })
            .collect();
        let counters = DEFAULT_FIELDS
            .iter()
            .zip(1..)
            .map(|((id, _), n)| CounterConfig {
                id: n,
                name: format!("Quầy {n}"),
                services: vec![(*id).to_owned()],
                mode: CallingMode::Oldest,
            })
            .collect();
        CenterConfig {
            center: CenterSettings::default(),
            services,
            counters,
        }
    }
}

/// A reason a center configuration is refused, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `services[2].prefix`.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Longest accepted id, name or prefix, in characters.
const MAX_TEXT: usize = 120;

impl CenterConfig {
    /// Parses a center file (TOML); what it leaves out keeps its default.
    ///
    /// A file that names no services keeps the default services and counters; one that names
    /// services but no counters gets one counter per service.
    pub fn from_toml(text: &str) -> Result<CenterConfig, ConfigError> {
        let mut config: CenterConfig =
            toml::from_str(text).map_err(|e| ConfigError::new("file", e.to_string()))?;
        let default = CenterConfig::default();
        if config.services.is_empty() {
            config.services = default.services;
            if config.counters.is_empty() {
                config.counters = default.counters;
            }
        }
        if config.counters.is_empty() {
            config.counters = config
                .services
                .iter()
                .zip(1..)
                .map(|(s, n)| CounterConfig {
                    id: n,
                    name: format!("Quầy {n}"),
                    services: vec![s.id.clone()],
                    mode: CallingMode::Oldest,
                })
                .collect();
        }
        for counter in &mut config.counters {
            if counter.name.trim().is_empty() {
                counter.name = format!("Quầy {}", counter.id);
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// The parsed time zone.
    pub fn time_zone(&self) -> Result<TimeZone, ConfigError> {
        TimeZone::get(&self.center.timezone).map_err(|_| {
            ConfigError::new(
                "center.timezone",
                format!("unknown time zone {:?}", self.center.timezone),
            )
        })
    }

    /// Checks every rule a configuration must meet.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.center;
        check_text("center.name", &c.name)?;
        if let Some(ticker) = &c.ticker {
            check_long_text("center.ticker", ticker, MAX_TICKER)?;
        }
        if let Some(footer) = &c.ticket_footer {
            check_long_text("center.ticket_footer", footer, MAX_FOOTER)?;
        }
        if c.rating_reasons.len() > MAX_RATING_REASONS {
            return Err(ConfigError::new(
                "center.rating_reasons",
                format!("at most {MAX_RATING_REASONS} reasons"),
            ));
        }
        for (i, reason) in c.rating_reasons.iter().enumerate() {
            check_long_text("center.rating_reasons", reason, MAX_REASON)?;
            if c.rating_reasons[..i].contains(reason) {
                return Err(ConfigError::new(
                    "center.rating_reasons",
                    format!("{reason:?} is listed twice"),
                ));
            }
        }
        self.time_zone()?;
        if let (Some(a), Some(b)) = (c.open, c.issue_until)
            && b <= a
        {
            return Err(ConfigError::new(
                "center.issue_until",
                "must be after center.open",
            ));
        }
        // 00:00 as an end would stop the day before it starts; leaving the field out means
        // midnight.
        for (field, value) in [
            ("center.issue_until", c.issue_until),
            ("center.close", c.close),
        ] {
            if value == Some(Time::midnight()) {
                return Err(ConfigError::new(
                    field,
                    "00:00 would stop the day before it starts; leave it out for midnight",
                ));
            }
        }
        if let (Some(a), Some(b)) = (c.issue_until.or(c.open), c.close)
            && b < a
        {
            return Err(ConfigError::new(
                "center.close",
                "must not be before the issuing hours",
            ));
        }
        if !(1..=MAX_RATING_WINDOW_MIN).contains(&c.rating_window_min) {
            return Err(ConfigError::new(
                "center.rating_window_min",
                format!("must be between 1 and {MAX_RATING_WINDOW_MIN} minutes"),
            ));
        }
        if c.priority.mode == PriorityMode::Interleave && c.priority.interleave == 0 {
            return Err(ConfigError::new(
                "center.priority.interleave",
                "must be at least 1",
            ));
        }
        if self.services.is_empty() {
            return Err(ConfigError::new(
                "services",
                "at least one service is needed",
            ));
        }
        if self.services.len() > 99 {
            return Err(ConfigError::new("services", "at most 99 services"));
        }
        let mut ids = HashSet::new();
        let mut prefixes = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = |f: &str| format!("services[{i}].{f}");
            check_id(&at("id"), &s.id)?;
            check_text(&at("name"), &s.name)?;
            if !ids.insert(s.id.as_str()) {
                return Err(ConfigError::new(
                    at("id"),
                    format!("duplicate id {:?}", s.id),
                ));
            }
            if s.prefix.is_empty()
                || s.prefix.len() > 3
                || !s.prefix.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                return Err(ConfigError::new(at("prefix"), "1 to 3 letters or digits"));
            }
            if !prefixes.insert(s.prefix.to_ascii_uppercase()) {
                return Err(ConfigError::new(
                    at("prefix"),
                    format!("prefix {:?} is already used by another service", s.prefix),
                ));
            }
            if !(1..=999).contains(&s.start) {
                return Err(ConfigError::new(at("start"), "must be between 1 and 999"));
            }
            if s.service_min == 0 || s.service_min > 600 {
                return Err(ConfigError::new(
                    at("service_min"),
                    "must be between 1 and 600",
                ));
            }
        }
        if self.counters.is_empty() {
            return Err(ConfigError::new(
                "counters",
                "at least one counter is needed",
            ));
        }
        if self.counters.len() > 999 {
            return Err(ConfigError::new("counters", "at most 999 counters"));
        }
        let mut counter_ids = HashSet::new();
        for (i, k) in self.counters.iter().enumerate() {
            let at = |f: &str| format!("counters[{i}].{f}");
            if k.id == 0 || k.id > 999 {
                return Err(ConfigError::new(at("id"), "must be between 1 and 999"));
            }
            if !counter_ids.insert(k.id) {
                return Err(ConfigError::new(
                    at("id"),
                    format!("duplicate counter {}", k.id),
                ));
            }
            check_text(&at("name"), &k.name)?;
            if k.services.is_empty() {
                return Err(ConfigError::new(
                    at("services"),
                    "a counter must serve at least one service",
                ));
            }
            let mut seen = HashSet::new();
            for s in &k.services {
                if !ids.contains(s.as_str()) {
                    return Err(ConfigError::new(
                        at("services"),
                        format!("unknown service {s:?}"),
                    ));
                }
                if !seen.insert(s) {
                    return Err(ConfigError::new(
                        at("services"),
                        format!("service {s:?} listed twice"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The service with this id.
    pub fn service(&self, id: &str) -> Option<&ServiceField> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The counter with this id.
    pub fn counter(&self, id: CounterId) -> Option<&CounterConfig> {
        self.counters.iter().find(|c| c.id == id)
    }
}

fn check_text(field: &str, value: &str) -> Result<(), ConfigError> {
    check_long_text(field, value, MAX_TEXT)
}

/// Longest ticker line.
const MAX_TICKER: usize = 300;

/// A name or line people read: not empty, not only invisible characters, at most `max`
/// characters, no control or bidi-override characters (they reorder what screens show).
fn check_long_text(field: &str, value: &str, max: usize) -> Result<(), ConfigError> {
    if value.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(ConfigError::new(field, "must contain visible characters"));
    }
    if value.chars().count() > max {
        return Err(ConfigError::new(field, format!("at most {max} characters")));
    }
    if value.chars().any(is_bidi_control) {
        return Err(ConfigError::new(
            field,
            "must not contain bidirectional control characters",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ConfigError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn check_id(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty()
        || value.len() > 32
        || !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(ConfigError::new(
            field,
            "1 to 32 characters of a-z, 0-9, '-' or '_'",
        ));
    }
    Ok(())
}

/// A ticket as the engine keeps it for the current business day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    /// Unique id.
    pub id: TicketId,
    /// The number printed and announced, e.g. `"1005"`.
    pub number: String,
    /// Current service (changes on transfer).
    pub service: ServiceId,
    /// Claimed priority category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Business day it belongs to.
    pub day: Date,
    /// When the kiosk issued it; also its place in every queue.
    pub issued_at: Timestamp,
    /// Current status.
    pub status: TicketStatus,
    /// Counter holding it, or the counter it was transferred to while waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterId>,
    /// While waiting: only this counter may call it (after a transfer to a counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_counter: Option<CounterId>,
    /// First call of its current wait (a transfer starts a new wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_called_at: Option<Timestamp>,
    /// Latest call (a recall or a call after transfer moves it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub called_at: Option<Timestamp>,
    /// Start of service at the current counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// End of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Staff member who called it last, and once it is done the one who finished it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// Recalls at the current counter.
    #[serde(default)]
    pub recalls: u32,
    /// Rating 1..=5, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// The wait estimated when it was issued (the one printed on it), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_wait_s: Option<u64>,
    /// The target wait of its service in force when its current wait began, minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_wait_min: Option<u32>,
    /// When its current wait began, if a transfer began it (else at issue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<Timestamp>,
    /// Its waits in the services it was transferred from, oldest first (see
    /// [`crate::lifecycle`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_waits: Vec<crate::lifecycle::Wait>,
    /// Idempotency key of the issuing request, scoped to the credential that sent it. Kept in
    /// the log so a replay rebuilds idempotency; never sent to subscribers (see
    /// [`crate::protocol::ServerMessage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The short reference to a ticket that events carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketRef {
    /// Unique id.
    pub id: TicketId,
    /// Printed number.
    pub number: String,
    /// Service at the time of the event.
    pub service: ServiceId,
    /// Claimed priority category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
}

impl From<&Ticket> for TicketRef {
    fn from(t: &Ticket) -> Self {
        TicketRef {
            id: t.id,
            number: t.number.clone(),
            service: t.service.clone(),
            priority: t.priority,
        }
    }
}

/// Who performed an action, as recorded in events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor(pub String);

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters that take no space on screen: zero-width spaces and joiners, the word joiner,
/// the byte-order mark, soft hyphen, invisible operators, bidi marks and controls.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
    ) || is_bidi_control(c)
}

/// Bidirectional embedding, override and isolate controls, and the directional marks.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}
