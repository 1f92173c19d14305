//! The projector: a durable JetStream consumer over the province's stream, writing each
//! site's events into PostgreSQL in one transaction per batch together with the site's
//! cursor.
//!
//! Exactly-once effect: a site's cursor (`hub_sites.last_seq`) is read `FOR UPDATE` and moved
//! in the same transaction as the rows its events make, so an event is applied when its seq
//! is the cursor's next, dropped when at or below it (a redelivery, a repeat after a lost
//! acknowledgement, a site shipping again after its stream lost messages), and held back
//! (negatively acknowledged, redelivered later) when beyond it — the database never has a
//! gap. Messages are acknowledged only after the commit; a hub killed between the two gets
//! them again and drops them by the cursor.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt as _;
use luot_shared::{Event, Recorded, Ticket, TicketId, lifecycle};
use tokio::sync::watch;
use tokio_postgres::Client;

use super::sites::{Site, Sites, load};
use super::{HubConfig, Progress};
use crate::ship::{parse_message_id, stream_config, stream_name};

/// Messages taken at a time.
const BATCH: usize = 1000;
/// How long a batch waits for messages to arrive before it is written with what it has.
const BATCH_WAIT: Duration = Duration::from_millis(200);
/// Delivered messages not yet acknowledged, at most.
const MAX_ACK_PENDING: i64 = 20_000;
/// Time the stream waits for an acknowledgement before delivering again.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Events between two stored snapshots of a site.
const SNAPSHOT_EVERY: u64 = 2000;
/// Sites one hub folds at most (a province has dozens of centers).
const MAX_SITES: usize = 1000;
/// How long held-back messages wait before they are delivered again.
const HELD_BACK_DELAY: Duration = Duration::from_secs(2);
/// How long a gap may wait for redelivery to close it before it is filled from the stream.
const GAP_PATIENCE: Duration = Duration::from_secs(3);
/// A gap filler gives up (and tries again later) when the stream sends nothing for this long.
const GAP_READ_WAIT: Duration = Duration::from_secs(30);
/// Repair requests to one site per gap at most (each brings up to 512 KiB of events).
const MAX_REPAIR_REQUESTS: usize = 1000;
/// Time for a site to answer a repair request.
const REPAIR_WAIT: Duration = Duration::from_secs(10);
/// The durable consumer's name.
pub(super) const CONSUMER: &str = "luot-hub";
/// Longest wait between two attempts while NATS or PostgreSQL cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One message as read.
struct Incoming {
    site: String,
    rec: Recorded,
    body: String,
    /// Its sequence in the stream (`None` when the site sent it again itself).
    stream_seq: Option<u64>,
    /// The message to acknowledge (`None` when read by a gap filler, which acknowledges
    /// nothing).
    message: Option<jetstream::Message>,
}

/// Runs until `shutdown` turns `true`, reconnecting after failures.
pub(super) async fn run(
    config: Arc<HubConfig>,
    sites: Arc<Sites>,
    progress: Arc<Progress>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let result = tokio::select! {
            r = round(&config, &sites, &progress, &mut backoff) => r,
            _ = shutdown.changed() => return,
        };
        if let Err(e) = result {
            tracing::warn!(error = %format!("{e:#}"), retry_in_s = backoff.as_secs(), "projection interrupted");
            progress.failed(format!("{e:#}"));
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects to both sides, then projects batch after batch until something fails.
async fn round(
    config: &HubConfig,
    sites: &Sites,
    progress: &Arc<Progress>,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let mut client = super::db::connect(&config.postgres).await?;
    super::sites::load_all(&client, sites).await?;
    let refusals = crate::ship::Refusals::default();
    let noted = refusals.clone();
    let shown = Arc::downgrade(progress);
    let nats = crate::ship::NatsAuth::of(&config.nats)
        .map_err(|e| anyhow::anyhow!(e))?
        .options()
        .connection_timeout(Duration::from_secs(5))
        .name("luot-hub")
        .custom_inbox_prefix(crate::ship::hub_inbox_prefix(&config.province))
        .event_callback(move |event| {
            // Shown at once: a refused acknowledgement, say, leaves projecting itself working.
            if let async_nats::Event::ServerError(error) = &event
                && let Some(refused) = noted.note(error)
            {
                let why = crate::ship::refusal_message("the hub", &refused);
                tracing::error!(error = %why, "projection");
                if let Some(progress) = shown.upgrade() {
                    progress.refused(why);
                }
            }
            async {}
        })
        .connect(crate::ship::server_addresses(&config.nats))
        .await?;
    let nats_client = nats.clone();
    let js = jetstream::new(nats);
    let result = consume(
        config,
        sites,
        progress,
        backoff,
        &mut client,
        &nats_client,
        &js,
    )
    .await;
    // A request the server refused times out; the refusal says why.
    match (result, refusals.take()) {
        (Err(e), Some(refused)) => {
            Err(e.context(crate::ship::refusal_message("the hub", &refused)))
        }
        (result, _) => result,
    }
}

/// Opens the stream and the durable consumer, then projects batch after batch until something
/// fails.
async fn consume(
    config: &HubConfig,
    sites: &Sites,
    progress: &Progress,
    backoff: &mut Duration,
    client: &mut Client,
    nats_client: &async_nats::Client,
    js: &jetstream::Context,
) -> anyhow::Result<()> {
    let mut stream = match js.get_stream(stream_name(&config.province)).await {
        Ok(stream) => stream,
        Err(_) => {
            js.get_or_create_stream(stream_config(&config.province, config.replicas))
                .await?
        }
    };
    if !stream.cached_info().config.allow_direct {
        // A stream made by an older version: the sites read their last event by direct get.
        let mut wanted = stream.cached_info().config.clone();
        wanted.allow_direct = true;
        js.update_stream(&wanted).await?;
        stream = js.get_stream(stream_name(&config.province)).await?;
        tracing::info!("direct gets turned on in the province's stream");
    }
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.into()),
                description: Some("the province's PostgreSQL projection".into()),
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: MAX_ACK_PENDING,
                num_replicas: config.replicas,
                ..Default::default()
            },
        )
        .await?;
    progress.connected();
    let mut gaps: BTreeMap<String, (u64, Instant)> = BTreeMap::new();
    loop {
        let mut batch = consumer
            .batch()
            .max_messages(BATCH)
            .expires(BATCH_WAIT)
            .messages()
            .await?;
        let mut messages = Vec::new();
        while let Some(message) = batch.next().await {
            match message {
                Ok(message) => messages.push(message),
                Err(e) => {
                    tracing::debug!(error = %e, "batch ended");
                    break;
                }
            }
        }
        if !messages.is_empty() {
            // Read each time: a site enrolled or removed counts from its next batch.
            let keys = site_keys(client).await?;
            let (events, rejected) = read_all(messages, &keys);
            for (site, from) in project(client, sites, progress, events, rejected).await? {
                gaps.entry(site).or_insert((from, Instant::now()));
            }
            *backoff = Duration::from_secs(1);
        }
        // A gap that redelivery does not close within a moment is filled from the stream.
        let due: Vec<String> = gaps
            .iter()
            .filter(|(_, (_, since))| since.elapsed() >= GAP_PATIENCE)
            .map(|(site, _)| site.clone())
            .collect();
        for site in due {
            gaps.remove(&site);
            fill_gap(
                nats_client,
                &stream,
                client,
                sites,
                progress,
                &config.province,
                &site,
            )
            .await?;
        }
    }
}

/// Reads a site's events from the stream, from after the last one projected, through the
/// last message the stream holds on its subject, and projects them: for a gap that
/// redelivery cannot close (the consumer is ahead of the database — a new or restored
/// database, or messages acknowledged before a commit that was lost). A stream slow to answer
/// is an error (tried again later), never taken for a missing event; only a gap still open
/// once the stream's last message was read marks the site stuck.
async fn fill_gap(
    nats: &async_nats::Client,
    stream: &jetstream::stream::Stream,
    client: &mut Client,
    sites: &Sites,
    progress: &Progress,
    province: &str,
    site: &str,
) -> anyhow::Result<()> {
    let subject = crate::ship::site_subject(province, site);
    let last = match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(message) => message.sequence,
        Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => 0,
        Err(e) => return Err(e.into()),
    };
    let after: i64 = client
        .query_opt("SELECT stream_seq FROM hub_sites WHERE site = $1", &[&site])
        .await?
        .map_or(0, |r| r.get(0));
    let mut filled = 0usize;
    if last > after as u64 {
        let deliver_policy = if after > 0 {
            jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: after as u64 + 1,
            }
        } else {
            jetstream::consumer::DeliverPolicy::All
        };
        tracing::info!(
            site,
            after_stream_seq = after,
            through = last,
            "filling a gap from the stream"
        );
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject,
                deliver_policy,
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        let mut read_through = after as u64;
        while read_through < last {
            let mut batch = Vec::new();
            while batch.len() < BATCH && read_through < last {
                let message = match tokio::time::timeout(GAP_READ_WAIT, messages.next()).await {
                    Ok(Some(Ok(message))) => message,
                    Ok(Some(Err(e))) => return Err(e.into()),
                    Ok(None) => anyhow::bail!("the stream ended while filling a gap of {site}"),
                    Err(_) => anyhow::bail!(
                        "the stream sent nothing for {} s while filling a gap of {site}",
                        GAP_READ_WAIT.as_secs()
                    ),
                };
                read_through = message.info().map_or(last, |i| i.stream_sequence);
                batch.push(message);
            }
            let keys = site_keys(client).await?;
            let (mut events, _) = read_all(batch, &keys);
            events.retain(|e| e.site == site);
            for e in &mut events {
                // The ordered consumer acknowledges nothing.
                e.message = None;
            }
            filled += events.len();
            project(client, sites, progress, events, Vec::new()).await?;
            if sites.get(site).is_some_and(|s| s.gap_from.is_none()) {
                break;
            }
        }
    }
    // What the stream no longer holds, the site may still have: ask it.
    let mut asked = 0;
    while let Some(from) = sites.get(site).and_then(|s| s.gap_from) {
        if asked >= MAX_REPAIR_REQUESTS {
            break;
        }
        asked += 1;
        let request = serde_json::to_vec(&crate::ship::RepairRequest { from }).unwrap_or_default();
        let subject = crate::ship::repair_subject(&crate::ship::site_subject(province, site));
        let answer =
            match tokio::time::timeout(REPAIR_WAIT, nats.request(subject, request.into())).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => {
                    tracing::warn!(site, error = %e, "the site did not answer a repair request");
                    break;
                }
                Err(_) => {
                    tracing::warn!(site, "the site did not answer a repair request in time");
                    break;
                }
            };
        let keys = site_keys(client).await?;
        let Some(key) = keys.get(site) else { break };
        let mut events = Vec::new();
        for line in answer
            .payload
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
        {
            let Ok(line) = std::str::from_utf8(line) else {
                break;
            };
            let Some((signature, body)) = line.split_once(' ') else {
                break;
            };
            let Ok(rec) = serde_json::from_str::<Recorded>(body) else {
                break;
            };
            let id = crate::ship::message_id(site, rec.seq);
            if !crate::ship::verify(key, &id, body.as_bytes(), signature) {
                tracing::error!(
                    site,
                    seq = rec.seq,
                    "a repair answer not signed with the site's key; ignored"
                );
                break;
            }
            events.push(Incoming {
                site: site.to_owned(),
                rec,
                body: body.to_owned(),
                stream_seq: None,
                message: None,
            });
        }
        if events.is_empty() {
            break;
        }
        filled += events.len();
        project(client, sites, progress, events, Vec::new()).await?;
    }
    let Some(state) = sites.get(site) else {
        return Ok(());
    };
    match state.gap_from {
        Some(from) => {
            tracing::error!(
                site,
                missing_from = from,
                read = filled,
                "neither the stream nor the site has a site's missing events"
            );
            let mut state = (*state).clone();
            state.stuck = true;
            sites.put(site.to_owned(), state);
        }
        None => tracing::info!(site, read = filled, "gap filled from the stream"),
    }
    Ok(())
}

/// Reads a message: its site from the subject, its seq from the message id, the event from
/// the payload; all three must agree.
fn read(
    message: jetstream::Message,
    keys: &Keys,
) -> Result<Incoming, Box<(jetstream::Message, String)>> {
    let site = match message.subject.as_str().rsplit_once('.') {
        Some((_, site)) if crate::ship::check_id("site", site).is_ok() => site.to_owned(),
        _ => {
            return Err(Box::new((
                message,
                "subject without a valid site id".into(),
            )));
        }
    };
    let id = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    let seq = match parse_message_id(&id) {
        Some((s, seq)) if s == site => seq,
        _ => {
            return Err(Box::new((
                message,
                format!("message id {id:?} is not an event of {site}"),
            )));
        }
    };
    let Some(key) = keys.get(&site) else {
        return Err(Box::new((
            message,
            format!("site {site:?} is not enrolled (luot-server hub site add {site})"),
        )));
    };
    let signature = message
        .headers
        .as_ref()
        .and_then(|h| h.get(crate::ship::SIGNATURE_HEADER))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    if !crate::ship::verify(key, &id, &message.payload, &signature) {
        return Err(Box::new((
            message,
            format!("event {id} is not signed with the key of {site}"),
        )));
    }
    let body = match std::str::from_utf8(&message.payload) {
        Ok(text) => text.to_owned(),
        Err(_) => return Err(Box::new((message, "payload is not UTF-8".into()))),
    };
    let rec: Recorded = match serde_json::from_str(&body) {
        Ok(rec) => rec,
        Err(e) => return Err(Box::new((message, format!("payload is not an event: {e}")))),
    };
    if rec.seq != seq {
        return Err(Box::new((
            message,
            format!("payload seq {} under message id {id}", rec.seq),
        )));
    }
    let stream_seq = message.info().ok().map(|i| i.stream_sequence);
    Ok(Incoming {
        site,
        rec,
        body,
        stream_seq,
        message: Some(message),
    })
}

/// A ticket's row in `hub_tickets`.
struct TicketRow {
    day: String,
    id: i64,
    number: String,
    service: String,
    priority: bool,
    state: String,
    issued_at: String,
    counter: Option<i32>,
    staff: Option<String>,
    wait_s: Option<i64>,
    service_s: Option<i64>,
    rating: Option<i16>,
}

fn ticket_row(t: &Ticket) -> TicketRow {
    let f = lifecycle::figures(t);
    TicketRow {
        day: t.day.to_string(),
        id: t.id as i64,
        number: t.number.clone(),
        service: t.service.clone(),
        priority: t.priority.is_some(),
        state: serde_json::to_value(t.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        issued_at: t.issued_at.to_string(),
        counter: t.counter.map(|c| c as i32),
        staff: t.staff.clone(),
        wait_s: f.first_wait_s().map(|s| s as i64),
        service_s: f.service_s.map(|s| s as i64),
        rating: t.rating.map(i16::from),
    }
}

/// What one site's part of a batch makes.
#[derive(Default)]
struct SiteWrite {
    seqs: Vec<i64>,
    ats: Vec<String>,
    kinds: Vec<String>,
    bodies: Vec<String>,
    days: Vec<(String, i64)>,
    tickets: HashMap<TicketId, TicketRow>,
}

/// Reads a batch of delivered messages: the events, and what is not an event of a site.
fn read_all(
    messages: Vec<jetstream::Message>,
    keys: &Keys,
) -> (Vec<Incoming>, Vec<jetstream::Message>) {
    let mut events = Vec::new();
    let mut rejected = Vec::new();
    for message in messages {
        match read(message, keys) {
            Ok(incoming) => events.push(incoming),
            Err(rejected_message) => {
                let (message, why) = *rejected_message;
                tracing::error!(subject = %message.subject, error = %why, "message dropped: not an event of a site");
                rejected.push(message);
            }
        }
    }
    (events, rejected)
}

/// Each enrolled site's key.
type Keys = HashMap<String, String>;

/// The enrolled sites' keys, as the database has them now.
async fn site_keys(client: &Client) -> anyhow::Result<Keys> {
    Ok(client
        .query("SELECT site, key FROM hub_site_keys", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// What a batch left for later: per site, the first seq still missing.
type Gaps = Vec<(String, u64)>;

/// Writes one batch in one transaction, then acknowledges what it covered; returns the sites
/// left with a gap.
async fn project(
    client: &mut Client,
    sites: &Sites,
    progress: &Progress,
    events: Vec<Incoming>,
    rejected: Vec<jetstream::Message>,
) -> anyhow::Result<Gaps> {
    let mut by_site: BTreeMap<String, Vec<Incoming>> = BTreeMap::new();
    for incoming in events {
        by_site
            .entry(incoming.site.clone())
            .or_default()
            .push(incoming);
    }
    let mut gaps = Gaps::new();
    let mut applied = 0usize;
    // A bound on the sites a hub folds: a publisher inventing sites cannot grow it forever.
    let known = sites.all().len();
    let mut new_sites = 0;
    let mut refused: Vec<jetstream::Message> = Vec::new();
    by_site.retain(|site, items| {
        if sites.get(site).is_some() {
            return true;
        }
        new_sites += 1;
        if known + new_sites <= MAX_SITES {
            return true;
        }
        tracing::error!(
            site,
            max = MAX_SITES,
            "too many sites; this one's events are refused"
        );
        refused.extend(items.drain(..).filter_map(|i| i.message));
        false
    });
    let tx = client.transaction().await?;
    let mut updated: Vec<(String, Site)> = Vec::new();
    let mut done: Vec<Option<jetstream::Message>> = Vec::new();
    let mut later: Vec<Option<jetstream::Message>> = Vec::new();
    for (site, mut items) in by_site {
        items.sort_by_key(|i| i.rec.seq);
        tx.execute(
            "INSERT INTO hub_sites (site) VALUES ($1) ON CONFLICT (site) DO NOTHING",
            &[&site],
        )
        .await?;
        let last: i64 = tx
            .query_one(
                "SELECT last_seq FROM hub_sites WHERE site = $1 FOR UPDATE",
                &[&site],
            )
            .await?
            .get(0);
        let mut state = match sites.get(&site) {
            Some(s) if s.engine.seq() == last as u64 || s.problem.is_some() => (*s).clone(),
            _ => load(&tx, &site).await?,
        };
        let mut next = last as u64 + 1;
        let later_before = later.len();
        let mut stream_seq = None;
        let mut write = SiteWrite::default();
        let mut snapshot = false;
        for item in items {
            let seq = item.rec.seq;
            if seq < next {
                done.push(item.message);
                continue;
            }
            if seq > next {
                if state.stuck {
                    refused.extend(item.message);
                } else {
                    later.push(item.message);
                }
                continue;
            }
            next += 1;
            stream_seq = item.stream_seq.or(stream_seq);
            if state.problem.is_none() {
                fold(&mut state, &item.rec, &mut write, &mut snapshot);
            }
            let day = state.local_date(&item.rec);
            if state.last_day != Some(day) {
                state.last_day = Some(day);
                write.days.push((day.to_string(), seq as i64));
            }
            write.seqs.push(seq as i64);
            write.ats.push(item.rec.at.to_string());
            write.kinds.push(item.rec.event.kind().to_owned());
            write.bodies.push(item.body);
            done.push(item.message);
        }
        let gap_from = (later.len() > later_before).then_some(next);
        state.gap_from = gap_from;
        if gap_from.is_none() {
            state.stuck = false;
        }
        if let Some(from) = gap_from {
            gaps.push((site.clone(), from));
        }
        if write.seqs.is_empty() && gap_from.is_none() {
            continue;
        }
        applied += write.seqs.len();
        write_site(&tx, &site, &state, &write, next - 1, stream_seq).await?;
        if state.problem.is_none()
            && (snapshot || state.engine.seq() >= state.snapshot_seq + SNAPSHOT_EVERY)
        {
            tx.execute(
                "INSERT INTO hub_snapshots (site, seq, body) VALUES ($1, $2, $3)
                 ON CONFLICT (site) DO UPDATE SET seq = EXCLUDED.seq, body = EXCLUDED.body",
                &[
                    &site,
                    &(state.engine.seq() as i64),
                    &state.engine.snapshot(),
                ],
            )
            .await?;
            state.snapshot_seq = state.engine.seq();
        }
        updated.push((site, state));
    }
    tx.commit().await?;
    for (site, state) in updated {
        sites.put(site, state);
    }
    progress.projected(applied);
    // After the commit: an acknowledgement lost now only brings a message back, which the
    // cursor drops.
    for message in done.into_iter().flatten() {
        if let Err(e) = message.ack().await {
            tracing::debug!(error = %e, "acknowledgement not sent; the message comes back and is dropped");
        }
    }
    let later: Vec<jetstream::Message> = later.into_iter().flatten().collect();
    if !later.is_empty() {
        progress.held_back(later.len());
    }
    // Delivered again once the gap before them is filled (see [`fill_gap`]).
    for message in later {
        let _ = message.ack_with(AckKind::Nak(Some(HELD_BACK_DELAY))).await;
    }
    for message in rejected.into_iter().chain(refused) {
        let _ = message.ack_with(AckKind::Term).await;
    }
    Ok(gaps)
}

/// Folds one event into the site's state and the ticket rows it changes.
fn fold(state: &mut Site, rec: &Recorded, write: &mut SiteWrite, snapshot: &mut bool) {
    // A day's close may drop its tickets from the state: their last rows are taken first.
    if let Event::DayClosed { expired, .. } = &rec.event {
        *snapshot = true;
        for r in expired {
            if let Some(t) = state.engine.ticket(r.id) {
                let mut t = t.clone();
                lifecycle::advance(&mut t, &rec.event, rec.at);
                write.tickets.insert(t.id, ticket_row(&t));
            }
        }
    }
    if let Err(e) = state.engine.apply(rec) {
        state.problem = Some(format!("event {} cannot be folded: {e}", rec.seq));
        tracing::error!(seq = rec.seq, error = %e, "a site's event cannot be folded; its events are still stored");
        return;
    }
    let touched = match &rec.event {
        Event::TicketIssued { ticket, .. } => Some(ticket.id),
        event => lifecycle::ticket_of(event),
    };
    if let Some(t) = touched.and_then(|id| state.engine.ticket(id)) {
        write.tickets.insert(t.id, ticket_row(t));
    }
}

/// Writes one site's rows and moves its cursor.
async fn write_site(
    tx: &tokio_postgres::Transaction<'_>,
    site: &str,
    state: &Site,
    write: &SiteWrite,
    last_seq: u64,
    stream_seq: Option<u64>,
) -> anyhow::Result<()> {
    if !write.seqs.is_empty() {
        tx.execute(
            "INSERT INTO hub_events (site, seq, at, kind, body)
             SELECT $1, s, a::timestamptz, k, b::jsonb
             FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(s, a, k, b)",
            &[&site, &write.seqs, &write.ats, &write.kinds, &write.bodies],
        )
        .await?;
    }
    if !write.days.is_empty() {
        let days: Vec<String> = write.days.iter().map(|d| d.0.clone()).collect();
        let firsts: Vec<i64> = write.days.iter().map(|d| d.1).collect();
        tx.execute(
            "INSERT INTO hub_days (site, day, first_seq)
             SELECT $1, d::date, f FROM unnest($2::text[], $3::bigint[]) AS u(d, f)
             ON CONFLICT (site, day) DO NOTHING",
            &[&site, &days, &firsts],
        )
        .await?;
    }
    if !write.tickets.is_empty() {
        let rows: Vec<&TicketRow> = write.tickets.values().collect();
        let col = |f: fn(&TicketRow) -> String| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
        let days = col(|r| r.day.clone());
        let numbers = col(|r| r.number.clone());
        let services = col(|r| r.service.clone());
        let states = col(|r| r.state.clone());
        let issued = col(|r| r.issued_at.clone());
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let priority: Vec<bool> = rows.iter().map(|r| r.priority).collect();
        let counters: Vec<Option<i32>> = rows.iter().map(|r| r.counter).collect();
        let staff: Vec<Option<String>> = rows.iter().map(|r| r.staff.clone()).collect();
        let waits: Vec<Option<i64>> = rows.iter().map(|r| r.wait_s).collect();
        let services_s: Vec<Option<i64>> = rows.iter().map(|r| r.service_s).collect();
        let ratings: Vec<Option<i16>> = rows.iter().map(|r| r.rating).collect();
        tx.execute(
            "INSERT INTO hub_tickets (site, day, ticket, number, service, priority, state,
                                      issued_at, counter, staff, wait_s, service_s, rating,
                                      updated_seq)
             SELECT $1, d::date, t, n, s, p, st, i::timestamptz, c, sf, w, sv, r, $14
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::bool[],
                         $7::text[], $8::text[], $9::int[], $10::text[], $11::bigint[],
                         $12::bigint[], $13::smallint[])
                  AS u(d, t, n, s, p, st, i, c, sf, w, sv, r)
             ON CONFLICT (site, ticket) DO UPDATE SET
                 service = EXCLUDED.service, state = EXCLUDED.state,
                 counter = EXCLUDED.counter, staff = EXCLUDED.staff,
                 wait_s = EXCLUDED.wait_s, service_s = EXCLUDED.service_s,
                 rating = EXCLUDED.rating, updated_seq = EXCLUDED.updated_seq",
            &[
                &site,
                &days,
                &ids,
                &numbers,
                &services,
                &priority,
                &states,
                &issued,
                &counters,
                &staff,
                &waits,
                &services_s,
                &ratings,
                &(last_seq as i64),
            ],
        )
        .await?;
    }
    let config = state.engine.config();
    let last_at = write.ats.last().cloned();
    tx.execute(
        "UPDATE hub_sites SET last_seq = $2, last_at = coalesce($3::text::timestamptz, last_at),
                name = $4, time_zone = $5, projected_at = now(),
                gap_from = $6, problem = $7, stream_seq = coalesce($8, stream_seq)
         WHERE site = $1",
        &[
            &site,
            &(last_seq as i64),
            &last_at,
            &config.center.name,
            &config.center.timezone,
            &state.gap_from.map(|g| g as i64),
            &state.problem,
            &stream_seq.map(|s| s as i64),
        ],
    )
    .await?;
    Ok(())
}
