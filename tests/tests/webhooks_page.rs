//! The Webhooks section of `/admin` in a real headless Chromium: an admin adds an endpoint,
//! sees its secret once, sees its delivery state and stops it. Skips without Chromium outside
//! CI (see `browser.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use luot_tests::browser::Browser;
use luot_tests::{ADMIN, ServerOptions, TestServer};
use serde_json::Value;

/// Creating an endpoint with one kind ticked shows a `whsec_` secret once and a row with its
/// state; Disable stops it, as the API then says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_adds_and_stops_a_webhook() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(ServerOptions::new());
    let base = server.base_url().to_owned();
    let password = server.admin_password().unwrap().to_owned();
    browser.login(&base, "/admin", "admin", &password).await;
    browser.click("button[data-tab=webhooks]").await;
    browser
        .fill("#webhook-form input[name=url]", "http://10.0.0.9:9000/luot")
        .await;
    browser
        .click("#webhook-kinds input[value=ticket_called]")
        .await;
    browser.click("#webhook-form button[type=submit]").await;
    browser
        .wait_js(
            "the secret shown",
            "(document.getElementById('new-webhook-secret') || {}).textContent?.startsWith('whsec_')",
        )
        .await;
    browser
        .wait_js(
            "the endpoint listed",
            "document.querySelectorAll('#webhooks-table tr[data-webhook]').length === 1",
        )
        .await;
    let secret = browser.text("#new-webhook-secret").await;
    let api = server.api_as(ADMIN);
    let list: Vec<Value> = api.get("/api/v1/admin/webhooks").await.json();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["events"], serde_json::json!(["ticket_called"]));
    assert_eq!(list[0]["url"], "http://10.0.0.9:9000/luot");
    assert!(!browser.text("#webhooks-table").await.contains(&secret[6..]));
    browser.screenshot("admin-webhooks.png").await;

    browser
        .click("#webhooks-table tr[data-webhook] button:not(.danger)")
        .await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    luot_tests::poll_until(luot_tests::TIMEOUT, "the endpoint stopped", || async {
        let v: Value = api
            .get(&format!("/api/v1/admin/webhooks/{id}"))
            .await
            .json();
        (!v["enabled"].as_bool().unwrap()).then_some(())
    })
    .await;
    browser
        .wait_js(
            "the row says stopped",
            "!document.querySelector('#webhooks-table tr[data-webhook] .badge').classList.contains('open')",
        )
        .await;
}
