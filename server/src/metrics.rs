//! `/metrics` for Prometheus, through `prometheus-client`, the Prometheus project's Rust
//! client.
//!
//! Recording never blocks a caller: counters and gauges are atomics, and the histograms are
//! recorded by the engine thread alone (their lock is never contended by another recorder).
//! What the published state and the store already hold — tickets waiting, open counters, the
//! last `seq`, the store's health — is not recorded at all but read at each scrape, so it is
//! never stale.
//!
//! Every label value comes from the configuration or from this module, never from a request:
//! `service` is one of the configured services (at most 99, each an id of at most 32
//! characters of `a-z 0-9 - _`), `class` one of five status classes, `state` one of three,
//! `endpoint` a webhook endpoint's configured id (see [`Metrics::webhook_backlog`]).
//!
//! The scrape is answered in the OpenMetrics text format when the scraper asks for it
//! (Prometheus does by default), else in the Prometheus text format 0.0.4: see [`Format`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use luot_shared::{CenterConfig, Event, Recorded, ServiceId, StateView};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::store::Health;

/// Upper bounds (seconds) of the flush latency histogram: a flush is one fsync (about 0.2 ms
/// on the center's disk) plus the append, and anything past 10 ms is a disk in trouble.
const COMMIT_SECONDS: [f64; 13] = [
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Upper bounds of the commands-per-batch histogram: the writer takes 1 to 256 commands.
const BATCH_COMMANDS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Upper bounds of the events-per-flush histogram: a batch of 256 commands makes up to about
/// 512 events.
const COMMIT_EVENTS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// Status classes of `luot_http_responses_total`.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Webhook endpoints whose backlog is exported; past it a backlog gauge is kept but not
/// exported (and a warning logged), so the label set stays bounded whatever the caller does.
pub const MAX_WEBHOOK_ENDPOINTS: usize = 256;

/// The exposition format of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics text 1.0.0 (ends with `# EOF`; counters described without `_total`).
    OpenMetrics,
    /// Prometheus text 0.0.4, for scrapers and people that do not ask for OpenMetrics.
    Text,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it accepts
    /// `application/openmetrics-text` at least as much as plain text (Prometheus sends it
    /// first, with the highest weight), else text 0.0.4 — also without an `Accept`.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for param in parts {
                if let Some((key, value)) = param.split_once('=')
                    && key.trim().eq_ignore_ascii_case("q")
                {
                    q = value.trim().parse().unwrap_or(0.0);
                }
            }
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// Labels of the per-service families.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: ServiceId,
}

/// Labels of the HTTP response counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

/// Labels of the webhook backlog gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// What the scrape being answered read from the state and the store.
    live: Arc<Mutex<Live>>,
    /// The services that have a label in the per-service families: the configured ones.
    services: Mutex<Vec<ServiceId>>,
    /// Endpoints with a backlog gauge exported.
    endpoints: Mutex<HashSet<String>>,
    /// Commands handled by the engine.
    pub commands: Counter,
    /// Events made durable.
    pub events: Counter,
    commits: Histogram,
    commit_events: Histogram,
    batch_commands: Histogram,
    issued: Family<ServiceLabel, Counter>,
    served: Family<ServiceLabel, Counter>,
    responses: [Counter; CLASSES.len()],
    /// Open WebSocket connections (`/ws` and `/ws/track`).
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
    webhook_backlog: Family<EndpointLabel, Gauge>,
    /// Events not yet acknowledged by the province's stream (0 when not shipping).
    pub ship_backlog: Gauge,
    /// The last seq the province's stream acknowledged.
    pub ship_acked_seq: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered; no service has a label until [`Self::set_services`].
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let commands = counter(
            &mut registry,
            "luot_commands",
            "Commands handled by the engine",
        );
        let events = counter(
            &mut registry,
            "luot_events",
            "Events made durable since start",
        );
        let commits = Histogram::new(COMMIT_SECONDS);
        registry.register_with_unit(
            "luot_commit",
            "Time to append and flush one batch of events (one group commit)",
            Unit::Seconds,
            commits.clone(),
        );
        let commit_events = Histogram::new(COMMIT_EVENTS);
        registry.register(
            "luot_commit_events",
            "Events made durable by one group commit",
            commit_events.clone(),
        );
        let batch_commands = Histogram::new(BATCH_COMMANDS);
        registry.register(
            "luot_batch_commands",
            "Commands in one group commit (the callers that share one flush)",
            batch_commands.clone(),
        );
        let issued = Family::<ServiceLabel, Counter>::default();
        registry.register(
            "luot_tickets_issued",
            "Tickets issued since start, by service",
            issued.clone(),
        );
        let served = Family::<ServiceLabel, Counter>::default();
        registry.register(
            "luot_tickets_served",
            "Tickets whose service finished since start, by the service they finished in",
            served.clone(),
        );
        let by_class = Family::<ClassLabel, Counter>::default();
        registry.register(
            "luot_http_responses",
            "HTTP responses by status class",
            by_class.clone(),
        );
        let responses = CLASSES.map(|class| by_class.get_or_create_owned(&ClassLabel { class }));
        let ws_connections = gauge(
            &mut registry,
            "luot_ws_connections",
            "Open WebSocket connections",
        );
        let ws_lag_snapshots = counter(
            &mut registry,
            "luot_ws_lag_snapshots",
            "Fresh snapshots sent to subscribers that fell behind",
        );
        let login_failures = counter(&mut registry, "luot_login_failures", "Failed logins");
        let connections_refused = counter(
            &mut registry,
            "luot_connections_refused",
            "Connections closed because every connection slot was taken",
        );
        let http_connections = gauge(
            &mut registry,
            "luot_http_connections",
            "Open HTTP connections (upgraded WebSockets not counted)",
        );
        let connections_evicted = counter(
            &mut registry,
            "luot_connections_evicted",
            "Connections without valid credentials closed to make room for new ones",
        );
        let credential_commits = counter(
            &mut registry,
            "luot_credential_commits",
            "Flushes of credential writes (one per batch)",
        );
        let credential_writes = counter(
            &mut registry,
            "luot_credential_writes",
            "Credential writes (tokens, accounts, sessions) made durable",
        );
        let webhook_backlog = Family::<EndpointLabel, Gauge>::default();
        registry.register(
            "luot_webhook_backlog",
            "Events not yet delivered, by webhook endpoint",
            webhook_backlog.clone(),
        );
        let ship_backlog = Gauge::default();
        registry.register(
            "luot_ship_backlog",
            "Events not yet acknowledged by the province's stream (--ship)",
            ship_backlog.clone(),
        );
        let ship_acked_seq = Gauge::default();
        registry.register(
            "luot_ship_acked_seq",
            "The last seq the province's stream acknowledged (--ship)",
            ship_acked_seq.clone(),
        );
        let live = Arc::new(Mutex::new(Live::default()));
        registry.register_collector(Box::new(LiveCollector(live.clone())));
        Metrics {
            registry,
            live,
            services: Mutex::new(Vec::new()),
            endpoints: Mutex::new(HashSet::new()),
            commands,
            events,
            commits,
            commit_events,
            batch_commands,
            issued,
            served,
            responses,
            ws_connections,
            ws_lag_snapshots,
            login_failures,
            connections_refused,
            connections_evicted,
            http_connections,
            credential_commits,
            credential_writes,
            webhook_backlog,
            ship_backlog,
            ship_acked_seq,
        }
    }

    /// Records one group commit: `events` made durable for `commands` commands in `took`.
    pub fn observe_commit(&self, events: usize, commands: usize, took: Duration) {
        self.events.inc_by(events as u64);
        self.commits.observe(took.as_secs_f64());
        self.commit_events.observe(events as f64);
        self.batch_commands.observe(commands as f64);
    }

    /// Counts the tickets issued and served among durable events; a `center_configured`
    /// among them makes the per-service label set that of `config` (the configuration after
    /// these events).
    pub fn observe_events(&self, recorded: &[Recorded], config: &CenterConfig) {
        for rec in recorded {
            match &rec.event {
                Event::CenterConfigured { .. } => self.set_services(config),
                Event::TicketIssued { ticket, .. } => count(&self.issued, &ticket.service),
                Event::TicketFinished { ticket, .. } => count(&self.served, &ticket.service),
                _ => {}
            }
        }
    }

    /// Gives each service of `config` its labels in the per-service counters (at zero when
    /// new) and drops those of services no longer configured, so the label set is always
    /// the configured services.
    pub fn set_services(&self, config: &CenterConfig) {
        let ids: Vec<ServiceId> = config.services.iter().map(|s| s.id.clone()).collect();
        let mut known = lock(&self.services);
        for gone in known.iter().filter(|id| !ids.contains(id)) {
            let label = ServiceLabel {
                service: gone.clone(),
            };
            self.issued.remove(&label);
            self.served.remove(&label);
        }
        for id in &ids {
            let label = ServiceLabel {
                service: id.clone(),
            };
            drop(self.issued.get_or_create(&label));
            drop(self.served.get_or_create(&label));
        }
        *known = ids;
    }

    /// Records an HTTP status.
    pub fn observe_status(&self, status: u16) {
        let class = match status {
            ..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500.. => 4,
        };
        self.responses[class].inc();
    }

    /// The backlog gauge of one webhook endpoint, exported as
    /// `luot_webhook_backlog{endpoint="<endpoint_id>"}`: set it to the number of events not
    /// yet delivered to that endpoint whenever it changes. Pass the endpoint's configured id —
    /// never its URL (which may carry a credential) nor anything a request sent. The same id
    /// gives the same gauge; call [`Self::forget_webhook`] when the endpoint is removed. At
    /// most [`MAX_WEBHOOK_ENDPOINTS`] endpoints are exported; past that the gauge returned
    /// works but is not exported, and a warning is logged.
    pub fn webhook_backlog(&self, endpoint_id: &str) -> Gauge {
        let mut endpoints = lock(&self.endpoints);
        if !endpoints.contains(endpoint_id) {
            if endpoints.len() >= MAX_WEBHOOK_ENDPOINTS {
                tracing::warn!(
                    endpoint = endpoint_id,
                    max = MAX_WEBHOOK_ENDPOINTS,
                    "too many webhook endpoints to export their backlog; this one is not exported"
                );
                return Gauge::default();
            }
            endpoints.insert(endpoint_id.to_owned());
        }
        self.webhook_backlog.get_or_create_owned(&EndpointLabel {
            endpoint: endpoint_id.to_owned(),
        })
    }

    /// Stops exporting the backlog of an endpoint (it was removed).
    pub fn forget_webhook(&self, endpoint_id: &str) {
        lock(&self.endpoints).remove(endpoint_id);
        self.webhook_backlog.remove(&EndpointLabel {
            endpoint: endpoint_id.to_owned(),
        });
    }

    /// Renders every metric in `format`, with what `state` and `health` say now.
    pub fn render(&self, state: &StateView, health: &Health, format: Format) -> String {
        *lock(&self.live) = Live::of(state, health);
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail, and every name and label here is valid.
        let _ = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
        };
        out
    }
}

/// Adds one to `service`'s counter in `family`, if it has a label (it has when configured).
fn count(family: &Family<ServiceLabel, Counter>, service: &ServiceId) {
    let label = ServiceLabel {
        service: service.clone(),
    };
    if let Some(counter) = family.get(&label) {
        counter.inc();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a scrape reads from the published state and the store.
#[derive(Debug, Default)]
struct Live {
    seq: u64,
    waiting: Vec<(ServiceId, u32)>,
    open_counters: u64,
    failing: bool,
    damaged: bool,
    failures: u64,
    reopened: u64,
}

impl Live {
    fn of(state: &StateView, health: &Health) -> Live {
        Live {
            seq: state.seq,
            waiting: state
                .services
                .iter()
                .map(|s| (s.id.clone(), s.waiting))
                .collect(),
            open_counters: state.counters.iter().filter(|c| c.open).count() as u64,
            failing: health.failing,
            damaged: health.damaged.is_some(),
            failures: health.failures,
            reopened: health.reopened,
        }
    }
}

/// Encodes the [`Live`] values at each scrape.
#[derive(Debug)]
struct LiveCollector(Arc<Mutex<Live>>);

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let live = lock(&self.0);
        let flag = |b: bool| u64::from(b);
        for (name, help, value) in [
            (
                "luot_event_seq",
                "Sequence number of the last event.",
                live.seq,
            ),
            ("luot_open_counters", "Counters open.", live.open_counters),
            (
                "luot_store_failing",
                "1 while the disk refuses writes and the store is reopening, else 0.",
                flag(live.failing),
            ),
            (
                "luot_store_damaged",
                "1 once the check of the whole event log found a damaged record, else 0.",
                flag(live.damaged),
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }
        for (name, help, value) in [
            (
                "luot_store_failures",
                "Times the store started failing (disk full or failing) since start.",
                live.failures,
            ),
            (
                "luot_store_reopened",
                "Times the store recovered on its own after failing, since start.",
                live.reopened,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        // Exactly one state is 1: failing wins over damaged, as on `/healthz`.
        let state = if live.failing {
            "failing"
        } else if live.damaged {
            "damaged"
        } else {
            "up"
        };
        let mut metric = encoder.encode_descriptor(
            "luot_store_health",
            "The store's state: 1 for the current one of up, failing, damaged.",
            None,
            MetricType::Gauge,
        )?;
        for s in ["up", "failing", "damaged"] {
            let labels = [("state", s)];
            ConstGauge::new(flag(s == state)).encode(metric.encode_family(&labels)?)?;
        }
        let mut metric = encoder.encode_descriptor(
            "luot_waiting_tickets",
            "Tickets waiting now, by service.",
            None,
            MetricType::Gauge,
        )?;
        for (service, waiting) in &live.waiting {
            let labels = [("service", service.as_str())];
            ConstGauge::new(*waiting).encode(metric.encode_family(&labels)?)?;
        }
        let mut metric = encoder.encode_descriptor(
            "luot_build_info",
            "The running server's version; always 1.",
            None,
            MetricType::Gauge,
        )?;
        let labels = [("version", env!("CARGO_PKG_VERSION"))];
        ConstGauge::new(1u64).encode(metric.encode_family(&labels)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prometheus's default `Accept` gets OpenMetrics; no `Accept`, plain text or a refused
    /// OpenMetrics get text 0.0.4.
    #[test]
    fn negotiates_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
            application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;q=0.4,\
            text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain, application/openmetrics-text;q=0.5")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
    }

    /// The per-service counters carry exactly the configured services, across a change of
    /// configuration, and an event for another service adds no label.
    #[test]
    fn service_labels_follow_the_configuration() {
        let metrics = Metrics::new();
        let mut config = CenterConfig::default();
        metrics.set_services(&config);
        let state = luot_shared::Engine::new().state_view(jiff::Timestamp::UNIX_EPOCH);
        let labelled = |metrics: &Metrics, family: &str| -> Vec<String> {
            let text = metrics.render(&state, &Health::default(), Format::Text);
            let prefix = format!("{family}{{service=\"");
            let mut services: Vec<String> = text
                .lines()
                .filter_map(|l| Some(l.strip_prefix(&prefix)?.split('"').next()?.to_owned()))
                .collect();
            services.sort();
            services
        };
        let mut ids: Vec<ServiceId> = config.services.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        let first = config.services[0].id.clone();
        count(&metrics.issued, &"not-configured".to_owned());
        count(&metrics.issued, &first);
        assert_eq!(labelled(&metrics, "luot_tickets_issued_total"), ids);
        assert_eq!(labelled(&metrics, "luot_tickets_served_total"), ids);
        config.services.remove(0);
        metrics.set_services(&config);
        ids.retain(|id| *id != first);
        assert_eq!(labelled(&metrics, "luot_tickets_issued_total"), ids);
        assert_eq!(labelled(&metrics, "luot_tickets_served_total"), ids);
    }

    /// A webhook endpoint's backlog gauge is exported under its id until it is forgotten, and
    /// past the bound of endpoints a gauge still works but adds no series.
    #[test]
    fn webhook_backlog_per_endpoint() {
        let metrics = Metrics::new();
        let state = luot_shared::Engine::new().state_view(jiff::Timestamp::UNIX_EPOCH);
        let render = |m: &Metrics| m.render(&state, &Health::default(), Format::Text);
        assert!(!render(&metrics).contains("luot_webhook_backlog{"));
        metrics.webhook_backlog("one-door").set(5);
        assert_eq!(
            metrics.webhook_backlog("one-door").get(),
            5,
            "same id, same gauge"
        );
        assert!(render(&metrics).contains("luot_webhook_backlog{endpoint=\"one-door\"} 5\n"));
        metrics.forget_webhook("one-door");
        assert!(!render(&metrics).contains("one-door"));
        for i in 0..MAX_WEBHOOK_ENDPOINTS {
            metrics.webhook_backlog(&format!("e{i}")).set(1);
        }
        let extra = metrics.webhook_backlog("one-too-many");
        extra.set(7);
        assert_eq!(extra.get(), 7);
        let text = render(&metrics);
        assert!(!text.contains("one-too-many"));
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("luot_webhook_backlog{"))
                .count(),
            MAX_WEBHOOK_ENDPOINTS
        );
    }

    /// Both formats carry the same samples; OpenMetrics ends with `# EOF`, describes counters
    /// without `_total` and states the unit of the flush latency.
    #[test]
    fn renders_both_formats() {
        let metrics = Metrics::new();
        metrics.observe_commit(3, 2, Duration::from_micros(300));
        metrics.observe_status(201);
        let state = luot_shared::Engine::new().state_view(jiff::Timestamp::UNIX_EPOCH);
        let health = Health::default();
        let open = metrics.render(&state, &health, Format::OpenMetrics);
        let text = metrics.render(&state, &health, Format::Text);
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            open.contains("luot_batch_commands_bucket{le=\"1.0\"} 0\n"),
            "{open}"
        );
        assert!(
            open.contains("luot_batch_commands_bucket{le=\"2.0\"} 1\n"),
            "{open}"
        );
        assert!(
            text.contains("luot_batch_commands_bucket{le=\"2\"} 1\n"),
            "{text}"
        );
        assert!(open.contains("# TYPE luot_events counter\n"), "{open}");
        assert!(
            text.contains("# TYPE luot_events_total counter\n"),
            "{text}"
        );
        assert!(
            open.contains("# UNIT luot_commit_seconds seconds\n"),
            "{open}"
        );
        for sample in [
            "luot_events_total 3\n",
            "luot_commit_seconds_bucket{le=\"0.0002\"} 0\n",
            "luot_commit_seconds_bucket{le=\"0.0005\"} 1\n",
            "luot_commit_seconds_count 1\n",
            "luot_batch_commands_count 1\n",
            "luot_http_responses_total{class=\"2xx\"} 1\n",
            "luot_store_health{state=\"up\"} 1\n",
            "luot_store_failing 0\n",
            "luot_store_failures_total 0\n",
            "luot_ws_connections 0\n",
        ] {
            assert!(open.contains(sample), "no {sample:?} in {open}");
            assert!(text.contains(sample), "no {sample:?} in {text}");
        }
    }
}
