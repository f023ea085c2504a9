// SPDX-License-Identifier: Apache-2.0
//! nginx `ip_hash` (ngx_http_upstream_ip_hash_module): the client address
//! bytes (IPv4: the first three octets, so a /24 sticks together; IPv6: all
//! 16) folded as hash = (hash * 113 + byte) mod 6271 from 89, then a
//! weighted pick over the peers in config order. A rejected peer continues
//! the same hash; after 20 tries nginx falls back to round robin. PyO3-free.

use std::net::IpAddr;
use std::sync::Arc;

use super::{BuildError, KeyHasher, KindSpec, NoOptions, Placement};
use crate::batch::{par_map, par_rows};
use crate::keys::KeyBatch;

/// `ip_hash`: nginx `ip_hash` (`IPHash`); keys are addresses; no options.
pub const IP_HASH: KindSpec = KindSpec {
    name: "ip_hash",
    reproduces_public_algorithm: true,
    read_options: |_| Ok(Box::new(NoOptions(|nodes| Ok(Arc::new(IpHash::build(nodes.weights)?))))),
};

/// nginx's constants: initial value, multiplier, modulus, tries before fallback.
const IP_HASH_INIT: u32 = 89;
const IP_HASH_MULTIPLIER: u32 = 113;
const IP_HASH_MODULUS: u32 = 6271;
const IP_HASH_MAX_TRIES: usize = 20;

#[derive(Clone, Debug)]
pub struct IpHash {
    weights: Vec<u32>,
    total_weight: u64,
}

/// The bytes nginx hashes for an address.
pub fn address_bytes(addr: &IpAddr, out: &mut [u8; 16]) -> usize {
    match addr {
        IpAddr::V4(v4) => {
            out[..3].copy_from_slice(&v4.octets()[..3]);
            3
        }
        IpAddr::V6(v6) => {
            out.copy_from_slice(&v6.octets());
            16
        }
    }
}

/// Parses a textual address ("10.1.2.3", "2001:db8::1"; surrounding
/// whitespace ignored). Returns the number of bytes nginx hashes.
pub fn parse_address(key: &[u8], out: &mut [u8; 16]) -> Option<usize> {
    let addr = std::str::from_utf8(key).ok()?.trim().parse::<IpAddr>().ok()?;
    Some(address_bytes(&addr, out))
}

/// An integer key is an IPv4 address as a number (like `ipaddress.IPv4Address(int)`):
/// the three octets nginx hashes; None past 2**32 - 1.
#[inline]
pub fn ipv4_int_bytes(v: u64) -> Option<[u8; 3]> {
    if v > u32::MAX as u64 {
        return None;
    }
    let b = (v as u32).to_be_bytes();
    Some([b[0], b[1], b[2]])
}

/// Address bytes of one key of a batch: integer keys are IPv4 numbers, others address text.
#[inline]
pub fn batch_address(batch: crate::keys::KeyBatch<'_>, i: usize, scratch: &mut Vec<u8>, out: &mut [u8; 16]) -> Option<usize> {
    if let crate::keys::KeyBatch::U64(v) = batch {
        out[..3].copy_from_slice(&ipv4_int_bytes(v[i])?);
        return Some(3);
    }
    parse_address(batch.bytes_at(i, scratch), out)
}

/// A number looked up as an address: its low 32 bits as IPv4.
#[inline]
fn ipv4_bytes(v: u64) -> [u8; 3] {
    let b = (v as u32).to_be_bytes();
    [b[0], b[1], b[2]]
}

impl Placement for IpHash {
    /// `h` is an IPv4 address as a number (keys are not hashed).
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        IpHash::lookup(self, &ipv4_bytes(h))
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        IpHash::replicas(self, &ipv4_bytes(h), n, out)
    }

    fn stats(&self, node_count: usize) -> (usize, usize) {
        (node_count, node_count * 4)
    }

    fn keys_are_addresses(&self) -> bool {
        true
    }

    /// Each key parsed as an address (integers: IPv4 numbers), never hashed.
    fn route(&self, _keys: &KeyHasher, batch: KeyBatch<'_>, m: usize) -> Result<Vec<i32>, usize> {
        let out = par_map(m, Vec::new, |scratch, i| {
            let mut buf = [0u8; 16];
            match batch_address(batch, i, scratch, &mut buf) {
                Some(len) => IpHash::lookup(self, &buf[..len]) as i32,
                None => -1,
            }
        });
        match out.iter().position(|&v| v < 0) {
            Some(bad) => Err(bad),
            None => Ok(out),
        }
    }

    fn route_replicas(&self, _keys: &KeyHasher, batch: KeyBatch<'_>, m: usize, n: usize) -> Vec<i32> {
        par_rows(m, n, || (Vec::new(), Vec::with_capacity(n)), |(scratch, reps), i, row| {
            let mut buf = [0u8; 16];
            match batch_address(batch, i, scratch, &mut buf) {
                Some(len) => IpHash::replicas(self, &buf[..len], n, reps),
                None => {
                    row.fill(-1);
                    return;
                }
            }
            for (slot, &r) in row.iter_mut().zip(reps.iter()) {
                *slot = r as i32;
            }
        })
    }
}

impl IpHash {
    /// nginx `weight=`: integers (0 for `down` servers).
    pub fn build(weights: &[f64]) -> Result<IpHash, BuildError> {
        if weights.iter().any(|w| w.fract() != 0.0 || *w > u32::MAX as f64) {
            return Err(BuildError::new("weights", "ip_hash weights must be integers"));
        }
        Ok(IpHash::new(&weights.iter().map(|w| *w as u32).collect::<Vec<_>>()))
    }

    pub fn new(weights: &[u32]) -> IpHash {
        IpHash { weights: weights.to_vec(), total_weight: weights.iter().map(|&w| w as u64).sum() }
    }

    #[inline]
    fn fold(hash: u32, addr: &[u8]) -> u32 {
        addr.iter().fold(hash, |h, &b| (h * IP_HASH_MULTIPLIER + b as u32) % IP_HASH_MODULUS)
    }

    #[inline]
    fn peer_for(&self, hash: u32) -> u32 {
        let mut w = hash as u64 % self.total_weight;
        let mut i = 0usize;
        while w >= self.weights[i] as u64 {
            w -= self.weights[i] as u64;
            i += 1;
        }
        i as u32
    }

    #[inline]
    pub fn lookup(&self, addr: &[u8]) -> u32 {
        self.peer_for(Self::fold(IP_HASH_INIT, addr))
    }

    /// Peers in the order nginx would try them if each earlier one failed:
    /// the continued hash for 20 tries, then round robin order.
    pub fn replicas(&self, addr: &[u8], n: usize, out: &mut Vec<u32>) {
        out.clear();
        let mut hash = IP_HASH_INIT;
        for _ in 0..=IP_HASH_MAX_TRIES {
            hash = Self::fold(hash, addr);
            let p = self.peer_for(hash);
            if !out.contains(&p) {
                out.push(p);
                if out.len() == n {
                    return;
                }
            }
        }
        let start = out[0] as usize;
        for k in 1..self.weights.len() {
            let p = ((start + k) % self.weights.len()) as u32;
            if self.weights[p as usize] > 0 && !out.contains(&p) {
                out.push(p);
                if out.len() == n {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_slash_24_same_peer_and_hash_by_hand() {
        let ip = IpHash::new(&[1, 1, 1]);
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        let na = parse_address(b"192.168.7.1", &mut a).unwrap();
        let nb = parse_address(b"192.168.7.200", &mut b).unwrap();
        assert_eq!(ip.lookup(&a[..na]), ip.lookup(&b[..nb]));
        // By hand: 89 -> (89*113+192)%6271=3978 -> (3978*113+168)%6271=4441
        //         -> (4441*113+7)%6271=160; 160 % 3 = 1.
        assert_eq!(ip.lookup(&a[..na]), 1);
    }

    #[test]
    fn parses_text_addresses_only() {
        let mut a = [0u8; 16];
        assert_eq!(parse_address(b" 10.0.0.9 ", &mut a), Some(3));
        assert_eq!(&a[..3], &[10, 0, 0]);
        assert_eq!(parse_address(b"2001:db8::1", &mut a), Some(16));
        assert_eq!(parse_address(b"not an ip", &mut a), None);
        assert_eq!(parse_address(&[10, 0, 0, 9], &mut a), None);
    }

    #[test]
    fn replicas_are_distinct_and_complete() {
        let ip = IpHash::new(&[3, 1, 0, 2]);
        let mut out = Vec::new();
        ip.replicas(&[1, 2, 3], 3, &mut out);
        assert_eq!(out.len(), 3);
        assert!(!out.contains(&2));
        assert_eq!(out[0], ip.lookup(&[1, 2, 3]));
    }
}
