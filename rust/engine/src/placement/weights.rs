// SPDX-License-Identifier: Apache-2.0
//! Overflow-safe weight arithmetic. PyO3-free.
//!
//! Weights that are each finite can still overflow when summed (1.7e308 +
//! 1.7e307) or lose all precision when divided (subnormal 5e-324). Scaling
//! every weight by the same power of two so the largest lies in [1, 2) is
//! exact for normal numbers, so every ratio, comparison and quotient the
//! algorithms compute is unchanged for ordinary weights (results stay bit
//! for bit equal to the references and to Envoy), while sums can no longer
//! overflow (n weights < 2 each) and tiny weights become normal numbers.

/// `x * 2^k`, exact unless the result leaves the normal range; done in
/// steps so 2^k itself never overflows.
fn times_pow2(mut x: f64, mut k: i32) -> f64 {
    while k > 1000 {
        x *= 2f64.powi(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= 2f64.powi(-1000);
        k += 1000;
    }
    x * 2f64.powi(k)
}

/// Exponent e with max * 2^e in [1, 2); 0 for an all-zero list.
fn scale_exponent(weights: &[f64]) -> i32 {
    let max = weights.iter().cloned().fold(0.0f64, f64::max);
    if !(max > 0.0) || !max.is_finite() {
        return 0;
    }
    // log2 of a subnormal is still accurate enough to pick the exponent; fix up by one step.
    let mut e = -(max.log2().floor() as i32);
    let scaled = times_pow2(max, e);
    if scaled >= 2.0 {
        e -= 1;
    } else if scaled < 1.0 {
        e += 1;
    }
    e
}

/// Weights times one power of two so the largest is in [1, 2). A positive
/// weight never becomes zero (it keeps the smallest positive share).
pub fn rescaled(weights: &[f64]) -> Vec<f64> {
    let e = scale_exponent(weights);
    if e == 0 {
        return weights.to_vec();
    }
    weights
        .iter()
        .map(|&w| {
            let s = times_pow2(w, e);
            if w > 0.0 && s == 0.0 { f64::from_bits(1) } else { s }
        })
        .collect()
}

/// Shares w_i / Σw, computed without overflow.
pub fn shares(weights: &[f64]) -> Vec<f64> {
    let scaled = rescaled(weights);
    let sum: f64 = scaled.iter().sum();
    scaled.iter().map(|w| w / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_weights_keep_their_ratios_exactly() {
        let w = [1.0, 2.0, 3.0, 0.0, 7.5];
        let s = rescaled(&w);
        for (a, b) in w.iter().zip(&s) {
            assert_eq!(a / 7.5, b / s[4]);
        }
        assert!(s[4] >= 1.0 && s[4] < 2.0);
    }

    #[test]
    fn huge_and_tiny_weights() {
        let s = shares(&[1.7e308, 1.7e307]);
        assert!((s[0] - 10.0 / 11.0).abs() < 1e-12);
        let s = shares(&[5e-324, 5e-324, 5e-324]);
        assert!(s.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-12));
        let s = rescaled(&[1e308, 1e-320]);
        assert!(s[1] > 0.0);
        assert_eq!(rescaled(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
