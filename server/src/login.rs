//! What stands between a login form and the password hashes: attempt counting and a small,
//! fixed pool of password-checking threads.
//!
//! # The scheme
//!
//! - An attempt is counted *before* its password is checked, under one lock, so a burst of
//!   parallel attempts cannot slip past the limit while the first ones are still hashing.
//! - Failures are limited per (user name, address) — [`MAX_FAILURES_PER_PAIR`] — and per
//!   address over all names — [`MAX_FAILURES_PER_ADDR`] — in a [`FAILURE_WINDOW`]. Only that
//!   address is refused (429 with `Retry-After`): nobody on the LAN can lock `admin` out for
//!   the admin at another desk.
//! - A user name that fails from many addresses (past [`SLOW_AFTER_USER_FAILURES`] in the
//!   window) is slowed for everyone rather than locked: each further check of it waits
//!   [`SLOW_DOWN`] first.
//! - Password checks run on [`CHECKERS`] dedicated threads (argon2 takes ~19 MiB and tens of
//!   milliseconds each); a login that cannot get a checker within [`CHECK_WAIT`] answers 503
//!   with `Retry-After`. Memory stays flat under a flood: at most that many hashes are
//!   computed at once, always on the same threads.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::ApiError;

/// Failed logins allowed per (user name, address) in one window.
pub const MAX_FAILURES_PER_PAIR: u32 = 5;
/// Failed logins allowed per address, over all user names, in one window.
pub const MAX_FAILURES_PER_ADDR: u32 = 20;
/// Failures of one user name, over all addresses, after which its checks are slowed.
pub const SLOW_AFTER_USER_FAILURES: u32 = 30;
/// The extra wait of each check of a slowed user name.
pub const SLOW_DOWN: Duration = Duration::from_secs(1);
/// Length of the failure window.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Password-checking threads: argon2 with the default parameters holds ~19 MiB while it runs.
pub const CHECKERS: usize = 2;
/// Longest wait for a free checker before the login is answered 503.
pub const CHECK_WAIT: Duration = Duration::from_secs(3);
/// Bound on the limiter's memory (keys of three kinds).
const MAX_KEYS: usize = 30_000;

/// Counts login attempts per key with a window each.
#[derive(Default)]
pub struct LoginLimiter {
    counts: Mutex<HashMap<String, (u32, Instant)>>,
}

/// An attempt that was counted before its check. [`Attempt::succeeded`] takes the count back;
/// an attempt dropped without a verdict (its check never ran) is taken back too.
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    keys: [String; 3],
    /// Whether checks of this user name are being slowed.
    pub slowed: bool,
    settled: bool,
}

impl LoginLimiter {
    /// Counts an attempt by `username` from `addr`, or refuses it with a 429.
    pub fn begin(&self, username: &str, addr: IpAddr) -> Result<Attempt<'_>, ApiError> {
        // Names are kept as short digests: a name can be as long as a request body.
        let name =
            crate::auth::hex(&<sha2::Sha256 as sha2::Digest>::digest(username.as_bytes())[..12]);
        let keys = [
            format!("pair:{addr}\u{0}{name}"),
            format!("addr:{addr}"),
            format!("user:{name}"),
        ];
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let current = |map: &HashMap<String, (u32, Instant)>, key: &str| match map.get(key) {
            Some((n, since)) if now.duration_since(*since) < FAILURE_WINDOW => (*n, *since),
            _ => (0, now),
        };
        for (key, max) in keys[..2]
            .iter()
            .zip([MAX_FAILURES_PER_PAIR, MAX_FAILURES_PER_ADDR])
        {
            let (n, since) = current(&map, key);
            if n >= max {
                let wait = FAILURE_WINDOW
                    .saturating_sub(now.duration_since(since))
                    .as_secs()
                    .max(1);
                return Err(ApiError::TooManyRequests(wait));
            }
        }
        if map.len() >= MAX_KEYS {
            prune(&mut map, now);
        }
        let mut slowed = false;
        for (i, key) in keys.iter().enumerate() {
            let (n, since) = current(&map, key);
            map.insert(key.clone(), (n + 1, since));
            if i == 2 {
                slowed = n >= SLOW_AFTER_USER_FAILURES;
            }
        }
        Ok(Attempt {
            limiter: self,
            keys,
            slowed,
            settled: false,
        })
    }

    fn take_back(&self, keys: &[String]) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some((n, _)) = map.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
    }

    fn forget(&self, key: &str) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Drops expired keys; if still full, the oldest half, so the map never grows past its bound.
fn prune(map: &mut HashMap<String, (u32, Instant)>, now: Instant) {
    map.retain(|_, (_, since)| now.duration_since(*since) < FAILURE_WINDOW);
    if map.len() >= MAX_KEYS {
        let mut ages: Vec<Instant> = map.values().map(|(_, s)| *s).collect();
        ages.sort();
        let cut = ages[ages.len() / 2];
        map.retain(|_, (_, since)| *since > cut);
    }
}

impl Attempt<'_> {
    /// The password was right: this attempt is not a failure, and the pair starts afresh.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.limiter.take_back(&self.keys[1..]);
        self.limiter.forget(&self.keys[0]);
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.limiter.take_back(&self.keys);
        }
    }
}

/// Work for a checker thread.
enum Work {
    /// `phc: None` is an unknown user name: checked against the checker's own hash of a
    /// random password, so it costs the same time.
    Verify {
        password: String,
        phc: Option<String>,
    },
    Hash {
        password: String,
    },
}

enum Done {
    Verified(bool),
    Hashed(Result<String, ApiError>),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Done>,
    /// Held until the work is done, even if the caller stops waiting, so the number of
    /// hashes in progress never exceeds the number of threads.
    _permit: OwnedSemaphorePermit,
}

/// A fixed pool of threads that hash and verify passwords.
pub struct PasswordPool {
    free: Arc<Semaphore>,
    jobs: mpsc::SyncSender<Job>,
}

impl PasswordPool {
    /// Starts [`CHECKERS`] threads.
    pub fn start() -> std::io::Result<PasswordPool> {
        // One slot per thread: a job is sent only while holding a permit, so it never waits.
        let (jobs, rx) = mpsc::sync_channel::<Job>(CHECKERS);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..CHECKERS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("luot-password-{i}"))
                .spawn(move || {
                    let mut checker = Checker::default();
                    loop {
                        let job = {
                            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                            rx.recv()
                        };
                        let Ok(job) = job else { break };
                        let done = match job.work {
                            Work::Verify { password, phc } => {
                                let phc = phc.unwrap_or_else(|| checker.dummy());
                                Done::Verified(checker.verify(&password, &phc))
                            }
                            Work::Hash { password } => Done::Hashed(checker.hash(&password)),
                        };
                        let _ = job.reply.send(done);
                    }
                })?;
        }
        Ok(PasswordPool {
            free: Arc::new(Semaphore::new(CHECKERS)),
            jobs,
        })
    }

    async fn run(&self, work: Work) -> Result<Done, ApiError> {
        let busy = || ApiError::Busy("too many logins at once; try again in a moment".into());
        let permit = tokio::time::timeout(CHECK_WAIT, self.free.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| ApiError::Internal)?;
        let (reply, rx) = oneshot::channel();
        self.jobs
            .try_send(Job {
                work,
                reply,
                _permit: permit,
            })
            .map_err(|_| busy())?;
        rx.await.map_err(|_| ApiError::Internal)
    }

    /// Checks a password against an argon2 PHC string (`None`: an unknown user name, which
    /// takes as long and is never right).
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, ApiError> {
        match self.run(Work::Verify { password, phc }).await? {
            Done::Verified(ok) => Ok(ok),
            Done::Hashed(_) => Err(ApiError::Internal),
        }
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        match self.run(Work::Hash { password }).await? {
            Done::Hashed(result) => result,
            Done::Verified(_) => Err(ApiError::Internal),
        }
    }
}

/// One checker thread's argon2 working memory, allocated once and reused for every hash, so
/// the process's memory does not depend on how many logins arrive.
#[derive(Default)]
struct Checker {
    memory: Vec<Block>,
    /// A hash of a random password, for unknown user names.
    dummy: Option<String>,
}

impl Checker {
    fn dummy(&mut self) -> String {
        if self.dummy.is_none() {
            self.dummy = self.hash(&crate::auth::random_password()).ok();
        }
        self.dummy.clone().unwrap_or_default()
    }

    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.memory.len() < n {
            self.memory.resize(n, Block::default());
        }
        &mut self.memory[..n]
    }

    /// Whether `password` matches the argon2 PHC string `phc`.
    fn verify(&mut self, password: &str, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) =
            (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
        else {
            return false;
        };
        let version = match hash.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params.clone());
        argon2
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                self.blocks(&params),
            )
            .is_ok()
            && crate::auth::constant_time_eq(&out, expected.as_bytes())
    }

    /// A new argon2id PHC string for `password`, with the default parameters and a random
    /// salt.
    fn hash(&mut self, password: &str) -> Result<String, ApiError> {
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|_| ApiError::Internal)?;
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_buf)
            .map_err(|_| ApiError::Internal)?;
        let params = Params::default();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt_bytes,
                &mut out,
                self.blocks(&params),
            )
            .map_err(|_| ApiError::Internal)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|_| ApiError::Internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|_| ApiError::Internal)?),
        };
        Ok(phc.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reusing checker verifies what the argon2 crate hashed, hashes what it verifies,
    /// and refuses a wrong password.
    #[test]
    fn the_checker_agrees_with_argon2() {
        let mut checker = Checker::default();
        let phc = crate::auth::hash_password("mật khẩu").unwrap_or_default();
        assert!(checker.verify("mật khẩu", &phc));
        assert!(!checker.verify("mat khau", &phc));
        let own = checker.hash("mật khẩu").unwrap_or_default();
        assert!(crate::auth::verify_password("mật khẩu", &own));
        assert!(checker.verify("mật khẩu", &own));
        assert!(!checker.verify("mật khẩu", "not a hash"));
    }

    /// Parallel attempts are counted before any is checked: the sixth of one pair is refused
    /// even while the first five are still in progress.
    #[test]
    fn attempts_count_before_their_check() {
        let limiter = LoginLimiter::default();
        let addr: IpAddr = [10, 0, 0, 7].into();
        let pending: Vec<_> = (0..MAX_FAILURES_PER_PAIR)
            .map(|_| limiter.begin("admin", addr).ok())
            .collect();
        assert!(pending.iter().all(Option::is_some));
        assert!(limiter.begin("admin", addr).is_err());
        // The same name from another address is not locked out.
        let other: IpAddr = [10, 0, 0, 8].into();
        limiter.begin("admin", other).map(Attempt::succeeded).ok();
        assert!(limiter.begin("admin", other).is_ok());
        for attempt in pending.into_iter().flatten() {
            attempt.failed();
        }
        assert!(limiter.begin("admin", addr).is_err());
    }

    /// An attempt whose check never ran is taken back; a success clears its pair.
    #[test]
    fn unsettled_attempts_are_taken_back() {
        let limiter = LoginLimiter::default();
        let addr: IpAddr = [10, 0, 0, 9].into();
        for _ in 0..10 {
            drop(limiter.begin("lan", addr).ok());
        }
        for _ in 0..MAX_FAILURES_PER_PAIR - 1 {
            limiter.begin("lan", addr).map(Attempt::failed).ok();
        }
        limiter.begin("lan", addr).map(Attempt::succeeded).ok();
        for _ in 0..MAX_FAILURES_PER_PAIR {
            assert!(limiter.begin("lan", addr).map(Attempt::failed).is_ok());
        }
        assert!(limiter.begin("lan", addr).is_err());
    }

    /// Twenty failures from one address over many names block that address only.
    #[test]
    fn an_address_is_limited_over_all_names() {
        let limiter = LoginLimiter::default();
        let addr: IpAddr = [10, 0, 0, 10].into();
        for i in 0..MAX_FAILURES_PER_ADDR {
            assert!(
                limiter
                    .begin(&format!("u{i}"), addr)
                    .map(Attempt::failed)
                    .is_ok()
            );
        }
        assert!(limiter.begin("someone", addr).is_err());
        assert!(limiter.begin("someone", [10, 0, 0, 11].into()).is_ok());
    }

    /// A name failing from many addresses is slowed, never locked.
    #[test]
    fn a_name_failing_everywhere_is_slowed() {
        let limiter = LoginLimiter::default();
        for i in 0..=SLOW_AFTER_USER_FAILURES {
            let addr: IpAddr = [10, 1, (i / 200) as u8, (i % 200) as u8].into();
            let attempt = limiter.begin("admin", addr).map_err(|_| ());
            let Ok(attempt) = attempt else {
                panic!("attempt {i} refused")
            };
            assert_eq!(attempt.slowed, i == SLOW_AFTER_USER_FAILURES);
            attempt.failed();
        }
    }
}
