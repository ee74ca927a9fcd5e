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
        return Err(AppError::BadRequest(format!(
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
