// SPDX-License-Identifier: Apache-2.0
//! Ketama continuum points (docs/algorithms.md §9), handed to the one `Ring`.
//!
//! - libketama: node i gets floor(float32(w_i/Σw) × 40 × N) MD5 digests of
//!   "<name>-<k>", 4 little-endian u32 points each; duplicates kept; lookup
//!   first point >= h.
//! - uhashring "ketama": (vnodes_i × N × w_i) // Σw digests of "<name>-<k>",
//!   `replicas` points each; points live in a dict, so on a collision the
//!   node written last owns the point; lookup first point > h.
//! - uhashring default ("meta"): vnodes_i × w_i points, MD5("<name>-<k>") as a
//!   128-bit big-endian integer (kept as its top 64 bits); dict semantics.
//! - fastring 0.2.1: vnodes_i × w_i points xxh3_64(name + "#" + u32 LE j),
//!   duplicates kept, equal points in node order; lookup first point >= h
//!   (docs/algorithms.md §9.3).

use std::collections::HashMap;
use std::sync::Arc;

use super::ring::{LookupRule, Ring, MAX_POINTS, MAX_POINTS_TEXT};
use super::{AsAny, BuildError, KindOptions, KindSpec, NodeChange, Nodes, OptionReader, Placement};
use crate::hash::md5_digest;
use xxhash_rust::xxh3::xxh3_64;

/// `ketama`: libketama / uhashring continuum (`Ketama`), a public algorithm.
pub const KETAMA: KindSpec = KindSpec {
    name: "ketama",
    reproduces_public_algorithm: true,
    read_options: |o| Ok(Box::new(KetamaConfig::read(o)?)),
};

/// Ketama options; `vnodes` None means 40 per node.
#[derive(Debug, Clone)]
pub struct KetamaConfig {
    pub flavor: Flavor,
    pub vnodes: Option<Vec<u64>>,
    /// Points per digest (uhashring `replicas`), 1..=4.
    pub replicas: usize,
}

impl KetamaConfig {
    pub fn read(o: &mut OptionReader<'_>) -> Result<Self, BuildError> {
        Ok(KetamaConfig {
            flavor: o.choice("flavor", Flavor::NAMES, Flavor::from_name)?,
            vnodes: o.ints_or_none("vnodes")?,
            replicas: o.int("replicas")?,
        })
    }

    pub fn build(&self, names: &[&[u8]], weights: &[f64]) -> Result<Ring, BuildError> {
        let vnodes = self.vnodes.clone().unwrap_or_else(|| vec![40; names.len()]);
        if vnodes.len() != names.len() || self.replicas == 0 || self.replicas > 4 {
            return Err(BuildError::new("vnodes/replicas", "one vnodes count per node, replicas in 1..=4"));
        }
        let rule = if matches!(self.flavor, Flavor::LibKetama | Flavor::Fastring) {
            LookupRule::AtOrAfter
        } else {
            LookupRule::After
        };
        check_planned(&vnodes, weights)?;
        let points = ketama_points(names, weights, &vnodes, self.replicas, self.flavor);
        Ring::from_points(points, names.len(), rule).map_err(ring_error)
    }
}

/// Refuse absurd sizes before generating anything (a typo must not hang the build).
fn check_planned(vnodes: &[u64], weights: &[f64]) -> Result<(), BuildError> {
    let planned: f64 = vnodes.iter().zip(weights).map(|(&v, &w)| v as f64 * w.max(1.0) * 4.0).sum();
    if planned > MAX_POINTS as f64 * 4.0 {
        return Err(BuildError::new("vnodes/weights", format!("the ring would exceed {MAX_POINTS_TEXT} points")));
    }
    Ok(())
}

fn ring_error(e: super::ring::RingError) -> BuildError {
    BuildError::new("vnodes/weights", e.to_string())
}

impl KindOptions for KetamaConfig {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        Ok(Arc::new(KetamaConfig::build(self, nodes.name_bytes, nodes.weights)?))
    }

    /// fastring: a node's points depend on its own name, vnodes and weight only, so
    /// they merge (docs/algorithms.md §25.1). libketama's and uhashring's counts
    /// depend on the total weight and node count (and uhashring's dict keeps one
    /// owner per colliding point): those rebuild.
    fn update(&self, old: &dyn Placement, change: NodeChange<'_>, nodes: &Nodes<'_>)
        -> Option<Result<Arc<dyn Placement>, BuildError>> {
        if self.flavor != Flavor::Fastring {
            return None;
        }
        let old = <dyn Placement as AsAny>::as_any(old).downcast_ref::<Ring>()?;
        let count = nodes.names.len();
        let vnodes = self.vnodes.clone().unwrap_or_else(|| vec![40; count]);
        if vnodes.len() != count || self.replicas == 0 || self.replicas > 4 {
            return None; // the build reports it
        }
        if let Err(e) = check_planned(&vnodes, nodes.weights) {
            return Some(Err(e));
        }
        let points_of = |i: usize| {
            Ok(ketama_points(&nodes.name_bytes[i..=i], &nodes.weights[i..=i], &vnodes[i..=i], self.replicas, self.flavor))
        };
        Some(old.changed(change, count, points_of).map(|r| Arc::new(r) as Arc<dyn Placement>).map_err(ring_error))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    LibKetama,
    UhashringKetama,
    UhashringMeta,
    Fastring,
}

impl Flavor {
    pub const NAMES: &'static [&'static str] = &["libketama", "uhashring_ketama", "uhashring_meta", "fastring"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "libketama" => Some(Self::LibKetama),
            "uhashring_ketama" => Some(Self::UhashringKetama),
            "uhashring_meta" => Some(Self::UhashringMeta),
            "fastring" => Some(Self::Fastring),
            _ => None,
        }
    }
}

fn point_name(name: &[u8], k: u64) -> Vec<u8> {
    let mut key = name.to_vec();
    key.push(b'-');
    key.extend_from_slice(k.to_string().as_bytes());
    key
}

/// `weights` must be integers for the uhashring flavours (node "weight" conf).
pub fn ketama_points(names: &[&[u8]], weights: &[f64], vnodes: &[u64], replicas: usize, flavor: Flavor) -> Vec<(u64, u32)> {
    let n = names.len();
    match flavor {
        Flavor::LibKetama => {
            let total: f64 = weights.iter().sum();
            let mut pairs = Vec::new();
            for (i, name) in names.iter().enumerate() {
                // libketama computes the share in single precision (§9.1 step 2).
                let pct = weights[i] as f32 / total as f32;
                let ks = ((pct as f64 * 40.0 * n as f64) as f32).floor() as u64;
                for k in 0..ks {
                    let d = md5_digest(&point_name(name, k));
                    for j in 0..4 {
                        let p = u32::from_le_bytes([d[4 * j], d[4 * j + 1], d[4 * j + 2], d[4 * j + 3]]);
                        pairs.push((p as u64, i as u32));
                    }
                }
            }
            pairs
        }
        Flavor::Fastring => {
            let mut pairs = Vec::new();
            let mut key = Vec::new();
            for (i, name) in names.iter().enumerate() {
                key.clear();
                key.extend_from_slice(name);
                key.push(b'#');
                let base = key.len();
                // fastring counts j in u32 (Ring::add_positions); the point cap keeps it in range.
                for j in 0..(vnodes[i] * weights[i] as u64) as u32 {
                    key.truncate(base);
                    key.extend_from_slice(&j.to_le_bytes());
                    pairs.push((xxh3_64(&key), i as u32));
                }
            }
            pairs
        }
        Flavor::UhashringKetama | Flavor::UhashringMeta => {
            let total: u64 = weights.iter().map(|&w| w as u64).sum();
            // Insertion-ordered dict: later writers own colliding points.
            let mut owner: HashMap<u64, u32> = HashMap::new();
            for (i, name) in names.iter().enumerate() {
                let w = weights[i] as u64;
                if flavor == Flavor::UhashringKetama {
                    let ks = if total == 0 { 0 } else { vnodes[i] * n as u64 * w / total };
                    for k in 0..ks {
                        let d = md5_digest(&point_name(name, k));
                        for j in 0..replicas.min(4) {
                            let p = u32::from_le_bytes([d[4 * j], d[4 * j + 1], d[4 * j + 2], d[4 * j + 3]]);
                            owner.insert(p as u64, i as u32);
                        }
                    }
                } else {
                    for k in 0..vnodes[i] * w {
                        let d = md5_digest(&point_name(name, k));
                        owner.insert(u64::from_be_bytes(d[..8].try_into().expect("8 bytes")), i as u32);
                    }
                }
            }
            owner.into_iter().collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashAlgorithm;
    use crate::placement::ring::{LookupRule, Ring};

    #[test]
    fn python_ketama_vector() {
        // docs/algorithms.md §9.1 python_ketama/tests.py: 600/400 → 320 points;
        // get_server("test") = (3454255383, "127.0.0.1:11211").
        let names: [&[u8]; 2] = [b"127.0.0.1:11211", b"127.0.0.1:11212"];
        let pts = ketama_points(&names, &[600.0, 400.0], &[0, 0], 4, Flavor::LibKetama);
        assert_eq!(pts.len(), 320);
        let ring = Ring::from_points(pts, 2, LookupRule::AtOrAfter).unwrap();
        let h = HashAlgorithm::Ketama.hash(b"test", 0);
        let idx = ring.lookup_index(h);
        assert_eq!((ring.points()[idx], ring.owners()[idx]), (3454255383, 0));
    }

    #[test]
    fn libketama_server_file_has_1264_points() {
        let names: Vec<String> = (1..=8).map(|i| format!("10.0.1.{i}:11211")).collect();
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        let weights = [600.0, 300.0, 200.0, 350.0, 1000.0, 800.0, 950.0, 100.0];
        assert_eq!(ketama_points(&refs, &weights, &[0; 8], 4, Flavor::LibKetama).len(), 1264);
    }

    #[test]
    fn fastring_vectors() {
        // tests/data/fastring_vectors.json, case "readme" (fastring 0.2.1, docs/algorithms.md §9.3).
        let names: [&[u8]; 3] = [b"server-A", b"server-B", b"server-C"];
        let pts = ketama_points(&names, &[1.0, 3.0, 1.0], &[128; 3], 4, Flavor::Fastring);
        assert_eq!(pts.len(), 5 * 128);
        let ring = Ring::from_points(pts, 3, LookupRule::AtOrAfter).unwrap();
        for (key, owner) in [("user:851842431", 1), ("user:616134650", 0), ("user:882566437", 0), ("user:86510938", 1)] {
            let h = HashAlgorithm::Xxh3.hash(key.as_bytes(), 0);
            assert_eq!(ring.owners()[ring.lookup_index(h)], owner, "{key}");
        }
    }

    #[test]
    fn uhashring_point_counts() {
        let names: [&[u8]; 3] = [b"node1", b"node2", b"node3"];
        let k = ketama_points(&names, &[1.0, 2.0, 3.0], &[40; 3], 4, Flavor::UhashringKetama);
        let count = |o: u32| k.iter().filter(|p| p.1 == o).count();
        assert_eq!((count(0), count(1), count(2)), (80, 160, 240));
        let m = ketama_points(&names, &[1.0; 3], &[160; 3], 4, Flavor::UhashringMeta);
        assert_eq!(m.len(), 480);
    }
}
