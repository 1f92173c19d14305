//! Attacks by a center's NATS user of the shipped packaging/province/nats-server.conf on the
//! subjects it is allowed: a direct get of its own subject with a body asking for another
//! center's message, roll-up headers that would purge the stream through its own subject,
//! and what stream information tells it about the other centers.

use std::time::Duration;

use luot_tests::province::{self, Nats};
use serde_json::Value;

const STREAM: &str = "LUOT_HCM";
const PASSWORD: &str = "test-password";

/// The shipped file for one node: no cluster, the store from the flags, every password set.
fn config() -> String {
    let mut text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packaging/province/nats-server.conf"),
    )
    .expect("the shipped nats-server.conf");
    let at = text.find("\ncluster {").expect("the cluster block");
    let end = at + text[at..].find("\n}\n").expect("its end") + 3;
    text.replace_range(at..end, "\n");
    text = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("store_dir:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(text.matches("\"CHANGE-ME\"").count(), 3, "three users");
    text.replace("\"CHANGE-ME\"", &format!("\"{PASSWORD}\""))
}

async fn connect(nats: &Nats, user: &str, inbox: &str) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password(user.to_owned(), PASSWORD.to_owned())
        .custom_inbox_prefix(inbox)
        .request_timeout(Some(Duration::from_secs(3)))
        .connect(format!("nats://127.0.0.1:{}", nats.port))
        .await
        .expect("a NATS connection")
}

/// The stream's message count, as the operator sees it.
async fn messages(admin: &async_nats::Client) -> u64 {
    let info = admin
        .request(format!("$JS.API.STREAM.INFO.{STREAM}"), "".into())
        .await
        .expect("stream info");
    let v: Value = serde_json::from_slice(&info.payload).expect("JSON");
    v["state"]["messages"].as_u64().expect("messages")
}

/// Under the shipped permissions center q1's user, on the direct-get subject of its own
/// subject, gets nothing of q2's however the request's body asks; publishing on its own
/// subject with `Nats-Rollup` (which would purge the stream or its subject) is refused and
/// the stream keeps every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_center_cannot_read_or_purge_through_its_own_subjects() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let nats = Nats::with_config(&config());
    let admin = connect(&nats, "admin", "_INBOX.test-admin").await;
    let js = async_nats::jetstream::new(admin.clone());
    js.create_stream(luot_server::ship::stream_config("hcm", 1))
        .await
        .expect("the stream");
    let q2 = js
        .publish("luot.hcm.q2", "q2's secret event".into())
        .await
        .expect("published")
        .await
        .expect("stored")
        .sequence;
    js.publish("luot.hcm.q1", "q1's own event".into())
        .await
        .expect("published")
        .await
        .expect("stored");
    assert_eq!(messages(&admin).await, 2);

    let spy = connect(&nats, "q1", "_INBOX.luot.hcm.q1").await;
    let own = format!("$JS.API.DIRECT.GET.{STREAM}.luot.hcm.q1");
    for body in [
        format!("{{\"seq\":{q2}}}"),
        "{\"last_by_subj\":\"luot.hcm.q2\"}".to_owned(),
        "{\"next_by_subj\":\"luot.hcm.q2\",\"seq\":1}".to_owned(),
        "{\"next_by_subj\":\"luot.hcm.*\",\"seq\":1}".to_owned(),
        "{\"multi_last\":[\"luot.hcm.q2\"]}".to_owned(),
    ] {
        let got = spy.request(own.clone(), body.clone().into()).await;
        if let Ok(reply) = got {
            let text = String::from_utf8_lossy(&reply.payload).to_string();
            let subject = reply
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Subject"))
                .map(|v| v.as_str().to_owned());
            assert!(
                !text.contains("q2's secret") && subject.as_deref() != Some("luot.hcm.q2"),
                "{body}: {subject:?} {text}"
            );
        }
    }

    let q1js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(3))
        .build(spy.clone());
    for rollup in ["all", "sub"] {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Rollup", rollup);
        let stored = match q1js
            .publish_with_headers("luot.hcm.q1", headers, "rollup".into())
            .await
        {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        assert!(!stored, "a roll-up {rollup} was stored");
    }
    assert_eq!(messages(&admin).await, 2, "the stream kept every message");
}

/// The stream information a center may read (it needs the configuration) lists the other
/// centers' subjects and how many events each shipped when asked with a subject filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit of one shared account, stated in packaging/province/nats-server.conf: STREAM.INFO with a subject filter lists the other centers' subjects and counts"]
async fn a_center_does_not_learn_the_other_centers_from_stream_information() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let nats = Nats::with_config(&config());
    let admin = connect(&nats, "admin", "_INBOX.test-admin").await;
    let js = async_nats::jetstream::new(admin.clone());
    js.create_stream(luot_server::ship::stream_config("hcm", 1))
        .await
        .expect("the stream");
    js.publish("luot.hcm.q2", "x".into())
        .await
        .expect("published")
        .await
        .expect("stored");
    let spy = connect(&nats, "q1", "_INBOX.luot.hcm.q1").await;
    let info = spy
        .request(
            format!("$JS.API.STREAM.INFO.{STREAM}"),
            "{\"subjects_filter\":\"luot.hcm.*\"}".into(),
        )
        .await
        .expect("stream info answers q1");
    let text = String::from_utf8_lossy(&info.payload).to_string();
    assert!(!text.contains("luot.hcm.q2"), "{text}");
}

/// A center's user may publish anything on its own subject, as much as it likes: the stream
/// has no bound of its own, so one center filling the node's store must not stop the other
/// centers from shipping (here on a node given 2 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit of one shared account, stated in packaging/province/nats-server.conf: a center's user can fill the store; isolation needs an account per center"]
async fn one_center_filling_the_store_does_not_stop_the_others() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let text = config();
    assert!(
        text.contains("max_file_store: 50G"),
        "the shipped store bound"
    );
    let nats = Nats::with_config(&text.replace("max_file_store: 50G", "max_file_store: 2MB"));
    let admin = connect(&nats, "admin", "_INBOX.test-admin").await;
    let js = async_nats::jetstream::new(admin.clone());
    js.create_stream(luot_server::ship::stream_config("hcm", 1))
        .await
        .expect("the stream");
    let spy = connect(&nats, "q1", "_INBOX.luot.hcm.q1").await;
    let q1js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(3))
        .build(spy);
    let junk: Vec<u8> = vec![b'x'; 200_000];
    let mut stored = 0;
    for _ in 0..40 {
        let ok = match q1js.publish("luot.hcm.q1", junk.clone().into()).await {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        if !ok {
            break;
        }
        stored += 1;
    }
    assert!(stored > 0, "q1 published nothing");
    let other = js
        .publish("luot.hcm.q2", "q2's next event".into())
        .await
        .expect("published")
        .await;
    assert!(
        other.is_ok(),
        "after q1 stored {stored} × 200 kB: {other:?}"
    );
}
