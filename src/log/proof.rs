//! c2sp.org/tlog-proof@v1: an offline-verifiable proof that a leaf is in a
//! log, as a text file (`.tlog-proof`):
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the leaf>
//! index <n>
//! <base64 hash, leaf side first> …
//!
//! <the checkpoint, verbatim, with its (co)signatures>
//! ```
//!
//! The portal puts the leaf in `extra` for convenience; a verifier recomputes
//! the leaf from the bundle and never trusts `extra` alone.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::checkpoint::Checkpoint;
use super::merkle::{self, Hash};
use super::note::{self, NoteVerifier};

pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A parsed proof file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

/// Why a proof file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFileError {
    #[error("not a c2sp.org/tlog-proof@v1 file")]
    Malformed,
    #[error("the checkpoint: {0}")]
    Note(#[from] note::NoteError),
    #[error("the checkpoint: {0}")]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    #[error("the checkpoint is of log {found:?}, not {expected:?}")]
    OtherLog { found: String, expected: String },
    #[error("the inclusion proof: {0}")]
    Inclusion(#[from] merkle::VerifyError),
}

impl TlogProof {
    pub fn encode(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    pub fn parse(text: &str) -> Result<TlogProof, ProofFileError> {
        let (head, checkpoint) = text.split_once("\n\n").ok_or(ProofFileError::Malformed)?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(ProofFileError::Malformed);
        }
        let mut line = lines.next().ok_or(ProofFileError::Malformed)?;
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                let extra = B64.decode(b64).map_err(|_| ProofFileError::Malformed)?;
                line = lines.next().ok_or(ProofFileError::Malformed)?;
                Some(extra)
            }
            None => None,
        };
        let index = line.strip_prefix("index ").ok_or(ProofFileError::Malformed)?;
        if index.is_empty()
            || !index.bytes().all(|b| b.is_ascii_digit())
            || (index.len() > 1 && index.starts_with('0'))
        {
            return Err(ProofFileError::Malformed);
        }
        let index = index.parse().map_err(|_| ProofFileError::Malformed)?;
        let hashes = lines
            .map(|l| B64.decode(l).ok().and_then(|b| b.try_into().ok()))
            .collect::<Option<Vec<Hash>>>()
            .ok_or(ProofFileError::Malformed)?;
        Ok(TlogProof { extra, index, hashes, checkpoint: checkpoint.to_owned() })
    }

    /// Verifies the proof for `leaf` (recomputed by the caller): the
    /// checkpoint is signed by `log` and is of its log, and the leaf is at
    /// `index` in that tree. Returns the checkpoint.
    pub fn verify(&self, leaf: &[u8], log: &NoteVerifier) -> Result<Checkpoint, ProofFileError> {
        let opened = note::open(&self.checkpoint, log)?;
        let checkpoint = Checkpoint::parse(&opened.text)?;
        if checkpoint.origin != log.name {
            return Err(ProofFileError::OtherLog {
                found: checkpoint.origin,
                expected: log.name.clone(),
            });
        }
        merkle::verify_inclusion(
            self.index,
            checkpoint.size,
            &merkle::leaf_hash(leaf),
            &self.hashes,
            &checkpoint.root,
        )?;
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn signed(n: u64) -> (NoteSigner, Vec<Vec<u8>>, String) {
        let signer =
            NoteSigner::new("portal.example/log/1", SigningKey::from_bytes(&[1; 32])).unwrap();
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("leaf {i}\n").into_bytes()).collect();
        let hashes: Vec<Hash> = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
        let c = Checkpoint::new("portal.example/log/1", n, merkle::root_of(&hashes));
        let note = signer.sign(&c.text()).unwrap();
        (signer, leaves, note)
    }

    #[test]
    fn a_proof_file_round_trips_and_verifies() {
        let (signer, leaves, note) = signed(11);
        let hashes: Vec<Hash> = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
        let proof = TlogProof {
            extra: Some(leaves[6].clone()),
            index: 6,
            hashes: merkle::inclusion_proof(&hashes[..], 6, 11).unwrap(),
            checkpoint: note,
        };
        let text = proof.encode();
        assert!(
            text.starts_with("c2sp.org/tlog-proof@v1\nextra bGVhZiA2Cg==\nindex 6\n"),
            "{text}"
        );
        let back = TlogProof::parse(&text).unwrap();
        assert_eq!(back, proof);
        let c = back.verify(&leaves[6], signer.verifier()).unwrap();
        assert_eq!(c.size, 11);
        // Another leaf, another index, another key: refused.
        assert!(matches!(
            back.verify(&leaves[5], signer.verifier()),
            Err(ProofFileError::Inclusion(_))
        ));
        let moved = TlogProof { index: 7, ..back.clone() };
        assert!(moved.verify(&leaves[6], signer.verifier()).is_err());
        let stranger =
            NoteSigner::new("portal.example/log/1", SigningKey::from_bytes(&[2; 32])).unwrap();
        assert!(matches!(
            back.verify(&leaves[6], stranger.verifier()),
            Err(ProofFileError::Note(_))
        ));
        let without_extra = TlogProof { extra: None, ..back };
        assert_eq!(TlogProof::parse(&without_extra.encode()).unwrap(), without_extra);
    }

    #[test]
    fn malformed_proof_files_are_refused() {
        let (_, _, note) = signed(2);
        for bad in [
            String::new(),
            format!("c2sp.org/tlog-proof@v2\nindex 0\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex 01\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex -1\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\n{note}"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n{note}"),
            "c2sp.org/tlog-proof@v1\nindex 0\n".to_owned(),
        ] {
            assert!(TlogProof::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
