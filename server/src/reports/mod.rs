//! `/api/v1/reports`: wait times, service times, outcomes and satisfaction, grouped by
//! service, counter, staff member, hour or day, as JSON or CSV. Every figure is recomputed
//! from the event log.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use luot_shared::CenterConfig;
use luot_shared::protocol::{ErrorBody, Role};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Query, Result};
use crate::store::Store;

pub use acc::{Acc, Row};
pub use rollup::{
    DayLog, DayRollup, day_rollup, days_to_roll_up, decode_stored, range_rollups, spawn_roller,
    tickets_rollup,
};

mod acc;
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// By ISO week (`2026-W10`).
    Week,
    /// By month (`2026-03`).
    Month,
    /// By quarter (`2026-Q1`), as the quarterly report to the province asks.
    Quarter,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// First day (`YYYY-MM-DD`); absent: `to`, or today.
    from: Option<Date>,
    /// Last day; absent: `from`, or today.
    to: Option<Date>,
    /// How rows are grouped.
    #[serde(default)]
    #[param(inline)]
    by: GroupBy,
    /// `json` or `csv`.
    #[serde(default)]
    #[param(inline)]
    format: Format,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum Format {
    #[default]
    Json,
    Csv,
}

/// A whole report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

/// Figures over a period, grouped, as JSON or CSV.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports",
    description = "Admin. `from` alone reports one day; neither reports today. At most two years.",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report: JSON, or with `format=csv` UTF-8 CSV with a byte-order mark and Vietnamese headers (an attachment)",
            content((Report = "application/json"), (String = "text/csv"))),
        (status = 422, description = "`invalid_query`: `from` after `to`, or more than two years", body = ErrorBody),
    ))]
async fn report(
    State(app): State<AppState>,
    who: Principal,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    who.require(&[Role::Admin])?;
    let config = app.engine.config().await?;
    let tz = config.time_zone().map_err(|e| ApiError::Domain(e.into()))?;
    let today = app.clock.now().to_zoned(tz.clone()).date();
    let (from, to) = period(q.from, q.to, today)?;
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
                to_csv(&report)?,
            )
                .into_response()
        }
    })
}

/// The days a report covers: `from` alone is one day, neither is `today`; refused (422) when
/// `from` is after `to`, outside 2000–2100, or over two years.
pub fn period(from: Option<Date>, to: Option<Date>, today: Date) -> Result<(Date, Date)> {
    let to = to.or(from).unwrap_or(today);
    let from = from.unwrap_or(to);
    if from > to {
        return Err(bad("`from` must not be after `to`"));
    }
    if from.year() < 2000 || to.year() > 2100 {
        return Err(bad("reports cover days from 2000 to 2100"));
    }
    if from
        .until(to)
        .map_or(true, |span| span.get_days() >= MAX_DAYS)
    {
        return Err(bad("a report covers at most two years"));
    }
    Ok((from, to))
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
    for (day, rollup) in rollup::range_rollups(store, config, tz, from, to)? {
        let part = match by {
            GroupBy::Service => Some(&rollup.by_service),
            GroupBy::Counter => Some(&rollup.by_counter),
            GroupBy::Staff => Some(&rollup.by_staff),
            GroupBy::Hour => Some(&rollup.by_hour),
            GroupBy::Day | GroupBy::Week | GroupBy::Month | GroupBy::Quarter => None,
        };
        match part {
            Some(part) => {
                for (key, acc) in part {
                    groups.entry(key.clone()).or_default().merge(acc);
                }
            }
            None if rollup.total.issued > 0 => {
                groups
                    .entry(period_key(by, day))
                    .or_default()
                    .merge(&rollup.total);
            }
            None => {}
        }
        total.merge(&rollup.total);
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

/// The key of the period of `by` that `day` falls in.
pub fn period_key(by: GroupBy, day: Date) -> String {
    match by {
        GroupBy::Week => {
            let week = day.iso_week_date();
            format!("{}-W{:02}", week.year(), week.week())
        }
        GroupBy::Month => format!("{}-{:02}", day.year(), day.month()),
        GroupBy::Quarter => format!("{}-Q{}", day.year(), (day.month() - 1) / 3 + 1),
        _ => day.to_string(),
    }
}

/// The human label of a group key.
pub fn label(config: &CenterConfig, by: GroupBy, key: &str) -> String {
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
        GroupBy::Week => match key.split_once("-W") {
            Some((year, week)) => format!("Tuần {week}/{year}"),
            None => key.to_owned(),
        },
        GroupBy::Month => match key.split_once('-') {
            Some((year, month)) => format!("Tháng {month}/{year}"),
            None => key.to_owned(),
        },
        GroupBy::Quarter => match key.split_once("-Q") {
            Some((year, q)) => {
                let roman = ["I", "II", "III", "IV"];
                let q = q
                    .parse::<usize>()
                    .ok()
                    .and_then(|q| roman.get(q.wrapping_sub(1)));
                format!("Quý {}/{year}", q.unwrap_or(&"?"))
            }
            None => key.to_owned(),
        },
    }
}

/// CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads the Vietnamese),
/// Vietnamese headers, minutes with one decimal, a leading formula character neutralized so a
/// spreadsheet never evaluates a staff name.
pub fn to_csv(report: &Report) -> Result<Vec<u8>> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    let minutes = |s: u64| format!("{:.1}", s as f64 / 60.0);
    let one = |x: f64| format!("{x:.1}");
    let header = [
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
    let fail = |e: csv::Error| {
        tracing::error!(error = %e, "cannot write the CSV");
        ApiError::Internal
    };
    out.write_record(header).map_err(fail)?;
    for row in report.rows.iter().chain(std::iter::once(&report.total)) {
        let l = row.ratings_by_level;
        let record = [
            spreadsheet_safe(&row.key),
            spreadsheet_safe(&row.label),
            row.issued.to_string(),
            row.served.to_string(),
            row.no_show.to_string(),
            row.cancelled.to_string(),
            row.expired.to_string(),
            row.called.to_string(),
            minutes(row.avg_wait_s),
            minutes(row.median_wait_s),
            minutes(row.p90_wait_s),
            minutes(row.max_wait_s),
            row.over_target.to_string(),
            one(row.over_target_pct),
            minutes(row.avg_service_s),
            minutes(row.median_service_s),
            minutes(row.p90_service_s),
            minutes(row.max_service_s),
            row.ratings.to_string(),
            l[4].to_string(),
            l[3].to_string(),
            l[2].to_string(),
            l[1].to_string(),
            l[0].to_string(),
            format!("{:.2}", row.avg_rating),
            one(row.satisfaction_pct),
            minutes(row.estimate_error_s),
        ];
        out.write_record(&record).map_err(fail)?;
    }
    out.into_inner().map_err(|e| fail(e.into_error().into()))
}

/// Neutralizes a leading formula character so a spreadsheet shows the text as text.
fn spreadsheet_safe(value: &str) -> String {
    // Spreadsheets trim leading blanks (and some read full-width signs as formulas) before
    // they look for one.
    let first = value
        .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .chars()
        .next();
    let formula = matches!(
        first,
        Some('=' | '+' | '-' | '@' | '\u{ff1d}' | '\u{ff0b}' | '\u{ff0d}' | '\u{ff20}')
    );
    if formula && value != "-" {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}
