//! What the event stream does not keep current: whether issuing is open *now* and why not,
//! and the center's rating reasons.
//!
//! The server decides `issuing` from the clock (`open`, `issue_until`, `close`), and the hour
//! passing is no event, so a kiosk switched on at 07:00 would show "not yet" all day from its
//! first snapshot. The kiosk therefore reads `GET /api/v1/state` every half minute (and at
//! once when a touch was refused), keeping only these few fields.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use luot_shared::protocol::StateView;
use tokio::sync::{Notify, watch};

/// How often the state is read.
pub const NOTES_EVERY: Duration = Duration::from_secs(30);
/// Longest one read may take.
const NOTES_TIMEOUT: Duration = Duration::from_secs(10);

/// The live notes, as last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CenterNotes {
    /// Whether the kiosk may issue now; `None` until the first read answered.
    pub issuing: Option<bool>,
    /// The server's reason when it may not.
    pub issuing_note: Option<String>,
    /// Reasons offered after a rating of 1 or 2.
    pub rating_reasons: Vec<String>,
}

impl CenterNotes {
    /// The notes of a state.
    pub fn of(state: &StateView) -> CenterNotes {
        CenterNotes {
            issuing: Some(state.issuing),
            issuing_note: state.issuing_note.clone(),
            rating_reasons: state.rating_reasons.clone(),
        }
    }
}

/// The notes shared between the reader and the screen, with a way to ask for a read now.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    notes: Arc<Mutex<CenterNotes>>,
    wake: Arc<Notify>,
}

impl Notes {
    /// Empty notes.
    pub fn new() -> Notes {
        Notes::default()
    }

    /// Locks them briefly.
    pub fn lock(&self) -> MutexGuard<'_, CenterNotes> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces them.
    pub fn set(&self, notes: CenterNotes) {
        *self.lock() = notes;
    }

    /// Asks the reader for a fresh read now (after a refused touch).
    pub fn refresh_soon(&self) {
        self.wake.notify_one();
    }
}

/// An HTTP client for the kiosk's own few calls (no proxy: the server is on the LAN).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(NOTES_TIMEOUT)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Reads the state every [`NOTES_EVERY`] (or when woken) until `shutdown` turns true.
pub async fn run(
    server: String,
    token: String,
    notes: Notes,
    repaint: Arc<dyn Fn() + Send + Sync>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = http_client();
    let url = format!("{}/api/v1/state", server.trim_end_matches('/'));
    loop {
        match read(&http, &url, &token).await {
            Ok(state) => {
                let fresh = CenterNotes::of(&state);
                if *notes.lock() != fresh {
                    notes.set(fresh);
                    repaint();
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the center's state"),
        }
        tokio::select! {
            _ = tokio::time::sleep(NOTES_EVERY) => {}
            _ = notes.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn read(http: &reqwest::Client, url: &str, token: &str) -> Result<StateView, String> {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}
