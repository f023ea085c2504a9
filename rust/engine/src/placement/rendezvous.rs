// SPDX-License-Identifier: Apache-2.0
//! Weighted rendezvous (highest random weight) hashing, logarithmic method
//! (docs/algorithms.md §13.1): score = -w / ln(u), u = mix(h ^ node_hash) in (0, 1).
//! P(node) = w / Σw exactly; removing a node moves only its keys. PyO3-free.

use std::sync::Arc;

use xxhash_rust::xxh64::xxh64;

use super::{AsAny, BuildError, KindOptions, KindSpec, NodeChange, Nodes, Placement};

/// `rendezvous`: weighted rendezvous hashing (`Rendezvous`); no options.
pub const RENDEZVOUS: KindSpec = KindSpec {
    name: "rendezvous",
    reproduces_public_algorithm: false,
    read_options: |_| Ok(Box::new(RendezvousOptions)),
};

/// Rendezvous has no options; its update keeps the unchanged nodes' name hashes.
#[derive(Debug)]
struct RendezvousOptions;

impl KindOptions for RendezvousOptions {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        Ok(Arc::new(Rendezvous::new(nodes.name_bytes, nodes.weights)))
    }

    /// O(n): the node hashes are kept (one hashed for an added node); the weights are
    /// rescaled afresh, since the scale follows the largest weight (§25.3).
    fn update(&self, old: &dyn Placement, change: NodeChange<'_>, nodes: &Nodes<'_>)
        -> Option<Result<Arc<dyn Placement>, BuildError>> {
        let old = <dyn Placement as AsAny>::as_any(old).downcast_ref::<Rendezvous>()?;
        let mut node_hashes = old.node_hashes.clone();
        change.apply(&mut node_hashes, |name| xxh64(name.as_bytes(), 0));
        Some(Ok(Arc::new(Rendezvous { node_hashes, weights: crate::placement::weights::rescaled(nodes.weights) })))
    }
}

impl Placement for Rendezvous {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        Rendezvous::lookup(self, h)
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        Rendezvous::replicas(self, h, n, out)
    }

    fn stats(&self, node_count: usize) -> (usize, usize) {
        (node_count, node_count * 16)
    }
}

/// xorshift* multiplier used by Envoy's rendezvous mix (§13.2).
const XORSHIFT_STAR_MULTIPLIER: u64 = 2685821657736338717;
const TWO_POW_53: f64 = 9007199254740992.0;

#[derive(Clone, Debug)]
pub struct Rendezvous {
    node_hashes: Vec<u64>,
    weights: Vec<f64>,
}

/// The midpoint of the mixed value's top-53-bit cell, in (0, 1]. It is 1.0 for
/// the top cell: m + 0.5 is not representable above 2^52 and rounds to even,
/// so (2^53 - 1) + 0.5 becomes 2^53. There ln(u) = 0 and the score is -inf.
#[inline]
pub fn unit_interval(h: u64, node_hash: u64) -> f64 {
    let mut x = h ^ node_hash;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x = x.wrapping_mul(XORSHIFT_STAR_MULTIPLIER);
    ((x >> 11) as f64 + 0.5) / TWO_POW_53
}

impl Rendezvous {
    /// Node hash = XXH64(name, 0) as in Envoy (§13.2). Weights are scaled by
    /// one power of two (exact, see `weights`): scores keep their order for
    /// ordinary weights, and subnormal weights no longer tie by rounding.
    pub fn new(names: &[&[u8]], weights: &[f64]) -> Rendezvous {
        Rendezvous {
            node_hashes: names.iter().map(|n| xxh64(n, 0)).collect(),
            weights: crate::placement::weights::rescaled(weights),
        }
    }

    #[inline]
    fn score(&self, h: u64, i: usize) -> f64 {
        let w = self.weights[i];
        if w == 0.0 {
            return f64::NEG_INFINITY;
        }
        -w / unit_interval(h, self.node_hashes[i]).ln()
    }

    /// Highest score among nodes of positive weight; the first index wins ties.
    /// A serving node whose score is -inf (u = 1.0) still beats every
    /// zero-weight node, which never receives a key.
    #[inline]
    pub fn lookup(&self, h: u64) -> u32 {
        let mut best: Option<(usize, f64)> = None;
        for i in 0..self.weights.len() {
            if self.weights[i] <= 0.0 {
                continue;
            }
            let s = self.score(h, i);
            match best {
                Some((_, best_score)) if !(s > best_score) => {}
                _ => best = Some((i, s)),
            }
        }
        best.map_or(0, |(i, _)| i) as u32
    }

    /// The n highest-scoring nodes of positive weight, best first (ties: lower index first).
    pub fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        let mut scored: Vec<(f64, u32)> = (0..self.weights.len())
            .filter(|&i| self.weights[i] > 0.0)
            .map(|i| (self.score(h, i), i as u32))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        out.clear();
        out.extend(scored.iter().take(n).map(|s| s.1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_moves_only_the_removed_nodes_keys() {
        let names: Vec<String> = (0..20).map(|i| format!("node-{i}")).collect();
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        let all = Rendezvous::new(&refs, &[1.0; 20]);
        let mut fewer_refs = refs.clone();
        fewer_refs.remove(7);
        let fewer = Rendezvous::new(&fewer_refs, &[1.0; 19]);
        for k in 0..20_000u64 {
            let h = k.wrapping_mul(0x9E3779B97F4A7C15);
            let before = all.lookup(h) as usize;
            let after = fewer.lookup(h) as usize;
            let after_name = fewer_refs[after];
            if before != 7 {
                assert_eq!(refs[before], after_name);
            }
        }
    }

    #[test]
    fn zero_weight_never_wins_and_unit_interval_is_in_zero_one() {
        let names: [&[u8]; 2] = [b"a", b"b"];
        let r = Rendezvous::new(&names, &[0.0, 1.0]);
        for k in 0..1000u64 {
            assert_eq!(r.lookup(k), 1);
        }
        for x in [0u64, u64::MAX, 1 << 63] {
            let u = unit_interval(x, 0);
            assert!(u > 0.0 && u <= 1.0);
        }
    }

    #[test]
    fn zero_weight_never_wins_even_when_the_serving_score_is_minus_infinity() {
        // h chosen so node "a" mixes to the top 53-bit cell: u = 1.0, score -inf.
        let h = 12212003382916195082u64;
        assert_eq!(unit_interval(h, xxh64(b"a", 0)), 1.0);
        let names: [&[u8]; 3] = [b"b", b"a", b"c"];
        let r = Rendezvous::new(&names, &[0.0, 1.0, 0.0]);
        assert_eq!(r.lookup(h), 1);
    }
}
