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
//! Causal masks leave about half of `S` masked. A query row computes its scores only over the
//! span of keys whose bias is above [`DEAD_BIAS`] when that is provably exact: the other keys'
//! scores are at most `bias + s·‖q‖·max‖k‖`, and if that lies more than [`MARGIN`] below the
//! span's maximum their `exp` is 0 in `f32`, as it would be had they been computed (otherwise,
//! e.g. in a fully masked row, the whole row is computed). So `P` is bit for bit what the full
//! computation gives. The backward works on the span of nonzero `P` of each row.
//!
//! Work is split over (batch row, key/value head) pairs with rayon; each pair runs its query
//! heads and rows in order and owns its `dK`, `dV` rows, so results do not depend on the thread
//! count. The products are loops written to vectorise with [`LANES`] accumulators held in
//! registers: `Q Kᵀ` and `dO Vᵀ` over a transposed copy of the key/value head (`[d, t]`), the
//! others (`P V`, `dS K`, `dSᵀ Q`, `Pᵀ dO`) as weighted sums of rows; every output element is
//! summed in a fixed order (over `d`, or over keys / queries in index order).

use std::ops::Range;

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

/// Keys with a bias below this are candidates for skipping (the models mask with −1e30).
const DEAD_BIAS: f32 = -1e20;

/// How far below the row maximum a skipped key's largest possible score must lie (> 104).
const MARGIN: f32 = 256.0;

/// Accumulators per register block (4 SSE / 2 AVX / 1 AVX-512 vectors).
const LANES: usize = 16;

/// `out[j] = Σ_c row[c] · transposed[c·t + j]` for `j` in `span` (`transposed`: `[d, t]`).
fn row_times_transposed(
    out: &mut [f32],
    row: &[f32],
    transposed: &[f32],
    t: usize,
    span: Range<usize>,
) {
    let mut start = span.start;
    while start + LANES <= span.end {
        let mut acc = [0.0f32; LANES];
        for (c, &a) in row.iter().enumerate() {
            let column = &transposed[c * t + start..][..LANES];
            for lane in 0..LANES {
                acc[lane] += a * column[lane];
            }
        }
        out[start..start + LANES].copy_from_slice(&acc);
        start += LANES;
    }
    for (j, o) in out.iter_mut().enumerate().take(span.end).skip(start) {
        let mut acc = 0.0f32;
        for (c, &a) in row.iter().enumerate() {
            acc += a * transposed[c * t + j];
        }
        *o = acc;
    }
}

/// `out[c] += Σ_i w[i] · rows[i·stride + c]` over `i` in index order, rows with `w[i] = 0`
/// skipped (`out`: `[d]`).
fn add_weighted_rows(out: &mut [f32], weights: &[f32], rows: &[f32], stride: usize) {
    let d = out.len();
    let mut start = 0;
    while start + LANES <= d {
        let mut acc = [0.0f32; LANES];
        acc.copy_from_slice(&out[start..start + LANES]);
        for (i, &w) in weights.iter().enumerate() {
            if w != 0.0 {
                let row = &rows[i * stride + start..][..LANES];
                for lane in 0..LANES {
                    acc[lane] += w * row[lane];
                }
            }
        }
        out[start..start + LANES].copy_from_slice(&acc);
        start += LANES;
    }
    if start < d {
        for (i, &w) in weights.iter().enumerate() {
            if w != 0.0 {
                let row = &rows[i * stride + start..][..d - start];
                for (o, &x) in out[start..].iter_mut().zip(row) {
                    *o += w * x;
                }
            }
        }
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

/// `‖x‖₂` in `f64`.
fn norm(x: &[f32]) -> f64 {
    x.iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

/// The smallest range holding every index where `keep` holds (empty if none).
fn span_of(values: &[f32], keep: impl Fn(f32) -> bool) -> Range<usize> {
    let start = values.iter().position(|&v| keep(v));
    match start {
        Some(start) => {
            let end = values
                .iter()
                .rposition(|&v| keep(v))
                .map_or(start, |i| i + 1);
            start..end
        }
        None => 0..0,
    }
}

/// One query row of `P`: `p[span] = softmax(scale · q·kᵀ + bias)` restricted to the span
/// where it is nonzero; `p` is zero outside (see the module docs). `bound` ≥ `scale · |q·k_j|`.
fn probabilities(
    p: &mut [f32],
    query: &[f32],
    keys_t: &[f32],
    bias: &[f32],
    scale: f32,
    bound: f32,
) {
    let t = p.len();
    let live = span_of(bias, |m| m >= DEAD_BIAS);
    let mut span = if live.is_empty() { 0..t } else { live };
    row_times_transposed(p, query, keys_t, t, span.clone());
    let scores = |p: &mut [f32], span: Range<usize>| {
        for (x, &m) in p[span.clone()].iter_mut().zip(&bias[span]) {
            *x = *x * scale + m;
        }
    };
    scores(p, span.clone());
    let mut max = p[span.clone()]
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    if span.len() < t {
        let outside = bias[..span.start]
            .iter()
            .chain(&bias[span.end..])
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let negligible = outside + bound < max - MARGIN;
        if !negligible {
            span = 0..t;
            row_times_transposed(p, query, keys_t, t, span.clone());
            scores(p, span.clone());
            max = p.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        }
    }
    let row = &mut p[span];
    let mut sum = 0.0f64;
    for x in row.iter_mut() {
        let shifted = *x - max;
        *x = if shifted < EXP_UNDERFLOW {
            0.0
        } else {
            shifted.exp()
        };
        sum += f64::from(*x);
    }
    let sum = sum as f32;
    for x in row.iter_mut() {
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
    let (heads, kv_heads) = (shape.heads, shape.kv_heads);
    let mut probs = vec![0.0f32; shape.probs_len()];
    // One task per (batch row, kv head): its query heads' `P` is one contiguous block.
    let contexts: Vec<Vec<f32>> = probs
        .par_chunks_mut((groups * n * t).max(1))
        .enumerate()
        .map(|(task, probs)| {
            let (b, g) = (task / kv_heads, task % kv_heads);
            let keys_t = transposed_head(k, b, g, t, kv_heads, d);
            let key_norm = (0..t)
                .map(|j| norm(&k[((b * t + j) * kv_heads + g) * d..][..d]))
                .fold(0.0f64, f64::max);
            let values = &v[(b * t * kv_heads + g) * d..];
            let mask = &mask[b * n * t..][..n * t];
            let mut context = vec![0.0f32; groups * n * d];
            for r in 0..groups {
                let h = g * groups + r;
                for i in 0..n {
                    let query = &q[((b * n + i) * heads + h) * d..][..d];
                    let bound =
                        (f64::from(shape.scale) * norm(query) * key_norm * 1.001 + 1.0) as f32;
                    let p = &mut probs[(r * n + i) * t..][..t];
                    probabilities(p, query, &keys_t, &mask[i * t..][..t], shape.scale, bound);
                    let out = &mut context[(r * n + i) * d..][..d];
                    add_weighted_rows(out, p, values, kv_heads * d);
                }
            }
            context
        })
        .collect();
    let mut out = vec![0.0f32; shape.query_len()];
    for (task, context) in contexts.iter().enumerate() {
        let (b, g) = (task / kv_heads, task % kv_heads);
        scatter_heads(&mut out, context, b, g * groups, groups, n, heads, d);
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
            let keys = &k[(b * t * kv_heads + g) * d..];
            let mut d_q = vec![0.0f32; groups * n * d];
            let (mut d_k, mut d_v) = (vec![0.0f32; t * d], vec![0.0f32; t * d]);
            let mut d_p = vec![0.0f32; t];
            // dSᵀ and Pᵀ of one head, `[t, n]`.
            let (mut d_s_t, mut p_t) = (vec![0.0f32; t * n], vec![0.0f32; t * n]);
            for r in 0..groups {
                let h = g * groups + r;
                d_s_t.fill(0.0);
                p_t.fill(0.0);
                for i in 0..n {
                    let d_out = &grad[((b * n + i) * heads + h) * d..][..d];
                    let p = &probs[(r * n + i) * t..][..t];
                    let span = span_of(p, |x| x != 0.0);
                    row_times_transposed(&mut d_p, d_out, &values_t, t, span.clone());
                    let delta = p[span.clone()]
                        .iter()
                        .zip(&d_p[span.clone()])
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum::<f64>() as f32;
                    for j in span.clone() {
                        d_p[j] = p[j] * (d_p[j] - delta);
                        d_s_t[j * n + i] = d_p[j];
                        p_t[j * n + i] = p[j];
                    }
                    let d_query = &mut d_q[(r * n + i) * d..][..d];
                    let key_rows = &keys[span.start * kv_heads * d..];
                    add_weighted_rows(d_query, &d_p[span], key_rows, kv_heads * d);
                    d_query.iter_mut().for_each(|x| *x *= shape.scale);
                }
                let queries = &q[(b * n * heads + h) * d..];
                let d_outs = &grad[(b * n * heads + h) * d..];
                for j in 0..t {
                    let (d_key, d_value) = (&mut d_k[j * d..][..d], &mut d_v[j * d..][..d]);
                    add_weighted_rows(d_key, &d_s_t[j * n..][..n], queries, heads * d);
                    add_weighted_rows(d_value, &p_t[j * n..][..n], d_outs, heads * d);
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
