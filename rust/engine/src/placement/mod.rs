// SPDX-License-Identifier: Apache-2.0
//! Placement algorithms: deterministic key → node tables. PyO3-free.
//!
//! `Table::build(&Config)` is the one entry point: the common node/weight
//! rules live here, each algorithm file owns its options struct, its build,
//! its limits and its lookup and replica rules; `Table` dispatches to them.

pub mod bounded;
pub mod haproxy;
pub mod iphash;
pub mod jump;
pub mod ketama;
pub mod maglev;
pub mod nginx;
pub mod rendezvous;
pub mod ring;
pub mod weights;

use crate::batch::{par_chunks, par_map, par_rows};
use crate::hash::{full_hash, HashAlgorithm};
use crate::keys::KeyBatch;
use haproxy::{MapTable, MapConfig, ChashConfig};
use iphash::IpHash;
use jump::{jump_bucket, jump_buckets_into, jump_replicas};
use ketama::KetamaConfig;
use maglev::{Maglev, MaglevConfig};
use nginx::PlainHash;
use rendezvous::Rendezvous;
use ring::{Ring, RingConfig};

/// An argument broke a rule: `arg` names it (as the Python API spells it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub arg: &'static str,
    pub message: String,
}

impl BuildError {
    pub fn new(arg: &'static str, message: impl Into<String>) -> Self {
        BuildError { arg, message: message.into() }
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.arg, self.message)
    }
}

impl std::error::Error for BuildError {}

/// The placement kind and its own options.
#[derive(Debug, Clone)]
pub enum Kind {
    Ring(RingConfig),
    Ketama(KetamaConfig),
    Maglev(MaglevConfig),
    Jump,
    Rendezvous,
    /// nginx `ip_hash`: keys are addresses, not hashed.
    IpHash,
    /// nginx `hash $key consistent`.
    NginxChash,
    /// nginx plain `hash $key`.
    NginxHash,
    /// HAProxy `hash-type consistent`.
    HaproxyChash(ChashConfig),
    /// HAProxy `hash-type map-based`.
    HaproxyMap(MapConfig),
}

impl Kind {
    /// The kind's name (part of the fingerprint).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Ring(_) => "ring",
            Kind::Ketama(_) => "ketama",
            Kind::Maglev(_) => "maglev",
            Kind::Jump => "jump",
            Kind::Rendezvous => "rendezvous",
            Kind::IpHash => "ip_hash",
            Kind::NginxChash => "nginx_chash",
            Kind::NginxHash => "nginx_hash",
            Kind::HaproxyChash(_) => "haproxy_chash",
            Kind::HaproxyMap(_) => "haproxy_map",
        }
    }

    fn avalanche(&self) -> bool {
        match self {
            Kind::HaproxyChash(c) => c.avalanche,
            Kind::HaproxyMap(c) => c.avalanche,
            _ => false,
        }
    }
}

/// Everything a table is built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub names: Vec<String>,
    pub weights: Vec<f64>,
    /// Key hash (nginx kinds: crc32; unused by ip_hash).
    pub hash: HashAlgorithm,
    /// Hash any non-text key as the UTF-8 of its text form (uhashring semantics);
    /// the binding applies it, the table only records it.
    pub text_keys: bool,
    pub kind: Kind,
}

/// The built lookup structure.
#[derive(Debug, Clone)]
enum Built {
    Ring(Ring),
    NginxHash(PlainHash),
    Map(MapTable),
    Maglev(Maglev),
    Jump(u32),
    Rendezvous(Rendezvous),
    IpHash(IpHash),
}

/// An immutable placement table: key hash → node index.
#[derive(Debug, Clone)]
pub struct Table {
    built: Built,
    hash: HashAlgorithm,
    avalanche: bool,
    text_keys: bool,
    node_count: usize,
    /// Nodes that can receive keys (positive weight / points).
    holders: usize,
    fingerprint: String,
}

impl Table {
    pub fn build(config: &Config) -> Result<Table, BuildError> {
        let (names, weights) = (&config.names, &config.weights);
        if names.is_empty() || names.len() != weights.len() || names.len() > i32::MAX as usize {
            return Err(BuildError::new("nodes", "internal: names and weights must be non-empty and equal in length"));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || !weights.iter().any(|w| *w > 0.0) {
            return Err(BuildError::new("weights", "must be finite, >= 0 and not all zero"));
        }
        let refs: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        let servers = || names.iter().map(|s| s.as_str()).collect::<Vec<_>>();
        let built = match &config.kind {
            Kind::Ring(c) => Built::Ring(c.build(&refs, weights, config.hash)?),
            Kind::Ketama(c) => Built::Ring(c.build(&refs, weights)?),
            Kind::Maglev(c) => Built::Maglev(c.build(&refs, weights)?),
            Kind::Jump => Built::Jump(names.len() as u32),
            Kind::Rendezvous => Built::Rendezvous(Rendezvous::new(&refs, weights)),
            Kind::IpHash => Built::IpHash(IpHash::build(weights)?),
            Kind::NginxChash => Built::Ring(nginx::build_chash(&servers(), weights)?),
            Kind::NginxHash => Built::NginxHash(PlainHash::build(weights)?),
            Kind::HaproxyChash(c) => Built::Ring(c.build(weights)?),
            Kind::HaproxyMap(_) => Built::Map(MapTable::build(weights)?),
        };
        let holders = match &built {
            Built::Ring(r) => r.holders(),
            Built::Maglev(m) => {
                let mut seen = vec![false; names.len()];
                m.table().iter().for_each(|&o| seen[o as usize] = true);
                seen.iter().filter(|&&s| s).count()
            }
            Built::Jump(n) => *n as usize,
            Built::Rendezvous(_) | Built::IpHash(_) | Built::NginxHash(_) | Built::Map(_) => {
                weights.iter().filter(|w| **w > 0.0).count()
            }
        };
        let fingerprint = fingerprint(config, &built);
        Ok(Table {
            built,
            hash: config.hash,
            avalanche: config.kind.avalanche(),
            text_keys: config.text_keys,
            node_count: names.len(),
            holders,
            fingerprint,
        })
    }

    pub fn hash(&self) -> HashAlgorithm {
        self.hash
    }

    pub fn text_keys(&self) -> bool {
        self.text_keys
    }

    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Nodes that can receive keys.
    pub fn holders(&self) -> usize {
        self.holders
    }

    /// Stable identifier of the table contents (same config → same string).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The table's key-hash step after hashing: HAProxy `avalanche` applies
    /// full_hash() to the 32-bit hash; every other kind uses the hash as is.
    #[inline]
    pub fn finish(&self, h: u64) -> u64 {
        if self.avalanche { full_hash(h as u32) as u64 } else { h }
    }

    /// Hash of a key's bytes as this table hashes keys (with `finish`).
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.finish(self.hash.hash(key, 0))
    }

    /// Hash of an integer key (8 bytes little-endian), with `finish`.
    #[inline]
    pub fn key_hash_u64(&self, key: u64) -> u64 {
        self.finish(self.hash.hash_u64(key, 0))
    }

    /// Node index for a finished key hash (ip_hash: an IPv4 address as a number).
    #[inline]
    pub fn lookup(&self, h: u64) -> u32 {
        match &self.built {
            Built::Ring(r) => r.lookup(h),
            Built::NginxHash(p) => p.lookup(h),
            Built::Map(t) => t.lookup(h),
            Built::Maglev(m) => m.lookup(h),
            Built::Jump(n) => jump_bucket(h, *n),
            Built::Rendezvous(r) => r.lookup(h),
            Built::IpHash(ip) => ip.lookup(&ipv4_bytes(h)),
        }
    }

    /// The primary and the next n-1 distinct nodes for a finished key hash.
    pub fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        match &self.built {
            Built::Ring(r) => r.replicas(h, n, out),
            Built::NginxHash(p) => p.replicas(h, n, out),
            Built::Map(t) => t.replicas(h, n, out),
            Built::Maglev(m) => m.replicas(h, n, out),
            Built::Jump(buckets) => jump_replicas(h, *buckets, n, out),
            Built::Rendezvous(r) => r.replicas(h, n, out),
            Built::IpHash(ip) => ip.replicas(&ipv4_bytes(h), n, out),
        }
    }

    /// `n` for replica lookups: 1 ..= the nodes that can hold keys.
    pub fn check_replica_count(&self, n: usize) -> Result<(), BuildError> {
        if n == 0 || n > self.holders {
            return Err(BuildError::new(
                "n",
                format!("must be in 1..={} (nodes that can hold keys), got {n}", self.holders),
            ));
        }
        Ok(())
    }

    /// Node index per key of a validated batch of `m` keys. Err(i): key i is
    /// not an address (ip_hash only).
    pub fn route(&self, batch: KeyBatch<'_>, m: usize) -> Result<Vec<i32>, usize> {
        let algo = self.hash;
        match &self.built {
            Built::IpHash(ip) => {
                let out = par_map(m, Vec::new, |scratch, i| {
                    let mut buf = [0u8; 16];
                    match iphash::batch_address(batch, i, scratch, &mut buf) {
                        Some(len) => ip.lookup(&buf[..len]) as i32,
                        None => -1,
                    }
                });
                match out.iter().position(|&v| v < 0) {
                    Some(bad) => Err(bad),
                    None => Ok(out),
                }
            }
            // One closure per kind so each loop is monomorphic.
            Built::Ring(r) => Ok(batch.map_hashes(algo, 0, |h| r.lookup(self.finish(h)) as i32)),
            Built::Map(t) => Ok(batch.map_hashes(algo, 0, |h| t.lookup(self.finish(h)) as i32)),
            Built::Maglev(m) => Ok(batch.map_hashes(algo, 0, |h| m.lookup(h) as i32)),
            Built::Jump(b) => {
                let hashes = batch.map_hashes(algo, 0, |h| h);
                Ok(par_chunks(&hashes, |h, o| jump_buckets_into(h, *b, o)))
            }
            Built::Rendezvous(r) => Ok(batch.map_hashes(algo, 0, |h| r.lookup(h) as i32)),
            Built::NginxHash(p) => Ok(batch.map_hashes(algo, 0, |h| p.lookup(h) as i32)),
        }
    }

    /// Node index per finished 64-bit hash.
    pub fn route_hashed(&self, h: &[u64]) -> Vec<i32> {
        // Dispatch once per batch so each loop is monomorphic.
        match &self.built {
            Built::Jump(b) => par_chunks(h, |keys, o| jump_buckets_into(keys, *b, o)),
            Built::Ring(r) => par_chunks(h, |keys, o| r.lookup_into(keys, o)),
            Built::Maglev(m) => {
                par_chunks(h, |keys, o| o.iter_mut().zip(keys).for_each(|(slot, &k)| *slot = m.lookup(k) as i32))
            }
            _ => par_map(h.len(), || (), |_, i| self.lookup(h[i]) as i32),
        }
    }

    /// `n` replicas per key of a validated batch of `m` keys, row-major.
    /// Err(i): key i is not an address (ip_hash only).
    pub fn route_replicas(&self, batch: KeyBatch<'_>, m: usize, n: usize) -> Result<Vec<i32>, usize> {
        let algo = self.hash;
        // Row i holds key i's replicas; -1 marks an unparseable IP key.
        let flat = par_rows(m, n, || (Vec::new(), Vec::with_capacity(n)), |(scratch, reps), i, row| {
            match &self.built {
                Built::IpHash(ip) => {
                    let mut buf = [0u8; 16];
                    match iphash::batch_address(batch, i, scratch, &mut buf) {
                        Some(len) => ip.replicas(&buf[..len], n, reps),
                        None => {
                            row.fill(-1);
                            return;
                        }
                    }
                }
                _ => self.replicas(self.finish(batch.hash_at(i, algo, 0, scratch)), n, reps),
            }
            for (slot, &r) in row.iter_mut().zip(reps.iter()) {
                *slot = r as i32;
            }
        });
        match flat.iter().position(|&v| v < 0) {
            Some(bad) => Err(bad / n),
            None => Ok(flat),
        }
    }

    /// Size facts: entries in the table and bytes they use.
    pub fn stats(&self) -> (usize, usize) {
        let nodes = self.node_count;
        match &self.built {
            Built::Ring(r) => (r.len(), r.memory_bytes()),
            Built::Maglev(m) => (m.table().len(), m.table().len() * 4),
            Built::Jump(_) => (0, 0),
            Built::Rendezvous(_) => (nodes, nodes * 16),
            Built::NginxHash(_) => (nodes, nodes * 4),
            Built::Map(t) => (t.table().len(), t.table().len() * 4),
            Built::IpHash(_) => (nodes, nodes * 4),
        }
    }

    /// Ring-shaped kinds (ring, ketama, nginx/HAProxy consistent).
    pub fn as_ring(&self) -> Option<&Ring> {
        match &self.built {
            Built::Ring(r) => Some(r),
            _ => None,
        }
    }

    /// nginx plain hash.
    pub fn as_nginx_hash(&self) -> Option<&PlainHash> {
        match &self.built {
            Built::NginxHash(p) => Some(p),
            _ => None,
        }
    }

    /// ip_hash: keys are addresses.
    pub fn as_ip_hash(&self) -> Option<&IpHash> {
        match &self.built {
            Built::IpHash(ip) => Some(ip),
            _ => None,
        }
    }
}

/// An ip_hash table looked up by a number: the number's low 32 bits as IPv4.
#[inline]
fn ipv4_bytes(v: u64) -> [u8; 3] {
    let b = (v as u32).to_be_bytes();
    [b[0], b[1], b[2]]
}

/// xxh3 over (kind, hash name, names with weights' bits, table contents).
fn fingerprint(config: &Config, built: &Built) -> String {
    let mut bytes = Vec::new();
    for part in [config.kind.name().as_bytes(), config.hash.name().as_bytes()] {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part);
    }
    for (name, weight) in config.names.iter().zip(&config.weights) {
        bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&weight.to_bits().to_le_bytes());
    }
    match built {
        Built::Ring(r) => {
            bytes.extend_from_slice(&[r.rule() as u8]);
            r.points().iter().for_each(|p| bytes.extend_from_slice(&p.to_le_bytes()));
            r.owners().iter().for_each(|o| bytes.extend_from_slice(&o.to_le_bytes()));
        }
        Built::Maglev(m) => m.table().iter().for_each(|o| bytes.extend_from_slice(&o.to_le_bytes())),
        Built::Jump(n) => bytes.extend_from_slice(&n.to_le_bytes()),
        Built::Map(t) => t.table().iter().for_each(|o| bytes.extend_from_slice(&o.to_le_bytes())),
        Built::Rendezvous(_) | Built::IpHash(_) | Built::NginxHash(_) => {}
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Correctly rounded sum of finite values (Shewchuk 1997, "Adaptive Precision
/// Floating-Point Arithmetic", non-overlapping partials; the final half-way
/// correction makes it equal to Python's `math.fsum`). Unlike a running sum
/// it does not depend on the order of the values, so a table built from
/// shuffled nodes normalises their weights identically.
pub fn exact_sum(values: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::with_capacity(8);
    for &value in values {
        let mut x = value;
        let mut kept = 0;
        for k in 0..partials.len() {
            let mut y = partials[k];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    // Add the partials from the largest down; stop at the first inexact step.
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Round half-way cases by the sign of the next partial, as exact rounding requires.
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

#[cfg(test)]
mod exact_sum_tests {
    use super::exact_sum;

    #[test]
    fn order_independent_and_exact() {
        // 0.1 + 0.2 + 0.3 sums to 0.6000000000000001 left to right; exactly rounded it is 0.6.
        assert_eq!(exact_sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(exact_sum(&[0.3, 0.2, 0.1]), 0.6);
        assert_eq!(exact_sum(&[1e100, 1.0, -1e100, 1e-100]), 1.0);
        assert_eq!(exact_sum(&[]), 0.0);
        assert_eq!(exact_sum(&[2.0, 3.5]), 5.5);
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use ring::{LookupRule, RingMode};

    fn config(kind: Kind, weights: &[f64]) -> Config {
        let names = (0..weights.len()).map(|i| format!("n{i}")).collect();
        Config { names, weights: weights.to_vec(), hash: HashAlgorithm::Xxh3, text_keys: false, kind }
    }

    fn ring(points_per_weight: f64, max_ring_size: u64) -> Kind {
        Kind::Ring(RingConfig {
            mode: RingMode::Fixed,
            points_per_weight,
            min_ring_size: 1,
            max_ring_size,
            lookup: LookupRule::AtOrAfter,
            weights_are_shares: false,
        })
    }

    #[test]
    fn limits_are_reported_with_the_argument_name() {
        let arg = |kind: Kind, weights: &[f64]| Table::build(&config(kind, weights)).unwrap_err().arg;
        assert_eq!(arg(ring(160.0, ring::MAX_POINTS + 1), &[1.0]), "max_ring_size");
        assert_eq!(arg(ring(1e9, 1024), &[1.0]), "points_per_weight");
        assert_eq!(arg(ring(0.1, 1024), &[1.0]), "weights/points_per_weight");
        assert_eq!(arg(Kind::Maglev(MaglevConfig { table_size: 8, weights_are_shares: false }), &[1.0]), "table_size");
        let too_big = maglev::MAX_TABLE_SIZE + 2;
        assert_eq!(arg(Kind::Maglev(MaglevConfig { table_size: too_big, weights_are_shares: false }), &[1.0]), "table_size");
        assert_eq!(arg(Kind::NginxHash, &[1_000_001.0]), "weights");
        assert_eq!(arg(Kind::HaproxyMap(MapConfig::default()), &[1.5]), "weights");
        assert_eq!(arg(Kind::Jump, &[0.0, 0.0]), "weights");
    }

    #[test]
    fn replica_count_is_bounded_by_holders() {
        let table = Table::build(&config(Kind::Rendezvous, &[1.0, 0.0, 2.0])).unwrap();
        assert_eq!(table.holders(), 2);
        assert!(table.check_replica_count(2).is_ok());
        assert_eq!(table.check_replica_count(3).unwrap_err().arg, "n");
        assert_eq!(table.check_replica_count(0).unwrap_err().arg, "n");
    }

    #[test]
    fn plain_hash_and_map_failover_skip_nothing_twice() {
        let mut out = Vec::new();
        let plain = Table::build(&config(Kind::NginxHash, &[1.0, 0.0, 2.0, 1.0])).unwrap();
        plain.replicas(12345 << 16, 3, &mut out);
        assert_eq!(out.len(), 3);
        assert!(!out.contains(&1), "a zero-weight peer is never a replica: {out:?}");
        let map = Table::build(&config(Kind::HaproxyMap(MapConfig::default()), &[2.0, 4.0, 6.0])).unwrap();
        map.replicas(0, 3, &mut out);
        assert_eq!(out, [0, 2, 1]); // map_table([2, 4, 6]) = [0, 2, 1, 2, 1, 2]
    }
}
