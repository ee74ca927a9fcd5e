//! Authenticator-app codes (TOTP, RFC 6238 over HOTP, RFC 4226): HMAC-SHA1,
//! 6 digits, 30-second steps, one step of clock drift either way. Secrets
//! are 160 random bits, shown to the user in base32 (RFC 4648) and kept
//! sealed with ChaCha20-Poly1305 under a key derived from the server secret.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use uuid::Uuid;

use crate::config::Secret;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps either side of the current one that are accepted.
const DRIFT: i64 = 1;
/// Secret length in bytes (the RFC 4226 recommendation).
pub const SECRET_BYTES: usize = 20;

/// The HOTP value of `counter` (RFC 4226 section 5.3), as 6 digits.
pub fn hotp(secret: &[u8], counter: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let truncated =
        u32::from_be_bytes([mac[offset], mac[offset + 1], mac[offset + 2], mac[offset + 3]])
            & 0x7fff_ffff;
    format!("{:0width$}", truncated % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// The step a Unix time falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP)
}

/// The code for a Unix time.
pub fn code_at(secret: &[u8], unix_secs: i64) -> String {
    hotp(secret, step_of(unix_secs) as u64)
}

/// The step whose code `code` is, among the current one and one either
/// side, if any. Comparison is constant-time per candidate.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let code = normalise_code(code)?;
    let now = step_of(unix_secs);
    let mut found = None;
    for step in (now - DRIFT)..=(now + DRIFT) {
        if step < 0 {
            continue;
        }
        let candidate = hotp(secret, step as u64);
        if equal_in_constant_time(candidate.as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

/// Byte strings of one length compared without an early exit.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A code as typed ("123 456", "123-456") as its 6 digits, or None when it
/// is not 6 digits.
pub fn normalise_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// A fresh secret.
pub fn new_secret() -> [u8; SECRET_BYTES] {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret).expect("the OS random number generator is unavailable");
    secret
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 without padding (what authenticator apps expect).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The secret in groups of four, as a person copies it by hand.
pub fn grouped(secret_base32: &str) -> String {
    secret_base32
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` URI authenticator apps read from the QR code
/// (Google Authenticator's key URI format).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let label = format!("{issuer}:{account}");
    format!(
        "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        percent(&label),
        base32(secret),
        percent(issuer)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The sealing key: HKDF-SHA256 of the server secret for this one purpose.
fn sealing_key(server_secret: &Secret<Vec<u8>>) -> LessSafeKey {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"osiriscare-portal"), server_secret.expose());
    let mut key = [0u8; 32];
    hk.expand(b"mfa totp secret sealing v1", &mut key).expect("32 bytes is a valid HKDF length");
    LessSafeKey::new(
        UnboundKey::new(&aead::CHACHA20_POLY1305, &key).expect("a 32-byte ChaCha20 key"),
    )
}

/// nonce (12 bytes) ‖ ciphertext ‖ tag, bound to `user_id`: a sealed
/// secret moved to another user's row does not open.
pub fn seal(server_secret: &Secret<Vec<u8>>, user_id: Uuid, secret: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    getrandom::fill(&mut nonce).expect("the OS random number generator is unavailable");
    let mut sealed = secret.to_vec();
    sealing_key(server_secret)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(user_id.as_bytes()),
            &mut sealed,
        )
        .expect("sealing a short secret cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// The secret back, or None when the row was not sealed for this user
/// under this server secret.
pub fn open(server_secret: &Secret<Vec<u8>>, user_id: Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() <= aead::NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(aead::NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut body = body.to_vec();
    let plain = sealing_key(server_secret)
        .open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut body)
        .ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the seed is the ASCII of
    /// "12345678901234567890"; the RFC prints 8 digits, whose last 6 are
    /// the 6-digit code.
    #[test]
    fn rfc_6238_sha1_vectors() {
        let seed = b"12345678901234567890";
        let rows = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, eight) in rows {
            assert_eq!(code_at(seed, t), eight[2..], "T = {t}");
        }
    }

    /// RFC 4226 appendix D: HOTP of counters 0 to 9 for the same seed.
    #[test]
    fn rfc_4226_hotp_vectors() {
        let seed = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(seed, counter as u64), *code, "counter {counter}");
        }
    }

    #[test]
    fn codes_one_step_away_match_and_two_do_not() {
        let secret = new_secret();
        let t = 1_700_000_000;
        assert_eq!(matching_step(&secret, &code_at(&secret, t), t), Some(step_of(t)));
        assert_eq!(matching_step(&secret, &code_at(&secret, t - 30), t), Some(step_of(t) - 1));
        assert_eq!(matching_step(&secret, &code_at(&secret, t + 30), t), Some(step_of(t) + 1));
        let far = code_at(&secret, t - 90);
        if ![-1, 0, 1].iter().any(|d| code_at(&secret, t + 30 * d) == far) {
            assert_eq!(matching_step(&secret, &far, t), None);
        }
        assert_eq!(matching_step(&secret, "12345", t), None);
        assert_eq!(matching_step(&secret, "abcdef", t), None);
    }

    #[test]
    fn typed_codes_may_carry_spaces_or_a_dash() {
        assert_eq!(normalise_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalise_code("123-456").as_deref(), Some("123456"));
        assert_eq!(normalise_code("1234567"), None);
        assert_eq!(normalise_code("١٢٣٤٥٦"), None);
    }

    /// RFC 4648 section 10 vectors, without padding.
    #[test]
    fn base32_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
        }
        assert_eq!(grouped("MZXW6YTBOI"), "MZXW 6YTB OI");
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let uri = otpauth_uri(b"12345678901234567890", "OsirisCare", "ana@clinic.example");
        assert_eq!(
            uri,
            "otpauth://totp/OsirisCare%3Aana%40clinic.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=OsirisCare&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_server_secret() {
        let key = Secret::new(vec![7u8; 32]);
        let user = Uuid::new_v4();
        let secret = new_secret();
        let sealed = seal(&key, user, &secret);
        assert_ne!(&sealed[12..32], &secret[..], "stored in the clear");
        assert_eq!(open(&key, user, &sealed).as_deref(), Some(&secret[..]));
        assert_eq!(open(&key, Uuid::new_v4(), &sealed), None);
        assert_eq!(open(&Secret::new(vec![8u8; 32]), user, &sealed), None);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(open(&key, user, &tampered), None);
        assert_eq!(open(&key, user, &sealed[..10]), None);
    }
}
