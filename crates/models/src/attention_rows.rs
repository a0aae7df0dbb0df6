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
//! count. Each pair's work is compiled for AVX-512, AVX2 and the baseline and runs at the widest
//! width the CPU has ([`at_widest_vector_width`]). The products are loops written to vectorise,
//! with explicit accumulator arrays so that every width sums in the same order and gives the
//! same bits: `Q Kᵀ` and `dO Vᵀ` over a transposed copy of the key/value head (`[d, t]`),
//! [`WIDE`] keys at a time (several independent vector registers, so the additions pipeline);
//! the others (`P V`, `dS K`, `dSᵀ Q`, `Pᵀ dO`) as weighted sums of rows, [`LANES`] columns at
//! a time with [`PARTIALS`] interleaved partial sums over the rows. Every output element is
//! summed in a fixed order.
//! The softmax uses the vectorised [`exp`] and sums in [`LANES`] partial sums.
use std::ops::Range;

use rayon::prelude::*;

use crate::vector_math::{at_widest_vector_width, exp, max_ignoring_nan};

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

/// Keys with a bias below this are candidates for skipping (the models mask with −1e30).
const DEAD_BIAS: f32 = -1e20;

/// How far below the row maximum a skipped key's largest possible score must lie (`exp` is 0
/// in `f32` below −87).
const MARGIN: f32 = 256.0;

/// Partial sums of a reduction (one AVX-512 vector, two AVX, four SSE).
const LANES: usize = 16;

/// Keys per block of `Q Kᵀ` / `dO Vᵀ`: four AVX-512 registers of independent sums.
const WIDE: usize = 64;

/// Partial sums of a weighted sum of rows (row `i` goes to partial `i mod PARTIALS`), so that
/// as many additions are in flight.
const PARTIALS: usize = 4;

/// `Σ_c row[c] · transposed[c·t + start + j]` for `j < W`, each summed over `c` in order.
#[inline(always)]
fn dot_columns<const W: usize>(
    row: &[f32],
    transposed: &[f32],
    t: usize,
    start: usize,
) -> [f32; W] {
    let mut acc = [0.0f32; W];
    for (c, &a) in row.iter().enumerate() {
        let column = &transposed[c * t + start..][..W];
        for lane in 0..W {
            acc[lane] += a * column[lane];
        }
    }
    acc
}

/// `out[j]` for `j` in `span` as in [`row_times_transposed`], `W` keys at a time, as far as whole
/// blocks fit in `span`; returns where they stop.
#[inline(always)]
fn whole_blocks<const W: usize>(
    out: &mut [f32],
    row: &[f32],
    transposed: &[f32],
    t: usize,
    span: Range<usize>,
) -> usize {
    let mut start = span.start;
    while start + W <= span.end {
        out[start..start + W].copy_from_slice(&dot_columns::<W>(row, transposed, t, start));
        start += W;
    }
    start
}

/// `out[j]` for `j` in `keys` (fewer than `W`, `W ≤ t`) as one block of `W` keys that ends at `t`
/// or past the last of them: the keys outside are computed, not written.
#[inline(always)]
fn last_block<const W: usize>(
    out: &mut [f32],
    row: &[f32],
    transposed: &[f32],
    t: usize,
    keys: Range<usize>,
) {
    let block = keys.start.min(t - W);
    let acc = dot_columns::<W>(row, transposed, t, block);
    out[keys.clone()].copy_from_slice(&acc[keys.start - block..keys.end - block]);
}

/// `out[j] = Σ_c row[c] · transposed[c·t + j]` for `j` in `span` (`transposed`: `[d, t]`), each
/// summed over `c` in order.
#[inline(always)]
fn row_times_transposed(
    out: &mut [f32],
    row: &[f32],
    transposed: &[f32],
    t: usize,
    span: Range<usize>,
) {
    let mut start = whole_blocks::<WIDE>(out, row, transposed, t, span.clone());
    // The last keys as one block, as wide as `t` allows.
    if start < span.end && t >= WIDE {
        return last_block::<WIDE>(out, row, transposed, t, start..span.end);
    }
    start = whole_blocks::<LANES>(out, row, transposed, t, start..span.end);
    if start < span.end && t >= LANES {
        return last_block::<LANES>(out, row, transposed, t, start..span.end);
    }
    for (j, o) in out.iter_mut().enumerate().take(span.end).skip(start) {
        let mut acc = 0.0f32;
        for (c, &a) in row.iter().enumerate() {
            acc += a * transposed[c * t + j];
        }
        *o = acc;
    }
}

/// `acc += w · row` unless `w = 0`.
#[inline(always)]
fn add_scaled<const W: usize>(acc: &mut [f32; W], w: f32, row: &[f32]) {
    if w != 0.0 {
        let row = &row[..W];
        for lane in 0..W {
            acc[lane] += w * row[lane];
        }
    }
}

/// `out[start..start + W] += Σ_i w[i] · rows[i·stride + start..][..W]`: row `i` summed into
/// partial `i mod PARTIALS` in index order, the partials then added in order; rows with
/// `w[i] = 0` skipped.
#[inline(always)]
fn add_weighted_columns<const W: usize>(
    out: &mut [f32],
    weights: &[f32],
    rows: &[f32],
    stride: usize,
    start: usize,
) {
    let mut partials = [[0.0f32; W]; PARTIALS];
    let full = weights.len() - weights.len() % PARTIALS;
    for block in (0..full).step_by(PARTIALS) {
        for (p, partial) in partials.iter_mut().enumerate() {
            let i = block + p;
            add_scaled(partial, weights[i], &rows[i * stride + start..]);
        }
    }
    for i in full..weights.len() {
        add_scaled(
            &mut partials[i - full],
            weights[i],
            &rows[i * stride + start..],
        );
    }
    for (lane, o) in out[start..start + W].iter_mut().enumerate() {
        let mut sum = partials[0][lane];
        for partial in &partials[1..] {
            sum += partial[lane];
        }
        *o += sum;
    }
}

/// `out[c] += Σ_i w[i] · rows[i·stride + c]` (`out`: `[d]`), in the order of
/// [`add_weighted_columns`]; rows with `w[i] = 0` are skipped.
#[inline(always)]
fn add_weighted_rows(out: &mut [f32], weights: &[f32], rows: &[f32], stride: usize) {
    let d = out.len();
    let mut start = 0;
    while start + LANES <= d {
        add_weighted_columns::<LANES>(out, weights, rows, stride, start);
        start += LANES;
    }
    while start < d {
        add_weighted_columns::<1>(out, weights, rows, stride, start);
        start += 1;
    }
}

/// `Σ_i f(i)` for `i < len` in [`LANES`] partial sums (lane `i mod LANES`), added in lane order.
#[inline(always)]
fn lane_sum(len: usize, f: impl Fn(usize) -> f32) -> f32 {
    let mut sums = [0.0f32; LANES];
    let full = len - len % LANES;
    for block in (0..full).step_by(LANES) {
        for (lane, sum) in sums.iter_mut().enumerate() {
            *sum += f(block + lane);
        }
    }
    for i in full..len {
        sums[i - full] += f(i);
    }
    sums.iter().sum()
}

/// Head `head` of every position of batch row `b` of `x` (`[batch, t, heads · d]`), transposed
/// to `[d, t]`.
#[inline(always)]
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

/// `‖x‖₂`.
#[inline(always)]
fn norm(x: &[f32]) -> f32 {
    lane_sum(x.len(), |i| x[i] * x[i]).sqrt()
}

/// The smallest range holding every index where `keep` holds (empty if none). Scans
/// [`LANES`] values at a time (no early exit inside a block, so the test vectorises).
#[inline(always)]
fn span_of(values: &[f32], keep: impl Fn(f32) -> bool + Copy) -> Range<usize> {
    let any = |block: &[f32]| block.iter().fold(false, |found, &v| found | keep(v));
    let Some(first) = values.chunks(LANES).position(any) else {
        return 0..0;
    };
    let last = values.chunks(LANES).rposition(any).unwrap_or(first);
    let in_block = |block: usize| &values[block * LANES..values.len().min((block + 1) * LANES)];
    let start = in_block(first).iter().position(|&v| keep(v)).unwrap_or(0);
    let end = in_block(last).iter().rposition(|&v| keep(v)).unwrap_or(0);
    first * LANES + start..last * LANES + end + 1
}

/// One query row of `P`: `p[span] = softmax(scale · q·kᵀ + bias)` restricted to the span
/// where it is nonzero, returned; `p` is zero outside (see the module docs). `bound` ≥
/// `scale · |q·k_j|`.
#[inline(always)]
fn probabilities(
    p: &mut [f32],
    query: &[f32],
    keys_t: &[f32],
    bias: &[f32],
    scale: f32,
    bound: f32,
) -> Range<usize> {
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
    let mut max = max_ignoring_nan(&p[span.clone()]);
    if span.len() < t {
        // Every bias outside the span is below DEAD_BIAS: only if that bound is not enough
        // are they read.
        let negligible = DEAD_BIAS + bound < max - MARGIN || {
            let outside =
                max_ignoring_nan(&bias[..span.start]).max(max_ignoring_nan(&bias[span.end..]));
            outside + bound < max - MARGIN
        };
        if !negligible {
            span = 0..t;
            row_times_transposed(p, query, keys_t, t, span.clone());
            scores(p, span.clone());
            max = max_ignoring_nan(p);
        }
    }
    let row = &mut p[span.clone()];
    for x in row.iter_mut() {
        *x = exp(*x - max);
    }
    let inverse_sum = 1.0 / lane_sum(row.len(), |j| row[j]);
    for x in row.iter_mut() {
        *x *= inverse_sum;
    }
    span
}

/// The context (`[groups, n, d]`) of the query heads of key/value head `task % kv_heads` of
/// batch row `task / kv_heads`, writing their `P` (`[groups, n, t]`) into `probs`.
#[inline(always)]
fn forward_task(
    shape: &AttentionShape,
    task: usize,
    (q, k, v, mask): (&[f32], &[f32], &[f32], &[f32]),
    probs: &mut [f32],
) -> Vec<f32> {
    let (n, t, d, groups) = (shape.queries, shape.keys, shape.head_dim, shape.groups());
    let (heads, kv_heads) = (shape.heads, shape.kv_heads);
    let (b, g) = (task / kv_heads, task % kv_heads);
    let keys_t = transposed_head(k, b, g, t, kv_heads, d);
    let key_norm = (0..t)
        .map(|j| norm(&k[((b * t + j) * kv_heads + g) * d..][..d]))
        .fold(0.0f32, f32::max);
    let values = &v[(b * t * kv_heads + g) * d..];
    let mask = &mask[b * n * t..][..n * t];
    let mut context = vec![0.0f32; groups * n * d];
    for r in 0..groups {
        let h = g * groups + r;
        for i in 0..n {
            let query = &q[((b * n + i) * heads + h) * d..][..d];
            // Above `scale · |q·k_j|` for every key, with room for the norms' rounding.
            let bound = shape.scale * norm(query) * key_norm * 1.001 + 1.0;
            let p = &mut probs[(r * n + i) * t..][..t];
            let span = probabilities(p, query, &keys_t, &mask[i * t..][..t], shape.scale, bound);
            let out = &mut context[(r * n + i) * d..][..d];
            let value_rows = &values[span.start * kv_heads * d..];
            add_weighted_rows(out, &p[span], value_rows, kv_heads * d);
        }
    }
    context
}

/// The inputs of one task, grouped so the dispatch macro passes them as one argument.
type Inputs<'a> = (&'a [f32], &'a [f32], &'a [f32], &'a [f32]);

at_widest_vector_width! {
    /// [`forward_task`] at the widest vector width the CPU has.
    fn forward_task_widest(
        shape: &AttentionShape,
        task: usize,
        inputs: Inputs<'_>,
        probs: &mut [f32],
    ) -> Vec<f32> => forward_task
}

/// The context `o` (`[batch, n, heads · d]`) and the probabilities `P` (`[batch, heads, n, t]`).
pub(crate) fn forward(
    shape: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    forward_with(shape, (q, k, v, mask), forward_task_widest)
}

/// [`forward`] with each task run by `task_fn`.
fn forward_with<'a>(
    shape: &AttentionShape,
    inputs: Inputs<'a>,
    task_fn: impl Fn(&AttentionShape, usize, Inputs<'a>, &mut [f32]) -> Vec<f32> + Sync,
) -> (Vec<f32>, Vec<f32>) {
    let (n, t, d, groups) = (shape.queries, shape.keys, shape.head_dim, shape.groups());
    let (heads, kv_heads) = (shape.heads, shape.kv_heads);
    let mut probs = vec![0.0f32; shape.probs_len()];
    // One task per (batch row, kv head): its query heads' `P` is one contiguous block.
    let contexts: Vec<Vec<f32>> = probs
        .par_chunks_mut((groups * n * t).max(1))
        .enumerate()
        .map(|(task, probs)| task_fn(shape, task, inputs, probs))
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

/// `dQ` (`[groups, n, d]`), `dK` and `dV` (`[t, d]`) of the task's query heads (as in
/// [`forward_task`]) from the inputs `q`, `k`, `v`, the incoming gradient `dO`, and the
/// task's block of `P`.
#[inline(always)]
fn backward_task(
    shape: &AttentionShape,
    task: usize,
    (q, k, v, grad): (&[f32], &[f32], &[f32], &[f32]),
    probs: &[f32],
) -> [Vec<f32>; 3] {
    let (n, t, d, groups) = (shape.queries, shape.keys, shape.head_dim, shape.groups());
    let (heads, kv_heads) = (shape.heads, shape.kv_heads);
    let (b, g) = (task / kv_heads, task % kv_heads);
    let values_t = transposed_head(v, b, g, t, kv_heads, d);
    let keys = &k[(b * t * kv_heads + g) * d..];
    let mut d_q = vec![0.0f32; groups * n * d];
    let (mut d_k, mut d_v) = (vec![0.0f32; t * d], vec![0.0f32; t * d]);
    let mut d_p = vec![0.0f32; t];
    // dSᵀ and Pᵀ of one head, `[t, n]`, and per key the queries where they may be nonzero.
    let (mut d_s_t, mut p_t) = (vec![0.0f32; t * n], vec![0.0f32; t * n]);
    let mut queries_of_key = vec![0..0; t];
    for r in 0..groups {
        let h = g * groups + r;
        d_s_t.fill(0.0);
        p_t.fill(0.0);
        queries_of_key.fill(n..0);
        for i in 0..n {
            let d_out = &grad[((b * n + i) * heads + h) * d..][..d];
            let p = &probs[(r * n + i) * t..][..t];
            let span = span_of(p, |x| x != 0.0);
            row_times_transposed(&mut d_p, d_out, &values_t, t, span.clone());
            let (p_span, d_p_span) = (&p[span.clone()], &d_p[span.clone()]);
            let delta = lane_sum(span.len(), |j| p_span[j] * d_p_span[j]);
            for j in span.clone() {
                d_p[j] = p[j] * (d_p[j] - delta);
                d_s_t[j * n + i] = d_p[j];
                p_t[j * n + i] = p[j];
                let queries = &mut queries_of_key[j];
                *queries = queries.start.min(i)..i + 1;
            }
            let d_query = &mut d_q[(r * n + i) * d..][..d];
            let key_rows = &keys[span.start * kv_heads * d..];
            add_weighted_rows(d_query, &d_p[span], key_rows, kv_heads * d);
            d_query.iter_mut().for_each(|x| *x *= shape.scale);
        }
        let queries = &q[(b * n * heads + h) * d..];
        let d_outs = &grad[(b * n * heads + h) * d..];
        for (j, span) in queries_of_key.iter().enumerate() {
            if span.is_empty() {
                continue;
            }
            let (d_key, d_value) = (&mut d_k[j * d..][..d], &mut d_v[j * d..][..d]);
            let (query_rows, d_out_rows) = (
                &queries[span.start * heads * d..],
                &d_outs[span.start * heads * d..],
            );
            let row = j * n;
            add_weighted_rows(
                d_key,
                &d_s_t[row + span.start..row + span.end],
                query_rows,
                heads * d,
            );
            add_weighted_rows(
                d_value,
                &p_t[row + span.start..row + span.end],
                d_out_rows,
                heads * d,
            );
        }
    }
    d_k.iter_mut().for_each(|x| *x *= shape.scale);
    [d_q, d_k, d_v]
}

at_widest_vector_width! {
    /// [`backward_task`] at the widest vector width the CPU has.
    fn backward_task_widest(
        shape: &AttentionShape,
        task: usize,
        inputs: Inputs<'_>,
        probs: &[f32],
    ) -> [Vec<f32>; 3] => backward_task
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
    backward_with(shape, (q, k, v, grad), probs, backward_task_widest)
}

/// [`backward`] with each task run by `task_fn`.
fn backward_with<'a>(
    shape: &AttentionShape,
    inputs: Inputs<'a>,
    probs: &[f32],
    task_fn: impl Fn(&AttentionShape, usize, Inputs<'a>, &[f32]) -> [Vec<f32>; 3] + Sync,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (n, t, d, groups) = (shape.queries, shape.keys, shape.head_dim, shape.groups());
    let (heads, kv_heads) = (shape.heads, shape.kv_heads);
    let blocks: Vec<[Vec<f32>; 3]> = probs
        .par_chunks((groups * n * t).max(1))
        .enumerate()
        .map(|(task, probs)| task_fn(shape, task, inputs, probs))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused_test_support::{relative_error, values, SizeDraws};

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn products_equal_plain_sums_across_block_edges() {
        let (d, t) = (37, 150);
        let row = values(d, 1, 1.0);
        let transposed = values(d * t, 2, 1.0);
        let mut weights = values(t, 3, 1.0);
        weights[5] = 0.0;
        let rows = values(t * 40, 4, 1.0);
        // Key counts above WIDE, between LANES and WIDE, below LANES; spans that start and end
        // inside, at and across the blocks.
        let cases = [
            (150, vec![0..150, 3..70, 64..65, 17..17, 1..129]),
            (40, vec![0..40, 5..38, 16..32, 39..40]),
            (9, vec![0..9, 2..5]),
        ];
        for (keys, spans) in cases {
            for span in spans {
                let transposed = &transposed[..d * keys];
                let mut out = vec![0.0f32; keys];
                row_times_transposed(&mut out, &row, transposed, keys, span.clone());
                for (j, &got) in out.iter().enumerate() {
                    let want: f64 = if span.contains(&j) {
                        (0..d)
                            .map(|c| f64::from(row[c]) * f64::from(transposed[c * keys + j]))
                            .sum()
                    } else {
                        0.0 // never written outside the span
                    };
                    assert!(
                        (f64::from(got) - want).abs() < 1e-5,
                        "{keys} keys, span {span:?}, key {j}"
                    );
                }
            }
        }
        for span in [0..150, 3..70, 64..65, 17..17, 1..129] {
            let initial = values(d, 5, 1.0);
            let mut sum = initial.clone();
            let weights = &weights[span.clone()];
            let rows = &rows[span.start * 40..];
            add_weighted_rows(&mut sum, weights, rows, 40);
            for c in 0..d {
                let want = f64::from(initial[c])
                    + (0..weights.len())
                        .map(|i| f64::from(weights[i]) * f64::from(rows[i * 40 + c]))
                        .sum::<f64>();
                assert!(
                    (f64::from(sum[c]) - want).abs() < 1e-5,
                    "span {span:?}, column {c}"
                );
            }
        }
        let mut mask = vec![0.0f32; 70];
        for (range, want) in [
            (3..4, 3..4),
            (0..70, 0..70),
            (15..33, 15..33),
            (69..70, 69..70),
        ] {
            mask.fill(0.0);
            mask[range.clone()].fill(1.0);
            mask[range.start] = 2.0;
            assert_eq!(span_of(&mask, |x| x != 0.0), want);
        }
        mask.fill(0.0);
        assert_eq!(span_of(&mask, |x| x != 0.0), 0..0);
        mask[16] = 1.0;
        mask[47] = 1.0;
        assert_eq!(span_of(&mask, |x| x != 0.0), 16..48);
        let xs = values(83, 6, 1.0);
        let want: f64 = xs.iter().map(|&x| f64::from(x)).sum();
        assert!((f64::from(lane_sum(83, |i| xs[i])) - want).abs() < 1e-5);
    }

    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let mut sizes = SizeDraws::new(11);
        for case in 0..6u64 {
            let kv_heads = sizes.next(2);
            let heads = kv_heads * sizes.next(3);
            let (n, d) = (sizes.next(90), sizes.next(40));
            let shape = AttentionShape {
                batch: sizes.next(2),
                queries: n,
                keys: n,
                heads,
                kv_heads,
                head_dim: d,
                scale: 1.0 / (d as f32).sqrt(),
            };
            let q = values(shape.query_len(), case * 7 + 1, 2.0);
            let k = values(shape.key_len(), case * 7 + 2, 2.0);
            let v = values(shape.key_len(), case * 7 + 3, 1.0);
            let grad = values(shape.query_len(), case * 7 + 4, 1.0);
            // Causal, with the first keys of batch row 0 masked as left padding.
            let mask: Vec<f32> = (0..shape.mask_len())
                .map(|at| {
                    let (b, i, j) = (at / (n * n), at / n % n, at % n);
                    if j > i || (b == 0 && j < n / 4) {
                        -1e30
                    } else {
                        0.0
                    }
                })
                .collect();
            let inputs = (&q[..], &k[..], &v[..], &mask[..]);
            let (base_out, base_p) = forward_with(&shape, inputs, forward_task);
            let (wide_out, wide_p) = forward_with(&shape, inputs, forward_task_widest);
            assert!(same_bits(&base_out, &wide_out), "context, case {case}");
            assert!(same_bits(&base_p, &wide_p), "P, case {case}");
            // Each row of P sums to one.
            for row in base_p.chunks(n) {
                let sum: f32 = row.iter().sum();
                assert!(relative_error(&[sum], &[1.0]) < 1e-5, "case {case}");
            }
            let inputs = (&q[..], &k[..], &v[..], &grad[..]);
            let base = backward_with(&shape, inputs, &base_p, backward_task);
            let wide = backward_with(&shape, inputs, &base_p, backward_task_widest);
            assert!(same_bits(&base.0, &wide.0), "dQ, case {case}");
            assert!(same_bits(&base.1, &wide.1), "dK, case {case}");
            assert!(same_bits(&base.2, &wide.2), "dV, case {case}");
        }
    }
}
