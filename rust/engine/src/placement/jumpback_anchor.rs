// SPDX-License-Identifier: Apache-2.0
//! JumpBackAnchor: any bucket can leave and come back, only the departing
//! bucket's keys move (docs/algorithms.md §24). hash4j's
//! `ConsistentHashing.jumpBackAnchorHash(splitMix64_V1())`: AnchorHash
//! (Mendelson et al., IEEE/ACM ToN 2020, arXiv 1812.09674; §24.2) in the
//! memory-optimised form of its repository's `mem` variant, over JumpBackHash
//! (Ertl 2024) in place of a fixed anchor set, bit-exact with hash4j on tests/data/jumpback_anchor_vectors.json.
//!
//! State = the historic bucket count `total` and the stack of removed ids
//! (hash4j `getState`: 4 + 4 · removed bytes). Expected lookup
//! O(1 + ln²(total / live)) for random removals (hash4j's note).

use std::sync::Arc;

use super::jumpback::{jumpback_from, SplitMix64};
use super::{BuildError, KindOptions, KindSpec, Nodes, Placement};
use crate::batch::par_chunks;

/// `jumpback_anchor`: JumpBackAnchor (`JumpBackAnchorHash`); options `total`
/// and `removed` are the state the face decoded from its bytes.
pub const JUMPBACK_ANCHOR: KindSpec = KindSpec {
    name: "jumpback_anchor",
    reproduces_public_algorithm: false,
    read_options: |o| {
        let total = o.int::<u64>("total")?;
        let removed = o.ints_or_none::<u64>("removed")?.unwrap_or_default();
        Ok(Box::new(AnchorConfig { total, removed }))
    },
};

/// The state: historic bucket count and the removed ids, oldest first.
#[derive(Debug, Clone)]
pub struct AnchorConfig {
    pub total: u64,
    pub removed: Vec<u64>,
}

impl KindOptions for AnchorConfig {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        Ok(Arc::new(JumpBackAnchor::build(self.total, &self.removed, nodes.names.len())?))
    }
}

impl Placement for JumpBackAnchor {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        JumpBackAnchor::lookup(self, h)
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        JumpBackAnchor::replicas(self, h, n, out)
    }

    fn holders(&self, _weights: &[f64]) -> usize {
        self.node_of.len() - self.removed.len()
    }

    fn stats(&self, _node_count: usize) -> (usize, usize) {
        (self.total as usize, self.memory_bytes())
    }

    fn fingerprint_contents(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.total.to_le_bytes());
        self.removed.iter().for_each(|b| out.extend_from_slice(&b.to_le_bytes()));
    }

    fn route_hashed(&self, h: &[u64]) -> Vec<i32> {
        par_chunks(h, |keys, o| self.lookup_into(keys, o))
    }
}

/// Largest historic bucket count: per-bucket arrays of 12 bytes stay ≤ 192 MiB.
pub const MAX_BUCKETS: u64 = 1 << 24;

/// Per bucket id: `view` = live buckets right after its removal (0 = live),
/// `successor` = the bucket that took its position in that view (AnchorHash's
/// A and K arrays).
#[derive(Debug, Clone, Copy, Default)]
struct Removal {
    view: u32,
    successor: u32,
}

#[derive(Debug, Clone)]
pub struct JumpBackAnchor {
    total: u32,
    removed: Vec<u32>,
    removal: Vec<Removal>,
    /// Bucket id → node index (live ids in ascending order are nodes 0, 1, …).
    node_of: Vec<u32>,
}

impl JumpBackAnchor {
    /// From a state (`total`, removed stack oldest first) and the live node count.
    /// Errors name `state` (or `nodes` for a count mismatch).
    pub fn build(total: u64, removed: &[u64], nodes: usize) -> Result<Self, BuildError> {
        if total == 0 || total > MAX_BUCKETS {
            return Err(BuildError::new("state", format!("historic bucket count must be in 1..={MAX_BUCKETS}, got {total}")));
        }
        if removed.len() as u64 >= total {
            return Err(BuildError::new(
                "state",
                format!("{} removed buckets leave no live bucket of {total}", removed.len()),
            ));
        }
        let live = total as usize - removed.len();
        if nodes != live {
            return Err(BuildError::new("nodes", format!("the state has {live} live buckets, got {nodes} nodes")));
        }
        let mut table = JumpBackAnchor {
            total: total as u32,
            removed: Vec::with_capacity(removed.len()),
            removal: vec![Removal::default(); total as usize],
            node_of: vec![u32::MAX; total as usize],
        };
        for &b in removed {
            if b >= total || table.removal[b as usize].view != 0 {
                return Err(BuildError::new(
                    "state",
                    format!("removed bucket id {b} is out of range 0..{total} or listed twice"),
                ));
            }
            table.push_removal(b as u32);
        }
        let mut next = 0u32;
        for (b, r) in table.removal.iter().enumerate() {
            if r.view == 0 {
                table.node_of[b] = next;
                next += 1;
            }
        }
        Ok(table)
    }

    /// AnchorHash removal: the last position of the previous view takes b's place.
    fn push_removal(&mut self, b: u32) {
        self.removed.push(b);
        let live = self.total - self.removed.len() as u32;
        let successor = self.holder(live, live + 1);
        self.removal[b as usize] = Removal { view: live, successor };
    }

    /// The bucket at `position` among the `view` buckets live at that moment.
    #[inline]
    fn holder(&self, mut b: u32, view: u32) -> u32 {
        loop {
            let r = self.removal[b as usize];
            if r.view < view {
                return b; // live (view 0) or removed only in a smaller view
            }
            b = r.successor;
        }
    }

    /// Bucket id of the key hash `h` (hash4j `getBucket`).
    #[inline]
    pub fn bucket(&self, h: u64) -> u32 {
        if self.total <= 1 {
            return 0;
        }
        let mut rng = SplitMix64::new(h);
        let mut b = jumpback_from(&mut rng, self.total);
        loop {
            let view = self.removal[b as usize].view;
            if view == 0 {
                return b;
            }
            // The stream goes on from JumpBackHash's last draw.
            b = self.holder(rng.below(view), view);
        }
    }

    /// Node index of the key hash `h`.
    #[inline]
    pub fn lookup(&self, h: u64) -> u32 {
        self.node_of[self.bucket(h) as usize]
    }

    pub fn lookup_into(&self, keys: &[u64], out: &mut [i32]) {
        for (o, &k) in out.iter_mut().zip(keys) {
            *o = self.lookup(k) as i32;
        }
    }

    /// Failover order over node indices (jump.rs `probe_replicas`).
    pub fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        let live = self.total - self.removed.len() as u32;
        super::jump::probe_replicas(h, live, n, out, |k| self.lookup(k))
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    pub fn removed(&self) -> &[u32] {
        &self.removed
    }

    /// Bytes of the lookup arrays.
    pub fn memory_bytes(&self) -> usize {
        self.removal.len() * std::mem::size_of::<Removal>() + self.node_of.len() * 4 + self.removed.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::super::jumpback::vectors::*;
    use super::*;

    /// hash4j's add/remove rules, applied to a (total, stack) state.
    fn apply(ops: &[(bool, u64)]) -> (u64, Vec<u64>) {
        let (mut total, mut removed) = (0u64, Vec::new());
        for &(add, id) in ops {
            if add {
                let got = if let Some(b) = removed.pop() { b } else { total += 1; total - 1 };
                assert_eq!(got, id);
            } else if removed.is_empty() && id == total - 1 {
                total -= 1;
            } else {
                removed.push(id);
            }
        }
        (total, removed)
    }

    #[test]
    fn hash4j_vectors() {
        let text = data("jumpback_anchor_vectors.json");
        let hashes = ints_after(&text, "hashes");
        let scenarios: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("{\"name\"")).collect();
        assert_eq!(scenarios.len(), 21);
        for s in scenarios {
            let ops_at = s.find("\"ops\":[").unwrap() + 7;
            let ops_end = s[ops_at..].find("]]").map(|e| ops_at + e + 1).unwrap_or(ops_at);
            let ops: Vec<(bool, u64)> = s[ops_at..ops_end]
                .split("],")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let p = p.trim_start_matches('[').trim_end_matches(']');
                    let (op, id) = p.split_once(',').unwrap();
                    (op == "\"add\"", id.parse().unwrap())
                })
                .collect();
            let (total, removed) = apply(&ops);
            let mut state = (total as u32).to_le_bytes().to_vec();
            removed.iter().for_each(|b| state.extend_from_slice(&(*b as u32).to_le_bytes()));
            let hex: String = state.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, str_after(s, "state"), "{s:.60}");
            let live = ints_after(s, "buckets");
            let table = JumpBackAnchor::build(total, &removed, live.len()).unwrap();
            let expected = ints_after(&s[s.find("\"expected\"").unwrap()..], "expected");
            for (h, want) in hashes.iter().zip(&expected) {
                assert_eq!(table.bucket(*h) as u64, *want, "{s:.60} h={h}");
                assert_eq!(live[table.lookup(*h) as usize], *want);
            }
        }
    }

    #[test]
    fn bad_states_name_the_argument() {
        assert_eq!(JumpBackAnchor::build(0, &[], 0).unwrap_err().arg, "state");
        assert_eq!(JumpBackAnchor::build(MAX_BUCKETS + 1, &[], 1).unwrap_err().arg, "state");
        assert_eq!(JumpBackAnchor::build(3, &[0, 1, 2], 0).unwrap_err().arg, "state");
        assert_eq!(JumpBackAnchor::build(3, &[1, 1], 1).unwrap_err().arg, "state");
        assert_eq!(JumpBackAnchor::build(3, &[5], 2).unwrap_err().arg, "state");
        assert_eq!(JumpBackAnchor::build(3, &[1], 3).unwrap_err().arg, "nodes");
    }

    #[test]
    fn removing_any_bucket_moves_only_its_keys() {
        let mut rng = SplitMix64::new(3);
        let keys: Vec<u64> = (0..20_000).map(|_| rng.next_u64()).collect();
        let before = JumpBackAnchor::build(40, &[3, 17], 38).unwrap();
        for gone in [0u64, 5, 39, 21] {
            let after = JumpBackAnchor::build(40, &[3, 17, gone], 37).unwrap();
            for &k in &keys {
                let (a, b) = (before.bucket(k), after.bucket(k));
                assert!(a == b || a as u64 == gone, "{a} -> {b}");
                assert_ne!(b as u64, gone);
            }
        }
    }
}
