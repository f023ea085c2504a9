// SPDX-License-Identifier: Apache-2.0
//! JumpBackHash (Ertl 2024, arXiv 2403.18682, the algorithm section;
//! docs/algorithms.md §23), bit-exact with hash4j's
//! `ConsistentHashing.jumpBackHash(splitMix64_V1())` / `jumpBackHashSplitMix64()`:
//! the random stream is SplitMix64 seeded with the table's 64-bit key hash.
//! Constant expected time, integer operations only; like jump hash only the
//! last bucket can leave without moving other keys (jumpback_anchor.rs lifts that).

use std::sync::Arc;

use super::jump::{splitmix64, BucketFunction, Buckets};
use super::{BuildError, KindSpec, NoOptions, Nodes, Placement};

/// `jumpback`: JumpBackHash (`JumpBackHash`); no options, unweighted.
pub const JUMPBACK: KindSpec = KindSpec {
    name: "jumpback",
    reproduces_public_algorithm: false,
    read_options: |_| Ok(Box::new(NoOptions(build))),
};

fn build(nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
    if nodes.names.len() > MAX_BUCKETS as usize {
        return Err(BuildError::new("nodes", format!("JumpBackHash takes at most {MAX_BUCKETS} nodes")));
    }
    Ok(Arc::new(JumpBack::new(nodes.names.len() as u32)))
}

/// JumpBackHash as a `BucketFunction` (jump.rs): the Placement is `Buckets<Self>`.
#[derive(Debug, Clone)]
pub struct JumpBackFunction;

impl BucketFunction for JumpBackFunction {
    #[inline]
    fn bucket(h: u64, buckets: u32) -> u32 {
        jumpback_bucket(h, buckets)
    }

    fn buckets_into(keys: &[u64], buckets: u32, out: &mut [i32]) {
        jumpback_buckets_into(keys, buckets, out)
    }
}

pub type JumpBack = Buckets<JumpBackFunction>;

/// SplitMix64's increment, the golden gamma (Steele, Lea & Flood 2014).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Largest bucket count (hash4j takes an `int`; the algorithm needs n − 1 < 2^31).
pub const MAX_BUCKETS: u32 = i32::MAX as u32;

/// hash4j's SplitMix64 stream: `reset(seed)` sets the state, each draw adds the
/// gamma and returns the mixed state.
#[derive(Debug, Clone, Copy)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    #[inline]
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        splitmix64(self.state)
    }

    /// Uniform in `0..bound` (bound ≥ 1) from 32-bit draws, the low half of
    /// each `next_u64`: Lemire 2019, "Fast random integer generation in an
    /// interval", Algorithm 5 with L = 32 (hash4j `uniformInt`).
    #[inline]
    pub fn below(&mut self, bound: u32) -> u32 {
        let s = bound as u64;
        let mut m = (self.next_u64() & 0xffff_ffff) * s;
        if (m & 0xffff_ffff) < s {
            let threshold = (1u64 << 32) % s;
            while (m & 0xffff_ffff) < threshold {
                m = (self.next_u64() & 0xffff_ffff) * s;
            }
        }
        (m >> 32) as u32
    }
}

/// Bucket in `0..buckets` for the key hash `h`; `buckets` ≥ 1.
#[inline]
pub fn jumpback_bucket(h: u64, buckets: u32) -> u32 {
    if buckets <= 1 {
        return 0;
    }
    jumpback_from(&mut SplitMix64::new(h), buckets)
}

/// JumpBackHash over a stream at its first draw; `buckets` in 2..=MAX_BUCKETS.
/// Leaves the stream after its last draw (JumpBackAnchor continues from there).
#[inline]
pub fn jumpback_from(rng: &mut SplitMix64, buckets: u32) -> u32 {
    debug_assert!((2..=MAX_BUCKETS).contains(&buckets));
    let first = rng.next_u64();
    // One bit per power-of-two range [2^k, 2^(k+1)) below `buckets`, from
    // the 32-bit fold of the first draw; the highest set bit is the range the
    // key jumps back to.
    let mut ranges = ((first ^ (first >> 32)) as u32) & (u32::MAX >> (buckets - 1).leading_zeros());
    while ranges != 0 {
        let low = 1u32 << (31 - ranges.leading_zeros());
        // The offset inside the range comes from one half of the first draw,
        // alternating with the parity of the ranges left (hash4j shifts by
        // 32 · popcount, which Java reduces mod 64).
        let half = (first >> ((ranges.count_ones() << 5) & 63)) as u32;
        let candidate = low + (half & (low - 1));
        if candidate < buckets {
            return candidate;
        }
        // Only the top range is partly above `buckets`: redraw in [0, 2·low)
        // until a candidate is valid or falls below the range (then the key
        // does not jump into it). Each draw gives two 32-bit candidates.
        let mask = (low << 1) - 1;
        loop {
            let r = rng.next_u64();
            let c0 = (r as u32) & mask;
            if c0 < low {
                break;
            }
            if c0 < buckets {
                return c0;
            }
            let c1 = ((r >> 32) as u32) & mask;
            if c1 < low {
                break;
            }
            if c1 < buckets {
                return c1;
            }
        }
        ranges ^= low;
    }
    0
}

/// Keys per block of `jumpback_buckets_into`.
const BLOCK: usize = 256;

/// `out[i] = jumpback_bucket(keys[i], buckets)`, in passes per block: a
/// branch-free pass settles every key whose first candidate is valid (most
/// keys), recording the others; a second branch-free pass settles those whose
/// second draw decides (`second_draw`); a scalar pass runs the full algorithm
/// for the few left. The passes have no data-dependent branch to mispredict.
pub fn jumpback_buckets_into(keys: &[u64], buckets: u32, out: &mut [i32]) {
    debug_assert_eq!(keys.len(), out.len());
    if buckets <= 1 {
        out.fill(0);
        return;
    }
    let mask = u32::MAX >> (buckets - 1).leading_zeros();
    let mut pending = [0u16; BLOCK];
    for (keys, out) in keys.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let mut count = 0usize;
        for (i, (&k, o)) in keys.iter().zip(out.iter_mut()).enumerate() {
            let first = splitmix64(k.wrapping_add(GOLDEN_GAMMA));
            let ranges = ((first ^ (first >> 32)) as u32) & mask;
            // `jumpback_from`'s first round; no range set gives 0 (the select).
            let candidate = range_candidate(first, ranges);
            *o = if ranges == 0 { 0 } else { candidate as i32 };
            pending[count] = i as u16;
            count += (ranges != 0 && candidate >= buckets) as usize;
        }
        // Pending keys keep their slot in `pending` only if the second draw does not decide.
        let mut left = 0usize;
        for p in 0..count {
            let i = pending[p] as usize;
            let settled = second_draw(keys[i], buckets, mask);
            out[i] = settled.unwrap_or(0) as i32;
            pending[left] = i as u16;
            left += settled.is_none() as usize;
        }
        for &i in &pending[..left] {
            out[i as usize] = jumpback_bucket(keys[i as usize], buckets) as i32;
        }
    }
}

/// The candidate of the highest range set in `ranges` (`ranges | 1` keeps the
/// shift defined when none is: the caller then ignores the result).
#[inline(always)]
fn range_candidate(first: u64, ranges: u32) -> u32 {
    let low = 1u32 << (31 - (ranges | 1).leading_zeros());
    let half = (first >> ((ranges.count_ones() << 5) & 63)) as u32;
    low + (half & (low - 1))
}

/// `jumpback_from` for a key whose first candidate was out of range, when its
/// second draw (both 32-bit halves) decides, without branches: a half below
/// the top range falls back to the next range down, whose candidate is always
/// valid (it is below the top range's start); a half in [low, buckets) is the
/// answer. None: both halves were ≥ buckets and a third draw is needed.
#[inline(always)]
fn second_draw(key: u64, buckets: u32, mask: u32) -> Option<u32> {
    let first = splitmix64(key.wrapping_add(GOLDEN_GAMMA));
    let ranges = ((first ^ (first >> 32)) as u32) & mask;
    let low = 1u32 << (31 - (ranges | 1).leading_zeros());
    let rest = ranges ^ low;
    let lower = if rest == 0 { 0 } else { range_candidate(first, rest) };
    let r = splitmix64(key.wrapping_add(GOLDEN_GAMMA.wrapping_mul(2)));
    let top = (low << 1) - 1;
    let (c0, c1) = ((r as u32) & top, ((r >> 32) as u32) & top);
    let pick = |c: u32| if c < low { lower } else { c };
    let value = if c0 < buckets { pick(c0) } else { pick(c1) };
    if c0 < buckets || c1 < buckets { Some(value) } else { None }
}

#[cfg(test)]
pub(crate) mod vectors {
    //! tests/data/jumpback*_vectors.json (hash4j, scripts/make_jumpback_vectors.sh),
    //! read without a JSON crate: the files are one case per line.

    pub fn data(name: &str) -> String {
        let path = format!("{}/../../tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The integers of the JSON array after `"key":` in `text`.
    pub fn ints_after(text: &str, key: &str) -> Vec<u64> {
        let at = text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key}"));
        let rest = &text[at..];
        let open = rest.find('[').unwrap();
        let close = rest.find(']').unwrap();
        rest[open + 1..close].split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect()
    }

    /// The number after `"key":` in `text`.
    pub fn int_after(text: &str, key: &str) -> u64 {
        let at = text.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
        text[at..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap()
    }

    /// The string after `"key":` in `text`.
    pub fn str_after<'a>(text: &'a str, key: &str) -> &'a str {
        let at = text.find(&format!("\"{key}\":\"")).unwrap() + key.len() + 4;
        let end = text[at..].find('"').unwrap();
        &text[at..at + end]
    }
}

#[cfg(test)]
mod tests {
    use super::vectors::*;
    use super::*;

    #[test]
    fn hash4j_vectors() {
        let text = data("jumpback_vectors.json");
        let hashes = ints_after(&text, "hashes");
        let cases: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("{\"buckets\"")).collect();
        assert_eq!(cases.len(), 35);
        for case in cases {
            let buckets = int_after(case, "buckets") as u32;
            let expected = ints_after(case, "expected");
            assert_eq!(expected.len(), hashes.len());
            for (h, want) in hashes.iter().zip(&expected) {
                assert_eq!(jumpback_bucket(*h, buckets) as u64, *want, "h={h} buckets={buckets}");
            }
            let mut out = vec![0i32; hashes.len()];
            jumpback_buckets_into(&hashes, buckets, &mut out);
            assert!(out.iter().zip(&expected).all(|(o, e)| *o as u64 == *e));
        }
    }

    #[test]
    fn growing_by_one_moves_keys_only_to_the_new_bucket() {
        let mut rng = SplitMix64::new(7);
        let keys: Vec<u64> = (0..20_000).map(|_| rng.next_u64()).collect();
        for n in [1u32, 2, 3, 7, 8, 9, 100, 1023, 1024] {
            for &k in &keys {
                let (a, b) = (jumpback_bucket(k, n), jumpback_bucket(k, n + 1));
                assert!(a == b || b == n, "n={n}: {a} -> {b}");
            }
        }
    }

    #[test]
    fn blocks_equal_scalar() {
        let mut rng = SplitMix64::new(11);
        let keys: Vec<u64> = (0..5003).map(|_| rng.next_u64()).chain([0, u64::MAX]).collect();
        for buckets in [1u32, 2, 3, 100, 10_000, 65_537, 1 << 20, MAX_BUCKETS] {
            let mut out = vec![-1i32; keys.len()];
            jumpback_buckets_into(&keys, buckets, &mut out);
            for (k, o) in keys.iter().zip(&out) {
                assert_eq!(*o as u32, jumpback_bucket(*k, buckets), "buckets={buckets}");
            }
        }
    }

    #[test]
    fn below_is_in_range() {
        let mut rng = SplitMix64::new(1);
        for bound in [1u32, 2, 3, 5, 1 << 31, u32::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(bound) < bound);
            }
        }
    }
}
