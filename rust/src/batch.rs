// SPDX-License-Identifier: Apache-2.0
//! Vectorised map over a batch, split across rayon's pool above a threshold.
//! Results are written by index, so they do not depend on the split.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use rayon::ThreadPool;

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

/// `f(input_chunk, output_chunk)` over aligned chunks of a slice, in parallel
/// above the threshold; for kernels that work on several items at once.
pub fn par_chunks<T: Sync, U: Send + Copy + Default>(input: &[T], f: impl Fn(&[T], &mut [U]) + Sync + Send) -> Vec<U> {
    let mut out = vec![U::default(); input.len()];
    if input.len() < PARALLEL_THRESHOLD || rayon::current_num_threads() == 1 {
        f(input, &mut out);
    } else {
        out.par_chunks_mut(MIN_CHUNK)
            .zip(input.par_chunks(MIN_CHUNK))
            .for_each(|(o, i)| f(i, o));
    }
    out
}

/// Fills an `m × n` row-major matrix: `f(state, i, row_i)`; split-independent.
pub fn par_rows<S, I, F>(m: usize, n: usize, init: I, f: F) -> Vec<i32>
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [i32]) + Sync + Send,
{
    let mut out = vec![0i32; m * n];
    if n == 0 {
        return out;
    }
    if m < PARALLEL_THRESHOLD / 4 || rayon::current_num_threads() == 1 {
        let mut state = init();
        for (i, row) in out.chunks_mut(n).enumerate() {
            f(&mut state, i, row);
        }
    } else {
        out.par_chunks_mut(n)
            .enumerate()
            .with_min_len(MIN_CHUNK / 4)
            .for_each_init(&init, |state, (i, row)| f(state, i, row));
    }
    out
}

/// Runs `f` on a rayon pool of exactly `threads` workers (None: the global
/// pool, one worker per core). Pools are built once per size and reused.
pub fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R, String> {
    let Some(n) = threads else { return Ok(f()) };
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let pool = {
        let mut pools = POOLS.get_or_init(|| Mutex::new(HashMap::new())).lock().map_err(|e| e.to_string())?;
        match pools.get(&n) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| e.to_string())?);
                pools.insert(n, p.clone());
                p
            }
        }
    };
    // The pool lock is released before the work runs (rayon issue #592).
    Ok(pool.install(f))
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
