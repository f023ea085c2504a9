// SPDX-License-Identifier: Apache-2.0
//! Arbitrary caller-supplied points and rules: building and looking up must
//! never panic, and every answer must be an owner that holds a point.
#![no_main]
use fastroute_engine::placement::ring::{LookupRule, Ring};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let nodes = 1 + data[0] as usize % 16;
    let rule = [LookupRule::AtOrAfter, LookupRule::After, LookupRule::Nearest][data[1] as usize % 3];
    let words: Vec<u64> = data[2..].chunks(8).map(|c| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(b)
    }).collect();
    let pairs: Vec<(u64, u32)> = words.iter().map(|&w| (w, (w % nodes as u64) as u32)).collect();
    let Ok(ring) = Ring::from_points(pairs, nodes, rule) else { return };
    let mut out = Vec::new();
    for &h in &words {
        let owner = ring.lookup(h);
        assert!(ring.owners().contains(&owner));
        ring.replicas(h, ring.holders(), &mut out);
        assert_eq!(out.len(), ring.holders());
    }
});
