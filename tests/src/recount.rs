//! The report recounted from an exported event log by its own reading of the figure
//! definitions (the README's "What the report figures mean"), for tests that hold it against
//! `GET /api/v1/reports`. Nothing here calls the server's reports or the shared lifecycle
//! rule: only the event types are shared, so agreement means two implementations agree.
//!
//! - [`parse_export`]: the events of an export (`GET /api/v1/admin/export`), checked whole
//! - [`Recount`]: every ticket's life replayed from the events; [`Recount::report`] the rows
//! - [`Report`] and [`Row`]: a report as the server's JSON has it (unknown fields refused, so
//!   a figure added to the server without a recount fails the comparison)
//! - [`differences`], [`csv_differences`]: a recounted row against the server's JSON and CSV

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use luot_shared::{CenterConfig, Event, Recorded, TicketId};
use serde::Deserialize;

/// A report as `GET /api/v1/reports` answers it in JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
    /// Grouping, as in the query.
    pub by: String,
    /// Rows in the report's order.
    pub rows: Vec<Row>,
    /// All tickets of the range.
    pub total: Row,
}

/// One row of figures, field for field as the server's JSON has it.
// Each field is the JSON field of the same name, defined in the README's "What the report
// figures mean".
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub issued: u64,
    pub called: u64,
    pub served: u64,
    pub no_show: u64,
    pub cancelled: u64,
    pub expired: u64,
    pub avg_wait_s: u64,
    pub median_wait_s: u64,
    pub p90_wait_s: u64,
    pub max_wait_s: u64,
    pub over_target: u64,
    pub over_target_pct: f64,
    pub within_target_pct: f64,
    pub avg_service_s: u64,
    pub median_service_s: u64,
    pub p90_service_s: u64,
    pub max_service_s: u64,
    pub ratings: u64,
    pub ratings_by_level: [u64; 5],
    pub avg_rating: f64,
    pub satisfaction_pct: f64,
    pub estimated: u64,
    pub estimate_error_s: u64,
}

/// The events of an export, after checking its header, a gap-free log from seq 1 and the
/// count on its end line.
///
/// # Panics
///
/// When the text is not a whole export.
pub fn parse_export(text: &str) -> Vec<Recorded> {
    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Line {
        Header(serde_json::Value),
        Event(Box<Recorded>),
        Token(serde::de::IgnoredAny),
        User(serde::de::IgnoredAny),
        Meta(serde::de::IgnoredAny),
        End(serde_json::Value),
    }
    let mut events = Vec::new();
    let mut lines = text.lines();
    let header: Line = serde_json::from_str(lines.next().expect("an export has a header"))
        .expect("the header line");
    let Line::Header(header) = header else {
        panic!("the export does not start with its header")
    };
    assert_eq!(header["format"], "luot-export");
    let mut end = None;
    for line in lines {
        match serde_json::from_str::<Line>(line)
            .unwrap_or_else(|e| panic!("not an export line ({e}): {line}"))
        {
            Line::Event(rec) => {
                assert_eq!(rec.seq, events.len() as u64 + 1, "the log has no gap");
                events.push(*rec);
            }
            Line::End(e) => end = Some(e),
            Line::Header(_) => panic!("a second header"),
            Line::Token(_) | Line::User(_) | Line::Meta(_) => {}
        }
    }
    let end = end.expect("the export is whole: it has its end line");
    assert_eq!(
        end["events"],
        events.len() as u64,
        "the end line counts the events"
    );
    assert_eq!(header["last_seq"], events.len() as u64);
    events
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Waiting,
    Called,
    Serving,
    Done,
    NoShow,
    Cancelled,
    Expired,
}

impl Stage {
    fn open(self) -> bool {
        matches!(self, Stage::Waiting | Stage::Called | Stage::Serving)
    }
}

/// One wait: in which service, since when, until which first call.
#[derive(Debug, Clone)]
struct Wait {
    service: String,
    since: Timestamp,
    called: Option<Timestamp>,
    /// The service's target in force when the wait began, minutes.
    target_min: u32,
}

/// A ticket's life as the log tells it.
#[derive(Debug, Clone)]
struct Life {
    day: Date,
    issued_at: Timestamp,
    service: String,
    stage: Stage,
    waits: Vec<Wait>,
    latest_call: Option<Timestamp>,
    started: Option<Timestamp>,
    finished: Option<Timestamp>,
    counter: Option<u32>,
    staff: Option<String>,
    rating: Option<u8>,
    estimate: Option<u64>,
}

/// Every ticket of a log, replayed.
#[derive(Debug, Clone)]
pub struct Recount {
    config: CenterConfig,
    tz: TimeZone,
    lives: BTreeMap<TicketId, Life>,
}

/// The target wait of `service` in `config`, minutes.
fn target_in(config: Option<&CenterConfig>, service: &str) -> u32 {
    config
        .and_then(|c| c.services.iter().find(|s| s.id == service))
        .map_or(15, |s| s.target_wait_min)
}

/// Whole seconds from `from` to `to` (none below zero).
fn secs(from: Timestamp, to: Timestamp) -> u64 {
    let ms = to.as_millisecond() - from.as_millisecond();
    u64::try_from(ms.div_euclid(1000)).unwrap_or(0)
}

impl Recount {
    /// Replays `events`.
    ///
    /// # Panics
    ///
    /// When the log has no configuration, an event names a ticket never issued, or a day's
    /// close lists other tickets as expired than the ones still open.
    pub fn new(events: &[Recorded]) -> Recount {
        let mut config = None;
        let mut lives: BTreeMap<TicketId, Life> = BTreeMap::new();
        for rec in events {
            let at = rec.at;
            let id = match &rec.event {
                Event::CenterConfigured { config: c, .. } => {
                    config = Some(c.clone());
                    continue;
                }
                Event::TicketIssued { ticket, .. } => {
                    let life = Life {
                        day: ticket.day,
                        issued_at: ticket.issued_at,
                        service: ticket.service.clone(),
                        stage: Stage::Waiting,
                        waits: vec![Wait {
                            service: ticket.service.clone(),
                            since: ticket.issued_at,
                            called: None,
                            target_min: target_in(config.as_ref(), &ticket.service),
                        }],
                        latest_call: None,
                        started: None,
                        finished: None,
                        counter: None,
                        staff: None,
                        rating: None,
                        estimate: ticket.estimated_wait_s,
                    };
                    lives.insert(ticket.id, life);
                    continue;
                }
                Event::DayClosed { expired, .. } => {
                    let open: Vec<TicketId> = lives
                        .iter()
                        .filter(|(_, l)| l.stage.open())
                        .map(|(id, _)| *id)
                        .collect();
                    let mut listed: Vec<TicketId> = expired.iter().map(|r| r.id).collect();
                    listed.sort_unstable();
                    assert_eq!(
                        listed, open,
                        "the close at seq {} expires exactly the open tickets",
                        rec.seq
                    );
                    for id in open {
                        if let Some(life) = lives.get_mut(&id) {
                            life.stage = Stage::Expired;
                        }
                    }
                    continue;
                }
                Event::CounterOpened { .. }
                | Event::CounterClosed { .. }
                | Event::ClockStepped { .. } => continue,
                Event::TicketCalled { ticket, .. }
                | Event::TicketServing { ticket, .. }
                | Event::TicketFinished { ticket, .. }
                | Event::TicketNoShow { ticket, .. }
                | Event::TicketReinstated { ticket, .. }
                | Event::TicketTransferred { ticket, .. }
                | Event::TicketCancelled { ticket, .. }
                | Event::TicketRated { ticket, .. } => ticket.id,
            };
            let life = lives
                .get_mut(&id)
                .unwrap_or_else(|| panic!("event {} is about ticket {id}, never issued", rec.seq));
            match &rec.event {
                Event::TicketCalled { counter, staff, .. } => {
                    life.stage = Stage::Called;
                    life.counter = Some(*counter);
                    life.staff = Some(staff.clone());
                    life.latest_call = Some(at);
                    if let Some(wait) = life.waits.last_mut() {
                        wait.called.get_or_insert(at);
                    }
                }
                Event::TicketServing { .. } => {
                    life.stage = Stage::Serving;
                    life.started = Some(at);
                }
                Event::TicketFinished { counter, staff, .. } => {
                    life.stage = Stage::Done;
                    life.finished = Some(at);
                    life.counter = Some(*counter);
                    life.staff = Some(staff.clone());
                }
                Event::TicketNoShow { .. } => life.stage = Stage::NoShow,
                Event::TicketReinstated { .. } => {
                    // Back in its queue: a later call is a new visit to a counter.
                    life.stage = Stage::Waiting;
                    life.started = None;
                    life.counter = None;
                }
                Event::TicketTransferred {
                    service,
                    counter,
                    from_counter,
                    ..
                } => {
                    // Re-queued where it waits (its named counter removed): the same wait.
                    if from_counter.is_some() || *service != life.service {
                        life.waits.push(Wait {
                            service: service.clone(),
                            since: at,
                            called: None,
                            target_min: target_in(config.as_ref(), service),
                        });
                    }
                    life.stage = Stage::Waiting;
                    life.service = service.clone();
                    life.started = None;
                    life.counter = *counter;
                }
                Event::TicketCancelled { .. } => life.stage = Stage::Cancelled,
                Event::TicketRated { score, .. } => life.rating = Some(*score),
                _ => {}
            }
        }
        let config = config.expect("the log records the configuration");
        let tz = TimeZone::get(&config.center.timezone).expect("the center's time zone");
        Recount { config, tz, lives }
    }

    /// Tickets of the days `from..=to` that are still open (a day not closed yet).
    pub fn open_tickets(&self, from: Date, to: Date) -> usize {
        self.lives
            .values()
            .filter(|l| (from..=to).contains(&l.day) && l.stage.open())
            .count()
    }

    /// The report over `from..=to` grouped `by` (`service`, `counter`, `staff`, `hour`, `day`,
    /// `week`, `month`, `quarter`), as the definitions give it.
    ///
    /// # Panics
    ///
    /// On another grouping.
    pub fn report(&self, from: Date, to: Date, by: &str) -> Report {
        let mut groups: BTreeMap<String, Sums> = BTreeMap::new();
        let mut total = Sums::default();
        for life in self.lives.values().filter(|l| (from..=to).contains(&l.day)) {
            let outcome = TicketSums::of(life);
            let waits: Vec<WaitSample> = life
                .waits
                .iter()
                .enumerate()
                .map(|(i, w)| WaitSample {
                    service: w.service.clone(),
                    secs: w.called.map(|c| secs(w.since, c)),
                    target_s: u64::from(w.target_min) * 60,
                    estimate: life.estimate.filter(|_| i == 0),
                })
                .collect();
            total.add(&outcome, &waits);
            if by == "service" {
                // The ticket where it ended; each wait where it was spent.
                groups
                    .entry(life.service.clone())
                    .or_default()
                    .add(&outcome, &[]);
                for w in &waits {
                    groups.entry(w.service.clone()).or_default().add_wait(w);
                }
                continue;
            }
            let key = match by {
                "counter" => life
                    .counter
                    .map_or_else(|| "-".to_owned(), |c| format!("{c:03}")),
                "staff" => life.staff.clone().unwrap_or_else(|| "-".to_owned()),
                "hour" => format!("{:02}", life.issued_at.to_zoned(self.tz.clone()).hour()),
                "day" => life.day.to_string(),
                "week" => {
                    let w = life.day.iso_week_date();
                    format!("{}-W{:02}", w.year(), w.week())
                }
                "month" => format!("{}-{:02}", life.day.year(), life.day.month()),
                "quarter" => format!("{}-Q{}", life.day.year(), (life.day.month() + 2) / 3),
                other => panic!("no grouping {other:?}"),
            };
            groups.entry(key).or_default().add(&outcome, &waits);
        }
        let mut rows: Vec<Row> = groups
            .into_iter()
            .map(|(key, sums)| {
                let label = self.label(by, &key);
                sums.row(key, label)
            })
            .collect();
        if by == "service" {
            let place = |key: &str| self.config.services.iter().position(|s| s.id == key);
            rows.sort_by_key(|r| place(&r.key).unwrap_or(usize::MAX));
        }
        Report {
            from,
            to,
            by: by.to_owned(),
            rows,
            total: total.row("total".into(), "Tổng cộng".into()),
        }
    }

    fn label(&self, by: &str, key: &str) -> String {
        let roman = |q: &str| match q {
            "1" => "I",
            "2" => "II",
            "3" => "III",
            _ => "IV",
        };
        match by {
            "service" => self
                .config
                .services
                .iter()
                .find(|s| s.id == key)
                .map_or_else(|| key.to_owned(), |s| s.name.clone()),
            "counter" | "staff" if key == "-" => "Chưa qua quầy".to_owned(),
            "counter" => {
                let n: u32 = key.parse().expect("a counter number");
                self.config
                    .counters
                    .iter()
                    .find(|c| c.id == n)
                    .map_or_else(|| format!("Quầy {n}"), |c| c.name.clone())
            }
            "hour" => {
                let h: u32 = key.parse().expect("an hour");
                format!("{h:02}:00–{:02}:00", h + 1)
            }
            "day" => {
                let (y, rest) = key.split_at(4);
                format!("{}/{}/{y}", &rest[4..6], &rest[1..3])
            }
            "week" => {
                let (y, w) = key.split_once("-W").expect("a week key");
                format!("Tuần {w}/{y}")
            }
            "month" => {
                let (y, m) = key.split_once('-').expect("a month key");
                format!("Tháng {m}/{y}")
            }
            "quarter" => {
                let (y, q) = key.split_once("-Q").expect("a quarter key");
                format!("Quý {}/{y}", roman(q))
            }
            _ => key.to_owned(),
        }
    }
}

/// What one ticket adds to a row besides its waits.
struct TicketSums {
    stage: Stage,
    service_s: Option<u64>,
    rating: Option<u8>,
}

impl TicketSums {
    fn of(life: &Life) -> TicketSums {
        let service_s = match (life.stage, life.finished) {
            (Stage::Done, Some(end)) => life.started.or(life.latest_call).map(|s| secs(s, end)),
            _ => None,
        };
        TicketSums {
            stage: life.stage,
            service_s,
            rating: life.rating,
        }
    }
}

/// One wait as a row counts it.
struct WaitSample {
    service: String,
    secs: Option<u64>,
    target_s: u64,
    estimate: Option<u64>,
}

/// The raw material of one row.
#[derive(Default)]
struct Sums {
    issued: u64,
    stages: HashMap<&'static str, u64>,
    waits: Vec<u64>,
    over_target: u64,
    services: Vec<u64>,
    levels: [u64; 5],
    estimated: u64,
    estimate_error: u64,
}

impl Sums {
    fn add(&mut self, t: &TicketSums, waits: &[WaitSample]) {
        self.issued += 1;
        let stage = match t.stage {
            Stage::Done => "served",
            Stage::NoShow => "no_show",
            Stage::Cancelled => "cancelled",
            Stage::Expired => "expired",
            Stage::Waiting | Stage::Called | Stage::Serving => "open",
        };
        *self.stages.entry(stage).or_default() += 1;
        self.services.extend(t.service_s);
        if let Some(score) = t.rating {
            self.levels[usize::from(score) - 1] += 1;
        }
        for w in waits {
            self.add_wait(w);
        }
    }

    fn add_wait(&mut self, w: &WaitSample) {
        let Some(secs) = w.secs else { return };
        self.waits.push(secs);
        if secs > w.target_s {
            self.over_target += 1;
        }
        if let Some(estimate) = w.estimate {
            self.estimated += 1;
            self.estimate_error += estimate.abs_diff(secs);
        }
    }

    fn row(&self, key: String, label: String) -> Row {
        let stage = |s| self.stages.get(s).copied().unwrap_or(0);
        let (wait_n, avg_wait, median_wait, p90_wait, max_wait) = spread(&self.waits);
        let (_, avg_service, median_service, p90_service, max_service) = spread(&self.services);
        let ratings: u64 = self.levels.iter().sum();
        let points: u64 = self
            .levels
            .iter()
            .zip(1..)
            .map(|(n, score)| n * score)
            .sum();
        Row {
            key,
            label,
            issued: self.issued,
            called: wait_n,
            served: stage("served"),
            no_show: stage("no_show"),
            cancelled: stage("cancelled"),
            expired: stage("expired"),
            avg_wait_s: avg_wait,
            median_wait_s: median_wait,
            p90_wait_s: p90_wait,
            max_wait_s: max_wait,
            over_target: self.over_target,
            over_target_pct: share(self.over_target, wait_n, 1),
            within_target_pct: share(wait_n - self.over_target, wait_n, 1),
            avg_service_s: avg_service,
            median_service_s: median_service,
            p90_service_s: p90_service,
            max_service_s: max_service,
            ratings,
            ratings_by_level: self.levels,
            avg_rating: share(points, ratings * 100, 2),
            satisfaction_pct: share(self.levels[3] + self.levels[4], ratings, 1),
            estimated: self.estimated,
            estimate_error_s: self.estimate_error.checked_div(self.estimated).unwrap_or(0),
        }
    }
}

/// Count, mean (rounded down), median and 90th percentile by nearest rank, and maximum.
fn spread(samples: &[u64]) -> (u64, u64, u64, u64, u64) {
    if samples.is_empty() {
        return (0, 0, 0, 0, 0);
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    // Nearest rank: the ⌈p·n/100⌉-th smallest sample.
    let rank = |p: usize| sorted[(p * n).div_ceil(100).max(1) - 1];
    let mean = sorted.iter().sum::<u64>() / n as u64;
    (n as u64, mean, rank(50), rank(90), sorted[n - 1])
}

/// `100·a/b` rounded half up to `decimals` decimals (0 when `b` is 0).
fn share(a: u64, b: u64, decimals: u32) -> f64 {
    if b == 0 {
        return 0.0;
    }
    let scale = 10u64.pow(decimals);
    let scaled = (2 * a * 100 * scale + b) / (2 * b);
    scaled as f64 / scale as f64
}

/// The figures of `actual` that differ from `expected`, one line each (empty: none).
pub fn differences(expected: &Row, actual: &Row) -> Vec<String> {
    let mut out = Vec::new();
    let mut int = |name: &str, e: u64, a: u64| {
        if e != a {
            out.push(format!("{name}: expected {e}, server {a}"));
        }
    };
    int("issued", expected.issued, actual.issued);
    int("called", expected.called, actual.called);
    int("served", expected.served, actual.served);
    int("no_show", expected.no_show, actual.no_show);
    int("cancelled", expected.cancelled, actual.cancelled);
    int("expired", expected.expired, actual.expired);
    int("avg_wait_s", expected.avg_wait_s, actual.avg_wait_s);
    int(
        "median_wait_s",
        expected.median_wait_s,
        actual.median_wait_s,
    );
    int("p90_wait_s", expected.p90_wait_s, actual.p90_wait_s);
    int("max_wait_s", expected.max_wait_s, actual.max_wait_s);
    int("over_target", expected.over_target, actual.over_target);
    int(
        "avg_service_s",
        expected.avg_service_s,
        actual.avg_service_s,
    );
    int(
        "median_service_s",
        expected.median_service_s,
        actual.median_service_s,
    );
    int(
        "p90_service_s",
        expected.p90_service_s,
        actual.p90_service_s,
    );
    int(
        "max_service_s",
        expected.max_service_s,
        actual.max_service_s,
    );
    int("ratings", expected.ratings, actual.ratings);
    for (level, (e, a)) in expected
        .ratings_by_level
        .iter()
        .zip(&actual.ratings_by_level)
        .enumerate()
    {
        int(&format!("ratings_by_level[{level}]"), *e, *a);
    }
    int("estimated", expected.estimated, actual.estimated);
    int(
        "estimate_error_s",
        expected.estimate_error_s,
        actual.estimate_error_s,
    );
    let mut real = |name: &str, e: f64, a: f64| {
        if (e - a).abs() > 1e-9 {
            out.push(format!("{name}: expected {e}, server {a}"));
        }
    };
    real(
        "over_target_pct",
        expected.over_target_pct,
        actual.over_target_pct,
    );
    real(
        "within_target_pct",
        expected.within_target_pct,
        actual.within_target_pct,
    );
    real("avg_rating", expected.avg_rating, actual.avg_rating);
    real(
        "satisfaction_pct",
        expected.satisfaction_pct,
        actual.satisfaction_pct,
    );
    if expected.label != actual.label {
        out.push(format!(
            "label: expected {:?}, server {:?}",
            expected.label, actual.label
        ));
    }
    out
}

/// The CSV header of a report.
pub const CSV_HEADER: [&str; 27] = [
    "Mã",
    "Nhóm",
    "Số phiếu",
    "Đã phục vụ",
    "Vắng mặt",
    "Đã hủy",
    "Hết hạn",
    "Lượt gọi",
    "Chờ trung bình (phút)",
    "Chờ trung vị (phút)",
    "Chờ P90 (phút)",
    "Chờ lâu nhất (phút)",
    "Quá hạn chờ",
    "Quá hạn chờ (%)",
    "Phục vụ trung bình (phút)",
    "Phục vụ trung vị (phút)",
    "Phục vụ P90 (phút)",
    "Phục vụ lâu nhất (phút)",
    "Lượt đánh giá",
    "Rất hài lòng",
    "Hài lòng",
    "Bình thường",
    "Không hài lòng",
    "Rất không hài lòng",
    "Điểm trung bình",
    "Chỉ số hài lòng (%)",
    "Sai số dự báo chờ (phút)",
];

/// How the CSV `fields` of a row differ from `row` (empty: they agree): counts and text as
/// they are, times in minutes to the nearest tenth, shares as the JSON has them.
pub fn csv_differences(row: &Row, fields: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if fields.len() != CSV_HEADER.len() {
        return vec![format!("{} fields, not {}", fields.len(), CSV_HEADER.len())];
    }
    let l = row.ratings_by_level;
    let text = |n: u64| n.to_string();
    let expected_text: [(usize, String); 17] = [
        (0, row.key.clone()),
        (1, row.label.clone()),
        (2, text(row.issued)),
        (3, text(row.served)),
        (4, text(row.no_show)),
        (5, text(row.cancelled)),
        (6, text(row.expired)),
        (7, text(row.called)),
        (12, text(row.over_target)),
        (13, format!("{:.1}", row.over_target_pct)),
        (18, text(row.ratings)),
        (19, text(l[4])),
        (20, text(l[3])),
        (21, text(l[2])),
        (22, text(l[1])),
        (23, text(l[0])),
        (24, format!("{:.2}", row.avg_rating)),
    ];
    let mut check = |i: usize, ok: bool, expected: &str| {
        if !ok {
            out.push(format!(
                "{}: expected {expected}, CSV {:?}",
                CSV_HEADER[i], fields[i]
            ));
        }
    };
    for (i, expected) in &expected_text {
        check(*i, &fields[*i] == expected, expected);
    }
    check(
        25,
        fields[25] == format!("{:.1}", row.satisfaction_pct),
        &row.satisfaction_pct.to_string(),
    );
    let seconds = [
        (8, row.avg_wait_s),
        (9, row.median_wait_s),
        (10, row.p90_wait_s),
        (11, row.max_wait_s),
        (14, row.avg_service_s),
        (15, row.median_service_s),
        (16, row.p90_service_s),
        (17, row.max_service_s),
        (26, row.estimate_error_s),
    ];
    for (i, s) in seconds {
        // One decimal: a tenth of a minute is 6 s, so the value is within 3 s of the figure.
        let ok = fields[i].split_once('.').is_some_and(|(_, d)| d.len() == 1)
            && fields[i]
                .parse::<f64>()
                .is_ok_and(|m| (m * 60.0 - s as f64).abs() <= 3.0 + 1e-6);
        check(i, ok, &format!("{s} s in minutes"));
    }
    out
}

/// The fields of one CSV line (quotes as RFC 4180 has them).
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("a field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("a field").push(c),
        }
    }
    fields
}
