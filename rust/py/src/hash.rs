// SPDX-License-Identifier: Apache-2.0
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use fastroute_engine::hash::keyed::PlacementKey;
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

/// The placement key of a secret; the error names `secret` and the rule, never the bytes.
pub fn placement_key(secret: &[u8]) -> PyResult<PlacementKey> {
    PlacementKey::from_secret(secret).map_err(|e| PyValueError::new_err(format!("secret: {e}")))
}

/// Hashes a normalised key batch (see `py::keys`) with the GIL released.
/// With `secret`: the keyed placement hash (SipHash-1-3, docs/algorithms.md §22).
#[pyfunction]
#[pyo3(signature = (keys, hash, seed, secret=None))]
pub fn hash_batch<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyTuple>,
    hash: &str,
    seed: u64,
    secret: Option<&[u8]>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let algo = hash_by_name(hash)?;
    let key = secret.map(placement_key).transpose()?;
    let store = KeyStore::from_arg(keys)?;
    let batch = store.batch()?;
    let hashes = py
        .detach(|| match &key {
            Some(k) => batch.hash_all_with(|b: &[u8]| k.hash(b)),
            None => batch.hash_all(algo, seed),
        })
        .map_err(key_error)?;
    Ok(hashes.into_pyarray(py))
}

/// Hash of one key (str, bytes or int); with `secret`, the keyed placement hash.
#[pyfunction]
#[pyo3(signature = (key, hash, seed, secret=None))]
pub fn hash_one(key: &Bound<'_, PyAny>, hash: &str, seed: u64, secret: Option<&[u8]>) -> PyResult<u64> {
    let algo = hash_by_name(hash)?;
    let placement = secret.map(placement_key).transpose()?;
    let mut buf = Vec::with_capacity(32);
    push_key_bytes(key, &mut buf, &|| "key".to_string())?;
    Ok(match placement {
        Some(k) => k.hash(&buf),
        None => algo.hash(&buf, seed),
    })
}
