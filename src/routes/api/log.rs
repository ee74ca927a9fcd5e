//! The practice's evidence log: its verifier key and policy, its signed
//! checkpoints, consistency proofs between them, a bundle's inclusion
//! proof as a c2sp.org/tlog-proof file, and a check of a checkpoint kept
//! outside the portal. The tiles themselves are served under `/log/{org}/`
//! (c2sp.org/tlog-tiles; see docs/EVIDENCE.md). Auditors read the key,
//! checkpoints and consistency proofs (they hold no evidence) and the
//! proofs of bundles within their grant; verifying the whole practice is
//! for its own users (an auditor verifies a pack).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use uuid::Uuid;

use super::compliance::BundleIdParam;
use super::error::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, UNPROCESSABLE};
use super::types::{PageLimit, TreeSize};
use crate::auth::current::{ApiReader, ApiViewer, ClientInfo};
use crate::compliance::{self, Reach};
use crate::db::evidence_log::{self as store, StoredCheckpoint};
use crate::evidence::{integrity, proofs};
use crate::log::cosignature::CosignatureVerifier;
use crate::log::merkle::Hash;
use crate::routes::api::types::StrictString;
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
    pub checkpoint: StrictString,
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

#[derive(Debug, Object)]
pub struct BundleLogCheck {
    pub bundle_id: String,
    /// Signature, logged leaf, inclusion and derived rows all check out.
    pub valid: bool,
    #[oai(nullable)]
    pub log_index: Option<u64>,
    /// The size of the signed checkpoint the bundle was proven in.
    #[oai(nullable)]
    pub checkpoint_size: Option<u64>,
    /// The bundle's signature verifies with its site's key.
    pub signature_valid: bool,
    /// The leaf recomputed from the stored row is in the signed checkpoint.
    pub included: bool,
    /// The result, counts and check rows pages show match the signed bytes.
    pub rows_match: bool,
    /// What is wrong, in words, when not valid.
    #[oai(nullable)]
    pub reason: Option<String>,
}

#[derive(Debug, Object)]
pub struct VerificationStarted {
    pub job_id: Uuid,
    /// False when a verification was already running, or the last one
    /// covered the log as it is now (its result is kept until it grows).
    pub started: bool,
}

#[derive(ApiResponse)]
enum VerifyAccepted {
    /// Running (or done) in the background: poll `GET /api/client/log/verify/{job_id}`.
    #[oai(status = 202)]
    Accepted(Json<VerificationStarted>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Done,
    Failed,
}

#[derive(Debug, Object)]
pub struct JobProgress {
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Object)]
pub struct ProblemBody {
    #[oai(nullable)]
    pub log_index: Option<u64>,
    #[oai(nullable)]
    pub site_id: Option<Uuid>,
    #[oai(nullable)]
    pub position: Option<i64>,
    #[oai(nullable)]
    pub bundle_id: Option<String>,
    pub reason: String,
}

#[derive(Debug, Object)]
pub struct LogVerification {
    pub job_id: Uuid,
    pub status: JobStatus,
    pub progress: JobProgress,
    /// Null while running or when the job failed.
    #[oai(nullable)]
    pub valid: Option<bool>,
    /// Leaves verified (the log's size when the job started).
    pub size: u64,
    /// The first 1,000 problems found.
    pub problems: Vec<ProblemBody>,
    pub problem_count: u64,
    #[oai(nullable)]
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<integrity::Job> for LogVerification {
    fn from(j: integrity::Job) -> Self {
        LogVerification {
            job_id: j.id,
            status: match j.status.as_str() {
                "running" => JobStatus::Running,
                "done" => JobStatus::Done,
                _ => JobStatus::Failed,
            },
            progress: JobProgress { done: j.done as u64, total: j.total as u64 },
            valid: j.valid,
            size: j.size as u64,
            problems: j
                .problems
                .into_iter()
                .map(|p| ProblemBody {
                    log_index: p.log_index,
                    site_id: p.site_id,
                    position: p.position,
                    bundle_id: p.bundle_id,
                    reason: p.reason,
                })
                .collect(),
            problem_count: j.problem_count as u64,
            error: j.error,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
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
        req: &Request,
        user: ApiReader,
        bundle_id: Path<BundleIdParam>,
        /// Prove against the checkpoint of this many leaves.
        size: Query<Option<TreeSize>>,
        /// The site, when several sites of the practice used this id.
        site_id: Query<Option<Uuid>>,
    ) -> Result<ProofFile, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        let db = state.pool().get().await?;
        let bundle = crate::db::evidence::BundleRef::new(&bundle_id.0.0, site_id.0);
        let reach = Reach::of(&**db, &user).await?;
        let bundle = crate::compliance::reach_bundle(&**db, user.org_id, &reach, &bundle).await?;
        compliance::record_view(
            &**db,
            &user,
            &reach,
            &ClientInfo::of(req),
            "evidence_proof",
            Some(bundle_id.0.0.clone()),
            serde_json::json!({ "site_id": bundle.site_id, "size": size.0.map(|s| s.0) }),
        )
        .await?;
        let proof = proofs::bundle_proof(&**db, user.org_id, &bundle, size.0.map(|s| s.0)).await?;
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
        user: ApiReader,
    ) -> Result<Json<LogKey>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        let (origin, verifier) = proofs::verifier(&state, &**db, user.org_id).await?;
        let sites = store::site_keys(&**db, user.org_id).await?;
        let witnesses: Vec<String> = sites
            .iter()
            .filter_map(|s| {
                let key = ed25519_dalek::VerifyingKey::try_from(s.witness.as_deref()?).ok()?;
                let name = crate::evidence::witness::appliance_name(&origin, s.site_id);
                CosignatureVerifier::new(&name, key).map(|v| v.vkey())
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
        user: ApiReader,
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
    /// tree of `new` leaves (at most the latest checkpoint's size). 422 when
    /// `old` is larger than `new` or `new` than the log.
    #[oai(path = "/log/consistency", method = "get", operation_id = "get_log_consistency")]
    async fn log_consistency(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
        old: Query<TreeSize>,
        new: Query<TreeSize>,
    ) -> Result<Json<ConsistencyProof>, ApiError<{ AUTHED | NOT_FOUND | UNPROCESSABLE }>> {
        let db = state.pool().get().await?;
        let (proof, latest) =
            proofs::consistency_between(&**db, user.org_id, old.0.0, new.0.0).await?;
        Ok(Json(ConsistencyProof {
            old: old.0.0,
            new: new.0.0,
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
        user: ApiReader,
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

    /// Verify one bundle against the log
    ///
    /// Its signature, its leaf recomputed from the stored row, the leaf's
    /// inclusion in the latest signed checkpoint and that checkpoint's
    /// signature, and the rows pages show re-derived from its bytes. Takes
    /// milliseconds at any position.
    #[oai(path = "/evidence/:bundle_id/verify", method = "post", operation_id = "verify_bundle")]
    async fn verify_bundle(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
        bundle_id: Path<BundleIdParam>,
        /// The site, when several sites of the practice used this id.
        site_id: Query<Option<Uuid>>,
    ) -> Result<Json<BundleLogCheck>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        let db = state.pool().get().await?;
        let bundle = crate::db::evidence::BundleRef::new(&bundle_id.0.0, site_id.0);
        let reach = Reach::of(&**db, &user).await?;
        let bundle = crate::compliance::reach_bundle(&**db, user.org_id, &reach, &bundle).await?;
        let c = integrity::verify_bundle(&state, &**db, user.org_id, &bundle).await?;
        Ok(Json(BundleLogCheck {
            bundle_id: c.bundle_id,
            valid: c.valid,
            log_index: c.log_index,
            checkpoint_size: c.checkpoint_size,
            signature_valid: c.signature_valid,
            included: c.included,
            rows_match: c.rows_match,
            reason: c.reason,
        }))
    }

    /// Verify the whole practice
    ///
    /// Starts a background verification of every leaf of the practice's
    /// log against its stored bundles and every signed checkpoint (one per
    /// practice at a time; a finished result is kept until the log grows).
    #[oai(path = "/log/verify", method = "post", operation_id = "verify_log")]
    async fn verify_log(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
    ) -> Result<VerifyAccepted, ApiError<{ AUTHED | NOT_FOUND }>> {
        let (job_id, started) = integrity::start(&state, user.org_id, user.id).await?;
        Ok(VerifyAccepted::Accepted(Json(VerificationStarted { job_id, started })))
    }

    /// A practice verification's progress and result
    #[oai(path = "/log/verify/:job_id", method = "get", operation_id = "get_log_verification")]
    async fn get_log_verification(
        &self,
        state: Data<&AppState>,
        user: ApiViewer,
        job_id: Path<Uuid>,
    ) -> Result<Json<LogVerification>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let db = state.pool().get().await?;
        Ok(Json(integrity::job(&**db, user.org_id, job_id.0).await?.into()))
    }
}
