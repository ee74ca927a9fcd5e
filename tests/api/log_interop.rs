//! The evidence log's checkpoints and proofs, checked by a verifier nobody
//! here wrote: Go's `golang.org/x/mod/sumdb/note` and `sumdb/tlog`
//! (Debian's golang-go and golang-golang-x-mod-dev, which the test command
//! installs), through the small program in `tests/interop/verify.go`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use portal::log::checkpoint::Checkpoint;
use portal::log::merkle::{self, Hash};
use portal::log::note::NoteSigner;
use portal::log::proof::TlogProof;
use serde_json::{Value, json};

use crate::helpers::repo_path;

/// The Go verifier, built once per test run.
fn verifier() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verify-go");
        let gopath = "/usr/share/gocode";
        assert!(
            std::path::Path::new(gopath).join("src/golang.org/x/mod/sumdb/tlog").is_dir(),
            "Go's sumdb packages are missing: apt-get install golang-go golang-golang-x-mod-dev \
             (scripts/test does)"
        );
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg("verify.go")
            .current_dir(repo_path("tests/interop"))
            .env("GO111MODULE", "off")
            .env("GOPATH", gopath)
            .env("GOCACHE", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gocache"))
            .status()
            .expect("go is not installed: apt-get install golang-go (scripts/test does)");
        assert!(status.success(), "building tests/interop/verify.go failed");
        out
    })
}

/// Runs the Go verifier on one case; its exit status and what it printed.
pub fn go_verify(case: &Value) -> (bool, String) {
    let mut child = Command::new(verifier())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Go verifier");
    child.stdin.take().unwrap().write_all(case.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An evidence leaf as the log stores them.
fn leaf(site: &str, position: u64) -> Vec<u8> {
    format!(
        "osiriscare.evidence/v1\nsite {site}\nposition {position}\nbundle {:064x}\nchain {:064x}\n\
         key {:064x}\nsignature {:0128x}\nreceived {}\n",
        position + 1,
        position + 2,
        7,
        position + 3,
        1_764_000_000 + position
    )
    .into_bytes()
}

struct Log {
    signer: NoteSigner,
    leaves: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
}

impl Log {
    fn new(origin: &str, seed: u8, n: u64) -> Log {
        let signer = NoteSigner::new(origin, SigningKey::from_bytes(&[seed; 32])).unwrap();
        let site = "0b5e6c1a-3f1e-4a57-9d0c-5c2b7a1e9f00";
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| leaf(site, i)).collect();
        let hashes = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
        Log { signer, leaves, hashes }
    }

    fn checkpoint(&self, size: u64) -> String {
        let root = merkle::root_of(&self.hashes[..size as usize]);
        let c = Checkpoint::new(&self.signer.verifier().name, size, root);
        self.signer.sign(&c.text()).unwrap()
    }

    fn record(&self, index: u64, size: u64) -> Value {
        let proof = merkle::inclusion_proof(&self.hashes[..size as usize], index, size).unwrap();
        json!({
            "index": index,
            "data": B64.encode(&self.leaves[index as usize]),
            "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
        })
    }

    /// A `.tlog-proof` file for leaf `index` in the tree of `size`.
    fn proof_file(&self, index: u64, size: u64) -> Value {
        let file = TlogProof {
            extra: Some(self.leaves[index as usize].clone()),
            index,
            hashes: merkle::inclusion_proof(&self.hashes[..size as usize], index, size).unwrap(),
            checkpoint: self.checkpoint(size),
        };
        json!({ "file": file.encode(), "leaf": B64.encode(&self.leaves[index as usize]) })
    }

    fn case(&self, old: u64, new: u64, indices: &[u64]) -> Value {
        let consistency =
            merkle::consistency_proof(&self.hashes[..new as usize], old, new).unwrap();
        json!({
            "vkey": self.signer.verifier().vkey(),
            "checkpoint": self.checkpoint(new),
            "old_checkpoint": self.checkpoint(old),
            "consistency": consistency.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "records": indices.iter().map(|i| self.record(*i, new)).collect::<Vec<_>>(),
            "proof_files": indices.iter().map(|i| self.proof_file(*i, new)).collect::<Vec<_>>(),
        })
    }
}

const ORIGIN: &str = "portal.example/log/5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f";

#[test]
fn go_verifies_the_portals_checkpoints_inclusion_and_consistency_proofs() {
    let log = Log::new(ORIGIN, 3, 300);
    for (old, new) in [(1, 2), (20, 37), (37, 37), (64, 256), (255, 257), (1, 300), (299, 300)] {
        let indices: Vec<u64> = [0, new / 2, new - 1].into_iter().collect();
        let (ok, out) = go_verify(&log.case(old, new, &indices));
        assert!(ok, "{old} -> {new}: {out}");
        assert!(
            out.starts_with(&format!("ok: {ORIGIN} size {new}, 3 record(s) included")),
            "{out}"
        );
    }
    // Every leaf of one tree, each proof checked by Go.
    let all: Vec<u64> = (0..70).collect();
    let (ok, out) = go_verify(&log.case(50, 70, &all));
    assert!(ok && out.contains("70 record(s)"), "{out}");
}

#[test]
fn go_refuses_a_changed_leaf_checkpoint_key_or_history() {
    let log = Log::new(ORIGIN, 3, 40);
    let good = log.case(20, 40, &[5]);
    assert!(go_verify(&good).0);

    // A leaf changed after it was logged (a passing check made failing).
    let mut changed = good.clone();
    let mut data = log.leaves[5].clone();
    data[30] ^= 1;
    changed["records"][0]["data"] = json!(B64.encode(&data));
    let (ok, out) = go_verify(&changed);
    assert!(!ok && out.contains("tlog.CheckRecord"), "{out}");

    // A proof file checked against a changed leaf (its own `extra` is
    // never what is checked).
    let mut changed_file = good.clone();
    changed_file["proof_files"][0]["leaf"] = json!(B64.encode(&data));
    let (ok, out) = go_verify(&changed_file);
    assert!(!ok && out.contains("proof file: tlog.CheckRecord"), "{out}");

    // A checkpoint whose size was edited: its signature fails.
    let mut edited = good.clone();
    let text = good["checkpoint"].as_str().unwrap().replacen("\n40\n", "\n41\n", 1);
    edited["checkpoint"] = json!(text);
    let (ok, out) = go_verify(&edited);
    assert!(!ok && out.contains("note.Open"), "{out}");

    // Signed by another key under the same name: unknown to the verifier.
    let impostor = Log::new(ORIGIN, 4, 40);
    let mut other_key = good.clone();
    other_key["checkpoint"] = json!(impostor.checkpoint(40));
    let (ok, out) = go_verify(&other_key);
    assert!(!ok && out.contains("note.Open"), "{out}");

    // A rewritten history: the operator re-signs a log whose first 20 leaves
    // differ; a checkpoint kept from before is not a prefix of it.
    let mut rewritten = Log::new(ORIGIN, 3, 40);
    rewritten.leaves[3][40] ^= 1;
    rewritten.hashes[3] = merkle::leaf_hash(&rewritten.leaves[3]);
    let mut history = rewritten.case(20, 40, &[5]);
    history["old_checkpoint"] = good["old_checkpoint"].clone();
    let (ok, out) = go_verify(&history);
    assert!(!ok && out.contains("tlog.CheckTree"), "{out}");
}
