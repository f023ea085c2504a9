// SPDX-License-Identifier: Apache-2.0
//! fastroute placement engine: plain Rust, no PyO3 (tested with `cargo test`;
//! the `fastroute-py` crate binds it to Python).

pub mod batch;
pub mod csv_frame;
pub mod hash;
pub mod keys;
pub mod placement;
pub mod tokens;
