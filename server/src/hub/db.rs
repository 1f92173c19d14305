//! The hub's PostgreSQL: connecting, and the schema migrations kept in `server/migrations/`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio_postgres::{Client, NoTls};

/// The migrations, in order: (version, name, SQL). A migration is never edited once released;
/// a change of the schema is a new file.
const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "hub", include_str!("../../migrations/0001_hub.sql"))];

/// Key of the advisory lock that serializes migrations between hubs starting together.
const MIGRATION_LOCK: i64 = 0x6c75_6f74_6875_6200;

/// Time to reach PostgreSQL.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection; its I/O runs on a task of its own until the client is dropped.
pub(super) async fn connect(url: &str) -> anyhow::Result<Client> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .with_context(|| "the --postgres URL is not a PostgreSQL connection string")?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("luot-hub");
    let (client, connection) = config
        .connect(NoTls)
        .await
        .with_context(|| "cannot connect to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Brings the schema to this build's version; refuses a database made by a newer hub.
pub(super) async fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS luot_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM luot_migrations ORDER BY version", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if let Some(&newest) = applied.last()
        && newest > known
    {
        bail!(
            "the database's schema is version {newest}, newer than this hub's {known}: upgrade the hub, or point it at another database"
        );
    }
    for &(version, name, sql) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("migration {version} ({name}) failed"))?;
        tx.execute(
            "INSERT INTO luot_migrations (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await?;
        tracing::info!(version, name, "schema migrated");
    }
    tx.commit().await?;
    Ok(())
}

/// A connection for the web handlers, opened again when it breaks.
pub(super) struct Shared {
    url: String,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Shared {
    /// A connection to `url`, opened on first use.
    pub(super) fn new(url: &str) -> Shared {
        Shared {
            url: url.to_owned(),
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The open connection, or a new one.
    pub(super) async fn get(&self) -> anyhow::Result<Arc<Client>> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref()
            && !client.is_closed()
        {
            return Ok(client.clone());
        }
        let client = Arc::new(connect(&self.url).await?);
        *slot = Some(client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migrations are numbered 1, 2, 3… in order, so "applied" is a prefix.
    #[test]
    fn migrations_are_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i as i32 + 1, "{}", m.1);
        }
    }
}
