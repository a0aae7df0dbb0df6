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
//! `e/(1 + e)` otherwise (neither overflows). The exponential is [`exp`], a range-reduced
//! polynomial written so the loops vectorise; the blocks run at the widest vector width the CPU
//! has ([`at_widest_vector_width`]). Blocks of
//! [`BLOCK`] values run in parallel on rayon's pool; each value depends on its own inputs only,
//! so every result bit is independent of the number of threads, and of whether autodiff
//! tracks the op.

use rayon::prelude::*;

use crate::vector_math::{at_widest_vector_width, exp};

/// Values per parallel task (a multiple of the vector width).
const BLOCK: usize = 1 << 14;

/// The logistic function `σ(a)`, branch-free (see the module docs).
#[inline(always)]
fn sigmoid(a: f32) -> f32 {
    let e = exp(-a.abs());
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

at_widest_vector_width! {
    /// [`forward_block`] at the widest vector width the CPU has.
    fn forward_widest(a: &[f32], b: &[f32], h: &mut [f32]) => forward_block
}

at_widest_vector_width! {
    /// [`backward_block`] at the widest vector width the CPU has.
    fn backward_widest(a: &mut [f32], b: &mut [f32], g: &[f32]) => backward_block
}

/// `h = silu(a) ⊙ b` (all three of length `N`; `b` and the result as long as `a`).
pub(crate) fn forward(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut h = vec![0.0f32; a.len()];
    h.par_chunks_mut(BLOCK)
        .zip(a.par_chunks(BLOCK))
        .zip(b.par_chunks(BLOCK))
        .for_each(|((h, a), b)| forward_widest(a, b, h));
    h
}

/// `a ← ∂L/∂a`, `b ← ∂L/∂b` (each `[N]`) in place, from the forward's inputs `a`, `b` and
/// `g = ∂L/∂h`: the backward needs no buffer of its own.
pub(crate) fn backward(a: &mut [f32], b: &mut [f32], g: &[f32]) {
    a.par_chunks_mut(BLOCK)
        .zip(b.par_chunks_mut(BLOCK))
        .zip(g.par_chunks(BLOCK))
        .for_each(|((a, b), g)| backward_widest(a, b, g));
}

#[cfg(test)]
mod tests {
    use super::*;

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
        forward_widest(&a, &b, &mut h_wide);
        assert_eq!(h, h_wide);
        let (mut d_a, mut d_b) = (a.clone(), b.clone());
        let (mut d_a_wide, mut d_b_wide) = (a.clone(), b.clone());
        backward_block(&mut d_a, &mut d_b, &b);
        backward_widest(&mut d_a_wide, &mut d_b_wide, &b);
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
