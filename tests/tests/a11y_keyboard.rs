//! The counter console and the admin from the keyboard, in a real headless Chromium against
//! the real server: a stray key never ends a citizen's service (it asks first, in the page),
//! shortcuts can be switched off per staff member, focus stays on the control after its
//! action, a call is announced once, the admin tabs follow the ARIA tab pattern, and the
//! admin's dialogs are the page's own (a reset password is never typed in clear).
//!
//! Without Chromium these tests print why and skip, except under CI (`CI` set).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use fantoccini::Locator;
use luot_shared::protocol::Role;
use luot_tests::browser::Browser;
use luot_tests::{ServerOptions, TestServer};

const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";
const HOME: &str = "\u{E011}";
const END: &str = "\u{E010}";
const LEFT: &str = "\u{E012}";
const RIGHT: &str = "\u{E014}";

/// Types `keys` into whatever has the focus now, without moving it.
async fn press(browser: &Browser, keys: &str) {
    browser
        .client()
        .active_element()
        .await
        .expect("an active element")
        .send_keys(keys)
        .await
        .expect("cannot type");
}

/// Moves the focus to the page itself, as after a click on empty space, and types `keys`.
async fn press_on_page(browser: &Browser, keys: &str) {
    browser
        .js("if (document.activeElement) document.activeElement.blur(); return true;")
        .await;
    press(browser, keys).await;
}

/// A server with staff "lan" at counter 1, two tickets waiting, logged in on /counter.
async fn console() -> Option<(Browser, TestServer)> {
    let browser = Browser::start().await?;
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let base = server.base_url().to_owned();
    server.create_staff("lan", "mat-khau-quay-1", &[1]).await;
    server.api_as("kiosk").issue_ticket("tnmt").await;
    server.api_as("kiosk").issue_ticket("tnmt").await;
    browser
        .login(&base, "/counter", "lan", "mat-khau-quay-1")
        .await;
    browser
        .wait_js(
            "the console of counter 1",
            "document.getElementById('counter-title').textContent === 'Quầy 1' && !document.getElementById('toggle').disabled",
        )
        .await;
    Some((browser, server))
}

/// The number counter 1 is serving or calling, per the API.
async fn current(server: &TestServer) -> Option<(String, String)> {
    let state = server.api_as("kiosk").state().await;
    let c1 = state.counters.iter().find(|c| c.id == 1).unwrap();
    c1.current
        .as_ref()
        .map(|t| (t.number.clone(), format!("{:?}", t.status).to_lowercase()))
}

/// The id of counter 1's ticket, as the console names it in an action's `?ticket=`.
async fn current_id(server: &TestServer) -> String {
    let state = server.api_as("kiosk").state().await;
    let c1 = state.counters.iter().find(|c| c.id == 1).unwrap();
    c1.current
        .as_ref()
        .map_or_else(|| "none".to_owned(), |t| t.id.to_string())
}

/// A stray G (or H) while a citizen is served opens a question in the page instead of
/// finishing; a second G, Enter (Cancel has the focus) and Escape leave the service running;
/// only the dialog's own confirm button finishes it and calls the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_g_during_service_does_not_finish_it_silently() {
    let Some((browser, server)) = console().await else {
        return;
    };
    browser.click("#toggle").await;
    browser
        .wait_js(
            "the counter open",
            "!document.querySelector('[data-action=call-next]').disabled",
        )
        .await;
    browser.click("button[data-action=call-next]").await;
    browser
        .wait_js(
            "1001 called",
            "document.getElementById('cur-number').textContent === '1001'",
        )
        .await;
    browser.click("button[data-action=start]").await;
    browser
        .wait_js(
            "1001 in service",
            "document.getElementById('cur-meta').textContent.includes('Đang phục vụ') && !document.querySelector('[data-action=finish]').disabled",
        )
        .await;

    count_posts(&browser).await;
    press_on_page(&browser, "g").await;
    browser
        .wait_js(
            "the question",
            "document.getElementById('confirm-dialog').open",
        )
        .await;
    browser.screenshot("counter-confirm-finish.png").await;
    let question = browser.text("#confirm-text").await;
    assert!(question.contains("1001"), "{question}");
    assert_eq!(
        browser.js("return document.activeElement.id;").await,
        "confirm-cancel",
        "Cancel has the focus, so a stray Enter does nothing"
    );
    // Another G, then Enter on Cancel: still serving.
    press(&browser, "g").await;
    press(&browser, ENTER).await;
    browser
        .wait_js(
            "the question closed",
            "!document.getElementById('confirm-dialog').open",
        )
        .await;
    assert_eq!(
        current(&server).await,
        Some(("1001".into(), "serving".into()))
    );

    // H asks too; Escape closes the question.
    press_on_page(&browser, "h").await;
    browser
        .wait_js(
            "the question again",
            "document.getElementById('confirm-dialog').open",
        )
        .await;
    press(&browser, ESCAPE).await;
    browser
        .wait_js(
            "the question closed",
            "!document.getElementById('confirm-dialog').open",
        )
        .await;
    assert_eq!(
        current(&server).await,
        Some(("1001".into(), "serving".into()))
    );
    let served: u64 = browser.text("#served-today").await.parse().unwrap();
    assert_eq!(served, 0);

    // Enter on a focused Gọi tiếp is a key too: it asks.
    browser
        .js("document.querySelector('[data-action=call-next]').focus(); return true;")
        .await;
    press(&browser, ENTER).await;
    browser
        .wait_js(
            "the question for Enter",
            "document.getElementById('confirm-dialog').open",
        )
        .await;
    assert_eq!(
        current(&server).await,
        Some(("1001".into(), "serving".into()))
    );
    assert_eq!(
        posts(&browser).await,
        Vec::<String>::new(),
        "nothing was sent"
    );
    browser.click("#confirm-ok").await;
    browser
        .wait_js(
            "1002 called",
            "document.getElementById('cur-number').textContent === '1002'",
        )
        .await;
    assert_eq!(
        current(&server).await,
        Some(("1002".into(), "called".into()))
    );
    browser
        .wait_js(
            "1001 counted as served",
            "document.getElementById('served-today').textContent === '1'",
        )
        .await;
}

/// With shortcuts switched off a G does nothing (the next click calls 1001, not 1002); the
/// choice is kept for this staff member across a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortcuts_can_be_switched_off() {
    let Some((browser, server)) = console().await else {
        return;
    };
    browser.click("#toggle").await;
    browser
        .wait_js(
            "the counter open",
            "!document.querySelector('[data-action=call-next]').disabled",
        )
        .await;
    browser.click("#shortcuts").await;
    browser
        .wait_js(
            "shortcuts off",
            "!document.getElementById('shortcuts').checked",
        )
        .await;
    assert_eq!(
        browser
            .js("return [...document.querySelectorAll('#actions kbd')].every((k) => k.offsetParent === null);")
            .await
            .as_bool(),
        Some(true),
        "the key hints are hidden"
    );
    count_posts(&browser).await;
    for key in ["g", "t", "l", "b", "h", "v", "c"] {
        press_on_page(&browser, key).await;
    }
    assert_eq!(posts(&browser).await, Vec::<String>::new(), "no key acted");
    assert_eq!(
        browser
            .js("return document.getElementById('transfer-dialog').open || document.getElementById('confirm-dialog').open;")
            .await
            .as_bool(),
        Some(false)
    );
    browser.click("button[data-action=call-next]").await;
    browser
        .wait_js(
            "1001 called by the click",
            "document.getElementById('cur-number').textContent === '1001'",
        )
        .await;
    assert_eq!(
        posts(&browser).await,
        ["/api/v1/counters/1/call-next?ticket=none"]
    );
    assert_eq!(
        current(&server).await,
        Some(("1001".into(), "called".into()))
    );

    browser.client().refresh().await.unwrap();
    browser
        .wait_js(
            "the console again",
            "document.getElementById('cur-number').textContent === '1001'",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('shortcuts').checked;")
            .await
            .as_bool(),
        Some(false),
        "the choice is remembered"
    );
    count_posts(&browser).await;
    press_on_page(&browser, "b").await;
    assert_eq!(
        posts(&browser).await,
        Vec::<String>::new(),
        "B did not start"
    );

    // Switched on again, B starts the service (of the ticket the page shows).
    let shown = current_id(&server).await;
    browser.click("#shortcuts").await;
    press_on_page(&browser, "b").await;
    browser
        .wait_js(
            "in service",
            "document.getElementById('cur-meta').textContent.includes('Đang phục vụ')",
        )
        .await;
    assert_eq!(
        posts(&browser).await,
        [format!("/api/v1/counters/1/start?ticket={shown}")]
    );
}

/// Makes the page keep the path of every POST it sends, in `window.posts`.
async fn count_posts(browser: &Browser) {
    browser
        .js("window.posts = [];
             if (!window.realFetch) {
               window.realFetch = window.fetch;
               window.fetch = (url, init) => {
                 if (init && init.method === 'POST') window.posts.push(String(url));
                 return window.realFetch(url, init);
               };
             }
             return true;")
        .await;
}

/// The POSTs the page sent since [`count_posts`].
async fn posts(browser: &Browser) -> Vec<String> {
    serde_json::from_value(browser.js("return window.posts;").await).unwrap()
}

/// A button worked from the keyboard keeps the focus through its request (it is disabled
/// meanwhile); when it cannot be used again, the focus goes to the next action, not to the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_stays_on_the_control_after_its_action() {
    let Some((browser, _server)) = console().await else {
        return;
    };
    browser
        .js("document.getElementById('toggle').focus(); return true;")
        .await;
    press(&browser, ENTER).await;
    browser
        .wait_js(
            "the counter open",
            "!document.querySelector('[data-action=call-next]').disabled",
        )
        .await;
    assert_eq!(
        browser.js("return document.activeElement.id;").await,
        "toggle"
    );
    browser
        .js("document.querySelector('[data-action=call-next]').focus(); return true;")
        .await;
    press(&browser, ENTER).await;
    browser
        .wait_js(
            "1001 called",
            "document.getElementById('cur-number').textContent === '1001' && !document.querySelector('[data-action=start]').disabled",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.activeElement.dataset.action;")
            .await,
        "call-next"
    );
    browser
        .js("document.querySelector('[data-action=start]').focus(); return true;")
        .await;
    press(&browser, ENTER).await;
    browser
        .wait_js(
            "in service",
            "document.getElementById('cur-meta').textContent.includes('Đang phục vụ') && !document.querySelector('[data-action=finish]').disabled",
        )
        .await;
    let focused = browser
        .js("const a = document.activeElement; return a.closest('#actions') ? a.dataset.action : a.tagName;")
        .await;
    assert_eq!(
        focused, "finish",
        "Bắt đầu cannot be used twice: the focus moves on to Hoàn thành"
    );
}

/// A call is announced once: the live regions change for the call, and not again while other
/// tickets arrive and the page redraws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_announced_once() {
    let Some((browser, server)) = console().await else {
        return;
    };
    browser.click("#toggle").await;
    browser
        .wait_js(
            "the counter open",
            "!document.querySelector('[data-action=call-next]').disabled",
        )
        .await;
    browser
        .js("window.liveChanges = [];
             const regions = document.querySelectorAll('[aria-live], [role=status], [role=alert], [role=log]');
             for (const r of regions) new MutationObserver(() => window.liveChanges.push(r.id + ': ' + r.textContent))
               .observe(r, { childList: true, subtree: true, characterData: true });
             return regions.length;")
        .await;
    browser.click("button[data-action=call-next]").await;
    browser
        .wait_js(
            "1001 called",
            "document.getElementById('cur-number').textContent === '1001'",
        )
        .await;
    browser
        .wait_js(
            "the call announced",
            "window.liveChanges.some((c) => c.includes('1001'))",
        )
        .await;
    let after_call = browser
        .js("return window.liveChanges.length;")
        .await
        .as_u64()
        .unwrap();
    let kiosk = server.api_as("kiosk");
    for _ in 0..3 {
        kiosk.issue_ticket("tnmt").await;
    }
    browser
        .wait_js(
            "four waiting",
            "document.getElementById('waiting-here').textContent === '4'",
        )
        .await;
    let changes = browser.js("return window.liveChanges;").await;
    assert_eq!(
        changes.as_array().unwrap().len() as u64,
        after_call,
        "new tickets changed a live region: {changes}"
    );
    assert!(
        browser
            .client()
            .find(Locator::Css(".current[aria-live]"))
            .await
            .is_err(),
        "the ticket card is not read out again on every event"
    );
}

/// The admin tabs are a tab list: one tab in the Tab order, arrows, Home and End move and
/// select, and each tab controls its labelled panel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tabs_follow_the_tab_pattern() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new());
    let base = server.base_url().to_owned();
    let password = server.admin_password().unwrap().to_owned();
    browser.login(&base, "/admin", "admin", &password).await;
    browser
        .wait_js(
            "the dashboard",
            "document.querySelectorAll('#dash-counters tr[data-counter]').length === 9",
        )
        .await;
    let pattern = "(() => {
        const tabs = [...document.querySelectorAll('#tabs [role=tab]')];
        const sel = tabs.filter((t) => t.getAttribute('aria-selected') === 'true');
        if (sel.length !== 1) return 'selected: ' + sel.length;
        for (const t of tabs) {
          const panel = document.getElementById(t.getAttribute('aria-controls'));
          if (!panel || panel.getAttribute('role') !== 'tabpanel') return 'no panel for ' + t.id;
          if (panel.getAttribute('aria-labelledby') !== t.id) return 'panel not labelled by ' + t.id;
          if (panel.hidden !== (t !== sel[0])) return 'panel shown wrong for ' + t.id;
          if (t.tabIndex !== (t === sel[0] ? 0 : -1)) return 'tabindex of ' + t.id;
        }
        return sel[0].dataset.tab + (document.activeElement === sel[0] ? ' focused' : '');
      })()";
    let check = async |expected: &str| {
        let got = browser.js(&format!("return {pattern};")).await;
        assert_eq!(got, expected);
    };
    check("dashboard").await;
    browser
        .js("document.querySelector('#tabs [aria-selected=true]').focus(); return true;")
        .await;
    press(&browser, RIGHT).await;
    check("center focused").await;
    press(&browser, RIGHT).await;
    check("services focused").await;
    press(&browser, LEFT).await;
    check("center focused").await;
    press(&browser, END).await;
    check("webhooks focused").await;
    press(&browser, RIGHT).await;
    check("dashboard focused").await;
    press(&browser, LEFT).await;
    check("webhooks focused").await;
    press(&browser, HOME).await;
    check("dashboard focused").await;
    assert!(
        browser.js("return location.hash;").await == "#dashboard",
        "the URL follows the tab"
    );
}

/// A password reset is typed into a password field in the page's own dialog (no prompt) and
/// works; revoking a device asks in the page's own dialog, and Cancel keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_dialogs_are_in_the_page() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None));
    let base = server.base_url().to_owned();
    let password = server.admin_password().unwrap().to_owned();
    server.create_staff("lan", "mat-khau-quay-1", &[1]).await;
    browser.login(&base, "/admin", "admin", &password).await;
    // Any native dialog would block the page; make one fail the test instead.
    browser
        .js("window.nativeDialogs = 0; for (const f of ['alert', 'prompt', 'confirm']) window[f] = () => { window.nativeDialogs++; return null; }; return true;")
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
            "the reset dialog",
            "document.getElementById('reset-dialog').open && document.activeElement.id === 'reset-password'",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('reset-password').type;")
            .await,
        "password"
    );
    press(&browser, "short").await;
    press(&browser, ENTER).await;
    browser
        .wait_js(
            "too short, said in the dialog",
            "document.getElementById('reset-dialog').open && document.getElementById('reset-error').textContent.length > 0",
        )
        .await;
    browser.fill("#reset-password", "mat-khau-moi-lan").await;
    browser.click("#reset-ok").await;
    browser
        .wait_js(
            "the dialog closed with a note",
            "!document.getElementById('reset-dialog').open && document.getElementById('users-status').textContent.includes('lan')",
        )
        .await;
    server.login("lan", "mat-khau-moi-lan").await;

    browser
        .js("document.getElementById('tokens-table').replaceChildren(); return true;")
        .await;
    browser.click("#tabs [data-tab='devices']").await;
    browser
        .wait_js(
            "the tokens",
            "document.querySelector('#tokens-table tr[data-token] button.danger') !== null",
        )
        .await;
    let rows = "document.querySelectorAll('#tokens-table tr[data-token]').length";
    let before = browser.js(&format!("return {rows};")).await;
    browser
        .click("#tokens-table tr[data-token] button.danger")
        .await;
    browser
        .wait_js("the question", "document.getElementById('ask-dialog').open")
        .await;
    browser.click("#ask-cancel").await;
    browser
        .wait_js("closed", "!document.getElementById('ask-dialog').open")
        .await;
    assert_eq!(browser.js(&format!("return {rows};")).await, before);
    browser
        .click("#tokens-table tr[data-token] button.danger")
        .await;
    browser
        .wait_js("the question", "document.getElementById('ask-dialog').open")
        .await;
    browser.click("#ask-ok").await;
    browser
        .wait_js(
            "one token fewer",
            &format!("{rows} === {} - 1", before.as_u64().unwrap()),
        )
        .await;
    assert_eq!(
        browser.js("return window.nativeDialogs;").await.as_u64(),
        Some(0)
    );
}

/// A question asked about one ticket does nothing to another: when the ticket at the counter
/// changed (called from another session) before the confirm button, nothing is done and the
/// page says so; the second click of a double click never ends the citizen it just called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_about_one_ticket_never_ends_another() {
    let Some((browser, server)) = console().await else {
        return;
    };
    server.api_as("kiosk").issue_ticket("tnmt").await;
    browser.click("#toggle").await;
    browser
        .wait_js(
            "the counter open",
            "!document.querySelector('[data-action=call-next]').disabled",
        )
        .await;
    browser.click("button[data-action=call-next]").await;
    browser
        .wait_js(
            "1001 called",
            "document.getElementById('cur-number').textContent === '1001'",
        )
        .await;
    press_on_page(&browser, "h").await;
    browser
        .wait_js(
            "the question about 1001",
            "document.getElementById('confirm-dialog').open",
        )
        .await;
    // Meanwhile another session at counter 1 finishes 1001 and calls 1002.
    let lan = server.login("lan", "mat-khau-quay-1").await;
    lan.api.counter_action(1, "finish").await.expect_status(200);
    lan.api.call_next(1).await.expect("1002 called");
    assert_eq!(current(&server).await.map(|c| c.0).as_deref(), Some("1002"));
    browser.click("#confirm-ok").await;
    browser
        .wait_js(
            "the page to say the ticket changed",
            "document.getElementById('notice').textContent.includes('đã thay đổi')",
        )
        .await;
    browser.screenshot("counter-ticket-changed.png").await;
    assert_eq!(
        current(&server).await.map(|c| c.0).as_deref(),
        Some("1002"),
        "1002 was ended by a question about 1001"
    );

    // A double click on Gọi tiếp: the first click calls, the second is ignored.
    browser
        .wait_js(
            "1002 on the page",
            "document.getElementById('cur-number').textContent === '1002'",
        )
        .await;
    count_posts(&browser).await;
    browser
        .js(
            "const b = document.querySelector('[data-action=call-next]'); \
             b.dispatchEvent(new MouseEvent('click', {bubbles: true, detail: 2})); return true;",
        )
        .await;
    assert_eq!(
        posts(&browser).await,
        Vec::<String>::new(),
        "the second click sent a request"
    );
    // The same kind of click on an action that ends nothing goes through.
    browser
        .js("const b = document.querySelector('[data-action=recall]'); \
             b.dispatchEvent(new MouseEvent('click', {bubbles: true, detail: 1})); return true;")
        .await;
    assert_eq!(
        posts(&browser).await,
        [format!(
            "/api/v1/counters/1/recall?ticket={}",
            current_id(&server).await
        )]
    );
    assert_eq!(
        current(&server).await.map(|c| c.0).as_deref(),
        Some("1002"),
        "the second click of a double click ended 1002"
    );
}
