//! Reading the evidence log: a tree's hashes from the stored tiles (full
//! tiles as written by the integrator, partial ones computed from the
//! trailing leaves or the roots of the full tiles below), and from them
//! roots, inclusion and consistency proofs, and the c2sp.org/tlog-tiles
//! resources. Every proof reads a few rows, at any size.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::db::evidence_log as store;
use crate::error::{AppError, AppResult};
use crate::log::merkle::{self, Hash, leaf_hash};
use crate::log::tiles::{self, TILE_WIDTH, Tile};
use crate::log::tree::{TileHashes, ranges_of, root_ranges, tiles_for};

const HASH_LEN: usize = 32;

fn not_integrated(tile: &Tile) -> AppError {
    AppError::internal(anyhow::anyhow!(
        "tile {} of the evidence log is not written yet (the integrator is behind)",
        tile.path()
    ))
}

fn hashes_of(bytes: &[u8]) -> AppResult<Vec<Hash>> {
    if !bytes.len().is_multiple_of(HASH_LEN) {
        return Err(AppError::internal(anyhow::anyhow!("a stored tile is not a list of hashes")));
    }
    Ok(bytes.chunks_exact(HASH_LEN).map(|c| c.try_into().expect("32-byte chunk")).collect())
}

/// The hashes of `tile` in a tree of `size` leaves (full: as stored;
/// partial: computed).
async fn tile_hashes(db: &impl GenericClient, org_id: Uuid, tile: &Tile) -> AppResult<Vec<Hash>> {
    let level = tile.level.unwrap_or(0);
    let width = i64::from(tile.width);
    let first = tile.index as i64 * TILE_WIDTH as i64;
    let hashes = if tile.is_full() {
        let rows = store::tiles(db, org_id, &[(i16::from(level), tile.index as i64)]).await?;
        let (_, _, bytes) = rows.into_iter().next().ok_or_else(|| not_integrated(tile))?;
        hashes_of(&bytes)?
    } else if level == 0 {
        let data = store::leaf_data(db, org_id, first, first + width).await?;
        data.iter().map(|d| leaf_hash(d)).collect()
    } else {
        let roots =
            store::tile_roots(db, org_id, i16::from(level) - 1, first, first + width).await?;
        roots
            .iter()
            .map(|r| <Hash>::try_from(r.as_slice()).map_err(AppError::internal))
            .collect::<AppResult<Vec<Hash>>>()?
    };
    if hashes.len() != usize::from(tile.width) {
        return Err(not_integrated(tile));
    }
    Ok(hashes)
}

/// The tiles of a tree of `size` leaves that `ranges` need, read.
pub async fn load(
    db: &impl GenericClient,
    org_id: Uuid,
    size: u64,
    ranges: &[(u64, u64)],
) -> AppResult<TileHashes> {
    let needed = tiles_for(size, ranges);
    let mut out = TileHashes::new(size);
    let full: Vec<(i16, i64)> = needed
        .iter()
        .filter(|t| t.is_full())
        .map(|t| (i16::from(t.level.unwrap_or(0)), t.index as i64))
        .collect();
    for (level, index, bytes) in store::tiles(db, org_id, &full).await? {
        out.insert(level as u8, index as u64, hashes_of(&bytes)?);
    }
    for t in &needed {
        let level = t.level.unwrap_or(0);
        if !t.is_full() {
            out.insert(level, t.index, tile_hashes(db, org_id, t).await?);
        } else if !out.has(level, t.index) {
            return Err(not_integrated(t));
        }
    }
    Ok(out)
}

fn missing(e: crate::log::tree::MissingTile) -> AppError {
    AppError::internal(anyhow::anyhow!("the evidence log's {e}"))
}

/// The root of the practice's tree at `size` leaves.
pub async fn root(db: &impl GenericClient, org_id: Uuid, size: u64) -> AppResult<Hash> {
    let tiles = load(db, org_id, size, &root_ranges(size)).await?;
    tiles.root().map_err(missing)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub async fn inclusion(
    db: &impl GenericClient,
    org_id: Uuid,
    index: u64,
    size: u64,
) -> AppResult<Vec<Hash>> {
    if index >= size {
        return Err(AppError::BadRequest(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let ranges = ranges_of(|r| merkle::inclusion_proof(r, index, size));
    let tiles = load(db, org_id, size, &ranges).await?;
    merkle::inclusion_proof(&tiles, index, size).map_err(|e| match e {
        merkle::ProofError::Source(m) => missing(m),
        other => AppError::BadRequest(other.to_string()),
    })
}

/// The consistency proof from the tree of `old` leaves to that of `new`.
pub async fn consistency(
    db: &impl GenericClient,
    org_id: Uuid,
    old: u64,
    new: u64,
) -> AppResult<Vec<Hash>> {
    if old > new {
        return Err(AppError::Unprocessable(format!(
            "old ({old}) must not be larger than new ({new})"
        )));
    }
    let ranges = ranges_of(|r| merkle::consistency_proof(r, old, new));
    let tiles = load(db, org_id, new, &ranges).await?;
    merkle::consistency_proof(&tiles, old, new).map_err(|e| match e {
        merkle::ProofError::Source(m) => missing(m),
        other => AppError::BadRequest(other.to_string()),
    })
}

/// Why a tile cannot be served for a tree of `size` leaves.
fn tile_beyond(tile: &Tile, size: u64) -> AppError {
    AppError::NotFound(format!(
        "tile {} is not part of the log's latest checkpoint ({size} leaves)",
        tile.path()
    ))
}

/// The bytes of a c2sp.org/tlog-tiles resource, if the tree of `size`
/// leaves (the latest checkpoint) has it: a hash tile (32-byte hashes) or
/// an entry bundle (uint16-length-prefixed leaves).
pub async fn tile_bytes(
    db: &impl GenericClient,
    org_id: Uuid,
    tile: &Tile,
    size: u64,
) -> AppResult<Vec<u8>> {
    let level = tile.level.unwrap_or(0);
    let span_bits = 8 * u32::from(level);
    let available = if span_bits >= 64 { 0 } else { size >> span_bits };
    if (tile.index * TILE_WIDTH + u64::from(tile.width)) > available {
        return Err(tile_beyond(tile, size));
    }
    match tile.level {
        Some(_) => Ok(tile_hashes(db, org_id, tile).await?.concat()),
        None => {
            let first = (tile.index * TILE_WIDTH) as i64;
            let data = store::leaf_data(db, org_id, first, first + i64::from(tile.width)).await?;
            if data.len() != usize::from(tile.width) {
                return Err(tile_beyond(tile, size));
            }
            tiles::encode_bundle(data.iter().map(Vec::as_slice)).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("a stored leaf is longer than 65,535 bytes"))
            })
        }
    }
}

// ---------------------------------------------------------------------------
// What the API and pages serve
// ---------------------------------------------------------------------------

use crate::db::evidence_log::StoredCheckpoint;
use crate::log::checkpoint::Checkpoint;
use crate::log::note::{self, NoteVerifier};
use crate::log::proof::TlogProof;
use crate::state::AppState;

fn no_such_log() -> AppError {
    AppError::NotFound("no such evidence log in your practice".into())
}

/// The practice whose log a `/log/{org}/…` path names, when it is the
/// caller's own; another practice's (or a malformed id) gets the same 404
/// as a log that does not exist.
pub fn own_log(user: &crate::auth::current::CurrentUser, org: &str) -> AppResult<Uuid> {
    Uuid::parse_str(org).ok().filter(|id| *id == user.org_id).ok_or_else(no_such_log)
}

/// The tile a `tile/…` path of c2sp.org/tlog-tiles names, or a 404 that
/// says what such a path looks like.
pub fn tile_at(path: &str) -> AppResult<Tile> {
    Tile::parse(path).ok_or_else(|| {
        AppError::NotFound(format!(
            "tile/{path} is not a c2sp.org/tlog-tiles path: tile/<L>/<N>[.p/<W>] or \
             tile/entries/<N>[.p/<W>], <N> in groups of three digits (x001/234)"
        ))
    })
}

fn no_log() -> AppError {
    AppError::NotFound(
        "your practice has no evidence log yet: it starts with the first evidence an appliance sends".into(),
    )
}

fn no_checkpoint() -> AppError {
    AppError::NotFound(
        "your practice's evidence log has no signed checkpoint yet; one is signed within a minute of \
         the first evidence"
            .into(),
    )
}

/// The practice's log origin and verifier key.
pub async fn verifier(
    state: &AppState,
    db: &impl GenericClient,
    org_id: Uuid,
) -> AppResult<(String, NoteVerifier)> {
    let (origin, _) = store::log_row(db, org_id).await?.ok_or_else(no_log)?;
    let signer = state.log_signer(org_id, &origin)?;
    Ok((origin, signer.verifier().clone()))
}

/// The latest signed checkpoint.
pub async fn latest(db: &impl GenericClient, org_id: Uuid) -> AppResult<StoredCheckpoint> {
    store::latest_checkpoint(db, org_id).await?.ok_or_else(no_checkpoint)
}

/// A checkpoint as served: the log's signed note followed by every
/// cosignature line held for its size.
pub async fn served_note(
    db: &impl GenericClient,
    org_id: Uuid,
    cp: &StoredCheckpoint,
) -> AppResult<String> {
    let mut note = cp.note.clone();
    for line in store::cosignatures(db, org_id, cp.size).await? {
        note.push_str(&line);
        note.push('\n');
    }
    Ok(note)
}

/// The checkpoint of `size` leaves (the latest when None).
pub async fn checkpoint_at(
    db: &impl GenericClient,
    org_id: Uuid,
    size: Option<u64>,
) -> AppResult<StoredCheckpoint> {
    match size {
        None => latest(db, org_id).await,
        Some(s) => store::checkpoint_of_size(db, org_id, s as i64).await?.ok_or_else(|| {
            AppError::NotFound(format!(
                "no checkpoint of {s} leaves was signed; GET /api/client/log/checkpoints lists them"
            ))
        }),
    }
}

/// A bundle's c2sp.org/tlog-proof file against the checkpoint of `size`
/// leaves (the latest when None), with its leaf in `extra`.
pub async fn bundle_proof(
    db: &impl GenericClient,
    org_id: Uuid,
    bundle: &crate::db::evidence::BundleRef<'_>,
    size: Option<u64>,
) -> AppResult<TlogProof> {
    let index = store::bundle_log_index(db, org_id, bundle)
        .await?
        .ok_or_else(crate::compliance::no_such_bundle)?
        .ok_or_else(|| {
            AppError::Conflict(
                "this bundle is not in the evidence log yet; it is logged with the practice's next evidence"
                    .into(),
            )
        })?;
    let index = index as u64;
    let cp = checkpoint_at(db, org_id, size).await?;
    let cp_size = cp.size as u64;
    if index >= cp_size {
        return Err(AppError::Conflict(format!(
            "this bundle is leaf {index}, after the checkpoint of {cp_size} leaves; it is in the next \
             checkpoint, signed within a minute"
        )));
    }
    let hashes = inclusion(db, org_id, index, cp_size).await?;
    let leaf = store::leaf_data(db, org_id, index as i64, index as i64 + 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("leaf {index} is missing")))?;
    let checkpoint = served_note(db, org_id, &cp).await?;
    Ok(TlogProof { extra: Some(leaf), index, hashes, checkpoint })
}

/// A consistency proof between two sizes no larger than the latest
/// checkpoint.
pub async fn consistency_between(
    db: &impl GenericClient,
    org_id: Uuid,
    old: u64,
    new: u64,
) -> AppResult<(Vec<Hash>, StoredCheckpoint)> {
    let cp = latest(db, org_id).await?;
    if new > cp.size as u64 {
        return Err(AppError::Unprocessable(format!(
            "new ({new}) is larger than the latest checkpoint ({} leaves)",
            cp.size
        )));
    }
    Ok((consistency(db, org_id, old, new).await?, cp))
}

/// What a kept checkpoint says against today's log.
#[derive(Debug)]
pub struct KeptCheck {
    /// Signed by this practice's log key.
    pub signature_valid: bool,
    pub kept_size: Option<u64>,
    pub latest: StoredCheckpoint,
    /// The consistency proof from the kept size to the latest.
    pub proof: Vec<Hash>,
    pub consistent: bool,
    pub reason: Option<String>,
}

/// Checks a checkpoint someone kept (from an email, a PDF, an appliance)
/// against the latest one: its signature, then a consistency proof from
/// its size to today's, verified against both signed roots.
pub async fn check_kept(
    state: &AppState,
    db: &impl GenericClient,
    org_id: Uuid,
    kept: &str,
) -> AppResult<KeptCheck> {
    let (origin, verifier) = verifier(state, db, org_id).await?;
    let latest = latest(db, org_id).await?;
    let refused =
        |latest: StoredCheckpoint, signature_valid, kept_size, reason: String| KeptCheck {
            signature_valid,
            kept_size,
            latest,
            proof: Vec::new(),
            consistent: false,
            reason: Some(reason),
        };
    let kept = kept.replace("\r\n", "\n");
    let opened = match note::open(&kept, &verifier) {
        Ok(n) => n,
        Err(e) => {
            return Ok(refused(
                latest,
                false,
                None,
                format!(
                    "this is not a checkpoint signed by your practice's log key ({e}); check that it was \
                     copied whole, with its signature line"
                ),
            ));
        }
    };
    let head = Checkpoint::parse(&opened.text)
        .map_err(|e| AppError::BadRequest(format!("the signed text is not a checkpoint: {e}")))?;
    if head.origin != origin {
        return Ok(refused(
            latest,
            true,
            Some(head.size),
            format!("this checkpoint is of log {:?}, not {origin:?}", head.origin),
        ));
    }
    let latest_head =
        Checkpoint::parse(&note::open(&latest.note, &verifier).map_err(AppError::internal)?.text)
            .map_err(AppError::internal)?;
    if head.size > latest_head.size {
        return Ok(refused(
            latest,
            true,
            Some(head.size),
            format!(
                "the log signed this checkpoint of {} leaves, but its latest checkpoint has only {}: \
                 the log was rolled back. Keep this checkpoint and tell your auditor",
                head.size, latest_head.size
            ),
        ));
    }
    let proof = consistency(db, org_id, head.size, latest_head.size).await?;
    let verdict = merkle::verify_consistency(
        head.size,
        latest_head.size,
        &head.root,
        &latest_head.root,
        &proof,
    );
    Ok(KeptCheck {
        signature_valid: true,
        kept_size: Some(head.size),
        latest,
        consistent: verdict.is_ok(),
        reason: verdict.err().map(|e| {
            format!(
                "the log's history changed since this checkpoint: {e}. Keep this checkpoint and tell \
                 your auditor"
            )
        }),
        proof,
    })
}

/// The c2sp.org/tlog-policy text for the practice's log: the log's key and
/// where it is, each appliance that can cosign as a witness, and no quorum
/// (cosignatures add assurance; the log's own signature is what is needed).
pub fn policy(base_url: &str, org_id: Uuid, vkey: &str, witnesses: &[String]) -> String {
    let mut out =
        format!("log {vkey} {}/log/{}\n", base_url.trim_end_matches('/'), org_id.hyphenated());
    for (i, w) in witnesses.iter().enumerate() {
        out.push_str(&format!("witness appliance-{} {w}\n", i + 1));
    }
    out.push_str("quorum none\n");
    out
}

/// One registration of a site's keys, from its site-key leaf.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub log_index: i64,
    pub logged_at: chrono::DateTime<chrono::Utc>,
    pub backfilled: bool,
    pub key: [u8; 32],
    pub witness: Option<[u8; 32]>,
}

/// Every site-key leaf of `site_id`, in log order.
pub async fn key_history(
    db: &impl GenericClient,
    org_id: Uuid,
    site_id: Uuid,
) -> AppResult<Vec<KeyEntry>> {
    let leaves = store::site_key_leaves(db, org_id).await?;
    Ok(leaves
        .into_iter()
        .filter_map(|l| match crate::log::leaf::Leaf::parse(&l.data) {
            Ok(crate::log::leaf::Leaf::SiteKey(k)) if k.site == site_id => Some(KeyEntry {
                log_index: l.index,
                logged_at: l.logged_at,
                backfilled: l.backfilled,
                key: k.key,
                witness: k.witness,
            }),
            _ => None,
        })
        .collect())
}
