//! Tamper evidence: bundle hashes, the per-site hash chain, appliance
//! signatures, and verification of a stored chain.
//!
//! Each site's bundles form a chain (docs/EVIDENCE.md):
//!
//! ```text
//! bundle_hash    = SHA-256(bytes)
//! chain_hash[n]  = SHA-256("osiris-chain-v1" ‖ site_id (16 bytes) ‖ n (u64 BE)
//!                          ‖ chain_hash[n-1] ‖ bundle_hash[n])
//! chain_hash[-1] = 32 zero bytes
//! ```
//!
//! Binding the site and position into every link means a link cannot be
//! moved to another place or another site's chain without breaking it; the
//! appliance's Ed25519 signature over the bundle bytes means the portal
//! itself cannot forge evidence, even by rebuilding the whole chain.

use std::fmt;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::bundle;

pub use crate::log::chain::{DOMAIN, GENESIS, chain_hash};

/// Length of every hash in the chain, in bytes.
pub const HASH_LEN: usize = 32;

/// Length of an Ed25519 signature, in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// SHA-256 of a bundle's exact bytes, as received.
pub fn bundle_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Why a bundle's signature was not accepted. The messages are shown to the
/// appliance (as a 4xx body) or to whoever investigates a broken chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not 128 hex digits.
    #[error("X-Agent-Signature must be 128 hex digits (an Ed25519 signature)")]
    Malformed,
    /// The key on record for the site is not a usable Ed25519 public key.
    #[error("the site's stored public key is not a valid Ed25519 key")]
    InvalidPublicKey,
    /// A well-formed signature that the site's key did not make over these
    /// bytes.
    #[error("the signature does not match this bundle and the site's key")]
    Mismatch,
}

/// Reads the hex signature an appliance sends in `X-Agent-Signature`:
/// exactly 128 hex digits (either case), surrounding whitespace ignored.
pub fn parse_signature(hex_sig: &str) -> Result<Signature, SignatureError> {
    let hex_sig = hex_sig.trim();
    // hex::decode_to_slice checks the length and digits too; checking first
    // keeps odd inputs (signs, non-ASCII) from ever reaching it.
    if hex_sig.len() != 2 * SIGNATURE_LEN || !hex_sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    let mut bytes = [0u8; SIGNATURE_LEN];
    hex::decode_to_slice(hex_sig, &mut bytes).map_err(|_| SignatureError::Malformed)?;
    Ok(Signature::from_bytes(&bytes))
}

/// The site's public key, refusing points that are not on the curve and
/// weak (small-order) keys, for which a signature proves nothing.
pub fn verifying_key(public_key: &[u8; 32]) -> Result<VerifyingKey, SignatureError> {
    match VerifyingKey::from_bytes(public_key) {
        Ok(key) if !key.is_weak() => Ok(key),
        _ => Err(SignatureError::InvalidPublicKey),
    }
}

/// Checks that `signature` is the site's appliance signing exactly `bytes`.
///
/// Uses `verify_strict`, which rejects malleable signatures, so a given
/// bundle has one valid signature per key.
pub fn verify_signature(
    public_key: &[u8; 32],
    bytes: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    verifying_key(public_key)?.verify_strict(bytes, signature).map_err(|_| SignatureError::Mismatch)
}

/// Whether a point encoding's y (its low 255 bits, little-endian) is below
/// the field's prime 2^255 - 19, as a canonical encoding's is.
fn canonical_y(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    // Below 2^255 - 19 unless every byte is at its largest (0x7f ff .. ff)
    // from the top down to a lowest byte of at least 0xed.
    !(y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed)
}

/// Bytes, the public key said to sign them, and the signature.
pub type SignedBytes<'a> = (&'a [u8], [u8; 32], [u8; 64]);

/// Verifies many (bytes, key, signature) triples at once; each answer is
/// what [`verify_signature`] answers for it. Those the strict check would
/// refuse outright (an invalid or small-order key, an R that is not a
/// canonical point or is of small order) are answered false, the rest are
/// checked as one batch equation (random linear combination), and only if
/// that fails one by one, to find which.
///
/// The batch equation accepts exactly what the strict check accepts except
/// a signature made, with the private key, to carry a small torsion
/// component: nobody without the key can make one, and whoever has the
/// key can sign anything anyway. Ingestion uses the strict check alone.
pub fn verify_many(items: &[SignedBytes<'_>]) -> Vec<bool> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let mut answers = vec![false; items.len()];
    let mut eligible: Vec<(usize, VerifyingKey, Signature)> = Vec::with_capacity(items.len());
    // A site signs many bundles with one key: each key is decoded once.
    let mut keys: Vec<([u8; 32], Option<VerifyingKey>)> = Vec::new();
    for (i, (_, key, sig)) in items.iter().enumerate() {
        let decoded = match keys.iter().find(|(k, _)| k == key) {
            Some((_, d)) => *d,
            None => {
                let d = verifying_key(key).ok().filter(|k| !k.is_weak());
                keys.push((*key, d));
                d
            }
        };
        let Some(key) = decoded else { continue };
        let sig = Signature::from_bytes(sig);
        // R as the strict check takes it: a canonical encoding (y below
        // the field's prime; the two points with x = 0 are of small order)
        // of a point that is not of small order.
        let r = CompressedEdwardsY(*sig.r_bytes());
        if canonical_y(r.as_bytes()) && r.decompress().is_some_and(|p| !p.is_small_order()) {
            eligible.push((i, key, sig));
        }
    }
    let messages: Vec<&[u8]> = eligible.iter().map(|(i, ..)| items[*i].0).collect();
    let signatures: Vec<Signature> = eligible.iter().map(|e| e.2).collect();
    let keys: Vec<VerifyingKey> = eligible.iter().map(|e| e.1).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        for (i, ..) in &eligible {
            answers[*i] = true;
        }
    } else {
        for ((i, key, sig), message) in eligible.iter().zip(&messages) {
            answers[*i] = key.verify_strict(message, sig).is_ok();
        }
    }
    answers
}

/// Whether a stored signature verifies the stored bytes with the stored
/// key; damaged columns (wrong lengths) simply do not verify.
pub fn stored_signature_valid(public_key: &[u8], raw: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(public_key), <[u8; 64]>::try_from(signature))
    else {
        return false;
    };
    verify_signature(&key, raw, &Signature::from_bytes(&sig)).is_ok()
}

/// One link of a site's chain as stored, borrowed from a database row.
/// Byte fields are slices because a damaged row may hold the wrong length.
#[derive(Debug, Clone, Copy)]
pub struct StoredLink<'a> {
    /// Position in the site's chain, from 0.
    pub position: i64,
    /// The bundle id recorded for this link.
    pub bundle_id: &'a str,
    /// The bundle's bytes exactly as received.
    pub raw: &'a [u8],
    /// SHA-256 of `raw`, recorded on arrival.
    pub bundle_hash: &'a [u8],
    /// The previous link's chain hash (`GENESIS` at position 0).
    pub prev_chain_hash: &'a [u8],
    /// This link's chain hash.
    pub chain_hash: &'a [u8],
    /// The appliance's Ed25519 signature over `raw` (64 bytes).
    pub signature: &'a [u8],
}

/// The first place a chain is broken and why, in words a practice manager
/// understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {reason}")]
pub struct Broken {
    /// The first position that does not verify.
    pub position: i64,
    /// What is wrong there, naming the bundle.
    pub reason: String,
}

impl Broken {
    fn at(position: i64, reason: impl Into<String>) -> Self {
        Broken { position, reason: reason.into() }
    }
}

/// A chain that verified from its first link to its recorded head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Number of links.
    pub length: u64,
    /// Chain hash of the last link (`GENESIS` for an empty chain).
    pub head: [u8; 32],
    /// Total size of the bundles checked, in bytes.
    pub bytes: u64,
}

/// Verifies one stored link against the chain hash of the link before it
/// (`GENESIS` at position 0) and returns its chain hash.
///
/// Checks, reporting the first failure: the recorded bundle hash against the
/// bytes, the lengths of the recorded hashes, the link to the previous one,
/// the recorded chain hash, the appliance's signature, and that the bytes are
/// still a valid bundle of this site with the recorded id. It does not check
/// that positions are consecutive; [`ChainVerifier`] does.
pub fn verify_link(
    site_id: Uuid,
    key: &VerifyingKey,
    prev: &[u8; 32],
    link: &StoredLink<'_>,
) -> Result<[u8; 32], Broken> {
    check_alone(site_id, key, link).follows(link, prev)
}

/// What a link shows on its own, before its place in the chain is known.
/// Everything expensive (hashing, the signature, parsing) is here, so the
/// links of a batch can be checked on several cores; only the cheap
/// comparison with the previous link is sequential ([`LinkCheck::follows`]).
#[derive(Debug)]
struct LinkCheck {
    /// The recorded previous hash, or the first problem with the recorded
    /// bundle hash and hash columns (reported before the previous link is
    /// compared, as [`verify_link`] documents).
    recorded_prev: Result<[u8; 32], Broken>,
    /// The chain hash, or the first problem with it, the signature or the
    /// bytes (reported after the previous link is compared).
    rest: Result<[u8; 32], Broken>,
}

impl LinkCheck {
    /// The link's verdict once the previous link's chain hash is known.
    fn follows(self, link: &StoredLink<'_>, prev: &[u8; 32]) -> Result<[u8; 32], Broken> {
        let recorded_prev = self.recorded_prev?;
        if recorded_prev != *prev {
            let before = if link.position == 0 {
                "the chain's starting value".to_owned()
            } else {
                format!("the chain hash of position {}", link.position - 1)
            };
            return Err(fault(
                link,
                format_args!(
                    "it does not follow from the link before it (its recorded previous hash is not \
                     {before}): a link was altered, removed or reordered"
                ),
            ));
        }
        self.rest
    }
}

/// Every check of [`verify_link`] that does not need the previous link.
fn check_alone(site_id: Uuid, key: &VerifyingKey, link: &StoredLink<'_>) -> LinkCheck {
    let fields = (|| {
        let position = link.position;
        let Ok(position_u64) = u64::try_from(position) else {
            return Err(fault(link, format_args!("its recorded position {position} is negative")));
        };
        let bundle_hash = hash_field(link.bundle_hash)
            .ok_or_else(|| fault(link, damaged("bundle hash", link.bundle_hash)))?;
        if bundle_hash != self::bundle_hash(link.raw) {
            return Err(fault(
                link,
                "its stored bytes no longer match the hash recorded when it arrived, \
                 so the evidence was altered",
            ));
        }
        let recorded_prev = hash_field(link.prev_chain_hash)
            .ok_or_else(|| fault(link, damaged("previous hash", link.prev_chain_hash)))?;
        let recorded_chain = hash_field(link.chain_hash)
            .ok_or_else(|| fault(link, damaged("chain hash", link.chain_hash)))?;
        Ok((position_u64, bundle_hash, recorded_prev, recorded_chain))
    })();
    let (position, bundle_hash, recorded_prev, recorded_chain) = match fields {
        Ok(fields) => fields,
        Err(broken) => {
            return LinkCheck { recorded_prev: Err(broken), rest: Ok(GENESIS) };
        }
    };
    let rest = (|| {
        // Computed from the recorded previous hash: `follows` then checks
        // that it is the previous link's, which makes this the chain hash
        // the link must have.
        let expected = chain_hash(site_id, position, &recorded_prev, &bundle_hash);
        if recorded_chain != expected {
            return Err(fault(
                link,
                "its recorded chain hash does not follow from the link before it: \
                 a link was altered, removed or reordered",
            ));
        }

        let signature = Signature::from_slice(link.signature).map_err(|_| {
            fault(
                link,
                format_args!(
                    "its signature does not verify with the site's appliance key (the stored \
                     signature is {} bytes instead of {SIGNATURE_LEN}, so the record was damaged)",
                    link.signature.len()
                ),
            )
        })?;
        if key.verify_strict(link.raw, &signature).is_err() {
            return Err(fault(
                link,
                "its signature does not verify with the site's appliance key, so this \
                 site's appliance did not send these bytes",
            ));
        }

        // Signed, chained bytes that do not parse never went through ingest's
        // validation (or the format rules changed since); either way the link is
        // not evidence the portal can interpret. The far-future `now` disables
        // the clock-skew rule, which only makes sense on arrival.
        let parsed = bundle::parse(link.raw, DateTime::<Utc>::MAX_UTC).map_err(|e| {
            fault(link, format_args!("its stored bytes are not a valid evidence bundle ({e})"))
        })?;
        if parsed.site_id != site_id {
            return Err(fault(
                link,
                format_args!(
                    "it belongs to site {}, not this site, so it was copied from another chain",
                    parsed.site_id
                ),
            ));
        }
        if parsed.bundle_id != link.bundle_id {
            return Err(fault(
                link,
                format_args!(
                    "its bytes carry the bundle id {:?}, not the recorded one, so the record was altered",
                    parsed.bundle_id
                ),
            ));
        }
        Ok(expected)
    })();
    LinkCheck { recorded_prev: Ok(recorded_prev), rest }
}

/// Links below this many are checked on the calling thread: starting
/// threads would cost more than it saves.
/// (Tests use small chains, so they go parallel from two links.)
const PARALLEL_FROM: usize = if cfg!(test) { 2 } else { 64 };

/// [`check_alone`] for every link, spread over the machine's cores.
fn check_all(site_id: Uuid, key: &VerifyingKey, links: &[StoredLink<'_>]) -> Vec<LinkCheck> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores == 1 || links.len() < PARALLEL_FROM {
        return links.iter().map(|link| check_alone(site_id, key, link)).collect();
    }
    let chunk = links.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let workers: Vec<_> = links
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|link| check_alone(site_id, key, link)).collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(checks) => checks,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// A broken link, named by its bundle id.
fn fault(link: &StoredLink<'_>, reason: impl fmt::Display) -> Broken {
    Broken::at(link.position, format!("bundle {}: {reason}", link.bundle_id))
}

/// Reason for a recorded hash of the wrong length.
fn damaged(field: &str, bytes: &[u8]) -> String {
    format!(
        "its recorded {field} is {} bytes instead of {HASH_LEN}, so the record was damaged",
        bytes.len()
    )
}

fn hash_field(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

/// Verifies a site's stored chain one link at a time, so a chain of millions
/// of links needs constant memory.
///
/// Push the links in position order starting at 0, then call
/// [`finish`](ChainVerifier::finish) with the length and head the site has on
/// record. Stop at the first error: the verifier does not advance past a
/// broken link.
#[derive(Debug)]
pub struct ChainVerifier {
    site_id: Uuid,
    key: Result<VerifyingKey, SignatureError>,
    /// The position the next pushed link must have.
    next: i64,
    /// Chain hash of the last verified link.
    head: [u8; 32],
    bytes: u64,
    /// Id of the last verified link, for messages from `finish`. Reused
    /// between pushes so a long chain does not allocate per link.
    last_bundle_id: String,
}

impl ChainVerifier {
    /// A verifier for `site_id`'s chain, signed with `public_key`.
    pub fn new(site_id: Uuid, public_key: [u8; 32]) -> Self {
        ChainVerifier {
            site_id,
            key: verifying_key(&public_key),
            next: 0,
            head: GENESIS,
            bytes: 0,
            last_bundle_id: String::new(),
        }
    }

    /// Verifies the next link. Reports the first problem: a missing or
    /// out-of-order position, then whatever [`verify_link`] finds.
    pub fn push(&mut self, link: &StoredLink<'_>) -> Result<(), Broken> {
        self.push_all(std::slice::from_ref(link))
    }

    /// Verifies the next links in order, as [`push`](ChainVerifier::push)
    /// on each would, reporting the first problem by position. The costly
    /// checks of each link (hashes, signature, parsing) run on all cores.
    pub fn push_all(&mut self, links: &[StoredLink<'_>]) -> Result<(), Broken> {
        let Some(first) = links.first() else { return Ok(()) };
        if first.position != self.next {
            return Err(self.out_of_sequence(first));
        }
        let key = self.key.as_ref().map_err(|_| {
            Broken::at(
                first.position,
                "the site's stored public key is not a valid Ed25519 key, so no bundle's \
                 signature can be checked; re-register the site's appliance",
            )
        })?;
        let checks = check_all(self.site_id, key, links);
        for (link, check) in links.iter().zip(checks) {
            if link.position != self.next {
                return Err(self.out_of_sequence(link));
            }
            self.head = check.follows(link, &self.head)?;
            self.next += 1;
            self.bytes =
                self.bytes.saturating_add(u64::try_from(link.raw.len()).unwrap_or(u64::MAX));
        }
        if let Some(last) = links.last() {
            self.last_bundle_id.clear();
            self.last_bundle_id.push_str(last.bundle_id);
        }
        Ok(())
    }

    /// Links verified so far.
    pub fn verified_links(&self) -> u64 {
        u64::try_from(self.next).unwrap_or(0)
    }

    /// Bytes of the links verified so far.
    pub fn verified_bytes(&self) -> u64 {
        self.bytes
    }

    fn out_of_sequence(&self, link: &StoredLink<'_>) -> Broken {
        let (expected, found, id) = (self.next, link.position, link.bundle_id);
        if found < expected {
            return Broken::at(
                found,
                format!(
                    "bundle {id}: position {found} appears again after position {}: \
                     links are duplicated or out of order",
                    expected - 1
                ),
            );
        }
        let missing = found - expected;
        let what = if missing == 1 {
            format!("position {expected} is missing")
        } else {
            format!("positions {expected} to {} are missing", found - 1)
        };
        let removed = if missing == 1 { "a bundle was" } else { "bundles were" };
        let reason = if expected == 0 {
            format!("{what}: the chain starts at {found} (bundle {id}), so {removed} removed")
        } else {
            format!(
                "{what}: the chain jumps from {} to {found} (bundle {id}), so {removed} removed",
                expected - 1
            )
        };
        Broken::at(expected, reason)
    }

    /// Checks the site's recorded chain length and head against the links
    /// pushed, catching links removed from (or added to) the end, which no
    /// single link can reveal.
    ///
    /// `stored_head` is `None` for a site without bundles; an empty chain
    /// also accepts `GENESIS` as its head.
    pub fn finish(
        self,
        stored_length: i64,
        stored_head: Option<&[u8]>,
    ) -> Result<Verified, Broken> {
        let seen = self.next;
        if stored_length > seen {
            let missing = stored_length - seen;
            let what = if missing == 1 {
                format!("position {seen} is missing")
            } else {
                format!("positions {seen} to {} are missing", stored_length - 1)
            };
            return Err(Broken::at(
                seen,
                format!(
                    "{what}: the site records {stored_length} bundles but only {seen} are stored, \
                     so the latest evidence was removed"
                ),
            ));
        }
        if stored_length < seen {
            return Err(Broken::at(
                stored_length.max(0),
                format!(
                    "the site records {stored_length} bundles but {seen} are stored, so bundles \
                     were added without going through the portal"
                ),
            ));
        }

        let head_ok = match stored_head {
            None => seen == 0,
            Some(head) => head == self.head,
        };
        if !head_ok {
            let reason = if seen == 0 {
                "the site records a chain head but has no bundles, so its evidence was removed"
                    .to_owned()
            } else {
                format!(
                    "the site's recorded chain head does not match its last bundle {}, so the \
                     chain was altered or truncated",
                    self.last_bundle_id
                )
            };
            return Err(Broken::at((seen - 1).max(0), reason));
        }

        Ok(Verified {
            length: u64::try_from(seen).unwrap_or(0),
            head: self.head,
            bytes: self.bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const SITE: Uuid = Uuid::from_u128(0x6f1c2d3e_4b5a_4978_8a9b_0c1d2e3f4a5b);
    const OTHER_SITE: Uuid = Uuid::from_u128(0x11111111_2222_4333_8444_555555555555);

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn public() -> [u8; 32] {
        key().verifying_key().to_bytes()
    }

    /// A link owning its columns, as a database row would.
    #[derive(Clone)]
    struct Row {
        position: i64,
        bundle_id: String,
        raw: Vec<u8>,
        bundle_hash: Vec<u8>,
        prev_chain_hash: Vec<u8>,
        chain_hash: Vec<u8>,
        signature: Vec<u8>,
    }

    impl Row {
        fn link(&self) -> StoredLink<'_> {
            StoredLink {
                position: self.position,
                bundle_id: &self.bundle_id,
                raw: &self.raw,
                bundle_hash: &self.bundle_hash,
                prev_chain_hash: &self.prev_chain_hash,
                chain_hash: &self.chain_hash,
                signature: &self.signature,
            }
        }
    }

    fn bundle_bytes(site: Uuid, id: &str, n: usize) -> Vec<u8> {
        let status = ["pass", "fail", "warning"][n % 3];
        let (c, f, e) = [(1, 0, 0), (0, 1, 0), (0, 0, 1)][n % 3];
        format!(
            r#"{{"bundle_id":"{id}","site_id":"{site}","checked_at":"2026-11-2{n}T10:00:00Z","checks":[{{"check":"bitlocker_status","status":"{status}","host":"FRONTDESK-01","hipaa_control":"164.312(a)(2)(iv)","details":{{}}}}],"summary":{{"total_checks":1,"compliant":{c},"non_compliant":{f},"errors":{e}}}}}"#
        )
        .into_bytes()
    }

    /// Appends a correctly hashed and signed link for `raw`.
    fn append(rows: &mut Vec<Row>, signer: &SigningKey, site: Uuid, id: &str, raw: Vec<u8>) {
        let position = rows.len() as i64;
        let prev: [u8; 32] =
            rows.last().map_or(GENESIS, |r| r.chain_hash.clone().try_into().unwrap());
        let bh = bundle_hash(&raw);
        let ch = chain_hash(site, position as u64, &prev, &bh);
        rows.push(Row {
            position,
            bundle_id: id.to_owned(),
            signature: signer.sign(&raw).to_bytes().to_vec(),
            raw,
            bundle_hash: bh.to_vec(),
            prev_chain_hash: prev.to_vec(),
            chain_hash: ch.to_vec(),
        });
    }

    fn chain(len: usize) -> Vec<Row> {
        let mut rows = Vec::new();
        for n in 0..len {
            let id = format!("CB-2026-11-2{n}-{n:08x}");
            append(&mut rows, &key(), SITE, &id, bundle_bytes(SITE, &id, n));
        }
        rows
    }

    /// Verifies `rows` as a site whose record says `len` links ending in the
    /// last row's chain hash.
    fn verify(rows: &[Row]) -> Result<Verified, Broken> {
        let len = rows.len() as i64;
        let head = rows.last().map(|r| r.chain_hash.clone());
        verify_with(rows, len, head.as_deref())
    }

    /// Verifies link by link and as one batch (checked on several threads),
    /// and insists both give the same verdict.
    fn verify_with(rows: &[Row], len: i64, head: Option<&[u8]>) -> Result<Verified, Broken> {
        let one_by_one = (|| {
            let mut verifier = ChainVerifier::new(SITE, public());
            for row in rows {
                verifier.push(&row.link())?;
            }
            verifier.finish(len, head)
        })();
        let links: Vec<StoredLink<'_>> = rows.iter().map(Row::link).collect();
        let mut verifier = ChainVerifier::new(SITE, public());
        let batched = verifier.push_all(&links).and_then(|()| verifier.finish(len, head));
        assert_eq!(one_by_one, batched, "batched verification disagrees with link by link");
        batched
    }

    #[track_caller]
    fn assert_broken(result: Result<Verified, Broken>, position: i64, phrase: &str) {
        let broken = result.expect_err("chain should be broken");
        assert_eq!(broken.position, position, "{broken}");
        assert!(broken.reason.contains(phrase), "{:?} does not contain {phrase:?}", broken.reason);
    }

    #[test]
    fn canonical_y_is_below_the_prime() {
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        assert!(canonical_y(&p_minus_1));
        let mut signed = p_minus_1;
        signed[31] = 0xff; // the sign bit is not part of y
        assert!(canonical_y(&signed));
        let mut p = p_minus_1;
        p[0] = 0xed;
        assert!(!canonical_y(&p), "p itself");
        p[0] = 0xff;
        assert!(!canonical_y(&p), "2^255 - 1");
        let mut low = p;
        low[5] = 0xfe;
        assert!(canonical_y(&low));
        assert!(canonical_y(&[0; 32]));
    }

    /// The batched check answers what the strict single check answers,
    /// for good signatures and for each kind the strict check refuses.
    #[test]
    fn batched_signature_checks_answer_as_the_strict_check() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let signer = key();
        let other = SigningKey::from_bytes(&[9; 32]);
        let messages: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; 40 + i as usize]).collect();
        let mut items: Vec<(Vec<u8>, [u8; 32], [u8; 64])> =
            messages.iter().map(|m| (m.clone(), public(), signer.sign(m).to_bytes())).collect();
        // A changed message; another key; a small-order (weak) key; an R of
        // small order; an R that is not a canonical encoding; s not reduced.
        items[3].0.push(0);
        items[7].1 = other.verifying_key().to_bytes();
        items[11].1 = EIGHT_TORSION[1].compress().to_bytes();
        items[13].2[..32].copy_from_slice(EIGHT_TORSION[2].compress().as_bytes());
        let mut non_canonical = [0xff; 32];
        non_canonical[31] = 0x7f;
        items[17].2[..32].copy_from_slice(&non_canonical);
        items[19].2[63] |= 0xf0;
        let strict: Vec<bool> = items
            .iter()
            .map(|(m, k, s)| verify_signature(k, m, &Signature::from_bytes(s)).is_ok())
            .collect();
        let borrowed: Vec<SignedBytes<'_>> =
            items.iter().map(|(m, k, s)| (m.as_slice(), *k, *s)).collect();
        assert_eq!(verify_many(&borrowed), strict);
        assert_eq!(strict.iter().filter(|ok| !**ok).count(), 6, "each bad kind is refused");
        // All good: the batch equation alone.
        let good: Vec<SignedBytes<'_>> =
            borrowed.iter().enumerate().filter(|(i, _)| strict[*i]).map(|(_, x)| *x).collect();
        assert!(verify_many(&good).iter().all(|ok| *ok));
        assert!(verify_many(&[]).is_empty());
    }

    #[test]
    fn chain_hash_matches_the_documented_formula() {
        let site = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
        let (prev, bh) = ([0x11u8; 32], [0x22u8; 32]);
        // The preimage spelled out byte by byte, independent of chain_hash().
        let mut preimage = b"osiris-chain-v1".to_vec();
        preimage.extend_from_slice(&[
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        preimage.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]);
        preimage.extend_from_slice(&prev);
        preimage.extend_from_slice(&bh);
        assert_eq!(preimage.len(), 103);
        let by_hand: [u8; 32] = Sha256::digest(&preimage).into();
        let got = chain_hash(site, 5, &prev, &bh);
        assert_eq!(got, by_hand);
        // Fixed vector, computed outside Rust (Python hashlib).
        assert_eq!(
            hex::encode(got),
            "e1c9ce5d34d5f35f6036c9bef395e4bbf9837f2e03db4761011512ce84c5bcf4"
        );
        // Genesis link of the nil site over the bundle "{}".
        assert_eq!(
            hex::encode(chain_hash(Uuid::nil(), 0, &GENESIS, &bundle_hash(b"{}"))),
            "01901dc3677cdc13dfcec6d1f85b4affdd0911dd48d9002efbab2cd24893461f"
        );
        assert_eq!(
            hex::encode(bundle_hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_valid_chain_verifies() {
        let rows = chain(5);
        let verified = verify(&rows).unwrap();
        assert_eq!(verified.length, 5);
        assert_eq!(verified.head.as_slice(), rows[4].chain_hash.as_slice());
        assert_eq!(verified.bytes, rows.iter().map(|r| r.raw.len() as u64).sum::<u64>());
    }

    #[test]
    fn an_empty_chain_verifies() {
        let verified = verify_with(&[], 0, None).unwrap();
        assert_eq!(verified, Verified { length: 0, head: GENESIS, bytes: 0 });
        assert!(verify_with(&[], 0, Some(&GENESIS)).is_ok());
        assert_broken(
            verify_with(&[], 0, Some(&[1; 32])),
            0,
            "records a chain head but has no bundles",
        );
    }

    #[test]
    fn one_changed_byte_of_a_bundle_is_caught() {
        let mut rows = chain(5);
        let at = rows[2].raw.iter().position(|&b| b == b'F').unwrap();
        rows[2].raw[at] = b'G';
        assert_broken(
            verify(&rows),
            2,
            "bundle CB-2026-11-22-00000002: its stored bytes no longer match",
        );
    }

    #[test]
    fn a_changed_bundle_hash_is_caught() {
        let mut rows = chain(5);
        rows[3].bundle_hash[0] ^= 1;
        assert_broken(verify(&rows), 3, "no longer match the hash recorded when it arrived");
    }

    #[test]
    fn a_changed_bundle_with_its_hash_updated_is_caught_by_the_chain() {
        let mut rows = chain(5);
        rows[2].raw = bundle_bytes(SITE, "CB-2026-11-22-00000002", 0);
        rows[2].bundle_hash = bundle_hash(&rows[2].raw).to_vec();
        assert_broken(
            verify(&rows),
            2,
            "its recorded chain hash does not follow from the link before it",
        );
    }

    #[test]
    fn a_changed_chain_hash_is_caught() {
        let mut rows = chain(5);
        rows[1].chain_hash[31] ^= 0x80;
        assert_broken(
            verify(&rows),
            1,
            "its recorded chain hash does not follow from the link before it",
        );
        // Changing the next link's previous hash to match moves the break
        // nowhere: link 1 itself no longer follows from link 0.
        rows[2].prev_chain_hash = rows[1].chain_hash.clone();
        assert_broken(verify(&rows), 1, "chain hash does not follow");
    }

    #[test]
    fn a_changed_previous_hash_is_caught() {
        let mut rows = chain(5);
        rows[0].prev_chain_hash[0] = 1;
        assert_broken(verify(&rows), 0, "is not the chain's starting value");
        let mut rows = chain(5);
        rows[4].prev_chain_hash[5] ^= 1;
        assert_broken(verify(&rows), 4, "is not the chain hash of position 3");
    }

    #[test]
    fn a_rewritten_chain_without_the_key_is_caught_by_the_signature() {
        // Someone with database access replaces bundle 2 and recomputes every
        // hash after it, but cannot sign as the appliance.
        let mut rows = chain(5);
        let forger = SigningKey::from_bytes(&[9u8; 32]);
        let tail: Vec<Row> = rows.split_off(2);
        for (n, old) in tail.iter().enumerate() {
            let raw = if n == 0 { bundle_bytes(SITE, &old.bundle_id, 0) } else { old.raw.clone() };
            let sig = old.signature.clone();
            append(&mut rows, &forger, SITE, &old.bundle_id, raw);
            if n > 0 {
                rows.last_mut().unwrap().signature = sig;
            }
        }
        assert_broken(
            verify(&rows),
            2,
            "its signature does not verify with the site's appliance key",
        );
    }

    #[test]
    fn a_deleted_link_is_caught() {
        let mut rows = chain(5);
        rows.remove(2);
        assert_broken(
            verify_with(&rows, 5, Some(&rows[3].chain_hash.clone())),
            2,
            "position 2 is missing: the chain jumps from 1 to 3 (bundle CB-2026-11-23-00000003), \
             so a bundle was removed",
        );

        let mut rows = chain(5);
        rows.drain(1..3);
        assert_broken(
            verify(&rows),
            1,
            "positions 1 to 2 are missing: the chain jumps from 0 to 3",
        );

        let mut rows = chain(5);
        rows.remove(0);
        assert_broken(verify(&rows), 0, "position 0 is missing: the chain starts at 1");
    }

    #[test]
    fn a_deleted_and_renumbered_link_is_caught() {
        let mut rows = chain(5);
        rows.remove(2);
        for (n, row) in rows.iter_mut().enumerate() {
            row.position = n as i64;
        }
        assert_broken(verify(&rows), 2, "is not the chain hash of position 1");
    }

    #[test]
    fn swapped_positions_are_caught() {
        let mut rows = chain(5);
        rows[2].position = 3;
        rows[3].position = 2;
        rows.sort_by_key(|r| r.position);
        assert_broken(verify(&rows), 2, "it does not follow from the link before it");
    }

    #[test]
    fn links_pushed_twice_or_out_of_order_are_caught() {
        let mut rows = chain(5);
        rows.insert(3, rows[2].clone());
        assert_broken(verify(&rows), 2, "position 2 appears again after position 2");
    }

    #[test]
    fn a_bad_signature_is_caught() {
        let mut rows = chain(5);
        rows[4].signature[10] ^= 1;
        assert_broken(
            verify(&rows),
            4,
            "bundle CB-2026-11-24-00000004: its signature does not verify",
        );

        // A valid signature, but by another key.
        let mut rows = chain(5);
        rows[1].signature =
            SigningKey::from_bytes(&[9u8; 32]).sign(&rows[1].raw).to_bytes().to_vec();
        assert_broken(
            verify(&rows),
            1,
            "its signature does not verify with the site's appliance key",
        );

        let mut rows = chain(5);
        rows[3].signature.truncate(63);
        assert_broken(verify(&rows), 3, "the stored signature is 63 bytes instead of 64");
    }

    #[test]
    fn damaged_hash_columns_are_caught() {
        let mut rows = chain(3);
        rows[1].prev_chain_hash.pop();
        assert_broken(verify(&rows), 1, "its recorded previous hash is 31 bytes instead of 32");
        let mut rows = chain(3);
        rows[2].chain_hash.push(0);
        assert_broken(verify(&rows), 2, "its recorded chain hash is 33 bytes instead of 32");
        let mut rows = chain(3);
        rows[0].bundle_hash.clear();
        assert_broken(verify(&rows), 0, "its recorded bundle hash is 0 bytes instead of 32");
    }

    #[test]
    fn an_invalid_site_key_is_reported() {
        // The identity point: on the curve, but of small order.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let rows = chain(2);
        let mut verifier = ChainVerifier::new(SITE, weak);
        let broken = verifier.push(&rows[0].link()).unwrap_err();
        assert_eq!(broken.position, 0);
        assert!(broken.reason.contains("not a valid Ed25519 key"), "{}", broken.reason);
        // Without links there is nothing to sign, so nothing is broken.
        assert!(ChainVerifier::new(SITE, weak).finish(0, None).is_ok());
    }

    #[test]
    fn a_bundle_of_another_site_is_caught() {
        let mut rows = chain(2);
        let id = "CB-other-site";
        append(&mut rows, &key(), SITE, id, bundle_bytes(OTHER_SITE, id, 2));
        assert_broken(verify(&rows), 2, &format!("it belongs to site {OTHER_SITE}, not this site"));
    }

    #[test]
    fn a_wrong_recorded_bundle_id_is_caught() {
        let mut rows = chain(2);
        append(&mut rows, &key(), SITE, "CB-recorded", bundle_bytes(SITE, "CB-inside", 2));
        assert_broken(
            verify(&rows),
            2,
            "bundle CB-recorded: its bytes carry the bundle id \"CB-inside\"",
        );
    }

    #[test]
    fn signed_bytes_that_are_not_a_bundle_are_caught() {
        let mut rows = chain(2);
        append(&mut rows, &key(), SITE, "CB-x", b"{\"bundle_id\":\"CB-x\"}".to_vec());
        assert_broken(
            verify(&rows),
            2,
            "its stored bytes are not a valid evidence bundle (site_id: is required",
        );
    }

    #[test]
    fn finish_checks_the_recorded_length_and_head() {
        let rows = chain(5);
        let head = rows[4].chain_hash.clone();
        assert_broken(
            verify_with(&rows[..4], 5, Some(&head)),
            4,
            "position 4 is missing: the site records 5 bundles but only 4 are stored",
        );
        assert_broken(verify_with(&rows[..3], 5, Some(&head)), 3, "positions 3 to 4 are missing");
        assert_broken(
            verify_with(&rows, 4, Some(&head)),
            4,
            "the site records 4 bundles but 5 are stored",
        );
        assert_broken(
            verify_with(&rows, 5, Some(&rows[3].chain_hash)),
            4,
            "recorded chain head does not match its last bundle CB-2026-11-24-00000004",
        );
        assert_broken(verify_with(&rows, 5, None), 4, "recorded chain head does not match");
        assert_broken(
            verify_with(&rows, 5, Some(&head[..31])),
            4,
            "recorded chain head does not match",
        );
        assert!(verify_with(&rows, 5, Some(&head)).is_ok());
    }

    #[test]
    fn signatures_from_the_header() {
        let raw = bundle_bytes(SITE, "CB-1", 0);
        let sig = key().sign(&raw);
        let lower = hex::encode(sig.to_bytes());
        let parsed = parse_signature(&lower).unwrap();
        assert_eq!(parsed, sig);
        assert_eq!(parse_signature(&format!("  {}\n", lower.to_uppercase())).unwrap(), sig);
        assert_eq!(verify_signature(&public(), &raw, &parsed), Ok(()));

        for bad in [
            "",
            &lower[..126],
            &format!("{lower}00"),
            &format!("{}zz", &lower[..126]),
            &format!("+{}", &lower[1..]),
        ] {
            assert_eq!(parse_signature(bad), Err(SignatureError::Malformed), "{bad:?}");
        }
        assert_eq!(
            SignatureError::Malformed.to_string(),
            "X-Agent-Signature must be 128 hex digits (an Ed25519 signature)"
        );

        let mut other = raw.clone();
        other.push(b' ');
        assert_eq!(verify_signature(&public(), &other, &parsed), Err(SignatureError::Mismatch));
        let other_key = SigningKey::from_bytes(&[9u8; 32]).verifying_key().to_bytes();
        assert_eq!(verify_signature(&other_key, &raw, &parsed), Err(SignatureError::Mismatch));
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert_eq!(verify_signature(&weak, &raw, &parsed), Err(SignatureError::InvalidPublicKey));
        assert_eq!(
            SignatureError::InvalidPublicKey.to_string(),
            "the site's stored public key is not a valid Ed25519 key"
        );
        assert_eq!(
            SignatureError::Mismatch.to_string(),
            "the signature does not match this bundle and the site's key"
        );
    }
}
