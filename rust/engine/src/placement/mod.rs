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
use crate::hash::keyed::PlacementKey;
use crate::hash::{full_hash, HashAlgorithm};
use crate::keys::{KeyBatch, KeyError};
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

    /// Kinds that reproduce a public algorithm (nginx, HAProxy, ketama) byte for
    /// byte: a secret would silently break that, so they refuse one (§22.3).
    fn reproduces_public_algorithm(&self) -> bool {
        matches!(
            self,
            Kind::Ketama(_) | Kind::IpHash | Kind::NginxChash | Kind::NginxHash | Kind::HaproxyChash(_) | Kind::HaproxyMap(_)
        )
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
    /// Keyed placement (docs/algorithms.md §22): with a key, every key hash is
    /// SipHash-1-3 under it instead of `hash` (node points still use `hash`).
    pub secret: Option<PlacementKey>,
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

/// Runs `$body` with `$h` bound to the table's key hash over canonical bytes:
/// SipHash-1-3 under the secret's key, else the public `hash` with seed 0.
/// Each branch is its own monomorphic copy of `$body`.
macro_rules! with_key_hash {
    ($table:expr, $h:ident => $body:expr) => {
        match &$table.secret {
            Some(key) => {
                let $h = move |b: &[u8]| key.hash(b);
                $body
            }
            None => {
                let algo = $table.hash;
                let $h = move |b: &[u8]| algo.hash(b, 0);
                $body
            }
        }
    };
}

/// An immutable placement table: key hash → node index.
#[derive(Debug, Clone)]
pub struct Table {
    built: Built,
    hash: HashAlgorithm,
    avalanche: bool,
    text_keys: bool,
    secret: Option<PlacementKey>,
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
        if config.secret.is_some() && (config.kind.reproduces_public_algorithm() || config.text_keys) {
            return Err(BuildError::new(
                "secret",
                format!(
                    "{} reproduces a public algorithm for compatibility and cannot be keyed; use HashRing, Maglev, JumpHash or Rendezvous",
                    if config.text_keys { "the uhashring mode" } else { config.kind.name() }
                ),
            ));
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
            secret: config.secret,
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

    /// Whether key hashes are keyed (SipHash-1-3 under the secret's key).
    pub fn keyed(&self) -> bool {
        self.secret.is_some()
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
        match &self.secret {
            Some(k) => self.finish(k.hash(key)),
            None => self.finish(self.hash.hash(key, 0)),
        }
    }

    /// Hash of an integer key (8 bytes little-endian), with `finish`.
    #[inline]
    pub fn key_hash_u64(&self, key: u64) -> u64 {
        match &self.secret {
            Some(k) => self.finish(k.hash_u64(key)),
            None => self.finish(self.hash.hash_u64(key, 0)),
        }
    }

    /// Key hashes of a batch, before `finish` (what `route_hashed` takes for
    /// every kind without a finishing step).
    pub fn hash_batch(&self, batch: KeyBatch<'_>) -> Result<Vec<u64>, KeyError> {
        with_key_hash!(self, h => batch.hash_all_with(h))
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

    /// Replicas in distinct localities (docs/multi_region.md §6): the key's failover
    /// order with every node whose `codes[node]` is already taken skipped, looking at
    /// n, then 3n + 2, then all holders. False if the order ends short of n.
    pub fn replicas_distinct(&self, h: u64, n: usize, codes: &[u32], scratch: &mut Vec<u32>, out: &mut Vec<u32>) -> bool {
        let mut width = n;
        loop {
            self.replicas(h, width, scratch);
            if distinct_prefix(scratch, codes, n, out) {
                return true;
            }
            if width >= self.holders {
                return false;
            }
            width = if width == n { (3 * n + 2).min(self.holders) } else { self.holders };
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
            // `with_key_hash!` gives the keyed and the unkeyed hash their own loop.
            Built::Ring(r) => Ok(with_key_hash!(self, kh => batch.map_hashes_with(kh, |h| r.lookup(self.finish(h)) as i32))),
            Built::Map(t) => Ok(with_key_hash!(self, kh => batch.map_hashes_with(kh, |h| t.lookup(self.finish(h)) as i32))),
            Built::Maglev(m) => Ok(with_key_hash!(self, kh => batch.map_hashes_with(kh, |h| m.lookup(h) as i32))),
            Built::Jump(b) => {
                let hashes = with_key_hash!(self, kh => batch.map_hashes_with(kh, |h| h));
                Ok(par_chunks(&hashes, |h, o| jump_buckets_into(h, *b, o)))
            }
            Built::Rendezvous(r) => Ok(with_key_hash!(self, kh => batch.map_hashes_with(kh, |h| r.lookup(h) as i32))),
            Built::NginxHash(p) => Ok(with_key_hash!(self, kh => batch.map_hashes_with(kh, |h| p.lookup(h) as i32))),
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
                _ => {
                    let h = match &self.secret {
                        Some(k) => batch.hash_at_with(i, &|b: &[u8]| k.hash(b), scratch),
                        None => batch.hash_at(i, self.hash, 0, scratch),
                    };
                    self.replicas(self.finish(h), n, reps)
                }
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
    let contents = xxhash_rust::xxh3::xxh3_64(&bytes);
    match &config.secret {
        // The digest identifies the secret (keyed HMAC, §22.2) without revealing it.
        Some(key) => format!("{contents:016x}-keyed-{}", key.digest_hex()),
        None => format!("{contents:016x}"),
    }
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
        Config { names, weights: weights.to_vec(), hash: HashAlgorithm::Xxh3, text_keys: false, kind, secret: None }
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
    fn keyed_tables_hash_keys_with_the_secret_everywhere() {
        let secret = b"0123456789abcdef";
        let key = PlacementKey::from_secret(secret).unwrap();
        let words: Vec<String> = (0..500).map(|i| format!("card-{i}")).collect();
        let mut data = Vec::new();
        let mut offsets = vec![0i32];
        for w in &words {
            data.extend_from_slice(w.as_bytes());
            offsets.push(data.len() as i32);
        }
        let batch = KeyBatch::Varlen { data: &data, offsets: crate::keys::Offsets::I32(&offsets) };
        let kinds = [
            ring(40.0, 1 << 20),
            Kind::Maglev(MaglevConfig { table_size: 65537, weights_are_shares: false }),
            Kind::Jump,
            Kind::Rendezvous,
        ];
        for kind in kinds {
            let mut cfg = config(kind, &[1.0, 2.0, 1.0, 3.0]);
            let plain = Table::build(&cfg).unwrap();
            cfg.secret = Some(key);
            let keyed = Table::build(&cfg).unwrap();
            let name = cfg.kind.name();
            // The keyed hash is SipHash-1-3 under the derived key (tests/reference/siphash.py).
            assert_eq!(keyed.key_hash(b"card-42"), 0x213edaf8f8906d45, "{name}");
            assert_eq!(keyed.key_hash_u64(42), 0xe2a22ecaad033a10, "{name}");
            assert_eq!(plain.key_hash(b"card-42"), HashAlgorithm::Xxh3.hash(b"card-42", 0), "{name}");
            let routed = keyed.route(batch, words.len()).unwrap();
            let single: Vec<i32> = words.iter().map(|w| keyed.lookup(keyed.key_hash(w.as_bytes())) as i32).collect();
            assert_eq!(routed, single, "{name}: keyed batch == keyed single");
            assert_ne!(routed, plain.route(batch, words.len()).unwrap(), "{name}: the secret moves keys");
            assert_eq!(keyed.hash_batch(batch).unwrap()[7], key.hash(words[7].as_bytes()), "{name}");
            let reps = keyed.route_replicas(batch, words.len(), 2).unwrap();
            let mut one = Vec::new();
            keyed.replicas(keyed.key_hash(words[9].as_bytes()), 2, &mut one);
            assert_eq!(&reps[18..20], &[one[0] as i32, one[1] as i32], "{name}");
            assert!(keyed.fingerprint().ends_with("-keyed-6895dbffbaaedb1c"), "{name}");
            assert!(!plain.fingerprint().contains("keyed"), "{name}");
        }
    }

    #[test]
    fn compatibility_kinds_refuse_a_secret() {
        let key = PlacementKey::from_secret(&[3u8; 16]).unwrap();
        for kind in [Kind::NginxHash, Kind::NginxChash, Kind::IpHash, Kind::HaproxyMap(MapConfig::default())] {
            let mut cfg = config(kind, &[1.0, 1.0]);
            cfg.secret = Some(key);
            assert_eq!(Table::build(&cfg).unwrap_err().arg, "secret");
        }
        let mut cfg = config(ring(40.0, 1 << 20), &[1.0, 1.0]);
        cfg.text_keys = true;
        cfg.secret = Some(key);
        assert_eq!(Table::build(&cfg).unwrap_err().arg, "secret");
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


/// The first `n` nodes of `order` whose locality code (`codes[node]`) is new, in order
/// (docs/multi_region.md §6); true when n were found. A code outside `codes` counts as
/// its own locality.
pub fn distinct_prefix(order: &[u32], codes: &[u32], n: usize, out: &mut Vec<u32>) -> bool {
    out.clear();
    let mut taken: [u32; 16] = [0; 16];
    let mut more: Vec<u32> = Vec::new();
    for &node in order {
        let code = codes.get(node as usize).copied().unwrap_or(u32::MAX - node);
        let k = out.len();
        let seen = if k <= 16 { taken[..k].contains(&code) } else { taken.contains(&code) || more.contains(&code) };
        if seen {
            continue;
        }
        if k < 16 {
            taken[k] = code;
        } else {
            more.push(code);
        }
        out.push(node);
        if out.len() == n {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod distinct_tests {
    use super::distinct_prefix;

    #[test]
    fn skips_taken_codes_in_order() {
        let mut out = Vec::new();
        assert!(distinct_prefix(&[4, 1, 0, 3, 2], &[0, 0, 1, 1, 2], 3, &mut out));
        assert_eq!(out, vec![4, 1, 3]);
        assert!(!distinct_prefix(&[0, 1], &[5, 5], 2, &mut out));
        assert_eq!(out, vec![0]);
    }
}
