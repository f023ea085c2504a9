// SPDX-License-Identifier: Apache-2.0
//! One frozen pyclass for every placement table. The public Python classes
//! (fastroute.placement) subclass it: shape checks happen in their `__new__`,
//! lookups are inherited and run here without a Python frame. This layer
//! converts keyword arguments to an engine `Config`, keys and arrays to
//! engine types, and releases the GIL; the rules live in the engine.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use fastroute_engine::batch::with_threads;
use fastroute_engine::placement::iphash::IpHash;
use fastroute_engine::placement::nginx::PlainHash;
use fastroute_engine::placement::ring::Ring;
use fastroute_engine::placement::{BuildError, Config, NodeChange, NodeName, OptionValue, Options, Table};
use crate::hash::{hash_by_name, placement_key};
use crate::ip_keys::{ip_bytes, ip_objects};
use crate::keys::{int_key, key_error, KeyStore};
use crate::placement_kinds::{NginxHashOps, RingOps};
use fastroute_engine::placement::distinct_prefix as distinct_prefix_into;

#[pyclass(frozen, subclass, module = "fastroute._rust")]
pub struct PlacementTable {
    pub(crate) table: Table,
    names: Vec<Py<PyString>>,
}

fn arg_error(e: BuildError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn bad_address(i: usize) -> PyErr {
    PyValueError::new_err(format!("keys[{i}]: not an IPv4/IPv6 address"))
}

/// The kind's settings as the Python class passes them → the engine's generic
/// option map (the kind file reads and checks them).
fn engine_options(options: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut out = Options::new();
    for (name, value) in options.into_iter().flat_map(|d| d.iter()) {
        let name: String = name.extract().map_err(|_| PyTypeError::new_err("options: names must be str"))?;
        let converted = option_value(&value).map_err(|_| {
            PyTypeError::new_err(format!(
                "options[{name:?}]: expected None, bool, int, float, str or a list of int, got {}",
                value.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        out.set(name, converted);
    }
    Ok(out)
}

fn option_value(value: &Bound<'_, PyAny>) -> PyResult<OptionValue> {
    Ok(if value.is_none() {
        OptionValue::Absent
    } else if let Ok(b) = value.cast::<PyBool>() {
        OptionValue::Bool(b.is_true())
    } else if let Ok(s) = value.cast::<PyString>() {
        OptionValue::Text(s.to_str()?.to_owned())
    } else if let Ok(f) = value.cast::<PyFloat>() {
        OptionValue::Float(f.value())
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        OptionValue::Ints(value.try_iter()?.map(|v| option_int(&v?)).collect::<PyResult<_>>()?)
    } else {
        OptionValue::Int(option_int(value)?)
    })
}

/// An integer option: as i64 when it fits (one C call; the i128 conversion went through
/// a byte array, most of converting a 100-node per-node list), else as i128.
fn option_int(value: &Bound<'_, PyAny>) -> PyResult<i128> {
    match value.extract::<i64>() {
        Ok(v) => Ok(v as i128),
        Err(_) => value.extract::<i128>(),
    }
}

/// Tables with more entries than this build their update with the GIL released.
const UPDATE_WITHOUT_GIL: usize = 1 << 15;

impl PlacementTable {
    /// `base` after `change` (("add", name, weight) | ("remove", index) | ("weight",
    /// index, weight)); `expected` is what the caller says the result is.
    fn changed(py: Python<'_>, base: &PlacementTable, change: &Bound<'_, PyTuple>, per_node: Option<&Bound<'_, PyDict>>,
               expected: (&str, &Bound<'_, PyAny>, &Bound<'_, PyAny>)) -> PyResult<Self> {
        let op: String = change.get_item(0)?.extract()?;
        let name: String;
        let node_change = match (op.as_str(), change.len()) {
            ("add", 3) => {
                name = change.get_item(1)?.extract()?;
                NodeChange::Add { name: &name, weight: change.get_item(2)?.extract()? }
            }
            ("remove", 2) => NodeChange::Remove { index: change.get_item(1)?.extract()? },
            ("weight", 3) => NodeChange::Reweight { index: change.get_item(1)?.extract()?, weight: change.get_item(2)?.extract()? },
            _ => return Err(PyValueError::new_err("change: expected ('add', name, weight), ('remove', index) or ('weight', index, weight)")),
        };
        let per_node = per_node.map(|d| engine_options(Some(d))).transpose()?;
        let update = || base.table.with_change(node_change, per_node.as_ref());
        let table = if base.table.stats().0 > UPDATE_WITHOUT_GIL { py.detach(update) } else { update() }.map_err(arg_error)?;
        // The face's view must be the engine's. Checked where the change acts (the
        // unchanged entries are base's on both sides): O(1), where comparing every
        // name and weight was a fifth of a 100-node ring's update.
        let (kind, names, weights) = expected;
        let n = table.names().len();
        let (changed_at, added_name) = match node_change {
            NodeChange::Add { name, .. } => (Some(n - 1), Some(name)),
            NodeChange::Reweight { index, .. } => (Some(index), None),
            NodeChange::Remove { .. } => (None, None),
        };
        let name_agrees = |i: usize, want: &str| {
            names.get_item(i).ok().and_then(|item| item.cast::<PyString>().ok().and_then(|s| s.to_str().ok().map(|s| s == want)))
                == Some(true)
        };
        let weight_agrees = |i: usize| {
            weights.get_item(i).ok().and_then(|item| item.extract::<f64>().ok()).map(f64::to_bits)
                == Some(table.weights()[i].to_bits())
        };
        let agrees = table.kind() == kind
            && names.len().ok() == Some(n)
            && weights.len().ok() == Some(table.weights().len())
            && added_name.is_none_or(|name| name_agrees(n - 1, name))
            && changed_at.is_none_or(weight_agrees);
        if !agrees {
            return Err(PyValueError::new_err("base: internal: the change does not produce the table described"));
        }
        let mut py_names: Vec<Py<PyString>> = base.names.iter().map(|n| n.clone_ref(py)).collect();
        node_change.apply(&mut py_names, |n| PyString::new(py, n).unbind());
        Ok(PlacementTable { table, names: py_names })
    }

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

    /// ip_hash tables: keys are addresses, converted here from Python objects
    /// (`ip_keys`); every other kind hashes its keys.
    #[inline]
    pub(crate) fn ip_hash(&self) -> Option<&IpHash> {
        if self.table.keys_are_addresses() { self.table.placement_as::<IpHash>() } else { None }
    }

    fn index_of(&self, key: &Bound<'_, PyAny>) -> PyResult<u32> {
        if self.table.keys_are_addresses() {
            return self.address_index(key);
        }
        Ok(self.table.lookup(self.key_hash(key)?))
    }

    /// ip_hash keys, out of line: the hashed kinds' per-call path stays free of
    /// the address buffer (docs/build.md §11, per-call cost).
    #[cold]
    #[inline(never)]
    fn address_index(&self, key: &Bound<'_, PyAny>) -> PyResult<u32> {
        let Some(ip) = self.ip_hash() else {
            return Err(PyTypeError::new_err("key: this table takes addresses but has no ip_hash placement"));
        };
        let mut buf = [0u8; 16];
        let n = ip_bytes(key, &mut buf, "key")?;
        Ok(ip.lookup(&buf[..n]))
    }
}

#[pymethods]
impl PlacementTable {
    /// `options`: the kind's own settings as the Python class passes them, every key present
    /// (read by the kind's file in the engine, which checks values and limits).
    #[new]
    /// `secret`: keyed placement (docs/algorithms.md §22). `base` + `change`: the
    /// table `base` after one membership change (docs/algorithms.md §25), made by
    /// the engine's incremental path: hash, text_keys and secret are base's, `kind`,
    /// `names` and `weights` must describe the result (checked), and `options` holds
    /// only the realigned per-node options.
    #[pyo3(signature = (kind, names, weights, hash="xxh3", text_keys=false, options=None, secret=None, *, base=None, change=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(py: Python<'_>, kind: &str, names: &Bound<'_, PyAny>, weights: &Bound<'_, PyAny>, hash: &str, text_keys: bool,
           options: Option<&Bound<'_, PyDict>>, secret: Option<&[u8]>, base: Option<&Bound<'_, PlacementTable>>,
           change: Option<&Bound<'_, PyTuple>>) -> PyResult<Self> {
        if let Some(base) = base {
            let change = change.ok_or_else(|| PyTypeError::new_err("change: required with base"))?;
            return Self::changed(py, base.get(), change, options, (kind, names, weights));
        }
        let weights: Vec<f64> = weights.extract()?;
        let names: Vec<String> = names.extract()?;
        let names: Vec<NodeName> = names.into_iter().map(NodeName::from).collect();
        let hash = hash_by_name(hash)?;
        let options = engine_options(options)?;
        let secret = secret.map(placement_key).transpose()?;
        let config = Config { names, weights, hash, text_keys, kind: kind.to_owned(), options, secret };
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

    /// Names of n replicas in distinct localities (`codes`: a locality code per node;
    /// docs/multi_region.md §6). The Python face checks that n distinct codes exist.
    fn _replicas_distinct<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, n: usize,
                               codes: PyReadonlyArray1<'py, u32>) -> PyResult<Bound<'py, PyTuple>> {
        self.table.check_replica_count(n).map_err(arg_error)?;
        let codes = codes.as_slice()?;
        let (mut scratch, mut out) = (Vec::new(), Vec::with_capacity(n));
        let found = if let Some(ip) = self.ip_hash() {
            let mut buf = [0u8; 16];
            let len = ip_bytes(key, &mut buf, "key")?;
            let holders = self.table.holders();
            ip.replicas(&buf[..len], holders, &mut scratch);
            fastroute_engine::placement::distinct_prefix(&scratch, codes, n, &mut out)
        } else {
            self.table.replicas_distinct(self.key_hash(key)?, n, codes, &mut scratch, &mut out)
        };
        if !found {
            return Err(PyValueError::new_err(format!("n: the failover order holds fewer than {n} distinct localities")));
        }
        PyTuple::new(py, out.iter().map(|&i| self.names[i as usize].clone_ref(py)))
    }

    /// Rows of a replica-index matrix (failover order) reduced to their first n nodes
    /// with distinct codes; returns (out, found per row) — docs/multi_region.md §6.
    fn _distinct_rows<'py>(&self, py: Python<'py>, rows: numpy::PyReadonlyArray2<'py, i32>, n: usize,
                           codes: PyReadonlyArray1<'py, u32>) -> PyResult<(Bound<'py, PyArray2<i32>>, Bound<'py, PyArray1<i32>>)> {
        let shape = rows.shape();
        let (m, width) = (shape[0], shape[1]);
        let flat = rows.as_slice()?;
        let codes = codes.as_slice()?;
        let mut out = vec![0i32; m * n];
        let mut found = vec![0i32; m];
        let (mut order, mut pick) = (Vec::with_capacity(width), Vec::with_capacity(n));
        for r in 0..m {
            order.clear();
            order.extend(flat[r * width..(r + 1) * width].iter().map(|&x| x as u32));
            distinct_prefix_into(&order, codes, n, &mut pick);
            found[r] = pick.len() as i32;
            for (j, &node) in pick.iter().enumerate() {
                out[r * n + j] = node as i32;
            }
        }
        let _ = py;
        Ok((out.into_pyarray(py).reshape([m, n])?, found.into_pyarray(py)))
    }

    fn replica_indices(&self, key: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<u32>> {
        self.table.check_replica_count(n).map_err(arg_error)?;
        let mut out = Vec::with_capacity(n);
        if let Some(ip) = self.ip_hash() {
            let mut buf = [0u8; 16];
            let len = ip_bytes(key, &mut buf, "key")?;
            ip.replicas(&buf[..len], n, &mut out);
        } else {
            self.table.replicas(self.key_hash(key)?, n, &mut out);
        }
        Ok(out)
    }

    #[pyo3(signature = (keys, threads=None))]
    fn _route<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyTuple>, threads: Option<usize>) -> PyResult<Bound<'py, PyArray1<i32>>> {
        if let Some(out) = self.ip_hash().map(|ip| ip_objects(ip, keys, 1)).transpose()?.flatten() {
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
        if let Some(flat) = self.ip_hash().map(|ip| ip_objects(ip, keys, n)).transpose()?.flatten() {
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
        match slf.get().table.placement_as::<Ring>() {
            Some(_) => Ok(RingOps { table: slf.clone().unbind() }),
            None => Err(PyTypeError::new_err("only ring tables have points")),
        }
    }

    /// The nginx plain-hash operations (attempts, down peers).
    fn _nginx_hash(slf: &Bound<'_, Self>) -> PyResult<NginxHashOps> {
        match slf.get().table.placement_as::<PlainHash>() {
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

    /// Index of the node named `name`, or -1: compared as UTF-8 bytes here (a
    /// `tuple.index` paid a rich comparison per node, a tenth of an update).
    fn _position_of(&self, name: &Bound<'_, PyAny>) -> isize {
        let Some(text) = name.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) else { return -1 };
        self.table.names().iter().position(|have| &**have == text).map_or(-1, |i| i as isize)
    }
}
