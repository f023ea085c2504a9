// SPDX-License-Identifier: Apache-2.0
//! Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
//! arXiv 1608.01350; docs/algorithms.md §5) as a deterministic batch assignment:
//! node i may take at most ceil(c * m * w_i / Σw) of the m keys; keys are
//! placed in batch order, each on the first node clockwise with room.

use super::ring::Ring;

/// Per-node capacities for a batch of `m` keys with balance factor `c`.
/// Only nodes holding ring points share the batch (a node with weight but no
/// point could never take a key), so the capacities always sum to >= m.
pub fn capacities(ring: &Ring, weights: &[f64], m: usize, c: f64) -> Vec<u64> {
    let mut holds = vec![false; weights.len()];
    ring.owners().iter().for_each(|&o| holds[o as usize] = true);
    let usable: Vec<f64> = weights.iter().zip(&holds).map(|(&w, &h)| if h { w } else { 0.0 }).collect();
    let shares = crate::placement::weights::shares(&usable);
    shares.iter().map(|s| (c * m as f64 * s).ceil() as u64).collect()
}

/// Assigns hashed keys; `capacity` must sum to >= hashes.len() over ring holders.
pub fn assign_bounded(ring: &Ring, hashes: &[u64], capacity: &[u64]) -> Vec<i32> {
    let mut load = vec![0u64; capacity.len()];
    let owners = ring.owners();
    hashes
        .iter()
        .map(|&h| {
            let mut i = ring.lookup_index(h);
            // Σ capacity over holders >= m guarantees a free node within one lap.
            for _ in 0..owners.len() {
                let o = owners[i] as usize;
                if load[o] < capacity[o] {
                    load[o] += 1;
                    return o as i32;
                }
                i = ring.next_index(i);
            }
            -1
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashAlgorithm;
    use crate::placement::ring::{fixed_points, LookupRule};

    #[test]
    fn no_node_exceeds_its_capacity() {
        let names: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        let weights = [1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0];
        let ring = Ring::from_points(fixed_points(&refs, &weights, 40.0, HashAlgorithm::Xxh3).unwrap(), 8, LookupRule::AtOrAfter).unwrap();
        let hashes: Vec<u64> = (0..10_000u64).map(|k| HashAlgorithm::Xxh3.hash_u64(k, 0)).collect();
        let cap = capacities(&ring, &weights, hashes.len(), 1.1);
        let out = assign_bounded(&ring, &hashes, &cap);
        let mut counts = vec![0u64; 8];
        for &o in &out {
            assert!(o >= 0);
            counts[o as usize] += 1;
        }
        for i in 0..8 {
            assert!(counts[i] <= cap[i], "node {i}: {} > {}", counts[i], cap[i]);
        }
    }
}
