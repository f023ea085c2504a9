// SPDX-License-Identifier: Apache-2.0
//! Operations that exist for one kind of table only, reached through
//! `PlacementTable._ring()` / `._nginx_hash()` (a TypeError for other kinds),
//! so the generic table carries no per-kind methods.

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use fastroute_engine::batch::{par_map, with_threads};
use fastroute_engine::placement::nginx::PlainHash;
use fastroute_engine::placement::ring::Ring;
use fastroute_engine::placement::bounded;
use crate::keys::{key_error, push_key_bytes, KeyStore};
use crate::placement::PlacementTable;

/// Ring-shaped tables: points, positions, bounded loads.
#[pyclass(frozen, module = "fastroute._rust")]
pub struct RingOps {
    pub(crate) table: Py<PlacementTable>,
}

impl RingOps {
    fn ring(&self) -> &Ring {
        self.table.get().table.placement_as::<Ring>().expect("RingOps is made for ring tables only")
    }
}

#[pymethods]
impl RingOps {
    /// (points, owners) in ring order.
    fn points<'py>(&self, py: Python<'py>) -> (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u32>>) {
        let r = self.ring();
        (r.points().to_vec().into_pyarray(py), r.owners().to_vec().into_pyarray(py))
    }

    /// Index of the point `key` lands on.
    fn position(&self, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self.ring().lookup_index(self.table.get().key_hash(key)?))
    }

    /// Bounded-load batch assignment: see placement::bounded.
    fn assign_bounded<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyTuple>, c: f64, weights: Vec<f64>) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let (table, ring) = (&self.table.get().table, self.ring());
        if weights.len() != table.node_count() || weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(PyValueError::new_err("weights: internal: one finite weight >= 0 per node"));
        }
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        let out = py.detach(|| {
            let hashes = table.hash_batch(batch)?;
            Ok::<_, fastroute_engine::keys::KeyError>(bounded::assign_bounded(
                ring,
                &hashes,
                &bounded::capacities(ring, &weights, hashes.len(), c),
            ))
        });
        Ok(out.map_err(key_error)?.into_pyarray(py))
    }
}

/// nginx plain `hash $key`: the 21 attempts and routing around down peers (docs/algorithms.md §6.3).
#[pyclass(frozen, module = "fastroute._rust")]
pub struct NginxHashOps {
    pub(crate) table: Py<PlacementTable>,
}

impl NginxHashOps {
    fn plain(&self) -> &PlainHash {
        self.table.get().table.placement_as::<PlainHash>().expect("NginxHashOps is made for nginx plain hash tables only")
    }
}

#[pymethods]
impl NginxHashOps {
    /// The peers of nginx's 21 hash attempts for `key`.
    fn attempts(&self, key: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
        let mut buf = Vec::new();
        push_key_bytes(key, &mut buf, &|| "key".into())?;
        Ok(self.plain().attempts(&buf))
    }

    /// Per key: the first usable peer of the attempts, else the first usable peer.
    #[pyo3(signature = (keys, usable, threads=None))]
    fn route_usable<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyTuple>, usable: Vec<bool>, threads: Option<usize>) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let plain = self.plain();
        if usable.len() != plain.len() || !usable.iter().any(|&u| u) {
            return Err(PyValueError::new_err("usable: internal: one flag per server, at least one true"));
        }
        let store = KeyStore::from_arg(keys)?;
        let batch = store.batch()?;
        let m = batch.validate().map_err(key_error)?;
        let out = py
            .detach(|| {
                with_threads(threads, || {
                    par_map(m, Vec::new, |scratch, i| plain.first_usable(batch.bytes_at(i, scratch), &usable) as i32)
                })
            })
            .map_err(PyValueError::new_err)?;
        Ok(out.into_pyarray(py))
    }
}
