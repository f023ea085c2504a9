// SPDX-License-Identifier: Apache-2.0
//! fastroute placement engine. `hash`, `keys`, `batch` and `placement` are
//! plain Rust (tested with `cargo test`); `py` is the thin PyO3 layer.

pub mod batch;
pub mod csv_frame;
pub mod hash;
pub mod keys;
pub mod placement;
mod py;
pub mod tokens;

use pyo3::prelude::*;

#[pymodule]
fn _rust(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", env!("FASTROUTE_BUILD_PROFILE"))?;
    m.add("MAX_THREADS", batch::MAX_THREADS)?;
    m.add_function(wrap_pyfunction!(py::hash::hash_batch, m)?)?;
    m.add_function(wrap_pyfunction!(py::hash::hash_one, m)?)?;
    m.add_class::<py::placement::PlacementTable>()?;
    m.add_class::<py::csv_frame::PyCsvFramer>()?;
    m.add_function(wrap_pyfunction!(py::tokens::pan_tokens, m)?)?;
    Ok(())
}
