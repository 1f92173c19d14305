//! The counter console and the admin pages in a real headless Chromium, driven over
//! WebDriver (chromedriver). Screenshots of both pages at 1366×768 land in
//! `target/screenshots/`.
//!
//! Without Chromium and chromedriver these tests print why and skip, except under CI
//! (`CI` set), where `.ci/run` installs both and a missing browser is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use fantoccini::Locator;
use luot_shared::protocol::Role;
use luot_tests::browser::Browser;
use luot_tests::{ADMIN, ServerOptions, TestServer};

/// Staff log in, open their counter, see a ticket issued through the API appear over the
/// WebSocket, call it with Gọi tiếp, finish it, and are told when nobody waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_console_calls_and_finishes_a_ticket() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let base = server.base_url().to_owned();
    server.create_staff("lan", "mat-khau-quay-1", &[1]).await;
    server.api_as("kiosk").issue_ticket("tckh").await;

    browser
        .login(&base, "/counter", "lan", "mat-khau-quay-1")
        .await;
    // Only counter 1 is assigned, so the console opens it without asking.
    browser
        .wait_js(
            "the console of counter 1",
            "document.getElementById('counter-title').textContent === 'Quầy 1'",
        )
        .await;
    browser
        .wait_js(
            "the closed-counter notice",
            "document.getElementById('notice').textContent.includes('tạm nghỉ')",
        )
        .await;
    browser.click("#toggle").await;
    browser
        .wait_js(
            "the counter to open",
            "document.getElementById('toggle-label').textContent === 'Tạm nghỉ'",
        )
        .await;
    browser.wait_js("the empty-queue notice", "document.getElementById('notice').textContent.includes('Không có công dân nào đang chờ')").await;

    let ticket = server.api_as("kiosk").issue_ticket("tnmt").await;
    assert_eq!(ticket.number, "1001");
    browser.wait_js("ticket 1001 in the queue", "document.querySelector('#queues [data-service=tnmt] .next').textContent.includes('1001')").await;
    browser
        .wait_js(
            "one waiting here",
            "document.getElementById('waiting-here').textContent === '1'",
        )
        .await;

    browser.click("button[data-action=call-next]").await;
    browser
        .wait_js(
            "1001 called",
            "document.getElementById('cur-number').textContent === '1001'",
        )
        .await;
    let state = server.api_as("kiosk").state().await;
    let c1 = state.counters.iter().find(|c| c.id == 1).unwrap();
    assert_eq!(c1.current.as_ref().map(|t| t.number.as_str()), Some("1001"));
    assert_eq!(c1.staff.as_deref(), Some("lan"));

    browser.click("button[data-action=start]").await;
    browser
        .wait_js(
            "service started",
            "document.getElementById('cur-meta').textContent.includes('Đang phục vụ')",
        )
        .await;
    browser.screenshot("counter.png").await;

    // Keyboard shortcut H = Hoàn thành, which asks first while a citizen is served.
    browser
        .client()
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("h")
        .await
        .unwrap();
    browser
        .wait_js(
            "the question before finishing",
            "document.getElementById('confirm-dialog').open",
        )
        .await;
    browser.click("#confirm-ok").await;
    browser
        .wait_js(
            "1001 finished",
            "document.getElementById('served-today').textContent === '1'",
        )
        .await;
    browser
        .wait_js(
            "the current ticket cleared",
            "document.getElementById('cur-number').textContent === '—'",
        )
        .await;
    browser.click("button[data-action=call-next]").await;
    browser.wait_js("the empty-queue notice", "document.getElementById('notice').textContent.includes('Không có công dân nào đang chờ')").await;

    let state = server.api_as("kiosk").state().await;
    let tnmt = state.services.iter().find(|s| s.id == "tnmt").unwrap();
    assert_eq!(tnmt.waiting, 0);
    assert_eq!(
        state
            .counters
            .iter()
            .find(|c| c.id == 1)
            .unwrap()
            .served_today,
        1
    );
}

/// An admin adds a service and a counter in /admin; the kiosk-facing state shows both at
/// once. An invalid setting (a duplicate prefix) is refused with a message next to the field
/// and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_adds_a_service_and_a_counter_live() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let base = server.base_url().to_owned();
    let password = server.admin_password().unwrap().to_owned();
    server.api_as("kiosk").issue_ticket("tnmt").await;

    browser.login(&base, "/admin", "admin", &password).await;
    browser
        .wait_js(
            "the dashboard",
            "document.querySelectorAll('#dash-counters tr[data-counter]').length === 9",
        )
        .await;
    browser
        .wait_js(
            "one waiting",
            "document.getElementById('kpi-waiting').textContent === '1'",
        )
        .await;
    browser.screenshot("admin.png").await;

    // A duplicate prefix is refused next to its field.
    browser.click("button[data-tab=services]").await;
    browser.click("#add-service").await;
    browser.fill("[data-field='services[9].id']", "bhxh").await;
    browser
        .fill("[data-field='services[9].name']", "Bảo hiểm xã hội")
        .await;
    browser.fill("[data-field='services[9].prefix']", "1").await;
    browser.click("#tab-services .save-config").await;
    browser.wait_js("the prefix error", "document.querySelector(\"[data-error-for='services[9].prefix']\").textContent.length > 0").await;
    let invalid = browser
        .client()
        .find(Locator::Css("[data-field='services[9].prefix']"))
        .await
        .unwrap();
    assert_eq!(
        invalid.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    let state = server.api_as("kiosk").state().await;
    assert_eq!(
        state.services.len(),
        9,
        "a refused configuration changes nothing"
    );

    browser
        .fill("[data-field='services[9].prefix']", "10")
        .await;
    browser.click("#tab-services .save-config").await;
    browser
        .wait_js(
            "the save confirmation",
            "document.querySelector('#tab-services .config-status').textContent.includes('Đã lưu')",
        )
        .await;
    let state = server.api_as("kiosk").state().await;
    let added = state
        .services
        .iter()
        .find(|s| s.id == "bhxh")
        .expect("the new service is live");
    assert_eq!(added.name, "Bảo hiểm xã hội");
    assert_eq!(added.prefix, "10");

    browser.click("button[data-tab=counters]").await;
    browser.click("#add-counter").await;
    browser
        .fill("[data-field='counters[9].name']", "Quầy BHXH")
        .await;
    browser
        .fill("[data-field='counters[9].services']", "bhxh")
        .await;
    browser.click("#tab-counters .save-config").await;
    browser
        .wait_js(
            "the save confirmation",
            "document.querySelector('#tab-counters .config-status').textContent.includes('Đã lưu')",
        )
        .await;
    let state = server.api_as("kiosk").state().await;
    let counter = state
        .counters
        .iter()
        .find(|c| c.id == 10)
        .expect("the new counter is live");
    assert_eq!(counter.name, "Quầy BHXH");
    assert_eq!(counter.services, vec!["bhxh".to_owned()]);
    let ticket = server.api_as("kiosk").issue_ticket("bhxh").await;
    assert_eq!(ticket.number, "10001");
    assert_eq!(
        state
            .services
            .iter()
            .find(|s| s.id == "tnmt")
            .unwrap()
            .waiting,
        1,
        "tickets survive a configuration change"
    );
}

/// A staff member's session cannot open /admin (403 page) nor call the admin API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_cannot_open_admin() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new());
    let base = server.base_url().to_owned();
    server.create_staff("binh", "mat-khau-quay-2", &[2]).await;

    browser
        .login(&base, "/counter", "binh", "mat-khau-quay-2")
        .await;
    browser.goto(&format!("{base}/admin")).await;
    browser
        .wait_js(
            "the 403 page",
            "document.getElementById('forbidden-title') !== null",
        )
        .await;
    assert!(browser.text("body").await.contains("không có quyền"));
    let status = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/v1/admin/users').then((r) => done(r.status), () => done(0));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status.as_u64(), Some(403));
}

/// The login page's `next` never leaves the site: paths a browser reads as another host
/// (`/\evil`, `/<tab>/evil`, `//evil`) send the user to the console instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_redirect_stays_on_the_site() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new());
    let base = server.base_url().to_owned();
    server.create_staff("chi", "mat-khau-quay-3", &[3]).await;
    for next in [
        "/%5Cevil.example/x",
        "/%09/evil.example/x",
        "//evil.example/x",
    ] {
        browser.login(&base, next, "chi", "mat-khau-quay-3").await;
        let at = browser
            .client()
            .execute("return location.origin + location.pathname;", vec![])
            .await
            .unwrap();
        assert_eq!(
            at.as_str(),
            Some(format!("{base}/counter").as_str()),
            "next={next}"
        );
    }
}

/// When an admin disables a staff account, the open console leaves for the login page on
/// its own: its WebSocket is closed with 4401 and the page does not keep retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_returns_the_console_to_login() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new());
    let base = server.base_url().to_owned();
    server.create_staff("em", "mat-khau-quay-4", &[4]).await;
    browser
        .login(&base, "/counter", "em", "mat-khau-quay-4")
        .await;
    browser
        .wait_js(
            "the console of counter 4",
            "document.getElementById('counter-title').textContent === 'Quầy 4'",
        )
        .await;
    server
        .api_as(ADMIN)
        .patch(
            "/api/v1/admin/users/em",
            &serde_json::json!({ "disabled": true }),
        )
        .await
        .expect_status(200);
    browser
        .wait_js("the login page", "location.pathname === '/login'")
        .await;
}
