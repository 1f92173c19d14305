//! The provincial page (`/province`) in a real headless Chromium, over a real hub with three
//! sites' data: the login, the centers now with the figures the API gives, the report by
//! center, no horizontal scrolling on a phone, no critical or serious axe-core finding. Screenshots land in `target/screenshots/`.
//!
//! Without Chromium, nats-server or PostgreSQL these tests print why and skip, except under CI.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use luot_tests::browser::{Browser, BrowserOptions, axe_source};
use luot_tests::province::{self, Hub, Nats, PROVINCE, Postgres, converge, rename, site, traffic};
use luot_tests::{Api, poll_until};
use serde_json::Value;

/// A viewer logs in, sees each center with today's figures as the API has them and the
/// report by center; a wrong password and a missing session are refused; the page fits a
/// phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_province_at_a_glance() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(axe) = axe_source() else {
        return;
    };
    let Some(browser) = Browser::start_with(BrowserOptions::new().viewport(1366, 900)).await else {
        return;
    };
    let nats = Nats::start();
    let pg = Postgres::start();
    let hub = Hub::start(&nats.url(), &pg.url(), PROVINCE);
    let token = hub.token("viewer");
    let password = hub.user("so-noi-vu", "viewer");
    let s1 = site(&hub, "q1", &nats.url());
    let s2 = site(&hub, "q3", &nats.url());
    let s3 = site(&hub, "nha-be", &nats.url());
    rename(&s1, "Trung tâm Phục vụ hành chính công Quận 1").await;
    rename(&s2, "Bộ phận Một cửa Quận 3").await;
    rename(&s3, "Bộ phận Một cửa Huyện Nhà Bè").await;
    traffic(&s1, 24, 0).await;
    traffic(&s2, 14, 1).await;
    traffic(&s3, 8, 2).await;
    let api = Api::new(&hub.base_url, Some(&token));
    converge(&api, &[("q1", &s1), ("q3", &s2), ("nha-be", &s3)]).await;

    // No session: the API says so and the page sends to the login.
    Api::new(&hub.base_url, None)
        .get("/api/v1/province/state")
        .await
        .expect_status(401);
    browser.goto(&format!("{}/province", hub.base_url)).await;
    browser
        .wait_js("the login page", "location.pathname === '/province/login'")
        .await;
    let mut violations = browser.axe(&axe).await;
    browser.fill("#username", "so-noi-vu").await;
    browser.fill("#password", "not-the-password").await;
    browser.click("button[type=submit]").await;
    browser
        .wait_js(
            "the refusal",
            "document.querySelector('#login-error').textContent.length > 0",
        )
        .await;
    violations.extend(browser.axe(&axe).await);
    browser.fill("#password", &password).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_js("the province page", "location.pathname === '/province'")
        .await;
    browser
        .wait_js(
            "three centers and their report",
            "document.querySelectorAll('#now tbody tr').length === 3 && document.querySelectorAll('#report tbody tr').length === 3",
        )
        .await;

    let state: Value = api
        .get("/api/v1/province/state")
        .await
        .expect_status(200)
        .json();
    for s in state["sites"].as_array().unwrap() {
        let id = s["site"].as_str().unwrap();
        let cell = |field: &str| {
            format!(
                "return document.querySelector('#now tr[data-site=\"{id}\"] [data-field={field}]').textContent"
            )
        };
        assert_eq!(
            browser.js(&cell("issued")).await,
            Value::from(s["today"]["issued"].as_u64().unwrap().to_string()),
            "{id}: tickets today"
        );
        assert_eq!(
            browser.js(&cell("waiting")).await,
            Value::from(s["waiting"].as_u64().unwrap().to_string()),
            "{id}: waiting"
        );
        let name = browser
            .js(&format!(
                "return document.querySelector('#now tr[data-site=\"{id}\"] th').textContent"
            ))
            .await;
        assert!(
            name.as_str().unwrap().contains(s["name"].as_str().unwrap()),
            "{name}"
        );
    }
    let from = browser
        .js("return document.querySelector('#from').value")
        .await;
    let to = browser
        .js("return document.querySelector('#to').value")
        .await;
    let report: Value = api
        .get(&format!(
            "/api/v1/province/reports?from={}&to={}&by=site",
            from.as_str().unwrap(),
            to.as_str().unwrap()
        ))
        .await
        .expect_status(200)
        .json();
    for row in report["rows"].as_array().unwrap() {
        let key = row["key"].as_str().unwrap();
        let shown = browser
            .js(&format!("return document.querySelector('#report tr[data-key=\"{key}\"] [data-field=issued]').textContent"))
            .await;
        assert_eq!(
            shown,
            Value::from(row["issued"].as_u64().unwrap().to_string())
        );
    }
    violations.extend(browser.axe(&axe).await);
    browser.screenshot("province-1366.png").await;

    browser.set_viewport(390, 844).await;
    let overflow = browser
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    let wide = browser
        .js("return [...document.querySelectorAll('body *')].filter((e) => !e.closest('.scroll') && e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map((e) => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page scrolls sideways on a phone by {overflow} px: {wide}"
    );
    browser.screenshot("province-390.png").await;
    violations.extend(browser.axe(&axe).await);
    assert!(
        violations.is_empty(),
        "axe: {}",
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Logging out ends the session.
    browser.click("#logout").await;
    browser
        .wait_js(
            "the login page again",
            "location.pathname === '/province/login'",
        )
        .await;
    let again = poll_until(
        std::time::Duration::from_secs(10),
        "the session to end",
        || async {
            let status = browser
                .js("return fetch('/api/v1/province/state').then((r) => r.status)")
                .await;
            (status == 401).then_some(status)
        },
    )
    .await;
    assert_eq!(again, 401);

    // The site's admin shows how far its shipping is.
    browser.set_viewport(1366, 900).await;
    let password = s1
        .admin_password()
        .expect("first admin password")
        .to_owned();
    browser
        .login(
            s1.base_url().trim_end_matches('/'),
            "/admin",
            "admin",
            &password,
        )
        .await;
    browser.click("#tabbtn-webhooks").await;
    let seq = s1.api_as(luot_tests::ADMIN).seq().await;
    browser
        .wait_js(
            "the shipping status",
            &format!(
                "(document.querySelector('#ship-status').textContent || '').includes('Đã gửi hết') && document.querySelector('#ship-status').textContent.includes('{seq} / {seq}')"
            ),
        )
        .await;
    let found = browser.axe(&axe).await;
    assert!(found.is_empty(), "axe on the shipping status: {found:?}");
    browser.screenshot("province-site-shipping.png").await;
}
