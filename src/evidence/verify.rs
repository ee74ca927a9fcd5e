//! Verifying a site's stored chain from its first link: every bundle hash,
//! chain hash and signature recomputed from the stored bytes, positions
//! checked for gaps. Streams the chain in batches, so memory stays flat.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::chain::{Broken, ChainVerifier, StoredLink};
use crate::db::evidence as store;
use crate::error::{AppError, AppResult};
use crate::reach::no_such_site;

/// Links read per query.
const BATCH: i64 = 500;

#[derive(Debug, Clone)]
pub struct Outcome {
    /// Links checked.
    pub length: u64,
    /// Bytes of bundles hashed.
    pub bytes: u64,
    pub verified_at: DateTime<Utc>,
    /// The first problem, if any.
    pub broken: Option<Broken>,
}

impl Outcome {
    pub fn valid(&self) -> bool {
        self.broken.is_none()
    }
}

/// [`verify_site`] on one consistent snapshot of the database: a bundle
/// committed while a long verification runs must not look like tampering
/// (the site's recorded length and its links are read at the same instant).
/// Chain verifications from requests (the deprecated endpoints and the
/// site page's button) run at most this many at once across the process,
/// so they cannot take the pool from everyone else.
pub const MAX_CONCURRENT_REQUEST_VERIFICATIONS: usize = 2;
static REQUEST_VERIFICATIONS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_CONCURRENT_REQUEST_VERIFICATIONS);

/// A permit for one chain verification on the request path, or a 429 that
/// points at the background verification.
pub fn request_permit() -> AppResult<tokio::sync::SemaphorePermit<'static>> {
    REQUEST_VERIFICATIONS.try_acquire().map_err(|_| AppError::TooManyRequests {
        message: format!(
            "{MAX_CONCURRENT_REQUEST_VERIFICATIONS} chain verifications are running already; try again in a \
             minute, or verify the whole practice in the background with POST /api/client/log/verify"
        ),
        retry_after_secs: 30,
    })
}

pub async fn verify_site_snapshot(
    pool: &deadpool_postgres::Pool,
    site_id: Uuid,
    up_to: Option<i64>,
    progress: impl FnMut(u64),
) -> AppResult<Outcome> {
    let mut db = pool.get().await?;
    let tx = db
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let outcome = verify_site(&*tx, site_id, up_to, progress).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Verifies `site_id`'s chain; `up_to` stops after that position (the
/// chain up to one bundle), otherwise the whole chain is checked against the
/// site's recorded length and head. `progress` is called with the number
/// of links done so far after every batch.
///
/// Each batch is checked on the blocking pool (on all cores, see
/// [`ChainVerifier::push_all`]) while the next one is read, so neither the
/// async runtime nor the database waits on the other.
pub async fn verify_site(
    db: &impl tokio_postgres::GenericClient,
    site_id: Uuid,
    up_to: Option<i64>,
    mut progress: impl FnMut(u64),
) -> AppResult<Outcome> {
    let key = store::site_key(db, site_id).await?.ok_or_else(no_such_site)?;
    let (recorded_length, recorded_head) =
        store::recorded_head(db, site_id).await?.ok_or_else(no_such_site)?;
    let mut verifier = ChainVerifier::new(site_id, key.public_key);
    let mut rows = store::chain_batch(db, site_id, -1, up_to, BATCH).await?;
    while let Some(last) = rows.last() {
        let after = last.position;
        let more = rows.len() as i64 == BATCH;
        let check = tokio::task::spawn_blocking(move || {
            let links: Vec<StoredLink<'_>> = rows.iter().map(link_of).collect();
            let verdict = verifier.push_all(&links);
            (verifier, verdict)
        });
        let next = async {
            if more {
                store::chain_batch(db, site_id, after, up_to, BATCH).await
            } else {
                Ok(Vec::new())
            }
        };
        let (checked, next) = tokio::join!(check, next);
        let (checked, verdict) = checked.map_err(AppError::internal)?;
        verifier = checked;
        if let Err(broken) = verdict {
            return Ok(Outcome {
                length: verifier.verified_links(),
                bytes: verifier.verified_bytes(),
                verified_at: Utc::now(),
                broken: Some(broken),
            });
        }
        progress(verifier.verified_links());
        rows = next?;
    }
    let (done, bytes) = (verifier.verified_links(), verifier.verified_bytes());
    let broken = match up_to {
        // Verifying a prefix: the links must run 0..=up_to without a gap.
        Some(end) if done != u64::try_from(end + 1).unwrap_or(0) => Some(Broken {
            position: done as i64,
            reason: format!("position {done} is missing: the chain ends early"),
        }),
        Some(_) => None,
        None => verifier.finish(recorded_length, recorded_head.as_deref()).err(),
    };
    Ok(Outcome { length: done, bytes, verified_at: Utc::now(), broken })
}

fn link_of(row: &store::LinkRow) -> StoredLink<'_> {
    StoredLink {
        position: row.position,
        bundle_id: &row.bundle_id,
        raw: &row.raw,
        bundle_hash: &row.bundle_hash,
        prev_chain_hash: &row.prev_chain_hash,
        chain_hash: &row.chain_hash,
        signature: &row.signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_path_verifications_are_capped_with_a_429_that_says_what_to_do() {
        let held: Vec<_> =
            (0..MAX_CONCURRENT_REQUEST_VERIFICATIONS).map(|_| request_permit().unwrap()).collect();
        let refused = request_permit().unwrap_err();
        assert!(matches!(refused, AppError::TooManyRequests { retry_after_secs: 30, .. }));
        assert!(refused.to_string().contains("POST /api/client/log/verify"), "{refused}");
        drop(held);
        assert!(request_permit().is_ok(), "free again once they finish");
    }
}
