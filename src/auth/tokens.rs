//! Secret tokens: 256 bits from the OS CSPRNG, shown to their holder as
//! base64url; the database keeps only HMAC-SHA256(server secret, token), so a
//! leaked table cannot be replayed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// Length of the random part of every token, in bytes.
pub const TOKEN_BYTES: usize = 32;

/// 32 random bytes from the operating system.
pub fn random_bytes() -> [u8; TOKEN_BYTES] {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
    bytes
}

/// A fresh token as its holder sees it (43 base64url characters).
pub fn generate() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes())
}

/// The value stored in the database for `token`.
pub fn hash(secret: &Secret<Vec<u8>>, token: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose())
        .expect("HMAC accepts keys of any length");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What `Debug` shows in place of a token, password or secret-bearing body.
pub const REDACTED: &str = "<redacted>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_url_safe() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn the_stored_hash_depends_on_the_server_secret() {
        let s1 = Secret::new(vec![1u8; 32]);
        let s2 = Secret::new(vec![2u8; 32]);
        assert_eq!(hash(&s1, "t"), hash(&s1, "t"));
        assert_ne!(hash(&s1, "t"), hash(&s2, "t"));
        assert_ne!(hash(&s1, "t"), hash(&s1, "u"));
    }
}
