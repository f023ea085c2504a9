// SPDX-License-Identifier: Apache-2.0
//! The arrays of dropped tables, kept for the next incremental update
//! (docs/build.md §13).
//!
//! A membership change builds a new table next to the old one, and the old one
//! is dropped soon after. Handed back to malloc, arrays of a few hundred KiB
//! went back to the kernel (glibc trims the heap top above its trim threshold)
//! and the next table faulted its pages in again: half of an add + remove of a
//! 100-node ring was page faults. Kept here instead, bounded by count and bytes,
//! they come back already mapped.

use std::mem::size_of;
use std::sync::Mutex;

/// Arrays kept per element type: those of the two tables of a change (the
/// dropped one, the one before it) with room to spare.
const KEPT_ARRAYS: usize = 8;
/// Bytes kept per element type: a 16 M-point ring's points; larger arrays go
/// back to the allocator (their page faults are small next to their build).
const KEPT_BYTES: usize = 128 << 20;

pub struct Recycled<T> {
    free: Mutex<Vec<Vec<T>>>,
}

impl<T: Copy> Default for Recycled<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> Recycled<T> {
    pub const fn new() -> Self {
        Recycled { free: Mutex::new(Vec::new()) }
    }

    /// An empty array with room for `capacity` elements: a kept one when one
    /// fits (and is not more than twice the size, so memory is not wasted on
    /// a small table), else a new one.
    pub fn take(&self, capacity: usize) -> Vec<T> {
        let kept = {
            let mut free = self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            free.iter()
                .position(|v| v.capacity() >= capacity && v.capacity() <= capacity.saturating_mul(2).max(64))
                .map(|i| free.swap_remove(i))
        };
        match kept {
            Some(mut v) => {
                v.clear();
                v
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Keeps `array` for a later `take` while within the bounds, else frees it.
    pub fn give(&self, array: Vec<T>) {
        let bytes = array.capacity() * size_of::<T>();
        if bytes == 0 || bytes > KEPT_BYTES {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let held: usize = free.iter().map(|v| v.capacity() * size_of::<T>()).sum();
        if free.len() < KEPT_ARRAYS && held + bytes <= KEPT_BYTES {
            free.push(array);
        }
    }

    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.free.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_array_comes_back_empty_and_the_bounds_hold() {
        let pool: Recycled<u64> = Recycled::new();
        let mut v = Vec::with_capacity(1000);
        v.extend(0..1000u64);
        let at = v.as_ptr();
        pool.give(v);
        let back = pool.take(900);
        assert!(back.is_empty() && back.capacity() >= 1000 && back.as_ptr() == at);
        // Too small for the request, or more than twice it: a new array.
        pool.give(back);
        let (larger, smaller) = (pool.take(2000), pool.take(100));
        assert!(larger.as_ptr() != at && smaller.as_ptr() != at);
        assert_eq!(pool.kept(), 1);
        for _ in 0..2 * KEPT_ARRAYS {
            pool.give(Vec::with_capacity(10));
        }
        assert_eq!(pool.kept(), KEPT_ARRAYS);
        pool.give(Vec::with_capacity(KEPT_BYTES / 8 + 1)); // over the byte bound: freed
        assert_eq!(pool.kept(), KEPT_ARRAYS);
    }
}
