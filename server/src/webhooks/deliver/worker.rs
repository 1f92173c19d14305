//! The worker that delivers the log to one endpoint, strictly in `seq` order.

use std::sync::Arc;

use axum::http::StatusCode;
use luot_shared::Recorded;
use tokio::sync::watch;

use super::{
    DELIVERY_TIMEOUT, MAX_RESPONSE_BODY, Outcome, PAGE, Slot, SlotState, Webhooks, blocking, lock,
    put_cursor, put_endpoint,
};
use crate::events_api::public_event;
use crate::webhooks::{Endpoint, sign};

impl Webhooks {
    /// The worker of one endpoint: until the server stops or the endpoint is removed.
    pub(super) async fn run(self: Arc<Self>, slot: Arc<Slot>) {
        let mut events = self.engine.subscribe();
        let mut shutdown = self.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                return;
            }
            // A fresh receiver before reading the head: whatever is published after this
            // wakes the wait below, and nothing older is read through one by one.
            events = events.resubscribe();
            let head = self.head();
            let (endpoint, cursor, generation, rewinds, removed) = {
                let s = lock(&slot.state);
                (
                    s.endpoint.clone(),
                    s.cursor,
                    s.generation,
                    s.rewinds,
                    s.removed,
                )
            };
            if removed {
                return;
            }
            if !endpoint.enabled || cursor >= head {
                tokio::select! {
                    _ = slot.wake.notified() => {}
                    _ = events.recv() => {}
                    _ = shutdown.changed() => return,
                }
                continue;
            }
            let store = self.store.clone();
            let page = blocking(move || store.events(cursor + 1, head, PAGE)).await;
            let page = match page {
                Ok(page) if page.first().is_some_and(|r| r.seq == cursor + 1) => page,
                Ok(_) => {
                    self.wait_after_failure(&slot, generation, "the log cannot be read here")
                        .await;
                    continue;
                }
                Err(e) => {
                    let why = format!("the log cannot be read: {e}");
                    if !self.wait_after_failure(&slot, generation, &why).await {
                        return;
                    }
                    continue;
                }
            };
            let key = match sign::secret_key(&endpoint.secret) {
                Ok(key) => key,
                Err(e) => {
                    tracing::error!(webhook = %endpoint.id, error = %e, "webhook secret unusable");
                    if !self
                        .wait_after_failure(&slot, generation, "the secret is unusable")
                        .await
                    {
                        return;
                    }
                    continue;
                }
            };
            let mut passed_over = None;
            for rec in &page {
                if !endpoint.selects(rec.event.kind()) {
                    passed_over = Some(rec.seq);
                    continue;
                }
                if let Some(seq) = passed_over.take()
                    && !self.advance(&slot, generation, seq, false).await
                {
                    break;
                }
                match self
                    .deliver(&slot, &endpoint, &key, generation, rec, &mut shutdown)
                    .await
                {
                    Outcome::Delivered => {
                        if !self.acknowledge(&slot, generation, rewinds, rec.seq).await {
                            break;
                        }
                    }
                    Outcome::Gone => {
                        self.disable_gone(&slot, generation, rec.seq).await;
                        break;
                    }
                    Outcome::Interrupted => break,
                }
            }
            if let Some(seq) = passed_over {
                self.advance(&slot, generation, seq, false).await;
            }
        }
    }

    /// Tries one event until it is acknowledged, the endpoint says it is gone, or the
    /// endpoint changed (or the server stops).
    async fn deliver(
        &self,
        slot: &Slot,
        endpoint: &Endpoint,
        key: &[u8],
        generation: u64,
        rec: &Recorded,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let body = serde_json::to_vec(&public_event(rec)).unwrap_or_default();
        let id = format!("msg_{}_{}", endpoint.id, rec.seq);
        loop {
            let failure = match self.attempt(endpoint, key, &id, &body).await {
                Ok(status) if status.is_success() => return Outcome::Delivered,
                Ok(StatusCode::GONE) => return Outcome::Gone,
                Ok(status) if status.is_redirection() => {
                    format!("HTTP {status} (redirects are not followed)")
                }
                Ok(status) => format!("HTTP {status}"),
                Err(e) => e,
            };
            let delay = {
                let mut s = lock(&slot.state);
                if s.generation != generation {
                    return Outcome::Interrupted;
                }
                s.attempts = s.attempts.saturating_add(1);
                let delay = self.retry.delay(s.attempts);
                let now = self.clock.now();
                s.last_error = Some(format!("seq {}: {failure}", rec.seq));
                s.last_error_at = Some(now);
                s.next_retry_at = Some(now + delay);
                if s.attempts == 1 || s.attempts.is_multiple_of(20) {
                    tracing::warn!(webhook = %endpoint.id, seq = rec.seq, attempts = s.attempts, error = %failure, "webhook delivery failed; retrying");
                }
                delay
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = slot.wake.notified() => return Outcome::Interrupted,
                _ = shutdown.changed() => return Outcome::Interrupted,
            }
        }
    }

    /// One POST: the status, or why there is none.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        key: &[u8],
        id: &str,
        body: &[u8],
    ) -> Result<StatusCode, String> {
        let timestamp = self.clock.now().as_second();
        let signature = sign::signature(key, id, timestamp, body);
        let sent = self
            .client
            .post(&endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await;
        let mut response = sent.map_err(|e| describe(&e))?;
        let status = response.status();
        // Read a bounded part of the body so the connection can be reused; its content is
        // never kept or shown.
        let mut read = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if read > MAX_RESPONSE_BODY {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) if status.is_success() => {
                    // The receiver answered 2xx: it has the event, whatever its body does.
                    tracing::debug!(error = %describe(&e), "webhook response body cut short");
                    break;
                }
                Err(e) => return Err(describe(&e)),
            }
        }
        Ok(status)
    }

    /// Moves the cursor to `seq`, durably, unless the endpoint changed meanwhile (the
    /// filter passed over it: any change voids that); false when it did.
    async fn advance(&self, slot: &Slot, generation: u64, seq: u64, delivered: bool) -> bool {
        self.move_cursor(slot, |s| s.generation == generation, seq, delivered)
            .await
    }

    /// Moves the cursor to `seq` after a 2xx, unless the admin moved the cursor meanwhile;
    /// then true only if nothing else changed either (else the worker starts over).
    async fn acknowledge(&self, slot: &Slot, generation: u64, rewinds: u64, seq: u64) -> bool {
        self.move_cursor(slot, |s| s.rewinds == rewinds, seq, true)
            .await
            && lock(&slot.state).generation == generation
    }

    async fn move_cursor(
        &self,
        slot: &Slot,
        valid: impl Fn(&SlotState) -> bool,
        seq: u64,
        delivered: bool,
    ) -> bool {
        let _write = slot.write.lock().await;
        let id = {
            let s = lock(&slot.state);
            if !valid(&s) || s.removed {
                return false;
            }
            s.endpoint.id.clone()
        };
        let store = self.store.clone();
        let stored = blocking(move || put_cursor(&store, &id, seq)).await;
        let mut s = lock(&slot.state);
        if let Err(e) = stored {
            // The receiver has the event; at worst a restart sends it again (deliveries are
            // at least once), so the worker goes on.
            tracing::warn!(webhook = %s.endpoint.id, seq, error = %e, "webhook progress not recorded");
        }
        s.cursor = seq;
        s.attempts = 0;
        s.next_retry_at = None;
        if delivered {
            s.delivered += 1;
            s.last_delivered_at = Some(self.clock.now());
        }
        true
    }

    /// The receiver answered 410 Gone: the endpoint stops until the admin enables it again.
    async fn disable_gone(&self, slot: &Slot, generation: u64, seq: u64) {
        let _write = slot.write.lock().await;
        let endpoint = {
            let mut s = lock(&slot.state);
            if s.generation != generation || s.removed {
                return;
            }
            let now = self.clock.now();
            s.endpoint.enabled = false;
            s.endpoint.disabled_reason = Some(format!(
                "the receiver answered 410 Gone to seq {seq} at {now}"
            ));
            s.last_error = Some(format!("seq {seq}: HTTP 410 Gone"));
            s.last_error_at = Some(now);
            s.next_retry_at = None;
            s.restart();
            s.endpoint.clone()
        };
        tracing::warn!(webhook = %endpoint.id, seq, "webhook disabled: the receiver answered 410 Gone");
        let store = self.store.clone();
        if let Err(e) = blocking(move || put_endpoint(&store, &endpoint)).await {
            tracing::warn!(error = %e, "disabled webhook not recorded; it is disabled until restart");
        }
    }

    /// Records a failure that is not the receiver's and waits as after a failed attempt;
    /// false when the server stops.
    async fn wait_after_failure(&self, slot: &Slot, generation: u64, why: &str) -> bool {
        let delay = {
            let mut s = lock(&slot.state);
            if s.generation != generation {
                return true;
            }
            s.attempts = s.attempts.saturating_add(1);
            let delay = self.retry.delay(s.attempts);
            let now = self.clock.now();
            s.last_error = Some(why.to_owned());
            s.last_error_at = Some(now);
            s.next_retry_at = Some(now + delay);
            delay
        };
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = slot.wake.notified() => true,
            _ = shutdown.changed() => false,
        }
    }
}

/// A delivery failure in a few words, without the URL (it is shown beside it anyway).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs());
    }
    let mut text = if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    // The innermost cause says most (refused, reset, certificate); bounded by the chain.
    let mut last = None;
    while let Some(cause) = source {
        last = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}
