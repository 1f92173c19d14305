//! `/api/v1/reports`: wait times, service times, outcomes and satisfaction, grouped by
//! service, counter, staff member, hour or day, as JSON or CSV. Every figure is recomputed
//! from the event log.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use luot_shared::CenterConfig;
use luot_shared::protocol::Role;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Query, Result};
use crate::store::Store;

pub use rollup::{Acc, DayRollup, day_rollup, spawn_roller};

mod rollup;
#[cfg(test)]
mod tests;

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

async fn report(
    State(app): State<AppState>,
    who: Principal,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    who.require(&[Role::Admin])?;
    let config = app.engine.config().await?;
    let tz = config.time_zone().map_err(|e| ApiError::Domain(e.into()))?;
    let today = app.clock.now().to_zoned(tz.clone()).date();
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

/// Builds a report over the days `from..=to`: closed days from their roll-ups, the others
/// from the log.
pub fn build(
    store: &Store,
    config: &CenterConfig,
    tz: &TimeZone,
    from: Date,
    to: Date,
    by: GroupBy,
) -> Result<Report> {
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    let mut day = from;
    while day <= to {
        let rollup = rollup::day_rollup(store, config, tz, day)?;
        let part = match by {
            GroupBy::Service => Some(&rollup.by_service),
            GroupBy::Counter => Some(&rollup.by_counter),
            GroupBy::Staff => Some(&rollup.by_staff),
            GroupBy::Hour => Some(&rollup.by_hour),
            GroupBy::Day => None,
        };
        match part {
            Some(part) => {
                for (key, acc) in part {
                    groups.entry(key.clone()).or_default().merge(acc);
                }
            }
            None if rollup.total.issued > 0 => {
                groups
                    .entry(day.to_string())
                    .or_default()
                    .merge(&rollup.total);
            }
            None => {}
        }
        total.merge(&rollup.total);
        day = match day.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|(key, acc)| {
            let label = label(config, by, &key);
            acc.row(key, label)
        })
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

/// The human label of a group key.
fn label(config: &CenterConfig, by: GroupBy, key: &str) -> String {
    const NOT_CALLED: &str = "Chưa qua quầy";
    match by {
        GroupBy::Service => config
            .service(key)
            .map_or_else(|| key.to_owned(), |s| s.name.clone()),
        GroupBy::Counter | GroupBy::Staff if key == "-" => NOT_CALLED.to_owned(),
        GroupBy::Counter => match key.parse::<u32>() {
            Ok(c) => config
                .counter(c)
                .map_or_else(|| format!("Quầy {c}"), |k| k.name.clone()),
            Err(_) => key.to_owned(),
        },
        GroupBy::Staff => key.to_owned(),
        GroupBy::Hour => match key.parse::<u8>() {
            Ok(h) => format!("{h:02}:00–{:02}:00", h + 1),
            Err(_) => key.to_owned(),
        },
        GroupBy::Day => key
            .parse::<Date>()
            .map_or_else(|_| key.to_owned(), |d| d.strftime("%d/%m/%Y").to_string()),
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
