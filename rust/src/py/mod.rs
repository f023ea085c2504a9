// SPDX-License-Identifier: Apache-2.0
//! Thin PyO3 layer: converts arguments, releases the GIL, calls the engine.

pub mod csv_frame;
pub mod hash;
pub mod keys;
pub mod placement;
pub mod tokens;
