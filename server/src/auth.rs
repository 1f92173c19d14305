//! Who is asking: device tokens, staff accounts, browser sessions, roles, CSRF and login
//! rate limiting.
//!
//! Tokens and session ids are 192-bit random values stored only as SHA-256 hashes; passwords
//! are argon2. A browser session travels in an HttpOnly, SameSite=Strict cookie and every
//! state-changing request made with it must carry the session's CSRF token in
//! `X-CSRF-Token`. Bearer tokens are not sent by browsers on their own, so they need none.
//!
//! Taking access away takes it away: a revoked token, a logged-out or expired session, a
//! disabled account or a reset password stops working on the next request, and every open
//! WebSocket re-checks its credential as soon as anything is revoked ([`Auth::revocations`]).
//! Credential writes go through the [`CredentialWriter`] thread, never an async worker.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use luot_shared::protocol::Role;
use luot_shared::{CounterId, TicketId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use tokio::sync::watch;

use crate::AppState;
use crate::clock::Clock;
use crate::credentials::{self, CredentialWriter};
use crate::error::ApiError;
use crate::login::{LoginLimiter, PasswordPool};
use crate::metrics::Metrics;
use crate::store::{CredentialOp, Store, StoreError, Table};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "luot_session";
/// How long a browser session lasts: one working day.
pub const SESSION_SECS: i64 = 12 * 3600;
/// Most browser sessions kept at once (a center has tens of staff).
const MAX_SESSIONS: usize = 2000;

/// A device or script token.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRecord {
    /// Short public id, for listing and revoking.
    pub id: String,
    /// Role.
    pub role: Role,
    /// The one counter a staff token may act at, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterId>,
    /// Human label (e.g. "kiosk sảnh"); also the actor name in the log.
    pub label: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A staff or admin account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role (`admin` or `staff`).
    pub role: Role,
    /// Counters a staff member may act at.
    #[serde(default)]
    pub counters: Vec<CounterId>,
    /// A disabled account cannot log in and its sessions stop working.
    #[serde(default)]
    pub disabled: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A browser session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Account.
    pub username: String,
    /// CSRF token for this session.
    pub csrf: String,
    /// End of validity.
    pub expires_at: Timestamp,
    /// [`password_stamp`] of the account's password when the session began: a session made
    /// with a password that has since changed no longer works, even one whose login was
    /// still being checked while the password was reset.
    #[serde(default)]
    pub password_stamp: String,
}

/// A short digest that changes whenever the account's password hash changes.
pub fn password_stamp(password_hash: &str) -> String {
    hex(&Sha256::digest(password_hash.as_bytes())[..8])
}

/// What a caller presented, by its stored hash: what a WebSocket re-checks when something
/// is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A device or script token.
    Token(String),
    /// A browser session.
    Session(String),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Name recorded in events as the actor.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Counters it may act at; `None` means any (admins, and tokens not tied to a counter).
    /// A staff account acts only at the counters an admin assigned to it.
    pub counters: Option<Vec<CounterId>>,
    /// Session id hash, for a browser session.
    pub session: Option<String>,
    /// The session's CSRF token, for a browser session.
    pub csrf: Option<String>,
    /// What it presented.
    pub credential: Credential,
}

/// The key a credential's quotas are counted under (never the secret itself).
pub fn credential_key(credential: &Credential) -> String {
    match credential {
        Credential::Token(key) => format!("token:{key}"),
        Credential::Session(key) => format!("session:{key}"),
    }
}

/// A principal the request guard already resolved from the request's credentials, so the
/// extractor does not look it up twice.
#[derive(Debug, Clone)]
pub struct Resolved(pub Principal);

impl Principal {
    /// Refuses unless the role is one of `roles` (admins pass everywhere).
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Admin || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }

    /// Refuses unless it is staff or admin allowed at `counter`.
    pub fn require_counter(&self, counter: CounterId) -> Result<(), ApiError> {
        self.require(&[Role::Staff])?;
        let allowed = match &self.counters {
            None => true,
            Some(list) => list.contains(&counter),
        };
        if self.role == Role::Admin || allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "you are not assigned to counter {counter}"
            )))
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = match parts.extensions.get::<Resolved>() {
            Some(Resolved(principal)) => principal.clone(),
            None => state.auth.resolve(parts)?,
        };
        if let Credential::Session(_) = principal.credential
            && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            let expected = principal.csrf.as_deref().unwrap_or_default();
            if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes())) {
                return Err(ApiError::Forbidden(
                    "missing or wrong X-CSRF-Token header".into(),
                ));
            }
        }
        Ok(principal)
    }
}

/// The value of cookie `name` of a request, if it has one.
pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Compares secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes from the OS-seeded cryptographic generator, as hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// The stored form of a token or session id.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with argon2 (slow on purpose: call off the async threads).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| ApiError::Internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::Internal)
}

/// Checks a password against an argon2 PHC string (slow on purpose).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A new token: the token itself (shown once), the key it is stored under, and its record.
pub fn new_token(
    role: Role,
    counter: Option<CounterId>,
    label: Option<String>,
) -> (String, String, TokenRecord) {
    let token = format!("lt_{}", random_hex(24));
    let id = random_hex(4);
    let record = TokenRecord {
        label: label.unwrap_or_else(|| format!("{}-{id}", role.as_str())),
        id,
        role,
        counter,
        created_at: Timestamp::now(),
    };
    let key = hash_secret(&token);
    (token, key, record)
}

/// Creates a token on a stopped server's store (the CLI) and returns it; only its hash is
/// kept.
pub fn create_token(
    store: &Store,
    role: Role,
    counter: Option<CounterId>,
    label: Option<String>,
) -> Result<(String, TokenRecord), StoreError> {
    let (token, key, record) = new_token(role, counter, label);
    store.put(Table::Tokens, &key, &record)?;
    Ok((token, record))
}

/// Creates the `admin` account with a random password when no account exists yet, and
/// returns that password (to be shown once).
pub fn ensure_first_admin(store: &Store) -> Result<Option<String>, anyhow::Error> {
    if store.count(Table::Users) > 0 {
        return Ok(None);
    }
    let password = random_password();
    let record = UserRecord {
        password_hash: hash_password(&password)
            .map_err(|_| anyhow::anyhow!("cannot hash the password"))?,
        role: Role::Admin,
        counters: Vec::new(),
        disabled: false,
        created_at: Timestamp::now(),
    };
    Ok(store
        .put_new(Table::Users, "admin", &record)?
        .then_some(password))
}

/// A password people can type: 16 characters without look-alikes (about 80 bits).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Authentication state shared by handlers.
pub struct Auth {
    store: Store,
    writer: CredentialWriter,
    passwords: PasswordPool,
    limiter: LoginLimiter,
    /// Bumped whenever a credential is taken away; WebSockets re-check theirs.
    revoked: watch::Sender<u64>,
    /// The server's clock, for session expiry.
    clock: Clock,
    track_key: Vec<u8>,
}

type HmacSha256 = Hmac<Sha256>;

impl Auth {
    /// Loads (or creates) the track key from the store and starts the credential writer and
    /// the password checkers.
    pub fn new(store: Store, metrics: Arc<Metrics>, clock: Clock) -> anyhow::Result<Auth> {
        let track_key = store.meta_or_init("track_key", || {
            let mut k = vec![0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        })?;
        Ok(Auth {
            writer: CredentialWriter::start(store.clone(), metrics)?,
            passwords: PasswordPool::start()?,
            store,
            limiter: LoginLimiter::default(),
            revoked: watch::channel(0).0,
            clock,
            track_key,
        })
    }

    /// The credential writer, for handlers that change credentials.
    pub fn writer(&self) -> &CredentialWriter {
        &self.writer
    }

    /// The password checkers, for handlers that hash or verify passwords.
    pub fn passwords(&self) -> &PasswordPool {
        &self.passwords
    }

    /// Changes whenever a credential is taken away.
    pub fn revocations(&self) -> watch::Receiver<u64> {
        self.revoked.subscribe()
    }

    /// Tells every WebSocket to re-check its credential.
    pub fn note_revocation(&self) {
        self.revoked.send_modify(|n| *n += 1);
    }

    /// The principal of a request's credentials: a Bearer token, the session cookie, or (on
    /// `/ws` only) `?token=`.
    pub fn resolve(&self, parts: &Parts) -> Result<Principal, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::Unauthorized("Authorization must be 'Bearer <token>'".into())
                })?;
            return self.check(&Credential::Token(hash_secret(token.trim())));
        }
        if let Some(session) = cookie(parts, SESSION_COOKIE) {
            return self.check(&Credential::Session(hash_secret(&session)));
        }
        if parts.uri.path() == "/ws"
            && let Some(token) = query_param(parts.uri.query().unwrap_or(""), "token")
        {
            return self.check(&Credential::Token(hash_secret(&token)));
        }
        Err(ApiError::Unauthorized(
            "credentials required: a Bearer token or a session".into(),
        ))
    }

    /// The principal a credential stands for now, or why it no longer works.
    pub fn check(&self, credential: &Credential) -> Result<Principal, ApiError> {
        match credential {
            Credential::Token(key) => self.principal_for_token(key),
            Credential::Session(key) => self.principal_for_session(key),
        }
    }

    fn principal_for_token(&self, key: &str) -> Result<Principal, ApiError> {
        let record: TokenRecord = self
            .store
            .get(Table::Tokens, key)?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))?;
        Ok(Principal {
            name: record.label,
            role: record.role,
            counters: record.counter.map(|c| vec![c]),
            session: None,
            csrf: None,
            credential: Credential::Token(key.to_owned()),
        })
    }

    fn principal_for_session(&self, key: &str) -> Result<Principal, ApiError> {
        let expired = || ApiError::Unauthorized("session ended; log in again".into());
        let record: SessionRecord = self.store.get(Table::Sessions, key)?.ok_or_else(expired)?;
        if record.expires_at <= self.clock.now() {
            credentials::spawn_best_effort(&self.writer, Table::Sessions, vec![key.to_owned()]);
            return Err(expired());
        }
        let user: UserRecord = self
            .store
            .get(Table::Users, &record.username)?
            .filter(|u: &UserRecord| !u.disabled)
            .ok_or_else(|| ApiError::Unauthorized("account disabled".into()))?;
        if !constant_time_eq(
            record.password_stamp.as_bytes(),
            password_stamp(&user.password_hash).as_bytes(),
        ) {
            return Err(ApiError::Unauthorized(
                "the password was changed; log in again".into(),
            ));
        }
        Ok(Principal {
            name: record.username,
            role: user.role,
            counters: (user.role != Role::Admin).then_some(user.counters),
            session: Some(key.to_owned()),
            csrf: Some(record.csrf),
            credential: Credential::Session(key.to_owned()),
        })
    }

    /// Checks a login; on success creates a session and returns (session id, record, user).
    ///
    /// The attempt is counted before the password is checked (see [`crate::login`]).
    pub async fn login(
        &self,
        addr: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<(String, SessionRecord, UserRecord), ApiError> {
        let attempt = self.limiter.begin(username, addr)?;
        if attempt.slowed {
            tokio::time::sleep(crate::login::SLOW_DOWN).await;
        }
        let user: Option<UserRecord> = if username.len() <= 64 {
            self.store.get(Table::Users, username)?
        } else {
            None
        };
        // An unknown name is checked against a real hash too (the checker's own), so timing
        // does not tell which names exist.
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self.passwords.verify(password.to_owned(), phc).await? && user.is_some();
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => {
                attempt.failed();
                return Err(ApiError::Unauthorized("wrong user name or password".into()));
            }
        };
        attempt.succeeded();
        let session = random_hex(24);
        let record = SessionRecord {
            username: username.to_owned(),
            password_stamp: password_stamp(&user.password_hash),
            csrf: random_hex(16),
            expires_at: self.clock.now() + jiff::SignedDuration::from_secs(SESSION_SECS),
        };
        let mut ops = self.stale_sessions()?;
        ops.push(credentials::put(
            Table::Sessions,
            &hash_secret(&session),
            &record,
        ));
        self.writer.write(ops).await?;
        Ok((session, record, user))
    }

    /// Removals of expired sessions, and of the oldest ones past [`MAX_SESSIONS`], so the
    /// table stays bounded however often people log in without logging out.
    fn stale_sessions(&self) -> Result<Vec<CredentialOp>, StoreError> {
        let now = self.clock.now();
        let mut stale = Vec::new();
        let mut live = Vec::new();
        for (key, record) in self.store.list::<SessionRecord>(Table::Sessions)? {
            if record.expires_at <= now {
                stale.push(key);
            } else {
                live.push((record.expires_at, key));
            }
        }
        if live.len() >= MAX_SESSIONS {
            live.sort();
            stale.extend(live.drain(..=live.len() - MAX_SESSIONS).map(|(_, key)| key));
        }
        Ok(stale
            .into_iter()
            .map(|key| CredentialOp::Remove {
                table: Table::Sessions,
                key,
            })
            .collect())
    }

    /// Ends a session.
    pub async fn logout(&self, session_hash: &str) -> Result<(), ApiError> {
        self.writer
            .remove(Table::Sessions, &[session_hash.to_owned()])
            .await?;
        self.note_revocation();
        Ok(())
    }

    /// Ends every session of `username` except `keep`; how many ended.
    pub async fn end_sessions_of(
        &self,
        username: &str,
        keep: Option<&str>,
    ) -> Result<usize, ApiError> {
        let keys: Vec<String> = self
            .store
            .list::<SessionRecord>(Table::Sessions)?
            .into_iter()
            .filter(|(key, s)| s.username == username && Some(key.as_str()) != keep)
            .map(|(key, _)| key)
            .collect();
        let ended = self.writer.remove(Table::Sessions, &keys).await?;
        self.note_revocation();
        Ok(ended)
    }

    /// Revokes the token stored under `key`.
    pub async fn revoke_token(&self, key: &str) -> Result<(), ApiError> {
        self.writer.remove(Table::Tokens, &[key.to_owned()]).await?;
        self.note_revocation();
        Ok(())
    }

    /// The secret that follows ticket `id` at `/t/{track}`: its id and a keyed MAC of it.
    pub fn track_for(&self, id: TicketId) -> String {
        format!("{id}-{}", hex(&self.track_mac(id)[..10]))
    }

    /// The ticket a track secret stands for, if it is genuine.
    pub fn verify_track(&self, track: &str) -> Option<TicketId> {
        let (digits, mac) = track.split_once('-')?;
        let id: TicketId = digits.parse().ok()?;
        // One spelling per ticket: the id as the server writes it (no sign, no leading zero).
        if digits != id.to_string() {
            return None;
        }
        let expected = hex(&self.track_mac(id)[..10]);
        constant_time_eq(expected.as_bytes(), mac.as_bytes()).then_some(id)
    }

    fn track_mac(&self, id: TicketId) -> Vec<u8> {
        #[allow(clippy::expect_used)]
        let mut mac =
            HmacSha256::new_from_slice(&self.track_key).expect("HMAC takes keys of any length");
        mac.update(&id.to_be_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}
