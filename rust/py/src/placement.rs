// SPDX-License-Identifier: Apache-2.0
//! One frozen pyclass for every placement table. The public Python classes
//! (fastroute.placement) subclass it: shape checks happen in their `__new__`,
//! lookups are inherited and run here without a Python frame. This layer
//! converts keyword arguments to an engine `Config`, keys and arrays to
//! engine types, and releases the GIL; the rules live in the engine.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};

use fastroute_engine::batch::with_threads;
use fastroute_engine::placement::haproxy::{ChashConfig, HashKey, MapConfig};
use fastroute_engine::placement::iphash::{self, ipv4_int_bytes};
use fastroute_engine::placement::ketama::{Flavor, KetamaConfig};
use fastroute_engine::placement::maglev::MaglevConfig;
use fastroute_engine::placement::ring::{LookupRule, RingConfig, RingMode};
use fastroute_engine::placement::{BuildError, Config, Kind, Table};
use crate::hash::{algorithm, placement_key};
use crate::keys::{int_key, key_error, KeyStore};
use crate::placement_kinds::{NginxHashOps, RingOps};

#[pyclass(frozen, subclass, module = "fastroute._rust")]
pub struct PlacementTable {
    pub(crate) table: Table,
    names: Vec<Py<PyString>>,
}

fn arg_error(e: BuildError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn choice<T>(arg: &str, value: &str, names: &[&str], parse: impl Fn(&str) -> Option<T>) -> PyResult<T> {
    parse(value).ok_or_else(|| PyValueError::new_err(format!("{arg}: expected one of {names:?}, got {value:?}")))
}

fn bad_address(i: usize) -> PyErr {
    PyValueError::new_err(format!("keys[{i}]: not an IPv4/IPv6 address"))
}

impl PlacementTable {
    /// Key → the table's finished 64-bit hash, with fast paths for str, bytes and int.
    #[inline]
    pub(crate) fn key_hash(&self, key: &Bound<'_, PyAny>) -> PyResult<u64> {
        if let Ok(s) = key.cast::<PyString>() {
            let text = s
                .to_str()
                .map_err(|_| PyValueError::new_err("key: str key is not valid UTF-8 (lone surrogate)"))?;
            Ok(self.table.key_hash(text.as_bytes()))
        } else if self.table.text_keys() {
            Ok(self.table.key_hash(key.str()?.to_str()?.as_bytes()))
        } else if let Ok(b) = key.cast::<PyBytes>() {
            Ok(self.table.key_hash(b.as_bytes()))
        } else if key.is_instance_of::<PyInt>() && !key.is_instance_of::<PyBool>() {
            Ok(self.table.key_hash_u64(int_key(key, &|| "key".into())?))
        } else {
            Err(PyTypeError::new_err(format!("key: keys must be str, bytes or int, got {}", key.get_type().name()?)))
        }
    }

    /// For IP hashing: the address bytes nginx hashes.
    /// `what` names the key in errors; the key itself is never printed (it may be a card number).
    fn ip_bytes(key: &Bound<'_, PyAny>, out: &mut [u8; 16], what: &str) -> PyResult<usize> {
        if key.is_instance_of::<PyInt>() && !key.is_instance_of::<PyBool>() {
            let range = || PyValueError::new_err(format!("{what}: int addresses must be in [0, 2**32)"));
            let bytes = ipv4_int_bytes(key.extract().map_err(|_| range())?).ok_or_else(range)?;
            out[..3].copy_from_slice(&bytes);
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
        if let Some(ip) = self.table.as_ip_hash() {
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
        let Some(ip) = self.table.as_ip_hash() else { return Ok(None) };
        if keys.get_item(0)?.extract::<String>()? != "objects" {
            return Ok(None);
        }
        let seq = keys.get_item(1)?;
        let len = seq.len()?;
        let mut out = Vec::with_capacity(len * n);
        let (mut buf, mut reps) = ([0u8; 16], Vec::with_capacity(n));
        for i in 0..len {
            let used = Self::ip_bytes(&seq.get_item(i)?, &mut buf, &format!("keys[{i}]"))?;
            if n == 1 {
                out.push(ip.lookup(&buf[..used]) as i32);
            } else {
                ip.replicas(&buf[..used], n, &mut reps);
                out.extend(reps.iter().map(|&r| r as i32));
            }
        }
        Ok(Some(out))
    }
}

#[pymethods]
impl PlacementTable {
    #[new]
    #[pyo3(signature = (kind, names, weights, hash_name="xxh3", mode="fixed", points_per_weight=160.0,
                        min_ring_size=1024, max_ring_size=8388608, lookup="at_or_after", table_size=65537,
                        flavor="libketama", vnodes=None, replicas=4, text_keys=false, avalanche=false,
                        hash_key="id", puids=None, addrs=None, ports=None,
                        normalized_weights=false, secret=None))]
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
        secret: Option<&[u8]>,
    ) -> PyResult<Self> {
        let hash = algorithm(hash_name)?;
        let secret = secret.map(placement_key).transpose()?;
        let kind = match kind {
            "ring" => Kind::Ring(RingConfig {
                mode: choice("mode", mode, RingMode::NAMES, RingMode::from_name)?,
                points_per_weight,
                min_ring_size,
                max_ring_size,
                lookup: choice("lookup", lookup, LookupRule::NAMES, LookupRule::from_name)?,
                weights_are_shares: normalized_weights,
            }),
            "ketama" => Kind::Ketama(KetamaConfig {
                flavor: choice("flavor", flavor, Flavor::NAMES, Flavor::from_name)?,
                vnodes,
                replicas,
            }),
            "maglev" => Kind::Maglev(MaglevConfig { table_size, weights_are_shares: normalized_weights }),
            "jump" => Kind::Jump,
            "rendezvous" => Kind::Rendezvous,
            "ip_hash" => Kind::IpHash,
            "nginx_chash" => Kind::NginxChash,
            "nginx_hash" => Kind::NginxHash,
            "haproxy_chash" => Kind::HaproxyChash(ChashConfig {
                hash_key: choice("hash_key", hash_key, HashKey::NAMES, HashKey::from_name)?,
                puids,
                addrs,
                ports,
                avalanche,
            }),
            "haproxy_map" => Kind::HaproxyMap(MapConfig { avalanche }),
            other => return Err(PyValueError::new_err(format!("kind: unknown placement {other:?}"))),
        };
        let config = Config { names, weights, hash, text_keys, kind, secret };
        let table = Table::build(&config).map_err(arg_error)?;
        let names = Python::attach(|py| config.names.iter().map(|n| PyString::new(py, n).unbind()).collect());
        Ok(PlacementTable { table, names })
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

    /// Index for a key hash before the table's finishing step (HAProxy
    /// `avalanche`; `balance source` hashes the address integer).
    fn get_index_unfinished(&self, value: u64) -> u32 {
        self.table.lookup(self.table.finish(value))
    }

    /// Names of the primary and the next n-1 distinct nodes for `key`.
    fn replicas<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, n: usize) -> PyResult<Bound<'py, PyTuple>> {
        let idx = self.replica_indices(key, n)?;
        PyTuple::new(py, idx.iter().map(|&i| self.names[i as usize].clone_ref(py)))
    }

    fn replica_indices(&self, key: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<u32>> {
        self.table.check_replica_count(n).map_err(arg_error)?;
        let mut out = Vec::with_capacity(n);
        if let Some(ip) = self.table.as_ip_hash() {
            let mut buf = [0u8; 16];
            let len = Self::ip_bytes(key, &mut buf, "key")?;
            ip.replicas(&buf[..len], n, &mut out);
        } else {
            self.table.replicas(self.key_hash(key)?, n, &mut out);
        }
        Ok(out)
    }

    #[pyo3(signature = (keys, threads=None))]
    fn _route<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyTuple>, threads: Option<usize>) -> PyResult<Bound<'py, PyArray1<i32>>> {
        if let Some(out) = self.ip_objects(keys, 1)? {
            return Ok(out.into_pyarray(py));
        }
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        let m = batch.validate().map_err(key_error)?;
        let out = py.detach(|| with_threads(threads, || self.table.route(batch, m))).map_err(PyValueError::new_err)?;
        Ok(out.map_err(bad_address)?.into_pyarray(py))
    }

    #[pyo3(signature = (hashes, threads=None))]
    fn _route_hashed<'py>(&self, py: Python<'py>, hashes: PyReadonlyArray1<'py, u64>, threads: Option<usize>) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let h = hashes.as_slice().map_err(|_| PyValueError::new_err("hashes: array must be C-contiguous"))?;
        let out = py.detach(|| with_threads(threads, || self.table.route_hashed(h))).map_err(PyValueError::new_err)?;
        Ok(out.into_pyarray(py))
    }

    #[pyo3(signature = (keys, n, threads=None))]
    fn _route_replicas<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyTuple>, n: usize, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<i32>>> {
        self.table.check_replica_count(n).map_err(arg_error)?;
        if let Some(flat) = self.ip_objects(keys, n)? {
            let m = flat.len() / n;
            return flat.into_pyarray(py).reshape([m, n]);
        }
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        let m = batch.validate().map_err(key_error)?;
        let flat = py
            .detach(|| with_threads(threads, || self.table.route_replicas(batch, m, n)))
            .map_err(PyValueError::new_err)?;
        flat.map_err(bad_address)?.into_pyarray(py).reshape([m, n])
    }

    /// The ring operations, for ring-shaped kinds (ring, ketama, nginx/HAProxy consistent).
    fn _ring(slf: &Bound<'_, Self>) -> PyResult<RingOps> {
        match slf.get().table.as_ring() {
            Some(_) => Ok(RingOps { table: slf.clone().unbind() }),
            None => Err(PyTypeError::new_err("only ring tables have points")),
        }
    }

    /// The nginx plain-hash operations (attempts, down peers).
    fn _nginx_hash(slf: &Bound<'_, Self>) -> PyResult<NginxHashOps> {
        match slf.get().table.as_nginx_hash() {
            Some(_) => Ok(NginxHashOps { table: slf.clone().unbind() }),
            None => Err(PyTypeError::new_err("only nginx plain hash tables have attempts")),
        }
    }

    /// Whether key hashes are keyed by a secret (docs/algorithms.md §22).
    #[getter]
    fn keyed(&self) -> bool {
        self.table.keyed()
    }

    /// Stable identifier of the table contents (same config → same string).
    fn fingerprint(&self) -> &str {
        self.table.fingerprint()
    }

    /// Size facts: entries in the table and bytes they use.
    fn _table_stats(&self) -> (usize, usize) {
        self.table.stats()
    }
}
