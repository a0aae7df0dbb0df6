//! Token log-probs and entropies over host rows of logits, forward and backward in one pass per
//! row: the kernels of the fused token scores ([`crate::log_probs_fused`]) and of the chunked
//! scores' CPU path ([`crate::chunked_scores`], [`crate::chunked_backward`]).
//!
//! For a row `z` (`[V]`, only its first `L ≤ V` entries are the vocabulary) and its target `t`:
//!
//! ```text
//! m = max_{v<L} z_v                       shift (only guards exp against overflow)
//! s = Σ_{v<L} exp(z_v − m),  lse = m + ln s
//! log p_v = z_v − lse,  p_v = exp(log p_v)                 v < L
//! lp = log p_t = (z_t − m) − ln s                          (−∞ when t ≥ L)
//! H  = −Σ_v p_v log p_v = ln s − (1/s) Σ_v exp(z_v − m)·(z_v − m)
//! ```
//!
//! Backward, with `g_lp = ∂L/∂lp` and `g_H = ∂L/∂H`. From `∂log p_v/∂z_u = δ_uv − p_u` and
//! `∂p_v/∂z_u = p_v (δ_uv − p_u)`:
//!
//! ```text
//! ∂lp/∂z_u = δ_ut − p_u
//! ∂H/∂z_u  = −Σ_v p_v (δ_uv − p_u)(log p_v + 1) = −p_u (log p_u + 1) + p_u (1 − H)
//!          = −p_u (log p_u + H)
//! ∂L/∂z_u  = g_lp (δ_ut − p_u) − g_H p_u (log p_u + H)
//!          = −p_u (g_lp + g_H H + g_H log p_u) + g_lp δ_ut       u < L
//! ∂L/∂z_u  = 0                                                u ≥ L
//! ```
//!
//! A target at or past `L` scores `−∞` with no gradient through it (the entropy still has one);
//! a skipped row (padding) scores 0 and 0 and gets gradient 0. The backward recomputes `p` from
//! the logits and the row's `m` and `ln s`, so nothing of size `[N, V]` is kept between the two.
//!
//! `exp` is [`exp`], a polynomial written to vectorise (the loops run over equal-length slices
//! with 8 independent `f32` lanes, summed in `f64` every [`BLOCK`] entries), run at the
//! widest vector width the CPU has ([`at_widest_vector_width`]; same bits at every width). Rows run in
//! parallel on rayon's pool; every row is computed the same way whatever the thread count, so
//! the results are deterministic.

use rayon::prelude::*;

use crate::vector_math::{at_widest_vector_width, exp, max_ignoring_nan};

/// What a row scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Nothing (padding, or a position that predicts no token): log-prob and entropy 0, no
    /// gradient.
    Skip,
    /// A token id below the vocabulary limit `L`.
    Id(usize),
    /// A token at or past `L`: log-prob `−∞` (no gradient), entropy as usual.
    Outside,
}

impl Target {
    /// The target of token `id` under attention-mask value `mask` and vocabulary limit `limit`.
    pub(crate) fn new(id: i64, mask: i64, limit: usize) -> Self {
        match usize::try_from(id) {
            _ if mask == 0 => Self::Skip,
            Ok(id) if id < limit => Self::Id(id),
            _ => Self::Outside,
        }
    }
}

/// A row's softmax statistics: `lse = shift + log_sum`, entropy `H`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RowStats {
    /// `m`, the row's largest allowed logit (0 on skipped rows).
    pub shift: f32,
    /// `ln s = ln Σ exp(z_v − m)`.
    pub log_sum: f32,
    /// `H` (0 unless asked for).
    pub entropy: f32,
}

impl RowStats {
    /// `lse = m + ln s`.
    pub(crate) fn log_sum_exp(&self) -> f32 {
        self.shift + self.log_sum
    }
}

/// The shape of a batch of rows: `[N, V]` logits, of which the first `limit` columns count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows {
    /// `V`, the row stride.
    pub vocab: usize,
    /// `L` (`1 ≤ L ≤ V`).
    pub limit: usize,
    /// Whether the entropy is computed (else it is 0 and its gradient ignored).
    pub with_entropy: bool,
}

/// Entries summed in `f32` lanes before they are added to the `f64` row sum.
const BLOCK: usize = 1024;

/// Rows handed to one rayon task at least: about 16k logits.
fn min_rows(vocab: usize) -> usize {
    (16_384 / vocab.max(1)).max(1)
}

/// `(s, Σ exp(z_v − m)·(z_v − m))` over `row` in `f64` (the second only `with_entropy`).
#[inline(always)]
fn row_sums(row: &[f32], shift: f32, with_entropy: bool) -> (f64, f64) {
    let (mut sum, mut weighted) = (0.0f64, 0.0f64);
    for block in row.chunks(BLOCK) {
        let mut s = [0.0f32; 8];
        let mut w = [0.0f32; 8];
        let chunks = block.chunks_exact(8);
        for &z in chunks.remainder() {
            let d = z - shift;
            let e = exp(d);
            sum += f64::from(e);
            if with_entropy && e > 0.0 {
                weighted += f64::from(e * d);
            }
        }
        if with_entropy {
            for chunk in chunks {
                for lane in 0..8 {
                    let d = chunk[lane] - shift;
                    let e = exp(d);
                    s[lane] += e;
                    // e = 0 where d = −∞ would give 0 · ∞: that entry adds nothing.
                    w[lane] += if e > 0.0 { e * d } else { 0.0 };
                }
            }
        } else {
            for chunk in chunks {
                for lane in 0..8 {
                    s[lane] += exp(chunk[lane] - shift);
                }
            }
        }
        sum += s.iter().map(|&v| f64::from(v)).sum::<f64>();
        weighted += w.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    (sum, weighted)
}

/// One row's `(lp, stats)`.
#[inline(always)]
fn score_row(row: &[f32], target: Target, with_entropy: bool) -> (f32, RowStats) {
    if target == Target::Skip {
        return (0.0, RowStats::default());
    }
    let shift = max_ignoring_nan(row);
    let (sum, weighted) = row_sums(row, shift, with_entropy);
    let log_sum = sum.ln();
    let entropy = if with_entropy {
        (log_sum - weighted / sum) as f32
    } else {
        0.0
    };
    let log_prob = match target {
        Target::Id(t) => (f64::from(row[t] - shift) - log_sum) as f32,
        _ => f32::NEG_INFINITY,
    };
    let stats = RowStats {
        shift,
        log_sum: log_sum as f32,
        entropy,
    };
    (log_prob, stats)
}

/// The scores of `targets.len()` rows of `logits` (`[N, V]`, row-major): `[N, 2]` (`lp`, `H`
/// interleaved) and each row's [`RowStats`] for the backward.
pub(crate) fn forward(logits: &[f32], targets: &[Target], rows: Rows) -> (Vec<f32>, Vec<RowStats>) {
    let n = targets.len();
    let mut scores = vec![0.0f32; 2 * n];
    let mut stats = vec![RowStats::default(); n];
    if rows.vocab == 0 || rows.limit == 0 {
        return (scores, stats);
    }
    logits
        .par_chunks_exact(rows.vocab)
        .zip(scores.par_chunks_exact_mut(2))
        .zip(stats.par_iter_mut())
        .zip(targets.par_iter())
        .with_min_len(min_rows(rows.vocab))
        .for_each(|(((row, score), stat), &target)| {
            let (log_prob, row_stats) =
                score_row_widest(&row[..rows.limit], target, rows.with_entropy);
            score[0] = log_prob;
            score[1] = row_stats.entropy;
            *stat = row_stats;
        });
    (scores, stats)
}

/// `∂L/∂z` (`[N, V]`, 0 in columns `≥ L` and on skipped rows) from the logits, the forward's
/// [`RowStats`] and the incoming gradient `grad` (`[N, 2]`: `g_lp`, `g_H` interleaved).
pub(crate) fn backward(
    logits: &[f32],
    targets: &[Target],
    stats: &[RowStats],
    grad: &[f32],
    rows: Rows,
) -> Vec<f32> {
    let mut d_logits = logits.to_vec();
    backward_in_place(&mut d_logits, targets, stats, grad, rows);
    d_logits
}

/// [`backward`] writing `∂L/∂z` over the logits it reads (`values`, `[N, V]`): no `[N, V]`
/// allocation when the logits are not needed afterwards.
pub(crate) fn backward_in_place(
    values: &mut [f32],
    targets: &[Target],
    stats: &[RowStats],
    grad: &[f32],
    rows: Rows,
) {
    if rows.vocab == 0 || rows.limit == 0 {
        values.fill(0.0);
        return;
    }
    values
        .par_chunks_exact_mut(rows.vocab)
        .zip(targets.par_iter().zip(stats.par_iter()))
        .zip(grad.par_chunks_exact(2))
        .with_min_len(min_rows(rows.vocab))
        .for_each(|((row, (&target, stat)), g)| {
            let g_lp = match target {
                Target::Skip => return row.fill(0.0),
                Target::Id(_) => g[0],
                Target::Outside => 0.0,
            };
            let g_entropy = if rows.with_entropy { g[1] } else { 0.0 };
            let (allowed, rest) = row.split_at_mut(rows.limit);
            row_backward_widest(allowed, stat, g_lp, g_entropy);
            rest.fill(0.0);
            if let Target::Id(t) = target {
                row[t] += g_lp;
            }
        });
}

/// `z_u ← −p_u (g_lp + g_H H + g_H log p_u)` over one row's allowed logits.
#[inline(always)]
fn row_backward(row: &mut [f32], stat: &RowStats, g_lp: f32, g_entropy: f32) {
    let constant = g_lp + g_entropy * stat.entropy;
    let (shift, log_sum) = (stat.shift, stat.log_sum);
    if g_entropy == 0.0 {
        for z in row.iter_mut() {
            *z = -exp((*z - shift) - log_sum) * constant;
        }
    } else {
        for z in row.iter_mut() {
            let log_p = (*z - shift) - log_sum;
            *z = -exp(log_p) * (constant + g_entropy * log_p);
        }
    }
}

at_widest_vector_width! {
    /// [`score_row`] at the widest vector width the CPU has (the row sums keep their 8 lanes at
    /// every width, so every width gives the same bits).
    fn score_row_widest(
        row: &[f32],
        target: Target,
        with_entropy: bool,
    ) -> (f32, RowStats) => score_row
}

at_widest_vector_width! {
    /// [`row_backward`] at the widest vector width the CPU has.
    fn row_backward_widest(
        row: &mut [f32],
        stat: &RowStats,
        g_lp: f32,
        g_entropy: f32,
    ) => row_backward
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_mask_and_the_limit() {
        assert_eq!(Target::new(3, 1, 4), Target::Id(3));
        assert_eq!(Target::new(4, 1, 4), Target::Outside);
        assert_eq!(Target::new(-1, 1, 4), Target::Outside);
        assert_eq!(Target::new(99, 0, 4), Target::Skip);
    }

    /// Hand-checked: logits `[0, ln 3, 0]`, target 1: `p = [1/5, 3/5, 1/5]`, `lp = ln 0.6`,
    /// `H = −(2 · 0.2 ln 0.2 + 0.6 ln 0.6)`; with `g = (1, 0)`, `∂L/∂z = onehot(1) − p`;
    /// with `g = (0, 1)`, `∂L/∂z_u = −p_u (ln p_u + H)`.
    #[test]
    fn a_row_by_hand() {
        let logits = [0.0f32, 3f32.ln(), 0.0];
        let rows = Rows {
            vocab: 3,
            limit: 3,
            with_entropy: true,
        };
        let targets = [Target::Id(1)];
        let (scores, stats) = forward(&logits, &targets, rows);
        let h = -(2.0 * 0.2 * 0.2f64.ln() + 0.6 * 0.6f64.ln());
        assert!((f64::from(scores[0]) - 0.6f64.ln()).abs() < 1e-6);
        assert!((f64::from(scores[1]) - h).abs() < 1e-6);
        let d = backward(&logits, &targets, &stats, &[1.0, 0.0], rows);
        for (got, want) in d.iter().zip([-0.2, 0.4, -0.2]) {
            assert!((got - want).abs() < 1e-6, "{d:?}");
        }
        let d = backward(&logits, &targets, &stats, &[0.0, 1.0], rows);
        let p = [0.2f64, 0.6, 0.2];
        for (got, p) in d.iter().zip(p) {
            let want = -p * (p.ln() + h);
            assert!((f64::from(*got) - want).abs() < 1e-6, "{d:?}");
        }
    }

    #[test]
    fn skipped_and_outside_rows() {
        let logits = [1.0f32, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0];
        let rows = Rows {
            vocab: 4,
            limit: 3,
            with_entropy: true,
        };
        let targets = [Target::Skip, Target::Outside];
        let (scores, stats) = forward(&logits, &targets, rows);
        assert_eq!(&scores[..2], &[0.0, 0.0]);
        assert_eq!(scores[2], f32::NEG_INFINITY);
        assert!(scores[3] > 0.0 && scores[3] < 3f32.ln());
        let d = backward(&logits, &targets, &stats, &[1.0, 1.0, 1.0, 0.0], rows);
        assert_eq!(&d[..4], &[0.0; 4]); // skipped
        assert_eq!(&d[4..], &[0.0; 4]); // g_H = 0, and lp carries none
        let d = backward(&logits, &targets, &stats, &[1.0, 1.0, 1.0, 1.0], rows);
        assert!(d[4..7].iter().all(|v| *v != 0.0) && d[7] == 0.0, "{d:?}");
        assert!(d[4..7].iter().sum::<f32>().abs() < 1e-6);
    }

    /// Rows are independent: the same bits on one thread and on three.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (n, vocab) = (37, 1000);
        let logits: Vec<f32> = (0..n * vocab)
            .map(|i| ((i * 7919 % 1013) as f32 / 97.0).sin() * 9.0)
            .collect();
        let targets: Vec<Target> = (0..n)
            .map(|i| match i % 5 {
                0 => Target::Skip,
                1 => Target::Outside,
                _ => Target::Id(i * 31 % 900),
            })
            .collect();
        let grad: Vec<f32> = (0..2 * n).map(|i| (i as f32 * 0.37).cos()).collect();
        let rows = Rows {
            vocab,
            limit: 900,
            with_entropy: true,
        };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let (scores, stats) = forward(&logits, &targets, rows);
                (scores, backward(&logits, &targets, &stats, &grad, rows))
            })
        };
        let (one, three) = (run(1), run(3));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one.0), bits(&three.0));
        assert_eq!(bits(&one.1), bits(&three.1));
    }

    /// The widest build the CPU runs gives the baseline build's bits.
    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let row: Vec<f32> = (0..4099)
            .map(|i| ((i * 7919 % 1013) as f32 / 61.0).cos() * 12.0)
            .collect();
        for target in [Target::Id(17), Target::Outside] {
            let wide = score_row_widest(&row, target, true);
            let base = score_row(&row, target, true);
            assert_eq!(wide.0.to_bits(), base.0.to_bits());
            assert_eq!(wide.1, base.1);
            let (mut wide_grad, mut base_grad) = (row.clone(), row.clone());
            row_backward_widest(&mut wide_grad, &base.1, 0.7, -1.3);
            row_backward(&mut base_grad, &base.1, 0.7, -1.3);
            assert!(wide_grad
                .iter()
                .zip(&base_grad)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
