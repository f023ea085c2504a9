// SPDX-License-Identifier: Apache-2.0
//! Hash functions over explicit bytes (docs/algorithms.md §1). PyO3-free.
//!
//! Every key is reduced to bytes before hashing: str → UTF-8, bytes as is,
//! integers → 8 bytes little-endian. That makes a key's hash identical on
//! every platform and equal to the reference C library for the same bytes.

pub mod keyed;

use md5::{Digest, Md5};
use xxhash_rust::xxh3::xxh3_64_with_seed;
use xxhash_rust::xxh64::xxh64;

/// A 64-bit key hash function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// XXH3-64 (xxHash v0.8 frozen output), seeded.
    Xxh3,
    /// XXH64, seeded. Envoy's default host/key hash (docs/algorithms.md §1).
    Xxh64,
    /// libstdc++'s 64-bit MurmurHash2 (`_Hash_bytes`), Envoy's `MURMUR_HASH_2`
    /// ring option; seed 0 means Envoy's 0xc70f6907 (docs/algorithms.md §1).
    Murmur2,
    /// libketama's key hash: the first 4 bytes of MD5 as a little-endian u32
    /// (docs/algorithms.md §1 "ketama MD5 point"). Unseeded.
    Ketama,
    /// CRC-32 (IEEE, zlib's `crc32`), as nginx hashes keys (§1, §6.2). Unseeded.
    Crc32,
    /// HAProxy's sdbm, djb2 and wt6 (src/hash.c; docs/algorithms.md §1), u32. Unseeded.
    Sdbm,
    Djb2,
    Wt6,
    /// uhashring's default key hash is MD5 as a 128-bit big-endian integer;
    /// this is its top 64 bits (order-preserving except on a 64-bit tie). Unseeded.
    Md5,
}

/// HAProxy sdbm: h = c + (h << 6) + (h << 16) - h over the bytes (u32).
pub fn sdbm(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |h, &c| (c as u32).wrapping_add(h << 6).wrapping_add(h << 16).wrapping_sub(h))
}

/// HAProxy djb2: h = h * 33 + c from 5381 (u32).
pub fn djb2(bytes: &[u8]) -> u32 {
    bytes.iter().fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(c as u32))
}

/// HAProxy wt6 (Willy Tarreau's 6-step hash; docs/algorithms.md §1). Rotations by
/// 0 must leave the value unchanged, which `rotate_left` guarantees.
pub fn wt6(bytes: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c965au32, 0x5ca6953au32);
    let (mut s0, mut s1) = (6u32, 18u32);
    for &t in bytes {
        h0 = !(h0 ^ t as u32);
        h1 = !(h1.wrapping_add(t as u32));
        let tmp = h1.rotate_left(s0);
        h1 = h0.rotate_left(s1);
        h0 = tmp;
        let x = ((h0 >> 16) ^ h1) & 0xffff;
        s0 = x & 31;
        s1 = x >> 11;
    }
    h0 ^ h1
}

/// HAProxy's `full_hash` avalanche (Bob Jenkins' 6-step integer mix, then
/// × 3221225473; include/haproxy/intops.h; docs/algorithms.md §1).
pub fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed55d16).wrapping_add(a << 12);
    a = (a ^ 0xc761c23c) ^ (a >> 19);
    a = a.wrapping_add(0x165667b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2646c) ^ (a << 9);
    a = a.wrapping_add(0xfd7046c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a4f09) ^ (a >> 16);
    a.wrapping_mul(3221225473)
}

/// MD5 digest of `bytes`.
pub fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// Envoy `MurmurHash::STD_HASH_SEED` (source/common/common/hash.h).
pub const ENVOY_MURMUR_SEED: u64 = 0xc70f6907;
const MURMUR_MUL: u64 = 0xc6a4a7935bd1e995;

#[inline]
fn shift_mix(v: u64) -> u64 {
    v ^ (v >> 47)
}

/// MurmurHash2-64 as libstdc++ `_Hash_bytes` computes it (docs/algorithms.md §1):
/// 8-byte little-endian words, the 1–7 byte tail assembled last byte first.
pub fn murmur2_64(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(MURMUR_MUL);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let d = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let d = shift_mix(d.wrapping_mul(MURMUR_MUL)).wrapping_mul(MURMUR_MUL);
        h = (h ^ d).wrapping_mul(MURMUR_MUL);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let t = tail.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64);
        h = (h ^ t).wrapping_mul(MURMUR_MUL);
    }
    h = shift_mix(h).wrapping_mul(MURMUR_MUL);
    shift_mix(h)
}

impl HashAlgorithm {
    pub const NAMES: &'static [&'static str] = &["xxh3", "xxh64", "murmur2", "ketama", "md5", "crc32", "sdbm", "djb2", "wt6"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "xxh3" => Some(Self::Xxh3),
            "xxh64" => Some(Self::Xxh64),
            "murmur2" => Some(Self::Murmur2),
            "ketama" => Some(Self::Ketama),
            "md5" => Some(Self::Md5),
            "crc32" => Some(Self::Crc32),
            "sdbm" => Some(Self::Sdbm),
            "djb2" => Some(Self::Djb2),
            "wt6" => Some(Self::Wt6),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Xxh3 => "xxh3",
            Self::Xxh64 => "xxh64",
            Self::Murmur2 => "murmur2",
            Self::Ketama => "ketama",
            Self::Md5 => "md5",
            Self::Crc32 => "crc32",
            Self::Sdbm => "sdbm",
            Self::Djb2 => "djb2",
            Self::Wt6 => "wt6",
        }
    }

    #[inline]
    pub fn hash(self, bytes: &[u8], seed: u64) -> u64 {
        match self {
            Self::Xxh3 => xxh3_64_with_seed(bytes, seed),
            Self::Xxh64 => xxh64(bytes, seed),
            Self::Murmur2 => murmur2_64(bytes, if seed == 0 { ENVOY_MURMUR_SEED } else { seed }),
            Self::Ketama => {
                let d = md5_digest(bytes);
                u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as u64
            }
            Self::Md5 => u64::from_be_bytes(md5_digest(bytes)[..8].try_into().expect("8 bytes")),
            Self::Crc32 => crc32fast::hash(bytes) as u64,
            Self::Sdbm => sdbm(bytes) as u64,
            Self::Djb2 => djb2(bytes) as u64,
            Self::Wt6 => wt6(bytes) as u64,
        }
    }

    /// Hash of an integer key: its 8 bytes little-endian.
    #[inline]
    pub fn hash_u64(self, value: u64, seed: u64) -> u64 {
        self.hash(&value.to_le_bytes(), seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_published_check_values() {
        // docs/algorithms.md §1, [V-pub].
        assert_eq!(HashAlgorithm::Xxh64.hash(b"", 0), 17241709254077376921);
        assert_eq!(HashAlgorithm::Xxh64.hash(b"127.0.0.1:90_0", 0), 16117243373044804889);
    }

    #[test]
    fn xxh3_empty_input_matches_reference() {
        // XXH3_64bits("") with seed 0 from the xxHash reference (xxhsum -H3).
        assert_eq!(HashAlgorithm::Xxh3.hash(b"", 0), 0x2D06800538D394C2);
    }

    #[test]
    fn xxh3_seed_zero_is_the_unseeded_hash() {
        // KeyHasher::map_batch hashes text keys with xxh3_64 directly; every length
        // class (0-16, 17-128, 129-240, long with a partial stripe) must agree.
        let bytes: Vec<u8> = (0..1100u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for len in 0..bytes.len() {
            assert_eq!(xxhash_rust::xxh3::xxh3_64(&bytes[..len]), HashAlgorithm::Xxh3.hash(&bytes[..len], 0), "len {len}");
        }
    }

    #[test]
    fn murmur2_published_check_values() {
        // docs/algorithms.md §1: Envoy vector [V-pub] and the reference model's values.
        assert_eq!(HashAlgorithm::Murmur2.hash(b"127.0.0.1:85_0", 0), 1358027074129602068);
        assert_eq!(HashAlgorithm::Murmur2.hash(b"", 0), 6142509188972423790);
        assert_eq!(HashAlgorithm::Murmur2.hash(b"hello", 0), 2762169579135187400);
    }

    #[test]
    fn ketama_and_md5_check_values() {
        // docs/algorithms.md §1/§9: hashi("test") = 3446378249; md5("test") as a 128-bit
        // integer = 12707736894140473154801792860916528374, whose top 64 bits follow.
        assert_eq!(HashAlgorithm::Ketama.hash(b"test", 0), 3446378249);
        assert_eq!(HashAlgorithm::Md5.hash(b"test", 0), (12707736894140473154801792860916528374u128 >> 64) as u64);
    }

    #[test]
    fn crc32_check_values() {
        // docs/algorithms.md §1: CRC32("hello") = 907060870; bytes 0..=255 → 688229491.
        assert_eq!(HashAlgorithm::Crc32.hash(b"hello", 0), 907060870);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(HashAlgorithm::Crc32.hash(&all, 0), 688229491);
    }

    #[test]
    fn haproxy_published_check_values() {
        // docs/algorithms.md §1 (reg-tests/sample_fetches/hashes.vtc, input bytes 0..=255).
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(sdbm(&all), 905707648);
        assert_eq!(djb2(&all), 2589693061);
        assert_eq!(wt6(&all), 4090277559);
        assert_eq!(full_hash(sdbm(&all)), 3103804144);
        assert_eq!(full_hash(crc32fast::hash(&all)), 4230317029);
        assert_eq!(full_hash(djb2(&all)), 600622701);
        assert_eq!(full_hash(wt6(&all)), 1192658767);
        assert_eq!(full_hash(4096), 1237450891);
    }

    #[test]
    fn integer_keys_hash_as_little_endian_bytes() {
        let v = 0x0102030405060708u64;
        let bytes = [8u8, 7, 6, 5, 4, 3, 2, 1];
        for algo in [HashAlgorithm::Xxh3, HashAlgorithm::Xxh64, HashAlgorithm::Murmur2] {
            assert_eq!(algo.hash_u64(v, 9), algo.hash(&bytes, 9));
        }
    }

    #[test]
    fn names_round_trip() {
        for name in HashAlgorithm::NAMES {
            assert_eq!(HashAlgorithm::from_name(name).unwrap().name(), *name);
        }
        assert!(HashAlgorithm::from_name("sha1").is_none());
    }
}
