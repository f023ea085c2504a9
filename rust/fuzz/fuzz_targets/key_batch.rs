// SPDX-License-Identifier: Apache-2.0
//! Untrusted Arrow-like buffers (offsets, widths, code points): validation
//! must reject bad layouts with an error, and hashing valid ones must not panic.
#![no_main]
use fastroute_engine::hash::HashAlgorithm;
use fastroute_engine::keys::{KeyBatch, Offsets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let split = data[0] as usize % data.len();
    let (head, tail) = data.split_at(split);
    let offsets: Vec<i32> = head.chunks(4).map(|c| {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        i32::from_le_bytes(b) % 64
    }).collect();
    let _ = KeyBatch::Varlen { data: tail, offsets: Offsets::I32(&offsets) }.hash_all(HashAlgorithm::Xxh3, 0);
    let width = 1 + data[1] as usize % 8;
    let _ = KeyBatch::FixedBytes { data: tail, width }.hash_all(HashAlgorithm::Xxh64, 1);
    let ucs4: Vec<u32> = tail.chunks(4).map(|c| {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        u32::from_le_bytes(b)
    }).collect();
    let _ = KeyBatch::FixedUcs4 { data: &ucs4, width }.hash_all(HashAlgorithm::Xxh3, 0);
});
