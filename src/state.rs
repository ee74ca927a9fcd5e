//! Shared application state, cheap to clone into every request.

use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::config::{Config, Secret};

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
}

impl AppState {
    pub fn new(pool: Pool, config: Config, secret: Secret<Vec<u8>>, mode: Mode) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                config,
                secret,
                mode,
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
}
