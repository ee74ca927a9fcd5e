//! c2sp.org/tlog-tiles: which tiles a tree of a given size consists of,
//! their paths (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`, with
//! `<N>` in 3-digit elements, all but the last prefixed `x`), and entry
//! bundles (uint16 big-endian length-prefixed leaves).

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;

/// One tile: level (`None` for an entry bundle), index, and width (256 for
/// a full tile, 1 to 255 for a partial one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub level: Option<u8>,
    pub index: u64,
    pub width: u16,
}

impl Tile {
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The path under the log's prefix, e.g. `tile/0/x001/x234/067.p/8`.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(l) => l.to_string(),
            None => "entries".to_owned(),
        };
        let mut out = format!("tile/{level}/{}", encode_index(self.index));
        if !self.is_full() {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Reads a path below `tile/` (`0/x001/x234/067`, `entries/005.p/3`).
    pub fn parse(path: &str) -> Option<Tile> {
        let (level, rest) = path.split_once('/')?;
        let level = match level {
            "entries" => None,
            l if l == "0" || (!l.starts_with('0') && l.len() <= 2) => {
                Some(l.parse::<u8>().ok().filter(|l| *l <= 63)?)
            }
            _ => return None,
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, w)) => {
                if w.starts_with('0') || w.is_empty() || w.len() > 3 {
                    return None;
                }
                let w: u16 = w.parse().ok().filter(|w| (1..256).contains(w))?;
                (index, w)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        Some(Tile { level, index: decode_index(index)?, width })
    }
}

/// `1234067` → `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let digits = n.to_string();
    let pad = (3 - digits.len() % 3) % 3;
    let digits = format!("{}{digits}", "0".repeat(pad));
    let groups: Vec<&str> = (0..digits.len()).step_by(3).map(|i| &digits[i..i + 3]).collect();
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| if i == last { (*g).to_owned() } else { format!("x{g}") })
        .collect::<Vec<_>>()
        .join("/")
}

/// The inverse of [`encode_index`], refusing every other spelling.
pub fn decode_index(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split('/').collect();
    let (last, rest) = parts.split_last()?;
    let mut digits = String::new();
    for p in rest {
        let g = p.strip_prefix('x')?;
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.push_str(g);
    }
    if last.len() != 3 || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.push_str(last);
    let n: u64 = digits.parse().ok()?;
    // One spelling per number: no leading all-zero group.
    (encode_index(n) == s).then_some(n)
}

/// Every tile of a tree of `size` leaves, level by level: the full ones,
/// then the partial one (if any) of each level.
pub fn layout(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    let mut level = 0u8;
    let mut span = 1u64; // leaves per hash at this level
    while size / span > 0 {
        let hashes = size / span;
        for index in 0..hashes / TILE_WIDTH {
            out.push(Tile { level: Some(level), index, width: TILE_WIDTH as u16 });
        }
        if !hashes.is_multiple_of(TILE_WIDTH) {
            out.push(Tile {
                level: Some(level),
                index: hashes / TILE_WIDTH,
                width: (hashes % TILE_WIDTH) as u16,
            });
        }
        level += 1;
        span = span.saturating_mul(TILE_WIDTH);
        if span == u64::MAX {
            break;
        }
    }
    out
}

/// An entry bundle: each leaf as a big-endian uint16 length and its bytes.
pub fn encode_bundle<'a>(leaves: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for leaf in leaves {
        let len = u16::try_from(leaf.len()).ok()?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(leaf);
    }
    Some(out)
}

/// The leaves of an entry bundle, or None when it is cut short.
pub fn decode_bundle(mut bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return None;
        }
        out.push(&rest[..len]);
        bytes = &rest[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_written_as_the_spec_shows() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        for n in [0, 5, 999, 1000, 1234067, u64::MAX] {
            assert_eq!(decode_index(&encode_index(n)), Some(n));
        }
        for bad in ["", "1", "0001", "x000/001", "x1/234", "001/234", "x001/x234", "x001/23a"] {
            assert_eq!(decode_index(bad), None, "{bad}");
        }
        let t = Tile { level: Some(0), index: 1234067, width: 8 };
        assert_eq!(t.path(), "tile/0/x001/x234/067.p/8");
        assert_eq!(Tile::parse("0/x001/x234/067.p/8"), Some(t));
        let e = Tile { level: None, index: 5, width: 256 };
        assert_eq!(e.path(), "tile/entries/005");
        assert_eq!(Tile::parse("entries/005"), Some(e));
        for bad in
            ["64/000", "01/000", "0/000.p/0", "0/000.p/256", "0/000.p/08", "x/000", "0/000.p/"]
        {
            assert_eq!(Tile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_tree_of_70000_leaves_has_the_spec_tiles() {
        let tiles = layout(70_000);
        let at = |level: u8| tiles.iter().filter(move |t| t.level == Some(level));
        assert_eq!(at(0).filter(|t| t.is_full()).count(), 273);
        assert_eq!(at(0).filter(|t| !t.is_full()).map(|t| t.width).collect::<Vec<_>>(), [112]);
        assert_eq!(at(1).filter(|t| t.is_full()).count(), 1);
        assert_eq!(at(1).filter(|t| !t.is_full()).map(|t| t.width).collect::<Vec<_>>(), [17]);
        assert_eq!(at(2).map(|t| (t.index, t.width)).collect::<Vec<_>>(), [(0, 1)]);
        assert_eq!(tiles.len(), 273 + 1 + 1 + 1 + 1);
        // "a tree of size 256 will be represented by a full level 0 tile and
        // a partial level 1 tile of width 1."
        assert_eq!(
            layout(256),
            [
                Tile { level: Some(0), index: 0, width: 256 },
                Tile { level: Some(1), index: 0, width: 1 }
            ]
        );
        assert!(layout(0).is_empty());
    }

    #[test]
    fn entry_bundles_round_trip_and_cut_ones_are_refused() {
        let leaves: [&[u8]; 3] = [b"a", b"", b"osiriscare"];
        let bundle = encode_bundle(leaves).unwrap();
        assert_eq!(&bundle[..3], &[0, 1, b'a']);
        assert_eq!(decode_bundle(&bundle).unwrap(), leaves);
        assert_eq!(decode_bundle(&bundle[..bundle.len() - 1]), None);
        assert_eq!(decode_bundle(&[0]), None);
        assert_eq!(encode_bundle([&[0u8; 65_536][..]]), None);
    }
}
