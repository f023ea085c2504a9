// SPDX-License-Identifier: Apache-2.0
//! HAProxy hash balancing (docs/algorithms.md §7): the consistent tree's node keys
//! and the map-based table. Lookups reuse the one `Ring` (nearest node on the
//! 32-bit circle, ties to the predecessor) and a plain table.

use std::sync::Arc;

use super::ring::{LookupRule, Ring};
use super::{BuildError, KindOptions, KindSpec, Nodes, OptionReader, Placement};
use crate::hash::full_hash;

/// `haproxy_chash`: HAProxy `hash-type consistent` (`HAProxyConsistentHash`).
pub const HAPROXY_CHASH: KindSpec = KindSpec {
    name: "haproxy_chash",
    reproduces_public_algorithm: true,
    read_options: |o| Ok(Box::new(ChashConfig::read(o)?)),
};

/// `haproxy_map`: HAProxy `hash-type map-based` (`HAProxyMapHash`).
pub const HAPROXY_MAP: KindSpec = KindSpec {
    name: "haproxy_map",
    reproduces_public_algorithm: true,
    read_options: |o| Ok(Box::new(MapConfig { avalanche: o.bool("avalanche")? })),
};

/// HAProxy's `weight` range (`SRV_UWGHT_MAX`).
pub const MAX_WEIGHT: f64 = 256.0;

/// Integer HAProxy weights in [0, 256].
pub fn integer_weights(weights: &[f64]) -> Result<Vec<u32>, BuildError> {
    if weights.iter().any(|w| w.fract() != 0.0 || *w > MAX_WEIGHT) {
        return Err(BuildError::new("weights", "HAProxy weights are integers in [0, 256]"));
    }
    Ok(weights.iter().map(|&x| x as u32).collect())
}

/// `hash-type consistent`: how server keys are made; `None` lists mean the
/// defaults (puids 1..=n, address and port 0).
#[derive(Debug, Clone)]
pub struct ChashConfig {
    pub hash_key: HashKey,
    pub puids: Option<Vec<u32>>,
    pub addrs: Option<Vec<u32>>,
    pub ports: Option<Vec<u32>>,
    /// `avalanche`: full_hash() over the 32-bit key hash before the lookup.
    pub avalanche: bool,
}

impl ChashConfig {
    pub fn read(o: &mut OptionReader<'_>) -> Result<Self, BuildError> {
        Ok(ChashConfig {
            hash_key: o.choice("hash_key", HashKey::NAMES, HashKey::from_name)?,
            puids: o.ints_or_none("puids")?,
            addrs: o.ints_or_none("addrs")?,
            ports: o.ints_or_none("ports")?,
            avalanche: o.bool("avalanche")?,
        })
    }

    /// The consistent tree as a ring: nearest node on the 32-bit circle, ties to the predecessor.
    pub fn build(&self, weights: &[f64]) -> Result<Ring, BuildError> {
        let w = integer_weights(weights)?;
        let n = weights.len();
        let puids = self.puids.clone().unwrap_or_else(|| (1..=n as u32).collect());
        let addrs = self.addrs.clone().unwrap_or_else(|| vec![0; n]);
        let ports = self.ports.clone().unwrap_or_else(|| vec![0; n]);
        if puids.len() != n || addrs.len() != n || ports.len() != n {
            return Err(BuildError::new("puids/addrs/ports", "one per server"));
        }
        let bases: Vec<u32> = (0..n).map(|i| server_base(self.hash_key, puids[i], addrs[i], ports[i])).collect();
        Ring::from_points(chash_points(&bases, &w), n, LookupRule::Nearest32)
            .map_err(|e| BuildError::new("weights", e.to_string()))
    }
}

impl KindOptions for ChashConfig {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        Ok(Arc::new(ChashConfig::build(self, nodes.weights)?))
    }

    fn avalanche(&self) -> bool {
        self.avalanche
    }
}

/// `hash-type map-based` options.
#[derive(Debug, Clone, Default)]
pub struct MapConfig {
    /// `avalanche`: full_hash() over the 32-bit key hash before the lookup.
    pub avalanche: bool,
}

impl KindOptions for MapConfig {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        Ok(Arc::new(MapTable::build(nodes.weights)?))
    }

    fn avalanche(&self) -> bool {
        self.avalanche
    }
}

/// Map-based table (§7.3): server = table[h mod T].
#[derive(Debug, Clone)]
pub struct MapTable {
    table: Vec<u32>,
}

impl MapTable {
    pub fn build(weights: &[f64]) -> Result<MapTable, BuildError> {
        Ok(MapTable { table: map_table(&integer_weights(weights)?) })
    }

    pub fn table(&self) -> &[u32] {
        &self.table
    }

    #[inline]
    pub fn lookup(&self, h: u64) -> u32 {
        self.table[(h % self.table.len() as u64) as usize]
    }

    /// Failover order: the mapped server, then the next distinct ones in table order.
    pub fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        out.clear();
        let len = self.table.len();
        let start = (h % len as u64) as usize;
        for k in 0..len {
            let s = self.table[(start + k) % len];
            if !out.contains(&s) {
                out.push(s);
                if out.len() == n {
                    break;
                }
            }
        }
    }
}

impl Placement for MapTable {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        MapTable::lookup(self, h)
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        MapTable::replicas(self, h, n, out)
    }

    fn stats(&self, _node_count: usize) -> (usize, usize) {
        (self.table.len(), self.table.len() * 4)
    }

    fn fingerprint_contents(&self, out: &mut Vec<u8>) {
        self.table.iter().for_each(|o| out.extend_from_slice(&o.to_le_bytes()));
    }
}

/// `BE_WEIGHT_SCALE`: a server of user weight w has w × 16 tree nodes (§7.2).
const WEIGHT_SCALE: u32 = 16;
/// Default `hash-key id` base: puid × 4096 (`SRV_EWGHT_RANGE`, §7.2 step 2).
const ID_KEY_STRIDE: u32 = 4096;

/// How a server's base key is derived (`hash-key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashKey {
    Id,
    /// HAProxy 3.0-dev7 … 3.3-dev9 hashed the id twice (§7.2 step 4).
    IdLegacy,
    Addr,
    AddrPort,
}

impl HashKey {
    pub const NAMES: &'static [&'static str] = &["id", "id_legacy", "addr", "addr-port"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "id" => Some(Self::Id),
            "id_legacy" => Some(Self::IdLegacy),
            "addr" => Some(Self::Addr),
            "addr-port" => Some(Self::AddrPort),
            _ => None,
        }
    }
}

/// Base key of one server. `addr` is the IPv4 address's 4 network-order
/// bytes read as a little-endian u32 (127.0.0.1 → 0x0100007f), as HAProxy
/// does on x86; `port` is the host-order port.
pub fn server_base(key: HashKey, puid: u32, addr: u32, port: u32) -> u32 {
    match key {
        HashKey::Id => puid.wrapping_mul(ID_KEY_STRIDE),
        HashKey::IdLegacy => full_hash(puid),
        HashKey::Addr => full_hash(addr),
        HashKey::AddrPort => full_hash(full_hash(port).wrapping_add(addr)),
    }
}

/// Tree nodes: node j of server i is full_hash(base_i + j), j < weight_i × 16.
pub fn chash_points(bases: &[u32], weights: &[u32]) -> Vec<(u64, u32)> {
    let mut pairs = Vec::new();
    for (i, (&base, &w)) in bases.iter().zip(weights).enumerate() {
        for j in 0..w * WEIGHT_SCALE {
            pairs.push((full_hash(base.wrapping_add(j)) as u64, i as u32));
        }
    }
    pairs
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Map-based table (§7.3): weights divided by their gcd; slot by slot every
/// server gains its weight, the first with the strictly greatest
/// (score + T) / T wins and pays T.
pub fn map_table(weights: &[u32]) -> Vec<u32> {
    let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd).max(1);
    let eweight: Vec<u64> = weights.iter().map(|&w| w.div_ceil(g) as u64).collect();
    let total: u64 = eweight.iter().sum();
    let mut score = vec![0i64; weights.len()];
    let mut table = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best: Option<usize> = None;
        let mut best_v = i64::MIN;
        for (i, &e) in eweight.iter().enumerate() {
            if e == 0 {
                continue;
            }
            score[i] += e as i64;
            let v = (score[i] + total as i64).div_euclid(total as i64);
            if best.is_none() || v > best_v {
                best = Some(i);
                best_v = v;
            }
        }
        let b = best.expect("some server has weight");
        score[b] -= total as i64;
        table.push(b as u32);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{sdbm, HashAlgorithm};
    use crate::placement::ring::{LookupRule, Ring};

    const KEYS: [&str; 10] = ["hello", "txn-000001", "4111111111111111", "merchant:42", "a", "b", "c", "0", "1", "2"];

    fn chash(weights: &[u32], puids: &[u32], algo: HashAlgorithm, avalanche: bool) -> Vec<u32> {
        let bases: Vec<u32> = puids.iter().map(|&p| server_base(HashKey::Id, p, 0, 0)).collect();
        let ring = Ring::from_points(chash_points(&bases, weights), weights.len(), LookupRule::Nearest32).unwrap();
        KEYS.iter()
            .map(|k| {
                let h = algo.hash(k.as_bytes(), 0) as u32;
                let h = if avalanche { full_hash(h) } else { h };
                puids[ring.lookup(h as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn live_haproxy_vectors() {
        // docs/algorithms.md §7.4 [V-live], servers s1..s3 (puid 1..3).
        assert_eq!(chash(&[1, 1, 1], &[1, 2, 3], HashAlgorithm::Sdbm, true), [2, 3, 3, 2, 3, 2, 3, 3, 3, 2]);
        assert_eq!(chash(&[1, 2, 3], &[1, 2, 3], HashAlgorithm::Sdbm, true), [2, 2, 3, 2, 2, 2, 3, 3, 3, 2]);
        assert_eq!(chash(&[1, 1], &[1, 3], HashAlgorithm::Sdbm, true), [1, 3, 3, 1, 3, 3, 3, 3, 3, 3]);
        assert_eq!(chash(&[1, 1, 1], &[1, 2, 3], HashAlgorithm::Crc32, false), [1, 3, 2, 1, 3, 1, 3, 2, 1, 2]);
        let map = |weights: &[u32]| -> Vec<u32> {
            let t = map_table(weights);
            KEYS.iter().map(|k| t[(sdbm(k.as_bytes()) as usize) % t.len()] + 1).collect()
        };
        assert_eq!(map(&[1, 1, 1]), [3, 2, 2, 3, 2, 3, 1, 1, 2, 3]);
        assert_eq!(map_table(&[2, 4, 6]), [0, 2, 1, 2, 1, 2]);
        assert_eq!(map(&[2, 4, 6]), [2, 2, 3, 2, 3, 2, 3, 1, 3, 2]);
    }

    #[test]
    fn published_balance_vectors() {
        // balance-uri.vtc: map-based sdbm, 4 servers → /url1 srv2, /url2 srv3, /url3 srv4, /url4 srv1.
        let t = map_table(&[1, 1, 1, 1]);
        let got: Vec<u32> = ["/url1", "/url2", "/url3", "/url4"].iter().map(|u| t[sdbm(u.as_bytes()) as usize % 4] + 1).collect();
        assert_eq!(got, [2, 3, 4, 1]);
        // balance-hash-maxconn.vtc: consistent sdbm+avalanche, 2 servers, /test-url → srv0 (puid 1);
        // the 3.0–3.2 double-hashed id key sends it to srv1 (puid 2).
        let pick = |key: HashKey| {
            let bases: Vec<u32> = [1u32, 2].iter().map(|&p| server_base(key, p, 0, 0)).collect();
            let ring = Ring::from_points(chash_points(&bases, &[1, 1]), 2, LookupRule::Nearest32).unwrap();
            ring.lookup(full_hash(sdbm(b"/test-url")) as u64)
        };
        assert_eq!(pick(HashKey::Id), 0);
        assert_eq!(pick(HashKey::IdLegacy), 1);
    }
}
