//! Attacks on the NATS credentials of `--ship` and the hub's `--nats`: special characters,
//! differing credentials across a cluster's list, and whether a password ever shows in a
//! message, on `--help`, on `/api/v1/admin/ship`, on `/metrics` or in the log; a wrong
//! password shows as a clear error on `/api/v1/admin/ship`.

use std::process::Command;
use std::time::Duration;

use luot_server::ship::{NatsAuth, ShipConfig, redact};
use luot_tests::province::{self, Nats};
use luot_tests::{ADMIN, ServerOptions, TestServer, poll_until, server_binary};
use serde_json::Value;

const KEY: &str = "lk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const SECRET: &str = "s3cretPW";

fn ship(url: &str) -> Result<ShipConfig, String> {
    ShipConfig::new(url, "q1", "hcm", KEY)
}

/// Percent-escaped `@`, `:`, `/`, `%` and `,` in a user and a password are decoded, and raw
/// `@` and `:` in a password are taken as they are.
#[test]
fn special_characters_in_credentials_are_decoded() {
    assert_eq!(
        NatsAuth::of("nats://q%401:p%40ss%3Aw%2Frd%25x%2C@h:4222"),
        Ok(NatsAuth::User("q@1".into(), "p@ss:w/rd%x,".into()))
    );
    assert_eq!(
        NatsAuth::of("nats://q1:p@ss:word@h:4222"),
        Ok(NatsAuth::User("q1".into(), "p@ss:word".into()))
    );
    let config = ship("nats://q1:p%2Fw@h:4222,nats://q1:p%2Fw@h2:4222").expect("valid");
    assert_eq!(
        config.servers(),
        ["nats://h:4222".to_owned(), "nats://h2:4222".to_owned()]
    );
    assert_eq!(config.auth(), NatsAuth::User("q1".into(), "p/w".into()));
}

/// Different credentials across the list, and a broken escape, are refused at start, and
/// the refusal does not show the password.
#[test]
fn differing_or_broken_credentials_are_refused_without_the_password() {
    for url in [
        format!("nats://q1:{SECRET}@h:4222,nats://q1:other@h2:4222"),
        format!("nats://q1:{SECRET}@h:4222,nats://q2:{SECRET}@h2:4222"),
        format!("nats://q1:{SECRET}%zz@h:4222"),
    ] {
        let error = ship(&url).expect_err("refused");
        assert!(!error.contains(SECRET), "{error}");
    }
    assert!(!redact(&format!("nats://q1:{SECRET}@h:4222,tls://{SECRET}@h2:4222")).contains(SECRET));
}

/// A mistyped scheme (`NATS://`, `nats:/`) or a password with a raw comma is refused at
/// start; the message must not show the password.
#[test]
fn a_mistyped_address_is_refused_without_the_password() {
    for url in [
        format!("NATS://q1:{SECRET}@h:4222"),
        format!("nats:/q1:{SECRET}@h:4222"),
        format!("q1:{SECRET}@h:4222"),
        format!("nats://q1:ab,{SECRET}@h:4222"),
    ] {
        let error = ship(&url).expect_err("refused");
        assert!(!error.contains(SECRET), "{url}: {error}");
    }
}

/// `luot-server --help` and `luot-server hub --help` with the addresses in the environment
/// do not print their passwords.
#[test]
fn help_does_not_print_passwords_from_the_environment() {
    for args in [&["--help"][..], &["hub", "--help"][..]] {
        let out = Command::new(server_binary())
            .args(args)
            .env("LUOT_SHIP", format!("nats://q1:{SECRET}@h:4222"))
            .env("LUOT_HUB_NATS", format!("nats://hub:{SECRET}@h:4222"))
            .env(
                "LUOT_HUB_POSTGRES",
                format!("postgres://hub:{SECRET}@h/luot"),
            )
            .output()
            .expect("luot-server runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("LUOT_"), "{args:?}: {text}");
        assert!(!text.contains(SECRET), "{args:?}: {text}");
    }
}

/// A NATS node whose one user has a password full of special characters.
fn node(user: &str, password: &str) -> Nats {
    Nats::with_config(&format!(
        "authorization {{\n  users: [\n    {{ user: {user:?}, password: {password:?} }}\n  ]\n}}\n"
    ))
}

fn site(url: &str) -> TestServer {
    TestServer::start(
        ServerOptions::new()
            .env("LUOT_SITE", "q1")
            .env("LUOT_SHIP", url)
            .env("LUOT_PROVINCE", "hcm")
            .env("LUOT_SHIP_KEY", KEY),
    )
}

async fn ship_page(server: &TestServer) -> Value {
    server
        .api_as(ADMIN)
        .get("/api/v1/admin/ship")
        .await
        .expect_status(200)
        .json()
}

/// A wrong password names the refusal on `/api/v1/admin/ship` within a bound; the right one
/// (escaped special characters) gets past authentication; neither password shows on the page,
/// on `/metrics` or in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_named_and_no_password_shows() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let password = format!("{SECRET}@:/%,");
    let nats = node("q@1", &password);
    let wrong = site(&format!(
        "nats://q%401:{SECRET}wrong@127.0.0.1:{}",
        nats.port
    ));
    let error = poll_until(
        Duration::from_secs(60),
        "the refusal on the page",
        || async {
            let page = ship_page(&wrong).await;
            page["shipping"]["last_error"]
                .as_str()
                .map(str::to_owned)
                .filter(|e| !e.is_empty())
        },
    )
    .await;
    assert!(
        error.to_lowercase().contains("authoriz") || error.to_lowercase().contains("password"),
        "{error}"
    );
    let page = ship_page(&wrong).await.to_string();
    assert!(!page.contains(SECRET), "{page}");
    let metrics = wrong.api_as(ADMIN).get("/metrics").await.expect_status(200);
    assert!(!format!("{metrics:?}").contains(SECRET));
    assert!(!wrong.log().contains(SECRET), "{}", wrong.log());

    let escaped: String = password
        .chars()
        .map(|c| match c {
            '@' => "%40".to_owned(),
            ':' => "%3A".to_owned(),
            '/' => "%2F".to_owned(),
            '%' => "%25".to_owned(),
            ',' => "%2C".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let right = site(&format!("nats://q%401:{escaped}@127.0.0.1:{}", nats.port));
    // Without a hub there is no stream yet: the site connects and waits, never refused.
    poll_until(
        Duration::from_secs(60),
        "the site to connect to NATS",
        || async { right.log().contains("connected successfully").then_some(()) },
    )
    .await;
    let page = ship_page(&right).await;
    let error = page["shipping"]["last_error"].as_str().unwrap_or("");
    assert!(!error.to_lowercase().contains("authoriz"), "{page}");
    let page = ship_page(&right).await.to_string();
    assert!(!page.contains(SECRET), "{page}");
    assert!(!right.log().contains(SECRET), "{}", right.log());
}

/// The hub's `--nats` is checked by `NatsAuth::of` only: an address without a scheme that
/// carries credentials must have them presented or be refused, never connect without them
/// (and hand the password to the NATS client's address, which its debug log prints).
#[test]
fn a_hub_address_without_a_scheme_does_not_lose_its_credentials() {
    let auth = NatsAuth::of(&format!("hub:{SECRET}@h:4222"));
    assert!(
        auth.is_err() || auth == Ok(NatsAuth::User("hub".into(), SECRET.into())),
        "{auth:?}"
    );
}
