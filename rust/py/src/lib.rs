// SPDX-License-Identifier: Apache-2.0
//! `fastroute._rust`: the thin PyO3 layer over `fastroute-engine`. It converts
//! arguments, releases the GIL and calls the engine.

mod csv_frame;
mod hash;
mod ip_keys;
mod keys;
mod placement;
mod placement_kinds;
mod tokens;

use pyo3::prelude::*;

#[pymodule]
fn _rust(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", env!("FASTROUTE_BUILD_PROFILE"))?;
    m.add("MAX_THREADS", fastroute_engine::batch::MAX_THREADS)?;
    m.add("MAX_RING_POINTS", fastroute_engine::placement::ring::MAX_POINTS)?;
    m.add("MAX_MAGLEV_TABLE_SIZE", fastroute_engine::placement::maglev::MAX_TABLE_SIZE)?;
    // The engine's kind registry, so tests can check every kind has a Python face.
    let kinds: Vec<&str> = fastroute_engine::placement::KINDS.iter().map(|k| k.name).collect();
    m.add("PLACEMENT_KINDS", pyo3::types::PyTuple::new(m.py(), kinds)?)?;
    m.add_function(wrap_pyfunction!(hash::hash_batch, m)?)?;
    m.add_function(wrap_pyfunction!(hash::hash_one, m)?)?;
    m.add_class::<placement::PlacementTable>()?;
    m.add_class::<placement_kinds::RingOps>()?;
    m.add_class::<placement_kinds::NginxHashOps>()?;
    m.add_class::<csv_frame::PyCsvFramer>()?;
    m.add_function(wrap_pyfunction!(tokens::pan_tokens, m)?)?;
    Ok(())
}
