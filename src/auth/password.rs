//! Optional passwords: argon2id, at least 12 characters. Verification of an
//! unknown account still runs one argon2 computation, so timing does not tell
//! whether an email exists. At most [`max_concurrent`] hashes run at once,
//! portal-wide.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{AppError, AppResult};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;

/// Checks a new password's length (in characters, not bytes).
pub fn validate(password: &str) -> AppResult<()> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(AppError::BadRequest(format!(
            "the password must be at least {MIN_LEN} characters long"
        )));
    }
    if n > MAX_LEN {
        return Err(AppError::BadRequest(format!(
            "the password must be at most {MAX_LEN} characters long"
        )));
    }
    Ok(())
}

/// argon2id PHC string with a fresh random salt.
pub fn hash(password: &str) -> AppResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("hashing a password: {e}")))
}

/// True when `password` matches the stored PHC string.
pub fn verify(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Burns the time of one verification, for accounts without a password.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored =
        DUMMY.get_or_init(|| hash("dummy password for constant-time failures").unwrap_or_default());
    let _ = verify(stored, password);
}

/// Hashes running at once, portal-wide: argon2 takes ~20 MiB and a core
/// for tens of milliseconds each, and anyone can ask for one (a password
/// sign-in attempt). Beyond this many, requests wait their turn.
pub fn max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// How long a request waits for a turn before it is told to come back.
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);

fn turns() -> &'static Semaphore {
    static TURNS: OnceLock<Semaphore> = OnceLock::new();
    TURNS.get_or_init(|| Semaphore::new(max_concurrent()))
}

/// A turn at hashing, or a 429 once [`QUEUE_WAIT`] has passed (the portal
/// is busy with others' sign-ins: the cap keeps them from taking every core
/// and all memory).
pub async fn turn() -> AppResult<SemaphorePermit<'static>> {
    match tokio::time::timeout(QUEUE_WAIT, turns().acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(AppError::TooManyRequests {
            message: "the portal is busy checking other sign-ins; try again in a few seconds"
                .into(),
            retry_after_secs: 5,
        }),
    }
}

/// Hashes running right now (for tests and metrics).
pub fn in_flight() -> usize {
    max_concurrent() - turns().available_permits()
}

/// Hashing is CPU-heavy: keep it off the async workers, one [`turn`] each.
pub async fn hash_blocking(password: String) -> AppResult<String> {
    let _turn = turn().await?;
    tokio::task::spawn_blocking(move || hash(&password)).await.map_err(AppError::internal)?
}

pub async fn verify_blocking(stored: Option<String>, password: String) -> AppResult<bool> {
    let _turn = turn().await?;
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify(&stored, &password),
        None => {
            verify_dummy(&password);
            false
        }
    })
    .await
    .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every turn taken, the next hash waits [`QUEUE_WAIT`] and is a
    /// 429; a turn given back lets the next one in. (Paused time: the wait
    /// passes at once.)
    #[tokio::test(start_paused = true)]
    async fn hashing_takes_turns_and_a_long_queue_is_told_to_come_back() {
        let mut held = Vec::new();
        for _ in 0..max_concurrent() {
            held.push(turn().await.unwrap());
        }
        assert_eq!(in_flight(), max_concurrent());
        let started = tokio::time::Instant::now();
        match verify_blocking(None, "a password attempt".into()).await {
            Err(AppError::TooManyRequests { retry_after_secs, .. }) => {
                assert!(retry_after_secs > 0)
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        assert!(started.elapsed() >= QUEUE_WAIT, "it waited its turn first");
        held.pop();
        assert!(turn().await.is_ok(), "a turn given back is the next one's");
    }

    #[test]
    fn passwords_round_trip_and_wrong_ones_fail() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(&stored, "correct horse battery"));
        assert!(!verify(&stored, "correct horse batterY"));
        assert!(!verify("not a hash", "x"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate("elevenchars").is_err());
        assert!(validate("twelve chars").is_ok());
        assert!(validate("ééééééééééé").is_err(), "characters, not bytes");
    }
}
