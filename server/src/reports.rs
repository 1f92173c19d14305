//! `/api/v1/reports`: wait times, service times, outcomes and satisfaction, grouped by
//! service, counter, staff member, hour or day, as JSON or CSV. Every figure is recomputed
//! from the event log.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use luot_shared::protocol::Role;
use luot_shared::{CenterConfig, Event, Recorded, TicketId};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Query, Result};
use crate::store::Store;

/// Longest period one report may cover.
const MAX_DAYS: i32 = 732;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/reports", get(report))
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By service field (where the ticket ended up).
    #[default]
    Service,
    /// By the counter that served it.
    Counter,
    /// By the staff member who served it.
    Staff,
    /// By hour of issue.
    Hour,
    /// By business day.
    Day,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    from: Option<Date>,
    to: Option<Date>,
    #[serde(default)]
    by: GroupBy,
    #[serde(default)]
    format: Format,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Format {
    #[default]
    Json,
    Csv,
}

/// One row of figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    /// Group key (service id, counter number, staff name, hour `08`, or date).
    pub key: String,
    /// Human label.
    pub label: String,
    /// Tickets issued.
    pub issued: u64,
    /// Tickets called at least once (the base of the wait figures).
    pub called: u64,
    /// Tickets served to the end.
    pub served: u64,
    /// Tickets that were no-shows at the end of their day.
    pub no_show: u64,
    /// Tickets cancelled.
    pub cancelled: u64,
    /// Tickets that expired at day close.
    pub expired: u64,
    /// Mean wait (issue → first call) of called tickets, seconds.
    pub avg_wait_s: u64,
    /// Longest wait, seconds.
    pub max_wait_s: u64,
    /// Share of called tickets called within their service's target wait, percent.
    pub within_target_pct: f64,
    /// Mean service time (start, or call, → finish), seconds.
    pub avg_service_s: u64,
    /// Ratings given.
    pub ratings: u64,
    /// Mean score 1..5.
    pub avg_rating: f64,
    /// Share of ratings that are 4 (Hài lòng) or 5 (Rất hài lòng), percent.
    pub satisfaction_pct: f64,
}

/// A whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
    /// Grouping.
    pub by: GroupBy,
    /// Rows.
    pub rows: Vec<Row>,
    /// All tickets together.
    pub total: Row,
}

#[derive(Debug, Default)]
struct Facts {
    issued_at: Option<Timestamp>,
    day: Option<Date>,
    service: String,
    first_call: Option<Timestamp>,
    start: Option<Timestamp>,
    last_call: Option<Timestamp>,
    finish: Option<Timestamp>,
    counter: Option<u32>,
    staff: Option<String>,
    outcome: Outcome,
    rating: Option<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    #[default]
    Open,
    Served,
    NoShow,
    Cancelled,
    Expired,
}

async fn report(
    State(app): State<AppState>,
    who: Principal,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    who.require(&[Role::Admin])?;
    let config = app.engine.config().await?;
    let tz = config.time_zone().map_err(|e| ApiError::Domain(e.into()))?;
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let to = q.to.or(q.from).unwrap_or(today);
    let from = q.from.unwrap_or(to);
    if from > to {
        return Err(bad("`from` must not be after `to`"));
    }
    if from
        .until(to)
        .map_or(true, |span| span.get_days() >= MAX_DAYS)
    {
        return Err(bad("a report covers at most two years"));
    }
    let store = app.store.clone();
    let report = tokio::task::spawn_blocking(move || build(&store, &config, &tz, from, to, q.by))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(match q.format {
        Format::Json => crate::error::Json(report).into_response(),
        Format::Csv => {
            let name =
                format!("attachment; filename=\"luot-{from}-{to}-{:?}.csv\"", q.by).to_lowercase();
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, name),
                ],
                to_csv(&report),
            )
                .into_response()
        }
    })
}

fn bad(message: &str) -> ApiError {
    ApiError::Bad(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
        message.to_owned(),
    )
}

/// Builds a report over the days `from..=to` from the log.
pub fn build(
    store: &Store,
    config: &CenterConfig,
    tz: &TimeZone,
    from: Date,
    to: Date,
    by: GroupBy,
) -> Result<Report> {
    let mut tickets: HashMap<TicketId, Facts> = HashMap::new();
    if let Some(start) = store.first_seq_from(from)? {
        let end = to
            .checked_add(1.day())
            .map_err(|_| bad("date out of range"))?;
        for rec in store.events_from(start) {
            let rec = rec?;
            if rec.at.to_zoned(tz.clone()).date() >= end {
                break;
            }
            fold(&mut tickets, &rec);
        }
    }
    let mut groups: BTreeMap<String, (String, Acc)> = BTreeMap::new();
    let mut total = Acc::default();
    for facts in tickets.values() {
        let Some(day) = facts.day else { continue };
        if day < from || day > to {
            continue;
        }
        let target = config
            .service(&facts.service)
            .map_or(15, |s| s.target_wait_min);
        let (key, label) = match by {
            GroupBy::Service => (
                facts.service.clone(),
                config
                    .service(&facts.service)
                    .map_or_else(|| facts.service.clone(), |s| s.name.clone()),
            ),
            GroupBy::Counter => match facts.counter {
                Some(c) => (
                    format!("{c:03}"),
                    config
                        .counter(c)
                        .map_or_else(|| format!("Quầy {c}"), |k| k.name.clone()),
                ),
                None => ("-".into(), "Chưa qua quầy".into()),
            },
            GroupBy::Staff => match &facts.staff {
                Some(s) => (s.clone(), s.clone()),
                None => ("-".into(), "Chưa qua quầy".into()),
            },
            GroupBy::Hour => {
                let hour = facts.issued_at.map_or(0, |t| t.to_zoned(tz.clone()).hour());
                (
                    format!("{hour:02}"),
                    format!("{hour:02}:00–{:02}:00", hour + 1),
                )
            }
            GroupBy::Day => (day.to_string(), day.strftime("%d/%m/%Y").to_string()),
        };
        let entry = groups.entry(key).or_insert_with(|| (label, Acc::default()));
        entry.1.add(facts, target);
        total.add(facts, target);
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|(key, (label, acc))| acc.row(key, label))
        .collect();
    if by == GroupBy::Service {
        // Services in the order the center lists them, as on the kiosk.
        let index = |id: &str| {
            config
                .services
                .iter()
                .position(|s| s.id == id)
                .unwrap_or(usize::MAX)
        };
        rows.sort_by_key(|r| index(&r.key));
    }
    Ok(Report {
        from,
        to,
        by,
        rows,
        total: total.row("total".into(), "Tổng cộng".into()),
    })
}

fn fold(tickets: &mut HashMap<TicketId, Facts>, rec: &Recorded) {
    let at = rec.at;
    match &rec.event {
        Event::TicketIssued { ticket, .. } => {
            let f = tickets.entry(ticket.id).or_default();
            f.issued_at = Some(ticket.issued_at);
            f.day = Some(ticket.day);
            f.service = ticket.service.clone();
        }
        Event::TicketCalled {
            ticket,
            counter,
            staff,
            ..
        } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.first_call.get_or_insert(at);
                f.last_call = Some(at);
                f.counter = Some(*counter);
                f.staff = Some(staff.clone());
                f.outcome = Outcome::Open;
            }
        }
        Event::TicketServing { ticket, .. } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.start = Some(at);
            }
        }
        Event::TicketFinished { ticket, .. } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.finish = Some(at);
                f.outcome = Outcome::Served;
            }
        }
        Event::TicketNoShow { ticket, .. } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.outcome = Outcome::NoShow;
            }
        }
        Event::TicketReinstated { ticket, .. } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.outcome = Outcome::Open;
            }
        }
        Event::TicketTransferred {
            ticket, service, ..
        } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.service = service.clone();
                f.start = None;
            }
        }
        Event::TicketCancelled { ticket, .. } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.outcome = Outcome::Cancelled;
            }
        }
        Event::TicketRated { ticket, score, .. } => {
            if let Some(f) = tickets.get_mut(&ticket.id) {
                f.rating = Some(*score);
            }
        }
        Event::DayClosed { expired, .. } => {
            for t in expired {
                if let Some(f) = tickets.get_mut(&t.id)
                    && f.outcome != Outcome::NoShow
                {
                    f.outcome = Outcome::Expired;
                }
            }
        }
        Event::CenterConfigured { .. }
        | Event::CounterOpened { .. }
        | Event::CounterClosed { .. } => {}
    }
}

#[derive(Debug, Default)]
struct Acc {
    issued: u64,
    served: u64,
    no_show: u64,
    cancelled: u64,
    expired: u64,
    wait_sum: u64,
    wait_n: u64,
    wait_max: u64,
    within: u64,
    service_sum: u64,
    service_n: u64,
    ratings: u64,
    rating_sum: u64,
    satisfied: u64,
}

fn secs(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.duration_since(from).as_secs()).unwrap_or(0)
}

impl Acc {
    fn add(&mut self, f: &Facts, target_min: u32) {
        self.issued += 1;
        match f.outcome {
            Outcome::Served => self.served += 1,
            Outcome::NoShow => self.no_show += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::Expired => self.expired += 1,
            Outcome::Open => {}
        }
        if let (Some(issued), Some(call)) = (f.issued_at, f.first_call) {
            let wait = secs(issued, call);
            self.wait_sum += wait;
            self.wait_n += 1;
            self.wait_max = self.wait_max.max(wait);
            if wait <= u64::from(target_min) * 60 {
                self.within += 1;
            }
        }
        if f.outcome == Outcome::Served
            && let (Some(from), Some(finish)) = (f.start.or(f.last_call), f.finish)
        {
            self.service_sum += secs(from, finish);
            self.service_n += 1;
        }
        if let Some(score) = f.rating {
            self.ratings += 1;
            self.rating_sum += u64::from(score);
            if score >= 4 {
                self.satisfied += 1;
            }
        }
    }

    fn row(&self, key: String, label: String) -> Row {
        let div = |a: u64, b: u64| a.checked_div(b).unwrap_or(0);
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                (a as f64 * 1000.0 / b as f64).round() / 10.0
            }
        };
        Row {
            key,
            label,
            issued: self.issued,
            called: self.wait_n,
            served: self.served,
            no_show: self.no_show,
            cancelled: self.cancelled,
            expired: self.expired,
            avg_wait_s: div(self.wait_sum, self.wait_n),
            max_wait_s: self.wait_max,
            within_target_pct: pct(self.within, self.wait_n),
            avg_service_s: div(self.service_sum, self.service_n),
            ratings: self.ratings,
            avg_rating: if self.ratings == 0 {
                0.0
            } else {
                (self.rating_sum as f64 * 100.0 / self.ratings as f64).round() / 100.0
            },
            satisfaction_pct: pct(self.satisfied, self.ratings),
        }
    }
}

/// CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads the Vietnamese),
/// Vietnamese headers, minutes with one decimal.
fn to_csv(report: &Report) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str("Mã,Nhóm,Số phiếu,Đã phục vụ,Vắng mặt,Đã hủy,Hết hạn,Chờ trung bình (phút),Chờ lâu nhất (phút),Gọi đúng hạn (%),Phục vụ trung bình (phút),Lượt đánh giá,Điểm trung bình,Hài lòng (%)\r\n");
    let minutes = |s: u64| format!("{:.1}", s as f64 / 60.0);
    for row in report.rows.iter().chain(std::iter::once(&report.total)) {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{:.1},{},{},{:.2},{:.1}\r\n",
            csv_field(&row.key),
            csv_field(&row.label),
            row.issued,
            row.served,
            row.no_show,
            row.cancelled,
            row.expired,
            minutes(row.avg_wait_s),
            minutes(row.max_wait_s),
            row.within_target_pct,
            minutes(row.avg_service_s),
            row.ratings,
            row.avg_rating,
            row.satisfaction_pct,
        );
    }
    out
}

/// Quotes a CSV field, and neutralizes a leading formula character so a spreadsheet never
/// evaluates a staff name as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) && value != "-" {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}
