//! Causal grouped-query attention forward and backward on host rows: the kernels of the fused
//! attention ([`crate::attention_fused`]).
//!
//! Layouts are those of the projections, so no head transposes are needed: queries
//! `q` `[batch, n, heads · d]`, keys and values `k`, `v` `[batch, t, kv_heads · d]`, the
//! context `o` `[batch, n, heads · d]`, the additive mask `m` `[batch, n, t]` (0, or a large
//! negative finite number). Query head `h` reads key/value head `h / G`, `G = heads / kv_heads`.
//! For one (batch row, head), with `s = scale`:
//!
//! ```text
//! S = s · Q Kᵀ + M                               [n, t]
//! P = softmax_rows(S)   (exp(S − max) / Σ exp(S − max), per row)
//! O = P V                                       [n, d]
//! dP = dO Vᵀ                                    [n, t]
//! dS = P ⊙ (dP − rowsum(P ⊙ dP))                [n, t]
//! dQ = s · dS K                                 [n, d]
//! dK = s · Σ_{heads of the group} dSᵀ Q           [t, d]
//! dV = Σ_{heads of the group} Pᵀ dO               [t, d]
//! ```
//!
//! A row whose keys are all masked gets `S = M` (the scores vanish next to `M` in `f32`), hence
//! the uniform distribution, as the decomposed softmax gives it. The forward keeps `P`
//! (`[batch, heads, n, t]`, the size of one score tensor, which the decomposed graph keeps
//! several of) so the backward does not recompute it. Where `P = 0` (masked keys) the key's
//! terms are skipped: they are exact zeros.
//!
//! Work is split over (batch row, key/value head) pairs with rayon; each pair runs its query
//! heads and rows in order and owns its `dK`, `dV` rows, so results do not depend on the thread
//! count. The products are loops over contiguous rows written to vectorise: `Q Kᵀ` and `dO Vᵀ`
//! as `d` passes of `row += q_c · Kᵀ_c` over a transposed copy of the key/value head
//! (`[d, t]`), the others as `d`-wide `axpy`s.

use rayon::prelude::*;

/// The shape of one fused attention call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AttentionShape {
    /// Rows of the batch.
    pub batch: usize,
    /// Query positions `n`.
    pub queries: usize,
    /// Key positions `t`.
    pub keys: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// Width of one head `d`.
    pub head_dim: usize,
    /// The factor of the scores, `1/√d` in the models.
    pub scale: f32,
}

impl AttentionShape {
    /// Query heads per key/value head.
    fn groups(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// Elements of `q` / the context.
    pub fn query_len(&self) -> usize {
        self.batch * self.queries * self.heads * self.head_dim
    }

    /// Elements of `k` / `v`.
    pub fn key_len(&self) -> usize {
        self.batch * self.keys * self.kv_heads * self.head_dim
    }

    /// Elements of the mask, `[batch, n, t]`.
    pub fn mask_len(&self) -> usize {
        self.batch * self.queries * self.keys
    }

    /// Elements of `P`, `[batch, heads, n, t]`.
    pub fn probs_len(&self) -> usize {
        self.mask_len() * self.heads
    }
}

/// `exp(x)` is 0 in `f32` below this: such keys are skipped without calling `exp`.
const EXP_UNDERFLOW: f32 = -104.0;

/// `out += a · x`.
fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// `out[j] = Σ_c row[c] · transposed[c][j]` with `transposed` `[d, t]` (`out`: `[t]`).
fn row_times_transposed(out: &mut [f32], row: &[f32], transposed: &[f32]) {
    let t = out.len();
    out.fill(0.0);
    for (&a, column) in row.iter().zip(transposed.chunks_exact(t)) {
        axpy(out, a, column);
    }
}

/// Head `head` of every position of batch row `b` of `x` (`[batch, t, heads · d]`), transposed
/// to `[d, t]`.
fn transposed_head(x: &[f32], b: usize, head: usize, t: usize, heads: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; d * t];
    for j in 0..t {
        let row = &x[((b * t + j) * heads + head) * d..][..d];
        for (c, &value) in row.iter().enumerate() {
            out[c * t + j] = value;
        }
    }
    out
}

/// `s ← softmax(scale · s + bias)` in place (one row of `t`).
fn softmax_row(s: &mut [f32], bias: &[f32], scale: f32) {
    for (x, &m) in s.iter_mut().zip(bias) {
        *x = *x * scale + m;
    }
    let max = s.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0.0f64;
    for x in s.iter_mut() {
        let shifted = *x - max;
        *x = if shifted < EXP_UNDERFLOW {
            0.0
        } else {
            shifted.exp()
        };
        sum += f64::from(*x);
    }
    let sum = sum as f32;
    for x in s.iter_mut() {
        *x /= sum;
    }
}

/// The context `o` (`[batch, n, heads · d]`) and the probabilities `P` (`[batch, heads, n, t]`).
pub(crate) fn forward(
    shape: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let (n, t, d, groups) = (shape.queries, shape.keys, shape.head_dim, shape.groups());
    let mut probs = vec![0.0f32; shape.probs_len()];
    // One task per (batch row, kv head): its query heads' `P` is one contiguous block.
    let contexts: Vec<Vec<f32>> = probs
        .par_chunks_mut((groups * n * t).max(1))
        .enumerate()
        .map(|(task, probs)| {
            let (b, g) = (task / shape.kv_heads, task % shape.kv_heads);
            let keys_t = transposed_head(k, b, g, t, shape.kv_heads, d);
            let mask = &mask[b * n * t..][..n * t];
            let mut context = vec![0.0f32; groups * n * d];
            for r in 0..groups {
                let h = g * groups + r;
                for i in 0..n {
                    let query = &q[((b * n + i) * shape.heads + h) * d..][..d];
                    let p = &mut probs[(r * n + i) * t..][..t];
                    row_times_transposed(p, query, &keys_t);
                    softmax_row(p, &mask[i * t..][..t], shape.scale);
                    let out = &mut context[(r * n + i) * d..][..d];
                    for (j, &pj) in p.iter().enumerate() {
                        if pj != 0.0 {
                            axpy(out, pj, &v[((b * t + j) * shape.kv_heads + g) * d..][..d]);
                        }
                    }
                }
            }
            context
        })
        .collect();
    let mut out = vec![0.0f32; shape.query_len()];
    for (task, context) in contexts.iter().enumerate() {
        let (b, g) = (task / shape.kv_heads, task % shape.kv_heads);
        scatter_heads(&mut out, context, b, g * groups, groups, n, shape.heads, d);
    }
    (out, probs)
}

/// Writes `block` (`[count, rows, d]`: heads `first..first + count` of batch row `b`) into `x`
/// (`[batch, rows, heads · d]`).
#[allow(clippy::too_many_arguments)]
fn scatter_heads(
    x: &mut [f32],
    block: &[f32],
    b: usize,
    first: usize,
    count: usize,
    rows: usize,
    heads: usize,
    d: usize,
) {
    for r in 0..count {
        for i in 0..rows {
            let from = &block[(r * rows + i) * d..][..d];
            x[((b * rows + i) * heads + first + r) * d..][..d].copy_from_slice(from);
        }
    }
}

/// `(dQ [batch, n, heads · d], dK [batch, t, kv_heads · d], dV [batch, t, kv_heads · d])` from
/// the forward's inputs, its `P` and the incoming gradient `dO` (`[batch, n, heads · d]`).
pub(crate) fn backward(
    shape: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &[f32],
    grad: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (n, t, d, groups) = (shape.queries, shape.keys, shape.head_dim, shape.groups());
    let (heads, kv_heads) = (shape.heads, shape.kv_heads);
    let blocks: Vec<[Vec<f32>; 3]> = probs
        .par_chunks((groups * n * t).max(1))
        .enumerate()
        .map(|(task, probs)| {
            let (b, g) = (task / kv_heads, task % kv_heads);
            let values_t = transposed_head(v, b, g, t, kv_heads, d);
            let mut d_q = vec![0.0f32; groups * n * d];
            let (mut d_k, mut d_v) = (vec![0.0f32; t * d], vec![0.0f32; t * d]);
            let mut d_p = vec![0.0f32; t];
            for r in 0..groups {
                let h = g * groups + r;
                for i in 0..n {
                    let at = ((b * n + i) * heads + h) * d;
                    let (query, d_out) = (&q[at..][..d], &grad[at..][..d]);
                    let p = &probs[(r * n + i) * t..][..t];
                    row_times_transposed(&mut d_p, d_out, &values_t);
                    let delta = p
                        .iter()
                        .zip(&d_p)
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum::<f64>() as f32;
                    let d_query = &mut d_q[(r * n + i) * d..][..d];
                    for (j, (&pj, &dpj)) in p.iter().zip(&d_p).enumerate() {
                        if pj == 0.0 {
                            continue;
                        }
                        let d_score = pj * (dpj - delta);
                        let key_at = ((b * t + j) * kv_heads + g) * d;
                        axpy(d_query, d_score, &k[key_at..][..d]);
                        axpy(&mut d_k[j * d..][..d], d_score, query);
                        axpy(&mut d_v[j * d..][..d], pj, d_out);
                    }
                    d_query.iter_mut().for_each(|x| *x *= shape.scale);
                }
            }
            d_k.iter_mut().for_each(|x| *x *= shape.scale);
            [d_q, d_k, d_v]
        })
        .collect();
    let mut d_q = vec![0.0f32; shape.query_len()];
    let mut d_k = vec![0.0f32; shape.key_len()];
    let mut d_v = vec![0.0f32; shape.key_len()];
    for (task, [block_q, block_k, block_v]) in blocks.iter().enumerate() {
        let (b, g) = (task / kv_heads, task % kv_heads);
        scatter_heads(&mut d_q, block_q, b, g * groups, groups, n, heads, d);
        scatter_heads(&mut d_k, block_k, b, g, 1, t, kv_heads, d);
        scatter_heads(&mut d_v, block_v, b, g, 1, t, kv_heads, d);
    }
    (d_q, d_k, d_v)
}
