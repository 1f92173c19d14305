//! `/metrics` as Prometheus reads it: both exposition formats parse, the ticket counters and
//! the waiting gauge follow what happened by service, the histograms are well formed and
//! count every group commit, and the label set stays that of the configured services.
//!
//! The exposition is read by a parser written here from the format's rules, not by the
//! crate that writes it.

use std::collections::{BTreeMap, BTreeSet};

use luot_shared::protocol::Role;
use luot_tests::{ADMIN, Api, ServerOptions, TestServer};
use tokio::task::JoinSet;

/// The `Accept` header Prometheus 3 sends by default.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// The services of the default center, each with one counter (service `k` at counter `k+1`).
const SERVICES: [&str; 9] = [
    "tnmt", "tckh", "ldtbxh", "vhtt", "ct", "qldt", "tt", "nv", "tphc",
];
/// Tickets issued at once to make the writer fold several commands into one flush.
const BURST: usize = 40;

/// Issues, calls and finishes tickets in several services (one by one, then a burst at once),
/// tries an unknown service, and checks each scrape: counters and waiting gauge by service,
/// exactly the configured services as labels, histograms monotone with `+Inf` = `_count` =
/// the number of group commits, every event counted in one commit, and the same figures in
/// the OpenMetrics and the plain text format.
#[tokio::test]
async fn metrics_follow_the_queue_by_service() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("staff-1", Role::Staff, Some(1))
            .token("staff-2", Role::Staff, Some(2)),
    );
    let kiosk = server.api_as("kiosk");
    let staff1 = server.api_as("staff-1");
    let staff2 = server.api_as("staff-2");
    let admin = server.api_as(ADMIN);
    let scraper = server.api(None).with_header("accept", PROMETHEUS_ACCEPT);
    let configured: BTreeSet<String> = SERVICES.iter().map(|s| (*s).to_owned()).collect();

    // A fresh server: every configured service has its counters, at zero.
    let fresh = scrape(&scraper).await;
    for family in ["luot_tickets_issued_total", "luot_tickets_served_total"] {
        assert_eq!(
            fresh.services(family),
            configured,
            "{family} on a fresh server"
        );
        for service in SERVICES {
            assert_eq!(fresh.by_service(family, service), 0.0, "{family} {service}");
        }
    }
    assert_eq!(fresh.services("luot_waiting_tickets"), configured);
    assert_eq!(fresh.value("luot_store_health", &[("state", "up")]), 1.0);
    assert_eq!(fresh.value("luot_store_failing", &[]), 0.0);
    let version = fresh
        .series("luot_build_info")
        .into_iter()
        .map(|(labels, value)| (labels.get("version").cloned(), value))
        .collect::<Vec<_>>();
    assert_eq!(
        version,
        vec![(Some(env!("CARGO_PKG_VERSION").to_owned()), 1.0)]
    );

    // One by one, so that each command that records events is one group commit.
    let day = kiosk.state().await.day;
    let before = scrape(&scraper).await;
    let mut recording = 0;
    for service in ["tnmt", "tnmt", "tnmt", "tckh", "tckh", "vhtt"] {
        kiosk.issue_ticket(service).await;
        recording += 1;
    }
    staff1.open_counter(1).await;
    staff2.open_counter(2).await;
    recording += 2;
    for _ in 0..2 {
        staff1.call_next(1).await.expect("a tnmt ticket waits");
        staff1.counter_action(1, "finish").await.expect_status(200);
        recording += 2;
    }
    staff2.call_next(2).await.expect("a tckh ticket waits");
    staff2.counter_action(2, "finish").await.expect_status(200);
    recording += 2;
    // Refused: no event, no commit, and no label for the name the request made up.
    kiosk.issue("khong-co", None).await.expect_error(404);
    let after = scrape(&scraper).await;
    let commits = after.histogram("luot_commit_seconds").count
        - before.histogram("luot_commit_seconds").count;
    if kiosk.state().await.day == day {
        assert_eq!(
            commits, recording as f64,
            "one group commit per command that recorded events"
        );
    } else {
        // The business day turned during the test: its close may be a commit of its own.
        eprintln!("the business day changed during the test; commits checked within a bound");
        assert!(commits >= recording as f64 && commits <= recording as f64 + 1.0);
    }
    let issued = [("tnmt", 3.0), ("tckh", 2.0), ("vhtt", 1.0)];
    let served = [("tnmt", 2.0), ("tckh", 1.0)];
    let waiting = [("tnmt", 1.0), ("tckh", 1.0), ("vhtt", 1.0)];
    expect_by_service(&after, "luot_tickets_issued_total", &issued);
    expect_by_service(&after, "luot_tickets_served_total", &served);
    expect_by_service(&after, "luot_waiting_tickets", &waiting);
    for family in [
        "luot_tickets_issued_total",
        "luot_tickets_served_total",
        "luot_waiting_tickets",
    ] {
        assert_eq!(after.services(family), configured, "labels of {family}");
    }
    assert_eq!(after.value("luot_open_counters", &[]), 2.0);
    // Between the two scrapes: the first scrape's own answer, the 14 commands, the refusal.
    let responses =
        |e: &Exposition, class: &str| e.value("luot_http_responses_total", &[("class", class)]);
    assert_eq!(
        responses(&after, "2xx") - responses(&before, "2xx"),
        1.0 + recording as f64
    );
    assert_eq!(responses(&after, "4xx") - responses(&before, "4xx"), 1.0);
    assert_eq!(responses(&after, "5xx"), 0.0);

    // A burst at once: the writer folds what is queued into fewer flushes.
    let mut burst = JoinSet::new();
    for i in 0..BURST {
        let kiosk = kiosk.clone();
        let service = SERVICES[i % SERVICES.len()];
        burst.spawn(async move { kiosk.issue_ticket(service).await });
    }
    while let Some(done) = burst.join_next().await {
        done.expect("issue task");
    }
    let last = scrape(&scraper).await;
    let seq = admin.seq().await;
    for service in SERVICES {
        let extra = (0..BURST)
            .filter(|i| SERVICES[i % SERVICES.len()] == service)
            .count() as f64;
        let issued_before = after.by_service("luot_tickets_issued_total", service);
        let waiting_before = after.by_service("luot_waiting_tickets", service);
        assert_eq!(
            last.by_service("luot_tickets_issued_total", service),
            issued_before + extra,
            "issued {service}"
        );
        assert_eq!(
            last.by_service("luot_waiting_tickets", service),
            waiting_before + extra,
            "waiting {service}"
        );
    }
    let flush = last.histogram("luot_commit_seconds");
    let events = last.histogram("luot_commit_events");
    let commands = last.histogram("luot_batch_commands");
    assert!(flush.count >= 1.0);
    assert_eq!(
        events.count, flush.count,
        "one events observation per commit"
    );
    assert_eq!(
        commands.count, flush.count,
        "one commands observation per commit"
    );
    // Every event since start (the server is fresh) was made durable by exactly one commit.
    assert_eq!(last.value("luot_events_total", &[]), seq as f64);
    assert_eq!(
        events.sum, seq as f64,
        "events per commit add up to every event"
    );
    let burst_commands = commands.sum - after.histogram("luot_batch_commands").sum;
    assert!(
        burst_commands >= BURST as f64,
        "the burst's {BURST} commands are in the commits ({burst_commands})"
    );
    let burst_commits = flush.count - after.histogram("luot_commit_seconds").count;
    assert!(
        burst_commits >= 1.0 && burst_commits <= BURST as f64,
        "the burst took {burst_commits} commits"
    );
    eprintln!("a burst of {BURST} issues took {burst_commits} group commits");
    assert!(
        last.value("luot_commands_total", &[]) >= (recording + BURST) as f64,
        "commands counted"
    );

    // The plain text format, as served without `Accept`, says the same.
    let reply = server.api(None).get("/metrics").await.expect_status(200);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = Exposition::parse(&reply.body, false);
    for family in [
        "luot_tickets_issued_total",
        "luot_tickets_served_total",
        "luot_waiting_tickets",
    ] {
        assert_eq!(
            text.series(family),
            last.series(family),
            "{family} in both formats"
        );
    }
    assert_eq!(
        text.histogram("luot_commit_events").count,
        last.histogram("luot_commit_events").count
    );
    assert_eq!(text.kind("luot_tickets_issued_total"), Some("counter"));
    assert_eq!(last.kind("luot_tickets_issued"), Some("counter"));
    assert_eq!(last.kind("luot_commit_seconds"), Some("histogram"));
}

/// Scrapes as Prometheus does and parses the OpenMetrics answer.
async fn scrape(api: &Api) -> Exposition {
    let reply = api.get("/metrics").await.expect_status(200);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    Exposition::parse(&reply.body, true)
}

fn expect_by_service(exposition: &Exposition, family: &str, nonzero: &[(&str, f64)]) {
    for service in SERVICES {
        let expected = nonzero
            .iter()
            .find(|(s, _)| *s == service)
            .map_or(0.0, |(_, v)| *v);
        assert_eq!(
            exposition.by_service(family, service),
            expected,
            "{family}{{service=\"{service}\"}}"
        );
    }
}

/// Labels of one sample.
type Labels = BTreeMap<String, String>;

/// One metric family as declared by `# TYPE`.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    samples: Vec<(String, Labels, f64)>,
}

/// A parsed exposition: families by declared name.
#[derive(Debug, Default)]
struct Exposition {
    families: BTreeMap<String, Family>,
}

/// A classic histogram read back.
#[derive(Debug)]
struct HistogramSamples {
    sum: f64,
    count: f64,
}

impl Exposition {
    /// Parses the OpenMetrics text format (`openmetrics`) or the Prometheus text format
    /// 0.0.4, checking the rules a scraper relies on: every sample belongs to the family
    /// declared just before it, with the suffixes its type allows; no family is declared
    /// twice; no series appears twice; label values are quoted and escaped; OpenMetrics
    /// ends with exactly one `# EOF`.
    ///
    /// # Panics
    ///
    /// On any line that breaks them.
    fn parse(body: &str, openmetrics: bool) -> Exposition {
        let mut exposition = Exposition::default();
        let mut current: Option<String> = None;
        let mut seen = BTreeSet::new();
        let lines = body.lines();
        let mut ended = false;
        assert!(body.ends_with('\n'), "the exposition ends with a newline");
        for line in lines {
            assert!(!ended, "a line after # EOF: {line:?}");
            if line == "# EOF" {
                assert!(openmetrics, "# EOF in the text format");
                ended = true;
                continue;
            }
            if let Some(comment) = line.strip_prefix("# ") {
                let mut words = comment.splitn(3, ' ');
                let keyword = words.next().unwrap_or("");
                let name = words.next().unwrap_or("").to_owned();
                let rest = words.next().unwrap_or("");
                match keyword {
                    "TYPE" => {
                        assert!(valid_name(&name), "bad family name {name:?}");
                        let kinds: &[&str] = if openmetrics {
                            &[
                                "counter",
                                "gauge",
                                "histogram",
                                "gaugehistogram",
                                "summary",
                                "info",
                                "stateset",
                                "unknown",
                            ]
                        } else {
                            &["counter", "gauge", "histogram", "summary", "untyped"]
                        };
                        assert!(kinds.contains(&rest), "bad type {rest:?} of {name}");
                        if openmetrics && rest == "counter" {
                            assert!(
                                !name.ends_with("_total"),
                                "an OpenMetrics counter family is named without _total: {name}"
                            );
                        }
                        assert!(
                            !exposition.families.contains_key(&name),
                            "{name} declared twice"
                        );
                        exposition.families.insert(
                            name.clone(),
                            Family {
                                kind: rest.to_owned(),
                                samples: Vec::new(),
                            },
                        );
                        current = Some(name);
                    }
                    "HELP" => assert!(valid_name(&name), "bad name in HELP: {line:?}"),
                    "UNIT" => {
                        assert!(openmetrics, "# UNIT in the text format");
                        assert!(name.ends_with(&format!("_{rest}")), "unit {rest} of {name}");
                    }
                    _ => assert!(!openmetrics, "unknown comment {line:?}"),
                }
                continue;
            }
            assert!(!line.is_empty(), "an empty line");
            let (name, labels, value) = sample(line);
            let family = current
                .as_ref()
                .unwrap_or_else(|| panic!("a sample before any # TYPE: {line:?}"));
            let entry = exposition
                .families
                .get_mut(family)
                .expect("the current family");
            let suffix = name
                .strip_prefix(family.as_str())
                .unwrap_or_else(|| panic!("{name} in the family {family}"));
            let allowed: &[&str] = match (entry.kind.as_str(), openmetrics) {
                ("counter", true) => &["_total", "_created"],
                ("histogram", _) => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            assert!(
                allowed.contains(&suffix),
                "{name} in the {} family {family}",
                entry.kind
            );
            assert!(
                seen.insert((name.clone(), labels.clone())),
                "{line:?} appears twice"
            );
            entry.samples.push((name, labels, value));
        }
        assert_eq!(ended, openmetrics, "# EOF ends OpenMetrics, and only it");
        exposition
    }

    /// The declared type of a family.
    fn kind(&self, family: &str) -> Option<&str> {
        self.families.get(family).map(|f| f.kind.as_str())
    }

    /// The series of one sample name, sorted by labels.
    fn series(&self, name: &str) -> BTreeMap<Labels, f64> {
        self.families
            .values()
            .flat_map(|f| &f.samples)
            .filter(|(n, _, _)| n == name)
            .map(|(_, labels, value)| (labels.clone(), *value))
            .collect()
    }

    /// The value of a sample with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        *self
            .series(name)
            .get(&wanted)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in /metrics"))
    }

    fn by_service(&self, name: &str, service: &str) -> f64 {
        self.value(name, &[("service", service)])
    }

    /// The `service` label values of a sample name; each series has that label alone.
    fn services(&self, name: &str) -> BTreeSet<String> {
        self.series(name)
            .keys()
            .map(|labels| {
                assert_eq!(labels.len(), 1, "{name} has only the service label");
                labels.get("service").cloned().expect("a service label")
            })
            .collect()
    }

    /// A histogram without labels, checked: bucket bounds strictly increasing and ending at
    /// `+Inf`, cumulative counts never decreasing, `+Inf` equal to `_count`.
    fn histogram(&self, family: &str) -> HistogramSamples {
        let entry = self
            .families
            .get(family)
            .unwrap_or_else(|| panic!("no histogram {family}"));
        assert_eq!(entry.kind, "histogram");
        let mut buckets = Vec::new();
        let (mut sum, mut count) = (None, None);
        for (name, labels, value) in &entry.samples {
            match name.strip_prefix(family) {
                Some("_bucket") => {
                    let le = labels.get("le").expect("a bucket has le");
                    assert_eq!(labels.len(), 1, "only le on {family}");
                    buckets.push((parse_value(le), *value));
                }
                Some("_sum") => sum = Some(*value),
                Some("_count") => count = Some(*value),
                _ => {}
            }
        }
        let count = count.unwrap_or_else(|| panic!("{family}_count"));
        let sum = sum.unwrap_or_else(|| panic!("{family}_sum"));
        assert!(buckets.len() >= 2, "{family} has buckets");
        for pair in buckets.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{family}: bounds increase: {buckets:?}"
            );
            assert!(
                pair[0].1 <= pair[1].1,
                "{family}: counts never decrease: {buckets:?}"
            );
        }
        let (last_le, last_count) = buckets[buckets.len() - 1];
        assert_eq!(last_le, f64::INFINITY, "{family} ends with +Inf");
        assert_eq!(last_count, count, "{family}: +Inf equals _count");
        assert!(sum >= 0.0, "{family}_sum");
        HistogramSamples { sum, count }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A number as the formats write it, `+Inf`, `-Inf` and `NaN` included.
fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text
            .parse()
            .unwrap_or_else(|_| panic!("bad number {text:?}")),
    }
}

/// `name{label="value",...} value` (no timestamps: the server writes none).
fn sample(line: &str) -> (String, Labels, f64) {
    let end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line:?}"));
    let name = &line[..end];
    assert!(valid_name(name), "bad sample name in {line:?}");
    let mut labels = Labels::new();
    let mut rest = &line[end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut closed = None;
        loop {
            // A label name up to `=`, or the closing brace.
            let mut key = String::new();
            for (i, c) in chars.by_ref() {
                if c == '}' && key.is_empty() {
                    closed = Some(i);
                    break;
                }
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if closed.is_some() {
                break;
            }
            assert!(
                valid_name(&key) && !key.contains(':'),
                "bad label name in {line:?}"
            );
            assert_eq!(
                chars.next().map(|(_, c)| c),
                Some('"'),
                "quoted value in {line:?}"
            );
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some(c) => value.push(c),
                    None => panic!("unterminated label value in {line:?}"),
                }
            }
            assert!(
                labels.insert(key.clone(), value).is_none(),
                "label {key} twice in {line:?}"
            );
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => {
                    closed = Some(i);
                    break;
                }
                other => panic!("expected , or }} after a label, got {other:?} in {line:?}"),
            }
        }
        let closed = closed.unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
        rest = &inner[closed + 1..];
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("one space before the value in {line:?}"));
    assert!(!value.contains(' '), "no timestamp expected in {line:?}");
    (name.to_owned(), labels, parse_value(value))
}
