//! Appliances as the log's witnesses. An appliance asks, in a JSON body
//! signed with its site's signing key (`X-Agent-Signature`, like a bundle,
//! with a `request` naming what it asks and a `timestamp` within
//! [`MAX_SKEW_SECS`] of the portal's clock so a captured request goes
//! stale), for:
//!
//! - `log-proof`: the tlog-proof file of one of its bundles;
//! - `log-witness`: the latest checkpoint and a consistency proof from the
//!   size it last saw, as a c2sp.org/tlog-witness add-checkpoint body
//!   (`old N`, proof lines, a blank line, the checkpoint);
//! - `log-cosignature`: to keep its c2sp.org/tlog-cosignature v1 line,
//!   made with its own cosigner key, over the checkpoint of a size.
//!
//! Served checkpoints carry every cosignature held for their size.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use uuid::Uuid;

use super::chain;
use crate::db::evidence::{BundleRef, SiteKey};
use crate::db::evidence_log as store;
use crate::error::{AppError, AppResult};
use crate::evidence::proofs;
use crate::log::checkpoint::Checkpoint;
use crate::log::cosignature::CosignatureVerifier;
use crate::log::note;
use crate::state::AppState;

/// How far a request's timestamp may be from the portal's clock.
pub const MAX_SKEW_SECS: i64 = 300;
/// The largest request body (a cosignature line and a few fields).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Envelope {
    request: String,
    site_id: Uuid,
    timestamp: i64,
}

/// The site that signed `raw` for `request`, after checking the signature
/// and the timestamp; the body as JSON.
async fn authenticate(
    state: &AppState,
    raw: &[u8],
    signature: &str,
    request: &str,
) -> AppResult<(SiteKey, serde_json::Value)> {
    if raw.len() > MAX_REQUEST_BYTES {
        return Err(AppError::PayloadTooLarge(format!(
            "an appliance request may be at most {MAX_REQUEST_BYTES} bytes"
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| AppError::BadRequest(format!("the body is not JSON: {e}")))?;
    let env: Envelope = serde_json::from_value(value.clone()).map_err(|e| {
        AppError::BadRequest(format!(
            "the body needs \"request\", \"site_id\" (a UUID) and \"timestamp\" (unix seconds): {e}"
        ))
    })?;
    let signature =
        chain::parse_signature(signature).map_err(|e| AppError::Unauthorized(e.to_string()))?;
    let site = {
        let db = state.pool().get().await?;
        // The same one answer as ingest gives for an unknown site or a bad
        // signature.
        super::ingest::authenticate(&**db, env.site_id, raw, &signature).await?
    };
    if env.request != request {
        return Err(AppError::BadRequest(format!(
            "this endpoint answers \"request\": \"{request}\", not {:?}",
            env.request
        )));
    }
    let skew = (Utc::now().timestamp() - env.timestamp).abs();
    if skew > MAX_SKEW_SECS {
        return Err(AppError::Unauthorized(format!(
            "the request's timestamp is {skew} s from the portal's clock; requests are accepted within \
             {MAX_SKEW_SECS} s. Check the appliance's clock (NTP) and sign a fresh request"
        )));
    }
    check_field_types(&value)?;
    Ok((site, value))
}

/// The largest tree size a request may name (2^53 - 1: exact in every
/// JSON reader), as the schema says.
const MAX_TREE_SIZE: u64 = 9_007_199_254_740_991;

/// Every documented field has its documented type when present, whichever
/// request uses it: a body the schema calls invalid is never answered 200.
fn check_field_types(body: &serde_json::Value) -> AppResult<()> {
    for (name, string) in
        [("bundle_id", true), ("cosignature", true), ("old_size", false), ("size", false)]
    {
        match body.get(name) {
            None => {}
            Some(v) if string && v.is_string() => {}
            Some(v) if !string && v.as_u64().is_some_and(|n| n <= MAX_TREE_SIZE) => {}
            Some(_) if string => {
                return Err(AppError::BadRequest(format!("\"{name}\" must be a string")));
            }
            Some(_) => {
                return Err(AppError::BadRequest(format!(
                    "\"{name}\" must be a whole number from 0 to {MAX_TREE_SIZE}"
                )));
            }
        }
    }
    Ok(())
}

fn field<'a>(v: &'a serde_json::Value, name: &str, what: &str) -> AppResult<&'a serde_json::Value> {
    v.get(name).ok_or_else(|| AppError::BadRequest(format!("the body needs \"{name}\" ({what})")))
}

/// `log-proof {bundle_id}`: the tlog-proof file of one of the site's bundles.
pub async fn proof(state: &AppState, raw: &[u8], signature: &str) -> AppResult<String> {
    let (site, body) = authenticate(state, raw, signature, "log-proof").await?;
    let bundle_id = field(&body, "bundle_id", "the bundle's id")?
        .as_str()
        .ok_or_else(|| AppError::BadRequest("\"bundle_id\" must be a string".into()))?;
    let db = state.pool().get().await?;
    let proof = proofs::bundle_proof(
        &**db,
        site.org_id,
        &BundleRef::new(bundle_id, Some(site.site_id)),
        None,
    )
    .await?;
    Ok(proof.encode())
}

/// `log-witness {old_size}`: the latest checkpoint (with its
/// cosignatures) and the consistency proof from `old_size` to it.
pub async fn witness(state: &AppState, raw: &[u8], signature: &str) -> AppResult<String> {
    let (site, body) = authenticate(state, raw, signature, "log-witness").await?;
    let old = field(&body, "old_size", "the size of the last checkpoint it accepted, 0 at first")?
        .as_u64()
        .ok_or_else(|| AppError::BadRequest("\"old_size\" must be a whole number".into()))?;
    let db = state.pool().get().await?;
    let latest = proofs::latest(&**db, site.org_id).await?;
    if old > latest.size as u64 {
        return Err(AppError::Conflict(format!(
            "old_size {old} is larger than the log's latest checkpoint ({} leaves): the log may have \
             been rolled back. Keep the checkpoint you have and tell the practice",
            latest.size
        )));
    }
    let proof = proofs::consistency(&**db, site.org_id, old, latest.size as u64).await?;
    let mut out = format!("old {old}\n");
    for h in &proof {
        out.push_str(&B64.encode(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&proofs::served_note(&**db, site.org_id, &latest).await?);
    Ok(out)
}

/// `log-cosignature {size, cosignature}`: keeps the site's cosignature of
/// the checkpoint of `size` leaves, after checking it with the site's
/// cosigner key. Returns the size and the cosignature's timestamp.
pub async fn cosign(state: &AppState, raw: &[u8], signature: &str) -> AppResult<(u64, u64)> {
    let (site, body) = authenticate(state, raw, signature, "log-cosignature").await?;
    let size = field(&body, "size", "the checkpoint's tree size")?
        .as_u64()
        .ok_or_else(|| AppError::BadRequest("\"size\" must be a whole number".into()))?;
    let line = field(&body, "cosignature", "a c2sp.org/tlog-cosignature v1 line")?
        .as_str()
        .ok_or_else(|| AppError::BadRequest("\"cosignature\" must be a string".into()))?
        .trim_end_matches('\n');
    let db = state.pool().get().await?;
    let key = store::witness_key(&**db, site.site_id).await?.ok_or_else(|| {
        AppError::Conflict(
            "this site has no cosigner key registered; set one with `portal admin set-site-keys`"
                .into(),
        )
    })?;
    let key = <[u8; 32]>::try_from(key.as_slice())
        .ok()
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a stored cosigner key is malformed")))?;
    let checkpoint =
        store::checkpoint_of_size(&**db, site.org_id, size as i64).await?.ok_or_else(|| {
            AppError::NotFound(format!("the log signed no checkpoint of {size} leaves"))
        })?;
    let (origin, log_verifier) = proofs::verifier(state, &**db, site.org_id).await?;
    let text = note::open(&checkpoint.note, &log_verifier).map_err(AppError::internal)?.text;
    Checkpoint::parse(&text).map_err(AppError::internal)?;
    let name = appliance_name(&origin, site.site_id);
    let verifier = CosignatureVerifier::new(&name, key)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad cosigner name {name:?}")))?;
    let timestamp = verifier.verify(&text, line).map_err(|e| {
        AppError::BadRequest(format!(
            "the cosignature does not verify with this site's cosigner key {name:?} over the checkpoint \
             of {size} leaves: {e}"
        ))
    })?;
    let at = i64::try_from(timestamp)
        .map_err(|_| AppError::BadRequest("the cosignature's timestamp is out of range".into()))?;
    store::put_cosignature(&**db, site.org_id, size as i64, site.site_id, at, line).await?;
    Ok((size, timestamp))
}

/// `<host>/appliance/<site uuid>`: the name of a site's cosigner key.
pub fn appliance_name(origin: &str, site_id: Uuid) -> String {
    let host = origin.split("/log/").next().unwrap_or(origin);
    format!("{host}/appliance/{}", site_id.hyphenated())
}
