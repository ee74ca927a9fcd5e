//! The integrator: a background task that turns each practice log's new
//! leaves into full hash tiles (each written once, at every level) and
//! signs checkpoints.
//!
//! A checkpoint is signed when the log grew, at most once per
//! `PORTAL_LOG_CHECKPOINT_INTERVAL`, and on the first pass at or after
//! 00:00 UTC on the 1st of a month whether it grew or not (the month-end
//! checkpoint, marked with the month it closes). Before signing, the new
//! tree is proven consistent with the last checkpoint signed (whose own
//! signature is checked first); a tree that is not, because leaves or
//! tiles were changed or removed in the database, is never signed, and
//! the refusal is logged as an error.
//!
//! One integrator works on a log at a time (an advisory lock per log), so
//! several instances may run it; a pass that dies leaves whole tiles
//! behind (each tile and the tiles it completes above it are written in
//! one transaction) and the next pass resumes from them.

use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::db::evidence_log::{self as store, NewCheckpoint, StoredCheckpoint};
use crate::error::{AppError, AppResult};
use crate::evidence::proofs;
use crate::log::checkpoint::Checkpoint;
use crate::log::merkle::{self, Hash, leaf_hash, root_of};
use crate::log::note::{self, NoteSigner};
use crate::log::tiles::TILE_WIDTH;
use crate::log::tree::{ranges_of, root_ranges};
use crate::state::AppState;

/// Level-0 tiles written per transaction.
pub const TILES_PER_PASS: u64 = 64;
/// The highest tile level (256^8 leaves is beyond any practice).
const MAX_LEVEL: u8 = 7;

/// What one pass over a log did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Level-0 tiles written (tiles they completed above are not counted).
    pub tiles: u64,
    /// Whether leaves are left for the next pass.
    pub more: bool,
    pub signed: Option<StoredCheckpoint>,
}

/// One pass over practice `org_id`'s log at time `now`: writes up to
/// [`TILES_PER_PASS`] tiles and, when every full tile is written, signs a
/// checkpoint if one is due. None when another integrator holds the log.
pub async fn pass(state: &AppState, org_id: Uuid, now: DateTime<Utc>) -> AppResult<Option<Pass>> {
    pass_every(state, org_id, now, state.config().log_checkpoint_interval).await
}

/// [`pass`] with checkpoints due once `interval` has passed since the last.
async fn pass_every(
    state: &AppState,
    org_id: Uuid,
    now: DateTime<Utc>,
    interval: std::time::Duration,
) -> AppResult<Option<Pass>> {
    let mut client = state.pool().get().await?;
    let tx = client.transaction().await?;
    if !store::try_lock_integrator(&*tx, org_id).await? {
        return Ok(None);
    }
    let Some((origin, size)) = store::log_row(&*tx, org_id).await? else {
        return Ok(None);
    };
    let size = u64::try_from(size).map_err(AppError::internal)?;
    let (tiles, more) = write_tiles(&*tx, org_id, size, TILES_PER_PASS).await?;
    let signer = state.log_signer(org_id, &origin)?;
    store::set_vkey(&*tx, org_id, &signer.verifier().vkey()).await?;
    let signed = if more {
        None
    } else {
        sign_if_due(&*tx, &signer, org_id, &origin, size, now, interval).await?
    };
    tx.commit().await?;
    Ok(Some(Pass { tiles, more, signed }))
}

/// Integrates the whole log and signs a checkpoint of it now if it grew
/// since the last one, whatever the interval (an evidence pack's report
/// leaves must be in the checkpoint it ships). False when another
/// integrator holds the log.
pub async fn checkpoint_now(state: &AppState, org_id: Uuid, now: DateTime<Utc>) -> AppResult<bool> {
    loop {
        match pass_every(state, org_id, now, std::time::Duration::ZERO).await? {
            None => return Ok(false),
            Some(p) if !p.more => return Ok(true),
            Some(_) => {}
        }
    }
}

/// Passes over the log until nothing is left to do now.
pub async fn catch_up(state: &AppState, org_id: Uuid, now: DateTime<Utc>) -> AppResult<Pass> {
    let mut total = Pass::default();
    loop {
        let Some(p) = pass(state, org_id, now).await? else { return Ok(total) };
        total.tiles += p.tiles;
        total.signed = p.signed.or(total.signed);
        if !p.more {
            return Ok(total);
        }
    }
}

/// Writes the log's next full level-0 tiles (at most `max`) and every tile
/// they complete above; returns how many level-0 tiles and whether more
/// are waiting.
pub async fn write_tiles(
    db: &impl GenericClient,
    org_id: Uuid,
    size: u64,
    max: u64,
) -> AppResult<(u64, bool)> {
    let done =
        u64::try_from(store::full_tiles(db, org_id, 0).await?).map_err(AppError::internal)?;
    let ready = size / TILE_WIDTH;
    let todo = ready.saturating_sub(done).min(max);
    for n in done..done + todo {
        let first = (n * TILE_WIDTH) as i64;
        let data = store::leaf_data(db, org_id, first, first + TILE_WIDTH as i64).await?;
        if data.len() as u64 != TILE_WIDTH {
            return Err(AppError::internal(anyhow::anyhow!(
                "leaves {first}.. of the log of practice {org_id} are missing: refusing to write tile 0/{n}"
            )));
        }
        let hashes: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        write_tile(db, org_id, 0, n, &hashes).await?;
    }
    Ok((todo, done + todo < ready))
}

/// Writes full tile `level`/`index` and, when it is the last of its 256,
/// the tile above it (and so on up).
async fn write_tile(
    db: &impl GenericClient,
    org_id: Uuid,
    level: u8,
    index: u64,
    hashes: &[Hash],
) -> AppResult<()> {
    let (mut level, mut index, mut hashes) = (level, index, hashes.to_vec());
    loop {
        let root = root_of(&hashes);
        store::insert_tile(db, org_id, i16::from(level), index as i64, &hashes.concat(), &root)
            .await?;
        if (index + 1) % TILE_WIDTH != 0 || level == MAX_LEVEL {
            return Ok(());
        }
        let parent = index / TILE_WIDTH;
        let first = (parent * TILE_WIDTH) as i64;
        let roots =
            store::tile_roots(db, org_id, i16::from(level), first, first + TILE_WIDTH as i64)
                .await?;
        if roots.len() as u64 != TILE_WIDTH {
            return Err(AppError::internal(anyhow::anyhow!(
                "tiles {level}/{first}.. of practice {org_id} are missing: refusing to write tile {}/{parent}",
                level + 1
            )));
        }
        hashes = roots
            .iter()
            .map(|r| <Hash>::try_from(r.as_slice()).map_err(AppError::internal))
            .collect::<AppResult<_>>()?;
        level += 1;
        index = parent;
    }
}

/// 00:00 UTC on the 1st of `now`'s month, and the month before (`YYYY-MM`).
fn month_start(now: DateTime<Utc>) -> (DateTime<Utc>, String) {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("the 1st at midnight UTC exists");
    let before = start - chrono::Duration::days(1);
    (start, format!("{:04}-{:02}", before.year(), before.month()))
}

/// Signs a checkpoint of the log at `size` leaves if one is due.
async fn sign_if_due(
    db: &impl GenericClient,
    signer: &NoteSigner,
    org_id: Uuid,
    origin: &str,
    size: u64,
    now: DateTime<Utc>,
    interval: Duration,
) -> AppResult<Option<StoredCheckpoint>> {
    let last = store::latest_checkpoint(db, org_id).await?;
    if let Some(l) = &last
        && (size as i64) < l.size
    {
        // Checked on every pass, due or not: a log never shrinks.
        return Err(refuse(
            org_id,
            format!(
                "the log has {size} leaves, fewer than the {} of its last checkpoint (id {}): \
                 leaves were removed from the database",
                l.size, l.id
            ),
        ));
    }
    let (start, previous) = month_start(now);
    let closes = last.as_ref().filter(|l| l.signed_at < start).map(|_| previous);
    let due = match &last {
        None => size > 0,
        Some(l) => {
            let waited = (now - l.signed_at).to_std().unwrap_or_default() >= interval;
            closes.is_some() || (size > l.size as u64 && waited)
        }
    };
    if !due {
        return Ok(None);
    }
    sign(db, signer, org_id, origin, size, last.as_ref(), closes.as_deref(), now).await.map(Some)
}

/// Signs the checkpoint of the log at `size` leaves after proving it
/// consistent with `last`.
#[allow(clippy::too_many_arguments)]
async fn sign(
    db: &impl GenericClient,
    signer: &NoteSigner,
    org_id: Uuid,
    origin: &str,
    size: u64,
    last: Option<&StoredCheckpoint>,
    month_end: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<StoredCheckpoint> {
    let mut ranges = root_ranges(size);
    let previous = last.map(|l| previous_head(signer, origin, l)).transpose()?;
    if let Some(prev) = &previous {
        if prev.size > size {
            return Err(refuse(
                org_id,
                format!(
                    "the log has {size} leaves, fewer than the {} of its last signed checkpoint \
                     (leaves were removed)",
                    prev.size
                ),
            ));
        }
        ranges.extend(ranges_of(|r| merkle::consistency_proof(r, prev.size, size)));
    }
    let tiles = proofs::load(db, org_id, size, &ranges).await?;
    let root = tiles.root().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    if let Some(prev) = &previous {
        let proof = merkle::consistency_proof(&tiles, prev.size, size)
            .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
        if let Err(e) = merkle::verify_consistency(prev.size, size, &prev.root, &root, &proof) {
            return Err(refuse(
                org_id,
                format!(
                    "the tree of {size} leaves is not consistent with the checkpoint signed at {} \
                     ({} leaves): {e}; leaves or tiles were changed in the database",
                    last.map(|l| l.signed_at.to_rfc3339()).unwrap_or_default(),
                    prev.size
                ),
            ));
        }
    }
    let text = Checkpoint::new(origin, size, root).text();
    let note = signer.sign(&text).map_err(AppError::internal)?;
    let stored = store::insert_checkpoint(
        db,
        org_id,
        &NewCheckpoint { size: size as i64, root: &root, note: &note, signed_at: now, month_end },
    )
    .await?;
    Ok(stored)
}

/// The head the last checkpoint signed, read from its signed note (not
/// from the columns beside it), after checking the signature.
fn previous_head(
    signer: &NoteSigner,
    origin: &str,
    last: &StoredCheckpoint,
) -> AppResult<Checkpoint> {
    let opened = note::open(&last.note, signer.verifier()).map_err(|e| {
        refuse_any(format!("the last stored checkpoint (id {}) does not verify: {e}", last.id))
    })?;
    let head = Checkpoint::parse(&opened.text).map_err(|e| {
        refuse_any(format!("the last stored checkpoint (id {}) is not a checkpoint: {e}", last.id))
    })?;
    if head.origin != origin {
        return Err(refuse_any(format!(
            "the last stored checkpoint (id {}) is of log {:?}, not {origin:?}",
            last.id, head.origin
        )));
    }
    Ok(head)
}

fn refuse(org_id: Uuid, why: String) -> AppError {
    refuse_any(format!("practice {org_id}: {why}"))
}

fn refuse_any(why: String) -> AppError {
    AppError::internal(anyhow::anyhow!("refusing to sign a checkpoint: {why}"))
}

/// The running integrator; `shutdown` stops it.
pub struct IntegratorHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl IntegratorHandle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// How often the integrator looks for work.
pub fn tick(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// Every log, caught up, then again every [`tick`] until shut down.
pub fn spawn(state: AppState) -> IntegratorHandle {
    let (stop, mut stopped) = watch::channel(false);
    let every = tick(state.config().log_checkpoint_interval);
    let task = tokio::spawn(async move {
        loop {
            if let Err(e) = run_once(&state, &mut stopped).await {
                tracing::warn!(error = %e.detail(), "the evidence-log integrator could not list the logs; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    IntegratorHandle { stop, task }
}

/// Makes the log of every practice that has sites but no log yet (its
/// past logged as backfill), so evidence from before the log can be proven
/// without waiting for the practice's next bundle.
async fn run_once(state: &AppState, stopped: &mut watch::Receiver<bool>) -> AppResult<()> {
    let made =
        crate::evidence::log::make_missing_logs(state.pool(), &state.config().base_url, |_, _| {})
            .await?;
    if made > 0 {
        tracing::info!(
            practices = made,
            "made evidence logs, logging the evidence received before them"
        );
    }
    let logs = {
        let db = state.pool().get().await?;
        store::logs(&**db).await?
    };
    for (org_id, _, _) in logs {
        if *stopped.borrow() {
            return Ok(());
        }
        match catch_up(state, org_id, Utc::now()).await {
            Ok(Pass { signed: Some(c), tiles, .. }) => {
                tracing::info!(org = %org_id, size = c.size, tiles, "signed an evidence-log checkpoint")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(org = %org_id, error = %e.detail(), "evidence-log integration failed")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_start_names_the_month_it_closes() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 5).unwrap();
        let (start, closes) = month_start(at);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(closes, "2026-11");
        let (_, closes) = month_start(Utc.with_ymd_and_hms(2027, 1, 31, 23, 0, 0).unwrap());
        assert_eq!(closes, "2026-12");
    }

    #[test]
    fn the_integrator_looks_every_second_to_ten() {
        assert_eq!(tick(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(tick(Duration::from_secs(60)), Duration::from_secs(10));
    }
}
