//! The province's web server: `/province` (the page), `GET /api/v1/province/state`,
//! `GET /api/v1/province/reports`, logins with the hub's own accounts (session cookie) and
//! tokens (`Authorization: Bearer lh_…`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::sites::{SiteLog, Sites};
use super::{HubConfig, Progress, ProgressView, db};
use crate::error::{ApiError, Json, Query, Result};
use crate::login::{LoginLimiter, PasswordPool};
use crate::pages::{asset, html};
use crate::reports::{Acc, GroupBy, Report, Row, label, period_key, range_rollups, tickets_rollup};

const PAGE_HTML: &str = include_str!("../../web/province.html");
const LOGIN_HTML: &str = include_str!("../../web/province-login.html");
const PAGE_JS: &str = include_str!("../../web/province.js");
const PAGE_CSS: &str = include_str!("../../web/province.css");

/// The session cookie.
const COOKIE: &str = "luot_hub_session";
/// A session lasts a working day.
const SESSION_SECS: i64 = 12 * 3600;
/// Largest request body (a login).
const MAX_BODY: usize = 4 * 1024;
/// Connections at once.
const MAX_CONNECTIONS: usize = 1024;

/// A database check: when, and what it found.
type HealthCheck = (std::time::Instant, std::result::Result<(), String>);

/// What the handlers reach.
#[derive(Clone)]
pub(super) struct HubState {
    config: Arc<HubConfig>,
    sites: Arc<Sites>,
    progress: Arc<Progress>,
    db: Arc<db::Shared>,
    limiter: Arc<LoginLimiter>,
    passwords: Arc<PasswordPool>,
    /// The last database check of `/healthz`, and when.
    health: Arc<tokio::sync::Mutex<Option<HealthCheck>>>,
}

impl HubState {
    /// The state of a hub.
    pub(super) fn new(
        config: Arc<HubConfig>,
        sites: Arc<Sites>,
        progress: Arc<Progress>,
    ) -> anyhow::Result<HubState> {
        Ok(HubState {
            db: Arc::new(db::Shared::new(&config.postgres)),
            config,
            sites,
            progress,
            limiter: Arc::new(LoginLimiter::default()),
            passwords: Arc::new(PasswordPool::start()?),
            health: Arc::default(),
        })
    }
}

/// How long a check of the database answers `/healthz` (so a flood of health checks is one
/// query a second).
const HEALTH_CACHE: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest wait for the database's answer.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl HubState {
    /// Whether PostgreSQL answers now (checked at most once a second).
    async fn database_ok(&self) -> std::result::Result<(), String> {
        let mut last = self.health.lock().await;
        if let Some((at, result)) = &*last
            && at.elapsed() < HEALTH_CACHE
        {
            return result.clone();
        }
        let result = match tokio::time::timeout(HEALTH_TIMEOUT, async {
            let client = self.db.get().await.map_err(|e| format!("{e:#}"))?;
            client
                .simple_query("SELECT 1")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
        {
            Ok(result) => result,
            Err(_) => Err("PostgreSQL did not answer within 2 s".into()),
        };
        *last = Some((std::time::Instant::now(), result.clone()));
        result
    }
}

/// The stored form of a secret.
pub(super) fn secret_hash(secret: &str) -> Vec<u8> {
    sha2::Sha256::digest(secret.as_bytes()).to_vec()
}

/// The routes.
pub(super) fn app(state: HubState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", get(|| async { Redirect::to("/province") }))
        .route("/province", get(page))
        .route(
            "/province/login",
            get(|| async { html(StatusCode::OK, LOGIN_HTML) }),
        )
        .route(
            "/static/province.js",
            get(|| async { asset("text/javascript; charset=utf-8", PAGE_JS) }),
        )
        .route(
            "/static/province.css",
            get(|| async { asset("text/css; charset=utf-8", PAGE_CSS) }),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/v1/province/login", post(login))
        .route("/api/v1/province/logout", post(logout))
        .route("/api/v1/province/state", get(state_route))
        .route("/api/v1/province/reports", get(reports))
        .route("/api/v1/province/sites/{site}/export", get(export_site))
        .fallback(|| async { ApiError::NotFound("no such page".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves `app` with the same connection limits and timeouts as a center.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
) {
    let metrics = Arc::new(crate::metrics::Metrics::default());
    crate::serve::serve(listener, app, MAX_CONNECTIONS, metrics, stop).await;
}

/// `ok` while the consumer is connected; else 503 with the last failure.
async fn healthz(State(hub): State<HubState>) -> Response {
    let p = hub.progress.view();
    let database = hub.database_ok().await;
    if p.connected && database.is_ok() {
        return "ok".into_response();
    }
    let status = if database.is_err() {
        "database_unreachable"
    } else {
        "not_projecting"
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({
            "status": status,
            "database": database.err(),
            "progress": p,
        })),
    )
        .into_response()
}

/// Who is asking.
pub(super) struct Who {
    /// Account name or token label.
    name: String,
    /// `admin` or `viewer`.
    role: String,
}

impl Who {
    fn require_admin(&self) -> Result<()> {
        if self.role == "admin" {
            Ok(())
        } else {
            Err(ApiError::Forbidden("a province admin only".into()))
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("log in, or send Authorization: Bearer <a hub token>".into())
}

fn pg(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "PostgreSQL");
    ApiError::Unavailable("the province's database cannot be reached; try again shortly".into())
}

impl FromRequestParts<HubState> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &HubState) -> Result<Who> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_owned);
        let client = hub.db.get().await.map_err(pg)?;
        if let Some(token) = bearer {
            let row = client
                .query_opt(
                    "SELECT label, role FROM hub_tokens WHERE hash = $1",
                    &[&secret_hash(&token)],
                )
                .await
                .map_err(pg)?
                .ok_or_else(unauthorized)?;
            return Ok(Who {
                name: row.get(0),
                role: row.get(1),
            });
        }
        let session = crate::auth::cookie(parts, COOKIE).ok_or_else(unauthorized)?;
        let row = client
            .query_opt(
                "SELECT u.name, u.role FROM hub_sessions s JOIN hub_users u ON u.name = s.name
                 WHERE s.hash = $1 AND s.expires_at > now()",
                &[&secret_hash(&session)],
            )
            .await
            .map_err(pg)?
            .ok_or_else(unauthorized)?;
        Ok(Who {
            name: row.get(0),
            role: row.get(1),
        })
    }
}

async fn page(who: std::result::Result<Who, ApiError>) -> Response {
    match who {
        Ok(_) => html(StatusCode::OK, PAGE_HTML),
        Err(ApiError::Unauthorized(_)) => Redirect::to("/province/login").into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(
    State(hub): State<HubState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Result<Response> {
    if req.username.len() > 64 || req.password.len() > 256 {
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    }
    let attempt = hub.limiter.begin(&req.username, addr.ip())?;
    if attempt.slowed {
        tokio::time::sleep(crate::login::SLOW_DOWN).await;
    }
    let client = hub.db.get().await.map_err(pg)?;
    let phc: Option<String> = client
        .query_opt(
            "SELECT phc FROM hub_users WHERE name = $1",
            &[&req.username],
        )
        .await
        .map_err(pg)?
        .map(|r| r.get(0));
    let known = phc.is_some();
    // An unknown name costs the same check as a known one.
    let ok = hub.passwords.verify(req.password, phc).await? && known;
    if !ok {
        attempt.failed();
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    }
    attempt.succeeded();
    let session = crate::auth::random_hex(32);
    client
        .execute(
            "INSERT INTO hub_sessions (hash, name, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))",
            &[
                &secret_hash(&session),
                &req.username,
                &(SESSION_SECS as f64),
            ],
        )
        .await
        .map_err(pg)?;
    client
        .execute("DELETE FROM hub_sessions WHERE expires_at < now()", &[])
        .await
        .map_err(pg)?;
    let cookie =
        format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECS}");
    let mut response = StatusCode::NO_CONTENT.into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

async fn logout(State(hub): State<HubState>, parts: axum::http::HeaderMap) -> Result<Response> {
    let mut fake = axum::http::Request::new(());
    *fake.headers_mut() = parts;
    let (parts, _) = fake.into_parts();
    if let Some(session) = crate::auth::cookie(&parts, COOKIE) {
        let client = hub.db.get().await.map_err(pg)?;
        client
            .execute(
                "DELETE FROM hub_sessions WHERE hash = $1",
                &[&secret_hash(&session)],
            )
            .await
            .map_err(pg)?;
    }
    let expire = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    let value = HeaderValue::from_str(&expire).map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// One service of a site, now.
#[derive(Debug, Serialize)]
struct ServiceNow {
    id: String,
    name: String,
    waiting: usize,
    estimated_wait_s: u64,
}

/// One site, now.
#[derive(Debug, Serialize)]
struct SiteNow {
    site: String,
    name: String,
    /// The last seq projected.
    last_seq: u64,
    /// When the site's last projected event happened.
    last_event_at: Option<Timestamp>,
    /// The site's business day.
    day: Option<Date>,
    /// Whether it issues now.
    issuing: bool,
    waiting: usize,
    counters_open: usize,
    counters_serving: usize,
    services: Vec<ServiceNow>,
    /// Today's figures so far.
    today: Row,
    /// The first seq missing while later ones wait.
    gap_from: Option<u64>,
    /// Set when the missing events are in neither the database nor the stream.
    missing_from: Option<u64>,
    /// Why the site's state cannot be shown, if it cannot.
    problem: Option<String>,
}

/// The province now.
#[derive(Debug, Serialize)]
struct ProvinceNow {
    province: String,
    at: Timestamp,
    projection: ProgressView,
    sites: Vec<SiteNow>,
    /// Every site's today together.
    today: Row,
}

async fn state_route(State(hub): State<HubState>, _who: Who) -> Result<Json<ProvinceNow>> {
    let client = hub.db.get().await.map_err(pg)?;
    super::sites::refresh(&client, &hub.sites)
        .await
        .map_err(pg)?;
    let now = Timestamp::now();
    let mut sites = Vec::new();
    let mut total = Acc::default();
    for (id, site) in hub.sites.all() {
        let engine = &site.engine;
        let config = engine.config();
        let view = engine.state_view(now);
        let tz = config.time_zone().unwrap_or(jiff::tz::TimeZone::UTC);
        let today = engine.local_date(now);
        let rollup = tickets_rollup(engine.tickets().filter(|t| t.day == today), config, &tz);
        total.merge(&rollup.total);
        let waiting = view.services.iter().map(|s| s.waiting as usize).sum();
        let counters_open = view.counters.iter().filter(|c| c.open).count();
        let counters_serving = view.counters.iter().filter(|c| c.current.is_some()).count();
        sites.push(SiteNow {
            site: id.clone(),
            name: config.center.name.clone(),
            last_seq: engine.seq(),
            last_event_at: engine.last_at(),
            day: (engine.seq() > 0).then_some(view.day),
            issuing: view.issuing,
            waiting,
            counters_open,
            counters_serving,
            services: view
                .services
                .iter()
                .map(|s| ServiceNow {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    waiting: s.waiting as usize,
                    estimated_wait_s: s.estimated_wait_s,
                })
                .collect(),
            today: rollup.total.row(id.clone(), config.center.name.clone()),
            gap_from: site.gap_from,
            missing_from: site.gap_from.filter(|_| site.stuck),
            problem: site.problem.clone(),
        });
    }
    Ok(Json(ProvinceNow {
        province: hub.config.province.clone(),
        at: now,
        projection: hub.progress.view(),
        sites,
        today: total.row("total".into(), "Toàn tỉnh".into()),
    }))
}

/// The province's copy of one site's log as an export file: `luot-server --data NEW import
/// FILE` rebuilds the site from it (events only; accounts and tokens are made anew). For a
/// site whose disk was lost or restored from an older backup.
async fn export_site(
    State(hub): State<HubState>,
    who: Who,
    axum::extract::Path(site): axum::extract::Path<String>,
) -> Result<Response> {
    who.require_admin()?;
    let state = hub
        .sites
        .get(&site)
        .ok_or_else(|| ApiError::NotFound(format!("no center {site:?} in this province")))?;
    let last_seq = state.engine.seq();
    tracing::info!(who = %who.name, site, last_seq, "site export");
    let client = hub.db.get().await.map_err(pg)?;
    let handle = tokio::runtime::Handle::current();
    let id = site.clone();
    let body = crate::backup::blocking_body(move |out| {
        let log = SiteLog {
            site: id,
            client,
            handle,
        };
        if let Err(e) = crate::backup::export_events(
            crate::reports::DayLog::events_from(&log, 1),
            last_seq,
            out,
        ) {
            tracing::info!(error = %e, "site export stopped");
        }
    });
    let name = format!("attachment; filename=\"luot-province-{site}-{last_seq}.jsonl\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// How the province's report groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum ProvinceBy {
    /// One row per center.
    #[default]
    Site,
    /// One row per service field, over every center.
    Service,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Format {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    from: Option<Date>,
    to: Option<Date>,
    #[serde(default)]
    by: ProvinceBy,
    /// Only this center.
    site: Option<String>,
    #[serde(default)]
    format: Format,
}

/// A report row with the center it belongs to.
#[derive(Debug, Serialize)]
struct SiteRow {
    /// The center (`by=site`, or the one asked for with `site=`); absent for rows over all.
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<String>,
    #[serde(flatten)]
    row: Row,
}

#[derive(Debug, Serialize)]
struct ProvinceReport {
    from: Date,
    to: Date,
    by: ProvinceBy,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<String>,
    rows: Vec<SiteRow>,
    total: Row,
}

async fn reports(
    State(hub): State<HubState>,
    who: Who,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    tracing::debug!(who = %who.name, "province report");
    let today = hub
        .sites
        .all()
        .first()
        .map(|(_, s)| s.engine.local_date(Timestamp::now()))
        .unwrap_or_else(|| Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date());
    let (from, to) = crate::reports::period(q.from, q.to, today)?;
    let client = hub.db.get().await.map_err(pg)?;
    super::sites::refresh(&client, &hub.sites)
        .await
        .map_err(pg)?;
    let mut chosen = hub.sites.all();
    if let Some(site) = &q.site {
        chosen.retain(|(id, _)| id == site);
        if chosen.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no center {site:?} in this province"
            )));
        }
    }
    let handle = tokio::runtime::Handle::current();
    let by = q.by;
    let site_filter = q.site.clone();
    let report = tokio::task::spawn_blocking(move || {
        build(chosen, client, handle, from, to, by, site_filter)
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    Ok(match q.format {
        Format::Json => Json(report).into_response(),
        Format::Csv => {
            let plain = Report {
                from: report.from,
                to: report.to,
                by: GroupBy::Service,
                rows: report.rows.into_iter().map(|r| r.row).collect(),
                total: report.total,
            };
            let name = format!("attachment; filename=\"luot-province-{from}-{to}-{by:?}.csv\"")
                .to_lowercase();
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, name),
                ],
                crate::reports::to_csv(&plain)?,
            )
                .into_response()
        }
    })
}

/// Builds the province's report from each site's day roll-ups (stored ones, or computed from
/// its projected events by the same code a center runs), merged.
fn build(
    chosen: Vec<(String, Arc<super::sites::Site>)>,
    client: Arc<tokio_postgres::Client>,
    handle: tokio::runtime::Handle,
    from: Date,
    to: Date,
    by: ProvinceBy,
    site_filter: Option<String>,
) -> Result<ProvinceReport> {
    let mut groups: BTreeMap<String, (Option<String>, String, Acc)> = BTreeMap::new();
    let mut total = Acc::default();
    // Service ids in the order the first center lists them.
    let mut order: Vec<String> = Vec::new();
    for (id, site) in &chosen {
        let config = site.engine.config();
        let tz = config.time_zone().unwrap_or(jiff::tz::TimeZone::UTC);
        let log = SiteLog {
            site: id.clone(),
            client: client.clone(),
            handle: handle.clone(),
        };
        for s in &config.services {
            if !order.contains(&s.id) {
                order.push(s.id.clone());
            }
        }
        let days = range_rollups(&log, config, &tz, from, to)?;
        for (day, rollup) in days {
            let mut add = |key: String, label: String, site: Option<String>, acc: &Acc| {
                groups
                    .entry(key)
                    .or_insert_with(|| (site, label, Acc::default()))
                    .2
                    .merge(acc);
            };
            let single = site_filter.clone();
            match by {
                ProvinceBy::Site => add(
                    id.clone(),
                    config.center.name.clone(),
                    Some(id.clone()),
                    &rollup.total,
                ),
                ProvinceBy::Service => {
                    for (key, acc) in &rollup.by_service {
                        add(
                            key.clone(),
                            label(config, GroupBy::Service, key),
                            single.clone(),
                            acc,
                        );
                    }
                }
                ProvinceBy::Hour => {
                    for (key, acc) in &rollup.by_hour {
                        add(
                            key.clone(),
                            label(config, GroupBy::Hour, key),
                            single.clone(),
                            acc,
                        );
                    }
                }
                ProvinceBy::Day | ProvinceBy::Week | ProvinceBy::Month | ProvinceBy::Quarter
                    if rollup.total.issued > 0 =>
                {
                    let g = match by {
                        ProvinceBy::Day => GroupBy::Day,
                        ProvinceBy::Week => GroupBy::Week,
                        ProvinceBy::Month => GroupBy::Month,
                        _ => GroupBy::Quarter,
                    };
                    let key = period_key(g, day);
                    add(
                        key.clone(),
                        label(config, g, &key),
                        single.clone(),
                        &rollup.total,
                    );
                }
                _ => {}
            }
            total.merge(&rollup.total);
        }
    }
    let mut rows: Vec<SiteRow> = groups
        .into_iter()
        .map(|(key, (site, label, acc))| SiteRow {
            site,
            row: acc.row(key, label),
        })
        .collect();
    if by == ProvinceBy::Service {
        let index = |id: &str| order.iter().position(|s| s == id).unwrap_or(usize::MAX);
        rows.sort_by_key(|r| index(&r.row.key));
    }
    Ok(ProvinceReport {
        from,
        to,
        by,
        site: site_filter,
        rows,
        total: total.row("total".into(), "Tổng cộng".into()),
    })
}
