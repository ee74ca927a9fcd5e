//! Shared application state, cheap to clone into every request.

use std::sync::Arc;

use deadpool_postgres::Pool;
use uuid::Uuid;

use crate::config::{Config, Secret};
use crate::mail::MailWaker;

/// Whether the portal runs as a demo (dev mailbox, seeded data) or for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Demo,
}

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: Config,
    secrets: Secrets,
    mode: Mode,
    mail: MailWaker,
    /// Wakes the magic-link worker ([`crate::auth::flows::spawn_link_worker`]).
    links: Arc<tokio::sync::Notify>,
    /// Practices whose evidence log this process has seen exist (a log,
    /// once made, is never removed), so an ingest need not look.
    known_logs: Arc<std::sync::RwLock<std::collections::HashSet<Uuid>>>,
    /// This process's ingest limits.
    ingest_limits: Arc<crate::evidence::limits::IngestLimits>,
    /// The readiness probe's connection (outside the pool).
    probe: Arc<crate::db::Probe>,
}

/// What the server keeps outside the database.
#[derive(Clone)]
pub struct Secrets {
    /// Keys every token hash.
    pub session: Secret<Vec<u8>>,
    /// Derives each practice's evidence-log signing key.
    pub log_seed: Secret<[u8; 32]>,
}

impl AppState {
    pub fn new(pool: Pool, config: Config, secrets: Secrets, mode: Mode) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                secrets,
                mode,
                mail: MailWaker::new(),
                links: Default::default(),
                known_logs: Default::default(),
                probe: Default::default(),
                ingest_limits: Arc::new(crate::evidence::limits::IngestLimits::new(
                    config.ingest_per_site,
                )),
                config,
            }),
        }
    }

    /// The same state with a changed configuration (tests: the real port).
    pub fn with_config(&self, config: Config) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(Inner {
                pool: i.pool.clone(),
                secrets: i.secrets.clone(),
                mode: i.mode,
                mail: i.mail.clone(),
                links: i.links.clone(),
                known_logs: i.known_logs.clone(),
                probe: i.probe.clone(),
                ingest_limits: Arc::new(crate::evidence::limits::IngestLimits::new(
                    config.ingest_per_site,
                )),
                config,
            }),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Whether the database answers, asked on a connection of its own.
    pub async fn database_ready(&self) -> bool {
        self.inner.probe.is_ready(&self.inner.pool).await
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The server secret keying every token hash.
    pub fn secret(&self) -> &Secret<Vec<u8>> {
        &self.inner.secrets.session
    }

    /// This process's ingest limits.
    pub fn ingest_limits(&self) -> &crate::evidence::limits::IngestLimits {
        &self.inner.ingest_limits
    }

    /// Whether practice `org_id` is known to have an evidence log.
    pub fn log_known(&self, org_id: Uuid) -> bool {
        self.inner.known_logs.read().unwrap_or_else(|p| p.into_inner()).contains(&org_id)
    }

    /// Notes that practice `org_id` has an evidence log (committed).
    pub fn note_log(&self, org_id: Uuid) {
        self.inner.known_logs.write().unwrap_or_else(|p| p.into_inner()).insert(org_id);
    }

    /// The signer of practice `org_id`'s log checkpoints, named by the
    /// log's origin.
    pub fn log_signer(
        &self,
        org_id: Uuid,
        origin: &str,
    ) -> crate::error::AppResult<crate::log::note::NoteSigner> {
        let key = crate::log::keys::log_key(self.inner.secrets.log_seed.expose(), org_id);
        crate::log::note::NoteSigner::new(origin, key).map_err(crate::error::AppError::internal)
    }

    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// Hands this to the mail worker so requests can wake it.
    pub fn mail_waker(&self) -> MailWaker {
        self.inner.mail.clone()
    }

    /// Tells the mail worker that new mail is waiting (call after commit).
    pub fn wake_mailer(&self) {
        self.inner.mail.wake();
    }

    /// What the magic-link worker waits on.
    pub fn link_waker(&self) -> Arc<tokio::sync::Notify> {
        self.inner.links.clone()
    }

    /// Tells the magic-link worker a request is queued (call after commit).
    pub fn wake_link_worker(&self) {
        self.inner.links.notify_one();
    }
}
