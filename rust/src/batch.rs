// SPDX-License-Identifier: Apache-2.0
//! Vectorised map over a batch, split across rayon's pool above a threshold.
//! Results are written by index, so they do not depend on the split.

use rayon::prelude::*;

/// Below this many items a batch runs on the calling thread: the fork/join
/// overhead (~microseconds) outweighs the work.
pub const PARALLEL_THRESHOLD: usize = 1 << 16;
/// Smallest chunk handed to one rayon task.
const MIN_CHUNK: usize = 4096;

/// `out[i] = f(state, i)` for i in 0..n; `init` makes per-worker scratch state.
pub fn par_map<S, T, I, F>(n: usize, init: I, f: F) -> Vec<T>
where
    T: Send + Copy + Default,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize) -> T + Sync + Send,
{
    let mut out = vec![T::default(); n];
    if n < PARALLEL_THRESHOLD || rayon::current_num_threads() == 1 {
        let mut state = init();
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = f(&mut state, i);
        }
    } else {
        out.par_iter_mut()
            .enumerate()
            .with_min_len(MIN_CHUNK)
            .for_each_init(&init, |state, (i, slot)| *slot = f(state, i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_and_serial_agree() {
        let n = PARALLEL_THRESHOLD * 3 + 17;
        let out = par_map(n, || 0u64, |_, i| (i as u64).wrapping_mul(0x9E3779B97F4A7C15));
        for (i, v) in out.iter().enumerate() {
            assert_eq!(*v, (i as u64).wrapping_mul(0x9E3779B97F4A7C15));
        }
    }
}
