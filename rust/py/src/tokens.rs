// SPDX-License-Identifier: Apache-2.0
//! Binding of the card-number tokenizer: key batch in, hex or raw tokens and a
//! status per value out, GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use fastroute_engine::batch::with_threads;
use crate::keys::{key_error, KeyStore};
use fastroute_engine::tokens::PanTokenizer;

/// Tokens of a normalised key batch: (uint8[n * (64 if hex else 32)], status uint8[n]).
/// Integer keys are read as their decimal digits.
#[pyfunction]
#[pyo3(signature = (keys, secret, check_luhn, hex, threads=None))]
pub fn pan_tokens<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyTuple>,
    secret: &Bound<'py, PyBytes>,
    check_luhn: bool,
    hex: bool,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyArray1<u8>>, Bound<'py, PyArray1<u8>>)> {
    let tokenizer = PanTokenizer::new(secret.as_bytes()).map_err(PyValueError::new_err)?;
    let store = KeyStore::from_arg(keys)?;
    let batch = store.batch()?;
    let n = batch.validate().map_err(key_error)?;
    let (tokens, status) = py.detach(|| with_threads(threads, || tokenizer.tokens_batch(batch, n, check_luhn, hex)))
        .map_err(PyValueError::new_err)?;
    Ok((tokens.into_pyarray(py), status.into_pyarray(py)))
}
