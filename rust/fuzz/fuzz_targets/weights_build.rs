// SPDX-License-Identifier: Apache-2.0
//! Arbitrary finite weights (huge, subnormal, zero) and ring sizes: building
//! Maglev, rendezvous and normalized rings must never panic, overflow or
//! allocate past the requested limits (issue 11: sums of finite weights that
//! overflow, share weights beyond max_ring_size).
#![no_main]
use fastroute_engine::hash::HashAlgorithm;
use fastroute_engine::placement::maglev::Maglev;
use fastroute_engine::placement::rendezvous::Rendezvous;
use fastroute_engine::placement::ring::normalized_points;
use fastroute_engine::placement::weights::shares;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let max_ring_size = 1 + u16::from_le_bytes([data[0], data[1]]) as u64 % 4096;
    let weights_are_shares = data[2] & 1 == 1;
    let weights: Vec<f64> = data[3..]
        .chunks(8)
        .take(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            f64::from_le_bytes(b).abs()
        })
        .filter(|w| w.is_finite())
        .collect();
    if weights.is_empty() || !weights.iter().any(|&w| w > 0.0) {
        return;
    }
    let names: Vec<String> = (0..weights.len()).map(|i| format!("n{i}")).collect();
    let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
    let s = shares(&weights);
    let total: f64 = s.iter().sum();
    assert!(s.iter().all(|x| x.is_finite() && *x >= 0.0) && (total - 1.0).abs() < 1e-9, "{weights:?} -> {s:?}");
    if let Ok(points) = normalized_points(&refs, &weights, 1, max_ring_size, HashAlgorithm::Xxh3, weights_are_shares) {
        assert!(points.len() as u64 <= max_ring_size + weights.len() as u64 + 1, "{} points", points.len());
    }
    let m = Maglev::build_with(&refs, &weights, 101, weights_are_shares).unwrap();
    assert!(m.table().iter().all(|&o| weights[o as usize] > 0.0));
    let r = Rendezvous::new(&refs, &weights);
    for h in [0u64, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15] {
        assert!(weights[r.lookup(h) as usize] > 0.0);
    }
});
