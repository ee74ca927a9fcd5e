//! The evidence log: a Merkle tree per practice whose signed checkpoints
//! leave the portal, so a practice or its auditor can check its evidence
//! without trusting whoever runs the portal.
//!
//! This part is the pure core, written from the public specifications and
//! tested against their own vectors: RFC 6962 / RFC 9162 hashing and proofs
//! ([`merkle`]), c2sp.org/signed-note ([`note`]), c2sp.org/tlog-checkpoint
//! ([`checkpoint`]), c2sp.org/tlog-cosignature ([`cosignature`]),
//! c2sp.org/tlog-proof ([`proof`]) and c2sp.org/tlog-tiles ([`tiles`]);
//! the leaves' exact bytes ([`leaf`]) and the per-practice key derivation
//! ([`keys`]). No database, no HTTP.

pub mod chain;
pub mod checkpoint;
pub mod cosignature;
pub mod keys;
pub mod leaf;
pub mod merkle;
pub mod note;
pub mod pack;
pub mod pack_cli;
pub mod proof;
pub mod tiles;
pub mod tree;
