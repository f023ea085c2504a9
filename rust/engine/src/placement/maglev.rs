// SPDX-License-Identifier: Apache-2.0
//! Maglev lookup table (Eisenbud et al., NSDI 2016, §3.4, Pseudocode 1), with
//! Envoy's weighted fill and node ordering (docs/algorithms.md §3.1). PyO3-free.

use std::sync::Arc;

use xxhash_rust::xxh64::xxh64;

use super::{AsAny, BuildError, KindOptions, KindSpec, NodeChange, Nodes, OptionReader, Placement};

/// `maglev`: the Maglev lookup table (`Maglev`).
pub const MAGLEV: KindSpec = KindSpec {
    name: "maglev",
    reproduces_public_algorithm: false,
    read_options: |o| Ok(Box::new(MaglevConfig::read(o)?)),
};

/// Envoy's default table size (§3.1), prime.
pub const DEFAULT_TABLE_SIZE: u64 = 65537;
/// Envoy's API cap on table_size (§3.1).
pub const MAX_TABLE_SIZE: u64 = 5_000_011;

/// Maglev options.
#[derive(Debug, Clone)]
pub struct MaglevConfig {
    /// Prime, at most MAX_TABLE_SIZE.
    pub table_size: u64,
    /// The weights are Envoy locality shares, used as they are (§2.2).
    pub weights_are_shares: bool,
}

impl MaglevConfig {
    pub fn read(o: &mut OptionReader<'_>) -> Result<Self, BuildError> {
        Ok(MaglevConfig { table_size: o.int("table_size")?, weights_are_shares: o.bool("weights_are_shares")? })
    }

    pub fn build(&self, names: &[&[u8]], weights: &[f64]) -> Result<Maglev, BuildError> {
        Maglev::build_with(names, weights, self.table_size, self.weights_are_shares).map_err(|e| match e {
            MaglevError::TooLarge(m) => BuildError::new("table_size", format!("must be in [2, {MAX_TABLE_SIZE}], got {m}")),
            other => BuildError::new("table_size", other.to_string()),
        })
    }
}

impl KindOptions for MaglevConfig {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        Ok(Arc::new(MaglevConfig::build(self, nodes.name_bytes, nodes.weights)?))
    }

    /// The table is filled again (every slot can change owner), but unchanged nodes keep
    /// their (offset, skip) permutation: only the added node's name is hashed (§25.2).
    fn update(&self, old: &dyn Placement, change: NodeChange<'_>, nodes: &Nodes<'_>)
        -> Option<Result<Arc<dyn Placement>, BuildError>> {
        let old = <dyn Placement as AsAny>::as_any(old).downcast_ref::<Maglev>()?;
        if old.size != self.table_size {
            return None;
        }
        let mut permutations = old.permutations.clone();
        change.apply(&mut permutations, |name| permutation(name.as_bytes(), old.size));
        Some(
            Maglev::fill(nodes.name_bytes, nodes.weights, permutations, old.size, self.weights_are_shares)
                .map(|m| Arc::new(m) as Arc<dyn Placement>)
                .map_err(|e| BuildError::new("table_size", e.to_string())),
        )
    }
}

impl Placement for Maglev {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        Maglev::lookup(self, h)
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        Maglev::replicas(self, h, n, out)
    }

    /// Nodes holding at least one slot.
    fn holders(&self, weights: &[f64]) -> usize {
        let mut seen = vec![false; weights.len()];
        self.table().iter().for_each(|&o| seen[o as usize] = true);
        seen.iter().filter(|&&s| s).count()
    }

    fn stats(&self, _node_count: usize) -> (usize, usize) {
        (self.table().len(), self.table().len() * 4)
    }

    fn fingerprint_contents(&self, out: &mut Vec<u8>) {
        self.table().iter().for_each(|o| out.extend_from_slice(&o.to_le_bytes()));
    }

    fn route_hashed(&self, h: &[u64]) -> Vec<i32> {
        let (table, m) = (&self.table[..], self.modulus);
        // SAFETY: both forms return n % size < size == table.len() (exact; tested against `%`).
        let at = |slot: u64| unsafe { *table.get_unchecked(slot as usize) } as i32;
        if m.fits {
            crate::batch::par_map_items(h, |&k| at(m.rem_fitting(k)))
        } else {
            crate::batch::par_map_items(h, |&k| at(m.rem_wide(k)))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MaglevError {
    NotPrime(u64),
    TooLarge(u64),
    NoWeight,
}

impl std::fmt::Display for MaglevError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaglevError::NotPrime(m) => write!(f, "table_size must be a prime number, got {m}"),
            MaglevError::TooLarge(m) => write!(f, "table_size must be <= {MAX_TABLE_SIZE}, got {m}"),
            MaglevError::NoWeight => write!(f, "at least one weight must be > 0"),
        }
    }
}

pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

#[derive(Clone, Debug)]
pub struct Maglev {
    table: Vec<u32>,
    size: u64,
    /// `h % size` without a division (docs/build.md §12).
    modulus: Modulus,
    /// (offset, skip) per node, in node order (§3.4): kept for incremental updates.
    permutations: Vec<(u64, u64)>,
}

/// Exact `n % d` for every 64-bit n and a fixed d ≥ 2 by multiplying with a
/// precomputed reciprocal (Granlund & Montgomery 1994, "Division by Invariant
/// Integers using Multiplication"), as a compiler does for a constant d. A
/// 64-bit division per key was most of the cost of `route_hashed`
/// (docs/build.md §12).
#[derive(Clone, Copy, Debug)]
pub struct Modulus {
    divisor: u64,
    multiplier: u64,
    shift: u32,
    /// false: the multiplier is the low 64 bits of a 65-bit one (Fig. 4.1's
    /// add-and-halve step); true: it fits (Theorem 4.2), one multiply and a shift.
    fits: bool,
}

impl Modulus {
    pub fn new(divisor: u64) -> Modulus {
        assert!(divisor >= 2, "Modulus: divisor must be >= 2");
        let d = divisor as u128;
        let l = 64 - (divisor - 1).leading_zeros(); // ⌈log2 d⌉, 1..=64
        // Theorem 4.2 (N = 64): m = ⌈2^(64+s) / d⌉ gives ⌊m n / 2^(64+s)⌋ = ⌊n / d⌋
        // for every n < 2^64 when m d − 2^(64+s) ≤ 2^s; take the smallest such s
        // whose m fits in 64 bits (l − 1 at most: s = l always meets the bound).
        for s in 0..l {
            let m = (1u128 << (64 + s)).div_ceil(d);
            if m < 1u128 << 64 && m * d - (1u128 << (64 + s)) <= 1u128 << s {
                return Modulus { divisor, multiplier: m as u64, shift: s, fits: true };
            }
        }
        Self::wide(divisor)
    }

    /// Fig. 4.1, valid for every d ≥ 2: m' = ⌊2^64 (2^l − d) / d⌋ + 1;
    /// q = (t + ((n − t) >> 1)) >> (l − 1), t = ⌊m' n / 2^64⌋.
    fn wide(divisor: u64) -> Modulus {
        let l = 64 - (divisor - 1).leading_zeros();
        let multiplier = ((((1u128 << l) - divisor as u128) << 64) / divisor as u128 + 1) as u64;
        Modulus { divisor, multiplier, shift: l - 1, fits: false }
    }

    #[inline(always)]
    fn high(&self, n: u64) -> u64 {
        ((self.multiplier as u128 * n as u128) >> 64) as u64
    }

    /// `n % divisor`, either form (a predictable branch; batch loops pick one form per batch).
    #[inline(always)]
    pub fn rem(&self, n: u64) -> u64 {
        if self.fits { self.rem_fitting(n) } else { self.rem_wide(n) }
    }

    #[inline(always)]
    fn rem_fitting(&self, n: u64) -> u64 {
        n - (self.high(n) >> self.shift) * self.divisor
    }

    #[inline(always)]
    fn rem_wide(&self, n: u64) -> u64 {
        let t = self.high(n);
        n - ((t + ((n - t) >> 1)) >> self.shift) * self.divisor
    }
}

/// A node's (offset, skip) in a table of `size` slots (Envoy's seeds 0 and 1, §3.1).
fn permutation(name: &[u8], size: u64) -> (u64, u64) {
    (xxh64(name, 0) % size, xxh64(name, 1) % (size - 1) + 1)
}

impl Maglev {
    /// `names` in caller order; the table stores indices into it. Nodes of
    /// weight 0 get no slot.
    pub fn build(names: &[&[u8]], weights: &[f64], size: u64) -> Result<Maglev, MaglevError> {
        Self::build_with(names, weights, size, false)
    }

    /// `weights_are_shares`: `weights` are the shares Envoy computes with
    /// locality weighting (§2.2), used as they are.
    pub fn build_with(names: &[&[u8]], weights: &[f64], size: u64, weights_are_shares: bool) -> Result<Maglev, MaglevError> {
        if size > MAX_TABLE_SIZE {
            return Err(MaglevError::TooLarge(size));
        }
        if !is_prime(size) {
            return Err(MaglevError::NotPrime(size));
        }
        let permutations = names.iter().map(|name| permutation(name, size)).collect();
        Self::fill(names, weights, permutations, size, weights_are_shares)
    }

    /// The table from each node's permutation (`permutations[i]` of `names[i]`).
    fn fill(names: &[&[u8]], weights: &[f64], permutations: Vec<(u64, u64)>, size: u64, weights_are_shares: bool)
        -> Result<Maglev, MaglevError> {
        // Scaled by a power of two first (exact, and the sum cannot overflow), then
        // summed exactly rounded, so the shares do not depend on the input order.
        let weights = &crate::placement::weights::rescaled(weights)[..];
        let sum: f64 = super::exact_sum(weights);
        if !(sum > 0.0) {
            return Err(MaglevError::NoWeight);
        }
        // Envoy sorts by host key so the table does not depend on input order (§3.1 step 2).
        let mut order: Vec<usize> = (0..names.len()).filter(|&i| weights[i] > 0.0).collect();
        order.sort_by(|&a, &b| names[a].cmp(names[b]));
        let normalized: Vec<f64> =
            order.iter().map(|&i| if weights_are_shares { weights[i] } else { weights[i] / sum }).collect();
        let max_w = normalized.iter().cloned().fold(0.0f64, f64::max);
        struct Fill {
            offset: u64,
            skip: u64,
            next: u64,
            target_weight: f64,
        }
        let mut fills: Vec<Fill> = order
            .iter()
            .map(|&i| Fill {
                offset: permutations[i].0,
                skip: permutations[i].1,
                next: 0,
                target_weight: 0.0,
            })
            .collect();
        const EMPTY: u32 = u32::MAX;
        let mut table = vec![EMPTY; size as usize];
        let mut filled = 0u64;
        let mut iteration = 1u64;
        while filled < size {
            for (k, fill) in fills.iter_mut().enumerate() {
                if filled == size {
                    break;
                }
                // A node of weight w = max_w / k takes a turn every k iterations (§3.1 step 4).
                if (iteration as f64) * normalized[k] < fill.target_weight {
                    continue;
                }
                fill.target_weight += max_w;
                let mut slot = (fill.offset + fill.skip * fill.next) % size;
                while table[slot as usize] != EMPTY {
                    fill.next += 1;
                    slot = (fill.offset + fill.skip * fill.next) % size;
                }
                table[slot as usize] = order[k] as u32;
                fill.next += 1;
                filled += 1;
            }
            iteration += 1;
        }
        Ok(Maglev { table, size, modulus: Modulus::new(size), permutations })
    }

    pub fn table(&self) -> &[u32] {
        &self.table
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    #[inline]
    pub fn lookup(&self, h: u64) -> u32 {
        self.table[self.modulus.rem(h) as usize]
    }

    /// Primary, then the next distinct owners in table order after its slot.
    pub fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        out.clear();
        let mut slot = self.modulus.rem(h) as usize;
        for _ in 0..self.table.len() {
            let o = self.table[slot];
            if !out.contains(&o) {
                out.push(o);
                if out.len() == n {
                    return;
                }
            }
            slot += 1;
            if slot == self.table.len() {
                slot = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(ports: std::ops::RangeInclusive<u32>) -> Vec<String> {
        ports.map(|p| format!("127.0.0.1:{p}")).collect()
    }

    #[test]
    fn envoy_basic_vector() {
        // docs/algorithms.md §3.3 Basic, [V-pub].
        let h = hosts(90..=95);
        let names: Vec<&[u8]> = h.iter().map(|s| s.as_bytes()).collect();
        let m = Maglev::build(&names, &[1.0; 6], 7).unwrap();
        assert_eq!(m.table(), &[2, 4, 0, 1, 5, 0, 3]);
        // Input order does not matter (BasicStability).
        let mut rev = names.clone();
        rev.reverse();
        let m2 = Maglev::build(&rev, &[1.0; 6], 7).unwrap();
        let mapped: Vec<u32> = m2.table().iter().map(|&i| 5 - i).collect();
        assert_eq!(mapped, vec![2, 4, 0, 1, 5, 0, 3]);
    }

    #[test]
    fn envoy_hostname_and_weighted_vectors() {
        let keys: Vec<String> = (90..=95).map(|p| p.to_string()).collect();
        let names: Vec<&[u8]> = keys.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(Maglev::build(&names, &[1.0; 6], 7).unwrap().table(), &[2, 5, 0, 3, 4, 1, 0]);
        let h = hosts(90..=91);
        let names: Vec<&[u8]> = h.iter().map(|s| s.as_bytes()).collect();
        let m = Maglev::build(&names, &[1.0, 2.0], 17).unwrap();
        assert_eq!(m.table(), &[1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1]);
        let single: [&[u8]; 1] = [b"127.0.0.1:90"];
        assert!(Maglev::build(&single, &[7.0], 17).unwrap().table().iter().all(|&i| i == 0));
    }

    #[test]
    fn envoy_docs_weighted_counts() {
        let names: [&[u8]; 2] = [b"10.0.0.1:80", b"10.0.0.2:80"];
        let m = Maglev::build(&names, &[1.0, 2.0], 65537).unwrap();
        let ones = m.table().iter().filter(|&&i| i == 1).count();
        assert_eq!((65537 - ones, ones), (21846, 43691));
    }

    #[test]
    fn table_does_not_depend_on_input_order_with_fractional_weights() {
        // 0.1 + 0.1 + 0.7 + 0.3 is 1.2 left to right and 1.2000000000000002 right to
        // left; a running sum gave these two orders different tables (slots 14, 16).
        let names: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];
        let weights = [0.1, 0.1, 0.7, 0.3];
        let forward = Maglev::build(&names, &weights, 17).unwrap();
        let (mut rev_names, mut rev_weights) = (names, weights);
        rev_names.reverse();
        rev_weights.reverse();
        let backward = Maglev::build(&rev_names, &rev_weights, 17).unwrap();
        let by_name = |m: &Maglev, ns: &[&[u8]]| m.table().iter().map(|&i| ns[i as usize].to_vec()).collect::<Vec<_>>();
        assert_eq!(by_name(&forward, &names), by_name(&backward, &rev_names));
    }

    #[test]
    fn modulus_is_exact() {
        assert!(Modulus::new(65537).fits && !Modulus::new(7).fits, "both forms are exercised");
        let mut state = 0x9E3779B97F4A7C15u64;
        let divisors = [2u64, 3, 5, 7, 17, 251, 65537, 65521, 1 << 20, 5_000_011, (1 << 32) - 5, (1 << 63) + 1, u64::MAX];
        for d in divisors.into_iter().chain((2..3000).chain(65_000..66_000)) {
            let (m, wide) = (Modulus::new(d), Modulus::wide(d));
            let edges = [0u64, 1, d - 1, d, d.wrapping_add(1), u64::MAX, u64::MAX - 1, u64::MAX / d * d, (u64::MAX / d * d).wrapping_sub(1)];
            for n in edges {
                assert_eq!(m.rem(n), n % d, "n={n} d={d}");
                assert_eq!(wide.rem(n), n % d, "wide form: n={n} d={d}");
            }
            for _ in 0..if d < 3000 || (65_000..66_000).contains(&d) { 2_000 } else { 200_000 } {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                assert_eq!(m.rem(state), state % d, "n={state} d={d}");
                assert_eq!(wide.rem(state), state % d, "wide form: n={state} d={d}");
                let small = state >> (state % 64);
                assert_eq!(m.rem(small), small % d, "n={small} d={d}");
            }
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        let names: [&[u8]; 1] = [b"a"];
        assert_eq!(Maglev::build(&names, &[1.0], 8).unwrap_err(), MaglevError::NotPrime(8));
        assert_eq!(Maglev::build(&names, &[1.0], 5_000_101).unwrap_err(), MaglevError::TooLarge(5_000_101));
        assert!(is_prime(65537) && is_prime(5_000_011) && !is_prime(1) && !is_prime(65535));
    }
}
