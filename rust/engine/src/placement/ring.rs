// SPDX-License-Identifier: Apache-2.0
//! Consistent hash ring: one implementation for fastroute's own rings and
//! for every compatibility target (docs/algorithms.md §2 Envoy, §6 nginx, §7
//! HAProxy, §9 ketama). PyO3-free.
//!
//! API:
//! - `Ring::from_points(points, node_count, rule)`: any caller-made points
//!   `(point, owner)`; sorted here by (point, owner) so equal points resolve
//!   deterministically.
//! - `fixed_points(...)` / `normalized_points(...)`: fastroute's generators.
//!   Both name point j of node `name` by the bytes `name + "_" + decimal(j)`
//!   (Envoy's point key, §2.3), so with `xxh64` a normalized ring is Envoy's.
//! - `lookup(h)`, `replicas(h, n, out)`.
//!
//! Lookups use a bucket index over the top bits of the point: the binary
//! search touches only the few points sharing a bucket (`bucket_bits`).

use std::sync::Arc;

use super::recycle::Recycled;
use super::{AsAny, BuildError, KeyHasher, KindOptions, KindSpec, NodeChange, Nodes, OptionReader, Placement};
use crate::batch::par_map_items;
use crate::hash::HashAlgorithm;
use crate::keys::KeyBatch;

/// `ring`: fastroute's own hash ring (`HashRing`).
pub const RING: KindSpec = KindSpec {
    name: "ring",
    reproduces_public_algorithm: false,
    read_options: |o| Ok(Box::new(RingConfig::read(o)?)),
};

/// Which point a key hash `h` lands on (§21: targets differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupRule {
    /// First point >= h, wrapping (ketama, Envoy, nginx).
    AtOrAfter,
    /// First point > h, wrapping (uhashring, mpchash).
    After,
    /// Closest point on the circle; ties go to the predecessor (HAProxy).
    Nearest,
    /// `Nearest` on a 32-bit circle (points and hashes < 2^32): distances
    /// wrap at 2^32, as in HAProxy's consistent tree (§7.2 step 6).
    Nearest32,
}

impl LookupRule {
    pub const NAMES: &'static [&'static str] = &["at_or_after", "after", "nearest"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "at_or_after" => Some(Self::AtOrAfter),
            "after" => Some(Self::After),
            "nearest" => Some(Self::Nearest),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RingError {
    TooManyPoints(u64),
    /// Normalized mode: the weights (given as shares) need more points than max_ring_size.
    SharesExceedRing { points: f64, max_ring_size: u64 },
    Empty,
    RingSizeBounds,
}

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingError::TooManyPoints(n) => write!(f, "ring would have {n} points, more than {MAX_POINTS}"),
            RingError::SharesExceedRing { points, max_ring_size } => write!(
                f,
                "the shares need {points:.0} ring points, more than max_ring_size ({max_ring_size}); shares must sum to at most 1"
            ),
            RingError::Empty => write!(f, "no node holds a point (all weights too small)"),
            RingError::RingSizeBounds => write!(f, "min_ring_size must be >= 1 and <= max_ring_size"),
        }
    }
}

/// How a `ring` table sizes its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingMode {
    /// round(w_i × points_per_weight) points per node, independent of the others.
    Fixed,
    /// Envoy's min/max ring size normalisation (§2.2–2.3).
    Normalized,
}

impl RingMode {
    pub const NAMES: &'static [&'static str] = &["fixed", "normalized"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fixed" => Some(Self::Fixed),
            "normalized" => Some(Self::Normalized),
            _ => None,
        }
    }
}

/// Options of the generic hash ring (`HashRing`).
#[derive(Clone, Debug)]
pub struct RingConfig {
    pub mode: RingMode,
    pub points_per_weight: f64,
    pub min_ring_size: u64,
    pub max_ring_size: u64,
    pub lookup: LookupRule,
    /// Normalized mode: the weights are Envoy locality shares, used as they are.
    pub weights_are_shares: bool,
}

impl RingConfig {
    pub fn read(o: &mut OptionReader<'_>) -> Result<Self, BuildError> {
        Ok(RingConfig {
            mode: o.choice("mode", RingMode::NAMES, RingMode::from_name)?,
            points_per_weight: o.float("points_per_weight")?,
            min_ring_size: o.int("min_ring_size")?,
            max_ring_size: o.int("max_ring_size")?,
            lookup: o.choice("lookup", LookupRule::NAMES, LookupRule::from_name)?,
            weights_are_shares: o.bool("weights_are_shares")?,
        })
    }

    pub fn build(&self, names: &[&[u8]], weights: &[f64], hash: HashAlgorithm) -> Result<Ring, BuildError> {
        if self.max_ring_size == 0 || self.max_ring_size > MAX_POINTS {
            return Err(BuildError::new("max_ring_size", format!("must be in [1, {MAX_POINTS}], got {}", self.max_ring_size)));
        }
        if self.min_ring_size > self.max_ring_size {
            return Err(BuildError::new(
                "min_ring_size",
                format!("must be <= max_ring_size ({}), got {}", self.max_ring_size, self.min_ring_size),
            ));
        }
        let points = match self.mode {
            RingMode::Fixed => fixed_points(names, weights, self.points_per_weight, hash).map_err(fixed_error)?,
            RingMode::Normalized => normalized_points(
                names,
                weights,
                self.min_ring_size,
                self.max_ring_size,
                hash,
                self.weights_are_shares,
            )
            .map_err(sizing)?,
        };
        Ring::from_points(points, names.len(), self.lookup).map_err(sizing)
    }
}

/// A ring sizing error, as the `weights/points_per_weight` argument.
fn sizing(e: RingError) -> BuildError {
    BuildError::new("weights/points_per_weight", e.to_string())
}

/// Fixed mode's errors: too many points is the `points_per_weight` argument's.
fn fixed_error(e: RingError) -> BuildError {
    match e {
        RingError::TooManyPoints(_) => BuildError::new(
            "points_per_weight",
            format!("the ring would exceed {MAX_POINTS_TEXT} points; lower it or the weights"),
        ),
        other => sizing(other),
    }
}

impl KindOptions for RingConfig {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        Ok(Arc::new(RingConfig::build(self, nodes.name_bytes, nodes.weights, nodes.hash)?))
    }

    fn update(&self, old: &dyn Placement, change: NodeChange<'_>, nodes: &Nodes<'_>)
        -> Option<Result<Arc<dyn Placement>, BuildError>> {
        // Normalized mode: every node's count depends on the smallest share, so it rebuilds.
        if self.mode != RingMode::Fixed {
            return None;
        }
        let old = <dyn Placement as AsAny>::as_any(old).downcast_ref::<Ring>()?;
        let points_of = |owner: usize| {
            fixed_points(&nodes.name_bytes[owner..=owner], &nodes.weights[owner..=owner], self.points_per_weight, nodes.hash)
        };
        Some(old.changed(change, nodes.names.len(), points_of).map(|r| Arc::new(r) as Arc<dyn Placement>).map_err(fixed_error))
    }
}

/// Every ring-shaped kind (ring, ketama, nginx and HAProxy consistent) builds a `Ring`.
impl Placement for Ring {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        Ring::lookup(self, h)
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        Ring::replicas(self, h, n, out)
    }

    fn holders(&self, _weights: &[f64]) -> usize {
        Ring::holders(self)
    }

    fn stats(&self, _node_count: usize) -> (usize, usize) {
        (self.len(), self.memory_bytes())
    }

    fn fingerprint_contents(&self, out: &mut Vec<u8>) {
        out.push(self.rule() as u8);
        // Sized once and filled in place: a push per value cost more than hashing them.
        let start = out.len();
        out.resize(start + self.len() * 12, 0);
        let (points, owners) = out[start..].split_at_mut(self.len() * 8);
        points.chunks_exact_mut(8).zip(self.points()).for_each(|(dst, p)| dst.copy_from_slice(&p.to_le_bytes()));
        owners.chunks_exact_mut(4).zip(self.owners()).for_each(|(dst, o)| dst.copy_from_slice(&o.to_le_bytes()));
    }

    fn route(&self, keys: &KeyHasher, batch: KeyBatch<'_>, _m: usize) -> Result<Vec<i32>, usize> {
        Ok(self.route_keys(keys, batch))
    }

    /// One loop per lookup rule, written in place (docs/build.md §12).
    fn route_hashed(&self, h: &[u64]) -> Vec<i32> {
        match self.rule {
            LookupRule::AtOrAfter => par_map_items(h, |&k| self.owner_after_search(self.search(k, false))),
            LookupRule::After => par_map_items(h, |&k| self.owner_after_search(self.search(k, true))),
            LookupRule::Nearest | LookupRule::Nearest32 => par_map_items(h, |&k| self.lookup(k) as i32),
        }
    }
}

/// Largest ring we build: 2**27 points ≈ 1.5 GiB would be absurd for routing.
pub const MAX_POINTS: u64 = 1 << 26;
/// MAX_POINTS as error messages spell it.
pub const MAX_POINTS_TEXT: &str = "2**26";
/// Points compared branch-free per lookup before falling back to a search.
const PROBE: usize = 4;

/// Bits of the bucket index for `n` points. Up to 2^14 buckets (a 64 KiB
/// index, cache-resident next to the points) two to four buckets per point —
/// the bucket-indexed loop of the ceiling benchmark ran fastest at two to four
/// on small rings, and at 14–15 bits alike on 16 000 points (docs/build.md
/// §12), where the smaller index halves what an incremental update rewrites
/// (§13); beyond that one bucket per point at most (≤ 4 bytes per point), at
/// most 2^20. At least 1, so the shift stays below 64.
fn bucket_bits(n: usize) -> u32 {
    let floor_log2 = usize::BITS - 1 - n.leading_zeros();
    (floor_log2 + 2).min(14).max(floor_log2).clamp(1, 20)
}

#[derive(Clone, Debug)]
pub struct Ring {
    points: Vec<u64>,
    owners: Vec<u32>,
    rule: LookupRule,
    node_count: usize,
    /// Number of distinct owners holding at least one point.
    holders: usize,
    /// `bucket_start[b]` = first index whose point has top bits >= b.
    bucket_start: Vec<u32>,
    bucket_shift: u32,
}

impl Ring {
    pub fn from_points(mut pairs: Vec<(u64, u32)>, node_count: usize, rule: LookupRule) -> Result<Ring, RingError> {
        if pairs.is_empty() {
            return Err(RingError::Empty);
        }
        if pairs.len() as u64 > MAX_POINTS {
            return Err(RingError::TooManyPoints(pairs.len() as u64));
        }
        pairs.sort_unstable();
        let mut points: Vec<u64> = Vec::with_capacity(pairs.len() + PROBE);
        points.extend(pairs.iter().map(|p| p.0));
        let owners: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        Ok(Ring::from_sorted(points, owners, node_count, rule))
    }

    /// The finishing step of every ring build: `points` / `owners` already in
    /// (point, owner) order, non-empty, at most MAX_POINTS (`points` may have
    /// spare capacity for the padding).
    fn from_sorted(mut points: Vec<u64>, owners: Vec<u32>, node_count: usize, rule: LookupRule) -> Ring {
        let mut seen = vec![false; node_count];
        for &o in &owners {
            seen[o as usize] = true;
        }
        let holders = seen.iter().filter(|&&s| s).count();
        let bits = bucket_bits(points.len());
        let bucket_shift = 64 - bits;
        let bucket_start = bucket_starts(&points, bits);
        points.extend(std::iter::repeat_n(u64::MAX, PROBE)); // padding for branch-free probes
        Ring { points, owners, rule, node_count, holders, bucket_start, bucket_shift }
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    pub fn node_count(&self) -> usize {
        self.node_count
    }

    pub fn holders(&self) -> usize {
        self.holders
    }

    pub fn rule(&self) -> LookupRule {
        self.rule
    }

    pub fn points(&self) -> &[u64] {
        &self.points[..self.owners.len()]
    }

    pub fn owners(&self) -> &[u32] {
        &self.owners
    }

    /// Index of the first point >= h (or > h when `strict`), possibly `len()`.
    /// Always inlined: the batch loops are this search, and as a call it cost
    /// a third of `route_hashed` (docs/build.md §12).
    #[inline(always)]
    fn search(&self, h: u64, strict: bool) -> usize {
        // bits >= 1 (from_points), so the shift is < 64.
        let b = (h >> self.bucket_shift) as usize;
        debug_assert!(b + 1 < self.bucket_start.len() && self.points.len() == self.owners.len() + PROBE);
        // SAFETY: from_points builds 2^bits + 1 bucket starts (b < 2^bits), each
        // <= len(), and pads `points` by PROBE, so every read below is in bounds.
        let (lo, hi) = unsafe {
            (*self.bucket_start.get_unchecked(b) as usize, *self.bucket_start.get_unchecked(b + 1) as usize)
        };
        // A bucket holds ~1–2 points: count the first PROBE slots without
        // branches (points are sorted, so the count is the partition point),
        // search the rest. Slots past the bucket hold later buckets' points or
        // the u64::MAX padding, all > h (their top bits are above h's), so
        // they never count — except the padding under the strict rule when
        // h = u64::MAX, hence the width test there only.
        let width = hi - lo;
        let probe: &[u64; PROBE] = unsafe { &*(self.points.as_ptr().add(lo) as *const [u64; PROBE]) };
        let mut count = 0usize;
        if strict {
            for (k, &p) in probe.iter().enumerate() {
                count += ((k < width) & (p <= h)) as usize;
            }
        } else {
            for &p in probe {
                count += (p < h) as usize;
            }
        }
        if count == PROBE && width > PROBE {
            let rest = unsafe { self.points.get_unchecked(lo + PROBE..hi) };
            count += if strict { rest.partition_point(|&p| p <= h) } else { rest.partition_point(|&p| p < h) };
        }
        lo + count
    }

    /// Owner of the point `search` returned (`len()` wraps to the first point).
    #[inline(always)]
    fn owner_after_search(&self, i: usize) -> i32 {
        let i = if i == self.owners.len() { 0 } else { i };
        // SAFETY: `search` returns at most len() (lo + count <= hi <= len()), wrapped above.
        unsafe { *self.owners.get_unchecked(i) as i32 }
    }

    /// Ring index (into `points`/`owners`) the hash lands on.
    #[inline(always)]
    pub fn lookup_index(&self, h: u64) -> usize {
        let n = self.owners.len();
        match self.rule {
            LookupRule::AtOrAfter => {
                let i = self.search(h, false);
                if i == n { 0 } else { i }
            }
            LookupRule::After => {
                let i = self.search(h, true);
                if i == n { 0 } else { i }
            }
            LookupRule::Nearest | LookupRule::Nearest32 => {
                let i = self.search(h, false);
                let next = if i == n { 0 } else { i };
                let prev = if i == 0 { n - 1 } else { i - 1 };
                let (forward, backward) = if self.rule == LookupRule::Nearest32 {
                    ((self.points[next] as u32).wrapping_sub(h as u32) as u64,
                     (h as u32).wrapping_sub(self.points[prev] as u32) as u64)
                } else {
                    (self.points[next].wrapping_sub(h), h.wrapping_sub(self.points[prev]))
                };
                if backward <= forward { prev } else { next }
            }
        }
    }

    #[inline]
    pub fn lookup(&self, h: u64) -> u32 {
        self.owners[self.lookup_index(h)]
    }

    /// Node per key of a batch: one loop per lookup rule (no per-key match;
    /// the hash is resolved once per batch by `KeyHasher::map_batch`).
    pub fn route_keys(&self, keys: &KeyHasher, batch: KeyBatch<'_>) -> Vec<i32> {
        match self.rule {
            LookupRule::AtOrAfter => keys.map_batch(batch, |h| self.owner_after_search(self.search(h, false))),
            LookupRule::After => keys.map_batch(batch, |h| self.owner_after_search(self.search(h, true))),
            LookupRule::Nearest | LookupRule::Nearest32 => keys.map_batch(batch, |h| self.lookup(h) as i32),
        }
    }

    /// Primary plus the next distinct owners clockwise. `n` must be <= holders().
    pub fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        out.clear();
        let len = self.owners.len();
        let mut i = self.lookup_index(h);
        for _ in 0..len {
            let o = self.owners[i];
            if !out.contains(&o) {
                out.push(o);
                if out.len() == n {
                    return;
                }
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }

    /// Next ring index clockwise (wrapping).
    #[inline]
    pub fn next_index(&self, i: usize) -> usize {
        if i + 1 == self.owners.len() { 0 } else { i + 1 }
    }

    pub fn memory_bytes(&self) -> usize {
        self.points.len() * 8 + self.owners.len() * 4 + self.bucket_start.len() * 4
    }
}

/// `starts[b]` = index of the first point whose top `bits` bits are >= b (b in
/// 0..=2^bits) for sorted `points`, with no data-dependent branch (a scan that stops at each bucket's end mispredicts
/// about once per bucket, which made it most of an incremental update's cost).
fn bucket_starts(points: &[u64], bits: u32) -> Vec<u32> {
    let buckets = 1usize << bits;
    let mut starts = vec![0u32; buckets + 1];
    if bits == 0 {
        starts[1] = points.len() as u32;
        return starts;
    }
    let shift = 64 - bits;
    // The points are sorted: the last write to starts[b + 1] is one past bucket b's
    // last point; an empty bucket inherits the running maximum.
    let ends = &mut starts[1..];
    for (i, &p) in points.iter().enumerate() {
        ends[(p >> shift) as usize] = i as u32 + 1;
    }
    // A running maximum without indexing: an update rebuilds this index, and with
    // up to four buckets per point (bucket_bits) this pass is most of its cost.
    let mut running = 0u32;
    for start in starts.iter_mut() {
        running = running.max(*start);
        *start = running;
    }
    starts
}

/// Point key bytes `name + "_" + decimal(j)` (Envoy's host point key, §2.3),
/// for one node: the `name_` prefix is written once, each key rewrites the digits
/// only (copying the name per point was most of an added node's key cost).
struct PointKeys {
    buf: Vec<u8>,
    prefix: usize,
}

impl PointKeys {
    fn new(name: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(name.len() + 21);
        buf.extend_from_slice(name);
        buf.push(b'_');
        PointKeys { prefix: buf.len(), buf }
    }

    #[inline]
    fn key(&mut self, j: u64) -> &[u8] {
        let mut digits = [0u8; 20];
        let mut k = digits.len();
        let mut v = j;
        loop {
            k -= 1;
            digits[k] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.truncate(self.prefix);
        self.buf.extend_from_slice(&digits[k..]);
        &self.buf
    }
}

/// Fixed mode: node i gets `round(weights[i] * points_per_weight)` points, so
/// a node's points depend only on its own name and weight; adding or
/// removing a node moves only that node's keys (§17, envoy issue #22558).
pub fn fixed_points(
    names: &[&[u8]],
    weights: &[f64],
    points_per_weight: f64,
    algo: HashAlgorithm,
) -> Result<Vec<(u64, u32)>, RingError> {
    // Counted in f64 first: a huge weight must be refused, not wrap a u64 sum.
    let planned: f64 = weights.iter().map(|w| (w * points_per_weight).round()).sum();
    if !(planned <= MAX_POINTS as f64) {
        return Err(RingError::TooManyPoints(if planned.is_finite() { planned as u64 } else { u64::MAX }));
    }
    let counts: Vec<u64> = weights.iter().map(|w| (w * points_per_weight).round() as u64).collect();
    let total: u64 = counts.iter().sum();
    let mut pairs = Vec::with_capacity(total as usize);
    for (i, (name, &count)) in names.iter().zip(&counts).enumerate() {
        let mut keys = PointKeys::new(name);
        pairs.extend((0..count).map(|j| (algo.hash(keys.key(j), 0), i as u32)));
    }
    Ok(pairs)
}

/// Envoy's normalised mode (§2.2–2.3): weights scaled so the smallest node
/// gets >= min_ring_size * share points, capped at max_ring_size in total;
/// points are handed out by a running sum carried across nodes in order.
pub fn normalized_points(
    names: &[&[u8]],
    weights: &[f64],
    min_ring_size: u64,
    max_ring_size: u64,
    algo: HashAlgorithm,
    weights_are_shares: bool,
) -> Result<Vec<(u64, u32)>, RingError> {
    if min_ring_size == 0 || min_ring_size > max_ring_size {
        return Err(RingError::RingSizeBounds);
    }
    if max_ring_size > MAX_POINTS {
        return Err(RingError::TooManyPoints(max_ring_size));
    }
    // Envoy's locality weighting hands in shares computed by the caller (§2.2).
    // Shares via a power-of-two rescale: exact for ordinary weights, no overflow for huge ones.
    let normalized: Vec<f64> =
        if weights_are_shares { weights.to_vec() } else { crate::placement::weights::shares(weights) };
    // Envoy initialises min at 1.0 and only counts hosts that are on the ring.
    let mut min_w = 1.0f64;
    for &w in &normalized {
        if w > 0.0 && w < min_w {
            min_w = w;
        }
    }
    let scale = ((min_w * min_ring_size as f64).ceil() / min_w).min(max_ring_size as f64);
    // The running sum below makes about scale × Σshares points: refuse before
    // allocating when caller-given shares sum to more than 1 (plus rounding).
    let planned = scale * normalized.iter().sum::<f64>();
    if !(planned <= max_ring_size as f64 * (1.0 + 1e-9) + 1.0) {
        return Err(RingError::SharesExceedRing { points: planned, max_ring_size });
    }
    let mut pairs = Vec::with_capacity(scale.ceil() as usize + names.len());
    let mut current = 0.0f64;
    let mut target = 0.0f64;
    for (i, (name, &w)) in names.iter().zip(&normalized).enumerate() {
        if w == 0.0 {
            continue;
        }
        target += scale * w;
        let mut j = 0u64;
        let mut keys = PointKeys::new(name);
        while current < target {
            pairs.push((algo.hash(keys.key(j), 0), i as u32));
            j += 1;
            current += 1.0;
        }
    }
    Ok(pairs)
}

// ---- Incremental updates (docs/algorithms.md §25.1) ----

impl Ring {
    /// This ring after `change` (`node_count`: nodes after it), equal to `from_points`
    /// over every node's points: the unchanged nodes' points are kept in order (owners
    /// after a removed node renumbered down, which keeps their order), only the
    /// changed node's are made, by `points_of(owner)` (owner field ignored), and put
    /// at their (point, owner) places: runs of the old arrays are copied between
    /// the dropped and inserted entries, O(P) copying, no re-hash, no re-sort.
    pub fn changed(
        &self,
        change: NodeChange<'_>,
        node_count: usize,
        points_of: impl FnOnce(usize) -> Result<Vec<(u64, u32)>, RingError>,
    ) -> Result<Ring, RingError> {
        let (dropped, shifted, added_owner) = match change {
            NodeChange::Add { .. } => (None, false, Some(node_count - 1)),
            NodeChange::Remove { index } => (Some(index as u32), true, None),
            NodeChange::Reweight { index, .. } => (Some(index as u32), false, Some(index)),
        };
        let mut added: Vec<u64> = match added_owner {
            Some(owner) => points_of(owner)?.into_iter().map(|p| p.0).collect(),
            None => Vec::new(),
        };
        added.sort_unstable();
        let new_owner = added_owner.unwrap_or(0) as u32;
        let (old_points, old_owners) = (self.points(), self.owners());
        // Old indices of the dropped node's entries, in order.
        let cuts: Vec<usize> = match dropped {
            Some(d) => indices_of(old_owners, d),
            None => Vec::new(),
        };
        let total = (old_points.len() - cuts.len()) as u64 + added.len() as u64;
        if total > MAX_POINTS {
            return Err(RingError::TooManyPoints(total));
        }
        if total == 0 {
            return Err(RingError::Empty);
        }
        // Old index each added point goes before: the first entry with (point, owner) >=
        // (p, new_owner), found through the bucket index. A dropped entry there is
        // skipped anyway (it is the same owner).
        let inserts: Vec<usize> = added
            .iter()
            .map(|&p| {
                let mut i = self.search(p, false);
                while i < old_points.len() && old_points[i] == p && old_owners[i] < new_owner {
                    i += 1;
                }
                i
            })
            .collect();
        let total = total as usize;
        // Owners after a removed node move down one, as they are copied.
        let renumber_above = if shifted { dropped } else { None };
        let mut points: Vec<u64> = RECYCLED_POINTS.take(total + PROBE);
        let mut owners: Vec<u32> = RECYCLED_WORDS.take(total);
        let (mut at, mut cut, mut ins) = (0usize, 0usize, 0usize);
        loop {
            let next_cut = cuts.get(cut).copied().unwrap_or(usize::MAX);
            let next_ins = inserts.get(ins).copied().unwrap_or(usize::MAX);
            let next = next_cut.min(next_ins);
            let until = next.min(old_points.len());
            points.extend_from_slice(&old_points[at..until]);
            copy_owners(&mut owners, &old_owners[at..until], renumber_above);
            if next == usize::MAX {
                break;
            }
            at = next;
            if next_ins <= next_cut {
                points.push(added[ins]);
                owners.push(new_owner);
                ins += 1;
            } else {
                at += 1; // the dropped entry
                cut += 1;
            }
        }
        // What from_sorted would count and index, derived from this ring's: holders
        // change by the changed node alone, and each bucket start moves by the points
        // added and dropped below it (a rebuild of the index scanned every point and
        // bucket, most of an update's cost), unless the bucket count changes.
        let holders = self.holders - (!cuts.is_empty()) as usize + (!added.is_empty()) as usize;
        let bits = bucket_bits(owners.len());
        let bucket_shift = 64 - bits;
        let bucket_start = if bucket_shift == self.bucket_shift {
            moved_bucket_starts(&self.bucket_start, bucket_shift, cuts.iter().map(|&i| old_points[i]), &added)
        } else {
            bucket_starts(&points, bits)
        };
        points.extend(std::iter::repeat_n(u64::MAX, PROBE)); // padding for branch-free probes
        Ok(Ring { points, owners, rule: self.rule, node_count, holders, bucket_start, bucket_shift })
    }
}

/// Appends `run` to `owners` (which has room for it), each owner above `renumber_above`
/// one lower: written into the spare capacity in one pass (a mapped `extend` did not
/// vectorize, and copy-then-renumber passed over the array twice).
#[inline]
fn copy_owners(owners: &mut Vec<u32>, run: &[u32], renumber_above: Option<u32>) {
    let Some(d) = renumber_above else {
        owners.extend_from_slice(run);
        return;
    };
    let spare = &mut owners.spare_capacity_mut()[..run.len()]; // panics, never overflows, if short
    for (slot, &o) in spare.iter_mut().zip(run) {
        slot.write(o - (o > d) as u32);
    }
    // SAFETY: the run.len() slots after len() were written just above.
    unsafe { owners.set_len(owners.len() + run.len()) };
}

/// Arrays of dropped rings, for the next update's (recycle.rs: no page faults).
static RECYCLED_POINTS: Recycled<u64> = Recycled::new();
static RECYCLED_WORDS: Recycled<u32> = Recycled::new();

impl Drop for Ring {
    fn drop(&mut self) {
        RECYCLED_POINTS.give(std::mem::take(&mut self.points));
        RECYCLED_WORDS.give(std::mem::take(&mut self.owners));
        RECYCLED_WORDS.give(std::mem::take(&mut self.bucket_start));
    }
}

/// Indices of `owner`'s entries in `owners`, in order: a match mask per 16
/// entries, then one step per match (a node holds ~1/n of the entries).
fn indices_of(owners: &[u32], owner: u32) -> Vec<usize> {
    const CHUNK: usize = 16;
    let mut found = Vec::new();
    let chunks = owners.chunks_exact(CHUNK);
    let tail = chunks.remainder();
    for (c, chunk) in chunks.enumerate() {
        let mut mask = match_mask(chunk.try_into().expect("16 entries"), owner);
        while mask != 0 {
            found.push(c * CHUNK + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
    let base = owners.len() - tail.len();
    found.extend(tail.iter().enumerate().filter(|&(_, &o)| o == owner).map(|(i, _)| base + i));
    found
}

/// Bit i set where `chunk[i] == owner`. x86-64: four SSE2 compares packed to one
/// movemask (SSE2 is in the x86-64 baseline); the portable loop compiled to a
/// compare and shift per entry, four times the instructions.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn match_mask(chunk: &[u32; 16], owner: u32) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi32, _mm_loadu_si128, _mm_movemask_epi8, _mm_packs_epi16, _mm_packs_epi32, _mm_set1_epi32, __m128i,
    };
    // SAFETY: SSE2 is always present on x86-64; the four unaligned loads read the
    // chunk's 64 bytes. packs keep lane order, so byte i of the result is entry i.
    unsafe {
        let needle = _mm_set1_epi32(owner as i32);
        let at = chunk.as_ptr() as *const __m128i;
        let eq = |k: usize| _mm_cmpeq_epi32(_mm_loadu_si128(at.add(k)), needle);
        let low = _mm_packs_epi32(eq(0), eq(1));
        let high = _mm_packs_epi32(eq(2), eq(3));
        _mm_movemask_epi8(_mm_packs_epi16(low, high)) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn match_mask(chunk: &[u32; 16], owner: u32) -> u32 {
    chunk.iter().enumerate().fold(0u32, |mask, (i, &o)| mask | ((o == owner) as u32) << i)
}

/// The bucket index after a change, from the one before (same bucket count):
/// starts[b] counts the points in buckets below b, so it moves by the added points
/// minus the dropped points below b. `dropped` and `added`: sorted points.
fn moved_bucket_starts(old: &[u32], shift: u32, dropped: impl Iterator<Item = u64>, added: &[u64]) -> Vec<u32> {
    let mut starts = RECYCLED_WORDS.take(old.len());
    let mut dropped = dropped.map(|p| (p >> shift) as usize).peekable();
    let mut added = added.iter().map(|&p| (p >> shift) as usize).peekable();
    let mut delta = 0u32; // wrapping: the count moves down as well as up
    let mut next = 0usize; // first bucket not written yet
    loop {
        let (bucket, step) = match (dropped.peek(), added.peek()) {
            (None, None) => break,
            (Some(&d), Some(&a)) if a <= d => (a, 1u32),
            (Some(&d), _) => (d, u32::MAX),
            (None, Some(&a)) => (a, 1u32),
        };
        if step == 1 {
            added.next();
        } else {
            dropped.next();
        }
        // A point in `bucket` counts for the starts above it only.
        if bucket >= next {
            starts.extend(old[next..=bucket].iter().map(|&s| s.wrapping_add(delta)));
            next = bucket + 1;
        }
        delta = delta.wrapping_add(step);
    }
    starts.extend(old[next..].iter().map(|&s| s.wrapping_add(delta)));
    starts
}

#[cfg(test)]
mod incremental_tests {
    use super::*;

    /// xorshift64 stream.
    fn stream(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn changed_equals_from_points_with_many_equal_points() {
        // Points drawn from 0..6: nearly every point is shared, so the (point, owner)
        // tie order decides the arrays; each change is checked against a fresh sort.
        let mut next = stream(0x9E37_79B9_7F4A_7C15);
        for round in 0..400 {
            let n = 1 + (next() % 6) as usize;
            let mut per_node: Vec<Vec<u64>> = (0..n).map(|_| (0..next() % 5).map(|_| next() % 6).collect()).collect();
            if per_node.iter().all(|p| p.is_empty()) {
                per_node[0].push(3);
            }
            let pairs = |nodes: &[Vec<u64>]| -> Vec<(u64, u32)> {
                nodes.iter().enumerate().flat_map(|(i, ps)| ps.iter().map(move |&p| (p, i as u32))).collect()
            };
            let rule = [LookupRule::AtOrAfter, LookupRule::After, LookupRule::Nearest][round % 3];
            let ring = Ring::from_points(pairs(&per_node), n, rule).unwrap();
            let fresh: Vec<u64> = (0..1 + next() % 5).map(|_| next() % 6).collect();
            let (change, after) = match next() % 3 {
                0 => {
                    let mut after = per_node.clone();
                    after.push(fresh.clone());
                    (NodeChange::Add { name: "x", weight: 1.0 }, after)
                }
                1 if n > 1 => {
                    let index = (next() % n as u64) as usize;
                    let mut after = per_node.clone();
                    after.remove(index);
                    (NodeChange::Remove { index }, after)
                }
                _ => {
                    let index = (next() % n as u64) as usize;
                    let mut after = per_node.clone();
                    after[index] = fresh.clone();
                    (NodeChange::Reweight { index, weight: 1.0 }, after)
                }
            };
            let expected = Ring::from_points(pairs(&after), after.len(), rule);
            let got = ring.changed(change, after.len(), |_| Ok(fresh.iter().map(|&p| (p, 99)).collect()));
            match (expected, got) {
                (Ok(want), Ok(have)) => {
                    assert_eq!(have.points(), want.points(), "round {round} {change:?}");
                    assert_eq!(have.owners(), want.owners(), "round {round} {change:?}");
                    assert_eq!(have.holders(), want.holders());
                    assert_eq!(have.bucket_start, want.bucket_start);
                    for h in 0..8u64 {
                        assert_eq!(have.lookup(h), want.lookup(h));
                    }
                }
                (Err(want), Err(have)) => assert_eq!(have, want),
                (want, have) => panic!("round {round}: {want:?} vs {have:?}"),
            }
        }
    }

    #[test]
    fn changed_equals_from_points_across_buckets_and_bucket_counts() {
        // Spread points (every bucket in play) on rings whose size crosses powers of
        // two, where the bucket count changes and the index is rebuilt, not moved.
        let mut next = stream(0x51_7CC1_B727_220A);
        for round in 0..300 {
            let n = 2 + (next() % 12) as usize;
            let per_node: Vec<Vec<u64>> =
                (0..n).map(|_| (0..1 + next() % 40).map(|_| if next() % 8 == 0 { next() % 64 } else { next() }).collect()).collect();
            let pairs = |nodes: &[Vec<u64>]| -> Vec<(u64, u32)> {
                nodes.iter().enumerate().flat_map(|(i, ps)| ps.iter().map(move |&p| (p, i as u32))).collect()
            };
            let rule = [LookupRule::AtOrAfter, LookupRule::After, LookupRule::Nearest][round % 3];
            let ring = Ring::from_points(pairs(&per_node), n, rule).unwrap();
            let fresh: Vec<u64> = (0..1 + next() % 40).map(|_| next()).collect();
            let index = (next() % n as u64) as usize;
            let (change, after) = match round % 3 {
                0 => {
                    let mut after = per_node.clone();
                    after.push(fresh.clone());
                    (NodeChange::Add { name: "x", weight: 1.0 }, after)
                }
                1 => {
                    let mut after = per_node.clone();
                    after.remove(index);
                    (NodeChange::Remove { index }, after)
                }
                _ => {
                    let mut after = per_node.clone();
                    after[index] = fresh.clone();
                    (NodeChange::Reweight { index, weight: 1.0 }, after)
                }
            };
            let want = Ring::from_points(pairs(&after), after.len(), rule).unwrap();
            let have = ring.changed(change, after.len(), |_| Ok(fresh.iter().map(|&p| (p, 99)).collect())).unwrap();
            assert_eq!(have.points, want.points, "round {round} {change:?}");
            assert_eq!(have.owners(), want.owners(), "round {round} {change:?}");
            assert_eq!(have.holders(), want.holders(), "round {round}");
            assert_eq!((have.bucket_shift, &have.bucket_start), (want.bucket_shift, &want.bucket_start), "round {round}");
        }
    }

    #[test]
    fn match_mask_sets_the_bit_of_each_equal_entry() {
        let mut next = stream(11);
        for _ in 0..2000 {
            let owner = (next() % 4) as u32;
            let chunk: [u32; 16] = std::array::from_fn(|_| if next() % 3 == 0 { u32::MAX - (next() % 2) as u32 } else { (next() % 4) as u32 });
            let want = (0..16).filter(|&i| chunk[i] == owner).fold(0u32, |m, i| m | 1 << i);
            assert_eq!(match_mask(&chunk, owner), want);
            assert_eq!(match_mask(&chunk, u32::MAX), (0..16).filter(|&i| chunk[i] == u32::MAX).fold(0u32, |m, i| m | 1 << i));
        }
    }

    #[test]
    fn indices_of_finds_every_entry_in_order() {
        let mut next = stream(7);
        for len in [0usize, 1, 15, 16, 17, 100, 1000] {
            let owners: Vec<u32> = (0..len).map(|_| (next() % 5) as u32).collect();
            for owner in 0..6 {
                let want: Vec<usize> = (0..len).filter(|&i| owners[i] == owner).collect();
                assert_eq!(indices_of(&owners, owner), want, "len {len} owner {owner}");
            }
        }
    }

    #[test]
    fn bucket_starts_agree_with_a_partition_point_per_bucket() {
        let mut next = stream(42);
        for size in [1usize, 2, 5, 100, 4096, 5000] {
            let mut points: Vec<u64> = (0..size).map(|_| next()).collect();
            points.sort_unstable();
            let bits = (usize::BITS - 1 - points.len().leading_zeros()).min(20);
            let starts = bucket_starts(&points, bits);
            for (b, &start) in starts.iter().enumerate() {
                let floor = if bits == 0 || b == 1 << bits { u64::MAX } else { (b as u64) << (64 - bits) };
                let want = if b == 1 << bits { points.len() } else if bits == 0 { 0 } else { points.partition_point(|&p| p < floor) };
                assert_eq!(start as usize, want, "size {size} bucket {b}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envoy_hosts(ports: std::ops::RangeInclusive<u32>) -> Vec<String> {
        ports.map(|p| format!("127.0.0.1:{p}")).collect()
    }

    #[test]
    fn envoy_basic_ring_vector() {
        // docs/algorithms.md §2.5 vector 1 (ring_hash_lb_test.cc Basic), [V-pub].
        let hosts = envoy_hosts(90..=95);
        let names: Vec<&[u8]> = hosts.iter().map(|h| h.as_bytes()).collect();
        let pts = normalized_points(&names, &[1.0; 6], 12, 8 << 20, HashAlgorithm::Xxh64, false).unwrap();
        let ring = Ring::from_points(pts, 6, LookupRule::AtOrAfter).unwrap();
        let expected: [(u32, u64); 12] = [
            (4, 833437586790550860), (2, 928266305478181108), (0, 1033482794131418490),
            (5, 3551244743356806947), (3, 3851675632748031481), (1, 5583722120771150861),
            (1, 6311230543546372928), (3, 7700377290971790572), (5, 13144177310400110813),
            (2, 13444792449719432967), (4, 15516499411664133160), (0, 16117243373044804889),
        ];
        for (k, (owner, point)) in expected.iter().enumerate() {
            assert_eq!(ring.points()[k], *point);
            assert_eq!(ring.owners()[k], *owner);
        }
        assert_eq!(ring.lookup(0), 4);
        assert_eq!(ring.lookup(u64::MAX), 4);
        assert_eq!(ring.lookup(3551244743356806947), 5);
        assert_eq!(ring.lookup(3551244743356806948), 3);
        assert_eq!(ring.lookup(16117243373044804880), 0);
    }

    #[test]
    fn bucket_index_agrees_with_plain_binary_search() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for size in [1usize, 2, 3, 17, 1000, 5000] {
            let pairs: Vec<(u64, u32)> = (0..size).map(|i| (next(), (i % 7) as u32)).collect();
            for rule in [LookupRule::AtOrAfter, LookupRule::After, LookupRule::Nearest] {
                let ring = Ring::from_points(pairs.clone(), 7, rule).unwrap();
                let pts = ring.points().to_vec();
                for _ in 0..2000 {
                    let h = next();
                    let lb = pts.partition_point(|&p| p < h);
                    let ub = pts.partition_point(|&p| p <= h);
                    let want = match rule {
                        LookupRule::AtOrAfter => lb % pts.len(),
                        LookupRule::After => ub % pts.len(),
                        LookupRule::Nearest | LookupRule::Nearest32 => {
                            let nx = lb % pts.len();
                            let pv = (lb + pts.len() - 1) % pts.len();
                            if h.wrapping_sub(pts[pv]) <= pts[nx].wrapping_sub(h) { pv } else { nx }
                        }
                    };
                    assert_eq!(ring.lookup_index(h), want);
                    // An exact hit selects that point, except under the strict rule.
                    let p = pts[(h as usize) % pts.len()];
                    if rule != LookupRule::After {
                        assert_eq!(ring.points()[ring.lookup_index(p)], p);
                    }
                }
            }
        }
    }

    #[test]
    fn crowded_buckets_and_the_top_of_the_circle() {
        // 40 points in one bucket (the search past the probes), equal points, and
        // points at u64::MAX: the strict rule must not count the padding.
        let mut pairs: Vec<(u64, u32)> = (0..40u64).map(|i| ((7 << 58) + i * 3, (i % 3) as u32)).collect();
        pairs.extend([(u64::MAX, 1), (u64::MAX, 2), (u64::MAX - 1, 0), (1 << 40, 2), (1 << 40, 0)]);
        for rule in [LookupRule::AtOrAfter, LookupRule::After, LookupRule::Nearest] {
            let ring = Ring::from_points(pairs.clone(), 3, rule).unwrap();
            let pts = ring.points().to_vec();
            for h in (0..130u64).map(|i| (7 << 58) + i - 3).chain([0, 1 << 40, (1 << 40) + 1, u64::MAX - 1, u64::MAX]) {
                let lb = pts.partition_point(|&p| p < h);
                let ub = pts.partition_point(|&p| p <= h);
                let want = match rule {
                    LookupRule::AtOrAfter => lb % pts.len(),
                    LookupRule::After => ub % pts.len(),
                    _ => {
                        let (nx, pv) = (lb % pts.len(), (lb + pts.len() - 1) % pts.len());
                        if h.wrapping_sub(pts[pv]) <= pts[nx].wrapping_sub(h) { pv } else { nx }
                    }
                };
                assert_eq!(ring.lookup_index(h), want, "{rule:?} h={h}");
                assert_eq!(ring.route_hashed(&[h])[0], ring.owners()[want] as i32, "{rule:?} h={h}");
            }
        }
    }

    #[test]
    fn replicas_are_distinct_and_start_with_primary() {
        let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        let pts = fixed_points(&refs, &[1.0; 10], 50.0, HashAlgorithm::Xxh3).unwrap();
        let ring = Ring::from_points(pts, 10, LookupRule::AtOrAfter).unwrap();
        let mut out = Vec::new();
        for h in [0u64, 1 << 40, u64::MAX] {
            ring.replicas(h, 10, &mut out);
            assert_eq!(out[0], ring.lookup(h));
            let mut sorted = out.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 10);
        }
    }

    #[test]
    fn fixed_mode_point_counts() {
        let names: [&[u8]; 3] = [b"a", b"b", b"c"];
        let pts = fixed_points(&names, &[1.0, 2.0, 0.0], 160.0, HashAlgorithm::Xxh3).unwrap();
        assert_eq!(pts.len(), 480);
        assert_eq!(pts.iter().filter(|p| p.1 == 1).count(), 320);
    }

    #[test]
    fn point_keys_are_decimal() {
        let mut keys = PointKeys::new(b"127.0.0.1:90");
        assert_eq!(keys.key(0), b"127.0.0.1:90_0");
        assert_eq!(keys.key(1234567), b"127.0.0.1:90_1234567");
        assert_eq!(keys.key(12), b"127.0.0.1:90_12"); // a shorter key after a longer one
        assert_eq!(PointKeys::new(b"x").key(u64::MAX), b"x_18446744073709551615");
    }
}

