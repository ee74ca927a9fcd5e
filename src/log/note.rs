//! c2sp.org/signed-note with Ed25519 keys, written from the spec: a text
//! ending in a newline, a blank line, then signature lines
//! `— <key name> base64(key ID || signature)`. Key ID =
//! `SHA-256(name || 0x0A || 0x01 || public key)[:4]`; a verifier key is
//! `<name>+<hex key ID>+base64(0x01 || public key)`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

/// The Ed25519 signature type of signed notes.
const ED25519: u8 = 0x01;

/// The em dash (U+2014) and space that start a signature line.
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";

/// Most signature lines accepted in one note (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Why a note or key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a key name must be non-empty, without spaces or '+'")]
    BadName,
    #[error("a verifier key has the form <name>+<8 hex digits>+<base64 of 0x01 and 32 key bytes>")]
    BadVerifierKey,
    #[error("the verifier key's ID does not match its name and key")]
    KeyIdMismatch,
    #[error("a note is UTF-8 text ending in a newline, a blank line, and signature lines")]
    Malformed,
    #[error("a note may carry at most {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("the signature of {0} does not verify")]
    BadSignature(String),
    #[error("the note carries no signature by a known key")]
    NoKnownSignature,
}

/// Whether `name` can be a key name: non-empty, no Unicode spaces, no `+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, ED25519, key)
}

/// `SHA-256(name || 0x0A || signature type || public key)[:4]`.
pub fn typed_key_id(name: &str, signature_type: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', signature_type]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A key that verifies notes: a name, its key ID and the Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub id: [u8; 4],
    pub key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName);
        }
        Ok(NoteVerifier { name: name.to_owned(), id: key_id(name, &key), key })
    }

    /// Parses `<name>+<hex key ID>+<base64(0x01 || key)>`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        // From the left: the name has no `+`, but base64 may.
        let mut parts = vkey.trim_end_matches(['\n', '\r']).splitn(3, '+');
        let (Some(name), Some(id_hex), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadVerifierKey);
        };
        if !valid_name(name) || id_hex.len() != 8 {
            return Err(NoteError::BadVerifierKey);
        }
        let id: [u8; 4] = hex::decode(id_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::BadVerifierKey)?;
        let bytes = B64.decode(material).map_err(|_| NoteError::BadVerifierKey)?;
        let [ED25519, key @ ..] = bytes.as_slice() else {
            return Err(NoteError::BadVerifierKey);
        };
        let key: [u8; 32] = key.try_into().map_err(|_| NoteError::BadVerifierKey)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| NoteError::BadVerifierKey)?;
        let verifier = NoteVerifier::new(name, key)?;
        if verifier.id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(verifier)
    }

    /// `<name>+<hex key ID>+<base64(0x01 || key)>`.
    pub fn vkey(&self) -> String {
        let mut material = vec![ED25519];
        material.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), B64.encode(material))
    }
}

/// A key that signs notes.
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner").field("verifier", &self.verifier).finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        Ok(NoteSigner { verifier: NoteVerifier::new(name, key.verifying_key())?, key })
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The signature line for `text` (without its final newline).
    pub fn signature_line(&self, text: &str) -> String {
        let mut sig = self.verifier.id.to_vec();
        sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        format!("{SIG_PREFIX}{} {}", self.verifier.name, B64.encode(sig))
    }

    /// The signed note: `text` (which must end in a newline and hold no
    /// blank line), a blank line, this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !valid_text(text) {
            return Err(NoteError::Malformed);
        }
        Ok(format!("{text}\n{}\n", self.signature_line(text)))
    }
}

/// A note text: non-empty, ending in a newline, no blank line, no ASCII
/// control character but newline.
fn valid_text(text: &str) -> bool {
    text.ends_with('\n')
        && !text.starts_with('\n')
        && !text.contains("\n\n")
        && !text.chars().any(|c| c < ' ' && c != '\n')
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub id: [u8; 4],
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
    /// The line as it stands in the note, without its newline.
    pub line: String,
}

/// A parsed note: its text and every signature line, unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// Splits a signed note into its text and signature lines.
pub fn parse(note: &str) -> Result<Note, NoteError> {
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed);
    }
    let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
    let text = &note[..=split];
    let sigs = &note[split + 2..];
    if !valid_text(text) || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed);
    }
    let mut signatures = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed)?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
        if !valid_name(name) {
            return Err(NoteError::Malformed);
        }
        let bytes = B64.decode(b64).map_err(|_| NoteError::Malformed)?;
        if bytes.len() < 5 {
            return Err(NoteError::Malformed);
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            id: [bytes[0], bytes[1], bytes[2], bytes[3]],
            signature: bytes[4..].to_vec(),
            line: line.to_owned(),
        });
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed);
    }
    Ok(Note { text: text.to_owned(), signatures })
}

/// Parses `note` and verifies it with `verifier`: the signature lines of
/// other keys are ignored (kept in the result), a signature of this key
/// that fails is a refusal, and a note this key did not sign is refused.
pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Note, NoteError> {
    let parsed = parse(note)?;
    let mut verified = false;
    for sig in &parsed.signatures {
        if sig.name != verifier.name || sig.id != verifier.id {
            continue;
        }
        let ok = <[u8; 64]>::try_from(sig.signature.as_slice())
            .map(|s| ed25519_dalek::Signature::from_bytes(&s))
            .is_ok_and(|s| verifier.key.verify(parsed.text.as_bytes(), &s).is_ok());
        if !ok {
            return Err(NoteError::BadSignature(verifier.name.clone()));
        }
        verified = true;
    }
    if verified { Ok(parsed) } else { Err(NoteError::NoKnownSignature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn the_spec_example_verifies_and_its_key_round_trips() {
        let v = NoteVerifier::parse(SPEC_VKEY).unwrap();
        assert_eq!(v.name, "example.com/foo");
        assert_eq!(hex::encode(v.id), "530d903a");
        assert_eq!(v.vkey(), SPEC_VKEY);
        let note = open(SPEC_NOTE, &v).unwrap();
        assert_eq!(note.text, "This is an example message.\n");
        assert_eq!(note.signatures.len(), 1);
    }

    /// Base64 has `+` and `/`: a vkey is split from the left, where the
    /// name (which has no `+`) is.
    #[test]
    fn keys_whose_base64_has_a_plus_round_trip() {
        let with_plus = (0u8..=255)
            .map(|seed| NoteSigner::new("example.com/log", SigningKey::from_bytes(&[seed; 32])))
            .map(|s| s.unwrap().verifier().vkey())
            .find(|vkey| vkey.rsplit('+').next().unwrap().len() < 45)
            .expect("some key's base64 has a +");
        let parsed = NoteVerifier::parse(&with_plus).unwrap();
        assert_eq!(parsed.vkey(), with_plus);
    }

    #[test]
    fn changed_notes_and_keys_are_refused() {
        let v = NoteVerifier::parse(SPEC_VKEY).unwrap();
        let changed = SPEC_NOTE.replace("example message", "exemplary message");
        assert_eq!(open(&changed, &v), Err(NoteError::BadSignature("example.com/foo".into())));
        // A key with another name (so another ID) finds no known signature.
        let other = NoteVerifier::new("example.com/bar", v.key).unwrap();
        assert_eq!(open(SPEC_NOTE, &other), Err(NoteError::NoKnownSignature));
        let mut wrong_id = SPEC_VKEY.to_owned();
        wrong_id.replace_range(16..24, "530d903b");
        assert_eq!(NoteVerifier::parse(&wrong_id), Err(NoteError::KeyIdMismatch));
        for bad in [
            "",
            "example.com/foo",
            "example.com/foo+530d903a",
            "example com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
            "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d90+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        ] {
            assert!(NoteVerifier::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "no blank line\n\u{2014} example.com/foo AAAA\n",
            "text\n\n",
            "text\n\n\u{2014} example.com/foo Uw2Q\n",
            "text\n\n- example.com/foo Uw2QOkn8\n",
            "text\r\n\n\u{2014} example.com/foo Uw2QOkn8\n",
            "text\n\n\u{2014} example.com/foo Uw2QOkn8",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn notes_signed_here_verify_and_keep_other_signatures() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let signer = NoteSigner::new("portal.example/log/abc", key).unwrap();
        let note = signer.sign("portal.example/log/abc\n3\nAAAA\n").unwrap();
        let v = NoteVerifier::parse(&signer.verifier().vkey()).unwrap();
        assert_eq!(open(&note, &v).unwrap().text, "portal.example/log/abc\n3\nAAAA\n");
        // A cosigner's line after the log's: ignored by the log's verifier, kept.
        let witness =
            NoteSigner::new("portal.example/appliance/1", SigningKey::from_bytes(&[9; 32]))
                .unwrap();
        let cosigned =
            format!("{note}{}\n", witness.signature_line("portal.example/log/abc\n3\nAAAA\n"));
        let opened = open(&cosigned, &v).unwrap();
        assert_eq!(opened.signatures.len(), 2);
        assert!(signer.sign("no newline").is_err());
        assert!(signer.sign("two\n\nparagraphs\n").is_err());
        assert!(NoteSigner::new("has space", SigningKey::from_bytes(&[1; 32])).is_err());
    }
}
