//! RMSNorm forward and backward as one pass over host rows: the kernels of the fused RMSNorm
//! ([`crate::rms_norm_fused`]).
//!
//! For a row `x` of `H` values, scale `w` (`[H]`) and `ε`:
//!
//! ```text
//! r = (mean(x²) + ε)^(−½)                      inverse RMS, one per row
//! y = x · r ⊙ w                                [H]
//! u = g ⊙ w                                    g = ∂L/∂y, [H]
//! ∂L/∂x = r · u − x · r³ · mean(u ⊙ x)         [H]
//! ∂L/∂w = Σ_rows g ⊙ x · r                     [H]
//! ```
//!
//! (`∂r/∂x_j = −r³ x_j / H`.) The loops are written to vectorise (equal-length slices, row
//! sums over 8 independent `f32` lanes added up in `f64`; `∂L/∂w` accumulates in `f32` over
//! the rows), which needs prime-models at `opt-level = 3` (as both profiles build it), at the widest vector
//! width the CPU has (`crate::vector_math`: the same bits at every width). Blocks of rows run in
//! parallel on rayon's pool; the blocks are fixed, so the result does not depend on the
//! number of threads.

use rayon::prelude::*;

use crate::vector_math::at_widest_vector_width;

/// `Σ a ⊙ b` over 8 lanes.
#[inline(always)]
fn sum_products(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    for (x, y) in a8.zip(b8) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
}

/// Rows per parallel task. Fixed, so the blocks of `∂L/∂w` partial sums, and with them every
/// result bit, do not depend on the number of threads.
const BLOCK_ROWS: usize = 16;

/// `y` (`[N, H]`, row-major like `x`) and the inverse RMS of every row (`[N]`). Blocks of
/// [`BLOCK_ROWS`] rows run in parallel.
pub(crate) fn forward(x: &[f32], weight: &[f32], eps: f64) -> (Vec<f32>, Vec<f32>) {
    let hidden = weight.len().max(1);
    let mut y = vec![0.0f32; x.len()];
    let mut inverse_rms = vec![0.0f32; x.len() / hidden];
    let block = BLOCK_ROWS * hidden;
    x.par_chunks(block)
        .zip(y.par_chunks_mut(block))
        .zip(inverse_rms.par_chunks_mut(BLOCK_ROWS))
        .for_each(|((x, y), inverse_rms)| forward_block_widest(x, weight, eps, y, inverse_rms));
    (y, inverse_rms)
}

/// [`forward`] over one block of rows.
#[inline(always)]
fn forward_block(x: &[f32], weight: &[f32], eps: f64, y: &mut [f32], inverse_rms: &mut [f32]) {
    let hidden = weight.len();
    let rows = x.chunks_exact(hidden).zip(y.chunks_exact_mut(hidden));
    for ((row, out), r_out) in rows.zip(inverse_rms) {
        let mean_square = sum_products(row, row) / hidden as f64;
        let r = (1.0 / (mean_square + eps).sqrt()) as f32;
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = v * r * w;
        }
        *r_out = r;
    }
}

at_widest_vector_width! {
    /// [`forward_block`] at the widest vector width the CPU has.
    fn forward_block_widest(
        x: &[f32],
        weight: &[f32],
        eps: f64,
        y: &mut [f32],
        inverse_rms: &mut [f32],
    ) => forward_block
}

/// `(∂L/∂x [N, H], ∂L/∂w [H])` from the forward's input, scale and inverse RMS and the incoming
/// gradient `g` (`[N, H]`). Blocks of [`BLOCK_ROWS`] rows run in parallel; each block's
/// `∂L/∂w` partial sum is added in block order.
pub(crate) fn backward(
    x: &[f32],
    weight: &[f32],
    inverse_rms: &[f32],
    grad: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let hidden = weight.len().max(1);
    let mut d_x = vec![0.0f32; x.len()];
    let block = BLOCK_ROWS * hidden;
    let partial_d_weights: Vec<Vec<f32>> = x
        .par_chunks(block)
        .zip(grad.par_chunks(block))
        .zip(d_x.par_chunks_mut(block))
        .zip(inverse_rms.par_chunks(BLOCK_ROWS))
        .map(|(((x, grad), d_x), inverse_rms)| {
            backward_block_widest(x, weight, inverse_rms, grad, d_x)
        })
        .collect();
    let mut d_weight = vec![0.0f32; weight.len()];
    for partial in &partial_d_weights {
        for (total, &p) in d_weight.iter_mut().zip(partial) {
            *total += p;
        }
    }
    (d_x, d_weight)
}

at_widest_vector_width! {
    /// [`backward_block`] at the widest vector width the CPU has.
    fn backward_block_widest(
        x: &[f32],
        weight: &[f32],
        inverse_rms: &[f32],
        grad: &[f32],
        d_x: &mut [f32],
    ) -> Vec<f32> => backward_block
}

/// [`backward`] over one block of rows: writes `∂L/∂x` into `d_x` and returns the block's
/// `∂L/∂w` sum.
#[inline(always)]
fn backward_block(
    x: &[f32],
    weight: &[f32],
    inverse_rms: &[f32],
    grad: &[f32],
    d_x: &mut [f32],
) -> Vec<f32> {
    let hidden = weight.len();
    let mut d_weight = vec![0.0f32; hidden];
    let mut u = vec![0.0f32; hidden]; // g ⊙ w of one row
    let rows = x
        .chunks_exact(hidden)
        .zip(grad.chunks_exact(hidden))
        .zip(d_x.chunks_exact_mut(hidden))
        .zip(inverse_rms);
    for (((row, g), out), &r) in rows {
        let (row, g, out, u) = (
            &row[..hidden],
            &g[..hidden],
            &mut out[..hidden],
            &mut u[..hidden],
        );
        let (weight, d_weight) = (&weight[..hidden], &mut d_weight[..hidden]);
        for i in 0..hidden {
            u[i] = g[i] * weight[i];
            d_weight[i] += g[i] * row[i] * r;
        }
        let r64 = f64::from(r);
        let coefficient = (r64 * r64 * r64 * sum_products(u, row) / hidden as f64) as f32;
        for i in 0..hidden {
            out[i] = r * u[i] - row[i] * coefficient;
        }
    }
    d_weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let (rows, hidden) = (5, 37);
        let x: Vec<f32> = (0..rows * hidden)
            .map(|i| (i as f32 * 0.37).sin() * 3.0)
            .collect();
        let g: Vec<f32> = (0..rows * hidden)
            .map(|i| (i as f32 * 0.11).cos())
            .collect();
        let weight: Vec<f32> = (0..hidden).map(|i| 0.5 + i as f32 / 40.0).collect();
        let (mut y, mut y_wide) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let (mut r, mut r_wide) = (vec![0.0; rows], vec![0.0; rows]);
        forward_block(&x, &weight, 1e-6, &mut y, &mut r);
        forward_block_widest(&x, &weight, 1e-6, &mut y_wide, &mut r_wide);
        assert_eq!((&y, &r), (&y_wide, &r_wide));
        let (mut d_x, mut d_x_wide) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let d_w = backward_block(&x, &weight, &r, &g, &mut d_x);
        let d_w_wide = backward_block_widest(&x, &weight, &r, &g, &mut d_x_wide);
        assert_eq!((d_x, d_w), (d_x_wide, d_w_wide));
    }
}
