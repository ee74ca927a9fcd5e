//! The auditor pack: where every file lives in it (one place names them,
//! for the portal that writes packs and the verifiers that read them), the
//! small text formats it adds (policy, consistency proofs, PEM keys), and
//! the offline verifier behind `portal verify-pack` and the standalone
//! `osiris-verify-pack` binary. It needs no database and no server: only
//! the pack (a ZIP or its unzipped folder) and, ideally, the log key the
//! practice received independently (monthly email or PDF).
//!
//! What is checked, in order (the pack's README.md spells out the same
//! algorithm for anyone writing their own verifier, and verify.sh does the
//! same with openssl):
//! 1. every file against `manifest.sha256`, and no file unlisted;
//! 2. `policy.txt` and `keys/log.vkey` name the same log key, every key ID
//!    matches its name and key;
//! 3. every checkpoint's log signature and the cosignature quorum of the
//!    policy; each month-end checkpoint consistent with the final one;
//! 4. every site-key leaf included in the final checkpoint, and
//!    `keys/<site>.{hex,pem}` equal to the site's latest one;
//! 5. for each bundle: its SHA-256, its leaf (exact grammar, its site and
//!    position), the appliance signature over its bytes with the key its
//!    leaf names, that key being the site's registered one at that point
//!    of the log, its chain link from the previous position, its inclusion
//!    proof against the final checkpoint; positions without gaps;
//! 6. each report PDF against its logged SHA-256, when the log has it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::checkpoint::Checkpoint;
use super::cosignature::CosignatureVerifier;
use super::leaf::{EvidenceLeaf, Leaf, SiteKeyLeaf};
use super::merkle::{self, Hash};
use super::note::{self, NoteVerifier};
use super::proof::TlogProof;

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

pub const README: &str = "README.md";
pub const VERIFY_SH: &str = "verify.sh";
pub const POLICY: &str = "policy.txt";
pub const LOG_VKEY: &str = "keys/log.vkey";
pub const FINAL_CHECKPOINT: &str = "checkpoints/final.checkpoint";
pub const CHECKS: &str = "checks.csv";
pub const AUDIT_LOG: &str = "audit-log.csv";
pub const MANIFEST: &str = "manifest.sha256";

/// verify.sh, as every pack carries it.
pub const VERIFY_SCRIPT: &str = include_str!("pack/verify.sh");

pub fn bundle_path(site: Uuid, position: u64) -> String {
    format!("bundles/{site}/{position}.json")
}
pub fn leaf_path(site: Uuid, position: u64) -> String {
    format!("leaves/{site}/{position}.leaf")
}
pub fn proof_path(site: Uuid, position: u64) -> String {
    format!("proofs/{site}/{position}.tlog-proof")
}
pub fn key_leaf_path(site: Uuid, index: u64) -> String {
    format!("leaves/{site}/key-{index}.leaf")
}
pub fn key_proof_path(site: Uuid, index: u64) -> String {
    format!("proofs/{site}/key-{index}.tlog-proof")
}
pub fn key_hex_path(site: Uuid) -> String {
    format!("keys/{site}.hex")
}
pub fn key_pem_path(site: Uuid) -> String {
    format!("keys/{site}.pem")
}
pub fn report_path(month: &str) -> String {
    format!("reports/{month}.pdf")
}
pub fn report_leaf_path(month: &str) -> String {
    format!("leaves/reports/{month}.leaf")
}
pub fn report_proof_path(month: &str) -> String {
    format!("proofs/reports/{month}.tlog-proof")
}
pub fn month_checkpoint_path(month: &str) -> String {
    format!("checkpoints/{month}.checkpoint")
}
pub fn consistency_path(month: &str) -> String {
    format!("checkpoints/{month}.consistency")
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key
/// bytes follow.
pub const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// An Ed25519 public key as PEM (what `openssl pkey -pubin` reads).
pub fn public_key_pem(key: &[u8; 32]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key);
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", B64.encode(der))
}

fn key_of_pem(pem: &str) -> Option<[u8; 32]> {
    let body: String =
        pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect::<Vec<_>>().concat();
    let der = B64.decode(body).ok()?;
    let key = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    key.try_into().ok()
}

/// A consistency proof as a pack file: one base64 hash per line.
pub fn consistency_text(hashes: &[Hash]) -> String {
    hashes.iter().map(|h| format!("{}\n", B64.encode(h))).collect()
}

fn parse_consistency(text: &str) -> Option<Vec<Hash>> {
    text.lines().map(|l| B64.decode(l).ok()?.try_into().ok()).collect()
}

/// A c2sp.org/tlog-policy text: the log (with where it is served), the
/// witnesses by local name, and the quorum: `required` names a group that
/// needs all of them, or the quorum is `none`.
pub fn policy_text(
    log_vkey: &str,
    log_url: &str,
    witnesses: &[(String, String)],
    required: &[String],
) -> String {
    let mut out = format!("log {log_vkey} {log_url}\n");
    for (name, vkey) in witnesses {
        out.push_str(&format!("witness {name} {vkey}\n"));
    }
    if required.is_empty() {
        out.push_str("quorum none\n");
    } else {
        out.push_str(&format!("group cosigners all {}\nquorum cosigners\n", required.join(" ")));
    }
    out
}

// ---------------------------------------------------------------------------
// Reading a pack
// ---------------------------------------------------------------------------

/// A pack's files, from a ZIP or an unzipped folder.
pub trait Files: Send {
    /// Every file's name, `/`-separated, relative to the pack's top.
    fn names(&self) -> &[String];
    fn read(&mut self, name: &str) -> Result<Vec<u8>, Failure>;
}

fn missing(name: &str) -> Failure {
    Failure::new(name, "is missing from the pack")
}

/// An unzipped pack.
pub struct DirFiles {
    root: PathBuf,
    names: Vec<String>,
}

impl DirFiles {
    pub fn open(root: &Path) -> Result<Self, Failure> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    walk(root, &path, out)?;
                } else {
                    let rel = path.strip_prefix(root).expect("under root");
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
            Ok(())
        }
        let mut names = Vec::new();
        walk(root, root, &mut names).map_err(|e| {
            Failure::new(&root.display().to_string(), &format!("cannot be read: {e}"))
        })?;
        names.sort();
        Ok(DirFiles { root: root.to_owned(), names })
    }
}

impl Files for DirFiles {
    fn names(&self) -> &[String] {
        &self.names
    }
    fn read(&mut self, name: &str) -> Result<Vec<u8>, Failure> {
        std::fs::read(self.root.join(name)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => missing(name),
            _ => Failure::new(name, &format!("cannot be read: {e}")),
        })
    }
}

/// A pack as the portal serves it: a ZIP whose files sit under one top
/// folder.
pub struct ZipFiles {
    archive: zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    prefix: String,
    names: Vec<String>,
}

impl ZipFiles {
    pub fn open(path: &Path) -> Result<Self, Failure> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::new(&shown, &format!("cannot be opened: {e}")))?;
        let archive = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| Failure::new(&shown, &format!("is not a readable ZIP file: {e}")))?;
        let all: Vec<String> = archive
            .file_names()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::new(&shown, &format!("has an unreadable file name: {e}")))?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .map(|n| n.into_owned())
            .collect();
        let prefix = all
            .iter()
            .find_map(|n| n.strip_suffix(README).filter(|p| p.is_empty() || p.ends_with('/')))
            .ok_or_else(|| Failure::new(&shown, "holds no README.md: it is not an auditor pack"))?
            .to_owned();
        let mut names: Vec<String> =
            all.iter().filter_map(|n| n.strip_prefix(&prefix)).map(str::to_owned).collect();
        names.sort();
        Ok(ZipFiles { archive, prefix, names })
    }
}

impl Files for ZipFiles {
    fn names(&self) -> &[String] {
        &self.names
    }
    fn read(&mut self, name: &str) -> Result<Vec<u8>, Failure> {
        let mut entry =
            self.archive.by_name(&format!("{}{name}", self.prefix)).map_err(|e| match e {
                zip::result::ZipError::FileNotFound => missing(name),
                e => Failure::new(name, &format!("cannot be read from the ZIP: {e}")),
            })?;
        let mut out = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut out)
            .map_err(|e| Failure::new(name, &format!("cannot be read from the ZIP: {e}")))?;
        Ok(out)
    }
}

/// Opens a pack: a `.zip` file or an unzipped folder.
pub fn open(path: &Path) -> Result<Box<dyn Files>, Failure> {
    if path.is_dir() {
        Ok(Box::new(DirFiles::open(path)?))
    } else {
        Ok(Box::new(ZipFiles::open(path)?))
    }
}

// ---------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------

/// The first thing found wrong: which file, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub file: String,
    pub reason: String,
}

impl Failure {
    fn new(file: &str, reason: &str) -> Self {
        Failure { file: file.to_owned(), reason: reason.to_owned() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

impl std::error::Error for Failure {}

/// How to verify.
#[derive(Debug, Clone)]
pub struct Options {
    /// The log key the practice received independently; when given, the
    /// pack's own key must be this one.
    pub log_key: Option<String>,
    /// Check only this many bundles (chosen at random with `seed`);
    /// everything else is still checked in full.
    pub sample: Option<u64>,
    pub seed: u64,
    /// Worker threads for the bundle checks.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            log_key: None,
            sample: None,
            seed: 0,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }
    }
}

/// What a verified pack showed.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub origin: String,
    pub log_vkey: String,
    /// Whether the log key was the one given (`--log-key`); false when
    /// none was given, so the key is only the pack's own word.
    pub log_key_pinned: bool,
    pub final_size: u64,
    pub sites: u64,
    pub bundles_in_pack: u64,
    pub bundles_verified: u64,
    pub site_keys: u64,
    pub checkpoints: u64,
    pub cosignatures: u64,
    pub reports_verified: u64,
    /// Report PDFs in the pack the log has no leaf for (made before the
    /// log existed): their bytes are not proven.
    pub reports_unlogged: u64,
    pub files: u64,
}

impl Summary {
    /// The one line verify.sh also prints.
    pub fn line(&self) -> String {
        format!(
            "{} bundles verified, {} checkpoints, {} cosignatures",
            self.bundles_verified, self.checkpoints, self.cosignatures
        )
    }
}

fn text(name: &str, bytes: Vec<u8>) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|_| Failure::new(name, "is not UTF-8 text"))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Step 1: every file against the manifest, none unlisted.
fn check_manifest(files: &mut dyn Files) -> Result<u64, Failure> {
    let manifest = text(MANIFEST, files.read(MANIFEST)?)?;
    let mut listed = BTreeSet::new();
    for (n, line) in manifest.lines().enumerate() {
        let bad = || Failure::new(MANIFEST, &format!("line {} is not `<sha256>  <file>`", n + 1));
        let (hash, name) = line.split_once("  ").ok_or_else(bad)?;
        let hash: [u8; 32] =
            hex::decode(hash).ok().and_then(|h| h.try_into().ok()).ok_or_else(bad)?;
        let bytes = files.read(name)?;
        if sha256(&bytes) != hash {
            return Err(Failure::new(name, "its SHA-256 is not the one manifest.sha256 lists"));
        }
        listed.insert(name.to_owned());
    }
    if let Some(extra) = files.names().iter().find(|n| *n != MANIFEST && !listed.contains(*n)) {
        return Err(Failure::new(extra, "is not listed in manifest.sha256"));
    }
    Ok(listed.len() as u64 + 1)
}

/// The parts of policy.txt a verifier uses.
struct Policy {
    log: NoteVerifier,
    log_vkey: String,
    witnesses: BTreeMap<String, CosignatureVerifier>,
    /// Witness names that must all have cosigned (empty: quorum none).
    required: Vec<String>,
}

fn parse_policy(text: &str) -> Result<Policy, Failure> {
    let bad = |why: String| Failure::new(POLICY, &why);
    let mut log = None;
    let mut witnesses = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut quorum = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["log", vkey, ..] => {
                let v = NoteVerifier::parse(vkey)
                    .map_err(|e| bad(format!("line {}: the log key: {e}", n + 1)))?;
                log = Some((v, (*vkey).to_owned()));
            }
            ["witness", name, vkey, ..] => {
                let v = CosignatureVerifier::parse(vkey).ok_or_else(|| {
                    bad(format!(
                        "line {}: witness {name}'s key is not a cosignature/v1 key whose key ID \
                         matches its name and key",
                        n + 1
                    ))
                })?;
                witnesses.insert((*name).to_owned(), v);
            }
            ["group", name, "all", members @ ..] => {
                groups
                    .insert((*name).to_owned(), members.iter().map(|m| (*m).to_owned()).collect());
            }
            ["quorum", name] => quorum = Some((*name).to_owned()),
            _ => {
                return Err(bad(format!(
                    "line {} is not one this verifier reads (log, witness, group <name> all, quorum)",
                    n + 1
                )));
            }
        }
    }
    let (log, log_vkey) = log.ok_or_else(|| bad("has no `log` line".into()))?;
    let required = match quorum.as_deref() {
        None => return Err(bad("has no `quorum` line".into())),
        Some("none") => Vec::new(),
        Some(q) if witnesses.contains_key(q) => vec![q.to_owned()],
        Some(q) => {
            groups.get(q).cloned().ok_or_else(|| bad(format!("its quorum {q} is not defined")))?
        }
    };
    if let Some(unknown) = required.iter().find(|w| !witnesses.contains_key(*w)) {
        return Err(bad(format!("its quorum names {unknown}, which is not a witness")));
    }
    Ok(Policy { log, log_vkey, witnesses, required })
}

/// A checkpoint file's log signature, cosignatures and quorum; returns the
/// checkpoint, its signed text and how many cosignatures verified.
fn open_checkpoint(
    name: &str,
    note_text: &str,
    policy: &Policy,
) -> Result<(Checkpoint, String, u64), Failure> {
    let fail = |why: String| Failure::new(name, &why);
    let opened = note::open(note_text, &policy.log)
        .map_err(|e| fail(format!("the log's signature: {e}")))?;
    let checkpoint =
        Checkpoint::parse(&opened.text).map_err(|e| fail(format!("not a checkpoint: {e}")))?;
    if checkpoint.origin != policy.log.name {
        return Err(fail(format!(
            "is of log {:?}, not {:?} (policy.txt)",
            checkpoint.origin, policy.log.name
        )));
    }
    let mut cosigned = BTreeSet::new();
    for sig in &opened.signatures {
        let Some((local, w)) =
            policy.witnesses.iter().find(|(_, w)| w.name == sig.name && w.id == sig.id)
        else {
            continue;
        };
        w.verify(&opened.text, &sig.line)
            .map_err(|e| fail(format!("the cosignature of {} does not verify: {e}", w.name)))?;
        cosigned.insert(local.clone());
    }
    if let Some(absent) = policy.required.iter().find(|w| !cosigned.contains(*w)) {
        return Err(fail(format!(
            "lacks the cosignature of witness {absent}, which policy.txt's quorum requires"
        )));
    }
    Ok((checkpoint, opened.text, cosigned.len() as u64))
}

/// A tlog-proof file of `leaf` (from the file `leaf_name`) against the
/// final checkpoint; returns the leaf's index. The leaf is in the pack
/// twice (its file and the proof's `extra`): when they differ and the
/// proof's copy is the one in the log, the leaf file is named as changed.
fn check_inclusion(
    name: &str,
    proof_text: &str,
    leaf: &[u8],
    leaf_name: &str,
    final_text: &str,
    final_cp: &Checkpoint,
) -> Result<u64, Failure> {
    let fail = |why: String| Failure::new(name, &why);
    let proof = TlogProof::parse(proof_text).map_err(|e| fail(e.to_string()))?;
    let proof_cp =
        note::parse(&proof.checkpoint).map_err(|e| fail(format!("its checkpoint: {e}")))?;
    if proof_cp.text != final_text {
        return Err(fail(format!("its checkpoint is not the one in {FINAL_CHECKPOINT}")));
    }
    let included = |leaf: &[u8]| {
        merkle::verify_inclusion(
            proof.index,
            final_cp.size,
            &merkle::leaf_hash(leaf),
            &proof.hashes,
            &final_cp.root,
        )
    };
    if let Some(extra) = proof.extra.as_deref()
        && extra != leaf
    {
        if included(extra).is_ok() {
            return Err(Failure::new(
                leaf_name,
                &format!(
                    "is not the leaf the log holds at index {}: the copy in {name} is, and its proof verifies",
                    proof.index
                ),
            ));
        }
        return Err(fail("its extra is not the leaf it proves, and neither is in the log".into()));
    }
    included(leaf).map_err(|e| {
        fail(format!(
            "the inclusion proof of leaf {} does not verify against the final checkpoint ({e}): the \
             proof or its leaf was changed",
            proof.index
        ))
    })?;
    Ok(proof.index)
}

/// One bundle's files, read.
struct BundleFiles {
    position: u64,
    bundle: Vec<u8>,
    leaf: Vec<u8>,
    proof: Vec<u8>,
}

/// What one verified bundle contributes to the checks between bundles.
struct Checked {
    position: u64,
    index: u64,
    leaf: EvidenceLeaf,
}

fn check_bundle(
    site: Uuid,
    f: &BundleFiles,
    final_text: &str,
    final_cp: &Checkpoint,
) -> Result<Checked, Failure> {
    let (bundle_name, leaf_name, proof_name) =
        (bundle_path(site, f.position), leaf_path(site, f.position), proof_path(site, f.position));
    let leaf = match Leaf::parse(&f.leaf) {
        Ok(Leaf::Evidence(e)) => e,
        Ok(_) => return Err(Failure::new(&leaf_name, "is not an osiriscare.evidence/v1 leaf")),
        Err(e) => return Err(Failure::new(&leaf_name, &e.to_string())),
    };
    if leaf.site != site || leaf.position != f.position {
        return Err(Failure::new(
            &leaf_name,
            &format!(
                "is the leaf of site {} position {}, not of its file's",
                leaf.site, leaf.position
            ),
        ));
    }
    if sha256(&f.bundle) != leaf.bundle {
        return Err(Failure::new(&bundle_name, "its SHA-256 is not the one its leaf logged"));
    }
    let key = VerifyingKey::from_bytes(&leaf.key)
        .map_err(|_| Failure::new(&leaf_name, "its key is not an Ed25519 public key"))?;
    key.verify_strict(&f.bundle, &Signature::from_bytes(&leaf.signature)).map_err(|_| {
        Failure::new(
            &bundle_name,
            "the appliance signature its leaf logged does not verify over its bytes with the key the leaf names",
        )
    })?;
    let proof = text(&proof_name, f.proof.clone())?;
    let index = check_inclusion(&proof_name, &proof, &f.leaf, &leaf_name, final_text, final_cp)?;
    Ok(Checked { position: f.position, index, leaf })
}

/// A site's key registrations (log index → leaf), from its key leaves.
fn check_site_keys(
    files: &mut dyn Files,
    site: Uuid,
    final_text: &str,
    final_cp: &Checkpoint,
) -> Result<Vec<(u64, SiteKeyLeaf)>, Failure> {
    let prefix = format!("leaves/{site}/key-");
    let names: Vec<String> =
        files.names().iter().filter(|n| n.starts_with(&prefix)).cloned().collect();
    let mut keys = Vec::new();
    for name in names {
        let index: u64 = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".leaf"))
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| {
                Failure::new(&name, "is not named leaves/<site>/key-<log index>.leaf")
            })?;
        let bytes = files.read(&name)?;
        let leaf = match Leaf::parse(&bytes) {
            Ok(Leaf::SiteKey(k)) if k.site == site => k,
            Ok(_) => {
                return Err(Failure::new(&name, &format!("is not a site-key leaf of site {site}")));
            }
            Err(e) => return Err(Failure::new(&name, &e.to_string())),
        };
        let proof_name = key_proof_path(site, index);
        let proof = text(&proof_name, files.read(&proof_name)?)?;
        let proven = check_inclusion(&proof_name, &proof, &bytes, &name, final_text, final_cp)?;
        if proven != index {
            return Err(Failure::new(&proof_name, &format!("proves leaf {proven}, not {index}")));
        }
        keys.push((index, leaf));
    }
    keys.sort_by_key(|(i, _)| *i);
    let Some((_, latest)) = keys.last() else {
        return Err(Failure::new(
            &format!("leaves/{site}/"),
            "holds no site-key leaf: the pack cannot show which key this site's appliance registered",
        ));
    };
    let hex_name = key_hex_path(site);
    let hex_text = text(&hex_name, files.read(&hex_name)?)?;
    if hex_text.trim() != hex::encode(latest.key) {
        return Err(Failure::new(
            &hex_name,
            "is not the appliance key of the site's latest site-key leaf",
        ));
    }
    let pem_name = key_pem_path(site);
    let pem = text(&pem_name, files.read(&pem_name)?)?;
    if key_of_pem(&pem) != Some(latest.key) {
        return Err(Failure::new(
            &pem_name,
            "is not the appliance key of the site's latest site-key leaf",
        ));
    }
    Ok(keys)
}

/// `keep` of `all`, chosen with a small deterministic generator seeded by
/// `seed` (splitmix64), for `--sample`.
fn sample(all: &[(Uuid, u64)], keep: usize, seed: u64) -> BTreeSet<(Uuid, u64)> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut picked = all.to_vec();
    // Fisher–Yates, first `keep` places.
    for i in 0..keep.min(picked.len()) {
        let j = i + (next() % (picked.len() - i) as u64) as usize;
        picked.swap(i, j);
    }
    picked.into_iter().take(keep).collect()
}

/// Bundles read and checked in groups of this many.
const CHUNK: usize = 2048;

/// Verifies a pack; `progress(done, total)` after each group of bundles.
pub fn verify(
    files: &mut dyn Files,
    opts: &Options,
    progress: &dyn Fn(u64, u64),
) -> Result<Summary, Failure> {
    let file_count = check_manifest(files)?;

    // 2. Keys and policy.
    let policy = parse_policy(&text(POLICY, files.read(POLICY)?)?)?;
    let vkey = text(LOG_VKEY, files.read(LOG_VKEY)?)?;
    if vkey.trim() != policy.log_vkey {
        return Err(Failure::new(LOG_VKEY, "is not the log key policy.txt names"));
    }
    if let Some(given) = &opts.log_key
        && given.trim() != policy.log_vkey
    {
        return Err(Failure::new(
            LOG_VKEY,
            &format!(
                "the pack's log key {} is not the one you gave ({}): this pack was not signed by \
                 your practice's log",
                policy.log_vkey,
                given.trim()
            ),
        ));
    }

    // 3. Checkpoints.
    let final_note = text(FINAL_CHECKPOINT, files.read(FINAL_CHECKPOINT)?)?;
    let (final_cp, final_text, mut cosignatures) =
        open_checkpoint(FINAL_CHECKPOINT, &final_note, &policy)?;
    let mut checkpoints = 1;
    let months: Vec<String> = files
        .names()
        .iter()
        .filter_map(|n| n.strip_prefix("checkpoints/")?.strip_suffix(".checkpoint"))
        .filter(|m| *m != "final")
        .map(str::to_owned)
        .collect();
    for month in months {
        let name = month_checkpoint_path(&month);
        let note_text = text(&name, files.read(&name)?)?;
        let (cp, _, n) = open_checkpoint(&name, &note_text, &policy)?;
        let proof_name = consistency_path(&month);
        let proof = parse_consistency(&text(&proof_name, files.read(&proof_name)?)?)
            .ok_or_else(|| Failure::new(&proof_name, "is not one base64 SHA-256 hash per line"))?;
        if cp.size > final_cp.size {
            return Err(Failure::new(
                &name,
                &format!(
                    "has {} leaves, more than the final checkpoint's {}: the log was rolled back",
                    cp.size, final_cp.size
                ),
            ));
        }
        merkle::verify_consistency(cp.size, final_cp.size, &cp.root, &final_cp.root, &proof)
            .map_err(|e| {
                Failure::new(
                    &proof_name,
                    &format!("does not prove {name} consistent with the final checkpoint: {e}"),
                )
            })?;
        checkpoints += 1;
        cosignatures += n;
    }

    // 4–5. Sites: keys, then bundles.
    let mut by_site: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
    for name in files.names() {
        let Some(rest) = name.strip_prefix("bundles/") else { continue };
        let parsed = rest.split_once('/').and_then(|(site, file)| {
            let position = file.strip_suffix(".json")?;
            let canonical = position == "0" || !position.starts_with('0');
            Some((Uuid::parse_str(site).ok()?, position.parse::<u64>().ok().filter(|_| canonical)?))
        });
        let (site, position) = parsed
            .ok_or_else(|| Failure::new(name, "is not named bundles/<site id>/<position>.json"))?;
        by_site.entry(site).or_default().push(position);
    }
    for name in files.names() {
        for dir in ["leaves/", "proofs/"] {
            let Some(rest) = name.strip_prefix(dir) else { continue };
            let Some((site, file)) = rest.split_once('/') else { continue };
            let Ok(site) = Uuid::parse_str(site) else { continue };
            let stem = file.split('.').next().unwrap_or_default();
            if let Ok(p) = stem.parse::<u64>()
                && !by_site.get(&site).is_some_and(|ps| ps.contains(&p))
            {
                return Err(Failure::new(name, &format!("has no bundle {}", bundle_path(site, p))));
            }
        }
    }
    let bundles_in_pack: u64 = by_site.values().map(|p| p.len() as u64).sum();
    let chosen: Option<BTreeSet<(Uuid, u64)>> = opts.sample.map(|n| {
        let all: Vec<(Uuid, u64)> =
            by_site.iter().flat_map(|(s, ps)| ps.iter().map(|p| (*s, *p))).collect();
        sample(&all, n as usize, opts.seed)
    });
    let total = chosen.as_ref().map_or(bundles_in_pack, |c| c.len() as u64);
    let mut verified = 0u64;
    let mut site_keys = 0u64;
    progress(0, total);
    for (site, positions) in &mut by_site {
        let site = *site;
        positions.sort_unstable();
        for pair in positions.windows(2) {
            if pair[1] != pair[0] + 1 {
                return Err(Failure::new(
                    &bundle_path(site, pair[0] + 1),
                    &format!(
                        "is missing: the site's bundles jump from position {} to {}",
                        pair[0], pair[1]
                    ),
                ));
            }
        }
        let keys = check_site_keys(files, site, &final_text, &final_cp)?;
        site_keys += keys.len() as u64;
        let wanted: Vec<u64> = match &chosen {
            Some(c) => positions.iter().copied().filter(|p| c.contains(&(site, *p))).collect(),
            None => positions.clone(),
        };
        let mut previous: Option<Checked> = None;
        for chunk in wanted.chunks(CHUNK) {
            let mut read = Vec::with_capacity(chunk.len());
            for &position in chunk {
                read.push(BundleFiles {
                    position,
                    bundle: files.read(&bundle_path(site, position))?,
                    leaf: files.read(&leaf_path(site, position))?,
                    proof: files.read(&proof_path(site, position))?,
                });
            }
            let checked = check_parallel(site, &read, &final_text, &final_cp, opts.threads)?;
            for c in checked {
                check_sequence(site, previous.as_ref(), &c, &keys)?;
                previous = Some(c);
            }
            verified += chunk.len() as u64;
            progress(verified, total);
        }
    }

    // 6. Reports.
    let (mut reports_verified, mut reports_unlogged) = (0, 0);
    let months: Vec<String> = files
        .names()
        .iter()
        .filter_map(|n| n.strip_prefix("reports/")?.strip_suffix(".pdf"))
        .map(str::to_owned)
        .collect();
    for month in months {
        let leaf_name = report_leaf_path(&month);
        if !files.names().contains(&leaf_name) {
            reports_unlogged += 1;
            continue;
        }
        let leaf_bytes = files.read(&leaf_name)?;
        let leaf = match Leaf::parse(&leaf_bytes) {
            Ok(Leaf::Report(r)) if r.month == month => r,
            Ok(_) => {
                return Err(Failure::new(
                    &leaf_name,
                    &format!("is not the report leaf of {month}"),
                ));
            }
            Err(e) => return Err(Failure::new(&leaf_name, &e.to_string())),
        };
        let pdf_name = report_path(&month);
        if sha256(&files.read(&pdf_name)?) != leaf.sha256 {
            return Err(Failure::new(&pdf_name, "its SHA-256 is not the one the log holds for it"));
        }
        let proof_name = report_proof_path(&month);
        let proof = text(&proof_name, files.read(&proof_name)?)?;
        check_inclusion(&proof_name, &proof, &leaf_bytes, &leaf_name, &final_text, &final_cp)?;
        reports_verified += 1;
    }

    Ok(Summary {
        origin: final_cp.origin.clone(),
        log_vkey: policy.log_vkey.clone(),
        log_key_pinned: opts.log_key.is_some(),
        final_size: final_cp.size,
        sites: by_site.len() as u64,
        bundles_in_pack,
        bundles_verified: verified,
        site_keys,
        checkpoints,
        cosignatures,
        reports_verified,
        reports_unlogged,
        files: file_count,
    })
}

/// Checks a group of bundles on `threads` threads; the first failure in
/// position order wins.
fn check_parallel(
    site: Uuid,
    read: &[BundleFiles],
    final_text: &str,
    final_cp: &Checkpoint,
    threads: usize,
) -> Result<Vec<Checked>, Failure> {
    let per = read.len().div_ceil(threads.max(1)).max(1);
    let results: Vec<Result<Vec<Checked>, Failure>> = std::thread::scope(|s| {
        let handles: Vec<_> = read
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter().map(|f| check_bundle(site, f, final_text, final_cp)).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a verifier thread panicked")).collect()
    });
    let mut out = Vec::with_capacity(read.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The checks between a bundle and the one before it in the pack: the log
/// order follows the chain, the key is the site's registered one at that
/// point of the log, and the chain link follows from the previous position.
fn check_sequence(
    site: Uuid,
    previous: Option<&Checked>,
    c: &Checked,
    keys: &[(u64, SiteKeyLeaf)],
) -> Result<(), Failure> {
    let leaf_name = leaf_path(site, c.position);
    let registered = keys.iter().rev().find(|(i, _)| *i < c.index).map(|(_, k)| k.key);
    match registered {
        None => {
            return Err(Failure::new(
                &leaf_name,
                "comes before any site-key leaf of its site in the log: its key was never registered",
            ));
        }
        Some(k) if k != c.leaf.key => {
            return Err(Failure::new(
                &leaf_name,
                &format!(
                    "names appliance key {}, but the site's registered key at that point of the log is {}",
                    hex::encode(c.leaf.key),
                    hex::encode(k)
                ),
            ));
        }
        Some(_) => {}
    }
    let prev_chain = match previous {
        _ if c.position == 0 => Some(super::chain::GENESIS),
        Some(p) if p.position + 1 == c.position => {
            if p.index >= c.index {
                return Err(Failure::new(
                    &leaf_name,
                    &format!(
                        "is leaf {} of the log, not after leaf {} of position {}",
                        c.index, p.index, p.position
                    ),
                ));
            }
            Some(p.leaf.chain)
        }
        _ => None,
    };
    if let Some(prev) = prev_chain
        && super::chain::chain_hash(site, c.position, &prev, &c.leaf.bundle) != c.leaf.chain
    {
        return Err(Failure::new(
            &leaf_name,
            "its chain hash does not follow from the previous position's (osiris-chain-v1)",
        ));
    }
    Ok(())
}
