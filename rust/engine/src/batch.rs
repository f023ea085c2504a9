// SPDX-License-Identifier: Apache-2.0
//! Vectorised map over a batch, split across rayon's pool above a threshold.
//! Results are written by index, so they do not depend on the split.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rayon::ThreadPool;

/// Below this many items a batch runs on the calling thread: the fork/join
/// overhead (~microseconds) outweighs the work.
pub const PARALLEL_THRESHOLD: usize = 1 << 16;
/// Smallest chunk handed to one rayon task.
const MIN_CHUNK: usize = 4096;
/// Largest `threads=` a caller may ask for (documented in the Python API).
pub const MAX_THREADS: usize = 256;

thread_local! {
    /// Most tasks one batch may be split into, set by `with_threads` for the
    /// thread that runs the batch (usize::MAX: no limit beyond the pool).
    static TASK_LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Smallest piece per task so a batch of `n` items makes at most TASK_LIMIT tasks.
#[inline]
fn min_piece(n: usize, floor: usize) -> usize {
    let limit = TASK_LIMIT.with(|l| l.get()).max(1);
    floor.max(n.div_ceil(limit))
}

#[inline]
fn serial(n: usize, threshold: usize) -> bool {
    n < threshold || rayon::current_num_threads() == 1 || TASK_LIMIT.with(|l| l.get()) == 1
}

/// `out[i] = f(state, i)` for i in 0..n; `init` makes per-worker scratch state.
/// The output is written once, in place: collecting an indexed iterator fills
/// the new vector directly, where zero-filling it first cost ~10% of a cheap
/// kernel (docs/build.md §12).
pub fn par_map<S, T, I, F>(n: usize, init: I, f: F) -> Vec<T>
where
    T: Send + Copy + Default,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize) -> T + Sync + Send,
{
    if serial(n, PARALLEL_THRESHOLD) {
        let mut state = init();
        (0..n).map(|i| f(&mut state, i)).collect()
    } else {
        let mut out = Vec::with_capacity(n);
        (0..n)
            .into_par_iter()
            .with_min_len(min_piece(n, MIN_CHUNK))
            .map_init(&init, |state, i| f(state, i))
            .collect_into_vec(&mut out);
        out
    }
}

/// `out[i] = f(input[i])`, written in place as `par_map`; for per-item kernels.
pub fn par_map_items<T: Sync, U: Send, F: Fn(&T) -> U + Sync + Send>(input: &[T], f: F) -> Vec<U> {
    if serial(input.len(), PARALLEL_THRESHOLD) {
        input.iter().map(f).collect()
    } else {
        let mut out = Vec::with_capacity(input.len());
        input.par_iter().with_min_len(min_piece(input.len(), MIN_CHUNK)).map(f).collect_into_vec(&mut out);
        out
    }
}

/// `f(input_chunk, output_chunk)` over aligned chunks of a slice, in parallel
/// above the threshold; for kernels that work on several items at once.
pub fn par_chunks<T: Sync, U: Send + Copy + Default>(input: &[T], f: impl Fn(&[T], &mut [U]) + Sync + Send) -> Vec<U> {
    let mut out = vec![U::default(); input.len()];
    if serial(input.len(), PARALLEL_THRESHOLD) {
        f(input, &mut out);
    } else {
        let piece = min_piece(input.len(), MIN_CHUNK);
        out.par_chunks_mut(piece)
            .zip(input.par_chunks(piece))
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
    if serial(m, PARALLEL_THRESHOLD / 4) {
        let mut state = init();
        for (i, row) in out.chunks_mut(n).enumerate() {
            f(&mut state, i, row);
        }
    } else {
        out.par_chunks_mut(n)
            .enumerate()
            .with_min_len(min_piece(m, MIN_CHUNK / 4))
            .for_each_init(&init, |state, (i, row)| f(state, i, row));
    }
    out
}

/// Fills two row-major byte outputs of `m` rows together (row widths `wa`, `wb`
/// ≥ 1): `f(state, i, row_a_i, row_b_i)`; split-independent. Lets a kernel
/// write its result and a status per item in one pass.
pub fn par_rows_bytes<S, I, F>(m: usize, wa: usize, wb: usize, init: I, f: F) -> (Vec<u8>, Vec<u8>)
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [u8], &mut [u8]) + Sync + Send,
{
    assert!(wa > 0 && wb > 0, "row widths must be >= 1");
    let (mut a, mut b) = (vec![0u8; m * wa], vec![0u8; m * wb]);
    if serial(m, PARALLEL_THRESHOLD / 4) {
        let mut state = init();
        for (i, (ra, rb)) in a.chunks_mut(wa).zip(b.chunks_mut(wb)).enumerate() {
            f(&mut state, i, ra, rb);
        }
    } else {
        // Whole blocks of rows per task, so each task touches contiguous memory.
        let rows = min_piece(m, MIN_CHUNK / 4);
        a.par_chunks_mut(rows * wa)
            .zip(b.par_chunks_mut(rows * wb))
            .enumerate()
            .for_each_init(&init, |state, (block, (ba, bb))| {
                for (r, (ra, rb)) in ba.chunks_mut(wa).zip(bb.chunks_mut(wb)).enumerate() {
                    f(state, block * rows + r, ra, rb);
                }
            });
    }
    (a, b)
}

/// Runs `f` with at most `threads` workers busy (None: rayon's global pool,
/// one worker per core). There is one shared pool for explicit counts, grown
/// on demand up to MAX_THREADS and never one pool per distinct count: a batch
/// is limited to `threads` tasks (TASK_LIMIT) instead. Results are written by
/// index, so they do not depend on the count.
pub fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R, String> {
    let Some(n) = threads else { return Ok(f()) };
    if n == 0 || n > MAX_THREADS {
        return Err(format!("threads: must be in 1..={MAX_THREADS}, got {n}"));
    }
    let limited = move || {
        struct Restore(usize);
        impl Drop for Restore {
            fn drop(&mut self) {
                TASK_LIMIT.with(|l| l.set(self.0));
            }
        }
        let _restore = Restore(TASK_LIMIT.with(|l| l.replace(n)));
        f()
    };
    if n <= rayon::current_num_threads() {
        // The global pool has enough workers; splitting into n tasks bounds the parallelism.
        return Ok(limited());
    }
    static SHARED: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);
    let pool = {
        let mut shared = SHARED.lock().map_err(|e| e.to_string())?;
        match shared.as_ref() {
            Some(p) if p.current_num_threads() >= n => p.clone(),
            _ => {
                // Grow geometrically (at least doubling, capped at MAX_THREADS), so a
                // sweep over many counts rebuilds the pool a few times, not once per
                // count; the old pool's threads exit once its last batch ends.
                let current = shared.as_ref().map_or(0, |p| p.current_num_threads());
                let size = n.max(current.saturating_mul(2)).min(MAX_THREADS);
                let p = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(size).build().map_err(|e| e.to_string())?);
                *shared = Some(p.clone());
                p
            }
        }
    };
    // The lock is released before the work runs (rayon issue #592).
    Ok(pool.install(limited))
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

    #[test]
    fn items_map_in_order_for_any_split() {
        let input: Vec<u64> = (0..(PARALLEL_THRESHOLD * 2 + 9) as u64).collect();
        let want: Vec<u64> = input.iter().map(|v| v ^ 0xABCD).collect();
        for t in [1, 2, 5] {
            assert_eq!(with_threads(Some(t), || par_map_items(&input, |v| v ^ 0xABCD)).unwrap(), want);
        }
        assert!(par_map_items(&[] as &[u64], |v| *v).is_empty());
    }

    #[test]
    fn thread_counts_agree_and_are_capped() {
        let n = PARALLEL_THRESHOLD * 2 + 5;
        let want = par_map(n, || (), |_, i| i as u32 ^ 0x5555);
        for t in [1, 2, 3, 7, 64] {
            assert_eq!(with_threads(Some(t), || par_map(n, || (), |_, i| i as u32 ^ 0x5555)).unwrap(), want);
        }
        assert!(with_threads(Some(0), || ()).is_err());
        assert!(with_threads(Some(MAX_THREADS + 1), || ()).is_err());
    }
}
