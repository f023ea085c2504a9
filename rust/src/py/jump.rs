// SPDX-License-Identifier: Apache-2.0
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::batch::par_map;
use crate::placement::jump::jump_bucket;

/// Jump buckets for pre-hashed keys.
#[pyfunction]
pub fn jump_buckets<'py>(
    py: Python<'py>,
    hashes: PyReadonlyArray1<'py, u64>,
    buckets: u32,
) -> PyResult<Bound<'py, PyArray1<i32>>> {
    if buckets == 0 || buckets > i32::MAX as u32 {
        return Err(PyValueError::new_err("buckets: must be in 1..=2**31-1"));
    }
    let h = hashes.as_slice().map_err(|_| PyValueError::new_err("hashes: array must be C-contiguous"))?;
    let out = py.detach(|| par_map(h.len(), || (), |_, i| jump_bucket(h[i], buckets) as i32));
    Ok(out.into_pyarray(py))
}

/// Jump bucket of one pre-hashed key.
#[pyfunction]
pub fn jump_bucket_one(hash: u64, buckets: u32) -> PyResult<i32> {
    if buckets == 0 || buckets > i32::MAX as u32 {
        return Err(PyValueError::new_err("buckets: must be in 1..=2**31-1"));
    }
    Ok(jump_bucket(hash, buckets) as i32)
}
