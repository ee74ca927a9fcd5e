//! The reference appliance client (`portal appliance push`): signs bundle
//! files with a site's key and posts them, for appliance vendors and the demo.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use sha2::Digest;
use uuid::Uuid;

/// Reads a PKCS#8 PEM Ed25519 private key (as `portal admin create-site --key-out` writes).
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!("{} is not a PKCS#8 PEM Ed25519 private key ({e})", path.display())
    })
}

/// Signature header value for `bytes`: hex Ed25519 over exactly those bytes.
pub fn signature_hex(key: &SigningKey, bytes: &[u8]) -> String {
    hex::encode(key.sign(bytes).to_bytes())
}

/// What the portal said about one pushed bundle.
#[derive(Debug)]
pub struct Pushed {
    pub file: PathBuf,
    pub created: bool,
    pub chain_position: i64,
    pub bundle_id: String,
    /// Its index in the practice's log, and what the appliance knows of
    /// its leaf: the bytes' hash, the chain hash, the signature.
    pub log_index: u64,
    pub bundle_hash: [u8; 32],
    pub chain_hash: [u8; 32],
    pub signature: [u8; 64],
}

/// Most bundles in one request of [`push`] (the portal's limit).
pub const BATCH_BUNDLES: usize = 500;
/// Most body bytes in one request of [`push`]: the portal takes 4 MiB.
const BATCH_BYTES: usize = 4 * 1024 * 1024 - 4096;

/// Signs and posts the files in order, in batches (`POST
/// /api/appliance/evidence/batch`, at most [`BATCH_BUNDLES`] bundles and
/// 4 MiB a request), so a backlog flushes in few requests; stops at the
/// first refusal, with the portal's message.
pub async fn push(
    url: &str,
    site: Uuid,
    key: &SigningKey,
    files: &[PathBuf],
) -> Result<Vec<Pushed>> {
    use base64::Engine as _;
    let endpoint = format!("{}/api/appliance/evidence/batch", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .user_agent(concat!("osiris-appliance-reference/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .context("setting up the HTTP client")?;
    let bar = progress(files.len() as u64, "pushing");
    let mut out = Vec::new();
    let mut next = 0;
    while next < files.len() {
        // One request: files from `next` on, within both limits.
        let mut entries = Vec::new();
        let mut signed = Vec::new();
        let mut size = 16;
        while next < files.len() && entries.len() < BATCH_BUNDLES {
            let file = &files[next];
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let declared: serde_json::Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            if declared["site_id"].as_str() != Some(site.to_string().as_str()) {
                bail!(
                    "{} belongs to site {}, not --site {site}; the portal would refuse its signature",
                    file.display(),
                    declared["site_id"]
                );
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            if !entries.is_empty() && size + encoded.len() + 200 > BATCH_BYTES {
                break;
            }
            size += encoded.len() + 200;
            let signature = key.sign(&bytes).to_bytes();
            entries.push(serde_json::json!({
                "bundle": encoded, "signature": hex::encode(signature),
            }));
            signed.push((file.clone(), sha2::Sha256::digest(&bytes).into(), signature));
            next += 1;
        }
        let response = client
            .post(&endpoint)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&serde_json::json!({ "bundles": entries }))?)
            .send()
            .await
            .with_context(|| {
                format!("cannot reach {endpoint}: is the portal running and the URL right?")
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if !status.is_success() {
            bail!(
                "the portal refused the request with {} bundles from {} ({status}): {}",
                signed.len(),
                signed[0].0.display(),
                body["message"].as_str().unwrap_or("no message")
            );
        }
        let answers = body["answers"].as_array().cloned().unwrap_or_default();
        if answers.len() != signed.len() {
            bail!("the portal answered {} of {} bundles; push again", answers.len(), signed.len());
        }
        for ((file, bundle_hash, signature), answer) in signed.into_iter().zip(answers) {
            let code = answer["status"].as_u64().unwrap_or(0);
            if code != 200 && code != 201 {
                let stored = out.len();
                bail!(
                    "{} was refused ({code}): {} ({stored} bundles before it were stored; the \
                     rest of its request may have been too: pushing them again is safe)",
                    file.display(),
                    answer["message"].as_str().unwrap_or("no message")
                );
            }
            let receipt = &answer["receipt"];
            out.push(Pushed {
                file,
                created: code == 201,
                chain_position: receipt["chain_position"].as_i64().unwrap_or(-1),
                bundle_id: receipt["bundle_id"].as_str().unwrap_or_default().to_owned(),
                log_index: receipt["log_index"].as_u64().unwrap_or_default(),
                bundle_hash,
                chain_hash: receipt["chain_hash"]
                    .as_str()
                    .and_then(|h| hex::decode(h).ok())
                    .and_then(|h| h.try_into().ok())
                    .unwrap_or_default(),
                signature,
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{what} [{{bar:40.cyan/blue}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

// ---------------------------------------------------------------------------
// The appliance as a witness of its practice's log
// ---------------------------------------------------------------------------

use crate::log::checkpoint::Checkpoint;
use crate::log::cosignature::Cosigner;
use crate::log::leaf::Leaf;
use crate::log::merkle::{self, Hash};
use crate::log::note::{self, NoteVerifier};
use crate::log::proof::TlogProof;

/// What the appliance keeps between runs: the log key it pinned and the
/// last checkpoint it accepted.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WitnessState {
    pub log_vkey: String,
    pub size: u64,
    /// The accepted checkpoint note, verbatim.
    pub checkpoint: Option<String>,
}

impl WitnessState {
    /// The state file, or a new state pinning `vkey` (required the first time).
    pub fn load(path: &Path, vkey: Option<&str>) -> Result<WitnessState> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let state: WitnessState = serde_json::from_str(&text).with_context(|| {
                    format!("{} is not an appliance state file", path.display())
                })?;
                if let Some(v) = vkey
                    && v != state.log_vkey
                {
                    bail!(
                        "--log-key differs from the key pinned in {}: the portal's log key must never \
                         change. If this is a new log, move the state file away deliberately",
                        path.display()
                    );
                }
                Ok(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let vkey = vkey.with_context(|| {
                    format!(
                        "no state file at {} yet: pin the practice's log key the first time with \
                         --log-key (GET /api/client/log/key, or the monthly report)",
                        path.display()
                    )
                })?;
                NoteVerifier::parse(vkey)
                    .map_err(|e| anyhow::anyhow!("--log-key is not a verifier key: {e}"))?;
                Ok(WitnessState { log_vkey: vkey.to_owned(), size: 0, checkpoint: None })
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// What witnessing found.
#[derive(Debug)]
pub struct Witnessed {
    pub old_size: u64,
    pub size: u64,
    pub proven: usize,
    pub cosigned: bool,
}

/// The error of a log that contradicts what the appliance kept: the run
/// stops, nothing is cosigned, and the message says what to do.
fn inconsistent(state_file: &Path, what: String) -> anyhow::Error {
    anyhow::anyhow!(
        "INCONSISTENT LOG: {what}. The portal's evidence log does not extend the checkpoint this \
         appliance kept in {}. Do not delete that file: it is evidence. Nothing was cosigned; tell the \
         practice and its auditor.",
        state_file.display()
    )
}

async fn signed_request(
    client: &reqwest::Client,
    url: &str,
    key: &SigningKey,
    body: serde_json::Value,
) -> Result<String> {
    let bytes = serde_json::to_vec(&body)?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-agent-signature", signature_hex(key, &bytes))
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        bail!("{url} answered {status}: {msg}");
    }
    Ok(text)
}

/// Parses a tlog-witness style body: `old N`, proof lines, blank line, note.
fn parse_witness_body(text: &str) -> Result<(u64, Vec<Hash>, String)> {
    use base64::Engine;
    let (head, note) = text.split_once("\n\n").context("the witness answer has no blank line")?;
    let mut lines = head.lines();
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(|n| n.parse().ok())
        .context("the witness answer does not start with `old <size>`")?;
    let proof = lines
        .map(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l)
                .ok()
                .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
                .context("a consistency proof line is not a base64 hash")
        })
        .collect::<Result<Vec<Hash>>>()?;
    Ok((old, proof, note.to_owned()))
}

/// After a push: fetches the latest checkpoint with a consistency proof
/// from the one kept in `state_file`, verifies both with the pinned key,
/// verifies that each pushed bundle is included (waiting up to `wait` for
/// the checkpoint that covers them), cosigns when a cosigner key is given,
/// and keeps the new checkpoint. Any inconsistency is an error.
#[allow(clippy::too_many_arguments)]
pub async fn witness(
    url: &str,
    site: Uuid,
    key: &SigningKey,
    cosigner: Option<&SigningKey>,
    state_file: &Path,
    log_key: Option<&str>,
    pushed: &[Pushed],
    wait: std::time::Duration,
) -> Result<Witnessed> {
    let mut state = WitnessState::load(state_file, log_key)?;
    let verifier = NoteVerifier::parse(&state.log_vkey)
        .map_err(|e| anyhow::anyhow!("the pinned log key is not a verifier key: {e}"))?;
    let base = url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .user_agent(concat!("osiris-appliance-reference/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let needed = pushed.iter().map(|p| p.log_index + 1).max().unwrap_or(0);
    let started = std::time::Instant::now();
    let old_size = state.size;
    let old_head = match &state.checkpoint {
        Some(n) => Some(Checkpoint::parse(
            &note::open(n, &verifier)
                .map_err(|e| anyhow::anyhow!("the kept checkpoint does not verify: {e}"))?
                .text,
        )?),
        None => None,
    };
    let (head, note_text, signed_note) = loop {
        let now = chrono::Utc::now().timestamp();
        let text = signed_request(
            &client,
            &format!("{base}/api/appliance/log/witness"),
            key,
            serde_json::json!({"request": "log-witness", "site_id": site, "timestamp": now, "old_size": state.size}),
        )
        .await?;
        let (old, proof, signed) = parse_witness_body(&text)?;
        if old != state.size {
            return Err(inconsistent(
                state_file,
                format!("asked from size {}, answered from {old}", state.size),
            ));
        }
        let opened = note::open(&signed, &verifier).map_err(|e| {
            inconsistent(
                state_file,
                format!("the checkpoint is not signed by the pinned log key ({e})"),
            )
        })?;
        let head = Checkpoint::parse(&opened.text)?;
        if head.origin != verifier.name {
            return Err(inconsistent(
                state_file,
                format!("the checkpoint is of log {:?}", head.origin),
            ));
        }
        if let Some(old) = &old_head {
            merkle::verify_consistency(old.size, head.size, &old.root, &head.root, &proof).map_err(|e| {
                inconsistent(
                    state_file,
                    format!("the checkpoint of {} leaves is not consistent with the kept one of {} ({e})", head.size, old.size),
                )
            })?;
        }
        if head.size >= needed || started.elapsed() >= wait {
            break (head, opened.text, signed);
        }
        eprintln!(
            "waiting for the log to sign a checkpoint covering leaf {} (now {} leaves)...",
            needed - 1,
            head.size
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    // Each bundle pushed: its proof against this very checkpoint.
    let mut proven = 0;
    for p in pushed.iter().filter(|p| p.log_index < head.size) {
        let now = chrono::Utc::now().timestamp();
        let file = signed_request(
            &client,
            &format!("{base}/api/appliance/log/proof"),
            key,
            serde_json::json!({"request": "log-proof", "site_id": site, "timestamp": now, "bundle_id": p.bundle_id}),
        )
        .await?;
        let proof = TlogProof::parse(&file)
            .map_err(|e| anyhow::anyhow!("the proof of {}: {e}", p.bundle_id))?;
        let leaf = proof.extra.clone().context("the proof file has no leaf")?;
        let Ok(Leaf::Evidence(e)) = Leaf::parse(&leaf) else {
            bail!("the proof of {} does not carry an evidence leaf", p.bundle_id);
        };
        // Every field but the receive time is something this appliance knows.
        let known = e.site == site
            && e.position == p.chain_position as u64
            && e.bundle == p.bundle_hash
            && e.chain == p.chain_hash
            && e.key == key.verifying_key().to_bytes()
            && e.signature == p.signature
            && proof.index == p.log_index;
        if !known {
            return Err(inconsistent(
                state_file,
                format!("the log holds another leaf for bundle {}", p.bundle_id),
            ));
        }
        let at = proof.verify(&leaf, &verifier).map_err(|e| {
            inconsistent(
                state_file,
                format!("bundle {} is not included as proven ({e})", p.bundle_id),
            )
        })?;
        if at.size > head.size {
            // A newer checkpoint meanwhile: checked on the next run.
            continue;
        }
        if at.size != head.size || at.root != head.root {
            return Err(inconsistent(
                state_file,
                format!("two checkpoints of {} leaves differ", at.size),
            ));
        }
        proven += 1;
    }
    let mut cosigned = false;
    if let Some(c) = cosigner {
        let name = crate::evidence::witness::appliance_name(&head.origin, site);
        let cosigner = Cosigner::new(&name, c.clone()).context("the cosigner name is not valid")?;
        let line = cosigner.cosign(&note_text, chrono::Utc::now().timestamp() as u64);
        let now = chrono::Utc::now().timestamp();
        signed_request(
            &client,
            &format!("{base}/api/appliance/log/cosignature"),
            key,
            serde_json::json!({"request": "log-cosignature", "site_id": site, "timestamp": now, "size": head.size, "cosignature": line}),
        )
        .await?;
        cosigned = true;
    }
    state.size = head.size;
    state.checkpoint = Some(signed_note);
    state.save(state_file)?;
    Ok(Witnessed { old_size, size: head.size, proven, cosigned })
}
