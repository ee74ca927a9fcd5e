//! RFC 6962 / RFC 9162 Merkle trees: leaf and node hashes, tree heads, and
//! inclusion and consistency proofs, written from RFC 9162 §2.1.
//!
//! Proofs are built from subtree hashes supplied by the caller
//! ([`SubtreeHashes`]): an in-memory list of leaf hashes for tests, the
//! stored tiles in production. Every subtree a proof asks for is one the
//! RFC's recursion visits: `[start, start + 2^k)` ranges and the right
//! edge of the tree.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n > 1`): where RFC 6962
/// splits a tree of `n` leaves.
pub fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// A source of subtree hashes: `MTH(D[start..end])` of the log's leaves.
pub trait SubtreeHashes {
    type Error;
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

/// The Merkle Tree Hash of a list of leaf hashes (RFC 9162 §2.1.1).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Leaf hashes held in memory.
impl SubtreeHashes for [Hash] {
    type Error = std::convert::Infallible;
    fn subtree(&self, start: u64, end: u64) -> Result<Hash, Self::Error> {
        Ok(root_of(&self[start as usize..end as usize]))
    }
}

/// Why a proof cannot be made.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    #[error("index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a tree of size {old} cannot be consistent with a smaller one of size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error(transparent)]
    Source(E),
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves
/// (RFC 9162 §2.1.3.1 `PATH(m, D[n])`), leaf side first.
pub fn inclusion_proof<S: SubtreeHashes + ?Sized>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(source, index, 0, size, &mut proof).map_err(ProofError::Source)?;
    Ok(proof)
}

fn path<S: SubtreeHashes + ?Sized>(
    source: &S,
    m: u64,
    start: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(source, m, start, k, out)?;
        out.push(source.subtree(start + k, start + n)?);
    } else {
        path(source, m - k, start + k, n - k, out)?;
        out.push(source.subtree(start, start + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `old` leaves to the tree of `new`
/// leaves (RFC 9162 §2.1.4.1 `PROOF(m, D[n])`); empty when `old` is 0 or
/// equal to `new`.
pub fn consistency_proof<S: SubtreeHashes + ?Sized>(
    source: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(source, old, 0, new, true, &mut proof).map_err(ProofError::Source)?;
    }
    Ok(proof)
}

fn subproof<S: SubtreeHashes + ?Sized>(
    source: &S,
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if m == n {
        if !whole {
            out.push(source.subtree(start, start + n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(source, m, start, k, whole, out)?;
        out.push(source.subtree(start + k, start + n)?);
    } else {
        subproof(source, m - k, start + k, n - k, false, out)?;
        out.push(source.subtree(start, start + k)?);
    }
    Ok(())
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the old size {old} is larger than the new size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("the proof has the wrong number of hashes for these sizes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

fn lsb(n: u64) -> bool {
    n & 1 == 1
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(VerifyError::WrongLength);
        }
        if lsb(fn_) || fn_ == sn {
            r = node_hash(p, &r);
            if !lsb(fn_) {
                while !lsb(fn_) && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::WrongLength);
    }
    if &r != root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof from (`old`, `old_root`) to (`new`,
/// `new_root`) (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and
/// equal roots; from the empty tree any tree is consistent (empty proof).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old > new {
        return Err(VerifyError::SizesOutOfOrder { old, new });
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongLength);
        }
        if old == new && old_root != new_root {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(VerifyError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while lsb(fn_) {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(VerifyError::WrongLength);
        }
        if lsb(fn_) || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if !lsb(fn_) {
                while !lsb(fn_) && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::WrongLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    /// Leaf hashes with every subtree hash remembered, so trying every
    /// proof of every size stays quick.
    struct Memo<'a> {
        leaves: &'a [Hash],
        known: std::cell::RefCell<std::collections::HashMap<(u64, u64), Hash>>,
    }

    impl SubtreeHashes for Memo<'_> {
        type Error = std::convert::Infallible;
        fn subtree(&self, start: u64, end: u64) -> Result<Hash, Self::Error> {
            if let Some(h) = self.known.borrow().get(&(start, end)) {
                return Ok(*h);
            }
            let h = match end - start {
                1 => self.leaves[start as usize],
                n => {
                    let k = split(n);
                    node_hash(&self.subtree(start, start + k)?, &self.subtree(start + k, end)?)
                }
            };
            self.known.borrow_mut().insert((start, end), h);
            Ok(h)
        }
    }

    #[test]
    fn the_empty_tree_and_small_trees_hash_as_rfc_6962_says() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 6962 test vectors as used by Certificate Transparency: the
        // leaf hash of the empty leaf.
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l = leaves(3);
        assert_eq!(root_of(&l[..1]), l[0]);
        assert_eq!(root_of(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!([split(2), split(3), split(4), split(5), split(9)], [1, 2, 2, 4, 8]);
    }

    /// The Certificate Transparency project's reference tree of eight
    /// leaves: its roots at every size and its published inclusion and
    /// consistency proofs.
    #[test]
    fn roots_match_the_certificate_transparency_vectors() {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let hashes: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(hex::encode(root_of(&hashes[..=n])), *want, "size {}", n + 1);
        }
        let hexes = |p: Vec<Hash>| p.iter().map(hex::encode).collect::<Vec<_>>();
        let tree = &hashes[..];
        assert_eq!(
            hexes(inclusion_proof(tree, 0, 8).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(inclusion_proof(tree, 5, 8).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(consistency_proof(tree, 2, 8).unwrap()),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(consistency_proof(tree, 6, 8).unwrap()),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
    }

    #[test]
    fn every_inclusion_proof_up_to_a_few_hundred_leaves_verifies_and_no_corruption_does() {
        let all = leaves(300);
        let memo = Memo { leaves: &all, known: Default::default() };
        for size in 1..=all.len() as u64 {
            let tree = &all[..size as usize];
            let root = memo.subtree(0, size).unwrap();
            assert_eq!(root, root_of(tree));
            for index in 0..size {
                let proof = inclusion_proof(&memo, index, size).unwrap();
                let leaf = &tree[index as usize];
                verify_inclusion(index, size, leaf, &proof, &root)
                    .unwrap_or_else(|e| panic!("{index} in {size}: {e}"));
                // Only a sample of the corruptions, to keep the test quick.
                if size <= 70 || index % 37 == 0 {
                    assert!(
                        verify_inclusion(
                            index,
                            size,
                            &tree[(index as usize + 1) % tree.len()],
                            &proof,
                            &root
                        )
                        .is_err()
                            || size == 1
                    );
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i][0] ^= 1;
                        assert!(verify_inclusion(index, size, leaf, &bad, &root).is_err());
                    }
                    if !proof.is_empty() {
                        assert!(verify_inclusion(index, size, leaf, &proof[1..], &root).is_err());
                    }
                    let mut longer = proof.clone();
                    longer.push(root);
                    assert!(verify_inclusion(index, size, leaf, &longer, &root).is_err());
                    // (A proof can fit two sizes: the signed checkpoint binds
                    // the root to its size, not the proof.)
                }
            }
            assert_eq!(
                inclusion_proof(tree, size, size),
                Err(ProofError::IndexOutOfRange { index: size, size })
            );
        }
    }

    #[test]
    fn every_consistency_proof_up_to_a_few_hundred_leaves_verifies_and_no_corruption_does() {
        let all = leaves(300);
        let memo = Memo { leaves: &all, known: Default::default() };
        let roots: Vec<Hash> = (0..=all.len()).map(|n| root_of(&all[..n])).collect();
        for new in 0..=all.len() as u64 {
            for old in 0..=new {
                let proof = consistency_proof(&memo, old, new).unwrap();
                let (or, nr) = (&roots[old as usize], &roots[new as usize]);
                verify_consistency(old, new, or, nr, &proof)
                    .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
                if old == 0 || (new > 90 && (old + new) % 13 != 0) {
                    continue;
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][31] ^= 0x80;
                    assert!(verify_consistency(old, new, or, nr, &bad).is_err(), "{old}->{new}");
                }
                if !proof.is_empty() {
                    assert!(
                        verify_consistency(old, new, or, nr, &proof[..proof.len() - 1]).is_err()
                    );
                }
                if old < new {
                    // A different old tree (one leaf changed) is not a prefix.
                    let mut other = all[..old as usize].to_vec();
                    other[0][0] ^= 1;
                    assert!(verify_consistency(old, new, &root_of(&other), nr, &proof).is_err());
                    assert!(
                        verify_consistency(old, new, or, &roots[old as usize], &proof).is_err()
                    );
                }
            }
        }
        assert_eq!(
            consistency_proof(&all[..5], 6, 5),
            Err(ProofError::SizesOutOfOrder { old: 6, new: 5 })
        );
    }
}
