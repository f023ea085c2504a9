// SPDX-License-Identifier: Apache-2.0
//! One frozen pyclass for every placement table. The public Python classes
//! (fastroute.placement) subclass it: validation happens in their `__new__`,
//! lookups are inherited and run here without a Python frame.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};

use fastroute_engine::batch::{par_chunks, par_map, par_rows, with_threads};
use fastroute_engine::hash::HashAlgorithm;
use fastroute_engine::keys::KeyBatch;
use fastroute_engine::placement::bounded;
use fastroute_engine::placement::iphash::{self, IpHash};
use fastroute_engine::placement::jump::{jump_bucket, jump_buckets_into, jump_replicas};
use fastroute_engine::placement::ketama::{ketama_points, Flavor};
use fastroute_engine::hash::full_hash;
use fastroute_engine::placement::haproxy::{chash_points as haproxy_points, map_table, server_base, HashKey};
use fastroute_engine::placement::maglev::Maglev;
use fastroute_engine::placement::nginx::{chash_points, plain_hash_attempts, plain_hash_first_usable, plain_hash_peer};
use fastroute_engine::placement::rendezvous::Rendezvous;
use fastroute_engine::placement::ring::{fixed_points, normalized_points, LookupRule, Ring};
use crate::hash::algorithm;
use crate::keys::{int_key, key_error, push_key_bytes, KeyStore};

pub enum Table {
    Ring(Ring),
    /// nginx plain `hash $key`: weights and their total (docs/algorithms.md §6.3).
    NginxHash(Vec<u32>, u64),
    /// HAProxy map-based table (docs/algorithms.md §7.3): server = table[h mod T].
    Map(Vec<u32>),
    Maglev(Maglev),
    Jump(u32),
    Rendezvous(Rendezvous),
    IpHash(IpHash),
}

impl Table {
    #[inline]
    fn lookup(&self, h: u64) -> u32 {
        match self {
            Table::Ring(r) => r.lookup(h),
            Table::NginxHash(w, total) => plain_hash_peer(h, w, *total),
            Table::Map(t) => t[(h % t.len() as u64) as usize],
            Table::Maglev(m) => m.lookup(h),
            Table::Jump(n) => jump_bucket(h, *n),
            Table::Rendezvous(r) => r.lookup(h),
            Table::IpHash(ip) => ip.lookup(&ipv4_int_bytes(h)),
        }
    }

    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        match self {
            Table::Ring(r) => r.replicas(h, n, out),
            Table::NginxHash(w, total) => {
                // Failover order: the hashed peer, then the others in config order.
                out.clear();
                let first = plain_hash_peer(h, w, *total);
                out.push(first);
                for k in 1..w.len() as u32 {
                    let p = (first + k) % w.len() as u32;
                    if w[p as usize] > 0 && out.len() < n {
                        out.push(p);
                    }
                }
            }
            Table::Map(t) => {
                // Failover order: the mapped server, then the next distinct ones in table order.
                out.clear();
                let start = (h % t.len() as u64) as usize;
                for k in 0..t.len() {
                    let s = t[(start + k) % t.len()];
                    if !out.contains(&s) {
                        out.push(s);
                        if out.len() == n {
                            break;
                        }
                    }
                }
            }
            Table::Maglev(m) => m.replicas(h, n, out),
            Table::Jump(buckets) => jump_replicas(h, *buckets, n, out),
            Table::Rendezvous(r) => r.replicas(h, n, out),
            Table::IpHash(ip) => ip.replicas(&ipv4_int_bytes(h), n, out),
        }
    }
}

/// An integer IP key is an IPv4 address as a number (like `ipaddress.IPv4Address(int)`).
#[inline]
fn ipv4_int_bytes(v: u64) -> [u8; 3] {
    let b = (v as u32).to_be_bytes();
    [b[0], b[1], b[2]]
}

#[pyclass(frozen, subclass, module = "fastroute._rust")]
pub struct PlacementTable {
    table: Table,
    algo: HashAlgorithm,
    names: Vec<Py<PyString>>,
    /// Nodes that can receive keys (positive weight / points).
    holders: usize,
    /// Hash any non-str key as the UTF-8 of `str(key)` (uhashring semantics).
    text_keys: bool,
    /// HAProxy `avalanche`: full_hash() over the 32-bit key hash.
    avalanche: bool,
    fingerprint: String,
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

impl PlacementTable {
    #[inline]
    fn finish(&self, h: u64) -> u64 {
        if self.avalanche { full_hash(h as u32) as u64 } else { h }
    }

    /// Key → 64-bit hash (after the avalanche step, if any).
    #[inline]
    fn key_hash(&self, key: &Bound<'_, PyAny>) -> PyResult<u64> {
        Ok(self.finish(self.raw_key_hash(key)?))
    }

    /// Key → 64-bit hash, with fast paths for str, bytes and int.
    #[inline]
    fn raw_key_hash(&self, key: &Bound<'_, PyAny>) -> PyResult<u64> {
        if let Ok(s) = key.cast::<PyString>() {
            let text = s
                .to_str()
                .map_err(|_| PyValueError::new_err("key: str key is not valid UTF-8 (lone surrogate)"))?;
            Ok(self.algo.hash(text.as_bytes(), 0))
        } else if self.text_keys {
            let text = key.str()?;
            Ok(self.algo.hash(text.to_str()?.as_bytes(), 0))
        } else if let Ok(b) = key.cast::<PyBytes>() {
            Ok(self.algo.hash(b.as_bytes(), 0))
        } else if key.is_instance_of::<PyInt>() && !key.is_instance_of::<PyBool>() {
            Ok(self.algo.hash_u64(int_key(key, &|| "key".into())?, 0))
        } else {
            Err(PyTypeError::new_err(format!("key: keys must be str, bytes or int, got {}", key.get_type().name()?)))
        }
    }

    /// For IP hashing: the address bytes nginx hashes.
    /// `what` names the key in errors; the key itself is never printed (it may be a card number).
    fn ip_bytes(key: &Bound<'_, PyAny>, out: &mut [u8; 16], what: &str) -> PyResult<usize> {
        if key.is_instance_of::<PyInt>() && !key.is_instance_of::<PyBool>() {
            let range = || PyValueError::new_err(format!("{what}: int addresses must be in [0, 2**32)"));
            let v: u64 = key.extract().map_err(|_| range())?;
            if v > u32::MAX as u64 {
                return Err(range());
            }
            out[..3].copy_from_slice(&ipv4_int_bytes(v));
            return Ok(3);
        }
        let raw: Vec<u8> = if let Ok(s) = key.cast::<PyString>() {
            s.to_str()
                .map_err(|_| PyValueError::new_err(format!("{what}: str key is not valid UTF-8 (lone surrogate)")))?
                .as_bytes()
                .to_vec()
        } else if let Ok(b) = key.cast::<PyBytes>() {
            b.as_bytes().to_vec()
        } else {
            return Err(PyTypeError::new_err(format!(
                "{what}: IP hash keys must be an address (str or bytes text) or an IPv4 int, got {}",
                key.get_type().name()?
            )));
        };
        iphash::parse_address(&raw, out).ok_or_else(|| {
            PyValueError::new_err(format!("{what}: not an IPv4/IPv6 address ({} bytes of text)", raw.len()))
        })
    }

    fn index_of(&self, key: &Bound<'_, PyAny>) -> PyResult<u32> {
        if let Table::IpHash(ip) = &self.table {
            let mut buf = [0u8; 16];
            let n = Self::ip_bytes(key, &mut buf, "key")?;
            return Ok(ip.lookup(&buf[..n]));
        }
        Ok(self.table.lookup(self.key_hash(key)?))
    }

    /// IP tables given Python objects: each key parsed as `get_index` does
    /// (an int is an IPv4 address, not 8 hashed bytes). n = 1: indices;
    /// otherwise n replicas per key, row-major. None for other tables/inputs.
    fn ip_objects(&self, keys: &Bound<'_, PyTuple>, n: usize) -> PyResult<Option<Vec<i32>>> {
        let Table::IpHash(ip) = &self.table else { return Ok(None) };
        let kind: String = keys.get_item(0)?.extract()?;
        if kind != "objects" {
            return Ok(None);
        }
        let seq = keys.get_item(1)?;
        let len = seq.len()?;
        let mut out = Vec::with_capacity(len * n);
        let mut buf = [0u8; 16];
        let mut reps = Vec::with_capacity(n);
        for i in 0..len {
            let item = seq.get_item(i)?;
            let used = Self::ip_bytes(&item, &mut buf, &format!("keys[{i}]"))?;
            if n == 1 {
                out.push(ip.lookup(&buf[..used]) as i32);
            } else {
                ip.replicas(&buf[..used], n, &mut reps);
                out.extend(reps.iter().map(|&r| r as i32));
            }
        }
        Ok(Some(out))
    }

    fn check_replica_count(&self, n: usize) -> PyResult<()> {
        if n == 0 || n > self.holders {
            return Err(PyValueError::new_err(format!(
                "n: must be in 1..={} (nodes that can hold keys), got {n}",
                self.holders
            )));
        }
        Ok(())
    }

    /// Per-key index for a batch; IP tables parse addresses, others hash.
    fn route_batch_inner(&self, batch: KeyBatch<'_>, n: usize) -> Result<Vec<i32>, usize> {
        let algo = self.algo;
        match &self.table {
            Table::IpHash(ip) => {
                let out = par_map(n, Vec::new, |scratch, i| {
                    if let KeyBatch::U64(v) = batch {
                        if v[i] > u32::MAX as u64 {
                            return -1;
                        }
                        return ip.lookup(&ipv4_int_bytes(v[i])) as i32;
                    }
                    let mut buf = [0u8; 16];
                    match iphash::parse_address(batch.bytes_at(i, scratch), &mut buf) {
                        Some(len) => ip.lookup(&buf[..len]) as i32,
                        None => -1,
                    }
                });
                match out.iter().position(|&v| v < 0) {
                    Some(bad) => Err(bad),
                    None => Ok(out),
                }
            }
            Table::Ring(r) => Ok(batch.map_hashes(algo, 0, |h| r.lookup(self.finish(h)) as i32)),
            Table::Map(t) => Ok(batch.map_hashes(algo, 0, |h| t[(self.finish(h) % t.len() as u64) as usize] as i32)),
            Table::Maglev(m) => Ok(batch.map_hashes(algo, 0, |h| m.lookup(h) as i32)),
            Table::Jump(b) => {
                let hashes = batch.map_hashes(algo, 0, |h| h);
                Ok(par_chunks(&hashes, |h, o| jump_buckets_into(h, *b, o)))
            }
            Table::Rendezvous(r) => Ok(batch.map_hashes(algo, 0, |h| r.lookup(h) as i32)),
            Table::NginxHash(w, total) => Ok(batch.map_hashes(algo, 0, |h| plain_hash_peer(h, w, *total) as i32)),
        }
    }

    fn compute_fingerprint(kind: &str, algo: HashAlgorithm, names: &[String], weights: &[f64], table: &Table) -> String {
        let mut bytes = Vec::new();
        for part in [kind.as_bytes(), algo.name().as_bytes()] {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
        for (name, weight) in names.iter().zip(weights) {
            bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(&weight.to_bits().to_le_bytes());
        }
        match table {
            Table::Ring(r) => {
                bytes.extend_from_slice(&[r.rule() as u8]);
                r.points().iter().for_each(|p| bytes.extend_from_slice(&p.to_le_bytes()));
                r.owners().iter().for_each(|o| bytes.extend_from_slice(&o.to_le_bytes()));
            }
            Table::Maglev(m) => m.table().iter().for_each(|o| bytes.extend_from_slice(&o.to_le_bytes())),
            Table::Jump(n) => bytes.extend_from_slice(&n.to_le_bytes()),
            Table::Map(t) => t.iter().for_each(|o| bytes.extend_from_slice(&o.to_le_bytes())),
            Table::Rendezvous(_) | Table::IpHash(_) | Table::NginxHash(..) => {}
        }
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
    }
}

#[pymethods]
impl PlacementTable {
    #[new]
    #[pyo3(signature = (kind, names, weights, hash_name="xxh3", mode="fixed", points_per_weight=160.0,
                        min_ring_size=1024, max_ring_size=8388608, lookup="at_or_after", table_size=65537,
                        flavor="libketama", vnodes=None, replicas=4, text_keys=false, avalanche=false,
                        hash_key="id", puids=None, addrs=None, ports=None,
                        normalized_weights=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind: &str,
        names: Vec<String>,
        weights: Vec<f64>,
        hash_name: &str,
        mode: &str,
        points_per_weight: f64,
        min_ring_size: u64,
        max_ring_size: u64,
        lookup: &str,
        table_size: u64,
        flavor: &str,
        vnodes: Option<Vec<u64>>,
        replicas: usize,
        text_keys: bool,
        avalanche: bool,
        hash_key: &str,
        puids: Option<Vec<u32>>,
        addrs: Option<Vec<u32>>,
        ports: Option<Vec<u32>>,
        normalized_weights: bool,
    ) -> PyResult<Self> {
        let py_names: Vec<Py<PyString>> =
            Python::attach(|py| names.iter().map(|n| PyString::new(py, n).unbind()).collect());
        if names.is_empty() || names.len() != weights.len() || names.len() > i32::MAX as usize {
            return Err(PyValueError::new_err("nodes: internal: names and weights must be non-empty and equal in length"));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || !weights.iter().any(|w| *w > 0.0) {
            return Err(PyValueError::new_err("weights: must be finite, >= 0 and not all zero"));
        }
        let algo = algorithm(hash_name)?;
        let refs: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        let table = match kind {
            "ring" => {
                let rule = LookupRule::from_name(lookup).ok_or_else(|| {
                    PyValueError::new_err(format!("lookup: expected one of {:?}, got {lookup:?}", LookupRule::NAMES))
                })?;
                let points = match mode {
                    "fixed" => fixed_points(&refs, &weights, points_per_weight, algo),
                    "normalized" => {
                        normalized_points(&refs, &weights, min_ring_size, max_ring_size, algo, normalized_weights)
                    }
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "mode: expected 'fixed' or 'normalized', got {other:?}"
                        )))
                    }
                }
                .map_err(value_error)?;
                Table::Ring(Ring::from_points(points, names.len(), rule).map_err(value_error)?)
            }
            "ketama" => {
                let flavor = Flavor::from_name(flavor).ok_or_else(|| {
                    PyValueError::new_err(format!("flavor: expected libketama, uhashring_ketama or uhashring_meta, got {flavor:?}"))
                })?;
                let vnodes = vnodes.unwrap_or_else(|| vec![40; names.len()]);
                if vnodes.len() != names.len() || replicas == 0 || replicas > 4 {
                    return Err(PyValueError::new_err("vnodes/replicas: one vnodes count per node, replicas in 1..=4"));
                }
                let rule = if flavor == Flavor::LibKetama { LookupRule::AtOrAfter } else { LookupRule::After };
                // Refuse absurd sizes before generating anything (a typo must not hang the build).
                let planned: f64 = vnodes.iter().zip(&weights).map(|(&v, &w)| v as f64 * w.max(1.0) * 4.0).sum();
                if planned > fastroute_engine::placement::ring::MAX_POINTS as f64 * 4.0 {
                    return Err(PyValueError::new_err("vnodes/weights: the ring would exceed 2**26 points"));
                }
                let points = ketama_points(&refs, &weights, &vnodes, replicas, flavor);
                Table::Ring(Ring::from_points(points, names.len(), rule).map_err(value_error)?)
            }
            "haproxy_chash" | "haproxy_map" => {
                if weights.iter().any(|w| w.fract() != 0.0 || *w > 256.0) {
                    return Err(PyValueError::new_err("weights: HAProxy weights are integers in [0, 256]"));
                }
                let w: Vec<u32> = weights.iter().map(|&x| x as u32).collect();
                if kind == "haproxy_map" {
                    Table::Map(map_table(&w))
                } else {
                    let key = match hash_key {
                        "id" => HashKey::Id,
                        "id_legacy" => HashKey::IdLegacy,
                        "addr" => HashKey::Addr,
                        "addr-port" => HashKey::AddrPort,
                        other => return Err(PyValueError::new_err(format!("hash_key: unsupported {other:?}"))),
                    };
                    let n = names.len();
                    let puids = puids.unwrap_or_else(|| (1..=n as u32).collect());
                    let addrs = addrs.unwrap_or_else(|| vec![0; n]);
                    let ports = ports.unwrap_or_else(|| vec![0; n]);
                    if puids.len() != n || addrs.len() != n || ports.len() != n {
                        return Err(PyValueError::new_err("puids/addrs/ports: one per server"));
                    }
                    let bases: Vec<u32> = (0..n).map(|i| server_base(key, puids[i], addrs[i], ports[i])).collect();
                    Table::Ring(Ring::from_points(haproxy_points(&bases, &w), n, LookupRule::Nearest32).map_err(value_error)?)
                }
            }
            "nginx_chash" | "nginx_hash" => {
                if weights.iter().any(|w| w.fract() != 0.0 || *w > 1_000_000.0) {
                    return Err(PyValueError::new_err("weights: nginx weights are integers in [0, 1000000]"));
                }
                let w: Vec<u32> = weights.iter().map(|&x| x as u32).collect();
                if w.iter().map(|&x| x as u64 * 160).sum::<u64>() > fastroute_engine::placement::ring::MAX_POINTS {
                    return Err(PyValueError::new_err("weights: 160 points per unit of weight would exceed 2**26 points"));
                }
                if kind == "nginx_hash" {
                    Table::NginxHash(w.clone(), w.iter().map(|&x| x as u64).sum())
                } else {
                    let servers: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
                    Table::Ring(Ring::from_points(chash_points(&servers, &w), names.len(), LookupRule::AtOrAfter)
                        .map_err(value_error)?)
                }
            }
            "maglev" => Table::Maglev(Maglev::build_with(&refs, &weights, table_size, normalized_weights).map_err(|e| PyValueError::new_err(format!("table_size: {e}")))?),
            "jump" => Table::Jump(names.len() as u32),
            "rendezvous" => Table::Rendezvous(Rendezvous::new(&refs, &weights)),
            "ip_hash" => {
                if weights.iter().any(|w| w.fract() != 0.0 || *w > u32::MAX as f64) {
                    return Err(PyValueError::new_err("weights: ip_hash weights must be integers"));
                }
                Table::IpHash(IpHash::new(&weights.iter().map(|w| *w as u32).collect::<Vec<_>>()))
            }
            other => return Err(PyValueError::new_err(format!("kind: unknown placement {other:?}"))),
        };
        let holders = match &table {
            Table::Ring(r) => r.holders(),
            Table::Maglev(m) => {
                let mut seen = vec![false; names.len()];
                m.table().iter().for_each(|&o| seen[o as usize] = true);
                seen.iter().filter(|&&s| s).count()
            }
            Table::Jump(n) => *n as usize,
            Table::Rendezvous(_) | Table::IpHash(_) | Table::NginxHash(..) | Table::Map(_) => {
                weights.iter().filter(|w| **w > 0.0).count()
            }
        };
        let fingerprint = Self::compute_fingerprint(kind, algo, &names, &weights, &table);
        Ok(PlacementTable { table, algo, names: py_names, holders, text_keys, avalanche, fingerprint })
    }

    /// Index into `.nodes` of the node owning `key`.
    fn get_index(&self, key: &Bound<'_, PyAny>) -> PyResult<u32> {
        self.index_of(key)
    }

    /// Name of the node owning `key` (str | bytes | int).
    fn get_node(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyString>> {
        Ok(self.names[self.index_of(key)? as usize].clone_ref(py))
    }

    /// Index for a key already hashed to 64 bits.
    fn get_index_hashed(&self, hash: u64) -> u32 {
        self.table.lookup(hash)
    }

    /// Index for a raw 32/64-bit key value that still takes the table's
    /// avalanche step (HAProxy `balance source` hashes the address integer).
    fn _get_index_raw(&self, value: u64) -> u32 {
        self.table.lookup(self.finish(value))
    }

    /// Names of the primary and the next n-1 distinct nodes for `key`.
    fn replicas<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, n: usize) -> PyResult<Bound<'py, PyTuple>> {
        let idx = self.replica_indices(key, n)?;
        PyTuple::new(py, idx.iter().map(|&i| self.names[i as usize].clone_ref(py)))
    }

    fn replica_indices(&self, key: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<u32>> {
        self.check_replica_count(n)?;
        let mut out = Vec::with_capacity(n);
        if let Table::IpHash(ip) = &self.table {
            let mut buf = [0u8; 16];
            let len = Self::ip_bytes(key, &mut buf, "key")?;
            ip.replicas(&buf[..len], n, &mut out);
        } else {
            self.table.replicas(self.key_hash(key)?, n, &mut out);
        }
        Ok(out)
    }

    #[pyo3(signature = (keys, threads=None))]
    fn _route<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<i32>>> {
        if let Some(out) = self.ip_objects(keys, 1)? {
            return Ok(out.into_pyarray(py));
        }
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        let n = batch.validate().map_err(key_error)?;
        let result = py
            .detach(|| with_threads(threads, || self.route_batch_inner(batch, n)))
            .map_err(PyValueError::new_err)?;
        match result {
            Ok(out) => Ok(out.into_pyarray(py)),
            Err(bad) => Err(PyValueError::new_err(format!("keys[{bad}]: not an IPv4/IPv6 address"))),
        }
    }

    #[pyo3(signature = (hashes, threads=None))]
    fn _route_hashed<'py>(
        &self,
        py: Python<'py>,
        hashes: PyReadonlyArray1<'py, u64>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let h = hashes.as_slice().map_err(|_| PyValueError::new_err("hashes: array must be C-contiguous"))?;
        let table = &self.table;
        let out = py
            .detach(|| {
                // Dispatch once per batch so each loop is monomorphic.
                with_threads(threads, || match table {
                    Table::Jump(b) => par_chunks(h, |keys, o| jump_buckets_into(keys, *b, o)),
                    Table::Ring(r) => par_chunks(h, |keys, o| r.lookup_into(keys, o)),
                    Table::Maglev(m) => par_chunks(h, |keys, o| {
                        o.iter_mut().zip(keys).for_each(|(slot, &k)| *slot = m.lookup(k) as i32)
                    }),
                    _ => par_map(h.len(), || (), |_, i| table.lookup(h[i]) as i32),
                })
            })
            .map_err(PyValueError::new_err)?;
        Ok(out.into_pyarray(py))
    }

    #[pyo3(signature = (keys, n, threads=None))]
    fn _route_replicas<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
        n: usize,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<i32>>> {
        self.check_replica_count(n)?;
        if let Some(flat) = self.ip_objects(keys, n)? {
            let m = flat.len() / n;
            return flat.into_pyarray(py).reshape([m, n]);
        }
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        let m = batch.validate().map_err(key_error)?;
        let algo = self.algo;
        let table = &self.table;
        // Row i holds key i's replicas; -1 marks an unparseable IP key.
        let flat = py
            .detach(|| {
                with_threads(threads, || {
                    par_rows(m, n, || (Vec::new(), Vec::with_capacity(n)), |(scratch, reps), i, row| {
                        match table {
                            Table::IpHash(ip) => {
                                let mut buf = [0u8; 16];
                                let parsed = match batch {
                                    KeyBatch::U64(v) if v[i] <= u32::MAX as u64 => {
                                        buf[..3].copy_from_slice(&ipv4_int_bytes(v[i]));
                                        Some(3)
                                    }
                                    KeyBatch::U64(_) => None,
                                    _ => iphash::parse_address(batch.bytes_at(i, scratch), &mut buf),
                                };
                                match parsed {
                                    Some(len) => ip.replicas(&buf[..len], n, reps),
                                    None => {
                                        row.fill(-1);
                                        return;
                                    }
                                }
                            }
                            _ => table.replicas(self.finish(batch.hash_at(i, algo, 0, scratch)), n, reps),
                        }
                        for (slot, &r) in row.iter_mut().zip(reps.iter()) {
                            *slot = r as i32;
                        }
                    })
                })
            })
            .map_err(PyValueError::new_err)?;
        if let Some(bad) = flat.iter().position(|&v| v < 0) {
            return Err(PyValueError::new_err(format!("keys[{}]: not an IPv4/IPv6 address", bad / n)));
        }
        flat.into_pyarray(py).reshape([m, n])
    }

    /// Bounded-load batch assignment (ring only): see placement::bounded.
    fn _assign_bounded<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyTuple>, c: f64, weights: Vec<f64>) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let Table::Ring(ring) = &self.table else {
            return Err(PyTypeError::new_err("assign_bounded: only hash rings support bounded loads"));
        };
        if weights.len() != self.names.len() || weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(PyValueError::new_err("weights: internal: one finite weight >= 0 per node"));
        }
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        batch.validate().map_err(key_error)?;
        let hashes = batch.hash_all(self.algo, 0).map_err(key_error)?;
        let out = py.detach(|| {
            let cap = bounded::capacities(ring, &weights, hashes.len(), c);
            bounded::assign_bounded(ring, &hashes, &cap)
        });
        Ok(out.into_pyarray(py))
    }

    /// nginx plain hash with unusable (`down`) peers, over a key batch: the
    /// first usable peer of nginx's 21 attempts, else the first usable peer
    /// (nginx's round-robin fallback starts there), docs/algorithms.md §6.3.
    #[pyo3(signature = (keys, usable, threads=None))]
    fn _route_nginx_usable<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
        usable: Vec<bool>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let Table::NginxHash(w, total) = &self.table else {
            return Err(PyTypeError::new_err("only nginx plain hash tables skip peers"));
        };
        if usable.len() != w.len() || !usable.iter().any(|&u| u) {
            return Err(PyValueError::new_err("usable: internal: one flag per server, at least one true"));
        }
        let fallback = usable.iter().position(|&u| u).unwrap_or(0) as u32;
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        let n = batch.validate().map_err(key_error)?;
        let out = py
            .detach(|| {
                with_threads(threads, || {
                    par_map(n, Vec::new, |scratch, i| {
                        plain_hash_first_usable(batch.bytes_at(i, scratch), w, *total, &usable).unwrap_or(fallback) as i32
                    })
                })
            })
            .map_err(PyValueError::new_err)?;
        Ok(out.into_pyarray(py))
    }

    /// nginx plain hash: the peers of nginx's 21 hash attempts for `key`.
    fn _nginx_hash_attempts(&self, key: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
        let Table::NginxHash(w, total) = &self.table else {
            return Err(PyTypeError::new_err("only nginx plain hash tables have attempts"));
        };
        let mut buf = Vec::new();
        push_key_bytes(key, &mut buf, &|| "key".into())?;
        Ok(plain_hash_attempts(&buf, w, *total))
    }

    /// Ring tables: index of the point `key` lands on.
    fn _ring_position(&self, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        match &self.table {
            Table::Ring(r) => Ok(r.lookup_index(self.key_hash(key)?)),
            _ => Err(PyTypeError::new_err("only ring tables have positions")),
        }
    }

    /// Ring tables: (points, owners) in ring order.
    fn _ring_points<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u32>>)> {
        match &self.table {
            Table::Ring(r) => Ok((r.points().to_vec().into_pyarray(py), r.owners().to_vec().into_pyarray(py))),
            _ => Err(PyTypeError::new_err("only ring tables have points")),
        }
    }

    /// Stable identifier of the table contents (same config → same string).
    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// Size facts: entries in the table and bytes they use.
    fn _table_stats(&self) -> (usize, usize) {
        match &self.table {
            Table::Ring(r) => (r.len(), r.memory_bytes()),
            Table::Maglev(m) => (m.table().len(), m.table().len() * 4),
            Table::Jump(_) => (0, 0),
            Table::Rendezvous(_) => (self.names.len(), self.names.len() * 16),
            Table::NginxHash(..) => (self.names.len(), self.names.len() * 4),
            Table::Map(t) => (t.len(), t.len() * 4),
            Table::IpHash(_) => (self.names.len(), self.names.len() * 4),
        }
    }
}
