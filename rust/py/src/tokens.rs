// SPDX-License-Identifier: Apache-2.0
//! Binding of the card-number tokenizer: key batch in, hex or raw tokens and a
//! status per value out, GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use rayon::prelude::*;

use fastroute_engine::batch::{par_map, with_threads};
use crate::keys::{key_error, KeyStore};
use fastroute_engine::tokens::{hex_into, PanStatus, PanTokenizer, TOKEN_BYTES};

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
    let integers = matches!(batch, fastroute_engine::keys::KeyBatch::U64(_));
    let (status, tokens) = py
        .detach(|| {
            with_threads(threads, || {
                let results: Vec<([u8; TOKEN_BYTES], PanStatus)> = par_map(n, Vec::new, |scratch, i| {
                    let result = if integers {
                        let digits = match batch {
                            fastroute_engine::keys::KeyBatch::U64(v) => v[i].to_string(),
                            _ => unreachable!(),
                        };
                        tokenizer.token(digits.as_bytes(), check_luhn)
                    } else {
                        tokenizer.token(batch.bytes_at(i, scratch), check_luhn)
                    };
                    match result {
                        Ok(t) => (t, PanStatus::Ok),
                        Err(s) => ([0u8; TOKEN_BYTES], s),
                    }
                });
                let width = if hex { 2 * TOKEN_BYTES } else { TOKEN_BYTES };
                let mut out = vec![0u8; n * width];
                out.par_chunks_mut(width.max(1)).zip(results.par_iter()).for_each(|(slot, (t, s))| {
                    if *s == PanStatus::Ok {
                        if hex {
                            hex_into(t, slot);
                        } else {
                            slot.copy_from_slice(t);
                        }
                    }
                });
                let status: Vec<u8> = results.iter().map(|(_, s)| *s as u8).collect();
                (status, out)
            })
        })
        .map_err(PyValueError::new_err)?;
    Ok((tokens.into_pyarray(py), status.into_pyarray(py)))
}
