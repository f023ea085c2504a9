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

/// Correctly rounded sum of finite values (Shewchuk 1997, "Adaptive Precision
/// Floating-Point Arithmetic", non-overlapping partials; the final half-way
/// correction makes it equal to Python's `math.fsum`). Unlike a running sum
/// it does not depend on the order of the values, so a table built from
/// shuffled nodes normalises their weights identically.
pub fn exact_sum(values: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::with_capacity(8);
    for &value in values {
        let mut x = value;
        let mut kept = 0;
        for k in 0..partials.len() {
            let mut y = partials[k];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    // Add the partials from the largest down; stop at the first inexact step.
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Round half-way cases by the sign of the next partial, as exact rounding requires.
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

#[cfg(test)]
mod exact_sum_tests {
    use super::exact_sum;

    #[test]
    fn order_independent_and_exact() {
        // 0.1 + 0.2 + 0.3 sums to 0.6000000000000001 left to right; exactly rounded it is 0.6.
        assert_eq!(exact_sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(exact_sum(&[0.3, 0.2, 0.1]), 0.6);
        assert_eq!(exact_sum(&[1e100, 1.0, -1e100, 1e-100]), 1.0);
        assert_eq!(exact_sum(&[]), 0.0);
        assert_eq!(exact_sum(&[2.0, 3.5]), 5.5);
    }
}
