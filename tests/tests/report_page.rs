//! The report page (`/admin/report`) in a real headless Chromium on the real server: it loads
//! under the strict policy with uPlot's charts drawn, its table shows exactly what the API
//! answers for the same query, period and grouping changes fetch again, the CSV link carries
//! the same query, and the printed page has no controls. Screenshots and the printed PDF land
//! in `target/screenshots/`.
//!
//! Without Chromium and chromedriver these tests print why and skip, except under CI
//! (`CI` set), where `.ci/run` installs both and a missing browser is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use fantoccini::Locator;
use luot_shared::protocol::Role;
use luot_tests::browser::{Browser, screenshot_dir};
use luot_tests::{ADMIN, ServerOptions, TestServer};
use serde_json::{Value, json};

/// Minutes with one decimal as the page writes them in Vietnamese: seconds / 60 rounded half
/// up, a decimal comma.
fn minutes_vi(secs: u64) -> String {
    let tenths = (secs + 3) / 6;
    format!("{},{}", tenths / 10, tenths % 10)
}

/// A center with today's tickets: served, a no-show, a rated one, waiting ones.
async fn center_with_a_day() -> TestServer {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("rate-1", Role::Kiosk, Some(1))
            .token("quay-1", Role::Staff, Some(1))
            .token("quay-2", Role::Staff, Some(2)),
    );
    let kiosk = server.api_as("kiosk");
    let one = server.api_as("quay-1");
    let two = server.api_as("quay-2");
    let first = kiosk.issue_ticket("tnmt").await;
    kiosk.issue_ticket("tnmt").await;
    kiosk.issue_ticket("tckh").await;
    kiosk.issue_ticket("tckh").await;
    kiosk.issue_ticket("tnmt").await;
    one.open_counter(1).await;
    two.open_counter(2).await;
    assert_eq!(one.call_next(1).await.map(|t| t.id), Some(first.id));
    one.counter_action(1, "start").await.expect_status(200);
    one.counter_action(1, "finish").await.expect_status(200);
    server
        .api_as("rate-1")
        .rate(first.id, 5)
        .await
        .expect_status(200);
    one.call_next(1).await.expect("the second tnmt ticket");
    one.counter_action(1, "no-show").await.expect_status(200);
    two.call_next(2).await.expect("a tckh ticket");
    two.counter_action(2, "finish").await.expect_status(200);
    server
}

/// The page's current query as the API's query string.
async fn page_query(browser: &Browser) -> (String, Value) {
    let q = browser.js("return window.luotReport.query;").await;
    let s = format!(
        "from={}&to={}&by={}",
        q["from"].as_str().unwrap(),
        q["to"].as_str().unwrap(),
        q["by"].as_str().unwrap()
    );
    (s, q)
}

/// Every row of the page's table equals the API's JSON for the same query, figure by figure,
/// and minutes read with one decimal.
async fn assert_table_matches_api(browser: &Browser, server: &TestServer) {
    let (query, _) = page_query(browser).await;
    let api: Value = server
        .api_as(ADMIN)
        .get(&format!("/api/v1/reports?{query}"))
        .await
        .expect_status(200)
        .json();
    let shown = browser
        .js("return [...document.querySelectorAll('#report-table tbody tr, #report-table tfoot tr')].map((tr) => ({
               key: tr.dataset.key,
               cells: Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.field, [td.dataset.value ?? null, td.textContent]])),
             }));")
        .await;
    let shown = shown.as_array().unwrap();
    let mut expected: Vec<&Value> = api["rows"].as_array().unwrap().iter().collect();
    expected.push(&api["total"]);
    assert_eq!(
        shown.len(),
        expected.len(),
        "one table row per API row, and the total ({query})"
    );
    let fields = [
        "issued",
        "served",
        "no_show",
        "cancelled",
        "expired",
        "avg_wait_s",
        "median_wait_s",
        "p90_wait_s",
        "max_wait_s",
        "over_target_pct",
        "avg_service_s",
        "median_service_s",
        "p90_service_s",
        "max_service_s",
        "ratings",
        "avg_rating",
        "satisfaction_pct",
        "estimate_error_s",
    ];
    for (row, want) in shown.iter().zip(expected) {
        assert_eq!(row["key"], want["key"], "rows in the API's order ({query})");
        assert_eq!(row["cells"]["label"][1], want["label"]);
        for field in fields {
            let cell = &row["cells"][field];
            let value: f64 = cell[0].as_str().unwrap().parse().unwrap();
            assert_eq!(
                value,
                want[field].as_f64().unwrap(),
                "{field} of {} ({query})",
                want["key"]
            );
        }
        let called = want["called"].as_u64().unwrap();
        let median = row["cells"]["median_wait_s"][1].as_str().unwrap();
        if called == 0 {
            assert_eq!(median, "—", "no wait ended with a call: no median");
        } else {
            assert_eq!(median, minutes_vi(want["median_wait_s"].as_u64().unwrap()));
        }
    }
}

/// The report page loads with no script error nor policy violation, draws its four charts,
/// shows the API's figures for the same query, fetches again when the grouping or the period
/// changes (an empty period says so), carries the query in its CSV link, and prints without
/// its controls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_page_shows_the_api_figures_and_prints() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = center_with_a_day().await;
    let base = server.base_url().to_owned();
    let password = server.admin_password().unwrap().to_owned();
    let today = server.api_as(ADMIN).state().await.day.to_string();

    // The admin's Báo cáo tab opens the report page.
    browser.login(&base, "/admin", "admin", &password).await;
    browser
        .wait_js(
            "the admin tabs",
            "document.querySelector('button[data-tab=reports]') !== null",
        )
        .await;
    browser.click("button[data-tab=reports]").await;
    browser
        .wait_js("the report page", "location.pathname === '/admin/report'")
        .await;
    browser
        .wait_js(
            "the first report",
            "window.luotReport && window.luotReport.ready",
        )
        .await;
    let (_, q) = page_query(&browser).await;
    assert_eq!(q["period"], "month", "this month by default");
    assert_eq!(q["from"].as_str().unwrap(), format!("{}01", &today[..8]));
    assert_eq!(q["by"], "service");
    assert_eq!(
        browser.js("return typeof uPlot;").await,
        "function",
        "the vendored uPlot loads"
    );

    // Four charts, each a canvas with something drawn on it.
    browser
        .wait_js(
            "four charts",
            "document.querySelectorAll('.chart canvas').length === 4",
        )
        .await;
    let inked = browser
        .js(
            "return [...document.querySelectorAll('.chart canvas')].map((c) => {
               const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
               let n = 0;
               for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
               return [c.closest('.chart').id, c.width, n];
             });",
        )
        .await;
    for chart in inked.as_array().unwrap() {
        assert!(
            chart[1].as_u64().unwrap() > 200,
            "a chart of some width: {chart}"
        );
        assert!(
            chart[2].as_u64().unwrap() > 500,
            "a chart with ink on it: {chart}"
        );
    }
    let kpis = browser
        .js("return [...document.querySelectorAll('#kpis .kpi')].map((k) => k.dataset.kpi);")
        .await;
    assert_eq!(
        kpis,
        json!([
            "arrived",
            "served",
            "no_show",
            "median_wait",
            "p90_wait",
            "over_target",
            "satisfaction",
            "estimate"
        ])
    );
    assert_eq!(browser.text("[data-kpi=arrived] b").await, "5");
    assert_eq!(browser.text("[data-kpi=satisfaction] b").await, "100,0%");
    assert_table_matches_api(&browser, &server).await;
    browser.screenshot("report.png").await;

    // Another grouping: fetched again, and still the API's figures.
    let loads = browser
        .js("return window.luotReport.loads;")
        .await
        .as_u64()
        .unwrap();
    browser
        .client()
        .find(Locator::Css("#by"))
        .await
        .unwrap()
        .select_by_value("counter")
        .await
        .unwrap();
    browser
        .wait_js(
            "the report by counter",
            &format!("window.luotReport.ready && window.luotReport.loads > {loads} && window.luotReport.query.by === 'counter'"),
        )
        .await;
    assert_table_matches_api(&browser, &server).await;
    let keys = browser
        .js("return [...document.querySelectorAll('#report-table tbody tr')].map((tr) => tr.dataset.key);")
        .await;
    assert_eq!(
        keys,
        json!(["-", "001", "002"]),
        "tickets never called, then counters"
    );
    assert!(
        browser
            .js("return location.search;")
            .await
            .as_str()
            .unwrap()
            .contains("by=counter"),
        "the query lives in the URL"
    );

    // The CSV link asks the API the same query, and the API answers it as CSV.
    let (query, _) = page_query(&browser).await;
    let href = browser
        .js("return document.getElementById('csv-link').getAttribute('href');")
        .await;
    assert_eq!(href, format!("/api/v1/reports?{query}&format=csv").as_str());
    let csv = server
        .api_as(ADMIN)
        .get(href.as_str().unwrap())
        .await
        .expect_status(200);
    assert!(
        csv.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/csv"))
    );

    // Last month has no tickets: the page says so instead of drawing empty charts.
    let loads = browser
        .js("return window.luotReport.loads;")
        .await
        .as_u64()
        .unwrap();
    browser.click("button[data-shortcut=last_month]").await;
    browser
        .wait_js(
            "last month's report",
            &format!("window.luotReport.ready && window.luotReport.loads > {loads}"),
        )
        .await;
    let (_, q) = page_query(&browser).await;
    assert!(
        q["to"].as_str().unwrap() < today.as_str(),
        "a period before today: {q}"
    );
    assert!(browser.text("#empty").await.contains("Không có phiếu nào"));
    assert_eq!(
        browser
            .js("return document.getElementById('content').hidden;")
            .await,
        true
    );
    assert_table_matches_api_is_empty(&browser, &server).await;

    // Back to this quarter, which holds today.
    let loads = browser
        .js("return window.luotReport.loads;")
        .await
        .as_u64()
        .unwrap();
    browser.click("button[data-shortcut=this_quarter]").await;
    browser
        .wait_js(
            "this quarter's report",
            &format!("window.luotReport.ready && window.luotReport.loads > {loads} && window.luotReport.query.period === 'quarter'"),
        )
        .await;
    assert_table_matches_api(&browser, &server).await;

    // ‹ steps back one quarter, ending the day before this quarter began.
    let year: i32 = today[..4].parse().unwrap();
    let month: u32 = today[5..7].parse().unwrap();
    let quarter_start = (month - 1) / 3 * 3 + 1;
    let (py, pm) = if quarter_start == 1 {
        (year - 1, 10)
    } else {
        (year, quarter_start - 3)
    };
    let loads = browser
        .js("return window.luotReport.loads;")
        .await
        .as_u64()
        .unwrap();
    browser.click("#prev").await;
    browser
        .wait_js(
            "the previous quarter's report",
            &format!("window.luotReport.ready && window.luotReport.loads > {loads}"),
        )
        .await;
    let (_, q) = page_query(&browser).await;
    assert_eq!(q["period"], "quarter");
    assert_eq!(q["from"].as_str().unwrap(), format!("{py}-{pm:02}-01"));
    assert!(
        q["to"].as_str().unwrap() < today.as_str(),
        "the previous quarter ends before today: {q}"
    );
    browser.click("#next").await;
    browser
        .wait_js(
            "this quarter's report again",
            &format!("window.luotReport.ready && window.luotReport.loads > {} && window.luotReport.answers[window.luotReport.query.by].total.issued === 5", loads + 1),
        )
        .await;
    assert_table_matches_api(&browser, &server).await;

    // Printed: no bar, no controls; the report, its charts and its table remain.
    browser
        .cdp("Emulation.setEmulatedMedia", json!({ "media": "print" }))
        .await;
    browser
        .wait_js("print media", "matchMedia('print').matches")
        .await;
    let shown = browser
        .js("const d = (s) => getComputedStyle(document.querySelector(s)).display;
             return { bar: d('.bar'), controls: d('#controls'), report: d('#report'), table: d('#report-table'),
                      charts: document.querySelectorAll('.chart canvas').length };")
        .await;
    assert_eq!(shown["bar"], "none", "{shown}");
    assert_eq!(shown["controls"], "none", "{shown}");
    assert_ne!(shown["report"], "none", "{shown}");
    assert_ne!(shown["table"], "none", "{shown}");
    assert_eq!(shown["charts"], 4, "{shown}");
    browser.screenshot("report-print-media.png").await;
    browser
        .cdp("Emulation.setEmulatedMedia", json!({ "media": "" }))
        .await;
    let pdf = browser.print_pdf().await;
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.pdf"), &pdf).unwrap();

    let problems = browser
        .js("return [window.luotReport.cspViolations, window.luotReport.errors];")
        .await;
    assert_eq!(
        problems,
        json!([[], []]),
        "no policy violation, no script error"
    );
}

/// The page and the API agree that an empty period has no rows and no tickets.
async fn assert_table_matches_api_is_empty(browser: &Browser, server: &TestServer) {
    let (query, _) = page_query(browser).await;
    let api: Value = server
        .api_as(ADMIN)
        .get(&format!("/api/v1/reports?{query}"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(api["total"]["issued"], 0, "{query}");
    assert_eq!(
        browser
            .js("return window.luotReport.answers[window.luotReport.query.by].total.issued;")
            .await,
        0
    );
}

/// The report page is for admins: without a session it sends to the login page, a staff
/// member gets the 403 page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_page_is_for_admins_only() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new());
    let base = server.base_url().to_owned();
    browser.goto(&format!("{base}/admin/report")).await;
    browser
        .wait_js("the login page", "location.pathname === '/login'")
        .await;
    server.create_staff("lan", "mat-khau-quay-1", &[1]).await;
    browser
        .login(&base, "/counter", "lan", "mat-khau-quay-1")
        .await;
    browser.goto(&format!("{base}/admin/report")).await;
    browser
        .wait_js(
            "the 403 page",
            "document.getElementById('forbidden-title') !== null",
        )
        .await;
}
