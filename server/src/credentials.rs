//! The credential writer: a thread that makes token, account and session writes durable, so
//! no request handler ever waits on the disk on an async worker.
//!
//! Handlers send a batch of [`CredentialOp`]s over a bounded channel and await the answer. The
//! thread takes what is queued, applies it all and flushes once (group commit, as the engine
//! does for events), then answers. A caller is answered only after its write is on disk.

use serde::Serialize;
use tokio::sync::oneshot;

use std::sync::Arc;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::store::{CredentialOp, Store, Table};

/// Writes waiting for the thread. Credential writes come from logins, logouts and admin
/// changes: tens per minute in a center; 256 absorbs a burst of logins, and a full queue
/// makes callers wait (backpressure) rather than grow memory.
const QUEUE: usize = 256;
/// Most requests folded into one flush.
const MAX_BATCH: usize = 64;

struct Request {
    ops: Vec<CredentialOp>,
    reply: oneshot::Sender<Result<Vec<bool>, ()>>,
}

/// Handle to the credential writer thread. Cheap to clone.
#[derive(Clone)]
pub struct CredentialWriter {
    requests: tokio::sync::mpsc::Sender<Request>,
}

impl CredentialWriter {
    /// Starts the thread over `store`. It stops when every handle is dropped.
    pub fn start(store: Store, metrics: Arc<Metrics>) -> std::io::Result<CredentialWriter> {
        let (requests, rx) = tokio::sync::mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("luot-credentials".into())
            .spawn(move || run(store, &metrics, rx))?;
        Ok(CredentialWriter { requests })
    }

    /// Applies `ops` in order and makes them durable; for each, whether it took effect.
    pub async fn write(&self, ops: Vec<CredentialOp>) -> Result<Vec<bool>, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request { ops, reply })
            .await
            .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?;
        rx.await
            .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?
            .map_err(|()| ApiError::Unavailable("storage is failing; try again".into()))
    }

    /// Inserts or replaces a record durably.
    pub async fn put<T: Serialize>(
        &self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<(), ApiError> {
        self.write(vec![put(table, key, value)]).await.map(drop)
    }

    /// Inserts a record durably only if its key is free; false if it was taken.
    pub async fn put_new<T: Serialize>(
        &self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<bool, ApiError> {
        let op = CredentialOp::PutNew {
            table,
            key: key.to_owned(),
            value: Store::encode_credential(value),
        };
        Ok(self
            .write(vec![op])
            .await?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// Removes records durably; how many existed.
    pub async fn remove(&self, table: Table, keys: &[String]) -> Result<usize, ApiError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let ops = keys
            .iter()
            .map(|key| CredentialOp::Remove {
                table,
                key: key.clone(),
            })
            .collect();
        Ok(self.write(ops).await?.into_iter().filter(|b| *b).count())
    }
}

/// A `Put` operation.
pub fn put<T: Serialize>(table: Table, key: &str, value: &T) -> CredentialOp {
    CredentialOp::Put {
        table,
        key: key.to_owned(),
        value: Store::encode_credential(value),
    }
}

fn run(store: Store, metrics: &Metrics, mut rx: tokio::sync::mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut failed = false;
        for request in &batch {
            let outcome: Result<Vec<bool>, _> = request
                .ops
                .iter()
                .map(|op| store.apply_credential(op))
                .collect();
            match outcome {
                Ok(done) => results.push(Ok(done)),
                Err(e) => {
                    tracing::error!(error = %e, "credential write failed");
                    failed = true;
                    results.push(Err(()));
                }
            }
        }
        if let Err(e) = store.flush() {
            tracing::error!(error = %e, "credential flush failed");
            failed = true;
        }
        if !failed {
            metrics.credential_commits.inc();
            metrics.credential_writes.inc_by(batch.len() as u64);
        }
        for (request, result) in batch.drain(..).zip(results) {
            let result = if failed { Err(()) } else { result };
            let _ = request.reply.send(result);
        }
    }
}

/// Removes records in the background, for removals nobody waits on (an expired session
/// that is refused anyway); a failure is only logged.
pub fn spawn_best_effort(writer: &CredentialWriter, table: Table, keys: Vec<String>) {
    let writer = writer.clone();
    tokio::spawn(async move {
        if let Err(e) = writer.remove(table, &keys).await {
            tracing::debug!(error = %e, "could not drop expired records");
        }
    });
}
