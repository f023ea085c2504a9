// SPDX-License-Identifier: Apache-2.0
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use fastroute_engine::hash::HashAlgorithm;
use crate::keys::{key_error, push_key_bytes, KeyStore};

pub fn hash_by_name(name: &str) -> PyResult<HashAlgorithm> {
    HashAlgorithm::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "hash: unknown hash {name:?}; expected one of {:?}",
            HashAlgorithm::NAMES
        ))
    })
}

/// Hashes a normalised key batch (see `py::keys`) with the GIL released.
#[pyfunction]
pub fn hash_batch<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyTuple>,
    hash: &str,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let algo = hash_by_name(hash)?;
    let store = KeyStore::from_arg(keys)?;
    let batch = store.batch()?;
    let hashes = py.detach(|| batch.hash_all(algo, seed)).map_err(key_error)?;
    Ok(hashes.into_pyarray(py))
}

/// Hash of one key (str, bytes or int).
#[pyfunction]
pub fn hash_one(key: &Bound<'_, PyAny>, hash: &str, seed: u64) -> PyResult<u64> {
    let algo = hash_by_name(hash)?;
    let mut buf = Vec::with_capacity(32);
    push_key_bytes(key, &mut buf, &|| "key".to_string())?;
    Ok(algo.hash(&buf, seed))
}
