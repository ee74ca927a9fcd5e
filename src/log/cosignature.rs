//! c2sp.org/tlog-cosignature v1 with Ed25519 (signature type 0x04): a
//! cosigner (here, a site's appliance) states that, at a time, this is the
//! largest consistent checkpoint of the log it has seen. The signed message
//! is `cosignature/v1\ntime <unix seconds>\n` followed by the checkpoint's
//! note text; the signature line carries `key ID || u64 timestamp ||
//! signature`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};

use super::note::{SIG_PREFIX, typed_key_id, valid_name};

/// The signature type of Ed25519 cosignatures.
pub const COSIGNATURE_V1: u8 = 0x04;

/// Why a cosignature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("a cosignature line is `— <name> base64(key ID || timestamp || signature)`")]
    Malformed,
    #[error("the cosignature is by another key than this cosigner's")]
    OtherKey,
    #[error("the cosignature does not verify for this checkpoint")]
    BadSignature,
}

/// The message a v1 cosignature signs.
pub fn message(checkpoint_text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}")
}

/// A cosigner's public side: name, key ID (type 0x04) and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    pub name: String,
    pub id: [u8; 4],
    pub key: VerifyingKey,
}

impl CosignatureVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Option<Self> {
        valid_name(name).then(|| CosignatureVerifier {
            name: name.to_owned(),
            id: typed_key_id(name, COSIGNATURE_V1, &key),
            key,
        })
    }

    /// Parses `<name>+<hex key ID>+base64(0x04 || key)`, refusing a key ID
    /// that does not match the name and key.
    pub fn parse(vkey: &str) -> Option<Self> {
        let mut parts = vkey.trim_end_matches(['\n', '\r']).splitn(3, '+');
        let (name, id_hex, material) = (parts.next()?, parts.next()?, parts.next()?);
        if id_hex.len() != 8 {
            return None;
        }
        let id: [u8; 4] = hex::decode(id_hex).ok()?.try_into().ok()?;
        let bytes = B64.decode(material).ok()?;
        let [COSIGNATURE_V1, key @ ..] = bytes.as_slice() else { return None };
        let key = VerifyingKey::from_bytes(key.try_into().ok()?).ok()?;
        let verifier = CosignatureVerifier::new(name, key)?;
        (verifier.id == id).then_some(verifier)
    }

    /// `<name>+<hex key ID>+base64(0x04 || key)`.
    pub fn vkey(&self) -> String {
        let mut material = vec![COSIGNATURE_V1];
        material.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), B64.encode(material))
    }

    /// Checks a cosignature line (without its newline) over a checkpoint's
    /// note text; returns its timestamp.
    pub fn verify(&self, checkpoint_text: &str, line: &str) -> Result<u64, CosignatureError> {
        let CosignatureLine { name, id, timestamp, signature } = parse_line(line)?;
        if name != self.name || id != self.id {
            return Err(CosignatureError::OtherKey);
        }
        let signature = ed25519_dalek::Signature::from_bytes(&signature);
        self.key
            .verify(message(checkpoint_text, timestamp).as_bytes(), &signature)
            .map_err(|_| CosignatureError::BadSignature)?;
        Ok(timestamp)
    }
}

/// A cosignature line's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureLine<'a> {
    pub name: &'a str,
    pub id: [u8; 4],
    pub timestamp: u64,
    pub signature: [u8; 64],
}

/// Splits a cosignature line into name, key ID, timestamp and signature.
pub fn parse_line(line: &str) -> Result<CosignatureLine<'_>, CosignatureError> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(CosignatureError::Malformed)?;
    let (name, b64) = rest.split_once(' ').ok_or(CosignatureError::Malformed)?;
    if !valid_name(name) {
        return Err(CosignatureError::Malformed);
    }
    let bytes = B64.decode(b64).map_err(|_| CosignatureError::Malformed)?;
    if bytes.len() != 4 + 8 + 64 {
        return Err(CosignatureError::Malformed);
    }
    let id = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let timestamp = u64::from_be_bytes(bytes[4..12].try_into().expect("8 bytes"));
    if timestamp > i64::MAX as u64 {
        return Err(CosignatureError::Malformed);
    }
    let signature: [u8; 64] = bytes[12..].try_into().expect("64 bytes");
    Ok(CosignatureLine { name, id, timestamp, signature })
}

/// A cosigner's private side.
pub struct Cosigner {
    verifier: CosignatureVerifier,
    key: SigningKey,
}

impl Cosigner {
    pub fn new(name: &str, key: SigningKey) -> Option<Self> {
        Some(Cosigner { verifier: CosignatureVerifier::new(name, key.verifying_key())?, key })
    }

    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }

    /// The cosignature line (without newline) for a checkpoint's note text.
    pub fn cosign(&self, checkpoint_text: &str, timestamp: u64) -> String {
        let mut bytes = self.verifier.id.to_vec();
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(
            &self.key.sign(message(checkpoint_text, timestamp).as_bytes()).to_bytes(),
        );
        format!("{SIG_PREFIX}{} {}", self.verifier.name, B64.encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_spec_example_line_carries_its_timestamp() {
        // From c2sp.org/tlog-cosignature; its key is not published, so the
        // example checks the layout (key ID, big-endian time, 64 bytes).
        let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        let CosignatureLine { name, timestamp, .. } = parse_line(line).unwrap();
        assert_eq!((name, timestamp), ("witness.example.com/w1", 1679315147));
        assert_eq!(
            message(TEXT, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn cosignatures_verify_only_for_their_checkpoint_key_and_time() {
        let c =
            Cosigner::new("portal.example/appliance/1", SigningKey::from_bytes(&[5; 32])).unwrap();
        let line = c.cosign(TEXT, 1_764_000_000);
        assert_eq!(c.verifier().verify(TEXT, &line), Ok(1_764_000_000));
        let other_text = TEXT.replace("20852163", "20852164");
        assert_eq!(c.verifier().verify(&other_text, &line), Err(CosignatureError::BadSignature));
        let other =
            Cosigner::new("portal.example/appliance/1", SigningKey::from_bytes(&[6; 32])).unwrap();
        assert_eq!(other.verifier().verify(TEXT, &line), Err(CosignatureError::OtherKey));
        // The same key as a plain note signer has another key ID (type 0x01).
        let note_id = super::super::note::key_id("portal.example/appliance/1", &c.verifier().key);
        assert_ne!(note_id, c.verifier().id);
        // A changed timestamp breaks the signature.
        let mut bytes = B64.decode(line.rsplit_once(' ').unwrap().1).unwrap();
        bytes[11] ^= 1;
        let forged = format!("\u{2014} portal.example/appliance/1 {}", B64.encode(bytes));
        assert_eq!(c.verifier().verify(TEXT, &forged), Err(CosignatureError::BadSignature));
        assert!(c.verifier().vkey().starts_with("portal.example/appliance/1+"));
        for bad in ["", "\u{2014} name", "\u{2014} name AAAA", "- name jWbPPwAAAABkGFDL"] {
            assert!(parse_line(bad).is_err(), "{bad:?}");
        }
    }
}
