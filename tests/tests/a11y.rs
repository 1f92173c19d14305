//! Every web page, audited by axe-core (WCAG 2.2 A/AA and best practice) in a real headless
//! Chromium against the real server, in each state a person meets it in: the login page, the
//! counter console (the picker, idle, with a ticket, the transfer and confirm dialogs, the
//! settings), every admin tab and its dialogs, the report, the lobby display, the rating
//! tablet and a ticket's phone page. A critical or serious violation anywhere fails the test,
//! which prints them all.
//!
//! axe-core comes from npm (`tests/package.json`, installed by `.ci/run` with `npm ci`); it
//! is handed to the page by WebDriver, so the page's Content-Security-Policy stays as the
//! server sends it. Without Chromium or axe-core these tests print why and skip, except under
//! CI (`CI` set), where a missing one is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use luot_shared::protocol::Role;
use luot_tests::browser::{AxeViolation, Browser, BrowserOptions, axe_source};
use luot_tests::{ServerOptions, TestServer};

/// Audits pages one state at a time and keeps what each state broke.
struct Audit {
    axe: String,
    found: Vec<(String, Vec<AxeViolation>)>,
    states: usize,
}

impl Audit {
    fn new(axe: String) -> Audit {
        Audit {
            axe,
            found: Vec::new(),
            states: 0,
        }
    }

    /// Runs axe on the page as it is now, under the name `state`.
    async fn check(&mut self, browser: &Browser, state: &str) {
        let violations = browser.axe(&self.axe).await;
        self.states += 1;
        eprintln!("axe: {state}: {} critical/serious", violations.len());
        if !violations.is_empty() {
            self.found.push((state.to_owned(), violations));
        }
    }

    /// Fails with every violation found, page by page.
    fn finish(self) {
        assert!(self.states > 0, "nothing was audited");
        if self.found.is_empty() {
            return;
        }
        let mut report = String::new();
        for (state, violations) in &self.found {
            report.push_str(&format!("== {state}\n"));
            for v in violations {
                report.push_str(&v.to_string());
            }
        }
        panic!(
            "axe-core found critical or serious violations in {} of {} page states:\n{report}",
            self.found.len(),
            self.states
        );
    }
}

/// A browser and axe-core, or `None` (printed) when either is missing outside CI.
async fn setup(options: BrowserOptions) -> Option<(Browser, Audit)> {
    let axe = axe_source()?;
    let browser = Browser::start_with(options).await?;
    Some((browser, Audit::new(axe)))
}

/// The login page, the counter picker, the idle console, a called and a served ticket, the
/// transfer dialog, the confirm dialog of a keyboard finish and the shortcut settings have no
/// critical or serious axe violation, in Vietnamese and in English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_console_passes_axe() {
    let Some((browser, mut audit)) = setup(BrowserOptions::new()).await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let base = server.base_url().to_owned();
    server.create_staff("lan", "mat-khau-quay-1", &[1, 2]).await;

    browser.goto(&format!("{base}/login?next=/counter")).await;
    browser
        .wait_js("the login form", "document.getElementById('username')")
        .await;
    audit.check(&browser, "/login").await;
    browser.fill("#username", "lan").await;
    browser.fill("#password", "sai-mat-khau").await;
    browser.click("button[type=submit]").await;
    browser
        .wait_js(
            "the refusal",
            "document.getElementById('login-error').textContent.length > 0",
        )
        .await;
    audit.check(&browser, "/login after a wrong password").await;
    assert_eq!(
        browser.js("return document.activeElement.id;").await,
        "password",
        "the focus goes back to the password, not to the page"
    );

    browser
        .login(&base, "/counter", "lan", "mat-khau-quay-1")
        .await;
    browser
        .wait_js(
            "the counter picker",
            "document.querySelectorAll('#pick-list button').length === 2",
        )
        .await;
    audit.check(&browser, "/counter picker").await;
    browser.click("#pick-list button[data-counter='1']").await;
    browser
        .wait_js(
            "the closed console",
            "document.getElementById('notice').textContent.includes('tạm nghỉ')",
        )
        .await;
    audit.check(&browser, "/counter closed").await;
    browser.click("#toggle").await;
    browser.wait_js("the empty-queue notice", "document.getElementById('notice').textContent.includes('Không có công dân nào đang chờ')").await;
    audit.check(&browser, "/counter open, nobody waiting").await;

    server.api_as("kiosk").issue_ticket("tnmt").await;
    server.api_as("kiosk").issue_ticket("tnmt").await;
    browser
        .wait_js(
            "two waiting",
            "document.getElementById('waiting-here').textContent === '2'",
        )
        .await;
    audit.check(&browser, "/counter with a queue").await;
    browser.click("button[data-action=call-next]").await;
    browser
        .wait_js(
            "1001 called",
            "document.getElementById('cur-number').textContent === '1001'",
        )
        .await;
    audit.check(&browser, "/counter a ticket called").await;
    browser.click("button[data-action=start]").await;
    browser
        .wait_js(
            "service started",
            "document.getElementById('cur-meta').textContent.includes('Đang phục vụ')",
        )
        .await;
    audit.check(&browser, "/counter a ticket in service").await;

    browser.click("button[data-action=transfer]").await;
    browser
        .wait_js(
            "the transfer dialog",
            "document.getElementById('transfer-dialog').open",
        )
        .await;
    audit.check(&browser, "/counter transfer dialog").await;
    browser.click("#transfer-cancel").await;
    browser
        .wait_js(
            "the transfer dialog closed",
            "!document.getElementById('transfer-dialog').open",
        )
        .await;

    browser
        .js("document.activeElement.blur(); return true;")
        .await;
    browser
        .client()
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("h")
        .await
        .unwrap();
    browser
        .wait_js(
            "the confirm dialog",
            "document.getElementById('confirm-dialog').open",
        )
        .await;
    audit.check(&browser, "/counter confirm dialog").await;
    browser.click("#confirm-cancel").await;

    browser.click("#lang").await;
    browser
        .wait_js(
            "English",
            "document.documentElement.lang === 'en' && document.getElementById('cur-meta').textContent.includes('Serving')",
        )
        .await;
    audit.check(&browser, "/counter in English").await;
    browser.click("#lang").await;

    browser.click("#change-counter").await;
    browser
        .wait_js(
            "the picker again",
            "!document.getElementById('pick-view').hidden",
        )
        .await;
    audit
        .check(&browser, "/counter picker with a counter in service")
        .await;
    audit.finish();
}

/// Every admin tab, the reset-password and confirm dialogs, and the report page have no
/// critical or serious axe violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_report_pass_axe() {
    let Some((browser, mut audit)) = setup(BrowserOptions::new()).await else {
        return;
    };
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("quay-1", Role::Staff, Some(1)),
    );
    let base = server.base_url().to_owned();
    let password = server.admin_password().unwrap().to_owned();
    server.create_staff("lan", "mat-khau-quay-1", &[1]).await;
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("quay-1");
    kiosk.issue_ticket("tnmt").await;
    kiosk.issue_ticket("tckh").await;
    staff.open_counter(1).await;
    staff.call_next(1).await.expect("a ticket");

    browser.login(&base, "/admin", "admin", &password).await;
    browser
        .wait_js(
            "the dashboard",
            "document.querySelectorAll('#dash-counters tr[data-counter]').length === 9",
        )
        .await;
    audit.check(&browser, "/admin dashboard").await;
    for (tab, ready) in [
        (
            "center",
            "document.getElementById('center-form').children.length > 0",
        ),
        (
            "services",
            "document.querySelectorAll('#services-table input').length > 0",
        ),
        (
            "counters",
            "document.querySelectorAll('#counters-table select').length > 0",
        ),
        (
            "users",
            "document.querySelector('#users-table tr[data-user=lan]') !== null",
        ),
        (
            "devices",
            "document.querySelector('#tokens-table tr[data-token]') !== null",
        ),
        (
            "webhooks",
            "document.getElementById('webhooks-table').children.length > 0",
        ),
    ] {
        browser.click(&format!("#tabs [data-tab='{tab}']")).await;
        browser.wait_js(&format!("the {tab} tab"), ready).await;
        audit.check(&browser, &format!("/admin#{tab}")).await;
    }

    // Tables are redrawn when their tab is shown: empty them so the waits see the new rows.
    browser
        .js("document.getElementById('users-table').replaceChildren(); document.getElementById('tokens-table').replaceChildren(); return true;")
        .await;
    browser.click("#tabs [data-tab='users']").await;
    browser
        .wait_js(
            "the users",
            "document.querySelector('#users-table tr[data-user=lan] button.reset') !== null",
        )
        .await;
    browser
        .click("#users-table tr[data-user=lan] button.reset")
        .await;
    browser
        .wait_js(
            "the reset-password dialog",
            "document.getElementById('reset-dialog').open",
        )
        .await;
    audit.check(&browser, "/admin reset-password dialog").await;
    browser.click("#reset-cancel").await;

    browser.click("#tabs [data-tab='devices']").await;
    browser
        .wait_js(
            "the tokens",
            "document.querySelector('#tokens-table tr[data-token] button.danger') !== null",
        )
        .await;
    browser
        .click("#tokens-table tr[data-token] button.danger")
        .await;
    browser
        .wait_js(
            "the confirm dialog",
            "document.getElementById('ask-dialog').open",
        )
        .await;
    audit.check(&browser, "/admin confirm dialog").await;
    browser.click("#ask-cancel").await;
    browser
        .wait_js(
            "the question closed",
            "!document.getElementById('ask-dialog').open",
        )
        .await;
    assert!(
        browser
            .client()
            .find(fantoccini::Locator::Css("#tokens-table tr[data-token]"))
            .await
            .is_ok(),
        "Cancel keeps the token"
    );

    browser.goto(&format!("{base}/admin/report")).await;
    browser
        .wait_js(
            "the first report",
            "window.luotReport && window.luotReport.ready",
        )
        .await;
    audit.check(&browser, "/admin/report").await;
    audit.finish();
}

/// The lobby display, the rating tablet (idle and asking) and a ticket's phone page have no
/// critical or serious axe violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_pass_axe() {
    let Some((browser, mut audit)) = setup(BrowserOptions::new().viewport(1280, 800)).await else {
        return;
    };
    let server = TestServer::start(
        ServerOptions::new()
            .token("tv", Role::Display, None)
            .token("tablet", Role::Kiosk, Some(1))
            .token("kiosk", Role::Kiosk, None)
            .token("quay-1", Role::Staff, Some(1)),
    );
    let base = server.base_url().to_owned();
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("quay-1");
    let first = kiosk.issue_ticket("tnmt").await;
    let mine = kiosk.issue_ticket("tnmt").await;
    staff.open_counter(1).await;
    assert_eq!(staff.call_next(1).await.map(|t| t.id), Some(first.id));

    browser
        .goto(&format!("{base}/display?token={}", server.token("tv")))
        .await;
    browser
        .wait_js(
            "the display's first state",
            "window.luotDisplay.state !== null && document.getElementById('center-name').textContent.length > 0",
        )
        .await;
    audit.check(&browser, "/display").await;

    browser
        .goto(&format!("{base}/rate#token={}", server.token("tablet")))
        .await;
    browser
        .wait_js(
            "the idle tablet",
            "window.luotRate.counter !== null && window.luotRate.online && window.luotRate.screen === 'idle'",
        )
        .await;
    audit.check(&browser, "/rate idle").await;
    staff.counter_action(1, "start").await.expect_status(200);
    staff.counter_action(1, "finish").await.expect_status(200);
    browser
        .wait_js("the question", "window.luotRate.screen === 'choose'")
        .await;
    audit.check(&browser, "/rate asking").await;

    browser.set_viewport(390, 844).await;
    let track = mine.track.clone().expect("a track secret");
    browser.goto(&format!("{base}/t/{track}")).await;
    browser
        .wait_js(
            "the ticket's page",
            &format!(
                "window.luotTrack.online && document.getElementById('number').textContent === '{}'",
                mine.number
            ),
        )
        .await;
    audit.check(&browser, "/t/{track} waiting").await;
    staff.call_next(1).await.expect("my ticket");
    browser
        .wait_js(
            "the call on the phone",
            "document.querySelector('main').textContent.includes('Quầy 1')",
        )
        .await;
    audit.check(&browser, "/t/{track} called").await;
    audit.finish();
}

/// The audit itself can fail: an image without a text alternative and a field without a
/// label added to the login page are reported; the page's Content-Security-Policy still
/// refuses an inline script while axe runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_reports_a_broken_page() {
    let Some((browser, audit)) = setup(BrowserOptions::new()).await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new());
    browser.goto(&format!("{}/login", server.base_url())).await;
    browser
        .wait_js("the login form", "document.getElementById('username')")
        .await;
    browser
        .js("const f = document.getElementById('login-form');
             f.append(document.createElement('input'));
             const img = document.createElement('img'); img.src = '/static/app.css'; f.append(img);
             return true;")
        .await;
    let found = browser.axe(&audit.axe).await;
    let rules: Vec<&str> = found.iter().map(|v| v.rule.as_str()).collect();
    assert!(rules.contains(&"label"), "{rules:?}");
    assert!(rules.contains(&"image-alt"), "{rules:?}");
    assert!(found.iter().all(|v| !v.nodes.is_empty()));
    // axe ran while the page's own policy still refuses inline scripts.
    let inline = browser
        .js("const s = document.createElement('script'); s.textContent = 'window.inlineRan = true;';
             document.body.append(s); return [window.inlineRan === true, typeof window.axe];")
        .await;
    assert_eq!(inline, serde_json::json!([false, "object"]));
}
