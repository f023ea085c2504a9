// SPDX-License-Identifier: Apache-2.0
//! Placement algorithms: deterministic key → node tables. PyO3-free.

pub mod bounded;
pub mod haproxy;
pub mod iphash;
pub mod jump;
pub mod ketama;
pub mod maglev;
pub mod nginx;
pub mod rendezvous;
pub mod ring;
pub mod weights;
