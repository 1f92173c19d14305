//! `luot-server hub`: the province's side. A durable consumer of the province's JetStream
//! stream projects every site's log into PostgreSQL (`project`), each site's state is folded
//! by the same engine the site runs (`sites`), and a small web server answers the province's
//! page and API (`web`) with its own accounts and tokens.
//!
//! The sites never depend on the hub: they ship when they can, and the hub catches up from the
//! stream when it can.

use std::sync::{Arc, Mutex};

use anyhow::bail;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::watch;

mod db;
mod project;
mod sites;
mod web;

/// How the hub runs.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// NATS server(s): `nats://HOST:PORT`, commas between the servers of a cluster.
    pub nats: String,
    /// PostgreSQL connection string (`postgres://user:pass@host/db` or `host=… dbname=…`).
    pub postgres: String,
    /// The province's id.
    pub province: String,
    /// Replicas of the stream, when the hub creates it (3 in a three-node cluster).
    pub replicas: usize,
}

/// How the projection is doing, for `/healthz` and the page.
#[derive(Default)]
pub struct Progress {
    inner: Mutex<ProgressView>,
}

/// The projection's progress as shown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProgressView {
    /// Whether the consumer is connected.
    pub connected: bool,
    /// Events applied since the hub started.
    pub projected: u64,
    /// Messages held back (a gap before them) since the hub started.
    pub held_back: u64,
    /// When the last batch was written.
    pub last_batch_at: Option<Timestamp>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<Timestamp>,
}

impl Progress {
    fn with(&self, f: impl FnOnce(&mut ProgressView)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()));
    }
    fn connected(&self) {
        self.with(|p| p.connected = true);
    }
    fn projected(&self, n: usize) {
        self.with(|p| {
            p.projected += n as u64;
            p.last_batch_at = Some(Timestamp::now());
        });
    }
    fn held_back(&self, n: usize) {
        self.with(|p| p.held_back += n as u64);
    }
    fn refused(&self, why: String) {
        self.with(|p| {
            p.last_error = Some(why);
            p.last_error_at = Some(Timestamp::now());
        });
    }
    fn failed(&self, why: String) {
        self.with(|p| {
            p.connected = false;
            p.last_error = Some(why);
            p.last_error_at = Some(Timestamp::now());
        });
    }
    /// A copy of the progress.
    pub fn view(&self) -> ProgressView {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Connects to the database and brings its schema to this build's version.
pub async fn migrate(postgres: &str) -> anyhow::Result<()> {
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await
}

/// Migrates the database, then projects and serves on `listener` until `shutdown`.
pub async fn run(
    config: HubConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut client = db::connect(&config.postgres).await?;
    db::migrate(&mut client).await?;
    drop(client);
    let config = Arc::new(config);
    let sites = Arc::new(sites::Sites::default());
    let progress = Arc::new(Progress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let projector = tokio::spawn(project::run(
        config.clone(),
        sites.clone(),
        progress.clone(),
        stop_rx.clone(),
    ));
    let state = web::HubState::new(config.clone(), sites, progress)?;
    let app = web::app(state);
    web::serve(listener, app, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await;
    let _ = projector.await;
    Ok(())
}

/// Creates a token for the province's API; returns it (shown once).
pub async fn create_token(
    postgres: &str,
    role: &str,
    label: Option<String>,
) -> anyhow::Result<String> {
    check_role(role)?;
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    let token = format!("lh_{}", crate::auth::random_hex(24));
    let id = crate::auth::random_hex(4);
    let label = label.unwrap_or_else(|| format!("{role}-{id}"));
    client
        .execute(
            "INSERT INTO hub_tokens (hash, id, role, label) VALUES ($1, $2, $3, $4)",
            &[&web::secret_hash(&token), &id, &role, &label],
        )
        .await?;
    Ok(token)
}

/// Enrolls a site with a new key, or with `key` (the one it has); a site enrolled already keeps
/// its key, unless `key` differs, which is refused. Returns the key and whether it is new.
pub async fn add_site(
    postgres: &str,
    site: &str,
    key: Option<&str>,
) -> anyhow::Result<(String, bool)> {
    crate::ship::check_id("site", site).map_err(|e| anyhow::anyhow!(e))?;
    let key_given = key.is_some();
    let key = match key {
        Some(key) => crate::ship::check_key(key).map_err(|e| anyhow::anyhow!(e))?,
        None => format!("lk_{}", crate::auth::random_hex(32)),
    };
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    let inserted = client
        .execute(
            "INSERT INTO hub_site_keys (site, key) VALUES ($1, $2) ON CONFLICT (site) DO NOTHING",
            &[&site, &key],
        )
        .await?;
    let row = client
        .query_one("SELECT key FROM hub_site_keys WHERE site = $1", &[&site])
        .await?;
    let stored: String = row.get(0);
    if inserted == 0 && stored != key && key_given {
        bail!("site {site:?} is enrolled with another key; `site remove` it first to change it");
    }
    Ok((stored, inserted == 1))
}

/// The enrolled sites: (id, since).
pub async fn list_sites(postgres: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    Ok(client
        .query(
            "SELECT site, created_at::text FROM hub_site_keys ORDER BY site",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Removes a site's key.
pub async fn remove_site(postgres: &str, site: &str) -> anyhow::Result<()> {
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    let n = client
        .execute("DELETE FROM hub_site_keys WHERE site = $1", &[&site])
        .await?;
    if n == 0 {
        bail!("no site {site:?} is enrolled");
    }
    Ok(())
}

/// Revokes a token, given as itself (`lh_…`) or by its id; returns its label.
pub async fn revoke_token(postgres: &str, token_or_id: &str) -> anyhow::Result<String> {
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    let row = client
        .query_opt(
            "DELETE FROM hub_tokens WHERE hash = $1 OR id = $2 RETURNING label",
            &[&web::secret_hash(token_or_id), &token_or_id],
        )
        .await?;
    match row {
        Some(row) => Ok(row.get(0)),
        None => bail!("no such token"),
    }
}

/// The tokens: (id, role, label, created).
pub async fn list_tokens(postgres: &str) -> anyhow::Result<Vec<(String, String, String, String)>> {
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    Ok(client
        .query(
            "SELECT id, role, label, created_at::text FROM hub_tokens ORDER BY created_at",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}

/// Deletes an account and its sessions.
pub async fn delete_user(postgres: &str, name: &str) -> anyhow::Result<()> {
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    // Sessions go with it (ON DELETE CASCADE).
    let n = client
        .execute("DELETE FROM hub_users WHERE name = $1", &[&name])
        .await?;
    if n == 0 {
        bail!("no account {name:?}");
    }
    Ok(())
}

/// Creates or replaces an account of the province's page.
pub async fn set_user(
    postgres: &str,
    name: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<()> {
    check_role(role)?;
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        bail!("a user name is 1 to 64 characters, without control characters");
    }
    if password.chars().count() < 10 {
        bail!("a password has at least 10 characters");
    }
    let phc = crate::auth::hash_password(password)
        .map_err(|_| anyhow::anyhow!("the password cannot be hashed"))?;
    let mut client = db::connect(postgres).await?;
    db::migrate(&mut client).await?;
    client
        .execute(
            "INSERT INTO hub_users (name, phc, role) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET phc = EXCLUDED.phc, role = EXCLUDED.role",
            &[&name, &phc, &role],
        )
        .await?;
    // A new password ends the sessions of the old one.
    client
        .execute("DELETE FROM hub_sessions WHERE name = $1", &[&name])
        .await?;
    Ok(())
}

fn check_role(role: &str) -> anyhow::Result<()> {
    if !matches!(role, "admin" | "viewer") {
        bail!("unknown role {role:?}; the province's roles are admin and viewer");
    }
    Ok(())
}
