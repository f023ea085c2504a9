// SPDX-License-Identifier: Apache-2.0
//! Python key collections → `KeyBatch`.
//!
//! The Python face (`fastroute._keys.key_batch_arg`) normalises any accepted
//! input to one of these tagged tuples, so every batch entry point here
//! shares one conversion:
//!   ("u64", uint64[n])                   integer keys
//!   ("fixed_bytes", uint8[n*w], w)       numpy S<w>
//!   ("ucs4", uint32[n*w], w)             numpy U<w>
//!   ("varlen32" | "varlen64", uint8[], int32|int64[n+1])   Arrow string/binary
//!   ("objects", list | tuple)            Python str / bytes / int keys

use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString, PyTuple};

use fastroute_engine::keys::{KeyBatch, Offsets};

/// Appends the canonical bytes of one Python key: str → UTF-8, bytes as is,
/// int → 8 bytes little-endian (two's complement for negatives).
pub fn push_key_bytes(item: &Bound<'_, PyAny>, out: &mut Vec<u8>, what: &dyn Fn() -> String) -> PyResult<()> {
    if let Ok(s) = item.cast::<PyString>() {
        let text = s.to_str().map_err(|_| {
            PyValueError::new_err(format!("{}: str key is not valid UTF-8 (lone surrogate)", what()))
        })?;
        out.extend_from_slice(text.as_bytes());
    } else if let Ok(b) = item.cast::<PyBytes>() {
        out.extend_from_slice(b.as_bytes());
    } else if item.is_instance_of::<PyInt>() && !item.is_instance_of::<PyBool>() {
        out.extend_from_slice(&int_key(item, what)?.to_le_bytes());
    } else {
        return Err(PyTypeError::new_err(format!(
            "{}: keys must be str, bytes or int, got {}",
            what(),
            item.get_type().name()?
        )));
    }
    Ok(())
}

/// An int key as its u64 bit pattern: values in [-2**63, 2**64) are accepted.
pub fn int_key(item: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<u64> {
    if let Ok(v) = item.extract::<u64>() {
        return Ok(v);
    }
    if let Ok(v) = item.extract::<i64>() {
        return Ok(v as u64);
    }
    Err(PyOverflowError::new_err(format!("{}: int keys must lie in [-2**63, 2**64)", what())))
}

/// Owned or borrowed storage behind a `KeyBatch`.
pub enum KeyStore<'py> {
    U64(PyReadonlyArray1<'py, u64>),
    FixedBytes(PyReadonlyArray1<'py, u8>, usize),
    Ucs4(PyReadonlyArray1<'py, u32>, usize),
    Varlen32(PyReadonlyArray1<'py, u8>, PyReadonlyArray1<'py, i32>),
    Varlen64(PyReadonlyArray1<'py, u8>, PyReadonlyArray1<'py, i64>),
    Owned(Vec<u8>, Vec<i64>),
}

impl<'py> KeyStore<'py> {
    pub fn from_arg(arg: &Bound<'py, PyTuple>) -> PyResult<Self> {
        let kind: String = arg.get_item(0)?.extract()?;
        let store = match kind.as_str() {
            "u64" => KeyStore::U64(arg.get_item(1)?.extract()?),
            "fixed_bytes" => KeyStore::FixedBytes(arg.get_item(1)?.extract()?, arg.get_item(2)?.extract()?),
            "ucs4" => KeyStore::Ucs4(arg.get_item(1)?.extract()?, arg.get_item(2)?.extract()?),
            "varlen32" => KeyStore::Varlen32(arg.get_item(1)?.extract()?, arg.get_item(2)?.extract()?),
            "varlen64" => KeyStore::Varlen64(arg.get_item(1)?.extract()?, arg.get_item(2)?.extract()?),
            "objects" => {
                let seq = arg.get_item(1)?;
                let (data, offsets) = if let Ok(list) = seq.cast::<PyList>() {
                    collect_objects(list.len(), |i| list.get_item(i))?
                } else if let Ok(tuple) = seq.cast::<PyTuple>() {
                    collect_objects(tuple.len(), |i| tuple.get_item(i))?
                } else {
                    return Err(PyTypeError::new_err("keys: expected a list or tuple"));
                };
                KeyStore::Owned(data, offsets)
            }
            other => return Err(PyValueError::new_err(format!("internal: unknown key batch kind {other:?}"))),
        };
        Ok(store)
    }

    pub fn batch(&self) -> PyResult<KeyBatch<'_>> {
        let contiguous = "keys: array must be C-contiguous";
        Ok(match self {
            KeyStore::U64(a) => KeyBatch::U64(a.as_slice().map_err(|_| PyValueError::new_err(contiguous))?),
            KeyStore::FixedBytes(a, w) => KeyBatch::FixedBytes {
                data: a.as_slice().map_err(|_| PyValueError::new_err(contiguous))?,
                width: *w,
            },
            KeyStore::Ucs4(a, w) => KeyBatch::FixedUcs4 {
                data: a.as_slice().map_err(|_| PyValueError::new_err(contiguous))?,
                width: *w,
            },
            KeyStore::Varlen32(d, o) => KeyBatch::Varlen {
                data: d.as_slice().map_err(|_| PyValueError::new_err(contiguous))?,
                offsets: Offsets::I32(o.as_slice().map_err(|_| PyValueError::new_err(contiguous))?),
            },
            KeyStore::Varlen64(d, o) => KeyBatch::Varlen {
                data: d.as_slice().map_err(|_| PyValueError::new_err(contiguous))?,
                offsets: Offsets::I64(o.as_slice().map_err(|_| PyValueError::new_err(contiguous))?),
            },
            KeyStore::Owned(d, o) => KeyBatch::Varlen { data: d, offsets: Offsets::I64(o) },
        })
    }
}

fn collect_objects<'py>(
    n: usize,
    get: impl Fn(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<(Vec<u8>, Vec<i64>)> {
    let mut data = Vec::with_capacity(n * 16);
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0i64);
    for i in 0..n {
        let item = get(i)?;
        push_key_bytes(&item, &mut data, &|| format!("keys[{i}]"))?;
        offsets.push(data.len() as i64);
    }
    Ok((data, offsets))
}

pub fn key_error(e: fastroute_engine::keys::KeyError) -> PyErr {
    PyValueError::new_err(format!("keys: {e}"))
}
