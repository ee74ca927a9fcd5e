//! Verification that does not trust the database: a bundle, or a whole
//! practice, checked against the evidence log's signed checkpoints.
//!
//! One bundle ([`verify_bundle`]): its signature over its bytes, its leaf
//! recomputed from the stored row, the leaf's inclusion in the latest
//! checkpoint, that checkpoint's signature, and the rows pages and reports
//! read re-derived from the bytes. A few statements at any position.
//!
//! A whole practice ([`start`], a background job, one per practice at a
//! time): every leaf in order — each evidence leaf against its bundle row
//! (bytes, hash, signature, chain link, position, receive time, derived
//! rows) and against the key of the latest site-key leaf before it — and
//! the tree root at every stored checkpoint's size against that signed
//! checkpoint. Problems name the log index, site, position and bundle, and
//! say what is wrong.

use std::collections::HashMap;

use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::{chain, derived};
use crate::db::evidence_log::{self as store, BundleRecord};
pub use crate::db::verifications::{Job, Problem};
use crate::error::{AppError, AppResult};
use crate::evidence::proofs;
use crate::log::checkpoint::Checkpoint;
use crate::log::leaf::Leaf;
use crate::log::merkle::{self, Hash, leaf_hash, node_hash};
use crate::log::note::{self, NoteVerifier};
use crate::state::AppState;

/// The outcome of verifying one bundle.
#[derive(Debug, Clone)]
pub struct BundleCheck {
    pub bundle_id: String,
    pub valid: bool,
    pub log_index: Option<u64>,
    pub checkpoint_size: Option<u64>,
    pub signature_valid: bool,
    pub included: bool,
    pub rows_match: bool,
    pub reason: Option<String>,
}

/// The leaf the log should hold for a stored bundle, from the row as it is
/// now (its bytes, chain hash, signature, receive time and the site's key).
fn recomputed_leaf(b: &BundleRecord, key: &[u8]) -> AppResult<Vec<u8>> {
    let leaf = super::log::evidence_leaf(&super::log::EvidenceFacts {
        site_id: b.site_id,
        chain_position: b.chain_position,
        bundle_hash: &chain::bundle_hash(&b.raw),
        chain_hash: &b.chain_hash,
        key,
        signature: &b.signature,
        received_at: b.received_at,
    });
    match leaf {
        Ok(l) => Ok(l.encode()),
        // A damaged column (a wrong length) cannot make a leaf: it cannot
        // match the logged one either.
        Err(_) => Ok(Vec::new()),
    }
}

fn opened_head(verifier: &NoteVerifier, signed: &str) -> Result<Checkpoint, String> {
    let opened = note::open(signed, verifier)
        .map_err(|e| format!("the checkpoint is not signed by the log key ({e})"))?;
    Checkpoint::parse(&opened.text).map_err(|e| format!("the checkpoint is malformed ({e})"))
}

/// Verifies one bundle of practice `org_id` against the log.
pub async fn verify_bundle(
    state: &AppState,
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &crate::db::evidence::BundleRef<'_>,
) -> AppResult<BundleCheck> {
    let b = store::bundle_record(db, org_id, bundle)
        .await?
        .ok_or_else(crate::compliance::no_such_bundle)?;
    let signature_valid = chain::stored_signature_valid(&b.site_key, &b.raw, &b.signature);
    let mut reasons = Vec::new();
    if !signature_valid {
        reasons.push("its signature does not verify with the site's key".to_owned());
    }
    let rows_match = match derived::derive(&b.raw) {
        Ok(signed) => {
            let found = derived::differences(&signed, &b.rows);
            reasons.extend(found.iter().cloned());
            found.is_empty()
        }
        Err(e) => {
            reasons.push(format!("its stored bytes are not a valid bundle ({e})"));
            false
        }
    };
    let (_, verifier) = proofs::verifier(state, db, org_id).await?;
    let mut check = BundleCheck {
        bundle_id: b.bundle_id.clone(),
        valid: false,
        log_index: b.log_index.map(|i| i as u64),
        checkpoint_size: None,
        signature_valid,
        included: false,
        rows_match,
        reason: None,
    };
    match b.log_index {
        None => reasons.push("it is not in the evidence log".into()),
        Some(index) => {
            let index = index as u64;
            let latest = proofs::latest(db, org_id).await?;
            match opened_head(&verifier, &latest.note) {
                Err(e) => reasons.push(format!("the latest {e}")),
                Ok(head) if index >= head.size => reasons.push(format!(
                    "it is leaf {index}, after the latest checkpoint ({} leaves); verify again in a minute",
                    head.size
                )),
                Ok(head) => {
                    check.checkpoint_size = Some(head.size);
                    let leaf = recomputed_leaf(&b, &b.site_key)?;
                    let proof = proofs::inclusion(db, org_id, index, head.size).await?;
                    match merkle::verify_inclusion(index, head.size, &leaf_hash(&leaf), &proof, &head.root) {
                        Ok(()) => check.included = true,
                        Err(_) => reasons.push(format!(
                            "its bytes, key, signature or chain hash differ from what was logged at index \
                             {index} and signed in the checkpoint of {} leaves",
                            head.size
                        )),
                    }
                }
            }
        }
    }
    check.valid = check.signature_valid && check.included && check.rows_match;
    check.reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    Ok(check)
}

// ---------------------------------------------------------------------------
// The whole practice, as a background job
// ---------------------------------------------------------------------------

/// Leaves verified per batch (one statement for leaves, two for bundles).
const BATCH: i64 = 1000;
/// Ranges of [`BATCH`] leaves read ahead of the one being checked.
const READ_AHEAD: usize = 2;
/// Problems kept in a job's result (the count is always exact).
pub const MAX_PROBLEMS: usize = 1000;
/// A running job whose heartbeat is older than this was interrupted.
const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// Starts verifying practice `org_id` in the background, unless a job is
/// running (its id is returned) or the last finished one covered the log
/// as it is (kept until the log grows). True when a new job started.
pub async fn start(state: &AppState, org_id: Uuid, user_id: Uuid) -> AppResult<(Uuid, bool)> {
    let mut client = state.pool().get().await?;
    let tx = client.transaction().await?;
    let Some((_, size)) = store::log_row(&*tx, org_id).await? else {
        return Err(AppError::NotFound(
            "your practice has no evidence log yet: it starts with the first evidence an appliance sends"
                .into(),
        ));
    };
    let (id, started) =
        crate::db::verifications::start(&*tx, org_id, user_id, size, STALE_AFTER).await?;
    tx.commit().await?;
    if started {
        let state = state.clone();
        tokio::spawn(async move {
            let outcome = run(&state, id, org_id, size).await;
            if let Err(e) = outcome {
                tracing::error!(job = %id, error = %e.detail(), "log verification failed");
                if let Ok(db) = state.pool().get().await {
                    let _ = crate::db::verifications::fail(
                        &**db,
                        id,
                        "the verification stopped on an internal error; start it again",
                    )
                    .await;
                }
            }
        });
    }
    Ok((id, started))
}

/// Verifies practice `org_id` now, in this task, and returns the result
/// (operators' command and tests). Refused while a job is running.
pub async fn verify_now(state: &AppState, org_id: Uuid, user_id: Option<Uuid>) -> AppResult<Job> {
    let (id, size) = {
        let mut client = state.pool().get().await?;
        let tx = client.transaction().await?;
        let (_, size) = store::log_row(&*tx, org_id)
            .await?
            .ok_or_else(|| AppError::NotFound("the practice has no evidence log yet".into()))?;
        let id = crate::db::verifications::create(&*tx, org_id, user_id, size).await?;
        tx.commit().await?;
        (id, size)
    };
    if let Err(e) = run(state, id, org_id, size).await {
        let db = state.pool().get().await?;
        crate::db::verifications::fail(&**db, id, &e.detail()).await?;
        return Err(e);
    }
    let db = state.pool().get().await?;
    job(&**db, org_id, id).await
}

/// A job of practice `org_id`.
pub async fn job(db: &impl GenericClient, org_id: Uuid, id: Uuid) -> AppResult<Job> {
    crate::db::verifications::get(db, org_id, id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such verification in your practice".into()))
}

/// The running tree: complete subtrees, largest first (RFC 6962 order).
#[derive(Default)]
struct Frontier(Vec<(u64, Hash)>);

impl Frontier {
    fn push(&mut self, h: Hash) {
        let mut node = (1u64, h);
        while let Some(&(size, left)) = self.0.last() {
            if size != node.0 {
                break;
            }
            self.0.pop();
            node = (size * 2, node_hash(&left, &node.1));
        }
        self.0.push(node);
    }

    fn root(&self) -> Hash {
        let mut it = self.0.iter().rev();
        let Some(&(_, mut acc)) = it.next() else { return merkle::empty_root() };
        for (_, h) in it {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

/// Where each site's chain stands as the leaves are read.
struct SiteState {
    key: [u8; 32],
    next_position: i64,
    prev: [u8; 32],
}

struct Checker {
    problems: Vec<Problem>,
    count: i64,
    sites: HashMap<Uuid, SiteState>,
    frontier: Frontier,
}

impl Checker {
    fn problem(&mut self, p: Problem) {
        self.count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// A problem of the log as a whole, not of one leaf.
    fn log_wide(&mut self, reason: String) {
        self.problem(Problem {
            log_index: None,
            site_id: None,
            position: None,
            bundle_id: None,
            reason,
        });
    }

    fn about(&mut self, index: u64, b: Option<&BundleRecord>, reason: String) {
        self.problem(Problem {
            log_index: Some(index),
            site_id: b.map(|b| b.site_id),
            position: b.map(|b| b.chain_position),
            bundle_id: b.map(|b| b.bundle_id.clone()),
            reason,
        });
    }

    fn evidence(
        &mut self,
        index: u64,
        e: &crate::log::leaf::EvidenceLeaf,
        b: Option<&BundleRecord>,
        facts: &Facts,
    ) {
        let sig_ok = facts.sig_ok;
        let Some(b) = b else {
            self.problem(Problem {
                log_index: Some(index),
                site_id: Some(e.site),
                position: Some(e.position as i64),
                bundle_id: None,
                reason: "the bundle logged here is missing from the database (deleted)".into(),
            });
            return;
        };
        let site = self.sites.get(&e.site).map(|s| (s.key, s.next_position, s.prev));
        let Some((key, next, prev)) = site else {
            self.about(index, Some(b), "no site-key leaf before it registers its site".into());
            return;
        };
        if e.key != key {
            self.about(
                index,
                Some(b),
                "it names a key that is not the site's registered key at that point".into(),
            );
        }
        if b.site_id != e.site || b.chain_position != e.position as i64 {
            self.about(
                index,
                Some(b),
                format!(
                    "the stored row says site {} position {}, the log says site {} position {}",
                    b.site_id, b.chain_position, e.site, e.position
                ),
            );
        }
        if facts.bundle_hash != e.bundle || b.bundle_hash != e.bundle {
            self.about(
                index,
                Some(b),
                "its stored bytes are not the bytes that were logged".into(),
            );
        }
        if b.signature != e.signature {
            self.about(
                index,
                Some(b),
                "its stored signature is not the one that was logged".into(),
            );
        } else if !sig_ok {
            self.about(index, Some(b), "its signature does not verify with the logged key".into());
        }
        if e.position as i64 != next {
            self.about(
                index,
                Some(b),
                format!("the site's chain skips from position {} to {}", next - 1, e.position),
            );
        }
        let expected = chain::chain_hash(e.site, e.position, &prev, &e.bundle);
        if expected != e.chain || b.chain_hash != e.chain || b.prev_chain_hash != prev {
            self.about(
                index,
                Some(b),
                "its chain link does not follow from the previous bundle of the site".into(),
            );
        }
        if b.received_at.timestamp() != e.received as i64 {
            self.about(index, Some(b), "its stored receive time is not the logged one".into());
        }
        match &facts.derived {
            Ok(differences) => {
                for d in differences {
                    self.about(index, Some(b), d.clone());
                }
            }
            Err(e) => {
                self.about(index, Some(b), format!("its stored bytes are not a valid bundle ({e})"))
            }
        }
        if let Some(s) = self.sites.get_mut(&e.site) {
            s.next_position = e.position as i64 + 1;
            s.prev = e.chain;
        }
    }
}

async fn run(state: &AppState, job_id: Uuid, org_id: Uuid, size: i64) -> AppResult<()> {
    let (verifier, checkpoints) = {
        let db = state.pool().get().await?;
        let (_, verifier) = proofs::verifier(state, &**db, org_id).await?;
        (verifier, store::all_checkpoints(&**db, org_id).await?)
    };
    let mut c = Checker {
        problems: Vec::new(),
        count: 0,
        sites: HashMap::new(),
        frontier: Frontier::default(),
    };
    // Checkpoints by size; each signature checked once.
    let mut heads: Vec<(u64, Result<Checkpoint, String>, i64)> = checkpoints
        .iter()
        .map(|cp| (cp.size as u64, opened_head(&verifier, &cp.note), cp.id))
        .collect();
    heads.sort_by_key(|h| h.0);
    let mut next_head = 0;
    let check_heads = |c: &mut Checker, at: u64, next_head: &mut usize| {
        while *next_head < heads.len() && heads[*next_head].0 == at {
            let (_, head, id) = &heads[*next_head];
            match head {
                Err(e) => c.log_wide(format!("stored checkpoint {id}: {e}")),
                Ok(h) if h.root != c.frontier.root() => c.log_wide(format!(
                    "the log's first {at} leaves no longer hash to the root the checkpoint of {at} \
                     leaves signed: logged evidence was changed or removed"
                )),
                Ok(_) => {}
            }
            *next_head += 1;
        }
    };
    check_heads(&mut c, 0, &mut next_head);
    // The next ranges are read and parsed while this one is checked in
    // order: the database, the cores and the in-order checks work side by
    // side.
    let fetch = |from: i64| {
        let state = state.clone();
        tokio::spawn(async move {
            let to = (from + BATCH).min(size);
            let (leaves, bundles) = {
                let db = state.pool().get().await?;
                let leaves = store::leaves(&**db, org_id, from, to).await?;
                (leaves, store::bundle_records(&**db, org_id, from, to).await?)
            };
            let mut by_index: HashMap<i64, BundleRecord> =
                bundles.into_iter().filter_map(|b| b.log_index.map(|i| (i, b))).collect();
            // The CPU work (parsing, hashes, signatures, the derived rows)
            // off the async runtime, on every core.
            let work: Vec<Work> = leaves
                .into_iter()
                .map(|l| {
                    let record = by_index.remove(&l.index);
                    Work { index: l.index, data: l.data, record }
                })
                .collect();
            tokio::task::spawn_blocking(move || parse_batch(work)).await.map_err(AppError::internal)
        })
    };
    // Two ranges ahead, so the cores never wait for the database.
    let mut at: i64 = 0;
    let mut ahead = std::collections::VecDeque::new();
    let mut asked = 0;
    while asked < size && ahead.len() < READ_AHEAD {
        ahead.push_back(fetch(asked));
        asked += BATCH;
    }
    while let Some(pending) = ahead.pop_front() {
        let to = (at + BATCH).min(size);
        let parsed: Vec<Checked> = pending.await.map_err(AppError::internal)??;
        if asked < size {
            ahead.push_back(fetch(asked));
            asked += BATCH;
        }
        let mut expected = at;
        for Checked { index, leaf, hash, facts, record } in parsed {
            while expected < index {
                c.about(expected as u64, None, "this leaf is missing from the log".into());
                expected += 1;
            }
            expected = index + 1;
            let b = record.as_ref();
            match leaf {
                Err(e) => c.about(
                    index as u64,
                    b,
                    format!("the logged leaf is not in the exact leaf format ({e})"),
                ),
                Ok(Leaf::SiteKey(k)) => {
                    let entry = c.sites.entry(k.site).or_insert(SiteState {
                        key: k.key,
                        next_position: 0,
                        prev: chain::GENESIS,
                    });
                    entry.key = k.key;
                }
                Ok(Leaf::Evidence(e)) => c.evidence(index as u64, &e, b, &facts),
                Ok(Leaf::Report(_)) => {}
            }
            c.frontier.push(hash);
            check_heads(&mut c, index as u64 + 1, &mut next_head);
        }
        while expected < to {
            c.about(expected as u64, None, "this leaf is missing from the log".into());
            expected += 1;
        }
        at = to;
        let db = state.pool().get().await?;
        crate::db::verifications::progress(&**db, job_id, at).await?;
    }
    // Checkpoints larger than the log: its tail was removed.
    for (s, _, id) in &heads[next_head..] {
        c.log_wide(format!(
            "checkpoint {id} signed {s} leaves but the log has only {size}: leaves were removed"
        ));
    }
    let db = state.pool().get().await?;
    let unlogged = store::unlogged_count(&**db, org_id).await?;
    if unlogged > 0 {
        c.log_wide(format!(
            "{unlogged} stored bundle(s) are not in the log: they were added outside the portal"
        ));
    }
    for (site_id, name, key, _) in store::current_site_keys(&**db, org_id).await? {
        if let Some(s) = c.sites.get(&site_id)
            && s.key.as_slice() != key.as_slice()
        {
            c.problem(Problem { log_index: None, site_id: Some(site_id), position: None, bundle_id: None,
                reason: format!("{name}'s appliance key in the database is not the last key logged for it: it was changed outside the portal") });
        }
    }
    crate::db::verifications::finish(&**db, job_id, &c.problems, c.count).await?;
    Ok(())
}

/// A leaf to check, and the bundle stored at its index.
struct Work {
    index: i64,
    data: Vec<u8>,
    record: Option<BundleRecord>,
}

/// What the parallel pass works out of an evidence leaf's bundle.
struct Facts {
    /// Whether its signature verifies the stored bytes with the key the
    /// leaf names.
    sig_ok: bool,
    /// SHA-256 of the stored bytes.
    bundle_hash: [u8; 32],
    /// Where the stored rows differ from the bytes, or why the bytes are
    /// not a bundle.
    derived: Result<Vec<String>, String>,
}

/// A leaf parsed and hashed, with what its bundle's bytes say.
struct Checked {
    index: i64,
    leaf: Result<Leaf, String>,
    hash: Hash,
    facts: Facts,
    record: Option<BundleRecord>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts { sig_ok: false, bundle_hash: [0; 32], derived: Ok(Vec::new()) }
    }
}

/// Signatures verified together, as one batch equation: a batch that
/// fails is checked one by one to name the bad ones.
const SIGNATURE_BATCH: usize = 64;

fn parse_batch(work: Vec<Work>) -> Vec<Checked> {
    let mut groups: Vec<Vec<Work>> = Vec::new();
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        groups.push(work.by_ref().take(SIGNATURE_BATCH).collect());
    }
    let parts = super::batch::par_map(&groups, |part| {
        let mut out: Vec<Checked> = Vec::with_capacity(part.len());
        for w in part.iter() {
            let leaf = Leaf::parse(&w.data).map_err(|e| e.to_string());
            let mut facts = Facts::default();
            if let (Ok(Leaf::Evidence(_)), Some(b)) = (&leaf, &w.record) {
                facts.bundle_hash = chain::bundle_hash(&b.raw);
                facts.derived = derived::derive(&b.raw)
                    .map(|signed| derived::differences(&signed, &b.rows))
                    .map_err(|e| e.to_string());
            }
            out.push(Checked {
                index: w.index,
                leaf,
                hash: leaf_hash(&w.data),
                facts,
                record: None,
            });
        }
        // The evidence leaves' signatures, as one batch.
        let mut at = Vec::with_capacity(part.len());
        let mut items: Vec<chain::SignedBytes<'_>> = Vec::with_capacity(part.len());
        for (k, w) in part.iter().enumerate() {
            if let (Ok(Leaf::Evidence(e)), Some(b)) = (&out[k].leaf, &w.record) {
                at.push(k);
                items.push((b.raw.as_slice(), e.key, e.signature));
            }
        }
        for (k, ok) in at.into_iter().zip(chain::verify_many(&items)) {
            out[k].facts.sig_ok = ok;
        }
        out
    });
    // Each bundle record back with its leaf, for the problems to name.
    parts
        .into_iter()
        .flatten()
        .zip(groups.into_iter().flatten())
        .map(|(mut checked, w)| {
            checked.record = w.record;
            checked
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_gives_the_rfc_6962_root_at_every_size() {
        let leaves: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::default();
        assert_eq!(f.root(), merkle::empty_root());
        for (n, l) in leaves.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), merkle::root_of(&leaves[..=n]), "size {}", n + 1);
        }
    }
}
