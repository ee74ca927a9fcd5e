//! Schema migrations (refinery, files in `sql/`), serialized across
//! instances with a PostgreSQL advisory lock.

use anyhow::{Context, Result};

refinery::embed_migrations!("sql");

/// Arbitrary constant naming the migration lock ("osiris" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f73_6972_6973;

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<String>,
}

/// Applies pending migrations. Safe to run from several instances at once:
/// they queue on an advisory lock, and later ones find nothing to do.
/// A dedicated connection carries the lock, so it is released even if this
/// task fails half-way (the connection closes with the client).
pub async fn run(pg_config: &tokio_postgres::Config) -> Result<MigrationReport> {
    run_to(pg_config, None).await
}

/// [`run`] up to migration `version` (all when None): for tests of a
/// migration's data changes.
#[doc(hidden)]
pub async fn run_to(
    pg_config: &tokio_postgres::Config,
    version: Option<u16>,
) -> Result<MigrationReport> {
    let mut client = super::connect(pg_config).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("taking the migration lock")?;
    let target = version.map_or(refinery::Target::Latest, |v| refinery::Target::Version(v.into()));
    let report = migrations::runner()
        .set_abort_divergent(true)
        .set_target(target)
        .run_async(&mut client)
        .await
        .context("applying database migrations")?;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .context("releasing the migration lock")?;
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect();
    for name in &applied {
        tracing::info!(migration = %name, "applied migration");
    }
    Ok(MigrationReport { applied })
}
