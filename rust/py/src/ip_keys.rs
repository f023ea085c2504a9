// SPDX-License-Identifier: Apache-2.0
//! IP-hash keys given as Python objects: an address as text (str or ASCII
//! bytes) or an IPv4 address as an int, parsed as nginx `ip_hash` reads
//! `$remote_addr`; the engine (placement::iphash) parses and hashes them.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};

use fastroute_engine::placement::iphash::{self, ipv4_int_bytes, IpHash};

/// For IP hashing: the address bytes nginx hashes.
/// `what` names the key in errors; the key itself is never printed (it may be a card number).
pub(crate) fn ip_bytes(key: &Bound<'_, PyAny>, out: &mut [u8; 16], what: &str) -> PyResult<usize> {
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

/// IP tables given Python objects: each key parsed as `get_index` does
/// (an int is an IPv4 address, not 8 hashed bytes). n = 1: indices;
/// otherwise n replicas per key, row-major. None for other key inputs.
pub(crate) fn ip_objects(ip: &IpHash, keys: &Bound<'_, PyTuple>, n: usize) -> PyResult<Option<Vec<i32>>> {
    if keys.get_item(0)?.extract::<String>()? != "objects" {
        return Ok(None);
    }
    let seq = keys.get_item(1)?;
    let len = seq.len()?;
    let mut out = Vec::with_capacity(len * n);
    let (mut buf, mut reps) = ([0u8; 16], Vec::with_capacity(n));
    for i in 0..len {
        let used = ip_bytes(&seq.get_item(i)?, &mut buf, &format!("keys[{i}]"))?;
        if n == 1 {
            out.push(ip.lookup(&buf[..used]) as i32);
        } else {
            ip.replicas(&buf[..used], n, &mut reps);
            out.extend(reps.iter().map(|&r| r as i32));
        }
    }
    Ok(Some(out))
}
