//! The web pages, embedded in the binary: plain HTML, CSS and JavaScript, no build step.
//! Vietnamese first, English on a switch.
//!
//! Scripts live in files (no inline script), so the pages can send a strict
//! Content-Security-Policy.
//!
//! `/counter`, `/admin` and `/admin/report` (the printable report) use the session cookie; `/display`, the lobby screen for smart
//! TVs, and `/rate`, the counter's rating tablet, are public HTML whose scripts authenticate
//! with their device token. `/t/{track}`, the phone page of one ticket, is served only for a
//! genuine secret of a ticket in today's queue (else a plain "not found" page, `404`).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use luot_shared::protocol::Role;

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Path};

const APP_CSS: &str = include_str!("../web/app.css");
const APP_JS: &str = include_str!("../web/app.js");
const COUNTER_HTML: &str = include_str!("../web/counter.html");
const COUNTER_JS: &str = include_str!("../web/counter.js");
const ADMIN_HTML: &str = include_str!("../web/admin.html");
const ADMIN_JS: &str = include_str!("../web/admin.js");
const REPORT_HTML: &str = include_str!("../web/report.html");
const REPORT_JS: &str = include_str!("../web/report.js");
const REPORT_CSS: &str = include_str!("../web/report.css");
/// uPlot, the report page's charts (MIT, `web/vendor/uPlot.LICENSE`), vendored: the centers
/// have no internet.
const UPLOT_JS: &str = include_str!("../web/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../web/vendor/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../web/vendor/uPlot.LICENSE");
const LOGIN_HTML: &str = include_str!("../web/login.html");
const FORBIDDEN_HTML: &str = include_str!("../web/forbidden.html");
const DISPLAY_HTML: &str = include_str!("../web/display.html");
const DISPLAY_JS: &str = include_str!("../web/display.js");
const DISPLAY_VOICE_JS: &str = include_str!("../web/display-voice.js");
const DISPLAY_CSS: &str = include_str!("../web/display.css");
const RATE_HTML: &str = include_str!("../web/rate.html");
const RATE_JS: &str = include_str!("../web/rate.js");
const RATE_CSS: &str = include_str!("../web/rate.css");
const TRACK_HTML: &str = include_str!("../web/track.html");
const TRACK_MISSING_HTML: &str = include_str!("../web/track-missing.html");
const TRACK_JS: &str = include_str!("../web/track.js");
const TRACK_CSS: &str = include_str!("../web/track.css");
/// Served by `/display` for screens whose browser has no font with every Vietnamese letter.
const FONT_REGULAR: &[u8] = include_bytes!("../web/fonts/DejaVuSans.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../web/fonts/DejaVuSans-Bold.ttf");

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/counter") }))
        .route("/counter", get(counter))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/admin", get(admin))
        .route("/admin/report", get(report))
        .route("/login", get(|| async { html(StatusCode::OK, LOGIN_HTML) }))
        // The lobby screen: public HTML; its script reads the device token from the URL.
        .route(
            "/display",
            get(|| async { html(StatusCode::OK, DISPLAY_HTML) }),
        )
        // The counter's rating tablet: public HTML; its script reads the token from the
        // fragment, which never reaches the server.
        .route("/rate", get(|| async { html(StatusCode::OK, RATE_HTML) }))
        .route("/t/{track}", get(track_page))
        .route(
            "/static/rate.js",
            get(|| async { asset("text/javascript; charset=utf-8", RATE_JS) }),
        )
        .route(
            "/static/rate.css",
            get(|| async { asset("text/css; charset=utf-8", RATE_CSS) }),
        )
        .route(
            "/static/track.js",
            get(|| async { asset("text/javascript; charset=utf-8", TRACK_JS) }),
        )
        .route(
            "/static/track.css",
            get(|| async { asset("text/css; charset=utf-8", TRACK_CSS) }),
        )
        .route(
            "/static/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/static/counter.js",
            get(|| async { asset("text/javascript; charset=utf-8", COUNTER_JS) }),
        )
        .route(
            "/static/admin.js",
            get(|| async { asset("text/javascript; charset=utf-8", ADMIN_JS) }),
        )
        .route(
            "/static/report.js",
            get(|| async { asset("text/javascript; charset=utf-8", REPORT_JS) }),
        )
        .route(
            "/static/report.css",
            get(|| async { asset("text/css; charset=utf-8", REPORT_CSS) }),
        )
        .route(
            "/static/vendor/uPlot.iife.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", UPLOT_JS) }),
        )
        .route(
            "/static/vendor/uPlot.min.css",
            get(|| async { asset("text/css; charset=utf-8", UPLOT_CSS) }),
        )
        .route(
            "/static/vendor/uPlot.LICENSE.txt",
            get(|| async { asset("text/plain; charset=utf-8", UPLOT_LICENSE) }),
        )
        .route(
            "/static/display.js",
            get(|| async { asset("text/javascript; charset=utf-8", DISPLAY_JS) }),
        )
        .route(
            "/static/display-voice.js",
            get(|| async { asset("text/javascript; charset=utf-8", DISPLAY_VOICE_JS) }),
        )
        .route(
            "/static/display.css",
            get(|| async { asset("text/css; charset=utf-8", DISPLAY_CSS) }),
        )
        .route(
            "/static/fonts/DejaVuSans.ttf",
            get(|| async { font(FONT_REGULAR) }),
        )
        .route(
            "/static/fonts/DejaVuSans-Bold.ttf",
            get(|| async { font(FONT_BOLD) }),
        )
}

const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn secure_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

pub(crate) fn html(status: StatusCode, body: &'static str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    secure_headers(&mut response);
    response
}

pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    secure_headers(&mut response);
    response
}

/// A font file: it never changes within a build, so screens may keep it for a week.
fn font(body: &'static [u8]) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "font/ttf")], body).into_response();
    secure_headers(&mut response);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=604800"),
    );
    response
}

/// The phone page of one ticket, for the secret printed on it: the same check as the
/// tracking API, so a mistyped or stale link gets a page that says so (and a `404`); a
/// client that does not ask for HTML gets the API's JSON error instead.
async fn track_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(track): Path<String>,
) -> Response {
    match crate::track::lookup(&app, &track).await {
        Ok(_) => html(StatusCode::OK, TRACK_HTML),
        Err(e @ ApiError::NotFound(_)) => {
            let wants_html = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"));
            if wants_html {
                html(StatusCode::NOT_FOUND, TRACK_MISSING_HTML)
            } else {
                e.into_response()
            }
        }
        // The server cannot look right now (store failing, stopping): the page itself
        // retries over its socket.
        Err(_) => html(StatusCode::OK, TRACK_HTML),
    }
}

/// The counter console; it shows its own login form when there is no session.
async fn counter() -> Response {
    html(StatusCode::OK, COUNTER_HTML)
}

/// The admin pages: only for admins. Without a session: the login page; with a session of
/// another role: 403.
async fn admin(who: Result<Principal, ApiError>) -> Response {
    match who {
        Ok(p) if p.role == Role::Admin => html(StatusCode::OK, ADMIN_HTML),
        Ok(_) => html(StatusCode::FORBIDDEN, FORBIDDEN_HTML),
        Err(_) => Redirect::to("/login?next=/admin").into_response(),
    }
}

/// The report page, a page of its own so that its query lives in the URL (a bookmark or a
/// reload shows the same period) and its printout holds the report only: admins only, as
/// `/admin`.
async fn report(who: Result<Principal, ApiError>) -> Response {
    match who {
        Ok(p) if p.role == Role::Admin => html(StatusCode::OK, REPORT_HTML),
        Ok(_) => html(StatusCode::FORBIDDEN, FORBIDDEN_HTML),
        Err(_) => Redirect::to("/login?next=/admin/report").into_response(),
    }
}
