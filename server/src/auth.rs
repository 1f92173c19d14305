//! Who is asking: device tokens, staff accounts, browser sessions, roles, CSRF and login
//! rate limiting.
//!
//! Tokens and session ids are 192-bit random values stored only as SHA-256 hashes; passwords
//! are argon2. A browser session travels in an HttpOnly, SameSite=Strict cookie and every
//! state-changing request made with it must carry the session's CSRF token in
//! `X-CSRF-Token`. Bearer tokens are not sent by browsers on their own, so they need none.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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

use crate::AppState;
use crate::error::ApiError;
use crate::store::{Store, StoreError, Table};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "luot_session";
/// How long a browser session lasts: one working day.
pub const SESSION_SECS: i64 = 12 * 3600;
/// Failed logins allowed per user name, and per client address, in one window.
const MAX_FAILURES_PER_USER: u32 = 5;
const MAX_FAILURES_PER_ADDR: u32 = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most browser sessions kept at once (a center has tens of staff).
const MAX_SESSIONS: usize = 2000;
/// Bound on the limiter's memory.
const MAX_LIMITER_KEYS: usize = 10_000;

/// A device or script token.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

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
        let auth = &state.auth;
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::Unauthorized("Authorization must be 'Bearer <token>'".into())
                })?;
            return auth.principal_for_token(token.trim());
        }
        if let Some(session) = cookie(parts, SESSION_COOKIE) {
            let (principal, record) = auth.principal_for_session(&session)?;
            if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                let sent = parts
                    .headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok());
                if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), record.csrf.as_bytes())) {
                    return Err(ApiError::Forbidden(
                        "missing or wrong X-CSRF-Token header".into(),
                    ));
                }
            }
            return Ok(principal);
        }
        if parts.uri.path() == "/ws"
            && let Some(token) = query_param(parts.uri.query().unwrap_or(""), "token")
        {
            return auth.principal_for_token(&token);
        }
        Err(ApiError::Unauthorized(
            "credentials required: a Bearer token or a session".into(),
        ))
    }
}

fn cookie(parts: &Parts, name: &str) -> Option<String> {
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

fn hash_secret(secret: &str) -> String {
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

/// Creates a token and returns it; only its hash is kept.
pub fn create_token(
    store: &Store,
    role: Role,
    counter: Option<CounterId>,
    label: Option<String>,
) -> Result<(String, TokenRecord), StoreError> {
    let token = format!("lt_{}", random_hex(24));
    let id = random_hex(4);
    let record = TokenRecord {
        label: label.unwrap_or_else(|| format!("{}-{id}", role.as_str())),
        id,
        role,
        counter,
        created_at: Timestamp::now(),
    };
    store.put(Table::Tokens, &hash_secret(&token), &record)?;
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
    limiter: Mutex<HashMap<String, (u32, Instant)>>,
    track_key: Vec<u8>,
}

type HmacSha256 = Hmac<Sha256>;

impl Auth {
    /// Loads (or creates) the track key from the store.
    pub fn new(store: Store) -> Result<Auth, StoreError> {
        let track_key = store.meta_or_init("track_key", || {
            let mut k = vec![0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        })?;
        Ok(Auth {
            store,
            limiter: Mutex::new(HashMap::new()),
            track_key,
        })
    }

    fn principal_for_token(&self, token: &str) -> Result<Principal, ApiError> {
        let record: TokenRecord = self
            .store
            .get(Table::Tokens, &hash_secret(token))?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))?;
        Ok(Principal {
            name: record.label,
            role: record.role,
            counters: record.counter.map(|c| vec![c]),
            session: None,
            csrf: None,
        })
    }

    fn principal_for_session(&self, session: &str) -> Result<(Principal, SessionRecord), ApiError> {
        let key = hash_secret(session);
        let expired = || ApiError::Unauthorized("session expired; log in again".into());
        let record: SessionRecord = self.store.get(Table::Sessions, &key)?.ok_or_else(expired)?;
        if record.expires_at <= Timestamp::now() {
            self.store.remove(Table::Sessions, &key)?;
            return Err(expired());
        }
        let user: UserRecord = self
            .store
            .get(Table::Users, &record.username)?
            .filter(|u: &UserRecord| !u.disabled)
            .ok_or_else(|| ApiError::Unauthorized("account disabled".into()))?;
        let principal = Principal {
            name: record.username.clone(),
            role: user.role,
            counters: (user.role != Role::Admin).then_some(user.counters),
            session: Some(key),
            csrf: Some(record.csrf.clone()),
        };
        Ok((principal, record))
    }

    /// Checks a login; on success creates a session and returns (session id, record, user).
    pub async fn login(
        &self,
        addr: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<(String, SessionRecord, UserRecord), ApiError> {
        let keys = [format!("user:{username}"), format!("addr:{addr}")];
        self.check_limit(&keys)?;
        let user: Option<UserRecord> = if username.len() <= 64 {
            self.store.get(Table::Users, username)?
        } else {
            None
        };
        // Verify against a real hash even for unknown users so timing does not tell which
        // names exist.
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let ok = verify_password(&password, phc.as_deref().unwrap_or_else(|| dummy_hash()));
            ok && phc.is_some()
        })
        .await
        .map_err(|_| ApiError::Internal)?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => {
                self.note_failure(&keys);
                return Err(ApiError::Unauthorized("wrong user name or password".into()));
            }
        };
        self.clear_failures(&keys[0]);
        let session = random_hex(24);
        let record = SessionRecord {
            username: username.to_owned(),
            csrf: random_hex(16),
            expires_at: Timestamp::now() + jiff::SignedDuration::from_secs(SESSION_SECS),
        };
        self.purge_sessions()?;
        self.store
            .put(Table::Sessions, &hash_secret(&session), &record)?;
        Ok((session, record, user))
    }

    /// Drops expired sessions, and the oldest ones past [`MAX_SESSIONS`], so the table stays
    /// bounded however often people log in without logging out.
    fn purge_sessions(&self) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let mut live = Vec::new();
        for (key, record) in self.store.list::<SessionRecord>(Table::Sessions)? {
            if record.expires_at <= now {
                self.store.remove(Table::Sessions, &key)?;
            } else {
                live.push((record.expires_at, key));
            }
        }
        if live.len() >= MAX_SESSIONS {
            live.sort();
            for (_, key) in &live[..=live.len() - MAX_SESSIONS] {
                self.store.remove(Table::Sessions, key)?;
            }
        }
        Ok(())
    }

    /// Ends a session.
    pub fn logout(&self, session_hash: &str) -> Result<(), ApiError> {
        self.store.remove(Table::Sessions, session_hash)?;
        Ok(())
    }

    fn check_limit(&self, keys: &[String; 2]) -> Result<(), ApiError> {
        let map = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        for (key, max) in keys
            .iter()
            .zip([MAX_FAILURES_PER_USER, MAX_FAILURES_PER_ADDR])
        {
            if let Some((n, since)) = map.get(key)
                && *n >= max
                && since.elapsed() < FAILURE_WINDOW
            {
                let wait = FAILURE_WINDOW
                    .saturating_sub(since.elapsed())
                    .as_secs()
                    .max(1);
                return Err(ApiError::TooManyRequests(wait));
            }
        }
        Ok(())
    }

    fn note_failure(&self, keys: &[String; 2]) {
        let mut map = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_LIMITER_KEYS {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
            if map.len() >= MAX_LIMITER_KEYS {
                // Still full of fresh entries: forget the oldest half rather than grow.
                let mut ages: Vec<Instant> = map.values().map(|(_, s)| *s).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                map.retain(|_, (_, since)| *since > cut);
            }
        }
        for key in keys {
            let entry = map.entry(key.clone()).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= FAILURE_WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    fn clear_failures(&self, key: &str) {
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The secret that follows ticket `id` at `/t/{track}`: its id and a keyed MAC of it.
    pub fn track_for(&self, id: TicketId) -> String {
        format!("{id}-{}", hex(&self.track_mac(id)[..10]))
    }

    /// The ticket a track secret stands for, if it is genuine.
    pub fn verify_track(&self, track: &str) -> Option<TicketId> {
        let (id, mac) = track.split_once('-')?;
        let id: TicketId = id.parse().ok()?;
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

/// An argon2 hash of a random password, verified against for unknown user names so that a
/// wrong name costs as much time as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_password()).unwrap_or_default())
}
