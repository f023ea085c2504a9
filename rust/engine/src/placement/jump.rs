// SPDX-License-Identifier: Apache-2.0
//! Jump consistent hash (Lamping & Veach 2014, "A Fast, Minimal Memory,
//! Consistent Hash Algorithm", Fig. 1; docs/algorithms.md §11).

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{KeyHasher, KindSpec, NoOptions, Placement};
use crate::batch::par_chunks;
use crate::keys::KeyBatch;

/// `jump`: jump consistent hash (`JumpHash`); no options, unweighted.
pub const JUMP: KindSpec = KindSpec {
    name: "jump",
    reproduces_public_algorithm: false,
    read_options: |_| Ok(Box::new(NoOptions(|nodes| Ok(Arc::new(Jump::new(nodes.names.len() as u32)))))),
};

/// A bucket function of the jump family: one bucket per node, unweighted
/// (jump here, JumpBackHash in jumpback.rs); `Buckets<F>` is their Placement.
pub trait BucketFunction: Debug + Clone + Send + Sync + 'static {
    fn bucket(h: u64, buckets: u32) -> u32;
    /// `out[i] = bucket(keys[i], buckets)`, the kind's batch kernel.
    fn buckets_into(keys: &[u64], buckets: u32, out: &mut [i32]);
}

/// One bucket per node, placed by `F`.
#[derive(Debug, Clone)]
pub struct Buckets<F> {
    buckets: u32,
    function: PhantomData<F>,
}

impl<F> Buckets<F> {
    pub fn new(buckets: u32) -> Self {
        Buckets { buckets, function: PhantomData }
    }
}

impl<F: BucketFunction> Placement for Buckets<F> {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        F::bucket(h, self.buckets)
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        probe_replicas(h, self.buckets, n, out, |k| F::bucket(k, self.buckets))
    }

    fn holders(&self, _weights: &[f64]) -> usize {
        self.buckets as usize
    }

    fn stats(&self, _node_count: usize) -> (usize, usize) {
        (0, 0)
    }

    fn fingerprint_contents(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buckets.to_le_bytes());
    }

    /// Hashes first, then the batch kernel over them.
    fn route(&self, keys: &KeyHasher, batch: KeyBatch<'_>, _m: usize) -> Result<Vec<i32>, usize> {
        let hashes = keys.map_batch(batch, |h| h);
        Ok(par_chunks(&hashes, |h, o| F::buckets_into(h, self.buckets, o)))
    }

    fn route_hashed(&self, h: &[u64]) -> Vec<i32> {
        par_chunks(h, |keys, o| F::buckets_into(keys, self.buckets, o))
    }
}

/// Lamping–Veach jump as a `BucketFunction`.
#[derive(Debug, Clone)]
pub struct JumpFunction;

impl BucketFunction for JumpFunction {
    #[inline]
    fn bucket(h: u64, buckets: u32) -> u32 {
        jump_bucket(h, buckets)
    }

    fn buckets_into(keys: &[u64], buckets: u32, out: &mut [i32]) {
        jump_buckets_into(keys, buckets, out)
    }
}

pub type Jump = Buckets<JumpFunction>;

/// The paper's 64-bit linear congruential multiplier (also Guava's).
const LCG_MULTIPLIER: u64 = 2862933555777941757;

/// Bucket in `0..buckets` for a 64-bit key. `buckets` must be ≥ 1.
#[inline]
pub fn jump_bucket(mut key: u64, buckets: u32) -> u32 {
    debug_assert!(buckets >= 1);
    let n = buckets as i64;
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < n {
        b = j;
        key = key.wrapping_mul(LCG_MULTIPLIER).wrapping_add(1);
        // The paper's form (Fig. 1): the division depends only on the key, so it
        // overlaps the previous step. Guava divides (b+1) instead; the two agree
        // on Guava's golden set and 200 000 random pairs (§11), tested below.
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// Keys processed in lockstep by `jump_buckets_into`.
const LANES: usize = 8;

/// `out[i] = jump_bucket(keys[i], buckets)`, LANES keys at a time: each
/// key's steps form a serial dependency chain, and running independent chains
/// side by side with branch-free lane updates keeps the divider busy.
pub fn jump_buckets_into(keys: &[u64], buckets: u32, out: &mut [i32]) {
    debug_assert!(buckets >= 1 && keys.len() == out.len());
    let n = buckets as i64;
    let mut chunks = keys.chunks_exact(LANES);
    let mut outs = out.chunks_exact_mut(LANES);
    for (chunk, dst) in (&mut chunks).zip(&mut outs) {
        let mut key = [0u64; LANES];
        key.copy_from_slice(chunk);
        let mut b = [-1i64; LANES];
        let mut j = [0i64; LANES];
        loop {
            let mut live_any = false;
            for l in 0..LANES {
                let live = j[l] < n;
                live_any |= live;
                let next_key = key[l].wrapping_mul(LCG_MULTIPLIER).wrapping_add(1);
                let next_j = ((j[l] + 1) as f64 * ((1u64 << 31) as f64 / ((next_key >> 33) + 1) as f64)) as i64;
                b[l] = if live { j[l] } else { b[l] };
                key[l] = if live { next_key } else { key[l] };
                j[l] = if live { next_j } else { j[l] };
            }
            if !live_any {
                break;
            }
        }
        for l in 0..LANES {
            dst[l] = b[l] as i32;
        }
    }
    for (k, o) in chunks.remainder().iter().zip(outs.into_remainder()) {
        *o = jump_bucket(*k, buckets) as i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guava_golden_values() {
        // Guava HashingTest, docs/algorithms.md §11 [V-pub].
        let expected = [0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83];
        for (key, want) in expected.iter().enumerate() {
            assert_eq!(jump_bucket(key as u64, 100), *want);
        }
        assert_eq!(jump_bucket(10863919174838991, 11), 6);
        assert_eq!(jump_bucket(2016238256797177309, 11), 3);
        assert_eq!(jump_bucket(1673758223894951030, 11), 5);
        assert_eq!(jump_bucket(2, 100001), 80343);
        assert_eq!(jump_bucket(2201, 100001), 22152);
        assert_eq!(jump_bucket(2202, 100001), 15018);
    }

    #[test]
    fn lanes_equal_scalar() {
        let keys: Vec<u64> = (0..1003u64).map(|k| k.wrapping_mul(0x9E3779B97F4A7C15) ^ (k << 7)).collect();
        for buckets in [1u32, 2, 7, 100, 65536, 1 << 30] {
            let mut out = vec![0i32; keys.len()];
            jump_buckets_into(&keys, buckets, &mut out);
            for (k, o) in keys.iter().zip(&out) {
                assert_eq!(*o as u32, jump_bucket(*k, buckets));
            }
        }
    }

    #[test]
    fn single_bucket_is_always_zero() {
        for key in [0u64, 1, u64::MAX] {
            assert_eq!(jump_bucket(key, 1), 0);
        }
    }
}

/// splitmix64 finaliser (Steele, Lea & Flood 2014): decorrelates the re-probe
/// hashes of `probe_replicas` from the primary's; also the output step of the
/// SplitMix64 stream JumpBackHash draws from (jumpback.rs).
#[inline]
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// Failover order over indices `0..count` for a lookup `index_of`: the primary
/// `index_of(h)`, then `index_of(splitmix64(h + k))` (k = 1, 2, …) skipping
/// repeats; after 4·n probes the rest follow the primary in index order, so the
/// answer is always n distinct indices. Shared by jump, JumpBackHash and JumpBackAnchor.
pub fn probe_replicas(h: u64, count: u32, n: usize, out: &mut Vec<u32>, index_of: impl Fn(u64) -> u32) {
    out.clear();
    out.push(index_of(h));
    let mut k = 1u64;
    while out.len() < n && k <= 4 * n as u64 {
        let b = index_of(splitmix64(h.wrapping_add(k)));
        if !out.contains(&b) {
            out.push(b);
        }
        k += 1;
    }
    let mut b = out[0];
    while out.len() < n {
        b = (b + 1) % count;
        if !out.contains(&b) {
            out.push(b);
        }
    }
}

/// Jump's failover order (`probe_replicas` over `jump_bucket`).
pub fn jump_replicas(h: u64, buckets: u32, n: usize, out: &mut Vec<u32>) {
    probe_replicas(h, buckets, n, out, |k| jump_bucket(k, buckets))
}

#[cfg(test)]
mod guava_form {
    use super::*;

    /// Guava's `consistentHash` arithmetic, for comparison only.
    fn guava_bucket(mut key: u64, buckets: u32) -> u32 {
        let (mut b, mut j) = (-1i64, 0i64);
        while j < buckets as i64 {
            b = j;
            key = key.wrapping_mul(LCG_MULTIPLIER).wrapping_add(1);
            j = ((b + 1) as f64 / (((key >> 33) + 1) as f64 / (1u64 << 31) as f64)) as i64;
        }
        b as u32
    }

    #[test]
    fn paper_form_equals_guava_form_on_random_pairs() {
        let mut state = 0x243F6A8885A308D3u64;
        for i in 0..200_000u64 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let buckets = 1 + (state >> 40) as u32 % (1 + (i as u32 % 5000));
            assert_eq!(jump_bucket(state, buckets), guava_bucket(state, buckets));
        }
    }
}
