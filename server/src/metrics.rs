//! Prometheus text metrics, kept in atomics so recording never blocks.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use luot_shared::StateView;

use crate::store::Health;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the commit latency histogram.
const COMMIT_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];

/// Every metric the server exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Commands handled by the engine.
    pub commands: Counter,
    /// Group commits (one flush each).
    pub commits: Counter,
    /// Events made durable.
    pub events: Counter,
    commit_micros: Counter,
    commit_buckets: [Counter; COMMIT_BUCKETS.len()],
    /// HTTP responses by class.
    pub http_2xx: Counter,
    /// HTTP 4xx responses.
    pub http_4xx: Counter,
    /// HTTP 5xx responses.
    pub http_5xx: Counter,
    /// Open WebSocket connections.
    pub ws_connections: Gauge,
    /// Fresh snapshots sent to subscribers that fell behind.
    pub ws_lag_snapshots: Counter,
    /// Failed logins.
    pub login_failures: Counter,
    /// Connections closed at once because every connection slot was taken.
    pub connections_refused: Counter,
    /// Unproven connections closed to make room for new ones.
    pub connections_evicted: Counter,
    /// Open HTTP connections (not counting upgraded WebSockets).
    pub http_connections: Gauge,
    /// Flushes of the credential writer (one per batch of credential writes).
    pub credential_commits: Counter,
    /// Credential write requests made durable.
    pub credential_writes: Counter,
}

impl Metrics {
    /// Records one group commit.
    pub fn observe_commit(&self, events: usize, took: Duration) {
        self.commits.inc();
        self.events.add(events as u64);
        self.commit_micros.add(took.as_micros() as u64);
        let secs = took.as_secs_f64();
        for (bound, bucket) in COMMIT_BUCKETS.iter().zip(&self.commit_buckets) {
            if secs <= *bound {
                bucket.inc();
            }
        }
    }

    /// Records an HTTP status.
    pub fn observe_status(&self, status: u16) {
        match status {
            500.. => self.http_5xx.inc(),
            400..=499 => self.http_4xx.inc(),
            _ => self.http_2xx.inc(),
        }
    }

    /// Renders everything in the Prometheus text format.
    pub fn render(&self, state: &StateView) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v.to_string())];
        metric(
            "luot_event_seq",
            "gauge",
            "Sequence number of the last event.",
            &one(state.seq),
        );
        metric(
            "luot_commands_total",
            "counter",
            "Commands handled by the engine.",
            &one(self.commands.get()),
        );
        metric(
            "luot_events_total",
            "counter",
            "Events made durable since start.",
            &one(self.events.get()),
        );
        let commits = self.commits.get();
        let mut hist: Vec<(String, String)> = COMMIT_BUCKETS
            .iter()
            .zip(&self.commit_buckets)
            .map(|(b, c)| (format!("_bucket{{le=\"{b}\"}}"), c.get().to_string()))
            .collect();
        hist.push(("_bucket{le=\"+Inf\"}".into(), commits.to_string()));
        hist.push((
            "_sum".into(),
            format!("{:.6}", self.commit_micros.get() as f64 / 1e6),
        ));
        hist.push(("_count".into(), commits.to_string()));
        metric(
            "luot_commit_seconds",
            "histogram",
            "Time to append and flush one batch of events.",
            &hist,
        );
        metric(
            "luot_http_responses_total",
            "counter",
            "HTTP responses by status class.",
            &[
                ("{class=\"2xx\"}".into(), self.http_2xx.get().to_string()),
                ("{class=\"4xx\"}".into(), self.http_4xx.get().to_string()),
                ("{class=\"5xx\"}".into(), self.http_5xx.get().to_string()),
            ],
        );
        metric(
            "luot_ws_connections",
            "gauge",
            "Open WebSocket connections.",
            &one(self.ws_connections.get()),
        );
        metric(
            "luot_ws_lag_snapshots_total",
            "counter",
            "Fresh snapshots sent to subscribers that fell behind.",
            &one(self.ws_lag_snapshots.get()),
        );
        metric(
            "luot_login_failures_total",
            "counter",
            "Failed logins.",
            &one(self.login_failures.get()),
        );
        metric(
            "luot_connections_refused_total",
            "counter",
            "Connections closed because every connection slot was taken.",
            &one(self.connections_refused.get()),
        );
        metric(
            "luot_http_connections",
            "gauge",
            "Open HTTP connections (upgraded WebSockets not counted).",
            &one(self.http_connections.get()),
        );
        metric(
            "luot_connections_evicted_total",
            "counter",
            "Connections without valid credentials closed to make room for new ones.",
            &one(self.connections_evicted.get()),
        );
        metric(
            "luot_credential_commits_total",
            "counter",
            "Flushes of credential writes (one per batch).",
            &one(self.credential_commits.get()),
        );
        metric(
            "luot_credential_writes_total",
            "counter",
            "Credential writes (tokens, accounts, sessions) made durable.",
            &one(self.credential_writes.get()),
        );
        let waiting: Vec<(String, String)> = state
            .services
            .iter()
            .map(|s| (format!("{{service=\"{}\"}}", s.id), s.waiting.to_string()))
            .collect();
        metric(
            "luot_waiting_tickets",
            "gauge",
            "Tickets waiting, by service.",
            &waiting,
        );
        let open = state.counters.iter().filter(|c| c.open).count() as u64;
        metric("luot_open_counters", "gauge", "Counters open.", &one(open));
        out
    }

    /// Renders the store's health in the Prometheus text format.
    pub fn render_store(&self, health: &Health) -> String {
        let mut out = String::new();
        let lines = [
            (
                "luot_store_failing",
                "gauge",
                "1 while the disk refuses writes and the store is reopening, else 0.",
                u64::from(health.failing),
            ),
            (
                "luot_store_damaged",
                "gauge",
                "1 once the check of the whole event log found a damaged record, else 0.",
                u64::from(health.damaged.is_some()),
            ),
            (
                "luot_store_failures_total",
                "counter",
                "Times the store started failing (disk full or failing) since start.",
                health.failures,
            ),
            (
                "luot_store_reopened_total",
                "counter",
                "Times the store recovered on its own after failing, since start.",
                health.reopened,
            ),
        ];
        for (name, kind, help, value) in lines {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}
