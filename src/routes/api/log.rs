//! The practice's evidence log: its verifier key and policy, its signed
//! checkpoints, consistency proofs between them, a bundle's inclusion
//! proof as a c2sp.org/tlog-proof file, and a check of a checkpoint kept
//! outside the portal. The tiles themselves are served under `/log/{org}/`
//! (c2sp.org/tlog-tiles; see docs/EVIDENCE.md).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::compliance::BundleIdParam;
use super::error::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND};
use super::types::PageLimit;
use crate::auth::current::ApiViewer;
use crate::db::evidence_log::{self as store, StoredCheckpoint};
use crate::evidence::proofs;
use crate::log::cosignature::CosignatureVerifier;
use crate::log::merkle::Hash;
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// The practice's signed Merkle log of its evidence (c2sp.org formats).
    EvidenceLog,
}

#[derive(Debug, Object)]
pub struct LogKey {
    /// The log's origin, which is also the key's name.
    pub origin: String,
    /// The verifier key in c2sp.org/signed-note form (`name+keyid+base64`),
    /// as Go's `note.NewVerifier` reads it.
    pub vkey: String,
    /// The Ed25519 public key (hex).
    pub public_key: String,
    /// A c2sp.org/tlog-policy text: the log, and each appliance that can
    /// cosign its checkpoints.
    pub policy: String,
}

#[derive(Debug, Object)]
pub struct CheckpointEntry {
    pub id: i64,
    /// Leaves in the tree.
    pub size: i64,
    /// The tree's root hash (base64, as in the note).
    pub root_hash: String,
    pub signed_at: DateTime<Utc>,
    /// Set on the month-end checkpoint: the month it closes (YYYY-MM).
    #[oai(nullable)]
    pub month_end: Option<String>,
    /// The signed note, verbatim (c2sp.org/tlog-checkpoint).
    pub note: String,
}

impl From<StoredCheckpoint> for CheckpointEntry {
    fn from(c: StoredCheckpoint) -> Self {
        CheckpointEntry {
            id: c.id,
            size: c.size,
            root_hash: B64.encode(&c.root),
            signed_at: c.signed_at,
            month_end: c.month_end,
            note: c.note,
        }
    }
}

#[derive(Debug, Object)]
pub struct CheckpointPage {
    pub origin: String,
    pub vkey: String,
    /// Newest first.
    pub checkpoints: Vec<CheckpointEntry>,
    /// Pass as `before` for older checkpoints; null on the last page.
    #[oai(nullable)]
    pub next_before: Option<i64>,
}

#[derive(Debug, Object)]
pub struct ConsistencyProof {
    pub old: u64,
    pub new: u64,
    /// RFC 9162 §2.1.4 proof hashes (base64), as Go's `tlog.CheckTree`
    /// takes them.
    pub proof: Vec<String>,
    /// The latest signed checkpoint, verbatim.
    pub latest_checkpoint: String,
}

#[derive(Debug, Object)]
pub struct KeptCheckpoint {
    /// A checkpoint note as kept: from a monthly email or report, an
    /// appliance, an auditor pack. Line ends may be CRLF.
    #[oai(validator(min_length = 1, max_length = 16384))]
    pub checkpoint: String,
}

#[derive(Debug, Object)]
pub struct KeptCheckpointResult {
    /// The kept checkpoint is signed by this practice's log key and today's
    /// log contains it unchanged.
    pub consistent: bool,
    pub signature_valid: bool,
    #[oai(nullable)]
    pub kept_size: Option<u64>,
    pub latest_size: i64,
    pub latest_checkpoint: String,
    /// The consistency proof from the kept size to the latest (base64), so
    /// the answer can be checked without trusting it.
    pub proof: Vec<String>,
    /// What is wrong, and what to do, when not consistent.
    #[oai(nullable)]
    pub reason: Option<String>,
}

#[derive(ApiResponse)]
enum ProofFile {
    /// A c2sp.org/tlog-proof@v1 file: the leaf (base64, in `extra`), its
    /// index, the inclusion proof and the checkpoint it leads to. Recompute
    /// the leaf from the bundle's bytes rather than trusting `extra`.
    #[oai(status = 200, content_type = "text/plain; charset=utf-8")]
    Ok(
        PlainText<String>,
        /// `attachment; filename="<bundle_id>.tlog-proof"`
        #[oai(header = "Content-Disposition")]
        String,
        #[oai(header = "Cache-Control")] String,
    ),
}

fn b64_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

pub struct LogApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::EvidenceLog")]
impl LogApi {
    /// Download a bundle's inclusion proof
    ///
    /// Against the latest checkpoint, or the checkpoint of `size` leaves
    /// (one a user kept). 409 while the bundle is newer than the latest
    /// checkpoint (a minute at most).
    #[oai(path = "/evidence/:bundle_id/proof", method = "get", operation_id = "get_evidence_proof")]
    async fn evidence_proof(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
        bundle_id: Path<BundleIdParam>,
        /// Prove against the checkpoint of this many leaves.
        size: Query<Option<u64>>,
    ) -> Result<ProofFile, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        let db = state.pool().get().await?;
        let proof = proofs::bundle_proof(&**db, user.org_id, &bundle_id.0.0, size.0).await?;
        Ok(ProofFile::Ok(
            PlainText(proof.encode()),
            format!("attachment; filename=\"{}.tlog-proof\"", bundle_id.0.0),
            "no-store".to_owned(),
        ))
    }

    /// The log's verifier key and policy
    #[oai(path = "/log/key", method = "get", operation_id = "get_log_key")]
    async fn log_key(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
    ) -> Result<Json<LogKey>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        let (origin, verifier) = proofs::verifier(&state, &**db, user.org_id).await?;
        let sites = store::site_keys(&**db, user.org_id).await?;
        let host = origin.split("/log/").next().unwrap_or_default();
        let witnesses: Vec<String> = sites
            .iter()
            .filter_map(|s| {
                let key = ed25519_dalek::VerifyingKey::try_from(s.witness.as_deref()?).ok()?;
                CosignatureVerifier::new(&format!("{host}/appliance/{}", s.site_id), key)
                    .map(|v| v.vkey())
            })
            .collect();
        let vkey = verifier.vkey();
        Ok(Json(LogKey {
            public_key: hex::encode(verifier.key.as_bytes()),
            policy: proofs::policy(&state.config().base_url, user.org_id, &vkey, &witnesses),
            origin,
            vkey,
        }))
    }

    /// List signed checkpoints
    ///
    /// Every checkpoint the log signed, newest first; month-end checkpoints
    /// name the month they close.
    #[oai(path = "/log/checkpoints", method = "get", operation_id = "list_log_checkpoints")]
    async fn log_checkpoints(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
        /// `next_before` of the previous page.
        before: Query<Option<i64>>,
        #[oai(default)] limit: Query<PageLimit>,
    ) -> Result<Json<CheckpointPage>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        let (origin, verifier) = proofs::verifier(&state, &**db, user.org_id).await?;
        let limit = i64::from(limit.0.0);
        let mut rows = store::checkpoints(&**db, user.org_id, before.0, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_before = if more { rows.last().map(|c| c.id) } else { None };
        Ok(Json(CheckpointPage {
            origin,
            vkey: verifier.vkey(),
            checkpoints: rows.into_iter().map(CheckpointEntry::from).collect(),
            next_before,
        }))
    }

    /// Prove two tree sizes consistent
    ///
    /// The RFC 9162 consistency proof from the tree of `old` leaves to the
    /// tree of `new` leaves (at most the latest checkpoint's size).
    #[oai(path = "/log/consistency", method = "get", operation_id = "get_log_consistency")]
    async fn log_consistency(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
        old: Query<u64>,
        new: Query<u64>,
    ) -> Result<Json<ConsistencyProof>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        let (proof, latest) = proofs::consistency_between(&**db, user.org_id, old.0, new.0).await?;
        Ok(Json(ConsistencyProof {
            old: old.0,
            new: new.0,
            proof: b64_all(&proof),
            latest_checkpoint: latest.note,
        }))
    }

    /// Check a checkpoint you kept
    ///
    /// Paste a checkpoint from a monthly email or report: the answer says
    /// whether the log signed it and still contains it unchanged, with the
    /// consistency proof to the latest checkpoint.
    #[oai(path = "/log/check-checkpoint", method = "post", operation_id = "verify_log_checkpoint")]
    async fn log_check_checkpoint(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
        body: Json<KeptCheckpoint>,
    ) -> Result<Json<KeptCheckpointResult>, ApiError<{ AUTHED | NOT_FOUND | JSON_BODY }>> {
        let db = state.pool().get().await?;
        let c = proofs::check_kept(&state, &**db, user.org_id, &body.0.checkpoint).await?;
        Ok(Json(KeptCheckpointResult {
            consistent: c.consistent,
            signature_valid: c.signature_valid,
            kept_size: c.kept_size,
            latest_size: c.latest.size,
            latest_checkpoint: c.latest.note,
            proof: b64_all(&c.proof),
            reason: c.reason,
        }))
    }
}
