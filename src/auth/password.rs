//! Optional passwords: argon2id, at least 12 characters. Verification of an
//! unknown account still runs one argon2 computation, so timing does not tell
//! whether an email exists.

use std::sync::OnceLock;

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

/// Hashing is CPU-heavy: keep it off the async workers.
pub async fn hash_blocking(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || hash(&password)).await.map_err(AppError::internal)?
}

pub async fn verify_blocking(stored: Option<String>, password: String) -> AppResult<bool> {
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
