//! Database access: the pool, migrations, the managed local cluster, and one
//! file of named query functions per table group.

pub mod anonymous;
pub mod api_tokens;
pub mod audit;
pub mod auditors;
pub mod compliance;
pub mod cursor;
pub mod demo;
pub mod evidence;
pub mod evidence_log;
pub mod housekeeping;
pub mod invites;
pub mod managed;
pub mod mfa;
pub mod migrate;
pub mod notifications;
pub mod orgs;
pub mod outbox;
pub mod packs;
pub mod rate_limits;
pub mod reports;
pub mod roles;
pub mod sessions;
pub mod sql;
pub mod todo;
pub mod transfers;
pub mod users;
pub mod verifications;

use std::time::Duration;

use anyhow::{Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::config::Config;
use managed::{Cluster, ClusterOptions};

/// The pool plus, when the portal runs its own PostgreSQL, that cluster.
#[derive(Debug)]
pub struct Database {
    /// Connections of the runtime role ([`roles`]), for everything but migrations.
    pub pool: Pool,
    /// The runtime role's connection settings (the pool's).
    pub pg_config: tokio_postgres::Config,
    /// The tables' owner, for migrations: `PORTAL_MIGRATION_DATABASE_URL`,
    /// else `DATABASE_URL`; the `portal` superuser of the managed cluster.
    pub migration_config: tokio_postgres::Config,
    cluster: Option<Cluster>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or brings up the managed cluster in the
    /// data dir and connects to its `portal` database (created on first
    /// use) as its runtime role `portal_app` (made on first use).
    pub async fn open(config: &Config) -> Result<Database> {
        match &config.database_url {
            Some(url) => {
                let pg_config: tokio_postgres::Config = url
                    .expose()
                    .parse()
                    .context("DATABASE_URL is not a valid connection string")?;
                let migration_config = match &config.migration_database_url {
                    Some(url) => url.expose().parse().context(
                        "PORTAL_MIGRATION_DATABASE_URL is not a valid connection string",
                    )?,
                    None => pg_config.clone(),
                };
                Ok(Database {
                    pool: pool(pg_config.clone(), 16, Some(config.statement_timeout)),
                    pg_config,
                    migration_config,
                    cluster: None,
                })
            }
            None => {
                let data_dir = config.data_dir.clone();
                let cluster = tokio::task::spawn_blocking(move || {
                    Cluster::ensure(&data_dir, &ClusterOptions::default())
                })
                .await
                .context("the cluster start-up task panicked")??;
                create_database_if_missing(&cluster, managed::DATABASE).await?;
                let migration_config = cluster.pg_config(managed::DATABASE);
                let owner = connect(&migration_config).await?;
                roles::ensure(&owner, roles::MANAGED_RUNTIME_ROLE)
                    .await
                    .map_err(|e| anyhow::anyhow!("creating the runtime database role: {e}"))?;
                let mut pg_config = migration_config.clone();
                pg_config.user(roles::MANAGED_RUNTIME_ROLE);
                Ok(Database {
                    pool: pool(pg_config.clone(), 16, Some(config.statement_timeout)),
                    pg_config,
                    migration_config,
                    cluster: Some(cluster),
                })
            }
        }
    }

    /// Applies pending migrations as the owner, then grants the runtime
    /// role what it needs on the (possibly new) tables, unless it is the
    /// owner itself.
    pub async fn migrate(&self) -> Result<migrate::MigrationReport> {
        let report = migrate::run(&self.migration_config).await?;
        let role = self.runtime_privileges().await?;
        let owner = connect(&self.migration_config).await?;
        let owner_role: String = owner.query_one("SELECT current_user::text", &[]).await?.get(0);
        if role.role != owner_role && !role.superuser {
            roles::grant(&owner, &role.role).await.map_err(|e| {
                anyhow::anyhow!("granting the runtime role {:?} its rights: {e}", role.role)
            })?;
        }
        Ok(report)
    }

    /// What the runtime role may do beyond its rights (after [`Self::migrate`]).
    pub async fn runtime_privileges(&self) -> Result<roles::Privileges> {
        let runtime = self.pool.get().await.context("connecting as the runtime role")?;
        roles::inspect(&**runtime)
            .await
            .map_err(|e| anyhow::anyhow!("reading the runtime role's privileges: {e}"))
    }

    /// Closes the pool and stops the managed cluster if this process started it.
    pub async fn shutdown(self) -> Result<()> {
        self.pool.close();
        if let Some(cluster) = self.cluster {
            tokio::task::spawn_blocking(move || cluster.stop())
                .await
                .context("the cluster stop task panicked")??;
        }
        Ok(())
    }

    /// A human-readable description of where the data lives (no secrets).
    pub fn describe(&self) -> String {
        match &self.cluster {
            Some(c) => format!(
                "managed PostgreSQL in {} (psql -h {} -U {} {})",
                c.pg_dir.display(),
                c.socket_dir.display(),
                managed::USER,
                managed::DATABASE
            ),
            None => {
                let hosts: Vec<String> = self
                    .pg_config
                    .get_hosts()
                    .iter()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(s) => s.clone(),
                        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                    })
                    .collect();
                format!(
                    "PostgreSQL at {} (database {})",
                    hosts.join(","),
                    self.pg_config.get_dbname().unwrap_or("default")
                )
            }
        }
    }
}

/// A connection pool for `pg_config`. With `statement_timeout` every
/// connection it makes cancels any statement running longer (the request
/// then answers 503); waiting for a connection is bounded too (10 s).
pub fn pool(
    mut pg_config: tokio_postgres::Config,
    max_size: usize,
    statement_timeout: Option<Duration>,
) -> Pool {
    if pg_config.get_connect_timeout().is_none() {
        pg_config.connect_timeout(Duration::from_secs(5));
    }
    let manager = Manager::from_config(
        pg_config,
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    let mut builder = Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1);
    if let Some(limit) = statement_timeout {
        // A session setting made once per connection, not a startup
        // option: poolers such as PgBouncer refuse unknown startup options.
        let set = format!("SET statement_timeout = {}", limit.as_millis());
        builder = builder.post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
            let set = set.clone();
            Box::pin(async move {
                client.batch_execute(&set).await.map_err(deadpool_postgres::HookError::Backend)
            })
        }));
    }
    builder.build().expect("pool settings are static and valid")
}

/// Opens one connection outside any pool; its task ends when the client drops.
pub async fn connect(pg_config: &tokio_postgres::Config) -> Result<tokio_postgres::Client> {
    let (client, connection) =
        pg_config.connect(NoTls).await.context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}

async fn create_database_if_missing(cluster: &Cluster, name: &str) -> Result<()> {
    let client = connect(&cluster.pg_config("postgres")).await?;
    let exists =
        client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        match client.batch_execute(&sql).await {
            Ok(()) => tracing::info!(database = name, "created database"),
            // Another portal created it between our check and our CREATE.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(e).context("creating the portal database"),
        }
    }
    Ok(())
}

/// `c` as a libpq key=value connection string (usable as `DATABASE_URL`).
pub fn conninfo(c: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = Vec::new();
    for host in c.get_hosts() {
        let h = match host {
            Host::Tcp(h) => h.clone(),
            Host::Unix(p) => p.display().to_string(),
        };
        parts.push(format!("host={}", quote(&h)));
    }
    if let Some(port) = c.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = c.get_user() {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(pw) = c.get_password() {
        parts.push(format!("password={}", quote(&String::from_utf8_lossy(pw))));
    }
    if let Some(db) = c.get_dbname() {
        parts.push(format!("dbname={}", quote(db)));
    }
    parts.join(" ")
}

/// Quotes an SQL identifier (for the few statements that cannot take parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The readiness probe's own connection, made by the pool's manager but
/// never taken from the pool: a load balancer asking "is the database
/// reachable?" must not queue behind requests for a busy pool (during an
/// ingest burst it would hear "no" from a working instance and eject it).
#[derive(Default)]
pub struct Probe {
    client: tokio::sync::Mutex<Option<deadpool_postgres::ClientWrapper>>,
}

/// How long a probe waits for the database, connecting included.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Probe {
    /// True when the database answers a trivial query within
    /// [`PROBE_TIMEOUT`]. Probes take turns on the one connection; a dead
    /// or silent one is dropped and made again by the next probe.
    pub async fn is_ready(&self, pool: &Pool) -> bool {
        use deadpool::managed::Manager as _;
        let deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
        let Ok(mut slot) = tokio::time::timeout_at(deadline, self.client.lock()).await else {
            return false;
        };
        if slot.as_ref().is_none_or(|c| c.is_closed()) {
            *slot = match tokio::time::timeout_at(deadline, pool.manager().create()).await {
                Ok(Ok(client)) => Some(client),
                _ => None,
            };
        }
        let Some(client) = slot.as_ref() else { return false };
        let answered = matches!(
            tokio::time::timeout_at(deadline, client.simple_query("SELECT 1")).await,
            Ok(Ok(_))
        );
        if !answered {
            *slot = None;
        }
        answered
    }
}

/// The distinct values of `column` in `table` for one practice, sorted, at
/// most `max`: a loose index scan (one probe of an index on
/// `(client_org_id, column)` per value), so the cost grows with the number
/// of values, not of rows. `table` and `column` are the caller's constants.
pub async fn distinct_in_org(
    db: &impl tokio_postgres::GenericClient,
    table: &'static str,
    column: &'static str,
    org_id: uuid::Uuid,
    max: i32,
) -> crate::error::AppResult<Vec<String>> {
    let sql = format!(
        "WITH RECURSIVE v(value, n) AS (
              SELECT min({column}), 1 FROM {table} WHERE client_org_id = $1
              UNION ALL
              SELECT (SELECT min(t.{column}) FROM {table} t
                       WHERE t.client_org_id = $1 AND t.{column} > v.value), v.n + 1
                FROM v WHERE v.value IS NOT NULL AND v.n < $2::int)
         SELECT value FROM v WHERE value IS NOT NULL ORDER BY value"
    );
    let rows = db.query(&sql, &[&org_id, &max]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
