//! Call → chime start on the native lobby display, with 10 and 200 displays connected.
//!
//! ```text
//! cargo run --release -p luot-tests --example display_bench
//! ```
//!
//! Each display is the real library: socket loop, follower, announcer (recording sink, so the
//! chime "starts" when the announcer hands it to the sound output). A staff client presses
//! "call next" and the time to each display's chime is taken; the baseline is the same
//! call's HTTP round trip, so the figure is also given as a ratio to it.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use luot_display::announcer::{AnnounceSettings, Announcer};
use luot_display::audio::{Clip, RecordingOut};
use luot_display::link::{self, LinkConfig, Shared};
use luot_display::voice::{Voice, VoiceError};
use luot_shared::follow::{FollowConfig, Follower};
use luot_shared::protocol::Role;
use luot_tests::{ServerOptions, TestServer, poll_until};
use tokio::sync::watch;

const CALLS: usize = 40;

struct Quiet;

impl Voice for Quiet {
    fn speak(&mut self, words: &[String]) -> Result<Clip, VoiceError> {
        Ok(Clip::silence(&words.join(" "), Duration::from_millis(1)))
    }
}

struct Display {
    shared: Shared,
    recording: RecordingOut,
    _announcer: Announcer,
}

fn chimes(d: &Display) -> Vec<Instant> {
    d.recording
        .played()
        .into_iter()
        .filter(|p| p.label == "chime")
        .map(|p| p.started)
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(n: usize) {
    let server = TestServer::start(
        ServerOptions::new()
            .token("display", Role::Display, None)
            .token("staff", Role::Staff, None),
    );
    let staff = server.api_as("staff");
    staff.open_counter(1).await;
    for _ in 0..CALLS {
        staff.issue_ticket("tnmt").await;
    }
    let (stop, stopped) = watch::channel(false);
    let displays: Vec<Display> = (0..n)
        .map(|_| {
            let shared = Shared::new(Follower::new(FollowConfig::default()));
            let recording = RecordingOut::new();
            let sink = recording.clone();
            let settings = AnnounceSettings {
                repeat: 1,
                ..AnnounceSettings::default()
            };
            let announcer =
                Announcer::spawn(settings, Some(Box::new(Quiet)), move || Box::new(sink));
            let config = LinkConfig::new(server.base_url(), &server.token("display"));
            tokio::spawn(link::run(
                config,
                shared.clone(),
                announcer.sender(),
                Arc::new(|| {}),
                stopped.clone(),
            ));
            Display {
                shared,
                recording,
                _announcer: announcer,
            }
        })
        .collect();
    poll_until(
        Duration::from_secs(60),
        "every display's snapshot",
        || async {
            displays
                .iter()
                .all(|d| d.shared.lock().follower.view().is_some())
                .then_some(())
        },
    )
    .await;

    let mut latencies = Vec::with_capacity(n * CALLS);
    let mut round_trips = Vec::with_capacity(CALLS);
    for k in 0..CALLS {
        let t0 = Instant::now();
        staff.call_next(1).await.expect("a ticket waits");
        round_trips.push(t0.elapsed().as_secs_f64() * 1000.0);
        poll_until(Duration::from_secs(30), "every display's chime", || async {
            displays.iter().all(|d| chimes(d).len() > k).then_some(())
        })
        .await;
        for d in &displays {
            let started = chimes(d)[k];
            latencies.push(started.saturating_duration_since(t0).as_secs_f64() * 1000.0);
        }
    }
    let _ = stop.send(true);
    latencies.sort_by(f64::total_cmp);
    round_trips.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let rtt = percentile(&round_trips, 0.5);
    println!(
        "{n:>4} displays: call → chime start p50 {p50:.2} ms, p99 {p99:.2} ms over {} chimes; \
         call round trip p50 {rtt:.2} ms; chime p50 = {:.2} × round trip",
        latencies.len(),
        p50 / rtt
    );
}

fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in [10, 200] {
        runtime.block_on(run(n));
    }
}
