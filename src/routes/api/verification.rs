//! Re-verifying stored evidence from its bytes: one bundle (with the chain
//! from the start up to it) or a site's whole chain.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use uuid::Uuid;

use super::compliance::BundleIdParam;
use super::error::{AUTHED, ApiError, CONFLICT, NOT_FOUND, TOO_MANY};
use crate::auth::current::ApiReader;
use crate::compliance::Reach;
use crate::db::evidence as evidence_store;
use crate::evidence::{chain, verify};
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Recomputing hashes, chain links and signatures from the stored bytes.
    Verification,
}

#[derive(Debug, Object)]
pub struct BundleVerification {
    pub bundle_id: String,
    /// SHA-256 of the stored bytes, recomputed now (hex).
    pub bundle_hash: String,
    /// Every link from the chain's start up to this bundle verifies.
    pub chain_valid: bool,
    /// Links verified (this bundle's position + 1 when valid).
    pub chain_length: u64,
    /// This bundle's Ed25519 signature verifies with the site's key.
    pub signature_valid: bool,
    /// When this verification ran.
    pub checked_at: DateTime<Utc>,
    /// What broke, when the chain is not valid.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

#[derive(Debug, Object)]
pub struct ChainVerification {
    pub valid: bool,
    /// Links verified before the first problem (all of them when valid).
    pub length: u64,
    pub verified_at: DateTime<Utc>,
    /// The first position that does not verify.
    #[oai(nullable)]
    pub first_broken_position: Option<i64>,
    /// Why, in words.
    #[oai(nullable)]
    pub reason: Option<String>,
}

pub struct VerificationApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Verification")]
impl VerificationApi {
    /// Verify one bundle (deprecated)
    ///
    /// Recomputes the chain from its start up to this bundle, and this
    /// bundle's signature, from the database alone: someone who can write
    /// the database can make it answer valid. Use
    /// `POST /api/client/evidence/{bundle_id}/verify`, which checks the
    /// bundle against the signed evidence log in milliseconds.
    #[oai(
        path = "/evidence/verify/:bundle_id",
        method = "get",
        operation_id = "verify_evidence",
        deprecated
    )]
    async fn verify_evidence(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
        bundle_id: Path<BundleIdParam>,
        /// The site, when several sites of the practice used this id.
        site_id: Query<Option<Uuid>>,
    ) -> Result<Json<BundleVerification>, ApiError<{ AUTHED | NOT_FOUND | CONFLICT | TOO_MANY }>>
    {
        let db = state.pool().get().await?;
        let bundle = evidence_store::BundleRef::new(&bundle_id.0.0, site_id.0);
        let reach = Reach::of(&**db, &user).await?;
        let bundle = crate::compliance::reach_bundle(&**db, user.org_id, &reach, &bundle).await?;
        let b = evidence_store::bundle_to_verify(&**db, user.org_id, &bundle)
            .await?
            .ok_or_else(crate::compliance::no_such_bundle)?;
        drop(db);
        let _permit = verify::request_permit()?;
        let signature_valid =
            chain::stored_signature_valid(&b.site_public_key, &b.raw, &b.signature);
        let (site_id, position, raw) = (b.site_id, b.chain_position, b.raw);
        let outcome =
            verify::verify_site_snapshot(state.pool(), site_id, Some(position), |_| {}).await?;
        Ok(Json(BundleVerification {
            bundle_id: bundle_id.0.0,
            bundle_hash: hex::encode(chain::bundle_hash(&raw)),
            chain_valid: outcome.valid(),
            chain_length: outcome.length,
            signature_valid,
            checked_at: outcome.verified_at,
            reason: outcome.broken.map(|b| b.to_string()),
        }))
    }

    /// Verify a site's whole chain (deprecated)
    ///
    /// Recomputes every bundle hash, chain hash and signature from the
    /// stored bytes, checks positions for gaps and the site's recorded head,
    /// and names the first broken position, from the database alone. Use
    /// `POST /api/client/log/verify`, which checks the whole practice
    /// against the signed evidence log in the background.
    #[oai(
        path = "/sites/:site_id/verify-chain",
        method = "post",
        operation_id = "verify_chain",
        deprecated
    )]
    async fn verify_chain(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
        site_id: Path<Uuid>,
    ) -> Result<Json<ChainVerification>, ApiError<{ AUTHED | NOT_FOUND | TOO_MANY }>> {
        let db = state.pool().get().await?;
        let reach = Reach::of(&**db, &user).await?;
        crate::compliance::require_site(&**db, user.org_id, &reach, site_id.0).await?;
        drop(db);
        let _permit = verify::request_permit()?;
        let outcome = verify::verify_site_snapshot(state.pool(), site_id.0, None, |_| {}).await?;
        Ok(Json(ChainVerification {
            valid: outcome.valid(),
            length: outcome.length,
            verified_at: outcome.verified_at,
            first_broken_position: outcome.broken.as_ref().map(|b| b.position),
            reason: outcome.broken.map(|b| b.reason),
        }))
    }
}
