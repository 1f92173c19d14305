//! Webhooks to the one-door software, following the Standard Webhooks specification.
//!
//! Every endpoint has a cursor: the last `seq` it acknowledged with a 2xx (or that its
//! `events` filter passed over). The log itself is the outbox: a worker per endpoint reads the
//! events after its cursor from the store, POSTs them one at a time in `seq` order, and moves
//! the cursor on, durably, after each 2xx. A failing event holds the ones behind it and is
//! retried with exponential backoff and jitter; `410 Gone` disables the endpoint. Only events
//! the engine has made durable and published are sent.
//!
//! # Where endpoints live
//!
//! Endpoints (URL, secret, filter) and cursors are server settings in the store's meta table
//! (`webhook/<id>`, `webhook_cursor/<id>`), not part of [`luot_shared::CenterConfig`]: the
//! center configuration is recorded in the log as a `center_configured` event, and the log is
//! published to every WebSocket, to the pull API and to the webhooks themselves, so a secret
//! there would reach every lobby screen. The meta table is read only by the server and by the
//! admin's backup (`export`, like the tracking-link key and the password hashes), so a
//! restored backup resumes each endpoint where it stood. `[[webhooks]]` in the center file is
//! taken out of the file before the rest is parsed as the center configuration.
//!
//! # Layout
//!
//! - [`sign`], secrets and signatures
//! - [`deliver`], the registry of endpoints and the worker that delivers to one
//! - [`api`], the admin routes under `/api/v1/admin/webhooks`

pub mod api;
pub mod deliver;
pub mod sign;

use std::time::Duration;

use jiff::Timestamp;
use luot_shared::domain::ConfigError;
use serde::{Deserialize, Serialize};

pub use deliver::Webhooks;

/// Every event `kind`, in the order the admin page lists them (the names of
/// [`luot_shared::Event::kind`]).
pub const KINDS: [&str; 14] = [
    "ticket_issued",
    "ticket_called",
    "ticket_serving",
    "ticket_finished",
    "ticket_no_show",
    "ticket_reinstated",
    "ticket_transferred",
    "ticket_cancelled",
    "ticket_rated",
    "counter_opened",
    "counter_closed",
    "day_closed",
    "center_configured",
    "clock_stepped",
];

/// Most endpoints at once (a center connects one or two systems).
pub const MAX_ENDPOINTS: usize = 16;
/// Longest URL accepted.
const MAX_URL: usize = 2048;

/// An endpoint as stored (with its secret: never sent anywhere but the admin's backup).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// Short public id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// `whsec_…`.
    pub secret: String,
    /// Kinds delivered; empty means every kind.
    #[serde(default)]
    pub events: Vec<String>,
    /// Whether deliveries run.
    pub enabled: bool,
    /// Declared in the center file (a later file that no longer names it removes it).
    #[serde(default)]
    pub from_file: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Why deliveries stopped on their own (a `410 Gone`), until the admin enables it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

impl Endpoint {
    /// Whether an event of `kind` goes to this endpoint.
    pub fn selects(&self, kind: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|k| k == kind)
    }
}

/// One `[[webhooks]]` entry of the center file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEndpoint {
    /// `http://` or `https://` URL.
    pub url: String,
    /// `whsec_…`, as the receiving side has it.
    pub secret: String,
    /// Kinds delivered; absent or empty: every kind.
    #[serde(default)]
    pub events: Vec<String>,
}

/// Splits `[[webhooks]]` out of a center file: the text of the rest (the file itself when it
/// has none, so errors point at its own lines) and the checked endpoints.
pub fn split_center_file(text: &str) -> Result<(String, Vec<FileEndpoint>), ConfigError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| config_error("file", e.to_string()))?;
    let Some(value) = table.remove("webhooks") else {
        return Ok((text.to_owned(), Vec::new()));
    };
    let endpoints: Vec<FileEndpoint> = value
        .try_into()
        .map_err(|e: toml::de::Error| config_error("webhooks", e.message().to_owned()))?;
    if endpoints.len() > MAX_ENDPOINTS {
        return Err(config_error(
            "webhooks",
            format!("at most {MAX_ENDPOINTS} endpoints"),
        ));
    }
    let mut checked: Vec<FileEndpoint> = Vec::with_capacity(endpoints.len());
    for (i, e) in endpoints.into_iter().enumerate() {
        let field = |what: &str| format!("webhooks[{i}].{what}");
        let url = check_url(&e.url).map_err(|m| config_error(field("url"), m))?;
        if checked.iter().any(|c| c.url == url) {
            return Err(config_error(field("url"), format!("{url} is named twice")));
        }
        sign::secret_key(&e.secret).map_err(|m| config_error(field("secret"), m))?;
        let events = check_events(&e.events).map_err(|m| config_error(field("events"), m))?;
        checked.push(FileEndpoint {
            url,
            secret: e.secret,
            events,
        });
    }
    let rest = toml::to_string(&table).map_err(|e| config_error("file", e.to_string()))?;
    Ok((rest, checked))
}

fn config_error(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// A URL deliveries may go to, normalized, or why not: `http` or `https`, a host, no user
/// name or password (they would be sent to anyone who can read the settings), no fragment.
///
/// The admin who sets it is trusted, so private addresses are allowed (the one-door server
/// is usually on the center's network); what keeps a URL from being turned against the LAN
/// is elsewhere: only POSTs of our own body, redirects never followed, and nothing of a
/// response shown but its status.
pub fn check_url(text: &str) -> Result<String, String> {
    if text.len() > MAX_URL {
        return Err(format!("a URL of at most {MAX_URL} characters"));
    }
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("only http:// and https:// URLs".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("no user name or password in the URL: the signature authenticates".into());
    }
    if url.fragment().is_some() {
        return Err("no #fragment in the URL".into());
    }
    Ok(url.to_string())
}

/// An events filter, each kind known and named once, in [`KINDS`] order.
pub fn check_events(events: &[String]) -> Result<Vec<String>, String> {
    if let Some(unknown) = events.iter().find(|k| !KINDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown event kind {unknown:?}; known: {}",
            KINDS.join(", ")
        ));
    }
    Ok(KINDS
        .iter()
        .filter(|k| events.iter().any(|e| e == *k))
        .map(|k| (*k).to_owned())
        .collect())
}

/// Waits between attempts at one event: doubling from `min` up to `max`, each picked at
/// random in its upper half so that endpoints failing together do not retry together.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first wait.
    pub min: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min: Duration::from_secs(1),
            max: Duration::from_secs(600),
        }
    }
}

/// Environment variable that shortens the waits (`MIN_MS,MAX_MS`), for tests.
pub const RETRY_ENV: &str = "LUOT_WEBHOOK_RETRY_MS";

impl RetryPolicy {
    /// The default, or what [`RETRY_ENV`] says.
    pub fn from_env() -> RetryPolicy {
        let Ok(text) = std::env::var(RETRY_ENV) else {
            return RetryPolicy::default();
        };
        let parsed = text.split_once(',').and_then(|(a, b)| {
            let min = a.trim().parse::<u64>().ok()?;
            let max = b.trim().parse::<u64>().ok()?;
            (min >= 1 && max >= min).then(|| RetryPolicy {
                min: Duration::from_millis(min),
                max: Duration::from_millis(max),
            })
        });
        parsed.unwrap_or_else(|| {
            tracing::warn!(value = %text, "{RETRY_ENV} is not MIN_MS,MAX_MS; using the default waits");
            RetryPolicy::default()
        })
    }

    /// The wait after the `failures`-th failure in a row (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let full = self
            .min
            .saturating_mul(1u32 << doublings)
            .min(self.max)
            .max(self.min);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::random_range(0..=spread)
        };
        half + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Waits double up to the bound and stay in the upper half of each step.
    #[test]
    fn backoff_is_bounded_with_jitter() {
        let policy = RetryPolicy::default();
        for failures in 1..40 {
            let d = policy.delay(failures);
            let full = Duration::from_secs(1 << (failures - 1).min(10)).min(policy.max);
            assert!(d >= full / 2 && d <= full, "{failures}: {d:?}");
        }
        assert!(policy.delay(100) <= Duration::from_secs(600));
    }

    /// Only plain http(s) URLs without credentials or fragments pass.
    #[test]
    fn urls() {
        assert!(check_url("http://10.0.0.5:8080/hook").is_ok());
        assert!(check_url("https://motcua.example.vn/api/luot").is_ok());
        for bad in [
            "ftp://x/",
            "file:///etc/passwd",
            "http://user:pw@x/",
            "http://x/#a",
            "hook",
            "http://",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    /// The center file's webhooks are taken out and checked; the rest parses as before.
    #[test]
    fn center_file_split() {
        let text = "[center]\nname = \"X\"\n\n[[webhooks]]\nurl = \"http://127.0.0.1:9/h\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"ticket_called\", \"ticket_issued\"]\n";
        let (rest, hooks) = split_center_file(text).unwrap();
        assert!(!rest.contains("webhooks"));
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].events, ["ticket_issued", "ticket_called"]);
        let plain = "[center]\nname = \"X\"\n";
        assert_eq!(split_center_file(plain).unwrap().0, plain);
        let bad = "[[webhooks]]\nurl = \"http://x/\"\nsecret = \"nope\"\n";
        assert_eq!(
            split_center_file(bad).unwrap_err().field,
            "webhooks[0].secret"
        );
        let unknown = "[[webhooks]]\nurl = \"http://x/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"ticket_eaten\"]\n";
        assert!(split_center_file(unknown).is_err());
    }
}
