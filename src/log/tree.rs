//! A tree's hashes from its tiles (c2sp.org/tlog-tiles): which tiles a
//! root or a proof needs, and the subtree hashes those tiles give.
//!
//! A level-`L` tile holds up to 256 hashes of complete subtrees of
//! `256^L` leaves each; the root of a full level-`L` tile is one hash of
//! level `L + 1`. Any complete subtree of `2^h` leaves is the root of `2^(h
//! mod 8)` consecutive hashes of one tile of level `h / 8`, and every range
//! RFC 9162's recursion visits is a run of complete subtrees, largest first.
//! So a root or a proof of a tree of any size reads a few tiles, found by
//! asking the proof for the ranges it wants ([`ranges_of`]) and the tiles
//! those ranges lie in ([`tiles_for`]).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use super::merkle::{Hash, SubtreeHashes, node_hash, root_of};
use super::tiles::{TILE_WIDTH, Tile};

/// Bits of tree height per tile level.
const TILE_HEIGHT: u32 = 8;

/// A complete subtree: `2^height` leaves from `index * 2^height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    height: u32,
    index: u64,
}

/// The complete subtrees `[start, end)` consists of, in order: from each
/// point the largest aligned power of two that fits.
fn pieces(start: u64, end: u64) -> Vec<Node> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let align = if at == 0 { 63 } else { at.trailing_zeros() };
        let fit = 63 - (end - at).leading_zeros();
        let height = align.min(fit);
        out.push(Node { height, index: at >> height });
        at += 1 << height;
    }
    out
}

/// How many level-`level` hashes a tree of `size` leaves has.
fn hashes_at(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * TILE_HEIGHT;
    if shift >= 64 { 0 } else { size >> shift }
}

/// The tile a complete subtree's hashes lie in, as wide as a tree of `size`
/// leaves has it, and where in it they are.
fn locate(node: Node, size: u64) -> (Tile, usize, usize) {
    let level = (node.height / TILE_HEIGHT) as u8;
    let count = 1u64 << (node.height % TILE_HEIGHT);
    let first = node.index * count;
    let index = first / TILE_WIDTH;
    let width = (hashes_at(size, level) - index * TILE_WIDTH).min(TILE_WIDTH) as u16;
    (Tile { level: Some(level), index, width }, (first % TILE_WIDTH) as usize, count as usize)
}

/// The tiles (full or partial, as in a tree of `size` leaves) holding
/// every hash the given ranges need, each once, lowest level first.
pub fn tiles_for(size: u64, ranges: &[(u64, u64)]) -> Vec<Tile> {
    let mut seen = BTreeSet::new();
    for &(start, end) in ranges {
        for node in pieces(start, end) {
            let (tile, _, _) = locate(node, size);
            seen.insert((tile.level, tile.index, tile.width));
        }
    }
    seen.into_iter().map(|(level, index, width)| Tile { level, index, width }).collect()
}

/// The subtree ranges `f` asks its source for, answering with zeros (the
/// ranges a proof needs do not depend on the hashes).
pub fn ranges_of<T>(f: impl FnOnce(&Recorder) -> T) -> Vec<(u64, u64)> {
    let recorder = Recorder(RefCell::new(Vec::new()));
    f(&recorder);
    recorder.0.into_inner()
}

/// A source that records what it is asked (see [`ranges_of`]).
pub struct Recorder(RefCell<Vec<(u64, u64)>>);

impl SubtreeHashes for Recorder {
    type Error = std::convert::Infallible;
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, Self::Error> {
        self.0.borrow_mut().push((start, end));
        Ok([0; 32])
    }
}

/// A tile the hashes were asked of but not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tile {level}/{index} (width {width}) is missing or too short")]
pub struct MissingTile {
    pub level: u8,
    pub index: u64,
    pub width: u16,
}

/// Hash tiles of one tree (`size` leaves), by level and index.
#[derive(Debug, Default, Clone)]
pub struct TileHashes {
    size: u64,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl TileHashes {
    pub fn new(size: u64) -> Self {
        Self { size, tiles: HashMap::new() }
    }

    /// Adds the hashes of tile `level`/`index` (a full tile's 256, or a
    /// partial tile's first ones).
    pub fn insert(&mut self, level: u8, index: u64, hashes: Vec<Hash>) {
        self.tiles.insert((level, index), hashes);
    }

    /// Whether tile `level`/`index` was given.
    pub fn has(&self, level: u8, index: u64) -> bool {
        self.tiles.contains_key(&(level, index))
    }

    /// The hash of the whole tree.
    pub fn root(&self) -> Result<Hash, MissingTile> {
        if self.size == 0 {
            return Ok(super::merkle::empty_root());
        }
        self.subtree(0, self.size)
    }

    fn node(&self, node: Node) -> Result<Hash, MissingTile> {
        let (tile, offset, count) = locate(node, self.size);
        let level = tile.level.unwrap_or(0);
        let missing = MissingTile { level, index: tile.index, width: tile.width };
        let hashes = self.tiles.get(&(level, tile.index)).ok_or(missing)?;
        let slice = hashes.get(offset..offset + count).ok_or(missing)?;
        Ok(root_of(slice))
    }
}

impl SubtreeHashes for TileHashes {
    type Error = MissingTile;
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, Self::Error> {
        let nodes = pieces(start, end);
        let mut hashes = nodes.iter().rev().map(|n| self.node(*n));
        let mut acc = hashes.next().unwrap_or_else(|| Ok(super::merkle::empty_root()))?;
        for h in hashes {
            acc = node_hash(&h?, &acc);
        }
        Ok(acc)
    }
}

/// The ranges a tree's root reads.
pub fn root_ranges(size: u64) -> Vec<(u64, u64)> {
    if size == 0 { Vec::new() } else { vec![(0, size)] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::{self, leaf_hash};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// Every tile of a tree of `size` leaves, built from the leaf hashes the
    /// way the integrator builds them: level 0 from the leaves, each level
    /// above from the roots of the full tiles below.
    fn all_tiles(leaves: &[Hash]) -> TileHashes {
        let mut t = TileHashes::new(leaves.len() as u64);
        let mut level_hashes = leaves.to_vec();
        let mut level = 0u8;
        while !level_hashes.is_empty() {
            for (i, chunk) in level_hashes.chunks(TILE_WIDTH as usize).enumerate() {
                t.insert(level, i as u64, chunk.to_vec());
            }
            level_hashes = level_hashes.chunks_exact(TILE_WIDTH as usize).map(root_of).collect();
            level += 1;
        }
        t
    }

    #[test]
    fn pieces_are_the_complete_subtrees_largest_first() {
        assert_eq!(pieces(0, 0), vec![]);
        assert_eq!(pieces(0, 1), vec![Node { height: 0, index: 0 }]);
        assert_eq!(
            pieces(0, 7),
            vec![
                Node { height: 2, index: 0 },
                Node { height: 1, index: 2 },
                Node { height: 0, index: 6 }
            ]
        );
        assert_eq!(
            pieces(8, 11),
            vec![Node { height: 1, index: 4 }, Node { height: 0, index: 10 }]
        );
    }

    #[test]
    fn roots_from_tiles_match_the_leaves_at_tile_boundaries_and_between() {
        let all = leaves(256 * 256 * 2 + 300);
        for size in [1u64, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 70_000, 131_372] {
            let l = &all[..size as usize];
            let tiles = all_tiles(l);
            assert_eq!(tiles.root().unwrap(), root_of(l), "size {size}");
        }
    }

    #[test]
    fn proofs_from_tiles_read_only_the_tiles_they_name() {
        let all = leaves(70_000);
        for size in [1u64, 300, 65_536, 70_000] {
            let l = &all[..size as usize];
            let full = all_tiles(l);
            for index in [0, size / 3, size - 1] {
                let ranges = ranges_of(|r| merkle::inclusion_proof(r, index, size).unwrap());
                let needed = tiles_for(size, &ranges);
                assert!(needed.len() <= 4, "{} tiles for size {size}", needed.len());
                let mut some = TileHashes::new(size);
                for t in &needed {
                    let level = t.level.unwrap();
                    let hashes = full.tiles[&(level, t.index)].clone();
                    assert_eq!(hashes.len(), usize::from(t.width), "{t:?} at size {size}");
                    some.insert(level, t.index, hashes);
                }
                assert_eq!(
                    merkle::inclusion_proof(&some, index, size).unwrap(),
                    merkle::inclusion_proof(l, index, size).unwrap()
                );
            }
            for old in [1, size / 2, size] {
                let ranges = ranges_of(|r| merkle::consistency_proof(r, old, size).unwrap());
                let mut some = TileHashes::new(size);
                for t in tiles_for(size, &ranges) {
                    let level = t.level.unwrap();
                    some.insert(level, t.index, full.tiles[&(level, t.index)].clone());
                }
                assert_eq!(
                    merkle::consistency_proof(&some, old, size).unwrap(),
                    merkle::consistency_proof(l, old, size).unwrap()
                );
            }
        }
    }

    #[test]
    fn a_missing_or_short_tile_is_named() {
        let l = leaves(300);
        let mut t = TileHashes::new(300);
        t.insert(0, 0, l[..256].to_vec());
        assert_eq!(t.root(), Err(MissingTile { level: 0, index: 1, width: 44 }));
        t.insert(0, 1, l[256..299].to_vec());
        assert_eq!(t.root(), Err(MissingTile { level: 0, index: 1, width: 44 }));
        t.insert(0, 1, l[256..].to_vec());
        // The first 256 leaves are one hash of level 1: tile 1/000.p/1.
        assert_eq!(t.root(), Err(MissingTile { level: 1, index: 0, width: 1 }));
        t.insert(1, 0, vec![root_of(&l[..256])]);
        assert_eq!(t.root(), Ok(root_of(&l)));
    }
}
