//! The counter console and the admin at phone (390 px), tablet (768 px) and desktop
//! (1366 px) widths in a real headless Chromium: the document is never wider than the
//! viewport, the actions and the bar's buttons stay inside it, and screenshots of each
//! width land in `target/screenshots/` (`layout-*.png`).
//!
//! Without Chromium these tests print why and skip, except under CI (`CI` set).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use luot_shared::protocol::Role;
use luot_tests::browser::{Browser, BrowserOptions};
use luot_tests::{ServerOptions, TestServer};

/// The widths every layout must work at, with a height typical of each.
const SIZES: [(u32, u32); 3] = [(390, 844), (768, 1024), (1366, 768)];

/// Fails when the page is wider than the viewport or an element matching `css` reaches past
/// its right edge, naming what sticks out.
async fn assert_fits(browser: &Browser, what: &str, css: &str) {
    // A page may redraw after a resize (the report's charts follow their card a moment
    // later): give it a bounded moment to settle before judging.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut overflow = browser.horizontal_overflow().await;
    while overflow > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        overflow = browser.horizontal_overflow().await;
    }
    let out = browser
        .js(&format!(
            "return [...document.querySelectorAll({css:?})].filter((e) => e.offsetParent !== null)
               .filter((e) => {{ const r = e.getBoundingClientRect(); return r.right > window.innerWidth + 0.5 || r.left < -0.5; }})
               .map((e) => (e.id || e.dataset.action || e.dataset.tab || e.tagName) + ' ' + Math.round(e.getBoundingClientRect().right));"
        ))
        .await;
    assert!(
        overflow <= 0,
        "{what}: the document is {overflow} px wider than the viewport; sticking out: {out}"
    );
    assert_eq!(out, serde_json::json!([]), "{what}: cut off at the edge");
}

/// `/counter` idle, with a ticket in service and with its transfer dialog fits 390, 768 and
/// 1366 px wide: no horizontal scrolling, every action button and bar button on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_fits_phone_tablet_and_desktop() {
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(390, 844)).await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let base = server.base_url().to_owned();
    server.create_staff("lan", "mat-khau-quay-1", &[1, 2]).await;
    let kiosk = server.api_as("kiosk");
    for _ in 0..6 {
        kiosk.issue_ticket("tnmt").await;
    }
    kiosk.issue_ticket("tckh").await;
    browser
        .login(&base, "/counter", "lan", "mat-khau-quay-1")
        .await;
    browser
        .wait_js(
            "the picker",
            "document.querySelectorAll('#pick-list button').length === 2",
        )
        .await;
    for (w, h) in SIZES {
        browser.set_viewport(w, h).await;
        assert_fits(
            &browser,
            &format!("picker at {w}"),
            ".bar button, #pick-list button",
        )
        .await;
        browser
            .screenshot(&format!("layout-counter-picker-{w}.png"))
            .await;
    }
    browser.click("#pick-list button[data-counter='1']").await;
    browser
        .wait_js(
            "the console",
            "!document.getElementById('console-view').hidden && !document.getElementById('toggle').disabled",
        )
        .await;
    browser.click("#toggle").await;
    browser
        .wait_js(
            "the counter open",
            "!document.querySelector('[data-action=call-next]').disabled",
        )
        .await;
    for (w, h) in SIZES {
        browser.set_viewport(w, h).await;
        assert_fits(
            &browser,
            &format!("idle at {w}"),
            ".bar button, #actions button",
        )
        .await;
        browser
            .screenshot(&format!("layout-counter-idle-{w}.png"))
            .await;
    }
    browser.click("button[data-action=call-next]").await;
    browser
        .wait_js(
            "1001 called",
            "document.getElementById('cur-number').textContent === '1001' && !document.querySelector('[data-action=start]').disabled",
        )
        .await;
    browser.click("button[data-action=start]").await;
    browser
        .wait_js(
            "in service",
            "document.getElementById('cur-meta').textContent.includes('Đang phục vụ')",
        )
        .await;
    for (w, h) in SIZES {
        browser.set_viewport(w, h).await;
        assert_fits(
            &browser,
            &format!("serving at {w}"),
            ".bar button, #actions button, #queues .svc, .stat",
        )
        .await;
        browser
            .screenshot(&format!("layout-counter-serving-{w}.png"))
            .await;
        browser
            .js("document.querySelector('[data-action=transfer]').click(); return true;")
            .await;
        browser
            .wait_js(
                "the transfer dialog",
                "document.getElementById('transfer-dialog').open",
            )
            .await;
        assert_fits(
            &browser,
            &format!("transfer at {w}"),
            "#transfer-dialog, #transfer-dialog select",
        )
        .await;
        browser
            .screenshot(&format!("layout-counter-transfer-{w}.png"))
            .await;
        browser.click("#transfer-cancel").await;
    }
}

/// Every `/admin` tab and the report page fit 390, 768 and 1366 px wide: no horizontal
/// scrolling, every field, button and tab inside the viewport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_fits_phone_tablet_and_desktop() {
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(390, 844)).await else {
        return;
    };
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("quay-1", Role::Staff, Some(1)),
    );
    let base = server.base_url().to_owned();
    let password = server.admin_password().unwrap().to_owned();
    server.create_staff("lan", "mat-khau-quay-1", &[1, 2]).await;
    let kiosk = server.api_as("kiosk");
    for _ in 0..4 {
        kiosk.issue_ticket("tnmt").await;
    }
    server.api_as("quay-1").open_counter(1).await;
    server
        .api_as("quay-1")
        .call_next(1)
        .await
        .expect("a ticket");
    browser.login(&base, "/admin", "admin", &password).await;
    browser
        .wait_js(
            "the dashboard",
            "document.querySelectorAll('#dash-counters tr[data-counter]').length === 9",
        )
        .await;
    let controls =
        ".bar button, [role=tab], main input, main select, main textarea, main button, .kpi";
    for tab in [
        "dashboard",
        "center",
        "services",
        "counters",
        "users",
        "devices",
        "webhooks",
    ] {
        browser
            .js(&format!(
                "document.querySelector(\"#tabs [data-tab='{tab}']\").click(); return true;"
            ))
            .await;
        browser
            .wait_js(
                &format!("the {tab} tab"),
                &format!("!document.getElementById('tab-{tab}').hidden"),
            )
            .await;
        for (w, h) in SIZES {
            browser.set_viewport(w, h).await;
            assert_fits(&browser, &format!("/admin#{tab} at {w}"), controls).await;
            browser
                .screenshot(&format!("layout-admin-{tab}-{w}.png"))
                .await;
        }
    }
    browser.goto(&format!("{base}/admin/report")).await;
    browser
        .wait_js(
            "the first report",
            "window.luotReport && window.luotReport.ready",
        )
        .await;
    for (w, h) in SIZES {
        browser.set_viewport(w, h).await;
        assert_fits(
            &browser,
            &format!("/admin/report at {w}"),
            ".bar button, #controls button, #controls select, #controls input",
        )
        .await;
        browser
            .screenshot(&format!("layout-admin-report-{w}.png"))
            .await;
    }
}
