//! Running the portal: server secret, listener, graceful shutdown.

use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};

use crate::auth::tokens;
use crate::config::{Config, MIN_SECRET_LEN, Secret};
use crate::state::{AppState, Mode};

/// How long in-flight requests get to finish after a shutdown signal.
pub const GRACE_PERIOD: Duration = Duration::from_secs(30);

const SECRET_FILE: &str = "session-secret";

/// The server secret: `PORTAL_SESSION_SECRET`, or one generated on first run
/// and kept (mode 0600) in the data dir, so sessions survive restarts.
pub fn load_secret(config: &Config, mode: Mode) -> Result<Secret<Vec<u8>>> {
    let secret = resolve_secret(config)?;
    if config.session_secret.is_none() && mode != Mode::Demo {
        tracing::warn!(
            "PORTAL_SESSION_SECRET is not set; using the generated secret in {}. Set it \
             explicitly (openssl rand -hex 32) when several instances share a database.",
            config.data_path(SECRET_FILE).display()
        );
    }
    Ok(secret)
}

/// The server secret, as the server would use it, without start-up advice
/// (for operator commands that mint tokens the server must accept).
pub fn resolve_secret(config: &Config) -> Result<Secret<Vec<u8>>> {
    match &config.session_secret {
        Some(secret) => Ok(secret.clone()),
        None => read_or_create_secret(&config.data_path(SECRET_FILE)),
    }
}

fn read_or_create_secret(path: &Path) -> Result<Secret<Vec<u8>>> {
    let text = read_or_create(path, || hex::encode(tokens::random_bytes()))?;
    if text.len() < MIN_SECRET_LEN {
        bail!(
            "{} holds a secret shorter than {MIN_SECRET_LEN} characters; delete it to generate a new one \
             (this signs everybody out)",
            path.display()
        );
    }
    Ok(Secret::new(text.into_bytes()))
}

const LOG_SEED_FILE: &str = "log-seed";

/// The master seed of the practices' log keys: `PORTAL_LOG_SEED`, or one
/// generated on first run and kept (mode 0600) in the data dir. It never
/// enters the database, so someone who can write the database cannot sign
/// a checkpoint. Losing it means new log keys: every checkpoint a practice
/// kept would stop verifying, so back it up with the data dir.
pub fn load_log_seed(config: &Config) -> Result<Secret<[u8; 32]>> {
    if let Some(seed) = &config.log_seed {
        return Ok(seed.clone());
    }
    let path = config.data_path(LOG_SEED_FILE);
    let text = read_or_create(&path, || hex::encode(tokens::random_bytes()))?;
    crate::config::parse_seed(&text).map(Secret::new).ok_or_else(|| {
        anyhow::anyhow!(
            "{} does not hold 64 hex characters. Restore it from a backup: a new seed gives every \
             practice a new log key, and the checkpoints they kept would no longer verify",
            path.display()
        )
    })
}

/// The trimmed text of `path`, which is created (mode 0600, never
/// overwritten) with `generate()` when it does not exist.
fn read_or_create(path: &Path, generate: impl FnOnce() -> String) -> Result<String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            let text = generate();
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(text.trim().to_owned())
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Binds the listening socket, with an error that says what to do when the
/// address is taken.
pub async fn bind(addr: SocketAddr) -> Result<TcpAcceptor> {
    TcpListener::bind(addr).into_acceptor().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "PORTAL_BIND: {addr} is already in use (another portal?). Stop that process or \
                 choose another address, e.g. PORTAL_BIND=127.0.0.1:{}",
                addr.port().wrapping_add(1).max(1024)
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot listen on {addr} (PORTAL_BIND)"))
        }
    })
}

/// The local address of a bound acceptor (port 0 resolved).
pub fn local_addr(acceptor: &TcpAcceptor) -> Option<SocketAddr> {
    acceptor.local_addr().into_iter().find_map(|a| a.as_socket_addr().copied())
}

/// Serves until `shutdown` resolves, then stops accepting connections and
/// gives requests in flight [`GRACE_PERIOD`] to finish.
pub async fn run(
    acceptor: TcpAcceptor,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(crate::app(state), shutdown, Some(GRACE_PERIOD))
        .await
        .context("the HTTP server failed")
}

/// Resolves at the first Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: no new connections; finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp_dir() -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("portal-secret-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_generated_secret_is_private_and_kept_across_restarts() {
        let dir = temp_dir();
        let path = dir.join(SECRET_FILE);
        let first = read_or_create_secret(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(first.expose().len(), 64, "32 random bytes, hex");
        let second = read_or_create_secret(&path).unwrap();
        assert_eq!(first, second);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_truncated_secret_file_is_refused_with_advice() {
        let dir = temp_dir();
        let path = dir.join(SECRET_FILE);
        std::fs::write(&path, "short").unwrap();
        let err = read_or_create_secret(&path).unwrap_err().to_string();
        assert!(err.contains("delete it to generate a new one"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn config_in(dir: &Path, seed: Option<&str>) -> Config {
        let args = crate::config::ConfigArgs {
            data_dir: Some(dir.to_owned()),
            log_seed: seed.map(str::to_owned),
            ..Default::default()
        };
        Config::from_args(&args).unwrap()
    }

    #[test]
    fn the_log_seed_is_generated_once_privately_unless_given() {
        let dir = temp_dir();
        let first = load_log_seed(&config_in(&dir, None)).unwrap();
        let path = dir.join(LOG_SEED_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_log_seed(&config_in(&dir, None)).unwrap(), first, "kept across restarts");
        let given = load_log_seed(&config_in(&dir, Some(&"07".repeat(32)))).unwrap();
        assert_eq!(*given.expose(), [7; 32], "PORTAL_LOG_SEED wins over the file");
        std::fs::write(&path, "not a seed").unwrap();
        let err = load_log_seed(&config_in(&dir, None)).unwrap_err().to_string();
        assert!(err.contains("Restore it from a backup"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
