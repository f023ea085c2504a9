// SPDX-License-Identifier: Apache-2.0
//! Keyed placement hash (docs/algorithms.md §22): SipHash-1-3 under a 128-bit
//! key derived from the user's secret, so key → node is a secret pseudo-random
//! function and nobody without the secret can craft keys that pile onto one node.
//!
//! KDF (§22.2): HMAC-SHA-256(secret, "fastroute placement v1"); bytes 0..8 and
//! 8..16 little-endian are k0 and k1. A second label gives the digest that a
//! keyed table's fingerprint carries, so two processes can check that they share
//! a secret without the fingerprint revealing the key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use siphasher::sip::SipHasher13;

/// Shortest secret accepted (128 bits: SipHash's key size).
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest secret accepted (checked before any work is done with it).
pub const MAX_SECRET_BYTES: usize = 4096;
pub const PLACEMENT_LABEL: &[u8] = b"fastroute placement v1";
pub const FINGERPRINT_LABEL: &[u8] = b"fastroute fingerprint v1";

/// A secret's SipHash-1-3 key and its public digest. `Debug` prints only the digest.
#[derive(Clone, Copy)]
pub struct PlacementKey {
    sip: SipHasher13,
    digest: [u8; 8],
}

fn hmac_sha256(secret: &[u8], label: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl PlacementKey {
    /// Key for `secret` (16 ..= 4096 bytes; the error names the rule, never the bytes).
    pub fn from_secret(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES || secret.len() > MAX_SECRET_BYTES {
            return Err(format!(
                "must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, got {} bytes",
                secret.len()
            ));
        }
        let okm = hmac_sha256(secret, PLACEMENT_LABEL);
        let k0 = u64::from_le_bytes(okm[0..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(okm[8..16].try_into().expect("8 bytes"));
        let mut digest = [0u8; 8];
        digest.copy_from_slice(&hmac_sha256(secret, FINGERPRINT_LABEL)[..8]);
        Ok(PlacementKey { sip: SipHasher13::new_with_keys(k0, k1), digest })
    }

    /// A key given directly as (k0, k1) (test vectors).
    pub fn from_sip_keys(k0: u64, k1: u64) -> Self {
        PlacementKey { sip: SipHasher13::new_with_keys(k0, k1), digest: [0; 8] }
    }

    /// SipHash-1-3 of a key's canonical bytes.
    #[inline]
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        self.sip.hash(bytes)
    }

    /// An integer key: its 8 bytes little-endian, as every unkeyed hash takes it.
    #[inline]
    pub fn hash_u64(&self, value: u64) -> u64 {
        self.sip.hash(&value.to_le_bytes())
    }

    /// Hex of the first 8 bytes of HMAC-SHA-256(secret, "fastroute fingerprint v1").
    pub fn digest_hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for PlacementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlacementKey(digest={})", self.digest_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use siphasher::sip::SipHasher24;

    fn paper_key() -> (u64, u64) {
        let key: Vec<u8> = (0u8..16).collect();
        (u64::from_le_bytes(key[..8].try_into().unwrap()), u64::from_le_bytes(key[8..].try_into().unwrap()))
    }

    #[test]
    fn siphash24_paper_appendix_vectors() {
        // Aumasson & Bernstein 2012, Appendix A: key 00..0f, message 00..0e → a129ca6149be45e5;
        // the empty message under the same key is the reference code's vectors.h entry 0.
        let (k0, k1) = paper_key();
        let sip = SipHasher24::new_with_keys(k0, k1);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(sip.hash(&msg), 0xa129ca6149be45e5);
        assert_eq!(sip.hash(b""), 0x726fdb47dd0e0e31);
    }

    #[test]
    fn siphash13_matches_the_independent_reference() {
        // Expected values from tests/reference/siphash.py (pure Python, written from the
        // paper; itself checked against CPython's SipHash-1-3) for key 00..0f, message 00..n-1.
        let (k0, k1) = paper_key();
        let key = PlacementKey::from_sip_keys(k0, k1);
        let expect: [(usize, u64); 7] = [
            (0, 0xabac0158050fc4dc),
            (1, 0xc9f49bf37d57ca93),
            (7, 0xd3927d989bb11140),
            (8, 0x369095118d299a8e),
            (15, 0xd320d86d2a519956),
            (16, 0xcc4fdd1a7d908b66),
            (63, 0x9d199062b7bbb3a8),
        ];
        for (n, want) in expect {
            let msg: Vec<u8> = (0..n as u8).collect();
            assert_eq!(key.hash(&msg), want, "length {n}");
        }
    }

    #[test]
    fn kdf_and_digest_match_the_reference() {
        // tests/reference/siphash.py: placement_key / secret_digest / keyed_hash.
        let key = PlacementKey::from_secret(b"0123456789abcdef").unwrap();
        assert_eq!(key.sip.keys(), (4999106844918683774, 3953267588837801926));
        assert_eq!(key.digest_hex(), "6895dbffbaaedb1c");
        assert_eq!(key.hash(b"card-42"), 0x213edaf8f8906d45);
        assert_eq!(key.hash_u64(42), 0xe2a22ecaad033a10);
        let long: Vec<u8> = (0u8..32).collect();
        assert_eq!(PlacementKey::from_secret(&long).unwrap().hash(b""), 0x8ea401afcccc3f51);
    }

    #[test]
    fn secret_length_rules_and_debug_hides_the_key() {
        assert!(PlacementKey::from_secret(&[1u8; 15]).unwrap_err().contains("16 to 4096 bytes, got 15"));
        assert!(PlacementKey::from_secret(&[1u8; MAX_SECRET_BYTES + 1]).is_err());
        let key = PlacementKey::from_secret(b"0123456789abcdef").unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "PlacementKey(digest=6895dbffbaaedb1c)");
        assert!(!shown.contains("0123456789abcdef"));
        let other = PlacementKey::from_secret(b"0123456789abcdeg").unwrap();
        assert_ne!(key.hash(b"card-42"), other.hash(b"card-42"));
    }
}
