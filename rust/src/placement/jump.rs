// SPDX-License-Identifier: Apache-2.0
//! Jump consistent hash (Lamping & Veach 2014, "A Fast, Minimal Memory,
//! Consistent Hash Algorithm", Fig. 1; ALGORITHMS.md §11).

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
        // Guava's form: one double division, for Java-exactness (§11).
        j = ((b + 1) as f64 / (((key >> 33) + 1) as f64 / (1u64 << 31) as f64)) as i64;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guava_golden_values() {
        // Guava HashingTest, ALGORITHMS.md §11 [V-pub].
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
    fn single_bucket_is_always_zero() {
        for key in [0u64, 1, u64::MAX] {
            assert_eq!(jump_bucket(key, 1), 0);
        }
    }
}

/// splitmix64 finaliser (Steele, Lea & Flood 2014): decorrelates the re-probe
/// hashes of `jump_replicas` from the primary's.
#[inline]
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// Primary `jump_bucket(h)`, then buckets of re-hashed keys `splitmix64(h + k)`
/// (k = 1, 2, …), skipping repeats; after 4·n probes the rest follow the
/// primary in index order, so the answer is always n distinct buckets.
pub fn jump_replicas(h: u64, buckets: u32, n: usize, out: &mut Vec<u32>) {
    out.clear();
    out.push(jump_bucket(h, buckets));
    let mut k = 1u64;
    while out.len() < n && k <= 4 * n as u64 {
        let b = jump_bucket(splitmix64(h.wrapping_add(k)), buckets);
        if !out.contains(&b) {
            out.push(b);
        }
        k += 1;
    }
    let mut b = out[0];
    while out.len() < n {
        b = (b + 1) % buckets;
        if !out.contains(&b) {
            out.push(b);
        }
    }
}
