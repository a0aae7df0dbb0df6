//! SwiGLU's element-wise middle, forward and backward, as one pass over host values: the
//! kernels of the fused SwiGLU ([`crate::swiglu_fused`]).
//!
//! For the gate pre-activation `a` and the linear branch `b` (equal shapes, any rank, `N`
//! values each) and the incoming gradient `g = ∂L/∂h`:
//!
//! ```text
//! σ(a) = 1 / (1 + e^(−a))
//! h    = silu(a) ⊙ b = (a ⊙ σ(a)) ⊙ b
//! ∂L/∂a = g ⊙ b ⊙ σ(a) ⊙ (1 + a ⊙ (1 − σ(a)))
//! ∂L/∂b = g ⊙ silu(a)
//! ```
//!
//! (`σ' = σ(1 − σ)`, so `silu'(a) = σ + a·σ(1 − σ) = σ(1 + a(1 − σ))`.) The backward recomputes
//! `σ(a)` from `a` rather than keeping it from the forward: one more exponential per value,
//! one `[N]` buffer less per layer held for the backward.
//!
//! `σ` is computed without branches from `e = exp(−|a|) ∈ (0, 1]`: `σ = 1/(1 + e)` for `a ≥ 0`,
//! `e/(1 + e)` otherwise (neither overflows). The exponential is [`exp_non_positive`], a
//! range-reduced polynomial written so the loops vectorise (std's `expf` is a libm call per
//! value); its relative error is below `2·10⁻⁷` (tested against std). The blocks are compiled
//! for AVX-512 and AVX2 too and the widest the CPU has runs ([`widest`]). Blocks of
//! [`BLOCK`] values run in parallel on rayon's pool; each value depends on its own inputs only,
//! so every result bit is independent of the number of threads, and of whether autodiff
//! tracks the op.

use rayon::prelude::*;

/// Values per parallel task (a multiple of the vector width).
const BLOCK: usize = 1 << 14;

/// `log₂ e`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2 = LN2_HI − LN2_LO` split in two (Cody–Waite): `LN2_HI = 355/512` has 9 significant
/// bits, so `n·LN2_HI` is exact for the `|n| ≤ 126` used here.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = 2.121_944_4e-4;
/// `1.5 · 2²³`: adding and subtracting it rounds an `f32` of magnitude below `2²²` to the
/// nearest integer (ties to even) with plain additions, which vectorise.
const ROUND: f32 = 12_582_912.0;
/// Below this, `e^x` would leave the normal range; the input is clamped to it (`e^−87 ≈ 1.6e-38`).
const EXP_MIN: f32 = -87.0;

/// `e^x` for `x ≤ 0`, inputs below [`EXP_MIN`] clamped to it.
///
/// `x = n·ln 2 + r` with `n = round(x / ln 2)` and `|r| ≤ ln 2 / 2`; `e^r` is its Taylor
/// polynomial of degree 7 (truncation `< 0.347⁸/8! ≈ 5·10⁻⁹`) in Horner form, and `2ⁿ` is built
/// from its exponent bits (`−126 ≤ n ≤ 0`, so `2ⁿ` is a normal number).
#[inline(always)]
pub(crate) fn exp_non_positive(x: f32) -> f32 {
    let x = if x < EXP_MIN { EXP_MIN } else { x };
    let t = x * LOG2_E + ROUND; // ROUND + n, exactly
    let n = t - ROUND;
    let r = (x - n * LN2_HI) + n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // `n` is also the low bits of `t`: `2ⁿ` from integer lane operations (a saturating
    // `n as i32` would not vectorise).
    let two_to_n = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23);
    p * two_to_n
}

/// The logistic function `σ(a)`, branch-free (see the module docs).
#[inline(always)]
fn sigmoid(a: f32) -> f32 {
    let e = exp_non_positive(-a.abs());
    let q = 1.0 / (1.0 + e);
    if a >= 0.0 {
        q
    } else {
        e * q
    }
}

/// `h = silu(a) ⊙ b` for one block.
#[inline(always)]
fn forward_block(a: &[f32], b: &[f32], h: &mut [f32]) {
    let n = h.len();
    let (a, b) = (&a[..n], &b[..n]);
    for i in 0..n {
        h[i] = a[i] * sigmoid(a[i]) * b[i];
    }
}

/// `a ← ∂L/∂a`, `b ← ∂L/∂b` for one block, in place.
#[inline(always)]
fn backward_block(a: &mut [f32], b: &mut [f32], g: &[f32]) {
    let n = a.len();
    let (b, g) = (&mut b[..n], &g[..n]);
    for i in 0..n {
        let (a_i, b_i, g_i) = (a[i], b[i], g[i]);
        let s = sigmoid(a_i);
        a[i] = g_i * b_i * s * (1.0 + a_i * (1.0 - s));
        b[i] = g_i * (a_i * s);
    }
}

/// [`forward_block`] and [`backward_block`] compiled for the widest vector unit the CPU has
/// (AVX-512, AVX2, else the build's baseline), chosen at run time. The loops have no fused
/// multiply-adds (Rust does not contract `a * b + c`), so every width gives the same bits.
mod widest {
    use super::{backward_block, forward_block};

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn forward_avx512(a: &[f32], b: &[f32], h: &mut [f32]) {
        forward_block(a, b, h)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn forward_avx2(a: &[f32], b: &[f32], h: &mut [f32]) {
        forward_block(a, b, h)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn backward_avx512(a: &mut [f32], b: &mut [f32], g: &[f32]) {
        backward_block(a, b, g)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn backward_avx2(a: &mut [f32], b: &mut [f32], g: &[f32]) {
        backward_block(a, b, g)
    }

    pub(super) fn forward(a: &[f32], b: &[f32], h: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { forward_avx512(a, b, h) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { forward_avx2(a, b, h) };
            }
        }
        forward_block(a, b, h)
    }

    pub(super) fn backward(a: &mut [f32], b: &mut [f32], g: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { backward_avx512(a, b, g) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { backward_avx2(a, b, g) };
            }
        }
        backward_block(a, b, g)
    }
}

/// `h = silu(a) ⊙ b` (all three of length `N`; `b` and the result as long as `a`).
pub(crate) fn forward(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut h = vec![0.0f32; a.len()];
    h.par_chunks_mut(BLOCK)
        .zip(a.par_chunks(BLOCK))
        .zip(b.par_chunks(BLOCK))
        .for_each(|((h, a), b)| widest::forward(a, b, h));
    h
}

/// `a ← ∂L/∂a`, `b ← ∂L/∂b` (each `[N]`) in place, from the forward's inputs `a`, `b` and
/// `g = ∂L/∂h`: the backward needs no buffer of its own.
pub(crate) fn backward(a: &mut [f32], b: &mut [f32], g: &[f32]) {
    a.par_chunks_mut(BLOCK)
        .zip(b.par_chunks_mut(BLOCK))
        .zip(g.par_chunks(BLOCK))
        .for_each(|((a, b), g)| widest::backward(a, b, g));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_tenths_of_a_micro_of_std() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > EXP_MIN {
            let want = f64::from(x).exp();
            let got = f64::from(exp_non_positive(x));
            worst = worst.max((got - want).abs() / want);
            x -= 1.0e-3;
        }
        assert!(worst < 2e-7, "relative error {worst}");
        assert_eq!(exp_non_positive(0.0), 1.0);
        assert!(exp_non_positive(-1e4) > 0.0 && exp_non_positive(f32::NEG_INFINITY) > 0.0);
    }

    #[test]
    fn sigmoid_is_within_3e_7_relative_and_saturates() {
        for &a in &[-100.0f32, -20.0, -3.5, -1e-3, 0.0, 1e-3, 2.0, 20.0, 100.0] {
            let want = 1.0 / (1.0 + (-f64::from(a)).exp());
            let got = f64::from(sigmoid(a));
            // Relative below e^−87, absolute (the clamp) beyond.
            assert!(
                (got - want).abs() <= 3e-7 * want + 2e-38,
                "σ({a}) = {got} vs {want}"
            );
        }
    }

    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let n = 1000;
        let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.73).sin() * 30.0).collect();
        let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.21).cos()).collect();
        let (mut h, mut h_wide) = (vec![0.0; n], vec![0.0; n]);
        forward_block(&a, &b, &mut h);
        widest::forward(&a, &b, &mut h_wide);
        assert_eq!(h, h_wide);
        let (mut d_a, mut d_b) = (a.clone(), b.clone());
        let (mut d_a_wide, mut d_b_wide) = (a.clone(), b.clone());
        backward_block(&mut d_a, &mut d_b, &b);
        widest::backward(&mut d_a_wide, &mut d_b_wide, &b);
        assert_eq!((d_a, d_b), (d_a_wide, d_b_wide));
    }

    #[test]
    fn forward_and_backward_match_the_formulas_across_blocks() {
        let n = BLOCK + 37;
        let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
        let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() * 2.0).collect();
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.05).sin()).collect();
        let h = forward(&a, &b);
        let (mut d_a, mut d_b) = (a.clone(), b.clone());
        backward(&mut d_a, &mut d_b, &g);
        for i in 0..n {
            let (a, b, g) = (f64::from(a[i]), f64::from(b[i]), f64::from(g[i]));
            let s = 1.0 / (1.0 + (-a).exp());
            let checks = [
                (h[i], a * s * b),
                (d_a[i], g * b * s * (1.0 + a * (1.0 - s))),
                (d_b[i], g * a * s),
            ];
            for (got, want) in checks {
                assert!(
                    (f64::from(got) - want).abs() <= 1e-5,
                    "{i}: {got} vs {want}"
                );
            }
        }
    }
}
