//! Each practice's log key, derived from one master seed that never enters
//! the database: `HKDF-SHA256(ikm = seed, salt = "osiriscare.log-key/v1",
//! info = "org <uuid>")` gives the 32-byte Ed25519 private key. Someone who
//! can write the database cannot sign a checkpoint.

use ed25519_dalek::SigningKey;
use hkdf::Hkdf;
use sha2::Sha256;
use uuid::Uuid;

const SALT: &[u8] = b"osiriscare.log-key/v1";

/// The log signing key of practice `org_id`.
pub fn log_key(seed: &[u8; 32], org_id: Uuid) -> SigningKey {
    let hk = Hkdf::<Sha256>::new(Some(SALT), seed);
    let mut okm = [0u8; 32];
    let info = format!("org {}", org_id.hyphenated());
    // 32 bytes is far below HKDF-SHA256's 8,160-byte limit.
    hk.expand(info.as_bytes(), &mut okm).expect("32 bytes of HKDF output");
    SigningKey::from_bytes(&okm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869 test case 1, so the derivation is the HKDF everyone means.
    #[test]
    fn hkdf_is_rfc_5869() {
        let ikm = [0x0b; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let mut okm = [0u8; 42];
        Hkdf::<Sha256>::new(Some(&salt), &ikm).expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn each_practice_has_its_own_stable_key() {
        let seed = [42; 32];
        let a = Uuid::parse_str("5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f").unwrap();
        let b = Uuid::parse_str("5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a40").unwrap();
        assert_eq!(log_key(&seed, a).to_bytes(), log_key(&seed, a).to_bytes());
        assert_ne!(log_key(&seed, a).to_bytes(), log_key(&seed, b).to_bytes());
        assert_ne!(log_key(&seed, a).to_bytes(), log_key(&[43; 32], a).to_bytes());
    }
}
