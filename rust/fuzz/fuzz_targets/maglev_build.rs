// SPDX-License-Identifier: Apache-2.0
//! Arbitrary names, weights and table sizes: Maglev builds or errors, never
//! panics or loops forever, and every slot is filled by a weighted node.
#![no_main]
use fastroute_engine::placement::maglev::Maglev;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let size = [2u64, 3, 7, 17, 251, 4099, 8][data[0] as usize % 7];
    let names: Vec<&[u8]> = data[2..].chunks(3).collect();
    let weights: Vec<f64> = names.iter().map(|n| (n[0] % 4) as f64 * 0.5).collect();
    if let Ok(m) = Maglev::build(&names, &weights, size) {
        assert!(m.table().iter().all(|&i| weights[i as usize] > 0.0));
    }
});
