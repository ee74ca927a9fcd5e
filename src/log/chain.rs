//! The link hash of a site's evidence chain (`osiris-chain-v1`, see
//! docs/EVIDENCE.md), here so that every verifier, including the
//! standalone pack verifier built from this module alone, computes it
//! the same way:
//!
//! ```text
//! chain_hash[n]  = SHA-256("osiris-chain-v1" ‖ site_id (16 bytes) ‖ n (u64 BE)
//!                          ‖ chain_hash[n-1] ‖ bundle_hash[n])
//! chain_hash[-1] = 32 zero bytes
//! ```

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Domain separator that starts every chain-hash preimage, so these hashes
/// can never collide with SHA-256 used for anything else.
pub const DOMAIN: &[u8] = b"osiris-chain-v1";

/// The "previous chain hash" of the first link (position 0).
pub const GENESIS: [u8; 32] = [0; 32];

/// The chain hash of the link at `position`, given the previous link's chain
/// hash (`GENESIS` at position 0) and this link's bundle hash.
pub fn chain_hash(
    site_id: Uuid,
    position: u64,
    prev: &[u8; 32],
    bundle_hash: &[u8; 32],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(site_id.as_bytes());
    hasher.update(position.to_be_bytes());
    hasher.update(prev);
    hasher.update(bundle_hash);
    hasher.finalize().into()
}
