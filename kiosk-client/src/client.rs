//! Issuing over HTTP: `POST /api/v1/tickets` with the kiosk's token and one fresh
//! `request_id` per touch. A timeout, a dropped connection or a 5xx is retried with the same
//! id (the server answers a repeated id with the ticket it already made), with backoff and
//! within a total time, so a lost reply never makes two tickets.
//!
//! The API is blocking: the kiosk calls it from a worker thread. It owns a current-thread
//! tokio runtime for reqwest; never call it from async code.

use std::time::{Duration, Instant};

use luot_shared::StateView;
use luot_shared::protocol::{ErrorBody, IssueRequest, TicketView};
use rand::Rng;
use reqwest::StatusCode;

use crate::dispense::Request;

/// How hard to try before saying the server is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Opening a connection.
    pub connect_timeout: Duration,
    /// One attempt, from sending to the whole reply.
    pub attempt_timeout: Duration,
    /// All attempts and the pauses between them: after this the touch is answered
    /// "unreachable" (a citizen should not stand at the kiosk longer).
    pub total: Duration,
    /// Pause after the first failure; it doubles after each, up to `max_backoff`.
    pub first_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(4),
            total: Duration::from_secs(12),
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// The server's answer to one touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// A ticket (new, or the one an earlier attempt of this touch already made).
    Ticket(TicketView),
    /// The server said no (4xx): nothing issued.
    Refused {
        /// The error code, e.g. `issuing_closed`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// No answer within the retries.
    Unreachable {
        /// The last failure.
        message: String,
        /// Attempts made.
        attempts: u32,
        /// Whether a request may have reached the server (it was sent, the answer never
        /// came): the ticket may exist, and asking again with the same `request_id` returns
        /// it. False when no attempt ever connected: nothing was issued.
        maybe_issued: bool,
    },
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http://…` or `https://…`.
    #[error("the server is an http:// URL, not {0:?}")]
    BadUrl(String),
    /// The token has characters a header cannot carry.
    #[error("the token has characters that cannot go in a header")]
    BadToken,
    /// reqwest or tokio could not start.
    #[error("cannot start the HTTP client: {0}")]
    Start(String),
}

/// A fresh idempotency key: 128 random bits from the OS-seeded generator, as 32 hex digits.
pub fn fresh_request_id() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// The kiosk's HTTP client.
pub struct IssueClient {
    base: String,
    token: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    policy: RetryPolicy,
}

impl std::fmt::Debug for IssueClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("IssueClient")
            .field("base", &self.base)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended.
enum Attempt {
    Done(Issued),
    /// Worth another try; `sent` when the server may have taken the request.
    Retry {
        failure: String,
        sent: bool,
    },
}

impl IssueClient {
    /// A client for the server at `base` (`http://host:port`) with a kiosk `token`.
    ///
    /// # Errors
    ///
    /// When the URL or token is unusable, or the runtime cannot start.
    pub fn new(base: &str, token: &str, policy: RetryPolicy) -> Result<IssueClient, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 8 {
            return Err(ClientError::BadUrl(base));
        }
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(ClientError::BadToken);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Start(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.attempt_timeout)
            // A pooled connection the server closed while idle would cost a failed attempt.
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| ClientError::Start(e.to_string()))?;
        Ok(IssueClient {
            base,
            token: token.to_owned(),
            http,
            runtime,
            policy,
        })
    }

    /// The same server and token under other retry bounds.
    ///
    /// # Errors
    ///
    /// As [`IssueClient::new`].
    pub fn with_policy(self, policy: RetryPolicy) -> Result<IssueClient, ClientError> {
        IssueClient::new(&self.base, &self.token, policy)
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Issues one ticket for `request` under a fresh `request_id`, retrying with that id.
    pub fn issue(&self, request: &Request) -> Issued {
        self.issue_with_id(request, &fresh_request_id())
    }

    /// Issues with a given `request_id` (each touch must bring its own).
    #[tracing::instrument(skip(self, request), fields(service = %request.service))]
    pub fn issue_with_id(&self, request: &Request, request_id: &str) -> Issued {
        let body = IssueRequest {
            service: request.service.clone(),
            priority: request.priority,
            request_id: Some(request_id.to_owned()),
        };
        let started = Instant::now();
        let deadline = started + self.policy.total;
        let mut backoff = self.policy.first_backoff;
        let mut attempts = 0;
        let mut maybe_issued = false;
        self.runtime.block_on(async {
            loop {
                attempts += 1;
                let failure = match self.attempt(&body, deadline).await {
                    Attempt::Done(issued) => return issued,
                    Attempt::Retry { failure, sent } => {
                        maybe_issued |= sent;
                        failure
                    }
                };
                // Jitter so kiosks that lost the server together do not return together.
                let pause = backoff.mul_f64(rand::rng().random_range(0.5..1.0));
                if Instant::now() + pause >= deadline {
                    tracing::warn!(attempts, %failure, "server unreachable");
                    return Issued::Unreachable {
                        message: failure,
                        attempts,
                        maybe_issued,
                    };
                }
                tracing::info!(attempts, %failure, ?pause, "retrying with the same request_id");
                tokio::time::sleep(pause).await;
                backoff = (backoff * 2).min(self.policy.max_backoff);
            }
        })
    }

    async fn attempt(&self, body: &IssueRequest, deadline: Instant) -> Attempt {
        let left = deadline.saturating_duration_since(Instant::now());
        let send = self
            .http
            .post(format!("{}/api/v1/tickets", self.base))
            .bearer_auth(&self.token)
            .timeout(left.min(self.policy.attempt_timeout))
            .json(body)
            .send();
        let reply = match send.await {
            Ok(reply) => reply,
            // A request that never connected was never seen; any other failure may have
            // come after the server took it.
            Err(e) => {
                return Attempt::Retry {
                    sent: !e.is_connect(),
                    failure: describe(&e),
                };
            }
        };
        let status = reply.status();
        let bytes = match read_bounded(reply, MAX_REPLY).await {
            Ok(bytes) => bytes,
            Err(failure) => {
                return Attempt::Retry {
                    failure,
                    sent: true,
                };
            }
        };
        if status.is_success() {
            return match serde_json::from_slice::<TicketView>(&bytes) {
                Ok(ticket) => Attempt::Done(Issued::Ticket(ticket)),
                // Issued but unreadable: the same id again returns the same ticket.
                Err(e) => Attempt::Retry {
                    failure: format!("unreadable ticket ({status}): {e}"),
                    sent: true,
                },
            };
        }
        let error = serde_json::from_slice::<ErrorBody>(&bytes).ok();
        if retryable(status) {
            return Attempt::Retry {
                failure: match error {
                    Some(e) => format!("{status}: {}", e.error.message),
                    None => status.to_string(),
                },
                sent: true,
            };
        }
        Attempt::Done(match error {
            Some(e) => Issued::Refused {
                code: e.error.code,
                message: e.error.message,
            },
            None => Issued::Refused {
                code: status.as_u16().to_string(),
                message: format!("the server refused ({status})"),
            },
        })
    }

    /// `GET /api/v1/state`, one attempt within the attempt timeout.
    ///
    /// # Errors
    ///
    /// What went wrong, in words.
    pub fn state(&self) -> Result<StateView, String> {
        self.runtime.block_on(async {
            let reply = self
                .http
                .get(format!("{}/api/v1/state", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = reply.status();
            let bytes = read_bounded(reply, MAX_STATE).await?;
            if !status.is_success() {
                return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                    Ok(e) => format!("{status}: {}", e.error.message),
                    Err(_) => status.to_string(),
                });
            }
            serde_json::from_slice(&bytes).map_err(|e| format!("unreadable state: {e}"))
        })
    }
}

/// Retried with the same id: the server may or may not have issued; asking again is safe.
/// 408 (the body came too slowly) and 429 (too many at once) are worth a retry too.
/// Longest answer to an issue the kiosk reads (a ticket is well under 2 KiB).
const MAX_REPLY: usize = 64 * 1024;
/// Longest state the kiosk reads (a center's state is tens of KiB).
const MAX_STATE: usize = 2 * 1024 * 1024;

/// The body of `reply`, refused once it passes `max` bytes: a rogue or broken server cannot
/// make the kiosk hold more.
async fn read_bounded(mut reply: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if reply.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("the answer is larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = reply.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    let mut message = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Request ids are 128 random bits, fresh each time.
    #[test]
    fn request_ids_are_fresh_and_long() {
        let a = fresh_request_id();
        let b = fresh_request_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    /// 5xx, 408 and 429 are retried; other 4xx are final.
    #[test]
    fn which_statuses_retry() {
        for s in [500, 502, 503, 408, 429] {
            assert!(retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422] {
            assert!(!retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    /// Bad URLs and tokens are refused before any request.
    #[test]
    fn bad_settings() {
        let p = RetryPolicy::default();
        assert!(matches!(
            IssueClient::new("localhost:8080", "t", p),
            Err(ClientError::BadUrl(_))
        ));
        assert!(matches!(
            IssueClient::new("http://localhost:8080", "t\nx", p),
            Err(ClientError::BadToken)
        ));
        let c = IssueClient::new("http://127.0.0.1:8080/", "t", p).unwrap();
        assert_eq!(c.base(), "http://127.0.0.1:8080");
        assert!(!format!("{c:?}").contains("\"t\""));
    }

    /// A server that is not there gives Unreachable within the total time, after retries.
    #[test]
    fn unreachable_is_bounded() {
        // Bind and drop: nothing listens on that port now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let policy = RetryPolicy {
            total: Duration::from_millis(600),
            first_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        };
        let client = IssueClient::new(&format!("http://127.0.0.1:{port}"), "t", policy).unwrap();
        let started = Instant::now();
        let issued = client.issue(&Request {
            service: "tnmt".into(),
            priority: None,
            english: false,
        });
        assert!(
            matches!(&issued, Issued::Unreachable { attempts, maybe_issued: false, .. } if *attempts > 1),
            "{issued:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    /// A server that answers with an endless body is cut off at the bound: the kiosk never
    /// holds more than it, and may have been issued (the request went out).
    #[test]
    fn a_huge_answer_is_refused_at_the_bound() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(
                    b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                );
                let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
                // 8 MiB unless the client stops reading first.
                for _ in 0..1024 {
                    if stream.write_all(chunk.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        let policy = RetryPolicy {
            total: Duration::from_millis(1500),
            first_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        };
        let client = IssueClient::new(&format!("http://127.0.0.1:{port}"), "t", policy).unwrap();
        let issued = client.issue(&Request {
            service: "tnmt".into(),
            priority: None,
            english: false,
        });
        assert!(
            matches!(&issued, Issued::Unreachable { message, maybe_issued: true, .. } if message.contains("larger than")),
            "{issued:?}"
        );
    }
}
