// SPDX-License-Identifier: Apache-2.0
//! nginx `hash $key consistent` points and plain `hash $key` (docs/algorithms.md §6):
//! the weight rule both share, the consistent ring's points, and the plain
//! hash table with its lookup, failover and retry rules.

use std::sync::Arc;

use super::ring::{LookupRule, Ring, MAX_POINTS, MAX_POINTS_TEXT};
use super::{BuildError, KindSpec, NoOptions, Nodes, Placement};

/// `nginx_chash`: nginx `hash $key consistent` (`NginxConsistentHash`); no options.
pub const NGINX_CHASH: KindSpec = KindSpec {
    name: "nginx_chash",
    reproduces_public_algorithm: true,
    read_options: |_| Ok(Box::new(NoOptions(build_chash_table))),
};

/// `nginx_hash`: nginx plain `hash $key` (`NginxPlainHash`); no options.
pub const NGINX_HASH: KindSpec = KindSpec {
    name: "nginx_hash",
    reproduces_public_algorithm: true,
    read_options: |_| Ok(Box::new(NoOptions(|nodes| Ok(Arc::new(PlainHash::build(nodes.weights)?))))),
};

fn build_chash_table(nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
    let servers: Vec<&str> = nodes.names.iter().map(|s| &**s).collect();
    Ok(Arc::new(build_chash(&servers, nodes.weights)?))
}

/// nginx `weight=` accepts 1..=1000000 (`down` servers are given weight 0 here).
pub const MAX_WEIGHT: f64 = 1_000_000.0;
/// Points per unit of weight on the consistent ring (`ngx_http_upstream_hash_module.c`).
const POINTS_PER_WEIGHT: u64 = 160;

/// Integer nginx weights; both kinds refuse a ring that would exceed the
/// engine's point limit (the plain kind shares the rule so one upstream
/// builds as either).
pub fn integer_weights(weights: &[f64]) -> Result<Vec<u32>, BuildError> {
    if weights.iter().any(|w| w.fract() != 0.0 || *w > MAX_WEIGHT) {
        return Err(BuildError::new("weights", "nginx weights are integers in [0, 1000000]"));
    }
    let w: Vec<u32> = weights.iter().map(|&x| x as u32).collect();
    if w.iter().map(|&x| x as u64 * POINTS_PER_WEIGHT).sum::<u64>() > MAX_POINTS {
        return Err(BuildError::new(
            "weights",
            format!("{POINTS_PER_WEIGHT} points per unit of weight would exceed {MAX_POINTS_TEXT} points"),
        ));
    }
    Ok(w)
}

/// `hash $key consistent`: the ring nginx builds, looked up at-or-after.
pub fn build_chash(servers: &[&str], weights: &[f64]) -> Result<Ring, BuildError> {
    let w = integer_weights(weights)?;
    Ring::from_points(chash_points(servers, &w), servers.len(), LookupRule::AtOrAfter)
        .map_err(|e| BuildError::new("weights", e.to_string()))
}

/// Plain `hash $key` over the servers' weights (§6.3); keys hash with CRC-32.
#[derive(Debug, Clone)]
pub struct PlainHash {
    weights: Vec<u32>,
    total_weight: u64,
}

impl PlainHash {
    pub fn build(weights: &[f64]) -> Result<PlainHash, BuildError> {
        let weights = integer_weights(weights)?;
        let total_weight = weights.iter().map(|&x| x as u64).sum();
        Ok(PlainHash { weights, total_weight })
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Peer of attempt 0 for a key's CRC-32.
    #[inline]
    pub fn lookup(&self, crc: u64) -> u32 {
        plain_hash_peer(crc, &self.weights, self.total_weight)
    }

    /// Failover order: the hashed peer, then the other serving peers in config order.
    pub fn replicas(&self, crc: u64, n: usize, out: &mut Vec<u32>) {
        out.clear();
        let count = self.weights.len() as u32;
        let first = self.lookup(crc);
        out.push(first);
        for k in 1..count {
            let p = (first + k) % count;
            if self.weights[p as usize] > 0 && out.len() < n {
                out.push(p);
            }
        }
    }

    /// The peers of nginx's 21 hash attempts for `key`.
    pub fn attempts(&self, key: &[u8]) -> Vec<u32> {
        plain_hash_attempts(key, &self.weights, self.total_weight)
    }

    /// With unusable (`down`) peers: the first usable peer of the 21
    /// attempts, else the first usable peer (nginx's round-robin fallback
    /// starts there). `usable` has one flag per peer, at least one true.
    pub fn first_usable(&self, key: &[u8], usable: &[bool]) -> u32 {
        let fallback = usable.iter().position(|&u| u).unwrap_or(0) as u32;
        plain_hash_first_usable(key, &self.weights, self.total_weight, usable).unwrap_or(fallback)
    }
}

impl Placement for PlainHash {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        PlainHash::lookup(self, h)
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        PlainHash::replicas(self, h, n, out)
    }

    fn stats(&self, node_count: usize) -> (usize, usize) {
        (node_count, node_count * 4)
    }
}

/// Splits a `server` argument as nginx does for its hash points (§6.1 step 2).
pub fn split_server(server: &str) -> (&str, &str) {
    if server.len() >= 5 && server[..5].eq_ignore_ascii_case("unix:") {
        return (&server[5..], "");
    }
    let bytes = server.as_bytes();
    let mut i = bytes.len();
    while i > 0 && bytes[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i > 0 && i < bytes.len() && bytes[i - 1] == b':' {
        (&server[..i - 1], &server[i..])
    } else {
        (server, "")
    }
}

/// 160 × weight points per server: point = crc32(host ‖ 0x00 ‖ port ‖ LE32(prev)).
/// Sorted by (point, owner); equal points keep the first (nginx deduplicates
/// after qsort; which server survives a collision is libc-dependent there).
pub fn chash_points(servers: &[&str], weights: &[u32]) -> Vec<(u64, u32)> {
    let mut pairs = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let (host, port) = split_server(server);
        let mut base = crc32fast::Hasher::new();
        base.update(host.as_bytes());
        base.update(&[0u8]);
        base.update(port.as_bytes());
        let mut prev = 0u32;
        for _ in 0..160 * weights[i] as u64 {
            let mut h = base.clone();
            h.update(&prev.to_le_bytes());
            prev = h.finalize();
            pairs.push((prev as u64, i as u32));
        }
    }
    pairs.sort_unstable();
    pairs.dedup_by_key(|p| p.0);
    pairs
}

/// Plain `hash $key`, attempt 0 (Cache::Memcached compatible, §6.3), from the
/// key's CRC-32: ((crc >> 16) & 0x7fff) mod total weight, walked over the weights.
#[inline]
pub fn plain_hash_peer(crc: u64, weights: &[u32], total_weight: u64) -> u32 {
    let part = ((crc as u32 >> 16) & 0x7fff) as u64;
    let mut w = part % total_weight;
    let mut i = 0usize;
    while w >= weights[i] as u64 {
        w -= weights[i] as u64;
        i += 1;
    }
    i as u32
}

/// Attempts nginx makes for a plain `hash $key` when earlier peers are
/// unusable (§6.3): attempt r hashes decimal(r) ‖ key (r = 0: the key alone),
/// accumulates (crc >> 16) & 0x7fff, and walks the weights; 21 attempts,
/// after which nginx falls back to round robin.
pub fn plain_hash_attempts(key: &[u8], weights: &[u32], total_weight: u64) -> Vec<u32> {
    let mut acc = 0u64;
    let mut out = Vec::with_capacity(21);
    for r in 0..21u32 {
        let mut h = crc32fast::Hasher::new();
        if r > 0 {
            h.update(r.to_string().as_bytes());
        }
        h.update(key);
        acc += ((h.finalize() >> 16) & 0x7fff) as u64;
        let mut w = acc % total_weight;
        let mut i = 0usize;
        while w >= weights[i] as u64 {
            w -= weights[i] as u64;
            i += 1;
        }
        out.push(i as u32);
    }
    out
}

/// The first attempt (of the 21) whose peer is usable, if any.
pub fn plain_hash_first_usable(key: &[u8], weights: &[u32], total_weight: u64, usable: &[bool]) -> Option<u32> {
    plain_hash_attempts(key, weights, total_weight).into_iter().find(|&p| usable[p as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::ring::{LookupRule, Ring};

    #[test]
    fn first_attempt_is_the_plain_hash() {
        let w = [1u32, 2, 3];
        for key in [&b"hello"[..], b"", b"card-1"] {
            assert_eq!(plain_hash_attempts(key, &w, 6)[0], plain_hash_peer(crc32fast::hash(key) as u64, &w, 6));
        }
    }

    #[test]
    fn server_strings_split_like_nginx() {
        assert_eq!(split_server("10.0.0.1:8080"), ("10.0.0.1", "8080"));
        assert_eq!(split_server("[::1]:8080"), ("[::1]", "8080"));
        assert_eq!(split_server("backend.example.com"), ("backend.example.com", ""));
        assert_eq!(split_server("UNIX:/tmp/s"), ("/tmp/s", ""));
    }

    #[test]
    fn live_nginx_vectors() {
        // docs/algorithms.md §6.4 [V-live]: first two points of 127.0.0.1:18081.
        let pts = chash_points(&["127.0.0.1:18081"], &[1]);
        assert!(pts.iter().any(|p| p.0 == 107741689) && pts.iter().any(|p| p.0 == 3706434429));
        let keys = ["hello", "txn-000001", "4111111111111111", "merchant:42", "a", "b", "c", "0", "1", "2"];
        let c3 = ["127.0.0.1:18081", "127.0.0.1:18082", "127.0.0.1:18083"];
        let check = |servers: &[&str], weights: &[u32], want: [u32; 10]| {
            let ring = Ring::from_points(chash_points(servers, weights), servers.len(), LookupRule::AtOrAfter).unwrap();
            for (k, w) in keys.iter().zip(want) {
                let port: u32 = servers[ring.lookup(crc32fast::hash(k.as_bytes()) as u64) as usize][10..].parse().unwrap();
                assert_eq!(port, w, "key {k}");
            }
        };
        check(&c3, &[1, 1, 1], [18083, 18083, 18083, 18081, 18082, 18083, 18082, 18082, 18083, 18081]);
        check(&c3, &[1, 2, 3], [18083, 18083, 18083, 18081, 18083, 18083, 18083, 18083, 18083, 18082]);
        check(&["127.0.0.1:18081", "127.0.0.1:18083"], &[1, 1],
              [18083, 18083, 18083, 18081, 18081, 18083, 18083, 18081, 18083, 18081]);
    }
}
