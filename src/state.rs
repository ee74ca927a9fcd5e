//! Shared application state, cheap to clone into every request.

use std::sync::Arc;

use deadpool_postgres::Pool;

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
    secret: Secret<Vec<u8>>,
    mode: Mode,
    mail: MailWaker,
}

impl AppState {
    pub fn new(pool: Pool, config: Config, secret: Secret<Vec<u8>>, mode: Mode) -> Self {
        Self { inner: Arc::new(Inner { pool, config, secret, mode, mail: MailWaker::new() }) }
    }

    /// The same state with a changed configuration (tests: the real port).
    pub fn with_config(&self, config: Config) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(Inner {
                pool: i.pool.clone(),
                config,
                secret: i.secret.clone(),
                mode: i.mode,
                mail: i.mail.clone(),
            }),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The server secret keying every token hash.
    pub fn secret(&self) -> &Secret<Vec<u8>> {
        &self.inner.secret
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
}
