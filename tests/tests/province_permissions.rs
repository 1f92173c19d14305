//! The NATS configuration shipped in `packaging/province/nats-server.conf`, run as shipped: a
//! real nats-server reads that very file (its cluster block and store directory left out for a
//! single node, its passwords filled in, a second center's block made from the first's), two
//! centers and the hub ship and repair under those permissions, and a center's user is refused
//! whatever would let it act for, or read, another center. A center whose user lacks a
//! permission says so on its admin page.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use luot_shared::Recorded;
use luot_shared::protocol::Role;
use luot_tests::province::{self, Hub, Nats, Postgres, converge, site_events, traffic};
use luot_tests::{ADMIN, Api, ServerOptions, TestServer, poll_until};
use serde_json::Value;

/// The province the shipped file is written for.
const PROVINCE: &str = "hcm";
/// Its stream.
const STREAM: &str = "LUOT_HCM";
/// Time for shipping, a repair or a refusal to show.
const WAIT: Duration = Duration::from_secs(120);

/// The shipped file.
fn shipped() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/province/nats-server.conf"
    );
    std::fs::read_to_string(path).expect("packaging/province/nats-server.conf")
}

/// The span of the `{ … }` block that starts at the first `{` at or after `from`.
fn block_at(text: &str, from: usize) -> (usize, usize) {
    let open = from + text[from..].find('{').expect("a block");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (open, open + i + 1);
                }
            }
            _ => {}
        }
    }
    panic!("an unclosed block in the shipped file");
}

/// The block of user `name` (from its `{` to its `}`).
fn user_block(text: &str, name: &str) -> (usize, usize) {
    let at = text
        .find(&format!("user: {name}\n"))
        .unwrap_or_else(|| panic!("the shipped file has no user {name}"));
    let open = text[..at].rfind('{').expect("the user's block");
    block_at(text, open)
}

/// The shipped file for one node on the test's port: no cluster, no store directory (the
/// flags give it), each user's password filled in, and center q2's block made from q1's
/// (every `q1` replaced), then changed by `q2_edit`.
fn single_node(q2_edit: impl Fn(String) -> String) -> String {
    let mut text = shipped();
    let at = text
        .find("\ncluster {")
        .expect("the shipped file's cluster block");
    let (_, end) = block_at(&text, at);
    text.replace_range(at..end, "");
    let store = text
        .lines()
        .filter(|l| l.trim_start().starts_with("store_dir:"))
        .map(|l| format!("{l}\n"))
        .collect::<Vec<_>>();
    assert_eq!(store.len(), 1, "one store_dir in the shipped file");
    text = text.replacen(&store[0], "", 1);
    let (start, end) = user_block(&text, "q1");
    let q1 = text[start..end].to_owned();
    assert!(
        q1.contains("\"luot.hcm.q1\""),
        "q1's block publishes its subject: {q1}"
    );
    let q2 = q2_edit(q1.replace("q1", "q2"));
    text.insert_str(end, &format!("\n    {q2}"));
    for user in ["q1", "q2", "hub", "admin"] {
        let (start, end) = user_block(&text, user);
        let block = text[start..end].to_owned();
        assert!(
            block.contains("password: \"CHANGE-ME\""),
            "user {user}'s password placeholder"
        );
        let filled = block.replacen(
            "password: \"CHANGE-ME\"",
            &format!("password: \"{}\"", password(user)),
            1,
        );
        text.replace_range(start..end, &filled);
    }
    text
}

fn password(user: &str) -> String {
    format!("{user}-test-password")
}

fn url(nats: &Nats, user: &str) -> String {
    format!("nats://{user}:{}@127.0.0.1:{}", password(user), nats.port)
}

/// A new site key.
fn new_key() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hex = String::new();
    for i in 0..4u128 {
        hex.push_str(&format!(
            "{:016x}",
            (n.wrapping_mul(2_654_435_761 + i)) as u64
        ));
    }
    format!("lk_{hex}")
}

/// A center of the province shipping as its own NATS user, with a kiosk and rating devices.
fn center(nats: &Nats, id: &str, key: &str) -> TestServer {
    TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("rate-1", Role::Kiosk, Some(1))
            .token("rate-2", Role::Kiosk, Some(2))
            .token("rate-3", Role::Kiosk, Some(3))
            .env("LUOT_SITE", id)
            .env("LUOT_SHIP", &url(nats, id))
            .env("LUOT_PROVINCE", PROVINCE)
            .env("LUOT_SHIP_KEY", key),
    )
}

/// `/api/v1/admin/ship`'s `shipping`.
async fn shipping(server: &TestServer) -> Value {
    let v: Value = server
        .api_as(ADMIN)
        .get("/api/v1/admin/ship")
        .await
        .expect_status(200)
        .json();
    v["shipping"].clone()
}

/// Waits until the center's every event is acknowledged.
async fn caught_up(server: &TestServer) {
    let seq = server.api_as(ADMIN).seq().await;
    poll_until(WAIT, "the center to ship its log", || async {
        let s = shipping(server).await;
        (s["acked_seq"].as_u64() == Some(seq) && s["state"] == "caught_up").then_some(())
    })
    .await;
}

/// The events PostgreSQL holds for one center, in seq order.
async fn hub_events(pg: &Postgres, site: &str) -> Vec<Recorded> {
    pg.client()
        .await
        .query(
            "SELECT body::text FROM hub_events WHERE site = $1 ORDER BY seq",
            &[&site],
        )
        .await
        .expect("hub_events")
        .iter()
        .map(|r| serde_json::from_str(&r.get::<_, String>(0)).expect("an event"))
        .collect()
}

/// Whether the province holds exactly the center's log.
async fn same_log(pg: &Postgres, id: &str, server: &TestServer) -> Result<(), String> {
    let mine = site_events(&server.api_as(ADMIN)).await;
    let theirs = hub_events(pg, id).await;
    let key = |r: &Recorded| (r.seq, r.at, r.event.kind().to_owned());
    let a: Vec<_> = mine.iter().map(key).collect();
    let b: Vec<_> = theirs.iter().map(key).collect();
    if a == b {
        Ok(())
    } else {
        Err(format!(
            "{id}: the center has seqs {:?}, the province {:?}",
            a.iter().map(|k| k.0).collect::<Vec<_>>(),
            b.iter().map(|k| k.0).collect::<Vec<_>>()
        ))
    }
}

/// A NATS connection as one user, keeping the server's errors (permission refusals).
struct Client {
    nats: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Client {
    async fn connect(nats: &Nats, user: &str, inbox: &str) -> Client {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen = errors.clone();
        let client =
            async_nats::ConnectOptions::with_user_and_password(user.to_owned(), password(user))
                .custom_inbox_prefix(inbox)
                .request_timeout(Some(Duration::from_secs(3)))
                .event_callback(move |event| {
                    if let async_nats::Event::ServerError(e) = event {
                        seen.lock().expect("errors").push(e.to_string());
                    }
                    async {}
                })
                .connect(format!("nats://127.0.0.1:{}", nats.port))
                .await
                .expect("a NATS connection");
        Client {
            nats: client,
            errors,
        }
    }

    /// A JetStream API request's JSON answer, or `None` when nothing answered in time.
    async fn api(&self, subject: &str, body: &str) -> Option<Value> {
        let reply = self
            .nats
            .request(subject.to_owned(), body.to_owned().into())
            .await
            .ok()?;
        serde_json::from_slice(&reply.payload).ok()
    }

    /// Waits until the server reported refusing `what` on `subject`.
    async fn refused(&self, what: &str, subject: &str) {
        let want = format!("permissions violation for {what} to \"{subject}\"").to_lowercase();
        poll_until(
            Duration::from_secs(20),
            &format!("the server to refuse {what} to {subject}"),
            || async {
                self.errors
                    .lock()
                    .expect("errors")
                    .iter()
                    .any(|e| e.to_lowercase().contains(&want))
                    .then_some(())
            },
        )
        .await;
    }
}

/// The stream's message count, first and last sequence, and consumer count, as the operator's
/// user reads them.
async fn stream_state(admin: &Client) -> (u64, u64, u64, u64) {
    let info = admin
        .api(&format!("$JS.API.STREAM.INFO.{STREAM}"), "")
        .await
        .expect("stream info");
    let s = &info["state"];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {info}"));
    (
        n("messages"),
        n("first_seq"),
        n("last_seq"),
        n("consumer_count"),
    )
}

/// The stream sequence of the last message on a center's subject (operator's user).
async fn last_of(admin: &Client, site: &str) -> u64 {
    let got = admin
        .api(
            &format!("$JS.API.STREAM.MSG.GET.{STREAM}"),
            &format!("{{\"last_by_subj\":\"luot.{PROVINCE}.{site}\"}}"),
        )
        .await
        .expect("the last message");
    got["message"]["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("a last message of {site}: {got}"))
}

/// Two centers and the hub, each with its own user of the shipped file, on a stream an older
/// version made (the hub turns direct gets on): both centers' logs reach PostgreSQL whole, an event deleted from the middle of the stream is fetched from its
/// center by a repair request, and center q1's user can neither publish on q2's subject, read
/// q2's events, delete or purge, nor make a consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn centers_ship_and_are_repaired_under_the_shipped_permissions_and_reach_nothing_else() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let nats = Nats::with_config(&single_node(|q2| q2));
    let pg = Postgres::start();
    // The stream as an older version made it, without direct gets: the hub turns them on.
    let admin = Client::connect(&nats, "admin", "_INBOX.test-admin").await;
    let mut old = luot_server::ship::stream_config(PROVINCE, 1);
    old.allow_direct = false;
    let made = admin
        .api(
            &format!("$JS.API.STREAM.CREATE.{STREAM}"),
            &serde_json::to_string(&old).expect("json"),
        )
        .await
        .expect("the stream made");
    assert_eq!(made["config"]["allow_direct"], false, "{made}");
    let mut hub = Hub::start(&url(&nats, "hub"), &pg.url(), PROVINCE);
    let q1 = center(&nats, "q1", &hub.enroll("q1"));
    let q2 = center(&nats, "q2", &hub.enroll("q2"));

    // Shipping, end to end.
    traffic(&q1, 6, 0).await;
    traffic(&q2, 6, 1).await;
    caught_up(&q1).await;
    caught_up(&q2).await;
    let viewer = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    converge(&viewer, &[("q1", &q1), ("q2", &q2)]).await;
    same_log(&pg, "q1", &q1).await.expect("q1's log");
    same_log(&pg, "q2", &q2).await.expect("q2's log");
    let info = admin
        .api(&format!("$JS.API.STREAM.INFO.{STREAM}"), "")
        .await
        .expect("stream info");
    assert_eq!(info["config"]["allow_direct"], true, "{info}");

    // A repair: the hub is down while q1 ships three events; the operator then deletes the
    // middle one from the stream, so only q1 itself still has it.
    hub.kill9();
    let q1_admin = q1.api_as(ADMIN);
    for _ in 0..3 {
        q1_admin.issue("tnmt", None).await.expect_status(201);
    }
    caught_up(&q1).await;
    let middle = last_of(&admin, "q1").await - 1;
    let deleted = admin
        .api(
            &format!("$JS.API.STREAM.MSG.DELETE.{STREAM}"),
            &format!("{{\"seq\":{middle}}}"),
        )
        .await
        .expect("an answer to the delete");
    assert_eq!(deleted["success"], true, "{deleted}");
    hub.restart();
    q1_admin.issue("tnmt", None).await.expect_status(201);
    caught_up(&q1).await;
    let viewer = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    converge(&viewer, &[("q1", &q1), ("q2", &q2)]).await;
    same_log(&pg, "q1", &q1)
        .await
        .expect("q1's log, repaired from q1");
    assert!(
        q1.log().contains("the hub asked for events again"),
        "the hub had the deleted event from q1 itself"
    );

    // q1's user against q2 and the stream. Its own calls answer (the client is sound) ...
    let before = stream_state(&admin).await;
    let q2_last = last_of(&admin, "q2").await;
    let spy = Client::connect(&nats, "q1", "_INBOX.luot.hcm.q1").await;
    let own = spy
        .nats
        .request(
            format!("$JS.API.DIRECT.GET.{STREAM}.luot.{PROVINCE}.q1"),
            "".into(),
        )
        .await
        .expect("q1 reads its own last event");
    assert_eq!(
        own.headers
            .as_ref()
            .and_then(|h| h.get("Nats-Subject"))
            .map(|v| v.as_str().to_owned()),
        Some("luot.hcm.q1".to_owned())
    );

    // ... and nothing else does. Publishing as q2 (with a fitting id and fence):
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(3))
        .build(spy.nats.clone());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "q2:999999");
    let published = js
        .publish_with_headers("luot.hcm.q2", headers, "{}".into())
        .await;
    let acked = match published {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    assert!(!acked, "the stream stored q1's message on q2's subject");
    spy.refused("publish", "luot.hcm.q2").await;

    // Reading q2's events: subscribing to its subject, to every subject, to every inbox or the
    // hub's (where the hub's consumer delivers), or asking the stream for q2's messages.
    let mut subscriptions = Vec::new();
    for subject in [
        "luot.hcm.q2",
        "luot.hcm.*",
        "luot.>",
        "_INBOX.>",
        "_INBOX.luot-hub.hcm.>",
        "_INBOX.luot.hcm.q2.>",
        "luot.hcm.q2.repair",
        "$JS.ACK.>",
    ] {
        subscriptions.push(spy.nats.subscribe(subject).await.expect("subscribe"));
        spy.refused("subscription", subject).await;
    }
    let refused_calls = [
        // q2's last event, by the leader's API and by direct get
        (
            format!("$JS.API.STREAM.MSG.GET.{STREAM}"),
            "{\"last_by_subj\":\"luot.hcm.q2\"}".to_owned(),
        ),
        (
            format!("$JS.API.STREAM.MSG.GET.{STREAM}"),
            format!("{{\"seq\":{q2_last}}}"),
        ),
        (
            format!("$JS.API.DIRECT.GET.{STREAM}.luot.hcm.q2"),
            String::new(),
        ),
        (
            format!("$JS.API.DIRECT.GET.{STREAM}"),
            format!("{{\"seq\":{q2_last}}}"),
        ),
        // a consumer to read the stream with
        (
            format!("$JS.API.CONSUMER.CREATE.{STREAM}"),
            format!("{{\"stream_name\":\"{STREAM}\",\"config\":{{\"ack_policy\":\"none\"}}}}"),
        ),
        (
            format!("$JS.API.CONSUMER.CREATE.{STREAM}.spy.luot.hcm.q2"),
            format!(
                "{{\"stream_name\":\"{STREAM}\",\"config\":{{\"name\":\"spy\",\"filter_subject\":\"luot.hcm.q2\",\"ack_policy\":\"none\"}}}}"
            ),
        ),
        (
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.spy"),
            format!(
                "{{\"stream_name\":\"{STREAM}\",\"config\":{{\"durable_name\":\"spy\",\"ack_policy\":\"none\"}}}}"
            ),
        ),
        // taking the hub's consumer's messages
        (
            format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.luot-hub"),
            "{\"batch\":10}".to_owned(),
        ),
        // deleting, purging, changing the stream
        (
            format!("$JS.API.STREAM.MSG.DELETE.{STREAM}"),
            format!("{{\"seq\":{q2_last}}}"),
        ),
        (
            format!("$JS.API.STREAM.PURGE.{STREAM}"),
            "{\"filter\":\"luot.hcm.q2\"}".to_owned(),
        ),
        (format!("$JS.API.STREAM.PURGE.{STREAM}"), String::new()),
        (format!("$JS.API.STREAM.DELETE.{STREAM}"), String::new()),
        (
            format!("$JS.API.STREAM.UPDATE.{STREAM}"),
            format!("{{\"name\":\"{STREAM}\",\"subjects\":[\"luot.hcm.*\"],\"max_msgs\":1}}"),
        ),
        (
            format!("$JS.API.CONSUMER.DELETE.{STREAM}.luot-hub"),
            String::new(),
        ),
        // asking q2 for its events as the hub does
        ("luot.hcm.q2.repair".to_owned(), "{\"from\":1}".to_owned()),
    ];
    let answers = futures_util::future::join_all(
        refused_calls
            .iter()
            .map(|(subject, body)| spy.api(subject, body)),
    )
    .await;
    for ((subject, _), answer) in refused_calls.iter().zip(&answers) {
        assert!(
            answer.is_none(),
            "{subject} answered q1's user: {}",
            answer.as_ref().map(Value::to_string).unwrap_or_default()
        );
        spy.refused("publish", subject).await;
    }
    for mut subscription in subscriptions {
        use futures_util::StreamExt as _;
        let got = tokio::time::timeout(Duration::from_millis(200), subscription.next()).await;
        assert!(
            !matches!(got, Ok(Some(_))),
            "a refused subscription delivered {:?}",
            got.ok().flatten().map(|m| m.subject)
        );
    }
    assert_eq!(
        stream_state(&admin).await,
        before,
        "the stream (messages, first and last seq, consumers) changed under q1's user"
    );
    assert_eq!(last_of(&admin, "q2").await, q2_last, "q2's last message");

    // Shipping goes on for both.
    q2.api_as(ADMIN)
        .issue("tnmt", None)
        .await
        .expect_status(201);
    caught_up(&q2).await;
    converge(&viewer, &[("q1", &q1), ("q2", &q2)]).await;
    same_log(&pg, "q2", &q2).await.expect("q2's log");
}

/// A center whose NATS user lacks a permission shows the server's refusal on its admin page
/// (`/api/v1/admin/ship`) instead of stalling silently: a center started before the hub made
/// the stream says the hub makes it, then ships once it has; a center whose user may not
/// publish on its own subject names that subject and keeps retrying at a bounded pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_center_refused_by_nats_says_so() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    // q2's user as shipped, less the publish permission of its own subject.
    let nats = Nats::with_config(&single_node(|q2| {
        let line = q2
            .lines()
            .find(|l| l.trim() == "\"luot.hcm.q2\"")
            .expect("q2's subject among its permissions")
            .to_owned();
        q2.replacen(&format!("{line}\n"), "", 1)
    }));
    let pg = Postgres::start();
    let key = new_key();
    let q1 = center(&nats, "q1", &key);
    let s = poll_until(
        WAIT,
        "q1 to tell that it may not make the stream",
        || async {
            let s = shipping(&q1).await;
            s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("STREAM.CREATE") && e.contains("start it first"))
                .then_some(s)
        },
    )
    .await;
    assert_ne!(s["state"], "caught_up", "{s}");
    assert_eq!(s["acked_seq"], 0, "{s}");

    // Enrolled before the hub starts, so that nothing q1 ships waits for its key.
    let enrolled = std::process::Command::new(luot_tests::server_binary())
        .args([
            "hub",
            "--postgres",
            &pg.url(),
            "site",
            "add",
            "q1",
            "--key",
            &key,
        ])
        .output()
        .expect("luot-server hub site add");
    assert!(enrolled.status.success(), "{enrolled:?}");
    let hub = Hub::start(&url(&nats, "hub"), &pg.url(), PROVINCE);
    caught_up(&q1).await;
    let viewer = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    converge(&viewer, &[("q1", &q1)]).await;

    let q2 = center(&nats, "q2", &hub.enroll("q2"));
    q2.api_as(ADMIN)
        .issue("tnmt", None)
        .await
        .expect_status(201);
    let started = std::time::Instant::now();
    let s = poll_until(WAIT, "q2 to tell why nothing is acknowledged", || async {
        let s = shipping(&q2).await;
        (s["state"] == "retrying"
            && s["last_error"].as_str().is_some_and(|e| {
                e.contains("not acknowledged")
                    && e.contains("Permissions Violation for Publish to \"luot.hcm.q2\"")
            }))
        .then_some(s)
    })
    .await;
    assert_eq!(s["acked_seq"], 0, "{s}");
    assert!(s["backlog"].as_u64() > Some(0), "{s}");
    assert!(
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("packaging/province/nats-server.conf")),
        "{s}"
    );
    // Retrying, not spinning: each attempt waits for its acknowledgement, then backs off.
    let attempts = q2
        .log()
        .matches("shipping to the province interrupted")
        .count();
    let bound = started.elapsed().as_secs() / 5 + 2;
    assert!(
        attempts as u64 <= bound,
        "{attempts} attempts in {:?}",
        started.elapsed()
    );
}

/// A hub whose user may not acknowledge still projects, and the province's state names the
/// refusal (`projection.last_error`) instead of the stream redelivering in silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hub_refused_by_nats_says_so() {
    if let Err(why) = province::available() {
        eprintln!("skipped: {why}");
        return;
    }
    let ack = "            \"$JS.ACK.LUOT_HCM.luot-hub.>\"\n";
    let config = single_node(|q2| q2);
    assert!(config.contains(ack), "the hub acknowledges: {config}");
    let nats = Nats::with_config(&config.replacen(ack, "", 1));
    let pg = Postgres::start();
    let hub = Hub::start(&url(&nats, "hub"), &pg.url(), PROVINCE);
    let q1 = center(&nats, "q1", &hub.enroll("q1"));
    q1.api_as(ADMIN)
        .issue("tnmt", None)
        .await
        .expect_status(201);
    caught_up(&q1).await;
    let viewer = Api::new(&hub.base_url, Some(&hub.token("viewer")));
    converge(&viewer, &[("q1", &q1)]).await;
    let projection = poll_until(
        WAIT,
        "the hub to tell that its acks are refused",
        || async {
            let state: Value = viewer.get("/api/v1/province/state").await.json();
            let p = state["projection"].clone();
            p["last_error"]
                .as_str()
                .is_some_and(|e| {
                    e.contains("Permissions Violation for Publish to \"$JS.ACK.LUOT_HCM.luot-hub.")
                        && e.contains("packaging/province/nats-server.conf")
                })
                .then_some(p)
        },
    )
    .await;
    assert_eq!(projection["connected"], true, "{projection}");
    same_log(&pg, "q1", &q1).await.expect("q1's log");
}
